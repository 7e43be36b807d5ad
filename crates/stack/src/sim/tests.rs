//! The simulator checked with stub nodes: a paced source and an echo.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

use super::*;

/// Sends `count` packets of `size` bytes, `burst` at a time every `interval`.
/// Packet layout: sequence number (u64 LE), send time in µs (u64 LE), then
/// `seq as u8` filler. Records what comes back.
struct Source {
    size: usize,
    count: u64,
    burst: u64,
    interval: Duration,
    next_at: Instant,
    sent: u64,
    pending: u64,
    received: Vec<(Instant, Vec<u8>)>,
}

impl Source {
    fn new(count: u64, size: usize, interval: Duration) -> Self {
        Self {
            size: size.max(16),
            count,
            burst: 1,
            interval,
            next_at: Instant::ZERO,
            sent: 0,
            pending: 0,
            received: Vec::new(),
        }
    }

    fn with_burst(mut self, burst: u64) -> Self {
        self.burst = burst;
        self
    }
}

fn expected_packet(seq: u64, sent_at: Instant, size: usize) -> Vec<u8> {
    let mut p = vec![seq as u8; size];
    p[..8].copy_from_slice(&seq.to_le_bytes());
    p[8..16].copy_from_slice(&(sent_at.total_micros() as u64).to_le_bytes());
    p
}

fn header(p: &[u8]) -> (u64, Instant) {
    let seq = u64::from_le_bytes(p[..8].try_into().unwrap());
    let t = u64::from_le_bytes(p[8..16].try_into().unwrap());
    (seq, Instant::from_micros(t as i64))
}

impl Node for Source {
    fn handle(&mut self, now: Instant, packet: &[u8]) {
        self.received.push((now, packet.to_vec()));
    }

    fn poll_transmit(&mut self, now: Instant, buf: &mut [u8]) -> Option<usize> {
        if self.pending == 0 {
            return None;
        }
        self.pending -= 1;
        let p = expected_packet(self.sent, now, self.size);
        self.sent += 1;
        buf[..p.len()].copy_from_slice(&p);
        Some(p.len())
    }

    fn next_deadline(&self) -> Option<Instant> {
        (self.sent + self.pending < self.count).then_some(self.next_at)
    }

    fn handle_timeout(&mut self, now: Instant) {
        if now >= self.next_at {
            let left = self.count - self.sent - self.pending;
            self.pending += self.burst.min(left);
            self.next_at = now + self.interval;
        }
    }
}

/// Echoes everything back at once and remembers what it saw.
#[derive(Default)]
struct Echo {
    outbox: VecDeque<Vec<u8>>,
    received: Vec<(Instant, Vec<u8>)>,
}

impl Node for Echo {
    fn handle(&mut self, now: Instant, packet: &[u8]) {
        self.received.push((now, packet.to_vec()));
        self.outbox.push_back(packet.to_vec());
    }

    fn poll_transmit(&mut self, _now: Instant, buf: &mut [u8]) -> Option<usize> {
        let p = self.outbox.pop_front()?;
        buf[..p.len()].copy_from_slice(&p);
        Some(p.len())
    }

    fn next_deadline(&self) -> Option<Instant> {
        None
    }

    fn handle_timeout(&mut self, _now: Instant) {}
}

fn ms(v: u64) -> Duration {
    Duration::from_millis(v)
}

fn run(sim: &mut Simulator<Source, Echo>) {
    while sim.step() {}
}

#[test]
fn ideal_link_echoes_everything_in_order_at_once() {
    let mut sim = Simulator::with_seed(
        1,
        Source::new(100, 64, ms(1)),
        Echo::default(),
        Link::ideal(),
        Link::ideal(),
    );
    run(&mut sim);
    assert_eq!(sim.b.received.len(), 100);
    assert_eq!(sim.a.received.len(), 100);
    for (i, (at, p)) in sim.a.received.iter().enumerate() {
        let (seq, sent) = header(p);
        assert_eq!(seq, i as u64);
        assert_eq!(*at, sent);
        assert_eq!(*p, expected_packet(seq, sent, 64));
    }
    assert_eq!(sim.now(), Instant::from_millis(99));
}

#[test]
fn loss_rate_is_close_to_configured() {
    let n = 10_000;
    let mut sim = Simulator::with_seed(
        7,
        Source::new(n, 40, ms(1)),
        Echo::default(),
        Link::ideal().with_loss(0.10),
        Link::ideal(),
    );
    run(&mut sim);
    let got = sim.b.received.len() as u64;
    // Binomial(10000, 0.9): sd = 30; allow ~6 sd.
    assert!((8_820..=9_180).contains(&got), "delivered {got}");
    let st = *sim.a_to_b.stats();
    assert_eq!(st.sent, n);
    assert_eq!(st.dropped_loss + st.delivered, n);
    assert_eq!(st.delivered, got);
    // The return path is clean.
    assert_eq!(sim.a.received.len() as u64, got);
}

#[test]
fn delay_is_respected_both_ways() {
    let mut sim = Simulator::with_seed(
        3,
        Source::new(50, 40, ms(2)),
        Echo::default(),
        Link::ideal().with_delay(ms(30)),
        Link::ideal().with_delay(ms(20)),
    );
    run(&mut sim);
    assert_eq!(sim.a.received.len(), 50);
    for (at, p) in &sim.b.received {
        let (_, sent) = header(p);
        assert_eq!(*at - sent, ms(30));
    }
    for (at, p) in &sim.a.received {
        let (_, sent) = header(p);
        assert_eq!(*at - sent, ms(50));
    }
}

#[test]
fn jitter_stays_within_bounds_and_varies() {
    let mut sim = Simulator::with_seed(
        4,
        Source::new(500, 40, ms(10)),
        Echo::default(),
        Link::ideal().with_delay(ms(10)).with_jitter(ms(5)),
        Link::ideal(),
    );
    run(&mut sim);
    let delays: Vec<Duration> = sim
        .b
        .received
        .iter()
        .map(|(at, p)| *at - header(p).1)
        .collect();
    assert_eq!(delays.len(), 500);
    assert!(delays.iter().all(|d| *d >= ms(10) && *d <= ms(15)));
    let min = delays.iter().min().unwrap();
    let max = delays.iter().max().unwrap();
    assert!(*max - *min > ms(4), "jitter spread {min}..{max}");
}

#[test]
fn reordering_happens_and_loses_nothing() {
    let mut sim = Simulator::with_seed(
        5,
        Source::new(1_000, 40, ms(1)),
        Echo::default(),
        Link::ideal().with_delay(ms(5)).with_reorder(0.1, ms(3)),
        Link::ideal(),
    );
    run(&mut sim);
    let seqs: Vec<u64> = sim.b.received.iter().map(|(_, p)| header(p).0).collect();
    assert_eq!(seqs.len(), 1_000);
    let out_of_order = seqs.windows(2).filter(|w| w[1] < w[0]).count();
    assert!(out_of_order > 50, "only {out_of_order} inversions");
    let st = sim.a_to_b.stats();
    assert!(
        (60..=140).contains(&st.reordered),
        "reordered {}",
        st.reordered
    );
    let mut sorted = seqs.clone();
    sorted.sort_unstable();
    assert_eq!(sorted, (0..1_000).collect::<Vec<_>>());
}

#[test]
fn duplication_makes_identical_copies() {
    let mut sim = Simulator::with_seed(
        6,
        Source::new(2_000, 40, ms(1)),
        Echo::default(),
        Link::ideal().with_duplicate(0.05),
        Link::ideal(),
    );
    run(&mut sim);
    let st = *sim.a_to_b.stats();
    assert!(
        (60..=140).contains(&st.duplicated),
        "duplicated {}",
        st.duplicated
    );
    assert_eq!(sim.b.received.len() as u64, 2_000 + st.duplicated);
    let mut seen = std::collections::HashMap::new();
    for (_, p) in &sim.b.received {
        let (seq, sent) = header(p);
        assert_eq!(*p, expected_packet(seq, sent, 40));
        *seen.entry(seq).or_insert(0u32) += 1;
    }
    assert_eq!(seen.len(), 2_000);
    assert_eq!(
        seen.values().filter(|c| **c == 2).count() as u64,
        st.duplicated
    );
}

#[test]
fn corruption_flips_exactly_one_bit() {
    let mut sim = Simulator::with_seed(
        8,
        Source::new(300, 100, ms(1)),
        Echo::default(),
        Link::ideal().with_corrupt(1.0),
        Link::ideal(),
    );
    run(&mut sim);
    assert_eq!(sim.a_to_b.stats().corrupted, 300);
    // Packets arrive in order, so the original is known from the position.
    let mut positions = std::collections::HashSet::new();
    for (i, (_, p)) in sim.b.received.iter().enumerate() {
        let orig = expected_packet(i as u64, Instant::from_millis(i as i64), 100);
        let diff: Vec<(usize, u32)> = orig
            .iter()
            .zip(p)
            .enumerate()
            .map(|(k, (a, b))| (k, (a ^ b).count_ones()))
            .filter(|(_, c)| *c > 0)
            .collect();
        assert_eq!(diff.len(), 1, "packet {i}: {diff:?}");
        assert_eq!(diff[0].1, 1);
        positions.insert(diff[0].0);
    }
    assert!(
        positions.len() > 50,
        "flips spread over {} bytes",
        positions.len()
    );
}

#[test]
fn mtu_drops_oversized_packets_only() {
    let mut sim = Simulator::with_seed(
        9,
        Source::new(10, 1_501, ms(1)),
        Echo::default(),
        Link::ideal().with_mtu(1_500),
        Link::ideal(),
    );
    run(&mut sim);
    assert_eq!(sim.b.received.len(), 0);
    assert_eq!(sim.a_to_b.stats().dropped_mtu, 10);
    let mut sim = Simulator::with_seed(
        9,
        Source::new(10, 1_500, ms(1)),
        Echo::default(),
        Link::ideal().with_mtu(1_500),
        Link::ideal(),
    );
    run(&mut sim);
    assert_eq!(sim.b.received.len(), 10);
}

#[test]
fn rate_limit_serialises_and_tail_drops() {
    // 1 Mbit/s, 1000-byte packets: 8 ms each. A burst of 10 into a 5000-byte queue
    // keeps 5 (the first departs at 8 ms, so 5 are queued when the sixth arrives).
    let mut sim = Simulator::with_seed(
        10,
        Source::new(10, 1_000, ms(1_000)).with_burst(10),
        Echo::default(),
        Link::ideal().with_rate(1_000_000, 5_000),
        Link::ideal(),
    );
    run(&mut sim);
    let arrivals: Vec<Instant> = sim.b.received.iter().map(|(t, _)| *t).collect();
    assert_eq!(
        arrivals,
        (1..=5)
            .map(|i| Instant::from_millis(8 * i))
            .collect::<Vec<_>>()
    );
    assert_eq!(sim.a_to_b.stats().dropped_queue, 5);
}

#[test]
fn tamper_hook_rewrites_and_drops() {
    let link = Link::ideal().with_tamper(Box::new(|_now, p: &mut Vec<u8>| {
        if p[0] % 2 == 1 {
            return false;
        }
        p.push(0xee);
        true
    }));
    let mut sim = Simulator::with_seed(
        11,
        Source::new(10, 20, ms(1)),
        Echo::default(),
        link,
        Link::ideal(),
    );
    run(&mut sim);
    assert_eq!(sim.b.received.len(), 5);
    assert!(sim
        .b
        .received
        .iter()
        .all(|(_, p)| p.len() == 21 && p[20] == 0xee));
    assert_eq!(sim.a_to_b.stats().dropped_tamper, 5);
}

fn impaired(seed: u64) -> Simulator<Source, Echo> {
    Simulator::with_seed(
        seed,
        Source::new(2_000, 80, ms(1)),
        Echo::default(),
        Link::ideal()
            .with_loss(0.05)
            .with_delay(ms(10))
            .with_jitter(ms(3))
            .with_duplicate(0.02)
            .with_corrupt(0.01),
        Link::ideal().with_delay(ms(10)).with_reorder(0.05, ms(4)),
    )
}

#[test]
fn same_seed_same_trace() {
    let mut x = impaired(42);
    let mut y = impaired(42);
    run(&mut x);
    run(&mut y);
    assert_eq!(x.trace_hash(), y.trace_hash());
    assert_eq!(x.a_to_b.stats(), y.a_to_b.stats());
    assert_eq!(x.now(), y.now());
    let mut z = impaired(43);
    run(&mut z);
    assert_ne!(x.trace_hash(), z.trace_hash());
}

#[test]
fn run_until_reports_time_limit_idle_and_success() {
    let mut sim = Simulator::with_seed(
        12,
        Source::new(100, 40, ms(10)),
        Echo::default(),
        Link::ideal(),
        Link::ideal(),
    );
    let err = sim.run_until(|_| false, ms(50)).unwrap_err();
    assert!(
        matches!(err, SimError::TimeLimit { seed: 12, .. }),
        "{err:?}"
    );
    sim.run_until(|s| s.a.received.len() >= 20, Duration::from_secs(10))
        .unwrap();
    assert_eq!(sim.a.received.len(), 20);
    assert_eq!(sim.now(), Instant::from_millis(190));
    let err = sim
        .run_until(|_| false, Duration::from_secs(100))
        .unwrap_err();
    assert_eq!(
        err,
        SimError::Idle {
            now: Instant::from_millis(990),
            seed: 12
        }
    );
}

#[test]
fn run_for_stops_at_the_requested_time() {
    let mut sim = Simulator::with_seed(
        13,
        Source::new(100, 40, ms(10)),
        Echo::default(),
        Link::ideal().with_delay(ms(5)),
        Link::ideal(),
    );
    sim.run_for(ms(100)).unwrap();
    assert_eq!(sim.now(), Instant::from_millis(100));
    // Sent at 0, 10, ..., 100 (11 packets); those sent up to 95 arrived.
    assert_eq!(sim.b.received.len(), 10);
    assert_eq!(sim.a_to_b.in_flight(), 1);
}

/// A node that never clears its past deadline.
struct Stuck;

impl Node for Stuck {
    fn handle(&mut self, _now: Instant, _packet: &[u8]) {}
    fn poll_transmit(&mut self, _now: Instant, _buf: &mut [u8]) -> Option<usize> {
        None
    }
    fn next_deadline(&self) -> Option<Instant> {
        Some(Instant::ZERO)
    }
    fn handle_timeout(&mut self, _now: Instant) {}
}

#[test]
fn a_node_stuck_in_the_past_is_reported() {
    let mut sim = Simulator::with_seed(14, Stuck, Echo::default(), Link::ideal(), Link::ideal());
    let err = sim.run_until(|_| false, ms(1)).unwrap_err();
    assert!(matches!(err, SimError::Stalled { .. }), "{err:?}");
}

#[derive(Clone, Default)]
struct SharedBuf(Arc<Mutex<Vec<u8>>>);

impl Write for SharedBuf {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(b);
        Ok(b.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[test]
fn pcap_records_every_transmission() {
    let buf = SharedBuf::default();
    let mut sim = Simulator::with_seed(
        15,
        Source::new(3, 20, Duration::from_micros(1_500_250)),
        Echo::default(),
        Link::ideal(),
        Link::ideal(),
    );
    sim.set_pcap(PcapWriter::new(Box::new(buf.clone()) as Box<dyn Write + Send>).unwrap());
    run(&mut sim);
    let data = buf.0.lock().unwrap().clone();
    // 24-byte header + 6 records (3 sent, 3 echoed) of 16 + 20 bytes.
    assert_eq!(data.len(), 24 + 6 * 36);
    assert_eq!(&data[..4], &0xa1b2_c3d4u32.to_le_bytes());
    assert_eq!(&data[20..24], &101u32.to_le_bytes());
    // Third record: the second packet, at 1.500250 s.
    let r = &data[24 + 2 * 36..];
    assert_eq!(&r[..4], &1u32.to_le_bytes());
    assert_eq!(&r[4..8], &500_250u32.to_le_bytes());
    assert_eq!(&r[8..12], &20u32.to_le_bytes());
    assert_eq!(&r[12..16], &20u32.to_le_bytes());
    assert_eq!(header(&r[16..36]).0, 1);
}

#[test]
fn seed_parses_decimal_and_hex() {
    assert_eq!(parse_seed("42"), Some(42));
    assert_eq!(parse_seed(" 0x2a\n"), Some(42));
    assert_eq!(parse_seed("0XFF"), Some(255));
    assert_eq!(parse_seed("seed"), None);
    assert_eq!(parse_seed("0x"), None);
}
