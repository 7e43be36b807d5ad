//! RFC 8548 §3.5: session resumption — the ss[i] chain, resumption identifiers, the ENO
//! suboptions that offer and accept resumption, and a bounded in-memory cache.
//!
//! * ss[i+1] = CPRF(ss[i], CONST_NEXTK, K_LEN); resume[i] = CPRF(ss[i], CONST_RESUME, 18).
//! * A host sends the first half resume[i][0..9] if it was **A in the original session**
//!   (the one that produced ss[0]), the second half resume[i][9..18] otherwise — whatever its
//!   role now. sn[i] = nonce_a || nonce_b, nonce_a being the nonce of the original-A host
//!   (IMPLEMENTING.md §10 item 2). Keys (k_ab vs k_ba) follow the original role too.
//! * Suboption: TEP|0x80, the 9-byte half, a 0..=8 byte nonce (default 8, [`Config`]).
//! * Each ss[i] is used at most once: taking an offer or accepting one advances the cached
//!   chain to ss[i+1] before the connection even starts, so a failed attempt burns ss[i]
//!   too, and the secret handed out is erased when the [`Resumption`] or [`ResumeOffer`] is
//!   dropped. Secrets are zeroized on removal (the [`Secret`] type wipes on drop).
//! * Decisions on RFC-silent cases: a v = 1 tcpcrypt suboption with fewer than 9 data bytes
//!   is a fresh offer (MUST, §3.5); one with more than 17 data bytes (nonce > 8 bytes) is not
//!   valid and is ignored entirely ([`TcpcryptSuboption::Invalid`]). The cipher of a resumed
//!   session is the cipher of the original session (the RFC does not say; no Init messages
//!   carry one). A cache hit requires the same TEP as the cached session (MUST, §3.5).

use std::collections::HashMap;
use std::hash::Hash;

use rand_core::CryptoRngCore;

use crate::config::Config;
use crate::consts::{MAX_RESUME_NONCE_LEN, RESUME_HALF_LEN};
use crate::kdf::{next_ss, resume_id, Secret};
use crate::session::Role;
use crate::suite::{Cipher, Tep};

/// How many indices past the cached one a passive opener looks for a matching half (the
/// active side skips indices after failed attempts). Our choice, not in the RFC.
pub const DEFAULT_LOOKAHEAD: u64 = 4;
/// Default bound on cached chains.
pub const DEFAULT_CAPACITY: usize = 1024;
/// Largest valid resumption suboption data: half + 8-byte nonce.
pub const MAX_RESUME_DATA_LEN: usize = RESUME_HALF_LEN + MAX_RESUME_NONCE_LEN;

/// The v bit of a TEP byte.
const V_BIT: u8 = 0x80;

/// What a tcpcrypt ENO suboption offers (RFC 8548 §3.2, §3.5).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TcpcryptSuboption<'a> {
    /// Not a tcpcrypt TEP.
    NotTcpcrypt,
    /// Fresh key exchange with this TEP (v = 0, or v = 1 with fewer than 9 data bytes).
    Fresh(Tep),
    /// Resumption: the identifier half and the nonce.
    Resume {
        /// The TEP.
        tep: Tep,
        /// The 9-byte identifier half.
        half: [u8; RESUME_HALF_LEN],
        /// The 0..=8 byte nonce.
        nonce: &'a [u8],
    },
    /// v = 1 with more than 17 data bytes: not valid, ignore the suboption (our decision).
    Invalid(Tep),
}

/// Classifies an ENO suboption (`tep` = 7-bit id, `v` bit, suboption data).
pub fn parse_suboption(tep: u8, v: bool, data: &[u8]) -> TcpcryptSuboption<'_> {
    let Some(t) = Tep::from_id(tep & !V_BIT) else {
        return TcpcryptSuboption::NotTcpcrypt;
    };
    if !v || data.len() < RESUME_HALF_LEN {
        return TcpcryptSuboption::Fresh(t);
    }
    if data.len() > MAX_RESUME_DATA_LEN {
        return TcpcryptSuboption::Invalid(t);
    }
    let mut half = [0u8; RESUME_HALF_LEN];
    let (h, nonce) = data.split_at(RESUME_HALF_LEN);
    half.copy_from_slice(h);
    TcpcryptSuboption::Resume {
        tep: t,
        half,
        nonce,
    }
}

/// Builds the data of a resumption suboption (its TEP byte is `tep.id() | 0x80`): the half
/// followed by the nonce (at most 8 bytes; longer nonces are truncated).
pub fn resume_suboption_data(half: &[u8; RESUME_HALF_LEN], nonce: &[u8]) -> Vec<u8> {
    let n = nonce
        .get(..nonce.len().min(MAX_RESUME_NONCE_LEN))
        .unwrap_or_default();
    let mut v = Vec::with_capacity(RESUME_HALF_LEN + n.len());
    v.extend_from_slice(half);
    v.extend_from_slice(n);
    v
}

/// The half of resume[i] sent by the host whose original role is `original_role`.
pub fn resume_half(ss: &Secret, original_role: Role) -> [u8; RESUME_HALF_LEN] {
    let id = resume_id(ss);
    let mut half = [0u8; RESUME_HALF_LEN];
    match original_role {
        Role::A => half.copy_from_slice(&id[..RESUME_HALF_LEN]),
        Role::B => half.copy_from_slice(&id[RESUME_HALF_LEN..]),
    }
    half
}

/// Identifies one cached chain (for [`ResumptionCache::flush`]).
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash)]
pub struct ChainId(u64);

/// ss[1] after a fresh key exchange, from [`crate::Session::take_resumption_ticket`], ready
/// for [`ResumptionCache::insert`]. Zeroized on drop; `Debug` redacts it.
#[derive(Debug)]
pub struct ResumptionTicket {
    ss: Secret,
    index: u64,
    tep: Tep,
    cipher: Cipher,
    original_role: Role,
}

impl ResumptionTicket {
    pub(crate) fn new(
        ss: Secret,
        index: u64,
        tep: Tep,
        cipher: Cipher,
        original_role: Role,
    ) -> Self {
        ResumptionTicket {
            ss,
            index,
            tep,
            cipher,
            original_role,
        }
    }

    /// The TEP of the original session.
    pub fn tep(&self) -> Tep {
        self.tep
    }

    /// This host's role in the original session.
    pub fn original_role(&self) -> Role {
        self.original_role
    }
}

/// A session secret ss[i] taken out of the cache for one connection. Zeroized on drop.
#[derive(Debug)]
pub struct ResumeSecret {
    pub(crate) ss: Secret,
    /// The index i.
    pub index: u64,
    /// The TEP of the original session.
    pub tep: Tep,
    /// The AEAD of the original session.
    pub cipher: Cipher,
    /// This host's role in the original session.
    pub original_role: Role,
    /// The chain it came from.
    pub chain: ChainId,
}

impl ResumeSecret {
    /// A fixed secret for the fuzzing entry points (never for real connections).
    pub(crate) fn for_fuzzing(original_role: Role) -> Self {
        ResumeSecret {
            ss: Secret::from_bytes([0x42; 32]),
            index: 1,
            tep: Tep::X25519,
            cipher: Cipher::Aes128Gcm,
            original_role,
            chain: ChainId(u64::MAX),
        }
    }
}

/// Everything needed to start a resumed session: ss[i] and sn[i].
#[derive(Debug)]
pub struct Resumption {
    secret: ResumeSecret,
    sn: Vec<u8>,
}

impl Resumption {
    /// sn[i] = nonce_a || nonce_b.
    pub fn sn(&self) -> &[u8] {
        &self.sn
    }

    /// The secret's metadata.
    pub fn secret(&self) -> &ResumeSecret {
        &self.secret
    }

    pub(crate) fn for_fuzzing(secret: ResumeSecret) -> Self {
        Resumption {
            secret,
            sn: vec![1, 2],
        }
    }

    pub(crate) fn into_parts(self) -> (ResumeSecret, Vec<u8>) {
        (self.secret, self.sn)
    }
}

fn sn_for(original_role: Role, own: &[u8], peer: &[u8]) -> Vec<u8> {
    let (a, b) = match original_role {
        Role::A => (own, peer),
        Role::B => (peer, own),
    };
    let mut sn = Vec::with_capacity(a.len() + b.len());
    sn.extend_from_slice(a);
    sn.extend_from_slice(b);
    sn
}

fn fresh_nonce(config: &Config, rng: &mut dyn CryptoRngCore) -> Vec<u8> {
    let mut n = vec![0u8; config.resume_nonce_len.min(MAX_RESUME_NONCE_LEN)];
    rng.fill_bytes(&mut n);
    n
}

/// An active opener's resumption offer, to put in its SYN (RFC 8548 §3.5). The index is
/// already burned in the cache.
#[derive(Debug)]
pub struct ResumeOffer {
    secret: ResumeSecret,
    half: [u8; RESUME_HALF_LEN],
    nonce: Vec<u8>,
}

impl ResumeOffer {
    /// The suboption's TEP byte (TEP | 0x80).
    pub fn tep_byte(&self) -> u8 {
        self.secret.tep.id() | V_BIT
    }

    /// The suboption data: our half and our nonce.
    pub fn suboption_data(&self) -> Vec<u8> {
        resume_suboption_data(&self.half, &self.nonce)
    }

    /// The secret's metadata.
    pub fn secret(&self) -> &ResumeSecret {
        &self.secret
    }

    /// The ENO validator that makes host A ignore non-matching resumption answers.
    pub fn answer_validator(&self) -> AnswerValidator {
        AnswerValidator {
            expected: Some((
                self.secret.tep,
                resume_half(&self.secret.ss, self.secret.original_role.peer()),
            )),
        }
    }

    /// The peer answered with a tcpcrypt suboption (`tep` 7-bit id, `v`, data). If it is a
    /// resumption suboption for our TEP with the other half of our identifier, returns the
    /// [`Resumption`]; otherwise `None` (RFC 8548 §3.5: ignore a non-matching suboption) and
    /// the secret is erased.
    pub fn complete(self, tep: u8, v: bool, data: &[u8]) -> Option<Resumption> {
        match parse_suboption(tep, v, data) {
            TcpcryptSuboption::Resume { tep, half, nonce }
                if tep == self.secret.tep
                    && half == resume_half(&self.secret.ss, self.secret.original_role.peer()) =>
            {
                let sn = sn_for(self.secret.original_role, &self.nonce, nonce);
                Some(Resumption {
                    secret: self.secret,
                    sn,
                })
            }
            _ => None,
        }
    }
}

/// RFC 8548 §3.5 for host A (the active opener), as an ENO [`eno::negotiate::TepValidator`]:
/// judges B's tcpcrypt suboptions. A resumption answer (v = 1) is valid only if we offered
/// resumption for that TEP and it carries the other half of our identifier with a 0..=8 byte
/// nonce; an answer with v = 1 for a TEP we offered no resumption for is not valid (RFC-silent,
/// IMPLEMENTING.md §3). v = 0 answers and non-tcpcrypt TEPs are valid.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AnswerValidator {
    expected: Option<(Tep, [u8; RESUME_HALF_LEN])>,
}

impl AnswerValidator {
    /// For an active open without a resumption offer.
    pub fn fresh_only() -> Self {
        AnswerValidator { expected: None }
    }

    /// Whether B's suboption (`tep` 7-bit id, `v`, data) is valid for us.
    pub fn is_valid_answer(&self, tep: u8, v: bool, data: &[u8]) -> bool {
        if !v || Tep::from_id(tep & !V_BIT).is_none() {
            return true;
        }
        match (parse_suboption(tep, v, data), &self.expected) {
            (TcpcryptSuboption::Resume { tep, half, .. }, Some((et, eh))) => {
                tep == *et && half == *eh
            }
            _ => false,
        }
    }
}

impl eno::negotiate::TepValidator for AnswerValidator {
    fn is_valid(&self, _a: &eno::SynOption, b: &eno::Suboption) -> bool {
        self.is_valid_answer(b.tep, b.v, &b.data)
    }
}

/// A passive opener's acceptance: the suboption to answer with and the [`Resumption`].
#[derive(Debug)]
pub struct ResumeAnswer {
    /// The resumption to start the session with.
    pub resumption: Resumption,
    /// The TEP byte of our answering suboption (TEP | 0x80).
    pub tep_byte: u8,
    /// The data of our answering suboption: our half and our nonce.
    pub data: Vec<u8>,
}

struct Chain {
    id: ChainId,
    ss: Secret,
    index: u64,
    tep: Tep,
    cipher: Cipher,
    original_role: Role,
    last_used: u64,
}

impl Chain {
    /// Takes ss[index] out and advances the chain to ss[index + 1].
    fn take(&mut self) -> ResumeSecret {
        let next = next_ss(&self.ss);
        let ss = core::mem::replace(&mut self.ss, next);
        let index = self.index;
        self.index += 1;
        ResumeSecret {
            ss,
            index,
            tep: self.tep,
            cipher: self.cipher,
            original_role: self.original_role,
            chain: self.id,
        }
    }
}

/// A bounded in-memory cache of resumption chains per peer (RFC 8548 §3.5), keyed by a peer
/// identity of the caller's choosing (e.g. the peer's address). Least recently used chains
/// are evicted beyond the capacity. Nothing is ever written to storage.
pub struct ResumptionCache<K> {
    peers: HashMap<K, Vec<Chain>>,
    capacity: usize,
    len: usize,
    tick: u64,
    next_id: u64,
    lookahead: u64,
}

impl<K> core::fmt::Debug for ResumptionCache<K> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("ResumptionCache")
            .field("len", &self.len)
            .field("capacity", &self.capacity)
            .finish_non_exhaustive()
    }
}

impl<K: Hash + Eq + Clone> Default for ResumptionCache<K> {
    fn default() -> Self {
        ResumptionCache::new(DEFAULT_CAPACITY, DEFAULT_LOOKAHEAD)
    }
}

impl<K: Hash + Eq + Clone> ResumptionCache<K> {
    /// A cache of at most `capacity` chains (at least 1); a passive opener accepts indices up
    /// to `lookahead` past the cached one.
    pub fn new(capacity: usize, lookahead: u64) -> Self {
        ResumptionCache {
            peers: HashMap::new(),
            capacity: capacity.max(1),
            len: 0,
            tick: 0,
            next_id: 0,
            lookahead,
        }
    }

    /// Number of cached chains.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether nothing is cached.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    fn bump(&mut self) -> u64 {
        self.tick += 1;
        self.tick
    }

    fn evict_one(&mut self) {
        let mut oldest: Option<(K, ChainId, u64)> = None;
        for (k, chains) in &self.peers {
            for c in chains {
                if oldest.as_ref().is_none_or(|o| c.last_used < o.2) {
                    oldest = Some((k.clone(), c.id, c.last_used));
                }
            }
        }
        if let Some((k, id, _)) = oldest {
            self.remove_chain(&k, id);
        }
    }

    fn remove_chain(&mut self, peer: &K, id: ChainId) -> bool {
        let mut removed = false;
        if let Some(chains) = self.peers.get_mut(peer) {
            let before = chains.len();
            chains.retain(|c| c.id != id);
            removed = chains.len() != before;
            if chains.is_empty() {
                self.peers.remove(peer);
            }
        }
        if removed {
            self.len -= 1;
        }
        removed
    }

    /// Caches the ticket of a fresh session with `peer`.
    pub fn insert(&mut self, peer: K, ticket: ResumptionTicket) -> ChainId {
        while self.len >= self.capacity {
            self.evict_one();
        }
        let id = ChainId(self.next_id);
        self.next_id += 1;
        let last_used = self.bump();
        self.peers.entry(peer).or_default().push(Chain {
            id,
            ss: ticket.ss,
            index: ticket.index,
            tep: ticket.tep,
            cipher: ticket.cipher,
            original_role: ticket.original_role,
            last_used,
        });
        self.len += 1;
        id
    }

    /// As active opener: an offer for `peer` from its most recently used chain (with TEP
    /// `tep` if given), using the lowest unused index, which is burned now. `None` if nothing
    /// is cached or [`Config::ignore_resumption`] is set. With [`Config::no_cache`] the
    /// chain is removed after this use.
    pub fn offer(
        &mut self,
        peer: &K,
        tep: Option<Tep>,
        config: &Config,
        rng: &mut dyn CryptoRngCore,
    ) -> Option<ResumeOffer> {
        if config.ignore_resumption {
            return None;
        }
        let tick = self.bump();
        let chains = self.peers.get_mut(peer)?;
        let chain = chains
            .iter_mut()
            .filter(|c| tep.is_none_or(|t| t == c.tep))
            .max_by_key(|c| c.last_used)?;
        chain.last_used = tick;
        let secret = chain.take();
        let id = chain.id;
        if config.no_cache {
            self.remove_chain(peer, id);
        }
        let half = resume_half(&secret.ss, secret.original_role);
        Some(ResumeOffer {
            secret,
            half,
            nonce: fresh_nonce(config, rng),
        })
    }

    /// As passive opener: a received suboption (`tep` 7-bit id, `v`, data). If it is a
    /// resumption offer whose half names a cached secret of `peer` with the same TEP (looking
    /// `lookahead` indices ahead), accepts: burns the index (and skipped ones) and returns our
    /// answer. `None` (do not agree; answer fresh) otherwise or with
    /// [`Config::ignore_resumption`].
    pub fn accept(
        &mut self,
        peer: &K,
        tep: u8,
        v: bool,
        data: &[u8],
        config: &Config,
        rng: &mut dyn CryptoRngCore,
    ) -> Option<ResumeAnswer> {
        if config.ignore_resumption {
            return None;
        }
        let TcpcryptSuboption::Resume {
            tep,
            half,
            nonce: peer_nonce,
        } = parse_suboption(tep, v, data)
        else {
            return None;
        };
        let lookahead = self.lookahead;
        let tick = self.bump();
        let chains = self.peers.get_mut(peer)?;
        let mut found: Option<(usize, u64)> = None;
        'outer: for (ci, c) in chains.iter().enumerate() {
            if c.tep != tep {
                continue;
            }
            let mut ss = c.ss.clone();
            for skip in 0..=lookahead {
                if resume_half(&ss, c.original_role.peer()) == half {
                    found = Some((ci, skip));
                    break 'outer;
                }
                ss = next_ss(&ss);
            }
        }
        let (ci, skip) = found?;
        let chain = chains.get_mut(ci)?;
        for _ in 0..skip {
            drop(chain.take());
        }
        chain.last_used = tick;
        let secret = chain.take();
        let id = chain.id;
        if config.no_cache {
            self.remove_chain(peer, id);
        }
        let own_nonce = fresh_nonce(config, rng);
        let own_half = resume_half(&secret.ss, secret.original_role);
        let sn = sn_for(secret.original_role, &own_nonce, peer_nonce);
        let tep_byte = secret.tep.id() | V_BIT;
        Some(ResumeAnswer {
            resumption: Resumption { secret, sn },
            tep_byte,
            data: resume_suboption_data(&own_half, &own_nonce),
        })
    }

    /// Flushes one chain (RFC 8548 §3.5: the per-connection "flush" control); its secret is
    /// zeroized. Returns whether it was cached.
    pub fn flush(&mut self, chain: ChainId) -> bool {
        let peer = self
            .peers
            .iter()
            .find(|(_, cs)| cs.iter().any(|c| c.id == chain))
            .map(|(k, _)| k.clone());
        match peer {
            Some(k) => self.remove_chain(&k, chain),
            None => false,
        }
    }

    /// Removes every chain of `peer`.
    pub fn remove_peer(&mut self, peer: &K) {
        if let Some(chains) = self.peers.remove(peer) {
            self.len -= chains.len();
        }
    }

    /// Removes everything.
    pub fn clear(&mut self) {
        self.peers.clear();
        self.len = 0;
    }
}
