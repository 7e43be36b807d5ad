//! Our TCP engine (`stack::Stack`, run by the `stack_peer` binary over a TUN device) against
//! the Linux kernel's TCP (a small python3 program), once as client of a kernel server and
//! once as server for a kernel client, IPv4 and IPv6. Both ends send seeded pseudo-random
//! data at the same time (full duplex), half-close, read to EOF and print the SHA-256 and
//! length of what they sent and received; the test checks each direction's hashes match.
//!
//! Paths:
//! * `nft`: the TUN device sits in the kernel peer's namespace K; an nftables table there
//!   drops 1 % of packets at random (`numgen random mod 100 < 1 drop`) in both directions.
//!   `stack_peer` sets `gso_max_segs 1` on its TUN so the rule sees wire-size packets.
//! * `linkemu`: the TUN device sits in namespace A, which forwards to namespace B over
//!   `linkemu` with 10 ms one-way delay each way; the kernel peer is in B.
//!
//! Addresses: the engine is 10.203.N.2 / fd03:0:0:N::2 behind the TUN device, whose kernel
//! side is 10.203.N.1/24 / fd03:0:0:N::1/64.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::time::{Duration, Instant};

use netns_tests::{
    mark_ran, netns_gate, nft_counter_packets, unique_name, unique_subnet, Child, Impairments,
    LinkEmu, Netns, TempDir,
};

const STACK_PEER: &str = env!("CARGO_BIN_EXE_stack_peer");
const LINKEMU: &str = env!("CARGO_BIN_EXE_linkemu");
const PORT: u16 = 5201;
const MIB: u64 = 1024 * 1024;

/// The kernel side: `kpeer.py listen BIND PORT NSEND SEED TIMEOUT` or
/// `kpeer.py connect ADDR PORT NSEND SEED TIMEOUT`. Sends NSEND bytes from
/// `random.Random(SEED)` while reading to EOF, then prints a `RESULT` line like stack_peer.
const KPEER: &str = r#"
import hashlib, random, socket, sys, threading, time
mode, host, port, nsend, seed, tmo = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5]), float(sys.argv[6])
fam = socket.AF_INET6 if ':' in host else socket.AF_INET
if mode == 'listen':
    ls = socket.socket(fam, socket.SOCK_STREAM)
    ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    ls.bind((host, port))
    ls.listen(1)
    ls.settimeout(tmo)
    print('READY', flush=True)
    s, _ = ls.accept()
    ls.close()
else:
    s = socket.create_connection((host, port), timeout=tmo)
s.settimeout(tmo)
t0 = time.monotonic()
res = {}
def sender():
    h = hashlib.sha256()
    rng = random.Random(seed)
    left = nsend
    while left:
        b = rng.randbytes(min(left, 65536))
        s.sendall(b)
        h.update(b)
        left -= len(b)
    s.shutdown(socket.SHUT_WR)
    res['sent'] = h.hexdigest()
th = threading.Thread(target=sender)
th.start()
h = hashlib.sha256()
got = 0
while True:
    b = s.recv(262144)
    if not b:
        break
    h.update(b)
    got += len(b)
eof_ms = int((time.monotonic() - t0) * 1000)
th.join()
ms = int((time.monotonic() - t0) * 1000)
print('RESULT sent_sha256=%s recv_sha256=%s sent=%d recv=%d ms=%d eof_ms=%d' % (res['sent'], h.hexdigest(), nsend, got, ms, eof_ms), flush=True)
s.close()
"#;

/// One side's `RESULT` line.
#[derive(Debug, Clone, PartialEq, Eq)]
struct PeerResult {
    sent_sha256: String,
    recv_sha256: String,
    sent: u64,
    recv: u64,
    ms: u64,
    eof_ms: u64,
}

fn parse_result(line: &str) -> PeerResult {
    let mut r = PeerResult {
        sent_sha256: String::new(),
        recv_sha256: String::new(),
        sent: u64::MAX,
        recv: u64::MAX,
        ms: 0,
        eof_ms: 0,
    };
    for kv in line.strip_prefix("RESULT").expect(line).split_whitespace() {
        let (k, v) = kv.split_once('=').expect(line);
        match k {
            "sent_sha256" => r.sent_sha256 = v.to_owned(),
            "recv_sha256" => r.recv_sha256 = v.to_owned(),
            "sent" => r.sent = v.parse().unwrap(),
            "recv" => r.recv = v.parse().unwrap(),
            "ms" => r.ms = v.parse().unwrap(),
            "eof_ms" => r.eof_ms = v.parse().unwrap(),
            _ => {}
        }
    }
    r
}

#[derive(Debug, Clone, Copy)]
enum Path {
    /// 1 % random loss by nftables in the kernel peer's namespace.
    NftLoss,
    /// linkemu with the given impairments between the engine's namespace and the kernel's.
    Emu(Impairments),
}

#[derive(Debug, Clone, Copy)]
struct Case {
    v6: bool,
    /// The engine connects (true) or listens (false).
    stack_client: bool,
    path: Path,
    /// Bytes each way.
    len: u64,
    /// Bound on the whole transfer.
    max: Duration,
}

/// The engine's subnet: 10.203.n.0/24 and fd03:0:0:n::/64.
fn stack_addr(n: u8, host: u8, v6: bool) -> IpAddr {
    if v6 {
        IpAddr::V6(Ipv6Addr::new(
            0xfd03,
            0,
            0,
            u16::from(n),
            0,
            0,
            0,
            u16::from(host),
        ))
    } else {
        IpAddr::V4(Ipv4Addr::new(10, 203, n, host))
    }
}

fn kpeer(ns: &Netns, script: &str, args: &[String]) -> Child {
    let mut a = vec![script.to_owned()];
    a.extend_from_slice(args);
    let a: Vec<&str> = a.iter().map(String::as_str).collect();
    ns.spawn("python3", &a).unwrap()
}

/// Whether process `pid` has exited (is a zombie or gone).
fn exited(pid: u32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        // "pid (comm) S ...": the state follows the last ')'.
        Ok(stat) => stat
            .rsplit_once(')')
            .is_some_and(|(_, rest)| rest.trim_start().starts_with(['Z', 'X'])),
        Err(_) => true,
    }
}

/// Waits for the `RESULT` line of both children (stack_peer, kernel peer), failing at once
/// when one of them exits without printing it, and at `deadline` otherwise.
fn wait_results(children: [&Child; 2], deadline: Instant) -> [String; 2] {
    const WHO: [&str; 2] = ["stack_peer", "kernel peer"];
    let mut got: [Option<String>; 2] = [None, None];
    let mut gone = [0u32; 2];
    while got.iter().any(Option::is_none) {
        assert!(
            Instant::now() < deadline,
            "timed out waiting for RESULT lines: got {got:?}"
        );
        for (i, child) in children.iter().enumerate() {
            if got[i].is_some() {
                continue;
            }
            match child.read_line(Duration::from_millis(100)) {
                Ok(line) if line.starts_with("RESULT") => got[i] = Some(line),
                Ok(line) => println!("{}: {line}", WHO[i]),
                Err(_) if exited(child.id()) => {
                    gone[i] += 1;
                    assert!(gone[i] < 3, "{} exited without a RESULT line", WHO[i]);
                }
                Err(_) => {}
            }
        }
    }
    got.map(Option::unwrap_or_default)
}

fn interop(name: &str, case: Case) {
    let Case {
        v6,
        stack_client,
        path,
        len,
        max,
    } = case;
    let dir = TempDir::new().unwrap();
    let script = dir.path().join("kpeer.py");
    std::fs::write(&script, KPEER).unwrap();
    let script = script.to_str().unwrap();

    // Namespaces: `stack_ns` holds the TUN, `kernel_ns` the kernel peer (same for nft).
    let stack_ns = Netns::new().unwrap();
    let kernel_ns_owned;
    let mut emu = None;
    let kernel_ns = match path {
        Path::NftLoss => &stack_ns,
        Path::Emu(_) => {
            kernel_ns_owned = Netns::new().unwrap();
            &kernel_ns_owned
        }
    };
    let n = unique_subnet();
    let stack_ip = stack_addr(n, 2, v6);
    let tun = format!("{}s", unique_name('t'));
    let table = unique_name('f');
    let kernel_ip = match path {
        Path::NftLoss => {
            let rules = format!(
                "table inet {table} {{\n\
                 chain in {{ type filter hook input priority 0; iifname \"{tun}\" numgen random mod 100 < 1 counter drop; }}\n\
                 chain out {{ type filter hook output priority 0; oifname \"{tun}\" numgen random mod 100 < 1 counter drop; }}\n\
                 }}\n"
            );
            let path = dir.path().join("rules.nft");
            std::fs::write(&path, rules).unwrap();
            stack_ns
                .exec("nft", &["-f", path.to_str().unwrap()])
                .unwrap();
            stack_addr(n, 1, v6)
        }
        Path::Emu(imp) => {
            let e = LinkEmu::start(LINKEMU, &stack_ns, kernel_ns, imp).unwrap();
            stack_ns.sysctl("net.ipv4.ip_forward", "1").unwrap();
            stack_ns
                .sysctl("net.ipv6.conf.all.forwarding", "1")
                .unwrap();
            let via = e.addr_a();
            kernel_ns
                .ip(&[
                    "route",
                    "add",
                    &format!("10.203.{n}.0/24"),
                    "via",
                    &via.v4.to_string(),
                ])
                .unwrap();
            kernel_ns
                .ip(&[
                    "-6",
                    "route",
                    "add",
                    &format!("fd03:0:0:{n:x}::/64"),
                    "via",
                    &via.v6.to_string(),
                ])
                .unwrap();
            let kip = e.addr_b().get(v6);
            emu = Some(e);
            kip
        }
    };

    let secs = max.as_secs().to_string();
    let mut peer_args: Vec<String> = [
        "--tun",
        &tun,
        "--addr",
        &stack_ip.to_string(),
        "--kernel-addr",
        &format!("10.203.{n}.1/24"),
        "--kernel-addr",
        &format!("fd03:0:0:{n:x}::1/64"),
        "--send-bytes",
        &len.to_string(),
        "--expect-bytes",
        &len.to_string(),
        "--seed",
        "11",
        "--max-runtime-s",
        &secs,
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    let kseed = "22".to_owned();
    let start = Instant::now();
    let (stack_child, kernel_child) = if stack_client {
        let bind = if v6 { "::" } else { "0.0.0.0" };
        let k = kpeer(
            kernel_ns,
            script,
            &[
                "listen".into(),
                bind.into(),
                PORT.to_string(),
                len.to_string(),
                kseed,
                secs.clone(),
            ],
        );
        k.wait_line("READY", Duration::from_secs(20)).unwrap();
        let remote = match kernel_ip {
            IpAddr::V4(a) => format!("{a}:{PORT}"),
            IpAddr::V6(a) => format!("[{a}]:{PORT}"),
        };
        peer_args.extend(["--connect".to_owned(), remote]);
        let args: Vec<&str> = peer_args.iter().map(String::as_str).collect();
        let s = stack_ns.spawn(STACK_PEER, &args).unwrap();
        (s, k)
    } else {
        peer_args.extend(["--listen".to_owned(), PORT.to_string()]);
        let args: Vec<&str> = peer_args.iter().map(String::as_str).collect();
        let s = stack_ns.spawn(STACK_PEER, &args).unwrap();
        s.wait_line("READY", Duration::from_secs(20)).unwrap();
        let k = kpeer(
            kernel_ns,
            script,
            &[
                "connect".into(),
                stack_ip.to_string(),
                PORT.to_string(),
                len.to_string(),
                kseed,
                secs.clone(),
            ],
        );
        (s, k)
    };
    let deadline = start + max + Duration::from_secs(10);
    let [sres, kres] = wait_results([&stack_child, &kernel_child], deadline);
    let (sres, kres) = (parse_result(&sres), parse_result(&kres));
    let stats = stack_child
        .wait_line("STATS", Duration::from_secs(5))
        .unwrap();
    let (mut stack_child, mut kernel_child) = (stack_child, kernel_child);
    let wall = start.elapsed();
    assert!(stack_child
        .wait_exit(Duration::from_secs(10))
        .unwrap()
        .success());
    assert!(kernel_child
        .wait_exit(Duration::from_secs(10))
        .unwrap()
        .success());

    // Engine -> kernel and kernel -> engine, each hash-checked.
    assert_eq!(sres.sent, len, "{sres:?}");
    assert_eq!(kres.recv, len, "kernel received {kres:?}");
    assert_eq!(
        kres.recv_sha256, sres.sent_sha256,
        "engine -> kernel data differ"
    );
    assert_eq!(kres.sent, len, "{kres:?}");
    assert_eq!(sres.recv, len, "engine received {sres:?}");
    assert_eq!(
        sres.recv_sha256, kres.sent_sha256,
        "kernel -> engine data differ"
    );

    let mbit = |ms: u64| (len as f64 * 8.0 / 1e6) / (ms.max(1) as f64 / 1000.0);
    // Per direction: a receiver's eof_ms is when the last byte and FIN of that direction
    // arrived (both clocks start at the handshake, give or take a round trip).
    println!(
        "{name}: {} MiB each way, wall {wall:?}; engine->kernel {} ms ({:.1} Mbit/s), \
         kernel->engine {} ms ({:.1} Mbit/s), both done {} ms; {stats}",
        len / MIB,
        kres.eof_ms,
        mbit(kres.eof_ms),
        sres.eof_ms,
        mbit(sres.eof_ms),
        sres.ms,
    );
    match path {
        Path::NftLoss => {
            let dropped = nft_counter_packets(&stack_ns, "inet", &table).unwrap();
            println!("{name}: nft dropped {dropped} packets");
            // len/1448 data segments each way plus ACKs; 1 % of that, far above 5.
            assert!(dropped >= 5, "the 1 % drop rule fired only {dropped} times");
        }
        Path::Emu(imp) => {
            let st = emu.take().unwrap().stop().unwrap();
            println!("{name}: linkemu {st:?}");
            // Every data segment of both directions crossed the emulator.
            assert!(st.rx > 2 * len / 1500, "{st:?}");
            if imp.loss_pct > 0.0 {
                assert!(st.lost > 0, "{st:?}");
            }
            if imp.reorder_pct > 0.0 && imp.dup_pct > 0.0 {
                assert!(st.reordered > 0 && st.duplicated > 0, "{st:?}");
            }
            // Handshake plus the transfer took at least one emulated round trip.
            assert!(wall >= Duration::from_millis(2 * imp.delay_ms), "{wall:?}");
        }
    }
    drop(dir);
}

fn nft_case(name: &str, v6: bool, stack_client: bool, len: u64) {
    netns_gate!(name, &["python3", "nft", "sysctl"]);
    interop(
        name,
        Case {
            v6,
            stack_client,
            path: Path::NftLoss,
            len,
            max: Duration::from_secs(300),
        },
    );
    mark_ran(name).unwrap();
}

fn emu_case(name: &str, v6: bool, stack_client: bool, len: u64) {
    let imp = Impairments {
        delay_ms: 10,
        seed: 5,
        ..Impairments::default()
    };
    emu_case_with(name, v6, stack_client, len, imp);
}

fn emu_case_with(name: &str, v6: bool, stack_client: bool, len: u64, imp: Impairments) {
    netns_gate!(name, &["python3", "sysctl"]);
    interop(
        name,
        Case {
            v6,
            stack_client,
            path: Path::Emu(imp),
            len,
            max: Duration::from_secs(300),
        },
    );
    mark_ran(name).unwrap();
}

/// 10 ms +/- 2 ms delay, 1 % loss, 1 % reordering, 1 % duplication, MTU 1400.
fn impaired() -> Impairments {
    Impairments {
        delay_ms: 10,
        jitter_ms: 2,
        loss_pct: 1.0,
        reorder_pct: 1.0,
        dup_pct: 1.0,
        seed: 9,
        mtu: 1400,
    }
}

#[test]
fn stack_client_kernel_server_nft_loss1pct_ipv4() {
    nft_case(
        "stack_client_kernel_server_nft_loss1pct_ipv4",
        false,
        true,
        100 * MIB,
    );
}

#[test]
fn stack_server_kernel_client_nft_loss1pct_ipv4() {
    nft_case(
        "stack_server_kernel_client_nft_loss1pct_ipv4",
        false,
        false,
        100 * MIB,
    );
}

#[test]
fn stack_client_kernel_server_nft_loss1pct_ipv6() {
    nft_case(
        "stack_client_kernel_server_nft_loss1pct_ipv6",
        true,
        true,
        100 * MIB,
    );
}

#[test]
fn stack_server_kernel_client_nft_loss1pct_ipv6() {
    nft_case(
        "stack_server_kernel_client_nft_loss1pct_ipv6",
        true,
        false,
        100 * MIB,
    );
}

#[test]
fn stack_client_kernel_server_linkemu_delay10ms_ipv4() {
    emu_case(
        "stack_client_kernel_server_linkemu_delay10ms_ipv4",
        false,
        true,
        100 * MIB,
    );
}

#[test]
fn stack_server_kernel_client_linkemu_delay10ms_ipv4() {
    emu_case(
        "stack_server_kernel_client_linkemu_delay10ms_ipv4",
        false,
        false,
        100 * MIB,
    );
}

#[test]
fn stack_client_kernel_server_linkemu_delay10ms_ipv6() {
    emu_case(
        "stack_client_kernel_server_linkemu_delay10ms_ipv6",
        true,
        true,
        100 * MIB,
    );
}

#[test]
fn stack_server_kernel_client_linkemu_delay10ms_ipv6() {
    emu_case(
        "stack_server_kernel_client_linkemu_delay10ms_ipv6",
        true,
        false,
        100 * MIB,
    );
}

#[test]
fn stack_client_kernel_server_linkemu_impaired_ipv4() {
    emu_case_with(
        "stack_client_kernel_server_linkemu_impaired_ipv4",
        false,
        true,
        10 * MIB,
        impaired(),
    );
}

#[test]
fn stack_server_kernel_client_linkemu_impaired_ipv6() {
    emu_case_with(
        "stack_server_kernel_client_linkemu_impaired_ipv6",
        true,
        false,
        10 * MIB,
        impaired(),
    );
}
