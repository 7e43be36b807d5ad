//! RFC 6298 — Computing TCP's Retransmission Timer, with the RFC 7323 Appendix G
//! adjustment for timestamp-based (many samples per RTT) measurement.
//!
//! The estimator only does arithmetic. Karn's algorithm (RFC 6298 §3) is the
//! caller's duty: never feed a sample taken from a retransmitted segment unless
//! it comes from an RFC 7323 timestamp echo, which is unambiguous.
//!
//! All state is kept in microseconds so that the RFC's `1/8` and `1/4` gains do
//! not lose precision to millisecond rounding.

use smoltcp::time::Duration;

/// RFC 6298 §2.3 gain `alpha = 1/8` as a divisor.
const ALPHA_DIV: u64 = 8;
/// RFC 6298 §2.3 gain `beta = 1/4` as a divisor.
const BETA_DIV: u64 = 4;
/// RFC 6298 §2.2 variance multiplier `K = 4`.
const K: u64 = 4;

/// Tunables of the estimator.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RttConfig {
    /// RTO before any sample (RFC 6298 §2.1: 1 second).
    pub initial_rto: Duration,
    /// Lower bound on the RTO (RFC 6298 §2.4 says 1 s; like Linux we default to 200 ms).
    pub min_rto: Duration,
    /// Upper bound on the RTO, backoff included (RFC 6298 §2.5: at least 60 s).
    pub max_rto: Duration,
    /// Clock granularity `G` of RFC 6298 §2.2 and §2.3.
    pub granularity: Duration,
}

impl Default for RttConfig {
    fn default() -> Self {
        Self {
            initial_rto: Duration::from_secs(1),
            min_rto: Duration::from_millis(200),
            max_rto: Duration::from_secs(60),
            granularity: Duration::from_millis(1),
        }
    }
}

/// RFC 6298 round-trip time estimator and retransmission timeout.
#[derive(Debug, Clone)]
pub struct RttEstimator {
    config: RttConfig,
    /// SRTT in µs, `None` until the first measurement (RFC 6298 §2.1).
    srtt: Option<u64>,
    /// RTTVAR in µs.
    rttvar: u64,
    /// The most recent sample.
    latest: Option<Duration>,
    /// The smallest sample seen (used by CUBIC and by the caller's heuristics).
    min_rtt: Option<Duration>,
    /// Number of consecutive backoffs (RFC 6298 §5.5).
    backoff: u32,
}

impl RttEstimator {
    /// A fresh estimator: no samples, RTO = `config.initial_rto`.
    pub fn new(config: RttConfig) -> Self {
        Self {
            config,
            srtt: None,
            rttvar: 0,
            latest: None,
            min_rtt: None,
            backoff: 0,
        }
    }

    /// The configuration in use.
    pub fn config(&self) -> &RttConfig {
        &self.config
    }

    /// Feeds one RTT measurement (RFC 6298 §2.2 for the first, §2.3 afterwards).
    ///
    /// Also ends any backoff: the RTO is recomputed from fresh state, as RFC 6298
    /// §5.7's note allows once new data has been acknowledged.
    pub fn on_sample(&mut self, rtt: Duration) {
        self.on_sample_scaled(rtt, 1);
    }

    /// Feeds a measurement taken from an RFC 7323 timestamp echo, when up to
    /// `expected_samples` of them arrive per RTT.
    ///
    /// RFC 7323 Appendix G: `alpha' = alpha / ExpectedSamples`,
    /// `beta' = beta / ExpectedSamples`, with
    /// `ExpectedSamples = ceiling(FlightSize / (SMSS * 2))` computed by the caller.
    /// `expected_samples` of 0 is treated as 1.
    pub fn on_sample_scaled(&mut self, rtt: Duration, expected_samples: u32) {
        let n = u64::from(expected_samples.max(1));
        let r = rtt.total_micros();
        self.latest = Some(rtt);
        self.min_rtt = Some(match self.min_rtt {
            Some(m) if m <= rtt => m,
            _ => rtt,
        });
        self.backoff = 0;
        match self.srtt {
            None => {
                // §2.2: SRTT <- R, RTTVAR <- R/2
                self.srtt = Some(r);
                self.rttvar = r / 2;
            }
            Some(srtt) => {
                // §2.3: RTTVAR <- (1 - beta) * RTTVAR + beta * |SRTT - R'|
                //       SRTT   <- (1 - alpha) * SRTT + alpha * R'
                // (RTTVAR first, with the old SRTT.)
                let err = srtt.abs_diff(r);
                let beta_div = BETA_DIV.saturating_mul(n);
                let alpha_div = ALPHA_DIV.saturating_mul(n);
                self.rttvar = self.rttvar - self.rttvar / beta_div + err / beta_div;
                self.srtt = Some(if r >= srtt {
                    srtt + (r - srtt) / alpha_div
                } else {
                    srtt - (srtt - r) / alpha_div
                });
            }
        }
    }

    /// The base RTO, without backoff: `SRTT + max(G, K*RTTVAR)` clamped to
    /// `[min_rto, max_rto]` (§2.2–2.5), or `initial_rto` before any sample.
    pub fn base_rto(&self) -> Duration {
        match self.srtt {
            None => self.config.initial_rto.min(self.config.max_rto),
            Some(srtt) => {
                let var = self
                    .config
                    .granularity
                    .total_micros()
                    .max(K.saturating_mul(self.rttvar));
                let rto = Duration::from_micros(srtt.saturating_add(var));
                rto.max(self.config.min_rto).min(self.config.max_rto)
            }
        }
    }

    /// The RTO to arm now: the base RTO doubled once per backoff (§5.5), at most `max_rto`.
    pub fn rto(&self) -> Duration {
        let base = self.base_rto().total_micros();
        let shift = self.backoff.min(63);
        let backed = base.checked_shl(shift).filter(|v| v >> shift == base);
        match backed {
            Some(v) => Duration::from_micros(v).min(self.config.max_rto),
            None => self.config.max_rto,
        }
    }

    /// The retransmission timer expired (RFC 6298 §5.5): back off the timer.
    pub fn on_timeout(&mut self) {
        // Stop counting once the RTO is pinned at max_rto; 32 doublings of 1 µs exceed 60 s.
        if self.rto() < self.config.max_rto {
            self.backoff = self.backoff.saturating_add(1);
        }
    }

    /// Clears the backoff without a new sample (e.g. an ACK for new data that
    /// carried no usable measurement under Karn's rule).
    pub fn reset_backoff(&mut self) {
        self.backoff = 0;
    }

    /// RFC 6298 §5.7: the SYN (or SYN-ACK) timed out before any sample, so once the
    /// connection is established the RTO starts from 3 s instead of 1 s.
    pub fn on_syn_timeout_established(&mut self) {
        if self.srtt.is_none() {
            self.config.initial_rto = Duration::from_secs(3);
            self.backoff = 0;
        }
    }

    /// Number of backoffs since the last sample or reset.
    pub fn backoff_count(&self) -> u32 {
        self.backoff
    }

    /// SRTT, or `None` before the first sample.
    pub fn srtt(&self) -> Option<Duration> {
        self.srtt.map(Duration::from_micros)
    }

    /// RTTVAR (zero before the first sample).
    pub fn rttvar(&self) -> Duration {
        Duration::from_micros(self.rttvar)
    }

    /// The most recent sample.
    pub fn latest(&self) -> Option<Duration> {
        self.latest
    }

    /// The smallest sample seen so far.
    pub fn min_rtt(&self) -> Option<Duration> {
        self.min_rtt
    }

    /// SRTT if known, else `initial_rto` as a conservative stand-in (used by
    /// congestion controllers before the first sample).
    pub fn srtt_or_initial(&self) -> Duration {
        self.srtt().unwrap_or(self.config.initial_rto)
    }
}

impl Default for RttEstimator {
    fn default() -> Self {
        Self::new(RttConfig::default())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(v: u64) -> Duration {
        Duration::from_millis(v)
    }

    #[test]
    fn initial_rto_is_one_second() {
        let e = RttEstimator::default();
        assert_eq!(e.rto(), ms(1000));
        assert_eq!(e.srtt(), None);
    }

    #[test]
    fn first_sample_sets_srtt_and_half_rttvar() {
        // §2.2: SRTT=R, RTTVAR=R/2, RTO=SRTT+max(G,4*RTTVAR) = 100+200 = 300 ms.
        let mut e = RttEstimator::default();
        e.on_sample(ms(100));
        assert_eq!(e.srtt(), Some(ms(100)));
        assert_eq!(e.rttvar(), ms(50));
        assert_eq!(e.rto(), ms(300));
    }

    #[test]
    fn second_sample_follows_rfc6298_gains() {
        // R1=100: SRTT=100, RTTVAR=50.
        // R2=200: RTTVAR = 3/4*50 + 1/4*|100-200| = 37.5 + 25 = 62.5 ms
        //         SRTT   = 7/8*100 + 1/8*200 = 112.5 ms
        //         RTO    = 112.5 + 4*62.5 = 362.5 ms
        let mut e = RttEstimator::default();
        e.on_sample(ms(100));
        e.on_sample(ms(200));
        assert_eq!(e.rttvar(), Duration::from_micros(62_500));
        assert_eq!(e.srtt(), Some(Duration::from_micros(112_500)));
        assert_eq!(e.rto(), Duration::from_micros(362_500));
    }

    #[test]
    fn decreasing_sample_uses_absolute_error() {
        // R1=200: SRTT=200, RTTVAR=100. R2=100: RTTVAR=75+25=100, SRTT=175+12.5=187.5.
        let mut e = RttEstimator::default();
        e.on_sample(ms(200));
        e.on_sample(ms(100));
        assert_eq!(e.rttvar(), ms(100));
        assert_eq!(e.srtt(), Some(Duration::from_micros(187_500)));
        assert_eq!(e.rto(), Duration::from_micros(587_500));
        assert_eq!(e.min_rtt(), Some(ms(100)));
        assert_eq!(e.latest(), Some(ms(100)));
    }

    #[test]
    fn rto_floor_is_min_rto() {
        // Steady 10 ms samples: RTTVAR decays, RTO would be ~10 ms but the floor is 200 ms.
        let mut e = RttEstimator::default();
        for _ in 0..50 {
            e.on_sample(ms(10));
        }
        assert_eq!(e.rto(), ms(200));
        let mut e = RttEstimator::new(RttConfig {
            min_rto: ms(1000),
            ..RttConfig::default()
        });
        e.on_sample(ms(10));
        assert_eq!(e.rto(), ms(1000));
    }

    #[test]
    fn granularity_bounds_variance_term() {
        // With constant samples RTTVAR -> 0, so RTO -> SRTT + G.
        let mut e = RttEstimator::new(RttConfig {
            min_rto: Duration::ZERO,
            granularity: ms(5),
            ..RttConfig::default()
        });
        for _ in 0..200 {
            e.on_sample(ms(40));
        }
        assert_eq!(e.srtt(), Some(ms(40)));
        assert_eq!(e.rto(), ms(45));
    }

    #[test]
    fn backoff_doubles_and_caps_at_max() {
        let mut e = RttEstimator::default();
        e.on_sample(ms(100)); // RTO 300 ms
        e.on_timeout();
        assert_eq!(e.rto(), ms(600));
        e.on_timeout();
        assert_eq!(e.rto(), ms(1200));
        for _ in 0..100 {
            e.on_timeout();
        }
        assert_eq!(e.rto(), Duration::from_secs(60));
        assert!(e.backoff_count() < 20);
        // A new sample ends the backoff (§5.7 note).
        e.on_sample(ms(100));
        assert_eq!(e.backoff_count(), 0);
        assert!(e.rto() < ms(400));
    }

    #[test]
    fn backoff_before_any_sample_starts_from_initial() {
        let mut e = RttEstimator::default();
        e.on_timeout();
        assert_eq!(e.rto(), ms(2000));
        e.reset_backoff();
        assert_eq!(e.rto(), ms(1000));
    }

    #[test]
    fn syn_timeout_raises_initial_rto_to_three_seconds() {
        let mut e = RttEstimator::default();
        e.on_timeout();
        e.on_syn_timeout_established();
        assert_eq!(e.rto(), ms(3000));
        // Once samples exist the rule no longer applies.
        e.on_sample(ms(100));
        e.on_syn_timeout_established();
        assert_eq!(e.rto(), ms(300));
    }

    #[test]
    fn max_rto_caps_base() {
        let mut e = RttEstimator::default();
        e.on_sample(Duration::from_secs(50)); // 50 + 100 s > 60 s
        assert_eq!(e.rto(), Duration::from_secs(60));
    }

    #[test]
    fn timestamp_samples_use_scaled_gains() {
        // RFC 7323 App. G with ExpectedSamples=4: alpha'=1/32, beta'=1/16.
        // R1=100: SRTT=100, RTTVAR=50.
        // R2=200: RTTVAR = 50 - 50/16 + 100/16 = 53.125; SRTT = 100 + 100/32 = 103.125.
        let mut e = RttEstimator::default();
        e.on_sample_scaled(ms(100), 4);
        e.on_sample_scaled(ms(200), 4);
        assert_eq!(e.rttvar(), Duration::from_micros(53_125));
        assert_eq!(e.srtt(), Some(Duration::from_micros(103_125)));
        // 0 is treated as 1.
        let mut a = RttEstimator::default();
        let mut b = RttEstimator::default();
        for r in [100, 200, 50] {
            a.on_sample_scaled(ms(r), 0);
            b.on_sample(ms(r));
        }
        assert_eq!(a.srtt(), b.srtt());
        assert_eq!(a.rttvar(), b.rttvar());
    }
}
