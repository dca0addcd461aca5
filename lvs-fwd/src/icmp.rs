//! ICMP: rewriting ICMP errors that quote a balanced flow (net/netfilter/ipvs/ip_vs_core.c:
//! `ip_vs_in_icmp`, `handle_response_icmp`, `ip_vs_nat_icmp`, `ip_vs_nat_icmp_v6`) and building
//! the ICMP errors the director originates: Time Exceeded (RFC 792, RFC 4443 section 3.3;
//! `decrement_ttl` in ip_vs_xmit.c) and Port Unreachable (RFC 792, RFC 4443 section 3.1;
//! `ip_vs_leave` in ip_vs_core.c), both as the kernel's `icmp_send` / `icmp6_send` build them.

use std::net::IpAddr;

use crate::FwdError;
use crate::bytes::{arr, arr_mut, range, set_be16, u8_at};
use crate::checksum::{checksum, fold, ones_complement_add, pseudo_header_v6};
use crate::parse::{
    ETHERTYPE_IPV4, ETHERTYPE_IPV6, ETHERTYPE_VLAN, FlowTuple, PROTO_ICMPV6, PROTO_SCTP, PROTO_TCP,
    PROTO_UDP, Parsed, Transport, ipv4, ipv6,
};
use crate::rewrite::Outcome;
use crate::tun::{IcmpReplyParams, TunError, build_icmpv4_error, build_icmpv6_error};

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
    let (inner_l4, inner) = quote_at(frame, inner_l3, limit, v4)?;
    Ok(IcmpErrorView {
        icmp: p.l4,
        inner_l3,
        inner_hlen: inner_l4 - inner_l3,
        inner_l4,
        inner,
    })
}

/// The quoted IP packet at `l3` of `frame` (family `v4`, bounded by `limit`, possibly
/// truncated as a quote is): offset of its transport header and its flow tuple. Refuses a
/// non-first fragment and anything but TCP, UDP and SCTP (the protocols IPVS balances).
fn quote_at(
    frame: &[u8],
    l3: usize,
    limit: usize,
    v4: bool,
) -> Result<(usize, FlowTuple), FwdError> {
    let (w, _) = if v4 {
        ipv4(frame, l3, limit, true)?
    } else {
        ipv6(frame, l3, limit, true)?
    };
    if w.fragment.is_some_and(|f| f.offset != 0) {
        return Err(FwdError::Fragment);
    }
    if !matches!(w.protocol, PROTO_TCP | PROTO_UDP | PROTO_SCTP) {
        return Err(FwdError::UnsupportedProtocol(w.protocol));
    }
    let ports: [u8; 8] = arr(range(frame, 0, limit)?, w.l4)?;
    Ok((
        w.l4,
        FlowTuple {
            protocol: w.protocol,
            src: w.src,
            src_port: u16::from_be_bytes([ports[0], ports[1]]),
            dst: w.dst,
            dst_port: u16::from_be_bytes([ports[2], ports[3]]),
        },
    ))
}

/// The flow tuple of a quoted IP packet: `quote` starts at an IPv4 or IPv6 header (the
/// version nibble decides) and may end anywhere after the first 8 bytes of its TCP, UDP or
/// SCTP header, as in an ICMP error's payload (RFC 792: "Internet Header + 64 bits of
/// Original Data Datagram"). The same rules as the quote of [`parse_icmp_error`]; used for
/// the original client packet inside an ICMP error about a tunnel packet
/// ([`crate::tun::parse_tunnel_icmp`]'s `original`), the key `ip_vs_in_icmp` looks the
/// connection up with.
///
/// # Errors
/// [`FwdError::UnsupportedIpVersion`], [`FwdError::Fragment`] (a non-first fragment),
/// [`FwdError::UnsupportedProtocol`] (not TCP/UDP/SCTP), [`FwdError::Truncated`],
/// [`FwdError::BadHeader`], [`FwdError::ExtensionHeaderChain`].
pub fn quoted_flow(quote: &[u8]) -> Result<FlowTuple, FwdError> {
    let v4 = match u8_at(quote, 0)? >> 4 {
        4 => true,
        6 => false,
        v => return Err(FwdError::UnsupportedIpVersion(v)),
    };
    quote_at(quote, 0, quote.len(), v4).map(|(_, f)| f)
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

/// Which ICMP error [`error_reply`] builds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorReply {
    /// Time exceeded in transit: ICMP type 11 code 0 (RFC 792), ICMPv6 type 3 code 0 (RFC 4443
    /// section 3.3); ip_vs_xmit.c `decrement_ttl` sends it at TTL / hop limit <= 1.
    TimeExceeded,
    /// Port unreachable: ICMP type 3 code 3 (RFC 792), ICMPv6 type 1 code 4 (RFC 4443 section
    /// 3.1); ip_vs_core.c `ip_vs_leave` sends it when a virtual service has no real server for
    /// a new connection.
    PortUnreachable,
    /// Too big for the next hop: ICMP type 3 code 4, fragmentation needed and DF set, with the
    /// next-hop MTU in the low 16 bits of the second word (RFC 1191 section 4); ICMPv6 type 2
    /// code 0, packet too big, with the 32-bit MTU (RFC 4443 section 3.2). ip_vs_xmit.c
    /// `ensure_mtu_is_adequate` sends it when a packet does not fit the route toward the real
    /// server.
    TooBig {
        /// The MTU to report, bytes (IPv4: at most 65535 is carried).
        mtu: u32,
    },
}

impl ErrorReply {
    /// The (type, code) pair of this error for an IPv4 (`ipv6` false) or IPv6 packet.
    #[must_use]
    pub fn type_code(self, ipv6: bool) -> (u8, u8) {
        match (self, ipv6) {
            (ErrorReply::TimeExceeded, false) => (11, 0),
            (ErrorReply::TimeExceeded, true) => (3, 0),
            (ErrorReply::PortUnreachable, false) => (3, 3),
            (ErrorReply::PortUnreachable, true) => (1, 4),
            (ErrorReply::TooBig { .. }, false) => (3, 4),
            (ErrorReply::TooBig { .. }, true) => (2, 0),
        }
    }

    /// The ICMP header's second word (host order): the MTU for [`ErrorReply::TooBig`] (IPv4:
    /// clamped to 16 bits, the high 16 "unused" bits zero), 0 otherwise.
    #[must_use]
    pub fn info(self, ipv6: bool) -> u32 {
        match self {
            ErrorReply::TooBig { mtu } if ipv6 => mtu,
            ErrorReply::TooBig { mtu } => mtu.min(0xffff),
            _ => 0,
        }
    }
}

/// Builds the ICMP / ICMPv6 error `kind` for the sender of the parsed `frame`, as an Ethernet
/// frame in `out`, the way the kernel's `icmp_send` (net/ipv4/icmp.c) / `icmp6_send`
/// (net/ipv6/icmp.c) build it, and returns the frame length written.
///
/// Ethernet: MACs swapped (back to the hop that sent it), the 802.1Q tag kept. IP: source
/// `src` (chosen by the caller: the kernel uses the packet's destination when it is a local
/// address such as the VIP), destination the packet's source, TTL / hop limit 64 ([`ICMP_TTL`]).
/// IPv4: TOS = (original TOS & 0x1E) | 0xC0, ID 0, DF clear, and the quote is as much of the
/// original datagram as keeps the ICMP datagram within 576 bytes (RFC 1812 section 4.3.2.3;
/// at least the RFC 792 "Internet Header + 64 bits", more when the packet has more). IPv6:
/// traffic class and flow label 0, the quote as much of the packet as keeps the reply within
/// 1280 bytes (RFC 4443 section 2.4 (c)). Layout and checksums are those of
/// [`crate::tun::build_icmpv4_error`] / [`crate::tun::build_icmpv6_error`], which this calls.
///
/// Never about an ICMP error, an IPv4 non-first fragment, a packet sent to a link-layer or IP
/// broadcast / multicast address, or from an address that does not name one host (RFC 1122
/// section 3.2.2; `icmp_send`'s `pkt_type != PACKET_HOST` and `RTCF_BROADCAST |
/// RTCF_MULTICAST` checks; RFC 4443 section 2.4 (e)). Read the frame before any rewrite (the
/// rewrites leave it untouched on [`Outcome::TimeExceeded`]). Rate limiting
/// (`icmp_ratelimit`) is the caller's.
///
/// # Errors
/// [`FwdError::IcmpAboutIcmpError`], [`FwdError::Fragment`] (an IPv4 non-first fragment),
/// [`FwdError::NoIcmpReply`] (broadcast / multicast destination, link-layer included;
/// unspecified, broadcast or multicast source), [`FwdError::FamilyMismatch`] (`src` of the
/// other family), [`FwdError::NoHeadroom`] (`out` too small: `needed` is the whole frame),
/// [`FwdError::Truncated`] (`frame` shorter than `p` says).
pub fn error_reply(
    frame: &[u8],
    p: &Parsed,
    src: IpAddr,
    kind: ErrorReply,
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
    match (p.src, p.dst) {
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
        }
        (IpAddr::V6(s), IpAddr::V6(d)) => {
            if d.is_multicast() {
                return Err(FwdError::NoIcmpReply("multicast destination"));
            }
            if s.is_unspecified() || s.is_multicast() {
                return Err(FwdError::NoIcmpReply("source does not name one host"));
            }
        }
        _ => return Err(FwdError::FamilyMismatch),
    }
    // Ethernet: back to the sender's MAC, from the MAC it addressed; VLAN tag kept.
    let macs: [u8; 12] = arr(frame, 0)?;
    if macs[0] & 1 != 0 {
        return Err(FwdError::NoIcmpReply(
            "link-layer broadcast or multicast destination",
        ));
    }
    let l3 = p.l3;
    let offending = range(frame, l3, p.end)?;
    let (icmp_type, code) = kind.type_code(!p.is_ipv4());
    let info = kind.info(!p.is_ipv4());
    let room = out.len();
    let (head, ip_out) = out.split_at_mut_checked(l3).ok_or(FwdError::NoHeadroom {
        needed: l3 + 28,
        available: room,
    })?;
    let built = match src {
        IpAddr::V4(s) => build_icmpv4_error(ip_out, offending, icmp_type, code, info, &params(s)),
        IpAddr::V6(s) => build_icmpv6_error(ip_out, offending, icmp_type, code, info, &params(s)),
    };
    let n = built.map_err(|e| match e {
        TunError::Fwd(FwdError::NoHeadroom { needed, .. }) => FwdError::NoHeadroom {
            needed: l3 + needed,
            available: room,
        },
        TunError::Fwd(f) => f,
        _ => FwdError::BadHeader("icmp error about a packet without an ip header"),
    })?;
    let o = arr_mut::<12>(head, 0)?;
    o[..6].copy_from_slice(&macs[6..]);
    o[6..].copy_from_slice(&macs[..6]);
    if let Some(tci) = p.vlan {
        set_be16(head, 12, ETHERTYPE_VLAN)?;
        set_be16(head, 14, tci)?;
    }
    set_be16(
        head,
        l3 - 2,
        if p.is_ipv4() {
            ETHERTYPE_IPV4
        } else {
            ETHERTYPE_IPV6
        },
    )?;
    Ok(l3 + n)
}

/// The header values of the errors we originate: source `src`, TTL / hop limit 64, ID 0.
fn params<A>(src: A) -> IcmpReplyParams<A> {
    IcmpReplyParams {
        src,
        ttl: ICMP_TTL,
        ip_id: 0,
    }
}

/// Builds an ICMP Time Exceeded (IPv4 type 11 code 0, RFC 792) or ICMPv6 Time Exceeded (type
/// 3 code 0, RFC 4443 section 3.3) for the sender of the parsed `frame`, as an Ethernet frame
/// in `out`: [`error_reply`] with [`ErrorReply::TimeExceeded`] (see it for the layout, the
/// quote length and the refusals). Returns the frame length written.
///
/// # Errors
/// As [`error_reply`].
pub fn time_exceeded(
    frame: &[u8],
    p: &Parsed,
    src: IpAddr,
    out: &mut [u8],
) -> Result<usize, FwdError> {
    error_reply(frame, p, src, ErrorReply::TimeExceeded, out)
}

/// Builds an ICMP Port Unreachable (IPv4 type 3 code 3, RFC 792) or ICMPv6 Port Unreachable
/// (type 1 code 4, RFC 4443 section 3.1) for the sender of the parsed `frame`, as an Ethernet
/// frame in `out`: what `ip_vs_leave` (net/netfilter/ipvs/ip_vs_core.c) sends, "no matter it
/// is TCP/UDP", when a virtual service has no real server for a new connection.
/// [`error_reply`] with [`ErrorReply::PortUnreachable`]; returns the frame length written.
///
/// # Errors
/// As [`error_reply`].
pub fn port_unreachable(
    frame: &[u8],
    p: &Parsed,
    src: IpAddr,
    out: &mut [u8],
) -> Result<usize, FwdError> {
    error_reply(frame, p, src, ErrorReply::PortUnreachable, out)
}
