//! Configuration of the relay [`Engine`](crate::Engine): the addresses on `tcpc0`, the
//! routed subnets with their policy, the fronted ports, the TEP and AEAD preferences
//! (DESIGN.md "Data path"; RFC 8547 §4.2 TEP lists, RFC 8548 §3.3 AEAD lists).

use smoltcp::wire::{IpAddress, Ipv4Address, Ipv6Address};
use tcpcrypt::{Cipher, Tep};

/// An IP prefix (`10.0.0.0/8`, `2001:db8::/32`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Cidr {
    addr: IpAddress,
    prefix: u8,
}

/// Why a [`Cidr`] could not be built.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum CidrError {
    /// The prefix length exceeds 32 (IPv4) or 128 (IPv6).
    #[error("prefix length {prefix} too long for the address family")]
    PrefixTooLong {
        /// The prefix length given.
        prefix: u8,
    },
}

impl Cidr {
    /// A prefix; host bits of `addr` are ignored when matching.
    pub fn new(addr: IpAddress, prefix: u8) -> Result<Cidr, CidrError> {
        let max = match addr {
            IpAddress::Ipv4(_) => 32,
            IpAddress::Ipv6(_) => 128,
        };
        if prefix > max {
            return Err(CidrError::PrefixTooLong { prefix });
        }
        Ok(Cidr { addr, prefix })
    }

    /// The network address as given.
    pub fn addr(&self) -> IpAddress {
        self.addr
    }

    /// The prefix length.
    pub fn prefix(&self) -> u8 {
        self.prefix
    }

    /// Whether `ip` lies inside the prefix (never across address families).
    pub fn contains(&self, ip: IpAddress) -> bool {
        match (self.addr, ip) {
            (IpAddress::Ipv4(net), IpAddress::Ipv4(a)) => {
                let mask = u32::MAX
                    .checked_shl(32 - u32::from(self.prefix))
                    .unwrap_or(0);
                u32::from(net) & mask == u32::from(a) & mask
            }
            (IpAddress::Ipv6(net), IpAddress::Ipv6(a)) => {
                let mask = u128::MAX
                    .checked_shl(128 - u32::from(self.prefix))
                    .unwrap_or(0);
                u128::from(net) & mask == u128::from(a) & mask
            }
            _ => false,
        }
    }
}

/// What happens when the peer of a routed subnet does not negotiate tcpcrypt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Policy {
    /// Fall back to a plain relay (RFC 8547 §4.7: ENO is opportunistic by default).
    Opportunistic,
    /// Refuse plaintext: abort the outer connection and refuse the application's connection
    /// with RST; no payload byte leaves in the clear (RFC 8547 §4.7 mandatory encryption).
    Require,
}

/// A routed subnet: TCP to it is intercepted, UDP and ICMP are translated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Route {
    /// The destination prefix.
    pub cidr: Cidr,
    /// What to do without tcpcrypt.
    pub policy: Policy,
}

/// Configuration of an [`Engine`](crate::Engine).
#[derive(Debug, Clone)]
pub struct Config {
    /// The kernel's IPv4 address on the TUN device (default 10.77.0.1).
    pub kernel_v4: Ipv4Address,
    /// The kernel's IPv6 address on the TUN device (default fd77::1).
    pub kernel_v6: Ipv6Address,
    /// The stack's own IPv4 address (default 10.77.0.2): source of outer connections and
    /// target of the fronting DNAT.
    pub stack_v4: Ipv4Address,
    /// The stack's own IPv6 address (default fd77::2).
    pub stack_v6: Ipv6Address,
    /// TUN MTU in bytes of IP packet: the inner legs (through the TUN only) use it, so a
    /// large TUN MTU gives the local applications large segments (default 1500).
    pub mtu: usize,
    /// MTU of the outer legs (the network path; lowered further by PMTU discovery, RFC 1191 /
    /// RFC 8201; default 1500).
    pub outer_mtu: usize,
    /// Routed subnets; the longest matching prefix decides the policy.
    pub routes: Vec<Route>,
    /// Fronted local TCP ports (passive ENO, b = 1).
    pub fronted_ports: Vec<u16>,
    /// tcpcrypt TEPs offered, most preferred first (default X25519, X448, P-256, P-521).
    pub teps: Vec<Tep>,
    /// AEADs offered, most preferred first (default AES-128-GCM, AES-256-GCM,
    /// ChaCha20-Poly1305).
    pub ciphers: Vec<Cipher>,
    /// RFC 8548 §3.5 session resumption: cache each fresh session's next secret per peer
    /// address (in memory only), offer it in later SYNs to that peer, and accept matching
    /// offers on fronted ports (default off).
    pub resumption: bool,
    /// Seed of every random choice (ISNs, key shares, nonces), expanded with ChaCha20.
    pub seed: [u8; 32],
    /// Per-leg TCP buffer size in bytes (send and receive, both legs; default 256 KiB).
    pub buffer: usize,
    /// Bound on relayed connections (pairs) open at once (default 131 072). The stack may
    /// hold four connections per pair: both legs, and both again in TIME-WAIT after a close.
    pub max_pairs: usize,
    /// How long an application's SYN stays held (unanswered) after its outer connection
    /// timed out, so that its own SYN retransmissions do not start a new attempt and the
    /// application times out as it would without us (default 60 s).
    pub hold_after_timeout: stack::Duration,
    /// TCP checksum offload of the stack, for a TUN device with a virtio-net header
    /// (`IFF_VNET_HDR`): received segments are not verified (the driver checks those the
    /// kernel did not vouch for) and sent ones carry only the pseudo-header sum for the
    /// kernel to complete (default off: every checksum computed and verified here).
    pub checksum_offload: stack::ChecksumOffload,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            kernel_v4: Ipv4Address::new(10, 77, 0, 1),
            kernel_v6: Ipv6Address::new(0xfd77, 0, 0, 0, 0, 0, 0, 1),
            stack_v4: Ipv4Address::new(10, 77, 0, 2),
            stack_v6: Ipv6Address::new(0xfd77, 0, 0, 0, 0, 0, 0, 2),
            mtu: 1500,
            outer_mtu: 1500,
            routes: Vec::new(),
            fronted_ports: Vec::new(),
            teps: vec![Tep::X25519, Tep::X448, Tep::P256, Tep::P521],
            ciphers: vec![
                Cipher::Aes128Gcm,
                Cipher::Aes256Gcm,
                Cipher::ChaCha20Poly1305,
            ],
            resumption: false,
            seed: [0; 32],
            buffer: 256 * 1024,
            max_pairs: 131_072,
            hold_after_timeout: stack::Duration::from_secs(60),
            checksum_offload: stack::ChecksumOffload::default(),
        }
    }
}

impl Config {
    /// The kernel-side address of the family of `ip`.
    pub fn kernel_addr(&self, ip: &IpAddress) -> IpAddress {
        match ip {
            IpAddress::Ipv4(_) => IpAddress::Ipv4(self.kernel_v4),
            IpAddress::Ipv6(_) => IpAddress::Ipv6(self.kernel_v6),
        }
    }

    /// The stack address of the family of `ip`.
    pub fn stack_addr(&self, ip: &IpAddress) -> IpAddress {
        match ip {
            IpAddress::Ipv4(_) => IpAddress::Ipv4(self.stack_v4),
            IpAddress::Ipv6(_) => IpAddress::Ipv6(self.stack_v6),
        }
    }

    /// Whether `ip` is one of the kernel-side addresses.
    pub fn is_kernel(&self, ip: &IpAddress) -> bool {
        *ip == self.kernel_addr(ip)
    }

    /// Whether `ip` is one of the stack addresses.
    pub fn is_stack(&self, ip: &IpAddress) -> bool {
        *ip == self.stack_addr(ip)
    }

    /// The route of a destination, if it is routed: the longest matching prefix, the first
    /// listed among equals (so `require 10.1.0.0/16` inside `route 10.0.0.0/8` works either
    /// way round).
    pub fn route(&self, dst: IpAddress) -> Option<&Route> {
        let mut best: Option<&Route> = None;
        for r in self.routes.iter().filter(|r| r.cidr.contains(dst)) {
            if best.is_none_or(|b| r.cidr.prefix() > b.cidr.prefix()) {
                best = Some(r);
            }
        }
        best
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn cidr_contains_v4_and_v6() {
        let c = Cidr::new(IpAddress::v4(192, 0, 2, 0), 24).unwrap();
        assert!(c.contains(IpAddress::v4(192, 0, 2, 77)));
        assert!(!c.contains(IpAddress::v4(192, 0, 3, 1)));
        assert!(!c.contains(IpAddress::v6(0x2001, 0xdb8, 0, 0, 0, 0, 0, 1)));
        let all = Cidr::new(IpAddress::v4(0, 0, 0, 0), 0).unwrap();
        assert!(all.contains(IpAddress::v4(8, 8, 8, 8)));
        let host = Cidr::new(IpAddress::v4(192, 0, 2, 1), 32).unwrap();
        assert!(host.contains(IpAddress::v4(192, 0, 2, 1)));
        assert!(!host.contains(IpAddress::v4(192, 0, 2, 2)));
        let v6 = Cidr::new(IpAddress::v6(0x2001, 0xdb8, 0, 0, 0, 0, 0, 0), 32).unwrap();
        assert!(v6.contains(IpAddress::v6(0x2001, 0xdb8, 5, 0, 0, 0, 0, 9)));
        assert!(!v6.contains(IpAddress::v6(0x2001, 0xdb9, 0, 0, 0, 0, 0, 9)));
        assert_eq!(
            Cidr::new(IpAddress::v4(1, 2, 3, 4), 33),
            Err(CidrError::PrefixTooLong { prefix: 33 })
        );
    }

    #[test]
    fn longest_prefix_decides() {
        let cfg = Config {
            routes: vec![
                Route {
                    cidr: Cidr::new(IpAddress::v4(192, 0, 2, 0), 24).unwrap(),
                    policy: Policy::Opportunistic,
                },
                Route {
                    cidr: Cidr::new(IpAddress::v4(192, 0, 2, 128), 25).unwrap(),
                    policy: Policy::Require,
                },
                Route {
                    cidr: Cidr::new(IpAddress::v4(192, 0, 2, 0), 24).unwrap(),
                    policy: Policy::Require,
                },
            ],
            ..Config::default()
        };
        assert_eq!(
            cfg.route(IpAddress::v4(192, 0, 2, 200)).map(|r| r.policy),
            Some(Policy::Require)
        );
        assert_eq!(
            cfg.route(IpAddress::v4(192, 0, 2, 20)).map(|r| r.policy),
            Some(Policy::Opportunistic)
        );
        assert!(cfg.route(IpAddress::v4(198, 51, 100, 1)).is_none());
    }
}
