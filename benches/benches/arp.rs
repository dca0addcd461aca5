//! Criterion benchmarks for lvs-arp (see BENCHMARKS.md for the figures and goals): the
//! receive decision for an ARP request, building a reply, an ARP codec round trip, building an
//! unsolicited NA, and neighbour-table lookups.
#![allow(missing_docs)]

use std::hint::black_box;
use std::net::{IpAddr, Ipv4Addr};

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use lvs_arp::{
    ArpFrame, Host, Learn, LearnState, MacAddr, NdiscFrame, NeighConfig, NeighbourTable, Route,
    Scope,
};

const ENP0S8: u32 = 3;

/// The seeds' server02 as an LVS-DR real server: VIP on lo/32, arp_ignore=1, arp_announce=2.
fn real_server() -> Host {
    let mut h = Host::new();
    h.add_loopback("lo", 1).unwrap();
    h.add_interface("enp0s3", 2, MacAddr([8, 0, 0x27, 0xaa, 0xbb, 3])).unwrap();
    h.add_interface("enp0s8", ENP0S8, MacAddr([8, 0, 0x27, 0x9f, 0xf2, 0x71])).unwrap();
    h.add_addr(2, Ipv4Addr::new(10, 0, 2, 15), 24, Scope::Global).unwrap();
    h.add_addr(ENP0S8, Ipv4Addr::new(192, 168, 56, 102), 24, Scope::Global).unwrap();
    h.add_addr(1, Ipv4Addr::new(192, 168, 56, 200), 32, Scope::Global).unwrap();
    h.add_route(Route {
        dst: Ipv4Addr::UNSPECIFIED,
        prefix_len: 0,
        ifindex: 2,
        gateway: Some(Ipv4Addr::new(10, 0, 2, 2)),
        src: None,
        metric: 100,
    })
    .unwrap();
    h.sysctl("net.ipv4.conf.all.arp_ignore", 1).unwrap();
    h.sysctl("net.ipv4.conf.all.arp_announce", 2).unwrap();
    h.sysctl("net.ipv4.conf.all.arp_filter", 1).unwrap();
    h
}

fn request(target: Ipv4Addr) -> ArpFrame {
    ArpFrame::request(
        MacAddr([8, 0, 0x27, 0x12, 4, 0x78]),
        Ipv4Addr::new(192, 168, 56, 101),
        target,
        None,
    )
}

fn benches(c: &mut Criterion) {
    let h = real_server();
    let rip_req = request(Ipv4Addr::new(192, 168, 56, 102));
    let vip_req = request(Ipv4Addr::new(192, 168, 56, 200));
    let mut rip_bytes = [0u8; 60];
    rip_req.emit(&mut rip_bytes).unwrap();

    let mut g = c.benchmark_group("arp");
    g.throughput(Throughput::Elements(1));
    g.bench_function("decide_request_reply_rip", |b| {
        b.iter(|| h.arp_input(black_box(ENP0S8), black_box(&rip_req)))
    });
    g.bench_function("decide_request_ignore_vip", |b| {
        b.iter(|| h.arp_input(black_box(ENP0S8), black_box(&vip_req)))
    });
    g.bench_function("decide_from_bytes", |b| {
        b.iter(|| h.arp_input_bytes(black_box(ENP0S8), black_box(&rip_bytes[..])))
    });
    let dev_mac = MacAddr([8, 0, 0x27, 0x9f, 0xf2, 0x71]);
    let mut out = [0u8; 64];
    g.bench_function("build_reply", |b| {
        b.iter(|| black_box(&rip_req).reply_to(dev_mac).emit(black_box(&mut out)))
    });
    g.bench_function("codec_round_trip", |b| {
        b.iter(|| {
            let f = ArpFrame::parse(black_box(&rip_bytes[..])).unwrap();
            f.emit(black_box(&mut out))
        })
    });
    let v6 = "2001:db8::200".parse().unwrap();
    g.bench_function("build_unsolicited_na", |b| {
        b.iter(|| NdiscFrame::unsolicited_advert(dev_mac, black_box(v6), false).emit(&mut out))
    });

    // A director's table with 1000 resolved real servers.
    let mut nt: NeighbourTable<&'static [u8]> = NeighbourTable::new(NeighConfig::default());
    for i in 0..1000u32 {
        let ip = Ipv4Addr::from(0x0a00_0000 + i);
        let learn = Learn::Update {
            ifindex: 2,
            ip,
            mac: MacAddr([2, 0, 0, 0, (i >> 8) as u8, i as u8]),
            state: LearnState::Reachable,
            garp: false,
            create: true,
        };
        nt.learn(0, &learn);
    }
    let probe = IpAddr::V4(Ipv4Addr::from(0x0a00_0000 + 777));
    let pkt: &'static [u8] = &[0u8; 64];
    g.bench_function("neigh_lookup_1000", |b| b.iter(|| nt.lookup(2, black_box(probe))));
    g.bench_function("neigh_resolve_reachable_1000", |b| {
        b.iter(|| nt.resolve(1, 2, black_box(probe), None, pkt))
    });
    g.finish();
}

criterion_group!(group, benches);
criterion_main!(group);
