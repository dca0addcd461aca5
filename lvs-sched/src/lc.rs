//! lc: least connection (net/netfilter/ipvs/ip_vs_lc.c).
//!
//! Rule: skip real servers with OVERLOAD set or weight 0; pick the minimum
//! [`Dest::overhead`] (activeconns * 256 + inactconns); strict `<`, so the first in list order
//! wins ties.

use crate::dest::Dest;

/// May lc pick `d`?
pub(crate) fn eligible(d: &Dest) -> bool {
    !d.overloaded() && d.weight != 0
}

#[cfg(test)]
/// `a` strictly better than `b` for lc.
pub(crate) fn better(a: &Dest, b: &Dest) -> bool {
    a.overhead() < b.overhead()
}

/// The kernel's O(N) scan, transcribed (reference for the indexed version).
pub(crate) fn scan(dests: &[Dest]) -> Option<usize> {
    let mut least: Option<(usize, u64)> = None;
    for (i, d) in dests.iter().enumerate() {
        if d.overloaded() || d.weight == 0 {
            continue;
        }
        let doh = d.overhead();
        if least.is_none_or(|(_, loh)| doh < loh) {
            least = Some((i, doh));
        }
    }
    least.map(|(i, _)| i)
}
