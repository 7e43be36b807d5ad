//! RFC 8548 §3.8 (rekeying) and §3.9 (keep-alive): key generations of one session.
//!
//! Generation `j` has the master key mk[j] (mk[j] = CPRF(mk[j-1], CONST_REKEY, K_LEN)) and
//! the traffic keys k_ab[j], k_ba[j]. `local` is the generation we encrypt with, `remote` the
//! highest generation seen from the peer; both start at 0.
//!
//! * Initiating ([`KeyGenerations::initiate`]): `local += 1`; the first frame sent under the
//!   new generation carries rekey = 1 and is sealed with the new key.
//! * Receiving rekey = 1 ([`KeyGenerations::on_peer_rekey`]): `remote += 1`, that frame is
//!   opened with generation `remote`; if `remote > local`, `local = remote` at once and the
//!   caller must send a rekey frame (empty if needed) unless it already sent FINp.
//! * While `remote < local` we never start a second rekey with an empty frame (MUST), and we
//!   never run more than [`MAX_GENERATIONS_AHEAD`] generations ahead of the peer at all (our
//!   bound, to keep memory constant).
//!
//! Only the master keys of generations `remote..=local` and the two frame keys in use are
//! kept; older ones are dropped (and zeroized: [`Secret`] and [`FrameKey`] wipe on drop).
//! Keys are chosen by the host's role in the **original** session (RFC 8548 §3.5): the
//! original A sends with k_ab and receives with k_ba.

use std::collections::VecDeque;

use crate::error::ProtocolError;
use crate::frame::FrameKey;
use crate::kdf::{next_mk, traffic_keys, Secret};
use crate::provider::{CryptoProvider, KeyError};
use crate::session::Role;
use crate::suite::Cipher;

/// How many generations we may run ahead of the peer's highest generation (our bound).
pub const MAX_GENERATIONS_AHEAD: u64 = 4;

/// The key generations of one session (RFC 8548 §3.8).
pub struct KeyGenerations {
    provider: &'static dyn CryptoProvider,
    cipher: Cipher,
    original_role: Role,
    local: u64,
    remote: u64,
    /// mk[remote], mk[remote+1], ..., mk[local] (remote <= local between calls).
    mks: VecDeque<Secret>,
    send: FrameKey,
    recv: FrameKey,
}

impl core::fmt::Debug for KeyGenerations {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("KeyGenerations")
            .field("cipher", &self.cipher)
            .field("original_role", &self.original_role)
            .field("local", &self.local)
            .field("remote", &self.remote)
            .finish_non_exhaustive()
    }
}

fn frame_keys(
    provider: &dyn CryptoProvider,
    mk: &Secret,
    cipher: Cipher,
    original_role: Role,
    want_send: bool,
) -> Result<FrameKey, KeyError> {
    let ks = traffic_keys(mk, cipher);
    let use_ab = matches!(original_role, Role::A) == want_send;
    FrameKey::new(provider, if use_ab { &ks.k_ab } else { &ks.k_ba })
}

impl KeyGenerations {
    /// Generation 0 from mk[0]; `original_role` is this host's role in the session that
    /// produced ss[0].
    pub fn new(
        provider: &'static dyn CryptoProvider,
        mk0: Secret,
        cipher: Cipher,
        original_role: Role,
    ) -> Result<KeyGenerations, KeyError> {
        let send = frame_keys(provider, &mk0, cipher, original_role, true)?;
        let recv = frame_keys(provider, &mk0, cipher, original_role, false)?;
        let mut mks = VecDeque::with_capacity(2);
        mks.push_back(mk0);
        Ok(KeyGenerations {
            provider,
            cipher,
            original_role,
            local: 0,
            remote: 0,
            mks,
            send,
            recv,
        })
    }

    /// The generation we encrypt with.
    pub fn local(&self) -> u64 {
        self.local
    }

    /// The highest generation received from the peer.
    pub fn remote(&self) -> u64 {
        self.remote
    }

    /// The key for sending under generation `local`.
    pub fn send_key(&self) -> &FrameKey {
        &self.send
    }

    /// The key for receiving under generation `remote`.
    pub fn recv_key(&self) -> &FrameKey {
        &self.recv
    }

    /// Whether a rekey may start now; `empty_frame` says whether the frame that would carry
    /// it has no data (RFC 8548 §3.8: no second empty-frame rekey while remote < local).
    pub fn may_initiate(&self, empty_frame: bool) -> bool {
        let ahead = self.local - self.remote;
        ahead < MAX_GENERATIONS_AHEAD && !(empty_frame && ahead > 0)
    }

    fn push_next(&mut self) {
        if let Some(top) = self.mks.back() {
            let next = next_mk(top);
            self.mks.push_back(next);
        }
    }

    /// Moves `local` to the next generation; the caller must send the next frame with
    /// rekey = 1, sealed with the new [`KeyGenerations::send_key`].
    pub fn initiate(&mut self, empty_frame: bool) -> Result<(), crate::Error> {
        if !self.may_initiate(empty_frame) {
            return Err(ProtocolError::RekeyNotAllowed.into());
        }
        self.push_next();
        let mk = self.mks.back().ok_or(ProtocolError::RekeyNotAllowed)?;
        self.send = frame_keys(self.provider, mk, self.cipher, self.original_role, true)?;
        self.local += 1;
        Ok(())
    }

    /// A frame with rekey = 1 arrived: `remote += 1` and [`KeyGenerations::recv_key`] becomes
    /// the new generation's key, to open that very frame. Returns true if `local` was moved up
    /// to `remote`, in which case the caller must immediately send a frame with rekey = 1
    /// (unless it already sent FINp).
    pub fn on_peer_rekey(&mut self) -> Result<bool, KeyError> {
        let caught_up = self.remote == self.local;
        if caught_up {
            self.push_next();
        }
        // mks[0] is mk[remote]; drop it, mk[remote + 1] is now first.
        self.mks.pop_front();
        let mk = self.mks.front().ok_or(KeyError::Unsupported)?;
        self.recv = frame_keys(self.provider, mk, self.cipher, self.original_role, false)?;
        self.remote += 1;
        if caught_up {
            self.send = frame_keys(self.provider, mk, self.cipher, self.original_role, true)?;
            self.local = self.remote;
        }
        Ok(caught_up)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::kdf::TrafficKey;
    use crate::provider::ring::PROVIDER;

    fn gens(role: Role) -> KeyGenerations {
        KeyGenerations::new(
            &PROVIDER,
            Secret::from_bytes([3; 32]),
            Cipher::Aes128Gcm,
            role,
        )
        .unwrap()
    }

    fn key_of(mk: &Secret, ab: bool) -> TrafficKey {
        let ks = traffic_keys(mk, Cipher::Aes128Gcm);
        if ab {
            ks.k_ab
        } else {
            ks.k_ba
        }
    }

    /// Seals with `g`'s send key and opens with an independently derived key.
    fn sends_with(g: &KeyGenerations, mk: &Secret, ab: bool) -> bool {
        let mut f = Vec::new();
        g.send_key()
            .seal_append(0, false, false, b"x", &mut f)
            .unwrap();
        let k = FrameKey::new(&PROVIDER, &key_of(mk, ab)).unwrap();
        k.open_in_place(0, &mut f).is_ok()
    }

    fn receives_with(g: &KeyGenerations, mk: &Secret, ab: bool) -> bool {
        let mut f = Vec::new();
        let k = FrameKey::new(&PROVIDER, &key_of(mk, ab)).unwrap();
        k.seal_append(0, false, false, b"x", &mut f).unwrap();
        g.recv_key().open_in_place(0, &mut f).is_ok()
    }

    #[test]
    fn original_role_picks_directions_and_generations_follow_the_mk_chain() {
        let mk0 = Secret::from_bytes([3; 32]);
        let mk1 = next_mk(&mk0);
        let mk2 = next_mk(&mk1);
        let mut a = gens(Role::A);
        let b = gens(Role::B);
        assert!(sends_with(&a, &mk0, true) && receives_with(&a, &mk0, false));
        assert!(sends_with(&b, &mk0, false) && receives_with(&b, &mk0, true));
        a.initiate(false).unwrap();
        assert_eq!((a.local(), a.remote()), (1, 0));
        assert!(sends_with(&a, &mk1, true) && receives_with(&a, &mk0, false));
        a.initiate(false).unwrap();
        assert_eq!((a.local(), a.remote()), (2, 0));
        assert!(sends_with(&a, &mk2, true));
        // Peer catches up one generation at a time; no answer needed while remote <= local.
        assert!(!a.on_peer_rekey().unwrap());
        assert!(receives_with(&a, &mk1, false));
        assert!(!a.on_peer_rekey().unwrap());
        assert!(receives_with(&a, &mk2, false));
        assert_eq!((a.local(), a.remote()), (2, 2));
        // Peer goes ahead: local follows at once and an answer is due.
        assert!(a.on_peer_rekey().unwrap());
        assert_eq!((a.local(), a.remote()), (3, 3));
        let mk3 = next_mk(&mk2);
        assert!(sends_with(&a, &mk3, true) && receives_with(&a, &mk3, false));
        assert!(a.mks.len() == 1, "only mk[remote..=local] is kept");
    }

    #[test]
    fn initiation_limits() {
        let mut g = gens(Role::A);
        assert!(g.may_initiate(true));
        g.initiate(true).unwrap();
        // No second empty-frame rekey while remote < local (RFC 8548 §3.8).
        assert!(!g.may_initiate(true));
        assert!(g.initiate(true).is_err());
        for _ in 1..MAX_GENERATIONS_AHEAD {
            g.initiate(false).unwrap();
        }
        assert_eq!(g.local(), MAX_GENERATIONS_AHEAD);
        assert!(!g.may_initiate(false));
        assert_eq!(
            g.initiate(false),
            Err(crate::Error::Protocol(ProtocolError::RekeyNotAllowed))
        );
        assert_eq!(g.mks.len() as u64, MAX_GENERATIONS_AHEAD + 1);
        assert!(!format!("{g:?}").contains("mks"));
    }
}
