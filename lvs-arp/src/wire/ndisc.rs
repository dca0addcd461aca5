//! IPv6 Neighbour Solicitation (ICMPv6 type 135) and Neighbour Advertisement (type 136),
//! RFC 4861 sections 4.3, 4.4, 4.6.1, 7.1.1 and 7.1.2, as whole Ethernet II frames
//! (Ethernet + 40-byte IPv6 header + ICMPv6 message). The IPv6 next header must be ICMPv6
//! directly (no extension headers).
//!
//! Message body (network byte order): type (1), code (1) = 0, checksum (2); NS: reserved (4);
//! NA: flags R (0x80), S (0x40), O (0x20) in the first byte then 3 reserved bytes; target
//! address (16); options. The link-layer address options are type 1 (source) and type 2
//! (target), length 1 (8 bytes: type, length, 6-byte MAC) on Ethernet.

use core::net::Ipv6Addr;

use super::{BufferTooSmall, ETH_HDR_LEN, ETHERTYPE_IPV6, array, be16};
use crate::mac::MacAddr;

/// IPv6 header length, bytes.
pub const IPV6_HDR_LEN: usize = 40;
/// IPv6 next-header value of ICMPv6.
pub const NEXT_HEADER_ICMPV6: u8 = 58;
/// ICMPv6 type of a Neighbour Solicitation.
pub const ICMPV6_NEIGHBOR_SOLICIT: u8 = 135;
/// ICMPv6 type of a Neighbour Advertisement.
pub const ICMPV6_NEIGHBOR_ADVERT: u8 = 136;
/// The only hop limit RFC 4861 section 7.1 accepts (and the one every ND message is sent with).
pub const ND_HOP_LIMIT: u8 = 255;
/// Smallest NS/NA ICMPv6 length (header + target, no options), bytes (RFC 4861 7.1.1/7.1.2).
pub const ND_MIN_LEN: usize = 24;
/// Option type: source link-layer address.
pub const OPT_SOURCE_LLADDR: u8 = 1;
/// Option type: target link-layer address.
pub const OPT_TARGET_LLADDR: u8 = 2;
/// `ff02::1`, the all-nodes multicast address, destination of an unsolicited NA.
pub const ALL_NODES: Ipv6Addr = Ipv6Addr::new(0xff02, 0, 0, 0, 0, 0, 0, 1);

/// Neighbour Advertisement flags (RFC 4861 section 4.4).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct NaFlags {
    /// R: the sender is a router.
    pub router: bool,
    /// S: sent in response to a Neighbour Solicitation.
    pub solicited: bool,
    /// O: override an existing cache entry.
    pub override_flag: bool,
}

impl NaFlags {
    const R: u8 = 0x80;
    const S: u8 = 0x40;
    const O: u8 = 0x20;

    /// The flag byte on the wire.
    pub const fn to_byte(self) -> u8 {
        (if self.router { Self::R } else { 0 })
            | (if self.solicited { Self::S } else { 0 })
            | (if self.override_flag { Self::O } else { 0 })
    }

    /// Flags from the wire byte; reserved bits are ignored (RFC 4861: ignored by receivers).
    pub const fn from_byte(b: u8) -> NaFlags {
        NaFlags {
            router: b & Self::R != 0,
            solicited: b & Self::S != 0,
            override_flag: b & Self::O != 0,
        }
    }
}

/// An NS or NA message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum NdiscMessage {
    /// Neighbour Solicitation: "who has `target`?".
    Solicit {
        /// Target address being resolved (never multicast).
        target: Ipv6Addr,
        /// Source link-layer address option; absent in a DAD probe (unspecified source).
        source_lladdr: Option<MacAddr>,
    },
    /// Neighbour Advertisement: "`target` is at `target_lladdr`".
    Advert {
        /// R, S, O flags.
        flags: NaFlags,
        /// Target address being advertised (never multicast).
        target: Ipv6Addr,
        /// Target link-layer address option.
        target_lladdr: Option<MacAddr>,
    },
}

/// One NS/NA frame: Ethernet and IPv6 addressing plus the ND message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct NdiscFrame {
    /// Ethernet destination MAC.
    pub eth_dst: MacAddr,
    /// Ethernet source MAC.
    pub eth_src: MacAddr,
    /// IPv6 source address (`::` in a DAD probe).
    pub src: Ipv6Addr,
    /// IPv6 destination address.
    pub dst: Ipv6Addr,
    /// IPv6 hop limit; 255 on every valid ND message.
    pub hop_limit: u8,
    /// The message.
    pub message: NdiscMessage,
}

/// Why a frame is not a valid NS/NA (RFC 4861 sections 7.1.1, 7.1.2, plus framing errors).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum NdiscParseError {
    /// Shorter than the headers it announces.
    #[error("ND frame truncated: {len} bytes, need {need}")]
    Truncated {
        /// Bytes given.
        len: usize,
        /// Bytes needed.
        need: usize,
    },
    /// EtherType is not IPv6.
    #[error("EtherType {0:#06x} is not IPv6 (0x86dd)")]
    NotIpv6(u16),
    /// IP version field is not 6.
    #[error("IP version {0} is not 6")]
    IpVersion(u8),
    /// Next header is not ICMPv6 (extension headers are not supported).
    #[error("IPv6 next header {0} is not ICMPv6 (58)")]
    NextHeader(u8),
    /// ICMPv6 type is not 135 or 136.
    #[error("ICMPv6 type {0} is not a Neighbour Solicitation (135) or Advertisement (136)")]
    NotNeighbour(u8),
    /// RFC 4861 7.1: hop limit must be 255 (the message did not cross a router).
    #[error("hop limit {0} is not 255")]
    HopLimit(u8),
    /// The ICMPv6 checksum (with the IPv6 pseudo-header) does not verify.
    #[error("ICMPv6 checksum {found:#06x} is wrong, expected {expected:#06x}")]
    Checksum {
        /// Checksum in the frame.
        found: u16,
        /// Checksum computed over the message.
        expected: u16,
    },
    /// RFC 4861 7.1: ICMP code must be 0.
    #[error("ICMPv6 code {0} is not 0")]
    Code(u8),
    /// RFC 4861 7.1: ICMP length must be 24 or more.
    #[error("ICMPv6 length {0} is below 24")]
    TooShort(usize),
    /// RFC 4861 7.1: the target address must not be multicast.
    #[error("target {0} is a multicast address")]
    MulticastTarget(Ipv6Addr),
    /// RFC 4861 7.1: every option must have a non-zero length that fits in the message.
    #[error(
        "option type {kind} has length {len} (units of 8 bytes) that is zero or overruns the message"
    )]
    OptionLength {
        /// Option type.
        kind: u8,
        /// Option length field.
        len: u8,
    },
    /// A link-layer address option is not 8 bytes long (the Ethernet form).
    #[error("link-layer address option type {kind} has length {len}, Ethernet needs 1")]
    LinkLayerOptionLength {
        /// Option type.
        kind: u8,
        /// Option length field.
        len: u8,
    },
    /// RFC 4861 7.1.1: an NS from `::` must not carry a source link-layer address option.
    #[error("DAD solicitation (source ::) carries a source link-layer address option")]
    DadWithSourceLladdr,
    /// RFC 4861 7.1.1: an NS from `::` must go to a solicited-node multicast address.
    #[error("DAD solicitation (source ::) sent to {0}, not a solicited-node address")]
    DadNotSolicitedNode(Ipv6Addr),
    /// RFC 4861 7.1.2: an NA sent to a multicast address must have S clear.
    #[error("advertisement to multicast {0} has the Solicited flag set")]
    SolicitedToMulticast(Ipv6Addr),
}

/// The solicited-node multicast address of `target`: `ff02::1:ff00:0/104` with the low 24 bits
/// of `target` (RFC 4291 section 2.7.1).
pub fn solicited_node(target: Ipv6Addr) -> Ipv6Addr {
    let o = target.octets();
    Ipv6Addr::from([
        0xff, 0x02, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0xff, o[13], o[14], o[15],
    ])
}

/// True when `a` is in `ff02::1:ff00:0/104`.
pub fn is_solicited_node(a: Ipv6Addr) -> bool {
    let o = a.octets();
    o[..12] == [0xff, 0x02, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1] && o[12] == 0xff
}

/// The ICMPv6 checksum (RFC 4443 section 2.3) of `msg` with the IPv6 pseudo-header
/// (RFC 8200 section 8.1: source, destination, upper-layer length as u32, 3 zero bytes, next
/// header 58). Computed over `msg` as given: zero the checksum field first to compute, or leave
/// it in place to verify (a correct message then yields 0).
pub fn icmpv6_checksum(src: Ipv6Addr, dst: Ipv6Addr, msg: &[u8]) -> u16 {
    let mut sum: u64 = 0;
    for pair in src
        .octets()
        .chunks_exact(2)
        .chain(dst.octets().chunks_exact(2))
    {
        sum += u64::from(u16::from_be_bytes([pair[0], pair[1]]));
    }
    sum += msg.len() as u64;
    sum += u64::from(NEXT_HEADER_ICMPV6);
    let mut chunks = msg.chunks_exact(2);
    for pair in &mut chunks {
        sum += u64::from(u16::from_be_bytes([pair[0], pair[1]]));
    }
    if let [last] = chunks.remainder() {
        sum += u64::from(u16::from_be_bytes([*last, 0]));
    }
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}

impl NdiscFrame {
    /// Parses and validates an Ethernet frame holding an NS or NA per RFC 4861 sections 7.1.1
    /// (NS) and 7.1.2 (NA). Bytes past the IPv6 payload length (padding) are ignored. Unknown
    /// options are skipped; of repeated link-layer options the first counts. Never panics.
    pub fn parse(frame: &[u8]) -> Result<NdiscFrame, NdiscParseError> {
        let need_hdrs = ETH_HDR_LEN + IPV6_HDR_LEN;
        let truncated = |need| NdiscParseError::Truncated {
            len: frame.len(),
            need,
        };
        let ethertype = be16(frame, 12).ok_or(truncated(need_hdrs))?;
        if ethertype != ETHERTYPE_IPV6 {
            return Err(NdiscParseError::NotIpv6(ethertype));
        }
        let ip: [u8; IPV6_HDR_LEN] = array(frame, ETH_HDR_LEN).ok_or(truncated(need_hdrs))?;
        let eth_dst = MacAddr(array(frame, 0).ok_or(truncated(need_hdrs))?);
        let eth_src = MacAddr(array(frame, 6).ok_or(truncated(need_hdrs))?);
        let version = ip[0] >> 4;
        if version != 6 {
            return Err(NdiscParseError::IpVersion(version));
        }
        let payload_len = usize::from(u16::from_be_bytes([ip[4], ip[5]]));
        let next_header = ip[6];
        let hop_limit = ip[7];
        let src = Ipv6Addr::from(array::<16>(&ip, 8).ok_or(truncated(need_hdrs))?);
        let dst = Ipv6Addr::from(array::<16>(&ip, 24).ok_or(truncated(need_hdrs))?);
        if next_header != NEXT_HEADER_ICMPV6 {
            return Err(NdiscParseError::NextHeader(next_header));
        }
        let msg = frame
            .get(need_hdrs..need_hdrs + payload_len)
            .ok_or(truncated(need_hdrs + payload_len))?;
        let kind = *msg.first().ok_or(NdiscParseError::TooShort(msg.len()))?;
        if kind != ICMPV6_NEIGHBOR_SOLICIT && kind != ICMPV6_NEIGHBOR_ADVERT {
            return Err(NdiscParseError::NotNeighbour(kind));
        }
        // RFC 4861 7.1.1 / 7.1.2, in the RFC's order.
        if hop_limit != ND_HOP_LIMIT {
            return Err(NdiscParseError::HopLimit(hop_limit));
        }
        if msg.len() < 4 {
            return Err(NdiscParseError::TooShort(msg.len()));
        }
        if icmpv6_checksum(src, dst, msg) != 0 {
            let found = be16(msg, 2).unwrap_or(0);
            let expected = recompute_with_zero_checksum(src, dst, msg);
            return Err(NdiscParseError::Checksum { found, expected });
        }
        let code = msg.get(1).copied().unwrap_or(0);
        if code != 0 {
            return Err(NdiscParseError::Code(code));
        }
        if msg.len() < ND_MIN_LEN {
            return Err(NdiscParseError::TooShort(msg.len()));
        }
        let target =
            Ipv6Addr::from(array::<16>(msg, 8).ok_or(NdiscParseError::TooShort(msg.len()))?);
        if target.is_multicast() {
            return Err(NdiscParseError::MulticastTarget(target));
        }
        let opts = msg.get(ND_MIN_LEN..).unwrap_or(&[]);
        let (slla, tlla) = parse_lladdr_options(opts)?;
        let message = if kind == ICMPV6_NEIGHBOR_SOLICIT {
            if src.is_unspecified() {
                if !is_solicited_node(dst) {
                    return Err(NdiscParseError::DadNotSolicitedNode(dst));
                }
                if slla.is_some() {
                    return Err(NdiscParseError::DadWithSourceLladdr);
                }
            }
            NdiscMessage::Solicit {
                target,
                source_lladdr: slla,
            }
        } else {
            let flags = NaFlags::from_byte(msg.get(4).copied().unwrap_or(0));
            if dst.is_multicast() && flags.solicited {
                return Err(NdiscParseError::SolicitedToMulticast(dst));
            }
            NdiscMessage::Advert {
                flags,
                target,
                target_lladdr: tlla,
            }
        };
        Ok(NdiscFrame {
            eth_dst,
            eth_src,
            src,
            dst,
            hop_limit,
            message,
        })
    }

    /// Length of the frame [`Self::emit`] writes: 14 + 40 + 24, plus 8 with a link-layer
    /// address option.
    pub fn frame_len(&self) -> usize {
        ETH_HDR_LEN + IPV6_HDR_LEN + self.icmp_len()
    }

    fn icmp_len(&self) -> usize {
        let has_opt = match self.message {
            NdiscMessage::Solicit { source_lladdr, .. } => source_lladdr.is_some(),
            NdiscMessage::Advert { target_lladdr, .. } => target_lladdr.is_some(),
        };
        ND_MIN_LEN + if has_opt { 8 } else { 0 }
    }

    /// Writes the whole frame into `buf` with a correct ICMPv6 checksum and returns its length
    /// ([`Self::frame_len`]); [`BufferTooSmall`] when `buf` is shorter.
    pub fn emit(&self, buf: &mut [u8]) -> Result<usize, BufferTooSmall> {
        let len = self.frame_len();
        let err = BufferTooSmall {
            len: buf.len(),
            need: len,
        };
        let out = buf.get_mut(..len).ok_or(err)?;
        out.fill(0);
        let icmp_len = self.icmp_len();
        let (eth, rest) = out.split_at_mut(ETH_HDR_LEN);
        let (ip, msg) = rest.split_at_mut(IPV6_HDR_LEN);
        eth[0..6].copy_from_slice(&self.eth_dst.0);
        eth[6..12].copy_from_slice(&self.eth_src.0);
        eth[12..14].copy_from_slice(&ETHERTYPE_IPV6.to_be_bytes());
        ip[0] = 0x60;
        ip[4..6].copy_from_slice(&(icmp_len as u16).to_be_bytes());
        ip[6] = NEXT_HEADER_ICMPV6;
        ip[7] = self.hop_limit;
        ip[8..24].copy_from_slice(&self.src.octets());
        ip[24..40].copy_from_slice(&self.dst.octets());
        let (kind, flags, target, opt) = match self.message {
            NdiscMessage::Solicit {
                target,
                source_lladdr,
            } => (
                ICMPV6_NEIGHBOR_SOLICIT,
                0,
                target,
                source_lladdr.map(|m| (OPT_SOURCE_LLADDR, m)),
            ),
            NdiscMessage::Advert {
                flags,
                target,
                target_lladdr,
            } => (
                ICMPV6_NEIGHBOR_ADVERT,
                flags.to_byte(),
                target,
                target_lladdr.map(|m| (OPT_TARGET_LLADDR, m)),
            ),
        };
        msg[0] = kind;
        msg[4] = flags;
        msg[8..24].copy_from_slice(&target.octets());
        if let Some((opt_kind, mac)) = opt {
            msg[24] = opt_kind;
            msg[25] = 1;
            msg[26..32].copy_from_slice(&mac.0);
        }
        let ck = icmpv6_checksum(self.src, self.dst, msg);
        msg[2..4].copy_from_slice(&ck.to_be_bytes());
        Ok(len)
    }

    /// A Neighbour Solicitation for `target` from `src_ip`/`src_mac` (RFC 4861 section 7.2.2):
    /// to the solicited-node multicast address (Ethernet `33:33:ff:..`) when `unicast_to` is
    /// `None`, else unicast to `target` at that MAC (NUD probe). Carries the source link-layer
    /// option unless `src_ip` is `::` (a DAD probe, which must not).
    pub fn solicit(
        src_mac: MacAddr,
        src_ip: Ipv6Addr,
        target: Ipv6Addr,
        unicast_to: Option<MacAddr>,
    ) -> NdiscFrame {
        let (eth_dst, dst) = match unicast_to {
            Some(mac) => (mac, target),
            None => {
                let group = solicited_node(target);
                (MacAddr::ipv6_multicast(group), group)
            }
        };
        NdiscFrame {
            eth_dst,
            eth_src: src_mac,
            src: src_ip,
            dst,
            hop_limit: ND_HOP_LIMIT,
            message: NdiscMessage::Solicit {
                target,
                source_lladdr: (!src_ip.is_unspecified()).then_some(src_mac),
            },
        }
    }

    /// The solicited advertisement answering `self` (an NS) from a device with MAC `dev_mac`
    /// (RFC 4861 section 7.2.4): source = the solicited target, O set, R = `router`, target
    /// link-layer option = `dev_mac`; to the solicitor with S set, or to `ff02::1` with S clear
    /// when the NS came from `::` (DAD). Returns `None` when `self` is not an NS.
    pub fn advert_reply(&self, dev_mac: MacAddr, router: bool) -> Option<NdiscFrame> {
        let NdiscMessage::Solicit {
            target,
            source_lladdr,
        } = self.message
        else {
            return None;
        };
        let dad = self.src.is_unspecified();
        let (dst, eth_dst) = if dad {
            (ALL_NODES, MacAddr::ipv6_multicast(ALL_NODES))
        } else {
            (self.src, source_lladdr.unwrap_or(self.eth_src))
        };
        Some(NdiscFrame {
            eth_dst,
            eth_src: dev_mac,
            src: target,
            dst,
            hop_limit: ND_HOP_LIMIT,
            message: NdiscMessage::Advert {
                flags: NaFlags {
                    router,
                    solicited: !dad,
                    override_flag: true,
                },
                target,
                target_lladdr: Some(dev_mac),
            },
        })
    }

    /// An unsolicited Neighbour Advertisement announcing `ip` at `mac` (RFC 4861 section 7.2.6;
    /// the kernel's `ndisc_notify` and keepalived's gratuitous NA): to `ff02::1`
    /// (`33:33:00:00:00:01`), hop limit 255, O set, S clear, R = `router`, target link-layer
    /// address option = `mac`.
    pub fn unsolicited_advert(mac: MacAddr, ip: Ipv6Addr, router: bool) -> NdiscFrame {
        NdiscFrame {
            eth_dst: MacAddr::ipv6_multicast(ALL_NODES),
            eth_src: mac,
            src: ip,
            dst: ALL_NODES,
            hop_limit: ND_HOP_LIMIT,
            message: NdiscMessage::Advert {
                flags: NaFlags {
                    router,
                    solicited: false,
                    override_flag: true,
                },
                target: ip,
                target_lladdr: Some(mac),
            },
        }
    }
}

/// The checksum `msg` should carry: the sum over `msg` with its checksum field (bytes 2..4)
/// taken as zero.
fn recompute_with_zero_checksum(src: Ipv6Addr, dst: Ipv6Addr, msg: &[u8]) -> u16 {
    // Adding back the complement of the stored field removes it from the one's-complement sum.
    let stored = be16(msg, 2).unwrap_or(0);
    let with = !icmpv6_checksum(src, dst, msg);
    let mut sum = u32::from(with) + u32::from(!stored);
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}

/// Walks the options: every option needs a non-zero length within the message (RFC 4861 7.1);
/// returns the first source and first target link-layer addresses.
fn parse_lladdr_options(
    mut opts: &[u8],
) -> Result<(Option<MacAddr>, Option<MacAddr>), NdiscParseError> {
    let mut slla = None;
    let mut tlla = None;
    while !opts.is_empty() {
        let kind = opts.first().copied().unwrap_or(0);
        let Some(&len) = opts.get(1) else {
            return Err(NdiscParseError::OptionLength { kind, len: 0 });
        };
        let bytes = usize::from(len) * 8;
        if len == 0 || bytes > opts.len() {
            return Err(NdiscParseError::OptionLength { kind, len });
        }
        let (opt, rest) = opts.split_at(bytes);
        if kind == OPT_SOURCE_LLADDR || kind == OPT_TARGET_LLADDR {
            if len != 1 {
                return Err(NdiscParseError::LinkLayerOptionLength { kind, len });
            }
            let mac = array::<6>(opt, 2).map(MacAddr);
            let slot = if kind == OPT_SOURCE_LLADDR {
                &mut slla
            } else {
                &mut tlla
            };
            if slot.is_none() {
                *slot = mac;
            }
        }
        opts = rest;
    }
    Ok((slla, tlla))
}
