//! RFC 8548 §5: TCPCRYPT_ECDHE_Curve25519 (TEP 0x23), X25519 of RFC 7748 via `x25519-dalek`.
//!
//! Public keys travel raw (32 bytes, no length prefix). An all-zero shared secret aborts the
//! connection (RFC 8548 §5; RFC 7748 §6.1).

use rand_core::CryptoRngCore;
use x25519_dalek::{PublicKey, StaticSecret};
use zeroize::Zeroizing;

use super::{KeyError, KxPrivate};
use crate::suite::Tep;

/// Length of an X25519 scalar, public key and shared secret (RFC 7748 §5).
pub(crate) const X25519_LEN: usize = 32;

/// An X25519 private key. `StaticSecret` zeroizes itself on drop (feature `zeroize`).
pub(crate) struct X25519Private {
    secret: StaticSecret,
}

impl X25519Private {
    /// A fresh key from `rng`.
    pub(crate) fn generate(rng: &mut dyn CryptoRngCore) -> Self {
        let mut bytes = Zeroizing::new([0u8; X25519_LEN]);
        rng.fill_bytes(bytes.as_mut());
        X25519Private {
            secret: StaticSecret::from(*bytes),
        }
    }

    /// A key from its 32 raw bytes (clamping happens inside the scalar multiplication).
    pub(crate) fn from_bytes(private: &[u8]) -> Result<Self, KeyError> {
        let mut bytes = Zeroizing::new([0u8; X25519_LEN]);
        if private.len() != X25519_LEN {
            return Err(KeyError::InvalidPrivateKey);
        }
        bytes.copy_from_slice(private);
        Ok(X25519Private {
            secret: StaticSecret::from(*bytes),
        })
    }
}

impl KxPrivate for X25519Private {
    fn tep(&self) -> Tep {
        Tep::X25519
    }

    fn public_key(&self) -> Vec<u8> {
        PublicKey::from(&self.secret).as_bytes().to_vec()
    }

    fn agree(self: Box<Self>, peer_public: &[u8]) -> Result<Zeroizing<Vec<u8>>, KeyError> {
        let peer: [u8; X25519_LEN] = peer_public
            .try_into()
            .map_err(|_| KeyError::BadPublicKeyLength)?;
        let shared = self.secret.diffie_hellman(&PublicKey::from(peer));
        // `was_contributory` is false exactly when the output is all zero (RFC 7748 §6.1).
        if !shared.was_contributory() {
            return Err(KeyError::AllZeroSharedSecret);
        }
        Ok(Zeroizing::new(shared.as_bytes().to_vec()))
    }
}
