//! Loss-recovery benchmark over the seeded simulator (`stack::sim`): one bulk transfer
//! A → B (4 MiB by default, `LOSS_BENCH_BYTES`) over links with random loss in both
//! directions, for 1 % and 5 % loss at 1 ms and 20 ms RTT, three seeds each (`LOSS_BENCH_SEEDS`). Prints the
//! virtual time taken and the sender's loss-recovery counters (RTO expiries, fast
//! retransmits, tail loss probes, retransmissions), so that changes to loss recovery
//! (RFC 8985 RACK-TLP, RFC 3042 limited transmit) can be compared run against run.
//!
//! Run: `cargo test --release -p stack --features sim --test loss_bench -- --nocapture`.
#![cfg(feature = "sim")]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use stack::sim::{Link, Simulator};
use stack::{Duration, Event, Instant, IpAddress, IpEndpoint, ListenAddr, ListenConfig, Stack};
use stack::{StackConfig, Stats};

const PORT_A: u16 = 40_000;
const PORT_B: u16 = 80;

fn bench_bytes() -> usize {
    std::env::var("LOSS_BENCH_BYTES")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(4 << 20)
}

/// Seeds per case (`LOSS_BENCH_SEEDS`, default 3: seeds 1..=3).
fn bench_seeds() -> u64 {
    std::env::var("LOSS_BENCH_SEEDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(3)
}

fn stack_config(addr: IpAddress, seed: u64, who: u8) -> StackConfig {
    let mut rng_seed = [who; 32];
    rng_seed[..8].copy_from_slice(&seed.to_le_bytes());
    StackConfig::new(vec![addr], rng_seed)
}

/// What one run measured.
#[derive(Debug, Clone, Copy)]
struct Outcome {
    /// Virtual time from connect to the last byte read by B.
    elapsed: Duration,
    /// The sender's counters.
    sender: Stats,
}

/// Sends `len` bytes A → B over links with `loss` each way and `rtt` round trip.
fn run(len: usize, loss: f64, rtt_ms: u64, seed: u64) -> Outcome {
    let (addr_a, addr_b) = (IpAddress::v4(10, 0, 0, 1), IpAddress::v4(10, 0, 0, 2));
    let a_stack = Stack::new(stack_config(addr_a, seed, 1));
    let mut b_stack = Stack::new(stack_config(addr_b, seed, 2));
    b_stack.listen(
        ListenAddr {
            addr: Some(addr_b),
            port: Some(PORT_B),
        },
        ListenConfig::default(),
    );
    // Half the RTT each way, in microseconds so that 1 ms splits evenly.
    let one_way = Duration::from_micros(rtt_ms * 500);
    let link = || Link::ideal().with_delay(one_way).with_loss(loss);
    let mut sim = Simulator::with_seed(seed, a_stack, b_stack, link(), link());
    let start = sim.now();
    let id = sim
        .a
        .connect(
            start,
            IpEndpoint::new(addr_a, PORT_A),
            IpEndpoint::new(addr_b, PORT_B),
            None,
        )
        .unwrap();
    let data: Vec<u8> = (0..len).map(|i| (i * 7 + i / 251) as u8).collect();
    let mut sent = 0usize;
    let mut connected = false;
    let mut b_id = None;
    let mut got = 0usize;
    let mut done_at: Option<Instant> = None;
    let mut buf = vec![0u8; 64 * 1024];
    sim.run_until(
        |s| {
            let now = s.now();
            while let Some((cid, ev)) = s.a.poll_event() {
                if cid == id && ev == Event::Established {
                    connected = true;
                }
            }
            while let Some((cid, ev)) = s.b.poll_event() {
                if b_id.is_none() && ev == Event::Established {
                    b_id = Some(cid);
                }
            }
            while connected && sent < len {
                let n = s.a.send(now, id, &data[sent..]);
                if n == 0 {
                    break;
                }
                sent += n;
            }
            if let Some(bid) = b_id {
                while let Ok(n) = s.b.recv(now, bid, &mut buf) {
                    if n == 0 {
                        break;
                    }
                    assert_eq!(&buf[..n], &data[got..got + n], "corrupted stream");
                    got += n;
                }
            }
            if got == len && done_at.is_none() {
                done_at = Some(now);
            }
            done_at.is_some()
        },
        Duration::from_secs(3_600),
    )
    .unwrap_or_else(|e| panic!("loss {loss} rtt {rtt_ms} seed {seed}: {e}, got {got}"));
    Outcome {
        elapsed: done_at.unwrap() - start,
        sender: *sim.a.stats(),
    }
}

/// The benchmark matrix; prints one line per case and returns the outcomes.
fn matrix() -> Vec<((f64, u64), Vec<Outcome>)> {
    let len = bench_bytes();
    let mut all = Vec::new();
    for &(loss, rtt) in &[(0.01, 1u64), (0.05, 1), (0.01, 20), (0.05, 20)] {
        let runs: Vec<Outcome> = (1..=bench_seeds())
            .map(|seed| run(len, loss, rtt, seed))
            .collect();
        let ms: Vec<u64> = runs.iter().map(|o| o.elapsed.total_millis()).collect();
        let sum = |f: fn(&Stats) -> u64| runs.iter().map(|o| f(&o.sender)).sum::<u64>();
        println!(
            "loss_bench: {} KiB, loss {:>2.0} %, RTT {:>2} ms: time ms {:?} (mean {}), RTOs {}, fast rtx {}, TLPs {}, rtx segs {}, packets in/out {}/{}",
            len >> 10,
            loss * 100.0,
            rtt,
            ms,
            ms.iter().sum::<u64>() / ms.len() as u64,
            sum(|s| s.rto_expiries),
            sum(|s| s.fast_retransmits),
            sum(|s| s.tlp_probes),
            sum(|s| s.retransmits),
            sum(|s| s.packets_in),
            sum(|s| s.packets_out),
        );
        all.push(((loss, rtt), runs));
    }
    all
}

#[test]
fn loss_recovery_benchmark() {
    let all = matrix();
    for ((loss, rtt), runs) in all {
        for o in runs {
            let s = &o.sender;
            // RACK-TLP repairs nearly all losses without the retransmission timer: RTO
            // expiries stay a small fraction of the recovery episodes.
            assert!(
                s.rto_expiries * 4 <= s.fast_retransmits + s.tlp_probes + 4,
                "loss {loss} rtt {rtt}: too many RTOs: {o:?}"
            );
        }
    }
}
