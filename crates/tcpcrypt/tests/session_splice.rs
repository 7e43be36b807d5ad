//! RFC 8548 §3.6–§3.8 through caller buffers: `Session::seal_into`, `Session::open_into` and
//! `Session::input_needed` (the relay's zero-copy path) against the buffered
//! `write`/`poll_stream` and `handle_stream`/`read`: the same frames, offsets, key
//! generations and errors, in any interleaving of the two paths.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use proptest::prelude::*;
use rand_chacha::rand_core::{RngCore, SeedableRng};
use rand_chacha::ChaCha8Rng;
use tcpcrypt::frame::FRAME_OVERHEAD;
use tcpcrypt::provider::{ring, rustcrypto};
use tcpcrypt::{Cipher, Config, Error, ProtocolError, Role, Session, SessionState};

/// A fresh X25519 pair, established by exchanging Init1/Init2. The same `seed` gives the same
/// keys, so two pairs from one seed produce identical frames.
fn pair_with(cipher: Cipher, cfg: Config, seed: u64) -> (Session, Session) {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let cfg = Config {
        ciphers: vec![cipher],
        ..cfg
    };
    let t = [0x45, 0x03, 0x23, 0x45, 0x04, 0x01, 0x23];
    let mut a = Session::fresh(Role::A, 0x23, &t, cfg.clone(), &ring::PROVIDER, &mut rng).unwrap();
    let mut b = Session::fresh(Role::B, 0x23, &t, cfg, &rustcrypto::PROVIDER, &mut rng).unwrap();
    let mut buf = vec![0u8; 4096];
    let n = a.poll_stream(&mut buf);
    b.handle_stream(&buf[..n]).unwrap();
    let n = b.poll_stream(&mut buf);
    a.handle_stream(&buf[..n]).unwrap();
    assert!(a.is_established() && b.is_established());
    (a, b)
}

fn pair(seed: u64) -> (Session, Session) {
    pair_with(Cipher::Aes128Gcm, Config::default(), seed)
}

fn drain(s: &mut Session) -> Vec<u8> {
    let mut out = Vec::new();
    let mut buf = vec![0u8; 70_000];
    loop {
        let n = s.poll_stream(&mut buf);
        if n == 0 {
            return out;
        }
        out.extend_from_slice(&buf[..n]);
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

fn data(len: usize, seed: u64) -> Vec<u8> {
    let mut d = vec![0u8; len];
    ChaCha8Rng::seed_from_u64(seed).fill_bytes(&mut d);
    d
}

/// seal_into with a large `dst`: returns (consumed, the frames written).
fn seal_all(s: &mut Session, src: &[u8]) -> (usize, Vec<u8>) {
    let mut dst = vec![0u8; src.len() * (1 + FRAME_OVERHEAD) + 64];
    let (c, w) = s.seal_into(src, &mut dst).unwrap();
    dst.truncate(w);
    (c, dst)
}

#[test]
fn seal_into_writes_the_same_frames_as_write_and_poll() {
    for (i, max_frame_data) in [65_518usize, 16 * 1024, 1000, 1].into_iter().enumerate() {
        for cipher in Cipher::ALL {
            let cfg = Config {
                max_frame_data,
                ..Config::default()
            };
            let seed = 100 + i as u64;
            let (mut a1, mut b1) = pair_with(cipher, cfg.clone(), seed);
            let (mut a2, mut b2) = pair_with(cipher, cfg, seed);
            let d = data(if max_frame_data == 1 { 3000 } else { 200_000 }, seed);
            assert_eq!(a1.write(&d).unwrap(), d.len());
            let buffered = drain(&mut a1);
            let (c, direct) = seal_all(&mut a2, &d);
            assert_eq!(c, d.len());
            assert_eq!(direct.len(), buffered.len());
            assert!(
                direct == buffered,
                "{max_frame_data} {cipher:?}: frames differ"
            );
            assert_eq!(a1.stream_offsets(), a2.stream_offsets());
            // Both receivers verify it; the direct one into a caller buffer.
            b1.handle_stream(&buffered).unwrap();
            assert_eq!(read_all(&mut b1), (d.clone(), Ok(false)));
            let mut src = direct;
            let mut out = vec![0u8; d.len()];
            assert_eq!(b2.open_into(&mut src, &mut out), Ok((src.len(), d.len())));
            assert!(out == d);
            assert_eq!(b1.stream_offsets(), b2.stream_offsets());
            assert_eq!((b2.pending_input(), b2.readable()), (0, 0));
        }
    }
}

#[test]
fn small_dst_is_filled_exactly_and_never_below_one_data_byte() {
    let (mut a, mut b) = pair_with(
        Cipher::ChaCha20Poly1305,
        Config {
            max_frame_data: 1000,
            ..Config::default()
        },
        7,
    );
    let d = data(5000, 7);
    let mut wire = Vec::new();
    // Room for two whole frames and a smaller one that fills the rest exactly.
    let mut dst = vec![0u8; 3000];
    assert_eq!(a.seal_into(&d, &mut dst), Ok((2000 + 940, 3000)));
    assert_eq!(&dst[..3], &[0, 0x03, 0xf9]); // clen = 1 + 1000 + 16
    assert_eq!(&dst[2040..2043], &[0, 0x03, 0xbd]); // clen = 1 + 940 + 16
    wire.extend_from_slice(&dst);
    let mut off = 2940;
    // No room for a frame with a data byte: nothing at all.
    for room in 0..=FRAME_OVERHEAD {
        let mut dst = vec![0xeeu8; room];
        assert_eq!(a.seal_into(&d[off..], &mut dst), Ok((0, 0)));
        assert!(dst.iter().all(|&x| x == 0xee));
    }
    let mut dst = vec![0u8; FRAME_OVERHEAD + 1];
    assert_eq!(
        a.seal_into(&d[off..], &mut dst),
        Ok((1, FRAME_OVERHEAD + 1))
    );
    wire.extend_from_slice(&dst);
    off += 1;
    // Odd sizes: every byte of dst that is reported written is a whole frame.
    let mut rng = ChaCha8Rng::seed_from_u64(8);
    while off < d.len() {
        let mut dst = vec![0u8; rng.next_u32() as usize % 1500];
        let (c, w) = a.seal_into(&d[off..], &mut dst).unwrap();
        let rest = d.len() - off;
        if dst.len() > FRAME_OVERHEAD {
            assert!(c > 0);
            if c < rest {
                assert!(dst.len() - w <= FRAME_OVERHEAD, "{} {w}", dst.len());
            }
        } else {
            assert_eq!((c, w), (0, 0));
        }
        wire.extend_from_slice(&dst[..w]);
        off += c;
    }
    b.handle_stream(&wire).unwrap();
    assert_eq!(read_all(&mut b), (d, Ok(false)));
    assert_eq!(b.pending_input(), 0);
}

#[test]
fn seal_into_only_on_the_fast_path() {
    let mut rng = ChaCha8Rng::seed_from_u64(9);
    let t = [0x45, 0x03, 0x23, 0x45, 0x04, 0x01, 0x23];
    let cfg = Config::default();
    let mut a = Session::fresh(Role::A, 0x23, &t, cfg, &ring::PROVIDER, &mut rng).unwrap();
    let mut dst = [0u8; 200];
    // Before the handshake (Init1 queued): nothing.
    assert_eq!(a.seal_into(b"x", &mut dst), Ok((0, 0)));
    assert_eq!(a.open_into(&mut [0u8; 30], &mut dst), Ok((0, 0)));

    let (mut a, mut b) = pair(10);
    // Bytes in the send buffer come first: seal_into stands aside until they are polled.
    a.write(b"queued").unwrap();
    assert_eq!(a.seal_into(b"direct", &mut dst), Ok((0, 0)));
    let mut wire = drain(&mut a);
    let (c, w) = a.seal_into(b"direct", &mut dst).unwrap();
    assert_eq!((c, w), (6, FRAME_OVERHEAD + 6));
    wire.extend_from_slice(&dst[..w]);
    a.close().unwrap();
    // After our FINp: nothing (write would report WriteAfterClose).
    assert_eq!(drain(&mut a).len(), FRAME_OVERHEAD);
    assert_eq!(a.seal_into(b"late", &mut dst), Ok((0, 0)));
    b.handle_stream(&wire).unwrap();
    assert_eq!(read_all(&mut b).0, b"queueddirect");

    // A failed session reports its error, as write does.
    let (mut a, mut b) = pair(11);
    a.write(b"abc").unwrap();
    let mut f = drain(&mut a);
    f[5] ^= 1;
    assert_eq!(b.handle_stream(&f), Err(Error::DecryptFailed));
    assert_eq!(b.seal_into(b"x", &mut dst), Err(Error::DecryptFailed));
    assert_eq!(
        b.open_into(&mut [0u8; 30], &mut dst),
        Err(Error::DecryptFailed)
    );
}

/// Three frames carrying 100, 200 and 300 bytes, as one stream.
fn three_frames(a: &mut Session) -> (Vec<u8>, Vec<u8>) {
    let d = data(600, 12);
    let mut wire = Vec::new();
    for r in [0..100, 100..300, 300..600] {
        a.write(&d[r]).unwrap();
        wire.extend(drain(a));
    }
    (d, wire)
}

#[test]
fn open_into_stops_before_an_incomplete_frame_and_input_needed_completes_it() {
    let (mut a, mut b) = pair(13);
    let (d, wire) = three_frames(&mut a);
    let (f1, f2) = (100 + FRAME_OVERHEAD, 200 + FRAME_OVERHEAD);
    // Two whole frames and 10 bytes of the third.
    let cut = f1 + f2 + 10;
    let mut src = wire[..cut].to_vec();
    let mut dst = vec![0u8; 1000];
    assert_eq!(b.open_into(&mut src, &mut dst), Ok((f1 + f2, 300)));
    assert_eq!(&dst[..300], &d[..300]);
    assert_eq!(
        &src[f1 + f2..],
        &wire[f1 + f2..cut],
        "the tail is left alone"
    );
    assert_eq!(b.input_needed(), 0);
    // The caller feeds the tail to handle_stream; input_needed says how much completes it.
    b.handle_stream(&src[f1 + f2..]).unwrap();
    assert_eq!(b.pending_input(), 10);
    assert_eq!(b.input_needed(), 300 + FRAME_OVERHEAD - 10);
    assert_eq!(b.open_into(&mut wire[cut..].to_vec(), &mut dst), Ok((0, 0)));
    b.handle_stream(&wire[cut..cut + b.input_needed()]).unwrap();
    assert_eq!((b.pending_input(), b.input_needed()), (0, 0));
    // Still buffered plaintext: open_into waits until it is read.
    assert_eq!(b.readable(), 300);
    a.write(b"next").unwrap();
    let mut next = drain(&mut a);
    assert_eq!(b.open_into(&mut next.clone(), &mut dst), Ok((0, 0)));
    assert_eq!(read_all(&mut b).0, &d[300..]);
    assert_eq!(
        b.open_into(&mut next, &mut dst),
        Ok((FRAME_OVERHEAD + 4, 4))
    );
    assert_eq!(&dst[..4], b"next");
    assert_eq!(a.stream_offsets().unwrap().0, b.stream_offsets().unwrap().1);
}

#[test]
fn open_into_stops_before_a_frame_whose_data_does_not_fit() {
    let (mut a, mut b) = pair(14);
    let (d, wire) = three_frames(&mut a);
    let f1 = 100 + FRAME_OVERHEAD;
    let mut src = wire.clone();
    // Room for the first frame's data and 199 more bytes: the 200-byte frame does not fit.
    let mut dst = vec![0u8; 299];
    assert_eq!(b.open_into(&mut src, &mut dst), Ok((f1, 100)));
    assert_eq!(&dst[..100], &d[..100]);
    assert!(
        dst[100..].iter().all(|&x| x == 0),
        "nothing of frame 2 written"
    );
    assert_eq!(&src[f1..], &wire[f1..], "frame 2 is not decrypted in place");
    // Exactly its size fits, then the same for frame 3; a 0-byte dst takes nothing.
    assert_eq!(b.open_into(&mut src[f1..], &mut []), Ok((0, 0)));
    assert_eq!(
        b.open_into(&mut src[f1..], &mut dst[..200]),
        Ok((200 + FRAME_OVERHEAD, 200))
    );
    assert_eq!(&dst[..200], &d[100..300]);
    // Or the caller takes the buffered path for it.
    b.handle_stream(&src[f1 + 200 + FRAME_OVERHEAD..]).unwrap();
    assert_eq!(read_all(&mut b).0, &d[300..]);
}

#[test]
fn finp_through_open_into_ends_the_stream() {
    let (mut a, mut b) = pair(15);
    a.write(b"last words").unwrap();
    a.close().unwrap();
    let mut src = drain(&mut a);
    let len = src.len();
    let mut dst = [0u8; 64];
    assert_eq!(b.open_into(&mut src, &mut dst), Ok((len, 10)));
    assert_eq!(&dst[..10], b"last words");
    assert!(b.fin_received());
    assert_eq!(b.read(&mut dst), Ok(0));
    assert_eq!(b.open_into(&mut [0u8; 40], &mut dst), Ok((0, 0)));
    b.on_tcp_fin().unwrap();
    // B still sends, directly, then closes: both sides closed.
    let (c, w) = b.seal_into(b"reply", &mut dst).unwrap();
    assert_eq!(c, 5);
    a.handle_stream(&dst[..w]).unwrap();
    b.close().unwrap();
    a.handle_stream(&drain(&mut b)).unwrap();
    assert_eq!(read_all(&mut a), (b"reply".to_vec(), Ok(true)));
    assert_eq!(
        (a.state(), b.state()),
        (SessionState::Closed, SessionState::Closed)
    );

    // Bytes after the FINp frame: the same error on both paths, and the session fails.
    let (mut a, _) = pair(16);
    a.close().unwrap();
    let fin = drain(&mut a);
    let mut twice = fin.clone();
    twice.extend_from_slice(&fin[..5]);
    let (_, mut b1) = pair(16);
    let (_, mut b2) = pair(16);
    let e = Error::Protocol(ProtocolError::FrameAfterFin);
    assert_eq!(b1.handle_stream(&twice), Err(e));
    assert_eq!(b2.open_into(&mut twice, &mut dst), Err(e));
    assert_eq!(b2.state(), SessionState::Failed);
    assert_eq!(b2.read(&mut dst), Err(e));
}

#[test]
fn tampering_fails_open_into_exactly_as_handle_stream() {
    let (mut a, _) = pair(17);
    a.write(b"first frame, verified").unwrap();
    let good = drain(&mut a);
    a.write(b"second frame, tampered with").unwrap();
    let bad = drain(&mut a);
    let bits = (0..bad.len() * 8).step_by(3);
    for bit in bits {
        let mut stream = good.clone();
        stream.extend_from_slice(&bad);
        stream[good.len() + bit / 8] ^= 1 << (bit % 8);
        let (_, mut b1) = pair(17);
        let (_, mut b2) = pair(17);
        let r1 = b1.handle_stream(&stream);
        let mut dst = vec![0u8; 200];
        let r2 = b2.open_into(&mut stream.clone(), &mut dst);
        match r1 {
            Ok(()) => {
                // A clen made longer than what arrived: open_into stops before it too.
                assert_eq!(r2, Ok((good.len(), 21)), "bit {bit}");
                assert!(b1.pending_input() > 0 && b2.input_needed() == 0);
            }
            Err(e) => {
                assert_eq!(r2, Err(e), "bit {bit}");
                assert_eq!(b2.state(), SessionState::Failed);
                assert_eq!(b2.error(), Some(e));
                assert_eq!(b2.read(&mut [0u8; 8]), Err(e));
                // Only the verified first frame's data was written, nothing of the second.
                assert_eq!(&dst[..21], b"first frame, verified");
                assert!(dst[21..].iter().all(|&x| x == 0), "bit {bit} leaked");
            }
        }
    }
}

#[test]
fn rekey_through_open_into_queues_the_answer() {
    let (mut a, mut b) = pair(18);
    a.write(b"before").unwrap();
    assert!(a.keepalive().unwrap());
    a.send_frame(b"after", false, false).unwrap();
    let mut src = drain(&mut a);
    let len = src.len();
    let mut dst = [0u8; 64];
    assert_eq!(b.open_into(&mut src, &mut dst), Ok((len, 11)));
    assert_eq!(&dst[..11], b"beforeafter");
    assert_eq!(b.generations(), Some((1, 1)));
    // Exactly one answering frame, in the send buffer: seal_into waits behind it.
    assert_eq!(b.pending_transmit(), FRAME_OVERHEAD);
    assert_eq!(b.seal_into(b"x", &mut dst), Ok((0, 0)));
    let mut answer = drain(&mut b);
    assert_eq!(answer[0], 0x01);
    // A verifies the answer through open_into too, and must not answer it.
    assert_eq!(a.open_into(&mut answer, &mut dst), Ok((FRAME_OVERHEAD, 0)));
    assert_eq!(a.generations(), Some((1, 1)));
    assert_eq!(a.pending_transmit(), 0);
    // B initiates with data twice (send_frame queues); A answers each, from open_into.
    b.send_frame(b"b1", false, true).unwrap();
    b.send_frame(b"b2", false, true).unwrap();
    let mut src = drain(&mut b);
    let (c, w) = a.open_into(&mut src, &mut dst).unwrap();
    assert_eq!((c, &dst[..w]), (src.len(), &b"b1b2"[..]));
    assert_eq!(a.generations(), Some((3, 3)));
    assert_eq!(a.pending_transmit(), 2 * FRAME_OVERHEAD);
    b.handle_stream(&drain(&mut a)).unwrap();
    assert_eq!((b.generations(), b.pending_transmit()), (Some((3, 3)), 0));
    // Direct traffic under the new generations.
    let (_, w) = a.seal_into(b"ping", &mut dst).unwrap();
    let mut out = [0u8; 8];
    assert_eq!(b.open_into(&mut dst[..w], &mut out), Ok((w, 4)));
    assert_eq!(&out[..4], b"ping");
}

#[test]
fn input_needed_for_partial_header_body_and_init() {
    let (mut a, mut b) = pair(19);
    assert_eq!(b.input_needed(), 0);
    a.write(&[5u8; 50]).unwrap();
    let f = drain(&mut a);
    assert_eq!(f.len(), 70);
    b.handle_stream(&f[..1]).unwrap();
    assert_eq!(b.input_needed(), 2);
    b.handle_stream(&f[1..3]).unwrap();
    assert_eq!(b.input_needed(), 67);
    b.handle_stream(&f[3..40]).unwrap();
    assert_eq!(b.input_needed(), 30);
    b.handle_stream(&f[40..69]).unwrap();
    assert_eq!(b.input_needed(), 1);
    b.handle_stream(&f[69..]).unwrap();
    assert_eq!(b.input_needed(), 0);
    assert_eq!(read_all(&mut b).0, vec![5u8; 50]);

    // During the handshake: the rest of Init1 (75 bytes for X25519), 8 until message_len.
    let mut rng = ChaCha8Rng::seed_from_u64(20);
    let t = [0x45, 0x03, 0x23, 0x45, 0x04, 0x01, 0x23];
    let mut fresh = |role| {
        Session::fresh(role, 0x23, &t, Config::default(), &ring::PROVIDER, &mut rng).unwrap()
    };
    let (mut a, mut b) = (fresh(Role::A), fresh(Role::B));
    let init1 = drain(&mut a);
    b.handle_stream(&init1[..3]).unwrap();
    assert_eq!(b.input_needed(), 5);
    b.handle_stream(&init1[3..10]).unwrap();
    assert_eq!(b.input_needed(), init1.len() - 10);
    b.handle_stream(&init1[10..]).unwrap();
    assert_eq!(b.input_needed(), 0);
    assert!(b.is_established());
}

/// One direction of a mixed transfer: the sender uses write/poll_stream or seal_into, with
/// rekeys queued by send_frame/keepalive; the receiver uses open_into or handle_stream/read.
struct Flow {
    data: Vec<u8>,
    sent: usize,
    wire: Vec<u8>,
    /// Bytes of `wire` that have "arrived" at the receiver.
    arrived: usize,
    /// Bytes of `wire` the receiver consumed.
    taken: usize,
    got: Vec<u8>,
}

impl Flow {
    fn new(data: Vec<u8>) -> Flow {
        Flow {
            data,
            sent: 0,
            wire: Vec::new(),
            arrived: 0,
            taken: 0,
            got: Vec::new(),
        }
    }

    fn send(&mut self, s: &mut Session, rng: &mut ChaCha8Rng) {
        let left = self.data.len() - self.sent;
        let want = (rng.next_u32() as usize % 20_000).min(left);
        let src = &self.data[self.sent..self.sent + want];
        match rng.next_u32() % 8 {
            0..=3 => {
                // The relay's way: flush the send buffer, then seal directly.
                if rng.next_u32() % 2 == 0 {
                    self.wire.extend(drain(s));
                }
                let mut dst = vec![0u8; rng.next_u32() as usize % 30_000];
                let fast = s.pending_transmit() == 0 && dst.len() > FRAME_OVERHEAD;
                let (c, w) = s.seal_into(src, &mut dst).unwrap();
                assert_eq!(c > 0, fast && !src.is_empty());
                assert!(w <= dst.len() && (c == 0) == (w == 0));
                self.wire.extend_from_slice(&dst[..w]);
                self.sent += c;
            }
            4 | 5 => {
                self.sent += s.write(src).unwrap();
            }
            6 => {
                let n = want.min(3000);
                match s.send_frame(&src[..n], false, true) {
                    Ok(()) => self.sent += n,
                    Err(Error::Protocol(ProtocolError::RekeyNotAllowed)) => {}
                    Err(e) => panic!("{e:?}"),
                }
            }
            _ => {
                s.keepalive().unwrap();
            }
        }
        // Some of the send buffer goes out now, some later.
        let mut buf = vec![0u8; rng.next_u32() as usize % 40_000];
        let n = s.poll_stream(&mut buf);
        self.wire.extend_from_slice(&buf[..n]);
    }

    fn deliver(&mut self, rng: &mut ChaCha8Rng) {
        let more = rng.next_u32() as usize % 30_000;
        self.arrived = (self.arrived + more).min(self.wire.len());
    }

    fn receive(&mut self, r: &mut Session, rng: &mut ChaCha8Rng) {
        let src = &mut self.wire[self.taken..self.arrived];
        if src.is_empty() {
            return;
        }
        if rng.next_u32() % 3 != 0 {
            let mut dst = vec![0u8; rng.next_u32() as usize % 70_000];
            let (c, w) = r.open_into(src, &mut dst).unwrap();
            self.taken += c;
            self.got.extend_from_slice(&dst[..w]);
            if c > 0 {
                return;
            }
        }
        // The buffered path: either exactly the rest of one frame, or any amount.
        let src = &self.wire[self.taken..self.arrived];
        let n = match (r.input_needed(), rng.next_u32() % 2) {
            (0, _) | (_, 0) => 1 + rng.next_u32() as usize % 25_000,
            (need, _) => need,
        }
        .min(src.len());
        r.handle_stream(&src[..n]).unwrap();
        self.taken += n;
        let (d, eof) = read_all(r);
        self.got.extend_from_slice(&d);
        assert_eq!(eof, Ok(false));
    }

    /// Everything sent, delivered and read; then FINp.
    fn finish(&mut self, s: &mut Session, r: &mut Session) {
        while self.sent < self.data.len() {
            let n = s.write(&self.data[self.sent..]).unwrap();
            self.sent += n;
            self.wire.extend(drain(s));
        }
        s.close().unwrap();
        self.wire.extend(drain(s));
        r.handle_stream(&self.wire[self.taken..]).unwrap();
        self.taken = self.wire.len();
        let (d, eof) = read_all(r);
        self.got.extend_from_slice(&d);
        assert_eq!(eof, Ok(true));
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    /// Any interleaving of the direct and buffered paths on both sides, with rekeys (data
    /// frames and keep-alives) in both directions, carries the same byte streams, and every
    /// byte is verified: FINp at the end, both sides Closed at the same offsets and key
    /// generations.
    #[test]
    fn mixed_paths_carry_the_same_stream(seed in any::<u64>(), la in 0usize..200_000,
                                         lb in 0usize..60_000, steps in 1usize..120,
                                         cipher in prop::sample::select(Cipher::ALL.to_vec()),
                                         small in any::<bool>()) {
        let cfg = Config {
            max_frame_data: if small { 1 + seed as usize % 5000 } else { 16 * 1024 },
            ..Config::default()
        };
        let (mut a, mut b) = pair_with(cipher, cfg, seed);
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let mut ab = Flow::new(data(la, seed ^ 1));
        let mut ba = Flow::new(data(lb, seed ^ 2));
        for _ in 0..steps {
            match rng.next_u32() % 6 {
                0 => ab.send(&mut a, &mut rng),
                1 => ba.send(&mut b, &mut rng),
                2 => ab.deliver(&mut rng),
                3 => ba.deliver(&mut rng),
                4 => ab.receive(&mut b, &mut rng),
                _ => ba.receive(&mut a, &mut rng),
            }
        }
        // Rekey answers queued by the receivers flow back through the other direction.
        ab.finish(&mut a, &mut b);
        ba.finish(&mut b, &mut a);
        prop_assert!(ab.got == ab.data, "A->B stream differs");
        prop_assert!(ba.got == ba.data, "B->A stream differs");
        prop_assert_eq!((a.state(), b.state()), (SessionState::Closed, SessionState::Closed));
        // B's generation reached A; A's own may have moved on after its FINp, silently
        // (a rekey from B received after our FINp is not answered, RFC 8548 §3.8).
        let (ga, gb) = (a.generations().unwrap(), b.generations().unwrap());
        prop_assert_eq!(ga.1, gb.0);
        prop_assert!(ga.0 >= gb.1);
        let (oa, ob) = (a.stream_offsets().unwrap(), b.stream_offsets().unwrap());
        prop_assert_eq!((oa.0, oa.1), (ob.1, ob.0));
        prop_assert_eq!((a.pending_input(), b.pending_input()), (0, 0));
        prop_assert_eq!((a.pending_transmit(), b.pending_transmit()), (0, 0));
    }
}
