//! ICMP "destination unreachable" for an outer SYN, reflected to the application
//! (DESIGN.md "Data path": ICMP errors mapped to the right connection; error propagation
//! for inner ones). Without us the application's kernel would have received the router's
//! error for its own SYN and failed `connect` at once (RFC 1122 §4.2.3.9, RFC 4443 §3.1);
//! so we send it the same type and code, quoting its held SYN.

use smoltcp::wire::{IpAddress, IpProtocol, Ipv4Address, Ipv6Address};
use stack::IpEndpoint;

/// A destination-unreachable error about a TCP segment we sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Unreachable {
    /// Who sent the error (a router or the destination).
    pub(crate) reporter: IpAddress,
    /// ICMP type and code (ICMPv4 type 3 or ICMPv6 type 1).
    pub(crate) kind: u8,
    pub(crate) code: u8,
    /// The quoted segment's source (ours) and destination.
    pub(crate) local: IpEndpoint,
    pub(crate) remote: IpEndpoint,
}

/// Parse an ICMP destination-unreachable quoting TCP; `None` for anything else, and for
/// ICMPv4 "fragmentation needed" (code 4, PMTU: the stack's business).
pub(crate) fn parse(view: &stack::wire::ip::IpView<'_>) -> Option<Unreachable> {
    let p = view.payload;
    let (&kind, rest) = p.split_first()?;
    let &code = rest.first()?;
    let quoted = p.get(8..)?;
    let (src, dst, l4) = match view.protocol {
        IpProtocol::Icmp if kind == 3 && code != 4 => {
            let ihl = usize::from(quoted.first()? & 0x0f) * 4;
            if quoted.first()? >> 4 != 4 || ihl < 20 || *quoted.get(9)? != 6 {
                return None;
            }
            let s: [u8; 4] = quoted.get(12..16)?.try_into().ok()?;
            let d: [u8; 4] = quoted.get(16..20)?.try_into().ok()?;
            (
                IpAddress::Ipv4(s.into()),
                IpAddress::Ipv4(d.into()),
                quoted.get(ihl..)?,
            )
        }
        IpProtocol::Icmpv6 if kind == 1 => {
            if quoted.first()? >> 4 != 6 || *quoted.get(6)? != 6 {
                return None;
            }
            let s: [u8; 16] = quoted.get(8..24)?.try_into().ok()?;
            let d: [u8; 16] = quoted.get(24..40)?.try_into().ok()?;
            (
                IpAddress::Ipv6(s.into()),
                IpAddress::Ipv6(d.into()),
                quoted.get(40..)?,
            )
        }
        _ => return None,
    };
    let sport = u16::from_be_bytes([*l4.first()?, *l4.get(1)?]);
    let dport = u16::from_be_bytes([*l4.get(2)?, *l4.get(3)?]);
    Some(Unreachable {
        reporter: view.src,
        kind,
        code,
        local: IpEndpoint::new(src, sport),
        remote: IpEndpoint::new(dst, dport),
    })
}

/// The error for the application: from `reporter` to the application's address, quoting
/// an IP header and the first 8 bytes of its SYN (`app` → `dest`, sequence `isn`).
pub(crate) fn build(
    u: &Unreachable,
    app: IpEndpoint,
    dest: IpEndpoint,
    isn: u32,
) -> Option<Vec<u8>> {
    let mut tcp8 = Vec::with_capacity(8);
    tcp8.extend_from_slice(&app.port.to_be_bytes());
    tcp8.extend_from_slice(&dest.port.to_be_bytes());
    tcp8.extend_from_slice(&isn.to_be_bytes());
    let mut icmp = vec![u.kind, u.code, 0, 0, 0, 0, 0, 0];
    match (u.reporter, app.addr, dest.addr) {
        (IpAddress::Ipv4(r), IpAddress::Ipv4(a), IpAddress::Ipv4(d)) => {
            // The SYN as sent: 20 bytes of IP header and a 40-byte TCP header (RFC 792).
            icmp.extend_from_slice(&ipv4_header(a, d, IpProtocol::Tcp, 20 + 40, true));
            icmp.extend_from_slice(&tcp8);
            smoltcp::wire::Icmpv4Packet::new_unchecked(&mut icmp[..]).fill_checksum();
            let total = u16::try_from(20 + icmp.len()).ok()?;
            let mut pkt = ipv4_header(r, a, IpProtocol::Icmp, total, false);
            pkt.extend_from_slice(&icmp);
            Some(pkt)
        }
        (IpAddress::Ipv6(r), IpAddress::Ipv6(a), IpAddress::Ipv6(d)) => {
            icmp.extend_from_slice(&ipv6_header(a, d, IpProtocol::Tcp, 40));
            icmp.extend_from_slice(&tcp8);
            smoltcp::wire::Icmpv6Packet::new_unchecked(&mut icmp[..]).fill_checksum(&r, &a);
            let len = u16::try_from(icmp.len()).ok()?;
            let mut pkt = ipv6_header(r, a, IpProtocol::Icmpv6, len);
            pkt.extend_from_slice(&icmp);
            Some(pkt)
        }
        _ => None,
    }
}

/// A 20-byte IPv4 header (RFC 791): no options, TTL 64, valid checksum.
fn ipv4_header(
    src: Ipv4Address,
    dst: Ipv4Address,
    proto: IpProtocol,
    total_len: u16,
    dont_frag: bool,
) -> Vec<u8> {
    let mut b = vec![0u8; 20];
    let mut ip = smoltcp::wire::Ipv4Packet::new_unchecked(&mut b[..]);
    ip.set_version(4);
    ip.set_header_len(20);
    ip.set_total_len(total_len);
    ip.set_dont_frag(dont_frag);
    ip.set_hop_limit(64);
    ip.set_next_header(proto);
    ip.set_src_addr(src);
    ip.set_dst_addr(dst);
    ip.fill_checksum();
    b
}

/// A 40-byte IPv6 header (RFC 8200 §3) with hop limit 64.
fn ipv6_header(src: Ipv6Address, dst: Ipv6Address, next: IpProtocol, payload_len: u16) -> Vec<u8> {
    let mut b = vec![0u8; 40];
    let mut ip = smoltcp::wire::Ipv6Packet::new_unchecked(&mut b[..]);
    ip.set_version(6);
    ip.set_payload_len(payload_len);
    ip.set_next_header(next);
    ip.set_hop_limit(64);
    ip.set_src_addr(src);
    ip.set_dst_addr(dst);
    b
}

/// The sequence number of a SYN (no ACK) from `view`, with its endpoints.
pub(crate) fn syn_of(view: &stack::wire::ip::IpView<'_>) -> Option<(IpEndpoint, IpEndpoint, u32)> {
    if view.protocol != IpProtocol::Tcp {
        return None;
    }
    let t = view.payload;
    let flags = *t.get(13)?;
    if flags & 0x12 != 0x02 {
        return None;
    }
    let sport = u16::from_be_bytes([*t.first()?, *t.get(1)?]);
    let dport = u16::from_be_bytes([*t.get(2)?, *t.get(3)?]);
    let seq = u32::from_be_bytes(t.get(4..8)?.try_into().ok()?);
    Some((
        IpEndpoint::new(view.src, sport),
        IpEndpoint::new(view.dst, dport),
        seq,
    ))
}
