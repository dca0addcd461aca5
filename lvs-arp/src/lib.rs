//! lvs-arp: the Linux ARP policy that makes LVS direct routing work, as a tested, sans-IO
//! library.
//!
//! In DR mode every real server carries the VIP (on lo, /32) but must stay silent about it:
//! only the director may answer ARP for the VIP, and a real server's own ARP requests must not
//! announce the VIP as their source. Linux does this with the sysctls `arp_ignore=1` and
//! `arp_announce=2`. This crate reproduces the kernel's decisions exactly
//! (net/ipv4/arp.c, net/ipv4/devinet.c), and gives a director what it needs to speak ARP and
//! IPv6 Neighbour Discovery itself:
//!
//! - [`Host`] ([`host`]): interfaces, addresses (primary/secondary, scope), the per-interface
//!   and `all` sysctls with the kernel's MAX/OR combination, the local and main routing
//!   tables.
//! - [`Host::arp_input`] ([`policy`]): reply or not to a received ARP frame, with a typed
//!   [`Reason`] ("arp_ignore=1: target 1.1.1.2 not on enp0s8"), and what to learn
//!   ([`Learn`], `arp_accept`, gratuitous ARP). [`Host::arp_source`]: the sender IP of this
//!   host's own requests (`arp_announce`).
//! - [`ArpFrame`] and [`NdiscFrame`] ([`wire`]): parse and build ARP requests, replies,
//!   gratuitous ARP (kernel and keepalived forms), IPv6 NS/NA and unsolicited NA, as whole
//!   Ethernet frames in caller buffers.
//! - [`NeighbourTable`] ([`neigh`]): IP to MAC resolution with the kernel's NUD states,
//!   bounded retries and bounded queues, static entries, driven by `now` in milliseconds.
//!
//! Nothing here reads a clock, does I/O, spawns threads or panics on input bytes.
//!
//! # Example: the seeds' experiment 3 and the LVS-DR recipe
//!
//! ```
//! use lvs_arp::{ArpFrame, Host, MacAddr, Scope};
//! use std::net::Ipv4Addr;
//!
//! let mut rs = Host::new();
//! rs.add_loopback("lo", 1)?;
//! rs.add_interface("enp0s8", 3, "08:00:27:9f:f2:71".parse()?)?;
//! rs.add_addr(3, Ipv4Addr::new(192, 168, 56, 102), 24, Scope::Global)?;
//! rs.add_addr(1, Ipv4Addr::new(1, 1, 1, 2), 32, Scope::Global)?; // the VIP on lo
//! rs.sysctl("net.ipv4.conf.all.arp_ignore", 1)?;
//! rs.sysctl("net.ipv4.conf.all.arp_announce", 2)?;
//!
//! // "who-has 1.1.1.2 tell 192.168.56.101" arriving on enp0s8 as a 60-byte frame.
//! let req = ArpFrame::request(
//!     "08:00:27:12:04:78".parse()?,
//!     Ipv4Addr::new(192, 168, 56, 101),
//!     Ipv4Addr::new(1, 1, 1, 2),
//!     None,
//! );
//! let mut frame = [0u8; 60];
//! let n = req.emit(&mut frame)?;
//! lvs_arp::pad_to_min(&mut frame, n);
//! let out = rs.arp_input_bytes(3, &frame)?;
//! assert!(out.reply().is_none());
//! assert_eq!(out.reason().to_string(), "arp_ignore=1: target 1.1.1.2 not on enp0s8");
//!
//! // Its own request for the router never carries the VIP as sender IP.
//! let vip = Ipv4Addr::new(1, 1, 1, 2);
//! let (ask, _) = rs.arp_solicit(3, Ipv4Addr::new(192, 168, 56, 1), Some(vip), None).unwrap();
//! assert_eq!(ask.sender_ip, Ipv4Addr::new(192, 168, 56, 102));
//! assert_eq!(ask.eth_dst, MacAddr::BROADCAST);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
#![forbid(unsafe_code)]
#![warn(clippy::unwrap_used, clippy::expect_used)]

pub mod host;
pub mod mac;
pub mod neigh;
pub mod policy;
pub mod wire;

pub use host::{
    AddrType, DevConf, EffectiveConf, Host, HostError, IfAddr, IfName, Interface, Route, RouteKind,
    RouteLookup, Scope, SelectRule,
};
pub use mac::{MacAddr, MacParseError};
pub use neigh::{
    NeighConfig, NeighError, NeighEvent, NeighKey, NeighStats, NeighbourTable, NudState, Released,
    Resolved, Solicitation, UpdateFlags, UpdateOutcome,
};
pub use policy::{
    ArpAction, ArpInput, ArpSource, Learn, LearnState, NdInput, NdReason, PacketType, Reason,
    SourceRule,
};
pub use wire::arp::{ArpFrame, ArpOp, ArpParseError, GarpForm};
pub use wire::ndisc::{NaFlags, NdiscFrame, NdiscMessage, NdiscParseError};
pub use wire::{BufferTooSmall, pad_to_min};
