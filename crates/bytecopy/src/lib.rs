//! Bulk byte copies for the data path (issue 5: every relayed byte is copied three times in
//! user space: TUN buffer → receive ring, ring → ring, ring → TUN buffer).
//!
//! `copy_from_slice` is a `memcpy`, and glibc's `memcpy` moves large blocks (from about
//! 2–4 KiB up) with `rep movsb`. On the AMD EPYC machines we run on, `rep movsb` slows down
//! about 18-fold (33 → 1.8 GB/s for 61 KiB, measured) when the destination lies 1 to 31
//! bytes above the source modulo 4 KiB: each store aliases a load still in flight. Ring
//! positions follow sequence numbers, so which relative offset a copy gets is down to the
//! connection's ISN and history, and a bulk transfer that falls into the bad window for a
//! while ran at half speed (bench runs of one binary spread 3.4–5.4 Gbit/s).
//!
//! [`copy`] moves the bytes in pieces of [`PIECE`] bytes, below glibc's `rep movsb`
//! threshold, so each piece goes through the vector loop, which has no such cliff and is as
//! fast as one large copy at every offset (the `copy` criterion bench; numbers in
//! docs/BENCHMARKS.md).

#![forbid(unsafe_code)]

/// Bytes per `memcpy` call: under glibc's `rep movsb` threshold (2 048 bytes for 16-byte
/// vectors, more with AVX), so that every call takes the vector loop.
pub const PIECE: usize = 2032;

/// Copies `min(dst.len(), src.len())` bytes from the start of `src` to the start of `dst`
/// and returns that count. Like `dst.copy_from_slice(src)` for equal lengths, but without
/// the alignment cliff (module docs) and without panicking on a length mismatch.
#[inline]
pub fn copy(dst: &mut [u8], src: &[u8]) -> usize {
    let n = dst.len().min(src.len());
    let (Some(dst), Some(src)) = (dst.get_mut(..n), src.get(..n)) else {
        return 0;
    };
    if n <= PIECE {
        dst.copy_from_slice(src);
    } else {
        for (d, s) in dst.chunks_mut(PIECE).zip(src.chunks(PIECE)) {
            d.copy_from_slice(s);
        }
    }
    n
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn copies_the_shorter_length() {
        let src: Vec<u8> = (0..10_000u32).map(|i| (i * 7) as u8).collect();
        let mut dst = vec![0u8; 6000];
        assert_eq!(copy(&mut dst, &src), 6000);
        assert_eq!(dst[..], src[..6000]);
        let mut big = vec![0u8; 20_000];
        assert_eq!(copy(&mut big, &src), 10_000);
        assert_eq!(big[..10_000], src[..]);
        assert!(big[10_000..].iter().all(|&b| b == 0));
        assert_eq!(copy(&mut [], &src), 0);
    }

    proptest! {
        #[test]
        fn matches_copy_from_slice(len in 0usize..20_000, off in 0usize..64, seed: u8) {
            let src: Vec<u8> = (0..len + off).map(|i| (i as u8).wrapping_mul(31) ^ seed).collect();
            let mut a = vec![0xaa; len + 64];
            let mut b = a.clone();
            prop_assert_eq!(copy(&mut a[off..off + len], &src[off..]), len);
            b[off..off + len].copy_from_slice(&src[off..off + len]);
            prop_assert_eq!(a, b);
        }
    }
}
