//! Decapsulation for a userspace real server: the receive side of IPIP (net/ipv4/ipip.c),
//! IPv6-in-IP (net/ipv6/sit.c, ip6_tunnel.c), GUE (net/ipv4/fou_core.c `gue_udp_recv`) and GRE
//! (net/ipv4/gre_demux.c `gre_parse_header`), with RFC 6040 ECN decapsulation.

use super::ecn::{EcnDecap, ecn_decapsulate};
use super::encap::{
    ETH_P_IP, ETH_P_IPV6, GRE_FLAG_C, GRE_FLAG_K, GRE_FLAG_R, GRE_FLAG_S, GRE_VERSION_MASK,
    GUE_FLAG_PRIV, GUE_PFLAG_REMCSUM,
};
use super::wire::{arr, arr_mut, be16, ipv4, ipv6, range};
use super::{
    IPPROTO_GRE, IPPROTO_IPIP, IPPROTO_IPV6, IPPROTO_UDP, TunError, TunKind, UDP_HEADER_LEN,
};
use crate::FwdError;
use crate::checksum::{checksum, fold, ones_complement_add, pseudo_header_v4, pseudo_header_v6};
use std::net::IpAddr;
use std::ops::Range;

/// What this real server accepts as tunnel traffic.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct DecapConfig {
    /// The UDP port GUE listens on (`ip fou add port P gue`; the director's `--tun-port`).
    /// `None`: UDP is never a tunnel here.
    pub gue_port: Option<u16>,
}

/// GRE key and sequence number (RFC 2890), when present.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct GreInfo {
    /// The key field (K bit).
    pub key: Option<u32>,
    /// The sequence number field (S bit).
    pub seq: Option<u32>,
}

/// A decapsulated packet: where the inner packet is and what was learnt on the way.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decapsulated {
    /// The tunnel kind seen.
    pub kind: TunKind,
    /// Range of the caller's buffer holding the inner IP packet (exactly its own length).
    pub inner: Range<usize>,
    /// Whether the inner packet is IPv6 (else IPv4).
    pub inner_v6: bool,
    /// Outer source address (the director).
    pub outer_src: IpAddr,
    /// Outer destination address (this real server).
    pub outer_dst: IpAddr,
    /// GRE key / sequence number, for GRE.
    pub gre: GreInfo,
    /// RFC 6040 Figure 4 flagged the ECN combination as unexpected ((!!!) or (!)): worth a log
    /// line, the packet is still good.
    pub ecn_alarm: bool,
    /// The GUE remote checksum offload option was present and the inner checksum was filled in.
    pub remcsum_resolved: bool,
}

/// Validates and strips the tunnel headers of the outer IP packet at the start of `buf`, applies
/// RFC 6040 ECN decapsulation to the inner header (and, for GUE remote checksum offload, fills in
/// the inner checksum), and returns where the inner packet is.
///
/// Outer IPv4: version 4, ihl >= 5, total length within `buf` (bytes after it, such as link
/// padding, are ignored), header checksum valid, not a fragment (MF or offset set:
/// [`FwdError::Fragment`]; reassemble first). Outer IPv6: payload within `buf`; hop-by-hop,
/// routing and destination options headers are walked (at most 8), a fragment header is
/// [`FwdError::Fragment`].
///
/// Then by protocol: 4 / 41 (IPIP, 6in4, 4in6, 6in6); 17 to `cfg.gue_port` (UDP length must equal
/// the IP payload; a non-zero checksum must verify ([`TunError::BadUdpChecksum`]); a zero
/// checksum is accepted for IPv6 too, as RFC 6935 allows for tunnels and as the kernel sends
/// with `--tun-nocsum`); GUE version 0 (control messages refused, flags validated as
/// `validate_gue_flags`: only `GUE_FLAG_PRIV` with only `GUE_PFLAG_REMCSUM`, options long
/// enough; proto_ctype 4 or 41) or version 1 (direct IPv4/IPv6); 47 (GRE version 0, no routing
/// bit, checksum verified when the C bit is set, key and sequence number (RFC 2890) skipped and
/// reported, reserved bits ignored as RFC 2784 section 2.3 says; protocol 0x0800 / 0x86DD).
///
/// The inner packet must be of the announced version ([`TunError::InnerVersionMismatch`]), its
/// length field must equal the bytes carried ([`TunError::InnerLengthMismatch`]), and an IPv4
/// inner header checksum must verify ([`TunError::BadInnerChecksum`]). ECN per
/// [`ecn_decapsulate`]: outer CE on Not-ECT inner is [`TunError::EcnDrop`]; a changed ECN field
/// is written into the inner header (IPv4 checksum updated per RFC 1624).
///
/// The outer TTL / hop limit is not checked: the packet is addressed to this host, and Linux
/// (`ip_rcv`, `ipv6_rcv`) delivers such packets whatever their TTL. IP options of the outer
/// IPv4 header are skipped.
///
/// Errors: the above, [`TunError::NotTunnel`] for any other protocol or UDP port,
/// [`FwdError::Truncated`] at every truncation. On error the buffer is unchanged.
pub fn decapsulate(buf: &mut [u8], cfg: &DecapConfig) -> Result<Decapsulated, TunError> {
    let outer = parse_outer(buf)?;
    let end = outer.end;
    // Everything below reads within the outer packet, never from link padding after it.
    let pkt = range(buf, 0, end)?;
    let mut gre = GreInfo::default();
    let mut remcsum = None;
    let (kind, inner_off, expect_v6) = match outer.proto {
        IPPROTO_IPIP => (TunKind::Ipip, outer.payload, Some(false)),
        IPPROTO_IPV6 => (TunKind::Ipip, outer.payload, Some(true)),
        IPPROTO_UDP => {
            let u = outer.payload;
            let udp = arr::<8>(pkt, u)?;
            let dport = u16::from_be_bytes([udp[2], udp[3]]);
            if cfg.gue_port != Some(dport) {
                return Err(TunError::NotTunnel(IPPROTO_UDP));
            }
            let ulen = usize::from(u16::from_be_bytes([udp[4], udp[5]]));
            if ulen != end - u {
                return Err(TunError::BadUdpLength);
            }
            let check = u16::from_be_bytes([udp[6], udp[7]]);
            if check != 0 {
                let pseudo = match (outer.src, outer.dst) {
                    (IpAddr::V4(s), IpAddr::V4(d)) => {
                        pseudo_header_v4(s, d, IPPROTO_UDP, ulen as u16)
                    }
                    (IpAddr::V6(s), IpAddr::V6(d)) => {
                        pseudo_header_v6(&s, &d, IPPROTO_UDP, ulen as u32)
                    }
                    _ => return Err(FwdError::FamilyMismatch.into()),
                };
                if fold(ones_complement_add(pseudo, range(pkt, u, end)?)) != 0xffff {
                    return Err(TunError::BadUdpChecksum);
                }
            }
            let (off, v6, rc) = parse_gue(pkt, u + UDP_HEADER_LEN, end)?;
            remcsum = rc;
            (TunKind::Gue, off, v6)
        }
        IPPROTO_GRE => {
            let (off, v6, info) = parse_gre(pkt, outer.payload, end)?;
            gre = info;
            (TunKind::Gre, off, Some(v6))
        }
        p => return Err(TunError::NotTunnel(p)),
    };

    let inner = range(pkt, inner_off, end)?;
    let first = arr::<1>(inner, 0)?[0] >> 4;
    let inner_v6 = match (first, expect_v6) {
        (4, None | Some(false)) => false,
        (6, None | Some(true)) => true,
        (4 | 6, _) => return Err(TunError::InnerVersionMismatch),
        (v, _) => return Err(FwdError::UnsupportedIpVersion(v).into()),
    };
    let carried = end - inner_off;
    let declared = if inner_v6 {
        40 + usize::from(be16(inner, 4)?)
    } else {
        let h = arr::<20>(inner, 0)?;
        let ihl = usize::from(h[0] & 0x0f) * 4;
        if ihl < 20 {
            return Err(super::bad("ipv4 ihl < 5"));
        }
        range(inner, 0, ihl)?;
        usize::from(u16::from_be_bytes([h[2], h[3]]))
    };
    if declared != carried {
        return Err(TunError::InnerLengthMismatch { declared, carried });
    }
    if !inner_v6 {
        let ihl = usize::from(arr::<1>(inner, 0)?[0] & 0x0f) * 4;
        if checksum(range(inner, 0, ihl)?) != 0 {
            return Err(TunError::BadInnerChecksum);
        }
    }
    if let Some((start, field)) = remcsum
        && (start % 2 != 0 || field % 2 != 0 || field < start || field + 2 > carried)
    {
        return Err(TunError::GueRemcsum);
    }

    // ECN (RFC 6040 section 4.2), decided before anything is written.
    let inner_ecn = if inner_v6 {
        (arr::<2>(inner, 0)?[1] >> 4) & 0b11
    } else {
        arr::<2>(inner, 0)?[1] & 0b11
    };
    let (new_ecn, ecn_alarm) = match ecn_decapsulate(inner_ecn, outer.dsfield) {
        EcnDecap::Drop => return Err(TunError::EcnDrop),
        EcnDecap::Forward { ecn, alarm } => (ecn, alarm),
    };

    let inner = crate::bytes::range_mut(buf, inner_off, end)?;
    if let Some((start, field)) = remcsum {
        // skb_remcsum_process / remcsum_adjust (include/linux/skbuff.h, include/net/checksum.h):
        // the field holds the pseudo-header seed; the checksum is the complemented fold of the
        // sum from csum_start to the end of the packet, the seed included.
        let sum = ones_complement_add(0, range(inner, start, carried)?);
        let c = !fold(sum);
        arr_mut::<2>(inner, field)?.copy_from_slice(&c.to_be_bytes());
    }
    if new_ecn != inner_ecn {
        if inner_v6 {
            let b = arr_mut::<2>(inner, 0)?;
            b[1] = (b[1] & !0x30) | (new_ecn << 4);
        } else {
            let h = arr_mut::<12>(inner, 0)?;
            let old = u16::from_be_bytes([h[0], h[1]]);
            h[1] = (h[1] & !0b11) | new_ecn;
            let new = u16::from_be_bytes([h[0], h[1]]);
            let c = crate::checksum::update_u16(u16::from_be_bytes([h[10], h[11]]), old, new);
            h[10..12].copy_from_slice(&c.to_be_bytes());
        }
    }
    Ok(Decapsulated {
        kind,
        inner: inner_off..end,
        inner_v6,
        outer_src: outer.src,
        outer_dst: outer.dst,
        gre,
        ecn_alarm,
        remcsum_resolved: remcsum.is_some(),
    })
}

/// The parts of the outer IP header decapsulation needs.
struct Outer {
    proto: u8,
    payload: usize,
    end: usize,
    dsfield: u8,
    src: IpAddr,
    dst: IpAddr,
}

fn parse_outer(buf: &[u8]) -> Result<Outer, TunError> {
    match arr::<1>(buf, 0)?[0] >> 4 {
        4 => {
            let (w, total) = ipv4(buf)?;
            if checksum(range(buf, 0, w.l4)?) != 0 {
                return Err(TunError::BadOuterChecksum);
            }
            if w.fragment.is_some() {
                return Err(FwdError::Fragment.into());
            }
            Ok(Outer {
                proto: w.protocol,
                payload: w.l4,
                end: total,
                dsfield: arr::<2>(buf, 0)?[1],
                src: w.src,
                dst: w.dst,
            })
        }
        6 => {
            let (w, total) = ipv6(buf)?;
            if w.fragment.is_some() {
                return Err(FwdError::Fragment.into());
            }
            let h = arr::<2>(buf, 0)?;
            Ok(Outer {
                proto: w.protocol,
                payload: w.l4,
                end: total,
                dsfield: (h[0] << 4) | (h[1] >> 4),
                src: w.src,
                dst: w.dst,
            })
        }
        v => Err(FwdError::UnsupportedIpVersion(v).into()),
    }
}

/// GUE header at `buf[g..end]`: returns (inner offset, expected inner version (`None`: read it
/// from the nibble), remote checksum offload (csum_start, field offset) relative to the inner
/// packet).
#[allow(clippy::type_complexity)]
fn parse_gue(
    buf: &[u8],
    g: usize,
    end: usize,
) -> Result<(usize, Option<bool>, Option<(usize, usize)>), TunError> {
    let data = range(buf, g, end)?;
    let b0 = arr::<1>(data, 0)?[0];
    match b0 >> 6 {
        0 => {}
        // Version 1: the UDP payload is the IP packet itself (first nibble 4 or 6).
        1 => return Ok((g, None, None)),
        v => return Err(TunError::GueVersion(v)),
    }
    let h = arr::<4>(data, 0)?;
    if h[0] & 0x20 != 0 {
        return Err(TunError::GueControl);
    }
    let optlen = usize::from(h[0] & 0x1f) * 4;
    let opts = range(data, 4, 4 + optlen)?;
    let flags = u16::from_be_bytes([h[2], h[3]]);
    if flags & !GUE_FLAG_PRIV != 0 {
        return Err(TunError::GueFlags);
    }
    let mut remcsum = None;
    if flags & GUE_FLAG_PRIV != 0 {
        let pflags = u32::from_be_bytes(arr::<4>(opts, 0).map_err(|_| TunError::GueFlags)?);
        if pflags & !GUE_PFLAG_REMCSUM != 0 {
            return Err(TunError::GueFlags);
        }
        if pflags & GUE_PFLAG_REMCSUM != 0 {
            let pd = arr::<4>(opts, 4).map_err(|_| TunError::GueFlags)?;
            let start = usize::from(u16::from_be_bytes([pd[0], pd[1]]));
            let field = usize::from(u16::from_be_bytes([pd[2], pd[3]]));
            remcsum = Some((start, field));
        }
    }
    let v6 = match h[1] {
        IPPROTO_IPIP => false,
        IPPROTO_IPV6 => true,
        p => return Err(TunError::UnsupportedInner(u16::from(p))),
    };
    Ok((g + 4 + optlen, Some(v6), remcsum))
}

/// GRE header at `buf[g..end]`: returns (inner offset, inner is IPv6, key / sequence number).
fn parse_gre(buf: &[u8], g: usize, end: usize) -> Result<(usize, bool, GreInfo), TunError> {
    let data = range(buf, g, end)?;
    let h = arr::<4>(data, 0)?;
    let flags = u16::from_be_bytes([h[0], h[1]]);
    let version = (flags & GRE_VERSION_MASK) as u8;
    if version != 0 {
        return Err(TunError::GreVersion(version));
    }
    if flags & GRE_FLAG_R != 0 {
        return Err(TunError::GreRouting);
    }
    let mut off = 4;
    if flags & GRE_FLAG_C != 0 {
        arr::<4>(data, off)?;
        off += 4;
    }
    let mut info = GreInfo::default();
    if flags & GRE_FLAG_K != 0 {
        info.key = Some(u32::from_be_bytes(arr::<4>(data, off)?));
        off += 4;
    }
    if flags & GRE_FLAG_S != 0 {
        info.seq = Some(u32::from_be_bytes(arr::<4>(data, off)?));
        off += 4;
    }
    if flags & GRE_FLAG_C != 0 && checksum(data) != 0 {
        return Err(TunError::BadGreChecksum);
    }
    let v6 = match u16::from_be_bytes([h[2], h[3]]) {
        ETH_P_IP => false,
        ETH_P_IPV6 => true,
        p => return Err(TunError::UnsupportedInner(p)),
    };
    Ok((g + off, v6, info))
}
