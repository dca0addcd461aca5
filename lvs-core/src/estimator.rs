//! The kernel's rate estimator (net/netfilter/ipvs/ip_vs_est.c), driven by `now`.
//!
//! Every 2 seconds, for each counter of a service or real server, the kernel takes the
//! growth since the last tick and folds it into an exponentially weighted moving average
//! with weight W = 2^-2:
//!
//! ```text
//! cps/inpps/outpps:  rate = delta << 9    (per second, scaled by 2^10: << 10, then / 2 s)
//!                    avg += (rate - avg) >> 2      (signed 64-bit, arithmetic shift)
//! inbps/outbps:      rate = delta << 4    (per second, scaled by 2^5)
//!                    avg += (rate - avg) >> 2
//! read-out:          cps = (avg + 0x1FF) >> 10,  bps = (avg + 0xF) >> 5
//! ```
//!
//! ([`Estimator::tick`] is one such step, [`Estimator::rates`] the read-out of
//! `ip_vs_read_estimator()`, [`Estimator::zero`] is `ip_vs_zero_estimator()`.)
//!
//! Time: [`Estimator::update`] runs every tick whose 2-second deadline is at or before
//! `now`. Ticks stay on the grid started by [`Estimator::new`] (deadline n = start + 2n s).
//! When the caller is late and several deadlines passed, the first overdue tick sees the
//! whole counter growth and each further missed tick sees none (the averages decay by 1/4
//! per tick), i.e. what the kernel's timer would have computed had it fired on time and the
//! traffic all arrived before the first missed deadline. A long gap therefore ends with
//! rates decayed toward zero, not stuck at their old value. (The Linux 6.2+ estimator kthread,
//! `ip_vs_estimation_kthread()`, likewise runs overdue ticks back to back.) At most [`MAX_CATCH_UP`] ticks
//! are computed per call: after that many all averages are zero anyway.

use std::time::{Duration, Instant};

use crate::ipvsadm::{Rates, Stats};

/// The estimation period: 2 seconds (`mod_timer(..., jiffies + 2*HZ)`).
pub const INTERVAL: Duration = Duration::from_secs(2);

/// Largest number of ticks computed by one [`Estimator::update`]: each missed tick
/// multiplies the averages by about 3/4, so 256 ticks bring any 64-bit average to zero.
pub const MAX_CATCH_UP: u32 = 256;

/// The scaled averages and the counters seen at the last tick (`struct ip_vs_estimator`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Estimator {
    last: Stats,
    /// cps, inpps, outpps scaled by 2^10; inbps, outbps scaled by 2^5.
    avg: [u64; 5],
    next: Instant,
}

/// One EWMA step: `avg += ((s64)rate - (s64)avg) >> 2` on wrapping 64-bit values.
fn ewma(avg: u64, rate: u64) -> u64 {
    let diff = (rate as i64).wrapping_sub(avg as i64) >> 2;
    avg.wrapping_add(diff as u64)
}

impl Estimator {
    /// Start estimating at `now` from the current counter values (`ip_vs_start_estimator()`
    /// with `last_*` = the counters); the first tick is due at `now + 2 s`.
    pub fn new(now: Instant, current: &Stats) -> Self {
        Estimator {
            last: *current,
            avg: [0; 5],
            next: now.checked_add(INTERVAL).unwrap_or(now),
        }
    }

    /// When the next tick is due (for the caller's `poll_timeout`).
    pub fn next_tick(&self) -> Instant {
        self.next
    }

    /// One 2-second estimation step over the counters `current` (ip_vs_est.c
    /// `ip_vs_chain_estimation()` / the old `estimation_timer()` body). Counters that went
    /// backwards wrap as the kernel's unsigned arithmetic does.
    pub fn tick(&mut self, current: &Stats) {
        let l = &self.last;
        let counts = [
            (current.conns.wrapping_sub(l.conns)) << 9,
            (current.inpkts.wrapping_sub(l.inpkts)) << 9,
            (current.outpkts.wrapping_sub(l.outpkts)) << 9,
            (current.inbytes.wrapping_sub(l.inbytes)) << 4,
            (current.outbytes.wrapping_sub(l.outbytes)) << 4,
        ];
        for (a, r) in self.avg.iter_mut().zip(counts) {
            *a = ewma(*a, r);
        }
        self.last = *current;
    }

    /// Run the ticks due at `now` (see the module docs for late calls) and return how many
    /// ran. Calls before the next deadline do nothing.
    pub fn update(&mut self, now: Instant, current: &Stats) -> u32 {
        let mut ran = 0;
        while now >= self.next {
            if ran < MAX_CATCH_UP && (ran == 0 || self.avg != [0; 5]) {
                self.tick(current);
                ran += 1;
                match self.next.checked_add(INTERVAL) {
                    Some(n) => self.next = n,
                    None => break,
                }
                continue;
            }
            // The remaining missed ticks see no growth and zero averages (after
            // MAX_CATCH_UP ticks of decay every average is zero): skip to the first
            // deadline after `now`, staying on the 2-second grid.
            self.avg = [0; 5];
            let behind = now.saturating_duration_since(self.next).as_secs() / INTERVAL.as_secs();
            let jump = behind
                .checked_add(1)
                .and_then(|n| n.checked_mul(INTERVAL.as_secs()))
                .map(Duration::from_secs);
            self.next = jump
                .and_then(|d| self.next.checked_add(d))
                .or_else(|| now.checked_add(INTERVAL))
                .unwrap_or(now);
            break;
        }
        ran
    }

    /// The current rates (`ip_vs_read_estimator()`): cps, inpps, outpps =
    /// `(avg + 0x1FF) >> 10`; inbps, outbps = `(avg + 0xF) >> 5`.
    pub fn rates(&self) -> Rates {
        let [c, ip, op, ib, ob] = self.avg;
        let pps = |a: u64| a.wrapping_add(0x1FF) >> 10;
        let bps = |a: u64| a.wrapping_add(0xF) >> 5;
        Rates {
            cps: pps(c),
            inpps: pps(ip),
            outpps: pps(op),
            inbps: bps(ib),
            outbps: bps(ob),
        }
    }

    /// `ipvsadm -Z` (`ip_vs_zero_estimator()`): averages to zero, `last` = the counters now.
    pub fn zero(&mut self, current: &Stats) {
        self.last = *current;
        self.avg = [0; 5];
    }

    /// The scaled averages (cps, inpps, outpps in 2^-10 units; inbps, outbps in 2^-5 units).
    pub fn scaled(&self) -> [u64; 5] {
        self.avg
    }
}
