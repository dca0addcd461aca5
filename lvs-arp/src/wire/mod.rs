//! Wire formats: ARP over Ethernet (RFC 826) and IPv6 Neighbour Discovery (RFC 4861), parsed
//! from and emitted into whole Ethernet II frames in caller buffers, without allocation.
//!
//! Parsers check every length before reading and return typed errors; they never panic on
//! any input (the `arp_codec` fuzz target drives them with arbitrary bytes).

pub mod arp;
pub mod ndisc;

/// Length of an Ethernet II header (destination MAC, source MAC, EtherType), bytes.
pub const ETH_HDR_LEN: usize = 14;
/// Shortest Ethernet frame on the wire without the 4-byte FCS, bytes. Drivers pad shorter
/// frames to this length, which is why tcpdump shows received ARP as "length 46".
pub const ETH_MIN_FRAME_LEN: usize = 60;
/// EtherType of ARP (0x0806).
pub const ETHERTYPE_ARP: u16 = 0x0806;
/// EtherType of IPv4 (0x0800); also the ARP protocol type for IPv4.
pub const ETHERTYPE_IPV4: u16 = 0x0800;
/// EtherType of IPv6 (0x86dd).
pub const ETHERTYPE_IPV6: u16 = 0x86dd;

/// The caller's buffer cannot hold the frame being emitted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("buffer of {len} bytes is too small for a {need}-byte frame")]
pub struct BufferTooSmall {
    /// Length of the buffer given, bytes.
    pub len: usize,
    /// Length the frame needs, bytes.
    pub need: usize,
}

/// Zero-fills `buf[len..ETH_MIN_FRAME_LEN]` and returns the padded length (60), as an
/// Ethernet driver pads a short frame; returns `len` unchanged when the frame is already at
/// least 60 bytes or the buffer is shorter than 60 bytes.
pub fn pad_to_min(buf: &mut [u8], len: usize) -> usize {
    if len >= ETH_MIN_FRAME_LEN {
        return len;
    }
    match buf.get_mut(len..ETH_MIN_FRAME_LEN) {
        Some(tail) => {
            tail.fill(0);
            ETH_MIN_FRAME_LEN
        }
        None => len,
    }
}

/// Reads a big-endian u16 at `at`; `None` past the end.
pub(crate) fn be16(b: &[u8], at: usize) -> Option<u16> {
    let s = b.get(at..at.checked_add(2)?)?;
    Some(u16::from_be_bytes([*s.first()?, *s.get(1)?]))
}

/// Copies `N` bytes at `at`; `None` past the end.
pub(crate) fn array<const N: usize>(b: &[u8], at: usize) -> Option<[u8; N]> {
    let s = b.get(at..at.checked_add(N)?)?;
    s.try_into().ok()
}
