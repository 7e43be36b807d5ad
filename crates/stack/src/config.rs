//! Configuration of a [`Stack`](crate::Stack) and of its connections.

use smoltcp::time::Duration;
use smoltcp::wire::IpAddress;

use crate::tcp::cc::CongestionConfig;
use crate::tcp::rto::RttConfig;

/// Per-connection TCP options (RFC 9293 §3.9.1 "user interface" knobs).
#[derive(Debug, Clone)]
pub struct ConnConfig {
    /// Receive buffer bytes (upper bound of the advertised window).
    pub recv_buffer: usize,
    /// Send buffer bytes.
    pub send_buffer: usize,
    /// Nagle's algorithm (RFC 9293 §3.7.4); `false` is `TCP_NODELAY`.
    pub nagle: bool,
    /// Delayed ACK timeout (RFC 9293 §3.8.6.3: at most 500 ms); `None` acks every segment.
    pub delayed_ack: Option<Duration>,
    /// Keep-alive (RFC 1122 §4.2.3.6); `None` disables it.
    pub keepalive: Option<KeepAlive>,
    /// Offer window scaling (RFC 7323 §2).
    pub window_scaling: bool,
    /// Offer SACK (RFC 2018).
    pub sack: bool,
    /// Offer timestamps (RFC 7323 §3).
    pub timestamps: bool,
    /// RACK-TLP loss detection (RFC 8985) when SACK is negotiated; `false` leaves loss
    /// detection to duplicate ACKs / SACK counts (RFC 5681, RFC 6675) and the RTO.
    pub rack_tlp: bool,
    /// RTO estimator tunables (RFC 6298).
    pub rtt: RttConfig,
    /// Congestion control.
    pub congestion: CongestionConfig,
    /// Retransmissions of one segment before the connection times out (RFC 9293 R2).
    pub max_retransmits: u32,
    /// Retransmissions of a SYN before the open fails.
    pub max_syn_retransmits: u32,
    /// FIN-WAIT-2 lingering after our side closed and the peer went quiet.
    pub fin_wait2_timeout: Duration,
    /// How long a held SYN waits for `accept`/`refuse` before it is dropped (reported as
    /// [`Event::Timeout`](crate::Event::Timeout)).
    pub syn_hold_timeout: Duration,
    /// Maximum out-of-order pieces kept (RFC 9293 §3.10.7.4), bounding reassembly work.
    pub max_ooo_chunks: usize,
    /// TCP-ENO (RFC 8547) configuration; `None` sends no ENO option.
    pub eno: Option<eno::Config>,
    /// ENO selector/validator callbacks (resumption), used when `eno` is set.
    pub eno_hooks: crate::eno_hook::EnoHooks,
    /// Path MTU for this connection's packets; `None` uses [`StackConfig::mtu`].
    pub mtu: Option<usize>,
}

impl Default for ConnConfig {
    fn default() -> Self {
        ConnConfig {
            recv_buffer: 256 * 1024,
            send_buffer: 256 * 1024,
            nagle: true,
            delayed_ack: Some(Duration::from_millis(40)),
            keepalive: None,
            window_scaling: true,
            sack: true,
            timestamps: true,
            rack_tlp: true,
            rtt: RttConfig::default(),
            congestion: CongestionConfig::default(),
            max_retransmits: 15,
            max_syn_retransmits: 6,
            fin_wait2_timeout: Duration::from_secs(60),
            syn_hold_timeout: Duration::from_secs(30),
            max_ooo_chunks: 256,
            eno: None,
            eno_hooks: crate::eno_hook::EnoHooks::default(),
            mtu: None,
        }
    }
}

/// Keep-alive timing (RFC 1122 §4.2.3.6).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KeepAlive {
    /// Idle time before the first probe (RFC 1122: no less than two hours by default).
    pub idle: Duration,
    /// Time between unanswered probes.
    pub interval: Duration,
    /// Unanswered probes before the connection is dropped.
    pub count: u32,
}

/// Configuration of a [`Stack`](crate::Stack).
#[derive(Debug, Clone)]
pub struct StackConfig {
    /// Addresses the stack owns: it answers ICMP echo for them and sends RST for
    /// segments to them that match no connection or listener.
    pub local_addrs: Vec<IpAddress>,
    /// Link MTU (bytes of IP packet).
    pub mtu: usize,
    /// Seed for the ISN and timestamp-offset generator (`ChaCha8Rng`).
    pub rng_seed: [u8; 32],
    /// Default per-connection options.
    pub conn: ConnConfig,
    /// TIME-WAIT duration (2*MSL, RFC 9293 §3.4.2).
    pub time_wait: Duration,
    /// Bound on connections (all states).
    pub max_connections: usize,
    /// Bound on half-open (SYN-RECEIVED) connections (SYN flood, RFC 4987 §3.1).
    pub max_half_open: usize,
    /// Bound on queued application events.
    pub max_events: usize,
    /// Bound on queued control packets (RSTs, ICMP replies).
    pub max_control_packets: usize,
    /// Challenge ACKs allowed per second across the stack (RFC 5961 §7).
    pub challenge_ack_limit: u32,
    /// TCP checksum offload to the link; off by default.
    pub checksum_offload: ChecksumOffload,
    /// Local ports [`Stack::connect`](crate::Stack::connect) picks from when given port 0
    /// (default the IANA dynamic range 49152–65535, RFC 6335 §6).
    pub ephemeral_ports: std::ops::RangeInclusive<u16>,
}

/// TCP checksum offload, for links that carry a virtio-net header (TUN with
/// `IFF_VNET_HDR`). Both default to off: the engine computes and verifies every checksum.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ChecksumOffload {
    /// Received TCP segments are not checksum-verified: the link vouches for every packet
    /// it hands to [`Stack::handle`](crate::Stack::handle) (`VIRTIO_NET_HDR_F_DATA_VALID`).
    /// A driver that gets a packet without that guarantee must check it itself first
    /// ([`crate::wire::checksum::verify_tcp`]).
    pub rx_trusted: bool,
    /// Sent TCP segments carry only the pseudo-header sum in the checksum field, and the
    /// link completes it (`VIRTIO_NET_HDR_F_NEEDS_CSUM` with `csum_start` = IP header
    /// length, `csum_offset` = 16). ICMP and IP header checksums are always computed.
    pub tx_partial: bool,
}

impl StackConfig {
    /// A configuration with defaults for the given addresses and seed.
    pub fn new(local_addrs: Vec<IpAddress>, rng_seed: [u8; 32]) -> Self {
        StackConfig {
            local_addrs,
            mtu: 1500,
            rng_seed,
            conn: ConnConfig::default(),
            time_wait: Duration::from_secs(60),
            max_connections: 65_536,
            max_half_open: 1024,
            max_events: 65_536,
            max_control_packets: 1024,
            challenge_ack_limit: 1000,
            checksum_offload: ChecksumOffload::default(),
            ephemeral_ports: 49152..=65535,
        }
    }
}
