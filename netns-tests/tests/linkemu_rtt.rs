//! Behaviour check of `linkemu`'s delay: with 10 ms one way, ping's minimum RTT over the
//! emulated link is at least 20 ms (a lower bound only; no throughput timing).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

use std::time::Duration;

use netns_tests::{mark_ran, netns_gate, ping_min_rtt, Impairments, LinkEmu, Netns};

const LINKEMU: &str = env!("CARGO_BIN_EXE_linkemu");

fn rtt(name: &str, v6: bool) {
    netns_gate!(name, &["ping"]);
    let a = Netns::new().unwrap();
    let b = Netns::new().unwrap();
    let imp = Impairments {
        delay_ms: 10,
        ..Impairments::default()
    };
    let emu = LinkEmu::start(LINKEMU, &a, &b, imp).unwrap();
    let min = ping_min_rtt(&a, emu.addr_b().get(v6), 5).unwrap();
    println!("{name}: min RTT {min:?}");
    assert!(min >= Duration::from_millis(20), "min RTT {min:?} < 20 ms");
    let stats = emu.stop().unwrap();
    // 5 echo requests and 5 replies crossed the emulator, none lost.
    assert!(stats.tx >= 10 && stats.lost == 0, "{stats:?}");
    mark_ran(name).unwrap();
}

#[test]
fn linkemu_rtt_at_least_twice_delay_ipv4() {
    rtt("linkemu_rtt_at_least_twice_delay_ipv4", false);
}

#[test]
fn linkemu_rtt_at_least_twice_delay_ipv6() {
    rtt("linkemu_rtt_at_least_twice_delay_ipv6", true);
}
