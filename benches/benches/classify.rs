//! Criterion benchmarks for frame classification (lvs-core step 2).
#![allow(missing_docs)]

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use std::hint::black_box;

fn tcp_syn_v4() -> Vec<u8> {
    let b = etherparse::PacketBuilder::ethernet2([2, 0, 0, 0, 0, 1], [2, 0, 0, 0, 0, 2])
        .ipv4([10, 0, 0, 2], [207, 175, 44, 110], 64)
        .tcp(40000, 8080, 1, 65535)
        .syn();
    let mut out = Vec::new();
    b.write(&mut out, &[0u8; 10]).expect("builds");
    out
}

fn benches(c: &mut Criterion) {
    let frame = tcp_syn_v4();
    let mut g = c.benchmark_group("classify");
    g.throughput(Throughput::Elements(1));
    g.bench_function("tcp_v4_64B", |b| {
        b.iter(|| lvs_core::classify(black_box(&frame)))
    });
    g.finish();
}

criterion_group!(group, benches);
criterion_main!(group);
