//! Decapsulation on a userspace real server: RFC 6040 ECN table, and rejection of malformed
//! tunnels (truncation at every length, wrong lengths, bad checksums, unknown GUE versions and
//! flags, GRE version / routing, wrong protocols), never a panic, buffer unchanged on error.

mod tun_util;

use lvs_fwd::FwdError;
use lvs_fwd::tun::{
    DecapConfig, EcnDecap, EncapMeta, GueCsum, TunAddrs, TunError, TunKind, TunType, TunnelConfig,
    decapsulate, ecn_decapsulate, encapsulate,
};
use tun_util::*;

const GUE_PORT: u16 = 6080;

fn cfg_gue() -> DecapConfig {
    DecapConfig {
        gue_port: Some(GUE_PORT),
    }
}

/// An encapsulated packet (the outer packet only) built by our encapsulation, already checked
/// against etherparse by `verify_outer`.
fn encap(inner: &[u8], tun_type: TunType, addrs: TunAddrs) -> Vec<u8> {
    let cfg = TunnelConfig::new(tun_type, addrs);
    let oh = cfg.overhead(false);
    let mut buf = with_headroom(inner, oh, 0);
    let r = encapsulate(&mut buf, oh, &cfg, &EncapMeta::default()).unwrap();
    verify_outer(&buf[r.clone()]);
    buf[r].to_vec()
}

fn all_kinds() -> Vec<(TunType, TunAddrs)> {
    let mut v = Vec::new();
    for addrs in [v4_addrs(), v6_addrs()] {
        v.push((TunType::Ipip, addrs));
        for csum in [GueCsum::NoCsum, GueCsum::Csum] {
            v.push((
                TunType::Gue {
                    port: GUE_PORT,
                    csum,
                },
                addrs,
            ));
        }
        v.push((TunType::Gre { csum: false }, addrs));
        v.push((TunType::Gre { csum: true }, addrs));
    }
    v
}

/// Recomputes the outer IPv4 header checksum after a test edited the header.
fn fix_v4_checksum(p: &mut [u8]) {
    p[10] = 0;
    p[11] = 0;
    let c = !naive_sum(&[&p[..20]]);
    p[10..12].copy_from_slice(&c.to_be_bytes());
}

fn expect_err(mut pkt: Vec<u8>, cfg: &DecapConfig, want: TunError) {
    let before = pkt.clone();
    assert_eq!(decapsulate(&mut pkt, cfg).unwrap_err(), want);
    assert_eq!(pkt, before, "buffer unchanged on error");
}

#[test]
fn every_truncation_of_every_kind_is_refused() {
    let inners = [tcp_v4(b"hello", 0, 64, true), udp_v6(b"hello", 0, 64)];
    for (tun_type, addrs) in all_kinds() {
        for inner in &inners {
            let pkt = encap(inner, tun_type, addrs);
            for len in 0..pkt.len() {
                let mut cut = pkt[..len].to_vec();
                let before = cut.clone();
                let r = decapsulate(&mut cut, &cfg_gue());
                assert!(r.is_err(), "{tun_type:?} truncated to {len} accepted");
                assert_eq!(cut, before);
            }
            let mut full = pkt.clone();
            let d = decapsulate(&mut full, &cfg_gue()).unwrap();
            assert_eq!(&full[d.inner.clone()], &inner[..]);
        }
    }
}

#[test]
fn trailing_link_padding_after_the_outer_packet_is_ignored() {
    let inner = tcp_v4(b"", 0, 64, true);
    let mut pkt = encap(&inner, TunType::Ipip, v4_addrs());
    let n = pkt.len();
    pkt.extend_from_slice(&[0; 6]); // Ethernet minimum-frame padding
    let d = decapsulate(&mut pkt, &cfg_gue()).unwrap();
    assert_eq!(d.inner, 20..n);
    assert_eq!(d.kind, TunKind::Ipip);
    assert_eq!(d.outer_src, std::net::IpAddr::V4(v4("192.168.1.1")));
}

#[test]
fn inner_length_field_must_match_the_bytes_carried() {
    let inner = tcp_v4(b"abcd", 0, 64, true);
    // One byte of junk appended inside the outer packet: inner says 44, the tunnel carries 45.
    let mut longer = inner.clone();
    longer.push(0);
    let mut pkt = encap(&inner, TunType::Ipip, v4_addrs());
    pkt.push(0);
    let tot = (pkt.len() as u16).to_be_bytes();
    pkt[2..4].copy_from_slice(&tot);
    fix_v4_checksum(&mut pkt);
    expect_err(
        pkt,
        &cfg_gue(),
        TunError::InnerLengthMismatch {
            declared: 44,
            carried: 45,
        },
    );
    // The inner packet claims more than the tunnel carries.
    let mut pkt = encap(&inner, TunType::Gre { csum: false }, v6_addrs());
    let n = pkt.len();
    pkt[44 + 3] += 1; // inner total length 45
    pkt[44 + 11] = pkt[44 + 11].wrapping_sub(1); // keep the inner checksum valid
    let _ = n;
    let mut inner_edit = pkt[44..].to_vec();
    inner_edit[10] = 0;
    inner_edit[11] = 0;
    let c = !naive_sum(&[&inner_edit[..20]]);
    pkt[44 + 10..44 + 12].copy_from_slice(&c.to_be_bytes());
    expect_err(
        pkt,
        &cfg_gue(),
        TunError::InnerLengthMismatch {
            declared: 45,
            carried: 44,
        },
    );
}

#[test]
fn outer_header_errors() {
    let inner = tcp_v4(b"x", 0, 64, true);
    let good = encap(&inner, TunType::Ipip, v4_addrs());
    // Bad outer header checksum.
    let mut p = good.clone();
    p[11] ^= 1;
    expect_err(p, &cfg_gue(), TunError::BadOuterChecksum);
    // A fragment (MF set): reassembly comes first.
    let mut p = good.clone();
    p[6] |= 0x20;
    fix_v4_checksum(&mut p);
    expect_err(p, &cfg_gue(), TunError::Fwd(FwdError::Fragment));
    // ihl 4.
    let mut p = good.clone();
    p[0] = 0x44;
    expect_err(
        p,
        &cfg_gue(),
        TunError::Fwd(FwdError::BadHeader("ipv4 ihl < 5")),
    );
    // Version 5.
    let mut p = good.clone();
    p[0] = 0x55;
    expect_err(
        p,
        &cfg_gue(),
        TunError::Fwd(FwdError::UnsupportedIpVersion(5)),
    );
    // Protocol 6 (TCP): not a tunnel.
    let mut p = good.clone();
    p[9] = 6;
    fix_v4_checksum(&mut p);
    expect_err(p, &cfg_gue(), TunError::NotTunnel(6));
    // IPv6 outer with a fragment header.
    let good6 = encap(&inner, TunType::Ipip, v6_addrs());
    let mut p = good6[..40].to_vec();
    p[6] = 44;
    let plen = (good6.len() - 40 + 8) as u16;
    p[4..6].copy_from_slice(&plen.to_be_bytes());
    p.extend_from_slice(&[4, 0, 0, 0, 0, 0, 0, 1]); // next 4, offset 0, M 0, id 1
    p.extend_from_slice(&good6[40..]);
    expect_err(p, &cfg_gue(), TunError::Fwd(FwdError::Fragment));
    // IPv6 outer with a destination options header is walked.
    let mut p = good6[..40].to_vec();
    p[6] = 60;
    let plen = (good6.len() - 40 + 8) as u16;
    p[4..6].copy_from_slice(&plen.to_be_bytes());
    p.extend_from_slice(&[4, 0, 1, 4, 0, 0, 0, 0]); // next 4, len 0, PadN
    p.extend_from_slice(&good6[40..]);
    let d = decapsulate(&mut p, &cfg_gue()).unwrap();
    assert_eq!(d.inner, 48..48 + inner.len());
    // A loop of hop-by-hop-like headers beyond 8 is refused.
    let mut p = good6[..40].to_vec();
    p[6] = 60;
    for _ in 0..9 {
        p.extend_from_slice(&[60, 0, 1, 4, 0, 0, 0, 0]);
    }
    let plen = (p.len() - 40) as u16;
    p[4..6].copy_from_slice(&plen.to_be_bytes());
    expect_err(p, &cfg_gue(), TunError::Fwd(FwdError::ExtensionHeaderChain));
}

#[test]
fn inner_errors() {
    let inner = tcp_v4(b"x", 0, 64, true);
    // Protocol 4 announcing IPv4 but carrying IPv6.
    let mut p = encap(&udp_v6(b"x", 0, 64), TunType::Ipip, v4_addrs());
    p[9] = 4;
    fix_v4_checksum(&mut p);
    expect_err(p, &cfg_gue(), TunError::InnerVersionMismatch);
    // Bad inner IPv4 header checksum.
    let mut p = encap(&inner, TunType::Ipip, v4_addrs());
    p[20 + 10] ^= 0x40;
    expect_err(p, &cfg_gue(), TunError::BadInnerChecksum);
    // GRE protocol 0x6558 (transparent Ethernet bridging) is not IP.
    let mut p = encap(&inner, TunType::Gre { csum: false }, v4_addrs());
    p[22..24].copy_from_slice(&[0x65, 0x58]);
    expect_err(p, &cfg_gue(), TunError::UnsupportedInner(0x6558));
}

#[test]
fn gue_header_validation() {
    let inner = tcp_v4(b"gue", 0, 64, true);
    let gue = |csum| TunType::Gue {
        port: GUE_PORT,
        csum,
    };
    let good = encap(&inner, gue(GueCsum::NoCsum), v4_addrs());
    // GUE byte 0 is at offset 28. Versions 2 and 3 are unknown (draft-ietf-intarea-gue
    // section 3; gue_udp_recv drops them).
    for v in [2u8, 3] {
        let mut p = good.clone();
        p[28] = v << 6;
        expect_err(p, &cfg_gue(), TunError::GueVersion(v));
    }
    // Control messages (C bit) are not data.
    let mut p = good.clone();
    p[28] |= 0x20;
    expect_err(p, &cfg_gue(), TunError::GueControl);
    // Unknown standard flag.
    let mut p = good.clone();
    p[31] = 0x02;
    expect_err(p, &cfg_gue(), TunError::GueFlags);
    // PRIV flag without room for the private flags word (hlen 0).
    let mut p = good.clone();
    p[31] = 0x01;
    expect_err(p, &cfg_gue(), TunError::GueFlags);
    // proto_ctype 17 is not IP.
    let mut p = good.clone();
    p[29] = 17;
    expect_err(p, &cfg_gue(), TunError::UnsupportedInner(17));
    // hlen pointing beyond the packet.
    let mut p = good.clone();
    p[28] = 0x1f;
    assert!(decapsulate(&mut p, &cfg_gue()).is_err());
    // Wrong UDP port, or no GUE port configured: not a tunnel.
    expect_err(
        good.clone(),
        &DecapConfig {
            gue_port: Some(GUE_PORT + 1),
        },
        TunError::NotTunnel(17),
    );
    expect_err(
        good.clone(),
        &DecapConfig::default(),
        TunError::NotTunnel(17),
    );
    // UDP length disagreeing with the IP length.
    let mut p = good.clone();
    p[25] = p[25].wrapping_add(1);
    expect_err(p, &cfg_gue(), TunError::BadUdpLength);
    // A wrong non-zero UDP checksum, for both families.
    for addrs in [v4_addrs(), v6_addrs()] {
        let mut p = encap(&inner, gue(GueCsum::Csum), addrs);
        let ip = addrs.ip_header_len();
        p[ip + 7] ^= 0x01;
        expect_err(p, &cfg_gue(), TunError::BadUdpChecksum);
    }
    // Version 1: direct IPv4 / IPv6 in UDP (the first nibble selects the family).
    for inner in [tcp_v4(b"v1", 0, 64, true), udp_v6(b"v1", 0, 64)] {
        let mut p = good[..28].to_vec();
        p.extend_from_slice(&inner);
        let tot = (p.len() as u16).to_be_bytes();
        p[2..4].copy_from_slice(&tot);
        fix_v4_checksum(&mut p);
        let ulen = ((p.len() - 20) as u16).to_be_bytes();
        p[24..26].copy_from_slice(&ulen);
        let d = decapsulate(&mut p, &cfg_gue()).unwrap();
        assert_eq!(d.kind, TunKind::Gue);
        assert_eq!(&p[d.inner], &inner[..]);
    }
}

#[test]
fn gre_header_validation() {
    let inner = tcp_v4(b"gre", 0, 64, true);
    let good = encap(&inner, TunType::Gre { csum: true }, v4_addrs());
    // Bad GRE checksum (RFC 2784 section 2.5).
    let mut p = good.clone();
    p[24] ^= 0xff;
    expect_err(p, &cfg_gue(), TunError::BadGreChecksum);
    // A payload bit flipped is caught by the GRE checksum too.
    let mut p = good.clone();
    let last = p.len() - 1;
    p[last] ^= 0x01;
    expect_err(p, &cfg_gue(), TunError::BadGreChecksum);
    // Version 1 (PPTP) and routing present are refused (gre_parse_header).
    let mut p = good.clone();
    p[21] |= 0x01;
    expect_err(p, &cfg_gue(), TunError::GreVersion(1));
    let mut p = good.clone();
    p[20] |= 0x40;
    expect_err(p, &cfg_gue(), TunError::GreRouting);
    // Reserved bits 6-12 are ignored on receipt (RFC 2784 section 2.3); use the no-checksum
    // variant so the checksum does not cover the edit.
    let mut p = encap(&inner, TunType::Gre { csum: false }, v4_addrs());
    p[20] |= 0x02;
    p[21] |= 0xf8;
    assert!(decapsulate(&mut p, &cfg_gue()).is_ok());
    // Key and sequence number (RFC 2890) are skipped and reported.
    let mut p = good[..20].to_vec();
    p.extend_from_slice(&[0x30, 0x00, 0x08, 0x00]); // K and S bits, IPv4
    p.extend_from_slice(&0xdead_beefu32.to_be_bytes());
    p.extend_from_slice(&7u32.to_be_bytes());
    p.extend_from_slice(&inner);
    let tot = (p.len() as u16).to_be_bytes();
    p[2..4].copy_from_slice(&tot);
    fix_v4_checksum(&mut p);
    let d = decapsulate(&mut p, &cfg_gue()).unwrap();
    assert_eq!(d.gre.key, Some(0xdead_beef));
    assert_eq!(d.gre.seq, Some(7));
    assert_eq!(d.inner, 32..32 + inner.len());
}

#[test]
fn rfc6040_decapsulation_table() {
    // RFC 6040 section 4.2 Figure 4, rows = arriving inner, columns = arriving outer
    // (Not-ECT, ECT(0), ECT(1), CE); None = drop; (codepoint, alarm).
    let n = 0b00;
    let e0 = 0b10;
    let e1 = 0b01;
    let ce = 0b11;
    type Row = [Option<(u8, bool)>; 4];
    let table: [(u8, Row); 4] = [
        (
            n,
            [Some((n, false)), Some((n, true)), Some((n, true)), None],
        ),
        (
            e0,
            [
                Some((e0, false)),
                Some((e0, false)),
                Some((e1, false)),
                Some((ce, false)),
            ],
        ),
        (
            e1,
            [
                Some((e1, false)),
                Some((e1, true)),
                Some((e1, false)),
                Some((ce, false)),
            ],
        ),
        (
            ce,
            [
                Some((ce, false)),
                Some((ce, false)),
                Some((ce, true)),
                Some((ce, false)),
            ],
        ),
    ];
    let outers = [n, e0, e1, ce];
    for (inner, row) in table {
        for (outer, want) in outers.iter().zip(row) {
            let got = ecn_decapsulate(inner, *outer);
            let want = match want {
                None => EcnDecap::Drop,
                Some((ecn, alarm)) => EcnDecap::Forward { ecn, alarm },
            };
            assert_eq!(got, want, "inner {inner:02b} outer {outer:02b}");
            // And through decapsulate, on IPv4 and IPv6 inner packets and both outer families:
            // the outer ECN field is set by hand after encapsulation.
            for addrs in [v4_addrs(), v6_addrs()] {
                for inner_pkt in [
                    tcp_v4(b"e", 0xb8 | inner, 64, true),
                    udp_v6(b"e", 0xb8 | inner, 64),
                ] {
                    let mut p = encap(&inner_pkt, TunType::Ipip, addrs);
                    if addrs.ip_header_len() == 20 {
                        p[1] = (p[1] & !3) | outer;
                        fix_v4_checksum(&mut p);
                    } else {
                        p[1] = (p[1] & !0x30) | (outer << 4);
                    }
                    let before = p.clone();
                    match (decapsulate(&mut p, &cfg_gue()), want) {
                        (Err(e), EcnDecap::Drop) => {
                            assert_eq!(e, TunError::EcnDrop);
                            assert_eq!(p, before);
                        }
                        (Ok(d), EcnDecap::Forward { ecn, alarm }) => {
                            assert_eq!(d.ecn_alarm, alarm);
                            let i = &p[d.inner.clone()];
                            if d.inner_v6 {
                                let tc = (i[0] << 4) | (i[1] >> 4);
                                assert_eq!(tc, 0xb8 | ecn, "DSCP kept, ECN set");
                                let (h, _) = etherparse::Ipv6Header::from_slice(i).unwrap();
                                assert_eq!(h.traffic_class, 0xb8 | ecn);
                            } else {
                                let (h, _) = etherparse::Ipv4Header::from_slice(i).unwrap();
                                assert_eq!(h.ecn.value(), ecn);
                                assert_eq!(h.dscp.value(), 0xb8 >> 2);
                                assert_eq!(
                                    h.header_checksum,
                                    h.calc_header_checksum(),
                                    "inner checksum updated"
                                );
                            }
                        }
                        (r, w) => panic!("inner {inner} outer {outer}: got {r:?}, want {w:?}"),
                    }
                }
            }
        }
    }
}

#[test]
fn arbitrary_bytes_never_panic() {
    // A cheap deterministic sweep (the fuzz target fwd_tun_decap does the real work): mutate
    // each byte of valid packets of every kind through a few values.
    for (tun_type, addrs) in all_kinds() {
        let pkt = encap(&tcp_v4(b"0123456789", 0x03, 9, true), tun_type, addrs);
        for i in 0..pkt.len() {
            for v in [0x00, 0x01, 0x7f, 0x80, 0xff] {
                let mut p = pkt.clone();
                p[i] = v;
                let _ = decapsulate(&mut p, &cfg_gue());
            }
        }
    }
}

#[test]
fn outer_ipv4_options_are_skipped_and_ttl_is_not_checked() {
    let inner = tcp_v4(b"opts", 0, 64, true);
    let plain = encap(&inner, TunType::Gre { csum: true }, v4_addrs());
    // Rebuild the outer header with ihl 6: four option bytes (NOP, NOP, NOP, EOL; RFC 791),
    // TTL 0.
    let mut p = vec![0x46];
    p.extend_from_slice(&plain[1..20]);
    p.extend_from_slice(&[1, 1, 1, 0]);
    p.extend_from_slice(&plain[20..]);
    let tot = (p.len() as u16).to_be_bytes();
    p[2..4].copy_from_slice(&tot);
    p[8] = 0;
    p[10] = 0;
    p[11] = 0;
    let c = !naive_sum(&[&p[..24]]);
    p[10..12].copy_from_slice(&c.to_be_bytes());
    let d = decapsulate(&mut p, &cfg_gue()).unwrap();
    assert_eq!(d.kind, TunKind::Gre);
    assert_eq!(d.inner, 32..32 + inner.len());
    assert_eq!(&p[d.inner], &inner[..]);
}
