//! The ICMP errors the director originates ([`lvs_fwd::error_reply`]): Port Unreachable
//! (ip_vs_core.c `ip_vs_leave`; RFC 792, RFC 4443 3.1) next to Time Exceeded, built as the
//! kernel's `icmp_send` / `icmp6_send` build them, and the quoted-flow reader
//! [`lvs_fwd::quoted_flow`]. Checked with etherparse and smoltcp (independent parsers and
//! checksum recomputations).

mod support;

use std::net::IpAddr;

use etherparse::{Icmpv4Type, Icmpv6Type, LaxNetSlice, LaxSlicedPacket, TransportSlice};
use lvs_fwd::{
    ErrorReply, FwdError, error_reply, parse, port_unreachable, quoted_flow, verify_checksums,
};
use proptest::prelude::*;
use support::*;

/// Checks a port unreachable `pu` built about `orig` from `src`: MACs swapped, addresses
/// src -> sender, TTL 64, type/code per family, quote per RFC 1812 4.3.2.3 / RFC 4443 2.4(c),
/// checksums verified by smoltcp and etherparse.
fn check_port_unreachable(orig: &[u8], pu: &[u8], src: IpAddr) -> Result<(), TestCaseError> {
    let p = parse(orig).unwrap();
    prop_assert_eq!(&pu[..6], &orig[6..12]);
    prop_assert_eq!(&pu[6..12], &orig[..6]);
    prop_assert!(smoltcp_verifies(pu));
    let q = parse(pu).unwrap();
    prop_assert!(verify_checksums(pu, &q));
    prop_assert_eq!((q.src(), q.dst()), (src, p.src()));
    prop_assert_eq!(q.hop_limit(), 64);
    prop_assert_eq!(q.vlan(), p.vlan());
    let e = LaxSlicedPacket::from_ethernet(pu).unwrap();
    let whole = p.end() - p.l3_offset();
    let quote = match e.transport.unwrap() {
        TransportSlice::Icmpv4(i) => {
            prop_assert_eq!(
                i.icmp_type(),
                Icmpv4Type::DestinationUnreachable(etherparse::icmpv4::DestUnreachableHeader::Port)
            );
            prop_assert_eq!(i.type_u8(), 3);
            prop_assert_eq!(i.code_u8(), 3);
            prop_assert_eq!(
                i.header().icmp_type.calc_checksum(i.payload()),
                i.checksum()
            );
            let Some(LaxNetSlice::Ipv4(ip)) = e.net else {
                unreachable!()
            };
            let h = ip.header().to_header();
            prop_assert_eq!(h.calc_header_checksum(), h.header_checksum);
            prop_assert!(!h.dont_fragment, "DF clear (IP_PMTUDISC_DONT)");
            // RFC 1812 4.3.2.3: as much as keeps the ICMP datagram within 576 bytes.
            prop_assert_eq!(i.payload().len(), whole.min(576 - 28));
            i.payload().to_vec()
        }
        TransportSlice::Icmpv6(i) => {
            prop_assert_eq!(
                i.icmp_type(),
                Icmpv6Type::DestinationUnreachable(etherparse::icmpv6::DestUnreachableCode::Port)
            );
            prop_assert_eq!((i.type_u8(), i.code_u8()), (1, 4));
            // RFC 4443 2.4(c): as much as fits in the minimum IPv6 MTU.
            prop_assert_eq!(i.payload().len(), whole.min(1280 - 48));
            i.payload().to_vec()
        }
        other => return Err(TestCaseError::fail(format!("not icmp: {other:?}"))),
    };
    prop_assert_eq!(
        &quote[..],
        &orig[p.l3_offset()..p.l3_offset() + quote.len()]
    );
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]
    /// Any balanced packet (TCP, UDP, SCTP, IPv4 with options, IPv6 with extension headers,
    /// VLAN): the port unreachable verifies and quotes per the RFCs, or is refused for one of
    /// RFC 1122 3.2.2's reasons.
    #[test]
    fn port_unreachable_for_any_packet(s in any_spec(), src in prop_oneof![any_v4(), any_v6()]) {
        let f = build(&s);
        let p = parse(&f).unwrap();
        let mut out = [0u8; 1600];
        let src = if s.src.is_ipv4() == src.is_ipv4() { src } else { s.dst };
        match port_unreachable(&f, &p, src, &mut out) {
            Ok(n) => check_port_unreachable(&f, &out[..n], src)?,
            Err(FwdError::NoIcmpReply(_)) => prop_assert!(s.src.is_multicast() || s.dst.is_multicast() || s.src.is_unspecified()
                || matches!(s.dst, IpAddr::V4(d) if d.is_broadcast()) || matches!(s.src, IpAddr::V4(a) if a.is_broadcast())
                || s.dst_mac[0] & 1 != 0),
            Err(e) => prop_assert!(false, "unexpected {e:?}"),
        }
    }
}

#[test]
fn port_unreachable_ipv4_large_packet_is_capped_at_576_bytes() {
    let mut s = Spec::tcp_v4([192, 0, 2, 1], 4000, [10, 0, 0, 100], 80);
    s.payload = vec![0x5a; 1400];
    let f = build(&s);
    let p = parse(&f).unwrap();
    let mut out = [0u8; 2000];
    let n = port_unreachable(&f, &p, [10, 0, 0, 100].into(), &mut out).unwrap();
    assert_eq!(n, 14 + 576);
    check_port_unreachable(&f, &out[..n], [10, 0, 0, 100].into()).unwrap();
}

#[test]
fn error_reply_kinds_have_the_rfc_type_codes() {
    // RFC 792: time exceeded 11/0, port unreachable 3/3; RFC 4443: 3/0 and 1/4.
    assert_eq!(ErrorReply::TimeExceeded.type_code(false), (11, 0));
    assert_eq!(ErrorReply::PortUnreachable.type_code(false), (3, 3));
    assert_eq!(ErrorReply::TimeExceeded.type_code(true), (3, 0));
    assert_eq!(ErrorReply::PortUnreachable.type_code(true), (1, 4));
    // RFC 1191 section 4: fragmentation needed 3/4; RFC 4443 section 3.2: packet too big 2/0.
    assert_eq!(ErrorReply::TooBig { mtu: 1400 }.type_code(false), (3, 4));
    assert_eq!(ErrorReply::TooBig { mtu: 1400 }.type_code(true), (2, 0));
}

/// The too-big reply carries the MTU where the RFCs put it, as etherparse reads it: the low
/// 16 bits of the second word for IPv4 (RFC 1191 section 4), the whole 32-bit word for IPv6
/// (RFC 4443 section 3.2).
#[test]
fn too_big_reply_carries_the_mtu() {
    let mut out = [0u8; 2000];
    let f = build(&Spec::tcp_v4([192, 0, 2, 1], 4000, [10, 0, 0, 100], 80));
    let p = parse(&f).unwrap();
    let vip: IpAddr = [10, 0, 0, 100].into();
    {
        let n = error_reply(&f, &p, vip, ErrorReply::TooBig { mtu: 1400 }, &mut out).unwrap();
        let s = LaxSlicedPacket::from_ethernet(&out[..n]).unwrap();
        let Some(TransportSlice::Icmpv4(i)) = s.transport else {
            panic!("{:?}", s.transport)
        };
        assert_eq!(
            i.icmp_type(),
            Icmpv4Type::DestinationUnreachable(
                etherparse::icmpv4::DestUnreachableHeader::FragmentationNeeded {
                    next_hop_mtu: 1400
                }
            )
        );
        assert_eq!(i.icmp_type().calc_checksum(i.payload()), i.checksum());
    }
    // An MTU above 16 bits is clamped, never spilled into the unused high bits.
    error_reply(&f, &p, vip, ErrorReply::TooBig { mtu: 70_000 }, &mut out).unwrap();
    assert_eq!(&out[14 + 20 + 4..14 + 20 + 8], &[0, 0, 0xff, 0xff]);
    let f6 = build(&Spec {
        src: "2001:db8:9::1".parse().unwrap(),
        dst: "2001:db8::100".parse().unwrap(),
        ..Spec::tcp_v4([0; 4], 4000, [0; 4], 80)
    });
    let p6 = parse(&f6).unwrap();
    let n = error_reply(
        &f6,
        &p6,
        p6.dst(),
        ErrorReply::TooBig { mtu: 70_000 },
        &mut out,
    )
    .unwrap();
    let s = LaxSlicedPacket::from_ethernet(&out[..n]).unwrap();
    let Some(TransportSlice::Icmpv6(i)) = s.transport else {
        panic!("{:?}", s.transport)
    };
    assert_eq!(i.icmp_type(), Icmpv6Type::PacketTooBig { mtu: 70_000 });
}

/// Sets the IPv4 fragment offset field of `f` (frame, no VLAN) to `off8` (in 8-byte units)
/// and recomputes the header checksum independently (RFC 1071 over the header).
fn make_non_first_fragment(f: &mut [u8], off8: u16) {
    f[20..22].copy_from_slice(&off8.to_be_bytes());
    f[24] = 0;
    f[25] = 0;
    let ihl = usize::from(f[14] & 0x0f) * 4;
    let mut sum = 0u32;
    for w in f[14..14 + ihl].chunks(2) {
        sum += u32::from(u16::from_be_bytes([w[0], w[1]]));
    }
    while sum >> 16 != 0 {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    f[24..26].copy_from_slice(&(!(sum as u16)).to_be_bytes());
}

#[test]
fn port_unreachable_refuses_what_rfc_1122_forbids() {
    // RFC 1122 3.2.2: "An ICMP error message MUST NOT be sent as the result of receiving: an
    // ICMP error message, ... a datagram destined to an IP broadcast or IP multicast address,
    // a datagram sent as a link-layer broadcast, a non-initial fragment, a datagram whose
    // source address does not define a single host".
    let vip: IpAddr = [10, 0, 0, 100].into();
    let mut out = [0u8; 1600];
    let inner = Spec::tcp_v4([10, 0, 0, 2], 80, [192, 0, 2, 1], 4000);
    let err = icmp_error(
        &Spec::tcp_v4([198, 51, 100, 1], 0, [10, 0, 0, 100], 0),
        &inner,
        8,
    );
    let p = parse(&err).unwrap();
    assert_eq!(
        port_unreachable(&err, &p, vip, &mut out),
        Err(FwdError::IcmpAboutIcmpError)
    );
    let mut s = Spec::tcp_v4([192, 0, 2, 1], 4000, [10, 0, 0, 100], 80);
    s.dst_mac = [0xff; 6];
    let f = build(&s);
    assert!(matches!(
        port_unreachable(&f, &parse(&f).unwrap(), vip, &mut out),
        Err(FwdError::NoIcmpReply(_))
    ));
    let s = Spec::tcp_v4([192, 0, 2, 1], 4000, [224, 0, 0, 5], 80);
    let f = build(&s);
    assert!(matches!(
        port_unreachable(&f, &parse(&f).unwrap(), vip, &mut out),
        Err(FwdError::NoIcmpReply(_))
    ));
    let s = Spec::tcp_v4([0, 0, 0, 0], 4000, [10, 0, 0, 100], 80);
    let f = build(&s);
    assert!(matches!(
        port_unreachable(&f, &parse(&f).unwrap(), vip, &mut out),
        Err(FwdError::NoIcmpReply(_))
    ));
    let mut f = build(&Spec::tcp_v4([192, 0, 2, 1], 4000, [10, 0, 0, 100], 80));
    make_non_first_fragment(&mut f, 185);
    assert_eq!(
        error_reply(
            &f,
            &parse(&f).unwrap(),
            vip,
            ErrorReply::PortUnreachable,
            &mut out
        ),
        Err(FwdError::Fragment)
    );
    // No room: the whole frame's length is reported.
    let f = build(&Spec::tcp_v4([192, 0, 2, 1], 4000, [10, 0, 0, 100], 80));
    let mut small = [0u8; 20];
    assert_eq!(
        port_unreachable(&f, &parse(&f).unwrap(), vip, &mut small),
        Err(FwdError::NoHeadroom {
            needed: 14 + 28 + (f.len() - 14),
            available: 20
        })
    );
}

#[test]
fn quoted_flow_reads_a_quote_cut_after_eight_transport_bytes() {
    for s in [Spec::tcp_v4([192, 0, 2, 1], 4000, [10, 0, 0, 100], 80), {
        let mut s = Spec::tcp_v4([0; 4], 5353, [0; 4], 53);
        s.src = "2001:db8::c".parse().unwrap();
        s.dst = "2001:db8::100".parse().unwrap();
        s.proto = 17;
        s
    }] {
        let f = build(&s);
        let p = parse(&f).unwrap();
        let want = p.flow().unwrap();
        let l4 = p.l4_offset();
        // The RFC 792 minimum: the header and 64 bits of data.
        assert_eq!(quoted_flow(&f[14..l4 + 8]), Ok(want));
        assert_eq!(quoted_flow(&f[14..]), Ok(want));
        assert!(matches!(
            quoted_flow(&f[14..l4 + 4]),
            Err(FwdError::Truncated { .. })
        ));
    }
    // Not a balanced protocol, a non-first fragment, not IP.
    let inner = Spec::tcp_v4([10, 0, 0, 2], 80, [192, 0, 2, 1], 4000);
    let err = icmp_error(
        &Spec::tcp_v4([198, 51, 100, 1], 0, [10, 0, 0, 100], 0),
        &inner,
        8,
    );
    assert_eq!(
        quoted_flow(&err[14..]),
        Err(FwdError::UnsupportedProtocol(1))
    );
    let mut f = build(&Spec::tcp_v4([192, 0, 2, 1], 4000, [10, 0, 0, 100], 80));
    make_non_first_fragment(&mut f, 1);
    assert_eq!(quoted_flow(&f[14..]), Err(FwdError::Fragment));
    assert_eq!(
        quoted_flow(&[0x50; 40]),
        Err(FwdError::UnsupportedIpVersion(5))
    );
    assert!(matches!(quoted_flow(&[]), Err(FwdError::Truncated { .. })));
}
