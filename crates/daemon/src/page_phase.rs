//! TUN buffers placed at a fixed offset within a 4 KiB page (issue 5).
//!
//! The kernel moves a TUN packet's payload between our buffer and page-aligned skb page
//! fragments with `rep movsb` (`_copy_from_iter` on write, `_copy_to_iter` on read), and on
//! the AMD EPYC machines we run on that copy runs at 2.0–2.5 GB/s instead of 15–24 when the
//! destination lies 1 to 31 bytes above the source modulo 4 KiB (measured with `pread` /
//! `pwrite` of a page-cached file into a buffer at every offset; destinations 32–63 bytes
//! above run at 15–17 GB/s, 64 and more at 24). Where a heap buffer starts modulo 4 KiB is
//! down to the allocator, so a daemon could start with a buffer on that cliff and keep it
//! for its whole life. A [`PhasedBuf`] puts a chosen byte of the buffer (the IP packet's
//! first byte, after the virtio-net header) at [`PACKET_PHASE`] within its page: the payload,
//! which follows 20–120 bytes of headers, then lies 1 000–1 200 bytes above (reads) or below
//! (writes) the page-aligned fragment, far from the cliff either way.

use std::ops::{Deref, DerefMut};

/// The page size whose offsets matter.
pub const PAGE: usize = 4096;

/// Where in its page a TUN buffer's IP packet starts.
pub const PACKET_PHASE: usize = 1024;

/// A zeroed buffer of fixed length whose byte `at` lies at a chosen offset modulo
/// [`PAGE`]. It dereferences to its bytes; it never grows, so it never moves.
pub struct PhasedBuf {
    storage: Vec<u8>,
    start: usize,
    len: usize,
}

impl PhasedBuf {
    /// `len` zero bytes, byte `at` of them at `phase` modulo [`PAGE`] (one page more is
    /// allocated than asked for).
    pub fn new(len: usize, at: usize, phase: usize) -> Self {
        let storage = vec![0u8; len + PAGE];
        let addr = storage.as_ptr().addr();
        let start = (phase % PAGE + PAGE - (addr + at) % PAGE) % PAGE;
        Self {
            storage,
            start,
            len,
        }
    }

    /// A buffer of `len` bytes whose IP packet (after the virtio-net header of `hdr` bytes)
    /// starts at [`PACKET_PHASE`].
    pub fn for_packets(len: usize, hdr: usize) -> Self {
        Self::new(len, hdr, PACKET_PHASE)
    }
}

impl Deref for PhasedBuf {
    type Target = [u8];

    fn deref(&self) -> &[u8] {
        self.storage
            .get(self.start..self.start + self.len)
            .unwrap_or_default()
    }
}

impl DerefMut for PhasedBuf {
    fn deref_mut(&mut self) -> &mut [u8] {
        self.storage
            .get_mut(self.start..self.start + self.len)
            .unwrap_or_default()
    }
}

impl std::fmt::Debug for PhasedBuf {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PhasedBuf")
            .field("len", &self.len)
            .field("start", &self.start)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_chosen_byte_sits_at_the_chosen_phase() {
        for (len, at, phase) in [
            (65_545, 10, 1024),
            (1, 0, 0),
            (100, 99, 4095),
            (9000, 10, 5000),
        ] {
            let mut b = PhasedBuf::new(len, at, phase);
            assert_eq!(b.len(), len);
            assert_eq!((b.as_ptr().addr() + at) % PAGE, phase % PAGE);
            assert!(b.iter().all(|&x| x == 0));
            b[len - 1] = 7;
            assert_eq!(b.last(), Some(&7));
        }
    }

    #[test]
    fn moving_the_buffer_keeps_its_phase() {
        let b = PhasedBuf::for_packets(74_000, 10);
        let moved = Box::new(b);
        assert_eq!((moved.as_ptr().addr() + 10) % PAGE, PACKET_PHASE);
    }
}
