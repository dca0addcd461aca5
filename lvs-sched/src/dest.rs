//! Real servers as the scheduler sees them (`struct ip_vs_dest` in include/net/ip_vs.h).

use std::net::IpAddr;

/// Caller-chosen handle of one real server in one virtual service.
///
/// lvs-core picks the value (for example its own slab index). Reuse an id only for the same
/// real server (RIP and port): lblc/lblcr cache entries keep pointing at an id after the real
/// server is removed, and a later `add_dest` with the same id revives them, the way the
/// kernel's destination trash revives the same `struct ip_vs_dest`
/// (`ip_vs_trash_get_dest()` in net/netfilter/ipvs/ip_vs_ctl.c).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct DestId(pub u32);

/// Real-server status flags (`IP_VS_DEST_F_*` in include/uapi/linux/ip_vs.h).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct DestFlags(pub u32);

impl DestFlags {
    /// `IP_VS_DEST_F_AVAILABLE` (0x1): the real server is in the service's list. Set by
    /// `__ip_vs_update_dest()` on add/edit, cleared by `__ip_vs_unlink_dest()` on removal.
    pub const AVAILABLE: u32 = 0x1;
    /// `IP_VS_DEST_F_OVERLOAD` (0x2): the upper connection threshold was reached; no new
    /// connections until the count falls under the lower threshold (ip_vs_conn.c).
    pub const OVERLOAD: u32 = 0x2;

    /// True when AVAILABLE is set.
    pub fn available(self) -> bool {
        self.0 & Self::AVAILABLE != 0
    }
    /// True when OVERLOAD is set.
    pub fn overloaded(self) -> bool {
        self.0 & Self::OVERLOAD != 0
    }
}

/// Which connection counter a connection uses (ip_vs_conn.c `ip_vs_bind_dest()` and
/// `ip_vs_unbind_dest()`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ConnClass {
    /// Counted in activeconns (a connection without `IP_VS_CONN_F_INACTIVE`, e.g. TCP
    /// ESTABLISHED).
    Active,
    /// Counted in inactconns (a connection with `IP_VS_CONN_F_INACTIVE`: new, closing, UDP).
    Inactive,
    /// A persistence template (`IP_VS_CONN_F_TEMPLATE`), counted in persistconns, which no
    /// scheduler reads.
    Template,
}

/// The settable parameters of a real server (ipvsadm `-a`/`-e` `-w weight -x u -y l`;
/// `struct ip_vs_dest_user_kern`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct DestParams {
    /// Weight, 0 ..= i32::MAX; 0 = quiesced (no new connections, existing ones keep working).
    /// Negative values are refused with [`crate::SchedError::NegativeWeight`].
    pub weight: i32,
    /// Upper connection threshold (ipvsadm `-x`), 0 = none. OVERLOAD is set when
    /// activeconns + inactconns reach it.
    pub u_threshold: u32,
    /// Lower connection threshold (ipvsadm `-y`), 0 = none. Must not exceed `u_threshold`.
    pub l_threshold: u32,
}

impl DestParams {
    /// Weight `weight`, no thresholds.
    pub fn weight(weight: i32) -> Self {
        DestParams {
            weight,
            u_threshold: 0,
            l_threshold: 0,
        }
    }
}

/// Read-only view of one real server as every scheduler sees it (the fields of
/// `struct ip_vs_dest` in include/net/ip_vs.h that ip_vs_*.c schedulers read).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dest {
    /// Real server IP (RIP).
    pub addr: IpAddr,
    /// Real server port (host byte order).
    pub port: u16,
    /// Current weight; 0 = quiesced.
    pub weight: i32,
    /// Latest non-zero weight (`last_weight`, read by mh so a quiesced real server keeps its
    /// Maglev slots): set on add, and on edit when the new weight is not 0.
    pub last_weight: i32,
    /// Active connections (activeconns).
    pub activeconns: u32,
    /// Inactive connections (inactconns).
    pub inactconns: u32,
    /// Persistence templates (persistconns); no scheduler reads it.
    pub persistconns: u32,
    /// AVAILABLE / OVERLOAD.
    pub flags: DestFlags,
    /// Upper connection threshold, 0 = none.
    pub u_threshold: u32,
    /// Lower connection threshold, 0 = none.
    pub l_threshold: u32,
}

impl Dest {
    /// `ip_vs_dest_conn_overhead()` (include/net/ip_vs.h): activeconns * 256 + inactconns.
    /// Computed in 64 bits, so exact where the kernel's `int` would wrap (above 2^23 active
    /// connections).
    pub fn overhead(&self) -> u64 {
        ((self.activeconns as u64) << 8) + self.inactconns as u64
    }

    /// `ip_vs_dest_totalconns()`: activeconns + inactconns (templates not included).
    pub fn totalconns(&self) -> u64 {
        self.activeconns as u64 + self.inactconns as u64
    }

    /// True when OVERLOAD is set.
    pub fn overloaded(&self) -> bool {
        self.flags.overloaded()
    }

    /// Weight > 0 and OVERLOAD clear: the test most schedulers apply before picking a real
    /// server (`is_unavailable()` in ip_vs_sh.c / ip_vs_mh.c, negated).
    pub fn usable(&self) -> bool {
        self.weight > 0 && !self.overloaded()
    }

    /// Weight as u64 (weights are never negative in a list).
    pub(crate) fn w(&self) -> u64 {
        self.weight.max(0) as u64
    }
}
