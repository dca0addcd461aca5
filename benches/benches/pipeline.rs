//! lvs-core director pipeline benchmarks (frames prepared in memory, single thread unless
//! stated):
//! - `dr_established_1m`: an established DR flow picked at random among 1M tracked
//!   connections (ACK, lookup + state + counters + TTL), per packet; `_batch32` the same
//!   through `process_batch` 32 frames at a time;
//! - `new_tcp_dr`: SYN -> wlc -> insert -> DR for ever new clients, with time advancing so
//!   the table holds ~1M embryonic entries that expire (expiry cost included);
//! - `nat_both_directions`: established NAT flows among 256K, client packet then reply;
//! - the `_batch32` forms: the same frames through `process_batch`, 32 per call;
//! - `dr_hot64_of_1m_batch32`: the batch DR path over 64 of the 1M flows (cache-resident:
//!   the per-packet compute without DRAM misses);
//! - `workers`: one vs two threads, each with its own Director and 512K DR flows;
//! - `udp_3_fragments_nat`: a 3000-byte UDP datagram in three IPv4 fragments to a NAT
//!   service, established flow: two held, the third completes, the datagram is written whole
//!   into its buffer and rewritten (per datagram, fragment copies into the buffer included).
//!
//! Run: `cargo bench -p lvs-benches --bench pipeline -- --warm-up-time 1 --measurement-time 3`.

use std::hint::black_box;
use std::net::Ipv4Addr;
use std::time::{Duration, Instant};

/// jemalloc with transparent huge pages (see .cargo/config.toml).
#[global_allocator]
static ALLOC: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use etherparse::PacketBuilder;
use lvs_core::{Director, DirectorConfig, PacketMeta, Verdict};

/// Bytes of one stored frame slot (a 54-byte TCP frame + payload fits).
const SLOT: usize = 64;
/// Packets per measured iteration.
const BATCH: usize = 1024;
const HEAD: usize = 64;

fn client(n: u32) -> (Ipv4Addr, u16) {
    (
        Ipv4Addr::from_bits(0x0a00_0000 | (n >> 6)),
        1024 + (n & 0x3f) as u16 * 997,
    )
}

fn frame(src: (Ipv4Addr, u16), dst: (Ipv4Addr, u16), syn: bool, ack: bool) -> [u8; SLOT] {
    let mut b = PacketBuilder::ethernet2([2, 0, 0, 0, 0, 1], [2, 0, 0, 0, 0, 2])
        .ipv4(src.0.octets(), dst.0.octets(), 64)
        .tcp(src.1, dst.1, 1, 64240);
    if syn {
        b = b.syn();
    }
    if ack {
        b = b.ack(1);
    }
    let mut v = Vec::with_capacity(SLOT);
    b.write(&mut v, &[0u8; 4]).expect("frame");
    let mut out = [0u8; SLOT];
    out[..v.len()].copy_from_slice(&v);
    out
}

const FRAME_LEN: usize = 14 + 20 + 20 + 4;

fn director(rules: &[String], entries: u32, now: Instant) -> Director {
    let cfg = DirectorConfig {
        conn: lvs_conn::ConnConfig {
            max_entries: entries,
            max_bytes: 2 << 30,
            ..lvs_conn::ConnConfig::default()
        },
        ..DirectorConfig::default()
    };
    let mut d = Director::new(cfg, now);
    for r in rules {
        d.apply_line(r, now).expect("rule");
    }
    d
}

fn rules(method: &str) -> Vec<String> {
    let mut r = vec!["-A -t 192.168.56.200:80 -s wlc".to_string()];
    for i in 1..=8 {
        r.push(format!(
            "-a -t 192.168.56.200:80 -r 172.16.0.{i}:80 {method} -w {i}"
        ));
    }
    r
}

const VIP: (Ipv4Addr, u16) = (Ipv4Addr::new(192, 168, 56, 200), 80);

/// Process one stored frame through a scratch buffer (the frame is copied in first so the
/// TTL never runs out).
#[inline]
fn one(
    d: &mut Director,
    buf: &mut [u8; HEAD + SLOT + 64],
    f: &[u8; SLOT],
    now: Instant,
) -> Verdict {
    buf[HEAD..HEAD + SLOT].copy_from_slice(f);
    d.process(buf, HEAD, FRAME_LEN, &PacketMeta::default(), now)
}

/// The ACK frame of established flow `i`, made by patching the client address and port
/// into a template in the scratch buffer (as a frame fresh from the NIC, it is in cache; the
/// IP and TCP checksums are left stale, which the director does not check), then processed.
#[inline]
fn ack_of(
    d: &mut Director,
    buf: &mut [u8; HEAD + SLOT + 64],
    tmpl: &[u8; SLOT],
    i: usize,
    now: Instant,
) -> Verdict {
    let (a, p) = client(i as u32);
    buf[HEAD..HEAD + SLOT].copy_from_slice(tmpl);
    buf[HEAD + 26..HEAD + 30].copy_from_slice(&a.octets());
    buf[HEAD + 34..HEAD + 36].copy_from_slice(&p.to_be_bytes());
    d.process(buf, HEAD, FRAME_LEN, &PacketMeta::default(), now)
}

/// Process `frames` (each copied into its scratch buffer first) through `process_batch` in
/// one call; returns how many were transmitted.
fn batch(
    d: &mut Director,
    bufs: &mut [[u8; HEAD + SLOT + 64]; 32],
    frames: &[[u8; SLOT]; 32],
    now: Instant,
    verdicts: &mut [Verdict; 32],
) -> usize {
    for (b, f) in bufs.iter_mut().zip(frames) {
        b[HEAD..HEAD + SLOT].copy_from_slice(f);
    }
    let mut refs: [&mut [u8]; 32] = {
        let mut it = bufs.iter_mut();
        std::array::from_fn(|_| it.next().map_or(&mut [][..], |b| &mut b[..]))
    };
    let ranges = [(HEAD, FRAME_LEN); 32];
    let meta = [PacketMeta::default(); 32];
    d.process_batch(&mut refs, &ranges, &meta, now, verdicts);
    verdicts
        .iter()
        .filter(|v| matches!(v, Verdict::Transmit { .. }))
        .count()
}

/// A director with `n` established flows and their ACK frames.
fn established(method: &str, n: u32, now: Instant) -> (Director, Vec<[u8; SLOT]>) {
    let mut d = director(&rules(method), n + (n >> 1), now);
    let mut buf = [0u8; HEAD + SLOT + 64];
    let mut acks = Vec::with_capacity(n as usize);
    for i in 0..n {
        let c = client(i);
        let v = one(&mut d, &mut buf, &frame(c, VIP, true, false), now);
        assert!(matches!(v, Verdict::Transmit { .. }), "{v:?}");
        let a = frame(c, VIP, false, true);
        let _ = one(&mut d, &mut buf, &a, now);
        acks.push(a);
    }
    (d, acks)
}

/// Random walk over indices (a multiplicative sequence), so lookups miss the caches.
struct Walk {
    i: u64,
    n: u64,
}

impl Walk {
    fn next(&mut self) -> usize {
        self.i = (self.i + 0x9e37_79b9_7f4a_7c15 % self.n) % self.n;
        self.i as usize
    }
}

/// Turn each ACK frame of `frames` into the ACK of the walk's next flow (client address and
/// port patched in).
fn next_acks(frames: &mut [[u8; SLOT]; 32], w: &mut Walk) {
    for f in frames.iter_mut() {
        let (a, p) = client(w.next() as u32);
        f[26..30].copy_from_slice(&a.octets());
        f[34..36].copy_from_slice(&p.to_be_bytes());
    }
}

fn bench_dr_established(c: &mut Criterion) {
    let now = Instant::now();
    let (mut d, acks) = established("-g", 1 << 20, now);
    let mut buf = [0u8; HEAD + SLOT + 64];
    let mut w = Walk {
        i: 0,
        n: acks.len() as u64,
    };
    let tmpl = acks[0];
    for i in 0..1000 {
        let v = ack_of(&mut d, &mut buf, &tmpl, i, now);
        assert!(matches!(v, Verdict::Transmit { .. }), "{v:?}");
    }
    let mut g = c.benchmark_group("pipeline");
    g.throughput(Throughput::Elements(BATCH as u64));
    g.bench_function("dr_established_1m", |b| {
        b.iter(|| {
            for _ in 0..BATCH {
                let _ = black_box(ack_of(&mut d, &mut buf, &tmpl, w.next(), now));
            }
        })
    });
    // The batch form (process_batch, 32 frames per call: their lookups overlap), same
    // flows and walk. `last` is what the last measured batch transmitted (all 32).
    let mut bufs = [[0u8; HEAD + SLOT + 64]; 32];
    let mut frames = [tmpl; 32];
    let mut verdicts = [Verdict::Local; 32];
    let mut last = 32;
    g.bench_function("dr_established_1m_batch32", |b| {
        b.iter(|| {
            for _ in 0..BATCH / 32 {
                next_acks(&mut frames, &mut w);
                last = black_box(batch(&mut d, &mut bufs, &frames, now, &mut verdicts));
            }
        })
    });
    assert_eq!(last, 32, "{verdicts:?}");
    // The compute floor: the same table and batch path, but only 64 of the 1M flows, so
    // their buckets and entries stay in the caches (what is left is parse, state, counters,
    // rewrite and the walk's instructions).
    let mut hot = Walk { i: 0, n: 64 };
    g.bench_function("dr_hot64_of_1m_batch32", |b| {
        b.iter(|| {
            for _ in 0..BATCH / 32 {
                next_acks(&mut frames, &mut hot);
                last = black_box(batch(&mut d, &mut bufs, &frames, now, &mut verdicts));
            }
        })
    });
    assert_eq!(last, 32, "{verdicts:?}");
    g.finish();
}

fn bench_new_conns(c: &mut Criterion) {
    let t0 = Instant::now();
    let mut d = director(&rules("-g"), 3 << 20, t0);
    let mut buf = [0u8; HEAD + SLOT + 64];
    // 60 us per SYN: SYN_RECV lives 60 s, so ~1M entries stay in the table.
    let step = Duration::from_micros(60);
    let mut now = t0;
    let mut n: u32 = 0;
    let mut syns: Vec<[u8; SLOT]> = Vec::with_capacity(1 << 16);
    for i in 0..(1u32 << 16) {
        // Distinct client addresses; the port is patched per packet below.
        syns.push(frame(
            (Ipv4Addr::from_bits(0x0a00_0000 | i), 1024),
            VIP,
            true,
            false,
        ));
    }
    let mut g = c.benchmark_group("pipeline");
    g.throughput(Throughput::Elements(BATCH as u64));
    g.bench_function("new_tcp_dr", |b| {
        b.iter(|| {
            for _ in 0..BATCH {
                // A new flow each time: 64K client addresses x a port that moves on every
                // 64K packets (the TCP checksum is left stale: the director does not verify
                // it).
                let mut f = syns[(n & 0xffff) as usize];
                let port = 1024 + (n >> 16) as u16;
                f[34..36].copy_from_slice(&port.to_be_bytes());
                n = n.wrapping_add(1);
                now += step;
                let _ = black_box(one(&mut d, &mut buf, &f, now));
            }
            d.handle_timeout(now);
        })
    });
    // The batch form: 32 SYNs per process_batch call (their lookups overlap).
    let mut bufs = [[0u8; HEAD + SLOT + 64]; 32];
    let mut frames = [[0u8; SLOT]; 32];
    let mut verdicts = [Verdict::Local; 32];
    let mut last = 32;
    g.bench_function("new_tcp_dr_batch32", |b| {
        b.iter(|| {
            for _ in 0..BATCH / 32 {
                for f in frames.iter_mut() {
                    *f = syns[(n & 0xffff) as usize];
                    let port = 1024 + (n >> 16) as u16;
                    f[34..36].copy_from_slice(&port.to_be_bytes());
                    n = n.wrapping_add(1);
                }
                now += step * 32;
                last = black_box(batch(&mut d, &mut bufs, &frames, now, &mut verdicts));
            }
            d.handle_timeout(now);
        })
    });
    assert_eq!(last, 32, "{verdicts:?}");
    g.finish();
    let f = frame((Ipv4Addr::new(203, 0, 113, 1), 1), VIP, true, false);
    assert!(
        matches!(one(&mut d, &mut buf, &f, now), Verdict::Transmit { .. }),
        "still scheduling"
    );
    eprintln!("new_tcp_dr: {} entries at the end", d.conn_table().len());
}

fn bench_nat(c: &mut Criterion) {
    let now = Instant::now();
    let n = 1u32 << 18;
    let (mut d, acks) = established("-m", n, now);
    // Replies RS -> client: find each flow's real server from the connection table.
    let mut replies = Vec::with_capacity(n as usize);
    let mut by_client = std::collections::HashMap::new();
    for v in d.conn_table().iter() {
        by_client.insert((v.caddr, v.cport), (v.daddr, v.dport));
    }
    for i in 0..n {
        let c = client(i);
        let (rip, rport) = by_client[&(std::net::IpAddr::V4(c.0), c.1)];
        let std::net::IpAddr::V4(rip) = rip else {
            unreachable!()
        };
        replies.push(frame((rip, rport), c, false, true));
    }
    let mut buf = [0u8; HEAD + SLOT + 64];
    let mut w = Walk {
        i: 0,
        n: u64::from(n),
    };
    for i in 0..1000 {
        assert!(matches!(
            one(&mut d, &mut buf, &acks[i], now),
            Verdict::Transmit { .. }
        ));
        assert!(matches!(
            one(&mut d, &mut buf, &replies[i], now),
            Verdict::Transmit { .. }
        ));
    }
    let mut g = c.benchmark_group("pipeline");
    g.throughput(Throughput::Elements(BATCH as u64));
    g.bench_function("nat_both_directions_256k", |b| {
        b.iter(|| {
            for _ in 0..BATCH / 2 {
                let i = w.next();
                let _ = black_box(one(&mut d, &mut buf, &acks[i], now));
                let _ = black_box(one(&mut d, &mut buf, &replies[i], now));
            }
        })
    });
    // The batch form: 16 flows per call, each as client packet then reply.
    let mut bufs = [[0u8; HEAD + SLOT + 64]; 32];
    let mut frames = [[0u8; SLOT]; 32];
    let mut verdicts = [Verdict::Local; 32];
    let mut last = 32;
    g.bench_function("nat_both_directions_256k_batch32", |b| {
        b.iter(|| {
            for _ in 0..BATCH / 32 {
                for pair in frames.chunks_mut(2) {
                    let i = w.next();
                    pair[0] = acks[i];
                    pair[1] = replies[i];
                }
                last = black_box(batch(&mut d, &mut bufs, &frames, now, &mut verdicts));
            }
        })
    });
    assert_eq!(last, 32, "{verdicts:?}");
    g.finish();
}

fn bench_workers(c: &mut Criterion) {
    let now = Instant::now();
    let mut workers: Vec<(Director, Vec<[u8; SLOT]>)> =
        (0..2).map(|_| established("-g", 1 << 19, now)).collect();
    let mut g = c.benchmark_group("pipeline");
    for threads in [1usize, 2] {
        g.throughput(Throughput::Elements((BATCH * threads) as u64));
        g.bench_function(format!("workers_{threads}_dr_512k_each"), |b| {
            b.iter_custom(|iters| {
                std::thread::scope(|s| {
                    let hs: Vec<_> = workers
                        .iter_mut()
                        .take(threads)
                        .map(|(d, acks)| {
                            s.spawn(move || {
                                let mut buf = [0u8; HEAD + SLOT + 64];
                                let mut w = Walk {
                                    i: 7,
                                    n: acks.len() as u64,
                                };
                                let tmpl = acks[0];
                                let t = Instant::now();
                                for _ in 0..iters {
                                    for _ in 0..BATCH {
                                        let _ =
                                            black_box(ack_of(d, &mut buf, &tmpl, w.next(), now));
                                    }
                                }
                                t.elapsed()
                            })
                        })
                        .collect();
                    hs.into_iter()
                        .map(|h| h.join().expect("worker"))
                        .max()
                        .unwrap_or_default()
                })
            })
        });
    }
    g.finish();
}

/// Three IPv4 fragments (RFC 791) of a UDP datagram of `n` payload bytes, cut at 1480-byte
/// multiples.
fn udp_fragments(n: usize) -> Vec<Vec<u8>> {
    let mut whole = Vec::new();
    PacketBuilder::ethernet2([2, 0, 0, 0, 0, 1], [2, 0, 0, 0, 0, 2])
        .ipv4([192, 0, 2, 9], [10, 0, 0, 100], 64)
        .udp(41000, 53)
        .write(&mut whole, &vec![0x5a; n])
        .unwrap();
    let payload = &whole[34..];
    let mut out = Vec::new();
    let mut a = 0;
    while a < payload.len() {
        let b = (a + 1480).min(payload.len());
        let mut f = whole[..34].to_vec();
        f[16..18].copy_from_slice(&((20 + b - a) as u16).to_be_bytes());
        let fo = (a / 8) as u16 | if b < payload.len() { 0x2000 } else { 0 };
        f[20..22].copy_from_slice(&fo.to_be_bytes());
        f[24..26].copy_from_slice(&[0, 0]);
        let c = lvs_fwd::checksum::checksum(&f[14..34]);
        f[24..26].copy_from_slice(&c.to_be_bytes());
        f.extend_from_slice(&payload[a..b]);
        out.push(f);
        a = b;
    }
    out
}

fn bench_fragments(c: &mut Criterion) {
    let now = Instant::now();
    let mut d = Director::new(DirectorConfig::default(), now);
    for r in [
        "-A -u 10.0.0.100:53 -s rr",
        "-a -u 10.0.0.100:53 -r 10.1.0.1:5353 -m",
    ] {
        d.apply_line(r, now).unwrap();
    }
    let frags = udp_fragments(3000);
    assert_eq!(frags.len(), 3);
    let mut buf = vec![0u8; HEAD + 18 + 65535 + 128];
    let meta = PacketMeta::default();
    let run = |d: &mut Director, buf: &mut [u8]| {
        let mut v = Verdict::Local;
        for f in &frags {
            buf[HEAD..HEAD + f.len()].copy_from_slice(f);
            v = d.process(buf, HEAD, f.len(), &meta, now);
        }
        v
    };
    assert!(matches!(run(&mut d, &mut buf), Verdict::Transmit { .. }));
    let mut g = c.benchmark_group("pipeline");
    g.throughput(Throughput::Elements(1));
    g.bench_function("udp_3_fragments_nat", |b| {
        b.iter(|| black_box(run(&mut d, &mut buf)))
    });
    g.finish();
}

criterion_group!(
    benches,
    bench_dr_established,
    bench_new_conns,
    bench_nat,
    bench_workers,
    bench_fragments
);
criterion_main!(benches);
