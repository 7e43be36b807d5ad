//! The session table as applications see it, for `tcpcrypt status` and `tcpcrypt sessid`
//! (issue 4 command-line contract; RFC 8547 §5.1 session ID exposure).

use std::net::{IpAddr, SocketAddr};

use stack::IpEndpoint;
use tcpcrypt::{Cipher, Tep};

use crate::pair::{Direction, PairState};

/// Length of a tcpcrypt session ID with 32-byte keys (RFC 8548 §3.4): TEP byte + 32 bytes.
pub const SESSID_LEN: usize = 33;

/// One relayed connection, from the application's point of view.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConnStatus {
    /// Outbound: the kernel-side address and the application's port. Inbound: the
    /// kernel-side address and the service's port.
    pub local: SocketAddr,
    /// Outbound: the destination. Inbound: the client's address and port.
    pub remote: SocketAddr,
    /// Who opened it.
    pub direction: Direction,
    /// Life cycle.
    pub state: PairState,
    /// Whether the bytes travel encrypted with tcpcrypt.
    pub encrypted: bool,
    /// The negotiated TEP, if encrypted.
    pub tep: Option<Tep>,
    /// The negotiated AEAD, once the key exchange chose it.
    pub cipher: Option<Cipher>,
    /// The session ID (RFC 8548 §3.4), once established.
    pub session_id: Option<[u8; SESSID_LEN]>,
    /// Application bytes sent by the local application.
    pub tx_bytes: u64,
    /// Application bytes delivered to the local application.
    pub rx_bytes: u64,
    /// The outer connection's local endpoint (the stack's address), once it exists.
    pub outer_local: Option<SocketAddr>,
    /// The outer connection's remote endpoint, once it exists.
    pub outer_remote: Option<SocketAddr>,
}

impl ConnStatus {
    /// The session ID in lowercase hex (the control protocol's form).
    pub fn session_id_hex(&self) -> Option<String> {
        self.session_id.map(|id| {
            id.iter()
                .fold(String::with_capacity(2 * SESSID_LEN), |mut s, b| {
                    s.push(char::from(HEX[usize::from(b >> 4)]));
                    s.push(char::from(HEX[usize::from(b & 0x0f)]));
                    s
                })
        })
    }
}

const HEX: &[u8; 16] = b"0123456789abcdef";

/// The name used by the CLI for a TEP (`x25519`, `x448`, `p256`, `p521`).
pub fn tep_name(tep: Tep) -> &'static str {
    match tep {
        Tep::X25519 => "x25519",
        Tep::X448 => "x448",
        Tep::P256 => "p256",
        Tep::P521 => "p521",
    }
}

/// The name used by the CLI for an AEAD (`aes-128-gcm`, `aes-256-gcm`, `chacha20-poly1305`).
pub fn cipher_name(cipher: Cipher) -> &'static str {
    match cipher {
        Cipher::Aes128Gcm => "aes-128-gcm",
        Cipher::Aes256Gcm => "aes-256-gcm",
        Cipher::ChaCha20Poly1305 => "chacha20-poly1305",
    }
}

/// An endpoint as a `std` socket address.
pub fn to_socket_addr(ep: IpEndpoint) -> SocketAddr {
    let ip: IpAddr = ep.addr.into();
    SocketAddr::new(ip, ep.port)
}

/// A `std` socket address as an endpoint.
pub fn to_endpoint(sa: SocketAddr) -> IpEndpoint {
    IpEndpoint::new(sa.ip().into(), sa.port())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoint_round_trip() {
        let sa: SocketAddr = "[fd77::1]:443".parse().unwrap_or_else(|_| unreachable!());
        assert_eq!(to_socket_addr(to_endpoint(sa)), sa);
        let sa: SocketAddr = "10.77.0.1:5555".parse().unwrap_or_else(|_| unreachable!());
        assert_eq!(to_socket_addr(to_endpoint(sa)), sa);
        assert_eq!(tep_name(Tep::X25519), "x25519");
        assert_eq!(cipher_name(Cipher::ChaCha20Poly1305), "chacha20-poly1305");
        let mut id = [0u8; SESSID_LEN];
        id[0] = 0x23;
        id[32] = 0xfe;
        let st = ConnStatus {
            local: sa,
            remote: sa,
            direction: Direction::Outbound,
            state: PairState::Established,
            encrypted: true,
            tep: Some(Tep::X25519),
            cipher: Some(Cipher::Aes128Gcm),
            session_id: Some(id),
            tx_bytes: 0,
            rx_bytes: 0,
            outer_local: None,
            outer_remote: None,
        };
        let hex = st.session_id_hex().unwrap_or_default();
        assert_eq!(hex.len(), 66);
        assert!(hex.starts_with("2300"));
        assert!(hex.ends_with("00fe"));
    }
}
