//! UDP and ICMP of routed subnets pass through the engine, translated between the
//! kernel-side and the stack address, with valid checksums (DESIGN.md "Data path"); ICMP
//! echo to the stack's own address is answered; garbage never panics the engine.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use common::*;
use relay::{Cidr, Config, Engine, IpAddress, Policy, Route};
use smoltcp::wire::{
    Icmpv4Packet, Icmpv6Packet, IpProtocol, Ipv4Address, Ipv4Packet, Ipv6Address, Ipv6Packet,
    UdpPacket,
};
use stack::sim::Node;
use stack::Instant;

fn cfg() -> Config {
    Config {
        routes: vec![
            Route {
                cidr: Cidr::new(IpAddress::v4(192, 0, 2, 0), 24).unwrap(),
                policy: Policy::Opportunistic,
            },
            Route {
                cidr: Cidr::new(IpAddress::v6(0x2001, 0xdb8, 0, 0, 0, 0, 0, 0), 32).unwrap(),
                policy: Policy::Require,
            },
        ],
        ..Config::default()
    }
}

fn v4(a: IpAddress) -> Ipv4Address {
    match a {
        IpAddress::Ipv4(a) => a,
        IpAddress::Ipv6(_) => unreachable!(),
    }
}

fn v6(a: IpAddress) -> Ipv6Address {
    match a {
        IpAddress::Ipv6(a) => a,
        IpAddress::Ipv4(_) => unreachable!(),
    }
}

fn ipv4(src: IpAddress, dst: IpAddress, proto: IpProtocol, l4: &[u8]) -> Vec<u8> {
    let total = 20 + l4.len();
    let mut b = vec![0u8; total];
    let mut ip = Ipv4Packet::new_unchecked(&mut b[..]);
    ip.set_version(4);
    ip.set_header_len(20);
    ip.set_total_len(total as u16);
    ip.set_hop_limit(64);
    ip.set_next_header(proto);
    ip.set_src_addr(v4(src));
    ip.set_dst_addr(v4(dst));
    ip.fill_checksum();
    b[20..].copy_from_slice(l4);
    b
}

fn udp4(src: IpAddress, sport: u16, dst: IpAddress, dport: u16, payload: &[u8]) -> Vec<u8> {
    let mut l4 = vec![0u8; 8 + payload.len()];
    let mut u = UdpPacket::new_unchecked(&mut l4[..]);
    u.set_src_port(sport);
    u.set_dst_port(dport);
    u.set_len((8 + payload.len()) as u16);
    u.payload_mut().copy_from_slice(payload);
    u.fill_checksum(&src, &dst);
    ipv4(src, dst, IpProtocol::Udp, &l4)
}

/// An ICMP or ICMPv6 echo message of `kind` (checksum still zero).
fn echo(kind: u8, ident: u16, seq: u16, payload: &[u8]) -> Vec<u8> {
    let mut l4 = vec![kind, 0, 0, 0];
    l4.extend_from_slice(&ident.to_be_bytes());
    l4.extend_from_slice(&seq.to_be_bytes());
    l4.extend_from_slice(payload);
    l4
}

fn echo4(src: IpAddress, dst: IpAddress, kind: u8, ident: u16, seq: u16) -> Vec<u8> {
    let mut l4 = echo(kind, ident, seq, b"ping payload");
    Icmpv4Packet::new_unchecked(&mut l4[..]).fill_checksum();
    ipv4(src, dst, IpProtocol::Icmp, &l4)
}

fn echo6(src: IpAddress, dst: IpAddress, kind: u8, ident: u16, seq: u16) -> Vec<u8> {
    let mut l4 = echo(kind, ident, seq, b"ping6 payload");
    Icmpv6Packet::new_unchecked(&mut l4[..]).fill_checksum(&v6(src), &v6(dst));
    let mut b = vec![0u8; 40 + l4.len()];
    let mut ip = Ipv6Packet::new_unchecked(&mut b[..]);
    ip.set_version(6);
    ip.set_payload_len(l4.len() as u16);
    ip.set_next_header(IpProtocol::Icmpv6);
    ip.set_hop_limit(64);
    ip.set_src_addr(v6(src));
    ip.set_dst_addr(v6(dst));
    b[40..].copy_from_slice(&l4);
    b
}

fn drain(h: &mut Host) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    let mut buf = vec![0u8; 65535];
    while let Some(n) = h.poll_transmit(Instant::ZERO, &mut buf) {
        out.push(buf[..n].to_vec());
    }
    out
}

#[test]
fn udp_exchange_is_translated_both_ways() {
    let mut a = Host::relay_a(cfg(), 1);
    let now = Instant::ZERO;
    a.kernel_send(now, &udp4(KERNEL_V4, 5353, B_REAL_V4, 53, b"query"));
    let out = drain(&mut a);
    assert_eq!(out.len(), 1);
    // On the network: from the host's real address (engine: stack address, kernel NAT:
    // masquerade), checksums valid, payload untouched.
    let ip = Ipv4Packet::new_checked(&out[0][..]).unwrap();
    assert!(ip.verify_checksum());
    assert_eq!(IpAddress::Ipv4(ip.src_addr()), A_REAL_V4);
    let u = UdpPacket::new_checked(ip.payload()).unwrap();
    assert!(u.verify_checksum(&A_REAL_V4, &B_REAL_V4));
    assert_eq!(
        (u.src_port(), u.dst_port(), u.payload()),
        (5353, 53, &b"query"[..])
    );
    // The answer comes back to the kernel-side address.
    a.handle(now, &udp4(B_REAL_V4, 53, A_REAL_V4, 5353, b"answer"));
    let got = a
        .delivered_to_kernel
        .pop()
        .expect("delivered to the kernel");
    let ip = Ipv4Packet::new_checked(&got[..]).unwrap();
    assert!(ip.verify_checksum());
    assert_eq!(IpAddress::Ipv4(ip.dst_addr()), KERNEL_V4);
    let u = UdpPacket::new_checked(ip.payload()).unwrap();
    assert!(u.verify_checksum(&B_REAL_V4, &KERNEL_V4));
    assert_eq!((u.dst_port(), u.payload()), (5353, &b"answer"[..]));
    assert_eq!(a.engine().stats().translated_out, 1);
    assert_eq!(a.engine().stats().translated_in, 1);
}

#[test]
fn udp_to_unrouted_destination_is_dropped() {
    let mut a = Host::relay_a(cfg(), 1);
    a.kernel_send(
        Instant::ZERO,
        &udp4(KERNEL_V4, 5353, IpAddress::v4(198, 51, 100, 1), 53, b"q"),
    );
    assert!(drain(&mut a).is_empty());
    assert_eq!(a.engine().stats().dropped, 1);
}

#[test]
fn ping_through_the_engine_v4_and_v6() {
    let seed = stack::sim::seed_from_env();
    let mut a = Host::relay_a(cfg(), seed);
    let mut b = Host::plain_b(seed);
    let now = Instant::ZERO;
    for (src, dst, pkt) in [
        (
            KERNEL_V4,
            B_REAL_V4,
            echo4(KERNEL_V4, B_REAL_V4, 8, 0x77, 1),
        ),
        (
            KERNEL_V6,
            B_REAL_V6,
            echo6(KERNEL_V6, B_REAL_V6, 128, 0x78, 2),
        ),
    ] {
        a.kernel_send(now, &pkt);
        let out = drain(&mut a);
        assert_eq!(out.len(), 1, "echo request leaves");
        // The plain peer's stack answers the echo request.
        b.handle(now, &out[0]);
        let replies = drain(&mut b);
        assert_eq!(replies.len(), 1, "peer answers");
        a.handle(now, &replies[0]);
        let got = a
            .delivered_to_kernel
            .pop()
            .expect("reply reaches the kernel");
        let view = stack::wire::ip::parse(&got).unwrap();
        assert_eq!((view.src, view.dst), (dst, src));
        match (src, dst) {
            (IpAddress::Ipv4(_), _) => {
                let icmp = Icmpv4Packet::new_checked(view.payload).unwrap();
                assert!(icmp.verify_checksum());
                assert_eq!(icmp.msg_type(), smoltcp::wire::Icmpv4Message::EchoReply);
                assert_eq!(icmp.echo_ident(), 0x77);
            }
            (IpAddress::Ipv6(s), IpAddress::Ipv6(d)) => {
                let icmp = Icmpv6Packet::new_checked(view.payload).unwrap();
                assert!(icmp.verify_checksum(&d, &s));
                assert_eq!(icmp.msg_type(), smoltcp::wire::Icmpv6Message::EchoReply);
                assert_eq!(icmp.echo_ident(), 0x78);
            }
            _ => unreachable!(),
        }
    }
}

#[test]
fn ping_to_the_stack_address_is_answered() {
    let mut a = Host::relay_a(cfg(), 1);
    a.kernel_send(Instant::ZERO, &echo4(KERNEL_V4, STACK_V4, 8, 9, 9));
    let got = a.delivered_to_kernel.pop().expect("answered");
    let view = stack::wire::ip::parse(&got).unwrap();
    assert_eq!((view.src, view.dst), (STACK_V4, KERNEL_V4));
    let icmp = Icmpv4Packet::new_checked(view.payload).unwrap();
    assert_eq!(icmp.msg_type(), smoltcp::wire::Icmpv4Message::EchoReply);
    a.kernel_send(Instant::ZERO, &echo6(KERNEL_V6, STACK_V6, 128, 9, 9));
    assert!(a.delivered_to_kernel.pop().is_some());
}

#[test]
fn port_unreachable_for_udp_reaches_the_kernel() {
    let mut a = Host::relay_a(cfg(), 1);
    let now = Instant::ZERO;
    a.kernel_send(now, &udp4(KERNEL_V4, 5353, B_REAL_V4, 53, b"query"));
    let sent = drain(&mut a).pop().unwrap();
    // B answers "port unreachable", quoting what it received.
    let mut l4 = vec![3u8, 3, 0, 0, 0, 0, 0, 0];
    l4.extend_from_slice(&sent);
    Icmpv4Packet::new_unchecked(&mut l4[..]).fill_checksum();
    a.handle(now, &ipv4(B_REAL_V4, A_REAL_V4, IpProtocol::Icmp, &l4));
    let got = a
        .delivered_to_kernel
        .pop()
        .expect("error reaches the kernel");
    let ip = Ipv4Packet::new_checked(&got[..]).unwrap();
    assert_eq!(IpAddress::Ipv4(ip.dst_addr()), KERNEL_V4);
    let icmp = Icmpv4Packet::new_checked(ip.payload()).unwrap();
    assert!(icmp.verify_checksum());
    let quoted = Ipv4Packet::new_checked(&ip.payload()[8..]).unwrap();
    assert_eq!(
        IpAddress::Ipv4(quoted.src_addr()),
        KERNEL_V4,
        "the kernel finds its socket"
    );
    assert!(quoted.verify_checksum());
}

#[test]
fn garbage_never_panics_the_engine() {
    let mut e = Engine::new(Config {
        fronted_ports: vec![80],
        ..cfg()
    });
    let mut x: u64 = stack::sim::seed_from_env() | 1;
    let mut next = || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    };
    let seeds = [
        udp4(KERNEL_V4, 1, B_REAL_V4, 2, b"abc"),
        echo6(KERNEL_V6, B_REAL_V6, 128, 1, 1),
        echo4(B_REAL_V4, STACK_V4, 3, 1, 1),
    ];
    let mut buf = vec![0u8; 65535];
    for i in 0..20_000u64 {
        let mut p = seeds[(i % 3) as usize].clone();
        let r = next();
        match r % 4 {
            0 => {
                let len = (next() % 80) as usize;
                p = (0..len).map(|_| next() as u8).collect();
                if let Some(b) = p.first_mut() {
                    *b = if r & 0x10 == 0 { 0x45 } else { 0x60 };
                }
            }
            1 => {
                let at = (next() as usize) % p.len();
                p[at] ^= next() as u8;
            }
            2 => p.truncate((next() as usize) % p.len()),
            _ => {
                let at = (next() as usize) % p.len();
                p[at] = next() as u8;
                let at = (next() as usize) % p.len();
                p[at] = next() as u8;
            }
        }
        e.handle_packet(Instant::from_millis(i as i64), &p);
        while e
            .poll_transmit(Instant::from_millis(i as i64), &mut buf)
            .is_some()
        {}
    }
    assert!(e.stats().malformed + e.stats().dropped > 0);
}

/// A router's "host unreachable" for the outer SYN reaches the application as the same
/// error about its own SYN (so `connect` fails at once, as without us); both legs vanish
/// without RST.
#[test]
fn unreachable_for_the_outer_syn_reaches_the_application() {
    for is_v6 in [false, true] {
        let mut a = Host::relay_a(cfg(), 1);
        let (kernel, dest, router, real) = if is_v6 {
            (
                KERNEL_V6,
                B_REAL_V6,
                IpAddress::v6(0x2001, 0xdb8, 0, 0, 0, 0, 0, 0xfe),
                A_REAL_V6,
            )
        } else {
            (
                KERNEL_V4,
                B_REAL_V4,
                IpAddress::v4(192, 0, 2, 254),
                A_REAL_V4,
            )
        };
        let now = Instant::ZERO;
        a.connect(
            now,
            stack::IpEndpoint::new(kernel, 40100),
            stack::IpEndpoint::new(dest, 80),
            Vec::new(),
            SendMode::Nothing,
        );
        let out = drain(&mut a);
        assert_eq!(out.len(), 1, "the outer SYN");
        let syn = a.kernel_syns.pop().expect("the application's SYN");
        let app_seq = stack::wire::ip::parse(&syn).unwrap().payload[4..8].to_vec();
        // The router quotes the outer SYN (as the network saw it).
        let quote = &out[0][..out[0].len().min(if is_v6 { 40 + 8 } else { 20 + 8 })];
        let mut icmp = vec![
            if is_v6 { 1 } else { 3 },
            if is_v6 { 3 } else { 1 },
            0,
            0,
            0,
            0,
            0,
            0,
        ];
        icmp.extend_from_slice(quote);
        let pkt = if is_v6 {
            Icmpv6Packet::new_unchecked(&mut icmp[..]).fill_checksum(&v6(router), &v6(real));
            let mut b = vec![0u8; 40];
            let mut ip = Ipv6Packet::new_unchecked(&mut b[..]);
            ip.set_version(6);
            ip.set_payload_len(icmp.len() as u16);
            ip.set_next_header(IpProtocol::Icmpv6);
            ip.set_hop_limit(64);
            ip.set_src_addr(v6(router));
            ip.set_dst_addr(v6(real));
            b.extend_from_slice(&icmp);
            b
        } else {
            Icmpv4Packet::new_unchecked(&mut icmp[..]).fill_checksum();
            ipv4(router, real, IpProtocol::Icmp, &icmp)
        };
        a.handle(now, &pkt);
        let got = a
            .delivered_to_kernel
            .pop()
            .expect("error reaches the kernel");
        let view = stack::wire::ip::parse(&got).unwrap();
        assert_eq!((view.src, view.dst), (router, kernel));
        assert_eq!(view.payload[0], if is_v6 { 1 } else { 3 });
        assert_eq!(view.payload[1], if is_v6 { 3 } else { 1 });
        let q = &view.payload[8..];
        let (qsrc, l4) = if is_v6 {
            (
                IpAddress::Ipv6(Ipv6Packet::new_unchecked(q).src_addr()),
                &q[40..],
            )
        } else {
            (
                IpAddress::Ipv4(Ipv4Packet::new_unchecked(q).src_addr()),
                &q[20..],
            )
        };
        assert_eq!(qsrc, kernel, "quotes the application's own SYN");
        assert_eq!(u16::from_be_bytes([l4[0], l4[1]]), 40100);
        assert_eq!(&l4[4..8], &app_seq[..], "with its sequence number");
        assert_eq!(a.engine().stats().unreachable, 1);
        assert_eq!(a.engine().pair_count(), 0);
        assert!(drain(&mut a).is_empty(), "no RST anywhere");
    }
}
