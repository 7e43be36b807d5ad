//! The relay [`Engine`]: one [`Stack`] behind `tcpc0`, pairing INNER connections (the
//! kernel's applications and services) with OUTER connections (the network, TCP-ENO and
//! tcpcrypt), plus UDP/ICMP translation (DESIGN.md "Data path").
//!
//! Outbound (RFC 8547 §4.7 policy, DESIGN.md steps 1–4): a SYN from the kernel-side address
//! to a routed subnet is held; the outer connection opens from the stack address with ENO in
//! its SYN. A refused outer refuses the inner (RST); a timed-out outer leaves the inner SYN
//! unanswered, so the application times out as it would without us. Once the outer is
//! established: tcpcrypt if ENO negotiated a tcpcrypt TEP (RFC 8548 §3.3), else a plain
//! relay, unless the route requires encryption (then the outer is aborted and the inner
//! refused before any payload moves). Then the inner SYN is accepted and bytes flow.
//!
//! Inbound fronting: the stack listens on its own address at each fronted port (passive
//! ENO, b = 1) and holds each client SYN while the inner connection opens through the TUN
//! from the client's own address and port to the kernel-side address and the fronted port
//! (so the service sees the real peer, and a refusal by the service reaches the client as a
//! refusal). Once the service accepted, the client's SYN is answered; once the outer
//! handshake is done, ENO decides between tcpcrypt and a plain relay.
//!
//! Sans-IO: packets, `now` and the seed come in; packets, a deadline and a status table go
//! out.

use std::collections::{BTreeSet, HashMap, VecDeque};
use std::net::SocketAddr;

use rand_chacha::rand_core::SeedableRng;
use rand_chacha::ChaCha20Rng;
use smoltcp::wire::IpAddress;
use stack::{
    ConnConfig, ConnId, Event, Instant, IpEndpoint, ListenAddr, ListenConfig, Stack, StackConfig,
};
use tcpcrypt::{CryptoProvider, Role, Session, Tep};

use crate::config::{Config, Policy};
use crate::nat;
use crate::pair::{Direction, Leg, Mode, Pair, PairState, PumpError, CHUNK, SESSION_BUFFER};
use crate::passthrough::{self, Action};
use crate::resumption;
use crate::status::{to_endpoint, to_socket_addr, ConnStatus, SESSID_LEN};
use crate::unreach;

/// Counters of what the engine did (not of the stack: see [`Engine::stack`]).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RelayStats {
    /// Packets that were not IP or were malformed.
    pub malformed: u64,
    /// Packets dropped as not ours (IPv6 router solicitations, stray UDP).
    pub dropped: u64,
    /// UDP/ICMP packets translated from the kernel-side to the stack address.
    pub translated_out: u64,
    /// UDP/ICMP packets translated from the stack to the kernel-side address.
    pub translated_in: u64,
    /// Pairs opened (outbound and inbound).
    pub pairs_opened: u64,
    /// Pairs relaying with tcpcrypt.
    pub encrypted: u64,
    /// Pairs relaying in plaintext.
    pub plain: u64,
    /// Outbound connections refused because the route requires encryption.
    pub refused_policy: u64,
    /// Outbound connections refused because the destination refused (RST).
    pub refused_destination: u64,
    /// Outbound connections whose outer SYN timed out.
    pub outer_timeouts: u64,
    /// Pairs aborted because of a tcpcrypt error.
    pub crypto_errors: u64,
    /// Pairs aborted because one leg was reset or timed out.
    pub resets: u64,
    /// SYNs refused because they were not from the kernel-side address to a routed subnet.
    pub refused_unrouted: u64,
    /// Outbound connections refused because no outer connection could be opened here
    /// (every port to the destination in use, or the connection table full).
    pub refused_local: u64,
    /// Destination-unreachable errors for outer SYNs reflected to the application.
    pub unreachable: u64,
    /// Application bytes (both directions) moved straight from one leg's receive buffer
    /// into the other's send buffer (`Stack::splice`: sealed or opened on the way when
    /// encrypted), against [`RelayStats::buffered`], those that went through the
    /// session's or the pair's own buffers. Nearly all bulk data should be spliced.
    pub spliced: u64,
    /// Application bytes (both directions) moved through the buffered path.
    pub buffered: u64,
}

type PairId = u64;

/// The sans-IO relay engine. See the module documentation.
pub struct Engine {
    config: Config,
    stack: Stack,
    rng: ChaCha20Rng,
    provider: &'static dyn CryptoProvider,
    pairs: HashMap<PairId, Pair>,
    by_conn: HashMap<ConnId, PairId>,
    by_app: HashMap<(IpEndpoint, IpEndpoint), PairId>,
    next_pair: PairId,
    holds: BTreeSet<(Instant, PairId)>,
    out: VecDeque<Vec<u8>>,
    dirty: Vec<PairId>,
    /// The last SYN the kernel sent (endpoints, sequence number), for ICMP reflection.
    last_syn: Option<(IpEndpoint, IpEndpoint, u32)>,
    /// Pairs with a reset leg, delivering what is left before aborting the other leg.
    draining: Vec<PairId>,
    scratch: Vec<u8>,
    inner_cfg: ConnConfig,
    /// Resumption cache shared with the stack's ENO hooks, when enabled.
    resume: Option<resumption::Shared>,
    stats: RelayStats,
}

impl std::fmt::Debug for Engine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Engine")
            .field("pairs", &self.pairs.len())
            .field("stats", &self.stats)
            .finish_non_exhaustive()
    }
}

/// Plaintext bytes per tcpcrypt frame at most (RFC 8548 §4.2 allows 65 518). A bulk
/// read of the inner leg is sealed as several frames of this size: 20 bytes of framing
/// per 16 KiB (+0.12 %), while the receiver, which holds an incomplete frame until its
/// last byte arrives and moves that tail along with every read, holds and moves less.
/// A message shorter than this is still one frame.
pub(crate) const FRAME_DATA: usize = 16 * 1024;

/// Bound on translated packets waiting for [`Engine::poll_transmit`].
const MAX_OUT: usize = 4096;

impl Engine {
    /// An engine with the default crypto provider.
    pub fn new(config: Config) -> Engine {
        Engine::with_provider(config, tcpcrypt::provider::default_provider())
    }

    /// An engine with a given crypto provider (tests cross-check providers).
    pub fn with_provider(config: Config, provider: &'static dyn CryptoProvider) -> Engine {
        let mut seed = config.seed;
        // Separate streams for the stack's ISNs and the key shares.
        let stack_seed = seed;
        if let Some(b) = seed.first_mut() {
            *b ^= 0x5a;
        }
        let rng = ChaCha20Rng::from_seed(seed);
        let mut sc = StackConfig::new(
            vec![
                IpAddress::Ipv4(config.stack_v4),
                IpAddress::Ipv6(config.stack_v6),
            ],
            stack_seed,
        );
        sc.mtu = config.mtu;
        sc.checksum_offload = config.checksum_offload;
        sc.max_connections = config.max_pairs.saturating_mul(4);
        // Outer legs leave from the stack address, which is ours alone (the kernel
        // masquerades it): twice the IANA range per destination, so bursts of short
        // connections to one service (whose closed legs sit in TIME-WAIT) find ports.
        sc.ephemeral_ports = 32768..=65535;
        let leg = ConnConfig {
            recv_buffer: config.buffer,
            send_buffer: config.buffer,
            nagle: false,
            // A relay leg is never orphaned: after our FIN the other side may legitimately
            // keep sending (half-close), so FIN-WAIT-2 must not end it after a minute.
            fin_wait2_timeout: stack::Duration::from_secs(2 * 3600),
            ..ConnConfig::default()
        };
        sc.conn = leg.clone();
        // The application's SYN stays held for as long as the outer SYN is retried (about
        // 127 s with six retransmissions) plus the quiet time after an outer timeout.
        let inner_cfg = ConnConfig {
            syn_hold_timeout: stack::Duration::from_secs(130) + config.hold_after_timeout,
            mtu: Some(config.mtu),
            ..leg
        };
        let mut stack = Stack::new(sc);
        // Outbound interception: any address, any port; SYNs are held.
        stack.listen(
            ListenAddr {
                addr: None,
                port: None,
            },
            ListenConfig {
                hold_syn: true,
                conn: Some(inner_cfg.clone()),
            },
        );
        let mut engine = Engine {
            config,
            stack,
            rng,
            provider,
            pairs: HashMap::new(),
            by_conn: HashMap::new(),
            by_app: HashMap::new(),
            next_pair: 1,
            holds: BTreeSet::new(),
            out: VecDeque::new(),
            dirty: Vec::new(),
            last_syn: None,
            draining: Vec::new(),
            scratch: vec![0; CHUNK],
            inner_cfg,
            resume: None,
            stats: RelayStats::default(),
        };
        if engine.config.resumption {
            let mut rseed = engine.config.seed;
            if let Some(b) = rseed.get_mut(1) {
                *b ^= 0xa5;
            }
            engine.resume = Some(resumption::shared(rseed, engine.session_cfg()));
        }
        let ports = engine.config.fronted_ports.clone();
        engine.listen_fronted(&ports);
        engine
    }

    /// Listen (passive ENO, SYN held) on both stack addresses at each port.
    fn listen_fronted(&mut self, ports: &[u16]) {
        let mut front = self.outer_cfg(Policy::Opportunistic);
        if let Some(r) = &self.resume {
            front.eno_hooks.selector = Some(resumption::selector(r));
        }
        for &port in ports {
            for addr in [
                IpAddress::Ipv4(self.config.stack_v4),
                IpAddress::Ipv6(self.config.stack_v6),
            ] {
                self.stack.listen(
                    ListenAddr {
                        addr: Some(addr),
                        port: Some(port),
                    },
                    ListenConfig {
                        hold_syn: true,
                        conn: Some(front.clone()),
                    },
                );
            }
        }
    }

    /// Replace the routed subnets and the fronted ports (the daemon's `reload`). New
    /// connections follow the new settings; existing pairs keep relaying as they are.
    pub fn reconfigure(&mut self, routes: Vec<crate::config::Route>, fronted_ports: Vec<u16>) {
        for &port in &self.config.fronted_ports {
            for addr in [
                IpAddress::Ipv4(self.config.stack_v4),
                IpAddress::Ipv6(self.config.stack_v6),
            ] {
                self.stack.unlisten(ListenAddr {
                    addr: Some(addr),
                    port: Some(port),
                });
            }
        }
        self.config.routes = routes;
        self.config.fronted_ports = fronted_ports;
        let ports = self.config.fronted_ports.clone();
        self.listen_fronted(&ports);
    }

    /// Options of an outer leg: ENO with our TEPs (RFC 8547 §4.2: rising priority, so
    /// the most preferred goes last).
    fn outer_cfg(&self, _policy: Policy) -> ConnConfig {
        let teps = self
            .config
            .teps
            .iter()
            .rev()
            .map(|t| eno::TepOffer::new(t.id()))
            .collect();
        ConnConfig {
            eno: Some(eno::Config {
                teps,
                ..eno::Config::default()
            }),
            mtu: Some(self.config.outer_mtu),
            syn_hold_timeout: ConnConfig::default().syn_hold_timeout,
            ..self.inner_cfg.clone()
        }
    }

    fn session_cfg(&self) -> tcpcrypt::Config {
        tcpcrypt::Config {
            ciphers: self.config.ciphers.clone(),
            send_buffer_limit: SESSION_BUFFER,
            max_frame_data: FRAME_DATA,
            no_cache: !self.config.resumption,
            ignore_resumption: !self.config.resumption,
            ..tcpcrypt::Config::default()
        }
    }

    // ---- getters ----

    /// The configuration.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// The engine's counters.
    pub fn stats(&self) -> &RelayStats {
        &self.stats
    }

    /// The TCP/IP stack (its own counters, connection states).
    pub fn stack(&self) -> &Stack {
        &self.stack
    }

    /// Number of relayed connections in the table.
    pub fn pair_count(&self) -> usize {
        self.pairs.len()
    }

    /// Every relayed connection, as the applications see them.
    pub fn status(&self) -> Vec<ConnStatus> {
        let mut v: Vec<ConnStatus> = self
            .pairs
            .values()
            .map(|p| {
                let s = p.session();
                ConnStatus {
                    local: to_socket_addr(p.app_local),
                    remote: to_socket_addr(p.app_remote),
                    direction: p.direction,
                    state: p.state,
                    encrypted: s.is_some(),
                    tep: s.map(Session::tep),
                    cipher: s.and_then(Session::cipher),
                    session_id: s.and_then(Session::session_id),
                    tx_bytes: p.tx_bytes,
                    rx_bytes: p.rx_bytes,
                    outer_local: p.outer_endpoints.map(|e| to_socket_addr(e.0)),
                    outer_remote: p.outer_endpoints.map(|e| to_socket_addr(e.1)),
                }
            })
            .collect();
        v.sort_by_key(|c| (c.local, c.remote));
        v
    }

    /// The session ID of the connection an application sees as `local` ↔ `remote`; `None`
    /// when there is no such connection or it is not (yet) encrypted.
    ///
    /// Exact match first; failing that, the one connection with this remote endpoint and
    /// local port (a fronted service may be asked about by its public address rather than the
    /// kernel-side address it really has, e.g. `192.0.2.10:80` for `10.77.0.1:80`).
    pub fn sessid(&self, local: IpEndpoint, remote: IpEndpoint) -> Option<[u8; SESSID_LEN]> {
        let pair = match self.by_app.get(&(local, remote)) {
            Some(id) => self.pairs.get(id)?,
            None => {
                let mut it = self
                    .pairs
                    .values()
                    .filter(|p| p.app_remote == remote && p.app_local.port == local.port);
                let first = it.next()?;
                if it.next().is_some() {
                    return None;
                }
                first
            }
        };
        pair.session()?.session_id()
    }

    /// [`Engine::sessid`] with `std` socket addresses (the daemon's seam).
    pub fn sessid_socket(&self, local: SocketAddr, remote: SocketAddr) -> Option<[u8; SESSID_LEN]> {
        self.sessid(to_endpoint(local), to_endpoint(remote))
    }

    // ---- input ----

    /// Take one IP packet read from the TUN device. Malformed input is dropped and counted.
    pub fn handle_packet(&mut self, now: Instant, packet: &[u8]) {
        let action = match stack::wire::ip::parse(packet) {
            Ok(view) => {
                if self.config.is_kernel(&view.src) {
                    self.last_syn = unreach::syn_of(&view);
                }
                if let Some(u) = unreach::parse(&view) {
                    if self.reflect_unreachable(now, &u) {
                        self.process(now);
                        return;
                    }
                }
                passthrough::classify(&self.config, &view)
            }
            Err(_) => {
                self.stats.malformed += 1;
                return;
            }
        };
        match action {
            Action::Stack => self.stack.handle(now, packet),
            Action::Translate { from, to } => {
                if self.out.len() >= MAX_OUT {
                    self.stats.dropped += 1;
                    return;
                }
                let mut p = packet.to_vec();
                match nat::replace_addr(&mut p, from, to) {
                    Ok(_) => {
                        if self.config.is_kernel(&from) {
                            self.stats.translated_out += 1;
                        } else {
                            self.stats.translated_in += 1;
                        }
                        self.out.push_back(p);
                    }
                    Err(_) => self.stats.malformed += 1,
                }
            }
            Action::Drop => self.stats.dropped += 1,
        }
        self.process(now);
    }

    /// A destination-unreachable for an outer SYN: give the application the same error
    /// about its own SYN and drop both legs without RST. Returns whether it was one.
    fn reflect_unreachable(&mut self, now: Instant, u: &unreach::Unreachable) -> bool {
        if !self.config.is_stack(&u.local.addr) {
            return false;
        }
        let Some(outer) = self.stack.find(u.local, u.remote) else {
            return false;
        };
        let Some(&pid) = self.by_conn.get(&outer) else {
            return false;
        };
        let Some(p) = self.pairs.get(&pid) else {
            return false;
        };
        let (Direction::Outbound, None, Some(isn), Some(inner)) =
            (p.direction, p.mode.as_ref(), p.inner_isn, p.inner)
        else {
            return false;
        };
        if let Some(pkt) = unreach::build(u, p.app_local, p.app_remote, isn) {
            if self.out.len() < MAX_OUT {
                self.out.push_back(pkt);
            }
        }
        self.stats.unreachable += 1;
        tracing::debug!(app = %p.app_local, dest = %p.app_remote, kind = u.kind, code = u.code, "destination unreachable reflected to the application");
        // Neither leg is synchronized: no RST goes anywhere.
        self.stack.abort(now, outer);
        self.stack.abort(now, inner);
        self.remove_pair(pid);
        true
    }

    /// The earliest instant [`Engine::handle_timeout`] has work.
    pub fn next_deadline(&self) -> Option<Instant> {
        let hold = self.holds.first().map(|h| h.0);
        match (self.stack.next_deadline(), hold) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// Fire every timer due at `now`.
    pub fn handle_timeout(&mut self, now: Instant) {
        self.stack.handle_timeout(now);
        while let Some(&(t, id)) = self.holds.first() {
            if t > now {
                break;
            }
            self.holds.pop_first();
            // The application has given up by now: forget its SYN without a word.
            if let Some(p) = self.pairs.get(&id) {
                if let Some(inner) = p.inner {
                    self.stack.abort(now, inner);
                }
            }
            self.remove_pair(id);
        }
        self.process(now);
    }

    /// Write the next IP packet to send into `buf`; returns its length. A translated packet
    /// longer than `buf` is dropped.
    pub fn poll_transmit(&mut self, now: Instant, buf: &mut [u8]) -> Option<usize> {
        while let Some(p) = self.out.pop_front() {
            match buf.get_mut(..p.len()) {
                Some(dst) => {
                    dst.copy_from_slice(&p);
                    return Some(p.len());
                }
                None => self.stats.dropped += 1,
            }
        }
        let n = self.stack.poll_transmit(now, buf);
        // Sending may have freed nothing, but keep events flowing.
        self.process(now);
        n
    }

    // ---- event processing ----

    fn process(&mut self, now: Instant) {
        for _ in 0..64 {
            let mut any = false;
            while let Some((id, ev)) = self.stack.poll_event() {
                any = true;
                self.on_event(now, id, ev);
            }
            let dirty = std::mem::take(&mut self.dirty);
            for pid in dirty {
                any = true;
                self.pump(now, pid);
            }
            if !any {
                break;
            }
        }
        if !self.draining.is_empty() {
            self.check_draining(now);
        }
    }

    fn mark(&mut self, pid: PairId) {
        if !self.dirty.contains(&pid) {
            self.dirty.push(pid);
        }
    }

    fn on_event(&mut self, now: Instant, id: ConnId, ev: Event) {
        if let Event::SynReceived { local, remote } = ev {
            self.on_inner_syn(now, id, local, remote);
            return;
        }
        let Some(&pid) = self.by_conn.get(&id) else {
            return;
        };
        let Some(p) = self.pairs.get(&pid) else {
            return;
        };
        let is_outer = p.outer == Some(id);
        match ev {
            Event::Established | Event::EnoOutcome if is_outer => {
                if ev == Event::Established {
                    if let Some(p) = self.pairs.get_mut(&pid) {
                        p.outer_up = true;
                    }
                }
                self.decide(now, pid);
            }
            Event::Established if p.direction == Direction::Inbound && p.mode.is_none() => {
                // The service accepted: now let the client's SYN proceed.
                if let Some(o) = p.outer {
                    self.stack.accept(now, o);
                }
            }
            Event::Reset | Event::Timeout | Event::Aborted => {
                self.on_leg_failed(now, pid, is_outer, ev == Event::Timeout)
            }
            Event::Closed => {
                if let Some(p) = self.pairs.get_mut(&pid) {
                    if is_outer {
                        p.outer_done = true;
                    } else {
                        p.inner_done = true;
                    }
                }
                self.mark(pid);
            }
            _ => self.mark(pid),
        }
    }

    /// A held SYN on the any-address listener: an application connecting out.
    fn on_inner_syn(&mut self, now: Instant, id: ConnId, local: IpEndpoint, remote: IpEndpoint) {
        if self.config.is_stack(&local.addr) && self.config.fronted_ports.contains(&local.port) {
            self.on_front_syn(now, id, local, remote);
            return;
        }
        let route = self.config.route(local.addr).copied();
        let (true, Some(route)) = (self.config.is_kernel(&remote.addr), route) else {
            self.stats.refused_unrouted += 1;
            tracing::debug!(%local, %remote, "SYN refused: not from the kernel-side address to a routed subnet");
            self.stack.refuse(now, id);
            return;
        };
        let mut cfg = self.outer_cfg(route.policy);
        // RFC 8548 §3.5: offer to resume a cached session with this peer, most preferred.
        let offer = self
            .resume
            .as_ref()
            .and_then(|r| resumption::offer(r, local.addr));
        if let (Some(o), Some(eno_cfg)) = (offer.as_ref(), cfg.eno.as_mut()) {
            resumption::add_offer(eno_cfg, o);
            cfg.eno_hooks.validator = Some(resumption::validator(o));
        }
        // The outer leg keeps the application's port. The kernel gives that port out again
        // once its own TIME-WAIT on the inner 4-tuple may be reused (`tcp_tw_reuse`: after
        // 1 s), while the outer leg, which closed first as well, still sits in our 60-s
        // TIME-WAIT: that TIME-WAIT gives way to the new incarnation (RFC 1122 §4.2.2.13,
        // RFC 6191: ISS beyond the old SND.NXT, timestamps on), as the kernel's does. Taking
        // an ephemeral port instead would hold a second port per reuse, and a burst of short
        // connections to one service used up all 32 768 within a minute (then refused).
        let from = IpEndpoint::new(self.config.stack_addr(&remote.addr), remote.port);
        let outer = match self
            .stack
            .connect_reopening(now, from, local, Some(cfg.clone()))
        {
            Ok(o) => Ok(o),
            Err(_) => self
                .stack
                .connect(now, IpEndpoint::new(from.addr, 0), local, Some(cfg)),
        };
        let Ok(outer) = outer else {
            self.stats.refused_local += 1;
            tracing::debug!(app = %remote, dest = %local, "SYN refused: no outer connection (no free port to the destination, or the table is full)");
            self.stack.refuse(now, id);
            return;
        };
        let pid = self.next_pair;
        self.next_pair += 1;
        // The application's view: its own address and port, and its destination.
        let mut p = Pair::new(Direction::Outbound, route.policy, remote, local);
        p.inner = Some(id);
        p.outer = Some(outer);
        p.outer_endpoints = self.stack.endpoints(outer);
        p.resume_offer = offer;
        p.inner_isn = self
            .last_syn
            .filter(|s| s.0 == remote && s.1 == local)
            .map(|s| s.2);
        self.insert_pair(pid, p);
        self.stats.pairs_opened += 1;
        tracing::debug!(app = %remote, dest = %local, policy = ?route.policy, "outbound connection held, outer opening");
    }

    /// A client's SYN on a fronted port, held: connect to the service first, from the
    /// client's own address and port, so that a refusal or timeout of the service reaches
    /// the client as such.
    ///
    /// The inner leg mirrors the client's 4-tuple, and closes first whenever the client
    /// does, so it sits in TIME-WAIT after most connections while the outer leg (the passive
    /// closer) is gone. A client may then legitimately open that 4-tuple again (its own
    /// TIME-WAIT is over, was ended by a RST as RFC 9293 §3.10.7.4 says, or it closed
    /// second): the new SYN reached us, so its previous incarnation is over on the outer leg
    /// too, and the inner leg's TIME-WAIT gives way (RFC 1122 §4.2.2.13, RFC 6191) instead of
    /// refusing the client.
    fn on_front_syn(&mut self, now: Instant, id: ConnId, local: IpEndpoint, remote: IpEndpoint) {
        let service = IpEndpoint::new(self.config.kernel_addr(&local.addr), local.port);
        let inner_cfg = self.inner_cfg.clone();
        let inner = self
            .stack
            .connect_reopening(now, remote, service, Some(inner_cfg));
        let inner = match inner {
            Ok(inner) => inner,
            Err(e) => {
                tracing::debug!(client = %remote, service = %service, error = ?e, "inbound connection refused: no inner connection");
                self.stack.refuse(now, id);
                return;
            }
        };
        let pid = self.next_pair;
        self.next_pair += 1;
        let mut p = Pair::new(Direction::Inbound, Policy::Opportunistic, service, remote);
        p.outer = Some(id);
        p.inner = Some(inner);
        p.outer_endpoints = Some((local, remote));
        self.insert_pair(pid, p);
        self.stats.pairs_opened += 1;
        tracing::debug!(client = %remote, service = %service, "inbound connection, service contacted");
    }

    fn insert_pair(&mut self, pid: PairId, p: Pair) {
        if let Some(i) = p.inner {
            self.by_conn.insert(i, pid);
        }
        if let Some(o) = p.outer {
            self.by_conn.insert(o, pid);
        }
        self.by_app.insert((p.app_local, p.app_remote), pid);
        self.pairs.insert(pid, p);
    }

    fn remove_pair(&mut self, pid: PairId) {
        if let Some(p) = self.pairs.remove(&pid) {
            for c in [p.inner, p.outer].into_iter().flatten() {
                if self.by_conn.get(&c) == Some(&pid) {
                    self.by_conn.remove(&c);
                }
            }
            if self.by_app.get(&(p.app_local, p.app_remote)) == Some(&pid) {
                self.by_app.remove(&(p.app_local, p.app_remote));
            }
            if let Some(t) = p.hold_until {
                self.holds.remove(&(t, pid));
            }
        }
    }

    /// The outer leg is established: choose tcpcrypt, plain or refusal, then open the
    /// inner side (accept the held SYN, or connect to the fronted service).
    fn decide(&mut self, now: Instant, pid: PairId) {
        let Some(p) = self.pairs.get(&pid) else {
            return;
        };
        if p.mode.is_some() || !p.outer_up {
            return;
        }
        let Some(outer) = p.outer else { return };
        let policy = p.policy;
        let outcome = self.stack.eno_outcome(outer).cloned();
        let negotiated = match outcome {
            None => return, // wait for Event::EnoOutcome
            Some(eno::Outcome::Negotiated(n)) => Some(n),
            Some(eno::Outcome::Disabled(_)) => None,
        };
        let mode = match negotiated {
            Some(n) if n.b_v_bit() => match self.resumed_session(pid, &n) {
                Some(s) => Mode::Crypt(Box::new(s)),
                None => {
                    // ENO agreed to resume but we hold no matching secret: the peer
                    // encrypts, so plaintext is impossible. Abort.
                    self.stats.crypto_errors += 1;
                    self.refuse_pair(now, pid);
                    return;
                }
            },
            Some(n) if Tep::from_id(n.sessid_byte).is_some() => {
                let role = match n.role {
                    eno::Role::A => Role::A,
                    eno::Role::B => Role::B,
                };
                let cfg = self.session_cfg();
                match Session::fresh(
                    role,
                    n.sessid_byte,
                    &n.transcript,
                    cfg,
                    self.provider,
                    &mut self.rng,
                ) {
                    Ok(s) => Mode::Crypt(Box::new(s)),
                    Err(_) => {
                        self.stats.crypto_errors += 1;
                        self.refuse_pair(now, pid);
                        return;
                    }
                }
            }
            // No tcpcrypt TEP negotiated: plaintext, unless the route requires encryption.
            _ if policy == Policy::Require => {
                self.stats.refused_policy += 1;
                tracing::info!(
                    pair = pid,
                    "peer did not negotiate tcpcrypt and the route requires it: refused"
                );
                self.refuse_pair(now, pid);
                return;
            }
            _ => Mode::Plain,
        };
        match mode {
            Mode::Crypt(_) => self.stats.encrypted += 1,
            Mode::Plain => self.stats.plain += 1,
        }
        tracing::debug!(
            pair = pid,
            encrypted = matches!(mode, Mode::Crypt(_)),
            "negotiation decided"
        );
        let Some(p) = self.pairs.get_mut(&pid) else {
            return;
        };
        p.mode = Some(mode);
        match p.direction {
            Direction::Outbound => {
                if let Some(inner) = p.inner {
                    self.stack.accept(now, inner);
                }
                p.state = PairState::Established;
            }
            Direction::Inbound => p.state = PairState::Established,
        }
        self.mark(pid);
    }

    /// RFC 8548 §3.5: ENO agreed to resume (B's TEP byte has v = 1); build the session from
    /// our offer (host A) or the answer our selector gave (host B).
    fn resumed_session(&mut self, pid: PairId, n: &eno::Negotiated) -> Option<Session> {
        let cfg = self.session_cfg();
        let shared = self.resume.clone()?;
        let p = self.pairs.get_mut(&pid)?;
        let (role, resumption) = match n.role {
            eno::Role::A => {
                let offer = p.resume_offer.take()?;
                (Role::A, offer.complete(n.tep, true, &n.peer_data)?)
            }
            eno::Role::B => {
                let (local, remote) = p.outer_endpoints?;
                let answer = resumption::take_answer(&shared, local, remote)?;
                (Role::B, answer.resumption)
            }
        };
        Session::resumed(role, resumption, cfg, self.provider).ok()
    }

    /// Refuse before any payload moved: abort the outer, refuse (RST) the held inner.
    fn refuse_pair(&mut self, now: Instant, pid: PairId) {
        if let Some(p) = self.pairs.get(&pid) {
            if let Some(o) = p.outer {
                self.stack.abort(now, o);
            }
            if let Some(i) = p.inner {
                if !self.stack.refuse(now, i) {
                    self.stack.abort(now, i);
                }
            }
        }
        self.remove_pair(pid);
    }

    /// One leg was reset, timed out or aborted by the stack.
    fn on_leg_failed(&mut self, now: Instant, pid: PairId, outer_failed: bool, timeout: bool) {
        let Some(p) = self.pairs.get_mut(&pid) else {
            return;
        };
        if outer_failed && p.mode.is_none() && p.direction == Direction::Outbound {
            if timeout {
                // Keep the application's SYN unanswered: it times out on its own.
                self.stats.outer_timeouts += 1;
                tracing::debug!(
                    pair = pid,
                    "outer connection timed out; the application SYN stays unanswered"
                );
                let until = now + self.config.hold_after_timeout;
                p.hold_until = Some(until);
                p.state = PairState::TimedOut;
                if let Some(o) = p.outer.take() {
                    self.by_conn.remove(&o);
                }
                self.holds.insert((until, pid));
                return;
            }
            // Refused (RST) or unreachable: refuse the application the same way.
            self.stats.refused_destination += 1;
            tracing::debug!(pair = pid, "destination refused; refusing the application");
            p.outer = None;
            self.refuse_pair(now, pid);
            return;
        }
        if !outer_failed && p.mode.is_none() && p.direction == Direction::Inbound {
            // The service refused (or never answered) before the client's SYN was
            // answered: refuse the client the same way, or leave it to time out.
            if let Some(o) = p.outer {
                if timeout {
                    self.stack.abort(now, o);
                } else {
                    self.stack.refuse(now, o);
                }
            }
            self.remove_pair(pid);
            return;
        }
        self.stats.resets += 1;
        if p.draining.is_some() || p.mode.is_none() {
            // The survivor failed too, or nothing was relayed yet: abort what is left.
            let other = if outer_failed { p.inner } else { p.outer };
            if let Some(o) = other {
                self.stack.abort(now, o);
            }
            self.remove_pair(pid);
            return;
        }
        // RST propagation in order: bytes the dead leg's peer already handed to us (and saw
        // acknowledged) reach the other side first, then the RST, as on a direct path.
        let (dead, survivor) = if outer_failed {
            (p.outer, Leg::Inner)
        } else {
            (p.inner, Leg::Outer)
        };
        p.draining = Some(survivor);
        if let Some(d) = dead {
            self.by_conn.remove(&d);
        }
        self.draining.push(pid);
        self.mark(pid);
    }

    /// Finish draining pairs: abort the surviving leg once everything is delivered.
    fn check_draining(&mut self, now: Instant) {
        let list = std::mem::take(&mut self.draining);
        for pid in list {
            let Some(p) = self.pairs.get(&pid) else {
                continue;
            };
            let Some(survivor) = p.draining else {
                continue;
            };
            if p.drained(&self.stack, survivor) {
                let leg = match survivor {
                    Leg::Inner => p.inner,
                    Leg::Outer => p.outer,
                };
                if let Some(c) = leg {
                    self.stack.abort(now, c);
                }
                self.remove_pair(pid);
            } else {
                self.draining.push(pid);
            }
        }
    }

    fn pump(&mut self, now: Instant, pid: PairId) {
        let Some(p) = self.pairs.get_mut(&pid) else {
            return;
        };
        let before = p.tx_bytes + p.rx_bytes;
        let result = p.pump(now, &mut self.stack, &mut self.scratch, self.config.buffer);
        let spliced = std::mem::take(&mut p.spliced);
        self.stats.spliced += spliced;
        self.stats.buffered += (p.tx_bytes + p.rx_bytes)
            .saturating_sub(before)
            .saturating_sub(spliced);
        if let (Some(r), Some((_, peer))) = (&self.resume, p.outer_endpoints) {
            if let Some(t) = p.session_mut().and_then(Session::take_resumption_ticket) {
                resumption::store(r, peer.addr, t);
            }
        }
        match result {
            Ok(()) => {}
            Err(PumpError::Crypto(e)) => {
                // RFC 8548 §3.3/§3.6: abort with RST, an error and not an EOF.
                self.stats.crypto_errors += 1;
                tracing::info!(pair = pid, error = %e, "tcpcrypt error: both legs aborted");
                let legs = [p.inner, p.outer];
                for c in legs.into_iter().flatten() {
                    self.stack.abort(now, c);
                }
                self.remove_pair(pid);
                return;
            }
        }
        if p.inner_done && p.outer_done && p.both_closed() {
            self.remove_pair(pid);
            return;
        }
        // A leg that ended (e.g. FIN-WAIT-2 timeout) without its peer's end of stream ever
        // reaching us: the other side cannot be closed cleanly, abort it.
        if p.draining.is_none() && p.mode.is_some() {
            let gone = |c: Option<ConnId>| c.is_none_or(|c| self.stack.state(c).is_none());
            let other = if p.outer_done && !p.outer_fin_seen() && gone(p.outer) {
                Some(p.inner)
            } else if p.inner_done && !p.inner_eof() && gone(p.inner) {
                Some(p.outer)
            } else {
                None
            };
            if let Some(leg) = other {
                self.stats.resets += 1;
                if let Some(c) = leg {
                    self.stack.abort(now, c);
                }
                self.remove_pair(pid);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The stack must hold both legs of every pair, and both again in TIME-WAIT: a daemon
    /// once capped at 32 768 relayed connections because the stack's own default bound
    /// (65 536 connections) applied to pairs of legs.
    #[test]
    fn stack_bound_covers_every_leg_of_max_pairs() {
        let config = Config {
            max_pairs: 1000,
            ..Config::default()
        };
        let engine = Engine::new(config);
        assert_eq!(engine.stack().config().max_connections, 4000);
        let default = Engine::new(Config::default());
        assert!(default.stack().config().max_connections >= 4 * 100_000);
        // Outer legs: 32 768 source ports per destination.
        assert_eq!(default.stack().config().ephemeral_ports, 32768..=65535);
    }

    /// Sessions seal bulk data in frames of at most 16 KiB and hold at most
    /// `SESSION_BUFFER` sealed bytes (the pump sizes its reads to that).
    #[test]
    fn sessions_use_16_kib_frames() {
        let engine = Engine::new(Config::default());
        let c = engine.session_cfg();
        assert_eq!(c.frame_data_len(), 16 * 1024);
        assert_eq!(c.send_buffer_limit, SESSION_BUFFER);
    }

    /// The daemon turns checksum offload on for a TUN device with a virtio-net header: the
    /// setting must reach the stack (off by default).
    #[test]
    fn checksum_offload_reaches_the_stack() {
        let on = stack::ChecksumOffload {
            rx_trusted: true,
            tx_partial: true,
        };
        let engine = Engine::new(Config {
            checksum_offload: on,
            ..Config::default()
        });
        assert_eq!(engine.stack().config().checksum_offload, on);
        let default = Engine::new(Config::default());
        assert_eq!(
            default.stack().config().checksum_offload,
            stack::ChecksumOffload::default()
        );
    }
}
