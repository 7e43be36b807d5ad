//! IP framing (RFC 791 §3.1, RFC 8200 §3): parse a received IPv4/IPv6 packet into addresses,
//! protocol and payload; emit the IP header of an outgoing packet.

use smoltcp::wire::{IpAddress, IpProtocol, Ipv4Address, Ipv4Packet, Ipv6Address, Ipv6Packet};

/// Length of an IPv4 header without options.
pub const IPV4_HEADER_LEN: usize = 20;
/// Length of the fixed IPv6 header.
pub const IPV6_HEADER_LEN: usize = 40;
/// Hop limit / TTL of packets we originate.
pub const DEFAULT_HOP_LIMIT: u8 = 64;

/// Why a received packet was not accepted at the IP layer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum IpError {
    /// Empty packet or a version nibble other than 4 or 6.
    #[error("unknown IP version")]
    Version,
    /// Header or length fields inconsistent with the buffer.
    #[error("truncated or inconsistent IP header")]
    Truncated,
    /// IPv4 header checksum mismatch.
    #[error("bad IPv4 header checksum")]
    Checksum,
    /// An IPv4 fragment (we set DF and do not reassemble).
    #[error("IP fragment")]
    Fragment,
}

/// A parsed IP packet.
#[derive(Debug, Clone, Copy)]
pub struct IpView<'a> {
    /// Source address.
    pub src: IpAddress,
    /// Destination address.
    pub dst: IpAddress,
    /// Upper-layer protocol (IPv6 extension headers are not walked).
    pub protocol: IpProtocol,
    /// Upper-layer payload.
    pub payload: &'a [u8],
}

/// Parse a full IPv4 or IPv6 packet.
pub fn parse(packet: &[u8]) -> Result<IpView<'_>, IpError> {
    let first = *packet.first().ok_or(IpError::Version)?;
    match first >> 4 {
        4 => {
            let p = Ipv4Packet::new_checked(packet).map_err(|_| IpError::Truncated)?;
            if usize::from(p.header_len()) < IPV4_HEADER_LEN {
                return Err(IpError::Truncated);
            }
            if !p.verify_checksum() {
                return Err(IpError::Checksum);
            }
            if p.more_frags() || p.frag_offset() != 0 {
                return Err(IpError::Fragment);
            }
            Ok(IpView {
                src: IpAddress::Ipv4(p.src_addr()),
                dst: IpAddress::Ipv4(p.dst_addr()),
                protocol: p.next_header(),
                payload: p.payload(),
            })
        }
        6 => {
            let p = Ipv6Packet::new_checked(packet).map_err(|_| IpError::Truncated)?;
            Ok(IpView {
                src: IpAddress::Ipv6(p.src_addr()),
                dst: IpAddress::Ipv6(p.dst_addr()),
                protocol: p.next_header(),
                payload: p.payload(),
            })
        }
        _ => Err(IpError::Version),
    }
}

/// Header length for packets from `src`.
pub fn header_len(src: &IpAddress) -> usize {
    match src {
        IpAddress::Ipv4(_) => IPV4_HEADER_LEN,
        IpAddress::Ipv6(_) => IPV6_HEADER_LEN,
    }
}

/// Write an IP header for a payload of `payload_len` bytes into the start of `buf`; returns
/// the header length, or `None` if `buf` is too short, the family of `src` and `dst`
/// differs or the length does not fit the header field.
pub fn emit_header(
    buf: &mut [u8],
    src: IpAddress,
    dst: IpAddress,
    protocol: IpProtocol,
    payload_len: usize,
    ident: u16,
) -> Option<usize> {
    match (src, dst) {
        (IpAddress::Ipv4(s), IpAddress::Ipv4(d)) => {
            emit_v4(buf, s, d, protocol, payload_len, ident)
        }
        (IpAddress::Ipv6(s), IpAddress::Ipv6(d)) => emit_v6(buf, s, d, protocol, payload_len),
        _ => None,
    }
}

fn emit_v4(
    buf: &mut [u8],
    src: Ipv4Address,
    dst: Ipv4Address,
    protocol: IpProtocol,
    payload_len: usize,
    ident: u16,
) -> Option<usize> {
    let total = u16::try_from(IPV4_HEADER_LEN + payload_len).ok()?;
    let hdr = buf.get_mut(..IPV4_HEADER_LEN)?;
    let mut p = Ipv4Packet::new_unchecked(hdr);
    p.set_version(4);
    p.set_header_len(20);
    p.set_dscp(0);
    p.set_ecn(0);
    p.set_total_len(total);
    p.set_ident(ident);
    p.clear_flags();
    p.set_dont_frag(true);
    p.set_frag_offset(0);
    p.set_hop_limit(DEFAULT_HOP_LIMIT);
    p.set_next_header(protocol);
    p.set_src_addr(src);
    p.set_dst_addr(dst);
    p.fill_checksum();
    Some(IPV4_HEADER_LEN)
}

fn emit_v6(
    buf: &mut [u8],
    src: Ipv6Address,
    dst: Ipv6Address,
    protocol: IpProtocol,
    payload_len: usize,
) -> Option<usize> {
    let plen = u16::try_from(payload_len).ok()?;
    let hdr = buf.get_mut(..IPV6_HEADER_LEN)?;
    let mut p = Ipv6Packet::new_unchecked(hdr);
    p.set_version(6);
    p.set_traffic_class(0);
    p.set_flow_label(0);
    p.set_payload_len(plen);
    p.set_next_header(protocol);
    p.set_hop_limit(DEFAULT_HOP_LIMIT);
    p.set_src_addr(src);
    p.set_dst_addr(dst);
    Some(IPV6_HEADER_LEN)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn v4_round_trip() {
        let mut buf = [0u8; 28];
        let src = IpAddress::v4(10, 0, 0, 1);
        let dst = IpAddress::v4(10, 0, 0, 2);
        let n = emit_header(&mut buf, src, dst, IpProtocol::Tcp, 8, 7).unwrap();
        assert_eq!(n, 20);
        let v = parse(&buf).unwrap();
        assert_eq!(
            (v.src, v.dst, v.protocol, v.payload.len()),
            (src, dst, IpProtocol::Tcp, 8)
        );
        buf[10] ^= 1;
        assert_eq!(parse(&buf).unwrap_err(), IpError::Checksum);
        assert_eq!(parse(&buf[..10]).unwrap_err(), IpError::Truncated);
        assert_eq!(parse(&[]).unwrap_err(), IpError::Version);
    }

    #[test]
    fn v6_round_trip() {
        let mut buf = [0u8; 48];
        let src = IpAddress::v6(0xfd00, 0, 0, 0, 0, 0, 0, 1);
        let dst = IpAddress::v6(0xfd00, 0, 0, 0, 0, 0, 0, 2);
        emit_header(&mut buf, src, dst, IpProtocol::Tcp, 8, 0).unwrap();
        let v = parse(&buf).unwrap();
        assert_eq!((v.src, v.dst, v.payload.len()), (src, dst, 8));
        assert!(emit_header(
            &mut buf,
            src,
            IpAddress::v4(1, 2, 3, 4),
            IpProtocol::Tcp,
            8,
            0
        )
        .is_none());
    }
}
