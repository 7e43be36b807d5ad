//! Out-of-order segment bookkeeping (RFC 9293 §3.10.7.4 "segment text", RFC 2018 §4 for the
//! blocks it reports). The bytes themselves live in the receive ring at their sequence
//! offset above `RCV.NXT` (see `ring.rs`); this queue only records which sequence ranges
//! are stored. Bounded: at most `max_chunks` disjoint ranges, and every byte lies inside
//! the receive window, so memory never exceeds the receive buffer.

use smoltcp::wire::TcpSeqNumber;

use super::seq;

/// Why a segment was not stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refused {
    /// The range limit is reached (RFC 2018 §8 "reneging" is the peer's problem).
    TooManyChunks,
}

/// Out-of-order ranges above `RCV.NXT`: sorted, disjoint and not adjacent (touching ranges
/// are merged).
#[derive(Debug, Clone, Default)]
pub struct Reassembly {
    ranges: Vec<(TcpSeqNumber, TcpSeqNumber)>,
    max_chunks: usize,
    bytes: usize,
    /// Start of the most recently stored piece (RFC 2018 §4: first SACK block).
    last: Option<TcpSeqNumber>,
}

impl Reassembly {
    /// An empty queue holding at most `max_chunks` disjoint ranges.
    pub fn new(max_chunks: usize) -> Self {
        Reassembly {
            ranges: Vec::new(),
            max_chunks,
            bytes: 0,
            last: None,
        }
    }

    /// Whether nothing is queued.
    pub fn is_empty(&self) -> bool {
        self.ranges.is_empty()
    }

    /// Bytes stored.
    pub fn bytes(&self) -> usize {
        self.bytes
    }

    /// Record `len` bytes at `start`. `store(seq, offset, n)` is called for each piece
    /// `[seq, seq + n)` not stored yet (its bytes are `offset..offset + n` of the segment
    /// text): bytes already stored are kept, as before. The caller has already trimmed the
    /// segment to the window and to `start > RCV.NXT`. Nothing is stored when refused.
    pub fn insert(
        &mut self,
        start: TcpSeqNumber,
        len: usize,
        mut store: impl FnMut(TcpSeqNumber, usize, usize),
    ) -> Result<(), Refused> {
        if len == 0 {
            return Ok(());
        }
        let end = seq::add(start, seq::len32(len));
        // Ranges [i0, i1) overlap or touch [start, end) and merge with it.
        let i0 = self
            .ranges
            .iter()
            .position(|r| seq::ge(r.1, start))
            .unwrap_or(self.ranges.len());
        let i1 = self
            .ranges
            .iter()
            .skip(i0)
            .position(|r| seq::gt(r.0, end))
            .map_or(self.ranges.len(), |k| i0 + k);
        let merged = i1 - i0;
        if self.ranges.len() + 1 - merged > self.max_chunks {
            return Err(Refused::TooManyChunks);
        }
        let mut cur = start;
        let mut lo = start;
        let mut hi = end;
        for r in self.ranges.get(i0..i1).unwrap_or(&[]) {
            if seq::lt(cur, r.0) {
                let n = seq::dist(r.0, cur) as usize;
                store(cur, seq::dist(cur, start) as usize, n);
                self.bytes += n;
            }
            cur = seq::max(cur, r.1);
            lo = seq::min(lo, r.0);
            hi = seq::max(hi, r.1);
        }
        if seq::lt(cur, end) {
            let n = seq::dist(end, cur) as usize;
            store(cur, seq::dist(cur, start) as usize, n);
            self.bytes += n;
        }
        self.ranges.splice(i0..i1, [(lo, hi)]);
        self.last = Some(start);
        Ok(())
    }

    /// Forget every range that is now in order at `rcv_nxt` (its bytes are already in
    /// place behind the in-order data); returns the new `RCV.NXT`.
    pub fn take_in_order(&mut self, mut rcv_nxt: TcpSeqNumber) -> TcpSeqNumber {
        let mut k = 0;
        for r in &self.ranges {
            if seq::gt(r.0, rcv_nxt) {
                break;
            }
            self.bytes = self.bytes.saturating_sub(seq::dist(r.1, r.0) as usize);
            rcv_nxt = seq::max(rcv_nxt, r.1);
            k += 1;
        }
        self.ranges.drain(..k);
        if self.ranges.is_empty() {
            self.last = None;
            self.bytes = 0;
        }
        rcv_nxt
    }

    /// Contiguous ranges, most recently updated first, at most `max` (RFC 2018 §4).
    pub fn sack_blocks(&self, max: usize) -> Vec<(TcpSeqNumber, TcpSeqNumber)> {
        let mut ranges = self.ranges.clone();
        if let Some(last) = self.last {
            if let Some(i) = ranges
                .iter()
                .position(|r| seq::le(r.0, last) && seq::lt(last, r.1))
            {
                let r = ranges.remove(i);
                ranges.insert(0, r);
            }
        }
        ranges.truncate(max);
        ranges
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn s(v: i32) -> TcpSeqNumber {
        TcpSeqNumber(v)
    }

    /// Insert `data` at `start` into `r`, writing new pieces into a flat model of the
    /// receive buffer indexed by sequence number.
    fn put(r: &mut Reassembly, buf: &mut [u8; 64], start: i32, data: &[u8]) -> Result<(), Refused> {
        r.insert(s(start), data.len(), |sq, off, n| {
            let at = sq.0 as usize;
            buf[at..at + n].copy_from_slice(&data[off..off + n]);
        })
    }

    #[test]
    fn overlapping_inserts_reassemble() {
        let mut r = Reassembly::new(8);
        let mut buf = [0u8; 64];
        put(&mut r, &mut buf, 10, b"klmno").unwrap();
        put(&mut r, &mut buf, 5, b"FGHIJKLM").unwrap();
        put(&mut r, &mut buf, 20, b"uv").unwrap();
        assert_eq!(r.bytes(), 12);
        assert_eq!(r.sack_blocks(4), vec![(s(20), s(22)), (s(5), s(15))]);
        // Bytes already stored are kept; only the gap 5..10 came from the second segment.
        assert_eq!(&buf[5..15], b"FGHIJklmno");
        assert_eq!(r.take_in_order(s(0)), s(0));
        assert_eq!(r.take_in_order(s(7)), s(15));
        assert_eq!(r.bytes(), 2);
        assert_eq!(r.sack_blocks(4), vec![(s(20), s(22))]);
        assert_eq!(r.take_in_order(s(22)), s(22));
        assert!(r.is_empty());
        assert_eq!(r.bytes(), 0);
    }

    #[test]
    fn bounded() {
        let mut r = Reassembly::new(2);
        let mut buf = [0u8; 64];
        put(&mut r, &mut buf, 10, b"a").unwrap();
        put(&mut r, &mut buf, 20, b"b").unwrap();
        assert_eq!(put(&mut r, &mut buf, 30, b"c"), Err(Refused::TooManyChunks));
        // A duplicate needs no new range; nor does a piece extending a range.
        put(&mut r, &mut buf, 10, b"a").unwrap();
        put(&mut r, &mut buf, 11, b"x").unwrap();
        assert_eq!(r.sack_blocks(4), vec![(s(10), s(12)), (s(20), s(21))]);
        // Filling the gap merges two ranges into one.
        put(&mut r, &mut buf, 12, b"cdefghij").unwrap();
        assert_eq!(r.sack_blocks(4), vec![(s(10), s(21))]);
        assert_eq!(&buf[10..21], b"axcdefghijb");
    }

    #[test]
    fn wraps_around_zero() {
        let mut r = Reassembly::new(4);
        r.insert(s(-2), 2, |_, _, _| {}).unwrap();
        r.insert(s(0), 2, |_, _, _| {}).unwrap();
        assert_eq!(r.sack_blocks(4), vec![(s(-2), s(2))]);
        assert_eq!(r.take_in_order(s(-2)), s(2));
    }
}
