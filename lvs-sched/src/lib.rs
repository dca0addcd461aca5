//! lvs-sched: every Linux IPVS scheduler (rr wrr lc wlc sed nq fo ovf twos dh sh lblc lblcr
//! mh), sans-IO and kernel-exact.
//!
//! One [`Scheduler`] per virtual service holds the real-server list in the kernel's list
//! order and the state of one scheduler ([`SchedulerKind`], parsed from its ipvsadm name:
//! `"wlc".parse()`). The caller reports real-server changes (add/edit/remove) and
//! connection-counter changes (bind/unbind/move), and asks [`Scheduler::schedule`] for the
//! real server of a new connection, getting a [`DestId`] or the typed [`NoServer`].
//!
//! No I/O, no clock reads (time is a `now: Duration` argument, used by lblc/lblcr), no
//! randomness except the caller's seed (twos). Each scheduler's module documents its rule
//! and cites its kernel source file (net/netfilter/ipvs/ip_vs_*.c).
//!
//! ```
//! use std::time::Duration;
//! use lvs_sched::{DestId, DestParams, PacketInfo, SchedConfig, Scheduler};
//!
//! let now = Duration::ZERO;
//! let mut s = Scheduler::new("wrr".parse().unwrap(), SchedConfig::default(), now);
//! // The kernel links new real servers at the head: add C, B, A to get list order A, B, C.
//! for (id, w) in [(3, 2), (2, 3), (1, 4)] {
//!     let rip = format!("10.0.0.{id}").parse().unwrap();
//!     s.add_dest(DestId(id), rip, 80, DestParams::weight(w)).unwrap();
//! }
//! let pkt = PacketInfo::new("192.0.2.1".parse().unwrap(), 40000, "192.0.2.100".parse().unwrap(), 80);
//! let picks: Vec<u32> = (0..12).map(|_| s.schedule(&pkt, now).unwrap().0).collect();
//! // The adds left wrr's current weight at 1 (as in the kernel), so one pass A B C comes
//! // first, then the cycle A A B A B C A B C.
//! assert_eq!(picks, [1, 2, 3, 1, 1, 2, 1, 2, 3, 1, 2, 3]);
//! ```
#![forbid(unsafe_code)]
#![warn(clippy::unwrap_used, clippy::expect_used)]

pub mod dest;
pub mod dh;
pub mod error;
pub mod fo;
pub mod hash;
mod indexed;
pub mod kind;
pub mod lblc;
pub mod lblcr;
pub mod lc;
mod list;
pub mod maglev;
pub mod mh;
pub mod nq;
pub mod ovf;
mod rng;
pub mod rr;
mod scheduler;
pub mod sed;
pub mod sh;
pub mod twos;
pub mod wlc;
pub mod wrr;

pub use dest::{ConnClass, Dest, DestFlags, DestId, DestParams};
pub use error::{MaglevError, NoServer, ParseFlagsError, ParseSchedulerError, SchedError};
pub use kind::{SchedConfig, SchedFlags, SchedulerKind};
pub use maglev::{EMPTY_SLOT, Maglev, MaglevServer, MaglevSize};
pub use scheduler::{PacketInfo, Scheduler};
