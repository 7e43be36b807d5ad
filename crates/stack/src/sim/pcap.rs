//! Classic libpcap file writer (microsecond timestamps, `LINKTYPE_RAW` = 101: each
//! record is a bare IPv4 or IPv6 packet), for looking at a simulation in Wireshark.

use std::io::{self, Write};

use smoltcp::time::Instant;

/// `LINKTYPE_RAW`: raw IPv4/IPv6, version taken from the first nibble.
pub const LINKTYPE_RAW: u32 = 101;
/// Magic of a microsecond-resolution pcap file, written in native byte order.
pub const PCAP_MAGIC: u32 = 0xa1b2_c3d4;
/// Largest packet we keep whole.
pub const SNAPLEN: u32 = 65_535;

/// Writes packets to a pcap stream.
pub struct PcapWriter<W: Write> {
    out: W,
}

impl<W: Write> std::fmt::Debug for PcapWriter<W> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PcapWriter").finish_non_exhaustive()
    }
}

impl<W: Write> PcapWriter<W> {
    /// Writes the global header and returns the writer.
    pub fn new(mut out: W) -> io::Result<Self> {
        let mut h = Vec::with_capacity(24);
        h.extend_from_slice(&PCAP_MAGIC.to_le_bytes());
        h.extend_from_slice(&2u16.to_le_bytes()); // version major
        h.extend_from_slice(&4u16.to_le_bytes()); // version minor
        h.extend_from_slice(&0i32.to_le_bytes()); // thiszone
        h.extend_from_slice(&0u32.to_le_bytes()); // sigfigs
        h.extend_from_slice(&SNAPLEN.to_le_bytes());
        h.extend_from_slice(&LINKTYPE_RAW.to_le_bytes());
        out.write_all(&h)?;
        Ok(Self { out })
    }

    /// Appends one packet captured at `now` (negative times are clamped to 0).
    pub fn write_packet(&mut self, now: Instant, packet: &[u8]) -> io::Result<()> {
        let micros = u64::try_from(now.total_micros()).unwrap_or(0);
        let secs = u32::try_from(micros / 1_000_000).unwrap_or(u32::MAX);
        let usecs = (micros % 1_000_000) as u32;
        let orig = u32::try_from(packet.len()).unwrap_or(u32::MAX);
        let incl = orig.min(SNAPLEN);
        let mut h = Vec::with_capacity(16);
        h.extend_from_slice(&secs.to_le_bytes());
        h.extend_from_slice(&usecs.to_le_bytes());
        h.extend_from_slice(&incl.to_le_bytes());
        h.extend_from_slice(&orig.to_le_bytes());
        self.out.write_all(&h)?;
        self.out
            .write_all(packet.get(..incl as usize).unwrap_or(packet))
    }

    /// Flushes the underlying stream.
    pub fn flush(&mut self) -> io::Result<()> {
        self.out.flush()
    }

    /// Returns the underlying stream.
    pub fn into_inner(self) -> W {
        self.out
    }
}
