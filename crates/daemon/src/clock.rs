//! The daemon's only clock: std `Instant`, read for every TUN read batch and before every
//! timer check (crate::event_loop), converted to the engine's `smoltcp::time::Instant`
//! (microseconds since the daemon started).

use crate::engine::Instant;

/// Monotonic clock anchored at construction.
#[derive(Debug, Clone, Copy)]
pub struct Clock {
    origin: std::time::Instant,
}

impl Default for Clock {
    fn default() -> Self {
        Self::new()
    }
}

impl Clock {
    /// A clock whose zero is now.
    pub fn new() -> Self {
        Self {
            origin: std::time::Instant::now(),
        }
    }

    /// The engine time of `t`.
    pub fn engine_time(&self, t: std::time::Instant) -> Instant {
        let us = t.saturating_duration_since(self.origin).as_micros();
        Instant::from_micros(i64::try_from(us).unwrap_or(i64::MAX))
    }

    /// Reads the OS clock once.
    pub fn now(&self) -> Instant {
        self.engine_time(std::time::Instant::now())
    }

    /// How long to sleep from `now` until `deadline` (zero if it has passed).
    pub fn until(&self, now: Instant, deadline: Instant) -> std::time::Duration {
        let us = deadline.total_micros().saturating_sub(now.total_micros());
        std::time::Duration::from_micros(u64::try_from(us).unwrap_or(0))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn converts_relative_to_origin() {
        let c = Clock::new();
        let t = c.origin + std::time::Duration::from_millis(1500);
        assert_eq!(c.engine_time(t).total_micros(), 1_500_000);
        assert_eq!(c.engine_time(c.origin).total_micros(), 0);
        let now = Instant::from_millis(10);
        assert_eq!(
            c.until(now, Instant::from_millis(25)),
            std::time::Duration::from_millis(15)
        );
        assert_eq!(
            c.until(now, Instant::from_millis(5)),
            std::time::Duration::ZERO
        );
    }
}
