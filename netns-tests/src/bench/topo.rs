//! Bench topologies: a client and a server namespace joined by a veth pair, by the minimal
//! TUN pump, or by `linkemu`; and `tcpcryptd` instances on either host.

use std::io::{BufRead, BufReader, Write};
use std::net::IpAddr;
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use netns_tests::{configure_link, unique_name, unique_subnet, Addrs, Child, Netns, TempDir};

use crate::measure::BenchError;

/// Paths of the binaries the bench runs.
#[derive(Debug, Clone)]
pub(crate) struct Bins {
    /// `tcpcryptd`.
    pub(crate) daemon: PathBuf,
    /// `linkemu`.
    pub(crate) linkemu: PathBuf,
    /// This binary (worker modes).
    pub(crate) bench: PathBuf,
}

impl Bins {
    /// The bench binary's path as a string.
    pub(crate) fn bench(&self) -> String {
        self.bench.to_string_lossy().into_owned()
    }
}

/// Two hosts: `client` and `server` namespaces and the server's address.
#[derive(Debug)]
pub(crate) struct Hosts {
    /// Client namespace.
    pub(crate) client: Netns,
    /// Server namespace.
    pub(crate) server: Netns,
    /// Client-side link name.
    pub(crate) link_c: String,
    /// Server-side link name.
    pub(crate) link_s: String,
    /// Address plan of the link (client = host 1, server = host 2).
    pub(crate) subnet: u8,
    /// The link's guard (veth or a process); dropped after the namespaces' users.
    _link: LinkGuard,
}

/// Owns the link; the veth and linkemu guards are held only for their `Drop`.
#[derive(Debug)]
#[allow(dead_code)]
enum LinkGuard {
    Veth(netns_tests::Veth),
    Pump(Child),
    Emu(netns_tests::LinkEmu),
}

impl Hosts {
    fn namespaces() -> Result<(Netns, Netns), BenchError> {
        let (c, s) = (Netns::new()?, Netns::new()?);
        // Many short connections from one client: widen the port range, reuse TIME_WAIT.
        c.sysctl("net.ipv4.ip_local_port_range", "1024 65535")?;
        c.sysctl("net.ipv4.tcp_tw_reuse", "1")?;
        for ns in [&c, &s] {
            ns.sysctl("net.core.somaxconn", "65535")?;
            ns.sysctl("net.ipv4.tcp_max_syn_backlog", "65535")?;
        }
        Ok((c, s))
    }

    /// Joined by a veth pair.
    pub(crate) fn veth() -> Result<Self, BenchError> {
        let (client, server) = Self::namespaces()?;
        let v = netns_tests::Veth::new(&client, &server)?;
        let subnet = v.addr_a().v4.octets()[2];
        Ok(Self {
            link_c: v.name_a().to_owned(),
            link_s: v.name_b().to_owned(),
            subnet,
            client,
            server,
            _link: LinkGuard::Veth(v),
        })
    }

    /// Joined by the minimal TUN pump (`bench pump`) at `mtu`.
    pub(crate) fn pump(bins: &Bins, mtu: u16) -> Result<Self, BenchError> {
        let (client, server) = Self::namespaces()?;
        let base = unique_name('t');
        let (a, b) = (format!("{base}a"), format!("{base}b"));
        let mut cmd = Command::new(&bins.bench);
        cmd.args([
            "pump",
            &a,
            client.name(),
            &b,
            server.name(),
            &mtu.to_string(),
        ]);
        let child = Child::spawn(cmd)?;
        child.wait_line("READY", Duration::from_secs(20))?;
        let subnet = unique_subnet();
        configure_link(&client, &a, Addrs::plan(subnet, 1))?;
        configure_link(&server, &b, Addrs::plan(subnet, 2))?;
        Ok(Self {
            client,
            server,
            link_c: a,
            link_s: b,
            subnet,
            _link: LinkGuard::Pump(child),
        })
    }

    /// Joined by `linkemu` with `delay_ms` each way.
    pub(crate) fn emu(bins: &Bins, delay_ms: u64) -> Result<Self, BenchError> {
        let (client, server) = Self::namespaces()?;
        let imp = netns_tests::Impairments {
            delay_ms,
            ..Default::default()
        };
        let emu =
            netns_tests::LinkEmu::start(&bins.linkemu.to_string_lossy(), &client, &server, imp)?;
        let subnet = emu.addr_a().v4.octets()[2];
        Ok(Self {
            link_c: emu.name_a().to_owned(),
            link_s: emu.name_b().to_owned(),
            subnet,
            client,
            server,
            _link: LinkGuard::Emu(emu),
        })
    }

    /// The pid of the link's process (the TUN pump), if any.
    pub(crate) fn link_pid(&self) -> Option<u32> {
        match &self._link {
            LinkGuard::Pump(c) => Some(c.id()),
            _ => None,
        }
    }

    /// The server's IPv4 address.
    pub(crate) fn server_addr(&self) -> IpAddr {
        self.server_addr_of(false)
    }

    /// The server's IPv4 or IPv6 address.
    pub(crate) fn server_addr_of(&self, v6: bool) -> IpAddr {
        Addrs::plan(self.subnet, 2).get(v6)
    }

    /// The subnet as a CIDR for `--route`.
    pub(crate) fn cidr(&self) -> String {
        format!("10.201.{}.0/24", self.subnet)
    }

    /// The IPv6 subnet as a CIDR for `--route`.
    pub(crate) fn cidr6(&self) -> String {
        match Addrs::plan(self.subnet, 0).v6.segments() {
            [a, b, c, d, ..] => format!("{a:x}:{b:x}:{c:x}:{d:x}::/64"),
        }
    }

    /// Starts a bench worker (`bench MODE ARGS`) in the server namespace; waits for READY.
    pub(crate) fn server_worker(&self, bins: &Bins, args: &[&str]) -> Result<Child, BenchError> {
        let c = self.server.spawn(&bins.bench(), args)?;
        c.wait_line("READY", Duration::from_secs(20))?;
        Ok(c)
    }
}

/// A running `tcpcryptd`, stopped with SIGTERM (killed if need be) on drop.
#[derive(Debug)]
pub(crate) struct Daemon {
    child: Child,
    ctl: PathBuf,
    log: PathBuf,
}

impl Daemon {
    /// Starts `tcpcryptd` in `ns` with its control socket and config in `dir`, plus `args`;
    /// `aead` (config spelling), if given, is the only AEAD offered. Waits (bounded) until the
    /// control socket answers.
    pub(crate) fn start(
        bins: &Bins,
        ns: &Netns,
        dir: &TempDir,
        name: &str,
        aead: Option<&str>,
        args: &[&str],
    ) -> Result<Self, BenchError> {
        Self::start_with(bins, ns, dir, name, &aead_toml(aead), args)
    }

    /// Both hosts' daemons with the same config `toml`: the server's first, with `front`
    /// (its `--front` arguments), then the client's, routing the link's subnet. Returns
    /// `(client, server)`.
    pub(crate) fn pair(
        bins: &Bins,
        h: &Hosts,
        dir: &TempDir,
        toml: &str,
        front: &[&str],
    ) -> Result<(Self, Self), BenchError> {
        let sd = Self::start_with(bins, &h.server, dir, "server", toml, front)?;
        let (route, route6) = (h.cidr(), h.cidr6());
        let cd = Self::start_with(
            bins,
            &h.client,
            dir,
            "client",
            toml,
            &["--route", &route, "--route", &route6],
        )?;
        Ok((cd, sd))
    }

    /// Like [`Daemon::start`] with the whole config file given as `toml`.
    pub(crate) fn start_with(
        bins: &Bins,
        ns: &Netns,
        dir: &TempDir,
        name: &str,
        toml: &str,
        args: &[&str],
    ) -> Result<Self, BenchError> {
        let ctl = dir.path().join(format!("{name}.sock"));
        let cfg = dir.path().join(format!("{name}.toml"));
        std::fs::write(&cfg, toml).map_err(|source| BenchError::Io {
            what: "write daemon config",
            source,
        })?;
        let (ctl_s, cfg_s) = (ctl.to_string_lossy(), cfg.to_string_lossy());
        let mut all = vec!["--control", &ctl_s, "--config", &cfg_s];
        all.extend_from_slice(args);
        let mut cmd = ns.command(&bins.daemon.to_string_lossy(), &all);
        // Warnings, plus the `tcpcryptd stopped` line with the engine counters.
        cmd.env("RUST_LOG", "warn,daemon::daemon=info");
        let log = dir.path().join(format!("{name}.log"));
        let file = std::fs::File::create(&log).map_err(|source| BenchError::Io {
            what: "create daemon log",
            source,
        })?;
        cmd.stderr(file);
        let child = Child::spawn(cmd)?;
        let d = Self { child, ctl, log };
        let deadline = Instant::now() + Duration::from_secs(30);
        while d.status().is_err() {
            if Instant::now() > deadline {
                return Err(BenchError::Step {
                    what: "tcpcryptd start",
                    detail: "control socket not answering after 30 s".into(),
                });
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        Ok(d)
    }

    /// The daemon's pid (`ip netns exec` execs it in place).
    pub(crate) fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The `status` answer's connection list.
    pub(crate) fn status(&self) -> Result<Vec<serde_json::Value>, BenchError> {
        Ok(control_status(&self.ctl)?["connections"]
            .as_array()
            .cloned()
            .unwrap_or_default())
    }

    /// The daemon's TUN I/O counters (the `io` object of the `status` answer).
    pub(crate) fn io(&self) -> Result<TunIo, BenchError> {
        let v = control_status(&self.ctl)?;
        let io = &v["io"];
        if io.is_null() {
            return Err(BenchError::Step {
                what: "control status",
                detail: "no `io` counters in the answer".into(),
            });
        }
        Ok(TunIo {
            inner: LegIo::from_json(&io["inner"]),
            outer: LegIo::from_json(&io["outer"]),
        })
    }

    /// SIGTERM, then a bounded wait for a clean exit. Returns the engine's nonzero failure
    /// counters from the `tcpcryptd stopped` log line (`refused_destination: 3, ...`; empty
    /// when all are zero, `?` when the line is missing); warnings in the log are echoed on
    /// stderr.
    pub(crate) fn stop(mut self) -> Result<String, BenchError> {
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        let st = self.child.wait_exit(Duration::from_secs(20))?;
        let log = std::fs::read_to_string(&self.log).unwrap_or_default();
        for l in log.lines().filter(|l| l.contains("WARN")).take(20) {
            eprintln!("tcpcryptd: {l}");
        }
        if st.success() {
            Ok(engine_failures(&log))
        } else {
            Err(BenchError::Step {
                what: "tcpcryptd stop",
                detail: format!("exit {st}"),
            })
        }
    }
}

/// A config offering only `aead` (config spelling), or the default config.
pub(crate) fn aead_toml(aead: Option<&str>) -> String {
    aead.map_or_else(String::new, |a| format!("[crypto]\naead = [\"{a}\"]\n"))
}

/// TUN I/O counters of one leg of a daemon (`status` → `io`; crates/daemon control/proto.rs).
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub(crate) struct LegIo {
    /// `read(2)` calls that returned a packet.
    pub(crate) reads: u64,
    /// Bytes of the packets read (after the GSO split).
    pub(crate) read_bytes: u64,
    /// Packets read (after the GSO split).
    pub(crate) read_packets: u64,
    /// `write(2)` calls.
    pub(crate) writes: u64,
    /// IP bytes written.
    pub(crate) write_bytes: u64,
    /// Segments written (GSO segments of coalesced writes).
    pub(crate) write_packets: u64,
}

impl LegIo {
    fn from_json(v: &serde_json::Value) -> Self {
        let f = |k: &str| v[k].as_u64().unwrap_or(0);
        Self {
            reads: f("reads"),
            read_bytes: f("read_bytes"),
            read_packets: f("read_packets"),
            writes: f("writes"),
            write_bytes: f("write_bytes"),
            write_packets: f("write_packets"),
        }
    }

    /// The counts since `before`.
    pub(crate) fn since(&self, before: &Self) -> Self {
        Self {
            reads: self.reads.saturating_sub(before.reads),
            read_bytes: self.read_bytes.saturating_sub(before.read_bytes),
            read_packets: self.read_packets.saturating_sub(before.read_packets),
            writes: self.writes.saturating_sub(before.writes),
            write_bytes: self.write_bytes.saturating_sub(before.write_bytes),
            write_packets: self.write_packets.saturating_sub(before.write_packets),
        }
    }
}

/// A daemon's TUN I/O counters, by leg.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub(crate) struct TunIo {
    /// Application side.
    pub(crate) inner: LegIo,
    /// Network side (to or from the stack's own address).
    pub(crate) outer: LegIo,
}

impl TunIo {
    /// The counts since `before`.
    pub(crate) fn since(&self, before: &Self) -> Self {
        Self {
            inner: self.inner.since(&before.inner),
            outer: self.outer.since(&before.outer),
        }
    }
}

/// Engine counters (crates/relay engine `Stats`) that count a failed or refused connection.
const FAILURE_COUNTERS: [&str; 8] = [
    "refused_policy",
    "refused_destination",
    "outer_timeouts",
    "crypto_errors",
    "resets",
    "refused_unrouted",
    "refused_local",
    "unreachable",
];

/// The nonzero [`FAILURE_COUNTERS`] of the `tcpcryptd stopped` line in `log`, or `?`.
pub(crate) fn engine_failures(log: &str) -> String {
    let Some(line) = log.lines().rev().find(|l| l.contains("tcpcryptd stopped")) else {
        return "?".into();
    };
    let mut out = Vec::new();
    for key in FAILURE_COUNTERS {
        let pat = format!(" {key}: ");
        let n = line
            .find(&pat)
            .and_then(|i| line.get(i + pat.len()..))
            .and_then(|rest| rest.split(|c: char| !c.is_ascii_digit()).next())
            .and_then(|d| d.parse::<u64>().ok());
        if let Some(n) = n.filter(|n| *n > 0) {
            out.push(format!("{key}: {n}"));
        }
    }
    out.join(", ")
}

fn control_status(ctl: &Path) -> Result<serde_json::Value, BenchError> {
    let io = |source| BenchError::Io {
        what: "control socket",
        source,
    };
    let mut s = UnixStream::connect(ctl).map_err(io)?;
    s.set_read_timeout(Some(Duration::from_secs(10)))
        .map_err(io)?;
    s.write_all(b"{\"cmd\":\"status\"}\n").map_err(io)?;
    let mut line = String::new();
    BufReader::new(s).read_line(&mut line).map_err(io)?;
    let v: serde_json::Value = serde_json::from_str(&line).map_err(|e| BenchError::Step {
        what: "control status JSON",
        detail: e.to_string(),
    })?;
    Ok(v)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn engine_failures_from_stop_line() {
        let log = "2026 INFO daemon::daemon: tcpcryptd stopped signal=15 engine=Stats { \
                   pairs_opened: 9, refused_policy: 0, refused_destination: 3, outer_timeouts: 0, \
                   crypto_errors: 0, resets: 12, refused_unrouted: 0, refused_local: 2, \
                   unreachable: 0 }";
        assert_eq!(
            engine_failures(log),
            "refused_destination: 3, resets: 12, refused_local: 2"
        );
        assert_eq!(engine_failures("nothing"), "?");
    }
}
