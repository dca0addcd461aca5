//! The LVS tunnelling forwarding method (`ipvsadm -a ... -i`, "Tunnel" in `ipvsadm -Ln`):
//! encapsulation of a client's packet for the real server, its decapsulation on a userspace real
//! server, and the path-MTU side (ICMP "fragmentation needed" / ICMPv6 "packet too big").
//!
//! Source: net/netfilter/ipvs/ip_vs_xmit.c (`ip_vs_tunnel_xmit`, `ip_vs_tunnel_xmit_v6`,
//! `ip_vs_prepare_tunneled_skb`, `ipvs_gue_encap`, `ipvs_gre_encap`, `__ip_vs_get_out_rt`,
//! `ensure_mtu_is_adequate`, `__mtu_check_toobig_v6`) and net/netfilter/ipvs/ip_vs_core.c
//! (`ip_vs_in_icmp`, the "errors for IPIP/UDP/GRE tunnel packets" case); the wire formats of
//! RFC 2003 (IPv4 in IPv4), RFC 4213 section 3.5 (IPv6 in IPv4, protocol 41), RFC 2473 (IPv6
//! outer, 4in6 / 6in6), draft-ietf-intarea-gue (GUE, Linux include/net/gue.h), RFC 2784 / RFC
//! 2890 (GRE, key and sequence number) and RFC 6040 (ECN).
//!
//! The tunnel kinds are those of ipvsadm's `--tun-type ipip|gue|gre` with `--tun-port`,
//! `--tun-nocsum`, `--tun-csum` and `--tun-remcsum` ([`TunType`], [`GueCsum`]). The outer IP
//! family follows the RIP ([`TunAddrs`]); the inner packet may be either family (4in4, 6in4,
//! 4in6, 6in6).
//!
//! Everything here works in place on caller-owned buffers and never allocates:
//! - [`encapsulate`] writes the outer header(s) into headroom the caller left before the inner
//!   packet and returns the range of the finished outer packet;
//! - [`decapsulate`] validates an outer packet and returns the range of the inner one;
//! - [`tunnel_xmit`] runs the whole transmit step (MTU decision, then encapsulation or the ICMP
//!   reply);
//! - [`check_mtu`] is the kernel's MTU decision, [`build_icmpv4_error`] /
//!   [`build_icmpv6_error`] build the reply for the client, and [`translate_tunnel_icmp`]
//!   relays an ICMP error about the tunnel to the client.
//!
//! ```
//! use lvs_fwd::tun::{
//!     DecapConfig, EncapMeta, GueCsum, TunAddrs, TunKind, TunType, TunnelConfig, decapsulate,
//!     encapsulate,
//! };
//! // `-a -t 207.175.44.110:8080 -r 172.16.0.2:8080 -i --tun-type gue --tun-port 6080 --tun-csum`
//! let cfg = TunnelConfig::new(
//!     TunType::Gue { port: 6080, csum: GueCsum::Csum },
//!     TunAddrs::V4 { src: [172, 16, 0, 1].into(), dst: [172, 16, 0, 2].into() },
//! );
//! // A 20-byte IPv4 packet (no payload; checksum 0x34c5) from 10.0.0.2 to the VIP, received
//! // with room for the tunnel headers in front of it.
//! let inner = [
//!     0x45, 0, 0, 20, 0, 0, 0x40, 0, 64, 6, 0x34, 0xc5, 10, 0, 0, 2, 207, 175, 44, 110,
//! ];
//! let headroom = cfg.overhead(false); // 20 + 8 + 4
//! let mut buf = vec![0u8; headroom + inner.len()];
//! buf[headroom..].copy_from_slice(&inner);
//! let meta = EncapMeta { flow_hash: 0x1234_5678, ip_id: 0, partial_csum: None };
//! let outer = encapsulate(&mut buf, headroom, &cfg, &meta).unwrap();
//! assert_eq!(outer, 0..52);
//!
//! // On the real server:
//! let d = decapsulate(&mut buf[outer], &DecapConfig { gue_port: Some(6080) }).unwrap();
//! assert_eq!(d.kind, TunKind::Gue);
//! assert_eq!(&buf[d.inner], &inner[..]);
//! ```
//!
//! Order of operations as in the kernel (`__ip_vs_get_out_rt`): the caller first decrements
//! the inner TTL / hop limit (lvs-fwd's TTL rewrite, ICMP time exceeded at TTL <= 1), then calls
//! [`check_mtu`], then [`encapsulate`]; the outer TTL copies the already decremented inner TTL.
#![deny(clippy::indexing_slicing)]

mod decap;
mod ecn;
mod encap;
mod icmp;
mod wire;
mod xmit;

pub use decap::{DecapConfig, Decapsulated, GreInfo, decapsulate};
pub use ecn::{EcnDecap, ecn_decapsulate, ecn_encapsulate};
pub use encap::{encapsulate, gue_source_port};
pub use icmp::{
    IcmpReplyParams, MtuVerdict, TunnelIcmp, build_frag_needed, build_icmpv4_error,
    build_icmpv6_error, build_packet_too_big, check_mtu, parse_tunnel_icmp, translate_tunnel_icmp,
};
pub use xmit::{XmitOutcome, XmitParams, tunnel_xmit};

use crate::FwdError;
use std::net::{Ipv4Addr, Ipv6Addr};

/// Length of an outer IPv4 header as IPVS writes it (ihl 5, no options), bytes.
pub const IPV4_HEADER_LEN: usize = 20;
/// Length of an IPv6 fixed header, bytes.
pub const IPV6_HEADER_LEN: usize = 40;
/// Length of a UDP header, bytes.
pub const UDP_HEADER_LEN: usize = 8;
/// Length of the GUE base header (`struct guehdr`, include/net/gue.h), bytes.
pub const GUE_HEADER_LEN: usize = 4;
/// GUE option bytes added by remote checksum offload: the private-flags word
/// (`GUE_LEN_PRIV`, 4) and the remote checksum offload field (`GUE_PLEN_REMCSUM`, 4).
pub const GUE_REMCSUM_OPTION_LEN: usize = 8;
/// Length of the GRE base header (RFC 2784 section 2.1, no checksum), bytes.
pub const GRE_HEADER_LEN: usize = 4;
/// Extra GRE bytes when the checksum is present (checksum + reserved1, RFC 2784 section 2.1).
pub const GRE_CSUM_LEN: usize = 4;

/// IP protocol number of IPv4-in-IP (RFC 2003), `IPPROTO_IPIP`.
pub const IPPROTO_IPIP: u8 = 4;
/// IP protocol number of IPv6-in-IP (RFC 4213 / RFC 2473), `IPPROTO_IPV6`.
pub const IPPROTO_IPV6: u8 = 41;
/// IP protocol number of UDP, `IPPROTO_UDP`.
pub const IPPROTO_UDP: u8 = 17;
/// IP protocol number of GRE, `IPPROTO_GRE`.
pub const IPPROTO_GRE: u8 = 47;

/// The kernel's default `net.ipv4.ip_local_port_range` (32768 60999): the range a GUE UDP
/// source port is drawn from (`udp_flow_src_port` with min = max = 0).
pub const DEFAULT_LOCAL_PORT_RANGE: (u16, u16) = (32768, 60999);
/// Smallest MTU budget for an IPv4 outer header (`__ip_vs_get_out_rt`: "mtu less than 68").
pub const MIN_BUDGET_V4_OUTER: u32 = 68;
/// Smallest MTU budget for an IPv6 outer header (`__ip_vs_get_out_rt_v6`: `IPV6_MIN_MTU`).
pub const MIN_BUDGET_V6_OUTER: u32 = 1280;

/// Checksum option of a GUE tunnel (ipvsadm `--tun-nocsum` (default), `--tun-csum`,
/// `--tun-remcsum`; kernel `IP_VS_TUNNEL_ENCAP_FLAG_NOCSUM/CSUM/REMCSUM`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum GueCsum {
    /// Outer UDP checksum 0 (`udp_set_csum(nocheck = true)`), IPv4 and IPv6 outer alike.
    #[default]
    NoCsum,
    /// Outer UDP checksum computed over the whole UDP datagram.
    Csum,
    /// Outer UDP checksum computed, and, for a packet whose inner L4 checksum is still pending
    /// (the kernel's `CHECKSUM_PARTIAL`, [`EncapMeta::partial_csum`]), the GUE private-flags
    /// and remote-checksum-offload options are added (8 more bytes). A packet with a complete
    /// inner checksum (every forwarded packet) gets no option, exactly as the kernel does.
    RemCsum,
}

/// Tunnel type of a real server (ipvsadm `--tun-type`, kernel `IP_VS_CONN_F_TUNNEL_TYPE_*`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TunType {
    /// `--tun-type ipip` (default): the inner packet right after the outer IP header, protocol
    /// 4 for an IPv4 inner packet, 41 for IPv6.
    Ipip,
    /// `--tun-type gue --tun-port port`: outer IP + UDP (destination port `port`, source port
    /// from the flow hash) + GUE version 0 header.
    Gue {
        /// UDP destination port (`--tun-port`), host order.
        port: u16,
        /// Checksum option.
        csum: GueCsum,
    },
    /// `--tun-type gre`: outer IP + GRE base header (protocol 0x0800 / 0x86DD), with the
    /// RFC 2784 checksum when `csum` (`--tun-csum`).
    Gre {
        /// Whether the GRE checksum is present (`--tun-csum`; `--tun-nocsum` is the default).
        csum: bool,
    },
}

impl TunType {
    /// Bytes the tunnel header adds between the outer IP header and the inner packet: IPIP 0,
    /// GUE 8 + 4 (+ 8 with a remote-checksum-offload option, `remcsum_option`), GRE 4 (8 with
    /// the checksum). Source: the `mtu -=` lines of `__ip_vs_get_out_rt`.
    #[must_use]
    pub fn header_len(self, remcsum_option: bool) -> usize {
        match self {
            TunType::Ipip => 0,
            TunType::Gue { csum, .. } => {
                let opt = if remcsum_option && csum == GueCsum::RemCsum {
                    GUE_REMCSUM_OPTION_LEN
                } else {
                    0
                };
                UDP_HEADER_LEN + GUE_HEADER_LEN + opt
            }
            TunType::Gre { csum } => GRE_HEADER_LEN + if csum { GRE_CSUM_LEN } else { 0 },
        }
    }
}

/// Outer addresses of a tunnel: the route source toward the RIP (`saddr` from the route
/// lookup, `IP_VS_RT_MODE_CONNECT`) and the RIP. The family selects the outer header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TunAddrs {
    /// IPv4 outer header (`ip_vs_tunnel_xmit`).
    V4 {
        /// Outer source (the director's address toward the real server).
        src: Ipv4Addr,
        /// Outer destination: the RIP.
        dst: Ipv4Addr,
    },
    /// IPv6 outer header (`ip_vs_tunnel_xmit_v6`).
    V6 {
        /// Outer source (the director's address toward the real server).
        src: Ipv6Addr,
        /// Outer destination: the RIP.
        dst: Ipv6Addr,
    },
}

impl TunAddrs {
    /// Length of the outer IP header these addresses produce: 20 (IPv4) or 40 (IPv6) bytes.
    #[must_use]
    pub fn ip_header_len(&self) -> usize {
        match self {
            TunAddrs::V4 { .. } => IPV4_HEADER_LEN,
            TunAddrs::V6 { .. } => IPV6_HEADER_LEN,
        }
    }
}

/// Per-real-server tunnel settings: what the kernel keeps in `struct ip_vs_dest` (tun_type,
/// tun_port, tun_flags), the cached route source, and the `pmtu_disc` sysctl.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TunnelConfig {
    /// Tunnel type and its options.
    pub tun_type: TunType,
    /// Outer source and destination (RIP).
    pub addrs: TunAddrs,
    /// `net.ipv4.vs.pmtu_disc` (default 1): when set, an IPv4 inner packet's DF bit is copied
    /// to the outer header and DF packets that do not fit are refused with ICMP
    /// fragmentation needed; when clear, DF is never set and oversized packets are fragmented.
    pub pmtu_disc: bool,
    /// `net.ipv4.ip_local_port_range` (low, high) for the GUE source port; (32768, 60999) by
    /// default. A range with low >= high means the default, as in `udp_flow_src_port`.
    pub local_port_range: (u16, u16),
}

impl TunnelConfig {
    /// Settings with the kernel defaults: `pmtu_disc` on, the default local port range.
    #[must_use]
    pub fn new(tun_type: TunType, addrs: TunAddrs) -> Self {
        TunnelConfig {
            tun_type,
            addrs,
            pmtu_disc: true,
            local_port_range: DEFAULT_LOCAL_PORT_RANGE,
        }
    }

    /// Total encapsulation overhead in bytes: outer IP header + tunnel header
    /// ([`TunType::header_len`]); `remcsum_option` says whether this packet carries the GUE
    /// remote checksum offload option.
    #[must_use]
    pub fn overhead(&self, remcsum_option: bool) -> usize {
        self.addrs.ip_header_len() + self.tun_type.header_len(remcsum_option)
    }
}

/// An inner L4 checksum still pending (the kernel's `CHECKSUM_PARTIAL`: the checksum field holds
/// the pseudo-header sum, not yet complemented, and the rest is to be summed from `csum_start`),
/// for GUE remote checksum offload. Offsets are bytes from the start of the inner IP packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PartialCsum {
    /// Where checksumming starts (the L4 header), bytes from the inner packet start.
    pub csum_start: u16,
    /// Where the checksum field sits, bytes from `csum_start` (16 for TCP, 6 for UDP).
    pub csum_offset: u16,
}

/// Per-packet inputs of [`encapsulate`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct EncapMeta {
    /// The packet's flow hash (`skb_get_hash`), from which the GUE UDP source port is derived.
    /// The kernel replaces a zero hash with a boot-time random value; pass your own.
    pub flow_hash: u32,
    /// Outer IPv4 identification for a packet without DF (`__ip_select_ident`); a DF packet gets
    /// ID 0 as `ip_select_ident_segs` gives it. Ignored for an IPv6 outer header.
    pub ip_id: u16,
    /// Set when the inner L4 checksum is still pending; used only with [`GueCsum::RemCsum`].
    pub partial_csum: Option<PartialCsum>,
}

/// What a tunnel packet was seen to be on decapsulation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TunKind {
    /// IP protocol 4 or 41 directly after the outer IP header.
    Ipip,
    /// UDP to the GUE port with a GUE version 0 header, or version 1 (direct IP in UDP).
    Gue,
    /// GRE version 0.
    Gre,
}

/// Why a tunnel operation failed. Generic parse failures (truncation, impossible header
/// fields, fragments, no headroom) are the crate's [`FwdError`] inside [`TunError::Fwd`];
/// the rest are tunnel-specific.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TunError {
    /// A generic failure: [`FwdError::Truncated`], [`FwdError::BadHeader`],
    /// [`FwdError::NoHeadroom`], [`FwdError::Fragment`], [`FwdError::UnsupportedIpVersion`],
    /// [`FwdError::ExtensionHeaderChain`], [`FwdError::FamilyMismatch`].
    #[error(transparent)]
    Fwd(#[from] FwdError),
    /// The encapsulated packet would exceed the IP length field (65535 bytes for IPv4, a
    /// 65535-byte payload for IPv6): `len` bytes.
    #[error("encapsulated packet too long: {len} bytes")]
    TooLong {
        /// The length that did not fit.
        len: usize,
    },
    /// The outer IPv4 header checksum does not verify.
    #[error("bad outer ipv4 header checksum")]
    BadOuterChecksum,
    /// The inner IPv4 header checksum does not verify.
    #[error("bad inner ipv4 header checksum")]
    BadInnerChecksum,
    /// The outer packet's protocol is not a tunnel (not 4, 41, 47, nor UDP to the GUE port).
    #[error("not a tunnel packet (protocol {0})")]
    NotTunnel(u8),
    /// The outer UDP header of a GUE packet is wrong (length field disagrees with the IP
    /// length).
    #[error("bad outer udp length")]
    BadUdpLength,
    /// The outer UDP checksum of a GUE packet is non-zero and does not verify.
    #[error("bad outer udp checksum")]
    BadUdpChecksum,
    /// GUE version other than 0 or 1 (draft-ietf-intarea-gue section 3, `gue_udp_recv`).
    #[error("unknown gue version {0}")]
    GueVersion(u8),
    /// A GUE control message (C bit set): not a data packet (`gue_control_message`).
    #[error("gue control message")]
    GueControl,
    /// Unknown GUE flags or private flags, or options shorter than the flags require
    /// (`validate_gue_flags`, include/net/gue.h).
    #[error("bad gue flags or options")]
    GueFlags,
    /// The GUE remote checksum offload field points outside the inner packet or at an odd
    /// offset.
    #[error("bad gue remote checksum offload field")]
    GueRemcsum,
    /// GRE version other than 0 (RFC 2784 section 2.3.1; version 1 is PPTP).
    #[error("unsupported gre version {0}")]
    GreVersion(u8),
    /// GRE routing present (RFC 1701 R bit; `gre_parse_header` refuses it).
    #[error("gre routing present")]
    GreRouting,
    /// The GRE checksum does not verify (RFC 2784 section 2.5).
    #[error("bad gre checksum")]
    BadGreChecksum,
    /// The tunnel carries a protocol that is neither IPv4 nor IPv6 (GRE protocol type or GUE
    /// proto_ctype, shown as its number).
    #[error("unsupported inner protocol {0:#06x}")]
    UnsupportedInner(u16),
    /// The inner packet's IP version is not the one the tunnel header announced.
    #[error("inner ip version does not match the tunnel protocol")]
    InnerVersionMismatch,
    /// The inner packet's length field (`declared` bytes) disagrees with what the outer packet
    /// carries (`carried` bytes).
    #[error("inner length {declared} does not match the {carried} bytes carried")]
    InnerLengthMismatch {
        /// Inner IPv4 total length or IPv6 payload length + 40.
        declared: usize,
        /// Bytes after the tunnel headers up to the end of the outer packet.
        carried: usize,
    },
    /// RFC 6040 section 4.2: the outer header is CE but the inner packet is Not-ECT; the
    /// packet must be dropped.
    #[error("outer CE on a Not-ECT inner packet (RFC 6040 drop)")]
    EcnDrop,
    /// The MTU budget (egress MTU minus the tunnel overhead, `budget` bytes) is below the
    /// minimum (`min`: 68 for an IPv4 outer header, 1280 for IPv6): the kernel drops the packet
    /// without any ICMP.
    #[error("mtu budget {budget} below the minimum {min}")]
    MtuTooSmall {
        /// Egress MTU minus overhead (may be negative when the MTU is below the overhead).
        budget: i64,
        /// The minimum for the outer family.
        min: u32,
    },
    /// The ICMP message is not an error about one of our tunnels (`ip_vs_in_icmp` leaves it to
    /// the normal path).
    #[error("icmp message is not about our tunnel")]
    NotAboutTunnel,
    /// The ICMP message's checksum does not verify.
    #[error("bad icmp checksum")]
    BadIcmpChecksum,
}

pub(crate) fn bad(rule: &'static str) -> TunError {
    TunError::Fwd(FwdError::BadHeader(rule))
}
