//! The TUN device: opened with tun-rs (no packet-information header, no offloads yet),
//! non-blocking, polled by mio through its raw fd. The device vanishes when it is dropped.

use std::io;
use std::os::fd::{AsRawFd, RawFd};

use tun_rs::{DeviceBuilder, SyncDevice};

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
}

impl Tun {
    /// Creates the device `name` with `mtu`. The link stays down until the plumbing sets it up.
    pub fn open(name: &str, mtu: u16) -> Result<Self, TunError> {
        let dev = DeviceBuilder::new()
            .name(name)
            .mtu(mtu)
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
        })
    }

    /// The interface name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Reads one packet; `WouldBlock` when none is queued.
    pub fn recv(&self, buf: &mut [u8]) -> io::Result<usize> {
        self.dev.recv(buf)
    }

    /// Writes one packet.
    pub fn send(&self, packet: &[u8]) -> io::Result<usize> {
        self.dev.send(packet)
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
