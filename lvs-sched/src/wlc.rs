//! wlc: weighted least connection, ipvsadm's default (net/netfilter/ipvs/ip_vs_wlc.c).
//!
//! Rule: the first real server in list order with OVERLOAD clear and weight > 0 seeds the
//! search; every later one with OVERLOAD clear replaces it when
//! `overhead(least) * weight(d) > overhead(d) * weight(least)` (the kernel compares in s64;
//! we compare in u128, exact for every input). So wlc returns the first real server in list
//! order among those with the minimum overhead / weight.

use crate::dest::Dest;

/// May wlc pick `d`?
pub(crate) fn eligible(d: &Dest) -> bool {
    !d.overloaded() && d.weight > 0
}

#[cfg(test)]
/// `a` strictly better than `b`: overhead(a)/w(a) < overhead(b)/w(b), by cross-multiplication.
pub(crate) fn better(a: &Dest, b: &Dest) -> bool {
    (a.overhead() as u128) * (b.w() as u128) < (b.overhead() as u128) * (a.w() as u128)
}

/// The kernel's O(N) scan, transcribed (reference for the indexed version; also the service
/// fallback of lblc/lblcr, which is the same loop).
pub(crate) fn scan(dests: &[Dest]) -> Option<usize> {
    let first = dests.iter().position(eligible)?;
    let mut least = first;
    let mut loh = dests[first].overhead() as u128;
    for (i, d) in dests.iter().enumerate().skip(first + 1) {
        if d.overloaded() {
            continue;
        }
        let doh = d.overhead() as u128;
        if loh * d.w() as u128 > doh * dests[least].w() as u128 {
            least = i;
            loh = doh;
        }
    }
    Some(least)
}
