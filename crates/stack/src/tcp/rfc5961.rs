//! RFC 5961 (blind in-window attacks) and the RFC 9293 §3.10.7.4 acceptability tests.

use smoltcp::time::{Duration, Instant};
use smoltcp::wire::TcpSeqNumber;

use super::seq;

/// RFC 9293 §3.10.7.4 first check, the four cases of segment acceptability.
pub fn segment_acceptable(
    seg_seq: TcpSeqNumber,
    seg_len: u32,
    rcv_nxt: TcpSeqNumber,
    rcv_wnd: u32,
) -> bool {
    let in_window = |s: TcpSeqNumber| seq::le(rcv_nxt, s) && seq::lt(s, seq::add(rcv_nxt, rcv_wnd));
    match (seg_len, rcv_wnd) {
        (0, 0) => seg_seq == rcv_nxt,
        (0, _) => in_window(seg_seq),
        (_, 0) => false,
        (n, _) => in_window(seg_seq) || in_window(seq::add(seg_seq, n - 1)),
    }
}

/// What to do with a RST in a synchronized state (RFC 5961 §3.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RstAction {
    /// `SEG.SEQ == RCV.NXT`: reset the connection.
    Reset,
    /// In the window but not exact: send a challenge ACK.
    Challenge,
    /// Outside the window: drop silently.
    Drop,
}

/// RFC 5961 §3.2 rules for a received RST.
pub fn rst_action(seg_seq: TcpSeqNumber, rcv_nxt: TcpSeqNumber, rcv_wnd: u32) -> RstAction {
    if seg_seq == rcv_nxt {
        RstAction::Reset
    } else if seq::lt(rcv_nxt, seg_seq) && seq::lt(seg_seq, seq::add(rcv_nxt, rcv_wnd.max(1))) {
        RstAction::Challenge
    } else {
        RstAction::Drop
    }
}

/// RFC 5961 §5.2: an ACK is acceptable if
/// `SND.UNA - MAX.SND.WND <= SEG.ACK <= SND.NXT` (SND.NXT here is our `SND.MAX`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AckCheck {
    /// Acceptable.
    Ok,
    /// Acknowledges data never sent: send an ACK and drop (RFC 9293 §3.10.7.4).
    TooNew,
    /// Older than any window the peer could hold: send a challenge ACK and drop.
    TooOld,
}

/// The RFC 5961 §5.2 ACK acceptability check.
pub fn ack_check(
    seg_ack: TcpSeqNumber,
    snd_una: TcpSeqNumber,
    snd_max: TcpSeqNumber,
    max_snd_wnd: u32,
) -> AckCheck {
    if seq::gt(seg_ack, snd_max) {
        AckCheck::TooNew
    } else if seq::lt(seg_ack, seq::sub(snd_una, max_snd_wnd.max(1))) {
        AckCheck::TooOld
    } else {
        AckCheck::Ok
    }
}

/// Stack-wide challenge-ACK rate limit (RFC 5961 §7): at most `limit` per second.
#[derive(Debug, Clone, Copy)]
pub struct ChallengeLimiter {
    limit: u32,
    window_start: Instant,
    sent: u32,
}

impl ChallengeLimiter {
    /// A limiter allowing `limit` challenge ACKs per second.
    pub fn new(limit: u32) -> Self {
        ChallengeLimiter {
            limit,
            window_start: Instant::ZERO,
            sent: 0,
        }
    }

    /// Whether one more challenge ACK may be sent at `now` (and count it).
    pub fn allow(&mut self, now: Instant) -> bool {
        if now >= self.window_start + Duration::from_secs(1) || now < self.window_start {
            self.window_start = now;
            self.sent = 0;
        }
        if self.sent < self.limit {
            self.sent += 1;
            true
        } else {
            false
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(v: i32) -> TcpSeqNumber {
        TcpSeqNumber(v)
    }

    #[test]
    fn acceptability_four_cases() {
        assert!(segment_acceptable(s(100), 0, s(100), 0));
        assert!(!segment_acceptable(s(101), 0, s(100), 0));
        assert!(segment_acceptable(s(150), 0, s(100), 100));
        assert!(!segment_acceptable(s(200), 0, s(100), 100));
        assert!(!segment_acceptable(s(100), 10, s(100), 0));
        assert!(segment_acceptable(s(95), 10, s(100), 100), "tail in window");
        assert!(!segment_acceptable(s(80), 10, s(100), 100));
        assert!(!segment_acceptable(s(200), 10, s(100), 100));
    }

    #[test]
    fn rst_rules() {
        assert_eq!(rst_action(s(100), s(100), 1000), RstAction::Reset);
        assert_eq!(rst_action(s(101), s(100), 1000), RstAction::Challenge);
        assert_eq!(rst_action(s(1100), s(100), 1000), RstAction::Drop);
        assert_eq!(rst_action(s(99), s(100), 1000), RstAction::Drop);
    }

    #[test]
    fn ack_rules() {
        assert_eq!(ack_check(s(150), s(100), s(200), 1000), AckCheck::Ok);
        assert_eq!(ack_check(s(201), s(100), s(200), 1000), AckCheck::TooNew);
        assert_eq!(ack_check(s(-1000), s(100), s(200), 1000), AckCheck::TooOld);
        assert_eq!(ack_check(s(-900), s(100), s(200), 1000), AckCheck::Ok);
    }

    #[test]
    fn limiter() {
        let mut l = ChallengeLimiter::new(2);
        let t = Instant::from_secs(10);
        assert!(l.allow(t));
        assert!(l.allow(t));
        assert!(!l.allow(t));
        assert!(l.allow(t + Duration::from_secs(1)));
    }
}
