//! Wire formats: IP framing (RFC 791, RFC 8200), the Internet checksum (RFC 1071) and TCP
//! options, on `smoltcp::wire` views.

pub mod checksum;
pub mod ip;
pub mod options;
