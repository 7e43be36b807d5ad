//! Congestion control behind one trait (shaped like quinn-proto's `congestion.rs`).
//!
//! Two algorithms: CUBIC (RFC 9438, the default) and NewReno (RFC 5681 with the
//! RFC 6582 recovery rules). The engine owns loss detection and the recovery
//! episode (RFC 6582 `recover`); a controller only turns the engine's facts into a
//! congestion window:
//!
//! * [`CongestionController::on_ack`] for every ACK that advances `SND.UNA` while
//!   *not* in loss recovery;
//! * [`CongestionController::on_congestion_event`] once per recovery episode
//!   (fast retransmit, SACK-detected loss, ECN-Echo) or on every retransmission
//!   timeout;
//! * [`CongestionController::on_recovery_exit`] when the ACK covering `recover`
//!   arrives (RFC 6582 §3.2 step 3, "full acknowledgment").
//!
//! Windows are in bytes. The controller never inflates `cwnd` during fast recovery
//! (no RFC 5681 §3.2 step 4 inflation): the engine is expected to pace
//! retransmissions by its own in-flight accounting (SACK pipe, RFC 6675).

use core::fmt::Debug;

use smoltcp::time::Instant;

use super::rto::RttEstimator;

pub mod cubic;
pub mod reno;

pub use cubic::{Cubic, CubicConfig};
pub use reno::{NewReno, NewRenoConfig};

/// What made the engine cut the window.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CongestionEvent {
    /// Loss inferred from duplicate ACKs or SACK (RFC 5681 §3.2, RFC 6675): enter
    /// fast recovery with the window reduced by the algorithm's beta.
    Loss,
    /// An ECN-Echo (RFC 3168 §6.1.2): the same reduction as [`Self::Loss`].
    Ecn,
    /// The retransmission timer fired (RFC 5681 §3.1, RFC 9438 §4.8): the window
    /// collapses to the loss window and slow start begins again.
    Timeout,
}

/// A congestion control algorithm, one instance per connection.
pub trait CongestionController: Debug + Send + Sync {
    /// New data was cumulatively acknowledged outside loss recovery.
    ///
    /// `bytes_acked` is how far `SND.UNA` advanced; `in_flight` is how much the sender
    /// had outstanding: the most bytes in flight after a transmission of the current
    /// window of data (RFC 5681 FlightSize at its peak; Linux `max_packets_out`), not
    /// what is left before this ACK, which shrinks ACK by ACK when several arrive
    /// together. The window only grows while the sender uses it (`in_flight` at least
    /// half of the window, RFC 7661 spirit), so an application-limited sender keeps its
    /// window.
    fn on_ack(&mut self, now: Instant, bytes_acked: u64, rtt: &RttEstimator, in_flight: u64);

    /// A congestion signal. Call once per recovery episode for
    /// [`CongestionEvent::Loss`]/[`CongestionEvent::Ecn`], and on each RTO expiry.
    /// `in_flight` is the FlightSize when the signal was detected.
    fn on_congestion_event(&mut self, now: Instant, event: CongestionEvent, in_flight: u64);

    /// The recovery episode ended with a full acknowledgment (RFC 6582 §3.2 step 3).
    /// `in_flight` is the FlightSize after that ACK.
    fn on_recovery_exit(&mut self, now: Instant, in_flight: u64);

    /// The sender's maximum segment size changed (PMTU discovery, RFC 8899).
    fn on_mss_update(&mut self, mss: u16);

    /// The congestion window in bytes.
    fn window(&self) -> u64;

    /// The slow-start threshold in bytes (`u64::MAX` until the first congestion event).
    fn ssthresh(&self) -> u64;

    /// Whether the controller is in slow start (`cwnd < ssthresh`).
    fn in_slow_start(&self) -> bool {
        self.window() < self.ssthresh()
    }

    /// The window the connection started with (RFC 6928).
    fn initial_window(&self) -> u64;

    /// Which algorithm this is.
    fn algorithm(&self) -> Algorithm;

    /// Duplicates the controller, state included.
    fn clone_box(&self) -> Box<dyn CongestionController>;
}

impl Clone for Box<dyn CongestionController> {
    fn clone(&self) -> Self {
        self.clone_box()
    }
}

/// Algorithm choice.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Algorithm {
    /// CUBIC, RFC 9438.
    #[default]
    Cubic,
    /// NewReno, RFC 5681 + RFC 6582.
    NewReno,
}

/// Congestion control configuration: which algorithm and its parameters.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct CongestionConfig {
    /// The algorithm to instantiate (default CUBIC).
    pub algorithm: Algorithm,
    /// Initial window in segments; `None` uses the RFC 6928 formula
    /// `min(10*MSS, max(2*MSS, 14600))`.
    pub initial_window_segments: Option<u32>,
}

impl CongestionConfig {
    /// Builds a controller for a connection whose sender MSS is `mss`.
    pub fn build(&self, mss: u16) -> Box<dyn CongestionController> {
        match self.algorithm {
            Algorithm::Cubic => Box::new(Cubic::new(
                CubicConfig {
                    initial_window_segments: self.initial_window_segments,
                    ..CubicConfig::default()
                },
                mss,
            )),
            Algorithm::NewReno => Box::new(NewReno::new(
                NewRenoConfig {
                    initial_window_segments: self.initial_window_segments,
                },
                mss,
            )),
        }
    }
}

/// RFC 6928 §2: `IW = min(10*MSS, max(2*MSS, 14600))` bytes, or `segments * MSS`
/// when configured explicitly (at least one segment).
pub fn initial_window(mss: u16, segments: Option<u32>) -> u64 {
    let mss = u64::from(mss.max(1));
    match segments {
        Some(n) => mss.saturating_mul(u64::from(n.max(1))),
        None => (10 * mss).min((2 * mss).max(14_600)),
    }
}

/// Whether the sender is using its window: RFC 7661-style guard so an
/// application-limited connection does not grow `cwnd` it never tests.
pub(crate) fn cwnd_limited(cwnd: u64, in_flight: u64) -> bool {
    in_flight.saturating_mul(2) >= cwnd
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc6928_initial_window() {
        assert_eq!(initial_window(1460, None), 14_600);
        assert_eq!(initial_window(536, None), 5_360);
        assert_eq!(initial_window(1220, None), 12_200);
        // Large MSS: max(2*MSS, 14600) wins over 10*MSS.
        assert_eq!(initial_window(8960, None), 17_920);
        assert_eq!(initial_window(65_495, None), 130_990);
        assert_eq!(initial_window(1460, Some(4)), 5_840);
        assert_eq!(initial_window(1460, Some(0)), 1_460);
    }

    #[test]
    fn config_builds_requested_algorithm() {
        let c = CongestionConfig::default().build(1460);
        assert_eq!(c.algorithm(), Algorithm::Cubic);
        assert_eq!(c.window(), 14_600);
        let r = CongestionConfig {
            algorithm: Algorithm::NewReno,
            initial_window_segments: Some(2),
        }
        .build(1000);
        assert_eq!(r.algorithm(), Algorithm::NewReno);
        assert_eq!(r.window(), 2000);
        assert!(r.in_slow_start());
        let cloned = r.clone();
        assert_eq!(cloned.window(), 2000);
    }
}
