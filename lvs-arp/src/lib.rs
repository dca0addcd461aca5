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
    Resolved, Solicitation, UpdateOutcome,
};
pub use policy::{
    ArpAction, ArpInput, ArpSource, Learn, LearnState, PacketType, Reason, SourceRule,
};
pub use wire::arp::{ArpFrame, ArpOp, ArpParseError, GarpForm};
pub use wire::ndisc::{NaFlags, NdiscFrame, NdiscMessage, NdiscParseError};
pub use wire::{BufferTooSmall, pad_to_min};
