//! Counters of everything the stack dropped or did not expect. Malformed input is never an
//! `Err`: it is dropped and counted here.

/// Stack-wide counters.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Stats {
    /// IP packets handed to [`Stack::handle`](crate::Stack::handle).
    pub packets_in: u64,
    /// IP packets produced by [`Stack::poll_transmit`](crate::Stack::poll_transmit).
    pub packets_out: u64,
    /// IP packets dropped as malformed (version, lengths, header checksum).
    pub bad_ip: u64,
    /// IPv4 fragments dropped.
    pub fragments: u64,
    /// Packets of a protocol other than TCP/ICMP, or IPv6 with extension headers.
    pub unknown_protocol: u64,
    /// TCP segments dropped as malformed (short header, bad data offset).
    pub bad_tcp: u64,
    /// TCP segments with a bad checksum.
    pub bad_checksum: u64,
    /// Segments whose option walk hit an ill-formed option.
    pub bad_options: u64,
    /// Segments for a closed port (answered with RST when the address is ours).
    pub no_listener: u64,
    /// Segments to addresses that are not ours and match nothing (dropped silently).
    pub not_ours: u64,
    /// RST segments sent.
    pub rst_sent: u64,
    /// RFC 5961 challenge ACKs sent.
    pub challenge_acks: u64,
    /// Challenge ACKs suppressed by the rate limit (RFC 5961 §7).
    pub challenge_acks_limited: u64,
    /// Segments dropped by sequence-acceptability (RFC 9293 §3.10.7.4) or PAWS.
    pub out_of_window: u64,
    /// ACKs not sent in answer to pure ACKs outside the window (rate limit against ACK
    /// loops, RFC 5961 §10; `tcp::conn::OOW_ACK_INTERVAL`).
    pub oow_acks_suppressed: u64,
    /// Segments with an unacceptable ACK (RFC 5961 §5).
    pub bad_ack: u64,
    /// SYNs dropped because the half-open bound was reached.
    pub syn_flood_drops: u64,
    /// SYNs dropped because the connection table is full.
    pub table_full: u64,
    /// Out-of-order segments dropped because the reassembly queue was full.
    pub ooo_dropped: u64,
    /// Segments retransmitted.
    pub retransmits: u64,
    /// Retransmission-timer expiries.
    pub rto_expiries: u64,
    /// Fast retransmits (entries into loss recovery).
    pub fast_retransmits: u64,
    /// Tail loss probes sent (RFC 8985 §7.3).
    pub tlp_probes: u64,
    /// Segments RACK marked lost (RFC 8985 §6.2 step 5), retransmissions included.
    pub rack_lost: u64,
    /// Retransmissions RACK found lost again and resent (RFC 8985 §6.2, lost
    /// retransmission detection).
    pub lost_retransmits: u64,
    /// ICMP echo replies sent.
    pub icmp_echo_replies: u64,
    /// ICMP PMTU messages applied to a connection.
    pub icmp_pmtu: u64,
    /// ICMP messages ignored (malformed, unknown, not matching a connection).
    pub icmp_ignored: u64,
    /// Events dropped because the event queue was full.
    pub events_dropped: u64,
    /// Control packets (RST, ICMP replies) dropped because their queue was full.
    pub control_dropped: u64,
    /// SYN data discarded because the SYN carried ENO (RFC 8547 §4.7).
    pub eno_syn_data_discarded: u64,
}
