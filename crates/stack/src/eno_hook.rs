//! The TCP-ENO hook (RFC 8547 §4.1, §4.6, §4.7): per connection, an `eno::Negotiation`
//! fed every handshake segment, its option put in our SYN/SYN-ACK, the non-SYN `45 02`
//! added while required, and the outcome reported once.

use eno::{Negotiation, Outcome};

use crate::wire::options::EnoSlot;

/// ENO state of one connection.
#[derive(Debug)]
pub struct EnoHook {
    neg: Negotiation,
    reported: bool,
}

/// Convert the option parser's slot into the negotiation's.
pub(crate) fn to_eno_slot(slot: EnoSlot<'_>) -> eno::EnoSlot<'_> {
    match slot {
        EnoSlot::None => eno::EnoSlot::None,
        EnoSlot::One(o) => eno::EnoSlot::One(o),
        EnoSlot::Many => eno::EnoSlot::Many,
    }
}

impl EnoHook {
    /// Active opener (host A unless configured otherwise).
    pub(crate) fn active(cfg: &eno::Config) -> Self {
        EnoHook {
            neg: Negotiation::active(cfg),
            reported: false,
        }
    }

    /// Passive opener (host B).
    pub(crate) fn passive(cfg: &eno::Config) -> Self {
        EnoHook {
            neg: Negotiation::passive(cfg),
            reported: false,
        }
    }

    /// The SYN-form option to put in our SYN or SYN-ACK (whole option).
    pub(crate) fn syn_option(&self) -> Option<&[u8]> {
        self.neg.syn_option()
    }

    /// The non-SYN option to add to this segment, if still required (RFC 8547 §4.6).
    pub(crate) fn non_syn_option(&self) -> Option<&'static [u8]> {
        self.neg
            .must_send_option()
            .then(|| self.neg.non_syn_option())
    }

    /// Feed a received segment (RFC 8547 §4.6).
    pub(crate) fn on_segment(&mut self, syn: bool, ack: bool, slot: EnoSlot<'_>) {
        self.neg.on_segment(syn, ack, to_eno_slot(slot));
    }

    /// RFC 8547 §4.7: SYN data of a SYN carrying ENO is discarded.
    pub(crate) fn must_discard_syn_data(&self, slot: EnoSlot<'_>) -> bool {
        self.neg.must_discard_syn_data(to_eno_slot(slot))
    }

    /// Whether mandatory encryption failed.
    pub(crate) fn must_abort(&self) -> bool {
        self.neg.must_abort()
    }

    /// The outcome, once known.
    pub(crate) fn outcome(&self) -> Option<&Outcome> {
        self.neg.outcome()
    }

    /// The negotiation itself (both options verbatim, role, transcript inputs).
    pub(crate) fn negotiation(&self) -> &Negotiation {
        &self.neg
    }

    /// True exactly once, when an outcome first exists.
    pub(crate) fn take_new_outcome(&mut self) -> bool {
        if !self.reported && self.neg.outcome().is_some() {
            self.reported = true;
            return true;
        }
        false
    }
}
