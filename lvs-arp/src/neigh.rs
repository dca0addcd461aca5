//! A neighbour table for the director (IPv4 ARP and IPv6 ND alike), modelled on the kernel's
//! NUD state machine (net/core/neighbour.c `__neigh_event_send`, `neigh_timer_handler`,
//! `neigh_update`) with the ARP table's defaults (net/ipv4/arp.c `arp_tbl`).
//!
//! Sans-IO in the quinn-proto style: time is a `now` argument in **milliseconds** since any
//! monotonic epoch the caller chooses; nothing is sent, the table asks. After every input
//! ([`NeighbourTable::resolve`], [`NeighbourTable::learn`], [`NeighbourTable::handle_timeout`],
//! ...) drain [`NeighbourTable::poll_transmit`] (solicitations to send, build them with
//! [`crate::Host::arp_solicit`] or [`crate::NdiscFrame::solicit`]),
//! [`NeighbourTable::poll_released`] (packets whose next hop just resolved, with the MAC to
//! send them to) and [`NeighbourTable::poll_event`], then call
//! [`NeighbourTable::handle_timeout`] at [`NeighbourTable::poll_timeout`].
//!
//! States: INCOMPLETE (resolving: `mcast_solicit` broadcast/multicast solicitations,
//! `retrans_time` apart, then FAILED and the queued packets are dropped), REACHABLE
//! (confirmed within `reachable_time`), STALE (usable, unconfirmed), DELAY (used while STALE:
//! wait `delay_first_probe_time` for an upper-layer confirmation), PROBE (`ucast_solicit`
//! unicast solicitations to the cached MAC, then FAILED), FAILED, PERMANENT (`arp -s`, never
//! changed by learning). STALE and FAILED entries unused for `gc_stale_time` are removed.
//!
//! Packets waiting for resolution are owned by the table (`P`, e.g. `Vec<u8>` or
//! `bytes::Bytes`); per entry at most `unres_qlen_bytes` bytes are queued and, as the kernel
//! does, the oldest are dropped to make room (counted in [`NeighStats::unres_discards`]).
//! Lookups of resolved entries do not allocate.

use std::collections::{HashMap, VecDeque};
use std::hash::{BuildHasher, Hasher};
use std::net::IpAddr;

use crate::mac::MacAddr;
use crate::policy::{Learn, LearnState};

/// The table's parameters; [`Default`] gives the kernel's `arp_tbl` values.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NeighConfig {
    /// `mcast_solicit`: broadcast solicitations while INCOMPLETE (3).
    pub mcast_solicit: u32,
    /// `ucast_solicit`: unicast solicitations while PROBE (3).
    pub ucast_solicit: u32,
    /// `retrans_time_ms`: between solicitations (1000 ms).
    pub retrans_time_ms: u64,
    /// How long a confirmation keeps an entry REACHABLE, ms. The kernel draws it at random in
    /// [base/2, 3*base/2) from `base_reachable_time_ms` (30000); pick your own draw if you
    /// want that; the default is the base.
    pub reachable_time_ms: u64,
    /// `delay_first_probe_time`: DELAY before probing (5000 ms).
    pub delay_first_probe_time_ms: u64,
    /// `gc_stale_time`: STALE/FAILED entries unused this long are removed (60000 ms).
    pub gc_stale_time_ms: u64,
    /// `locktime`: a different MAC within this time of the last update is ignored unless the
    /// frame is a gratuitous ARP (1000 ms).
    pub locktime_ms: u64,
    /// `unres_qlen_bytes`: bytes of packets queued per unresolved entry (212992, the
    /// kernel's `SK_WMEM_MAX` on x86_64). Counted as packet length, not `skb->truesize`.
    pub unres_qlen_bytes: usize,
    /// `gc_thresh3`: most entries the table holds (1024).
    pub max_entries: usize,
    /// Seed of the table's hash function; give a random value to resist hash flooding.
    pub hash_seed: u64,
}

impl Default for NeighConfig {
    fn default() -> Self {
        NeighConfig {
            mcast_solicit: 3,
            ucast_solicit: 3,
            retrans_time_ms: 1000,
            reachable_time_ms: 30_000,
            delay_first_probe_time_ms: 5000,
            gc_stale_time_ms: 60_000,
            locktime_ms: 1000,
            unres_qlen_bytes: 212_992,
            max_entries: 1024,
            hash_seed: 0,
        }
    }
}

/// Neighbour Unreachability Detection state (`NUD_*`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum NudState {
    /// Resolving; packets are queued.
    Incomplete,
    /// Confirmed reachable recently.
    Reachable,
    /// MAC known but not confirmed recently.
    Stale,
    /// Used while STALE; waiting for a confirmation before probing.
    Delay,
    /// Sending unicast probes to the cached MAC.
    Probe,
    /// Resolution failed.
    Failed,
    /// Static (`arp -s`); never changed by learning or timers.
    Permanent,
}

impl NudState {
    /// `NUD_VALID`: the MAC may be used.
    pub fn is_valid(self) -> bool {
        matches!(
            self,
            NudState::Reachable
                | NudState::Stale
                | NudState::Delay
                | NudState::Probe
                | NudState::Permanent
        )
    }
}

/// Key of an entry: interface index and neighbour IP.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NeighKey {
    /// Interface index.
    pub ifindex: u32,
    /// Neighbour address (IPv4 or IPv6).
    pub ip: IpAddr,
}

impl std::hash::Hash for NeighKey {
    /// One word for IPv4 keys (ifindex and address), three for IPv6.
    fn hash<H: Hasher>(&self, state: &mut H) {
        match self.ip {
            IpAddr::V4(a) => {
                state.write_u64(u64::from(self.ifindex) << 32 | u64::from(a.to_bits()))
            }
            IpAddr::V6(a) => {
                let bits = a.to_bits();
                state.write_u64(u64::from(self.ifindex) | 1 << 63);
                state.write_u64(bits as u64);
                state.write_u64((bits >> 64) as u64);
            }
        }
    }
}

/// A solicitation the caller should send (ARP request or Neighbour Solicitation).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Solicitation {
    /// Interface to send on.
    pub ifindex: u32,
    /// Address to resolve.
    pub target: IpAddr,
    /// `None`: broadcast (ARP) / solicited-node multicast (ND); `Some(mac)`: unicast probe.
    pub unicast_to: Option<MacAddr>,
    /// Source address of the last packet queued for this entry (`arp_announce` input).
    pub trigger_src: Option<IpAddr>,
    /// 1 for the first solicitation of this INCOMPLETE/PROBE round, then 2, 3, ...
    pub attempt: u32,
}

/// A queued packet whose next hop resolved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Released<P> {
    /// Interface to send on.
    pub ifindex: u32,
    /// The next hop.
    pub ip: IpAddr,
    /// Its MAC: the Ethernet destination.
    pub mac: MacAddr,
    /// The packet, as queued.
    pub packet: P,
}

/// Notable changes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum NeighEvent {
    /// Resolution failed (no answer to the last solicitation); `dropped` queued packets were
    /// discarded (the kernel answers them with ICMP host unreachable).
    Failed {
        /// Interface.
        ifindex: u32,
        /// Unresolved address.
        ip: IpAddr,
        /// Packets dropped from the queue.
        dropped: usize,
    },
}

/// Outcome of [`NeighbourTable::resolve`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Resolved<P> {
    /// Send `packet` to `mac` now.
    Ready {
        /// Ethernet destination.
        mac: MacAddr,
        /// The packet, handed back.
        packet: P,
    },
    /// Queued until resolution; it comes back through [`NeighbourTable::poll_released`].
    Queued,
    /// Not queued: the table is full of entries that cannot be evicted, or solicitation is
    /// disabled (`mcast_solicit` = 0). Counted in [`NeighStats::table_full`].
    Dropped(P),
}

/// Outcome of [`NeighbourTable::learn`] / [`NeighbourTable::update`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum UpdateOutcome {
    /// A new entry was created.
    Created,
    /// The entry changed (state or MAC).
    Updated,
    /// The entry exists and nothing changed.
    Unchanged,
    /// Nothing happened: no entry and creation not allowed.
    NotCreated,
    /// The entry is PERMANENT.
    Permanent,
    /// A different MAC within `locktime` without override: ignored.
    Locked,
    /// No room for a new entry.
    TableFull,
}

/// Counters.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct NeighStats {
    /// Queued packets dropped to keep a queue within `unres_qlen_bytes` (kernel
    /// `unres_discards`).
    pub unres_discards: u64,
    /// Queued packets dropped because resolution failed or the entry was removed.
    pub failed_drops: u64,
    /// Packets refused because no entry could be created.
    pub table_full: u64,
    /// Solicitations requested.
    pub solicits: u64,
    /// Entries removed by garbage collection.
    pub gc_removed: u64,
}

/// Errors of administrative operations.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum NeighError {
    /// The table holds `max_entries` entries none of which can be evicted.
    #[error("neighbour table full ({0} entries)")]
    TableFull(usize),
}

#[derive(Debug)]
struct Entry<P> {
    mac: MacAddr,
    state: NudState,
    updated: u64,
    confirmed: u64,
    used: u64,
    probes: u32,
    timer: Option<u64>,
    queue: VecDeque<P>,
    queue_bytes: usize,
    trigger_src: Option<IpAddr>,
}

impl<P> Entry<P> {
    fn new(now: u64, state: NudState) -> Self {
        Entry {
            mac: MacAddr::ZERO,
            state,
            updated: now,
            confirmed: 0,
            used: now,
            probes: 0,
            timer: None,
            queue: VecDeque::new(),
            queue_bytes: 0,
            trigger_src: None,
        }
    }

    fn gc_deadline(&self, cfg: &NeighConfig) -> Option<u64> {
        matches!(self.state, NudState::Stale | NudState::Failed)
            .then(|| self.used.saturating_add(cfg.gc_stale_time_ms))
    }
}

/// A seeded multiply-rotate hasher (FxHash style) with a murmur3 finaliser, for the small
/// fixed keys of the table.
#[derive(Debug, Clone, Copy)]
struct SeededState(u64);

#[derive(Debug, Clone, Copy)]
struct FxHasher(u64);

impl Hasher for FxHasher {
    fn write(&mut self, bytes: &[u8]) {
        for chunk in bytes.chunks(8) {
            let mut w = [0u8; 8];
            for (d, s) in w.iter_mut().zip(chunk) {
                *d = *s;
            }
            self.write_u64(u64::from_le_bytes(w));
        }
    }

    fn write_u64(&mut self, i: u64) {
        self.0 = (self.0.rotate_left(5) ^ i).wrapping_mul(0x51_7c_c1_b7_27_22_0a_95);
    }

    fn write_u32(&mut self, i: u32) {
        self.write_u64(u64::from(i));
    }

    fn write_u8(&mut self, i: u8) {
        self.write_u64(u64::from(i));
    }

    /// murmur3's 64-bit finaliser, so that every input bit reaches the low bits the table
    /// indexes with (addresses differing only in their last octet would collide otherwise).
    fn finish(&self) -> u64 {
        let mut h = self.0;
        h ^= h >> 33;
        h = h.wrapping_mul(0xff51_afd7_ed55_8ccd);
        h ^= h >> 33;
        h = h.wrapping_mul(0xc4ce_b9fe_1a85_ec53);
        h ^ (h >> 33)
    }
}

impl BuildHasher for SeededState {
    type Hasher = FxHasher;
    fn build_hasher(&self) -> FxHasher {
        FxHasher(self.0)
    }
}

/// The neighbour table; `P` is the type of a packet waiting for resolution (its length is
/// `P::as_ref().len()`).
#[derive(Debug)]
pub struct NeighbourTable<P> {
    cfg: NeighConfig,
    entries: HashMap<NeighKey, Entry<P>, SeededState>,
    transmits: VecDeque<Solicitation>,
    released: VecDeque<Released<P>>,
    events: VecDeque<NeighEvent>,
    stats: NeighStats,
}

impl<P: AsRef<[u8]>> NeighbourTable<P> {
    /// An empty table with `cfg`.
    pub fn new(cfg: NeighConfig) -> Self {
        NeighbourTable {
            cfg,
            entries: HashMap::with_hasher(SeededState(cfg.hash_seed)),
            transmits: VecDeque::new(),
            released: VecDeque::new(),
            events: VecDeque::new(),
            stats: NeighStats::default(),
        }
    }

    /// The parameters.
    pub fn config(&self) -> &NeighConfig {
        &self.cfg
    }

    /// Counters.
    pub fn stats(&self) -> &NeighStats {
        &self.stats
    }

    /// Number of entries.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// True when the table has no entries.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// MAC and state of an entry, without changing anything. The MAC is 00:00:00:00:00:00
    /// while INCOMPLETE (or FAILED without a previous MAC).
    pub fn lookup(&self, ifindex: u32, ip: IpAddr) -> Option<(MacAddr, NudState)> {
        self.entries
            .get(&NeighKey { ifindex, ip })
            .map(|e| (e.mac, e.state))
    }

    /// Number of packets queued on an entry.
    pub fn queued(&self, ifindex: u32, ip: IpAddr) -> usize {
        self.entries
            .get(&NeighKey { ifindex, ip })
            .map_or(0, |e| e.queue.len())
    }

    /// All entries as (key, MAC, state), in no particular order (`ip neigh show`).
    pub fn iter(&self) -> impl Iterator<Item = (NeighKey, MacAddr, NudState)> + '_ {
        self.entries.iter().map(|(k, e)| (*k, e.mac, e.state))
    }

    /// Output of `packet` to next hop `ip` on `ifindex` at `now` (ms); `src` is the packet's
    /// source address, used for the solicitation's `arp_announce` choice. A valid entry hands
    /// the packet back with the MAC (a STALE entry moves to DELAY); otherwise the packet is
    /// queued and, for a new or FAILED entry, resolution starts with an immediate
    /// solicitation (net/core/neighbour.c `__neigh_event_send`).
    pub fn resolve(
        &mut self,
        now: u64,
        ifindex: u32,
        ip: IpAddr,
        src: Option<IpAddr>,
        packet: P,
    ) -> Resolved<P> {
        let key = NeighKey { ifindex, ip };
        if let Some(e) = self.entries.get_mut(&key) {
            e.used = now;
            match e.state {
                NudState::Reachable | NudState::Permanent | NudState::Delay | NudState::Probe => {
                    return Resolved::Ready { mac: e.mac, packet };
                }
                NudState::Stale => {
                    e.state = NudState::Delay;
                    e.timer = Some(now.saturating_add(self.cfg.delay_first_probe_time_ms));
                    return Resolved::Ready { mac: e.mac, packet };
                }
                NudState::Incomplete => {
                    e.trigger_src = src.or(e.trigger_src);
                    Self::enqueue(&self.cfg, &mut self.stats, e, packet);
                    return Resolved::Queued;
                }
                NudState::Failed => {}
            }
        }
        if self.cfg.mcast_solicit == 0 {
            self.stats.table_full += 1;
            return Resolved::Dropped(packet);
        }
        if !self.entries.contains_key(&key) && !self.make_room() {
            self.stats.table_full += 1;
            return Resolved::Dropped(packet);
        }
        let cfg = self.cfg;
        let e = self
            .entries
            .entry(key)
            .or_insert_with(|| Entry::new(now, NudState::Incomplete));
        e.state = NudState::Incomplete;
        e.updated = now;
        e.used = now;
        e.probes = 0;
        e.trigger_src = src;
        Self::enqueue(&cfg, &mut self.stats, e, packet);
        Self::solicit(&mut self.transmits, &mut self.stats, key, e, None);
        e.timer = Some(now.saturating_add(cfg.retrans_time_ms));
        Resolved::Queued
    }

    fn enqueue(cfg: &NeighConfig, stats: &mut NeighStats, e: &mut Entry<P>, packet: P) {
        let len = packet.as_ref().len();
        // Drop the oldest until the new packet fits (a lone oversized packet is still queued,
        // as in the kernel's loop).
        while e.queue_bytes.saturating_add(len) > cfg.unres_qlen_bytes {
            let Some(old) = e.queue.pop_front() else {
                break;
            };
            e.queue_bytes = e.queue_bytes.saturating_sub(old.as_ref().len());
            stats.unres_discards += 1;
        }
        e.queue_bytes = e.queue_bytes.saturating_add(len);
        e.queue.push_back(packet);
    }

    fn solicit(
        transmits: &mut VecDeque<Solicitation>,
        stats: &mut NeighStats,
        key: NeighKey,
        e: &mut Entry<P>,
        unicast_to: Option<MacAddr>,
    ) {
        e.probes = e.probes.saturating_add(1);
        stats.solicits += 1;
        transmits.push_back(Solicitation {
            ifindex: key.ifindex,
            target: key.ip,
            unicast_to,
            trigger_src: e.trigger_src,
            attempt: e.probes,
        });
    }

    /// Frees a slot when the table is full: removes the least recently used FAILED, then
    /// STALE, entry (a simplified `neigh_forced_gc`). False when nothing can go.
    fn make_room(&mut self) -> bool {
        if self.entries.len() < self.cfg.max_entries {
            return true;
        }
        let victim = [NudState::Failed, NudState::Stale]
            .into_iter()
            .find_map(|s| {
                self.entries
                    .iter()
                    .filter(|(_, e)| e.state == s && e.queue.is_empty())
                    .min_by_key(|(_, e)| e.used)
                    .map(|(k, _)| *k)
            });
        match victim {
            Some(k) => {
                self.entries.remove(&k);
                self.stats.gc_removed += 1;
                true
            }
            None => false,
        }
    }

    /// Applies the neighbour-table effect of a received ARP frame ([`crate::Host::arp_input`]).
    /// `Learn::Event` creates or refreshes the entry as STALE with override; `Learn::Update`
    /// updates an existing entry (override when more than `locktime` has passed since its
    /// last update, or for a gratuitous ARP) and creates one only if `create`.
    pub fn learn(&mut self, now: u64, learn: &Learn) -> UpdateOutcome {
        match *learn {
            Learn::Nothing => UpdateOutcome::Unchanged,
            Learn::Event { ifindex, ip, mac } => self.update(
                now,
                ifindex,
                IpAddr::V4(ip),
                mac,
                LearnState::Stale,
                true,
                true,
            ),
            Learn::Update {
                ifindex,
                ip,
                mac,
                state,
                garp,
                create,
            } => {
                let key = NeighKey {
                    ifindex,
                    ip: IpAddr::V4(ip),
                };
                let over = garp
                    || self
                        .entries
                        .get(&key)
                        .is_none_or(|e| now > e.updated.saturating_add(self.cfg.locktime_ms));
                self.update(now, ifindex, key.ip, mac, state, over, create)
            }
        }
    }

    /// The kernel's `neigh_update` without the admin flag: sets entry (`ifindex`, `ip`) to
    /// `mac` in `state`. PERMANENT entries are never changed. A valid entry with another MAC
    /// changes only with `override_mac`; the same MAC with `Stale` keeps the current state.
    /// A missing entry is created only with `create`. Leaving INCOMPLETE/FAILED for a valid
    /// state releases the queued packets ([`Self::poll_released`]). Use it for IPv6 Neighbour
    /// Advertisements too (O flag = `override_mac`, S flag = `Reachable`).
    #[allow(clippy::too_many_arguments)]
    pub fn update(
        &mut self,
        now: u64,
        ifindex: u32,
        ip: IpAddr,
        mac: MacAddr,
        state: LearnState,
        override_mac: bool,
        create: bool,
    ) -> UpdateOutcome {
        let key = NeighKey { ifindex, ip };
        let mut created = false;
        if !self.entries.contains_key(&key) {
            if !create {
                return UpdateOutcome::NotCreated;
            }
            if !self.make_room() {
                return UpdateOutcome::TableFull;
            }
            self.entries.insert(key, Entry::new(now, NudState::Failed));
            created = true;
        }
        let cfg = self.cfg;
        let Some(e) = self.entries.get_mut(&key) else {
            return UpdateOutcome::NotCreated;
        };
        if e.state == NudState::Permanent {
            return UpdateOutcome::Permanent;
        }
        let old = e.state;
        let mut new = match state {
            LearnState::Reachable => NudState::Reachable,
            LearnState::Stale => NudState::Stale,
        };
        if new == NudState::Reachable {
            e.confirmed = now;
        }
        if old.is_valid() && !created {
            if mac != e.mac && !override_mac {
                return UpdateOutcome::Locked;
            }
            if mac == e.mac && new == NudState::Stale {
                new = old;
            }
        }
        if new == old && mac == e.mac && !created {
            return UpdateOutcome::Unchanged;
        }
        e.updated = now;
        e.mac = mac;
        if new != old || created {
            e.state = new;
            e.probes = 0;
            e.timer = match new {
                NudState::Reachable => Some(now.saturating_add(cfg.reachable_time_ms)),
                _ => None,
            };
        }
        if !old.is_valid() || created {
            e.used = now;
            Self::release(&mut self.released, key, e);
        }
        if created {
            UpdateOutcome::Created
        } else {
            UpdateOutcome::Updated
        }
    }

    fn release(released: &mut VecDeque<Released<P>>, key: NeighKey, e: &mut Entry<P>) {
        e.queue_bytes = 0;
        while let Some(packet) = e.queue.pop_front() {
            released.push_back(Released {
                ifindex: key.ifindex,
                ip: key.ip,
                mac: e.mac,
                packet,
            });
        }
    }

    /// An upper-layer reachability confirmation (TCP progress, `dst_confirm`): a valid entry
    /// becomes REACHABLE at the next timer check. Returns false when the entry is not valid.
    pub fn confirm(&mut self, now: u64, ifindex: u32, ip: IpAddr) -> bool {
        match self.entries.get_mut(&NeighKey { ifindex, ip }) {
            Some(e) if e.state.is_valid() => {
                e.confirmed = now;
                true
            }
            _ => false,
        }
    }

    /// `arp -s <ip> <mac>` / `ip neigh replace ... nud permanent`: a PERMANENT entry that
    /// learning never replaces; releases any packets queued on the entry.
    /// Error: [`NeighError::TableFull`].
    pub fn add_static(&mut self, ifindex: u32, ip: IpAddr, mac: MacAddr) -> Result<(), NeighError> {
        let key = NeighKey { ifindex, ip };
        if !self.entries.contains_key(&key) && !self.make_room() {
            return Err(NeighError::TableFull(self.entries.len()));
        }
        let e = self
            .entries
            .entry(key)
            .or_insert_with(|| Entry::new(0, NudState::Permanent));
        e.state = NudState::Permanent;
        e.mac = mac;
        e.timer = None;
        Self::release(&mut self.released, key, e);
        Ok(())
    }

    /// `arp -d <ip>` / `ip neigh del`: removes the entry, dropping its queued packets
    /// (counted in [`NeighStats::failed_drops`]). Returns whether it existed.
    pub fn remove(&mut self, ifindex: u32, ip: IpAddr) -> bool {
        match self.entries.remove(&NeighKey { ifindex, ip }) {
            Some(e) => {
                self.stats.failed_drops += e.queue.len() as u64;
                true
            }
            None => false,
        }
    }

    /// The next solicitation to send, oldest first.
    pub fn poll_transmit(&mut self) -> Option<Solicitation> {
        self.transmits.pop_front()
    }

    /// The next released packet, in queue order.
    pub fn poll_released(&mut self) -> Option<Released<P>> {
        self.released.pop_front()
    }

    /// The next event.
    pub fn poll_event(&mut self) -> Option<NeighEvent> {
        self.events.pop_front()
    }

    /// The earliest time (ms) at which [`Self::handle_timeout`] has work: a state timer or a
    /// garbage-collection deadline. O(entries).
    pub fn poll_timeout(&self) -> Option<u64> {
        self.entries
            .values()
            .flat_map(|e| [e.timer, e.gc_deadline(&self.cfg)])
            .flatten()
            .min()
    }

    /// Runs every timer due at `now` (net/core/neighbour.c `neigh_timer_handler`) and removes
    /// STALE/FAILED entries unused for `gc_stale_time`.
    pub fn handle_timeout(&mut self, now: u64) {
        let cfg = self.cfg;
        let mut gone: Vec<NeighKey> = Vec::new();
        for (key, e) in self.entries.iter_mut() {
            if e.gc_deadline(&cfg).is_some_and(|d| now >= d) {
                gone.push(*key);
                continue;
            }
            let Some(t) = e.timer else { continue };
            if now < t {
                continue;
            }
            e.timer = None;
            match e.state {
                NudState::Reachable => {
                    if now < e.confirmed.saturating_add(cfg.reachable_time_ms) {
                        e.timer = Some(e.confirmed.saturating_add(cfg.reachable_time_ms));
                    } else if now < e.used.saturating_add(cfg.delay_first_probe_time_ms) {
                        e.state = NudState::Delay;
                        e.updated = now;
                        e.timer = Some(now.saturating_add(cfg.delay_first_probe_time_ms));
                    } else {
                        e.state = NudState::Stale;
                        e.updated = now;
                    }
                }
                NudState::Delay => {
                    if now < e.confirmed.saturating_add(cfg.delay_first_probe_time_ms) {
                        e.state = NudState::Reachable;
                        e.updated = now;
                        e.timer = Some(e.confirmed.saturating_add(cfg.reachable_time_ms));
                    } else {
                        e.state = NudState::Probe;
                        e.updated = now;
                        e.probes = 0;
                        let mac = e.mac;
                        Self::solicit(&mut self.transmits, &mut self.stats, *key, e, Some(mac));
                        e.timer = Some(now.saturating_add(cfg.retrans_time_ms));
                    }
                }
                NudState::Incomplete | NudState::Probe => {
                    let max = if e.state == NudState::Incomplete {
                        cfg.mcast_solicit
                    } else {
                        cfg.ucast_solicit
                    };
                    if e.probes >= max {
                        e.state = NudState::Failed;
                        e.updated = now;
                        e.used = now;
                        let dropped = e.queue.len();
                        e.queue.clear();
                        e.queue_bytes = 0;
                        self.stats.failed_drops += dropped as u64;
                        self.events.push_back(NeighEvent::Failed {
                            ifindex: key.ifindex,
                            ip: key.ip,
                            dropped,
                        });
                    } else {
                        let uni = (e.state == NudState::Probe).then_some(e.mac);
                        Self::solicit(&mut self.transmits, &mut self.stats, *key, e, uni);
                        e.timer = Some(now.saturating_add(cfg.retrans_time_ms));
                    }
                }
                NudState::Stale | NudState::Failed | NudState::Permanent => {}
            }
        }
        for key in gone {
            self.entries.remove(&key);
            self.stats.gc_removed += 1;
        }
    }
}
