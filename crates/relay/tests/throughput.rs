//! Throughput of the whole simulated data path (two engines, tcpcrypt, one app stack on
//! each side): `cargo test -p relay --release --test throughput -- --ignored --nocapture`.
//! Ignored by default: it measures, it does not check behaviour beyond the hash.
#![allow(clippy::unwrap_used, clippy::disallowed_methods)]

mod common;

use common::*;
use relay::{IpEndpoint, Policy};
use stack::sim::{Link, Simulator};
use stack::{Duration, Instant};

#[test]
#[ignore]
fn fifty_megabytes_through_two_engines() {
    const LEN: usize = 50 << 20;
    let seed = stack::sim::seed_from_env();
    let mut a = Host::relay_a(client_cfg(Policy::Require), seed);
    let mut b = Host::relay_b(server_cfg(80), seed);
    let payload = data(LEN, 1);
    b.serve(80, payload.clone(), SendMode::Immediately);
    a.connect(
        Instant::ZERO,
        IpEndpoint::new(KERNEL_V4, 40000),
        IpEndpoint::new(B_REAL_V4, 80),
        Vec::new(),
        SendMode::Immediately,
    );
    let link = || Link::ideal().with_delay(Duration::from_millis(1));
    let mut sim = Simulator::new(a, b, link(), link());
    let t0 = std::time::Instant::now();
    sim.run_until(|s| s.a.app.eof, Duration::from_secs(600))
        .unwrap();
    let wall = t0.elapsed().as_secs_f64();
    assert_eq!(sha(&sim.a.app.received), sha(&payload));
    assert_eq!(sim.a.out.marker_hits + sim.b.out.marker_hits, 0);
    let virt = sim.now().total_millis() as f64 / 1000.0;
    println!(
        "50 MiB: {wall:.2} s CPU wall ({:.0} MB/s through 2 engines + 2 app stacks), {virt:.2} s virtual",
        LEN as f64 / 1e6 / wall
    );
}
