//! Encapsulation: golden byte vectors per tunnel type (hand-built from the RFC / kernel header
//! layouts), RFC 6040 / INET_ECN_encapsulate DS-field mapping, DF copy, headroom errors, GUE
//! source port and remote checksum offload, and a proptest round trip
//! encapsulate -> (independent checksum verification) -> decapsulate.

mod tun_util;

use lvs_fwd::FwdError;
use lvs_fwd::tun::{
    DecapConfig, EncapMeta, GueCsum, PartialCsum, TunError, TunKind, TunType, TunnelConfig,
    decapsulate, ecn_encapsulate, encapsulate, gue_source_port,
};
use proptest::prelude::*;
use tun_util::*;

/// Inner IPv4 TCP SYN 10.0.0.2:40000 -> 207.175.44.110:8080 (the VIP of the kernel's ipvs.sh
/// selftest), TOS 0xbb (DSCP EF 46, ECN CE), ID 0x1234, DF, TTL 63; checksums valid.
const INNER_V4_CE_DF: [u8; 40] = [
    0x45, 0xbb, 0x00, 0x28, 0x12, 0x34, 0x40, 0x00, 0x3f, 0x06, 0x22, 0xc2, 0x0a, 0x00, 0x00, 0x02,
    0xcf, 0xaf, 0x2c, 0x6e, // IPv4 header
    0x9c, 0x40, 0x1f, 0x90, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00, 0x50, 0x02, 0xff, 0xff,
    0xed, 0xf1, 0x00, 0x00, // TCP SYN
];

#[test]
fn golden_ipip_4in4() {
    // RFC 2003 section 3.1 / ip_vs_tunnel_xmit: version 4, ihl 5; TOS = INET_ECN_encapsulate
    // (0xbb) = 0xba (DSCP copied, CE -> ECT(0)); total length 60; ID 0 because DF is set
    // (ip_select_ident_segs); DF copied (pmtu_disc = 1); TTL = inner TTL 63; protocol 4;
    // checksum 0xcd48; saddr 192.168.1.1 (route source); daddr 172.16.0.2 (RIP).
    let want_hdr = [
        0x45, 0xba, 0x00, 0x3c, 0x00, 0x00, 0x40, 0x00, 0x3f, 0x04, 0xcd, 0x48, 0xc0, 0xa8, 0x01,
        0x01, 0xac, 0x10, 0x00, 0x02,
    ];
    let mut buf = with_headroom(&INNER_V4_CE_DF, 20, 0);
    let cfg = TunnelConfig::new(TunType::Ipip, v4_addrs());
    let meta = EncapMeta {
        ip_id: 0x5555,
        ..Default::default()
    };
    let r = encapsulate(&mut buf, 20, &cfg, &meta).unwrap();
    assert_eq!(r, 0..60);
    assert_eq!(&buf[..20], &want_hdr);
    assert_eq!(&buf[20..], &INNER_V4_CE_DF, "inner packet untouched");
    verify_outer(&buf[r]);
}

#[test]
fn golden_gue_with_udp_checksum() {
    // Inner: as INNER_V4_CE_DF but TOS 0x28 (AF11, Not-ECT), DF clear, IP checksum 0x6355.
    let mut inner = INNER_V4_CE_DF;
    inner[1] = 0x28;
    inner[6] = 0x00;
    inner[10] = 0x63;
    inner[11] = 0x55;
    assert_eq!(naive_sum(&[&inner[..20]]), 0xffff);
    // Outer IPv4: TOS 0x28, length 72, ID 0x5555 (no DF: the caller's ID), TTL 63, protocol 17,
    // checksum 0xb86c. UDP (ipvs_gue_encap): source port udp_flow_src_port(hash 0x12345678) =
    // 40299 (0x9d6b), destination --tun-port 6080 (0x17c0), length 52, checksum 0xe2d4
    // (--tun-csum). GUE v0 (draft-ietf-intarea-gue section 3.1): byte 0 = version 0, C 0,
    // hlen 0; proto_ctype 4; flags 0.
    let want = [
        0x45, 0x28, 0x00, 0x48, 0x55, 0x55, 0x00, 0x00, 0x3f, 0x11, 0xb8, 0x6c, 0xc0, 0xa8, 0x01,
        0x01, 0xac, 0x10, 0x00, 0x02, // IPv4
        0x9d, 0x6b, 0x17, 0xc0, 0x00, 0x34, 0xe2, 0xd4, // UDP
        0x00, 0x04, 0x00, 0x00, // GUE
    ];
    let mut buf = with_headroom(&inner, 64, 16);
    let cfg = TunnelConfig::new(
        TunType::Gue {
            port: 6080,
            csum: GueCsum::Csum,
        },
        v4_addrs(),
    );
    let meta = EncapMeta {
        flow_hash: 0x1234_5678,
        ip_id: 0x5555,
        partial_csum: None,
    };
    let r = encapsulate(&mut buf, 64, &cfg, &meta).unwrap();
    assert_eq!(r, 32..104);
    assert_eq!(&buf[32..64], &want);
    assert!(
        buf[..32].iter().all(|&b| b == 0xEE),
        "headroom before the outer packet untouched"
    );
    assert!(buf[104..].iter().all(|&b| b == 0xEE), "tail untouched");
    verify_outer(&buf[r]);
}

#[test]
fn golden_gre_with_checksum_6in4() {
    // Inner IPv6 TCP SYN [2001:db8::2]:40000 -> [2001:db8::100]:8080, traffic class 0x03 (CE),
    // hop limit 64.
    let inner: [u8; 60] = [
        0x60, 0x30, 0x00, 0x00, 0x00, 0x14, 0x06, 0x40, 0x20, 0x01, 0x0d, 0xb8, 0x00, 0x00, 0x00,
        0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x02, 0x20, 0x01, 0x0d, 0xb8, 0x00, 0x00,
        0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01, 0x00, 0x9c, 0x40, 0x1f, 0x90, 0x00,
        0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00, 0x50, 0x02, 0xff, 0xff, 0x97, 0x9d, 0x00, 0x00,
    ];
    // Outer IPv4: TOS 0x02 (CE -> ECT(0)), length 88, ID 0x5555 (IPv6 inner: never DF), TTL =
    // hop limit 64, protocol 47, checksum 0xb764. GRE (RFC 2784 section 2.1): C bit (0x8000),
    // version 0, protocol 0x86DD, checksum 0x92b7 over GRE header + payload, reserved1 0.
    let want = [
        0x45, 0x02, 0x00, 0x58, 0x55, 0x55, 0x00, 0x00, 0x40, 0x2f, 0xb7, 0x64, 0xc0, 0xa8, 0x01,
        0x01, 0xac, 0x10, 0x00, 0x02, // IPv4
        0x80, 0x00, 0x86, 0xdd, 0x92, 0xb7, 0x00, 0x00, // GRE
    ];
    let mut buf = with_headroom(&inner, 28, 0);
    let cfg = TunnelConfig::new(TunType::Gre { csum: true }, v4_addrs());
    let meta = EncapMeta {
        ip_id: 0x5555,
        ..Default::default()
    };
    let r = encapsulate(&mut buf, 28, &cfg, &meta).unwrap();
    assert_eq!(r, 0..88);
    assert_eq!(&buf[..28], &want);
    verify_outer(&buf[r]);
}

#[test]
fn golden_ipv6_outer_6in6() {
    // Inner IPv6 as above but traffic class 0xb9 (EF + ECT(1)).
    let mut buf = with_headroom(&udp_v6(b"q", 0xb9, 64), 40, 0);
    let inner_len = buf.len() - 40;
    // RFC 2473 section 3 / ip_vs_tunnel_xmit_v6: version 6, traffic class 0xb9 (ECT(1) kept),
    // flow label 0, payload length = inner length, next header 41, hop limit 64, source, RIP.
    let mut want = vec![0x6b, 0x90, 0x00, 0x00];
    want.extend_from_slice(&(inner_len as u16).to_be_bytes());
    want.extend_from_slice(&[0x29, 0x40]);
    want.extend_from_slice(&v6("2001:db8:1::1").octets());
    want.extend_from_slice(&v6("2001:db8:2::2").octets());
    let cfg = TunnelConfig::new(TunType::Ipip, v6_addrs());
    let r = encapsulate(&mut buf, 40, &cfg, &EncapMeta::default()).unwrap();
    assert_eq!(r, 0..40 + inner_len);
    assert_eq!(&buf[..40], &want[..]);
    verify_outer(&buf[r]);
}

#[test]
fn golden_4in6_gre_without_checksum() {
    // RFC 2473 4in6 through GRE: next header 47, GRE flags 0, protocol 0x0800.
    let mut buf = with_headroom(&INNER_V4_CE_DF, 44, 0);
    let cfg = TunnelConfig::new(TunType::Gre { csum: false }, v6_addrs());
    let r = encapsulate(&mut buf, 44, &cfg, &EncapMeta::default()).unwrap();
    assert_eq!(r, 0..84);
    assert_eq!(&buf[..4], &[0x6b, 0xa0, 0x00, 0x00], "traffic class 0xba");
    assert_eq!(&buf[4..8], &[0x00, 0x2c, 47, 63]);
    assert_eq!(&buf[40..44], &[0x00, 0x00, 0x08, 0x00]);
    verify_outer(&buf[r]);
}

#[test]
fn ds_field_mapping_follows_inet_ecn_encapsulate() {
    // include/net/inet_ecn.h INET_ECN_encapsulate: DSCP copied; Not-ECT, ECT(1), ECT(0) copied;
    // CE becomes ECT(0) (RFC 3168 9.1.1 full functionality, allowed by RFC 6040 4.1).
    let table = [(0b00, 0b00), (0b01, 0b01), (0b10, 0b10), (0b11, 0b10)];
    for dscp in [0u8, 10, 46, 63] {
        for (inner_ecn, outer_ecn) in table {
            let tos = (dscp << 2) | inner_ecn;
            assert_eq!(
                ecn_encapsulate(tos),
                (dscp << 2) | outer_ecn,
                "tos {tos:#04x}"
            );
            for addrs in [v4_addrs(), v6_addrs()] {
                let inner = tcp_v4(b"x", tos, 64, true);
                let mut buf = with_headroom(&inner, 40, 0);
                let cfg = TunnelConfig::new(TunType::Ipip, addrs);
                let r = encapsulate(&mut buf, 40, &cfg, &EncapMeta::default()).unwrap();
                let out = &buf[r];
                let ds = if out[0] >> 4 == 4 {
                    out[1]
                } else {
                    (out[0] << 4) | (out[1] >> 4)
                };
                assert_eq!(ds, (dscp << 2) | outer_ecn);
                // And the inner header keeps its own DS field.
                assert_eq!(buf[40 + 1], tos);
            }
        }
    }
}

#[test]
fn df_copied_only_with_pmtu_disc_and_ipv4_inner() {
    // ip_vs_tunnel_xmit: df = sysctl_pmtu_disc ? inner DF : 0; IPv6 inner gives df 0.
    let cases = [
        (true, true, true),
        (true, false, false),
        (false, true, false),
        (false, false, false),
    ];
    for (pmtu_disc, inner_df, want_df) in cases {
        let mut buf = with_headroom(&tcp_v4(b"abc", 0, 64, inner_df), 20, 0);
        let mut cfg = TunnelConfig::new(TunType::Ipip, v4_addrs());
        cfg.pmtu_disc = pmtu_disc;
        let meta = EncapMeta {
            ip_id: 0xbeef,
            ..Default::default()
        };
        let r = encapsulate(&mut buf, 20, &cfg, &meta).unwrap();
        let (h, _) = etherparse::Ipv4Header::from_slice(&buf[r]).unwrap();
        assert_eq!(
            h.dont_fragment, want_df,
            "pmtu_disc {pmtu_disc} inner df {inner_df}"
        );
        // ip_select_ident_segs: ID 0 with DF (no socket), the generator's value otherwise.
        assert_eq!(h.identification, if want_df { 0 } else { 0xbeef });
        assert!(!h.more_fragments);
        assert_eq!(h.fragment_offset.value(), 0);
    }
    let mut buf = with_headroom(&udp_v6(b"abc", 0, 64), 20, 0);
    let cfg = TunnelConfig::new(TunType::Ipip, v4_addrs());
    let r = encapsulate(&mut buf, 20, &cfg, &EncapMeta::default()).unwrap();
    let (h, _) = etherparse::Ipv4Header::from_slice(&buf[r]).unwrap();
    assert!(!h.dont_fragment);
    assert_eq!(
        h.protocol,
        etherparse::IpNumber::IPV6,
        "6in4 is protocol 41"
    );
}

#[test]
fn too_little_headroom_is_no_headroom_and_writes_nothing() {
    let kinds = [
        (TunType::Ipip, v4_addrs(), 20),
        (TunType::Ipip, v6_addrs(), 40),
        (
            TunType::Gue {
                port: 6080,
                csum: GueCsum::NoCsum,
            },
            v4_addrs(),
            32,
        ),
        (TunType::Gre { csum: false }, v4_addrs(), 24),
        (TunType::Gre { csum: true }, v6_addrs(), 48),
    ];
    for (tun_type, addrs, overhead) in kinds {
        let cfg = TunnelConfig::new(tun_type, addrs);
        assert_eq!(cfg.overhead(false), overhead);
        for headroom in 0..overhead {
            let mut buf = with_headroom(&INNER_V4_CE_DF, headroom, 4);
            let before = buf.clone();
            let err = encapsulate(&mut buf, headroom, &cfg, &EncapMeta::default()).unwrap_err();
            assert_eq!(
                err,
                TunError::Fwd(FwdError::NoHeadroom {
                    needed: overhead,
                    available: headroom
                })
            );
            assert_eq!(buf, before, "nothing written on error");
        }
        let mut buf = with_headroom(&INNER_V4_CE_DF, overhead, 4);
        let r = encapsulate(&mut buf, overhead, &cfg, &EncapMeta::default()).unwrap();
        assert_eq!(r.start, 0);
        assert_eq!(
            &buf[r.end..],
            &[0xEE; 4],
            "bytes after the inner packet untouched"
        );
    }
}

#[test]
fn malformed_inner_packets_are_refused_without_writing() {
    let cfg = TunnelConfig::new(TunType::Ipip, v4_addrs());
    let mut cases: Vec<Vec<u8>> = Vec::new();
    cases.push(INNER_V4_CE_DF[..19].to_vec()); // truncated header
    let mut lying = INNER_V4_CE_DF.to_vec();
    lying[3] = 41; // total length one past the buffer
    cases.push(lying);
    let mut ihl = INNER_V4_CE_DF.to_vec();
    ihl[0] = 0x44; // ihl 4
    cases.push(ihl);
    let mut ver = INNER_V4_CE_DF.to_vec();
    ver[0] = 0x55;
    cases.push(ver);
    cases.push(Vec::new());
    for inner in cases {
        let mut buf = with_headroom(&inner, 20, 0);
        let before = buf.clone();
        assert!(encapsulate(&mut buf, 20, &cfg, &EncapMeta::default()).is_err());
        assert_eq!(buf, before);
    }
    // inner_start beyond the buffer.
    let mut buf = vec![0u8; 10];
    assert!(encapsulate(&mut buf, 11, &cfg, &EncapMeta::default()).is_err());
}

#[test]
fn outer_length_overflow_is_too_long() {
    // An inner IPv4 packet of 65535 - 10 bytes cannot get a 20-byte outer IPv4 header.
    let inner = tcp_v4(&vec![0u8; 65535 - 10 - 40], 0, 64, false);
    let mut buf = with_headroom(&inner, 20, 0);
    let cfg = TunnelConfig::new(TunType::Ipip, v4_addrs());
    assert_eq!(
        encapsulate(&mut buf, 20, &cfg, &EncapMeta::default()),
        Err(TunError::TooLong { len: 65545 })
    );
    // With an IPv6 outer header the payload length (65525) still fits.
    let cfg = TunnelConfig::new(TunType::Ipip, v6_addrs());
    let mut buf = with_headroom(&inner, 40, 0);
    assert!(encapsulate(&mut buf, 40, &cfg, &EncapMeta::default()).is_ok());
}

#[test]
fn gue_source_port_matches_udp_flow_src_port() {
    // include/net/udp.h udp_flow_src_port: hash ^= hash << 16;
    // port = ((u64)hash * (max - min) >> 32) + min, default range 32768..60999.
    // Hand computations: 0x12345678 ^ 0x56780000 = 0x444c5678; * 28231 >> 32 = 7531 -> 40299.
    assert_eq!(gue_source_port(0x1234_5678, (32768, 60999)), 40299);
    assert_eq!(gue_source_port(0, (32768, 60999)), 32768);
    // 0xffffffff ^ 0xffff0000 = 0x0000ffff; * 28231 >> 32 = 0 -> 32768.
    assert_eq!(gue_source_port(0xffff_ffff, (32768, 60999)), 32768);
    // 0xffff0000 ^ 0 = 0xffff0000; * 28231 >> 32 = 28230 -> 60998 (max is exclusive).
    assert_eq!(gue_source_port(0xffff_0000, (32768, 60999)), 60998);
    // An empty range selects the default, as `min >= max` does in the kernel.
    assert_eq!(gue_source_port(0x1234_5678, (5000, 5000)), 40299);
    assert_eq!(gue_source_port(0xffff_0000, (1000, 2000)), 1999);
}

#[test]
fn gue_remcsum_adds_the_option_and_decap_fills_the_checksum() {
    // A locally generated TCP packet with CHECKSUM_PARTIAL: the TCP checksum field holds the
    // folded pseudo-header sum (not complemented). ipvs_gue_encap adds GUE_FLAG_PRIV, the private
    // flags word GUE_PFLAG_REMCSUM and (csum_start, csum_start + csum_offset) = (20, 36).
    let mut inner = tcp_v4(b"payload!", 0, 64, true);
    let good_tcp_csum = [inner[36], inner[37]];
    let tcp_len = inner.len() - 20;
    let pseudo = pseudo_v4([10, 0, 0, 2], [207, 175, 44, 110], 6, tcp_len);
    let seed = naive_sum(&[&pseudo]);
    inner[36..38].copy_from_slice(&seed.to_be_bytes());
    let cfg = TunnelConfig::new(
        TunType::Gue {
            port: 6080,
            csum: GueCsum::RemCsum,
        },
        v4_addrs(),
    );
    assert_eq!(cfg.overhead(true), 40);
    let meta = EncapMeta {
        flow_hash: 7,
        ip_id: 1,
        partial_csum: Some(PartialCsum {
            csum_start: 20,
            csum_offset: 16,
        }),
    };
    let mut buf = with_headroom(&inner, 40, 0);
    let r = encapsulate(&mut buf, 40, &cfg, &meta).unwrap();
    assert_eq!(r.start, 0);
    // GUE: hlen 2 (8 option bytes), proto 4, flags 0x0001; private flags 0x80000000;
    // remcsum start 20, offset 36.
    assert_eq!(
        &buf[28..40],
        &[0x02, 0x04, 0x00, 0x01, 0x80, 0, 0, 0, 0, 20, 0, 36]
    );
    assert_ne!(
        u16::from_be_bytes([buf[26], buf[27]]),
        0,
        "remcsum implies a UDP checksum"
    );
    verify_outer(&buf[r.clone()]);
    let d = decapsulate(
        &mut buf[r],
        &DecapConfig {
            gue_port: Some(6080),
        },
    )
    .unwrap();
    assert!(d.remcsum_resolved);
    assert_eq!(d.inner, 40..40 + inner.len());
    assert_eq!(
        [buf[40 + 36], buf[40 + 37]],
        good_tcp_csum,
        "inner TCP checksum filled in"
    );

    // Without a pending checksum, --tun-remcsum adds no option (skb->ip_summed is not
    // CHECKSUM_PARTIAL for forwarded packets) but still computes the UDP checksum.
    let mut buf = with_headroom(&tcp_v4(b"p", 0, 64, true), 32, 0);
    let r = encapsulate(&mut buf, 32, &cfg, &EncapMeta::default()).unwrap();
    assert_eq!(&buf[28..32], &[0x00, 0x04, 0x00, 0x00]);
    assert_ne!(u16::from_be_bytes([buf[26], buf[27]]), 0);
    verify_outer(&buf[r]);

    // A remcsum field outside the inner packet is refused.
    let bad = EncapMeta {
        partial_csum: Some(PartialCsum {
            csum_start: 20,
            csum_offset: 200,
        }),
        ..meta
    };
    let mut buf = with_headroom(&inner, 40, 0);
    assert_eq!(
        encapsulate(&mut buf, 40, &cfg, &bad),
        Err(TunError::GueRemcsum)
    );
}

#[test]
fn gue_nocsum_sends_zero_udp_checksum_on_both_families() {
    // udp_set_csum / udp6_set_csum with nocheck: check = 0 (--tun-nocsum, the default).
    for addrs in [v4_addrs(), v6_addrs()] {
        let cfg = TunnelConfig::new(
            TunType::Gue {
                port: 5555,
                csum: GueCsum::NoCsum,
            },
            addrs,
        );
        let oh = cfg.overhead(false);
        let mut buf = with_headroom(&INNER_V4_CE_DF, oh, 0);
        let r = encapsulate(&mut buf, oh, &cfg, &EncapMeta::default()).unwrap();
        let ip = addrs.ip_header_len();
        assert_eq!(&buf[ip + 6..ip + 8], &[0, 0]);
        assert_eq!(&buf[ip + 2..ip + 4], &5555u16.to_be_bytes());
        verify_outer(&buf[r]);
    }
}

fn tun_types() -> impl Strategy<Value = TunType> {
    prop_oneof![
        Just(TunType::Ipip),
        (any::<u16>(), 0..3u8).prop_map(|(port, c)| TunType::Gue {
            port,
            csum: [GueCsum::NoCsum, GueCsum::Csum, GueCsum::RemCsum][usize::from(c)],
        }),
        any::<bool>().prop_map(|csum| TunType::Gre { csum }),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// Round trip: every encapsulation verifies independently (etherparse + naive sums) and
    /// decapsulates back to the identical inner packet with the same kind, for random inner
    /// IPv4/IPv6 packets, tunnel types and outer families.
    #[test]
    fn encapsulate_then_decapsulate_round_trips(
        payload in proptest::collection::vec(any::<u8>(), 0..300),
        tos in any::<u8>(),
        ttl in 1..=255u8,
        df in any::<bool>(),
        inner_v6 in any::<bool>(),
        outer_v6 in any::<bool>(),
        tun_type in tun_types(),
        flow_hash in any::<u32>(),
        ip_id in any::<u16>(),
        extra_headroom in 0..16usize,
    ) {
        let inner = if inner_v6 { udp_v6(&payload, tos, ttl) } else { tcp_v4(&payload, tos, ttl, df) };
        let addrs = if outer_v6 { v6_addrs() } else { v4_addrs() };
        let cfg = TunnelConfig::new(tun_type, addrs);
        let headroom = cfg.overhead(false) + extra_headroom;
        let mut buf = with_headroom(&inner, headroom, 3);
        let meta = EncapMeta { flow_hash, ip_id, partial_csum: None };
        let r = encapsulate(&mut buf, headroom, &cfg, &meta).unwrap();
        prop_assert_eq!(r.clone(), extra_headroom..headroom + inner.len());
        prop_assert!(buf[..extra_headroom].iter().all(|&b| b == 0xEE));
        verify_outer(&buf[r.clone()]);
        let gue_port = match tun_type { TunType::Gue { port, .. } => Some(port), _ => None };
        let d = decapsulate(&mut buf[r.clone()], &DecapConfig { gue_port }).unwrap();
        let want_kind = match tun_type {
            TunType::Ipip => TunKind::Ipip,
            TunType::Gue { .. } => TunKind::Gue,
            TunType::Gre { .. } => TunKind::Gre,
        };
        prop_assert_eq!(d.kind, want_kind);
        prop_assert_eq!(d.inner_v6, inner_v6);
        let got = &buf[r.start + d.inner.start..r.start + d.inner.end];
        // RFC 6040 decap of our own encapsulation never changes the inner ECN field: the
        // outer is the inner codepoint or ECT(0) under an inner CE.
        prop_assert_eq!(got, &inner[..]);
        prop_assert!(!d.ecn_alarm);
    }
}
