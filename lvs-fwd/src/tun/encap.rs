//! Encapsulation in place, into caller-supplied headroom (net/netfilter/ipvs/ip_vs_xmit.c:
//! `ip_vs_tunnel_xmit`, `ip_vs_tunnel_xmit_v6`, `ipvs_gue_encap`, `ipvs_gre_encap`).

use super::wire::{arr_mut, inner_info, range};
use super::{
    DEFAULT_LOCAL_PORT_RANGE, EncapMeta, GueCsum, IPPROTO_GRE, IPPROTO_IPIP, IPPROTO_IPV6,
    IPPROTO_UDP, PartialCsum, TunAddrs, TunError, TunType, TunnelConfig, ecn_encapsulate,
};
use crate::FwdError;
use crate::checksum::{checksum, fold, ones_complement_add, pseudo_header_v4, pseudo_header_v6};
use std::ops::Range;

/// GRE flag: checksum present (RFC 2784 section 2.1, bit 0).
pub(crate) const GRE_FLAG_C: u16 = 0x8000;
/// GRE flag: routing present (RFC 1701 R bit).
pub(crate) const GRE_FLAG_R: u16 = 0x4000;
/// GRE flag: key present (RFC 2890 section 2).
pub(crate) const GRE_FLAG_K: u16 = 0x2000;
/// GRE flag: sequence number present (RFC 2890 section 2).
pub(crate) const GRE_FLAG_S: u16 = 0x1000;
/// GRE version bits.
pub(crate) const GRE_VERSION_MASK: u16 = 0x0007;
/// EtherType of IPv4 as GRE protocol type.
pub(crate) const ETH_P_IP: u16 = 0x0800;
/// EtherType of IPv6 as GRE protocol type.
pub(crate) const ETH_P_IPV6: u16 = 0x86DD;
/// GUE standard flag: private flags present (`GUE_FLAG_PRIV`).
pub(crate) const GUE_FLAG_PRIV: u16 = 0x0001;
/// GUE private flag: remote checksum offload (`GUE_PFLAG_REMCSUM`).
pub(crate) const GUE_PFLAG_REMCSUM: u32 = 0x8000_0000;

/// The GUE UDP source port for a flow hash, as `udp_flow_src_port(net, skb, 0, 0, false)`
/// (include/net/udp.h) computes it: `hash ^= hash << 16`, then
/// `((hash as u64 * (max - min)) >> 32) + min` over the local port range (`range`, low and
/// high; low >= high selects the default 32768..60999). The result lies in `[low, high)`.
#[inline]
#[must_use]
pub fn gue_source_port(flow_hash: u32, range: (u16, u16)) -> u16 {
    let (min, max) = if range.0 >= range.1 {
        DEFAULT_LOCAL_PORT_RANGE
    } else {
        range
    };
    let hash = flow_hash ^ (flow_hash << 16);
    let span = u64::from(max - min);
    ((u64::from(hash) * span) >> 32) as u16 + min
}

/// Encapsulates, in place, the inner IP packet that starts at `buf[inner_start]`, for the real
/// server described by `cfg`; returns the range of `buf` holding the finished outer packet
/// (`inner_start - overhead .. inner_start + inner length`).
///
/// The inner packet's length is read from its own header (IPv4 total length, IPv6 payload
/// length + 40); bytes after it are left alone. The outer header(s) go into the headroom
/// `buf[..inner_start]`; nothing outside the returned range is written, and nothing at all is
/// written on error. The inner packet itself is not modified (the kernel's `ip_send_check` of the
/// inner IPv4 header is a no-op on a packet whose checksum is valid; the caller decrements
/// the inner TTL before, see the module docs).
///
/// Outer header as the kernel writes it:
/// - IPv4 (`ip_vs_tunnel_xmit`): version 4, ihl 5, TOS = [`ecn_encapsulate`] of the inner DS
///   field, total length, ID = `meta.ip_id` (0 when DF is set, `ip_select_ident_segs`), DF copied
///   from an IPv4 inner packet when `cfg.pmtu_disc` (never for IPv6 inner), MF/offset 0, TTL =
///   inner TTL / hop limit, protocol 4 / 41 / 17 (GUE) / 47 (GRE), header checksum, saddr =
///   route source, daddr = RIP.
/// - IPv6 (`ip_vs_tunnel_xmit_v6`): version 6, traffic class = [`ecn_encapsulate`] of the inner
///   DS field, flow label 0, payload length, next header as above, hop limit = inner TTL.
/// - GUE (`ipvs_gue_encap`): UDP source port [`gue_source_port`], destination port `--tun-port`,
///   length, checksum per [`GueCsum`] (0 with `--tun-nocsum`, a computed 0 sent as 0xFFFF);
///   GUE version 0, C = 0, hlen = option words, proto_ctype 4 / 41, flags 0 or `GUE_FLAG_PRIV`
///   with the remote checksum offload option (private flag `GUE_PFLAG_REMCSUM`, then
///   csum_start and csum_start + csum_offset relative to the inner packet).
/// - GRE (`ipvs_gre_encap` / `gre_build_header`): flags C when `csum`, version 0, protocol
///   0x0800 / 0x86DD, then checksum + reserved1 (0) over the GRE header and payload.
///
/// Errors: [`FwdError::NoHeadroom`] when `inner_start` is smaller than the overhead;
/// [`FwdError::Truncated`] / [`FwdError::BadHeader`] / [`FwdError::UnsupportedIpVersion`] for a
/// malformed inner packet; [`TunError::TooLong`] when the outer length field would overflow;
/// [`TunError::GueRemcsum`] when `meta.partial_csum` points outside the inner packet.
pub fn encapsulate(
    buf: &mut [u8],
    inner_start: usize,
    cfg: &TunnelConfig,
    meta: &EncapMeta,
) -> Result<Range<usize>, TunError> {
    let inner_slice = buf.get(inner_start..).ok_or(FwdError::Truncated {
        needed: inner_start,
        got: buf.len(),
    })?;
    let inner = inner_info(inner_slice)?;
    let partial = match (cfg.tun_type, meta.partial_csum) {
        (
            TunType::Gue {
                csum: GueCsum::RemCsum,
                ..
            },
            Some(p),
        ) => {
            check_partial(p, inner.len)?;
            Some(p)
        }
        _ => None,
    };
    let ip_len = cfg.addrs.ip_header_len();
    let tun_len = cfg.tun_type.header_len(partial.is_some());
    let overhead = ip_len + tun_len;
    let start = inner_start
        .checked_sub(overhead)
        .ok_or(FwdError::NoHeadroom {
            needed: overhead,
            available: inner_start,
        })?;
    let total = overhead + inner.len;
    let max_total = match cfg.addrs {
        TunAddrs::V4 { .. } => 0xffff,
        TunAddrs::V6 { .. } => 0xffff + ip_len,
    };
    if total > max_total {
        return Err(TunError::TooLong { len: total });
    }
    let end = start + total;
    let got = buf.len();
    let pkt = buf
        .get_mut(start..end)
        .ok_or(FwdError::Truncated { needed: end, got })?;
    let inner_proto = if inner.v6 { IPPROTO_IPV6 } else { IPPROTO_IPIP };

    // Tunnel header, between the outer IP header and the inner packet.
    let proto = match cfg.tun_type {
        TunType::Ipip => inner_proto,
        TunType::Gue { port, csum } => {
            let sport = gue_source_port(meta.flow_hash, cfg.local_port_range);
            let gue = GueHeader {
                sport,
                dport: port,
                csum,
                inner_proto,
                partial,
            };
            write_gue(pkt, ip_len, &gue, &cfg.addrs)?;
            IPPROTO_UDP
        }
        TunType::Gre { csum } => {
            write_gre(pkt, ip_len, csum, inner.v6)?;
            IPPROTO_GRE
        }
    };

    let dsfield = ecn_encapsulate(inner.dsfield);
    match cfg.addrs {
        TunAddrs::V4 { src, dst } => {
            let df = cfg.pmtu_disc && !inner.v6 && inner.df;
            let h = arr_mut::<20>(pkt, 0)?;
            let id = if df { 0 } else { meta.ip_id };
            let frag: u16 = if df { 0x4000 } else { 0 };
            let (s, d) = (u32::from(src), u32::from(dst));
            // RFC 1071 sum of the ten header words, the checksum word taken as zero.
            let sum = 0x4500
                + u32::from(dsfield)
                + total as u32
                + u32::from(id)
                + u32::from(frag)
                + (u32::from(inner.ttl) << 8 | u32::from(proto))
                + (s >> 16)
                + (s & 0xffff)
                + (d >> 16)
                + (d & 0xffff);
            let c = !fold(sum);
            h[0] = 0x45;
            h[1] = dsfield;
            h[2..4].copy_from_slice(&(total as u16).to_be_bytes());
            h[4..6].copy_from_slice(&id.to_be_bytes());
            h[6..8].copy_from_slice(&frag.to_be_bytes());
            h[8] = inner.ttl;
            h[9] = proto;
            h[10..12].copy_from_slice(&c.to_be_bytes());
            h[12..16].copy_from_slice(&src.octets());
            h[16..20].copy_from_slice(&dst.octets());
        }
        TunAddrs::V6 { src, dst } => {
            let h = arr_mut::<40>(pkt, 0)?;
            h[0] = 0x60 | (dsfield >> 4);
            h[1] = dsfield << 4;
            h[2] = 0;
            h[3] = 0;
            h[4..6].copy_from_slice(&((total - ip_len) as u16).to_be_bytes());
            h[6] = proto;
            h[7] = inner.ttl;
            h[8..24].copy_from_slice(&src.octets());
            h[24..40].copy_from_slice(&dst.octets());
        }
    }
    Ok(start..end)
}

/// What [`write_gue`] writes.
struct GueHeader {
    sport: u16,
    dport: u16,
    csum: GueCsum,
    inner_proto: u8,
    partial: Option<PartialCsum>,
}

/// Writes UDP + GUE (+ remote checksum offload option) at `pkt[ip_len..]` (`ipvs_gue_encap`,
/// `udp_set_csum` / `udp6_set_csum`); `pkt` is the whole outer packet, its inner packet in place.
/// Kept out of line so the IPIP path stays small.
#[inline(never)]
fn write_gue(
    pkt: &mut [u8],
    ip_len: usize,
    g: &GueHeader,
    addrs: &TunAddrs,
) -> Result<(), TunError> {
    let total = pkt.len();
    let udp_len = (total - ip_len) as u16;
    let opt_words: u8 = if g.partial.is_some() { 2 } else { 0 };
    let flags = if g.partial.is_some() {
        GUE_FLAG_PRIV
    } else {
        0
    };
    let (sp, dp, ul, fl) = (
        g.sport.to_be_bytes(),
        g.dport.to_be_bytes(),
        udp_len.to_be_bytes(),
        flags.to_be_bytes(),
    );
    // UDP: ports, length, checksum 0 for now; GUE: version 0, C 0, hlen (bits 4-0),
    // proto_ctype, flags.
    *arr_mut::<12>(pkt, ip_len)? = [
        sp[0],
        sp[1],
        dp[0],
        dp[1],
        ul[0],
        ul[1],
        0,
        0,
        opt_words,
        g.inner_proto,
        fl[0],
        fl[1],
    ];
    if let Some(p) = g.partial {
        let opt = arr_mut::<8>(pkt, ip_len + 12)?;
        opt[0..4].copy_from_slice(&GUE_PFLAG_REMCSUM.to_be_bytes());
        opt[4..6].copy_from_slice(&p.csum_start.to_be_bytes());
        let field = p.csum_start.wrapping_add(p.csum_offset);
        opt[6..8].copy_from_slice(&field.to_be_bytes());
    }
    if g.csum != GueCsum::NoCsum {
        let pseudo = match *addrs {
            TunAddrs::V4 { src, dst } => pseudo_header_v4(src, dst, IPPROTO_UDP, udp_len),
            TunAddrs::V6 { src, dst } => {
                pseudo_header_v6(&src, &dst, IPPROTO_UDP, u32::from(udp_len))
            }
        };
        let mut c = !fold(ones_complement_add(pseudo, range(pkt, ip_len, total)?));
        if c == 0 {
            c = 0xffff;
        }
        *arr_mut::<2>(pkt, ip_len + 6)? = c.to_be_bytes();
    }
    Ok(())
}

/// Writes the GRE header at `pkt[ip_len..]` (`ipvs_gre_encap` / `gre_build_header`), with the
/// RFC 2784 checksum over GRE header + payload when `csum`. Kept out of line like [`write_gue`].
#[inline(never)]
fn write_gre(pkt: &mut [u8], ip_len: usize, csum: bool, inner_v6: bool) -> Result<(), TunError> {
    let flags = if csum { GRE_FLAG_C } else { 0 };
    let ptype = if inner_v6 { ETH_P_IPV6 } else { ETH_P_IP };
    let (f, t) = (flags.to_be_bytes(), ptype.to_be_bytes());
    *arr_mut::<4>(pkt, ip_len)? = [f[0], f[1], t[0], t[1]];
    if csum {
        *arr_mut::<4>(pkt, ip_len + 4)? = [0; 4];
        let c = checksum(range(pkt, ip_len, pkt.len())?);
        *arr_mut::<2>(pkt, ip_len + 4)? = c.to_be_bytes();
    }
    Ok(())
}

/// The remote checksum offload field must lie inside the inner packet, at even offsets (the
/// checksum is a sum of 16-bit words from `csum_start`).
fn check_partial(p: PartialCsum, inner_len: usize) -> Result<(), TunError> {
    let start = usize::from(p.csum_start);
    let field = start + usize::from(p.csum_offset);
    if start % 2 != 0 || field % 2 != 0 || field + 2 > inner_len || field > 0xffff {
        return Err(TunError::GueRemcsum);
    }
    Ok(())
}
