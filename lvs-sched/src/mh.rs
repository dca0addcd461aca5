//! mh: Maglev hashing (net/netfilter/ipvs/ip_vs_mh.c).
//!
//! The table ([`crate::Maglev`]) is rebuilt from the list (in list order, with each real
//! server's `last_weight`) on every add, remove and edit. A quiesced real server (weight 0
//! after an edit) keeps its slots because `last_weight` keeps its last non-zero weight, and
//! is rejected at lookup. Lookup: slot `hsiphash(port + ntohl(addr_fold), key1) % M` with
//! addr = saddr (daddr in the reply direction) and port = source port only with mh-port. The
//! real server there is returned if weight > 0 and OVERLOAD clear; with mh-fallback an
//! unusable one makes it retry with `offset` = (i + ihash) % M for i in 0..M, hashing
//! `offset + port + addr`, until a usable one (or an empty slot: none).

use std::net::IpAddr;

use crate::dest::Dest;
use crate::hash::{MH_KEY1, mh_hashkey};
use crate::maglev::{Maglev, MaglevServer, MaglevSize};
use crate::sh::pick_with_fallback;

#[derive(Debug, Clone)]
pub(crate) struct MhState {
    table: Maglev,
}

impl MhState {
    pub(crate) fn new(size: MaglevSize, dests: &[Dest]) -> Self {
        let mut s = MhState { table: empty(size) };
        s.reassign(dests);
        s
    }

    /// `ip_vs_mh_dest_changed()`. The caller has checked N <= M.
    pub(crate) fn reassign(&mut self, dests: &[Dest]) {
        let servers: Vec<MaglevServer> = dests
            .iter()
            .map(|d| MaglevServer {
                addr: d.addr,
                port: d.port,
                weight: d.last_weight.max(0) as u32,
            })
            .collect();
        let size = self.table.size();
        self.table = Maglev::build(&servers, size).unwrap_or_else(|_| empty(size));
    }

    fn at(&self, slot: u32, dests: &[Dest]) -> Option<(usize, bool)> {
        let i = self.table.slot(slot)? as usize;
        dests.get(i).map(|d| (i, d.usable()))
    }

    pub(crate) fn schedule(
        &self,
        dests: &[Dest],
        addr: IpAddr,
        port: u16,
        fallback: bool,
    ) -> Option<usize> {
        let ihash = self.table.slot_of(mh_hashkey(addr, port, &MH_KEY1, 0));
        pick_with_fallback(
            ihash,
            self.table.size().get(),
            fallback,
            |slot| self.at(slot, dests),
            |roffset| {
                self.table
                    .slot_of(mh_hashkey(addr, port, &MH_KEY1, roffset))
            },
        )
    }
}

fn empty(size: MaglevSize) -> Maglev {
    Maglev::empty(size)
}
