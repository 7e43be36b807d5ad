//! RFC 8548 §4.3 (constants), §5 (TEP parameters) and §6 (AEAD identifiers).

/// CONST_NEXTK: derives ss[i+1] from ss[i] (RFC 8548 §3.5, §4.3).
pub const CONST_NEXTK: u8 = 0x01;
/// CONST_SESSID: derives the session ID (RFC 8548 §3.4, §4.3).
pub const CONST_SESSID: u8 = 0x02;
/// CONST_REKEY: derives mk[0] and mk[j+1] (RFC 8548 §3.3, §3.8, §4.3).
pub const CONST_REKEY: u8 = 0x03;
/// CONST_KEY_A: derives k_ab[j] (RFC 8548 §3.3, §4.3).
pub const CONST_KEY_A: u8 = 0x04;
/// CONST_KEY_B: derives k_ba[j] (RFC 8548 §3.3, §4.3).
pub const CONST_KEY_B: u8 = 0x05;
/// CONST_RESUME: derives the resumption identifier (RFC 8548 §3.5, §4.3).
pub const CONST_RESUME: u8 = 0x06;

/// INIT1_MAGIC (RFC 8548 §4.1, §4.3), sent big-endian.
pub const INIT1_MAGIC: u32 = 0x1510_1a0e;
/// INIT2_MAGIC (RFC 8548 §4.1, §4.3), sent big-endian.
pub const INIT2_MAGIC: u32 = 0x0971_05e0;

/// N_A_LEN = N_B_LEN: length of the Init nonces for all four tcpcrypt TEPs (RFC 8548 §5).
pub const NONCE_LEN: usize = 32;
/// K_LEN: length of ss[i], mk[j] and the session-ID hash part (RFC 8548 §5).
pub const K_LEN: usize = 32;
/// Length of a tcpcrypt session ID: TEP byte + K_LEN (RFC 8548 §3.4).
pub const SESSION_ID_LEN: usize = 1 + K_LEN;
/// Length of the resumption identifier resume[i] (RFC 8548 §3.5).
pub const RESUME_ID_LEN: usize = 18;
/// Length of each half of the resumption identifier sent in a suboption (RFC 8548 §3.5).
pub const RESUME_HALF_LEN: usize = 9;
/// Maximum resumption nonce length (RFC 8548 §3.5).
pub const MAX_RESUME_NONCE_LEN: usize = 8;
/// AEAD nonce length of every tcpcrypt AEAD (RFC 8548 §6).
pub const AEAD_NONCE_LEN: usize = 12;
/// AEAD tag length of every tcpcrypt AEAD (RFC 8548 §6).
pub const AEAD_TAG_LEN: usize = 16;
