//! The relay engine (`crates/relay`) behind the daemon's [`Engine`] seam: builds a
//! `relay::Config` from the daemon configuration (routes with their policy, fronted ports,
//! TEP/AEAD preferences, a seed from the OS) and maps its session table to the control
//! protocol's rows.

use std::net::SocketAddr;

use rand_core::{OsRng, RngCore};

use crate::config::{Aead, Config, Tep};
use crate::engine::{ConnStatus, Engine, Instant, SESSID_LEN};

/// Why the relay engine could not be configured.
#[derive(Debug, thiserror::Error)]
pub enum RelayConfigError {
    /// A routed subnet was rejected by the relay's own CIDR type.
    #[error("routed subnet {cidr} rejected by the relay engine")]
    Cidr {
        /// The subnet.
        cidr: String,
    },
    /// The OS random generator failed.
    #[error("cannot read OS randomness for the engine seed: {0}")]
    Random(rand_core::Error),
}

fn tep(t: Tep) -> relay::Tep {
    match t {
        Tep::X25519 => relay::Tep::X25519,
        Tep::X448 => relay::Tep::X448,
        Tep::P256 => relay::Tep::P256,
        Tep::P521 => relay::Tep::P521,
    }
}

fn cipher(a: Aead) -> relay::Cipher {
    match a {
        Aead::Aes128Gcm => relay::Cipher::Aes128Gcm,
        Aead::Aes256Gcm => relay::Cipher::Aes256Gcm,
        Aead::ChaCha20Poly1305 => relay::Cipher::ChaCha20Poly1305,
    }
}

/// The relay's configuration for `config`; the seed comes from the OS.
pub fn relay_config(config: &Config) -> Result<relay::Config, RelayConfigError> {
    let mut routes = Vec::new();
    // `require` first: where a subnet is listed in both, refusing plaintext wins
    // (the relay takes the first matching route).
    let listed = config
        .policy
        .require
        .iter()
        .map(|c| (c, relay::Policy::Require))
        .chain(
            config
                .policy
                .route
                .iter()
                .map(|c| (c, relay::Policy::Opportunistic)),
        );
    for (c, policy) in listed {
        let cidr =
            relay::Cidr::new(c.addr().into(), c.prefix()).map_err(|_| RelayConfigError::Cidr {
                cidr: c.to_string(),
            })?;
        routes.push(relay::Route { cidr, policy });
    }
    let mut seed = [0u8; 32];
    OsRng
        .try_fill_bytes(&mut seed)
        .map_err(RelayConfigError::Random)?;
    let a = config.addresses;
    let (std::net::IpAddr::V4(kernel_v4), std::net::IpAddr::V6(kernel_v6)) =
        (a.kernel_v4.addr, a.kernel_v6.addr)
    else {
        return Err(RelayConfigError::Cidr {
            cidr: a.kernel_v4.to_string(),
        });
    };
    Ok(relay::Config {
        kernel_v4,
        kernel_v6,
        stack_v4: a.stack_v4,
        stack_v6: a.stack_v6,
        mtu: usize::from(config.tun.mtu),
        routes,
        fronted_ports: config.policy.front.clone(),
        teps: config.crypto.tep.iter().copied().map(tep).collect(),
        ciphers: config.crypto.aead.iter().copied().map(cipher).collect(),
        resumption: config.crypto.resumption,
        seed,
        ..relay::Config::default()
    })
}

/// A control-protocol row for a relay session-table row.
pub fn conn_status(c: &relay::ConnStatus) -> ConnStatus {
    ConnStatus {
        local: c.local,
        remote: c.remote,
        state: c.state.name().to_owned(),
        encrypted: c.encrypted,
        tep: c.tep.map(|t| relay::tep_name(t).to_owned()),
        cipher: c.cipher.map(|x| relay::cipher_name(x).to_owned()),
        session_id: c.session_id.map(hex::encode),
        tx_bytes: c.tx_bytes,
        rx_bytes: c.rx_bytes,
        outer_local: c.outer_local,
        outer_remote: c.outer_remote,
    }
}

impl Engine for relay::Engine {
    fn handle_packet(&mut self, now: Instant, packet: &[u8]) {
        relay::Engine::handle_packet(self, now, packet);
    }

    fn poll_transmit(&mut self, now: Instant, buf: &mut [u8]) -> Option<usize> {
        relay::Engine::poll_transmit(self, now, buf)
    }

    fn next_deadline(&self) -> Option<Instant> {
        relay::Engine::next_deadline(self)
    }

    fn handle_timeout(&mut self, now: Instant) {
        relay::Engine::handle_timeout(self, now);
    }

    fn tcp_checksums_partial(&self) -> bool {
        self.config().checksum_offload.tx_partial
    }

    fn status(&self) -> Vec<ConnStatus> {
        relay::Engine::status(self)
            .iter()
            .map(conn_status)
            .collect()
    }

    fn sessid(&self, local: SocketAddr, remote: SocketAddr) -> Option<[u8; SESSID_LEN]> {
        relay::Engine::sessid_socket(self, local, remote)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn config_maps_policy_and_preferences() {
        let c = Config::from_text(Some(
            "[policy]\nroute = [\"192.0.2.0/24\", \"2001:db8::/32\"]\nrequire = [\"198.51.100.0/24\"]\n\
             front = [8080]\n[crypto]\ntep = [\"p256\", \"x25519\"]\naead = [\"chacha20-poly1305\"]\nresumption = true",
        ))
        .unwrap();
        let r = relay_config(&c).unwrap();
        assert_eq!(r.routes.len(), 3);
        assert_eq!(r.routes[0].policy, relay::Policy::Require);
        assert_eq!(r.routes[1].policy, relay::Policy::Opportunistic);
        assert_eq!(r.fronted_ports, vec![8080]);
        assert_eq!(r.teps, vec![relay::Tep::P256, relay::Tep::X25519]);
        assert_eq!(r.ciphers, vec![relay::Cipher::ChaCha20Poly1305]);
        assert!(r.resumption);
        assert!(
            !relay_config(&Config::embedded_default().unwrap())
                .unwrap()
                .resumption
        );
        assert_eq!(r.stack_v4, c.addresses.stack_v4);
        assert_ne!(r.seed, [0u8; 32]);
        assert_ne!(relay_config(&c).unwrap().seed, r.seed);
    }
}
