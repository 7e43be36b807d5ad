//! Initial sequence numbers, RFC 6528 §3 (as RFC 9293 §3.4.1 asks, MUST-8 / SHLD-1):
//!
//! ```text
//! ISN = M + F(localip, localport, remoteip, remoteport, secretkey)
//! ```
//!
//! `M` is a timer ticking every 4 microseconds (taken from the `now` every call is given:
//! the engine reads no clock) and `F` a keyed pseudorandom function of the 4-tuple, here
//! SHA-256 over the key and the tuple, truncated to 32 bits. Successive incarnations of one
//! 4-tuple therefore get increasing ISNs (old duplicates and TIME-WAIT reuse, RFC 6191),
//! while an off-path attacker who does not know the key cannot predict another tuple's.
//!
//! The same keyed function (with its own label) gives each 4-tuple its RFC 7323 §7.1
//! timestamp offset, as Linux does: timestamps then also increase from one incarnation of a
//! tuple to the next, the other test a TIME-WAIT end applies to a new SYN (RFC 6191).

use sha2::{Digest, Sha256};
use smoltcp::time::Instant;
use smoltcp::wire::{IpAddress, TcpSeqNumber};
use zeroize::Zeroize;

use super::conn::Tuple;

/// Microseconds per tick of RFC 6528's timer `M`.
const TICK_MICROS: i64 = 4;

/// The keyed ISN generator of one stack.
pub struct IsnGenerator {
    key: [u8; 32],
}

impl std::fmt::Debug for IsnGenerator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("IsnGenerator { key: <secret> }")
    }
}

impl Drop for IsnGenerator {
    fn drop(&mut self) {
        self.key.zeroize();
    }
}

impl IsnGenerator {
    /// A generator with secret `key` (drawn from the stack's random source).
    pub fn new(key: [u8; 32]) -> IsnGenerator {
        IsnGenerator { key }
    }

    /// The ISN for a connection on `tuple` opened at `now`.
    pub fn isn(&self, now: Instant, tuple: &Tuple) -> TcpSeqNumber {
        let m = (now.total_micros() / TICK_MICROS) as u32;
        TcpSeqNumber(m.wrapping_add(self.f(tuple)) as i32)
    }

    /// The RFC 7323 timestamp offset for a connection on `tuple` (constant per tuple).
    pub fn ts_offset(&self, tuple: &Tuple) -> u32 {
        self.hash(b"ts", tuple)
    }

    /// RFC 6528's `F`: SHA-256(key, local address, local port, remote address, remote port),
    /// first four bytes.
    fn f(&self, t: &Tuple) -> u32 {
        self.hash(b"isn", t)
    }

    fn hash(&self, label: &[u8], t: &Tuple) -> u32 {
        let mut h = Sha256::new();
        h.update(self.key);
        h.update(label);
        for ep in [&t.local, &t.remote] {
            match ep.addr {
                IpAddress::Ipv4(a) => h.update(a.octets()),
                IpAddress::Ipv6(a) => h.update(a.octets()),
            }
            h.update(ep.port.to_be_bytes());
        }
        let d = h.finalize();
        u32::from_be_bytes([d[0], d[1], d[2], d[3]])
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use smoltcp::wire::{IpEndpoint, Ipv4Address};

    fn tuple(port: u16) -> Tuple {
        Tuple {
            local: IpEndpoint::new(IpAddress::Ipv4(Ipv4Address::new(10, 0, 0, 1)), port),
            remote: IpEndpoint::new(IpAddress::Ipv4(Ipv4Address::new(10, 0, 0, 2)), 80),
        }
    }

    fn diff(a: TcpSeqNumber, b: TcpSeqNumber) -> u32 {
        (a.0 as u32).wrapping_sub(b.0 as u32)
    }

    #[test]
    fn one_tuple_advances_with_the_4_microsecond_clock() {
        let g = IsnGenerator::new([1; 32]);
        let t0 = Instant::from_micros(1_000_000);
        let a = g.isn(t0, &tuple(40000));
        assert_eq!(g.isn(t0, &tuple(40000)), a, "a function of time and tuple");
        let b = g.isn(t0 + smoltcp::time::Duration::from_millis(4), &tuple(40000));
        assert_eq!(diff(b, a), 1000);
        // The counter wraps like the sequence space.
        let far = Instant::from_micros(1_000_000 + 4 * (1i64 << 32));
        assert_eq!(g.isn(far, &tuple(40000)), a);
    }

    #[test]
    fn other_tuples_and_keys_give_unrelated_offsets() {
        let g = IsnGenerator::new([1; 32]);
        let t = Instant::from_micros(0);
        let a = g.isn(t, &tuple(40000));
        let b = g.isn(t, &tuple(40001));
        assert_ne!(a, b);
        assert_ne!(IsnGenerator::new([2; 32]).isn(t, &tuple(40000)), a);
        // Not a small step of the clock either: the offsets are keyed hashes.
        assert!(diff(b, a) > 1 << 16 && diff(a, b) > 1 << 16, "{a:?} {b:?}");
    }

    #[test]
    fn timestamp_offset_is_per_tuple_and_not_the_isn_offset() {
        let g = IsnGenerator::new([1; 32]);
        assert_eq!(g.ts_offset(&tuple(40000)), g.ts_offset(&tuple(40000)));
        assert_ne!(g.ts_offset(&tuple(40000)), g.ts_offset(&tuple(40001)));
        assert_ne!(g.ts_offset(&tuple(40000)), g.f(&tuple(40000)));
    }

    #[test]
    fn debug_does_not_print_the_key() {
        let s = format!("{:?}", IsnGenerator::new([0xab; 32]));
        assert!(
            !s.contains("171") && !s.to_lowercase().contains("ab,"),
            "{s}"
        );
    }
}
