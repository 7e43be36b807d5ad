//! Transmit-side coalescing, the daemon's GRO for TUN writes: consecutive TCP segments of
//! one flow that the engine emits are appended, payload only, to one super-packet of up to
//! 64 KB, written once with a virtio-net header (`VIRTIO_NET_HDR_F_NEEDS_CSUM`, GSO TCPv4 /
//! TCPv6, `gso_size` = the segment size) so that the kernel segments it again and completes
//! the checksums (`tun_get_user` → `virtio_net_hdr_to_skb`; `tcp_gso_segment` copies the
//! first header to every segment, advancing the sequence number, and keeps PSH for the last).
//!
//! A segment joins the super-packet of its flow only under the conditions of the kernel's
//! own GRO (`tcp_gro_receive`) and of wireguard-go's `tcpPacketsCanCoalesce`: IPv4 without
//! options or fragments, or IPv6 without extension headers; same addresses, TOS / traffic
//! class, TTL / hop limit, DF bit, flow label, ports, ACK number and TCP options; flags ACK
//! or ACK|PSH only; a payload; the sequence number right after the super-packet's end; no
//! PSH and no short segment already in it; at most 64 KB in all. Anything else (pure ACKs,
//! SYNs, FINs, UDP, ICMP) is written as it is, in its own write.
//!
//! Unlike tun-rs's `send_multiple`, nothing is re-verified (the engine's checksums are
//! trusted), nothing is allocated per batch, and a merged segment is not copied at all: the
//! engine writes it in place at the end of its super-packet ([`TxBatch`]). Writes keep the
//! engine's order within a flow.

use crate::page_phase::PhasedBuf;
use crate::tun_hdr::{VirtioHdr, GSO_TCPV4, GSO_TCPV6, HDR_LEN, NEEDS_CSUM};

/// Largest IP packet (the IPv4 total length and IPv6 payload length fields are 16 bits).
const MAX_IP: usize = 65_535;

/// Buffers (writes) per batch.
pub const BATCH_WRITES: usize = 128;

/// Bytes queued after which the batch is written (so the first write is not held back
/// until 128 super-packets have filled).
const BATCH_BYTES: usize = 256 * 1024;

/// Open super-packets searched for a segment's flow, newest first.
const SEARCH: usize = 8;

/// What identifies a flow and must be equal for a segment to join a super-packet: the IP
/// header fields the kernel compares, ports, ACK number and the TCP options.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Key {
    v6: bool,
    /// Source and destination address (4 + 4 or 16 + 16 bytes).
    addrs: [u8; 32],
    /// IPv4: TOS, TTL, flags/fragment offset high byte (DF); IPv6: the first 4 bytes
    /// (version, traffic class, flow label) and the hop limit.
    ip: [u8; 5],
    ports: [u8; 4],
    ack: [u8; 4],
    /// TCP header length.
    tcp_len: usize,
    /// TCP options bytes (at most 40).
    opts: [u8; 40],
}

/// A TCP segment the coalescer may merge.
#[derive(Debug, Clone)]
struct Segment {
    key: Key,
    iph_len: usize,
    seq: u32,
    psh: bool,
    payload: usize,
}

/// Parses a coalescing candidate: TCP with flags ACK or ACK|PSH and a payload, IPv4 without
/// options or fragmentation, IPv6 without extension headers.
fn candidate(p: &[u8]) -> Option<Segment> {
    let version = p.first()? >> 4;
    let mut key = Key {
        v6: version == 6,
        addrs: [0; 32],
        ip: [0; 5],
        ports: [0; 4],
        ack: [0; 4],
        tcp_len: 0,
        opts: [0; 40],
    };
    let iph_len = match version {
        4 => {
            let total = usize::from(u16::from_be_bytes([*p.get(2)?, *p.get(3)?]));
            // IHL 5, protocol TCP, the whole packet, DF at most, no fragment offset.
            if *p.first()? != 0x45 || *p.get(9)? != 6 || total != p.len() {
                return None;
            }
            if p.get(6)? & 0xbf != 0 || *p.get(7)? != 0 {
                return None;
            }
            key.addrs.get_mut(..8)?.copy_from_slice(p.get(12..20)?);
            key.ip = [*p.get(1)?, *p.get(8)?, *p.get(6)?, 0, 0];
            20
        }
        6 => {
            let payload = usize::from(u16::from_be_bytes([*p.get(4)?, *p.get(5)?]));
            if *p.get(6)? != 6 || payload + 40 != p.len() {
                return None;
            }
            key.addrs.copy_from_slice(p.get(8..40)?);
            key.ip = [*p.first()?, *p.get(1)?, *p.get(2)?, *p.get(3)?, *p.get(7)?];
            40
        }
        _ => return None,
    };
    let tcp = p.get(iph_len..)?;
    let tcp_len = usize::from(tcp.get(12)? >> 4) * 4;
    if tcp_len < 20 || tcp.len() <= tcp_len {
        return None;
    }
    let flags = *tcp.get(13)?;
    // ACK, or ACK|PSH (no SYN/FIN/RST/URG/ECE/CWR).
    if flags != 0x10 && flags != 0x18 {
        return None;
    }
    key.ports.copy_from_slice(tcp.get(0..4)?);
    key.ack.copy_from_slice(tcp.get(8..12)?);
    key.tcp_len = tcp_len;
    key.opts
        .get_mut(..tcp_len - 20)?
        .copy_from_slice(tcp.get(20..tcp_len)?);
    Some(Segment {
        key,
        iph_len,
        seq: u32::from_be_bytes([*tcp.get(4)?, *tcp.get(5)?, *tcp.get(6)?, *tcp.get(7)?]),
        psh: flags & 0x08 != 0,
        payload: tcp.len() - tcp_len,
    })
}

/// An open super-packet: its first segment's key and where the next segment must start.
#[derive(Debug, Clone)]
struct Open {
    key: Key,
    iph_len: usize,
    /// Sequence number right after the last byte.
    next_seq: u32,
    /// Payload of the first segment (the GSO segment size).
    gso_size: usize,
    /// Segments in it.
    segs: u64,
    /// A PSH or short segment ended it: nothing may follow.
    closed: bool,
}

impl Open {
    fn new(s: Segment) -> Self {
        Self {
            next_seq: s.seq.wrapping_add(s.payload as u32),
            gso_size: s.payload,
            segs: 1,
            closed: s.psh,
            iph_len: s.iph_len,
            key: s.key,
        }
    }

    /// Whether `seg` may be appended to this super-packet of `ip_len` bytes.
    fn takes(&self, seg: &Segment, ip_len: usize) -> bool {
        self.key == seg.key
            && !self.closed
            && self.next_seq == seg.seq
            && seg.payload <= self.gso_size
            && ip_len + seg.payload <= MAX_IP
    }

    /// Records `seg` as appended; a PSH or short segment closes the super-packet (the
    /// PSH flag is then set in its header: tcp_gso_segment keeps it for the last segment).
    fn append(&mut self, seg: &Segment, packet: &mut [u8]) {
        self.next_seq = self.next_seq.wrapping_add(seg.payload as u32);
        self.segs += 1;
        if seg.payload < self.gso_size || seg.psh {
            self.closed = true;
        }
        if seg.psh {
            if let Some(flags) = packet.get_mut(self.iph_len + 13) {
                *flags |= 0x08;
            }
        }
    }

    /// IP and TCP header length.
    fn headers(&self) -> usize {
        self.iph_len + self.key.tcp_len
    }
}

/// Largest IP + TCP header (IPv6 without extensions, 60-byte TCP header).
const MAX_HEADERS: usize = 100;

/// Packets queued for one batch of TUN writes, each buffer with room for the virtio-net
/// header in front and its packet at a fixed offset in its page (crate::page_phase).
/// Allocated once, zeroed lazily by the allocator (pages are touched only
/// as far as they are used); a batch allocates nothing and copies a segment at most once.
///
/// The engine writes a packet straight into the newest open super-packet, over the end of
/// its payload (whose last header-length bytes are saved first): if the packet is the next
/// segment of that flow, restoring the saved bytes leaves its payload appended in place
/// (no copy at all); otherwise it is copied to a buffer of its own (or appended, payload
/// only, to an older super-packet of its flow) and the saved bytes are restored.
pub struct TxBatch {
    bufs: Vec<PhasedBuf>,
    /// Bytes used in each buffer (virtio-net header included).
    lens: Vec<usize>,
    open: Vec<Option<Open>>,
    count: usize,
    bytes: usize,
    mtu: usize,
    coalesce: bool,
    /// The newest super-packet still open: the engine writes the next packet at its end.
    tail: Option<usize>,
    /// The engine leaves TCP checksums partial: every TCP write gets `NEEDS_CSUM`.
    partial: bool,
}

impl std::fmt::Debug for TxBatch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TxBatch")
            .field("count", &self.count)
            .field("bytes", &self.bytes)
            .field("coalesce", &self.coalesce)
            .finish()
    }
}

/// One queued write: the buffer (virtio-net header, then the IP packet) and the number of
/// segments it stands for.
#[derive(Debug, Clone, Copy)]
pub struct Write<'a> {
    /// Header and packet.
    pub buf: &'a [u8],
    /// 1 for a plain packet, the GSO segment count of a super-packet.
    pub segments: u64,
}

impl Write<'_> {
    /// The IP packet (after the virtio-net header).
    pub fn packet(&self) -> &[u8] {
        self.buf.get(HDR_LEN..).unwrap_or_default()
    }
}

impl TxBatch {
    /// Room for [`BATCH_WRITES`] writes of packets of at most `mtu` bytes; with `coalesce`,
    /// TCP segments of one flow are merged into super-packets.
    pub fn new(mtu: u16, coalesce: bool) -> Self {
        let mtu = usize::from(mtu).max(1);
        // A packet is written at most `MAX_HEADERS` before the end of a super-packet of at
        // most `MAX_IP` bytes.
        let size = if coalesce {
            HDR_LEN + MAX_IP + mtu
        } else {
            HDR_LEN + mtu
        };
        Self {
            bufs: (0..BATCH_WRITES)
                .map(|_| PhasedBuf::for_packets(size, HDR_LEN))
                .collect(),
            lens: vec![0; BATCH_WRITES],
            open: vec![None; BATCH_WRITES],
            count: 0,
            bytes: 0,
            mtu,
            coalesce,
            tail: None,
            partial: false,
        }
    }

    /// Whether the engine's TCP segments carry only the pseudo-header sum in their
    /// checksum field (its stack's `tx_partial`): then every TCP packet, not only a
    /// super-packet, is written with `NEEDS_CSUM` for the kernel to complete. Only for a
    /// batch with `coalesce` (written with virtio-net headers); off by default.
    pub fn set_partial_checksums(&mut self, partial: bool) {
        self.partial = partial && self.coalesce;
    }

    /// Number of writes queued.
    pub fn len(&self) -> usize {
        self.count
    }

    /// True when nothing is queued.
    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// True when the batch must be written before another packet is taken.
    pub fn is_full(&self) -> bool {
        self.count >= self.bufs.len() || self.bytes >= BATCH_BYTES
    }

    /// Lets `fill` write one packet (at most the MTU) and queues it: appended to the
    /// super-packet of its flow when it can be, else as a write of its own. `fill` returns
    /// the packet's length, or `None` if it has nothing to queue. Returns whether a packet
    /// was queued (false also, without calling `fill`, when the batch is full).
    pub fn push_with(&mut self, fill: impl FnOnce(&mut [u8]) -> Option<usize>) -> bool {
        if self.is_full() {
            return false;
        }
        // Writing at the tail pays off only if a whole segment still fits there (else a
        // large segment would be written there and then copied out).
        let room = |t: usize| match (self.open.get(t), self.lens.get(t)) {
            (Some(Some(o)), Some(len)) => len - HDR_LEN + o.gso_size <= MAX_IP,
            _ => false,
        };
        match self.tail {
            Some(t) if self.coalesce && room(t) => self.push_at_tail(t, fill),
            _ => self.push_new(fill),
        }
    }

    /// The engine writes into a fresh buffer.
    fn push_new(&mut self, fill: impl FnOnce(&mut [u8]) -> Option<usize>) -> bool {
        let c = self.count;
        let mtu = self.mtu;
        let Some(n) = self
            .bufs
            .get_mut(c)
            .and_then(|b| b.get_mut(HDR_LEN..HDR_LEN + mtu))
            .and_then(fill)
            .filter(|n| *n <= mtu)
        else {
            return false;
        };
        self.bytes += n;
        let seg = if self.coalesce {
            self.bufs
                .get(c)
                .and_then(|b| b.get(HDR_LEN..HDR_LEN + n))
                .and_then(candidate)
        } else {
            None
        };
        if let Some(seg) = &seg {
            if let Some(i) = self.find(seg) {
                // Appended to an older super-packet of its flow (one copy of the payload).
                let start = HDR_LEN + seg.key.tcp_len + seg.iph_len;
                if self.copy_payload(c, start..HDR_LEN + n, i, seg) {
                    return true;
                }
            }
        }
        self.lens[c] = HDR_LEN + n;
        let closed = seg.as_ref().is_none_or(|s| s.psh);
        self.open[c] = seg.map(Open::new);
        if !closed {
            self.tail = Some(c);
        }
        self.count += 1;
        true
    }

    /// The engine writes over the end of super-packet `t`.
    fn push_at_tail(&mut self, t: usize, fill: impl FnOnce(&mut [u8]) -> Option<usize>) -> bool {
        let (Some(Some(open)), Some(&len)) = (self.open.get(t), self.lens.get(t)) else {
            return self.push_new(fill);
        };
        let h = open.headers();
        let at = len - h;
        let mtu = self.mtu;
        let Some(buf) = self.bufs.get_mut(t) else {
            return false;
        };
        let mut saved = [0u8; MAX_HEADERS];
        let (Some(keep), Some(from)) = (saved.get_mut(..h), buf.get(at..len)) else {
            return false;
        };
        keep.copy_from_slice(from);
        let n = buf
            .get_mut(at..at + mtu)
            .and_then(fill)
            .filter(|n| *n <= mtu);
        let seg = n.and_then(|n| buf.get(at..at + n)).and_then(candidate);
        // The saved payload bytes go back in every case; a merged segment's headers are
        // exactly those bytes, its payload already follows them.
        let restore = |buf: &mut [u8]| {
            if let (Some(dst), Some(src)) = (buf.get_mut(at..len), saved.get(..h)) {
                dst.copy_from_slice(src);
            }
        };
        let Some(n) = n else {
            restore(buf);
            return false;
        };
        self.bytes += n;
        if let Some(seg) = &seg {
            if let Some(Some(open)) = self.open.get_mut(t) {
                if open.takes(seg, len - HDR_LEN) {
                    // The flags live in the saved header bytes: restore first.
                    let (buf, lens) = (&mut self.bufs[t], &mut self.lens[t]);
                    if let (Some(dst), Some(src)) = (buf.get_mut(at..len), saved.get(..h)) {
                        dst.copy_from_slice(src);
                    }
                    open.append(seg, buf.get_mut(HDR_LEN..).unwrap_or_default());
                    *lens = len + seg.payload;
                    if open.closed {
                        self.tail = None;
                    }
                    return true;
                }
            }
        }
        // Not the tail's next segment: an older super-packet of its flow, or a new write.
        let c = self.count;
        if let Some(seg) = &seg {
            if let Some(i) = self.find(seg).filter(|i| *i != t) {
                let start = at + seg.iph_len + seg.key.tcp_len;
                let ok = self.copy_payload(t, start..at + n, i, seg);
                restore(&mut self.bufs[t]);
                if ok {
                    return true;
                }
            }
        }
        if c >= self.bufs.len() || c == t {
            restore(&mut self.bufs[t]);
            return false;
        }
        let (lo, hi) = self.bufs.split_at_mut(c);
        if let (Some(src), Some(dst)) = (
            lo.get(t).and_then(|b| b.get(at..at + n)),
            hi.first_mut().and_then(|b| b.get_mut(HDR_LEN..HDR_LEN + n)),
        ) {
            bytecopy::copy(dst, src);
        }
        restore(&mut self.bufs[t]);
        self.lens[c] = HDR_LEN + n;
        let closed = seg.as_ref().is_none_or(|s| s.psh);
        self.open[c] = seg.map(Open::new);
        if !closed {
            self.tail = Some(c);
        }
        self.count += 1;
        true
    }

    /// Appends `bufs[from][range]` (a segment's payload) to super-packet `to` ≠ `from`.
    fn copy_payload(
        &mut self,
        from: usize,
        range: std::ops::Range<usize>,
        to: usize,
        seg: &Segment,
    ) -> bool {
        if from == to {
            return false;
        }
        let len = self.lens.get(to).copied().unwrap_or(0);
        let (src, dst) = if from < to {
            let (lo, hi) = self.bufs.split_at_mut(to);
            (lo.get(from), hi.first_mut())
        } else {
            let (lo, hi) = self.bufs.split_at_mut(from);
            (hi.first(), lo.get_mut(to))
        };
        let (Some(src), Some(dst)) = (src.and_then(|b| b.get(range)), dst) else {
            return false;
        };
        let Some(d) = dst.get_mut(len..len + src.len()) else {
            return false;
        };
        bytecopy::copy(d, src);
        if let Some(Some(open)) = self.open.get_mut(to) {
            open.append(seg, dst.get_mut(HDR_LEN..).unwrap_or_default());
            if open.closed && self.tail == Some(to) {
                self.tail = None;
            }
        }
        if let Some(l) = self.lens.get_mut(to) {
            *l = len + seg.payload;
        }
        true
    }

    /// The open super-packet `seg` may be appended to, newest first.
    fn find(&self, seg: &Segment) -> Option<usize> {
        let first = self.count.saturating_sub(SEARCH);
        (first..self.count).rev().find(|&i| {
            let (Some(Some(o)), Some(len)) = (self.open.get(i), self.lens.get(i)) else {
                return false;
            };
            o.takes(seg, len - HDR_LEN)
        })
    }

    /// Completes the headers of every queued write (virtio-net header; for a super-packet
    /// also the IP length, IPv4 header checksum and the TCP pseudo-header sum the kernel
    /// completes) and returns them in order.
    pub fn finish(&mut self) -> impl Iterator<Item = Write<'_>> {
        let count = self.count;
        let partial = self.partial;
        for ((buf, open), len) in self
            .bufs
            .iter_mut()
            .zip(&self.open)
            .zip(&self.lens)
            .take(count)
        {
            let Some(buf) = buf.get_mut(..*len) else {
                continue;
            };
            let hdr = match open {
                Some(o) if o.segs > 1 => finish_super(buf, o),
                Some(o) if partial => needs_csum(o.iph_len),
                None if partial => buf
                    .get(HDR_LEN..)
                    .and_then(tcp_header_start)
                    .map_or_else(VirtioHdr::default, needs_csum),
                _ => VirtioHdr::default(),
            };
            hdr.encode(buf);
        }
        self.bufs
            .iter()
            .zip(&self.open)
            .zip(&self.lens)
            .take(count)
            .map(|((buf, open), len)| Write {
                buf: buf.get(..*len).unwrap_or_default(),
                segments: open.as_ref().map_or(1, |o| o.segs),
            })
    }

    /// Empties the batch (after its writes).
    pub fn clear(&mut self) {
        self.count = 0;
        self.bytes = 0;
        self.tail = None;
    }
}

/// Rewrites the IP length (and IPv4 header checksum) of the super-packet in `buf` and
/// puts the pseudo-header sum into the TCP checksum field; returns its virtio-net header.
fn finish_super(buf: &mut [u8], o: &Open) -> VirtioHdr {
    let ip_len = buf.len().saturating_sub(HDR_LEN);
    let Some(p) = buf.get_mut(HDR_LEN..) else {
        return VirtioHdr::default();
    };
    let tcp_len = ip_len.saturating_sub(o.iph_len);
    let mut sum: u32 = 6 + tcp_len as u32;
    let gso_type = if o.key.v6 {
        let addrs = o.key.addrs;
        sum = add_words(sum, &addrs);
        if let Some(f) = p.get_mut(4..6) {
            f.copy_from_slice(&(tcp_len as u16).to_be_bytes());
        }
        GSO_TCPV6
    } else {
        sum = add_words(sum, o.key.addrs.get(..8).unwrap_or_default());
        if let Some(f) = p.get_mut(2..4) {
            f.copy_from_slice(&(ip_len as u16).to_be_bytes());
        }
        if let Some(f) = p.get_mut(10..12) {
            f.copy_from_slice(&[0, 0]);
        }
        let check = !fold(add_words(0, p.get(..20).unwrap_or_default()));
        if let Some(f) = p.get_mut(10..12) {
            f.copy_from_slice(&check.to_be_bytes());
        }
        GSO_TCPV4
    };
    if let Some(f) = p.get_mut(o.iph_len + 16..o.iph_len + 18) {
        f.copy_from_slice(&fold(sum).to_be_bytes());
    }
    VirtioHdr {
        flags: NEEDS_CSUM,
        gso_type,
        hdr_len: (o.iph_len + o.key.tcp_len) as u16,
        gso_size: o.gso_size as u16,
        csum_start: o.iph_len as u16,
        csum_offset: 16,
    }
}

/// The header of one TCP packet whose checksum field holds the pseudo-header sum.
fn needs_csum(iph_len: usize) -> VirtioHdr {
    VirtioHdr {
        flags: NEEDS_CSUM,
        csum_start: iph_len as u16,
        csum_offset: 16,
        ..VirtioHdr::default()
    }
}

/// Where the TCP header of `p` starts, if `p` is TCP over IPv4 (not a fragment) or over
/// IPv6 without extension headers.
fn tcp_header_start(p: &[u8]) -> Option<usize> {
    match p.first()? >> 4 {
        4 => {
            let ihl = usize::from(p.first()? & 0x0f) * 4;
            let frag = u16::from_be_bytes([*p.get(6)?, *p.get(7)?]) & 0x3fff;
            (*p.get(9)? == 6 && ihl >= 20 && frag == 0 && p.len() >= ihl + 20).then_some(ihl)
        }
        6 => (*p.get(6)? == 6 && p.len() >= 60).then_some(40),
        _ => None,
    }
}

/// Adds `data` as big-endian 16-bit words (headers only: even lengths).
fn add_words(mut sum: u32, data: &[u8]) -> u32 {
    for w in data.chunks(2) {
        let hi = u32::from(w.first().copied().unwrap_or(0)) << 8;
        let lo = u32::from(w.get(1).copied().unwrap_or(0));
        sum += hi | lo;
    }
    sum
}

/// Folds a 32-bit one's-complement sum to 16 bits (not inverted).
fn fold(mut sum: u32) -> u16 {
    while sum > 0xffff {
        sum = (sum >> 16) + (sum & 0xffff);
    }
    sum as u16
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    /// An IPv4 TCP segment with a correct IP header checksum (TCP checksum left 0).
    fn seg4(seq: u32, ack: u32, flags: u8, payload: &[u8], opts: &[u8]) -> Vec<u8> {
        let tcp_len = 20 + opts.len();
        let total = 20 + tcp_len + payload.len();
        let mut p = vec![0u8; total];
        p[0] = 0x45;
        p[2..4].copy_from_slice(&(total as u16).to_be_bytes());
        p[6] = 0x40;
        p[8] = 64;
        p[9] = 6;
        p[12..16].copy_from_slice(&[10, 77, 0, 2]);
        p[16..20].copy_from_slice(&[10, 201, 3, 2]);
        let c = !fold(add_words(0, &p[..20]));
        p[10..12].copy_from_slice(&c.to_be_bytes());
        let t = &mut p[20..];
        t[0..2].copy_from_slice(&40000u16.to_be_bytes());
        t[2..4].copy_from_slice(&5201u16.to_be_bytes());
        t[4..8].copy_from_slice(&seq.to_be_bytes());
        t[8..12].copy_from_slice(&ack.to_be_bytes());
        t[12] = ((tcp_len / 4) as u8) << 4;
        t[13] = flags;
        t[20..tcp_len].copy_from_slice(opts);
        t[tcp_len..].copy_from_slice(payload);
        p
    }

    fn push(b: &mut TxBatch, p: &[u8]) -> bool {
        b.push_with(|buf| {
            buf[..p.len()].copy_from_slice(p);
            Some(p.len())
        })
    }

    fn writes(b: &mut TxBatch) -> Vec<(Vec<u8>, u64)> {
        let w = b.finish().map(|w| (w.buf.to_vec(), w.segments)).collect();
        b.clear();
        w
    }

    #[test]
    fn consecutive_segments_become_one_gso_write() {
        let mut b = TxBatch::new(1500, true);
        let ts = [1, 1, 8, 10, 0, 0, 0, 1, 0, 0, 0, 2];
        let d = |i: u8| vec![i; 1000];
        for i in 0..3u32 {
            assert!(push(
                &mut b,
                &seg4(1000 + i * 1000, 7, 0x10, &d(i as u8), &ts)
            ));
        }
        // A short last segment with PSH closes it.
        assert!(push(&mut b, &seg4(4000, 7, 0x18, &[9; 10], &ts)));
        // Nothing may follow the PSH: a new write.
        assert!(push(&mut b, &seg4(4010, 7, 0x10, &[5; 10], &ts)));
        let w = writes(&mut b);
        assert_eq!(w.len(), 2);
        let (buf, segs) = &w[0];
        assert_eq!(*segs, 4);
        let hdr = VirtioHdr::decode(buf).unwrap();
        assert_eq!(hdr.flags, NEEDS_CSUM);
        assert_eq!(hdr.gso_type, GSO_TCPV4);
        assert_eq!(hdr.gso_size, 1000);
        assert_eq!(hdr.hdr_len, 20 + 32);
        assert_eq!((hdr.csum_start, hdr.csum_offset), (20, 16));
        let p = &buf[HDR_LEN..];
        assert_eq!(p.len(), 52 + 3010);
        assert_eq!(u16::from_be_bytes([p[2], p[3]]) as usize, p.len());
        // IPv4 header checksum valid again.
        assert_eq!(fold(add_words(0, &p[..20])), 0xffff);
        // PSH moved to the super-packet (the last segment keeps it after segmentation).
        assert_eq!(p[20 + 13], 0x18);
        // Payload in order.
        assert_eq!(&p[52..1052], &d(0)[..]);
        assert_eq!(&p[2052..3052], &d(2)[..]);
        assert_eq!(&p[3052..], &[9; 10]);
        // TCP checksum field = pseudo-header sum: src, dst, proto 6, TCP length.
        let tcp_len = (p.len() - 20) as u32;
        let want = fold(add_words(6 + tcp_len, &p[12..20]));
        assert_eq!(u16::from_be_bytes([p[36], p[37]]), want);
        // The second write is the plain packet as the engine made it.
        let (buf, segs) = &w[1];
        assert_eq!(*segs, 1);
        assert_eq!(VirtioHdr::decode(buf).unwrap(), VirtioHdr::default());
        assert_eq!(&buf[HDR_LEN..], &seg4(4010, 7, 0x10, &[5; 10], &ts)[..]);
    }

    #[test]
    fn what_must_not_merge_is_written_apart_and_in_order() {
        let mut b = TxBatch::new(1500, true);
        let a = seg4(1000, 7, 0x10, &[1; 100], &[]);
        let gap = seg4(1200, 7, 0x10, &[2; 100], &[]); // not contiguous
        let other_ack = seg4(1100, 8, 0x10, &[3; 100], &[]);
        let pure_ack = seg4(1, 9, 0x10, &[], &[]);
        let fin = seg4(1100, 7, 0x11, &[4; 100], &[]);
        let bigger = seg4(1100, 7, 0x10, &[5; 200], &[]); // larger than gso_size
        for p in [&a, &gap, &other_ack, &pure_ack, &fin, &bigger] {
            assert!(push(&mut b, p));
        }
        let w = writes(&mut b);
        assert_eq!(w.len(), 6);
        for ((buf, segs), p) in w
            .iter()
            .zip([&a, &gap, &other_ack, &pure_ack, &fin, &bigger])
        {
            assert_eq!(*segs, 1);
            assert_eq!(&buf[HDR_LEN..], &p[..]);
        }
    }

    #[test]
    fn a_super_packet_stays_within_64_kb() {
        let mut b = TxBatch::new(1500, true);
        for i in 0..50u32 {
            assert!(push(&mut b, &seg4(i * 1448, 7, 0x10, &[7; 1448], &[])));
        }
        let w = writes(&mut b);
        assert_eq!(w.len(), 2);
        assert_eq!(w[0].1, 45); // 40 + 45 * 1448 = 65 200 ≤ 65 535
        assert_eq!(w[1].1, 5);
        assert!(w.iter().all(|(buf, _)| buf.len() - HDR_LEN <= MAX_IP));
        let p = &w[1].0[HDR_LEN..];
        assert_eq!(u32::from_be_bytes([p[24], p[25], p[26], p[27]]), 45 * 1448);
    }

    #[test]
    fn without_coalescing_every_packet_is_its_own_write() {
        let mut b = TxBatch::new(1500, false);
        for i in 0..3u32 {
            assert!(push(&mut b, &seg4(i * 100, 7, 0x10, &[1; 100], &[])));
        }
        assert_eq!(b.len(), 3);
        assert!(writes(&mut b).iter().all(|(_, s)| *s == 1));
        assert!(b.is_empty());
    }

    #[test]
    fn partial_checksums_mark_every_tcp_write() {
        let mut b = TxBatch::new(1500, true);
        b.set_partial_checksums(true);
        let mut udp = seg4(0, 0, 0, &[1; 30], &[]);
        udp[9] = 17;
        assert!(push(&mut b, &seg4(1, 9, 0x10, &[], &[]))); // pure ACK
        assert!(push(&mut b, &udp));
        assert!(push(&mut b, &seg4(0, 7, 0x18, &[1; 100], &[]))); // one data segment
        assert!(push(&mut b, &seg4(1, 0, 0x14, &[], &[]))); // RST
        let w = writes(&mut b);
        let hdrs: Vec<VirtioHdr> = w
            .iter()
            .map(|(buf, _)| VirtioHdr::decode(buf).unwrap())
            .collect();
        let tcp = VirtioHdr {
            flags: NEEDS_CSUM,
            csum_start: 20,
            csum_offset: 16,
            ..VirtioHdr::default()
        };
        assert_eq!(hdrs, vec![tcp, VirtioHdr::default(), tcp, tcp]);
        // Without partial checksums (the default), single packets get an empty header.
        let mut b = TxBatch::new(1500, true);
        assert!(push(&mut b, &seg4(1, 9, 0x10, &[], &[])));
        assert!(push(&mut b, &seg4(0, 7, 0x18, &[1; 100], &[])));
        let w = writes(&mut b);
        assert!(w
            .iter()
            .all(|(buf, _)| VirtioHdr::decode(buf) == Some(VirtioHdr::default())));
        // A batch without virtio-net headers never marks anything.
        let mut b = TxBatch::new(1500, false);
        b.set_partial_checksums(true);
        assert!(!b.partial);
    }

    #[test]
    fn a_full_batch_takes_nothing() {
        let mut b = TxBatch::new(1500, true);
        for i in 0..BATCH_WRITES as u32 {
            // Pure ACKs never merge.
            assert!(push(&mut b, &seg4(1, i, 0x10, &[], &[])));
        }
        assert!(b.is_full());
        let mut called = false;
        assert!(!b.push_with(|_| {
            called = true;
            None
        }));
        assert!(!called);
    }

    #[test]
    fn ipv6_segments_merge_with_the_payload_length_rewritten() {
        let mk = |seq: u32| {
            let mut p = vec![0u8; 40 + 20 + 500];
            p[0] = 0x60;
            p[4..6].copy_from_slice(&520u16.to_be_bytes());
            p[6] = 6;
            p[7] = 64;
            p[8] = 0xfd;
            p[24] = 0xfd;
            p[40 + 4..40 + 8].copy_from_slice(&seq.to_be_bytes());
            p[40 + 12] = 5 << 4;
            p[40 + 13] = 0x10;
            p
        };
        let mut b = TxBatch::new(1500, true);
        assert!(push(&mut b, &mk(0)));
        assert!(push(&mut b, &mk(500)));
        let w = writes(&mut b);
        assert_eq!(w.len(), 1);
        let hdr = VirtioHdr::decode(&w[0].0).unwrap();
        assert_eq!(
            (hdr.gso_type, hdr.gso_size, hdr.csum_start),
            (GSO_TCPV6, 500, 40)
        );
        let p = &w[0].0[HDR_LEN..];
        assert_eq!(u16::from_be_bytes([p[4], p[5]]), 1020);
    }

    /// `seg4` from another source port.
    fn seg4_port(port: u16, seq: u32, flags: u8, payload: &[u8]) -> Vec<u8> {
        let mut p = seg4(seq, 7, flags, payload, &[]);
        p[20..22].copy_from_slice(&port.to_be_bytes());
        p
    }

    #[test]
    fn interleaved_flows_still_coalesce_and_stay_intact() {
        let mut b = TxBatch::new(1500, true);
        let a = |i: u32| seg4_port(1, 1000 + i * 100, 0x10, &[i as u8 + 1; 100]);
        let bb = |i: u32| seg4_port(2, 5000 + i * 100, 0x10, &[i as u8 + 101; 100]);
        let ack = seg4_port(3, 1, 0x10, &[]);
        for p in [
            a(0),
            ack.clone(),
            a(1),
            bb(0),
            a(2),
            bb(1),
            ack.clone(),
            bb(2),
            a(3),
        ] {
            assert!(push(&mut b, &p));
        }
        let w = writes(&mut b);
        // a: one write of 4 segments; the ACK twice; b: one write of 3.
        assert_eq!(
            w.iter().map(|(_, s)| *s).collect::<Vec<_>>(),
            vec![4, 1, 3, 1]
        );
        let pay = |x: &[u8]| x[HDR_LEN + 40..].to_vec();
        let want_a: Vec<u8> = (0..4).flat_map(|i| vec![i as u8 + 1; 100]).collect();
        let want_b: Vec<u8> = (0..3).flat_map(|i| vec![i as u8 + 101; 100]).collect();
        assert_eq!(pay(&w[0].0), want_a);
        assert_eq!(&w[1].0[HDR_LEN..], &ack[..]);
        assert_eq!(pay(&w[2].0), want_b);
        assert_eq!(&w[3].0[HDR_LEN..], &ack[..]);
        // Headers of the super-packets are those of their first segments.
        assert_eq!(&w[0].0[HDR_LEN + 20..HDR_LEN + 28], &a(0)[20..28]);
        assert_eq!(&w[2].0[HDR_LEN + 20..HDR_LEN + 28], &bb(0)[20..28]);
    }

    /// Splits a write back into segments the way the kernel's GSO does (payload only).
    fn resegment(buf: &[u8], segs: u64) -> Vec<(u16, u32, Vec<u8>, bool)> {
        let p = &buf[HDR_LEN..];
        let port = u16::from_be_bytes([p[20], p[21]]);
        let seq = u32::from_be_bytes([p[24], p[25], p[26], p[27]]);
        let psh = p[33] & 0x08 != 0;
        let payload = &p[40..];
        if segs == 1 {
            return vec![(port, seq, payload.to_vec(), psh)];
        }
        let hdr = VirtioHdr::decode(buf).unwrap();
        let n = payload.chunks(hdr.gso_size.into()).count();
        assert_eq!(n as u64, segs);
        payload
            .chunks(hdr.gso_size.into())
            .enumerate()
            .map(|(i, c)| {
                let off = i as u32 * u32::from(hdr.gso_size);
                (port, seq.wrapping_add(off), c.to_vec(), psh && i + 1 == n)
            })
            .collect()
    }

    #[test]
    fn random_streams_come_out_as_they_went_in() {
        let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
        let mut rnd = move |n: u64| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x % n
        };
        for mtu in [1500u16, 9000] {
            let mut b = TxBatch::new(mtu, true);
            let mut seq = [0u32; 3];
            let mut sent: Vec<(u16, u32, Vec<u8>, bool)> = Vec::new();
            let mut got = Vec::new();
            for _ in 0..3000 {
                let f = rnd(3) as usize;
                let len = match rnd(4) {
                    0 => 0,
                    1 => rnd(200) as usize,
                    _ => usize::from(mtu) - 40,
                };
                let psh = len > 0 && rnd(10) == 0;
                let fill = (seq[f] % 251) as u8;
                let p = seg4_port(
                    f as u16 + 1,
                    seq[f],
                    if psh { 0x18 } else { 0x10 },
                    &vec![fill; len],
                );
                if len > 0 {
                    sent.push((f as u16 + 1, seq[f], vec![fill; len], psh));
                }
                seq[f] = seq[f].wrapping_add(len as u32);
                if !push(&mut b, &p) {
                    for (buf, segs) in writes(&mut b) {
                        got.extend(resegment(&buf, segs));
                    }
                    assert!(push(&mut b, &p));
                }
            }
            for (buf, segs) in writes(&mut b) {
                got.extend(resegment(&buf, segs));
            }
            got.retain(|s| !s.2.is_empty());
            for f in 1..=3u16 {
                let w: Vec<_> = sent.iter().filter(|s| s.0 == f).collect();
                let g: Vec<_> = got.iter().filter(|s| s.0 == f).collect();
                assert_eq!(w, g, "flow {f} at MTU {mtu}");
            }
        }
    }
}
