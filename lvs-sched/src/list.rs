//! The real-server list of one virtual service, in the kernel's list order.
//!
//! `__ip_vs_update_dest()` (net/netfilter/ipvs/ip_vs_ctl.c) links a new real server with
//! `list_add_rcu(&dest->n_list, &svc->destinations)`: at the HEAD. So list order is newest
//! first, and "first in list wins ties" means "most recently added wins ties". Position 0
//! here is the head.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};

use crate::dest::{Dest, DestId};

/// A tiny deterministic hasher for `DestId` keys (multiplicative, golden ratio). Only used
/// to find a position by id; it never influences a scheduling decision.
#[derive(Default)]
pub(crate) struct IdHasher(u64);

impl Hasher for IdHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.0 = (self.0 ^ *b as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15);
        }
    }
    fn write_u32(&mut self, i: u32) {
        self.0 = (i as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    }
}

pub(crate) type IdMap<V> = HashMap<DestId, V, BuildHasherDefault<IdHasher>>;

/// The list plus an id index and the count lblc/lblcr need for their "overloaded" test.
#[derive(Debug, Clone, Default)]
pub(crate) struct DestList {
    ids: Vec<DestId>,
    dests: Vec<Dest>,
    /// Position by id for ids below [`SMALL_IDS`] (`u32::MAX` = absent): one load, no hash.
    small: Vec<u32>,
    /// Position by id for larger ids.
    pos: IdMap<usize>,
    /// Number of real servers with activeconns * 2 < weight (lblc `is_overloaded()`).
    half_loaded: usize,
}

/// Ids below this are indexed directly (at most 256 KiB per service).
const SMALL_IDS: u32 = 65_536;

fn is_half_loaded(d: &Dest) -> bool {
    (d.activeconns as u64) * 2 < d.w()
}

impl DestList {
    pub(crate) fn len(&self) -> usize {
        self.dests.len()
    }
    pub(crate) fn dests(&self) -> &[Dest] {
        &self.dests
    }
    pub(crate) fn ids(&self) -> &[DestId] {
        &self.ids
    }
    #[inline]
    pub(crate) fn position(&self, id: DestId) -> Option<usize> {
        if id.0 < SMALL_IDS {
            match self.small.get(id.0 as usize) {
                Some(&p) if p != u32::MAX => Some(p as usize),
                _ => None,
            }
        } else {
            self.pos.get(&id).copied()
        }
    }
    pub(crate) fn get(&self, i: usize) -> Option<&Dest> {
        self.dests.get(i)
    }
    pub(crate) fn id_at(&self, i: usize) -> Option<DestId> {
        self.ids.get(i).copied()
    }
    pub(crate) fn by_id(&self, id: DestId) -> Option<&Dest> {
        self.position(id).and_then(|i| self.dests.get(i))
    }
    /// Some real server has activeconns * 2 < weight.
    pub(crate) fn any_half_loaded(&self) -> bool {
        self.half_loaded > 0
    }

    fn reindex(&mut self) {
        self.pos.clear();
        self.small.iter_mut().for_each(|p| *p = u32::MAX);
        for (i, id) in self.ids.iter().enumerate() {
            if id.0 < SMALL_IDS {
                let k = id.0 as usize;
                if self.small.len() <= k {
                    self.small.resize(k + 1, u32::MAX);
                }
                if let Some(p) = self.small.get_mut(k) {
                    *p = i as u32;
                }
            } else {
                self.pos.insert(*id, i);
            }
        }
    }

    /// Link at the head (position 0).
    pub(crate) fn push_head(&mut self, id: DestId, d: Dest) {
        if is_half_loaded(&d) {
            self.half_loaded += 1;
        }
        self.ids.insert(0, id);
        self.dests.insert(0, d);
        self.reindex();
    }

    /// Unlink position `i`.
    pub(crate) fn remove(&mut self, i: usize) -> Option<Dest> {
        if i >= self.dests.len() {
            return None;
        }
        self.ids.remove(i);
        let d = self.dests.remove(i);
        if is_half_loaded(&d) {
            self.half_loaded -= 1;
        }
        self.reindex();
        Some(d)
    }

    /// Mutate position `i` keeping the half-loaded count right.
    pub(crate) fn modify<R>(&mut self, i: usize, f: impl FnOnce(&mut Dest) -> R) -> Option<R> {
        let d = self.dests.get_mut(i)?;
        let before = is_half_loaded(d);
        let r = f(d);
        let after = is_half_loaded(d);
        match (before, after) {
            (false, true) => self.half_loaded += 1,
            (true, false) => self.half_loaded -= 1,
            _ => {}
        }
        Some(r)
    }
}
