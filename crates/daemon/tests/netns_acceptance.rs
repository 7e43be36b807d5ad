//! The acceptance suite of issue 4, end to end through `tcpcryptd` in network namespaces.
//!
//! Topology (one per test, torn down on drop also when the test fails): a client host whose
//! daemon routes the server's IPv4 and IPv6 subnets through `tcpc0` (`--route`, or
//! `--require` where the test says), and a server host whose daemon fronts the service port
//! (`--front`) or, for the plain host, no daemon at all. Hosts are joined by a veth pair, or
//! by the `linkemu` link emulator for the delay test. Traffic never leaves the namespaces.
//!
//! * 50 MB over HTTP (curl -> python3 http.server) over IPv4 and IPv6, intact (SHA-256),
//!   with a capture on the server's veth: TCP-ENO (option kind 69) in the SYN and the
//!   SYN-ACK, no plaintext marker of the file in any captured payload, and about the file's
//!   volume of payload captured (so the marker check cannot pass vacuously).
//! * Fallback to a plain host: the transfer succeeds in the clear (the capture shows the
//!   markers: the positive control of the plaintext check).
//! * `--require` towards a plain host: curl fails and the capture shows the daemon's SYN
//!   but no payload byte sent to the plain host.
//! * iperf3 for 10 s through `tcpc0` with 1 % random loss (nftables `numgen random`) in the
//!   server's forward path, and over `linkemu` with 10 ms one-way delay.
//! * 200 simultaneous connections (a barrier holds them all open) with per-connection
//!   content checked.
//! * ping and a UDP exchange (socat) to routed IPv4 and IPv6 addresses, through `tcpc0`.
//! * A refusing destination (plain or fronted) is a refused connect for the application; a
//!   silent one a timeout or unreachable.
//!
//! After each test both daemons get SIGTERM, must exit 0 and leave the namespace's links,
//! rules, routes (all tables) and nftables tables as they were before the start.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

mod support;

use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::process::{Output, Stdio};
use std::time::Duration;

use netns_tests::pcap::{self, flags, TcpSegment};
use netns_tests::{
    mark_ran, netns_gate, nft_counter_packets, sha256_file, unique_name, url, workspace_bin,
    write_marked_file, Addrs, CaptureResult, Child, Daemon, Impairments, KernelState, LinkEmu,
    Netns, Tcpdump, TempDir,
};
use support::{tcpc0_tx_packets, v4_subnet, v6_subnet, Hosts};

const DAEMON: &str = env!("CARGO_BIN_EXE_tcpcryptd");
const CLI: &str = env!("CARGO_BIN_EXE_tcpcrypt");
const HTTP_PORT: u16 = 8080;
const IPERF_PORT: u16 = 5201;
const MB: usize = 1_000_000;

/// A daemon together with the kernel state of its namespace before it started.
struct Host {
    daemon: Daemon,
    before: KernelState,
}

impl Host {
    fn start(ns: &Netns, control: &Path, args: &[&str]) -> Self {
        let before = KernelState::of(ns).unwrap();
        let daemon = Daemon::start(DAEMON, CLI, ns, control, args).unwrap();
        Self { daemon, before }
    }

    /// The server's daemon, fronting `port`.
    fn fronting(ns: &Netns, control: &Path, port: u16) -> Self {
        Host::start(ns, control, &["--front", &port.to_string()])
    }

    /// The client's daemon, with `flag` (`--route` or `--require`) for both subnets of the
    /// link whose far end is `far`.
    fn routing(ns: &Netns, control: &Path, flag: &'static str, far: Addrs) -> Self {
        Host::start(ns, control, &strs(&route_args(flag, far)))
    }

    /// SIGTERM: exit 0, and the namespace is as before the start (item "After SIGTERM").
    fn stop(self, ns: &Netns) {
        let st = self.daemon.stop().unwrap();
        assert_eq!(st.code(), Some(0), "tcpcryptd exit status {st}");
        let after = KernelState::of(ns).unwrap();
        assert!(
            !after.links.iter().any(|l| l == "tcpc0"),
            "tcpc0 left behind"
        );
        assert_eq!(self.before, after, "kernel state differs after teardown");
    }
}

/// `--route` (or `--require`) for both subnets of the link whose far end is `server`.
fn route_args(flag: &'static str, server: Addrs) -> Vec<String> {
    vec![
        flag.to_owned(),
        v4_subnet(server.v4),
        flag.to_owned(),
        v6_subnet(server.v6),
    ]
}

fn strs(v: &[String]) -> Vec<&str> {
    v.iter().map(String::as_str).collect()
}

/// Runs `program args` in `ns` under `timeout -k 5 SECS`, returning the output whatever
/// the exit status.
fn bounded(ns: &Netns, secs: u64, program: &str, args: &[&str]) -> Output {
    let s = secs.to_string();
    let mut all = vec!["-k", "5", s.as_str(), program];
    all.extend_from_slice(args);
    ns.command("timeout", &all)
        .stdin(Stdio::null())
        .output()
        .unwrap()
}

/// `python3 -m http.server` on the wildcard address (a fronted service must accept
/// connections at the kernel side of `tcpc0`), serving `www`.
fn http_server(ns: &Netns, www: &Path, v6: bool) -> Child {
    let port = HTTP_PORT.to_string();
    let mut cmd = ns.command(
        "python3",
        &[
            "-m",
            "http.server",
            "--bind",
            if v6 { "::" } else { "0.0.0.0" },
            "--directory",
            www.to_str().unwrap(),
            &port,
        ],
    );
    cmd.stderr(Stdio::null());
    let c = Child::spawn(cmd).unwrap();
    ns.wait_tcp_listen(HTTP_PORT, Duration::from_secs(20))
        .unwrap();
    c
}

fn curl(client: &Netns, addr: IpAddr, out: &Path, max_secs: u64) -> Output {
    bounded(
        client,
        max_secs + 10,
        "curl",
        &[
            "-sS",
            "--fail",
            "--noproxy",
            "*",
            "--max-time",
            &max_secs.to_string(),
            "-o",
            out.to_str().unwrap(),
            &url(addr, HTTP_PORT, "blob.bin"),
        ],
    )
}

const MARKER: &[u8] = b"TCXPLAIN";

/// `www/blob.bin` in the scratch directory: `len` bytes from `seed` with [`MARKER`] written
/// all over. Returns the `www` directory and the file's SHA-256.
fn marked_www(h: &Hosts, len: usize, seed: u64) -> (PathBuf, String) {
    let www = h.path("www");
    std::fs::create_dir_all(&www).unwrap();
    let file = www.join("blob.bin");
    write_marked_file(&file, len, seed, MARKER).unwrap();
    (www, sha256_file(&file).unwrap())
}

/// The client fetches `blob.bin` from the server host's IPv4 or IPv6 address (curl bounded
/// by `max_secs`) while all TCP on the server's veth end is captured. Returns the address,
/// the fetched file's path, curl's output and the capture.
fn fetch_captured(h: &Hosts, v6: bool, max_secs: u64) -> (IpAddr, PathBuf, Output, CaptureResult) {
    let name = if v6 { "plain6" } else { "plain4" };
    let dump = Tcpdump::start(&h.server, h.veth.name_b(), "tcp", h.dir.path(), name).unwrap();
    let addr = h.veth.addr_b().get(v6);
    let out = h.path("fetched.bin");
    let r = curl(&h.client, addr, &out, max_secs);
    let cap = dump.stop().unwrap();
    (addr, out, r, cap)
}

/// Segments of a capture from `src` / to `dst` (`None` = any).
fn from_to<'a>(
    segs: &'a [TcpSegment],
    src: Option<IpAddr>,
    dst: Option<IpAddr>,
) -> impl Iterator<Item = &'a TcpSegment> + 'a {
    segs.iter()
        .filter(move |s| src.is_none_or(|a| s.src == a) && dst.is_none_or(|a| s.dst == a))
}

/// Whether the marker appears in any payload, or across two consecutive payloads of the same
/// direction.
fn plaintext_seen(segs: &[TcpSegment]) -> Option<usize> {
    let mut tails: std::collections::HashMap<(IpAddr, u16, IpAddr, u16), Vec<u8>> =
        std::collections::HashMap::new();
    for (i, s) in segs.iter().enumerate() {
        if s.payload.is_empty() {
            continue;
        }
        let tail = tails.entry((s.src, s.sport, s.dst, s.dport)).or_default();
        let mut joined = std::mem::take(tail);
        joined.extend_from_slice(&s.payload);
        if pcap::contains(&joined, MARKER) {
            return Some(i);
        }
        let keep = joined.len().saturating_sub(MARKER.len() - 1);
        *tail = joined.split_off(keep);
    }
    None
}

fn http_50mb(name: &str, v6: bool) {
    netns_gate!(name, &["nft", "curl", "python3", "tcpdump", "timeout"]);
    let h = Hosts::new();
    let (client, server, veth) = (&h.client, &h.server, &h.veth);
    let sd = Host::fronting(server, &h.path("s.sock"), HTTP_PORT);
    let cd = Host::routing(client, &h.path("c.sock"), "--route", veth.addr_b());

    let len = 50 * MB;
    let (www, sent) = marked_www(&h, len, 0x50);
    let _srv = http_server(server, &www, v6);
    let dump = Tcpdump::start(
        server,
        veth.name_b(),
        &format!("tcp port {HTTP_PORT}"),
        h.dir.path(),
        "server-veth",
    )
    .unwrap();
    let server_addr = veth.addr_b().get(v6);
    let out = h.path("fetched.bin");
    let r = curl(client, server_addr, &out, 600);
    let cap = dump.stop().unwrap();
    assert!(
        r.status.success(),
        "curl failed: {}",
        String::from_utf8_lossy(&r.stderr)
    );
    assert_eq!(std::fs::metadata(&out).unwrap().len(), len as u64);
    assert_eq!(
        sha256_file(&out).unwrap(),
        sent,
        "file corrupted in transit"
    );

    let segs = &cap.capture.segments;
    let syn = from_to(segs, None, Some(server_addr))
        .find(|s| s.dport == HTTP_PORT && s.has(flags::SYN) && !s.has(flags::ACK))
        .expect("no SYN to the server captured");
    assert!(syn.has_option(69), "SYN without TCP-ENO: {syn:?}");
    let synack = from_to(segs, Some(server_addr), None)
        .find(|s| s.sport == HTTP_PORT && s.has(flags::SYN | flags::ACK))
        .expect("no SYN-ACK from the server captured");
    assert!(synack.has_option(69), "SYN-ACK without TCP-ENO: {synack:?}");
    if let Some(i) = plaintext_seen(segs) {
        panic!(
            "plaintext marker in captured segment {i}: {:?}",
            segs[i].src
        );
    }
    // The capture saw the transfer: about the file's size of payload from the server (the
    // tcpcrypt framing adds a little, retransmissions some more).
    let down: usize = from_to(segs, Some(server_addr), None)
        .map(|s| s.payload.len())
        .sum();
    println!(
        "{name}: {} segments, {down} payload bytes from the server, kernel dropped {:?}",
        segs.len(),
        cap.kernel_dropped
    );
    assert!(
        down >= len * 95 / 100 && down <= len * 2,
        "captured {down} payload bytes for a {len}-byte file"
    );
    cd.stop(client);
    sd.stop(server);
    mark_ran(name).unwrap();
}

#[test]
fn accept_http_50mb_ipv4_encrypted_on_the_wire() {
    http_50mb("accept_http_50mb_ipv4_encrypted_on_the_wire", false);
}

#[test]
fn accept_http_50mb_ipv6_encrypted_on_the_wire() {
    http_50mb("accept_http_50mb_ipv6_encrypted_on_the_wire", true);
}

/// The opportunistic fallback, and the positive control of the plaintext check above: to a
/// host without the daemon the transfer succeeds, the SYN offers TCP-ENO, the SYN-ACK does
/// not, and the file's markers are on the wire in the clear.
#[test]
fn accept_fallback_to_plain_host_is_unencrypted() {
    let name = "accept_fallback_to_plain_host_is_unencrypted";
    netns_gate!(name, &["nft", "curl", "python3", "tcpdump", "timeout"]);
    let h = Hosts::new();
    let (client, plain, veth) = (&h.client, &h.server, &h.veth);
    let cd = Host::routing(client, &h.path("c.sock"), "--route", veth.addr_b());
    let (www, sent) = marked_www(&h, 2 * MB, 2);
    let _srv = http_server(plain, &www, true);
    for v6 in [false, true] {
        let (addr, out, r, cap) = fetch_captured(&h, v6, 60);
        assert!(
            r.status.success(),
            "fallback transfer failed (v6={v6}): {}",
            String::from_utf8_lossy(&r.stderr)
        );
        assert_eq!(sha256_file(&out).unwrap(), sent);
        let segs = &cap.capture.segments;
        let syn = from_to(segs, None, Some(addr))
            .find(|s| s.has(flags::SYN) && !s.has(flags::ACK))
            .expect("no SYN captured");
        assert!(
            syn.has_option(69),
            "the daemon's SYN lacks TCP-ENO: {syn:?}"
        );
        let synack = from_to(segs, Some(addr), None)
            .find(|s| s.has(flags::SYN | flags::ACK))
            .expect("no SYN-ACK captured");
        assert!(!synack.has_option(69), "a plain host answered ENO?");
        assert!(
            plaintext_seen(segs).is_some(),
            "plain fallback but no plaintext marker captured (v6={v6})"
        );
    }
    cd.stop(client);
    mark_ran(name).unwrap();
}

#[test]
fn accept_require_sends_no_payload_to_plain_host() {
    let name = "accept_require_sends_no_payload_to_plain_host";
    netns_gate!(name, &["nft", "curl", "python3", "tcpdump", "timeout"]);
    let h = Hosts::new();
    let (client, plain, veth) = (&h.client, &h.server, &h.veth);
    let cd = Host::routing(client, &h.path("c.sock"), "--require", veth.addr_b());
    let (www, _) = marked_www(&h, 64 * 1024, 3);
    let _srv = http_server(plain, &www, true);
    for v6 in [false, true] {
        let (addr, _, r, cap) = fetch_captured(&h, v6, 20);
        assert!(
            !r.status.success(),
            "curl to a plain host succeeded despite --require (v6={v6})"
        );
        let segs = &cap.capture.segments;
        // Not vacuous: the daemon did try, with TCP-ENO in its SYN.
        let syns = from_to(segs, None, Some(addr))
            .filter(|s| s.has(flags::SYN) && s.has_option(69))
            .count();
        assert!(
            syns >= 1,
            "no SYN with TCP-ENO to the plain host (v6={v6}, curl: {}, {} other records, \
             kernel dropped {:?}): {segs:?}",
            String::from_utf8_lossy(&r.stderr),
            cap.capture.other,
            cap.kernel_dropped
        );
        let to_plain: usize = from_to(segs, None, Some(addr))
            .map(|s| s.wire_payload_len)
            .sum();
        assert_eq!(
            to_plain, 0,
            "payload bytes sent to the plain host (v6={v6})"
        );
    }
    cd.stop(client);
    mark_ran(name).unwrap();
}

/// Runs `iperf3 -c ADDR -t 10 --json` from `client` against `iperf3 -s -1` in `server`;
/// asserts exit 0 and bytes > 0 both ways of the summary.
fn iperf3(client: &Netns, server: &Netns, addr: IpAddr, name: &str, cd: &Daemon) {
    let port = IPERF_PORT.to_string();
    let mut cmd = server.command("iperf3", &["-s", "-1", "-p", &port]);
    cmd.stderr(Stdio::null());
    let _srv = Child::spawn(cmd).unwrap();
    server
        .wait_tcp_listen(IPERF_PORT, Duration::from_secs(20))
        .unwrap();
    let a = addr.to_string();
    let mut ic = client
        .spawn(
            "timeout",
            &[
                "-k",
                "5",
                "90",
                "iperf3",
                "-c",
                &a,
                "-p",
                &port,
                "-t",
                "10",
                "--json",
                "--connect-timeout",
                "20000",
            ],
        )
        .unwrap();
    // Mid-test, the client daemon reports the iperf3 connections (control and data) as
    // encrypted. Polled, bounded to 20 tries over about 10 s, as set-up time varies with load.
    let remote = netns_tests::url(addr, IPERF_PORT, "");
    let remote = remote
        .trim_start_matches("http://")
        .trim_end_matches('/')
        .to_owned();
    let mut enc = 0;
    let mut last = serde_json::Value::Null;
    for _ in 0..20 {
        std::thread::sleep(Duration::from_millis(500));
        let st = cd.cli(&["status", "--json"]).unwrap();
        last = serde_json::from_slice(&st.stdout).unwrap();
        enc = last
            .as_array()
            .unwrap()
            .iter()
            .filter(|r| r["remote"] == remote.as_str() && r["encrypted"] == true)
            .count();
        if enc >= 2 {
            break;
        }
    }
    assert!(
        enc >= 2,
        "{name}: {enc} encrypted iperf3 connections: {last}"
    );
    let mut lines = Vec::new();
    while let Ok(line) = ic.read_line(Duration::from_secs(100)) {
        lines.push(line);
    }
    let status = ic.wait_exit(Duration::from_secs(10)).unwrap();
    let text = lines.join("\n");
    assert!(status.success(), "{name}: iperf3 failed ({status}): {text}");
    let v: serde_json::Value = serde_json::from_str(&text).unwrap();
    let sent = v["end"]["sum_sent"]["bytes"].as_u64().unwrap();
    let recv = v["end"]["sum_received"]["bytes"].as_u64().unwrap();
    let bps = v["end"]["sum_received"]["bits_per_second"]
        .as_f64()
        .unwrap();
    println!(
        "{name}: iperf3 sent {sent} received {recv} bytes, {:.1} Mbit/s",
        bps / 1e6
    );
    assert!(sent > 0 && recv > 0, "{name}: no bytes: {text}");
}

#[test]
fn accept_iperf3_10s_nft_loss1pct_ipv4() {
    iperf3_nft_loss("accept_iperf3_10s_nft_loss1pct_ipv4", false);
}

#[test]
fn accept_iperf3_10s_nft_loss1pct_ipv6() {
    iperf3_nft_loss("accept_iperf3_10s_nft_loss1pct_ipv6", true);
}

fn iperf3_nft_loss(name: &str, v6: bool) {
    netns_gate!(name, &["nft", "iperf3", "timeout"]);
    let h = Hosts::new();
    let (client, server, veth) = (&h.client, &h.server, &h.veth);
    veth.limit_gso(client, server).unwrap();
    let sd = Host::fronting(server, &h.path("s.sock"), IPERF_PORT);
    let cd = Host::routing(client, &h.path("c.sock"), "--route", veth.addr_b());
    // 1 % loss each way in the server's forward path (veth <-> tcpc0 after DNAT).
    let table = unique_name('f');
    let dev = veth.name_b();
    let rules = format!(
        "table inet {table} {{\n\
         chain lossy {{ type filter hook forward priority 0;\n\
         iifname \"{dev}\" numgen random mod 100 < 1 counter drop\n\
         oifname \"{dev}\" numgen random mod 100 < 1 counter drop\n\
         }}\n}}\n"
    );
    let path = h.path("loss.nft");
    std::fs::write(&path, rules).unwrap();
    server.exec("nft", &["-f", path.to_str().unwrap()]).unwrap();
    iperf3(client, server, veth.addr_b().get(v6), name, &cd.daemon);
    let dropped = nft_counter_packets(server, "inet", &table).unwrap();
    println!("{name}: nft dropped {dropped} packets");
    assert!(dropped >= 5, "the 1 % drop rule fired only {dropped} times");
    server
        .exec("nft", &["delete", "table", "inet", &table])
        .unwrap();
    cd.stop(client);
    sd.stop(server);
    mark_ran(name).unwrap();
}

#[test]
fn accept_iperf3_10s_linkemu_delay10ms_ipv4() {
    iperf3_linkemu("accept_iperf3_10s_linkemu_delay10ms_ipv4", false);
}

#[test]
fn accept_iperf3_10s_linkemu_delay10ms_ipv6() {
    iperf3_linkemu("accept_iperf3_10s_linkemu_delay10ms_ipv6", true);
}

fn iperf3_linkemu(name: &str, v6: bool) {
    netns_gate!(name, &["nft", "iperf3", "timeout"]);
    let Some(linkemu) = workspace_bin("linkemu") else {
        let msg = "linkemu is not built (cargo build -p netns-tests, or test with --workspace)";
        assert!(!netns_tests::netns_required(), "{name}: {msg}");
        eprintln!("SKIP {name}: {msg}");
        return;
    };
    let client = Netns::new().unwrap();
    let server = Netns::new().unwrap();
    let (client, server) = (&client, &server);
    let imp = Impairments {
        delay_ms: 10,
        ..Impairments::default()
    };
    let emu = LinkEmu::start(linkemu.to_str().unwrap(), client, server, imp).unwrap();
    let dir = TempDir::new().unwrap();
    let sd = Host::fronting(server, &dir.path().join("s.sock"), IPERF_PORT);
    let cd = Host::routing(client, &dir.path().join("c.sock"), "--route", emu.addr_b());
    iperf3(client, server, emu.addr_b().get(v6), name, &cd.daemon);
    cd.stop(client);
    sd.stop(server);
    let stats = emu.stop().unwrap();
    println!("{name}: linkemu {stats:?}");
    assert!(
        stats.tx > 100,
        "the traffic did not cross linkemu: {stats:?}"
    );
    mark_ran(name).unwrap();
}

/// Server: answers `GET n\n` with BODY_LEN bytes derived from n, then closes.
const CONC_SERVER: &str = r#"
import hashlib, socket, sys, threading
port, body_len = int(sys.argv[1]), int(sys.argv[2])
def body(n):
    d = hashlib.sha256(str(n).encode()).digest()
    return (d * (body_len // len(d) + 1))[:body_len]
ls = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
ls.bind(("0.0.0.0", port)); ls.listen(1024)
def serve(c):
    try:
        c.settimeout(120)
        req = b""
        while not req.endswith(b"\n"):
            b = c.recv(64)
            if not b:
                return
            req += b
        c.sendall(body(int(req.split()[1])))
    finally:
        c.close()
print("READY", flush=True)
while True:
    c, _ = ls.accept()
    threading.Thread(target=serve, args=(c,), daemon=True).start()
"#;

/// Client: N threads connect and wait until all N are connected (barrier); the client then
/// prints `HELD` and waits for a line on stdin; then each thread asks for its own body and
/// checks it. Prints `OK <n>` with the number of correct connections.
const CONC_CLIENT: &str = r#"
import hashlib, socket, sys, threading
addr, port, n, body_len = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
def body(i):
    d = hashlib.sha256(str(i).encode()).digest()
    return (d * (body_len // len(d) + 1))[:body_len]
barrier = threading.Barrier(n + 1, timeout=120)
go = threading.Event()
ok, errs, lock = [0], [], threading.Lock()
def one(i):
    try:
        s = socket.create_connection((addr, port), timeout=120)
        barrier.wait()
        go.wait(120)
        s.sendall(b"GET %d\n" % i)
        got = b""
        while True:
            b = s.recv(65536)
            if not b:
                break
            got += b
        s.close()
        with lock:
            if got == body(i):
                ok[0] += 1
            else:
                errs.append("conn %d: %d bytes, wrong content" % (i, len(got)))
    except Exception as e:
        with lock:
            errs.append("conn %d: %r" % (i, e))
        barrier.abort()
ts = [threading.Thread(target=one, args=(i,)) for i in range(n)]
for t in ts: t.start()
try:
    barrier.wait()
    print("HELD", flush=True)
    sys.stdin.readline()
except threading.BrokenBarrierError:
    pass
go.set()
for t in ts: t.join()
for e in errs[:10]: print(e, flush=True)
print("OK %d" % ok[0], flush=True)
"#;

#[test]
fn accept_200_concurrent_connections() {
    let name = "accept_200_concurrent_connections";
    netns_gate!(name, &["nft", "python3", "timeout"]);
    let h = Hosts::new();
    let (client, server, veth) = (&h.client, &h.server, &h.veth);
    let sd = Host::fronting(server, &h.path("s.sock"), HTTP_PORT);
    let cd = Host::routing(client, &h.path("c.sock"), "--route", veth.addr_b());
    let port = HTTP_PORT.to_string();
    let body_len = "20000";
    let srv = server
        .spawn("python3", &["-c", CONC_SERVER, &port, body_len])
        .unwrap();
    srv.wait_line("READY", Duration::from_secs(20)).unwrap();
    let addr = veth.addr_b().v4.to_string();
    let mut cl = client
        .spawn(
            "timeout",
            &[
                "-k",
                "5",
                "240",
                "python3",
                "-c",
                CONC_CLIENT,
                &addr,
                &port,
                "200",
                body_len,
            ],
        )
        .unwrap();
    let first = cl.read_line(Duration::from_secs(180)).unwrap();
    assert_eq!(first, "HELD", "connections not all established");
    // All 200 are open at once, each relayed and encrypted by both daemons.
    let remote = format!("{addr}:{port}");
    // (Polled, at most 20 times over about 5 s: a key exchange may still be finishing.)
    for (who, d) in [("client", &cd.daemon), ("server", &sd.daemon)] {
        let (mut enc, mut total) = (0, 0);
        for _ in 0..20 {
            let st = d.cli(&["status", "--json"]).unwrap();
            assert!(st.status.success());
            let v: serde_json::Value = serde_json::from_slice(&st.stdout).unwrap();
            let rows = v.as_array().unwrap();
            total = rows.len();
            enc = rows
                .iter()
                .filter(|r| r["encrypted"] == true && r["session_id"].is_string())
                .filter(|r| who == "server" || r["remote"] == remote.as_str())
                .count();
            if enc >= 200 {
                break;
            }
            std::thread::sleep(Duration::from_millis(250));
        }
        assert!(
            enc >= 200,
            "{who}: only {enc} encrypted connections of {total}"
        );
    }
    cl.send_line("go").unwrap();
    let mut last = String::new();
    while let Ok(line) = cl.read_line(Duration::from_secs(180)) {
        last = line;
        if last.starts_with("OK ") {
            break;
        }
        println!("{name}: {last}");
    }
    assert_eq!(last, "OK 200");
    assert_eq!(
        cl.wait_exit(Duration::from_secs(30)).unwrap().code(),
        Some(0)
    );
    drop(srv);
    cd.stop(client);
    sd.stop(server);
    mark_ran(name).unwrap();
}

#[test]
fn accept_ping_and_udp_to_routed_addresses() {
    let name = "accept_ping_and_udp_to_routed_addresses";
    netns_gate!(name, &["nft", "ping", "socat", "timeout", "sh"]);
    let h = Hosts::new();
    let (client, server, veth) = (&h.client, &h.server, &h.veth);
    let cd = Host::routing(client, &h.path("c.sock"), "--route", veth.addr_b());
    let _echo4 = server
        .spawn("socat", &["UDP4-LISTEN:5300,fork,reuseaddr", "PIPE"])
        .unwrap();
    let _echo6 = server
        .spawn("socat", &["UDP6-LISTEN:5301,fork,reuseaddr", "PIPE"])
        .unwrap();
    std::thread::sleep(Duration::from_millis(300));
    for v6 in [false, true] {
        let addr = veth.addr_b().get(v6);
        let a = addr.to_string();
        let before = tcpc0_tx_packets(client);
        let p = bounded(
            client,
            20,
            "ping",
            &["-n", "-c", "3", "-i", "0.2", "-W", "2", &a],
        );
        assert!(
            p.status.success(),
            "ping {a} through tcpc0 failed: {}",
            String::from_utf8_lossy(&p.stdout)
        );
        let msg = format!("hello over udp v6={v6}");
        let target = if v6 {
            format!("UDP6:[{a}]:5301")
        } else {
            format!("UDP4:{a}:5300")
        };
        let script = format!("printf '%s\\n' '{msg}' | socat -T 3 - {target}");
        let u = bounded(client, 20, "sh", &["-c", &script]);
        assert_eq!(
            String::from_utf8_lossy(&u.stdout).trim(),
            msg,
            "UDP echo through tcpc0 failed: {}",
            String::from_utf8_lossy(&u.stderr)
        );
        // Both went into tcpc0 (3 echo requests and at least one datagram).
        let sent = tcpc0_tx_packets(client) - before;
        assert!(sent >= 4, "only {sent} packets entered tcpc0 (v6={v6})");
    }
    cd.stop(client);
    mark_ran(name).unwrap();
}

/// Connects to ADDR PORT with a 5 s timeout and prints `refused`, `reset`, `timeout`,
/// `unreachable` (EHOSTUNREACH, ENETUNREACH), `connected`, `closed` or `error <repr>`.
const CONNECT_PROBE: &str = r#"
import socket, sys
fam = socket.AF_INET6 if ':' in sys.argv[1] else socket.AF_INET
s = socket.socket(fam, socket.SOCK_STREAM)
s.settimeout(5)
try:
    s.connect((sys.argv[1], int(sys.argv[2])))
    s.settimeout(5)
    b = s.recv(1)
    print("connected" if b else "closed", flush=True)
except ConnectionRefusedError:
    print("refused", flush=True)
except ConnectionResetError:
    print("reset", flush=True)
except socket.timeout:
    print("timeout", flush=True)
except OSError as e:
    print("unreachable" if e.errno in (113, 101) else "error %r" % (e,), flush=True)
except Exception as e:
    print("error %r" % (e,), flush=True)
"#;

fn probe(ns: &Netns, addr: IpAddr, port: u16) -> String {
    let out = bounded(
        ns,
        20,
        "python3",
        &["-c", CONNECT_PROBE, &addr.to_string(), &port.to_string()],
    );
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

/// Through `tcpc0`, a destination that refuses (no listener on the far host, or a fronted
/// port whose service is not running) is a refused connect for the application, and one that never answers (an unused address of the routed
/// subnet) is a connect timeout or, once the kernel's neighbour resolution gives up and
/// reports it by ICMP, unreachable: never a connection that is accepted and then dies.
#[test]
fn accept_destination_refusal_and_timeout_reach_the_application() {
    let name = "accept_destination_refusal_and_timeout_reach_the_application";
    netns_gate!(name, &["nft", "python3", "timeout"]);
    let h = Hosts::new();
    let (client, plain, veth) = (&h.client, &h.server, &h.veth);
    let cd = Host::routing(client, &h.path("c.sock"), "--route", veth.addr_b());
    // The far host runs a daemon fronting a port where no service listens; other ports are
    // not fronted and reach its kernel directly.
    let sd = Host::fronting(plain, &h.path("s.sock"), 8081);
    for v6 in [false, true] {
        let addr = veth.addr_b().get(v6);
        assert_eq!(probe(client, addr, 9), "refused", "v6={v6}");
        assert_eq!(probe(client, addr, 8081), "refused", "fronted, v6={v6}");
        let nobody: IpAddr = if v6 {
            let mut seg = veth.addr_b().v6.segments();
            seg[7] = 0x99;
            std::net::Ipv6Addr::from(seg).into()
        } else {
            let mut o = veth.addr_b().v4.octets();
            o[3] = 99;
            std::net::Ipv4Addr::from(o).into()
        };
        let r = probe(client, nobody, 80);
        assert!(r == "timeout" || r == "unreachable", "v6={v6}: {r}");
    }
    cd.stop(client);
    sd.stop(plain);
    mark_ran(name).unwrap();
}
