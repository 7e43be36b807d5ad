//! Receive side of a TUN device with a virtio-net header (`IFF_VNET_HDR`): what the
//! daemon does with one read before the engine sees it, given the header's flags
//! (include/uapi/linux/virtio_net.h; the kernel fills them in `virtio_net_hdr_from_skb`).
//!
//! The relay's stack runs with checksum offload (`stack::ChecksumOffload`): it verifies no
//! TCP checksum, so every TCP segment handed to it must be vouched for here.
//!
//! - `VIRTIO_NET_HDR_F_NEEDS_CSUM` (`CHECKSUM_PARTIAL`: the kernel built the packet and left
//!   the checksum to the device, so it never crossed a wire): TCP is taken as it is, its
//!   checksum field holding only the pseudo-header sum; anything else (UDP, which the relay
//!   translates and writes back) gets its checksum completed here.
//! - `VIRTIO_NET_HDR_F_DATA_VALID` (`CHECKSUM_UNNECESSARY`: the kernel verified it): taken.
//! - Neither: a TCP segment is verified here and dropped if wrong; other protocols carry
//!   their own checksums, which the relay leaves alone (it translates UDP/ICMP with
//!   incremental updates).
//! - A TCP GSO super-packet (`GSO_TCPV4` / `GSO_TCPV6`, with or without `GSO_ECN`) is handed
//!   to the engine whole, one segment larger than the MSS (RFC 9293 §3.10.7.4 trims any
//!   segment to the receive window): the kernel built or merged it (TSO or GRO, checksums
//!   partial or already verified), only its IP length fields are made to match the read.
//!   One with neither checksum flag is dropped: its one checksum field cannot vouch for a
//!   merged payload, and the kernel always sets one of the two for a TCP GSO packet.
//!   Other GSO types (UDP) are split by tun-rs.

use stack::wire::{checksum, ip};

use crate::tun_hdr::{VirtioHdr, GSO_NONE, GSO_TCPV4, GSO_TCPV6, NEEDS_CSUM};

/// `VIRTIO_NET_HDR_F_DATA_VALID`.
pub const DATA_VALID: u8 = 2;
/// `VIRTIO_NET_HDR_GSO_ECN`: a flag bit of `gso_type`.
const GSO_ECN: u8 = 0x80;
const TCP: u8 = 6;

/// What to do with one read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rx {
    /// Hand the packet to the engine as it is (now); it stands for `segments` packets on
    /// the wire (more than one for a super-packet).
    Whole {
        /// Wire packets it stands for.
        segments: u64,
    },
    /// A GSO packet of another kind than TCP: split it into MTU-sized packets.
    Split,
    /// Drop it: a TCP checksum was wrong, or the headers are inconsistent.
    Drop,
}

/// The transport protocol and IP header length of `packet` (IPv4 with any header length,
/// IPv6 without extension headers), if it is not a fragment.
fn transport(packet: &[u8]) -> Option<(u8, usize)> {
    match packet.first()? >> 4 {
        4 => {
            let ihl = usize::from(packet.first()? & 0x0f) * 4;
            let frag = u16::from_be_bytes([*packet.get(6)?, *packet.get(7)?]) & 0x3fff;
            (ihl >= 20 && frag == 0).then_some((*packet.get(9)?, ihl))
        }
        6 => Some((*packet.get(6)?, 40)),
        _ => None,
    }
}

/// Decides what to do with the packet of one read (after its header `hdr`), completing a
/// partial non-TCP checksum or fixing a super-packet's IP lengths in place.
pub fn prepare(hdr: &VirtioHdr, packet: &mut [u8]) -> Rx {
    let gso = hdr.gso_type & !GSO_ECN;
    if gso == GSO_TCPV4 || gso == GSO_TCPV6 {
        return super_packet(hdr, packet);
    }
    if gso != GSO_NONE {
        return Rx::Split;
    }
    let tcp = transport(packet).is_some_and(|(p, _)| p == TCP);
    if hdr.flags & NEEDS_CSUM != 0 {
        if !tcp && !complete(packet, hdr.csum_start, hdr.csum_offset) {
            return Rx::Drop;
        }
    } else if hdr.flags & DATA_VALID == 0 && tcp && !verify(packet) {
        return Rx::Drop;
    }
    Rx::Whole { segments: 1 }
}

/// Whether the TCP segment in `packet` has a correct checksum (and a sound IP header).
fn verify(packet: &[u8]) -> bool {
    ip::parse(packet).is_ok_and(|v| checksum::verify_tcp(v.payload, &v.src, &v.dst))
}

/// Completes a partial checksum (`NEEDS_CSUM`): the field at `start + offset` holds the
/// pseudo-header sum, the sum of everything from `start` is added and the result
/// inverted (0 is sent as 0xffff, as `skb_checksum_help` does). False if out of range.
fn complete(packet: &mut [u8], start: u16, offset: u16) -> bool {
    let (start, at) = (usize::from(start), usize::from(start) + usize::from(offset));
    let Some(field) = packet.get_mut(at..at + 2) else {
        return false;
    };
    let initial = u16::from_be_bytes([field[0], field[1]]);
    field.fill(0);
    let Some(data) = packet.get(start..) else {
        return false;
    };
    let c = match !checksum::combine(initial, checksum::sum(data)) {
        0 => 0xffff,
        c => c,
    };
    if let Some(f) = packet.get_mut(at..at + 2) {
        f.copy_from_slice(&c.to_be_bytes());
    }
    true
}

/// A TCP super-packet: checks its headers, sets the IP length fields to the read's length
/// (the kernel's are normally right already) and counts the segments it stands for.
fn super_packet(hdr: &VirtioHdr, packet: &mut [u8]) -> Rx {
    if hdr.flags & (NEEDS_CSUM | DATA_VALID) == 0 {
        return Rx::Drop;
    }
    let len = packet.len();
    let v6 = hdr.gso_type & !GSO_ECN == GSO_TCPV6;
    let Some((TCP, iph)) = transport(packet) else {
        return Rx::Drop;
    };
    if v6 != (packet.first().map(|b| b >> 4) == Some(6)) || len > 65_535 + usize::from(v6) * 40 {
        return Rx::Drop;
    }
    let Some(&off) = packet.get(iph + 12) else {
        return Rx::Drop;
    };
    let headers = iph + usize::from(off >> 4) * 4;
    if headers < iph + 20 || headers > len {
        return Rx::Drop;
    }
    if v6 {
        let Ok(payload) = u16::try_from(len - 40) else {
            return Rx::Drop;
        };
        if let Some(f) = packet.get_mut(4..6) {
            f.copy_from_slice(&payload.to_be_bytes());
        }
    } else {
        let Ok(total) = u16::try_from(len) else {
            return Rx::Drop;
        };
        let stated = packet.get(2..4).map(|f| u16::from_be_bytes([f[0], f[1]]));
        if stated != Some(total) {
            if let Some(f) = packet.get_mut(2..4) {
                f.copy_from_slice(&total.to_be_bytes());
            }
            if let Some(f) = packet.get_mut(10..12) {
                f.fill(0);
            }
            let c = !checksum::sum(packet.get(..iph).unwrap_or_default());
            if let Some(f) = packet.get_mut(10..12) {
                f.copy_from_slice(&c.to_be_bytes());
            }
        }
    }
    let payload = (len - headers) as u64;
    let size = u64::from(hdr.gso_size.max(1));
    Rx::Whole {
        segments: payload.div_ceil(size).max(1),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use smoltcp::wire::{IpAddress, IpProtocol};

    const SRC: [u8; 4] = [10, 201, 3, 1];
    const DST: [u8; 4] = [10, 201, 3, 2];

    /// An IPv4 packet of `proto` with a correct header checksum and `l4` as payload.
    fn v4(proto: u8, l4: &[u8]) -> Vec<u8> {
        let total = 20 + l4.len();
        let mut p = vec![0u8; total];
        p[0] = 0x45;
        p[2..4].copy_from_slice(&(total as u16).to_be_bytes());
        p[6] = 0x40;
        p[8] = 64;
        p[9] = proto;
        p[12..16].copy_from_slice(&SRC);
        p[16..20].copy_from_slice(&DST);
        let c = !checksum::sum(&p[..20]);
        p[10..12].copy_from_slice(&c.to_be_bytes());
        p[20..].copy_from_slice(l4);
        p
    }

    /// A TCP segment (20-byte header, ACK|PSH) carrying `payload`, checksum field `csum`.
    fn tcp(payload: &[u8]) -> Vec<u8> {
        let mut t = vec![0u8; 20 + payload.len()];
        t[0..2].copy_from_slice(&40000u16.to_be_bytes());
        t[2..4].copy_from_slice(&5201u16.to_be_bytes());
        t[4..8].copy_from_slice(&1000u32.to_be_bytes());
        t[12] = 5 << 4;
        t[13] = 0x18;
        t[14..16].copy_from_slice(&1000u16.to_be_bytes());
        t[20..].copy_from_slice(payload);
        t
    }

    fn addrs() -> (IpAddress, IpAddress) {
        (
            IpAddress::v4(SRC[0], SRC[1], SRC[2], SRC[3]),
            IpAddress::v4(DST[0], DST[1], DST[2], DST[3]),
        )
    }

    /// A TCP/IPv4 packet with a complete (`full`) or partial (pseudo-header sum) checksum.
    fn tcp4(payload: &[u8], full: bool) -> Vec<u8> {
        let mut p = v4(TCP, &tcp(payload));
        let (s, d) = addrs();
        checksum::fill_tcp(&mut p[20..], &s, &d, !full);
        p
    }

    fn hdr(flags: u8, gso_type: u8, gso_size: u16) -> VirtioHdr {
        VirtioHdr {
            flags,
            gso_type,
            hdr_len: 40,
            gso_size,
            csum_start: 20,
            csum_offset: 16,
        }
    }

    #[test]
    fn partial_tcp_is_taken_without_touching_it() {
        let mut p = tcp4(b"hello", false);
        let before = p.clone();
        assert_eq!(
            prepare(&hdr(NEEDS_CSUM, GSO_NONE, 0), &mut p),
            Rx::Whole { segments: 1 }
        );
        assert_eq!(p, before);
        // It really was partial: a verifying stack would have dropped it.
        assert!(!verify(&p));
    }

    #[test]
    fn unvouched_tcp_is_verified_and_dropped_if_wrong() {
        let mut good = tcp4(b"hello", true);
        assert_eq!(
            prepare(&hdr(0, GSO_NONE, 0), &mut good),
            Rx::Whole { segments: 1 }
        );
        let mut bad = good.clone();
        bad[44] ^= 1;
        assert_eq!(prepare(&hdr(0, GSO_NONE, 0), &mut bad), Rx::Drop);
        // The same corruption is taken when the kernel vouched for it.
        let mut vouched = bad.clone();
        assert_eq!(
            prepare(&hdr(DATA_VALID, GSO_NONE, 0), &mut vouched),
            Rx::Whole { segments: 1 }
        );
    }

    #[test]
    fn partial_udp_gets_its_checksum_completed() {
        let mut udp = vec![0u8; 8 + 7];
        udp[0..2].copy_from_slice(&5353u16.to_be_bytes());
        udp[2..4].copy_from_slice(&53u16.to_be_bytes());
        udp[4..6].copy_from_slice(&15u16.to_be_bytes());
        udp[8..].copy_from_slice(b"payload");
        let (s, d) = addrs();
        let ph = checksum::pseudo_header(&s, &d, IpProtocol::Udp, udp.len());
        udp[6..8].copy_from_slice(&ph.to_be_bytes());
        let mut p = v4(17, &udp);
        let mut h = hdr(NEEDS_CSUM, GSO_NONE, 0);
        h.csum_offset = 6;
        assert_eq!(prepare(&h, &mut p), Rx::Whole { segments: 1 });
        // The completed checksum verifies: pseudo-header + UDP bytes sum to 0xffff.
        assert_ne!(&p[26..28], &ph.to_be_bytes());
        assert_eq!(checksum::combine(ph, checksum::sum(&p[20..])), 0xffff);
        // Out of range: dropped, not a panic.
        h.csum_offset = 200;
        assert_eq!(prepare(&h, &mut p), Rx::Drop);
    }

    #[test]
    fn tcp_super_packet_is_whole_with_its_lengths_fixed() {
        let payload = vec![7u8; 4000];
        let mut p = tcp4(&payload, false);
        // A kernel that left the first segment's length in the IP header.
        p[2..4].copy_from_slice(&1500u16.to_be_bytes());
        let r = prepare(&hdr(NEEDS_CSUM, GSO_TCPV4, 1448), &mut p);
        assert_eq!(r, Rx::Whole { segments: 3 });
        assert_eq!(u16::from_be_bytes([p[2], p[3]]) as usize, p.len());
        let view = ip::parse(&p).unwrap();
        assert_eq!(view.payload.len(), 4020);
        // With the ECN bit, the same.
        assert_eq!(
            prepare(&hdr(NEEDS_CSUM, GSO_TCPV4 | GSO_ECN, 1000), &mut p),
            Rx::Whole { segments: 4 }
        );
        // Vouched for by neither flag: nothing can check a merged payload, dropped.
        let mut q = p.clone();
        assert_eq!(prepare(&hdr(0, GSO_TCPV4, 1000), &mut q), Rx::Drop);
        assert_eq!(
            prepare(&hdr(DATA_VALID, GSO_TCPV4, 1000), &mut q),
            Rx::Whole { segments: 4 }
        );
        // A TCPv6 GSO type on an IPv4 packet, or a UDP packet, is refused.
        assert_eq!(prepare(&hdr(NEEDS_CSUM, GSO_TCPV6, 1448), &mut p), Rx::Drop);
        let mut u = v4(17, &[0u8; 100]);
        assert_eq!(prepare(&hdr(NEEDS_CSUM, GSO_TCPV4, 10), &mut u), Rx::Drop);
        assert_eq!(prepare(&hdr(NEEDS_CSUM, 5, 10), &mut u), Rx::Split);
        // Truncated headers never panic.
        for n in 0..41 {
            let mut t = p[..n].to_vec();
            let _ = prepare(&hdr(NEEDS_CSUM, GSO_TCPV4, 1448), &mut t);
            let _ = prepare(&hdr(0, GSO_NONE, 0), &mut t);
            let _ = prepare(&hdr(NEEDS_CSUM, GSO_NONE, 0), &mut t);
        }
    }

    #[test]
    fn tcp_super_packet_v6_payload_length_is_set() {
        let mut p = vec![0u8; 40 + 20 + 3000];
        p[0] = 0x60;
        p[6] = TCP;
        p[7] = 64;
        p[40 + 12] = 5 << 4;
        let r = prepare(
            &VirtioHdr {
                csum_start: 40,
                ..hdr(NEEDS_CSUM, GSO_TCPV6, 1428)
            },
            &mut p,
        );
        assert_eq!(r, Rx::Whole { segments: 3 });
        assert_eq!(u16::from_be_bytes([p[4], p[5]]), 3020);
    }
}
