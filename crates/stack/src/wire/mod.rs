//! Wire formats: IP framing (RFC 791, RFC 8200) and TCP options, on `smoltcp::wire` views.

pub mod ip;
pub mod options;
