//! smoltcp-style segment dialogues: the test plays the remote TCP, building segments with
//! the stack's own option emitter and reading the stack's answers.
#![allow(
    dead_code,
    unreachable_pub,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::type_complexity,
    clippy::wrong_self_convention
)]

use smoltcp::wire::{IpProtocol, TcpSeqNumber};
use stack::tcp::conn::Tuple;
use stack::tcp::segment::{self, Flags, OutHeader, Segment};
use stack::wire::ip;
use stack::wire::options::{EnoSlot, OutOptions};
use stack::{Event, Instant, IpEndpoint, Stack, StackConfig};

pub const SYN: Flags = Flags {
    syn: true,
    ack: false,
    fin: false,
    rst: false,
    psh: false,
};
pub const SYNACK: Flags = Flags {
    syn: true,
    ack: true,
    fin: false,
    rst: false,
    psh: false,
};
pub const ACK: Flags = Flags {
    syn: false,
    ack: true,
    fin: false,
    rst: false,
    psh: false,
};
pub const FINACK: Flags = Flags {
    syn: false,
    ack: true,
    fin: true,
    rst: false,
    psh: false,
};
pub const RST: Flags = Flags {
    syn: false,
    ack: false,
    fin: false,
    rst: true,
    psh: false,
};

/// A segment the stack sent, owned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Out {
    pub seq: u32,
    pub ack: u32,
    pub syn: bool,
    pub ackf: bool,
    pub fin: bool,
    pub rst: bool,
    pub window: u16,
    pub mss: Option<u16>,
    pub ws: Option<u8>,
    pub sack_perm: bool,
    pub ts: Option<(u32, u32)>,
    pub sack: Vec<(u32, u32)>,
    pub eno: Option<Vec<u8>>,
    pub payload: Vec<u8>,
}

pub fn u(s: TcpSeqNumber) -> u32 {
    s.0 as u32
}

pub fn s(v: u32) -> TcpSeqNumber {
    TcpSeqNumber(v as i32)
}

/// Segment options the test sends.
#[derive(Default, Clone)]
pub struct Opts {
    pub mss: Option<u16>,
    pub ws: Option<u8>,
    pub sack_perm: bool,
    pub ts: Option<(u32, u32)>,
    pub sack: Vec<(u32, u32)>,
    pub eno: Option<Vec<u8>>,
}

pub struct Dialogue {
    pub stack: Stack,
    pub now: Instant,
    /// The stack's endpoint.
    pub local: IpEndpoint,
    /// The test's endpoint.
    pub remote: IpEndpoint,
    pub events: Vec<(stack::ConnId, Event)>,
}

impl Dialogue {
    pub fn new(cfg: StackConfig, local: IpEndpoint, remote: IpEndpoint) -> Dialogue {
        Dialogue {
            stack: Stack::new(cfg),
            now: Instant::from_millis(10_000),
            local,
            remote,
            events: Vec::new(),
        }
    }

    /// Feed one segment from the test to the stack.
    pub fn send(
        &mut self,
        flags: Flags,
        seq: u32,
        ack: u32,
        window: u16,
        opts: &Opts,
        payload: &[u8],
    ) {
        let pkt = self.build(flags, seq, ack, window, opts, payload);
        self.stack.handle(self.now, &pkt);
        self.collect_events();
    }

    pub fn build(
        &self,
        flags: Flags,
        seq: u32,
        ack: u32,
        window: u16,
        opts: &Opts,
        payload: &[u8],
    ) -> Vec<u8> {
        let tuple = Tuple {
            local: self.remote,
            remote: self.local,
        };
        let sack: Vec<_> = opts.sack.iter().map(|&(l, r)| (s(l), s(r))).collect();
        let mut o = OutOptions {
            mss: opts.mss,
            window_scale: opts.ws,
            sack_permitted: opts.sack_perm,
            timestamp: opts.ts,
            sack_blocks: &sack,
            eno: opts.eno.as_deref(),
        };
        o.fit();
        let hl = ip::header_len(&self.remote.addr);
        let mut buf = vec![0u8; 70_000];
        let hdr = OutHeader {
            seq: s(seq),
            ack: s(ack),
            flags,
            window,
        };
        let n = segment::emit(&mut buf[hl..], &tuple, &hdr, &o, (payload, &[])).unwrap();
        ip::emit_header(
            &mut buf,
            self.remote.addr,
            self.local.addr,
            IpProtocol::Tcp,
            n,
            1,
        )
        .unwrap();
        buf.truncate(hl + n);
        buf
    }

    pub fn collect_events(&mut self) {
        while let Some(e) = self.stack.poll_event() {
            self.events.push(e);
        }
    }

    pub fn has(&self, e: &Event) -> bool {
        self.events.iter().any(|(_, x)| x == e)
    }

    /// Everything the stack wants to send now.
    pub fn recv_all(&mut self) -> Vec<Out> {
        let mut out = Vec::new();
        let mut buf = vec![0u8; 2000];
        while let Some(n) = self.stack.poll_transmit(self.now, &mut buf) {
            let v = ip::parse(&buf[..n]).unwrap();
            assert_eq!(v.protocol, IpProtocol::Tcp);
            let seg = Segment::parse(v.payload, &v.src, &v.dst).unwrap();
            out.push(Out {
                seq: u(seg.seq),
                ack: u(seg.ack_number),
                syn: seg.syn,
                ackf: seg.ack,
                fin: seg.fin,
                rst: seg.rst,
                window: seg.window,
                mss: seg.opts.mss,
                ws: seg.opts.window_scale,
                sack_perm: seg.opts.sack_permitted,
                ts: seg.opts.timestamp,
                sack: seg.opts.sack_iter().map(|(l, r)| (u(l), u(r))).collect(),
                eno: match seg.opts.eno {
                    EnoSlot::One(o) => Some(o.to_vec()),
                    _ => None,
                },
                payload: seg.payload.to_vec(),
            });
        }
        self.collect_events();
        out
    }

    /// Exactly one segment.
    pub fn recv_one(&mut self) -> Out {
        let mut v = self.recv_all();
        assert_eq!(v.len(), 1, "expected one segment, got {v:#?}");
        v.remove(0)
    }

    pub fn recv_none(&mut self) {
        let v = self.recv_all();
        assert!(v.is_empty(), "expected silence, got {v:#?}");
    }

    /// Advance time to `t` and fire timers.
    pub fn at(&mut self, t: Instant) {
        self.now = t;
        self.stack.handle_timeout(t);
        self.collect_events();
    }

    /// Advance to the stack's next deadline.
    pub fn to_deadline(&mut self) -> Instant {
        let t = self.stack.next_deadline().expect("a deadline");
        self.at(t);
        t
    }
}
