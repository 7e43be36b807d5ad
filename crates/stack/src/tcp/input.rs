//! Segment arrival (RFC 9293 §3.10.7): SYN-SENT processing, the acceptability test, RST
//! and SYN checks with RFC 5961 challenge ACKs, ACK processing (RFC 5681 §3.2 duplicate
//! ACKs, RFC 6582/6675 recovery entry, RFC 2018 SACK, RFC 8985 RACK loss detection),
//! segment text and FIN.

use smoltcp::time::{Duration, Instant};
use smoltcp::wire::TcpSeqNumber;

use super::conn::{Conn, EndReason, State, QUICKACKS};
use super::rfc5961::{self, AckCheck, ChallengeLimiter, RstAction};
use super::segment::Segment;
use super::seq;
use super::timer::TimerKind;
use crate::event::Event;
use crate::stats::Stats;

/// Stack-wide state a connection needs while processing.
pub(crate) struct Ctx<'a> {
    pub(crate) stats: &'a mut Stats,
    pub(crate) challenge: &'a mut ChallengeLimiter,
    pub(crate) time_wait: Duration,
}

impl Conn {
    /// RFC 9293 §3.10.7.2: a SYN arrived for a listener; this connection answers it.
    pub(crate) fn on_listen_syn(&mut self, now: Instant, seg: &Segment<'_>, hold: bool) {
        self.state = State::SynReceived;
        self.held = hold;
        self.announced = hold;
        self.rcv.irs = seg.seq;
        self.rcv.nxt = seq::add(seg.seq, 1);
        self.rcv.adv = self.rcv.nxt;
        self.apply_syn_options(seg);
        self.snd.wnd = u32::from(seg.window);
        self.snd.max_wnd = self.snd.wnd;
        self.snd.wl1 = seg.seq;
        self.snd.wl2 = self.snd.iss;
        if hold {
            // A held SYN that nobody answers must not pin a half-open slot forever.
            let t = now + self.cfg.syn_hold_timeout;
            self.timers.set(TimerKind::Close, t);
        }
        if let Some(e) = self.eno.as_mut() {
            e.on_segment(true, seg.ack, seg.opts.eno);
        }
        // SYN data is never taken (we ACK only the ISN; RFC 8547 §4.7 requires it for
        // SYN+ENO, and the peer retransmits otherwise).
        self.last_rx = now;
    }

    /// Negotiated options from the peer's SYN (RFC 9293 §3.7.1, RFC 7323 §2.2/§3.2,
    /// RFC 2018 §2).
    fn apply_syn_options(&mut self, seg: &Segment<'_>) {
        if let Some(m) = seg.opts.mss {
            self.peer_mss = m.max(64);
        }
        match seg.opts.window_scale {
            Some(ws) if self.cfg.window_scaling => {
                self.ws_ok = true;
                self.snd.shift = ws.min(14);
                self.rcv.shift = self.our_shift();
            }
            _ => {
                self.ws_ok = false;
                self.snd.shift = 0;
                self.rcv.shift = 0;
            }
        }
        self.sack_ok = self.cfg.sack && seg.opts.sack_permitted;
        match seg.opts.timestamp {
            Some((tsval, _)) if self.cfg.timestamps => {
                self.ts.enabled = true;
                self.ts.recent = tsval;
            }
            _ => self.ts.enabled = false,
        }
        let mss = u16::try_from(self.smss_data()).unwrap_or(u16::MAX);
        self.cc.on_mss_update(mss);
        if self.recv_buf.is_empty() && self.ooo.is_empty() {
            let cap = super::conn::recv_ring_capacity(self.cfg.recv_buffer, self.rcv.shift);
            self.recv_buf = super::ring::Ring::new(cap);
        }
    }

    /// Payload bytes in a full segment we receive: the MSS we announce (RFC 9293 §3.7.1,
    /// the path MTU less the headers) after the options every segment carries.
    pub(crate) fn rmss_data(&self) -> usize {
        let ip_tcp = crate::wire::ip::header_len(&self.tuple.local.addr) + 20;
        let ts = if self.ts.enabled { 12 } else { 0 };
        self.pmtu.saturating_sub(ip_tcp + ts).max(32)
    }

    /// Payload bytes in a full segment after the options every segment carries.
    pub(crate) fn smss_data(&self) -> usize {
        let ts = if self.ts.enabled { 12 } else { 0 };
        self.smss().saturating_sub(ts).max(32)
    }

    /// Whether an unacceptable segment gets its ACK (RFC 9293 §3.10.7.4): always for one
    /// carrying data, SYN or FIN; for a pure ACK at most once per
    /// [`OOW_ACK_INTERVAL`](super::conn::OOW_ACK_INTERVAL), so that two desynchronised
    /// ends cannot answer each other's ACKs forever.
    fn oow_ack_allowed(&mut self, now: Instant, seg: &Segment<'_>) -> bool {
        if !seg.payload.is_empty() || seg.syn || seg.fin {
            return true;
        }
        match self.last_oow_ack {
            Some(t) if now < t + super::conn::OOW_ACK_INTERVAL => false,
            _ => {
                self.last_oow_ack = Some(now);
                true
            }
        }
    }

    fn challenge_ack(&mut self, now: Instant, ctx: &mut Ctx<'_>) {
        if ctx.challenge.allow(now) {
            self.ack_now = true;
            ctx.stats.challenge_acks += 1;
        } else {
            ctx.stats.challenge_acks_limited += 1;
        }
    }

    fn established(&mut self, now: Instant) {
        self.state = if self.fin_queued {
            State::FinWait1
        } else {
            State::Established
        };
        self.emit(Event::Established);
        if self.rec.retries > 0 {
            self.rtt.on_syn_timeout_established();
        }
        self.rec.retries = 0;
        self.arm_keepalive(now);
    }

    /// Process one segment addressed to this connection (RFC 9293 §3.10.7.3–3.10.7.4).
    pub(crate) fn on_segment(&mut self, now: Instant, seg: &Segment<'_>, ctx: &mut Ctx<'_>) {
        if seg.opts.malformed {
            ctx.stats.bad_options += 1;
        }
        match self.state {
            State::Closed => return,
            State::SynSent => return self.on_segment_syn_sent(now, seg, ctx),
            _ => {}
        }
        self.last_rx = now;
        if self.state.synchronized() {
            self.arm_keepalive(now);
        }
        // A retransmitted SYN in SYN-RECEIVED: our SYN-ACK was lost; send it again.
        if self.state == State::SynReceived && seg.syn && !seg.ack && !seg.rst {
            if seg.seq == self.rcv.irs && !self.held {
                self.snd.nxt = self.snd.iss;
            }
            return;
        }
        // Simultaneous open (RFC 9293 §3.5 figure 8, line 6): the peer's SYN-ACK repeats its
        // SYN; take it as the ACK of ours.
        if self.state == State::SynReceived
            && seg.syn
            && seg.ack
            && !seg.rst
            && seg.seq == self.rcv.irs
        {
            if seq::lt(self.snd.una, seg.ack_number) && seq::le(seg.ack_number, self.snd.max) {
                if let Some(e) = self.eno.as_mut() {
                    e.on_segment(true, true, seg.opts.eno);
                }
                self.snd.una = seg.ack_number;
                self.snd.wl1 = seg.seq;
                self.snd.wl2 = seg.ack_number;
                self.snd.wnd = u32::from(seg.window);
                self.snd.max_wnd = self.snd.max_wnd.max(self.snd.wnd);
                self.rec.rtt_probe = None;
                self.timers.stop(TimerKind::Retransmit);
                self.established(now);
                self.ack_now = true;
            } else {
                self.pending_rst = Some((seg.ack_number, None));
            }
            return;
        }
        // PAWS (RFC 7323 §5.3), except for a disordered duplicate ACK (below).
        if !seg.rst {
            if let Some((tsval, _)) = seg.opts.timestamp {
                if self.ts.paws_rejects(tsval) && !self.is_disordered_dupack(seg, tsval) {
                    ctx.stats.out_of_window += 1;
                    self.ack_now = true;
                    return;
                }
            }
        }
        // First check: sequence acceptability.
        let wnd = self.advertised_remaining();
        let mut payload = seg.payload;
        let mut fin = seg.fin;
        let mut syn = seg.syn;
        let mut sq = seg.seq;
        // A pure ACK from a sender that filled our window sits exactly at its right edge:
        // RFC 9293's test (SEG.SEQ < RCV.NXT+RCV.WND) rejects it, and with it the only news of
        // what the peer received. Accepted, as Linux does (`tcp_sequence`: SEG.SEQ <= right
        // edge); it carries no text, so nothing lands beyond the window.
        let at_right_edge = seg.is_empty() && !seg.rst && seg.seq == self.rcv.adv;
        if !at_right_edge
            && !rfc5961::segment_acceptable(seg.seq, seq::len32(seg.len()), self.rcv.nxt, wnd)
        {
            if wnd == 0 && seg.seq == self.rcv.nxt {
                // Zero window: still process ACK and RST fields (RFC 9293 §3.10.7.4); a
                // window probe's data is dropped and answered with our (zero) window.
                if !seg.payload.is_empty() && !seg.rst {
                    self.ack_now = true;
                    ctx.stats.out_of_window += 1;
                }
                payload = &[];
                fin = false;
            } else {
                ctx.stats.out_of_window += 1;
                if !seg.rst {
                    if self.oow_ack_allowed(now, seg) {
                        self.ack_now = true;
                    } else {
                        ctx.stats.oow_acks_suppressed += 1;
                    }
                    if self.state == State::TimeWait && seg.fin {
                        self.timers.set(TimerKind::Close, now + ctx.time_wait);
                    }
                }
                return;
            }
        }
        // Second check: RST (RFC 5961 §3.2).
        if seg.rst {
            match rfc5961::rst_action(seg.seq, self.rcv.nxt, wnd) {
                RstAction::Reset => {
                    if self.state == State::TimeWait {
                        self.finish(EndReason::Closed);
                    } else if self.state == State::SynReceived && self.passive && !self.announced {
                        // RFC 9293 §3.10.7.4: back to LISTEN; nobody was told of it.
                        self.finish(EndReason::Aborted);
                    } else {
                        self.finish(EndReason::Reset);
                    }
                }
                RstAction::Challenge => self.challenge_ack(now, ctx),
                RstAction::Drop => ctx.stats.out_of_window += 1,
            }
            return;
        }
        // Trim the front to RCV.NXT and the tail to the window.
        if seq::lt(sq, self.rcv.nxt) {
            let mut skip = seq::dist(self.rcv.nxt, sq) as usize;
            if syn {
                syn = false;
                skip -= 1;
            }
            let cut = skip.min(payload.len());
            payload = payload.get(cut..).unwrap_or(&[]);
            if skip > cut {
                fin = false;
            }
            sq = self.rcv.nxt;
        }
        let room = seq::dist(self.rcv.adv, sq) as usize;
        if payload.len() > room {
            payload = payload.get(..room).unwrap_or(&[]);
            fin = false;
        }
        // Fourth check: SYN in a synchronized state (RFC 5961 §4.2).
        if syn {
            self.challenge_ack(now, ctx);
            return;
        }
        // Fifth check: ACK.
        if !seg.ack {
            return;
        }
        if let Some(e) = self.eno.as_mut() {
            e.on_segment(seg.syn, seg.ack, seg.opts.eno);
        }
        if self.state == State::SynReceived {
            if seq::lt(self.snd.una, seg.ack_number) && seq::le(seg.ack_number, self.snd.max) {
                self.established(now);
                self.snd.wl1 = seg.seq;
                self.snd.wl2 = seg.ack_number;
                self.snd.wnd = u32::from(seg.window) << self.snd.shift;
                self.snd.max_wnd = self.snd.max_wnd.max(self.snd.wnd);
            } else {
                self.pending_rst = Some((seg.ack_number, None));
                return;
            }
        }
        match rfc5961::ack_check(seg.ack_number, self.snd.una, self.snd.max, self.snd.max_wnd) {
            AckCheck::Ok => {}
            AckCheck::TooNew => {
                ctx.stats.bad_ack += 1;
                self.ack_now = true;
                return;
            }
            AckCheck::TooOld => {
                ctx.stats.bad_ack += 1;
                self.challenge_ack(now, ctx);
                return;
            }
        }
        // RFC 7323 §4.3: TS.Recent from segments covering Last.ACK.sent.
        if self.ts.enabled {
            if let Some((tsval, _)) = seg.opts.timestamp {
                // Never backwards: a disordered duplicate ACK passed PAWS with an older TSval.
                if seq::le(seg.seq, self.rcv.nxt) && !self.ts.paws_rejects(tsval) {
                    self.ts.recent = tsval;
                }
            }
        }
        self.process_ack(now, seg, ctx);
        match self.state {
            State::FinWait1 if self.fin_acked() => {
                self.state = State::FinWait2;
                let t = now + self.cfg.fin_wait2_timeout;
                self.timers.set(TimerKind::Close, t);
            }
            State::Closing if self.fin_acked() => {
                self.enter_time_wait(now, ctx.time_wait);
                return;
            }
            State::LastAck if self.fin_acked() => {
                self.finish(EndReason::Closed);
                return;
            }
            State::TimeWait => {
                if fin {
                    self.ack_now = true;
                    self.timers.set(TimerKind::Close, now + ctx.time_wait);
                }
                return;
            }
            _ => {}
        }
        // Seventh: segment text.
        if !payload.is_empty()
            && matches!(
                self.state,
                State::Established | State::FinWait1 | State::FinWait2
            )
        {
            self.process_text(now, sq, payload, seg.psh, ctx);
            if self.state == State::FinWait2 {
                // The FIN-WAIT-2 bound is for a peer that went quiet; this one is talking.
                let t = now + self.cfg.fin_wait2_timeout;
                self.timers.set(TimerKind::Close, t);
            }
        }
        // Eighth: FIN.
        if fin && self.peer_fin.is_none() {
            self.peer_fin = Some(seq::add(sq, seq::len32(payload.len())));
        }
        self.check_fin(now, ctx);
    }

    fn on_segment_syn_sent(&mut self, now: Instant, seg: &Segment<'_>, ctx: &mut Ctx<'_>) {
        if seg.ack
            && (seq::le(seg.ack_number, self.snd.iss) || seq::gt(seg.ack_number, self.snd.max))
        {
            ctx.stats.bad_ack += 1;
            if !seg.rst {
                self.pending_rst = Some((seg.ack_number, None));
            }
            return;
        }
        if seg.rst {
            if seg.ack {
                self.finish(EndReason::Reset);
            }
            return;
        }
        if !seg.syn {
            return;
        }
        self.last_rx = now;
        if let Some(e) = self.eno.as_mut() {
            e.on_segment(true, seg.ack, seg.opts.eno);
            if !seg.payload.is_empty() && e.must_discard_syn_data(seg.opts.eno) {
                ctx.stats.eno_syn_data_discarded += 1;
            }
        }
        self.rcv.irs = seg.seq;
        self.rcv.nxt = seq::add(seg.seq, 1);
        self.rcv.adv = self.rcv.nxt;
        self.apply_syn_options(seg);
        self.snd.wnd = u32::from(seg.window);
        self.snd.max_wnd = self.snd.wnd;
        self.snd.wl1 = seg.seq;
        self.snd.wl2 = seg.ack_number;
        if seg.ack {
            self.snd.una = seg.ack_number;
            if let Some((end, t)) = self.rec.rtt_probe.take() {
                if seq::ge(seg.ack_number, end) && self.rec.retries == 0 {
                    self.rtt.on_sample(now - t);
                }
            }
            self.established(now);
            self.timers.stop(TimerKind::Retransmit);
            self.ack_now = true;
            // SYN-ACK data is not taken (only the ISN is acknowledged); a FIN on an empty
            // SYN-ACK is.
            if seg.fin && seg.payload.is_empty() {
                self.peer_fin = Some(self.rcv.nxt);
                self.check_fin(now, ctx);
            }
        } else {
            // Simultaneous open (RFC 9293 §3.5 figure 8): answer with SYN-ACK.
            self.state = State::SynReceived;
            self.snd.nxt = self.snd.iss;
        }
    }

    /// A pure duplicate ACK that was overtaken by a later segment: it fails PAWS only because
    /// of reordering, cannot carry old data, and its SACK blocks are what loss recovery
    /// needs, so it is processed instead of dropped and answered (Linux does the same in
    /// `tcp_disordered_ack`): no payload, SYN or FIN; SEG.SEQ = RCV.NXT; SEG.ACK = SND.UNA;
    /// the window unchanged; and TSval behind TS.Recent by less than one RTO.
    fn is_disordered_dupack(&self, seg: &Segment<'_>, tsval: u32) -> bool {
        let behind_ms = u64::from(self.ts.recent.wrapping_sub(tsval));
        seg.ack
            && !seg.syn
            && !seg.fin
            && seg.payload.is_empty()
            && seg.seq == self.rcv.nxt
            && seg.ack_number == self.snd.una
            && (u32::from(seg.window) << self.snd.shift) == self.snd.wnd
            && behind_ms <= self.rtt.rto().total_millis()
    }

    fn process_ack(&mut self, now: Instant, seg: &Segment<'_>, ctx: &mut Ctx<'_>) {
        let ack = seg.ack_number;
        let smss = seq::len32(self.smss_data());
        let rack = self.rack_enabled();
        let min_rtt = self.rtt.min_rtt();
        if self.sack_ok {
            for (l, r) in seg.opts.sack_iter() {
                self.scoreboard.add(self.snd.una, self.snd.max, l, r);
                // The same validity test as the scoreboard's (inside what we sent).
                if rack && seq::lt(l, r) && seq::gt(r, self.snd.una) && seq::le(r, self.snd.max) {
                    self.rack
                        .on_sack(seq::max(l, self.snd.una), r, now, min_rtt);
                }
            }
        }
        let new_wnd = u32::from(seg.window) << self.snd.shift;
        let window_changed = new_wnd != self.snd.wnd;
        if seq::gt(ack, self.snd.una) {
            let flight_before = u64::from(self.flight());
            let acked = seq::dist(ack, self.snd.una);
            let data_acked = (seq::dist(ack, self.buf_seq) as usize).min(self.send_buf.len());
            // An emptied ring goes back to the stack's spare buffers (`Stack::settle`).
            self.send_buf.consume(data_acked);
            self.buf_seq = seq::add(self.buf_seq, seq::len32(data_acked));
            self.snd.una = ack;
            if seq::lt(self.snd.nxt, ack) {
                self.snd.nxt = ack;
            }
            self.scoreboard.advance(ack);
            if rack {
                self.rack.on_ack(ack, now, min_rtt);
                self.rack_probe_ack(now, flight_before);
            }
            let mut sampled = false;
            if let Some(sample) = seg.opts.timestamp.and_then(|(_, e)| self.ts.rtt(now, e)) {
                // RFC 7323 Appendix G: ExpectedSamples = ceil(FlightSize / (2 * SMSS)).
                let expected = self.flight().div_ceil(smss.saturating_mul(2).max(1));
                self.rtt.on_sample_scaled(sample, expected);
                sampled = true;
            }
            if let Some((end, t)) = self.rec.rtt_probe {
                if seq::ge(ack, end) {
                    if !sampled {
                        self.rtt.on_sample(now - t);
                        sampled = true;
                    }
                    self.rec.rtt_probe = None;
                }
            }
            if !sampled {
                self.rtt.reset_backoff();
            }
            self.rec.retries = 0;
            match self.rec.recover {
                Some(recover) if seq::ge(ack, recover) => {
                    self.rec.recover = None;
                    self.rec.rtx_next = None;
                    self.rec.rtx_una = false;
                    let f = u64::from(self.flight());
                    self.cc.on_recovery_exit(now, f);
                }
                Some(_) => {
                    // Partial ACK (RFC 6582 §3.2 step 4): the next hole starts here.
                    self.rec.rtx_una = !self.sack_ok;
                    let next = self.rec.rtx_next.map_or(ack, |n| seq::max(n, ack));
                    self.rec.rtx_next = Some(next);
                }
                None => {
                    // The window's use is judged by its peak, not by what this ACK left.
                    let used = flight_before.max(u64::from(self.flight_peak));
                    self.cc.on_ack(now, u64::from(acked), &self.rtt, used);
                }
            }
            self.rec.dupacks = 0;
            if self.flight() == 0 {
                self.timers.stop(TimerKind::Retransmit);
            } else {
                self.restart_rto(now);
            }
            if self.writable_wanted && self.send_buf.len() < self.cfg.send_buffer {
                self.writable_wanted = false;
                self.emit(Event::Writable);
            }
        } else if ack == self.snd.una
            && seg.payload.is_empty()
            && !seg.fin
            && !window_changed
            && self.flight() > 0
        {
            self.rec.dupacks += 1;
        }
        if rack {
            // RFC 8985 §6.2: time-based loss detection decides on recovery.
            if self.flight() > 0 {
                self.rack_detect(now, ctx);
            } else {
                self.timers.stop(TimerKind::Reorder);
            }
        } else if self.rec.recover.is_none()
            && self.flight() > 0
            && (self.rec.dupacks >= 3
                || (self.sack_ok && self.scoreboard.sacked_bytes() >= 3 * smss))
        {
            // RFC 5681 §3.2 / RFC 6675 §5: enter loss recovery.
            self.enter_recovery(now, ctx);
        }
        if rack {
            self.arm_pto(now);
        }
        // Window update (RFC 9293 §3.10.7.4, fifth check).
        if seq::lt(self.snd.wl1, seg.seq) || (self.snd.wl1 == seg.seq && seq::le(self.snd.wl2, ack))
        {
            self.snd.wnd = new_wnd;
            self.snd.max_wnd = self.snd.max_wnd.max(new_wnd);
            self.snd.wl1 = seg.seq;
            self.snd.wl2 = ack;
            if new_wnd == 0 {
                let t = now + self.rtt.rto();
                self.timers.set_if_unset(TimerKind::Persist, t);
            } else {
                self.timers.stop(TimerKind::Persist);
                self.persist_backoff = 0;
            }
        }
    }

    /// Linux quick-ACK mode (`tcp_enter_quickack_mode`): after out-of-order text, the next
    /// in-order segments are acknowledged one by one, so the sender in loss recovery gets
    /// its ACK clock (and SACK news) without waiting for delayed ACKs.
    fn process_text(
        &mut self,
        now: Instant,
        sq: TcpSeqNumber,
        payload: &[u8],
        psh: bool,
        ctx: &mut Ctx<'_>,
    ) {
        // Text goes into the receive ring at its offset from RCV.NXT (0 when in order).
        let base = self.recv_buf.len();
        let off = base + seq::dist(sq, self.rcv.nxt) as usize;
        let fits = self.recv_buf.capacity().saturating_sub(off);
        let payload = payload.get(..payload.len().min(fits)).unwrap_or(&[]);
        if payload.is_empty() {
            ctx.stats.ooo_dropped += 1;
            self.ack_now = true;
            return;
        }
        // An ACK already due (for an earlier segment of this burst) is not merged into
        // this segment's: it goes out on its own first.
        if self.ack_now {
            self.owe_ack(self.rcv.nxt);
        }
        if sq == self.rcv.nxt {
            self.recv_buf.write_at(off, payload);
            self.recv_buf.commit(payload.len());
            self.rcv.nxt = seq::add(self.rcv.nxt, seq::len32(payload.len()));
            if !self.ooo.is_empty() {
                let nxt = self.ooo.take_in_order(self.rcv.nxt);
                self.recv_buf.commit(seq::dist(nxt, self.rcv.nxt) as usize);
                self.rcv.nxt = nxt;
                // A hole was filled (or remains): ACK at once (RFC 5681 §4.2).
                self.ack_now = true;
                self.quickacks = QUICKACKS;
            }
            if self.quickacks > 0 {
                self.quickacks -= 1;
                self.ack_now = true;
            }
            // Delayed ACK (RFC 9293 §3.8.6.3, RFC 1122 §4.2.3.2, RFC 5681 §4.2): at least
            // every second full-sized segment, counted in bytes as Linux does
            // (`__tcp_ack_snd_check`: more than one `rcv_mss` unacknowledged), so a run of
            // small segments is not acknowledged two by two. PSH does not matter.
            let _ = psh;
            if payload.len() >= usize::from(self.rcv_mss) {
                let ours = self.rmss_data();
                self.rcv_mss = u16::try_from(payload.len().min(ours)).unwrap_or(u16::MAX);
            }
            self.unacked_bytes = self.unacked_bytes.saturating_add(seq::len32(payload.len()));
            match self.cfg.delayed_ack {
                Some(d) if self.unacked_bytes <= u32::from(self.rcv_mss) && !self.ack_now => {
                    self.timers.set_if_unset(TimerKind::DelayedAck, now + d);
                }
                _ => self.ack_now = true,
            }
            self.notify_readable();
        } else {
            let ring = &mut self.recv_buf;
            let nxt = self.rcv.nxt;
            let stored = self.ooo.insert(sq, payload.len(), |s, o, n| {
                let at = base + seq::dist(s, nxt) as usize;
                ring.write_at(at, payload.get(o..o + n).unwrap_or(&[]));
            });
            if stored.is_err() {
                ctx.stats.ooo_dropped += 1;
            }
            self.ack_now = true;
            self.quickacks = QUICKACKS;
        }
    }

    /// A segment arrived while an ACK acknowledging `ack` was due but not yet sent (the
    /// segments arrived together, in one burst before the next transmission): that ACK is
    /// owed on its own, up to [`OWED_ACKS`](super::conn::OWED_ACKS) per burst, beyond
    /// which they merge. Processing segments one at a time, as Linux does (GRO aside),
    /// each ACK that became due would have gone out before the next segment was read:
    /// one per out-of-order or hole-filling segment (RFC 5681 §4.2), one per segment in
    /// quick-ACK mode, one per second full-sized segment otherwise (RFC 9293 §3.8.6.3).
    fn owe_ack(&mut self, ack: TcpSeqNumber) {
        if let Some(slot) = self.owed_acks.get_mut(usize::from(self.owed_len)) {
            *slot = ack;
            self.owed_len += 1;
        }
    }

    fn check_fin(&mut self, now: Instant, ctx: &mut Ctx<'_>) {
        let Some(f) = self.peer_fin else { return };
        if self.eof || f != self.rcv.nxt {
            return;
        }
        self.rcv.nxt = seq::add(self.rcv.nxt, 1);
        self.eof = true;
        self.ack_now = true;
        self.emit(Event::PeerClosed);
        self.notify_readable();
        match self.state {
            State::SynReceived | State::Established => self.state = State::CloseWait,
            State::FinWait1 => self.state = State::Closing,
            State::FinWait2 => self.enter_time_wait(now, ctx.time_wait),
            _ => {}
        }
    }
}
