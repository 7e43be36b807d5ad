//! The virtio-net header that precedes every packet on a TUN device opened with
//! `IFF_VNET_HDR` (`struct virtio_net_hdr`, include/uapi/linux/virtio_net.h): 10 bytes,
//! fields in native byte order (the kernel's legacy virtio endianness, as long as
//! `TUNSETVNETLE`/`TUNSETVNETBE` are not used; tun-rs does not use them).

/// Length of the header.
pub const HDR_LEN: usize = 10;
/// `VIRTIO_NET_HDR_F_NEEDS_CSUM`: the checksum at `csum_start + csum_offset` holds the
/// pseudo-header sum; the receiver (here the kernel) completes it.
pub const NEEDS_CSUM: u8 = 1;
/// `VIRTIO_NET_HDR_GSO_NONE`.
pub const GSO_NONE: u8 = 0;
/// `VIRTIO_NET_HDR_GSO_TCPV4`.
pub const GSO_TCPV4: u8 = 1;
/// `VIRTIO_NET_HDR_GSO_TCPV6`.
pub const GSO_TCPV6: u8 = 4;

/// `struct virtio_net_hdr`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct VirtioHdr {
    /// `NEEDS_CSUM` or 0.
    pub flags: u8,
    /// `GSO_*`.
    pub gso_type: u8,
    /// Length of the IP and TCP headers.
    pub hdr_len: u16,
    /// Payload bytes per segment.
    pub gso_size: u16,
    /// Where checksumming starts (the transport header).
    pub csum_start: u16,
    /// Offset of the checksum field from `csum_start`.
    pub csum_offset: u16,
}

impl VirtioHdr {
    /// Writes the header into the first [`HDR_LEN`] bytes of `buf` (nothing if shorter).
    pub fn encode(&self, buf: &mut [u8]) {
        let Some(b) = buf.get_mut(..HDR_LEN) else {
            return;
        };
        b[0] = self.flags;
        b[1] = self.gso_type;
        for (i, v) in [
            self.hdr_len,
            self.gso_size,
            self.csum_start,
            self.csum_offset,
        ]
        .into_iter()
        .enumerate()
        {
            b[2 + 2 * i..4 + 2 * i].copy_from_slice(&v.to_ne_bytes());
        }
    }

    /// Reads a header from the start of `buf`.
    pub fn decode(buf: &[u8]) -> Option<Self> {
        let b = buf.get(..HDR_LEN)?;
        let f = |at: usize| u16::from_ne_bytes([b[at], b[at + 1]]);
        Some(Self {
            flags: b[0],
            gso_type: b[1],
            hdr_len: f(2),
            gso_size: f(4),
            csum_start: f(6),
            csum_offset: f(8),
        })
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn same_layout_as_tun_rs() {
        assert_eq!(HDR_LEN, tun_rs::VIRTIO_NET_HDR_LEN);
        let h = VirtioHdr {
            flags: NEEDS_CSUM,
            gso_type: GSO_TCPV4,
            hdr_len: 52,
            gso_size: 1448,
            csum_start: 20,
            csum_offset: 16,
        };
        let mut ours = [0u8; HDR_LEN];
        h.encode(&mut ours);
        let theirs = tun_rs::VirtioNetHdr {
            flags: NEEDS_CSUM,
            gso_type: GSO_TCPV4,
            hdr_len: 52,
            gso_size: 1448,
            csum_start: 20,
            csum_offset: 16,
        };
        let mut t = [0u8; HDR_LEN];
        theirs.encode(&mut t).unwrap();
        assert_eq!(ours, t);
        assert_eq!(VirtioHdr::decode(&ours), Some(h));
        assert_eq!(VirtioHdr::decode(&ours[..5]), None);
        assert_eq!(GSO_NONE, 0);
    }
}
