//! RFC 8548 §3.1: our HMAC-based HKDF (`kdf::extract`, `kdf::cprf`) against the `hkdf`
//! crate on random inputs, so a bug in either cannot hide.

#![allow(clippy::unwrap_used)]

use hkdf::Hkdf;
use proptest::prelude::*;
use sha2::Sha256;
use tcpcrypt::kdf;

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn extract_and_cprf_match_the_hkdf_crate(
        salt in proptest::collection::vec(any::<u8>(), 0..80),
        ikm in proptest::collection::vec(any::<u8>(), 0..300),
        split in any::<prop::sample::Index>(),
        info in proptest::collection::vec(any::<u8>(), 0..40),
        len in 1usize..200,
    ) {
        let (prk_ref, hk) = Hkdf::<Sha256>::extract(Some(&salt), &ikm);
        // IKM given in two parts must equal the concatenation.
        let at = split.index(ikm.len() + 1);
        let prk = kdf::extract(&salt, &[&ikm[..at], &ikm[at..]]);
        prop_assert_eq!(prk.expose().as_slice(), prk_ref.as_slice());

        let mut ours = vec![0u8; len];
        kdf::cprf(prk.expose(), &[&info], &mut ours);
        let mut theirs = vec![0u8; len];
        hk.expand(&info, &mut theirs).unwrap();
        prop_assert_eq!(ours, theirs);
    }
}
