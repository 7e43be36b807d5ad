//! `tcpcryptd` and the `tcpcrypt` CLI: the only crate of tcpcrypt-rs that touches the OS.
//!
//! The daemon creates the TUN device `tcpc0`, installs the kernel plumbing (addresses, routes,
//! policy rules, sysctls, an nftables table of its own), runs a sans-IO [`engine::Engine`]
//! behind the device in a mio loop, serves the control socket, and undoes everything on
//! SIGINT/SIGTERM (DESIGN.md, "Data path", "Kernel plumbing", "The daemon"; issue 4).
//!
//! The daemon runs the relay engine (`crates/relay`) through [`relay_engine`];
//! [`echo_engine::EchoEngine`] is a minimal stand-in that answers ping to the stack's
//! addresses, kept for tests of the I/O shell.

pub mod args;
pub mod cidr;
pub mod cli;
pub mod clock;
pub mod coalesce;
pub mod config;
pub mod control;
pub mod daemon;
pub mod echo_engine;
pub mod engine;
pub mod event_loop;
pub mod page_phase;
pub mod plumbing;
pub mod relay_engine;
pub mod rx_offload;
pub mod tun;
pub mod tun_hdr;
