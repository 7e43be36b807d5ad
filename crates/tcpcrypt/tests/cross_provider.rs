//! Cross-checks on random inputs (proptest): every provider and OpenSSL must compute the same
//! AEAD ciphertext and tag (RFC 8548 §6) and the same ES for every TEP (RFC 8548 §5). *ring*'s
//! own X25519 and P-256 (not used by the ring provider, see `provider::ring`) are a fourth
//! and fifth implementation here.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use openssl::bn::{BigNum, BigNumContext};
use openssl::derive::Deriver;
use openssl::ec::{EcGroup, EcKey, EcPoint, PointConversionForm};
use openssl::nid::Nid;
use openssl::pkey::{Id, PKey};
use openssl::symm;
use proptest::prelude::*;
use tcpcrypt::provider::{native, ring as ring_provider, rustcrypto};
use tcpcrypt::{Cipher, CryptoProvider, Tep};

fn providers() -> [&'static dyn CryptoProvider; 3] {
    [
        &rustcrypto::PROVIDER,
        &ring_provider::PROVIDER,
        &native::PROVIDER,
    ]
}

fn ossl_cipher(c: Cipher) -> symm::Cipher {
    match c {
        Cipher::Aes128Gcm => symm::Cipher::aes_128_gcm(),
        Cipher::Aes256Gcm => symm::Cipher::aes_256_gcm(),
        Cipher::ChaCha20Poly1305 => symm::Cipher::chacha20_poly1305(),
    }
}

fn seal(
    p: &dyn CryptoProvider,
    c: Cipher,
    key: &[u8],
    n: &[u8; 12],
    ad: &[u8],
    pt: &[u8],
) -> (Vec<u8>, [u8; 16]) {
    let k = p.aead_key(c, key).unwrap();
    let mut buf = pt.to_vec();
    let mut tag = [0u8; 16];
    k.seal_in_place(n, ad, &mut buf, &mut tag);
    (buf, tag)
}

fn check_aead(
    c: Cipher,
    key: &[u8],
    n: [u8; 12],
    ad: &[u8],
    pt: &[u8],
) -> Result<(), TestCaseError> {
    let mut ossl_tag = [0u8; 16];
    let ossl_ct = symm::encrypt_aead(ossl_cipher(c), key, Some(&n), ad, pt, &mut ossl_tag).unwrap();
    for sealer in providers() {
        let (ct, tag) = seal(sealer, c, key, &n, ad, pt);
        prop_assert_eq!(&ct, &ossl_ct, "{} {:?}", sealer.name(), c);
        prop_assert_eq!(tag, ossl_tag);
        for opener in providers() {
            let k = opener.aead_key(c, key).unwrap();
            let mut buf = ct.clone();
            prop_assert!(k.open_in_place(&n, ad, &mut buf, &tag).is_ok());
            prop_assert_eq!(&buf, pt);
            if !ct.is_empty() {
                let mut bad = ct.clone();
                bad[0] ^= 0x80;
                prop_assert!(k.open_in_place(&n, ad, &mut bad, &tag).is_err());
            }
        }
        let back = symm::decrypt_aead(ossl_cipher(c), key, Some(&n), ad, &ct, &tag).unwrap();
        prop_assert_eq!(&back, pt);
    }
    Ok(())
}

fn aead_inputs(key_len: usize) -> impl Strategy<Value = (Vec<u8>, [u8; 12], Vec<u8>, Vec<u8>)> {
    (
        proptest::collection::vec(any::<u8>(), key_len),
        any::<[u8; 12]>(),
        proptest::collection::vec(any::<u8>(), 0..64),
        proptest::collection::vec(any::<u8>(), 0..2048),
    )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn aes128gcm_matches_across_providers_and_openssl((key, n, ad, pt) in aead_inputs(16)) {
        check_aead(Cipher::Aes128Gcm, &key, n, &ad, &pt)?;
    }

    #[test]
    fn aes256gcm_matches_across_providers_and_openssl((key, n, ad, pt) in aead_inputs(32)) {
        check_aead(Cipher::Aes256Gcm, &key, n, &ad, &pt)?;
    }

    #[test]
    fn chacha20poly1305_matches_across_providers_and_openssl((key, n, ad, pt) in aead_inputs(32)) {
        check_aead(Cipher::ChaCha20Poly1305, &key, n, &ad, &pt)?;
    }
}

// ---------------------------------------------------------------- key agreement

/// (public key in tcpcrypt encoding, ES with `peer`) from each provider.
fn ours(tep: Tep, private: &[u8], peer: &[u8]) -> Vec<(Vec<u8>, Vec<u8>)> {
    providers()
        .iter()
        .map(|p| {
            let k = p.kx_from_private(tep, private).unwrap();
            let public = k.public_key();
            let es = k.agree(peer).unwrap();
            (public, es.to_vec())
        })
        .collect()
}

/// OpenSSL X25519/X448: (raw public key, ES).
fn ossl_montgomery(id: Id, private: &[u8], peer: &[u8]) -> (Vec<u8>, Vec<u8>) {
    let key = PKey::private_key_from_raw_bytes(private, id).unwrap();
    let peer = PKey::public_key_from_raw_bytes(peer, id).unwrap();
    let mut d = Deriver::new(&key).unwrap();
    d.set_peer(&peer).unwrap();
    (key.raw_public_key().unwrap(), d.derive_to_vec().unwrap())
}

fn nid(tep: Tep) -> Nid {
    match tep {
        Tep::P256 => Nid::X9_62_PRIME256V1,
        Tep::P521 => Nid::SECP521R1,
        _ => unreachable!(),
    }
}

/// The tcpcrypt encoding of a NIST point: 2-byte BE length, compressed point.
fn wire(point: &[u8]) -> Vec<u8> {
    let mut v = (point.len() as u16).to_be_bytes().to_vec();
    v.extend_from_slice(point);
    v
}

/// OpenSSL ECDH: (compressed public key in tcpcrypt encoding, ES) for a big-endian scalar
/// and a peer in tcpcrypt encoding.
fn ossl_ecdh(tep: Tep, private: &[u8], peer: &[u8]) -> (Vec<u8>, Vec<u8>) {
    let group = EcGroup::from_curve_name(nid(tep)).unwrap();
    let mut ctx = BigNumContext::new().unwrap();
    let scalar = BigNum::from_slice(private).unwrap();
    let mut point = EcPoint::new(&group).unwrap();
    point.mul_generator2(&group, &scalar, &mut ctx).unwrap();
    let public = point
        .to_bytes(&group, PointConversionForm::COMPRESSED, &mut ctx)
        .unwrap();
    let key = PKey::from_ec_key(EcKey::from_private_components(&group, &scalar, &point).unwrap())
        .unwrap();
    let peer_point = EcPoint::from_bytes(&group, &peer[2..], &mut ctx).unwrap();
    let peer_key = PKey::from_ec_key(EcKey::from_public_key(&group, &peer_point).unwrap()).unwrap();
    let mut d = Deriver::new(&key).unwrap();
    d.set_peer(&peer_key).unwrap();
    (wire(&public), d.derive_to_vec().unwrap())
}

/// A tcpcrypt-encoded NIST peer point converted to uncompressed form by OpenSSL.
fn ossl_uncompressed(tep: Tep, peer: &[u8]) -> Vec<u8> {
    let group = EcGroup::from_curve_name(nid(tep)).unwrap();
    let mut ctx = BigNumContext::new().unwrap();
    let point = EcPoint::from_bytes(&group, &peer[2..], &mut ctx).unwrap();
    point
        .to_bytes(&group, PointConversionForm::UNCOMPRESSED, &mut ctx)
        .unwrap()
}

/// OpenSSL's compressed form of an uncompressed point.
fn ossl_compress(tep: Tep, uncompressed: &[u8]) -> Vec<u8> {
    let group = EcGroup::from_curve_name(nid(tep)).unwrap();
    let mut ctx = BigNumContext::new().unwrap();
    let point = EcPoint::from_bytes(&group, uncompressed, &mut ctx).unwrap();
    point
        .to_bytes(&group, PointConversionForm::COMPRESSED, &mut ctx)
        .unwrap()
}

/// *ring*'s X25519 or P-256 with a fixed private key: *ring* only builds private keys from a
/// `SecureRandom`, so a deterministic one comes from its (deprecated, test-only) fixed RNG.
/// Returns (public key as *ring* encodes it, ES with the peer as *ring* expects it).
#[allow(deprecated)]
fn ring_agree(
    alg: &'static ring::agreement::Algorithm,
    private: &[u8],
    peer: &[u8],
) -> (Vec<u8>, Vec<u8>) {
    use ring::agreement::{agree_ephemeral, EphemeralPrivateKey, UnparsedPublicKey};
    let rng = ring::deprecated_test::rand::FixedSliceRandom { bytes: private };
    let key = EphemeralPrivateKey::generate(alg, &rng).unwrap();
    let public = key.compute_public_key().unwrap().as_ref().to_vec();
    let es = agree_ephemeral(key, &UnparsedPublicKey::new(alg, peer), |s| s.to_vec()).unwrap();
    (public, es)
}

/// A valid big-endian scalar for `tep` from random bytes: P-521 scalars have 521 bits, so the
/// top byte is masked; values >= n (probability < 2^-32) are left to `prop_assume`.
fn nist_scalar(tep: Tep, mut bytes: Vec<u8>) -> Vec<u8> {
    if tep == Tep::P521 {
        bytes[0] &= 0x01;
    }
    bytes
}

fn check_nist(tep: Tep, a: Vec<u8>, b: Vec<u8>) -> Result<(), TestCaseError> {
    let (a, b) = (nist_scalar(tep, a), nist_scalar(tep, b));
    let valid = |s: &[u8]| {
        tcpcrypt::provider::default_provider()
            .kx_from_private(tep, s)
            .is_ok()
    };
    prop_assume!(valid(&a) && valid(&b));
    let b_pub = rustcrypto::PROVIDER
        .kx_from_private(tep, &b)
        .unwrap()
        .public_key();
    let (ossl_a_pub, ossl_es) = ossl_ecdh(tep, &a, &b_pub);
    let (ossl_b_pub, _) = ossl_ecdh(tep, &b, &ossl_a_pub);
    prop_assert_eq!(&ossl_b_pub, &b_pub);
    prop_assert_eq!(ossl_es.len(), if tep == Tep::P256 { 32 } else { 66 });
    for (a_pub, es) in ours(tep, &a, &b_pub) {
        prop_assert_eq!(&a_pub, &ossl_a_pub);
        prop_assert_eq!(&es, &ossl_es);
    }
    if tep == Tep::P256 {
        let (ring_pub, ring_es) = ring_agree(
            &ring::agreement::ECDH_P256,
            &a,
            &ossl_uncompressed(tep, &b_pub),
        );
        prop_assert_eq!(wire(&ossl_compress(tep, &ring_pub)), ossl_a_pub);
        prop_assert_eq!(ring_es, ossl_es);
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(32))]

    #[test]
    fn x25519_es_matches_across_providers_openssl_and_ring(a in any::<[u8; 32]>(), b in any::<[u8; 32]>()) {
        let b_pub = rustcrypto::PROVIDER.kx_from_private(Tep::X25519, &b).unwrap().public_key();
        let (ossl_pub, ossl_es) = ossl_montgomery(Id::X25519, &a, &b_pub);
        let (ring_pub, ring_es) = ring_agree(&ring::agreement::X25519, &a, &b_pub);
        prop_assert_eq!(&ring_pub, &ossl_pub);
        prop_assert_eq!(&ring_es, &ossl_es);
        for (a_pub, es) in ours(Tep::X25519, &a, &b_pub) {
            prop_assert_eq!(&a_pub, &ossl_pub);
            prop_assert_eq!(&es, &ossl_es);
        }
    }

    #[test]
    fn x448_es_matches_across_providers_and_openssl(
        a in proptest::collection::vec(any::<u8>(), 56),
        b in proptest::collection::vec(any::<u8>(), 56),
    ) {
        let b_pub = rustcrypto::PROVIDER.kx_from_private(Tep::X448, &b).unwrap().public_key();
        let (ossl_pub, ossl_es) = ossl_montgomery(Id::X448, &a, &b_pub);
        for (a_pub, es) in ours(Tep::X448, &a, &b_pub) {
            prop_assert_eq!(&a_pub, &ossl_pub);
            prop_assert_eq!(&es, &ossl_es);
        }
    }

    #[test]
    fn p256_es_matches_across_providers_openssl_and_ring(
        a in proptest::collection::vec(any::<u8>(), 32),
        b in proptest::collection::vec(any::<u8>(), 32),
    ) {
        check_nist(Tep::P256, a, b)?;
    }

    #[test]
    fn p521_es_matches_across_providers_and_openssl(
        a in proptest::collection::vec(any::<u8>(), 66),
        b in proptest::collection::vec(any::<u8>(), 66),
    ) {
        check_nist(Tep::P521, a, b)?;
    }
}

/// Fresh keys from `kx_generate` on one provider agree with the other provider's keys.
#[test]
fn generated_keys_interoperate_across_providers() {
    use rand_chacha::rand_core::SeedableRng;
    let mut rng = rand_chacha::ChaCha20Rng::seed_from_u64(7);
    for x in providers() {
        for y in providers() {
            for tep in Tep::ALL {
                let a = x.kx_generate(tep, &mut rng).unwrap();
                let b = y.kx_generate(tep, &mut rng).unwrap();
                let (pa, pb) = (a.public_key(), b.public_key());
                let (ea, eb) = (a.agree(&pb).unwrap(), b.agree(&pa).unwrap());
                assert_eq!(*ea, *eb, "{tep:?} {} {}", x.name(), y.name());
            }
        }
    }
}
