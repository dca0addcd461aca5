//! Maglev consistent hashing (Eisenbud et al., NSDI 2016, section 3.4) exactly as the
//! kernel's mh scheduler builds it (net/netfilter/ipvs/ip_vs_mh.c), usable directly by
//! embedders.
//!
//! Deterministic across processes and releases: the only hash is the kernel's SipHash-1-3
//! with fixed keys ([`crate::hash::mh_hashkey`]), never std's randomly keyed hasher, so two
//! directors built from the same server list produce identical tables.

use std::net::IpAddr;

use crate::error::MaglevError;
use crate::hash::{MH_KEY1, MH_KEY2, mh_hashkey};

/// A Maglev table size M: a prime, 3 ..= [`MaglevSize::MAX`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct MaglevSize(u32);

fn is_prime(m: u32) -> bool {
    if m < 2 {
        return false;
    }
    let mut d = 2u32;
    while (d as u64) * (d as u64) <= m as u64 {
        if m.is_multiple_of(d) {
            return false;
        }
        d += 1;
    }
    true
}

impl MaglevSize {
    /// The kernel's choices (`primes[]` in ip_vs_mh.c), selected by
    /// `CONFIG_IP_VS_MH_TAB_INDEX` 8 ..= 17.
    pub const KERNEL: [MaglevSize; 10] = [
        MaglevSize(251),
        MaglevSize(509),
        MaglevSize(1021),
        MaglevSize(2039),
        MaglevSize(4093),
        MaglevSize(8191),
        MaglevSize(16381),
        MaglevSize(32749),
        MaglevSize(65521),
        MaglevSize(131071),
    ];
    /// The kernel default, 4093 (`CONFIG_IP_VS_MH_TAB_INDEX` = 12).
    pub const DEFAULT: MaglevSize = MaglevSize(4093);
    /// 65537, the Maglev paper's small table.
    pub const M65537: MaglevSize = MaglevSize(65537);
    /// 655373, the Maglev paper's large table.
    pub const M655373: MaglevSize = MaglevSize(655_373);
    /// Largest accepted size (the largest prime below 2^24).
    pub const MAX: u32 = 16_777_213;

    /// Checks that `m` is a prime in 3 ..= [`MaglevSize::MAX`]; else
    /// [`MaglevError::NotPrime`].
    pub fn new(m: u32) -> Result<Self, MaglevError> {
        if (3..=Self::MAX).contains(&m) && is_prime(m) {
            Ok(MaglevSize(m))
        } else {
            Err(MaglevError::NotPrime(m))
        }
    }

    /// M.
    pub fn get(self) -> u32 {
        self.0
    }

    /// `IP_VS_MH_TAB_BITS` = `CONFIG_IP_VS_MH_TAB_INDEX / 2`, where the kernel's index is
    /// the bit length of M (251 -> 8 -> 4, 4093 -> 12 -> 6, 131071 -> 17 -> 8); for other
    /// primes the same rule: `(ilog2(M) + 1) / 2` (65537 -> 8, 655373 -> 10). Weights are
    /// shifted right until max_weight / gcd fits in this many bits.
    pub fn tab_bits(self) -> u32 {
        self.0.ilog2().div_ceil(2)
    }
}

impl Default for MaglevSize {
    fn default() -> Self {
        Self::DEFAULT
    }
}

/// One backend of a Maglev table: its address and port (hashed for its permutation) and
/// its weight (0 = no slots).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct MaglevServer {
    /// Real server IP.
    pub addr: IpAddr,
    /// Real server port, host byte order (the kernel hashes `dest->port`).
    pub port: u16,
    /// Weight; the mh scheduler passes `last_weight`.
    pub weight: u32,
}

/// A built Maglev lookup table: slot -> index of the server in the slice given to
/// [`Maglev::build`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Maglev {
    size: MaglevSize,
    /// `u64::MAX / M + 1`, for the division-free `x % M` (Lemire, Kaser, Kurz 2019,
    /// "Faster remainder by direct computation"; exact for every u32 x and u32 M).
    fastmod: u64,
    slots: Vec<u32>,
}

#[inline(always)]
fn fastmod_c(m: u32) -> u64 {
    (u64::MAX / m as u64).wrapping_add(1)
}

/// `x % m` given `c = fastmod_c(m)`.
#[inline(always)]
fn fastmod(x: u32, m: u32, c: u64) -> u32 {
    let low = c.wrapping_mul(x as u64);
    ((low as u128 * m as u128) >> 64) as u32
}

/// Marks an empty slot in [`Maglev::slots`] (only when no server has a weight > 0).
pub const EMPTY_SLOT: u32 = u32::MAX;

fn gcd(mut a: u64, mut b: u64) -> u64 {
    while b != 0 {
        let t = a % b;
        a = b;
        b = t;
    }
    a
}

/// `fls()`: 1-based index of the highest set bit, 0 for 0.
fn fls(x: u64) -> u32 {
    64 - x.leading_zeros()
}

impl Maglev {
    /// Builds the table the way `ip_vs_mh_reassign()` does:
    /// - g = gcd of the weights > 0; if none, every slot is empty;
    /// - rshift = max(0, fls(max_weight / g) - [`MaglevSize::tab_bits`]);
    /// - per server, in slice order: offset = hsiphash(addr, port, key1) % M,
    ///   skip = hsiphash(addr, port, key2) % (M - 1) + 1,
    ///   turns = (weight / g) >> rshift, or 1 if that is 0 and weight != 0;
    /// - fill: round after round, each server with turns >= 1 takes `turns` slots in a row,
    ///   each the next free slot of its permutation offset, offset + skip, ... (mod M), until
    ///   all M slots are taken.
    ///
    /// Errors: [`MaglevError::TooManyServers`] when there are more servers than slots.
    /// Cost: O(M log M) probes plus O(N) hashes; 1000 servers at M = 65537 is in
    /// BENCHMARKS.md.
    pub fn build(servers: &[MaglevServer], size: MaglevSize) -> Result<Self, MaglevError> {
        let m = size.get();
        if servers.len() > m as usize {
            return Err(MaglevError::TooManyServers {
                servers: servers.len(),
                table_size: m,
            });
        }
        let mut slots = vec![EMPTY_SLOT; m as usize];
        let g = servers
            .iter()
            .map(|s| s.weight as u64)
            .filter(|w| *w > 0)
            .fold(0, gcd);
        if g == 0 {
            return Ok(Maglev {
                size,
                fastmod: fastmod_c(m),
                slots,
            });
        }
        let maxw = servers.iter().map(|s| s.weight as u64).max().unwrap_or(0);
        let rshift = fls(maxw / g).saturating_sub(size.tab_bits());
        // (perm, skip, turns) per server, in order.
        let mut setup: Vec<(u32, u32, u64)> = servers
            .iter()
            .map(|s| {
                let offset = mh_hashkey(s.addr, s.port, &MH_KEY1, 0) % m;
                let skip = mh_hashkey(s.addr, s.port, &MH_KEY2, 0) % (m - 1) + 1;
                let w = s.weight as u64;
                let t = (w / g) >> rshift;
                let turns = if t > 0 { t } else { u64::from(w != 0) };
                (offset, skip, turns)
            })
            .collect();
        let mut taken = vec![0u64; (m as usize).div_ceil(64)];
        let is_taken = |t: &[u64], c: u32| {
            t.get(c as usize / 64)
                .is_some_and(|w| w >> (c % 64) & 1 == 1)
        };
        let mut n = 0u32;
        'fill: loop {
            for (i, (perm, skip, turns)) in setup.iter_mut().enumerate() {
                for _ in 0..*turns {
                    let mut c = *perm;
                    while is_taken(&taken, c) {
                        *perm += *skip;
                        if *perm >= m {
                            *perm -= m;
                        }
                        c = *perm;
                    }
                    if let Some(w) = taken.get_mut(c as usize / 64) {
                        *w |= 1 << (c % 64);
                    }
                    if let Some(s) = slots.get_mut(c as usize) {
                        *s = i as u32;
                    }
                    n += 1;
                    if n == m {
                        break 'fill;
                    }
                }
            }
        }
        Ok(Maglev {
            size,
            fastmod: fastmod_c(m),
            slots,
        })
    }

    /// A table with every slot empty.
    pub(crate) fn empty(size: MaglevSize) -> Self {
        Maglev {
            size,
            fastmod: fastmod_c(size.get()),
            slots: vec![EMPTY_SLOT; size.get() as usize],
        }
    }

    /// `hash % M`, without a division.
    #[inline]
    pub fn slot_of(&self, hash: u32) -> u32 {
        fastmod(hash, self.size.get(), self.fastmod)
    }

    /// The server index in slot `slot` (already reduced mod M), or `None` for an empty slot
    /// or a slot >= M.
    #[inline]
    pub fn slot(&self, slot: u32) -> Option<u32> {
        match self.slots.get(slot as usize) {
            Some(&s) if s != EMPTY_SLOT => Some(s),
            _ => None,
        }
    }

    /// The server index in slot `hash % M`, or `None` for an empty slot.
    #[inline]
    pub fn lookup(&self, hash: u32) -> Option<u32> {
        match self.slots.get(self.slot_of(hash) as usize) {
            Some(&s) if s != EMPTY_SLOT => Some(s),
            _ => None,
        }
    }

    /// The kernel's lookup of a client: slot `hsiphash(port + ntohl(addr_fold), key1) % M`
    /// (`ip_vs_mh_get()`); `port` is 0 unless the service has the mh-port flag.
    #[inline]
    pub fn lookup_addr(&self, addr: IpAddr, port: u16) -> Option<u32> {
        self.lookup(mh_hashkey(addr, port, &MH_KEY1, 0))
    }

    /// The table size M.
    pub fn size(&self) -> MaglevSize {
        self.size
    }

    /// All M slots (server index, or [`EMPTY_SLOT`]).
    pub fn slots(&self) -> &[u32] {
        &self.slots
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fastmod_equals_the_remainder() {
        for m in [
            3u32,
            251,
            4093,
            65521,
            65537,
            131071,
            655_373,
            MaglevSize::MAX,
        ] {
            let c = fastmod_c(m);
            for x in [
                0u32,
                1,
                m - 1,
                m,
                m + 1,
                0x8000_0000,
                u32::MAX,
                u32::MAX - 1,
                0xDEAD_BEEF,
            ] {
                assert_eq!(fastmod(x, m, c), x % m, "{x} % {m}");
            }
            let mut x = 0x1234_5678u32;
            for _ in 0..10_000 {
                x = x.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
                assert_eq!(fastmod(x, m, c), x % m, "{x} % {m}");
            }
        }
    }
}
