//! The transmission control block (RFC 9293 §3.3.1) of one connection, split into small
//! parts, and its application-side operations (RFC 9293 §3.10.1–3.10.6).
//!
//! Segment arrival lives in `input.rs`, segment generation in `output.rs`, timers in
//! `timers.rs` (handlers) and `timer.rs` (table).

use smoltcp::time::{Duration, Instant};
use smoltcp::wire::{IpEndpoint, TcpSeqNumber};

use super::cc::CongestionController;
use super::rack::Rack;
use super::reassembly::Reassembly;
use super::ring::Ring;
use super::rto::RttEstimator;
use super::sack::Scoreboard;
use super::seq;
use super::timer::{TimerKind, Timers};
use super::ts::Timestamps;
use crate::config::ConnConfig;
use crate::eno_hook::EnoHook;
use crate::event::Event;

/// Least time between two ACKs a connection sends in answer to pure ACKs that fail the
/// acceptability test (RFC 9293 §3.10.7.4 asks for an ACK each time). Two stacks whose
/// sequence state disagrees would otherwise answer each other's ACKs forever, at line rate
/// (an "ACK loop", RFC 5961 §10); Linux bounds the same answers the same way
/// (`tcp_invalid_ratelimit`, 500 ms). Segments with data are always answered.
pub(crate) const OOW_ACK_INTERVAL: Duration = Duration::from_millis(500);

/// The full-sized segment assumed until the peer sends larger ones: the default MSS of
/// RFC 9293 §3.7.1 (Linux `TCP_MSS_DEFAULT`).
pub(crate) const RCV_MSS_MIN: u16 = 536;

/// In-order segments acknowledged one by one after out-of-order text arrived or a hole was
/// filled (Linux's quick-ACK mode allows up to 16).
pub(crate) const QUICKACKS: u8 = 16;

/// ACKs owed to earlier segments of one burst, at most (see [`Conn::owed_acks`]), like
/// Linux's `TCP_FASTRETRANS_THRESH`: the number of duplicate ACKs it always sends at once
/// for out-of-order data before it compresses SACKs.
pub(crate) const OWED_ACKS: usize = 3;

/// RFC 9293 §3.3.2 connection states (LISTEN lives in the stack's listener table).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum State {
    /// SYN sent, waiting for a matching SYN.
    SynSent,
    /// SYN received (and, unless held, SYN-ACK sent).
    SynReceived,
    /// Open.
    Established,
    /// We sent FIN; waiting for its ACK or the peer's FIN.
    FinWait1,
    /// Our FIN is acknowledged; waiting for the peer's FIN.
    FinWait2,
    /// The peer sent FIN; we may still send.
    CloseWait,
    /// Both sent FIN, ours not yet acknowledged.
    Closing,
    /// We sent FIN after the peer's FIN; waiting for its ACK.
    LastAck,
    /// Waiting 2*MSL for duplicates to drain.
    TimeWait,
    /// Gone.
    Closed,
}

impl State {
    /// States in which the connection is synchronized (RFC 9293 §3.5.2).
    pub fn synchronized(self) -> bool {
        !matches!(self, State::SynSent | State::SynReceived | State::Closed)
    }
}

/// Why a connection ended, as seen by the application.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EndReason {
    /// Orderly close in both directions.
    Closed,
    /// Reset by the peer (or refused).
    Reset,
    /// Retransmissions or keep-alives unanswered.
    Timeout,
    /// Aborted locally.
    Aborted,
}

/// The 4-tuple of a connection, from our point of view.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Tuple {
    /// Our address and port.
    pub local: IpEndpoint,
    /// The peer's address and port.
    pub remote: IpEndpoint,
}

/// Send sequence space (RFC 9293 §3.3.1, Figure 4), plus `SND.MAX` (highest sent + 1).
#[derive(Debug, Clone, Copy)]
pub struct SendSeq {
    /// Initial send sequence number.
    pub iss: TcpSeqNumber,
    /// Oldest unacknowledged.
    pub una: TcpSeqNumber,
    /// Next to send (moves back to `una` on RTO: go-back-N).
    pub nxt: TcpSeqNumber,
    /// Highest sequence sent + 1.
    pub max: TcpSeqNumber,
    /// Peer window in bytes (already scaled).
    pub wnd: u32,
    /// Largest window the peer ever offered (RFC 5961 §5.2 MAX.SND.WND).
    pub max_wnd: u32,
    /// Segment sequence of the last window update.
    pub wl1: TcpSeqNumber,
    /// Segment acknowledgment of the last window update.
    pub wl2: TcpSeqNumber,
    /// Peer's window shift (RFC 7323 §2.3).
    pub shift: u8,
}

/// Receive sequence space (RFC 9293 §3.3.1, Figure 5).
#[derive(Debug, Clone, Copy)]
pub struct RecvSeq {
    /// Initial receive sequence number.
    pub irs: TcpSeqNumber,
    /// Next expected.
    pub nxt: TcpSeqNumber,
    /// Right edge of the window we advertised last (never moved left, RFC 9293 §3.8.6.2.2).
    pub adv: TcpSeqNumber,
    /// Our window shift.
    pub shift: u8,
}

/// Loss recovery state (RFC 5681 §3.2, RFC 6582, RFC 6675).
#[derive(Debug, Clone, Default)]
pub struct Recovery {
    /// Consecutive duplicate ACKs.
    pub dupacks: u32,
    /// `recover` (RFC 6582): in recovery until this is acknowledged.
    pub recover: Option<TcpSeqNumber>,
    /// Next hole byte to consider for retransmission in recovery.
    pub rtx_next: Option<TcpSeqNumber>,
    /// Non-SACK recovery: retransmit the segment at `SND.UNA` once.
    pub rtx_una: bool,
    /// Consecutive retransmission-timer expiries.
    pub retries: u32,
    /// Karn timing: the segment end being timed and when it was sent.
    pub rtt_probe: Option<(TcpSeqNumber, Instant)>,
}

/// One TCP connection.
pub struct Conn {
    pub(crate) tuple: Tuple,
    pub(crate) state: State,
    /// SYN held until the application accepts or refuses.
    pub(crate) held: bool,
    pub(crate) passive: bool,
    /// The application knows this connection's id (active open or held SYN).
    pub(crate) announced: bool,
    pub(crate) cfg: ConnConfig,
    pub(crate) snd: SendSeq,
    pub(crate) rcv: RecvSeq,
    /// Unacknowledged and unsent data; byte 0 has sequence `buf_seq`.
    pub(crate) send_buf: Ring,
    pub(crate) buf_seq: TcpSeqNumber,
    /// The application closed its sending side: a FIN follows the data.
    pub(crate) fin_queued: bool,
    /// In-order received data not yet read; out-of-order text staged above it at its
    /// offset from `RCV.NXT` (ranges in `ooo`).
    pub(crate) recv_buf: Ring,
    pub(crate) ooo: Reassembly,
    /// Sequence number of the peer's FIN once seen (possibly ahead of `RCV.NXT`).
    pub(crate) peer_fin: Option<TcpSeqNumber>,
    /// The peer's FIN was consumed: EOF after `recv_buf`.
    pub(crate) eof: bool,
    /// The application has read the EOF (`recv` returned `Ok(0)`).
    pub(crate) eof_seen: bool,
    /// Peer's MSS option (RFC 9293 §3.7.1; 536 / 1220 when absent).
    pub(crate) peer_mss: u16,
    /// Path MTU (IP bytes).
    pub(crate) pmtu: usize,
    pub(crate) sack_ok: bool,
    pub(crate) ts: Timestamps,
    pub(crate) rtt: RttEstimator,
    pub(crate) cc: Box<dyn CongestionController>,
    /// The most bytes in flight after a transmission since `flight_peak_end` was set
    /// (the window the congestion controller judges its use of; see
    /// [`Conn::note_flight`]).
    pub(crate) flight_peak: u32,
    /// `SND.MAX` when `flight_peak` was last reset: once `SND.UNA` reaches it, that
    /// window of data is acknowledged and the next transmission starts a new peak.
    pub(crate) flight_peak_end: TcpSeqNumber,
    pub(crate) scoreboard: Scoreboard,
    /// RACK-TLP per-segment transmission record and state (RFC 8985).
    pub(crate) rack: Rack,
    pub(crate) rec: Recovery,
    pub(crate) timers: Timers,
    pub(crate) keepalive_probes: u32,
    pub(crate) persist_backoff: u32,
    /// Send an ACK (or window update / challenge ACK) at the next opportunity.
    pub(crate) ack_now: bool,
    /// When we last answered a pure ACK outside the window with an ACK (see
    /// [`OOW_ACK_INTERVAL`]).
    pub(crate) last_oow_ack: Option<Instant>,
    /// Send a probe `<SEQ=SND.UNA-1>` (keep-alive or zero-window probe).
    pub(crate) probe_now: bool,
    /// In-order bytes received since our last ACK (RFC 9293 §3.8.6.3).
    pub(crate) unacked_bytes: u32,
    /// What a full-sized segment from the peer holds (Linux `rcv_mss`): the largest payload
    /// received in order, at least [`RCV_MSS_MIN`] and at most our own MSS.
    pub(crate) rcv_mss: u16,
    /// In-order segments still to acknowledge at once after out-of-order text (see
    /// [`QUICKACKS`]).
    pub(crate) quickacks: u8,
    /// Acknowledgment numbers of ACKs that became due for earlier segments of the burst
    /// being processed and were not sent before the next segment arrived, oldest first
    /// (`owed_len` of them). RFC 5681 §4.2 asks for an immediate ACK for *each*
    /// out-of-order or hole-filling segment, and Linux sends one per segment in quick-ACK
    /// mode: segments that arrive together must not share one ACK, or the loss of that
    /// ACK leaves a sender in loss recovery with nothing but its RTO.
    pub(crate) owed_acks: [TcpSeqNumber; OWED_ACKS],
    pub(crate) owed_len: u8,
    pub(crate) events: Vec<Event>,
    pub(crate) readable_pending: bool,
    pub(crate) writable_wanted: bool,
    pub(crate) end: Option<EndReason>,
    /// Send RST `<SEQ=SND.NXT>` when the connection ends (abort, timeout).
    pub(crate) rst_on_end: bool,
    /// A RST to send without ending the connection: `(seq, ack)` (RFC 9293 §3.10.7.3
    /// "unacceptable ACK in SYN-SENT/SYN-RECEIVED").
    pub(crate) pending_rst: Option<(TcpSeqNumber, Option<TcpSeqNumber>)>,
    /// Window scaling negotiated (both SYNs carried the option).
    pub(crate) ws_ok: bool,
    pub(crate) eno: Option<EnoHook>,
    /// Last time a segment arrived (keep-alive idle).
    pub(crate) last_rx: Instant,
    /// Leave TCP checksums to the link ([`crate::ChecksumOffload::tx_partial`]).
    pub(crate) csum_partial: bool,
}

impl core::fmt::Debug for Conn {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Conn")
            .field("tuple", &self.tuple)
            .field("state", &self.state)
            .field("snd", &self.snd)
            .field("rcv", &self.rcv)
            .finish_non_exhaustive()
    }
}

/// What `new` needs.
pub(crate) struct ConnParams {
    pub(crate) tuple: Tuple,
    pub(crate) cfg: ConnConfig,
    pub(crate) iss: TcpSeqNumber,
    pub(crate) ts_offset: u32,
    pub(crate) mtu: usize,
    pub(crate) passive: bool,
    pub(crate) now: Instant,
    pub(crate) csum_partial: bool,
}

/// Default MSS when the option is absent (RFC 9293 §3.7.1, RFC 8200 §5 for IPv6).
fn default_mss(tuple: &Tuple) -> u16 {
    match tuple.remote.addr {
        smoltcp::wire::IpAddress::Ipv4(_) => 536,
        smoltcp::wire::IpAddress::Ipv6(_) => 1220,
    }
}

/// Receive ring size: the buffer plus the rounding of a scaled window (RFC 7323 §2.3: the
/// advertised right edge is rounded up to a multiple of `2^shift`, and all accepted text,
/// in order or not, lies below it).
pub(crate) fn recv_ring_capacity(recv_buffer: usize, shift: u8) -> usize {
    recv_buffer + (1usize << shift) - 1
}

/// Smallest window shift such that `buf` fits 16 bits (RFC 7323 §2.3, at most 14).
pub(crate) fn shift_for(buf: usize) -> u8 {
    let mut s = 0u8;
    while s < 14 && (buf >> s) > 0xffff {
        s += 1;
    }
    s
}

impl Conn {
    pub(crate) fn new(p: ConnParams) -> Conn {
        let mss = default_mss(&p.tuple);
        let ip_tcp = crate::wire::ip::header_len(&p.tuple.local.addr) + 20;
        let smss = u16::try_from(p.mtu.saturating_sub(ip_tcp))
            .unwrap_or(u16::MAX)
            .min(mss);
        let cc = p.cfg.congestion.build(smss.max(64));
        let rtt = RttEstimator::new(p.cfg.rtt);
        let ooo = Reassembly::new(p.cfg.max_ooo_chunks);
        let zero = TcpSeqNumber(0);
        Conn {
            tuple: p.tuple,
            state: State::Closed,
            held: false,
            passive: p.passive,
            announced: !p.passive,
            snd: SendSeq {
                iss: p.iss,
                una: p.iss,
                nxt: p.iss,
                max: p.iss,
                wnd: 0,
                max_wnd: 0,
                wl1: zero,
                wl2: zero,
                shift: 0,
            },
            rcv: RecvSeq {
                irs: zero,
                nxt: zero,
                adv: zero,
                shift: 0,
            },
            send_buf: Ring::new(p.cfg.send_buffer),
            buf_seq: seq::add(p.iss, 1),
            fin_queued: false,
            recv_buf: Ring::new(recv_ring_capacity(p.cfg.recv_buffer, 0)),
            ooo,
            peer_fin: None,
            eof: false,
            eof_seen: false,
            peer_mss: mss,
            pmtu: p.mtu,
            sack_ok: false,
            ts: Timestamps {
                enabled: false,
                recent: 0,
                offset: p.ts_offset,
            },
            rtt,
            cc,
            flight_peak: 0,
            flight_peak_end: p.iss,
            scoreboard: Scoreboard::default(),
            rack: Rack::default(),
            rec: Recovery::default(),
            timers: Timers::default(),
            keepalive_probes: 0,
            persist_backoff: 0,
            ack_now: false,
            last_oow_ack: None,
            probe_now: false,
            unacked_bytes: 0,
            rcv_mss: RCV_MSS_MIN.min(smss),
            quickacks: 0,
            owed_acks: [zero; OWED_ACKS],
            owed_len: 0,
            events: Vec::new(),
            readable_pending: false,
            writable_wanted: false,
            end: None,
            rst_on_end: false,
            pending_rst: None,
            ws_ok: false,
            eno: None,
            last_rx: p.now,
            csum_partial: p.csum_partial,
            cfg: p.cfg,
        }
    }

    /// The state.
    pub fn state(&self) -> State {
        self.state
    }

    /// Our window shift to offer in a SYN.
    pub(crate) fn our_shift(&self) -> u8 {
        if self.cfg.window_scaling {
            shift_for(self.cfg.recv_buffer)
        } else {
            0
        }
    }

    /// Sender MSS: the peer's MSS bounded by the path MTU (RFC 9293 §3.7.1, RFC 6691).
    pub(crate) fn smss(&self) -> usize {
        let ip_tcp = crate::wire::ip::header_len(&self.tuple.local.addr) + 20;
        usize::from(self.peer_mss)
            .min(self.pmtu.saturating_sub(ip_tcp))
            .max(64)
    }

    /// Bytes in flight (`SND.MAX - SND.UNA`).
    pub(crate) fn flight(&self) -> u32 {
        seq::dist(self.snd.max, self.snd.una)
    }

    /// After a transmission: remember the most data in flight over the current window
    /// (Linux `tcp_cwnd_validate` keeps `max_packets_out` the same way). The congestion
    /// controller grows the window only while the sender uses it, and judges that by this
    /// peak: ACKs that arrive together each see less in flight than the one before, and
    /// the last of a burst would otherwise find the sender idle although it filled cwnd
    /// (RFC 7661 §4.1 measures the pipe at transmission, not on the ACK).
    pub(crate) fn note_flight(&mut self) {
        let f = self.flight();
        if seq::ge(self.snd.una, self.flight_peak_end) || f > self.flight_peak {
            self.flight_peak = f;
            self.flight_peak_end = self.snd.max;
        }
    }

    /// Our timestamp clock (RFC 7323 §5.4): milliseconds plus a keyed per-tuple offset.
    pub(crate) fn ts_now(&self, now: Instant) -> u32 {
        self.ts.tsval(now)
    }

    pub(crate) fn emit(&mut self, e: Event) {
        self.events.push(e);
    }

    pub(crate) fn notify_readable(&mut self) {
        if !self.readable_pending {
            self.readable_pending = true;
            self.emit(Event::Readable);
        }
    }

    /// Sequence number right after the last queued data byte.
    pub(crate) fn data_end(&self) -> TcpSeqNumber {
        seq::add(self.buf_seq, seq::len32(self.send_buf.len()))
    }

    /// Whether our FIN has been acknowledged.
    pub(crate) fn fin_acked(&self) -> bool {
        self.fin_queued && seq::gt(self.snd.una, self.data_end())
    }

    /// Arm the retransmission timer if data is outstanding and it is not running.
    pub(crate) fn arm_rto(&mut self, now: Instant) {
        let at = now + self.rtt.rto();
        self.timers.set_if_unset(TimerKind::Retransmit, at);
    }

    pub(crate) fn restart_rto(&mut self, now: Instant) {
        let at = now + self.rtt.rto();
        self.timers.set(TimerKind::Retransmit, at);
    }

    pub(crate) fn arm_keepalive(&mut self, now: Instant) {
        if let Some(k) = self.cfg.keepalive {
            if matches!(self.state, State::Established | State::CloseWait) {
                self.timers.set(TimerKind::KeepAlive, now + k.idle);
            }
        }
        self.keepalive_probes = 0;
    }

    /// End the connection (no RST unless `rst_on_end` is set by the caller).
    pub(crate) fn finish(&mut self, reason: EndReason) {
        if self.end.is_none() {
            self.end = Some(reason);
            match reason {
                EndReason::Closed => self.emit(Event::Closed),
                EndReason::Reset => self.emit(Event::Reset),
                EndReason::Timeout => self.emit(Event::Timeout),
                EndReason::Aborted => {}
            }
        }
        self.state = State::Closed;
        self.timers.stop_all();
        self.send_buf = Ring::new(0);
        self.ooo = Reassembly::new(0);
        self.rack.clear();
    }

    /// Enter TIME-WAIT (RFC 9293 §3.10.7.4): both sides closed.
    pub(crate) fn enter_time_wait(&mut self, now: Instant, msl2: Duration) {
        self.state = State::TimeWait;
        self.timers.stop_all();
        self.timers.set(TimerKind::Close, now + msl2);
        if self.end.is_none() {
            self.end = Some(EndReason::Closed);
            self.emit(Event::Closed);
        }
        self.send_buf = Ring::new(0);
        self.ooo = Reassembly::new(0);
        self.rack.clear();
        self.recv_buf.release_if_empty(false);
    }

    // ---- application operations (RFC 9293 §3.10.2–3.10.6) ----

    /// Whether SEND accepts data (RFC 9293 §3.10.2): the connection is open for sending
    /// and no FIN is queued.
    pub(crate) fn accepts_data(&self) -> bool {
        matches!(
            self.state,
            State::SynSent | State::SynReceived | State::Established | State::CloseWait
        ) && !self.fin_queued
    }

    /// SEND: queue bytes; returns how many fit.
    pub fn send(&mut self, data: &[u8]) -> usize {
        if !self.accepts_data() {
            return 0;
        }
        let n = self.send_buf.push(data);
        if n < data.len() {
            self.writable_wanted = true;
        }
        n
    }

    /// Bookkeeping after the application took in-order bytes out of `recv_buf` (by
    /// [`Conn::recv`] or in place): a window update once reading opened the window enough
    /// (RFC 9293 §3.8.6.2.2). An emptied ring goes back to the stack's spare buffers
    /// (`Stack::settle`).
    pub(crate) fn on_read(&mut self) {
        if self.state.synchronized() && !self.eof && self.window_update_due() {
            self.ack_now = true;
        }
    }

    /// RECEIVE: copy in-order data out; `Ok(0)` only at EOF.
    pub fn recv(&mut self, buf: &mut [u8]) -> Result<usize, crate::RecvError> {
        self.readable_pending = false;
        if !self.recv_buf.is_empty() {
            let n = self.recv_buf.read(buf);
            self.on_read();
            return Ok(n);
        }
        if self.eof {
            self.eof_seen = true;
            return Ok(0);
        }
        match self.end {
            Some(EndReason::Reset) => Err(crate::RecvError::Reset),
            Some(EndReason::Timeout) => Err(crate::RecvError::TimedOut),
            Some(EndReason::Aborted) | Some(EndReason::Closed) => Err(crate::RecvError::Closed),
            None => Err(crate::RecvError::WouldBlock),
        }
    }

    /// The window we could advertise now, before scaling.
    pub(crate) fn free_window(&self) -> u32 {
        let free = self.cfg.recv_buffer.saturating_sub(self.recv_buf.len());
        seq::len32(free.min(0xffff << self.rcv.shift))
    }

    /// The currently advertised window remaining (right edge minus `RCV.NXT`).
    pub(crate) fn advertised_remaining(&self) -> u32 {
        seq::dist(self.rcv.adv, self.rcv.nxt)
    }

    /// Receiver-side SWS avoidance (RFC 9293 §3.8.6.2.2): a window update is worth sending
    /// once the window can grow by min(half the buffer, one MSS) beyond what was advertised.
    pub(crate) fn window_opened(&self) -> bool {
        let step = (seq::len32(self.cfg.recv_buffer) / 2).min(seq::len32(self.smss()));
        self.free_window() >= self.advertised_remaining().saturating_add(step.max(1))
    }

    /// Whether reading has opened the window enough to announce it in a segment of its own
    /// (a pure window update). RFC 9293 §3.8.6.2.2 only bounds how small an opening may
    /// be announced ([`window_opened`](Self::window_opened)); any segment we send anyway
    /// carries it. A lone update is worth a packet only when the sender may be short of
    /// window: when the window at least doubles over what is still advertised (Linux
    /// `tcp_cleanup_rbuf`). Otherwise every read of a request/response exchange would cost
    /// an extra ACK, where the answer could carry the news a moment later.
    pub(crate) fn window_update_due(&self) -> bool {
        self.window_opened() && self.free_window() >= self.advertised_remaining().saturating_mul(2)
    }

    /// CLOSE: our side will send FIN after queued data (RFC 9293 §3.10.4).
    pub fn close(&mut self, now: Instant) {
        match self.state {
            State::SynSent => self.finish(EndReason::Closed),
            // RFC 9293 §3.10.4: in SYN-RECEIVED the FIN waits for the handshake to end.
            State::SynReceived if !self.fin_queued => self.fin_queued = true,
            State::Established if !self.fin_queued => {
                self.fin_queued = true;
                self.state = State::FinWait1;
            }
            State::CloseWait if !self.fin_queued => {
                self.fin_queued = true;
                self.state = State::LastAck;
            }
            _ => {}
        }
        let _ = now;
    }

    /// ABORT: the caller sends RST if synchronized (RFC 9293 §3.10.5).
    pub fn abort(&mut self) {
        if matches!(self.state, State::SynReceived if !self.held) || self.state.synchronized() {
            self.rst_on_end = !matches!(self.state, State::TimeWait);
        }
        self.finish(EndReason::Aborted);
    }
}

impl Conn {
    /// RFC 1191 §6.1 / RFC 8201 §5.2: a "packet too big" for a segment at `sq` lowers the
    /// path MTU; accepted only when `sq` is unacknowledged data we sent (RFC 5927 §4.1).
    /// Returns true if applied.
    pub(crate) fn on_pmtu(&mut self, sq: TcpSeqNumber, mtu: usize) -> bool {
        let min_mtu = match self.tuple.local.addr {
            smoltcp::wire::IpAddress::Ipv4(_) => 576,
            smoltcp::wire::IpAddress::Ipv6(_) => 1280,
        };
        if !(seq::le(self.snd.una, sq) && seq::lt(sq, self.snd.max)) || mtu >= self.pmtu {
            return false;
        }
        self.pmtu = mtu.max(min_mtu);
        let mss = u16::try_from(self.smss()).unwrap_or(u16::MAX);
        self.cc.on_mss_update(mss);
        // Resend what is outstanding in smaller segments, without a congestion response.
        self.snd.nxt = self.snd.una;
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn idle_connection_is_small_and_allocates_no_buffers() {
        let tuple = Tuple {
            local: IpEndpoint::new(smoltcp::wire::IpAddress::v4(10, 0, 0, 1), 1),
            remote: IpEndpoint::new(smoltcp::wire::IpAddress::v4(10, 0, 0, 2), 2),
        };
        let c = Conn::new(ConnParams {
            tuple,
            cfg: ConnConfig::default(),
            iss: TcpSeqNumber(0),
            ts_offset: 0,
            mtu: 1500,
            passive: false,
            now: Instant::ZERO,
            csum_partial: false,
        });
        assert!(
            core::mem::size_of::<Conn>() <= 1280,
            "{}",
            core::mem::size_of::<Conn>()
        );
        assert_eq!(c.send_buf.allocated(), 0);
        assert_eq!(c.recv_buf.allocated(), 0);
        assert_eq!(shift_for(65_535), 0);
        assert_eq!(shift_for(65_536), 1);
        assert_eq!(shift_for(usize::MAX), 14);
    }
}
