//! Shared helpers of the tun_* integration tests: independent checksum arithmetic and packet
//! builders on top of etherparse (never lvs-fwd's own checksum code).
#![allow(dead_code, unreachable_pub)]

use etherparse::{IpNumber, Ipv4Header, Ipv6FlowLabel, Ipv6Header, PacketBuilder};
use lvs_fwd::tun::TunAddrs;
use std::net::{Ipv4Addr, Ipv6Addr};

/// Plain RFC 1071 sum over 16-bit big-endian words, folded, NOT complemented: a region whose
/// checksum field is correct sums to 0xFFFF.
pub fn naive_sum(parts: &[&[u8]]) -> u16 {
    let mut bytes = Vec::new();
    for p in parts {
        bytes.extend_from_slice(p);
    }
    if bytes.len() % 2 == 1 {
        bytes.push(0);
    }
    let mut s: u64 = 0;
    for w in bytes.chunks(2) {
        s += u64::from(u16::from_be_bytes([w[0], w[1]]));
    }
    while s >> 16 != 0 {
        s = (s & 0xffff) + (s >> 16);
    }
    s as u16
}

pub fn pseudo_v4(src: [u8; 4], dst: [u8; 4], proto: u8, len: usize) -> Vec<u8> {
    let mut p = Vec::new();
    p.extend_from_slice(&src);
    p.extend_from_slice(&dst);
    p.extend_from_slice(&[0, proto]);
    p.extend_from_slice(&(len as u16).to_be_bytes());
    p
}

pub fn pseudo_v6(src: [u8; 16], dst: [u8; 16], proto: u8, len: usize) -> Vec<u8> {
    let mut p = Vec::new();
    p.extend_from_slice(&src);
    p.extend_from_slice(&dst);
    p.extend_from_slice(&(len as u32).to_be_bytes());
    p.extend_from_slice(&[0, 0, 0, proto]);
    p
}

/// An IPv4 TCP packet from CIP 10.0.0.2:40000 to VIP 207.175.44.110:8080 with `payload`,
/// the given TOS byte, TTL and DF bit; all checksums valid (etherparse).
pub fn tcp_v4(payload: &[u8], tos: u8, ttl: u8, df: bool) -> Vec<u8> {
    let b = PacketBuilder::ipv4([10, 0, 0, 2], [207, 175, 44, 110], ttl).tcp(40000, 8080, 1, 65535);
    let mut v = Vec::new();
    b.write(&mut v, payload).unwrap();
    let (mut h, _) = Ipv4Header::from_slice(&v).unwrap();
    h.dscp = etherparse::IpDscp::try_new(tos >> 2).unwrap();
    h.ecn = etherparse::IpEcn::try_new(tos & 3).unwrap();
    h.dont_fragment = df;
    h.identification = 0x1234;
    h.header_checksum = h.calc_header_checksum();
    let hb = h.to_bytes();
    v[..hb.len()].copy_from_slice(&hb);
    v
}

/// An IPv6 UDP packet from [2001:db8::2]:5353 to [2001:db8::100]:53 with `payload`, traffic
/// class `tc`, hop limit `hop`; UDP checksum valid.
pub fn udp_v6(payload: &[u8], tc: u8, hop: u8) -> Vec<u8> {
    let src: Ipv6Addr = "2001:db8::2".parse().unwrap();
    let dst: Ipv6Addr = "2001:db8::100".parse().unwrap();
    let b = PacketBuilder::ipv6(src.octets(), dst.octets(), hop).udp(5353, 53);
    let mut v = Vec::new();
    b.write(&mut v, payload).unwrap();
    let (mut h, _) = Ipv6Header::from_slice(&v).unwrap();
    h.traffic_class = tc;
    h.flow_label = Ipv6FlowLabel::ZERO;
    let hb = h.to_bytes();
    v[..hb.len()].copy_from_slice(&hb);
    v
}

/// Places `inner` at offset `headroom` of a fresh buffer of `headroom + inner.len() + tail`
/// bytes filled with 0xEE (so writes outside the expected range are visible).
pub fn with_headroom(inner: &[u8], headroom: usize, tail: usize) -> Vec<u8> {
    let mut buf = vec![0xEE; headroom + inner.len() + tail];
    buf[headroom..headroom + inner.len()].copy_from_slice(inner);
    buf
}

pub fn v4(a: &str) -> Ipv4Addr {
    a.parse().unwrap()
}

pub fn v6(a: &str) -> Ipv6Addr {
    a.parse().unwrap()
}

/// Verifies an outer packet independently: IPv4 header checksum by etherparse and by the naive
/// sum; UDP checksum (when non-zero) by etherparse's raw calculator and the naive sum with the
/// pseudo-header; GRE checksum (when the C bit is set) by the naive sum. Panics on failure.
pub fn verify_outer(outer: &[u8]) {
    let (ip_len, proto, src, dst, v6) = if outer[0] >> 4 == 4 {
        let (h, _) = Ipv4Header::from_slice(outer).expect("etherparse parses the outer ipv4");
        assert_eq!(
            h.header_checksum,
            h.calc_header_checksum(),
            "outer ipv4 checksum (etherparse)"
        );
        assert_eq!(
            naive_sum(&[&outer[..20]]),
            0xffff,
            "outer ipv4 checksum (naive)"
        );
        assert_eq!(usize::from(h.total_len), outer.len());
        let mut s = [0u8; 16];
        let mut d = [0u8; 16];
        s[..4].copy_from_slice(&h.source);
        d[..4].copy_from_slice(&h.destination);
        (20, h.protocol, s, d, false)
    } else {
        let (h, _) = Ipv6Header::from_slice(outer).expect("etherparse parses the outer ipv6");
        assert_eq!(usize::from(h.payload_length) + 40, outer.len());
        (40, h.next_header, h.source, h.destination, true)
    };
    let body = &outer[ip_len..];
    if proto == IpNumber::UDP {
        let check = u16::from_be_bytes([body[6], body[7]]);
        assert_eq!(
            usize::from(u16::from_be_bytes([body[4], body[5]])),
            body.len()
        );
        if check != 0 {
            let pseudo = if v6 {
                pseudo_v6(src, dst, 17, body.len())
            } else {
                pseudo_v4(
                    src[..4].try_into().unwrap(),
                    dst[..4].try_into().unwrap(),
                    17,
                    body.len(),
                )
            };
            assert_eq!(naive_sum(&[&pseudo, body]), 0xffff, "udp checksum (naive)");
            let (udp, payload) = etherparse::UdpHeader::from_slice(body).unwrap();
            let want = if v6 {
                udp.calc_checksum_ipv6_raw(src, dst, payload).unwrap()
            } else {
                udp.calc_checksum_ipv4_raw(
                    src[..4].try_into().unwrap(),
                    dst[..4].try_into().unwrap(),
                    payload,
                )
                .unwrap()
            };
            assert_eq!(check, want, "udp checksum (etherparse)");
        }
    } else if proto == IpNumber::GRE && body[0] & 0x80 != 0 {
        assert_eq!(naive_sum(&[body]), 0xffff, "gre checksum (naive)");
    }
}

/// Outer IPv4 addresses of the tests: route source 192.168.1.1, RIP 172.16.0.2.
pub fn v4_addrs() -> TunAddrs {
    TunAddrs::V4 {
        src: v4("192.168.1.1"),
        dst: v4("172.16.0.2"),
    }
}

/// Outer IPv6 addresses of the tests: route source 2001:db8:1::1, RIP 2001:db8:2::2.
pub fn v6_addrs() -> TunAddrs {
    TunAddrs::V6 {
        src: v6("2001:db8:1::1"),
        dst: v6("2001:db8:2::2"),
    }
}
