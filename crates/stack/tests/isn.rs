//! RFC 6528 initial sequence numbers and RFC 7323 timestamp offsets, seen on the wire:
//! clock-driven per 4-tuple.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::dialogue::*;
use common::{ep, v4};
use stack::{Duration, StackConfig};

/// Two successive connections on the same 4-tuple, 40 ms apart: the second SYN's sequence
/// number is the first's plus 40 ms of the 4 µs clock (RFC 6528 §3: same F, M advanced),
/// so the peer's TIME-WAIT sees it as newer. Another source port: an unrelated offset.
#[test]
fn rfc6528_isn_advances_with_the_clock_per_tuple() {
    let cfg = StackConfig::new(vec![v4(1)], [3; 32]);
    let mut d = Dialogue::new(cfg, ep(v4(1), 40000), ep(v4(2), 80));
    let t0 = d.now;
    let id = d.stack.connect(t0, d.local, d.remote, None).unwrap();
    let first = d.recv_one();
    assert!(first.syn);
    d.stack.abort(t0, id);
    let _ = d.recv_all();
    d.at(t0 + Duration::from_millis(40));
    let t1 = d.now;
    let _id = d.stack.connect(t1, d.local, d.remote, None).unwrap();
    let second = d.recv_one();
    assert!(second.syn);
    assert_eq!(second.seq.wrapping_sub(first.seq), 10_000);
    // The timestamp clock too continues across incarnations of the tuple (RFC 6191).
    let (ts1, ts2) = (first.ts.unwrap().0, second.ts.unwrap().0);
    assert_eq!(
        ts2.wrapping_sub(ts1),
        40,
        "TSval in milliseconds, same offset"
    );
    let _other = d
        .stack
        .connect(t1, ep(v4(1), 40001), d.remote, None)
        .unwrap();
    let third = d.recv_one();
    assert!(third.syn);
    let off = third.seq.wrapping_sub(second.seq);
    assert!(
        off > 1 << 16 && off.wrapping_neg() > 1 << 16,
        "offset {off}"
    );
}
