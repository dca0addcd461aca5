//! Errors and the typed "no server" outcome.

use crate::dest::DestId;
use crate::kind::SchedulerKind;

/// The scheduler found no real server that may take a new connection: the list is empty,
/// every real server is quiesced (weight 0) or carries the OVERLOAD flag, or (for dh/sh/mh
/// without fallback) the hashed bucket holds an unusable real server.
///
/// The kernel logs "no destination available" (`ip_vs_scheduler_err()` in
/// net/netfilter/ipvs/ip_vs_sched.c) and the packet is then dropped or bypassed by
/// ip_vs_core.c; lvs-core decides which.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, thiserror::Error)]
#[error("no destination available")]
pub struct NoServer;

/// Errors of the control-plane calls of [`crate::Scheduler`] (add, edit, remove, counters).
///
/// The numeric errno the kernel returns for the same condition (net/netfilter/ipvs/ip_vs_ctl.c)
/// is named in each variant so lvs-core can map it to ipvsadm's messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SchedError {
    /// `add_dest` with an id that is already in the list (kernel: -EEXIST, "Destination
    /// already exists").
    #[error("real server {0:?} already exists")]
    DestExists(DestId),
    /// The id is not in the list (kernel: -ENOENT, "No such destination").
    #[error("no such real server {0:?}")]
    NoSuchDest(DestId),
    /// Weight below zero (kernel: -ERANGE, "server weight less than zero").
    #[error("real server weight {0} is less than zero")]
    NegativeWeight(i32),
    /// Lower threshold above upper threshold (kernel: -ERANGE, "lower threshold is higher
    /// than upper threshold").
    #[error("lower threshold {l_threshold} is higher than upper threshold {u_threshold}")]
    ThresholdOrder {
        /// The upper connection threshold given.
        u_threshold: u32,
        /// The lower connection threshold given.
        l_threshold: u32,
    },
    /// mh only: more real servers than slots in the Maglev table (kernel
    /// `ip_vs_mh_reassign()`: -EINVAL). The server is not added.
    #[error("{dests} real servers do not fit a Maglev table of {table_size} slots")]
    TooManyDests {
        /// Number of real servers the list would hold.
        dests: usize,
        /// Maglev table size M.
        table_size: u32,
    },
    /// A connection counter would go below zero (`unbind_conn` / `move_conn` without a
    /// matching bind). The counter is left unchanged.
    #[error("connection counter of real server {0:?} would go below zero")]
    CounterUnderflow(DestId),
}

/// Unknown scheduler name in `"name".parse::<SchedulerKind>()`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown scheduler {name:?}; valid names: {}", SchedulerKind::NAMES.join(", "))]
pub struct ParseSchedulerError {
    /// The name that was given.
    pub name: String,
}

/// Unknown scheduler flag name in `"sh-fallback,sh-port".parse::<SchedFlags>()`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "unknown scheduler flag {name:?}; valid names: {}",
    crate::kind::SchedFlags::NAMES.iter().map(|(n, _)| *n).collect::<Vec<_>>().join(", ")
)]
pub struct ParseFlagsError {
    /// The flag name that was given.
    pub name: String,
}

/// Errors building a [`crate::Maglev`] table.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum MaglevError {
    /// The table size is not a prime of at least 3 (Maglev needs M prime so every skip is
    /// coprime with M) or is above [`crate::MaglevSize::MAX`].
    #[error("Maglev table size {0} is not a prime in 3..=16777213")]
    NotPrime(u32),
    /// More servers than table slots (kernel `ip_vs_mh_reassign()`: -EINVAL).
    #[error("{servers} servers do not fit a Maglev table of {table_size} slots")]
    TooManyServers {
        /// Number of servers given.
        servers: usize,
        /// Table size M.
        table_size: u32,
    },
}
