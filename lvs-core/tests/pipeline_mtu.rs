//! `ensure_mtu_is_adequate` (ip_vs_xmit.c) for DR, NAT and FULLNAT: a packet longer than the
//! route toward the real server (`DirectorConfig::tun_mtu`, or a learned path MTU) is refused
//! with ICMP fragmentation needed (IPv4 with DF) or ICMPv6 packet too big, after the TTL
//! decrement of `__ip_vs_get_out_rt`; an IPv4 packet without DF is forwarded for the egress to
//! fragment. Every ICMP error is checked by etherparse's full checksum recompute.

mod pipeline_util;

use std::time::Instant;

use etherparse::{Icmpv6Type, NetSlice, SlicedPacket, TransportSlice};
use lvs_core::{DirectorConfig, DropReason, Verdict};
use pipeline_util::*;

fn cfg(mtu: u32) -> DirectorConfig {
    DirectorConfig {
        tun_mtu: mtu,
        ..DirectorConfig::default()
    }
}

/// Set or clear DF in the frame's IPv4 header and recompute the header checksum.
fn set_df(f: &mut Frame, df: bool) {
    let l3 = f.start + 14;
    let (mut h, _) = etherparse::Ipv4Header::from_slice(&f.buf[l3..]).unwrap();
    h.dont_fragment = df;
    h.header_checksum = h.calc_header_checksum();
    let mut w = Vec::new();
    h.write(&mut w).unwrap();
    f.buf[l3..l3 + w.len()].copy_from_slice(&w);
}

/// A SYN from the client with `payload` bytes of data: IP length 40 + payload.
fn big_syn(client: &str, vip: &str, payload: usize, df: bool) -> Frame {
    let mut f = tcp_ttl(client, vip, SYN, 64, &vec![0x5a; payload]);
    if client.starts_with('[') {
        return f;
    }
    set_df(&mut f, df);
    f
}

fn assert_frag_needed(f: &Frame, v: &Verdict, mtu: u16, vip: &str, client: &str) {
    let out = f.out(v);
    let (h, ty, quote) = icmpv4(out);
    assert_eq!(ty, frag_needed(mtu), "{v:?}");
    assert_eq!(h.source, v4(vip));
    assert_eq!(h.destination, v4(client));
    // The quoted header shows the decremented TTL (decrement_ttl runs before the MTU check).
    assert_eq!(quote[8], 63, "quoted TTL");
    let q = etherparse::Ipv4Header::from_slice(&quote).unwrap().0;
    assert_eq!(
        q.calc_header_checksum(),
        q.header_checksum,
        "quoted header checksum"
    );
    assert_eq!(q.destination, v4(vip), "quoted before any NAT rewrite");
}

#[test]
fn dr_packet_over_the_route_mtu_with_df_gets_frag_needed_and_one_that_fits_passes() {
    let t0 = Instant::now();
    let mut d = director(
        &[
            "-A -t 10.0.0.100:80 -s rr",
            "-a -t 10.0.0.100:80 -r 10.1.0.1 -g",
        ],
        cfg(1400),
        t0,
    );
    // IP length 1401: one byte over.
    let mut f = big_syn("192.0.2.1:40000", "10.0.0.100:80", 1401 - 40, true);
    let v = run(&mut d, &mut f, t0);
    assert!(
        matches!(
            v,
            Verdict::Icmp {
                reason: DropReason::TooBig,
                ..
            }
        ),
        "{v:?}"
    );
    assert_frag_needed(&f, &v, 1400, "10.0.0.100", "192.0.2.1");
    assert_eq!(d.drops(DropReason::TooBig), 1);
    // Exactly the MTU fits.
    let mut f = big_syn("192.0.2.1:40001", "10.0.0.100:80", 1400 - 40, true);
    let v = run(&mut d, &mut f, t0);
    assert!(matches!(v, Verdict::Transmit { .. }), "{v:?}");
    assert_eq!(f.out(&v).len(), 14 + 1400);
}

#[test]
fn nat_and_fullnat_are_checked_before_the_rewrite_and_no_df_is_forwarded() {
    let t0 = Instant::now();
    let mut d = director(
        &[
            "-A -t 10.0.0.100:80 -s rr --laddr 10.2.0.1",
            "-a -t 10.0.0.100:80 -r 10.1.0.1:8080 -m",
            "-a -t 10.0.0.100:80 -r 10.1.0.2:8080 --fullnat",
        ],
        cfg(1280),
        t0,
    );
    for port in [41000, 41001] {
        let client = format!("192.0.2.7:{port}");
        let mut f = big_syn(&client, "10.0.0.100:80", 1300 - 40, true);
        let v = run(&mut d, &mut f, t0);
        assert!(
            matches!(
                v,
                Verdict::Icmp {
                    reason: DropReason::TooBig,
                    ..
                }
            ),
            "{v:?}"
        );
        assert_frag_needed(&f, &v, 1280, "10.0.0.100", "192.0.2.7");
    }
    // Without DF the kernel forwards and lets ip_fragment split it: rewritten and sent whole.
    for port in [42000, 42001] {
        let client = format!("192.0.2.7:{port}");
        let mut f = big_syn(&client, "10.0.0.100:80", 1300 - 40, false);
        let v = run(&mut d, &mut f, t0);
        assert!(matches!(v, Verdict::Transmit { .. }), "{v:?}");
        let s = seen(f.out(&v));
        assert!(s.dst.port() == 8080, "{:?}", s.dst);
    }
    assert_eq!(d.drops(DropReason::TooBig), 2);
}

#[test]
fn ipv6_dr_packet_over_the_route_mtu_gets_packet_too_big() {
    let t0 = Instant::now();
    let mut d = director(
        &[
            "-A -t [2001:db8::100]:80 -s rr",
            "-a -t [2001:db8::100]:80 -r [2001:db8:1::1]:80 -g",
        ],
        cfg(1300),
        t0,
    );
    // IPv6 length 40 + 20 + payload = 1301.
    let mut f = big_syn(
        "[2001:db8:9::1]:40000",
        "[2001:db8::100]:80",
        1301 - 60,
        true,
    );
    let v = run(&mut d, &mut f, t0);
    assert!(
        matches!(
            v,
            Verdict::Icmp {
                reason: DropReason::TooBig,
                ..
            }
        ),
        "{v:?}"
    );
    let out = f.out(&v);
    let p = SlicedPacket::from_ethernet(out).unwrap();
    let Some(NetSlice::Ipv6(ip6)) = &p.net else {
        panic!("{:?}", p.net)
    };
    let h = ip6.header().to_header();
    let v6 = |s: &str| s.parse::<std::net::Ipv6Addr>().unwrap().octets();
    assert_eq!(h.source, v6("2001:db8::100"));
    assert_eq!(h.destination, v6("2001:db8:9::1"));
    let Some(TransportSlice::Icmpv6(i)) = &p.transport else {
        panic!("{:?}", p.transport)
    };
    assert_eq!(i.icmp_type(), Icmpv6Type::PacketTooBig { mtu: 1300 });
    assert_eq!(
        i.header()
            .icmp_type
            .calc_checksum(h.source, h.destination, i.payload())
            .unwrap(),
        i.checksum()
    );
    // The quote shows the decremented hop limit.
    assert_eq!(i.payload()[7], 63);
    let mut f = big_syn(
        "[2001:db8:9::1]:40001",
        "[2001:db8::100]:80",
        1300 - 60,
        true,
    );
    assert!(matches!(run(&mut d, &mut f, t0), Verdict::Transmit { .. }));
}

#[test]
fn ttl_one_over_the_mtu_gets_time_exceeded_first() {
    let t0 = Instant::now();
    let mut d = director(
        &[
            "-A -t 10.0.0.100:80 -s rr",
            "-a -t 10.0.0.100:80 -r 10.1.0.1 -g",
        ],
        cfg(1400),
        t0,
    );
    let mut f = tcp_ttl("192.0.2.1:40000", "10.0.0.100:80", SYN, 1, &[0; 1400]);
    set_df(&mut f, true);
    let v = run(&mut d, &mut f, t0);
    assert!(
        matches!(
            v,
            Verdict::Icmp {
                reason: DropReason::Ttl,
                ..
            }
        ),
        "{v:?}"
    );
    let (_, ty, _) = icmpv4(f.out(&v));
    assert!(
        matches!(ty, etherparse::Icmpv4Type::TimeExceeded(_)),
        "{ty:?}"
    );
}
