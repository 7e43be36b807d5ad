//! Fuzzing entry point: arbitrary packets into a stack that has live connections.
//!
//! Two stacks open an ENO connection and exchange data; the fuzz input is then cut into
//! packets, each either raw bytes or one of the real packets in flight with the input
//! XORed over it (so checksums, sequence numbers and options are mostly right and the deep
//! paths are reached), and fed to the server while time advances. Whatever arrives, the
//! stack must not panic; malformed packets are dropped and counted.

use crate::{
    ConnConfig, Duration, Event, Instant, IpAddress, IpEndpoint, ListenAddr, ListenConfig, Stack,
    StackConfig,
};

fn eno_config() -> ConnConfig {
    ConnConfig {
        eno: Some(eno::Config {
            teps: vec![eno::TepOffer::new(0x21), eno::TepOffer::new(0x23)],
            ..eno::Config::default()
        }),
        ..ConnConfig::default()
    }
}

fn shuttle(now: Instant, a: &mut Stack, b: &mut Stack, seen: &mut Vec<Vec<u8>>) {
    let mut buf = [0u8; 1600];
    for _ in 0..64 {
        let mut moved = false;
        while let Some(n) = a.poll_transmit(now, &mut buf) {
            let pkt = buf.get(..n).unwrap_or_default();
            if seen.len() < 32 {
                seen.push(pkt.to_vec());
            }
            b.handle(now, pkt);
            moved = true;
        }
        while let Some(n) = b.poll_transmit(now, &mut buf) {
            a.handle(now, buf.get(..n).unwrap_or_default());
            moved = true;
        }
        if !moved {
            break;
        }
    }
}

/// Feeds `data`, cut into packets, to a server stack with a live connection (doc-hidden:
/// the body of the `stack_packets` fuzz target and of a proptest).
#[doc(hidden)]
pub fn fuzz_packets(data: &[u8]) {
    let (a_ip, b_ip) = (IpAddress::v4(10, 9, 0, 1), IpAddress::v4(10, 9, 0, 2));
    let mut a_cfg = StackConfig::new(vec![a_ip], [1; 32]);
    a_cfg.conn = eno_config();
    let mut b_cfg = StackConfig::new(vec![b_ip], [2; 32]);
    b_cfg.conn = eno_config();
    let mut a = Stack::new(a_cfg);
    let mut b = Stack::new(b_cfg);
    b.listen(
        ListenAddr {
            addr: None,
            port: Some(80),
        },
        ListenConfig::default(),
    );
    let mut now = Instant::from_millis(0);
    let mut seen = Vec::new();
    let Ok(id) = a.connect(
        now,
        IpEndpoint::new(a_ip, 40000),
        IpEndpoint::new(b_ip, 80),
        None,
    ) else {
        return;
    };
    shuttle(now, &mut a, &mut b, &mut seen);
    a.send(now, id, b"some application bytes");
    shuttle(now, &mut a, &mut b, &mut seen);

    // Input format: repeated [selector (1) | length (1) | bytes (length)].
    let mut rest = data;
    while let [selector, len, tail @ ..] = rest {
        let n = usize::from(*len).min(tail.len());
        let (chunk, next) = tail.split_at(n);
        rest = next;
        let pkt = match seen.get(usize::from(*selector) % 33) {
            Some(real) => {
                let mut p = real.clone();
                for (byte, x) in p.iter_mut().zip(chunk) {
                    *byte ^= x;
                }
                p
            }
            None => chunk.to_vec(),
        };
        b.handle(now, &pkt);
        if selector & 0x80 != 0 {
            now += Duration::from_millis(u64::from(*selector & 0x7f) * 50);
            b.handle_timeout(now);
            a.handle_timeout(now);
        }
        shuttle(now, &mut a, &mut b, &mut seen);
        while let Some((_, ev)) = b.poll_event() {
            if let (Event::Readable, Some(conn)) = (
                ev,
                b.find(IpEndpoint::new(b_ip, 80), IpEndpoint::new(a_ip, 40000)),
            ) {
                let mut sink = [0u8; 256];
                while let Ok(1..) = b.recv(now, conn, &mut sink) {}
            }
        }
    }
}
