//! Set-up shared by the netns suites of `tcpcryptd` (`netns_acceptance.rs`, `netns_e2e.rs`,
//! `netns_daemon.rs`): the two-host topology and small probes of a namespace.
#![allow(dead_code, unreachable_pub, clippy::unwrap_used, clippy::expect_used)]

use std::net::{Ipv4Addr, Ipv6Addr};
use std::path::PathBuf;

use netns_tests::{Netns, TempDir, Veth};

/// A client and a server namespace joined by a veth pair, and a scratch directory (control
/// sockets, served files, captures). Fields drop in declaration order: the directory first,
/// then the link, then the namespaces (server before client).
pub struct Hosts {
    /// Scratch directory.
    pub dir: TempDir,
    /// The link; its `b` end is in `server`.
    pub veth: Veth,
    /// The server host.
    pub server: Netns,
    /// The client host.
    pub client: Netns,
}

impl Hosts {
    /// Fresh namespaces, link and directory.
    pub fn new() -> Self {
        let client = Netns::new().unwrap();
        let server = Netns::new().unwrap();
        let veth = Veth::new(&client, &server).unwrap();
        let dir = TempDir::new().unwrap();
        Hosts {
            dir,
            veth,
            server,
            client,
        }
    }

    /// `name` inside the scratch directory (e.g. a control socket).
    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }
}

/// The /24 around `a`, as `--route` takes it.
pub fn v4_subnet(a: Ipv4Addr) -> String {
    let o = a.octets();
    format!("{}.{}.{}.0/24", o[0], o[1], o[2])
}

/// The /64 around `a`, as `--route` takes it.
pub fn v6_subnet(a: Ipv6Addr) -> String {
    let s = a.segments();
    format!("{:x}:{:x}:{:x}:{:x}::/64", s[0], s[1], s[2], s[3])
}

/// Bytes that crossed `tcpc0` in `ns` so far, both directions (unlike packet counts, not
/// changed by the daemon coalescing segments into super-packets).
pub fn tcpc0_bytes(ns: &Netns) -> u64 {
    ["rx_bytes", "tx_bytes"]
        .iter()
        .map(|f| {
            let out = ns
                .exec("cat", &[&format!("/sys/class/net/tcpc0/statistics/{f}")])
                .unwrap();
            String::from_utf8_lossy(&out.stdout)
                .trim()
                .parse::<u64>()
                .unwrap()
        })
        .sum()
}

/// Packets the kernel of `ns` has sent into `tcpc0` so far.
pub fn tcpc0_tx_packets(ns: &Netns) -> u64 {
    let out = ns
        .exec("cat", &["/sys/class/net/tcpc0/statistics/tx_packets"])
        .unwrap();
    String::from_utf8_lossy(&out.stdout).trim().parse().unwrap()
}
