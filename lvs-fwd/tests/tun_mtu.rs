//! Path MTU for tunnels: the exact MTU boundary per tunnel kind and family (fits vs one byte
//! over), the kernel's choices between ICMP, silent drop and fragmentation
//! (ensure_mtu_is_adequate, __mtu_check_toobig_v6), the minimum budgets (68 / 1280), the ICMP
//! fragmentation needed / packet too big replies checked with etherparse, and the relay of an
//! ICMP error about the tunnel (ip_vs_in_icmp).

mod tun_util;

use etherparse::{Icmpv4Type, Icmpv6Type, SlicedPacket, TransportSlice};
use lvs_fwd::tun::{
    EncapMeta, GueCsum, IcmpReplyParams, MtuVerdict, TunAddrs, TunError, TunKind, TunType,
    TunnelConfig, build_frag_needed, build_icmpv4_error, build_packet_too_big, check_mtu,
    encapsulate, parse_tunnel_icmp, translate_tunnel_icmp,
};
use tun_util::*;

fn params4() -> IcmpReplyParams<std::net::Ipv4Addr> {
    IcmpReplyParams {
        src: v4("207.175.44.110"),
        ttl: 64,
        ip_id: 0x4242,
    }
}

fn params6() -> IcmpReplyParams<std::net::Ipv6Addr> {
    IcmpReplyParams {
        src: v6("2001:db8::100"),
        ttl: 64,
        ip_id: 0,
    }
}

/// (tunnel type, outer addresses, overhead in bytes from ip_vs_xmit.c's `mtu -=` lines).
fn kinds() -> Vec<(TunType, TunAddrs, u32)> {
    let gue = |csum| TunType::Gue { port: 6080, csum };
    vec![
        (TunType::Ipip, v4_addrs(), 20),
        (gue(GueCsum::NoCsum), v4_addrs(), 20 + 8 + 4),
        (TunType::Gre { csum: false }, v4_addrs(), 24),
        (TunType::Gre { csum: true }, v4_addrs(), 28),
        (TunType::Ipip, v6_addrs(), 40),
        (gue(GueCsum::Csum), v6_addrs(), 52),
        (TunType::Gre { csum: true }, v6_addrs(), 48),
    ]
}

#[test]
fn exact_mtu_boundary_fits_and_one_byte_over_does_not() {
    for (tun_type, addrs, overhead) in kinds() {
        let cfg = TunnelConfig::new(tun_type, addrs);
        assert_eq!(cfg.overhead(false) as u32, overhead);
        for inner_v6 in [false, true] {
            let egress = 1500u32;
            let budget = egress - overhead;
            let hdrs = if inner_v6 { 48 } else { 40 };
            let fits = budget as usize - hdrs;
            let mk = |n: usize| {
                if inner_v6 {
                    udp_v6(&vec![7u8; n], 0, 64)
                } else {
                    tcp_v4(&vec![7u8; n], 0, 64, true)
                }
            };
            let inner = mk(fits);
            assert_eq!(inner.len() as u32, budget);
            assert_eq!(check_mtu(&inner, &cfg, false, egress), Ok(MtuVerdict::Fits));
            // The encapsulated packet is then exactly the egress MTU.
            let mut buf = with_headroom(&inner, overhead as usize, 0);
            let r = encapsulate(&mut buf, overhead as usize, &cfg, &EncapMeta::default()).unwrap();
            assert_eq!(r.len() as u32, egress);
            // One byte more: DF (IPv4) / any IPv6 packet is refused with the budget as MTU.
            let over = mk(fits + 1);
            assert_eq!(
                check_mtu(&over, &cfg, false, egress),
                Ok(MtuVerdict::TooBig { mtu: budget }),
                "{tun_type:?} {addrs:?} inner v6 {inner_v6}"
            );
        }
    }
}

#[test]
fn gue_remcsum_option_counts_in_the_budget() {
    let cfg = TunnelConfig::new(
        TunType::Gue {
            port: 1,
            csum: GueCsum::RemCsum,
        },
        v4_addrs(),
    );
    let inner = tcp_v4(&vec![0u8; 1500 - 32 - 40], 0, 64, true);
    assert_eq!(check_mtu(&inner, &cfg, false, 1500), Ok(MtuVerdict::Fits));
    assert_eq!(
        check_mtu(&inner, &cfg, true, 1500),
        Ok(MtuVerdict::TooBig { mtu: 1500 - 40 })
    );
}

#[test]
fn ipv4_without_df_or_without_pmtu_disc_is_fragmented() {
    let mut cfg = TunnelConfig::new(TunType::Ipip, v4_addrs());
    let big_no_df = tcp_v4(&[0u8; 1500], 0, 64, false);
    assert_eq!(
        check_mtu(&big_no_df, &cfg, false, 1500),
        Ok(MtuVerdict::Fragment)
    );
    // sysctl pmtu_disc = 0: "we'll just fragment it anyway", even with DF.
    cfg.pmtu_disc = false;
    let big_df = tcp_v4(&[0u8; 1500], 0, 64, true);
    assert_eq!(
        check_mtu(&big_df, &cfg, false, 1500),
        Ok(MtuVerdict::Fragment)
    );
    // pmtu_disc does not affect IPv6 (ensure_mtu_is_adequate's IPv6 branch).
    let big6 = udp_v6(&[0u8; 1500], 0, 64);
    assert_eq!(
        check_mtu(&big6, &cfg, false, 1500),
        Ok(MtuVerdict::TooBig { mtu: 1480 })
    );
}

/// An ICMP error (destination unreachable, port) quoting some packet, from 10.0.0.2, DF set,
/// padded to `len` bytes of ICMP payload.
fn icmp_error_v4(len: usize) -> Vec<u8> {
    let b = etherparse::PacketBuilder::ipv4([10, 0, 0, 2], [207, 175, 44, 110], 64).icmpv4(
        Icmpv4Type::DestinationUnreachable(etherparse::icmpv4::DestUnreachableHeader::Port),
    );
    let mut v = Vec::new();
    b.write(&mut v, &vec![0u8; len]).unwrap();
    v
}

#[test]
fn no_icmp_about_icmp_errors_fragments_or_bad_sources() {
    let cfg = TunnelConfig::new(TunType::Ipip, v4_addrs());
    // An IPv4 ICMP error being forwarded is let through to fragmentation
    // (!ip_vs_iph_icmp(ipvsh) in ensure_mtu_is_adequate).
    let err = icmp_error_v4(1500);
    assert_eq!(check_mtu(&err, &cfg, false, 1500), Ok(MtuVerdict::Fragment));
    // An ICMP echo request with DF is an ordinary packet.
    let echo = {
        let b = etherparse::PacketBuilder::ipv4([10, 0, 0, 2], [207, 175, 44, 110], 64)
            .icmpv4_echo_request(1, 1);
        let mut v = Vec::new();
        b.write(&mut v, &[0u8; 1500]).unwrap();
        v
    };
    assert_eq!(
        check_mtu(&echo, &cfg, false, 1500),
        Ok(MtuVerdict::TooBig { mtu: 1480 })
    );
    // icmp_send refuses to answer a multicast or unspecified source.
    for src in [[224, 0, 0, 1], [0, 0, 0, 0], [255, 255, 255, 255]] {
        let mut p = tcp_v4(&[0u8; 1500], 0, 64, true);
        p[12..16].copy_from_slice(&src);
        p[10] = 0;
        p[11] = 0;
        let c = !naive_sum(&[&p[..20]]);
        p[10..12].copy_from_slice(&c.to_be_bytes());
        assert_eq!(
            check_mtu(&p, &cfg, false, 1500),
            Ok(MtuVerdict::DropTooBig { mtu: 1480 })
        );
    }
    // IPv6: ICMPv6 errors (type < 128) and non-first fragments are dropped without PTB.
    let cfg6 = TunnelConfig::new(TunType::Ipip, v6_addrs());
    let b = etherparse::PacketBuilder::ipv6(
        v6("2001:db8::2").octets(),
        v6("2001:db8::100").octets(),
        64,
    )
    .icmpv6(Icmpv6Type::DestinationUnreachable(
        etherparse::icmpv6::DestUnreachableCode::Port,
    ));
    let mut e6 = Vec::new();
    b.write(&mut e6, &[0u8; 1500]).unwrap();
    assert_eq!(
        check_mtu(&e6, &cfg6, false, 1500),
        Ok(MtuVerdict::DropTooBig { mtu: 1460 })
    );
    let mut frag = udp_v6(&[0u8; 1500], 0, 64);
    // Insert a fragment header with offset 8 (units of 8 bytes) after the fixed header.
    let next = frag[6];
    frag[6] = 44;
    let mut fh = vec![next, 0];
    fh.extend_from_slice(&(8u16 << 3).to_be_bytes());
    fh.extend_from_slice(&1u32.to_be_bytes());
    frag.splice(40..40, fh);
    let plen = ((frag.len() - 40) as u16).to_be_bytes();
    frag[4..6].copy_from_slice(&plen);
    assert_eq!(
        check_mtu(&frag, &cfg6, false, 1500),
        Ok(MtuVerdict::DropTooBig { mtu: 1460 })
    );
    // An IPv4 non-first fragment with DF (odd, but possible) gets no ICMP either.
    let mut f4 = tcp_v4(&[0u8; 1500], 0, 64, true);
    f4[7] = 10;
    f4[10] = 0;
    f4[11] = 0;
    let c = !naive_sum(&[&f4[..20]]);
    f4[10..12].copy_from_slice(&c.to_be_bytes());
    assert_eq!(
        check_mtu(&f4, &cfg, false, 1500),
        Ok(MtuVerdict::DropTooBig { mtu: 1480 })
    );
}

#[test]
fn budget_must_stay_at_least_68_or_1280() {
    // __ip_vs_get_out_rt: mtu = dst_mtu - 20 (- GUE/GRE); mtu < 68 -> drop, no ICMP.
    let small = tcp_v4(b"", 0, 64, true);
    let cfg = TunnelConfig::new(TunType::Ipip, v4_addrs());
    assert!(check_mtu(&small, &cfg, false, 88).is_ok());
    assert_eq!(
        check_mtu(&small, &cfg, false, 87),
        Err(TunError::MtuTooSmall {
            budget: 67,
            min: 68
        })
    );
    assert_eq!(
        check_mtu(&small, &cfg, false, 10),
        Err(TunError::MtuTooSmall {
            budget: -10,
            min: 68
        })
    );
    // __ip_vs_get_out_rt_v6: mtu < IPV6_MIN_MTU (1280) -> drop.
    let cfg6 = TunnelConfig::new(TunType::Gre { csum: true }, v6_addrs());
    assert!(check_mtu(&small, &cfg6, false, 1328).is_ok());
    assert_eq!(
        check_mtu(&small, &cfg6, false, 1327),
        Err(TunError::MtuTooSmall {
            budget: 1279,
            min: 1280
        })
    );
    // An IPv6 inner packet over an IPv4 outer header may be told an MTU below 1280, as the
    // kernel does (icmpv6_send with the budget).
    let big6 = udp_v6(&[0u8; 1000], 0, 64);
    assert_eq!(
        check_mtu(&big6, &cfg, false, 1000),
        Ok(MtuVerdict::TooBig { mtu: 980 })
    );
}

#[test]
fn frag_needed_reply_is_well_formed_and_capped_at_576() {
    // RFC 792 / RFC 1191: type 3 code 4, next-hop MTU in the low 16 bits; RFC 1812 4.3.2.3:
    // at most 576 bytes; TOS = (tos & 0x1e) | 0xc0 (icmp_send).
    for payload in [0usize, 100, 2000] {
        let offending = tcp_v4(&vec![0xabu8; payload], 0xbb, 63, true);
        let mut out = [0u8; 600];
        let n = build_frag_needed(&mut out, &offending, 1480, &params4()).unwrap();
        assert_eq!(n, (28 + offending.len()).min(576));
        let pkt = SlicedPacket::from_ip(&out[..n]).unwrap();
        let ip = match pkt.net.unwrap() {
            etherparse::NetSlice::Ipv4(s) => s.header().to_header(),
            _ => panic!("not ipv4"),
        };
        assert_eq!(ip.header_checksum, ip.calc_header_checksum());
        assert_eq!(ip.source, [207, 175, 44, 110]);
        assert_eq!(ip.destination, [10, 0, 0, 2]);
        assert_eq!(ip.dscp.value() << 2 | ip.ecn.value(), (0xbb & 0x1e) | 0xc0);
        assert!(!ip.dont_fragment);
        assert_eq!(ip.time_to_live, 64);
        assert_eq!(ip.identification, 0x4242);
        match pkt.transport.unwrap() {
            TransportSlice::Icmpv4(icmp) => {
                assert_eq!(
                    icmp.icmp_type(),
                    Icmpv4Type::DestinationUnreachable(
                        etherparse::icmpv4::DestUnreachableHeader::FragmentationNeeded {
                            next_hop_mtu: 1480
                        }
                    )
                );
                // etherparse recomputes the ICMP checksum over the message.
                assert_eq!(
                    icmp.checksum(),
                    icmp.icmp_type().calc_checksum(icmp.payload())
                );
                let q = icmp.payload();
                assert_eq!(q, &offending[..q.len()], "quotes the offending packet");
            }
            _ => panic!("not icmp"),
        }
    }
    let mut tiny = [0u8; 40];
    assert!(build_frag_needed(&mut tiny, &tcp_v4(b"x", 0, 1, true), 1000, &params4()).is_err());
}

#[test]
fn packet_too_big_reply_is_well_formed_and_capped_at_1280() {
    for payload in [0usize, 500, 3000] {
        let offending = udp_v6(&vec![0x5au8; payload], 0x2e, 64);
        let mut out = [0u8; 1400];
        let n = build_packet_too_big(&mut out, &offending, 1280, &params6()).unwrap();
        assert_eq!(n, (48 + offending.len()).min(1280));
        let pkt = SlicedPacket::from_ip(&out[..n]).unwrap();
        let ip = match pkt.net.unwrap() {
            etherparse::NetSlice::Ipv6(s) => s.header().to_header(),
            _ => panic!("not ipv6"),
        };
        assert_eq!(ip.destination, v6("2001:db8::2").octets());
        assert_eq!(ip.source, v6("2001:db8::100").octets());
        assert_eq!(ip.hop_limit, 64);
        match pkt.transport.unwrap() {
            TransportSlice::Icmpv6(icmp) => {
                assert_eq!(icmp.icmp_type(), Icmpv6Type::PacketTooBig { mtu: 1280 });
                let want = icmp
                    .icmp_type()
                    .calc_checksum(ip.source, ip.destination, icmp.payload())
                    .unwrap();
                assert_eq!(icmp.checksum(), want, "icmpv6 checksum (etherparse)");
                let q = icmp.payload();
                assert_eq!(q, &offending[..q.len()]);
            }
            _ => panic!("not icmpv6"),
        }
    }
}

/// What a router on the tunnel path sends back: ICMP frag needed (mtu `mtu`) from 172.16.9.9 to
/// the director, quoting the first 576 - 28 bytes of our outer packet.
fn router_frag_needed(outer: &[u8], mtu: u16) -> Vec<u8> {
    let quote = &outer[..outer.len().min(548)];
    let b = etherparse::PacketBuilder::ipv4([172, 16, 9, 9], [192, 168, 1, 1], 60).icmpv4(
        Icmpv4Type::DestinationUnreachable(
            etherparse::icmpv4::DestUnreachableHeader::FragmentationNeeded { next_hop_mtu: mtu },
        ),
    );
    let mut v = Vec::new();
    b.write(&mut v, quote).unwrap();
    v
}

#[test]
fn icmp_frag_needed_about_the_tunnel_is_relayed_to_the_client() {
    for (tun_type, overhead) in [
        (TunType::Ipip, 20u32),
        (
            TunType::Gue {
                port: 6080,
                csum: GueCsum::Csum,
            },
            32,
        ),
        (TunType::Gre { csum: true }, 28),
        (TunType::Gre { csum: false }, 24),
    ] {
        let cfg = TunnelConfig::new(tun_type, v4_addrs());
        let inner = tcp_v4(&[0x11u8; 1400], 0, 63, true);
        let oh = overhead as usize;
        let mut buf = with_headroom(&inner, oh, 0);
        let r = encapsulate(&mut buf, oh, &cfg, &EncapMeta::default()).unwrap();
        let icmp = router_frag_needed(&buf[r], 1400);
        let t = parse_tunnel_icmp(&icmp, Some(6080)).unwrap();
        assert_eq!(t.rip, v4("172.16.0.2"));
        assert_eq!(t.overhead, oh);
        assert_eq!(
            t.kind,
            match tun_type {
                TunType::Ipip => TunKind::Ipip,
                TunType::Gue { .. } => TunKind::Gue,
                TunType::Gre { .. } => TunKind::Gre,
            }
        );
        assert_eq!(&icmp[t.original.clone()], &inner[..t.original.len()]);
        let mut out = [0u8; 600];
        let n = translate_tunnel_icmp(&icmp, Some(6080), None, &params4(), &mut out)
            .unwrap()
            .expect("the client uses PMTU discovery (DF)");
        let pkt = SlicedPacket::from_ip(&out[..n]).unwrap();
        match pkt.transport.unwrap() {
            TransportSlice::Icmpv4(i) => {
                assert_eq!(
                    i.icmp_type(),
                    Icmpv4Type::DestinationUnreachable(
                        etherparse::icmpv4::DestUnreachableHeader::FragmentationNeeded {
                            next_hop_mtu: 1400 - overhead as u16
                        }
                    )
                );
                assert_eq!(i.checksum(), i.icmp_type().calc_checksum(i.payload()));
                assert_eq!(i.payload(), &icmp[t.original.clone()][..i.payload().len()]);
            }
            _ => panic!("not icmp"),
        }
        // The kernel prefers the route's resulting PMTU when known.
        let mut out = [0u8; 600];
        let n = translate_tunnel_icmp(&icmp, Some(6080), Some(1300), &params4(), &mut out)
            .unwrap()
            .unwrap();
        assert_eq!(
            u16::from_be_bytes([out[26], out[27]]) as u32,
            1300 - overhead
        );
        assert!(n > 28);
    }
    // A client without DF does no PMTU discovery: nothing is sent.
    let cfg = TunnelConfig::new(TunType::Ipip, v4_addrs());
    let inner = tcp_v4(&[0u8; 1400], 0, 63, false);
    let mut buf = with_headroom(&inner, 20, 0);
    let r = encapsulate(&mut buf, 20, &cfg, &EncapMeta::default()).unwrap();
    let icmp = router_frag_needed(&buf[r], 1400);
    let mut out = [0u8; 600];
    assert_eq!(
        translate_tunnel_icmp(&icmp, None, None, &params4(), &mut out),
        Ok(None)
    );
    // A tiny reported MTU (<= 68 + overhead) is passed on unchanged, as the kernel does.
    let inner = tcp_v4(&[0u8; 1400], 0, 63, true);
    let mut buf = with_headroom(&inner, 20, 0);
    let r = encapsulate(&mut buf, 20, &cfg, &EncapMeta::default()).unwrap();
    let icmp = router_frag_needed(&buf[r], 80);
    translate_tunnel_icmp(&icmp, None, None, &params4(), &mut out)
        .unwrap()
        .unwrap();
    assert_eq!(u16::from_be_bytes([out[26], out[27]]), 80);
}

#[test]
fn other_icmp_is_not_about_the_tunnel() {
    // An ICMP error quoting a plain TCP packet (the normal NAT/DR ICMP path).
    let plain = tcp_v4(b"x", 0, 64, true);
    let b = etherparse::PacketBuilder::ipv4([1, 1, 1, 1], [192, 168, 1, 1], 60).icmpv4(
        Icmpv4Type::TimeExceeded(etherparse::icmpv4::TimeExceededCode::TtlExceededInTransit),
    );
    let mut v = Vec::new();
    b.write(&mut v, &plain).unwrap();
    assert_eq!(parse_tunnel_icmp(&v, None), Err(TunError::NotAboutTunnel));
    // An echo reply.
    let b =
        etherparse::PacketBuilder::ipv4([1, 1, 1, 1], [192, 168, 1, 1], 60).icmpv4_echo_reply(1, 2);
    let mut v = Vec::new();
    b.write(&mut v, b"ping").unwrap();
    assert_eq!(parse_tunnel_icmp(&v, None), Err(TunError::NotAboutTunnel));
    // GUE on a port we do not use.
    let cfg = TunnelConfig::new(
        TunType::Gue {
            port: 7000,
            csum: GueCsum::NoCsum,
        },
        v4_addrs(),
    );
    let mut buf = with_headroom(&plain, 32, 0);
    let r = encapsulate(&mut buf, 32, &cfg, &EncapMeta::default()).unwrap();
    let icmp = router_frag_needed(&buf[r], 1000);
    assert_eq!(
        parse_tunnel_icmp(&icmp, Some(6080)),
        Err(TunError::NotAboutTunnel)
    );
    // A corrupted ICMP checksum.
    let mut bad = icmp.clone();
    bad[22] ^= 1;
    assert_eq!(
        parse_tunnel_icmp(&bad, Some(7000)),
        Err(TunError::BadIcmpChecksum)
    );
    // Every truncation of a valid one is an error, never a panic.
    for n in 0..icmp.len() {
        let _ = parse_tunnel_icmp(&icmp[..n], Some(7000));
    }
}

#[test]
fn icmpv4_error_builder_refuses_non_ipv4_quotes() {
    let mut out = [0u8; 600];
    assert!(build_icmpv4_error(&mut out, &udp_v6(b"", 0, 1), 3, 4, 0, &params4()).is_err());
    assert!(build_icmpv4_error(&mut out, &[0x45; 10], 3, 4, 0, &params4()).is_err());
}

#[test]
fn tunnel_xmit_sends_fragments_replies_or_drops() {
    use lvs_fwd::tun::{XmitOutcome, XmitParams, tunnel_xmit};
    let cfg = TunnelConfig::new(TunType::Ipip, v4_addrs());
    let params = XmitParams {
        egress_mtu: 1500,
        reply_ttl: 64,
        reply_ip_id: 9,
    };
    let meta = EncapMeta::default();
    let mut icmp = [0u8; 600];
    // Fits exactly: sent.
    let inner = tcp_v4(&vec![0u8; 1480 - 40], 0, 64, true);
    let mut buf = with_headroom(&inner, 20, 0);
    let out = tunnel_xmit(&mut buf, 20, &cfg, &meta, &params, &mut icmp).unwrap();
    assert_eq!(out, XmitOutcome::Send(0..1500));
    verify_outer(&buf);
    // One byte over without DF: encapsulated, to be fragmented.
    let inner = tcp_v4(&vec![0u8; 1481 - 40], 0, 64, false);
    let mut buf = with_headroom(&inner, 20, 0);
    let out = tunnel_xmit(&mut buf, 20, &cfg, &meta, &params, &mut icmp).unwrap();
    assert_eq!(out, XmitOutcome::SendFragmented(0..1501));
    // One byte over with DF: frag needed from the VIP to the client, buffer untouched.
    let inner = tcp_v4(&vec![0u8; 1481 - 40], 0, 64, true);
    let mut buf = with_headroom(&inner, 20, 0);
    let before = buf.clone();
    let out = tunnel_xmit(&mut buf, 20, &cfg, &meta, &params, &mut icmp).unwrap();
    assert_eq!(out, XmitOutcome::ReplyIcmp(576));
    assert_eq!(buf, before);
    let (ip, rest) = etherparse::Ipv4Header::from_slice(&icmp[..576]).unwrap();
    assert_eq!(ip.source, [207, 175, 44, 110], "from the VIP");
    assert_eq!(ip.destination, [10, 0, 0, 2]);
    assert_eq!(ip.identification, 9);
    assert_eq!(&rest[..4], &[3, 4, rest[2], rest[3]]);
    assert_eq!(u16::from_be_bytes([rest[6], rest[7]]), 1480);
    // IPv6 over an IPv6 outer header: packet too big with the 1460-byte budget.
    let cfg6 = TunnelConfig::new(TunType::Ipip, v6_addrs());
    let inner = udp_v6(&vec![0u8; 1461 - 48], 0, 64);
    let mut buf = with_headroom(&inner, 40, 0);
    let mut icmp6 = [0u8; 1300];
    let out = tunnel_xmit(&mut buf, 40, &cfg6, &meta, &params, &mut icmp6).unwrap();
    assert_eq!(out, XmitOutcome::ReplyIcmp(1280));
    {
        let pkt = SlicedPacket::from_ip(&icmp6[..1280]).unwrap();
        match pkt.transport.unwrap() {
            TransportSlice::Icmpv6(i) => {
                assert_eq!(i.icmp_type(), Icmpv6Type::PacketTooBig { mtu: 1460 })
            }
            _ => panic!("not icmpv6"),
        }
    }
    // An ICMPv6 error too big: dropped silently.
    let b = etherparse::PacketBuilder::ipv6(
        v6("2001:db8::2").octets(),
        v6("2001:db8::100").octets(),
        64,
    )
    .icmpv6(Icmpv6Type::TimeExceeded(
        etherparse::icmpv6::TimeExceededCode::HopLimitExceeded,
    ));
    let mut e6 = Vec::new();
    b.write(&mut e6, &[0u8; 1500]).unwrap();
    let mut buf = with_headroom(&e6, 40, 0);
    let out = tunnel_xmit(&mut buf, 40, &cfg6, &meta, &params, &mut icmp6).unwrap();
    assert_eq!(out, XmitOutcome::Drop);
    // A reply buffer too small is a typed error.
    let inner = tcp_v4(&vec![0u8; 1481 - 40], 0, 64, true);
    let mut buf = with_headroom(&inner, 20, 0);
    let mut small = [0u8; 100];
    assert!(tunnel_xmit(&mut buf, 20, &cfg, &meta, &params, &mut small).is_err());
    // MTU budget below 68.
    let tiny = XmitParams {
        egress_mtu: 80,
        ..params
    };
    assert!(matches!(
        tunnel_xmit(&mut buf, 20, &cfg, &meta, &tiny, &mut icmp),
        Err(TunError::MtuTooSmall {
            budget: 60,
            min: 68
        })
    ));
}

mod model {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(200))]

        /// check_mtu against the rule written out (ensure_mtu_is_adequate): budget = MTU -
        /// overhead; fits iff length <= budget; otherwise IPv6 -> packet too big, IPv4 with DF
        /// and pmtu_disc -> fragmentation needed, other IPv4 -> fragmented. And it agrees with
        /// encapsulate: Fits iff the outer packet is at most the MTU.
        #[test]
        fn check_mtu_follows_the_kernel_rule(
            payload_len in 0usize..1600,
            egress_mtu in 1280u32..1700,
            inner_v6 in any::<bool>(),
            outer_v6 in any::<bool>(),
            df in any::<bool>(),
            pmtu_disc in any::<bool>(),
            kind in 0..4u8,
        ) {
            let tun_type = match kind {
                0 => TunType::Ipip,
                1 => TunType::Gue { port: 6080, csum: GueCsum::Csum },
                2 => TunType::Gre { csum: false },
                _ => TunType::Gre { csum: true },
            };
            let addrs = if outer_v6 { v6_addrs() } else { v4_addrs() };
            let mut cfg = TunnelConfig::new(tun_type, addrs);
            cfg.pmtu_disc = pmtu_disc;
            let inner = if inner_v6 {
                udp_v6(&vec![1u8; payload_len], 0, 64)
            } else {
                tcp_v4(&vec![1u8; payload_len], 0, 64, df)
            };
            let overhead = cfg.overhead(false) as i64;
            let budget = i64::from(egress_mtu) - overhead;
            let min = if outer_v6 { 1280 } else { 68 };
            let got = check_mtu(&inner, &cfg, false, egress_mtu);
            if budget < min {
                prop_assert_eq!(got, Err(TunError::MtuTooSmall { budget, min: min as u32 }));
                return Ok(());
            }
            let want = if inner.len() as i64 <= budget {
                MtuVerdict::Fits
            } else if inner_v6 || (df && pmtu_disc) {
                MtuVerdict::TooBig { mtu: budget as u32 }
            } else {
                MtuVerdict::Fragment
            };
            prop_assert_eq!(got, Ok(want));
            let mut buf = with_headroom(&inner, overhead as usize, 0);
            let r = encapsulate(&mut buf, overhead as usize, &cfg, &EncapMeta::default()).unwrap();
            prop_assert_eq!(r.len() as u32 <= egress_mtu, want == MtuVerdict::Fits);
        }
    }
}
