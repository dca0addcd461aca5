//! ARP over Ethernet for IPv4 (RFC 826), as whole Ethernet II frames.
//!
//! Layout after the 14-byte Ethernet header (28 bytes, network byte order): hardware type
//! (2), protocol type (2), hardware length (1) = 6, protocol length (1) = 4, operation (2),
//! sender MAC (6), sender IPv4 (4), target MAC (6), target IPv4 (4).
//!
//! Acceptance follows the kernel (net/ipv4/arp.c `arp_rcv` and `arp_process` for an Ethernet
//! device): hardware type 1 (Ethernet) or 6 (IEEE 802), protocol type 0x0800, lengths 6 and 4,
//! operation request (1) or reply (2). Trailing bytes (driver padding to 60) are ignored.

use core::fmt;
use core::net::Ipv4Addr;

use super::{BufferTooSmall, ETH_HDR_LEN, ETHERTYPE_ARP, ETHERTYPE_IPV4, array, be16};
use crate::mac::MacAddr;

/// Length of the ARP body for Ethernet/IPv4, bytes.
pub const ARP_LEN: usize = 28;
/// Length of an unpadded ARP frame (Ethernet header + ARP body), bytes.
pub const ARP_FRAME_LEN: usize = ETH_HDR_LEN + ARP_LEN;
/// ARP hardware type of Ethernet (`ARPHRD_ETHER`).
pub const HW_ETHERNET: u16 = 1;
/// ARP hardware type of IEEE 802 networks (`ARPHRD_IEEE802`); the kernel accepts it on
/// Ethernet devices as well (RFC 2625).
pub const HW_IEEE802: u16 = 6;

/// ARP operation code.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ArpOp {
    /// `ARPOP_REQUEST` (1): "who-has target IP, tell sender IP".
    Request,
    /// `ARPOP_REPLY` (2): "sender IP is-at sender MAC".
    Reply,
}

impl ArpOp {
    /// The operation code on the wire.
    pub const fn code(self) -> u16 {
        match self {
            ArpOp::Request => 1,
            ArpOp::Reply => 2,
        }
    }
}

/// Why a frame is not an ARP frame the kernel would process.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ArpParseError {
    /// Shorter than the Ethernet header plus the 28-byte ARP body.
    #[error("ARP frame truncated: {len} bytes, need {need}")]
    Truncated {
        /// Bytes given.
        len: usize,
        /// Bytes needed.
        need: usize,
    },
    /// The EtherType is not 0x0806.
    #[error("EtherType {0:#06x} is not ARP (0x0806)")]
    NotArp(u16),
    /// Hardware type other than Ethernet (1) or IEEE 802 (6).
    #[error("ARP hardware type {0} is neither Ethernet (1) nor IEEE 802 (6)")]
    HardwareType(u16),
    /// Protocol type other than IPv4 (0x0800).
    #[error("ARP protocol type {0:#06x} is not IPv4 (0x0800)")]
    ProtocolType(u16),
    /// Hardware or protocol address length other than 6 and 4.
    #[error("ARP address lengths {hln}/{pln} are not 6/4")]
    AddressLength {
        /// Hardware address length field.
        hln: u8,
        /// Protocol address length field.
        pln: u8,
    },
    /// Operation other than request (1) or reply (2); the kernel drops these.
    #[error("ARP operation {0} is neither request (1) nor reply (2)")]
    Operation(u16),
}

/// One ARP-over-Ethernet frame, parsed or to be emitted (a `Repr` in smoltcp's terms).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ArpFrame {
    /// Ethernet destination MAC.
    pub eth_dst: MacAddr,
    /// Ethernet source MAC.
    pub eth_src: MacAddr,
    /// ARP hardware type: [`HW_ETHERNET`] or [`HW_IEEE802`].
    pub hw_type: u16,
    /// Request or reply.
    pub op: ArpOp,
    /// Sender hardware address (`ar_sha`).
    pub sender_mac: MacAddr,
    /// Sender protocol address (`ar_sip`); 0.0.0.0 in a duplicate-address probe (RFC 5227).
    pub sender_ip: Ipv4Addr,
    /// Target hardware address (`ar_tha`).
    pub target_mac: MacAddr,
    /// Target protocol address (`ar_tip`).
    pub target_ip: Ipv4Addr,
}

/// The two gratuitous-ARP layouts seen in the wild; both are broadcast requests with sender
/// IP = target IP = the announced address and sender MAC = the announcing device's MAC.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum GarpForm {
    /// The kernel's (`arp_notify`, `arping -U`; net/ipv4/devinet.c
    /// `inetdev_send_gratuitous_arp`): target MAC 00:00:00:00:00:00.
    Kernel,
    /// keepalived's (keepalived/vrrp/vrrp_arp.c `send_gratuitous_arp_immediate`): target MAC
    /// ff:ff:ff:ff:ff:ff.
    Keepalived,
}

impl ArpFrame {
    /// Parses an Ethernet II frame holding ARP. Returns a typed error for anything the kernel
    /// would not process on an Ethernet device; never panics.
    pub fn parse(frame: &[u8]) -> Result<ArpFrame, ArpParseError> {
        let truncated = ArpParseError::Truncated {
            len: frame.len(),
            need: ARP_FRAME_LEN,
        };
        let ethertype = be16(frame, 12).ok_or(truncated)?;
        if ethertype != ETHERTYPE_ARP {
            return Err(ArpParseError::NotArp(ethertype));
        }
        let body: [u8; ARP_LEN] = array(frame, ETH_HDR_LEN).ok_or(truncated)?;
        let eth_dst = MacAddr(array(frame, 0).ok_or(truncated)?);
        let eth_src = MacAddr(array(frame, 6).ok_or(truncated)?);
        let [h0, h1, p0, p1, hln, pln, o0, o1, rest @ ..] = body;
        let hw_type = u16::from_be_bytes([h0, h1]);
        if hw_type != HW_ETHERNET && hw_type != HW_IEEE802 {
            return Err(ArpParseError::HardwareType(hw_type));
        }
        let proto = u16::from_be_bytes([p0, p1]);
        if proto != ETHERTYPE_IPV4 {
            return Err(ArpParseError::ProtocolType(proto));
        }
        if hln != 6 || pln != 4 {
            return Err(ArpParseError::AddressLength { hln, pln });
        }
        let op = match u16::from_be_bytes([o0, o1]) {
            1 => ArpOp::Request,
            2 => ArpOp::Reply,
            other => return Err(ArpParseError::Operation(other)),
        };
        let [
            s0,
            s1,
            s2,
            s3,
            s4,
            s5,
            i0,
            i1,
            i2,
            i3,
            t0,
            t1,
            t2,
            t3,
            t4,
            t5,
            j0,
            j1,
            j2,
            j3,
        ] = rest;
        Ok(ArpFrame {
            eth_dst,
            eth_src,
            hw_type,
            op,
            sender_mac: MacAddr([s0, s1, s2, s3, s4, s5]),
            sender_ip: Ipv4Addr::new(i0, i1, i2, i3),
            target_mac: MacAddr([t0, t1, t2, t3, t4, t5]),
            target_ip: Ipv4Addr::new(j0, j1, j2, j3),
        })
    }

    /// Writes the 42-byte frame into `buf[..42]` and returns 42. Does not pad; see
    /// [`super::pad_to_min`]. Errors with [`BufferTooSmall`] when `buf` is shorter than 42.
    pub fn emit(&self, buf: &mut [u8]) -> Result<usize, BufferTooSmall> {
        let err = BufferTooSmall {
            len: buf.len(),
            need: ARP_FRAME_LEN,
        };
        let out: &mut [u8; ARP_FRAME_LEN] = buf
            .get_mut(..ARP_FRAME_LEN)
            .and_then(|s| s.try_into().ok())
            .ok_or(err)?;
        *out = self.to_bytes();
        Ok(ARP_FRAME_LEN)
    }

    /// The 42-byte frame as an array (no allocation).
    pub fn to_bytes(&self) -> [u8; ARP_FRAME_LEN] {
        // Fixed offsets into a fixed-size array: every range below is in bounds.
        let mut o = [0u8; ARP_FRAME_LEN];
        o[0..6].copy_from_slice(&self.eth_dst.0);
        o[6..12].copy_from_slice(&self.eth_src.0);
        o[12..14].copy_from_slice(&ETHERTYPE_ARP.to_be_bytes());
        o[14..16].copy_from_slice(&self.hw_type.to_be_bytes());
        o[16..18].copy_from_slice(&ETHERTYPE_IPV4.to_be_bytes());
        o[18] = 6;
        o[19] = 4;
        o[20..22].copy_from_slice(&self.op.code().to_be_bytes());
        o[22..28].copy_from_slice(&self.sender_mac.0);
        o[28..32].copy_from_slice(&self.sender_ip.octets());
        o[32..38].copy_from_slice(&self.target_mac.0);
        o[38..42].copy_from_slice(&self.target_ip.octets());
        o
    }

    /// An ARP request as `arp_solicit` sends it: "who-has `target_ip` tell `sender_ip`" from
    /// `src_mac`, target MAC zero; Ethernet broadcast when `unicast_to` is `None`, else
    /// unicast to that MAC (the kernel's unicast re-probe of a STALE/PROBE entry).
    /// `sender_ip` may be 0.0.0.0 when the host has no usable source address.
    pub fn request(
        src_mac: MacAddr,
        sender_ip: Ipv4Addr,
        target_ip: Ipv4Addr,
        unicast_to: Option<MacAddr>,
    ) -> ArpFrame {
        ArpFrame {
            eth_dst: unicast_to.unwrap_or(MacAddr::BROADCAST),
            eth_src: src_mac,
            hw_type: HW_ETHERNET,
            op: ArpOp::Request,
            sender_mac: src_mac,
            sender_ip,
            target_mac: MacAddr::ZERO,
            target_ip,
        }
    }

    /// The reply the kernel sends to `self` (a request) from a device with MAC `dev_mac`
    /// (net/ipv4/arp.c `arp_process`: `arp_send(ARPOP_REPLY, ETH_P_ARP, sip, dev, tip, sha,
    /// dev->dev_addr, sha)`): Ethernet unicast to the requester's sender MAC, sender MAC =
    /// `dev_mac`, sender IP = the requested target IP, target = the requester's MAC and IP.
    pub fn reply_to(&self, dev_mac: MacAddr) -> ArpFrame {
        ArpFrame {
            eth_dst: self.sender_mac,
            eth_src: dev_mac,
            hw_type: HW_ETHERNET,
            op: ArpOp::Reply,
            sender_mac: dev_mac,
            sender_ip: self.target_ip,
            target_mac: self.sender_mac,
            target_ip: self.sender_ip,
        }
    }

    /// A gratuitous ARP announcing `ip` at `mac` in the given [`GarpForm`].
    pub fn gratuitous(mac: MacAddr, ip: Ipv4Addr, form: GarpForm) -> ArpFrame {
        ArpFrame {
            eth_dst: MacAddr::BROADCAST,
            eth_src: mac,
            hw_type: HW_ETHERNET,
            op: ArpOp::Request,
            sender_mac: mac,
            sender_ip: ip,
            target_mac: match form {
                GarpForm::Kernel => MacAddr::ZERO,
                GarpForm::Keepalived => MacAddr::BROADCAST,
            },
            target_ip: ip,
        }
    }

    /// The wire part of the kernel's gratuitous test (net/ipv4/arp.c `arp_is_garp`): sender IP
    /// == target IP, and for a reply also target MAC == sender MAC. The kernel further requires
    /// the sender IP to be a unicast address for this host ([`crate::Host::addr_type`]).
    pub fn is_gratuitous(&self) -> bool {
        self.sender_ip == self.target_ip
            && (self.op == ArpOp::Request || self.target_mac == self.sender_mac)
    }
}

impl fmt::Display for ArpFrame {
    /// tcpdump's one-line form: `Request who-has 1.1.1.2 tell 192.168.56.101` /
    /// `Reply 1.1.1.2 is-at 08:00:27:9f:f2:71`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.op {
            ArpOp::Request => {
                write!(
                    f,
                    "Request who-has {} tell {}",
                    self.target_ip, self.sender_ip
                )
            }
            ArpOp::Reply => write!(f, "Reply {} is-at {}", self.sender_ip, self.sender_mac),
        }
    }
}
