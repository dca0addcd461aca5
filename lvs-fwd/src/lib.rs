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
//! reply; [`port_unreachable`] builds the one for a new connection no real server can take
//! (both through [`error_reply`]). Nothing allocates, nothing panics, nothing writes outside the caller's buffer.
//!
//! ```
//! use std::net::IpAddr;
//! use lvs_fwd::{Outcome, nat_in, nat_out, parse, verify_checksums};
//!
//! // A client SYN to the VIP 10.0.0.100:80 (built here with etherparse).
//! let mut frame = Vec::new();
//! etherparse::PacketBuilder::ethernet2([2, 0, 0, 0, 0, 1], [2, 0, 0, 0, 0, 0xd1])
//!     .ipv4([192, 0, 2, 10], [10, 0, 0, 100], 64)
//!     .tcp(40000, 80, 1, 29200)
//!     .syn()
//!     .write(&mut frame, &[])
//!     .unwrap();
//!
//! let view = parse(&frame)?;
//! let flow = view.flow().unwrap(); // look the connection up with this
//! assert_eq!((flow.dst, flow.dst_port), ("10.0.0.100".parse::<IpAddr>().unwrap(), 80));
//!
//! // NAT to the real server 192.168.10.2:8080, in place.
//! let rip: IpAddr = "192.168.10.2".parse().unwrap();
//! assert_eq!(nat_in(&mut frame, &view, rip, 8080)?, Outcome::Forward);
//! let after = parse(&frame)?;
//! assert_eq!((after.dst(), after.ports()), (rip, Some((40000, 8080))));
//! assert_eq!(after.hop_limit(), 63);
//! assert!(verify_checksums(&frame, &after));
//!
//! // The reply comes back from RIP:8080 and leaves as VIP:80.
//! let mut reply = Vec::new();
//! etherparse::PacketBuilder::ethernet2([2, 0, 0, 0, 0, 0x51], [2, 0, 0, 0, 0, 0xd1])
//!     .ipv4([192, 168, 10, 2], [192, 0, 2, 10], 64)
//!     .tcp(8080, 40000, 9, 29200)
//!     .syn()
//!     .ack(2)
//!     .write(&mut reply, &[])
//!     .unwrap();
//! let view = parse(&reply)?;
//! assert_eq!(nat_out(&mut reply, &view, "10.0.0.100".parse().unwrap(), 80)?, Outcome::Forward);
//! assert!(verify_checksums(&reply, &parse(&reply)?));
//! # Ok::<(), lvs_fwd::FwdError>(())
//! ```
//!
//! Design: pure functions over caller-owned `&mut [u8]` frames, no state, no locks, so any
//! number of worker threads may call them on their own frames. [`Parsed`] is an 80-byte `Copy`
//! value of offsets and key fields; its fields are private, so every view comes from [`parse`]
//! and its offsets are consistent (each rewrite still re-checks the buffer length, and all
//! byte access goes through bounds-checked helpers). Checksums are updated incrementally
//! (RFC 1624 eqn. 3) with the differences of the changed 32-bit words summed in 64 bits; the
//! rewrite is specialised at compile time on which endpoint(s) change. Full recomputes only
//! where the kernel does one: the SCTP CRC32c and, for ICMP errors, the inner IPv4 header and
//! the whole ICMP message. [`checksum`] holds the primitives (also used by the TUN code).
#![forbid(unsafe_code)]
#![warn(clippy::unwrap_used, clippy::expect_used)]

mod bytes;
pub mod checksum;
mod error;
mod frag;
mod icmp;
mod parse;
mod rewrite;
pub mod tun;

pub use error::FwdError;
pub use frag::{fragment_ipv4, fragment_ipv6};
pub use icmp::{
    ErrorReply, ICMP_TTL, IPV6_MIN_MTU, IcmpErrorView, error_reply, fullnat_icmp_in,
    fullnat_icmp_out, nat_icmp_in, nat_icmp_out, parse_icmp_error, port_unreachable, quoted_flow,
    time_exceeded,
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
