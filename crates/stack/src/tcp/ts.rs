//! RFC 7323 §3–5 timestamps: our clock (§5.4, with a keyed per-4-tuple offset, see `isn.rs`),
//! TS.Recent, PAWS (§5.3) and RTT measurement from TSecr (§4.1).

use smoltcp::time::{Duration, Instant};

/// Largest RTT believed from a timestamp echo; older echoes are stale.
const MAX_TS_RTT_MS: u32 = 60_000;

/// Timestamp state of one connection.
#[derive(Debug, Clone, Copy, Default)]
pub struct Timestamps {
    /// Negotiated (both SYNs carried the option).
    pub enabled: bool,
    /// TS.Recent (RFC 7323 §4.3).
    pub recent: u32,
    /// Per-4-tuple offset added to our clock (RFC 7323 §5.4 randomization; constant per tuple
    /// so that timestamps grow across incarnations of a tuple).
    pub offset: u32,
}

impl Timestamps {
    /// Our TSval at `now`: milliseconds plus the offset, modulo 2^32.
    pub fn tsval(&self, now: Instant) -> u32 {
        let ms = u32::try_from(now.total_millis().rem_euclid(1 << 32)).unwrap_or(0);
        ms.wrapping_add(self.offset)
    }

    /// PAWS (RFC 7323 §5.3 R1): whether a segment with `tsval` is an old duplicate.
    pub fn paws_rejects(&self, tsval: u32) -> bool {
        self.enabled && (tsval.wrapping_sub(self.recent) as i32) < 0
    }

    /// Whether `tsval` is newer than TS.Recent (RFC 6191 TIME-WAIT reuse).
    pub fn is_newer(&self, tsval: u32) -> bool {
        self.enabled && (tsval.wrapping_sub(self.recent) as i32) > 0
    }

    /// RTT from an echoed `tsecr` (RFC 7323 §4.1), if plausible.
    pub fn rtt(&self, now: Instant, tsecr: u32) -> Option<Duration> {
        let ms = self.tsval(now).wrapping_sub(tsecr);
        (self.enabled && tsecr != 0 && ms < MAX_TS_RTT_MS)
            .then(|| Duration::from_millis(u64::from(ms.max(1))))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clock_paws_and_rtt() {
        let t = Timestamps {
            enabled: true,
            recent: 0xffff_fff0,
            offset: 0xffff_0000,
        };
        let now = Instant::from_millis(0x1_0000 + 5);
        assert_eq!(t.tsval(now), 5, "wraps modulo 2^32");
        assert!(t.paws_rejects(0xffff_ffe0));
        assert!(!t.paws_rejects(3), "after wrap-around is newer");
        assert!(t.is_newer(3));
        assert_eq!(t.rtt(now, 2), Some(Duration::from_millis(3)));
        assert_eq!(t.rtt(now, 0), None, "TSecr 0 carries no echo");
        assert_eq!(t.rtt(now, 6), None, "from the future");
    }
}
