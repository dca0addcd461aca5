//! Parse once: Ethernet (+ one 802.1Q tag) + IPv4 / IPv6 (extension headers walked) +
//! TCP / UDP / SCTP / ICMP / ICMPv6 into [`Parsed`], a small `Copy` view of offsets and key
//! fields that every rewrite of this crate reuses. Modelled on smoltcp's `wire` typed views;
//! header layouts from RFC 791, RFC 8200, RFC 9293, RFC 768, RFC 9260, RFC 792 and RFC 4443.
#![deny(clippy::indexing_slicing)]

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use crate::FwdError;
use crate::bytes::{arr, be16, u8_at};

/// Ethernet header length without a VLAN tag (bytes).
pub(crate) const ETH_LEN: usize = 14;
/// EtherType of IPv4.
pub const ETHERTYPE_IPV4: u16 = 0x0800;
/// EtherType of IPv6.
pub const ETHERTYPE_IPV6: u16 = 0x86DD;
/// EtherType (TPID) of an IEEE 802.1Q VLAN tag.
pub const ETHERTYPE_VLAN: u16 = 0x8100;

/// IP protocol number of ICMP (RFC 792).
pub const PROTO_ICMP: u8 = 1;
/// IP protocol number of TCP.
pub const PROTO_TCP: u8 = 6;
/// IP protocol number of UDP.
pub const PROTO_UDP: u8 = 17;
/// IP protocol number of ICMPv6 (RFC 4443).
pub const PROTO_ICMPV6: u8 = 58;
/// IP protocol number of SCTP.
pub const PROTO_SCTP: u8 = 132;

/// The most IPv6 extension headers [`parse`] walks before giving up with
/// [`FwdError::ExtensionHeaderChain`] (RFC 8200 section 4.1 lists at most 8 in a packet:
/// hop-by-hop, destination options twice, routing, fragment, AH, ESP and the upper layer).
pub const MAX_IPV6_EXT_HEADERS: usize = 8;

/// Fragmentation information of an IP packet (IPv4 header flags/offset, or an IPv6 fragment
/// header, RFC 8200 section 4.5).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Fragment {
    /// Fragment offset in units of 8 bytes; 0 for the first fragment.
    pub offset: u16,
    /// The More Fragments flag.
    pub more: bool,
    /// The identification (16 bits for IPv4, 32 for IPv6).
    pub id: u32,
}

/// The transport header found after the IP header(s), with the fields a director needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Transport {
    /// TCP: ports and the flag byte (byte 13: CWR ECE URG ACK PSH RST SYN FIN).
    Tcp {
        /// Source port.
        src_port: u16,
        /// Destination port.
        dst_port: u16,
        /// The TCP flags byte.
        flags: u8,
    },
    /// UDP: ports and the checksum field as found (0 means "no checksum" on IPv4).
    Udp {
        /// Source port.
        src_port: u16,
        /// Destination port.
        dst_port: u16,
    },
    /// SCTP common header ports.
    Sctp {
        /// Source port.
        src_port: u16,
        /// Destination port.
        dst_port: u16,
    },
    /// ICMP (IPv4) type and code.
    Icmp {
        /// ICMP type.
        icmp_type: u8,
        /// ICMP code.
        code: u8,
    },
    /// ICMPv6 type and code.
    Icmpv6 {
        /// ICMPv6 type.
        icmp_type: u8,
        /// ICMPv6 code.
        code: u8,
    },
    /// A non-first fragment: no transport header, no ports (the `protocol` of [`Parsed`] is
    /// still the upper-layer protocol).
    NonFirstFragment,
    /// Any other protocol (ESP, GRE, IPIP, "no next header", ...): not parsed further.
    Other,
}

/// TCP flag bits of [`Transport::Tcp`]'s `flags`.
pub mod tcp_flags {
    /// FIN.
    pub const FIN: u8 = 0x01;
    /// SYN.
    pub const SYN: u8 = 0x02;
    /// RST.
    pub const RST: u8 = 0x04;
    /// PSH.
    pub const PSH: u8 = 0x08;
    /// ACK.
    pub const ACK: u8 = 0x10;
}

/// The connection tuple of a TCP / UDP / SCTP packet (or of the packet an ICMP error quotes),
/// in the packet's own direction.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct FlowTuple {
    /// IP protocol number (6, 17 or 132).
    pub protocol: u8,
    /// Source address.
    pub src: IpAddr,
    /// Source port.
    pub src_port: u16,
    /// Destination address.
    pub dst: IpAddr,
    /// Destination port.
    pub dst_port: u16,
}

/// A parsed Ethernet frame: offsets into the caller's buffer plus the key fields, produced only
/// by [`parse`] (the fields are private, so the offsets are consistent with each other and lie
/// within the first [`Parsed::end`] bytes of the parsed buffer).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Parsed {
    pub(crate) vlan: Option<u16>,
    pub(crate) l3: usize,
    pub(crate) l4: usize,
    pub(crate) end: usize,
    pub(crate) src: IpAddr,
    pub(crate) dst: IpAddr,
    pub(crate) hop_limit: u8,
    pub(crate) protocol: u8,
    pub(crate) fragment: Option<Fragment>,
    pub(crate) transport: Transport,
    /// IPv6 only: a routing header with Segments Left > 0 (the pseudo-header destination is
    /// then not the IPv6 destination, RFC 8200 section 8.1).
    pub(crate) routing_pending: bool,
    /// What the NAT / FULLNAT rewrite does with the transport header, decided once here.
    pub(crate) rw: Rw,
}

/// The transport checksum a port rewrite must update, or why there is none.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Rw {
    /// TCP: incremental update.
    Tcp,
    /// UDP: incremental update unless 0.
    Udp,
    /// SCTP: CRC32c recomputed.
    Sctp,
    /// A fragment without (or, for SCTP, with only part of) the checksummed data.
    Fragment,
    /// No ports to rewrite.
    Unsupported,
}

impl Parsed {
    /// The 802.1Q tag control information (PCP, DEI, VID), if the frame carries a tag.
    #[must_use]
    pub fn vlan(&self) -> Option<u16> {
        self.vlan
    }
    /// Byte offset of the IP header in the frame (14, or 18 with a VLAN tag).
    #[must_use]
    pub fn l3_offset(&self) -> usize {
        self.l3
    }
    /// Byte offset of the transport header (for a non-first fragment: of its payload).
    #[must_use]
    pub fn l4_offset(&self) -> usize {
        self.l4
    }
    /// Byte offset one past the IP packet as its length field says (Ethernet padding after it
    /// is ignored).
    #[must_use]
    pub fn end(&self) -> usize {
        self.end
    }
    /// True for IPv4, false for IPv6.
    #[must_use]
    pub fn is_ipv4(&self) -> bool {
        self.src.is_ipv4()
    }
    /// IP source address.
    #[must_use]
    pub fn src(&self) -> IpAddr {
        self.src
    }
    /// IP destination address.
    #[must_use]
    pub fn dst(&self) -> IpAddr {
        self.dst
    }
    /// IPv4 TTL or IPv6 hop limit, as received.
    #[must_use]
    pub fn hop_limit(&self) -> u8 {
        self.hop_limit
    }
    /// The upper-layer protocol (after IPv6 extension headers).
    #[must_use]
    pub fn protocol(&self) -> u8 {
        self.protocol
    }
    /// Fragmentation information, when the packet is a fragment (IPv4 MF or offset != 0, or an
    /// IPv6 fragment header).
    #[must_use]
    pub fn fragment(&self) -> Option<Fragment> {
        self.fragment
    }
    /// The transport header summary.
    #[must_use]
    pub fn transport(&self) -> Transport {
        self.transport
    }
    /// Source and destination ports of TCP, UDP and SCTP; `None` otherwise (including
    /// non-first fragments).
    #[must_use]
    pub fn ports(&self) -> Option<(u16, u16)> {
        match self.transport {
            Transport::Tcp {
                src_port, dst_port, ..
            }
            | Transport::Udp { src_port, dst_port }
            | Transport::Sctp { src_port, dst_port } => Some((src_port, dst_port)),
            _ => None,
        }
    }
    /// The connection tuple of a TCP / UDP / SCTP packet; `None` otherwise.
    #[must_use]
    pub fn flow(&self) -> Option<FlowTuple> {
        self.ports().map(|(src_port, dst_port)| FlowTuple {
            protocol: self.protocol,
            src: self.src,
            src_port,
            dst: self.dst,
            dst_port,
        })
    }
    /// True when the packet is an ICMP error message (IPv4 types 3, 4, 5, 11, 12, the kernel's
    /// `icmp_pointers[type].error`) or an ICMPv6 error message (type < 128, RFC 4443 section 2.1).
    #[must_use]
    pub fn is_icmp_error(&self) -> bool {
        match self.transport {
            Transport::Icmp { icmp_type, .. } => matches!(icmp_type, 3 | 4 | 5 | 11 | 12),
            Transport::Icmpv6 { icmp_type, .. } => icmp_type < 128,
            _ => false,
        }
    }
}

/// Result of walking the IP header(s) of a packet (outer or quoted).
#[derive(Debug, Clone, Copy)]
pub(crate) struct IpWalk {
    pub(crate) l4: usize,
    pub(crate) protocol: u8,
    pub(crate) src: IpAddr,
    pub(crate) dst: IpAddr,
    pub(crate) hop_limit: u8,
    pub(crate) fragment: Option<Fragment>,
    pub(crate) routing_pending: bool,
}

/// Parses the IPv4 header at `l3`, bounded by `limit` (the end of the data available).
/// Returns the walk and the end of the packet per its Total Length (capped at `limit` when
/// `truncated_ok`, as in an ICMP quote).
pub(crate) fn ipv4(
    b: &[u8],
    l3: usize,
    limit: usize,
    truncated_ok: bool,
) -> Result<(IpWalk, usize), FwdError> {
    let h: [u8; 20] = arr(b, l3)?;
    let [
        vihl,
        _tos,
        tl0,
        tl1,
        id0,
        id1,
        fo0,
        fo1,
        ttl,
        proto,
        _c0,
        _c1,
        s0,
        s1,
        s2,
        s3,
        d0,
        d1,
        d2,
        d3,
    ] = h;
    if vihl >> 4 != 4 {
        return Err(FwdError::UnsupportedIpVersion(vihl >> 4));
    }
    let hlen = usize::from(vihl & 0x0f) * 4;
    if hlen < 20 {
        return Err(FwdError::BadHeader("ipv4 ihl < 5"));
    }
    let total = usize::from(u16::from_be_bytes([tl0, tl1]));
    if total < hlen {
        return Err(FwdError::BadHeader("ipv4 total length < header length"));
    }
    let avail = limit.saturating_sub(l3);
    if hlen > avail {
        return Err(FwdError::Truncated {
            needed: l3 + hlen,
            got: limit,
        });
    }
    let end = if total > avail {
        if !truncated_ok {
            return Err(FwdError::Truncated {
                needed: l3 + total,
                got: limit,
            });
        }
        limit
    } else {
        l3 + total
    };
    let fo = u16::from_be_bytes([fo0, fo1]);
    if fo & 0x8000 != 0 {
        return Err(FwdError::BadHeader("ipv4 reserved flag set"));
    }
    let offset = fo & 0x1fff;
    let more = fo & 0x2000 != 0;
    let fragment = (offset != 0 || more).then_some(Fragment {
        offset,
        more,
        id: u32::from(u16::from_be_bytes([id0, id1])),
    });
    Ok((
        IpWalk {
            l4: l3 + hlen,
            protocol: proto,
            src: IpAddr::V4(Ipv4Addr::new(s0, s1, s2, s3)),
            dst: IpAddr::V4(Ipv4Addr::new(d0, d1, d2, d3)),
            hop_limit: ttl,
            fragment,
            routing_pending: false,
        },
        end,
    ))
}

/// Parses the IPv6 header at `l3` and walks its extension headers (hop-by-hop, routing,
/// destination options, fragment, AH), at most [`MAX_IPV6_EXT_HEADERS`] of them, all within
/// `limit`. Stops at the first non-extension header or at a non-first fragment.
pub(crate) fn ipv6(
    b: &[u8],
    l3: usize,
    limit: usize,
    truncated_ok: bool,
) -> Result<(IpWalk, usize), FwdError> {
    let first: [u8; 8] = arr(b, l3)?;
    let src: [u8; 16] = arr(b, l3 + 8)?;
    let dst: [u8; 16] = arr(b, l3 + 24)?;
    if l3 + 40 > limit {
        return Err(FwdError::Truncated {
            needed: l3 + 40,
            got: limit,
        });
    }
    let [v, _, _, _, pl0, pl1, mut next, hop_limit] = first;
    if v >> 4 != 6 {
        return Err(FwdError::UnsupportedIpVersion(v >> 4));
    }
    let payload = usize::from(u16::from_be_bytes([pl0, pl1]));
    let full_end = l3 + 40 + payload;
    let end = if full_end > limit {
        if !truncated_ok {
            return Err(FwdError::Truncated {
                needed: full_end,
                got: limit,
            });
        }
        limit
    } else {
        full_end
    };
    let mut off = l3 + 40;
    let mut fragment = None;
    let mut routing_pending = false;
    let mut count = 0usize;
    loop {
        let hlen = match next {
            // Hop-by-hop (only directly after the IPv6 header), routing, destination options.
            0 | 43 | 60 => {
                if next == 0 && count != 0 {
                    return Err(FwdError::BadHeader("ipv6 hop-by-hop not first"));
                }
                let h: [u8; 4] = arr(b, off)?;
                if next == 43 && h[3] != 0 {
                    routing_pending = true;
                }
                (usize::from(h[1]) + 1) * 8
            }
            // Fragment header: fixed 8 bytes.
            44 => {
                let h: [u8; 8] = arr(b, off)?;
                let [_, _, o0, o1, i0, i1, i2, i3] = h;
                let fo = u16::from_be_bytes([o0, o1]);
                let frag = Fragment {
                    offset: fo >> 3,
                    more: fo & 1 != 0,
                    id: u32::from_be_bytes([i0, i1, i2, i3]),
                };
                fragment = Some(frag);
                8
            }
            // Authentication header: Payload Len in 4-byte units minus 2 (RFC 4302 2.2).
            51 => {
                let h: [u8; 2] = arr(b, off)?;
                (usize::from(h[1]) + 2) * 4
            }
            _ => break,
        };
        count += 1;
        if count > MAX_IPV6_EXT_HEADERS {
            return Err(FwdError::ExtensionHeaderChain);
        }
        if off + hlen > end {
            return Err(FwdError::Truncated {
                needed: off + hlen,
                got: end,
            });
        }
        next = u8_at(b, off)?;
        off += hlen;
        if fragment.is_some_and(|f| f.offset != 0) {
            break;
        }
    }
    Ok((
        IpWalk {
            l4: off,
            protocol: next,
            src: IpAddr::V6(Ipv6Addr::from(src)),
            dst: IpAddr::V6(Ipv6Addr::from(dst)),
            hop_limit,
            fragment,
            routing_pending,
        },
        end,
    ))
}

/// Reads the transport summary at `l4` for `protocol`, requiring the full transport header
/// (TCP with its options) to lie within `end`. `more`: the packet is a first fragment with
/// MF set, whose UDP length covers the whole datagram, not this fragment.
fn transport(
    b: &[u8],
    protocol: u8,
    l4: usize,
    end: usize,
    v6: bool,
    more: bool,
) -> Result<Transport, FwdError> {
    let need = |n: usize| {
        if l4 + n > end {
            Err(FwdError::Truncated {
                needed: l4 + n,
                got: end,
            })
        } else {
            Ok(())
        }
    };
    match protocol {
        PROTO_TCP => {
            need(20)?;
            let h: [u8; 14] = arr(b, l4)?;
            let doff = usize::from(h[12] >> 4) * 4;
            if doff < 20 {
                return Err(FwdError::BadHeader("tcp data offset < 5"));
            }
            need(doff)?;
            Ok(Transport::Tcp {
                src_port: u16::from_be_bytes([h[0], h[1]]),
                dst_port: u16::from_be_bytes([h[2], h[3]]),
                flags: h[13],
            })
        }
        PROTO_UDP => {
            need(8)?;
            let len = usize::from(be16(b, l4 + 4)?);
            // RFC 768: the length includes the 8-byte header and may not exceed the IP payload.
            if len < 8 {
                return Err(FwdError::BadHeader("udp length < 8"));
            }
            if l4 + len > end && !more {
                return Err(FwdError::BadHeader("udp length beyond ip payload"));
            }
            Ok(Transport::Udp {
                src_port: be16(b, l4)?,
                dst_port: be16(b, l4 + 2)?,
            })
        }
        PROTO_SCTP => {
            need(12)?;
            Ok(Transport::Sctp {
                src_port: be16(b, l4)?,
                dst_port: be16(b, l4 + 2)?,
            })
        }
        PROTO_ICMP if !v6 => {
            need(8)?;
            let h: [u8; 2] = arr(b, l4)?;
            Ok(Transport::Icmp {
                icmp_type: h[0],
                code: h[1],
            })
        }
        PROTO_ICMPV6 if v6 => {
            need(8)?;
            let h: [u8; 2] = arr(b, l4)?;
            Ok(Transport::Icmpv6 {
                icmp_type: h[0],
                code: h[1],
            })
        }
        _ => Ok(Transport::Other),
    }
}

/// Parses an Ethernet frame (with at most one 802.1Q tag) carrying IPv4 or IPv6 into a
/// [`Parsed`] view. Validates: IPv4 IHL >= 5 and within the frame, Total Length >= IHL and
/// within the frame (trailing Ethernet padding ignored), the reserved flag clear; IPv6 Payload
/// Length within the frame, extension headers within the packet and at most
/// [`MAX_IPV6_EXT_HEADERS`], hop-by-hop only first; TCP data offset >= 5 and the TCP header
/// (options included) present, UDP length in 8..=payload, SCTP common header (12 bytes) and
/// ICMP/ICMPv6 header (8 bytes) present. Checksums are not verified here (see
/// [`crate::verify_checksums`]).
///
/// A non-first fragment parses to [`Transport::NonFirstFragment`]; an unknown protocol to
/// [`Transport::Other`].
///
/// # Errors
/// [`FwdError::Truncated`] (frame shorter than a header or a length field says),
/// [`FwdError::BadHeader`], [`FwdError::UnsupportedEtherType`] (not IPv4/IPv6, or stacked
/// tags), [`FwdError::UnsupportedIpVersion`] (version nibble not matching the EtherType),
/// [`FwdError::ExtensionHeaderChain`].
pub fn parse(frame: &[u8]) -> Result<Parsed, FwdError> {
    match parse_ipv4_l4(frame) {
        Some(p) => Ok(p),
        None => parse_other(frame),
    }
}

/// The common case of [`parse`] on its own for IPv4: an untagged frame without IP options,
/// not a fragment (DF may be set), carrying a whole TCP or UDP header within its Total
/// Length. Returns exactly what the general parse returns for such a frame, and `None` for
/// every other frame (which the general parse then handles, errors included). Fixed
/// offsets: IP header at 14, transport header at 34.
#[inline(always)]
fn parse_ipv4_l4(frame: &[u8]) -> Option<Parsed> {
    // Ethernet (14) + IPv4 without options (20) + the first 14 bytes of a TCP header (UDP
    // needs 8 of them): everything read below.
    let h: &[u8; 48] = frame.first_chunk()?;
    // EtherType IPv4; version 4 with IHL 5; reserved flag, MF and fragment offset clear.
    if [h[12], h[13], h[14]] != [0x08, 0x00, 0x45] || be16_of(h[20], h[21]) & 0xbfff != 0 {
        return None;
    }
    // Total Length: at least the header, and within the frame (padding after it ignored).
    let total = usize::from(be16_of(h[16], h[17]));
    if total < 20 || total > frame.len() - ETH_LEN {
        return None;
    }
    let end = ETH_LEN + total;
    let (l4, protocol) = (ETH_LEN + 20, h[23]);
    let (transport, rw) = shortcut_transport(h.last_chunk()?, protocol, l4, end)?;
    Some(Parsed {
        rw,
        vlan: None,
        l3: ETH_LEN,
        l4,
        end,
        src: IpAddr::V4(Ipv4Addr::new(h[26], h[27], h[28], h[29])),
        dst: IpAddr::V4(Ipv4Addr::new(h[30], h[31], h[32], h[33])),
        hop_limit: h[22],
        protocol,
        fragment: None,
        transport,
        routing_pending: false,
    })
}

/// Every frame but the IPv4 shortcut's: the IPv6 shortcut, else the general parse (out of
/// line, so the IPv4 shortcut's code stays small).
#[inline(never)]
fn parse_other(frame: &[u8]) -> Result<Parsed, FwdError> {
    match parse_ipv6_l4(frame) {
        Some(p) => Ok(p),
        None => parse_any(frame),
    }
}

/// [`parse_ipv4_l4`] for IPv6: an untagged frame whose Next Header is TCP or UDP (no
/// extension headers), the transport header whole within the Payload Length. Fixed offsets:
/// IP header at 14, transport header at 54.
#[inline(always)]
fn parse_ipv6_l4(frame: &[u8]) -> Option<Parsed> {
    // Ethernet (14) + IPv6 (40) + the first 14 bytes of a TCP header.
    let h: &[u8; 68] = frame.first_chunk()?;
    if [h[12], h[13], h[14] >> 4] != [0x86, 0xdd, 6] {
        return None;
    }
    let end = ETH_LEN + 40 + usize::from(be16_of(h[18], h[19]));
    if end > frame.len() {
        return None;
    }
    let (l4, protocol) = (ETH_LEN + 40, h[20]);
    let (transport, rw) = shortcut_transport(h.last_chunk()?, protocol, l4, end)?;
    let addr = |at: usize| -> Option<Ipv6Addr> {
        let a: &[u8; 16] = h.get(at..)?.first_chunk()?;
        Some(Ipv6Addr::from(*a))
    };
    Some(Parsed {
        rw,
        vlan: None,
        l3: ETH_LEN,
        l4,
        end,
        src: IpAddr::V6(addr(22)?),
        dst: IpAddr::V6(addr(38)?),
        hop_limit: h[21],
        protocol,
        fragment: None,
        transport,
        routing_pending: false,
    })
}

/// The transport part of the parse shortcuts: `t` is the first 14 bytes at `l4` (read from
/// the frame; the checks below keep the header within `end`). TCP with data offset >= 5
/// and its header (options included) within the packet; UDP with 8 <= length <= the IP
/// payload (RFC 768). `None` for anything else.
#[inline(always)]
fn shortcut_transport(
    t: &[u8; 14],
    protocol: u8,
    l4: usize,
    end: usize,
) -> Option<(Transport, Rw)> {
    let (src_port, dst_port) = (be16_of(t[0], t[1]), be16_of(t[2], t[3]));
    match protocol {
        PROTO_TCP => {
            let doff = usize::from(t[12] >> 4) * 4;
            if doff < 20 || l4 + doff > end {
                return None;
            }
            let flags = t[13];
            Some((
                Transport::Tcp {
                    src_port,
                    dst_port,
                    flags,
                },
                Rw::Tcp,
            ))
        }
        PROTO_UDP => {
            let len = usize::from(be16_of(t[4], t[5]));
            if len < 8 || l4 + len > end {
                return None;
            }
            Some((Transport::Udp { src_port, dst_port }, Rw::Udp))
        }
        _ => None,
    }
}

/// A big-endian 16-bit word from its two bytes.
#[inline(always)]
fn be16_of(hi: u8, lo: u8) -> u16 {
    u16::from_be_bytes([hi, lo])
}

/// [`parse`] for any frame: VLAN tag, IPv6 and its extension headers, IPv4 options,
/// fragments, every transport.
fn parse_any(frame: &[u8]) -> Result<Parsed, FwdError> {
    let mut ethertype = be16(frame, 12)?;
    let mut l3 = ETH_LEN;
    let mut vlan = None;
    if ethertype == ETHERTYPE_VLAN {
        vlan = Some(be16(frame, 14)?);
        ethertype = be16(frame, 16)?;
        l3 += 4;
    }
    let v6 = match ethertype {
        ETHERTYPE_IPV4 => false,
        ETHERTYPE_IPV6 => true,
        other => return Err(FwdError::UnsupportedEtherType(other)),
    };
    let (w, end) = if v6 {
        ipv6(frame, l3, frame.len(), false)?
    } else {
        ipv4(frame, l3, frame.len(), false)?
    };
    let non_first = w.fragment.is_some_and(|f| f.offset != 0);
    let transport = if non_first {
        Transport::NonFirstFragment
    } else {
        let more = w.fragment.is_some_and(|f| f.more);
        transport(frame, w.protocol, w.l4, end, v6, more)?
    };
    let rw = match transport {
        Transport::Tcp { .. } => Rw::Tcp,
        Transport::Udp { .. } => Rw::Udp,
        Transport::Sctp { .. } if w.fragment.is_some_and(|f| f.more) => Rw::Fragment,
        Transport::Sctp { .. } => Rw::Sctp,
        Transport::NonFirstFragment => Rw::Fragment,
        _ => Rw::Unsupported,
    };
    Ok(Parsed {
        rw,
        vlan,
        l3,
        l4: w.l4,
        end,
        src: w.src,
        dst: w.dst,
        hop_limit: w.hop_limit,
        protocol: w.protocol,
        fragment: w.fragment,
        transport,
        routing_pending: w.routing_pending,
    })
}

#[cfg(test)]
mod tests {
    use etherparse::PacketBuilder;
    use proptest::prelude::*;

    use super::{parse, parse_any, parse_ipv4_l4, parse_ipv6_l4};

    /// A TCP (or UDP) frame over IPv4 (or IPv6) built by etherparse, `payload` bytes of data.
    fn frame(v6: bool, udp: bool, payload: usize) -> Vec<u8> {
        let eth = PacketBuilder::ethernet2([2, 0, 0, 0, 0, 1], [2, 0, 0, 0, 0, 2]);
        let mut v = Vec::new();
        let data = vec![0x5a; payload];
        let r = match (v6, udp) {
            (false, false) => eth
                .ipv4([10, 0, 0, 1], [192, 168, 56, 200], 64)
                .tcp(40000, 80, 1, 64240)
                .syn()
                .write(&mut v, &data),
            (false, true) => eth
                .ipv4([10, 0, 0, 1], [192, 168, 56, 200], 64)
                .udp(40000, 80)
                .write(&mut v, &data),
            (true, false) => eth
                .ipv6([0x20; 16], [0x30; 16], 64)
                .tcp(40000, 80, 1, 64240)
                .syn()
                .write(&mut v, &data),
            (true, true) => eth
                .ipv6([0x20; 16], [0x30; 16], 64)
                .udp(40000, 80)
                .write(&mut v, &data),
        };
        assert!(r.is_ok());
        v
    }

    /// The TCP / UDP shortcuts take the frames they should, and give what the general parse
    /// gives.
    #[test]
    fn shortcuts_take_plain_tcp_and_udp() {
        for v6 in [false, true] {
            for udp in [false, true] {
                for payload in [0, 6, 100] {
                    let f = frame(v6, udp, payload);
                    let fast = if v6 {
                        parse_ipv6_l4(&f)
                    } else {
                        parse_ipv4_l4(&f)
                    };
                    // Frames shorter than the bytes a shortcut reads (48 for IPv4, 68 for
                    // IPv6: UDP with little data) go the general way.
                    let reads = if v6 { 68 } else { 48 };
                    assert_eq!(
                        fast.is_some(),
                        f.len() >= reads,
                        "v6 {v6} udp {udp} {payload}"
                    );
                    assert!(parse_any(&f).is_ok());
                    assert_eq!(parse(&f), parse_any(&f));
                    if let Some(p) = fast {
                        assert_eq!(Ok(p), parse_any(&f));
                    }
                }
            }
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 3000, ..ProptestConfig::default() })]

        /// `parse` (shortcuts, then the general parse) equals the general parse on every
        /// frame: plain TCP / UDP frames over IPv4 and IPv6 with up to four bytes of the
        /// first 70 changed (so each header field the shortcuts check takes odd values:
        /// EtherType, version / IHL, Total / Payload Length, flags and offset, protocol /
        /// Next Header, data offset, UDP length) and truncated or padded.
        #[test]
        fn parse_equals_the_general_parse(
            v6 in any::<bool>(),
            udp in any::<bool>(),
            payload in 0usize..64,
            edits in proptest::collection::vec((0usize..70, any::<u8>()), 0..4),
            cut in 0usize..80,
            pad in 0usize..8,
        ) {
            let mut f = frame(v6, udp, payload);
            for (at, v) in edits {
                if let Some(b) = f.get_mut(at) {
                    *b = v;
                }
            }
            let keep = f.len().saturating_sub(cut % 40);
            f.truncate(if cut >= 40 { keep } else { f.len() });
            f.extend(std::iter::repeat_n(0u8, pad));
            prop_assert_eq!(parse(&f), parse_any(&f));
            for p in [parse_ipv4_l4(&f), parse_ipv6_l4(&f)].into_iter().flatten() {
                prop_assert_eq!(Ok(p), parse_any(&f));
            }
        }
    }
}
