//! [`ShardedConnTable`]: one logical table shared by worker threads.

use std::net::IpAddr;
use std::time::Instant;

use parking_lot::{Mutex, MutexGuard};

use crate::error::ConnError;
use crate::inner::splitmix;
use crate::table::{ConnConfig, ConnTable, DestCounters, DestId, ExpiredConn};

/// Most shards a [`ShardedConnTable`] takes.
pub const MAX_SHARDS: usize = 4096;

/// How a [`ShardedConnTable`] is split.
#[derive(Clone, Debug)]
pub struct ShardConfig {
    /// Number of shards (at least 1; a power of two is not required).
    pub shards: usize,
    /// Secret seed of the shard hash.
    pub seed: u64,
    /// Client IPv4 prefix length hashed to pick the shard (default 32). Set it no longer than
    /// the widest persistence netmask in use (`-M 255.255.255.0` needs 24 or less) so a
    /// template and the connections it controls share a shard.
    pub prefix_v4: u8,
    /// Client IPv6 prefix length hashed (default 128); same rule for IPv6 `-M`.
    pub prefix_v6: u8,
}

impl Default for ShardConfig {
    fn default() -> Self {
        ShardConfig {
            shards: 4,
            seed: 0x0123_4567_89ab_cdef,
            prefix_v4: 32,
            prefix_v6: 128,
        }
    }
}

/// N [`ConnTable`]s behind `parking_lot` mutexes. A worker locks the shard of a packet's
/// client ([`ShardedConnTable::shard_of_client`]), then looks up, inserts and updates under
/// that one lock; `ConnId`s are shard-local. Each shard gets `max_entries / N` entries and
/// `max_bytes / N` bytes, and its own timer wheel.
///
/// Routing: inbound packets and NAT replies know the client address (source, resp.
/// destination), so both pick the same shard. A FULLNAT reply (RIP -> LIP:lport) does not:
/// it goes to shard `lport % N` ([`ShardedConnTable::shard_of_fullnat_reply`]), and lvs-core
/// must choose a local port with [`ShardedConnTable::fullnat_port_ok`] true.
pub struct ShardedConnTable {
    shards: Box<[Mutex<ConnTable>]>,
    k: u64,
    prefix_v4: u8,
    prefix_v6: u8,
}

impl ShardedConnTable {
    /// A table of `shard.shards` shards (clamped to 1..=4096) splitting `cfg`'s limits evenly; shard
    /// `i` hashes with seed `cfg.seed + i`.
    pub fn new(cfg: ConnConfig, shard: ShardConfig, epoch: Instant) -> ShardedConnTable {
        let n = shard.shards.clamp(1, MAX_SHARDS);
        let shards = (0..n)
            .map(|i| {
                let mut c = cfg.clone();
                c.max_entries = (cfg.max_entries / n as u32).max(1);
                c.max_bytes = cfg.max_bytes / n;
                c.seed = cfg.seed.wrapping_add(i as u64);
                Mutex::new(ConnTable::new(c, epoch))
            })
            .collect();
        ShardedConnTable {
            shards,
            k: splitmix(shard.seed),
            prefix_v4: shard.prefix_v4.min(32),
            prefix_v6: shard.prefix_v6.min(128),
        }
    }

    /// Number of shards.
    pub fn shards(&self) -> usize {
        self.shards.len()
    }

    /// Shard of client address `caddr` (the source of an inbound packet, the destination of
    /// a NAT reply).
    #[inline]
    pub fn shard_of_client(&self, caddr: IpAddr) -> usize {
        let x = match caddr {
            IpAddr::V4(a) => {
                let p = u32::from(self.prefix_v4);
                let m = if p == 0 { 0 } else { u32::MAX << (32 - p) };
                u64::from(a.to_bits() & m)
            }
            IpAddr::V6(a) => {
                let p = u32::from(self.prefix_v6);
                let m = if p == 0 { 0 } else { u128::MAX << (128 - p) };
                let v = a.to_bits() & m;
                (v as u64) ^ splitmix((v >> 64) as u64)
            }
        };
        (splitmix(x ^ self.k) % self.shards.len() as u64) as usize
    }

    /// Shard of a FULLNAT reply to local port `lport`: `lport % N`.
    #[inline]
    pub fn shard_of_fullnat_reply(&self, lport: u16) -> usize {
        usize::from(lport) % self.shards.len()
    }

    /// Whether local port `lport` may be used for a FULLNAT connection of client `caddr`.
    pub fn fullnat_port_ok(&self, caddr: IpAddr, lport: u16) -> bool {
        self.shard_of_client(caddr) == self.shard_of_fullnat_reply(lport)
    }

    /// Lock shard `i` (clamped to the last shard).
    #[inline]
    pub fn lock(&self, i: usize) -> MutexGuard<'_, ConnTable> {
        let i = i.min(self.shards.len() - 1);
        // The index is clamped above, so this cannot miss; fall back to shard 0 anyway.
        match self.shards.get(i) {
            Some(m) => m.lock(),
            None => self.shards[0].lock(),
        }
    }

    /// Lock the shard of client `caddr`.
    #[inline]
    pub fn lock_client(&self, caddr: IpAddr) -> MutexGuard<'_, ConnTable> {
        self.lock(self.shard_of_client(caddr))
    }

    /// Check a FULLNAT insert's routing.
    ///
    /// Errors: [`ConnError::WrongShard`] when `lport` does not map to `caddr`'s shard.
    pub fn check_fullnat(&self, caddr: IpAddr, lport: u16) -> Result<(), ConnError> {
        if self.fullnat_port_ok(caddr, lport) {
            Ok(())
        } else {
            Err(ConnError::WrongShard)
        }
    }

    /// Run every shard's expiry (locking one shard at a time); returns the number appended.
    pub fn handle_timeout(&self, now: Instant, expired: &mut Vec<ExpiredConn>) -> usize {
        self.shards
            .iter()
            .map(|s| s.lock().handle_timeout(now, expired))
            .sum()
    }

    /// Earliest timer of all shards.
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.shards
            .iter()
            .filter_map(|s| s.lock().poll_timeout())
            .min()
    }

    /// Counters of real server `dest`, summed over shards.
    pub fn dest_counters(&self, dest: DestId) -> DestCounters {
        let mut c = DestCounters::default();
        for s in self.shards.iter() {
            let d = s.lock().dest_counters(dest);
            c.activeconns += d.activeconns;
            c.inactconns += d.inactconns;
            c.persistconns += d.persistconns;
        }
        c
    }

    /// Live entries over all shards.
    pub fn len(&self) -> usize {
        self.shards.iter().map(|s| s.lock().len()).sum()
    }

    /// Whether all shards are empty.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}
