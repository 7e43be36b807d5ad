//! RFC 8548 §4.1 (with §3.3, §5): the key-exchange messages Init1 and Init2.
//!
//! ```text
//! Init1: INIT1_MAGIC(4) | message_len(4, BE) | nciphers(1) | sym_cipher[nciphers](2 each, BE)
//!        | N_A(32) | Pub_A | ignored...
//! Init2: INIT2_MAGIC(4) | message_len(4, BE) | sym_cipher(2, BE) | N_B(32) | Pub_B | ignored...
//! ```
//!
//! [`Init1`]/[`Init2`] are zero-copy views over received bytes; [`Init1Repr`]/[`Init2Repr`]
//! are owned values that emit a message whose `message_len` ends exactly at the end of Pub
//! (MUST). On receipt, trailing bytes up to `message_len` are accepted and ignored (MUST); the
//! view's [`Init1::as_bytes`] still covers them, because the PRK is computed over the messages
//! exactly as transmitted (IMPLEMENTING.md §10 item 4). Decoding is incremental: a prefix that
//! is valid so far yields [`Decoded::Incomplete`] with the length needed.
//!
//! RFC-silent cases decided here (all abort): wrong magic, `message_len` shorter than the
//! fixed fields plus the TEP's public key, `nciphers = 0`, a P-256/P-521 length prefix other
//! than the compressed-point length, and `message_len` above [`MAX_MESSAGE_LEN`].

use crate::consts::{INIT1_MAGIC, INIT2_MAGIC, NONCE_LEN};
use crate::error::DecodeError;
use crate::suite::Tep;

/// Largest `message_len` we accept (RFC-silent; the largest valid message, P-521 with 255
/// ciphers, is 620 bytes).
pub const MAX_MESSAGE_LEN: usize = 4096;

const INIT1_FIXED: usize = 9; // magic, message_len, nciphers
const INIT2_FIXED: usize = 10; // magic, message_len, sym_cipher

/// The outcome of decoding a possibly partial message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decoded<T> {
    /// The whole message is present (see its `len()`; bytes after it are not part of it).
    Complete(T),
    /// The bytes so far are a valid prefix; at least `needed` bytes in total are required.
    Incomplete {
        /// Total length needed before decoding can progress.
        needed: usize,
    },
}

impl<T> Decoded<T> {
    /// The message, or [`DecodeError::Truncated`] when the `have` bytes given were only a
    /// prefix of it.
    fn require_complete(self, have: usize) -> Result<T, DecodeError> {
        match self {
            Decoded::Complete(m) => Ok(m),
            Decoded::Incomplete { needed } => Err(DecodeError::Truncated {
                offset: have,
                needed,
            }),
        }
    }

    /// The message, if complete.
    pub fn complete(self) -> Option<T> {
        match self {
            Decoded::Complete(t) => Some(t),
            Decoded::Incomplete { .. } => None,
        }
    }
}

fn check_magic(buf: &[u8], magic: u32) -> Result<(), DecodeError> {
    let m = magic.to_be_bytes();
    for (i, (a, b)) in buf.iter().zip(m.iter()).enumerate() {
        if a != b {
            return Err(DecodeError::BadMagic { offset: i });
        }
    }
    Ok(())
}

fn be32(buf: &[u8], at: usize) -> Option<u32> {
    let b = buf.get(at..at + 4)?;
    Some(u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
}

fn be16(buf: &[u8], at: usize) -> Option<u16> {
    let b = buf.get(at..at + 2)?;
    Some(u16::from_be_bytes([b[0], b[1]]))
}

/// Checks the 2-byte length prefix of a P-256/P-521 public key at `at` (RFC 8548 §5).
fn check_pub(tep: Tep, msg: &[u8], at: usize) -> Result<(), DecodeError> {
    match tep {
        Tep::P256 | Tep::P521 => {
            let want = tep.pub_len() - 2;
            match be16(msg, at) {
                Some(found) if usize::from(found) == want => Ok(()),
                Some(found) => Err(DecodeError::BadPublicKeyLength { offset: at, found }),
                None => Err(DecodeError::Truncated {
                    offset: msg.len(),
                    needed: at + 2,
                }),
            }
        }
        Tep::X25519 | Tep::X448 => Ok(()),
    }
}

/// Reads and bounds message_len; `min` is the minimum for what is known so far.
fn message_len(buf: &[u8], min: usize) -> Result<Option<usize>, DecodeError> {
    let Some(m) = be32(buf, 4) else {
        return Ok(None);
    };
    let len = usize::try_from(m).unwrap_or(usize::MAX);
    if len > MAX_MESSAGE_LEN {
        return Err(DecodeError::MessageTooLong {
            offset: 4,
            message_len: m,
        });
    }
    if len < min {
        return Err(DecodeError::MessageTooShort {
            offset: 4,
            message_len: m,
            min,
        });
    }
    Ok(Some(len))
}

fn nonce_at(msg: &[u8], at: usize) -> &[u8; NONCE_LEN] {
    // Callers checked `msg.len() >= at + NONCE_LEN`; fall back to zeros defensively.
    const ZERO: [u8; NONCE_LEN] = [0; NONCE_LEN];
    msg.get(at..at + NONCE_LEN)
        .and_then(|s| <&[u8; NONCE_LEN]>::try_from(s).ok())
        .unwrap_or(&ZERO)
}

/// The accessors Init1 and Init2 share (RFC 8548 §4.1): both are `message_len` bytes of
/// `magic | message_len | cipher field(s) | N(32) | Pub | ignored...`, and differ only in
/// the cipher field(s), so each type supplies `nonce_offset()` (where N starts) and this
/// derives N, Pub and the trailer from it. `$n`/`$pub` name the fields in the RFC's terms
/// (N_A/Pub_A in Init1, N_B/Pub_B in Init2).
macro_rules! init_view_accessors {
    ($ty:ident, $n:literal, $pub:literal) => {
        impl<'a> $ty<'a> {
            #[doc = concat!("Like [`", stringify!($ty), "::decode`] for a buffer that must hold the whole message.")]
            pub fn decode_complete(buf: &'a [u8], tep: Tep) -> Result<$ty<'a>, DecodeError> {
                $ty::decode(buf, tep)?.require_complete(buf.len())
            }

            /// The whole message as transmitted: all `message_len` bytes, trailing bytes
            /// included.
            pub fn as_bytes(&self) -> &'a [u8] {
                self.msg
            }

            /// `message_len`.
            pub fn len(&self) -> usize {
                self.msg.len()
            }

            /// Always false (a message has at least its fixed fields); for clippy's sake.
            pub fn is_empty(&self) -> bool {
                self.msg.is_empty()
            }

            /// The TEP this message was decoded for.
            pub fn tep(&self) -> Tep {
                self.tep
            }

            #[doc = concat!($n, ".")]
            pub fn nonce(&self) -> &'a [u8; NONCE_LEN] {
                nonce_at(self.msg, self.nonce_offset())
            }

            #[doc = concat!($pub, " in its tcpcrypt encoding (RFC 8548 §5).")]
            pub fn public_key(&self) -> &'a [u8] {
                let at = self.nonce_offset() + NONCE_LEN;
                self.msg.get(at..at + self.tep.pub_len()).unwrap_or(&[])
            }

            #[doc = concat!("The ignored bytes after ", $pub, ".")]
            pub fn trailer(&self) -> &'a [u8] {
                let at = self.nonce_offset() + NONCE_LEN + self.tep.pub_len();
                self.msg.get(at..).unwrap_or(&[])
            }
        }
    };
}

init_view_accessors!(Init1, "N_A", "Pub_A");
init_view_accessors!(Init2, "N_B", "Pub_B");

/// A received Init1 message (RFC 8548 §4.1), borrowed from the receive buffer.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct Init1<'a> {
    msg: &'a [u8],
    tep: Tep,
}

impl<'a> Init1<'a> {
    /// Decodes Init1 for `tep` from the start of `buf`. Bytes after `message_len` are not
    /// looked at.
    pub fn decode(buf: &'a [u8], tep: Tep) -> Result<Decoded<Init1<'a>>, DecodeError> {
        check_magic(buf, INIT1_MAGIC)?;
        let p = tep.pub_len();
        let Some(len) = message_len(buf, INIT1_FIXED + 2 + NONCE_LEN + p)? else {
            return Ok(Decoded::Incomplete { needed: 8 });
        };
        let Some(&k) = buf.get(8) else {
            return Ok(Decoded::Incomplete { needed: 9 });
        };
        if k == 0 {
            return Err(DecodeError::NoCiphers { offset: 8 });
        }
        let min = INIT1_FIXED + 2 * usize::from(k) + NONCE_LEN + p;
        if len < min {
            return Err(DecodeError::MessageTooShort {
                offset: 8,
                message_len: u32::try_from(len).unwrap_or(u32::MAX),
                min,
            });
        }
        let Some(msg) = buf.get(..len) else {
            return Ok(Decoded::Incomplete { needed: len });
        };
        check_pub(tep, msg, min - p)?;
        Ok(Decoded::Complete(Init1 { msg, tep }))
    }

    fn nciphers(&self) -> usize {
        usize::from(self.msg.get(8).copied().unwrap_or(0))
    }

    /// The offered `sym_cipher` identifiers, in order (unknown identifiers included).
    pub fn ciphers(&self) -> impl Iterator<Item = u16> + 'a {
        let n = self.nciphers();
        self.msg
            .get(INIT1_FIXED..INIT1_FIXED + 2 * n)
            .unwrap_or(&[])
            .chunks_exact(2)
            .map(|c| u16::from_be_bytes([c[0], c[1]]))
    }

    /// Where N_A starts: after the `nciphers` cipher identifiers.
    fn nonce_offset(&self) -> usize {
        INIT1_FIXED + 2 * self.nciphers()
    }

    /// An owned copy (without the trailer).
    pub fn to_repr(&self) -> Init1Repr {
        Init1Repr {
            ciphers: self.ciphers().collect(),
            nonce: *self.nonce(),
            public_key: self.public_key().to_vec(),
        }
    }
}

impl core::fmt::Debug for Init1<'_> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Init1")
            .field("tep", &self.tep)
            .field("message_len", &self.msg.len())
            .field("ciphers", &self.ciphers().collect::<Vec<_>>())
            .finish_non_exhaustive()
    }
}

/// A received Init2 message (RFC 8548 §4.1), borrowed from the receive buffer.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct Init2<'a> {
    msg: &'a [u8],
    tep: Tep,
}

impl<'a> Init2<'a> {
    /// Decodes Init2 for `tep` from the start of `buf`. Bytes after `message_len` are not
    /// looked at.
    pub fn decode(buf: &'a [u8], tep: Tep) -> Result<Decoded<Init2<'a>>, DecodeError> {
        check_magic(buf, INIT2_MAGIC)?;
        let p = tep.pub_len();
        let Some(len) = message_len(buf, INIT2_FIXED + NONCE_LEN + p)? else {
            return Ok(Decoded::Incomplete { needed: 8 });
        };
        let Some(msg) = buf.get(..len) else {
            return Ok(Decoded::Incomplete { needed: len });
        };
        check_pub(tep, msg, INIT2_FIXED + NONCE_LEN)?;
        Ok(Decoded::Complete(Init2 { msg, tep }))
    }

    /// The chosen `sym_cipher`.
    pub fn cipher(&self) -> u16 {
        be16(self.msg, 8).unwrap_or(0)
    }

    /// Where N_B starts: after the one `sym_cipher`.
    fn nonce_offset(&self) -> usize {
        INIT2_FIXED
    }

    /// An owned copy (without the trailer).
    pub fn to_repr(&self) -> Init2Repr {
        Init2Repr {
            cipher: self.cipher(),
            nonce: *self.nonce(),
            public_key: self.public_key().to_vec(),
        }
    }
}

impl core::fmt::Debug for Init2<'_> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Init2")
            .field("tep", &self.tep)
            .field("message_len", &self.msg.len())
            .field("cipher", &self.cipher())
            .finish_non_exhaustive()
    }
}

/// Why an Init message could not be emitted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum EmitError {
    /// No cipher, or more than 255.
    #[error("Init1 needs 1..=255 ciphers")]
    BadCipherCount,
    /// The output buffer is too small.
    #[error("buffer too small")]
    BufferTooSmall,
}

/// Fills `out`, exactly `message_len` bytes long, with what Init1 and Init2 share
/// (RFC 8548 §4.1): the magic, `message_len`, and N | Pub from `nonce_at` on, so that
/// `message_len` ends exactly at the end of Pub. Returns the bytes in between (offset 8 up
/// to `nonce_at`) for the caller's cipher field(s).
fn emit_frame<'b>(
    out: &'b mut [u8],
    magic: u32,
    nonce_at: usize,
    nonce: &[u8; NONCE_LEN],
    public_key: &[u8],
) -> &'b mut [u8] {
    let len = u32::try_from(out.len()).unwrap_or(u32::MAX);
    let (head, rest) = out.split_at_mut(nonce_at);
    head[..4].copy_from_slice(&magic.to_be_bytes());
    head[4..8].copy_from_slice(&len.to_be_bytes());
    let (n, p) = rest.split_at_mut(NONCE_LEN);
    n.copy_from_slice(nonce);
    p.copy_from_slice(public_key);
    &mut head[8..]
}

/// An Init1 message to send (RFC 8548 §4.1).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Init1Repr {
    /// Offered `sym_cipher` identifiers, in order (1..=255 of them).
    pub ciphers: Vec<u16>,
    /// N_A.
    pub nonce: [u8; NONCE_LEN],
    /// Pub_A in its tcpcrypt encoding.
    pub public_key: Vec<u8>,
}

impl Init1Repr {
    /// `message_len`: the encoded length, ending exactly at the end of Pub_A.
    pub fn buffer_len(&self) -> usize {
        INIT1_FIXED + 2 * self.ciphers.len() + NONCE_LEN + self.public_key.len()
    }

    /// Writes the message to the start of `buf`, returning its length.
    pub fn emit(&self, buf: &mut [u8]) -> Result<usize, EmitError> {
        let k = u8::try_from(self.ciphers.len()).map_err(|_| EmitError::BadCipherCount)?;
        if k == 0 {
            return Err(EmitError::BadCipherCount);
        }
        let len = self.buffer_len();
        let out = buf.get_mut(..len).ok_or(EmitError::BufferTooSmall)?;
        let nonce_at = INIT1_FIXED + 2 * self.ciphers.len();
        let fields = emit_frame(out, INIT1_MAGIC, nonce_at, &self.nonce, &self.public_key);
        let (count, ids) = fields.split_at_mut(1);
        count[0] = k;
        for (dst, c) in ids.chunks_exact_mut(2).zip(&self.ciphers) {
            dst.copy_from_slice(&c.to_be_bytes());
        }
        Ok(len)
    }

    /// The encoded message.
    pub fn to_bytes(&self) -> Result<Vec<u8>, EmitError> {
        let mut v = vec![0u8; self.buffer_len()];
        self.emit(&mut v)?;
        Ok(v)
    }
}

/// An Init2 message to send (RFC 8548 §4.1).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Init2Repr {
    /// The chosen `sym_cipher`.
    pub cipher: u16,
    /// N_B.
    pub nonce: [u8; NONCE_LEN],
    /// Pub_B in its tcpcrypt encoding.
    pub public_key: Vec<u8>,
}

impl Init2Repr {
    /// `message_len`: the encoded length, ending exactly at the end of Pub_B.
    pub fn buffer_len(&self) -> usize {
        INIT2_FIXED + NONCE_LEN + self.public_key.len()
    }

    /// Writes the message to the start of `buf`, returning its length.
    pub fn emit(&self, buf: &mut [u8]) -> Result<usize, EmitError> {
        let len = self.buffer_len();
        let out = buf.get_mut(..len).ok_or(EmitError::BufferTooSmall)?;
        emit_frame(out, INIT2_MAGIC, INIT2_FIXED, &self.nonce, &self.public_key)
            .copy_from_slice(&self.cipher.to_be_bytes());
        Ok(len)
    }

    /// The encoded message.
    pub fn to_bytes(&self) -> Result<Vec<u8>, EmitError> {
        let mut v = vec![0u8; self.buffer_len()];
        self.emit(&mut v)?;
        Ok(v)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::panic)]
    use super::*;

    fn h(s: &str) -> Vec<u8> {
        hex::decode(s).unwrap()
    }

    // sample-handshake-001 of shared/conformance (X25519, AES-128-GCM).
    const INIT1_X25519: &str = "15101a0e0000004b010001c2bc56ffb9f1a13a0f95cdb8766c7313262fe4221c8c20cffec5eecee7effa894d44beba0735ff842013dccfdfa44bf954f7937840294218d18b893274cb9f05";
    const INIT2_X25519: &str = "097105e00000004a00017bffceb78e338b91aec5f1d2a0fa780ed8310c7e0914fb961112baa8c8d6298ec58cbdf841eaa40eaf23526e19a4056f02beccf93eb02ef65968e74420124c02";
    // sample-handshake-002 (P-256, ciphers [1, 16], ChaCha20 chosen).
    const INIT1_P256: &str = "15101a0e00000050020001001052630930dbd464d0d08f8ba4b04c3a4152eac44cd47547580db57b170433e1340021034d849f87c91c2b688336b7d9bcb3d77350f5cc1061a29dea1c5f017f0cff395c";

    #[test]
    fn decodes_sample_init1_and_reencodes_byte_exact() {
        let raw = h(INIT1_X25519);
        let m = Init1::decode_complete(&raw, Tep::X25519).unwrap();
        assert_eq!(m.len(), 75);
        assert_eq!(m.ciphers().collect::<Vec<_>>(), vec![1]);
        assert_eq!(m.nonce()[..4], [0xc2, 0xbc, 0x56, 0xff]);
        assert_eq!(m.public_key().len(), 32);
        assert!(m.trailer().is_empty());
        assert_eq!(m.to_repr().to_bytes().unwrap(), raw);

        let raw = h(INIT1_P256);
        let m = Init1::decode_complete(&raw, Tep::P256).unwrap();
        assert_eq!(m.len(), 80);
        assert_eq!(m.ciphers().collect::<Vec<_>>(), vec![1, 16]);
        assert_eq!(&m.public_key()[..3], &[0x00, 0x21, 0x03]);
        assert_eq!(m.to_repr().to_bytes().unwrap(), raw);
    }

    #[test]
    fn decodes_sample_init2_and_reencodes_byte_exact() {
        let raw = h(INIT2_X25519);
        let m = Init2::decode_complete(&raw, Tep::X25519).unwrap();
        assert_eq!(m.len(), 74);
        assert_eq!(m.cipher(), 1);
        assert_eq!(m.nonce()[0], 0x7b);
        assert_eq!(m.to_repr().to_bytes().unwrap(), raw);
    }

    #[test]
    fn every_prefix_is_incomplete_and_bytes_after_message_are_ignored() {
        let raw = h(INIT1_X25519);
        for i in 0..raw.len() {
            match Init1::decode(&raw[..i], Tep::X25519).unwrap() {
                Decoded::Incomplete { needed } => assert!(needed > i && needed <= raw.len()),
                Decoded::Complete(_) => panic!("prefix {i} complete"),
            }
        }
        let mut more = raw.clone();
        more.extend_from_slice(&[0xaa; 10]);
        let m = Init1::decode_complete(&more, Tep::X25519).unwrap();
        assert_eq!(m.as_bytes(), &raw[..]);
    }

    #[test]
    fn trailing_bytes_within_message_len_are_accepted_and_kept_in_as_bytes() {
        let mut raw = h(INIT2_X25519);
        raw.extend_from_slice(&[1, 2, 3]);
        raw[7] += 3;
        let m = Init2::decode_complete(&raw, Tep::X25519).unwrap();
        assert_eq!(m.trailer(), &[1, 2, 3]);
        assert_eq!(m.as_bytes().len(), 77);
        assert_eq!(m.to_repr().buffer_len(), 74);
    }

    #[test]
    fn bad_inputs_give_typed_errors_with_offsets() {
        let raw = h(INIT1_X25519);
        let mut bad = raw.clone();
        bad[2] ^= 1;
        assert_eq!(
            Init1::decode(&bad[..3], Tep::X25519),
            Err(DecodeError::BadMagic { offset: 2 })
        );
        // Init2 magic is not Init1 magic.
        assert_eq!(
            Init1::decode(&h(INIT2_X25519), Tep::X25519),
            Err(DecodeError::BadMagic { offset: 0 })
        );
        let mut short = raw.clone();
        short[8] = 2;
        assert!(matches!(
            Init1::decode(&short, Tep::X25519),
            Err(DecodeError::MessageTooShort { offset: 8, .. })
        ));
        short[7] = 40;
        assert!(matches!(
            Init1::decode(&short, Tep::X25519),
            Err(DecodeError::MessageTooShort { offset: 4, .. })
        ));
        let mut long = raw.clone();
        long[5..8].copy_from_slice(&[0, 0x10, 0x01]);
        assert_eq!(
            Init1::decode(&long[..8], Tep::X25519),
            Err(DecodeError::MessageTooLong {
                offset: 4,
                message_len: 4097
            })
        );
        let mut zero = raw.clone();
        zero[8] = 0;
        assert_eq!(
            Init1::decode(&zero, Tep::X25519),
            Err(DecodeError::NoCiphers { offset: 8 })
        );
        assert_eq!(
            Init1::decode_complete(&raw[..50], Tep::X25519),
            Err(DecodeError::Truncated {
                offset: 50,
                needed: 75
            })
        );
        // An X25519-sized message is too short for X448.
        assert!(matches!(
            Init1::decode(&raw, Tep::X448),
            Err(DecodeError::MessageTooShort { .. })
        ));
        let mut p = h(INIT1_P256);
        p[46] = 0x22;
        assert_eq!(
            Init1::decode(&p, Tep::P256),
            Err(DecodeError::BadPublicKeyLength {
                offset: 45,
                found: 0x22
            })
        );
    }

    #[test]
    fn emit_refuses_bad_cipher_counts_and_small_buffers() {
        let mut r = Init1Repr {
            ciphers: vec![],
            nonce: [0; 32],
            public_key: vec![0; 32],
        };
        assert_eq!(r.to_bytes(), Err(EmitError::BadCipherCount));
        r.ciphers = vec![1; 256];
        assert_eq!(r.to_bytes(), Err(EmitError::BadCipherCount));
        r.ciphers = vec![1];
        assert_eq!(r.emit(&mut [0u8; 10]), Err(EmitError::BufferTooSmall));
    }
}
