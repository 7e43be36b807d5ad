//! RFC 5681 §3.1–3.2 (slow start, congestion avoidance, fast recovery) with the
//! RFC 6582 NewReno recovery episode and RFC 3465 appropriate byte counting.

use smoltcp::time::Instant;

use super::{cwnd_limited, initial_window, Algorithm, CongestionController, CongestionEvent};
use crate::tcp::rto::RttEstimator;

/// RFC 3465 §2.2: slow-start increase limit `L = 2*SMSS` per ACK.
const ABC_L_SEGMENTS: u64 = 2;

/// NewReno parameters.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct NewRenoConfig {
    /// Initial window in segments; `None` for the RFC 6928 formula.
    pub initial_window_segments: Option<u32>,
}

/// NewReno congestion controller.
#[derive(Debug, Clone)]
pub struct NewReno {
    mss: u64,
    initial_window: u64,
    cwnd: u64,
    ssthresh: u64,
    /// RFC 5681 §3.1 byte counting in congestion avoidance.
    bytes_acked: u64,
    /// The last event was an RTO and no new data was acknowledged since: a
    /// repeated timeout must not shrink ssthresh again (RFC 5681 §3.1, eq. 4 note).
    after_timeout: bool,
}

impl NewReno {
    /// A controller for a sender MSS of `mss` bytes.
    pub fn new(config: NewRenoConfig, mss: u16) -> Self {
        let iw = initial_window(mss, config.initial_window_segments);
        Self {
            mss: u64::from(mss.max(1)),
            initial_window: iw,
            cwnd: iw,
            ssthresh: u64::MAX,
            bytes_acked: 0,
            after_timeout: false,
        }
    }
}

impl CongestionController for NewReno {
    fn on_ack(&mut self, _now: Instant, bytes_acked: u64, _rtt: &RttEstimator, in_flight: u64) {
        self.after_timeout = false;
        if !cwnd_limited(self.cwnd, in_flight) {
            return;
        }
        if self.cwnd < self.ssthresh {
            // §3.1 eq. 2 with RFC 3465 L = 2*SMSS.
            self.cwnd = self
                .cwnd
                .saturating_add(bytes_acked.min(ABC_L_SEGMENTS * self.mss));
        } else {
            // §3.1: byte counting, one SMSS per window of acknowledged bytes.
            self.bytes_acked = self.bytes_acked.saturating_add(bytes_acked);
            if self.bytes_acked >= self.cwnd {
                self.bytes_acked -= self.cwnd;
                self.cwnd = self.cwnd.saturating_add(self.mss);
            }
        }
    }

    fn on_congestion_event(&mut self, _now: Instant, event: CongestionEvent, in_flight: u64) {
        let flight = match in_flight.min(self.cwnd) {
            0 => self.cwnd,
            f => f,
        };
        // §3.1 eq. 4: ssthresh = max(FlightSize / 2, 2*SMSS).
        let halved = (flight / 2).max(2 * self.mss);
        self.bytes_acked = 0;
        match event {
            CongestionEvent::Loss | CongestionEvent::Ecn => {
                self.after_timeout = false;
                self.ssthresh = halved;
                // §3.2 step 2 without the 3*SMSS inflation (see module doc).
                self.cwnd = self.ssthresh;
            }
            CongestionEvent::Timeout => {
                if !self.after_timeout {
                    self.ssthresh = halved;
                }
                self.after_timeout = true;
                // §3.1: loss window LW = 1 SMSS.
                self.cwnd = self.mss;
            }
        }
    }

    fn on_recovery_exit(&mut self, _now: Instant, _in_flight: u64) {
        // RFC 6582 §3.2 step 3, option (2): cwnd = ssthresh.
        if self.ssthresh != u64::MAX {
            self.cwnd = self.ssthresh;
        }
    }

    fn on_mss_update(&mut self, mss: u16) {
        self.mss = u64::from(mss.max(1));
        self.cwnd = self.cwnd.max(self.mss);
        if self.ssthresh != u64::MAX {
            self.ssthresh = self.ssthresh.max(2 * self.mss);
        }
    }

    fn window(&self) -> u64 {
        self.cwnd
    }

    fn ssthresh(&self) -> u64 {
        self.ssthresh
    }

    fn initial_window(&self) -> u64 {
        self.initial_window
    }

    fn algorithm(&self) -> Algorithm {
        Algorithm::NewReno
    }

    fn clone_box(&self) -> Box<dyn CongestionController> {
        Box::new(self.clone())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MSS: u64 = 1000;

    fn reno() -> NewReno {
        NewReno::new(NewRenoConfig::default(), MSS as u16)
    }

    /// Acknowledges one full window in MSS-sized ACKs, as one RTT of a cwnd-limited sender.
    fn ack_round(cc: &mut NewReno, rtt: &RttEstimator) {
        let w = cc.window();
        let mut acked = 0;
        while acked < w {
            let n = MSS.min(w - acked);
            cc.on_ack(Instant::ZERO, n, rtt, w);
            acked += n;
        }
    }

    #[test]
    fn slow_start_doubles_per_rtt() {
        let rtt = RttEstimator::default();
        let mut cc = reno();
        assert_eq!(cc.window(), 10 * MSS);
        ack_round(&mut cc, &rtt);
        assert_eq!(cc.window(), 20 * MSS);
        ack_round(&mut cc, &rtt);
        assert_eq!(cc.window(), 40 * MSS);
        assert!(cc.in_slow_start());
    }

    #[test]
    fn abc_limits_increase_per_ack() {
        let rtt = RttEstimator::default();
        let mut cc = reno();
        // One stretch ACK for 8 segments adds at most 2*SMSS.
        cc.on_ack(Instant::ZERO, 8 * MSS, &rtt, 10 * MSS);
        assert_eq!(cc.window(), 12 * MSS);
    }

    #[test]
    fn congestion_avoidance_adds_one_mss_per_window() {
        let rtt = RttEstimator::default();
        let mut cc = NewReno::new(
            NewRenoConfig {
                initial_window_segments: Some(40),
            },
            MSS as u16,
        );
        cc.on_congestion_event(Instant::ZERO, CongestionEvent::Loss, 40 * MSS);
        assert_eq!(cc.ssthresh(), 20 * MSS);
        assert_eq!(cc.window(), 20 * MSS);
        assert!(!cc.in_slow_start());
        for i in 1..=5 {
            ack_round(&mut cc, &rtt);
            assert_eq!(cc.window(), (20 + i) * MSS);
        }
    }

    #[test]
    fn loss_halves_flight_with_two_segment_floor() {
        let mut cc = reno();
        cc.on_congestion_event(Instant::ZERO, CongestionEvent::Ecn, 3 * MSS);
        assert_eq!(cc.ssthresh(), 2 * MSS);
        assert_eq!(cc.window(), 2 * MSS);
        cc.on_recovery_exit(Instant::ZERO, MSS);
        assert_eq!(cc.window(), 2 * MSS);
    }

    #[test]
    fn timeout_collapses_to_one_mss_then_slow_starts_to_ssthresh() {
        let rtt = RttEstimator::default();
        let mut cc = reno();
        cc.on_congestion_event(Instant::ZERO, CongestionEvent::Timeout, 10 * MSS);
        assert_eq!(cc.window(), MSS);
        assert_eq!(cc.ssthresh(), 5 * MSS);
        // A second RTO for the same data keeps ssthresh.
        cc.on_congestion_event(Instant::ZERO, CongestionEvent::Timeout, MSS);
        assert_eq!(cc.ssthresh(), 5 * MSS);
        ack_round(&mut cc, &rtt); // 1 -> 2
        ack_round(&mut cc, &rtt); // 2 -> 4
        assert_eq!(cc.window(), 4 * MSS);
        ack_round(&mut cc, &rtt); // 4 -> 5 = ssthresh, the rest counted in CA
        assert!(!cc.in_slow_start());
        let w = cc.window();
        ack_round(&mut cc, &rtt);
        assert_eq!(cc.window(), w + MSS);
    }

    #[test]
    fn application_limited_sender_does_not_grow() {
        let rtt = RttEstimator::default();
        let mut cc = reno();
        cc.on_ack(Instant::ZERO, MSS, &rtt, 2 * MSS);
        assert_eq!(cc.window(), 10 * MSS);
    }

    #[test]
    fn mss_update_keeps_window_at_least_one_segment() {
        let mut cc = reno();
        cc.on_congestion_event(Instant::ZERO, CongestionEvent::Timeout, 0);
        cc.on_mss_update(1400);
        assert_eq!(cc.window(), 1400);
        assert_eq!(cc.ssthresh(), 5 * MSS);
    }
}
