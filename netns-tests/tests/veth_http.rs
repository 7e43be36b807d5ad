//! Kernel TCP on both ends over a veth pair between two namespaces: curl fetches a 5 MB file
//! from `python3 -m http.server`, the SHA-256 must match. The `nft` variants drop 1 % of
//! packets at random (`numgen random mod 100 < 1 drop`) on the veth in both directions and
//! check that the rule really dropped packets.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

use std::time::Duration;

use netns_tests::{http_transfer, mark_ran, netns_gate, nft_counter_packets, Netns, Veth};

const LEN: usize = 5 * 1024 * 1024;

fn veth_transfer(name: &str, v6: bool, nft_loss: bool) {
    netns_gate!(name, &["python3", "curl", "ss", "nft"]);
    let server = Netns::new().unwrap();
    let client = Netns::new().unwrap();
    let veth = Veth::new(&client, &server).unwrap();
    let table = netns_tests::unique_name('f');
    if nft_loss {
        veth.limit_gso(&client, &server).unwrap();
        let dev = veth.name_a();
        let rules = format!(
            "table inet {table} {{\n\
             chain in {{ type filter hook input priority 0; iifname \"{dev}\" numgen random mod 100 < 1 counter drop; }}\n\
             chain out {{ type filter hook output priority 0; oifname \"{dev}\" numgen random mod 100 < 1 counter drop; }}\n\
             }}\n"
        );
        let dir = netns_tests::TempDir::new().unwrap();
        let path = dir.path().join("rules.nft");
        std::fs::write(&path, rules).unwrap();
        client.exec("nft", &["-f", path.to_str().unwrap()]).unwrap();
    }
    let t = http_transfer(
        &server,
        &client,
        veth.addr_b().get(v6),
        LEN,
        0x5eed,
        Duration::from_secs(120),
    )
    .unwrap();
    assert_eq!(t.received_len, LEN as u64);
    assert_eq!(t.received_sha256, t.sent_sha256);
    if nft_loss {
        let dropped = nft_counter_packets(&client, "inet", &table).unwrap();
        println!("{name}: nft dropped {dropped} packets");
        // With MSS-sized packets 5 MB is > 3600 data segments plus ACKs: 1 % is 30-60 drops,
        // and P(fewer than 5) is below 1e-8.
        assert!(
            dropped >= 5,
            "the 1 % random drop rule fired only {dropped} times"
        );
    }
    mark_ran(name).unwrap();
}

#[test]
fn veth_http_5mb_ipv4() {
    veth_transfer("veth_http_5mb_ipv4", false, false);
}

#[test]
fn veth_http_5mb_ipv6() {
    veth_transfer("veth_http_5mb_ipv6", true, false);
}

#[test]
fn veth_nft_loss_http_5mb_ipv4() {
    veth_transfer("veth_nft_loss_http_5mb_ipv4", false, true);
}

#[test]
fn veth_nft_loss_http_5mb_ipv6() {
    veth_transfer("veth_nft_loss_http_5mb_ipv6", true, true);
}
