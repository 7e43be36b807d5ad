//! RFC 8548 §3.3, §3.6, §3.7, §4.1, §4.2, §5: the errors of a tcpcrypt session.
//!
//! Every error returned by [`crate::Session`] except [`Error::WouldBlock`] is fatal: RFC 8548
//! (§3.3, §3.6, §3.7, §5) and RFC 8547 §5 ask the host to **abort** the connection (RFC 793
//! ABORT: send RST, destroy the connection) and to report the failure to the application in a
//! way distinct from a clean end of file (which is `Ok(0)` from [`crate::Session::read`]).
//! Once a session returned a fatal error it stays failed and returns that error again.
//!
//! The `Display` strings are short and stable: the conformance shim prints them.

use thiserror::Error as ThisError;

pub use crate::provider::{DecryptFailed, KeyError};

/// A malformed Init1/Init2 message (RFC 8548 §4.1) or frame header (§4.2).
///
/// `offset` is the index of the offending field: within the Init message for the Init
/// variants, within the receiver's stream (frame bytes only, counted from the first frame
/// byte seen by the decoder) for the frame variants.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ThisError)]
#[non_exhaustive]
pub enum DecodeError {
    /// The first four bytes are not INIT1_MAGIC / INIT2_MAGIC (RFC 8548 §4.1, §4.3).
    #[error("bad Init magic")]
    BadMagic {
        /// Offset of the first differing byte.
        offset: usize,
    },
    /// `message_len` is smaller than the fixed fields and the public key of the TEP.
    #[error("Init message_len too short")]
    MessageTooShort {
        /// Offset of the field that does not fit (4 for message_len, or the nciphers byte).
        offset: usize,
        /// The declared message_len.
        message_len: u32,
        /// The minimum length for this TEP (and cipher count).
        min: usize,
    },
    /// `message_len` is above our cap [`crate::init::MAX_MESSAGE_LEN`] (RFC-silent: abort).
    #[error("Init message_len too long")]
    MessageTooLong {
        /// Offset of message_len (4).
        offset: usize,
        /// The declared message_len.
        message_len: u32,
    },
    /// Init1 with `nciphers = 0` (RFC-silent: abort).
    #[error("Init1 offers no cipher")]
    NoCiphers {
        /// Offset of the nciphers byte (8).
        offset: usize,
    },
    /// A P-256/P-521 public key whose 2-byte length prefix is not the compressed-point length
    /// (RFC 8548 §5).
    #[error("public key length prefix mismatch")]
    BadPublicKeyLength {
        /// Offset of the length prefix.
        offset: usize,
        /// The prefix found.
        found: u16,
    },
    /// The input ended inside a message or frame that had to be complete.
    #[error("truncated")]
    Truncated {
        /// Where the missing bytes start.
        offset: usize,
        /// How many bytes the whole message or frame needs.
        needed: usize,
    },
    /// A frame with `clen` below 17 (flags byte + AEAD tag) (RFC 8548 §4.2).
    #[error("frame clen too short")]
    ClenTooShort {
        /// Offset of the frame's control byte.
        offset: usize,
        /// The clen found.
        clen: u16,
    },
    /// A decrypted frame with URGp = 1 but no room for the 2-byte urgent field (RFC 8548 §4.2).
    #[error("URGp frame without urgent field")]
    BadUrgent {
        /// Offset of the frame's control byte.
        offset: usize,
    },
}

/// A protocol violation that is well-formed on the wire (RFC 8548 §3.3, §3.7), or a misuse of
/// the API.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ThisError)]
#[non_exhaustive]
pub enum ProtocolError {
    /// Init2 names a sym_cipher that our Init1 did not offer (RFC 8548 §3.3: abort).
    #[error("Init2 cipher was not offered")]
    CipherNotOffered {
        /// The sym_cipher in Init2.
        sym_cipher: u16,
    },
    /// Init1 offers no AEAD we accept (RFC-silent: abort).
    #[error("no common cipher")]
    NoCommonCipher,
    /// The TEP byte from ENO is not a tcpcrypt TEP, or the provider lacks it.
    #[error("TEP is not a tcpcrypt TEP")]
    UnsupportedTep {
        /// The TEP byte (v bit included).
        tep_byte: u8,
    },
    /// The configured AEAD list is empty or has an AEAD the provider lacks.
    #[error("bad cipher configuration")]
    BadCipherConfig,
    /// Bytes arrived after the peer's FINp frame (RFC-silent: abort).
    #[error("data after FINp frame")]
    FrameAfterFin,
    /// TCP FIN arrived without a FINp frame before it (RFC 8548 §3.7: abort, not EOF).
    #[error("TCP FIN without FINp")]
    FinWithoutFinp,
    /// The application wrote after [`crate::Session::close`].
    #[error("write after close")]
    WriteAfterClose,
    /// The operation needs an established session.
    #[error("session not established")]
    NotEstablished,
    /// The data does not fit in one frame (more than 65518 bytes, RFC 8548 §3.6).
    #[error("frame data too long")]
    FrameTooLong,
    /// A rekey was requested but is not allowed now (RFC 8548 §3.8: no second empty-frame
    /// rekey while remote < local, or too many unanswered generations).
    #[error("rekey not allowed now")]
    RekeyNotAllowed,
}

/// Everything a [`crate::Session`] can report. All variants but [`Error::WouldBlock`] mean:
/// abort the connection with RST and report an error (never EOF) to the application.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ThisError)]
#[non_exhaustive]
pub enum Error {
    /// Malformed Init message or frame header: abort + RST.
    #[error(transparent)]
    Decode(#[from] DecodeError),
    /// Protocol violation (unoffered cipher, frame after FINp, ...): abort + RST.
    #[error(transparent)]
    Protocol(#[from] ProtocolError),
    /// A frame failed AEAD authentication (RFC 8548 §3.6): abort + RST. Its content was
    /// never released.
    #[error("AEAD authentication failed")]
    DecryptFailed,
    /// Key agreement failed: invalid or all-zero peer key (RFC 8548 §5): abort + RST.
    #[error(transparent)]
    Key(#[from] KeyError),
    /// Not an error: no application data is available yet (read), try again after more input.
    #[error("would block")]
    WouldBlock,
}

impl From<DecryptFailed> for Error {
    fn from(_: DecryptFailed) -> Self {
        Error::DecryptFailed
    }
}

impl Error {
    /// Whether the error is fatal (everything except [`Error::WouldBlock`]): the caller must
    /// abort the connection with RST and report an error, not EOF.
    pub fn is_fatal(&self) -> bool {
        !matches!(self, Error::WouldBlock)
    }
}
