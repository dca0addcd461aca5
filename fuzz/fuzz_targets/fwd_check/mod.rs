//! Shared checks of the lvs-fwd fuzz targets (not a target itself): make a parsed frame's
//! checksums valid, and verify a rewritten frame with our full recompute and etherparse's.
#![allow(dead_code)]

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use etherparse::{Icmpv4Slice, Icmpv6Slice, Ipv4Header, TcpHeader, UdpHeader};
use lvs_fwd::{Parsed, Transport};

/// Splits the fuzz input into control bytes (`n` of them) and the frame; None if too short.
pub fn split(data: &[u8], n: usize) -> Option<(&[u8], Vec<u8>)> {
    let (c, f) = data.split_at_checked(n)?;
    Some((c, f.to_vec()))
}

/// An address of the packet's family from 16 control bytes.
pub fn addr(p: &Parsed, c: &[u8]) -> IpAddr {
    let mut b = [0u8; 16];
    b.copy_from_slice(&c[..16]);
    if p.is_ipv4() {
        IpAddr::V4(Ipv4Addr::new(b[0], b[1], b[2], b[3]))
    } else {
        IpAddr::V6(Ipv6Addr::from(b))
    }
}

/// Parses and fixes every checksum (full recompute); returns the view if the frame then
/// verifies.
pub fn prepare(f: &mut [u8]) -> Option<Parsed> {
    let p = lvs_fwd::parse(f).ok()?;
    lvs_fwd::recompute_checksums(f, &p).ok()?;
    lvs_fwd::verify_checksums(f, &p).then_some(p)
}

/// Equal as one's-complement checksums: 0x0000 and 0xFFFF are the two forms of zero
/// (RFC 1071); an incremental update (RFC 1624 eqn. 3, as the kernel's csum_replace) may
/// leave 0xFFFF where a full computation writes 0x0000. Receivers accept both.
pub fn csum_eq(a: u16, b: u16) -> bool {
    a == b || (a == 0 && b == 0xFFFF) || (a == 0xFFFF && b == 0)
}

/// Asserts that `f` (a successful rewrite of a frame whose checksums were valid) has valid
/// checksums by our full verification and by etherparse's computations where they apply.
pub fn assert_valid(f: &[u8]) {
    let p = lvs_fwd::parse(f).expect("a rewritten frame parses");
    assert!(lvs_fwd::verify_checksums(f, &p), "own verification");
    let ip = &f[p.l3_offset()..p.end()];
    let seg = &f[p.l4_offset()..p.end()];
    if let (IpAddr::V4(_), Ok((h, _))) = (p.src(), Ipv4Header::from_slice(ip)) {
        assert!(
            csum_eq(h.calc_header_checksum(), h.header_checksum),
            "etherparse ipv4 header"
        );
    }
    if p.fragment().is_some_and(|x| x.more || x.offset != 0) {
        return;
    }
    let (s4, d4, s6, d6) = match (p.src(), p.dst()) {
        (IpAddr::V4(s), IpAddr::V4(d)) => (s.octets(), d.octets(), [0; 16], [0; 16]),
        (IpAddr::V6(s), IpAddr::V6(d)) => ([0; 4], [0; 4], s.octets(), d.octets()),
        _ => unreachable!(),
    };
    match p.transport() {
        Transport::Tcp { .. } => {
            // etherparse drops the reserved bits when it re-encodes; compare only headers that
            // round-trip.
            let Ok((h, payload)) = TcpHeader::from_slice(seg) else {
                return;
            };
            if h.to_bytes()[..] == seg[..h.header_len()] {
                let c = if p.is_ipv4() {
                    h.calc_checksum_ipv4_raw(s4, d4, payload)
                } else {
                    h.calc_checksum_ipv6_raw(s6, d6, payload)
                };
                if let Ok(c) = c {
                    assert!(csum_eq(c, h.checksum), "etherparse tcp");
                }
            }
        }
        Transport::Udp { .. } => {
            if let Ok((h, _)) = UdpHeader::from_slice(seg) {
                let payload = &seg[8..usize::from(h.length).clamp(8, seg.len())];
                if !(p.is_ipv4() && h.checksum == 0) {
                    let c = if p.is_ipv4() {
                        h.calc_checksum_ipv4_raw(s4, d4, payload)
                    } else {
                        h.calc_checksum_ipv6_raw(s6, d6, payload)
                    };
                    if let Ok(c) = c {
                        assert!(csum_eq(c, h.checksum), "etherparse udp");
                    }
                }
            }
        }
        Transport::Icmp { .. } => {
            if let Ok(s) = Icmpv4Slice::from_slice(seg) {
                // etherparse re-encodes the type-specific bytes it understands; compare only
                // when its header round-trips to the same 8 bytes.
                if s.header().to_bytes()[..] == seg[..s.header().header_len()] {
                    assert_eq!(
                        s.icmp_type().calc_checksum(s.payload()),
                        s.checksum(),
                        "etherparse icmp"
                    );
                }
            }
        }
        Transport::Icmpv6 { .. } => {
            if let Ok(s) = Icmpv6Slice::from_slice(seg) {
                if s.header().to_bytes()[..] == seg[..s.header().header_len()] {
                    assert!(s.is_checksum_valid(s6, d6), "etherparse icmpv6");
                }
            }
        }
        _ => {}
    }
}
