//! Memory per idle established connection: two engines in memory open `N` connections
//! (then, in a second round, carry 1 KiB each way on every one, read everything and let
//! the ACKs settle). Reported: live heap bytes (a counting global allocator,
//! `stats_alloc`) and growth of the resident set, each divided by `2N` (both engines
//! hold `N` connections; the figure includes the engines' tables), the connections' own
//! buffer allocation (`Stack::buffer_allocation`) and the size of the connection struct.
//! Plain `main` (no criterion): one deterministic measurement.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

mod common;

use stack::ConnConfig;
use stats_alloc::{Region, StatsAlloc, INSTRUMENTED_SYSTEM};
use std::alloc::System;

#[global_allocator]
static GLOBAL: &StatsAlloc<System> = &INSTRUMENTED_SYSTEM;

/// Live heap bytes allocated since `r` was created.
fn live(r: &Region<'_, System>) -> isize {
    let c = r.change();
    c.bytes_allocated as isize - c.bytes_deallocated as isize + c.bytes_reallocated
}

/// Resident set size in bytes, from /proc/self/statm (pages × 4096).
fn rss() -> usize {
    let s = std::fs::read_to_string("/proc/self/statm").unwrap_or_default();
    let pages: usize = s
        .split_whitespace()
        .nth(1)
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    pages * 4096
}

fn main() {
    let n: usize = std::env::var("CONNS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(20_000);
    let cfg = ConnConfig::default();
    println!(
        "default buffers: send {} B, receive {} B; size_of::<Conn>() = {} B",
        cfg.send_buffer,
        cfg.recv_buffer,
        core::mem::size_of::<stack::tcp::conn::Conn>()
    );
    for data in [0usize, 1024] {
        let before = rss();
        let region = Region::new(GLOBAL);
        let mut p = common::open(n, cfg.clone());
        let heap_open = live(&region);
        if data > 0 {
            common::exchange(&mut p, data);
        }
        let heap = live(&region);
        let after = rss();
        let buffers: usize = p
            .ids_a
            .iter()
            .map(|&id| p.a.buffer_allocation(id))
            .chain(p.ids_b.iter().map(|&id| p.b.buffer_allocation(id)))
            .sum();
        let live = p.a.connection_count() + p.b.connection_count();
        assert_eq!(live, 2 * n);
        println!(
            "{n} connections per engine, {data} B each way then idle: live heap {} B per \
             connection (after the handshakes: {} B); RSS growth {} B per connection \
             (includes memory the allocator keeps after freeing transient buffers); \
             buffer bytes still allocated: {buffers}",
            heap / (2 * n) as isize,
            heap_open / (2 * n) as isize,
            (after.saturating_sub(before)) / (2 * n),
        );
        drop(p);
    }
}
