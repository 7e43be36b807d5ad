//! RFC 8548 §3.1, §3.3–§3.5: the key schedule, built on HKDF-SHA256 (RFC 5869).
//!
//! `Extract(salt, IKM)` is HKDF-Extract; `CPRF(K, CONST, L)` is HKDF-Expand with
//! `info = CONST` (the one-byte constant, possibly followed by a session nonce), so the
//! HKDF counter byte comes after everything in `CONST`.

use hmac::digest::KeyInit;
use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};
use zeroize::{Zeroize, ZeroizeOnDrop};

use crate::consts::{
    AEAD_NONCE_LEN, CONST_KEY_A, CONST_KEY_B, CONST_NEXTK, CONST_REKEY, CONST_RESUME, CONST_SESSID,
    K_LEN, RESUME_ID_LEN, SESSION_ID_LEN,
};
use crate::suite::Cipher;

type HmacSha256 = Hmac<Sha256>;

/// A 32-byte secret of the key schedule (PRK = ss[0], ss[i], mk[j]). Zeroized on drop;
/// `Debug` never shows the bytes.
#[derive(Clone, Zeroize, ZeroizeOnDrop, PartialEq, Eq)]
pub struct Secret([u8; K_LEN]);

impl Secret {
    /// Wraps raw secret bytes.
    pub fn from_bytes(bytes: [u8; K_LEN]) -> Self {
        Secret(bytes)
    }

    /// The secret bytes (for the conformance shim and tests; never log them).
    pub fn expose(&self) -> &[u8; K_LEN] {
        &self.0
    }
}

impl core::fmt::Debug for Secret {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str("Secret(<redacted>)")
    }
}

/// HMAC-SHA256 keyed with `key` of any length (RFC 2104 §2: a key longer than the 64-byte
/// block is hashed first; a shorter one is padded with zeros, which is what the fixed-size
/// constructor needs, so no fallible call is left).
fn hmac(key: &[u8]) -> HmacSha256 {
    let mut block = [0u8; 64];
    if key.len() > block.len() {
        block[..32].copy_from_slice(&Sha256::digest(key));
    } else {
        block[..key.len()].copy_from_slice(key);
    }
    let mac = <HmacSha256 as KeyInit>::new(&block.into());
    block.zeroize();
    mac
}

/// HKDF-Extract(salt, IKM) with IKM given as the concatenation of `ikm` parts (RFC 5869 §2.2).
pub fn extract(salt: &[u8], ikm: &[&[u8]]) -> Secret {
    let mut m = hmac(salt);
    for part in ikm {
        m.update(part);
    }
    Secret(m.finalize().into_bytes().into())
}

/// CPRF(K, CONST, L) = HKDF-Expand(PRK = K, info = CONST, L) (RFC 8548 §3.1), with `info`
/// given as the concatenation of `info` parts; fills `out` (at most 255·32 bytes).
pub fn cprf(key: &[u8], info: &[&[u8]], out: &mut [u8]) {
    let base = hmac(key);
    let mut prev = [0u8; 32];
    let mut have_prev = false;
    for (i, chunk) in out.chunks_mut(32).enumerate() {
        let mut m = base.clone();
        if have_prev {
            m.update(&prev);
        }
        for part in info {
            m.update(part);
        }
        // HKDF limits L to 255 blocks; callers ask for at most 44 bytes.
        m.update(&[u8::try_from(i + 1).unwrap_or(u8::MAX)]);
        prev = m.finalize().into_bytes().into();
        have_prev = true;
        chunk.copy_from_slice(&prev[..chunk.len()]);
    }
    prev.zeroize();
}

fn cprf32(key: &Secret, info: &[&[u8]]) -> Secret {
    let mut out = [0u8; K_LEN];
    cprf(&key.0, info, &mut out);
    let s = Secret(out);
    out.zeroize();
    s
}

/// ss[0] = PRK = Extract(N_A, eno_transcript || Init1 || Init2 || ES) (RFC 8548 §3.3).
pub fn prk(n_a: &[u8], transcript: &[u8], init1: &[u8], init2: &[u8], es: &[u8]) -> Secret {
    extract(n_a, &[transcript, init1, init2, es])
}

/// ss[i+1] = CPRF(ss[i], CONST_NEXTK, K_LEN) (RFC 8548 §3.5).
pub fn next_ss(ss: &Secret) -> Secret {
    cprf32(ss, &[&[CONST_NEXTK]])
}

/// mk[0] = CPRF(ss[i], CONST_REKEY || sn[i], K_LEN) (RFC 8548 §3.3, §3.5).
pub fn mk0(ss: &Secret, sn: &[u8]) -> Secret {
    cprf32(ss, &[&[CONST_REKEY], sn])
}

/// mk[j] = CPRF(mk[j-1], CONST_REKEY, K_LEN) (RFC 8548 §3.8).
pub fn next_mk(mk: &Secret) -> Secret {
    cprf32(mk, &[&[CONST_REKEY]])
}

/// The session ID: TEP byte (as B sent it, v bit included) || CPRF(ss[i], CONST_SESSID ||
/// sn[i], K_LEN) (RFC 8548 §3.4).
pub fn session_id(tep_byte: u8, ss: &Secret, sn: &[u8]) -> [u8; SESSION_ID_LEN] {
    let mut id = [0u8; SESSION_ID_LEN];
    id[0] = tep_byte;
    cprf(&ss.0, &[&[CONST_SESSID], sn], &mut id[1..]);
    id
}

/// resume[i] = CPRF(ss[i], CONST_RESUME, 18) (RFC 8548 §3.5).
pub fn resume_id(ss: &Secret) -> [u8; RESUME_ID_LEN] {
    let mut id = [0u8; RESUME_ID_LEN];
    cprf(&ss.0, &[&[CONST_RESUME]], &mut id);
    id
}

/// A traffic key k_ab[j] or k_ba[j]: the AEAD key followed by the 12-byte nonce randomizer
/// NR (RFC 8548 §3.3). Zeroized on drop; `Debug` never shows the bytes.
#[derive(Clone, Zeroize, ZeroizeOnDrop)]
pub struct TrafficKey {
    bytes: [u8; 44],
    #[zeroize(skip)]
    cipher: Cipher,
}

impl TrafficKey {
    /// The AEAD this key is for.
    pub fn cipher(&self) -> Cipher {
        self.cipher
    }

    /// The AEAD key K (ae_key_len bytes).
    pub fn key(&self) -> &[u8] {
        &self.bytes[..self.cipher.key_len()]
    }

    /// The nonce randomizer NR (12 bytes).
    pub fn nr(&self) -> [u8; AEAD_NONCE_LEN] {
        let mut nr = [0u8; AEAD_NONCE_LEN];
        let k = self.cipher.key_len();
        nr.copy_from_slice(&self.bytes[k..k + AEAD_NONCE_LEN]);
        nr
    }

    /// The whole traffic key, K || NR, as in the shim's `k_ab`/`k_ba`.
    pub fn expose(&self) -> &[u8] {
        &self.bytes[..self.cipher.traffic_key_len()]
    }
}

impl core::fmt::Debug for TrafficKey {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "TrafficKey({:?}, <redacted>)", self.cipher)
    }
}

/// The two traffic keys of one generation: k_ab[j] (used by the original host A to send)
/// and k_ba[j] (used by the original host B to send) (RFC 8548 §3.3).
#[derive(Clone, Debug)]
pub struct KeySet {
    /// k_ab[j] = CPRF(mk[j], CONST_KEY_A, ae_key_len + ae_nonce_len).
    pub k_ab: TrafficKey,
    /// k_ba[j] = CPRF(mk[j], CONST_KEY_B, ae_key_len + ae_nonce_len).
    pub k_ba: TrafficKey,
}

/// Derives k_ab[j] and k_ba[j] from mk[j] for `cipher` (RFC 8548 §3.3).
pub fn traffic_keys(mk: &Secret, cipher: Cipher) -> KeySet {
    let len = cipher.traffic_key_len();
    let mut k_ab = TrafficKey {
        bytes: [0u8; 44],
        cipher,
    };
    let mut k_ba = TrafficKey {
        bytes: [0u8; 44],
        cipher,
    };
    cprf(&mk.0, &[&[CONST_KEY_A]], &mut k_ab.bytes[..len]);
    cprf(&mk.0, &[&[CONST_KEY_B]], &mut k_ba.bytes[..len]);
    KeySet { k_ab, k_ba }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn h(s: &str) -> Vec<u8> {
        hex::decode(s).unwrap()
    }

    /// RFC 5869 Appendix A.1–A.3, as in TEST-VECTORS.md §3.1.
    #[test]
    fn hkdf_sha256_rfc5869_vectors() {
        struct V {
            ikm: &'static str,
            salt: &'static str,
            info: &'static str,
            prk: &'static str,
            okm: &'static str,
        }
        let vs = [
            V {
                ikm: "0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b",
                salt: "000102030405060708090a0b0c",
                info: "f0f1f2f3f4f5f6f7f8f9",
                prk: "077709362c2e32df0ddc3f0dc47bba6390b6c73bb50f9c3122ec844ad7c2b3e5",
                okm: "3cb25f25faacd57a90434f64d0362f2a2d2d0a90cf1a5a4c5db02d56ecc4c5bf34007208d5b887185865",
            },
            V {
                ikm: "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f202122232425262728292a2b2c2d2e2f303132333435363738393a3b3c3d3e3f404142434445464748494a4b4c4d4e4f",
                salt: "606162636465666768696a6b6c6d6e6f707172737475767778797a7b7c7d7e7f808182838485868788898a8b8c8d8e8f909192939495969798999a9b9c9d9e9fa0a1a2a3a4a5a6a7a8a9aaabacadaeaf",
                info: "b0b1b2b3b4b5b6b7b8b9babbbcbdbebfc0c1c2c3c4c5c6c7c8c9cacbcccdcecfd0d1d2d3d4d5d6d7d8d9dadbdcdddedfe0e1e2e3e4e5e6e7e8e9eaebecedeeeff0f1f2f3f4f5f6f7f8f9fafbfcfdfeff",
                prk: "06a6b88c5853361a06104c9ceb35b45cef760014904671014a193f40c15fc244",
                okm: "b11e398dc80327a1c8e7f78c596a49344f012eda2d4efad8a050cc4c19afa97c59045a99cac7827271cb41c65e590e09da3275600c2f09b8367793a9aca3db71cc30c58179ec3e87c14c01d5c1f3434f1d87",
            },
            V {
                ikm: "0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b",
                salt: "",
                info: "",
                prk: "19ef24a32c717b167f33a91d6f648bdf96596776afdb6377ac434c1c293ccb04",
                okm: "8da4e775a563c18f715f802a063c5a31b8a11f5c5ee1879ec3454e5f3c738d2d9d201395faa4b61a96c8",
            },
        ];
        for v in vs {
            let prk = extract(&h(v.salt), &[&h(v.ikm)]);
            assert_eq!(prk.expose().to_vec(), h(v.prk));
            let mut okm = vec![0u8; h(v.okm).len()];
            cprf(prk.expose(), &[&h(v.info)], &mut okm);
            assert_eq!(okm, h(v.okm));
        }
    }

    #[test]
    fn split_ikm_and_info_equal_concatenation() {
        let a = extract(b"salt", &[b"ab", b"", b"cd"]);
        let b = extract(b"salt", &[b"abcd"]);
        assert_eq!(a, b);
        let mut x = [0u8; 44];
        let mut y = [0u8; 44];
        cprf(b"k", &[&[3], b"nonce"], &mut x);
        cprf(b"k", &[b"\x03nonce"], &mut y);
        assert_eq!(x, y);
    }

    #[test]
    fn traffic_key_lengths_and_split() {
        let mk = Secret::from_bytes([7u8; 32]);
        let ks = traffic_keys(&mk, Cipher::Aes128Gcm);
        assert_eq!(ks.k_ab.expose().len(), 28);
        assert_eq!(ks.k_ab.key().len(), 16);
        assert_eq!(&ks.k_ab.expose()[16..], &ks.k_ab.nr());
        assert_ne!(ks.k_ab.expose(), ks.k_ba.expose());
        let ks2 = traffic_keys(&mk, Cipher::ChaCha20Poly1305);
        assert_eq!(ks2.k_ba.expose().len(), 44);
        // The 28-byte key is a prefix of the 44-byte expansion: same HKDF stream.
        assert_eq!(&ks2.k_ab.expose()[..28], ks.k_ab.expose());
        assert!(!format!("{:?}", ks).contains("07"));
    }
}
