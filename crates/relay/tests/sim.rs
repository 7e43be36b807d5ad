//! End-to-end simulation of the data path: host A (an application and relay engine A)
//! and host B (relay engine B fronting a service, or a plain host) over impaired links.
//! Deterministic by seed: `SIM_SEED=<n>` replays a run; a failing run prints its seed.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::*;
use relay::{Cipher, Config, IpAddress, IpEndpoint, PairState, Policy, Tep};
use stack::sim::{Link, Simulator};
use stack::{Duration, Event, Instant};

const MB: usize = 1 << 20;

fn impaired() -> Link {
    Link::ideal()
        .with_delay(Duration::from_millis(10))
        .with_jitter(Duration::from_millis(1))
        .with_loss(0.01)
        .with_reorder(0.02, Duration::from_millis(5))
}

fn clean() -> Link {
    Link::ideal().with_delay(Duration::from_millis(5))
}

fn addrs(v6: bool) -> (IpAddress, IpAddress, IpAddress) {
    if v6 {
        (KERNEL_V6, A_REAL_V6, B_REAL_V6)
    } else {
        (KERNEL_V4, A_REAL_V4, B_REAL_V4)
    }
}

type Sim = Simulator<Host, Host>;

fn sim_with(a: Host, b: Host, link: fn() -> Link) -> Sim {
    let sim = Simulator::new(a, b, link(), link());
    eprintln!("SIM_SEED={}", sim.seed());
    sim
}

/// Both hosts run the relay; B fronts port 80; A's application sends `a_data` and B's
/// service `b_data`.
fn relay_pair(
    v6: bool,
    link: fn() -> Link,
    a_mode: SendMode,
    a_data: Vec<u8>,
    b_mode: SendMode,
    b_data: Vec<u8>,
) -> Sim {
    relay_pair_mtu(v6, link, None, a_mode, a_data, b_mode, b_data)
}

/// [`relay_pair`] with the network path's MTU set to `mtu` on both relays (their outer legs)
/// and on the links, which drop anything larger.
fn relay_pair_mtu(
    v6: bool,
    link: fn() -> Link,
    mtu: Option<usize>,
    a_mode: SendMode,
    a_data: Vec<u8>,
    b_mode: SendMode,
    b_data: Vec<u8>,
) -> Sim {
    let seed = stack::sim::seed_from_env();
    let (mut a_cfg, mut b_cfg) = (client_cfg(Policy::Opportunistic), server_cfg(80));
    if let Some(mtu) = mtu {
        a_cfg.outer_mtu = mtu;
        b_cfg.outer_mtu = mtu;
    }
    let mut a = Host::relay_a(a_cfg, seed);
    let mut b = Host::relay_b(b_cfg, seed);
    b.serve(80, b_data, b_mode);
    dial(&mut a, v6, 40000, 80, a_data, a_mode);
    match mtu {
        Some(mtu) => {
            let sim = Simulator::new(a, b, link().with_mtu(mtu), link().with_mtu(mtu));
            eprintln!("SIM_SEED={}", sim.seed());
            sim
        }
        None => sim_with(a, b, link),
    }
}

fn done(s: &Sim, a_len: usize, b_len: usize) -> bool {
    s.a.app.eof && s.b.app.eof && s.a.app.received.len() == b_len && s.b.app.received.len() == a_len
}

/// A's application connects from the kernel-side address, port `port`, to B's real
/// address, port `to` (IPv6 if `v6`), at time zero.
fn dial(a: &mut Host, v6: bool, port: u16, to: u16, data: Vec<u8>, mode: SendMode) {
    let (kernel, _, b_real) = addrs(v6);
    a.connect(
        Instant::ZERO,
        IpEndpoint::new(kernel, port),
        IpEndpoint::new(b_real, to),
        data,
        mode,
    );
}

/// Run until A's application is answered: reset (refused) or established.
fn run_until_answered(sim: &mut Sim) {
    sim.run_until(
        |s| s.a.app.reset || s.a.app.established,
        Duration::from_secs(10),
    )
    .unwrap();
}

/// Each application received, whole, what the other sent.
fn assert_exchanged(sim: &Sim, a_data: &[u8], b_data: &[u8]) {
    assert_eq!(sha(&sim.a.app.received), sha(b_data), "A received B's data");
    assert_eq!(sha(&sim.b.app.received), sha(a_data), "B received A's data");
}

/// One relayed connection through both engines, encrypted (X25519, AES-128-GCM), moving
/// `len` bytes each way over `link` (path MTU `mtu` if given): hashes, equal session IDs,
/// status rows, no plaintext on the wire, the service sees the client's address, tables
/// drain. Returns the simulator for checks of the link's own impairments.
fn encrypted_transfer(v6: bool, len: usize, link: fn() -> Link, mtu: Option<usize>) -> Sim {
    let (kernel, a_real, b_real) = addrs(v6);
    let a_data = data(len, 1);
    let b_data = data(len, 2);
    let mut sim = relay_pair_mtu(
        v6,
        link,
        mtu,
        SendMode::Immediately,
        a_data.clone(),
        SendMode::Immediately,
        b_data.clone(),
    );
    let a_view = (IpEndpoint::new(kernel, 40000), IpEndpoint::new(b_real, 80));
    let b_view = (IpEndpoint::new(kernel, 80), IpEndpoint::new(a_real, 40000));
    let mut ids = (None, None);
    let mut status_seen = false;
    sim.run_until(
        |s| {
            if ids.0.is_none() {
                ids.0 = s.a.engine().sessid(a_view.0, a_view.1);
            }
            if ids.1.is_none() {
                ids.1 = s.b.engine().sessid(b_view.0, b_view.1);
            }
            if !status_seen && ids.0.is_some() && ids.1.is_some() {
                let st = s.a.engine().status();
                let b_st = s.b.engine().status();
                if st.len() == 1
                    && b_st.len() == 1
                    && st[0].cipher.is_some()
                    && b_st[0].cipher.is_some()
                {
                    status_seen = true;
                    assert!(st[0].encrypted && b_st[0].encrypted);
                    assert_eq!(st[0].tep, Some(Tep::X25519));
                    assert_eq!(st[0].cipher, Some(Cipher::Aes128Gcm));
                    assert_eq!(b_st[0].cipher, Some(Cipher::Aes128Gcm));
                    assert_eq!(st[0].local, relay::status::to_socket_addr(a_view.0));
                    assert_eq!(st[0].remote, relay::status::to_socket_addr(a_view.1));
                    assert_eq!(b_st[0].local, relay::status::to_socket_addr(b_view.0));
                    assert_eq!(b_st[0].remote, relay::status::to_socket_addr(b_view.1));
                    assert_eq!(st[0].session_id, ids.0);
                }
            }
            done(s, len, len)
        },
        Duration::from_secs(1200),
    )
    .unwrap();
    assert_exchanged(&sim, &a_data, &b_data);
    let (ia, ib) = (ids.0.expect("A sessid"), ids.1.expect("B sessid"));
    assert_eq!(ia, ib, "session IDs equal on both ends");
    assert_eq!(ia[0], 0x23, "X25519 session ID");
    assert!(status_seen, "status showed the encrypted pair");
    // Every application byte was counted once per relay, and the bulk of them went from
    // ring to ring (sealed or opened on the way), not through the sessions' buffers.
    for st in [sim.a.engine().stats(), sim.b.engine().stats()] {
        assert_eq!(st.spliced + st.buffered, 2 * len as u64, "{st:?}");
        assert!(st.spliced * 4 >= 3 * 2 * len as u64, "{st:?}");
    }
    // Nothing of the plaintext on the network, in either direction.
    assert_eq!(sim.a.out.marker_hits, 0);
    assert_eq!(sim.b.out.marker_hits, 0);
    assert!(sim.a.out.tcp_payload_bytes > len as u64);
    assert!(
        sim.a.out.eno_syns >= 1 && sim.b.out.eno_syns >= 1,
        "ENO in SYN and SYN-ACK"
    );
    // The service saw the client's real address and port.
    let conn = sim.b.app.conn.unwrap();
    let (_, peer) = sim
        .b
        .app_stack
        .endpoints(conn)
        .unwrap_or((b_view.0, b_view.1));
    assert_eq!(peer, b_view.1);
    // Let TIME-WAIT and the pairs drain: the tables empty.
    sim.run_for(Duration::from_secs(5)).unwrap();
    assert_eq!(
        sim.a.engine().pair_count(),
        0,
        "{:?}",
        sim.a.engine().status()
    );
    assert_eq!(
        sim.b.engine().pair_count(),
        0,
        "{:?}",
        sim.b.engine().status()
    );
    sim
}

/// Link counters summed over both directions.
fn link_stats(sim: &Sim) -> stack::sim::LinkStats {
    let (x, y) = (*sim.a_to_b.stats(), *sim.b_to_a.stats());
    stack::sim::LinkStats {
        sent: x.sent + y.sent,
        delivered: x.delivered + y.delivered,
        dropped_tamper: x.dropped_tamper + y.dropped_tamper,
        dropped_mtu: x.dropped_mtu + y.dropped_mtu,
        dropped_loss: x.dropped_loss + y.dropped_loss,
        dropped_queue: x.dropped_queue + y.dropped_queue,
        duplicated: x.duplicated + y.duplicated,
        corrupted: x.corrupted + y.corrupted,
        reordered: x.reordered + y.reordered,
    }
}

#[test]
fn encrypted_1mb_both_ways_ipv4_with_loss_and_reorder() {
    let sim = encrypted_transfer(false, MB, impaired, None);
    let st = link_stats(&sim);
    assert!(st.dropped_loss > 0 && st.reordered > 0, "{st:?}");
}

#[test]
fn encrypted_1mb_both_ways_ipv6_with_loss_and_reorder() {
    let sim = encrypted_transfer(true, MB, impaired, None);
    let st = link_stats(&sim);
    assert!(st.dropped_loss > 0 && st.reordered > 0, "{st:?}");
}

/// Issue 3's matrix with tcpcrypt on top: 10 MB each way, hash-checked, for each impairment
/// and path MTU (1 % loss with reordering at 1500; 10 % loss at 1280 over IPv6; duplication,
/// corruption and jitter at 9000; a clean 65 535 path over IPv6). Every outer segment fits
/// the path (the links drop oversize packets and none were dropped).
///
/// This matrix found four stack bugs. With the default seed: a pure ACK at the right edge of
/// a nearly closed window was rejected with its ACK field (now accepted, as Linux does), and
/// the two ends then answered each other's ACKs forever (now rate-limited). With other seeds
/// (10 % loss, MTU 1280): after retransmission timeouts on both ends, each end's pure ACKs
/// carried the rolled-back `snd.nxt`, older than the other's RCV.NXT, so neither ACK field
/// was ever read and both ends retransmitted into a stall (ACKs now carry the highest
/// sequence sent); and the scaled window, rounded up at every ACK, promised a few bytes more
/// than the receive ring held, whose text was then dropped until the application's own
/// connection timed out (the rounding now never promises more than the ring's room).
/// Seeds 0-40 pass (`SIM_SEED=<n> cargo test --release -p relay --test sim encrypted_10`).
#[test]
fn encrypted_10mb_both_ways_impairment_and_mtu_matrix() {
    fn loss10() -> Link {
        Link::ideal()
            .with_delay(Duration::from_millis(10))
            .with_loss(0.10)
    }
    fn dup_corrupt() -> Link {
        Link::ideal()
            .with_delay(Duration::from_millis(5))
            .with_jitter(Duration::from_millis(2))
            .with_duplicate(0.02)
            .with_corrupt(0.01)
    }
    type Case = (bool, fn() -> Link, usize);
    let cases: [Case; 4] = [
        (false, impaired, 1500),
        (true, loss10, 1280),
        (false, dup_corrupt, 9000),
        (true, clean, 65_535),
    ];
    for (v6, link, mtu) in cases {
        let sim = encrypted_transfer(v6, 10 * MB, link, Some(mtu));
        let st = link_stats(&sim);
        assert_eq!(st.dropped_mtu, 0, "mtu {mtu}: {st:?}");
        match mtu {
            1500 => assert!(st.dropped_loss > 0 && st.reordered > 0, "{st:?}"),
            1280 => assert!(st.dropped_loss > st.sent / 20, "{st:?}"),
            9000 => assert!(st.duplicated > 0 && st.corrupted > 0, "{st:?}"),
            _ => assert_eq!(st.dropped_loss, 0, "{st:?}"),
        }
    }
}

#[test]
fn plain_peer_falls_back_unencrypted() {
    let seed = stack::sim::seed_from_env();
    let mut a = Host::relay_a(client_cfg(Policy::Opportunistic), seed);
    let mut b = Host::plain_b(seed);
    let a_data = data(200_000, 3);
    let b_data = data(300_000, 4);
    b.serve(80, b_data.clone(), SendMode::Immediately);
    dial(
        &mut a,
        false,
        40001,
        80,
        a_data.clone(),
        SendMode::Immediately,
    );
    let mut sim = sim_with(a, b, impaired);
    let mut saw_plain = false;
    sim.run_until(
        |s| {
            if let Some(st) = s.a.engine().status().first() {
                if st.state != PairState::Connecting {
                    assert!(!st.encrypted);
                    assert_eq!(st.session_id, None);
                    saw_plain = true;
                }
            }
            done(s, 200_000, 300_000)
        },
        Duration::from_secs(60),
    )
    .unwrap();
    assert!(saw_plain);
    assert_exchanged(&sim, &a_data, &b_data);
    assert!(
        sim.a.out.marker_hits > 0,
        "plain relay carries the plaintext"
    );
    assert_eq!(
        sim.a.engine().sessid(
            IpEndpoint::new(KERNEL_V4, 40001),
            IpEndpoint::new(B_REAL_V4, 80)
        ),
        None
    );
    // The plain server saw the masqueraded client port.
    let conn = sim.b.app.conn.unwrap();
    assert_eq!(
        sim.b.app_stack.endpoints(conn).map(|e| e.1),
        Some(IpEndpoint::new(A_REAL_V4, 40001))
    );
    assert_eq!(sim.a.engine().stats().plain, 1);
}

fn require_refuses(v6: bool) {
    let seed = stack::sim::seed_from_env();
    let mut a = Host::relay_a(client_cfg(Policy::Require), seed);
    let mut b = Host::plain_b(seed);
    b.serve(80, data(10_000, 5), SendMode::Immediately);
    dial(
        &mut a,
        v6,
        40002,
        80,
        data(10_000, 6),
        SendMode::Immediately,
    );
    let mut sim = sim_with(a, b, clean);
    run_until_answered(&mut sim);
    assert!(sim.a.app.reset, "the application sees a refusal");
    assert!(
        !sim.a.app.established,
        "never established: {:?}",
        sim.a.app.events
    );
    sim.run_for(Duration::from_secs(3)).unwrap();
    assert_eq!(
        sim.a.out.tcp_payload_bytes, 0,
        "no payload byte left host A"
    );
    assert_eq!(sim.a.inbound.tcp_payload_bytes, 0);
    assert_eq!(sim.a.engine().stats().refused_policy, 1);
    assert_eq!(sim.a.engine().pair_count(), 0);
    assert!(sim.b.app.received.is_empty());
}

#[test]
fn require_policy_refuses_plain_peer_ipv4() {
    require_refuses(false);
}

#[test]
fn require_policy_refuses_plain_peer_ipv6() {
    require_refuses(true);
}

#[test]
fn require_policy_allows_tcpcrypt_peer() {
    let seed = stack::sim::seed_from_env();
    let mut a = Host::relay_a(client_cfg(Policy::Require), seed);
    let mut b = Host::relay_b(server_cfg(80), seed);
    let b_data = data(50_000, 7);
    b.serve(80, b_data.clone(), SendMode::Immediately);
    dial(&mut a, false, 40003, 80, Vec::new(), SendMode::Immediately);
    let mut sim = sim_with(a, b, clean);
    sim.run_until(|s| done(s, 0, 50_000), Duration::from_secs(30))
        .unwrap();
    assert_eq!(sha(&sim.a.app.received), sha(&b_data));
    assert_eq!(sim.a.out.marker_hits + sim.b.out.marker_hits, 0);
}

#[test]
fn refused_destination_reaches_the_application_as_refusal() {
    let seed = stack::sim::seed_from_env();
    let mut a = Host::relay_a(client_cfg(Policy::Opportunistic), seed);
    // Nothing listens on port 81 of the plain host: it answers RST.
    let b = Host::plain_b(seed);
    dial(
        &mut a,
        false,
        40004,
        81,
        data(1000, 8),
        SendMode::Immediately,
    );
    let mut sim = sim_with(a, b, clean);
    run_until_answered(&mut sim);
    assert!(sim.a.app.reset);
    assert!(!sim.a.app.established);
    assert_eq!(sim.a.engine().stats().refused_destination, 1);
    assert_eq!(sim.a.engine().pair_count(), 0);
}

#[test]
fn unreachable_destination_times_out_without_an_answer() {
    let seed = stack::sim::seed_from_env();
    let mut a = Host::relay_a(client_cfg(Policy::Opportunistic), seed);
    let b = Host::plain_b(seed);
    dial(&mut a, false, 40005, 80, Vec::new(), SendMode::Nothing);
    // A black hole: the path drops everything.
    let mut sim = Simulator::new(
        a,
        b,
        Link::ideal().with_loss(1.0),
        Link::ideal().with_loss(1.0),
    );
    sim.run_until(
        |s| s.a.app.timed_out || s.a.app.reset || s.a.app.established,
        Duration::from_secs(400),
    )
    .unwrap();
    assert!(
        sim.a.app.timed_out,
        "the application times out: {:?}",
        sim.a.app.events
    );
    assert!(!sim.a.app.reset);
    // The outer leg gives up at about the same time (same SYN schedule).
    sim.run_for(Duration::from_secs(5)).unwrap();
    assert_eq!(sim.a.engine().stats().outer_timeouts, 1);
    assert!(!sim.a.app.reset, "no RST after the outer timeout either");
    sim.run_for(Duration::from_secs(120)).unwrap();
    assert_eq!(sim.a.engine().pair_count(), 0, "the held SYN is forgotten");
}

fn half_close(client_first: bool) {
    let a_data = data(300_000, 9);
    let b_data = data(400_000, 10);
    let (a_mode, b_mode) = if client_first {
        (SendMode::Immediately, SendMode::AfterEof)
    } else {
        (SendMode::AfterEof, SendMode::Immediately)
    };
    let mut sim = relay_pair(
        false,
        impaired,
        a_mode,
        a_data.clone(),
        b_mode,
        b_data.clone(),
    );
    sim.run_until(|s| done(s, 300_000, 400_000), Duration::from_secs(60))
        .unwrap();
    assert_exchanged(&sim, &a_data, &b_data);
    assert_eq!(sim.a.out.marker_hits + sim.b.out.marker_hits, 0);
    // The half-closed direction carried data after the other's FIN: the second sender
    // only started after EOF, so both EOFs were seen in order.
    assert!(!sim.a.app.reset && !sim.b.app.reset);
}

#[test]
fn half_close_client_first() {
    half_close(true);
}

#[test]
fn half_close_server_first() {
    half_close(false);
}

#[test]
fn client_reset_reaches_the_service() {
    let mut sim = relay_pair(
        false,
        clean,
        SendMode::AbortAfter(20_000),
        data(50_000, 11),
        SendMode::Nothing,
        Vec::new(),
    );
    sim.run_until(|s| s.b.app.reset, Duration::from_secs(30))
        .unwrap();
    assert!(sim.a.app.aborted);
    assert_eq!(
        sim.b.app.received.len(),
        20_000,
        "data before the RST arrived"
    );
    assert!(!sim.b.app.eof, "a reset, not an EOF");
    sim.run_for(Duration::from_secs(2)).unwrap();
    assert_eq!(sim.a.engine().pair_count(), 0);
    assert_eq!(sim.b.engine().pair_count(), 0);
}

#[test]
fn service_reset_reaches_the_client() {
    let mut sim = relay_pair(
        true,
        clean,
        SendMode::Nothing,
        Vec::new(),
        SendMode::AbortAfter(30_000),
        data(50_000, 12),
    );
    sim.run_until(|s| s.a.app.reset, Duration::from_secs(30))
        .unwrap();
    assert!(sim.b.app.aborted);
    assert_eq!(sim.a.app.received.len(), 30_000);
    assert!(!sim.a.app.eof);
}

#[test]
fn tampered_ciphertext_aborts_both_legs_not_eof() {
    let seed = stack::sim::seed_from_env();
    let mut a = Host::relay_a(client_cfg(Policy::Opportunistic), seed);
    let mut b = Host::relay_b(server_cfg(80), seed);
    b.serve(80, Vec::new(), SendMode::Nothing);
    dial(
        &mut a,
        false,
        40006,
        80,
        data(200_000, 13),
        SendMode::Immediately,
    );
    // Flip a payload bit of a large data segment (and fix the TCP checksum so TCP
    // accepts it): only the AEAD can notice.
    let mut flipped = false;
    let tamper: stack::sim::TamperFn = Box::new(move |_, pkt: &mut Vec<u8>| {
        if flipped || pkt.len() < 1000 {
            return true;
        }
        let Ok(view) = stack::wire::ip::parse(pkt) else {
            return true;
        };
        let (src, dst) = (view.src, view.dst);
        let ihl = pkt.len() - view.payload.len();
        let mut tcp = smoltcp::wire::TcpPacket::new_unchecked(&mut pkt[ihl..]);
        let hl = usize::from(tcp.header_len());
        let payload = tcp.payload_mut();
        if payload.len() > 100 {
            payload[50] ^= 0x01;
            let _ = hl;
            tcp.fill_checksum(&src, &dst);
            flipped = true;
        }
        true
    });
    let a_to_b = clean().with_tamper(tamper);
    let mut sim = Simulator::new(a, b, a_to_b, clean());
    eprintln!("SIM_SEED={}", sim.seed());
    sim.run_until(|s| s.b.app.reset && s.a.app.reset, Duration::from_secs(30))
        .unwrap();
    assert!(!sim.b.app.eof, "an error, not EOF");
    assert!(sim.b.engine().stats().crypto_errors >= 1);
}

#[test]
fn many_connections_at_once() {
    let seed = stack::sim::seed_from_env();
    let mut a = Host::relay_a(client_cfg(Policy::Opportunistic), seed);
    let b = Host::relay_b(server_cfg(80), seed);
    // Extra client connections driven by hand; the service side only counts.
    let mut sim = Simulator::new(a_setup(&mut a), b_setup(b), clean(), clean());
    let all_keyed = |e: &relay::Engine| {
        let st = e.status();
        st.len() == 20 && st.iter().all(|c| c.session_id.is_some())
    };
    sim.run_until(
        |s| all_keyed(s.a.engine()) && all_keyed(s.b.engine()),
        Duration::from_secs(20),
    )
    .unwrap();
    assert_eq!(
        sim.a
            .engine()
            .status()
            .iter()
            .filter(|c| c.encrypted)
            .count(),
        20
    );
    let ids: std::collections::HashSet<_> = sim
        .a
        .engine()
        .status()
        .iter()
        .filter_map(|c| c.session_id)
        .collect();
    assert_eq!(ids.len(), 20, "distinct session IDs");
    let _ = Event::Established;
}

fn a_setup(a: &mut Host) -> Host {
    for i in 0..20u16 {
        a.app_stack
            .connect(
                Instant::ZERO,
                IpEndpoint::new(KERNEL_V4, 41000 + i),
                IpEndpoint::new(B_REAL_V4, 80),
                None,
            )
            .unwrap();
    }
    std::mem::replace(a, Host::plain(A_REAL_V4, A_REAL_V6, 0, 0))
}

fn b_setup(mut b: Host) -> Host {
    b.listen(80);
    b
}

#[test]
fn every_tep_and_aead_interoperates() {
    let seed = stack::sim::seed_from_env();
    for (i, tep) in [Tep::X25519, Tep::X448, Tep::P256, Tep::P521]
        .into_iter()
        .enumerate()
    {
        for (j, cipher) in [
            Cipher::Aes128Gcm,
            Cipher::Aes256Gcm,
            Cipher::ChaCha20Poly1305,
        ]
        .into_iter()
        .enumerate()
        {
            let cfg = Config {
                teps: vec![tep],
                ciphers: vec![cipher],
                ..client_cfg(Policy::Require)
            };
            let mut a = Host::relay_a(cfg, seed);
            let mut b = Host::relay_b(server_cfg(80), seed);
            let a_data = data(30_000, 20 + i as u8);
            let b_data = data(20_000, 40 + j as u8);
            b.serve(80, b_data.clone(), SendMode::Immediately);
            let port = 42000 + (i * 3 + j) as u16;
            dial(
                &mut a,
                true,
                port,
                80,
                a_data.clone(),
                SendMode::Immediately,
            );
            let mut sim = sim_with(a, b, clean);
            let mut seen = None;
            sim.run_until(
                |s| {
                    if seen.is_none() {
                        seen =
                            s.a.engine()
                                .status()
                                .first()
                                .and_then(|c| Some((c.tep?, c.cipher?, c.session_id?)));
                    }
                    done(s, 30_000, 20_000)
                },
                Duration::from_secs(30),
            )
            .unwrap();
            assert_exchanged(&sim, &a_data, &b_data);
            let (t, c, id) = seen.expect("status while connected");
            assert_eq!((t, c), (tep, cipher));
            assert_eq!(id[0], tep.id(), "session ID starts with the TEP byte");
            assert_eq!(sim.a.out.marker_hits + sim.b.out.marker_hits, 0);
        }
    }
}

#[test]
fn sessid_by_public_address_of_a_fronted_service() {
    let mut sim = relay_pair(
        false,
        clean,
        SendMode::Nothing,
        Vec::new(),
        SendMode::Nothing,
        Vec::new(),
    );
    let client = IpEndpoint::new(A_REAL_V4, 40000);
    sim.run_until(
        |s| {
            s.b.engine()
                .sessid(IpEndpoint::new(KERNEL_V4, 80), client)
                .is_some()
        },
        Duration::from_secs(10),
    )
    .unwrap();
    let exact = sim
        .b
        .engine()
        .sessid(IpEndpoint::new(KERNEL_V4, 80), client);
    let public = sim
        .b
        .engine()
        .sessid(IpEndpoint::new(B_REAL_V4, 80), client);
    assert_eq!(exact, public);
    assert_eq!(
        sim.b
            .engine()
            .sessid(IpEndpoint::new(B_REAL_V4, 81), client),
        None
    );
}

/// 200 concurrent connections through both engines (issue 4 asks for 200 concurrent
/// curls): each client sends a request, each service answers and closes; every answer
/// arrives whole, and both engines' tables drain afterwards.
#[test]
fn two_hundred_concurrent_connections_complete() {
    const N: u16 = 200;
    const REQ: usize = 5_000;
    const RESP: usize = 20_000;
    let seed = stack::sim::seed_from_env();
    let mut a = Host::relay_a(client_cfg(Policy::Opportunistic), seed);
    let mut b = Host::relay_b(server_cfg(80), seed);
    b.listen(80);
    let mut clients = Vec::new();
    for i in 0..N {
        let (kernel, real) = if i % 2 == 0 {
            (KERNEL_V4, B_REAL_V4)
        } else {
            (KERNEL_V6, B_REAL_V6)
        };
        let id = a
            .app_stack
            .connect(
                Instant::ZERO,
                IpEndpoint::new(kernel, 43000 + i),
                IpEndpoint::new(real, 80),
                None,
            )
            .unwrap();
        clients.push(id);
    }
    let req = data(REQ, 60);
    let resp = data(RESP, 61);
    let mut sim = sim_with(a, b, impaired);
    let mut c_sent = vec![0usize; N as usize];
    let mut c_got: Vec<Vec<u8>> = vec![Vec::new(); N as usize];
    let mut c_eof = vec![false; N as usize];
    let mut s_got = vec![0usize; N as usize];
    let mut s_sent = vec![0usize; N as usize];
    let mut s_closed = vec![false; N as usize];
    let mut buf = vec![0u8; 65536];
    sim.run_until(
        |s| {
            let now = s.now();
            for i in 0..N as usize {
                let c = clients[i];
                if s.a.app_stack.state(c) == Some(stack::State::Established) && c_sent[i] < REQ {
                    c_sent[i] += s.a.app_stack.send(now, c, &req[c_sent[i]..]);
                }
                while let Ok(n) = s.a.app_stack.recv(now, c, &mut buf) {
                    if n == 0 {
                        if !c_eof[i] {
                            c_eof[i] = true;
                            s.a.app_stack.close(now, c);
                        }
                        break;
                    }
                    c_got[i].extend_from_slice(&buf[..n]);
                }
                let (client_ip, real) = if i % 2 == 0 {
                    (A_REAL_V4, KERNEL_V4)
                } else {
                    (A_REAL_V6, KERNEL_V6)
                };
                let Some(sv) = s.b.app_stack.find(
                    IpEndpoint::new(real, 80),
                    IpEndpoint::new(client_ip, 43000 + i as u16),
                ) else {
                    continue;
                };
                while let Ok(n) = s.b.app_stack.recv(now, sv, &mut buf) {
                    if n == 0 {
                        break;
                    }
                    s_got[i] += n;
                }
                if s_got[i] == REQ && s_sent[i] < RESP {
                    s_sent[i] += s.b.app_stack.send(now, sv, &resp[s_sent[i]..]);
                }
                if s_sent[i] == RESP && !s_closed[i] {
                    s.b.app_stack.close(now, sv);
                    s_closed[i] = true;
                }
            }
            c_eof.iter().all(|e| *e)
        },
        Duration::from_secs(120),
    )
    .unwrap();
    for (i, got) in c_got.iter().enumerate() {
        assert_eq!(sha(got), sha(&resp), "connection {i}");
    }
    assert_eq!(sim.a.out.marker_hits + sim.b.out.marker_hits, 0);
    assert_eq!(sim.a.engine().stats().encrypted, u64::from(N));
    assert_eq!(sim.b.engine().stats().encrypted, u64::from(N));
    sim.run_for(Duration::from_secs(10)).unwrap();
    assert_eq!(sim.a.engine().pair_count(), 0);
    assert_eq!(sim.b.engine().pair_count(), 0);
}

/// A seed x impairment matrix: loss, duplication, corruption, reordering and a rate limit
/// with a short queue; 256 KB each way, hash-checked.
#[test]
fn impairment_matrix() {
    fn harsh() -> Link {
        Link::ideal()
            .with_delay(Duration::from_millis(20))
            .with_jitter(Duration::from_millis(5))
            .with_loss(0.05)
            .with_duplicate(0.02)
            .with_corrupt(0.01)
            .with_reorder(0.05, Duration::from_millis(10))
    }
    fn narrow() -> Link {
        Link::ideal()
            .with_delay(Duration::from_millis(5))
            .with_rate(10_000_000, 30_000)
    }
    for link in [harsh as fn() -> Link, narrow] {
        for v6 in [false, true] {
            let a_data = data(256 * 1024, 70);
            let b_data = data(256 * 1024, 71);
            let mut sim = relay_pair(
                v6,
                link,
                SendMode::Immediately,
                a_data.clone(),
                SendMode::Immediately,
                b_data.clone(),
            );
            let r = sim.run_until(
                |s| done(s, 256 * 1024, 256 * 1024),
                Duration::from_secs(300),
            );
            if r.is_err() {
                eprintln!("v6={v6} A status {:?}", sim.a.engine().status());
                eprintln!("B status {:?}", sim.b.engine().status());
                eprintln!(
                    "A app sent {} recv {} eof {} reset {} events {:?}",
                    sim.a.app.sent,
                    sim.a.app.received.len(),
                    sim.a.app.eof,
                    sim.a.app.reset,
                    sim.a.app.events
                );
                eprintln!(
                    "B app sent {} recv {} eof {} reset {} events {:?}",
                    sim.b.app.sent,
                    sim.b.app.received.len(),
                    sim.b.app.eof,
                    sim.b.app.reset,
                    sim.b.app.events
                );
                eprintln!("A stats {:?}", sim.a.engine().stats());
                eprintln!("B stats {:?}", sim.b.engine().stats());
                eprintln!("A stack {:?}", sim.a.engine().stack().stats());
                eprintln!("B stack {:?}", sim.b.engine().stack().stats());
                eprintln!("links {:?} {:?}", sim.a_to_b.stats(), sim.b_to_a.stats());
            }
            r.unwrap();
            assert_exchanged(&sim, &a_data, &b_data);
            assert_eq!(sim.a.out.marker_hits + sim.b.out.marker_hits, 0);
        }
    }
}

#[test]
fn fronted_port_without_service_refuses_the_client() {
    let seed = stack::sim::seed_from_env();
    let mut a = Host::relay_a(client_cfg(Policy::Opportunistic), seed);
    // B fronts port 80 but no service listens there.
    let b = Host::relay_b(server_cfg(80), seed);
    dial(
        &mut a,
        true,
        40007,
        80,
        data(1000, 14),
        SendMode::Immediately,
    );
    let mut sim = sim_with(a, b, clean);
    run_until_answered(&mut sim);
    assert!(
        sim.a.app.reset && !sim.a.app.established,
        "{:?}",
        sim.a.app.events
    );
    assert_eq!(sim.a.engine().stats().refused_destination, 1);
    sim.run_for(Duration::from_secs(1)).unwrap();
    assert_eq!(sim.a.engine().pair_count(), 0);
    assert_eq!(sim.b.engine().pair_count(), 0);
    assert_eq!(sim.a.out.tcp_payload_bytes + sim.b.out.tcp_payload_bytes, 0);
}

#[test]
fn reconfigure_adds_routes_and_fronted_ports() {
    let seed = stack::sim::seed_from_env();
    let mut a = Host::relay_a(Config::default(), seed);
    let mut b = Host::relay_b(server_cfg(81), seed);
    a.engine
        .as_mut()
        .unwrap()
        .reconfigure(routes(Policy::Require), Vec::new());
    b.engine.as_mut().unwrap().reconfigure(Vec::new(), vec![80]);
    let b_data = data(10_000, 15);
    b.serve(80, b_data.clone(), SendMode::Immediately);
    dial(&mut a, false, 40008, 80, Vec::new(), SendMode::Immediately);
    let mut sim = sim_with(a, b, clean);
    sim.run_until(|s| done(s, 0, 10_000), Duration::from_secs(10))
        .unwrap();
    assert_eq!(sha(&sim.a.app.received), sha(&b_data));
    assert_eq!(sim.a.engine().stats().encrypted, 1);
}

/// A client without ENO reaches a fronted service through a plain relay; the service sees
/// the client's real address.
#[test]
fn fronting_serves_a_plain_client_unencrypted() {
    let seed = stack::sim::seed_from_env();
    let mut a = Host::plain(A_REAL_V4, A_REAL_V6, seed, 1);
    let mut b = Host::relay_b(server_cfg(80), seed);
    let a_data = data(100_000, 16);
    let b_data = data(150_000, 17);
    b.serve(80, b_data.clone(), SendMode::Immediately);
    a.connect(
        Instant::ZERO,
        IpEndpoint::new(A_REAL_V6, 40010),
        IpEndpoint::new(B_REAL_V6, 80),
        a_data.clone(),
        SendMode::Immediately,
    );
    let mut sim = sim_with(a, b, impaired);
    let mut seen_plain = false;
    sim.run_until(
        |s| {
            if let Some(st) = s.b.engine().status().first() {
                seen_plain |= st.state != PairState::Connecting && !st.encrypted;
            }
            done(s, 100_000, 150_000)
        },
        Duration::from_secs(60),
    )
    .unwrap();
    assert!(seen_plain);
    assert_exchanged(&sim, &a_data, &b_data);
    let conn = sim.b.app.conn.unwrap();
    assert_eq!(
        sim.b.app_stack.endpoints(conn).map(|e| e.1),
        Some(IpEndpoint::new(A_REAL_V6, 40010))
    );
    assert_eq!(sim.b.engine().stats().plain, 1);
}

/// A half-closed connection stays usable while idle for minutes: the client sends and
/// closes, the service answers only after 3 minutes of silence.
#[test]
fn idle_half_close_survives_minutes() {
    let a_data = data(10_000, 18);
    let b_data = data(10_000, 19);
    let mut sim = relay_pair(
        false,
        clean,
        SendMode::Immediately,
        a_data.clone(),
        SendMode::Nothing,
        b_data.clone(),
    );
    sim.run_until(|s| s.b.app.eof, Duration::from_secs(10))
        .unwrap();
    sim.run_for(Duration::from_secs(180)).unwrap();
    assert!(!sim.a.app.reset && !sim.b.app.reset);
    sim.b.app.mode = SendMode::Immediately;
    sim.run_until(|s| done(s, 10_000, 10_000), Duration::from_secs(10))
        .unwrap();
    assert_eq!(sha(&sim.a.app.received), sha(&b_data));
}

/// A large TUN MTU (inner legs) does not leak onto the network: outer legs keep the path
/// MTU, so a link that drops anything above 1500 bytes still carries the transfer.
#[test]
fn large_tun_mtu_keeps_outer_segments_within_the_path_mtu() {
    let seed = stack::sim::seed_from_env();
    let big = |c: Config| Config {
        mtu: 9000,
        outer_mtu: 1500,
        ..c
    };
    let mut a = Host::relay_a(big(client_cfg(Policy::Require)), seed);
    let mut b = Host::relay_b(big(server_cfg(80)), seed);
    let a_data = data(200_000, 21);
    let b_data = data(200_000, 22);
    b.serve(80, b_data.clone(), SendMode::Immediately);
    dial(
        &mut a,
        false,
        40011,
        80,
        a_data.clone(),
        SendMode::Immediately,
    );
    let link = || clean().with_mtu(1500);
    let mut sim = Simulator::new(a, b, link(), link());
    sim.run_until(|s| done(s, 200_000, 200_000), Duration::from_secs(30))
        .unwrap();
    assert_exchanged(&sim, &a_data, &b_data);
    assert_eq!(
        sim.a_to_b.stats().dropped_mtu + sim.b_to_a.stats().dropped_mtu,
        0
    );
}

/// RFC 8548 §3.5: with resumption on, a second connection between the same hosts resumes
/// (session ID byte 0xa3, equal on both ends, different from the first) and carries data.
#[test]
fn second_connection_resumes_the_session() {
    let ids: Vec<_> = three_connections(true).iter().map(|c| c.id).collect();
    assert_eq!(ids[0][0], 0x23, "first connection: fresh key exchange");
    assert_eq!(ids[1][0], 0xa3, "second connection: resumed (v = 1)");
    assert_eq!(ids[2][0], 0xa3, "third connection: resumed again");
    assert!(
        ids[0] != ids[1] && ids[1] != ids[2],
        "fresh session IDs each time"
    );
}

/// A peer that does not resume answers the offer with a fresh key exchange.
#[test]
fn resumption_offer_to_a_peer_without_it_falls_back_to_fresh() {
    let conns = three_connections(false);
    assert!(conns.iter().all(|c| c.id[0] == 0x23), "all fresh");
    // The resumption suboption alone offered X25519 for a fresh exchange as well.
    assert!(conns.iter().skip(1).all(|c| c.syn_eno_v1));
}

/// A resumed connection's SYN and SYN-ACK keep timestamps and SACK-permitted (RFC 7323,
/// RFC 2018) next to the 18-byte resumption suboption: the SYN's other TEP offers give way
/// (IMPLEMENTING.md §6.7). With all four offered, the timestamps were dropped.
#[test]
fn resumed_syn_and_syn_ack_keep_timestamps_and_sack() {
    let conns = three_connections(true);
    for (i, c) in conns.iter().enumerate() {
        for (what, opts) in [("SYN", &c.syn), ("SYN-ACK", &c.syn_ack)] {
            let kinds = option_kinds(opts);
            for (kind, name) in [(2, "MSS"), (3, "window scale"), (4, "SACK-permitted")] {
                assert!(
                    kinds.contains(&kind),
                    "connection {i} {what}: no {name}: {opts:02x?}"
                );
            }
            assert!(
                kinds.contains(&8),
                "connection {i} {what}: no timestamps: {opts:02x?}"
            );
            assert!(
                kinds.contains(&69),
                "connection {i} {what}: no ENO: {opts:02x?}"
            );
        }
        assert_eq!(c.syn_eno_v1, i > 0, "connection {i}: resumption offered");
    }
}

/// Kinds of the TCP options in `opts` (RFC 9293 §3.1 layout).
fn option_kinds(opts: &[u8]) -> Vec<u8> {
    let mut kinds = Vec::new();
    let mut i = 0;
    while let Some(&kind) = opts.get(i) {
        match kind {
            0 => break,
            1 => i += 1,
            _ => {
                kinds.push(kind);
                i += usize::from(*opts.get(i + 1).unwrap_or(&1)).max(2);
            }
        }
    }
    kinds
}

/// One of [`three_connections`]: the session ID and the outer SYN's and SYN-ACK's TCP
/// options.
struct Resumed {
    id: [u8; 33],
    syn: Vec<u8>,
    syn_ack: Vec<u8>,
    /// The SYN's ENO option has a suboption with v = 1 (a resumption offer).
    syn_eno_v1: bool,
}

/// Records the TCP options of SYN segments (SYN-ACKs if `ack`) crossing a link.
fn syn_recorder(ack: bool, seen: std::sync::Arc<std::sync::Mutex<Vec<Vec<u8>>>>) -> Link {
    let tamper: stack::sim::TamperFn = Box::new(move |_, pkt: &mut Vec<u8>| {
        if let Ok(view) = stack::wire::ip::parse(pkt) {
            let tcp = smoltcp::wire::TcpPacket::new_unchecked(view.payload);
            if view.payload.len() >= 20 && tcp.syn() && tcp.ack() == ack {
                seen.lock().unwrap().push(tcp.options().to_vec());
            }
        }
        true
    });
    clean().with_tamper(tamper)
}

/// Whether the ENO option (kind 69) in `opts` has a suboption with v = 1.
fn eno_has_v1(opts: &[u8]) -> bool {
    let mut i = 0;
    while let Some(&kind) = opts.get(i) {
        let len = match kind {
            0 => return false,
            1 => 1,
            _ => usize::from(*opts.get(i + 1).unwrap_or(&2)).max(2),
        };
        if kind == 69 {
            return opts
                .get(i + 2..i + len)
                .is_some_and(|body| body.iter().any(|b| b & 0x80 != 0 && b & 0x7f >= 0x20));
        }
        i += len;
    }
    false
}

fn three_connections(b_resumes: bool) -> Vec<Resumed> {
    let seed = stack::sim::seed_from_env();
    let mut a = Host::relay_a(
        Config {
            resumption: true,
            ..client_cfg(Policy::Require)
        },
        seed,
    );
    let mut b = Host::relay_b(
        Config {
            resumption: b_resumes,
            ..server_cfg(80)
        },
        seed,
    );
    let mut ids = Vec::new();
    let mut start = Instant::ZERO;
    for (i, port) in [40020u16, 40021, 40022].into_iter().enumerate() {
        let a_data = data(50_000, 30 + i as u8);
        let b_data = data(60_000, 40 + i as u8);
        b.serve(80, b_data.clone(), SendMode::Immediately);
        a.connect(
            start,
            IpEndpoint::new(KERNEL_V4, port),
            IpEndpoint::new(B_REAL_V4, 80),
            a_data.clone(),
            SendMode::Immediately,
        );
        let syns = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let syn_acks = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let mut sim = Simulator::new(
            a,
            b,
            syn_recorder(false, syns.clone()),
            syn_recorder(true, syn_acks.clone()),
        )
        .with_start(start);
        let a_view = (
            IpEndpoint::new(KERNEL_V4, port),
            IpEndpoint::new(B_REAL_V4, 80),
        );
        let b_view = (
            IpEndpoint::new(KERNEL_V4, 80),
            IpEndpoint::new(A_REAL_V4, port),
        );
        let mut got = (None, None);
        sim.run_until(
            |s| {
                got.0 = got.0.or(s.a.engine().sessid(a_view.0, a_view.1));
                got.1 = got.1.or(s.b.engine().sessid(b_view.0, b_view.1));
                done(s, 50_000, 60_000)
            },
            Duration::from_secs(30),
        )
        .unwrap();
        assert_eq!(sha(&sim.a.app.received), sha(&b_data), "connection {i}");
        assert_eq!(sha(&sim.b.app.received), sha(&a_data), "connection {i}");
        assert_eq!(sim.a.out.marker_hits + sim.b.out.marker_hits, 0);
        let (ia, ib) = (got.0.unwrap(), got.1.unwrap());
        assert_eq!(ia, ib, "connection {i}: equal session IDs");
        let first = |v: &std::sync::Mutex<Vec<Vec<u8>>>| v.lock().unwrap().first().cloned();
        let syn = first(&syns).expect("a SYN crossed");
        ids.push(Resumed {
            id: ia,
            syn_eno_v1: eno_has_v1(&syn),
            syn,
            syn_ack: first(&syn_acks).expect("a SYN-ACK crossed"),
        });
        sim.run_for(Duration::from_secs(2)).unwrap();
        start = sim.now();
        a = std::mem::replace(&mut sim.a, Host::plain(A_REAL_V4, A_REAL_V6, 0, 0));
        b = std::mem::replace(&mut sim.b, Host::plain(B_REAL_V4, B_REAL_V6, 0, 0));
    }
    ids
}

/// B's inner leg to the service mirrors the client's 4-tuple and closes first (the client
/// closed first), so it sits in TIME-WAIT while B's outer leg, the passive closer, is gone.
/// A client that opens the same 4-tuple again right away (a Linux client with
/// `tcp_tw_reuse`, or one whose TIME-WAIT a RST ended, RFC 9293 §3.10.7.4) must be served,
/// not refused: the inner TIME-WAIT gives way (RFC 1122 §4.2.2.13, RFC 6191). The netns
/// bench saw 3–15 refusals per 5-s run of 64 parallel connections this way.
#[test]
fn fronted_service_serves_a_client_reusing_its_4_tuple() {
    let seed = stack::sim::seed_from_env();
    let mut a = Host::plain(A_REAL_V4, A_REAL_V6, seed, 1);
    let mut b = Host::relay_b(server_cfg(80), seed);
    let from = IpEndpoint::new(A_REAL_V4, 40030);
    let to = IpEndpoint::new(B_REAL_V4, 80);
    // Connection 1: the client sends and closes; the service answers after the client's EOF.
    let (a1, b1) = (data(1_000, 50), data(2_000, 51));
    b.serve(80, b1.clone(), SendMode::AfterEof);
    a.connect(Instant::ZERO, from, to, a1.clone(), SendMode::Immediately);
    let mut sim = sim_with(a, b, clean);
    sim.run_until(|s| done(s, 1_000, 2_000), Duration::from_secs(10))
        .unwrap();
    assert_exchanged(&sim, &a1, &b1);
    sim.run_for(Duration::from_secs(1)).unwrap();
    let inner = sim
        .b
        .engine()
        .stack()
        .find(from, IpEndpoint::new(KERNEL_V4, 80))
        .expect("B's inner leg still holds the 4-tuple");
    assert_eq!(
        sim.b.engine().stack().state(inner),
        Some(stack::State::TimeWait)
    );
    assert_eq!(sim.b.engine().pair_count(), 0);
    // Connection 2 on the same 4-tuple, 1 s later: the client reopens its own TIME-WAIT.
    let (a2, b2) = (data(3_000, 52), data(4_000, 53));
    reconnect(&mut sim, from, to, &a2, &b2);
    assert!(!sim.a.app.reset, "refused: {:?}", sim.a.app.events);
    assert_exchanged(&sim, &a2, &b2);
    assert_eq!(sim.b.engine().stats().pairs_opened, 2);
    assert_eq!(sim.b.engine().stats().plain, 2);
}

/// A second connection from the application on `from` (its kernel reopening its own
/// TIME-WAIT on the 4-tuple, as `tcp_tw_reuse` does) to `to`, where B's service answers
/// `b` after the EOF of `a`; runs until both are exchanged or the application is reset.
fn reconnect(sim: &mut Sim, from: IpEndpoint, to: IpEndpoint, a: &[u8], b: &[u8]) {
    sim.b.serve(to.port, b.to_vec(), SendMode::AfterEof);
    let now = sim.now();
    sim.a.app = App::new(a.to_vec(), SendMode::Immediately);
    let id = sim
        .a
        .app_stack
        .connect_reopening(now, from, to, None)
        .unwrap();
    sim.a.app.conn = Some(id);
    let (la, lb) = (a.len(), b.len());
    sim.run_until(
        |s| s.a.app.reset || done(s, la, lb),
        Duration::from_secs(10),
    )
    .unwrap();
}

/// Connection 1 from `app` to B's port 80 (A's application closes first, B's service answers
/// after the EOF), then connection 2 on the same 4-tuple 1 s later (the kernel gives a
/// port out again once its TIME-WAIT may be reused, `tcp_tw_reuse`: its own TIME-WAIT on
/// the inner 4-tuple gives way). Returns the simulator after connection 2 ended or was
/// refused, and the state of A's outer leg on the application's port just before it.
fn outbound_port_reused(a: Host, app: IpEndpoint) -> (Sim, Option<stack::State>) {
    let to = IpEndpoint::new(B_REAL_V4, 80);
    let mut a = a;
    let mut b = Host::plain_b(stack::sim::seed_from_env());
    let (a1, b1) = (data(1_000, 60), data(2_000, 61));
    b.serve(80, b1.clone(), SendMode::AfterEof);
    a.connect(Instant::ZERO, app, to, a1.clone(), SendMode::Immediately);
    let mut sim = sim_with(a, b, clean);
    sim.run_until(|s| done(s, 1_000, 2_000), Duration::from_secs(10))
        .unwrap();
    assert_exchanged(&sim, &a1, &b1);
    sim.run_for(Duration::from_secs(1)).unwrap();
    let stack = sim.a.engine().stack();
    let outer_state = stack
        .find(IpEndpoint::new(STACK_V4, app.port), to)
        .and_then(|id| stack.state(id));
    let (a2, b2) = (data(3_000, 62), data(4_000, 63));
    reconnect(&mut sim, app, to, &a2, &b2);
    if !sim.a.app.reset {
        assert_exchanged(&sim, &a2, &b2);
    }
    (sim, outer_state)
}

/// An application opening its 4-tuple again while the relay's outer leg for it (which
/// closed first too) is still in TIME-WAIT: that TIME-WAIT gives way (RFC 1122 §4.2.2.13,
/// RFC 6191) and the outer leg keeps the application's port, as masqueraded to B. An
/// ephemeral port instead held a second port per reuse: the netns bench's 64-parallel
/// plain-relay row, about 45 000 connections in a minute to one service, used up all
/// 32 768 of them and the rest were refused (BENCHMARKS.md, session 6).
#[test]
fn outbound_reuse_of_an_application_port_reopens_the_outer_time_wait() {
    let seed = stack::sim::seed_from_env();
    let a = Host::relay_a(client_cfg(Policy::Opportunistic), seed);
    let app = IpEndpoint::new(KERNEL_V4, 40040);
    let (sim, outer_state) = outbound_port_reused(a, app);
    assert_eq!(outer_state, Some(stack::State::TimeWait));
    assert!(!sim.a.app.reset, "refused: {:?}", sim.a.app.events);
    let conn = sim.b.app.conn.unwrap();
    assert_eq!(
        sim.b.app_stack.endpoints(conn).map(|e| e.1),
        Some(IpEndpoint::new(A_REAL_V4, 40040)),
        "B sees the application's port again"
    );
    let st = sim.a.engine().stats();
    assert_eq!((st.pairs_opened, st.plain, st.refused_local), (2, 2, 0));
}

/// A SYN the relay cannot open an outer leg for (here: its connection table is full of
/// TIME-WAITs) is refused, and counted as such (it was counted nowhere, so a run of these
/// refusals left no trace in the engine's counters).
#[test]
fn outbound_syn_without_an_outer_leg_is_refused_and_counted() {
    let seed = stack::sim::seed_from_env();
    // Room for 4 connections: the outer legs of connections 1-3 in TIME-WAIT, plus the
    // held SYN of connection 4.
    let cfg = Config {
        max_pairs: 1,
        ..client_cfg(Policy::Opportunistic)
    };
    let mut a = Host::relay_a(cfg, seed);
    let mut b = Host::plain_b(seed);
    let to = IpEndpoint::new(B_REAL_V4, 80);
    b.serve(80, data(10, 64), SendMode::AfterEof);
    a.connect(
        Instant::ZERO,
        IpEndpoint::new(KERNEL_V4, 40050),
        to,
        data(10, 65),
        SendMode::Immediately,
    );
    let mut sim = sim_with(a, b, clean);
    for port in 40051..=40053 {
        sim.run_until(|s| done(s, 10, 10), Duration::from_secs(10))
            .unwrap();
        sim.run_for(Duration::from_secs(1)).unwrap();
        sim.b.serve(80, data(10, 64), SendMode::AfterEof);
        let now = sim.now();
        sim.a.connect(
            now,
            IpEndpoint::new(KERNEL_V4, port),
            to,
            data(10, 65),
            SendMode::Immediately,
        );
    }
    sim.run_for(Duration::from_secs(1)).unwrap();
    assert!(sim.a.app.reset, "the application sees a refusal");
    assert!(!sim.a.app.established);
    let st = sim.a.engine().stats();
    assert_eq!((st.pairs_opened, st.refused_local), (3, 1));
    assert_eq!(sim.a.engine().stack().connection_count(), 3);
}
