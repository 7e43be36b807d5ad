//! Deterministic network simulation (feature `sim`), in the style of neqo's
//! `test-fixture/src/sim` and quinn-proto's test `Pair`.
//!
//! Two [`Node`]s exchange IP packets through two [`Link`]s (one per direction).
//! Time is virtual: [`Simulator::step`] handles due timers and deliveries, drains
//! both nodes' transmissions, and only when nothing is left at the current instant
//! jumps `now` to the earliest of both nodes' deadlines and the next delivery.
//! Nothing sleeps. All randomness comes from one [`ChaCha8Rng`] seeded from the
//! `SIM_SEED` environment variable (or [`DEFAULT_SEED`]); the seed is part of every
//! [`SimError`] and printed if the simulator is dropped during a panic, so a
//! failing run can be replayed and turned into a named test.

use std::io::Write;

use rand_chacha::rand_core::SeedableRng;
use rand_chacha::ChaCha8Rng;
use smoltcp::time::{Duration, Instant};

pub mod link;
pub mod pcap;
mod stack_node;

pub use link::{Link, LinkStats, TamperFn};
pub use pcap::PcapWriter;

/// A participant in a simulation: anything that takes and emits IP packets and
/// sleeps until a deadline (the engine's `Stack`, or a test stub).
pub trait Node {
    /// A packet arrived at `now`.
    fn handle(&mut self, now: Instant, packet: &[u8]);
    /// Writes the next packet to send into `buf`, returning its length, or `None`
    /// when there is nothing to send. `buf` is 65 535 bytes long.
    fn poll_transmit(&mut self, now: Instant, buf: &mut [u8]) -> Option<usize>;
    /// When [`Node::handle_timeout`] must be called next, if ever.
    fn next_deadline(&self) -> Option<Instant>;
    /// Fires whatever timers are due at `now`.
    fn handle_timeout(&mut self, now: Instant);
}

/// Seed used when `SIM_SEED` is not set.
pub const DEFAULT_SEED: u64 = 0x5eed_0f7c_9c12_a7e5;

/// Reads `SIM_SEED` (see [`parse_seed`]), falling back to [`DEFAULT_SEED`].
pub fn seed_from_env() -> u64 {
    std::env::var("SIM_SEED")
        .ok()
        .and_then(|s| parse_seed(&s))
        .unwrap_or(DEFAULT_SEED)
}

/// Parses a seed written in decimal or as `0x` hex.
pub fn parse_seed(s: &str) -> Option<u64> {
    let s = s.trim();
    match s.strip_prefix("0x").or_else(|| s.strip_prefix("0X")) {
        Some(hex) => u64::from_str_radix(hex, 16).ok(),
        None => s.parse().ok(),
    }
}

/// Which node.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Side {
    /// The first node; its packets go through `a_to_b`.
    A,
    /// The second node; its packets go through `b_to_a`.
    B,
}

/// Why a run stopped short.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum SimError {
    /// The predicate did not hold within the time limit.
    #[error("time limit reached at {now} (SIM_SEED={seed})")]
    TimeLimit {
        /// Virtual time when the run stopped.
        now: Instant,
        /// The seed to replay the run.
        seed: u64,
    },
    /// No deadlines and no packets in flight: nothing will ever happen again.
    #[error("simulation idle at {now} (SIM_SEED={seed})")]
    Idle {
        /// Virtual time when the run stopped.
        now: Instant,
        /// The seed to replay the run.
        seed: u64,
    },
    /// Too many steps without time advancing (a node keeps reporting a past deadline).
    #[error("simulation stalled at {now} (SIM_SEED={seed})")]
    Stalled {
        /// Virtual time when the run stopped.
        now: Instant,
        /// The seed to replay the run.
        seed: u64,
    },
}

/// Steps at one instant before [`SimError::Stalled`].
const MAX_STEPS_PER_INSTANT: u32 = 100_000;
/// Size of the transmit buffer handed to [`Node::poll_transmit`].
pub const MAX_PACKET: usize = 65_535;

/// FNV-1a, 64 bit: a cheap, stable digest of the trace.
const FNV_OFFSET: u64 = 0xcbf2_9ce4_8422_2325;
const FNV_PRIME: u64 = 0x0000_0100_0000_01b3;

fn fnv(mut h: u64, bytes: &[u8]) -> u64 {
    for b in bytes {
        h ^= u64::from(*b);
        h = h.wrapping_mul(FNV_PRIME);
    }
    h
}

/// Two nodes, two links, one clock, one RNG.
pub struct Simulator<A: Node, B: Node> {
    /// The first node.
    pub a: A,
    /// The second node.
    pub b: B,
    /// The path from `a` to `b`.
    pub a_to_b: Link,
    /// The path from `b` to `a`.
    pub b_to_a: Link,
    now: Instant,
    seed: u64,
    rng: ChaCha8Rng,
    buf: Vec<u8>,
    trace: u64,
    pcap: Option<PcapWriter<Box<dyn Write + Send>>>,
    steps_at_now: u32,
}

impl<A: Node, B: Node> std::fmt::Debug for Simulator<A, B> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Simulator")
            .field("now", &self.now)
            .field("seed", &self.seed)
            .field("a_to_b", &self.a_to_b)
            .field("b_to_a", &self.b_to_a)
            .finish_non_exhaustive()
    }
}

impl<A: Node, B: Node> Simulator<A, B> {
    /// A simulator seeded from `SIM_SEED` (or [`DEFAULT_SEED`]), starting at time 0.
    pub fn new(a: A, b: B, a_to_b: Link, b_to_a: Link) -> Self {
        Self::with_seed(seed_from_env(), a, b, a_to_b, b_to_a)
    }

    /// A simulator with an explicit seed.
    pub fn with_seed(seed: u64, a: A, b: B, a_to_b: Link, b_to_a: Link) -> Self {
        Self {
            a,
            b,
            a_to_b,
            b_to_a,
            now: Instant::ZERO,
            seed,
            rng: ChaCha8Rng::seed_from_u64(seed),
            buf: vec![0; MAX_PACKET],
            trace: FNV_OFFSET,
            pcap: None,
            steps_at_now: 0,
        }
    }

    /// Starts the clock at `start` instead of 0 (only before the first step).
    pub fn with_start(mut self, start: Instant) -> Self {
        self.now = start;
        self
    }

    /// Records every transmitted packet (before impairments) in a pcap stream.
    pub fn set_pcap(&mut self, writer: PcapWriter<Box<dyn Write + Send>>) {
        self.pcap = Some(writer);
    }

    /// Takes the pcap writer back (to flush or inspect it).
    pub fn take_pcap(&mut self) -> Option<PcapWriter<Box<dyn Write + Send>>> {
        self.pcap.take()
    }

    /// The seed of this run.
    pub fn seed(&self) -> u64 {
        self.seed
    }

    /// Virtual time.
    pub fn now(&self) -> Instant {
        self.now
    }

    /// Digest of every delivery so far (time, direction, bytes): equal seeds and
    /// equal nodes give equal digests.
    pub fn trace_hash(&self) -> u64 {
        self.trace
    }

    /// One round: fire due timers, deliver due packets, drain both nodes'
    /// transmissions into the links. If none of that happened, advance the clock
    /// to the next event instead. Returns `false` when there is no next event.
    pub fn step(&mut self) -> bool {
        if self.process_now() {
            return true;
        }
        match self.next_event() {
            Some(t) => {
                self.advance_to(t);
                true
            }
            None => false,
        }
    }

    /// Handles everything due at the current instant once; `true` if anything happened.
    fn process_now(&mut self) -> bool {
        let now = self.now;
        let mut busy = false;

        if self.a.next_deadline().is_some_and(|d| d <= now) {
            self.a.handle_timeout(now);
            busy = true;
        }
        if self.b.next_deadline().is_some_and(|d| d <= now) {
            self.b.handle_timeout(now);
            busy = true;
        }

        while let Some(pkt) = self.a_to_b.pop_due(now) {
            self.record(Side::A, &pkt);
            self.b.handle(now, &pkt);
            busy = true;
        }
        while let Some(pkt) = self.b_to_a.pop_due(now) {
            self.record(Side::B, &pkt);
            self.a.handle(now, &pkt);
            busy = true;
        }

        busy |= self.drain(Side::A);
        busy |= self.drain(Side::B);
        if busy {
            self.steps_at_now = self.steps_at_now.saturating_add(1);
        }
        busy
    }

    fn advance_to(&mut self, t: Instant) {
        if t > self.now {
            self.now = t;
            self.steps_at_now = 0;
        }
    }

    fn stalled(&self) -> Result<(), SimError> {
        if self.steps_at_now >= MAX_STEPS_PER_INSTANT {
            return Err(SimError::Stalled {
                now: self.now,
                seed: self.seed,
            });
        }
        Ok(())
    }

    /// The earliest of both deadlines and both links' next deliveries.
    pub fn next_event(&self) -> Option<Instant> {
        [
            self.a.next_deadline(),
            self.b.next_deadline(),
            self.a_to_b.next_delivery(),
            self.b_to_a.next_delivery(),
        ]
        .into_iter()
        .flatten()
        .min()
    }

    /// Steps until `done` holds, checking it after every step; fails if virtual
    /// time passes `now + limit`, if nothing is left to happen, or if time stops
    /// advancing.
    pub fn run_until<F>(&mut self, mut done: F, limit: Duration) -> Result<(), SimError>
    where
        F: FnMut(&mut Self) -> bool,
    {
        let deadline = self.now + limit;
        loop {
            if done(self) {
                return Ok(());
            }
            self.stalled()?;
            if !self.step() {
                return Err(SimError::Idle {
                    now: self.now,
                    seed: self.seed,
                });
            }
            if self.now > deadline {
                return Err(SimError::TimeLimit {
                    now: self.now,
                    seed: self.seed,
                });
            }
        }
    }

    /// Runs every event up to and including `now + duration`, then sets the clock
    /// there.
    pub fn run_for(&mut self, duration: Duration) -> Result<(), SimError> {
        let end = self.now + duration;
        loop {
            while self.process_now() {
                self.stalled()?;
            }
            match self.next_event() {
                Some(t) if t <= end => self.advance_to(t),
                _ => break,
            }
        }
        self.advance_to(end);
        Ok(())
    }

    fn drain(&mut self, side: Side) -> bool {
        let mut sent = false;
        loop {
            let n = match side {
                Side::A => self.a.poll_transmit(self.now, &mut self.buf),
                Side::B => self.b.poll_transmit(self.now, &mut self.buf),
            };
            let Some(n) = n else { break };
            let pkt = self.buf.get(..n).unwrap_or(&self.buf);
            if let Some(w) = self.pcap.as_mut() {
                // A broken debug capture must not change the run: drop it.
                if w.write_packet(self.now, pkt).is_err() {
                    self.pcap = None;
                }
            }
            match side {
                Side::A => self.a_to_b.send(self.now, pkt, &mut self.rng),
                Side::B => self.b_to_a.send(self.now, pkt, &mut self.rng),
            }
            sent = true;
        }
        sent
    }

    fn record(&mut self, from: Side, pkt: &[u8]) {
        let mut h = fnv(self.trace, &self.now.total_micros().to_le_bytes());
        h = fnv(h, &[from as u8]);
        h = fnv(h, &(pkt.len() as u64).to_le_bytes());
        self.trace = fnv(h, pkt);
    }
}

impl<A: Node, B: Node> Drop for Simulator<A, B> {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!(
                "simulation failed at {} with SIM_SEED={} (0x{:x})",
                self.now, self.seed, self.seed
            );
        }
    }
}

#[cfg(test)]
mod tests;
