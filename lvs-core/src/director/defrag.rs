//! IP reassembly in front of the director, as the kernel's `nf_defrag_ipv4` / `nf_defrag_ipv6`
//! (and `ip_vs_gather_frags`, net/netfilter/ipvs/ip_vs_core.c) do before IPVS sees a packet.
//!
//! [`Reassembler`] is sans-IO and independent of the [`super::Director`]: feed it fragment
//! frames with [`Reassembler::insert`]; when one completes a datagram, write it out with
//! [`Reassembler::take`]. Rules (net/ipv4/ip_fragment.c `ip_frag_queue`, net/ipv6/reassembly.c,
//! net/ipv4/inet_fragment.c `inet_frag_queue_insert`):
//!
//! - queues are keyed by (saddr, daddr, protocol, id) for IPv4, (saddr, daddr, id) for IPv6;
//! - a fragment lying wholly inside data already held is a duplicate and is ignored
//!   (`IPFRAG_DUP`); any other overlap drops the whole queue (`IPFRAG_OVERLAP`; RFC 5722 for
//!   IPv6, Linux does the same for IPv4 since 2018);
//! - the fragment with MF = 0 fixes the length; a fragment ending beyond it, or a second last
//!   fragment with another end, or a last fragment ending before data already held, drops the
//!   queue (`discard_qp`); an empty fragment drops the queue;
//! - a non-last IPv4 fragment whose payload is not a multiple of 8 bytes is cut down to one
//!   (`end &= ~7`); a non-last IPv6 one drops its queue (net/ipv6/netfilter/nf_conntrack_reasm.c
//!   `nf_ct_frag6_queue`, the path IPVS sees, kills the queue there);
//! - a datagram longer than 65535 bytes (IPv4 total length, IPv6 payload length) drops the
//!   queue;
//! - memory is bounded by `high_thresh` bytes (each queue counts its data buffer, its copy of
//!   the first fragment's headers, 8 bytes per held range and 64 bytes of bookkeeping); a
//!   fragment that would exceed it evicts the oldest other queues first (the idea of the
//!   kernel's `inet_frag_evictor`), and is refused when that is not enough;
//! - a queue not complete `ipfrag_time` after its first fragment arrived expires
//!   ([`Reassembler::expire`]). [`Reassembler::expire_each`] also hands out, for each expired
//!   queue whose first fragment (offset 0) arrived (`INET_FRAG_FIRST_IN`), that fragment as it
//!   was received (link header, IP header, its payload), which the kernel's `ip_expire`
//!   (net/ipv4/ip_fragment.c) / `ip6frag_expire_frag_queue` (include/net/ipv6_frag.h) quote
//!   in the ICMP "fragment reassembly time exceeded" they send; the [`super::Director`]
//!   builds and queues that error (see [`super::Director::poll_icmp`]).

use std::collections::HashMap;
use std::net::IpAddr;
use std::time::{Duration, Instant};

use lvs_fwd::Parsed;

/// Largest IPv4 total length / IPv6 payload length of a reassembled datagram, bytes.
pub const MAX_DATAGRAM: usize = 65535;

/// Bytes of bookkeeping counted per queue.
const QUEUE_OVERHEAD: usize = 64;

/// Which datagram a fragment belongs to (the kernel's `frag_v4_compare_key` /
/// `frag_v6_compare_key`; IPv6 has no protocol in its key).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct FragKey {
    /// Source address.
    pub saddr: IpAddr,
    /// Destination address.
    pub daddr: IpAddr,
    /// IPv4 protocol; 0 for IPv6.
    pub protocol: u8,
    /// Identification (16 bits for IPv4, 32 for IPv6).
    pub id: u32,
}

/// What [`Reassembler::insert`] did with a fragment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FragInsert {
    /// Kept (or an ignored duplicate): the datagram is not complete yet.
    Held,
    /// The fragment completed the datagram of this key: call [`Reassembler::take`].
    Complete(FragKey),
    /// The fragment was refused (malformed, over the memory bound), or it dropped its whole
    /// queue (overlap, inconsistent length, oversized datagram).
    Dropped,
}

/// A reassembled datagram written by [`Reassembler::take`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Reassembled {
    /// Frame length in bytes (link header + IP datagram).
    pub len: usize,
    /// Largest fragment received, bytes of IP packet (the kernel's `frag_max_size`).
    pub frag_max_size: usize,
}

#[derive(Debug)]
struct Queue {
    created: Instant,
    /// Offset of the IP header in `head`.
    l3: usize,
    /// Link + IP header of the first fragment (IPv6: up to the fragment header, excluded).
    head: Vec<u8>,
    /// IPv6: the first fragment's fragment header (the 8 bytes `head` leaves out).
    frag_hdr: [u8; 8],
    /// Payload bytes of the first fragment held in `data` (from offset 0).
    first_len: usize,
    /// IPv6: offset in `head` of the next-header byte that named the fragment header; the
    /// fragment header's own next header.
    v6_next: Option<(usize, u8)>,
    data: Vec<u8>,
    /// Disjoint, sorted, merged ranges of `data` held.
    ranges: Vec<(usize, usize)>,
    total: Option<usize>,
    frag_max_size: usize,
    /// IPv4: the largest fragment had DF (the kernel's `max_df_size == max_size`).
    max_df: bool,
    mem: usize,
}

impl Queue {
    fn account(&self) -> usize {
        QUEUE_OVERHEAD + self.head.len() + self.data.len() + 8 * self.ranges.len()
    }
    fn complete(&self) -> bool {
        !self.head.is_empty()
            && self
                .total
                .is_some_and(|t| self.ranges.as_slice() == [(0, t)])
    }
}

/// A bounded IPv4 / IPv6 fragment reassembler (see the module docs for the rules).
#[derive(Debug)]
pub struct Reassembler {
    queues: HashMap<FragKey, Queue>,
    mem: usize,
    high_thresh: usize,
    timeout: Duration,
}

/// The parts of a fragment frame.
struct Piece<'a> {
    key: FragKey,
    head: &'a [u8],
    v6_next: Option<(usize, u8)>,
    /// IPv6: the fragment header.
    frag_hdr: [u8; 8],
    payload: &'a [u8],
    offset: usize,
    more: bool,
    df: bool,
    ip_len: usize,
}

fn piece<'a>(frame: &'a [u8], p: &Parsed) -> Option<Piece<'a>> {
    let f = p.fragment()?;
    let l3 = p.l3_offset();
    let end = p.end();
    let ip_len = end.checked_sub(l3)?;
    if p.is_ipv4() {
        let ihl = usize::from(frame.get(l3)? & 0x0f) * 4;
        let l4 = l3.checked_add(ihl)?;
        let df = frame.get(l3 + 6)? & 0x40 != 0;
        Some(Piece {
            key: FragKey {
                saddr: p.src(),
                daddr: p.dst(),
                protocol: *frame.get(l3 + 9)?,
                id: f.id,
            },
            head: frame.get(..l4)?,
            v6_next: None,
            frag_hdr: [0; 8],
            payload: frame.get(l4..end)?,
            offset: usize::from(f.offset) * 8,
            more: f.more,
            df,
            ip_len,
        })
    } else {
        // Walk to the fragment header (RFC 8200 section 4.1 order).
        let mut nh_at = l3 + 6;
        let mut nh = *frame.get(nh_at)?;
        let mut off = l3 + 40;
        for _ in 0..16 {
            match nh {
                44 => {
                    let fh = frame.get(off..off.checked_add(8)?)?;
                    return Some(Piece {
                        key: FragKey {
                            saddr: p.src(),
                            daddr: p.dst(),
                            protocol: 0,
                            id: f.id,
                        },
                        head: frame.get(..off)?,
                        v6_next: Some((nh_at, *fh.first()?)),
                        frag_hdr: fh.try_into().ok()?,
                        payload: frame.get(off + 8..end)?,
                        offset: usize::from(f.offset) * 8,
                        more: f.more,
                        df: false,
                        ip_len,
                    });
                }
                0 | 43 | 60 => {
                    let l = (usize::from(*frame.get(off + 1)?) + 1) * 8;
                    nh_at = off;
                    nh = *frame.get(off)?;
                    off = off.checked_add(l)?;
                }
                51 => {
                    let l = (usize::from(*frame.get(off + 1)?) + 2) * 4;
                    nh_at = off;
                    nh = *frame.get(off)?;
                    off = off.checked_add(l)?;
                }
                _ => return None,
            }
        }
        None
    }
}

impl Reassembler {
    /// A reassembler holding at most `high_thresh` bytes (`net.ipv4.ipfrag_high_thresh`) whose
    /// incomplete queues expire `time` after their first fragment (`net.ipv4.ipfrag_time`).
    #[must_use]
    pub fn new(high_thresh: usize, time: Duration) -> Self {
        Reassembler {
            queues: HashMap::new(),
            mem: 0,
            high_thresh,
            timeout: time,
        }
    }

    /// Bytes held now (always at most `high_thresh`).
    #[must_use]
    pub fn mem(&self) -> usize {
        self.mem
    }

    /// Number of incomplete datagrams held.
    #[must_use]
    pub fn queues(&self) -> usize {
        self.queues.len()
    }

    /// When the oldest queue expires, if any.
    #[must_use]
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.queues.values().map(|q| q.created + self.timeout).min()
    }

    /// Free the queues whose `ipfrag_time` has passed at `now`; returns how many.
    pub fn expire(&mut self, now: Instant) -> usize {
        self.expire_each(now, |_, _| {})
    }

    /// [`Reassembler::expire`], calling `f` for each freed queue with its key and, when its
    /// first fragment (offset 0) had arrived, that fragment as a frame: the link header and IP
    /// header it came with (IPv6: its fragment header included), then its payload (for an
    /// IPv4 non-last fragment, cut down to a multiple of 8 bytes as it was queued). Returns
    /// the number of queues freed.
    pub fn expire_each(
        &mut self,
        now: Instant,
        mut f: impl FnMut(&FragKey, Option<&[u8]>),
    ) -> usize {
        let before = self.queues.len();
        let t = self.timeout;
        let mut freed = 0;
        let mut first = Vec::new();
        self.queues.retain(|k, q| {
            let keep = now.saturating_duration_since(q.created) < t;
            if !keep {
                freed += q.mem;
                if q.head.is_empty() {
                    f(k, None);
                } else {
                    first.clear();
                    first.extend_from_slice(&q.head);
                    if q.v6_next.is_some() {
                        first.extend_from_slice(&q.frag_hdr);
                    }
                    first.extend_from_slice(q.data.get(..q.first_len).unwrap_or(&[]));
                    f(k, Some(&first));
                }
            }
            keep
        });
        self.mem = self.mem.saturating_sub(freed);
        before - self.queues.len()
    }

    fn kill(&mut self, key: &FragKey) {
        if let Some(q) = self.queues.remove(key) {
            self.mem = self.mem.saturating_sub(q.mem);
        }
    }

    /// Add the fragment `frame` (parsed as `p`, [`Parsed::fragment`] set) received at `now`.
    pub fn insert(&mut self, frame: &[u8], p: &Parsed, now: Instant) -> FragInsert {
        let Some(pc) = piece(frame, p) else {
            return FragInsert::Dropped;
        };
        let key = pc.key;
        let mut end = pc.offset + pc.payload.len();
        let hdr_extra = if pc.key.saddr.is_ipv4() {
            pc.head.len().saturating_sub(p.l3_offset())
        } else {
            pc.head.len().saturating_sub(p.l3_offset() + 40)
        };
        if pc.more {
            if pc.key.saddr.is_ipv4() {
                end &= !7;
            } else if pc.payload.len() % 8 != 0 {
                self.kill(&key);
                return FragInsert::Dropped;
            }
        }
        let exists = self.queues.contains_key(&key);
        if end.saturating_add(hdr_extra) > MAX_DATAGRAM || end <= pc.offset {
            self.kill(&key);
            return FragInsert::Dropped;
        }
        if let Some(q) = self.queues.get(&key) {
            let bad = match (pc.more, q.total) {
                (false, Some(t)) => t != end,
                (false, None) => q.ranges.last().is_some_and(|r| r.1 > end),
                (true, Some(t)) => end > t,
                (true, None) => false,
            };
            if bad {
                self.kill(&key);
                return FragInsert::Dropped;
            }
            // Duplicate inside a held range: ignored; any other overlap kills the queue.
            for &(a, b) in &q.ranges {
                if pc.offset >= a && end <= b {
                    return FragInsert::Held;
                }
                if pc.offset < b && end > a {
                    self.kill(&key);
                    return FragInsert::Dropped;
                }
            }
        }
        // Memory needed by this fragment.
        let (old_mem, old_data, head_len) = self
            .queues
            .get(&key)
            .map_or((0, 0, 0), |q| (q.mem, q.data.len(), q.head.len()));
        let grow = end.saturating_sub(old_data)
            + 8
            + if pc.offset == 0 {
                pc.head.len().saturating_sub(head_len)
            } else {
                0
            }
            + if exists { 0 } else { QUEUE_OVERHEAD };
        while self.mem + grow > self.high_thresh {
            let oldest = self
                .queues
                .iter()
                .filter(|(k, _)| **k != key)
                .min_by_key(|(_, q)| q.created)
                .map(|(k, _)| *k);
            match oldest {
                Some(k) => self.kill(&k),
                None => {
                    if !exists {
                        return FragInsert::Dropped;
                    }
                    break;
                }
            }
        }
        if self.mem + grow > self.high_thresh {
            self.kill(&key);
            return FragInsert::Dropped;
        }
        let q = self.queues.entry(key).or_insert_with(|| Queue {
            created: now,
            l3: 0,
            head: Vec::new(),
            frag_hdr: [0; 8],
            first_len: 0,
            v6_next: None,
            data: Vec::new(),
            ranges: Vec::new(),
            total: None,
            frag_max_size: 0,
            max_df: false,
            mem: 0,
        });
        if q.data.len() < end {
            q.data.resize(end, 0);
        }
        if let (Some(dst), Some(src)) = (
            q.data.get_mut(pc.offset..end),
            pc.payload.get(..end - pc.offset),
        ) {
            dst.copy_from_slice(src);
        }
        if pc.offset == 0 {
            q.head.clear();
            q.head.extend_from_slice(pc.head);
            q.l3 = p.l3_offset();
            q.v6_next = pc.v6_next;
            q.frag_hdr = pc.frag_hdr;
            q.first_len = end;
        }
        if !pc.more {
            q.total = Some(end);
        }
        if pc.ip_len > q.frag_max_size {
            q.frag_max_size = pc.ip_len;
            q.max_df = pc.df;
        } else if pc.ip_len == q.frag_max_size {
            q.max_df |= pc.df;
        }
        // Insert the range, merging neighbours.
        let i = q.ranges.partition_point(|r| r.1 <= pc.offset);
        q.ranges.insert(i, (pc.offset, end));
        merge_at(&mut q.ranges, i);
        if i > 0 {
            merge_at(&mut q.ranges, i - 1);
        }
        let new_mem = q.account();
        q.mem = new_mem;
        let complete = q.complete();
        self.mem = self.mem.saturating_sub(old_mem) + new_mem;
        if complete {
            FragInsert::Complete(key)
        } else {
            FragInsert::Held
        }
    }

    /// Remove the completed datagram of `key` and write it as one frame into `out` (link
    /// header of the first fragment; IPv4: MF and offset cleared, DF kept when the largest
    /// fragment had it, total length and header checksum fixed; IPv6: the fragment header
    /// removed, the next-header chain patched, payload length fixed). `None` (the queue is
    /// still freed) when `out` is too short or the queue is not complete.
    pub fn take(&mut self, key: &FragKey, out: &mut [u8]) -> Option<Reassembled> {
        let q = self.queues.remove(key)?;
        self.mem = self.mem.saturating_sub(q.mem);
        if !q.complete() {
            return None;
        }
        let hl = q.head.len();
        let len = hl + q.data.len();
        let o = out.get_mut(..len)?;
        let (h, d) = o.split_at_mut(hl);
        h.copy_from_slice(&q.head);
        d.copy_from_slice(&q.data);
        match q.v6_next {
            None => {
                let l3 = q.l3;
                let tot = u16::try_from(len - l3).ok()?;
                let ihl = usize::from(h.get(l3)? & 0x0f) * 4;
                h.get_mut(l3 + 2..l3 + 4)?
                    .copy_from_slice(&tot.to_be_bytes());
                let fo: u16 = if q.max_df { 0x4000 } else { 0 };
                h.get_mut(l3 + 6..l3 + 8)?
                    .copy_from_slice(&fo.to_be_bytes());
                h.get_mut(l3 + 10..l3 + 12)?.copy_from_slice(&[0, 0]);
                let c = lvs_fwd::checksum::checksum(h.get(l3..l3 + ihl)?);
                h.get_mut(l3 + 10..l3 + 12)?
                    .copy_from_slice(&c.to_be_bytes());
            }
            Some((at, next)) => {
                *h.get_mut(at)? = next;
                let l3 = q.l3;
                let pl = u16::try_from(len - l3 - 40).ok()?;
                h.get_mut(l3 + 4..l3 + 6)?
                    .copy_from_slice(&pl.to_be_bytes());
            }
        }
        Some(Reassembled {
            len,
            frag_max_size: q.frag_max_size,
        })
    }
}

/// Merge `r[i]` with `r[i + 1]` when they touch.
fn merge_at(r: &mut Vec<(usize, usize)>, i: usize) {
    if let (Some(&(a, b)), Some(&(c, d))) = (r.get(i), r.get(i + 1))
        && b == c
    {
        if let Some(x) = r.get_mut(i) {
            *x = (a, d);
        }
        r.remove(i + 1);
    }
}
