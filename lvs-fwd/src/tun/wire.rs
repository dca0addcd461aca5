//! Bounds-checked byte access and the few facts the tunnel code reads from an IP packet.

use super::{TunError, bad};
use crate::FwdError;

/// A read past the end: `needed` bytes were required, `got` were there.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Short {
    pub(crate) needed: usize,
    pub(crate) got: usize,
}

/// `N` bytes of `b` at `off`, or [`Short`].
#[inline]
pub(crate) fn arr<const N: usize>(b: &[u8], off: usize) -> Result<&[u8; N], Short> {
    let end = off.saturating_add(N);
    b.get(off..end)
        .and_then(|s| <&[u8; N]>::try_from(s).ok())
        .ok_or(Short {
            needed: end,
            got: b.len(),
        })
}

/// `N` mutable bytes of `b` at `off`, or [`Short`].
#[inline]
pub(crate) fn arr_mut<const N: usize>(b: &mut [u8], off: usize) -> Result<&mut [u8; N], Short> {
    let got = b.len();
    let end = off.saturating_add(N);
    b.get_mut(off..end)
        .and_then(|s| <&mut [u8; N]>::try_from(s).ok())
        .ok_or(Short { needed: end, got })
}

/// `b[from..to]`, or [`Short`].
#[inline]
pub(crate) fn range(b: &[u8], from: usize, to: usize) -> Result<&[u8], Short> {
    b.get(from..to).ok_or(Short {
        needed: to.max(from),
        got: b.len(),
    })
}

/// Big-endian u16 at `off`.
#[inline]
pub(crate) fn be16(b: &[u8], off: usize) -> Result<u16, Short> {
    arr::<2>(b, off).map(|a| u16::from_be_bytes(*a))
}

/// IPv4 header: the version nibble is 4, ihl >= 5, total length >= the header and within `b`.
/// Returns (header length, total length) in bytes.
pub(crate) fn ipv4_lengths(b: &[u8]) -> Result<(usize, usize), TunError> {
    let h = arr::<20>(b, 0)?;
    if h[0] >> 4 != 4 {
        return Err(FwdError::UnsupportedIpVersion(h[0] >> 4).into());
    }
    let hlen = usize::from(h[0] & 0x0f) * 4;
    if hlen < 20 {
        return Err(bad("ipv4 ihl < 5"));
    }
    let total = usize::from(u16::from_be_bytes([h[2], h[3]]));
    if total < hlen {
        return Err(bad("ipv4 total length < header length"));
    }
    if total > b.len() {
        return Err(FwdError::Truncated {
            needed: total,
            got: b.len(),
        }
        .into());
    }
    Ok((hlen, total))
}

/// IPv6 fixed header: version 6, payload within `b`. Returns the total length (40 + payload
/// length) in bytes.
pub(crate) fn ipv6_total(b: &[u8]) -> Result<usize, TunError> {
    let h = arr::<40>(b, 0)?;
    if h[0] >> 4 != 6 {
        return Err(FwdError::UnsupportedIpVersion(h[0] >> 4).into());
    }
    let total = 40 + usize::from(u16::from_be_bytes([h[4], h[5]]));
    if total > b.len() {
        return Err(FwdError::Truncated {
            needed: total,
            got: b.len(),
        }
        .into());
    }
    Ok(total)
}

/// Most extension headers walked before giving up (a chain longer than this is refused as
/// [`FwdError::ExtensionHeaderChain`]).
const MAX_EXT_HEADERS: usize = 8;

/// Result of walking an IPv6 packet's extension headers.
#[derive(Debug, Clone, Copy)]
pub(crate) struct V6Upper {
    /// Upper-layer protocol (next header after the last extension header walked).
    pub(crate) proto: u8,
    /// Offset of the upper-layer header from the IPv6 header start.
    pub(crate) offset: usize,
    /// Fragment offset (in 8-byte units) when a fragment header was met, else 0.
    pub(crate) frag_offset: u16,
    /// Whether a fragment header was met.
    pub(crate) fragmented: bool,
}

/// Walks hop-by-hop (0), routing (43), fragment (44) and destination options (60) headers
/// (RFC 8200 section 4) of the IPv6 packet `b[..total]`; stops at the first other next header
/// or at a non-first fragment (whose payload is not a header).
pub(crate) fn ipv6_upper(b: &[u8], total: usize) -> Result<V6Upper, TunError> {
    let pkt = range(b, 0, total)?;
    let mut proto = arr::<1>(pkt, 6)?[0];
    let mut off = 40usize;
    let mut frag_offset = 0u16;
    let mut fragmented = false;
    for _ in 0..MAX_EXT_HEADERS {
        match proto {
            0 | 43 | 60 => {
                let h = arr::<2>(pkt, off)?;
                proto = h[0];
                off += 8 + usize::from(h[1]) * 8;
            }
            44 => {
                let h = arr::<8>(pkt, off)?;
                proto = h[0];
                frag_offset = u16::from_be_bytes([h[2], h[3]]) >> 3;
                fragmented = true;
                off += 8;
                if frag_offset != 0 {
                    return Ok(V6Upper {
                        proto,
                        offset: off,
                        frag_offset,
                        fragmented,
                    });
                }
            }
            _ => {
                return Ok(V6Upper {
                    proto,
                    offset: off,
                    frag_offset,
                    fragmented,
                });
            }
        }
    }
    Err(FwdError::ExtensionHeaderChain.into())
}

/// What the tunnel code needs to know about an inner (client) IP packet.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Inner {
    /// 4 or 6.
    pub(crate) v6: bool,
    /// Total length in bytes from the packet's own length field.
    pub(crate) len: usize,
    /// DS field (IPv4 TOS byte / IPv6 traffic class).
    pub(crate) dsfield: u8,
    /// TTL / hop limit.
    pub(crate) ttl: u8,
    /// IPv4 DF bit (false for IPv6).
    pub(crate) df: bool,
}

/// Reads version, length, DS field, TTL and DF of the IP packet at the start of `b`, with the
/// checks of [`ipv4_lengths`] / [`ipv6_total`].
#[inline]
pub(crate) fn inner_info(b: &[u8]) -> Result<Inner, TunError> {
    let first = arr::<1>(b, 0)?[0];
    match first >> 4 {
        4 => {
            let h = arr::<20>(b, 0)?;
            let hlen = usize::from(h[0] & 0x0f) * 4;
            if hlen < 20 {
                return Err(bad("ipv4 ihl < 5"));
            }
            let len = usize::from(u16::from_be_bytes([h[2], h[3]]));
            if len < hlen {
                return Err(bad("ipv4 total length < header length"));
            }
            if len > b.len() {
                return Err(FwdError::Truncated {
                    needed: len,
                    got: b.len(),
                }
                .into());
            }
            Ok(Inner {
                v6: false,
                len,
                dsfield: h[1],
                ttl: h[8],
                df: h[6] & 0x40 != 0,
            })
        }
        6 => {
            let len = ipv6_total(b)?;
            let h = arr::<8>(b, 0)?;
            Ok(Inner {
                v6: true,
                len,
                dsfield: (h[0] << 4) | (h[1] >> 4),
                ttl: h[7],
                df: false,
            })
        }
        v => Err(FwdError::UnsupportedIpVersion(v).into()),
    }
}
