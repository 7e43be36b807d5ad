//! User-space TCP/IP engine built on `smoltcp::wire`, with the TCP-ENO hook, sans-IO.
//!
//! [`Stack`] takes whole IP packets and `now`, and returns IP packets, a deadline and
//! events; it never touches a clock, a socket or OS randomness (randomness comes from a
//! `ChaCha8Rng` seeded from [`StackConfig::rng_seed`], which also keys the RFC 6528 ISNs of
//! `tcp::isn`, clocked by the `now` each call is given).
//!
//! * `wire`: IP framing and the TCP options parser/emitter (the only one, with the ENO slot
//!   and the 40-byte budget).
//! * `tcp`: the RFC 9293 state machine split by concern (`conn`, `input`, `output`,
//!   `timeout`, `timer`, `reassembly`, `sack`, `rfc5961`, `rto`, `cc`, `isn`).
//! * [`Stack`]: connection table, listeners (with an any-address/any-port form and SYN
//!   hold for transparent interception), ICMP, bounded queues and [`Stats`].
//!
//! ```
//! use stack::{Event, Instant, IpAddress, IpEndpoint, ListenAddr, ListenConfig, Stack, StackConfig};
//!
//! let (a_ip, b_ip) = (IpAddress::v4(10, 0, 0, 1), IpAddress::v4(10, 0, 0, 2));
//! let mut a = Stack::new(StackConfig::new(vec![a_ip], [1; 32]));
//! let mut b = Stack::new(StackConfig::new(vec![b_ip], [2; 32]));
//! b.listen(ListenAddr { addr: None, port: Some(80) }, ListenConfig::default());
//! let now = Instant::from_millis(0);
//! let id = a
//!     .connect(now, IpEndpoint::new(a_ip, 40000), IpEndpoint::new(b_ip, 80), None)
//!     .unwrap();
//! a.send(now, id, b"hello");
//! // Shuttle packets until both sides are quiet (a real driver also sleeps until
//! // `next_deadline()` and calls `handle_timeout`).
//! let mut buf = [0u8; 1500];
//! loop {
//!     let mut moved = false;
//!     while let Some(n) = a.poll_transmit(now, &mut buf) { b.handle(now, &buf[..n]); moved = true; }
//!     while let Some(n) = b.poll_transmit(now, &mut buf) { a.handle(now, &buf[..n]); moved = true; }
//!     if !moved { break; }
//! }
//! let mut server = None;
//! while let Some((conn, ev)) = b.poll_event() {
//!     if ev == Event::Established { server = Some(conn); }
//! }
//! let mut got = [0u8; 16];
//! let n = b.recv(now, server.unwrap(), &mut got).unwrap();
//! assert_eq!(&got[..n], b"hello");
//! ```

#![forbid(unsafe_code)]
#![warn(missing_docs, unreachable_pub)]

pub mod config;
pub mod eno_hook;
pub mod event;
#[doc(hidden)]
pub mod fuzz;
pub mod icmp;
#[cfg(feature = "sim")]
pub mod sim;
pub mod stack;
pub mod stats;
pub mod tcp;
pub mod wire;

pub use config::{ChecksumOffload, ConnConfig, KeepAlive, StackConfig};
pub use eno_hook::{EnoHooks, SelectorFactory, ValidatorFactory};
pub use event::Event;
pub use smoltcp::time::{Duration, Instant};
pub use smoltcp::wire::{IpAddress, IpEndpoint};
pub use stack::{ConnId, ConnectError, ListenAddr, ListenConfig, RecvError, Stack};
pub use stats::Stats;
pub use tcp::conn::State;
