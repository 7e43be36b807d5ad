//! RFC 8547 §6, Figures 9–12 (TEST-VECTORS.md §2), with concrete TEPs X = 0x21, Y = 0x23,
//! Z = 0x24, driven through two `Negotiation`s exchanging simulated segments.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use eno::{Config, DisableReason, Negotiation, Role};
use support::{ack, cfg, deliver, disabled, h, syn, Seg};

const X: u8 = 0x21;
const Y: u8 = 0x23;
const Z: u8 = 0x24;

#[test]
fn fig9_three_way_handshake_negotiates_y_with_third_ack_carrying_eno() {
    let mut a = Negotiation::active(&cfg(&[X, Y]));
    let mut b = Negotiation::passive(&cfg(&[X, Y]));

    // (1) A -> B: SYN ENO<X,Y>, implicit global 0x00.
    let s1 = syn(&a, false);
    assert_eq!(s1.eno.as_deref(), Some(&h("45 04 21 23")[..]));
    assert!(
        b.syn_option().is_none(),
        "passive has nothing to send before the SYN"
    );
    deliver(&mut b, &s1);
    assert!(b.outcome().is_none(), "B waits for the first ACK");

    // (2) B -> A: SYN-ACK ENO<b=1,Y>.
    let s2 = syn(&b, true);
    assert_eq!(s2.eno.as_deref(), Some(&h("45 04 01 23")[..]));
    deliver(&mut a, &s2);
    let na = a.outcome().unwrap().negotiated().unwrap().clone();
    assert_eq!(na.tep, Y);
    assert_eq!(na.role, Role::A);

    // (3) A -> B: ACK ENO<> (`45 02`), mandatory in the third segment.
    let s3 = ack(&a);
    assert_eq!(s3.eno.as_deref(), Some(&h("45 02")[..]));
    deliver(&mut b, &s3);
    let nb = b.outcome().unwrap().negotiated().unwrap().clone();
    assert_eq!(nb.tep, Y);
    assert_eq!(nb.role, Role::B);
    assert_eq!(na.transcript, h("45 04 21 23 45 04 01 23"));
    assert_eq!(nb.transcript, na.transcript);
    assert_eq!(na.sessid_byte, 0x23);
    assert_eq!(nb.sessid_byte, 0x23);

    // A keeps sending `45 02` (e.g. with Init1 data) until it receives a non-SYN segment.
    assert_eq!(ack(&a).eno.as_deref(), Some(&h("45 02")[..]));
    assert!(!b.must_send_option(), "B has received a non-SYN segment");
    deliver(&mut a, &ack(&b));
    assert!(!a.must_send_option());
    assert_eq!(ack(&a).eno, None);
    assert!(a.is_enabled() && b.is_enabled());
}

/// Figure 10, cause 1: B does not implement ENO, its SYN-ACK has no option.
#[test]
fn fig10_b_without_eno_support_gives_plain_tcp() {
    let mut a = Negotiation::active(&cfg(&[X, Y]));
    let synack = Seg {
        syn: true,
        ack: true,
        eno: None,
    };
    deliver(&mut a, &synack);
    assert_eq!(disabled(&a), DisableReason::Missing);
    assert_eq!(ack(&a).eno, None, "A's ACK carries no ENO");
    assert!(!a.is_enabled());
}

/// Figure 10, cause 2: B supports ENO but neither X nor Y: no ENO in its SYN-ACK.
#[test]
fn fig10_b_supporting_neither_tep_sends_no_eno() {
    let mut a = Negotiation::active(&cfg(&[X, Y]));
    let mut b = Negotiation::passive(&cfg(&[Z]));
    deliver(&mut b, &syn(&a, false));
    assert_eq!(disabled(&b), DisableReason::NoCommonTep);
    let s2 = syn(&b, true);
    assert_eq!(s2.eno, None);
    deliver(&mut a, &s2);
    assert_eq!(disabled(&a), DisableReason::Missing);
    let s3 = ack(&a);
    assert_eq!(s3.eno, None);
    deliver(&mut b, &s3);
    assert_eq!(disabled(&b), DisableReason::NoCommonTep);
}

/// Figure 10, cause 3: B in mandatory application-aware mode, A sent (implicit) a = 0.
#[test]
fn fig10_b_in_mandatory_app_aware_mode_rejects_a_with_a0() {
    let mut a = Negotiation::active(&cfg(&[X, Y]));
    let mut b = Negotiation::passive(&Config {
        aa_mandatory: true,
        ..cfg(&[X, Y])
    });
    deliver(&mut b, &syn(&a, false));
    assert_eq!(disabled(&b), DisableReason::PeerNotAppAware);
    assert_eq!(b.peer_global().map(|g| g.a), Some(false));
    deliver(&mut a, &syn(&b, true));
    assert_eq!(disabled(&a), DisableReason::Missing);
}

/// Figure 10, cause 4: the network strips ENO from A's SYN; B sees a SYN without ENO.
#[test]
fn fig10_eno_stripped_from_syn_gives_plain_tcp() {
    let mut a = Negotiation::active(&cfg(&[X, Y]));
    let mut b = Negotiation::passive(&cfg(&[X, Y]));
    deliver(&mut b, &syn(&a, false).stripped());
    assert_eq!(disabled(&b), DisableReason::Missing);
    let s2 = syn(&b, true);
    assert_eq!(
        s2.eno, None,
        "passive opener sends no ENO when the SYN had none"
    );
    deliver(&mut a, &s2);
    assert_eq!(disabled(&a), DisableReason::Missing);
}

/// Figure 11: B answers ENO<b=1,X> but the reverse path strips it; A's ACK then lacks ENO
/// and B falls back too.
#[test]
fn fig11_synack_eno_stripped_makes_both_fall_back() {
    let mut a = Negotiation::active(&cfg(&[X, Y]));
    let mut b = Negotiation::passive(&cfg(&[X]));
    deliver(&mut b, &syn(&a, false));
    let s2 = syn(&b, true);
    assert_eq!(s2.eno.as_deref(), Some(&h("45 04 01 21")[..]));
    assert!(b.must_send_option());
    deliver(&mut a, &s2.stripped());
    assert_eq!(disabled(&a), DisableReason::Missing);
    let s3 = ack(&a);
    assert_eq!(s3.eno, None);
    deliver(&mut b, &s3);
    assert_eq!(disabled(&b), DisableReason::Missing);
    assert!(!b.must_send_option());
    assert!(b.syn_option().is_none());
}

/// RFC 8547 §4.6 / IMPLEMENTING.md §11.5: if A's third ACK lacks `45 02` (a buggy A or a
/// stripping middlebox), B must fall back to plain TCP.
#[test]
fn third_ack_without_eno_makes_b_fall_back() {
    let mut a = Negotiation::active(&cfg(&[X, Y]));
    let mut b = Negotiation::passive(&cfg(&[X, Y]));
    deliver(&mut b, &syn(&a, false));
    deliver(&mut a, &syn(&b, true));
    assert!(a.is_enabled());
    deliver(&mut b, &ack(&a).stripped());
    assert_eq!(disabled(&b), DisableReason::Missing);
}

/// Figure 12: simultaneous open. A (b = 0) offers ENO<Y,X>, B (b = 1, set by the
/// application before connect) offers ENO<b=1,X,Y,Z>; each SYN-ACK repeats the SYN's option.
/// Y is the last TEP in B's list that A offered.
#[test]
fn fig12_simultaneous_open_negotiates_y() {
    let mut a = Negotiation::active(&cfg(&[Y, X]));
    let mut b = Negotiation::active(&Config {
        b: true,
        ..cfg(&[X, Y, Z])
    });
    assert_eq!(a.role(), Role::A);
    assert_eq!(b.role(), Role::B);

    let a_syn = syn(&a, false);
    let b_syn = syn(&b, false);
    assert_eq!(a_syn.eno.as_deref(), Some(&h("45 04 23 21")[..]));
    assert_eq!(b_syn.eno.as_deref(), Some(&h("45 06 01 21 23 24")[..]));
    // (1), (2): the SYNs cross.
    deliver(&mut b, &a_syn);
    deliver(&mut a, &b_syn);
    assert!(a.outcome().is_none() && b.outcome().is_none());
    // (3), (4): SYN-ACKs repeat each host's SYN option byte for byte.
    let a_synack = syn(&a, true);
    let b_synack = syn(&b, true);
    assert_eq!(a_synack.eno, a_syn.eno);
    assert_eq!(b_synack.eno, b_syn.eno);
    deliver(&mut b, &a_synack);
    deliver(&mut a, &b_synack);

    let na = a.outcome().unwrap().negotiated().unwrap().clone();
    let nb = b.outcome().unwrap().negotiated().unwrap().clone();
    assert_eq!((na.tep, nb.tep), (Y, Y));
    assert_eq!((na.role, nb.role), (Role::A, Role::B));
    let transcript = h("45 04 23 21 45 06 01 21 23 24");
    assert_eq!(na.transcript, transcript);
    assert_eq!(nb.transcript, transcript, "B puts A's option first too");
    // Both still send `45 02` until they receive a non-SYN segment.
    assert!(a.must_send_option() && b.must_send_option());
    deliver(&mut a, &ack(&b));
    assert!(!a.must_send_option());
}

/// Simultaneous open without prior agreement on `b`: both b = 0 is a role conflict; each
/// side disables ENO and leaves it out of its SYN-ACK.
#[test]
fn simultaneous_open_with_both_b0_falls_back() {
    let mut a = Negotiation::active(&cfg(&[Y]));
    let mut b = Negotiation::active(&cfg(&[Y]));
    let (sa, sb) = (syn(&a, false), syn(&b, false));
    deliver(&mut a, &sb);
    deliver(&mut b, &sa);
    assert_eq!(disabled(&a), DisableReason::RoleConflict);
    assert_eq!(disabled(&b), DisableReason::RoleConflict);
    assert_eq!(syn(&a, true).eno, None);
    assert_eq!(syn(&b, true).eno, None);
}

/// Simultaneous open where one SYN-ACK's option differs from that host's SYN option:
/// RFC 8547 §4.6 forbids the change; we disable ENO.
#[test]
fn simultaneous_open_with_changed_synack_option_disables() {
    let mut a = Negotiation::active(&cfg(&[Y, X]));
    let b = Negotiation::active(&Config {
        b: true,
        ..cfg(&[X, Y, Z])
    });
    deliver(&mut a, &syn(&b, false));
    let mut changed = syn(&b, true);
    changed.eno = Some(h("45 04 01 21"));
    deliver(&mut a, &changed);
    assert_eq!(disabled(&a), DisableReason::PeerOptionChanged);
}
