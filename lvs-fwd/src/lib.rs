//! lvs-fwd: in-place packet rewrite for the LVS forwarding methods (NAT, DR, TUN, FULLNAT),
//! IPv4 and IPv6, with incremental checksums (net/netfilter/ipvs/ip_vs_xmit.c).
#![forbid(unsafe_code)]
#![warn(clippy::unwrap_used, clippy::expect_used)]

pub mod checksum;
mod error;
pub mod tun;

pub use error::FwdError;
