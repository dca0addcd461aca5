//! fo: weighted failover (net/netfilter/ipvs/ip_vs_fo.c).
//!
//! Rule: the highest weight among real servers with OVERLOAD clear and weight > 0; strict
//! `>`, so the first in list order wins ties. Connection counts are not read.

use crate::dest::Dest;

/// May fo pick `d`?
pub(crate) fn eligible(d: &Dest) -> bool {
    !d.overloaded() && d.weight > 0
}

#[cfg(test)]
/// `a` strictly better than `b`: higher weight.
pub(crate) fn better(a: &Dest, b: &Dest) -> bool {
    a.weight > b.weight
}

/// The kernel's O(N) scan, transcribed.
pub(crate) fn scan(dests: &[Dest]) -> Option<usize> {
    let mut hest = None;
    let mut hw = 0;
    for (i, d) in dests.iter().enumerate() {
        if !d.overloaded() && d.weight > hw {
            hest = Some(i);
            hw = d.weight;
        }
    }
    hest
}
