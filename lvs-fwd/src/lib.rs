//! lvs-fwd: in-place packet rewrite for the LVS forwarding methods, IPv4 and IPv6, with
//! incremental checksums (net/netfilter/ipvs/ip_vs_xmit.c, ip_vs_core.c, ip_vs_proto_*.c).
//!
//! Flow of use (the director, lvs-core): [`parse`] a frame once into a [`Parsed`] view; look
//! the connection up with [`Parsed::flow`] (or, for an ICMP error, [`parse_icmp_error`] and
//! [`IcmpErrorView::inner_flow`]); call the rewrite of the connection's forwarding method on
//! the same buffer with the same view:
//! - DR: [`dr`] (MACs + TTL);
//! - NAT: [`nat_in`] / [`nat_out`], ICMP errors [`nat_icmp_in`] / [`nat_icmp_out`];
//! - FULLNAT: [`fullnat_in`] / [`fullnat_out`], ICMP errors [`fullnat_icmp_in`] /
//!   [`fullnat_icmp_out`].
//!
//! Every rewrite decrements the TTL / hop limit first; at TTL <= 1 it leaves the frame
//! untouched and returns [`Outcome::TimeExceeded`], and [`time_exceeded`] builds the ICMP
//! reply. Nothing allocates, nothing panics, nothing writes outside the caller's buffer.
#![forbid(unsafe_code)]
#![warn(clippy::unwrap_used, clippy::expect_used)]

mod bytes;
pub mod checksum;
mod error;
mod icmp;
mod parse;
mod rewrite;
pub mod tun;

pub use error::FwdError;
pub use icmp::{
    ICMP_TTL, IPV6_MIN_MTU, IcmpErrorView, fullnat_icmp_in, fullnat_icmp_out, nat_icmp_in,
    nat_icmp_out, parse_icmp_error, time_exceeded,
};
pub use parse::{
    ETHERTYPE_IPV4, ETHERTYPE_IPV6, ETHERTYPE_VLAN, FlowTuple, Fragment, MAX_IPV6_EXT_HEADERS,
    PROTO_ICMP, PROTO_ICMPV6, PROTO_SCTP, PROTO_TCP, PROTO_UDP, Parsed, Transport, parse,
    tcp_flags,
};
pub use rewrite::{
    Outcome, decrement_ttl, dr, fullnat_in, fullnat_out, nat_in, nat_out, recompute_checksums,
    set_macs, verify_checksums,
};
