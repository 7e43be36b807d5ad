//! One test per tcpcrypt row of IMPLEMENTING.md §8 ("Receive-side checks and reactions"), plus
//! the key-schedule and framing rules they rely on, checked against the kdf functions
//! directly (RFC 8548 §3.3–§3.8, §4.1, §4.2, §5).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use tcpcrypt::consts::{INIT1_MAGIC, INIT2_MAGIC};
use tcpcrypt::frame::{FRAME_OVERHEAD, MAX_FRAME_DATA};
use tcpcrypt::kdf::{mk0, next_mk, prk, session_id, traffic_keys, Secret};
use tcpcrypt::provider::native::PROVIDER as NATIVE;
use tcpcrypt::resume::{parse_suboption, TcpcryptSuboption};
use tcpcrypt::{
    Cipher, Config, CryptoProvider, DecodeError, Error, FrameKey, KeyError, ProtocolError, Role,
    Session, SessionState, Tep,
};

const TRANSCRIPT: &[u8] = &[0x45, 0x03, 0x23, 0x45, 0x04, 0x01, 0x23];
const A_PRIV: [u8; 32] = [0x11; 32];
const B_PRIV: [u8; 32] = [0x22; 32];
const N_A: [u8; 32] = [0xaa; 32];
const N_B: [u8; 32] = [0xbb; 32];

fn cfg(ciphers: &[Cipher]) -> Config {
    Config {
        ciphers: ciphers.to_vec(),
        debug_secrets: true,
        ..Config::default()
    }
}

fn session(role: Role, ciphers: &[Cipher]) -> Session {
    let k = match role {
        Role::A => A_PRIV,
        Role::B => B_PRIV,
    };
    keyed(role, Tep::X25519, TRANSCRIPT, &k, ciphers)
}

/// A fresh session of `role` for `tep` with the private key `private` and the role's fixed
/// nonce (N_A or N_B); its TEP byte is the one the ENO transcript `t` negotiated.
fn keyed(role: Role, tep: Tep, t: &[u8], private: &[u8], ciphers: &[Cipher]) -> Session {
    let n = match role {
        Role::A => N_A,
        Role::B => N_B,
    };
    let kx = NATIVE.kx_from_private(tep, private).unwrap();
    Session::fresh_with_keys(role, tep.id(), t, cfg(ciphers), &NATIVE, kx, n).unwrap()
}

/// SS[0] (RFC 8548 §3.4) of the X25519 pair for the Init messages as transmitted.
fn ss0(init1: &[u8], init2: &[u8]) -> Secret {
    prk(&N_A, TRANSCRIPT, init1, init2, &es())
}

fn drain(s: &mut Session) -> Vec<u8> {
    let mut out = Vec::new();
    let mut buf = [0u8; 512];
    loop {
        let n = s.poll_stream(&mut buf);
        if n == 0 {
            return out;
        }
        out.extend_from_slice(&buf[..n]);
    }
}

fn es() -> Vec<u8> {
    let b_pub = NATIVE
        .kx_from_private(Tep::X25519, &B_PRIV)
        .unwrap()
        .public_key();
    NATIVE
        .kx_from_private(Tep::X25519, &A_PRIV)
        .unwrap()
        .agree(&b_pub)
        .unwrap()
        .to_vec()
}

/// An established pair plus the Init messages as sent.
fn pair() -> (Session, Session, Vec<u8>, Vec<u8>) {
    let mut a = session(Role::A, &[Cipher::Aes128Gcm]);
    let mut b = session(Role::B, &[Cipher::Aes128Gcm]);
    let init1 = drain(&mut a);
    b.handle_stream(&init1).unwrap();
    let init2 = drain(&mut b);
    a.handle_stream(&init2).unwrap();
    (a, b, init1, init2)
}

fn b_after(init1: &[u8]) -> (Session, Result<(), Error>) {
    let mut b = session(Role::B, &[Cipher::Aes128Gcm]);
    let r = b.handle_stream(init1);
    (b, r)
}

/// The frame whose header and plaintext are `plain` (room for the tag appended), sealed
/// under `k` at stream offset `offset` (RFC 8548 §4.2).
fn sealed(k: &FrameKey, offset: usize, plain: &[u8]) -> Vec<u8> {
    let mut f = plain.to_vec();
    f.extend_from_slice(&[0; 16]);
    k.seal_in_place(offset as u64, &mut f).unwrap();
    f
}

fn a_after(init2: &[u8]) -> (Session, Result<(), Error>) {
    let mut a = session(Role::A, &[Cipher::Aes128Gcm]);
    drain(&mut a);
    let r = a.handle_stream(init2);
    (a, r)
}

#[test]
fn rfc8548_3_4_session_id_and_keys_follow_the_key_schedule() {
    let (a, b, init1, init2) = pair();
    assert_eq!(&init1[..4], &INIT1_MAGIC.to_be_bytes());
    assert_eq!(&init2[..4], &INIT2_MAGIC.to_be_bytes());
    let ss0 = ss0(&init1, &init2);
    let sid = session_id(0x23, &ss0, &[]);
    assert_eq!(a.session_id(), Some(sid));
    assert_eq!(b.session_id(), Some(sid));
    let ks = traffic_keys(&mk0(&ss0, &[]), Cipher::Aes128Gcm);
    let d = a.debug_secrets().unwrap();
    assert_eq!(d.keys.k_ab.expose(), ks.k_ab.expose());
    assert_eq!(d.keys.k_ba.expose(), ks.k_ba.expose());
}

#[test]
fn rfc8548_4_2_frame_offset_counts_init_bytes_and_rekey_uses_new_generation() {
    let (mut a, mut b, init1, init2) = pair();
    let mk = mk0(&ss0(&init1, &init2), &[]);
    let k0 = FrameKey::new(&NATIVE, &traffic_keys(&mk, Cipher::Aes128Gcm).k_ab).unwrap();
    let k1 = FrameKey::new(
        &NATIVE,
        &traffic_keys(&next_mk(&mk), Cipher::Aes128Gcm).k_ab,
    )
    .unwrap();
    a.write(b"first").unwrap();
    let f1 = drain(&mut a);
    assert_eq!(
        k0.open_in_place(0, &mut f1.clone()),
        Err(Error::DecryptFailed)
    );
    let off = init1.len() as u64;
    assert_eq!(
        k0.open_in_place(off, &mut f1.clone()).unwrap().data,
        b"first"
    );
    a.send_frame(b"second", false, true).unwrap();
    let f2 = drain(&mut a);
    assert_eq!(f2[0], 0x01);
    let off2 = off + f1.len() as u64;
    assert_eq!(
        k0.open_in_place(off2, &mut f2.clone()),
        Err(Error::DecryptFailed)
    );
    assert_eq!(
        k1.open_in_place(off2, &mut f2.clone()).unwrap().data,
        b"second"
    );
    b.handle_stream(&f1).unwrap();
    b.handle_stream(&f2).unwrap();
    // B's answer: one empty rekey frame under k_ba[1], at B's offset len(Init2).
    let ans = drain(&mut b);
    assert_eq!(ans.len(), FRAME_OVERHEAD);
    let kb1 = FrameKey::new(
        &NATIVE,
        &traffic_keys(&next_mk(&mk), Cipher::Aes128Gcm).k_ba,
    )
    .unwrap();
    let mut ans = ans;
    let o = kb1.open_in_place(init2.len() as u64, &mut ans).unwrap();
    assert!(o.rekey && o.data.is_empty() && !o.fin);
}

#[test]
fn rfc8548_3_3_init2_cipher_not_offered_aborts() {
    let (_, _, _, mut init2) = pair();
    init2[8..10].copy_from_slice(&0x0002u16.to_be_bytes());
    let (a, r) = a_after(&init2);
    let e = Error::Protocol(ProtocolError::CipherNotOffered { sym_cipher: 2 });
    assert_eq!(r, Err(e));
    assert_eq!(a.state(), SessionState::Failed);
    assert_eq!(a.session_id(), None);
    // An unknown identifier likewise.
    init2[8..10].copy_from_slice(&0x0003u16.to_be_bytes());
    assert_eq!(
        a_after(&init2).1,
        Err(Error::Protocol(ProtocolError::CipherNotOffered {
            sym_cipher: 3
        }))
    );
}

#[test]
fn rfc8548_3_3_no_common_cipher_aborts() {
    let mut a = session(Role::A, &[Cipher::Aes256Gcm, Cipher::ChaCha20Poly1305]);
    let mut b = session(Role::B, &[Cipher::Aes128Gcm]);
    assert_eq!(
        b.handle_stream(&drain(&mut a)),
        Err(Error::Protocol(ProtocolError::NoCommonCipher))
    );
    assert!(drain(&mut b).is_empty(), "no Init2 after a failure");
}

#[test]
fn rfc8548_3_3_b_picks_by_its_own_preference() {
    let mut a = session(
        Role::A,
        &[
            Cipher::Aes128Gcm,
            Cipher::ChaCha20Poly1305,
            Cipher::Aes256Gcm,
        ],
    );
    let mut b = session(Role::B, &[Cipher::Aes256Gcm, Cipher::Aes128Gcm]);
    b.handle_stream(&drain(&mut a)).unwrap();
    let init2 = drain(&mut b);
    assert_eq!(&init2[8..10], &[0x00, 0x02]);
    a.handle_stream(&init2).unwrap();
    assert_eq!(a.cipher(), Some(Cipher::Aes256Gcm));
}

#[test]
fn rfc8548_4_1_bad_magic_aborts() {
    let (_, _, mut init1, mut init2) = pair();
    init1[0] = 0x16;
    assert_eq!(
        b_after(&init1[..1]).1,
        Err(Error::Decode(DecodeError::BadMagic { offset: 0 }))
    );
    init2[3] ^= 0x80;
    assert_eq!(
        a_after(&init2).1,
        Err(Error::Decode(DecodeError::BadMagic { offset: 3 }))
    );
}

#[test]
fn rfc8548_4_1_short_or_huge_message_len_aborts() {
    let (_, _, init1, init2) = pair();
    let mut m = init1.clone();
    m[7] -= 1;
    assert!(matches!(
        b_after(&m).1,
        Err(Error::Decode(DecodeError::MessageTooShort { .. }))
    ));
    let mut m = init2.clone();
    m[7] -= 1;
    assert!(matches!(
        a_after(&m).1,
        Err(Error::Decode(DecodeError::MessageTooShort { .. }))
    ));
    let mut m = init1.clone();
    m[4..8].copy_from_slice(&0x0100_0000u32.to_be_bytes());
    assert!(matches!(
        b_after(&m[..8]).1,
        Err(Error::Decode(DecodeError::MessageTooLong { .. }))
    ));
}

#[test]
fn rfc8548_4_1_nciphers_zero_aborts() {
    let (_, _, mut init1, _) = pair();
    init1[8] = 0;
    assert_eq!(
        b_after(&init1).1,
        Err(Error::Decode(DecodeError::NoCiphers { offset: 8 }))
    );
}

#[test]
fn rfc8548_4_1_trailing_bytes_in_init1_and_init2_are_accepted_and_hashed() {
    let (_, _, init1, init2) = pair();
    let mut t1 = init1.clone();
    t1.extend_from_slice(b"xyz");
    t1[4..8].copy_from_slice(&(init1.len() as u32 + 3).to_be_bytes());
    let (mut b, r) = b_after(&t1);
    r.unwrap();
    assert!(b.is_established());
    assert_eq!(
        b.stream_offsets(),
        Some((init2.len() as u64, t1.len() as u64))
    );
    // The PRK covers Init1 as transmitted, trailer included.
    let b_init2 = drain(&mut b);
    assert_eq!(b_init2, init2);
    assert_eq!(
        b.session_id(),
        Some(session_id(0x23, &ss0(&t1, &init2), &[]))
    );
    let plain = ss0(&init1, &init2);
    assert_ne!(b.session_id(), Some(session_id(0x23, &plain, &[])));

    let mut t2 = init2.clone();
    t2.extend_from_slice(&[0u8; 10]);
    t2[4..8].copy_from_slice(&(init2.len() as u32 + 10).to_be_bytes());
    let (a, r) = a_after(&t2);
    r.unwrap();
    assert_eq!(
        a.session_id(),
        Some(session_id(0x23, &ss0(&init1, &t2), &[]))
    );
    assert_eq!(
        a.stream_offsets(),
        Some((init1.len() as u64, t2.len() as u64))
    );
}

#[test]
fn rfc8548_5_x25519_all_zero_shared_secret_aborts() {
    let (_, _, mut init1, mut init2) = pair();
    let n = init1.len();
    init1[n - 32..].fill(0);
    assert_eq!(
        b_after(&init1).1,
        Err(Error::Key(KeyError::AllZeroSharedSecret))
    );
    let n = init2.len();
    init2[n - 32..].fill(0);
    let (mut a, r) = a_after(&init2);
    assert_eq!(r, Err(Error::Key(KeyError::AllZeroSharedSecret)));
    assert_eq!(
        a.read(&mut [0u8; 1]),
        Err(Error::Key(KeyError::AllZeroSharedSecret))
    );
}

#[test]
fn rfc8548_5_x448_all_zero_shared_secret_aborts() {
    let t = [0x45, 0x03, 0x24, 0x45, 0x04, 0x01, 0x24];
    let mut a = keyed(Role::A, Tep::X448, &t, &[0x55; 56], &[Cipher::Aes128Gcm]);
    let mut init1 = drain(&mut a);
    let mut b = keyed(Role::B, Tep::X448, &t, &[0x66; 56], &[Cipher::Aes128Gcm]);
    let n = init1.len();
    init1[n - 56..].fill(0);
    assert_eq!(
        b.handle_stream(&init1),
        Err(Error::Key(KeyError::AllZeroSharedSecret))
    );
    assert_eq!(b.session_id(), None);
}

#[test]
fn rfc8548_5_invalid_nist_public_key_aborts() {
    let t = [0x45, 0x03, 0x21, 0x45, 0x04, 0x01, 0x21];
    let mut a = keyed(Role::A, Tep::P256, &t, &[0x33; 32], &[Cipher::Aes128Gcm]);
    let init1 = drain(&mut a);
    let mut b = keyed(Role::B, Tep::P256, &t, &[0x44; 32], &[Cipher::Aes128Gcm]);
    let mut bad = init1.clone();
    let n = bad.len();
    // x = 2^256 - 1 is not a field element: not a valid compressed point.
    bad[n - 33] = 0x02;
    bad[n - 32..].fill(0xff);
    assert!(matches!(b.handle_stream(&bad), Err(Error::Key(_))));
    // Uncompressed-form marker in a 33-byte body is refused too.
    let mut b = keyed(Role::B, Tep::P256, &t, &[0x44; 32], &[Cipher::Aes128Gcm]);
    let mut bad = init1.clone();
    bad[n - 33] = 0x04;
    assert!(matches!(b.handle_stream(&bad), Err(Error::Key(_))));
    // A wrong 2-byte length prefix is a decode error.
    let mut b = keyed(Role::B, Tep::P256, &t, &[0x44; 32], &[Cipher::Aes128Gcm]);
    let mut bad = init1;
    bad[n - 34] = 65;
    assert!(matches!(
        b.handle_stream(&bad),
        Err(Error::Decode(DecodeError::BadPublicKeyLength {
            found: 65,
            ..
        }))
    ));
}

#[test]
fn rfc8548_3_6_decrypt_failure_aborts() {
    let (mut a, mut b, _, _) = pair();
    a.write(b"hello").unwrap();
    let mut f = drain(&mut a);
    let last = f.len() - 1;
    f[last] ^= 0x40;
    assert_eq!(b.handle_stream(&f), Err(Error::DecryptFailed));
    assert_eq!(b.state(), SessionState::Failed);
    assert_eq!(b.read(&mut [0u8; 10]), Err(Error::DecryptFailed));
    // Failed stays failed.
    assert_eq!(b.handle_stream(&[]), Err(Error::DecryptFailed));
    assert_eq!(b.write(b"x"), Err(Error::DecryptFailed));
}

#[test]
fn rfc8548_3_7_tcp_fin_without_finp_aborts_not_eof() {
    let (mut a, mut b, _, _) = pair();
    a.write(b"partial").unwrap();
    let f = drain(&mut a);
    // Even a FINp frame cut short by the TCP FIN is no EOF.
    b.handle_stream(&f[..f.len() - 1]).unwrap();
    assert_eq!(
        b.on_tcp_fin(),
        Err(Error::Protocol(ProtocolError::FinWithoutFinp))
    );
    assert_ne!(b.read(&mut [0u8; 10]), Ok(0));
}

#[test]
fn rfc8548_3_7_frame_after_finp_aborts() {
    let (mut a, mut b, _, _) = pair();
    a.close().unwrap();
    let mut s = drain(&mut a);
    s.extend_from_slice(&[0, 0, 17]);
    assert_eq!(
        b.handle_stream(&s),
        Err(Error::Protocol(ProtocolError::FrameAfterFin))
    );
}

#[test]
fn rfc8548_4_2_reserved_cres_and_fres_bits_are_ignored() {
    let (a, mut b, init1, _) = pair();
    let k = FrameKey::new(&NATIVE, &a.debug_secrets().unwrap().keys.k_ab).unwrap();
    // control 0xfe (all cres bits, no rekey), flags 0xfc (all fres bits, no FINp/URGp).
    let f = sealed(&k, init1.len(), &[0xfe, 0x00, 19, 0xfc, b'o', b'k']);
    b.handle_stream(&f).unwrap();
    let mut buf = [0u8; 8];
    assert_eq!(b.read(&mut buf), Ok(2));
    assert_eq!(&buf[..2], b"ok");
    assert_eq!(b.generations(), Some((0, 0)));
    assert!(!b.fin_received());
}

#[test]
fn rfc8548_3_7_urgent_data_is_delivered_inline_and_parsed_strictly() {
    let (a, mut b, init1, _) = pair();
    let k = FrameKey::new(&NATIVE, &a.debug_secrets().unwrap().keys.k_ab).unwrap();
    let f = sealed(
        &k,
        init1.len(),
        &[0x00, 0x00, 21, 0x02, 0x00, 0x01, b'u', b'v'],
    );
    b.handle_stream(&f).unwrap();
    let mut buf = [0u8; 8];
    assert_eq!(b.read(&mut buf), Ok(2));
    let g = sealed(&k, init1.len() + f.len(), &[0x00, 0x00, 18, 0x02, 0x00]);
    assert!(matches!(
        b.handle_stream(&g),
        Err(Error::Decode(DecodeError::BadUrgent { .. }))
    ));
}

#[test]
fn rfc8548_3_6_clen_below_17_aborts_and_max_frame_is_accepted() {
    let (mut a, mut b, _, _) = pair();
    let big = vec![0x42u8; MAX_FRAME_DATA];
    a.send_frame(&big, false, false).unwrap();
    b.handle_stream(&drain(&mut a)).unwrap();
    assert_eq!(b.readable(), MAX_FRAME_DATA);
    assert_eq!(
        a.send_frame(&[0; MAX_FRAME_DATA + 1], false, false),
        Err(Error::Protocol(ProtocolError::FrameTooLong))
    );
    assert!(a.is_established(), "API misuse does not fail the session");
    assert!(matches!(
        b.handle_stream(&[0x00, 0x00, 0x10]),
        Err(Error::Decode(DecodeError::ClenTooShort { clen: 16, .. }))
    ));
}

#[test]
fn rfc8548_3_5_short_v1_suboption_is_a_fresh_offer() {
    for len in 0..9 {
        assert_eq!(
            parse_suboption(0x23, true, &vec![0xab; len]),
            TcpcryptSuboption::Fresh(Tep::X25519)
        );
    }
}

#[test]
fn rfc8547_4_1_session_id_fails_before_establishment() {
    let a = session(Role::A, &[Cipher::Aes128Gcm]);
    assert_eq!(a.session_id(), None);
    let mut a = a;
    assert_eq!(
        a.close(),
        Err(Error::Protocol(ProtocolError::NotEstablished))
    );
    assert_eq!(a.read(&mut [0u8; 4]), Err(Error::WouldBlock));
    assert!(!Error::WouldBlock.is_fatal());
}
