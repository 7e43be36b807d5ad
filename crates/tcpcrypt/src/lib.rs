//! tcpcrypt (RFC 8548): key exchange, key schedule, framing, rekey and resumption, sans-IO.
//!
//! Nothing here touches a socket, a clock or the OS random generator: randomness comes in
//! through a `rand_core::CryptoRngCore` supplied by the caller, and bytes go in and out.

pub mod config;
pub mod consts;
pub mod error;
pub mod frame;
pub mod init;
pub mod kdf;
pub mod provider;
pub mod rekey;
pub mod resume;
pub mod session;
pub mod suite;

pub use provider::{AeadKey, CryptoProvider, DecryptFailed, KeyError, KxPrivate};
pub use suite::{Cipher, Tep};

pub use config::Config;
pub use error::{DecodeError, Error, ProtocolError};
pub use frame::FrameKey;
pub use init::{Init1, Init1Repr, Init2, Init2Repr};
pub use resume::{ResumptionCache, ResumptionTicket};
pub use session::{Role, Session, SessionState};

#[doc(hidden)]
pub use session::{fuzz_frames, fuzz_init1, fuzz_init2};
