//! Malformed input never panics and never breaks an established connection: arbitrary
//! bytes, and valid segments with random bit flips, truncations and option bytes.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::dialogue::*;
use common::{ep, v4};
use proptest::prelude::*;
use stack::tcp::segment::Flags;
use stack::{ListenAddr, ListenConfig, StackConfig};

fn dialogue() -> Dialogue {
    let mut d = Dialogue::new(
        StackConfig::new(vec![v4(1)], [3; 32]),
        ep(v4(1), 80),
        ep(v4(2), 5000),
    );
    d.stack.listen(
        ListenAddr {
            addr: None,
            port: None,
        },
        ListenConfig::default(),
    );
    d
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn arbitrary_bytes(bytes in proptest::collection::vec(any::<u8>(), 0..1600)) {
        let mut d = dialogue();
        let now = d.now;
        d.stack.handle(now, &bytes);
        let mut v4p = bytes.clone();
        if let Some(b) = v4p.first_mut() { *b = 0x45; }
        d.stack.handle(now, &v4p);
        let _ = d.recv_all();
    }

    #[test]
    fn mutated_segments(
        flips in proptest::collection::vec((0usize..200, any::<u8>()), 0..6),
        opts in proptest::collection::vec(any::<u8>(), 0..40),
        cut in 0usize..300,
        flags in 0u8..32,
    ) {
        let mut d = dialogue();
        let f = Flags {
            syn: flags & 1 != 0,
            ack: flags & 2 != 0,
            fin: flags & 4 != 0,
            rst: flags & 8 != 0,
            psh: flags & 16 != 0,
        };
        let eno = (opts.len() >= 2).then(|| {
            let mut e = opts.clone();
            e[0] = 69;
            e[1] = e.len() as u8;
            e
        });
        let o = Opts { eno, ..Opts::default() };
        let mut pkt = d.build(f, 1000, 2000, 1000, &o, b"payload bytes");
        for (i, x) in flips {
            if let Some(b) = pkt.get_mut(i) { *b ^= x; }
        }
        let now = d.now;
        d.stack.handle(now, &pkt[..pkt.len().min(cut.max(1))]);
        d.stack.handle(now, &pkt);
        let _ = d.recv_all();
        let t = now + stack::Duration::from_secs(100);
        d.at(t);
        let _ = d.recv_all();
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// The body of the `stack_packets` fuzz target: mutated real packets and raw bytes into a
    /// stack with a live ENO connection, with time advancing.
    #[test]
    fn fuzz_entry_point(data in proptest::collection::vec(any::<u8>(), 0..2048)) {
        stack::fuzz::fuzz_packets(&data);
    }
}
