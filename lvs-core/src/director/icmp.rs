//! The ICMP errors the director originates or relays for its clients:
//! - port unreachable when a virtual service has no real server for a new connection
//!   (ip_vs_core.c `ip_vs_leave`);
//! - the relay of an ICMP error about one of our tunnel packets (IPIP / GUE / GRE) to the
//!   client whose packet it was (the "errors for IPIP/UDP/GRE tunnel packets" case of
//!   `ip_vs_in_icmp`);
//! - and the placement of a built error in the caller's tailroom or headroom, shared with the
//!   time exceeded of the pipeline.

use std::net::{IpAddr, Ipv4Addr};
use std::time::Instant;

use lvs_conn::Direction;
use lvs_fwd::tun::{IcmpReplyParams, TunError, parse_tunnel_icmp, translate_tunnel_icmp};
use lvs_fwd::{Parsed, Transport};

use super::Director;
use super::pipeline::{DropReason, Side, Verdict, add_stats};
use crate::service::{ForwardMethod, ServiceKey, TunnelKind};

/// `FTPPORT` (include/net/ip_vs.h): the FTP control port.
const FTPPORT: u16 = 21;
/// ICMP type destination unreachable and code fragmentation needed (RFC 792, RFC 1191).
const ICMP_DEST_UNREACH: u8 = 3;
const ICMP_FRAG_NEEDED: u8 = 4;

/// Builds a reply with `build(frame, out)` after the frame (`buf[end..]`, the tailroom) or,
/// when it does not fit there, before it (`buf[..start]`, the headroom); `build` returns the
/// length written, or `None` when it builds nothing (no room, or nothing to send). Returns
/// the reply's (start, len) in `buf`.
pub(super) fn place_reply(
    buf: &mut [u8],
    start: usize,
    end: usize,
    mut build: impl FnMut(&[u8], &mut [u8]) -> Option<usize>,
) -> Option<(usize, usize)> {
    let (main, tail) = buf.split_at_mut_checked(end)?;
    if let Some(frame) = main.get(start..)
        && let Some(n) = build(frame, tail)
    {
        return Some((end, n));
    }
    let (head, frame) = main.split_at_mut_checked(start)?;
    build(frame, head).map(|n| (0, n))
}

/// Which tunnel an ICMP error's quoted outer header shows.
#[derive(Clone, Copy, PartialEq, Eq)]
enum QuotedTunnel {
    /// Protocol 4.
    Ipip,
    /// UDP to this destination port.
    Gue(u16),
    /// Protocol 47.
    Gre,
}

impl QuotedTunnel {
    /// The GUE port to hand to [`parse_tunnel_icmp`].
    fn gue_port(self) -> Option<u16> {
        match self {
            QuotedTunnel::Gue(port) => Some(port),
            _ => None,
        }
    }
}

/// The outer header an IPv4 ICMP error (the IP packet `packet`, from its header) quotes, when
/// it can be one of our tunnel packets: its source, its destination (the RIP) and the tunnel
/// its protocol names (IPIP, UDP with the destination port, GRE).
fn quoted_outer(packet: &[u8]) -> Option<(Ipv4Addr, Ipv4Addr, QuotedTunnel)> {
    let ihl = usize::from(packet.first()? & 0x0f) * 4;
    let q = packet.get(ihl + 8..)?;
    let qh: [u8; 20] = q.get(..20)?.try_into().ok()?;
    if qh[0] >> 4 != 4 || qh[0] & 0x0f < 5 {
        return None;
    }
    let qhl = usize::from(qh[0] & 0x0f) * 4;
    let kind = match qh[9] {
        4 => QuotedTunnel::Ipip,
        17 => {
            let d = q.get(qhl + 2..qhl + 4)?;
            QuotedTunnel::Gue(u16::from_be_bytes([*d.first()?, *d.get(1)?]))
        }
        47 => QuotedTunnel::Gre,
        _ => return None,
    };
    Some((
        Ipv4Addr::new(qh[12], qh[13], qh[14], qh[15]),
        Ipv4Addr::new(qh[16], qh[17], qh[18], qh[19]),
        kind,
    ))
}

impl Director {
    /// `ip_vs_leave` for a new connection the service `si` cannot schedule (its scheduler
    /// found no real server): no cache_bypass here (the sysctl is not modelled: fwmark
    /// services answer like the others); the FTP special case (a service on port 21 reached
    /// by a packet to another port) goes to the host stack; everything else is dropped with
    /// an ICMP / ICMPv6 port unreachable from the packet's destination (the VIP, which
    /// `icmp_send` / `icmp6_send` pick as a local address) to the client, built into the
    /// tailroom (or the headroom), or a plain drop when there is no room or RFC 1122 3.2.2
    /// forbids an answer (see [`lvs_fwd::port_unreachable`]).
    pub(super) fn no_real_server(
        &self,
        buf: &mut [u8],
        start: usize,
        end: usize,
        p: &Parsed,
        si: u32,
        dport: u16,
    ) -> Verdict {
        if let Some(svc) = self.svc(si)
            && let ServiceKey::Addr { addr, .. } = svc.key
            && addr.port() == FTPPORT
            && dport != FTPPORT
        {
            return Verdict::Local;
        }
        let src = p.dst();
        match place_reply(buf, start, end, |frame, out| {
            lvs_fwd::port_unreachable(frame, p, src, out).ok()
        }) {
            Some((start, len)) => Verdict::Icmp {
                start,
                len,
                reason: DropReason::NoRealServer,
            },
            None => Verdict::Drop(DropReason::NoRealServer),
        }
    }

    /// For [`Director::steer`]: the client address of the packet behind the tunnel headers an
    /// IPv4 ICMP error quotes, when the quoted outer header is from us (`local_v4` or a VIP)
    /// to one of our RIPs; `None` otherwise. Steering needs only the key the connection was
    /// steered by, so the tunnel type is not matched against the real server here.
    pub(super) fn tunnel_icmp_client(&self, frame: &[u8], p: &Parsed) -> Option<IpAddr> {
        if !matches!(
            p.transport(),
            Transport::Icmp {
                icmp_type: 3 | 4 | 11,
                ..
            }
        ) {
            return None;
        }
        let packet = frame.get(p.l3_offset()..p.end())?;
        let (qsrc, rip, kind) = quoted_outer(packet)?;
        if !self.own_v4(qsrc) || !self.rips.contains(&IpAddr::V4(rip)) {
            return None;
        }
        let t = parse_tunnel_icmp(packet, kind.gue_port()).ok()?;
        lvs_fwd::quoted_flow(packet.get(t.original)?)
            .ok()
            .map(|f| f.src)
    }

    /// Whether an address is the director's own for tunnel purposes: `local_v4` (the outer
    /// source of our tunnel packets) or a VIP (the outer source when `local_v4` is unset).
    fn own_v4(&self, a: Ipv4Addr) -> bool {
        self.cfg.local_v4 == Some(a) || self.vips.contains_key(&IpAddr::V4(a))
    }

    /// `ip_vs_find_tunnel` (ip_vs_ctl.c) with the tunnel type check of `ip_vs_in_icmp` /
    /// `ipvs_udp_decap` / `ipvs_gre_decap`: is there a live TUN real server at `rip` whose
    /// tunnel is the quoted one?
    fn tunnel_dest_exists(&self, rip: Ipv4Addr, want: QuotedTunnel) -> bool {
        self.dests.iter().flatten().any(|d| {
            !d.deleted
                && d.config.addr.ip() == IpAddr::V4(rip)
                && match (d.config.forward, want) {
                    (ForwardMethod::Tunnel(TunnelKind::Ipip), QuotedTunnel::Ipip) => true,
                    (ForwardMethod::Tunnel(TunnelKind::Gue { port, .. }), QuotedTunnel::Gue(q)) => {
                        port == q
                    }
                    (ForwardMethod::Tunnel(TunnelKind::Gre { .. }), QuotedTunnel::Gre) => true,
                    _ => false,
                }
        })
    }

    /// The tunnel case of `ip_vs_in_icmp` (net/netfilter/ipvs/ip_vs_core.c): an IPv4 ICMP
    /// destination unreachable, source quench or time exceeded, addressed to us, quoting an
    /// outer header we sent (source `local_v4` or a VIP) to a TUN real server's RIP whose tunnel
    /// type matches (IPIP; UDP to its GUE port with a GUE data header; GRE), behind which is
    /// the client's packet of a connection we have (looked up in its own direction, CIP:cport
    /// -> VIP:vport, as `conn_in_get` without inversion does). Such an error is relayed to the
    /// client ([`lvs_fwd::tun::translate_tunnel_icmp`]): same type and code, from the VIP,
    /// quoting the client's packet; for fragmentation needed the MTU is that of the route
    /// toward the real server after the report minus the tunnel overhead, and nothing is sent
    /// when the client's packet had no DF (it does not do path MTU discovery). The report is
    /// learned first, whatever the DF bit (`ipv4_update_pmtu` runs before the "Client uses
    /// PMTUD?" test): the route toward the RIP keeps it ([`Director::pmtu`]: raised to
    /// [`super::DirectorConfig::min_pmtu`], never above [`super::DirectorConfig::tun_mtu`],
    /// for [`super::DirectorConfig::mtu_expires`] seconds) and later TUN packets toward that
    /// RIP are checked against it. The relay leaves toward the client ([`Verdict::Transmit`] to the CIP,
    /// [`Side::Client`]) and is counted as an outgoing packet of the connection's real
    /// server (`ip_vs_out_stats`, the length of the quoted client packet). An error that is
    /// absorbed without a relay is [`DropReason::TunnelIcmp`]; one whose ICMP checksum fails
    /// is [`DropReason::Malformed`].
    ///
    /// Returns `None` when the error is not about one of our tunnel packets or names no
    /// connection (the caller goes on with the ordinary ICMP path, which leaves it to the host
    /// stack). IPv6 outer tunnels: `ip_vs_in_icmp_v6` has no tunnel case, and neither do we.
    pub(super) fn tunnel_icmp(
        &mut self,
        buf: &mut [u8],
        start: usize,
        end: usize,
        p: &Parsed,
        now: Instant,
    ) -> Option<Verdict> {
        let Transport::Icmp {
            icmp_type: 3 | 4 | 11,
            ..
        } = p.transport()
        else {
            return None;
        };
        let IpAddr::V4(to) = p.dst() else {
            return None;
        };
        let l3 = p.l3_offset();
        let packet = buf.get(start..end)?.get(l3..p.end())?;
        let (qsrc, rip, want) = quoted_outer(packet)?;
        // "Error for our tunnel must arrive at LOCAL_IN": to us, about a packet from us.
        if !self.own_v4(to) || !self.own_v4(qsrc) || !self.tunnel_dest_exists(rip, want) {
            return None;
        }
        let gue_port = want.gue_port();
        let t = match parse_tunnel_icmp(packet, gue_port) {
            Ok(t) => t,
            Err(TunError::BadIcmpChecksum) => return Some(Verdict::Drop(DropReason::Malformed)),
            Err(_) => return None,
        };
        let original = packet.get(t.original.clone())?;
        let flow = lvs_fwd::quoted_flow(original).ok()?;
        let (IpAddr::V4(vip), IpAddr::V4(_)) = (flow.dst, flow.src) else {
            return None;
        };
        let id = self.table.lookup_in(
            flow.protocol,
            flow.src,
            flow.src_port,
            flow.dst,
            flow.dst_port,
        )?;
        let dest = self.table.dest_of(id).map(|d| d.0);
        let frag_needed = t.icmp_type == ICMP_DEST_UNREACH && t.code == ICMP_FRAG_NEEDED;
        // ipv4_update_pmtu on the route toward the RIP (the quoted outer destination), then
        // "Prefer the resulting PMTU" (dst_mtu of the real server's route).
        let route_mtu = if frag_needed {
            self.learn_pmtu(IpAddr::V4(rip), t.info & 0xffff, now);
            dest.map(|_| self.route_mtu(IpAddr::V4(rip), now))
        } else {
            None
        };
        let client_df = original.get(6).is_some_and(|b| b & 0x40 != 0);
        if frag_needed && !client_df {
            // "Client uses PMTUD?" No: absorbed, not counted.
            return Some(Verdict::Drop(DropReason::TunnelIcmp));
        }
        // "ICMP can be shorter but anyways, account it."
        self.dest_stats(dest, Direction::Output, original.len() as u64);
        let params = IcmpReplyParams {
            src: vip,
            ttl: lvs_fwd::ICMP_TTL,
            ip_id: 0,
        };
        let pend = p.end();
        let placed = place_reply(buf, start, end, |frame, out| {
            let (eth, ip_out) = out.split_at_mut_checked(l3)?;
            let packet = frame.get(l3..pend)?;
            let n = translate_tunnel_icmp(packet, gue_port, route_mtu, &params, ip_out).ok()??;
            eth.copy_from_slice(frame.get(..l3)?);
            Some(l3 + n)
        });
        Some(match placed {
            // `icmp_send` of the relay: rate limited toward the client.
            Some(_) if !self.icmp_allowed(flow.src, t.icmp_type, t.code, now) => {
                Verdict::Drop(DropReason::IcmpRateLimited)
            }
            Some((start, len)) => Verdict::Transmit {
                next_hop: flow.src,
                side: Side::Client,
                start,
                len,
            },
            None => Verdict::Drop(DropReason::TunnelIcmp),
        })
    }

    /// Add one packet of `bytes` bytes in direction `dir` to the totals and, with a real
    /// server, to its counters and its service's.
    pub(super) fn dest_stats(&mut self, dest: Option<u32>, dir: Direction, bytes: u64) {
        add_stats(&mut self.stats, dir, bytes);
        if let Some(d) = dest
            && let Some(Some(x)) = self.dests.get_mut(d as usize)
        {
            add_stats(&mut x.stats, dir, bytes);
            let s = x.svc;
            if let Some(Some(svc)) = self.services.get_mut(s as usize) {
                add_stats(&mut svc.stats, dir, bytes);
            }
        }
    }
}

/// Where the ICMP header of an ICMP / ICMPv6 error frame we built is, and the error's
/// destination: (ICMP header offset, destination). The builders write no IPv6 extension
/// header, so an ICMPv6 header follows the 40-byte IPv6 header.
fn icmp_header_of(f: &[u8]) -> Option<(usize, IpAddr)> {
    let (ethertype, l3) = match u16::from_be_bytes([*f.get(12)?, *f.get(13)?]) {
        0x8100 => (u16::from_be_bytes([*f.get(16)?, *f.get(17)?]), 18),
        t => (t, 14),
    };
    match ethertype {
        0x0800 => {
            let ihl = usize::from(f.get(l3)? & 0x0f) * 4;
            let d: [u8; 4] = f.get(l3 + 16..l3 + 20)?.try_into().ok()?;
            Some((l3 + ihl, IpAddr::from(d)))
        }
        0x86DD => {
            let d: [u8; 16] = f.get(l3 + 24..l3 + 40)?.try_into().ok()?;
            Some((l3 + 40, IpAddr::from(d)))
        }
        _ => None,
    }
}

/// ICMP time exceeded / ICMPv6 time exceeded code 1, "fragment reassembly time exceeded"
/// (RFC 792, RFC 4443 section 3.3).
const ICMP_EXC_FRAGTIME: u8 = 1;

impl Director {
    /// The rate limiter ([`super::ratelimit`]): may the director send ICMP error
    /// `icmp_type` / `code` to `to` at `now`?
    pub(super) fn icmp_allowed(
        &mut self,
        to: IpAddr,
        icmp_type: u8,
        code: u8,
        now: Instant,
    ) -> bool {
        let ms = u64::try_from(self.since_epoch(now).as_millis()).unwrap_or(u64::MAX);
        self.icmp_limit.allow(to, icmp_type, code, ms)
    }

    /// Runs a [`Verdict::Icmp`] the pipeline built in `buf` through the rate limiter (its
    /// destination, type and code read from the built frame): a refused error becomes
    /// [`DropReason::IcmpRateLimited`]. Other verdicts pass unchanged.
    #[cold]
    #[inline(never)]
    pub(super) fn limit_icmp(&mut self, buf: &[u8], v: Verdict, now: Instant) -> Verdict {
        let Verdict::Icmp { start, len, .. } = v else {
            return v;
        };
        let Some(f) = start.checked_add(len).and_then(|e| buf.get(start..e)) else {
            return v;
        };
        let Some((at, to)) = icmp_header_of(f) else {
            return v;
        };
        let (Some(&t), Some(&c)) = (f.get(at), f.get(at + 1)) else {
            return v;
        };
        if self.icmp_allowed(to, t, c, now) {
            v
        } else {
            Verdict::Drop(DropReason::IcmpRateLimited)
        }
    }

    /// IP reassembly timeouts ([`super::Reassembler::expire_each`]) with the kernel's ICMP
    /// "fragment reassembly time exceeded" for the expired datagrams whose first fragment
    /// arrived, queued for [`Director::poll_icmp`]:
    /// - IPv4 (net/ipv4/ip_fragment.c `ip_expire`): for a netfilter defrag user
    ///   (`frag_expire_skip_icmp`) only when the datagram was locally destined (`RTN_LOCAL`):
    ///   here addressed to a VIP, a FULLNAT local address or `local_v4`, or not sent by a RIP
    ///   (fwmark services see local packets: IPVS hooks `LOCAL_IN`). A NAT reply from a RIP
    ///   passing through gets none. Source: the datagram's destination (`icmp_send` keeps a
    ///   local destination).
    /// - IPv6 (`nf_ct_frag6_expire` -> include/net/ipv6_frag.h `ip6frag_expire_frag_queue`):
    ///   no such check, so a reply from a RIP gets one too. Source: the destination when it
    ///   is a VIP or a local address, else `local_v6` (none is sent when it is unset: the
    ///   director knows no other address of its own).
    ///
    /// The error quotes the first fragment as received (the builders' rules: IPv4 within
    /// 576 bytes, IPv6 within 1280), is refused as [`lvs_fwd::time_exceeded`] refuses (about
    /// an ICMP error, to a broadcast / multicast address), and goes through the rate limiter
    /// (a refused one counts as [`DropReason::IcmpRateLimited`]).
    pub(super) fn expire_fragments(&mut self, now: Instant) {
        let mut firsts: Vec<(super::FragKey, Vec<u8>)> = Vec::new();
        self.defrag.expire_each(now, |k, first| {
            if let Some(f) = first {
                firsts.push((*k, f.to_vec()));
            }
        });
        for (k, f) in firsts {
            self.reassembly_timeout_error(&k, &f, now);
        }
    }

    fn reassembly_timeout_error(&mut self, k: &super::FragKey, first: &[u8], now: Instant) {
        let to_vip = self.vips.contains_key(&k.daddr) || self.laddrs.contains(&k.daddr);
        let from_rip = self.rips.contains(&k.saddr);
        let src = match k.daddr {
            IpAddr::V4(d) => {
                let local = to_vip || self.cfg.local_v4 == Some(d) || !from_rip;
                if !local {
                    return;
                }
                k.daddr
            }
            IpAddr::V6(d) => {
                if to_vip || self.cfg.local_v6 == Some(d) {
                    k.daddr
                } else {
                    // icmp6_send picks a source by routing; ours is `local_v6`, and without
                    // it there is no address of ours to send from.
                    let Some(a) = self.cfg.local_v6 else {
                        return;
                    };
                    IpAddr::V6(a)
                }
            }
        };
        let Ok(p) = lvs_fwd::parse(first) else {
            return;
        };
        let mut out = vec![0u8; p.l3_offset() + lvs_fwd::IPV6_MIN_MTU];
        let Ok(n) = lvs_fwd::time_exceeded(first, &p, src, &mut out) else {
            return;
        };
        out.truncate(n);
        // lvs_fwd builds code 0 (in transit): make it code 1, fixing the checksum.
        let Some((at, to)) = icmp_header_of(&out) else {
            return;
        };
        let Some((&t, c)) = out.get(at).zip(out.get(at + 2..at + 4)) else {
            return;
        };
        let Ok(c) = <[u8; 2]>::try_from(c) else {
            return;
        };
        let check = lvs_fwd::checksum::update_u16(
            u16::from_be_bytes(c),
            u16::from(t) << 8,
            (u16::from(t) << 8) | u16::from(ICMP_EXC_FRAGTIME),
        );
        if let Some(code) = out.get_mut(at + 1) {
            *code = ICMP_EXC_FRAGTIME;
        }
        if let Some(c) = out.get_mut(at + 2..at + 4) {
            c.copy_from_slice(&check.to_be_bytes());
        }
        if !self.icmp_allowed(to, t, ICMP_EXC_FRAGTIME, now)
            || self.icmp_out.len() >= super::ICMP_QUEUE_MAX
        {
            if let Some(c) = self.drops.get_mut(DropReason::IcmpRateLimited as usize) {
                *c += 1;
            }
            return;
        }
        let side = if from_rip && !to_vip {
            Side::Server
        } else {
            Side::Client
        };
        self.icmp_out.push_back(super::IcmpTransmit {
            frame: out,
            next_hop: to,
            side,
        });
    }
}
