//! Sequence-number arithmetic (RFC 9293 §3.4) on `smoltcp::wire::TcpSeqNumber`, without
//! the panicking operators: every helper wraps modulo 2^32.

use smoltcp::wire::TcpSeqNumber;

/// `s + n` modulo 2^32.
pub(crate) fn add(s: TcpSeqNumber, n: u32) -> TcpSeqNumber {
    TcpSeqNumber(s.0.wrapping_add_unsigned(n))
}

/// `s - n` modulo 2^32.
pub(crate) fn sub(s: TcpSeqNumber, n: u32) -> TcpSeqNumber {
    TcpSeqNumber(s.0.wrapping_sub_unsigned(n))
}

/// Signed distance `a - b` (positive when `a` is after `b`).
pub(crate) fn diff(a: TcpSeqNumber, b: TcpSeqNumber) -> i32 {
    a.0.wrapping_sub(b.0)
}

/// Distance `a - b` clamped at zero, as a byte count.
pub(crate) fn dist(a: TcpSeqNumber, b: TcpSeqNumber) -> u32 {
    u32::try_from(diff(a, b)).unwrap_or(0)
}

/// `a < b` in sequence space.
pub(crate) fn lt(a: TcpSeqNumber, b: TcpSeqNumber) -> bool {
    diff(a, b) < 0
}

/// `a <= b` in sequence space.
pub(crate) fn le(a: TcpSeqNumber, b: TcpSeqNumber) -> bool {
    diff(a, b) <= 0
}

/// `a > b` in sequence space.
pub(crate) fn gt(a: TcpSeqNumber, b: TcpSeqNumber) -> bool {
    diff(a, b) > 0
}

/// `a >= b` in sequence space.
pub(crate) fn ge(a: TcpSeqNumber, b: TcpSeqNumber) -> bool {
    diff(a, b) >= 0
}

/// The later of two sequence numbers.
pub(crate) fn max(a: TcpSeqNumber, b: TcpSeqNumber) -> TcpSeqNumber {
    if gt(a, b) {
        a
    } else {
        b
    }
}

/// The earlier of two sequence numbers.
pub(crate) fn min(a: TcpSeqNumber, b: TcpSeqNumber) -> TcpSeqNumber {
    if lt(a, b) {
        a
    } else {
        b
    }
}

/// Convert a byte count that is known to fit a window into `u32`, saturating.
pub(crate) fn len32(n: usize) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wraps() {
        let a = TcpSeqNumber(-1); // 0xffff_ffff
        let b = add(a, 2);
        assert_eq!(b, TcpSeqNumber(1));
        assert!(lt(a, b));
        assert_eq!(diff(b, a), 2);
        assert_eq!(dist(a, b), 0);
        assert_eq!(sub(b, 2), a);
        assert_eq!(max(a, b), b);
        assert_eq!(min(a, b), a);
    }
}
