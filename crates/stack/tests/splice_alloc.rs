//! `Stack::splice` allocates nothing per call once the target's send ring has storage
//! (its own binary: the counting allocator sees every thread, so nothing else may run).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::*;
use stats_alloc::{Region, StatsAlloc, INSTRUMENTED_SYSTEM};

#[global_allocator]
static GLOBAL: &StatsAlloc<std::alloc::System> = &INSTRUMENTED_SYSTEM;

#[test]
fn splice_allocates_nothing_per_call() {
    let mut p = Pair::new(stack(v4(1), 1), stack(v4(2), 2));
    let (a1, _a2, b1, b2) = relay_legs(&mut p);
    let data = vec![7u8; 20_000];
    let mut rounds = Vec::new();
    for _ in 0..3 {
        let now = p.now;
        assert_eq!(p.a.send(now, a1, &data), data.len());
        // b2's ring drained (all acknowledged): its storage went back to the spares.
        p.run_until(10_000, |p| {
            p.b.recv_queue(b1) == 20_000 && p.b.send_queue(b2) == 0
        });
        assert_eq!(p.b.buffer_allocation(b2), 0);
        let now = p.now;
        let reg = Region::new(GLOBAL);
        let moved = p.b.splice(now, b1, b2, copy).unwrap();
        let st = reg.change();
        assert_eq!(moved, (20_000, 20_000));
        rounds.push(st.allocations + st.reallocations);
    }
    // The first splice may allocate b2's ring storage; later ones take a spare buffer
    // (b1's emptied ring or b2's old one) and allocate nothing.
    assert_eq!(&rounds[1..], &[0, 0], "{rounds:?}");
}
