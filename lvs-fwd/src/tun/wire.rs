//! The few facts the tunnel code reads from an IP packet, on top of the crate's bounds-checked
//! byte access (`crate::bytes`) and IP header walk (`crate::parse`).

use super::{TunError, bad};
use crate::FwdError;
use crate::parse::{self, IpWalk};

pub(crate) use crate::bytes::{arr, arr_mut, be16, range};

/// The IPv4 header at the start of `b` (the crate's `parse::ipv4`: version 4, ihl >= 5, total
/// length >= the header and within `b`). Returns the walk and the total length in bytes.
#[inline]
pub(crate) fn ipv4(b: &[u8]) -> Result<(IpWalk, usize), TunError> {
    Ok(parse::ipv4(b, 0, b.len(), false)?)
}

/// The IPv6 header at the start of `b` and its extension headers (the crate's `parse::ipv6`:
/// hop-by-hop, routing, destination options, fragment, AH; at most
/// [`crate::MAX_IPV6_EXT_HEADERS`]; payload within `b`). Returns the walk and the total length.
#[inline]
pub(crate) fn ipv6(b: &[u8]) -> Result<(IpWalk, usize), TunError> {
    Ok(parse::ipv6(b, 0, b.len(), false)?)
}

/// A packet of `len` bytes must lie within `b`.
#[inline]
fn within(len: usize, b: &[u8]) -> Result<(), FwdError> {
    if len > b.len() {
        return Err(FwdError::Truncated {
            needed: len,
            got: b.len(),
        });
    }
    Ok(())
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

/// Reads version, length, DS field, TTL and DF of the IP packet at the start of `b`: the length
/// checks of `parse::ipv4` / `parse::ipv6` on the fixed header only (the encapsulation fast path
/// does not walk IPv6 extension headers).
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
            within(len, b)?;
            Ok(Inner {
                v6: false,
                len,
                dsfield: h[1],
                ttl: h[8],
                df: h[6] & 0x40 != 0,
            })
        }
        6 => {
            let h = arr::<40>(b, 0)?;
            let len = 40 + usize::from(u16::from_be_bytes([h[4], h[5]]));
            within(len, b)?;
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
