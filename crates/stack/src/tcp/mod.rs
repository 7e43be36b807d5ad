//! The TCP engine (RFC 9293) and its companions: RTO (RFC 6298), congestion control
//! (RFC 5681, RFC 9438), SACK (RFC 2018, RFC 6675), RACK-TLP (RFC 8985), limited
//! transmit (RFC 3042), timestamps (RFC 7323) and RFC 5961.

pub mod cc;
pub mod conn;
pub(crate) mod input;
pub mod isn;
pub(crate) mod output;
pub mod rack;
pub mod reassembly;
pub mod rfc5961;
pub mod ring;
pub mod rto;
pub mod sack;
pub mod segment;
pub(crate) mod seq;
pub(crate) mod timeout;
pub mod timer;
pub mod ts;
