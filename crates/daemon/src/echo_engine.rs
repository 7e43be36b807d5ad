//! A stand-in [`Engine`] until the relay engine is wired in: answers ICMP and ICMPv6 echo
//! requests addressed to the stack's own addresses (RFC 792, RFC 4443 §4) and drops
//! everything else, counting what it saw. It exercises the whole I/O path (TUN read, engine,
//! TUN write) and is what the daemon runs today.

use std::collections::VecDeque;
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr};

use smoltcp::phy::ChecksumCapabilities;
use smoltcp::wire::{
    Icmpv4Packet, Icmpv4Repr, Icmpv6Packet, Icmpv6Repr, IpProtocol, Ipv4Packet, Ipv4Repr,
    Ipv6Packet, Ipv6Repr,
};

use crate::engine::{ConnStatus, Engine, EngineConfig, Instant, SESSID_LEN};

/// Bound on queued replies; beyond it requests are dropped.
const QUEUE_LIMIT: usize = 256;

/// Counters of [`EchoEngine`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct EchoStats {
    /// Packets handed to the engine.
    pub packets: u64,
    /// Packets that did not parse as IPv4/IPv6 (bad version, length, checksum).
    pub malformed: u64,
    /// Echo replies queued.
    pub replies: u64,
    /// Well-formed packets not for us, or replies dropped because the queue was full.
    pub ignored: u64,
}

/// Answers echo requests to the stack addresses; drops everything else.
#[derive(Debug)]
pub struct EchoEngine {
    stack_v4: Ipv4Addr,
    stack_v6: Ipv6Addr,
    queue: VecDeque<Vec<u8>>,
    stats: EchoStats,
}

impl EchoEngine {
    /// An engine answering for the stack addresses of `config`.
    pub fn new(config: &EngineConfig) -> Self {
        Self {
            stack_v4: config.stack_v4,
            stack_v6: config.stack_v6,
            queue: VecDeque::new(),
            stats: EchoStats::default(),
        }
    }

    /// The counters.
    pub fn stats(&self) -> EchoStats {
        self.stats
    }

    fn enqueue(&mut self, reply: Option<Vec<u8>>) {
        match reply {
            Some(p) if self.queue.len() < QUEUE_LIMIT => {
                self.queue.push_back(p);
                self.stats.replies += 1;
            }
            _ => self.stats.ignored += 1,
        }
    }

    fn handle_v4(&mut self, packet: &[u8]) -> Result<Option<Vec<u8>>, Malformed> {
        let caps = ChecksumCapabilities::default();
        let ip = Ipv4Packet::new_checked(packet).map_err(|_| Malformed)?;
        let ip_repr = Ipv4Repr::parse(&ip, &caps).map_err(|_| Malformed)?;
        if ip_repr.dst_addr != self.stack_v4 || ip_repr.next_header != IpProtocol::Icmp {
            return Ok(None);
        }
        let icmp = Icmpv4Packet::new_checked(ip.payload()).map_err(|_| Malformed)?;
        let Ok(Icmpv4Repr::EchoRequest {
            ident,
            seq_no,
            data,
        }) = Icmpv4Repr::parse(&icmp, &caps)
        else {
            return Ok(None);
        };
        let reply = Icmpv4Repr::EchoReply {
            ident,
            seq_no,
            data,
        };
        let out_ip = Ipv4Repr {
            src_addr: self.stack_v4,
            dst_addr: ip_repr.src_addr,
            next_header: IpProtocol::Icmp,
            payload_len: reply.buffer_len(),
            hop_limit: 64,
        };
        let total = out_ip.buffer_len() + reply.buffer_len();
        if total > usize::from(u16::MAX) {
            return Ok(None);
        }
        let mut buf = vec![0u8; total];
        let mut out = Ipv4Packet::new_unchecked(&mut buf[..]);
        out_ip.emit(&mut out, &caps);
        let mut icmp_out = Icmpv4Packet::new_unchecked(out.payload_mut());
        reply.emit(&mut icmp_out, &caps);
        Ok(Some(buf))
    }

    fn handle_v6(&mut self, packet: &[u8]) -> Result<Option<Vec<u8>>, Malformed> {
        let caps = ChecksumCapabilities::default();
        let ip = Ipv6Packet::new_checked(packet).map_err(|_| Malformed)?;
        let ip_repr = Ipv6Repr::parse(&ip).map_err(|_| Malformed)?;
        if ip_repr.dst_addr != self.stack_v6 || ip_repr.next_header != IpProtocol::Icmpv6 {
            return Ok(None);
        }
        let icmp = Icmpv6Packet::new_checked(ip.payload()).map_err(|_| Malformed)?;
        let Ok(Icmpv6Repr::EchoRequest {
            ident,
            seq_no,
            data,
        }) = Icmpv6Repr::parse(&ip_repr.src_addr, &ip_repr.dst_addr, &icmp, &caps)
        else {
            return Ok(None);
        };
        let reply = Icmpv6Repr::EchoReply {
            ident,
            seq_no,
            data,
        };
        let out_ip = Ipv6Repr {
            src_addr: self.stack_v6,
            dst_addr: ip_repr.src_addr,
            next_header: IpProtocol::Icmpv6,
            payload_len: reply.buffer_len(),
            hop_limit: 64,
        };
        if reply.buffer_len() > usize::from(u16::MAX) {
            return Ok(None);
        }
        let mut buf = vec![0u8; out_ip.buffer_len() + reply.buffer_len()];
        let mut out = Ipv6Packet::new_unchecked(&mut buf[..]);
        out_ip.emit(&mut out);
        let mut icmp_out = Icmpv6Packet::new_unchecked(out.payload_mut());
        reply.emit(&self.stack_v6, &ip_repr.src_addr, &mut icmp_out, &caps);
        Ok(Some(buf))
    }
}

/// A packet that did not parse.
struct Malformed;

impl Engine for EchoEngine {
    fn handle_packet(&mut self, _now: Instant, packet: &[u8]) {
        self.stats.packets += 1;
        let result = match packet.first().map(|b| b >> 4) {
            Some(4) => self.handle_v4(packet),
            Some(6) => self.handle_v6(packet),
            _ => Err(Malformed),
        };
        match result {
            Ok(reply) => self.enqueue(reply),
            Err(Malformed) => {
                self.stats.malformed += 1;
                tracing::debug!(len = packet.len(), "dropped malformed packet");
            }
        }
    }

    fn poll_transmit(&mut self, _now: Instant, buf: &mut [u8]) -> Option<usize> {
        while let Some(p) = self.queue.pop_front() {
            if let Some(dst) = buf.get_mut(..p.len()) {
                dst.copy_from_slice(&p);
                return Some(p.len());
            }
            self.stats.ignored += 1;
        }
        None
    }

    fn next_deadline(&self) -> Option<Instant> {
        None
    }

    fn handle_timeout(&mut self, _now: Instant) {}

    fn status(&self) -> Vec<ConnStatus> {
        Vec::new()
    }

    fn sessid(&self, _local: SocketAddr, _remote: SocketAddr) -> Option<[u8; SESSID_LEN]> {
        None
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing)]
    use super::*;
    use crate::config::Config;

    fn engine() -> EchoEngine {
        EchoEngine::new(&EngineConfig::from_config(
            &Config::embedded_default().unwrap(),
        ))
    }

    fn echo_v4(dst: Ipv4Addr, data: &[u8]) -> Vec<u8> {
        let caps = ChecksumCapabilities::default();
        let icmp = Icmpv4Repr::EchoRequest {
            ident: 7,
            seq_no: 9,
            data,
        };
        let ip = Ipv4Repr {
            src_addr: Ipv4Addr::new(10, 77, 0, 1),
            dst_addr: dst,
            next_header: IpProtocol::Icmp,
            payload_len: icmp.buffer_len(),
            hop_limit: 64,
        };
        let mut buf = vec![0u8; ip.buffer_len() + icmp.buffer_len()];
        let mut p = Ipv4Packet::new_unchecked(&mut buf[..]);
        ip.emit(&mut p, &caps);
        icmp.emit(&mut Icmpv4Packet::new_unchecked(p.payload_mut()), &caps);
        buf
    }

    fn echo_v6(dst: Ipv6Addr, data: &[u8]) -> Vec<u8> {
        let caps = ChecksumCapabilities::default();
        let src: Ipv6Addr = "fd77::1".parse().unwrap();
        let icmp = Icmpv6Repr::EchoRequest {
            ident: 3,
            seq_no: 4,
            data,
        };
        let ip = Ipv6Repr {
            src_addr: src,
            dst_addr: dst,
            next_header: IpProtocol::Icmpv6,
            payload_len: icmp.buffer_len(),
            hop_limit: 64,
        };
        let mut buf = vec![0u8; ip.buffer_len() + icmp.buffer_len()];
        let mut p = Ipv6Packet::new_unchecked(&mut buf[..]);
        ip.emit(&mut p);
        icmp.emit(
            &src,
            &dst,
            &mut Icmpv6Packet::new_unchecked(p.payload_mut()),
            &caps,
        );
        buf
    }

    #[test]
    fn answers_v4_echo_to_the_stack_address() {
        let mut e = engine();
        let now = Instant::from_millis(0);
        e.handle_packet(now, &echo_v4(Ipv4Addr::new(10, 77, 0, 2), b"hello"));
        let mut buf = [0u8; 2048];
        let n = e.poll_transmit(now, &mut buf).unwrap();
        let ip = Ipv4Packet::new_checked(&buf[..n]).unwrap();
        assert!(ip.verify_checksum());
        assert_eq!(ip.src_addr(), Ipv4Addr::new(10, 77, 0, 2));
        assert_eq!(ip.dst_addr(), Ipv4Addr::new(10, 77, 0, 1));
        let icmp = Icmpv4Packet::new_checked(ip.payload()).unwrap();
        assert!(icmp.verify_checksum());
        assert_eq!(
            Icmpv4Repr::parse(&icmp, &ChecksumCapabilities::default()).unwrap(),
            Icmpv4Repr::EchoReply {
                ident: 7,
                seq_no: 9,
                data: b"hello"
            }
        );
        assert_eq!(e.poll_transmit(now, &mut buf), None);
    }

    #[test]
    fn answers_v6_echo_to_the_stack_address() {
        let mut e = engine();
        let now = Instant::from_millis(0);
        let stack: Ipv6Addr = "fd77::2".parse().unwrap();
        e.handle_packet(now, &echo_v6(stack, b"abc"));
        let mut buf = [0u8; 2048];
        let n = e.poll_transmit(now, &mut buf).unwrap();
        let ip = Ipv6Packet::new_checked(&buf[..n]).unwrap();
        let repr = Ipv6Repr::parse(&ip).unwrap();
        assert_eq!(repr.src_addr, stack);
        let icmp = Icmpv6Packet::new_checked(ip.payload()).unwrap();
        assert_eq!(
            Icmpv6Repr::parse(
                &repr.src_addr,
                &repr.dst_addr,
                &icmp,
                &ChecksumCapabilities::default()
            )
            .unwrap(),
            Icmpv6Repr::EchoReply {
                ident: 3,
                seq_no: 4,
                data: b"abc"
            }
        );
    }

    #[test]
    fn ignores_echo_to_other_addresses_and_counts_garbage() {
        let mut e = engine();
        let now = Instant::from_millis(0);
        e.handle_packet(now, &echo_v4(Ipv4Addr::new(192, 0, 2, 1), b"x"));
        let mut corrupt = echo_v4(Ipv4Addr::new(10, 77, 0, 2), b"x");
        corrupt[10] ^= 0xff; // IPv4 header checksum
        e.handle_packet(now, &corrupt);
        for junk in [&[][..], &[0x45][..], &[0x60, 0, 0][..], &[0xff; 80][..]] {
            e.handle_packet(now, junk);
        }
        let full = echo_v4(Ipv4Addr::new(10, 77, 0, 2), b"x");
        for cut in 0..full.len() {
            e.handle_packet(now, &full[..cut]);
        }
        let mut buf = [0u8; 2048];
        assert_eq!(e.poll_transmit(now, &mut buf), None);
        let s = e.stats();
        assert_eq!(s.replies, 0);
        assert_eq!(s.ignored, 1);
        assert_eq!(s.packets, 6 + full.len() as u64);
        assert!(s.malformed >= 5);
    }

    #[test]
    fn reply_larger_than_the_buffer_is_dropped() {
        let mut e = engine();
        let now = Instant::from_millis(0);
        e.handle_packet(now, &echo_v4(Ipv4Addr::new(10, 77, 0, 2), &[1u8; 1000]));
        let mut small = [0u8; 100];
        assert_eq!(e.poll_transmit(now, &mut small), None);
        assert_eq!(e.stats().ignored, 1);
    }
}
