//! lvs-core: the LVS director.
//!
//! It composes [`lvs_sched`] (which real server), [`lvs_conn`] (which connection) and
//! [`lvs_fwd`] (how the packet is rewritten) the way the kernel's `ip_vs_core.c` ties
//! `ip_vs_sched.c`, `ip_vs_conn.c` and `ip_vs_xmit.c` together. It does no I/O and reads no
//! clock: time is always a `now` argument.
//!
//! Modules:
//! - [`classify`](mod@classify): the first step of the pipeline, [`classify::classify`], which sorts an
//!   Ethernet frame into ARP, VRRP, IP for the director, or other traffic.
//! - [`service`]: the configuration model (virtual services, real servers, timeouts) and
//!   [`service::IpvsConfig`], a table that applies ipvsadm commands.
//! - [`ipvsadm`]: ipvsadm 1.31's syntax (rules and `-R` streams), its `-S` save format and its
//!   list formats.
//! - [`estimator`]: the kernel's 2-second rate estimator (ip_vs_est.c).
//! - [`director`]: [`Director`], the runtime service table and the packet pipeline
//!   (ip_vs_core.c), connection sync, health hooks and listings.
#![forbid(unsafe_code)]
#![warn(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

pub mod classify;
pub mod director;
pub mod estimator;
pub mod ipvsadm;
pub mod service;

pub use classify::{ClassifyError, FrameClass, IpVersion, classify};
pub use director::{
    ApplyOutput, Director, DirectorConfig, DirectorError, DropReason, FragInsert, FragKey,
    ICMP_QUEUE_MAX, ICMP_RATEMASK_DEFAULT, ICMPV6_RATEMASK_DEFAULT, IcmpTransmit, MAX_DATAGRAM,
    PROCESS_BATCH, PacketMeta, PmtuEntry, Reassembled, Reassembler, SYNC_QUEUE_MAX, Side,
    SyncStats, Sysctls, Verdict, XRLIM_BURST_FACTOR, merge_snapshots, parse_icmpv6_ratemask,
};
