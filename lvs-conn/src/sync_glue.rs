//! Glue between [`ConnTable`] entries and the connection-sync wire struct
//! ([`crate::sync::SyncConn`]): export under the kernel's when-to-send rule (ip_vs_sync.c
//! `ip_vs_sync_conn()`), import creating or updating entries flagged SYNC
//! (`ip_vs_proc_conn()`).

use std::time::Instant;

use crate::error::ConnError;
use crate::flags::{FwdMethod, conn_flags as cf};
use crate::inner::{Addr, Entry, Inner, NIL, TICKS_PER_SEC};
use crate::proto::{SCTP_STATE_COUNT, TCP_STATE_COUNT, ipproto};
use crate::sync::{
    BACKUP_TEMPLATE_TIMEOUT_SECS, SyncCandidate, SyncConfig, SyncConn, SyncVersion, chain_step,
    control_pkts,
};
use crate::table::{ConnId, ConnParams, ConnTable, DestId, Shared, TemplateKey, resolve};

fn wire_of<A: Addr>(e: &Entry<A>) -> SyncConn<'static> {
    SyncConn {
        protocol: e.proto,
        caddr: e.caddr.to_ip(),
        cport: e.cport,
        vaddr: e.vaddr.to_ip(),
        vport: e.vport,
        daddr: e.daddr.to_ip(),
        dport: e.dport,
        flags: e.kflags() & !cf::HASHED,
        state: u16::from(e.state),
        fwmark: 0,
        timeout: e.timeout,
        seq: None,
        pe_data: None,
        pe_name: None,
    }
}

/// Walk the control chain from `idx` (`ip_vs_sync_conn()`), emitting what to send.
fn chain<A: Addr>(
    inner: &mut Inner<A>,
    v6: bool,
    start: u32,
    cfg: &SyncConfig,
    now_ms: u64,
    emit: &mut dyn FnMut(SyncConn<'static>),
) -> usize {
    let mut idx = start;
    let mut sent = 0;
    // Bounded walk: a chain is at most as long as the table.
    for step_no in 0..=inner.len {
        // in_persistence(): some entry up the chain is a template.
        let mut in_persistence = false;
        let mut up = inner.get_cold(idx).map_or(NIL, |e| e.control);
        for _ in 0..inner.len {
            match inner.get_both(up) {
                Some((c, _)) if c.is_template() => {
                    in_persistence = true;
                    break;
                }
                Some((_, c)) => up = c.control,
                None => break,
            }
        }
        let Some((e, cold)) = inner.get_both_mut(idx) else {
            break;
        };
        let pkts = if step_no == 0 {
            e.in_pkts
        } else {
            control_pkts(cfg, e.kflags(), &mut e.in_pkts)
        };
        let cand = SyncCandidate {
            protocol: e.proto,
            state: u16::from(e.state),
            old_state: u16::from(cold.old_state),
            flags: e.kflags() & !cf::HASHED,
            in_persistence,
            timeout_ms: u64::from(e.timeout) * 1000,
            sync_endtime: 0,
        };
        let step = chain_step(cfg, &cand, v6, pkts, now_ms);
        if step.decision.is_send() {
            cold.old_state = e.state;
            emit(wire_of(e));
            sent += 1;
        }
        if !step.continue_to_control || cold.control == NIL {
            break;
        }
        idx = cold.control;
    }
    sent
}

/// Apply a sync message to an existing entry (`ip_vs_proc_conn()`, existing-entry branch).
#[derive(Clone, Copy)]
struct Update {
    flags: u32,
    state: u8,
    timeout: u32,
    dest: Option<DestId>,
    sync_threshold: u32,
    now_t: u64,
}

fn set_pkts<A: Addr>(inner: &mut Inner<A>, id: ConnId, v: u32) {
    if let Some(idx) = resolve(inner, id)
        && let Some(e) = inner.get_mut(idx)
    {
        e.in_pkts = v;
    }
}

fn update<A: Addr>(inner: &mut Inner<A>, sh: &mut Shared, idx: u32, u: &Update) {
    let Update {
        flags,
        state,
        timeout,
        dest,
        sync_threshold,
        now_t,
    } = *u;
    let Some(e) = inner.get_mut(idx) else {
        return;
    };
    let old = e.kflags();
    if !e.is_template() && e.dest != NIL && (old ^ flags) & cf::INACTIVE != 0 {
        let d = e.dest;
        if let Some(c) = sh.dest_mut(d) {
            if flags & cf::INACTIVE != 0 {
                c.activeconns = c.activeconns.saturating_sub(1);
                c.inactconns += 1;
            } else {
                c.inactconns = c.inactconns.saturating_sub(1);
                c.activeconns += 1;
            }
        }
    }
    let keep = old & !cf::BACKUP_UPD_MASK;
    let new = keep | (flags & cf::BACKUP_UPD_MASK);
    let internal = e.flags & !crate::inner::KERNEL_FLAGS;
    e.flags = internal | (new as u16 & crate::inner::KERNEL_FLAGS);
    if e.dest == NIL
        && let Some(d) = dest
        && d.0 < sh.cfg.max_dests
    {
        e.dest = d.0;
        let f = e.flags;
        sh.bind(d.0, f);
    }
    e.in_pkts = sync_threshold;
    e.timeout = timeout;
    inner.set_state(idx, state);
    if let Some(e) = inner.get_cold_mut(idx) {
        e.old_state = state;
    }
    inner.rearm(
        idx,
        now_t + u64::from(timeout.min(crate::proto::MAX_TIMEOUT_SECS)) * TICKS_PER_SEC,
    );
}

fn state_valid(protocol: u8, state: u16, template: bool) -> bool {
    let s = usize::from(state);
    if template {
        return s < 2;
    }
    match protocol {
        ipproto::TCP => s < TCP_STATE_COUNT,
        ipproto::SCTP => s < SCTP_STATE_COUNT,
        _ => s == 0,
    }
}

impl ConnTable {
    /// The wire form of entry `id` (flags without HASHED, state and timeout in seconds as
    /// the kernel sends them; no fwmark, sequence or persistence-engine data is kept here).
    pub fn sync_conn(&self, id: ConnId) -> Option<SyncConn<'static>> {
        if id.v6() {
            self.v6.get(resolve(&self.v6, id)?).map(wire_of)
        } else {
            self.v4.get(resolve(&self.v4, id)?).map(wire_of)
        }
    }

    /// Master side, after [`ConnTable::on_packet`] of an inbound packet on `id`: the kernel's
    /// `ip_vs_sync_conn()` walk. The connection's incoming packet count (already incremented
    /// by `on_packet`) is `pkts`; [`crate::sync::chain_step`] decides for it, then for its
    /// template / control connection (whose own count is incremented,
    /// [`crate::sync::control_pkts`]), and so on. Each entry to send is passed to `emit` and
    /// its `old_state` updated. Returns how many were emitted. The refresh-period rule is not
    /// tracked per entry here (`sync_endtime` is always 0), so `sync_refresh_period` only
    /// changes the `sync_period = 0` case.
    ///
    /// Errors: [`ConnError::NoSuchConn`].
    pub fn sync_after_input(
        &mut self,
        id: ConnId,
        cfg: &SyncConfig,
        now: Instant,
        mut emit: impl FnMut(SyncConn<'static>),
    ) -> Result<usize, ConnError> {
        let now_ms = now.saturating_duration_since(self.sh.epoch).as_millis() as u64;
        if id.v6() {
            let idx = resolve(&self.v6, id).ok_or(ConnError::NoSuchConn)?;
            Ok(chain(&mut self.v6, true, idx, cfg, now_ms, &mut emit))
        } else {
            let idx = resolve(&self.v4, id).ok_or(ConnError::NoSuchConn)?;
            Ok(chain(&mut self.v4, false, idx, cfg, now_ms, &mut emit))
        }
    }

    /// Backup side: apply one decoded sync connection (`ip_vs_proc_conn()`). Flags are
    /// [`SyncConn::import_flags`] (they carry SYNC). The entry is looked up by protocol +
    /// CIP:cport + VIP:vport (templates by their template key); an existing entry for another
    /// real server is expired and replaced when the message is active, and the message is
    /// ignored (`Ok(None)`) when inactive; an existing entry takes only the INACTIVE and
    /// sequence bits (moving its real server between activeconns and inactconns) and gets
    /// `dest` bound if it had none; a new entry is inserted bound to `dest`. State, timeout
    /// (the message's, else the protocol's for the state, else 180 s for templates) and the
    /// packet count (`sync_threshold`) are set.
    ///
    /// Errors: [`ConnError::InvalidSyncState`] for a state number out of the protocol's
    /// range, [`ConnError::UnsupportedProtocol`], [`ConnError::MissingLocal`] (FULLNAT is not
    /// synced), and those of [`ConnTable::insert_raw`].
    pub fn sync_import(
        &mut self,
        c: &SyncConn<'_>,
        version: SyncVersion,
        dest: Option<DestId>,
        sync_threshold: u32,
        now: Instant,
    ) -> Result<Option<ConnId>, ConnError> {
        let flags = c.import_flags(version) & 0x3fef;
        let template = flags & cf::TEMPLATE != 0;
        if !state_valid(c.protocol, c.state, template) {
            return Err(ConnError::InvalidSyncState(c.state));
        }
        let state = c.state as u8;
        let timeout = if c.timeout != 0 {
            c.timeout.min(crate::proto::MAX_TIMEOUT_SECS)
        } else if template {
            BACKUP_TEMPLATE_TIMEOUT_SECS
        } else {
            self.sh.cfg.timeouts.for_state(c.protocol, state)
        };
        let existing = if template {
            self.lookup_template(&TemplateKey {
                protocol: c.protocol,
                caddr: c.caddr,
                vaddr: c.vaddr,
                vport: c.vport,
            })
        } else {
            self.lookup_in(c.protocol, c.caddr, c.cport, c.vaddr, c.vport)
        };
        if let Some(id) = existing {
            let moved = self
                .get(id)
                .is_some_and(|v| !template && (v.daddr != c.daddr || v.dport != c.dport));
            if !moved {
                let now_t = self.sh.ticks(now);
                let u = Update {
                    flags,
                    state,
                    timeout,
                    dest,
                    sync_threshold,
                    now_t,
                };
                if id.v6() {
                    let idx = resolve(&self.v6, id).ok_or(ConnError::NoSuchConn)?;
                    update(&mut self.v6, &mut self.sh, idx, &u);
                } else {
                    let idx = resolve(&self.v4, id).ok_or(ConnError::NoSuchConn)?;
                    update(&mut self.v4, &mut self.sh, idx, &u);
                }
                return Ok(Some(id));
            }
            if flags & cf::INACTIVE != 0 {
                return Ok(None);
            }
            self.expire_now(id, now)?;
        }
        let fwd = FwdMethod::from_bits(flags).unwrap_or(FwdMethod::Masq);
        let p = ConnParams {
            protocol: c.protocol,
            caddr: c.caddr,
            cport: c.cport,
            vaddr: c.vaddr,
            vport: c.vport,
            daddr: c.daddr,
            dport: c.dport,
            fwd,
            dest,
            local: None,
        };
        let id = self.insert_raw(&p, None, state, flags, timeout, now)?;
        if id.v6() {
            set_pkts(&mut self.v6, id, sync_threshold);
        } else {
            set_pkts(&mut self.v4, id, sync_threshold);
        }
        Ok(Some(id))
    }
}
