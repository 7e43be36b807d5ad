//! `tcpcryptd` in a fresh network namespace: the plumbing appears while it runs and is gone
//! after SIGTERM (exit 0); a second instance on the same TUN name exits 1 without touching the
//! first; malformed packets injected into the TUN device do not stop it; a bulk transfer
//! crosses `tcpc0` as super-packets in both directions (the daemon's TUN counters).
//!
//! Needs root, `/dev/net/tun`, `ip`, `nft`, `ping`, `python3`, `curl` (skipped with a SKIP line
//! otherwise, a failure when `TCPCRYPT_REQUIRE_NETNS=1`).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

mod support;

use netns_tests::{http_transfer, mark_ran, netns_gate, Child, Netns, TempDir};
use support::{tcpc0_bytes, v4_subnet, Hosts};

const DAEMON: &str = env!("CARGO_BIN_EXE_tcpcryptd");
const CLI: &str = env!("CARGO_BIN_EXE_tcpcrypt");
const TOOLS: &[&str] = &["nft", "ping", "python3"];

fn text(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn ip_out(ns: &Netns, args: &[&str]) -> String {
    text(&ns.ip(args).unwrap())
}

fn nft_tables(ns: &Netns) -> String {
    text(&ns.exec("nft", &["list", "tables"]).unwrap())
}

/// Starts `tcpcryptd --control CONTROL EXTRA...` in `ns` and waits until it is ready.
fn start(ns: &Netns, control: &Path, extra: &[&str]) -> Child {
    let path = control.to_str().unwrap();
    let mut args = vec!["--control", path];
    args.extend_from_slice(extra);
    let mut cmd = ns.command(DAEMON, &args);
    cmd.env("RUST_LOG", "info");
    let mut daemon = Child::spawn(cmd).unwrap();
    wait_ready(&mut daemon, control);
    daemon
}

fn cli(control: &Path, args: &[&str]) -> std::process::Output {
    Command::new(CLI)
        .arg("--control")
        .arg(control)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .unwrap()
}

/// Polls `tcpcrypt status` until it succeeds (the daemon is ready), bounded.
fn wait_ready(daemon: &mut Child, control: &Path) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while Instant::now() < deadline {
        if cli(control, &["status"]).status.success() {
            return;
        }
        if !alive(daemon.id()) {
            let st = daemon.wait_exit(Duration::from_secs(1));
            panic!("tcpcryptd exited early: {st:?}");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!("tcpcryptd not ready within 30 s");
}

/// Whether process `pid` is running (exists and is not a zombie).
fn alive(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|s| {
            s.rsplit_once(')')
                .and_then(|(_, rest)| rest.split_whitespace().next().map(|st| st != "Z"))
        })
        .unwrap_or(false)
}

/// Sends `signal` (`-TERM`, `-KILL`) to the daemon.
fn kill(daemon: &Child, signal: &str) {
    let st = Command::new("kill")
        .args([signal, &daemon.id().to_string()])
        .status()
        .unwrap();
    assert!(st.success());
}

fn sigterm(daemon: &mut Child) -> ExitStatus {
    kill(daemon, "-TERM");
    daemon.wait_exit(Duration::from_secs(20)).unwrap()
}

/// Two pings from `ns` to `addr` (`-6` in `family` for IPv6) must be answered.
fn ping(ns: &Netns, family: &[&str], addr: &str) {
    let mut args = family.to_vec();
    args.extend_from_slice(&["-n", "-c", "2", "-i", "0.2", "-W", "2", addr]);
    ns.exec("ping", &args).unwrap();
}

fn control_path(dir: &TempDir) -> PathBuf {
    dir.path().join("run").join("control.sock")
}

/// A fresh namespace, a scratch directory and the daemon's control socket path in it.
fn fresh_ns() -> (Netns, TempDir, PathBuf) {
    let ns = Netns::new().unwrap();
    let dir = TempDir::new().unwrap();
    let control = control_path(&dir);
    (ns, dir, control)
}

/// The kernel state we compare before start and after stop.
fn snapshot(ns: &Netns) -> (String, String, String, String, String) {
    (
        ip_out(ns, &["-4", "rule"]),
        ip_out(ns, &["-6", "rule"]),
        ip_out(ns, &["-4", "route", "show", "table", "all"])
            + &ip_out(ns, &["-6", "route", "show", "table", "all"]),
        nft_tables(ns),
        text(
            &ns.exec(
                "sysctl",
                &["-n", "net.ipv4.ip_forward", "net.ipv6.conf.all.forwarding"],
            )
            .unwrap(),
        ),
    )
}

#[test]
fn daemon_plumbing_up_and_down() {
    netns_gate!("daemon_plumbing_up_and_down", TOOLS);
    let (ns, _dir, control) = fresh_ns();
    let before = snapshot(&ns);
    let mut d = start(
        &ns,
        &control,
        &[
            "--route",
            "192.0.2.0/24",
            "--route",
            "2001:db8:77::/48",
            "--require",
            "198.51.100.0/24",
            "--front",
            "8080",
            "--front",
            "8443",
        ],
    );

    let link = ip_out(&ns, &["link", "show", "dev", "tcpc0"]);
    assert!(link.contains("UP"), "{link}");
    let addrs = ip_out(&ns, &["addr", "show", "dev", "tcpc0"]);
    assert!(
        addrs.contains("10.77.0.1/24") && addrs.contains("fd77::1/64"),
        "{addrs}"
    );
    let rules4 = ip_out(&ns, &["-4", "rule"]);
    assert!(
        rules4.contains("7701:\tfrom all iif lo lookup 7701"),
        "{rules4}"
    );
    assert!(
        rules4.contains("7702:\tfrom 10.77.0.1 lookup 7702"),
        "{rules4}"
    );
    let rules6 = ip_out(&ns, &["-6", "rule"]);
    assert!(rules6.contains("from all iif lo lookup 7701"), "{rules6}");
    assert!(rules6.contains("from fd77::1 lookup 7702"), "{rules6}");
    let routes4 = ip_out(&ns, &["-4", "route", "show", "table", "all"]);
    for want in [
        "192.0.2.0/24 dev tcpc0 table 7701",
        "198.51.100.0/24 dev tcpc0 table 7701",
        "default dev tcpc0 table 7702",
    ] {
        assert!(routes4.contains(want), "{want} missing in {routes4}");
    }
    let routes6 = ip_out(&ns, &["-6", "route", "show", "table", "all"]);
    assert!(
        routes6.contains("2001:db8:77::/48 dev tcpc0 table 7701"),
        "{routes6}"
    );
    assert!(
        routes6.contains("default dev tcpc0 table 7702"),
        "{routes6}"
    );
    assert!(nft_tables(&ns).contains("table inet tcpcrypt"));
    let table = text(
        &ns.exec("nft", &["list", "table", "inet", "tcpcrypt"])
            .unwrap(),
    );
    assert!(table.contains("masquerade"), "{table}");
    assert!(table.contains("dnat ip to 10.77.0.2"), "{table}");
    assert!(table.contains("dnat ip6 to fd77::2"), "{table}");
    assert!(table.contains("8080") && table.contains("8443"), "{table}");
    let fwd = text(
        &ns.exec(
            "sysctl",
            &["-n", "net.ipv4.ip_forward", "net.ipv4.conf.tcpc0.rp_filter"],
        )
        .unwrap(),
    );
    assert_eq!(fwd.split_whitespace().collect::<Vec<_>>(), ["1", "2"]);

    // The control interface: status succeeds with an empty JSON array; sessid has nothing.
    let st = cli(&control, &["status", "--json"]);
    assert!(st.status.success());
    let v: serde_json::Value = serde_json::from_slice(&st.stdout).unwrap();
    assert_eq!(v, serde_json::json!([]));
    let s = cli(&control, &["sessid", "10.77.0.1:40000", "192.0.2.10:80"]);
    assert_eq!(s.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&s.stderr).contains("no such connection"));

    // The data path end to end: the stand-in engine answers ping on the stack addresses.
    ping(&ns, &[], "10.77.0.2");
    ping(&ns, &["-6"], "fd77::2");

    let st = sigterm(&mut d);
    assert_eq!(st.code(), Some(0), "exit status {st}");
    assert!(
        ns.ip(&["link", "show", "dev", "tcpc0"]).is_err(),
        "tcpc0 left behind"
    );
    let after = snapshot(&ns);
    assert_eq!(before, after, "kernel state differs after teardown");
    let all6 = ip_out(&ns, &["-6", "route", "show", "table", "all"]);
    assert!(
        !all6.contains("tcpc0") && !all6.contains("table 77"),
        "{all6}"
    );
    assert!(!control.exists(), "control socket left behind");
    mark_ran("daemon_plumbing_up_and_down").unwrap();
}

#[test]
fn daemon_second_instance_same_tun_exits_1() {
    netns_gate!("daemon_second_instance_same_tun_exits_1", TOOLS);
    let (ns, dir, control) = fresh_ns();
    let mut first = start(&ns, &control, &["--route", "192.0.2.0/24"]);

    let control2 = dir.path().join("second.sock");
    let mut cmd = ns.command(
        DAEMON,
        &[
            "--control",
            control2.to_str().unwrap(),
            "--route",
            "192.0.2.0/24",
        ],
    );
    cmd.stderr(Stdio::piped()).stdin(Stdio::null());
    let out = cmd.output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("tcpc0") && err.contains("taken"), "{err}");

    // The first instance and its plumbing are untouched.
    assert!(cli(&control, &["status"]).status.success());
    assert!(nft_tables(&ns).contains("table inet tcpcrypt"));
    assert!(ip_out(&ns, &["-4", "rule"]).contains("lookup 7701"));
    assert!(ip_out(&ns, &["-4", "route", "show", "table", "7701"]).contains("192.0.2.0/24"));

    assert_eq!(sigterm(&mut first).code(), Some(0));
    assert!(!nft_tables(&ns).contains("tcpcrypt"));
    mark_ran("daemon_second_instance_same_tun_exits_1").unwrap();
}

/// Sends garbage into tcpc0 from inside the namespace: through an AF_PACKET socket on the
/// device (arbitrary bytes, delivered verbatim to the daemon's TUN reads) and through a raw
/// IP socket (malformed TCP/UDP/ICMP towards the stack address).
const INJECT: &str = r#"
import random, socket, struct, sys
rnd = random.Random(1234)
dev = sys.argv[1]
sent = 0
p = socket.socket(socket.AF_PACKET, socket.SOCK_DGRAM, socket.htons(0x0800))
p.bind((dev, 0x0800))
def pkt(b):
    global sent
    try:
        p.send(b); sent += 1
    except OSError:
        pass
def v4(proto, payload, ihl=5, total=None, ver=4):
    tl = total if total is not None else 20 + len(payload)
    h = struct.pack('!BBHHHBBH4s4s', (ver << 4) | ihl, 0, tl & 0xffff, 1, 0, 64, proto, 0,
                    socket.inet_aton('10.77.0.1'), socket.inet_aton('10.77.0.2'))
    return h + payload
for n in list(range(1, 80)) + [200, 576, 1400, 1500, 1501, 4000, 9000]:
    pkt(bytes(rnd.getrandbits(8) for _ in range(n)))
for ihl in range(0, 16):
    pkt(v4(6, b'\x00' * 8, ihl=ihl))
for total in [0, 1, 19, 20, 21, 40, 65535]:
    pkt(v4(6, b'\x00' * 20, total=total))
tcp_hdr = lambda off, opts: struct.pack('!HHIIBBHHH', 1234, 80, 1, 0, off << 4, 0x02, 65535, 0, 0) + opts
for off in range(0, 16):
    pkt(v4(6, tcp_hdr(off, b'\x45\x02' + b'\x01' * 10)))
for opts in [b'\x45', b'\x45\x00', b'\x45\xff', b'\x02\x04', b'\x08\x0a\x00', b'\x00' * 40]:
    pkt(v4(6, tcp_hdr(15, opts)))
pkt(v4(1, b'\x08\x00'))
pkt(v4(1, b'\x08\x00\x00\x00' + b'\x00' * 4, total=200))
pkt(v4(17, b'\x00\x35'))
pkt(v4(6, b'', ver=6))
pkt(bytes([0x60]) + bytes(39))
pkt(bytes([0x60, 0, 0, 0, 0xff, 0xff, 6, 64]) + bytes(32) + b'\x00' * 20)
pkt(bytes([0x60, 0, 0, 0, 0, 8, 58, 64]) + bytes(32) + b'\x80\x00')
r = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_RAW)
for i in range(200):
    body = bytes(rnd.getrandbits(8) for _ in range(rnd.randrange(0, 120)))
    proto = rnd.choice([1, 6, 17, 58, 255])
    try:
        r.sendto(v4(proto, body), ('10.77.0.2', 0)); sent += 1
    except OSError:
        pass
print(sent)
"#;

#[test]
fn daemon_survives_malformed_packets() {
    netns_gate!(
        "daemon_survives_malformed_packets",
        &["nft", "ping", "python3", "curl"]
    );
    // A plain host behind a routed subnet: after the garbage, the daemon must still relay.
    let h = Hosts::new();
    let (ns, peer, veth) = (&h.client, &h.server, &h.veth);
    let routed = v4_subnet(veth.addr_b().v4);
    let control = control_path(&h.dir);
    let mut d = start(
        ns,
        &control,
        &[
            "--route",
            &routed,
            "--route",
            "192.0.2.0/24",
            "--front",
            "8080",
        ],
    );

    for round in 0..3 {
        let out = ns.exec("python3", &["-c", INJECT, "tcpc0"]).unwrap();
        let sent: u32 = text(&out).trim().parse().unwrap();
        assert!(sent > 300, "round {round}: only {sent} packets injected");
        std::thread::sleep(Duration::from_millis(200));
        assert!(alive(d.id()), "tcpcryptd died after malformed packets");
    }
    // Still serving: control socket, ICMP to the stack, and a TCP connection relayed
    // through tcpc0 (the kernel's packets to the routed peer do enter tcpc0).
    assert!(cli(&control, &["status"]).status.success());
    ping(ns, &[], "10.77.0.2");
    let bytes_before = tcpc0_bytes(ns);
    let t = http_transfer(
        peer,
        ns,
        veth.addr_b().get(false),
        256 << 10,
        5,
        Duration::from_secs(60),
    )
    .unwrap();
    assert_eq!(t.sent_sha256, t.received_sha256);
    assert!(
        tcpc0_bytes(ns) - bytes_before > 256 << 10,
        "transfer bypassed tcpc0"
    );
    assert!(alive(d.id()));
    assert_eq!(sigterm(&mut d).code(), Some(0));
    mark_ran("daemon_survives_malformed_packets").unwrap();
}

/// A daemon routing 192.0.2.0/24 and fronting port 8080.
fn start_routed_fronted(ns: &Netns, control: &Path) -> Child {
    start(ns, control, &["--route", "192.0.2.0/24", "--front", "8080"])
}

/// Rules with preference `pref` in `ip rule` output.
fn rules_with_pref(rules: &str, pref: u32) -> usize {
    let p = format!("{pref}:");
    rules.lines().filter(|l| l.starts_with(&p)).count()
}

#[test]
fn daemon_restart_after_crash_cleans_leftovers() {
    netns_gate!("daemon_restart_after_crash_cleans_leftovers", TOOLS);
    let (ns, _dir, control) = fresh_ns();
    let before = snapshot(&ns);
    let mut d = start_routed_fronted(&ns, &control);
    kill(&d, "-KILL");
    let _ = d.wait_exit(Duration::from_secs(10));
    // A crash leaves rules, the nft table and the socket file behind.
    assert_eq!(rules_with_pref(&ip_out(&ns, &["-4", "rule"]), 7701), 1);
    assert!(nft_tables(&ns).contains("table inet tcpcrypt"));
    assert!(control.exists());

    let mut d = start_routed_fronted(&ns, &control);
    let rules4 = ip_out(&ns, &["-4", "rule"]);
    assert_eq!(rules_with_pref(&rules4, 7701), 1, "{rules4}");
    assert_eq!(rules_with_pref(&rules4, 7702), 1, "{rules4}");
    assert_eq!(rules_with_pref(&ip_out(&ns, &["-6", "rule"]), 7701), 1);
    assert_eq!(sigterm(&mut d).code(), Some(0));
    // The sysctls a crashed run changed are not restored (their old values died with it);
    // everything else is back to the state before the first start.
    let after = snapshot(&ns);
    assert_eq!(
        (&before.0, &before.1, &before.2, &before.3),
        (&after.0, &after.1, &after.2, &after.3)
    );
    assert!(!control.exists());
    mark_ran("daemon_restart_after_crash_cleans_leftovers").unwrap();
}

/// The daemon's TUN counters (`status` → `io`).
fn tun_io(control: &Path) -> daemon::control::proto::TunIo {
    use daemon::control::proto::{Request, Response};
    match daemon::control::client::request(control, &Request::Status).unwrap() {
        Response::Status { io: Some(io), .. } => io,
        other => panic!("status without io counters: {other:?}"),
    }
}

#[test]
fn bulk_transfer_moves_super_packets() {
    netns_gate!(
        "bulk_transfer_moves_super_packets",
        &["nft", "python3", "curl"]
    );
    // 4 MB from a plain peer to curl behind the daemon: the outer leg arrives as the veth's
    // GSO packets, and the daemon's writes of the inner leg must be coalesced again (a
    // regression to one packet per write cost 4-5x the CPU per byte; docs/BENCHMARKS.md).
    // tcpc0 at MTU 1500 (the default is 9000): many MTU-sized segments per write to count.
    let h = Hosts::new();
    let (ns, peer, veth) = (&h.client, &h.server, &h.veth);
    let control = control_path(&h.dir);
    let config = h.dir.path().join("mtu1500.toml");
    std::fs::write(&config, "[tun]\nmtu = 1500\n").unwrap();
    let config = config.to_string_lossy().into_owned();
    let route = v4_subnet(veth.addr_b().v4);
    let mut d = start(ns, &control, &["--config", &config, "--route", &route]);
    let before = tun_io(&control);
    let t = http_transfer(
        peer,
        ns,
        veth.addr_b().get(false),
        4 << 20,
        9,
        Duration::from_secs(60),
    )
    .unwrap();
    assert_eq!(t.sent_sha256, t.received_sha256);
    let io = tun_io(&control);
    let inner_writes = io.inner.writes - before.inner.writes;
    let inner_bytes = io.inner.write_bytes - before.inner.write_bytes;
    let inner_segs = io.inner.write_packets - before.inner.write_packets;
    assert!(inner_bytes > 4 << 20, "{io:?}");
    assert!(
        inner_bytes / inner_writes > 8_000 && inner_segs > 4 * inner_writes,
        "inner-leg writes not coalesced: {inner_writes} writes, {inner_bytes} bytes, \
         {inner_segs} segments"
    );
    let outer_reads = io.outer.reads - before.outer.reads;
    let outer_bytes = io.outer.read_bytes - before.outer.read_bytes;
    assert!(
        outer_bytes > 4 << 20 && outer_reads < outer_bytes / 4_000,
        "{io:?}"
    );
    assert_eq!(sigterm(&mut d).code(), Some(0));
    mark_ran("bulk_transfer_moves_super_packets").unwrap();
}
