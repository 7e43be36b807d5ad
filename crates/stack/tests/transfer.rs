//! Two stacks back to back in memory: handshake, 1 MB each way verified by SHA-256, close.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::*;
use sha2::{Digest, Sha256};
use stack::{Event, IpAddress, ListenAddr, ListenConfig, State};

fn pattern(len: usize, seed: u8) -> Vec<u8> {
    let mut x: u32 = 0x1234_5678 ^ u32::from(seed);
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            (x >> 24) as u8
        })
        .collect()
}

fn transfer(a_addr: IpAddress, b_addr: IpAddress) {
    let p = transfer_with(a_addr, b_addr, None);
    assert_eq!(p.a.stats().retransmits, 0);
    assert_eq!(p.b.stats().retransmits, 0);
}

/// Drop packets with probability `loss_pct`% from a seeded xorshift generator.
fn lossy(seed: u32, loss_pct: u32) -> Filter {
    let mut x = seed | 1;
    Box::new(move |_, _| {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        x % 100 >= loss_pct
    })
}

fn transfer_with(a_addr: IpAddress, b_addr: IpAddress, filter: Option<Filter>) -> Pair {
    let len: usize = std::env::var("TRANSFER_LEN")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1 << 20);
    let mut p = Pair::new(stack(a_addr, 1), stack(b_addr, 2));
    let lossy_run = filter.is_some();
    p.filter = filter;
    p.b.listen(
        ListenAddr {
            addr: Some(b_addr),
            port: Some(80),
        },
        ListenConfig::default(),
    );
    let now = p.now;
    let a =
        p.a.connect(now, ep(a_addr, 40000), ep(b_addr, 80), None)
            .unwrap();
    p.run_until(100, |p| {
        p.a_has(a, &Event::Established) && p.b_has(&Event::Established).is_some()
    });
    let b = p.b_has(&Event::Established).unwrap();
    assert_eq!(p.a.state(a), Some(State::Established));

    let data_a = pattern(len, 1);
    let data_b = pattern(len, 2);
    let (mut sent_a, mut sent_b) = (0, 0);
    let (mut got_a, mut got_b) = (Vec::new(), Vec::new());
    let mut buf = vec![0u8; 65536];
    let mut closed = (false, false);
    for _ in 0..1_000_000 {
        let now = p.now;
        if sent_a < len {
            sent_a += p.a.send(now, a, &data_a[sent_a..]);
        } else if !closed.0 {
            p.a.close(now, a);
            closed.0 = true;
        }
        if sent_b < len {
            sent_b += p.b.send(now, b, &data_b[sent_b..]);
        } else if !closed.1 {
            p.b.close(now, b);
            closed.1 = true;
        }
        while let Ok(n) = p.a.recv(now, a, &mut buf) {
            if n == 0 {
                break;
            }
            got_a.extend_from_slice(&buf[..n]);
        }
        while let Ok(n) = p.b.recv(now, b, &mut buf) {
            if n == 0 {
                break;
            }
            got_b.extend_from_slice(&buf[..n]);
        }
        if got_a.len() == len && got_b.len() == len && closed == (true, true) {
            break;
        }
        if std::env::var("TRANSFER_DEBUG").is_ok() {
            eprintln!(
                "t={} a_got={} b_got={} sent=({sent_a},{sent_b}) pk={} wire={}",
                p.now,
                got_a.len(),
                got_b.len(),
                p.packets,
                p.wire.len()
            );
        }
        assert!(
            p.step(),
            "stalled: a got {} b got {}",
            got_a.len(),
            got_b.len()
        );
    }
    assert_eq!(got_b.len(), len);
    assert_eq!(got_a.len(), len);
    assert_eq!(Sha256::digest(&got_b), Sha256::digest(&data_a));
    assert_eq!(Sha256::digest(&got_a), Sha256::digest(&data_b));
    // Both FINs exchanged: both sides report PeerClosed and Closed.
    p.run_until(100_000, |p| {
        if std::env::var("TRANSFER_DEBUG").is_ok() {
            eprintln!(
                "{} {:?} {:?} {:?} {:?}",
                p.now,
                p.a.state(a),
                p.b.state(b),
                p.a_events.last(),
                p.b_events.last()
            );
        }
        p.a_has(a, &Event::Closed)
            && p.b_events
                .iter()
                .any(|(i, e)| *i == b && *e == Event::Closed)
    });
    assert!(p.a_has(a, &Event::PeerClosed));
    let ms = (p.now - stack::Instant::from_millis(1000)).total_millis();
    if !lossy_run {
        assert!(ms < 60_000, "took {ms} ms of virtual time");
    }
    if std::env::var("TRANSFER_DEBUG").is_ok() {
        eprintln!("virtual {ms} ms, a {:?}, b {:?}", p.a.stats(), p.b.stats());
    }
    p
}

#[test]
fn one_megabyte_each_way_with_two_percent_loss() {
    for seed in [1u32, 7, 42] {
        let p = transfer_with(v4(1), v4(2), Some(lossy(seed, 2)));
        let st = (p.a.stats(), p.b.stats());
        assert!(
            st.0.retransmits + st.1.retransmits > 0,
            "loss must cause retransmissions"
        );
    }
}

#[test]
fn one_megabyte_each_way_with_ten_percent_loss_ipv6() {
    transfer_with(v6(1), v6(2), Some(lossy(3, 10)));
}

#[test]
fn one_megabyte_each_way_ipv4() {
    transfer(v4(1), v4(2));
}

#[test]
fn one_megabyte_each_way_ipv6() {
    transfer(v6(1), v6(2));
}

/// RFC 6056 §3.3.1: port 0 picks from `StackConfig::ephemeral_ports`, finds every free port
/// of the range for a destination (not just what a few random probes hit), and a full range
/// for one destination leaves other destinations unaffected.
#[test]
fn ephemeral_ports_use_the_whole_configured_range() {
    let mut cfg = stack::StackConfig::new(vec![v4(1)], [3; 32]);
    cfg.ephemeral_ports = 40000..=40007;
    let mut s = stack::Stack::new(cfg);
    let now = stack::Instant::from_millis(0);
    let server = ep(v4(2), 80);
    let mut ports = std::collections::BTreeSet::new();
    for _ in 0..8 {
        let id = s.connect(now, ep(v4(1), 0), server, None).unwrap();
        let (local, _) = s.endpoints(id).unwrap();
        assert!((40000..=40007).contains(&local.port), "{local}");
        ports.insert(local.port);
    }
    assert_eq!(ports.len(), 8, "every port of the range used once");
    assert_eq!(
        s.connect(now, ep(v4(1), 0), server, None),
        Err(stack::ConnectError::InUse)
    );
    assert!(s.connect(now, ep(v4(1), 0), ep(v4(2), 443), None).is_ok());
}
