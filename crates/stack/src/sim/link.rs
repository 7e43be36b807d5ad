//! One direction of a simulated path with composable, seeded impairments.
//!
//! A packet handed to [`Link::send`] passes these stages in order (each off by
//! default, each enabled by a `with_*` builder method):
//!
//! 1. tamper hook (test-defined rewrite or drop),
//! 2. MTU (packets longer than the MTU are dropped, as by a router without ICMP),
//! 3. random loss,
//! 4. rate limit with a tail-drop queue (serialisation delay `len * 8 / rate`),
//! 5. duplication (the copy passes the later stages independently),
//! 6. bit corruption (one random bit flipped),
//! 7. propagation delay + uniform jitter, plus an extra hold for a random
//!    fraction of packets (reordering).
//!
//! Randomness comes from the simulator's single RNG, so a seed fixes the trace.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, VecDeque};
use std::fmt;

use rand_core::RngCore;
use smoltcp::time::{Duration, Instant};

/// A rewrite-or-drop hook: gets each packet before the other stages, returns
/// `false` to drop it.
pub type TamperFn = Box<dyn FnMut(Instant, &mut Vec<u8>) -> bool + Send>;

/// Counters of what a link did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LinkStats {
    /// Packets handed to [`Link::send`].
    pub sent: u64,
    /// Packets handed out by [`Link::pop_due`] (duplicates included).
    pub delivered: u64,
    /// Dropped by the tamper hook.
    pub dropped_tamper: u64,
    /// Dropped for exceeding the MTU.
    pub dropped_mtu: u64,
    /// Dropped by random loss.
    pub dropped_loss: u64,
    /// Dropped because the rate-limit queue was full.
    pub dropped_queue: u64,
    /// Extra copies made.
    pub duplicated: u64,
    /// Packets with a flipped bit.
    pub corrupted: u64,
    /// Packets delivered after a packet that was sent later.
    pub reordered: u64,
}

/// One direction of a simulated path.
pub struct Link {
    loss: f64,
    duplicate: f64,
    corrupt: f64,
    reorder: f64,
    reorder_delay: Duration,
    delay: Duration,
    jitter: Duration,
    mtu: Option<usize>,
    rate_bps: Option<u64>,
    queue_limit: usize,
    tamper: Option<TamperFn>,
    /// In flight, ordered by (delivery time, send order).
    queue: BinaryHeap<Reverse<(Instant, u64, Vec<u8>)>>,
    /// Rate limiter: the instant the transmitter is free, and the departures
    /// (time, bytes) still queued before it.
    busy_until: Instant,
    backlog: VecDeque<(Instant, usize)>,
    next_seq: u64,
    max_delivered_seq: Option<u64>,
    stats: LinkStats,
}

impl fmt::Debug for Link {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Link")
            .field("loss", &self.loss)
            .field("duplicate", &self.duplicate)
            .field("corrupt", &self.corrupt)
            .field("reorder", &self.reorder)
            .field("reorder_delay", &self.reorder_delay)
            .field("delay", &self.delay)
            .field("jitter", &self.jitter)
            .field("mtu", &self.mtu)
            .field("rate_bps", &self.rate_bps)
            .field("queue_limit", &self.queue_limit)
            .field("tamper", &self.tamper.is_some())
            .field("in_flight", &self.queue.len())
            .field("stats", &self.stats)
            .finish()
    }
}

impl Default for Link {
    fn default() -> Self {
        Self::ideal()
    }
}

/// A uniform draw in `[0, 1)` from 53 random bits.
fn unit(rng: &mut dyn RngCore) -> f64 {
    (rng.next_u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
}

fn chance(rng: &mut dyn RngCore, p: f64) -> bool {
    p > 0.0 && unit(rng) < p
}

impl Link {
    /// A perfect link: no delay, no loss, unlimited rate, no MTU.
    pub fn ideal() -> Self {
        Self {
            loss: 0.0,
            duplicate: 0.0,
            corrupt: 0.0,
            reorder: 0.0,
            reorder_delay: Duration::ZERO,
            delay: Duration::ZERO,
            jitter: Duration::ZERO,
            mtu: None,
            rate_bps: None,
            queue_limit: usize::MAX,
            tamper: None,
            queue: BinaryHeap::new(),
            busy_until: Instant::ZERO,
            backlog: VecDeque::new(),
            next_seq: 0,
            max_delivered_seq: None,
            stats: LinkStats::default(),
        }
    }

    /// Drops each packet with probability `p` (0.0–1.0).
    pub fn with_loss(mut self, p: f64) -> Self {
        self.loss = p;
        self
    }

    /// Duplicates each packet with probability `p`.
    pub fn with_duplicate(mut self, p: f64) -> Self {
        self.duplicate = p;
        self
    }

    /// Flips one random bit of each packet with probability `p`.
    pub fn with_corrupt(mut self, p: f64) -> Self {
        self.corrupt = p;
        self
    }

    /// Holds each packet with probability `p` for an extra `extra` delay, so
    /// packets sent after it overtake it.
    pub fn with_reorder(mut self, p: f64, extra: Duration) -> Self {
        self.reorder = p;
        self.reorder_delay = extra;
        self
    }

    /// Fixed one-way propagation delay.
    pub fn with_delay(mut self, delay: Duration) -> Self {
        self.delay = delay;
        self
    }

    /// Adds a uniform random `[0, jitter]` to each packet's delay (this reorders
    /// packets sent closer together than the jitter).
    pub fn with_jitter(mut self, jitter: Duration) -> Self {
        self.jitter = jitter;
        self
    }

    /// Drops packets longer than `mtu` bytes.
    pub fn with_mtu(mut self, mtu: usize) -> Self {
        self.mtu = Some(mtu);
        self
    }

    /// Serialises packets at `bits_per_second`, queueing at most `queue_bytes`
    /// (tail drop beyond).
    pub fn with_rate(mut self, bits_per_second: u64, queue_bytes: usize) -> Self {
        self.rate_bps = Some(bits_per_second.max(1));
        self.queue_limit = queue_bytes;
        self
    }

    /// Installs a hook that sees (and may rewrite or drop) every packet first.
    pub fn with_tamper(mut self, f: TamperFn) -> Self {
        self.tamper = Some(f);
        self
    }

    /// Replaces or removes the tamper hook on a live link.
    pub fn set_tamper(&mut self, f: Option<TamperFn>) {
        self.tamper = f;
    }

    /// What happened so far.
    pub fn stats(&self) -> &LinkStats {
        &self.stats
    }

    /// Packets waiting for delivery.
    pub fn in_flight(&self) -> usize {
        self.queue.len()
    }

    /// The earliest pending delivery time.
    pub fn next_delivery(&self) -> Option<Instant> {
        self.queue.peek().map(|Reverse((t, _, _))| *t)
    }

    /// Hands out the next packet due at or before `now`, in delivery order.
    pub fn pop_due(&mut self, now: Instant) -> Option<Vec<u8>> {
        match self.queue.peek() {
            Some(Reverse((t, _, _))) if *t <= now => {}
            _ => return None,
        }
        let Reverse((_, seq, pkt)) = self.queue.pop()?;
        self.stats.delivered += 1;
        match self.max_delivered_seq {
            Some(m) if seq < m => self.stats.reordered += 1,
            _ => self.max_delivered_seq = Some(seq),
        }
        Some(pkt)
    }

    /// Puts `packet`, sent at `now`, through the impairment stages.
    pub fn send(&mut self, now: Instant, packet: &[u8], rng: &mut dyn RngCore) {
        self.stats.sent += 1;
        let mut pkt = packet.to_vec();
        if let Some(hook) = self.tamper.as_mut() {
            if !hook(now, &mut pkt) {
                self.stats.dropped_tamper += 1;
                return;
            }
        }
        if self.mtu.is_some_and(|m| pkt.len() > m) {
            self.stats.dropped_mtu += 1;
            return;
        }
        if chance(rng, self.loss) {
            self.stats.dropped_loss += 1;
            return;
        }
        let depart = match self.rate_bps {
            None => now,
            Some(rate) => {
                while self.backlog.front().is_some_and(|(t, _)| *t <= now) {
                    self.backlog.pop_front();
                }
                let queued: usize = self.backlog.iter().map(|(_, n)| *n).sum();
                if queued.saturating_add(pkt.len()) > self.queue_limit {
                    self.stats.dropped_queue += 1;
                    return;
                }
                let bits = (pkt.len() as u64).saturating_mul(8);
                let tx = Duration::from_micros(bits.saturating_mul(1_000_000) / rate);
                let start = if self.busy_until > now {
                    self.busy_until
                } else {
                    now
                };
                self.busy_until = start + tx;
                self.backlog.push_back((self.busy_until, pkt.len()));
                self.busy_until
            }
        };
        let copies = if chance(rng, self.duplicate) {
            self.stats.duplicated += 1;
            2
        } else {
            1
        };
        for i in 0..copies {
            let mut p = if i + 1 == copies {
                std::mem::take(&mut pkt)
            } else {
                pkt.clone()
            };
            if !p.is_empty() && chance(rng, self.corrupt) {
                let bit = rng.next_u64() % (p.len() as u64 * 8);
                if let Some(b) = p.get_mut((bit / 8) as usize) {
                    *b ^= 1 << (bit % 8);
                    self.stats.corrupted += 1;
                }
            }
            let mut delay = self.delay;
            if self.jitter > Duration::ZERO {
                let j = rng.next_u64() % (self.jitter.total_micros() + 1);
                delay += Duration::from_micros(j);
            }
            if chance(rng, self.reorder) {
                delay += self.reorder_delay;
            }
            let seq = self.next_seq;
            self.next_seq += 1;
            self.queue.push(Reverse((depart + delay, seq, p)));
        }
    }
}
