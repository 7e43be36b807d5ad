//! SACK sender scoreboard (RFC 2018 §5, RFC 6675 §3–4): which bytes above `SND.UNA` the
//! peer has selectively acknowledged, bounded in the number of ranges.

use smoltcp::wire::TcpSeqNumber;

use super::seq;

/// Maximum ranges remembered; older information beyond it is dropped (harmless: the
/// data is then simply retransmitted).
pub const MAX_RANGES: usize = 32;

/// Selectively acknowledged ranges, sorted, disjoint, all above `SND.UNA`.
#[derive(Debug, Clone, Default)]
pub struct Scoreboard {
    ranges: Vec<(TcpSeqNumber, TcpSeqNumber)>,
}

impl Scoreboard {
    /// Forget everything.
    pub fn clear(&mut self) {
        self.ranges.clear();
    }

    /// Whether nothing is recorded.
    pub fn is_empty(&self) -> bool {
        self.ranges.is_empty()
    }

    /// Record a SACK block `[l, r)`, valid only inside `(una, snd_max]` (RFC 2018 §5 and
    /// RFC 5961 spirit: blocks outside what we sent are ignored). Returns true if new
    /// bytes were marked.
    pub fn add(
        &mut self,
        una: TcpSeqNumber,
        snd_max: TcpSeqNumber,
        l: TcpSeqNumber,
        r: TcpSeqNumber,
    ) -> bool {
        if !seq::lt(l, r) || seq::le(r, una) || seq::gt(r, snd_max) {
            return false;
        }
        let l = seq::max(l, una);
        let before = self.sacked_bytes();
        let mut nl = l;
        let mut nr = r;
        self.ranges.retain(|&(a, b)| {
            if seq::le(a, nr) && seq::ge(b, nl) {
                nl = seq::min(nl, a);
                nr = seq::max(nr, b);
                false
            } else {
                true
            }
        });
        let pos = self
            .ranges
            .iter()
            .position(|&(a, _)| seq::gt(a, nl))
            .unwrap_or(self.ranges.len());
        self.ranges.insert(pos, (nl, nr));
        if self.ranges.len() > MAX_RANGES {
            self.ranges.pop();
        }
        self.sacked_bytes() > before
    }

    /// `SND.UNA` advanced: drop what it covers.
    pub fn advance(&mut self, una: TcpSeqNumber) {
        self.ranges.retain_mut(|r| {
            if seq::le(r.1, una) {
                return false;
            }
            r.0 = seq::max(r.0, una);
            true
        });
    }

    /// Total selectively acknowledged bytes.
    pub fn sacked_bytes(&self) -> u32 {
        self.ranges.iter().map(|&(a, b)| seq::dist(b, a)).sum()
    }

    /// The highest acknowledged sequence (`HighACK`-side bound of holes), if any.
    pub fn high(&self) -> Option<TcpSeqNumber> {
        self.ranges.last().map(|r| r.1)
    }

    /// If `s` lies inside a SACKed range, the range's end.
    pub fn covering_end(&self, s: TcpSeqNumber) -> Option<TcpSeqNumber> {
        self.ranges
            .iter()
            .find(|&&(a, b)| seq::le(a, s) && seq::lt(s, b))
            .map(|r| r.1)
    }

    /// The first hole `[from, end)` at or after `from` and below the highest SACKed byte.
    pub fn next_hole(&self, from: TcpSeqNumber) -> Option<(TcpSeqNumber, TcpSeqNumber)> {
        let mut cur = from;
        for &(a, b) in &self.ranges {
            if seq::le(b, cur) {
                continue;
            }
            if seq::lt(cur, a) {
                return Some((cur, a));
            }
            cur = b;
        }
        None
    }

    /// Unsacked bytes in `[from, to)`.
    pub fn unsacked_between(&self, from: TcpSeqNumber, to: TcpSeqNumber) -> u32 {
        if !seq::lt(from, to) {
            return 0;
        }
        let mut n = seq::dist(to, from);
        for &(a, b) in &self.ranges {
            let l = seq::max(a, from);
            let r = seq::min(b, to);
            n = n.saturating_sub(seq::dist(r, l));
        }
        n
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(v: i32) -> TcpSeqNumber {
        TcpSeqNumber(v)
    }

    #[test]
    fn merge_and_holes() {
        let mut b = Scoreboard::default();
        assert!(b.add(s(0), s(100), s(20), s(30)));
        assert!(b.add(s(0), s(100), s(50), s(60)));
        assert!(b.add(s(0), s(100), s(30), s(40)));
        assert!(!b.add(s(0), s(100), s(20), s(40)));
        assert!(
            !b.add(s(0), s(100), s(90), s(110)),
            "beyond SND.MAX is ignored"
        );
        assert_eq!(b.sacked_bytes(), 30);
        assert_eq!(b.next_hole(s(0)), Some((s(0), s(20))));
        assert_eq!(b.next_hole(s(20)), Some((s(40), s(50))));
        assert_eq!(b.next_hole(s(55)), None);
        assert_eq!(b.covering_end(s(25)), Some(s(40)));
        assert_eq!(b.unsacked_between(s(0), s(60)), 30);
        b.advance(s(35));
        assert_eq!(b.sacked_bytes(), 15);
        assert_eq!(b.high(), Some(s(60)));
    }
}
