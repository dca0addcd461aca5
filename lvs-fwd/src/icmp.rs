//! ICMP: rewriting ICMP errors that quote a balanced flow (net/netfilter/ipvs/ip_vs_core.c:
//! `ip_vs_in_icmp`, `handle_response_icmp`, `ip_vs_nat_icmp`, `ip_vs_nat_icmp_v6`) and building
//! ICMP Time Exceeded replies (RFC 792, RFC 4443 section 3.3; the kernel's `icmp_send` /
//! `icmp6_send` as called from `decrement_ttl` in ip_vs_xmit.c).

use std::net::IpAddr;

use crate::FwdError;
use crate::bytes::{arr, arr_mut, range, range_mut, set_be16, u8_at};
use crate::checksum::{checksum, fold, ones_complement_add, pseudo_header_v6};
use crate::parse::{
    ETHERTYPE_IPV4, ETHERTYPE_IPV6, ETHERTYPE_VLAN, FlowTuple, PROTO_ICMP, PROTO_ICMPV6,
    PROTO_SCTP, PROTO_TCP, PROTO_UDP, Parsed, Transport, ipv4, ipv6,
};
use crate::rewrite::Outcome;

/// An ICMP / ICMPv6 error message whose quoted packet is a TCP, UDP or SCTP packet: the
/// offsets of the quote and its flow tuple, from [`parse_icmp_error`]. `Copy`, no borrow.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IcmpErrorView {
    icmp: usize,
    inner_l3: usize,
    inner_hlen: usize,
    inner_l4: usize,
    inner: FlowTuple,
}

impl IcmpErrorView {
    /// The flow tuple of the quoted packet, in the quoted packet's own direction (the packet
    /// the error is about). Inbound (from the client side) it is VIP:vport -> CIP:cport for
    /// NAT; outbound (from a real server) CIP:cport -> RIP:rport. Look the connection up with
    /// it reversed, as `ip_vs_in_icmp` does.
    #[must_use]
    pub fn inner_flow(&self) -> FlowTuple {
        self.inner
    }
    /// Byte offset of the ICMP header in the frame.
    #[must_use]
    pub fn icmp_offset(&self) -> usize {
        self.icmp
    }
    /// Byte offset of the quoted IP header in the frame.
    #[must_use]
    pub fn inner_l3_offset(&self) -> usize {
        self.inner_l3
    }
    /// Byte offset of the quoted transport header in the frame.
    #[must_use]
    pub fn inner_l4_offset(&self) -> usize {
        self.inner_l4
    }
}

/// Recognises an ICMP error that IPVS treats as related to a connection and parses its quote:
/// IPv4 Destination Unreachable (3, fragmentation needed included), Source Quench (4) and Time
/// Exceeded (11), the set `ip_vs_in_icmp` / `ip_vs_out_icmp` accept; every ICMPv6 error
/// (type < 128, `ip_vs_in_icmp_v6`). The quote must hold the inner IP header (same family as
/// the outer one) and the first 8 bytes of a TCP, UDP or SCTP header (RFC 792); the inner
/// Total Length may exceed the quote.
///
/// # Errors
/// [`FwdError::NotIcmpError`] (not one of those messages), [`FwdError::Fragment`] (the outer
/// packet is a fragment, or the quote is a non-first fragment), [`FwdError::UnsupportedProtocol`]
/// (quote not TCP/UDP/SCTP), [`FwdError::UnsupportedIpVersion`], [`FwdError::Truncated`],
/// [`FwdError::BadHeader`], [`FwdError::ExtensionHeaderChain`].
pub fn parse_icmp_error(frame: &[u8], p: &Parsed) -> Result<IcmpErrorView, FwdError> {
    let v4 = p.is_ipv4();
    match p.transport {
        Transport::Icmp {
            icmp_type: 3 | 4 | 11,
            ..
        } => {}
        Transport::Icmpv6 { icmp_type, .. } if icmp_type < 128 => {}
        Transport::NonFirstFragment => return Err(FwdError::Fragment),
        _ => return Err(FwdError::NotIcmpError),
    }
    if p.fragment.is_some_and(|f| f.more || f.offset != 0) {
        return Err(FwdError::Fragment);
    }
    let limit = p.end.min(frame.len());
    let inner_l3 = p.l4 + 8;
    let (w, _) = if v4 {
        ipv4(frame, inner_l3, limit, true)?
    } else {
        ipv6(frame, inner_l3, limit, true)?
    };
    if w.fragment.is_some_and(|f| f.offset != 0) {
        return Err(FwdError::Fragment);
    }
    if !matches!(w.protocol, PROTO_TCP | PROTO_UDP | PROTO_SCTP) {
        return Err(FwdError::UnsupportedProtocol(w.protocol));
    }
    let ports: [u8; 8] = arr(range(frame, 0, limit)?, w.l4)?;
    Ok(IcmpErrorView {
        icmp: p.l4,
        inner_l3,
        inner_hlen: w.l4 - inner_l3,
        inner_l4: w.l4,
        inner: FlowTuple {
            protocol: w.protocol,
            src: w.src,
            src_port: u16::from_be_bytes([ports[0], ports[1]]),
            dst: w.dst,
            dst_port: u16::from_be_bytes([ports[2], ports[3]]),
        },
    })
}

/// Writes `addr` at `off` (4 or 16 bytes by family).
fn put_addr(b: &mut [u8], off: usize, addr: IpAddr) -> Result<(), FwdError> {
    match addr {
        IpAddr::V4(a) => *arr_mut::<4>(b, off)? = a.octets(),
        IpAddr::V6(a) => *arr_mut::<16>(b, off)? = a.octets(),
    }
    Ok(())
}

/// Recomputes the IPv4 header checksum of the header at `l3` of length `hlen` in full
/// (`ip_send_check`).
fn ipv4_send_check(b: &mut [u8], l3: usize, hlen: usize) -> Result<(), FwdError> {
    set_be16(b, l3 + 10, 0)?;
    let c = checksum(range(b, l3, l3 + hlen)?);
    set_be16(b, l3 + 10, c)
}

/// The shared engine of the four ICMP-error rewrites: new outer addresses, new inner
/// addresses and ports, TTL decrement, inner IPv4 header checksum and the whole ICMP checksum
/// recomputed (`ip_vs_nat_icmp`); the inner L4 checksum is left as quoted.
#[allow(clippy::too_many_arguments)]
fn rewrite_icmp(
    frame: &mut [u8],
    p: &Parsed,
    e: &IcmpErrorView,
    outer_src: Option<IpAddr>,
    outer_dst: Option<IpAddr>,
    inner_src: Option<(IpAddr, u16)>,
    inner_dst: Option<(IpAddr, u16)>,
) -> Result<Outcome, FwdError> {
    if frame.len() < p.end || e.inner_l4 + 8 > p.end || e.icmp != p.l4 {
        return Err(FwdError::Truncated {
            needed: p.end.max(e.inner_l4 + 8),
            got: frame.len(),
        });
    }
    let v4 = p.is_ipv4();
    let addrs = outer_src
        .iter()
        .chain(outer_dst.iter())
        .chain(inner_src.iter().map(|x| &x.0))
        .chain(inner_dst.iter().map(|x| &x.0));
    for a in addrs {
        if a.is_ipv4() != v4 {
            return Err(FwdError::FamilyMismatch);
        }
    }
    if outer_dst.is_some_and(|a| a.is_loopback()) {
        return Err(FwdError::LoopbackDestination);
    }
    if p.hop_limit <= 1 {
        return Ok(Outcome::TimeExceeded);
    }
    let l3 = p.l3;
    let (so, dof) = if v4 { (12, 16) } else { (8, 24) };
    if let Some(a) = outer_src {
        put_addr(frame, l3 + so, a)?;
    }
    if let Some(a) = outer_dst {
        put_addr(frame, l3 + dof, a)?;
    }
    let il3 = e.inner_l3;
    if let Some((a, port)) = inner_src {
        put_addr(frame, il3 + so, a)?;
        set_be16(frame, e.inner_l4, port)?;
    }
    if let Some((a, port)) = inner_dst {
        put_addr(frame, il3 + dof, a)?;
        set_be16(frame, e.inner_l4 + 2, port)?;
    }
    let icmp = e.icmp;
    set_be16(frame, icmp + 2, 0)?;
    if v4 {
        let ttl = arr_mut::<1>(frame, l3 + 8)?;
        ttl[0] = ttl[0].wrapping_sub(1);
        let hlen = usize::from(u8_at(frame, l3)? & 0x0f) * 4;
        ipv4_send_check(frame, l3, hlen)?;
        ipv4_send_check(frame, il3, e.inner_hlen)?;
        let c = checksum(range(frame, icmp, p.end)?);
        set_be16(frame, icmp + 2, c)?;
    } else {
        let h = arr_mut::<1>(frame, l3 + 7)?;
        h[0] = h[0].wrapping_sub(1);
        let src = std::net::Ipv6Addr::from(arr::<16>(frame, l3 + 8)?);
        let dst = std::net::Ipv6Addr::from(arr::<16>(frame, l3 + 24)?);
        let msg = range(frame, icmp, p.end)?;
        let len = u32::try_from(msg.len()).unwrap_or(u32::MAX);
        let c = !fold(ones_complement_add(
            pseudo_header_v6(&src, &dst, PROTO_ICMPV6, len),
            msg,
        ));
        set_be16(frame, icmp + 2, c)?;
    }
    Ok(Outcome::Forward)
}

/// NAT, an ICMP error from the client side about a reply (`ip_vs_in_icmp` ->
/// `ip_vs_nat_icmp(.., inout = 0)`): outer daddr := RIP, inner saddr := RIP, inner sport :=
/// rport; TTL decremented; inner IPv4 header checksum and ICMP checksum recomputed.
///
/// # Errors
/// [`FwdError::FamilyMismatch`], [`FwdError::LoopbackDestination`] (new outer destination in
/// 127.0.0.0/8 or ::1), [`FwdError::Truncated`] (frame or view do not belong to each other). The frame is unchanged on error and on [`Outcome::TimeExceeded`] (drop it: no ICMP
/// is sent about an ICMP error).
pub fn nat_icmp_in(
    frame: &mut [u8],
    p: &Parsed,
    e: &IcmpErrorView,
    rip: IpAddr,
    rport: u16,
) -> Result<Outcome, FwdError> {
    rewrite_icmp(frame, p, e, None, Some(rip), Some((rip, rport)), None)
}

/// NAT, an ICMP error from a real server about a client packet (`handle_response_icmp` ->
/// `ip_vs_nat_icmp(.., inout = 1)`): outer saddr := VIP, inner daddr := VIP, inner dport :=
/// vport.
///
/// # Errors
/// As [`nat_icmp_in`].
pub fn nat_icmp_out(
    frame: &mut [u8],
    p: &Parsed,
    e: &IcmpErrorView,
    vip: IpAddr,
    vport: u16,
) -> Result<Outcome, FwdError> {
    rewrite_icmp(frame, p, e, Some(vip), None, None, Some((vip, vport)))
}

/// FULLNAT, an ICMP error from the client side about a reply VIP:vport -> CIP:cport: outer
/// LIP -> RIP; the quote becomes the packet the real server sent, RIP:rport -> LIP:lport.
///
/// # Errors
/// As [`nat_icmp_in`].
#[allow(clippy::too_many_arguments)]
pub fn fullnat_icmp_in(
    frame: &mut [u8],
    p: &Parsed,
    e: &IcmpErrorView,
    lip: IpAddr,
    lport: u16,
    rip: IpAddr,
    rport: u16,
) -> Result<Outcome, FwdError> {
    rewrite_icmp(
        frame,
        p,
        e,
        Some(lip),
        Some(rip),
        Some((rip, rport)),
        Some((lip, lport)),
    )
}

/// FULLNAT, an ICMP error from a real server about LIP:lport -> RIP:rport: outer VIP -> CIP;
/// the quote becomes the client's packet, CIP:cport -> VIP:vport.
///
/// # Errors
/// As [`nat_icmp_in`].
#[allow(clippy::too_many_arguments)]
pub fn fullnat_icmp_out(
    frame: &mut [u8],
    p: &Parsed,
    e: &IcmpErrorView,
    vip: IpAddr,
    vport: u16,
    cip: IpAddr,
    cport: u16,
) -> Result<Outcome, FwdError> {
    rewrite_icmp(
        frame,
        p,
        e,
        Some(vip),
        Some(cip),
        Some((cip, cport)),
        Some((vip, vport)),
    )
}

/// Default TTL / hop limit of ICMP messages we originate (sysctl `net.ipv4.ip_default_ttl`
/// and the IPv6 default hop limit, both 64).
pub const ICMP_TTL: u8 = 64;
/// IPv6 minimum MTU: an ICMPv6 error quotes as much of the packet as keeps it within this
/// (RFC 4443 section 2.4 (c)).
pub const IPV6_MIN_MTU: usize = 1280;

/// Builds an ICMP Time Exceeded (IPv4 type 11 code 0, RFC 792) or ICMPv6 Time Exceeded (type
/// 3 code 0, RFC 4443 section 3.3) for the sender of the parsed `frame`, as an Ethernet frame
/// in `out`: MACs swapped (back to the hop that sent it), the 802.1Q tag kept, IP source
/// `src` (the director's address, chosen by the caller), destination the packet's source,
/// TTL / hop limit 64. IPv4: TOS = (original TOS & 0x1E) | 0xC0 (`icmp_send`), ID 0, DF clear,
/// quote = the original IP header + 8 bytes (RFC 792). IPv6: quote = as much of the original
/// packet as fits in 1280 bytes. Returns the frame length written.
///
/// Read the frame before any rewrite (the rewrites leave it untouched on
/// [`Outcome::TimeExceeded`]). Rate limiting (`icmp_ratelimit`) is the caller's.
///
/// # Errors
/// [`FwdError::IcmpAboutIcmpError`] (never for ICMP errors), [`FwdError::Fragment`] (never for
/// an IPv4 non-first fragment), [`FwdError::NoIcmpReply`] (multicast / broadcast destination,
/// unspecified or multicast source), [`FwdError::FamilyMismatch`] (`src` of the other family),
/// [`FwdError::NoHeadroom`] (`out` too small), [`FwdError::Truncated`].
pub fn time_exceeded(
    frame: &[u8],
    p: &Parsed,
    src: IpAddr,
    out: &mut [u8],
) -> Result<usize, FwdError> {
    if frame.len() < p.end {
        return Err(FwdError::Truncated {
            needed: p.end,
            got: frame.len(),
        });
    }
    if p.is_icmp_error() {
        return Err(FwdError::IcmpAboutIcmpError);
    }
    if src.is_ipv4() != p.is_ipv4() {
        return Err(FwdError::FamilyMismatch);
    }
    let l3 = p.l3;
    let (eth_type, quote_len, hdr) = match (p.src, p.dst) {
        (IpAddr::V4(s), IpAddr::V4(d)) => {
            if p.fragment.is_some_and(|f| f.offset != 0) {
                return Err(FwdError::Fragment);
            }
            if d.is_multicast() || d.is_broadcast() {
                return Err(FwdError::NoIcmpReply("multicast or broadcast destination"));
            }
            if s.is_unspecified() || s.is_multicast() || s.is_broadcast() {
                return Err(FwdError::NoIcmpReply("source does not name one host"));
            }
            let ihl = usize::from(u8_at(frame, l3)? & 0x0f) * 4;
            (ETHERTYPE_IPV4, (ihl + 8).min(p.end - l3), 20)
        }
        (IpAddr::V6(s), IpAddr::V6(d)) => {
            if d.is_multicast() {
                return Err(FwdError::NoIcmpReply("multicast destination"));
            }
            if s.is_unspecified() || s.is_multicast() {
                return Err(FwdError::NoIcmpReply("source does not name one host"));
            }
            (ETHERTYPE_IPV6, (p.end - l3).min(IPV6_MIN_MTU - 48), 40)
        }
        _ => return Err(FwdError::FamilyMismatch),
    };
    let ip_len = hdr + 8 + quote_len;
    let total = l3 + ip_len;
    if out.len() < total {
        return Err(FwdError::NoHeadroom {
            needed: total,
            available: out.len(),
        });
    }
    // Ethernet: back to the sender's MAC, from the MAC it addressed; VLAN tag kept.
    let macs: [u8; 12] = arr(frame, 0)?;
    let o = arr_mut::<12>(out, 0)?;
    o[..6].copy_from_slice(&macs[6..]);
    o[6..].copy_from_slice(&macs[..6]);
    if let Some(tci) = p.vlan {
        set_be16(out, 12, ETHERTYPE_VLAN)?;
        set_be16(out, 14, tci)?;
    }
    set_be16(out, l3 - 2, eth_type)?;
    let icmp = l3 + hdr;
    range_mut(out, icmp + 8, total)?.copy_from_slice(range(frame, l3, l3 + quote_len)?);
    *arr_mut::<8>(out, icmp)? = [0; 8];
    match (src, p.src) {
        (IpAddr::V4(s), IpAddr::V4(d)) => {
            let tos = (u8_at(frame, l3 + 1)? & 0x1e) | 0xc0;
            let len = u16::try_from(ip_len).unwrap_or(u16::MAX).to_be_bytes();
            let (so, dof) = (s.octets(), d.octets());
            *arr_mut::<20>(out, l3)? = [
                0x45, tos, len[0], len[1], 0, 0, 0, 0, ICMP_TTL, PROTO_ICMP, 0, 0, so[0], so[1],
                so[2], so[3], dof[0], dof[1], dof[2], dof[3],
            ];
            ipv4_send_check(out, l3, 20)?;
            *arr_mut::<1>(out, icmp)? = [11];
            let c = checksum(range(out, icmp, total)?);
            set_be16(out, icmp + 2, c)?;
        }
        (IpAddr::V6(s), IpAddr::V6(d)) => {
            let plen = u16::try_from(8 + quote_len)
                .unwrap_or(u16::MAX)
                .to_be_bytes();
            *arr_mut::<8>(out, l3)? = [0x60, 0, 0, 0, plen[0], plen[1], PROTO_ICMPV6, ICMP_TTL];
            *arr_mut::<16>(out, l3 + 8)? = s.octets();
            *arr_mut::<16>(out, l3 + 24)? = d.octets();
            *arr_mut::<1>(out, icmp)? = [3];
            let msg = range(out, icmp, total)?;
            let len = u32::try_from(msg.len()).unwrap_or(u32::MAX);
            let c = !fold(ones_complement_add(
                pseudo_header_v6(&s, &d, PROTO_ICMPV6, len),
                msg,
            ));
            set_be16(out, icmp + 2, c)?;
        }
        _ => return Err(FwdError::FamilyMismatch),
    }
    Ok(total)
}
