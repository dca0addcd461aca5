//! Criterion benchmarks for lvs-fwd (see BENCHMARKS.md for the figures and goals).
//!
//! Packets: a 64-byte TCP/IPv4 frame (Ethernet 14 + IPv4 20 + TCP 20 + 10 bytes of payload)
//! and its IPv6 equivalent (84 bytes: the IPv6 header is 20 bytes longer), in cache. The
//! rewrite decrements the TTL, so every iteration gets a fresh copy of the frame through
//! criterion's `iter_batched_ref` (the copies are made outside the timed loop, long enough
//! before use that the CPU does not stall forwarding the copy's stores into the rewrite's
//! loads). Parsing is measured separately (`parse`) and together with the rewrite
//! (`parse+nat_in`, ...). The baseline re-serialises the packet with etherparse and
//! recomputes every checksum in full.
#![allow(missing_docs)]

use std::hint::black_box;
use std::io::Cursor;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use criterion::{BatchSize, Criterion, criterion_group, criterion_main};
use etherparse::{NetHeaders, PacketBuilder, PacketHeaders, TransportHeader};

const CLIENT_MAC: [u8; 6] = [2, 0, 0, 0, 0, 1];
const DIRECTOR_MAC: [u8; 6] = [2, 0, 0, 0, 0, 0xd1];
const RS_MAC: [u8; 6] = [2, 0, 0, 0, 0, 0x51];

fn frame_v4() -> Vec<u8> {
    let b = PacketBuilder::ethernet2(CLIENT_MAC, DIRECTOR_MAC)
        .ipv4([192, 0, 2, 10], [10, 0, 0, 100], 64)
        .tcp(40000, 80, 1, 29200)
        .ack(7);
    let payload = [0x61u8; 10];
    let mut v = Vec::with_capacity(b.size(payload.len()));
    b.write(&mut v, &payload).unwrap();
    assert_eq!(v.len(), 64);
    v
}

fn frame_v6() -> Vec<u8> {
    let b = PacketBuilder::ethernet2(CLIENT_MAC, DIRECTOR_MAC)
        .ipv6(
            Ipv6Addr::new(0x2001, 0xdb8, 0xc, 0, 0, 0, 0, 0x10).octets(),
            Ipv6Addr::new(0x2001, 0xdb8, 0xf, 0, 0, 0, 0, 0x100).octets(),
            64,
        )
        .tcp(40000, 80, 1, 29200)
        .ack(7);
    let payload = [0x61u8; 10];
    let mut v = Vec::with_capacity(b.size(payload.len()));
    b.write(&mut v, &payload).unwrap();
    v
}

/// The etherparse baseline of NAT in: parse, change destination address and port, decrement
/// the TTL, re-serialise every header into `out` with full checksum recomputation.
fn etherparse_nat_in(frame: &[u8], out: &mut [u8], rip: IpAddr, rport: u16) {
    let h = PacketHeaders::from_ethernet_slice(frame).unwrap();
    let payload = h.payload.slice();
    let mut w = Cursor::new(out);
    if let Some(etherparse::LinkHeader::Ethernet2(e)) = &h.link {
        e.write(&mut w).unwrap();
    }
    let Some(TransportHeader::Tcp(mut tcp)) = h.transport else {
        panic!("not tcp")
    };
    tcp.destination_port = rport;
    match (h.net, rip) {
        (Some(NetHeaders::Ipv4(mut ip, _)), IpAddr::V4(r)) => {
            ip.destination = r.octets();
            ip.time_to_live -= 1;
            ip.header_checksum = ip.calc_header_checksum();
            tcp.checksum = tcp.calc_checksum_ipv4(&ip, payload).unwrap();
            ip.write(&mut w).unwrap();
        }
        (Some(NetHeaders::Ipv6(mut ip, _)), IpAddr::V6(r)) => {
            ip.destination = r.octets();
            ip.hop_limit -= 1;
            tcp.checksum = tcp.calc_checksum_ipv6(&ip, payload).unwrap();
            ip.write(&mut w).unwrap();
        }
        _ => panic!("family"),
    }
    tcp.write(&mut w).unwrap();
    std::io::Write::write_all(&mut w, payload).unwrap();
}

fn benches(c: &mut Criterion) {
    let rip4 = IpAddr::V4(Ipv4Addr::new(192, 168, 10, 2));
    let vip4 = IpAddr::V4(Ipv4Addr::new(10, 0, 0, 100));
    let lip4 = IpAddr::V4(Ipv4Addr::new(10, 0, 0, 200));
    let cip4 = IpAddr::V4(Ipv4Addr::new(192, 0, 2, 10));
    let rip6 = IpAddr::V6(Ipv6Addr::new(0x2001, 0xdb8, 0xa, 0, 0, 0, 0, 2));
    let vip6 = IpAddr::V6(Ipv6Addr::new(0x2001, 0xdb8, 0xf, 0, 0, 0, 0, 0x100));
    let lip6 = IpAddr::V6(Ipv6Addr::new(0x2001, 0xdb8, 0xf, 0, 0, 0, 0, 0x200));
    let cip6 = IpAddr::V6(Ipv6Addr::new(0x2001, 0xdb8, 0xc, 0, 0, 0, 0, 0x10));

    for (fam, tmpl, rip, vip, lip, cip) in [
        ("v4", frame_v4(), rip4, vip4, lip4, cip4),
        ("v6", frame_v6(), rip6, vip6, lip6, cip6),
    ] {
        let p = lvs_fwd::parse(&tmpl).unwrap();
        let n = tmpl.len();
        let mut arr = [0u8; 96];
        arr[..n].copy_from_slice(&tmpl);
        let mut g = c.benchmark_group(format!("fwd_{fam}"));
        g.throughput(criterion::Throughput::Elements(1));
        let fresh = || arr;
        g.bench_function("parse", |b| {
            b.iter(|| lvs_fwd::parse(black_box(&tmpl)).unwrap())
        });
        g.bench_function("dr", |b| {
            b.iter_batched_ref(
                fresh,
                |buf| lvs_fwd::dr(&mut buf[..n], black_box(&p), RS_MAC, DIRECTOR_MAC).unwrap(),
                BatchSize::SmallInput,
            )
        });
        g.bench_function("nat_in", |b| {
            b.iter_batched_ref(
                fresh,
                |buf| lvs_fwd::nat_in(&mut buf[..n], black_box(&p), black_box(rip), 8080).unwrap(),
                BatchSize::SmallInput,
            )
        });
        g.bench_function("nat_out", |b| {
            b.iter_batched_ref(
                fresh,
                |buf| lvs_fwd::nat_out(&mut buf[..n], black_box(&p), black_box(vip), 80).unwrap(),
                BatchSize::SmallInput,
            )
        });
        g.bench_function("fullnat_in", |b| {
            b.iter_batched_ref(
                fresh,
                |buf| {
                    lvs_fwd::fullnat_in(
                        &mut buf[..n],
                        black_box(&p),
                        lip,
                        5000,
                        black_box(rip),
                        8080,
                    )
                    .unwrap()
                },
                BatchSize::SmallInput,
            )
        });
        g.bench_function("fullnat_out", |b| {
            b.iter_batched_ref(
                fresh,
                |buf| {
                    lvs_fwd::fullnat_out(
                        &mut buf[..n],
                        black_box(&p),
                        vip,
                        80,
                        black_box(cip),
                        40000,
                    )
                    .unwrap()
                },
                BatchSize::SmallInput,
            )
        });
        g.bench_function("parse+dr", |b| {
            b.iter_batched_ref(
                fresh,
                |buf| {
                    let p = lvs_fwd::parse(&buf[..n]).unwrap();
                    lvs_fwd::dr(&mut buf[..n], &p, RS_MAC, DIRECTOR_MAC).unwrap()
                },
                BatchSize::SmallInput,
            )
        });
        g.bench_function("parse+nat_in", |b| {
            b.iter_batched_ref(
                fresh,
                |buf| {
                    let p = lvs_fwd::parse(&buf[..n]).unwrap();
                    lvs_fwd::nat_in(&mut buf[..n], &p, black_box(rip), 8080).unwrap()
                },
                BatchSize::SmallInput,
            )
        });
        g.bench_function("parse+fullnat_in", |b| {
            b.iter_batched_ref(
                fresh,
                |buf| {
                    let p = lvs_fwd::parse(&buf[..n]).unwrap();
                    lvs_fwd::fullnat_in(&mut buf[..n], &p, lip, 5000, black_box(rip), 8080).unwrap()
                },
                BatchSize::SmallInput,
            )
        });
        // Baseline: etherparse parse + re-serialise + full checksums (same copy-in cost
        // replaced by the write-out).
        let mut out = vec![0u8; tmpl.len()];
        etherparse_nat_in(&tmpl, &mut out, rip, 8080);
        let mut ours = tmpl.clone();
        let _ = lvs_fwd::nat_in(&mut ours, &p, rip, 8080).unwrap();
        assert_eq!(
            out, ours,
            "baseline and lvs-fwd must produce the same bytes"
        );
        g.bench_function("etherparse_nat_in_baseline", |b| {
            b.iter(|| etherparse_nat_in(black_box(&tmpl), &mut out, black_box(rip), 8080))
        });
        g.finish();
    }
}

criterion_group!(group, benches);
criterion_main!(group);
