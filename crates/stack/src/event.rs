//! Events reported to the application by [`Stack::poll_event`](crate::Stack::poll_event).

use smoltcp::wire::IpEndpoint;

/// Something the application should know about a connection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// A SYN arrived for a listener that holds SYNs; answer with
    /// [`Stack::accept`](crate::Stack::accept) or [`Stack::refuse`](crate::Stack::refuse).
    SynReceived {
        /// Our side (the SYN's destination).
        local: IpEndpoint,
        /// The peer (the SYN's source).
        remote: IpEndpoint,
    },
    /// The three-way handshake completed (RFC 9293 §3.5).
    Established,
    /// New in-order data (or EOF) can be read with [`Stack::recv`](crate::Stack::recv).
    /// Edge-triggered: reported again only after a `recv` call, so read until
    /// `WouldBlock` (or `Ok(0)`).
    Readable,
    /// Send-buffer space freed after a short [`Stack::send`](crate::Stack::send).
    Writable,
    /// The peer sent FIN: no more data will arrive after what is buffered.
    PeerClosed,
    /// Both directions are closed; the id stays valid for reading until drained.
    Closed,
    /// The peer reset the connection (or refused it with RST).
    Reset,
    /// Retransmissions or keep-alives went unanswered; the connection is gone.
    Timeout,
    /// The engine aborted the connection with RST (mandatory encryption and ENO failed,
    /// RFC 8547 §4.7).
    Aborted,
    /// The TCP-ENO negotiation (RFC 8547) finished; see
    /// [`Stack::eno_outcome`](crate::Stack::eno_outcome).
    EnoOutcome,
}
