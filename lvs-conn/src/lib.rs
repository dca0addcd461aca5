//! lvs-conn: the IPVS connection table, sans-IO.
//!
//! What the kernel's net/netfilter/ipvs/ip_vs_conn.c and the protocol state machines of
//! ip_vs_proto_tcp.c, ip_vs_proto_udp.c and ip_vs_proto_sctp.c do, as a library: entries
//! keyed by protocol + client + virtual address/port (IPv4 and IPv6), found from both
//! directions (NAT replies by RIP:rport -> CIP:cport, FULLNAT replies by RIP:rport ->
//! LIP:lport), the kernel's exact state tables and timeouts, per-real-server activeconns /
//! inactconns / persistconns, persistence templates, expiry on a timer wheel driven by the
//! caller's `now`, a hard capacity with a documented shedding order, and the `ipvsadm -Lnc`
//! and /proc/net/ip_vs_conn listings.
//!
//! Thread model: [`ConnTable`] is single-owner (`&mut self`, no locks, no atomics): give one
//! to each worker that owns its flows. [`ShardedConnTable`] shares one logical table between
//! threads: N independent `ConnTable`s, each behind a `parking_lot::Mutex`, the shard chosen
//! by a seeded hash of the client address (masked by a configurable prefix so persistence
//! templates and their connections share a shard). Both directions know the client address
//! (it is the reply's destination under NAT), so in and out lookups land in the same shard;
//! FULLNAT replies, which do not carry the client, are routed by local port
//! (`lport % shards`), and lvs-core picks local ports accordingly.
//!
//! No I/O, no clock reads, no threads: time is always a `now: Instant` argument.
//!
//! How lvs-core drives it, per packet (the order of ip_vs_core.c `ip_vs_in_hook`):
//!
//! ```
//! use std::net::IpAddr;
//! use std::time::{Duration, Instant};
//! use lvs_conn::proto::{ipproto, tcp_flags};
//! use lvs_conn::*;
//!
//! let t0 = Instant::now();
//! let mut table = ConnTable::new(ConnConfig::default(), t0);
//! let (cip, vip, rip): (IpAddr, IpAddr, IpAddr) =
//!     ("10.0.0.2".parse()?, "207.175.44.110".parse()?, "172.16.0.2".parse()?);
//! let syn = L4Info::Tcp { flags: tcp_flags::SYN };
//! // Inbound SYN: miss, so schedule (persistence: lookup_template / check_template /
//! // insert_template first), then insert and run the state machine for this packet.
//! let id = match table.lookup_in(ipproto::TCP, cip, 40000, vip, 8080) {
//!     Some(id) => id,
//!     None => {
//!         let p = ConnParams { protocol: ipproto::TCP, caddr: cip, cport: 40000, vaddr: vip,
//!             vport: 8080, daddr: rip, dport: 8080, fwd: FwdMethod::Masq,
//!             dest: Some(DestId(0)), local: None };
//!         table.insert(&p, None, t0)?
//!     }
//! };
//! table.on_packet(id, Direction::Input, syn, 60, t0)?;
//! assert_eq!(table.dest_counters(DestId(0)).activeconns, 1); // SYN_RECV is active
//! // The NAT reply RIP:8080 -> CIP:40000 finds the same entry.
//! assert_eq!(table.lookup_out(ipproto::TCP, rip, 8080, cip, 40000), Some(id));
//! // Timers: call handle_timeout when poll_timeout says.
//! let mut expired = Vec::new();
//! table.handle_timeout(t0 + Duration::from_secs(61), &mut expired);
//! assert_eq!(expired.len(), 1);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
#![forbid(unsafe_code)]
#![warn(clippy::unwrap_used, clippy::expect_used)]

mod error;
mod flags;
mod inner;
mod list;
pub mod proto;
mod shard;
pub mod sync;
mod sync_glue;
mod table;

#[cfg(test)]
mod prop_tests;

pub use error::ConnError;
pub use flags::{FwdMethod, conn_flags};
pub use list::{LNC_HEADER, PROC_HEADER, expires_secs, write_lnc_row, write_proc_row};
pub use proto::{Direction, L4Info, SctpEvent, SctpState, TcpState, Timeouts};
pub use shard::{MAX_SHARDS, ShardConfig, ShardedConnTable};
pub use table::{
    ConnAddrs, ConnConfig, ConnId, ConnParams, ConnStats, ConnTable, ConnView, DestCounters,
    DestId, ExpiredConn, FTPPORT, FlowKey, FlowMatch, InKey, NodestVerdict, PacketOutcome,
    PersistService, ReuseVerdict, TemplateKey, is_new_conn_expected, one_packet_eligible,
    template_dest_usable,
};
