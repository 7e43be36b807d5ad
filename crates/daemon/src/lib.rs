//! `tcpcryptd` and the `tcpcrypt` CLI: the only crate of tcpcrypt-rs that touches the OS.
//!
//! The daemon creates the TUN device `tcpc0`, installs the kernel plumbing (addresses, routes,
//! policy rules, sysctls, an nftables table of its own), runs a sans-IO [`engine::Engine`]
//! behind the device in a mio loop, serves the control socket, and undoes everything on
//! SIGINT/SIGTERM (DESIGN.md, "Data path", "Kernel plumbing", "The daemon"; issue 4).
//!
//! Until the relay engine exists, the daemon runs [`echo_engine::EchoEngine`], which answers
//! ping to the stack's addresses and drops everything else.

pub mod args;
pub mod cidr;
pub mod cli;
pub mod clock;
pub mod config;
pub mod control;
pub mod daemon;
pub mod echo_engine;
pub mod engine;
pub mod event_loop;
pub mod plumbing;
pub mod tun;
