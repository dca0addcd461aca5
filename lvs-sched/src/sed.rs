//! sed: shortest expected delay (net/netfilter/ipvs/ip_vs_sed.c).
//!
//! Rule: as wlc with overhead = activeconns + 1 (inactive connections ignored): the first real
//! server in list order among those (OVERLOAD clear, weight > 0) with the minimum
//! (activeconns + 1) / weight.

use crate::dest::Dest;

/// `ip_vs_sed_dest_overhead()`: activeconns + 1.
pub(crate) fn overhead(d: &Dest) -> u64 {
    d.activeconns as u64 + 1
}

/// May sed pick `d`?
pub(crate) fn eligible(d: &Dest) -> bool {
    !d.overloaded() && d.weight > 0
}

#[cfg(test)]
/// `a` strictly better than `b`.
pub(crate) fn better(a: &Dest, b: &Dest) -> bool {
    (overhead(a) as u128) * (b.w() as u128) < (overhead(b) as u128) * (a.w() as u128)
}

/// The kernel's O(N) scan, transcribed.
pub(crate) fn scan(dests: &[Dest]) -> Option<usize> {
    let first = dests.iter().position(eligible)?;
    let mut least = first;
    let mut loh = overhead(&dests[first]) as u128;
    for (i, d) in dests.iter().enumerate().skip(first + 1) {
        if d.overloaded() {
            continue;
        }
        let doh = overhead(d) as u128;
        if loh * d.w() as u128 > doh * dests[least].w() as u128 {
            least = i;
            loh = doh;
        }
    }
    Some(least)
}
