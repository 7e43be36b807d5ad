//! Simulated segments between two `Negotiation`s: each segment carries SYN/ACK flags and the
//! ENO option the sender's `Negotiation` asked for; a middlebox may strip it in flight.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use eno::{Config, DisableReason, EnoSlot, Negotiation, Outcome, TepOffer, NON_SYN_OPTION};

/// One segment on the wire, as far as ENO is concerned.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Seg {
    pub(crate) syn: bool,
    pub(crate) ack: bool,
    pub(crate) eno: Option<Vec<u8>>,
}

impl Seg {
    /// The same segment with its ENO option removed (a middlebox).
    pub(crate) fn stripped(mut self) -> Seg {
        self.eno = None;
        self
    }
}

/// A SYN (`ack = false`) or SYN-ACK (`ack = true`) sent by `n`.
pub(crate) fn syn(n: &Negotiation, ack: bool) -> Seg {
    Seg {
        syn: true,
        ack,
        eno: n.syn_option().map(<[u8]>::to_vec),
    }
}

/// A non-SYN ACK (or data) segment sent by `n`.
pub(crate) fn ack(n: &Negotiation) -> Seg {
    Seg {
        syn: false,
        ack: true,
        eno: n.must_send_option().then(|| NON_SYN_OPTION.to_vec()),
    }
}

/// Delivers `seg` to `n`.
pub(crate) fn deliver(n: &mut Negotiation, seg: &Seg) {
    let slot = match &seg.eno {
        None => EnoSlot::None,
        Some(o) => EnoSlot::One(o),
    };
    n.on_segment(seg.syn, seg.ack, slot);
}

/// Hex decode for readable vectors.
pub(crate) fn h(s: &str) -> Vec<u8> {
    let s: String = s.chars().filter(|c| !c.is_whitespace()).collect();
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect()
}

/// A configuration offering `teps` (in priority order), everything else default.
pub(crate) fn cfg(teps: &[u8]) -> Config {
    Config {
        teps: teps.iter().map(|&t| TepOffer::new(t)).collect(),
        ..Config::default()
    }
}

/// Why `n` disabled ENO; panics unless it did.
pub(crate) fn disabled(n: &Negotiation) -> DisableReason {
    match n.outcome() {
        Some(Outcome::Disabled(r)) => r.clone(),
        other => panic!("expected disabled, got {other:?}"),
    }
}

/// An active opener with `config`, whose SYN carries exactly the ENO option `opt` (hex).
pub(crate) fn active_sending(config: &Config, opt: &str) -> Negotiation {
    let a = Negotiation::active(config);
    assert_eq!(a.syn_option(), Some(&h(opt)[..]));
    a
}
