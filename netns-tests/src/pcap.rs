//! A minimal reader of classic pcap files (as written by `tcpdump -w`) that extracts TCP
//! segments, so tests can assert what went over a link: TCP options in SYNs (e.g. the
//! TCP-ENO option, kind 69, RFC 8547 §4) and the payload bytes of every captured segment.
//!
//! Supports both byte orders, micro- and nanosecond timestamps, link types Ethernet (1, with
//! 802.1Q tags), raw IP (101), Linux cooked v1 (113) and v2 (276), IPv4 and IPv6 (TCP directly
//! after the fixed header; IPv6 extension headers are skipped). Anything else is ignored.
//! Malformed records end the parse with a typed error, never a panic.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::path::Path;

/// Errors reading a capture.
#[derive(Debug, thiserror::Error)]
pub enum PcapError {
    /// The file could not be read.
    #[error("read pcap file: {0}")]
    Io(#[from] std::io::Error),
    /// The global header is missing or has an unknown magic number.
    #[error("not a pcap file (bad magic)")]
    BadMagic,
}

/// TCP flag bits (RFC 9293 §3.1).
pub mod flags {
    /// FIN.
    pub const FIN: u8 = 0x01;
    /// SYN.
    pub const SYN: u8 = 0x02;
    /// RST.
    pub const RST: u8 = 0x04;
    /// ACK.
    pub const ACK: u8 = 0x10;
}

/// One captured TCP segment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TcpSegment {
    /// Source address.
    pub src: IpAddr,
    /// Destination address.
    pub dst: IpAddr,
    /// Source port.
    pub sport: u16,
    /// Destination port.
    pub dport: u16,
    /// Flag byte (see [`flags`]).
    pub flags: u8,
    /// TCP options as (kind, data), EOL and NOP omitted.
    pub options: Vec<(u8, Vec<u8>)>,
    /// Payload as captured (shorter than on the wire if the snap length cut it).
    pub payload: Vec<u8>,
    /// Payload length according to the IP header.
    pub wire_payload_len: usize,
}

impl TcpSegment {
    /// Whether all bits of `mask` are set.
    pub fn has(&self, mask: u8) -> bool {
        self.flags & mask == mask
    }

    /// Whether the segment carries a TCP option of `kind`.
    pub fn has_option(&self, kind: u8) -> bool {
        self.options.iter().any(|(k, _)| *k == kind)
    }
}

/// The TCP segments of a capture and the number of records that were not IP/TCP.
#[derive(Debug, Clone, Default)]
pub struct Capture {
    /// TCP segments in capture order.
    pub segments: Vec<TcpSegment>,
    /// Records that were not TCP over IPv4/IPv6 (ARP, ICMP, UDP, unknown link types).
    pub other: usize,
}

/// Reads a pcap file written by `tcpdump -w`.
pub fn read_file(path: &Path) -> Result<Capture, PcapError> {
    parse(&std::fs::read(path)?)
}

fn u16_be(b: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_be_bytes([*b.get(at)?, *b.get(at + 1)?]))
}

/// Parses a whole pcap file image. A truncated last record (tcpdump killed mid-write) is
/// dropped silently.
pub fn parse(data: &[u8]) -> Result<Capture, PcapError> {
    let magic = data.get(..4).ok_or(PcapError::BadMagic)?;
    let little = match magic {
        [0xd4, 0xc3, 0xb2, 0xa1] | [0x4d, 0x3c, 0xb2, 0xa1] => true,
        [0xa1, 0xb2, 0xc3, 0xd4] | [0xa1, 0xb2, 0x3c, 0x4d] => false,
        _ => return Err(PcapError::BadMagic),
    };
    let u32_at = |at: usize| -> Option<u32> {
        let b: [u8; 4] = data.get(at..at + 4)?.try_into().ok()?;
        Some(if little {
            u32::from_le_bytes(b)
        } else {
            u32::from_be_bytes(b)
        })
    };
    let linktype = u32_at(20).ok_or(PcapError::BadMagic)? & 0x0fff_ffff;
    let mut cap = Capture::default();
    let mut at = 24;
    while at < data.len() {
        // A record cut off at the end (the writer was killed mid-write) ends the capture.
        let Some(incl) = u32_at(at + 8).and_then(|n| usize::try_from(n).ok()) else {
            break;
        };
        let start = at + 16;
        let Some(frame) = data.get(start..start.saturating_add(incl)) else {
            break;
        };
        match link_payload(linktype, frame).and_then(ip_tcp) {
            Some(seg) => cap.segments.push(seg),
            None => cap.other += 1,
        }
        at = start + incl;
    }
    Ok(cap)
}

/// The network-layer packet inside a link-layer frame.
fn link_payload(linktype: u32, frame: &[u8]) -> Option<&[u8]> {
    match linktype {
        // Ethernet: skip 802.1Q / 802.1ad tags.
        1 => {
            let mut off = 12;
            let mut ethertype = u16_be(frame, off)?;
            while ethertype == 0x8100 || ethertype == 0x88a8 {
                off += 4;
                ethertype = u16_be(frame, off)?;
            }
            matches!(ethertype, 0x0800 | 0x86dd).then_some(())?;
            frame.get(off + 2..)
        }
        101 => Some(frame),
        113 => frame.get(16..),
        276 => frame.get(20..),
        _ => None,
    }
}

fn ip_tcp(pkt: &[u8]) -> Option<TcpSegment> {
    let version = pkt.first()? >> 4;
    let (src, dst, l4, l4_len) = match version {
        4 => {
            let ihl = usize::from(pkt.first()? & 0x0f) * 4;
            let total = usize::from(u16_be(pkt, 2)?);
            if *pkt.get(9)? != 6 || ihl < 20 || total < ihl {
                return None;
            }
            // Fragments other than the first carry no TCP header.
            if u16_be(pkt, 6)? & 0x1fff != 0 {
                return None;
            }
            let s: [u8; 4] = pkt.get(12..16)?.try_into().ok()?;
            let d: [u8; 4] = pkt.get(16..20)?.try_into().ok()?;
            (
                IpAddr::V4(Ipv4Addr::from(s)),
                IpAddr::V4(Ipv4Addr::from(d)),
                pkt.get(ihl..)?,
                total - ihl,
            )
        }
        6 => {
            let s: [u8; 16] = pkt.get(8..24)?.try_into().ok()?;
            let d: [u8; 16] = pkt.get(24..40)?.try_into().ok()?;
            let mut next = *pkt.get(6)?;
            let mut off = 40;
            let mut left = usize::from(u16_be(pkt, 4)?);
            // Hop-by-hop, routing, destination options: skip; anything else but TCP: not ours.
            while matches!(next, 0 | 43 | 60) {
                let len = (usize::from(*pkt.get(off + 1)?) + 1) * 8;
                next = *pkt.get(off)?;
                off += len;
                left = left.checked_sub(len)?;
            }
            if next != 6 {
                return None;
            }
            (
                IpAddr::V6(Ipv6Addr::from(s)),
                IpAddr::V6(Ipv6Addr::from(d)),
                pkt.get(off..)?,
                left,
            )
        }
        _ => return None,
    };
    let data_off = usize::from(l4.get(12)? >> 4) * 4;
    if data_off < 20 || l4_len < data_off {
        return None;
    }
    let mut options = Vec::new();
    let mut opts = l4.get(20..data_off)?;
    while let Some((&kind, rest)) = opts.split_first() {
        match kind {
            0 => break,
            1 => opts = rest,
            _ => {
                let len = usize::from(*rest.first()?);
                if len < 2 {
                    break;
                }
                options.push((kind, opts.get(2..len)?.to_vec()));
                opts = opts.get(len..)?;
            }
        }
    }
    let captured = l4.get(data_off..).unwrap_or_default();
    let wire_payload_len = l4_len - data_off;
    let payload = captured
        .get(..wire_payload_len.min(captured.len()))
        .unwrap_or_default()
        .to_vec();
    Some(TcpSegment {
        src,
        dst,
        sport: u16_be(l4, 0)?,
        dport: u16_be(l4, 2)?,
        flags: *l4.get(13)?,
        options,
        payload,
        wire_payload_len,
    })
}

/// Whether `needle` occurs in `haystack`.
pub fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    !needle.is_empty() && haystack.windows(needle.len()).any(|w| w == needle)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::panic)]
    use super::*;

    fn header(linktype: u32) -> Vec<u8> {
        let mut h = vec![0xd4, 0xc3, 0xb2, 0xa1, 2, 0, 4, 0];
        h.extend_from_slice(&[0; 8]);
        h.extend_from_slice(&262_144u32.to_le_bytes());
        h.extend_from_slice(&linktype.to_le_bytes());
        h
    }

    fn record(out: &mut Vec<u8>, frame: &[u8]) {
        out.extend_from_slice(&[0; 8]);
        let n = u32::try_from(frame.len()).unwrap();
        out.extend_from_slice(&n.to_le_bytes());
        out.extend_from_slice(&n.to_le_bytes());
        out.extend_from_slice(frame);
    }

    /// IPv4 TCP SYN 10.0.0.1:1234 -> 10.0.0.2:80 with ENO (kind 69, one suboption 0x20),
    /// MSS 1460, NOP padding, and `payload`.
    fn v4_syn(payload: &[u8]) -> Vec<u8> {
        let opts = [2, 4, 0x05, 0xb4, 69, 3, 0x20, 1];
        let total = 20 + 20 + opts.len() + payload.len();
        let mut p = vec![
            0x45, 0, 0, 0, 0, 1, 0x40, 0, 64, 6, 0, 0, 10, 0, 0, 1, 10, 0, 0, 2,
        ];
        p[2..4].copy_from_slice(&u16::try_from(total).unwrap().to_be_bytes());
        p.extend_from_slice(&[0x04, 0xd2, 0, 80, 0, 0, 0, 1, 0, 0, 0, 0]);
        p.push(u8::try_from(((20 + opts.len()) / 4) << 4).unwrap());
        p.extend_from_slice(&[flags::SYN, 0xff, 0xff, 0, 0, 0, 0]);
        p.extend_from_slice(&opts);
        p.extend_from_slice(payload);
        p
    }

    #[test]
    fn ethernet_ipv4_syn_with_eno_option() {
        let mut file = header(1);
        let mut frame = vec![0; 12];
        frame.extend_from_slice(&[0x08, 0x00]);
        frame.extend_from_slice(&v4_syn(b"hello"));
        record(&mut file, &frame);
        // An ARP frame is counted as other.
        let mut arp = vec![0; 12];
        arp.extend_from_slice(&[0x08, 0x06, 0, 1]);
        record(&mut file, &arp);
        let cap = parse(&file).unwrap();
        assert_eq!(cap.other, 1);
        let [seg] = cap.segments.as_slice() else {
            panic!("{cap:?}")
        };
        assert_eq!(seg.src, IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1)));
        assert_eq!((seg.sport, seg.dport), (1234, 80));
        assert!(seg.has(flags::SYN) && !seg.has(flags::ACK));
        assert_eq!(seg.options, vec![(2, vec![0x05, 0xb4]), (69, vec![0x20])]);
        assert!(seg.has_option(69));
        assert_eq!(seg.payload, b"hello");
        assert_eq!(seg.wire_payload_len, 5);
    }

    #[test]
    fn raw_ipv6_tcp_and_truncated_tail() {
        let mut file = header(101);
        let mut p = vec![0x60, 0, 0, 0, 0, 23, 6, 64];
        p.extend_from_slice(&[0xfd; 16]);
        p.extend_from_slice(&[0xfe; 16]);
        p.extend_from_slice(&[
            0, 1, 0, 2, 0, 0, 0, 0, 0, 0, 0, 0, 0x50, 0x18, 1, 0, 0, 0, 0, 0,
        ]);
        p.extend_from_slice(b"abc");
        record(&mut file, &p);
        let mut cut = file.clone();
        record(&mut cut, &p);
        cut.truncate(cut.len() - 10);
        for f in [&file, &cut] {
            let cap = parse(f).unwrap();
            assert_eq!(cap.segments.len(), 1);
            let s = &cap.segments[0];
            assert!(s.src.is_ipv6() && s.has(flags::ACK) && s.options.is_empty());
            assert_eq!(s.payload, b"abc");
        }
    }

    #[test]
    fn garbage_is_an_error_or_ignored_not_a_panic() {
        assert!(matches!(parse(b"nope"), Err(PcapError::BadMagic)));
        let mut file = header(1);
        record(&mut file, &[0xff; 40]);
        let mut frame = vec![0; 12];
        frame.extend_from_slice(&[0x08, 0x00]);
        let mut bad = v4_syn(b"");
        bad[32] = 0xf0; // data offset 60 > segment length
        frame.extend_from_slice(&bad);
        record(&mut file, &frame);
        let cap = parse(&file).unwrap();
        assert_eq!((cap.segments.len(), cap.other), (0, 2));
    }

    #[test]
    fn contains_finds_needles() {
        assert!(contains(b"xxTCXMARKyy", b"TCXMARK"));
        assert!(!contains(b"xxTCXMARyy", b"TCXMARK"));
        assert!(!contains(b"abc", b""));
    }
}
