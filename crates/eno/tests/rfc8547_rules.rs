//! One test per ENO row of IMPLEMENTING.md §8 (and the RFC 8547 §4.6/§4.7 duties around
//! them): the required reaction, observed through the `Negotiation` API.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use eno::{must_discard_syn_data, Config, DisableReason, EnoError, EnoSlot, Negotiation, TepOffer};
use support::{ack, active_sending, cfg, deliver, disabled, h, syn, Seg};

fn syn_with(opt: &str) -> Seg {
    Seg {
        syn: true,
        ack: false,
        eno: Some(h(opt)),
    }
}

fn synack_with(opt: &str) -> Seg {
    Seg {
        syn: true,
        ack: true,
        eno: Some(h(opt)),
    }
}

/// A (active) and B (passive), both offering 0x23, once B has received A's SYN.
fn after_syn() -> (Negotiation, Negotiation) {
    let a = Negotiation::active(&cfg(&[0x23]));
    let mut b = Negotiation::passive(&cfg(&[0x23]));
    deliver(&mut b, &syn(&a, false));
    (a, b)
}

#[test]
fn rfc8547_4_1_two_eno_options_in_syn_disable() {
    let mut b = Negotiation::passive(&cfg(&[0x23]));
    b.on_segment(true, false, EnoSlot::Many);
    assert_eq!(disabled(&b), DisableReason::TwoInSyn);
    assert!(b.syn_option().is_none(), "behaves as if the SYN had no ENO");

    let mut a = Negotiation::active(&cfg(&[0x23]));
    a.on_segment(true, true, EnoSlot::Many);
    assert_eq!(disabled(&a), DisableReason::TwoInSyn);
    assert!(!a.must_send_option());
}

#[test]
fn rfc8547_4_1_several_eno_options_in_non_syn_count_as_one() {
    let (_, mut b) = after_syn();
    b.on_segment(false, true, EnoSlot::Many);
    assert!(b.is_enabled());
}

#[test]
fn rfc8547_4_1_non_syn_option_contents_are_ignored() {
    let (_, mut b) = after_syn();
    // A non-SYN-form option with (meaningless) contents still counts as present.
    b.on_segment(false, true, EnoSlot::One(&[0x45, 0x04, 0x80, 0x00]));
    assert!(b.is_enabled());
}

#[test]
fn rfc8547_4_4_length_byte_overrun_in_syn_disables() {
    let mut b = Negotiation::passive(&cfg(&[0x23]));
    // 0x82 announces 3 data bytes after 0xa3, only 1 present.
    deliver(&mut b, &syn_with("45 05 82 a3 00"));
    assert_eq!(
        disabled(&b),
        DisableReason::IllFormed(EnoError::DataOverrun {
            offset: 2,
            announced: 3,
            available: 1
        })
    );
    assert!(b.syn_option().is_none(), "the ill-formed option is ignored");
}

#[test]
fn rfc8547_4_4_length_byte_followed_by_v0_byte_disables() {
    let mut b = Negotiation::passive(&cfg(&[0x23]));
    deliver(&mut b, &syn_with("45 06 81 23 aa bb"));
    assert!(matches!(
        disabled(&b),
        DisableReason::IllFormed(EnoError::LengthByteNotFollowedByTep { found: 0x23, .. })
    ));
    assert!(b.syn_option().is_none());
}

#[test]
fn rfc8547_4_4_ill_formed_synack_disables_active_opener() {
    let mut a = Negotiation::active(&cfg(&[0x23]));
    deliver(&mut a, &synack_with("45 05 01 23 80"));
    assert!(matches!(
        disabled(&a),
        DisableReason::IllFormed(EnoError::LengthByteAtEnd { offset: 4 })
    ));
    assert_eq!(ack(&a).eno, None, "no further ENO options");
}

#[test]
fn rfc8547_4_6_segment_without_eno_up_to_first_ack_disables() {
    // A's SYN-ACK without ENO.
    let mut a = Negotiation::active(&cfg(&[0x23]));
    deliver(
        &mut a,
        &Seg {
            syn: true,
            ack: true,
            eno: None,
        },
    );
    assert_eq!(disabled(&a), DisableReason::Missing);
    // B: the first received ACK segment (A's third ACK) without ENO.
    let (_, mut b) = after_syn();
    deliver(
        &mut b,
        &Seg {
            syn: false,
            ack: true,
            eno: None,
        },
    );
    assert_eq!(disabled(&b), DisableReason::Missing);
    assert!(!b.must_send_option());
}

#[test]
fn rfc8547_4_6_segments_after_first_ack_may_lack_eno() {
    let mut a = Negotiation::active(&cfg(&[0x23]));
    let mut b = Negotiation::passive(&cfg(&[0x23]));
    deliver(&mut b, &syn(&a, false));
    deliver(&mut a, &syn(&b, true));
    deliver(&mut b, &ack(&a));
    // B's data segment has no ENO (B already received a non-SYN segment): fine for A.
    let data = ack(&b);
    assert_eq!(data.eno, None);
    deliver(&mut a, &data);
    assert!(a.is_enabled() && b.is_enabled());
}

#[test]
fn rfc8547_4_6_no_valid_tep_falls_back() {
    let a = Negotiation::active(&cfg(&[0x21, 0x22]));
    let mut b = Negotiation::passive(&cfg(&[0x23, 0x24]));
    deliver(&mut b, &syn(&a, false));
    assert_eq!(disabled(&b), DisableReason::NoCommonTep);
    assert!(b.syn_option().is_none());
}

#[test]
fn rfc8547_4_6_vacuous_option_falls_back() {
    // A vacuous SYN: B cannot pick a TEP.
    let mut b = Negotiation::passive(&cfg(&[0x23]));
    deliver(&mut b, &syn_with("45 02"));
    assert_eq!(disabled(&b), DisableReason::NoCommonTep);
    // A vacuous SYN-ACK (explicit b = 1, no TEP): A falls back.
    let mut a = Negotiation::active(&cfg(&[0x23]));
    deliver(&mut a, &synack_with("45 03 01"));
    assert_eq!(disabled(&a), DisableReason::NoCommonTep);
    assert!(!a.must_send_option());
}

#[test]
fn rfc8547_4_6_same_b_on_both_sides_disables() {
    // An active opener configured with b = 1 meets a passive opener (also b = 1).
    let a_cfg = Config {
        b: true,
        ..cfg(&[0x23])
    };
    let a = active_sending(&a_cfg, "45 04 01 23");
    let mut b = Negotiation::passive(&cfg(&[0x23]));
    deliver(&mut b, &syn(&a, false));
    assert_eq!(disabled(&b), DisableReason::RoleConflict);
    assert!(b.syn_option().is_none());
    // A load balancer echoing A's options back as the SYN-ACK: both b = 0 at A.
    let mut a = Negotiation::active(&cfg(&[0x23]));
    let echo = syn(&a, true);
    deliver(&mut a, &echo);
    assert_eq!(disabled(&a), DisableReason::RoleConflict);
}

#[test]
fn rfc8547_4_6_mandatory_app_aware_mode_needs_peer_a1() {
    let aa = Config {
        aa_mandatory: true,
        ..cfg(&[0x23])
    };
    // We send a = 1 in mandatory mode, even as A (global 0x02 made explicit).
    let a = active_sending(&aa, "45 04 02 23");
    // Peer a = 0 => disabled.
    let mut b = Negotiation::passive(&aa);
    deliver(&mut b, &syn_with("45 03 23"));
    assert_eq!(disabled(&b), DisableReason::PeerNotAppAware);
    assert_eq!(b.peer_global().map(|g| g.a), Some(false));
    // Peer a = 1 => negotiated, and the peer's a bit is visible.
    let mut b = Negotiation::passive(&aa);
    deliver(&mut b, &syn(&a, false));
    assert_eq!(b.syn_option(), Some(&h("45 04 03 23")[..]));
    deliver(&mut b, &ack(&a));
    assert!(b.is_enabled());
    assert_eq!(b.peer_global().map(|g| g.a), Some(true));
    let n = b.outcome().unwrap().negotiated().unwrap();
    assert!(n.peer_global.a && n.local_global.a);
}

#[test]
fn rfc8547_4_2_app_aware_bit_defaults_to_zero_and_is_settable() {
    assert!(!Config::default().a);
    let a = active_sending(
        &Config {
            a: true,
            ..cfg(&[0x23])
        },
        "45 04 02 23",
    );
    assert!(a.local_global().a);
}

#[test]
fn rfc8547_4_2_reserved_z_bits_are_ignored() {
    // Peer global 0x1d = z1 z2 z3 set, b = 1: still host B.
    let mut a = Negotiation::active(&cfg(&[0x23]));
    deliver(&mut a, &synack_with("45 04 1d 23"));
    assert!(a.is_enabled());
}

#[test]
fn rfc8547_4_2_passive_opener_sends_explicit_global_b1() {
    let (_, b) = after_syn();
    let opt = b.syn_option().unwrap();
    assert_eq!(opt.get(2), Some(&0x01));
}

#[test]
fn rfc8547_4_6_passive_sends_no_eno_when_syn_had_none() {
    let mut b = Negotiation::passive(&cfg(&[0x23]));
    deliver(
        &mut b,
        &Seg {
            syn: true,
            ack: false,
            eno: None,
        },
    );
    assert!(b.syn_option().is_none());
    assert_eq!(disabled(&b), DisableReason::Missing);
}

#[test]
fn rfc8547_4_6_syn_option_is_identical_across_retransmissions() {
    let a = Negotiation::active(&cfg(&[0x21, 0x23]));
    let first = syn(&a, false);
    assert_eq!(syn(&a, false), first);
    let mut b = Negotiation::passive(&cfg(&[0x23]));
    deliver(&mut b, &first);
    let synack = syn(&b, true);
    // A retransmitted SYN (same bytes) changes nothing.
    deliver(&mut b, &first);
    assert_eq!(syn(&b, true), synack);
    assert!(b.outcome().is_none());
}

#[test]
fn rfc8547_4_6_changed_option_in_retransmitted_syn_disables() {
    let mut b = Negotiation::passive(&cfg(&[0x23]));
    deliver(&mut b, &syn_with("45 04 21 23"));
    deliver(&mut b, &syn_with("45 03 23"));
    assert_eq!(disabled(&b), DisableReason::PeerOptionChanged);
    assert!(b.syn_option().is_none());
}

#[test]
fn rfc8547_4_6_active_opener_may_drop_eno_on_syn_retransmission() {
    let mut a = Negotiation::active(&cfg(&[0x23]));
    a.abandon();
    assert_eq!(disabled(&a), DisableReason::Abandoned);
    assert!(a.syn_option().is_none());
    // Abandon after success does nothing: encryption on is final.
    let mut a = Negotiation::active(&cfg(&[0x23]));
    deliver(&mut a, &synack_with("45 04 01 23"));
    a.abandon();
    assert!(a.is_enabled());
}

#[test]
fn rfc8547_4_6_disabled_by_configuration_sends_nothing() {
    let off = Config {
        enabled: false,
        ..cfg(&[0x23])
    };
    let a = Negotiation::active(&off);
    assert!(a.syn_option().is_none());
    assert_eq!(disabled(&a), DisableReason::ConfigDisabled);
    let mut b = Negotiation::passive(&off);
    deliver(&mut b, &syn_with("45 03 23"));
    assert!(b.syn_option().is_none());
    assert_eq!(disabled(&b), DisableReason::ConfigDisabled);
}

#[test]
fn rfc8547_4_7_syn_data_of_syn_with_eno_is_discarded() {
    let opt = h("45 03 23");
    assert!(must_discard_syn_data(EnoSlot::One(&opt)));
    assert!(must_discard_syn_data(EnoSlot::Many));
    assert!(!must_discard_syn_data(EnoSlot::None));
    // Also when ENO is disabled by configuration.
    let b = Negotiation::passive(&Config {
        enabled: false,
        ..Config::default()
    });
    assert!(b.must_discard_syn_data(EnoSlot::One(&opt)));
}

#[test]
fn rfc8547_4_7_mandatory_encryption_aborts_when_eno_fails() {
    let strict = Config {
        mandatory_encryption: true,
        ..cfg(&[0x23])
    };
    let mut a = Negotiation::active(&strict);
    assert!(!a.must_abort(), "undecided");
    deliver(
        &mut a,
        &Seg {
            syn: true,
            ack: true,
            eno: None,
        },
    );
    assert!(a.must_abort());
    // Success: no abort.
    let mut a = Negotiation::active(&strict);
    deliver(&mut a, &synack_with("45 04 01 23"));
    assert!(!a.must_abort());
    // Without mandatory encryption a failure is plain TCP, not an abort.
    let mut a = Negotiation::active(&cfg(&[0x23]));
    deliver(&mut a, &synack_with("45 03 01"));
    assert!(!a.must_abort());
}

#[test]
fn rfc8548_3_5_resumption_suboption_with_wrong_half_is_ignored() {
    let half_a = [1u8, 2, 3, 4, 5, 6, 7, 8, 9];
    let a_cfg = Config {
        teps: vec![
            TepOffer::new(0x21),
            TepOffer::with_data(0x23, half_a.to_vec()),
        ],
        ..Config::default()
    };
    // Toy validator: a v = 1 answer must echo our first data byte (stands in for tcpcrypt's
    // "the halves must match" rule, which lives in the tcpcrypt crate).
    let validator = |a: &eno::SynOption, b: &eno::Suboption| {
        !b.v || a
            .suboptions
            .iter()
            .any(|s| s.tep == b.tep && s.data.first() == b.data.first())
    };
    // B answers only a bad resumption suboption: ignored, nothing valid left => disabled.
    let mut a = Negotiation::active(&a_cfg).with_validator(Box::new(validator));
    deliver(
        &mut a,
        &synack_with("45 0d 01 a3 ee 02 03 04 05 06 07 08 09"),
    );
    assert_eq!(disabled(&a), DisableReason::NoCommonTep);
    assert_eq!(ack(&a).eno, None);
    // Same with a lower-priority fresh TEP before it: that one wins.
    let mut a = Negotiation::active(&a_cfg).with_validator(Box::new(validator));
    deliver(
        &mut a,
        &synack_with("45 0e 01 21 a3 ee 02 03 04 05 06 07 08 09"),
    );
    assert_eq!(a.outcome().unwrap().negotiated().unwrap().tep, 0x21);
    // A matching half is accepted, sessid byte carries v = 1.
    let mut a = Negotiation::active(&a_cfg).with_validator(Box::new(validator));
    deliver(
        &mut a,
        &synack_with("45 0d 01 a3 01 0a 0b 0c 0d 0e 0f 10 11"),
    );
    let n = a.outcome().unwrap().negotiated().unwrap();
    assert_eq!(n.sessid_byte, 0xa3);
    assert_eq!(n.local_data, half_a.to_vec());
    assert_eq!(n.peer_data, h("01 0a 0b 0c 0d 0e 0f 10 11"));
}
