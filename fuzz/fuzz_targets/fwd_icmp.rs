//! ICMP errors and time exceeded on arbitrary frames (made checksum-valid first): the four
//! NAT/FULLNAT ICMP-error rewrites leave checksums that verify (outer, inner IPv4 header,
//! ICMP; own and etherparse) and the inner flow they were given; `error_reply` (too big, time exceeded,
//! port unreachable) builds a reply that parses, verifies and quotes the packet within the
//! RFC caps, and never one about an ICMP error; `quoted_flow` agrees with `parse`.
#![no_main]

use libfuzzer_sys::fuzz_target;
use lvs_fwd::Outcome;

#[path = "fwd_check/mod.rs"]
mod fwd_check;

fuzz_target!(|data: &[u8]| {
    let Some((c, mut f)) = fwd_check::split(data, 37) else {
        return;
    };
    let Some(p) = fwd_check::prepare(&mut f) else {
        return;
    };
    let a = fwd_check::addr(&p, &c[..16]);
    let b = fwd_check::addr(&p, &c[16..32]);
    let pa = u16::from_be_bytes([c[32], c[33]]);
    let pb = u16::from_be_bytes([c[34], c[35]]);

    let mut out = [0u8; 1600];
    for kind in [
        lvs_fwd::ErrorReply::TimeExceeded,
        lvs_fwd::ErrorReply::PortUnreachable,
        lvs_fwd::ErrorReply::TooBig {
            mtu: u32::from(pa) << 8 | u32::from(pb),
        },
    ] {
        if let Ok(n) = lvs_fwd::error_reply(&f, &p, a, kind, &mut out) {
            assert!(!p.is_icmp_error());
            fwd_check::assert_valid(&out[..n]);
            let q = lvs_fwd::parse(&out[..n]).unwrap();
            assert_eq!((q.src(), q.dst()), (a, p.src()));
            // RFC 1812 4.3.2.3 / RFC 4443 2.4(c): within 576 / 1280 bytes of IP.
            let cap = if p.is_ipv4() { 576 } else { 1280 };
            assert!(n - q.l3_offset() <= cap);
            // The quote is the original packet from its IP header.
            let quote = &out[q.l3_offset() + if p.is_ipv4() { 28 } else { 48 }..n];
            assert_eq!(quote, &f[p.l3_offset()..p.l3_offset() + quote.len()]);
        }
    }
    // The quote reader never panics; what it reads matches the frame's own view.
    if let Ok(t) = lvs_fwd::quoted_flow(&f[p.l3_offset()..]) {
        if let Some(flow) = p.flow() {
            assert_eq!(t, flow);
        }
    }

    let Ok(e) = lvs_fwd::parse_icmp_error(&f, &p) else {
        return;
    };
    let before = f.clone();
    let r = match c[36] & 3 {
        0 => lvs_fwd::nat_icmp_in(&mut f, &p, &e, a, pa),
        1 => lvs_fwd::nat_icmp_out(&mut f, &p, &e, a, pa),
        2 => lvs_fwd::fullnat_icmp_in(&mut f, &p, &e, a, pa, b, pb),
        _ => lvs_fwd::fullnat_icmp_out(&mut f, &p, &e, a, pa, b, pb),
    };
    match r {
        Ok(Outcome::Forward) => {
            fwd_check::assert_valid(&f);
            let q = lvs_fwd::parse(&f).unwrap();
            let e2 = lvs_fwd::parse_icmp_error(&f, &q).unwrap();
            let t = e2.inner_flow();
            match c[36] & 3 {
                0 => assert_eq!((q.dst(), t.src, t.src_port), (a, a, pa)),
                1 => assert_eq!((q.src(), t.dst, t.dst_port), (a, a, pa)),
                2 => assert_eq!(
                    (q.src(), q.dst(), t.src, t.src_port, t.dst, t.dst_port),
                    (a, b, b, pb, a, pa)
                ),
                _ => assert_eq!(
                    (q.src(), q.dst(), t.src, t.src_port, t.dst, t.dst_port),
                    (a, b, b, pb, a, pa)
                ),
            }
            if p.is_ipv4() {
                let l3 = e2.inner_l3_offset();
                let ihl = usize::from(f[l3] & 0x0f) * 4;
                assert_eq!(
                    lvs_fwd::checksum::checksum(&f[l3..l3 + ihl]),
                    0,
                    "inner ipv4 header"
                );
            }
        }
        _ => assert_eq!(f, before),
    }
});
