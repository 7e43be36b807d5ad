//! One segment dialogue per RFC rule (RFC 9293, RFC 5961, RFC 7323, RFC 2018, RFC 6298).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::dialogue::*;
use common::{ep, v4};
use stack::{
    ConnConfig, ConnId, Duration, Event, KeepAlive, ListenAddr, ListenConfig, StackConfig, State,
};

const PEER_ISN: u32 = 0xffff_ff00; // wraps during the tests

fn config() -> StackConfig {
    let mut c = StackConfig::new(vec![v4(1)], [7; 32]);
    c.conn = ConnConfig {
        delayed_ack: None,
        ..ConnConfig::default()
    };
    c.time_wait = Duration::from_secs(10);
    c
}

fn syn_opts() -> Opts {
    Opts {
        mss: Some(1460),
        ws: Some(2),
        sack_perm: true,
        ts: None,
        ..Opts::default()
    }
}

fn listening(cfg: StackConfig, hold: bool) -> Dialogue {
    let mut d = Dialogue::new(cfg, ep(v4(1), 80), ep(v4(2), 5000));
    d.stack.listen(
        ListenAddr {
            addr: None,
            port: Some(80),
        },
        ListenConfig {
            hold_syn: hold,
            conn: None,
        },
    );
    d
}

/// Passive open to ESTABLISHED; returns (dialogue, id, our next seq, stack's next seq).
fn established_with(cfg: StackConfig) -> (Dialogue, ConnId, u32, u32) {
    let (d, id, rseq, sseq, _) = established_scaled(cfg);
    (d, id, rseq, sseq)
}

/// [`established_with`], also returning the window shift our SYN-ACK announced.
fn established_scaled(cfg: StackConfig) -> (Dialogue, ConnId, u32, u32, u8) {
    let mut d = listening(cfg, false);
    d.send(SYN, PEER_ISN, 0, 65535, &syn_opts(), &[]);
    let synack = d.recv_one();
    assert!(synack.syn && synack.ackf);
    assert_eq!(synack.ack, PEER_ISN.wrapping_add(1));
    let iss = synack.seq;
    d.send(
        ACK,
        PEER_ISN.wrapping_add(1),
        iss.wrapping_add(1),
        1000,
        &Opts::default(),
        &[],
    );
    let (id, _) = *d
        .events
        .iter()
        .find(|(_, e)| *e == Event::Established)
        .expect("established");
    d.recv_none();
    let shift = synack.ws.unwrap_or(0);
    (d, id, PEER_ISN.wrapping_add(1), iss.wrapping_add(1), shift)
}

fn established() -> (Dialogue, ConnId, u32, u32) {
    established_with(config())
}

#[test]
fn rfc9293_passive_handshake_negotiates_options() {
    let mut d = listening(config(), false);
    d.send(SYN, PEER_ISN, 0, 65535, &syn_opts(), &[]);
    let sa = d.recv_one();
    assert!(sa.syn && sa.ackf && !sa.fin && !sa.rst);
    assert_eq!(sa.ack, PEER_ISN.wrapping_add(1));
    assert_eq!(sa.mss, Some(1460));
    assert_eq!(
        sa.ws,
        Some(3),
        "256 KiB buffer needs shift 3 (65535 << 2 is too small)"
    );
    assert!(sa.sack_perm);
    assert_eq!(sa.ts, None, "no timestamps unless the SYN had them");
    d.send(
        ACK,
        PEER_ISN.wrapping_add(1),
        sa.seq.wrapping_add(1),
        100,
        &Opts::default(),
        &[],
    );
    assert!(d.has(&Event::Established));
}

#[test]
fn rfc9293_active_handshake() {
    let mut d = Dialogue::new(config(), ep(v4(1), 40000), ep(v4(2), 80));
    let now = d.now;
    let id = d.stack.connect(now, d.local, d.remote, None).unwrap();
    let syn = d.recv_one();
    assert!(syn.syn && !syn.ackf);
    assert!(syn.mss.is_some() && syn.ws.is_some() && syn.sack_perm && syn.ts.is_some());
    let ts = syn.ts.unwrap().0;
    let o = Opts {
        ts: Some((777, ts)),
        ..syn_opts()
    };
    d.send(SYNACK, PEER_ISN, syn.seq.wrapping_add(1), 65535, &o, &[]);
    let ack = d.recv_one();
    assert!(ack.ackf && !ack.syn);
    assert_eq!(ack.ack, PEER_ISN.wrapping_add(1));
    assert_eq!(ack.seq, syn.seq.wrapping_add(1));
    assert_eq!(
        ack.ts.map(|t| t.1),
        Some(777),
        "TSecr echoes TSval (RFC 7323 §3.2)"
    );
    assert_eq!(d.stack.state(id), Some(State::Established));
    assert!(d.has(&Event::Established));
}

#[test]
fn rfc9293_simultaneous_open() {
    let mut d = Dialogue::new(config(), ep(v4(1), 40000), ep(v4(2), 80));
    let now = d.now;
    let id = d.stack.connect(now, d.local, d.remote, None).unwrap();
    let syn = d.recv_one();
    // The peer's SYN crosses ours.
    d.send(SYN, PEER_ISN, 0, 65535, &syn_opts(), &[]);
    let sa = d.recv_one();
    assert!(sa.syn && sa.ackf);
    assert_eq!(sa.seq, syn.seq, "same ISN re-sent with ACK");
    assert_eq!(sa.ack, PEER_ISN.wrapping_add(1));
    assert_eq!(d.stack.state(id), Some(State::SynReceived));
    // The peer's SYN-ACK for our SYN.
    d.send(
        SYNACK,
        PEER_ISN,
        syn.seq.wrapping_add(1),
        65535,
        &syn_opts(),
        &[],
    );
    assert_eq!(d.stack.state(id), Some(State::Established));
    assert!(d.has(&Event::Established));
}

#[test]
fn rfc9293_unacceptable_synack_ack_gets_rst() {
    let mut d = Dialogue::new(config(), ep(v4(1), 40000), ep(v4(2), 80));
    let now = d.now;
    let id = d.stack.connect(now, d.local, d.remote, None).unwrap();
    let syn = d.recv_one();
    d.send(
        SYNACK,
        PEER_ISN,
        syn.seq.wrapping_add(1000),
        65535,
        &syn_opts(),
        &[],
    );
    let rst = d.recv_one();
    assert!(rst.rst);
    assert_eq!(rst.seq, syn.seq.wrapping_add(1000));
    assert_eq!(d.stack.state(id), Some(State::SynSent));
}

#[test]
fn rfc9293_closed_port_gets_rst() {
    let mut d = Dialogue::new(config(), ep(v4(1), 81), ep(v4(2), 5000));
    d.send(SYN, PEER_ISN, 0, 65535, &syn_opts(), &[]);
    let r = d.recv_one();
    assert!(r.rst && r.ackf);
    assert_eq!((r.seq, r.ack), (0, PEER_ISN.wrapping_add(1)));
    assert_eq!(d.stack.stats().no_listener, 1);
    // A RST is never answered.
    d.send(RST, 5, 0, 0, &Opts::default(), &[]);
    d.recv_none();
}

#[test]
fn rfc5961_rst_out_of_window_is_ignored() {
    let (mut d, id, rseq, _) = established();
    d.send(
        RST,
        rseq.wrapping_add(10_000_000),
        0,
        0,
        &Opts::default(),
        &[],
    );
    d.recv_none();
    assert_eq!(d.stack.state(id), Some(State::Established));
}

#[test]
fn rfc5961_rst_in_window_gets_challenge_ack() {
    let (mut d, id, rseq, sseq) = established();
    d.send(RST, rseq.wrapping_add(100), 0, 0, &Opts::default(), &[]);
    let ack = d.recv_one();
    assert!(ack.ackf && !ack.rst);
    assert_eq!((ack.seq, ack.ack), (sseq, rseq));
    assert_eq!(d.stack.state(id), Some(State::Established));
    assert_eq!(d.stack.stats().challenge_acks, 1);
    // The exact RST resets.
    d.send(RST, rseq, 0, 0, &Opts::default(), &[]);
    assert!(d.has(&Event::Reset));
    assert_eq!(d.stack.state(id), None);
    d.recv_none();
}

#[test]
fn rfc5961_blind_syn_gets_challenge_ack() {
    let (mut d, id, rseq, sseq) = established();
    d.send(SYN, 12345, 0, 65535, &syn_opts(), &[]);
    let ack = d.recv_one();
    assert!(ack.ackf && !ack.syn && !ack.rst);
    assert_eq!((ack.seq, ack.ack), (sseq, rseq));
    assert_eq!(d.stack.state(id), Some(State::Established));
}

#[test]
fn rfc5961_ack_of_unsent_data_is_dropped_and_acked() {
    let (mut d, id, rseq, sseq) = established();
    d.send(
        ACK,
        rseq,
        sseq.wrapping_add(5000),
        1000,
        &Opts::default(),
        b"hello",
    );
    let ack = d.recv_one();
    assert_eq!(ack.ack, rseq, "data not taken");
    assert_eq!(d.stack.recv_queue(id), 0);
    assert_eq!(d.stack.stats().bad_ack, 1);
}

#[test]
fn rfc9293_data_outside_window_is_dropped_and_acked() {
    let (mut d, id, rseq, sseq) = established();
    let far = rseq.wrapping_add(1 << 20);
    d.send(ACK, far, sseq, 1000, &Opts::default(), b"outside");
    let ack = d.recv_one();
    assert_eq!((ack.seq, ack.ack), (sseq, rseq));
    assert_eq!(d.stack.recv_queue(id), 0);
    assert!(!d.has(&Event::Readable));
}

/// A peer that filled our window exactly sends its pure ACKs with SEQ = our right edge; the
/// ACK field must still be processed (Linux's `tcp_sequence` accepts SEQ <= right edge; the
/// strict RFC 9293 test would drop it and desynchronise the connection).
#[test]
fn pure_ack_at_the_right_edge_of_our_window_is_processed() {
    let (mut d, id, rseq, sseq, shift) = established_scaled(config());
    let now = d.now;
    assert_eq!(d.stack.send(now, id, b"hello"), 5);
    let data = d.recv_one();
    assert_eq!(data.payload, b"hello");
    assert_eq!(d.stack.send_queue(id), 5);
    let edge = rseq.wrapping_add(u32::from(data.window) << shift);
    d.send(ACK, edge, sseq.wrapping_add(5), 1000, &Opts::default(), &[]);
    assert_eq!(d.stack.send_queue(id), 0, "the ACK field was processed");
    // One past the edge is still outside the window: its ACK field is not trusted.
    assert_eq!(d.stack.send(d.now, id, b"again"), 5);
    let _ = d.recv_one();
    d.send(
        ACK,
        edge.wrapping_add(1),
        sseq.wrapping_add(10),
        1000,
        &Opts::default(),
        &[],
    );
    assert_eq!(d.stack.send_queue(id), 5);
}

/// Pure ACKs outside the window are answered at most once per 500 ms (ACK-loop guard, as
/// Linux's `tcp_invalid_ratelimit`); data outside the window is always answered.
#[test]
fn out_of_window_pure_acks_are_answered_at_most_every_500ms() {
    let (mut d, _id, rseq, sseq) = established();
    let old = rseq.wrapping_sub(50_000);
    d.send(ACK, old, sseq, 1000, &Opts::default(), &[]);
    let ack = d.recv_one();
    assert_eq!((ack.seq, ack.ack), (sseq, rseq));
    // The same again at once, and a hundred more: no answer (this is what ends a loop of
    // two stacks answering each other's ACKs).
    for _ in 0..100 {
        d.send(ACK, old, sseq, 1000, &Opts::default(), &[]);
        d.recv_none();
    }
    assert_eq!(d.stack.stats().oow_acks_suppressed, 100);
    // Data outside the window is still answered at once.
    d.send(ACK, old, sseq, 1000, &Opts::default(), b"stale");
    let ack = d.recv_one();
    assert_eq!((ack.seq, ack.ack), (sseq, rseq));
    // After the interval a pure ACK is answered again.
    d.at(d.now + Duration::from_millis(500));
    d.send(ACK, old, sseq, 1000, &Opts::default(), &[]);
    let ack = d.recv_one();
    assert_eq!((ack.seq, ack.ack), (sseq, rseq));
}

#[test]
fn rfc9293_in_order_and_out_of_order_reassembly_with_sack() {
    let (mut d, id, rseq, sseq) = established();
    d.send(
        ACK,
        rseq.wrapping_add(5),
        sseq,
        1000,
        &Opts::default(),
        b"world",
    );
    let dup = d.recv_one();
    assert_eq!(dup.ack, rseq, "duplicate ACK for the hole");
    assert_eq!(
        dup.sack,
        vec![(rseq.wrapping_add(5), rseq.wrapping_add(10))]
    );
    d.send(ACK, rseq, sseq, 1000, &Opts::default(), b"hello");
    let ack = d.recv_one();
    assert_eq!(ack.ack, rseq.wrapping_add(10));
    assert!(ack.sack.is_empty());
    let mut buf = [0u8; 32];
    let now = d.now;
    assert_eq!(d.stack.recv(now, id, &mut buf), Ok(10));
    assert_eq!(&buf[..10], b"helloworld");
    assert_eq!(
        d.stack.recv(now, id, &mut buf),
        Err(stack::RecvError::WouldBlock)
    );
}

#[test]
fn rfc9293_half_close_peer_first() {
    let (mut d, id, rseq, sseq) = established();
    d.send(FINACK, rseq, sseq, 1000, &Opts::default(), b"bye");
    let ack = d.recv_one();
    assert_eq!(ack.ack, rseq.wrapping_add(4));
    assert!(d.has(&Event::PeerClosed));
    assert_eq!(d.stack.state(id), Some(State::CloseWait));
    let now = d.now;
    let mut buf = [0u8; 8];
    assert_eq!(d.stack.recv(now, id, &mut buf), Ok(3));
    assert_eq!(d.stack.recv(now, id, &mut buf), Ok(0), "EOF");
    // We may still send.
    assert_eq!(d.stack.send(now, id, b"reply"), 5);
    let data = d.recv_one();
    assert_eq!(data.payload, b"reply");
    d.stack.close(now, id);
    let fin = d.recv_one();
    assert!(fin.fin);
    assert_eq!(fin.seq, sseq.wrapping_add(5));
    assert_eq!(d.stack.state(id), Some(State::LastAck));
    d.send(
        ACK,
        rseq.wrapping_add(4),
        sseq.wrapping_add(6),
        1000,
        &Opts::default(),
        &[],
    );
    assert!(d.has(&Event::Closed));
    assert_eq!(d.stack.state(id), None);
}

#[test]
fn rfc9293_time_wait_lasts_2msl_and_reacks_fin() {
    let (mut d, id, rseq, sseq) = established();
    let now = d.now;
    d.stack.close(now, id);
    let fin = d.recv_one();
    assert!(fin.fin && fin.seq == sseq);
    d.send(ACK, rseq, sseq.wrapping_add(1), 1000, &Opts::default(), &[]);
    assert_eq!(d.stack.state(id), Some(State::FinWait2));
    d.send(
        FINACK,
        rseq,
        sseq.wrapping_add(1),
        1000,
        &Opts::default(),
        &[],
    );
    let ack = d.recv_one();
    assert_eq!(ack.ack, rseq.wrapping_add(1));
    assert_eq!(d.stack.state(id), Some(State::TimeWait));
    assert!(d.has(&Event::Closed));
    // A retransmitted FIN is acknowledged again.
    d.at(d.now + Duration::from_secs(5));
    d.send(
        FINACK,
        rseq,
        sseq.wrapping_add(1),
        1000,
        &Opts::default(),
        &[],
    );
    let again = d.recv_one();
    assert_eq!(again.ack, rseq.wrapping_add(1));
    // The application reads EOF; 2*MSL (10 s here) after the last FIN the 4-tuple is free.
    let now = d.now;
    assert_eq!(d.stack.recv(now, id, &mut [0u8; 4]), Ok(0));
    let t = d.to_deadline();
    assert!(t >= d.now);
    assert_eq!(d.stack.state(id), None);
    assert_eq!(d.stack.connection_count(), 0);
}

#[test]
fn rfc9293_time_wait_reused_by_newer_syn() {
    let (mut d, id, rseq, sseq) = established();
    let now = d.now;
    d.stack.close(now, id);
    d.recv_one();
    d.send(
        FINACK,
        rseq,
        sseq.wrapping_add(1),
        1000,
        &Opts::default(),
        &[],
    );
    d.recv_one();
    assert_eq!(d.stack.state(id), Some(State::TimeWait));
    d.send(SYN, rseq.wrapping_add(100_000), 0, 65535, &syn_opts(), &[]);
    let sa = d.recv_one();
    assert!(sa.syn && sa.ackf);
    assert_eq!(sa.ack, rseq.wrapping_add(100_001));
    assert_eq!(d.stack.state(id), None, "old incarnation gone");
    // An old-sequence SYN in TIME-WAIT would not have reopened it; see the next test.
}

/// Active open, then our close first, the peer's FIN: TIME-WAIT. Timestamps on if `ts`.
/// Returns (dialogue, id, our FIN's sequence number, the TSval of our last ACK).
fn active_close_to_time_wait(ts: bool) -> (Dialogue, ConnId, u32, Option<u32>) {
    let mut d = Dialogue::new(config(), ep(v4(1), 40000), ep(v4(2), 80));
    let now = d.now;
    let id = d.stack.connect(now, d.local, d.remote, None).unwrap();
    let syn = d.recv_one();
    let o = Opts {
        ts: ts.then(|| (777, syn.ts.unwrap().0)),
        ..syn_opts()
    };
    d.send(SYNACK, PEER_ISN, syn.seq.wrapping_add(1), 65535, &o, &[]);
    d.recv_one();
    d.at(d.now + Duration::from_millis(10));
    let now = d.now;
    d.stack.close(now, id);
    let fin = d.recv_one();
    assert!(fin.fin);
    let o = Opts {
        ts: ts.then(|| (778, fin.ts.unwrap().0)),
        ..Opts::default()
    };
    let (rseq, fin_end) = (PEER_ISN.wrapping_add(1), fin.seq.wrapping_add(1));
    d.send(FINACK, rseq, fin_end, 1000, &o, &[]);
    let ack = d.recv_one();
    assert_eq!(ack.ack, rseq.wrapping_add(1));
    assert_eq!(d.stack.state(id), Some(State::TimeWait));
    (d, id, fin.seq, ack.ts.map(|t| t.0))
}

/// RFC 1122 §4.2.2.13 / RFC 6191, active side: `connect` leaves our own TIME-WAIT alone,
/// `connect_reopening` ends it and opens the 4-tuple again at once, with an ISS beyond every
/// sequence number of the old incarnation and a TSval not older than its last one. (The
/// relay's inbound inner leg needs this: it closes first, so it sits in TIME-WAIT while its
/// client may already open the same 4-tuple again.)
#[test]
fn rfc6191_connect_reopening_ends_own_time_wait() {
    let (mut d, id, fin_seq, last_ts) = active_close_to_time_wait(true);
    d.at(d.now + Duration::from_millis(3));
    let (now, local, remote) = (d.now, d.local, d.remote);
    assert_eq!(
        d.stack.connect(now, local, remote, None).err(),
        Some(stack::ConnectError::InUse)
    );
    d.recv_none();
    let id2 = d.stack.connect_reopening(now, local, remote, None).unwrap();
    assert_eq!(d.stack.state(id), None, "old incarnation gone");
    assert_eq!(d.stack.state(id2), Some(State::SynSent));
    let syn = d.recv_one();
    assert!(syn.syn && !syn.ackf && !syn.rst);
    let ahead = syn.seq.wrapping_sub(fin_seq.wrapping_add(1));
    assert!(
        (65536..1 << 31).contains(&ahead),
        "new ISS {:#x} beyond the old FIN {fin_seq:#x}",
        syn.seq
    );
    let tsval = syn.ts.unwrap().0;
    assert!(
        (tsval.wrapping_sub(last_ts.unwrap()) as i32) > 0,
        "TSval grows across incarnations"
    );
    // The new incarnation completes its handshake.
    let o = Opts {
        ts: Some((900, tsval)),
        ..syn_opts()
    };
    let peer_isn = PEER_ISN.wrapping_add(1_000_000);
    d.send(SYNACK, peer_isn, syn.seq.wrapping_add(1), 65535, &o, &[]);
    let ack = d.recv_one();
    assert_eq!(ack.ack, peer_isn.wrapping_add(1));
    assert_eq!(d.stack.state(id2), Some(State::Established));
}

/// Without timestamps PAWS cannot protect a reopened 4-tuple: TIME-WAIT stays, and so does
/// a live connection.
#[test]
fn rfc6191_connect_reopening_needs_timestamps_and_time_wait() {
    let (mut d, id, _, _) = active_close_to_time_wait(false);
    let (now, local, remote) = (d.now, d.local, d.remote);
    assert_eq!(
        d.stack.connect_reopening(now, local, remote, None).err(),
        Some(stack::ConnectError::InUse)
    );
    assert_eq!(d.stack.state(id), Some(State::TimeWait));
    d.recv_none();
    let mut d = Dialogue::new(config(), ep(v4(1), 40000), ep(v4(2), 80));
    let now = d.now;
    let id = d.stack.connect(now, d.local, d.remote, None).unwrap();
    d.recv_one();
    let (local, remote) = (d.local, d.remote);
    assert_eq!(
        d.stack.connect_reopening(now, local, remote, None).err(),
        Some(stack::ConnectError::InUse)
    );
    assert_eq!(d.stack.state(id), Some(State::SynSent));
}

#[test]
fn rfc9293_zero_window_probe() {
    let (mut d, id, rseq, sseq) = established();
    // Peer closes its window.
    d.send(ACK, rseq, sseq, 0, &Opts::default(), &[]);
    let now = d.now;
    assert_eq!(d.stack.send(now, id, b"data"), 4);
    d.recv_none();
    // After the persist timer: a probe <SEQ=SND.UNA-1>, no data.
    let t1 = d.to_deadline();
    let probe = d.recv_one();
    assert!(probe.payload.is_empty());
    assert_eq!(probe.seq, sseq.wrapping_sub(1));
    // Probes back off.
    let t2 = d.to_deadline();
    d.recv_one();
    let t3 = d.to_deadline();
    d.recv_one();
    assert!(t3 - t2 > t2 - t1, "persist interval grows");
    // The window opens: data flows.
    d.send(ACK, rseq, sseq, 1000, &Opts::default(), &[]);
    let data = d.recv_one();
    assert_eq!(data.payload, b"data");
    assert_eq!(data.seq, sseq);
}

#[test]
fn rfc1122_keepalive_times_out() {
    let mut cfg = config();
    cfg.conn.keepalive = Some(KeepAlive {
        idle: Duration::from_secs(10),
        interval: Duration::from_secs(1),
        count: 3,
    });
    let (mut d, id, _rseq, sseq) = established_with(cfg);
    let start = d.now;
    for i in 0..3u64 {
        let t = d.to_deadline();
        assert_eq!(t, start + Duration::from_secs(10 + i));
        let p = d.recv_one();
        assert_eq!(p.seq, sseq.wrapping_sub(1));
        assert!(p.payload.is_empty() && p.ackf);
    }
    d.to_deadline();
    let rst = d.recv_one();
    assert!(rst.rst);
    assert!(d.has(&Event::Timeout));
    assert_eq!(d.stack.state(id), None);
}

#[test]
fn rfc1122_keepalive_answered_keeps_connection() {
    let mut cfg = config();
    cfg.conn.keepalive = Some(KeepAlive {
        idle: Duration::from_secs(10),
        interval: Duration::from_secs(1),
        count: 2,
    });
    let (mut d, id, rseq, sseq) = established_with(cfg);
    for _ in 0..5 {
        d.to_deadline();
        d.recv_one();
        d.send(ACK, rseq, sseq, 1000, &Opts::default(), &[]);
    }
    assert_eq!(d.stack.state(id), Some(State::Established));
}

#[test]
fn rfc6298_retransmission_on_timeout_with_backoff() {
    // The RTO's backoff is the subject: no tail loss probe (RFC 8985 §7.2) in its place
    // at the first deadline (tests/rack_tlp.rs covers that).
    let mut cfg = config();
    cfg.conn.rack_tlp = false;
    let (mut d, id, rseq, sseq) = established_with(cfg);
    let now = d.now;
    d.stack.send(now, id, b"abc");
    let first = d.recv_one();
    assert_eq!(first.payload, b"abc");
    let t1 = d.to_deadline();
    let r1 = d.recv_one();
    assert_eq!((r1.seq, r1.payload.clone()), (sseq, b"abc".to_vec()));
    let t2 = d.to_deadline();
    let r2 = d.recv_one();
    assert_eq!(r2.payload, b"abc");
    assert_eq!(t2 - t1, (t1 - now) * 2, "RTO doubled (RFC 6298 §5.5)");
    d.send(ACK, rseq, sseq.wrapping_add(3), 1000, &Opts::default(), &[]);
    assert_eq!(d.stack.send_queue(id), 0);
    assert_eq!(d.stack.next_deadline(), None);
    assert_eq!(d.stack.stats().rto_expiries, 2);
}

/// After a retransmission timeout we resend from SND.UNA (go-back-N), but an ACK we send
/// meanwhile carries the highest sequence number sent (RFC 9293's SND.NXT): the peer may
/// have received everything, and an ACK numbered below its RCV.NXT is unacceptable there,
/// its ACK field never read. Two ends both in that state once stalled forever (seeded
/// 10 MB simulation, 10 % loss).
#[test]
fn ack_after_retransmission_timeout_carries_the_highest_sequence_sent() {
    // The RTO's go-back-N is the subject: no tail loss probe (RFC 8985 §7) before it.
    let mut cfg = config();
    cfg.conn.rack_tlp = false;
    let (mut d, id, rseq, sseq) = established_with(cfg);
    let now = d.now;
    d.stack.set_nagle(id, false);
    assert_eq!(d.stack.send(now, id, &[7; 2000]), 2000);
    let sent = d.recv_all();
    let total: usize = sent.iter().map(|o| o.payload.len()).sum();
    assert_eq!(total, 2000);
    assert!(sent.len() >= 2, "two segments in flight");
    d.to_deadline();
    let rtx = d.recv_one();
    assert_eq!(rtx.seq, sseq, "the timeout resends from SND.UNA");
    assert!(rtx.payload.len() < 2000);
    // The peer's data, acknowledging nothing new: our ACK of it.
    d.send(ACK, rseq, sseq, 1000, &Opts::default(), b"ping");
    let ack = d.recv_one();
    assert!(ack.payload.is_empty());
    assert_eq!(ack.ack, rseq.wrapping_add(4));
    assert_eq!(
        ack.seq,
        sseq.wrapping_add(2000),
        "SEQ = highest sent, not SND.UNA + rtx"
    );
    // And the same peer, having had it all, acknowledges everything: accepted.
    d.send(
        ACK,
        rseq.wrapping_add(4),
        sseq.wrapping_add(2000),
        1000,
        &Opts::default(),
        &[],
    );
    assert_eq!(d.stack.send_queue(id), 0);
}

/// With window scaling the window field counts units of 2^shift bytes: rounding the
/// remaining window up must never promise text the receive buffer cannot hold. A peer that
/// fills every window we advertise (segments of odd sizes, the application never reading)
/// has every byte accepted, until the window is zero.
#[test]
fn scaled_window_never_promises_more_than_the_buffer_holds() {
    let mut cfg = config();
    cfg.conn.recv_buffer = 70_001;
    let (mut d, id, rseq, sseq, shift) = established_scaled(cfg);
    assert!(shift > 0, "the test needs a scaled window");
    let mut cur = rseq;
    let mut edge = rseq.wrapping_add(1); // the first ACK tells the window
    let mut rounds = 0;
    while edge != cur {
        rounds += 1;
        assert!(rounds < 1000);
        let len = (edge.wrapping_sub(cur) as usize).min(1459);
        d.send(ACK, cur, sseq, 1000, &Opts::default(), &vec![9; len]);
        let a = d.recv_one();
        assert_eq!(
            a.ack,
            cur.wrapping_add(len as u32),
            "text inside the window accepted"
        );
        cur = a.ack;
        let new_edge = cur.wrapping_add(u32::from(a.window) << shift);
        // The promise stays within the buffer (plus less than one unit of rounding slack).
        assert!((new_edge.wrapping_sub(rseq) as usize) < 70_001 + (1 << shift));
        edge = if new_edge.wrapping_sub(edge) as i32 > 0 {
            new_edge
        } else {
            edge
        };
    }
    let queued = d.stack.recv_queue(id);
    assert!(queued >= 70_001 - (1 << shift), "{queued} shift {shift}");
}

#[test]
fn rfc5681_fast_retransmit_on_three_dupacks() {
    let mut cfg = config();
    cfg.conn.nagle = false;
    let (mut d, id, rseq, sseq) = established_with(cfg);
    // A bigger window than the handshake's 1000.
    d.send(ACK, rseq, sseq, 60000, &Opts::default(), &[]);
    let now = d.now;
    let data = vec![7u8; 1460 * 4];
    d.stack.send(now, id, &data);
    let segs = d.recv_all();
    assert!(segs.len() >= 4, "{} segments", segs.len());
    let mss = segs[0].payload.len() as u32;
    // Segment 0 lost: three duplicate ACKs with SACK for the later ones.
    for k in 1..4u32 {
        let o = Opts {
            sack: vec![(sseq.wrapping_add(mss), sseq.wrapping_add(mss * (k + 1)))],
            ..Opts::default()
        };
        d.send(ACK, rseq, sseq, 60000, &o, &[]);
    }
    let rtx = d.recv_all();
    assert!(!rtx.is_empty());
    assert_eq!(rtx[0].seq, sseq, "hole retransmitted first");
    assert_eq!(d.stack.stats().fast_retransmits, 1);
    assert_eq!(d.stack.stats().rto_expiries, 0);
}

#[test]
fn held_syn_accept_and_refuse() {
    let mut d = listening(config(), true);
    d.send(SYN, PEER_ISN, 0, 65535, &syn_opts(), &[]);
    d.recv_none();
    let (id, e) = d.events.last().cloned().unwrap();
    assert!(matches!(e, Event::SynReceived { .. }));
    let now = d.now;
    assert!(d.stack.accept(now, id));
    let sa = d.recv_one();
    assert!(sa.syn && sa.ackf);

    let mut d = listening(config(), true);
    d.send(SYN, PEER_ISN, 0, 65535, &syn_opts(), &[]);
    let (id, _) = d.events.last().cloned().unwrap();
    let now = d.now;
    assert!(d.stack.refuse(now, id));
    let rst = d.recv_one();
    assert!(rst.rst && rst.ackf);
    assert_eq!(rst.ack, PEER_ISN.wrapping_add(1));
    assert_eq!(d.stack.state(id), None);
}

#[test]
fn syn_flood_bounded_by_half_open_limit() {
    let mut cfg = config();
    cfg.max_half_open = 4;
    let mut d = listening(cfg, false);
    for i in 0..10u16 {
        d.remote.port = 6000 + i;
        d.send(SYN, PEER_ISN, 0, 65535, &syn_opts(), &[]);
    }
    assert_eq!(d.recv_all().len(), 4);
    assert_eq!(d.stack.connection_count(), 4);
    assert_eq!(d.stack.stats().syn_flood_drops, 6);
}

#[test]
fn malformed_packets_are_counted_not_fatal() {
    let (mut d, id, rseq, sseq) = established();
    let good = d.build(ACK, rseq, sseq, 1000, &Opts::default(), b"x");
    let now = d.now;
    // Truncations of every length, a flipped checksum bit, garbage.
    for n in 0..good.len() {
        d.stack.handle(now, &good[..n]);
    }
    let mut bad = good.clone();
    let last = bad.len() - 1;
    bad[last] ^= 0x40;
    d.stack.handle(now, &bad);
    d.stack.handle(now, &[0x45; 3]);
    d.stack.handle(now, &[0x60; 100]);
    let st = *d.stack.stats();
    assert!(st.bad_ip > 0 && st.bad_checksum >= 1, "{st:?}");
    assert_eq!(d.stack.state(id), Some(State::Established));
    assert_eq!(d.stack.recv_queue(id), 0);
}

mod icmp {
    use super::*;
    use common::v6;
    use smoltcp::wire::{
        Icmpv4Message, Icmpv4Packet, Icmpv6Message, Icmpv6Packet, IpAddress, IpProtocol,
    };
    use stack::wire::ip;

    #[test]
    fn rfc792_echo_reply_for_own_address() {
        let mut d = Dialogue::new(config(), ep(v4(1), 80), ep(v4(2), 5000));
        let mut icmp = vec![0u8; 8 + 5];
        {
            let mut p = Icmpv4Packet::new_unchecked(&mut icmp[..]);
            p.set_msg_type(Icmpv4Message::EchoRequest);
            p.set_msg_code(0);
            p.set_echo_ident(0x1234);
            p.set_echo_seq_no(7);
            p.data_mut().copy_from_slice(b"hello");
            p.fill_checksum();
        }
        let mut pkt = vec![0u8; 20 + icmp.len()];
        ip::emit_header(&mut pkt, v4(2), v4(1), IpProtocol::Icmp, icmp.len(), 9).unwrap();
        pkt[20..].copy_from_slice(&icmp);
        let now = d.now;
        d.stack.handle(now, &pkt);
        let mut buf = [0u8; 100];
        let n = d.stack.poll_transmit(now, &mut buf).unwrap();
        let v = ip::parse(&buf[..n]).unwrap();
        assert_eq!((v.src, v.dst, v.protocol), (v4(1), v4(2), IpProtocol::Icmp));
        let r = Icmpv4Packet::new_checked(v.payload).unwrap();
        assert!(r.verify_checksum());
        assert_eq!(r.msg_type(), Icmpv4Message::EchoReply);
        assert_eq!((r.echo_ident(), r.echo_seq_no()), (0x1234, 7));
        assert_eq!(r.data(), b"hello");
        // Not for a foreign address.
        let mut other = pkt.clone();
        ip::emit_header(&mut other, v4(2), v4(9), IpProtocol::Icmp, icmp.len(), 9).unwrap();
        d.stack.handle(now, &other);
        assert!(d.stack.poll_transmit(now, &mut buf).is_none());
    }

    #[test]
    fn rfc4443_echo_reply_ipv6() {
        let mut cfg = config();
        cfg.local_addrs = vec![v6(1)];
        let mut d = Dialogue::new(cfg, ep(v6(1), 80), ep(v6(2), 5000));
        let (IpAddress::Ipv6(a6), IpAddress::Ipv6(b6)) = (v6(1), v6(2)) else {
            panic!()
        };
        let mut icmp = vec![0u8; 8 + 3];
        {
            let mut p = Icmpv6Packet::new_unchecked(&mut icmp[..]);
            p.set_msg_type(Icmpv6Message::EchoRequest);
            p.set_msg_code(0);
            p.set_echo_ident(5);
            p.set_echo_seq_no(6);
            p.payload_mut().copy_from_slice(b"abc");
            p.fill_checksum(&b6, &a6);
        }
        let mut pkt = vec![0u8; 40 + icmp.len()];
        ip::emit_header(&mut pkt, v6(2), v6(1), IpProtocol::Icmpv6, icmp.len(), 0).unwrap();
        pkt[40..].copy_from_slice(&icmp);
        let now = d.now;
        d.stack.handle(now, &pkt);
        let mut buf = [0u8; 100];
        let n = d.stack.poll_transmit(now, &mut buf).unwrap();
        let v = ip::parse(&buf[..n]).unwrap();
        let r = Icmpv6Packet::new_checked(v.payload).unwrap();
        assert!(r.verify_checksum(&a6, &b6));
        assert_eq!(r.msg_type(), Icmpv6Message::EchoReply);
        assert_eq!((r.echo_ident(), r.echo_seq_no()), (5, 6));
        assert_eq!(d.stack.stats().icmp_echo_replies, 1);
    }

    #[test]
    fn rfc8201_packet_too_big_lowers_pmtu_ipv6() {
        let mut cfg = config();
        cfg.local_addrs = vec![v6(1)];
        cfg.conn.nagle = false;
        let mut d = Dialogue::new(cfg, ep(v6(1), 80), ep(v6(2), 5000));
        d.stack.listen(
            ListenAddr {
                addr: None,
                port: Some(80),
            },
            ListenConfig::default(),
        );
        d.send(SYN, PEER_ISN, 0, 65535, &syn_opts(), &[]);
        let sa = d.recv_one();
        let sseq = sa.seq.wrapping_add(1);
        let rseq = PEER_ISN.wrapping_add(1);
        d.send(ACK, rseq, sseq, 60000, &Opts::default(), &[]);
        let id = d
            .events
            .iter()
            .find(|(_, e)| *e == Event::Established)
            .unwrap()
            .0;
        let now = d.now;
        d.stack.send(now, id, &[1u8; 2880]);
        let mut buf = [0u8; 2000];
        let n = d.stack.poll_transmit(now, &mut buf).unwrap();
        assert_eq!(n, 1500);
        let first = buf[..n].to_vec();
        while d.stack.poll_transmit(now, &mut buf).is_some() {}
        let (IpAddress::Ipv6(r6), IpAddress::Ipv6(a6)) = (v6(99), v6(1)) else {
            panic!()
        };
        let mut icmp = vec![0u8; 8 + 48];
        icmp[8..].copy_from_slice(&first[..48]);
        {
            let mut p = Icmpv6Packet::new_unchecked(&mut icmp[..]);
            p.set_msg_type(Icmpv6Message::PktTooBig);
            p.set_msg_code(0);
            p.set_pkt_too_big_mtu(1280);
            p.fill_checksum(&r6, &a6);
        }
        let mut pkt = vec![0u8; 40 + icmp.len()];
        ip::emit_header(&mut pkt, v6(99), v6(1), IpProtocol::Icmpv6, icmp.len(), 0).unwrap();
        pkt[40..].copy_from_slice(&icmp);
        d.stack.handle(now, &pkt);
        assert_eq!(d.stack.stats().icmp_pmtu, 1);
        let resent = d.recv_all();
        assert_eq!(resent[0].seq, sseq);
        assert!(resent.iter().all(|s| s.payload.len() <= 1280 - 60));
    }

    #[test]
    fn rfc1191_frag_needed_lowers_pmtu_and_resends_smaller() {
        let mut cfg = config();
        cfg.conn.nagle = false;
        let (mut d, id, rseq, sseq) = established_with(cfg);
        d.send(ACK, rseq, sseq, 60000, &Opts::default(), &[]);
        let now = d.now;
        d.stack.send(now, id, &[1u8; 2920]);
        let mut buf = [0u8; 2000];
        let n = d.stack.poll_transmit(now, &mut buf).unwrap();
        let first = buf[..n].to_vec();
        assert_eq!(n, 1500);
        while d.stack.poll_transmit(now, &mut buf).is_some() {}
        // A router says: next-hop MTU 1000. Quote IP header + 8 bytes of TCP.
        let mut icmp = vec![0u8; 8 + 28];
        icmp[0] = 3;
        icmp[1] = 4;
        icmp[6..8].copy_from_slice(&1000u16.to_be_bytes());
        icmp[8..].copy_from_slice(&first[..28]);
        {
            let mut p = Icmpv4Packet::new_unchecked(&mut icmp[..]);
            p.fill_checksum();
        }
        let router = v4(254);
        let mut pkt = vec![0u8; 20 + icmp.len()];
        ip::emit_header(&mut pkt, router, v4(1), IpProtocol::Icmp, icmp.len(), 1).unwrap();
        pkt[20..].copy_from_slice(&icmp);
        d.stack.handle(now, &pkt);
        assert_eq!(d.stack.stats().icmp_pmtu, 1);
        let resent = d.recv_all();
        assert!(!resent.is_empty());
        assert_eq!(resent[0].seq, sseq);
        assert!(resent.iter().all(|s| s.payload.len() <= 1000 - 40));
        // A quote of a sequence number we never sent is ignored (RFC 5927 §4.1).
        let mut bogus = pkt.clone();
        bogus[20 + 8 + 20 + 4..20 + 8 + 20 + 8].copy_from_slice(&0x0102_0304u32.to_be_bytes());
        let icmp_len = bogus.len() - 20;
        bogus[22] = 0;
        bogus[23] = 0;
        {
            let mut p = Icmpv4Packet::new_unchecked(&mut bogus[20..20 + icmp_len]);
            p.fill_checksum();
        }
        d.stack.handle(now, &bogus);
        assert_eq!(d.stack.stats().icmp_pmtu, 1);
        assert_eq!(d.stack.stats().icmp_ignored, 1);
    }
}

#[test]
fn rfc1122_delayed_ack_and_every_second_segment() {
    let mut cfg = config();
    cfg.conn.delayed_ack = Some(Duration::from_millis(40));
    let (mut d, _id, rseq, sseq) = established_with(cfg);
    d.send(ACK, rseq, sseq, 1000, &Opts::default(), &[1; 100]);
    d.recv_none();
    let t = d.to_deadline();
    assert_eq!(
        t - d.now + Duration::from_millis(40),
        Duration::from_millis(40)
    );
    let ack = d.recv_one();
    assert_eq!(ack.ack, rseq.wrapping_add(100));
    // Two full-sized segments (our MSS: 1460, no options): the second is acknowledged at
    // once.
    d.send(
        ACK,
        rseq.wrapping_add(100),
        sseq,
        1000,
        &Opts::default(),
        &[1; 1460],
    );
    d.recv_none();
    d.send(
        ACK,
        rseq.wrapping_add(1560),
        sseq,
        1000,
        &Opts::default(),
        &[1; 1460],
    );
    let ack = d.recv_one();
    assert_eq!(ack.ack, rseq.wrapping_add(3020));
}

#[test]
fn rfc1122_small_segments_are_acknowledged_by_bytes_not_two_by_two() {
    // RFC 1122 §4.2.3.2 asks for an ACK for at least every second *full-sized* segment;
    // smaller ones count by their bytes (as Linux does): an ACK once more than one full
    // segment's worth is unacknowledged, else the delayed-ACK timer.
    let mut cfg = config();
    cfg.conn.delayed_ack = Some(Duration::from_millis(40));
    let (mut d, _id, rseq, sseq) = established_with(cfg);
    // A full-sized segment teaches the stack the peer's segment size...
    d.send(ACK, rseq, sseq, 1000, &Opts::default(), &[1; 1460]);
    d.recv_none();
    d.to_deadline();
    assert_eq!(d.recv_one().ack, rseq.wrapping_add(1460));
    // ...then 491-byte segments: the first two wait, the third (1473 bytes
    // unacknowledged, more than 1460) is acknowledged at once.
    let mut sq = rseq.wrapping_add(1460);
    for _ in 0..2 {
        d.send(ACK, sq, sseq, 1000, &Opts::default(), &[2; 491]);
        sq = sq.wrapping_add(491);
        d.recv_none();
    }
    d.send(ACK, sq, sseq, 1000, &Opts::default(), &[2; 491]);
    sq = sq.wrapping_add(491);
    assert_eq!(d.recv_one().ack, sq);
    // Before any full-sized segment, the default MSS (536) is what counts: two 300-byte
    // segments are acknowledged together, at once.
    let mut cfg = config();
    cfg.conn.delayed_ack = Some(Duration::from_millis(40));
    let (mut d, _id, rseq, sseq) = established_with(cfg);
    d.send(ACK, rseq, sseq, 1000, &Opts::default(), &[1; 300]);
    d.recv_none();
    d.send(
        ACK,
        rseq.wrapping_add(300),
        sseq,
        1000,
        &Opts::default(),
        &[1; 300],
    );
    assert_eq!(d.recv_one().ack, rseq.wrapping_add(600));
}

#[test]
fn rfc9293_nagle_holds_small_segments_until_ack() {
    let (mut d, id, rseq, sseq) = established();
    let now = d.now;
    d.stack.send(now, id, b"a");
    assert_eq!(d.recv_one().payload, b"a");
    d.stack.send(now, id, b"b");
    d.stack.send(now, id, b"c");
    d.recv_none();
    d.send(ACK, rseq, sseq.wrapping_add(1), 1000, &Opts::default(), &[]);
    assert_eq!(d.recv_one().payload, b"bc");
    // With Nagle off, small writes go at once.
    d.stack.set_nagle(id, false);
    d.stack.send(now, id, b"d");
    assert_eq!(d.recv_one().payload, b"d");
    d.stack.send(now, id, b"e");
    assert_eq!(d.recv_one().payload, b"e", "sent with data in flight");
}

#[test]
fn rfc7323_paws_drops_old_timestamp() {
    let mut d = listening(config(), false);
    let o = Opts {
        ts: Some((1000, 0)),
        ..syn_opts()
    };
    d.send(SYN, PEER_ISN, 0, 65535, &o, &[]);
    let sa = d.recv_one();
    assert_eq!(sa.ts.map(|t| t.1), Some(1000));
    let iss1 = sa.seq.wrapping_add(1);
    let ts = |v| Opts {
        ts: Some((v, 0)),
        ..Opts::default()
    };
    d.send(ACK, PEER_ISN.wrapping_add(1), iss1, 1000, &ts(1001), &[]);
    let id = d
        .events
        .iter()
        .find(|(_, e)| *e == Event::Established)
        .unwrap()
        .0;
    d.send(ACK, PEER_ISN.wrapping_add(1), iss1, 1000, &ts(1002), b"new");
    assert_eq!(d.recv_one().ack, PEER_ISN.wrapping_add(4));
    // An old duplicate (TSval older than TS.Recent) is dropped and acknowledged.
    d.send(ACK, PEER_ISN.wrapping_add(4), iss1, 1000, &ts(900), b"old");
    let ack = d.recv_one();
    assert_eq!(ack.ack, PEER_ISN.wrapping_add(4));
    assert_eq!(d.stack.recv_queue(id), 3);
}

#[test]
fn writable_after_send_buffer_drains() {
    let mut cfg = config();
    cfg.conn.send_buffer = 1000;
    let (mut d, id, rseq, sseq) = established_with(cfg);
    let now = d.now;
    assert_eq!(d.stack.send(now, id, &[0u8; 1500]), 1000);
    let segs = d.recv_all();
    let sent: usize = segs.iter().map(|s| s.payload.len()).sum();
    assert_eq!(sent, 1000);
    assert!(!d.has(&Event::Writable));
    d.send(
        ACK,
        rseq,
        sseq.wrapping_add(1000),
        1000,
        &Opts::default(),
        &[],
    );
    assert!(d.has(&Event::Writable));
}

#[test]
fn held_syn_times_out_and_frees_its_half_open_slot() {
    let mut cfg = config();
    cfg.max_half_open = 1;
    let mut d = listening(cfg, true);
    d.send(SYN, PEER_ISN, 0, 65535, &syn_opts(), &[]);
    let (id, _) = d.events.last().cloned().unwrap();
    let t = d.to_deadline();
    assert_eq!(
        t - Duration::from_secs(30),
        stack::Instant::from_millis(10_000)
    );
    assert!(d.has(&Event::Timeout));
    assert_eq!(d.stack.state(id), None);
    d.recv_none();
    // The slot is free again.
    d.remote.port += 1;
    d.send(SYN, PEER_ISN, 0, 65535, &syn_opts(), &[]);
    assert_eq!(d.stack.connection_count(), 1);
    assert_eq!(d.stack.stats().syn_flood_drops, 0);
}

#[test]
fn rfc9293_close_in_syn_received_sends_fin_after_handshake() {
    let mut d = listening(config(), true);
    d.send(SYN, PEER_ISN, 0, 65535, &syn_opts(), &[]);
    let (id, _) = d.events.last().cloned().unwrap();
    let now = d.now;
    d.stack.accept(now, id);
    d.stack.close(now, id);
    let sa = d.recv_one();
    assert!(sa.syn && !sa.fin);
    d.send(
        ACK,
        PEER_ISN.wrapping_add(1),
        sa.seq.wrapping_add(1),
        1000,
        &Opts::default(),
        &[],
    );
    let fin = d.recv_one();
    assert!(fin.fin && !fin.syn);
    assert_eq!(fin.seq, sa.seq.wrapping_add(1));
    assert_eq!(d.stack.state(id), Some(State::FinWait1));
}

#[test]
fn rfc9293_zero_receive_window_answers_probes_and_reopens() {
    let mut cfg = config();
    cfg.conn.recv_buffer = 4000;
    cfg.conn.window_scaling = false;
    let (mut d, id, rseq, sseq) = established_with(cfg);
    d.send(ACK, rseq, sseq, 1000, &Opts::default(), &[1; 1000]);
    let a = d.recv_one();
    assert_eq!(a.window, 3000);
    d.send(
        ACK,
        rseq.wrapping_add(1000),
        sseq,
        1000,
        &Opts::default(),
        &[2; 3000],
    );
    let a = d.recv_one();
    assert_eq!((a.ack, a.window), (rseq.wrapping_add(4000), 0));
    // A one-byte window probe: dropped, answered with the zero window.
    d.send(
        ACK,
        rseq.wrapping_add(4000),
        sseq,
        1000,
        &Opts::default(),
        &[3],
    );
    let a = d.recv_one();
    assert_eq!((a.ack, a.window), (rseq.wrapping_add(4000), 0));
    // Reading a little does not reopen the window (receiver SWS avoidance)...
    let now = d.now;
    let mut buf = [0u8; 4000];
    assert_eq!(d.stack.recv(now, id, &mut buf[..100]), Ok(100));
    d.recv_none();
    // ...reading half the buffer does, with a window update.
    assert_eq!(d.stack.recv(now, id, &mut buf[..2000]), Ok(2000));
    let a = d.recv_one();
    assert_eq!((a.ack, a.window), (rseq.wrapping_add(4000), 2100));
}

#[test]
fn rfc7323_paws_lets_disordered_duplicate_acks_through() {
    // Duplicate ACKs that overtook each other (older TSval than TS.Recent) still count
    // toward fast retransmit, and TS.Recent does not move backwards.
    let mut cfg = config();
    cfg.conn.nagle = false;
    let mut d = listening(cfg, false);
    let ts = |v| Opts {
        ts: Some((v, 0)),
        ..Opts::default()
    };
    let o = Opts {
        ts: Some((1000, 0)),
        ..syn_opts()
    };
    d.send(SYN, PEER_ISN, 0, 65535, &o, &[]);
    let sa = d.recv_one();
    let iss1 = sa.seq.wrapping_add(1);
    let rseq = PEER_ISN.wrapping_add(1);
    d.send(ACK, rseq, iss1, 60000, &ts(1001), &[]);
    let id = d
        .events
        .iter()
        .find(|(_, e)| *e == Event::Established)
        .unwrap()
        .0;
    let now = d.now;
    d.stack.send(now, id, &vec![7u8; 1400 * 4]);
    let segs = d.recv_all();
    assert!(segs.len() >= 4, "{} segments", segs.len());
    // No SACK blocks, so only the count of duplicate ACKs can start recovery. The third
    // duplicate arrives first, then the first two (older TSvals).
    d.send(ACK, rseq, iss1, 60000, &ts(1010), &[]);
    d.send(ACK, rseq, iss1, 60000, &ts(1005), &[]);
    d.send(ACK, rseq, iss1, 60000, &ts(1006), &[]);
    let rtx = d.recv_all();
    assert!(
        !rtx.is_empty(),
        "fast retransmit expected: {:?}",
        d.stack.stats()
    );
    assert_eq!(rtx[0].seq, iss1, "hole retransmitted first");
    assert_eq!(rtx[0].ts.map(|t| t.1), Some(1010), "TS.Recent kept");
    assert_eq!(d.stack.stats().fast_retransmits, 1);
}

#[test]
fn rfc9293_reading_a_little_sends_no_lone_window_update() {
    // Receiver SWS avoidance (RFC 9293 §3.8.6.2.2) decides how much of an opening may be
    // announced; whether it is worth a packet of its own is a second question. Reading a
    // request that left most of the window open sends nothing: the answer carries the news.
    let (mut d, id, rseq, sseq, shift) = established_scaled(config());
    let full = u16::try_from((256 * 1024) >> shift).unwrap();
    d.send(ACK, rseq, sseq, 1000, &Opts::default(), &[1; 2000]);
    let a = d.recv_one();
    assert_eq!(a.ack, rseq.wrapping_add(2000));
    assert!(
        a.window < full,
        "the request narrows the window: {}",
        a.window
    );
    let now = d.now;
    let mut buf = vec![0u8; 300 * 1024];
    assert_eq!(d.stack.recv(now, id, &mut buf), Ok(2000));
    d.recv_none();
    // The answer announces the reopened window.
    assert_eq!(d.stack.send(now, id, b"answer"), 6);
    let a = d.recv_one();
    assert_eq!(a.payload, b"answer");
    assert_eq!((a.ack, a.window), (rseq.wrapping_add(2000), full));
    // Once more than half the window is taken, reading it back is announced at once.
    let mut sq = rseq.wrapping_add(2000);
    for _ in 0..100 {
        d.send(
            ACK,
            sq,
            sseq.wrapping_add(6),
            1000,
            &Opts::default(),
            &[2; 1400],
        );
        sq = sq.wrapping_add(1400);
    }
    let acks = d.recv_all();
    assert!(acks.last().unwrap().window < full / 2);
    assert_eq!(d.stack.recv(now, id, &mut buf), Ok(140_000));
    let a = d.recv_one();
    assert_eq!((a.ack, a.window), (sq, full));
}

/// Established, our FIN sent and acknowledged: FIN-WAIT-2 with the default 60 s bound.
fn fin_wait2() -> (Dialogue, ConnId, u32, u32) {
    let (mut d, id, rseq, sseq) = established();
    let now = d.now;
    d.stack.close(now, id);
    let fin = d.recv_one();
    assert!(fin.fin);
    d.send(ACK, rseq, sseq.wrapping_add(1), 1000, &Opts::default(), &[]);
    assert_eq!(d.stack.state(id), Some(State::FinWait2));
    (d, id, rseq, sseq.wrapping_add(1))
}

#[test]
fn fin_wait2_bound_counts_from_the_peers_last_segment() {
    // The FIN-WAIT-2 bound (a local policy; RFC 9293 has none) ends a connection whose peer
    // went quiet, not one still sending.
    let (mut d, id, rseq, sseq) = fin_wait2();
    let t0 = d.now;
    d.at(t0 + Duration::from_secs(50));
    d.send(ACK, rseq, sseq, 1000, &Opts::default(), &[1; 100]);
    d.at(t0 + Duration::from_secs(70));
    assert_eq!(d.stack.state(id), Some(State::FinWait2));
    d.at(t0 + Duration::from_secs(111));
    assert!(
        matches!(d.stack.state(id), None | Some(State::Closed)),
        "quiet for 61 s"
    );
}

#[test]
fn fin_wait2_bound_waits_while_a_hole_is_being_repaired() {
    // Out-of-order data held: the peer is retransmitting the hole, perhaps at a backed-off
    // RTO of a minute (RFC 6298 §2.5), so the quiet time says nothing.
    let (mut d, id, rseq, sseq) = fin_wait2();
    let t0 = d.now;
    d.send(
        ACK,
        rseq.wrapping_add(100),
        sseq,
        1000,
        &Opts::default(),
        &[2; 100],
    );
    assert_eq!(
        d.recv_one().sack,
        vec![(rseq.wrapping_add(100), rseq.wrapping_add(200))]
    );
    d.at(t0 + Duration::from_secs(150));
    assert_eq!(d.stack.state(id), Some(State::FinWait2));
    d.recv_none();
    d.send(ACK, rseq, sseq, 1000, &Opts::default(), &[1; 100]);
    assert_eq!(d.recv_one().ack, rseq.wrapping_add(200));
    let mut buf = [0u8; 300];
    let now = d.now;
    assert_eq!(d.stack.recv(now, id, &mut buf), Ok(200));
    // Hole repaired: the bound applies again.
    d.at(d.now + Duration::from_secs(61));
    assert!(matches!(d.stack.state(id), None | Some(State::Closed)));
}
