//! Two engines wired back to back in memory (no latency, no loss): bulk transfer
//! throughput of the whole sans-IO path (segment build, checksums, options, ACK clocking,
//! copies in and out of the application). One connection per configuration is opened
//! before measuring; each iteration moves 4 MiB over it (steady state: the handshake and
//! the first touch of fresh buffer memory are not in the figure).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use stack::{
    ChecksumOffload, ConnId, Duration, Event, Instant, IpAddress, IpEndpoint, ListenAddr,
    ListenConfig, Stack, StackConfig,
};

const LEN: usize = 4 << 20;

struct Bulk {
    a: Stack,
    b: Stack,
    ia: ConnId,
    ib: Option<ConnId>,
    now: Instant,
    data: Vec<u8>,
    buf: Vec<u8>,
    rbuf: Vec<u8>,
}

impl Bulk {
    fn new(mtu: usize, offload: bool) -> Bulk {
        let a_addr = IpAddress::v4(10, 0, 0, 1);
        let b_addr = IpAddress::v4(10, 0, 0, 2);
        let mut ca = StackConfig::new(vec![a_addr], [1; 32]);
        ca.mtu = mtu;
        let mut cb = StackConfig::new(vec![b_addr], [2; 32]);
        cb.mtu = mtu;
        if offload {
            // The link vouches for received checksums and completes sent ones.
            let o = ChecksumOffload {
                rx_trusted: true,
                tx_partial: true,
            };
            ca.checksum_offload = o;
            cb.checksum_offload = o;
        }
        let mut a = Stack::new(ca);
        let mut b = Stack::new(cb);
        b.listen(
            ListenAddr {
                addr: None,
                port: Some(80),
            },
            ListenConfig::default(),
        );
        let now = Instant::from_millis(0);
        let ia = a
            .connect(
                now,
                IpEndpoint::new(a_addr, 40000),
                IpEndpoint::new(b_addr, 80),
                None,
            )
            .unwrap();
        let mut bulk = Bulk {
            a,
            b,
            ia,
            ib: None,
            now,
            data: vec![0x5au8; 64 * 1024],
            buf: vec![0u8; mtu],
            rbuf: vec![0u8; 64 * 1024],
        };
        // Warm up: handshake and a first transfer.
        bulk.transfer(LEN);
        bulk
    }

    fn transfer(&mut self, len: usize) {
        let (mut sent, mut got) = (0usize, 0usize);
        let Bulk {
            a,
            b,
            ia,
            ib,
            now,
            data,
            buf,
            rbuf,
        } = self;
        while got < len {
            if sent < len {
                let n = (len - sent).min(data.len());
                sent += a.send(*now, *ia, &data[..n]);
            }
            let mut moved = false;
            while let Some(n) = a.poll_transmit(*now, buf) {
                b.handle(*now, &buf[..n]);
                moved = true;
            }
            while let Some(n) = b.poll_transmit(*now, buf) {
                a.handle(*now, &buf[..n]);
                moved = true;
            }
            while let Some((id, e)) = b.poll_event() {
                if e == Event::Established {
                    *ib = Some(id);
                }
            }
            while a.poll_event().is_some() {}
            if let Some(ib) = *ib {
                while let Ok(n) = b.recv(*now, ib, rbuf) {
                    if n == 0 {
                        break;
                    }
                    got += n;
                    moved = true;
                }
            }
            if !moved {
                let next = [a.next_deadline(), b.next_deadline()]
                    .into_iter()
                    .flatten()
                    .min()
                    .unwrap_or(*now + Duration::from_millis(1));
                *now = next.max(*now + Duration::from_micros(1));
                a.handle_timeout(*now);
                b.handle_timeout(*now);
            }
        }
    }
}

fn bench(c: &mut Criterion) {
    let mut g = c.benchmark_group("bulk");
    g.throughput(Throughput::Bytes(LEN as u64));
    g.sample_size(20);
    for offload in [false, true] {
        for mtu in [1500usize, 65535] {
            let name = if offload { "_csum_offload" } else { "" };
            let mut bulk = Bulk::new(mtu, offload);
            g.bench_function(format!("one_connection_4MiB_mtu{mtu}{name}"), |bch| {
                bch.iter(|| bulk.transfer(LEN))
            });
        }
    }
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
