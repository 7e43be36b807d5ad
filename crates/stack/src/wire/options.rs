//! TCP options (RFC 9293 §3.1, RFC 7323 §2–3, RFC 2018 §2–3, RFC 8547 §4.1): the only
//! options parser and emitter of the engine.
//!
//! Parsing sits on `smoltcp::wire::TcpOption::parse`; unknown kinds arrive as
//! `Unknown { kind, data }`, which is how the ENO option (kind 69) is reached. A malformed
//! option stops the walk (the segment is still processed, as Linux does) and is reported in
//! [`ParsedOptions::malformed`]. Emission owns the 40-byte option budget: when the options
//! do not fit, timestamps are dropped first, then SACK blocks, then SACK-permitted, and
//! only then ENO.

use smoltcp::wire::{TcpOption, TcpSeqNumber};

/// TCP option kind of TCP-ENO (RFC 8547 §4.1).
pub const KIND_ENO: u8 = 69;
/// Maximum bytes of TCP options in one header (RFC 9293 §3.1: data offset ≤ 15 words).
pub const MAX_OPTIONS_LEN: usize = 40;
/// Maximum SACK blocks we keep from one segment (smoltcp parses at most 3).
pub const MAX_SACK_BLOCKS: usize = 3;

/// Where the ENO option stands in one segment (RFC 8547 §4.1: at most one per segment).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum EnoSlot<'a> {
    /// No ENO option.
    #[default]
    None,
    /// Exactly one ENO option: the whole option, kind and length bytes included.
    One(&'a [u8]),
    /// More than one ENO option (ill-formed per RFC 8547 §4.1).
    Many,
}

/// The options of one received segment.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ParsedOptions<'a> {
    /// Maximum segment size (RFC 9293 §3.7.1).
    pub mss: Option<u16>,
    /// Window scale shift (RFC 7323 §2.2), as sent (not yet clamped to 14).
    pub window_scale: Option<u8>,
    /// SACK-permitted (RFC 2018 §2).
    pub sack_permitted: bool,
    /// SACK blocks (RFC 2018 §3), left and right edge.
    pub sack_blocks: [Option<(TcpSeqNumber, TcpSeqNumber)>; MAX_SACK_BLOCKS],
    /// Timestamps `(TSval, TSecr)` (RFC 7323 §3.2).
    pub timestamp: Option<(u32, u32)>,
    /// The ENO option slot.
    pub eno: EnoSlot<'a>,
    /// True if the option walk stopped at an ill-formed option.
    pub malformed: bool,
}

impl<'a> ParsedOptions<'a> {
    /// Walk the option bytes of a TCP header.
    pub fn parse(mut bytes: &'a [u8]) -> ParsedOptions<'a> {
        let mut out = ParsedOptions::default();
        while !bytes.is_empty() {
            let whole = bytes;
            let (rest, opt) = match TcpOption::parse(bytes) {
                Ok(v) => v,
                Err(_) => {
                    out.malformed = true;
                    break;
                }
            };
            match opt {
                TcpOption::EndOfList => break,
                TcpOption::NoOperation => {}
                TcpOption::MaxSegmentSize(v) => out.mss = Some(v),
                TcpOption::WindowScale(v) => out.window_scale = Some(v),
                TcpOption::SackPermitted => out.sack_permitted = true,
                TcpOption::SackRange(r) => {
                    for (slot, range) in out.sack_blocks.iter_mut().zip(r.iter()) {
                        *slot = range.map(|(l, r)| (seq_from_u32(l), seq_from_u32(r)));
                    }
                }
                TcpOption::TimeStamp { tsval, tsecr } => out.timestamp = Some((tsval, tsecr)),
                TcpOption::Unknown { kind, data } => {
                    if kind == KIND_ENO {
                        let opt = whole.get(..data.len() + 2).unwrap_or(whole);
                        out.eno = match out.eno {
                            EnoSlot::None => EnoSlot::One(opt),
                            _ => EnoSlot::Many,
                        };
                    }
                }
            }
            bytes = rest;
        }
        out
    }

    /// The SACK blocks present, in order.
    pub fn sack_iter(&self) -> impl Iterator<Item = (TcpSeqNumber, TcpSeqNumber)> + '_ {
        self.sack_blocks.iter().flatten().copied()
    }
}

/// Convert a wire `u32` into a sequence number (bit-for-bit).
pub(crate) fn seq_from_u32(v: u32) -> TcpSeqNumber {
    TcpSeqNumber(i32::from_ne_bytes(v.to_ne_bytes()))
}

/// Convert a sequence number into its wire `u32` (bit-for-bit).
pub(crate) fn seq_to_u32(s: TcpSeqNumber) -> u32 {
    u32::from_ne_bytes(s.0.to_ne_bytes())
}

/// The options to put in one outgoing segment.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct OutOptions<'a> {
    /// MSS (SYN only).
    pub mss: Option<u16>,
    /// Window scale shift (SYN only).
    pub window_scale: Option<u8>,
    /// SACK-permitted (SYN only).
    pub sack_permitted: bool,
    /// Timestamps `(TSval, TSecr)`.
    pub timestamp: Option<(u32, u32)>,
    /// SACK blocks, most recent first.
    pub sack_blocks: &'a [(TcpSeqNumber, TcpSeqNumber)],
    /// The whole ENO option (kind 69, length, contents), emitted verbatim.
    pub eno: Option<&'a [u8]>,
}

/// What [`OutOptions::fit`] dropped to respect the 40-byte budget.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Dropped {
    /// Timestamps were dropped.
    pub timestamp: bool,
    /// Number of SACK blocks dropped.
    pub sack_blocks: usize,
    /// SACK-permitted was dropped.
    pub sack_permitted: bool,
    /// ENO was dropped.
    pub eno: bool,
}

impl<'a> OutOptions<'a> {
    fn raw_len(&self) -> usize {
        let mut n = 0;
        if self.mss.is_some() {
            n += 4;
        }
        if self.window_scale.is_some() {
            n += 3;
        }
        if self.sack_permitted {
            n += 2;
        }
        if self.timestamp.is_some() {
            n += 10;
        }
        let blocks = self.sack_blocks.len().min(4);
        if blocks > 0 {
            n += 2 + 8 * blocks;
        }
        if let Some(e) = self.eno {
            n += e.len();
        }
        n
    }

    /// Options length once padded to a multiple of 4 bytes.
    pub fn buffer_len(&self) -> usize {
        self.raw_len().div_ceil(4) * 4
    }

    /// Shrink to the 40-byte budget: timestamps go first, then SACK blocks, then
    /// SACK-permitted, then ENO. MSS and window scale always fit after that.
    pub fn fit(&mut self) -> Dropped {
        let mut d = Dropped::default();
        if self.sack_blocks.len() > 4 {
            d.sack_blocks += self.sack_blocks.len() - 4;
            self.sack_blocks = self.sack_blocks.get(..4).unwrap_or(&[]);
        }
        if self.buffer_len() > MAX_OPTIONS_LEN && self.timestamp.is_some() {
            self.timestamp = None;
            d.timestamp = true;
        }
        while self.buffer_len() > MAX_OPTIONS_LEN && !self.sack_blocks.is_empty() {
            let n = self.sack_blocks.len() - 1;
            self.sack_blocks = self.sack_blocks.get(..n).unwrap_or(&[]);
            d.sack_blocks += 1;
        }
        if self.buffer_len() > MAX_OPTIONS_LEN && self.sack_permitted {
            self.sack_permitted = false;
            d.sack_permitted = true;
        }
        if self.buffer_len() > MAX_OPTIONS_LEN && self.eno.is_some() {
            self.eno = None;
            d.eno = true;
        }
        d
    }

    /// Emit into `buf` (which must be at least [`buffer_len`](Self::buffer_len) long after
    /// [`fit`](Self::fit)); returns the bytes written (a multiple of 4), or `None` if the
    /// options do not fit `buf`.
    pub fn emit(&self, buf: &mut [u8]) -> Option<usize> {
        let total = self.buffer_len();
        let out = buf.get_mut(..total)?;
        let mut rest: &mut [u8] = out;
        if let Some(m) = self.mss {
            rest = TcpOption::MaxSegmentSize(m).emit(rest);
        }
        if let Some(w) = self.window_scale {
            rest = TcpOption::WindowScale(w).emit(rest);
        }
        if self.sack_permitted {
            rest = TcpOption::SackPermitted.emit(rest);
        }
        if let Some((tsval, tsecr)) = self.timestamp {
            rest = TcpOption::TimeStamp { tsval, tsecr }.emit(rest);
        }
        if let Some(e) = self.eno {
            let (head, tail) = rest.split_at_mut_checked(e.len())?;
            head.copy_from_slice(e);
            rest = tail;
        }
        if !self.sack_blocks.is_empty() {
            let blocks = self.sack_blocks.get(..self.sack_blocks.len().min(4))?;
            let len = 2 + 8 * blocks.len();
            let (head, tail) = rest.split_at_mut_checked(len)?;
            head[0] = 5;
            head[1] = u8::try_from(len).ok()?;
            for (chunk, (l, r)) in head[2..].chunks_exact_mut(8).zip(blocks.iter()) {
                chunk[..4].copy_from_slice(&seq_to_u32(*l).to_be_bytes());
                chunk[4..].copy_from_slice(&seq_to_u32(*r).to_be_bytes());
            }
            rest = tail;
        }
        if !rest.is_empty() {
            TcpOption::EndOfList.emit(rest);
        }
        Some(total)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn s(v: u32) -> TcpSeqNumber {
        seq_from_u32(v)
    }

    #[test]
    fn syn_options_round_trip() {
        let eno = [69u8, 4, 0x21, 0x22];
        let mut o = OutOptions {
            mss: Some(1460),
            window_scale: Some(7),
            sack_permitted: true,
            timestamp: Some((1, 0)),
            eno: Some(&eno),
            ..Default::default()
        };
        assert_eq!(o.fit(), Dropped::default());
        let mut buf = [0u8; 40];
        let n = o.emit(&mut buf).unwrap();
        assert_eq!(n, 24);
        assert_eq!(
            &buf[..n],
            &[
                2, 4, 0x05, 0xb4, 3, 3, 7, 4, 2, 8, 10, 0, 0, 0, 1, 0, 0, 0, 0, 69, 4, 0x21, 0x22,
                0
            ]
        );
        let p = ParsedOptions::parse(&buf[..n]);
        assert_eq!(p.mss, Some(1460));
        assert_eq!(p.window_scale, Some(7));
        assert!(p.sack_permitted);
        assert_eq!(p.timestamp, Some((1, 0)));
        assert_eq!(p.eno, EnoSlot::One(&[69, 4, 0x21, 0x22]));
        assert!(!p.malformed);
    }

    #[test]
    fn timestamps_dropped_before_eno() {
        // 4 + 3 + 2 + 10 + 22 = 41 bytes: one too many.
        let mut eno = [0u8; 22];
        eno[0] = 69;
        eno[1] = 22;
        let mut o = OutOptions {
            mss: Some(1460),
            window_scale: Some(7),
            sack_permitted: true,
            timestamp: Some((1, 0)),
            eno: Some(&eno),
            ..Default::default()
        };
        let d = o.fit();
        assert!(d.timestamp);
        assert!(!d.eno);
        assert!(o.eno.is_some());
        assert!(o.buffer_len() <= 40);
        let mut buf = [0u8; 40];
        let n = o.emit(&mut buf).unwrap();
        let p = ParsedOptions::parse(&buf[..n]);
        assert_eq!(p.timestamp, None);
        assert_eq!(p.eno, EnoSlot::One(&eno[..]));
    }

    #[test]
    fn eno_dropped_last() {
        let mut eno = [0u8; 38];
        eno[0] = 69;
        eno[1] = 38;
        let mut o = OutOptions {
            mss: Some(1460),
            window_scale: Some(7),
            sack_permitted: true,
            timestamp: Some((1, 0)),
            eno: Some(&eno),
            ..Default::default()
        };
        let d = o.fit();
        assert!(d.timestamp && d.sack_permitted && d.eno);
        assert!(o.buffer_len() <= 40);
    }

    #[test]
    fn two_eno_options_are_many() {
        let bytes = [69u8, 2, 69, 3, 0x21, 0];
        let p = ParsedOptions::parse(&bytes);
        assert_eq!(p.eno, EnoSlot::Many);
    }

    #[test]
    fn sack_blocks_parse_and_budget() {
        let blocks = [
            (s(10), s(20)),
            (s(30), s(40)),
            (s(50), s(60)),
            (s(70), s(80)),
        ];
        let mut o = OutOptions {
            timestamp: Some((5, 6)),
            sack_blocks: &blocks,
            eno: Some(&[69, 2]),
            ..Default::default()
        };
        let d = o.fit();
        assert!(d.timestamp);
        let mut buf = [0u8; 40];
        let n = o.emit(&mut buf).unwrap();
        let p = ParsedOptions::parse(&buf[..n]);
        let got: Vec<_> = p.sack_iter().collect();
        assert_eq!(got, blocks[..3].to_vec());
        assert_eq!(p.eno, EnoSlot::One(&[69, 2]));
    }

    #[test]
    fn malformed_stops_walk() {
        let p = ParsedOptions::parse(&[2, 4, 0x05, 0xb4, 8, 40, 1]);
        assert_eq!(p.mss, Some(1460));
        assert!(p.malformed);
        let p = ParsedOptions::parse(&[2, 0]);
        assert!(p.malformed);
        let p = ParsedOptions::parse(&[2, 1, 2, 3]);
        assert!(p.malformed);
    }
}
