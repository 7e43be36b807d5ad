//! The TUN device: opened with tun-rs (no packet-information header), non-blocking, polled
//! by mio through its raw fd. The device vanishes when it is dropped.
//!
//! With offloads on (`tun.offload`, the default) the device carries a virtio-net header
//! (`IFF_VNET_HDR`) and announces TSO/GSO and checksum offload to the kernel, the way
//! wireguard-go's TUN does: one read returns a TCP super-packet of up to 64 KB that
//! [`Tun::recv_batch`] splits into MTU-sized packets (with their checksums completed), and
//! [`Tun::send_batch`] coalesces consecutive segments of one flow into one write that the
//! kernel segments again. The engine only ever sees ordinary packets of at most the MTU.

use std::io;
use std::net::{Ipv4Addr, Ipv6Addr};
use std::os::fd::{AsRawFd, RawFd};

use tun_rs::{DeviceBuilder, GROTable, SyncDevice, IDEAL_BATCH_SIZE, VIRTIO_NET_HDR_LEN};

use crate::control::proto::{LegIo, TunIo};
use crate::plumbing::preflight::EnvError;

/// Marks a queued buffer whose virtio-net header tun-rs has not written: after
/// `send_multiple` a buffer still carrying it was merged into another and not written
/// itself (tun-rs encodes a header, whose first byte is a flags value ≤ 7, for every
/// buffer it writes).
const UNWRITTEN: u8 = 0xff;

/// Tells the legs apart for the counters: a packet from or to the stack's own address
/// belongs to the outer leg, anything else to the inner one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Legs {
    v4: [u8; 4],
    v6: [u8; 16],
}

impl Legs {
    /// The stack's own addresses.
    pub fn new(stack_v4: Ipv4Addr, stack_v6: Ipv6Addr) -> Self {
        Self {
            v4: stack_v4.octets(),
            v6: stack_v6.octets(),
        }
    }

    /// Whether `packet` (an IP packet) is to or from the stack's own address.
    pub fn is_outer(&self, packet: &[u8]) -> bool {
        match packet.first().map(|b| b >> 4) {
            Some(4) => [12..16, 16..20]
                .into_iter()
                .any(|r| packet.get(r) == Some(&self.v4[..])),
            Some(6) => [8..24, 24..40]
                .into_iter()
                .any(|r| packet.get(r) == Some(&self.v6[..])),
            _ => false,
        }
    }

    /// The counters of `packet`'s leg.
    pub fn of<'a>(&self, io: &'a mut TunIo, packet: &[u8]) -> &'a mut LegIo {
        if self.is_outer(packet) {
            &mut io.outer
        } else {
            &mut io.inner
        }
    }
}

/// Why the TUN device could not be opened.
#[derive(Debug, thiserror::Error)]
pub enum TunError {
    /// A condition the operator must fix (exit 1 with its own message).
    #[error(transparent)]
    Env(#[from] EnvError),
    /// Any other failure.
    #[error("cannot open TUN device `{name}`: {source}")]
    Open {
        /// The device name.
        name: String,
        /// The OS error.
        source: io::Error,
    },
}

/// An open, non-blocking TUN device.
pub struct Tun {
    dev: SyncDevice,
    name: String,
    mtu: u16,
}

/// Largest read from the device: a 64 KB super-packet plus the virtio-net header.
const MAX_READ: usize = 65_535 + VIRTIO_NET_HDR_LEN;

/// Capacity of a write buffer: tun-rs appends a segment to a flow's buffer only while
/// `capacity >= 2 * VIRTIO_NET_HDR_LEN + coalesced IP length` (offload.rs,
/// `coalesce_tcp_packets`), so this lets a coalesced packet reach the IP maximum of 65 535.
const COALESCE_CAPACITY: usize = 2 * VIRTIO_NET_HDR_LEN + 65_535;

/// Buffers for one batched read: the raw read and the packets it splits into. Allocated once;
/// a read allocates nothing.
pub struct RxBatch {
    raw: Vec<u8>,
    bufs: Vec<Vec<u8>>,
    sizes: Vec<usize>,
    count: usize,
}

impl RxBatch {
    /// Buffers for packets of at most `mtu` bytes.
    pub fn new(mtu: u16) -> Self {
        Self {
            raw: vec![0; MAX_READ],
            bufs: vec![vec![0; usize::from(mtu).max(1)]; IDEAL_BATCH_SIZE],
            sizes: vec![0; IDEAL_BATCH_SIZE],
            count: 0,
        }
    }

    /// The packets of the last read.
    pub fn packets(&self) -> impl Iterator<Item = &[u8]> {
        self.bufs
            .iter()
            .zip(&self.sizes)
            .take(self.count)
            .map(|(b, &n)| b.get(..n).unwrap_or_default())
    }
}

/// Packets queued for one batched write, each with room for the virtio-net header in front.
/// Buffers are reused from batch to batch. Every buffer is allocated with the capacity of a
/// whole 64 KB super-packet: tun-rs coalesces a segment into the buffer of its flow only if
/// that buffer's *capacity* already holds the result (it never reallocates), so buffers
/// sized to the MTU made every write a single packet.
pub struct TxBatch {
    bufs: Vec<Vec<u8>>,
    count: usize,
    packet: usize,
    gro: GROTable,
}

impl TxBatch {
    /// Room for [`IDEAL_BATCH_SIZE`] packets of at most `mtu` bytes.
    pub fn new(mtu: u16) -> Self {
        let packet = usize::from(mtu).max(1);
        let buf = || {
            let mut b = Vec::with_capacity(COALESCE_CAPACITY.max(VIRTIO_NET_HDR_LEN + packet));
            b.resize(VIRTIO_NET_HDR_LEN + packet, 0);
            b
        };
        Self {
            bufs: (0..IDEAL_BATCH_SIZE).map(|_| buf()).collect(),
            count: 0,
            packet,
            gro: GROTable::new(),
        }
    }

    /// Number of packets queued.
    pub fn len(&self) -> usize {
        self.count
    }

    /// True when nothing is queued.
    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// True when the batch must be written before another packet fits.
    pub fn is_full(&self) -> bool {
        self.count == self.bufs.len()
    }

    /// Lets `fill` write one packet into the next free slot (at most the MTU); `fill` returns
    /// the packet's length, or `None` if it has nothing to queue. Returns whether a packet was
    /// queued (false also when the batch is full).
    pub fn push_with(&mut self, fill: impl FnOnce(&mut [u8]) -> Option<usize>) -> bool {
        let packet = self.packet;
        let Some(buf) = self.bufs.get_mut(self.count) else {
            return false;
        };
        buf.resize(VIRTIO_NET_HDR_LEN + packet, 0);
        let Some(n) = buf.get_mut(VIRTIO_NET_HDR_LEN..).and_then(fill) else {
            return false;
        };
        buf.truncate(VIRTIO_NET_HDR_LEN + n.min(packet));
        if let Some(flags) = buf.first_mut() {
            *flags = UNWRITTEN;
        }
        self.count += 1;
        true
    }
}

/// Segments a buffer written with its virtio-net header `buf` stands for: its GSO segment
/// count, or 1 for a plain packet.
fn segments(buf: &[u8]) -> u64 {
    let field = |at: usize| {
        buf.get(at..at + 2)
            .map_or(0, |b| usize::from(u16::from_ne_bytes([b[0], b[1]])))
    };
    let (gso_type, hdr_len, gso_size) = (buf.get(1).copied().unwrap_or(0), field(2), field(4));
    let payload = buf
        .len()
        .saturating_sub(VIRTIO_NET_HDR_LEN)
        .saturating_sub(hdr_len);
    if gso_type == 0 || gso_size == 0 || payload == 0 {
        1
    } else {
        payload.div_ceil(gso_size) as u64
    }
}

impl Tun {
    /// Creates the device `name` with `mtu`, with virtio-net offloads if `offload`. The link
    /// stays down until the plumbing sets it up.
    pub fn open(name: &str, mtu: u16, offload: bool) -> Result<Self, TunError> {
        let dev = DeviceBuilder::new()
            .name(name)
            .mtu(mtu)
            .offload(offload)
            .enable(false)
            .build_sync()
            .map_err(|source| match source.raw_os_error() {
                // EBUSY: a TUN device of that name is attached to another process.
                Some(16) => TunError::Env(EnvError::InterfaceTaken(name.to_owned())),
                // EPERM / EACCES.
                Some(1 | 13) => TunError::Env(EnvError::NotPrivileged),
                // ENOENT / ENODEV on /dev/net/tun.
                Some(2 | 19) => TunError::Env(EnvError::NoTunDevice),
                _ => TunError::Open {
                    name: name.to_owned(),
                    source,
                },
            })?;
        dev.set_nonblocking(true).map_err(|source| TunError::Open {
            name: name.to_owned(),
            source,
        })?;
        Ok(Self {
            dev,
            name: name.to_owned(),
            mtu,
        })
    }

    /// The device MTU.
    pub fn mtu(&self) -> u16 {
        self.mtu
    }

    /// Whether the kernel accepted TCP segmentation offload on the device.
    pub fn offload(&self) -> bool {
        self.dev.tcp_gso()
    }

    /// Reads one packet, or one super-packet split into several, into `batch`; returns how
    /// many, counted in `io` under the leg `legs` gives the first. `WouldBlock` when none is
    /// queued. An `InvalidData`-like error means one malformed read was consumed and
    /// dropped: the caller may go on reading.
    pub fn recv_batch(
        &self,
        batch: &mut RxBatch,
        legs: &Legs,
        io: &mut TunIo,
    ) -> io::Result<usize> {
        batch.count = 0;
        let n = self
            .dev
            .recv_multiple(&mut batch.raw, &mut batch.bufs, &mut batch.sizes, 0)?;
        batch.count = n.min(batch.bufs.len());
        if let Some(first) = batch.packets().next() {
            let bytes: usize = batch.sizes.iter().take(batch.count).sum();
            let leg = legs.of(io, first);
            leg.reads += 1;
            leg.read_packets += batch.count as u64;
            leg.read_bytes += bytes as u64;
        }
        Ok(batch.count)
    }

    /// Writes every packet of `batch`, coalescing segments of one TCP flow when offloads are
    /// on, and empties it; each write is counted in `io` under its leg. Returns the bytes
    /// written; an error means at least one packet of the batch was refused (the others
    /// were still written).
    pub fn send_batch(
        &self,
        batch: &mut TxBatch,
        legs: &Legs,
        io: &mut TunIo,
    ) -> io::Result<usize> {
        let count = batch.count;
        batch.count = 0;
        let Some(bufs) = batch.bufs.get_mut(..count) else {
            return Ok(0);
        };
        let result = self
            .dev
            .send_multiple(&mut batch.gro, bufs, VIRTIO_NET_HDR_LEN);
        for buf in bufs.iter() {
            let (Some(&flags), Some(packet)) = (buf.first(), buf.get(VIRTIO_NET_HDR_LEN..)) else {
                continue;
            };
            // Without offloads tun-rs writes every buffer as it is, header bytes unused.
            if flags == UNWRITTEN && self.dev.tcp_gso() {
                continue;
            }
            let leg = legs.of(io, packet);
            leg.writes += 1;
            leg.write_bytes += packet.len() as u64;
            leg.write_packets += if flags == UNWRITTEN { 1 } else { segments(buf) };
        }
        result
    }

    /// The interface name.
    pub fn name(&self) -> &str {
        &self.name
    }
}

impl std::fmt::Debug for Tun {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tun").field("name", &self.name).finish()
    }
}

impl AsRawFd for Tun {
    fn as_raw_fd(&self) -> RawFd {
        self.dev.as_raw_fd()
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn v4(src: [u8; 4], dst: [u8; 4]) -> Vec<u8> {
        let mut p = vec![0u8; 40];
        p[0] = 0x45;
        p[12..16].copy_from_slice(&src);
        p[16..20].copy_from_slice(&dst);
        p
    }

    #[test]
    fn legs_are_told_apart_by_the_stack_address() {
        let legs = Legs::new(Ipv4Addr::new(10, 77, 0, 2), "fd77::2".parse().unwrap());
        assert!(legs.is_outer(&v4([10, 77, 0, 2], [10, 201, 3, 2])));
        assert!(legs.is_outer(&v4([10, 201, 3, 2], [10, 77, 0, 2])));
        assert!(!legs.is_outer(&v4([10, 201, 3, 1], [10, 201, 3, 2])));
        let mut p6 = vec![0u8; 60];
        p6[0] = 0x60;
        p6[24..40].copy_from_slice(&"fd77::2".parse::<Ipv6Addr>().unwrap().octets());
        assert!(legs.is_outer(&p6));
        p6[24..40].fill(0);
        assert!(!legs.is_outer(&p6));
        assert!(!legs.is_outer(&[0x45, 0, 0]));
        assert!(!legs.is_outer(&[]));
        let mut io = TunIo::default();
        legs.of(&mut io, &v4([10, 77, 0, 2], [1, 1, 1, 1])).writes += 1;
        legs.of(&mut io, &v4([1, 1, 1, 1], [2, 2, 2, 2])).reads += 1;
        assert_eq!((io.outer.writes, io.inner.reads), (1, 1));
        assert_eq!((io.inner.writes, io.outer.reads), (0, 0));
    }

    #[test]
    fn segments_come_from_the_virtio_header() {
        // flags NEEDS_CSUM, TCPv4, hdr_len 52, gso_size 1448; 3 full segments + 100 bytes.
        let mut b = vec![0u8; VIRTIO_NET_HDR_LEN + 52 + 3 * 1448 + 100];
        b[0] = 1;
        b[1] = 1;
        b[2..4].copy_from_slice(&52u16.to_ne_bytes());
        b[4..6].copy_from_slice(&1448u16.to_ne_bytes());
        assert_eq!(segments(&b), 4);
        b[1] = 0;
        assert_eq!(segments(&b), 1);
        assert_eq!(segments(&[]), 1);
    }

    #[test]
    fn write_buffers_can_hold_a_coalesced_super_packet() {
        let t = TxBatch::new(1500);
        assert!(t
            .bufs
            .iter()
            .all(|b| b.capacity() >= 2 * VIRTIO_NET_HDR_LEN + 65_535
                && b.len() == VIRTIO_NET_HDR_LEN + 1500));
    }
}
