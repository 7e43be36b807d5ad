//! Property tests: Init1/Init2 encode/decode round trips (RFC 8548 §4.1), frame seal/open
//! round trips (§4.2), and arbitrary bytes into the decoders and `Session::handle_stream`
//! never panic.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use proptest::prelude::*;
use tcpcrypt::frame::{split_frame, FrameKey, FrameSplit};
use tcpcrypt::init::Decoded;
use tcpcrypt::kdf::traffic_keys;
use tcpcrypt::kdf::Secret;
use tcpcrypt::provider::{ring, rustcrypto};
use tcpcrypt::{Cipher, Init1, Init1Repr, Init2, Init2Repr, Tep};

fn tep() -> impl Strategy<Value = Tep> {
    prop::sample::select(Tep::ALL.to_vec())
}

fn cipher() -> impl Strategy<Value = Cipher> {
    prop::sample::select(Cipher::ALL.to_vec())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn init1_round_trip(t in tep(), ciphers in prop::collection::vec(any::<u16>(), 1..=255),
                        nonce in any::<[u8; 32]>(), seed in any::<u8>(),
                        trailer in prop::collection::vec(any::<u8>(), 0..40)) {
        let mut public_key = vec![seed; t.pub_len()];
        if matches!(t, Tep::P256 | Tep::P521) {
            let l = (t.pub_len() - 2) as u16;
            public_key[..2].copy_from_slice(&l.to_be_bytes());
        }
        let repr = Init1Repr { ciphers, nonce, public_key };
        let bytes = repr.to_bytes().unwrap();
        prop_assert_eq!(bytes.len(), repr.buffer_len());
        let m = Init1::decode_complete(&bytes, t).unwrap();
        prop_assert_eq!(m.to_repr(), repr.clone());
        prop_assert_eq!(m.as_bytes(), &bytes[..]);
        // Every strict prefix is incomplete, never an error.
        for i in [0, 3, 8, 9, bytes.len() / 2, bytes.len() - 1] {
            let incomplete = matches!(Init1::decode(&bytes[..i], t), Ok(Decoded::Incomplete { .. }));
            prop_assert!(incomplete);
        }
        // Trailer inside message_len: accepted, kept in as_bytes, ignored by the repr.
        let mut with = bytes.clone();
        with.extend_from_slice(&trailer);
        let len = (bytes.len() + trailer.len()) as u32;
        with[4..8].copy_from_slice(&len.to_be_bytes());
        let m = Init1::decode_complete(&with, t).unwrap();
        prop_assert_eq!(m.trailer(), &trailer[..]);
        prop_assert_eq!(m.to_repr(), repr);
    }

    #[test]
    fn init2_round_trip(t in tep(), c in any::<u16>(), nonce in any::<[u8; 32]>(),
                        seed in any::<u8>(), junk in prop::collection::vec(any::<u8>(), 0..40)) {
        let mut public_key = vec![seed; t.pub_len()];
        if matches!(t, Tep::P256 | Tep::P521) {
            let l = (t.pub_len() - 2) as u16;
            public_key[..2].copy_from_slice(&l.to_be_bytes());
        }
        let repr = Init2Repr { cipher: c, nonce, public_key };
        let mut bytes = repr.to_bytes().unwrap();
        let n = bytes.len();
        // Bytes after message_len belong to the next frame: not part of the message.
        bytes.extend_from_slice(&junk);
        let m = Init2::decode_complete(&bytes, t).unwrap();
        prop_assert_eq!(m.len(), n);
        prop_assert_eq!(m.to_repr(), repr);
    }

    #[test]
    fn frame_seal_open_round_trip(c in cipher(), key in any::<[u8; 32]>(), offset in any::<u64>(),
                                  rekey in any::<bool>(), fin in any::<bool>(),
                                  data in prop::collection::vec(any::<u8>(), 0..3000),
                                  prev in prop::collection::vec(any::<u8>(), 0..10)) {
        let ks = traffic_keys(&Secret::from_bytes(key), c);
        let sealer = FrameKey::new(&ring::PROVIDER, &ks.k_ab).unwrap();
        let opener = FrameKey::new(&rustcrypto::PROVIDER, &ks.k_ab).unwrap();
        let mut out = prev.clone();
        let n = sealer.seal_append(offset, rekey, fin, &data, &mut out).unwrap();
        prop_assert_eq!(&out[..prev.len()], &prev[..]);
        let frame = &mut out[prev.len()..];
        prop_assert_eq!(frame.len(), n);
        prop_assert_eq!(split_frame(frame, 0), Ok(FrameSplit::Frame(n)));
        prop_assert_eq!(frame[0], u8::from(rekey));
        let mut copy = frame.to_vec();
        let o = opener.open_in_place(offset, &mut copy).unwrap();
        prop_assert_eq!((o.rekey, o.fin, o.urgent), (rekey, fin, None));
        prop_assert_eq!(o.data, &data[..]);
        // The other direction's key never opens it.
        let other = FrameKey::new(&ring::PROVIDER, &ks.k_ba).unwrap();
        prop_assert!(other.open_in_place(offset, frame).is_err());
    }

    #[test]
    fn decoders_never_panic(t in tep(), bytes in prop::collection::vec(any::<u8>(), 0..300)) {
        let _ = Init1::decode(&bytes, t);
        let _ = Init2::decode(&bytes, t);
        let _ = split_frame(&bytes, 0);
        let _ = tcpcrypt::resume::parse_suboption(t.id(), true, &bytes);
    }

    #[test]
    fn init_decoders_on_mutated_valid_messages(pos in any::<prop::sample::Index>(), val in any::<u8>(),
                                              cut in any::<prop::sample::Index>()) {
        let repr = Init1Repr { ciphers: vec![1, 2, 16], nonce: [1; 32], public_key: vec![9; 32] };
        let mut b = repr.to_bytes().unwrap();
        let i = pos.index(b.len());
        b[i] = val;
        let c = cut.index(b.len() + 1);
        let _ = Init1::decode(&b[..c], Tep::X25519);
        tcpcrypt::fuzz_init1(&b[..c]);
        tcpcrypt::fuzz_init2(&b[..c]);
    }

    #[test]
    fn fuzz_entry_points_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..600)) {
        tcpcrypt::fuzz_init1(&bytes);
        tcpcrypt::fuzz_init2(&bytes);
        tcpcrypt::fuzz_frames(&bytes);
    }

    #[test]
    fn fuzz_frames_scripts(script in prop::collection::vec(any::<u8>(), 0..200)) {
        // Scripts without 0xff: only the structured operations; the debug assertion inside
        // checks that B reads a prefix of what A wrote.
        let s: Vec<u8> = script.into_iter().map(|b| b.min(0xfe)).collect();
        tcpcrypt::fuzz_frames(&s);
    }
}

#[test]
fn fuzz_frames_delivers_data_without_tampering() {
    // Write 7*10 bytes (one frame of 90), deliver it in chunks of 3*50+1: all 70 arrive.
    assert_eq!(
        tcpcrypt::fuzz_frames(&[0, 10, 4, 50, 4, 50, 6, 0, 7, 0, 4, 200, 8, 0]),
        70
    );
    // A keep-alive rekey in between; then a second write whose delivery is tampered with:
    // only the first 70 bytes are ever read.
    assert_eq!(
        tcpcrypt::fuzz_frames(&[0, 10, 2, 0, 4, 100, 6, 0, 0, 10, 5, 3, 4, 100]),
        70
    );
    assert_eq!(
        tcpcrypt::fuzz_frames(&[0, 10, 2, 0, 4, 100, 6, 0, 0, 10, 4, 100]),
        140
    );
}
