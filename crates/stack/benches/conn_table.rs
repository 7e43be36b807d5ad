//! Many connections open at once between two engines in memory: per-packet processing time
//! with 1 000, 10 000 and 50 000 established connections. Each iteration picks the next
//! connection in a scattered order (stride 7919), sends 64 bytes on it and moves the data
//! segment to the peer and the ACK back (delayed ACK off, so every segment is answered).
//! Only the two `Stack::handle` calls are timed (`iter_custom`): demultiplexing by 4-tuple
//! (hash table), the connection's state machine and the deadline update. O(1) lookup
//! shows as a per-packet time that does not grow with the number of connections.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

mod common;

use std::time::{Duration, Instant as WallClock};

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use stack::ConnConfig;

fn bench(c: &mut Criterion) {
    let mut g = c.benchmark_group("conn_table");
    g.throughput(Throughput::Elements(2));
    for n in [1_000usize, 10_000, 50_000] {
        let cfg = ConnConfig {
            delayed_ack: None,
            ..ConnConfig::default()
        };
        let mut p = common::open(n, cfg);
        assert_eq!(p.a.connection_count(), n);
        assert_eq!(p.b.connection_count(), n);
        let data = [0x42u8; 64];
        let mut pkt = vec![0u8; 1500];
        let mut rbuf = [0u8; 256];
        let mut k = 0usize;
        g.bench_function(format!("segment_and_ack_{n}_connections"), |bch| {
            bch.iter_custom(|iters| {
                let mut spent = Duration::ZERO;
                for _ in 0..iters {
                    k = (k + 7919) % n;
                    let (ia, ib) = (p.ids_a[k], p.ids_b[k]);
                    assert_eq!(p.a.send(p.now, ia, &data), data.len());
                    let len = p.a.poll_transmit(p.now, &mut pkt).unwrap();
                    let t = WallClock::now();
                    p.b.handle(p.now, &pkt[..len]);
                    spent += t.elapsed();
                    assert_eq!(p.b.recv(p.now, ib, &mut rbuf).unwrap(), data.len());
                    let len = p.b.poll_transmit(p.now, &mut pkt).unwrap();
                    let t = WallClock::now();
                    p.a.handle(p.now, &pkt[..len]);
                    spent += t.elapsed();
                    assert_eq!(p.a.send_queue(ia), 0);
                }
                while p.a.poll_event().is_some() {}
                while p.b.poll_event().is_some() {}
                spent
            })
        });
        assert!(p.a.poll_transmit(p.now, &mut pkt).is_none());
        drop(p);
    }
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
