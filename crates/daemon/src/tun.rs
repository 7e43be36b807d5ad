//! The TUN device: opened with tun-rs (no packet-information header), non-blocking, polled
//! by mio through its raw fd. The device vanishes when it is dropped.
//!
//! With offloads on (`tun.offload`, the default) the device carries a virtio-net header
//! (`IFF_VNET_HDR`) and announces TSO/GSO and checksum offload to the kernel, the way
//! wireguard-go's TUN does: one read returns a TCP super-packet of up to 64 KB that
//! [`Tun::recv_batch`] hands to the engine whole, as one large segment (crate::rx_offload;
//! other GSO reads are split into MTU-sized packets), and [`Tun::send_batch`] writes the
//! super-packets [`TxBatch`] coalesced (crate::coalesce), which the kernel segments again.
//! TCP checksums are left to the kernel both ways.

use std::io;
use std::net::{Ipv4Addr, Ipv6Addr};
use std::os::fd::{AsRawFd, RawFd};

use tun_rs::{DeviceBuilder, SyncDevice, IDEAL_BATCH_SIZE, VIRTIO_NET_HDR_LEN};

use crate::page_phase::PhasedBuf;
use crate::rx_offload::{self, Rx};
use crate::tun_hdr::{VirtioHdr, HDR_LEN};

pub use crate::coalesce::TxBatch;
use crate::control::proto::{LegIo, TunIo};
use crate::plumbing::preflight::EnvError;

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

/// Buffers for one read: the raw read (virtio-net header and packet, the packet at a fixed
/// offset in its page: crate::page_phase), and the packets a GSO read other than a TCP
/// super-packet is split into. Allocated once; a read allocates nothing.
pub struct RxBatch {
    raw: PhasedBuf,
    bufs: Vec<Vec<u8>>,
    sizes: Vec<usize>,
    count: usize,
    /// The last read is one packet (or TCP super-packet), in `raw` at this range.
    whole: Option<(usize, usize)>,
}

impl RxBatch {
    /// Buffers for packets of at most `mtu` bytes.
    pub fn new(mtu: u16) -> Self {
        Self {
            raw: PhasedBuf::for_packets(MAX_READ, HDR_LEN),
            // One allocation each (not `vec![v; n]`, whose clones copy, and so touch, every
            // byte): pages are only touched when a split super-packet reaches them.
            bufs: (0..IDEAL_BATCH_SIZE)
                .map(|_| vec![0; usize::from(mtu).max(1)])
                .collect(),
            sizes: vec![0; IDEAL_BATCH_SIZE],
            count: 0,
            whole: None,
        }
    }

    /// The packets of the last read.
    pub fn packets(&self) -> impl Iterator<Item = &[u8]> {
        let whole = self.whole.and_then(|(a, b)| self.raw.get(a..b));
        let split = if whole.is_some() { 0 } else { self.count };
        whole.into_iter().chain(
            self.bufs
                .iter()
                .zip(&self.sizes)
                .take(split)
                .map(|(b, &n)| b.get(..n).unwrap_or_default()),
        )
    }
}

#[cfg(test)]
impl RxBatch {
    /// Loads `packet` as what one read returned (tests of the event loop's drain logic).
    pub(crate) fn load(&mut self, packet: &[u8]) -> usize {
        let end = HDR_LEN + packet.len();
        if let Some(dst) = self.raw.get_mut(HDR_LEN..end) {
            dst.copy_from_slice(packet);
        }
        self.whole = Some((HDR_LEN, end));
        self.count = 1;
        1
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

    /// Reads one packet or super-packet into `batch` (see crate::rx_offload for what is
    /// done with the virtio-net header); returns how many packets the engine gets from it,
    /// counted in `io` under the leg of the first (with the wire packets they stand for).
    /// `WouldBlock` when none is queued. An `InvalidData` error means one malformed read
    /// (or a TCP segment with a wrong checksum) was consumed and dropped: the caller may go
    /// on reading.
    pub fn recv_batch(
        &self,
        batch: &mut RxBatch,
        legs: &Legs,
        io: &mut TunIo,
    ) -> io::Result<usize> {
        batch.count = 0;
        batch.whole = None;
        let n = self.dev.recv(&mut batch.raw[..])?;
        let segments = if self.dev.tcp_gso() {
            self.prepare(batch, n)?
        } else {
            batch.whole = Some((0, n));
            batch.count = 1;
            1
        };
        if let Some(first) = batch.packets().next() {
            let bytes: usize = match batch.whole {
                Some((a, b)) => b - a,
                None => batch.sizes.iter().take(batch.count).sum(),
            };
            let leg = legs.of(io, first);
            leg.reads += 1;
            leg.read_packets += segments;
            leg.read_bytes += bytes as u64;
        }
        Ok(batch.count)
    }

    /// The virtio-net header of a read of `n` bytes in `batch.raw`: the packet whole, or
    /// split. Returns the wire packets it stands for.
    fn prepare(&self, batch: &mut RxBatch, n: usize) -> io::Result<u64> {
        let invalid = |what: &str| io::Error::new(io::ErrorKind::InvalidData, what.to_owned());
        let hdr = batch
            .raw
            .get(..n)
            .filter(|_| n > HDR_LEN)
            .and_then(VirtioHdr::decode)
            .ok_or_else(|| invalid("read shorter than the virtio-net header"))?;
        let packet = batch
            .raw
            .get_mut(HDR_LEN..n)
            .ok_or_else(|| invalid("read longer than the buffer"))?;
        match rx_offload::prepare(&hdr, packet) {
            Rx::Whole { segments } => {
                batch.whole = Some((HDR_LEN, n));
                batch.count = 1;
                Ok(segments)
            }
            Rx::Drop => Err(invalid("malformed packet or wrong TCP checksum dropped")),
            Rx::Split => {
                let theirs = tun_rs::VirtioNetHdr {
                    flags: hdr.flags,
                    gso_type: hdr.gso_type,
                    hdr_len: hdr.hdr_len,
                    gso_size: hdr.gso_size,
                    csum_start: hdr.csum_start,
                    csum_offset: hdr.csum_offset,
                };
                let v6 = packet.first().map(|b| b >> 4) == Some(6);
                let count = split(theirs, packet, &mut batch.bufs, &mut batch.sizes, v6)?;
                batch.count = count.min(batch.bufs.len());
                Ok(batch.count as u64)
            }
        }
    }

    /// Writes every packet and super-packet of `batch` (one `write(2)` each) and empties it;
    /// each write is counted in `io` under its leg. Returns the bytes written; an error
    /// means at least one write was refused (the others were still made).
    pub fn send_batch(
        &self,
        batch: &mut TxBatch,
        legs: &Legs,
        io: &mut TunIo,
    ) -> io::Result<usize> {
        let vnet = self.dev.tcp_gso();
        let mut total = 0;
        let mut result = Ok(());
        for w in batch.finish() {
            let packet = w.packet();
            let leg = legs.of(io, packet);
            leg.writes += 1;
            leg.write_bytes += packet.len() as u64;
            leg.write_packets += w.segments;
            match self.dev.send(if vnet { w.buf } else { packet }) {
                Ok(n) => total += n,
                Err(e) => result = Err(e),
            }
        }
        batch.clear();
        result.map(|()| total)
    }

    /// The interface name.
    pub fn name(&self) -> &str {
        &self.name
    }
}

/// Splits a GSO packet into MTU-sized packets with tun-rs (which completes each one's
/// checksum); the header length is taken from the packet itself, as tun-rs does (the
/// kernel's `hdr_len` may span the whole first segment on the forwarding path).
fn split(
    mut hdr: tun_rs::VirtioNetHdr,
    packet: &mut [u8],
    bufs: &mut [Vec<u8>],
    sizes: &mut [usize],
    v6: bool,
) -> io::Result<usize> {
    let start = usize::from(hdr.csum_start);
    let l4 = if hdr.gso_type & 0x7f == tun_rs::VIRTIO_NET_HDR_GSO_UDP_L4 {
        8
    } else {
        packet
            .get(start + 12)
            .map(|b| usize::from(b >> 4) * 4)
            .unwrap_or(0)
    };
    hdr.hdr_len = u16::try_from(start + l4).unwrap_or(u16::MAX);
    tun_rs::gso_split(packet, hdr, bufs, sizes, 0, v6)
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
}
