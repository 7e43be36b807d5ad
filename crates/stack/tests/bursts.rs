//! Segments that arrive together: several handed to `Stack::handle` before the next
//! `Stack::poll_transmit` (one read batch of the daemon, or packets sent in the same
//! instant in the simulator).
//!
//! * Receiver: an ACK that became due for one segment of the burst is not merged into
//!   the next segment's (up to three such owed ACKs per burst). RFC 5681 §4.2 asks for an
//!   immediate ACK for *each* out-of-order segment and each segment that fills (part of)
//!   a hole, Linux acknowledges every segment in quick-ACK mode and every second one
//!   otherwise, each before it reads the next. With one ACK for the whole burst, losing
//!   that ACK left a sender in loss recovery with nothing to go on but its RTO.
//! * Sender: a burst of ACKs must grow the congestion window as the same ACKs one at a
//!   time would. The window grows only while the sender uses it, and that is judged by
//!   the data in flight at transmission (Linux `max_packets_out`), not by what each ACK
//!   of the burst leaves outstanding.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::dialogue::*;
use common::{ep, v4};
use stack::{ConnId, Duration, Event, ListenAddr, ListenConfig, StackConfig};

const PEER_ISN: u32 = 5000;

/// The stack listening on port 80, a peer with MSS 1460 and SACK connected to it; returns
/// the dialogue, the connection, the peer's next sequence number and the stack's.
fn established() -> (Dialogue, ConnId, u32, u32) {
    let mut cfg = StackConfig::new(vec![v4(1)], [9; 32]);
    cfg.conn.delayed_ack = Some(Duration::from_millis(40));
    cfg.conn.nagle = false;
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
        sack_perm: true,
        ..Opts::default()
    };
    d.send(SYN, PEER_ISN, 0, 65535, &o, &[]);
    let synack = d.recv_one();
    assert!(synack.sack_perm);
    let sseq = synack.seq.wrapping_add(1);
    let r = PEER_ISN.wrapping_add(1);
    d.send(ACK, r, sseq, 65535, &Opts::default(), &[]);
    let id = d
        .events
        .iter()
        .find(|(_, e)| *e == Event::Established)
        .expect("established")
        .0;
    (d, id, r, sseq)
}

#[test]
fn rfc5681_each_out_of_order_or_hole_filling_segment_of_a_burst_is_acknowledged() {
    let (mut d, _id, r, sseq) = established();
    let seg = |i: u32| r.wrapping_add(1000 * i);
    let o = Opts::default();
    // Segments 1 and 2 arrive together, segment 0 is missing: two duplicate ACKs with
    // the SACK block, one per segment.
    d.send(ACK, seg(1), sseq, 65535, &o, &[1; 1000]);
    d.send(ACK, seg(2), sseq, 65535, &o, &[2; 1000]);
    let acks = d.recv_all();
    assert_eq!(acks.len(), 2, "one ACK per out-of-order segment: {acks:#?}");
    for a in &acks {
        assert_eq!(a.ack, seg(0));
        assert_eq!(a.sack, vec![(seg(1), seg(3))]);
        assert!(a.payload.is_empty());
    }
    // Segment 0 fills the hole and segment 3 follows in the same burst: the ACK of the
    // repair and the quick ACK of segment 3, in order.
    d.send(ACK, seg(0), sseq, 65535, &o, &[0; 1000]);
    d.send(ACK, seg(3), sseq, 65535, &o, &[3; 1000]);
    let acks: Vec<u32> = d.recv_all().iter().map(|a| a.ack).collect();
    assert_eq!(acks, vec![seg(3), seg(4)]);
    // A long burst of out-of-order segments: at most three owed ACKs before the last
    // one, as Linux sends at most three duplicate ACKs at once before it compresses.
    for i in 5..11 {
        d.send(ACK, seg(i), sseq, 65535, &o, &[5; 1000]);
    }
    let acks = d.recv_all();
    assert_eq!(acks.len(), 4, "{acks:#?}");
    assert!(acks.iter().all(|a| a.ack == seg(4)));
    assert_eq!(acks.last().unwrap().sack, vec![(seg(5), seg(11))]);
}

#[test]
fn in_order_burst_keeps_the_acks_that_became_due() {
    let (mut d, id, r, sseq) = established();
    let seg = |i: u32| r.wrapping_add(1000 * i);
    // Two full segments make an ACK due (RFC 9293 §3.8.6.3); each later segment of the
    // burst finds the previous one's ACK due and unsent, up to three are owed, and the
    // last ACK covers the rest.
    for i in 0..7 {
        d.send(ACK, seg(i), sseq, 65535, &Opts::default(), &[1; 1000]);
    }
    let acks: Vec<u32> = d.recv_all().iter().map(|a| a.ack).collect();
    assert_eq!(acks, vec![seg(2), seg(3), seg(4), seg(7)]);
    // One segment alone still waits for the delayed-ACK timer, and a request that is
    // read is not answered by a lone window update (request/response stays one packet
    // per message).
    d.send(ACK, seg(7), sseq, 65535, &Opts::default(), &[1; 471]);
    d.recv_none();
    let now = d.now;
    let mut buf = vec![0u8; 16 * 1024];
    assert_eq!(d.stack.recv(now, id, &mut buf), Ok(7471));
    d.recv_none();
}

#[test]
fn a_burst_of_acks_grows_the_window_like_the_same_acks_one_by_one() {
    let (mut d, id, r, _) = established();
    let now = d.now;
    assert_eq!(d.stack.send(now, id, &[7u8; 40_000]), 40_000);
    let flight = d.recv_all();
    let cwnd0 = d.stack.cwnd(id).unwrap();
    let sent: u64 = flight.iter().map(|s| s.payload.len() as u64).sum();
    assert_eq!(sent, cwnd0, "the initial window is filled");
    assert!(flight.len() >= 4, "{} segments", flight.len());
    // Every segment acknowledged by an ACK of its own, all in one burst. In slow start
    // each ACK grows the window by what it acknowledges (one segment, RFC 5681 §3.1):
    // the whole flight doubles the window.
    for s in &flight {
        let end = s.seq.wrapping_add(s.payload.len() as u32);
        d.send(ACK, r, end, 65535, &Opts::default(), &[]);
    }
    assert_eq!(d.stack.cwnd(id).unwrap(), 2 * cwnd0);
}
