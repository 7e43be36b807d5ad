//! RFC 8547 §4.5, §4.8, §5.1: which TEP wins, the session-ID byte and the transcript.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use eno::{
    outcome_of, select_tep, AcceptAll, Config, DisableReason, Negotiation, Outcome, Role,
    Suboption, SynOption, TepOffer,
};
use support::{ack, cfg, deliver, disabled, h, syn, Seg};

fn opt(hex: &str) -> SynOption {
    SynOption::parse_option(&h(hex)).unwrap()
}

#[test]
fn negotiated_tep_is_last_valid_in_b_list_whatever_a_order() {
    let a = opt("45 05 21 22 23");
    // B lists 0x23 then 0x21 (rising priority): 0x21 wins although A listed it first.
    let b = opt("45 05 01 23 21");
    assert_eq!(select_tep(&a, &b, &AcceptAll), Some(1));
    let a_rev = opt("45 05 23 22 21");
    assert_eq!(select_tep(&a_rev, &b, &AcceptAll), Some(1));
    // A B-suboption A did not offer is skipped even when last.
    let b2 = opt("45 05 01 22 24");
    assert_eq!(select_tep(&a, &b2, &AcceptAll), Some(0));
    // Validator rejects the last one: the previous valid one wins.
    let reject_21 = |_: &SynOption, s: &Suboption| s.tep != 0x21;
    assert_eq!(select_tep(&a, &b, &reject_21), Some(0));
}

#[test]
fn v_bit_is_ignored_for_matching() {
    // A offers a resumption-style 0xa3 + data, B answers a plain 0x23.
    let out = outcome_of(Some(&h("45 05 a3 aa bb")), Some(&h("45 04 01 23")));
    let n = out.negotiated().unwrap();
    assert_eq!(n.tep, 0x23);
    assert_eq!(n.sessid_byte, 0x23);
    assert_eq!(n.local_data, h("aa bb"), "A's data for the TEP");
    // A offers plain 0x23, B answers 0xa3 + data.
    let out = outcome_of(Some(&h("45 03 23")), Some(&h("45 05 01 a3 cc")));
    let n = out.negotiated().unwrap();
    assert_eq!(n.tep, 0x23);
    assert_eq!(n.peer_data, h("cc"));
}

#[test]
fn sessid_byte_is_b_byte_with_v_bit() {
    let out = outcome_of(Some(&h("45 04 21 a3")), Some(&h("45 06 01 a3 01 02")));
    let n = out.negotiated().unwrap();
    assert_eq!(n.tep, 0x23);
    assert_eq!(n.sessid_byte, 0xa3);
    assert!(n.b_v_bit());
}

#[test]
fn conformance_samples_for_outcome_of() {
    let out = outcome_of(Some(&h("45042123")), Some(&h("45040123")));
    let n = out.negotiated().unwrap();
    assert_eq!(n.sessid_byte, 0x23);
    assert_eq!(n.transcript, h("4504212345040123"));
    assert_eq!(n.role, Role::A);
    assert_eq!(
        outcome_of(Some(&h("45042123")), Some(&h("450301"))),
        Outcome::Disabled(DisableReason::NoCommonTep)
    );
    assert_eq!(
        outcome_of(None, Some(&h("450301"))),
        Outcome::Disabled(DisableReason::Missing)
    );
    assert_eq!(
        outcome_of(Some(&h("45042123")), Some(&h("45030123"))),
        Outcome::Disabled(DisableReason::IllFormed(eno::EnoError::LengthMismatch {
            offset: 1,
            declared: 3,
            actual: 4
        }))
    );
    // B's option without b = 1: role conflict.
    assert_eq!(
        outcome_of(Some(&h("45042123")), Some(&h("450323"))),
        Outcome::Disabled(DisableReason::RoleConflict)
    );
}

#[test]
fn transcript_is_exact_wire_bytes_a_first_even_when_we_are_b() {
    // A sends a redundant explicit 0x00 global, a z-bit-laden second global and a
    // length-byte suboption at the end: the transcript keeps those bytes verbatim.
    let a_opt = h("45 08 00 1c 21 80 a3 77");
    let a = Seg {
        syn: true,
        ack: false,
        eno: Some(a_opt.clone()),
    };
    let mut b = Negotiation::passive(&Config {
        teps: vec![TepOffer::new(0x21), TepOffer::new(0x23)],
        ..Config::default()
    });
    deliver(&mut b, &a);
    let b_opt = b.syn_option().unwrap().to_vec();
    assert_eq!(b_opt, h("45 04 01 23"));
    deliver(
        &mut b,
        &Seg {
            syn: false,
            ack: true,
            eno: Some(h("45 02")),
        },
    );
    let n = b.outcome().unwrap().negotiated().unwrap();
    assert_eq!(n.role, Role::B);
    let mut expected = a_opt.clone();
    expected.extend_from_slice(&b_opt);
    assert_eq!(n.transcript, expected);
    assert_eq!(n.local_data, Vec::<u8>::new());
    assert_eq!(n.peer_data, h("77"));
}

#[test]
fn default_selector_answers_highest_priority_local_tep_the_peer_offered() {
    let a = Negotiation::active(&Config {
        teps: vec![
            TepOffer::new(0x24),
            TepOffer::new(0x21),
            TepOffer::new(0x23),
        ],
        ..Config::default()
    });
    let mut b = Negotiation::passive(&Config {
        // rising priority: 0x22 (not offered by A) > 0x21 > 0x23.
        teps: vec![
            TepOffer::new(0x23),
            TepOffer::new(0x21),
            TepOffer::new(0x22),
        ],
        ..Config::default()
    });
    deliver(&mut b, &syn(&a, false));
    assert_eq!(b.syn_option(), Some(&h("45 04 01 21")[..]));
}

#[test]
fn selector_can_answer_with_a_v1_suboption() {
    let a = Negotiation::active(&Config {
        teps: vec![TepOffer::with_data(0x23, h("0102030405060708 09"))],
        ..Config::default()
    });
    let selector = |peer: &SynOption, _local: &[TepOffer]| {
        let s = peer.suboptions().iter().find(|s| s.tep == 0x23 && s.v)?;
        assert_eq!(s.data, h("010203040506070809"));
        Some(vec![Suboption::with_data(0x23, h("a1a2a3a4a5a6a7a8a9"))])
    };
    let mut b = Negotiation::passive_with_selector(&Config::default(), Box::new(selector));
    deliver(&mut b, &syn(&a, false));
    assert_eq!(
        b.syn_option(),
        Some(&h("45 0d 01 a3 a1a2a3a4a5a6a7a8a9")[..])
    );
    deliver(&mut b, &ack(&a));
    let n = b.outcome().unwrap().negotiated().unwrap();
    assert_eq!(n.sessid_byte, 0xa3);
    assert_eq!(n.local_data, h("a1a2a3a4a5a6a7a8a9"));
    assert_eq!(n.peer_data, h("010203040506070809"));
}

#[test]
fn selector_none_sends_no_eno_and_empty_sends_vacuous() {
    let a = Negotiation::active(&cfg(&[0x23]));
    let mut b = Negotiation::passive_with_selector(
        &Config::default(),
        Box::new(|_: &SynOption, _: &[TepOffer]| None),
    );
    deliver(&mut b, &syn(&a, false));
    assert!(b.syn_option().is_none());
    assert_eq!(disabled(&b), DisableReason::NoCommonTep);

    let mut b = Negotiation::passive_with_selector(
        &Config::default(),
        Box::new(|_: &SynOption, _: &[TepOffer]| Some(Vec::new())),
    );
    deliver(&mut b, &syn(&a, false));
    assert_eq!(b.syn_option(), Some(&h("45 03 01")[..]), "vacuous, b = 1");
    assert_eq!(disabled(&b), DisableReason::NoCommonTep);
    assert!(!b.must_send_option());
}

#[test]
fn selector_answer_that_cannot_be_encoded_disables() {
    let a = Negotiation::active(&cfg(&[0x23]));
    let mut b = Negotiation::passive_with_selector(
        &Config::default(),
        Box::new(|_: &SynOption, _: &[TepOffer]| Some(vec![Suboption::new(0x05)])),
    );
    deliver(&mut b, &syn(&a, false));
    assert!(b.syn_option().is_none());
    assert!(matches!(
        b.outcome(),
        Some(Outcome::Disabled(DisableReason::LocalOption(_)))
    ));
}

#[test]
fn active_config_that_cannot_be_encoded_disables() {
    let a = Negotiation::active(&Config {
        teps: vec![TepOffer::with_data(0x23, vec![0; 33]), TepOffer::new(0x21)],
        ..Config::default()
    });
    assert!(a.syn_option().is_none());
    assert!(matches!(
        a.outcome(),
        Some(Outcome::Disabled(DisableReason::LocalOption(
            eno::EmitError::DataTooLongNotLast { index: 0, len: 33 }
        )))
    ));
}

#[test]
fn active_option_puts_length_bytes_on_non_last_data_suboptions() {
    let a = Negotiation::active(&Config {
        teps: vec![TepOffer::with_data(0x23, h("aabb")), TepOffer::new(0x21)],
        ..Config::default()
    });
    assert_eq!(a.syn_option(), Some(&h("45 07 81 a3 aa bb 21")[..]));
}

#[test]
fn default_config_sends_vacuous_probe_and_falls_back() {
    let mut a = Negotiation::active(&Config::default());
    assert_eq!(a.syn_option(), Some(&h("45 02")[..]));
    deliver(
        &mut a,
        &Seg {
            syn: true,
            ack: true,
            eno: Some(h("45 04 01 23")),
        },
    );
    assert_eq!(disabled(&a), DisableReason::NoCommonTep);
}

#[test]
fn negotiation_is_send_so_the_stack_can_move_connections() {
    fn assert_send<T: Send>() {}
    assert_send::<Negotiation>();
    assert_send::<Outcome>();
}
