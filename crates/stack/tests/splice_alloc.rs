//! `Stack::splice` allocates nothing per call once the target's send ring has storage
//! (its own binary: the counting allocator sees every thread, so nothing else may run).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::*;
use stack::{Event, ListenAddr, ListenConfig};
use stats_alloc::{Region, StatsAlloc, INSTRUMENTED_SYSTEM};

#[global_allocator]
static GLOBAL: &StatsAlloc<std::alloc::System> = &INSTRUMENTED_SYSTEM;

fn copy(src: &mut [u8], dst: &mut [u8]) -> Result<(usize, usize), ()> {
    let n = src.len().min(dst.len());
    dst[..n].copy_from_slice(&src[..n]);
    Ok((n, n))
}

#[test]
fn splice_allocates_nothing_per_call() {
    let (a_addr, b_addr) = (v4(1), v4(2));
    let mut p = Pair::new(stack(a_addr, 1), stack(b_addr, 2));
    for port in [80, 81] {
        p.b.listen(
            ListenAddr {
                addr: Some(b_addr),
                port: Some(port),
            },
            ListenConfig::default(),
        );
    }
    let now = p.now;
    let a1 =
        p.a.connect(now, ep(a_addr, 40000), ep(b_addr, 80), None)
            .unwrap();
    let a2 =
        p.a.connect(now, ep(a_addr, 40001), ep(b_addr, 81), None)
            .unwrap();
    p.run_until(10_000, |p| {
        p.a_has(a1, &Event::Established)
            && p.a_has(a2, &Event::Established)
            && p.b_events
                .iter()
                .filter(|(_, e)| *e == Event::Established)
                .count()
                == 2
    });
    let mut b = p
        .b_events
        .iter()
        .filter(|(_, e)| *e == Event::Established)
        .map(|(id, _)| *id);
    let (mut b1, mut b2) = (b.next().unwrap(), b.next().unwrap());
    if p.b.endpoints(b1).unwrap().0.port != 80 {
        core::mem::swap(&mut b1, &mut b2);
    }
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
