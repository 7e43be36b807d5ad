//! The RustCrypto backend: all four TEPs (RFC 8548 §5) and the three AEADs (RFC 8548 §6) with
//! pure-Rust crates (`x25519-dalek`, `x448`, `p256`, `p521`, `aes-gcm`, `chacha20poly1305`).

use aes_gcm::aead::generic_array::GenericArray;
use aes_gcm::aead::{AeadInPlace, KeyInit};
use aes_gcm::{Aes128Gcm, Aes256Gcm};
use chacha20poly1305::ChaCha20Poly1305;
use rand_core::CryptoRngCore;

use super::nist::NistPrivate;
use super::x25519::X25519Private;
use super::x448::X448Private;
use super::{AeadKey, CryptoProvider, DecryptFailed, KeyError, KxPrivate};
use crate::consts::{AEAD_NONCE_LEN, AEAD_TAG_LEN};
use crate::suite::{Cipher, Tep};

/// The RustCrypto provider.
#[derive(Debug)]
pub struct RustCrypto;

/// The RustCrypto provider, to pass as `&'static dyn CryptoProvider`.
pub static PROVIDER: RustCrypto = RustCrypto;

/// A fresh ephemeral key for `tep` with the RustCrypto curve crates (shared with the ring
/// provider, which lacks deterministic key agreement: see `provider::ring`).
pub(crate) fn kx_generate(tep: Tep, rng: &mut dyn CryptoRngCore) -> Box<dyn KxPrivate> {
    match tep {
        Tep::X25519 => Box::new(X25519Private::generate(rng)),
        Tep::X448 => Box::new(X448Private::generate(rng)),
        Tep::P256 => Box::new(NistPrivate::<p256::NistP256>::generate(rng)),
        Tep::P521 => Box::new(NistPrivate::<p521::NistP521>::generate(rng)),
    }
}

/// An ephemeral key for `tep` from its bytes, with the RustCrypto curve crates.
pub(crate) fn kx_from_private(tep: Tep, private: &[u8]) -> Result<Box<dyn KxPrivate>, KeyError> {
    Ok(match tep {
        Tep::X25519 => Box::new(X25519Private::from_bytes(private)?),
        Tep::X448 => Box::new(X448Private::from_bytes(private)?),
        Tep::P256 => Box::new(NistPrivate::<p256::NistP256>::from_bytes(private)?),
        Tep::P521 => Box::new(NistPrivate::<p521::NistP521>::from_bytes(private)?),
    })
}

/// A RustCrypto AEAD key. The expanded key lives inside `A`: `ChaCha20Poly1305` zeroizes
/// its key on drop; the AES-GCM types of `aes-gcm` 0.10 do so only if `aes` is built with
/// its `zeroize` feature.
struct RcAead<A> {
    cipher: Cipher,
    aead: A,
}

impl<A: AeadInPlace + Send + Sync> AeadKey for RcAead<A> {
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
        match self
            .aead
            .encrypt_in_place_detached(GenericArray::from_slice(nonce), ad, buf)
        {
            Ok(t) => tag.copy_from_slice(&t),
            // Only for inputs beyond 2^36 bytes, far above a tcpcrypt frame (RFC 8548 §4.2
            // caps it at 2^16). Leave nothing readable and a tag that will not verify.
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
        self.aead
            .decrypt_in_place_detached(
                GenericArray::from_slice(nonce),
                ad,
                buf,
                GenericArray::from_slice(tag),
            )
            .map_err(|_| DecryptFailed)
    }
}

fn rc_aead<A>(cipher: Cipher, key: &[u8]) -> Result<Box<dyn AeadKey>, KeyError>
where
    A: AeadInPlace + KeyInit + Send + Sync + 'static,
{
    let aead = A::new_from_slice(key).map_err(|_| KeyError::BadAeadKeyLength)?;
    Ok(Box::new(RcAead { cipher, aead }))
}

/// An AEAD key for `cipher` with `aes-gcm` / `chacha20poly1305`.
pub(crate) fn aead_key(cipher: Cipher, key: &[u8]) -> Result<Box<dyn AeadKey>, KeyError> {
    if key.len() != cipher.key_len() {
        return Err(KeyError::BadAeadKeyLength);
    }
    match cipher {
        Cipher::Aes128Gcm => rc_aead::<Aes128Gcm>(cipher, key),
        Cipher::Aes256Gcm => rc_aead::<Aes256Gcm>(cipher, key),
        Cipher::ChaCha20Poly1305 => rc_aead::<ChaCha20Poly1305>(cipher, key),
    }
}

impl CryptoProvider for RustCrypto {
    fn name(&self) -> &'static str {
        "rustcrypto"
    }

    fn kx_generate(
        &self,
        tep: Tep,
        rng: &mut dyn CryptoRngCore,
    ) -> Result<Box<dyn KxPrivate>, KeyError> {
        Ok(kx_generate(tep, rng))
    }

    fn kx_from_private(&self, tep: Tep, private: &[u8]) -> Result<Box<dyn KxPrivate>, KeyError> {
        kx_from_private(tep, private)
    }

    fn aead_key(&self, cipher: Cipher, key: &[u8]) -> Result<Box<dyn AeadKey>, KeyError> {
        aead_key(cipher, key)
    }
}
