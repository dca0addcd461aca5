//! nq: never queue (net/netfilter/ipvs/ip_vs_nq.c).
//!
//! Rule: skip OVERLOAD and weight 0; the first real server in list order with
//! activeconns == 0 wins at once; otherwise the sed choice (minimum (activeconns + 1) /
//! weight, first in list order on ties).

use crate::dest::Dest;
use crate::sed;

/// May nq pick `d`?
pub(crate) fn eligible(d: &Dest) -> bool {
    !d.overloaded() && d.weight != 0
}

#[cfg(test)]
/// `a` strictly better than `b`: idle beats busy; two idle ones tie (list order decides);
/// two busy ones compare as sed.
pub(crate) fn better(a: &Dest, b: &Dest) -> bool {
    match (a.activeconns == 0, b.activeconns == 0) {
        (true, false) => true,
        (false, false) => sed::better(a, b),
        _ => false,
    }
}

/// The kernel's O(N) scan, transcribed.
pub(crate) fn scan(dests: &[Dest]) -> Option<usize> {
    let mut least: Option<(usize, u128)> = None;
    for (i, d) in dests.iter().enumerate() {
        if d.overloaded() || d.weight == 0 {
            continue;
        }
        let doh = sed::overhead(d) as u128;
        if d.activeconns == 0 {
            return Some(i);
        }
        let replace = match least {
            None => true,
            Some((l, loh)) => loh * d.w() as u128 > doh * dests[l].w() as u128,
        };
        if replace {
            least = Some((i, doh));
        }
    }
    least.map(|(i, _)| i)
}
