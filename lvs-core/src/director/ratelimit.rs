//! Rate limiting of the ICMP / ICMPv6 errors the director host sends, as the Linux stack
//! limits every error `icmp_send` / `icmp6_send` emits (net/ipv4/icmp.c `icmpv4_mask_allow`,
//! `icmpv4_global_allow`, `icmp_global_allow`, `icmp_global_consume`, `icmpv4_xrlim_allow`;
//! net/ipv6/icmp.c `icmpv6_mask_allow`, `icmpv6_global_allow`, `icmpv6_xrlim_allow`;
//! net/ipv4/inetpeer.c `inet_getpeer`, `inet_peer_xrlim_allow`).
//!
//! # Rules (the kernel's order)
//!
//! 1. The type mask. IPv4: a type above 18 (`NR_ICMP_TYPES`), fragmentation needed (type 3
//!    code 4: "Don't limit PMTU discovery") or a type whose bit is clear in `icmp_ratemask`
//!    (default 6168 = 0x1818: destination unreachable 3, source quench 4, time exceeded 11,
//!    parameter problem 12) is sent unlimited: neither the global nor the per-destination
//!    limit applies, and it consumes no credit. IPv6: a type whose bit is clear in
//!    `net.ipv6.icmp.ratemask` (default `0-1,3-127`: packet too big, type 2, is unlimited).
//! 2. The global limit (`icmp_global_allow`, shared by IPv4 and IPv6 as the kernel's per
//!    network namespace credit is): allowed while the credit is above 0; at 0 or below, at
//!    least 20 ms (`HZ / 50`) after the last refill, the credit grows by
//!    `icmp_msgs_per_sec * elapsed / 1 s` (elapsed capped at 1 s) up to `icmp_msgs_burst` and
//!    the message is allowed (even when the new credit is still not above 0); else refused.
//! 3. The per-destination token bucket (`inet_peer_xrlim_allow`, keyed by the error's
//!    destination address): tokens in milliseconds grow with the time since the last check,
//!    capped at `XRLIM_BURST_FACTOR` (6) times the timeout; a message costs one timeout. A new
//!    destination starts as if last checked 60 s ago (`inet_getpeer`), so with the default
//!    1000 ms it gets a burst of 6, then one per second. A timeout of 0 never refuses. IPv6
//!    divides the timeout by 2^((128 - plen) / 32) for the prefix length `plen` of the route
//!    toward the destination (see [`super::DirectorConfig::icmpv6_route_plen`]).
//! 4. Only an error the per-destination bucket allowed consumes global credit: 0, 1 or 2
//!    (uniformly random, `get_random_u32_below(3)`: one on average, randomized against the
//!    side channel of CVE-2024-47678 / commit "icmp: change the order of rate limits"). The
//!    random stream is the director's, seeded from [`super::DirectorConfig::seed`].
//!
//! Time is `now` in whole milliseconds since the director was made (the kernel's jiffies at
//! `HZ = 1000`); a `now` earlier than the last check counts as no time passing. The global
//! bucket starts full (the kernel's first call sees more than a
//! second since its zero stamp).
//!
//! # Memory
//!
//! The per-destination state is bounded: [`super::DirectorConfig::icmp_peer_max`] slots (40
//! bytes each, allocated at the first limited error, never per packet) in a seeded
//! set-associative table of 4-slot buckets (the layout of the PMTU table). A destination not
//! in its bucket takes a free slot, else the slot checked least recently. Evicting a
//! destination gives it a fresh burst when it comes back, which is what the kernel does when
//! its `inet_peer` garbage collection (`inet_peer_gc`, entries idle beyond a TTL that drops to
//! 0 once `inet_peer_threshold` entries exist) freed its entry; with no slots at all
//! (capacity 0) every destination is treated as new, as the kernel treats a failed
//! `inet_getpeer` allocation (no peer: allowed).

use std::net::IpAddr;

use super::pmtu::Buckets;

/// `XRLIM_BURST_FACTOR` (net/ipv4/inetpeer.c): a destination's bucket holds this many
/// timeouts of tokens.
pub const XRLIM_BURST_FACTOR: u64 = 6;

/// `NR_ICMP_TYPES` (include/uapi/linux/icmp.h): IPv4 types above it are never limited.
const NR_ICMP_TYPES: u8 = 18;

/// The "60 s ago" a new `inet_peer` was last checked at (`p->rate_last = jiffies - 60*HZ`), ms.
const NEW_PEER_AGE_MS: u64 = 60_000;

/// `icmp_ratemask` default: 6168 (0x1818), types 3, 4, 11 and 12.
pub const ICMP_RATEMASK_DEFAULT: u32 = 0x1818;

/// `net.ipv6.icmp.ratemask` default, `0-1,3-127`, as 256 bits (bit `t % 64` of word `t / 64`
/// is ICMPv6 type `t`): every error type but packet too big (2), and no informational type.
pub const ICMPV6_RATEMASK_DEFAULT: [u64; 4] = [!0b100, u64::MAX, 0, 0];

/// Parses `net.ipv6.icmp.ratemask` in the kernel's bitmap list syntax (`proc_do_large_bitmap`:
/// comma-separated types or inclusive ranges, e.g. `"0-1,3-127"`; an empty string clears every
/// bit). `None` when an item does not parse, a type is above 255, or a range runs backwards.
#[must_use]
pub fn parse_icmpv6_ratemask(s: &str) -> Option<[u64; 4]> {
    let mut m = [0u64; 4];
    for item in s.trim().split(',').filter(|i| !i.trim().is_empty()) {
        let (a, b) = match item.split_once('-') {
            Some((a, b)) => (a.trim().parse::<u8>().ok()?, b.trim().parse::<u8>().ok()?),
            None => {
                let t = item.trim().parse::<u8>().ok()?;
                (t, t)
            }
        };
        if a > b {
            return None;
        }
        for t in a..=b {
            let w = m.get_mut(usize::from(t / 64))?;
            *w |= 1 << (t % 64);
        }
    }
    Some(m)
}

/// Milliseconds from `then` to `now` on the wrapping millisecond clock (as `jiffies - stamp`);
/// a `now` before `then` (a caller's time going backwards) counts as no time.
fn elapsed(then: u64, now: u64) -> u64 {
    let d = now.wrapping_sub(then);
    if d > u64::MAX / 2 { 0 } else { d }
}

/// The limiter's sysctls (copied from [`super::DirectorConfig`]).
#[derive(Debug, Clone, Copy)]
pub(crate) struct LimitParams {
    /// `icmp_ratelimit`, ms.
    pub(crate) ratelimit: u32,
    /// `icmp_ratemask`.
    pub(crate) ratemask: u32,
    /// `icmp_msgs_per_sec`.
    pub(crate) msgs_per_sec: u32,
    /// `icmp_msgs_burst`.
    pub(crate) msgs_burst: u32,
    /// `net.ipv6.icmp.ratelimit`, ms.
    pub(crate) ratelimit_v6: u32,
    /// `net.ipv6.icmp.ratemask`.
    pub(crate) ratemask_v6: [u64; 4],
    /// Prefix length of the route toward IPv6 destinations.
    pub(crate) route_plen_v6: u8,
}

/// One destination's bucket (`struct inet_peer`'s `rate_tokens` / `rate_last`).
#[derive(Clone, Copy)]
struct Peer {
    addr: IpAddr,
    /// Tokens, ms.
    tokens: u64,
    /// When last checked, ms since the epoch (wrapping, as jiffies).
    last: u64,
}

/// The limiter (see the module docs).
pub(crate) struct IcmpLimiter {
    p: LimitParams,
    peers: Vec<Option<Peer>>,
    geo: Buckets,
    /// `icmp_global_credit` (may go below 0, as the kernel's atomic does).
    credit: i64,
    /// `icmp_global_stamp`, ms (wrapping).
    stamp: u64,
    /// splitmix64 state of the credit draws.
    rng: u64,
}

impl IcmpLimiter {
    /// A limiter with `peer_max` destination slots.
    pub(crate) fn new(p: LimitParams, peer_max: usize, seed: u64) -> Self {
        IcmpLimiter {
            p,
            peers: Vec::new(),
            geo: Buckets::new(peer_max, seed ^ 0x6963_6d70),
            credit: 0,
            // A second before the epoch: the first call refills the bucket to the burst.
            stamp: 0u64.wrapping_sub(1000),
            rng: seed ^ 0x7261_7465_6c69_6d69,
        }
    }

    /// `icmpv4_mask_allow` / `icmpv6_mask_allow`: is this error exempt from every limit?
    fn exempt(&self, v6: bool, icmp_type: u8, code: u8) -> bool {
        if v6 {
            let w = self
                .p
                .ratemask_v6
                .get(usize::from(icmp_type / 64))
                .copied()
                .unwrap_or(0);
            w & (1 << (icmp_type % 64)) == 0
        } else {
            icmp_type > NR_ICMP_TYPES
                || (icmp_type == 3 && code == 4)
                || self.p.ratemask & (1 << icmp_type) == 0
        }
    }

    /// `icmp_global_allow`.
    fn global_allow(&mut self, now: u64) -> bool {
        if self.credit > 0 {
            return true;
        }
        let delta = elapsed(self.stamp, now).min(1000);
        if delta < 1000 / 50 {
            return false;
        }
        let incr = u64::from(self.p.msgs_per_sec) * delta / 1000;
        if incr == 0 {
            return false;
        }
        self.stamp = now;
        let incr = i64::try_from(incr).unwrap_or(i64::MAX);
        self.credit = self
            .credit
            .saturating_add(incr)
            .min(i64::from(self.p.msgs_burst));
        true
    }

    /// `icmp_global_consume`: 0, 1 or 2 credits.
    fn global_consume(&mut self) {
        self.rng = self.rng.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.rng;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^= z >> 31;
        // Uniform in 0..3: the high bits of a 64 x 2 bit product (Lemire's reduction).
        let draw = ((u128::from(z) * 3) >> 64) as i64;
        self.credit = self.credit.saturating_sub(draw);
    }

    /// `inet_getpeer` + `inet_peer_xrlim_allow` for destination `to` with `timeout` ms.
    fn peer_allow(&mut self, to: IpAddr, timeout: u64, now: u64) -> bool {
        let cap = self.geo.capacity();
        if cap == 0 {
            return true;
        }
        if self.peers.is_empty() {
            self.peers = vec![None; cap];
        }
        let range = self.geo.range(to);
        let Some(bucket) = self.peers.get_mut(range) else {
            return true;
        };
        // Its own slot, else a free one, else the one checked least recently.
        let pick = bucket
            .iter()
            .position(|s| s.is_some_and(|s| s.addr == to))
            .or_else(|| bucket.iter().position(Option::is_none))
            .or_else(|| {
                bucket
                    .iter()
                    .enumerate()
                    .max_by_key(|(_, s)| s.map_or(u64::MAX, |s| now.wrapping_sub(s.last)))
                    .map(|(i, _)| i)
            });
        let Some(slot) = pick.and_then(|i| bucket.get_mut(i)) else {
            return true;
        };
        let peer = match slot {
            Some(p) if p.addr == to => p,
            _ => slot.insert(Peer {
                addr: to,
                tokens: 0,
                last: now.wrapping_sub(NEW_PEER_AGE_MS),
            }),
        };
        let mut token = peer.tokens;
        let delta = elapsed(peer.last, now);
        if delta != 0 {
            peer.last = now;
            token = token
                .saturating_add(delta)
                .min(XRLIM_BURST_FACTOR.saturating_mul(timeout));
        }
        let allowed = token >= timeout;
        if allowed {
            token -= timeout;
        }
        peer.tokens = token;
        allowed
    }

    /// May the director send ICMP (`v6` false) or ICMPv6 error `icmp_type` / `code` to `to`
    /// at `now_ms` (ms since the director's epoch)? Runs the kernel's checks in order and
    /// updates the buckets (see the module docs).
    pub(crate) fn allow(&mut self, to: IpAddr, icmp_type: u8, code: u8, now_ms: u64) -> bool {
        let v6 = to.is_ipv6();
        if self.exempt(v6, icmp_type, code) {
            return true;
        }
        if !self.global_allow(now_ms) {
            return false;
        }
        let timeout = if v6 {
            let plen = self.p.route_plen_v6.min(128);
            u64::from(self.p.ratelimit_v6) >> ((128 - plen) >> 5)
        } else {
            u64::from(self.p.ratelimit)
        };
        let allowed = self.peer_allow(to, timeout, now_ms);
        if allowed {
            self.global_consume();
        }
        allowed
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params() -> LimitParams {
        LimitParams {
            ratelimit: 1000,
            ratemask: ICMP_RATEMASK_DEFAULT,
            msgs_per_sec: 1000,
            msgs_burst: 50,
            ratelimit_v6: 1000,
            ratemask_v6: ICMPV6_RATEMASK_DEFAULT,
            route_plen_v6: 0,
        }
    }

    #[test]
    fn default_v6_mask_is_the_sysctl_list() {
        // net.ipv6.icmp.ratemask default "0-1,3-127".
        assert_eq!(
            parse_icmpv6_ratemask("0-1,3-127"),
            Some(ICMPV6_RATEMASK_DEFAULT)
        );
        assert_eq!(parse_icmpv6_ratemask(""), Some([0; 4]));
        assert_eq!(parse_icmpv6_ratemask("255"), Some([0, 0, 0, 1 << 63]));
        assert_eq!(parse_icmpv6_ratemask("3-1"), None);
        assert_eq!(parse_icmpv6_ratemask("256"), None);
    }

    #[test]
    fn eviction_keeps_the_bound_and_gives_a_fresh_burst() {
        // 4 slots in one bucket: a fifth destination evicts the least recently checked.
        let p = LimitParams {
            msgs_per_sec: 100_000,
            msgs_burst: 100_000,
            ..params()
        };
        let mut l = IcmpLimiter::new(p, 4, 1);
        let a: Vec<IpAddr> = (1..=5u8).map(|i| IpAddr::from([10, 0, 0, i])).collect();
        for (t, &x) in a.iter().take(4).enumerate() {
            for _ in 0..6 {
                assert!(l.allow(x, 11, 0, t as u64));
            }
            assert!(!l.allow(x, 11, 0, t as u64));
        }
        assert!(l.allow(a[4], 11, 0, 10));
        assert_eq!(l.peers.iter().flatten().count(), 4);
        // a[0] (checked at 0 ms, the oldest) was evicted: it comes back with a full burst.
        for _ in 0..6 {
            assert!(l.allow(a[0], 11, 0, 11));
        }
        assert!(!l.allow(a[0], 11, 0, 11));
    }
}
