//! Per-connection timers (RFC 9293 §3.8, RFC 6298 §5, RFC 1122 §4.2.3.6, §4.2.2.17):
//! a kind enum and a fixed table; the connection's deadline is the table's minimum.

use smoltcp::time::Instant;

/// The timers of one connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TimerKind {
    /// Retransmission (RFC 6298), also used for SYN and FIN.
    Retransmit = 0,
    /// Zero-window probe (persist, RFC 9293 §3.8.6.1).
    Persist = 1,
    /// Delayed ACK (RFC 9293 §3.8.6.3, RFC 1122 §4.2.3.2).
    DelayedAck = 2,
    /// Keep-alive (RFC 1122 §4.2.3.6).
    KeepAlive = 3,
    /// TIME-WAIT 2*MSL and other terminal lingering (FIN-WAIT-2 timeout).
    Close = 4,
    /// RACK reordering timer (RFC 8985 §6.3): look for losses again once segments that
    /// may only be reordered have waited `RACK.rtt + RACK.reo_wnd`.
    Reorder = 5,
    /// Tail loss probe timeout, PTO (RFC 8985 §7.2).
    Probe = 6,
}

const N: usize = 7;

const KINDS: [TimerKind; N] = [
    TimerKind::Retransmit,
    TimerKind::Persist,
    TimerKind::DelayedAck,
    TimerKind::KeepAlive,
    TimerKind::Close,
    TimerKind::Reorder,
    TimerKind::Probe,
];

/// An unarmed slot (deadlines are kept as microseconds, 8 bytes a slot instead of the
/// 16 of an `Option<Instant>`: the table lives in every connection).
const UNSET: i64 = i64::MAX;

/// Fixed table of optional deadlines, one per [`TimerKind`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timers([i64; N]);

impl Default for Timers {
    fn default() -> Self {
        Timers([UNSET; N])
    }
}

fn slot_time(v: i64) -> Option<Instant> {
    (v != UNSET).then(|| Instant::from_micros(v))
}

/// An armed deadline; `Instant`s at the very end of time saturate just below [`UNSET`].
fn time_slot(at: Instant) -> i64 {
    at.total_micros().min(UNSET - 1)
}

impl Timers {
    /// Arm `kind` for `at`.
    pub fn set(&mut self, kind: TimerKind, at: Instant) {
        self.0[kind as usize] = time_slot(at);
    }

    /// Arm `kind` for `at` unless it is already armed.
    pub fn set_if_unset(&mut self, kind: TimerKind, at: Instant) {
        let slot = &mut self.0[kind as usize];
        if *slot == UNSET {
            *slot = time_slot(at);
        }
    }

    /// Disarm `kind`.
    pub fn stop(&mut self, kind: TimerKind) {
        self.0[kind as usize] = UNSET;
    }

    /// The deadline of `kind`.
    pub fn get(&self, kind: TimerKind) -> Option<Instant> {
        slot_time(self.0[kind as usize])
    }

    /// Whether `kind` is armed.
    pub fn is_set(&self, kind: TimerKind) -> bool {
        self.0[kind as usize] != UNSET
    }

    /// Disarm every timer.
    pub fn stop_all(&mut self) {
        self.0 = [UNSET; N];
    }

    /// The earliest deadline.
    pub fn next(&self) -> Option<Instant> {
        self.0.iter().copied().filter_map(slot_time).min()
    }

    /// Disarm and return the timers expired at `now`, earliest kind first.
    pub fn expired(&mut self, now: Instant) -> impl Iterator<Item = TimerKind> {
        let mut out = [None; N];
        for (i, k) in KINDS.iter().enumerate() {
            if matches!(slot_time(self.0[i]), Some(t) if t <= now) {
                self.0[i] = UNSET;
                out[i] = Some(*k);
            }
        }
        out.into_iter().flatten()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn min_and_expiry() {
        let mut t = Timers::default();
        assert_eq!(t.next(), None);
        t.set(TimerKind::KeepAlive, Instant::from_millis(50));
        t.set(TimerKind::Retransmit, Instant::from_millis(10));
        t.set_if_unset(TimerKind::Retransmit, Instant::from_millis(99));
        assert_eq!(t.next(), Some(Instant::from_millis(10)));
        let fired: Vec<_> = t.expired(Instant::from_millis(20)).collect();
        assert_eq!(fired, vec![TimerKind::Retransmit]);
        assert_eq!(t.next(), Some(Instant::from_millis(50)));
        t.stop(TimerKind::KeepAlive);
        assert_eq!(t.next(), None);
    }
}
