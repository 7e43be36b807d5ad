//! RFC 8547 §4.1, §4.4: errors of the ENO option codec.
//!
//! [`EnoError`] is what the parser reports for an ill-formed option; RFC 8547 §4.4 and §4.6
//! rule 1 say the reaction is to ignore the option and disable encryption, which
//! [`crate::Negotiation`] turns into [`crate::DisableReason::IllFormed`]. [`EmitError`] is what
//! the encoder reports for a [`crate::SynOption`] that has no valid wire encoding.
//!
//! The `Display` strings are short and stable: the conformance shim prints them as the
//! `"error"` of an `eno_parse` case (for example `"length byte not followed by a v=1 TEP byte"`).

use thiserror::Error;

/// Why an ENO option could not be parsed.
///
/// Every variant carries `offset`: the index of the offending byte in the slice given to the
/// parser (for [`crate::SynOption::parse_option`] that is the whole option, kind byte at 0;
/// for [`crate::SynOption::parse`] the contents, first suboption at 0).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum EnoError {
    /// The slice is shorter than the kind and length bytes.
    #[error("option shorter than its kind and length bytes")]
    Truncated {
        /// Where the missing byte would be.
        offset: usize,
    },
    /// The kind byte is not 69 (RFC 8547 §11).
    #[error("not an ENO option (kind is not 69)")]
    NotEno {
        /// Offset of the kind byte (0).
        offset: usize,
        /// The kind found.
        kind: u8,
    },
    /// The TCP option length byte disagrees with the size of the slice (or is below 2).
    #[error("option length byte does not match the option size")]
    LengthMismatch {
        /// Offset of the length byte (1).
        offset: usize,
        /// The declared length.
        declared: u8,
        /// The size of the slice.
        actual: usize,
    },
    /// A length byte (0x80..=0x9f) is the last byte of the option (RFC 8547 §4.4 rule 1:
    /// its data would extend beyond the end).
    #[error("length byte at end of option")]
    LengthByteAtEnd {
        /// Offset of the length byte.
        offset: usize,
    },
    /// A length byte is followed by an octet in 0x00..=0x9f (RFC 8547 §4.4 rule 2).
    #[error("length byte not followed by a v=1 TEP byte")]
    LengthByteNotFollowedByTep {
        /// Offset of the byte after the length byte.
        offset: usize,
        /// That byte.
        found: u8,
    },
    /// A length byte announces more data than the option holds (RFC 8547 §4.4 rule 1).
    #[error("suboption data runs past the end of the option")]
    DataOverrun {
        /// Offset of the length byte.
        offset: usize,
        /// Data bytes announced by the length byte (1..=32).
        announced: usize,
        /// Data bytes actually left after the TEP byte.
        available: usize,
    },
}

impl EnoError {
    /// Index of the offending byte in the parsed slice.
    pub fn offset(&self) -> usize {
        match *self {
            EnoError::Truncated { offset }
            | EnoError::NotEno { offset, .. }
            | EnoError::LengthMismatch { offset, .. }
            | EnoError::LengthByteAtEnd { offset }
            | EnoError::LengthByteNotFollowedByTep { offset, .. }
            | EnoError::DataOverrun { offset, .. } => offset,
        }
    }

    /// The same error with `offset` moved by `by` bytes (contents offset → option offset).
    pub(crate) fn shifted(self, by: usize) -> Self {
        match self {
            EnoError::Truncated { offset } => EnoError::Truncated {
                offset: offset.saturating_add(by),
            },
            EnoError::NotEno { offset, kind } => EnoError::NotEno {
                offset: offset.saturating_add(by),
                kind,
            },
            EnoError::LengthMismatch {
                offset,
                declared,
                actual,
            } => EnoError::LengthMismatch {
                offset: offset.saturating_add(by),
                declared,
                actual,
            },
            EnoError::LengthByteAtEnd { offset } => EnoError::LengthByteAtEnd {
                offset: offset.saturating_add(by),
            },
            EnoError::LengthByteNotFollowedByTep { offset, found } => {
                EnoError::LengthByteNotFollowedByTep {
                    offset: offset.saturating_add(by),
                    found,
                }
            }
            EnoError::DataOverrun {
                offset,
                announced,
                available,
            } => EnoError::DataOverrun {
                offset: offset.saturating_add(by),
                announced,
                available,
            },
        }
    }
}

/// Why a [`crate::SynOption`] cannot be encoded.
///
/// `index` is the position of the offending suboption in
/// [`crate::SynOption::suboptions`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum EmitError {
    /// A TEP identifier outside 0x20..=0x7f.
    #[error("TEP identifier outside 0x20..=0x7f")]
    InvalidTep {
        /// Suboption index.
        index: usize,
        /// The identifier.
        tep: u8,
    },
    /// A suboption with `v = 0` carries data (RFC 8547 §4.1: only `v = 1` has data).
    #[error("suboption with v=0 carries data")]
    DataWithoutV {
        /// Suboption index.
        index: usize,
    },
    /// A `v = 1` suboption with no data that is not last: a length byte cannot say 0 bytes,
    /// and without one it would swallow the rest of the option (RFC 8547 §4.4).
    #[error("v=1 suboption without data is not last")]
    EmptyDataNotLast {
        /// Suboption index.
        index: usize,
    },
    /// More than 32 data bytes in a suboption that is not last (RFC 8547 §4.4).
    #[error("suboption data over 32 bytes is not last")]
    DataTooLongNotLast {
        /// Suboption index.
        index: usize,
        /// Its data length.
        len: usize,
    },
    /// The encoded option exceeds the 40 bytes of TCP option space.
    #[error("ENO option longer than 40 bytes")]
    TooLong {
        /// The encoded length, kind and length bytes included.
        len: usize,
    },
    /// The output buffer is too small.
    #[error("output buffer too small")]
    BufferTooSmall {
        /// Bytes needed.
        needed: usize,
        /// Bytes available.
        available: usize,
    },
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn conformance_string_for_length_byte_followed_by_non_tep() {
        let e = EnoError::LengthByteNotFollowedByTep {
            offset: 4,
            found: 0x23,
        };
        assert_eq!(e.to_string(), "length byte not followed by a v=1 TEP byte");
    }

    #[test]
    fn shifted_moves_only_the_offset() {
        let e = EnoError::DataOverrun {
            offset: 3,
            announced: 4,
            available: 1,
        };
        assert_eq!(
            e.shifted(2),
            EnoError::DataOverrun {
                offset: 5,
                announced: 4,
                available: 1
            }
        );
        assert_eq!(e.shifted(2).offset(), 5);
    }
}
