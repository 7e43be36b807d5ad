//! Primitive vectors of spec/TEST-VECTORS.md §3 (RFC 7748, RFC 5903, RFC 7714, RFC 8439) run
//! against every crypto provider, plus the rejections RFC 8548 §5 and §3.6 require.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use tcpcrypt::provider::{self, default_provider};
use tcpcrypt::{Cipher, CryptoProvider, DecryptFailed, KeyError, Tep};

fn providers() -> [&'static dyn CryptoProvider; 3] {
    [
        &provider::rustcrypto::PROVIDER,
        &provider::ring::PROVIDER,
        &provider::native::PROVIDER,
    ]
}

/// Hex with optional whitespace.
fn h(s: &str) -> Vec<u8> {
    let s: String = s.chars().filter(|c| !c.is_whitespace()).collect();
    hex::decode(s).unwrap()
}

/// ES = agree(private, peer) through the provider API.
fn agree(
    p: &dyn CryptoProvider,
    tep: Tep,
    private: &[u8],
    peer: &[u8],
) -> Result<Vec<u8>, KeyError> {
    let k = p.kx_from_private(tep, private)?;
    assert_eq!(k.tep(), tep);
    k.agree(peer).map(|es| es.to_vec())
}

fn public(p: &dyn CryptoProvider, tep: Tep, private: &[u8]) -> Vec<u8> {
    p.kx_from_private(tep, private).unwrap().public_key()
}

/// The tcpcrypt encoding of a compressed NIST point: 2-byte BE length, then the point.
fn nist_wire(point: &[u8]) -> Vec<u8> {
    let mut v = (point.len() as u16).to_be_bytes().to_vec();
    v.extend_from_slice(point);
    v
}

#[test]
fn default_provider_is_one_of_the_two() {
    let name = default_provider().name();
    assert!(providers().iter().any(|p| p.name() == name), "{name}");
    assert_ne!(providers()[0].name(), providers()[1].name());
}

// ---------------------------------------------------------------- X25519 (§3.2)

#[test]
fn x25519_rfc7748_section_5_2() {
    let cases = [
        (
            "a546e36bf0527c9d3b16154b82465edd62144c0ac1fc5a18506a2244ba449ac4",
            "e6db6867583030db3594c1a424b15f7c726624ec26b3353b10a903a6d0ab1c4c",
            "c3da55379de9c6908e94ea4df28d084f32eccf03491c71f754b4075577a28552",
        ),
        (
            "4b66e9d4d1b4673c5ad22691957d6af5c11b6421e0ea01d42ca4169e7918ba0d",
            "e5210f12786811d3f4b7959d0538ae2c31dbe7106fc03c3efc4cd549c715a493",
            "95cbde9476e8907d7aade45cb4b873f88b595a68799fa152e6f8f7647aac7957",
        ),
    ];
    for p in providers() {
        for (k, u, out) in cases {
            assert_eq!(
                agree(p, Tep::X25519, &h(k), &h(u)).unwrap(),
                h(out),
                "{}",
                p.name()
            );
        }
    }
}

/// k = u = 9; each step k, u = X25519(k, u), k. 1 and 1,000 iterations (1,000,000 skipped).
fn iterate(p: &dyn CryptoProvider, tep: Tep, start: u8, len: usize, n: usize) -> Vec<u8> {
    let mut k = vec![0u8; len];
    k[0] = start;
    let mut u = k.clone();
    for _ in 0..n {
        let r = agree(p, tep, &k, &u).unwrap();
        u = k;
        k = r;
    }
    k
}

#[test]
fn x25519_rfc7748_iterated() {
    for p in providers() {
        assert_eq!(
            iterate(p, Tep::X25519, 9, 32, 1),
            h("422c8e7a6227d7bca1350b3e2bb7279f7897b87bb6854b783c60e80311ae3079")
        );
        assert_eq!(
            iterate(p, Tep::X25519, 9, 32, 1000),
            h("684cf59ba83309552800ef566f2f4d3c1c3887c49360e3875f2eb94d99532c51")
        );
    }
}

#[test]
fn x25519_rfc7748_section_6_1_ecdh() {
    let a = h("77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a");
    let b = h("5dab087e624a8a4b79e17f8b83800ee66f3bb1292618b6fd1c2f8b27ff88e0eb");
    let a_pub = h("8520f0098930a754748b7ddcb43ef75a0dbf3a0d26381af4eba4a98eaa9b4e6a");
    let b_pub = h("de9edb7d7b7dc1b4d35b61c2ece435373f8343c85b78674dadfc7e146f882b4f");
    let k = h("4a5d9d5ba4ce2de1728e3bf480350f25e07e21c947d19e3376f09b3c1e161742");
    for p in providers() {
        assert_eq!(public(p, Tep::X25519, &a), a_pub);
        assert_eq!(public(p, Tep::X25519, &b), b_pub);
        assert_eq!(agree(p, Tep::X25519, &a, &b_pub).unwrap(), k);
        assert_eq!(agree(p, Tep::X25519, &b, &a_pub).unwrap(), k);
    }
}

/// Points of small order on Curve25519 (and their non-canonical encodings): X25519 of any
/// scalar with them is all zero, which RFC 8548 §5 says must abort.
#[test]
fn x25519_all_zero_shared_secret_rejected() {
    let mut low_order = vec![
        vec![0u8; 32],
        {
            let mut v = vec![0u8; 32];
            v[0] = 1;
            v
        },
        h("e0eb7a7c3b41b8ae1656e3faf19fc46ada098deb9c32b1fd866205165f49b800"),
        h("5f9c95bca3508c24b1d0b1559c83ef5b04445cc4581c8e86d8224eddd09f1157"),
        // p - 1, p, p + 1 (u = -1, 0 and 1 in non-canonical form).
        h("ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f"),
        h("edffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f"),
        h("eeffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f"),
    ];
    // The same points with the ignored high bit set (RFC 7748 §5: MSB is masked).
    let masked: Vec<Vec<u8>> = low_order
        .iter()
        .map(|v| {
            let mut v = v.clone();
            v[31] |= 0x80;
            v
        })
        .collect();
    low_order.extend(masked);
    let scalar = h("77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a");
    for p in providers() {
        for u in &low_order {
            assert_eq!(
                agree(p, Tep::X25519, &scalar, u),
                Err(KeyError::AllZeroSharedSecret),
                "{} {}",
                p.name(),
                hex::encode(u)
            );
        }
    }
}

// ---------------------------------------------------------------- X448 (§3.3)

#[test]
fn x448_rfc7748_section_5_2() {
    let cases = [
        (
            "3d262fddf9ec8e88495266fea19a34d28882acef045104d0d1aae121
             700a779c984c24f8cdd78fbff44943eba368f54b29259a4f1c600ad3",
            "06fce640fa3487bfda5f6cf2d5263f8aad88334cbd07437f020f08f9
             814dc031ddbdc38c19c6da2583fa5429db94ada18aa7a7fb4ef8a086",
            "ce3e4ff95a60dc6697da1db1d85e6afbdf79b50a2412d7546d5f239f
             e14fbaadeb445fc66a01b0779d98223961111e21766282f73dd96b6f",
        ),
        (
            "203d494428b8399352665ddca42f9de8fef600908e0d461cb021f8c5
             38345dd77c3e4806e25f46d3315c44e0a5b4371282dd2c8d5be3095f",
            "0fbcc2f993cd56d3305b0b7d9e55d4c1a8fb5dbb52f8e9a1e9b6201b
             165d015894e56c4d3570bee52fe205e28a78b91cdfbde71ce8d157db",
            "884a02576239ff7a2f2f63b2db6a9ff37047ac13568e1e30fe63c4a7
             ad1b3ee3a5700df34321d62077e63633c575c1c954514e99da7c179d",
        ),
    ];
    for p in providers() {
        for (k, u, out) in cases {
            assert_eq!(
                agree(p, Tep::X448, &h(k), &h(u)).unwrap(),
                h(out),
                "{}",
                p.name()
            );
        }
    }
}

#[test]
fn x448_rfc7748_iterated() {
    for p in providers() {
        assert_eq!(
            iterate(p, Tep::X448, 5, 56, 1),
            h("3f482c8a9f19b01e6c46ee9711d9dc14fd4bf67af30765c2ae2b846a
               4d23a8cd0db897086239492caf350b51f833868b9bc2b3bca9cf4113")
        );
        assert_eq!(
            iterate(p, Tep::X448, 5, 56, 1000),
            h("aa3b4749d55b9daf1e5b00288826c467274ce3ebbdd5c17b975e09d4
               af6c67cf10d087202db88286e2b79fceea3ec353ef54faa26e219f38")
        );
    }
}

#[test]
fn x448_rfc7748_section_6_2_ecdh() {
    let a = h("9a8f4925d1519f5775cf46b04b5800d4ee9ee8bae8bc5565d498c28d
               d9c9baf574a9419744897391006382a6f127ab1d9ac2d8c0a598726b");
    let a_pub = h("9b08f7cc31b7e3e67d22d5aea121074a273bd2b83de09c63faa73d2c
                   22c5d9bbc836647241d953d40c5b12da88120d53177f80e532c41fa0");
    let b = h("1c306a7ac2a0e2e0990b294470cba339e6453772b075811d8fad0d1d
               6927c120bb5ee8972b0d3e21374c9c921b09d1b0366f10b65173992d");
    let b_pub = h("3eb7a829b0cd20f5bcfc0b599b6feccf6da4627107bdb0d4f345b430
                   27d8b972fc3e34fb4232a13ca706dcb57aec3dae07bdc1c67bf33609");
    let k = h("07fff4181ac6cc95ec1c16a94a0f74d12da232ce40a77552281d282b
               b60c0b56fd2464c335543936521c24403085d59a449a5037514a879d");
    for p in providers() {
        assert_eq!(public(p, Tep::X448, &a), a_pub);
        assert_eq!(public(p, Tep::X448, &b), b_pub);
        assert_eq!(agree(p, Tep::X448, &a, &b_pub).unwrap(), k);
        assert_eq!(agree(p, Tep::X448, &b, &a_pub).unwrap(), k);
    }
}

#[test]
fn x448_all_zero_shared_secret_rejected() {
    let p_minus_1 = {
        // p = 2^448 - 2^224 - 1, little-endian; p - 1 is u = -1 (order 2).
        let mut v = vec![0xffu8; 56];
        v[0] = 0xfe;
        v[28] = 0xfe;
        v
    };
    let p_itself = {
        let mut v = vec![0xffu8; 56];
        v[28] = 0xfe;
        v
    };
    let one = {
        let mut v = vec![0u8; 56];
        v[0] = 1;
        v
    };
    let scalar = h("9a8f4925d1519f5775cf46b04b5800d4ee9ee8bae8bc5565d498c28d
                    d9c9baf574a9419744897391006382a6f127ab1d9ac2d8c0a598726b");
    for p in providers() {
        for u in [
            vec![0u8; 56],
            one.clone(),
            p_minus_1.clone(),
            p_itself.clone(),
        ] {
            assert_eq!(
                agree(p, Tep::X448, &scalar, &u),
                Err(KeyError::AllZeroSharedSecret),
                "{} {}",
                p.name(),
                hex::encode(&u)
            );
        }
    }
}

#[test]
fn montgomery_public_key_lengths_enforced() {
    for p in providers() {
        let k25519 = vec![9u8; 32];
        let k448 = vec![9u8; 56];
        for len in [0, 31, 33, 56] {
            assert_eq!(
                agree(p, Tep::X25519, &k25519, &vec![9u8; len]),
                Err(KeyError::BadPublicKeyLength)
            );
        }
        for len in [0, 32, 55, 57] {
            assert_eq!(
                agree(p, Tep::X448, &k448, &vec![5u8; len]),
                Err(KeyError::BadPublicKeyLength)
            );
        }
        assert_eq!(
            p.kx_from_private(Tep::X25519, &[1u8; 31]).err(),
            Some(KeyError::InvalidPrivateKey)
        );
        assert_eq!(
            p.kx_from_private(Tep::X448, &[1u8; 57]).err(),
            Some(KeyError::InvalidPrivateKey)
        );
    }
}

// ---------------------------------------------------------------- P-256 / P-521 (§3.4)

struct Nist {
    tep: Tep,
    i: &'static str,
    r: &'static str,
    gi: &'static str,
    gr: &'static str,
    girx: &'static str,
}

const P256: Nist = Nist {
    tep: Tep::P256,
    i: "C88F01F5 10D9AC3F 70A292DA A2316DE5 44E9AAB8 AFE84049 C62A9C57 862D1433",
    r: "C6EF9C5D 78AE012A 011164AC B397CE20 88685D8F 06BF9BE0 B283AB46 476BEE53",
    gi: "03dad0b65394221cf9b051e1feca5787d098dfe637fc90b9ef945d0c3772581180",
    gr: "03d12dfb5289c8d4f81208b70270398c342296970a0bccb74c736fc7554494bf63",
    girx: "D6840F6B 42F6EDAF D13116E0 E1256520 2FEF8E9E CE7DCE03 812464D0 4B9442DE",
};

const P521: Nist = Nist {
    tep: Tep::P521,
    i: "0037ADE9 319A89F4 DABDB3EF 411AACCC A5123C61 ACAB57B5 393DCE47 608172A0
        95AA85A3 0FE1C295 2C6771D9 37BA9777 F5957B26 39BAB072 462F68C2 7A57382D 4A52",
    r: "0145BA99 A847AF43 793FDD0E 872E7CDF A16BE30F DC780F97 BCCC3F07 8380201E
        9C677D60 0B343757 A3BDBF2A 3163E4C2 F869CCA7 458AA4A4 EFFC311F 5CB15168 5EB9",
    gi: "020015417e84dbf28c0ad3c278713349dc7df153c897a1891bd98bab4357c9ecbee1e3bf42
         e00b8e380aeae57c2d107564941885942af5a7f4601723c4195d176ced3e",
    gr: "0200d0b3975ac4b799f5bea16d5e13e9af971d5e9b984c9f39728b5e5739735a219b97c356
         436adc6e95bb0352f6be64a6c2912d4ef2d0433ced2b6171640012d9460f",
    girx: "01144C7D 79AE6956 BC8EDB8E 7C787C45 21CB086F A64407F9 7894E5E6 B2D79B04
           D1427E73 CA4BAA24 0A347868 59810C06 B3C715A3 A8CC3151 F2BEE417 996D19F3 DDEA",
};

#[test]
fn nist_rfc5903_section_8_ecdh_with_compressed_points() {
    for v in [P256, P521] {
        let (i, r, gi, gr, es) = (h(v.i), h(v.r), h(v.gi), h(v.gr), h(v.girx));
        assert_eq!(es.len(), if v.tep == Tep::P256 { 32 } else { 66 });
        for p in providers() {
            let pub_i = public(p, v.tep, &i);
            assert_eq!(pub_i, nist_wire(&gi), "{}", p.name());
            assert_eq!(pub_i.len(), v.tep.pub_len());
            assert_eq!(public(p, v.tep, &r), nist_wire(&gr));
            assert_eq!(agree(p, v.tep, &i, &nist_wire(&gr)).unwrap(), es);
            assert_eq!(agree(p, v.tep, &r, &nist_wire(&gi)).unwrap(), es);
        }
    }
}

/// The RFC 5903 points in uncompressed form (0x04 || x || y), which tcpcrypt forbids.
#[test]
fn nist_uncompressed_points_rejected() {
    let p256_gr = "04 D12DFB52 89C8D4F8 1208B702 70398C34 2296970A 0BCCB74C 736FC755 4494BF63
                      56FBF3CA 366CC23E 8157854C 13C58D6A AC23F046 ADA30F83 53E74F33 039872AB";
    for p in providers() {
        let i = h(P256.i);
        // Correctly length-prefixed uncompressed point: a length other than 33 is refused.
        assert_eq!(
            agree(p, Tep::P256, &i, &nist_wire(&h(p256_gr))),
            Err(KeyError::BadPublicKeyLength)
        );
        // An uncompressed-form tag in a 33-byte point: not a compressed point.
        let mut bad = h(P256.gr);
        bad[0] = 0x04;
        assert_eq!(
            agree(p, Tep::P256, &i, &nist_wire(&bad)),
            Err(KeyError::InvalidPublicKey)
        );
        for tag in [0x00, 0x01, 0x05, 0x06, 0x07, 0xff] {
            bad[0] = tag;
            assert_eq!(
                agree(p, Tep::P256, &i, &nist_wire(&bad)),
                Err(KeyError::InvalidPublicKey),
                "tag {tag:#x}"
            );
        }
    }
}

#[test]
fn nist_wrong_length_prefix_rejected() {
    for v in [P256, P521] {
        let i = h(v.i);
        let good = nist_wire(&h(v.gr));
        for p in providers() {
            // Declared length off by one either way, right total length.
            for declared in [good.len() as u16 - 3, good.len() as u16 - 1, 0, 0xffff] {
                let mut bad = good.clone();
                bad[..2].copy_from_slice(&declared.to_be_bytes());
                assert_eq!(agree(p, v.tep, &i, &bad), Err(KeyError::BadPublicKeyLength));
            }
            // Truncated and extended encodings.
            assert_eq!(
                agree(p, v.tep, &i, &good[..good.len() - 1]),
                Err(KeyError::BadPublicKeyLength)
            );
            let mut long = good.clone();
            long.push(0);
            assert_eq!(
                agree(p, v.tep, &i, &long),
                Err(KeyError::BadPublicKeyLength)
            );
            assert_eq!(agree(p, v.tep, &i, &[]), Err(KeyError::BadPublicKeyLength));
            assert_eq!(
                agree(p, v.tep, &i, &good[..2]),
                Err(KeyError::BadPublicKeyLength)
            );
        }
    }
}

/// An x for which x^3 - 3x + b is not a square mod p: no point, so decompression fails
/// (IEEE 1363 A.16.10 validation). Of x = 0..31 about half have a point: every other one
/// must be refused with `InvalidPublicKey`, and both outcomes must occur.
#[test]
fn nist_points_not_on_curve_rejected() {
    for v in [P256, P521] {
        let i = h(v.i);
        let gr = h(v.gr);
        let len = gr.len();
        for p in providers() {
            let mut refused = 0;
            let mut accepted = 0;
            for x in 0u8..32 {
                let mut point = vec![0u8; len];
                point[0] = 0x02;
                point[len - 1] = x;
                match agree(p, v.tep, &i, &nist_wire(&point)) {
                    Ok(es) => {
                        accepted += 1;
                        assert_eq!(es.len(), len - 1);
                    }
                    Err(e) => {
                        assert_eq!(e, KeyError::InvalidPublicKey);
                        refused += 1;
                    }
                }
            }
            // About half of all x have no point; both outcomes must occur.
            assert!(refused >= 4 && accepted >= 4, "{refused} {accepted}");
            // x = p (all-ones field element is >= p for both curves) is not a field element.
            let mut over = vec![0xffu8; len];
            over[0] = 0x02;
            if v.tep == Tep::P521 {
                over[1] = 0x01; // 521-bit field: the top byte holds one bit.
                over[2..].fill(0xff);
            }
            assert_eq!(
                agree(p, v.tep, &i, &nist_wire(&over)),
                Err(KeyError::InvalidPublicKey)
            );
        }
    }
}

#[test]
fn nist_private_keys_validated() {
    for p in providers() {
        assert_eq!(
            p.kx_from_private(Tep::P256, &[0u8; 32]).err(),
            Some(KeyError::InvalidPrivateKey)
        );
        assert_eq!(
            p.kx_from_private(Tep::P256, &[0xffu8; 32]).err(),
            Some(KeyError::InvalidPrivateKey)
        );
        assert_eq!(
            p.kx_from_private(Tep::P256, &[1u8; 31]).err(),
            Some(KeyError::InvalidPrivateKey)
        );
        assert_eq!(
            p.kx_from_private(Tep::P521, &[1u8; 65]).err(),
            Some(KeyError::InvalidPrivateKey)
        );
        assert_eq!(
            p.kx_from_private(Tep::P521, &[0xffu8; 66]).err(),
            Some(KeyError::InvalidPrivateKey)
        );
    }
}

// ---------------------------------------------------------------- AEADs (§3.5, §3.6)

struct AeadVector {
    cipher: Cipher,
    key: &'static str,
    nonce: &'static str,
    ad: &'static str,
    plaintext: &'static [u8],
    ciphertext_and_tag: &'static str,
}

const AEAD_VECTORS: [AeadVector; 3] = [
    AeadVector {
        cipher: Cipher::Aes128Gcm,
        key: "000102030405060708090a0b0c0d0e0f",
        nonce: "51753c6580c2726f20718414",
        ad: "8040f17b8041f8d35501a0b2",
        plaintext: b"Gallia est omnis divisa in partes tres",
        ciphertext_and_tag: "f24de3a3fb34de6cacba861c9d7e4bcabe633bd50d294e6f42a5f47a51c7d19b36de3adf8833
                             899d7f27beb16a9152cf765ee4390cce",
    },
    AeadVector {
        cipher: Cipher::Aes256Gcm,
        key: "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f",
        nonce: "51753c6580c2726f20718414",
        ad: "8040f17b8041f8d35501a0b2",
        plaintext: b"Gallia est omnis divisa in partes tres",
        ciphertext_and_tag: "32b1de78a822fe12ef9f78fa332e33aab18012389a58e2f3b50b2a0276ffae0f1ba63799b87b
                             7aa3db36dfffd6b0f9bb7878d7a76c13",
    },
    AeadVector {
        cipher: Cipher::ChaCha20Poly1305,
        key: "808182838485868788898a8b8c8d8e8f909192939495969798999a9b9c9d9e9f",
        nonce: "070000004041424344454647",
        ad: "50515253c0c1c2c3c4c5c6c7",
        plaintext: b"Ladies and Gentlemen of the class of '99: If I could offer you only one tip for the future, sunscreen would be it.",
        ciphertext_and_tag: "d31a8d34648e60db7b86afbc53ef7ec2a4aded51296e08fea9e2b5a736ee62d6
                             3dbea45e8ca9671282fafb69da92728b1a71de0a9e060b2905d6a5b67ecd3b36
                             92ddbd7f2d778b8c9803aee328091b58fab324e4fad675945585808b4831d7bc
                             3ff4def08e4b7a9de576d26586cec64b6116
                             1ae10b594f09e26a7e902ecbd0600691",
    },
];

fn nonce(v: &AeadVector) -> [u8; 12] {
    h(v.nonce).try_into().unwrap()
}

#[test]
fn aead_rfc7714_and_rfc8439_vectors_seal_and_open() {
    for p in providers() {
        for v in &AEAD_VECTORS {
            let key = p.aead_key(v.cipher, &h(v.key)).unwrap();
            assert_eq!(key.cipher(), v.cipher);
            let expected = h(v.ciphertext_and_tag);
            let (ct, tag) = expected.split_at(expected.len() - 16);
            let mut buf = v.plaintext.to_vec();
            let mut out_tag = [0u8; 16];
            key.seal_in_place(&nonce(v), &h(v.ad), &mut buf, &mut out_tag);
            assert_eq!(buf, ct, "{} {:?}", p.name(), v.cipher);
            assert_eq!(out_tag, tag, "{} {:?}", p.name(), v.cipher);
            key.open_in_place(&nonce(v), &h(v.ad), &mut buf, &out_tag)
                .unwrap();
            assert_eq!(buf, v.plaintext);
        }
    }
}

#[test]
fn aead_tampering_fails() {
    for p in providers() {
        for v in &AEAD_VECTORS {
            let key = p.aead_key(v.cipher, &h(v.key)).unwrap();
            let expected = h(v.ciphertext_and_tag);
            let (ct, tag) = expected.split_at(expected.len() - 16);
            let tag: [u8; 16] = tag.try_into().unwrap();
            let ad = h(v.ad);
            let n = nonce(v);
            let open = |nonce: &[u8; 12], ad: &[u8], ct: &[u8], tag: &[u8; 16]| {
                let mut buf = ct.to_vec();
                key.open_in_place(nonce, ad, &mut buf, tag)
            };
            assert_eq!(open(&n, &ad, ct, &tag), Ok(()));
            for bit in [0usize, 7, 8 * ct.len() - 1] {
                let mut bad = ct.to_vec();
                bad[bit / 8] ^= 1 << (bit % 8);
                assert_eq!(
                    open(&n, &ad, &bad, &tag),
                    Err(DecryptFailed),
                    "ct bit {bit}"
                );
            }
            for bit in [0usize, 64, 127] {
                let mut bad = tag;
                bad[bit / 8] ^= 1 << (bit % 8);
                assert_eq!(open(&n, &ad, ct, &bad), Err(DecryptFailed), "tag bit {bit}");
            }
            let mut bad_ad = ad.clone();
            bad_ad[3] ^= 0x10;
            assert_eq!(open(&n, &bad_ad, ct, &tag), Err(DecryptFailed));
            assert_eq!(open(&n, &ad[..ad.len() - 1], ct, &tag), Err(DecryptFailed));
            assert_eq!(open(&n, &[], ct, &tag), Err(DecryptFailed));
            let mut bad_nonce = n;
            bad_nonce[11] ^= 1;
            assert_eq!(open(&bad_nonce, &ad, ct, &tag), Err(DecryptFailed));
            assert_eq!(open(&n, &ad, &ct[..ct.len() - 1], &tag), Err(DecryptFailed));
        }
    }
}

#[test]
fn aead_wrong_key_length_rejected() {
    for p in providers() {
        for c in Cipher::ALL {
            for len in [0, 15, 17, 24, 31, 33, 44] {
                if len == c.key_len() {
                    continue;
                }
                assert_eq!(
                    p.aead_key(c, &vec![0u8; len]).err(),
                    Some(KeyError::BadAeadKeyLength),
                    "{} {c:?} {len}",
                    p.name()
                );
            }
            assert!(p.aead_key(c, &vec![0u8; c.key_len()]).is_ok());
        }
    }
}

#[test]
fn aead_empty_plaintext_has_a_tag() {
    for p in providers() {
        for c in Cipher::ALL {
            let key = p.aead_key(c, &vec![7u8; c.key_len()]).unwrap();
            let mut tag = [0u8; 16];
            key.seal_in_place(&[1u8; 12], b"ad", &mut [], &mut tag);
            assert_ne!(tag, [0u8; 16]);
            assert_eq!(key.open_in_place(&[1u8; 12], b"ad", &mut [], &tag), Ok(()));
            assert_eq!(
                key.open_in_place(&[1u8; 12], b"ae", &mut [], &tag),
                Err(DecryptFailed)
            );
        }
    }
}

#[test]
fn generated_keys_agree_and_have_the_wire_length() {
    use rand_chacha::rand_core::SeedableRng;
    let mut rng = rand_chacha::ChaCha20Rng::seed_from_u64(1);
    for p in providers() {
        for tep in Tep::ALL {
            let a = p.kx_generate(tep, &mut rng).unwrap();
            let b = p.kx_generate(tep, &mut rng).unwrap();
            assert_eq!(a.tep(), tep);
            let (pa, pb) = (a.public_key(), b.public_key());
            assert_eq!(pa.len(), tep.pub_len());
            assert_ne!(pa, pb);
            let ea = a.agree(&pb).unwrap();
            let eb = b.agree(&pa).unwrap();
            assert_eq!(*ea, *eb);
            let es_len = match tep {
                Tep::P256 | Tep::X25519 => 32,
                Tep::P521 => 66,
                Tep::X448 => 56,
            };
            assert_eq!(ea.len(), es_len);
        }
    }
}
