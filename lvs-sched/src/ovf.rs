//! ovf: weighted overflow (net/netfilter/ipvs/ip_vs_ovf.c).
//!
//! Rule: among real servers with OVERLOAD clear, weight != 0 and activeconns <= weight, the
//! highest weight; strict `>`, so the first in list order wins ties.

use crate::dest::Dest;

/// May ovf pick `d`?
pub(crate) fn eligible(d: &Dest) -> bool {
    !d.overloaded() && d.weight != 0 && (d.activeconns as u64) <= d.w()
}

#[cfg(test)]
/// `a` strictly better than `b`: higher weight.
pub(crate) fn better(a: &Dest, b: &Dest) -> bool {
    a.weight > b.weight
}

/// The kernel's O(N) scan, transcribed.
pub(crate) fn scan(dests: &[Dest]) -> Option<usize> {
    let mut h: Option<usize> = None;
    let mut hw = 0;
    for (i, d) in dests.iter().enumerate() {
        let w = d.weight;
        if d.overloaded() || (d.activeconns as i64) > w as i64 || w == 0 {
            continue;
        }
        if h.is_none() || w > hw {
            h = Some(i);
            hw = w;
        }
    }
    h
}
