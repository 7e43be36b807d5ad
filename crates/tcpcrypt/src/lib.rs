//! tcpcrypt (RFC 8548): key exchange, key schedule, framing, rekey and resumption, sans-IO.
//!
//! Nothing here touches a socket, a clock or the OS random generator: randomness comes in
//! through a `rand_core::CryptoRngCore` supplied by the caller, and bytes go in and out.

pub mod consts;
pub mod kdf;
pub mod provider;
pub mod suite;

pub use provider::{AeadKey, CryptoProvider, DecryptFailed, KeyError, KxPrivate};
pub use suite::{Cipher, Tep};
