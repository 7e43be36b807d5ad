//! IP subnets in CIDR notation (`192.0.2.0/24`, `2001:db8::/32`), as accepted by `--route`,
//! `--require` and the config file.

use std::fmt;
use std::net::IpAddr;
use std::str::FromStr;

/// Why a CIDR string was rejected.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum CidrError {
    /// No `/` separating address and prefix length.
    #[error("missing `/prefix`")]
    MissingPrefix,
    /// The address part is not an IPv4 or IPv6 address.
    #[error("not an IP address")]
    BadAddress,
    /// The prefix length is not a number or too large for the family.
    #[error("bad prefix length")]
    BadPrefix,
    /// Bits below the prefix length are set (e.g. `10.0.0.1/24`).
    #[error("host bits set")]
    HostBits,
}

/// A subnet: network address and prefix length, host bits zero.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Cidr {
    addr: IpAddr,
    prefix: u8,
}

impl Cidr {
    /// The network address.
    pub fn addr(&self) -> IpAddr {
        self.addr
    }

    /// The prefix length.
    pub fn prefix(&self) -> u8 {
        self.prefix
    }

    /// Whether this is an IPv6 subnet.
    pub fn is_v6(&self) -> bool {
        self.addr.is_ipv6()
    }

    /// Whether `ip` lies inside the subnet.
    pub fn contains(&self, ip: IpAddr) -> bool {
        // Addresses of different families are never equal.
        network(self.addr, self.prefix) == network(ip, self.prefix)
    }
}

fn mask_v4(prefix: u8) -> u32 {
    u32::MAX
        .checked_shl(32 - u32::from(prefix.min(32)))
        .unwrap_or(0)
}

fn mask_v6(prefix: u8) -> u128 {
    u128::MAX
        .checked_shl(128 - u32::from(prefix.min(128)))
        .unwrap_or(0)
}

/// `addr` with the bits below `prefix` cleared: the network address of its subnet.
fn network(addr: IpAddr, prefix: u8) -> IpAddr {
    match addr {
        IpAddr::V4(a) => IpAddr::V4((u32::from(a) & mask_v4(prefix)).into()),
        IpAddr::V6(a) => IpAddr::V6((u128::from(a) & mask_v6(prefix)).into()),
    }
}

/// `ADDR/PREFIX`: an IPv4 or IPv6 address and a decimal prefix length no longer than the
/// family's address (host bits are not looked at).
fn parse_prefixed(s: &str) -> Result<(IpAddr, u8), CidrError> {
    let (a, p) = s.split_once('/').ok_or(CidrError::MissingPrefix)?;
    let addr: IpAddr = a.parse().map_err(|_| CidrError::BadAddress)?;
    if p.is_empty() || !p.bytes().all(|b| b.is_ascii_digit()) {
        return Err(CidrError::BadPrefix);
    }
    let prefix: u8 = p.parse().map_err(|_| CidrError::BadPrefix)?;
    let max = if addr.is_ipv4() { 32 } else { 128 };
    if prefix > max {
        return Err(CidrError::BadPrefix);
    }
    Ok((addr, prefix))
}

impl FromStr for Cidr {
    type Err = CidrError;

    fn from_str(s: &str) -> Result<Self, CidrError> {
        let (addr, prefix) = parse_prefixed(s)?;
        if network(addr, prefix) != addr {
            return Err(CidrError::HostBits);
        }
        Ok(Self { addr, prefix })
    }
}

impl fmt::Display for Cidr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.addr, self.prefix)
    }
}

/// An interface address with its prefix (`10.77.0.1/24`): host bits may be set.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IfAddr {
    /// The address.
    pub addr: IpAddr,
    /// The prefix length of the on-link subnet.
    pub prefix: u8,
}

impl IfAddr {
    /// The on-link subnet.
    pub fn subnet(&self) -> Cidr {
        Cidr {
            addr: network(self.addr, self.prefix),
            prefix: self.prefix,
        }
    }
}

impl FromStr for IfAddr {
    type Err = CidrError;

    fn from_str(s: &str) -> Result<Self, CidrError> {
        let (addr, prefix) = parse_prefixed(s)?;
        Ok(Self { addr, prefix })
    }
}

impl fmt::Display for IfAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.addr, self.prefix)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn parses_v4_and_v6_subnets() {
        let c: Cidr = "192.0.2.0/24".parse().unwrap();
        assert_eq!(c.to_string(), "192.0.2.0/24");
        assert!(c.contains("192.0.2.77".parse().unwrap()));
        assert!(!c.contains("192.0.3.1".parse().unwrap()));
        let c6: Cidr = "2001:db8::/32".parse().unwrap();
        assert!(c6.is_v6());
        assert!(c6.contains("2001:db8:1::5".parse().unwrap()));
        assert!(!c6.contains("192.0.2.1".parse().unwrap()));
        assert_eq!("0.0.0.0/0".parse::<Cidr>().unwrap().prefix(), 0);
        assert_eq!("::/0".parse::<Cidr>().unwrap().prefix(), 0);
        assert_eq!("10.1.2.3/32".parse::<Cidr>().unwrap().prefix(), 32);
    }

    #[test]
    fn rejects_malformed_subnets() {
        assert_eq!("10.0.0.0".parse::<Cidr>(), Err(CidrError::MissingPrefix));
        assert_eq!("10.0.0/8".parse::<Cidr>(), Err(CidrError::BadAddress));
        assert_eq!("10.0.0.0/33".parse::<Cidr>(), Err(CidrError::BadPrefix));
        assert_eq!("10.0.0.0/".parse::<Cidr>(), Err(CidrError::BadPrefix));
        assert_eq!("10.0.0.0/+8".parse::<Cidr>(), Err(CidrError::BadPrefix));
        assert_eq!("::/129".parse::<Cidr>(), Err(CidrError::BadPrefix));
        assert_eq!("10.0.0.1/24".parse::<Cidr>(), Err(CidrError::HostBits));
        assert_eq!("fd00::1/64".parse::<Cidr>(), Err(CidrError::HostBits));
    }

    #[test]
    fn interface_address_keeps_host_bits() {
        let a: IfAddr = "10.77.0.1/24".parse().unwrap();
        assert_eq!(a.subnet().to_string(), "10.77.0.0/24");
        assert_eq!(a.to_string(), "10.77.0.1/24");
        let b: IfAddr = "fd77::1/64".parse().unwrap();
        assert_eq!(b.subnet().to_string(), "fd77::/64");
        assert!("fd77::1/200".parse::<IfAddr>().is_err());
    }
}
