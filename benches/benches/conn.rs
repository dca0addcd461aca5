//! lvs-conn benchmarks: lookup at 10k / 1M IPv4 entries, insert at 1M, bytes per entry,
//! expiring 1M entries, and one vs two threads on a sharded table.
//!
//! Run: `cargo bench -p lvs-benches --bench conn`. The memory figure is printed to stdout
//! ("lvs-conn memory: ...") when the bench starts.

/// jemalloc with transparent huge pages (see .cargo/config.toml): the table's slab and
/// index on 2 MiB pages, as a deployment would run it.
#[global_allocator]
static ALLOC: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

use std::hint::black_box;
use std::net::{IpAddr, Ipv4Addr};
use std::sync::Arc;
use std::time::{Duration, Instant};

use criterion::{
    BenchmarkId, Criterion, SamplingMode, Throughput, criterion_group, criterion_main,
};
use lvs_conn::proto::{ipproto, tcp_flags};
use lvs_conn::{
    ConnConfig, ConnParams, ConnTable, DestId, Direction, FwdMethod, InKey, L4Info, ShardConfig,
    ShardedConnTable,
};

const VIP: Ipv4Addr = Ipv4Addr::new(207, 175, 44, 110);

/// Flow `n`: client 10.x.y.z (n / 4096 spread over addresses), port from n.
fn flow(n: u32) -> ConnParams {
    ConnParams {
        protocol: ipproto::TCP,
        caddr: IpAddr::V4(Ipv4Addr::from_bits(0x0a00_0000 | (n >> 4))),
        cport: 1024 + (n & 0xf) as u16 * 3000 + (n >> 28) as u16,
        vaddr: IpAddr::V4(VIP),
        vport: 80,
        daddr: IpAddr::V4(Ipv4Addr::new(172, 16, 0, 2 + (n % 8) as u8)),
        dport: 80,
        fwd: FwdMethod::Masq,
        dest: Some(DestId(n % 8)),
        local: None,
    }
}

fn build(n: u32, t0: Instant) -> ConnTable {
    let cfg = ConnConfig {
        max_entries: 4 << 20,
        max_bytes: 2 << 30,
        ..ConnConfig::default()
    };
    let mut t = ConnTable::new(cfg, t0);
    for i in 0..n {
        let id = t.insert(&flow(i), None, t0).expect("insert");
        t.on_packet(
            id,
            Direction::Input,
            L4Info::Tcp {
                flags: tcp_flags::SYN,
            },
            60,
            t0,
        )
        .expect("packet");
    }
    t
}

/// Pseudo-random permutation-ish walk over 0..n.
fn walk(i: u64, n: u32) -> u32 {
    ((i.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 20) % u64::from(n)) as u32
}

fn bench_lookup(c: &mut Criterion) {
    let t0 = Instant::now();
    let mut g = c.benchmark_group("conn_lookup_ipv4");
    for &n in &[10_000u32, 1_000_000] {
        let t = build(n, t0);
        let keys: Vec<ConnParams> = (0..4096u64).map(|i| flow(walk(i, n))).collect();
        let mut k = 0usize;
        g.throughput(Throughput::Elements(1));
        if n == 1_000_000 {
            // Batches of 16 (lookup_in_batch overlaps the cache misses); per element.
            let batch: Vec<InKey> = keys
                .iter()
                .map(|p| InKey {
                    protocol: p.protocol,
                    caddr: p.caddr,
                    cport: p.cport,
                    vaddr: p.vaddr,
                    vport: p.vport,
                })
                .collect();
            let mut out = [None; 16];
            let mut j = 0usize;
            g.throughput(Throughput::Elements(16));
            g.bench_function("batch16_1000000", |b| {
                b.iter(|| {
                    j = (j + 16) & 4095;
                    t.lookup_in_batch(&batch[j..j + 16], &mut out);
                    black_box(out[0])
                })
            });
            g.throughput(Throughput::Elements(1));
        }
        g.bench_function(BenchmarkId::from_parameter(n), |b| {
            b.iter(|| {
                k = (k + 1) & 4095;
                let p = &keys[k];
                black_box(t.lookup_in(ipproto::TCP, p.caddr, p.cport, p.vaddr, p.vport))
            })
        });
        if n == 1_000_000 {
            // The 4096 keys above stay in cache after the first pass; here every lookup is
            // of a flow picked at random from all 1M, so index slot and entry come from
            // memory (the "cold" cost).
            let all: Vec<(IpAddr, u16)> = (0..u64::from(n))
                .map(|i| {
                    let p = flow(walk(i, n));
                    (p.caddr, p.cport)
                })
                .collect();
            let mut c = 0usize;
            g.bench_function("cold_1000000", |b| {
                b.iter(|| {
                    c += 1;
                    if c == all.len() {
                        c = 0;
                    }
                    let (ca, cp) = all[c];
                    black_box(t.lookup_in(ipproto::TCP, ca, cp, IpAddr::V4(VIP), 80))
                })
            });
        }
    }
    g.finish();
}

fn bench_insert(c: &mut Criterion) {
    let t0 = Instant::now();
    let n = 1_000_000u32;
    let mut t = build(n, t0);
    // Inserts are timed in chunks of at most CHUNK, each chunk removed again (untimed), so
    // the table stays between 1M and 1M + CHUNK entries; the room for them is reserved up
    // front (as a director sized for its load would), so no sample pays for a slab
    // reallocation or an index rehash.
    const CHUNK: u64 = 8192;
    t.reserve(CHUNK as usize, 0).expect("reserve");
    let mut next = n;
    let mut g = c.benchmark_group("conn_insert_ipv4");
    g.throughput(Throughput::Elements(1));
    g.bench_function("at_1M", |b| {
        b.iter_custom(|iters| {
            let mut el = Duration::ZERO;
            let mut left = iters;
            while left > 0 {
                let k = left.min(CHUNK);
                left -= k;
                let start = next;
                let began = Instant::now();
                for _ in 0..k {
                    let id = t.insert(&flow(next), None, t0).expect("insert");
                    black_box(id);
                    next = next.wrapping_add(1);
                }
                el += began.elapsed();
                for i in start..next {
                    let p = flow(i);
                    if let Some(id) = t.lookup_in(ipproto::TCP, p.caddr, p.cport, p.vaddr, 80) {
                        let _ = t.expire_now(id, t0);
                    }
                }
            }
            el
        })
    });
    g.finish();
}

fn bench_expire(c: &mut Criterion) {
    let t0 = Instant::now();
    let mut g = c.benchmark_group("conn_expire");
    g.sample_size(10);
    g.sampling_mode(SamplingMode::Flat);
    g.bench_function("expire_1M", |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            let mut out = Vec::with_capacity(1_000_000);
            for _ in 0..iters {
                let mut t = build(1_000_000, t0);
                out.clear();
                let began = Instant::now();
                let n = t.handle_timeout(t0 + Duration::from_secs(3600), &mut out);
                total += began.elapsed();
                assert_eq!(n, 1_000_000);
            }
            total
        })
    });
    g.finish();
}

fn sharded(t0: Instant) -> Arc<ShardedConnTable> {
    let cfg = ConnConfig {
        max_entries: 4 << 20,
        max_bytes: 2 << 30,
        ..ConnConfig::default()
    };
    let table = ShardedConnTable::new(
        cfg,
        ShardConfig {
            shards: 16,
            ..ShardConfig::default()
        },
        t0,
    );
    for i in 0..200_000u32 {
        let p = flow(i);
        table
            .lock_client(p.caddr)
            .insert(&p, None, t0)
            .expect("insert");
    }
    Arc::new(table)
}

/// Keys of worker `w` of `threads`: flows whose client maps to a shard `s` with
/// `s % threads == w`, as a director steering each client to one core (RSS) would give
/// them, so the workers share no shard lock: `lookups` existing flows, `inserts` new ones.
fn worker_keys(
    table: &ShardedConnTable,
    w: u32,
    threads: u32,
    lookups: usize,
    inserts: usize,
) -> (Vec<ConnParams>, Vec<ConnParams>) {
    let mine = |p: &ConnParams| table.shard_of_client(p.caddr) % threads as usize == w as usize;
    let look: Vec<ConnParams> = (0..)
        .map(|i: u64| flow(walk(i ^ u64::from(w) << 40, 200_000)))
        .filter(mine)
        .take(lookups)
        .collect();
    let ins: Vec<ConnParams> = (0x1000_0000u32..)
        .map(flow)
        .filter(mine)
        .take(inserts)
        .collect();
    (look, ins)
}

/// One worker: 4 lookups of existing flows per insert of a new one (the new one is
/// removed again 64 inserts later).
fn mixed(table: &ShardedConnTable, look: &[ConnParams], ins: &[ConnParams], t0: Instant) {
    let mut ring = [None; 64];
    let mut li = look.iter().cycle();
    for (j, p) in ins.iter().enumerate() {
        for _ in 0..4 {
            if let Some(q) = li.next() {
                let g = table.lock_client(q.caddr);
                black_box(g.lookup_in(ipproto::TCP, q.caddr, q.cport, q.vaddr, 80));
            }
        }
        let slot = j % 64;
        if let Some((old, shard)) = ring[slot].take() {
            let _ = table.lock(shard).expire_now(old, t0);
        }
        let shard = table.shard_of_client(p.caddr);
        if let Ok(id) = table.lock(shard).insert(p, None, t0) {
            ring[slot] = Some((id, shard));
        }
    }
    for (id, shard) in ring.into_iter().flatten() {
        let _ = table.lock(shard).expire_now(id, t0);
    }
}

fn bench_threads(c: &mut Criterion) {
    let t0 = Instant::now();
    let table = sharded(t0);
    let mut g = c.benchmark_group("conn_mixed_sharded");
    const OPS: u64 = 200_000;
    g.throughput(Throughput::Elements(OPS));
    g.sample_size(20);
    for threads in [1u32, 2] {
        let per = (OPS / u64::from(threads)) as usize;
        let keys: Vec<(Vec<ConnParams>, Vec<ConnParams>)> = (0..threads)
            .map(|w| worker_keys(&table, w, threads, 4096, per / 5))
            .collect();
        g.bench_function(BenchmarkId::new("threads", threads), |b| {
            b.iter_custom(|iters| {
                let began = Instant::now();
                for _ in 0..iters {
                    std::thread::scope(|s| {
                        for (look, ins) in &keys {
                            let table = &table;
                            s.spawn(move || mixed(table, look, ins, t0));
                        }
                    });
                }
                began.elapsed()
            })
        });
    }
    g.finish();
}

fn print_memory() {
    let t0 = Instant::now();
    let n = 1_000_000u32;
    let t = build(n, t0);
    let bytes = t.memory_bytes();
    println!(
        "lvs-conn memory: {} IPv4 entries, {} bytes allocated (slab + index capacity), {:.1} B/entry",
        t.len(),
        bytes,
        bytes as f64 / f64::from(n)
    );
}

fn benches(c: &mut Criterion) {
    print_memory();
    bench_lookup(c);
    bench_insert(c);
    bench_expire(c);
    bench_threads(c);
}

criterion_group!(conn, benches);
criterion_main!(conn);
