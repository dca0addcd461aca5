//! ARP and ND codecs against independent implementations: etherparse's `ArpPacket` for ARP,
//! smoltcp's `Icmpv6Repr`/`NdiscRepr` (and its checksum) for NS/NA, in both directions, plus
//! the RFC 4861 section 7.1.1/7.1.2 validity rules.

mod common;

use std::net::{Ipv4Addr, Ipv6Addr};

use common::*;
use etherparse::{ArpEthIpv4Packet, ArpOperation, EtherType, Ethernet2Header};
use lvs_arp::wire::ndisc::{icmpv6_checksum, solicited_node};
use lvs_arp::{
    ArpFrame, ArpOp, ArpParseError, BufferTooSmall, MacAddr, NaFlags, NdiscFrame, NdiscMessage,
    NdiscParseError, pad_to_min,
};
use proptest::prelude::*;
use smoltcp::phy::ChecksumCapabilities;
use smoltcp::wire::{
    EthernetAddress, EthernetFrame, EthernetProtocol, Icmpv6Packet, Icmpv6Repr, IpProtocol,
    Ipv6Packet, Ipv6Repr, NdiscNeighborFlags, NdiscRepr, RawHardwareAddress,
};

fn arb_mac() -> impl Strategy<Value = MacAddr> {
    any::<[u8; 6]>().prop_map(MacAddr)
}

fn arb_arp() -> impl Strategy<Value = ArpFrame> {
    (
        arb_mac(),
        arb_mac(),
        prop_oneof![Just(1u16), Just(6u16)],
        any::<bool>(),
        arb_mac(),
        any::<u32>(),
        arb_mac(),
        any::<u32>(),
    )
        .prop_map(|(d, s, hw, req, sm, si, tm, ti)| ArpFrame {
            eth_dst: d,
            eth_src: s,
            hw_type: hw,
            op: if req { ArpOp::Request } else { ArpOp::Reply },
            sender_mac: sm,
            sender_ip: Ipv4Addr::from(si),
            target_mac: tm,
            target_ip: Ipv4Addr::from(ti),
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn arp_built_by_us_parses_with_etherparse(f in arb_arp()) {
        let mut buf = [0u8; 64];
        let n = f.emit(&mut buf).unwrap();
        prop_assert_eq!(n, 42);
        let (eth, rest) = Ethernet2Header::from_slice(&buf[..n]).unwrap();
        prop_assert_eq!(eth.ether_type, EtherType::ARP);
        prop_assert_eq!((eth.destination, eth.source), (f.eth_dst.0, f.eth_src.0));
        let arp = etherparse::ArpPacket::from_slice(rest).unwrap();
        prop_assert_eq!(arp.hw_addr_type.0, f.hw_type);
        prop_assert_eq!(arp.proto_addr_type, EtherType::IPV4);
        prop_assert_eq!(arp.operation.0, f.op.code());
        prop_assert_eq!(arp.sender_hw_addr(), &f.sender_mac.0[..]);
        prop_assert_eq!(arp.sender_protocol_addr(), &f.sender_ip.octets()[..]);
        prop_assert_eq!(arp.target_hw_addr(), &f.target_mac.0[..]);
        prop_assert_eq!(arp.target_protocol_addr(), &f.target_ip.octets()[..]);
    }

    #[test]
    fn arp_built_by_etherparse_parses_with_us(
        d in any::<[u8; 6]>(), s in any::<[u8; 6]>(), req in any::<bool>(),
        sm in any::<[u8; 6]>(), si in any::<[u8; 4]>(), tm in any::<[u8; 6]>(), ti in any::<[u8; 4]>(),
        pad in 0usize..20,
    ) {
        let eth = Ethernet2Header { source: s, destination: d, ether_type: EtherType::ARP };
        let arp = ArpEthIpv4Packet {
            operation: if req { ArpOperation::REQUEST } else { ArpOperation::REPLY },
            sender_mac: sm, sender_ipv4: si, target_mac: tm, target_ipv4: ti,
        };
        let mut bytes = eth.to_bytes().to_vec();
        bytes.extend_from_slice(&arp.to_bytes());
        bytes.extend(std::iter::repeat_n(0u8, pad));
        let ours = ArpFrame::parse(&bytes).unwrap();
        prop_assert_eq!(ours.eth_dst.0, d);
        prop_assert_eq!(ours.eth_src.0, s);
        prop_assert_eq!(ours.op, if req { ArpOp::Request } else { ArpOp::Reply });
        prop_assert_eq!((ours.sender_mac.0, ours.sender_ip.octets()), (sm, si));
        prop_assert_eq!((ours.target_mac.0, ours.target_ip.octets()), (tm, ti));
        // And back to the same 42 bytes.
        prop_assert_eq!(&ours.to_bytes()[..], &bytes[..42]);
    }

    #[test]
    fn arbitrary_bytes_never_panic_and_round_trip_when_they_parse(bytes in proptest::collection::vec(any::<u8>(), 0..120)) {
        if let Ok(f) = ArpFrame::parse(&bytes) {
            prop_assert_eq!(&f.to_bytes()[..], &bytes[..42]);
        }
        if let Ok(f) = NdiscFrame::parse(&bytes) {
            let mut out = [0u8; 128];
            let n = f.emit(&mut out).unwrap();
            prop_assert_eq!(NdiscFrame::parse(&out[..n]).unwrap(), f);
        }
    }
}

#[test]
fn arp_parse_errors() {
    let good = from_server01("1.1.1.2").to_bytes();
    let with = |at: usize, v: &[u8]| {
        let mut b = good.to_vec();
        b[at..at + v.len()].copy_from_slice(v);
        b
    };
    let cases: Vec<(&str, Vec<u8>, Result<(), ArpParseError>)> = vec![
        (
            "empty",
            vec![],
            Err(ArpParseError::Truncated { len: 0, need: 42 }),
        ),
        (
            "41 bytes",
            good[..41].to_vec(),
            Err(ArpParseError::Truncated { len: 41, need: 42 }),
        ),
        (
            "IPv4 EtherType",
            with(12, &[0x08, 0x00]),
            Err(ArpParseError::NotArp(0x0800)),
        ),
        (
            "802.1Q tag",
            with(12, &[0x81, 0x00]),
            Err(ArpParseError::NotArp(0x8100)),
        ),
        (
            "hardware type 2",
            with(14, &[0, 2]),
            Err(ArpParseError::HardwareType(2)),
        ),
        (
            "IEEE 802 hardware type is accepted",
            with(14, &[0, 6]),
            Ok(()),
        ),
        (
            "protocol IPv6",
            with(16, &[0x86, 0xdd]),
            Err(ArpParseError::ProtocolType(0x86dd)),
        ),
        (
            "hlen 8",
            with(18, &[8]),
            Err(ArpParseError::AddressLength { hln: 8, pln: 4 }),
        ),
        (
            "plen 16",
            with(19, &[16]),
            Err(ArpParseError::AddressLength { hln: 6, pln: 16 }),
        ),
        (
            "RARP request op 3",
            with(20, &[0, 3]),
            Err(ArpParseError::Operation(3)),
        ),
        ("op 0", with(20, &[0, 0]), Err(ArpParseError::Operation(0))),
    ];
    for (name, bytes, want) in cases {
        assert_eq!(ArpFrame::parse(&bytes).map(|_| ()), want, "{name}");
    }
    // Driver padding to 60 is ignored (tcpdump "length 46").
    let mut padded = [0u8; 64];
    padded[..42].copy_from_slice(&good);
    assert_eq!(pad_to_min(&mut padded, 42), 60);
    assert_eq!(
        ArpFrame::parse(&padded[..60]).unwrap(),
        from_server01("1.1.1.2")
    );
    assert_eq!(
        from_server01("1.1.1.2").emit(&mut [0u8; 41]),
        Err(BufferTooSmall { len: 41, need: 42 })
    );
}

#[test]
fn arp_display_matches_tcpdump() {
    assert_eq!(
        from_server01("1.1.1.2").to_string(),
        "Request who-has 1.1.1.2 tell 192.168.56.101"
    );
    let reply = from_server01("1.1.1.2").reply_to(mac(SERVER02_MAC));
    assert_eq!(reply.to_string(), "Reply 1.1.1.2 is-at 08:00:27:9f:f2:71");
}

// ---------------------------------------------------------------------------------------
// IPv6 Neighbour Discovery.

const OUR_MAC: MacAddr = MacAddr([0x02, 0, 0, 0, 0, 0x01]);
const PEER: MacAddr = MacAddr([0x02, 0, 0, 0, 0, 0x99]);

fn v6(s: &str) -> Ipv6Addr {
    s.parse().unwrap()
}

/// smoltcp's reading of a frame: (eth dst, ip src, ip dst, hop limit, NDISC repr as owned
/// fields). Also asserts smoltcp's checksum verification.
#[derive(Debug, PartialEq)]
enum Theirs {
    Ns {
        target: Ipv6Addr,
        lladdr: Option<[u8; 6]>,
    },
    Na {
        flags: u8,
        target: Ipv6Addr,
        lladdr: Option<[u8; 6]>,
    },
}

fn smoltcp_parse(frame: &[u8]) -> ([u8; 6], Ipv6Addr, Ipv6Addr, u8, Theirs) {
    let eth = EthernetFrame::new_checked(frame).unwrap();
    assert_eq!(eth.ethertype(), EthernetProtocol::Ipv6);
    let ip = Ipv6Packet::new_checked(eth.payload()).unwrap();
    assert_eq!(ip.next_header(), IpProtocol::Icmpv6);
    let icmp = Icmpv6Packet::new_checked(ip.payload()).unwrap();
    assert!(
        icmp.verify_checksum(&ip.src_addr(), &ip.dst_addr()),
        "smoltcp rejects our checksum"
    );
    let repr = Icmpv6Repr::parse(
        &ip.src_addr(),
        &ip.dst_addr(),
        &icmp,
        &ChecksumCapabilities::default(),
    )
    .unwrap();
    let mac6 =
        |l: Option<RawHardwareAddress>| l.map(|l| <[u8; 6]>::try_from(l.as_bytes()).unwrap());
    let theirs = match repr {
        Icmpv6Repr::Ndisc(NdiscRepr::NeighborSolicit {
            target_addr,
            lladdr,
        }) => Theirs::Ns {
            target: target_addr,
            lladdr: mac6(lladdr),
        },
        Icmpv6Repr::Ndisc(NdiscRepr::NeighborAdvert {
            flags,
            target_addr,
            lladdr,
        }) => Theirs::Na {
            flags: flags.bits(),
            target: target_addr,
            lladdr: mac6(lladdr),
        },
        other => panic!("not NS/NA: {other:?}"),
    };
    (
        eth.dst_addr().0,
        ip.src_addr(),
        ip.dst_addr(),
        ip.hop_limit(),
        theirs,
    )
}

fn ours_to_bytes(f: &NdiscFrame) -> Vec<u8> {
    let mut buf = vec![0u8; 128];
    let n = f.emit(&mut buf).unwrap();
    assert_eq!(n, f.frame_len());
    buf.truncate(n);
    buf
}

#[test]
fn nd_built_by_us_parses_with_smoltcp() {
    let target = v6("2001:db8::12:3456");
    let solicitor = v6("2001:db8::99");
    let ns = NdiscFrame::solicit(PEER, solicitor, target, None);
    let ns_uni = NdiscFrame::solicit(PEER, solicitor, target, Some(OUR_MAC));
    let dad = NdiscFrame::solicit(PEER, Ipv6Addr::UNSPECIFIED, target, None);
    let reply = NdiscFrame::parse(&ours_to_bytes(&ns))
        .unwrap()
        .advert_reply(OUR_MAC, false)
        .unwrap();
    let dad_reply = dad.advert_reply(OUR_MAC, true).unwrap();
    let una = NdiscFrame::unsolicited_advert(OUR_MAC, target, false);
    let una_router = NdiscFrame::unsolicited_advert(OUR_MAC, target, true);
    let snm = v6("ff02::1:ff12:3456");
    let all = v6("ff02::1");
    /// (name, our frame, smoltcp's eth dst, IPv6 src, IPv6 dst, smoltcp's repr)
    type Case = (
        &'static str,
        NdiscFrame,
        [u8; 6],
        Ipv6Addr,
        Ipv6Addr,
        Theirs,
    );
    let cases: [Case; 7] = [
        (
            "NS to solicited-node multicast",
            ns,
            [0x33, 0x33, 0xff, 0x12, 0x34, 0x56],
            solicitor,
            snm,
            Theirs::Ns {
                target,
                lladdr: Some(PEER.0),
            },
        ),
        (
            "unicast NS (NUD probe)",
            ns_uni,
            OUR_MAC.0,
            solicitor,
            target,
            Theirs::Ns {
                target,
                lladdr: Some(PEER.0),
            },
        ),
        (
            "DAD NS: no source link-layer option",
            dad,
            [0x33, 0x33, 0xff, 0x12, 0x34, 0x56],
            Ipv6Addr::UNSPECIFIED,
            snm,
            Theirs::Ns {
                target,
                lladdr: None,
            },
        ),
        (
            "solicited NA: S and O",
            reply,
            PEER.0,
            target,
            solicitor,
            Theirs::Na {
                flags: 0x60,
                target,
                lladdr: Some(OUR_MAC.0),
            },
        ),
        (
            "NA to a DAD probe: to ff02::1, S clear, R set",
            dad_reply,
            [0x33, 0x33, 0, 0, 0, 1],
            target,
            all,
            Theirs::Na {
                flags: 0xa0,
                target,
                lladdr: Some(OUR_MAC.0),
            },
        ),
        (
            "unsolicited NA: O only",
            una,
            [0x33, 0x33, 0, 0, 0, 1],
            target,
            all,
            Theirs::Na {
                flags: 0x20,
                target,
                lladdr: Some(OUR_MAC.0),
            },
        ),
        (
            "unsolicited NA from a router: R and O",
            una_router,
            [0x33, 0x33, 0, 0, 0, 1],
            target,
            all,
            Theirs::Na {
                flags: 0xa0,
                target,
                lladdr: Some(OUR_MAC.0),
            },
        ),
    ];
    for (name, frame, eth_dst, src, dst, theirs) in cases {
        let bytes = ours_to_bytes(&frame);
        let got = smoltcp_parse(&bytes);
        assert_eq!(got, (eth_dst, src, dst, 255, theirs), "{name}");
        // Our own parser accepts what we built, unchanged.
        assert_eq!(NdiscFrame::parse(&bytes).unwrap(), frame, "{name}");
    }
}

/// smoltcp builds an Ethernet + IPv6 + NDISC frame.
fn smoltcp_build(
    eth_dst: [u8; 6],
    src: Ipv6Addr,
    dst: Ipv6Addr,
    hop: u8,
    repr: NdiscRepr,
) -> Vec<u8> {
    let icmp_repr = Icmpv6Repr::Ndisc(repr);
    let len = icmp_repr.buffer_len();
    let mut buf = vec![0u8; 14 + 40 + len];
    let mut eth = EthernetFrame::new_unchecked(&mut buf[..]);
    eth.set_dst_addr(EthernetAddress(eth_dst));
    eth.set_src_addr(EthernetAddress(PEER.0));
    eth.set_ethertype(EthernetProtocol::Ipv6);
    let ipr = Ipv6Repr {
        src_addr: src,
        dst_addr: dst,
        next_header: IpProtocol::Icmpv6,
        payload_len: len,
        hop_limit: hop,
    };
    let mut ip = Ipv6Packet::new_unchecked(eth.payload_mut());
    ipr.emit(&mut ip);
    let mut icmp = Icmpv6Packet::new_unchecked(ip.payload_mut());
    icmp_repr.emit(&src, &dst, &mut icmp, &ChecksumCapabilities::default());
    buf
}

#[test]
fn nd_built_by_smoltcp_parses_with_us() {
    let target = v6("fe80::1:2:3");
    let src = v6("fe80::99");
    let ll = RawHardwareAddress::from_bytes(&PEER.0);
    let ns = smoltcp_build(
        [0x33, 0x33, 0xff, 0x02, 0, 0x03],
        src,
        solicited_node(target),
        255,
        NdiscRepr::NeighborSolicit {
            target_addr: target,
            lladdr: Some(ll),
        },
    );
    let got = NdiscFrame::parse(&ns).unwrap();
    assert_eq!(
        got.message,
        NdiscMessage::Solicit {
            target,
            source_lladdr: Some(PEER)
        }
    );
    assert_eq!(
        (got.src, got.dst, got.hop_limit),
        (src, v6("ff02::1:ff02:3"), 255)
    );

    let na = smoltcp_build(
        OUR_MAC.0,
        target,
        src,
        255,
        NdiscRepr::NeighborAdvert {
            flags: NdiscNeighborFlags::SOLICITED
                | NdiscNeighborFlags::OVERRIDE
                | NdiscNeighborFlags::ROUTER,
            target_addr: target,
            lladdr: Some(ll),
        },
    );
    let got = NdiscFrame::parse(&na).unwrap();
    assert_eq!(
        got.message,
        NdiscMessage::Advert {
            flags: NaFlags {
                router: true,
                solicited: true,
                override_flag: true
            },
            target,
            target_lladdr: Some(PEER),
        }
    );
    // smoltcp with hop limit 64: RFC 4861 7.1 says drop.
    let hop64 = smoltcp_build(
        OUR_MAC.0,
        target,
        src,
        64,
        NdiscRepr::NeighborAdvert {
            flags: NdiscNeighborFlags::OVERRIDE,
            target_addr: target,
            lladdr: Some(ll),
        },
    );
    assert_eq!(
        NdiscFrame::parse(&hop64),
        Err(NdiscParseError::HopLimit(64))
    );
}

/// Rewrites the ICMPv6 checksum of `frame` with smoltcp's implementation after a mutation.
fn refill_checksum(frame: &mut [u8]) {
    let mut eth = EthernetFrame::new_unchecked(frame);
    let mut ip = Ipv6Packet::new_unchecked(eth.payload_mut());
    let (s, d) = (ip.src_addr(), ip.dst_addr());
    let mut icmp = Icmpv6Packet::new_unchecked(ip.payload_mut());
    icmp.fill_checksum(&s, &d);
}

#[test]
fn nd_validation_rfc4861_7_1() {
    let target = v6("2001:db8::5");
    let ns = ours_to_bytes(&NdiscFrame::solicit(PEER, v6("2001:db8::9"), target, None));
    let na = ours_to_bytes(
        &NdiscFrame::parse(&ns)
            .unwrap()
            .advert_reply(OUR_MAC, false)
            .unwrap(),
    );
    let dad = ours_to_bytes(&NdiscFrame::solicit(
        PEER,
        Ipv6Addr::UNSPECIFIED,
        target,
        None,
    ));
    // Offsets: IPv6 header at 14 (payload length 18..20, next header 20, hop limit 21,
    // dst 38..54); ICMPv6 at 54 (type 54, code 55, checksum 56..58, flags 58, target 62..78,
    // first option at 78).
    type Mutate = fn(&mut Vec<u8>);
    let cases: [(&str, &Vec<u8>, Mutate, bool, NdiscParseError); 14] = [
        (
            "hop limit 254",
            &ns,
            |f| f[21] = 254,
            true,
            NdiscParseError::HopLimit(254),
        ),
        (
            "checksum off by one",
            &ns,
            |f| f[57] ^= 1,
            false,
            NdiscParseError::Checksum {
                found: 0,
                expected: 0,
            },
        ),
        ("code 1", &ns, |f| f[55] = 1, true, NdiscParseError::Code(1)),
        (
            "ICMP length 20",
            &na,
            |f| {
                f.truncate(54 + 20);
                f[19] = 20;
            },
            true,
            NdiscParseError::TooShort(20),
        ),
        (
            "multicast target",
            &ns,
            |f| {
                f[62] = 0xff;
                f[63] = 0x02;
            },
            true,
            NdiscParseError::MulticastTarget(v6("ff02:db8::5")),
        ),
        (
            "option length 0",
            &ns,
            |f| f[79] = 0,
            true,
            NdiscParseError::OptionLength { kind: 1, len: 0 },
        ),
        (
            "option overruns the message",
            &ns,
            |f| f[79] = 2,
            true,
            NdiscParseError::OptionLength { kind: 1, len: 2 },
        ),
        (
            "DAD with a source link-layer option",
            &ns,
            |f| f[22..38].fill(0),
            true,
            NdiscParseError::DadWithSourceLladdr,
        ),
        (
            "DAD to a unicast address",
            &dad,
            |f| f[38..54].copy_from_slice(&v6("2001:db8::5").octets()),
            true,
            NdiscParseError::DadNotSolicitedNode(v6("2001:db8::5")),
        ),
        (
            "solicited NA to a multicast address",
            &na,
            |f| f[38..54].copy_from_slice(&v6("ff02::1").octets()),
            true,
            NdiscParseError::SolicitedToMulticast(v6("ff02::1")),
        ),
        (
            "echo request is not ND",
            &ns,
            |f| f[54] = 128,
            true,
            NdiscParseError::NotNeighbour(128),
        ),
        (
            "TCP next header",
            &ns,
            |f| f[20] = 6,
            false,
            NdiscParseError::NextHeader(6),
        ),
        (
            "IPv4 version",
            &ns,
            |f| f[14] = 0x45,
            false,
            NdiscParseError::IpVersion(4),
        ),
        (
            "payload length beyond the frame",
            &ns,
            |f| f[19] = 200,
            false,
            NdiscParseError::Truncated { len: 86, need: 254 },
        ),
    ];
    for (name, base, mutate, fix_checksum, want) in cases {
        let mut f = base.clone();
        mutate(&mut f);
        if fix_checksum {
            refill_checksum(&mut f);
        }
        let got = NdiscFrame::parse(&f);
        match (got, want) {
            (
                Err(NdiscParseError::Checksum { found, expected }),
                NdiscParseError::Checksum { .. },
            ) => {
                assert_ne!(found, expected, "{name}");
                // The expected value is what smoltcp computes.
                let mut fixed = f.clone();
                refill_checksum(&mut fixed);
                assert_eq!(
                    expected,
                    u16::from_be_bytes([fixed[56], fixed[57]]),
                    "{name}"
                );
            }
            (got, want) => assert_eq!(got, Err(want), "{name}"),
        }
    }
}

#[test]
fn nd_unknown_options_are_skipped_and_first_lladdr_wins() {
    let target = v6("2001:db8::5");
    let mut f = ours_to_bytes(&NdiscFrame::solicit(PEER, v6("2001:db8::9"), target, None));
    // Append a nonce option (type 14, 8 bytes) and a second SLLA; fix lengths and checksum.
    f.extend_from_slice(&[14, 1, 1, 2, 3, 4, 5, 6]);
    f.extend_from_slice(&[1, 1, 9, 9, 9, 9, 9, 9]);
    let plen = u16::from_be_bytes([f[18], f[19]]) + 16;
    f[18..20].copy_from_slice(&plen.to_be_bytes());
    refill_checksum(&mut f);
    let got = NdiscFrame::parse(&f).unwrap();
    assert_eq!(
        got.message,
        NdiscMessage::Solicit {
            target,
            source_lladdr: Some(PEER)
        }
    );
}

#[test]
fn icmpv6_checksum_matches_smoltcp_on_odd_lengths() {
    // Odd-length messages exercise the pad byte of RFC 1071.
    let (s, d) = (v6("2001:db8::1"), v6("2001:db8::2"));
    for len in [4usize, 5, 23, 24, 25, 31] {
        let mut msg: Vec<u8> = (0..len as u8).map(|i| i.wrapping_mul(37)).collect();
        msg[2] = 0;
        msg[3] = 0;
        let ours = icmpv6_checksum(s, d, &msg);
        msg[2..4].copy_from_slice(&ours.to_be_bytes());
        let pkt = Icmpv6Packet::new_unchecked(&msg[..]);
        assert!(pkt.verify_checksum(&s, &d), "len {len}");
        assert_eq!(icmpv6_checksum(s, d, &msg), 0, "len {len}");
    }
}
