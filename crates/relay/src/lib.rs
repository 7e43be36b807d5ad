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
//! Not yet done: TCP-ENO resumption (RFC 8548 §3.5) needs a per-listener `TepSelector` hook
//! in the stack; per-connection MTU (a large MTU for the inner leg only) needs a per-connection
//! MTU knob in `stack::ConnConfig`.

#![forbid(unsafe_code)]
#![warn(missing_docs, unreachable_pub)]

pub mod config;
pub mod engine;
pub mod nat;
mod pair;
pub mod passthrough;
pub mod status;
mod unreach;

pub use config::{Cidr, CidrError, Config, Policy, Route};
pub use engine::{Engine, RelayStats};
pub use pair::{Direction, PairState};
pub use stack::{Duration, Instant, IpAddress, IpEndpoint};
pub use status::{cipher_name, tep_name, ConnStatus, SESSID_LEN};
pub use tcpcrypt::{Cipher, Tep};
