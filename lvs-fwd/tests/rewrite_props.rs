//! Property tests: every rewrite's incrementally updated checksums equal a full recompute.
//! For random packets the rewritten frame must be byte-identical to the frame etherparse
//! serialises from scratch with the new addresses, ports and TTL (etherparse computes the IPv4
//! header, TCP and UDP checksums in full; SCTP uses a bitwise CRC32c), and smoltcp must accept
//! every checksum of it.

mod support;

use std::net::IpAddr;

use lvs_fwd::{Outcome, dr, fullnat_in, fullnat_out, nat_in, nat_out, parse, verify_checksums};
use proptest::prelude::*;
use support::*;

fn same_family(s: &Spec) -> impl Strategy<Value = (IpAddr, IpAddr)> + use<> {
    if s.src.is_ipv4() {
        (any_v4(), any_v4()).boxed()
    } else {
        (any_v6(), any_v6()).boxed()
    }
}

fn spec_and_addrs() -> impl Strategy<Value = (Spec, (IpAddr, IpAddr), (u16, u16))> {
    any_spec().prop_flat_map(|s| {
        let a = same_family(&s);
        (Just(s), a, any::<(u16, u16)>())
    })
}

fn check_rewritten(got: &[u8], want: &Spec) -> Result<(), TestCaseError> {
    let want_bytes = build(want);
    prop_assert_eq!(got, &want_bytes[..]);
    let p = parse(got).unwrap();
    prop_assert!(verify_checksums(got, &p), "own full verification");
    prop_assert!(smoltcp_verifies(got), "smoltcp verification");
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    /// ip_vs_nat_xmit + *_dnat_handler: daddr/dport := RIP/rport, TTL - 1.
    #[test]
    fn nat_in_equals_full_recompute((s, (rip, _), (rport, _)) in spec_and_addrs()) {
        let mut f = build(&s);
        let p = parse(&f).unwrap();
        prop_assert_eq!(nat_in(&mut f, &p, rip, rport).unwrap(), Outcome::Forward);
        let mut want = s.clone();
        want.dst = rip;
        want.dport = rport;
        want.ttl -= 1;
        check_rewritten(&f, &want)?;
    }

    /// *_snat_handler: saddr/sport := VIP/vport, TTL - 1.
    #[test]
    fn nat_out_equals_full_recompute((s, (vip, _), (vport, _)) in spec_and_addrs()) {
        let mut f = build(&s);
        let p = parse(&f).unwrap();
        prop_assert_eq!(nat_out(&mut f, &p, vip, vport).unwrap(), Outcome::Forward);
        let mut want = s.clone();
        want.src = vip;
        want.sport = vport;
        want.ttl -= 1;
        check_rewritten(&f, &want)?;
    }

    /// FULLNAT in: CIP:cport -> VIP:vport becomes LIP:lport -> RIP:rport.
    #[test]
    fn fullnat_in_equals_full_recompute((s, (lip, rip), (lport, rport)) in spec_and_addrs()) {
        let mut f = build(&s);
        let p = parse(&f).unwrap();
        prop_assert_eq!(fullnat_in(&mut f, &p, lip, lport, rip, rport).unwrap(), Outcome::Forward);
        let mut want = s.clone();
        want.src = lip;
        want.sport = lport;
        want.dst = rip;
        want.dport = rport;
        want.ttl -= 1;
        check_rewritten(&f, &want)?;
    }

    /// FULLNAT out: RIP:rport -> LIP:lport becomes VIP:vport -> CIP:cport.
    #[test]
    fn fullnat_out_equals_full_recompute((s, (vip, cip), (vport, cport)) in spec_and_addrs()) {
        let mut f = build(&s);
        let p = parse(&f).unwrap();
        prop_assert_eq!(fullnat_out(&mut f, &p, vip, vport, cip, cport).unwrap(), Outcome::Forward);
        let mut want = s.clone();
        want.src = vip;
        want.sport = vport;
        want.dst = cip;
        want.dport = cport;
        want.ttl -= 1;
        check_rewritten(&f, &want)?;
    }

    /// DR: MACs replaced, only the TTL (and IPv4 header checksum) changes in the IP packet.
    #[test]
    fn dr_equals_full_recompute(s in any_spec()) {
        let mut f = build(&s);
        let p = parse(&f).unwrap();
        prop_assert_eq!(dr(&mut f, &p, RS_MAC, DIRECTOR_MAC).unwrap(), Outcome::Forward);
        let mut want = s.clone();
        want.dst_mac = RS_MAC;
        want.src_mac = DIRECTOR_MAC;
        want.ttl -= 1;
        check_rewritten(&f, &want)?;
    }

    /// The full recompute reproduces etherparse's checksums from scrambled ones.
    #[test]
    fn recompute_checksums_matches_etherparse(s in any_spec()) {
        let f = build(&s);
        let p = parse(&f).unwrap();
        let mut g = f.clone();
        if p.is_ipv4() {
            g[p.l3_offset() + 10] ^= 0x5a;
        }
        let off = match s.proto { 6 => 16, 17 => 6, _ => 8 };
        if !s.udp_zero {
            g[p.l4_offset() + off] ^= 0xa5;
        }
        lvs_fwd::recompute_checksums(&mut g, &p).unwrap();
        prop_assert_eq!(g, f);
    }

    /// The parse-once view agrees with etherparse's reading of the same frame.
    #[test]
    fn parse_agrees_with_etherparse(s in any_spec()) {
        let f = build(&s);
        let p = parse(&f).unwrap();
        prop_assert_eq!(p.src(), s.src);
        prop_assert_eq!(p.dst(), s.dst);
        prop_assert_eq!(p.protocol(), s.proto);
        prop_assert_eq!(p.ports(), Some((s.sport, s.dport)));
        prop_assert_eq!(p.hop_limit(), s.ttl);
        prop_assert_eq!(p.vlan(), s.vlan);
        prop_assert_eq!(p.end(), f.len() - s.padding);
        let e = etherparse::LaxSlicedPacket::from_ethernet(&f).unwrap();
        let net = e.net.unwrap();
        let ip_payload = net.ip_payload_ref().unwrap();
        // etherparse's IP payload is the transport segment: same start offset and length.
        prop_assert_eq!(ip_payload.payload.len(), p.end() - p.l4_offset());
        prop_assert_eq!(ip_payload.ip_number.0, s.proto);
        let off = ip_payload.payload.as_ptr() as usize - f.as_ptr() as usize;
        prop_assert_eq!(off, p.l4_offset());
        prop_assert!(verify_checksums(&f, &p));
    }

    /// No input makes parse or any rewrite panic or write outside the buffer; a successful
    /// rewrite of a frame whose checksums verified leaves checksums that verify.
    #[test]
    fn arbitrary_bytes_never_panic(mut f in prop::collection::vec(any::<u8>(), 0..200), ipv6 in any::<bool>()) {
        if f.len() > 14 {
            f[12] = if ipv6 { 0x86 } else { 0x08 };
            f[13] = if ipv6 { 0xdd } else { 0x00 };
            f[14] = (f[14] & 0x0f) | if ipv6 { 0x60 } else { 0x40 };
        }
        if let Ok(p) = parse(&f) {
            let a = p.src();
            let ok_before = verify_checksums(&f, &p);
            let mut g = f.clone();
            if let Ok(Outcome::Forward) = nat_in(&mut g, &p, a, 80) {
                prop_assert_eq!(g.len(), f.len());
                if ok_before {
                    prop_assert!(verify_checksums(&g, &parse(&g).unwrap()));
                }
            }
            let _ = lvs_fwd::parse_icmp_error(&f, &p);
            let mut out = [0u8; 1600];
            let _ = lvs_fwd::time_exceeded(&f, &p, a, &mut out);
        }
    }
}
