//! RFC 8548 §3.6, §3.7, §4.2: encryption frames.
//!
//! ```text
//! frame     = control(1) | clen(2, BE) | ciphertext(clen)        control bit 0 = rekey
//! plaintext = flags(1) | [urgent(2, BE) if URGp] | data          flags bit 0 = FINp, bit 1 = URGp
//! AD        = control | clen
//! frame ID  = 00 00 00 00 | offset (BE64);  AEAD nonce = frame ID XOR NR
//! ```
//!
//! `cres` and `fres` bits are sent as zero and ignored on receipt. We never send urgent data
//! (IMPLEMENTING.md §10 item 5); on receipt URGp is parsed strictly (the 2-byte field must be
//! present) and its data is delivered in line. Sealing and opening work in place on the
//! caller's buffer: no allocation per frame.
//!
//! The stream offset of a frame is the position of its control byte in the TCP byte stream of
//! its direction, counted from the first byte of the connection, so Init1 (A) and Init2 (B)
//! count (IMPLEMENTING.md §10 item 1, UNCONFIRMED): [`first_frame_offset`] is the one place
//! that decides it.

use zeroize::Zeroize;

use crate::consts::{AEAD_NONCE_LEN, AEAD_TAG_LEN};
use crate::error::{DecodeError, Error, ProtocolError};
use crate::kdf::TrafficKey;
use crate::provider::{AeadKey, CryptoProvider, KeyError};
use crate::suite::Cipher;

/// Frame header length: control + clen.
pub const FRAME_HEADER_LEN: usize = 3;
/// Largest clen (RFC 8548 §3.6: clen < 2^16).
pub const MAX_CLEN: usize = 65535;
/// Smallest valid clen: the flags byte and the AEAD tag.
pub const MIN_CLEN: usize = 1 + AEAD_TAG_LEN;
/// Largest application-data chunk of one frame without URGp: 65535 - 16 - 1 = 65518.
pub const MAX_FRAME_DATA: usize = MAX_CLEN - AEAD_TAG_LEN - 1;
/// Largest whole frame on the wire.
pub const MAX_FRAME_LEN: usize = FRAME_HEADER_LEN + MAX_CLEN;
/// Wire overhead of a frame without URGp: header, flags byte, tag.
pub const FRAME_OVERHEAD: usize = FRAME_HEADER_LEN + 1 + AEAD_TAG_LEN;

/// The rekey bit of the control byte.
pub const CONTROL_REKEY: u8 = 0x01;
/// The FINp bit of the flags byte.
pub const FLAG_FINP: u8 = 0x01;
/// The URGp bit of the flags byte.
pub const FLAG_URGP: u8 = 0x02;

/// Stream offset of the first frame in a direction (RFC 8548 §4.2 "offset in the underlying
/// TCP datastream"): `init_len` is the length of the Init message this host sent (for the
/// send direction) or received (for the receive direction), all message_len bytes; 0 in a
/// resumed session, which has no Init messages. This is the single place to change if an
/// interoperating peer counts from the first frame instead.
pub const fn first_frame_offset(init_len: usize) -> u64 {
    init_len as u64
}

/// The AEAD nonce of the frame at stream `offset`: (4 zero bytes || BE64 offset) XOR NR
/// (RFC 8548 §4.2).
pub fn frame_nonce(nr: &[u8; AEAD_NONCE_LEN], offset: u64) -> [u8; AEAD_NONCE_LEN] {
    let mut n = *nr;
    for (dst, b) in n[4..].iter_mut().zip(offset.to_be_bytes()) {
        *dst ^= b;
    }
    n
}

/// A frame header (RFC 8548 §4.2).
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct FrameHeader {
    /// The control byte as received (cres bits included).
    pub control: u8,
    /// clen.
    pub clen: u16,
}

impl FrameHeader {
    /// Parses the first three bytes of `buf`, if present.
    pub fn parse(buf: &[u8]) -> Option<FrameHeader> {
        match buf {
            [control, a, b, ..] => Some(FrameHeader {
                control: *control,
                clen: u16::from_be_bytes([*a, *b]),
            }),
            _ => None,
        }
    }

    /// The rekey bit.
    pub fn rekey(&self) -> bool {
        self.control & CONTROL_REKEY != 0
    }

    /// Length of the whole frame on the wire.
    pub fn frame_len(&self) -> usize {
        FRAME_HEADER_LEN + usize::from(self.clen)
    }

    /// The three header bytes (= the associated data).
    pub fn to_bytes(&self) -> [u8; FRAME_HEADER_LEN] {
        let c = self.clen.to_be_bytes();
        [self.control, c[0], c[1]]
    }
}

/// Where the next frame ends in a receive buffer.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum FrameSplit {
    /// A whole frame of this many bytes starts the buffer.
    Frame(usize),
    /// At least this many bytes in total are needed.
    Incomplete(usize),
}

/// Finds the first frame of `buf`, which starts at stream `offset` (for error reports).
pub fn split_frame(buf: &[u8], offset: u64) -> Result<FrameSplit, DecodeError> {
    let Some(h) = FrameHeader::parse(buf) else {
        return Ok(FrameSplit::Incomplete(FRAME_HEADER_LEN));
    };
    if usize::from(h.clen) < MIN_CLEN {
        return Err(DecodeError::ClenTooShort {
            offset: usize::try_from(offset).unwrap_or(usize::MAX),
            clen: h.clen,
        });
    }
    let len = h.frame_len();
    Ok(if buf.len() >= len {
        FrameSplit::Frame(len)
    } else {
        FrameSplit::Incomplete(len)
    })
}

/// A decrypted frame, borrowing its data from the buffer it was opened in.
#[derive(Debug, PartialEq, Eq)]
pub struct Opened<'b> {
    /// The rekey bit of the control byte.
    pub rekey: bool,
    /// FINp.
    pub fin: bool,
    /// The urgent field if URGp was set (never sent by us; delivered in line).
    pub urgent: Option<u16>,
    /// The application data.
    pub data: &'b [u8],
}

/// One direction's key of one generation: the AEAD key K and the nonce randomizer NR of
/// k_ab[j] or k_ba[j] (RFC 8548 §3.3). NR is zeroized on drop, the AEAD key by the provider;
/// `Debug` shows neither.
pub struct FrameKey {
    aead: Box<dyn AeadKey>,
    nr: [u8; AEAD_NONCE_LEN],
}

impl core::fmt::Debug for FrameKey {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "FrameKey({:?}, <redacted>)", self.aead.cipher())
    }
}

impl Drop for FrameKey {
    fn drop(&mut self) {
        self.nr.zeroize();
    }
}

impl FrameKey {
    /// Builds the key from a traffic key (K || NR).
    pub fn new(provider: &dyn CryptoProvider, key: &TrafficKey) -> Result<FrameKey, KeyError> {
        Ok(FrameKey {
            aead: provider.aead_key(key.cipher(), key.key())?,
            nr: key.nr(),
        })
    }

    /// The AEAD.
    pub fn cipher(&self) -> Cipher {
        self.aead.cipher()
    }

    /// Appends one frame carrying `data` to `out` and encrypts it in place, for stream
    /// `offset`; returns the frame length. `rekey` sets the control bit, `fin` the FINp flag.
    pub fn seal_append(
        &self,
        offset: u64,
        rekey: bool,
        fin: bool,
        data: &[u8],
        out: &mut Vec<u8>,
    ) -> Result<usize, ProtocolError> {
        if data.len() > MAX_FRAME_DATA {
            return Err(ProtocolError::FrameTooLong);
        }
        let start = out.len();
        out.resize(start + FRAME_OVERHEAD + data.len(), 0);
        let frame = out.get_mut(start..).unwrap_or_default();
        let r = self.seal_to(offset, rekey, fin, data, frame);
        if r.is_err() {
            out.truncate(start);
        }
        r
    }

    /// Writes one frame carrying `data` to the start of `out` (header, flags byte, data,
    /// tag: `FRAME_OVERHEAD + data.len()` bytes) and encrypts it there in place, for stream
    /// `offset`; returns the frame length. Bytes of `out` after the frame are untouched.
    /// [`ProtocolError::FrameTooLong`] if `data` exceeds [`MAX_FRAME_DATA`] or `out` is too
    /// short (nothing is written then).
    pub fn seal_to(
        &self,
        offset: u64,
        rekey: bool,
        fin: bool,
        data: &[u8],
        out: &mut [u8],
    ) -> Result<usize, ProtocolError> {
        if data.len() > MAX_FRAME_DATA {
            return Err(ProtocolError::FrameTooLong);
        }
        let clen = 1 + data.len() + AEAD_TAG_LEN;
        let len = FRAME_HEADER_LEN + clen;
        let frame = out.get_mut(..len).ok_or(ProtocolError::FrameTooLong)?;
        let header = FrameHeader {
            control: if rekey { CONTROL_REKEY } else { 0 },
            clen: u16::try_from(clen).map_err(|_| ProtocolError::FrameTooLong)?,
        }
        .to_bytes();
        let (head, body) = frame.split_at_mut(FRAME_HEADER_LEN);
        head.copy_from_slice(&header);
        if let Some((flags, rest)) = body.split_first_mut() {
            *flags = if fin { FLAG_FINP } else { 0 };
            if let Some(d) = rest.get_mut(..data.len()) {
                bytecopy::copy(d, data);
            }
        }
        self.seal_in_place(offset, frame)?;
        Ok(len)
    }

    /// Encrypts a whole frame in place: `frame` holds the header (control, clen), the
    /// plaintext, and 16 bytes of room for the tag; clen must equal `frame.len() - 3`.
    pub fn seal_in_place(&self, offset: u64, frame: &mut [u8]) -> Result<(), ProtocolError> {
        let h = FrameHeader::parse(frame).ok_or(ProtocolError::FrameTooLong)?;
        if h.frame_len() != frame.len() || usize::from(h.clen) < MIN_CLEN {
            return Err(ProtocolError::FrameTooLong);
        }
        let ad = h.to_bytes();
        let body = frame.get_mut(FRAME_HEADER_LEN..).unwrap_or_default();
        let split = body.len() - AEAD_TAG_LEN;
        let (plain, tag_out) = body.split_at_mut(split);
        let mut tag = [0u8; AEAD_TAG_LEN];
        self.aead
            .seal_in_place(&frame_nonce(&self.nr, offset), &ad, plain, &mut tag);
        tag_out.copy_from_slice(&tag);
        Ok(())
    }

    /// Authenticates and decrypts the whole frame `frame` (header included, exactly
    /// `3 + clen` bytes) received at stream `offset`, in place. On failure no plaintext is
    /// returned.
    pub fn open_in_place<'b>(&self, offset: u64, frame: &'b mut [u8]) -> Result<Opened<'b>, Error> {
        let at = usize::try_from(offset).unwrap_or(usize::MAX);
        let h = FrameHeader::parse(frame).ok_or(DecodeError::Truncated {
            offset: at,
            needed: FRAME_HEADER_LEN,
        })?;
        if usize::from(h.clen) < MIN_CLEN {
            return Err(DecodeError::ClenTooShort {
                offset: at,
                clen: h.clen,
            }
            .into());
        }
        if frame.len() != h.frame_len() {
            return Err(DecodeError::Truncated {
                offset: at,
                needed: h.frame_len(),
            }
            .into());
        }
        let ad = h.to_bytes();
        let body = frame.get_mut(FRAME_HEADER_LEN..).unwrap_or_default();
        let split = body.len() - AEAD_TAG_LEN;
        let (plain, tag_in) = body.split_at_mut(split);
        let mut tag = [0u8; AEAD_TAG_LEN];
        tag.copy_from_slice(tag_in);
        if self
            .aead
            .open_in_place(&frame_nonce(&self.nr, offset), &ad, plain, &tag)
            .is_err()
        {
            plain.zeroize();
            return Err(Error::DecryptFailed);
        }
        let plain: &'b [u8] = plain;
        let (&flags, rest) = plain.split_first().ok_or(DecodeError::Truncated {
            offset: at,
            needed: FRAME_HEADER_LEN + MIN_CLEN,
        })?;
        let (urgent, data) = if flags & FLAG_URGP != 0 {
            match rest {
                [a, b, data @ ..] => (Some(u16::from_be_bytes([*a, *b])), data),
                _ => return Err(DecodeError::BadUrgent { offset: at }.into()),
            }
        } else {
            (None, rest)
        };
        Ok(Opened {
            rekey: h.rekey(),
            fin: flags & FLAG_FINP != 0,
            urgent,
            data,
        })
    }
}

#[cfg(test)]
pub(crate) mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
    use super::*;
    use crate::provider::DecryptFailed;
    use aes_gcm::aead::AeadInPlace;
    use aes_gcm::{Aes128Gcm, KeyInit};

    /// AES-128-GCM straight from the `aes-gcm` crate, so frame tests do not depend on a
    /// provider backend.
    pub(crate) struct TestAes(Aes128Gcm);

    impl AeadKey for TestAes {
        fn cipher(&self) -> Cipher {
            Cipher::Aes128Gcm
        }
        fn seal_in_place(
            &self,
            nonce: &[u8; AEAD_NONCE_LEN],
            ad: &[u8],
            buf: &mut [u8],
            tag: &mut [u8; AEAD_TAG_LEN],
        ) {
            let t = self
                .0
                .encrypt_in_place_detached(nonce.into(), ad, buf)
                .unwrap();
            tag.copy_from_slice(&t);
        }
        fn open_in_place(
            &self,
            nonce: &[u8; AEAD_NONCE_LEN],
            ad: &[u8],
            buf: &mut [u8],
            tag: &[u8; AEAD_TAG_LEN],
        ) -> Result<(), DecryptFailed> {
            self.0
                .decrypt_in_place_detached(nonce.into(), ad, buf, tag.into())
                .map_err(|_| DecryptFailed)
        }
    }

    pub(crate) fn test_key(key: [u8; 16], nr: [u8; 12]) -> FrameKey {
        FrameKey {
            aead: Box::new(TestAes(Aes128Gcm::new(&key.into()))),
            nr,
        }
    }

    #[test]
    fn nonce_is_frame_id_xor_nr() {
        let nr = [0xa0u8; 12];
        let n = frame_nonce(&nr, 0x0102_0304_0506_0708);
        assert_eq!(
            n,
            [0xa0, 0xa0, 0xa0, 0xa0, 0xa1, 0xa2, 0xa3, 0xa4, 0xa5, 0xa6, 0xa7, 0xa8]
        );
        assert_eq!(frame_nonce(&nr, 0), nr);
        assert_eq!(first_frame_offset(75), 75);
    }

    #[test]
    fn seal_layout_and_open_round_trip() {
        let k = test_key([1; 16], [2; 12]);
        let mut out = vec![0xee];
        let n = k.seal_append(75, true, true, b"hello", &mut out).unwrap();
        assert_eq!(n, 3 + 1 + 5 + 16);
        assert_eq!(out.len(), 1 + n);
        assert_eq!(&out[1..4], &[0x01, 0x00, 22]);
        // Independent check: AES-GCM over flags||data with AD = header, nonce = ID ^ NR.
        let mut plain = vec![FLAG_FINP];
        plain.extend_from_slice(b"hello");
        let nonce = frame_nonce(&[2; 12], 75);
        let tag = Aes128Gcm::new(&[1u8; 16].into())
            .encrypt_in_place_detached((&nonce).into(), &[1, 0, 22], &mut plain)
            .unwrap();
        plain.extend_from_slice(&tag);
        assert_eq!(&out[4..], &plain[..]);

        let frame = &mut out[1..];
        let o = k.open_in_place(75, frame).unwrap();
        assert_eq!(
            o,
            Opened {
                rekey: true,
                fin: true,
                urgent: None,
                data: b"hello"
            }
        );
    }

    #[test]
    fn wrong_offset_or_any_flipped_bit_fails_without_plaintext() {
        let k = test_key([9; 16], [3; 12]);
        let mut out = Vec::new();
        k.seal_append(10, false, false, b"secret data", &mut out)
            .unwrap();
        assert_eq!(
            k.open_in_place(11, &mut out.clone()),
            Err(Error::DecryptFailed)
        );
        for bit in 0..out.len() * 8 {
            let mut f = out.clone();
            f[bit / 8] ^= 1 << (bit % 8);
            let r = k.open_in_place(10, &mut f);
            // Flipping clen changes the frame length: decode error, else DecryptFailed.
            assert!(r.is_err(), "bit {bit} accepted");
            if !(8..24).contains(&bit) {
                assert_eq!(r, Err(Error::DecryptFailed), "bit {bit}");
            }
        }
    }

    #[test]
    fn cres_and_fres_bits_are_ignored_and_urgent_parsed_strictly() {
        let k = test_key([4; 16], [5; 12]);
        // Build frames by hand: control with cres bits, flags with fres bits and URGp.
        let seal = |control: u8, plain: &[u8]| {
            let clen = (plain.len() + 16) as u16;
            let mut f = vec![control];
            f.extend_from_slice(&clen.to_be_bytes());
            f.extend_from_slice(plain);
            f.extend_from_slice(&[0; 16]);
            k.seal_in_place(0, &mut f).unwrap();
            f
        };
        let mut f = seal(0xfe, &[0xfc, b'x']);
        let o = k.open_in_place(0, &mut f).unwrap();
        assert!(!o.rekey && !o.fin && o.urgent.is_none());
        assert_eq!(o.data, b"x");
        let mut f = seal(0x00, &[FLAG_URGP, 0x00, 0x01, b'u', b'v']);
        let o = k.open_in_place(0, &mut f).unwrap();
        assert_eq!((o.urgent, o.data), (Some(1), &b"uv"[..]));
        let mut f = seal(0x00, &[FLAG_URGP, 0x00]);
        assert_eq!(
            k.open_in_place(0, &mut f),
            Err(DecodeError::BadUrgent { offset: 0 }.into())
        );
    }

    #[test]
    fn split_frame_checks_clen_and_completeness() {
        assert_eq!(split_frame(&[], 0), Ok(FrameSplit::Incomplete(3)));
        assert_eq!(split_frame(&[0, 0], 0), Ok(FrameSplit::Incomplete(3)));
        assert_eq!(
            split_frame(&[0, 0, 16], 7),
            Err(DecodeError::ClenTooShort {
                offset: 7,
                clen: 16
            })
        );
        assert_eq!(split_frame(&[0, 0, 17], 0), Ok(FrameSplit::Incomplete(20)));
        assert_eq!(
            split_frame(&[0u8; 25], 0).unwrap_err().to_string(),
            "frame clen too short"
        );
        let mut b = vec![0, 0, 17];
        b.extend_from_slice(&[0; 20]);
        assert_eq!(split_frame(&b, 0), Ok(FrameSplit::Frame(20)));
    }

    #[test]
    fn max_frame_data_fits_and_one_more_is_refused() {
        let k = test_key([6; 16], [7; 12]);
        let data = vec![0x5a; MAX_FRAME_DATA];
        let mut out = Vec::new();
        let n = k.seal_append(0, false, false, &data, &mut out).unwrap();
        assert_eq!(n, MAX_FRAME_LEN);
        assert_eq!(&out[1..3], &[0xff, 0xff]);
        assert_eq!(
            k.open_in_place(0, &mut out).unwrap().data.len(),
            MAX_FRAME_DATA
        );
        let data = vec![0; MAX_FRAME_DATA + 1];
        assert_eq!(
            k.seal_append(0, false, false, &data, &mut Vec::new()),
            Err(ProtocolError::FrameTooLong)
        );
    }
}
