//! wrr: weighted round robin (net/netfilter/ipvs/ip_vs_wrr.c).
//!
//! State: `di` = gcd of the weights > 0 (1 if none), `mw` = max weight - (di - 1), `cw` the
//! current weight, `cl` the last position. A decision walks on from `cl` and takes the next
//! real server with OVERLOAD clear and weight >= cw; at the end of the list cw -= di, and
//! when cw <= 0 it restarts at mw. The kernel's "last pass" logic stops the walk once every
//! real server was checked against cw = 1, so an all-OVERLOAD list returns no server.
//! On add, remove and edit: `cl` returns to the head, di and mw are recomputed, and cw is
//! reset to mw if above it (or 0), else rounded to `(cw / di) * di + 1` when di > 1.
//! Weights 4, 3, 2 for A, B, C (list order) give A A B A B C A B C.

use crate::dest::Dest;

fn gcd(mut a: u64, mut b: u64) -> u64 {
    while b != 0 {
        let t = a % b;
        a = b;
        b = t;
    }
    a
}

/// `struct ip_vs_wrr_mark`.
#[derive(Debug, Clone, Default)]
pub(crate) struct WrrState {
    cl: Option<usize>,
    cw: i64,
    mw: i64,
    di: i64,
}

impl WrrState {
    pub(crate) fn new(dests: &[Dest]) -> Self {
        let mut s = WrrState::default();
        s.recompute(dests);
        s.cw = s.mw;
        s
    }

    fn recompute(&mut self, dests: &[Dest]) {
        self.cl = None;
        let g = dests.iter().map(|d| d.w()).filter(|w| *w > 0).fold(0, gcd);
        self.di = if g == 0 { 1 } else { g as i64 };
        let max = dests.iter().map(|d| d.w()).max().unwrap_or(0) as i64;
        self.mw = max - (self.di - 1);
    }

    /// `ip_vs_wrr_dest_changed()`: add, remove or edit of any real server.
    pub(crate) fn dest_changed(&mut self, dests: &[Dest]) {
        self.recompute(dests);
        if self.cw > self.mw || self.cw == 0 {
            self.cw = self.mw;
        } else if self.di > 1 {
            self.cw = (self.cw / self.di) * self.di + 1;
        }
    }

    pub(crate) fn schedule(&mut self, dests: &[Dest]) -> Option<usize> {
        let mut dest = self.cl;
        if self.mw == 0 {
            return None;
        }
        let last = dest;
        let mut stop: Option<usize> = None;
        let mut last_pass = false;
        let mut restarted = false;
        loop {
            let start = dest.map_or(0, |p| p + 1);
            for (i, d) in dests.iter().enumerate().skip(start) {
                if !d.overloaded() && d.weight as i64 >= self.cw {
                    self.cl = Some(i);
                    return Some(i);
                }
                if stop == Some(i) {
                    self.cl = Some(i);
                    return None;
                }
            }
            dest = None;
            self.cw -= self.di;
            if self.cw <= 0 {
                self.cw = self.mw;
                if last_pass || last.is_none() {
                    self.cl = None;
                    return None;
                }
                restarted = true;
            }
            last_pass = self.cw <= self.di;
            if last_pass && restarted && last.is_some() {
                stop = last;
            }
        }
    }
}
