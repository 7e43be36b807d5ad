//! The TCP-ENO hook (RFC 8547) between two stacks: options in SYN/SYN-ACK, the non-SYN
//! option on A's segments, both outcomes, identical transcripts, and plain fallback.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::cell::RefCell;
use std::rc::Rc;

use common::*;
use stack::tcp::segment::Segment;
use stack::wire::ip;
use stack::wire::options::EnoSlot;
use stack::{ConnConfig, Event, ListenAddr, ListenConfig, StackConfig};

fn eno_cfg(teps: &[u8]) -> eno::Config {
    eno::Config {
        teps: teps.iter().map(|&t| eno::TepOffer::new(t)).collect(),
        ..eno::Config::default()
    }
}

fn stack_with(addr: stack::IpAddress, seed: u8, eno: Option<eno::Config>) -> stack::Stack {
    let mut cfg = StackConfig::new(vec![addr], [seed; 32]);
    cfg.conn = ConnConfig {
        eno,
        ..ConnConfig::default()
    };
    stack::Stack::new(cfg)
}

/// (to_b, syn, ack, eno option bytes) of every packet.
type Log = Rc<RefCell<Vec<(bool, bool, bool, Option<Vec<u8>>)>>>;

type Run = (Pair, stack::ConnId, stack::ConnId, Log);

fn run(a_eno: Option<eno::Config>, b_eno: Option<eno::Config>) -> Run {
    run_with(stack_with(v4(1), 1, a_eno), stack_with(v4(2), 2, b_eno))
}

fn run_with(a: stack::Stack, b: stack::Stack) -> Run {
    let mut p = Pair::new(a, b);
    let log: Log = Rc::new(RefCell::new(Vec::new()));
    let l2 = log.clone();
    p.filter = Some(Box::new(move |to_b, pkt| {
        let v = ip::parse(pkt).unwrap();
        let s = Segment::parse(v.payload, &v.src, &v.dst).unwrap();
        let e = match s.opts.eno {
            EnoSlot::One(o) => Some(o.to_vec()),
            _ => None,
        };
        l2.borrow_mut().push((to_b, s.syn, s.ack, e));
        true
    }));
    p.b.listen(
        ListenAddr {
            addr: None,
            port: Some(443),
        },
        ListenConfig::default(),
    );
    let now = p.now;
    let a =
        p.a.connect(now, ep(v4(1), 40001), ep(v4(2), 443), None)
            .unwrap();
    p.run_until(100, |p| {
        p.a_has(a, &Event::Established) && p.b_has(&Event::Established).is_some()
    });
    let b = p.b_has(&Event::Established).unwrap();
    // One data exchange so that A sees a non-SYN segment from B.
    let now = p.now;
    p.a.send(now, a, b"ping");
    p.run_until(100, |p| {
        p.b_events
            .iter()
            .any(|(i, e)| *i == b && *e == Event::Readable)
    });
    let now = p.now;
    p.b.send(now, b, b"pong");
    p.run_until(100, |p| p.a_has(a, &Event::Readable));
    for _ in 0..20 {
        p.step();
    }
    (p, a, b, log)
}

#[test]
fn rfc8547_negotiates_and_transcripts_match() {
    let (p, a, b, log) = run(Some(eno_cfg(&[0x21, 0x22])), Some(eno_cfg(&[0x21])));
    assert!(p.a_has(a, &Event::EnoOutcome));
    assert!(p
        .b_events
        .iter()
        .any(|(i, e)| *i == b && *e == Event::EnoOutcome));
    let oa = p.a.eno_outcome(a).unwrap().negotiated().unwrap().clone();
    let ob = p.b.eno_outcome(b).unwrap().negotiated().unwrap().clone();
    assert_eq!(oa.tep, 0x21);
    assert_eq!(ob.tep, 0x21);
    assert_eq!(oa.transcript, ob.transcript);
    assert_eq!(oa.role, eno::Role::A);
    assert_eq!(ob.role, eno::Role::B);
    let log = log.borrow();
    // SYN (A->B) and SYN-ACK (B->A) carry the SYN-form options, verbatim those in the
    // transcript (A's then B's).
    let syn = log.iter().find(|l| l.0 && l.1).unwrap();
    let synack = log.iter().find(|l| !l.0 && l.1).unwrap();
    let (sa, sb) = (syn.3.clone().unwrap(), synack.3.clone().unwrap());
    assert_eq!([sa.clone(), sb.clone()].concat(), oa.transcript);
    assert_eq!(p.a.eno_negotiation(a).unwrap().syn_option(), Some(&sa[..]));
    assert_eq!(
        p.b.eno_negotiation(b).unwrap().peer_syn_option_bytes(),
        Some(&sa[..])
    );
    // A's first non-SYN segment carries 45 02; once B's non-SYN segment arrived, A stops.
    let first_ack = log.iter().find(|l| l.0 && !l.1).unwrap();
    assert_eq!(first_ack.3.as_deref(), Some(&[69u8, 2][..]));
    let last_a = log.iter().rev().find(|l| l.0).unwrap();
    assert_eq!(last_a.3, None);
    // B never sends the non-SYN option.
    assert!(log.iter().filter(|l| !l.0 && !l.1).all(|l| l.3.is_none()));
}

#[test]
fn rfc8547_peer_without_eno_falls_back_to_plain_tcp() {
    let (p, a, b, log) = run(Some(eno_cfg(&[0x21])), None);
    let oa = p.a.eno_outcome(a).unwrap();
    assert!(
        matches!(oa, eno::Outcome::Disabled(eno::DisableReason::Missing)),
        "{oa:?}"
    );
    assert!(p.b.eno_outcome(b).is_none());
    assert!(log.borrow().iter().filter(|l| !l.0).all(|l| l.3.is_none()));
    // Plain data went through (the ping/pong of `run`).
    assert!(p.a_has(a, &Event::Readable));
}

#[test]
fn rfc8547_no_common_tep_disables_on_both_sides() {
    let (p, a, b, _) = run(Some(eno_cfg(&[0x22])), Some(eno_cfg(&[0x21])));
    assert!(!p.a.eno_outcome(a).unwrap().is_negotiated());
    assert!(!p.b.eno_outcome(b).unwrap().is_negotiated());
}

#[test]
fn listener_selector_hook_chooses_the_answer() {
    let mut b_cfg = StackConfig::new(vec![v4(2)], [2; 32]);
    b_cfg.conn = ConnConfig {
        eno: Some(eno_cfg(&[0x21, 0x22])),
        eno_hooks: stack::EnoHooks {
            selector: Some(std::sync::Arc::new(|_, _| {
                Box::new(|_: &eno::SynOption, _: &[eno::TepOffer]| {
                    Some(vec![eno::Suboption::new(0x21)])
                }) as Box<dyn eno::TepSelector>
            })),
            validator: None,
        },
        ..ConnConfig::default()
    };
    let a = stack_with(v4(1), 1, Some(eno_cfg(&[0x21, 0x22])));
    let (p, a, b, _) = run_with(a, stack::Stack::new(b_cfg));
    // Without the hook B would pick its last (preferred) TEP, 0x22.
    assert_eq!(p.a.eno_outcome(a).unwrap().negotiated().unwrap().tep, 0x21);
    assert_eq!(p.b.eno_outcome(b).unwrap().negotiated().unwrap().tep, 0x21);
}

#[test]
fn per_connection_mtu_overrides_the_stack_mtu() {
    let mut a_cfg = StackConfig::new(vec![v4(1)], [1; 32]);
    a_cfg.mtu = 9000;
    let mut b_cfg = StackConfig::new(vec![v4(2)], [2; 32]);
    b_cfg.mtu = 9000;
    b_cfg.conn.mtu = Some(1280);
    let (p, a, _b, _) = run_with(stack::Stack::new(a_cfg), stack::Stack::new(b_cfg));
    // B announced MSS 1240 in its SYN-ACK, so A's segments stay within 1280 bytes.
    let mut p = p;
    let now = p.now;
    p.a.send(now, a, &[9u8; 20_000]);
    let mut sizes = Vec::new();
    let mut buf = vec![0u8; 65535];
    while let Some(n) = p.a.poll_transmit(now, &mut buf) {
        sizes.push(n);
    }
    assert!(!sizes.is_empty());
    assert!(sizes.iter().all(|&n| n <= 1280), "{sizes:?}");
}

#[test]
fn rfc8547_mandatory_encryption_aborts_when_eno_fails() {
    let cfg = eno::Config {
        mandatory_encryption: true,
        ..eno_cfg(&[0x21])
    };
    let mut p = Pair::new(stack_with(v4(1), 1, Some(cfg)), stack_with(v4(2), 2, None));
    p.b.listen(
        ListenAddr {
            addr: None,
            port: Some(443),
        },
        ListenConfig::default(),
    );
    let now = p.now;
    let a =
        p.a.connect(now, ep(v4(1), 40002), ep(v4(2), 443), None)
            .unwrap();
    p.run_until(100, |p| p.a_has(a, &Event::Aborted));
    assert!(p.a_has(a, &Event::EnoOutcome));
    assert_eq!(p.a.state(a), None);
    // B gets the RST while still in SYN-RECEIVED: back to LISTEN, nothing reported.
    p.run_until(100, |p| p.b.connection_count() == 0);
    assert!(p.b_has(&Event::Established).is_none());
}
