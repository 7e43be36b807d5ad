//! RFC 8548 §3.3, §3.5, §3.6: per-connection configuration of a [`crate::Session`].
//!
//! RFC 8548 §3.3 (SHOULD): per-connection choice of the AEAD list advertised in Init1 (role A)
//! and of the preference order used to pick one from Init1 (role B). §3.5 (MUST, when secrets
//! are cached): per-connection controls to ignore resumption requests and to cache nothing,
//! and a resumption nonce length (default 8).

use crate::frame::MAX_FRAME_DATA;
use crate::suite::Cipher;

/// Default send-buffer limit of a session, in bytes of sealed frames not yet polled.
pub const DEFAULT_SEND_BUFFER: usize = 256 * 1024;

/// Per-connection configuration.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Config {
    /// As A: the AEADs offered in Init1, in this order. As B: the preference order used to
    /// pick one of the AEADs offered in Init1 (first entry that A offered wins). Must not be
    /// empty. Default: AES-128-GCM, ChaCha20-Poly1305, AES-256-GCM.
    pub ciphers: Vec<Cipher>,
    /// Largest application-data chunk per frame, 1..=65518 (RFC 8548 §3.6). Smaller values
    /// lower latency at a small bandwidth cost. Default 65518.
    pub max_frame_data: usize,
    /// Limit on sealed bytes waiting in the session's send buffer: [`crate::Session::write`]
    /// accepts less (or nothing) above it. Default [`DEFAULT_SEND_BUFFER`].
    pub send_buffer_limit: usize,
    /// RFC 8548 §3.5 policy 1: ignore resumption requests (force fresh key exchange). Honoured
    /// by [`crate::ResumptionCache::offer`] and [`crate::ResumptionCache::accept`].
    pub ignore_resumption: bool,
    /// RFC 8548 §3.5 policy 2: cache no session secret from this connection
    /// ([`crate::Session::take_resumption_ticket`] returns `None`).
    pub no_cache: bool,
    /// Resumption nonce length, 0..=8 (RFC 8548 §3.5: default 8, because this library cannot
    /// rule out VM cloning or hibernation). Larger values are clamped to 8.
    pub resume_nonce_len: usize,
    /// RFC 8547 §4.1 debug mode: keep resume[i] and the generation-0 traffic keys so that
    /// [`crate::Session::debug_secrets`] can return them. Off by default.
    pub debug_secrets: bool,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            ciphers: vec![
                Cipher::Aes128Gcm,
                Cipher::ChaCha20Poly1305,
                Cipher::Aes256Gcm,
            ],
            max_frame_data: MAX_FRAME_DATA,
            send_buffer_limit: DEFAULT_SEND_BUFFER,
            ignore_resumption: false,
            no_cache: false,
            resume_nonce_len: 8,
            debug_secrets: false,
        }
    }
}

impl Config {
    /// `max_frame_data` clamped to 1..=65518.
    pub fn frame_data_len(&self) -> usize {
        self.max_frame_data.clamp(1, MAX_FRAME_DATA)
    }
}
