//! Which connections a master sends when: `ip_vs_sync_conn_needed()`, the gates of
//! `ip_vs_sync_conn()` / `ip_vs_sync_conn_v0()` and the packet counting of `ip_vs_in()`
//! (net/netfilter/ipvs/ip_vs_sync.c, ip_vs_core.c), as pure functions. Time is the caller's
//! `now` in milliseconds, playing the role of jiffies at HZ = 1000.

use super::{
    IP_VS_CONN_F_ONE_PACKET, IP_VS_CONN_F_TEMPLATE, IPPROTO_SCTP, IPPROTO_TCP, SyncError,
    SyncVersion,
};

/// The master's sync sysctls (`net.ipv4.vs.*`, Documentation/networking/ipvs-sysctl.rst,
/// defaults from include/net/ip_vs.h).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SyncConfig {
    /// First value of `sync_threshold` (default 3, `DEFAULT_SYNC_THRESHOLD`): a connection is
    /// sent when its incoming packet count modulo `sync_period` equals this.
    pub sync_threshold: u32,
    /// Second value of `sync_threshold` (default 50, `DEFAULT_SYNC_PERIOD`); 0 sends only on
    /// state changes or once when the count equals `sync_threshold`.
    pub sync_period: u32,
    /// `sync_refresh_period` in milliseconds (the sysctl is in seconds; default 0,
    /// `DEFAULT_SYNC_REFRESH_PERIOD`): when not 0, a connection is not resent while its
    /// expiry moved by less than this (and less than half its timeout, at least 10 s).
    pub sync_refresh_period_ms: u64,
    /// `sync_retries`, 0..=3 (default 0): extra resends, each `sync_refresh_period / 8`
    /// apart, while the refresh period holds a connection back.
    pub sync_retries: u8,
    /// `sync_persist_mode` (default off): do not send connections controlled by a persistence
    /// template (the template carries the binding).
    pub sync_persist_mode: bool,
    /// `sync_version` (default 1).
    pub sync_version: SyncVersion,
}

impl Default for SyncConfig {
    fn default() -> Self {
        SyncConfig {
            sync_threshold: 3,
            sync_period: 50,
            sync_refresh_period_ms: 0,
            sync_retries: 0,
            sync_persist_mode: false,
            sync_version: SyncVersion::V1,
        }
    }
}

impl SyncConfig {
    /// Checks the values the kernel's sysctl handlers refuse: [`SyncError::InvalidSyncThreshold`]
    /// when `sync_period` is not 0 and `sync_threshold >= sync_period`
    /// (`proc_do_sync_threshold()`), [`SyncError::InvalidSyncRetries`] above 3.
    pub fn validate(&self) -> Result<(), SyncError> {
        if self.sync_period != 0 && self.sync_threshold >= self.sync_period {
            return Err(SyncError::InvalidSyncThreshold {
                threshold: self.sync_threshold,
                period: self.sync_period,
            });
        }
        if self.sync_retries > 3 {
            return Err(SyncError::InvalidSyncRetries {
                retries: self.sync_retries,
            });
        }
        Ok(())
    }
}

/// What [`should_sync`] needs to know about one entry (connection or template) of the caller's
/// table, in the kernel's terms (`struct ip_vs_conn`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SyncCandidate {
    /// IP protocol number.
    pub protocol: u8,
    /// Current kernel state number (`cp->state`).
    pub state: u16,
    /// State when the entry was last sent (`cp->old_state`); the caller sets it to `state`
    /// whenever [`should_sync`] returns [`SyncDecision::Send`], and on creation.
    pub old_state: u16,
    /// `IP_VS_CONN_F_*` flags.
    pub flags: u32,
    /// Whether some entry up the control chain is a template (`in_persistence()`); only read
    /// when [`SyncConfig::sync_persist_mode`] is on.
    pub in_persistence: bool,
    /// The entry's current timeout in milliseconds (`cp->timeout`).
    pub timeout_ms: u64,
    /// The value [`should_sync`] returned last time in [`SyncDecision::Send`]
    /// (`cp->sync_endtime`: expiry time in ms with the retry count in the 2 low bits), 0 for a
    /// new entry.
    pub sync_endtime: u64,
}

/// The outcome of [`should_sync`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[must_use]
pub enum SyncDecision {
    /// Do not send the entry now; change nothing.
    Skip,
    /// Send the entry; then store `sync_endtime` in it and set its `old_state` to its state.
    Send {
        /// New value of the entry's `sync_endtime`.
        sync_endtime: u64,
    },
}

impl SyncDecision {
    /// Whether the entry is to be sent.
    pub fn is_send(&self) -> bool {
        matches!(self, SyncDecision::Send { .. })
    }
}

/// TCP states in which a connection is synced (`IP_VS_TCP_S_ESTABLISHED` 1, `FIN_WAIT` 4,
/// `TIME_WAIT` 5, `CLOSE` 6, `CLOSE_WAIT` 7).
const TCP_S_ESTABLISHED: u16 = 1;
/// SCTP `IP_VS_SCTP_S_ESTABLISHED`.
const SCTP_S_ESTABLISHED: u16 = 8;

fn tcp_synced_state(state: u16) -> bool {
    matches!(state, TCP_S_ESTABLISHED | 4 | 5 | 6 | 7)
}

/// SCTP states in which an association is synced (`ESTABLISHED` 8, `SHUTDOWN_SENT` 9,
/// `SHUTDOWN_RECEIVED` 10, `SHUTDOWN_ACK_SENT` 11, `CLOSED` 13).
fn sctp_synced_state(state: u16) -> bool {
    matches!(state, SCTP_S_ESTABLISHED | 9 | 10 | 11 | 13)
}

/// `ip_vs_sync_conn_needed()`: whether the master sends this entry now, given `pkts` (the
/// value from [`packet_pkts`] or [`control_pkts`]) and `now_ms`.
///
/// The kernel rule (ip_vs_sync.c):
/// - Templates: no state condition. With `sync_persist_mode`, a connection under a template
///   is never sent.
/// - TCP: only in ESTABLISHED, FIN_WAIT, TIME_WAIT, CLOSE, CLOSE_WAIT; a change into one of
///   these other than ESTABLISHED (`state != old_state`) is sent at once. SCTP likewise with
///   ESTABLISHED, SHUTDOWN_SENT, SHUTDOWN_RECEIVED, SHUTDOWN_ACK_SENT, CLOSED. Other protocols
///   (UDP) have no state condition.
/// - With `sync_refresh_period` set: not resent while the new expiry (`now + timeout`) is
///   within `min(sync_refresh_period, max(timeout / 2, 10 s))` of the last sent one, except for
///   up to `sync_retries` retries spaced `sync_refresh_period / 8`.
/// - Then, with `sync_period` > 0: sent when `pkts % sync_period == sync_threshold` (templates
///   skip this test); with `sync_period` 0 and no refresh period: only when
///   `pkts == sync_threshold`.
///
/// Defaults "3 50": a TCP connection in ESTABLISHED is sent at its 3rd, 53rd, 103rd... packet.
pub fn should_sync(cfg: &SyncConfig, c: &SyncCandidate, pkts: u32, now_ms: u64) -> SyncDecision {
    let orig = c.sync_endtime;
    let mut n = now_ms.wrapping_add(c.timeout_ms) & !3;
    let is_template = c.flags & IP_VS_CONN_F_TEMPLATE != 0;
    let send = |n| SyncDecision::Send { sync_endtime: n };

    if !is_template {
        if cfg.sync_persist_mode && c.in_persistence {
            return SyncDecision::Skip;
        }
        let (synced, established) = match c.protocol {
            IPPROTO_TCP => (tcp_synced_state(c.state), TCP_S_ESTABLISHED),
            IPPROTO_SCTP => (sctp_synced_state(c.state), SCTP_S_ESTABLISHED),
            _ => (true, u16::MAX),
        };
        if !synced {
            return SyncDecision::Skip;
        }
        let changed = c.state != c.old_state;
        if established != u16::MAX && changed && c.state != established {
            return send(n);
        }
    }

    let refresh = cfg.sync_refresh_period_ms;
    if refresh > 0 {
        let diff = n.wrapping_sub(orig) as i64;
        let min_diff = (c.timeout_ms >> 1).max(10_000);
        if diff.unsigned_abs() < refresh.min(min_diff) {
            let retries = orig & 3;
            if retries >= u64::from(cfg.sync_retries) {
                return SyncDecision::Skip;
            }
            // time_before(now, orig - timeout + (sync_refresh_period >> 3))
            let resend_at = orig.wrapping_sub(c.timeout_ms).wrapping_add(refresh >> 3);
            if (now_ms.wrapping_sub(resend_at) as i64) < 0 {
                return SyncDecision::Skip;
            }
            n |= retries + 1;
        }
    }
    let threshold = cfg.sync_threshold;
    if cfg.sync_period > 0 {
        if !is_template && pkts % cfg.sync_period != threshold {
            return SyncDecision::Skip;
        }
    } else if refresh == 0 && pkts != threshold {
        return SyncDecision::Skip;
    }
    send(n)
}

/// One step along the control chain, the gates of `ip_vs_sync_conn()` (version 1) and
/// `ip_vs_sync_conn_v0()` around [`should_sync`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ChainStep {
    /// Whether to send this entry (and the bookkeeping of [`SyncDecision::Send`]).
    pub decision: SyncDecision,
    /// Whether to go on with the entry's controlling entry (`cp->control`), if it has one,
    /// with pkts from [`control_pkts`].
    pub continue_to_control: bool,
}

/// The master's per-entry step (`ip_vs_sync_conn()`): call it for the connection a packet
/// belongs to, with `pkts` from [`packet_pkts`]; if the step says so, call it again for that
/// entry's controlling entry (its persistence template, or the FTP control connection) with
/// [`control_pkts`], and so on up the chain.
///
/// Version 1: a one-packet entry (`IP_VS_CONN_F_ONE_PACKET`) is never sent, but the chain goes
/// on; otherwise [`should_sync`] decides and the chain goes on either way. Version 0: IPv6 and
/// one-packet entries are not sent and end the chain, as does an entry [`should_sync`] skips;
/// only a sent entry continues to its controller.
pub fn chain_step(
    cfg: &SyncConfig,
    c: &SyncCandidate,
    is_ipv6: bool,
    pkts: u32,
    now_ms: u64,
) -> ChainStep {
    let one_packet = c.flags & IP_VS_CONN_F_ONE_PACKET != 0;
    match cfg.sync_version {
        SyncVersion::V1 => ChainStep {
            decision: if one_packet {
                SyncDecision::Skip
            } else {
                should_sync(cfg, c, pkts, now_ms)
            },
            continue_to_control: true,
        },
        SyncVersion::V0 => {
            if is_ipv6 || one_packet {
                return ChainStep {
                    decision: SyncDecision::Skip,
                    continue_to_control: false,
                };
            }
            let decision = should_sync(cfg, c, pkts, now_ms);
            ChainStep {
                decision,
                continue_to_control: decision.is_send(),
            }
        }
    }
}

/// The `pkts` for the entry a packet belongs to (`ip_vs_in()`, ip_vs_core.c): a one-packet
/// entry uses `sync_threshold`; any other increments its incoming packet counter `in_pkts`
/// (wrapping) and uses the new value. (The kernel's conn expiry path, `expire_later` in
/// ip_vs_conn.c, calls the step with `sync_threshold` as pkts.)
pub fn packet_pkts(cfg: &SyncConfig, flags: u32, in_pkts: &mut u32) -> u32 {
    if flags & IP_VS_CONN_F_ONE_PACKET != 0 {
        cfg.sync_threshold
    } else {
        *in_pkts = in_pkts.wrapping_add(1);
        *in_pkts
    }
}

/// The `pkts` for a controlling entry (the `control:` label of `ip_vs_sync_conn()`): a
/// template increments its own `in_pkts` (wrapping) and uses the new value; a non-template
/// controller (FTP control connection) uses `sync_threshold`.
pub fn control_pkts(cfg: &SyncConfig, control_flags: u32, control_in_pkts: &mut u32) -> u32 {
    if control_flags & IP_VS_CONN_F_TEMPLATE != 0 {
        *control_in_pkts = control_in_pkts.wrapping_add(1);
        *control_in_pkts
    } else {
        cfg.sync_threshold
    }
}
