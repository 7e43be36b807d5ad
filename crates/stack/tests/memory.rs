//! Buffers are allocated lazily and released once drained: an idle established connection
//! holds no buffer memory (issue floor: ≤ 32 KiB per idle connection).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use stack::{
    Duration, Event, Instant, IpAddress, IpEndpoint, ListenAddr, ListenConfig, Stack, StackConfig,
};

#[test]
fn idle_connection_holds_no_buffers() {
    let (a_ip, b_ip) = (IpAddress::v4(10, 0, 0, 1), IpAddress::v4(10, 0, 0, 2));
    let mut a = Stack::new(StackConfig::new(vec![a_ip], [1; 32]));
    let mut b = Stack::new(StackConfig::new(vec![b_ip], [2; 32]));
    b.listen(
        ListenAddr {
            addr: None,
            port: Some(80),
        },
        ListenConfig::default(),
    );
    let mut now = Instant::from_millis(0);
    let ia = a
        .connect(
            now,
            IpEndpoint::new(a_ip, 5000),
            IpEndpoint::new(b_ip, 80),
            None,
        )
        .unwrap();
    let mut buf = [0u8; 1500];
    let mut shuttle = |a: &mut Stack, b: &mut Stack, now: Instant| loop {
        let mut moved = false;
        while let Some(n) = a.poll_transmit(now, &mut buf) {
            b.handle(now, &buf[..n]);
            moved = true;
        }
        while let Some(n) = b.poll_transmit(now, &mut buf) {
            a.handle(now, &buf[..n]);
            moved = true;
        }
        if !moved {
            break;
        }
    };
    shuttle(&mut a, &mut b, now);
    let mut ib = None;
    while let Some((id, e)) = b.poll_event() {
        if e == Event::Established {
            ib = Some(id);
        }
    }
    let ib = ib.unwrap();
    assert_eq!(a.buffer_allocation(ia), 0);
    assert_eq!(b.buffer_allocation(ib), 0);

    // Data queued and unread: both sides hold a buffer.
    assert_eq!(a.send(now, ia, &[7u8; 3000]), 3000);
    assert!(a.buffer_allocation(ia) > 0);
    shuttle(&mut a, &mut b, now);
    assert!(b.buffer_allocation(ib) > 0);
    // Read everything and let the delayed ACK go out: both sides release their buffers.
    let mut got = [0u8; 4096];
    assert_eq!(b.recv(now, ib, &mut got).unwrap(), 3000);
    assert_eq!(b.buffer_allocation(ib), 0);
    now += Duration::from_secs(1);
    a.handle_timeout(now);
    b.handle_timeout(now);
    shuttle(&mut a, &mut b, now);
    assert_eq!(a.send_queue(ia), 0);
    assert_eq!(a.buffer_allocation(ia), 0);
}
