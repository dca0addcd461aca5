//! lblc: locality-based least connection (net/netfilter/ipvs/ip_vs_lblc.c), and the entry
//! table with its garbage collection that lblcr shares.
//!
//! Rule: key = the packet's daddr. A cached real server is used if it is AVAILABLE (still in
//! the list), has weight > 0 and is not "overloaded" in lblc's sense: activeconns > weight
//! while some real server of the service has activeconns * 2 < weight. Note that lblc does
//! NOT test the OVERLOAD flag on a cache hit (kernel behaviour kept). Otherwise wlc over the
//! service picks (OVERLOAD and weight 0 skipped) and the entry is replaced.
//!
//! Table: 1024 buckets (`hash_32(ntohl(daddr_fold), 10)`), soft maximum 16384 entries. The
//! entry table is kept across real-server add/remove/edit. Garbage collection runs every
//! 60 s (driven by `handle_timeout(now)`): every 30th run is a full sweep removing entries
//! idle for `lblc_expiration` (default 24 h) or longer; the other runs do nothing unless the
//! table is above 16384 entries, then remove entries idle for 6 minutes or longer, bucket by
//! bucket from the rover, until min((entries - 16384) * 4 / 3, 8192) are gone. "entries" is
//! the kernel's counter, which (kernel quirk, kept) is not decremented when an entry is
//! replaced by a new real server, so it can run ahead of the real number of entries.

use std::net::IpAddr;
use std::time::Duration;

use crate::dest::{Dest, DestId};
use crate::hash::{addr_fold, hash_32};
use crate::list::DestList;

/// `IP_VS_LBLC_TAB_BITS` / `IP_VS_LBLCR_TAB_BITS`.
pub const LBLC_TAB_BITS: u32 = 10;
const TAB_SIZE: usize = 1 << LBLC_TAB_BITS;
/// `tbl->max_size` = table size * 16.
pub const LBLC_MAX_ENTRIES: usize = TAB_SIZE * 16;
/// `CHECK_EXPIRE_INTERVAL`: 60 s between garbage-collection runs.
pub const CHECK_EXPIRE_INTERVAL: Duration = Duration::from_secs(60);
/// `ENTRY_TIMEOUT`: idle time after which an entry may go when the table is over-full.
pub const ENTRY_TIMEOUT: Duration = Duration::from_secs(6 * 60);
/// `COUNT_FOR_FULL_EXPIRATION`: every 30th run is a full sweep.
pub const COUNT_FOR_FULL_EXPIRATION: u32 = 30;

/// The lblc/lblcr bucket of a destination address: `hash_32(ntohl(addr_fold), 10)`.
pub fn lblc_bucket(daddr: IpAddr) -> usize {
    hash_32(addr_fold(daddr), LBLC_TAB_BITS) as usize
}

/// lblc/lblcr "overloaded": activeconns > weight and some real server of the service has
/// activeconns * 2 < weight (`is_overloaded()` in ip_vs_lblc.c and ip_vs_lblcr.c).
pub(crate) fn is_overloaded(d: &Dest, list: &DestList) -> bool {
    (d.activeconns as i64) > d.weight as i64 && list.any_half_loaded()
}

#[derive(Debug, Clone)]
pub(crate) struct Entry<T> {
    pub(crate) addr: IpAddr,
    pub(crate) lastuse: Duration,
    pub(crate) val: T,
}

/// `struct ip_vs_lblc_table` / `struct ip_vs_lblcr_table`.
#[derive(Debug, Clone)]
pub(crate) struct LocalityTable<T> {
    buckets: Vec<Vec<Entry<T>>>,
    /// Entries actually in the table.
    entries: usize,
    /// The kernel's `tbl->entries` counter, which garbage collection reads. It can run ahead
    /// of `entries`: `ip_vs_lblc_new()` unlinks a replaced entry with `ip_vs_lblc_del()`
    /// without `atomic_dec(&tbl->entries)`, then counts the new one.
    counted: usize,
    rover: usize,
    counter: u32,
    next_check: Duration,
    expiration: Duration,
}

impl<T> LocalityTable<T> {
    pub(crate) fn new(now: Duration, expiration: Duration) -> Self {
        LocalityTable {
            buckets: (0..TAB_SIZE).map(|_| Vec::new()).collect(),
            entries: 0,
            counted: 0,
            rover: 0,
            counter: 1,
            next_check: now.saturating_add(CHECK_EXPIRE_INTERVAL),
            expiration,
        }
    }

    pub(crate) fn len(&self) -> usize {
        self.entries
    }

    pub(crate) fn get_mut(&mut self, addr: IpAddr) -> Option<&mut Entry<T>> {
        self.buckets
            .get_mut(lblc_bucket(addr))?
            .iter_mut()
            .find(|e| e.addr == addr)
    }

    pub(crate) fn get(&self, addr: IpAddr) -> Option<&Entry<T>> {
        self.buckets
            .get(lblc_bucket(addr))?
            .iter()
            .find(|e| e.addr == addr)
    }

    /// Insert a new entry (the caller made sure `addr` has none).
    pub(crate) fn insert(&mut self, addr: IpAddr, now: Duration, val: T) {
        if let Some(b) = self.buckets.get_mut(lblc_bucket(addr)) {
            b.push(Entry {
                addr,
                lastuse: now,
                val,
            });
            self.entries += 1;
            self.counted += 1;
        }
    }

    /// Unlinks the entry of `addr` the way `ip_vs_lblc_new()` replaces one: the kernel's
    /// entry counter is NOT decremented (see `counted`).
    pub(crate) fn unlink_uncounted(&mut self, addr: IpAddr) {
        if let Some(b) = self.buckets.get_mut(lblc_bucket(addr))
            && let Some(p) = b.iter().position(|e| e.addr == addr)
        {
            b.swap_remove(p);
            self.entries -= 1;
        }
    }

    pub(crate) fn poll_timeout(&self) -> Duration {
        self.next_check
    }

    /// Runs the periodic check if it is due (`now >= poll_timeout()`), then re-arms it
    /// 60 s after `now` (`mod_timer(jiffies + CHECK_EXPIRE_INTERVAL)`).
    pub(crate) fn handle_timeout(&mut self, now: Duration) {
        if now < self.next_check {
            return;
        }
        self.check_expire(now);
        self.next_check = now.saturating_add(CHECK_EXPIRE_INTERVAL);
    }

    /// Removes the stale entries of bucket `j`; returns how many went.
    fn sweep(&mut self, j: usize, now: Duration, idle: Duration) -> usize {
        let Some(b) = self.buckets.get_mut(j) else {
            return 0;
        };
        let before = b.len();
        // Kept while now < lastuse + idle (`time_before(now, en->lastuse + ...)`).
        b.retain(|e| now < e.lastuse.saturating_add(idle));
        let gone = before - b.len();
        self.entries -= gone;
        self.counted = self.counted.saturating_sub(gone);
        gone
    }

    /// `ip_vs_lblc_check_expire()` / `ip_vs_lblcr_check_expire()`.
    fn check_expire(&mut self, now: Duration) {
        if self.counter.is_multiple_of(COUNT_FOR_FULL_EXPIRATION) {
            // Full sweep (`ip_vs_lblc_full_check()`): every bucket from rover + 1, wrapping;
            // the rover ends where it began.
            let mut j = self.rover;
            for _ in 0..TAB_SIZE {
                j = (j + 1) & (TAB_SIZE - 1);
                self.sweep(j, now, self.expiration);
            }
            self.rover = j;
            self.counter = 1;
            return;
        }
        if self.counted <= LBLC_MAX_ENTRIES {
            self.counter += 1;
            return;
        }
        let mut goal = ((self.counted - LBLC_MAX_ENTRIES) * 4 / 3).min(LBLC_MAX_ENTRIES / 2) as i64;
        let mut j = self.rover;
        for _ in 0..TAB_SIZE {
            j = (j + 1) & (TAB_SIZE - 1);
            goal -= self.sweep(j, now, ENTRY_TIMEOUT) as i64;
            if goal <= 0 {
                break;
            }
        }
        self.rover = j;
    }
}

/// lblc state: the entry table, daddr -> one real server.
#[derive(Debug, Clone)]
pub(crate) struct Lblc {
    pub(crate) table: LocalityTable<DestId>,
}

impl Lblc {
    pub(crate) fn new(now: Duration, expiration: Duration) -> Self {
        Lblc {
            table: LocalityTable::new(now, expiration),
        }
    }

    /// `wlc_pick` is the service-wide wlc choice (`__ip_vs_lblc_schedule()`).
    pub(crate) fn schedule(
        &mut self,
        list: &DestList,
        wlc_pick: Option<usize>,
        daddr: IpAddr,
        now: Duration,
    ) -> Option<usize> {
        if let Some(en) = self.table.get_mut(daddr) {
            en.lastuse = now;
            if let Some(i) = list.position(en.val)
                && let Some(d) = list.get(i)
                && d.flags.available()
                && d.weight > 0
                && !is_overloaded(d, list)
            {
                return Some(i);
            }
        }
        let i = wlc_pick?;
        let id = list.id_at(i)?;
        // `ip_vs_lblc_new()`: keep an entry that already names this real server, else
        // replace it.
        match self.table.get(daddr) {
            Some(en) if en.val == id => {}
            Some(_) => {
                self.table.unlink_uncounted(daddr);
                self.table.insert(daddr, now, id);
            }
            None => self.table.insert(daddr, now, id),
        }
        Some(i)
    }
}
