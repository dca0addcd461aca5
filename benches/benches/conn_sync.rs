//! Criterion benchmarks for the IPVS connection-sync codec (lvs-conn `sync` module): encoding
//! and decoding of a full MTU-sized message. Throughput is in connections, so criterion's
//! "elem/s" gives the per-connection figure.
#![allow(missing_docs)]

use std::hint::black_box;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use lvs_conn::sync::{
    IP_VS_CONN_F_DROUTE, SYNC_MAXLEN_IPV4, SYNC_MAXLEN_IPV6, SyncConn, SyncMessage,
    SyncMessageWriter, SyncVersion,
};

fn conns(n: usize, ipv6: bool) -> Vec<SyncConn<'static>> {
    (0..n)
        .map(|i| {
            let i = i as u32;
            let (c, v, d) = if ipv6 {
                (
                    IpAddr::V6(Ipv6Addr::from(
                        0x2001_0db8_0000_0000_0000_0000_0001_0000u128 + u128::from(i),
                    )),
                    IpAddr::V6(Ipv6Addr::from(
                        0x2001_0db8_0000_0000_0000_0000_0000_0100u128,
                    )),
                    IpAddr::V6(Ipv6Addr::from(
                        0x2001_0db8_0001_0000_0000_0000_0000_0011u128 + u128::from(i % 4),
                    )),
                )
            } else {
                (
                    IpAddr::V4(Ipv4Addr::from(0x0a00_0000 + i)),
                    IpAddr::V4(Ipv4Addr::new(192, 168, 1, 100)),
                    IpAddr::V4(Ipv4Addr::from(0x0a01_0100 + i % 4)),
                )
            };
            SyncConn {
                protocol: 6,
                caddr: c,
                cport: 30000 + i as u16,
                vaddr: v,
                vport: 80,
                daddr: d,
                dport: 80,
                flags: IP_VS_CONN_F_DROUTE,
                state: 1,
                fwmark: 0,
                timeout: 900,
                seq: None,
                pe_data: None,
                pe_name: None,
            }
        })
        .collect()
}

fn bench_case(c: &mut Criterion, name: &str, version: SyncVersion, maxlen: usize, ipv6: bool) {
    let all = conns(300, ipv6);
    let mut buf = vec![0u8; maxlen];
    // A full message: as many connections as the kernel puts in `maxlen` bytes.
    let n = SyncMessageWriter::new(version, &mut buf, 1)
        .unwrap()
        .push_many(&all);
    let batch = &all[..n];
    let msg = {
        let mut w = SyncMessageWriter::new(version, &mut buf, 1).unwrap();
        w.push_many(batch);
        w.finish().to_vec()
    };
    let mut g = c.benchmark_group(format!("conn_sync/{name}_{n}conns"));
    g.throughput(Throughput::Elements(n as u64));
    g.bench_function("encode", |b| {
        b.iter(|| {
            let mut w = SyncMessageWriter::new(version, &mut buf, 1).unwrap();
            let k = w.push_many(black_box(batch));
            black_box((k, w.finish().len()))
        })
    });
    g.bench_function("decode", |b| {
        b.iter(|| {
            let m = SyncMessage::parse(black_box(&msg)).unwrap();
            let mut sum = 0u32;
            for conn in m.conns() {
                let conn = conn.unwrap();
                sum = sum
                    .wrapping_add(u32::from(conn.cport))
                    .wrapping_add(conn.flags);
            }
            black_box(sum)
        })
    });
    g.finish();
}

fn benches(c: &mut Criterion) {
    bench_case(c, "v1_ipv4", SyncVersion::V1, SYNC_MAXLEN_IPV4, false);
    bench_case(c, "v0_ipv4", SyncVersion::V0, SYNC_MAXLEN_IPV4, false);
    bench_case(c, "v1_ipv6", SyncVersion::V1, SYNC_MAXLEN_IPV6, true);
}

criterion_group!(group, benches);
criterion_main!(group);
