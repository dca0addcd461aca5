//! ICMP errors quoting a balanced flow (net/netfilter/ipvs/ip_vs_core.c `ip_vs_nat_icmp`,
//! reference section 4) and ICMP Time Exceeded (RFC 792, RFC 4443 3.3, `decrement_ttl`).

mod support;

use std::net::IpAddr;

use etherparse::{Icmpv4Type, Icmpv6Type, LaxNetSlice, LaxSlicedPacket, TransportSlice};
use lvs_fwd::{
    FwdError, Outcome, dr, fullnat_icmp_in, fullnat_icmp_out, fullnat_in, nat_icmp_in,
    nat_icmp_out, nat_in, nat_out, parse, parse_icmp_error, time_exceeded, verify_checksums,
};
use proptest::prelude::*;
use support::*;

/// A flow and the addresses of its rewrite, all of one family.
#[derive(Debug, Clone)]
struct Case {
    proto: u8,
    cip: IpAddr,
    vip: IpAddr,
    rip: IpAddr,
    lip: IpAddr,
    router: IpAddr,
    cport: u16,
    vport: u16,
    rport: u16,
    lport: u16,
    full_quote: bool,
    payload: Vec<u8>,
}

fn any_case() -> impl Strategy<Value = Case> {
    (
        any::<bool>(),
        prop::sample::select(vec![6u8, 17, 132]),
        any::<bool>(),
    )
        .prop_flat_map(|(v6, proto, full_quote)| {
            let a = if v6 {
                any_v6().boxed()
            } else {
                any_v4().boxed()
            };
            (
                Just((v6, proto, full_quote)),
                (a.clone(), a.clone(), a.clone(), a.clone(), a),
                any::<(u16, u16, u16, u16)>(),
                prop::collection::vec(any::<u8>(), 0..64),
            )
        })
        .prop_map(
            |(
                (_v6, proto, full_quote),
                (cip, vip, rip, lip, router),
                (cport, vport, rport, lport),
                payload,
            )| Case {
                proto,
                cip,
                vip,
                rip,
                lip,
                router,
                cport,
                vport,
                rport,
                lport,
                full_quote,
                payload,
            },
        )
}

fn flow(c: &Case, src: (IpAddr, u16), dst: (IpAddr, u16)) -> Spec {
    let mut s = Spec::tcp_v4([0; 4], src.1, [0; 4], dst.1);
    s.src = src.0;
    s.dst = dst.0;
    s.proto = c.proto;
    s.payload = c.payload.clone();
    s
}

fn outer(src: IpAddr, dst: IpAddr, ttl: u8) -> Spec {
    let mut s = Spec::tcp_v4([0; 4], 0, [0; 4], 0);
    s.src = src;
    s.dst = dst;
    s.ttl = ttl;
    s
}

/// The quote of `rewritten` but with the inner L4 checksum bytes of `original` (the kernel
/// leaves the inner L4 checksum untouched).
fn quote_keeping_l4_checksum(rewritten: &Spec, original: &Spec, ql4: usize) -> Vec<u8> {
    let mut q = quote_of(rewritten, ql4);
    let o = quote_of(original, ql4);
    let hl = if rewritten.src.is_ipv4() { 20 } else { 40 };
    let (a, b) = match rewritten.proto {
        6 => (16, 18),
        17 => (6, 8),
        _ => (8, 12),
    };
    let r = (hl + a).min(q.len())..(hl + b).min(q.len());
    q[r.clone()].copy_from_slice(&o[r]);
    q
}

fn ql4(c: &Case) -> usize {
    if c.full_quote { 10_000 } else { 8 }
}

fn assert_icmp_ok(f: &[u8]) -> Result<(), TestCaseError> {
    let p = parse(f).unwrap();
    prop_assert!(verify_checksums(f, &p));
    prop_assert!(smoltcp_verifies(f));
    // The quoted inner IPv4 header checksum is valid again (ip_send_check on the inner header).
    let e = parse_icmp_error(f, &p).unwrap();
    if p.is_ipv4() {
        let ihl = usize::from(f[e.inner_l3_offset()] & 0x0f) * 4;
        prop_assert_eq!(
            lvs_fwd::checksum::checksum(&f[e.inner_l3_offset()..e.inner_l3_offset() + ihl]),
            0
        );
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(150))]

    /// NAT outbound: the RS reports an error about CIP:cport -> RIP:rport (outer RIP -> CIP).
    /// ip_vs_nat_icmp(inout = 1): outer saddr = VIP, inner daddr = VIP, inner dport = vport.
    #[test]
    fn nat_icmp_out_rewrites_outer_and_inner(c in any_case()) {
        let inner = flow(&c, (c.cip, c.cport), (c.rip, c.rport));
        let mut f = icmp_error(&outer(c.rip, c.cip, 64), &inner, ql4(&c));
        let p = parse(&f).unwrap();
        let e = parse_icmp_error(&f, &p).unwrap();
        let t = e.inner_flow();
        prop_assert_eq!((t.protocol, t.src, t.src_port, t.dst, t.dst_port), (c.proto, c.cip, c.cport, c.rip, c.rport));
        prop_assert_eq!(nat_icmp_out(&mut f, &p, &e, c.vip, c.vport).unwrap(), Outcome::Forward);
        let want_inner = flow(&c, (c.cip, c.cport), (c.vip, c.vport));
        let want = icmp_error_from_quote(&outer(c.vip, c.cip, 63), &quote_keeping_l4_checksum(&want_inner, &inner, ql4(&c)));
        prop_assert_eq!(&f, &want);
        assert_icmp_ok(&f)?;
    }

    /// NAT inbound: a router reports an error about the reply VIP:vport -> CIP:cport (outer
    /// router -> VIP). ip_vs_nat_icmp(inout = 0): outer daddr = RIP, inner saddr = RIP,
    /// inner sport = rport.
    #[test]
    fn nat_icmp_in_rewrites_outer_and_inner(c in any_case()) {
        let inner = flow(&c, (c.vip, c.vport), (c.cip, c.cport));
        let mut f = icmp_error(&outer(c.router, c.vip, 64), &inner, ql4(&c));
        let p = parse(&f).unwrap();
        let e = parse_icmp_error(&f, &p).unwrap();
        prop_assert_eq!(nat_icmp_in(&mut f, &p, &e, c.rip, c.rport).unwrap(), Outcome::Forward);
        let want_inner = flow(&c, (c.rip, c.rport), (c.cip, c.cport));
        let want = icmp_error_from_quote(&outer(c.router, c.rip, 63), &quote_keeping_l4_checksum(&want_inner, &inner, ql4(&c)));
        prop_assert_eq!(&f, &want);
        assert_icmp_ok(&f)?;
    }

    /// FULLNAT inbound: error about VIP:vport -> CIP:cport becomes LIP -> RIP quoting
    /// RIP:rport -> LIP:lport.
    #[test]
    fn fullnat_icmp_in_rewrites_outer_and_inner(c in any_case()) {
        let inner = flow(&c, (c.vip, c.vport), (c.cip, c.cport));
        let mut f = icmp_error(&outer(c.router, c.vip, 64), &inner, ql4(&c));
        let p = parse(&f).unwrap();
        let e = parse_icmp_error(&f, &p).unwrap();
        prop_assert_eq!(fullnat_icmp_in(&mut f, &p, &e, c.lip, c.lport, c.rip, c.rport).unwrap(), Outcome::Forward);
        let want_inner = flow(&c, (c.rip, c.rport), (c.lip, c.lport));
        let want = icmp_error_from_quote(&outer(c.lip, c.rip, 63), &quote_keeping_l4_checksum(&want_inner, &inner, ql4(&c)));
        prop_assert_eq!(&f, &want);
        assert_icmp_ok(&f)?;
    }

    /// FULLNAT outbound: error about LIP:lport -> RIP:rport becomes VIP -> CIP quoting
    /// CIP:cport -> VIP:vport.
    #[test]
    fn fullnat_icmp_out_rewrites_outer_and_inner(c in any_case()) {
        let inner = flow(&c, (c.lip, c.lport), (c.rip, c.rport));
        let mut f = icmp_error(&outer(c.rip, c.lip, 64), &inner, ql4(&c));
        let p = parse(&f).unwrap();
        let e = parse_icmp_error(&f, &p).unwrap();
        prop_assert_eq!(fullnat_icmp_out(&mut f, &p, &e, c.vip, c.vport, c.cip, c.cport).unwrap(), Outcome::Forward);
        let want_inner = flow(&c, (c.cip, c.cport), (c.vip, c.vport));
        let want = icmp_error_from_quote(&outer(c.vip, c.cip, 63), &quote_keeping_l4_checksum(&want_inner, &inner, ql4(&c)));
        prop_assert_eq!(&f, &want);
        assert_icmp_ok(&f)?;
    }

    /// DR forwards ICMP errors as they are: only MACs and TTL change.
    #[test]
    fn dr_forwards_icmp_errors_unchanged(c in any_case()) {
        let inner = flow(&c, (c.vip, c.vport), (c.cip, c.cport));
        let mut f = icmp_error(&outer(c.router, c.vip, 64), &inner, ql4(&c));
        let p = parse(&f).unwrap();
        prop_assert_eq!(dr(&mut f, &p, RS_MAC, DIRECTOR_MAC).unwrap(), Outcome::Forward);
        let mut o = outer(c.router, c.vip, 63);
        o.dst_mac = RS_MAC;
        o.src_mac = DIRECTOR_MAC;
        prop_assert_eq!(&f, &icmp_error(&o, &inner, ql4(&c)));
    }

    /// Time exceeded for any balanced packet at TTL 1: the frame is untouched, the reply
    /// verifies with smoltcp and etherparse and quotes per RFC 792 / RFC 4443.
    #[test]
    fn ttl_expiry_builds_time_exceeded(s in any_spec(), dir in prop_oneof![any_v4(), any_v6()]) {
        let mut s = s;
        s.ttl = 1;
        let f = build(&s);
        let p = parse(&f).unwrap();
        let mut g = f.clone();
        prop_assert_eq!(nat_in(&mut g, &p, s.dst, 1).unwrap(), Outcome::TimeExceeded);
        prop_assert_eq!(dr(&mut g, &p, RS_MAC, DIRECTOR_MAC).unwrap(), Outcome::TimeExceeded);
        prop_assert_eq!(nat_out(&mut g, &p, s.src, 1).unwrap(), Outcome::TimeExceeded);
        prop_assert_eq!(fullnat_in(&mut g, &p, s.src, 1, s.dst, 2).unwrap(), Outcome::TimeExceeded);
        prop_assert_eq!(&g, &f);
        let mut out = [0u8; 1600];
        let dir = if s.src.is_ipv4() == dir.is_ipv4() { dir } else { s.dst };
        match time_exceeded(&f, &p, dir, &mut out) {
            Ok(n) => check_time_exceeded(&f, &out[..n], dir)?,
            Err(FwdError::NoIcmpReply(_)) => prop_assert!(s.src.is_multicast() || s.dst.is_multicast() || s.src.is_unspecified()
                || matches!(s.dst, IpAddr::V4(d) if d.is_broadcast()) || matches!(s.src, IpAddr::V4(a) if a.is_broadcast())),
            Err(e) => prop_assert!(false, "unexpected {e:?}"),
        }
    }
}

fn check_time_exceeded(orig: &[u8], te: &[u8], dir: IpAddr) -> Result<(), TestCaseError> {
    let p = parse(orig).unwrap();
    prop_assert_eq!(&te[..6], &orig[6..12]);
    prop_assert_eq!(&te[6..12], &orig[..6]);
    prop_assert!(smoltcp_verifies(te));
    let q = parse(te).unwrap();
    prop_assert!(verify_checksums(te, &q));
    prop_assert_eq!(q.src(), dir);
    prop_assert_eq!(q.dst(), p.src());
    prop_assert_eq!(q.hop_limit(), 64);
    prop_assert_eq!(q.vlan(), p.vlan());
    let e = LaxSlicedPacket::from_ethernet(te).unwrap();
    let quote = match e.transport.unwrap() {
        TransportSlice::Icmpv4(i) => {
            prop_assert_eq!(
                i.icmp_type(),
                Icmpv4Type::TimeExceeded(
                    etherparse::icmpv4::TimeExceededCode::TtlExceededInTransit
                )
            );
            // RFC 1812 4.3.2.3 (icmp_send): as much of the datagram as keeps the ICMP
            // datagram within 576 bytes, so at least RFC 792's "header + 64 bits".
            let ihl = usize::from(orig[p.l3_offset()] & 0x0f) * 4;
            let Some(LaxNetSlice::Ipv4(ip)) = e.net else {
                unreachable!()
            };
            // icmp_send: tos = (tos & IPTOS_TOS_MASK) | IPTOS_PREC_INTERNETCONTROL.
            let tos = (orig[p.l3_offset() + 1] & 0x1e) | 0xc0;
            prop_assert_eq!(
                (ip.header().dcp().value() << 2) | ip.header().ecn().value(),
                tos
            );
            let whole = p.end() - p.l3_offset();
            prop_assert_eq!(i.payload().len(), whole.min(576 - 28));
            prop_assert!(i.payload().len() >= (ihl + 8).min(whole));
            i.payload().to_vec()
        }
        TransportSlice::Icmpv6(i) => {
            prop_assert_eq!(
                i.icmp_type(),
                Icmpv6Type::TimeExceeded(etherparse::icmpv6::TimeExceededCode::HopLimitExceeded)
            );
            // RFC 4443 2.4(c): as much as fits in the minimum IPv6 MTU.
            prop_assert_eq!(i.payload().len(), (p.end() - p.l3_offset()).min(1280 - 48));
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

#[test]
fn ipv6_time_exceeded_is_capped_at_1280_bytes() {
    let mut s = Spec::tcp_v4([0; 4], 1, [0; 4], 2);
    s.src = "2001:db8::c".parse().unwrap();
    s.dst = "2001:db8::7".parse().unwrap();
    s.ttl = 1;
    s.payload = vec![0xab; 1400];
    let f = build(&s);
    let p = parse(&f).unwrap();
    let mut out = [0u8; 2000];
    let n = time_exceeded(&f, &p, "2001:db8::d".parse().unwrap(), &mut out).unwrap();
    assert_eq!(n, 14 + 1280);
    check_time_exceeded(&f, &out[..n], "2001:db8::d".parse().unwrap()).unwrap();
}

#[test]
fn time_exceeded_is_never_sent_about_an_icmp_error() {
    // RFC 1122 3.2.2 / icmp_send: no ICMP error about an ICMP error.
    let inner = Spec::tcp_v4([10, 0, 0, 2], 80, [192, 0, 2, 1], 4000);
    let f = icmp_error(
        &outer([198, 51, 100, 1].into(), [10, 0, 0, 100].into(), 1),
        &inner,
        8,
    );
    let p = parse(&f).unwrap();
    let mut out = [0u8; 200];
    assert_eq!(
        time_exceeded(&f, &p, [10, 0, 0, 100].into(), &mut out),
        Err(FwdError::IcmpAboutIcmpError)
    );
    // And the NAT rewrite of such an error at TTL 1 reports expiry without touching it.
    let e = parse_icmp_error(&f, &p).unwrap();
    let mut g = f.clone();
    assert_eq!(
        nat_icmp_in(&mut g, &p, &e, [10, 1, 1, 1].into(), 8080),
        Ok(Outcome::TimeExceeded)
    );
    assert_eq!(g, f);
}

#[test]
fn time_exceeded_needs_room_and_matching_family() {
    let mut s = Spec::tcp_v4([192, 0, 2, 1], 4000, [10, 0, 0, 100], 80);
    s.ttl = 1;
    let f = build(&s);
    let p = parse(&f).unwrap();
    let mut small = [0u8; 40];
    let whole = f.len() - 14; // quoted in full: well under the 576-byte cap (RFC 1812 4.3.2.3)
    assert_eq!(
        time_exceeded(&f, &p, [10, 0, 0, 100].into(), &mut small),
        Err(FwdError::NoHeadroom {
            needed: 14 + 20 + 8 + whole,
            available: 40
        })
    );
    let mut out = [0u8; 200];
    assert_eq!(
        time_exceeded(&f, &p, "::1".parse().unwrap(), &mut out),
        Err(FwdError::FamilyMismatch)
    );
}

#[test]
fn icmp_error_with_short_quote_or_wrong_type_is_rejected() {
    let inner = Spec::tcp_v4([10, 0, 0, 2], 80, [192, 0, 2, 1], 4000);
    let o = outer([198, 51, 100, 1].into(), [10, 0, 0, 100].into(), 64);
    // Quote with only 4 bytes of TCP: RFC 792 requires 64 bits.
    let f = icmp_error(&o, &inner, 4);
    let p = parse(&f).unwrap();
    assert!(matches!(
        parse_icmp_error(&f, &p),
        Err(FwdError::Truncated { .. })
    ));
    // A TCP packet is not an ICMP error.
    let f = build(&inner);
    let p = parse(&f).unwrap();
    assert_eq!(parse_icmp_error(&f, &p), Err(FwdError::NotIcmpError));
    // Parameter problem (12) is not one IPVS treats as related (ip_vs_in_icmp).
    let mut f = icmp_error(&o, &inner, 8);
    let p = parse(&f).unwrap();
    f[p.l4_offset()] = 12;
    let p = parse(&f).unwrap();
    assert_eq!(parse_icmp_error(&f, &p), Err(FwdError::NotIcmpError));
}

#[test]
fn icmp_error_about_a_non_first_fragment_is_rejected() {
    let inner = Spec::tcp_v4([10, 0, 0, 2], 80, [192, 0, 2, 1], 4000);
    let o = outer([198, 51, 100, 1].into(), [10, 0, 0, 100].into(), 64);
    let mut f = icmp_error(&o, &inner, 8);
    let p = parse(&f).unwrap();
    let il3 = p.l4_offset() + 8;
    f[il3 + 6] = 0x00;
    f[il3 + 7] = 0x10; // fragment offset 16 * 8 bytes
    assert_eq!(parse_icmp_error(&f, &p), Err(FwdError::Fragment));
}

#[test]
fn icmp_error_rewrite_refuses_the_other_family() {
    let inner = Spec::tcp_v4([10, 0, 0, 2], 80, [192, 0, 2, 1], 4000);
    let o = outer([10, 0, 0, 2].into(), [192, 0, 2, 1].into(), 64);
    let mut f = icmp_error(&o, &inner, 8);
    let p = parse(&f).unwrap();
    let e = parse_icmp_error(&f, &p).unwrap();
    let before = f.clone();
    assert_eq!(
        nat_icmp_out(&mut f, &p, &e, "2001:db8::1".parse().unwrap(), 80),
        Err(FwdError::FamilyMismatch)
    );
    assert_eq!(f, before);
}
