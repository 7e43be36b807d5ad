//! Segment generation (RFC 9293 §3.8.6, §3.10.7): SYN/SYN-ACK with options, data under
//! the peer window and the congestion window with Nagle and sender SWS avoidance, loss
//! recovery retransmissions (RFC 8985 RACK-marked losses, RFC 6675 holes, RFC 6582
//! without SACK), RFC 3042 limited transmit, RFC 8985 §7 tail loss probes, ACKs with SACK
//! blocks (RFC 2018 §4), probes, and RSTs.

use smoltcp::time::Instant;
use smoltcp::wire::TcpSeqNumber;

use super::conn::{Conn, State};
use super::input::Ctx;
use super::segment::{self, Flags, OutHeader};
use super::seq;
use super::timer::TimerKind;
use crate::wire::options::OutOptions;

impl Conn {
    /// Produce the next segment to send, if any, into `buf` (TCP header onwards).
    pub(crate) fn poll_segment(
        &mut self,
        now: Instant,
        buf: &mut [u8],
        ctx: &mut Ctx<'_>,
    ) -> Option<usize> {
        if let Some((sq, ack)) = self.pending_rst.take() {
            ctx.stats.rst_sent += 1;
            return self.emit_rst(buf, sq, ack);
        }
        match self.state {
            State::Closed => return None,
            State::SynSent if self.snd.nxt == self.snd.iss => {
                return self.send_syn(now, buf, false, ctx);
            }
            State::SynSent => return None,
            State::SynReceived if self.held => return None,
            State::SynReceived if self.snd.nxt == self.snd.iss => {
                return self.send_syn(now, buf, true, ctx);
            }
            _ => {}
        }
        // ACKs owed to earlier segments of a burst go first, oldest first.
        if let Some(ack) = self.take_owed_ack() {
            return self.send_owed_ack(now, buf, ack);
        }
        if matches!(
            self.state,
            State::Established
                | State::CloseWait
                | State::FinWait1
                | State::Closing
                | State::LastAck
        ) {
            if self.rack.probe_due() {
                if let Some(n) = self.send_probe(now, buf, ctx) {
                    return Some(n);
                }
            }
            if let Some(n) = self.send_data(now, buf, ctx) {
                return Some(n);
            }
        }
        if self.probe_now {
            self.probe_now = false;
            let sq = seq::sub(self.snd.una, 1);
            return self.send_ack(now, buf, Some(sq));
        }
        if self.ack_now {
            return self.send_ack(now, buf, None);
        }
        None
    }

    /// Our advertised window field (RFC 7323 §2.3 scaled; never shrinking the right edge).
    fn window_field(&mut self, syn: bool) -> u16 {
        let shift = if syn { 0 } else { self.rcv.shift };
        let mut wnd = self.free_window();
        let remaining = self.advertised_remaining();
        // Receiver SWS avoidance: do not announce small increases.
        if wnd > remaining && !self.window_opened() {
            wnd = remaining;
        }
        if wnd < remaining {
            wnd = remaining;
        }
        let unit = 1u32 << shift;
        let mut scaled = wnd.div_ceil(unit).min(0xffff);
        // Rounding up to the scale unit must not promise more than the ring holds: text
        // inside an advertised window is never dropped for lack of room. Where rounding up
        // would, round down instead (the edge below `rcv.adv` then only looks smaller to
        // the peer by less than one unit; `rcv.adv` itself never moves left).
        let room = seq::len32(self.recv_buf.free());
        if scaled.saturating_mul(unit) > room {
            scaled = (room / unit).min(0xffff);
        }
        let edge = seq::add(self.rcv.nxt, scaled << shift);
        self.rcv.adv = seq::max(self.rcv.adv, edge);
        u16::try_from(scaled).unwrap_or(u16::MAX)
    }

    fn ack_sent(&mut self) {
        self.ack_now = false;
        self.unacked_bytes = 0;
        self.timers.stop(TimerKind::DelayedAck);
    }

    fn send_syn(
        &mut self,
        now: Instant,
        buf: &mut [u8],
        with_ack: bool,
        ctx: &mut Ctx<'_>,
    ) -> Option<usize> {
        let ip_tcp = crate::wire::ip::header_len(&self.tuple.local.addr) + 20;
        let mss = u16::try_from(self.pmtu.saturating_sub(ip_tcp)).unwrap_or(u16::MAX);
        let (ws, sack, ts) = if with_ack {
            (
                self.ws_ok.then_some(self.rcv.shift),
                self.sack_ok,
                self.ts.enabled.then(|| (self.ts_now(now), self.ts.recent)),
            )
        } else {
            (
                self.cfg.window_scaling.then(|| self.our_shift()),
                self.cfg.sack,
                self.cfg.timestamps.then(|| (self.ts_now(now), 0)),
            )
        };
        let window = self.window_field(true);
        let eno = self.eno.as_ref().and_then(|e| e.syn_option());
        let mut opts = OutOptions {
            mss: Some(mss),
            window_scale: ws,
            sack_permitted: sack,
            timestamp: ts,
            sack_blocks: &[],
            eno,
        };
        opts.fit();
        let hdr = OutHeader {
            seq: self.snd.iss,
            ack: self.rcv.nxt,
            flags: Flags {
                syn: true,
                ack: with_ack,
                ..Flags::default()
            },
            window,
        };
        let n = segment::emit_with(buf, &self.tuple, &hdr, &opts, (&[], &[]), self.csum_partial)?;
        let nxt = seq::add(self.snd.iss, 1);
        self.snd.nxt = nxt;
        if seq::gt(nxt, self.snd.max) {
            self.snd.max = nxt;
        }
        if self.rec.retries == 0 {
            self.rec.rtt_probe = Some((nxt, now));
        } else {
            ctx.stats.retransmits += 1;
        }
        self.arm_rto(now);
        self.ack_sent();
        Some(n)
    }

    /// RFC 6675 pipe: bytes believed in the network.
    fn pipe(&self) -> u32 {
        let flight = self.flight();
        if self.rack_enabled() {
            // RFC 8985 §6.2: what RACK marked lost and was not resent has left the network.
            return flight
                .saturating_sub(self.scoreboard.sacked_bytes())
                .saturating_sub(self.rack.lost_bytes());
        }
        let sacked = if self.sack_ok {
            self.scoreboard.sacked_bytes()
        } else {
            self.rec
                .dupacks
                .saturating_mul(seq::len32(self.smss_data()))
        };
        let lost = match (self.sack_ok, self.scoreboard.high()) {
            (true, Some(high)) => {
                let from = self.rec.rtx_next.unwrap_or(self.snd.una);
                self.scoreboard
                    .unsacked_between(seq::max(from, self.snd.una), high)
            }
            _ => 0,
        };
        flight.saturating_sub(sacked).saturating_sub(lost)
    }

    /// The options of a non-SYN segment: timestamps (RFC 7323), the SACK blocks given
    /// (RFC 2018) and the ENO option while it is still sent (RFC 8547 §4.6), fitted to the
    /// 40-byte budget.
    fn segment_options<'a>(
        &self,
        now: Instant,
        sack_blocks: &'a [(TcpSeqNumber, TcpSeqNumber)],
    ) -> OutOptions<'a> {
        let mut opts = OutOptions {
            timestamp: self.ts.enabled.then(|| (self.ts_now(now), self.ts.recent)),
            sack_blocks,
            eno: self.eno.as_ref().and_then(|e| e.non_syn_option()),
            ..OutOptions::default()
        };
        opts.fit();
        opts
    }

    /// The SACK blocks our next segment reports (RFC 2018 §4; at most four, fewer if the
    /// options do not fit).
    fn sack_blocks(&self) -> Vec<(TcpSeqNumber, TcpSeqNumber)> {
        if self.sack_ok && !self.ooo.is_empty() {
            self.ooo.sack_blocks(4)
        } else {
            Vec::new()
        }
    }

    fn send_data(&mut self, now: Instant, buf: &mut [u8], ctx: &mut Ctx<'_>) -> Option<usize> {
        let sack_blocks = self.sack_blocks();
        let opts = self.segment_options(now, &sack_blocks);
        let max_payload = self.smss().saturating_sub(opts.buffer_len()).max(1);
        let data_end = self.data_end();
        let cwnd = u32::try_from(self.cc.window()).unwrap_or(u32::MAX);
        let wnd_edge = seq::add(self.snd.una, self.snd.wnd);
        let fin_pending = self.fin_queued && !self.fin_acked();

        // Choose what to send: (start, length, retransmission in recovery).
        let (start, len, recovery_rtx) = if self.rec.recover.is_some() {
            let pipe = self.pipe();
            let una = self.snd.una;
            // The first retransmission of a recovery (RFC 5681 §3.2 step 4, RFC 6675 §5
            // step 4) and NewReno's partial-ACK retransmission (RFC 6582 §3.2 step 4) go out
            // whatever the pipe: the reduced window may be below the data in flight.
            let rack_hole = if self.rack_enabled() {
                self.rack.first_lost()
            } else {
                None
            };
            let first_rtx = if self.rack_enabled() {
                self.rec.rtx_una && rack_hole.is_some()
            } else {
                self.rec.rtx_una && self.scoreboard.covering_end(una).is_none()
            };
            if pipe >= cwnd && !first_rtx {
                return None;
            }
            let hole = if self.rack_enabled() {
                // RFC 8985 §6.2: retransmit what RACK marked lost, lowest first.
                self.rec.rtx_una = false;
                rack_hole
            } else if first_rtx {
                self.rec.rtx_una = false;
                Some((una, seq::add(una, seq::len32(max_payload))))
            } else if self.sack_ok {
                let from = seq::max(self.rec.rtx_next.unwrap_or(una), una);
                self.scoreboard.next_hole(from)
            } else {
                None
            };
            match hole {
                Some((a, b)) if seq::lt(a, self.snd.max) => {
                    let b = seq::min(b, self.snd.max);
                    let avail = seq::dist(data_end, a) as usize;
                    let len = (seq::dist(b, a) as usize).min(max_payload).min(avail);
                    (a, len, true)
                }
                _ => {
                    let start = self.snd.max;
                    let usable = seq::dist(wnd_edge, start).min(cwnd.saturating_sub(pipe)) as usize;
                    let avail = seq::dist(data_end, start) as usize;
                    (start, avail.min(max_payload).min(usable), false)
                }
            }
        } else {
            let mut start = self.snd.nxt;
            if self.sack_ok {
                while let Some(e) = self.scoreboard.covering_end(start) {
                    start = e;
                }
                self.snd.nxt = start;
            }
            // RFC 3042 limited transmit: the first two duplicate ACKs each let one more
            // segment of new data out beyond cwnd, so that a small window still produces
            // the duplicates (or SACKs) that detect a loss.
            let limited = if start == self.snd.max {
                self.rec
                    .dupacks
                    .min(2)
                    .saturating_mul(seq::len32(max_payload))
            } else {
                0
            };
            let edge = seq::min(
                wnd_edge,
                seq::add(self.snd.una, cwnd.saturating_add(limited)),
            );
            let usable = u32::try_from(seq::diff(edge, start)).unwrap_or(0) as usize;
            let avail = seq::dist(data_end, start) as usize;
            (start, avail.min(max_payload).min(usable), false)
        };
        let avail = seq::dist(data_end, start) as usize;
        let fin = fin_pending && seq::le(start, data_end) && len == avail;
        let is_rtx = seq::lt(start, self.snd.max);
        if len == 0 && !fin {
            if avail > 0 && self.snd.wnd == 0 && self.flight() == 0 {
                let t = now + self.rtt.rto();
                self.timers.set_if_unset(TimerKind::Persist, t);
            }
            return None;
        }
        // A FIN already sent is only resent by retransmission logic.
        if len == 0 && fin && !is_rtx && seq::gt(self.snd.max, data_end) {
            return None;
        }
        if !is_rtx && !fin && len < max_payload {
            let half_window = seq::len32(len) >= self.snd.max_wnd / 2 && self.snd.max_wnd > 0;
            if len < avail {
                // Window-limited: sender SWS avoidance (RFC 9293 §3.8.6.2.1), overridden
                // when nothing is outstanding (else no ACK would ever reopen the window).
                if !half_window && self.flight() > 0 {
                    return None;
                }
            } else if self.cfg.nagle && self.flight() > 0 {
                // Nagle (RFC 9293 §3.7.4).
                return None;
            }
        }
        let (n, end) = self.emit_text(buf, start, len, fin, &opts)?;
        if is_rtx {
            ctx.stats.retransmits += 1;
            if let Some((pend, _)) = self.rec.rtt_probe {
                if seq::lt(start, pend) {
                    self.rec.rtt_probe = None;
                }
            }
        } else if self.rec.rtt_probe.is_none() {
            self.rec.rtt_probe = Some((end, now));
        }
        if recovery_rtx {
            self.rec.rtx_next = Some(end);
        } else {
            self.snd.nxt = end;
        }
        if seq::gt(end, self.snd.max) {
            self.snd.max = end;
        }
        if self.rack_enabled() {
            self.rack.on_send(start, end, now);
        }
        self.note_flight();
        self.arm_rto(now);
        if self.rack_enabled() && self.rec.recover.is_none() {
            self.arm_pto(now);
        }
        self.ack_sent();
        Some(n)
    }

    /// RFC 8985 §7.3: the tail loss probe. New data if there is any and the peer's
    /// window allows it (whatever cwnd says), else the last segment sent again; then the
    /// RTO restarts.
    fn send_probe(&mut self, now: Instant, buf: &mut [u8], ctx: &mut Ctx<'_>) -> Option<usize> {
        let sack_blocks = self.sack_blocks();
        let opts = self.segment_options(now, &sack_blocks);
        let max_payload = self.smss().saturating_sub(opts.buffer_len()).max(1);
        let data_end = self.data_end();
        let fin_pending = self.fin_queued && !self.fin_acked();
        let wnd_edge = seq::add(self.snd.una, self.snd.wnd);
        let top = self.snd.max;
        let avail = u32::try_from(seq::diff(data_end, top)).unwrap_or(0) as usize;
        let usable = u32::try_from(seq::diff(wnd_edge, top)).unwrap_or(0) as usize;
        let (start, len, fin) = if avail > 0 && usable > 0 {
            let len = avail.min(max_payload).min(usable);
            (top, len, fin_pending && len == avail)
        } else if let Some((a, b)) = self.rack.last_segment() {
            let data_top = seq::min(b, data_end);
            let a = seq::max(a, self.snd.una);
            let span = u32::try_from(seq::diff(data_top, a)).unwrap_or(0) as usize;
            let len = span.min(max_payload);
            let a = seq::sub(data_top, seq::len32(len));
            (a, len, fin_pending && seq::gt(b, data_end))
        } else {
            self.rack.cancel_probe();
            return None;
        };
        if len == 0 && !fin {
            self.rack.cancel_probe();
            return None;
        }
        let (n, end) = self.emit_text(buf, start, len, fin, &opts)?;
        let is_rtx = seq::lt(start, self.snd.max);
        ctx.stats.tlp_probes += 1;
        if is_rtx {
            ctx.stats.retransmits += 1;
            if let Some((pend, _)) = self.rec.rtt_probe {
                if seq::lt(start, pend) {
                    self.rec.rtt_probe = None;
                }
            }
        } else if self.snd.nxt == start {
            self.snd.nxt = end;
        }
        if seq::gt(end, self.snd.max) {
            self.snd.max = end;
        }
        self.rack.on_send(start, end, now);
        self.rack.probe_sent(self.snd.max, is_rtx);
        self.note_flight();
        self.restart_rto(now);
        self.ack_sent();
        Some(n)
    }

    /// One segment carrying `len` bytes of the send ring from `start` (and our FIN if
    /// `fin`), with the current ACK and window; returns its length and its end sequence.
    fn emit_text(
        &mut self,
        buf: &mut [u8],
        start: TcpSeqNumber,
        len: usize,
        fin: bool,
        opts: &OutOptions<'_>,
    ) -> Option<(usize, TcpSeqNumber)> {
        let offset = seq::dist(start, self.buf_seq) as usize;
        let window = self.window_field(false);
        let (p1, p2) = self.send_buf.slices(offset, len);
        let hdr = OutHeader {
            seq: start,
            ack: self.rcv.nxt,
            flags: Flags {
                ack: true,
                psh: len > 0 && offset + len == self.send_buf.len(),
                fin,
                ..Flags::default()
            },
            window,
        };
        let n = segment::emit_with(buf, &self.tuple, &hdr, opts, (p1, p2), self.csum_partial)?;
        Some((n, seq::add(start, seq::len32(len + usize::from(fin)))))
    }

    fn send_ack(
        &mut self,
        now: Instant,
        buf: &mut [u8],
        sq: Option<TcpSeqNumber>,
    ) -> Option<usize> {
        let sack_blocks = self.sack_blocks();
        let opts = self.segment_options(now, &sack_blocks);
        let window = self.window_field(false);
        let hdr = OutHeader {
            // RFC 9293's SND.NXT is our `snd.max`: after a retransmission timeout `snd.nxt`
            // goes back to SND.UNA (go-back-N), and an ACK with that sequence number would be
            // older than the peer's RCV.NXT, unacceptable there, its ACK field never read.
            seq: sq.unwrap_or(self.snd.max),
            ack: self.rcv.nxt,
            flags: Flags {
                ack: true,
                ..Flags::default()
            },
            window,
        };
        let n = segment::emit_with(buf, &self.tuple, &hdr, &opts, (&[], &[]), self.csum_partial)?;
        self.ack_sent();
        Some(n)
    }

    /// The oldest ACK owed to an earlier segment of a burst, removed from the queue.
    fn take_owed_ack(&mut self) -> Option<TcpSeqNumber> {
        if self.owed_len == 0 {
            return None;
        }
        let ack = self.owed_acks.first().copied();
        self.owed_acks.rotate_left(1);
        self.owed_len -= 1;
        ack
    }

    /// An immediate ACK owed to an earlier segment of a burst (see `Conn::owed_acks`): it
    /// acknowledges `ack`, what that segment left in order, with the SACK blocks known now
    /// and the right edge already advertised; the ACK due for the latest segment stays
    /// due.
    fn send_owed_ack(&mut self, now: Instant, buf: &mut [u8], ack: TcpSeqNumber) -> Option<usize> {
        let sack_blocks = self.sack_blocks();
        let opts = self.segment_options(now, &sack_blocks);
        let shift = self.rcv.shift;
        let room = u32::try_from(seq::diff(self.rcv.adv, ack)).unwrap_or(0);
        let window = u16::try_from(room >> shift).unwrap_or(u16::MAX);
        let hdr = OutHeader {
            seq: self.snd.max,
            ack,
            flags: Flags {
                ack: true,
                ..Flags::default()
            },
            window,
        };
        segment::emit_with(buf, &self.tuple, &hdr, &opts, (&[], &[]), self.csum_partial)
    }

    /// A RST `<SEQ=seq>` (with `<ACK=ack>` if given), no options.
    pub(crate) fn emit_rst(
        &self,
        buf: &mut [u8],
        sq: TcpSeqNumber,
        ack: Option<TcpSeqNumber>,
    ) -> Option<usize> {
        let hdr = OutHeader {
            seq: sq,
            ack: ack.unwrap_or(TcpSeqNumber(0)),
            flags: Flags {
                rst: true,
                ack: ack.is_some(),
                ..Flags::default()
            },
            window: 0,
        };
        segment::emit_with(
            buf,
            &self.tuple,
            &hdr,
            &OutOptions::default(),
            (&[], &[]),
            self.csum_partial,
        )
    }
}
