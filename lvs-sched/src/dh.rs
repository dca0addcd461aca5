//! dh: destination hashing (net/netfilter/ipvs/ip_vs_dh.c).
//!
//! Table: 256 buckets (`IP_VS_DH_TAB_BITS` = 8) filled round robin over the list, one bucket
//! per real server in turn, weight ignored; rebuilt on every add, remove and edit. So bucket
//! `b` holds the real server at list position `b % N`. Index of a packet:
//! `hash_32(ntohl(daddr_fold), 8)`. The real server there is returned only if AVAILABLE,
//! weight > 0 and OVERLOAD clear; there is no fallback.

use std::net::IpAddr;

use crate::dest::Dest;
use crate::hash::{addr_fold, hash_32};

/// `IP_VS_DH_TAB_BITS`.
pub const DH_TAB_BITS: u32 = 8;

/// The dh bucket of a destination address: `hash_32(ntohl(addr_fold), 8)`, 0 ..= 255.
pub fn dh_bucket(daddr: IpAddr) -> u32 {
    hash_32(addr_fold(daddr), DH_TAB_BITS)
}

pub(crate) fn schedule(dests: &[Dest], daddr: IpAddr) -> Option<usize> {
    if dests.is_empty() {
        return None;
    }
    let i = dh_bucket(daddr) as usize % dests.len();
    let d = dests.get(i)?;
    (d.flags.available() && d.usable()).then_some(i)
}
