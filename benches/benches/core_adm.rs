//! Criterion benchmarks for lvs-core's ipvsadm layer and rate estimator (see BENCHMARKS.md):
//! parsing a 1000-rule restore stream, printing it with -S and -Ln --stats, and one estimator
//! tick.
#![allow(missing_docs)]

use std::hint::black_box;
use std::time::Instant;

use criterion::{Criterion, criterion_group, criterion_main};
use lvs_core::estimator::Estimator;
use lvs_core::ipvsadm::{ListOptions, ListSnapshot, Stats, list, parse_restore, save};
use lvs_core::service::IpvsConfig;

/// 100 services with 9 real servers each: 1000 rules.
fn rules() -> String {
    let mut s = String::new();
    for i in 0..100u32 {
        let vip = format!("10.{}.{}.1:80", i / 256, i % 256);
        s.push_str(&format!("-A -t {vip} -s wrr -p 300\n"));
        for j in 0..9u32 {
            s.push_str(&format!(
                "-a -t {vip} -r 172.16.{i}.{}:8080 -m -w {}\n",
                j + 2,
                j + 1
            ));
        }
    }
    s
}

fn benches(c: &mut Criterion) {
    let text = rules();
    c.bench_function("core_adm/parse_restore_1000_rules", |b| {
        b.iter(|| parse_restore(black_box(&text)).map(|v| v.len()))
    });
    let mut cfg = IpvsConfig::new();
    for cmd in parse_restore(&text).unwrap_or_default() {
        let _ = cfg.apply(&cmd);
    }
    c.bench_function("core_adm/save_1000_rules", |b| {
        b.iter(|| save(black_box(&cfg.services)).len())
    });
    let snap = ListSnapshot::from_config(&cfg);
    let opts = ListOptions {
        numeric: true,
        stats: true,
        ..Default::default()
    };
    c.bench_function("core_adm/list_stats_1000_rules", |b| {
        b.iter(|| list(black_box(&snap), &opts).map(|s| s.len()))
    });
    let mut e = Estimator::new(Instant::now(), &Stats::default());
    let mut n = 0u64;
    c.bench_function("core_adm/estimator_tick", |b| {
        b.iter(|| {
            n += 1000;
            e.tick(black_box(&Stats {
                conns: n,
                inpkts: n,
                outpkts: n,
                inbytes: n * 1500,
                outbytes: n * 64,
            }));
            e.rates()
        })
    });
}

criterion_group!(group, benches);
criterion_main!(group);
