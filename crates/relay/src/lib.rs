//! The relay engine behind `tcpc0` (DESIGN.md "Data path"), sans-IO.
//!
//! [`Engine`] owns one [`stack::Stack`] and pairs every intercepted TCP connection (INNER:
//! the kernel's application or service, plaintext) with an OUTER connection to the network
//! that negotiates TCP-ENO (RFC 8547) and, when the peer agrees, tcpcrypt (RFC 8548). UDP and
//! ICMP of routed subnets pass through with address translation. IPv4 and IPv6 alike.
//!
//! * [`config`]: addresses, routes with [`Policy`], fronted ports, TEP/AEAD preferences, seed.
//! * [`engine`]: the [`Engine`] (`handle_packet`, `poll_transmit`, `next_deadline`,
//!   `handle_timeout`, `status`, `sessid`).
//! * `pair`: one inner/outer pair and its byte pump (FIN ↔ FINp, RST ↔ abort).
//! * [`passthrough`] and [`nat`]: UDP/ICMP classification and address translation.
//! * [`status`]: the session table rows.
//!
//! Nothing here reads a clock, opens a socket or asks the OS for randomness: time comes
//! with every call, randomness from [`Config::seed`].
//!
//! Session resumption (RFC 8548 §3.5, [`Config::resumption`]): one cache of resumption
//! chains per peer address, shared by outer legs we open (offer in the SYN, answer
//! validated) and those we accept (a TEP selector in the stack's `EnoHooks`).
//!
//! # Daemon seam
//!
//! `crates/daemon`'s `engine::Engine` trait maps one to one: `handle_packet`,
//! `poll_transmit`, `next_deadline`, `handle_timeout` as they are; `status` converts each
//! [`ConnStatus`] (`state.name()`, [`tep_name`], [`cipher_name`],
//! [`ConnStatus::session_id_hex`]); `sessid` is [`Engine::sessid_socket`]. Its
//! `EngineConfig` gives [`Config`]: `route` as [`Policy::Opportunistic`] and `require` as
//! [`Policy::Require`] routes (longest prefix wins), `front` as `fronted_ports`, `tep` and
//! `aead` by identifier ([`Tep::from_id`], [`Cipher`]), `mtu`, and a seed from the OS.

#![forbid(unsafe_code)]
#![warn(missing_docs, unreachable_pub)]

pub mod config;
pub mod engine;
pub mod nat;
mod pair;
pub mod passthrough;
mod resumption;
pub mod status;
mod unreach;

pub use config::{Cidr, CidrError, Config, Policy, Route};
pub use engine::{Engine, RelayStats};
pub use pair::{Direction, PairState};
pub use stack::{ChecksumOffload, Duration, Instant, IpAddress, IpEndpoint};
pub use status::{cipher_name, tep_name, ConnStatus, SESSID_LEN};
pub use tcpcrypt::{Cipher, Tep};
