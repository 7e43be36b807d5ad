//! tcpcrypt session resumption (RFC 8548 §3.5) across the engine's connections: one cache
//! of resumption chains per peer address, shared by the outer legs this engine opens (host
//! A: offer in the SYN, validate B's answer) and those it accepts on fronted ports (host B:
//! a TEP selector that agrees to resume when the offer matches a cached chain).
//!
//! The selector runs inside the stack while it answers a SYN; the answer it agreed to is
//! parked here under the connection's endpoints until the engine builds the session.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use rand_chacha::rand_core::SeedableRng;
use rand_chacha::ChaCha20Rng;
use smoltcp::wire::IpAddress;
use stack::{IpEndpoint, SelectorFactory, ValidatorFactory};
use tcpcrypt::resume::{AnswerValidator, ResumeAnswer, ResumeOffer};
use tcpcrypt::{ResumptionCache, ResumptionTicket, Tep};

/// Bound on parked answers (SYNs answered with resumption whose handshake never finished).
const MAX_PARKED: usize = 1024;

/// The shared resumption state.
pub(crate) struct Resumer {
    cache: ResumptionCache<IpAddress>,
    rng: ChaCha20Rng,
    parked: HashMap<(IpEndpoint, IpEndpoint), ResumeAnswer>,
    config: tcpcrypt::Config,
}

/// A handle the stack's hooks and the engine both hold.
pub(crate) type Shared = Arc<Mutex<Resumer>>;

pub(crate) fn shared(seed: [u8; 32], config: tcpcrypt::Config) -> Shared {
    Arc::new(Mutex::new(Resumer {
        cache: ResumptionCache::default(),
        rng: ChaCha20Rng::from_seed(seed),
        parked: HashMap::new(),
        config,
    }))
}

/// Host A: an offer for `peer`, if a chain is cached (burns its index).
pub(crate) fn offer(shared: &Shared, peer: IpAddress) -> Option<ResumeOffer> {
    let mut r = shared.lock().ok()?;
    let r = &mut *r;
    r.cache.offer(&peer, None, &r.config, &mut r.rng)
}

/// TCP option space (RFC 9293 §3.1).
const OPTION_SPACE: usize = 40;

/// What a SYN of ours carries besides ENO: MSS (4), window scale (3), SACK-permitted (2)
/// and timestamps (10) bytes.
const SYN_OTHER_OPTIONS: usize = 19;

/// Host A: adds `offer` to the SYN's TEP list as its most preferred suboption, keeping the
/// SYN within the option space *with* timestamps and SACK.
///
/// The resumption suboption (TEP byte with v = 1, a 9-byte identifier half and an 8-byte
/// nonce: 18 bytes) also offers its TEP for a fresh key exchange (B may answer it with
/// v = 0, RFC 8548 §3.5), so the plain offer of that TEP goes; other plain offers stay
/// while they fit, least preferred dropped first (RFC 8548 §3.5: an active opener MAY add
/// them). With the whole list (4 TEPs) the ENO option took 24 bytes, and the stack, whose
/// option fitting drops timestamps first, sent every resumed SYN without timestamps: those
/// connections ran without RFC 7323 (no PAWS, and their TIME-WAIT could not be reopened
/// under RFC 6191, so a burst of resumed connections used up the ports;
/// docs/BENCHMARKS.md, "Refused connections in the plain-relay row (session 6)").
/// IMPLEMENTING.md §6.7 ("option-space squeeze").
pub(crate) fn add_offer(eno: &mut eno::Config, offer: &ResumeOffer) {
    let tep = offer.tep_byte() & 0x7f;
    eno.teps.retain(|t| t.id != tep);
    eno.teps
        .push(eno::TepOffer::with_data(tep, offer.suboption_data()));
    let len = |c: &eno::Config| {
        c.active_syn_option()
            .to_bytes()
            .map_or(usize::MAX, |b| b.len())
    };
    // `teps` is in rising priority: the first is the least preferred; the offer stays.
    while eno.teps.len() > 1 && len(eno).saturating_add(SYN_OTHER_OPTIONS) > OPTION_SPACE {
        eno.teps.remove(0);
    }
}

/// Host A: the validator that ignores resumption answers not matching `offer`.
pub(crate) fn validator(offer: &ResumeOffer) -> ValidatorFactory {
    let v: AnswerValidator = offer.answer_validator();
    Arc::new(move |_, _| Box::new(v.clone()))
}

/// Host B: a selector that resumes when A's offer matches a cached chain, else answers as
/// the default selector does.
pub(crate) fn selector(shared: &Shared) -> SelectorFactory {
    let shared = shared.clone();
    Arc::new(move |local: IpEndpoint, remote: IpEndpoint| {
        let shared = shared.clone();
        Box::new(
            move |peer: &eno::SynOption, offers: &[eno::TepOffer]| -> Option<Vec<eno::Suboption>> {
                if let Ok(mut r) = shared.lock() {
                    let r = &mut *r;
                    for sub in peer.suboptions.iter().rev() {
                        if !sub.v || Tep::from_id(sub.tep).is_none() {
                            continue;
                        }
                        let answer = r.cache.accept(
                            &remote.addr,
                            sub.tep,
                            sub.v,
                            &sub.data,
                            &r.config,
                            &mut r.rng,
                        );
                        if let Some(answer) = answer {
                            let reply = eno::Suboption::with_data(
                                answer.tep_byte & 0x7f,
                                answer.data.clone(),
                            );
                            if r.parked.len() >= MAX_PARKED {
                                r.parked.clear();
                            }
                            r.parked.insert((local, remote), answer);
                            return Some(vec![reply]);
                        }
                    }
                }
                eno::TepSelector::select(&mut eno::DefaultSelector, peer, offers)
            },
        ) as Box<dyn eno::TepSelector>
    })
}

/// Host B: the answer agreed to for the connection `(local, remote)`.
pub(crate) fn take_answer(
    shared: &Shared,
    local: IpEndpoint,
    remote: IpEndpoint,
) -> Option<ResumeAnswer> {
    shared.lock().ok()?.parked.remove(&(local, remote))
}

/// After a fresh key exchange: cache ss[1] for `peer`.
pub(crate) fn store(shared: &Shared, peer: IpAddress, ticket: ResumptionTicket) {
    if let Ok(mut r) = shared.lock() {
        r.cache.insert(peer, ticket);
    }
}
