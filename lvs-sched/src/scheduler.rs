//! The per-virtual-service scheduler object: the real-server list plus the state of one
//! scheduler, behind one small interface.

use std::net::IpAddr;
use std::time::Duration;

use crate::dest::{ConnClass, Dest, DestFlags, DestId, DestParams};
use crate::error::{NoServer, SchedError};
use crate::indexed::{LeastKind, Tournament};
use crate::kind::{SchedConfig, SchedFlags, SchedulerKind};
use crate::lblc::Lblc;
use crate::lblcr::Lblcr;
use crate::list::DestList;
use crate::mh::MhState;
use crate::rng::SplitMix64;
use crate::rr::RrState;
use crate::sh::ShTable;
use crate::wrr::WrrState;
use crate::{dh, twos};

/// What a scheduler may read of the packet that opens a connection (`struct ip_vs_iphdr`
/// and the first ports).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct PacketInfo {
    /// Source address (CIP for a client packet).
    pub saddr: IpAddr,
    /// Destination address (VIP for a client packet).
    pub daddr: IpAddr,
    /// Source port, host byte order; 0 for protocols without ports (anything but TCP, UDP,
    /// SCTP, as `ip_vs_sh_get_port()` / `ip_vs_mh_get_port()` do).
    pub sport: u16,
    /// Destination port, host byte order; 0 for protocols without ports.
    pub dport: u16,
    /// The packet travels in the reply direction (`ip_vs_iph_inverse()`, e.g. an ICMP
    /// error quoting a reply): sh and mh then hash daddr / dport instead of saddr / sport.
    pub inverse: bool,
}

impl PacketInfo {
    /// A client-to-VIP packet `saddr:sport -> daddr:dport`.
    pub fn new(saddr: IpAddr, sport: u16, daddr: IpAddr, dport: u16) -> Self {
        PacketInfo {
            saddr,
            daddr,
            sport,
            dport,
            inverse: false,
        }
    }
}

/// The counter a connection class uses.
fn counter(d: &mut Dest, class: ConnClass) -> &mut u32 {
    match class {
        ConnClass::Active => &mut d.activeconns,
        ConnClass::Inactive => &mut d.inactconns,
        ConnClass::Template => &mut d.persistconns,
    }
}

#[derive(Debug, Clone)]
enum State {
    Rr(RrState),
    Wrr(WrrState),
    Least(Tournament),
    Twos(SplitMix64),
    Dh,
    Sh(ShTable),
    Mh(MhState),
    Lblc(Lblc, Tournament),
    Lblcr(Lblcr, Tournament),
}

/// One virtual service's scheduler: the real-server list in the kernel's list order (newest
/// first; see [`Scheduler::add_dest`]) and the state of the chosen IPVS scheduler.
///
/// lvs-core owns the virtual service and tells the scheduler about every real-server change
/// (`add_dest`, `edit_dest`, `remove_dest`) and every connection-counter change
/// (`bind_conn`, `unbind_conn`, `move_conn`), then asks [`Scheduler::schedule`] for new
/// connections. Single-threaded: `&mut self` for every call; a multi-threaded director wraps
/// it (or keeps one per worker with shared counters reported in).
///
/// Costs: rr, wrr and twos are O(N) worst case like the kernel (rr/wrr O(1) amortised when
/// servers are usable); lc, wlc, sed, nq, fo, ovf decide in O(1) with O(log N) per counter
/// change (see `indexed.rs`); dh, sh, mh decide in O(1) (O(M) with fallback at worst); lblc
/// and lblcr in O(1) expected plus the set size. Add/remove/edit cost O(N) (O(M log M) for
/// mh).
#[derive(Debug, Clone)]
pub struct Scheduler {
    kind: SchedulerKind,
    config: SchedConfig,
    list: DestList,
    state: State,
}

impl Scheduler {
    /// A scheduler with no real servers. `now` (any monotonic clock of the caller, as a
    /// duration since its epoch) arms the lblc/lblcr garbage-collection timer 60 s later,
    /// as `init_service` does; other schedulers ignore it.
    pub fn new(kind: SchedulerKind, config: SchedConfig, now: Duration) -> Self {
        let list = DestList::default();
        let state = Self::init_state(kind, &config, &list, now);
        Scheduler {
            kind,
            config,
            list,
            state,
        }
    }

    fn init_state(
        kind: SchedulerKind,
        config: &SchedConfig,
        list: &DestList,
        now: Duration,
    ) -> State {
        let d = list.dests();
        let least = |k| State::Least(Tournament::new(k, d));
        match kind {
            SchedulerKind::Rr => State::Rr(RrState::default()),
            SchedulerKind::Wrr => State::Wrr(WrrState::new(d)),
            SchedulerKind::Lc => least(LeastKind::Lc),
            SchedulerKind::Wlc => least(LeastKind::Wlc),
            SchedulerKind::Sed => least(LeastKind::Sed),
            SchedulerKind::Nq => least(LeastKind::Nq),
            SchedulerKind::Fo => least(LeastKind::Fo),
            SchedulerKind::Ovf => least(LeastKind::Ovf),
            SchedulerKind::Twos => State::Twos(SplitMix64::new(config.seed)),
            SchedulerKind::Dh => State::Dh,
            SchedulerKind::Sh => State::Sh(ShTable::new(config.sh_tab_bits, d)),
            SchedulerKind::Mh => State::Mh(MhState::new(config.mh_table_size, d)),
            SchedulerKind::Lblc => State::Lblc(
                Lblc::new(now, config.lblc_expiration),
                Tournament::new(LeastKind::Wlc, d),
            ),
            SchedulerKind::Lblcr => State::Lblcr(
                Lblcr::new(now, config.lblcr_expiration),
                Tournament::new(LeastKind::Wlc, d),
            ),
        }
    }

    /// The scheduler in use.
    pub fn kind(&self) -> SchedulerKind {
        self.kind
    }

    /// The configuration in use.
    pub fn config(&self) -> &SchedConfig {
        &self.config
    }

    /// Switch scheduler (ipvsadm `-E -s NAME`): the old scheduler's state (rr position,
    /// lblc entries, ...) is dropped and the new one starts fresh over the same list, as
    /// `ip_vs_edit_service()` unbinds the old and binds the new scheduler. `now` as in
    /// [`Scheduler::new`]. Setting the scheduler already in use changes nothing (the kernel
    /// rebinds only when the scheduler differs). Fails only for mh with more real servers
    /// than Maglev slots ([`SchedError::TooManyDests`]); nothing changes then.
    pub fn set_kind(&mut self, kind: SchedulerKind, now: Duration) -> Result<(), SchedError> {
        if kind == self.kind {
            return Ok(());
        }
        if kind == SchedulerKind::Mh {
            self.check_mh_room(self.list.len())?;
        }
        self.kind = kind;
        self.state = Self::init_state(kind, &self.config, &self.list, now);
        Ok(())
    }

    /// Change the scheduler flags (ipvsadm `-E -b`). Read at each decision.
    pub fn set_flags(&mut self, flags: SchedFlags) {
        self.config.flags = flags;
    }

    /// Number of real servers.
    pub fn len(&self) -> usize {
        self.list.len()
    }

    /// No real servers.
    pub fn is_empty(&self) -> bool {
        self.list.len() == 0
    }

    /// The real server `id`, if in the list.
    pub fn dest(&self, id: DestId) -> Option<&Dest> {
        self.list.by_id(id)
    }

    /// The real servers in list order (head first = most recently added first, as
    /// `ipvsadm -L` lists them).
    pub fn dests(&self) -> impl Iterator<Item = (DestId, &Dest)> + '_ {
        self.list
            .ids()
            .iter()
            .copied()
            .zip(self.list.dests().iter())
    }

    /// Number of cached lblc / lblcr entries (0 for other schedulers).
    pub fn locality_entries(&self) -> usize {
        match &self.state {
            State::Lblc(l, _) => l.table.len(),
            State::Lblcr(l, _) => l.table.len(),
            _ => 0,
        }
    }

    /// The cached lblc real server, or the lblcr set (head first), for destination address
    /// `daddr`; `None` when there is no entry or for other schedulers. Introspection for
    /// tests and `ipvsadm`-style listings; allocates.
    pub fn locality_entry(&self, daddr: IpAddr) -> Option<Vec<DestId>> {
        match &self.state {
            State::Lblc(l, _) => l.table.get(daddr).map(|e| vec![e.val]),
            State::Lblcr(l, _) => l.table.get(daddr).map(|e| e.val.members.clone()),
            _ => None,
        }
    }

    fn check_params(p: &DestParams) -> Result<(), SchedError> {
        if p.weight < 0 {
            return Err(SchedError::NegativeWeight(p.weight));
        }
        if p.l_threshold > p.u_threshold {
            return Err(SchedError::ThresholdOrder {
                u_threshold: p.u_threshold,
                l_threshold: p.l_threshold,
            });
        }
        Ok(())
    }

    fn check_mh_room(&self, n: usize) -> Result<(), SchedError> {
        let m = self.config.mh_table_size.get();
        if n > m as usize {
            return Err(SchedError::TooManyDests {
                dests: n,
                table_size: m,
            });
        }
        Ok(())
    }

    /// Add a real server (ipvsadm `-a`; `ip_vs_add_dest()` + `__ip_vs_update_dest(add=1)`).
    ///
    /// It is linked at the HEAD of the list, as the kernel's `list_add_rcu()` does, so list
    /// order is newest first. Flags start as AVAILABLE, counters at 0 (use
    /// [`Scheduler::set_conns`] to carry counts over), `last_weight` = weight. Then the
    /// scheduler's add hook runs: wrr recomputes gcd/max and restarts at the head, sh and mh
    /// rebuild their tables, lc/wlc/... re-index; lblc/lblcr tables are kept.
    ///
    /// Errors: [`SchedError::DestExists`], [`SchedError::NegativeWeight`],
    /// [`SchedError::ThresholdOrder`], and for mh [`SchedError::TooManyDests`].
    pub fn add_dest(
        &mut self,
        id: DestId,
        addr: IpAddr,
        port: u16,
        params: DestParams,
    ) -> Result<(), SchedError> {
        if self.list.position(id).is_some() {
            return Err(SchedError::DestExists(id));
        }
        Self::check_params(&params)?;
        if self.kind == SchedulerKind::Mh {
            self.check_mh_room(self.list.len() + 1)?;
        }
        let d = Dest {
            addr,
            port,
            weight: params.weight,
            last_weight: params.weight,
            activeconns: 0,
            inactconns: 0,
            persistconns: 0,
            flags: DestFlags(DestFlags::AVAILABLE),
            u_threshold: params.u_threshold,
            l_threshold: params.l_threshold,
        };
        self.list.push_head(id, d);
        if let State::Rr(s) = &mut self.state {
            s.on_add_head();
        }
        self.list_changed();
        Ok(())
    }

    /// Edit a real server's weight and thresholds (ipvsadm `-e`; `__ip_vs_update_dest(add=0)`):
    /// `last_weight` takes the new weight unless it is 0; AVAILABLE is set; OVERLOAD is
    /// cleared when the new u_threshold is 0 or larger than the old one. Then the
    /// scheduler's update hook runs (wrr, sh, mh recompute; the list order is unchanged).
    ///
    /// Errors: [`SchedError::NoSuchDest`], [`SchedError::NegativeWeight`],
    /// [`SchedError::ThresholdOrder`].
    pub fn edit_dest(&mut self, id: DestId, params: DestParams) -> Result<(), SchedError> {
        let i = self.list.position(id).ok_or(SchedError::NoSuchDest(id))?;
        Self::check_params(&params)?;
        self.list.modify(i, |d| {
            if params.weight != 0 {
                d.last_weight = params.weight;
            }
            d.weight = params.weight;
            d.flags.0 |= DestFlags::AVAILABLE;
            if params.u_threshold == 0 || params.u_threshold > d.u_threshold {
                d.flags.0 &= !DestFlags::OVERLOAD;
            }
            d.u_threshold = params.u_threshold;
            d.l_threshold = params.l_threshold;
        });
        self.dest_updated(i);
        self.list_changed_in_place();
        Ok(())
    }

    /// Remove a real server (ipvsadm `-d`; `__ip_vs_unlink_dest()` + `del_dest`). Returns
    /// its last state (counters included, for lvs-core's own trash). rr moves its position
    /// to the predecessor; wrr, sh, mh recompute. lblc/lblcr entries naming it stay and are
    /// treated as not AVAILABLE until the same id is added again.
    ///
    /// Errors: [`SchedError::NoSuchDest`].
    pub fn remove_dest(&mut self, id: DestId) -> Result<Dest, SchedError> {
        let i = self.list.position(id).ok_or(SchedError::NoSuchDest(id))?;
        let mut d = self.list.remove(i).ok_or(SchedError::NoSuchDest(id))?;
        d.flags.0 &= !DestFlags::AVAILABLE;
        if let State::Rr(s) = &mut self.state {
            s.on_remove(i);
        }
        self.list_changed();
        Ok(d)
    }

    /// A connection was bound to real server `id` (`ip_vs_bind_dest()` in ip_vs_conn.c):
    /// its counter goes up by one, then OVERLOAD is set when u_threshold != 0 and
    /// activeconns + inactconns >= u_threshold.
    ///
    /// Errors: [`SchedError::NoSuchDest`].
    pub fn bind_conn(&mut self, id: DestId, class: ConnClass) -> Result<(), SchedError> {
        let i = self.list.position(id).ok_or(SchedError::NoSuchDest(id))?;
        self.list.modify(i, |d| {
            let c = counter(d, class);
            *c = c.saturating_add(1);
            if d.u_threshold != 0 && d.totalconns() >= d.u_threshold as u64 {
                d.flags.0 |= DestFlags::OVERLOAD;
            }
        });
        self.dest_updated(i);
        Ok(())
    }

    /// A connection was unbound from real server `id` (`ip_vs_unbind_dest()`): its counter
    /// goes down by one, then OVERLOAD is cleared: with l_threshold != 0 when
    /// activeconns + inactconns < l_threshold; else with u_threshold != 0 when
    /// total * 4 < u_threshold * 3; else always.
    ///
    /// Errors: [`SchedError::NoSuchDest`], [`SchedError::CounterUnderflow`] (nothing changes).
    pub fn unbind_conn(&mut self, id: DestId, class: ConnClass) -> Result<(), SchedError> {
        self.change_counters(id, |d| {
            let c = counter(d, class);
            let Some(v) = c.checked_sub(1) else {
                return false;
            };
            *c = v;
            let total = d.totalconns();
            let clear = if d.l_threshold != 0 {
                total < d.l_threshold as u64
            } else if d.u_threshold != 0 {
                total * 4 < d.u_threshold as u64 * 3
            } else {
                true
            };
            if clear {
                d.flags.0 &= !DestFlags::OVERLOAD;
            }
            true
        })
    }

    /// A connection of real server `id` moved between counters (e.g. TCP SYN_RECV ->
    /// ESTABLISHED moves inactive -> active in ip_vs_proto_tcp.c `set_tcp_state()`). No
    /// OVERLOAD change, as in the kernel.
    ///
    /// Errors: [`SchedError::NoSuchDest`], [`SchedError::CounterUnderflow`] (nothing changes).
    pub fn move_conn(
        &mut self,
        id: DestId,
        from: ConnClass,
        to: ConnClass,
    ) -> Result<(), SchedError> {
        self.change_counters(id, |d| {
            let Some(v) = counter(d, from).checked_sub(1) else {
                return false;
            };
            *counter(d, from) = v;
            let t = counter(d, to);
            *t = t.saturating_add(1);
            true
        })
    }

    /// Applies `f` to real server `id`; `f` returns false for an underflow (and must then
    /// leave the real server unchanged).
    fn change_counters(
        &mut self,
        id: DestId,
        f: impl FnOnce(&mut Dest) -> bool,
    ) -> Result<(), SchedError> {
        let i = self.list.position(id).ok_or(SchedError::NoSuchDest(id))?;
        if !self.list.modify(i, f).unwrap_or(false) {
            return Err(SchedError::CounterUnderflow(id));
        }
        self.dest_updated(i);
        Ok(())
    }

    /// Set the counters of real server `id` directly (state carried over from lvs-core's
    /// trash or a sync). OVERLOAD is not touched.
    ///
    /// Errors: [`SchedError::NoSuchDest`].
    pub fn set_conns(
        &mut self,
        id: DestId,
        activeconns: u32,
        inactconns: u32,
        persistconns: u32,
    ) -> Result<(), SchedError> {
        let i = self.list.position(id).ok_or(SchedError::NoSuchDest(id))?;
        // Unchanged counters (e.g. a state change within the same class, such as TCP
        // NONE -> SYN_RECV): nothing to write, no index path to recompute.
        if self.list.get(i).is_some_and(|d| {
            d.activeconns == activeconns
                && d.inactconns == inactconns
                && d.persistconns == persistconns
        }) {
            return Ok(());
        }
        self.list.modify(i, |d| {
            d.activeconns = activeconns;
            d.inactconns = inactconns;
            d.persistconns = persistconns;
        });
        self.dest_updated(i);
        Ok(())
    }

    /// Pick the real server for a new connection (`svc->scheduler->schedule()`).
    ///
    /// `now` is the caller's monotonic time; lblc/lblcr stamp entries with it and, if their
    /// garbage collection is due, run it first (the same as calling
    /// [`Scheduler::handle_timeout`]). No allocation, except lblc/lblcr creating an entry.
    ///
    /// Returns [`NoServer`] (never panics) when the list is empty or no real server may be
    /// picked under the scheduler's rule.
    pub fn schedule(&mut self, pkt: &PacketInfo, now: Duration) -> Result<DestId, NoServer> {
        let flags = self.config.flags;
        let hash_src = |port_flag: u32| {
            let addr = if pkt.inverse { pkt.daddr } else { pkt.saddr };
            let port = if flags.contains(port_flag) {
                if pkt.inverse { pkt.dport } else { pkt.sport }
            } else {
                0
            };
            (addr, port)
        };
        let d = self.list.dests();
        let pick = match &mut self.state {
            State::Rr(s) => s.schedule(d),
            State::Wrr(s) => s.schedule(d),
            State::Least(t) => t.best(),
            State::Twos(rng) => twos::schedule(d, rng),
            State::Dh => dh::schedule(d, pkt.daddr),
            State::Sh(t) => {
                let (addr, port) = hash_src(SchedFlags::SH_PORT);
                t.schedule(d, addr, port, flags.contains(SchedFlags::SH_FALLBACK))
            }
            State::Mh(t) => {
                let (addr, port) = hash_src(SchedFlags::MH_PORT);
                t.schedule(d, addr, port, flags.contains(SchedFlags::MH_FALLBACK))
            }
            State::Lblc(l, t) => {
                l.table.handle_timeout(now);
                l.schedule(&self.list, t.best(), pkt.daddr, now)
            }
            State::Lblcr(l, t) => {
                l.table.handle_timeout(now);
                l.schedule(&self.list, t.best(), pkt.daddr, now)
            }
        };
        pick.and_then(|i| self.list.id_at(i)).ok_or(NoServer)
    }

    /// Run due timers: lblc/lblcr garbage collection (every 60 s; see [`crate::lblc`]).
    /// A no-op for other schedulers or when nothing is due.
    pub fn handle_timeout(&mut self, now: Duration) {
        match &mut self.state {
            State::Lblc(l, _) => l.table.handle_timeout(now),
            State::Lblcr(l, _) => l.table.handle_timeout(now),
            _ => {}
        }
    }

    /// When [`Scheduler::handle_timeout`] next has work: `Some(t)` for lblc/lblcr (the
    /// garbage-collection timer), `None` for the others.
    pub fn poll_timeout(&self) -> Option<Duration> {
        match &self.state {
            State::Lblc(l, _) => Some(l.table.poll_timeout()),
            State::Lblcr(l, _) => Some(l.table.poll_timeout()),
            _ => None,
        }
    }

    /// Counters/flags/weight of position `i` changed.
    fn dest_updated(&mut self, i: usize) {
        let d = self.list.dests();
        match &mut self.state {
            State::Least(t) | State::Lblc(_, t) | State::Lblcr(_, t) => t.update(i, d),
            _ => {}
        }
    }

    /// Edit hook (`upd_dest`): positions unchanged.
    fn list_changed_in_place(&mut self) {
        let d = self.list.dests();
        match &mut self.state {
            State::Wrr(s) => s.dest_changed(d),
            State::Sh(t) => t.reassign(d),
            State::Mh(t) => t.reassign(d),
            _ => {}
        }
    }

    /// Add/remove hook: positions shifted.
    fn list_changed(&mut self) {
        let d = self.list.dests();
        match &mut self.state {
            State::Least(t) | State::Lblc(_, t) | State::Lblcr(_, t) => t.rebuild(d),
            _ => {}
        }
        self.list_changed_in_place();
    }

    /// The kernel's O(N) scan for lc/wlc/sed/nq/fo/ovf (and the wlc fallback of
    /// lblc/lblcr) over the current list: the reference the indexed pick must equal.
    #[doc(hidden)]
    pub fn reference_scan(&self) -> Option<DestId> {
        let k = match self.kind {
            SchedulerKind::Lc => LeastKind::Lc,
            SchedulerKind::Sed => LeastKind::Sed,
            SchedulerKind::Nq => LeastKind::Nq,
            SchedulerKind::Fo => LeastKind::Fo,
            SchedulerKind::Ovf => LeastKind::Ovf,
            _ => LeastKind::Wlc,
        };
        k.scan(self.list.dests()).and_then(|i| self.list.id_at(i))
    }

    /// The indexed pick of lc/wlc/sed/nq/fo/ovf (the wlc fallback for lblc/lblcr) without
    /// side effects; `None` for other schedulers.
    #[doc(hidden)]
    pub fn indexed_pick(&self) -> Option<DestId> {
        match &self.state {
            State::Least(t) | State::Lblc(_, t) | State::Lblcr(_, t) => {
                t.best().and_then(|i| self.list.id_at(i))
            }
            _ => None,
        }
    }
}
