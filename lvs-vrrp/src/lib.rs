//! lvs-vrrp: the VRRP failover brain of an LVS director, sans-IO.
//!
//! - [`wire`]: the VRRPv2 (RFC 3768, with keepalived's PASS authentication) and VRRPv3
//!   (RFC 5798 / RFC 9568) codec over IPv4 and IPv6, at three layers (VRRP payload + IP
//!   metadata, IP packet, Ethernet frame), plus keepalived's gratuitous ARP and the IPv6
//!   unsolicited Neighbor Advertisement frames.
//! - [`VrrpConfig`]: a `vrrp_instance` block with keepalived's keyword names and defaults,
//!   validated into typed [`ConfigError`]s.
//! - [`VrrpInstance`]: the RFC 9568 section 6.4 state machine (Initialize / Backup / Master)
//!   with keepalived's FAULT state, nopreempt, preempt_delay, tracked objects (fixed weights
//!   for scripts / interfaces / processes, `value * weight` for track files), unicast peers,
//!   GARP bursts and refresh, immediate advert on a lower priority, two-owner back-off and
//!   keepalived-named counters ([`Stats`]).
//! - [`Router`]: several instances on one interface, routed by VRID and family.
//!
//! No I/O, no clock, no threads: time is a [`Micros`] argument (microseconds since a
//! caller-chosen epoch), output is polled.
//!
//! # Wiring
//! - Input, one of: a whole Ethernet frame from a TAP / AF_PACKET
//!   ([`VrrpInstance::handle_frame`]); an IP packet ([`VrrpInstance::handle_ip`]); or, from a
//!   raw `IPPROTO_VRRP` socket, the VRRP message plus the source, destination and TTL / hop
//!   limit the kernel reported ([`VrrpInstance::handle_packet`] with an [`IpMeta`]). A
//!   [`Router`] does the same for several instances on one interface, routing by VRID.
//! - Output: [`VrrpInstance::poll_transmit`] writes a whole Ethernet frame into the caller's
//!   buffer and returns a [`Transmit`] saying what it is. Adverts to a unicast peer leave the
//!   destination MAC zero for the caller to fill from its neighbour table; raw-socket senders
//!   slice off the Ethernet header (IPv4, `IP_HDRINCL`) or send only the VRRP message (IPv6).
//!   Gratuitous ARPs and unsolicited NAs come ready to send, in keepalived 2.2.7's exact form.
//! - Events: [`VrrpInstance::poll_event`] yields state changes with their [`Reason`];
//!   [`Event::notify_args`] gives keepalived's `INSTANCE <name> <state> <priority>`.
//! - Timers: call [`VrrpInstance::handle_timeout`] at [`VrrpInstance::poll_timeout`].
//!
//! # Interoperability
//! Checked against a capture of keepalived 2.2.7 (tests/keepalived.rs): our adverts are byte
//! for byte keepalived's except the IPv4 ID and IPv6 flow label, which it varies; VRRPv3 over
//! IPv4 is sent with the pseudo-header checksum (RFC 5798 form, keepalived's) unless
//! [`VrrpConfig::checksum_form`] says otherwise, and both forms are accepted.
//!
//! # Driving an instance
//! ```
//! use lvs_vrrp::{VrrpConfig, VrrpInstance, State, Transmit, wire};
//! use std::net::{IpAddr, Ipv4Addr};
//!
//! let cfg = VrrpConfig {
//!     interface: "eth0".into(),
//!     interface_addr: IpAddr::V4(Ipv4Addr::new(192, 168, 56, 101)),
//!     interface_mac: [2, 0, 0, 0, 0, 1],
//!     virtual_router_id: 51,
//!     virtual_ipaddress: vec![IpAddr::V4(Ipv4Addr::new(192, 168, 56, 200))],
//!     ..VrrpConfig::default()
//! };
//! let mut vr = VrrpInstance::new(cfg, 0).unwrap();
//! assert_eq!(vr.state(), State::Backup);
//! // No advert heard: Master_Down_Interval = 3 s + (256 - 100)/256 s later we are Master.
//! let t = vr.poll_timeout().unwrap();
//! assert_eq!(t, 3_609_375);
//! vr.handle_timeout(t);
//! assert_eq!(vr.state(), State::Master);
//! let mut buf = [0u8; wire::MAX_FRAME_LEN];
//! let Some(Transmit::Advert { len, .. }) = vr.poll_transmit(&mut buf) else { panic!() };
//! let (meta, advert) = wire::decode_frame(&buf[..len]).unwrap();
//! assert_eq!((meta.ttl, advert.vrid, advert.priority), (255, 51, 100));
//! ```
#![forbid(unsafe_code)]
#![warn(clippy::unwrap_used, clippy::expect_used)]

mod checksum;
pub mod config;
pub mod instance;
pub mod router;
pub mod wire;

pub use config::{
    AuthType, Authentication, ConfigError, InitialState, TrackFileWeight, TrackStatus, TrackWeight,
    VrrpConfig,
};
pub use instance::{DropReason, Event, Micros, Reason, State, Stats, Transmit, VrrpInstance};
pub use router::{Router, RouterDrop, RouterStats};
pub use wire::{ChecksumForm, DecodeError, EncodeError, Family, IpMeta, Version};
