//! A TCP segment as the state machine sees it (RFC 9293 §3.1), parsed from a
//! `smoltcp::wire::TcpPacket`, and the emitter of outgoing segments.

use smoltcp::wire::{IpAddress, TcpPacket, TcpSeqNumber};

use super::conn::Tuple;
use crate::wire::checksum;
use crate::wire::options::{OutOptions, ParsedOptions};

/// One received segment.
#[derive(Debug, Clone, Copy)]
pub struct Segment<'a> {
    /// Source port.
    pub src_port: u16,
    /// Destination port.
    pub dst_port: u16,
    /// SEG.SEQ.
    pub seq: TcpSeqNumber,
    /// SEG.ACK (meaningful when `ack` is set).
    pub ack_number: TcpSeqNumber,
    /// ACK flag.
    pub ack: bool,
    /// SYN flag.
    pub syn: bool,
    /// FIN flag.
    pub fin: bool,
    /// RST flag.
    pub rst: bool,
    /// PSH flag.
    pub psh: bool,
    /// SEG.WND as sent (unscaled).
    pub window: u16,
    /// Parsed options.
    pub opts: ParsedOptions<'a>,
    /// Payload.
    pub payload: &'a [u8],
}

/// Why a TCP segment was not accepted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum SegmentError {
    /// Shorter than its header or a bad data offset.
    #[error("truncated TCP header")]
    Truncated,
    /// Checksum mismatch.
    #[error("bad TCP checksum")]
    Checksum,
}

impl<'a> Segment<'a> {
    /// Parse and checksum-verify a TCP segment carried between `src` and `dst`.
    pub fn parse(
        bytes: &'a [u8],
        src: &IpAddress,
        dst: &IpAddress,
    ) -> Result<Segment<'a>, SegmentError> {
        Segment::parse_with(bytes, src, dst, true)
    }

    /// Parse a TCP segment, verifying its checksum only if `verify` (checksum offload:
    /// the link already validated it, virtio-net `VIRTIO_NET_HDR_F_DATA_VALID`).
    pub fn parse_with(
        bytes: &'a [u8],
        src: &IpAddress,
        dst: &IpAddress,
        verify: bool,
    ) -> Result<Segment<'a>, SegmentError> {
        let p = TcpPacket::new_checked(bytes).map_err(|_| SegmentError::Truncated)?;
        if verify && !checksum::verify_tcp(bytes, src, dst) {
            return Err(SegmentError::Checksum);
        }
        Ok(Segment {
            src_port: p.src_port(),
            dst_port: p.dst_port(),
            seq: p.seq_number(),
            ack_number: p.ack_number(),
            ack: p.ack(),
            syn: p.syn(),
            fin: p.fin(),
            rst: p.rst(),
            psh: p.psh(),
            window: p.window_len(),
            opts: ParsedOptions::parse(p.options()),
            payload: p.payload(),
        })
    }

    /// SEG.LEN: payload plus SYN and FIN.
    pub fn len(&self) -> usize {
        self.payload.len() + usize::from(self.syn) + usize::from(self.fin)
    }

    /// Whether SEG.LEN is zero.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Flags of an outgoing segment.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Flags {
    /// SYN.
    pub syn: bool,
    /// ACK.
    pub ack: bool,
    /// FIN.
    pub fin: bool,
    /// RST.
    pub rst: bool,
    /// PSH.
    pub psh: bool,
}

/// Header fields of an outgoing segment.
#[derive(Debug, Clone, Copy)]
pub struct OutHeader {
    /// SEG.SEQ.
    pub seq: TcpSeqNumber,
    /// SEG.ACK (zero unless the ACK flag is set).
    pub ack: TcpSeqNumber,
    /// Flags.
    pub flags: Flags,
    /// SEG.WND (already scaled down).
    pub window: u16,
}

/// Write a TCP segment (header, options, payload from up to two slices) for `tuple`
/// into `buf`; returns its length, or `None` if `buf` is too short.
pub fn emit(
    buf: &mut [u8],
    tuple: &Tuple,
    hdr: &OutHeader,
    opts: &OutOptions<'_>,
    payload: (&[u8], &[u8]),
) -> Option<usize> {
    emit_with(buf, tuple, hdr, opts, payload, false)
}

/// [`emit`], with the checksum left to the link when `csum_partial` (only the
/// pseudo-header sum is written: virtio-net `VIRTIO_NET_HDR_F_NEEDS_CSUM`).
pub fn emit_with(
    buf: &mut [u8],
    tuple: &Tuple,
    hdr: &OutHeader,
    opts: &OutOptions<'_>,
    payload: (&[u8], &[u8]),
    csum_partial: bool,
) -> Option<usize> {
    let opt_len = opts.buffer_len();
    let hlen = 20 + opt_len;
    let total = hlen + payload.0.len() + payload.1.len();
    let seg = buf.get_mut(..total)?;
    seg.get_mut(..20)?.fill(0);
    opts.emit(seg.get_mut(20..hlen)?)?;
    let (a, b) = seg.get_mut(hlen..)?.split_at_mut(payload.0.len());
    // The payload is summed while it is copied (one pass), unless the link sums it.
    let payload_sum = if csum_partial {
        bytecopy::copy(a, payload.0);
        bytecopy::copy(b, payload.1);
        0
    } else {
        let sa = checksum::copy_with_sum(a, payload.0);
        let sb = checksum::copy_with_sum(b, payload.1);
        checksum::combine_at(sa, sb, payload.0.len())
    };
    let mut p = TcpPacket::new_unchecked(&mut *seg);
    p.set_src_port(tuple.local.port);
    p.set_dst_port(tuple.remote.port);
    p.set_seq_number(hdr.seq);
    p.set_ack_number(if hdr.flags.ack {
        hdr.ack
    } else {
        TcpSeqNumber(0)
    });
    p.set_header_len(u8::try_from(hlen).ok()?);
    p.clear_flags();
    p.set_syn(hdr.flags.syn);
    p.set_ack(hdr.flags.ack);
    p.set_fin(hdr.flags.fin);
    p.set_rst(hdr.flags.rst);
    p.set_psh(hdr.flags.psh);
    p.set_window_len(hdr.window);
    p.set_urgent_at(0);
    let (src, dst) = (&tuple.local.addr, &tuple.remote.addr);
    if csum_partial {
        checksum::fill_tcp(seg, src, dst, true);
    } else {
        checksum::fill_tcp_with_payload_sum(seg, hlen, payload_sum, src, dst);
    }
    Some(total)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use smoltcp::wire::IpEndpoint;

    /// A segment emitted from a payload split at any point (as the send ring hands it
    /// over) carries the checksum smoltcp computes and verifies.
    #[test]
    fn split_payload_checksum_matches_smoltcp() {
        let data: Vec<u8> = (0..301u32).map(|i| (i * 37 + 11) as u8).collect();
        for v6 in [false, true] {
            let (l, r) = if v6 {
                (
                    IpAddress::v6(0xfd00, 0, 0, 0, 0, 0, 0, 1),
                    IpAddress::v6(0xfd00, 0, 0, 0, 0, 0, 0, 2),
                )
            } else {
                (IpAddress::v4(10, 0, 0, 1), IpAddress::v4(10, 0, 0, 2))
            };
            let tuple = Tuple {
                local: IpEndpoint::new(l, 1234),
                remote: IpEndpoint::new(r, 80),
            };
            let hdr = OutHeader {
                seq: TcpSeqNumber(77),
                ack: TcpSeqNumber(99),
                flags: Flags {
                    ack: true,
                    psh: true,
                    ..Flags::default()
                },
                window: 512,
            };
            let opts = OutOptions {
                timestamp: Some((5, 6)),
                ..OutOptions::default()
            };
            for cut in 0..=data.len() {
                let mut buf = [0u8; 512];
                let n = emit(&mut buf, &tuple, &hdr, &opts, data.split_at(cut)).unwrap();
                let p = TcpPacket::new_checked(&buf[..n]).unwrap();
                assert!(p.verify_checksum(&l, &r), "cut {cut}");
                assert_eq!(p.payload(), &data[..]);
                let mut again = buf;
                TcpPacket::new_unchecked(&mut again[..n]).fill_checksum(&l, &r);
                assert_eq!(&again[..n], &buf[..n]);
            }
        }
    }
}
