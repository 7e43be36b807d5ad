//! Segment dialogues for RFC 8985 RACK-TLP and RFC 3042 limited transmit: the test plays
//! the peer (SACK permitted, no timestamps, a 20 ms round trip) and checks what the stack
//! sends and when.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::dialogue::*;
use common::{ep, v4};
use stack::{ConnConfig, ConnId, Duration, Event, ListenAddr, ListenConfig, StackConfig};

const PEER_ISN: u32 = 0x1000;
/// The MSS the peer announces (no timestamps: every segment carries this much).
const MSS: usize = 1460;
const RTT: Duration = Duration::from_millis(20);
/// The window the peer offers (scaled by 4: 240 000 bytes).
const WND: u16 = 60_000;

fn config(rack_tlp: bool) -> StackConfig {
    let mut c = StackConfig::new(vec![v4(1)], [7; 32]);
    c.conn = ConnConfig {
        delayed_ack: None,
        nagle: false,
        rack_tlp,
        ..ConnConfig::default()
    };
    c
}

/// Passive open with a 20 ms handshake RTT (SRTT = 20 ms); returns (dialogue, id, the
/// peer's next seq, the stack's next seq).
fn established(rack_tlp: bool) -> (Dialogue, ConnId, u32, u32) {
    let mut d = Dialogue::new(config(rack_tlp), ep(v4(1), 80), ep(v4(2), 5000));
    d.stack.listen(
        ListenAddr {
            addr: None,
            port: Some(80),
        },
        ListenConfig {
            hold_syn: false,
            conn: None,
        },
    );
    let syn = Opts {
        mss: Some(1460),
        ws: Some(2),
        sack_perm: true,
        ..Opts::default()
    };
    d.send(SYN, PEER_ISN, 0, 65535, &syn, &[]);
    let synack = d.recv_one();
    assert!(synack.syn && synack.ackf && synack.sack_perm);
    let t = d.now + RTT;
    d.at(t);
    let rseq = PEER_ISN.wrapping_add(1);
    let sseq = synack.seq.wrapping_add(1);
    d.send(ACK, rseq, sseq, WND, &Opts::default(), &[]);
    let (id, _) = *d
        .events
        .iter()
        .find(|(_, e)| *e == Event::Established)
        .expect("established");
    d.recv_none();
    (d, id, rseq, sseq)
}

fn sack(blocks: &[(u32, u32)]) -> Opts {
    Opts {
        sack: blocks.to_vec(),
        ..Opts::default()
    }
}

/// The peer's pure ACK of everything below `ack`, with no options.
fn ack(d: &mut Dialogue, rseq: u32, ack: u32) {
    d.send(ACK, rseq, ack, WND, &Opts::default(), &[]);
}

/// Sends `n` full segments now; returns their payload size (the MSS in use).
fn send_segments(d: &mut Dialogue, id: ConnId, n: usize) -> u32 {
    let now = d.now;
    let queued = d.stack.send(now, id, &vec![5u8; MSS * n]);
    assert_eq!(queued, MSS * n);
    let segs = d.recv_all();
    assert_eq!(segs.len(), n, "{segs:#?}");
    segs[0].payload.len() as u32
}

/// RFC 8985 §7.2–7.3: the tail of a flight is lost (no ACK will ever come for it): the
/// stack probes after PTO = 2·SRTT by resending the last segment (no new data queued),
/// not after the 200 ms minimum RTO. The probe's SACK then lets RACK (§6.2) find the
/// other lost tail segment, repaired after the reordering window, still without an RTO.
#[test]
fn tail_loss_is_probed_after_two_srtt_and_repaired_without_rto() {
    let (mut d, id, rseq, sseq) = established(true);
    let mss = send_segments(&mut d, id, 4);
    assert_eq!(mss as usize, MSS);
    // The first two arrive; the last two are lost.
    let t_ack = d.now + RTT;
    d.at(t_ack);
    ack(&mut d, rseq, sseq.wrapping_add(2 * mss));
    d.recv_none();
    let t = d.to_deadline();
    let waited = t - t_ack;
    assert!(
        waited >= RTT * 2 - Duration::from_millis(5)
            && waited <= RTT * 2 + Duration::from_millis(5),
        "PTO {waited:?}, expected about 2·SRTT = 40 ms"
    );
    let probe = d.recv_one();
    assert_eq!(
        probe.seq,
        sseq.wrapping_add(3 * mss),
        "the last segment is the probe"
    );
    assert_eq!(probe.payload.len() as u32, mss);
    assert_eq!(d.stack.stats().tlp_probes, 1);
    assert_eq!(d.stack.stats().rto_expiries, 0);
    // The probe arrives and is SACKed: segment 2, sent before it, is lost.
    let t = d.now + RTT;
    d.at(t);
    let top = sseq.wrapping_add(4 * mss);
    d.send(
        ACK,
        rseq,
        sseq.wrapping_add(2 * mss),
        WND,
        &sack(&[(sseq.wrapping_add(3 * mss), top)]),
        &[],
    );
    let mut out = d.recv_all();
    if out.is_empty() {
        // Not yet beyond the reordering window (min_RTT / 4): the RACK timer repairs it.
        let t2 = d.to_deadline();
        assert!(t2 - t <= RTT / 2, "reordering timer {:?}", t2 - t);
        out = d.recv_all();
    }
    assert_eq!(out.len(), 1, "{out:#?}");
    assert_eq!(out[0].seq, sseq.wrapping_add(2 * mss), "the hole is resent");
    assert_eq!(d.stack.stats().rto_expiries, 0);
    assert_eq!(d.stack.stats().fast_retransmits, 1);
    d.send(ACK, rseq, top, WND, &Opts::default(), &[]);
    assert_eq!(d.stack.send_queue(id), 0);
    // Nothing in flight: no timer left but none that would send.
    d.recv_none();
}

/// Without RACK-TLP the same tail loss waits for the retransmission timer (the contrast
/// that makes the test above meaningful).
#[test]
fn without_rack_tlp_the_tail_waits_for_the_rto() {
    let (mut d, id, rseq, sseq) = established(false);
    let mss = send_segments(&mut d, id, 4);
    let t_ack = d.now + RTT;
    d.at(t_ack);
    ack(&mut d, rseq, sseq.wrapping_add(2 * mss));
    let t = d.to_deadline();
    assert!(t - t_ack >= Duration::from_millis(200), "{:?}", t - t_ack);
    let rtx = d.recv_all();
    assert_eq!(rtx[0].seq, sseq.wrapping_add(2 * mss));
    assert_eq!(d.stack.stats().rto_expiries, 1);
    assert_eq!(d.stack.stats().tlp_probes, 0);
}

/// RFC 8985 §6.2: a retransmission that is itself lost is detected when a segment sent
/// after it is delivered and one RTT has passed, and sent a third time, without an RTO.
#[test]
fn lost_retransmission_is_detected_and_resent_without_rto() {
    let (mut d, id, rseq, sseq) = established(true);
    let mss = send_segments(&mut d, id, 6);
    // Segment 0 lost; 1–4 SACKed one RTT later: recovery, segment 0 resent.
    let t1 = d.now + RTT;
    d.at(t1);
    d.send(
        ACK,
        rseq,
        sseq,
        WND,
        &sack(&[(sseq.wrapping_add(mss), sseq.wrapping_add(5 * mss))]),
        &[],
    );
    let rtx = d.recv_all();
    assert_eq!(rtx.len(), 1, "{rtx:#?}");
    assert_eq!(rtx[0].seq, sseq, "first retransmission");
    assert_eq!(d.stack.stats().fast_retransmits, 1);
    // The application writes one more segment; it goes out after the retransmission.
    let now = d.now;
    d.stack.send(now, id, &[6u8; MSS]);
    let new = d.recv_one();
    assert_eq!(new.seq, sseq.wrapping_add(6 * mss));
    // One RTT later everything but segment 0 is SACKed: the new segment, sent after
    // the retransmission, arrived; the retransmission did not. It is lost too.
    let t2 = t1 + RTT;
    d.at(t2);
    d.send(
        ACK,
        rseq,
        sseq,
        WND,
        &sack(&[(sseq.wrapping_add(mss), sseq.wrapping_add(7 * mss))]),
        &[],
    );
    let again = d.recv_all();
    assert!(!again.is_empty(), "lost retransmission not resent");
    assert_eq!(again[0].seq, sseq, "segment 0 a third time");
    assert_eq!(d.stack.stats().lost_retransmits, 1);
    assert_eq!(d.stack.stats().rto_expiries, 0);
    assert_eq!(d.stack.stats().fast_retransmits, 1, "same recovery episode");
    ack(&mut d, rseq, sseq.wrapping_add(7 * mss));
    assert_eq!(d.stack.send_queue(id), 0);
}

/// RFC 8985 §6.2 step 4: before any reordering was seen and below DupThresh, one SACK
/// above a hole does not mark it lost at once: the hole may be reordering. If the
/// missing segment arrives within the reordering window (min_RTT / 4), nothing is resent.
#[test]
fn reordering_within_reo_wnd_is_not_a_loss() {
    let (mut d, id, rseq, sseq) = established(true);
    let mss = send_segments(&mut d, id, 3);
    let t1 = d.now + RTT;
    d.at(t1);
    d.send(
        ACK,
        rseq,
        sseq,
        WND,
        &sack(&[(sseq.wrapping_add(mss), sseq.wrapping_add(2 * mss))]),
        &[],
    );
    d.recv_none();
    // Segment 0 was only late: it arrives 2 ms later.
    let t = t1 + Duration::from_millis(2);
    d.at(t);
    ack(&mut d, rseq, sseq.wrapping_add(2 * mss));
    d.recv_none();
    assert_eq!(d.stack.stats().retransmits, 0);
    assert_eq!(d.stack.stats().fast_retransmits, 0);
    assert_eq!(d.stack.stats().rack_lost, 0);
}

/// RFC 3042: with the congestion window full, each of the first two duplicate ACKs lets
/// one new segment out, so that the window still produces enough duplicates.
#[test]
fn limited_transmit_sends_new_data_on_the_first_two_dupacks() {
    let (mut d, id, rseq, sseq) = established(true);
    // Fill the initial window (10 segments) with more queued behind it.
    let now = d.now;
    d.stack.send(now, id, &vec![5u8; MSS * 14]);
    let segs = d.recv_all();
    let mss = segs[0].payload.len() as u32;
    let iw = segs.len() as u32;
    assert!(iw < 14, "window limited: {iw}");
    let t1 = d.now + RTT;
    d.at(t1);
    for k in 1..=2u32 {
        d.send(
            ACK,
            rseq,
            sseq,
            WND,
            &sack(&[(sseq.wrapping_add(mss), sseq.wrapping_add((k + 1) * mss))]),
            &[],
        );
        let out = d.recv_all();
        assert_eq!(out.len(), 1, "dupack {k}: {out:#?}");
        assert_eq!(
            out[0].seq,
            sseq.wrapping_add((iw + k - 1) * mss),
            "new data"
        );
    }
    assert_eq!(d.stack.stats().retransmits, 0);
}

/// The RTO of these dialogues: SRTT 20 ms and RTTVAR ≤ 10 ms give `SRTT + 4·RTTVAR`
/// ≤ 60 ms, raised to the RFC 6298 §2.4 minimum.
const RTO: Duration = Duration::from_millis(200);

/// RFC 8985 §7.2: with a single segment in flight the PTO is `2·SRTT + WCDelAckT`
/// = 240 ms, later than the RTO (200 ms after the ACK that restarted it). `TLP_calc_PTO`
/// cuts it to the RTO's deadline: at that instant the tail is probed (the last segment
/// again, nothing new being queued) instead of timing out. No RTO is counted, the
/// window is not collapsed to the loss window while the probe is out, and the RTO
/// restarts one RTO after the probe. The probe's ACK then ends the episode as a repaired
/// loss (§7.4): one reduction to `max(0.7·FlightSize, 2·SMSS)`.
#[test]
fn single_tail_segment_is_probed_at_the_rto_deadline() {
    let (mut d, id, rseq, sseq) = established(true);
    let mss = send_segments(&mut d, id, 4);
    let iw = d.stack.cwnd(id).unwrap();
    assert_eq!(iw, 10 * u64::from(mss), "initial window");
    // The first three arrive; the last one is lost.
    let t_ack = d.now + RTT;
    d.at(t_ack);
    ack(&mut d, rseq, sseq.wrapping_add(3 * mss));
    d.recv_none();
    assert_eq!(
        d.stack.next_deadline(),
        Some(t_ack + RTO),
        "probe at the RTO"
    );
    let t = d.to_deadline();
    let probe = d.recv_one();
    assert_eq!(
        probe.seq,
        sseq.wrapping_add(3 * mss),
        "the tail is the probe"
    );
    assert_eq!(probe.payload.len() as u32, mss);
    let st = d.stack.stats();
    assert_eq!((st.tlp_probes, st.rto_expiries, st.retransmits), (1, 0, 1));
    assert_eq!(d.stack.cwnd(id), Some(iw), "no collapse to the loss window");
    assert_eq!(d.stack.next_deadline(), Some(t + RTO), "RTO restarted");
    // The probe arrives; its ACK covers everything.
    let t2 = t + RTT;
    d.at(t2);
    ack(&mut d, rseq, sseq.wrapping_add(4 * mss));
    d.recv_none();
    assert_eq!(d.stack.send_queue(id), 0);
    // §7.4: the episode counts as one repaired loss, cwnd reduced to ssthresh
    // = max(0.7·FlightSize, 2·SMSS) = 2·SMSS (the same ACK may then grow it a little
    // in congestion avoidance), well below the initial window.
    let cwnd = d.stack.cwnd(id).unwrap();
    let two = 2 * u64::from(mss);
    assert!(cwnd >= two && cwnd < two + u64::from(mss), "cwnd {cwnd}");
    let st = d.stack.stats();
    assert_eq!((st.tlp_probes, st.rto_expiries), (1, 0));
    assert_eq!(d.stack.next_deadline(), None, "nothing left to time");
}

/// RFC 8985 §7.2–7.3: only one probe may be outstanding. The single segment in flight
/// is lost, so is its probe (sent at the RTO deadline, which it restarts): the RTO fires
/// one RTO after the probe, resends from SND.UNA, and backs off (RFC 6298 §5.5); no
/// second probe is scheduled during the backoff.
#[test]
fn lost_probe_is_repaired_by_the_restarted_rto() {
    let (mut d, id, _rseq, sseq) = established(true);
    let t0 = d.now;
    let mss = send_segments(&mut d, id, 1);
    assert_eq!(d.stack.next_deadline(), Some(t0 + RTO), "probe at the RTO");
    let t_probe = d.to_deadline();
    assert_eq!(t_probe, t0 + RTO);
    let probe = d.recv_one();
    assert_eq!((probe.seq, probe.payload.len() as u32), (sseq, mss));
    assert_eq!(d.stack.stats().tlp_probes, 1);
    assert_eq!(d.stack.stats().rto_expiries, 0);
    // The probe is lost as well: the restarted RTO fires.
    let t_rto = d.to_deadline();
    assert_eq!(t_rto, t_probe + RTO, "RTO one RTO after the probe");
    let rtx = d.recv_one();
    assert_eq!((rtx.seq, rtx.payload.len() as u32), (sseq, mss));
    let st = d.stack.stats();
    assert_eq!((st.tlp_probes, st.rto_expiries), (1, 1));
    assert_eq!(d.stack.cwnd(id), Some(u64::from(mss)), "loss window");
    // Backed off: the next timeout comes two RTOs later, again an RTO, not a probe.
    let t_rto2 = d.to_deadline();
    assert_eq!(t_rto2, t_rto + RTO * 2, "doubled RTO");
    assert_eq!(d.recv_one().seq, sseq);
    let st = d.stack.stats();
    assert_eq!((st.tlp_probes, st.rto_expiries), (1, 2));
}
