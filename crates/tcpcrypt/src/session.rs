//! RFC 8548 §3.3–§3.9: a tcpcrypt session as a sans-IO byte-stream transformer.
//!
//! A [`Session`] is built once TCP-ENO (RFC 8547) has negotiated a tcpcrypt TEP: from the
//! role (A/B), B's TEP byte (v bit included) and the transcript for a fresh key exchange
//! ([`Session::fresh`]), or from a cached secret for a resumed one ([`Session::resumed`]).
//! It then consumes the TCP byte stream received from the peer ([`Session::handle_stream`],
//! any split), yields the bytes to send ([`Session::poll_transmit`]/[`Session::poll_stream`]:
//! Init1/Init2, then frames), and carries application data ([`Session::write`],
//! [`Session::read`]). `read` returns `Ok(0)` only after a verified FINp frame; every
//! fatal [`Error`] means abort (RST) and is distinct from that EOF.
//!
//! Once established, a relay can skip the session's buffers: [`Session::seal_into`] seals
//! application data from its buffer straight into the outgoing one, [`Session::open_into`]
//! opens received frames in place and copies their data out, each only while the buffered
//! path holds nothing (stream order). Both paths share the per-frame steps (offsets, nonces,
//! key generations, FINp, errors), so any interleaving of them carries the same stream.
//!
//! Handshake typestate inside: A starts in `AwaitInit2` (its Init1 already queued), B in
//! `AwaitInit1`; both reach `Established` after the Init exchange, resumed sessions start
//! there. Nothing here reads a clock or the OS RNG: randomness comes in at construction.

use std::collections::VecDeque;

use rand_core::CryptoRngCore;
use zeroize::{Zeroize, Zeroizing};

use crate::config::Config;
use crate::consts::{NONCE_LEN, SESSION_ID_LEN};
use crate::error::{Error, ProtocolError};
use crate::frame::{
    first_frame_offset, split_frame, FrameSplit, CONTROL_REKEY, FRAME_OVERHEAD, MAX_FRAME_DATA,
};
use crate::init::{Decoded, Init1, Init1Repr, Init2, Init2Repr};
use crate::kdf::{mk0, next_ss, prk, resume_id, session_id, traffic_keys, KeySet, Secret};
use crate::provider::{CryptoProvider, KxPrivate};
use crate::rekey::KeyGenerations;
use crate::resume::{Resumption, ResumptionTicket};
use crate::suite::{Cipher, Tep};

/// The role of a host in tcpcrypt (RFC 8547 §4.5: A = the host that sent the SYN without
/// ACK, normally the active opener; B = the other).
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash)]
pub enum Role {
    /// Host A: sends Init1; encrypts with k_ab in sessions derived from a session it began
    /// as A.
    A,
    /// Host B: sends Init2; encrypts with k_ba likewise.
    B,
}

impl Role {
    /// The other role.
    pub fn peer(self) -> Role {
        match self {
            Role::A => Role::B,
            Role::B => Role::A,
        }
    }
}

impl From<eno::Role> for Role {
    fn from(r: eno::Role) -> Role {
        match r {
            eno::Role::A => Role::A,
            eno::Role::B => Role::B,
        }
    }
}

/// The observable state of a [`Session`].
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum SessionState {
    /// B waits for Init1.
    AwaitInit1,
    /// A sent Init1 and waits for Init2.
    AwaitInit2,
    /// Keys are in place; frames flow.
    Established,
    /// Both FINp frames were exchanged (ours sent, the peer's verified).
    Closed,
    /// A fatal error happened; the connection must be aborted.
    Failed,
}

/// RFC 8547 §4.1 debug mode: resume[i] of the secret that keyed this session and the
/// generation-0 traffic keys. Only kept when [`Config::debug_secrets`] is set. `Debug`
/// redacts the keys.
#[derive(Clone, Debug)]
pub struct DebugSecrets {
    /// resume[i] = CPRF(ss[i], CONST_RESUME, 18) for the ss[i] used by this session.
    pub resume: [u8; 18],
    /// k_ab[0] and k_ba[0].
    pub keys: KeySet,
}

/// A transmit chunk from [`Session::poll_transmit`].
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct Transmit {
    /// Bytes written to the buffer.
    pub len: usize,
    /// The chunk ends at the last byte of an Init message (RFC 8548 §3.3: that segment MUST
    /// carry PSH) or drains the send buffer.
    pub push: bool,
}

enum State {
    AwaitInit1 {
        kx: Box<dyn KxPrivate>,
        nonce: Zeroizing<[u8; NONCE_LEN]>,
    },
    AwaitInit2 {
        kx: Box<dyn KxPrivate>,
        n_a: [u8; NONCE_LEN],
        init1: Vec<u8>,
    },
    Established(Box<Established>),
    Failed(Error),
}

struct Established {
    keys: KeyGenerations,
    send_offset: u64,
    recv_offset: u64,
    fin_sent: bool,
    fin_received: bool,
}

impl Established {
    /// RFC 8548 §3.6, §3.7: the length of the whole frame at the head of `buf`, the received
    /// stream from the next unopened frame on. `None` when `buf` is empty or holds only part
    /// of a frame. Any byte after the peer's verified FINp is
    /// [`ProtocolError::FrameAfterFin`], a clen below 17 a [`DecodeError`](crate::DecodeError)
    /// (both fatal).
    fn next_frame(&self, buf: &[u8]) -> Result<Option<usize>, Error> {
        if buf.is_empty() {
            return Ok(None);
        }
        if self.fin_received {
            return Err(ProtocolError::FrameAfterFin.into());
        }
        Ok(match split_frame(buf, self.recv_offset)? {
            FrameSplit::Frame(len) => Some(len),
            FrameSplit::Incomplete(_) => None,
        })
    }

    /// RFC 8548 §3.6–§3.8: opens the whole frame `frame` (as measured by
    /// [`Established::next_frame`]) in place at the receive offset and returns its application
    /// data. A set rekey bit first moves to the peer's next key generation; when that puts
    /// the peer ahead of us, the answering rekey frame is queued in `tx` at once (not after
    /// our FINp). The receive offset advances and FINp is recorded. Shared by the buffered
    /// ([`Session::handle_stream`]) and direct ([`Session::open_into`]) receive paths; any
    /// error is fatal and no plaintext of the failing frame is returned.
    fn open_frame<'b>(&mut self, frame: &'b mut [u8], tx: &mut Vec<u8>) -> Result<&'b [u8], Error> {
        let answer = if frame.first().is_some_and(|c| c & CONTROL_REKEY != 0) {
            self.keys.on_peer_rekey()?
        } else {
            false
        };
        let len = frame.len();
        let opened = self
            .keys
            .recv_key()
            .open_in_place(self.recv_offset, frame)?;
        if opened.fin {
            self.fin_received = true;
        }
        self.recv_offset += len as u64;
        if answer && !self.fin_sent {
            // RFC 8548 §3.8: remote > local, so local = remote and a rekey frame at once.
            let n = self
                .keys
                .send_key()
                .seal_append(self.send_offset, true, false, &[], tx)?;
            self.send_offset += n as u64;
        }
        Ok(opened.data)
    }

    /// The loop of [`Session::open_into`]: whole frames of `src` whose data fits in `dst`.
    fn open_frames(
        &mut self,
        src: &mut [u8],
        dst: &mut [u8],
        tx: &mut Vec<u8>,
    ) -> Result<(usize, usize), Error> {
        let (mut consumed, mut produced) = (0, 0);
        loop {
            let buf = src.get_mut(consumed..).unwrap_or_default();
            let Some(len) = self.next_frame(buf)? else {
                break;
            };
            // An upper bound of the frame's data (URGp frames carry 2 bytes less): opening a
            // frame whose data might not fit would leave verified plaintext with no place.
            if len - FRAME_OVERHEAD > dst.len() - produced {
                break;
            }
            let frame = buf.get_mut(..len).unwrap_or_default();
            let data = self.open_frame(frame, tx)?;
            let out = dst
                .get_mut(produced..produced + data.len())
                .ok_or(ProtocolError::FrameTooLong)?;
            bytecopy::copy(out, data);
            consumed += len;
            produced += data.len();
        }
        Ok((consumed, produced))
    }
}

/// A tcpcrypt session (RFC 8548). See the module documentation.
pub struct Session {
    role: Role,
    original_role: Role,
    tep: Tep,
    tep_byte: u8,
    cipher: Option<Cipher>,
    config: Config,
    provider: &'static dyn CryptoProvider,
    transcript: Vec<u8>,
    state: State,
    rx: Vec<u8>,
    plain: VecDeque<u8>,
    tx: Vec<u8>,
    tx_pos: usize,
    push_mark: Option<usize>,
    session_id: Option<[u8; SESSION_ID_LEN]>,
    ticket: Option<ResumptionTicket>,
    debug: Option<DebugSecrets>,
}

impl core::fmt::Debug for Session {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Session")
            .field("role", &self.role)
            .field("tep_byte", &self.tep_byte)
            .field("cipher", &self.cipher)
            .field("state", &self.state())
            .finish_non_exhaustive()
    }
}

impl Session {
    #[allow(clippy::too_many_arguments)]
    fn base(
        role: Role,
        original_role: Role,
        tep: Tep,
        tep_byte: u8,
        transcript: &[u8],
        config: Config,
        provider: &'static dyn CryptoProvider,
        state: State,
    ) -> Session {
        Session {
            role,
            original_role,
            tep,
            tep_byte,
            cipher: None,
            config,
            provider,
            transcript: transcript.to_vec(),
            state,
            rx: Vec::new(),
            plain: VecDeque::new(),
            tx: Vec::new(),
            tx_pos: 0,
            push_mark: None,
            session_id: None,
            ticket: None,
            debug: None,
        }
    }

    /// A fresh key exchange (RFC 8548 §3.3) after ENO negotiated `tep_byte` (B's TEP byte, v
    /// = 0) with `transcript` (RFC 8547 §4.8). The ephemeral key and the Init nonce come from
    /// `rng`. As A, Init1 is queued at once.
    pub fn fresh(
        role: Role,
        tep_byte: u8,
        transcript: &[u8],
        config: Config,
        provider: &'static dyn CryptoProvider,
        rng: &mut dyn CryptoRngCore,
    ) -> Result<Session, Error> {
        let tep = fresh_tep(tep_byte)?;
        let kx = provider.kx_generate(tep, rng)?;
        let mut nonce = Zeroizing::new([0u8; NONCE_LEN]);
        rng.fill_bytes(nonce.as_mut());
        Session::fresh_with_keys(role, tep_byte, transcript, config, provider, kx, *nonce)
    }

    /// [`Session::fresh`] from an ENO outcome (role, B's TEP byte, transcript). For an outcome
    /// with v = 1 (resumption), use [`Session::resumed`] with the [`Resumption`] from the
    /// resumption cache instead: this returns [`ProtocolError::UnsupportedTep`].
    pub fn from_negotiated(
        negotiated: &eno::Negotiated,
        config: Config,
        provider: &'static dyn CryptoProvider,
        rng: &mut dyn CryptoRngCore,
    ) -> Result<Session, Error> {
        Session::fresh(
            negotiated.role.into(),
            negotiated.sessid_byte,
            &negotiated.transcript,
            config,
            provider,
            rng,
        )
    }

    /// Like [`Session::fresh`] with a given ephemeral key and Init nonce (N_A or N_B), for
    /// deterministic tests and the conformance shim. The key must be for the negotiated TEP
    /// and must never be reused (RFC 8548 §5).
    pub fn fresh_with_keys(
        role: Role,
        tep_byte: u8,
        transcript: &[u8],
        config: Config,
        provider: &'static dyn CryptoProvider,
        kx: Box<dyn KxPrivate>,
        nonce: [u8; NONCE_LEN],
    ) -> Result<Session, Error> {
        let tep = fresh_tep(tep_byte)?;
        if kx.tep() != tep {
            return Err(ProtocolError::UnsupportedTep { tep_byte }.into());
        }
        if config.ciphers.is_empty() || config.ciphers.len() > 255 {
            return Err(ProtocolError::BadCipherConfig.into());
        }
        match role {
            Role::A => {
                let repr = Init1Repr {
                    ciphers: config.ciphers.iter().map(|c| c.id()).collect(),
                    nonce,
                    public_key: kx.public_key(),
                };
                let init1 = repr
                    .to_bytes()
                    .map_err(|_| ProtocolError::BadCipherConfig)?;
                let mut s = Session::base(
                    role,
                    role,
                    tep,
                    tep_byte,
                    transcript,
                    config,
                    provider,
                    State::Failed(Error::WouldBlock),
                );
                s.tx.extend_from_slice(&init1);
                s.push_mark = Some(s.tx.len());
                s.state = State::AwaitInit2 {
                    kx,
                    n_a: nonce,
                    init1,
                };
                Ok(s)
            }
            Role::B => Ok(Session::base(
                role,
                role,
                tep,
                tep_byte,
                transcript,
                config,
                provider,
                State::AwaitInit1 {
                    kx,
                    nonce: Zeroizing::new(nonce),
                },
            )),
        }
    }

    /// A resumed session (RFC 8548 §3.5) after ENO agreed on resumption: `role` is this
    /// host's role in this connection; keys, half and nonce order follow the original role
    /// stored in `resumption`. The session starts established; its frames start at stream
    /// offset 0 (no Init messages).
    pub fn resumed(
        role: Role,
        resumption: Resumption,
        config: Config,
        provider: &'static dyn CryptoProvider,
    ) -> Result<Session, Error> {
        let (secret, sn) = resumption.into_parts();
        let tep = secret.tep;
        let mut s = Session::base(
            role,
            secret.original_role,
            tep,
            tep.id() | 0x80,
            &[],
            config,
            provider,
            State::Failed(Error::WouldBlock),
        );
        let cipher = secret.cipher;
        let original_role = secret.original_role;
        s.establish(secret.ss, &sn, cipher, original_role, 0, 0, false)?;
        Ok(s)
    }

    /// Installs keys: mk[0], session ID, generation-0 keys; caches ss[i+1] for fresh sessions.
    #[allow(clippy::too_many_arguments)]
    fn establish(
        &mut self,
        ss: Secret,
        sn: &[u8],
        cipher: Cipher,
        original_role: Role,
        sent_init_len: usize,
        recv_init_len: usize,
        fresh: bool,
    ) -> Result<(), Error> {
        let mk = mk0(&ss, sn);
        self.session_id = Some(session_id(self.tep_byte, &ss, sn));
        if self.config.debug_secrets {
            self.debug = Some(DebugSecrets {
                resume: resume_id(&ss),
                keys: traffic_keys(&mk, cipher),
            });
        }
        if fresh && !self.config.no_cache {
            self.ticket = Some(ResumptionTicket::new(
                next_ss(&ss),
                1,
                self.tep,
                cipher,
                original_role,
            ));
        }
        drop(ss);
        self.transcript.zeroize();
        self.transcript = Vec::new();
        let keys = KeyGenerations::new(self.provider, mk, cipher, original_role)?;
        self.cipher = Some(cipher);
        self.state = State::Established(Box::new(Established {
            keys,
            send_offset: first_frame_offset(sent_init_len),
            recv_offset: first_frame_offset(recv_init_len),
            fin_sent: false,
            fin_received: false,
        }));
        Ok(())
    }

    fn fail(&mut self, e: Error) -> Error {
        if e.is_fatal() {
            self.state = State::Failed(e);
            self.rx.clear();
            self.ticket = None;
        }
        e
    }

    /// Consumes bytes of the TCP stream received from the peer (any split). Whole frames are
    /// authenticated and decrypted at once; their data becomes readable with
    /// [`Session::read`]. A fatal error fails the session (abort + RST); plaintext of frames
    /// verified before the fault stays readable.
    pub fn handle_stream(&mut self, data: &[u8]) -> Result<(), Error> {
        if let State::Failed(e) = &self.state {
            return Err(*e);
        }
        self.rx.extend_from_slice(data);
        match self.process() {
            Ok(()) => Ok(()),
            Err(e) => Err(self.fail(e)),
        }
    }

    /// Opens whole frames of the received stream from `src` (which it may decrypt in place:
    /// the consumed bytes are scribbled on) and writes their application data into `dst`,
    /// bypassing the session's receive buffers (RFC 8548 §3.6–§3.8, the same offsets, nonces,
    /// key generations and errors as [`Session::handle_stream`], which shares the per-frame
    /// step). Returns (stream bytes consumed, plaintext bytes written).
    ///
    /// Only on the fast path: established, nothing buffered ([`Session::pending_input`] and
    /// [`Session::readable`] both 0) and no FINp received yet; otherwise `Ok((0, 0))`, except
    /// on a failed session, which returns its error as `handle_stream` does. Stops before a
    /// frame that is incomplete in `src` or whose data might not fit in the rest of `dst`
    /// (judged from its clen: at most `clen - 17` bytes); the caller then feeds those bytes to
    /// `handle_stream` as before ([`Session::input_needed`] says how many complete the frame).
    /// A FINp frame is consumed and ends the stream ([`Session::fin_received`] true, later
    /// [`Session::read`] gives `Ok(0)`). A rekey frame is handled exactly as in
    /// `handle_stream`: an answering rekey frame is queued in the send buffer
    /// ([`Session::pending_transmit`] > 0 afterwards, so [`Session::seal_into`] stands aside
    /// until it has been polled).
    ///
    /// A fatal error fails the session exactly as `handle_stream` would, with the same
    /// [`Error`] (bytes after the FINp frame in `src` give [`ProtocolError::FrameAfterFin`]).
    /// The caller must abort: the data of the frames verified before the fault has been
    /// written to the start of `dst`, but its length is not reported and it must be dropped;
    /// the failing frame's plaintext is never written anywhere (it is wiped in `src`).
    pub fn open_into(&mut self, src: &mut [u8], dst: &mut [u8]) -> Result<(usize, usize), Error> {
        let buffered = !self.rx.is_empty() || !self.plain.is_empty();
        let est = match &mut self.state {
            State::Failed(e) => return Err(*e),
            State::Established(e) if !e.fin_received && !buffered => e,
            _ => return Ok((0, 0)),
        };
        match est.open_frames(src, dst, &mut self.tx) {
            Ok(r) => Ok(r),
            Err(e) => Err(self.fail(e)),
        }
    }

    /// Bytes still needed to complete the message (Init1/Init2) or frame whose head sits in
    /// the receive buffer: 0 when it is empty, at least 1 otherwise (e.g. `3 - len` for a
    /// partial frame header, the rest of the frame once clen is known). Feeding exactly that
    /// many bytes through [`Session::handle_stream`] empties the buffer again, so the caller
    /// can return to [`Session::open_into`] after reading the plaintext out.
    pub fn input_needed(&self) -> usize {
        let have = self.rx.len();
        if have == 0 {
            return 0;
        }
        let total = match &self.state {
            State::AwaitInit1 { .. } => match Init1::decode(&self.rx, self.tep) {
                Ok(Decoded::Incomplete { needed }) => needed,
                _ => 0,
            },
            State::AwaitInit2 { .. } => match Init2::decode(&self.rx, self.tep) {
                Ok(Decoded::Incomplete { needed }) => needed,
                _ => 0,
            },
            State::Established(e) => match split_frame(&self.rx, e.recv_offset) {
                Ok(FrameSplit::Incomplete(needed)) => needed,
                _ => 0,
            },
            State::Failed(_) => 0,
        };
        total.saturating_sub(have).max(1)
    }

    fn process(&mut self) -> Result<(), Error> {
        let mut pos = 0;
        loop {
            let progressed = match &mut self.state {
                State::AwaitInit1 { .. } => self.on_init1(&mut pos)?,
                State::AwaitInit2 { .. } => self.on_init2(&mut pos)?,
                State::Established(_) => self.on_frames(&mut pos)?,
                State::Failed(e) => return Err(*e),
            };
            if !progressed {
                break;
            }
        }
        self.rx.drain(..pos);
        Ok(())
    }

    fn on_init1(&mut self, pos: &mut usize) -> Result<bool, Error> {
        let buf = self.rx.get(*pos..).unwrap_or_default();
        let m = match Init1::decode(buf, self.tep)? {
            Decoded::Complete(m) => m,
            Decoded::Incomplete { .. } => return Ok(false),
        };
        let offered: Vec<u16> = m.ciphers().collect();
        let cipher = self
            .config
            .ciphers
            .iter()
            .copied()
            .find(|c| offered.contains(&c.id()))
            .ok_or(ProtocolError::NoCommonCipher)?;
        let init1 = m.as_bytes().to_vec();
        let n_a = *m.nonce();
        let peer_pub = m.public_key().to_vec();
        let State::AwaitInit1 { kx, nonce } =
            core::mem::replace(&mut self.state, State::Failed(Error::WouldBlock))
        else {
            return Ok(false);
        };
        let init2 = Init2Repr {
            cipher: cipher.id(),
            nonce: *nonce,
            public_key: kx.public_key(),
        }
        .to_bytes()
        .map_err(|_| ProtocolError::BadCipherConfig)?;
        let es = kx.agree(&peer_pub)?;
        let ss = prk(&n_a, &self.transcript, &init1, &init2, &es);
        drop(es);
        self.tx.extend_from_slice(&init2);
        self.push_mark = Some(self.tx.len());
        *pos += init1.len();
        self.establish(ss, &[], cipher, Role::B, init2.len(), init1.len(), true)?;
        Ok(true)
    }

    fn on_init2(&mut self, pos: &mut usize) -> Result<bool, Error> {
        let buf = self.rx.get(*pos..).unwrap_or_default();
        let m = match Init2::decode(buf, self.tep)? {
            Decoded::Complete(m) => m,
            Decoded::Incomplete { .. } => return Ok(false),
        };
        let sym = m.cipher();
        let cipher = Cipher::from_id(sym)
            .filter(|c| self.config.ciphers.contains(c))
            .ok_or(ProtocolError::CipherNotOffered { sym_cipher: sym })?;
        let init2 = m.as_bytes().to_vec();
        let peer_pub = m.public_key().to_vec();
        let State::AwaitInit2 { kx, n_a, init1 } =
            core::mem::replace(&mut self.state, State::Failed(Error::WouldBlock))
        else {
            return Ok(false);
        };
        let es = kx.agree(&peer_pub)?;
        let ss = prk(&n_a, &self.transcript, &init1, &init2, &es);
        drop(es);
        *pos += init2.len();
        self.establish(ss, &[], cipher, Role::A, init1.len(), init2.len(), true)?;
        Ok(true)
    }

    fn on_frames(&mut self, pos: &mut usize) -> Result<bool, Error> {
        let State::Established(est) = &mut self.state else {
            return Ok(false);
        };
        let mut progressed = false;
        loop {
            let buf = self.rx.get_mut(*pos..).unwrap_or_default();
            let Some(len) = est.next_frame(buf)? else {
                return Ok(progressed);
            };
            let frame = buf.get_mut(..len).unwrap_or_default();
            let data = est.open_frame(frame, &mut self.tx)?;
            self.plain.extend(data);
            *pos += len;
            progressed = true;
        }
    }

    /// Copies up to `buf.len()` bytes of the send stream (Init message, then frames) into
    /// `buf`. A chunk never extends past the end of an Init message, so that the segment
    /// carrying its last byte can get PSH (`push`).
    pub fn poll_transmit(&mut self, buf: &mut [u8]) -> Transmit {
        let mut end = self.tx.len();
        if let Some(mark) = self.push_mark {
            if mark > self.tx_pos {
                end = end.min(mark);
            }
        }
        let avail = self.tx.get(self.tx_pos..end).unwrap_or_default();
        let n = avail.len().min(buf.len());
        if let (Some(dst), Some(src)) = (buf.get_mut(..n), avail.get(..n)) {
            bytecopy::copy(dst, src);
        }
        self.tx_pos += n;
        let mut push = self.tx_pos == self.tx.len();
        if self.push_mark == Some(self.tx_pos) {
            push = true;
            self.push_mark = None;
        }
        if self.tx_pos == self.tx.len() {
            self.tx.clear();
            self.tx_pos = 0;
            self.push_mark = None;
        } else if self.tx_pos > 64 * 1024 && self.tx_pos * 2 > self.tx.len() {
            self.tx.drain(..self.tx_pos);
            self.push_mark = self.push_mark.map(|m| m - self.tx_pos);
            self.tx_pos = 0;
        }
        Transmit { len: n, push }
    }

    /// [`Session::poll_transmit`] without the PSH hint: the number of bytes written.
    pub fn poll_stream(&mut self, buf: &mut [u8]) -> usize {
        self.poll_transmit(buf).len
    }

    /// Bytes waiting to be polled by [`Session::poll_transmit`].
    pub fn pending_transmit(&self) -> usize {
        self.tx.len() - self.tx_pos
    }

    fn established_mut(&mut self) -> Result<&mut Established, Error> {
        match &mut self.state {
            State::Established(e) => Ok(e),
            State::Failed(e) => Err(*e),
            _ => Err(ProtocolError::NotEstablished.into()),
        }
    }

    /// Queues application data: splits it into frames of at most
    /// [`Config::max_frame_data`] bytes, seals them, and returns how much was taken (less
    /// than `data.len()`, maybe 0, when the send buffer is full, and 0 before the session is
    /// established). Errors after [`Session::close`] or on a failed session.
    pub fn write(&mut self, data: &[u8]) -> Result<usize, Error> {
        let chunk = self.config.frame_data_len();
        let limit = self.config.send_buffer_limit;
        let pending = self.pending_transmit();
        let est = match &mut self.state {
            State::Established(e) => e,
            State::Failed(e) => return Err(*e),
            _ => return Ok(0),
        };
        if est.fin_sent {
            return Err(ProtocolError::WriteAfterClose.into());
        }
        let mut room = limit.saturating_sub(pending);
        let mut taken = 0;
        for piece in data.chunks(chunk) {
            if room < piece.len() + FRAME_OVERHEAD {
                let fit = room.saturating_sub(FRAME_OVERHEAD);
                if fit > 0 {
                    let part = piece.get(..fit).unwrap_or_default();
                    let n = est.keys.send_key().seal_append(
                        est.send_offset,
                        false,
                        false,
                        part,
                        &mut self.tx,
                    )?;
                    est.send_offset += n as u64;
                    taken += fit;
                }
                break;
            }
            let n = est.keys.send_key().seal_append(
                est.send_offset,
                false,
                false,
                piece,
                &mut self.tx,
            )?;
            est.send_offset += n as u64;
            room -= n;
            taken += piece.len();
        }
        Ok(taken)
    }

    /// Seals application data from `src` straight into `dst` as whole frames (RFC 8548 §3.6,
    /// §4.2), bypassing the session's send buffer. Returns (plaintext bytes consumed, frame
    /// bytes written). Only on the fast path: established, no FINp sent, and nothing pending
    /// in the send buffer ([`Session::pending_transmit`] `== 0`, so stream order holds);
    /// otherwise `Ok((0, 0))`, except on a failed session, which returns its error as
    /// [`Session::write`] does.
    ///
    /// Frames carry at most [`Config::frame_data_len`] bytes, split exactly as `write` splits
    /// one call's data (the same frames byte for byte when `dst` is large enough); when `dst`
    /// cannot hold a whole frame of the next chunk, a smaller frame fills it exactly, and
    /// nothing more is written once `dst` has no room for a frame with at least one data byte
    /// ([`FRAME_OVERHEAD`](crate::frame::FRAME_OVERHEAD) `+ 1` = 21 bytes). No allocation
    /// per frame: each is written and sealed in place in `dst`.
    pub fn seal_into(&mut self, src: &[u8], dst: &mut [u8]) -> Result<(usize, usize), Error> {
        let chunk = self.config.frame_data_len();
        let pending = self.pending_transmit();
        let est = match &mut self.state {
            State::Failed(e) => return Err(*e),
            State::Established(e) if !e.fin_sent && pending == 0 => e,
            _ => return Ok((0, 0)),
        };
        let (mut consumed, mut written) = (0, 0);
        while consumed < src.len() {
            let room = dst.len() - written;
            if room < FRAME_OVERHEAD + 1 {
                break;
            }
            let n = (src.len() - consumed).min(chunk).min(room - FRAME_OVERHEAD);
            let data = src.get(consumed..consumed + n).unwrap_or_default();
            let out = dst.get_mut(written..).unwrap_or_default();
            let len = est
                .keys
                .send_key()
                .seal_to(est.send_offset, false, false, data, out)?;
            est.send_offset += len as u64;
            consumed += n;
            written += len;
        }
        Ok((consumed, written))
    }

    /// Sends exactly one frame carrying `data` (at most 65518 bytes), with FINp if `fin`, and
    /// moving to the next key generation on this frame if `rekey` (RFC 8548 §3.8). For the
    /// conformance shim and precise tests; ignores the send-buffer limit.
    pub fn send_frame(&mut self, data: &[u8], fin: bool, rekey: bool) -> Result<(), Error> {
        let r = self.send_frame_inner(data, fin, rekey);
        match r {
            Err(e @ Error::Protocol(ProtocolError::RekeyNotAllowed))
            | Err(e @ Error::Protocol(ProtocolError::FrameTooLong))
            | Err(e @ Error::Protocol(ProtocolError::WriteAfterClose))
            | Err(e @ Error::Protocol(ProtocolError::NotEstablished)) => Err(e),
            Err(e) => Err(self.fail(e)),
            Ok(()) => Ok(()),
        }
    }

    fn send_frame_inner(&mut self, data: &[u8], fin: bool, rekey: bool) -> Result<(), Error> {
        if data.len() > MAX_FRAME_DATA {
            return Err(ProtocolError::FrameTooLong.into());
        }
        let tx = &mut self.tx;
        let est = match &mut self.state {
            State::Established(e) => e,
            State::Failed(e) => return Err(*e),
            _ => return Err(ProtocolError::NotEstablished.into()),
        };
        if est.fin_sent {
            return Err(ProtocolError::WriteAfterClose.into());
        }
        if rekey {
            est.keys.initiate(data.is_empty())?;
        }
        let n = est
            .keys
            .send_key()
            .seal_append(est.send_offset, rekey, fin, data, tx)?;
        est.send_offset += n as u64;
        if fin {
            est.fin_sent = true;
        }
        Ok(())
    }

    /// RFC 8548 §3.9 keep-alive: initiates a rekey with an empty frame; the peer must answer
    /// with an authenticated rekey frame. Returns `Ok(false)` (nothing sent) while an earlier
    /// rekey is unanswered (remote < local: a second empty-frame rekey is forbidden, §3.8),
    /// or after our FINp.
    pub fn keepalive(&mut self) -> Result<bool, Error> {
        let est = self.established_mut()?;
        if est.fin_sent || !est.keys.may_initiate(true) {
            return Ok(false);
        }
        self.send_frame(&[], false, true)?;
        Ok(true)
    }

    /// Sends our FINp frame (RFC 8548 §3.7): no more writes. The TCP FIN belongs on the
    /// segment with the last byte of this frame, i.e. once [`Session::pending_transmit`] is
    /// 0 after this call. Idempotent.
    pub fn close(&mut self) -> Result<(), Error> {
        let est = self.established_mut()?;
        if est.fin_sent {
            return Ok(());
        }
        self.send_frame(&[], true, false)
    }

    /// Whether our FINp frame has been queued.
    pub fn fin_sent(&self) -> bool {
        matches!(&self.state, State::Established(e) if e.fin_sent)
    }

    /// Whether the peer's FINp frame has been verified.
    pub fn fin_received(&self) -> bool {
        matches!(&self.state, State::Established(e) if e.fin_received)
    }

    /// The TCP FIN of the peer arrived (after all stream bytes were given to
    /// [`Session::handle_stream`]). Without a verified FINp frame before it this is an error
    /// (RFC 8548 §3.7: abort, distinct from EOF).
    pub fn on_tcp_fin(&mut self) -> Result<(), Error> {
        if let State::Failed(e) = &self.state {
            return Err(*e);
        }
        if self.fin_received() && self.rx.is_empty() {
            return Ok(());
        }
        Err(self.fail(ProtocolError::FinWithoutFinp.into()))
    }

    /// Reads decrypted application data. `Ok(n > 0)`: data; `Ok(0)`: end of file, only after
    /// the peer's verified FINp frame (or when `buf` is empty); `Err(Error::WouldBlock)`: no
    /// data yet; any other error: the session failed (abort + RST), after the data verified
    /// before the fault has been read.
    pub fn read(&mut self, buf: &mut [u8]) -> Result<usize, Error> {
        if buf.is_empty() {
            return Ok(0);
        }
        if !self.plain.is_empty() {
            // Copied slice by slice (the ring has at most two), not byte by byte: this is
            // the receive hot path of every encrypted connection.
            let (front, back) = self.plain.as_slices();
            let n = buf.len().min(front.len() + back.len());
            let in_front = n.min(front.len());
            let (head, tail) = buf.split_at_mut(in_front);
            head.copy_from_slice(front.get(..in_front).unwrap_or_default());
            if let (Some(dst), Some(src)) = (tail.get_mut(..n - in_front), back.get(..n - in_front))
            {
                dst.copy_from_slice(src);
            }
            self.plain.drain(..n);
            return Ok(n);
        }
        match &self.state {
            State::Failed(e) => Err(*e),
            State::Established(e) if e.fin_received => Ok(0),
            _ => Err(Error::WouldBlock),
        }
    }

    /// Decrypted bytes ready for [`Session::read`].
    pub fn readable(&self) -> usize {
        self.plain.len()
    }

    /// Received bytes not yet forming a whole message or frame (an incomplete tail).
    pub fn pending_input(&self) -> usize {
        self.rx.len()
    }

    /// The session ID (RFC 8548 §3.4): B's TEP byte (v bit included) || 32 bytes. `None`
    /// until established (RFC 8547 §4.1: the call must fail when there is none).
    pub fn session_id(&self) -> Option<[u8; SESSION_ID_LEN]> {
        self.session_id
    }

    /// The negotiated TEP.
    pub fn tep(&self) -> Tep {
        self.tep
    }

    /// B's TEP byte as negotiated, v bit included (0x21..0x24 fresh, 0xa1..0xa4 resumed).
    pub fn tep_byte(&self) -> u8 {
        self.tep_byte
    }

    /// The AEAD, once chosen.
    pub fn cipher(&self) -> Option<Cipher> {
        self.cipher
    }

    /// This host's role in this connection.
    pub fn role(&self) -> Role {
        self.role
    }

    /// This host's role in the session that produced ss[0] (decides k_ab vs k_ba).
    pub fn original_role(&self) -> Role {
        self.original_role
    }

    /// Whether the keys are in place.
    pub fn is_established(&self) -> bool {
        matches!(self.state, State::Established(_))
    }

    /// Whether the session was resumed (TEP byte with v = 1).
    pub fn is_resumed(&self) -> bool {
        self.tep_byte & 0x80 != 0
    }

    /// The state.
    pub fn state(&self) -> SessionState {
        match &self.state {
            State::AwaitInit1 { .. } => SessionState::AwaitInit1,
            State::AwaitInit2 { .. } => SessionState::AwaitInit2,
            State::Established(e) if e.fin_sent && e.fin_received => SessionState::Closed,
            State::Established(_) => SessionState::Established,
            State::Failed(_) => SessionState::Failed,
        }
    }

    /// The fatal error, if the session failed.
    pub fn error(&self) -> Option<Error> {
        match &self.state {
            State::Failed(e) => Some(*e),
            _ => None,
        }
    }

    /// Key generations (local, remote) (RFC 8548 §3.8), once established.
    pub fn generations(&self) -> Option<(u64, u64)> {
        match &self.state {
            State::Established(e) => Some((e.keys.local(), e.keys.remote())),
            _ => None,
        }
    }

    /// Stream offsets (next frame sent, next frame received), once established.
    pub fn stream_offsets(&self) -> Option<(u64, u64)> {
        match &self.state {
            State::Established(e) => Some((e.send_offset, e.recv_offset)),
            _ => None,
        }
    }

    /// RFC 8547 §4.1 debug mode: resume[i] and the generation-0 traffic keys, if
    /// [`Config::debug_secrets`] was set.
    pub fn debug_secrets(&self) -> Option<&DebugSecrets> {
        self.debug.as_ref()
    }

    /// After a fresh key exchange: ss[1] for the resumption cache (RFC 8548 §3.5), once. `None`
    /// with [`Config::no_cache`], for resumed sessions (the cache already holds the chain),
    /// and after a failure.
    pub fn take_resumption_ticket(&mut self) -> Option<ResumptionTicket> {
        self.ticket.take()
    }
}

fn fresh_tep(tep_byte: u8) -> Result<Tep, Error> {
    if tep_byte & 0x80 != 0 {
        return Err(ProtocolError::UnsupportedTep { tep_byte }.into());
    }
    Tep::from_id(tep_byte).ok_or_else(|| ProtocolError::UnsupportedTep { tep_byte }.into())
}

/// Fuzzing entry point (for the lead's fuzz harnesses): decodes `data` as Init1 for every TEP
/// and feeds it to a session waiting for Init1. Never panics.
#[doc(hidden)]
pub fn fuzz_init1(data: &[u8]) {
    for tep in Tep::ALL {
        if let Ok(Decoded::Complete(m)) = Init1::decode(data, tep) {
            let repr = m.to_repr();
            let again = repr.to_bytes().unwrap_or_default();
            debug_assert!(m.trailer().is_empty() == (again.as_slice() == m.as_bytes()));
        }
    }
    if let Some(mut s) = fuzz_session(Role::B) {
        let _ = s.handle_stream(data);
        let _ = s.read(&mut [0u8; 64]);
        let _ = s.on_tcp_fin();
    }
}

/// Fuzzing entry point: decodes `data` as Init2 for every TEP and feeds it to a session
/// waiting for Init2. Never panics.
#[doc(hidden)]
pub fn fuzz_init2(data: &[u8]) {
    for tep in Tep::ALL {
        if let Ok(Decoded::Complete(m)) = Init2::decode(data, tep) {
            let _ = m.to_repr().to_bytes();
            let _ = (m.cipher(), m.nonce(), m.public_key(), m.trailer());
        }
    }
    if let Some(mut s) = fuzz_session(Role::A) {
        let mut sink = [0u8; 256];
        while s.poll_stream(&mut sink) > 0 {}
        let _ = s.handle_stream(data);
        let _ = s.read(&mut [0u8; 64]);
        let _ = s.write(b"x");
    }
}

fn fuzz_session(role: Role) -> Option<Session> {
    let p = crate::provider::default_provider();
    let kx = p.kx_from_private(Tep::X25519, &[0x5a; 32]).ok()?;
    let cfg = Config {
        ciphers: Cipher::ALL.to_vec(),
        ..Config::default()
    };
    Session::fresh_with_keys(role, Tep::X25519.id(), &[], cfg, p, kx, [0x17; NONCE_LEN]).ok()
}

fn fuzz_resumed_pair() -> Option<(Session, Session)> {
    let p = crate::provider::default_provider();
    let mk = |role: Role| {
        let secret = crate::resume::ResumeSecret::for_fuzzing(role);
        Session::resumed(role, Resumption::for_fuzzing(secret), Config::default(), p).ok()
    };
    Some((mk(Role::A)?, mk(Role::B)?))
}

/// Fuzzing entry point: runs a script over an established (resumed) pair A <-> B. Each
/// script byte picks an operation (write, keep-alive, deliver some bytes, deliver with a
/// flipped bit, close, TCP FIN); the rest of `data` after a 0xff byte goes raw into B's
/// `handle_stream`. Checks (debug builds) that B only ever reads a prefix of what A wrote:
/// tampered frames never yield plaintext. Returns the number of plaintext bytes B read
/// during the script. Never panics in release builds.
#[doc(hidden)]
pub fn fuzz_frames(data: &[u8]) -> usize {
    let Some((mut a, mut b)) = fuzz_resumed_pair() else {
        return 0;
    };
    let (script, raw) = match data.iter().position(|&x| x == 0xff) {
        Some(i) => (data.get(..i).unwrap_or_default(), data.get(i + 1..)),
        None => (data, None),
    };
    let mut written: Vec<u8> = Vec::new();
    let mut read: Vec<u8> = Vec::new();
    let mut buf = vec![0u8; 4096];
    let mut it = script.iter().copied();
    while let Some(op) = it.next() {
        let arg = usize::from(it.next().unwrap_or(0));
        match op % 9 {
            0 => {
                let chunk = vec![op; arg * 7];
                if let Ok(n) = a.write(&chunk) {
                    written.extend_from_slice(chunk.get(..n).unwrap_or_default());
                }
            }
            1 => {
                let _ = b.write(&vec![op; arg]);
            }
            2 => {
                let _ = a.keepalive();
            }
            3 => {
                let _ = b.keepalive();
            }
            4 | 5 => {
                let n = a.poll_stream(buf.get_mut(..arg * 3 + 1).unwrap_or_default());
                if let Some(chunk) = buf.get_mut(..n) {
                    if op % 9 == 5 {
                        if let Some(x) = chunk.get_mut(arg % n.max(1)) {
                            *x ^= 1 << (op % 8);
                        }
                    }
                    let _ = b.handle_stream(chunk);
                }
            }
            6 => {
                let n = b.poll_stream(&mut buf);
                let _ = a.handle_stream(buf.get(..n).unwrap_or_default());
            }
            7 => {
                let _ = if arg % 2 == 0 { a.close() } else { b.close() };
            }
            _ => {
                let _ = b.on_tcp_fin();
            }
        }
        while let Ok(n) = b.read(&mut buf) {
            if n == 0 {
                break;
            }
            read.extend_from_slice(buf.get(..n).unwrap_or_default());
        }
        debug_assert!(written.starts_with(&read));
    }
    if let Some(raw) = raw {
        let _ = b.handle_stream(raw);
        let _ = b.read(&mut buf);
        let _ = b.on_tcp_fin();
    }
    read.len()
}
