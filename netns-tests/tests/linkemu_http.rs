//! Kernel TCP on both ends through `linkemu` (two TUN devices in two namespaces): 10 ms
//! one-way delay and 1 % loss each way, then a mix of jitter, reordering and duplication.
//! curl fetches a 5 MB file from `python3 -m http.server`; the SHA-256 must match and the
//! emulator's counters must show that it impaired the traffic.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

use std::time::Duration;

use netns_tests::{http_transfer, mark_ran, netns_gate, Impairments, LinkEmu, Netns};

const LEN: usize = 5 * 1024 * 1024;
const LINKEMU: &str = env!("CARGO_BIN_EXE_linkemu");

fn emu_transfer(name: &str, v6: bool, imp: Impairments) -> netns_tests::EmuStats {
    let server = Netns::new().unwrap();
    let client = Netns::new().unwrap();
    let emu = LinkEmu::start(LINKEMU, &client, &server, imp).unwrap();
    let t = http_transfer(
        &server,
        &client,
        emu.addr_b().get(v6),
        LEN,
        imp.seed,
        Duration::from_secs(180),
    )
    .unwrap();
    assert_eq!(t.received_len, LEN as u64);
    assert_eq!(t.received_sha256, t.sent_sha256);
    let stats = emu.stop().unwrap();
    println!("{name}: {stats:?}");
    // 5 MB is at least 3600 full-size segments through the emulator.
    assert!(stats.rx > 3600, "{stats:?}");
    stats
}

fn delay_loss(name: &str, v6: bool) {
    netns_gate!(name, &["python3", "curl", "ss"]);
    let imp = Impairments {
        delay_ms: 10,
        loss_pct: 1.0,
        seed: 42,
        ..Impairments::default()
    };
    let stats = emu_transfer(name, v6, imp);
    assert!(stats.lost > 0, "1 % loss never dropped: {stats:?}");
    mark_ran(name).unwrap();
}

#[test]
fn linkemu_delay10ms_loss1pct_http_5mb_ipv4() {
    delay_loss("linkemu_delay10ms_loss1pct_http_5mb_ipv4", false);
}

#[test]
fn linkemu_delay10ms_loss1pct_http_5mb_ipv6() {
    delay_loss("linkemu_delay10ms_loss1pct_http_5mb_ipv6", true);
}

#[test]
fn linkemu_jitter_reorder_dup_http_5mb_ipv4() {
    let name = "linkemu_jitter_reorder_dup_http_5mb_ipv4";
    netns_gate!(name, &["python3", "curl", "ss"]);
    let imp = Impairments {
        delay_ms: 5,
        jitter_ms: 2,
        loss_pct: 0.5,
        reorder_pct: 2.0,
        dup_pct: 1.0,
        seed: 7,
        mtu: 1400,
    };
    let stats = emu_transfer(name, false, imp);
    assert!(stats.reordered > 0 && stats.duplicated > 0, "{stats:?}");
    mark_ran(name).unwrap();
}
