//! Test helpers: two `Stack`s wired back to back with a fixed latency (no impairments),
//! driven by virtual time like quinn-proto's `Pair`.
#![allow(
    dead_code,
    unreachable_pub,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::type_complexity,
    clippy::wrong_self_convention
)]

use stack::{
    ConnConfig, ConnId, Duration, Event, Instant, IpAddress, IpEndpoint, Stack, StackConfig,
};

pub fn v4(a: u8) -> IpAddress {
    IpAddress::v4(10, 0, 0, a)
}

pub fn v6(a: u16) -> IpAddress {
    IpAddress::v6(0xfd00, 0, 0, 0, 0, 0, 0, a)
}

pub fn stack(addr: IpAddress, seed: u8) -> Stack {
    let mut cfg = StackConfig::new(vec![addr], [seed; 32]);
    cfg.conn = ConnConfig::default();
    Stack::new(cfg)
}

/// Packet hook: `(to_b, packet) -> keep?`; may alter the packet.
pub type Filter = Box<dyn FnMut(bool, &mut Vec<u8>) -> bool>;

pub struct Pair {
    pub a: Stack,
    pub b: Stack,
    pub now: Instant,
    pub latency: Duration,
    /// (deliver at, to b?, packet)
    pub wire: Vec<(Instant, bool, Vec<u8>)>,
    pub a_events: Vec<(ConnId, Event)>,
    pub b_events: Vec<(ConnId, Event)>,
    pub packets: usize,
    /// Optional hook to drop or alter packets: (to_b, packet) -> keep?
    pub filter: Option<Filter>,
}

impl Pair {
    pub fn new(a: Stack, b: Stack) -> Pair {
        Pair {
            a,
            b,
            now: Instant::from_millis(1_000),
            latency: Duration::from_millis(5),
            wire: Vec::new(),
            a_events: Vec::new(),
            b_events: Vec::new(),
            packets: 0,
            filter: None,
        }
    }

    fn drain(&mut self) -> bool {
        let mut any = false;
        let mut buf = vec![0u8; 2048];
        for to_b in [true, false] {
            loop {
                let s = if to_b { &mut self.a } else { &mut self.b };
                let Some(n) = s.poll_transmit(self.now, &mut buf) else {
                    break;
                };
                let mut p = buf[..n].to_vec();
                if std::env::var("PAIR_TRACE").is_ok() {
                    eprintln!(
                        "{} {} {:?}",
                        self.now,
                        if to_b { "a->b" } else { "b->a" },
                        &p[..n.min(60)]
                    );
                }
                any = true;
                self.packets += 1;
                let keep = match self.filter.as_mut() {
                    Some(f) => f(to_b, &mut p),
                    None => true,
                };
                if keep {
                    self.wire.push((self.now + self.latency, to_b, p));
                }
            }
        }
        while let Some(e) = self.a.poll_event() {
            self.a_events.push(e);
            any = true;
        }
        while let Some(e) = self.b.poll_event() {
            self.b_events.push(e);
            any = true;
        }
        any
    }

    /// One round: transmit, deliver what is due, or jump time to the next event.
    /// Returns false when nothing is left to do.
    pub fn step(&mut self) -> bool {
        if self.drain() {
            return true;
        }
        let next_wire = self.wire.iter().map(|w| w.0).min();
        let next = [next_wire, self.a.next_deadline(), self.b.next_deadline()]
            .into_iter()
            .flatten()
            .min();
        let Some(next) = next else { return false };
        if next > self.now {
            self.now = next;
        }
        let now = self.now;
        let mut due = Vec::new();
        self.wire.retain(|w| {
            if w.0 <= now {
                due.push((w.1, w.2.clone()));
                false
            } else {
                true
            }
        });
        for (to_b, p) in due {
            if to_b {
                self.b.handle(now, &p);
            } else {
                self.a.handle(now, &p);
            }
        }
        self.a.handle_timeout(now);
        self.b.handle_timeout(now);
        true
    }

    /// Step until `pred` holds; panics after `limit` steps.
    pub fn run_until(&mut self, limit: usize, mut pred: impl FnMut(&mut Pair) -> bool) {
        for _ in 0..limit {
            if pred(self) {
                return;
            }
            if !self.step() && !pred(self) {
                panic!("idle before condition held at {}", self.now);
            }
        }
        panic!("condition not reached after {limit} steps at {}", self.now);
    }

    pub fn a_has(&self, id: ConnId, e: &Event) -> bool {
        self.a_events.iter().any(|(i, x)| *i == id && x == e)
    }

    pub fn b_has(&self, e: &Event) -> Option<ConnId> {
        self.b_events.iter().find(|(_, x)| x == e).map(|(i, _)| *i)
    }
}

pub mod dialogue;

pub fn ep(addr: IpAddress, port: u16) -> IpEndpoint {
    IpEndpoint::new(addr, port)
}
