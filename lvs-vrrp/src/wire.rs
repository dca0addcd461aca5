//! VRRP advertisement codec: VRRPv2 (RFC 3768 section 5) and VRRPv3 (RFC 5798 / RFC 9568
//! section 5) over IPv4 and IPv6, zero-copy on decode and writing into caller buffers on encode.
//!
//! Three layers, each with a decode and an encode entry point:
//! - the VRRP message alone plus the IP metadata ([`IpMeta`]: source, destination, TTL / hop
//!   limit) a raw-socket reader gets from the kernel: [`decode_payload`] / [`encode_payload`];
//! - a whole IPv4 or IPv6 packet (no extension headers): [`decode_ip`] / [`encode_ip`];
//! - a whole Ethernet II frame (optionally one 802.1Q tag on receive): [`decode_frame`] /
//!   [`encode_frame`].
//!
//! Decoding never allocates and never panics; every failure is a [`DecodeError`] whose variant
//! names the drop reason counted in [`crate::Stats`]. Ethernet padding after the IP payload is
//! ignored (lengths come from the IP header).
#![deny(clippy::indexing_slicing)]

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use crate::checksum;

/// IP protocol number of VRRP (IANA; RFC 3768 section 5.2.4, RFC 9568 section 5.1.1.3).
pub const IPPROTO_VRRP: u8 = 112;
/// IPv4 multicast destination of adverts, 224.0.0.18 (RFC 3768 section 5.2.2).
pub const MCAST_V4: Ipv4Addr = Ipv4Addr::new(224, 0, 0, 18);
/// IPv6 multicast destination of adverts, ff02::12 (RFC 9568 section 5.1.2.2).
pub const MCAST_V6: Ipv6Addr = Ipv6Addr::new(0xff02, 0, 0, 0, 0, 0, 0, 0x12);
/// Ethernet destination for [`MCAST_V4`]: 01:00:5e:00:00:12 (RFC 1112 mapping).
pub const MCAST_MAC_V4: [u8; 6] = [0x01, 0x00, 0x5e, 0x00, 0x00, 0x12];
/// Ethernet destination for [`MCAST_V6`]: 33:33:00:00:00:12 (RFC 2464 mapping).
pub const MCAST_MAC_V6: [u8; 6] = [0x33, 0x33, 0x00, 0x00, 0x00, 0x12];
/// TTL / hop limit every advert is sent with and, when multicast, must arrive with (RFC 3768
/// section 5.2.3, RFC 9568 section 5.1.1.3).
pub const VRRP_TTL: u8 = 255;
/// Length in bytes of an Ethernet II header (no VLAN tag), as written by [`encode_frame`].
pub const ETH_HDR_LEN: usize = 14;
/// Length in bytes of the IPv4 header written by [`encode_ip`] (no options).
pub const IPV4_HDR_LEN: usize = 20;
/// Length in bytes of the IPv6 header written by [`encode_ip`].
pub const IPV6_HDR_LEN: usize = 40;
/// Fixed VRRP header length in bytes (both versions), before the address list.
pub const VRRP_HDR_LEN: usize = 8;
/// Length in bytes of the VRRPv2 authentication data trailer (RFC 3768 section 5.3.10).
pub const AUTH_DATA_LEN: usize = 8;
/// The only VRRP packet type, ADVERTISEMENT (RFC 3768 section 5.3.2, RFC 9568 section 5.2.2).
pub const TYPE_ADVERTISEMENT: u8 = 1;
/// Largest frame [`encode_frame`] can produce: Ethernet + IPv6 + v3 header + 255 IPv6
/// addresses = 14 + 40 + 8 + 4080 = 4142 bytes.
pub const MAX_FRAME_LEN: usize = ETH_HDR_LEN + IPV6_HDR_LEN + VRRP_HDR_LEN + 255 * 16;

const ETHERTYPE_IPV4: u16 = 0x0800;
const ETHERTYPE_IPV6: u16 = 0x86dd;
const ETHERTYPE_VLAN: u16 = 0x8100;

/// VRRP protocol version (high nibble of byte 0).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Version {
    /// VRRPv2, RFC 3768: IPv4 only, Adver Int in seconds, auth fields.
    V2,
    /// VRRPv3, RFC 5798 / RFC 9568: IPv4 and IPv6, Max Adver Int in centiseconds.
    V3,
}

impl Version {
    /// The version number carried on the wire (2 or 3).
    pub const fn number(self) -> u8 {
        match self {
            Version::V2 => 2,
            Version::V3 => 3,
        }
    }
}

/// Address family of a virtual router (VRRP runs one instance per family, RFC 9568 section 1).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Family {
    /// IPv4 (4-byte addresses).
    V4,
    /// IPv6 (16-byte addresses).
    V6,
}

impl Family {
    /// The family of `addr`.
    pub const fn of(addr: &IpAddr) -> Family {
        match addr {
            IpAddr::V4(_) => Family::V4,
            IpAddr::V6(_) => Family::V6,
        }
    }
    /// Bytes per address in the advert's address list: 4 or 16.
    pub const fn addr_len(self) -> usize {
        match self {
            Family::V4 => 4,
            Family::V6 => 16,
        }
    }
    /// The multicast destination of adverts in this family ([`MCAST_V4`] or [`MCAST_V6`]).
    pub const fn mcast_group(self) -> IpAddr {
        match self {
            Family::V4 => IpAddr::V4(MCAST_V4),
            Family::V6 => IpAddr::V6(MCAST_V6),
        }
    }
}

/// VRRPv2 Auth Type values (RFC 3768 section 5.3.6 defines 0; keepalived keeps the RFC 2338
/// values 1 = simple text password "PASS" and 2 = IP Authentication Header "AH").
pub mod auth_type {
    /// No authentication (RFC 3768).
    pub const NONE: u8 = 0;
    /// Simple text password, 8 bytes zero-padded (keepalived `auth_type PASS`, RFC 2338).
    pub const PASS: u8 = 1;
    /// IP Authentication Header (keepalived `auth_type AH`, RFC 2338); not supported here.
    pub const AH: u8 = 2;
}

/// Which bytes a VRRPv3 checksum covers (RFC 5798 section 5.2.8 vs RFC 9568 section 5.2.8).
///
/// VRRPv2 always uses [`ChecksumForm::MessageOnly`]; VRRPv3 over IPv6 always uses
/// [`ChecksumForm::PseudoHeader`]; VRRPv3 over IPv4 differs between the RFCs: RFC 5798 (and
/// keepalived 2.2.7, tcpdump, Wireshark, FRR) include the IPv4 pseudo-header, RFC 9568 does not.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub enum ChecksumForm {
    /// One's complement sum over the VRRP message plus the IP pseudo-header (RFC 5798 form,
    /// keepalived's form; the default on send).
    #[default]
    PseudoHeader,
    /// One's complement sum over the VRRP message only (RFC 3768 for v2, RFC 9568 for IPv4 v3).
    MessageOnly,
}

/// IP metadata of a received or transmitted advert: what a raw-socket reader gets from the
/// kernel (source and destination address, TTL / hop limit) alongside the VRRP payload.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct IpMeta {
    /// IP source address (the sender's primary address; IPv6: its link-local address).
    pub src: IpAddr,
    /// IP destination: [`MCAST_V4`] / [`MCAST_V6`], or a unicast peer address.
    pub dst: IpAddr,
    /// IPv4 TTL or IPv6 hop limit as received.
    pub ttl: u8,
}

/// Why a VRRP packet was rejected by the codec. Each variant maps to one drop counter of
/// [`crate::Stats`] (keepalived's statistics names in brackets).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, thiserror::Error)]
#[non_exhaustive]
pub enum DecodeError {
    /// Frame too short for an Ethernet header, or EtherType neither IPv4 nor IPv6.
    #[error("not an IPv4/IPv6 Ethernet frame")]
    NotIp,
    /// Malformed IP header: bad version, IHL, total/payload length, IPv4 header checksum,
    /// fragment, or source and destination of different families.
    #[error("malformed IP header")]
    IpHeader,
    /// IP protocol / next header is not 112 (VRRP).
    #[error("IP protocol is not VRRP (112)")]
    Protocol,
    /// TTL / hop limit is not 255 on a multicast advert (RFC 3768 section 7.1, RFC 9568
    /// section 7.1) (counter `ip_ttl_err`).
    #[error("TTL / hop limit is not 255")]
    Ttl,
    /// Version nibble is neither 2 nor 3, or v2 over IPv6.
    #[error("unknown VRRP version")]
    Version,
    /// Type is not 1 (ADVERTISEMENT) (counter `invalid_type_rcvd`).
    #[error("VRRP type is not ADVERTISEMENT")]
    Type,
    /// Message shorter than its Count field says (counter `packet_len_err`).
    #[error("VRRP message shorter than its address count")]
    Length,
    /// VRRP checksum does not verify in any accepted form.
    #[error("VRRP checksum mismatch")]
    Checksum,
}

/// Why [`encode_payload`] / [`encode_ip`] / [`encode_frame`] refused to write.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, thiserror::Error)]
#[non_exhaustive]
pub enum EncodeError {
    /// The output buffer is shorter than `needed` bytes.
    #[error("buffer too small: {needed} bytes needed")]
    BufferTooSmall {
        /// Bytes the encoding needs.
        needed: usize,
    },
    /// Source, destination and virtual addresses are not all of one family, or VRRPv2 with IPv6.
    #[error("address family mismatch")]
    Family,
    /// More than 255 virtual addresses.
    #[error("more than 255 addresses")]
    TooManyAddresses,
    /// v2 interval above 255 s or v3 interval above 4095 cs.
    #[error("advertisement interval out of range")]
    Interval,
    /// IPv6 adverts must be sent from a link-local address (RFC 9568 section 5.1.2.1).
    #[error("IPv6 source address must be link-local")]
    SourceNotLinkLocal,
}

/// A decoded advert borrowing the receive buffer (zero-copy view; every field as on the wire).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Advert<'a> {
    /// Protocol version.
    pub version: Version,
    /// Address family of the address list (v2: always IPv4; v3: that of the IP header).
    pub family: Family,
    /// Virtual Router Identifier (byte 1); 0 is not rejected by the codec.
    pub vrid: u8,
    /// Priority (byte 2): 0 = master releasing, 255 = address owner.
    pub priority: u8,
    /// Count IPvX Addr (byte 3).
    pub count: u8,
    /// v2 Auth Type (byte 4, see [`auth_type`]); 0 for v3.
    pub auth_type: u8,
    /// v3 reserved bits (high nibble of byte 4; sent 0, ignored on receive); 0 for v2.
    pub reserved: u8,
    /// v2: Adver Int in seconds (byte 5). v3: Max Adver Int in centiseconds (12 bits).
    pub adver_int: u16,
    /// Checksum field as received (network byte order decoded to host).
    pub checksum: u16,
    /// Which form the checksum verified in.
    pub checksum_form: ChecksumForm,
    /// v2 Authentication Data (8 bytes); all zero for v3.
    pub auth_data: [u8; AUTH_DATA_LEN],
    addrs: &'a [u8],
}

impl<'a> Advert<'a> {
    /// Number of addresses in the list (equals [`Advert::count`]).
    pub fn addr_count(&self) -> usize {
        self.addrs.len() / self.family.addr_len()
    }

    /// The `i`-th virtual address, or `None` past the end.
    pub fn address(&self, i: usize) -> Option<IpAddr> {
        let n = self.family.addr_len();
        let start = i.checked_mul(n)?;
        let bytes = self.addrs.get(start..start.checked_add(n)?)?;
        Some(addr_from_bytes(self.family, bytes))
    }

    /// Iterator over the virtual addresses in wire order.
    pub fn addresses(&self) -> impl Iterator<Item = IpAddr> + 'a {
        let family = self.family;
        self.addrs
            .chunks_exact(family.addr_len())
            .map(move |c| addr_from_bytes(family, c))
    }

    /// The encode-side representation of this advert, with `addrs` (normally
    /// `self.addresses().collect()`) as its address list. Encoding it with
    /// [`Advert::checksum_form`] reproduces the received message when the reserved bits are 0.
    pub fn to_repr<'b>(&self, addrs: &'b [IpAddr]) -> AdvertRepr<'b> {
        AdvertRepr {
            version: self.version,
            vrid: self.vrid,
            priority: self.priority,
            adver_int: self.adver_int,
            auth_type: self.auth_type,
            auth_data: self.auth_data,
            addrs,
        }
    }

    /// The advert's interval in centiseconds (v2 seconds are scaled by 100).
    pub fn adver_int_cs(&self) -> u32 {
        match self.version {
            Version::V2 => u32::from(self.adver_int) * 100,
            Version::V3 => u32::from(self.adver_int),
        }
    }
}

fn addr_from_bytes(family: Family, b: &[u8]) -> IpAddr {
    match family {
        Family::V4 => {
            let mut a = [0u8; 4];
            a.copy_from_slice(b.get(..4).unwrap_or(&[0; 4]));
            IpAddr::V4(Ipv4Addr::from(a))
        }
        Family::V6 => {
            let mut a = [0u8; 16];
            a.copy_from_slice(b.get(..16).unwrap_or(&[0; 16]));
            IpAddr::V6(Ipv6Addr::from(a))
        }
    }
}

/// What to put in an advert (the encode-side representation).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AdvertRepr<'a> {
    /// Protocol version.
    pub version: Version,
    /// Virtual Router Identifier, 1..=255.
    pub vrid: u8,
    /// Priority to advertise (0 when releasing mastership).
    pub priority: u8,
    /// v2: seconds (1..=255); v3: centiseconds (1..=4095).
    pub adver_int: u16,
    /// v2 Auth Type ([`auth_type`]); ignored for v3.
    pub auth_type: u8,
    /// v2 Authentication Data (PASS: the password zero-padded to 8 bytes); ignored for v3.
    pub auth_data: [u8; AUTH_DATA_LEN],
    /// Virtual addresses, all of the IP header's family, at most 255.
    pub addrs: &'a [IpAddr],
}

impl AdvertRepr<'_> {
    /// Length in bytes of the VRRP message for `family`: v2 `8 + 4n + 8`, v3 `8 + 4n` or
    /// `8 + 16n` (RFC 3768 section 5.1, RFC 9568 section 5.1).
    pub fn payload_len(&self, family: Family) -> usize {
        VRRP_HDR_LEN
            + self.addrs.len() * family.addr_len()
            + if self.version == Version::V2 {
                AUTH_DATA_LEN
            } else {
                0
            }
    }
}

// ---------------------------------------------------------------------------------------------
// Decode
// ---------------------------------------------------------------------------------------------

fn be16(b: &[u8], at: usize) -> Option<u16> {
    let s = b.get(at..at.checked_add(2)?)?;
    Some(u16::from_be_bytes([*s.first()?, *s.get(1)?]))
}

fn byte(b: &[u8], at: usize) -> Option<u8> {
    b.get(at).copied()
}

/// Decode a VRRP message given the IP metadata the caller read with it (raw socket path).
///
/// `payload` is the VRRP message starting at its version/type byte; bytes after the length
/// implied by Count are ignored. Checks, in RFC 9568 section 7.1 order: TTL / hop limit 255 when
/// `meta.dst` is multicast (unicast-peer adverts may be routed, so keepalived skips the check),
/// version, type, length, checksum (v2: message only; v3 IPv6: pseudo-header; v3 IPv4: either
/// form is accepted, the pseudo-header form tried first). VRID, auth, interval and address-list
/// checks need configuration and are done by [`crate::VrrpInstance`].
///
/// # Errors
/// [`DecodeError::IpHeader`] when `meta.src` and `meta.dst` differ in family, otherwise
/// [`DecodeError::Ttl`], [`DecodeError::Version`], [`DecodeError::Type`],
/// [`DecodeError::Length`], [`DecodeError::Checksum`].
pub fn decode_payload<'a>(payload: &'a [u8], meta: &IpMeta) -> Result<Advert<'a>, DecodeError> {
    let family = Family::of(&meta.src);
    if family != Family::of(&meta.dst) {
        return Err(DecodeError::IpHeader);
    }
    if meta.dst.is_multicast() && meta.ttl != VRRP_TTL {
        return Err(DecodeError::Ttl);
    }
    let b0 = byte(payload, 0).ok_or(DecodeError::Length)?;
    let version = match b0 >> 4 {
        2 if family == Family::V4 => Version::V2,
        3 => Version::V3,
        _ => return Err(DecodeError::Version),
    };
    if b0 & 0x0f != TYPE_ADVERTISEMENT {
        return Err(DecodeError::Type);
    }
    if payload.len() < VRRP_HDR_LEN {
        return Err(DecodeError::Length);
    }
    let count = byte(payload, 3).ok_or(DecodeError::Length)?;
    let addrs_len = usize::from(count) * family.addr_len();
    let trailer = if version == Version::V2 {
        AUTH_DATA_LEN
    } else {
        0
    };
    let msg_len = VRRP_HDR_LEN + addrs_len + trailer;
    let msg = payload.get(..msg_len).ok_or(DecodeError::Length)?;

    let checksum_form = match version {
        Version::V2 => {
            if checksum::fold(checksum::sum(0, msg)) != 0xffff {
                return Err(DecodeError::Checksum);
            }
            ChecksumForm::MessageOnly
        }
        Version::V3 => {
            let ph = checksum::pseudo_header_sum(meta.src, meta.dst, IPPROTO_VRRP, msg_len);
            let body = checksum::sum(0, msg);
            if checksum::fold(ph + body) == 0xffff {
                ChecksumForm::PseudoHeader
            } else if family == Family::V4 && checksum::fold(body) == 0xffff {
                ChecksumForm::MessageOnly
            } else {
                return Err(DecodeError::Checksum);
            }
        }
    };

    let vrid = byte(msg, 1).ok_or(DecodeError::Length)?;
    let priority = byte(msg, 2).ok_or(DecodeError::Length)?;
    let b4 = byte(msg, 4).ok_or(DecodeError::Length)?;
    let b5 = byte(msg, 5).ok_or(DecodeError::Length)?;
    let checksum = be16(msg, 6).ok_or(DecodeError::Length)?;
    let addrs = msg
        .get(VRRP_HDR_LEN..VRRP_HDR_LEN + addrs_len)
        .ok_or(DecodeError::Length)?;
    let (auth_type, reserved, adver_int, auth_data) = match version {
        Version::V2 => {
            let mut auth = [0u8; AUTH_DATA_LEN];
            let tail = msg
                .get(VRRP_HDR_LEN + addrs_len..msg_len)
                .ok_or(DecodeError::Length)?;
            auth.copy_from_slice(tail);
            (b4, 0, u16::from(b5), auth)
        }
        Version::V3 => (
            0,
            b4 >> 4,
            u16::from_be_bytes([b4 & 0x0f, b5]),
            [0u8; AUTH_DATA_LEN],
        ),
    };
    Ok(Advert {
        version,
        family,
        vrid,
        priority,
        count,
        auth_type,
        reserved,
        adver_int,
        checksum,
        checksum_form,
        auth_data,
        addrs,
    })
}

/// Decode a whole IPv4 or IPv6 packet carrying VRRP (no IPv6 extension headers, no IPv4
/// fragments). The IP header's length field bounds the payload, so trailing bytes (Ethernet
/// padding) are ignored. IPv4 header checksum is verified.
///
/// Returns the metadata taken from the header and the decoded advert.
///
/// # Errors
/// [`DecodeError::IpHeader`] for a malformed header, [`DecodeError::Protocol`] when the
/// protocol is not 112, then every error of [`decode_payload`].
pub fn decode_ip(packet: &[u8]) -> Result<(IpMeta, Advert<'_>), DecodeError> {
    let (meta, payload) = split_ip(packet)?;
    let advert = decode_payload(payload, &meta)?;
    Ok((meta, advert))
}

/// Split an IP packet into metadata and VRRP payload after validating the IP header.
pub(crate) fn split_ip(packet: &[u8]) -> Result<(IpMeta, &[u8]), DecodeError> {
    const E: DecodeError = DecodeError::IpHeader;
    let b0 = byte(packet, 0).ok_or(E)?;
    // Per version: (protocol / next header offset, TTL offset, src, dst, payload range).
    let (proto_at, ttl_at, src, dst, range) = match b0 >> 4 {
        4 => {
            let ihl = usize::from(b0 & 0x0f) * 4;
            let hdr = packet.get(..ihl).ok_or(E)?;
            let total = usize::from(be16(packet, 2).ok_or(E)?);
            // MF set or non-zero offset: VRRP adverts are never fragmented.
            let fragment = be16(packet, 6).ok_or(E)? & 0x3fff != 0;
            if ihl < IPV4_HDR_LEN
                || total < ihl
                || total > packet.len()
                || fragment
                || checksum::fold(checksum::sum(0, hdr)) != 0xffff
            {
                return Err(E);
            }
            let src = IpAddr::V4(v4_at(packet, 12).ok_or(E)?);
            let dst = IpAddr::V4(v4_at(packet, 16).ok_or(E)?);
            (9, 8, src, dst, ihl..total)
        }
        6 => {
            let end = IPV6_HDR_LEN + usize::from(be16(packet, 4).ok_or(E)?);
            if end > packet.len() {
                return Err(E);
            }
            let src = IpAddr::V6(v6_at(packet, 8).ok_or(E)?);
            let dst = IpAddr::V6(v6_at(packet, 24).ok_or(E)?);
            (6, 7, src, dst, IPV6_HDR_LEN..end)
        }
        _ => return Err(E),
    };
    if byte(packet, proto_at) != Some(IPPROTO_VRRP) {
        return Err(DecodeError::Protocol);
    }
    let ttl = byte(packet, ttl_at).ok_or(E)?;
    let payload = packet.get(range).ok_or(E)?;
    Ok((IpMeta { src, dst, ttl }, payload))
}

fn v4_at(b: &[u8], at: usize) -> Option<Ipv4Addr> {
    let s: [u8; 4] = b.get(at..at + 4)?.try_into().ok()?;
    Some(Ipv4Addr::from(s))
}

fn v6_at(b: &[u8], at: usize) -> Option<Ipv6Addr> {
    let s: [u8; 16] = b.get(at..at + 16)?.try_into().ok()?;
    Some(Ipv6Addr::from(s))
}

/// Decode an Ethernet II frame (one optional 802.1Q tag) carrying a VRRP advert. Frame padding
/// after the IP packet is ignored.
///
/// # Errors
/// [`DecodeError::NotIp`] when the frame is too short or the EtherType is not IPv4 / IPv6, then
/// every error of [`decode_ip`].
pub fn decode_frame(frame: &[u8]) -> Result<(IpMeta, Advert<'_>), DecodeError> {
    decode_ip(frame_ip_payload(frame)?)
}

/// The IP packet inside an Ethernet frame (after one optional VLAN tag).
pub(crate) fn frame_ip_payload(frame: &[u8]) -> Result<&[u8], DecodeError> {
    let mut off = 12;
    let mut et = be16(frame, off).ok_or(DecodeError::NotIp)?;
    if et == ETHERTYPE_VLAN {
        off += 4;
        et = be16(frame, off).ok_or(DecodeError::NotIp)?;
    }
    if et != ETHERTYPE_IPV4 && et != ETHERTYPE_IPV6 {
        return Err(DecodeError::NotIp);
    }
    frame.get(off + 2..).ok_or(DecodeError::NotIp)
}

// ---------------------------------------------------------------------------------------------
// Encode
// ---------------------------------------------------------------------------------------------

fn put(buf: &mut [u8], at: usize, bytes: &[u8]) {
    if let Some(dst) = buf.get_mut(at..at + bytes.len()) {
        dst.copy_from_slice(bytes);
    }
}

fn family_of_pair(src: IpAddr, dst: IpAddr) -> Result<Family, EncodeError> {
    let f = Family::of(&src);
    if f != Family::of(&dst) {
        return Err(EncodeError::Family);
    }
    Ok(f)
}

/// Encode the VRRP message into `buf[..n]` and return `n`.
///
/// `src` / `dst` are the IP addresses the message will travel with; they feed the pseudo-header
/// (keepalived uses the packet's real destination: the multicast group or the unicast peer).
/// `form` selects the VRRPv3-over-IPv4 checksum form; it is ignored for v2 (message only) and
/// for IPv6 (pseudo-header always). Reserved bits are sent as 0.
///
/// # Errors
/// [`EncodeError::Family`] (mixed families, v2 with IPv6), [`EncodeError::TooManyAddresses`],
/// [`EncodeError::Interval`], [`EncodeError::BufferTooSmall`].
pub fn encode_payload(
    repr: &AdvertRepr<'_>,
    src: IpAddr,
    dst: IpAddr,
    form: ChecksumForm,
    buf: &mut [u8],
) -> Result<usize, EncodeError> {
    let family = family_of_pair(src, dst)?;
    if repr.version == Version::V2 && family == Family::V6 {
        return Err(EncodeError::Family);
    }
    let count = u8::try_from(repr.addrs.len()).map_err(|_| EncodeError::TooManyAddresses)?;
    let max_int = match repr.version {
        Version::V2 => 0xff,
        Version::V3 => 0x0fff,
    };
    if repr.adver_int > max_int {
        return Err(EncodeError::Interval);
    }
    let len = repr.payload_len(family);
    if buf.len() < len {
        return Err(EncodeError::BufferTooSmall { needed: len });
    }
    let [hi, lo] = repr.adver_int.to_be_bytes();
    let (b4, b5) = match repr.version {
        Version::V2 => (repr.auth_type, lo),
        Version::V3 => (hi & 0x0f, lo),
    };
    put(
        buf,
        0,
        &[
            (repr.version.number() << 4) | TYPE_ADVERTISEMENT,
            repr.vrid,
            repr.priority,
            count,
            b4,
            b5,
            0,
            0,
        ],
    );
    let mut off = VRRP_HDR_LEN;
    for a in repr.addrs {
        match (family, a) {
            (Family::V4, IpAddr::V4(v4)) => put(buf, off, &v4.octets()),
            (Family::V6, IpAddr::V6(v6)) => put(buf, off, &v6.octets()),
            _ => return Err(EncodeError::Family),
        }
        off += family.addr_len();
    }
    if repr.version == Version::V2 {
        put(buf, off, &repr.auth_data);
    }
    let msg = buf
        .get(..len)
        .ok_or(EncodeError::BufferTooSmall { needed: len })?;
    let use_ph =
        repr.version == Version::V3 && (family == Family::V6 || form == ChecksumForm::PseudoHeader);
    let mut s = checksum::sum(0, msg);
    if use_ph {
        s += checksum::pseudo_header_sum(src, dst, IPPROTO_VRRP, len);
    }
    let ck = !checksum::fold(s);
    put(buf, 6, &ck.to_be_bytes());
    Ok(len)
}

/// Encode a whole IP packet (header + VRRP message) into `buf[..n]` and return `n`.
///
/// IPv4: 20-byte header, TOS 0xc0 (internetwork control, as keepalived), ID 0, no fragment
/// flags, TTL 255, protocol 112, header checksum filled. IPv6: traffic class 0xc0, flow label
/// 0, next header 112, hop limit 255; `src` must be link-local (RFC 9568 section 5.1.2.1).
///
/// # Errors
/// [`EncodeError::SourceNotLinkLocal`] for an IPv6 non-link-local source, then every error of
/// [`encode_payload`].
pub fn encode_ip(
    repr: &AdvertRepr<'_>,
    src: IpAddr,
    dst: IpAddr,
    form: ChecksumForm,
    buf: &mut [u8],
) -> Result<usize, EncodeError> {
    let family = family_of_pair(src, dst)?;
    let hdr_len = match family {
        Family::V4 => IPV4_HDR_LEN,
        Family::V6 => IPV6_HDR_LEN,
    };
    let total = hdr_len + repr.payload_len(family);
    if buf.len() < total {
        return Err(EncodeError::BufferTooSmall { needed: total });
    }
    let (hdr, rest) = buf.split_at_mut(hdr_len);
    let plen = encode_payload(repr, src, dst, form, rest)?;
    match (src, dst) {
        (IpAddr::V4(s), IpAddr::V4(d)) => {
            let tl = u16::try_from(hdr_len + plen).map_err(|_| EncodeError::TooManyAddresses)?;
            let [t0, t1] = tl.to_be_bytes();
            let [s0, s1, s2, s3] = s.octets();
            let [d0, d1, d2, d3] = d.octets();
            let mut h = [
                0x45,
                0xc0,
                t0,
                t1,
                0,
                0,
                0,
                0,
                VRRP_TTL,
                IPPROTO_VRRP,
                0,
                0,
                s0,
                s1,
                s2,
                s3,
                d0,
                d1,
                d2,
                d3,
            ];
            let ck = !checksum::fold(checksum::sum(0, &h));
            let [c0, c1] = ck.to_be_bytes();
            h[10] = c0;
            h[11] = c1;
            put(hdr, 0, &h);
        }
        (IpAddr::V6(s), IpAddr::V6(d)) => {
            if !is_link_local_v6(&s) {
                return Err(EncodeError::SourceNotLinkLocal);
            }
            let pl = u16::try_from(plen).map_err(|_| EncodeError::TooManyAddresses)?;
            let [p0, p1] = pl.to_be_bytes();
            // Version 6, traffic class 0xc0, flow label 0.
            put(hdr, 0, &[0x6c, 0x00, 0, 0, p0, p1, IPPROTO_VRRP, VRRP_TTL]);
            put(hdr, 8, &s.octets());
            put(hdr, 24, &d.octets());
        }
        _ => return Err(EncodeError::Family),
    }
    Ok(total)
}

/// Encode a whole Ethernet II frame (no VLAN tag) into `buf[..n]` and return `n`.
///
/// `dst_mac` is [`multicast_mac`] of the destination for multicast adverts, or the unicast
/// peer's MAC (resolved by the caller). `src_mac` is the interface MAC (keepalived without
/// `use_vmac`) or [`virtual_mac`]. No padding is added (the NIC pads to 60 bytes).
///
/// # Errors
/// Every error of [`encode_ip`].
#[allow(clippy::too_many_arguments)]
pub fn encode_frame(
    repr: &AdvertRepr<'_>,
    src_mac: [u8; 6],
    dst_mac: [u8; 6],
    src: IpAddr,
    dst: IpAddr,
    form: ChecksumForm,
    buf: &mut [u8],
) -> Result<usize, EncodeError> {
    let family = family_of_pair(src, dst)?;
    let hdr = match family {
        Family::V4 => IPV4_HDR_LEN,
        Family::V6 => IPV6_HDR_LEN,
    };
    let total = ETH_HDR_LEN + hdr + repr.payload_len(family);
    if buf.len() < total {
        return Err(EncodeError::BufferTooSmall { needed: total });
    }
    let (eth, rest) = buf.split_at_mut(ETH_HDR_LEN);
    let n = encode_ip(repr, src, dst, form, rest)?;
    write_eth(eth, dst_mac, src_mac, family);
    Ok(ETH_HDR_LEN + n)
}

fn write_eth(eth: &mut [u8], dst_mac: [u8; 6], src_mac: [u8; 6], family: Family) {
    put(eth, 0, &dst_mac);
    put(eth, 6, &src_mac);
    let et = match family {
        Family::V4 => ETHERTYPE_IPV4,
        Family::V6 => ETHERTYPE_IPV6,
    };
    put(eth, 12, &et.to_be_bytes());
}

/// Ethernet multicast MAC for an IP multicast group (RFC 1112 section 6.4 / RFC 2464
/// section 7), or `None` for a unicast address.
pub fn multicast_mac(dst: IpAddr) -> Option<[u8; 6]> {
    match dst {
        IpAddr::V4(a) if a.is_multicast() => {
            let o = a.octets();
            Some([0x01, 0x00, 0x5e, o[1] & 0x7f, o[2], o[3]])
        }
        IpAddr::V6(a) if a.is_multicast() => {
            let o = a.octets();
            Some([0x33, 0x33, o[12], o[13], o[14], o[15]])
        }
        _ => None,
    }
}

/// Virtual router MAC address: 00-00-5E-00-01-{VRID} for IPv4, 00-00-5E-00-02-{VRID} for IPv6
/// (RFC 9568 section 7.3).
pub const fn virtual_mac(family: Family, vrid: u8) -> [u8; 6] {
    match family {
        Family::V4 => [0x00, 0x00, 0x5e, 0x00, 0x01, vrid],
        Family::V6 => [0x00, 0x00, 0x5e, 0x00, 0x02, vrid],
    }
}

/// True for fe80::/10.
pub const fn is_link_local_v6(a: &Ipv6Addr) -> bool {
    a.segments()[0] & 0xffc0 == 0xfe80
}

/// Length of the gratuitous ARP frame written by [`encode_gratuitous_arp`]: 42 bytes.
pub const GARP_FRAME_LEN: usize = 42;
/// Length of the unsolicited Neighbor Advertisement frame written by
/// [`encode_unsolicited_na`]: 14 + 40 + 24 + 8 = 86 bytes.
pub const NA_FRAME_LEN: usize = 86;

/// Write keepalived's gratuitous ARP for `vip` into `buf[..42]`: an ARP REQUEST broadcast to
/// ff:ff:ff:ff:ff:ff, sender MAC = `src_mac`, sender IP = target IP = `vip`, target MAC
/// ff:ff:ff:ff:ff:ff (keepalived/vrrp/vrrp_arp.c `send_gratuitous_arp`).
///
/// # Errors
/// [`EncodeError::BufferTooSmall`] when `buf` is shorter than [`GARP_FRAME_LEN`].
pub fn encode_gratuitous_arp(
    src_mac: [u8; 6],
    vip: Ipv4Addr,
    buf: &mut [u8],
) -> Result<usize, EncodeError> {
    let f = buf
        .get_mut(..GARP_FRAME_LEN)
        .ok_or(EncodeError::BufferTooSmall {
            needed: GARP_FRAME_LEN,
        })?;
    let bcast = [0xffu8; 6];
    put(f, 0, &bcast);
    put(f, 6, &src_mac);
    put(f, 12, &[0x08, 0x06]);
    // htype 1 (Ethernet), ptype IPv4, hlen 6, plen 4, op 1 (request).
    put(f, 14, &[0x00, 0x01, 0x08, 0x00, 6, 4, 0x00, 0x01]);
    put(f, 22, &src_mac);
    put(f, 28, &vip.octets());
    put(f, 32, &bcast);
    put(f, 38, &vip.octets());
    Ok(GARP_FRAME_LEN)
}

/// Write an unsolicited Neighbor Advertisement for `vip` into `buf[..86]` (RFC 4861 section
/// 7.2.6; RFC 9568 section 6.4.1 asks a new Active Router for one per IPv6 VIP) in the form
/// keepalived 2.2.7 sends (keepalived/vrrp/vrrp_ndisc.c, checked against a capture): Ethernet
/// to 33:33:00:00:00:01 from `src_mac`; IPv6 from `vip` itself to ff02::1, traffic class 0,
/// hop limit 255; ICMPv6 type 136 with S=0, O=1 and R=`router` (RFC 9568 asks for R=1;
/// keepalived sets it only when the interface forwards IPv6); target `vip`; Target Link-Layer
/// Address option = `src_mac`; ICMPv6 checksum filled.
///
/// # Errors
/// [`EncodeError::BufferTooSmall`] when `buf` is shorter than [`NA_FRAME_LEN`].
pub fn encode_unsolicited_na(
    src_mac: [u8; 6],
    vip: Ipv6Addr,
    router: bool,
    buf: &mut [u8],
) -> Result<usize, EncodeError> {
    let f = buf
        .get_mut(..NA_FRAME_LEN)
        .ok_or(EncodeError::BufferTooSmall {
            needed: NA_FRAME_LEN,
        })?;
    let all_nodes = Ipv6Addr::new(0xff02, 0, 0, 0, 0, 0, 0, 1);
    write_eth(f, [0x33, 0x33, 0, 0, 0, 1], src_mac, Family::V6);
    let icmp_len: u16 = 32;
    let [l0, l1] = icmp_len.to_be_bytes();
    put(f, 14, &[0x60, 0, 0, 0, l0, l1, 58, 255]);
    put(f, 22, &vip.octets());
    put(f, 38, &all_nodes.octets());
    // ICMPv6 type 136, code 0, checksum, flags (R = 0x80, S = 0x40, O = 0x20), reserved.
    let flags = if router { 0xa0 } else { 0x20 };
    put(f, 54, &[136, 0, 0, 0, flags, 0, 0, 0]);
    put(f, 62, &vip.octets());
    put(f, 78, &[2, 1]);
    put(f, 80, &src_mac);
    let icmp = f.get(54..NA_FRAME_LEN).unwrap_or(&[]);
    let s = checksum::sum(0, icmp)
        + checksum::pseudo_header_sum(
            IpAddr::V6(vip),
            IpAddr::V6(all_nodes),
            58,
            usize::from(icmp_len),
        );
    put(f, 56, &(!checksum::fold(s)).to_be_bytes());
    Ok(NA_FRAME_LEN)
}
