//! The Internet checksum (RFC 1071; RFC 9293 §3.1 for TCP with the IPv4 pseudo-header,
//! RFC 8200 §8.1 for IPv6), computed fast: 32-bit little-endian words summed into a
//! 64-bit accumulator (RFC 1071 §2(B): the sum is independent of byte order, so the result
//! is byte-swapped once at the end; §2(C): carries are deferred and folded once at the
//! end). The loop has no data-dependent branch and the compiler vectorises it.
//!
//! Checksum offload (virtio-net `VIRTIO_NET_HDR_F_NEEDS_CSUM` semantics, the Linux
//! `CHECKSUM_PARTIAL` convention): the segment leaves with only the pseudo-header sum in
//! its checksum field, and the link adds the sum over the TCP header and text, starting at
//! the TCP header, and stores the complement at offset 16.

use smoltcp::wire::{IpAddress, IpProtocol};

/// Offset of the checksum field in the TCP header (RFC 9293 §3.1).
pub const TCP_CHECKSUM_OFFSET: usize = 16;

/// Fold a 64-bit sum of 16-bit quantities into 16 bits with end-around carries.
fn fold(mut s: u64) -> u16 {
    s = (s & 0xffff_ffff) + (s >> 32);
    s = (s & 0xffff_ffff) + (s >> 32);
    s = (s & 0xffff) + (s >> 16);
    s = (s & 0xffff) + (s >> 16);
    s = (s & 0xffff) + (s >> 16);
    u16::try_from(s).unwrap_or(0xffff)
}

/// Unfolded sum of `data` read as little-endian 32-bit words (a trailing odd byte padded
/// with zero as RFC 1071 requires). Eight bytes are loaded at a time and their two halves
/// added (the compiler turns this into 16-byte vector loads). Data shorter than 2^31
/// words cannot overflow.
fn sum_le(data: &[u8]) -> u64 {
    let mut chunks = data.chunks_exact(8);
    let mut acc: u64 = 0;
    for c in &mut chunks {
        let v = u64::from_le_bytes(c.try_into().unwrap_or([0; 8]));
        acc += (v & 0xffff_ffff) + (v >> 32);
    }
    let rest = chunks.remainder();
    let mut tail = [0u8; 8];
    if let Some(t) = tail.get_mut(..rest.len()) {
        t.copy_from_slice(rest);
    }
    let v = u64::from_le_bytes(tail);
    acc + (v & 0xffff_ffff) + (v >> 32)
}

/// The RFC 1071 one's-complement sum of `data` (not complemented), folded to 16 bits, in
/// network byte order as a number: the same value as `smoltcp::wire::ip::checksum::data`.
pub fn sum(data: &[u8]) -> u16 {
    fold(sum_le(data)).swap_bytes()
}

/// Copy `src` into `dst` (`dst` at least as long) and return `sum(src)`, in one pass over
/// the bytes (the data is read once for both).
pub fn copy_with_sum(dst: &mut [u8], src: &[u8]) -> u16 {
    let Some(dst) = dst.get_mut(..src.len()) else {
        return 0;
    };
    let mut acc: u64 = 0;
    let mut d = dst.chunks_exact_mut(8);
    let mut s = src.chunks_exact(8);
    for (dc, sc) in (&mut d).zip(&mut s) {
        let w: [u8; 8] = sc.try_into().unwrap_or([0; 8]);
        dc.copy_from_slice(&w);
        let v = u64::from_le_bytes(w);
        acc += (v & 0xffff_ffff) + (v >> 32);
    }
    let rest = s.remainder();
    d.into_remainder().copy_from_slice(rest);
    fold(acc + sum_le(rest)).swap_bytes()
}

/// Add the sum `part` of bytes that start at byte `offset` of the summed data to `acc`
/// (RFC 1071 §2(B): a part at an odd offset contributes its sum byte-swapped).
pub fn combine_at(acc: u16, part: u16, offset: usize) -> u16 {
    if offset % 2 == 1 {
        combine(acc, part.swap_bytes())
    } else {
        combine(acc, part)
    }
}

/// Fill the checksum of the TCP segment `seg` whose bytes from `hlen` on sum to
/// `payload_sum` (from [`copy_with_sum`]/[`combine_at`]): only the header is summed here.
pub fn fill_tcp_with_payload_sum(
    seg: &mut [u8],
    hlen: usize,
    payload_sum: u16,
    src: &IpAddress,
    dst: &IpAddress,
) {
    let ph = pseudo_header(src, dst, IpProtocol::Tcp, seg.len());
    let Some(field) = seg.get_mut(TCP_CHECKSUM_OFFSET..TCP_CHECKSUM_OFFSET + 2) else {
        return;
    };
    field.fill(0);
    let hdr = sum(seg.get(..hlen).unwrap_or(&[]));
    let c = !combine_at(combine(ph, hdr), payload_sum, hlen);
    if let Some(field) = seg.get_mut(TCP_CHECKSUM_OFFSET..TCP_CHECKSUM_OFFSET + 2) {
        field.copy_from_slice(&c.to_be_bytes());
    }
}

/// One's-complement addition of two folded sums.
pub fn combine(a: u16, b: u16) -> u16 {
    fold(u64::from(a) + u64::from(b))
}

/// Sum of the pseudo-header (RFC 9293 §3.1 for IPv4, RFC 8200 §8.1 for IPv6) for an
/// upper-layer packet of `len` bytes. Mixed address families give 0 (never emitted).
pub fn pseudo_header(src: &IpAddress, dst: &IpAddress, proto: IpProtocol, len: usize) -> u16 {
    let proto = u64::from(u8::from(proto));
    // The length is 16 bits for IPv4 and 32 for IPv6; words are summed big-endian here.
    let len = len as u64;
    let words = match (src, dst) {
        (IpAddress::Ipv4(s), IpAddress::Ipv4(d)) => {
            be_words(&s.octets()) + be_words(&d.octets()) + (len & 0xffff)
        }
        (IpAddress::Ipv6(s), IpAddress::Ipv6(d)) => {
            be_words(&s.octets()) + be_words(&d.octets()) + (len >> 16) + (len & 0xffff)
        }
        _ => return 0,
    };
    fold(words + proto)
}

/// Unfolded sum of big-endian 16-bit words (addresses only: even length).
fn be_words(b: &[u8]) -> u64 {
    b.chunks_exact(2)
        .map(|w| {
            u64::from(u16::from_be_bytes([
                w.first().copied().unwrap_or(0),
                w.get(1).copied().unwrap_or(0),
            ]))
        })
        .sum()
}

/// Fill the checksum field of the TCP segment `seg` (header and text) carried from `src`
/// to `dst`. With `partial`, write only the pseudo-header sum and leave the rest to the
/// link (offload).
pub fn fill_tcp(seg: &mut [u8], src: &IpAddress, dst: &IpAddress, partial: bool) {
    let ph = pseudo_header(src, dst, IpProtocol::Tcp, seg.len());
    let Some(field) = seg.get_mut(TCP_CHECKSUM_OFFSET..TCP_CHECKSUM_OFFSET + 2) else {
        return;
    };
    if partial {
        field.copy_from_slice(&ph.to_be_bytes());
        return;
    }
    field.fill(0);
    let c = !combine(ph, sum(seg));
    if let Some(field) = seg.get_mut(TCP_CHECKSUM_OFFSET..TCP_CHECKSUM_OFFSET + 2) {
        field.copy_from_slice(&c.to_be_bytes());
    }
}

/// Whether the TCP segment `seg` from `src` to `dst` has a correct checksum.
pub fn verify_tcp(seg: &[u8], src: &IpAddress, dst: &IpAddress) -> bool {
    let ph = pseudo_header(src, dst, IpProtocol::Tcp, seg.len());
    combine(ph, sum(seg)) == 0xffff
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use proptest::prelude::*;
    use smoltcp::wire::{TcpPacket, TcpSeqNumber};

    #[test]
    fn rfc1071_example() {
        // RFC 1071 §3: bytes 00 01 f2 03 f4 f5 f6 f7 sum to ddf2.
        assert_eq!(
            sum(&[0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7]),
            0xddf2
        );
        assert_eq!(sum(&[]), 0);
        assert_eq!(sum(&[0xff, 0xff]), 0xffff);
        assert_eq!(sum(&[0x12]), 0x1200);
    }

    fn addrs(v6: bool, a: [u8; 16], b: [u8; 16]) -> (IpAddress, IpAddress) {
        if v6 {
            (
                IpAddress::Ipv6(smoltcp::wire::Ipv6Address::from(a)),
                IpAddress::Ipv6(smoltcp::wire::Ipv6Address::from(b)),
            )
        } else {
            (
                IpAddress::v4(a[0], a[1], a[2], a[3]),
                IpAddress::v4(b[0], b[1], b[2], b[3]),
            )
        }
    }

    proptest! {
        /// Agrees with the textbook RFC 1071 loop (16-bit big-endian words, end-around
        /// carry at every step) for every length and alignment.
        #[test]
        fn sum_matches_rfc1071_loop(data in proptest::collection::vec(any::<u8>(), 0..3000), skip in 0usize..8) {
            let d = data.get(skip.min(data.len())..).unwrap();
            let mut acc: u32 = 0;
            for w in d.chunks(2) {
                let word = (u32::from(w[0]) << 8) | u32::from(w.get(1).copied().unwrap_or(0));
                acc += word;
                acc = (acc & 0xffff) + (acc >> 16);
            }
            prop_assert_eq!(u32::from(sum(d)), acc);
        }

        /// A filled TCP checksum is the one smoltcp computes (`TcpPacket::fill_checksum`,
        /// i.e. smoltcp's `checksum::data` over pseudo-header and segment), and verifies
        /// with both; a flipped bit fails.
        #[test]
        fn tcp_fill_and_verify_match_smoltcp(
            payload in proptest::collection::vec(any::<u8>(), 0..3000),
            v6 in any::<bool>(), a in any::<[u8; 16]>(), b in any::<[u8; 16]>(),
            flip in any::<usize>(),
        ) {
            let (src, dst) = addrs(v6, a, b);
            let mut seg = vec![0u8; 20 + payload.len()];
            seg[20..].copy_from_slice(&payload);
            {
                let mut p = TcpPacket::new_unchecked(&mut seg[..]);
                p.set_header_len(20);
                p.set_seq_number(TcpSeqNumber(0x1234_5678));
                p.set_src_port(1);
                p.set_dst_port(2);
            }
            let mut ours = seg.clone();
            fill_tcp(&mut ours, &src, &dst, false);
            TcpPacket::new_unchecked(&mut seg[..]).fill_checksum(&src, &dst);
            prop_assert_eq!(&ours, &seg);
            prop_assert!(verify_tcp(&ours, &src, &dst));
            prop_assert!(TcpPacket::new_unchecked(&ours[..]).verify_checksum(&src, &dst));
            let bit = flip % (ours.len() * 8);
            ours[bit / 8] ^= 1 << (bit % 8);
            prop_assert!(!verify_tcp(&ours, &src, &dst));
        }

        /// Copying with the sum gives the bytes and `sum`; two parts split anywhere (odd
        /// offsets included) combine to the sum of the whole.
        #[test]
        fn copy_with_sum_and_split_parts(data in proptest::collection::vec(any::<u8>(), 0..3000), cut in any::<usize>(), start in 0usize..4) {
            let cut = cut % (data.len() + 1);
            let (a, b) = data.split_at(cut);
            let mut out = vec![0u8; data.len() + start];
            let sa = copy_with_sum(&mut out[start..], a);
            let sb = copy_with_sum(&mut out[start + cut..], b);
            prop_assert_eq!(&out[start..], &data[..]);
            prop_assert_eq!(sa, sum(a));
            prop_assert_eq!(combine_at(sa, sb, cut), sum(&data));
        }

        /// Offload: the partial checksum plus the link's sum over the segment gives the
        /// full checksum (what a NEEDS_CSUM device computes).
        #[test]
        fn partial_checksum_completes(payload in proptest::collection::vec(any::<u8>(), 0..600), a in any::<[u8; 16]>(), b in any::<[u8; 16]>()) {
            let (src, dst) = addrs(false, a, b);
            let mut seg = vec![0u8; 20 + payload.len()];
            seg[20..].copy_from_slice(&payload);
            seg[12] = 5 << 4;
            let mut full = seg.clone();
            fill_tcp(&mut full, &src, &dst, false);
            fill_tcp(&mut seg, &src, &dst, true);
            let c = !sum(&seg);
            seg[16..18].copy_from_slice(&c.to_be_bytes());
            prop_assert_eq!(seg, full);
        }
    }
}
