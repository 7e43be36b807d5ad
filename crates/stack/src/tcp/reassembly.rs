//! Out-of-order segment queue (RFC 9293 §3.10.7.4 "segment text", RFC 2018 §4 for the
//! blocks it reports). Bounded: at most `max_chunks` stored pieces, and every byte lies
//! inside the receive window, so memory never exceeds the receive buffer.

use smoltcp::wire::TcpSeqNumber;

use super::seq;

/// One stored piece, `[start, start + data.len())`.
#[derive(Debug, Clone)]
struct Chunk {
    start: TcpSeqNumber,
    data: Vec<u8>,
}

impl Chunk {
    fn end(&self) -> TcpSeqNumber {
        seq::add(self.start, seq::len32(self.data.len()))
    }
}

/// Why a segment was not stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refused {
    /// The piece limit is reached (RFC 2018 §8 "reneging" is the peer's problem).
    TooManyChunks,
}

/// Out-of-order data above `RCV.NXT`, non-overlapping and sorted.
#[derive(Debug, Clone, Default)]
pub struct Reassembly {
    chunks: Vec<Chunk>,
    max_chunks: usize,
    bytes: usize,
    /// Start of the most recently stored piece (RFC 2018 §4: first SACK block).
    last: Option<TcpSeqNumber>,
}

impl Reassembly {
    /// An empty queue holding at most `max_chunks` pieces.
    pub fn new(max_chunks: usize) -> Self {
        Reassembly {
            chunks: Vec::new(),
            max_chunks,
            bytes: 0,
            last: None,
        }
    }

    /// Whether nothing is queued.
    pub fn is_empty(&self) -> bool {
        self.chunks.is_empty()
    }

    /// Bytes stored.
    pub fn bytes(&self) -> usize {
        self.bytes
    }

    /// Store `data` at `start`, keeping only the bytes not yet stored. The caller has
    /// already trimmed it to the window and to `start > RCV.NXT`.
    pub fn insert(&mut self, start: TcpSeqNumber, data: &[u8]) -> Result<(), Refused> {
        let mut pieces: Vec<(TcpSeqNumber, &[u8])> = Vec::new();
        let mut cur = start;
        let mut rest = data;
        let end = seq::add(start, seq::len32(data.len()));
        for c in &self.chunks {
            if rest.is_empty() {
                break;
            }
            if seq::le(c.end(), cur) {
                continue;
            }
            if seq::ge(c.start, end) {
                break;
            }
            if seq::lt(cur, c.start) {
                let n = seq::dist(c.start, cur) as usize;
                let (head, tail) = rest.split_at(n.min(rest.len()));
                pieces.push((cur, head));
                rest = tail;
                cur = c.start;
            }
            // Skip the overlap with c.
            let skip = (seq::dist(c.end(), cur) as usize).min(rest.len());
            rest = rest.get(skip..).unwrap_or(&[]);
            cur = seq::add(cur, seq::len32(skip));
        }
        if !rest.is_empty() {
            pieces.push((cur, rest));
        }
        if pieces.is_empty() {
            self.last = Some(start);
            return Ok(());
        }
        if self.chunks.len() + pieces.len() > self.max_chunks {
            return Err(Refused::TooManyChunks);
        }
        for (s, d) in pieces {
            let pos = self
                .chunks
                .iter()
                .position(|c| seq::gt(c.start, s))
                .unwrap_or(self.chunks.len());
            self.bytes += d.len();
            self.chunks.insert(
                pos,
                Chunk {
                    start: s,
                    data: d.to_vec(),
                },
            );
        }
        self.last = Some(start);
        Ok(())
    }

    /// Remove and hand over every byte that is now in order at `rcv_nxt`; returns the new
    /// `RCV.NXT`.
    pub fn drain_in_order(
        &mut self,
        mut rcv_nxt: TcpSeqNumber,
        mut sink: impl FnMut(&[u8]),
    ) -> TcpSeqNumber {
        while let Some(c) = self.chunks.first() {
            if seq::gt(c.start, rcv_nxt) {
                break;
            }
            let c = self.chunks.remove(0);
            self.bytes -= c.data.len();
            let skip = seq::dist(rcv_nxt, c.start) as usize;
            if let Some(tail) = c.data.get(skip..) {
                if !tail.is_empty() {
                    sink(tail);
                    rcv_nxt = seq::add(rcv_nxt, seq::len32(tail.len()));
                }
            }
        }
        if self.chunks.is_empty() {
            self.last = None;
        }
        rcv_nxt
    }

    /// Contiguous ranges, most recently updated first, at most `max` (RFC 2018 §4).
    pub fn sack_blocks(&self, max: usize) -> Vec<(TcpSeqNumber, TcpSeqNumber)> {
        let mut ranges: Vec<(TcpSeqNumber, TcpSeqNumber)> = Vec::new();
        for c in &self.chunks {
            match ranges.last_mut() {
                Some(r) if r.1 == c.start => r.1 = c.end(),
                _ => ranges.push((c.start, c.end())),
            }
        }
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

    #[test]
    fn overlapping_inserts_reassemble() {
        let mut r = Reassembly::new(8);
        r.insert(s(10), b"klmno").unwrap();
        r.insert(s(5), b"fghijklm").unwrap();
        r.insert(s(20), b"uv").unwrap();
        assert_eq!(r.bytes(), 12);
        assert_eq!(r.sack_blocks(4), vec![(s(20), s(22)), (s(5), s(15))]);
        let mut out = Vec::new();
        let nxt = r.drain_in_order(s(0), |d| out.extend_from_slice(d));
        assert_eq!(nxt, s(0));
        let nxt = r.drain_in_order(s(7), |d| out.extend_from_slice(d));
        assert_eq!(nxt, s(15));
        assert_eq!(out, b"hijklmno");
        assert_eq!(r.sack_blocks(4), vec![(s(20), s(22))]);
    }

    #[test]
    fn bounded() {
        let mut r = Reassembly::new(2);
        r.insert(s(10), b"a").unwrap();
        r.insert(s(20), b"b").unwrap();
        assert_eq!(r.insert(s(30), b"c"), Err(Refused::TooManyChunks));
        // A duplicate needs no new piece.
        r.insert(s(10), b"a").unwrap();
    }

    #[test]
    fn wraps_around_zero() {
        let mut r = Reassembly::new(4);
        r.insert(s(-2), b"ab").unwrap();
        r.insert(s(0), b"cd").unwrap();
        assert_eq!(r.sack_blocks(4), vec![(s(-2), s(2))]);
        let mut out = Vec::new();
        assert_eq!(r.drain_in_order(s(-2), |d| out.extend_from_slice(d)), s(2));
        assert_eq!(out, b"abcd");
    }
}
