//! lvs-examples: the binaries that put lvs-rs on real traffic (TAP devices, network
//! namespaces, pcap files, control sockets) and the end-to-end tests.
//!
//! This is the only package of the workspace allowed to do I/O, read clocks or spawn threads;
//! the library crates below it are sans-IO (see ARCHITECTURE.md). The binaries (`lvs-director`,
//! `lvsadm`, `lvs-replay`, `lvs-realserver`, `lvs-demo`) arrive with the examples issue.
//!
//! Library modules for embedders:
//! - [`keepalived`]: the keepalived.conf parser (the whole file) into lvs-core's and
//!   lvs-vrrp's configuration types, and the ipvsadm commands it stands for.
//! - [`health`]: keepalived-compatible health checks as sans-IO state machines, the HTTP_GET
//!   request/response rules as pure functions, and a blocking std implementation of the probes.
#![forbid(unsafe_code)]

pub mod control;
pub mod demo;
pub mod director;
pub mod ha;
pub mod health;
pub mod keepalived;
pub mod netns;
pub mod realserver;
pub mod replay;

/// The README's "Embed it" example, compiled and run as a doctest so it cannot rot.
#[cfg(doctest)]
#[doc = include_str!("../../README.md")]
pub struct ReadmeDoctests;
