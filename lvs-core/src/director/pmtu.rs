//! The path-MTU memory of the routes toward the real servers: what the kernel keeps as the
//! next-hop exception of the route to a RIP (`struct fib_nh_exception`, net/ipv4/route.c) once
//! an ICMP fragmentation needed about one of our tunnel packets was reported, and what
//! `__ip_vs_get_out_rt` (net/netfilter/ipvs/ip_vs_xmit.c) then reads as `dst_mtu()` of that
//! route for the tunnel's MTU budget.
//!
//! # Kernel rules modelled (`__ip_rt_update_pmtu`, `ipv4_mtu`, `update_or_create_fnhe`)
//!
//! - The route's MTU is the learned PMTU while it lives (`now < expires`), else the device MTU
//!   ([`super::DirectorConfig::tun_mtu`] here).
//! - A report above the route's current MTU changes nothing (`old_mtu < mtu`: a PMTU is never
//!   raised by a report, and never above the device MTU).
//! - A report below `min_pmtu` (552 by default) sets `min(route MTU, min_pmtu)` and locks the
//!   entry: while it lives, later reports are ignored (`ip_mtu_locked`).
//! - The same value again, unlocked, in the first half of the entry's life (`now < expires -
//!   mtu_expires / 2`) does not refresh it; any other accepted report sets the MTU and
//!   `expires = now + mtu_expires`.
//! - Entries are keyed by the RIP alone (`fl4->daddr`): the kernel keeps exceptions per
//!   destination address, independent of IPVS, so deleting a real server leaves its entry
//!   until it expires (a real server added back at the same RIP finds it).
//!
//! # Bound and eviction
//!
//! The table is set-associative: `capacity` slots in buckets of up to [`WAYS`] slots, the
//! bucket chosen by a seeded hash of the RIP, so a lookup reads one bucket (O(1)). An update
//! for a RIP not in its bucket takes a free slot, else a slot whose entry expired, else the
//! entry updated least recently (the kernel's `fnhe_remove_oldest` evicts the oldest stamp of
//! a hash chain the same way once a chain is deeper than `FNHE_RECLAIM_DEPTH`). The slots are
//! allocated at the first report, never per packet.
//!
//! # Not modelled
//!
//! - The kernel's `ensure_mtu_is_adequate` also checks DR and NAT packets against `dst_mtu()`
//!   of the route toward the RIP; the director checks no MTU for DR / NAT / FULLNAT (it
//!   assumes the real servers' side carries what the clients' side does), so a PMTU learned
//!   for a RIP that is also a DR / NAT real server of another service only applies to its
//!   tunnel packets.
//! - IPv6: `ip_vs_in_icmp_v6` has no tunnel case, so the director never learns from an
//!   ICMPv6 packet too big (it is left to the host stack, [`super::Verdict::Local`]); the
//!   IPv6 rules of `rt6_do_update_pmtu` (minimum 1280, `net.ipv6.route.mtu_expires`) are not
//!   needed.

use std::net::IpAddr;
use std::time::{Duration, Instant};

use super::Director;

/// Most entries a table holds, whatever the configured bound (2^20 RIPs: 56 MiB of slots).
pub(crate) const MAX_CAPACITY: usize = 1 << 20;

/// Slots per bucket (the kernel's `FNHE_RECLAIM_DEPTH` is 5; 4 slots of 56 bytes keep a
/// bucket within four cache lines).
pub(crate) const WAYS: usize = 4;

/// One learned path MTU, as [`super::Director::pmtu_entries`] lists it (the `cache expires
/// ...sec mtu ...` line of `ip route get RIP`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PmtuEntry {
    /// The real server's address (the destination of the route).
    pub rip: IpAddr,
    /// The learned path MTU, bytes (the whole outer packet: tunnel headers included).
    pub mtu: u32,
    /// Time left until the route falls back to the device MTU.
    pub expires_in: Duration,
    /// Locked (`mtu lock`): set from a report below `min_pmtu`; later reports are ignored
    /// until it expires.
    pub locked: bool,
}

#[derive(Clone, Copy)]
struct Slot {
    rip: IpAddr,
    mtu: u32,
    locked: bool,
    expires: Instant,
    /// When the entry was last written (the eviction order).
    stamp: Instant,
}

/// The kernel's PMTU parameters (`net.ipv4.route.*`).
#[derive(Clone, Copy)]
pub(crate) struct PmtuParams {
    /// The device MTU toward the real servers, bytes.
    pub(crate) dev_mtu: u32,
    /// `min_pmtu`, bytes.
    pub(crate) min_pmtu: u32,
    /// `mtu_expires`.
    pub(crate) expires: Duration,
}

/// The layout of a seeded set-associative table keyed by address (the PMTU table here, the
/// ICMP rate limiter's per-destination state in `super::ratelimit`): at most `capacity`
/// slots in a power of two of buckets of up to [`WAYS`] slots each, the bucket chosen by a
/// seeded hash of the address, so a lookup reads one bucket.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Buckets {
    /// Buckets - 1 (a power of two minus one).
    mask: usize,
    /// Slots per bucket (`WAYS`, fewer when the capacity is smaller; 0: no slot at all).
    ways: usize,
    seed: u64,
}

impl Buckets {
    /// The layout for at most `capacity` slots (at most [`MAX_CAPACITY`]).
    pub(crate) fn new(capacity: usize, seed: u64) -> Self {
        let capacity = capacity.min(MAX_CAPACITY);
        let ways = capacity.min(WAYS);
        let buckets = match capacity.checked_div(ways) {
            // The largest power of two not above capacity / ways.
            Some(b) if b > 0 => 1usize << b.ilog2(),
            _ => 0,
        };
        Buckets {
            mask: buckets.saturating_sub(1),
            ways: if buckets == 0 { 0 } else { ways },
            seed,
        }
    }

    /// Number of slots (0: the table holds nothing).
    pub(crate) fn capacity(&self) -> usize {
        if self.ways == 0 {
            0
        } else {
            (self.mask + 1) * self.ways
        }
    }

    /// The slot range of the bucket of `addr`.
    pub(crate) fn range(&self, addr: IpAddr) -> std::ops::Range<usize> {
        let bits: u128 = match addr {
            IpAddr::V4(v) => u128::from(v.to_bits()),
            IpAddr::V6(v) => v.to_bits(),
        };
        let mut h = self.seed ^ (bits as u64) ^ ((bits >> 64) as u64).rotate_left(31);
        h = (h ^ (h >> 29)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        h ^= h >> 32;
        let b = (h as usize) & self.mask;
        b * self.ways..(b + 1) * self.ways
    }
}

/// The bounded per-RIP PMTU table (see the module docs).
pub(crate) struct PmtuTable {
    slots: Vec<Option<Slot>>,
    geo: Buckets,
    /// Occupied slots, expired ones included (0: nothing learned, the fast path).
    used: usize,
}

impl PmtuTable {
    /// An empty table of at most `capacity` entries (0: nothing is ever learned).
    pub(crate) fn new(capacity: usize, seed: u64) -> Self {
        PmtuTable {
            slots: Vec::new(),
            geo: Buckets::new(capacity, seed),
            used: 0,
        }
    }

    /// Most entries the table holds.
    pub(crate) fn capacity(&self) -> usize {
        self.geo.capacity()
    }

    fn bucket(&self, rip: IpAddr) -> std::ops::Range<usize> {
        self.geo.range(rip)
    }

    fn find(&self, rip: IpAddr) -> Option<&Slot> {
        if self.used == 0 {
            return None;
        }
        self.slots
            .get(self.bucket(rip))?
            .iter()
            .flatten()
            .find(|s| s.rip == rip)
    }

    /// The live learned PMTU toward `rip` at `now` (`None`: none, or expired).
    pub(crate) fn get(&self, rip: IpAddr, now: Instant) -> Option<u32> {
        self.find(rip).filter(|s| now < s.expires).map(|s| s.mtu)
    }

    /// `dst_mtu()` of the route toward `rip` at `now`: the live learned PMTU, else the device
    /// MTU (`ipv4_mtu`).
    #[inline]
    pub(crate) fn route_mtu(&self, rip: IpAddr, now: Instant, dev_mtu: u32) -> u32 {
        if self.used == 0 {
            return dev_mtu;
        }
        self.get(rip, now).map_or(dev_mtu, |m| m.min(dev_mtu))
    }

    /// `__ip_rt_update_pmtu` for a report of `reported` bytes toward `rip` at `now` (see the
    /// module docs for the rules).
    pub(crate) fn update(&mut self, rip: IpAddr, reported: u32, now: Instant, p: &PmtuParams) {
        if self.geo.capacity() == 0 {
            return;
        }
        let live = self.find(rip).filter(|s| now < s.expires).copied();
        if live.is_some_and(|s| s.locked) {
            return;
        }
        let old_mtu = live.map_or(p.dev_mtu, |s| s.mtu.min(p.dev_mtu));
        if old_mtu < reported {
            return;
        }
        let (mtu, lock) = if reported < p.min_pmtu {
            (old_mtu.min(p.min_pmtu), true)
        } else {
            (reported, false)
        };
        let half = p.expires / 2;
        if let Some(s) = live
            && s.mtu == mtu
            && !lock
            && s.expires.checked_sub(half).is_some_and(|t| now < t)
        {
            return;
        }
        let Some(expires) = now.checked_add(p.expires) else {
            return;
        };
        let slot = Slot {
            rip,
            mtu,
            locked: lock,
            expires,
            stamp: now,
        };
        if self.slots.is_empty() {
            self.slots = vec![None; self.capacity()];
        }
        let range = self.bucket(rip);
        let Some(bucket) = self.slots.get_mut(range) else {
            return;
        };
        // The RIP's own slot, else a free one, else an expired one, else the oldest.
        let pick = bucket
            .iter()
            .position(|s| s.is_some_and(|s| s.rip == rip))
            .or_else(|| bucket.iter().position(Option::is_none))
            .or_else(|| {
                bucket
                    .iter()
                    .position(|s| s.is_some_and(|s| now >= s.expires))
            })
            .or_else(|| {
                bucket
                    .iter()
                    .enumerate()
                    .min_by_key(|(_, s)| s.map(|s| s.stamp))
                    .map(|(i, _)| i)
            });
        if let Some(e) = pick.and_then(|i| bucket.get_mut(i)) {
            if e.is_none() {
                self.used += 1;
            }
            *e = Some(slot);
        }
    }

    /// The live entries at `now`, in table order.
    pub(crate) fn entries(&self, now: Instant) -> impl Iterator<Item = PmtuEntry> + '_ {
        self.slots
            .iter()
            .flatten()
            .filter(move |s| now < s.expires)
            .map(move |s| PmtuEntry {
                rip: s.rip,
                mtu: s.mtu,
                expires_in: s.expires.saturating_duration_since(now),
                locked: s.locked,
            })
    }
}

impl Director {
    /// The path MTU learned toward real server `rip` that is in force at `now`, bytes (the
    /// whole outer packet, tunnel headers included), or `None` when the route toward it has
    /// the device MTU ([`super::DirectorConfig::tun_mtu`]).
    ///
    /// Learned as the kernel's `ipv4_update_pmtu` / `__ip_rt_update_pmtu` (net/ipv4/route.c)
    /// does from an ICMP fragmentation needed about one of our IPv4 tunnel packets (the tunnel
    /// case of `ip_vs_in_icmp`, whether or not the error is then relayed): a report above the
    /// route's current MTU (the learned one, else `tun_mtu`) changes nothing; a report below
    /// [`super::DirectorConfig::min_pmtu`] sets `min_pmtu` and locks the entry (later reports
    /// are ignored until it expires); the same value again refreshes the expiry only in the
    /// second half of its life; any other report sets it for
    /// [`super::DirectorConfig::mtu_expires`] seconds (expired at `now >= learned +
    /// mtu_expires`). TUN packets toward `rip` are then checked against it
    /// (`__ip_vs_get_out_rt`: budget = PMTU - tunnel overhead; a DF packet above the budget
    /// gets ICMP fragmentation needed carrying the budget).
    ///
    /// Nothing else fills it, as in the kernel: IPVS updates no route MTU for DR / NAT
    /// (errors about those packets go to the client, not to us), and `ip_vs_in_icmp_v6` has
    /// no tunnel case, so an ICMPv6 packet too big about one of our IPv6 tunnel packets is
    /// left to the host stack ([`super::Verdict::Local`]), which updates its own route only
    /// when one of its ip6_tunnel devices matches the quoted addresses (`ip6_tnl_err`).
    /// Entries outlive a deleted real server, as the kernel's route exceptions do.
    pub fn pmtu(&self, rip: IpAddr, now: Instant) -> Option<u32> {
        self.pmtu.get(rip, now)
    }

    /// Every path MTU in force at `now` (for listings, like the `cache expires ... mtu ...`
    /// lines of `ip route show cache`), in table order. At most
    /// [`super::DirectorConfig::pmtu_max`] (rounded down to buckets of 4 RIPs: a power of two
    /// of them); a report for a new RIP whose bucket is full evicts the entry of that bucket
    /// updated least recently (an expired one first).
    pub fn pmtu_entries(&self, now: Instant) -> Vec<PmtuEntry> {
        self.pmtu.entries(now).collect()
    }

    /// `ipv4_update_pmtu` toward IPv4 real server `rip`: apply a reported next-hop MTU of
    /// `mtu` bytes at `now` under the kernel's rules (see [`Director::pmtu`]), as if an ICMP
    /// fragmentation needed about one of our tunnel packets had reported it.
    ///
    /// The pipeline calls this itself. It is public for running N worker directors: the
    /// kernel's route exceptions are shared by all CPUs, while each worker director learns
    /// only from the errors steered to it (by client), so a caller that wants one PMTU per
    /// RIP across workers copies what one worker learned ([`Director::pmtu_entries`]) into
    /// the others. An entry copied later than it was learned expires later on the receiving
    /// worker (by the copy delay).
    pub fn update_pmtu(&mut self, rip: std::net::Ipv4Addr, mtu: u32, now: Instant) {
        self.learn_pmtu(IpAddr::V4(rip), mtu, now);
    }

    /// `ipv4_update_pmtu` toward `rip` with a reported next-hop MTU of `reported` bytes.
    pub(super) fn learn_pmtu(&mut self, rip: IpAddr, reported: u32, now: Instant) {
        let p = PmtuParams {
            dev_mtu: self.cfg.tun_mtu,
            min_pmtu: self.cfg.min_pmtu,
            expires: Duration::from_secs(u64::from(self.cfg.mtu_expires)),
        };
        self.pmtu.update(rip, reported, now, &p);
    }

    /// `dst_mtu()` of the route toward `rip` at `now`: the learned PMTU, else `tun_mtu`.
    pub(super) fn route_mtu(&self, rip: IpAddr, now: Instant) -> u32 {
        self.pmtu.route_mtu(rip, now, self.cfg.tun_mtu)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const P: PmtuParams = PmtuParams {
        dev_mtu: 1500,
        min_pmtu: 552,
        expires: Duration::from_secs(600),
    };

    fn rip(i: u32) -> IpAddr {
        IpAddr::V4(std::net::Ipv4Addr::from_bits(0x0a01_0000 + i))
    }

    #[test]
    fn capacity_rounds_down_to_buckets_of_ways() {
        // capacity / WAYS rounded down to a power of two buckets: never above the bound.
        for (cap, want) in [
            (0, 0),
            (1, 1),
            (3, 3),
            (4, 4),
            (6, 4),
            (12, 8),
            (4096, 4096),
        ] {
            assert_eq!(PmtuTable::new(cap, 1).capacity(), want, "capacity {cap}");
        }
    }

    #[test]
    fn kernel_update_rules() {
        let t0 = Instant::now();
        let s = |x| t0 + Duration::from_secs(x);
        let mut t = PmtuTable::new(16, 7);
        // Above the device MTU: nothing (old_mtu < mtu).
        t.update(rip(1), 9000, t0, &P);
        assert_eq!(t.get(rip(1), t0), None);
        t.update(rip(1), 1400, t0, &P);
        assert_eq!(t.get(rip(1), t0), Some(1400));
        // Higher than the PMTU: never raised.
        t.update(rip(1), 1450, s(1), &P);
        assert_eq!(t.get(rip(1), s(1)), Some(1400));
        // Same value in the first half of life: expiry kept (t0 + 600).
        t.update(rip(1), 1400, s(100), &P);
        assert_eq!(t.get(rip(1), s(599)), Some(1400));
        assert_eq!(
            t.get(rip(1), s(600)),
            None,
            "time_after_eq(jiffies, expires)"
        );
        // Same value past half-life: refreshed to now + 600.
        t.update(rip(2), 1400, t0, &P);
        t.update(rip(2), 1400, s(301), &P);
        assert_eq!(t.get(rip(2), s(900)), Some(1400));
        // Below min_pmtu: 552, locked; a later report is ignored while it lives.
        t.update(rip(3), 300, t0, &P);
        assert_eq!(t.get(rip(3), t0), Some(552));
        t.update(rip(3), 200, s(10), &P);
        let e = t.entries(s(10)).find(|e| e.rip == rip(3)).unwrap();
        assert!(e.locked);
        assert_eq!(e.expires_in, Duration::from_secs(590), "not refreshed");
        // After expiry the route MTU is the device MTU again and a new report applies.
        assert_eq!(t.route_mtu(rip(3), s(600), 1500), 1500);
        t.update(rip(3), 1000, s(600), &P);
        assert_eq!(t.get(rip(3), s(600)), Some(1000));
    }

    #[test]
    fn a_full_bucket_evicts_its_oldest_entry() {
        let t0 = Instant::now();
        let mut t = PmtuTable::new(4, 3);
        for i in 0..4 {
            t.update(rip(i), 1400, t0 + Duration::from_secs(u64::from(i)), &P);
        }
        let now = t0 + Duration::from_secs(10);
        t.update(rip(9), 1300, now, &P);
        assert_eq!(t.entries(now).count(), 4);
        assert_eq!(t.get(rip(0), now), None, "the oldest went");
        assert_eq!(t.get(rip(9), now), Some(1300));
        for i in 1..4 {
            assert_eq!(t.get(rip(i), now), Some(1400));
        }
    }
}
