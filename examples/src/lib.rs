//! lvs-examples: the binaries that put lvs-rs on real traffic (TAP devices, network
//! namespaces, pcap files, control sockets) and the end-to-end tests.
//!
//! This is the only package of the workspace allowed to do I/O, read clocks or spawn threads;
//! the library crates below it are sans-IO (see ARCHITECTURE.md). The binaries (`lvs-director`,
//! `lvsadm`, `lvs-replay`, `lvs-realserver`, `lvs-demo`) arrive with the examples issue.
#![forbid(unsafe_code)]

pub mod control;
pub mod director;
pub mod ha;
pub mod health;
pub mod keepalived;
pub mod netns;
pub mod realserver;
pub mod replay;
