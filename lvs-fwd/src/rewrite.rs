//! The in-place rewrites of the forwarding methods (net/netfilter/ipvs/ip_vs_xmit.c):
//! DR (`ip_vs_dr_xmit`: MACs and TTL only), NAT (`ip_vs_nat_xmit` with `tcp_dnat_handler` /
//! `tcp_snat_handler`, `udp_*_handler`, `sctp_*_handler`), FULLNAT (not upstream: Alibaba LVS
//! and DPVS; both addresses and ports, both ways) and the TTL / hop-limit decrement of
//! `decrement_ttl` that every method performs before transmitting.
//!
//! Checksums: the IPv4 header checksum and the TCP/UDP checksums are updated incrementally
//! (RFC 1624 equation 3) over the changed words (addresses, ports, TTL), which yields exactly
//! the value of a full recompute (the kernel's `ip_send_check` and `tcp_fast_csum_update`);
//! UDP checksum 0 stays 0 and a computed 0 becomes 0xFFFF (`udp_fast_csum_update`,
//! CSUM_MANGLED_0); SCTP's CRC32c is recomputed over the packet (`sctp_nat_csum`).

use std::net::IpAddr;

use crate::FwdError;
use crate::bytes::{arr, arr_mut, be16, range, set_be16, u8_at};
use crate::checksum::{fold, ones_complement_add, sctp_checksum};
use crate::parse::{PROTO_SCTP, PROTO_TCP, PROTO_UDP, Parsed, Transport};

/// What the caller does with the frame after a rewrite call.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[must_use]
pub enum Outcome {
    /// The frame was rewritten in place (TTL / hop limit decremented): transmit it.
    Forward,
    /// The TTL / hop limit was <= 1: the frame was NOT modified and must not be forwarded.
    /// Answer with [`crate::time_exceeded`] (which refuses for ICMP errors) and drop it, as
    /// the kernel's `decrement_ttl` does (net/netfilter/ipvs/ip_vs_xmit.c).
    TimeExceeded,
}

/// The difference for one 16-bit word.
#[inline]
pub(crate) fn diff16(old: u16, new: u16) -> u32 {
    u32::from(!old) + u32::from(new)
}

/// Applies a difference to a stored checksum: `~(~HC + diff)` (RFC 1624 eqn. 3).
#[inline]
pub(crate) fn apply(check: u16, diff: u32) -> u16 {
    !fold(u32::from(!check) + diff)
}

/// The sum of the four 32-bit words of a 128-bit value (an IPv6 address), in 64 bits.
#[inline]
fn words64(x: u128) -> u64 {
    let hi = (x >> 64) as u64;
    let lo = x as u64;
    (hi >> 32) + (hi & 0xffff_ffff) + (lo >> 32) + (lo & 0xffff_ffff)
}

/// [`apply`] with a 64-bit difference accumulator.
#[inline]
fn apply64(check: u16, delta: u64) -> u16 {
    let mut s = u64::from(!check) + delta;
    s = (s & 0xffff_ffff) + (s >> 32);
    s = (s & 0xffff_ffff) + (s >> 32);
    !fold(s as u32)
}

/// Sets the Ethernet destination and source MAC addresses (bytes 0..6 and 6..12).
///
/// # Errors
/// [`FwdError::Truncated`] when `frame` is shorter than 12 bytes.
pub fn set_macs(frame: &mut [u8], dst: [u8; 6], src: [u8; 6]) -> Result<(), FwdError> {
    let m = arr_mut::<12>(frame, 0)?;
    let (d, s) = m.split_at_mut(6);
    d.copy_from_slice(&dst);
    s.copy_from_slice(&src);
    Ok(())
}

/// Checks that `frame` is at least as long as the packet `p` describes.
#[inline]
fn check_len(frame: &[u8], p: &Parsed) -> Result<(), FwdError> {
    if frame.len() < p.end {
        return Err(FwdError::Truncated {
            needed: p.end,
            got: frame.len(),
        });
    }
    Ok(())
}

/// Decrements the IPv4 TTL (updating the header checksum incrementally, as `ip_decrease_ttl`)
/// or the IPv6 hop limit, as the kernel's `decrement_ttl` in net/netfilter/ipvs/ip_vs_xmit.c.
/// At TTL <= 1 nothing is written and [`Outcome::TimeExceeded`] is returned.
///
/// # Errors
/// [`FwdError::Truncated`] when `frame` is shorter than the parsed packet.
pub fn decrement_ttl(frame: &mut [u8], p: &Parsed) -> Result<Outcome, FwdError> {
    check_len(frame, p)?;
    if p.hop_limit <= 1 {
        return Ok(Outcome::TimeExceeded);
    }
    let l3 = p.l3;
    if p.is_ipv4() {
        let w = arr_mut::<4>(frame, l3 + 8)?;
        let [ttl, proto, c0, c1] = *w;
        let d = diff16(
            u16::from_be_bytes([ttl, proto]),
            u16::from_be_bytes([ttl.wrapping_sub(1), proto]),
        );
        let c = apply(u16::from_be_bytes([c0, c1]), d).to_be_bytes();
        *w = [ttl.wrapping_sub(1), proto, c[0], c[1]];
    } else {
        let h = arr_mut::<1>(frame, l3 + 7)?;
        h[0] = h[0].wrapping_sub(1);
    }
    Ok(Outcome::Forward)
}

/// DR (direct routing, `ip_vs_dr_xmit`): destination MAC := the real server's MAC, source
/// MAC := the director's MAC, IP header untouched except the TTL / hop limit. Works for any
/// protocol, fragments and ICMP errors included (DR forwards ICMP errors unchanged).
///
/// # Errors
/// [`FwdError::Truncated`] when `frame` is shorter than the parsed packet. On
/// [`Outcome::TimeExceeded`] the frame is unchanged.
#[inline]
pub fn dr(
    frame: &mut [u8],
    p: &Parsed,
    rs_mac: [u8; 6],
    director_mac: [u8; 6],
) -> Result<Outcome, FwdError> {
    let o = decrement_ttl(frame, p)?;
    if o == Outcome::Forward {
        set_macs(frame, rs_mac, director_mac)?;
    }
    Ok(o)
}

/// A new (address, port) for one end of a flow.
type Endpoint = Option<(IpAddr, u16)>;

/// The shared engine of NAT and FULLNAT: replaces the source and/or destination address and
/// port, decrements the TTL, updates every checksum.
fn rewrite(
    frame: &mut [u8],
    p: &Parsed,
    src: Endpoint,
    dst: Endpoint,
) -> Result<Outcome, FwdError> {
    match p.transport {
        Transport::Tcp { .. } | Transport::Udp { .. } | Transport::Sctp { .. } => {}
        Transport::NonFirstFragment => return Err(FwdError::Fragment),
        _ => return Err(FwdError::UnsupportedProtocol(p.protocol)),
    }
    // The SCTP CRC covers the whole packet: a first fragment cannot be re-summed.
    if p.protocol == PROTO_SCTP && p.fragment.is_some_and(|f| f.more || f.offset != 0) {
        return Err(FwdError::Fragment);
    }
    check_len(frame, p)?;
    let v4 = p.is_ipv4();
    if src.is_some_and(|(a, _)| a.is_ipv4() != v4) || dst.is_some_and(|(a, _)| a.is_ipv4() != v4) {
        return Err(FwdError::FamilyMismatch);
    }
    if dst.is_some() && p.routing_pending {
        return Err(FwdError::BadHeader(
            "ipv6 routing header with segments left",
        ));
    }
    if p.hop_limit <= 1 {
        return Ok(Outcome::TimeExceeded);
    }
    let (l3, l4) = (p.l3, p.l4);
    // One's-complement difference (RFC 1624 eqn. 3: ~m + m') of the pseudo-header addresses,
    // accumulated over 32-bit words in 64 bits (2^16 == 1 mod 0xffff, so a 32-bit word and its
    // complement fold to the same sums as their 16-bit halves).
    let mut d_addr = 0u64;
    if v4 {
        let a = arr_mut::<8>(frame, l3 + 12)?;
        let old_s = u32::from_be_bytes([a[0], a[1], a[2], a[3]]);
        let old_d = u32::from_be_bytes([a[4], a[5], a[6], a[7]]);
        let new_s = match src {
            Some((IpAddr::V4(x), _)) => u32::from(x),
            _ => old_s,
        };
        let new_d = match dst {
            Some((IpAddr::V4(x), _)) => u32::from(x),
            _ => old_d,
        };
        d_addr += u64::from(!old_s) + u64::from(new_s) + u64::from(!old_d) + u64::from(new_d);
        a[..4].copy_from_slice(&new_s.to_be_bytes());
        a[4..].copy_from_slice(&new_d.to_be_bytes());
    } else {
        for (ep, off) in [(src, l3 + 8), (dst, l3 + 24)] {
            if let Some((IpAddr::V6(x), _)) = ep {
                let slot = arr_mut::<16>(frame, off)?;
                let old = u128::from_be_bytes(*slot);
                let new = u128::from(x);
                d_addr += words64(!old) + words64(new);
                *slot = x.octets();
            }
        }
    }
    // Both ports as one 32-bit word.
    let ports = arr_mut::<4>(frame, l4)?;
    let old_ports = u32::from_be_bytes(*ports);
    let sport = src.map_or((old_ports >> 16) as u16, |e| e.1);
    let dport = dst.map_or(old_ports as u16, |e| e.1);
    let new_ports = (u32::from(sport) << 16) | u32::from(dport);
    *ports = new_ports.to_be_bytes();
    let d_port = u64::from(!old_ports) + u64::from(new_ports);
    if v4 {
        let w = arr_mut::<4>(frame, l3 + 8)?;
        let [ttl, proto, c0, c1] = *w;
        let ttl2 = ttl.wrapping_sub(1);
        let d_ttl = u64::from(!u16::from_be_bytes([ttl, proto]))
            + u64::from(u16::from_be_bytes([ttl2, proto]));
        let c = apply64(u16::from_be_bytes([c0, c1]), d_addr + d_ttl).to_be_bytes();
        *w = [ttl2, proto, c[0], c[1]];
    } else {
        let h = arr_mut::<1>(frame, l3 + 7)?;
        h[0] = h[0].wrapping_sub(1);
    }
    match p.protocol {
        PROTO_TCP => {
            let c = be16(frame, l4 + 16)?;
            set_be16(frame, l4 + 16, apply64(c, d_addr + d_port))?;
        }
        PROTO_UDP => {
            let c = be16(frame, l4 + 6)?;
            // udp_snat_handler / udp_dnat_handler: "!payload_csum && (udph->check != 0)".
            if c != 0 {
                let n = apply64(c, d_addr + d_port);
                set_be16(frame, l4 + 6, if n == 0 { 0xffff } else { n })?;
            }
        }
        _ => {
            // SCTP: sctp_nat_csum recomputes the CRC32c over the packet.
            let crc = sctp_checksum(range(frame, l4, p.end)?);
            *arr_mut::<4>(frame, l4 + 8)? = crc.to_le_bytes();
        }
    }
    Ok(Outcome::Forward)
}

/// NAT inbound (`ip_vs_nat_xmit` + `*_dnat_handler`): a client packet to VIP:vport becomes a
/// packet to RIP:rport (destination address and port rewritten; port mapping allowed), TTL
/// decremented, IP and L4 checksums updated. MACs are not touched (see [`set_macs`]).
///
/// # Errors
/// [`FwdError::Fragment`] (non-first fragment, or an SCTP fragment),
/// [`FwdError::UnsupportedProtocol`] (not TCP/UDP/SCTP), [`FwdError::FamilyMismatch`],
/// [`FwdError::BadHeader`] (IPv6 routing header with segments left), [`FwdError::Truncated`].
/// The frame is unchanged on error and on [`Outcome::TimeExceeded`].
#[inline]
pub fn nat_in(frame: &mut [u8], p: &Parsed, rip: IpAddr, rport: u16) -> Result<Outcome, FwdError> {
    rewrite(frame, p, None, Some((rip, rport)))
}

/// NAT outbound (`ip_vs_nat_xmit` reply path, `*_snat_handler`): a real server reply from
/// RIP:rport becomes a reply from VIP:vport (source address and port rewritten).
///
/// # Errors
/// As [`nat_in`].
#[inline]
pub fn nat_out(frame: &mut [u8], p: &Parsed, vip: IpAddr, vport: u16) -> Result<Outcome, FwdError> {
    rewrite(frame, p, Some((vip, vport)), None)
}

/// FULLNAT inbound: CIP:cport -> VIP:vport becomes LIP:lport -> RIP:rport. The local address
/// and port (LIP, lport) are chosen by the caller (the director allocates them, unique per
/// real server endpoint). Same IP family in and out.
///
/// # Errors
/// As [`nat_in`].
#[inline]
pub fn fullnat_in(
    frame: &mut [u8],
    p: &Parsed,
    lip: IpAddr,
    lport: u16,
    rip: IpAddr,
    rport: u16,
) -> Result<Outcome, FwdError> {
    rewrite(frame, p, Some((lip, lport)), Some((rip, rport)))
}

/// FULLNAT outbound: RIP:rport -> LIP:lport becomes VIP:vport -> CIP:cport.
///
/// # Errors
/// As [`nat_in`].
#[inline]
pub fn fullnat_out(
    frame: &mut [u8],
    p: &Parsed,
    vip: IpAddr,
    vport: u16,
    cip: IpAddr,
    cport: u16,
) -> Result<Outcome, FwdError> {
    rewrite(frame, p, Some((vip, vport)), Some((cip, cport)))
}

/// Verifies every checksum of the parsed packet in full (no incremental shortcut): the IPv4
/// header checksum; the TCP / UDP (0 accepted on IPv4 only) / ICMPv6 checksum with its
/// pseudo-header (RFC 8200 section 8.1); the ICMP checksum; the SCTP CRC32c. Fragments (other
/// than atomic ones) have only their IP header checked (their L4 checksum spans other fragments). Meant for tests,
/// fuzzing and callers that want the kernel's receive-side checks (`ip_rcv`).
#[must_use]
pub fn verify_checksums(frame: &[u8], p: &Parsed) -> bool {
    verify(frame, p).unwrap_or(false)
}

/// The end of the checksummed transport segment: the UDP Length for UDP (the kernel trims the
/// datagram to it, `udp4_lib_rcv` / `pskb_trim_rcsum`), the IP packet's end otherwise.
fn segment_end(frame: &[u8], p: &Parsed) -> Result<usize, FwdError> {
    match p.transport {
        Transport::Udp { .. } => Ok(p.l4 + usize::from(be16(frame, p.l4 + 4)?).min(p.end - p.l4)),
        _ => Ok(p.end),
    }
}

fn verify(frame: &[u8], p: &Parsed) -> Result<bool, FwdError> {
    use crate::checksum::{pseudo_header_v4, pseudo_header_v6};
    let l4 = p.l4;
    let seg = range(frame, l4, segment_end(frame, p)?)?;
    let len = seg.len();
    let pseudo = match (p.src, p.dst) {
        (IpAddr::V4(s), IpAddr::V4(d)) => {
            let ihl = usize::from(u8_at(frame, p.l3)? & 0x0f) * 4;
            if crate::checksum::checksum(range(frame, p.l3, p.l3 + ihl)?) != 0 {
                return Ok(false);
            }
            pseudo_header_v4(s, d, p.protocol, u16::try_from(len).unwrap_or(0))
        }
        (IpAddr::V6(s), IpAddr::V6(d)) => {
            pseudo_header_v6(&s, &d, p.protocol, u32::try_from(len).unwrap_or(0))
        }
        _ => return Ok(false),
    };
    if p.fragment.is_some_and(|f| f.more || f.offset != 0) {
        return Ok(true);
    }
    let sum_ok = |s: u32| fold(ones_complement_add(s, seg)) == 0xffff;
    Ok(match p.transport {
        Transport::Tcp { .. } | Transport::Icmpv6 { .. } => sum_ok(pseudo),
        Transport::Udp { .. } => (p.is_ipv4() && be16(frame, l4 + 6)? == 0) || sum_ok(pseudo),
        Transport::Icmp { .. } => sum_ok(0),
        Transport::Sctp { .. } => {
            u32::from_le_bytes(arr::<4>(frame, l4 + 8)?) == sctp_checksum(seg)
        }
        _ => true,
    })
}

/// Recomputes every checksum of the parsed packet in full, in place: the IPv4 header checksum
/// (RFC 791), then the TCP / UDP / ICMPv6 checksum with its pseudo-header, the ICMP checksum or
/// the SCTP CRC32c. A UDP checksum of 0 on IPv4 ("no checksum", RFC 768) is left 0; a computed
/// UDP 0 is stored as 0xFFFF. Fragments (other than atomic ones) get only their IPv4 header
/// checksum. For building packets and test fixtures; the rewrites above never need it.
///
/// # Errors
/// [`FwdError::Truncated`] when `frame` is shorter than the parsed packet.
pub fn recompute_checksums(frame: &mut [u8], p: &Parsed) -> Result<(), FwdError> {
    use crate::checksum::{checksum, pseudo_header_v4, pseudo_header_v6};
    check_len(frame, p)?;
    let (l3, l4, end) = (p.l3, p.l4, segment_end(frame, p)?);
    let len = end.saturating_sub(l4);
    let pseudo = match (p.src, p.dst) {
        (IpAddr::V4(s), IpAddr::V4(d)) => {
            let ihl = usize::from(u8_at(frame, l3)? & 0x0f) * 4;
            set_be16(frame, l3 + 10, 0)?;
            let c = checksum(range(frame, l3, l3 + ihl)?);
            set_be16(frame, l3 + 10, c)?;
            pseudo_header_v4(s, d, p.protocol, u16::try_from(len).unwrap_or(0))
        }
        (IpAddr::V6(s), IpAddr::V6(d)) => {
            pseudo_header_v6(&s, &d, p.protocol, u32::try_from(len).unwrap_or(0))
        }
        _ => return Err(FwdError::FamilyMismatch),
    };
    if p.fragment.is_some_and(|f| f.more || f.offset != 0) {
        return Ok(());
    }
    let (off, base, zero_is_none) = match p.transport {
        Transport::Tcp { .. } => (16, pseudo, false),
        Transport::Udp { .. } => {
            if p.is_ipv4() && be16(frame, l4 + 6)? == 0 {
                return Ok(());
            }
            (6, pseudo, true)
        }
        Transport::Icmp { .. } => (2, 0, false),
        Transport::Icmpv6 { .. } => (2, pseudo, false),
        Transport::Sctp { .. } => {
            let crc = sctp_checksum(range(frame, l4, end)?);
            *arr_mut::<4>(frame, l4 + 8)? = crc.to_le_bytes();
            return Ok(());
        }
        _ => return Ok(()),
    };
    set_be16(frame, l4 + off, 0)?;
    let mut c = !fold(ones_complement_add(base, range(frame, l4, end)?));
    if zero_is_none && c == 0 {
        c = 0xffff;
    }
    set_be16(frame, l4 + off, c)
}
