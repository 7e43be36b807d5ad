//! Stateless address translation for packets that pass through unencrypted (UDP, ICMP;
//! DESIGN.md "Data path"): replace one address by another in the IP header and, for ICMP
//! errors (RFC 792, RFC 4443 §2.4 c), in the header of the quoted packet; then fix every
//! checksum that covers the address (RFC 791 header checksum, RFC 768/9293 pseudo-header
//! checksums, RFC 4443 §2.3 ICMPv6 checksum), always incrementally (RFC 1624) so that a
//! packet corrupted on the way stays detectably corrupted.

use std::ops::Range;

use smoltcp::wire::{IpAddress, IpProtocol, Ipv4Packet, Ipv6Packet};

/// Why a packet could not be translated.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum NatError {
    /// Not an IPv4/IPv6 packet, or its headers are inconsistent with its length.
    #[error("malformed IP packet")]
    Malformed,
    /// The replacement address is of the other family.
    #[error("address family mismatch")]
    Family,
}

/// Offset of the quoted packet inside an ICMP error message (RFC 792, RFC 4443 §3).
const ICMP_QUOTE_OFFSET: usize = 8;

/// Where the source and destination addresses sit in an IPv4 header (RFC 791 §3.1).
const V4_ADDRS: [Range<usize>; 2] = [12..16, 16..20];
/// Where the source and destination addresses sit in an IPv6 header (RFC 8200 §3).
const V6_ADDRS: [Range<usize>; 2] = [8..24, 24..40];

/// Replace `old` by `new` wherever it is the source or destination of `packet` (and of the
/// packet quoted by an ICMP error), fixing checksums. Returns whether anything changed.
pub fn replace_addr(packet: &mut [u8], old: IpAddress, new: IpAddress) -> Result<bool, NatError> {
    let (o, n) = match (old, new) {
        (IpAddress::Ipv4(o), IpAddress::Ipv4(n)) => (o.octets().to_vec(), n.octets().to_vec()),
        (IpAddress::Ipv6(o), IpAddress::Ipv6(n)) => (o.octets().to_vec(), n.octets().to_vec()),
        _ => return Err(NatError::Family),
    };
    match packet.first().map(|b| b >> 4) {
        Some(4) if o.len() == 4 => replace_v4(packet, &o, &n),
        Some(6) if o.len() == 16 => replace_v6(packet, &o, &n),
        Some(4) | Some(6) => Err(NatError::Family),
        _ => Err(NatError::Malformed),
    }
}

fn replace_v4(packet: &mut [u8], old: &[u8], new: &[u8]) -> Result<bool, NatError> {
    let p = Ipv4Packet::new_checked(&*packet).map_err(|_| NatError::Malformed)?;
    let (proto, fragment) = (p.next_header(), p.frag_offset() != 0);
    let changed = swap_addrs(packet, &V4_ADDRS, old, new);
    if changed == 0 {
        return Ok(false);
    }
    let (o, n) = (old.repeat(changed), new.repeat(changed));
    let mut p = Ipv4Packet::new_unchecked(packet);
    // Incremental updates (RFC 1624) keep a corrupted packet detectably corrupted.
    let sum = adjust_checksum(p.checksum(), &o, &n);
    p.set_checksum(sum);
    if !fragment {
        patch_payload(p.payload_mut(), proto, 4, (old, new), (&o, &n));
    }
    Ok(true)
}

fn replace_v6(packet: &mut [u8], old: &[u8], new: &[u8]) -> Result<bool, NatError> {
    let p = Ipv6Packet::new_checked(&*packet).map_err(|_| NatError::Malformed)?;
    let proto = p.next_header();
    let changed = swap_addrs(packet, &V6_ADDRS, old, new);
    if changed == 0 {
        return Ok(false);
    }
    let (o, n) = (old.repeat(changed), new.repeat(changed));
    let mut p = Ipv6Packet::new_unchecked(packet);
    patch_payload(p.payload_mut(), proto, 6, (old, new), (&o, &n));
    Ok(true)
}

/// Write `new` into each of the address `fields` of `header` that holds `old`; returns how
/// many did (0, 1 or 2).
fn swap_addrs(header: &mut [u8], fields: &[Range<usize>; 2], old: &[u8], new: &[u8]) -> usize {
    let mut changed = 0;
    for range in fields {
        if header.get(range.clone()) == Some(old) {
            if let Some(f) = header.get_mut(range.clone()) {
                f.copy_from_slice(new);
                changed += 1;
            }
        }
    }
    changed
}

/// Fix the checksums in the payload of an IP packet of `version` whose pseudo-header words
/// changed from `o` to `n` (the address `old` → `new`, once per field it filled); ICMP errors
/// also get the packet they quote translated (RFC 792, RFC 4443 §2.4 c).
fn patch_payload(
    payload: &mut [u8],
    proto: IpProtocol,
    version: u8,
    (old, new): (&[u8], &[u8]),
    (o, n): (&[u8], &[u8]),
) {
    match (proto, version) {
        (IpProtocol::Tcp, _) => patch(payload, 16, o, n, false),
        (IpProtocol::Udp, _) => patch(payload, 6, o, n, true),
        // ICMPv4's checksum covers no pseudo-header; an error quotes our packet.
        (IpProtocol::Icmp, 4) => {
            if matches!(payload.first(), Some(3) | Some(11) | Some(12)) {
                let before = payload.to_vec();
                if let Some(quoted) = payload.get_mut(ICMP_QUOTE_OFFSET..) {
                    rewrite_quoted_v4(quoted, old, new);
                }
                patch_message(payload, &[], &[], &before);
            }
        }
        (IpProtocol::Icmpv6, 6) => {
            let before = payload.to_vec();
            if matches!(payload.first(), Some(1..=4)) {
                if let Some(quoted) = payload.get_mut(ICMP_QUOTE_OFFSET..) {
                    rewrite_quoted_v6(quoted, old, new);
                }
            }
            patch_message(payload, o, n, &before);
        }
        _ => {}
    }
}

/// Incrementally fix the checksum at `off` of a transport header whose pseudo-header
/// changed from `old` to `new` (RFC 1624). UDP: a zero checksum (none, IPv4) stays zero,
/// and a computed zero is sent as all ones (RFC 768).
fn patch(l4: &mut [u8], off: usize, old: &[u8], new: &[u8], udp: bool) {
    let Some(field) = l4.get_mut(off..off + 2) else {
        return;
    };
    let sum = u16::from_be_bytes([
        field.first().copied().unwrap_or(0),
        field.get(1).copied().unwrap_or(0),
    ]);
    if udp && sum == 0 {
        return;
    }
    let mut fixed = adjust_checksum(sum, old, new);
    if udp && fixed == 0 {
        fixed = 0xffff;
    }
    field.copy_from_slice(&fixed.to_be_bytes());
}

/// Incrementally fix an ICMP checksum (at offset 2) after the message changed from
/// `before` to its current content and the pseudo-header addresses from `old` to `new`.
fn patch_message(msg: &mut [u8], old: &[u8], new: &[u8], before: &[u8]) {
    if msg.len() < 4 || before.len() != msg.len() {
        return;
    }
    let mut a = old.to_vec();
    a.extend_from_slice(before);
    let mut b = new.to_vec();
    b.extend_from_slice(msg);
    // The checksum field itself is not part of the sum being patched.
    for v in [&mut a, &mut b] {
        if let Some(f) = v.get_mut(old.len() + 2..old.len() + 4) {
            f.fill(0);
        }
    }
    let sum = u16::from_be_bytes([msg[2], msg[3]]);
    let fixed = adjust_checksum(sum, &a, &b);
    msg[2..4].copy_from_slice(&fixed.to_be_bytes());
}

/// RFC 1624 eqn. 3: HC' = ~(~HC + ~m + m') over the 16-bit words that changed.
fn adjust_checksum(sum: u16, old: &[u8], new: &[u8]) -> u16 {
    let mut acc: u32 = u32::from(!sum);
    for w in old.chunks(2) {
        let v = u16::from_be_bytes([
            w.first().copied().unwrap_or(0),
            w.get(1).copied().unwrap_or(0),
        ]);
        acc += u32::from(!v);
    }
    for w in new.chunks(2) {
        let v = u16::from_be_bytes([
            w.first().copied().unwrap_or(0),
            w.get(1).copied().unwrap_or(0),
        ]);
        acc += u32::from(v);
    }
    while acc > 0xffff {
        acc = (acc & 0xffff) + (acc >> 16);
    }
    !(acc as u16)
}

/// RFC 1071 one's-complement sum of 16-bit words (odd tail padded with zero).
fn ones_sum(data: &[u8]) -> u16 {
    let mut acc: u32 = 0;
    for w in data.chunks(2) {
        let hi = w.first().copied().unwrap_or(0);
        let lo = w.get(1).copied().unwrap_or(0);
        acc += u32::from(u16::from_be_bytes([hi, lo]));
    }
    while acc > 0xffff {
        acc = (acc & 0xffff) + (acc >> 16);
    }
    acc as u16
}

/// Offset of the checksum in a quoted transport header, if it is in the quoted bytes.
fn quoted_l4_checksum_offset(proto: u8) -> Option<usize> {
    match proto {
        6 => Some(16), // TCP
        17 => Some(6), // UDP
        58 => Some(2), // ICMPv6 (pseudo-header covers addresses)
        _ => None,
    }
}

fn adjust_quoted_l4(l4: &mut [u8], proto: u8, old: &[u8], new: &[u8]) {
    let Some(off) = quoted_l4_checksum_offset(proto) else {
        return;
    };
    let Some(field) = l4.get_mut(off..off + 2) else {
        return;
    };
    let sum = u16::from_be_bytes([field[0], field[1]]);
    if proto == 17 && sum == 0 && old.len() == 4 {
        return;
    }
    let fixed = adjust_checksum(sum, old, new).to_be_bytes();
    field.copy_from_slice(&fixed);
}

/// Rewrite the (possibly truncated) IPv4 header quoted in an ICMP error.
fn rewrite_quoted_v4(quoted: &mut [u8], old: &[u8], new: &[u8]) {
    let Some(&vihl) = quoted.first() else { return };
    let ihl = usize::from(vihl & 0x0f) * 4;
    if vihl >> 4 != 4 || ihl < 20 || quoted.len() < ihl {
        return;
    }
    let proto = quoted.get(9).copied().unwrap_or(0);
    let changed = swap_addrs(quoted, &V4_ADDRS, old, new);
    if changed == 0 {
        return;
    }
    // Header checksum: recompute over the quoted header.
    if let Some(h) = quoted.get_mut(..ihl) {
        h[10] = 0;
        h[11] = 0;
        let c = !ones_sum(h);
        h[10..12].copy_from_slice(&c.to_be_bytes());
    }
    if let Some(l4) = quoted.get_mut(ihl..) {
        for _ in 0..changed {
            adjust_quoted_l4(l4, proto, old, new);
        }
    }
}

/// Rewrite the IPv6 header quoted in an ICMPv6 error.
fn rewrite_quoted_v6(quoted: &mut [u8], old: &[u8], new: &[u8]) {
    if quoted.len() < 40 || quoted.first().map(|b| b >> 4) != Some(6) {
        return;
    }
    let proto = quoted.get(6).copied().unwrap_or(0);
    let changed = swap_addrs(quoted, &V6_ADDRS, old, new);
    if let Some(l4) = quoted.get_mut(40..) {
        for _ in 0..changed {
            adjust_quoted_l4(l4, proto, old, new);
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing)]
    use super::*;
    use smoltcp::wire::{
        Icmpv4Packet, Icmpv6Packet, Ipv4Address, Ipv6Address, TcpPacket, UdpPacket,
    };

    fn udp_v4(src: Ipv4Address, dst: Ipv4Address, payload: &[u8]) -> Vec<u8> {
        let total = 20 + 8 + payload.len();
        let mut b = vec![0u8; total];
        {
            let mut ip = Ipv4Packet::new_unchecked(&mut b[..]);
            ip.set_version(4);
            ip.set_header_len(20);
            ip.set_total_len(total as u16);
            ip.set_hop_limit(64);
            ip.set_next_header(IpProtocol::Udp);
            ip.set_src_addr(src);
            ip.set_dst_addr(dst);
            ip.fill_checksum();
        }
        {
            let mut u = UdpPacket::new_unchecked(&mut b[20..]);
            u.set_src_port(5353);
            u.set_dst_port(53);
            u.set_len((8 + payload.len()) as u16);
            u.payload_mut().copy_from_slice(payload);
            u.fill_checksum(&IpAddress::Ipv4(src), &IpAddress::Ipv4(dst));
        }
        b
    }

    #[test]
    fn udp_v4_source_rewritten_with_valid_checksums() {
        let k = Ipv4Address::new(10, 77, 0, 1);
        let s = Ipv4Address::new(10, 77, 0, 2);
        let d = Ipv4Address::new(192, 0, 2, 10);
        let mut p = udp_v4(k, d, b"query");
        assert!(replace_addr(&mut p, IpAddress::Ipv4(k), IpAddress::Ipv4(s)).unwrap());
        let ip = Ipv4Packet::new_checked(&p[..]).unwrap();
        assert_eq!(ip.src_addr(), s);
        assert!(ip.verify_checksum());
        let u = UdpPacket::new_checked(ip.payload()).unwrap();
        assert!(u.verify_checksum(&IpAddress::Ipv4(s), &IpAddress::Ipv4(d)));
        assert_eq!(u.payload(), b"query");
        // A packet not involving the address is left alone.
        let before = p.clone();
        assert!(!replace_addr(&mut p, IpAddress::Ipv4(k), IpAddress::Ipv4(s)).unwrap());
        assert_eq!(p, before);
    }

    #[test]
    fn icmp_v4_error_quote_rewritten() {
        let k = Ipv4Address::new(10, 77, 0, 1);
        let s = Ipv4Address::new(10, 77, 0, 2);
        let d = Ipv4Address::new(192, 0, 2, 10);
        let r = Ipv4Address::new(192, 0, 2, 1);
        // The packet we sent (from the stack address), quoted whole by a router.
        let sent = udp_v4(s, d, b"abcd");
        let icmp_len = 8 + sent.len();
        let total = 20 + icmp_len;
        let mut b = vec![0u8; total];
        {
            let mut ip = Ipv4Packet::new_unchecked(&mut b[..]);
            ip.set_version(4);
            ip.set_header_len(20);
            ip.set_total_len(total as u16);
            ip.set_hop_limit(64);
            ip.set_next_header(IpProtocol::Icmp);
            ip.set_src_addr(r);
            ip.set_dst_addr(s);
            ip.fill_checksum();
        }
        b[20] = 3; // destination unreachable
        b[21] = 3; // port unreachable
        b[28..].copy_from_slice(&sent);
        Icmpv4Packet::new_unchecked(&mut b[20..]).fill_checksum();
        assert!(replace_addr(&mut b, IpAddress::Ipv4(s), IpAddress::Ipv4(k)).unwrap());
        let ip = Ipv4Packet::new_checked(&b[..]).unwrap();
        assert_eq!(ip.dst_addr(), k);
        assert!(ip.verify_checksum());
        let icmp = Icmpv4Packet::new_checked(ip.payload()).unwrap();
        assert!(icmp.verify_checksum());
        let quoted = Ipv4Packet::new_checked(&ip.payload()[8..]).unwrap();
        assert_eq!(quoted.src_addr(), k);
        assert!(quoted.verify_checksum());
        let u = UdpPacket::new_checked(quoted.payload()).unwrap();
        assert!(u.verify_checksum(&IpAddress::Ipv4(k), &IpAddress::Ipv4(d)));
    }

    #[test]
    fn icmp_v6_echo_reply_destination_rewritten() {
        let k = Ipv6Address::new(0xfd77, 0, 0, 0, 0, 0, 0, 1);
        let s = Ipv6Address::new(0xfd77, 0, 0, 0, 0, 0, 0, 2);
        let d = Ipv6Address::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 10);
        let body = [129u8, 0, 0, 0, 0x12, 0x34, 0, 1, b'p', b'i', b'n', b'g'];
        let mut b = vec![0u8; 40 + body.len()];
        {
            let mut ip = Ipv6Packet::new_unchecked(&mut b[..]);
            ip.set_version(6);
            ip.set_payload_len(body.len() as u16);
            ip.set_next_header(IpProtocol::Icmpv6);
            ip.set_hop_limit(64);
            ip.set_src_addr(d);
            ip.set_dst_addr(s);
        }
        b[40..].copy_from_slice(&body);
        Icmpv6Packet::new_unchecked(&mut b[40..]).fill_checksum(&d, &s);
        assert!(replace_addr(&mut b, IpAddress::Ipv6(s), IpAddress::Ipv6(k)).unwrap());
        let ip = Ipv6Packet::new_checked(&b[..]).unwrap();
        assert_eq!(ip.dst_addr(), k);
        let icmp = Icmpv6Packet::new_checked(ip.payload()).unwrap();
        assert!(icmp.verify_checksum(&d, &k));
    }

    fn tcp_v6(src: Ipv6Address, dst: Ipv6Address) -> Vec<u8> {
        let mut b = vec![0u8; 40 + 20 + 8];
        {
            let mut ip = Ipv6Packet::new_unchecked(&mut b[..]);
            ip.set_version(6);
            ip.set_payload_len(28);
            ip.set_next_header(IpProtocol::Tcp);
            ip.set_hop_limit(64);
            ip.set_src_addr(src);
            ip.set_dst_addr(dst);
        }
        let mut t = TcpPacket::new_unchecked(&mut b[40..]);
        t.set_src_port(443);
        t.set_dst_port(50000);
        t.set_header_len(20);
        t.payload_mut().copy_from_slice(b"payload!");
        t.fill_checksum(&IpAddress::Ipv6(src), &IpAddress::Ipv6(dst));
        b
    }

    #[test]
    fn tcp_checksum_follows_the_address_and_corruption_stays_visible() {
        let k = Ipv6Address::new(0xfd77, 0, 0, 0, 0, 0, 0, 1);
        let s = Ipv6Address::new(0xfd77, 0, 0, 0, 0, 0, 0, 2);
        let d = Ipv6Address::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 10);
        let mut good = tcp_v6(d, s);
        let mut bad = good.clone();
        bad[40 + 20 + 3] ^= 0x10;
        for p in [&mut good, &mut bad] {
            assert!(replace_addr(p, IpAddress::Ipv6(s), IpAddress::Ipv6(k)).unwrap());
        }
        let ok = |p: &[u8]| {
            TcpPacket::new_checked(&p[40..])
                .unwrap()
                .verify_checksum(&IpAddress::Ipv6(d), &IpAddress::Ipv6(k))
        };
        assert!(ok(&good), "translated packet checks");
        assert!(
            !ok(&bad),
            "a corrupted packet is not repaired by translation"
        );
    }

    #[test]
    fn garbage_is_an_error_not_a_panic() {
        let a = IpAddress::v4(1, 2, 3, 4);
        let b = IpAddress::v4(5, 6, 7, 8);
        for p in [&[][..], &[0x45][..], &[0x60, 0, 0][..], &[0x12; 30][..]] {
            let mut v = p.to_vec();
            assert!(replace_addr(&mut v, a, b).is_err());
        }
        let mut v = vec![0x45; 40];
        assert_eq!(
            replace_addr(&mut v, a, IpAddress::v6(0, 0, 0, 0, 0, 0, 0, 1)),
            Err(NatError::Family)
        );
    }
}
