//! Scheduler names (ipvsadm `-s NAME`), scheduler flags (ipvsadm `-b FLAGS`) and
//! per-service configuration.

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use crate::error::{ParseFlagsError, ParseSchedulerError};
use crate::maglev::MaglevSize;

/// One IPVS scheduler, by its kernel name (`.name` of each `struct ip_vs_scheduler` in
/// net/netfilter/ipvs/ip_vs_*.c).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum SchedulerKind {
    /// `rr`, round robin (ip_vs_rr.c).
    Rr,
    /// `wrr`, weighted round robin (ip_vs_wrr.c).
    Wrr,
    /// `lc`, least connection (ip_vs_lc.c).
    Lc,
    /// `wlc`, weighted least connection (ip_vs_wlc.c); ipvsadm's default.
    #[default]
    Wlc,
    /// `sed`, shortest expected delay (ip_vs_sed.c).
    Sed,
    /// `nq`, never queue (ip_vs_nq.c).
    Nq,
    /// `fo`, weighted failover (ip_vs_fo.c).
    Fo,
    /// `ovf`, weighted overflow (ip_vs_ovf.c).
    Ovf,
    /// `twos`, weighted power of two choices (ip_vs_twos.c).
    Twos,
    /// `dh`, destination hashing (ip_vs_dh.c).
    Dh,
    /// `sh`, source hashing (ip_vs_sh.c).
    Sh,
    /// `lblc`, locality-based least connection (ip_vs_lblc.c).
    Lblc,
    /// `lblcr`, locality-based least connection with replication (ip_vs_lblcr.c).
    Lblcr,
    /// `mh`, Maglev hashing (ip_vs_mh.c).
    Mh,
}

impl SchedulerKind {
    /// Every scheduler, in the order of [`SchedulerKind::NAMES`].
    pub const ALL: [SchedulerKind; 14] = [
        SchedulerKind::Rr,
        SchedulerKind::Wrr,
        SchedulerKind::Lc,
        SchedulerKind::Wlc,
        SchedulerKind::Sed,
        SchedulerKind::Nq,
        SchedulerKind::Fo,
        SchedulerKind::Ovf,
        SchedulerKind::Twos,
        SchedulerKind::Dh,
        SchedulerKind::Sh,
        SchedulerKind::Lblc,
        SchedulerKind::Lblcr,
        SchedulerKind::Mh,
    ];

    /// The valid names, as ipvsadm `-s` takes them.
    pub const NAMES: [&'static str; 14] = [
        "rr", "wrr", "lc", "wlc", "sed", "nq", "fo", "ovf", "twos", "dh", "sh", "lblc", "lblcr",
        "mh",
    ];

    /// The kernel name (`"wlc"`, ...).
    pub fn name(self) -> &'static str {
        let i = Self::ALL.iter().position(|k| *k == self).unwrap_or(3);
        Self::NAMES.get(i).copied().unwrap_or("wlc")
    }
}

impl fmt::Display for SchedulerKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for SchedulerKind {
    type Err = ParseSchedulerError;
    /// Exact, case-sensitive kernel name (the kernel's `ip_vs_sched_getbyname()` uses
    /// `strcmp`). Unknown names give [`ParseSchedulerError`], whose message lists the valid
    /// names.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::NAMES
            .iter()
            .position(|n| *n == s)
            .and_then(|i| Self::ALL.get(i).copied())
            .ok_or_else(|| ParseSchedulerError {
                name: s.to_string(),
            })
    }
}

/// Virtual-service scheduler flags (`IP_VS_SVC_F_SCHED1..3` in include/uapi/linux/ip_vs.h),
/// as ipvsadm `-b` names them. The same bit means different things to different schedulers:
/// 0x08 is sh-fallback for sh and mh-fallback for mh; 0x10 is sh-port / mh-port.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct SchedFlags(pub u32);

impl SchedFlags {
    /// `IP_VS_SVC_F_SCHED1` = 0x0008 (ipvsadm `flag-1`, `sh-fallback`, `mh-fallback`).
    pub const SCHED1: u32 = 0x0008;
    /// `IP_VS_SVC_F_SCHED2` = 0x0010 (ipvsadm `flag-2`, `sh-port`, `mh-port`).
    pub const SCHED2: u32 = 0x0010;
    /// `IP_VS_SVC_F_SCHED3` = 0x0020 (ipvsadm `flag-3`).
    pub const SCHED3: u32 = 0x0020;
    /// sh: when the hashed real server is unusable, walk the table for another
    /// (`IP_VS_SVC_F_SCHED_SH_FALLBACK`).
    pub const SH_FALLBACK: u32 = Self::SCHED1;
    /// sh: hash the source port too (`IP_VS_SVC_F_SCHED_SH_PORT`).
    pub const SH_PORT: u32 = Self::SCHED2;
    /// mh: fallback as for sh (`IP_VS_SVC_F_SCHED_MH_FALLBACK`).
    pub const MH_FALLBACK: u32 = Self::SCHED1;
    /// mh: hash the source port too (`IP_VS_SVC_F_SCHED_MH_PORT`).
    pub const MH_PORT: u32 = Self::SCHED2;

    /// ipvsadm `-b` names and their bits (ipvsadm.c `parse_sched_flags()`).
    pub const NAMES: [(&'static str, u32); 7] = [
        ("flag-1", Self::SCHED1),
        ("flag-2", Self::SCHED2),
        ("flag-3", Self::SCHED3),
        ("sh-fallback", Self::SH_FALLBACK),
        ("sh-port", Self::SH_PORT),
        ("mh-fallback", Self::MH_FALLBACK),
        ("mh-port", Self::MH_PORT),
    ];

    /// True when every bit of `bits` is set.
    pub fn contains(self, bits: u32) -> bool {
        self.0 & bits == bits
    }
}

impl FromStr for SchedFlags {
    type Err = ParseFlagsError;
    /// A comma-separated list of ipvsadm `-b` names (`"sh-fallback,sh-port"`); the empty
    /// string is no flags. Unknown names give [`ParseFlagsError`] listing the valid names.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let mut bits = 0;
        for name in s.split(',').filter(|n| !n.is_empty()) {
            let (_, b) = Self::NAMES
                .iter()
                .find(|(n, _)| *n == name)
                .ok_or_else(|| ParseFlagsError {
                    name: name.to_string(),
                })?;
            bits |= b;
        }
        Ok(SchedFlags(bits))
    }
}

/// Per-virtual-service scheduler configuration. `Default` gives the kernel defaults.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SchedConfig {
    /// Scheduler flags (ipvsadm `-b`).
    pub flags: SchedFlags,
    /// Seed of the twos random stream (the kernel uses `get_random_u32()`; we draw from a
    /// SplitMix64 stream seeded here so runs are reproducible).
    pub seed: u64,
    /// sh table size as a power of two, 4 ..= 20 (`CONFIG_IP_VS_SH_TAB_BITS`, default 8 =
    /// 256 buckets). Values outside the range are clamped.
    pub sh_tab_bits: u32,
    /// mh table size M (`CONFIG_IP_VS_MH_TAB_INDEX`, default 12 = 4093).
    pub mh_table_size: MaglevSize,
    /// lblc entry expiry for the full sweep (sysctl `net.ipv4.vs.lblc_expiration`, default
    /// 24 hours).
    pub lblc_expiration: Duration,
    /// lblcr entry expiry and set-shrink delay (sysctl `net.ipv4.vs.lblcr_expiration`,
    /// default 24 hours).
    pub lblcr_expiration: Duration,
}

impl Default for SchedConfig {
    fn default() -> Self {
        SchedConfig {
            flags: SchedFlags::default(),
            seed: 0,
            sh_tab_bits: 8,
            mh_table_size: MaglevSize::DEFAULT,
            lblc_expiration: Duration::from_secs(24 * 60 * 60),
            lblcr_expiration: Duration::from_secs(24 * 60 * 60),
        }
    }
}
