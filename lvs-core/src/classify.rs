//! Frame classification: step 2 of the director's data path (see ARCHITECTURE.md).
//!
//! An Ethernet II frame (optionally VLAN-tagged) is sorted into the component that handles it:
//! ARP goes to lvs-arp, VRRP (IP protocol 112, RFC 5798 section 5.1.1.4) to lvs-vrrp, and every
//! other IPv4/IPv6 packet to the director's pipeline. Parsing is done with etherparse and never
//! panics: malformed input is a [`ClassifyError`].

use etherparse::{NetSlice, SlicedPacket};

/// IP protocol number of VRRP (IANA; RFC 3768 section 5.2.4, RFC 5798 section 5.1.1.4).
pub const IPPROTO_VRRP: u8 = 112;

/// The IP version of a classified packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum IpVersion {
    /// IPv4 (EtherType 0x0800).
    V4,
    /// IPv6 (EtherType 0x86DD).
    V6,
}

/// What an Ethernet frame carries, and so which component handles it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum FrameClass {
    /// An ARP packet (EtherType 0x0806): handled by lvs-arp.
    Arp,
    /// A VRRP advertisement (IP protocol 112) over IPv4 or IPv6: handled by lvs-vrrp.
    Vrrp(IpVersion),
    /// Any other IP packet: handled by the director's pipeline.
    Ip {
        /// IPv4 or IPv6.
        version: IpVersion,
        /// The upper-layer protocol number (IPv4 protocol field, or the IPv6 next header after
        /// the extension headers), e.g. 6 TCP, 17 UDP, 132 SCTP, 1 ICMP, 58 ICMPv6.
        protocol: u8,
        /// True for an IPv4 or IPv6 fragment (first or later); later fragments carry no ports.
        fragment: bool,
    },
    /// A frame with another EtherType (host byte order value of the 16-bit field), e.g. LLDP.
    Other {
        /// The EtherType after any VLAN tags.
        ether_type: u16,
    },
}

/// Why a frame could not be classified.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ClassifyError {
    /// The frame is truncated or a header in it is malformed (lengths that lie, bad IHL, an
    /// IPv6 extension-header chain that runs off the end, ...).
    #[error("malformed frame: {0}")]
    Malformed(#[from] etherparse::err::packet::SliceError),
}

/// Classify one Ethernet II frame (destination MAC first, no FCS).
///
/// Lengths are taken from the IP headers, so Ethernet padding after the IP payload is ignored.
///
/// # Errors
/// [`ClassifyError::Malformed`] when the Ethernet, VLAN, ARP or IP headers are truncated or
/// inconsistent.
pub fn classify(frame: &[u8]) -> Result<FrameClass, ClassifyError> {
    let packet = SlicedPacket::from_ethernet(frame)?;
    let Some(net) = packet.net else {
        let ether_type = packet
            .link
            .as_ref()
            .and_then(|l| l.ether_payload())
            .map(|p| p.ether_type.0)
            .unwrap_or(0);
        let ether_type = packet
            .link_exts
            .last()
            .map(|vlan| match vlan {
                etherparse::LinkExtSlice::Vlan(v) => v.ether_type().0,
                _ => ether_type,
            })
            .unwrap_or(ether_type);
        return Ok(FrameClass::Other { ether_type });
    };
    Ok(match net {
        NetSlice::Arp(_) => FrameClass::Arp,
        NetSlice::Ipv4(ip) => {
            let payload = ip.payload();
            ip_class(IpVersion::V4, payload.ip_number.0, payload.fragmented)
        }
        NetSlice::Ipv6(ip) => {
            let payload = ip.payload();
            ip_class(IpVersion::V6, payload.ip_number.0, payload.fragmented)
        }
    })
}

fn ip_class(version: IpVersion, protocol: u8, fragment: bool) -> FrameClass {
    if protocol == IPPROTO_VRRP && !fragment {
        FrameClass::Vrrp(version)
    } else {
        FrameClass::Ip {
            version,
            protocol,
            fragment,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use etherparse::PacketBuilder;

    const SRC: [u8; 6] = [0x02, 0, 0, 0, 0, 1];
    const DST: [u8; 6] = [0x02, 0, 0, 0, 0, 2];

    fn tcp_v4() -> Vec<u8> {
        let b = PacketBuilder::ethernet2(SRC, DST)
            .ipv4([10, 0, 0, 2], [207, 175, 44, 110], 64)
            .tcp(40000, 8080, 1, 65535)
            .syn();
        let mut out = Vec::new();
        b.write(&mut out, b"hello").unwrap();
        out
    }

    #[test]
    fn tcp_over_ipv4_goes_to_the_pipeline() {
        assert_eq!(
            classify(&tcp_v4()).unwrap(),
            FrameClass::Ip {
                version: IpVersion::V4,
                protocol: 6,
                fragment: false
            }
        );
    }

    #[test]
    fn ethernet_padding_is_ignored() {
        let mut f = tcp_v4();
        f.extend_from_slice(&[0u8; 18]);
        assert!(matches!(
            classify(&f).unwrap(),
            FrameClass::Ip { protocol: 6, .. }
        ));
    }

    #[test]
    fn udp_over_ipv6_goes_to_the_pipeline() {
        let b = PacketBuilder::ethernet2(SRC, DST)
            .ipv6([0xfe; 16], [0x20; 16], 64)
            .udp(5000, 53);
        let mut out = Vec::new();
        b.write(&mut out, b"q").unwrap();
        assert_eq!(
            classify(&out).unwrap(),
            FrameClass::Ip {
                version: IpVersion::V6,
                protocol: 17,
                fragment: false
            }
        );
    }

    #[test]
    fn vrrp_is_recognised_by_protocol_112() {
        // VRRPv2 advert from the tcpdump capture (shared/testdata/vrrp/README.md), wrapped in a
        // hand-made IPv4 header to 224.0.0.18 with TTL 255.
        let vrrp = [
            0x21, 0x2b, 0xbf, 0x01, 0x00, 0x0a, 0xea, 0x2e, 0x0a, 0x04, 0x2b, 0x96, 0, 0, 0, 0, 0,
            0, 0, 0,
        ];
        let ip = etherparse::Ipv4Header::new(
            vrrp.len() as u16,
            255,
            etherparse::IpNumber(112),
            [10, 4, 43, 1],
            [224, 0, 0, 18],
        )
        .unwrap();
        let eth = etherparse::Ethernet2Header {
            source: SRC,
            destination: [0x01, 0x00, 0x5e, 0x00, 0x00, 0x12],
            ether_type: etherparse::EtherType::IPV4,
        };
        let mut f = Vec::new();
        eth.write(&mut f).unwrap();
        ip.write(&mut f).unwrap();
        f.extend_from_slice(&vrrp);
        assert_eq!(classify(&f).unwrap(), FrameClass::Vrrp(IpVersion::V4));
    }

    #[test]
    fn arp_request_is_recognised() {
        let mut f = Vec::new();
        f.extend_from_slice(&[0xff; 6]);
        f.extend_from_slice(&SRC);
        f.extend_from_slice(&[0x08, 0x06]);
        // htype 1, ptype 0x0800, hlen 6, plen 4, oper 1 (request)
        f.extend_from_slice(&[0, 1, 8, 0, 6, 4, 0, 1]);
        f.extend_from_slice(&SRC);
        f.extend_from_slice(&[192, 168, 56, 1]);
        f.extend_from_slice(&[0; 6]);
        f.extend_from_slice(&[192, 168, 56, 200]);
        assert_eq!(classify(&f).unwrap(), FrameClass::Arp);
    }

    #[test]
    fn lldp_is_other() {
        let mut f = Vec::new();
        f.extend_from_slice(&[0x01, 0x80, 0xc2, 0, 0, 0x0e]);
        f.extend_from_slice(&SRC);
        f.extend_from_slice(&[0x88, 0xcc]);
        f.extend_from_slice(&[0; 32]);
        assert_eq!(
            classify(&f).unwrap(),
            FrameClass::Other { ether_type: 0x88cc }
        );
    }

    #[test]
    fn truncated_and_lying_headers_are_errors() {
        let f = tcp_v4();
        for cut in [0, 5, 13, 14, 20, 33, 34, 40] {
            assert!(
                classify(&f[..cut]).is_err(),
                "cut at {cut} must not classify"
            );
        }
        // An IPv4 total length larger than the frame.
        let mut g = tcp_v4();
        g[16] = 0xff;
        assert!(classify(&g).is_err());
        // IHL below 5.
        let mut h = tcp_v4();
        h[14] = 0x44;
        assert!(classify(&h).is_err());
    }
}
