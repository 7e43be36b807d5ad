//! `Stack::splice`: one stack (B) holds two connections and moves bytes from the first's
//! receive ring straight into the second's send ring, as a relay does. Stack A holds both
//! far ends: it sends on `a1` (to B's `b1`) and reads what B forwards on `a2` (from `b2`).
//! B never calls `recv`, so every transfer larger than its receive buffer also proves the
//! window reopens through splice alone. Checked by SHA-256 against the expected stream.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::cell::Cell;

use common::*;
use sha2::{Digest, Sha256};
use stack::{ConnId, Duration, Event, RecvError, State};

const RECV_BUFFER: usize = 256 * 1024;

fn pattern(len: usize, seed: u8) -> Vec<u8> {
    let mut x: u32 = 0x1234_5678 ^ u32::from(seed);
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            (x >> 24) as u8
        })
        .collect()
}

/// Drop packets with probability `loss_pct`% from a seeded xorshift generator.
fn lossy(seed: u32, loss_pct: u32) -> Filter {
    let mut x = seed | 1;
    Box::new(move |_, _| {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        x % 100 >= loss_pct
    })
}

/// The four connections: `a1 -> b1` (B's port 80) and `b2 -> a2` (B's port 81).
struct Relay {
    p: Pair,
    a1: ConnId,
    a2: ConnId,
    b1: ConnId,
    b2: ConnId,
    /// How many of `p.b_events` the driver has looked at.
    seen: usize,
}

fn relay(filter: Option<Filter>) -> Relay {
    let mut p = Pair::new(stack(v4(1), 1), stack(v4(2), 2));
    p.filter = filter;
    let (a1, a2, b1, b2) = relay_legs(&mut p);
    Relay {
        p,
        a1,
        a2,
        b1,
        b2,
        seen: 0,
    }
}

/// Expanding transform: every `CHUNK`-byte unit of the input gets a 4-byte header
/// (`'H'` + unit index, 24 bit big-endian) in front. Streams across arbitrary part
/// boundaries (the header may be split by the ring wrap), as the splice contract asks.
const CHUNK: usize = 100;

#[derive(Default)]
struct Framer {
    unit: u32,
    /// Header bytes of the current unit already written (4 = in the body).
    hdr: usize,
    /// Body bytes of the current unit already copied.
    body: usize,
}

impl Framer {
    fn header(unit: u32) -> [u8; 4] {
        let b = unit.to_be_bytes();
        [b'H', b[1], b[2], b[3]]
    }

    fn step(&mut self, src: &mut [u8], dst: &mut [u8]) -> Result<(usize, usize), ()> {
        let (mut c, mut p) = (0, 0);
        while c < src.len() && p < dst.len() {
            if self.hdr < 4 {
                let h = Self::header(self.unit);
                let n = (4 - self.hdr).min(dst.len() - p);
                dst[p..p + n].copy_from_slice(&h[self.hdr..self.hdr + n]);
                self.hdr += n;
                p += n;
                continue;
            }
            let n = (CHUNK - self.body).min(src.len() - c).min(dst.len() - p);
            dst[p..p + n].copy_from_slice(&src[c..c + n]);
            c += n;
            p += n;
            self.body += n;
            if self.body == CHUNK {
                self.unit += 1;
                self.hdr = 0;
                self.body = 0;
            }
        }
        Ok((c, p))
    }

    fn expected(input: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        for (i, chunk) in input.chunks(CHUNK).enumerate() {
            out.extend_from_slice(&Self::header(i as u32));
            out.extend_from_slice(chunk);
        }
        out
    }
}

/// Shrinking transform: of every `CHUNK`-byte unit only the first `KEEP` bytes pass, each
/// XORed with 0x5a in place in the receive ring first (the source is scribbled on).
const KEEP: usize = 90;

#[derive(Default)]
struct Shrinker {
    /// Position inside the current unit.
    pos: usize,
}

impl Shrinker {
    fn step(&mut self, src: &mut [u8], dst: &mut [u8]) -> Result<(usize, usize), ()> {
        let (mut c, mut p) = (0, 0);
        while c < src.len() {
            if self.pos < KEEP {
                let n = (KEEP - self.pos).min(src.len() - c).min(dst.len() - p);
                if n == 0 {
                    break;
                }
                for b in &mut src[c..c + n] {
                    *b ^= 0x5a;
                }
                dst[p..p + n].copy_from_slice(&src[c..c + n]);
                p += n;
                c += n;
                self.pos += n;
            } else {
                let n = (CHUNK - self.pos).min(src.len() - c);
                c += n;
                self.pos += n;
            }
            if self.pos == CHUNK {
                self.pos = 0;
            }
        }
        Ok((c, p))
    }

    fn expected(input: &[u8]) -> Vec<u8> {
        input
            .chunks(CHUNK)
            .flat_map(|c| c.iter().take(KEEP).map(|b| b ^ 0x5a))
            .collect()
    }
}

/// What a transfer saw.
#[derive(Default)]
struct Outcome {
    got: Vec<u8>,
    splices: usize,
    /// Most `f` calls within one splice (>= 2 proves the ring-wrap continuation ran).
    max_calls: usize,
    /// Splices that found `b2`'s send ring full (f not called).
    blocked: usize,
    /// Sum of the produced counts splice returned.
    produced: usize,
}

/// Runs `input` from `a1` through B's splice (event-driven: only on `Readable` of `b1`
/// or `Writable` of `b2`, as a relay would) to `a2`. `a2` stops reading for two seconds
/// once it got `pause_at` bytes, so that every ring in the chain fills up and the
/// transfer can only resume through splice's `Writable` and window-update bookkeeping.
fn transfer(
    r: &mut Relay,
    input: &[u8],
    expected_len: usize,
    pause_at: usize,
    mut f: impl FnMut(&mut [u8], &mut [u8]) -> Result<(usize, usize), ()>,
) -> Outcome {
    let mut out = Outcome::default();
    let mut sent = 0;
    let mut buf = vec![0u8; 65536];
    let mut pause_until = None;
    let mut wake = true;
    for _ in 0..5_000_000 {
        let now = r.p.now;
        if sent < input.len() {
            sent += r.p.a.send(now, r.a1, &input[sent..]);
        }
        for (id, e) in &r.p.b_events[r.seen..] {
            wake |=
                (*id == r.b1 && *e == Event::Readable) || (*id == r.b2 && *e == Event::Writable);
        }
        r.seen = r.p.b_events.len();
        if wake {
            wake = false;
            let calls = Cell::new(0usize);
            let before = r.p.b.recv_queue(r.b1);
            let (c, p) =
                r.p.b
                    .splice(now, r.b1, r.b2, |s, d| {
                        calls.set(calls.get() + 1);
                        assert!(!s.is_empty() && !d.is_empty());
                        f(s, d)
                    })
                    .unwrap();
            out.splices += 1;
            out.max_calls = out.max_calls.max(calls.get());
            if calls.get() == 0 && before > 0 {
                out.blocked += 1;
            }
            assert_eq!(r.p.b.recv_queue(r.b1), before - c);
            out.produced += p;
        }
        if pause_until.is_none() && out.got.len() >= pause_at {
            pause_until = Some(now + Duration::from_secs(2));
        }
        if pause_until.is_none_or(|t| now >= t) {
            loop {
                match r.p.a.recv(now, r.a2, &mut buf) {
                    Ok(n) => {
                        assert!(n > 0, "unexpected EOF");
                        out.got.extend_from_slice(&buf[..n]);
                    }
                    Err(RecvError::WouldBlock) => break,
                    Err(e) => panic!("a2: {e}"),
                }
            }
        }
        if out.got.len() >= expected_len {
            break;
        }
        if !r.p.step() {
            panic!("idle at {} after {} bytes", r.p.now, out.got.len());
        }
    }
    assert_eq!(out.produced, expected_len);
    assert_eq!(
        out.got.len(),
        expected_len,
        "sent {sent}, b1 queue {}, b2 queue {}",
        r.p.b.recv_queue(r.b1),
        r.p.b.send_queue(r.b2)
    );
    out
}

fn sha(b: &[u8]) -> Vec<u8> {
    Sha256::digest(b).to_vec()
}

#[test]
fn identity_splice_moves_megabytes_through_ring_wraps() {
    let mut r = relay(None);
    let input = pattern(4 << 20, 1);
    let o = transfer(&mut r, &input, input.len(), 1 << 20, copy);
    assert_eq!(sha(&o.got), sha(&input));
    assert!(o.max_calls >= 2, "the wrap continuation never ran");
    assert!(
        o.blocked > 0,
        "b2's send ring never filled: the pause did not bite"
    );
    // B never read: the receive buffer was refilled many times through splice alone.
    assert!(input.len() > 8 * RECV_BUFFER);
    assert_eq!(r.p.b.recv_queue(r.b1), 0);
    assert_eq!(r.p.b.stats().retransmits, 0);
}

#[test]
fn identity_splice_under_loss() {
    let mut r = relay(Some(lossy(0x5eed, 2)));
    let input = pattern(2 << 20, 2);
    let o = transfer(&mut r, &input, input.len(), 512 * 1024, copy);
    assert_eq!(sha(&o.got), sha(&input));
    assert!(r.p.a.stats().retransmits > 0 && r.p.b.stats().retransmits > 0);
}

#[test]
fn expanding_transform_is_byte_exact() {
    let mut r = relay(Some(lossy(7, 1)));
    let input = pattern(2 << 20, 3);
    let want = Framer::expected(&input);
    assert_eq!(
        want.len(),
        input.len() / CHUNK * (CHUNK + 4) + 4 + input.len() % CHUNK
    );
    let mut fr = Framer::default();
    let o = transfer(&mut r, &input, want.len(), 700 * 1024, |s, d| fr.step(s, d));
    assert_eq!(sha(&o.got), sha(&want));
    assert!(o.max_calls >= 2);
}

#[test]
fn shrinking_transform_is_byte_exact() {
    let mut r = relay(Some(lossy(11, 1)));
    let input = pattern((2 << 20) + 37, 4);
    let want = Shrinker::expected(&input);
    let mut sh = Shrinker::default();
    let o = transfer(&mut r, &input, want.len(), 600 * 1024, |s, d| sh.step(s, d));
    assert_eq!(sha(&o.got), sha(&want));
    assert!(o.max_calls >= 2);
}

/// Sends `data` on `a1` and steps until it all sits in `b1`'s receive queue.
fn deliver_to_b1(r: &mut Relay, data: &[u8]) {
    let now = r.p.now;
    assert_eq!(r.p.a.send(now, r.a1, data), data.len());
    let want = r.p.b.recv_queue(r.b1) + data.len();
    let b1 = r.b1;
    r.p.run_until(10_000, |p| p.b.recv_queue(b1) == want);
}

#[test]
fn no_call_for_same_unknown_or_closed_ids() {
    let mut r = relay(None);
    deliver_to_b1(&mut r, &pattern(5000, 5));
    let now = r.p.now;
    let called = Cell::new(0);
    let f = |_: &mut [u8], _: &mut [u8]| -> Result<(usize, usize), ()> {
        called.set(called.get() + 1);
        Ok((1, 1))
    };
    // Same id.
    assert_eq!(r.p.b.splice(now, r.b1, r.b1, f), Ok((0, 0)));
    // Unknown ids: a stale one (aborted, slot released) as either side.
    let stale = {
        let x =
            r.p.b
                .connect(now, ep(v4(2), 5000), ep(v4(1), 9), None)
                .unwrap();
        r.p.b.abort(now, x);
        assert_eq!(r.p.b.state(x), None);
        x
    };
    assert_eq!(r.p.b.splice(now, stale, r.b2, f), Ok((0, 0)));
    assert_eq!(r.p.b.splice(now, r.b1, stale, f), Ok((0, 0)));
    // An empty source: nothing to offer.
    assert_eq!(r.p.b.splice(now, r.b2, r.b1, f), Ok((0, 0)));
    // `to` closed for sending (FIN queued: FIN-WAIT-1).
    r.p.b.close(now, r.b2);
    assert_eq!(r.p.b.state(r.b2), Some(State::FinWait1));
    assert_eq!(r.p.b.splice(now, r.b1, r.b2, f), Ok((0, 0)));
    assert_eq!(called.get(), 0);
    assert_eq!(r.p.b.recv_queue(r.b1), 5000);
    // The same call with an open `to` does call `f` (the checks above are not vacuous).
    let a3 =
        r.p.a
            .connect(now, ep(v4(1), 40002), ep(v4(2), 80), None)
            .unwrap();
    let a3_seen = r.p.b_events.len();
    r.p.run_until(10_000, |p| {
        p.a_has(a3, &Event::Established)
            && p.b_events[a3_seen..]
                .iter()
                .any(|(_, e)| *e == Event::Established)
    });
    let b3 = r.p.b_events[a3_seen..]
        .iter()
        .find(|(_, e)| *e == Event::Established)
        .unwrap()
        .0;
    let now = r.p.now;
    // `f` moving one byte per call is called again while it makes progress.
    assert_eq!(r.p.b.splice(now, r.b1, b3, f), Ok((5000, 5000)));
    assert_eq!(called.get(), 5000);
    assert_eq!(r.p.b.recv_queue(r.b1), 0);
    assert_eq!(r.p.b.send_queue(b3), 5000);
}

#[test]
fn error_from_f_is_returned_and_earlier_moves_stay() {
    let mut r = relay(None);
    let data = pattern(5000, 6);
    deliver_to_b1(&mut r, &data);
    let now = r.p.now;
    let mut calls = 0;
    let res = r.p.b.splice(now, r.b1, r.b2, |s, d| {
        calls += 1;
        if calls == 1 {
            assert_eq!(s.len(), 5000);
            d[..1000].copy_from_slice(&s[..1000]);
            // Scribble on the consumed bytes: they must not come back.
            s[..1000].fill(0);
            // Clamped: claims more than the slices hold on the second call only.
            Ok((1000, 1000))
        } else {
            assert_eq!(
                s.len(),
                4000,
                "the next part starts after what was consumed"
            );
            Err("boom")
        }
    });
    assert_eq!(res, Err("boom"));
    assert_eq!(calls, 2);
    assert_eq!(r.p.b.recv_queue(r.b1), 4000);
    assert_eq!(r.p.b.send_queue(r.b2), 1000);
    // The moved bytes go out; the rest follows with a second splice that over-claims
    // (clamped to the slice lengths).
    let res =
        r.p.b
            .splice(now, r.b1, r.b2, |s, d| {
                d[..s.len()].copy_from_slice(s);
                Ok::<_, ()>((usize::MAX, s.len()))
            })
            .unwrap();
    assert_eq!(res, (4000, 4000));
    let mut got = Vec::new();
    let a2 = r.a2;
    let mut buf = [0u8; 8192];
    r.p.run_until(10_000, |p| {
        while let Ok(n) = p.a.recv(p.now, a2, &mut buf) {
            got.extend_from_slice(&buf[..n]);
        }
        got.len() >= 5000
    });
    assert_eq!(got, data);
}

#[test]
fn splice_reopens_a_closed_receive_window_at_once() {
    let mut r = relay(None);
    // Fill b1's receive buffer completely: A's window is closed, data waits at A.
    let data = pattern(RECV_BUFFER + 100_000, 8);
    let (a1, b1) = (r.a1, r.b1);
    let mut sent = 0;
    let mut feed = |p: &mut Pair| {
        let now = p.now;
        sent += p.a.send(now, a1, &data[sent..]);
        sent
    };
    r.p.run_until(100_000, |p| {
        feed(p) == data.len() && p.b.recv_queue(b1) == RECV_BUFFER
    });
    let stuck = r.p.a.send_queue(r.a1);
    assert!(stuck >= 100_000, "{stuck}");
    // Splice at once, while B's delayed ACK (40 ms) and A's persist timer (>= 200 ms) are
    // still pending (waiting here would let time jump to the probe, which reopens the
    // window by itself). One splice drains the ring into b2 (same buffer size): the
    // window update goes out with the next poll_transmit, and A's data arrives within a
    // round trip (10 ms here).
    // B transmits what it has now (so that b1 is no longer queued for transmission: the
    // splice itself must queue it).
    let now = r.p.now;
    let mut pkt = vec![0u8; 2048];
    while let Some(n) = r.p.b.poll_transmit(now, &mut pkt) {
        r.p.wire.push((now + r.p.latency, false, pkt[..n].to_vec()));
    }
    let (c, p) = r.p.b.splice(now, b1, r.b2, copy).unwrap();
    assert_eq!((c, p), (RECV_BUFFER, RECV_BUFFER));
    assert_eq!(r.p.b.recv_queue(b1), 0);
    // b1's emptied ring went back to the spare buffers at once.
    assert_eq!(r.p.b.buffer_allocation(b1), 0);
    let t = now + Duration::from_millis(20);
    r.p.run_until(100_000, |p| p.now >= t || p.b.recv_queue(b1) > 0);
    assert!(r.p.now < t, "no window update after splice");
    // The rest follows (splicing as b2's room allows) and the relayed bytes arrive in order.
    let mut got = Vec::new();
    let (a2, b2) = (r.a2, r.b2);
    let mut buf = vec![0u8; 65536];
    r.p.run_until(100_000, |p| {
        p.b.splice(p.now, b1, b2, copy).unwrap();
        while let Ok(n) = p.a.recv(p.now, a2, &mut buf) {
            got.extend_from_slice(&buf[..n]);
        }
        got.len() >= data.len()
    });
    assert_eq!(sha(&got), sha(&data));
}

#[test]
fn eof_is_not_spliced_but_read_with_recv() {
    let mut r = relay(None);
    let data = pattern(3000, 9);
    deliver_to_b1(&mut r, &data);
    let now = r.p.now;
    r.p.a.close(now, r.a1);
    let b1 = r.b1;
    let seen = r.p.b_events.len();
    r.p.run_until(10_000, |p| {
        p.b_events[seen..]
            .iter()
            .any(|(id, e)| *id == b1 && *e == Event::PeerClosed)
    });
    let now = r.p.now;
    // Bytes before the FIN are spliced; the FIN itself is not, and b2 stays open.
    assert_eq!(r.p.b.splice(now, b1, r.b2, copy), Ok((3000, 3000)));
    assert_eq!(r.p.b.splice(now, b1, r.b2, copy), Ok((0, 0)));
    assert_eq!(r.p.b.state(r.b2), Some(State::Established));
    let mut buf = [0u8; 16];
    assert_eq!(r.p.b.recv(now, b1, &mut buf), Ok(0));
}

#[test]
fn peek_copies_across_the_ring_wrap_without_consuming() {
    let mut r = relay(None);
    let data = pattern(200_000, 7);
    deliver_to_b1(&mut r, &data);
    // Read most of it so that the next delivery wraps around the ring's end.
    let now = r.p.now;
    let mut sink = vec![0u8; 150_000];
    assert_eq!(r.p.b.recv(now, r.b1, &mut sink), Ok(150_000));
    let more = pattern(150_000, 8);
    deliver_to_b1(&mut r, &more);
    let queued = r.p.b.recv_queue(r.b1);
    assert_eq!(queued, 200_000);
    let mut peeked = vec![0u8; queued + 10];
    assert_eq!(r.p.b.peek(r.b1, &mut peeked), queued);
    assert_eq!(r.p.b.peek(r.b1, &mut [0u8; 3][..]), 3);
    assert_eq!(r.p.b.recv_queue(r.b1), queued, "peek consumed nothing");
    let mut read = vec![0u8; queued];
    let now = r.p.now;
    assert_eq!(r.p.b.recv(now, r.b1, &mut read), Ok(queued));
    assert_eq!(&peeked[..queued], &read[..]);
    let mut expected = data[150_000..].to_vec();
    expected.extend_from_slice(&more);
    assert_eq!(read, expected);
    // A stale id peeks nothing.
    r.p.b.abort(now, r.b1);
    assert_eq!(r.p.b.peek(r.b1, &mut peeked), 0);
}
