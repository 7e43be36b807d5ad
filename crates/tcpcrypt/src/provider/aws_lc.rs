//! RFC 8548 §5: TCPCRYPT_ECDHE_Curve25519 (TEP 0x23) with AWS-LC's X25519, whose field
//! arithmetic is s2n-bignum's formally verified MULX/ADX assembly on x86_64: about twice as
//! fast as the portable `x25519-dalek` on this project's machine (docs/BENCHMARKS.md), which
//! is what brings a fresh handshake above 5 000/s.
//!
//! The scalar still comes from the injected RNG (or the caller's bytes), so the protocol crate
//! stays deterministic under test; AWS-LC only ever sees it as a raw private key. AWS-LC
//! frees its `EVP_PKEY` with `OPENSSL_free`, which wipes the allocation before releasing it.

use aws_lc_rs::agreement::{self, PrivateKey, UnparsedPublicKey, X25519};
use rand_core::CryptoRngCore;
use zeroize::Zeroizing;

use super::{KeyError, KxPrivate};
use crate::suite::Tep;

/// Length of an X25519 scalar, public key and shared secret (RFC 7748 §5).
const X25519_LEN: usize = 32;

/// An X25519 private key held by AWS-LC, with its public key computed once.
pub(crate) struct AwsLcX25519 {
    key: PrivateKey,
    public: [u8; X25519_LEN],
}

impl AwsLcX25519 {
    /// A fresh key from `rng`.
    pub(crate) fn generate(rng: &mut dyn CryptoRngCore) -> Result<Self, KeyError> {
        let mut bytes = Zeroizing::new([0u8; X25519_LEN]);
        rng.fill_bytes(bytes.as_mut());
        Self::from_bytes(bytes.as_ref())
    }

    /// A key from its 32 raw bytes (RFC 7748 §5: clamping happens inside the scalar
    /// multiplication, so any 32 bytes are a valid key).
    pub(crate) fn from_bytes(private: &[u8]) -> Result<Self, KeyError> {
        if private.len() != X25519_LEN {
            return Err(KeyError::InvalidPrivateKey);
        }
        let key = PrivateKey::from_private_key(&X25519, private)
            .map_err(|_| KeyError::InvalidPrivateKey)?;
        let public_key = key
            .compute_public_key()
            .map_err(|_| KeyError::InvalidPrivateKey)?;
        let public: [u8; X25519_LEN] = public_key
            .as_ref()
            .try_into()
            .map_err(|_| KeyError::InvalidPrivateKey)?;
        Ok(AwsLcX25519 { key, public })
    }
}

impl KxPrivate for AwsLcX25519 {
    fn tep(&self) -> Tep {
        Tep::X25519
    }

    fn public_key(&self) -> Vec<u8> {
        self.public.to_vec()
    }

    fn agree(self: Box<Self>, peer_public: &[u8]) -> Result<Zeroizing<Vec<u8>>, KeyError> {
        if peer_public.len() != X25519_LEN {
            return Err(KeyError::BadPublicKeyLength);
        }
        let peer = UnparsedPublicKey::new(&X25519, peer_public);
        // Every 32-byte string is an X25519 public key (RFC 7748 §5), so the one way AWS-LC's
        // X25519 fails on a 32-byte input is an all-zero result, which RFC 8548 §5 (RFC 7748
        // §6.1) makes the peer's fault.
        agreement::agree(&self.key, peer, KeyError::AllZeroSharedSecret, |shared| {
            Ok(Zeroizing::new(shared.to_vec()))
        })
    }
}
