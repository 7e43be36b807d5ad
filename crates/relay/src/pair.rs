//! One relayed connection: the application's INNER connection and the OUTER connection to
//! the peer, and the byte pump between them (DESIGN.md "Data path" steps 3 and 4).
//!
//! Up (inner → outer): plaintext read from the inner leg goes through
//! [`tcpcrypt::Session::write`] (RFC 8548 §3.6 frames) and the session's stream goes into the
//! outer leg's send buffer, which therefore holds ciphertext: a retransmission resends the
//! same bytes under the same nonce. Down (outer → inner): stream bytes go through
//! [`tcpcrypt::Session::handle_stream`], plaintext from [`tcpcrypt::Session::read`] into the
//! inner leg. Every hop reads only what the next hop can take (one chunk staged at most).
//!
//! Ends: the inner leg's FIN becomes our FINp frame followed by the outer TCP FIN, a
//! verified FINp from the peer becomes the inner FIN (RFC 8548 §3.7); each direction closes
//! on its own (half-close). A tcpcrypt error aborts both legs with RST (RFC 8548 §3.3, §3.6:
//! an error, never EOF).

use stack::{ConnId, Instant, IpEndpoint, RecvError, Stack};
use tcpcrypt::Session;

use crate::config::Policy;

/// Bytes moved per step and staged per direction at most.
pub(crate) const CHUNK: usize = 64 * 1024;

/// Which side opened the pair.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    /// A local application connected to a routed destination.
    Outbound,
    /// A remote client connected to a fronted local service.
    Inbound,
}

/// Life cycle of a pair, as reported by `status`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PairState {
    /// Outbound: the application's SYN is held while the outer connection opens.
    /// Inbound: the outer connection is up, the inner one is opening.
    Connecting,
    /// Bytes flow both ways.
    Established,
    /// One direction has been closed (FIN / FINp forwarded).
    HalfClosed,
    /// Both directions closed; waiting for the legs to finish.
    Closing,
    /// The outer connection timed out; the application's SYN stays unanswered until its
    /// own timeout.
    TimedOut,
}

impl PairState {
    /// A short lowercase name (`connecting`, `established`, `half-closed`, `closing`,
    /// `timed-out`).
    pub fn name(self) -> &'static str {
        match self {
            PairState::Connecting => "connecting",
            PairState::Established => "established",
            PairState::HalfClosed => "half-closed",
            PairState::Closing => "closing",
            PairState::TimedOut => "timed-out",
        }
    }
}

/// How bytes cross the pair once it is relaying.
pub(crate) enum Mode {
    /// No tcpcrypt: bytes are copied as they are.
    Plain,
    /// tcpcrypt: the outer leg carries the session's stream.
    Crypt(Box<Session>),
}

/// Why a pump step failed: the pair must be aborted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum PumpError {
    /// The tcpcrypt session failed (decode, protocol, decrypt or key error).
    Crypto(tcpcrypt::Error),
}

/// A relayed connection.
pub(crate) struct Pair {
    pub(crate) direction: Direction,
    pub(crate) policy: Policy,
    /// The application's own view: its address and its peer's.
    pub(crate) app_local: IpEndpoint,
    pub(crate) app_remote: IpEndpoint,
    pub(crate) inner: Option<ConnId>,
    pub(crate) outer: Option<ConnId>,
    pub(crate) outer_endpoints: Option<(IpEndpoint, IpEndpoint)>,
    /// Outbound: the sequence number of the application's SYN (to quote it in ICMP).
    pub(crate) inner_isn: Option<u32>,
    /// Outbound: the resumption offer put in the outer SYN (RFC 8548 §3.5).
    pub(crate) resume_offer: Option<tcpcrypt::resume::ResumeOffer>,
    pub(crate) state: PairState,
    /// Relaying mode, once the negotiation is decided.
    pub(crate) mode: Option<Mode>,
    /// Outer leg established (ENO outcome may still be pending).
    pub(crate) outer_up: bool,
    /// Timed-out outbound pair: forget the held SYN at this instant.
    pub(crate) hold_until: Option<Instant>,
    /// Application bytes sent by the local application (inner → outer).
    pub(crate) tx_bytes: u64,
    /// Application bytes delivered to the local application (outer → inner).
    pub(crate) rx_bytes: u64,
    /// Plaintext read from the inner leg, not yet taken by the session / outer leg.
    up: Vec<u8>,
    /// Stream bytes (ciphertext or plain) not yet taken by the outer leg.
    up_wire: Vec<u8>,
    /// Plaintext for the inner leg not yet taken by it.
    down: Vec<u8>,
    inner_eof: bool,
    up_closed: bool,
    /// The peer's end of stream: TCP FIN (plain) or verified FINp (crypt).
    down_eof: bool,
    down_closed: bool,
    outer_fin_seen: bool,
    pub(crate) inner_done: bool,
    pub(crate) outer_done: bool,
    /// One leg was reset: deliver what the other leg already accepted, then abort it.
    pub(crate) draining: Option<Leg>,
}

/// One of the two legs of a pair.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Leg {
    /// The application's connection through the TUN.
    Inner,
    /// The connection to the network.
    Outer,
}

impl Pair {
    /// A new pair with only its application view known.
    pub(crate) fn new(
        direction: Direction,
        policy: Policy,
        app_local: IpEndpoint,
        app_remote: IpEndpoint,
    ) -> Pair {
        Pair {
            direction,
            policy,
            app_local,
            app_remote,
            inner: None,
            outer: None,
            outer_endpoints: None,
            inner_isn: None,
            resume_offer: None,
            state: PairState::Connecting,
            mode: None,
            outer_up: false,
            hold_until: None,
            tx_bytes: 0,
            rx_bytes: 0,
            up: Vec::new(),
            up_wire: Vec::new(),
            down: Vec::new(),
            inner_eof: false,
            up_closed: false,
            down_eof: false,
            down_closed: false,
            outer_fin_seen: false,
            inner_done: false,
            outer_done: false,
            draining: None,
        }
    }

    /// The tcpcrypt session, mutable, if encrypted.
    pub(crate) fn session_mut(&mut self) -> Option<&mut Session> {
        match &mut self.mode {
            Some(Mode::Crypt(s)) => Some(s),
            _ => None,
        }
    }

    /// The tcpcrypt session, if encrypted.
    pub(crate) fn session(&self) -> Option<&Session> {
        match &self.mode {
            Some(Mode::Crypt(s)) => Some(s),
            _ => None,
        }
    }

    /// Whether the outer leg's end of stream (TCP FIN) has been read.
    pub(crate) fn outer_fin_seen(&self) -> bool {
        self.outer_fin_seen
    }

    /// Whether the inner leg's end of stream (TCP FIN) has been read.
    pub(crate) fn inner_eof(&self) -> bool {
        self.inner_eof
    }

    /// Whether both directions have been closed by FIN/FINp.
    pub(crate) fn both_closed(&self) -> bool {
        self.up_closed && self.down_closed
    }

    /// While draining after a reset of the other leg: whether everything the dead leg had
    /// handed over has been delivered (acknowledged) on the surviving leg `to`.
    pub(crate) fn drained(&self, stack: &Stack, to: Leg) -> bool {
        match to {
            Leg::Outer => {
                let session_empty = self.session().is_none_or(|s| s.pending_transmit() == 0);
                self.up.is_empty()
                    && self.up_wire.is_empty()
                    && session_empty
                    && self.outer.is_none_or(|o| stack.send_queue(o) == 0)
            }
            Leg::Inner => {
                let session_empty = self.session().is_none_or(|s| s.readable() == 0);
                self.down.is_empty()
                    && session_empty
                    && self.inner.is_none_or(|i| stack.send_queue(i) == 0)
            }
        }
    }

    fn refresh_state(&mut self) {
        if self.mode.is_none() || self.state == PairState::TimedOut {
            return;
        }
        self.state = match (self.up_closed, self.down_closed) {
            (false, false) => PairState::Established,
            (true, true) => PairState::Closing,
            _ => PairState::HalfClosed,
        };
    }

    /// Move bytes both ways until nothing moves. Only call once `mode` is set and both
    /// legs exist.
    pub(crate) fn pump(
        &mut self,
        now: Instant,
        stack: &mut Stack,
        scratch: &mut [u8],
    ) -> Result<(), PumpError> {
        let (Some(inner), Some(outer)) = (self.inner, self.outer) else {
            return Ok(());
        };
        if self.mode.is_none() {
            return Ok(());
        }
        for _ in 0..1024 {
            let up = self.pump_up(now, stack, inner, outer, scratch)?;
            let down = self.pump_down(now, stack, inner, outer, scratch)?;
            if !up && !down {
                break;
            }
        }
        self.refresh_state();
        Ok(())
    }

    /// Inner → outer. Returns whether anything moved.
    fn pump_up(
        &mut self,
        now: Instant,
        stack: &mut Stack,
        inner: ConnId,
        outer: ConnId,
        scratch: &mut [u8],
    ) -> Result<bool, PumpError> {
        let mut moved = false;
        // 1. Stream bytes into the outer leg's send buffer.
        if !self.up_closed {
            moved |= send_leg(now, stack, outer, &mut self.up_wire) > 0;
        }
        // 2. The session's stream (Init messages, frames) into the staging buffer.
        if let Some(Mode::Crypt(s)) = &mut self.mode {
            if self.up_wire.is_empty() && s.pending_transmit() > 0 {
                let buf = scratch.get_mut(..CHUNK).unwrap_or_default();
                let n = s.poll_stream(buf);
                self.up_wire
                    .extend_from_slice(buf.get(..n).unwrap_or_default());
                moved |= n > 0;
            }
        }
        // 3. Staged plaintext into the session (or straight to the wire).
        if !self.up.is_empty() {
            match &mut self.mode {
                Some(Mode::Crypt(s)) => {
                    let n = s.write(&self.up).map_err(PumpError::Crypto)?;
                    if n > 0 {
                        self.up.drain(..n);
                        self.tx_bytes += n as u64;
                        moved = true;
                    }
                }
                Some(Mode::Plain) if self.up_wire.is_empty() => {
                    std::mem::swap(&mut self.up, &mut self.up_wire);
                    moved = true;
                }
                _ => {}
            }
        }
        // 4. Read the inner leg when everything downstream is drained.
        if self.up.is_empty() && !self.inner_eof && self.up_wire.len() < CHUNK {
            match recv_leg(now, stack, inner, scratch) {
                LegRead::Eof => {
                    self.inner_eof = true;
                    moved = true;
                }
                LegRead::Data(data) => {
                    self.up.extend_from_slice(data);
                    if matches!(self.mode, Some(Mode::Plain)) {
                        self.tx_bytes += data.len() as u64;
                    }
                    moved = true;
                }
                LegRead::Nothing => {}
            }
        }
        // 5. End of the inner stream: FINp, then the outer FIN once it is all queued.
        if self.draining.is_some() {
            return Ok(moved);
        }
        if self.inner_eof && self.up.is_empty() && !self.up_closed {
            let drained = match &mut self.mode {
                Some(Mode::Crypt(s)) => {
                    if s.is_established() && !s.fin_sent() {
                        s.close().map_err(PumpError::Crypto)?;
                        moved = true;
                    }
                    s.fin_sent() && s.pending_transmit() == 0
                }
                _ => true,
            };
            if drained && self.up_wire.is_empty() {
                stack.close(now, outer);
                self.up_closed = true;
                moved = true;
            }
        }
        Ok(moved)
    }

    /// Outer → inner. Returns whether anything moved.
    fn pump_down(
        &mut self,
        now: Instant,
        stack: &mut Stack,
        inner: ConnId,
        outer: ConnId,
        scratch: &mut [u8],
    ) -> Result<bool, PumpError> {
        let mut moved = false;
        // 1. Plaintext into the inner leg.
        if !self.down_closed {
            let n = send_leg(now, stack, inner, &mut self.down);
            self.rx_bytes += n as u64;
            moved |= n > 0;
        }
        // 2. Decrypted data out of the session.
        if let Some(Mode::Crypt(s)) = &mut self.mode {
            if self.down.is_empty() && !self.down_eof {
                let buf = scratch.get_mut(..CHUNK).unwrap_or_default();
                match s.read(buf) {
                    Ok(0) => {
                        // RFC 8548 §3.7: a verified FINp frame, after all data.
                        self.down_eof = true;
                        moved = true;
                    }
                    Ok(n) => {
                        self.down
                            .extend_from_slice(buf.get(..n).unwrap_or_default());
                        moved = true;
                    }
                    Err(tcpcrypt::Error::WouldBlock) => {}
                    Err(e) => return Err(PumpError::Crypto(e)),
                }
            }
        }
        // 3. Read the outer leg when the previous stage has room.
        let room = match &self.mode {
            Some(Mode::Crypt(s)) => s.readable() == 0 && self.down.len() < CHUNK,
            _ => self.down.is_empty(),
        };
        if room && !self.outer_fin_seen {
            match recv_leg(now, stack, outer, scratch) {
                LegRead::Eof => {
                    self.outer_fin_seen = true;
                    moved = true;
                    match &mut self.mode {
                        Some(Mode::Crypt(s)) => {
                            s.on_tcp_fin().map_err(PumpError::Crypto)?;
                        }
                        _ => self.down_eof = true,
                    }
                }
                LegRead::Data(data) => {
                    match &mut self.mode {
                        Some(Mode::Crypt(s)) => {
                            s.handle_stream(data).map_err(PumpError::Crypto)?;
                        }
                        _ => self.down.extend_from_slice(data),
                    }
                    moved = true;
                }
                LegRead::Nothing => {}
            }
        }
        // 4. End of the peer's stream: FIN to the application after the last byte.
        if self.draining.is_some() {
            return Ok(moved);
        }
        if self.down_eof && self.down.is_empty() && !self.down_closed {
            stack.close(now, inner);
            self.down_closed = true;
            moved = true;
        }
        Ok(moved)
    }
}

/// Queue as much of `buf` as `conn`'s send buffer takes, removing it from `buf`; returns
/// how many bytes that was (nothing is sent from an empty `buf`).
fn send_leg(now: Instant, stack: &mut Stack, conn: ConnId, buf: &mut Vec<u8>) -> usize {
    if buf.is_empty() {
        return 0;
    }
    let n = stack.send(now, conn, buf);
    buf.drain(..n.min(buf.len()));
    n
}

/// What one read of a leg gave.
enum LegRead<'a> {
    /// The peer's FIN: the stream ended.
    Eof,
    /// Bytes read (never empty).
    Data(&'a [u8]),
    /// Nothing to read now.
    Nothing,
}

/// Read at most one chunk of `conn` into `scratch`. A reset, timeout or close of the leg
/// arrives as an event, so here it reads as nothing.
fn recv_leg<'a>(
    now: Instant,
    stack: &mut Stack,
    conn: ConnId,
    scratch: &'a mut [u8],
) -> LegRead<'a> {
    let buf = scratch.get_mut(..CHUNK).unwrap_or_default();
    match stack.recv(now, conn, buf) {
        Ok(0) => LegRead::Eof,
        Ok(n) => LegRead::Data(buf.get(..n).unwrap_or_default()),
        Err(RecvError::WouldBlock)
        | Err(RecvError::Reset)
        | Err(RecvError::TimedOut)
        | Err(RecvError::Closed) => LegRead::Nothing,
    }
}
