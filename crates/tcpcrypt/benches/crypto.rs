//! Protocol-core crypto benchmarks: AEAD seal/open (RFC 8548 §3.6, §6) per provider at two
//! frame sizes, a full fresh key agreement per TEP (RFC 8548 §3.3, §5): both sides generate a
//! key and agree, then one side runs the key schedule, and one 16 KiB frame through a
//! session, buffered (`write` + `poll_stream`, `handle_stream` + `read`) versus direct
//! (`seal_into`, `open_into`). Results: docs/BENCHMARKS.md.
#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use criterion::{criterion_group, criterion_main, BatchSize, BenchmarkId, Criterion, Throughput};
use rand_chacha::rand_core::SeedableRng;
use rand_chacha::ChaCha20Rng;
use std::time::{Duration, Instant};

use tcpcrypt::provider::{native, ring as ring_provider, rustcrypto};
use tcpcrypt::{kdf, Cipher, Config, CryptoProvider, Role, Session, Tep};

const SIZES: [usize; 2] = [1400, 16 * 1024];

fn providers() -> [&'static dyn CryptoProvider; 3] {
    [
        &native::PROVIDER,
        &ring_provider::PROVIDER,
        &rustcrypto::PROVIDER,
    ]
}

fn cipher_name(c: Cipher) -> &'static str {
    match c {
        Cipher::Aes128Gcm => "aes128gcm",
        Cipher::Aes256Gcm => "aes256gcm",
        Cipher::ChaCha20Poly1305 => "chacha20poly1305",
    }
}

fn aead(c: &mut Criterion) {
    let nonce = [0x42u8; 12];
    let ad = [0u8; 4]; // a tcpcrypt frame's associated data: control byte + length
    for cipher in Cipher::ALL {
        let mut g = c.benchmark_group(format!("aead/{}", cipher_name(cipher)));
        for p in providers() {
            let key = p.aead_key(cipher, &vec![7u8; cipher.key_len()]).unwrap();
            for size in SIZES {
                g.throughput(Throughput::Bytes(size as u64));
                let mut buf = vec![0xa5u8; size];
                let mut tag = [0u8; 16];
                g.bench_with_input(
                    BenchmarkId::new(format!("{}/seal", p.name()), size),
                    &size,
                    |b, _| b.iter(|| key.seal_in_place(&nonce, &ad, &mut buf, &mut tag)),
                );
                let mut sealed = vec![0xa5u8; size];
                let mut sealed_tag = [0u8; 16];
                key.seal_in_place(&nonce, &ad, &mut sealed, &mut sealed_tag);
                g.bench_with_input(
                    BenchmarkId::new(format!("{}/open", p.name()), size),
                    &size,
                    |b, _| {
                        b.iter_batched_ref(
                            || sealed.clone(),
                            |ct| key.open_in_place(&nonce, &ad, ct, &sealed_tag).unwrap(),
                            BatchSize::SmallInput,
                        )
                    },
                );
            }
        }
        g.finish();
    }
}

fn tep_name(t: Tep) -> &'static str {
    match t {
        Tep::P256 => "p256",
        Tep::P521 => "p521",
        Tep::X25519 => "x25519",
        Tep::X448 => "x448",
    }
}

/// One fresh tcpcrypt key exchange, both hosts' crypto: A and B each generate an ephemeral
/// key, each agrees on ES; then the key schedule for one side (PRK, mk[0], k_ab/k_ba,
/// session ID). Init messages and the transcript are dummies of realistic size.
fn fresh_handshake(p: &dyn CryptoProvider, tep: Tep, rng: &mut ChaCha20Rng) -> [u8; 33] {
    let a = p.kx_generate(tep, rng).unwrap();
    let b = p.kx_generate(tep, rng).unwrap();
    let (pa, pb) = (a.public_key(), b.public_key());
    let es_a = a.agree(&pb).unwrap();
    let es_b = b.agree(&pa).unwrap();
    debug_assert_eq!(*es_a, *es_b);
    let n_a = [1u8; 32];
    let transcript = [0x45u8, 0x23];
    let init1 = [2u8; 73 + 64];
    let init2 = [3u8; 74];
    let ss = kdf::prk(&n_a, &transcript, &init1, &init2, &es_a);
    let mk = kdf::mk0(&ss, &[]);
    let keys = kdf::traffic_keys(&mk, Cipher::Aes128Gcm);
    criterion::black_box(&keys);
    kdf::session_id(tep.id(), &ss, &[])
}

fn handshake(c: &mut Criterion) {
    let mut g = c.benchmark_group("handshake");
    g.throughput(Throughput::Elements(1));
    let p = tcpcrypt::provider::default_provider();
    for tep in Tep::ALL {
        let mut rng = ChaCha20Rng::seed_from_u64(0x7c9);
        g.bench_function(BenchmarkId::new("fresh", tep_name(tep)), |b| {
            b.iter(|| fresh_handshake(p, tep, &mut rng))
        });
    }
    // The key schedule alone, to separate it from the curve arithmetic.
    g.bench_function("key-schedule-only", |b| {
        let es = [9u8; 32];
        let (n_a, transcript, init1, init2) = ([1u8; 32], [0x45u8, 0x23], [2u8; 137], [3u8; 74]);
        b.iter(|| {
            let ss = kdf::prk(&n_a, &transcript, &init1, &init2, &es);
            let mk = kdf::mk0(&ss, &[]);
            criterion::black_box(kdf::traffic_keys(&mk, Cipher::Aes128Gcm));
            kdf::session_id(Tep::X25519.id(), &ss, &[])
        })
    });
    // Alternative considered for X25519 (docs/DEPENDENCIES.md): ring's own agreement, which
    // only runs with its OS-backed SystemRandom. Key generation and agreement only.
    let sys = ring::rand::SystemRandom::new();
    g.bench_function("ring-x25519-kx-only", |b| {
        use ring::agreement::{agree_ephemeral, EphemeralPrivateKey, UnparsedPublicKey, X25519};
        b.iter(|| {
            let a = EphemeralPrivateKey::generate(&X25519, &sys).unwrap();
            let bk = EphemeralPrivateKey::generate(&X25519, &sys).unwrap();
            let pa = a.compute_public_key().unwrap();
            let pb = bk.compute_public_key().unwrap();
            let x = agree_ephemeral(a, &UnparsedPublicKey::new(&X25519, pb.as_ref()), |s| s[0])
                .unwrap();
            let y = agree_ephemeral(bk, &UnparsedPublicKey::new(&X25519, pa.as_ref()), |s| s[0])
                .unwrap();
            (x, y)
        })
    });
    // The portable backend the default replaced (docs/DEPENDENCIES.md), through the same API.
    let mut rng = ChaCha20Rng::seed_from_u64(0x7c9);
    g.bench_function("fresh-rustcrypto/x25519", |b| {
        b.iter(|| fresh_handshake(&rustcrypto::PROVIDER, Tep::X25519, &mut rng))
    });
    let mut rng = ChaCha20Rng::seed_from_u64(0x7c9);
    g.bench_function("x25519-dalek-kx-only", |b| {
        let p = &rustcrypto::PROVIDER;
        b.iter(|| {
            let a = p.kx_generate(Tep::X25519, &mut rng).unwrap();
            let bk = p.kx_generate(Tep::X25519, &mut rng).unwrap();
            let (pa, pb) = (a.public_key(), bk.public_key());
            (a.agree(&pb).unwrap()[0], bk.agree(&pa).unwrap()[0])
        })
    });
    g.finish();
}

/// An established AES-128-GCM pair on the default provider, 16 KiB frames.
fn session_pair() -> (Session, Session) {
    let mut rng = ChaCha20Rng::seed_from_u64(0x5e55);
    let p = tcpcrypt::provider::default_provider();
    let cfg = Config {
        ciphers: vec![Cipher::Aes128Gcm],
        max_frame_data: FRAME_DATA,
        ..Config::default()
    };
    let t = [0x45, 0x03, 0x23, 0x45, 0x04, 0x01, 0x23];
    let mut a = Session::fresh(Role::A, 0x23, &t, cfg.clone(), p, &mut rng).unwrap();
    let mut b = Session::fresh(Role::B, 0x23, &t, cfg, p, &mut rng).unwrap();
    let mut buf = [0u8; 512];
    let n = a.poll_stream(&mut buf);
    b.handle_stream(&buf[..n]).unwrap();
    let n = b.poll_stream(&mut buf);
    a.handle_stream(&buf[..n]).unwrap();
    (a, b)
}

const FRAME_DATA: usize = 16 * 1024;
const FRAME_LEN: usize = FRAME_DATA + tcpcrypt::frame::FRAME_OVERHEAD;

/// Receives `iters` frames with `open`, timing only `open`: the sender seals them in batches
/// of 64 beforehand (frames must arrive at the receiver's offsets, in order).
fn time_receive(iters: u64, mut open: impl FnMut(&mut Session, &mut [u8])) -> Duration {
    let (mut a, mut b) = session_pair();
    let data = vec![0xa5u8; FRAME_DATA];
    let mut wire = vec![0u8; 64 * FRAME_LEN];
    let mut total = Duration::ZERO;
    let mut left = iters;
    while left > 0 {
        let k = left.min(64) as usize;
        for f in wire.chunks_mut(FRAME_LEN).take(k) {
            a.seal_into(&data, f).unwrap();
        }
        let t = Instant::now();
        for f in wire.chunks_mut(FRAME_LEN).take(k) {
            open(&mut b, f);
        }
        total += t.elapsed();
        left -= k as u64;
    }
    total
}

/// One 16 KiB frame through a session, per direction and path (issue 5: the relay's copies).
fn session(c: &mut Criterion) {
    let mut g = c.benchmark_group("session-16k");
    g.throughput(Throughput::Bytes(FRAME_DATA as u64));
    // Source and destination 2 KiB apart modulo the page size: with a destination just
    // above the source modulo 4 KiB, glibc's `rep movsb` copy on this AMD VM runs at a third
    // of its speed (4K aliasing), which would swamp the difference measured here.
    let mut arena = vec![0xa5u8; FRAME_DATA + 2048 + FRAME_LEN + 4096];
    let (data, out) = arena.split_at_mut(FRAME_DATA + 2048);
    let data = &data[..FRAME_DATA];
    let out = &mut out[..FRAME_LEN];
    let (mut a, _) = session_pair();
    g.bench_function("seal/write+poll_stream", |b| {
        b.iter(|| {
            a.write(data).unwrap();
            a.poll_stream(out)
        })
    });
    let (mut a, _) = session_pair();
    g.bench_function("seal/seal_into", |b| {
        b.iter(|| a.seal_into(data, out).unwrap())
    });
    let mut plain = vec![0u8; FRAME_DATA];
    g.bench_function("open/handle_stream+read", |b| {
        b.iter_custom(|iters| {
            time_receive(iters, |s, f| {
                s.handle_stream(f).unwrap();
                let mut n = 0;
                while n < FRAME_DATA {
                    n += s.read(&mut plain[n..]).unwrap();
                }
            })
        })
    });
    let mut plain = vec![0u8; FRAME_DATA];
    g.bench_function("open/open_into", |b| {
        b.iter_custom(|iters| {
            time_receive(iters, |s, f| {
                s.open_into(f, &mut plain).unwrap();
            })
        })
    });
    g.finish();
}

criterion_group!(benches, aead, handshake, session);
criterion_main!(benches);
