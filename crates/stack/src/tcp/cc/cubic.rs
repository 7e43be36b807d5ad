//! RFC 9438 — CUBIC for Fast and Long-Distance Networks.
//!
//! Window arithmetic is done in segments as `f64`, as in the RFC's equations;
//! the public window is in bytes. Slow start is RFC 5681 with RFC 3465 byte
//! counting (no HyStart++).

use smoltcp::time::Instant;

use super::{cwnd_limited, initial_window, Algorithm, CongestionController, CongestionEvent};
use crate::tcp::rto::RttEstimator;

/// RFC 9438 §5.1: `C = 0.4`.
pub const C: f64 = 0.4;
/// RFC 9438 §4.6: `β_cubic = 0.7`.
pub const BETA_CUBIC: f64 = 0.7;
/// RFC 9438 §4.3: `α_cubic = 3 (1 - β_cubic) / (1 + β_cubic)`.
pub const ALPHA_CUBIC: f64 = 3.0 * (1.0 - BETA_CUBIC) / (1.0 + BETA_CUBIC);

/// RFC 3465 §2.2: slow-start increase limit `L = 2*SMSS` per ACK.
const ABC_L_SEGMENTS: f64 = 2.0;

/// CUBIC parameters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CubicConfig {
    /// Initial window in segments; `None` for the RFC 6928 formula.
    pub initial_window_segments: Option<u32>,
    /// RFC 9438 §4.7 fast convergence (on by default).
    pub fast_convergence: bool,
}

impl Default for CubicConfig {
    fn default() -> Self {
        Self {
            initial_window_segments: None,
            fast_convergence: true,
        }
    }
}

/// CUBIC congestion controller.
#[derive(Debug, Clone)]
pub struct Cubic {
    config: CubicConfig,
    mss: f64,
    initial_window: u64,
    /// Congestion window in bytes (fractional growth kept).
    cwnd: f64,
    /// Slow-start threshold in bytes (`f64::INFINITY` until the first event).
    ssthresh: f64,
    /// `W_max` in segments: the window just before the last reduction (§4.7).
    w_max: f64,
    /// `cwnd_prior` in segments (§4.6), the Reno-friendly target for α switching.
    cwnd_prior: f64,
    /// Start of the current congestion avoidance stage (§4.2 `t_epoch`).
    t_epoch: Option<Instant>,
    /// `K` in seconds for the current epoch (§4.2 Figure 2).
    k: f64,
    /// `W_est` in segments (§4.3).
    w_est: f64,
    /// Last event was an RTO with no new data acknowledged since.
    after_timeout: bool,
}

impl Cubic {
    /// A controller for a sender MSS of `mss` bytes.
    pub fn new(config: CubicConfig, mss: u16) -> Self {
        let iw = initial_window(mss, config.initial_window_segments);
        Self {
            config,
            mss: f64::from(mss.max(1)),
            initial_window: iw,
            cwnd: iw as f64,
            ssthresh: f64::INFINITY,
            w_max: 0.0,
            cwnd_prior: 0.0,
            t_epoch: None,
            k: 0.0,
            w_est: 0.0,
            after_timeout: false,
        }
    }

    /// `W_max` in segments.
    pub fn w_max(&self) -> f64 {
        self.w_max
    }

    /// `K` in seconds of the current epoch (0 before the first congestion avoidance stage).
    pub fn k(&self) -> f64 {
        self.k
    }

    /// `W_est` in segments.
    pub fn w_est(&self) -> f64 {
        self.w_est
    }

    /// §4.2 Figure 1: `W_cubic(t) = C (t - K)^3 + W_max`, in segments, `t` in seconds
    /// since the start of the epoch.
    pub fn w_cubic(&self, t: f64) -> f64 {
        let d = t - self.k;
        C * d * d * d + self.w_max
    }

    fn cwnd_segments(&self) -> f64 {
        self.cwnd / self.mss
    }

    /// Starts a congestion avoidance epoch (§4.2): `cwnd_epoch` is the current window.
    fn start_epoch(&mut self, now: Instant) {
        let cwnd_epoch = self.cwnd_segments();
        self.t_epoch = Some(now);
        if self.w_max <= cwnd_epoch {
            // No reduction to recover from (slow start ended without loss, or the
            // window already passed W_max): the plateau is here.
            self.w_max = cwnd_epoch;
            self.k = 0.0;
        } else {
            // §4.2 Figure 2: K = cubic_root((W_max - cwnd_epoch) / C).
            self.k = ((self.w_max - cwnd_epoch) / C).cbrt();
        }
        // §4.3: W_est starts at cwnd_epoch.
        self.w_est = cwnd_epoch;
    }

    fn congestion_avoidance(&mut self, now: Instant, bytes_acked: u64, rtt: &RttEstimator) {
        let t_epoch = match self.t_epoch {
            Some(t) => t,
            None => {
                self.start_epoch(now);
                now
            }
        };
        let t = (now - t_epoch).total_micros() as f64 / 1e6;
        let rtt_s = rtt.srtt_or_initial().total_micros() as f64 / 1e6;
        let cwnd = self.cwnd_segments();
        let acked = bytes_acked as f64 / self.mss;

        // §4.3 Reno-friendly estimate; α becomes 1 once W_est reaches cwnd_prior.
        let alpha = if self.w_est >= self.cwnd_prior {
            1.0
        } else {
            ALPHA_CUBIC
        };
        self.w_est += alpha * acked / cwnd;

        let w_cubic_now = self.w_cubic(t);
        let new_cwnd = if w_cubic_now < self.w_est {
            // §4.3: Reno-friendly region.
            self.w_est
        } else {
            // §4.4/§4.5: concave/convex; target = W_cubic(t + RTT) in [cwnd, 1.5 cwnd].
            let target = self.w_cubic(t + rtt_s).clamp(cwnd, 1.5 * cwnd);
            cwnd + (target - cwnd) / cwnd * acked
        };
        if new_cwnd > cwnd {
            self.cwnd = new_cwnd * self.mss;
        }
    }

    /// §4.6/§4.7: the multiplicative decrease common to loss and timeout.
    fn reduce(&mut self, in_flight: u64) {
        let cwnd = self.cwnd_segments();
        // §4.7 fast convergence: release bandwidth when the plateau keeps dropping.
        self.w_max = if self.config.fast_convergence && cwnd < self.w_max {
            cwnd * (1.0 + BETA_CUBIC) / 2.0
        } else {
            cwnd
        };
        self.cwnd_prior = cwnd;
        let flight = match (in_flight as f64).min(self.cwnd) {
            f if f > 0.0 => f,
            _ => self.cwnd,
        };
        // §4.6: ssthresh = flight_size * β_cubic, at least 2 segments.
        self.ssthresh = (flight * BETA_CUBIC).max(2.0 * self.mss);
        self.t_epoch = None;
    }
}

impl CongestionController for Cubic {
    fn on_ack(&mut self, now: Instant, bytes_acked: u64, rtt: &RttEstimator, in_flight: u64) {
        self.after_timeout = false;
        if !cwnd_limited(self.cwnd as u64, in_flight) {
            // §5.8: do not grow a window the application does not use; the epoch
            // clock keeps running so W_cubic does not jump afterwards.
            return;
        }
        if self.cwnd < self.ssthresh {
            let inc = (bytes_acked as f64).min(ABC_L_SEGMENTS * self.mss);
            self.cwnd += inc;
            self.t_epoch = None;
        } else {
            self.congestion_avoidance(now, bytes_acked, rtt);
        }
    }

    fn on_congestion_event(&mut self, _now: Instant, event: CongestionEvent, in_flight: u64) {
        match event {
            CongestionEvent::Loss | CongestionEvent::Ecn => {
                self.after_timeout = false;
                self.reduce(in_flight);
                // §4.6: cwnd = max(ssthresh, 2) on loss.
                self.cwnd = self.ssthresh;
            }
            CongestionEvent::Timeout => {
                // §4.8: reduce as on loss (once per series of timeouts), then LW = 1 SMSS.
                if !self.after_timeout {
                    self.reduce(in_flight);
                }
                self.after_timeout = true;
                self.t_epoch = None;
                self.cwnd = self.mss;
            }
        }
    }

    fn on_recovery_exit(&mut self, _now: Instant, _in_flight: u64) {
        // No inflation during recovery, so cwnd already equals ssthresh.
        if self.ssthresh.is_finite() && self.cwnd > self.ssthresh {
            self.cwnd = self.ssthresh;
        }
    }

    fn on_mss_update(&mut self, mss: u16) {
        let new = f64::from(mss.max(1));
        // Keep the window's size in segments.
        let scale = new / self.mss;
        self.cwnd = (self.cwnd * scale).max(new);
        if self.ssthresh.is_finite() {
            self.ssthresh = (self.ssthresh * scale).max(2.0 * new);
        }
        self.mss = new;
    }

    fn window(&self) -> u64 {
        self.cwnd as u64
    }

    fn ssthresh(&self) -> u64 {
        if self.ssthresh.is_finite() {
            self.ssthresh as u64
        } else {
            u64::MAX
        }
    }

    fn initial_window(&self) -> u64 {
        self.initial_window
    }

    fn algorithm(&self) -> Algorithm {
        Algorithm::Cubic
    }

    fn clone_box(&self) -> Box<dyn CongestionController> {
        Box::new(self.clone())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use smoltcp::time::Duration;

    const MSS: u64 = 1000;

    fn cubic() -> Cubic {
        Cubic::new(CubicConfig::default(), MSS as u16)
    }

    fn rtt_of(ms: u64) -> RttEstimator {
        let mut r = RttEstimator::default();
        r.on_sample(Duration::from_millis(ms));
        r
    }

    /// One RTT of a cwnd-limited sender: the whole window acknowledged in
    /// per-segment ACKs spread over the RTT. Returns the new `now`.
    fn ack_round(cc: &mut Cubic, now: Instant, rtt: &RttEstimator) -> Instant {
        let w = cc.window();
        let n = w.div_ceil(MSS).max(1);
        let step = rtt.srtt_or_initial() / (n as u32);
        let mut t = now;
        for _ in 0..n {
            t += step;
            cc.on_ack(t, MSS, rtt, w);
        }
        now + rtt.srtt_or_initial()
    }

    #[test]
    fn constants_match_rfc9438() {
        assert!((ALPHA_CUBIC - 0.529_411_764_7).abs() < 1e-9);
        assert_eq!(C, 0.4);
        assert_eq!(BETA_CUBIC, 0.7);
    }

    #[test]
    fn slow_start_doubles_per_rtt_until_first_loss() {
        let rtt = rtt_of(10);
        let mut cc = cubic();
        let mut now = Instant::ZERO;
        for expect in [20, 40, 80] {
            now = ack_round(&mut cc, now, &rtt);
            assert_eq!(cc.window(), expect * MSS);
        }
        assert!(cc.in_slow_start());
        assert_eq!(cc.ssthresh(), u64::MAX);
    }

    #[test]
    fn loss_reduces_by_beta_and_sets_w_max() {
        let rtt = rtt_of(10);
        let mut cc = cubic();
        let mut now = Instant::ZERO;
        // 10 -> 20 -> 40 -> 80 -> 160 segments
        for _ in 0..4 {
            now = ack_round(&mut cc, now, &rtt);
        }
        assert_eq!(cc.window(), 160 * MSS);
        cc.on_congestion_event(now, CongestionEvent::Loss, 100 * MSS);
        // W_max is the window (160), ssthresh = 0.7 * flight (100 segments).
        assert!((cc.w_max() - 160.0).abs() < 1e-9);
        assert_eq!(cc.ssthresh(), 70 * MSS);
        assert_eq!(cc.window(), 70 * MSS);
        assert!(!cc.in_slow_start());
    }

    #[test]
    fn cubic_curve_checkpoints() {
        // Loss at 100 segments, RTT 200 ms: a BDP large enough for the cubic
        // region to lead the Reno-friendly estimate (at 10 ms, Reno would win).
        let rtt = rtt_of(200);
        let mut cc = Cubic::new(
            CubicConfig {
                initial_window_segments: Some(100),
                ..CubicConfig::default()
            },
            MSS as u16,
        );
        let mut now = Instant::from_secs(1);
        cc.on_congestion_event(now, CongestionEvent::Loss, 100 * MSS);
        assert_eq!(cc.window(), 70 * MSS);
        // First CA ack starts the epoch: K = cbrt((100 - 70) / 0.4) = cbrt(75).
        now = ack_round(&mut cc, now, &rtt);
        let k = 75f64.cbrt();
        assert!((cc.k() - k).abs() < 1e-9, "K = {}", cc.k());
        // Concave region: growth slows as the window nears W_max.
        let mut prev = cc.window();
        let mut incs = Vec::new();
        while now < Instant::from_secs(1) + Duration::from_micros((k * 1e6) as u64) {
            now = ack_round(&mut cc, now, &rtt);
            incs.push(cc.window() - prev);
            prev = cc.window();
        }
        // At t ≈ K the window is at the plateau W_max = 100 segments (±2).
        let w = cc.window() as f64 / MSS as f64;
        assert!((w - 100.0).abs() < 2.0, "cwnd at K = {w}");
        let first: u64 = incs.iter().take(5).sum();
        let last: u64 = incs.iter().rev().take(5).sum();
        assert!(first > 4 * last, "concave: early {first} vs late {last}");
        // Convex region: at t ≈ 2K, W_cubic(2K) = 0.4 K^3 + 100 = 130 segments.
        while now < Instant::from_secs(1) + Duration::from_micros((2.0 * k * 1e6) as u64) {
            now = ack_round(&mut cc, now, &rtt);
        }
        // The window follows the curve: between W_cubic(t) and the target W_cubic(t + RTT).
        let w = cc.window() as f64 / MSS as f64;
        let t = (now - Instant::from_secs(1)).total_micros() as f64 / 1e6;
        let (lo, hi) = (cc.w_cubic(t) - 1.0, cc.w_cubic(t + 0.2));
        assert!(w >= lo && w <= hi, "cwnd {w} outside [{lo}, {hi}]");
        assert!(w > 130.0 && w < 138.0, "cwnd at 2K = {w}");
    }

    #[test]
    fn reno_friendly_region_dominates_at_small_windows() {
        // W_max = 10 segments, RTT 100 ms: K = cbrt(3/0.4) ≈ 1.96 s, but Reno's
        // estimate recovers faster (α ≈ 0.53 segments per RTT from 7).
        let rtt = rtt_of(100);
        let mut cc = cubic();
        let mut now = Instant::ZERO;
        cc.on_congestion_event(now, CongestionEvent::Loss, 10 * MSS);
        assert_eq!(cc.window(), 7 * MSS);
        for _ in 0..5 {
            now = ack_round(&mut cc, now, &rtt);
        }
        let t = (now - Instant::ZERO).total_micros() as f64 / 1e6;
        let w = cc.window() as f64 / MSS as f64;
        assert!(cc.w_est() > cc.w_cubic(t - 0.1), "W_est should lead");
        assert!(
            (w - cc.w_est()).abs() < 0.01,
            "cwnd {w} follows W_est {}",
            cc.w_est()
        );
        // Five RTTs at α≈0.53/RTT from 7 (with per-ACK rounding): ≈ 9.6 segments.
        assert!(w > 9.0 && w < 10.0, "cwnd {w}");
    }

    #[test]
    fn fast_convergence_lowers_w_max_on_repeated_loss() {
        let mut cc = Cubic::new(
            CubicConfig {
                initial_window_segments: Some(100),
                ..CubicConfig::default()
            },
            MSS as u16,
        );
        cc.on_congestion_event(Instant::ZERO, CongestionEvent::Loss, 100 * MSS);
        assert!((cc.w_max() - 100.0).abs() < 1e-9);
        // Second loss at 70 < W_max: W_max = 70 * (1 + 0.7) / 2 = 59.5.
        cc.on_congestion_event(Instant::ZERO, CongestionEvent::Loss, 70 * MSS);
        assert!((cc.w_max() - 59.5).abs() < 1e-9);
        assert_eq!(cc.window(), 49 * MSS);

        let mut nofc = Cubic::new(
            CubicConfig {
                initial_window_segments: Some(100),
                fast_convergence: false,
            },
            MSS as u16,
        );
        nofc.on_congestion_event(Instant::ZERO, CongestionEvent::Loss, 100 * MSS);
        nofc.on_congestion_event(Instant::ZERO, CongestionEvent::Loss, 70 * MSS);
        assert!((nofc.w_max() - 70.0).abs() < 1e-9);
    }

    #[test]
    fn timeout_collapses_to_one_segment_and_slow_starts() {
        let rtt = rtt_of(10);
        let mut cc = Cubic::new(
            CubicConfig {
                initial_window_segments: Some(40),
                ..CubicConfig::default()
            },
            MSS as u16,
        );
        let mut now = Instant::ZERO;
        cc.on_congestion_event(now, CongestionEvent::Timeout, 40 * MSS);
        assert_eq!(cc.window(), MSS);
        assert_eq!(cc.ssthresh(), 28 * MSS);
        // Repeated timeouts keep ssthresh and W_max.
        cc.on_congestion_event(now, CongestionEvent::Timeout, MSS);
        assert_eq!(cc.ssthresh(), 28 * MSS);
        assert!((cc.w_max() - 40.0).abs() < 1e-9);
        assert!(cc.in_slow_start());
        for _ in 0..5 {
            now = ack_round(&mut cc, now, &rtt);
        }
        // 1, 2, 4, 8, 16, then 16 -> 28 (ssthresh) and CA beyond.
        assert!(!cc.in_slow_start());
        let w = cc.window() / MSS;
        assert!((28..=33).contains(&w), "cwnd {w}");
        // The epoch started at CA entry with cwnd_epoch ≈ 28: K = cbrt((40-28)/0.4) ≈ 3.1.
        assert!(cc.k() > 2.9 && cc.k() < 3.2, "K {}", cc.k());
    }

    #[test]
    fn application_limited_sender_does_not_grow() {
        let rtt = rtt_of(10);
        let mut cc = cubic();
        cc.on_ack(Instant::ZERO, MSS, &rtt, MSS);
        assert_eq!(cc.window(), 10 * MSS);
    }

    #[test]
    fn window_only_grows_within_epoch() {
        let rtt = rtt_of(50);
        let mut cc = cubic();
        let mut now = Instant::ZERO;
        cc.on_congestion_event(now, CongestionEvent::Loss, 10 * MSS);
        let mut prev = cc.window();
        for _ in 0..100 {
            now = ack_round(&mut cc, now, &rtt);
            assert!(cc.window() >= prev);
            prev = cc.window();
        }
        // Growth happens: after 5 s with W_max 10, cwnd is well past the plateau.
        assert!(cc.window() > 20 * MSS, "cwnd {}", cc.window());
    }

    #[test]
    fn mss_update_scales_window_in_segments() {
        let mut cc = cubic();
        cc.on_mss_update(500);
        assert_eq!(cc.window(), 5_000);
        cc.on_congestion_event(Instant::ZERO, CongestionEvent::Loss, 5_000);
        assert_eq!(cc.ssthresh(), 3_500);
    }
}
