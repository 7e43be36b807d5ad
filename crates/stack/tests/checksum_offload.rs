//! Checksum offload (virtio-net `NEEDS_CSUM` / `DATA_VALID` semantics): a segment sent with
//! `tx_partial` carries only the pseudo-header sum, which a verifying peer rejects; the
//! link completing it makes it valid; two offloading engines transfer data intact.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use stack::wire::checksum;
use stack::{
    ChecksumOffload, Event, Instant, IpAddress, IpEndpoint, ListenAddr, ListenConfig, Stack,
    StackConfig,
};

const A: IpAddress = IpAddress::v4(10, 0, 0, 1);
const B: IpAddress = IpAddress::v4(10, 0, 0, 2);

fn engine(addr: IpAddress, seed: u8, offload: ChecksumOffload) -> Stack {
    let mut c = StackConfig::new(vec![addr], [seed; 32]);
    c.checksum_offload = offload;
    Stack::new(c)
}

/// What a NEEDS_CSUM link does: sum from the TCP header (IPv4, 20-byte IP header here) to
/// the end and store the complement at offset 16 of the TCP header.
fn complete(packet: &mut [u8]) {
    let c = !checksum::sum(&packet[20..]);
    packet[36..38].copy_from_slice(&c.to_be_bytes());
}

/// Shuttle packets both ways (optionally completing checksums from `a`) and read what
/// `b` receives, until nothing moves.
fn run(a: &mut Stack, b: &mut Stack, complete_a: bool, got: &mut Vec<u8>) {
    let now = Instant::from_millis(0);
    let mut buf = vec![0u8; 1500];
    let mut rbuf = vec![0u8; 65536];
    loop {
        let mut moved = false;
        while let Some(n) = a.poll_transmit(now, &mut buf) {
            if complete_a {
                complete(&mut buf[..n]);
            }
            b.handle(now, &buf[..n]);
            moved = true;
        }
        while let Some(n) = b.poll_transmit(now, &mut buf) {
            a.handle(now, &buf[..n]);
            moved = true;
        }
        while let Some((id, e)) = b.poll_event() {
            if e == Event::Readable {
                while let Ok(n) = b.recv(now, id, &mut rbuf) {
                    if n == 0 {
                        break;
                    }
                    got.extend_from_slice(&rbuf[..n]);
                    moved = true;
                }
            }
        }
        while a.poll_event().is_some() {}
        if !moved {
            break;
        }
    }
}

fn pair(a_off: ChecksumOffload, b_off: ChecksumOffload) -> (Stack, Stack, stack::ConnId) {
    let mut a = engine(A, 1, a_off);
    let mut b = engine(B, 2, b_off);
    b.listen(
        ListenAddr {
            addr: None,
            port: Some(80),
        },
        ListenConfig::default(),
    );
    let id = a
        .connect(
            Instant::from_millis(0),
            IpEndpoint::new(A, 40000),
            IpEndpoint::new(B, 80),
            None,
        )
        .unwrap();
    (a, b, id)
}

fn data() -> Vec<u8> {
    (0..200_000u32).map(|i| (i * 7 + i / 251) as u8).collect()
}

#[test]
fn offloading_engines_transfer_intact() {
    let on = ChecksumOffload {
        rx_trusted: true,
        tx_partial: true,
    };
    let (mut a, mut b, id) = pair(on, on);
    let now = Instant::from_millis(0);
    let want = data();
    let mut got = Vec::new();
    let mut sent = 0;
    while got.len() < want.len() {
        sent += a.send(now, id, &want[sent..]);
        run(&mut a, &mut b, false, &mut got);
    }
    assert_eq!(got, want);
    assert_eq!(b.stats().bad_checksum, 0);
}

#[test]
fn partial_checksum_is_rejected_by_a_verifying_peer() {
    let tx = ChecksumOffload {
        rx_trusted: false,
        tx_partial: true,
    };
    let (mut a, mut b, id) = pair(tx, ChecksumOffload::default());
    run(&mut a, &mut b, false, &mut Vec::new());
    assert!(b.stats().bad_checksum >= 1);
    assert_eq!(b.connection_count(), 0);
    assert_eq!(a.state(id), Some(stack::State::SynSent));
}

#[test]
fn partial_checksum_completed_by_the_link_is_valid() {
    let tx = ChecksumOffload {
        rx_trusted: false,
        tx_partial: true,
    };
    let (mut a, mut b, id) = pair(tx, ChecksumOffload::default());
    let now = Instant::from_millis(0);
    let want = data();
    let mut got = Vec::new();
    let mut sent = 0;
    while got.len() < want.len() {
        sent += a.send(now, id, &want[sent..]);
        run(&mut a, &mut b, true, &mut got);
    }
    assert_eq!(got, want);
    assert_eq!(b.stats().bad_checksum, 0);
    // b computes full checksums, which a (verifying nothing) would also accept.
    assert_eq!(a.stats().bad_checksum, 0);
}
