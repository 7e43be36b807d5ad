//! TCP-ENO (RFC 8547): encryption negotiation option codec and negotiation, sans-IO.
//!
//! * [`option`] (RFC 8547 §4.1, §4.2, §4.4): the option codec. [`SynOption::parse_option`]
//!   parses a whole SYN-form option (kind 69, length, suboptions); [`SynOption::emit`] writes
//!   the shortest encoding. Ill-formed input gives an [`EnoError`] with the byte offset.
//! * [`negotiate`] (RFC 8547 §4.3, §4.5–§4.8): [`Negotiation`], the per-connection state the
//!   TCP engine drives; [`outcome_of`], the same rules as a pure function of two options.
//! * [`tep`]: [`TepId`] and the registered identifiers (tcpcrypt 0x21..=0x24).
//!
//! # Engine contract
//!
//! ```text
//! let mut n = Negotiation::active(&cfg);           // or Negotiation::passive(&cfg)
//! SYN / SYN-ACK we send:   n.syn_option()          // Some(bytes) => append that option
//! every segment received:  n.on_segment(syn, ack, EnoSlot::{None, One(opt), Many})
//! non-SYN we send:         if n.must_send_option() { append NON_SYN_OPTION (45 02) }
//! received SYN payload:    if must_discard_syn_data(slot) { drop it, ACK only the ISN }
//! result:                  n.outcome(): None | Some(Negotiated{..}) | Some(Disabled(reason))
//! mandatory encryption:    if n.must_abort() { abort with RST }
//! ```
//!
//! A whole three-way handshake (RFC 8547 §6, Figure 9):
//!
//! ```
//! use eno::{Config, EnoSlot, Negotiation, TepId, TepOffer, NON_SYN_OPTION};
//!
//! let cfg = Config { teps: vec![TepOffer::new(TepId::X25519.0)], ..Config::default() };
//! let mut a = Negotiation::active(&cfg);
//! let mut b = Negotiation::passive(&cfg);
//!
//! let syn = a.syn_option().unwrap().to_vec();                 // 45 03 23
//! b.on_segment(true, false, EnoSlot::One(&syn));
//! let synack = b.syn_option().unwrap().to_vec();              // 45 04 01 23
//! a.on_segment(true, true, EnoSlot::One(&synack));
//! assert!(a.must_send_option());                              // third ACK carries 45 02
//! b.on_segment(false, true, EnoSlot::One(&NON_SYN_OPTION));
//!
//! let n = b.outcome().and_then(|o| o.negotiated()).unwrap();
//! assert_eq!(n.sessid_byte, 0x23);
//! assert_eq!(n.transcript, [0x45, 0x03, 0x23, 0x45, 0x04, 0x01, 0x23]);
//! assert!(a.is_enabled() && b.is_enabled());
//! ```
//!
//! A passive opener can choose its answer (tcpcrypt resumption) with
//! [`Negotiation::passive_with_selector`]; an active opener can reject B's suboption data with
//! [`Negotiation::with_validator`]. We never send SYN data.
//!
//! Decisions on RFC-silent points: an active opener's option leaves out a 0x00 global
//! suboption (implicit); a passive opener that disables ENO (no common TEP, role conflict,
//! ill-formed or missing option) sends no ENO at all, not a vacuous option; a peer whose SYN
//! option changes between its SYN and a later SYN/SYN-ACK disables ENO.

#![forbid(unsafe_code)]
#![warn(missing_docs, unreachable_pub)]

pub mod error;
pub mod negotiate;
pub mod option;
pub mod tep;

pub use error::{EmitError, EnoError};
pub use negotiate::{
    must_discard_syn_data, outcome_of, select_tep, AcceptAll, Config, DefaultSelector,
    DisableReason, EnoSlot, Negotiated, Negotiation, Outcome, Role, TepOffer, TepSelector,
    TepValidator,
};
pub use option::{
    option_contents, GlobalSuboption, Suboption, SynOption, ENO_KIND, MAX_LENGTH_BYTE_DATA,
    MAX_OPTION_LEN, NON_SYN_OPTION,
};
pub use tep::TepId;

/// Fuzzing entry point: runs the parser, the encoder and a whole negotiation on arbitrary
/// bytes. Never panics on any input; debug assertions check the codec round trip.
#[doc(hidden)]
pub fn fuzz_parse(data: &[u8]) {
    for opt in [SynOption::parse(data), SynOption::parse_option(data)]
        .into_iter()
        .flatten()
    {
        if let Ok(bytes) = opt.to_bytes() {
            debug_assert_eq!(SynOption::parse_option(&bytes).ok(), Some(opt));
        }
    }
    let _ = option_contents(data);

    // Split the input into A's and B's options and a configuration byte.
    let (ctl, rest) = data.split_first().unwrap_or((&0, &[]));
    let cut = usize::from(*ctl).min(rest.len());
    let (a_opt, b_opt) = rest.split_at(cut);
    let _ = outcome_of(Some(a_opt), Some(b_opt));
    let _ = outcome_of(None, Some(b_opt));

    let cfg = Config {
        enabled: ctl & 0x01 == 0,
        teps: b_opt
            .iter()
            .take(4)
            .map(|&t| TepOffer::new(0x20 | (t & 0x7f)))
            .collect(),
        b: ctl & 0x02 != 0,
        a: ctl & 0x04 != 0,
        aa_mandatory: ctl & 0x08 != 0,
        mandatory_encryption: ctl & 0x10 != 0,
    };
    fn slot(s: &[u8]) -> EnoSlot<'_> {
        if s.is_empty() {
            EnoSlot::None
        } else {
            EnoSlot::One(s)
        }
    }
    let mut active = Negotiation::active(&cfg);
    active.on_segment(ctl & 0x20 != 0, true, slot(b_opt));
    active.on_segment(false, true, slot(a_opt));
    let _ = (
        active.outcome(),
        active.must_send_option(),
        active.must_abort(),
    );

    let mut passive = Negotiation::passive(&cfg);
    passive.on_segment(true, ctl & 0x40 != 0, slot(a_opt));
    let _ = passive.syn_option();
    passive.on_segment(ctl & 0x80 != 0, true, slot(b_opt));
    let _ = (passive.outcome(), passive.must_send_option());
}
