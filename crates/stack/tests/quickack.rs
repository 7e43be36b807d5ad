//! Linux quick-ACK mode after out-of-order text (`tcp_enter_quickack_mode`): the in-order
//! segments that follow a repaired hole are acknowledged one by one, not delayed.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::dialogue::*;
use common::{ep, v4};
use stack::{Duration, Event, ListenAddr, ListenConfig, StackConfig};

const PEER_ISN: u32 = 5000;

#[test]
fn in_order_segments_after_a_filled_hole_are_acknowledged_at_once() {
    let mut cfg = StackConfig::new(vec![v4(1)], [9; 32]);
    cfg.conn.delayed_ack = Some(Duration::from_millis(40));
    let mut d = Dialogue::new(cfg, ep(v4(1), 80), ep(v4(2), 5000));
    d.stack.listen(
        ListenAddr {
            addr: None,
            port: Some(80),
        },
        ListenConfig::default(),
    );
    let o = Opts {
        mss: Some(1460),
        ..Opts::default()
    };
    d.send(SYN, PEER_ISN, 0, 65535, &o, &[]);
    let synack = d.recv_one();
    let sseq = synack.seq.wrapping_add(1);
    let r = PEER_ISN.wrapping_add(1);
    d.send(ACK, r, sseq, 65535, &Opts::default(), &[]);
    assert!(d.has(&Event::Established));
    let seg = |i: u32| r.wrapping_add(1000 * i);
    // Before any loss: one full segment alone waits for the delayed-ACK timer.
    d.send(ACK, seg(0), sseq, 65535, &Opts::default(), &[1; 1000]);
    d.recv_none();
    d.send(ACK, seg(1), sseq, 65535, &Opts::default(), &[1; 1000]);
    assert_eq!(d.recv_one().ack, seg(2), "second full segment: ACK");
    // Segment 3 arrives before segment 2: duplicate ACK at once, then the hole is filled.
    d.send(ACK, seg(3), sseq, 65535, &Opts::default(), &[1; 1000]);
    assert_eq!(d.recv_one().ack, seg(2));
    d.send(ACK, seg(2), sseq, 65535, &Opts::default(), &[1; 1000]);
    assert_eq!(d.recv_one().ack, seg(4));
    // The next in-order segment alone is acknowledged at once too (quick-ACK mode).
    d.send(ACK, seg(4), sseq, 65535, &Opts::default(), &[1; 1000]);
    assert_eq!(
        d.recv_one().ack,
        seg(5),
        "quick ACK after the repaired hole"
    );
}
