//! Timer expiry handlers: RFC 6298 §5 retransmission with backoff, RFC 9293 §3.8.6.1
//! zero-window probes, §3.8.6.3 delayed ACK, RFC 1122 §4.2.3.6 keep-alive, and the
//! TIME-WAIT / FIN-WAIT-2 lingering, and the RFC 8985 reordering timer (§6.3) and tail
//! loss probe timeout (§7.3).

use smoltcp::time::{Duration, Instant};

use super::cc::CongestionEvent;
use super::conn::{Conn, EndReason, State};
use super::input::Ctx;
use super::timer::TimerKind;

/// Upper bound on the persist interval (RFC 9293 §3.8.6.1 leaves it open).
const MAX_PERSIST: Duration = Duration::from_secs(60);

impl Conn {
    /// Fire every timer expired at `now`.
    pub(crate) fn on_timeout(&mut self, now: Instant, ctx: &mut Ctx<'_>) {
        let mut fired: Vec<TimerKind> = self.timers.expired(now).collect();
        // RFC 8985 §7.3: a PTO due with (or before) the RTO sends the probe instead.
        if fired.contains(&TimerKind::Probe) && self.on_pto_timer(now) {
            fired.retain(|k| !matches!(k, TimerKind::Retransmit | TimerKind::Probe));
        }
        for kind in fired {
            if self.state == State::Closed {
                return;
            }
            match kind {
                TimerKind::Retransmit => self.on_rto(now, ctx),
                TimerKind::Persist => {
                    let pending = !self.send_buf.is_empty() || self.fin_queued;
                    if self.snd.wnd == 0 && pending {
                        self.probe_now = true;
                        self.persist_backoff = self.persist_backoff.saturating_add(1);
                        let base = self.rtt.rto().total_micros();
                        let shift = self.persist_backoff.min(16);
                        let t =
                            Duration::from_micros(base.saturating_mul(1 << shift)).min(MAX_PERSIST);
                        self.timers.set(TimerKind::Persist, now + t);
                    }
                }
                TimerKind::DelayedAck => self.ack_now = true,
                TimerKind::KeepAlive => {
                    let Some(k) = self.cfg.keepalive else {
                        continue;
                    };
                    if !self.state.synchronized() {
                        continue;
                    }
                    if self.keepalive_probes >= k.count {
                        self.rst_on_end = true;
                        self.finish(EndReason::Timeout);
                        return;
                    }
                    self.probe_now = true;
                    self.keepalive_probes += 1;
                    self.timers.set(TimerKind::KeepAlive, now + k.interval);
                }
                TimerKind::Reorder => {
                    if self.rack_enabled() && self.state.synchronized() {
                        self.rack_detect(now, ctx);
                    }
                }
                // Handled above; a probe not possible now is simply dropped.
                TimerKind::Probe => {}
                TimerKind::Close => match self.state {
                    // A hole in what we received means the peer has data in flight to us
                    // and is retransmitting it, possibly at a backed-off RTO as long as
                    // this bound (RFC 6298 §2.5): not gone.
                    State::FinWait2 if !self.ooo.is_empty() => {
                        self.timers
                            .set(TimerKind::Close, now + self.cfg.fin_wait2_timeout);
                    }
                    State::TimeWait | State::FinWait2 => self.finish(EndReason::Closed),
                    // Held SYN never accepted nor refused.
                    State::SynReceived if self.held => self.finish(EndReason::Timeout),
                    _ => {}
                },
            }
        }
    }

    fn on_rto(&mut self, now: Instant, ctx: &mut Ctx<'_>) {
        match self.state {
            State::SynSent | State::SynReceived => {
                if self.held {
                    return;
                }
                self.rec.retries += 1;
                if self.rec.retries > self.cfg.max_syn_retransmits {
                    self.rst_on_end = self.state == State::SynReceived;
                    self.finish(EndReason::Timeout);
                    return;
                }
                ctx.stats.rto_expiries += 1;
                self.rtt.on_timeout();
                self.rec.rtt_probe = None;
                self.snd.nxt = self.snd.iss;
            }
            _ => {
                if self.flight() == 0 {
                    return;
                }
                self.rec.retries += 1;
                if self.rec.retries > self.cfg.max_retransmits {
                    self.rst_on_end = true;
                    self.finish(EndReason::Timeout);
                    return;
                }
                ctx.stats.rto_expiries += 1;
                self.rtt.on_timeout();
                let f = u64::from(self.flight());
                self.cc
                    .on_congestion_event(now, CongestionEvent::Timeout, f);
                // RFC 6582 §3.2 step 1 analogue: no fast retransmit for data sent before
                // the timeout.
                self.rec.recover = None;
                self.rec.dupacks = 0;
                self.rec.rtx_next = None;
                self.rec.rtx_una = false;
                self.rec.rtt_probe = None;
                // RFC 2018 §8: after a timeout, ignore SACK information (the receiver may
                // have reneged) and go back to SND.UNA.
                self.scoreboard.clear();
                self.rack.on_rto();
                self.timers.stop(TimerKind::Probe);
                self.timers.stop(TimerKind::Reorder);
                self.snd.nxt = self.snd.una;
                let t = now + self.rtt.rto();
                self.timers.set(TimerKind::Retransmit, t);
            }
        }
    }
}
