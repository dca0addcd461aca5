//! lblcr: locality-based least connection with replication (net/netfilter/ipvs/ip_vs_lblcr.c).
//!
//! Rule: key = the packet's daddr, mapped to a SET of real servers (newest member first).
//! On a hit: the pick is the wlc minimum over the set members with OVERLOAD clear, weight > 0
//! and AVAILABLE (first member wins ties); then, if the set has more than one member and
//! more than `lblcr_expiration` (default 24 h) passed since the set last changed, its most
//! loaded member (maximum overhead / weight, weight > 0, first wins ties) is dropped. If the
//! pick exists and is not "overloaded" (lblc's sense: activeconns > weight while some real
//! server has activeconns * 2 < weight) it is returned; otherwise wlc over the service picks
//! and the result joins the set. On a miss: wlc over the service, and a new one-member set.
//! The table and its garbage collection are lblc's ([`crate::lblc`]).
//!
//! A member that was removed from the service stays in the set (as in the kernel's trash)
//! and is skipped by the minimum; unlike the kernel, which still reads a removed real
//! server's stale weight and counters, the "most loaded" search also skips it.

use std::net::IpAddr;
use std::time::Duration;

use crate::dest::{Dest, DestId};
use crate::lblc::{LocalityTable, is_overloaded};
use crate::list::DestList;

/// `struct ip_vs_dest_set`.
#[derive(Debug, Clone)]
pub(crate) struct DestSet {
    /// Members, head first (`list_add_rcu` inserts at the head).
    pub(crate) members: Vec<DestId>,
    pub(crate) lastmod: Duration,
}

fn member(list: &DestList, id: DestId) -> Option<(usize, &Dest)> {
    let i = list.position(id)?;
    list.get(i).map(|d| (i, d))
}

/// `ip_vs_dest_set_min()`: list position of the pick.
fn set_min(set: &DestSet, list: &DestList) -> Option<usize> {
    let mut least: Option<(usize, &Dest)> = None;
    for id in &set.members {
        let Some((i, d)) = member(list, *id) else {
            continue;
        };
        if d.overloaded() {
            continue;
        }
        match least {
            None => {
                if d.weight > 0 && d.flags.available() {
                    least = Some((i, d));
                }
            }
            Some((_, l)) => {
                if (l.overhead() as u128) * (d.w() as u128)
                    > (d.overhead() as u128) * (l.w() as u128)
                    && d.flags.available()
                {
                    least = Some((i, d));
                }
            }
        }
    }
    least.map(|(i, _)| i)
}

/// `ip_vs_dest_set_max()`: id of the most loaded member.
fn set_max(set: &DestSet, list: &DestList) -> Option<DestId> {
    let mut most: Option<(DestId, &Dest)> = None;
    for id in &set.members {
        let Some((_, d)) = member(list, *id) else {
            continue;
        };
        match most {
            None => {
                if d.weight > 0 {
                    most = Some((*id, d));
                }
            }
            Some((_, m)) => {
                if (m.overhead() as u128) * (d.w() as u128)
                    < (d.overhead() as u128) * (m.w() as u128)
                    && d.weight > 0
                {
                    most = Some((*id, d));
                }
            }
        }
    }
    most.map(|(id, _)| id)
}

/// lblcr state: daddr -> set of real servers.
#[derive(Debug, Clone)]
pub(crate) struct Lblcr {
    pub(crate) table: LocalityTable<DestSet>,
    expiration: Duration,
}

impl Lblcr {
    pub(crate) fn new(now: Duration, expiration: Duration) -> Self {
        Lblcr {
            table: LocalityTable::new(now, expiration),
            expiration,
        }
    }

    pub(crate) fn schedule(
        &mut self,
        list: &DestList,
        wlc_pick: Option<usize>,
        daddr: IpAddr,
        now: Duration,
    ) -> Option<usize> {
        let expiration = self.expiration;
        if let Some(en) = self.table.get_mut(daddr) {
            en.lastuse = now;
            let set = &mut en.val;
            let dest = set_min(set, list);
            if set.members.len() > 1
                && now > set.lastmod.saturating_add(expiration)
                && let Some(m) = set_max(set, list)
                && let Some(p) = set.members.iter().position(|x| *x == m)
            {
                set.members.remove(p);
                set.lastmod = now;
            }
            if let Some(i) = dest
                && list.get(i).is_some_and(|d| !is_overloaded(d, list))
            {
                return Some(i);
            }
            let i = wlc_pick?;
            let id = list.id_at(i)?;
            if !set.members.contains(&id) {
                set.members.insert(0, id);
                set.lastmod = now;
            }
            return Some(i);
        }
        let i = wlc_pick?;
        let id = list.id_at(i)?;
        self.table.insert(
            daddr,
            now,
            DestSet {
                members: vec![id],
                lastmod: now,
            },
        );
        Some(i)
    }
}
