//! twos: weighted power of two choices (net/netfilter/ipvs/ip_vs_twos.c).
//!
//! Rule: total = sum of the weights of real servers with OVERLOAD clear and weight > 0,
//! plus 1; draw r1 then r2 = random u32 % total; walk the list subtracting each eligible
//! weight from both; the first real server that drives r1 to <= 0 is choice 1, likewise for
//! r2; return choice 2 when weight2 * overhead1 > weight1 * overhead2, else choice 1. The
//! random u32s come from the caller-seeded stream ([`crate::SchedConfig::seed`]). Sums and
//! products are exact (i64 / u128) where the kernel's `int` could wrap.

use crate::dest::Dest;
use crate::rng::SplitMix64;

fn eligible(d: &Dest) -> bool {
    !d.overloaded() && d.weight > 0
}

pub(crate) fn schedule(dests: &[Dest], rng: &mut SplitMix64) -> Option<usize> {
    let total: u64 = dests.iter().filter(|d| eligible(d)).map(|d| d.w()).sum();
    if total == 0 {
        return None;
    }
    let total = total + 1;
    let mut r1 = (rng.next_u32() as u64 % total) as i64;
    let mut r2 = (rng.next_u32() as u64 % total) as i64;
    let mut c1: Option<usize> = None;
    let mut c2: Option<usize> = None;
    for (i, d) in dests.iter().enumerate() {
        if !eligible(d) {
            continue;
        }
        r1 -= d.w() as i64;
        r2 -= d.w() as i64;
        if r1 <= 0 && c1.is_none() {
            c1 = Some(i);
        }
        if r2 <= 0 && c2.is_none() {
            c2 = Some(i);
        }
        if c1.is_some() && c2.is_some() {
            break;
        }
    }
    let (i1, i2) = (c1?, c2?);
    let (d1, d2) = (dests.get(i1)?, dests.get(i2)?);
    if (d2.w() as u128) * (d1.overhead() as u128) > (d1.w() as u128) * (d2.overhead() as u128) {
        Some(i2)
    } else {
        Some(i1)
    }
}
