//! ICMP (RFC 792, RFC 1191 §4) and ICMPv6 (RFC 4443 §3.2, §4.1, RFC 8201): echo replies for
//! the stack's own addresses, and "fragmentation needed" / "packet too big" messages
//! mapped to a connection's path MTU (validated per RFC 5927 §4.1 by the connection).

use smoltcp::wire::{
    Icmpv4Message, Icmpv4Packet, Icmpv6Message, Icmpv6Packet, IpAddress, IpProtocol, TcpSeqNumber,
};

use crate::wire::ip;

/// What an ICMP message asks of the stack.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IcmpAction {
    /// Send this complete IP packet (an echo reply).
    Reply(Vec<u8>),
    /// Lower the path MTU of the TCP connection `local -> remote` to `mtu`, if `seq`
    /// is in its unacknowledged range.
    Pmtu {
        /// Our address (source of the quoted packet).
        local: IpAddress,
        /// Our port.
        local_port: u16,
        /// Peer address.
        remote: IpAddress,
        /// Peer port.
        remote_port: u16,
        /// Sequence number of the quoted segment.
        seq: TcpSeqNumber,
        /// Reported next-hop MTU.
        mtu: usize,
    },
    /// Nothing to do.
    Ignore,
}

/// Quoted TCP header ports and sequence number after an IP header of `ihl` bytes.
fn quoted_tcp(bytes: &[u8], ihl: usize) -> Option<(u16, u16, TcpSeqNumber)> {
    let t = bytes.get(ihl..ihl + 8)?;
    let sport = u16::from_be_bytes([t[0], t[1]]);
    let dport = u16::from_be_bytes([t[2], t[3]]);
    let sq = u32::from_be_bytes([t[4], t[5], t[6], t[7]]);
    Some((sport, dport, crate::wire::options::seq_from_u32(sq)))
}

/// Handle an ICMPv4 message from `src` to `dst` (one of ours when `ours`).
pub fn handle_v4(src: IpAddress, dst: IpAddress, payload: &[u8], ours: bool) -> IcmpAction {
    let Ok(p) = Icmpv4Packet::new_checked(payload) else {
        return IcmpAction::Ignore;
    };
    if !p.verify_checksum() {
        return IcmpAction::Ignore;
    }
    match p.msg_type() {
        Icmpv4Message::EchoRequest if ours => {
            let mut out = vec![0u8; ip::IPV4_HEADER_LEN + payload.len()];
            let Some(hl) = ip::emit_header(&mut out, dst, src, IpProtocol::Icmp, payload.len(), 0)
            else {
                return IcmpAction::Ignore;
            };
            let Some(body) = out.get_mut(hl..) else {
                return IcmpAction::Ignore;
            };
            body.copy_from_slice(payload);
            let mut r = Icmpv4Packet::new_unchecked(body);
            r.set_msg_type(Icmpv4Message::EchoReply);
            r.set_msg_code(0);
            r.fill_checksum();
            IcmpAction::Reply(out)
        }
        // RFC 1191 §4: type 3 code 4 carries the next-hop MTU in bytes 6..8.
        Icmpv4Message::DstUnreachable if p.msg_code() == 4 => {
            let mtu = payload
                .get(6..8)
                .map(|b| usize::from(u16::from_be_bytes([b[0], b[1]])))
                .unwrap_or(0);
            let Some(quoted) = payload.get(8..) else {
                return IcmpAction::Ignore;
            };
            let Some(&vihl) = quoted.first() else {
                return IcmpAction::Ignore;
            };
            let ihl = usize::from(vihl & 0x0f) * 4;
            if vihl >> 4 != 4 || ihl < 20 || quoted.get(9) != Some(&6) {
                return IcmpAction::Ignore;
            }
            let (Some(s), Some(d)) = (quoted.get(12..16), quoted.get(16..20)) else {
                return IcmpAction::Ignore;
            };
            let Some((sport, dport, sq)) = quoted_tcp(quoted, ihl) else {
                return IcmpAction::Ignore;
            };
            IcmpAction::Pmtu {
                local: IpAddress::v4(s[0], s[1], s[2], s[3]),
                local_port: sport,
                remote: IpAddress::v4(d[0], d[1], d[2], d[3]),
                remote_port: dport,
                seq: sq,
                mtu,
            }
        }
        _ => IcmpAction::Ignore,
    }
}

/// Handle an ICMPv6 message from `src` to `dst`.
pub fn handle_v6(src: IpAddress, dst: IpAddress, payload: &[u8], ours: bool) -> IcmpAction {
    let (IpAddress::Ipv6(s6), IpAddress::Ipv6(d6)) = (src, dst) else {
        return IcmpAction::Ignore;
    };
    let Ok(p) = Icmpv6Packet::new_checked(payload) else {
        return IcmpAction::Ignore;
    };
    if !p.verify_checksum(&s6, &d6) {
        return IcmpAction::Ignore;
    }
    match p.msg_type() {
        Icmpv6Message::EchoRequest if ours => {
            let mut out = vec![0u8; ip::IPV6_HEADER_LEN + payload.len()];
            let Some(hl) =
                ip::emit_header(&mut out, dst, src, IpProtocol::Icmpv6, payload.len(), 0)
            else {
                return IcmpAction::Ignore;
            };
            let Some(body) = out.get_mut(hl..) else {
                return IcmpAction::Ignore;
            };
            body.copy_from_slice(payload);
            let mut r = Icmpv6Packet::new_unchecked(body);
            r.set_msg_type(Icmpv6Message::EchoReply);
            r.set_msg_code(0);
            r.fill_checksum(&d6, &s6);
            IcmpAction::Reply(out)
        }
        Icmpv6Message::PktTooBig => {
            let mtu = usize::try_from(p.pkt_too_big_mtu()).unwrap_or(usize::MAX);
            let Some(quoted) = payload.get(8..) else {
                return IcmpAction::Ignore;
            };
            if quoted.first().map(|b| b >> 4) != Some(6) || quoted.get(6) != Some(&6) {
                return IcmpAction::Ignore;
            }
            let (Some(s), Some(d)) = (quoted.get(8..24), quoted.get(24..40)) else {
                return IcmpAction::Ignore;
            };
            let (Ok(s), Ok(d)) = (<[u8; 16]>::try_from(s), <[u8; 16]>::try_from(d)) else {
                return IcmpAction::Ignore;
            };
            let Some((sport, dport, sq)) = quoted_tcp(quoted, ip::IPV6_HEADER_LEN) else {
                return IcmpAction::Ignore;
            };
            IcmpAction::Pmtu {
                local: IpAddress::Ipv6(s.into()),
                local_port: sport,
                remote: IpAddress::Ipv6(d.into()),
                remote_port: dport,
                seq: sq,
                mtu,
            }
        }
        _ => IcmpAction::Ignore,
    }
}
