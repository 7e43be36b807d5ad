//! The *ring* backend: the three AEADs of RFC 8548 §6 with *ring* 0.17 (assembly AES-GCM and
//! ChaCha20-Poly1305, the fastest on x86_64: see docs/BENCHMARKS.md).
//!
//! Key agreement (RFC 8548 §5) is delegated to the RustCrypto curve crates, for three
//! reasons: *ring*'s `agreement` API only generates keys from its own sealed `SecureRandom`
//! (the OS generator), so it can neither take the injected RNG of a sans-IO crate nor build a
//! key from given bytes (`kx_from_private`) short of a hidden, deprecated test API; *ring*
//! does not zeroize its private scalars; and it has neither X448 nor P-521. *ring*'s X25519
//! and P-256 are still cross-checked against ours in `tests/cross_provider.rs`.

use ::ring::aead::{
    Aad, LessSafeKey, Nonce, Tag, UnboundKey, AES_128_GCM, AES_256_GCM, CHACHA20_POLY1305,
};
use rand_core::CryptoRngCore;

use super::{rustcrypto, AeadKey, CryptoProvider, DecryptFailed, KeyError, KxPrivate};
use crate::consts::{AEAD_NONCE_LEN, AEAD_TAG_LEN};
use crate::suite::{Cipher, Tep};

/// The *ring* provider.
#[derive(Debug)]
pub struct Ring;

/// The *ring* provider, to pass as `&'static dyn CryptoProvider`.
pub static PROVIDER: Ring = Ring;

/// A *ring* AEAD key. *ring* keeps the expanded key in its own type and does not zeroize it
/// on drop (a *ring* design decision); the raw key bytes are not kept here.
struct RingAead {
    cipher: Cipher,
    key: LessSafeKey,
}

impl AeadKey for RingAead {
    fn cipher(&self) -> Cipher {
        self.cipher
    }

    fn seal_in_place(
        &self,
        nonce: &[u8; AEAD_NONCE_LEN],
        ad: &[u8],
        buf: &mut [u8],
        tag: &mut [u8; AEAD_TAG_LEN],
    ) {
        let nonce = Nonce::assume_unique_for_key(*nonce);
        match self
            .key
            .seal_in_place_separate_tag(nonce, Aad::from(ad), buf)
        {
            Ok(t) => tag.copy_from_slice(t.as_ref()),
            // Only for inputs beyond the AEAD's limit (~2^36 bytes), far above a tcpcrypt
            // frame. Leave nothing readable and a tag that will not verify.
            Err(_) => {
                buf.fill(0);
                tag.fill(0);
            }
        }
    }

    fn open_in_place(
        &self,
        nonce: &[u8; AEAD_NONCE_LEN],
        ad: &[u8],
        buf: &mut [u8],
        tag: &[u8; AEAD_TAG_LEN],
    ) -> Result<(), DecryptFailed> {
        let nonce = Nonce::assume_unique_for_key(*nonce);
        self.key
            .open_in_place_separate_tag(nonce, Aad::from(ad), Tag::from(*tag), buf, 0..)
            .map(|_| ())
            .map_err(|_| DecryptFailed)
    }
}

impl CryptoProvider for Ring {
    fn name(&self) -> &'static str {
        "ring"
    }

    fn kx_generate(
        &self,
        tep: Tep,
        rng: &mut dyn CryptoRngCore,
    ) -> Result<Box<dyn KxPrivate>, KeyError> {
        Ok(rustcrypto::kx_generate(tep, rng))
    }

    fn kx_from_private(&self, tep: Tep, private: &[u8]) -> Result<Box<dyn KxPrivate>, KeyError> {
        rustcrypto::kx_from_private(tep, private)
    }

    fn aead_key(&self, cipher: Cipher, key: &[u8]) -> Result<Box<dyn AeadKey>, KeyError> {
        if key.len() != cipher.key_len() {
            return Err(KeyError::BadAeadKeyLength);
        }
        let alg = match cipher {
            Cipher::Aes128Gcm => &AES_128_GCM,
            Cipher::Aes256Gcm => &AES_256_GCM,
            Cipher::ChaCha20Poly1305 => &CHACHA20_POLY1305,
        };
        let unbound = UnboundKey::new(alg, key).map_err(|_| KeyError::BadAeadKeyLength)?;
        Ok(Box::new(RingAead {
            cipher,
            key: LessSafeKey::new(unbound),
        }))
    }
}
