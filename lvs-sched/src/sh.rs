//! sh: source hashing (net/netfilter/ipvs/ip_vs_sh.c).
//!
//! Table: 2^bits buckets (default 256). Rebuilt on every add, remove and edit by walking the
//! list circularly and giving each real server `weight` consecutive buckets (weight 0 still
//! gets one). Index of a packet: `(offset + hash_32(port + ntohl(addr_fold), bits)) & mask`,
//! with addr = saddr (daddr for a packet of the reply direction), port = the source port
//! (destination port in the reply direction) only with the sh-port flag, else 0.
//! Without sh-fallback the real server in the bucket is returned if weight > 0 and OVERLOAD
//! clear, else no server. With sh-fallback an unusable pick makes it retry
//! `roffset = (i + ihash) % size` for i in 0..size, bucket `(roffset + hash) & mask`.

use std::net::IpAddr;

use crate::dest::Dest;
use crate::hash::{addr_fold, hash_32};

/// `ip_vs_sh_hashkey()`: the sh bucket for `addr`, `port` (host order, 0 without sh-port),
/// `offset`, with a table of 2^`bits` buckets.
pub fn sh_bucket(addr: IpAddr, port: u16, offset: u32, bits: u32) -> u32 {
    let mask = (1u32 << bits.min(31)) - 1;
    offset.wrapping_add(hash_32((port as u32).wrapping_add(addr_fold(addr)), bits)) & mask
}

/// `struct ip_vs_sh_state`: bucket -> list position.
#[derive(Debug, Clone)]
pub(crate) struct ShTable {
    bits: u32,
    buckets: Vec<u32>,
}

impl ShTable {
    pub(crate) fn new(bits: u32, dests: &[Dest]) -> Self {
        let mut t = ShTable {
            bits: bits.clamp(4, 20),
            buckets: Vec::new(),
        };
        t.reassign(dests);
        t
    }

    /// `ip_vs_sh_reassign()`.
    pub(crate) fn reassign(&mut self, dests: &[Dest]) {
        self.buckets.clear();
        if dests.is_empty() {
            return;
        }
        let size = 1usize << self.bits;
        let mut p = 0usize;
        let mut d_count: i64 = 0;
        for _ in 0..size {
            self.buckets.push(p as u32);
            d_count += 1;
            let w = dests.get(p).map_or(0, |d| d.weight as i64);
            if d_count >= w {
                p = (p + 1) % dests.len();
                d_count = 0;
            }
        }
    }

    fn at(&self, bucket: u32, dests: &[Dest]) -> Option<(usize, bool)> {
        let i = *self.buckets.get(bucket as usize)? as usize;
        dests.get(i).map(|d| (i, d.usable()))
    }

    pub(crate) fn schedule(
        &self,
        dests: &[Dest],
        addr: IpAddr,
        port: u16,
        fallback: bool,
    ) -> Option<usize> {
        let ihash = sh_bucket(addr, port, 0, self.bits);
        pick_with_fallback(
            ihash,
            1u32 << self.bits,
            fallback,
            |b| self.at(b, dests),
            |roffset| sh_bucket(addr, port, roffset, self.bits),
        )
    }
}

/// The lookup shared by sh and mh (`ip_vs_sh_get()`/`ip_vs_sh_get_fallback()`,
/// `ip_vs_mh_get()`/`ip_vs_mh_get_fallback()`): `at(slot)` gives the list position in a slot
/// and whether that real server is usable (weight > 0, OVERLOAD clear), `None` for an empty
/// slot. Slot `ihash` first; if its real server is unusable and `fallback` is set, the slots
/// `rehash(roffset)` for roffset = (i + ihash) % size, i in 0..size, until a usable one or an
/// empty slot.
pub(crate) fn pick_with_fallback(
    ihash: u32,
    size: u32,
    fallback: bool,
    at: impl Fn(u32) -> Option<(usize, bool)>,
    rehash: impl Fn(u32) -> u32,
) -> Option<usize> {
    let (i, ok) = at(ihash)?;
    if ok {
        return Some(i);
    }
    if !fallback {
        return None;
    }
    for offset in 0..size {
        let roffset = ((offset as u64 + ihash as u64) % size as u64) as u32;
        let (i, ok) = at(rehash(roffset))?;
        if ok {
            return Some(i);
        }
    }
    None
}
