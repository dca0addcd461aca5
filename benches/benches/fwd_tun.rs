//! Criterion benchmarks for lvs-fwd's tunnel module (TUN forwarding method): encapsulation of a
//! 64-byte TCP/IPv4 packet into caller headroom for IPIP, GUE, GRE and an IPv6 outer header,
//! decapsulation, and the MTU decision; plus an etherparse baseline that builds the same IPIP
//! outer header with a full checksum. Figures go to BENCHMARKS.md (lvs-fwd section).
#![allow(missing_docs)]

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use lvs_fwd::tun::{
    DecapConfig, EncapMeta, GueCsum, TunAddrs, TunType, TunnelConfig, check_mtu, decapsulate,
    encapsulate,
};
use std::hint::black_box;

/// A 64-byte TCP/IPv4 packet (20 IP + 20 TCP + 24 payload) from 10.0.0.2:40000 to the VIP
/// 207.175.44.110:8080, DF set, checksums valid.
fn inner_tcp_v4() -> Vec<u8> {
    let b = etherparse::PacketBuilder::ipv4([10, 0, 0, 2], [207, 175, 44, 110], 64)
        .tcp(40000, 8080, 1, 65535);
    let mut v = Vec::new();
    b.write(&mut v, &[0x61; 24]).unwrap();
    assert_eq!(v.len(), 64);
    v
}

fn v4_addrs() -> TunAddrs {
    TunAddrs::V4 {
        src: [192, 168, 1, 1].into(),
        dst: [172, 16, 0, 2].into(),
    }
}

const HEADROOM: usize = 64;

fn bench_encap(c: &mut Criterion, name: &str, cfg: TunnelConfig) {
    let inner = inner_tcp_v4();
    let mut buf = vec![0u8; HEADROOM + inner.len()];
    buf[HEADROOM..].copy_from_slice(&inner);
    let meta = EncapMeta {
        flow_hash: 0x1234_5678,
        ip_id: 7,
        partial_csum: None,
    };
    let mut g = c.benchmark_group("fwd_tun");
    g.throughput(Throughput::Elements(1));
    g.bench_function(name, |b| {
        b.iter(|| {
            // Encapsulation leaves the inner packet untouched, so re-encapsulating the same
            // buffer measures exactly one encapsulation per iteration.
            let r = encapsulate(black_box(&mut buf), HEADROOM, &cfg, black_box(&meta)).unwrap();
            black_box(r)
        })
    });
    g.finish();
}

fn benches(c: &mut Criterion) {
    bench_encap(
        c,
        "encap_ipip_v4_64B",
        TunnelConfig::new(TunType::Ipip, v4_addrs()),
    );
    bench_encap(
        c,
        "encap_gue_csum_v4_64B",
        TunnelConfig::new(
            TunType::Gue {
                port: 6080,
                csum: GueCsum::Csum,
            },
            v4_addrs(),
        ),
    );
    bench_encap(
        c,
        "encap_gue_nocsum_v4_64B",
        TunnelConfig::new(
            TunType::Gue {
                port: 6080,
                csum: GueCsum::NoCsum,
            },
            v4_addrs(),
        ),
    );
    bench_encap(
        c,
        "encap_gre_csum_v4_64B",
        TunnelConfig::new(TunType::Gre { csum: true }, v4_addrs()),
    );
    bench_encap(
        c,
        "encap_ipip_v6_outer_64B",
        TunnelConfig::new(
            TunType::Ipip,
            TunAddrs::V6 {
                src: "2001:db8:1::1".parse().unwrap(),
                dst: "2001:db8:2::2".parse().unwrap(),
            },
        ),
    );

    // 6in6: a 64-byte IPv6 TCP packet in an IPv6 outer header.
    {
        let b = etherparse::PacketBuilder::ipv6(
            "2001:db8::2"
                .parse::<std::net::Ipv6Addr>()
                .unwrap()
                .octets(),
            "2001:db8::100"
                .parse::<std::net::Ipv6Addr>()
                .unwrap()
                .octets(),
            64,
        )
        .tcp(40000, 8080, 1, 65535);
        let mut inner6 = Vec::new();
        b.write(&mut inner6, &[0x61; 4]).unwrap();
        assert_eq!(inner6.len(), 64);
        let cfg = TunnelConfig::new(
            TunType::Ipip,
            TunAddrs::V6 {
                src: "2001:db8:1::1".parse().unwrap(),
                dst: "2001:db8:2::2".parse().unwrap(),
            },
        );
        let mut buf = vec![0u8; HEADROOM + inner6.len()];
        buf[HEADROOM..].copy_from_slice(&inner6);
        let meta = EncapMeta::default();
        let mut g = c.benchmark_group("fwd_tun");
        g.throughput(Throughput::Elements(1));
        g.bench_function("encap_ipip_6in6_64B", |b| {
            b.iter(|| black_box(encapsulate(black_box(&mut buf), HEADROOM, &cfg, &meta).unwrap()))
        });
        g.finish();
    }

    // Decapsulation of the IPIP and GRE (with checksum) packets.
    for (name, cfg) in [
        (
            "decap_ipip_v4_64B",
            TunnelConfig::new(TunType::Ipip, v4_addrs()),
        ),
        (
            "decap_gre_csum_v4_64B",
            TunnelConfig::new(TunType::Gre { csum: true }, v4_addrs()),
        ),
        (
            "decap_gue_csum_v4_64B",
            TunnelConfig::new(
                TunType::Gue {
                    port: 6080,
                    csum: GueCsum::Csum,
                },
                v4_addrs(),
            ),
        ),
    ] {
        let inner = inner_tcp_v4();
        let oh = cfg.overhead(false);
        let mut buf = vec![0u8; oh + inner.len()];
        buf[oh..].copy_from_slice(&inner);
        encapsulate(&mut buf, oh, &cfg, &EncapMeta::default()).unwrap();
        let dcfg = DecapConfig {
            gue_port: Some(6080),
        };
        let mut g = c.benchmark_group("fwd_tun");
        g.throughput(Throughput::Elements(1));
        g.bench_function(name, |b| {
            b.iter(|| black_box(decapsulate(black_box(&mut buf), &dcfg).unwrap()))
        });
        g.finish();
    }

    // The MTU decision before encapsulation.
    let inner = inner_tcp_v4();
    let cfg = TunnelConfig::new(TunType::Ipip, v4_addrs());
    c.bench_function("fwd_tun/check_mtu_ipip_v4_64B", |b| {
        b.iter(|| black_box(check_mtu(black_box(&inner), &cfg, false, 1500).unwrap()))
    });

    // Baseline: etherparse builds the same IPIP outer header (DSCP/ECN copied, DF, TTL) with a
    // full header checksum and serialises it in front of the inner packet.
    let mut buf = vec![0u8; HEADROOM + inner.len()];
    buf[HEADROOM..].copy_from_slice(&inner);
    c.bench_function("fwd_tun/baseline_etherparse_ipip_v4_64B", |b| {
        b.iter(|| {
            let (ih, _) = etherparse::Ipv4Header::from_slice(&buf[HEADROOM..]).unwrap();
            let mut oh = etherparse::Ipv4Header::new(
                ih.total_len,
                ih.time_to_live,
                etherparse::IpNumber::IPV4,
                [192, 168, 1, 1],
                [172, 16, 0, 2],
            )
            .unwrap();
            oh.dscp = ih.dscp;
            oh.ecn = ih.ecn;
            oh.dont_fragment = ih.dont_fragment;
            oh.identification = 0;
            oh.total_len = ih.total_len + 20;
            oh.header_checksum = oh.calc_header_checksum();
            let bytes = oh.to_bytes();
            buf[HEADROOM - 20..HEADROOM].copy_from_slice(&bytes);
            black_box(&buf);
        })
    });
}

criterion_group!(group, benches);
criterion_main!(group);
