//! High availability for the director (issue 10): two directors, VRRP between them
//! (lvs-vrrp), connection sync (lvs-core's kernel-format sync messages over UDP), so that a
//! failover loses no established connection.
//!
//! - [`vrrp`]: [`VrrpRunner`], the `vrrp_instance`s of a director in its frame loop, with
//!   `vrrp_script` trackers, notify scripts with keepalived's arguments, `is_master(vip)`.
//! - [`sync`]: [`SyncTransport`], the sync daemons' Ethernet + IPv4 + UDP frames
//!   (224.0.0.81:8848, TTL 1 by default, or a unicast peer), both roles at once.
//! - [`link`]: link state of `track_interface`s and the instances' own `interface`
//!   (sysfs polling in `lvs-director`, FAULT / priority updates).
//! - [`track`]: `track_file` and `track_process` (keepalived 2.2's rules; the file read and
//!   /proc scanned every 250 ms) as tracked objects of the instances.
//! - [`node`]: an in-process director runtime on a TAP (Director + VrrpRunner +
//!   SyncTransport + ARP), used by the tests and the demo scene.
//! - [`scene`]: the root-only two-director topology, the streaming client, the takeover
//!   measurement and [`demo_scene`] for `lvs-demo`.
//!
//! # Which schedulers let an unsynced flow survive a failover
//! A backup that never saw a flow picks the same real server as the master did exactly when
//! the scheduler's pick is a pure function of the packet and the real-server set (same
//! servers, same weights, same order): `mh` (Maglev hash of the source, or source and port;
//! ip_vs_mh.c), `sh` (source hashing, ip_vs_sh.c) and `dh` (destination hashing,
//! ip_vs_dh.c). Schedulers whose pick depends on state the backup does not share do not:
//! `rr` / `wrr` (cursor position), `lc` / `wlc` / `sed` / `nq` / `fo` / `ovf` (active
//! connection counts), `lblc` / `lblcr` (their own tables and loads), `twos` (a random
//! stream). With `sloppy_tcp` on, the backup schedules the flow at its first non-SYN packet,
//! so with mh / sh / dh in DR or TUN mode (where the director keeps no per-flow rewrite state
//! the real server depends on) the connection continues. NAT and FULLNAT need the synced
//! entry regardless (the reply rewrite, FULLNAT's local port).

pub mod link;
pub mod node;
pub mod runtime;
pub mod scene;
pub mod sync;
pub mod track;
pub mod vrrp;

pub use node::{NodeConfig, NodeHandle, NodeStats, spawn_node};
pub use runtime::{HaRuntime, HaStats, Intercept};
pub use scene::{DemoReport, Scene, SceneParams, StreamReport, Takeover, demo_scene};
pub use sync::SyncTransport;
pub use vrrp::{HaInstance, HaLog, VrrpRunner, VrrpScript};

#[cfg(test)]
mod tests;
