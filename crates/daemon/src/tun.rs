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
use std::os::fd::{AsRawFd, RawFd};

use tun_rs::{DeviceBuilder, GROTable, SyncDevice, IDEAL_BATCH_SIZE, VIRTIO_NET_HDR_LEN};

use crate::plumbing::preflight::EnvError;

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
/// Buffers are reused from batch to batch (coalescing grows the first packet of a flow up to
/// 64 KB once; later batches find the capacity there).
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
        Self {
            bufs: vec![vec![0; VIRTIO_NET_HDR_LEN + packet]; IDEAL_BATCH_SIZE],
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
        self.count += 1;
        true
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
    /// many. `WouldBlock` when none is queued. An `InvalidData`-like error means one malformed
    /// read was consumed and dropped: the caller may go on reading.
    pub fn recv_batch(&self, batch: &mut RxBatch) -> io::Result<usize> {
        batch.count = 0;
        let n = self
            .dev
            .recv_multiple(&mut batch.raw, &mut batch.bufs, &mut batch.sizes, 0)?;
        batch.count = n.min(batch.bufs.len());
        Ok(batch.count)
    }

    /// Writes every packet of `batch`, coalescing segments of one TCP flow when offloads are
    /// on, and empties it. Returns the bytes written; an error means at least one packet of
    /// the batch was refused (the others were still written).
    pub fn send_batch(&self, batch: &mut TxBatch) -> io::Result<usize> {
        let count = batch.count;
        batch.count = 0;
        let Some(bufs) = batch.bufs.get_mut(..count) else {
            return Ok(0);
        };
        self.dev
            .send_multiple(&mut batch.gro, bufs, VIRTIO_NET_HDR_LEN)
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
