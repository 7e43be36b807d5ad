//! Simulation harness: two hosts joined by `stack::sim` links.
//!
//! A [`Host`] is a whole machine as the relay sees it: a `Stack` playing the kernel's TCP
//! (the application or the service, on the kernel-side address), optionally a relay
//! [`Engine`] behind a zero-latency in-memory "TUN", and the kernel's NAT towards the network
//! (masquerade of the stack address to the host's real address, DNAT of fronted ports to
//! the stack address). A host without an engine is a plain peer: its stack owns the real
//! address directly and speaks no ENO.
//!
//! Every packet that leaves a host is inspected: TCP payload bytes are counted and scanned
//! for the plaintext marker, ENO options are noted in SYNs.
#![allow(
    dead_code,
    unreachable_pub,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::collapsible_match
)]

use std::collections::VecDeque;

use relay::{Cidr, Config, Engine, IpAddress, IpEndpoint, Policy, Route};
use sha2::{Digest, Sha256};
use smoltcp::wire::{IpProtocol, TcpPacket};
use stack::sim::Node;
use stack::{ConnId, Event, Instant, ListenAddr, ListenConfig, RecvError, Stack, StackConfig};

/// Written all over the test data; must never appear on the wire when encrypted.
pub const MARKER: &[u8] = b"<<PLAINTEXT-MARKER-7f3a>>";

/// Test data: the marker, then seeded bytes, repeated.
pub fn data(len: usize, seed: u8) -> Vec<u8> {
    let mut v = Vec::with_capacity(len);
    let mut x: u32 = 0x1234_5678 ^ u32::from(seed);
    while v.len() < len {
        v.extend_from_slice(MARKER);
        for _ in 0..100 {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            v.push(x as u8);
        }
    }
    v.truncate(len);
    v
}

pub fn sha(d: &[u8]) -> [u8; 32] {
    Sha256::digest(d).into()
}

/// What one side of a transfer does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SendMode {
    /// Send at once, then close.
    Immediately,
    /// Send only after the peer's EOF, then close (half-close test).
    AfterEof,
    /// Send this many bytes, then abort with RST.
    AbortAfter(usize),
    /// Never send, never close.
    Nothing,
}

/// An application on a host: one connection, sends `to_send`, records what arrives.
#[derive(Debug)]
pub struct App {
    pub conn: Option<ConnId>,
    pub server_port: Option<u16>,
    pub to_send: Vec<u8>,
    pub sent: usize,
    pub mode: SendMode,
    pub closed: bool,
    pub aborted: bool,
    pub received: Vec<u8>,
    pub established: bool,
    pub eof: bool,
    pub reset: bool,
    pub timed_out: bool,
    pub events: Vec<Event>,
    buf: Vec<u8>,
}

impl App {
    pub fn new(to_send: Vec<u8>, mode: SendMode) -> App {
        App {
            conn: None,
            server_port: None,
            to_send,
            sent: 0,
            mode,
            closed: false,
            aborted: false,
            received: Vec::new(),
            established: false,
            eof: false,
            reset: false,
            timed_out: false,
            events: Vec::new(),
            buf: Vec::new(),
        }
    }

    fn drive(&mut self, now: Instant, st: &mut Stack) {
        while let Some((id, ev)) = st.poll_event() {
            if self.conn.is_none() && ev == Event::Established && self.server_port.is_some() {
                self.conn = Some(id);
            }
            if Some(id) != self.conn {
                continue;
            }
            self.events.push(ev.clone());
            match ev {
                Event::Established => self.established = true,
                Event::Reset => self.reset = true,
                Event::Timeout => self.timed_out = true,
                _ => {}
            }
        }
        let Some(id) = self.conn else { return };
        let mut buf = std::mem::take(&mut self.buf);
        buf.resize(65536, 0);
        loop {
            match st.recv(now, id, &mut buf) {
                Ok(0) => {
                    self.eof = true;
                    break;
                }
                Ok(n) => self.received.extend_from_slice(&buf[..n]),
                Err(RecvError::WouldBlock) => break,
                Err(RecvError::Reset) => {
                    self.reset = true;
                    break;
                }
                Err(RecvError::TimedOut) => {
                    self.timed_out = true;
                    break;
                }
                Err(RecvError::Closed) => break,
            }
        }
        self.buf = buf;
        if !self.established || self.reset || self.aborted {
            return;
        }
        let may_send = match self.mode {
            SendMode::Immediately => true,
            SendMode::AfterEof => self.eof,
            SendMode::AbortAfter(_) => true,
            SendMode::Nothing => false,
        };
        if may_send {
            let limit = match self.mode {
                SendMode::AbortAfter(n) => n.min(self.to_send.len()),
                _ => self.to_send.len(),
            };
            while self.sent < limit {
                let n = st.send(now, id, &self.to_send[self.sent..limit]);
                if n == 0 {
                    break;
                }
                self.sent += n;
            }
            if self.sent == limit {
                match self.mode {
                    SendMode::AbortAfter(_) => {
                        if st.send_queue(id) == 0 {
                            st.abort(now, id);
                            self.aborted = true;
                        }
                    }
                    _ if !self.closed => {
                        st.close(now, id);
                        self.closed = true;
                    }
                    _ => {}
                }
            }
        }
    }
}

/// What crossed the network from one host.
#[derive(Debug, Default, Clone)]
pub struct WireLog {
    pub packets: u64,
    pub tcp_payload_bytes: u64,
    pub marker_hits: u64,
    pub eno_syns: u64,
    pub syns: u64,
    pub udp: u64,
    pub icmp: u64,
}

impl WireLog {
    fn inspect(&mut self, pkt: &[u8]) {
        self.packets += 1;
        if pkt.windows(MARKER.len()).any(|w| w == MARKER) {
            self.marker_hits += 1;
        }
        let Ok(view) = stack::wire::ip::parse(pkt) else {
            return;
        };
        match view.protocol {
            IpProtocol::Tcp => {
                let Ok(t) = TcpPacket::new_checked(view.payload) else {
                    return;
                };
                self.tcp_payload_bytes += t.payload().len() as u64;
                if t.syn() {
                    self.syns += 1;
                    // ENO kind 69 in the options (a scan for the kind byte at option
                    // boundaries).
                    let opts = t.options();
                    let mut i = 0;
                    while i < opts.len() {
                        match opts[i] {
                            0 => break,
                            1 => i += 1,
                            k => {
                                if k == 69 {
                                    self.eno_syns += 1;
                                }
                                let l = *opts.get(i + 1).unwrap_or(&0) as usize;
                                if l < 2 {
                                    break;
                                }
                                i += l;
                            }
                        }
                    }
                }
            }
            IpProtocol::Udp => self.udp += 1,
            IpProtocol::Icmp | IpProtocol::Icmpv6 => self.icmp += 1,
            _ => {}
        }
    }
}

/// One simulated machine.
pub struct Host {
    pub app_stack: Stack,
    pub app: App,
    pub engine: Option<Engine>,
    pub real_v4: IpAddress,
    pub real_v6: IpAddress,
    pub out: WireLog,
    pub inbound: WireLog,
    /// Packets from the engine to the kernel that were not TCP (UDP/ICMP delivered).
    pub delivered_to_kernel: Vec<Vec<u8>>,
    /// SYNs the kernel (the application stack) sent into the TUN.
    pub kernel_syns: Vec<Vec<u8>>,
    to_net: VecDeque<Vec<u8>>,
    fronted: Vec<u16>,
    buf: Vec<u8>,
}

pub const A_REAL_V4: IpAddress = IpAddress::v4(192, 0, 2, 1);
pub const A_REAL_V6: IpAddress = IpAddress::v6(0x2001, 0xdb8, 0, 0, 0, 0, 0, 1);
pub const B_REAL_V4: IpAddress = IpAddress::v4(192, 0, 2, 10);
pub const B_REAL_V6: IpAddress = IpAddress::v6(0x2001, 0xdb8, 0, 0, 0, 0, 0, 0x10);
pub const KERNEL_V4: IpAddress = IpAddress::v4(10, 77, 0, 1);
pub const KERNEL_V6: IpAddress = IpAddress::v6(0xfd77, 0, 0, 0, 0, 0, 0, 1);
pub const STACK_V4: IpAddress = IpAddress::v4(10, 77, 0, 2);
pub const STACK_V6: IpAddress = IpAddress::v6(0xfd77, 0, 0, 0, 0, 0, 0, 2);

/// Routes over both test networks (192.0.2.0/24, 2001:db8::/32) under `policy`.
pub fn routes(policy: Policy) -> Vec<Route> {
    vec![
        Route {
            cidr: Cidr::new(IpAddress::v4(192, 0, 2, 0), 24).unwrap(),
            policy,
        },
        Route {
            cidr: Cidr::new(IpAddress::v6(0x2001, 0xdb8, 0, 0, 0, 0, 0, 0), 32).unwrap(),
            policy,
        },
    ]
}

/// A client relay: both test networks routed under `policy`.
pub fn client_cfg(policy: Policy) -> Config {
    Config {
        routes: routes(policy),
        ..Config::default()
    }
}

/// A server relay fronting `port`.
pub fn server_cfg(port: u16) -> Config {
    Config {
        fronted_ports: vec![port],
        ..Config::default()
    }
}

/// A stack playing a kernel: its sockets are never orphaned in these tests, so FIN-WAIT-2
/// does not time out (Linux applies `tcp_fin_timeout` to orphaned sockets only).
fn kernel_stack(addrs: Vec<IpAddress>, seed: [u8; 32]) -> Stack {
    let mut cfg = StackConfig::new(addrs, seed);
    cfg.conn.fin_wait2_timeout = stack::Duration::from_secs(3600);
    Stack::new(cfg)
}

fn seed32(seed: u64, salt: u8) -> [u8; 32] {
    let mut s = [salt; 32];
    s[..8].copy_from_slice(&seed.to_le_bytes());
    s
}

impl Host {
    /// A host running the relay with `config` (addresses default), its application stack
    /// on the kernel-side addresses.
    pub fn with_relay(
        config: Config,
        real_v4: IpAddress,
        real_v6: IpAddress,
        seed: u64,
        salt: u8,
    ) -> Host {
        let fronted = config.fronted_ports.clone();
        let config = Config {
            seed: seed32(seed, salt),
            ..config
        };
        let engine = Engine::new(config);
        let app_stack = kernel_stack(vec![KERNEL_V4, KERNEL_V6], seed32(seed, salt ^ 0x80));
        Host::assemble(app_stack, Some(engine), (real_v4, real_v6), fronted)
    }

    /// A host without the relay: its stack owns the real addresses, no ENO.
    pub fn plain(real_v4: IpAddress, real_v6: IpAddress, seed: u64, salt: u8) -> Host {
        let app_stack = kernel_stack(vec![real_v4, real_v6], seed32(seed, salt));
        Host::assemble(app_stack, None, (real_v4, real_v6), Vec::new())
    }

    /// Host A (the client side, salt 1) with the relay configured by `config`.
    pub fn relay_a(config: Config, seed: u64) -> Host {
        Host::with_relay(config, A_REAL_V4, A_REAL_V6, seed, 1)
    }

    /// Host B (the server side, salt 2) with the relay configured by `config`.
    pub fn relay_b(config: Config, seed: u64) -> Host {
        Host::with_relay(config, B_REAL_V4, B_REAL_V6, seed, 2)
    }

    /// Host B (salt 2) without the relay.
    pub fn plain_b(seed: u64) -> Host {
        Host::plain(B_REAL_V4, B_REAL_V6, seed, 2)
    }

    /// A host with nothing sent, received or logged yet.
    fn assemble(
        app_stack: Stack,
        engine: Option<Engine>,
        (real_v4, real_v6): (IpAddress, IpAddress),
        fronted: Vec<u16>,
    ) -> Host {
        Host {
            app_stack,
            app: App::new(Vec::new(), SendMode::Nothing),
            engine,
            real_v4,
            real_v6,
            out: WireLog::default(),
            inbound: WireLog::default(),
            delivered_to_kernel: Vec::new(),
            kernel_syns: Vec::new(),
            to_net: VecDeque::new(),
            fronted,
            buf: Vec::new(),
        }
    }

    pub fn engine(&self) -> &Engine {
        self.engine.as_ref().unwrap()
    }

    /// The application listens on `port` (on the kernel-side or, for a plain host, the
    /// real addresses) and adopts the first connection.
    pub fn serve(&mut self, port: u16, to_send: Vec<u8>, mode: SendMode) {
        self.listen(port);
        self.app = App::new(to_send, mode);
        self.app.server_port = Some(port);
    }

    /// The kernel's stack listens on `port` (any address); the test drives the connections.
    pub fn listen(&mut self, port: u16) {
        self.app_stack.listen(
            ListenAddr {
                addr: None,
                port: Some(port),
            },
            ListenConfig::default(),
        );
    }

    /// The application connects.
    pub fn connect(
        &mut self,
        now: Instant,
        local: IpEndpoint,
        remote: IpEndpoint,
        to_send: Vec<u8>,
        mode: SendMode,
    ) {
        self.app = App::new(to_send, mode);
        let id = self.app_stack.connect(now, local, remote, None).unwrap();
        self.app.conn = Some(id);
    }

    fn stack_addr(a: &IpAddress) -> IpAddress {
        match a {
            IpAddress::Ipv4(_) => STACK_V4,
            IpAddress::Ipv6(_) => STACK_V6,
        }
    }

    fn real_addr(real: (IpAddress, IpAddress), a: &IpAddress) -> IpAddress {
        match a {
            IpAddress::Ipv4(_) => real.0,
            IpAddress::Ipv6(_) => real.1,
        }
    }

    fn is_kernel(a: &IpAddress) -> bool {
        *a == KERNEL_V4 || *a == KERNEL_V6
    }

    /// Move packets between the app stack and the engine until both are quiet.
    fn shuffle(&mut self, now: Instant) {
        let mut buf = std::mem::take(&mut self.buf);
        buf.resize(65536, 0);
        let reals = (self.real_v4, self.real_v6);
        for _ in 0..100_000 {
            let mut moved = false;
            self.app.drive(now, &mut self.app_stack);
            if let Some(engine) = self.engine.as_mut() {
                while let Some(n) = self.app_stack.poll_transmit(now, &mut buf) {
                    if let Ok(view) = stack::wire::ip::parse(&buf[..n]) {
                        if view.protocol == IpProtocol::Tcp
                            && view.payload.get(13).is_some_and(|f| f & 0x12 == 0x02)
                        {
                            self.kernel_syns.push(buf[..n].to_vec());
                        }
                    }
                    engine.handle_packet(now, &buf[..n]);
                    moved = true;
                }
                while let Some(n) = engine.poll_transmit(now, &mut buf) {
                    let mut p = buf[..n].to_vec();
                    moved = true;
                    let Ok(view) = stack::wire::ip::parse(&p) else {
                        continue;
                    };
                    if Host::is_kernel(&view.dst) {
                        if view.protocol != IpProtocol::Tcp {
                            self.delivered_to_kernel.push(p.clone());
                        }
                        self.app_stack.handle(now, &p);
                    } else {
                        // Kernel forwarding: masquerade / un-DNAT the stack address.
                        let stack = Host::stack_addr(&view.src);
                        let real = Host::real_addr(reals, &view.src);
                        relay::nat::replace_addr(&mut p, stack, real).unwrap();
                        self.to_net.push_back(p);
                    }
                }
            } else {
                while let Some(n) = self.app_stack.poll_transmit(now, &mut buf) {
                    self.to_net.push_back(buf[..n].to_vec());
                    moved = true;
                }
            }
            if !moved {
                self.buf = buf;
                return;
            }
        }
        panic!("host did not quiesce");
    }

    /// Inject a packet as if the kernel wrote it into the TUN (UDP/ICMP tests).
    pub fn kernel_send(&mut self, now: Instant, pkt: &[u8]) {
        if let Some(e) = self.engine.as_mut() {
            e.handle_packet(now, pkt);
        }
        self.shuffle(now);
    }
}

impl Node for Host {
    fn handle(&mut self, now: Instant, packet: &[u8]) {
        self.inbound.inspect(packet);
        let reals = (self.real_v4, self.real_v6);
        if let Some(engine) = self.engine.as_mut() {
            let mut p = packet.to_vec();
            let Ok(view) = stack::wire::ip::parse(&p) else {
                return;
            };
            let real = Host::real_addr(reals, &view.dst);
            if view.dst != real {
                return;
            }
            // Replies to the masqueraded stack address, and DNAT of fronted ports, both
            // land on the stack address. Other packets for the host itself (not modelled)
            // are dropped.
            let to_stack = matches!(
                view.protocol,
                IpProtocol::Tcp | IpProtocol::Udp | IpProtocol::Icmp | IpProtocol::Icmpv6
            );
            let _ = &self.fronted;
            if to_stack {
                let stack = Host::stack_addr(&view.dst);
                relay::nat::replace_addr(&mut p, real, stack).unwrap();
                engine.handle_packet(now, &p);
            }
        } else {
            self.app_stack.handle(now, packet);
        }
        self.shuffle(now);
    }

    fn poll_transmit(&mut self, now: Instant, buf: &mut [u8]) -> Option<usize> {
        self.shuffle(now);
        let p = self.to_net.pop_front()?;
        self.out.inspect(&p);
        buf[..p.len()].copy_from_slice(&p);
        Some(p.len())
    }

    fn next_deadline(&self) -> Option<Instant> {
        let a = self.app_stack.next_deadline();
        let b = self.engine.as_ref().and_then(Engine::next_deadline);
        match (a, b) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    fn handle_timeout(&mut self, now: Instant) {
        self.app_stack.handle_timeout(now);
        if let Some(e) = self.engine.as_mut() {
            e.handle_timeout(now);
        }
        self.shuffle(now);
    }
}
