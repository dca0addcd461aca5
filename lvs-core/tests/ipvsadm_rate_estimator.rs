//! The rate estimator behind `ipvsadm -L --rate` (net/netfilter/ipvs/ip_vs_est.c), against
//! sequences computed by hand from the kernel's formulas:
//!
//! ```text
//! every 2 s:  rate = delta << 9 (conns, packets) or delta << 4 (bytes)
//!             avg += (rate - avg) >> 2          (signed, arithmetic shift)
//! read-out:   (avg + 0x1FF) >> 10  or  (avg + 0xF) >> 5
//! ```

use std::time::{Duration, Instant};

use lvs_core::estimator::{Estimator, INTERVAL};
use lvs_core::ipvsadm::{Rates, Stats};

fn stats(conns: u64, inbytes: u64) -> Stats {
    Stats {
        conns,
        inpkts: conns * 10,
        outpkts: 0,
        inbytes,
        outbytes: 0,
    }
}

/// 100 new connections and 1000 bytes per 2-second tick.
/// cps:   rate = 100 << 9 = 51200; avg 12800, 22400, 29600, 35000;
///        read (avg + 511) >> 10 = 12, 22, 29, 34 (tends to 50 = 100 conns / 2 s).
/// inbps: rate = 1000 << 4 = 16000; avg 4000, 7000, 9250, 10937;
///        read (avg + 15) >> 5 = 125, 219, 289, 342 (tends to 500 B/s).
/// inpps: 1000 packets per tick: rate 512000; avg 128000, 224000, 296000, 350000;
///        read 125, 219, 289, 342.
#[test]
fn steady_traffic_follows_the_kernel_sequence() {
    let t0 = Instant::now();
    let mut e = Estimator::new(t0, &Stats::default());
    let expect_cps = [12, 22, 29, 34];
    let expect_bps = [125, 219, 289, 342];
    let expect_scaled_cps = [12800, 22400, 29600, 35000];
    for i in 0..4u64 {
        e.tick(&stats(100 * (i + 1), 1000 * (i + 1)));
        let r = e.rates();
        assert_eq!(e.scaled()[0], expect_scaled_cps[i as usize]);
        assert_eq!(r.cps, expect_cps[i as usize], "tick {i}");
        assert_eq!(r.inbps, expect_bps[i as usize], "tick {i}");
        assert_eq!(r.inpps, expect_bps[i as usize], "tick {i}");
        assert_eq!((r.outpps, r.outbps), (0, 0));
    }
}

/// The fixed point: avg stops moving once (R - avg) >> 2 == 0, i.e. avg >= R - 3, so the
/// read-out is exactly the per-second rate.
#[test]
fn steady_traffic_converges_to_the_per_second_rate() {
    let mut e = Estimator::new(Instant::now(), &Stats::default());
    for i in 1..=100u64 {
        e.tick(&stats(100 * i, 1000 * i));
    }
    let r = e.rates();
    assert_eq!(r.cps, 50);
    assert_eq!(r.inpps, 500);
    assert_eq!(r.inbps, 500);
}

/// After traffic stops each tick removes ceil(avg / 4) (arithmetic shift of a negative
/// difference rounds down): 35000 -> 26250 -> 19687 (-6563) ...; small values 13 -> 9 -> 6
/// -> 4 -> 3 -> 2 -> 1 -> 0 reach zero.
#[test]
fn idle_ticks_decay_to_zero() {
    let mut e = Estimator::new(Instant::now(), &Stats::default());
    for i in 1..=4u64 {
        e.tick(&stats(100 * i, 0));
    }
    assert_eq!(e.scaled()[0], 35000);
    e.tick(&stats(400, 0));
    assert_eq!(e.scaled()[0], 26250);
    e.tick(&stats(400, 0));
    assert_eq!(e.scaled()[0], 19687);
    assert_eq!(e.rates().cps, (19687 + 511) >> 10);
    // A small average: one connection per tick for one tick gives 512 >> 2 = 128, then
    // 128 -> 96 -> 72 -> 54 -> 40 (-14: -54 >> 2 = -14) ...
    let mut e = Estimator::new(Instant::now(), &Stats::default());
    e.tick(&stats(1, 0));
    let mut seen = vec![e.scaled()[0]];
    for _ in 0..40 {
        e.tick(&stats(1, 0));
        seen.push(e.scaled()[0]);
    }
    assert_eq!(&seen[..5], &[128, 96, 72, 54, 40]);
    assert_eq!(*seen.last().unwrap(), 0);
}

/// `update(now)` runs the ticks due on the 2-second grid from `new()`.
#[test]
fn update_runs_due_ticks_on_the_grid() {
    let t0 = Instant::now();
    let mut e = Estimator::new(t0, &Stats::default());
    assert_eq!(e.next_tick(), t0 + INTERVAL);
    assert_eq!(
        e.update(t0 + Duration::from_millis(1999), &stats(100, 0)),
        0
    );
    assert_eq!(e.rates(), Rates::default());
    assert_eq!(e.update(t0 + INTERVAL, &stats(100, 0)), 1);
    assert_eq!(e.scaled()[0], 12800);
    assert_eq!(e.next_tick(), t0 + 2 * INTERVAL);
    // Late by three deadlines (4 s, 6 s, 8 s): the first sees all 200 new connections
    // (rate 102400: 12800 + (102400 - 12800) >> 2 = 35200), the next two see none
    // (35200 -> 26400 -> 19800).
    assert_eq!(e.update(t0 + Duration::from_secs(9), &stats(300, 0)), 3);
    assert_eq!(e.scaled()[0], 19800);
    assert_eq!(e.next_tick(), t0 + Duration::from_secs(10));
    // The same as ticking by hand.
    let mut m = Estimator::new(t0, &Stats::default());
    m.tick(&stats(100, 0));
    m.tick(&stats(300, 0));
    m.tick(&stats(300, 0));
    m.tick(&stats(300, 0));
    assert_eq!(m.scaled(), e.scaled());
}

/// A caller that disappears for hours comes back to zero rates, not the old ones, and the
/// next deadline is the first grid point after `now`.
#[test]
fn long_gap_ends_with_zero_rates() {
    let t0 = Instant::now();
    let mut e = Estimator::new(t0, &Stats::default());
    e.update(t0 + INTERVAL, &stats(1_000_000, 1 << 40));
    assert!(e.rates().cps > 0);
    let later = t0 + Duration::from_secs(10_001);
    let ran = e.update(later, &stats(1_000_000, 1 << 40));
    assert!(ran >= 1);
    assert_eq!(e.rates(), Rates::default());
    assert_eq!(e.next_tick(), t0 + Duration::from_secs(10_002));
}

/// `ipvsadm -Z` (ip_vs_zero_estimator()): averages cleared, counters re-based.
#[test]
fn zero_resets_averages_and_baseline() {
    let mut e = Estimator::new(Instant::now(), &Stats::default());
    e.tick(&stats(100, 1000));
    e.zero(&stats(100, 1000));
    assert_eq!(e.scaled(), [0; 5]);
    e.tick(&stats(100, 1000));
    assert_eq!(e.rates(), Rates::default());
}
