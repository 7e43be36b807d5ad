//! RFC 8547 §3, §4.1, §11: TCP Encryption Protocol (TEP) identifiers.
//!
//! A TEP identifier is the 7-bit `glt` value (0x20..=0x7f) of a suboption's first byte. The
//! registry's initial contents are the Experimental Use value (RFC 8547 §11) and the four
//! tcpcrypt TEPs (RFC 8548 §7). Unknown values are kept as they are: an unknown id is just a
//! TEP we do not implement.

use core::fmt;

/// A 7-bit TEP identifier (`glt` ≥ 0x20) as carried in an ENO suboption, without the `v` bit.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct TepId(pub u8);

impl TepId {
    /// Smallest TEP identifier; smaller `glt` values are global suboptions or length bytes.
    pub const MIN: TepId = TepId(0x20);
    /// Largest TEP identifier (7 bits).
    pub const MAX: TepId = TepId(0x7f);
    /// 0x20: Experimental Use (RFC 8547 §11).
    pub const EXPERIMENTAL: TepId = TepId(0x20);
    /// 0x21: TCPCRYPT_ECDHE_P256 (RFC 8548 §5, §7; OPTIONAL).
    pub const TCPCRYPT_ECDHE_P256: TepId = TepId(0x21);
    /// 0x22: TCPCRYPT_ECDHE_P521 (RFC 8548 §5, §7; OPTIONAL).
    pub const TCPCRYPT_ECDHE_P521: TepId = TepId(0x22);
    /// 0x23: TCPCRYPT_ECDHE_Curve25519 (RFC 8548 §5, §7; REQUIRED).
    pub const TCPCRYPT_ECDHE_CURVE25519: TepId = TepId(0x23);
    /// 0x24: TCPCRYPT_ECDHE_Curve448 (RFC 8548 §5, §7; RECOMMENDED).
    pub const TCPCRYPT_ECDHE_CURVE448: TepId = TepId(0x24);
    /// Short alias of [`TepId::TCPCRYPT_ECDHE_CURVE25519`].
    pub const X25519: TepId = TepId::TCPCRYPT_ECDHE_CURVE25519;
    /// Short alias of [`TepId::TCPCRYPT_ECDHE_CURVE448`].
    pub const X448: TepId = TepId::TCPCRYPT_ECDHE_CURVE448;
    /// Short alias of [`TepId::TCPCRYPT_ECDHE_P256`].
    pub const P256: TepId = TepId::TCPCRYPT_ECDHE_P256;
    /// Short alias of [`TepId::TCPCRYPT_ECDHE_P521`].
    pub const P521: TepId = TepId::TCPCRYPT_ECDHE_P521;

    /// Whether this value is a TEP identifier at all (0x20..=0x7f), as opposed to a global
    /// suboption / length byte `glt` (< 0x20) or a byte with the `v` bit set (≥ 0x80).
    pub const fn is_tep(self) -> bool {
        self.0 >= Self::MIN.0 && self.0 <= Self::MAX.0
    }

    /// Whether the identifier lies in 0x70..=0x7f, reserved for extended values (RFC 8547 §11).
    pub const fn is_reserved_extended(self) -> bool {
        self.0 >= 0x70 && self.0 <= 0x7f
    }

    /// Whether the identifier is one of the four tcpcrypt TEPs 0x21..=0x24 (RFC 8548 §7).
    pub const fn is_tcpcrypt(self) -> bool {
        self.0 >= Self::TCPCRYPT_ECDHE_P256.0 && self.0 <= Self::TCPCRYPT_ECDHE_CURVE448.0
    }

    /// The registry name of a known identifier, `None` for unassigned values.
    pub const fn name(self) -> Option<&'static str> {
        match self.0 {
            0x20 => Some("Experimental Use"),
            0x21 => Some("TCPCRYPT_ECDHE_P256"),
            0x22 => Some("TCPCRYPT_ECDHE_P521"),
            0x23 => Some("TCPCRYPT_ECDHE_Curve25519"),
            0x24 => Some("TCPCRYPT_ECDHE_Curve448"),
            _ => None,
        }
    }
}

impl From<u8> for TepId {
    fn from(v: u8) -> Self {
        TepId(v)
    }
}

impl From<TepId> for u8 {
    fn from(t: TepId) -> Self {
        t.0
    }
}

impl fmt::Display for TepId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.name() {
            Some(n) => write!(f, "{n} (0x{:02x})", self.0),
            None => write!(f, "0x{:02x}", self.0),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tcpcrypt_ids_match_rfc8548_registry() {
        assert_eq!(TepId::TCPCRYPT_ECDHE_P256.0, 0x21);
        assert_eq!(TepId::TCPCRYPT_ECDHE_P521.0, 0x22);
        assert_eq!(TepId::TCPCRYPT_ECDHE_CURVE25519.0, 0x23);
        assert_eq!(TepId::TCPCRYPT_ECDHE_CURVE448.0, 0x24);
        assert!(TepId(0x23).is_tcpcrypt());
        assert!(!TepId(0x25).is_tcpcrypt());
    }

    #[test]
    fn tep_range_excludes_global_and_v_bytes() {
        assert!(!TepId(0x1f).is_tep());
        assert!(TepId(0x20).is_tep());
        assert!(TepId(0x7f).is_tep());
        assert!(!TepId(0x80).is_tep());
        assert!(TepId(0x70).is_reserved_extended());
        assert!(!TepId(0x6f).is_reserved_extended());
    }

    #[test]
    fn display_names_known_and_hex_for_unknown() {
        assert_eq!(TepId(0x23).to_string(), "TCPCRYPT_ECDHE_Curve25519 (0x23)");
        assert_eq!(TepId(0x55).to_string(), "0x55");
    }
}
