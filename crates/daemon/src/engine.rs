//! The seam between the daemon's I/O shell and the sans-IO engine behind `tcpc0`.
//!
//! The daemon only moves packets, timers and control requests (DESIGN.md, "The daemon");
//! every decision (which connection, which policy, fallback, what to encrypt) belongs to the
//! engine. The call order per wakeup is: [`Engine::handle_packet`] for each packet read,
//! [`Engine::handle_timeout`] once the deadline has passed, then [`Engine::poll_transmit`]
//! until it returns `None`, then sleep until [`Engine::next_deadline`].

use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr};

pub use smoltcp::time::{Duration, Instant};

use crate::cidr::Cidr;
use crate::config::{Aead, Config, Tep};
pub use crate::control::proto::ConnStatus;

/// Length of a tcpcrypt session ID with a 32-byte key (RFC 8548 §3.4): TEP byte + 32 bytes.
pub const SESSID_LEN: usize = 33;

/// A sans-IO packet engine: IP packets in, IP packets out, one clock injected.
pub trait Engine {
    /// Takes one IP packet read from the TUN device. Malformed input is dropped (and
    /// counted), never an error.
    fn handle_packet(&mut self, now: Instant, packet: &[u8]);

    /// Writes the next IP packet to send into `buf` and returns its length, or `None` when
    /// nothing is queued. A packet longer than `buf` is dropped by the engine.
    fn poll_transmit(&mut self, now: Instant, buf: &mut [u8]) -> Option<usize>;

    /// The earliest time [`Engine::handle_timeout`] must be called, if any.
    fn next_deadline(&self) -> Option<Instant>;

    /// Fires every timer due at `now`.
    fn handle_timeout(&mut self, now: Instant);

    /// Every connection, as the applications see them.
    fn status(&self) -> Vec<ConnStatus>;

    /// Whether the TCP segments from [`Engine::poll_transmit`] carry only the pseudo-header
    /// sum in their checksum field, for the kernel to complete (checksum offload through a
    /// virtio-net header). Default: no, every checksum is complete.
    fn tcp_checksums_partial(&self) -> bool {
        false
    }

    /// The session ID of the connection an application sees as `local` ↔ `remote`; `None`
    /// if there is no such connection or it is not encrypted.
    fn sessid(&self, local: SocketAddr, remote: SocketAddr) -> Option<[u8; SESSID_LEN]>;
}

/// What an engine is built from: the parts of [`Config`] that concern the data path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EngineConfig {
    /// The kernel's address on the TUN device (IPv4).
    pub kernel_v4: Ipv4Addr,
    /// The stack's own IPv4 address.
    pub stack_v4: Ipv4Addr,
    /// The kernel's address on the TUN device (IPv6).
    pub kernel_v6: Ipv6Addr,
    /// The stack's own IPv6 address.
    pub stack_v6: Ipv6Addr,
    /// TUN MTU.
    pub mtu: u16,
    /// Routed subnets (opportunistic).
    pub route: Vec<Cidr>,
    /// Routed subnets where plaintext is refused.
    pub require: Vec<Cidr>,
    /// Fronted local ports.
    pub front: Vec<u16>,
    /// TEPs offered, most preferred first.
    pub tep: Vec<Tep>,
    /// AEADs offered, most preferred first.
    pub aead: Vec<Aead>,
}

impl EngineConfig {
    /// Extracts the data-path settings from the daemon configuration.
    pub fn from_config(c: &Config) -> Self {
        let v4 = |a: std::net::IpAddr| match a {
            std::net::IpAddr::V4(a) => a,
            std::net::IpAddr::V6(_) => Ipv4Addr::UNSPECIFIED,
        };
        let v6 = |a: std::net::IpAddr| match a {
            std::net::IpAddr::V6(a) => a,
            std::net::IpAddr::V4(_) => Ipv6Addr::UNSPECIFIED,
        };
        Self {
            kernel_v4: v4(c.addresses.kernel_v4.addr),
            stack_v4: c.addresses.stack_v4,
            kernel_v6: v6(c.addresses.kernel_v6.addr),
            stack_v6: c.addresses.stack_v6,
            mtu: c.tun.mtu,
            route: c.policy.route.clone(),
            require: c.policy.require.clone(),
            front: c.policy.front.clone(),
            tep: c.crypto.tep.clone(),
            aead: c.crypto.aead.clone(),
        }
    }
}
