//! Bad input: truncated frames, lying header lengths, unknown protocols, fragments, IPv6
//! extension-header loops, zero-length payloads. Each gets a typed error or typed outcome.

mod support;

use std::net::IpAddr;

use lvs_fwd::{
    FwdError, Outcome, Transport, dr, fullnat_in, nat_in, nat_out, parse, verify_checksums,
};
use support::*;

fn v4_tcp() -> Spec {
    let mut s = Spec::tcp_v4([192, 0, 2, 10], 40000, [10, 0, 0, 100], 80);
    s.v4_options = vec![1, 1, 1, 0];
    s.tcp_options = vec![1; 8];
    s.payload = b"GET / HTTP/1.0\r\n\r\n".to_vec();
    s
}

fn v6_tcp() -> Spec {
    let mut s = v4_tcp();
    s.src = "2001:db8::10".parse().unwrap();
    s.dst = "2001:db8::100".parse().unwrap();
    s.v4_options = vec![];
    s.v6_ext = vec![
        Ext::HopByHop(0),
        Ext::DestOpts(1),
        Ext::Routing,
        Ext::AtomicFragment(7),
    ];
    s
}

const RIP: [u8; 4] = [192, 168, 10, 2];

#[test]
fn every_truncation_is_a_typed_error_and_padding_is_ignored() {
    for s in [v4_tcp(), v6_tcp()] {
        let mut f = build(&s);
        let end = parse(&f).unwrap().end();
        for n in 0..end {
            assert!(
                matches!(parse(&f[..n]), Err(FwdError::Truncated { .. })),
                "prefix {n} of {end}: {:?}",
                parse(&f[..n])
            );
        }
        // RFC 894 padding after the IP packet: ignored, left untouched by rewrites.
        f.extend_from_slice(&[0xee; 10]);
        let p = parse(&f).unwrap();
        assert_eq!(p.end(), end);
        let rip: IpAddr = if s.src.is_ipv4() {
            RIP.into()
        } else {
            "2001:db8::2".parse().unwrap()
        };
        assert_eq!(nat_in(&mut f, &p, rip, 8080), Ok(Outcome::Forward));
        assert_eq!(&f[end..], &[0xee; 10]);
        assert!(verify_checksums(&f, &parse(&f).unwrap()));
    }
}

#[test]
fn rewrite_with_a_shorter_buffer_than_parsed_is_refused() {
    let f = build(&v4_tcp());
    let p = parse(&f).unwrap();
    let mut short = f[..30].to_vec();
    assert!(matches!(
        nat_in(&mut short, &p, RIP.into(), 1),
        Err(FwdError::Truncated { .. })
    ));
    assert!(matches!(
        dr(&mut short, &p, RS_MAC, DIRECTOR_MAC),
        Err(FwdError::Truncated { .. })
    ));
    assert_eq!(short, f[..30]);
}

#[test]
fn lying_ipv4_lengths() {
    let f = build(&v4_tcp());
    // IHL 4 (< 5, RFC 791).
    let mut g = f.clone();
    g[14] = 0x44;
    assert_eq!(parse(&g), Err(FwdError::BadHeader("ipv4 ihl < 5")));
    // Total Length beyond the frame.
    let mut g = f.clone();
    g[16..18].copy_from_slice(&2000u16.to_be_bytes());
    assert_eq!(
        parse(&g),
        Err(FwdError::Truncated {
            needed: 14 + 2000,
            got: f.len()
        })
    );
    // Total Length smaller than the header.
    let mut g = f.clone();
    g[16..18].copy_from_slice(&20u16.to_be_bytes());
    assert_eq!(
        parse(&g),
        Err(FwdError::BadHeader("ipv4 total length < header length"))
    );
    // IHL 15 (60 bytes) on a packet of total length 44.
    let mut g = f.clone();
    g[14] = 0x4f;
    g[16..18].copy_from_slice(&44u16.to_be_bytes());
    assert_eq!(
        parse(&g),
        Err(FwdError::BadHeader("ipv4 total length < header length"))
    );
}

#[test]
fn lying_transport_lengths() {
    let s = v4_tcp();
    let f = build(&s);
    let l4 = parse(&f).unwrap().l4_offset();
    let mut g = f.clone();
    g[l4 + 12] = 0x40; // data offset 4
    assert_eq!(parse(&g), Err(FwdError::BadHeader("tcp data offset < 5")));
    let mut g = f.clone();
    g[l4 + 12] = 0xf0; // 60-byte header in a 46-byte segment
    assert!(matches!(parse(&g), Err(FwdError::Truncated { .. })));
    let mut u = s.clone();
    u.proto = 17;
    let f = build(&u);
    let mut g = f.clone();
    g[l4 + 4..l4 + 6].copy_from_slice(&7u16.to_be_bytes());
    assert_eq!(parse(&g), Err(FwdError::BadHeader("udp length < 8")));
    let mut g = f.clone();
    g[l4 + 4..l4 + 6].copy_from_slice(&500u16.to_be_bytes());
    assert_eq!(
        parse(&g),
        Err(FwdError::BadHeader("udp length beyond ip payload"))
    );
}

#[test]
fn zero_length_transport_is_truncated() {
    // An IPv4 packet that says TCP but has no payload at all.
    let mut s = v4_tcp();
    s.v4_options = vec![];
    let f = build(&s);
    let mut g = f[..34].to_vec();
    g[16..18].copy_from_slice(&20u16.to_be_bytes());
    assert_eq!(
        parse(&g),
        Err(FwdError::Truncated {
            needed: 54,
            got: 34
        })
    );
    // IPv6 with Payload Length 0 and next header TCP.
    let mut s = v6_tcp();
    s.v6_ext = vec![];
    let f = build(&s);
    let mut g = f[..54].to_vec();
    g[18..20].copy_from_slice(&0u16.to_be_bytes());
    assert_eq!(
        parse(&g),
        Err(FwdError::Truncated {
            needed: 74,
            got: 54
        })
    );
}

#[test]
fn ipv6_extension_header_loop_is_bounded() {
    // Nine destination-options headers: more than any legal chain (RFC 8200 4.1).
    let mut s = v6_tcp();
    s.v6_ext = vec![Ext::DestOpts(0); 9];
    assert_eq!(parse(&build(&s)), Err(FwdError::ExtensionHeaderChain));
    s.v6_ext = vec![Ext::DestOpts(0); 8];
    assert!(parse(&build(&s)).is_ok());
    // Hop-by-hop anywhere but first.
    s.v6_ext = vec![Ext::DestOpts(0), Ext::HopByHop(0)];
    assert_eq!(
        parse(&build(&s)),
        Err(FwdError::BadHeader("ipv6 hop-by-hop not first"))
    );
    // An extension header that claims more bytes than the packet has.
    s.v6_ext = vec![Ext::DestOpts(0)];
    let mut f = build(&s);
    f[54 + 1] = 200;
    assert!(matches!(parse(&f), Err(FwdError::Truncated { .. })));
}

#[test]
fn non_first_fragments_have_no_ports() {
    // IPv4: fragment offset 185 (1480 bytes).
    let mut f = build(&v4_tcp());
    f[20..22].copy_from_slice(&185u16.to_be_bytes());
    let c = lvs_fwd::checksum::checksum(&{
        let mut h = f[14..38].to_vec();
        h[10] = 0;
        h[11] = 0;
        h
    });
    f[24..26].copy_from_slice(&c.to_be_bytes());
    let p = parse(&f).unwrap();
    assert_eq!(p.transport(), Transport::NonFirstFragment);
    assert_eq!(p.ports(), None);
    assert_eq!(p.fragment().unwrap().offset, 185);
    let mut g = f.clone();
    assert_eq!(nat_in(&mut g, &p, RIP.into(), 1), Err(FwdError::Fragment));
    assert_eq!(g, f);
    // DR forwards fragments: TTL only.
    assert_eq!(dr(&mut g, &p, RS_MAC, DIRECTOR_MAC), Ok(Outcome::Forward));
    assert!(verify_checksums(&g, &parse(&g).unwrap()));
    // IPv6: a fragment header with offset 10.
    let mut s = v6_tcp();
    s.v6_ext = vec![Ext::AtomicFragment(9)];
    let mut f = build(&s);
    f[54 + 2..54 + 4].copy_from_slice(&(10u16 << 3 | 1).to_be_bytes());
    let p = parse(&f).unwrap();
    assert_eq!(p.transport(), Transport::NonFirstFragment);
    assert_eq!(p.fragment().unwrap().offset, 10);
    assert!(p.fragment().unwrap().more);
    assert_eq!(
        nat_out(&mut f, &p, "2001:db8::1".parse().unwrap(), 1),
        Err(FwdError::Fragment)
    );
}

#[test]
fn sctp_first_fragment_cannot_be_rewritten() {
    // The CRC32c spans fragments that are not here.
    let mut s = v4_tcp();
    s.proto = 132;
    let mut f = build(&s);
    f[20] |= 0x20; // MF
    let p = parse(&f).unwrap();
    assert_eq!(nat_in(&mut f, &p, RIP.into(), 1), Err(FwdError::Fragment));
}

#[test]
fn unknown_protocols_and_ethertypes() {
    let mut s = v4_tcp();
    s.payload = vec![0; 4];
    let l4 = l4_bytes(&s);
    let f = wrap(&s, 47, &l4); // GRE
    let p = parse(&f).unwrap();
    assert_eq!(p.transport(), Transport::Other);
    let mut g = f.clone();
    assert_eq!(
        nat_in(&mut g, &p, RIP.into(), 1),
        Err(FwdError::UnsupportedProtocol(47))
    );
    assert_eq!(dr(&mut g, &p, RS_MAC, DIRECTOR_MAC), Ok(Outcome::Forward));
    let mut arp = f.clone();
    arp[12..14].copy_from_slice(&[0x08, 0x06]);
    assert_eq!(parse(&arp), Err(FwdError::UnsupportedEtherType(0x0806)));
    let mut qinq = f.clone();
    qinq[12..14].copy_from_slice(&[0x88, 0xa8]);
    assert_eq!(parse(&qinq), Err(FwdError::UnsupportedEtherType(0x88a8)));
    let mut wrongv = f.clone();
    wrongv[14] = 0x65;
    assert_eq!(parse(&wrongv), Err(FwdError::UnsupportedIpVersion(6)));
    let mut s6 = v6_tcp();
    s6.v6_ext = vec![];
    let mut f6 = build(&s6);
    f6[14] = 0x45;
    assert_eq!(parse(&f6), Err(FwdError::UnsupportedIpVersion(4)));
}

#[test]
fn vlan_tagged_frame_is_rewritten_behind_the_tag() {
    let mut s = v4_tcp();
    s.vlan = Some(0x2064);
    let mut f = build(&s);
    let p = parse(&f).unwrap();
    assert_eq!(p.l3_offset(), 18);
    assert_eq!(nat_in(&mut f, &p, RIP.into(), 8080), Ok(Outcome::Forward));
    let mut want = s.clone();
    want.dst = RIP.into();
    want.dport = 8080;
    want.ttl -= 1;
    assert_eq!(f, build(&want));
}

#[test]
fn udp_checksum_computed_zero_becomes_ffff() {
    // udp_fast_csum_update: "if (!uhdr->check) uhdr->check = CSUM_MANGLED_0".
    // Find a payload word for which the rewritten packet's checksum sums to zero.
    let mut s = v4_tcp();
    s.proto = 17;
    s.payload = vec![0, 0, 1, 2, 3];
    let mut target = s.clone();
    target.dst = RIP.into();
    target.dport = 8080;
    target.ttl -= 1;
    let w = (0..=u16::MAX)
        .find(|w| {
            target.payload[..2].copy_from_slice(&w.to_be_bytes());
            let u = etherparse::UdpHeader {
                source_port: target.sport,
                destination_port: target.dport,
                length: 8 + 5,
                checksum: 0,
            };
            // etherparse maps a computed 0 to 0xffff; 0xffff here means "computed zero".
            u.calc_checksum_ipv4_raw([192, 0, 2, 10], RIP, &target.payload)
                .unwrap()
                == 0xffff
        })
        .unwrap();
    s.payload[..2].copy_from_slice(&w.to_be_bytes());
    let mut f = build(&s);
    let p = parse(&f).unwrap();
    assert_eq!(nat_in(&mut f, &p, RIP.into(), 8080), Ok(Outcome::Forward));
    let l4 = p.l4_offset();
    assert_eq!(&f[l4 + 6..l4 + 8], &[0xff, 0xff]);
    assert!(smoltcp_verifies(&f));
}

#[test]
fn ipv6_routing_header_with_segments_left_blocks_destination_rewrite() {
    // RFC 8200 8.1: the pseudo-header then carries the final destination, not this one.
    let mut s = v6_tcp();
    s.v6_ext = vec![Ext::Routing];
    let mut f = build(&s);
    f[54 + 3] = 1; // segments left
    let p = parse(&f).unwrap();
    let mut g = f.clone();
    assert_eq!(
        nat_in(&mut g, &p, "2001:db8::2".parse().unwrap(), 1),
        Err(FwdError::BadHeader(
            "ipv6 routing header with segments left"
        ))
    );
    assert_eq!(g, f);
    // Rewriting only the source stays exact.
    assert_eq!(
        nat_out(&mut g, &p, "2001:db8::1".parse().unwrap(), 1),
        Ok(Outcome::Forward)
    );
}

#[test]
fn family_mismatch_is_refused_untouched() {
    let mut f = build(&v4_tcp());
    let p = parse(&f).unwrap();
    let before = f.clone();
    assert_eq!(
        fullnat_in(&mut f, &p, RIP.into(), 1, "2001:db8::2".parse().unwrap(), 2),
        Err(FwdError::FamilyMismatch)
    );
    assert_eq!(f, before);
}

#[test]
fn ttl_zero_and_one_expire_hop_limit_two_forwards() {
    for ttl in [0u8, 1] {
        let mut s = v6_tcp();
        s.ttl = ttl;
        let mut f = build(&s);
        let p = parse(&f).unwrap();
        assert_eq!(
            dr(&mut f, &p, RS_MAC, DIRECTOR_MAC),
            Ok(Outcome::TimeExceeded)
        );
        assert_eq!(f, build(&s));
    }
    let mut s = v4_tcp();
    s.ttl = 2;
    let mut f = build(&s);
    let p = parse(&f).unwrap();
    assert_eq!(lvs_fwd::decrement_ttl(&mut f, &p), Ok(Outcome::Forward));
    s.ttl = 1;
    assert_eq!(f, build(&s));
}

#[test]
fn dnat_to_loopback_is_refused() {
    // ip_vs_nat_xmit: "stopping DNAT to loopback address".
    let mut f = build(&v4_tcp());
    let p = parse(&f).unwrap();
    let before = f.clone();
    assert_eq!(
        nat_in(&mut f, &p, [127, 0, 0, 1].into(), 80),
        Err(FwdError::LoopbackDestination)
    );
    assert_eq!(f, before);
    let mut f6 = build(&v6_tcp());
    let p6 = parse(&f6).unwrap();
    assert_eq!(
        fullnat_in(
            &mut f6,
            &p6,
            "2001:db8::1".parse().unwrap(),
            1,
            "::1".parse().unwrap(),
            80
        ),
        Err(FwdError::LoopbackDestination)
    );
}
