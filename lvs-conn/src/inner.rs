//! The per-address-family core of the table: a slab of compact entries (u32 indices, free
//! list), a chained hash index with intrusive u32 links, a hierarchical timer wheel with
//! intrusive u32 links and lazily extended deadlines, and the shed-class lists.
//!
//! Everything here is generic over the address representation (`u32` for IPv4, `[u8; 16]`
//! for IPv6) so an IPv4 entry stays at 104 bytes: a 64-byte cache line of hot fields
//! ([`Entry`]) and 40 bytes of cold ones ([`Cold`]) in a parallel slab.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use crate::flags::conn_flags as cf;
use crate::proto::{SctpState, TcpState, ipproto};

pub(crate) const NIL: u32 = u32::MAX;
/// Tag in `wprev`: the entry heads wheel slot `wprev & !HEAD`.
const HEAD: u32 = 0x8000_0000;
/// Internal flag: the slot holds a live entry.
pub(crate) const F_LIVE: u16 = 0x8000;
/// Internal flag: template invalidated by `check_template` (made unmatchable).
pub(crate) const F_INVALID: u16 = 0x4000;
/// Mask of the kernel's flag bits kept in an entry (`IP_VS_CONN_F_*` below bit 14).
pub(crate) const KERNEL_FLAGS: u16 = 0x3fef;

/// Largest slab index (indices must stay below the wheel's HEAD tag).
pub(crate) const MAX_INDEX: u32 = (1 << 30) - 1;

/// Wheel geometry: 6 levels of 64 slots, tick = 10 ms (covers 2^36 ticks, ~21 years).
const LEVELS: usize = 6;
const SLOTS: usize = 64;
/// Length of one wheel tick in milliseconds.
pub(crate) const TICK_MS: u64 = 10;
/// Ticks per second.
pub(crate) const TICKS_PER_SEC: u64 = 1000 / TICK_MS;

/// Number of shed classes (see `ConnTable` docs for their order).
pub(crate) const SHED_CLASSES: usize = 4;

/// Address storage of one family.
pub(crate) trait Addr: Copy + Eq + Default + std::fmt::Debug + 'static {
    /// Fold into 64 bits for hashing.
    fn fold(self) -> u64;
    fn to_ip(self) -> IpAddr;
}

impl Addr for u32 {
    #[inline]
    fn fold(self) -> u64 {
        u64::from(self)
    }
    fn to_ip(self) -> IpAddr {
        IpAddr::V4(Ipv4Addr::from_bits(self))
    }
}

impl Addr for [u8; 16] {
    #[inline]
    fn fold(self) -> u64 {
        let v = u128::from_be_bytes(self);
        mix(v as u64, ((v >> 64) as u64) | 1)
    }
    fn to_ip(self) -> IpAddr {
        IpAddr::V6(Ipv6Addr::from(self))
    }
}

#[inline]
fn mix(a: u64, b: u64) -> u64 {
    let r = u128::from(a).wrapping_mul(u128::from(b));
    (r as u64) ^ ((r >> 64) as u64)
}

/// Seeded hash of (protocol, address, port): a folded 64x64->128 multiply (wyhash's "mum")
/// keyed by two secret words derived from the caller's seed.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Hasher {
    k0: u64,
    k1: u64,
}

impl Hasher {
    pub(crate) fn new(seed: u64) -> Hasher {
        let k0 = splitmix(seed);
        let k1 = splitmix(k0) | 1;
        Hasher { k0, k1 }
    }
    #[inline]
    pub(crate) fn hash<A: Addr>(&self, proto: u8, addr: A, port: u16) -> u64 {
        let a = addr.fold() ^ self.k0;
        let b = (u64::from(port) << 8 | u64::from(proto)) ^ self.k1;
        let h = mix(a, b | 1 << 40);
        h ^ (h >> 29)
    }
}

pub(crate) fn splitmix(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    let mut z = x;
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// The hot part of one connection or template: everything a lookup compares and everything
/// a packet that does not change the state reads or writes (`on_packet`, generation check,
/// `dest_of`, `addrs`). `repr(C, align(64))`: exactly one cache line for IPv4 (`A = u32`,
/// 64 bytes), two for IPv6 (128 bytes), so a lookup plus `on_packet` of an established
/// flow touches one line per visited IPv4 entry. The rest lives in [`Cold`] at the same
/// slab index.
#[derive(Clone, Copy, Debug)]
#[repr(C, align(64))]
pub(crate) struct Entry<A> {
    pub(crate) caddr: A,
    pub(crate) vaddr: A,
    pub(crate) cport: u16,
    pub(crate) vport: u16,
    /// Kernel `IP_VS_CONN_F_*` bits (below 0x4000) plus F_LIVE / F_INVALID.
    pub(crate) flags: u16,
    pub(crate) proto: u8,
    pub(crate) state: u8,
    /// Next in the inbound hash chain; next free slot when not live.
    hnext: u32,
    pub(crate) daddr: A,
    pub(crate) dport: u16,
    /// Real-server handle or NIL.
    pub(crate) dest: u32,
    /// Generation, bumped when the slot is freed (stale `ConnId`s then miss).
    pub(crate) generation: u32,
    /// Expiry time in wheel ticks (wrapping u32; always within 2^31 ticks of now).
    pub(crate) deadline: u32,
    /// Current timeout in seconds (`cp->timeout`).
    pub(crate) timeout: u32,
    pub(crate) in_pkts: u32,
    pub(crate) out_pkts: u32,
    /// Low 32 bits of `out_bytes` (the high half is [`Cold::out_bytes_hi`], touched only
    /// when this one wraps, once per 4 GiB).
    out_bytes_lo: u32,
    pub(crate) in_bytes: u64,
}

/// The cold part of an entry (same slab index as its [`Entry`]): links of the timer wheel,
/// the shed lists and the FULLNAT reply index, the FULLNAT local address, the control
/// fields and sync's `old_state`; touched on insert, removal, expiry, state change and
/// FULLNAT only. 40 bytes for IPv4.
#[derive(Clone, Copy, Debug)]
#[repr(C)]
pub(crate) struct Cold<A> {
    pub(crate) laddr: A,
    pub(crate) lport: u16,
    /// State when last sent by connection sync (`cp->old_state`).
    pub(crate) old_state: u8,
    /// Next in the FULLNAT reply hash chain.
    onext: u32,
    wprev: u32,
    wnext: u32,
    sprev: u32,
    snext: u32,
    /// Controlling entry (template or control connection) index, or NIL.
    pub(crate) control: u32,
    /// Number of entries this one controls (`cp->n_control`).
    pub(crate) n_control: u32,
    /// High 32 bits of `out_bytes`.
    out_bytes_hi: u32,
}

impl<A: Addr> Cold<A> {
    fn empty() -> Self {
        Cold {
            laddr: A::default(),
            lport: 0,
            old_state: 0,
            onext: NIL,
            wprev: NIL,
            wnext: NIL,
            sprev: NIL,
            snext: NIL,
            control: NIL,
            n_control: 0,
            out_bytes_hi: 0,
        }
    }
}

// An IPv4 entry's hot part is exactly one 64-byte cache line at a 64-byte boundary.
const _: () =
    assert!(std::mem::size_of::<Entry<u32>>() == 64 && std::mem::align_of::<Entry<u32>>() == 64);

/// Bytes of one entry, hot and cold parts (the slab cost per slot).
fn slot_bytes<A>() -> usize {
    std::mem::size_of::<Entry<A>>() + std::mem::size_of::<Cold<A>>()
}

impl<A: Addr> Entry<A> {
    fn empty() -> Self {
        Entry {
            caddr: A::default(),
            vaddr: A::default(),
            daddr: A::default(),
            in_bytes: 0,
            out_bytes_lo: 0,
            cport: 0,
            vport: 0,
            dport: 0,
            flags: 0,
            proto: 0,
            state: 0,
            dest: NIL,
            generation: 0,
            deadline: 0,
            timeout: 0,
            hnext: NIL,
            in_pkts: 0,
            out_pkts: 0,
        }
    }
    /// Add `bytes` to the 64-bit `out_bytes` (wrapping, as a u64 would): the low half
    /// here, a carry into `cold` when it wraps.
    #[inline]
    pub(crate) fn add_out_bytes(&mut self, cold: &mut Cold<A>, bytes: u32) {
        let (lo, wrapped) = self.out_bytes_lo.overflowing_add(bytes);
        self.out_bytes_lo = lo;
        if wrapped {
            cold.out_bytes_hi = cold.out_bytes_hi.wrapping_add(1);
        }
    }
    #[inline]
    pub(crate) fn live(&self) -> bool {
        self.flags & F_LIVE != 0
    }
    #[inline]
    pub(crate) fn kflags(&self) -> u32 {
        u32::from(self.flags & KERNEL_FLAGS)
    }
    #[inline]
    pub(crate) fn is_template(&self) -> bool {
        u32::from(self.flags) & cf::TEMPLATE != 0
    }
    #[inline]
    fn is_fullnat(&self) -> bool {
        u32::from(self.flags) & cf::FWD_MASK == cf::FULLNAT && !self.is_template()
    }
    /// The connection (not a template) of inbound packet `k` (CIP:cport -> VIP:vport).
    #[inline]
    fn matches_in(&self, &(proto, caddr, cport, vaddr, vport): &WalkKey<A>) -> bool {
        self.cport == cport
            && self.vport == vport
            && self.caddr == caddr
            && self.vaddr == vaddr
            && self.proto == proto
            && !self.is_template()
    }
    /// The FULLNAT connection of reply `k` (RIP:rport -> LIP:lport); `c` is this entry's
    /// cold part.
    #[inline]
    fn matches_fullnat_reply(
        &self,
        c: &Cold<A>,
        &(proto, saddr, sport, daddr, dport): &WalkKey<A>,
    ) -> bool {
        c.lport == dport
            && self.dport == sport
            && c.laddr == daddr
            && self.daddr == saddr
            && self.proto == proto
    }
    /// The NAT connection of reply `k` (RIP:rport -> CIP:cport).
    #[inline]
    fn matches_nat_reply(&self, &(proto, saddr, sport, daddr, dport): &WalkKey<A>) -> bool {
        self.cport == dport
            && self.dport == sport
            && self.caddr == daddr
            && self.daddr == saddr
            && self.proto == proto
            && !self.is_template()
            && !self.is_fullnat()
    }
}

/// The fields of a removed entry its accounting needs (returned by `Inner::free`).
#[derive(Clone, Copy, Debug)]
pub(crate) struct Freed {
    pub(crate) proto: u8,
    pub(crate) state: u8,
    /// Kernel flag bits plus the internal ones, as in the entry.
    pub(crate) flags: u16,
    pub(crate) dest: u32,
    pub(crate) control: u32,
}

impl Freed {
    #[inline]
    pub(crate) fn kflags(&self) -> u32 {
        u32::from(self.flags & KERNEL_FLAGS)
    }
}

/// Shed class of an entry, `None` when it must never be evicted (ESTABLISHED, templates).
/// 0: closed (TCP TIME_WAIT, CLOSE; SCTP CLOSED, REJECTED); 1: embryonic (TCP NONE,
/// SYN_SENT, SYN_RECV, SYNACK, LISTEN; SCTP NONE..COOKIE_ECHOED); 2: half-closed (TCP
/// FIN_WAIT, CLOSE_WAIT, LAST_ACK; SCTP SHUTDOWN_*); 3: UDP.
pub(crate) fn shed_class(proto: u8, state: u8, flags: u16) -> Option<usize> {
    if u32::from(flags) & cf::TEMPLATE != 0 {
        return None;
    }
    match proto {
        ipproto::TCP => match TcpState::from_u8(state)? {
            TcpState::TimeWait | TcpState::Close => Some(0),
            TcpState::None
            | TcpState::SynSent
            | TcpState::SynRecv
            | TcpState::SynAck
            | TcpState::Listen => Some(1),
            TcpState::FinWait | TcpState::CloseWait | TcpState::LastAck => Some(2),
            TcpState::Established => None,
        },
        ipproto::SCTP => match SctpState::from_u8(state)? {
            SctpState::Closed | SctpState::Rejected => Some(0),
            SctpState::Established => None,
            SctpState::ShutdownSent | SctpState::ShutdownReceived | SctpState::ShutdownAckSent => {
                Some(2)
            }
            _ => Some(1),
        },
        _ => Some(3),
    }
}

#[derive(Clone, Debug)]
struct Wheel {
    /// Ticks processed so far (absolute, since the table's epoch).
    elapsed: u64,
    /// Slot being drained by `pop_expired` (level, slot).
    draining: Option<(usize, usize)>,
    occupied: [u64; LEVELS],
    heads: [[u32; SLOTS]; LEVELS],
}

/// The per-family table.
#[derive(Clone, Debug)]
pub(crate) struct Inner<A> {
    /// Hot parts, one cache line per IPv4 entry (`Entry` is 64-aligned).
    pub(crate) slab: Vec<Entry<A>>,
    /// Cold parts, same index as `slab` (always the same length).
    cold: Vec<Cold<A>>,
    free: u32,
    pub(crate) len: u32,
    buckets: Vec<u32>,
    obuckets: Vec<u32>,
    fullnat_len: u32,
    wheel: Wheel,
    shed_head: [u32; SHED_CLASSES],
    shed_tail: [u32; SHED_CLASSES],
    pub(crate) shed_len: [u32; SHED_CLASSES],
    /// Bumped whenever an entry enters or leaves the indices (see `ConnTable::index_epoch`).
    pub(crate) epoch: u64,
}

/// Keys per round of the staged batch walks (`find_in_batch`, `find_out_batch`).
pub(crate) const WALK_BATCH: usize = 32;

/// Entries per round of expiry (`warm_unhash`): its staged walk takes as many rounds as the
/// longest chain of the round, whatever the number of entries, so a larger round spreads
/// those latencies over more entries.
pub(crate) const EXPIRE_BATCH: usize = 64;

/// One key of a batch walk: protocol, packet source address and port, destination address
/// and port (inbound: CIP:cport -> VIP:vport; reply: RIP:rport -> CIP:cport or LIP:lport).
pub(crate) type WalkKey<A> = (u8, A, u16, A, u16);

const INITIAL_BUCKETS: usize = 4096;

/// Inbound-index buckets (at least) for `n` entries: 4 per entry while that is at most 2^21
/// buckets (8 MiB, an index that stays in a server's last-level cache), 2 per entry beyond.
/// At load 1/4 a hit passes ~0.12 other entries of its chain on average and a miss (a NAT
/// reply's inbound lookup) ~0.25; at load 1/2 ~0.25 and ~0.5. Beyond 8 MiB the bigger
/// index's own cache misses cost more than the chain entries it saves (measured: inserts at
/// 1M entries 101-119 ns at load 1/2, 151-163 ns at 1/4; BENCHMARKS.md).
fn index_buckets_for(n: usize) -> usize {
    const CACHED_INDEX_BUCKETS: usize = 1 << 21;
    let per_entry = if n.saturating_mul(4) <= CACHED_INDEX_BUCKETS {
        4
    } else {
        2
    };
    n.saturating_mul(per_entry)
}

impl<A: Addr> Inner<A> {
    pub(crate) fn new() -> Self {
        Inner {
            slab: Vec::new(),
            cold: Vec::new(),
            free: NIL,
            len: 0,
            buckets: Vec::new(),
            obuckets: Vec::new(),
            fullnat_len: 0,
            wheel: Wheel {
                elapsed: 0,
                draining: None,
                occupied: [0; LEVELS],
                heads: [[NIL; SLOTS]; LEVELS],
            },
            shed_head: [NIL; SHED_CLASSES],
            shed_tail: [NIL; SHED_CLASSES],
            shed_len: [0; SHED_CLASSES],
            epoch: 0,
        }
    }

    /// Bytes allocated by this family (hot and cold slabs + both indices), by capacity.
    pub(crate) fn bytes(&self) -> usize {
        self.slab.capacity() * std::mem::size_of::<Entry<A>>()
            + self.cold.capacity() * std::mem::size_of::<Cold<A>>()
            + (self.buckets.capacity() + self.obuckets.capacity()) * 4
    }

    /// Bytes the next allocation of one entry may add (slab growth and index growth).
    pub(crate) fn growth_bytes(&self, max_entries: u32) -> usize {
        let mut b = 0;
        if self.free == NIL && self.slab.len() == self.slab.capacity() {
            let new_cap = self.next_slab_cap(max_entries);
            b += (new_cap - self.slab.capacity()) * slot_bytes::<A>();
        }
        let n = self.len as usize + 1;
        if self.buckets.is_empty() {
            b += INITIAL_BUCKETS * 4;
        } else if index_buckets_for(n) > self.buckets.len() {
            b += self.buckets.len() * 4;
        }
        b
    }

    fn next_slab_cap(&self, max_entries: u32) -> usize {
        let cap = self.slab.capacity();
        let want = if cap < 1024 { 1024 } else { cap * 2 };
        want.min(max_entries as usize).max(cap + 1)
    }

    #[inline]
    pub(crate) fn get(&self, idx: u32) -> Option<&Entry<A>> {
        self.slab.get(idx as usize).filter(|e| e.live())
    }

    #[inline]
    pub(crate) fn get_mut(&mut self, idx: u32) -> Option<&mut Entry<A>> {
        self.slab.get_mut(idx as usize).filter(|e| e.live())
    }

    /// The cold part of live entry `idx`.
    #[inline]
    pub(crate) fn get_cold(&self, idx: u32) -> Option<&Cold<A>> {
        self.get(idx)?;
        self.cold.get(idx as usize)
    }

    /// The cold part of live entry `idx`, mutable.
    #[inline]
    pub(crate) fn get_cold_mut(&mut self, idx: u32) -> Option<&mut Cold<A>> {
        self.get(idx)?;
        self.cold.get_mut(idx as usize)
    }

    /// Both parts of live entry `idx` (taking the cold reference loads nothing).
    #[inline]
    pub(crate) fn get_both(&self, idx: u32) -> Option<(&Entry<A>, &Cold<A>)> {
        Some((self.get(idx)?, self.cold.get(idx as usize)?))
    }

    /// Both parts of live entry `idx`, mutable (taking the cold reference loads nothing).
    #[inline(always)]
    pub(crate) fn get_both_mut(&mut self, idx: u32) -> Option<(&mut Entry<A>, &mut Cold<A>)> {
        let e = self.slab.get_mut(idx as usize).filter(|e| e.live())?;
        Some((e, self.cold.get_mut(idx as usize)?))
    }

    /// `out_bytes` of entry `idx` (low half hot, high half cold).
    pub(crate) fn out_bytes(&self, idx: u32) -> u64 {
        match self.get_both(idx) {
            Some((e, c)) => u64::from(c.out_bytes_hi) << 32 | u64::from(e.out_bytes_lo),
            None => 0,
        }
    }

    #[inline]
    fn bucket_of(&self, h: u64) -> usize {
        (h as usize) & (self.buckets.len().wrapping_sub(1))
    }

    /// The inbound-index bucket entry `e` is hashed in: (protocol, CIP, cport), port 0 for
    /// a template (`ip_vs_conn_hashkey_conn()`).
    #[inline]
    fn home_bucket(&self, hasher: &Hasher, e: &Entry<A>) -> usize {
        let port = if e.is_template() { 0 } else { e.cport };
        self.bucket_of(hasher.hash(e.proto, e.caddr, port))
    }

    // ----------------------------------------------------------------------- lookups

    /// Inbound lookup (client -> VIP), templates excluded.
    #[inline]
    pub(crate) fn find_in(
        &self,
        hasher: &Hasher,
        proto: u8,
        caddr: A,
        cport: u16,
        vaddr: A,
        vport: u16,
    ) -> Option<u32> {
        if self.buckets.is_empty() {
            return None;
        }
        let b = self.bucket_of(hasher.hash(proto, caddr, cport));
        let key = (proto, caddr, cport, vaddr, vport);
        let mut i = *self.buckets.get(b)?;
        while let Some(e) = self.slab.get(i as usize) {
            if e.matches_in(&key) {
                return Some(i);
            }
            i = e.hnext;
        }
        None
    }

    /// Template lookup by <proto, masked caddr, cport 0, vaddr, vport>.
    pub(crate) fn find_template(
        &self,
        hasher: &Hasher,
        proto: u8,
        caddr: A,
        vaddr: A,
        vport: u16,
    ) -> Option<u32> {
        if self.buckets.is_empty() {
            return None;
        }
        let b = self.bucket_of(hasher.hash(proto, caddr, 0));
        let mut i = *self.buckets.get(b)?;
        while let Some(e) = self.slab.get(i as usize) {
            if e.is_template()
                && e.flags & F_INVALID == 0
                && e.cport == 0
                && e.vport == vport
                && e.caddr == caddr
                && e.vaddr == vaddr
                && e.proto == proto
            {
                return Some(i);
            }
            i = e.hnext;
        }
        None
    }

    /// Outbound (reply) lookup of a packet saddr:sport -> daddr:dport. FULLNAT replies
    /// (RIP:rport -> LIP:lport) are tried first, then NAT replies (RIP:rport -> CIP:cport)
    /// in the client-keyed chain, as `__ip_vs_conn_out_get()` (ip_vs_conn.c).
    #[inline]
    pub(crate) fn find_out(
        &self,
        hasher: &Hasher,
        proto: u8,
        saddr: A,
        sport: u16,
        daddr: A,
        dport: u16,
    ) -> Option<u32> {
        let key = (proto, saddr, sport, daddr, dport);
        if self.fullnat_len > 0 && !self.obuckets.is_empty() {
            let h = hasher.hash(proto, daddr, dport);
            let b = (h as usize) & (self.obuckets.len() - 1);
            let mut i = *self.obuckets.get(b)?;
            while let (Some(e), Some(c)) = (self.slab.get(i as usize), self.cold.get(i as usize)) {
                if e.matches_fullnat_reply(c, &key) {
                    return Some(i);
                }
                i = c.onext;
            }
        }
        if self.buckets.is_empty() {
            return None;
        }
        let b = self.bucket_of(hasher.hash(proto, daddr, dport));
        let mut i = *self.buckets.get(b)?;
        while let Some(e) = self.slab.get(i as usize) {
            if e.matches_nat_reply(&key) {
                return Some(i);
            }
            i = e.hnext;
        }
        None
    }

    /// FULLNAT: is (proto, laddr, lport, daddr, dport) used?
    pub(crate) fn local_in_use(
        &self,
        hasher: &Hasher,
        proto: u8,
        laddr: A,
        lport: u16,
        daddr: A,
        dport: u16,
    ) -> bool {
        self.fullnat_len > 0
            && self
                .find_out(hasher, proto, daddr, dport, laddr, lport)
                .is_some()
    }

    // ----------------------------------------------------------------------- alloc / index

    /// Allocate a slot for `e` (flags must include F_LIVE) and link it into the index,
    /// the wheel (at `deadline_ticks`) and its shed list. Returns the index, or `None` if
    /// the slab cannot grow (index space exhausted).
    pub(crate) fn alloc(
        &mut self,
        hasher: &Hasher,
        (mut e, c): (Entry<A>, Cold<A>),
        deadline_ticks: u64,
        max_entries: u32,
    ) -> Option<u32> {
        // Grow the index first: a rehash must not see the new entry, which is linked once
        // below (linking it twice would make its chain a cycle).
        self.grow_index(hasher, self.len as usize + 1);
        let idx = if self.free != NIL {
            let idx = self.free;
            let slot = self.slab.get_mut(idx as usize)?;
            let cslot = self.cold.get_mut(idx as usize)?;
            self.free = slot.hnext;
            e.generation = slot.generation;
            *slot = e;
            *cslot = c;
            idx
        } else {
            let idx = u32::try_from(self.slab.len()).ok()?;
            if idx > MAX_INDEX {
                return None;
            }
            if self.slab.len() == self.slab.capacity() {
                let extra = self.next_slab_cap(max_entries) - self.slab.capacity();
                self.slab.reserve_exact(extra);
                self.cold.reserve_exact(extra);
            }
            self.slab.push(e);
            self.cold.push(c);
            idx
        };
        self.len += 1;
        self.epoch = self.epoch.wrapping_add(1);
        self.hash_in(hasher, idx);
        if self.slab.get(idx as usize).is_some_and(Entry::is_fullnat) {
            self.fullnat_len += 1;
            self.grow_oindex(hasher);
            self.hash_out(hasher, idx);
        }
        self.wheel_link(idx, deadline_ticks);
        self.shed_link(idx);
        Some(idx)
    }

    /// Slab capacity and bucket count that hold `n` more entries without growing (the slab
    /// capped at `max_entries`, or at its current length if larger).
    fn reserve_target(&self, n: usize, max_entries: u32) -> (usize, usize) {
        let live = self.len as usize;
        let slab_cap = live
            .saturating_add(n)
            .min(max_entries as usize)
            .min(MAX_INDEX as usize + 1)
            .max(self.slab.len())
            .max(self.slab.capacity());
        let want = live.saturating_add(n).min(slab_cap);
        let mut buckets = self.buckets.len().max(INITIAL_BUCKETS);
        while index_buckets_for(want) > buckets {
            buckets *= 2;
        }
        (slab_cap, buckets)
    }

    /// Bytes [`Inner::reserve`] would add.
    pub(crate) fn reserve_bytes(&self, n: usize, max_entries: u32) -> usize {
        if n == 0 {
            return 0;
        }
        let (slab_cap, buckets) = self.reserve_target(n, max_entries);
        (slab_cap - self.slab.capacity()) * slot_bytes::<A>() + (buckets - self.buckets.len()) * 4
    }

    /// Reserve room for `n` more entries (slab and inbound index) so that inserting them
    /// reallocates and rehashes nothing; the slab reservation is capped at `max_entries`.
    pub(crate) fn reserve(&mut self, hasher: &Hasher, n: usize, max_entries: u32) {
        if n == 0 {
            return;
        }
        let (slab_cap, buckets) = self.reserve_target(n, max_entries);
        if slab_cap > self.slab.capacity() {
            self.slab.reserve_exact(slab_cap - self.slab.len());
            self.cold.reserve_exact(slab_cap - self.cold.len());
        }
        if buckets > self.buckets.len() {
            self.rehash(hasher, buckets);
        }
    }

    /// Make room in the inbound index for `want` entries ([`index_buckets_for`]).
    fn grow_index(&mut self, hasher: &Hasher, want: usize) {
        if self.buckets.is_empty() {
            self.buckets = vec![NIL; INITIAL_BUCKETS];
            return;
        }
        if index_buckets_for(want) <= self.buckets.len() {
            return;
        }
        self.rehash(hasher, self.buckets.len() * 2);
    }

    /// Rebuild the inbound index with `n` buckets (a power of two).
    fn rehash(&mut self, hasher: &Hasher, n: usize) {
        self.buckets = vec![NIL; n];
        for i in 0..self.slab.len() {
            let i = i as u32;
            if self.slab.get(i as usize).is_some_and(|e| e.live()) {
                self.hash_in(hasher, i);
            }
        }
    }

    fn grow_oindex(&mut self, hasher: &Hasher) {
        let want = if self.obuckets.is_empty() {
            INITIAL_BUCKETS
        } else if (self.fullnat_len as usize) > self.obuckets.len() {
            self.obuckets.len() * 2
        } else {
            return;
        };
        // Entries being re-hashed must not include the one about to be linked by the
        // caller; it is not yet in the chain (hash_out is called after this).
        self.obuckets = vec![NIL; want];
        for i in 0..self.slab.len() {
            let i = i as u32;
            let relink = self
                .slab
                .get(i as usize)
                .is_some_and(|e| e.live() && e.is_fullnat() && e.flags & HASHED_OUT != 0);
            if relink {
                self.hash_out(hasher, i);
            }
        }
    }

    fn hash_in(&mut self, hasher: &Hasher, idx: u32) {
        let Some(e) = self.slab.get(idx as usize) else {
            return;
        };
        let b = self.home_bucket(hasher, e);
        let Some(head) = self.buckets.get_mut(b) else {
            return;
        };
        let old = *head;
        *head = idx;
        if let Some(e) = self.slab.get_mut(idx as usize) {
            e.hnext = old;
            e.flags |= cf::HASHED as u16;
        }
    }

    fn hash_out(&mut self, hasher: &Hasher, idx: u32) {
        let (Some(e), Some(c)) = (self.slab.get(idx as usize), self.cold.get(idx as usize)) else {
            return;
        };
        let h = hasher.hash(e.proto, c.laddr, c.lport);
        let b = (h as usize) & (self.obuckets.len().wrapping_sub(1));
        let Some(head) = self.obuckets.get_mut(b) else {
            return;
        };
        let old = *head;
        *head = idx;
        if let Some(c) = self.cold.get_mut(idx as usize) {
            c.onext = old;
        }
        if let Some(e) = self.slab.get_mut(idx as usize) {
            e.flags |= HASHED_OUT;
        }
    }

    /// Staged chain walk for up to [`WALK_BATCH`] keys at once: `cur[i]` starts at key i's
    /// chain head; each round reads one entry per unfinished key (the loads of different
    /// keys are independent, so their cache misses overlap instead of adding up), records a
    /// match in `out[i]` and follows `next` otherwise. An IPv4 entry's hot part is one
    /// cache line holding the compared fields, the chain link and the per-packet counters
    /// and deadline, so one load per entry warms all a hit's packet update writes; with
    /// `cold`, the entry's cold part (FULLNAT chain link and local address) is loaded too.
    /// `matches` gets key i, the entry's index and hot part; `next` the index and hot part.
    #[inline]
    fn walk_batch<K>(
        &self,
        cur: &mut [u32; WALK_BATCH],
        out: &mut [u32],
        keys: &[K],
        cold: bool,
        matches: impl Fn(&K, u32, &Entry<A>) -> bool,
        next: impl Fn(u32, &Entry<A>) -> u32,
    ) {
        loop {
            // Issue this round's loads first, in a loop short enough for the CPU to have
            // them all in flight at once; the comparisons below then hit the cache.
            let mut warm = 0u32;
            for &c in cur.iter() {
                if let Some(e) = self.slab.get(c as usize) {
                    warm ^= e.hnext;
                }
                if cold && let Some(e) = self.cold.get(c as usize) {
                    warm ^= e.onext;
                }
            }
            std::hint::black_box(warm);
            let mut pending = false;
            for ((c, o), k) in cur.iter_mut().zip(out.iter_mut()).zip(keys) {
                // NIL (done) is never a slab index.
                let Some(e) = self.slab.get(*c as usize) else {
                    continue;
                };
                if matches(k, *c, e) {
                    *o = *c;
                    *c = NIL;
                } else {
                    *c = next(*c, e);
                    pending |= *c != NIL;
                }
            }
            if !pending {
                break;
            }
        }
    }

    /// Chain heads of `buckets[b[i]]` (hash indices computed first, then the loads issued
    /// back to back so their misses overlap).
    #[inline]
    fn heads(buckets: &[u32], b: &[usize; WALK_BATCH], n: usize, cur: &mut [u32; WALK_BATCH]) {
        for (c, &b) in cur.iter_mut().zip(b).take(n) {
            if b != usize::MAX {
                *c = buckets.get(b).copied().unwrap_or(NIL);
            }
        }
    }

    /// [`Inner::find_in`] for `keys` (at most [`WALK_BATCH`]), `out[i]` = index or NIL.
    pub(crate) fn find_in_batch(&self, hasher: &Hasher, keys: &[WalkKey<A>], out: &mut [u32]) {
        let mut cur = [NIL; WALK_BATCH];
        if !self.buckets.is_empty() {
            let mut b = [usize::MAX; WALK_BATCH];
            for (b, &(proto, caddr, cport, _, _)) in b.iter_mut().zip(keys) {
                *b = self.bucket_of(hasher.hash(proto, caddr, cport));
            }
            Self::heads(&self.buckets, &b, keys.len(), &mut cur);
        }
        for o in out.iter_mut() {
            *o = NIL;
        }
        self.walk_batch(
            &mut cur,
            out,
            keys,
            false,
            |k, _, e| e.matches_in(k),
            |_, e| e.hnext,
        );
    }

    /// [`Inner::find_out`] for the keys whose `out[i]` is NIL (at most [`WALK_BATCH`]); the
    /// others are left alone (already resolved by an inbound walk).
    pub(crate) fn find_out_batch(&self, hasher: &Hasher, keys: &[WalkKey<A>], out: &mut [u32]) {
        let todo = |i: usize| out.get(i).is_some_and(|&o| o == NIL);
        let mut cur = [NIL; WALK_BATCH];
        let mut b = [usize::MAX; WALK_BATCH];
        if self.fullnat_len > 0 && !self.obuckets.is_empty() {
            for (i, (b, &(proto, _, _, daddr, dport))) in b.iter_mut().zip(keys).enumerate() {
                if todo(i) {
                    *b = (hasher.hash(proto, daddr, dport) as usize) & (self.obuckets.len() - 1);
                }
            }
            Self::heads(&self.obuckets, &b, keys.len(), &mut cur);
            let cold = |x: u32| self.cold.get(x as usize);
            self.walk_batch(
                &mut cur,
                out,
                keys,
                true,
                |k, x, e| cold(x).is_some_and(|c| e.matches_fullnat_reply(c, k)),
                |x, _| cold(x).map_or(NIL, |c| c.onext),
            );
        }
        if self.buckets.is_empty() {
            return;
        }
        for (i, (b, &(proto, _, _, daddr, dport))) in b.iter_mut().zip(keys).enumerate() {
            *b = if out.get(i).is_some_and(|&o| o == NIL) {
                self.bucket_of(hasher.hash(proto, daddr, dport))
            } else {
                usize::MAX
            };
        }
        cur = [NIL; WALK_BATCH];
        Self::heads(&self.buckets, &b, keys.len(), &mut cur);
        self.walk_batch(
            &mut cur,
            out,
            keys,
            false,
            |k, _, e| e.matches_nat_reply(k),
            |_, e| e.hnext,
        );
    }

    /// Walk the inbound-index chains of the entries `idxs` (at most [`EXPIRE_BATCH`]; entries
    /// about to be freed) together, read only, up to each entry's predecessor: one round
    /// reads one chain node per entry, loads independent of each other whose cache misses
    /// overlap. [`Inner::free`] then finds every node its `unhash_in` walk reads in cache
    /// instead of waiting for one miss per node in turn (an expiring entry is usually the
    /// oldest, so the last, of its chain). Returns a fold of what it read, for `black_box`.
    pub(crate) fn warm_unhash(&self, hasher: &Hasher, idxs: &[u32]) -> u32 {
        let mut cur = [NIL; EXPIRE_BATCH];
        if self.buckets.is_empty() {
            return 0;
        }
        for (c, &idx) in cur.iter_mut().zip(idxs) {
            if let Some(e) = self.slab.get(idx as usize) {
                *c = self
                    .buckets
                    .get(self.home_bucket(hasher, e))
                    .copied()
                    .unwrap_or(NIL);
            }
        }
        let mut fold = 0u32;
        loop {
            let mut pending = false;
            for (c, &idx) in cur.iter_mut().zip(idxs) {
                if *c == NIL || *c == idx {
                    continue;
                }
                // Chains are acyclic and end in NIL, so every walk ends (at the
                // predecessor, or at NIL for an entry not in its chain).
                match self.slab.get(*c as usize) {
                    Some(p) if p.hnext != idx => {
                        *c = p.hnext;
                        fold ^= *c;
                        pending |= *c != NIL;
                    }
                    _ => *c = NIL,
                }
            }
            if !pending {
                return fold;
            }
        }
    }

    fn unhash_in(&mut self, hasher: &Hasher, idx: u32) {
        let Some(e) = self.slab.get(idx as usize) else {
            return;
        };
        let next = e.hnext;
        let b = self.home_bucket(hasher, e);
        let Some(&head) = self.buckets.get(b) else {
            return;
        };
        if head == idx {
            if let Some(h) = self.buckets.get_mut(b) {
                *h = next;
            }
        } else {
            let mut i = head;
            while let Some(p) = self.slab.get_mut(i as usize) {
                if p.hnext == idx {
                    p.hnext = next;
                    break;
                }
                i = p.hnext;
            }
        }
        if let Some(e) = self.slab.get_mut(idx as usize) {
            e.hnext = NIL;
            e.flags &= !(cf::HASHED as u16);
        }
    }

    fn unhash_out(&mut self, hasher: &Hasher, idx: u32) {
        let (Some(e), Some(c)) = (self.slab.get(idx as usize), self.cold.get(idx as usize)) else {
            return;
        };
        if e.flags & HASHED_OUT == 0 {
            return;
        }
        let next = c.onext;
        let h = hasher.hash(e.proto, c.laddr, c.lport);
        let b = (h as usize) & (self.obuckets.len().wrapping_sub(1));
        let Some(&head) = self.obuckets.get(b) else {
            return;
        };
        if head == idx {
            if let Some(h) = self.obuckets.get_mut(b) {
                *h = next;
            }
        } else {
            let mut i = head;
            while let Some(p) = self.cold.get_mut(i as usize) {
                if p.onext == idx {
                    p.onext = next;
                    break;
                }
                i = p.onext;
            }
        }
        if let Some(c) = self.cold.get_mut(idx as usize) {
            c.onext = NIL;
        }
        if let Some(e) = self.slab.get_mut(idx as usize) {
            e.flags &= !HASHED_OUT;
        }
        self.fullnat_len = self.fullnat_len.saturating_sub(1);
    }

    /// Unlink `idx` from index, wheel and shed list and put the slot on the free list.
    /// Returns what accounting needs of the entry (the caller's job).
    pub(crate) fn free(&mut self, hasher: &Hasher, idx: u32) -> Option<Freed> {
        let (e, c) = self.get_both(idx)?;
        let freed = Freed {
            proto: e.proto,
            state: e.state,
            flags: e.flags,
            dest: e.dest,
            control: c.control,
        };
        self.epoch = self.epoch.wrapping_add(1);
        self.unhash_in(hasher, idx);
        if self.fullnat_len > 0 {
            self.unhash_out(hasher, idx);
        }
        self.wheel_unlink(idx);
        self.shed_unlink(idx);
        let free = self.free;
        if let Some(slot) = self.slab.get_mut(idx as usize) {
            // Only the liveness flag, the free link and the generation matter in a free
            // slot (`alloc` overwrites the whole entry), so do not rewrite the rest.
            slot.generation = slot.generation.wrapping_add(1) & GEN_MASK;
            slot.flags = 0;
            slot.hnext = free;
        }
        self.free = idx;
        self.len = self.len.saturating_sub(1);
        Some(freed)
    }

    /// Re-key a template so it can no longer be found (`ip_vs_check_template`: vport and
    /// dport become 0xffff, cport 0).
    pub(crate) fn invalidate_template(&mut self, idx: u32) {
        if let Some(e) = self.get_mut(idx) {
            e.vport = 0xffff;
            e.dport = 0xffff;
            e.flags |= F_INVALID;
        }
    }

    // ----------------------------------------------------------------------- shed lists

    fn shed_link(&mut self, idx: u32) {
        let Some(e) = self.slab.get(idx as usize) else {
            return;
        };
        let Some(c) = shed_class(e.proto, e.state, e.flags) else {
            return;
        };
        let tail = self.shed_tail[c];
        if let Some(e) = self.cold.get_mut(idx as usize) {
            e.sprev = tail;
            e.snext = NIL;
        }
        match self.cold.get_mut(tail as usize) {
            Some(t) => t.snext = idx,
            None => self.shed_head[c] = idx,
        }
        self.shed_tail[c] = idx;
        self.shed_len[c] += 1;
    }

    fn shed_unlink(&mut self, idx: u32) {
        let (Some(e), Some(ce)) = (self.slab.get(idx as usize), self.cold.get(idx as usize)) else {
            return;
        };
        let Some(c) = shed_class(e.proto, e.state, e.flags) else {
            return;
        };
        let (p, n) = (ce.sprev, ce.snext);
        match self.cold.get_mut(p as usize) {
            Some(pe) => pe.snext = n,
            None => self.shed_head[c] = n,
        }
        match self.cold.get_mut(n as usize) {
            Some(ne) => ne.sprev = p,
            None => self.shed_tail[c] = p,
        }
        if let Some(e) = self.cold.get_mut(idx as usize) {
            e.sprev = NIL;
            e.snext = NIL;
        }
        self.shed_len[c] = self.shed_len[c].saturating_sub(1);
    }

    /// Change an entry's state, moving it between shed lists when its class changes.
    pub(crate) fn set_state(&mut self, idx: u32, new_state: u8) {
        let Some(e) = self.slab.get(idx as usize) else {
            return;
        };
        let old_c = shed_class(e.proto, e.state, e.flags);
        let new_c = shed_class(e.proto, new_state, e.flags);
        if old_c == new_c {
            if let Some(e) = self.slab.get_mut(idx as usize) {
                e.state = new_state;
            }
            return;
        }
        self.shed_unlink(idx);
        if let Some(e) = self.slab.get_mut(idx as usize) {
            e.state = new_state;
        }
        self.shed_link(idx);
    }

    /// Oldest entry of shed class `c` that controls nobody (looks at most 16 entries).
    pub(crate) fn shed_candidate(&self, c: usize) -> Option<u32> {
        let mut i = *self.shed_head.get(c)?;
        for _ in 0..16 {
            let e = self.cold.get(i as usize)?;
            if e.n_control == 0 {
                return Some(i);
            }
            i = e.snext;
        }
        None
    }

    // ----------------------------------------------------------------------- timer wheel

    /// Absolute tick of an entry's wrapping u32 deadline, relative to the wheel's clock.
    #[inline]
    pub(crate) fn abs_deadline(&self, d: u32) -> u64 {
        let el = self.wheel.elapsed;
        let diff = d.wrapping_sub(el as u32) as i32;
        if diff < 0 {
            el.saturating_sub(u64::from(diff.unsigned_abs()))
        } else {
            el + diff as u64
        }
    }

    fn level_for(elapsed: u64, when: u64) -> usize {
        let masked = (elapsed ^ when) | (SLOTS as u64 - 1);
        let masked = masked.min((1u64 << (6 * LEVELS)) - 1);
        let significant = 63 - masked.leading_zeros() as usize;
        (significant / 6).min(LEVELS - 1)
    }

    fn wheel_link(&mut self, idx: u32, when: u64) {
        let when = when.max(self.wheel.elapsed + 1);
        let level = Self::level_for(self.wheel.elapsed, when);
        let slot = ((when >> (6 * level)) as usize) & (SLOTS - 1);
        let head = self.wheel.heads[level][slot];
        if let Some(e) = self.cold.get_mut(idx as usize) {
            e.wprev = HEAD | (level * SLOTS + slot) as u32;
            e.wnext = head;
        }
        if let Some(h) = self.cold.get_mut(head as usize) {
            h.wprev = idx;
        }
        self.wheel.heads[level][slot] = idx;
        self.wheel.occupied[level] |= 1 << slot;
    }

    fn wheel_unlink(&mut self, idx: u32) {
        let Some(e) = self.cold.get(idx as usize) else {
            return;
        };
        let (p, n) = (e.wprev, e.wnext);
        if p == NIL {
            return;
        }
        if p & HEAD != 0 {
            let s = (p & !HEAD) as usize;
            let (level, slot) = (s / SLOTS, s % SLOTS);
            if level < LEVELS {
                self.wheel.heads[level][slot] = n;
                if n == NIL {
                    self.wheel.occupied[level] &= !(1 << slot);
                }
            }
        } else if let Some(pe) = self.cold.get_mut(p as usize) {
            pe.wnext = n;
        }
        if let Some(ne) = self.cold.get_mut(n as usize) {
            ne.wprev = p;
        }
        if let Some(e) = self.cold.get_mut(idx as usize) {
            e.wprev = NIL;
            e.wnext = NIL;
        }
    }

    /// Re-arm an entry's timer to `when` (absolute ticks). Later deadlines only update the
    /// field (the wheel re-files the entry when its slot comes due); earlier ones move it.
    /// Inlined into the packet path, which re-arms on every packet; moving is out of line.
    #[inline(always)]
    pub(crate) fn rearm(&mut self, idx: u32, when: u64) {
        let Some(e) = self.slab.get(idx as usize) else {
            return;
        };
        let cur = self.abs_deadline(e.deadline);
        if let Some(e) = self.slab.get_mut(idx as usize) {
            e.deadline = when as u32;
        }
        if when < cur {
            self.rearm_earlier(idx, when);
        }
    }

    /// [`Inner::rearm`] to an earlier deadline: re-file the entry in the wheel.
    #[inline(never)]
    fn rearm_earlier(&mut self, idx: u32, when: u64) {
        self.wheel_unlink(idx);
        self.wheel_link(idx, when);
    }

    /// Earliest tick at which some slot needs processing.
    pub(crate) fn next_wakeup(&self) -> Option<u64> {
        self.next_expiration().map(|(_, _, d)| d)
    }

    fn next_expiration(&self) -> Option<(usize, usize, u64)> {
        let el = self.wheel.elapsed;
        let mut best: Option<(usize, usize, u64)> = None;
        for level in 0..LEVELS {
            let occ = self.wheel.occupied[level];
            if occ == 0 {
                continue;
            }
            let slot_range = 1u64 << (6 * level);
            let level_range = slot_range << 6;
            let now_slot = ((el / slot_range) as usize) & (SLOTS - 1);
            let rotated = occ.rotate_right(now_slot as u32);
            let slot = (rotated.trailing_zeros() as usize + now_slot) % SLOTS;
            let level_start = el & !(level_range - 1);
            let mut deadline = level_start + slot as u64 * slot_range;
            if deadline < el {
                deadline += level_range;
            }
            // Take the earliest over all levels: while a slot is being drained, entries
            // re-filed to lower levels may be due later than the rest of that slot.
            if best.is_none_or(|b| deadline < b.2) {
                best = Some((level, slot, deadline));
            }
        }
        best
    }

    /// Pop the next entry whose slot is due at or before `now` (absolute ticks); entries
    /// whose lazily extended deadline is still in the future are re-filed. Returns an entry
    /// whose deadline has passed, or `None` when nothing more is due (the wheel's clock then
    /// advances to `now`).
    pub(crate) fn pop_expired(&mut self, now: u64) -> Option<u32> {
        loop {
            // Keep draining the slot of the previous call while it has entries: it is
            // still the earliest (re-filed entries land at later slots).
            let (level, slot) = match self.wheel.draining {
                Some((l, s)) if self.wheel.heads[l][s] != NIL => (l, s),
                _ => {
                    self.wheel.draining = None;
                    let (level, slot, deadline) = match self.next_expiration() {
                        Some(x) if x.2 <= now => x,
                        _ => {
                            self.wheel.elapsed = self.wheel.elapsed.max(now);
                            return None;
                        }
                    };
                    self.wheel.elapsed = self.wheel.elapsed.max(deadline);
                    self.wheel.draining = Some((level, slot));
                    (level, slot)
                }
            };
            loop {
                let idx = self.wheel.heads[level][slot];
                if idx == NIL {
                    break;
                }
                self.wheel_unlink(idx);
                let d = match self.slab.get(idx as usize) {
                    Some(e) => self.abs_deadline(e.deadline),
                    None => {
                        // Unreachable (heads hold slab indices); never loop on it.
                        self.wheel.heads[level][slot] = NIL;
                        self.wheel.occupied[level] &= !(1 << slot);
                        break;
                    }
                };
                if d <= now {
                    return Some(idx);
                }
                self.wheel_link(idx, d);
            }
        }
    }

    /// Re-file an entry popped by `pop_expired` that must live on (a template controlling
    /// live connections).
    pub(crate) fn refile(&mut self, idx: u32, when: u64) {
        if let Some(e) = self.slab.get_mut(idx as usize) {
            e.deadline = when as u32;
        }
        self.wheel_link(idx, when);
    }

    /// Live entry indices in slab order.
    pub(crate) fn live_indices(&self) -> impl Iterator<Item = u32> + '_ {
        self.slab
            .iter()
            .enumerate()
            .filter(|(_, e)| e.live())
            .map(|(i, _)| i as u32)
    }

    #[cfg(test)]
    pub(crate) fn check_invariants(&self) {
        // The IPv4 entry stays at 104 bytes: a 64-byte hot line and 40 cold bytes.
        assert!(slot_bytes::<u32>() <= 104);
        assert_eq!(self.slab.len(), self.cold.len());
        let mut n = 0;
        for (_, c) in self.slab.iter().zip(&self.cold).filter(|(e, _)| e.live()) {
            n += 1;
            assert_ne!(c.wprev, NIL, "live entry not in wheel");
        }
        assert_eq!(n, self.len);
        // Every live entry is reachable exactly once from the inbound index.
        let mut reached = 0u32;
        for &h in &self.buckets {
            let mut i = h;
            while let Some(e) = self.slab.get(i as usize) {
                assert!(e.live());
                reached += 1;
                assert!(reached <= self.len, "hash chain cycle");
                i = e.hnext;
            }
        }
        assert_eq!(reached, self.len);
        let mut shed = 0;
        for c in 0..SHED_CLASSES {
            let mut i = self.shed_head[c];
            let mut k = 0;
            while let (Some(e), Some(ce)) = (self.slab.get(i as usize), self.cold.get(i as usize)) {
                assert_eq!(shed_class(e.proto, e.state, e.flags), Some(c));
                k += 1;
                i = ce.snext;
            }
            assert_eq!(k, self.shed_len[c]);
            shed += k;
        }
        let expect = self
            .slab
            .iter()
            .filter(|e| e.live() && shed_class(e.proto, e.state, e.flags).is_some())
            .count() as u32;
        assert_eq!(shed, expect);
    }
}

/// Internal flag: entry linked in the FULLNAT reply index. Shares bit 0x0010 which the
/// kernel leaves unused (`IP_VS_CONN_F_*` skips 0x0008..0x0010).
const HASHED_OUT: u16 = 0x0010;

/// Generations use 31 bits (the `ConnId` keeps bit 63 for the family).
pub(crate) const GEN_MASK: u32 = 0x7fff_ffff;

/// Build a fresh live entry (hot and cold parts).
#[allow(clippy::too_many_arguments)]
pub(crate) fn new_entry<A: Addr>(
    proto: u8,
    caddr: A,
    cport: u16,
    vaddr: A,
    vport: u16,
    daddr: A,
    dport: u16,
    laddr: A,
    lport: u16,
    flags: u16,
    state: u8,
    dest: u32,
    timeout: u32,
    deadline: u32,
    control: u32,
) -> (Entry<A>, Cold<A>) {
    let mut e = Entry::empty();
    let mut c = Cold::empty();
    e.proto = proto;
    e.caddr = caddr;
    e.cport = cport;
    e.vaddr = vaddr;
    e.vport = vport;
    e.daddr = daddr;
    e.dport = dport;
    c.laddr = laddr;
    c.lport = lport;
    e.flags = (flags & KERNEL_FLAGS & !(cf::HASHED as u16)) | F_LIVE;
    e.state = state;
    c.old_state = state;
    e.dest = dest;
    e.timeout = timeout;
    e.deadline = deadline;
    c.control = control;
    (e, c)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn entry(caddr: u32, cport: u16, vport: u16) -> (Entry<u32>, Cold<u32>) {
        new_entry(
            ipproto::TCP,
            caddr,
            cport,
            0xcfaf_2c6e,
            vport,
            0xac10_0002,
            80,
            0,
            0,
            0,
            0,
            NIL,
            60,
            6000,
            NIL,
        )
    }

    fn find(t: &Inner<u32>, h: &Hasher, (e, _): &(Entry<u32>, Cold<u32>)) -> Option<u32> {
        t.find_in(h, ipproto::TCP, e.caddr, e.cport, e.vaddr, e.vport)
    }

    /// `warm_unhash` walks each entry's chain from the head down to its predecessor and
    /// stops there (chains are LIFO: the newest entry is the head), reading only: five
    /// entries with one (proto, caddr, cport) share one chain i4 -> i3 -> i2 -> i1 -> i0.
    #[test]
    fn warm_unhash_walks_to_each_predecessor_and_changes_nothing() {
        let h = Hasher::new(3);
        let mut t = Inner::<u32>::new();
        let i: Vec<u32> = (0..5u16)
            .map(|k| {
                t.alloc(&h, entry(0x0a00_0001, 1234, 80 + k), 6000, 100)
                    .expect("alloc")
            })
            .collect();
        let before: Vec<u32> = t.slab.iter().map(|e| e.hnext).collect();
        // Oldest: visits i4 then i3, i2, i1 (whose next is i0): the fold of the links
        // followed is i3 ^ i2 ^ i1.
        assert_eq!(t.warm_unhash(&h, &[i[0]]), i[3] ^ i[2] ^ i[1]);
        // The head needs no walk.
        assert_eq!(t.warm_unhash(&h, &[i[4]]), 0);
        // Several at once, each to its own predecessor: i0's walk as above, i2's stops at i3.
        assert_eq!(t.warm_unhash(&h, &[i[0], i[4], i[2]]), i[2] ^ i[1]);
        // An entry no longer in its chain ends at NIL.
        t.free(&h, i[1]).expect("free");
        assert_eq!(t.warm_unhash(&h, &[i[1]]), i[3] ^ i[2] ^ i[0] ^ NIL);
        t.check_invariants();
        let after: Vec<u32> = t.slab.iter().map(|e| e.hnext).collect();
        assert_eq!(before.len(), after.len());
        // Only the freed slot's link changed (it now heads the free list).
        for (k, (b, a)) in before.iter().zip(&after).enumerate() {
            if k as u32 != i[1] && k as u32 != i[2] {
                assert_eq!(b, a, "slot {k}");
            }
        }
    }

    /// Two different keys whose hashes agree in the low 32 bits (so they share a bucket at
    /// every index size up to 2^32 buckets) must both be found, each as itself, and stay
    /// found when the other goes.
    #[test]
    fn colliding_hashes_both_found() {
        let h = Hasher::new(7);
        let mut seen: HashMap<u32, (u32, u16)> = HashMap::new();
        let mut pair = None;
        'search: for a in 0..1u32 << 20 {
            for port in [1000u16, 2000] {
                let fp = h.hash(ipproto::TCP, a, port) as u32;
                if let Some(&(a0, p0)) = seen.get(&fp) {
                    pair = Some(((a0, p0), (a, port)));
                    break 'search;
                }
                seen.insert(fp, (a, port));
            }
        }
        let ((a0, p0), (a1, p1)) = pair.expect("a 32-bit collision among 2M keys");
        assert_ne!((a0, p0), (a1, p1));
        let (e0, e1) = (entry(a0, p0, 80), entry(a1, p1, 80));
        // A third key sharing (proto, caddr, cport) with e0, hence its whole hash.
        let e2 = entry(a0, p0, 443);
        let mut t = Inner::<u32>::new();
        let i0 = t.alloc(&h, e0, 6000, 100).expect("alloc");
        let i1 = t.alloc(&h, e1, 6000, 100).expect("alloc");
        let i2 = t.alloc(&h, e2, 6000, 100).expect("alloc");
        t.check_invariants();
        assert_eq!(find(&t, &h, &e0), Some(i0));
        assert_eq!(find(&t, &h, &e1), Some(i1));
        assert_eq!(find(&t, &h, &e2), Some(i2));
        assert_eq!(find(&t, &h, &entry(a1, p1, 443)), None);
        t.free(&h, i0).expect("free");
        t.check_invariants();
        assert_eq!(find(&t, &h, &e0), None);
        assert_eq!(find(&t, &h, &e1), Some(i1));
        assert_eq!(find(&t, &h, &e2), Some(i2));
        t.free(&h, i2).expect("free");
        assert_eq!(find(&t, &h, &e1), Some(i1));
        t.check_invariants();
    }

    /// "Like the kernel, insert does not reject a duplicate key; the newest entry shadows"
    /// (head insertion in ip_vs_conn.c `ip_vs_conn_hash()`): with three entries of one key
    /// sharing their bucket with other keys, the newest is found, then the next newest as
    /// each is removed, also after a `reserve` has rehashed the index.
    #[test]
    fn newest_duplicate_shadows() {
        let h = Hasher::new(5);
        let mask = (INITIAL_BUCKETS - 1) as u32;
        // A key of the last bucket.
        let a = (0..1u32 << 22)
            .find(|&a| h.hash(ipproto::TCP, a, 7) as u32 & mask == mask)
            .expect("a key homed at the last slot");
        for grow in [false, true] {
            let mut t = Inner::<u32>::new();
            let e = entry(a, 7, 80);
            // Other keys of the same bucket, inserted between the duplicates.
            let other: Vec<u32> = (0..1u32 << 22)
                .filter(|&b| b != a && h.hash(ipproto::TCP, b, 7) as u32 & mask == mask)
                .take(3)
                .collect();
            let i0 = t.alloc(&h, e, 6000, 1 << 20).expect("alloc");
            t.alloc(&h, entry(other[0], 7, 80), 6000, 1 << 20)
                .expect("alloc");
            let i1 = t.alloc(&h, e, 6000, 1 << 20).expect("alloc");
            t.alloc(&h, entry(other[1], 7, 80), 6000, 1 << 20)
                .expect("alloc");
            let i2 = t.alloc(&h, e, 6000, 1 << 20).expect("alloc");
            t.alloc(&h, entry(other[2], 7, 80), 6000, 1 << 20)
                .expect("alloc");
            if grow {
                t.reserve(&h, 100_000, 1 << 20);
            }
            t.check_invariants();
            assert_eq!(find(&t, &h, &e), Some(i2));
            t.free(&h, i2).expect("free");
            assert_eq!(find(&t, &h, &e), Some(i1));
            t.free(&h, i1).expect("free");
            assert_eq!(find(&t, &h, &e), Some(i0));
            t.check_invariants();
            for &b in &other {
                assert!(find(&t, &h, &entry(b, 7, 80)).is_some());
            }
        }
    }

    /// The hot/cold split: an IPv4 entry's hot part (what a lookup compares and a packet of
    /// an established flow updates) is exactly one 64-byte cache line on a 64-byte
    /// boundary in the slab, IPv6's two; and a table reserved for 1M IPv4 entries costs at
    /// most 128 bytes per entry (BENCHMARKS.md goal) with hot, cold and index counted.
    #[test]
    fn ipv4_hot_part_is_one_aligned_cache_line() {
        assert_eq!(std::mem::size_of::<Entry<u32>>(), 64);
        assert_eq!(std::mem::align_of::<Entry<u32>>(), 64);
        assert_eq!(std::mem::size_of::<Entry<[u8; 16]>>(), 128);
        assert_eq!(std::mem::size_of::<Cold<u32>>(), 40);
        let h = Hasher::new(9);
        let mut t = Inner::<u32>::new();
        for a in 0..100u32 {
            t.alloc(&h, entry(a, 1, 80), 6000, 1 << 20).expect("alloc");
        }
        assert_eq!(t.slab.as_ptr() as usize % 64, 0);
        let n = 1_000_000;
        t.reserve(&h, n - 100, u32::MAX);
        assert!(t.bytes() <= 128 * n, "{} B for {n} entries", t.bytes());
    }

    /// `out_bytes` is split 32/32 between hot and cold parts; adding to it must equal a
    /// u64 `wrapping_add` ([`crate::ConnView::out_bytes`] is a u64 counter),
    /// including the carry across 2^32 and the wrap at 2^64.
    #[test]
    fn split_out_bytes_adds_like_a_u64() {
        let h = Hasher::new(1);
        let mut t = Inner::<u32>::new();
        let i = t.alloc(&h, entry(1, 1, 80), 6000, 1 << 20).expect("alloc");
        let mut want = 0u64;
        let steps: [(u64, u32); 5] = [
            (0, 1500),
            ((1 << 32) - 10, 100),
            ((1 << 32) - 1, 1),
            (u64::MAX - 5, 1500),
            (u64::MAX, u32::MAX),
        ];
        for (start, add) in steps {
            let (e, c) = t.get_both_mut(i).expect("live");
            e.out_bytes_lo = start as u32;
            c.out_bytes_hi = (start >> 32) as u32;
            e.add_out_bytes(c, add);
            want = start.wrapping_add(u64::from(add));
            assert_eq!(t.out_bytes(i), want, "{start} + {add}");
        }
        assert_eq!(want, u64::from(u32::MAX) - 1);
    }

    /// `ConnTable::reserve` counts what it would allocate against `max_bytes`: refused
    /// (TableFull, nothing allocated) above it, and a family reserved for 0 entries
    /// allocates nothing.
    #[test]
    fn table_reserve_respects_max_bytes() {
        use crate::table::{ConnConfig, ConnTable};
        let t0 = std::time::Instant::now();
        let cfg = ConnConfig {
            max_entries: 1 << 20,
            max_bytes: 1 << 20,
            ..ConnConfig::default()
        };
        let mut t = ConnTable::new(cfg, t0);
        assert_eq!(t.memory_bytes(), 0);
        // 100k IPv4 entries need 100k * 104 bytes of slab alone: over 1 MiB.
        assert_eq!(t.reserve(100_000, 0), Err(crate::ConnError::TableFull));
        assert_eq!(t.memory_bytes(), 0);
        t.reserve(1000, 0).expect("fits");
        // 1000 slots of 104 bytes and 4096 buckets of 4 bytes; nothing for IPv6.
        assert_eq!(t.memory_bytes(), 1000 * 104 + 4096 * 4);
        assert_eq!(t.stats().refused_full, 0);
    }

    /// `reserve` sizes slab and index up front: the inserts it was made for neither move
    /// the slab nor rehash the index, and lookups still hit after a reserve-driven rehash.
    #[test]
    fn reserve_avoids_growth() {
        let h = Hasher::new(3);
        let mut t = Inner::<u32>::new();
        let first: Vec<u32> = (0..100u32)
            .map(|a| t.alloc(&h, entry(a, 1, 80), 6000, 1 << 20).expect("alloc"))
            .collect();
        t.reserve(&h, 10_000, 1 << 20);
        t.check_invariants();
        for (a, &i) in first.iter().enumerate() {
            assert_eq!(find(&t, &h, &entry(a as u32, 1, 80)), Some(i));
        }
        let (cap, slots, ptr) = (t.slab.capacity(), t.buckets.len(), t.slab.as_ptr());
        assert!(cap >= 10_100 && slots >= 10_100);
        assert_eq!(t.reserve_bytes(10_000, 1 << 20), 0);
        for a in 100..10_100u32 {
            t.alloc(&h, entry(a, 1, 80), 6000, 1 << 20).expect("alloc");
        }
        assert_eq!(
            (t.slab.capacity(), t.buckets.len(), t.slab.as_ptr()),
            (cap, slots, ptr)
        );
        t.check_invariants();
    }
}
