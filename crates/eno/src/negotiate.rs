//! RFC 8547 §4.3, §4.5–§4.8: roles, TEP selection, the handshake rules and the transcript.
//!
//! [`Negotiation`] is the per-connection ENO state the TCP engine feeds with every segment of
//! the handshake ([`Negotiation::on_segment`]) and asks what to send
//! ([`Negotiation::syn_option`], [`Negotiation::must_send_option`]). Its result is an
//! [`Outcome`]: [`Negotiated`] (roles, TEP, session-ID byte, transcript) or
//! `Disabled(`[`DisableReason`]`)`; a failed negotiation is an outcome, not an error.

use crate::error::{EmitError, EnoError};
use crate::option::{GlobalSuboption, Suboption, SynOption, NON_SYN_OPTION};
use core::fmt;

/// One TEP we offer: identifier and suboption data (RFC 8547 §4.1).
///
/// Empty `data` is sent as a `v = 0` suboption, non-empty `data` as `v = 1` (e.g. a tcpcrypt
/// resumption offer, RFC 8548 §3.5).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct TepOffer {
    /// 7-bit TEP identifier (0x20..=0x7f).
    pub id: u8,
    /// Suboption data; empty for a plain offer.
    pub data: Vec<u8>,
}

impl TepOffer {
    /// A plain (`v = 0`) offer of `id`.
    pub fn new(id: u8) -> Self {
        TepOffer {
            id,
            data: Vec::new(),
        }
    }

    /// An offer of `id` with suboption data (`v = 1`).
    pub fn with_data(id: u8, data: Vec<u8>) -> Self {
        TepOffer { id, data }
    }

    /// The suboption this offer is sent as.
    pub fn suboption(&self) -> Suboption {
        if self.data.is_empty() {
            Suboption::new(self.id)
        } else {
            Suboption::with_data(self.id, self.data.clone())
        }
    }
}

/// Per-connection ENO configuration (RFC 8547 §4.2, §4.7; API duties of IMPLEMENTING.md §4.1).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Config {
    /// Use ENO at all. When false no ENO option is sent and the outcome is
    /// [`DisableReason::ConfigDisabled`]; received SYN data with ENO must still be discarded
    /// ([`must_discard_syn_data`]).
    pub enabled: bool,
    /// TEPs offered, in **rising** priority (the last is preferred). An active opener sends
    /// them in this order; a passive opener answers with one of them.
    pub teps: Vec<TepOffer>,
    /// Passive role bit for an **active** opener (RFC 8547 §4.2: default 0, settable before
    /// connect, only useful for simultaneous open). A passive opener always sends b = 1.
    pub b: bool,
    /// Application-aware bit `a` we send (RFC 8547 §4.2: default 0).
    pub a: bool,
    /// Mandatory application-aware mode (RFC 8547 §4.2): send a = 1 (whatever `a` says) and
    /// disable ENO if the peer's a = 0.
    pub aa_mandatory: bool,
    /// Mandatory encryption mode (RFC 8547 §4.7, MAY): the connection must be aborted when
    /// ENO fails; see [`Negotiation::must_abort`].
    pub mandatory_encryption: bool,
}

impl Default for Config {
    /// ENO enabled, no TEP, all bits 0, no mandatory modes.
    fn default() -> Self {
        Config {
            enabled: true,
            teps: Vec::new(),
            b: false,
            a: false,
            aa_mandatory: false,
            mandatory_encryption: false,
        }
    }
}

impl Config {
    /// The global suboption we send: b = 1 for a passive opener or when configured, a = 1 when
    /// configured or in mandatory application-aware mode.
    pub fn local_global(&self, passive: bool) -> GlobalSuboption {
        GlobalSuboption {
            a: self.a || self.aa_mandatory,
            b: passive || self.b,
        }
    }

    /// The SYN-form option of an active opener: the global suboption (left out when it is
    /// 0x00, which is implicit) followed by the configured TEPs in order.
    pub fn active_syn_option(&self) -> SynOption {
        let g = self.local_global(false);
        SynOption {
            global: (g != GlobalSuboption::IMPLICIT).then_some(g),
            suboptions: self.teps.iter().map(TepOffer::suboption).collect(),
        }
    }
}

/// What the TCP option parser found for kind 69 in one received segment (RFC 8547 §4.1).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EnoSlot<'a> {
    /// No ENO option.
    None,
    /// Exactly one ENO option: the whole option, kind and length bytes included.
    One(&'a [u8]),
    /// More than one ENO option. In a SYN this counts as none (RFC 8547 §4.1); in a non-SYN
    /// segment as one.
    Many,
}

impl EnoSlot<'_> {
    /// Whether any ENO option is present.
    pub fn is_present(&self) -> bool {
        !matches!(self, EnoSlot::None)
    }
}

/// RFC 8547 §4.3: the abstract roles. A sent b = 0, B sent b = 1.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Role {
    /// Host A (b = 0; normally the active opener).
    A,
    /// Host B (b = 1; always the passive opener).
    B,
}

/// A successful negotiation (RFC 8547 §4.5, §4.8, §5.1).
#[derive(Clone, PartialEq, Eq)]
pub struct Negotiated {
    /// Our role.
    pub role: Role,
    /// The negotiated 7-bit TEP identifier.
    pub tep: u8,
    /// The negotiated TEP byte as host B sent it, `v` bit included (session ID byte 0).
    pub sessid_byte: u8,
    /// A's SYN-form ENO option followed by B's, exactly as on the wire (RFC 8547 §4.8).
    pub transcript: Vec<u8>,
    /// The global suboption we sent (explicit or implicit).
    pub local_global: GlobalSuboption,
    /// The global suboption the peer sent (explicit or implicit).
    pub peer_global: GlobalSuboption,
    /// Our suboption data for the negotiated TEP (the last of our suboptions with that id).
    pub local_data: Vec<u8>,
    /// The peer's suboption data for the negotiated TEP (for B's side: the negotiated
    /// suboption; for A's side: the last A suboption with that id).
    pub peer_data: Vec<u8>,
}

impl Negotiated {
    /// Whether B sent the negotiated TEP with `v = 1` (for tcpcrypt: resumption).
    pub fn b_v_bit(&self) -> bool {
        self.sessid_byte & 0x80 != 0
    }
}

impl fmt::Debug for Negotiated {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Suboption data may carry resumption identifiers: print only their lengths.
        f.debug_struct("Negotiated")
            .field("role", &self.role)
            .field("tep", &format_args!("{:#04x}", self.tep))
            .field("sessid_byte", &format_args!("{:#04x}", self.sessid_byte))
            .field("transcript_len", &self.transcript.len())
            .field("local_global", &self.local_global)
            .field("peer_global", &self.peer_global)
            .field("local_data_len", &self.local_data.len())
            .field("peer_data_len", &self.peer_data.len())
            .finish()
    }
}

/// Why ENO is off for a connection (RFC 8547 §4.1, §4.4, §4.6). The connection goes on as
/// plain TCP unless [`Config::mandatory_encryption`] is set.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum DisableReason {
    /// [`Config::enabled`] is false.
    ConfigDisabled,
    /// Our own SYN option could not be encoded from the configuration (or selector answer).
    LocalOption(EmitError),
    /// The local side gave up (e.g. dropped ENO from a retransmitted SYN, RFC 8547 §4.6).
    Abandoned,
    /// A segment up to and including the first received ACK segment had no ENO option
    /// (RFC 8547 §4.6 rule 1).
    Missing,
    /// The peer's SYN-form ENO option is ill-formed (RFC 8547 §4.4, §4.6 rule 1).
    IllFormed(EnoError),
    /// The peer's SYN carried more than one ENO option (RFC 8547 §4.1).
    TwoInSyn,
    /// Both sides sent the same `b` (RFC 8547 §4.3, §4.6 rule 3).
    RoleConflict,
    /// Mandatory application-aware mode and the peer sent a = 0 (RFC 8547 §4.6 rule 3).
    PeerNotAppAware,
    /// No valid TEP, including vacuous options (RFC 8547 §4.5, §4.6 rule 2).
    NoCommonTep,
    /// The peer's SYN-form option changed between its SYN and a later SYN or SYN-ACK
    /// (RFC 8547 §4.6 forbids it).
    PeerOptionChanged,
}

/// The end result of ENO negotiation for a connection.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// Encryption is on with the negotiated TEP; the TEP now governs the connection and no
    /// raw payload may reach the application (RFC 8547 §4.6).
    Negotiated(Negotiated),
    /// Encryption is off.
    Disabled(DisableReason),
}

impl Outcome {
    /// The negotiation result, if ENO succeeded.
    pub fn negotiated(&self) -> Option<&Negotiated> {
        match self {
            Outcome::Negotiated(n) => Some(n),
            Outcome::Disabled(_) => None,
        }
    }

    /// Whether ENO succeeded.
    pub fn is_negotiated(&self) -> bool {
        matches!(self, Outcome::Negotiated(_))
    }
}

/// Chooses a passive opener's answer to the peer's SYN option (RFC 8547 §4.5: a passive
/// opener SHOULD answer with one TEP, known to be valid).
///
/// Return the TEP suboptions for our SYN-ACK (the global suboption with b = 1 is added by
/// [`Negotiation`]), `Some(vec![])` for a vacuous answer, or `None` to send no ENO option.
/// Implemented for every `FnMut(&SynOption, &[TepOffer]) -> Option<Vec<Suboption>> + Send`.
pub trait TepSelector: Send {
    /// `peer` is the peer's parsed SYN option, `local` our configured offers.
    fn select(&mut self, peer: &SynOption, local: &[TepOffer]) -> Option<Vec<Suboption>>;
}

impl<F> TepSelector for F
where
    F: FnMut(&SynOption, &[TepOffer]) -> Option<Vec<Suboption>> + Send,
{
    fn select(&mut self, peer: &SynOption, local: &[TepOffer]) -> Option<Vec<Suboption>> {
        self(peer, local)
    }
}

/// The default [`TepSelector`]: the last (highest-priority) local TEP whose identifier the
/// peer offered (the `v` bit is not compared), answered as one `v = 0` suboption.
#[derive(Clone, Copy, Debug, Default)]
pub struct DefaultSelector;

impl TepSelector for DefaultSelector {
    fn select(&mut self, peer: &SynOption, local: &[TepOffer]) -> Option<Vec<Suboption>> {
        local
            .iter()
            .rev()
            .find(|t| peer.offers(t.id))
            .map(|t| vec![Suboption::new(t.id)])
    }
}

/// Judges RFC 8547 §4.5 conditions 2 and 3 (suboption data valid under the TEP's rules,
/// repetition defined) for one candidate suboption of host B.
///
/// Called only for B suboptions whose identifier A also offered. `a` is A's whole parsed SYN
/// option; `b` is the candidate. Returning false skips it (e.g. tcpcrypt: A ignores a
/// resumption suboption whose identifier half does not match, RFC 8548 §3.5). Implemented
/// for every `Fn(&SynOption, &Suboption) -> bool + Send`.
pub trait TepValidator: Send {
    /// Whether `b` is a valid TEP suboption given A's option `a`.
    fn is_valid(&self, a: &SynOption, b: &Suboption) -> bool;
}

impl<F> TepValidator for F
where
    F: Fn(&SynOption, &Suboption) -> bool + Send,
{
    fn is_valid(&self, a: &SynOption, b: &Suboption) -> bool {
        self(a, b)
    }
}

/// The default [`TepValidator`]: every suboption whose identifier both sides sent is valid.
#[derive(Clone, Copy, Debug, Default)]
pub struct AcceptAll;

impl TepValidator for AcceptAll {
    fn is_valid(&self, _a: &SynOption, _b: &Suboption) -> bool {
        true
    }
}

/// RFC 8547 §4.5: index in `b.suboptions` of the negotiated TEP: the **last** suboption of B
/// whose identifier A also sent (compared without the `v` bit) and that `validator` accepts.
/// `None` if there is no valid TEP (always the case when either option is vacuous).
pub fn select_tep(a: &SynOption, b: &SynOption, validator: &dyn TepValidator) -> Option<usize> {
    b.suboptions
        .iter()
        .enumerate()
        .rev()
        .find(|(_, s)| a.offers(s.tep) && validator.is_valid(a, s))
        .map(|(i, _)| i)
}

/// The two SYN-form options of a connection in A/B order, raw and parsed.
struct Pair<'a> {
    a_raw: &'a [u8],
    a: &'a SynOption,
    b_raw: &'a [u8],
    b: &'a SynOption,
}

impl Pair<'_> {
    /// RFC 8547 §4.5 and §4.8 for these options, seen from `role`.
    fn negotiate(&self, role: Role, validator: &dyn TepValidator) -> Option<Negotiated> {
        let idx = select_tep(self.a, self.b, validator)?;
        let bsub = self.b.suboptions.get(idx)?;
        let tep = bsub.tep & 0x7f;
        let a_data = self
            .a
            .suboptions
            .iter()
            .rev()
            .find(|s| s.tep & 0x7f == tep)
            .map(|s| s.data.clone())
            .unwrap_or_default();
        let b_data = bsub.data.clone();
        let mut transcript = Vec::with_capacity(self.a_raw.len() + self.b_raw.len());
        transcript.extend_from_slice(self.a_raw);
        transcript.extend_from_slice(self.b_raw);
        let ga = self.a.global_or_implicit();
        let gb = self.b.global_or_implicit();
        let (local_global, peer_global, local_data, peer_data) = match role {
            Role::A => (ga, gb, a_data, b_data),
            Role::B => (gb, ga, b_data, a_data),
        };
        Some(Negotiated {
            role,
            tep,
            sessid_byte: bsub.first_byte(),
            transcript,
            local_global,
            peer_global,
            local_data,
            peer_data,
        })
    }
}

/// RFC 8547 §4.5–§4.8 as a pure function of A's SYN option and B's SYN(-ACK) option (whole
/// options, kind and length included; `None` = no ENO option), seen from host A.
///
/// Checks presence, well-formedness, the `b` bits (A's must be 0, B's 1) and picks the last
/// TEP in B's option that A offered (every suboption data is accepted). The
/// application-aware bit and simultaneous open are out of scope. Used by the conformance
/// shim's `eno_outcome`.
pub fn outcome_of(a_syn: Option<&[u8]>, b_synack: Option<&[u8]>) -> Outcome {
    let parse = |raw: Option<&[u8]>| -> Result<(Vec<u8>, SynOption), DisableReason> {
        let raw = raw.ok_or(DisableReason::Missing)?;
        let opt = SynOption::parse_option(raw).map_err(DisableReason::IllFormed)?;
        Ok((raw.to_vec(), opt))
    };
    let result = (|| {
        let (a_raw, a) = parse(a_syn)?;
        let (b_raw, b) = parse(b_synack)?;
        if a.global_or_implicit().b || !b.global_or_implicit().b {
            return Err(DisableReason::RoleConflict);
        }
        let pair = Pair {
            a_raw: &a_raw,
            a: &a,
            b_raw: &b_raw,
            b: &b,
        };
        pair.negotiate(Role::A, &AcceptAll)
            .ok_or(DisableReason::NoCommonTep)
    })();
    match result {
        Ok(n) => Outcome::Negotiated(n),
        Err(r) => Outcome::Disabled(r),
    }
}

/// RFC 8547 §4.7: whether the payload of a received SYN segment with this ENO slot must be
/// discarded.
///
/// No TEP this crate negotiates (tcpcrypt included) defines SYN data, so the data of every
/// SYN+ENO segment is discarded — also when ENO is disabled by configuration, and also for a
/// SYN with several ENO options (which counts as no ENO for negotiation; discarding is the
/// safe reading). The engine must then acknowledge only the peer's ISN, not the data, and
/// take data only from non-SYN segments. We never send SYN data ourselves.
pub fn must_discard_syn_data(slot: EnoSlot<'_>) -> bool {
    slot.is_present()
}

/// Which side opened the connection.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Opener {
    Active,
    Passive,
}

/// Per-connection TCP-ENO negotiation (RFC 8547 §4.3–§4.8), sans-IO.
///
/// Life cycle, driven by the TCP engine:
/// 1. Create with [`Negotiation::active`] (connect) or [`Negotiation::passive`] (listener;
///    [`Negotiation::passive_with_selector`] to choose the answer yourself).
/// 2. Put [`Negotiation::syn_option`] (when `Some`) in every SYN / SYN-ACK we send, the same
///    bytes on every retransmission.
/// 3. Call [`Negotiation::on_segment`] for every segment TCP accepts during the handshake,
///    with the ENO slot the option parser found. For a passive opener the SYN computes our
///    SYN-ACK option.
/// 4. While [`Negotiation::must_send_option`] is true, put [`NON_SYN_OPTION`] (`45 02`) in
///    every non-SYN segment we send (the third ACK, Init1 data, …).
/// 5. Read [`Negotiation::outcome`]: `None` while undecided. An active opener decides on the
///    SYN-ACK (it will send ENO in its ACK, which makes encryption on); a passive opener on
///    the first ACK segment it receives. If [`Negotiation::must_abort`], abort (RST).
pub struct Negotiation {
    opener: Opener,
    local_global: GlobalSuboption,
    aa_mandatory: bool,
    mandatory_encryption: bool,
    local_offers: Vec<TepOffer>,
    /// Our SYN-form option as sent, once known.
    local_raw: Option<Vec<u8>>,
    local_syn: Option<SynOption>,
    /// The peer's SYN-form option as received, once seen.
    peer_raw: Option<Vec<u8>>,
    peer_syn: Option<SynOption>,
    /// Negotiation computed from both SYN options, waiting for the first received ACK.
    pending: Option<Negotiated>,
    outcome: Option<Outcome>,
    received_non_syn: bool,
    selector: Box<dyn TepSelector>,
    validator: Box<dyn TepValidator>,
}

impl fmt::Debug for Negotiation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Negotiation")
            .field("opener", &self.opener)
            .field("local_global", &self.local_global)
            .field("local_syn", &self.local_syn)
            .field("peer_syn_seen", &self.peer_syn.is_some())
            .field("outcome", &self.outcome)
            .field("received_non_syn", &self.received_non_syn)
            .finish_non_exhaustive()
    }
}

impl Negotiation {
    fn new(config: &Config, opener: Opener) -> Self {
        let passive = opener == Opener::Passive;
        Negotiation {
            opener,
            local_global: config.local_global(passive),
            aa_mandatory: config.aa_mandatory,
            mandatory_encryption: config.mandatory_encryption,
            local_offers: config.teps.clone(),
            local_raw: None,
            local_syn: None,
            peer_raw: None,
            peer_syn: None,
            pending: None,
            outcome: (!config.enabled).then_some(Outcome::Disabled(DisableReason::ConfigDisabled)),
            received_non_syn: false,
            selector: Box::new(DefaultSelector),
            validator: Box::new(AcceptAll),
        }
    }

    /// An active opener (connect). Its SYN option is built at once from `config`: global
    /// suboption (omitted when 0x00), then `config.teps` in order.
    pub fn active(config: &Config) -> Self {
        let mut n = Negotiation::new(config, Opener::Active);
        if n.outcome.is_none() {
            let syn = config.active_syn_option();
            match syn.to_bytes() {
                Ok(raw) => {
                    n.local_raw = Some(raw);
                    n.local_syn = Some(syn);
                }
                Err(e) => n.outcome = Some(Outcome::Disabled(DisableReason::LocalOption(e))),
            }
        }
        n
    }

    /// A passive opener (listener) answering with [`DefaultSelector`].
    pub fn passive(config: &Config) -> Self {
        Negotiation::new(config, Opener::Passive)
    }

    /// A passive opener whose SYN-ACK suboptions are chosen by `selector`.
    pub fn passive_with_selector(config: &Config, selector: Box<dyn TepSelector>) -> Self {
        Negotiation::passive(config).with_selector(selector)
    }

    /// Replaces the passive opener's [`TepSelector`] (use before the peer's SYN arrives).
    pub fn with_selector(mut self, selector: Box<dyn TepSelector>) -> Self {
        self.selector = selector;
        self
    }

    /// Replaces the [`TepValidator`] that judges B's candidate suboptions (default
    /// [`AcceptAll`]); needed by an active opener offering tcpcrypt resumption.
    pub fn with_validator(mut self, validator: Box<dyn TepValidator>) -> Self {
        self.validator = validator;
        self
    }

    /// Our role, fixed by the `b` bit we send (RFC 8547 §4.3).
    pub fn role(&self) -> Role {
        if self.local_global.b {
            Role::B
        } else {
            Role::A
        }
    }

    /// Whether we are the passive opener.
    pub fn is_passive(&self) -> bool {
        self.opener == Opener::Passive
    }

    /// Our whole SYN-form ENO option for the SYN or SYN-ACK we send, byte-identical across
    /// retransmissions. `None`: send no ENO option (disabled, or a passive opener that has not
    /// seen an acceptable SYN with ENO). A passive opener's vacuous answer is still returned.
    pub fn syn_option(&self) -> Option<&[u8]> {
        self.local_raw.as_deref()
    }

    /// Our SYN-form option, parsed.
    pub fn local_syn_option(&self) -> Option<&SynOption> {
        self.local_syn.as_ref()
    }

    /// The peer's SYN-form option as received (whole option), once seen and well-formed.
    pub fn peer_syn_option_bytes(&self) -> Option<&[u8]> {
        self.peer_raw.as_deref()
    }

    /// The peer's SYN-form option, parsed.
    pub fn peer_syn_option(&self) -> Option<&SynOption> {
        self.peer_syn.as_ref()
    }

    /// The global suboption the peer sent, once its SYN was parsed; `.a` is the peer's
    /// application-aware bit (RFC 8547 §4.2: the API must expose it).
    pub fn peer_global(&self) -> Option<GlobalSuboption> {
        self.peer_syn.as_ref().map(SynOption::global_or_implicit)
    }

    /// The global suboption we send.
    pub fn local_global(&self) -> GlobalSuboption {
        self.local_global
    }

    /// Feeds one received segment of the handshake (RFC 8547 §4.6).
    ///
    /// Call it for every segment TCP accepts until [`Negotiation::outcome`] is decided and
    /// [`Negotiation::must_send_option`] is false (later calls are harmless). `syn`/`ack` are
    /// the segment's flags, `slot` what the option parser found for kind 69.
    pub fn on_segment(&mut self, syn: bool, ack: bool, slot: EnoSlot<'_>) {
        if matches!(self.outcome, Some(Outcome::Disabled(_))) {
            return;
        }
        if !syn {
            self.received_non_syn = true;
        }
        if self.outcome.is_some() {
            // Negotiated: non-SYN-form contents mean nothing to ENO or tcpcrypt.
            return;
        }
        if syn {
            if let Err(reason) = self.on_peer_syn(slot) {
                self.disable(reason);
                return;
            }
        } else if !slot.is_present() {
            // Rule 1: a segment up to and including the first received ACK without ENO.
            self.disable(DisableReason::Missing);
            return;
        }
        if ack {
            // First received ACK segment with ENO; we have sent (SYN-ACK, simultaneous open
            // or passive) or are about to send (the active opener's ACK) one too.
            if let Some(n) = self.pending.take() {
                self.outcome = Some(Outcome::Negotiated(n));
            }
        }
    }

    /// Processes the ENO slot of a received SYN or SYN-ACK.
    fn on_peer_syn(&mut self, slot: EnoSlot<'_>) -> Result<(), DisableReason> {
        let raw = match slot {
            EnoSlot::None => return Err(DisableReason::Missing),
            EnoSlot::Many => return Err(DisableReason::TwoInSyn),
            EnoSlot::One(raw) => raw,
        };
        if let Some(seen) = &self.peer_raw {
            // A retransmitted SYN, or the SYN-ACK of a simultaneous open: same bytes required.
            return if seen.as_slice() == raw {
                Ok(())
            } else {
                Err(DisableReason::PeerOptionChanged)
            };
        }
        let peer = SynOption::parse_option(raw).map_err(DisableReason::IllFormed)?;
        let peer_global = peer.global_or_implicit();
        self.peer_raw = Some(raw.to_vec());
        self.peer_syn = Some(peer);
        if peer_global.b == self.local_global.b {
            return Err(DisableReason::RoleConflict);
        }
        if self.aa_mandatory && !peer_global.a {
            return Err(DisableReason::PeerNotAppAware);
        }
        if self.opener == Opener::Passive {
            self.answer_syn()?;
        }
        let (Some(local_raw), Some(local), Some(peer_raw), Some(peer)) = (
            self.local_raw.as_deref(),
            self.local_syn.as_ref(),
            self.peer_raw.as_deref(),
            self.peer_syn.as_ref(),
        ) else {
            return Err(DisableReason::NoCommonTep);
        };
        let role = self.role();
        let pair = match role {
            Role::A => Pair {
                a_raw: local_raw,
                a: local,
                b_raw: peer_raw,
                b: peer,
            },
            Role::B => Pair {
                a_raw: peer_raw,
                a: peer,
                b_raw: local_raw,
                b: local,
            },
        };
        match pair.negotiate(role, self.validator.as_ref()) {
            Some(n) => {
                self.pending = Some(n);
                Ok(())
            }
            // A vacuous answer of ours stays on the wire (the SYN had ENO, RFC 8547 §4.6).
            None if self.opener == Opener::Passive => {
                self.outcome = Some(Outcome::Disabled(DisableReason::NoCommonTep));
                Ok(())
            }
            None => Err(DisableReason::NoCommonTep),
        }
    }

    /// Passive opener: builds our SYN-ACK option from the selector's answer.
    fn answer_syn(&mut self) -> Result<(), DisableReason> {
        let Some(peer) = self.peer_syn.as_ref() else {
            return Err(DisableReason::Missing);
        };
        let suboptions = self
            .selector
            .select(peer, &self.local_offers)
            .ok_or(DisableReason::NoCommonTep)?;
        let syn = SynOption {
            // RFC 8547 §4.2: a passive opener always sends an explicit global with b = 1.
            global: Some(self.local_global),
            suboptions,
        };
        let raw = syn.to_bytes().map_err(DisableReason::LocalOption)?;
        self.local_raw = Some(raw);
        self.local_syn = Some(syn);
        Ok(())
    }

    /// Turns ENO off and stops sending ENO options (RFC 8547 §4.6).
    fn disable(&mut self, reason: DisableReason) {
        self.pending = None;
        self.local_raw = None;
        self.outcome = Some(Outcome::Disabled(reason));
    }

    /// Gives up on ENO before it is decided, e.g. when an active opener retransmits its SYN
    /// without ENO to get past a middlebox (RFC 8547 §4.6 allows it). No effect once
    /// negotiated: from then on failures mean abort.
    pub fn abandon(&mut self) {
        if self.outcome.is_none() {
            self.disable(DisableReason::Abandoned);
        }
    }

    /// Whether every non-SYN segment we send must carry [`NON_SYN_OPTION`] (RFC 8547 §4.6:
    /// until ENO is disabled or we have received a non-SYN segment).
    pub fn must_send_option(&self) -> bool {
        self.local_raw.is_some()
            && !self.received_non_syn
            && !matches!(self.outcome, Some(Outcome::Disabled(_)))
    }

    /// The non-SYN-form option to send while [`Negotiation::must_send_option`] is true.
    pub fn non_syn_option(&self) -> &'static [u8] {
        &NON_SYN_OPTION
    }

    /// The outcome, `None` while undecided.
    pub fn outcome(&self) -> Option<&Outcome> {
        self.outcome.as_ref()
    }

    /// Whether ENO negotiated a TEP (encryption on).
    pub fn is_enabled(&self) -> bool {
        matches!(self.outcome, Some(Outcome::Negotiated(_)))
    }

    /// Whether ENO failed while [`Config::mandatory_encryption`] is set: the engine must abort
    /// the connection (RST, reported as an abort, RFC 8547 §4.7).
    pub fn must_abort(&self) -> bool {
        self.mandatory_encryption && matches!(self.outcome, Some(Outcome::Disabled(_)))
    }

    /// Whether the payload of a received SYN with this slot must be discarded (see
    /// [`must_discard_syn_data`]; true for every SYN+ENO segment).
    pub fn must_discard_syn_data(&self, slot: EnoSlot<'_>) -> bool {
        must_discard_syn_data(slot)
    }
}
