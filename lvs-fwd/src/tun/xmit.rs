//! The whole TUN transmit step for one packet, as `ip_vs_tunnel_xmit` / `ip_vs_tunnel_xmit_v6`
//! (net/netfilter/ipvs/ip_vs_xmit.c) run it after the route lookup and TTL decrement: the MTU
//! decision, then either the encapsulation or the ICMP reply for the client.

use super::icmp::{build_frag_needed, build_packet_too_big};
use super::wire::{arr, inner_info};
use super::{
    EncapMeta, GueCsum, IcmpReplyParams, MtuVerdict, TunError, TunType, TunnelConfig, check_mtu,
    encapsulate,
};
use std::net::{Ipv4Addr, Ipv6Addr};
use std::ops::Range;

/// Per-packet inputs of [`tunnel_xmit`] besides the encapsulation's own.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct XmitParams {
    /// MTU of the egress interface / route toward the RIP (`dst_mtu`), bytes.
    pub egress_mtu: u32,
    /// TTL / hop limit of an ICMP reply (64 by default).
    pub reply_ttl: u8,
    /// IPv4 identification of an ICMP reply.
    pub reply_ip_id: u16,
}

/// What to do with the packet after [`tunnel_xmit`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum XmitOutcome {
    /// Send `buf[range]` (the encapsulated packet) to the RIP.
    Send(Range<usize>),
    /// Send `buf[range]`, which exceeds the egress MTU: the kernel fragments it
    /// ([`MtuVerdict::Fragment`]).
    SendFragmented(Range<usize>),
    /// Drop the packet and send `icmp_out[..len]` (fragmentation needed / packet too big, from
    /// the VIP) to the client.
    ReplyIcmp(usize),
    /// Drop the packet silently ([`MtuVerdict::DropTooBig`]).
    Drop,
}

/// Runs [`check_mtu`] on the inner packet at `buf[inner_start..]`, then [`encapsulate`]s it or
/// builds the ICMP reply into `icmp_out` ([`build_frag_needed`] / [`build_packet_too_big`] with
/// the budget as MTU). The reply's source is the offending packet's destination (the VIP), as
/// `icmp_send` / `icmp6_send` choose for a local destination.
///
/// Errors: those of [`check_mtu`] (including [`TunError::MtuTooSmall`], a drop without ICMP),
/// [`encapsulate`], and the ICMP builders (an `icmp_out` too small is
/// [`crate::FwdError::NoHeadroom`]).
pub fn tunnel_xmit(
    buf: &mut [u8],
    inner_start: usize,
    cfg: &TunnelConfig,
    meta: &EncapMeta,
    params: &XmitParams,
    icmp_out: &mut [u8],
) -> Result<XmitOutcome, TunError> {
    let inner = buf.get(inner_start..).ok_or(crate::FwdError::Truncated {
        needed: inner_start,
        got: buf.len(),
    })?;
    let remcsum_option = meta.partial_csum.is_some()
        && matches!(
            cfg.tun_type,
            TunType::Gue {
                csum: GueCsum::RemCsum,
                ..
            }
        );
    match check_mtu(inner, cfg, remcsum_option, params.egress_mtu)? {
        MtuVerdict::Fits => encapsulate(buf, inner_start, cfg, meta).map(XmitOutcome::Send),
        MtuVerdict::Fragment => {
            encapsulate(buf, inner_start, cfg, meta).map(XmitOutcome::SendFragmented)
        }
        MtuVerdict::DropTooBig { .. } => Ok(XmitOutcome::Drop),
        MtuVerdict::TooBig { mtu } => {
            let info = inner_info(inner)?;
            let pkt = inner.get(..info.len).unwrap_or(inner);
            let len = if info.v6 {
                let vip = Ipv6Addr::from(arr::<16>(pkt, 24)?);
                let p = IcmpReplyParams {
                    src: vip,
                    ttl: params.reply_ttl,
                    ip_id: params.reply_ip_id,
                };
                build_packet_too_big(icmp_out, pkt, mtu, &p)?
            } else {
                let a = arr::<4>(pkt, 16)?;
                let p = IcmpReplyParams {
                    src: Ipv4Addr::new(a[0], a[1], a[2], a[3]),
                    ttl: params.reply_ttl,
                    ip_id: params.reply_ip_id,
                };
                build_frag_needed(icmp_out, pkt, mtu, &p)?
            };
            Ok(XmitOutcome::ReplyIcmp(len))
        }
    }
}
