//! A received TCP super-packet (what a TUN read with GSO hands over: the kernel's TSO or GRO
//! merged consecutive segments into one packet of up to 64 KB) is one segment larger than
//! the MSS. RFC 9293 §3.10.7.4 accepts a segment by its sequence space and trims its text to
//! the receive window, whatever its size; the receiving engine runs with `rx_trusted`
//! (the checksum field of a merged packet is only a pseudo-header sum). A super-packet that
//! runs past the window (a sender that respects the window never produces one, a broken or
//! hostile one may) is trimmed to it.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use stack::{
    ChecksumOffload, ConnConfig, ConnId, Event, Instant, IpAddress, IpEndpoint, ListenAddr,
    ListenConfig, Stack, StackConfig,
};

const A: IpAddress = IpAddress::v4(10, 0, 0, 1);
const B: IpAddress = IpAddress::v4(10, 0, 0, 2);

fn engine(addr: IpAddress, seed: u8, recv_buffer: usize) -> Stack {
    let mut c = StackConfig::new(vec![addr], [seed; 32]);
    c.checksum_offload = ChecksumOffload {
        rx_trusted: true,
        tx_partial: true,
    };
    c.conn = ConnConfig {
        recv_buffer,
        nagle: false,
        ..ConnConfig::default()
    };
    Stack::new(c)
}

/// The TCP payload offset of an IPv4 packet (20-byte IP header).
fn payload_at(p: &[u8]) -> usize {
    20 + usize::from(p[32] >> 4) * 4
}

fn seq(p: &[u8]) -> u32 {
    u32::from_be_bytes([p[24], p[25], p[26], p[27]])
}

/// GRO as the kernel does it: consecutive data segments (ACK or ACK|PSH, equal headers
/// apart from sequence number, flags and checksum) become one packet, at most `max` bytes.
fn merge(packets: Vec<Vec<u8>>, max: usize) -> Vec<Vec<u8>> {
    let mut out: Vec<Vec<u8>> = Vec::new();
    for p in packets {
        let data = p.len() > payload_at(&p) && (p[33] == 0x10 || p[33] == 0x18);
        if let Some(last) = out.last_mut() {
            let h = payload_at(last);
            let next = seq(last).wrapping_add((last.len() - h) as u32);
            let same = h == payload_at(&p)
                && last[12..20] == p[12..20]
                && last[20..24] == p[20..24]
                && last[28..32] == p[28..32]
                && last[34..36] == p[34..36]
                && last[40..h] == p[40..h];
            if data
                && same
                && last[33] == 0x10
                && seq(&p) == next
                && last.len() + p.len() - h <= max
            {
                last.extend_from_slice(&p[h..]);
                last[33] = p[33];
                let total = last.len() as u16;
                last[2..4].copy_from_slice(&total.to_be_bytes());
                last[10..12].fill(0);
                let c = !stack::wire::checksum::sum(&last[..20]);
                last[10..12].copy_from_slice(&c.to_be_bytes());
                continue;
            }
        }
        out.push(p);
    }
    out
}

/// Moves everything `a` sends to `b` merged into super-packets, `b`'s answers back, and
/// reads what `b` receives, until nothing moves. Returns the largest packet `b` got.
fn run(a: &mut Stack, b: &mut Stack, got: &mut Vec<u8>) -> usize {
    let now = Instant::from_millis(0);
    let mut buf = vec![0u8; 1500];
    let mut rbuf = vec![0u8; 65536];
    let mut largest = 0;
    loop {
        let mut moved = false;
        let mut batch = Vec::new();
        while let Some(n) = a.poll_transmit(now, &mut buf) {
            batch.push(buf[..n].to_vec());
        }
        for p in merge(batch, 65_535) {
            largest = largest.max(p.len());
            b.handle(now, &p);
            moved = true;
        }
        while let Some(n) = b.poll_transmit(now, &mut buf) {
            a.handle(now, &buf[..n]);
            moved = true;
        }
        while let Some((id, e)) = b.poll_event() {
            if e == Event::Readable {
                while let Ok(n) = b.recv(now, id, &mut rbuf) {
                    if n == 0 {
                        break;
                    }
                    got.extend_from_slice(&rbuf[..n]);
                    moved = true;
                }
            }
        }
        while a.poll_event().is_some() {}
        if !moved {
            break;
        }
    }
    largest
}

/// `a` (256 KiB buffers) connecting to `b` listening on port 80 with a receive buffer of
/// `recv_buffer`: the SYN is queued, nothing has moved yet.
fn connecting(recv_buffer: usize) -> (Stack, Stack, ConnId) {
    let mut a = engine(A, 1, 256 * 1024);
    let mut b = engine(B, 2, recv_buffer);
    b.listen(
        ListenAddr {
            addr: None,
            port: Some(80),
        },
        ListenConfig::default(),
    );
    let now = Instant::from_millis(0);
    let id = a
        .connect(now, IpEndpoint::new(A, 40000), IpEndpoint::new(B, 80), None)
        .unwrap();
    (a, b, id)
}

fn transfer(recv_buffer: usize) -> (Stack, usize) {
    let (mut a, mut b, id) = connecting(recv_buffer);
    let now = Instant::from_millis(0);
    let want: Vec<u8> = (0..1_000_000u32)
        .map(|i| (i * 13 + i / 509) as u8)
        .collect();
    let mut got = Vec::new();
    let mut sent = 0;
    let mut largest = 0;
    for _ in 0..10_000 {
        if got.len() >= want.len() {
            break;
        }
        sent += a.send(now, id, &want[sent..]);
        largest = largest.max(run(&mut a, &mut b, &mut got));
    }
    assert_eq!(got.len(), want.len());
    assert!(got == want, "data differs");
    (b, largest)
}

#[test]
fn super_packets_larger_than_the_mss_are_taken_whole() {
    let (b, largest) = transfer(256 * 1024);
    assert!(largest > 30_000, "the test merged segments: {largest}");
    assert_eq!(b.stats().out_of_window, 0);
    assert_eq!(b.stats().bad_checksum, 0);
}

#[test]
fn super_packets_within_a_small_window_arrive_intact() {
    // An 8 KiB window (below the initial congestion window): every flight fills it and
    // arrives as one merged packet ending at its right edge.
    let (b, largest) = transfer(8 * 1024);
    assert!(largest > 4000, "the test merged segments: {largest}");
    assert_eq!(b.stats().bad_checksum, 0);
}

/// Moves packets both ways until nothing moves, reading nothing at `b`.
fn exchange(a: &mut Stack, b: &mut Stack, now: Instant) {
    let mut buf = vec![0u8; 1500];
    loop {
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
    }
}

#[test]
fn a_super_packet_past_the_window_is_trimmed_to_it() {
    // b: an 8 KiB receive buffer (window shift 0, ring of exactly 8 192 bytes).
    let (mut a, mut b, id) = connecting(8 * 1024);
    let now = Instant::from_millis(0);
    exchange(&mut a, &mut b, now);
    let b_id = b
        .find(IpEndpoint::new(B, 80), IpEndpoint::new(A, 40000))
        .expect("b has the connection");
    let want: Vec<u8> = (0..11_000u32).map(|i| (i * 7 + i / 251) as u8).collect();
    // 6 000 bytes queued at b, 1 000 of them read: too little to announce (less than an
    // MSS), so 2 192 bytes of window remain advertised while the ring has 3 192 free.
    assert_eq!(a.send(now, id, &want[..6000]), 6000);
    exchange(&mut a, &mut b, now);
    assert_eq!(b.recv_queue(b_id), 6000);
    let mut rbuf = vec![0u8; 65536];
    assert_eq!(b.recv(now, b_id, &mut rbuf[..1000]), Ok(1000));
    assert_eq!(&rbuf[..1000], &want[..1000]);
    // a's next data segment, grown to carry the remaining 5 000 bytes.
    assert_eq!(a.send(now, id, &want[6000..]), 5000);
    let mut buf = vec![0u8; 1500];
    let n = a.poll_transmit(now, &mut buf).unwrap();
    let mut p = buf[..n].to_vec();
    let h = payload_at(&p);
    assert_eq!(&p[h..], &want[6000..6000 + n - h], "a's next segment");
    p.truncate(h);
    p.extend_from_slice(&want[6000..]);
    // (a itself sent only what the window allows; this packet stands for a broken or
    // hostile sender, so a's own state is not consulted after it.)
    let total = p.len() as u16;
    p[2..4].copy_from_slice(&total.to_be_bytes());
    p[10..12].fill(0);
    let c = !stack::wire::checksum::sum(&p[..20]);
    p[10..12].copy_from_slice(&c.to_be_bytes());
    while a.poll_transmit(now, &mut buf).is_some() {}
    b.handle(now, &p);
    // RFC 9293 §3.10.7.4: the text is trimmed to the advertised window, not to the ring.
    assert_eq!(b.recv_queue(b_id), 5000 + 2192);
    // b acknowledges exactly the window's right edge, and reads the stream intact.
    let n = b.poll_transmit(now, &mut buf).expect("b acknowledges");
    let ack = u32::from_be_bytes([buf[28], buf[29], buf[30], buf[31]]);
    assert_eq!(ack, seq(&p).wrapping_add(2192));
    assert_eq!(n, payload_at(&buf[..n]), "a pure ACK");
    assert_eq!(b.recv(now, b_id, &mut rbuf), Ok(7192));
    assert!(rbuf[..7192] == want[1000..8192], "the stream differs");
    assert_eq!(b.stats().bad_checksum, 0);
}
