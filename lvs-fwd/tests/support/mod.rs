//! Test support: an independent frame builder (etherparse serialises the headers and computes
//! every checksum in full) and independent verifiers (smoltcp, a bitwise CRC32c).
#![allow(dead_code, unreachable_pub, missing_docs)]

use std::net::IpAddr;

use etherparse::{
    Icmpv4Header, Icmpv4Type, Icmpv6Header, Icmpv6Type, IpDscp, IpEcn, IpNumber, Ipv4Header,
    Ipv4Options, Ipv6FlowLabel, Ipv6Header, TcpHeader, UdpHeader,
};
use proptest::prelude::*;

pub const CLIENT_MAC: [u8; 6] = [0x02, 0, 0, 0, 0, 0x01];
pub const DIRECTOR_MAC: [u8; 6] = [0x02, 0, 0, 0, 0, 0xd1];
pub const RS_MAC: [u8; 6] = [0x02, 0, 0, 0, 0, 0x51];

/// IPv6 extension headers the builder can insert (in this order when several are chosen).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ext {
    /// Hop-by-hop options of (n + 1) * 8 bytes, PadN-filled.
    HopByHop(u8),
    /// Destination options of (n + 1) * 8 bytes, PadN-filled.
    DestOpts(u8),
    /// A routing header with Segments Left 0 (type 253, experimental; RFC 4727).
    Routing,
    /// An atomic fragment header (offset 0, M = 0, RFC 6946).
    AtomicFragment(u32),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Spec {
    pub dst_mac: [u8; 6],
    pub src_mac: [u8; 6],
    pub vlan: Option<u16>,
    pub src: IpAddr,
    pub dst: IpAddr,
    pub sport: u16,
    pub dport: u16,
    /// 6, 17 or 132.
    pub proto: u8,
    pub ttl: u8,
    pub tos: u8,
    pub ip_id: u16,
    pub v4_options: Vec<u8>,
    pub v6_ext: Vec<Ext>,
    pub udp_zero: bool,
    pub tcp_flags: u8,
    pub tcp_options: Vec<u8>,
    pub payload: Vec<u8>,
    pub padding: usize,
}

impl Spec {
    pub fn tcp_v4(src: [u8; 4], sport: u16, dst: [u8; 4], dport: u16) -> Spec {
        Spec {
            dst_mac: DIRECTOR_MAC,
            src_mac: CLIENT_MAC,
            vlan: None,
            src: IpAddr::from(src),
            dst: IpAddr::from(dst),
            sport,
            dport,
            proto: 6,
            ttl: 64,
            tos: 0,
            ip_id: 0x1c46,
            v4_options: vec![],
            v6_ext: vec![],
            udp_zero: false,
            tcp_flags: 0x02,
            tcp_options: vec![],
            payload: vec![],
            padding: 0,
        }
    }
}

/// CRC32c, bit by bit, straight from the definition (reflected polynomial 0x82F63B78,
/// init and final XOR 0xFFFFFFFF; RFC 9260 appendix A).
pub fn crc32c_bitwise(data: &[u8]) -> u32 {
    let mut c = !0u32;
    for b in data {
        c ^= u32::from(*b);
        for _ in 0..8 {
            c = if c & 1 != 0 {
                (c >> 1) ^ 0x82F6_3B78
            } else {
                c >> 1
            };
        }
    }
    !c
}

fn v4(a: IpAddr) -> [u8; 4] {
    match a {
        IpAddr::V4(a) => a.octets(),
        IpAddr::V6(_) => panic!("v6 address in a v4 spec"),
    }
}
fn v6(a: IpAddr) -> [u8; 16] {
    match a {
        IpAddr::V6(a) => a.octets(),
        IpAddr::V4(_) => panic!("v4 address in a v6 spec"),
    }
}

/// The transport segment (header + payload) with its checksum computed in full by etherparse
/// (TCP, UDP) or by the bitwise CRC32c (SCTP).
pub fn l4_bytes(s: &Spec) -> Vec<u8> {
    match s.proto {
        6 => {
            let mut t = TcpHeader::new(s.sport, s.dport, 0x0102_0304, 29200);
            t.fin = s.tcp_flags & 0x01 != 0;
            t.syn = s.tcp_flags & 0x02 != 0;
            t.rst = s.tcp_flags & 0x04 != 0;
            t.psh = s.tcp_flags & 0x08 != 0;
            t.ack = s.tcp_flags & 0x10 != 0;
            t.acknowledgment_number = if t.ack { 0x0a0b_0c0d } else { 0 };
            t.set_options_raw(&s.tcp_options).unwrap();
            t.checksum = match (s.src, s.dst) {
                (IpAddr::V4(_), _) => t.calc_checksum_ipv4_raw(v4(s.src), v4(s.dst), &s.payload),
                _ => t.calc_checksum_ipv6_raw(v6(s.src), v6(s.dst), &s.payload),
            }
            .unwrap();
            let mut b = t.to_bytes().to_vec();
            b.extend_from_slice(&s.payload);
            b
        }
        17 => {
            let mut u = UdpHeader {
                source_port: s.sport,
                destination_port: s.dport,
                length: (8 + s.payload.len()) as u16,
                checksum: 0,
            };
            if !s.udp_zero {
                u.checksum = match s.src {
                    IpAddr::V4(_) => u.calc_checksum_ipv4_raw(v4(s.src), v4(s.dst), &s.payload),
                    IpAddr::V6(_) => u.calc_checksum_ipv6_raw(v6(s.src), v6(s.dst), &s.payload),
                }
                .unwrap();
            }
            let mut b = u.to_bytes().to_vec();
            b.extend_from_slice(&s.payload);
            b
        }
        132 => {
            let mut b = Vec::new();
            b.extend_from_slice(&s.sport.to_be_bytes());
            b.extend_from_slice(&s.dport.to_be_bytes());
            b.extend_from_slice(&0xdead_beefu32.to_be_bytes());
            b.extend_from_slice(&[0; 4]);
            b.extend_from_slice(&s.payload);
            let crc = crc32c_bitwise(&b);
            b[8..12].copy_from_slice(&crc.to_le_bytes());
            b
        }
        p => panic!("builder cannot make protocol {p}"),
    }
}

/// Ethernet (+ tag) + IP header(s) around an L4 byte string with protocol `proto`.
pub fn wrap(s: &Spec, proto: u8, l4: &[u8]) -> Vec<u8> {
    let mut f = Vec::new();
    f.extend_from_slice(&s.dst_mac);
    f.extend_from_slice(&s.src_mac);
    if let Some(tci) = s.vlan {
        f.extend_from_slice(&[0x81, 0x00]);
        f.extend_from_slice(&tci.to_be_bytes());
    }
    match s.src {
        IpAddr::V4(_) => {
            f.extend_from_slice(&[0x08, 0x00]);
            let mut h = Ipv4Header::new(0, s.ttl, IpNumber(proto), v4(s.src), v4(s.dst)).unwrap();
            h.options = Ipv4Options::try_from(&s.v4_options[..]).unwrap();
            h.set_payload_len(l4.len()).unwrap();
            h.identification = s.ip_id;
            h.dscp = IpDscp::try_new(s.tos >> 2).unwrap();
            h.ecn = IpEcn::try_new(s.tos & 3).unwrap();
            h.header_checksum = h.calc_header_checksum();
            f.extend_from_slice(&h.to_bytes());
        }
        IpAddr::V6(_) => {
            f.extend_from_slice(&[0x86, 0xdd]);
            let mut ext = Vec::new();
            let kinds: Vec<u8> = s
                .v6_ext
                .iter()
                .map(|e| match e {
                    Ext::HopByHop(_) => 0,
                    Ext::DestOpts(_) => 60,
                    Ext::Routing => 43,
                    Ext::AtomicFragment(_) => 44,
                })
                .collect();
            for (i, e) in s.v6_ext.iter().enumerate() {
                let next = kinds.get(i + 1).copied().unwrap_or(proto);
                match *e {
                    Ext::HopByHop(n) | Ext::DestOpts(n) => {
                        let total = (usize::from(n) + 1) * 8;
                        ext.extend_from_slice(&[next, n, 1, (total - 4) as u8]);
                        ext.extend(std::iter::repeat_n(0, total - 4));
                    }
                    Ext::Routing => ext.extend_from_slice(&[next, 0, 253, 0, 0, 0, 0, 0]),
                    Ext::AtomicFragment(id) => {
                        ext.extend_from_slice(&[next, 0, 0, 0]);
                        ext.extend_from_slice(&id.to_be_bytes());
                    }
                }
            }
            let h = Ipv6Header {
                traffic_class: s.tos,
                flow_label: Ipv6FlowLabel::try_new(0x12345).unwrap(),
                payload_length: (ext.len() + l4.len()) as u16,
                next_header: IpNumber(kinds.first().copied().unwrap_or(proto)),
                hop_limit: s.ttl,
                source: v6(s.src),
                destination: v6(s.dst),
            };
            f.extend_from_slice(&h.to_bytes());
            f.extend_from_slice(&ext);
        }
    }
    f.extend_from_slice(l4);
    f.extend(std::iter::repeat_n(0, s.padding));
    f
}

/// The whole frame of a TCP / UDP / SCTP spec, every checksum computed in full.
pub fn build(s: &Spec) -> Vec<u8> {
    wrap(s, s.proto, &l4_bytes(s))
}

/// The IP packet of `inner` (IP header(s) entire) cut `quote_l4` bytes into its L4 part.
pub fn quote_of(inner: &Spec, quote_l4: usize) -> Vec<u8> {
    let f = build(inner);
    let p = lvs_fwd::parse(&f).unwrap();
    f[p.l3_offset()..(p.l4_offset() + quote_l4).min(p.end())].to_vec()
}

/// An ICMP(v6) Destination Unreachable (port unreachable) from `outer` (its addresses, TTL,
/// MACs; its proto/ports are ignored) quoting `quote`. The ICMP checksum is computed by
/// etherparse.
pub fn icmp_error_from_quote(outer: &Spec, quote: &[u8]) -> Vec<u8> {
    let icmp = match outer.src {
        IpAddr::V4(_) => {
            let h = Icmpv4Header::with_checksum(
                Icmpv4Type::DestinationUnreachable(etherparse::icmpv4::DestUnreachableHeader::Port),
                quote,
            );
            let mut b = h.to_bytes().to_vec();
            b.extend_from_slice(quote);
            (1, b)
        }
        IpAddr::V6(_) => {
            let h = Icmpv6Header::with_checksum(
                Icmpv6Type::DestinationUnreachable(etherparse::icmpv6::DestUnreachableCode::Port),
                v6(outer.src),
                v6(outer.dst),
                quote,
            )
            .unwrap();
            let mut b = h.to_bytes().to_vec();
            b.extend_from_slice(quote);
            (58, b)
        }
    };
    wrap(outer, icmp.0, &icmp.1)
}

/// [`icmp_error_from_quote`] of [`quote_of`].
pub fn icmp_error(outer: &Spec, inner: &Spec, quote_l4: usize) -> Vec<u8> {
    icmp_error_from_quote(outer, &quote_of(inner, quote_l4))
}

/// Checks every checksum of a frame with smoltcp (IPv4 header, TCP, UDP, ICMP, ICMPv6), the
/// transport located by `lvs_fwd::parse`. SCTP: the bitwise CRC32c. Returns false on a bad one.
pub fn smoltcp_verifies(frame: &[u8]) -> bool {
    use smoltcp::wire::{Icmpv4Packet, Icmpv6Packet, IpAddress, Ipv4Packet, TcpPacket, UdpPacket};
    let p = lvs_fwd::parse(frame).unwrap();
    let ip = &frame[p.l3_offset()..p.end()];
    if p.is_ipv4() && !Ipv4Packet::new_checked(ip).unwrap().verify_checksum() {
        return false;
    }
    let seg = &frame[p.l4_offset()..p.end()];
    let (s, d) = (IpAddress::from(p.src()), IpAddress::from(p.dst()));
    match p.protocol() {
        6 => TcpPacket::new_checked(seg).unwrap().verify_checksum(&s, &d),
        17 => UdpPacket::new_checked(seg).unwrap().verify_checksum(&s, &d),
        1 => Icmpv4Packet::new_checked(seg).unwrap().verify_checksum(),
        58 => match (p.src(), p.dst()) {
            (IpAddr::V6(s6), IpAddr::V6(d6)) => Icmpv6Packet::new_checked(seg)
                .unwrap()
                .verify_checksum(&s6, &d6),
            _ => false,
        },
        132 => {
            let mut c = seg.to_vec();
            c[8..12].fill(0);
            u32::from_le_bytes(seg[8..12].try_into().unwrap()) == crc32c_bitwise(&c)
        }
        _ => true,
    }
}

// ---- proptest strategies ----

/// Any IPv4 address but loopback (a DNAT to loopback is refused, ip_vs_nat_xmit).
pub fn any_v4() -> impl Strategy<Value = IpAddr> {
    any::<[u8; 4]>().prop_map(|mut a| {
        if a[0] == 127 {
            a[0] = 128;
        }
        IpAddr::from(a)
    })
}
/// Any IPv6 address but ::1.
pub fn any_v6() -> impl Strategy<Value = IpAddr> {
    any::<[u8; 16]>().prop_map(|mut a| {
        if a[..15] == [0; 15] && a[15] == 1 {
            a[15] = 2;
        }
        IpAddr::from(a)
    })
}

/// Random TCP/UDP/SCTP specs, IPv4 (with options) or IPv6 (with extension headers), with an
/// optional VLAN tag, Ethernet padding, UDP zero checksums (IPv4), TTL >= 2.
pub fn any_spec() -> impl Strategy<Value = Spec> {
    let v4 = (
        any_v4(),
        any_v4(),
        prop::collection::vec(any::<u8>(), 0..=10usize),
    )
        .prop_map(|(s, d, words)| {
            // Options: random words, but never EOL-only weirdness matters to the parser; use
            // NOP-padded random option bytes of length 4 * k.
            let mut o = Vec::new();
            for w in words {
                o.extend_from_slice(&[1, 1, 1, w]);
            }
            (s, d, o, vec![])
        });
    let v6 = (
        any_v6(),
        any_v6(),
        prop::option::of(0u8..3),
        prop::option::of(0u8..3),
        any::<bool>(),
        prop::option::of(any::<u32>()),
    )
        .prop_map(|(s, d, hbh, dst, rt, frag)| {
            let mut e = vec![];
            if let Some(n) = hbh {
                e.push(Ext::HopByHop(n));
            }
            if let Some(n) = dst {
                e.push(Ext::DestOpts(n));
            }
            if rt {
                e.push(Ext::Routing);
            }
            if let Some(id) = frag {
                e.push(Ext::AtomicFragment(id));
            }
            (s, d, vec![], e)
        });
    (
        prop_oneof![v4, v6],
        prop::sample::select(vec![6u8, 17, 132]),
        any::<(u16, u16)>(),
        2u8..=255,
        any::<u8>(),
        prop::option::of(any::<u16>()),
        prop::collection::vec(any::<u8>(), 0..120),
        0usize..20,
        any::<bool>(),
        0usize..=4,
    )
        .prop_map(
            |(
                (src, dst, v4_options, v6_ext),
                proto,
                (sport, dport),
                ttl,
                tos,
                vlan,
                payload,
                padding,
                zero,
                topt,
            )| {
                let is_v4 = src.is_ipv4();
                let mut s = Spec::tcp_v4([0; 4], sport, [0; 4], dport);
                s.src = src;
                s.dst = dst;
                s.proto = proto;
                s.ttl = ttl;
                s.tos = tos;
                s.vlan = vlan;
                s.v4_options = v4_options;
                s.v6_ext = v6_ext;
                s.payload = payload;
                s.padding = padding;
                s.udp_zero = zero && is_v4 && proto == 17;
                s.tcp_options = vec![1; topt * 4];
                s.tcp_flags = 0x18;
                s
            },
        )
}
