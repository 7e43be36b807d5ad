//! The crypto provider: key agreement for each TEP (RFC 8548 §5) and the AEADs (RFC 8548 §6).
//!
//! Like rustls' `CryptoProvider`, the protocol code never names a crypto library: it asks a
//! provider. Several backends exist so that each can be cross-checked against the others (and
//! against OpenSSL in tests), so that a backend bug cannot hide: `rustcrypto` (pure Rust,
//! everything), `ring` (*ring*'s AEADs) and `native` (the default: *ring*'s AEADs and AWS-LC's
//! X25519).

use rand_core::CryptoRngCore;
use zeroize::Zeroizing;

use crate::consts::{AEAD_NONCE_LEN, AEAD_TAG_LEN};
use crate::suite::{Cipher, Tep};

/// Errors of key handling (RFC 8548 §5): all of them abort the connection.
#[derive(Copy, Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum KeyError {
    /// The peer's public key has the wrong length or length prefix.
    #[error("public key has the wrong length")]
    BadPublicKeyLength,
    /// The peer's public key fails validation (not on the curve, not compressed, ...).
    #[error("public key fails validation")]
    InvalidPublicKey,
    /// The X25519/X448 shared secret is all zero (RFC 8548 §5).
    #[error("all-zero shared secret")]
    AllZeroSharedSecret,
    /// A private key given as bytes is malformed (wrong length, zero or out of range scalar).
    #[error("invalid private key")]
    InvalidPrivateKey,
    /// An AEAD key has the wrong length.
    #[error("AEAD key has the wrong length")]
    BadAeadKeyLength,
    /// The provider does not implement this TEP or AEAD.
    #[error("algorithm not supported by this provider")]
    Unsupported,
}

/// AEAD decryption failed (RFC 8548 §3.6). Carries no detail on purpose.
#[derive(Copy, Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("AEAD decryption failed")]
pub struct DecryptFailed;

/// An AEAD key, ready to seal and open frames. Implementations zeroize their key on drop.
pub trait AeadKey: Send + Sync {
    /// The algorithm.
    fn cipher(&self) -> Cipher;
    /// Encrypts `buf` in place and writes the 16-byte tag to `tag`.
    fn seal_in_place(
        &self,
        nonce: &[u8; AEAD_NONCE_LEN],
        ad: &[u8],
        buf: &mut [u8],
        tag: &mut [u8; AEAD_TAG_LEN],
    );
    /// Checks `tag` and decrypts `buf` in place. On failure `buf`'s content is unspecified
    /// and must not be used.
    fn open_in_place(
        &self,
        nonce: &[u8; AEAD_NONCE_LEN],
        ad: &[u8],
        buf: &mut [u8],
        tag: &[u8; AEAD_TAG_LEN],
    ) -> Result<(), DecryptFailed>;
}

/// An ephemeral private key of one TEP. Consumed by [`KxPrivate::agree`], and zeroized on
/// drop by the implementation.
pub trait KxPrivate: Send {
    /// The TEP.
    fn tep(&self) -> Tep;
    /// The public key in its tcpcrypt encoding (RFC 8548 §5): raw 32/56 bytes for
    /// X25519/X448; 2-byte big-endian length then the compressed point for P-256/P-521.
    fn public_key(&self) -> Vec<u8>;
    /// ES = key agreement with the peer's public key in its tcpcrypt encoding. Validates the
    /// key (IEEE 1363 A.16.10 for the NIST curves) and rejects an all-zero X25519/X448
    /// result.
    fn agree(self: Box<Self>, peer_public: &[u8]) -> Result<Zeroizing<Vec<u8>>, KeyError>;
}

/// A crypto backend.
pub trait CryptoProvider: Send + Sync + 'static {
    /// A short name for logs and benchmarks ("native", "ring", "rustcrypto").
    fn name(&self) -> &'static str;
    /// A fresh ephemeral key for `tep` from `rng`.
    fn kx_generate(
        &self,
        tep: Tep,
        rng: &mut dyn CryptoRngCore,
    ) -> Result<Box<dyn KxPrivate>, KeyError>;
    /// An ephemeral key from its bytes (X25519/X448: the raw scalar; P-256/P-521: the
    /// big-endian scalar), for deterministic tests and the conformance shim.
    fn kx_from_private(&self, tep: Tep, private: &[u8]) -> Result<Box<dyn KxPrivate>, KeyError>;
    /// An AEAD key for `cipher` (`key` is ae_key_len bytes).
    fn aead_key(&self, cipher: Cipher, key: &[u8]) -> Result<Box<dyn AeadKey>, KeyError>;
}

mod aws_lc;
pub mod native;
mod nist;
pub mod ring;
pub mod rustcrypto;
mod x25519;
mod x448;

/// The provider the protocol uses unless told otherwise: [`native`], the fastest implementation
/// of each primitive on this kind of machine (*ring*'s AEADs, AWS-LC's X25519: see
/// docs/BENCHMARKS.md). All providers compute identical bytes (`tests/cross_provider.rs`).
pub fn default_provider() -> &'static dyn CryptoProvider {
    &native::PROVIDER
}
