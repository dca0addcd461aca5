//! The Maglev table against a naive transcription of ip_vs_mh.c (permutate + populate),
//! written separately here with the siphasher crate, plus the consistency properties.

mod common;

use std::hash::Hasher;
use std::net::IpAddr;

use common::*;
use lvs_sched::{DestId, DestParams, Maglev, MaglevServer, MaglevSize, SchedConfig, SchedulerKind};
use siphasher::sip::SipHasher13;

fn hsip(v: u32, k: u64) -> u32 {
    let mut h = SipHasher13::new_with_keys(k, k);
    h.write(&v.to_le_bytes());
    h.finish() as u32
}

fn fold(a: IpAddr) -> u32 {
    match a {
        IpAddr::V4(a) => u32::from_be_bytes(a.octets()),
        IpAddr::V6(a) => {
            let o = a.octets();
            (0..4).fold(0, |x, i| {
                x ^ u32::from_be_bytes(o[i * 4..i * 4 + 4].try_into().unwrap())
            })
        }
    }
}

/// ip_vs_mh.c, literally: gcd of last_weights > 0, rshift = fls(max/gcd) - TAB_BITS,
/// offset/skip from hsiphash with keys 2654435761 and 2654446892, turns, then the fill loop
/// with dt_count.
fn naive(servers: &[(IpAddr, u16, i32)], m: usize, tab_bits: i32) -> Vec<i64> {
    let gcd = |mut a: i32, mut b: i32| {
        while b != 0 {
            (a, b) = (b, a % b);
        }
        a
    };
    let mut g = 0;
    for s in servers {
        if s.2 > 0 {
            g = if g > 0 { gcd(s.2, g) } else { s.2 };
        }
    }
    let mut lookup = vec![-1i64; m];
    if g < 1 {
        return lookup;
    }
    let maxw = servers.iter().map(|s| s.2).max().unwrap();
    let mw = maxw / g;
    let fls = 32 - (mw as u32).leading_zeros() as i32;
    let rshift = (fls - tab_bits).max(0);
    struct Ds {
        skip: usize,
        perm: usize,
        turns: i32,
    }
    let mut ds: Vec<Ds> = servers
        .iter()
        .map(|(a, p, lw)| {
            let v = (*p as u32).wrapping_add(fold(*a));
            let offset = hsip(v, 2654435761) as usize % m;
            let skip = hsip(v, 2654446892) as usize % (m - 1) + 1;
            let t = (lw / g) >> rshift;
            Ds {
                skip,
                perm: offset,
                turns: if t != 0 { t } else { (*lw != 0) as i32 },
            }
        })
        .collect();
    let mut table = vec![false; m];
    let mut n = 0;
    let mut dt_count = 0;
    'out: while n < m {
        let mut i = 0;
        while i < ds.len() {
            if ds[i].turns < 1 {
                i += 1;
                continue;
            }
            let mut c = ds[i].perm;
            while table[c] {
                ds[i].perm += ds[i].skip;
                if ds[i].perm >= m {
                    ds[i].perm -= m;
                }
                c = ds[i].perm;
            }
            table[c] = true;
            lookup[c] = i as i64;
            n += 1;
            if n == m {
                break 'out;
            }
            dt_count += 1;
            if dt_count >= ds[i].turns {
                dt_count = 0;
                i += 1;
            }
        }
    }
    lookup
}

fn ours(servers: &[(IpAddr, u16, i32)], size: MaglevSize) -> Vec<i64> {
    let s: Vec<MaglevServer> = servers
        .iter()
        .map(|(a, p, w)| MaglevServer {
            addr: *a,
            port: *p,
            weight: *w as u32,
        })
        .collect();
    Maglev::build(&s, size)
        .unwrap()
        .slots()
        .iter()
        .map(|x| if *x == u32::MAX { -1 } else { *x as i64 })
        .collect()
}

#[test]
fn table_equals_naive_transcription_of_ip_vs_mh() {
    let v6: IpAddr = "2001:db8::10".parse().unwrap();
    let cases: Vec<Vec<(IpAddr, u16, i32)>> = vec![
        vec![(rip(1), 80, 1), (rip(2), 80, 1), (rip(3), 80, 1)],
        vec![
            (rip(1), 80, 4),
            (rip(2), 8080, 3),
            (rip(3), 80, 2),
            (rip(4), 80, 0),
        ],
        // Large weights force rshift > 0 (fls(1000) = 10 > 6 at M = 4093).
        vec![
            (rip(1), 80, 1000),
            (rip(2), 80, 10),
            (rip(3), 80, 1),
            (v6, 443, 333),
        ],
        vec![(rip(9), 0, 0)],
        (1..=40).map(|i| (rip(i), 80, (i % 7) as i32)).collect(),
    ];
    for size in [
        MaglevSize::KERNEL[0],
        MaglevSize::DEFAULT,
        MaglevSize::M65537,
    ] {
        for c in &cases {
            assert_eq!(
                ours(c, size),
                naive(c, size.get() as usize, size.tab_bits() as i32),
                "M={}",
                size.get()
            );
        }
    }
}

#[test]
fn sizes_and_tab_bits_follow_the_kernel_config_index() {
    // CONFIG_IP_VS_MH_TAB_INDEX 8..=17 -> primes[index - 8], TAB_BITS = index / 2.
    for (k, size) in MaglevSize::KERNEL.iter().enumerate() {
        assert_eq!(size.tab_bits(), (k as u32 + 8) / 2, "M={}", size.get());
    }
    assert_eq!(MaglevSize::new(65537).unwrap(), MaglevSize::M65537);
    assert_eq!(MaglevSize::new(655373).unwrap(), MaglevSize::M655373);
    assert!(MaglevSize::new(65536).is_err());
    assert!(MaglevSize::new(1).is_err());
}

#[test]
fn two_builds_from_the_same_list_are_identical() {
    let s: Vec<MaglevServer> = (0..50)
        .map(|i| MaglevServer {
            addr: rip(i),
            port: 80,
            weight: 1 + i % 3,
        })
        .collect();
    let a = Maglev::build(&s, MaglevSize::M65537).unwrap();
    let b = Maglev::build(&s, MaglevSize::M65537).unwrap();
    assert_eq!(a, b);
}

#[test]
fn slot_shares_follow_weights_within_one_percent_when_m_exceeds_100n() {
    // Maglev paper: M > 100 * N keeps imbalance <= 1%. The table is deterministic, so the
    // slot share of each server is checked exactly: |slots - M * w / sum(w)| <= 1% of that.
    let configs = [
        (10u32, MaglevSize::DEFAULT, true),
        (10, MaglevSize::DEFAULT, false),
        (100, MaglevSize::M65537, false),
        (100, MaglevSize::M65537, true),
    ];
    for (n, m, weighted) in configs {
        let s: Vec<MaglevServer> = (0..n)
            .map(|i| MaglevServer {
                addr: rip(i),
                port: 80,
                weight: if weighted { 1 + i % 10 } else { 1 },
            })
            .collect();
        let t = Maglev::build(&s, m).unwrap();
        let mut slots = vec![0u64; n as usize];
        for x in t.slots() {
            slots[*x as usize] += 1;
        }
        let tw: u32 = s.iter().map(|x| x.weight).sum();
        for (i, srv) in s.iter().enumerate() {
            let want = m.get() as f64 * srv.weight as f64 / tw as f64;
            let dev = (slots[i] as f64 - want).abs() / want;
            assert!(
                dev <= 0.01,
                "n={n} M={} server {i}: {} slots vs {want:.1}",
                m.get(),
                slots[i]
            );
        }
    }
}

#[test]
fn decision_shares_over_a_million_clients_follow_weights() {
    // 10^6 decisions through the mh scheduler, N = 10, weights 1..=10, M = 4093 > 100 * N.
    // Each share must be within 1% (relative) of w / sum(w), plus 4 standard deviations of
    // the sampling noise sqrt(p (1 - p) / 10^6).
    let weights: Vec<i32> = (1..=10).collect();
    let mut s = sched_in_list_order(SchedulerKind::Mh, SchedConfig::default(), &weights);
    let n = 1_000_000u32;
    let mut count = [0u64; 11];
    for k in 0..n {
        let src = IpAddr::V4((0x0B00_0000 + k).into());
        count[s.schedule(&pkt(src, 1), T0).unwrap().0 as usize] += 1;
    }
    let tw: i32 = weights.iter().sum();
    for (i, w) in weights.iter().enumerate() {
        let p = *w as f64 / tw as f64;
        let got = count[i + 1] as f64 / n as f64;
        let tol = 0.01 * p + 4.0 * (p * (1.0 - p) / n as f64).sqrt();
        assert!(
            (got - p).abs() <= tol,
            "server {}: share {got:.5} vs {p:.5}",
            i + 1
        );
    }
}

#[test]
fn removing_one_of_100_servers_moves_few_keys_off_survivors() {
    // Disruption: M = 65537 (> 100 * N), N = 100, remove server 37. Count slots whose owner
    // was a surviving server and changed. Goal: <= 1.2 / N of all keys.
    let all: Vec<MaglevServer> = (0..100)
        .map(|i| MaglevServer {
            addr: rip(i),
            port: 80,
            weight: 1,
        })
        .collect();
    let before = Maglev::build(&all, MaglevSize::M65537).unwrap();
    let survivors: Vec<MaglevServer> = all.iter().copied().filter(|s| s.addr != rip(37)).collect();
    let after = Maglev::build(&survivors, MaglevSize::M65537).unwrap();
    let mut moved = 0u64;
    for (b, a) in before.slots().iter().zip(after.slots()) {
        if *b == 37 {
            continue; // the removed server's keys must move
        }
        let before_addr = all[*b as usize].addr;
        let after_addr = survivors[*a as usize].addr;
        if before_addr != after_addr {
            moved += 1;
        }
    }
    let frac = moved as f64 / 65537.0;
    eprintln!(
        "mh disruption, N=100, M=65537: {:.4}% of keys moved off surviving servers",
        frac * 100.0
    );
    assert!(frac <= 1.2 / 100.0, "fraction moved off survivors {frac}");
}

#[test]
fn quiesced_server_keeps_its_slots_and_is_rejected() {
    // ip_vs_ctl.c keeps last_weight on an edit to 0, so the mh table does not change.
    let mut s = sched_in_list_order(SchedulerKind::Mh, SchedConfig::default(), &[1, 1, 1]);
    let clients: Vec<_> = (0..300u32)
        .map(|c| pkt(v4(198, 51, (c >> 8) as u8, c as u8), 1))
        .collect();
    let first: Vec<_> = clients.iter().map(|p| s.schedule(p, T0).unwrap()).collect();
    s.edit_dest(DestId(2), DestParams::weight(0)).unwrap();
    for (p, f) in clients.iter().zip(&first) {
        let now = s.schedule(p, T0);
        if *f == DestId(2) {
            assert!(now.is_err());
        } else {
            assert_eq!(now, Ok(*f));
        }
    }
    // With mh-fallback the rejected keys go elsewhere; the others stay.
    s.set_flags(lvs_sched::SchedFlags(lvs_sched::SchedFlags::MH_FALLBACK));
    for (p, f) in clients.iter().zip(&first) {
        let now = s.schedule(p, T0).unwrap();
        if *f == DestId(2) {
            assert_ne!(now, DestId(2));
        } else {
            assert_eq!(now, *f);
        }
    }
}
