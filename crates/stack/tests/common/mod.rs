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

/// The relay shape of the splice tests: B listens on ports 80 and 81, A connects `a1` to
/// 80 and `a2` to 81; runs until all four ends are established and returns
/// `(a1, a2, b1, b2)` (`b1` is B's end on port 80).
pub fn relay_legs(p: &mut Pair) -> (ConnId, ConnId, ConnId, ConnId) {
    let (a_addr, b_addr) = (v4(1), v4(2));
    for port in [80, 81] {
        p.b.listen(
            stack::ListenAddr {
                addr: Some(b_addr),
                port: Some(port),
            },
            stack::ListenConfig::default(),
        );
    }
    let now = p.now;
    let a1 =
        p.a.connect(now, ep(a_addr, 40000), ep(b_addr, 80), None)
            .unwrap();
    let a2 =
        p.a.connect(now, ep(a_addr, 40001), ep(b_addr, 81), None)
            .unwrap();
    let b_est = |p: &Pair, port: u16| {
        p.b_events
            .iter()
            .filter(|(_, e)| *e == Event::Established)
            .map(|(id, _)| *id)
            .find(|id| p.b.endpoints(*id).unwrap().0.port == port)
    };
    p.run_until(10_000, |p| {
        p.a_has(a1, &Event::Established)
            && p.a_has(a2, &Event::Established)
            && b_est(p, 80).is_some()
            && b_est(p, 81).is_some()
    });
    (a1, a2, b_est(p, 80).unwrap(), b_est(p, 81).unwrap())
}

/// A splice transform that copies as much as fits.
pub fn copy(src: &mut [u8], dst: &mut [u8]) -> Result<(usize, usize), ()> {
    let n = src.len().min(dst.len());
    dst[..n].copy_from_slice(&src[..n]);
    Ok((n, n))
}
