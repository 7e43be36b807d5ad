//! The TCP-ENO hook (RFC 8547 §4.1, §4.6, §4.7): per connection, an `eno::Negotiation`
//! fed every handshake segment, its option put in our SYN/SYN-ACK, the non-SYN `45 02`
//! added while required, and the outcome reported once.

use std::sync::Arc;

use eno::{Negotiation, Outcome};
use smoltcp::wire::IpEndpoint;

use crate::wire::options::EnoSlot;

/// Builds the passive opener's TEP selector for one connection `(local, remote)` (e.g.
/// tcpcrypt resumption, RFC 8548 §3.5).
pub type SelectorFactory =
    Arc<dyn Fn(IpEndpoint, IpEndpoint) -> Box<dyn eno::TepSelector> + Send + Sync>;

/// Builds the active opener's TEP validator for one connection `(local, remote)`.
pub type ValidatorFactory =
    Arc<dyn Fn(IpEndpoint, IpEndpoint) -> Box<dyn eno::TepValidator> + Send + Sync>;

/// Per-connection ENO callbacks; `None` uses `eno`'s defaults.
#[derive(Clone, Default)]
pub struct EnoHooks {
    /// Passive opener: chooses the SYN-ACK's answer.
    pub selector: Option<SelectorFactory>,
    /// Active opener: judges B's suboptions.
    pub validator: Option<ValidatorFactory>,
}

impl core::fmt::Debug for EnoHooks {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("EnoHooks")
            .field("selector", &self.selector.is_some())
            .field("validator", &self.validator.is_some())
            .finish()
    }
}

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
    pub(crate) fn active(
        cfg: &eno::Config,
        hooks: &EnoHooks,
        local: IpEndpoint,
        remote: IpEndpoint,
    ) -> Self {
        let mut neg = Negotiation::active(cfg);
        if let Some(v) = hooks.validator.as_ref() {
            neg = neg.with_validator(v(local, remote));
        }
        EnoHook {
            neg,
            reported: false,
        }
    }

    /// Passive opener (host B).
    pub(crate) fn passive(
        cfg: &eno::Config,
        hooks: &EnoHooks,
        local: IpEndpoint,
        remote: IpEndpoint,
    ) -> Self {
        let neg = match hooks.selector.as_ref() {
            Some(s) => Negotiation::passive_with_selector(cfg, s(local, remote)),
            None => Negotiation::passive(cfg),
        };
        EnoHook {
            neg,
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
