//! `linkemu`: a user-space link emulator between two network namespaces.
//!
//! Opens two TUN devices in the root namespace, moves each into its namespace with
//! `ip link set DEV netns NS` (the open fd keeps working after the move), brings them up and
//! prints `READY`. Then every IP packet read from one device is written to the other after a
//! seeded, emulated delay with jitter, loss, reordering and duplication. Queues are bounded.
//!
//! Stops when stdin reaches EOF (printing `STATS ...`) or after `--max-runtime-s`.
//! The TUN devices are not persistent: they vanish when this process exits.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::io::{self, Read, Write};
use std::os::fd::AsRawFd;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use mio::unix::SourceFd;
use mio::{Events, Interest, Poll, Token};
use netns_tests::{ip_status, TunSetupError};
use rand_chacha::ChaCha8Rng;
use rand_core::{RngCore, SeedableRng};
use tun_rs::SyncDevice;

const TOKEN_A: Token = Token(0);
const TOKEN_B: Token = Token(1);
const TOKEN_STDIN: Token = Token(2);
/// Per-direction bound on queued packets; beyond it packets are tail-dropped.
const QUEUE_LIMIT: usize = 4096;
/// Bound on packets read per readiness event, so one side cannot starve the other.
const READ_BURST: usize = 256;

#[derive(Debug, thiserror::Error)]
enum EmuError {
    #[error("usage: {0}")]
    Usage(&'static str),
    #[error("bad value for {flag}")]
    BadValue { flag: &'static str },
    #[error("{step}: {source}")]
    Io {
        step: &'static str,
        source: io::Error,
    },
    #[error(transparent)]
    Tun(#[from] TunSetupError),
}

fn io_err(step: &'static str) -> impl FnOnce(io::Error) -> EmuError {
    move |source| EmuError::Io { step, source }
}

#[derive(Debug, Clone)]
struct Config {
    tun_a: String,
    ns_a: String,
    tun_b: String,
    ns_b: String,
    delay_ms: u64,
    jitter_ms: u64,
    loss_pct: f64,
    reorder_pct: f64,
    dup_pct: f64,
    seed: u64,
    mtu: u16,
    max_runtime: Duration,
}

const USAGE: &str = "linkemu --tun-a NAME --ns-a NS --tun-b NAME --ns-b NS [--delay-ms N] \
[--jitter-ms N] [--loss-pct P] [--reorder-pct P] [--dup-pct P] [--seed N] [--mtu N] \
[--max-runtime-s N]";

fn parse_num<T: std::str::FromStr>(flag: &'static str, v: &str) -> Result<T, EmuError> {
    v.parse().map_err(|_| EmuError::BadValue { flag })
}

fn parse_pct(flag: &'static str, v: &str) -> Result<f64, EmuError> {
    let p: f64 = parse_num(flag, v)?;
    if (0.0..=100.0).contains(&p) {
        Ok(p)
    } else {
        Err(EmuError::BadValue { flag })
    }
}

fn parse_args(args: &[String]) -> Result<Config, EmuError> {
    let mut cfg = Config {
        tun_a: String::new(),
        ns_a: String::new(),
        tun_b: String::new(),
        ns_b: String::new(),
        delay_ms: 0,
        jitter_ms: 0,
        loss_pct: 0.0,
        reorder_pct: 0.0,
        dup_pct: 0.0,
        seed: 1,
        mtu: 1500,
        max_runtime: Duration::from_secs(600),
    };
    let mut it = args.iter();
    while let Some(flag) = it.next() {
        let v = it.next().ok_or(EmuError::Usage(USAGE))?;
        match flag.as_str() {
            "--tun-a" => cfg.tun_a.clone_from(v),
            "--ns-a" => cfg.ns_a.clone_from(v),
            "--tun-b" => cfg.tun_b.clone_from(v),
            "--ns-b" => cfg.ns_b.clone_from(v),
            "--delay-ms" => cfg.delay_ms = parse_num("--delay-ms", v)?,
            "--jitter-ms" => cfg.jitter_ms = parse_num("--jitter-ms", v)?,
            "--loss-pct" => cfg.loss_pct = parse_pct("--loss-pct", v)?,
            "--reorder-pct" => cfg.reorder_pct = parse_pct("--reorder-pct", v)?,
            "--dup-pct" => cfg.dup_pct = parse_pct("--dup-pct", v)?,
            "--seed" => cfg.seed = parse_num("--seed", v)?,
            "--mtu" => cfg.mtu = parse_num("--mtu", v)?,
            "--max-runtime-s" => {
                cfg.max_runtime = Duration::from_secs(parse_num("--max-runtime-s", v)?);
            }
            _ => return Err(EmuError::Usage(USAGE)),
        }
    }
    if [&cfg.tun_a, &cfg.ns_a, &cfg.tun_b, &cfg.ns_b]
        .iter()
        .any(|s| s.is_empty())
        || cfg.mtu < 576
    {
        return Err(EmuError::Usage(USAGE));
    }
    Ok(cfg)
}

/// Opens TUN `name` (no packet info header) in the root namespace and moves it into `ns`.
fn open_tun(name: &str, ns: &str, mtu: u16) -> Result<SyncDevice, EmuError> {
    let dev = netns_tests::open_tun(name, mtu)?;
    ip_status(&["link", "set", name, "netns", ns])?;
    ip_status(&["-n", ns, "link", "set", name, "mtu", &mtu.to_string(), "up"])?;
    Ok(dev)
}

/// Which device a queued packet goes to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Dir {
    ToA,
    ToB,
}

#[derive(Debug, PartialEq, Eq, PartialOrd, Ord)]
struct Pending {
    at: Instant,
    seq: u64,
    dir: Dir,
    pkt: Vec<u8>,
}

#[derive(Debug, Default)]
struct Stats {
    rx: u64,
    tx: u64,
    lost: u64,
    duplicated: u64,
    reordered: u64,
    dropped: u64,
}

/// The impairment pipeline: decides per packet, holds a delivery heap.
struct Link {
    cfg: Config,
    rng: ChaCha8Rng,
    heap: BinaryHeap<Reverse<Pending>>,
    queued: [usize; 2],
    seq: u64,
    stats: Stats,
}

impl Link {
    fn new(cfg: Config) -> Self {
        let rng = ChaCha8Rng::seed_from_u64(cfg.seed);
        Self {
            cfg,
            rng,
            heap: BinaryHeap::new(),
            queued: [0, 0],
            seq: 0,
            stats: Stats::default(),
        }
    }

    fn chance(&mut self, pct: f64) -> bool {
        if pct <= 0.0 {
            return false;
        }
        let x = f64::from(self.rng.next_u32()) / f64::from(u32::MAX);
        x * 100.0 < pct
    }

    fn delay(&mut self) -> Duration {
        let base = self.cfg.delay_ms.saturating_mul(1000);
        let j = self.cfg.jitter_ms.saturating_mul(1000);
        let us = if j == 0 {
            base
        } else {
            // uniform in [base - j, base + j], floored at 0
            let off = self.rng.next_u64() % (2 * j + 1);
            (base + off).saturating_sub(j)
        };
        Duration::from_micros(us)
    }

    fn push(&mut self, now: Instant, dir: Dir, pkt: Vec<u8>, extra: Duration) {
        let slot = dir as usize;
        if self.queued.get(slot).copied().unwrap_or(0) >= QUEUE_LIMIT {
            self.stats.dropped += 1;
            return;
        }
        if let Some(q) = self.queued.get_mut(slot) {
            *q += 1;
        }
        let at = now + self.delay() + extra;
        self.seq += 1;
        self.heap.push(Reverse(Pending {
            at,
            seq: self.seq,
            dir,
            pkt,
        }));
    }

    /// One packet read from a device, heading in direction `dir`.
    fn ingest(&mut self, now: Instant, dir: Dir, pkt: &[u8]) {
        self.stats.rx += 1;
        if pkt.len() > usize::from(self.cfg.mtu) {
            self.stats.dropped += 1;
            return;
        }
        if self.chance(self.cfg.loss_pct) {
            self.stats.lost += 1;
            return;
        }
        // A reordered packet is held back by one extra delay (at least 2 ms) so that
        // packets sent after it overtake it.
        let extra = if self.chance(self.cfg.reorder_pct) {
            self.stats.reordered += 1;
            Duration::from_millis(self.cfg.delay_ms.max(2))
        } else {
            Duration::ZERO
        };
        if self.chance(self.cfg.dup_pct) {
            self.stats.duplicated += 1;
            self.push(now, dir, pkt.to_vec(), extra);
        }
        self.push(now, dir, pkt.to_vec(), extra);
    }

    fn next_deadline(&self) -> Option<Instant> {
        self.heap.peek().map(|Reverse(p)| p.at)
    }

    fn pop_due(&mut self, now: Instant) -> Option<(Dir, Vec<u8>)> {
        if self.next_deadline()? > now {
            return None;
        }
        let Reverse(p) = self.heap.pop()?;
        if let Some(q) = self.queued.get_mut(p.dir as usize) {
            *q = q.saturating_sub(1);
        }
        Some((p.dir, p.pkt))
    }
}

fn drain_reads(link: &mut Link, dev: &SyncDevice, dir: Dir, buf: &mut [u8]) -> io::Result<()> {
    for _ in 0..READ_BURST {
        match dev.recv(buf) {
            Ok(n) => {
                let now = Instant::now();
                if let Some(pkt) = buf.get(..n) {
                    link.ingest(now, dir, pkt);
                }
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(()),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

fn run(cfg: Config) -> Result<Stats, EmuError> {
    let dev_a = open_tun(&cfg.tun_a, &cfg.ns_a, cfg.mtu)?;
    let dev_b = open_tun(&cfg.tun_b, &cfg.ns_b, cfg.mtu)?;
    let mut poll = Poll::new().map_err(io_err("create poll"))?;
    let stdin = io::stdin();
    let stdin_fd = stdin.as_raw_fd();
    let (fd_a, fd_b) = (dev_a.as_raw_fd(), dev_b.as_raw_fd());
    poll.registry()
        .register(&mut SourceFd(&fd_a), TOKEN_A, Interest::READABLE)
        .map_err(io_err("register TUN A"))?;
    poll.registry()
        .register(&mut SourceFd(&fd_b), TOKEN_B, Interest::READABLE)
        .map_err(io_err("register TUN B"))?;
    // Stdin may be /dev/null (not pollable by epoll); then only --max-runtime-s stops us.
    let watch_stdin = poll
        .registry()
        .register(&mut SourceFd(&stdin_fd), TOKEN_STDIN, Interest::READABLE)
        .is_ok();

    let mut out = io::stdout();
    writeln!(out, "READY {} {}", cfg.tun_a, cfg.tun_b).map_err(io_err("write READY"))?;
    out.flush().map_err(io_err("flush stdout"))?;

    let start = Instant::now();
    let stop_at = start + cfg.max_runtime;
    let mut link = Link::new(cfg);
    let mut events = Events::with_capacity(16);
    let mut buf = vec![0u8; 65_536];
    loop {
        let now = Instant::now();
        if now >= stop_at {
            break;
        }
        let wake = link.next_deadline().unwrap_or(stop_at).min(stop_at);
        // Round up to whole milliseconds' worth of precision is not needed: mio takes Duration.
        let timeout = wake.saturating_duration_since(now);
        match poll.poll(&mut events, Some(timeout)) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => {
                return Err(EmuError::Io {
                    step: "poll",
                    source: e,
                })
            }
        }
        let mut stdin_closed = false;
        for ev in &events {
            match ev.token() {
                TOKEN_A => drain_reads(&mut link, &dev_a, Dir::ToB, &mut buf)
                    .map_err(io_err("read TUN A"))?,
                TOKEN_B => drain_reads(&mut link, &dev_b, Dir::ToA, &mut buf)
                    .map_err(io_err("read TUN B"))?,
                TOKEN_STDIN if watch_stdin => {
                    let mut sink = [0u8; 256];
                    match stdin.lock().read(&mut sink) {
                        Ok(0) | Err(_) => stdin_closed = true,
                        Ok(_) => {}
                    }
                }
                _ => {}
            }
        }
        if stdin_closed {
            break;
        }
        let now = Instant::now();
        while let Some((dir, pkt)) = link.pop_due(now) {
            let dev = match dir {
                Dir::ToA => &dev_a,
                Dir::ToB => &dev_b,
            };
            match dev.send(&pkt) {
                Ok(_) => link.stats.tx += 1,
                // A full or down device drops, as a real link would.
                Err(_) => link.stats.dropped += 1,
            }
        }
    }
    Ok(link.stats)
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = parse_args(&args).and_then(run);
    match result {
        Ok(s) => {
            println!(
                "STATS rx={} tx={} lost={} duplicated={} reordered={} dropped={}",
                s.rx, s.tx, s.lost, s.duplicated, s.reordered, s.dropped
            );
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("linkemu: {e}");
            ExitCode::FAILURE
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn cfg(extra: &[&str]) -> Config {
        let mut args: Vec<String> = ["--tun-a", "a", "--ns-a", "x", "--tun-b", "b", "--ns-b", "y"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        args.extend(extra.iter().map(|s| s.to_string()));
        parse_args(&args).unwrap()
    }

    #[test]
    fn rejects_bad_args() {
        assert!(parse_args(&["--tun-a".into()]).is_err());
        let base: Vec<String> = ["--tun-a", "a", "--ns-a", "x", "--tun-b", "b", "--ns-b", "y"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        let mut bad = base.clone();
        bad.extend(["--loss-pct".into(), "101".into()]);
        assert!(matches!(
            parse_args(&bad),
            Err(EmuError::BadValue { flag: "--loss-pct" })
        ));
        let mut bad = base;
        bad.extend(["--bogus".into(), "1".into()]);
        assert!(matches!(parse_args(&bad), Err(EmuError::Usage(_))));
    }

    #[test]
    fn delay_is_applied_and_order_kept_without_jitter() {
        let mut link = Link::new(cfg(&["--delay-ms", "10"]));
        let t0 = Instant::now();
        for i in 0..5u8 {
            link.ingest(t0, Dir::ToB, &[i; 40]);
        }
        assert_eq!(link.pop_due(t0 + Duration::from_millis(9)), None);
        let got: Vec<u8> = std::iter::from_fn(|| link.pop_due(t0 + Duration::from_millis(10)))
            .map(|(d, p)| {
                assert_eq!(d, Dir::ToB);
                p[0]
            })
            .collect();
        assert_eq!(got, vec![0, 1, 2, 3, 4]);
    }

    #[test]
    fn loss_rate_is_seeded_and_near_target() {
        let run = |seed: &str| {
            let mut link = Link::new(cfg(&["--loss-pct", "10", "--seed", seed]));
            let t0 = Instant::now();
            for _ in 0..10_000 {
                link.ingest(t0, Dir::ToA, &[0; 20]);
            }
            link.stats.lost
        };
        let lost = run("7");
        assert_eq!(lost, run("7"), "same seed, same losses");
        assert!((800..1200).contains(&lost), "lost {lost} of 10000 at 10 %");
    }

    #[test]
    fn duplication_and_reordering() {
        let mut link = Link::new(cfg(&["--dup-pct", "100"]));
        let t0 = Instant::now();
        link.ingest(t0, Dir::ToA, &[1; 20]);
        assert_eq!(link.pop_due(t0).map(|p| p.1), Some(vec![1; 20]));
        assert_eq!(link.pop_due(t0).map(|p| p.1), Some(vec![1; 20]));
        assert_eq!(link.pop_due(t0), None);

        let mut link = Link::new(cfg(&["--reorder-pct", "50", "--seed", "3"]));
        for i in 0..200u8 {
            link.ingest(t0, Dir::ToA, &[i; 20]);
        }
        let order: Vec<u8> = std::iter::from_fn(|| link.pop_due(t0 + Duration::from_secs(1)))
            .map(|p| p.1[0])
            .collect();
        assert_eq!(order.len(), 200);
        assert!(order.windows(2).any(|w| w[0] > w[1]), "some reordering");
    }

    #[test]
    fn queue_is_bounded_and_oversize_dropped() {
        let mut link = Link::new(cfg(&["--delay-ms", "1000", "--mtu", "1000"]));
        let t0 = Instant::now();
        for _ in 0..QUEUE_LIMIT + 10 {
            link.ingest(t0, Dir::ToB, &[0; 20]);
        }
        link.ingest(t0, Dir::ToA, &[0; 1001]);
        assert_eq!(link.stats.dropped, 11);
        assert_eq!(link.heap.len(), QUEUE_LIMIT);
    }
}
