//! The crate error type.

/// Why a frame could not be parsed or rewritten. Every fallible function of lvs-fwd returns
/// this; none of them panics or writes outside the caller's buffer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum FwdError {
    /// The buffer ends before a header or a length field says it should: `needed` bytes were
    /// required, `got` were available.
    #[error("truncated: needed {needed} bytes, got {got}")]
    Truncated {
        /// Bytes the header or length field requires.
        needed: usize,
        /// Bytes actually present.
        got: usize,
    },
    /// A header field holds an impossible value (the string names the rule broken, e.g.
    /// "ipv4 ihl < 5").
    #[error("malformed header: {0}")]
    BadHeader(&'static str),
    /// The Ethernet type is neither IPv4 (0x0800) nor IPv6 (0x86DD), after at most one
    /// 802.1Q tag.
    #[error("unsupported ethertype {0:#06x}")]
    UnsupportedEtherType(u16),
    /// The IP version nibble is neither 4 nor 6, or does not match the Ethernet type.
    #[error("unsupported ip version {0}")]
    UnsupportedIpVersion(u8),
    /// The transport protocol (IP protocol / IPv6 next header) has no rewrite here.
    #[error("unsupported transport protocol {0}")]
    UnsupportedProtocol(u8),
    /// The operation needs a transport header, but the packet is a non-first fragment
    /// (IPv4 fragment offset != 0, or an IPv6 fragment header with offset != 0): it carries
    /// no ports.
    #[error("non-first fragment: no transport header")]
    Fragment,
    /// The IPv6 extension-header chain is longer than the walk allows (a loop or an
    /// over-long chain).
    #[error("ipv6 extension header chain too long")]
    ExtensionHeaderChain,
    /// The caller's buffer has too little headroom (encapsulation) or room (a built ICMP
    /// reply): `needed` bytes, `available` bytes.
    #[error("no room: needed {needed} bytes, available {available}")]
    NoHeadroom {
        /// Bytes required.
        needed: usize,
        /// Bytes the caller provided.
        available: usize,
    },
    /// The addresses given for a rewrite are of a different IP family than the packet.
    #[error("address family does not match the packet")]
    FamilyMismatch,
    /// The packet is not an ICMP / ICMPv6 error message quoting an IP packet.
    #[error("not an icmp error")]
    NotIcmpError,
    /// The ICMP error quotes a packet that is itself an ICMP error (RFC 1122 3.2.2: never
    /// answer or rewrite an error about an error), or asks for an ICMP reply to an ICMP
    /// error.
    #[error("icmp error about an icmp error")]
    IcmpAboutIcmpError,
    /// No ICMP error may be sent about this packet (RFC 1122 section 3.2.2, the checks of the
    /// kernel's `icmp_send` / `icmp6_send`); the string names the rule.
    #[error("no icmp reply: {0}")]
    NoIcmpReply(&'static str),
    /// The rewrite would send the packet to a loopback address (127.0.0.0/8, ::1): refused
    /// as net/netfilter/ipvs/ip_vs_xmit.c `ip_vs_nat_xmit` refuses ("stopping DNAT to loopback
    /// address").
    #[error("destination rewrite to a loopback address")]
    LoopbackDestination,
    /// [`crate::fragment_ipv4`]: the packet does not fit the MTU and has DF set (the kernel
    /// answers with ICMP fragmentation needed instead of fragmenting).
    #[error("don't fragment set on a packet over the mtu")]
    DontFragment,
}
