//! The [`Stack`]: demultiplexes IP packets to connections and listeners (RFC 9293 §3.10.7.1
//! CLOSED and §3.10.7.2 LISTEN), owns the connection table, the RNG, timers' ordering and
//! the outgoing queue. Sans-IO: packets in, packets out, a deadline, events.
//!
//! Call order: [`Stack::handle`] for each received packet and [`Stack::handle_timeout`]
//! when [`Stack::next_deadline`] passes; then drain [`Stack::poll_transmit`] and
//! [`Stack::poll_event`].

use std::collections::{BTreeSet, HashMap, VecDeque};

use rand_chacha::rand_core::{RngCore, SeedableRng};
use rand_chacha::ChaCha8Rng;
use smoltcp::time::Instant;
use smoltcp::wire::{IpAddress, IpEndpoint, IpProtocol, TcpSeqNumber};
use zeroize::Zeroize;

use crate::config::{ConnConfig, StackConfig};
use crate::eno_hook::EnoHook;
use crate::event::Event;
use crate::icmp::{self, IcmpAction};
use crate::stats::Stats;
use crate::tcp::conn::{Conn, ConnParams, EndReason, State, Tuple};
use crate::tcp::input::Ctx;
use crate::tcp::isn::IsnGenerator;
use crate::tcp::rfc5961::ChallengeLimiter;
use crate::tcp::segment::{self, Flags, OutHeader, Segment, SegmentError};
use crate::tcp::seq;
use crate::wire::ip::{self, IpError};
use crate::wire::options::OutOptions;

/// A connection handle: slab index plus generation, so a stale handle never reaches a
/// newer connection in the same slot.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ConnId {
    index: u32,
    generation: u32,
}

/// Where a listener listens: `None` is "any" (transparent interception).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ListenAddr {
    /// Local address, or any.
    pub addr: Option<IpAddress>,
    /// Local port, or any.
    pub port: Option<u16>,
}

/// How a listener answers SYNs.
#[derive(Debug, Clone, Default)]
pub struct ListenConfig {
    /// Hold each SYN until [`Stack::accept`] or [`Stack::refuse`] (reported as
    /// [`Event::SynReceived`]).
    pub hold_syn: bool,
    /// Per-listener connection options; `None` uses the stack default.
    pub conn: Option<ConnConfig>,
}

/// Why [`Stack::connect`] failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum ConnectError {
    /// Local and remote address families differ, or the remote port is 0.
    #[error("invalid address pair")]
    InvalidAddress,
    /// The 4-tuple is in use.
    #[error("4-tuple in use")]
    InUse,
    /// The connection table is full.
    #[error("connection table full")]
    TableFull,
}

/// Why [`Stack::recv`] returned no data.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum RecvError {
    /// No data now; wait for [`Event::Readable`].
    #[error("no data available")]
    WouldBlock,
    /// The connection was reset.
    #[error("connection reset")]
    Reset,
    /// The connection timed out.
    #[error("connection timed out")]
    TimedOut,
    /// The connection is closed or the handle is stale.
    #[error("connection closed")]
    Closed,
}

#[derive(Debug)]
struct Slot {
    generation: u32,
    /// Why the previous occupant (generation - 1) ended, for `recv` on its stale id.
    last_end: Option<EndReason>,
    conn: Option<Box<Conn>>,
    queued: bool,
    deadline: Option<Instant>,
    half_open: bool,
}

/// The live connection `id` in `slots`.
fn conn_in(slots: &mut [Slot], id: ConnId) -> Option<&mut Conn> {
    let s = slots.get_mut(usize::try_from(id.index).ok()?)?;
    if s.generation != id.generation {
        return None;
    }
    s.conn.as_deref_mut()
}

/// Two different live connections `a` and `b` in `slots`, both mutable.
fn two_conns_in(slots: &mut [Slot], a: ConnId, b: ConnId) -> Option<(&mut Conn, &mut Conn)> {
    let ia = usize::try_from(a.index).ok()?;
    let ib = usize::try_from(b.index).ok()?;
    let (lo, hi) = (ia.min(ib), ia.max(ib));
    if lo == hi {
        return None;
    }
    let (left, right) = slots.split_at_mut(hi);
    let s_lo = left.get_mut(lo)?;
    let s_hi = right.first_mut()?;
    let (sa, sb) = if ia < ib { (s_lo, s_hi) } else { (s_hi, s_lo) };
    if sa.generation != a.generation || sb.generation != b.generation {
        return None;
    }
    Some((sa.conn.as_deref_mut()?, sb.conn.as_deref_mut()?))
}

/// The user-space TCP/IP engine.
#[derive(Debug)]
pub struct Stack {
    config: StackConfig,
    rng: ChaCha8Rng,
    /// RFC 6528 initial sequence numbers (key drawn from `rng`).
    isn: IsnGenerator,
    slots: Vec<Slot>,
    free: Vec<u32>,
    live: usize,
    by_tuple: HashMap<Tuple, ConnId>,
    listeners: HashMap<ListenAddr, ListenConfig>,
    events: VecDeque<(ConnId, Event)>,
    control: VecDeque<Vec<u8>>,
    tx: VecDeque<ConnId>,
    deadlines: BTreeSet<(Instant, u32)>,
    half_open: usize,
    challenge: ChallengeLimiter,
    stats: Stats,
    ident: u16,
    /// Emptied ring storage kept for reuse (at most [`SPARE_BUFFERS`]).
    spare: Vec<Vec<u8>>,
}

/// Emptied send/receive buffers a stack keeps for the next connection that needs one, so
/// a busy connection whose buffer drains and refills does not map and fault in fresh
/// memory every time. Bounds the stack's idle buffer memory to this many buffers.
pub const SPARE_BUFFERS: usize = 8;

/// A spare buffer of at least `cap` bytes.
fn take_spare(spare: &mut Vec<Vec<u8>>, cap: usize) -> Option<Vec<u8>> {
    let i = spare.iter().position(|v| v.capacity() >= cap)?;
    Some(spare.swap_remove(i))
}

fn put_spare(spare: &mut Vec<Vec<u8>>, v: Option<Vec<u8>>) {
    if let Some(v) = v {
        if spare.len() < SPARE_BUFFERS {
            spare.push(v);
        }
    }
}

impl Stack {
    /// A stack with no connections.
    pub fn new(config: StackConfig) -> Stack {
        let mut rng = ChaCha8Rng::from_seed(config.rng_seed);
        let mut key = [0u8; 32];
        rng.fill_bytes(&mut key);
        let isn = IsnGenerator::new(key);
        key.zeroize();
        let challenge = ChallengeLimiter::new(config.challenge_ack_limit);
        Stack {
            config,
            rng,
            isn,
            slots: Vec::new(),
            free: Vec::new(),
            live: 0,
            by_tuple: HashMap::new(),
            listeners: HashMap::new(),
            events: VecDeque::new(),
            control: VecDeque::new(),
            tx: VecDeque::new(),
            deadlines: BTreeSet::new(),
            half_open: 0,
            challenge,
            stats: Stats::default(),
            ident: 0,
            spare: Vec::new(),
        }
    }

    // ---- getters ----

    /// Counters.
    pub fn stats(&self) -> &Stats {
        &self.stats
    }

    /// The configuration.
    pub fn config(&self) -> &StackConfig {
        &self.config
    }

    /// Number of connections in the table (all states).
    pub fn connection_count(&self) -> usize {
        self.live
    }

    fn conn(&self, id: ConnId) -> Option<&Conn> {
        let s = self.slots.get(usize::try_from(id.index).ok()?)?;
        if s.generation != id.generation {
            return None;
        }
        s.conn.as_deref()
    }

    fn conn_mut(&mut self, id: ConnId) -> Option<&mut Conn> {
        let s = self.slots.get_mut(usize::try_from(id.index).ok()?)?;
        if s.generation != id.generation {
            return None;
        }
        s.conn.as_deref_mut()
    }

    /// The connection's state, or `None` for a stale handle.
    pub fn state(&self, id: ConnId) -> Option<State> {
        self.conn(id).map(|c| c.state)
    }

    /// `(local, remote)` endpoints of a connection.
    pub fn endpoints(&self, id: ConnId) -> Option<(IpEndpoint, IpEndpoint)> {
        self.conn(id).map(|c| (c.tuple.local, c.tuple.remote))
    }

    /// Look a connection up by its 4-tuple.
    pub fn find(&self, local: IpEndpoint, remote: IpEndpoint) -> Option<ConnId> {
        self.by_tuple.get(&Tuple { local, remote }).copied()
    }

    /// The ENO outcome, once known (RFC 8547 §4.6).
    pub fn eno_outcome(&self, id: ConnId) -> Option<&eno::Outcome> {
        self.conn(id)?.eno.as_ref()?.outcome()
    }

    /// The ENO negotiation of a connection: both SYN-form options verbatim
    /// (`syn_option()`, `peer_syn_option_bytes()`), role and outcome.
    pub fn eno_negotiation(&self, id: ConnId) -> Option<&eno::Negotiation> {
        self.conn(id)?.eno.as_ref().map(EnoHook::negotiation)
    }

    /// Bytes queued for sending and not yet acknowledged.
    pub fn send_queue(&self, id: ConnId) -> usize {
        self.conn(id).map_or(0, |c| c.send_buf.len())
    }

    /// Bytes ready to read.
    pub fn recv_queue(&self, id: ConnId) -> usize {
        self.conn(id).map_or(0, |c| c.recv_buf.len())
    }

    /// Copy up to `buf.len()` of the bytes ready to read into `buf` without consuming
    /// them (for a caller that must see a record's header before deciding how much to
    /// read); returns how many were copied.
    pub fn peek(&self, id: ConnId, buf: &mut [u8]) -> usize {
        let Some(c) = self.conn(id) else {
            return 0;
        };
        let (a, b) = c.recv_buf.slices(0, buf.len());
        let (head, tail) = buf.split_at_mut(a.len().min(buf.len()));
        head.copy_from_slice(a.get(..head.len()).unwrap_or_default());
        let m = b.len().min(tail.len());
        if let (Some(d), Some(s)) = (tail.get_mut(..m), b.get(..m)) {
            d.copy_from_slice(s);
        }
        head.len() + m
    }

    /// Heap bytes held by the connection's send and receive buffers (0 when both are
    /// empty: buffers are allocated on first use and released once drained).
    pub fn buffer_allocation(&self, id: ConnId) -> usize {
        self.conn(id)
            .map_or(0, |c| c.send_buf.allocated() + c.recv_buf.allocated())
    }

    /// Current congestion window and smoothed RTT of a connection (for tests and status).
    pub fn cwnd(&self, id: ConnId) -> Option<u64> {
        self.conn(id).map(|c| c.cc.window())
    }

    // ---- listeners and opens ----

    /// Start listening (RFC 9293 §3.10.1 passive OPEN). Replaces an existing listener on
    /// the same address.
    pub fn listen(&mut self, addr: ListenAddr, config: ListenConfig) {
        self.listeners.insert(addr, config);
    }

    /// Stop listening; existing connections are unaffected.
    pub fn unlisten(&mut self, addr: ListenAddr) -> bool {
        self.listeners.remove(&addr).is_some()
    }

    /// Active OPEN (RFC 9293 §3.10.1). A local port of 0 picks an ephemeral port.
    pub fn connect(
        &mut self,
        now: Instant,
        local: IpEndpoint,
        remote: IpEndpoint,
        config: Option<ConnConfig>,
    ) -> Result<ConnId, ConnectError> {
        self.open(now, local, remote, config, false)
    }

    /// [`Stack::connect`] to a 4-tuple that one of our connections may still hold in
    /// TIME-WAIT: that connection gives way to the new incarnation (the active counterpart of
    /// RFC 9293 §3.10.7.4's reopening by a new SYN, RFC 1122 §4.2.2.13 and RFC 6191). Safe
    /// under the same conditions: the new ISS lies beyond every sequence number the old
    /// incarnation used, and timestamps were on, so that our TSvals (a per-4-tuple offset on
    /// a millisecond clock, RFC 7323 §5.4) grow across the incarnations and PAWS
    /// (RFC 7323 §5) tells the old incarnation's duplicates from the new one's segments.
    /// Any other occupant of the 4-tuple is [`ConnectError::InUse`].
    pub fn connect_reopening(
        &mut self,
        now: Instant,
        local: IpEndpoint,
        remote: IpEndpoint,
        config: Option<ConnConfig>,
    ) -> Result<ConnId, ConnectError> {
        self.open(now, local, remote, config, true)
    }

    fn open(
        &mut self,
        now: Instant,
        local: IpEndpoint,
        remote: IpEndpoint,
        config: Option<ConnConfig>,
        reopen_time_wait: bool,
    ) -> Result<ConnId, ConnectError> {
        if local.addr.version() != remote.addr.version() || remote.port == 0 {
            return Err(ConnectError::InvalidAddress);
        }
        if self.live >= self.config.max_connections {
            return Err(ConnectError::TableFull);
        }
        let mut local = local;
        if local.port == 0 {
            // RFC 6056 §3.3.1 (Algorithm 1): a random starting point, then every port of the
            // range in turn, so a port is found whenever one is free for this destination
            // (random probing gave up after 64 tries with the range three-quarters used).
            let (first, last) = (
                *self.config.ephemeral_ports.start(),
                *self.config.ephemeral_ports.end(),
            );
            if first > last {
                return Err(ConnectError::InUse);
            }
            let count = u32::from(last - first) + 1;
            let start = self.rng.next_u32() % count;
            let found = (0..count)
                .map(|i| first.wrapping_add(u16::try_from((start + i) % count).unwrap_or(0)))
                .find(|&p| {
                    !self.by_tuple.contains_key(&Tuple {
                        local: IpEndpoint::new(local.addr, p),
                        remote,
                    })
                });
            local.port = found.ok_or(ConnectError::InUse)?;
        }
        let tuple = Tuple { local, remote };
        let mut iss = None;
        if let Some(&old) = self.by_tuple.get(&tuple) {
            let reusable = self
                .conn(old)
                .is_some_and(|c| c.state == State::TimeWait && c.ts.enabled);
            if !(reopen_time_wait && reusable) {
                return Err(ConnectError::InUse);
            }
            iss = self.end_time_wait(now, old);
        }
        let cfg = config.unwrap_or_else(|| self.config.conn.clone());
        let eno = cfg
            .eno
            .as_ref()
            .map(|e| EnoHook::active(e, &cfg.eno_hooks, tuple.local, tuple.remote));
        let mut conn = self.new_conn(now, tuple, cfg, false, iss);
        conn.eno = eno;
        conn.state = State::SynSent;
        let id = self.insert(conn);
        self.after(now, id);
        Ok(id)
    }

    /// Let a held SYN proceed: the SYN-ACK goes out.
    pub fn accept(&mut self, now: Instant, id: ConnId) -> bool {
        let Some(c) = self.conn_mut(id) else {
            return false;
        };
        if !(c.state == State::SynReceived && c.held) {
            return false;
        }
        c.held = false;
        c.timers.stop(crate::tcp::timer::TimerKind::Close);
        self.after(now, id);
        true
    }

    /// Refuse a held SYN with RST (RFC 9293 §3.10.7.1 form `<SEQ=0><ACK=SEG.SEQ+1>`).
    pub fn refuse(&mut self, now: Instant, id: ConnId) -> bool {
        let Some(c) = self.conn_mut(id) else {
            return false;
        };
        if !(c.state == State::SynReceived && c.held) {
            return false;
        }
        let ack = c.rcv.nxt;
        c.pending_rst = None;
        c.finish(EndReason::Aborted);
        let tuple = c.tuple;
        self.queue_rst(&tuple, TcpSeqNumber(0), Some(ack));
        self.after(now, id);
        true
    }

    // ---- data ----

    /// Queue bytes for sending; returns how many were accepted (0 if the connection
    /// cannot send any more).
    pub fn send(&mut self, now: Instant, id: ConnId, data: &[u8]) -> usize {
        let Some(c) = conn_in(&mut self.slots, id) else {
            return 0;
        };
        if c.send_buf.allocated() == 0 && !data.is_empty() {
            if let Some(v) = take_spare(&mut self.spare, c.send_buf.capacity()) {
                let back = c.send_buf.give_storage(v);
                put_spare(&mut self.spare, back);
            }
        }
        let n = c.send(data);
        if n > 0 {
            self.after(now, id);
        }
        n
    }

    /// Read in-order bytes. `Ok(0)` only at EOF (the peer's FIN, after all data).
    pub fn recv(&mut self, now: Instant, id: ConnId, buf: &mut [u8]) -> Result<usize, RecvError> {
        let Some(c) = self.conn_mut(id) else {
            return Err(self.ended_error(id));
        };
        let r = c.recv(buf);
        self.after(now, id);
        r
    }

    /// Move bytes from `from`'s receive queue into `to`'s send queue through `f`, without a
    /// staging buffer (a relay's zero-copy path: one connection's in-order receive ring
    /// is transformed straight into another connection's send ring).
    ///
    /// `f(src, dst)` gets a contiguous part of `from`'s readable in-order bytes (mutable:
    /// consumed bytes may be scribbled on, e.g. decrypted in place) and a contiguous part
    /// of `to`'s free send-buffer room (initialised memory of unspecified contents), and
    /// returns (consumed from src, produced into dst) (each at most the slice length;
    /// larger values are clamped). It is called again with the next parts (ring wrap)
    /// while it makes progress (consumes or produces something) and both sides are
    /// non-empty; it is not called when either side has nothing. An `Err` from `f` stops
    /// at once and is returned (what earlier calls moved stays moved and is accounted).
    /// Returns the totals (consumed, produced); produced may be more (e.g. frame headers
    /// added) or less than consumed.
    ///
    /// Parts end at the rings' physical ends, so they may be short (a few bytes) right
    /// before a wrap, and a call that returns `(0, 0)` ends the splice: the next splice
    /// would offer the same parts again. So `f` must make progress whenever both parts are
    /// non-empty and it has anything to do, carrying a unit that does not fit (a record
    /// header split by the wrap, a frame larger than the room left before it) in its own
    /// state, or the transfer stalls until `to`'s send queue drains completely.
    ///
    /// Returns `Ok((0, 0))` without calling `f` if `from == to`, if either id is unknown
    /// (stale, released), or if `to` would not accept data from [`Stack::send`] (not
    /// SYN-SENT, SYN-RECEIVED, ESTABLISHED or CLOSE-WAIT, or a FIN queued). `from` only
    /// needs to be readable as for [`Stack::recv`]: a connection that ended in an orderly
    /// way still gives its buffered bytes.
    ///
    /// Afterwards `from` is treated as after [`Stack::recv`] (the next arriving data is
    /// reported as [`Event::Readable`] again, a window update goes out once reading opened
    /// the window enough, an emptied ring returns to the spare buffers) and `to` as after
    /// [`Stack::send`] ([`Event::Writable`] is reported once room frees up if bytes were
    /// left in `from`, i.e. `to`'s room or `f` was the limit); both are queued for
    /// [`Stack::poll_transmit`].
    ///
    /// EOF is not spliced: once `from`'s peer has sent FIN and every byte before it was
    /// spliced, the caller sees the EOF as [`Stack::recv`] returning `Ok(0)` (after
    /// [`Event::PeerClosed`]) and forwards it with [`Stack::close`].
    pub fn splice<E>(
        &mut self,
        now: Instant,
        from: ConnId,
        to: ConnId,
        mut f: impl FnMut(&mut [u8], &mut [u8]) -> Result<(usize, usize), E>,
    ) -> Result<(usize, usize), E> {
        let Some((src, dst)) = two_conns_in(&mut self.slots, from, to) else {
            return Ok((0, 0));
        };
        if !dst.accepts_data() {
            return Ok((0, 0));
        }
        src.readable_pending = false;
        if dst.send_buf.allocated() == 0 && !src.recv_buf.is_empty() {
            if let Some(v) = take_spare(&mut self.spare, dst.send_buf.capacity()) {
                let back = dst.send_buf.give_storage(v);
                put_spare(&mut self.spare, back);
            }
        }
        let (mut consumed, mut produced) = (0usize, 0usize);
        let mut failed = None;
        let mut called = false;
        loop {
            let s = src.recv_buf.readable_first_mut();
            if s.is_empty() {
                break;
            }
            let d = dst.send_buf.free_first_mut();
            if d.is_empty() {
                break;
            }
            let (s_len, d_len) = (s.len(), d.len());
            called = true;
            match f(s, d) {
                Ok((c, p)) => {
                    let (c, p) = (c.min(s_len), p.min(d_len));
                    src.recv_buf.consume(c);
                    dst.send_buf.commit(p);
                    consumed += c;
                    produced += p;
                    if c == 0 && p == 0 {
                        break;
                    }
                }
                Err(e) => {
                    failed = Some(e);
                    break;
                }
            }
        }
        if consumed > 0 {
            src.on_read();
        }
        if !src.recv_buf.is_empty() {
            // Stopped by `to`'s room (or by `f`): wake the caller once room frees up.
            dst.writable_wanted = true;
        }
        if called {
            self.after(now, from);
            self.after(now, to);
        }
        match failed {
            Some(e) => Err(e),
            None => Ok((consumed, produced)),
        }
    }

    /// Half-close: FIN after the queued data (RFC 9293 §3.10.4).
    pub fn close(&mut self, now: Instant, id: ConnId) {
        if let Some(c) = self.conn_mut(id) {
            c.close(now);
            self.after(now, id);
        }
    }

    /// Abort: RST if synchronized, forget the connection (RFC 9293 §3.10.5).
    pub fn abort(&mut self, now: Instant, id: ConnId) {
        if let Some(c) = self.conn_mut(id) {
            c.abort();
            self.after(now, id);
            self.release(id);
        }
    }

    /// Set Nagle's algorithm on or off for one connection.
    pub fn set_nagle(&mut self, id: ConnId, on: bool) {
        if let Some(c) = self.conn_mut(id) {
            c.cfg.nagle = on;
        }
    }

    // ---- events ----

    /// The next application event.
    pub fn poll_event(&mut self) -> Option<(ConnId, Event)> {
        self.events.pop_front()
    }

    // ---- time ----

    /// The earliest instant at which [`Stack::handle_timeout`] has work.
    pub fn next_deadline(&self) -> Option<Instant> {
        self.deadlines.first().map(|d| d.0)
    }

    /// Fire every timer due at `now`.
    pub fn handle_timeout(&mut self, now: Instant) {
        let mut due = Vec::new();
        while let Some(&(t, idx)) = self.deadlines.first() {
            if t > now {
                break;
            }
            self.deadlines.pop_first();
            if let Some(s) = self.slots.get_mut(idx as usize) {
                s.deadline = None;
                due.push(ConnId {
                    index: idx,
                    generation: s.generation,
                });
            }
        }
        for id in due {
            let Some(slot) = self.slots.get_mut(id.index as usize) else {
                continue;
            };
            let Some(c) = slot.conn.as_deref_mut() else {
                continue;
            };
            let mut ctx = Ctx {
                stats: &mut self.stats,
                challenge: &mut self.challenge,
                time_wait: self.config.time_wait,
            };
            c.on_timeout(now, &mut ctx);
            self.after(now, id);
        }
    }

    // ---- packets ----

    /// Process one received IPv4 or IPv6 packet. Malformed input is dropped and counted.
    pub fn handle(&mut self, now: Instant, packet: &[u8]) {
        self.stats.packets_in += 1;
        let view = match ip::parse(packet) {
            Ok(v) => v,
            Err(IpError::Fragment) => {
                self.stats.fragments += 1;
                return;
            }
            Err(_) => {
                self.stats.bad_ip += 1;
                return;
            }
        };
        let ours = self.config.local_addrs.contains(&view.dst);
        match view.protocol {
            IpProtocol::Tcp => self.handle_tcp(now, view.src, view.dst, view.payload, ours),
            IpProtocol::Icmp | IpProtocol::Icmpv6 => {
                let action = if view.protocol == IpProtocol::Icmp {
                    icmp::handle_v4(view.src, view.dst, view.payload, ours)
                } else {
                    icmp::handle_v6(view.src, view.dst, view.payload, ours)
                };
                self.handle_icmp(now, action);
            }
            _ => self.stats.unknown_protocol += 1,
        }
    }

    fn handle_icmp(&mut self, now: Instant, action: IcmpAction) {
        match action {
            IcmpAction::Reply(p) => {
                self.stats.icmp_echo_replies += 1;
                self.push_control(p);
            }
            IcmpAction::Pmtu {
                local,
                local_port,
                remote,
                remote_port,
                seq: sq,
                mtu,
            } => {
                let id = self.find(
                    IpEndpoint::new(local, local_port),
                    IpEndpoint::new(remote, remote_port),
                );
                let applied = id
                    .and_then(|id| self.conn_mut(id).map(|c| c.on_pmtu(sq, mtu)))
                    .unwrap_or(false);
                if let (true, Some(id)) = (applied, id) {
                    self.stats.icmp_pmtu += 1;
                    self.after(now, id);
                } else {
                    self.stats.icmp_ignored += 1;
                }
            }
            IcmpAction::Ignore => self.stats.icmp_ignored += 1,
        }
    }

    fn handle_tcp(
        &mut self,
        now: Instant,
        src: IpAddress,
        dst: IpAddress,
        payload: &[u8],
        ours: bool,
    ) {
        let verify = !self.config.checksum_offload.rx_trusted;
        let seg = match Segment::parse_with(payload, &src, &dst, verify) {
            Ok(s) => s,
            Err(SegmentError::Checksum) => {
                self.stats.bad_checksum += 1;
                return;
            }
            Err(SegmentError::Truncated) => {
                self.stats.bad_tcp += 1;
                return;
            }
        };
        let tuple = Tuple {
            local: IpEndpoint::new(dst, seg.dst_port),
            remote: IpEndpoint::new(src, seg.src_port),
        };
        let mut iss_override = None;
        if let Some(&id) = self.by_tuple.get(&tuple) {
            let reuse = match self.conn(id) {
                // RFC 9293 §3.10.7.4 note / RFC 6191: a new SYN in TIME-WAIT with a higher
                // sequence number (or newer timestamp) reopens the 4-tuple.
                Some(c) if c.state == State::TimeWait && seg.syn && !seg.ack && !seg.rst => {
                    let newer_ts = seg.opts.timestamp.is_some_and(|(v, _)| c.ts.is_newer(v));
                    seq::gt(seg.seq, c.rcv.nxt) || newer_ts
                }
                _ => false,
            };
            if reuse {
                iss_override = self.end_time_wait(now, id);
            } else {
                {
                    if let Some(slot) = self.slots.get_mut(id.index as usize) {
                        if let Some(c) = slot.conn.as_deref_mut() {
                            if !seg.payload.is_empty() && c.recv_buf.allocated() == 0 {
                                if let Some(v) = take_spare(&mut self.spare, c.recv_buf.capacity())
                                {
                                    let back = c.recv_buf.give_storage(v);
                                    put_spare(&mut self.spare, back);
                                }
                            }
                            let mut ctx = Ctx {
                                stats: &mut self.stats,
                                challenge: &mut self.challenge,
                                time_wait: self.config.time_wait,
                            };
                            c.on_segment(now, &seg, &mut ctx);
                        }
                    }
                    self.after(now, id);
                    return;
                }
            }
        }
        if seg.rst {
            self.stats.no_listener += 1;
            return;
        }
        let listener = [
            ListenAddr {
                addr: Some(dst),
                port: Some(seg.dst_port),
            },
            ListenAddr {
                addr: None,
                port: Some(seg.dst_port),
            },
            ListenAddr {
                addr: Some(dst),
                port: None,
            },
            ListenAddr {
                addr: None,
                port: None,
            },
        ]
        .iter()
        .find_map(|k| self.listeners.get(k))
        .cloned();
        match listener {
            Some(l) if seg.syn && !seg.ack => {
                self.passive_open(now, tuple, &seg, l, iss_override);
            }
            Some(_) if !seg.ack => {
                // LISTEN: neither SYN nor ACK: drop.
                self.stats.no_listener += 1;
            }
            found => {
                self.stats.no_listener += 1;
                if found.is_some() || ours {
                    // RFC 9293 §3.10.7.1: answer with RST.
                    if seg.ack {
                        self.queue_rst(&tuple, seg.ack_number, None);
                    } else {
                        let ack = seq::add(seg.seq, seq::len32(seg.len()));
                        self.queue_rst(&tuple, TcpSeqNumber(0), Some(ack));
                    }
                } else {
                    self.stats.not_ours += 1;
                }
            }
        }
    }

    fn passive_open(
        &mut self,
        now: Instant,
        tuple: Tuple,
        seg: &Segment<'_>,
        l: ListenConfig,
        iss: Option<TcpSeqNumber>,
    ) {
        if self.half_open >= self.config.max_half_open {
            self.stats.syn_flood_drops += 1;
            return;
        }
        if self.live >= self.config.max_connections {
            self.stats.table_full += 1;
            return;
        }
        let cfg = l.conn.unwrap_or_else(|| self.config.conn.clone());
        let eno = cfg
            .eno
            .as_ref()
            .map(|e| EnoHook::passive(e, &cfg.eno_hooks, tuple.local, tuple.remote));
        let mut conn = self.new_conn(now, tuple, cfg, true, iss);
        conn.eno = eno;
        if !seg.payload.is_empty() {
            if let Some(e) = conn.eno.as_ref() {
                if e.must_discard_syn_data(seg.opts.eno) {
                    self.stats.eno_syn_data_discarded += 1;
                }
            }
        }
        conn.on_listen_syn(now, seg, l.hold_syn);
        let id = self.insert(conn);
        if let Some(s) = self.slots.get_mut(id.index as usize) {
            s.half_open = true;
            self.half_open += 1;
        }
        if l.hold_syn {
            self.push_event(
                id,
                Event::SynReceived {
                    local: tuple.local,
                    remote: tuple.remote,
                },
            );
        }
        self.after(now, id);
    }

    /// Write the next outgoing IP packet into `buf`; returns its length.
    pub fn poll_transmit(&mut self, now: Instant, buf: &mut [u8]) -> Option<usize> {
        while let Some(p) = self.control.pop_front() {
            if let Some(dst) = buf.get_mut(..p.len()) {
                dst.copy_from_slice(&p);
                self.stats.packets_out += 1;
                return Some(p.len());
            }
        }
        while let Some(id) = self.tx.pop_front() {
            let Some(slot) = self.slots.get_mut(id.index as usize) else {
                continue;
            };
            if slot.generation != id.generation {
                continue;
            }
            slot.queued = false;
            let Some(c) = slot.conn.as_deref_mut() else {
                continue;
            };
            let local = c.tuple.local.addr;
            let remote = c.tuple.remote.addr;
            let hl = ip::header_len(&local);
            let max = buf.len().min(c.pmtu);
            let mut ctx = Ctx {
                stats: &mut self.stats,
                challenge: &mut self.challenge,
                time_wait: self.config.time_wait,
            };
            let n = match buf.get_mut(hl..max) {
                Some(tcp_buf) => c.poll_segment(now, tcp_buf, &mut ctx),
                None => None,
            };
            match n {
                Some(n) => {
                    self.ident = self.ident.wrapping_add(1);
                    let written =
                        ip::emit_header(buf, local, remote, IpProtocol::Tcp, n, self.ident);
                    self.after(now, id);
                    self.enqueue(id);
                    if written.is_some() {
                        self.stats.packets_out += 1;
                        return Some(hl + n);
                    }
                }
                None => {
                    self.settle(now, id);
                }
            }
        }
        None
    }

    // ---- internals ----

    /// The error `recv` reports for a connection that is gone: why it ended, while its slot
    /// has not been reused.
    fn ended_error(&self, id: ConnId) -> RecvError {
        let last = self
            .slots
            .get(id.index as usize)
            .filter(|s| s.conn.is_none() && s.generation == id.generation.wrapping_add(1))
            .and_then(|s| s.last_end);
        match last {
            Some(EndReason::Reset) => RecvError::Reset,
            Some(EndReason::Timeout) => RecvError::TimedOut,
            _ => RecvError::Closed,
        }
    }

    fn new_conn(
        &mut self,
        now: Instant,
        tuple: Tuple,
        cfg: ConnConfig,
        passive: bool,
        iss: Option<TcpSeqNumber>,
    ) -> Conn {
        let iss = iss.unwrap_or_else(|| self.isn.isn(now, &tuple));
        let ts_offset = self.isn.ts_offset(&tuple);
        let mtu = cfg.mtu.unwrap_or(self.config.mtu);
        Conn::new(ConnParams {
            tuple,
            cfg,
            iss,
            ts_offset,
            mtu,
            passive,
            now,
            csum_partial: self.config.checksum_offload.tx_partial,
        })
    }

    fn insert(&mut self, conn: Conn) -> ConnId {
        let tuple = conn.tuple;
        let index = match self.free.pop() {
            Some(i) => i,
            None => {
                self.slots.push(Slot {
                    generation: 0,
                    last_end: None,
                    conn: None,
                    queued: false,
                    deadline: None,
                    half_open: false,
                });
                u32::try_from(self.slots.len() - 1).unwrap_or(u32::MAX)
            }
        };
        let mut id = ConnId {
            index,
            generation: 0,
        };
        if let Some(s) = self.slots.get_mut(index as usize) {
            s.conn = Some(Box::new(conn));
            s.queued = false;
            s.deadline = None;
            s.half_open = false;
            id.generation = s.generation;
        }
        self.live += 1;
        self.by_tuple.insert(tuple, id);
        id
    }

    fn enqueue(&mut self, id: ConnId) {
        if let Some(s) = self.slots.get_mut(id.index as usize) {
            if !s.queued && s.generation == id.generation && s.conn.is_some() {
                s.queued = true;
                self.tx.push_back(id);
            }
        }
    }

    fn push_event(&mut self, id: ConnId, e: Event) {
        if self.events.len() >= self.config.max_events {
            self.stats.events_dropped += 1;
        } else {
            self.events.push_back((id, e));
        }
    }

    fn push_control(&mut self, p: Vec<u8>) {
        if self.control.len() >= self.config.max_control_packets {
            self.stats.control_dropped += 1;
        } else {
            self.control.push_back(p);
        }
    }

    /// Queue a RST from `tuple.local` to `tuple.remote`.
    fn queue_rst(&mut self, tuple: &Tuple, sq: TcpSeqNumber, ack: Option<TcpSeqNumber>) {
        let hl = ip::header_len(&tuple.local.addr);
        let mut p = vec![0u8; hl + 20];
        let hdr = OutHeader {
            seq: sq,
            ack: ack.unwrap_or(TcpSeqNumber(0)),
            flags: Flags {
                rst: true,
                ack: ack.is_some(),
                ..Flags::default()
            },
            window: 0,
        };
        let Some(tcp) = p.get_mut(hl..) else { return };
        let partial = self.config.checksum_offload.tx_partial;
        let opts = OutOptions::default();
        let Some(n) = segment::emit_with(tcp, tuple, &hdr, &opts, (&[], &[]), partial) else {
            return;
        };
        self.ident = self.ident.wrapping_add(1);
        if ip::emit_header(
            &mut p,
            tuple.local.addr,
            tuple.remote.addr,
            IpProtocol::Tcp,
            n,
            self.ident,
        )
        .is_some()
        {
            self.stats.rst_sent += 1;
            self.push_control(p);
        }
    }

    /// Bookkeeping after anything touched connection `id` (events, ENO outcome, half-open
    /// count, end of life, deadline), then queue it for transmission.
    fn after(&mut self, now: Instant, id: ConnId) {
        if self.settle(now, id) {
            self.enqueue(id);
        }
    }

    /// Bookkeeping after anything touched connection `id`; true if it is still alive.
    fn settle(&mut self, now: Instant, id: ConnId) -> bool {
        let Some(slot) = self.slots.get_mut(id.index as usize) else {
            return false;
        };
        if slot.generation != id.generation {
            return false;
        }
        let Some(c) = slot.conn.as_deref_mut() else {
            return false;
        };
        // ENO (RFC 8547 §4.6–4.7).
        let mut eno_abort = false;
        if let Some(e) = c.eno.as_mut() {
            if e.take_new_outcome() {
                c.events.push(Event::EnoOutcome);
            }
            eno_abort = e.must_abort() && c.end.is_none();
        }
        if eno_abort {
            c.abort();
            c.events.push(Event::Aborted);
        }
        // Move the connection's events without allocating (its vector keeps its capacity).
        for e in c.events.drain(..) {
            if self.events.len() >= self.config.max_events {
                self.stats.events_dropped += 1;
            } else {
                self.events.push_back((id, e));
            }
        }
        // Drained buffers go to the spares (an idle connection holds none).
        put_spare(&mut self.spare, c.send_buf.take_storage(false));
        put_spare(&mut self.spare, c.recv_buf.take_storage(!c.ooo.is_empty()));
        let leaving_half_open = slot.half_open && c.state != State::SynReceived;
        let ended = c.state == State::Closed;
        let rst = if ended && c.rst_on_end {
            c.rst_on_end = false;
            // `snd.max` is RFC 9293's SND.NXT (see `Conn::send_ack`).
            Some((c.tuple, c.snd.max, c.rcv.nxt))
        } else {
            None
        };
        let tuple = c.tuple;
        let keep_for_app =
            c.end == Some(EndReason::Closed) && (!c.recv_buf.is_empty() || (c.eof && !c.eof_seen));
        let deadline = if ended { None } else { c.timers.next() };
        let _ = now;
        if leaving_half_open {
            slot.half_open = false;
            self.half_open = self.half_open.saturating_sub(1);
        }
        if slot.deadline != deadline {
            if let Some(old) = slot.deadline {
                self.deadlines.remove(&(old, id.index));
            }
            if let Some(new) = deadline {
                self.deadlines.insert((new, id.index));
            }
            slot.deadline = deadline;
        }
        if let Some((t, sq, ack)) = rst {
            self.queue_rst(&t, sq, Some(ack));
        }
        if ended {
            if self.by_tuple.get(&tuple) == Some(&id) {
                self.by_tuple.remove(&tuple);
            }
            if !keep_for_app {
                self.release(id);
            }
            false
        } else {
            true
        }
    }

    /// End TIME-WAIT connection `id` so that a new incarnation can take its 4-tuple; returns
    /// the new incarnation's ISS, beyond every sequence number the old one used
    /// (RFC 1122 §4.2.2.13 (1), RFC 6191 §2).
    fn end_time_wait(&mut self, now: Instant, id: ConnId) -> Option<TcpSeqNumber> {
        let c = self.conn_mut(id)?;
        let iss = seq::add(c.snd.max, 128 * 1024);
        c.finish(EndReason::Closed);
        self.after(now, id);
        self.release(id);
        Some(iss)
    }

    /// Free the slot of an ended connection.
    fn release(&mut self, id: ConnId) {
        let Some(slot) = self.slots.get_mut(id.index as usize) else {
            return;
        };
        if slot.generation != id.generation || slot.conn.is_none() {
            return;
        }
        if let Some(c) = slot.conn.as_deref() {
            if self.by_tuple.get(&c.tuple) == Some(&id) {
                self.by_tuple.remove(&c.tuple);
            }
        }
        if slot.half_open {
            slot.half_open = false;
            self.half_open = self.half_open.saturating_sub(1);
        }
        if let Some(old) = slot.deadline.take() {
            self.deadlines.remove(&(old, id.index));
        }
        slot.last_end = slot.conn.as_deref().and_then(|c| c.end);
        slot.conn = None;
        slot.generation = slot.generation.wrapping_add(1);
        self.free.push(id.index);
        self.live = self.live.saturating_sub(1);
    }
}
