//! The tcpcrypt TEPs (RFC 8548 §5, §7) and AEAD algorithms (RFC 8548 §6, §7).

use crate::consts::AEAD_NONCE_LEN;

/// A tcpcrypt TCP Encryption Protocol identifier (RFC 8548 §5, §7).
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Tep {
    /// TCPCRYPT_ECDHE_P256 (0x21), OPTIONAL.
    P256,
    /// TCPCRYPT_ECDHE_P521 (0x22), OPTIONAL.
    P521,
    /// TCPCRYPT_ECDHE_Curve25519 (0x23), REQUIRED.
    X25519,
    /// TCPCRYPT_ECDHE_Curve448 (0x24), RECOMMENDED.
    X448,
}

impl Tep {
    /// All tcpcrypt TEPs, in identifier order.
    pub const ALL: [Tep; 4] = [Tep::P256, Tep::P521, Tep::X25519, Tep::X448];

    /// The 7-bit ENO TEP identifier (glt).
    pub const fn id(self) -> u8 {
        match self {
            Tep::P256 => 0x21,
            Tep::P521 => 0x22,
            Tep::X25519 => 0x23,
            Tep::X448 => 0x24,
        }
    }

    /// The TEP for a 7-bit identifier (the v bit must already be masked off).
    pub const fn from_id(id: u8) -> Option<Tep> {
        match id {
            0x21 => Some(Tep::P256),
            0x22 => Some(Tep::P521),
            0x23 => Some(Tep::X25519),
            0x24 => Some(Tep::X448),
            _ => None,
        }
    }

    /// Length of the public key as encoded in Init1/Init2 (RFC 8548 §5): raw for
    /// X25519/X448, 2-byte length + compressed point for P-256/P-521.
    pub const fn pub_len(self) -> usize {
        match self {
            Tep::P256 => 2 + 33,
            Tep::P521 => 2 + 67,
            Tep::X25519 => 32,
            Tep::X448 => 56,
        }
    }
}

/// A tcpcrypt AEAD algorithm, by its `sym_cipher` identifier (RFC 8548 §6, §7).
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Cipher {
    /// AEAD_AES_128_GCM (0x0001), REQUIRED.
    Aes128Gcm,
    /// AEAD_AES_256_GCM (0x0002), RECOMMENDED.
    Aes256Gcm,
    /// AEAD_CHACHA20_POLY1305 (0x0010), RECOMMENDED.
    ChaCha20Poly1305,
}

impl Cipher {
    /// All tcpcrypt AEADs, in identifier order.
    pub const ALL: [Cipher; 3] = [
        Cipher::Aes128Gcm,
        Cipher::Aes256Gcm,
        Cipher::ChaCha20Poly1305,
    ];

    /// The 16-bit `sym_cipher` identifier.
    pub const fn id(self) -> u16 {
        match self {
            Cipher::Aes128Gcm => 0x0001,
            Cipher::Aes256Gcm => 0x0002,
            Cipher::ChaCha20Poly1305 => 0x0010,
        }
    }

    /// The AEAD for a `sym_cipher` identifier, if we implement it.
    pub const fn from_id(id: u16) -> Option<Cipher> {
        match id {
            0x0001 => Some(Cipher::Aes128Gcm),
            0x0002 => Some(Cipher::Aes256Gcm),
            0x0010 => Some(Cipher::ChaCha20Poly1305),
            _ => None,
        }
    }

    /// ae_key_len.
    pub const fn key_len(self) -> usize {
        match self {
            Cipher::Aes128Gcm => 16,
            Cipher::Aes256Gcm | Cipher::ChaCha20Poly1305 => 32,
        }
    }

    /// ae_key_len + ae_nonce_len: the length of a traffic key k_ab/k_ba (RFC 8548 §3.3).
    pub const fn traffic_key_len(self) -> usize {
        self.key_len() + AEAD_NONCE_LEN
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identifiers_match_rfc8548_section_7() {
        assert_eq!(Tep::ALL.map(Tep::id), [0x21, 0x22, 0x23, 0x24],);
        assert_eq!(Cipher::ALL.map(Cipher::id), [0x0001, 0x0002, 0x0010]);
        for t in Tep::ALL {
            assert_eq!(Tep::from_id(t.id()), Some(t));
        }
        for c in Cipher::ALL {
            assert_eq!(Cipher::from_id(c.id()), Some(c));
        }
        assert_eq!(Tep::from_id(0x20), None);
        assert_eq!(Cipher::from_id(0x0003), None);
        assert_eq!(Cipher::Aes128Gcm.traffic_key_len(), 28);
        assert_eq!(Cipher::Aes256Gcm.traffic_key_len(), 44);
        assert_eq!(Cipher::ChaCha20Poly1305.traffic_key_len(), 44);
    }
}
