//! lvs-core: the LVS director.
//!
//! It composes [`lvs_sched`] (which real server), [`lvs_conn`] (which connection) and
//! [`lvs_fwd`] (how the packet is rewritten) the way the kernel's `ip_vs_core.c` ties
//! `ip_vs_sched.c`, `ip_vs_conn.c` and `ip_vs_xmit.c` together. It does no I/O and reads no
//! clock: time is always a `now` argument.
//!
//! Today it offers the first step of the pipeline, [`classify::classify`], which sorts an
//! Ethernet frame into ARP, VRRP, IP for the director, or other traffic.
#![forbid(unsafe_code)]
#![warn(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

pub mod classify;

pub use classify::{ClassifyError, FrameClass, IpVersion, classify};
