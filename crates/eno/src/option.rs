//! RFC 8547 §4.1, §4.2, §4.4: the ENO TCP option (kind 69) and its SYN-form suboptions.
//!
//! ```text
//! byte 0      byte 1        bytes 2 .. N+1
//! kind = 69   len = N + 2   contents (N bytes)
//! ```
//!
//! SYN-form contents are a list of suboptions. Each starts with a byte `v | glt`
//! (RFC 8547 §4.1, Table 1):
//!
//! | first byte | meaning |
//! |---|---|
//! | 0x00..=0x1f | global suboption (§4.2), only the first one counts |
//! | 0x80..=0x9f | length byte (§4.4): the next suboption is a `v = 1` TEP with `nnnnn + 1` data bytes |
//! | 0x20..=0x7f | TEP identifier without data |
//! | 0xa0..=0xff | TEP identifier with data up to the end of the option |
//!
//! Non-SYN-form options are only looked at for presence; we send [`NON_SYN_OPTION`].

use crate::error::{EmitError, EnoError};
use crate::tep::TepId;

/// TCP option kind of TCP-ENO (RFC 8547 §11).
pub const ENO_KIND: u8 = 69;
/// The non-SYN-form option we send (RFC 8547 §4.1: N = 0 unless the TEP says otherwise;
/// tcpcrypt does not): `45 02`.
pub const NON_SYN_OPTION: [u8; 2] = [ENO_KIND, 2];
/// Largest ENO option that fits in a TCP header (40 bytes of option space).
pub const MAX_OPTION_LEN: usize = 40;
/// Most data bytes a length byte can announce (RFC 8547 §4.4: `nnnnn + 1` ≤ 32).
pub const MAX_LENGTH_BYTE_DATA: usize = 32;

/// The `v` bit of a suboption's first byte (RFC 8547 §4.1, Figure 4).
const V_BIT: u8 = 0x80;
/// The `glt` bits of a suboption's first byte.
const GLT_MASK: u8 = 0x7f;
/// First byte value that is a TEP identifier (v = 0).
const TEP_MIN: u8 = 0x20;
/// First byte value that is a TEP identifier with v = 1.
const TEP_V_MIN: u8 = 0xa0;
/// Mask of `nnnnn` in a length byte (RFC 8547 §4.4, Figure 6).
const LENGTH_MASK: u8 = 0x1f;
/// Passive role bit `b` (RFC 8547 §4.2, Figure 5).
const GLOBAL_B: u8 = 0x01;
/// Application-aware bit `a` (RFC 8547 §4.2, Figure 5).
const GLOBAL_A: u8 = 0x02;

/// RFC 8547 §4.2: the global suboption. Only `a` and `b` are defined; the `z` bits are sent as
/// zero and ignored on receipt, so they are not represented.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct GlobalSuboption {
    /// Application-aware bit (bit 1).
    pub a: bool,
    /// Passive role bit (bit 0): 1 means host B.
    pub b: bool,
}

impl GlobalSuboption {
    /// The implicit global suboption 0x00 of a SYN without one (RFC 8547 §4.2).
    pub const IMPLICIT: GlobalSuboption = GlobalSuboption { a: false, b: false };

    /// Decodes a global suboption byte (0x00..=0x1f), ignoring the `z` bits.
    pub const fn from_byte(byte: u8) -> Self {
        GlobalSuboption {
            a: byte & GLOBAL_A != 0,
            b: byte & GLOBAL_B != 0,
        }
    }

    /// Encodes the byte, `z` bits zero.
    pub const fn to_byte(self) -> u8 {
        (if self.a { GLOBAL_A } else { 0 }) | (if self.b { GLOBAL_B } else { 0 })
    }
}

/// RFC 8547 §4.1, §4.4: a TEP suboption: identifier, `v` bit and suboption data.
///
/// A suboption with `v = false` has no data. A suboption with `v = true` normally has data; it
/// may have none only when it is the last one of the option.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Suboption {
    /// 7-bit TEP identifier (`glt`, 0x20..=0x7f).
    pub tep: u8,
    /// The `v` bit.
    pub v: bool,
    /// Suboption data (empty when `v` is false).
    pub data: Vec<u8>,
}

impl Suboption {
    /// A data-less `v = 0` suboption for `tep`.
    pub fn new(tep: u8) -> Self {
        Suboption {
            tep,
            v: false,
            data: Vec::new(),
        }
    }

    /// A `v = 1` suboption for `tep` carrying `data`.
    pub fn with_data(tep: u8, data: Vec<u8>) -> Self {
        Suboption { tep, v: true, data }
    }

    /// The TEP identifier as a [`TepId`].
    pub fn tep_id(&self) -> TepId {
        TepId(self.tep & GLT_MASK)
    }

    /// The suboption's first byte as sent: `v` bit and `glt` (the session-ID byte when this
    /// suboption is the negotiated one in host B's option, RFC 8547 §5.1).
    pub fn first_byte(&self) -> u8 {
        (self.tep & GLT_MASK) | if self.v { V_BIT } else { 0 }
    }

    /// Encoded size of this suboption at position `last` or not (no validation).
    fn encoded_len(&self, last: bool) -> usize {
        let length_byte = usize::from(self.v && !last && !self.data.is_empty());
        1 + length_byte + self.data.len()
    }
}

/// RFC 8547 §4.1: the parsed contents of a SYN-form ENO option.
///
/// `global` is the *first* global suboption found (later ones are ignored, §4.2), `None` if
/// the option had none (implicit 0x00). `suboptions` are the TEP suboptions in wire order.
/// Parsing and emitting round-trip: `parse_option(&x.to_bytes()?) == x` for every encodable
/// `x`; [`SynOption::emit`] writes the shortest encoding (global first, length bytes only for
/// data-carrying suboptions that are not last).
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct SynOption {
    /// First global suboption, if one was present.
    pub global: Option<GlobalSuboption>,
    /// TEP suboptions, in order (host B lists them in rising priority).
    pub suboptions: Vec<Suboption>,
}

impl SynOption {
    /// Parses SYN-form contents (the bytes after kind and length), RFC 8547 §4.1–§4.4.
    ///
    /// Ill-formed (RFC 8547 §4.4): a length byte at the end, a length byte followed by
    /// 0x00..=0x9f, or data announced past the end. Error offsets index `contents`.
    pub fn parse(contents: &[u8]) -> Result<SynOption, EnoError> {
        let mut global = None;
        let mut suboptions = Vec::new();
        let mut i = 0usize;
        while let Some(&x) = contents.get(i) {
            if x < TEP_MIN {
                // v = 0, glt < 0x20: global suboption; only the first one counts (§4.2).
                if global.is_none() {
                    global = Some(GlobalSuboption::from_byte(x));
                }
                i += 1;
            } else if x < V_BIT {
                suboptions.push(Suboption::new(x));
                i += 1;
            } else if x < TEP_V_MIN {
                // Length byte (§4.4).
                let announced = usize::from(x & LENGTH_MASK) + 1;
                let tep_at = i + 1;
                let Some(&t) = contents.get(tep_at) else {
                    return Err(EnoError::LengthByteAtEnd { offset: i });
                };
                if t < TEP_V_MIN {
                    return Err(EnoError::LengthByteNotFollowedByTep {
                        offset: tep_at,
                        found: t,
                    });
                }
                let start = tep_at + 1;
                let end = start + announced;
                let Some(data) = contents.get(start..end) else {
                    return Err(EnoError::DataOverrun {
                        offset: i,
                        announced,
                        available: contents.len().saturating_sub(start),
                    });
                };
                suboptions.push(Suboption::with_data(t & GLT_MASK, data.to_vec()));
                i = end;
            } else {
                // v = 1 TEP without a length byte: data runs to the end of the option.
                let data = contents.get(i + 1..).unwrap_or_default();
                suboptions.push(Suboption::with_data(x & GLT_MASK, data.to_vec()));
                i = contents.len();
            }
        }
        Ok(SynOption { global, suboptions })
    }

    /// Parses a whole SYN-form ENO option as it appears in the TCP header: kind 69, length
    /// byte equal to `option.len()`, contents. Error offsets index `option`.
    pub fn parse_option(option: &[u8]) -> Result<SynOption, EnoError> {
        let contents = option_contents(option)?;
        SynOption::parse(contents).map_err(|e| e.shifted(2))
    }

    /// The global suboption in force: the first explicit one, or the implicit 0x00.
    pub fn global_or_implicit(&self) -> GlobalSuboption {
        self.global.unwrap_or(GlobalSuboption::IMPLICIT)
    }

    /// The TEP suboptions in order.
    pub fn suboptions(&self) -> &[Suboption] {
        &self.suboptions
    }

    /// A vacuous option has no TEP suboption (RFC 8547 §4.6).
    pub fn is_vacuous(&self) -> bool {
        self.suboptions.is_empty()
    }

    /// The SYN TEP (RFC 8547 §4.7): the last TEP identifier, the only one that may give SYN
    /// data a meaning.
    pub fn syn_tep(&self) -> Option<u8> {
        self.suboptions.last().map(|s| s.tep & GLT_MASK)
    }

    /// Whether some suboption has 7-bit identifier `tep` (the `v` bit is not compared).
    pub fn offers(&self, tep: u8) -> bool {
        self.suboptions
            .iter()
            .any(|s| s.tep & GLT_MASK == tep & GLT_MASK)
    }

    /// Size of the whole encoded option (kind and length included), assuming it is encodable.
    pub fn buffer_len(&self) -> usize {
        let n = self.suboptions.len();
        let subs: usize = self
            .suboptions
            .iter()
            .enumerate()
            .map(|(i, s)| s.encoded_len(i + 1 == n))
            .sum();
        2 + usize::from(self.global.is_some()) + subs
    }

    /// Checks that the option has a valid encoding and returns its size.
    fn check(&self) -> Result<usize, EmitError> {
        let n = self.suboptions.len();
        for (index, s) in self.suboptions.iter().enumerate() {
            let last = index + 1 == n;
            if !TepId(s.tep).is_tep() {
                return Err(EmitError::InvalidTep { index, tep: s.tep });
            }
            if !s.v && !s.data.is_empty() {
                return Err(EmitError::DataWithoutV { index });
            }
            if s.v && !last {
                if s.data.is_empty() {
                    return Err(EmitError::EmptyDataNotLast { index });
                }
                if s.data.len() > MAX_LENGTH_BYTE_DATA {
                    return Err(EmitError::DataTooLongNotLast {
                        index,
                        len: s.data.len(),
                    });
                }
            }
        }
        let len = self.buffer_len();
        if len > MAX_OPTION_LEN {
            return Err(EmitError::TooLong { len });
        }
        Ok(len)
    }

    /// Writes the whole option (kind, length, contents) in its shortest encoding into the
    /// front of `buf`; returns the number of bytes written.
    pub fn emit(&self, buf: &mut [u8]) -> Result<usize, EmitError> {
        let len = self.check()?;
        let available = buf.len();
        let out = buf.get_mut(..len).ok_or(EmitError::BufferTooSmall {
            needed: len,
            available,
        })?;
        let mut w = Writer { out, pos: 0 };
        w.put(ENO_KIND);
        // `check` bounded len by MAX_OPTION_LEN (40), so it fits a byte.
        w.put(u8::try_from(len).map_err(|_| EmitError::TooLong { len })?);
        if let Some(g) = self.global {
            w.put(g.to_byte());
        }
        let n = self.suboptions.len();
        for (i, s) in self.suboptions.iter().enumerate() {
            if s.v && i + 1 != n {
                // 1 ≤ data.len() ≤ 32 checked above.
                let nnnnn = u8::try_from(s.data.len() - 1).unwrap_or(LENGTH_MASK) & LENGTH_MASK;
                w.put(V_BIT | nnnnn);
            }
            w.put(s.first_byte());
            for &d in &s.data {
                w.put(d);
            }
        }
        Ok(w.pos)
    }

    /// The whole encoded option as a vector.
    pub fn to_bytes(&self) -> Result<Vec<u8>, EmitError> {
        let mut v = vec![0u8; self.buffer_len()];
        let n = self.emit(&mut v)?;
        v.truncate(n);
        Ok(v)
    }
}

/// Checks kind and length of a whole ENO option and returns its contents.
///
/// Works for both SYN-form and non-SYN-form options (RFC 8547 §4.1, Figure 1).
pub fn option_contents(option: &[u8]) -> Result<&[u8], EnoError> {
    let (&kind, rest) = option
        .split_first()
        .ok_or(EnoError::Truncated { offset: 0 })?;
    if kind != ENO_KIND {
        return Err(EnoError::NotEno { offset: 0, kind });
    }
    let (&declared, contents) = rest
        .split_first()
        .ok_or(EnoError::Truncated { offset: 1 })?;
    if usize::from(declared) != option.len() || declared < 2 {
        return Err(EnoError::LengthMismatch {
            offset: 1,
            declared,
            actual: option.len(),
        });
    }
    Ok(contents)
}

/// Bounded byte writer over a slice sized by [`SynOption::check`]; never panics.
struct Writer<'a> {
    out: &'a mut [u8],
    pos: usize,
}

impl Writer<'_> {
    fn put(&mut self, b: u8) {
        if let Some(slot) = self.out.get_mut(self.pos) {
            *slot = b;
        }
        self.pos += 1;
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn sub(tep: u8) -> Suboption {
        Suboption::new(tep)
    }

    #[test]
    fn parses_conformance_sample_global_tep_lengthbyte_tep() {
        let o = SynOption::parse_option(&[0x45, 0x09, 0x01, 0x21, 0x81, 0xa3, 0xaa, 0xbb, 0x24])
            .unwrap();
        assert_eq!(o.global, Some(GlobalSuboption { a: false, b: true }));
        assert_eq!(
            o.suboptions,
            vec![
                sub(0x21),
                Suboption::with_data(0x23, vec![0xaa, 0xbb]),
                sub(0x24)
            ]
        );
    }

    #[test]
    fn length_byte_at_end_is_ill_formed() {
        assert_eq!(
            SynOption::parse(&[0x21, 0x80]),
            Err(EnoError::LengthByteAtEnd { offset: 1 })
        );
        assert_eq!(
            SynOption::parse_option(&[0x45, 0x04, 0x21, 0x80]).unwrap_err(),
            EnoError::LengthByteAtEnd { offset: 3 }
        );
    }

    #[test]
    fn length_byte_followed_by_each_of_0x00_to_0x9f_is_ill_formed() {
        for t in 0x00u8..=0x9f {
            let r = SynOption::parse(&[0x80, t, 0xaa]);
            assert_eq!(
                r,
                Err(EnoError::LengthByteNotFollowedByTep {
                    offset: 1,
                    found: t
                }),
                "byte {t:#04x}"
            );
        }
        // The sample: length byte followed by v=0 TEP 0x23.
        let e = SynOption::parse_option(&[0x45, 0x07, 0x01, 0x81, 0x23, 0x23, 0x24]).unwrap_err();
        assert_eq!(e.to_string(), "length byte not followed by a v=1 TEP byte");
        assert_eq!(e.offset(), 4);
    }

    #[test]
    fn length_byte_followed_by_0xa0_to_0xff_is_a_tep_with_data() {
        for t in 0xa0u8..=0xff {
            let o = SynOption::parse(&[0x80, t, 0x55]).unwrap();
            assert_eq!(
                o.suboptions,
                vec![Suboption::with_data(t & 0x7f, vec![0x55])]
            );
        }
    }

    #[test]
    fn length_byte_overrun_is_ill_formed() {
        // 0x82 announces 3 bytes, only 2 follow the TEP byte.
        assert_eq!(
            SynOption::parse(&[0x82, 0xa3, 1, 2]),
            Err(EnoError::DataOverrun {
                offset: 0,
                announced: 3,
                available: 2
            })
        );
        // Length byte then TEP byte at the very end: 1 byte announced, 0 left.
        assert_eq!(
            SynOption::parse(&[0x21, 0x80, 0xa3]),
            Err(EnoError::DataOverrun {
                offset: 1,
                announced: 1,
                available: 0
            })
        );
        // 0x9f announces 32 bytes.
        let mut c = vec![0x9f, 0xa3];
        c.extend([7u8; 31]);
        assert!(matches!(
            SynOption::parse(&c),
            Err(EnoError::DataOverrun {
                announced: 32,
                available: 31,
                ..
            })
        ));
        c.push(7);
        assert_eq!(
            SynOption::parse(&c).unwrap().suboptions,
            vec![Suboption::with_data(0x23, vec![7u8; 32])]
        );
    }

    #[test]
    fn missing_global_is_implicit_0x00() {
        let o = SynOption::parse(&[0x21, 0x23]).unwrap();
        assert_eq!(o.global, None);
        assert_eq!(
            o.global_or_implicit(),
            GlobalSuboption { a: false, b: false }
        );
    }

    #[test]
    fn first_global_wins_later_ones_ignored() {
        let o = SynOption::parse(&[0x02, 0x23, 0x01, 0x03]).unwrap();
        assert_eq!(o.global, Some(GlobalSuboption { a: true, b: false }));
        assert_eq!(o.suboptions, vec![sub(0x23)]);
    }

    #[test]
    fn z_bits_are_ignored() {
        for z in [0x04u8, 0x08, 0x10, 0x1c] {
            let o = SynOption::parse(&[z | 0x01]).unwrap();
            assert_eq!(o.global, Some(GlobalSuboption { a: false, b: true }));
            assert_eq!(GlobalSuboption::from_byte(z | 0x03).to_byte(), 0x03);
        }
    }

    #[test]
    fn v1_tep_without_length_byte_swallows_the_rest() {
        // 0xa3 owns 0x21 0x01 0x80 as data: none of them is parsed as a suboption.
        let o = SynOption::parse(&[0x22, 0xa3, 0x21, 0x01, 0x80]).unwrap();
        assert_eq!(o.global, None);
        assert_eq!(
            o.suboptions,
            vec![
                sub(0x22),
                Suboption::with_data(0x23, vec![0x21, 0x01, 0x80])
            ]
        );
    }

    #[test]
    fn v1_tep_at_end_has_empty_data() {
        let o = SynOption::parse(&[0xa3]).unwrap();
        assert_eq!(o.suboptions, vec![Suboption::with_data(0x23, vec![])]);
        assert_eq!(o.to_bytes().unwrap(), vec![0x45, 0x03, 0xa3]);
    }

    #[test]
    fn vacuous_options_parse_as_no_teps() {
        let o = SynOption::parse_option(&[0x45, 0x02]).unwrap();
        assert!(o.is_vacuous());
        assert_eq!(o.global, None);
        let o = SynOption::parse_option(&[0x45, 0x03, 0x01]).unwrap();
        assert!(o.is_vacuous());
        assert_eq!(o.global, Some(GlobalSuboption { a: false, b: true }));
    }

    #[test]
    fn option_header_errors() {
        assert_eq!(
            SynOption::parse_option(&[]),
            Err(EnoError::Truncated { offset: 0 })
        );
        assert_eq!(
            SynOption::parse_option(&[0x45]),
            Err(EnoError::Truncated { offset: 1 })
        );
        assert_eq!(
            SynOption::parse_option(&[0xfd, 0x02]),
            Err(EnoError::NotEno {
                offset: 0,
                kind: 0xfd
            })
        );
        assert_eq!(
            SynOption::parse_option(&[0x45, 0x04, 0x21]),
            Err(EnoError::LengthMismatch {
                offset: 1,
                declared: 4,
                actual: 3
            })
        );
    }

    #[test]
    fn emit_uses_length_bytes_only_for_non_last_data() {
        let o = SynOption {
            global: Some(GlobalSuboption { a: false, b: true }),
            suboptions: vec![
                Suboption::with_data(0x23, vec![0xaa, 0xbb]),
                sub(0x21),
                Suboption::with_data(0x24, vec![1, 2, 3]),
            ],
        };
        assert_eq!(o.buffer_len(), 12);
        assert_eq!(
            o.to_bytes().unwrap(),
            vec![0x45, 12, 0x01, 0x81, 0xa3, 0xaa, 0xbb, 0x21, 0xa4, 1, 2, 3]
        );
    }

    #[test]
    fn emit_rejects_unencodable_options() {
        let bad = |subs: Vec<Suboption>| {
            SynOption {
                global: None,
                suboptions: subs,
            }
            .to_bytes()
            .unwrap_err()
        };
        assert_eq!(
            bad(vec![Suboption::with_data(0x23, vec![0; 33]), sub(0x21)]),
            EmitError::DataTooLongNotLast { index: 0, len: 33 }
        );
        assert_eq!(
            bad(vec![Suboption::with_data(0x23, vec![]), sub(0x21)]),
            EmitError::EmptyDataNotLast { index: 0 }
        );
        assert_eq!(
            bad(vec![Suboption {
                tep: 0x23,
                v: false,
                data: vec![1]
            }]),
            EmitError::DataWithoutV { index: 0 }
        );
        assert_eq!(
            bad(vec![sub(0x1f)]),
            EmitError::InvalidTep {
                index: 0,
                tep: 0x1f
            }
        );
        assert_eq!(
            bad(vec![Suboption::with_data(0x23, vec![0; 38])]),
            EmitError::TooLong { len: 41 }
        );
        // Over 32 bytes is fine when last, within the 40-byte budget.
        let ok = SynOption {
            global: None,
            suboptions: vec![Suboption::with_data(0x23, vec![9; 37])],
        };
        assert_eq!(
            SynOption::parse_option(&ok.to_bytes().unwrap()).unwrap(),
            ok
        );
    }

    #[test]
    fn emit_reports_small_buffer() {
        let o = SynOption {
            global: None,
            suboptions: vec![sub(0x21), sub(0x23)],
        };
        let mut buf = [0u8; 3];
        assert_eq!(
            o.emit(&mut buf),
            Err(EmitError::BufferTooSmall {
                needed: 4,
                available: 3
            })
        );
        let mut buf = [0u8; 8];
        assert_eq!(o.emit(&mut buf), Ok(4));
        assert_eq!(&buf[..4], &[0x45, 0x04, 0x21, 0x23]);
    }

    #[test]
    fn first_byte_keeps_v_bit() {
        assert_eq!(Suboption::with_data(0x23, vec![1]).first_byte(), 0xa3);
        assert_eq!(sub(0x23).first_byte(), 0x23);
    }
}
