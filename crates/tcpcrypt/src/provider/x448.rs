//! RFC 8548 §5: TCPCRYPT_ECDHE_Curve448 (TEP 0x24), X448 of RFC 7748 via the `x448` crate.
//!
//! Public keys travel raw (56 bytes, no length prefix). An all-zero shared secret aborts the
//! connection (RFC 8548 §5; RFC 7748 §6.2).

use rand_core::CryptoRngCore;
use zeroize::Zeroizing;

use super::{KeyError, KxPrivate};
use crate::suite::Tep;

/// Length of an X448 scalar, public key and shared secret (RFC 7748 §5).
pub(crate) const X448_LEN: usize = 56;

/// The u-coordinate 5 of the X448 base point (RFC 7748 §4.2).
const BASE_POINT: [u8; X448_LEN] = {
    let mut u = [0u8; X448_LEN];
    u[0] = 5;
    u
};

/// An X448 private key: the raw scalar, kept in a zeroizing buffer because `x448::Secret`
/// does not zeroize itself.
pub(crate) struct X448Private {
    scalar: Zeroizing<[u8; X448_LEN]>,
}

impl X448Private {
    /// A fresh key from `rng`.
    pub(crate) fn generate(rng: &mut dyn CryptoRngCore) -> Self {
        let mut scalar = Zeroizing::new([0u8; X448_LEN]);
        rng.fill_bytes(scalar.as_mut());
        X448Private { scalar }
    }

    /// A key from its 56 raw bytes (clamped by the scalar multiplication, RFC 7748 §5).
    pub(crate) fn from_bytes(private: &[u8]) -> Result<Self, KeyError> {
        if private.len() != X448_LEN {
            return Err(KeyError::InvalidPrivateKey);
        }
        let mut scalar = Zeroizing::new([0u8; X448_LEN]);
        scalar.copy_from_slice(private);
        Ok(X448Private { scalar })
    }
}

/// X448(k, u) of RFC 7748 §5 without any validation of `u`: the caller checks the output.
fn x448(scalar: &[u8; X448_LEN], u: [u8; X448_LEN]) -> Zeroizing<[u8; X448_LEN]> {
    Zeroizing::new(::x448::x448_unchecked(*scalar, u))
}

impl KxPrivate for X448Private {
    fn tep(&self) -> Tep {
        Tep::X448
    }

    fn public_key(&self) -> Vec<u8> {
        x448(&self.scalar, BASE_POINT).to_vec()
    }

    fn agree(self: Box<Self>, peer_public: &[u8]) -> Result<Zeroizing<Vec<u8>>, KeyError> {
        let peer: [u8; X448_LEN] = peer_public
            .try_into()
            .map_err(|_| KeyError::BadPublicKeyLength)?;
        let shared = x448(&self.scalar, peer);
        // RFC 8548 §5: abort on an all-zero result (low-order input point). Not constant
        // time, and need not be: the result is public once it is known to be zero.
        if shared.iter().all(|&b| b == 0) {
            return Err(KeyError::AllZeroSharedSecret);
        }
        Ok(Zeroizing::new(shared.to_vec()))
    }
}
