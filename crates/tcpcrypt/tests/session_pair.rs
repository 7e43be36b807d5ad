//! RFC 8548 §3.3–§3.9: two in-memory sessions A <-> B over every TEP × AEAD, with the two
//! providers crossed (A on one backend, B on the other).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use rand_chacha::rand_core::{RngCore, SeedableRng};
use rand_chacha::ChaCha8Rng;
use tcpcrypt::frame::FRAME_OVERHEAD;
use tcpcrypt::provider::{native, ring, rustcrypto};
use tcpcrypt::{
    Cipher, Config, CryptoProvider, Error, ProtocolError, Role, Session, SessionState, Tep,
};

fn transcript(tep: u8) -> Vec<u8> {
    vec![0x45, 0x03, tep, 0x45, 0x04, 0x01, tep]
}

fn new_pair(
    tep: Tep,
    ca: Config,
    cb: Config,
    pa: &'static dyn CryptoProvider,
    pb: &'static dyn CryptoProvider,
    rng: &mut ChaCha8Rng,
) -> (Session, Session) {
    let t = transcript(tep.id());
    let a = Session::fresh(Role::A, tep.id(), &t, ca, pa, rng).unwrap();
    let b = Session::fresh(Role::B, tep.id(), &t, cb, pb, rng).unwrap();
    (a, b)
}

/// Moves bytes in random-sized chunks from `from` to `to`; returns the bytes moved.
fn transfer(from: &mut Session, to: &mut Session, rng: &mut ChaCha8Rng) -> Result<usize, Error> {
    let mut moved = 0;
    let mut buf = vec![0u8; 70_000];
    loop {
        let want = 1 + (rng.next_u32() as usize % 3000);
        let n = from.poll_stream(&mut buf[..want]);
        if n == 0 {
            return Ok(moved);
        }
        moved += n;
        to.handle_stream(&buf[..n])?;
    }
}

fn pump(a: &mut Session, b: &mut Session, rng: &mut ChaCha8Rng) -> Result<(), Error> {
    loop {
        let x = transfer(a, b, rng)?;
        let y = transfer(b, a, rng)?;
        if x == 0 && y == 0 {
            return Ok(());
        }
    }
}

fn read_all(s: &mut Session) -> (Vec<u8>, Result<bool, Error>) {
    let mut out = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        match s.read(&mut buf) {
            Ok(0) => return (out, Ok(true)),
            Ok(n) => out.extend_from_slice(&buf[..n]),
            Err(Error::WouldBlock) => return (out, Ok(false)),
            Err(e) => return (out, Err(e)),
        }
    }
}

fn write_all(s: &mut Session, data: &[u8], peer: &mut Session, rng: &mut ChaCha8Rng) {
    let mut off = 0;
    while off < data.len() {
        let end = (off + 1 + rng.next_u32() as usize % 100_000).min(data.len());
        let n = s.write(&data[off..end]).unwrap();
        off += n;
        transfer(s, peer, rng).unwrap();
    }
}

fn established_pair(tep: Tep, cipher: Cipher, seed: u64) -> (Session, Session, ChaCha8Rng) {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let cfg = Config {
        ciphers: vec![cipher],
        ..Config::default()
    };
    let (mut a, mut b) = new_pair(
        tep,
        cfg.clone(),
        cfg,
        &rustcrypto::PROVIDER,
        &ring::PROVIDER,
        &mut rng,
    );
    pump(&mut a, &mut b, &mut rng).unwrap();
    (a, b, rng)
}

#[test]
fn every_tep_and_aead_handshakes_and_carries_data_both_ways_across_providers() {
    let provs: [&'static dyn CryptoProvider; 3] =
        [&rustcrypto::PROVIDER, &ring::PROVIDER, &native::PROVIDER];
    let mut seed = 0;
    for tep in Tep::ALL {
        for cipher in Cipher::ALL {
            for (pa, pb) in [(provs[0], provs[1]), (provs[1], provs[0])] {
                seed += 1;
                let mut rng = ChaCha8Rng::seed_from_u64(seed);
                // A offers all three, in an order that puts `cipher` last; B prefers `cipher`.
                let mut offered: Vec<Cipher> =
                    Cipher::ALL.into_iter().filter(|c| *c != cipher).collect();
                offered.push(cipher);
                let ca = Config {
                    ciphers: offered,
                    ..Config::default()
                };
                let cb = Config {
                    ciphers: vec![cipher, Cipher::Aes128Gcm],
                    ..Config::default()
                };
                let (mut a, mut b) = new_pair(tep, ca, cb, pa, pb, &mut rng);
                assert_eq!(a.state(), SessionState::AwaitInit2);
                assert_eq!(b.state(), SessionState::AwaitInit1);
                assert_eq!(a.session_id(), None);
                pump(&mut a, &mut b, &mut rng).unwrap();
                let sid = a.session_id().unwrap();
                assert_eq!(Some(sid), b.session_id(), "{tep:?} {cipher:?}");
                assert_eq!(sid.len(), 33);
                assert_eq!(sid[0], tep.id());
                assert_eq!((a.cipher(), b.cipher()), (Some(cipher), Some(cipher)));
                assert_eq!((a.role(), b.role()), (Role::A, Role::B));
                assert_eq!((a.tep(), b.tep()), (tep, tep));

                let mut d1 = vec![0u8; 150_000];
                rng.fill_bytes(&mut d1);
                let mut d2 = vec![0u8; 70_000];
                rng.fill_bytes(&mut d2);
                write_all(&mut a, &d1, &mut b, &mut rng);
                write_all(&mut b, &d2, &mut a, &mut rng);
                pump(&mut a, &mut b, &mut rng).unwrap();
                assert_eq!(read_all(&mut b), (d1, Ok(false)));
                assert_eq!(read_all(&mut a), (d2, Ok(false)));
            }
        }
    }
}

#[test]
fn init_messages_are_pushed_and_sized_per_tep() {
    for (tep, i1, i2) in [
        (Tep::X25519, 75, 74),
        (Tep::X448, 99, 98),
        (Tep::P256, 78, 77),
        (Tep::P521, 112, 111),
    ] {
        let mut rng = ChaCha8Rng::seed_from_u64(7);
        let cfg = Config {
            ciphers: vec![Cipher::Aes128Gcm],
            ..Config::default()
        };
        let (mut a, mut b) = new_pair(
            tep,
            cfg.clone(),
            cfg,
            &ring::PROVIDER,
            &ring::PROVIDER,
            &mut rng,
        );
        let mut buf = [0u8; 2000];
        let t = a.poll_transmit(&mut buf);
        assert_eq!((t.len, t.push), (i1, true));
        b.handle_stream(&buf[..t.len]).unwrap();
        // B queued Init2 and then a frame: the first chunk stops at the end of Init2.
        b.write(b"x").unwrap();
        let t = b.poll_transmit(&mut buf);
        assert_eq!((t.len, t.push), (i2, true));
        assert_eq!(b.stream_offsets(), Some((i2 as u64 + 21, i1 as u64)));
        let t2 = b.poll_transmit(&mut buf[t.len..]);
        assert_eq!(t2.len, FRAME_OVERHEAD + 1);
        a.handle_stream(&buf[..t.len + t2.len]).unwrap();
        assert_eq!(read_all(&mut a).0, b"x");
    }
}

#[test]
fn byte_at_a_time_delivery_works() {
    let mut rng = ChaCha8Rng::seed_from_u64(3);
    let cfg = Config::default();
    let (mut a, mut b) = new_pair(
        Tep::X25519,
        cfg.clone(),
        cfg,
        &ring::PROVIDER,
        &ring::PROVIDER,
        &mut rng,
    );
    let mut byte = [0u8; 1];
    for _ in 0..3 {
        while a.poll_stream(&mut byte) == 1 {
            b.handle_stream(&byte).unwrap();
        }
        b.write(b"hello from b").unwrap();
        while b.poll_stream(&mut byte) == 1 {
            a.handle_stream(&byte).unwrap();
        }
    }
    assert_eq!(read_all(&mut a).0, b"hello from b".repeat(3));
}

#[test]
fn small_frames_and_send_buffer_limit() {
    let mut rng = ChaCha8Rng::seed_from_u64(4);
    let ca = Config {
        max_frame_data: 100,
        send_buffer_limit: 1000,
        ..Config::default()
    };
    let (mut a, mut b) = new_pair(
        Tep::X25519,
        ca,
        Config::default(),
        &ring::PROVIDER,
        &ring::PROVIDER,
        &mut rng,
    );
    assert_eq!(
        a.write(b"early").unwrap(),
        0,
        "nothing accepted before Init2"
    );
    pump(&mut a, &mut b, &mut rng).unwrap();
    let n = a.write(&[7u8; 5000]).unwrap();
    // Frames of 100 data bytes cost 120 bytes; 1000 bytes of room: 8 full frames + 20 bytes.
    assert_eq!(n, 8 * 100 + 20);
    assert_eq!(a.pending_transmit(), 8 * 120 + 40);
    assert_eq!(a.write(&[7u8; 10]).unwrap(), 0);
    pump(&mut a, &mut b, &mut rng).unwrap();
    assert_eq!(read_all(&mut b).0.len(), 820);
}

#[test]
fn rekey_both_ways_gets_exactly_one_answering_frame() {
    for cipher in Cipher::ALL {
        let (mut a, mut b, mut rng) = established_pair(Tep::X25519, cipher, 11);
        assert_eq!(a.generations(), Some((0, 0)));
        a.write(b"before").unwrap();
        assert!(a.keepalive().unwrap());
        assert_eq!(a.generations(), Some((1, 0)));
        // A second empty-frame rekey while remote < local is forbidden (RFC 8548 §3.8).
        assert!(!a.keepalive().unwrap());
        assert_eq!(
            a.send_frame(&[], false, true),
            Err(Error::Protocol(ProtocolError::RekeyNotAllowed))
        );
        a.write(b"after").unwrap();
        transfer(&mut a, &mut b, &mut rng).unwrap();
        assert_eq!(b.generations(), Some((1, 1)));
        // Exactly one answering frame: empty, rekey bit set.
        let mut buf = [0u8; 100];
        let n = b.poll_stream(&mut buf);
        assert_eq!(n, FRAME_OVERHEAD);
        assert_eq!(buf[0], 0x01);
        assert_eq!(b.poll_stream(&mut buf), 0);
        a.handle_stream(&buf[..n]).unwrap();
        assert_eq!(a.generations(), Some((1, 1)));
        assert_eq!(a.pending_transmit(), 0, "A must not answer the answer");
        assert_eq!(read_all(&mut b).0, b"beforeafter");
        assert_eq!(read_all(&mut a), (vec![], Ok(false)));

        // Now B initiates, with data, twice in a row (allowed with data frames).
        b.send_frame(b"b1", false, true).unwrap();
        b.send_frame(b"b2", false, true).unwrap();
        assert_eq!(b.generations(), Some((3, 1)));
        transfer(&mut b, &mut a, &mut rng).unwrap();
        assert_eq!(a.generations(), Some((3, 3)));
        // Each rekey frame pushed remote above local: A answered each with one frame.
        assert_eq!(a.pending_transmit(), 2 * FRAME_OVERHEAD);
        transfer(&mut a, &mut b, &mut rng).unwrap();
        assert_eq!(b.generations(), Some((3, 3)));
        assert_eq!(b.pending_transmit(), 0, "B must not answer the answers");
        assert_eq!(read_all(&mut a).0, b"b1b2");
        // Traffic still flows in both directions under the new generations.
        a.write(b"ping").unwrap();
        b.write(b"pong").unwrap();
        pump(&mut a, &mut b, &mut rng).unwrap();
        assert_eq!(read_all(&mut b).0, b"ping");
        assert_eq!(read_all(&mut a).0, b"pong");
    }
}

#[test]
fn finp_gives_eof_and_tcp_fin_after_it_is_clean() {
    let (mut a, mut b, mut rng) = established_pair(Tep::X448, Cipher::ChaCha20Poly1305, 5);
    a.write(b"last words").unwrap();
    a.close().unwrap();
    assert!(a.fin_sent());
    assert_eq!(
        a.write(b"more"),
        Err(Error::Protocol(ProtocolError::WriteAfterClose))
    );
    pump(&mut a, &mut b, &mut rng).unwrap();
    assert!(b.fin_received());
    assert_eq!(read_all(&mut b), (b"last words".to_vec(), Ok(true)));
    assert_eq!(b.read(&mut [0u8; 10]), Ok(0));
    b.on_tcp_fin().unwrap();
    // B can still send, then closes too.
    b.write(b"reply").unwrap();
    b.close().unwrap();
    pump(&mut a, &mut b, &mut rng).unwrap();
    assert_eq!(read_all(&mut a), (b"reply".to_vec(), Ok(true)));
    assert_eq!(a.state(), SessionState::Closed);
    assert_eq!(b.state(), SessionState::Closed);
}

#[test]
fn rekey_after_our_fin_is_not_answered() {
    let (mut a, mut b, mut rng) = established_pair(Tep::X25519, Cipher::Aes128Gcm, 6);
    b.close().unwrap();
    transfer(&mut b, &mut a, &mut rng).unwrap();
    a.keepalive().unwrap();
    transfer(&mut a, &mut b, &mut rng).unwrap();
    assert_eq!(b.generations(), Some((1, 1)));
    assert_eq!(b.pending_transmit(), 0);
    assert!(!b.keepalive().unwrap());
}

#[test]
fn tcp_fin_without_finp_is_an_error_not_eof() {
    let (mut a, mut b, mut rng) = established_pair(Tep::P256, Cipher::Aes256Gcm, 8);
    a.write(b"data").unwrap();
    transfer(&mut a, &mut b, &mut rng).unwrap();
    let e = b.on_tcp_fin().unwrap_err();
    assert_eq!(e, Error::Protocol(ProtocolError::FinWithoutFinp));
    assert!(e.is_fatal());
    assert_eq!(b.state(), SessionState::Failed);
    // Data verified before the fault is still delivered, then the error, never Ok(0).
    assert_eq!(read_all(&mut b), (b"data".to_vec(), Err(e)));
    assert_eq!(b.read(&mut [0u8; 4]), Err(e));
}

#[test]
fn frames_after_finp_abort() {
    let (mut a, mut b, mut rng) = established_pair(Tep::X25519, Cipher::Aes128Gcm, 9);
    a.close().unwrap();
    let mut buf = [0u8; 100];
    let n = a.poll_stream(&mut buf);
    // Append a copy of the FINp frame: bytes after FINp.
    let mut stream = buf[..n].to_vec();
    stream.extend_from_slice(&buf[..n]);
    assert_eq!(
        b.handle_stream(&stream),
        Err(Error::Protocol(ProtocolError::FrameAfterFin))
    );
    let _ = rng.next_u32();
}

#[test]
fn any_flipped_bit_in_a_frame_fails_and_never_releases_its_plaintext() {
    let (mut a, b0, _rng) = established_pair(Tep::X25519, Cipher::ChaCha20Poly1305, 10);
    drop(b0);
    let mut bufs = Vec::new();
    // Rebuild B for each trial: deterministic pair from the same seed.
    a.write(b"top secret").unwrap();
    let mut frame = vec![0u8; 100];
    let n = a.poll_stream(&mut frame);
    frame.truncate(n);
    a.write(b"follow-up frame with more bytes than the first one")
        .unwrap();
    let mut next = vec![0u8; 200];
    let m = a.poll_stream(&mut next);
    next.truncate(m);
    bufs.push(frame.clone());
    for bit in 0..frame.len() * 8 {
        let (_a, mut b, _) = established_pair(Tep::X25519, Cipher::ChaCha20Poly1305, 10);
        let mut f = frame.clone();
        f[bit / 8] ^= 1 << (bit % 8);
        f.extend_from_slice(&next);
        let r = b.handle_stream(&f);
        let (data, end) = read_all(&mut b);
        assert!(data.is_empty(), "bit {bit} released plaintext");
        match r {
            Err(Error::DecryptFailed) => assert_eq!(end, Err(Error::DecryptFailed)),
            // clen bits may make the frame longer than what arrived, or shorter than 17.
            Err(Error::Decode(_)) => assert!((8..24).contains(&bit), "bit {bit}"),
            Ok(()) => {
                assert!((8..24).contains(&bit), "bit {bit} accepted");
                assert!(b.pending_input() > 0);
                assert!(b.on_tcp_fin().is_err());
            }
            Err(e) => panic!("bit {bit}: {e:?}"),
        }
        if !(8..24).contains(&bit) {
            assert_eq!(r, Err(Error::DecryptFailed), "bit {bit}");
        }
    }
}

#[test]
fn no_common_cipher_and_unoffered_cipher_abort() {
    let mut rng = ChaCha8Rng::seed_from_u64(12);
    let ca = Config {
        ciphers: vec![Cipher::Aes128Gcm],
        ..Config::default()
    };
    let cb = Config {
        ciphers: vec![Cipher::ChaCha20Poly1305],
        ..Config::default()
    };
    let (mut a, mut b) = new_pair(
        Tep::X25519,
        ca,
        cb,
        &ring::PROVIDER,
        &ring::PROVIDER,
        &mut rng,
    );
    assert_eq!(
        pump(&mut a, &mut b, &mut rng),
        Err(Error::Protocol(ProtocolError::NoCommonCipher))
    );
    assert_eq!(b.state(), SessionState::Failed);
    assert_eq!(b.session_id(), None);
}

#[test]
fn fresh_rejects_non_tcpcrypt_or_resumption_tep_bytes() {
    let mut rng = ChaCha8Rng::seed_from_u64(1);
    for byte in [0x20u8, 0x25, 0xa3] {
        let r = Session::fresh(
            Role::A,
            byte,
            &transcript(byte),
            Config::default(),
            &ring::PROVIDER,
            &mut rng,
        );
        assert_eq!(
            r.err(),
            Some(Error::Protocol(ProtocolError::UnsupportedTep {
                tep_byte: byte
            }))
        );
    }
    let r = Session::fresh(
        Role::A,
        0x23,
        &[],
        Config {
            ciphers: vec![],
            ..Config::default()
        },
        &ring::PROVIDER,
        &mut rng,
    );
    assert_eq!(
        r.err(),
        Some(Error::Protocol(ProtocolError::BadCipherConfig))
    );
}

#[test]
fn transcript_mismatch_gives_different_session_ids_and_frames_fail() {
    let mut rng = ChaCha8Rng::seed_from_u64(13);
    let cfg = Config::default();
    let a = Session::fresh(
        Role::A,
        0x23,
        &transcript(0x23),
        cfg.clone(),
        &ring::PROVIDER,
        &mut rng,
    );
    let mut tampered = transcript(0x23);
    tampered[2] = 0x24;
    let b = Session::fresh(Role::B, 0x23, &tampered, cfg, &ring::PROVIDER, &mut rng);
    let (mut a, mut b) = (a.unwrap(), b.unwrap());
    pump(&mut a, &mut b, &mut rng).unwrap();
    assert_ne!(a.session_id(), b.session_id());
    a.write(b"x").unwrap();
    assert_eq!(
        transfer(&mut a, &mut b, &mut rng),
        Err(Error::DecryptFailed)
    );
}

#[test]
fn debug_output_does_not_leak_secrets() {
    let mut rng = ChaCha8Rng::seed_from_u64(14);
    let cfg = Config {
        debug_secrets: true,
        ..Config::default()
    };
    let (mut a, mut b) = new_pair(
        Tep::X25519,
        cfg.clone(),
        cfg,
        &ring::PROVIDER,
        &ring::PROVIDER,
        &mut rng,
    );
    pump(&mut a, &mut b, &mut rng).unwrap();
    let ticket = a.take_resumption_ticket();
    assert!(ticket.is_some());
    let d = a.debug_secrets().unwrap();
    let key_hex = hex::encode(d.keys.k_ab.expose());
    let text = format!("{a:?} {d:?} {ticket:?}");
    assert!(!text.contains(&key_hex[..8]));
    assert!(!text
        .to_lowercase()
        .contains(&hex::encode(d.keys.k_ba.key())[..8]));
}

#[test]
fn sessions_from_an_eno_outcome() {
    let mut rng = ChaCha8Rng::seed_from_u64(15);
    let a_syn = [0x45, 0x04, 0x21, 0x23];
    let b_synack = [0x45, 0x04, 0x01, 0x23];
    let out = eno::negotiate::outcome_of(Some(&a_syn), Some(&b_synack));
    let na = out.negotiated().unwrap().clone();
    let mut nb = na.clone();
    nb.role = eno::negotiate::Role::B;
    let mut a =
        Session::from_negotiated(&na, Config::default(), &ring::PROVIDER, &mut rng).unwrap();
    let mut b =
        Session::from_negotiated(&nb, Config::default(), &ring::PROVIDER, &mut rng).unwrap();
    assert_eq!((a.role(), b.role()), (Role::A, Role::B));
    pump(&mut a, &mut b, &mut rng).unwrap();
    let sid = a.session_id().unwrap();
    assert_eq!(b.session_id(), Some(sid));
    assert_eq!(sid[0], 0x23);
    // A resumption outcome (v = 1) is not a fresh key exchange.
    nb.sessid_byte = 0xa3;
    assert_eq!(
        Session::from_negotiated(&nb, Config::default(), &ring::PROVIDER, &mut rng).err(),
        Some(Error::Protocol(ProtocolError::UnsupportedTep {
            tep_byte: 0xa3
        }))
    );
}

#[test]
fn session_and_cache_are_send() {
    fn is_send<T: Send>() {}
    is_send::<Session>();
    is_send::<tcpcrypt::ResumptionCache<std::net::IpAddr>>();
    is_send::<tcpcrypt::resume::ResumeOffer>();
}
