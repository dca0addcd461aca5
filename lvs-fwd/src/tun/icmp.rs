//! Path MTU for tunnels: the kernel's MTU decision before encapsulation
//! (`__ip_vs_get_out_rt` / `__ip_vs_get_out_rt_v6` with `IP_VS_RT_MODE_TUNNEL`,
//! `ensure_mtu_is_adequate`, `__mtu_check_toobig_v6`), the ICMP replies it sends (`icmp_send`,
//! net/ipv4/icmp.c; `icmp6_send`, net/ipv6/icmp.c), and the relay of an ICMP error about the
//! tunnel to the client (`ip_vs_in_icmp`, net/netfilter/ipvs/ip_vs_core.c).

use super::encap::{ETH_P_IP, GRE_FLAG_C};
use super::wire::{arr, arr_mut, inner_info, ipv4, ipv6, range};
use super::{
    IPPROTO_GRE, IPPROTO_IPIP, IPPROTO_UDP, MIN_BUDGET_V4_OUTER, MIN_BUDGET_V6_OUTER, TunAddrs,
    TunError, TunKind, TunnelConfig,
};
use crate::FwdError;
use crate::checksum::{checksum, fold, ones_complement_add, pseudo_header_v6};
use std::net::{Ipv4Addr, Ipv6Addr};
use std::ops::Range;

/// ICMP type destination unreachable (RFC 792).
pub(crate) const ICMP_DEST_UNREACH: u8 = 3;
/// ICMP code fragmentation needed and DF set (RFC 792, RFC 1191).
pub(crate) const ICMP_FRAG_NEEDED: u8 = 4;
/// ICMP type source quench (RFC 792).
const ICMP_SOURCE_QUENCH: u8 = 4;
/// ICMP type time exceeded (RFC 792).
const ICMP_TIME_EXCEEDED: u8 = 11;
/// ICMPv6 type packet too big (RFC 4443 section 3.2).
pub(crate) const ICMPV6_PKT_TOOBIG: u8 = 2;
/// Largest ICMPv4 error datagram `icmp_send` builds (RFC 1812 section 4.3.2.3): 576 bytes.
const ICMPV4_ERROR_MAX: usize = 576;
/// Largest ICMPv6 error packet `icmp6_send` builds (RFC 4443 section 2.4 (c)): 1280 bytes.
const ICMPV6_ERROR_MAX: usize = 1280;

/// The kernel's MTU decision for one packet about to be tunnelled.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MtuVerdict {
    /// The encapsulated packet fits the egress MTU: encapsulate and send.
    Fits,
    /// It does not fit, but the kernel sends it anyway and lets the outer packet be fragmented
    /// (`skb->ignore_df = 1`): an IPv4 packet without DF, any IPv4 packet when `pmtu_disc` is
    /// off, or an IPv4 ICMP error being forwarded. Encapsulate; the egress must fragment.
    Fragment,
    /// Too big: drop it and answer the client with ICMP fragmentation needed (IPv4 inner) or
    /// ICMPv6 packet too big (IPv6 inner) carrying `mtu`, the MTU budget (egress MTU minus the
    /// tunnel overhead). Build it with [`build_icmpv4_error`] / [`build_icmpv6_error`].
    TooBig {
        /// Next-hop MTU for the reply, bytes.
        mtu: u32,
    },
    /// Too big, and no ICMP may be sent about it (a non-first fragment, an ICMP / ICMPv6 error,
    /// or a source that is not a single unicast host: RFC 1812 section 4.3.2.7, RFC 4443
    /// section 2.4 (e)): drop silently.
    DropTooBig {
        /// The MTU budget that was exceeded, bytes.
        mtu: u32,
    },
}

/// Decides, as `__ip_vs_get_out_rt(_v6)` + `ensure_mtu_is_adequate` do for a tunnel, what to do
/// with the inner IP packet at the start of `inner` (its own length field gives its size) whose
/// egress interface toward the RIP has MTU `egress_mtu` (bytes). `remcsum_option` says whether
/// this packet will carry the GUE remote checksum offload option.
///
/// Budget = `egress_mtu` - outer IP header (20 / 40) - tunnel header (GUE 12 (+8), GRE 4 / 8);
/// a budget below 68 (IPv4 outer) or 1280 (IPv6 outer) is [`TunError::MtuTooSmall`] (the kernel
/// drops without ICMP). The packet fits when its length <= budget. Otherwise:
/// - IPv6 inner (`__mtu_check_toobig_v6`): [`MtuVerdict::TooBig`], or
///   [`MtuVerdict::DropTooBig`] for a non-first fragment, an ICMPv6 error (type < 128) or an
///   unspecified / multicast source. The budget is sent as is, even when below 1280 (possible
///   with an IPv4 outer header), as the kernel does.
/// - IPv4 inner: with `pmtu_disc` off, or DF clear, or an ICMP error being forwarded
///   (`ip_vs_iph_icmp`): [`MtuVerdict::Fragment`]. With DF: [`MtuVerdict::TooBig`], or
///   [`MtuVerdict::DropTooBig`] when `icmp_send` would stay silent (non-first fragment, source
///   0.0.0.0, broadcast or multicast).
///
/// Errors: [`TunError::MtuTooSmall`]; the inner packet's parse errors.
pub fn check_mtu(
    inner: &[u8],
    cfg: &TunnelConfig,
    remcsum_option: bool,
    egress_mtu: u32,
) -> Result<MtuVerdict, TunError> {
    let info = inner_info(inner)?;
    let overhead = cfg.overhead(remcsum_option) as i64;
    let budget = i64::from(egress_mtu) - overhead;
    let min = match cfg.addrs {
        TunAddrs::V4 { .. } => MIN_BUDGET_V4_OUTER,
        TunAddrs::V6 { .. } => MIN_BUDGET_V6_OUTER,
    };
    if budget < i64::from(min) {
        return Err(TunError::MtuTooSmall { budget, min });
    }
    let mtu = budget as u32;
    if info.len as i64 <= budget {
        return Ok(MtuVerdict::Fits);
    }
    if info.v6 {
        let eligible = icmpv6_error_allowed(inner)?;
        Ok(if eligible {
            MtuVerdict::TooBig { mtu }
        } else {
            MtuVerdict::DropTooBig { mtu }
        })
    } else {
        if !cfg.pmtu_disc || !info.df || is_icmpv4_error(inner)? {
            return Ok(MtuVerdict::Fragment);
        }
        Ok(if icmpv4_error_allowed(inner)? {
            MtuVerdict::TooBig { mtu }
        } else {
            MtuVerdict::DropTooBig { mtu }
        })
    }
}

/// Whether the IPv4 packet `p` is an ICMP error (types 3, 4, 5, 11, 12), or an ICMP message
/// whose type byte cannot be read or is above 18 (`icmp_send` treats those as errors).
/// A non-first fragment is never one (it carries no ICMP header).
fn is_icmpv4_error(p: &[u8]) -> Result<bool, TunError> {
    let (w, total) = ipv4(p)?;
    if w.protocol != 1 || w.fragment.is_some_and(|f| f.offset != 0) {
        return Ok(false);
    }
    Ok(match range(p, 0, total)?.get(w.l4) {
        None => true,
        Some(&t) => icmp_type_is_error(t),
    })
}

/// `icmp_pointers[type].error` of net/ipv4/icmp.c, with its rule that an unknown type (above
/// `NR_ICMP_TYPES`, 18) counts as an error: destination unreachable, source quench, redirect,
/// time exceeded, parameter problem.
fn icmp_type_is_error(t: u8) -> bool {
    t > 18 || matches!(t, 3 | 4 | 5 | 11 | 12)
}

/// `icmp_send`'s own refusals (net/ipv4/icmp.c) plus RFC 1812 section 4.3.2.7: only about the
/// first fragment, never about an ICMP error, never to a source that is not one unicast host.
fn icmpv4_error_allowed(p: &[u8]) -> Result<bool, TunError> {
    let h = arr::<20>(p, 0)?;
    if u16::from_be_bytes([h[6], h[7]]) & 0x1fff != 0 || is_icmpv4_error(p)? {
        return Ok(false);
    }
    let src = Ipv4Addr::new(h[12], h[13], h[14], h[15]);
    Ok(!(src.is_unspecified() || src.is_broadcast() || src.is_multicast()))
}

/// `icmp6_send`'s refusals (net/ipv6/icmp.c, RFC 4443 section 2.4 (e)) plus IPVS's first-fragment
/// rule: not about a non-first fragment, not about an ICMPv6 error (type < 128, or unreadable),
/// not to an unspecified or multicast source.
fn icmpv6_error_allowed(p: &[u8]) -> Result<bool, TunError> {
    let (w, total) = ipv6(p)?;
    if w.fragment.is_some_and(|f| f.offset != 0) {
        return Ok(false);
    }
    if w.protocol == 58 {
        match range(p, 0, total)?.get(w.l4) {
            Some(&t) if t >= 128 => {}
            _ => return Ok(false),
        }
    }
    Ok(match w.src {
        std::net::IpAddr::V6(src) => !(src.is_unspecified() || src.is_multicast()),
        std::net::IpAddr::V4(_) => false,
    })
}

/// Addressing and header values of an ICMP reply the director builds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IcmpReplyParams<A> {
    /// Source address of the reply. The kernel uses the offending packet's destination when it
    /// is local (the VIP), else the egress address.
    pub src: A,
    /// TTL / hop limit of the reply (`net.ipv4.ip_default_ttl` / the route's hop limit; 64 by
    /// default).
    pub ttl: u8,
    /// IPv4 identification (ignored for IPv6).
    pub ip_id: u16,
}

/// Builds into `out` an ICMPv4 error about the IPv4 packet `offending` (from its IP header; it may
/// be a truncated quote) as `__icmp_send` (net/ipv4/icmp.c) does, and returns its length.
///
/// IP header: version 4, ihl 5, TOS = (offending TOS & 0x1E) | 0xC0 (`IPTOS_PREC_INTERNETCONTROL`),
/// DF clear (the ICMP socket uses `IP_PMTUDISC_DONT`), ID `params.ip_id`, TTL `params.ttl`,
/// protocol 1, source `params.src`, destination = offending source. ICMP header: type, code,
/// checksum, then `info` in network byte order (for fragmentation needed (type 3 code 4) the
/// next-hop MTU in the low 16 bits, RFC 1191 section 4; `ic->un.gateway` otherwise). Then the
/// offending packet from its IP header, as much as keeps the datagram within 576 bytes (RFC 792;
/// RFC 1812 section 4.3.2.3), limited to its own total length. IP options are not echoed.
///
/// Errors: [`FwdError::NoHeadroom`] when `out` is too small; [`FwdError::Truncated`] /
/// [`FwdError::BadHeader`] when `offending` has no complete IPv4 header.
pub fn build_icmpv4_error(
    out: &mut [u8],
    offending: &[u8],
    icmp_type: u8,
    code: u8,
    info: u32,
    params: &IcmpReplyParams<Ipv4Addr>,
) -> Result<usize, TunError> {
    let oh = arr::<20>(offending, 0)?;
    if oh[0] >> 4 != 4 {
        return Err(FwdError::UnsupportedIpVersion(oh[0] >> 4).into());
    }
    if oh[0] & 0x0f < 5 {
        return Err(super::bad("ipv4 ihl < 5"));
    }
    let declared = usize::from(u16::from_be_bytes([oh[2], oh[3]]));
    let quote_len = offending
        .len()
        .min(declared.max(20))
        .min(ICMPV4_ERROR_MAX - 28);
    let total = 28 + quote_len;
    let tos = (oh[1] & 0x1e) | 0xc0;
    let dst = [oh[12], oh[13], oh[14], oh[15]];
    let pkt = icmp_message(
        out,
        20,
        range(offending, 0, quote_len)?,
        [icmp_type, code],
        info,
    )?;
    let c = checksum(range(pkt, 20, total)?);
    arr_mut::<2>(pkt, 22)?.copy_from_slice(&c.to_be_bytes());
    let h = arr_mut::<20>(pkt, 0)?;
    h[0] = 0x45;
    h[1] = tos;
    h[2..4].copy_from_slice(&(total as u16).to_be_bytes());
    h[4..6].copy_from_slice(&params.ip_id.to_be_bytes());
    h[6] = 0;
    h[7] = 0;
    h[8] = params.ttl;
    h[9] = 1;
    h[10] = 0;
    h[11] = 0;
    h[12..16].copy_from_slice(&params.src.octets());
    h[16..20].copy_from_slice(&dst);
    let c = checksum(h);
    h[10..12].copy_from_slice(&c.to_be_bytes());
    Ok(total)
}

/// Builds into `out` an ICMPv6 error about the IPv6 packet `offending` (from its IPv6 header; it
/// may be a truncated quote) as `icmp6_send` (net/ipv6/icmp.c) does, and returns its length.
///
/// IPv6 header: traffic class 0, flow label 0 (the kernel, with `net.ipv6.auto_flowlabels` = 1,
/// puts a flow hash there, RFC 6437; receivers must not interpret it), next header 58, hop limit `params.ttl`, source
/// `params.src`, destination = offending source. ICMPv6 header: type, code, checksum (with the
/// RFC 8200 section 8.1 pseudo-header), `info` in network byte order (the MTU for packet too big,
/// RFC 4443 section 3.2). Then the offending packet, as much as keeps the reply within 1280 bytes
/// (RFC 4443 section 2.4 (c)), limited to its own length.
///
/// Errors: [`FwdError::NoHeadroom`] when `out` is too small; [`FwdError::Truncated`] when
/// `offending` has no complete IPv6 header.
pub fn build_icmpv6_error(
    out: &mut [u8],
    offending: &[u8],
    icmp_type: u8,
    code: u8,
    info: u32,
    params: &IcmpReplyParams<Ipv6Addr>,
) -> Result<usize, TunError> {
    let oh = arr::<40>(offending, 0)?;
    if oh[0] >> 4 != 6 {
        return Err(FwdError::UnsupportedIpVersion(oh[0] >> 4).into());
    }
    let declared = 40 + usize::from(u16::from_be_bytes([oh[4], oh[5]]));
    let quote_len = offending.len().min(declared).min(ICMPV6_ERROR_MAX - 48);
    let total = 48 + quote_len;
    let dst = Ipv6Addr::from(arr::<16>(offending, 8)?);
    let pkt = icmp_message(
        out,
        40,
        range(offending, 0, quote_len)?,
        [icmp_type, code],
        info,
    )?;
    let plen = (total - 40) as u32;
    let sum = pseudo_header_v6(&params.src, &dst, 58, plen);
    let c = !fold(ones_complement_add(sum, range(pkt, 40, total)?));
    arr_mut::<2>(pkt, 42)?.copy_from_slice(&c.to_be_bytes());
    let h = arr_mut::<40>(pkt, 0)?;
    h[0] = 0x60;
    h[1] = 0;
    h[2] = 0;
    h[3] = 0;
    h[4..6].copy_from_slice(&(plen as u16).to_be_bytes());
    h[6] = 58;
    h[7] = params.ttl;
    h[8..24].copy_from_slice(&params.src.octets());
    h[24..40].copy_from_slice(&dst.octets());
    Ok(total)
}

/// Writes, at `ip_len` in `out`, an ICMP / ICMPv6 header (type, code, checksum 0, `info`
/// big-endian) followed by `quote`; returns `out[..ip_len + 8 + quote.len()]` for the caller to
/// finish (checksum, IP header).
fn icmp_message<'a>(
    out: &'a mut [u8],
    ip_len: usize,
    quote: &[u8],
    type_code: [u8; 2],
    info: u32,
) -> Result<&'a mut [u8], TunError> {
    let total = ip_len + 8 + quote.len();
    let available = out.len();
    let pkt = out.get_mut(..total).ok_or(FwdError::NoHeadroom {
        needed: total,
        available,
    })?;
    let (head, body) = pkt.split_at_mut(ip_len + 8);
    body.copy_from_slice(quote);
    let i = info.to_be_bytes();
    *arr_mut::<8>(head, ip_len)? = [type_code[0], type_code[1], 0, 0, i[0], i[1], i[2], i[3]];
    Ok(pkt)
}

/// ICMP fragmentation needed (type 3 code 4, RFC 1191 section 4: next-hop MTU `mtu` in the low
/// 16 bits of the second word) about `offending`, for [`MtuVerdict::TooBig`] with an IPv4 inner
/// packet (`icmp_send(skb, ICMP_DEST_UNREACH, ICMP_FRAG_NEEDED, htonl(mtu))`). See
/// [`build_icmpv4_error`] for the layout, the quote length and the errors.
pub fn build_frag_needed(
    out: &mut [u8],
    offending: &[u8],
    mtu: u32,
    params: &IcmpReplyParams<Ipv4Addr>,
) -> Result<usize, TunError> {
    build_icmpv4_error(
        out,
        offending,
        ICMP_DEST_UNREACH,
        ICMP_FRAG_NEEDED,
        mtu,
        params,
    )
}

/// ICMPv6 packet too big (type 2 code 0, RFC 4443 section 3.2, MTU field `mtu`) about
/// `offending`, for [`MtuVerdict::TooBig`] with an IPv6 inner packet
/// (`icmpv6_send(skb, ICMPV6_PKT_TOOBIG, 0, mtu)`). See [`build_icmpv6_error`].
pub fn build_packet_too_big(
    out: &mut [u8],
    offending: &[u8],
    mtu: u32,
    params: &IcmpReplyParams<Ipv6Addr>,
) -> Result<usize, TunError> {
    build_icmpv6_error(out, offending, ICMPV6_PKT_TOOBIG, 0, mtu, params)
}

/// An ICMP error that arrived from the tunnel path and quotes one of our outer headers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TunnelIcmp {
    /// ICMP type (3, 4 or 11).
    pub icmp_type: u8,
    /// ICMP code.
    pub code: u8,
    /// The 32-bit "rest of header" (`ic->un.gateway`), host order; for fragmentation needed the
    /// next-hop MTU is its low 16 bits.
    pub info: u32,
    /// Which tunnel the quoted outer header is.
    pub kind: TunKind,
    /// Bytes of tunnel overhead the quote shows (outer IPv4 header incl. options + UDP/GUE or
    /// GRE header).
    pub overhead: usize,
    /// The quoted outer destination: the RIP.
    pub rip: Ipv4Addr,
    /// Range, in the ICMP packet, of the quoted original client packet (from its IPv4 header to
    /// the end of the ICMP message): the connection lookup key (the request direction) and the
    /// quote of the reply for the client.
    pub original: Range<usize>,
}

/// Recognises an IPv4 ICMP error about one of our tunnels, as `ip_vs_in_icmp`
/// (net/netfilter/ipvs/ip_vs_core.c) does: an IPv4 packet (header checksum valid, not a
/// fragment), protocol 1, ICMP checksum valid, type destination unreachable, source quench or
/// time exceeded, quoting an IPv4 header of protocol 4 (IPIP), 17 to `gue_port` with a GUE
/// version 0 data header of proto_ctype 4 (`ipvs_udp_decap`), or 47 with a GRE header of version
/// 0, no flag other than C, protocol 0x0800 (`ipvs_gre_decap`); UDP/GRE quotes must not be
/// non-first fragments. The quoted original must start with an IPv4 header (version 4, ihl >=
/// 5). Only IPv4 in IPv4 is handled, as in the kernel.
///
/// Errors: [`TunError::NotAboutTunnel`] for any ICMP that is not such an error (the caller
/// handles it as a normal ICMP), [`TunError::BadIcmpChecksum`], and the parse errors of the
/// outer header.
pub fn parse_tunnel_icmp(packet: &[u8], gue_port: Option<u16>) -> Result<TunnelIcmp, TunError> {
    let (w, total) = ipv4(packet)?;
    let hlen = w.l4;
    if checksum(range(packet, 0, hlen)?) != 0 {
        return Err(TunError::BadOuterChecksum);
    }
    if w.fragment.is_some() {
        return Err(FwdError::Fragment.into());
    }
    if w.protocol != 1 {
        return Err(TunError::NotAboutTunnel);
    }
    let msg = range(packet, hlen, total)?;
    let ic = arr::<8>(msg, 0)?;
    if checksum(msg) != 0 {
        return Err(TunError::BadIcmpChecksum);
    }
    let icmp_type = ic[0];
    if !matches!(
        icmp_type,
        ICMP_DEST_UNREACH | ICMP_SOURCE_QUENCH | ICMP_TIME_EXCEEDED
    ) {
        return Err(TunError::NotAboutTunnel);
    }
    let info = u32::from_be_bytes([ic[4], ic[5], ic[6], ic[7]]);
    let q = 8; // quoted outer header, offset in msg
    let cih = arr::<20>(msg, q).map_err(|_| TunError::NotAboutTunnel)?;
    if cih[0] >> 4 != 4 || cih[0] & 0x0f < 5 {
        return Err(TunError::NotAboutTunnel);
    }
    let cihl = usize::from(cih[0] & 0x0f) * 4;
    let rip = Ipv4Addr::new(cih[16], cih[17], cih[18], cih[19]);
    let t = q + cihl; // tunnel header offset in msg
    let (kind, tun_len) = match cih[9] {
        IPPROTO_IPIP => (TunKind::Ipip, 0),
        p @ (IPPROTO_UDP | IPPROTO_GRE) => {
            if u16::from_be_bytes([cih[6], cih[7]]) & 0x1fff != 0 {
                return Err(TunError::NotAboutTunnel);
            }
            if p == IPPROTO_UDP {
                let udp = arr::<8>(msg, t).map_err(|_| TunError::NotAboutTunnel)?;
                if gue_port != Some(u16::from_be_bytes([udp[2], udp[3]])) {
                    return Err(TunError::NotAboutTunnel);
                }
                let gue = arr::<4>(msg, t + 8).map_err(|_| TunError::NotAboutTunnel)?;
                // version 0, C 0 (the top three bits), proto_ctype IPIP.
                if gue[0] & 0xe0 != 0 || gue[1] != IPPROTO_IPIP {
                    return Err(TunError::NotAboutTunnel);
                }
                (TunKind::Gue, 12 + usize::from(gue[0] & 0x1f) * 4)
            } else {
                let gre = arr::<4>(msg, t).map_err(|_| TunError::NotAboutTunnel)?;
                let flags = u16::from_be_bytes([gre[0], gre[1]]);
                if flags & !GRE_FLAG_C != 0 || u16::from_be_bytes([gre[2], gre[3]]) != ETH_P_IP {
                    return Err(TunError::NotAboutTunnel);
                }
                (TunKind::Gre, if flags & GRE_FLAG_C != 0 { 8 } else { 4 })
            }
        }
        _ => return Err(TunError::NotAboutTunnel),
    };
    let o = t + tun_len;
    let orig = arr::<20>(msg, o).map_err(|_| TunError::NotAboutTunnel)?;
    if orig[0] >> 4 != 4 || orig[0] & 0x0f < 5 {
        return Err(TunError::NotAboutTunnel);
    }
    Ok(TunnelIcmp {
        icmp_type,
        code: ic[1],
        info,
        kind,
        overhead: cihl + tun_len,
        rip,
        original: hlen + o..total,
    })
}

/// Relays an ICMP error about one of our tunnels (see [`parse_tunnel_icmp`]) to the client, as the
/// tunnel branch of `ip_vs_in_icmp` does, writing the new ICMP packet into `out`; returns its
/// length, or `None` when the kernel sends nothing.
///
/// Type, code and info are kept, except for fragmentation needed: the next-hop MTU is the
/// reported one (the low 16 bits of info), or `route_mtu` when the caller knows the path MTU
/// toward the RIP after applying the report (the kernel "prefers the resulting PMTU" of its
/// route); if the original packet has no DF the client does not do PMTU discovery and nothing is
/// sent (`None`); else, when the MTU exceeds 68 + overhead, the tunnel overhead is subtracted:
/// the whole overhead the quote shows (outer IPv4 header with its options + GUE/GRE header), as
/// the kernel does since GUE/GRE tunnels exist (`mtu -= sizeof(struct iphdr) + ulen`, the outer
/// header length `hlen_ipip` in the latest kernels).
///
/// The reply quotes the original packet (what the router quoted after our tunnel headers) and
/// follows [`build_icmpv4_error`]; like `icmp_send` it is not sent (`None`) about a non-first
/// fragment, an ICMP error, or to a non-unicast source.
///
/// Errors: those of [`parse_tunnel_icmp`] and [`build_icmpv4_error`].
pub fn translate_tunnel_icmp(
    packet: &[u8],
    gue_port: Option<u16>,
    route_mtu: Option<u32>,
    params: &IcmpReplyParams<Ipv4Addr>,
    out: &mut [u8],
) -> Result<Option<usize>, TunError> {
    let t = parse_tunnel_icmp(packet, gue_port)?;
    let original = range(packet, t.original.start, t.original.end)?;
    let oh = arr::<20>(original, 0)?;
    let mut info = t.info;
    if t.icmp_type == ICMP_DEST_UNREACH && t.code == ICMP_FRAG_NEEDED {
        if oh[6] & 0x40 == 0 {
            return Ok(None);
        }
        let mut mtu = route_mtu.unwrap_or(info & 0xffff);
        let overhead = t.overhead as u32;
        if mtu > 68 + overhead {
            mtu -= overhead;
        }
        info = mtu;
    }
    // icmp_send's own checks on the original packet.
    let frag_off = u16::from_be_bytes([oh[6], oh[7]]) & 0x1fff;
    let src = Ipv4Addr::new(oh[12], oh[13], oh[14], oh[15]);
    if frag_off != 0 || src.is_unspecified() || src.is_broadcast() || src.is_multicast() {
        return Ok(None);
    }
    if oh[9] == 1 {
        let ohl = usize::from(oh[0] & 0x0f) * 4;
        match original.get(ohl) {
            Some(&ty) if !icmp_type_is_error(ty) => {}
            _ => return Ok(None),
        }
    }
    build_icmpv4_error(out, original, t.icmp_type, t.code, info, params).map(Some)
}
