//! RFC 8548 §3.5: session resumption through [`ResumptionCache`] and [`Session::resumed`].
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use rand_chacha::rand_core::SeedableRng;
use rand_chacha::ChaCha8Rng;
use tcpcrypt::provider::{ring, rustcrypto};
use tcpcrypt::resume::{
    parse_suboption, ResumeAnswer, ResumeOffer, ResumptionCache, TcpcryptSuboption,
};
use tcpcrypt::{Cipher, Config, Error, Role, Session, Tep};

fn drain(s: &mut Session) -> Vec<u8> {
    let mut v = vec![0u8; 100_000];
    let n = s.poll_stream(&mut v);
    v.truncate(n);
    v
}

fn pump(a: &mut Session, b: &mut Session) {
    loop {
        let x = drain(a);
        if !x.is_empty() {
            b.handle_stream(&x).unwrap();
        }
        let y = drain(b);
        if !y.is_empty() {
            a.handle_stream(&y).unwrap();
        }
        if x.is_empty() && y.is_empty() {
            return;
        }
    }
}

fn read_all(s: &mut Session) -> Vec<u8> {
    let mut v = vec![0u8; 100_000];
    match s.read(&mut v) {
        Ok(n) => v.truncate(n),
        Err(Error::WouldBlock) => v.clear(),
        Err(e) => panic!("{e:?}"),
    }
    v
}

fn dbg_cfg() -> Config {
    Config {
        debug_secrets: true,
        ..Config::default()
    }
}

/// A fresh X25519 session between host "h1" (as A) and host "h2" (as B); each host caches
/// its ticket under the other's name.
fn fresh(
    cipher: Cipher,
    rng: &mut ChaCha8Rng,
) -> (
    ResumptionCache<&'static str>,
    ResumptionCache<&'static str>,
    [u8; 33],
) {
    let t = [0x45, 3, 0x23, 0x45, 4, 1, 0x23];
    let cfg = Config {
        ciphers: vec![cipher],
        ..Config::default()
    };
    let mut a = Session::fresh(Role::A, 0x23, &t, cfg.clone(), &ring::PROVIDER, rng).unwrap();
    let mut b = Session::fresh(Role::B, 0x23, &t, cfg, &rustcrypto::PROVIDER, rng).unwrap();
    pump(&mut a, &mut b);
    let mut c1 = ResumptionCache::default();
    let mut c2 = ResumptionCache::default();
    c1.insert("h2", a.take_resumption_ticket().unwrap());
    c2.insert("h1", b.take_resumption_ticket().unwrap());
    assert!(
        a.take_resumption_ticket().is_none(),
        "ticket is handed out once"
    );
    (c1, c2, a.session_id().unwrap())
}

type Cache = ResumptionCache<&'static str>;

/// h2, the passive opener, answers h1's X25519 resumption `offer` (RFC 8548 §3.5) from
/// its cache.
fn h2_answers(c2: &mut Cache, offer: &ResumeOffer, rng: &mut ChaCha8Rng) -> Option<ResumeAnswer> {
    let data = offer.suboption_data();
    c2.accept(&"h1", 0x23, true, &data, &Config::default(), rng)
}

/// Seeded by `seed`: a fresh AES-128-GCM session, then h1's first resumption offer and
/// h2's answer to it.
fn first_resumption(seed: u64) -> (Cache, Cache, ChaCha8Rng, ResumeOffer, ResumeAnswer) {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let (mut c1, mut c2, _) = fresh(Cipher::Aes128Gcm, &mut rng);
    let offer = c1.offer(&"h2", None, &Config::default(), &mut rng).unwrap();
    let ans = h2_answers(&mut c2, &offer, &mut rng).unwrap();
    (c1, c2, rng, offer, ans)
}

#[test]
fn resumption_with_swapped_roles_follows_the_original_roles() {
    let mut rng = ChaCha8Rng::seed_from_u64(1);
    let (mut c1, mut c2, fresh_sid) = fresh(Cipher::ChaCha20Poly1305, &mut rng);
    // h2 (originally B) now opens actively: it is A in this connection.
    let offer = c2.offer(&"h1", None, &Config::default(), &mut rng).unwrap();
    assert_eq!(offer.tep_byte(), 0xa3);
    assert_eq!(offer.secret().index, 1);
    let data = offer.suboption_data();
    assert_eq!(data.len(), 9 + 8);
    // h1 (originally A) is passive now: B in this connection.
    let answer = c1
        .accept(&"h2", 0x23, true, &data, &Config::default(), &mut rng)
        .unwrap();
    assert_eq!(answer.tep_byte, 0xa3);
    assert_eq!(answer.data.len(), 17);
    // sn = nonce_a || nonce_b by ORIGINAL role: h1's nonce first.
    let mut sn = answer.data[9..].to_vec();
    sn.extend_from_slice(&data[9..]);
    assert_eq!(answer.resumption.sn(), &sn[..]);
    let r2 = offer.complete(0x23, true, &answer.data).unwrap();
    assert_eq!(r2.sn(), &sn[..]);

    let mut h2 = Session::resumed(Role::A, r2, dbg_cfg(), &rustcrypto::PROVIDER).unwrap();
    let mut h1 = Session::resumed(Role::B, answer.resumption, dbg_cfg(), &ring::PROVIDER).unwrap();
    assert!(h1.is_established() && h2.is_established() && h1.is_resumed());
    assert_eq!((h2.role(), h2.original_role()), (Role::A, Role::B));
    assert_eq!((h1.role(), h1.original_role()), (Role::B, Role::A));
    let sid = h1.session_id().unwrap();
    assert_eq!(Some(sid), h2.session_id());
    assert_eq!(sid[0], 0xa3);
    assert_ne!(sid[1..], fresh_sid[1..]);
    assert_eq!(h1.cipher(), Some(Cipher::ChaCha20Poly1305));
    // Halves by original role: h2 (orig. B) sent resume[1][9..18], h1 sent [0..9].
    let resume = h1.debug_secrets().unwrap().resume;
    assert_eq!(&data[..9], &resume[9..]);
    assert_eq!(&answer.data[..9], &resume[..9]);
    // Keys by original role: h1 (orig. A) sends with k_ab even though it is B now. The first
    // frame of a resumed session is at stream offset 0.
    let k_ab = h1.debug_secrets().unwrap().keys.k_ab.clone();
    h1.write(b"from h1").unwrap();
    let wire = drain(&mut h1);
    let fk = tcpcrypt::FrameKey::new(&ring::PROVIDER, &k_ab).unwrap();
    let mut copy = wire.clone();
    assert_eq!(fk.open_in_place(0, &mut copy).unwrap().data, b"from h1");
    h2.handle_stream(&wire).unwrap();
    assert_eq!(read_all(&mut h2), b"from h1");
    h2.write(b"from h2").unwrap();
    pump(&mut h1, &mut h2);
    assert_eq!(read_all(&mut h1), b"from h2");
    assert!(
        h1.take_resumption_ticket().is_none(),
        "resumed sessions hand out no ticket"
    );

    // Single use: the same offer data again names a burned secret.
    assert!(c1
        .accept(&"h2", 0x23, true, &data, &Config::default(), &mut rng)
        .is_none());
    // The next offer uses index 2 and a different half; it still resumes.
    let offer2 = c2.offer(&"h1", None, &Config::default(), &mut rng).unwrap();
    assert_eq!(offer2.secret().index, 2);
    assert_ne!(offer2.suboption_data()[..9], data[..9]);
    let ans2 = c1
        .accept(
            &"h2",
            0x23,
            true,
            &offer2.suboption_data(),
            &Config::default(),
            &mut rng,
        )
        .unwrap();
    assert_eq!(ans2.resumption.secret().index, 2);
    let r = offer2.complete(0x23, true, &ans2.data).unwrap();
    let x = Session::resumed(Role::A, r, Config::default(), &ring::PROVIDER).unwrap();
    let y = Session::resumed(Role::B, ans2.resumption, Config::default(), &ring::PROVIDER).unwrap();
    assert_eq!(x.session_id(), y.session_id());
    assert_ne!(x.session_id(), Some(sid));
}

#[test]
fn failed_attempts_burn_indices_and_passive_side_looks_ahead() {
    let mut rng = ChaCha8Rng::seed_from_u64(2);
    let (mut c1, mut c2, _) = fresh(Cipher::Aes128Gcm, &mut rng);
    let cfg = Config::default();
    // Two offers lost in the network: indices 1 and 2 burned on h1's side only.
    drop(c1.offer(&"h2", None, &cfg, &mut rng).unwrap());
    drop(c1.offer(&"h2", None, &cfg, &mut rng).unwrap());
    let offer = c1.offer(&"h2", None, &cfg, &mut rng).unwrap();
    assert_eq!(offer.secret().index, 3);
    let ans = h2_answers(&mut c2, &offer, &mut rng).unwrap();
    assert_eq!(ans.resumption.secret().index, 3);
    let r = offer.complete(0x23, true, &ans.data).unwrap();
    let a = Session::resumed(Role::A, r, cfg.clone(), &ring::PROVIDER).unwrap();
    let b = Session::resumed(Role::B, ans.resumption, cfg.clone(), &ring::PROVIDER).unwrap();
    assert_eq!(a.session_id(), b.session_id());
    // Beyond the lookahead (4) the passive side does not find it.
    for _ in 0..5 {
        drop(c1.offer(&"h2", None, &cfg, &mut rng).unwrap());
    }
    let far = c1.offer(&"h2", None, &cfg, &mut rng).unwrap();
    assert_eq!(far.secret().index, 9);
    assert!(h2_answers(&mut c2, &far, &mut rng).is_none());
}

#[test]
fn mismatching_answer_tep_or_half_is_ignored() {
    let (mut c1, mut c2, mut rng, offer, ans) = first_resumption(3);
    let cfg = Config::default();
    let mut bad = ans.data.clone();
    bad[0] ^= 1;
    let offer_again = |c1: &mut ResumptionCache<&str>, rng: &mut ChaCha8Rng| {
        c1.offer(&"h2", None, &cfg, rng).unwrap()
    };
    assert!(offer.complete(0x23, true, &bad).is_none());
    // Our own half echoed back is not the peer's half.
    let o = offer_again(&mut c1, &mut rng);
    let own = o.suboption_data();
    assert!(o.complete(0x23, true, &own).is_none());
    // Different TEP, v = 0, or short data: not a matching resumption answer.
    let o = offer_again(&mut c1, &mut rng);
    assert!(o.complete(0x24, true, &ans.data).is_none());
    let o = offer_again(&mut c1, &mut rng);
    assert!(o.complete(0x23, false, &[]).is_none());
    // The passive side refuses a half for another TEP than the cached session's.
    let o = offer_again(&mut c1, &mut rng);
    assert!(c2
        .accept(&"h1", 0x24, true, &o.suboption_data(), &cfg, &mut rng)
        .is_none());
    // ... and a half cached under another peer key.
    assert!(c2
        .accept(&"h3", 0x23, true, &o.suboption_data(), &cfg, &mut rng)
        .is_none());
}

#[test]
fn suboption_classification() {
    // v = 1 with fewer than 9 data bytes is a fresh offer (RFC 8548 §3.5 MUST).
    assert_eq!(
        parse_suboption(0x23, true, &[1; 8]),
        TcpcryptSuboption::Fresh(Tep::X25519)
    );
    assert_eq!(
        parse_suboption(0x23, false, &[]),
        TcpcryptSuboption::Fresh(Tep::X25519)
    );
    assert_eq!(
        parse_suboption(0x24, true, &[7; 9]),
        TcpcryptSuboption::Resume {
            tep: Tep::X448,
            half: [7; 9],
            nonce: &[]
        }
    );
    assert!(matches!(
        parse_suboption(0x21, true, &[0; 17]),
        TcpcryptSuboption::Resume { nonce, .. } if nonce.len() == 8
    ));
    // More than 17 bytes: not valid (our decision for the RFC-silent case).
    assert_eq!(
        parse_suboption(0x22, true, &[0; 18]),
        TcpcryptSuboption::Invalid(Tep::P521)
    );
    assert_eq!(
        parse_suboption(0x20, true, &[0; 9]),
        TcpcryptSuboption::NotTcpcrypt
    );
    assert_eq!(
        parse_suboption(0x7f, false, &[]),
        TcpcryptSuboption::NotTcpcrypt
    );
}

#[test]
fn short_v1_suboption_is_not_a_resumption_and_nonce_length_is_configurable() {
    let mut rng = ChaCha8Rng::seed_from_u64(4);
    let (mut c1, mut c2, _) = fresh(Cipher::Aes128Gcm, &mut rng);
    let short = Config {
        resume_nonce_len: 0,
        ..Config::default()
    };
    let offer = c1.offer(&"h2", None, &short, &mut rng).unwrap();
    let data = offer.suboption_data();
    assert_eq!(data.len(), 9);
    assert!(c2
        .accept(&"h1", 0x23, true, &data[..8], &Config::default(), &mut rng)
        .is_none());
    // That did not burn anything on h2: the full half still resumes (index 1).
    let ans = c2
        .accept(&"h1", 0x23, true, &data, &Config::default(), &mut rng)
        .unwrap();
    assert_eq!(ans.data.len(), 17);
    let r = offer.complete(0x23, true, &ans.data).unwrap();
    assert_eq!(r.sn().len(), 8);
    // h1 was A originally: nonce_a is its empty nonce.
    assert_eq!(r.sn(), &ans.data[9..]);
}

#[test]
fn per_connection_controls_ignore_no_cache_and_flush() {
    let mut rng = ChaCha8Rng::seed_from_u64(5);
    let (mut c1, mut c2, _) = fresh(Cipher::Aes128Gcm, &mut rng);
    let ignore = Config {
        ignore_resumption: true,
        ..Config::default()
    };
    assert!(c1.offer(&"h2", None, &ignore, &mut rng).is_none());
    let offer = c1.offer(&"h2", None, &Config::default(), &mut rng).unwrap();
    assert!(c2
        .accept(
            &"h1",
            0x23,
            true,
            &offer.suboption_data(),
            &ignore,
            &mut rng
        )
        .is_none());
    // no_cache on a resumed connection: the chain is dropped after this use.
    let no_cache = Config {
        no_cache: true,
        ..Config::default()
    };
    let ans = c2
        .accept(
            &"h1",
            0x23,
            true,
            &offer.suboption_data(),
            &no_cache,
            &mut rng,
        )
        .unwrap();
    assert!(c2.is_empty());
    drop(ans);
    // Flush by chain id.
    let chain = offer.secret().chain;
    assert_eq!(c1.len(), 1);
    assert!(c1.flush(chain));
    assert!(!c1.flush(chain));
    assert!(c1
        .offer(&"h2", None, &Config::default(), &mut rng)
        .is_none());
    // no_cache on a fresh connection: no ticket at all.
    let t = [0x45, 3, 0x23, 0x45, 4, 1, 0x23];
    let mut a = Session::fresh(
        Role::A,
        0x23,
        &t,
        no_cache.clone(),
        &ring::PROVIDER,
        &mut rng,
    )
    .unwrap();
    let mut b = Session::fresh(Role::B, 0x23, &t, no_cache, &ring::PROVIDER, &mut rng).unwrap();
    pump(&mut a, &mut b);
    assert!(a.is_established());
    assert!(a.take_resumption_ticket().is_none() && b.take_resumption_ticket().is_none());
}

#[test]
fn cache_is_bounded_lru() {
    let mut rng = ChaCha8Rng::seed_from_u64(6);
    let mut cache: ResumptionCache<u32> = ResumptionCache::new(2, 4);
    let mut tickets = Vec::new();
    for _ in 0..3 {
        let t = [0x45, 3, 0x23, 0x45, 4, 1, 0x23];
        let mut a = Session::fresh(
            Role::A,
            0x23,
            &t,
            Config::default(),
            &ring::PROVIDER,
            &mut rng,
        )
        .unwrap();
        let mut b = Session::fresh(
            Role::B,
            0x23,
            &t,
            Config::default(),
            &ring::PROVIDER,
            &mut rng,
        )
        .unwrap();
        pump(&mut a, &mut b);
        tickets.push(a.take_resumption_ticket().unwrap());
    }
    let mut it = tickets.into_iter();
    cache.insert(1, it.next().unwrap());
    cache.insert(2, it.next().unwrap());
    // Touch peer 1 so that peer 2 is the least recently used.
    let _ = cache.offer(&1, None, &Config::default(), &mut rng).unwrap();
    cache.insert(3, it.next().unwrap());
    assert_eq!(cache.len(), 2);
    assert!(cache
        .offer(&2, None, &Config::default(), &mut rng)
        .is_none());
    assert!(cache
        .offer(&1, None, &Config::default(), &mut rng)
        .is_some());
    assert!(cache
        .offer(&3, Some(Tep::X25519), &Config::default(), &mut rng)
        .is_some());
    assert!(cache
        .offer(&3, Some(Tep::X448), &Config::default(), &mut rng)
        .is_none());
    cache.remove_peer(&3);
    assert_eq!(cache.len(), 1);
    cache.clear();
    assert!(cache.is_empty());
}

#[test]
fn active_opener_validator_ignores_nonmatching_answers() {
    use tcpcrypt::resume::AnswerValidator;
    let (_, _, _, offer, ans) = first_resumption(7);
    let v = offer.answer_validator();
    assert!(v.is_valid_answer(0x23, true, &ans.data));
    assert!(v.is_valid_answer(0x23, false, &[]));
    assert!(
        v.is_valid_answer(0x30, true, &[1; 20]),
        "not tcpcrypt: not our call"
    );
    let mut bad = ans.data.clone();
    bad[8] ^= 0x01;
    assert!(!v.is_valid_answer(0x23, true, &bad));
    assert!(!v.is_valid_answer(0x24, true, &ans.data));
    assert!(!v.is_valid_answer(0x23, true, &offer.suboption_data()));
    let f = AnswerValidator::fresh_only();
    assert!(!f.is_valid_answer(0x23, true, &ans.data));
    assert!(f.is_valid_answer(0x23, false, &[]));

    // Through ENO's TEP selection: B answers a3 with a wrong half and also 21; the
    // resumption suboption is skipped and P-256 wins (RFC 8548 §3.5).
    let mut a_opt = vec![0x45, 0, 0x21, 0x80 | 16, 0xa3];
    a_opt.extend_from_slice(&offer.suboption_data());
    a_opt[1] = a_opt.len() as u8;
    let mut b_opt = vec![0x45, 0, 0x01, 0x21, 0x80 | 16, 0xa3];
    b_opt.extend_from_slice(&bad);
    b_opt[1] = b_opt.len() as u8;
    let a = eno::SynOption::parse_option(&a_opt).unwrap();
    let b = eno::SynOption::parse_option(&b_opt).unwrap();
    let i = eno::select_tep(&a, &b, &v).unwrap();
    assert_eq!(b.suboptions()[i].tep, 0x21);
    let i = eno::select_tep(&a, &b, &eno::AcceptAll).unwrap();
    assert_eq!(b.suboptions()[i].tep, 0x23);
}
