//! Criterion benchmarks for lvs-sched (see BENCHMARKS.md for the figures and goals).
//!
//! - `decision_64/*`: one `schedule()` for rr, wrr, dh, sh, mh over 64 real servers, clients
//!   cycling through 4096 source addresses (hashing schedulers hash a different key each
//!   time).
//! - `decision_1024/*`: wlc, lc, sed, nq over 1024 real servers: `schedule()` alone, and
//!   `schedule()` + `bind_conn` + `unbind_conn` of the connection made 4096 decisions earlier
//!   (a steady load; each decision then pays two O(log N) index updates).
//! - `mh_build/*`: Maglev table build, M = 65537 with 1000 servers (ours), and ours vs the
//!   `maglev` crate 0.2 at M = 65537 with 100 servers (the crate keeps a full N x M
//!   permutation matrix, 0.5 GB at 1000 servers, so the comparison uses 100).
//! - `mh_lookup/*`: hash a client address and read its slot, ours vs the `maglev` crate.
#![allow(missing_docs)]

use std::hint::black_box;
use std::net::{IpAddr, Ipv4Addr};
use std::time::Duration;

use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
use lvs_sched::{
    ConnClass, DestId, DestParams, Maglev, MaglevServer, MaglevSize, PacketInfo, SchedConfig,
    Scheduler, SchedulerKind,
};
use maglev::ConsistentHasher;

fn rip(i: u32) -> IpAddr {
    IpAddr::V4(Ipv4Addr::from(0x0A00_0000 + i))
}

fn service(kind: SchedulerKind, n: u32) -> Scheduler {
    let mut s = Scheduler::new(kind, SchedConfig::default(), Duration::ZERO);
    for i in 0..n {
        s.add_dest(
            DestId(i),
            rip(i),
            80,
            DestParams::weight(1 + (i % 5) as i32),
        )
        .unwrap();
    }
    s
}

fn clients() -> Vec<PacketInfo> {
    let vip = IpAddr::V4(Ipv4Addr::new(192, 0, 2, 100));
    (0..4096u32)
        .map(|k| {
            let cip = IpAddr::V4(Ipv4Addr::from(
                0xC633_0000u32.wrapping_add(k.wrapping_mul(7919)),
            ));
            PacketInfo::new(cip, 1024 + (k % 60000) as u16, vip, 80)
        })
        .collect()
}

fn decisions(c: &mut Criterion) {
    let pkts = clients();
    let now = Duration::ZERO;
    let mut g = c.benchmark_group("decision_64");
    g.throughput(Throughput::Elements(1));
    for kind in [
        SchedulerKind::Rr,
        SchedulerKind::Wrr,
        SchedulerKind::Dh,
        SchedulerKind::Sh,
        SchedulerKind::Mh,
    ] {
        let mut s = service(kind, 64);
        let mut k = 0usize;
        g.bench_function(kind.name(), |b| {
            b.iter(|| {
                k = (k + 1) & 4095;
                black_box(s.schedule(black_box(&pkts[k]), now))
            })
        });
    }
    g.finish();

    let mut g = c.benchmark_group("decision_1024");
    g.throughput(Throughput::Elements(1));
    for kind in [
        SchedulerKind::Wlc,
        SchedulerKind::Lc,
        SchedulerKind::Sed,
        SchedulerKind::Nq,
    ] {
        let mut s = service(kind, 1024);
        g.bench_function(format!("{}_schedule_only", kind.name()), |b| {
            b.iter(|| black_box(s.schedule(black_box(&pkts[0]), now)))
        });
        let mut s = service(kind, 1024);
        let mut ring = vec![None::<DestId>; 4096];
        let mut k = 0usize;
        g.bench_function(format!("{}_schedule_bind_unbind", kind.name()), |b| {
            b.iter(|| {
                k = (k + 1) & 4095;
                let d = s.schedule(black_box(&pkts[k]), now).unwrap();
                s.bind_conn(d, ConnClass::Active).unwrap();
                if let Some(old) = ring[k].replace(d) {
                    s.unbind_conn(old, ConnClass::Active).unwrap();
                }
                d
            })
        });
    }
    g.finish();
}

fn servers(n: u32) -> Vec<MaglevServer> {
    (0..n)
        .map(|i| MaglevServer {
            addr: rip(i),
            port: 80,
            weight: 1,
        })
        .collect()
}

fn mh(c: &mut Criterion) {
    let mut g = c.benchmark_group("mh_build");
    g.sample_size(10);
    let s1000 = servers(1000);
    g.bench_function("ours_M65537_N1000", |b| {
        b.iter(|| Maglev::build(black_box(&s1000), MaglevSize::M65537).unwrap())
    });
    let s100 = servers(100);
    g.bench_function("ours_M65537_N100", |b| {
        b.iter(|| Maglev::build(black_box(&s100), MaglevSize::M65537).unwrap())
    });
    let names: Vec<String> = (0..100).map(|i| format!("10.0.0.{i}:80")).collect();
    g.bench_function("maglev_crate_M65537_N100", |b| {
        b.iter_batched(
            || names.clone(),
            |n| maglev::Maglev::with_capacity(n, 65537),
            BatchSize::LargeInput,
        )
    });
    g.finish();

    let mut g = c.benchmark_group("mh_lookup");
    g.throughput(Throughput::Elements(1));
    let ours = Maglev::build(&s100, MaglevSize::M65537).unwrap();
    let theirs = maglev::Maglev::with_capacity(names.clone(), 65537);
    let cips: Vec<IpAddr> = clients().iter().map(|p| p.saddr).collect();
    let mut k = 0usize;
    g.bench_function("ours_M65537", |b| {
        b.iter(|| {
            k = (k + 1) & 4095;
            black_box(ours.lookup_addr(black_box(cips[k]), 0))
        })
    });
    g.bench_function("maglev_crate_M65537", |b| {
        b.iter(|| {
            k = (k + 1) & 4095;
            black_box(theirs.get(black_box(&cips[k])))
        })
    });
    g.finish();
}

criterion_group!(group, decisions, mh);
criterion_main!(group);
