//! One relayed connection: the application's INNER connection and the OUTER connection to
//! the peer, and the byte pump between them (DESIGN.md "Data path" steps 3 and 4).
//!
//! Up (inner → outer): plaintext from the inner leg's receive ring is sealed into RFC 8548
//! §3.6 frames straight in the outer leg's send ring ([`stack::Stack::splice`] with
//! [`tcpcrypt::Session::seal_into`]), which therefore holds ciphertext: a retransmission
//! resends the same bytes under the same nonce. Down (outer → inner): whole frames in the
//! outer leg's receive ring are opened into the inner leg's send ring
//! ([`tcpcrypt::Session::open_into`]). Each byte is copied once between the rings. The
//! buffered path ([`tcpcrypt::Session::write`] / [`tcpcrypt::Session::handle_stream`] and
//! the session's own buffers) carries the Init messages, rekey answers, the FINp frame and
//! frames that wrap around a ring's end; every hop reads only what the next hop can take
//! (one chunk staged at most).
//!
//! Ends: the inner leg's FIN becomes our FINp frame followed by the outer TCP FIN, a
//! verified FINp from the peer becomes the inner FIN (RFC 8548 §3.7); each direction closes
//! on its own (half-close). A tcpcrypt error aborts both legs with RST (RFC 8548 §3.3, §3.6:
//! an error, never EOF).

use stack::{ConnId, Instant, IpEndpoint, RecvError, Stack};
use tcpcrypt::frame::{split_frame, FrameSplit, FRAME_HEADER_LEN, FRAME_OVERHEAD};
use tcpcrypt::Session;

use crate::config::Policy;
use crate::engine::FRAME_DATA;

/// Bytes moved per step and staged per direction at most.
pub(crate) const CHUNK: usize = 64 * 1024;

/// Sealed bytes a session holds for the outer leg at most (its `send_buffer_limit`).
pub(crate) const SESSION_BUFFER: usize = 2 * CHUNK;

/// Plaintext the session is offered less than its free room: the frames' own bytes
/// (RFC 8548 §4.2: 20 bytes per frame) must fit too.
const FRAMING_MARGIN: usize = 1024;

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
    /// Of `tx_bytes` and `rx_bytes`, those moved by `Stack::splice` since the engine last
    /// took the count ([`crate::RelayStats::spliced`]).
    pub(crate) spliced: u64,
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
            spliced: 0,
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
    /// legs exist. `buffer` is each leg's send buffer size (what the stack accepts when
    /// nothing is queued).
    pub(crate) fn pump(
        &mut self,
        now: Instant,
        stack: &mut Stack,
        scratch: &mut [u8],
        buffer: usize,
    ) -> Result<(), PumpError> {
        let (Some(inner), Some(outer)) = (self.inner, self.outer) else {
            return Ok(());
        };
        if self.mode.is_none() {
            return Ok(());
        }
        let legs = Legs {
            inner,
            outer,
            buffer,
        };
        for _ in 0..1024 {
            let up = self.pump_up(now, stack, legs, scratch)?;
            let down = self.pump_down(now, stack, legs, scratch)?;
            if !up && !down {
                break;
            }
        }
        self.refresh_state();
        Ok(())
    }

    /// Whether bytes may go straight from one leg's receive ring into the other's send
    /// ring (`Stack::splice`) in this direction: nothing is staged in the pair and, when
    /// encrypted, nothing in the session's buffers for it (stream order), the session is
    /// established and that direction has not ended.
    fn fast_path(&self, dir: Leg) -> bool {
        if self.draining.is_some() {
            return false;
        }
        match dir {
            // Up: towards the outer leg.
            Leg::Outer => {
                self.up.is_empty()
                    && self.up_wire.is_empty()
                    && !self.up_closed
                    && !self.inner_eof
                    && match &self.mode {
                        Some(Mode::Crypt(s)) => {
                            s.is_established() && !s.fin_sent() && s.pending_transmit() == 0
                        }
                        Some(Mode::Plain) => true,
                        None => false,
                    }
            }
            // Down: towards the inner leg.
            Leg::Inner => {
                self.down.is_empty()
                    && !self.down_eof
                    && !self.down_closed
                    && !self.outer_fin_seen
                    && match &self.mode {
                        Some(Mode::Crypt(s)) => {
                            s.is_established()
                                && !s.fin_received()
                                && s.pending_input() == 0
                                && s.readable() == 0
                        }
                        Some(Mode::Plain) => true,
                        None => false,
                    }
            }
        }
    }

    /// One fast-path step towards `to` (the outer leg: up, sealed; the inner leg: down,
    /// opened): [`Stack::splice`] from the other leg's receive ring into `to`'s send ring.
    /// Counts the plaintext moved (`tx_bytes` up, `rx_bytes` down, and `spliced`); returns
    /// whether the source gave anything.
    fn splice(
        &mut self,
        now: Instant,
        stack: &mut Stack,
        legs: Legs,
        to: Leg,
    ) -> Result<bool, PumpError> {
        let (from, to_id) = match to {
            Leg::Outer => (legs.inner, legs.outer),
            Leg::Inner => (legs.outer, legs.inner),
        };
        let (taken, given) = match (&mut self.mode, to) {
            (Some(Mode::Crypt(s)), Leg::Outer) => stack
                .splice(now, from, to_id, |src, dst| s.seal_into(src, dst))
                .map_err(PumpError::Crypto)?,
            (Some(Mode::Crypt(s)), Leg::Inner) => stack
                .splice(now, from, to_id, |src, dst| s.open_into(src, dst))
                .map_err(PumpError::Crypto)?,
            _ => splice_copy(now, stack, from, to_id),
        };
        // Plaintext: what was sealed (taken from the inner ring) or opened (given to it).
        let (plain, count) = match to {
            Leg::Outer => (taken as u64, &mut self.tx_bytes),
            Leg::Inner => (given as u64, &mut self.rx_bytes),
        };
        *count += plain;
        self.spliced += plain;
        Ok(taken > 0)
    }

    /// Inner → outer. Returns whether anything moved.
    ///
    /// Normally bytes go from the inner leg's receive ring straight into the outer leg's
    /// send ring, sealed into frames on the way ([`Stack::splice`] with
    /// [`Session::seal_into`]): one copy. The buffered path (through `scratch`, the
    /// session's send buffer and, for what a stage still refuses, `up` / `up_wire`) carries
    /// the Init messages, rekey answers, the FINp frame and what the fast path cannot take
    /// (a ring's free room that wraps in the middle of a frame).
    fn pump_up(
        &mut self,
        now: Instant,
        stack: &mut Stack,
        legs: Legs,
        scratch: &mut [u8],
    ) -> Result<bool, PumpError> {
        let Legs { inner, outer, .. } = legs;
        let mut moved = false;
        // 1. Staged stream bytes into the outer leg's send buffer.
        if !self.up_closed {
            moved |= send_leg(now, stack, outer, &mut self.up_wire) > 0;
        }
        // 2. The session's stream (Init messages, frames) into the outer leg.
        if let Some(Mode::Crypt(s)) = &mut self.mode {
            let room = legs.offer(stack, outer);
            if self.up_wire.is_empty() && s.pending_transmit() > 0 {
                let buf = scratch.get_mut(..room).unwrap_or_default();
                let n = s.poll_stream(buf);
                let data = buf.get(..n).unwrap_or_default();
                let sent = if self.up_closed {
                    0
                } else {
                    stack.send(now, outer, data)
                };
                self.up_wire
                    .extend_from_slice(data.get(sent..).unwrap_or_default());
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
        // 4. The fast path: inner receive ring → (sealed) → outer send ring.
        let fast = self.fast_path(Leg::Outer);
        if fast {
            moved |= self.splice(now, stack, legs, Leg::Outer)?;
        }
        // 5. Read the inner leg when everything downstream is drained: as much as the
        //    session (or, plain, the outer leg) takes. On the fast path only to learn of
        //    the end of stream, or, encrypted, for a chunk that the outer leg has room
        //    for but not in one piece (its free room wraps within a frame's length).
        let limit = if fast {
            let queued = stack.recv_queue(inner);
            let room = legs.offer(stack, outer);
            match &self.mode {
                _ if queued == 0 => 1,
                Some(Mode::Crypt(_)) if room > 2 * FRAME_OVERHEAD => {
                    (room - FRAME_OVERHEAD).min(FRAME_DATA)
                }
                _ => 0,
            }
        } else {
            match &self.mode {
                // Established: what the session or the outer leg still holds drains first,
                // then the fast path resumes (reading more here would keep it buffered).
                Some(Mode::Crypt(s)) if s.is_established() && self.draining.is_none() => 0,
                Some(Mode::Crypt(s)) => SESSION_BUFFER
                    .saturating_sub(s.pending_transmit() + FRAMING_MARGIN)
                    .min(CHUNK),
                _ if self.up_wire.is_empty() => legs.offer(stack, outer),
                _ => 0,
            }
        };
        if self.up.is_empty() && !self.inner_eof && limit > 0 {
            match recv_leg(
                now,
                stack,
                inner,
                scratch.get_mut(..limit).unwrap_or_default(),
            ) {
                LegRead::Eof => {
                    self.inner_eof = true;
                    moved = true;
                }
                LegRead::Data(data) => {
                    let taken = match &mut self.mode {
                        Some(Mode::Crypt(s)) => s.write(data).map_err(PumpError::Crypto)?,
                        _ => {
                            let n = stack.send(now, outer, data);
                            self.up_wire
                                .extend_from_slice(data.get(n..).unwrap_or_default());
                            data.len()
                        }
                    };
                    // Crypt: what the session refused waits in `up` (counted when taken).
                    self.up
                        .extend_from_slice(data.get(taken..).unwrap_or_default());
                    self.tx_bytes += taken as u64;
                    moved = true;
                }
                LegRead::Nothing => {}
            }
        }
        // 6. End of the inner stream: FINp, then the outer FIN once it is all queued.
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

    /// Outer → inner. Returns whether anything moved. As in [`Pair::pump_up`], whole
    /// frames normally go from the outer leg's receive ring straight into the inner leg's
    /// send ring, opened on the way ([`Session::open_into`]); the buffered path (the
    /// session's receive buffers, `scratch`, `down`) carries the Init messages, a frame
    /// that wraps around either ring, and whatever arrives before the session is
    /// established.
    fn pump_down(
        &mut self,
        now: Instant,
        stack: &mut Stack,
        legs: Legs,
        scratch: &mut [u8],
    ) -> Result<bool, PumpError> {
        let Legs { inner, outer, .. } = legs;
        let mut moved = false;
        // 1. Staged plaintext into the inner leg.
        if !self.down_closed {
            let n = send_leg(now, stack, inner, &mut self.down);
            self.rx_bytes += n as u64;
            moved |= n > 0;
        }
        // 2. The fast path: outer receive ring → (opened) → inner send ring.
        let fast = self.fast_path(Leg::Inner);
        if fast {
            moved |= self.splice(now, stack, legs, Leg::Inner)?;
        }
        let room = legs.offer(stack, inner);
        // 3. Decrypted data out of the session, into the inner leg. With nothing readable
        //    a one-byte read still learns of the end of stream or a failure.
        if let Some(Mode::Crypt(s)) = &mut self.mode {
            let len = if s.readable() == 0 { 1 } else { room };
            if self.down.is_empty() && !self.down_eof {
                let buf = scratch.get_mut(..len).unwrap_or_default();
                match s.read(buf) {
                    Ok(0) => {
                        // RFC 8548 §3.7: a verified FINp frame, after all data.
                        self.down_eof = true;
                        moved = true;
                    }
                    Ok(n) => {
                        let data = buf.get(..n).unwrap_or_default();
                        let sent = if self.down_closed {
                            0
                        } else {
                            stack.send(now, inner, data)
                        };
                        self.rx_bytes += sent as u64;
                        self.down
                            .extend_from_slice(data.get(sent..).unwrap_or_default());
                        moved = true;
                    }
                    Err(tcpcrypt::Error::WouldBlock) => {}
                    Err(e) => return Err(PumpError::Crypto(e)),
                }
            }
        }
        // 4. Read the outer leg when the previous stage has room (plain: as much as the
        //    inner leg takes). On the fast path only to learn of the end of stream or,
        //    encrypted, to take a whole frame the splice could not (it wraps around the
        //    end of either ring) through the session's buffers. Encrypted with a partial
        //    frame buffered: exactly its rest, so that the fast path resumes after it.
        //    (Step 3 may just have made the fast path possible again: then the next round
        //    splices first.)
        let fast_now = self.fast_path(Leg::Inner);
        let limit = match &self.mode {
            _ if fast_now && stack.recv_queue(outer) == 0 => 1,
            Some(Mode::Crypt(_)) if fast_now && fast => wrapped_frame(stack, outer, room),
            _ if fast_now => 0,
            Some(Mode::Crypt(s)) if s.readable() > 0 || self.down.len() >= CHUNK => 0,
            Some(Mode::Crypt(s)) if s.is_established() && s.pending_input() > 0 => {
                s.input_needed().clamp(1, CHUNK)
            }
            // Established, nothing buffered in the session, plaintext staged: it drains
            // first, then the fast path resumes.
            Some(Mode::Crypt(s))
                if s.is_established() && !s.fin_received() && !self.down.is_empty() =>
            {
                0
            }
            Some(Mode::Crypt(_)) => CHUNK,
            _ if self.down.is_empty() => room,
            _ => 0,
        };
        if limit > 0 && !self.outer_fin_seen {
            match recv_leg(
                now,
                stack,
                outer,
                scratch.get_mut(..limit).unwrap_or_default(),
            ) {
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
                        _ => {
                            let sent = if self.down_closed {
                                0
                            } else {
                                stack.send(now, inner, data)
                            };
                            self.rx_bytes += sent as u64;
                            self.down
                                .extend_from_slice(data.get(sent..).unwrap_or_default());
                        }
                    }
                    moved = true;
                }
                LegRead::Nothing => {}
            }
        }
        // 5. End of the peer's stream: FIN to the application after the last byte.
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

/// Plain relaying's fast path: copy what `to`'s send ring takes of `from`'s receive ring.
/// Returns (bytes taken, bytes given), equal.
fn splice_copy(now: Instant, stack: &mut Stack, from: ConnId, to: ConnId) -> (usize, usize) {
    let copy = |src: &mut [u8], dst: &mut [u8]| {
        let n = bytecopy::copy(dst, src);
        Ok::<_, core::convert::Infallible>((n, n))
    };
    match stack.splice(now, from, to, copy) {
        Ok(moved) => moved,
        Err(never) => match never {},
    }
}

/// After a fast-path splice of `outer` into the inner leg: the length of the frame at the
/// head of `outer`'s receive queue if it is all there and the inner leg has `room` for its
/// data, so that the splice must have stopped for a ring wrap (read it the buffered way);
/// else 0 (wait for the rest of the frame or for room). A malformed header also gives a length
/// to read, so that the session reports the error.
fn wrapped_frame(stack: &Stack, outer: ConnId, room: usize) -> usize {
    let mut head = [0u8; FRAME_HEADER_LEN];
    if stack.peek(outer, &mut head) < FRAME_HEADER_LEN {
        return 0;
    }
    let len = match split_frame(&head, 0) {
        Ok(FrameSplit::Frame(len)) | Ok(FrameSplit::Incomplete(len)) => len,
        Err(_) => return FRAME_HEADER_LEN,
    };
    // The frame's data (its length less the framing) must fit: frames of up to 64 KiB
    // from other implementations are larger than `room` can ever be (one chunk).
    if stack.recv_queue(outer) >= len && room >= len.saturating_sub(FRAME_OVERHEAD) {
        len.min(CHUNK)
    } else {
        0
    }
}

/// The two legs of a relaying pair and their send buffer size.
#[derive(Debug, Clone, Copy)]
struct Legs {
    inner: ConnId,
    outer: ConnId,
    buffer: usize,
}

impl Legs {
    /// How many bytes to offer `conn` at once: its free send-buffer room, at most
    /// [`CHUNK`], and at least one byte, so that a full leg refuses something and the
    /// stack reports [`stack::Event::Writable`] once it has room again.
    fn offer(&self, stack: &Stack, conn: ConnId) -> usize {
        self.buffer
            .saturating_sub(stack.send_queue(conn))
            .clamp(1, CHUNK)
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

/// Read at most `buf.len()` bytes (never 0: an empty read would look like the end of
/// stream) of `conn` into `buf`. A reset, timeout or close of the leg arrives as an
/// event, so here it reads as nothing.
fn recv_leg<'a>(now: Instant, stack: &mut Stack, conn: ConnId, buf: &'a mut [u8]) -> LegRead<'a> {
    if buf.is_empty() {
        return LegRead::Nothing;
    }
    match stack.recv(now, conn, buf) {
        Ok(0) => LegRead::Eof,
        Ok(n) => LegRead::Data(buf.get(..n).unwrap_or_default()),
        Err(RecvError::WouldBlock)
        | Err(RecvError::Reset)
        | Err(RecvError::TimedOut)
        | Err(RecvError::Closed) => LegRead::Nothing,
    }
}
