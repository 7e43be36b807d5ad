//! The default backend: the fastest implementation of each primitive on x86_64, measured in
//! docs/BENCHMARKS.md and argued in docs/DEPENDENCIES.md.
//!
//! - AEADs (RFC 8548 §6): *ring* (its AES-GCM seals about twice as fast as AWS-LC's here).
//! - X25519 (RFC 8548 §5, the REQUIRED TEP): AWS-LC (s2n-bignum MULX/ADX field arithmetic).
//! - X448, P-256, P-521: the RustCrypto curve crates.
//!
//! Every primitive here is also implemented by [`super::rustcrypto`], and the tests cross-check
//! the two (and OpenSSL) on random inputs.

use rand_core::CryptoRngCore;

use super::aws_lc::AwsLcX25519;
use super::{ring, rustcrypto, AeadKey, CryptoProvider, KeyError, KxPrivate};
use crate::suite::{Cipher, Tep};

/// The default provider.
#[derive(Debug)]
pub struct Native;

/// The default provider, to pass as `&'static dyn CryptoProvider`.
pub static PROVIDER: Native = Native;

impl CryptoProvider for Native {
    fn name(&self) -> &'static str {
        "native"
    }

    fn kx_generate(
        &self,
        tep: Tep,
        rng: &mut dyn CryptoRngCore,
    ) -> Result<Box<dyn KxPrivate>, KeyError> {
        match tep {
            Tep::X25519 => Ok(Box::new(AwsLcX25519::generate(rng)?)),
            _ => Ok(rustcrypto::kx_generate(tep, rng)),
        }
    }

    fn kx_from_private(&self, tep: Tep, private: &[u8]) -> Result<Box<dyn KxPrivate>, KeyError> {
        match tep {
            Tep::X25519 => Ok(Box::new(AwsLcX25519::from_bytes(private)?)),
            _ => rustcrypto::kx_from_private(tep, private),
        }
    }

    fn aead_key(&self, cipher: Cipher, key: &[u8]) -> Result<Box<dyn AeadKey>, KeyError> {
        ring::PROVIDER.aead_key(cipher, key)
    }
}
