//! The control interface: a Unix stream socket speaking JSON lines ([`proto`]), served by the
//! daemon ([`server`]) and used by the `tcpcrypt` CLI ([`client`]).

pub mod client;
pub mod proto;
pub mod server;
