//! Shared by the connection benches: two engines back to back in memory with `n`
//! established connections between them.
#![allow(dead_code)]

use stack::{
    ConnConfig, ConnId, Duration, Event, Instant, IpAddress, IpEndpoint, ListenAddr, ListenConfig,
    Stack, StackConfig,
};

pub(crate) const A: IpAddress = IpAddress::v4(10, 0, 0, 1);
pub(crate) const B: IpAddress = IpAddress::v4(10, 0, 0, 2);

/// Two engines and the ids of the same `n` connections on each side (`a[i]` ↔ `b[i]`).
pub(crate) struct Pair {
    pub(crate) a: Stack,
    pub(crate) b: Stack,
    pub(crate) ids_a: Vec<ConnId>,
    pub(crate) ids_b: Vec<ConnId>,
    pub(crate) now: Instant,
    buf: Vec<u8>,
}

impl Pair {
    /// Move packets both ways until both engines are quiet; returns packets moved.
    pub(crate) fn shuttle(&mut self) -> usize {
        let mut moved = 0;
        loop {
            let before = moved;
            while let Some(n) = self.a.poll_transmit(self.now, &mut self.buf) {
                self.b.handle(self.now, &self.buf[..n]);
                moved += 1;
            }
            while let Some(n) = self.b.poll_transmit(self.now, &mut self.buf) {
                self.a.handle(self.now, &self.buf[..n]);
                moved += 1;
            }
            if moved == before {
                return moved;
            }
        }
    }

    /// Let every pending timer fire (delayed ACKs), then settle.
    pub(crate) fn flush_timers(&mut self) {
        self.now += Duration::from_secs(1);
        self.a.handle_timeout(self.now);
        self.b.handle_timeout(self.now);
        self.shuttle();
    }
}

/// Open `n` connections from `A` (ports 1024..) to `B:80` with connection options `conn`,
/// in batches below the half-open bound, and wait until all are established.
pub(crate) fn open(n: usize, conn: ConnConfig) -> Pair {
    let mut ca = StackConfig::new(vec![A], [1; 32]);
    ca.conn = conn.clone();
    ca.max_connections = n + 16;
    ca.max_events = 4 * n + 64;
    let mut cb = StackConfig::new(vec![B], [2; 32]);
    cb.conn = conn;
    cb.max_connections = n + 16;
    cb.max_events = 4 * n + 64;
    let mut p = Pair {
        a: Stack::new(ca),
        b: Stack::new(cb),
        ids_a: Vec::with_capacity(n),
        ids_b: Vec::with_capacity(n),
        now: Instant::from_millis(0),
        buf: vec![0u8; 1500],
    };
    p.b.listen(
        ListenAddr {
            addr: None,
            port: Some(80),
        },
        ListenConfig::default(),
    );
    let mut port: u16 = 1024;
    while p.ids_a.len() < n {
        let batch = (n - p.ids_a.len()).min(500);
        for _ in 0..batch {
            let id =
                p.a.connect(
                    p.now,
                    IpEndpoint::new(A, port),
                    IpEndpoint::new(B, 80),
                    None,
                )
                .expect("connect");
            p.ids_a.push(id);
            port += 1;
        }
        p.shuttle();
        while p.a.poll_event().is_some() {}
        while let Some((id, e)) = p.b.poll_event() {
            if e == Event::Established {
                p.ids_b.push(id);
            }
        }
    }
    assert_eq!(p.ids_b.len(), n, "all connections established");
    // Pair the ids: b's connection for a's i-th local port.
    let mut by_port: Vec<(u16, ConnId)> = p
        .ids_b
        .iter()
        .map(|&id| (p.b.endpoints(id).expect("live").1.port, id))
        .collect();
    by_port.sort();
    p.ids_b = by_port.into_iter().map(|(_, id)| id).collect();
    p
}

/// Send `len` bytes each way on every connection, read them all and let the ACKs settle,
/// so every connection is established, has carried data and is idle again.
pub(crate) fn exchange(p: &mut Pair, len: usize) {
    let data = vec![0x5au8; len];
    let mut rbuf = vec![0u8; len.max(1)];
    for i in 0..p.ids_a.len() {
        let (ia, ib) = (p.ids_a[i], p.ids_b[i]);
        assert_eq!(p.a.send(p.now, ia, &data), len);
        assert_eq!(p.b.send(p.now, ib, &data), len);
        p.shuttle();
        let mut got = 0;
        while let Ok(n @ 1..) = p.b.recv(p.now, ib, &mut rbuf) {
            got += n;
        }
        while let Ok(n @ 1..) = p.a.recv(p.now, ia, &mut rbuf) {
            got += n;
        }
        assert_eq!(got, 2 * len);
    }
    p.flush_timers();
    while p.a.poll_event().is_some() {}
    while p.b.poll_event().is_some() {}
}
