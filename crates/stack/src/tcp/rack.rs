//! RFC 8985 RACK-TLP: time-based loss detection (RACK, §6) and the tail loss probe
//! (TLP, §7), used when SACK (RFC 2018) was negotiated.
//!
//! The sender keeps one record per transmitted segment (RFC 8985 §6.1: `Segment.xmit_ts`,
//! `Segment.end_seq`, whether it was retransmitted, SACKed or marked lost), sorted by
//! sequence number and covering `[SND.UNA, SND.MAX)`. A retransmission updates the
//! records it covers (splitting them at its edges); new data appends one.
//!
//! RACK (§6.2) remembers the most recently *sent* segment that was delivered
//! (`RACK.xmit_ts`, `RACK.end_seq`) and the RTT measured on it (`RACK.rtt`); any
//! segment still unacknowledged that was sent earlier by more than the reordering window
//! (`RACK.reo_wnd`) and whose `xmit_ts + RACK.rtt + RACK.reo_wnd` has passed is lost.
//! Because the rule is about send *times*, it also finds lost retransmissions: a
//! retransmission sent before some later-delivered segment is lost like any other.
//! Segments not yet old enough arm the reordering timer (§6.3).
//!
//! TLP (§7) sends one probe `PTO = 2·SRTT` after the last transmission when the tail of
//! a flight may be lost: new data if there is any (§7.3), else the last segment again.
//! The probe's SACK lets RACK repair the tail without the retransmission timer. A PTO
//! that would come after the pending RTO is cut to the RTO's deadline (§7.2): at that
//! instant the probe is sent instead of the timeout and the RTO restarts, so a lost
//! single tail segment (PTO `2·SRTT + WCDelAckT`) costs one probe, not a timeout with
//! its cwnd collapse and backoff. Only if the probe is lost too does the RTO fire.

use std::collections::VecDeque;

use smoltcp::time::{Duration, Instant};
use smoltcp::wire::TcpSeqNumber;

use super::cc::CongestionEvent;
use super::conn::Conn;
use super::input::Ctx;
use super::seq;
use super::timer::TimerKind;

/// RFC 8985 §7.2 `WCDelAckT`: the worst-case delayed-ACK time added to the PTO when only
/// one segment is in flight (its ACK may be delayed).
pub const WC_DEL_ACK: Duration = Duration::from_millis(200);

/// PTO when no RTT sample exists yet (RFC 8985 §7.2: 1 second).
pub const PTO_NO_RTT: Duration = Duration::from_secs(1);

/// RFC 8985 §6.1 per-segment state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Sent {
    start: TcpSeqNumber,
    /// `Segment.end_seq`: one past the last sequence number (FIN included).
    end: TcpSeqNumber,
    /// `Segment.xmit_ts`: the latest (re)transmission.
    xmit: Instant,
    /// `Segment.retransmitted`.
    rtx: bool,
    /// Selectively acknowledged.
    sacked: bool,
    /// Marked lost and not retransmitted since (`Segment.lost`).
    lost: bool,
}

impl Sent {
    fn len(&self) -> u32 {
        seq::dist(self.end, self.start)
    }
}

/// RFC 8985 §6.2 `RACK_sent_after(t1, seq1, t2, seq2)`: sent later, ties broken by
/// sequence (segments sent in the same instant go out in sequence order).
fn sent_after(t1: Instant, seq1: TcpSeqNumber, t2: Instant, seq2: TcpSeqNumber) -> bool {
    t1 > t2 || (t1 == t2 && seq::gt(seq1, seq2))
}

/// What a loss-detection pass found (RFC 8985 §6.2 step 5).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Detected {
    /// Segments newly marked lost.
    pub lost: u32,
    /// How many of them were retransmissions (a lost retransmission).
    pub lost_rtx: u32,
    /// When to look again: the reordering timer (§6.3), if some segment may still be
    /// merely reordered.
    pub recheck: Option<Duration>,
}

/// RACK-TLP sender state of one connection.
#[derive(Debug, Clone)]
pub struct Rack {
    segs: VecDeque<Sent>,
    /// `RACK.xmit_ts` of the most recently sent delivered segment (valid with
    /// `delivered`).
    xmit_ts: Instant,
    /// `RACK.end_seq` of that segment.
    end_seq: TcpSeqNumber,
    /// `RACK.fack`: the highest end sequence delivered.
    fack: TcpSeqNumber,
    /// Something was delivered: `xmit_ts`, `end_seq` and `fack` are set.
    delivered: bool,
    /// `RACK.rtt`.
    rtt: Duration,
    /// `RACK.reord`: reordering was observed (§6.2 step 3).
    reord: bool,
    /// Bytes marked lost and not yet retransmitted.
    lost_bytes: u32,
    /// `TLP.end_seq` and `TLP.is_retrans` of the outstanding probe (§7.3).
    tlp: Option<(TcpSeqNumber, bool)>,
    /// The PTO fired: the output path sends the probe.
    probe_due: bool,
}

impl Default for Rack {
    fn default() -> Self {
        Rack {
            segs: VecDeque::new(),
            xmit_ts: Instant::ZERO,
            end_seq: TcpSeqNumber(0),
            fack: TcpSeqNumber(0),
            delivered: false,
            rtt: Duration::ZERO,
            reord: false,
            lost_bytes: 0,
            tlp: None,
            probe_due: false,
        }
    }
}

impl Rack {
    /// Forget all segments and losses (connection reset of the send side).
    pub fn clear(&mut self) {
        *self = Rack::default();
    }

    /// Number of segment records (for tests and bounds).
    pub fn records(&self) -> usize {
        self.segs.len()
    }

    /// Bytes marked lost and not retransmitted since (RFC 6675 pipe's "lost" term).
    pub fn lost_bytes(&self) -> u32 {
        self.lost_bytes
    }

    /// Whether reordering was observed (RFC 8985 §6.2 step 3).
    pub fn reordering_seen(&self) -> bool {
        self.reord
    }

    /// Split the record containing `at` strictly inside it into two.
    fn split_at(&mut self, at: TcpSeqNumber) {
        let Some(i) = self
            .segs
            .iter()
            .position(|s| seq::lt(s.start, at) && seq::lt(at, s.end))
        else {
            return;
        };
        let Some(s) = self.segs.get_mut(i) else {
            return;
        };
        let mut tail = *s;
        s.end = at;
        tail.start = at;
        self.segs.insert(i + 1, tail);
    }

    /// `[start, end)` was (re)transmitted at `now` (RFC 8985 §6.1: `xmit_ts` is the
    /// latest transmission; a retransmission clears the lost mark).
    pub fn on_send(&mut self, start: TcpSeqNumber, end: TcpSeqNumber, now: Instant) {
        if !seq::lt(start, end) {
            return;
        }
        let top = self.segs.back().map(|s| s.end);
        let fresh_from = match top {
            Some(top) if seq::lt(start, top) => {
                self.split_at(start);
                self.split_at(end);
                for s in self.segs.iter_mut() {
                    if seq::le(start, s.start) && seq::le(s.end, end) {
                        s.xmit = now;
                        s.rtx = true;
                        s.sacked = false;
                        if s.lost {
                            s.lost = false;
                            self.lost_bytes = self.lost_bytes.saturating_sub(s.len());
                        }
                    }
                }
                top
            }
            _ => start,
        };
        if seq::lt(fresh_from, end) {
            self.segs.push_back(Sent {
                start: fresh_from,
                end,
                xmit: now,
                rtx: false,
                sacked: false,
                lost: false,
            });
        }
    }

    /// RFC 8985 §6.2 steps 2–3 for one newly delivered segment.
    fn delivered(&mut self, s: Sent, now: Instant, min_rtt: Option<Duration>) {
        let rtt = now - s.xmit;
        if s.rtx && min_rtt.is_some_and(|m| rtt < m) {
            // Too quick to be the retransmission's own delivery: the original arrived.
            return;
        }
        if !self.delivered {
            self.delivered = true;
            self.rtt = rtt;
            self.xmit_ts = s.xmit;
            self.end_seq = s.end;
            self.fack = s.end;
            return;
        }
        if sent_after(s.xmit, s.end, self.xmit_ts, self.end_seq) {
            self.rtt = rtt;
            self.xmit_ts = s.xmit;
            self.end_seq = s.end;
        }
        if seq::lt(s.end, self.fack) {
            if !s.rtx {
                self.reord = true;
            }
        } else {
            self.fack = s.end;
        }
    }

    /// A SACK block `[l, r)` arrived (RFC 8985 §6.2 step 1 for selectively acknowledged
    /// segments).
    pub fn on_sack(
        &mut self,
        l: TcpSeqNumber,
        r: TcpSeqNumber,
        now: Instant,
        min_rtt: Option<Duration>,
    ) {
        if !seq::lt(l, r) {
            return;
        }
        self.split_at(l);
        self.split_at(r);
        let mut newly = Vec::new();
        for s in self.segs.iter_mut() {
            if seq::le(l, s.start) && seq::le(s.end, r) && !s.sacked {
                s.sacked = true;
                if s.lost {
                    s.lost = false;
                    self.lost_bytes = self.lost_bytes.saturating_sub(s.len());
                }
                newly.push(*s);
            }
        }
        newly.sort_by_key(|s| s.xmit);
        for s in newly {
            self.delivered(s, now, min_rtt);
        }
    }

    /// `SND.UNA` advanced to `una` (RFC 8985 §6.2 step 1 for cumulatively acknowledged
    /// segments).
    pub fn on_ack(&mut self, una: TcpSeqNumber, now: Instant, min_rtt: Option<Duration>) {
        let mut newly = Vec::new();
        while let Some(s) = self.segs.front_mut() {
            if seq::le(s.end, una) {
                let s = *s;
                self.segs.pop_front();
                if s.lost {
                    self.lost_bytes = self.lost_bytes.saturating_sub(s.len());
                }
                if !s.sacked {
                    newly.push(s);
                }
            } else {
                if seq::lt(s.start, una) {
                    // Partly acknowledged: keep the rest.
                    if s.lost {
                        let cut = seq::dist(una, s.start);
                        self.lost_bytes = self.lost_bytes.saturating_sub(cut);
                    }
                    s.start = una;
                }
                break;
            }
        }
        newly.sort_by_key(|s| s.xmit);
        for s in newly {
            self.delivered(s, now, min_rtt);
        }
        if let Some((end, false)) = self.tlp {
            if seq::ge(una, end) {
                self.tlp = None;
            }
        }
    }

    /// RFC 8985 §6.2 step 4: the reordering window. Zero when no reordering was seen and
    /// the connection is in recovery or has seen `DupThresh` duplicates
    /// (`dupthresh_reached`); otherwise `min(min_RTT / 4, SRTT)`.
    pub fn reo_wnd(
        &self,
        in_recovery: bool,
        dupthresh_reached: bool,
        min_rtt: Option<Duration>,
        srtt: Option<Duration>,
    ) -> Duration {
        if !self.reord && (in_recovery || dupthresh_reached) {
            return Duration::ZERO;
        }
        let quarter = min_rtt.map_or(Duration::ZERO, |m| m / 4);
        match srtt {
            Some(s) => quarter.min(s),
            None => quarter,
        }
    }

    /// RFC 8985 §6.2 step 5 (`RACK_detect_loss`): mark lost every unacknowledged segment
    /// sent before the most recently delivered one whose `xmit_ts + RACK.rtt + reo_wnd`
    /// lies in the past; report when the others (sent earlier, not yet old enough) are
    /// due (§6.3 reordering timer).
    pub fn detect_loss(&mut self, now: Instant, reo_wnd: Duration) -> Detected {
        let mut out = Detected::default();
        if !self.delivered {
            return out;
        }
        let (t, e) = (self.xmit_ts, self.end_seq);
        for s in self.segs.iter_mut() {
            if s.sacked || s.lost || !sent_after(t, e, s.xmit, s.end) {
                continue;
            }
            let due = s.xmit + self.rtt + reo_wnd;
            if due <= now {
                s.lost = true;
                self.lost_bytes = self.lost_bytes.saturating_add(s.len());
                out.lost += 1;
                if s.rtx {
                    out.lost_rtx += 1;
                }
            } else {
                let left = due - now;
                out.recheck = Some(out.recheck.map_or(left, |r| r.max(left)));
            }
        }
        out
    }

    /// Mark the first segment neither SACKed nor lost as lost (DupThresh without SACK
    /// information). Returns true if one was marked.
    pub fn mark_first_lost(&mut self) -> bool {
        let Some(s) = self.segs.iter_mut().find(|s| !s.sacked && !s.lost) else {
            return false;
        };
        s.lost = true;
        self.lost_bytes = self.lost_bytes.saturating_add(s.len());
        true
    }

    /// The first segment marked lost, `[start, end)`: the next retransmission.
    pub fn first_lost(&self) -> Option<(TcpSeqNumber, TcpSeqNumber)> {
        self.segs
            .iter()
            .find(|s| s.lost && !s.sacked)
            .map(|s| (s.start, s.end))
    }

    /// The last segment sent, `[start, end)` (RFC 8985 §7.3: what a probe retransmits
    /// when there is no new data).
    pub fn last_segment(&self) -> Option<(TcpSeqNumber, TcpSeqNumber)> {
        self.segs.back().map(|s| (s.start, s.end))
    }

    /// The retransmission timer expired (RFC 8985 §6.3 leaves the RTO to RFC 6298; our
    /// go-back-N resends everything from `SND.UNA`): SACK marks and lost marks are
    /// forgotten (RFC 2018 §8), as is a pending probe.
    pub fn on_rto(&mut self) {
        for s in self.segs.iter_mut() {
            s.sacked = false;
            s.lost = false;
        }
        self.lost_bytes = 0;
        self.tlp = None;
        self.probe_due = false;
    }

    // ---- TLP (RFC 8985 §7) ----

    /// RFC 8985 §7.2: `PTO = 2·SRTT`, plus `WCDelAckT` when a single segment is in
    /// flight; 1 s without an RTT sample. Never below `granularity`.
    pub fn pto(srtt: Option<Duration>, one_segment: bool, granularity: Duration) -> Duration {
        let base = match srtt {
            Some(s) => {
                s * 2
                    + if one_segment {
                        WC_DEL_ACK
                    } else {
                        Duration::ZERO
                    }
            }
            None => PTO_NO_RTT,
        };
        base.max(granularity)
    }

    /// Whether a probe may be scheduled (RFC 8985 §7.2): none is outstanding.
    pub fn may_schedule_probe(&self) -> bool {
        self.tlp.is_none() && !self.probe_due
    }

    /// The PTO fired (RFC 8985 §7.3): the next transmission opportunity sends a probe.
    pub fn on_pto(&mut self) {
        if self.tlp.is_none() {
            self.probe_due = true;
        }
    }

    /// Whether a probe is due.
    pub fn probe_due(&self) -> bool {
        self.probe_due
    }

    /// The probe went out, ending at `end`; `retransmission` if it resent old data
    /// (`TLP.end_seq`, `TLP.is_retrans`, RFC 8985 §7.3).
    pub fn probe_sent(&mut self, end: TcpSeqNumber, retransmission: bool) {
        self.probe_due = false;
        self.tlp = Some((end, retransmission));
    }

    /// Drop a due probe (nothing could be sent).
    pub fn cancel_probe(&mut self) {
        self.probe_due = false;
    }

    /// RFC 8985 §7.4: the ACK at `una` ended a TLP episode whose probe was a
    /// retransmission; without a DSACK telling otherwise, the probe repaired a loss and
    /// the congestion controller must hear of it. Returns true once per such episode.
    pub fn probe_repaired_loss(&mut self, una: TcpSeqNumber) -> bool {
        match self.tlp {
            Some((end, true)) if seq::ge(una, end) => {
                self.tlp = None;
                true
            }
            _ => false,
        }
    }

    /// A recovery episode started: it accounts for any loss the outstanding probe would
    /// have reported (RFC 8985 §7.4 applies only to episodes without recovery).
    pub fn recovery_started(&mut self) {
        self.tlp = None;
        self.probe_due = false;
    }
}

// ---- the engine's use of RACK-TLP ----

impl Conn {
    /// RACK-TLP runs when SACK was negotiated (RFC 8985 §2 requires SACK) and is enabled.
    pub(crate) fn rack_enabled(&self) -> bool {
        self.sack_ok && self.cfg.rack_tlp
    }

    /// Enter loss recovery (RFC 5681 §3.2, RFC 6675 §5, RFC 8985 §6.2): `recover` is
    /// `SND.MAX`, the window is cut once, the first retransmission goes out whatever the
    /// pipe.
    pub(crate) fn enter_recovery(&mut self, now: Instant, ctx: &mut Ctx<'_>) {
        self.rec.recover = Some(self.snd.max);
        self.rec.rtx_next = Some(self.snd.una);
        self.rec.rtx_una = true;
        let f = u64::from(self.flight());
        self.cc.on_congestion_event(now, CongestionEvent::Loss, f);
        ctx.stats.fast_retransmits += 1;
        self.rack.recovery_started();
        self.timers.stop(TimerKind::Probe);
    }

    /// RFC 8985 §6.2 steps 4–5 and §6.3: detect losses, arm or stop the reordering timer,
    /// and start recovery when something is lost.
    pub(crate) fn rack_detect(&mut self, now: Instant, ctx: &mut Ctx<'_>) {
        let smss = seq::len32(self.smss_data());
        let dupthresh =
            self.rec.dupacks >= 3 || self.scoreboard.sacked_bytes() >= smss.saturating_mul(3);
        let reo = self.rack.reo_wnd(
            self.rec.recover.is_some(),
            dupthresh,
            self.rtt.min_rtt(),
            self.rtt.srtt(),
        );
        let d = self.rack.detect_loss(now, reo);
        ctx.stats.rack_lost += u64::from(d.lost);
        ctx.stats.lost_retransmits += u64::from(d.lost_rtx);
        match d.recheck {
            Some(t) => {
                let t = t.max(self.rtt.config().granularity);
                self.timers.set(TimerKind::Reorder, now + t);
            }
            None => self.timers.stop(TimerKind::Reorder),
        }
        if self.rec.recover.is_some() || self.flight() == 0 {
            return;
        }
        if self.rack.lost_bytes() == 0 && self.rec.dupacks >= 3 {
            // RFC 5681 §3.2 DupThresh, still honoured (RFC 8985 §6.2 keeps it as a
            // trigger): duplicate ACKs without SACK blocks leave RACK nothing delivered to
            // judge by, so the segment at SND.UNA is taken as lost.
            if self.rack.mark_first_lost() {
                ctx.stats.rack_lost += 1;
            }
        }
        if self.rack.lost_bytes() > 0 {
            self.enter_recovery(now, ctx);
        }
    }

    /// RFC 8985 §7.4: the ACK ended a probe episode in which the probe retransmitted old
    /// data; the probe repaired a loss, so the congestion controller reduces once.
    pub(crate) fn rack_probe_ack(&mut self, now: Instant, flight_before: u64) {
        if self.rack.probe_repaired_loss(self.snd.una) && self.rec.recover.is_none() {
            self.cc
                .on_congestion_event(now, CongestionEvent::Loss, flight_before);
            let f = u64::from(self.flight());
            self.cc.on_recovery_exit(now, f);
        }
    }

    /// RFC 8985 §7.2: schedule the PTO after sending new data or on an ACK, unless in
    /// recovery, a probe is outstanding, the RTO is backing off, or nothing is in
    /// flight. A PTO later than the pending RTO is cut to the RTO's deadline
    /// (`TLP_calc_PTO`: "if (TCP_RTO_expiration() < Now() + PTO) PTO =
    /// TCP_RTO_expiration() - Now()"): the probe is sent at that instant instead of the
    /// timeout, which `on_timeout` then drops and `on_pto_timer` restarts.
    pub(crate) fn arm_pto(&mut self, now: Instant) {
        let allowed = self.rack_enabled()
            && self.rec.recover.is_none()
            && self.rec.retries == 0
            && self.flight() > 0
            && self.rack.may_schedule_probe();
        if !allowed {
            self.timers.stop(TimerKind::Probe);
            return;
        }
        let one = self.flight() <= seq::len32(self.smss_data());
        let pto = Rack::pto(self.rtt.srtt(), one, self.rtt.config().granularity);
        let at = match self.timers.get(TimerKind::Retransmit) {
            // The RTO would come first: probe at its deadline instead (a single tail
            // segment's PTO, 2·SRTT + WCDelAckT, usually lies past a 200 ms RTO).
            Some(rto) => rto.min(now + pto),
            None => now + pto,
        };
        self.timers.set(TimerKind::Probe, at);
    }

    /// The PTO fired (RFC 8985 §7.3). Returns true if a probe is now due.
    pub(crate) fn on_pto_timer(&mut self, now: Instant) -> bool {
        if self.rack_enabled()
            && self.rec.recover.is_none()
            && self.rec.retries == 0
            && self.flight() > 0
            && self.state.synchronized()
        {
            self.rack.on_pto();
            // The probe replaces a timeout due now; the RTO restarts after it.
            self.restart_rto(now);
            return self.rack.probe_due();
        }
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(v: i32) -> TcpSeqNumber {
        TcpSeqNumber(v)
    }

    fn ms(v: u64) -> Instant {
        Instant::from_millis(v as i64)
    }

    #[test]
    fn later_delivery_marks_earlier_segment_lost_after_reo_wnd() {
        let mut r = Rack::default();
        for i in 0..4 {
            r.on_send(s(i * 100), s(i * 100 + 100), ms(i as u64));
        }
        // Segment 1 SACKed at t = 21 (RTT 20 ms).
        r.on_sack(s(100), s(200), ms(21), Some(Duration::from_millis(20)));
        let d = r.detect_loss(ms(21), Duration::from_millis(5));
        // Segment 0 due at 0 + 20 + 5 = 25: not yet.
        assert_eq!(d.lost, 0);
        assert_eq!(d.recheck, Some(Duration::from_millis(4)));
        let d = r.detect_loss(ms(25), Duration::from_millis(5));
        assert_eq!(d.lost, 1);
        assert_eq!(r.first_lost(), Some((s(0), s(100))));
        assert_eq!(r.lost_bytes(), 100);
        // Segments 2 and 3 were sent after the delivered one: never lost by it.
        assert_eq!(r.detect_loss(ms(1000), Duration::ZERO).lost, 0);
    }

    #[test]
    fn lost_retransmission_is_detected() {
        let mut r = Rack::default();
        r.on_send(s(0), s(100), ms(0));
        r.on_send(s(100), s(200), ms(0));
        r.on_sack(s(100), s(200), ms(10), None);
        assert_eq!(r.detect_loss(ms(10), Duration::ZERO).lost, 1);
        r.on_send(s(0), s(100), ms(10));
        assert_eq!(r.lost_bytes(), 0);
        // New data after the retransmission is delivered; the retransmission is not.
        r.on_send(s(200), s(300), ms(11));
        r.on_sack(s(200), s(300), ms(21), Some(Duration::from_millis(10)));
        let d = r.detect_loss(ms(21), Duration::ZERO);
        assert_eq!((d.lost, d.lost_rtx), (1, 1));
        assert_eq!(r.first_lost(), Some((s(0), s(100))));
    }

    #[test]
    fn retransmission_splits_records_and_ack_trims() {
        let mut r = Rack::default();
        r.on_send(s(0), s(300), ms(0));
        r.on_send(s(100), s(200), ms(5));
        assert_eq!(r.records(), 3);
        r.on_ack(s(150), ms(6), None);
        assert_eq!(r.records(), 2);
        assert_eq!(r.last_segment(), Some((s(200), s(300))));
        r.on_sack(s(250), s(300), ms(7), None);
        assert_eq!(r.records(), 3);
    }

    #[test]
    fn reordering_widens_the_window() {
        let mut r = Rack::default();
        r.on_send(s(0), s(100), ms(0));
        r.on_send(s(100), s(200), ms(0));
        let min = Some(Duration::from_millis(8));
        assert_eq!(r.reo_wnd(true, false, min, min), Duration::ZERO);
        r.on_sack(s(100), s(200), ms(8), None);
        r.on_ack(s(200), ms(9), None);
        assert!(r.reordering_seen());
        assert_eq!(r.reo_wnd(true, false, min, min), Duration::from_millis(2));
    }

    #[test]
    fn pto_values() {
        let g = Duration::from_millis(1);
        let srtt = Some(Duration::from_millis(10));
        assert_eq!(Rack::pto(srtt, false, g), Duration::from_millis(20));
        assert_eq!(Rack::pto(srtt, true, g), Duration::from_millis(220));
        assert_eq!(Rack::pto(None, false, g), PTO_NO_RTT);
        assert_eq!(Rack::pto(Some(Duration::ZERO), false, g), g);
    }

    #[test]
    fn probe_episode() {
        let mut r = Rack::default();
        r.on_send(s(0), s(100), ms(0));
        assert!(r.may_schedule_probe());
        r.on_pto();
        assert!(r.probe_due());
        r.probe_sent(s(100), true);
        assert!(!r.may_schedule_probe());
        assert!(!r.probe_repaired_loss(s(50)));
        assert!(r.probe_repaired_loss(s(100)));
        assert!(r.may_schedule_probe());
    }
}
