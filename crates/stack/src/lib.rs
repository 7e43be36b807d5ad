//! User-space TCP/IP engine built on `smoltcp::wire`, with the TCP-ENO hook, sans-IO.
//!
//! [`Stack`] takes whole IP packets and `now`, and returns IP packets, a deadline and
//! events; it never touches a clock, a socket or OS randomness (the ISN generator is a
//! `ChaCha8Rng` seeded from [`StackConfig::rng_seed`]).
//!
//! * `wire`: IP framing and the TCP options parser/emitter (the only one, with the ENO slot
//!   and the 40-byte budget).
//! * `tcp`: the RFC 9293 state machine split by concern (`conn`, `input`, `output`,
//!   `timeout`, `timer`, `reassembly`, `sack`, `rfc5961`, `rto`, `cc`).
//! * [`Stack`]: connection table, listeners (with an any-address/any-port form and SYN
//!   hold for transparent interception), ICMP, bounded queues and [`Stats`].

#![forbid(unsafe_code)]
#![warn(missing_docs, unreachable_pub)]

pub mod config;
pub mod eno_hook;
pub mod event;
pub mod icmp;
#[cfg(feature = "sim")]
pub mod sim;
pub mod stack;
pub mod stats;
pub mod tcp;
pub mod wire;

pub use config::{ConnConfig, KeepAlive, StackConfig};
pub use eno_hook::{EnoHooks, SelectorFactory, ValidatorFactory};
pub use event::Event;
pub use smoltcp::time::{Duration, Instant};
pub use smoltcp::wire::{IpAddress, IpEndpoint};
pub use stack::{ConnId, ConnectError, ListenAddr, ListenConfig, RecvError, Stack};
pub use stats::Stats;
pub use tcp::conn::State;
