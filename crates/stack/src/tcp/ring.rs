//! A byte ring buffer for the send and receive queues (RFC 9293 §3.3.1: the send buffer
//! holds unacknowledged and unsent data, the receive buffer in-order data not yet read and,
//! above it, out-of-order segment text placed at its sequence offset).
//!
//! Data moves with [`bytecopy::copy`] over at most two contiguous parts. The storage is
//! allocated on the first write, at the full capacity (so it never moves afterwards), and
//! handed back once nothing is stored ([`Ring::take_storage`]; the stack keeps a few such
//! buffers for reuse, so a busy connection does not fault fresh pages in on every refill):
//! an idle connection holds no buffer memory. The backing `Vec` grows its initialised length with the writes instead
//! of being zero-filled up front.
//!
//! For zero-copy relaying (`Stack::splice`) the first contiguous readable part and the
//! first contiguous free part can also be borrowed mutably and processed in place
//! ([`Ring::readable_first_mut`] + [`Ring::consume`], [`Ring::free_first_mut`] +
//! [`Ring::commit`]).

/// A bounded byte ring. Logical offset 0 is the oldest readable byte; `len` bytes are
/// readable; bytes above `len` (up to the capacity) may hold staged data that
/// [`Ring::commit`] makes readable.
#[derive(Debug, Clone, Default)]
pub struct Ring {
    buf: Vec<u8>,
    cap: usize,
    head: usize,
    len: usize,
}

impl Ring {
    /// An empty ring of `cap` bytes; nothing is allocated yet.
    pub fn new(cap: usize) -> Ring {
        Ring {
            buf: Vec::new(),
            cap,
            head: 0,
            len: 0,
        }
    }

    /// Readable bytes.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether no byte is readable.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Capacity in bytes (allocated or not).
    pub fn capacity(&self) -> usize {
        self.cap
    }

    /// Bytes of heap memory held now.
    pub fn allocated(&self) -> usize {
        self.buf.capacity()
    }

    /// Room for more readable bytes.
    pub fn free(&self) -> usize {
        self.cap - self.len
    }

    /// Physical index of logical offset `off` (`off < cap`).
    fn phys(&self, off: usize) -> usize {
        let p = self.head + off;
        if p >= self.cap {
            p - self.cap
        } else {
            p
        }
    }

    /// Copy `data` to physical position `p` (the range lies inside `[0, cap)`), growing the
    /// initialised part of the backing vector as needed.
    fn put(&mut self, p: usize, data: &[u8]) {
        let init = self.buf.len();
        if p > init {
            // Only out-of-order data staged beyond a gap lands past the initialised end.
            self.buf.resize(p, 0);
        }
        let init = self.buf.len();
        let inside = init.saturating_sub(p).min(data.len());
        let (a, b) = data.split_at(inside);
        if let Some(dst) = self.buf.get_mut(p..p + inside) {
            bytecopy::copy(dst, a);
        }
        self.buf.extend_from_slice(b);
    }

    /// Write `data` at logical offset `off` without making it readable. Returns false (and
    /// writes nothing) if it does not fit below the capacity.
    pub fn write_at(&mut self, off: usize, data: &[u8]) -> bool {
        let Some(end) = off.checked_add(data.len()) else {
            return false;
        };
        if end > self.cap {
            return false;
        }
        if data.is_empty() {
            return true;
        }
        if self.buf.capacity() == 0 {
            self.buf = Vec::with_capacity(self.cap);
        }
        let p = self.phys(off);
        let first = (self.cap - p).min(data.len());
        let (a, b) = data.split_at(first);
        self.put(p, a);
        if !b.is_empty() {
            self.put(0, b);
        }
        true
    }

    /// Make `n` staged bytes above the readable ones readable (at most up to capacity).
    pub fn commit(&mut self, n: usize) {
        self.len = (self.len + n).min(self.cap);
    }

    /// Append as much of `data` as fits; returns the count taken.
    pub fn push(&mut self, data: &[u8]) -> usize {
        let n = self.free().min(data.len());
        let part = data.get(..n).unwrap_or(&[]);
        if self.write_at(self.len, part) {
            self.commit(n);
            n
        } else {
            0
        }
    }

    /// The readable bytes `[off, off + n)` (clipped to the readable length) as at most two
    /// slices.
    pub fn slices(&self, off: usize, n: usize) -> (&[u8], &[u8]) {
        if off >= self.len {
            return (&[], &[]);
        }
        let n = n.min(self.len - off);
        let p = self.phys(off);
        let first = (self.cap - p).min(n);
        let a = self.buf.get(p..p + first).unwrap_or(&[]);
        let b = self.buf.get(..n - first).unwrap_or(&[]);
        (a, b)
    }

    /// Drop `n` readable bytes from the front.
    pub fn consume(&mut self, n: usize) {
        let n = n.min(self.len);
        if n == 0 {
            return;
        }
        self.head = self.phys(n);
        self.len -= n;
    }

    /// The first contiguous part of the readable bytes (up to the physical end of the
    /// storage), mutable, for in-place processing before [`Ring::consume`]. Empty when
    /// nothing is readable. Staged bytes above the readable ones are never included.
    pub fn readable_first_mut(&mut self) -> &mut [u8] {
        if self.len == 0 {
            return &mut [];
        }
        let first = (self.cap - self.head).min(self.len);
        self.buf
            .get_mut(self.head..self.head + first)
            .unwrap_or(&mut [])
    }

    /// The first contiguous part of the free room right after the readable bytes (up to
    /// the physical end of the storage), to be written in place and made readable with
    /// [`Ring::commit`]. Allocates the storage if there is none, and zero-extends its
    /// initialised length to cover the part (once: the initialised length only grows), so
    /// the part is always initialised memory; its contents are unspecified (old data).
    /// Only for rings without staged data (the send queue): staged bytes would be
    /// exposed and overwritten.
    pub fn free_first_mut(&mut self) -> &mut [u8] {
        let free = self.free();
        if free == 0 {
            return &mut [];
        }
        if self.buf.capacity() == 0 {
            self.buf = Vec::with_capacity(self.cap);
        }
        let p = self.phys(self.len);
        let end = p + (self.cap - p).min(free);
        if self.buf.len() < end {
            self.buf.resize(end, 0);
        }
        self.buf.get_mut(p..end).unwrap_or(&mut [])
    }

    /// Copy readable bytes into `out` and drop them; returns the count.
    pub fn read(&mut self, out: &mut [u8]) -> usize {
        let (a, b) = self.slices(0, out.len());
        let (n1, n2) = (a.len(), b.len());
        if let Some(dst) = out.get_mut(..n1) {
            bytecopy::copy(dst, a);
        }
        if let Some(dst) = out.get_mut(n1..n1 + n2) {
            bytecopy::copy(dst, b);
        }
        self.consume(n1 + n2);
        n1 + n2
    }

    /// Free the storage if nothing is readable and `staged` (the caller's knowledge of
    /// data above the readable bytes) is false. Also rewinds to offset 0 when empty.
    pub fn release_if_empty(&mut self, staged: bool) {
        drop(self.take_storage(staged));
    }

    /// Hand the storage over (for reuse by another ring) if nothing is readable and
    /// nothing is `staged`; the ring is left unallocated.
    pub fn take_storage(&mut self, staged: bool) -> Option<Vec<u8>> {
        if self.len != 0 || staged {
            return None;
        }
        self.head = 0;
        if self.buf.capacity() == 0 {
            return None;
        }
        Some(core::mem::take(&mut self.buf))
    }

    /// Adopt `v` as storage if the ring is unallocated and `v` can hold the capacity;
    /// otherwise give it back. The old contents of `v` are meaningless to the ring, but its
    /// initialised length (up to the capacity) is kept, so that [`Ring::free_first_mut`]
    /// need not zero memory a reused buffer already initialised.
    pub fn give_storage(&mut self, mut v: Vec<u8>) -> Option<Vec<u8>> {
        if self.buf.capacity() != 0 || v.capacity() < self.cap {
            return Some(v);
        }
        v.truncate(self.cap);
        self.buf = v;
        self.head = 0;
        None
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use proptest::prelude::*;
    use std::collections::VecDeque;

    #[test]
    fn lazy_allocation_and_release() {
        let mut r = Ring::new(8);
        assert_eq!(r.allocated(), 0);
        assert_eq!(r.push(b"abcdef"), 6);
        assert!(r.allocated() >= 8);
        let mut out = [0u8; 4];
        assert_eq!(r.read(&mut out), 4);
        assert_eq!(&out, b"abcd");
        // Wraps: 2 left, 6 free.
        assert_eq!(r.push(b"ghijklmn"), 6);
        assert_eq!(r.slices(0, 8), (&b"efgh"[..], &b"ijkl"[..]));
        assert_eq!(r.slices(3, 3), (&b"h"[..], &b"ij"[..]));
        assert_eq!(r.slices(5, 9), (&b"jkl"[..], &[][..]));
        r.consume(8);
        r.release_if_empty(true);
        assert!(r.allocated() > 0);
        r.release_if_empty(false);
        assert_eq!(r.allocated(), 0);
    }

    #[test]
    fn storage_moves_between_rings() {
        let mut r = Ring::new(8);
        assert!(r.take_storage(false).is_none());
        r.push(b"abc");
        assert!(r.take_storage(false).is_none());
        r.consume(3);
        assert!(r.take_storage(true).is_none());
        let v = r.take_storage(false).unwrap();
        assert_eq!(r.allocated(), 0);
        let mut big = Ring::new(1024);
        let v = big.give_storage(v).unwrap();
        let mut other = Ring::new(8);
        assert!(other.give_storage(v).is_none());
        assert!(other.allocated() >= 8);
        assert_eq!(other.push(b"0123456789"), 8);
        let mut out = [0u8; 8];
        assert_eq!(other.read(&mut out), 8);
        assert_eq!(&out, b"01234567");
    }

    #[test]
    fn staged_writes_become_readable_on_commit() {
        let mut r = Ring::new(10);
        assert!(r.write_at(4, b"efg"));
        assert!(!r.write_at(8, b"xyz"));
        assert!(r.write_at(0, b"abcd"));
        r.commit(7);
        let mut out = [0u8; 10];
        assert_eq!(r.read(&mut out), 7);
        assert_eq!(&out[..7], b"abcdefg");
    }

    #[test]
    fn in_place_parts_follow_the_wrap() {
        let mut r = Ring::new(8);
        assert!(r.readable_first_mut().is_empty());
        // Unallocated: the free part allocates and is zero-initialised.
        let f = r.free_first_mut();
        assert_eq!(f, &[0u8; 8][..]);
        f[..5].copy_from_slice(b"abcde");
        r.commit(5);
        assert_eq!(r.readable_first_mut(), b"abcde");
        r.readable_first_mut()[0] = b'X';
        r.consume(3);
        // Readable "de" at physical 3..5; free is 5..8 then 0..3.
        assert_eq!(r.readable_first_mut(), b"de");
        let f = r.free_first_mut();
        assert_eq!(f.len(), 3);
        f.copy_from_slice(b"fgh");
        r.commit(3);
        let f = r.free_first_mut();
        // The wrapped part is old data (initialised), not zeroes.
        assert_eq!(f, b"Xbc");
        f[..2].copy_from_slice(b"ij");
        r.commit(2);
        assert_eq!(r.readable_first_mut(), b"defgh");
        r.consume(5);
        assert_eq!(r.readable_first_mut(), b"ij");
        // Everything consumed: the head is at physical 0 again, the free part runs to the end.
        assert_eq!(r.free_first_mut(), b"cdefgh");
        r.consume(1);
        assert_eq!(r.push(b"klmnop"), 6);
        // Free: physical 0 only (head at 1).
        assert_eq!(r.free_first_mut().len(), 1);
        r.free_first_mut()[0] = b'q';
        r.commit(1);
        assert!(r.free_first_mut().is_empty());
        assert_eq!(r.slices(0, 8), (&b"jklmnop"[..], &b"q"[..]));
        assert_eq!(r.readable_first_mut(), b"jklmnop");
    }

    #[test]
    fn free_part_excludes_nothing_readable_and_reused_storage_is_not_rezeroed() {
        let mut r = Ring::new(4);
        r.push(b"wxyz");
        r.consume(4);
        let v = r.take_storage(false).unwrap();
        let mut s = Ring::new(4);
        assert!(s.give_storage(v).is_none());
        // The reused buffer keeps its initialised length: old bytes, no new zeroing.
        assert_eq!(s.free_first_mut(), b"wxyz");
        assert_eq!(s.push(b"ab"), 2);
        assert_eq!(s.free_first_mut(), b"yz");
        assert_eq!(s.readable_first_mut(), b"ab");
    }

    proptest! {
        /// In-place writes through the free part and in-place reads through the readable
        /// part behave like a `VecDeque<u8>`, across wraps and storage hand-overs.
        #[test]
        fn in_place_matches_vecdeque(cap in 1usize..64, ops in proptest::collection::vec((0u8..4, 0usize..80), 0..200)) {
            let mut r = Ring::new(cap);
            let mut m: VecDeque<u8> = VecDeque::new();
            let mut next = 0u8;
            for (op, n) in ops {
                match op {
                    0 => {
                        let f = r.free_first_mut();
                        let room = f.len();
                        let k = n.min(room);
                        for b in &mut f[..k] {
                            next = next.wrapping_add(1);
                            *b = next;
                            m.push_back(next);
                        }
                        r.commit(k);
                        // The part ends at the physical end or at the readable bytes.
                        prop_assert!(room <= cap - (m.len() - k));
                        prop_assert!(room > 0 || m.len() == cap);
                    }
                    1 => {
                        let p = r.readable_first_mut();
                        let k = n.min(p.len());
                        prop_assert!(p.len() <= m.len());
                        prop_assert!(!p.is_empty() || m.is_empty());
                        let want: Vec<u8> = m.drain(..k).collect();
                        prop_assert_eq!(&p[..k], &want[..]);
                        p[..k].fill(0xee);
                        r.consume(k);
                    }
                    2 => {
                        let data: Vec<u8> = (0..n).map(|_| { next = next.wrapping_add(1); next }).collect();
                        let took = r.push(&data);
                        m.extend(&data[..took]);
                    }
                    _ => {
                        let (a, b) = r.slices(0, n);
                        let got: Vec<u8> = a.iter().chain(b).copied().collect();
                        let want: Vec<u8> = m.iter().take(n).copied().collect();
                        prop_assert_eq!(got, want);
                        if let Some(v) = r.take_storage(false) {
                            let mut other = Ring::new(cap);
                            prop_assert!(other.give_storage(v).is_none());
                            r = other;
                        }
                    }
                }
                prop_assert_eq!(r.len(), m.len());
            }
        }
    }

    proptest! {
        /// The ring behaves like a `VecDeque<u8>` under pushes, partial reads, consumes
        /// and reads of arbitrary ranges.
        #[test]
        fn matches_vecdeque(cap in 1usize..64, ops in proptest::collection::vec((0u8..4, 0usize..80), 0..200)) {
            let mut r = Ring::new(cap);
            let mut m: VecDeque<u8> = VecDeque::new();
            let mut next = 0u8;
            for (op, n) in ops {
                match op {
                    0 => {
                        let data: Vec<u8> = (0..n).map(|_| { next = next.wrapping_add(1); next }).collect();
                        let took = r.push(&data);
                        prop_assert_eq!(took, n.min(cap - m.len()));
                        m.extend(&data[..took]);
                    }
                    1 => {
                        let mut out = vec![0u8; n];
                        let got = r.read(&mut out);
                        let want: Vec<u8> = m.drain(..n.min(m.len())).collect();
                        prop_assert_eq!(&out[..got], &want[..]);
                    }
                    2 => {
                        let off = n % (cap + 1);
                        let (a, b) = r.slices(off, n);
                        let got: Vec<u8> = a.iter().chain(b).copied().collect();
                        let want: Vec<u8> = m.iter().skip(off).take(n).copied().collect();
                        prop_assert_eq!(got, want);
                    }
                    _ => {
                        let k = n.min(m.len());
                        r.consume(k);
                        m.drain(..k);
                        r.release_if_empty(false);
                    }
                }
                prop_assert_eq!(r.len(), m.len());
            }
        }
    }
}
