//! The ICMP errors of the pipeline: port unreachable when a service has no real server
//! (ip_vs_core.c `ip_vs_leave`), the kernel's order of TTL decrement and MTU check for TUN
//! (ip_vs_xmit.c `__ip_vs_get_out_rt`), and the relay of ICMP errors about our tunnel packets
//! to the client (the tunnel case of `ip_vs_in_icmp`). Every generated frame is parsed and its
//! checksums recomputed by etherparse.

mod pipeline_util;

use std::net::IpAddr;
use std::time::Instant;

use etherparse::icmpv4::{DestUnreachableHeader, TimeExceededCode};
use etherparse::{Icmpv4Type, Icmpv6Type, Ipv4Header, NetSlice, SlicedPacket, TransportSlice};
use lvs_core::{DirectorConfig, DropReason, PacketMeta, Side, Verdict};
use pipeline_util::*;

/// Asserts `v` is an ICMP error verdict counted under `reason`; returns its start.
fn assert_icmp(v: &Verdict, reason: DropReason) -> usize {
    match *v {
        Verdict::Icmp {
            start, reason: r, ..
        } if r == reason => start,
        _ => panic!("expected an ICMP error for {reason:?}, got {v:?}"),
    }
}

/// The IPv4 header at the start of a quote, with its own checksum verified.
fn quoted_v4(quote: &[u8]) -> Ipv4Header {
    let (h, _) = Ipv4Header::from_slice(quote).expect("quote starts with an IPv4 header");
    assert_eq!(
        h.calc_header_checksum(),
        h.header_checksum,
        "quoted IPv4 checksum"
    );
    h
}

// ---------------------------------------------------------------------------------------
// No real server: ip_vs_leave -> icmp_send(ICMP_DEST_UNREACH, ICMP_PORT_UNREACH) /
// icmpv6_send(ICMPV6_DEST_UNREACH, ICMPV6_PORT_UNREACH), then NF_DROP.
// ---------------------------------------------------------------------------------------

#[test]
fn syn_to_a_service_with_only_weight_zero_servers_gets_port_unreachable_v4() {
    let t0 = Instant::now();
    let mut d = director(
        &[
            "-A -t 10.0.0.100:80 -s wrr",
            "-a -t 10.0.0.100:80 -r 10.1.0.1 -g -w 0",
            "-a -t 10.0.0.100:80 -r 10.1.0.2 -g -w 0",
        ],
        DirectorConfig::default(),
        t0,
    );
    let mut f = tcp("192.0.2.1:40000", "10.0.0.100:80", SYN);
    let orig = f.bytes().to_vec();
    let v = run(&mut d, &mut f, t0);
    assert_eq!(
        assert_icmp(&v, DropReason::NoRealServer),
        f.start + f.len,
        "built in the tailroom"
    );
    let out = f.out(&v);
    // Back to the client's MAC from the MAC it addressed.
    assert_eq!(&out[..6], &CLIENT_MAC);
    assert_eq!(&out[6..12], &DIRECTOR_MAC);
    let (h, ty, quote) = icmpv4(out);
    assert_eq!(
        ty,
        Icmpv4Type::DestinationUnreachable(DestUnreachableHeader::Port)
    );
    // From the VIP (a local address: icmp_send keeps it as source) to the CIP.
    assert_eq!(h.source, v4("10.0.0.100"));
    assert_eq!(h.destination, v4("192.0.2.1"));
    assert_eq!(h.time_to_live, 64);
    // RFC 1812 4.3.2.3: as much as fits in 576 bytes, here the whole SYN, untouched (the
    // frame is not rewritten before ip_vs_leave).
    assert_eq!(quote, orig[14..]);
    assert_eq!(d.drops(DropReason::NoRealServer), 1);
    // Nothing was inserted.
    assert_eq!(d.conn_table().len(), 0);
}

#[test]
fn syn_to_a_service_whose_servers_were_removed_gets_port_unreachable_v6() {
    let t0 = Instant::now();
    let mut d = director(
        &[
            "-A -t [2001:db8::100]:443 -s rr",
            "-a -t [2001:db8::100]:443 -r [2001:db8:1::1]:443 -g",
            "-d -t [2001:db8::100]:443 -r [2001:db8:1::1]:443",
        ],
        DirectorConfig::default(),
        t0,
    );
    let mut f = tcp("[2001:db8:9::1]:40000", "[2001:db8::100]:443", SYN);
    let orig = f.bytes().to_vec();
    let v = run(&mut d, &mut f, t0);
    assert_icmp(&v, DropReason::NoRealServer);
    let out = f.out(&v);
    assert_eq!(
        (&out[..6], &out[6..12]),
        (&CLIENT_MAC[..], &DIRECTOR_MAC[..])
    );
    let p = SlicedPacket::from_ethernet(out).unwrap();
    let Some(NetSlice::Ipv6(ip6)) = &p.net else {
        panic!("{:?}", p.net)
    };
    let h = ip6.header().to_header();
    assert_eq!(IpAddr::from(h.source), ip("2001:db8::100"));
    assert_eq!(IpAddr::from(h.destination), ip("2001:db8:9::1"));
    assert_eq!(h.hop_limit, 64);
    let Some(TransportSlice::Icmpv6(i)) = &p.transport else {
        panic!("{:?}", p.transport)
    };
    // RFC 4443 3.1: type 1, code 4 (port unreachable); checksum over the pseudo-header.
    assert_eq!(
        i.icmp_type(),
        Icmpv6Type::DestinationUnreachable(etherparse::icmpv6::DestUnreachableCode::Port)
    );
    assert!(i.is_checksum_valid(h.source, h.destination));
    assert_eq!(i.payload(), &orig[14..]);
    assert_eq!(d.drops(DropReason::NoRealServer), 1);
}

#[test]
fn udp_and_persistent_services_without_real_server_get_port_unreachable() {
    // "ICMP_PORT_UNREACH is sent here no matter it is TCP/UDP" (ip_vs_leave); a persistent
    // service without template and without real server: ip_vs_sched_persist sets
    // *ignored = 0 ("return *ignored=0 i.e. ICMP and NF_DROP").
    let t0 = Instant::now();
    let mut d = director(
        &[
            "-A -u 10.0.0.100:53 -s rr",
            "-A -t 10.0.0.100:443 -s rr -p 300",
            "-a -t 10.0.0.100:443 -r 10.1.0.1 -g -w 0",
        ],
        DirectorConfig::default(),
        t0,
    );
    let mut u = udp("192.0.2.1:5353", "10.0.0.100:53", b"query");
    let v = run(&mut d, &mut u, t0);
    assert!(
        matches!(
            v,
            Verdict::Icmp {
                reason: DropReason::NoRealServer,
                ..
            }
        ),
        "{v:?}"
    );
    let (h, ty, quote) = icmpv4(u.out(&v));
    assert_eq!(
        ty,
        Icmpv4Type::DestinationUnreachable(DestUnreachableHeader::Port)
    );
    assert_eq!(h.destination, v4("192.0.2.1"));
    assert_eq!(quote, u.bytes()[14..]);
    let mut f = tcp("192.0.2.1:40000", "10.0.0.100:443", SYN);
    let v = run(&mut d, &mut f, t0);
    let (_, ty, _) = icmpv4(f.out(&v));
    assert_eq!(
        ty,
        Icmpv4Type::DestinationUnreachable(DestUnreachableHeader::Port)
    );
    assert_eq!(d.drops(DropReason::NoRealServer), 2);
}

#[test]
fn a_packet_that_may_not_schedule_stays_local_even_without_real_server() {
    // tcp_conn_schedule only calls ip_vs_schedule on a SYN (no RST): an ACK to a service
    // without real servers is NF_ACCEPT, no ICMP.
    let t0 = Instant::now();
    let mut d = director(
        &["-A -t 10.0.0.100:80 -s rr"],
        DirectorConfig::default(),
        t0,
    );
    let mut f = tcp("192.0.2.1:40000", "10.0.0.100:80", ACK);
    assert_eq!(run(&mut d, &mut f, t0), Verdict::Local);
    let mut f = tcp("192.0.2.1:40000", "10.0.0.100:80", SYN | RST);
    assert_eq!(run(&mut d, &mut f, t0), Verdict::Local);
    assert_eq!(d.drops(DropReason::NoRealServer), 0);
}

#[test]
fn port_unreachable_uses_the_headroom_without_tailroom_and_drops_without_either() {
    let t0 = Instant::now();
    let mut d = director(
        &["-A -t 10.0.0.100:80 -s rr"],
        DirectorConfig::default(),
        t0,
    );
    // No tailroom: the reply goes into the headroom, at the start of the buffer.
    let f = tcp("192.0.2.1:40000", "10.0.0.100:80", SYN);
    let mut buf = f.buf[..f.start + f.len].to_vec();
    let v = d.process(&mut buf, f.start, f.len, &PacketMeta::default(), t0);
    let Verdict::Icmp { start, len, reason } = v else {
        panic!("{v:?}")
    };
    assert_eq!((start, reason), (0, DropReason::NoRealServer));
    let (h, ty, _) = icmpv4(&buf[start..start + len]);
    assert_eq!(
        ty,
        Icmpv4Type::DestinationUnreachable(DestUnreachableHeader::Port)
    );
    assert_eq!(h.destination, v4("192.0.2.1"));
    // Neither: a plain drop, still counted.
    let mut buf = f.bytes().to_vec();
    let n = buf.len();
    assert_eq!(
        d.process(&mut buf, 0, n, &PacketMeta::default(), t0),
        Verdict::Drop(DropReason::NoRealServer)
    );
    assert_eq!(d.drops(DropReason::NoRealServer), 2);
}

#[test]
fn no_port_unreachable_about_a_link_layer_broadcast() {
    // RFC 1122 3.2.2: no ICMP error about "a datagram sent as a link-layer broadcast".
    let t0 = Instant::now();
    let mut d = director(
        &["-A -u 10.0.0.100:53 -s rr"],
        DirectorConfig::default(),
        t0,
    );
    let mut u = udp("192.0.2.1:5353", "10.0.0.100:53", b"q");
    let s = u.start;
    u.buf[s..s + 6].copy_from_slice(&[0xff; 6]);
    assert_eq!(
        run(&mut d, &mut u, t0),
        Verdict::Drop(DropReason::NoRealServer)
    );
}

#[test]
fn non_persistent_port_zero_service_answers_port_unreachable() {
    // ip_vs_schedule: "if (!svc->fwmark && vport != svc->port)" -> "port zero only
    // supported in persistent services", *ignored = 0 -> ip_vs_leave. ipvsadm refuses such a
    // service ("Zero port specified for non-persistent service"), the API does not.
    use lvs_core::service::{DestConfig, ForwardMethod, Protocol, ServiceConfig, ServiceKey};
    let t0 = Instant::now();
    let mut d = lvs_core::Director::new(DirectorConfig::default(), t0);
    let key = ServiceKey::Addr {
        protocol: Protocol::Tcp,
        addr: sa("10.0.0.100:0"),
    };
    d.add_service(key, ServiceConfig::default(), t0).unwrap();
    d.add_dest(
        &key,
        DestConfig {
            addr: sa("10.1.0.1:0"),
            forward: ForwardMethod::Route,
            weight: 1,
            u_threshold: 0,
            l_threshold: 0,
        },
        t0,
    )
    .unwrap();
    let mut f = tcp("192.0.2.1:40000", "10.0.0.100:80", SYN);
    let v = run(&mut d, &mut f, t0);
    assert!(
        matches!(
            v,
            Verdict::Icmp {
                reason: DropReason::NoRealServer,
                ..
            }
        ),
        "{v:?}"
    );
}

// ---------------------------------------------------------------------------------------
// TUN: __ip_vs_get_out_rt(_v6) calls decrement_ttl() before the MTU check
// (ensure_mtu_is_adequate), so the too-big reply quotes the decremented TTL.
// ---------------------------------------------------------------------------------------

/// A director with one IPIP real server 10.1.0.1 behind a path of MTU 200.
fn ipip_mtu_200(t0: Instant) -> lvs_core::Director {
    let cfg = DirectorConfig {
        tun_mtu: 200,
        ..DirectorConfig::default()
    };
    director(
        &[
            "-A -t 10.0.0.100:80 -s rr",
            "-a -t 10.0.0.100:80 -r 10.1.0.1 -i",
        ],
        cfg,
        t0,
    )
}

#[test]
fn tun_frag_needed_quotes_the_decremented_ttl() {
    let t0 = Instant::now();
    let mut d = ipip_mtu_200(t0);
    let mut f = tcp_ttl("192.0.2.1:40000", "10.0.0.100:80", SYN, 64, &[7u8; 300]);
    let v = run(&mut d, &mut f, t0);
    assert_icmp(&v, DropReason::TooBig);
    let (h, ty, quote) = icmpv4(f.out(&v));
    // Budget: MTU 200 - 20 (outer IPv4 header) = 180 (__ip_vs_get_out_rt, IPIP).
    assert_eq!(
        ty,
        Icmpv4Type::DestinationUnreachable(DestUnreachableHeader::FragmentationNeeded {
            next_hop_mtu: 180
        })
    );
    assert_eq!(h.source, v4("10.0.0.100"));
    assert_eq!(h.destination, v4("192.0.2.1"));
    let q = quoted_v4(&quote);
    assert_eq!(q.time_to_live, 63, "decrement_ttl ran before the MTU check");
    assert_eq!(q.source, v4("192.0.2.1"));
    assert_eq!(q.destination, v4("10.0.0.100"));
}

#[test]
fn tun_packet_too_big_v6_quotes_the_decremented_hop_limit() {
    let t0 = Instant::now();
    let cfg = DirectorConfig {
        tun_mtu: 1400,
        ..DirectorConfig::default()
    };
    let mut d = tun_v6_director(cfg, t0);
    let mut f = v6_syn(40000, 1400);
    let v = run(&mut d, &mut f, t0);
    assert_icmp(&v, DropReason::TooBig);
    let out = f.out(&v);
    let p = SlicedPacket::from_ethernet(out).unwrap();
    let Some(NetSlice::Ipv6(ip6)) = &p.net else {
        panic!()
    };
    let h = ip6.header().to_header();
    let Some(TransportSlice::Icmpv6(i)) = &p.transport else {
        panic!()
    };
    assert!(i.is_checksum_valid(h.source, h.destination));
    // Budget: 1400 - 40 (outer IPv6 header) = 1360 (__ip_vs_get_out_rt_v6).
    assert_eq!(i.icmp_type(), Icmpv6Type::PacketTooBig { mtu: 1360 });
    let quote = i.payload();
    // RFC 4443 2.4(c): within 1280 bytes; hop limit already decremented.
    assert_eq!(quote.len(), 1280 - 48);
    assert_eq!(quote[7], 63, "decrement_ttl ran before the MTU check");
    assert_eq!(quote[8..40], f.bytes()[22..54], "addresses untouched");
}

#[test]
fn tun_too_big_at_ttl_1_gets_time_exceeded_not_frag_needed() {
    // decrement_ttl() fails first (icmp_send(ICMP_TIME_EXCEEDED)), the MTU is never checked.
    let t0 = Instant::now();
    let mut d = ipip_mtu_200(t0);
    let mut f = tcp_ttl("192.0.2.1:40000", "10.0.0.100:80", SYN, 1, &[7u8; 300]);
    let v = run(&mut d, &mut f, t0);
    assert_icmp(&v, DropReason::Ttl);
    let (_, ty, quote) = icmpv4(f.out(&v));
    assert_eq!(
        ty,
        Icmpv4Type::TimeExceeded(TimeExceededCode::TtlExceededInTransit)
    );
    assert_eq!(quoted_v4(&quote).time_to_live, 1, "quoted as received");
}

// ---------------------------------------------------------------------------------------
// Relay of ICMP errors about our tunnel packets (ip_vs_in_icmp, "Special case for errors for
// IPIP/UDP/GRE tunnel packets").
// ---------------------------------------------------------------------------------------

const LOCAL: &str = "10.0.0.1";

/// A director with local_v4 = LOCAL and one TUN real server 10.1.0.1 of the given
/// `tunnel` options (e.g. "" for IPIP, "--tun-type gue --tun-port 6080").
fn tun_director(tunnel: &str, t0: Instant) -> lvs_core::Director {
    let cfg = DirectorConfig {
        local_v4: Some(LOCAL.parse().unwrap()),
        ..DirectorConfig::default()
    };
    director(
        &[
            "-A -t 10.0.0.100:80 -s rr",
            &format!("-a -t 10.0.0.100:80 -r 10.1.0.1 -i {tunnel}"),
        ],
        cfg,
        t0,
    )
}

/// Send a client segment through `d` and return the encapsulated packet (from its outer IP
/// header) the director transmitted: the tunnel packet lvs-fwd built.
fn tunnelled(d: &mut lvs_core::Director, f: &mut Frame, t0: Instant) -> Vec<u8> {
    let v = run(d, f, t0);
    assert_eq!(next_hop(&v), ip("10.1.0.1"));
    f.out(&v)[14..].to_vec()
}

/// outpkts / outbytes of the real server 10.1.0.1 from the director's snapshot.
fn rs_out(d: &lvs_core::Director) -> (u64, u64) {
    let snap = d.snapshot();
    let rs = &snap.services[0].dests[0];
    (rs.stats.outpkts, rs.stats.outbytes)
}

/// Check a relayed error: a Transmit to the client side, from the VIP to the CIP, of type
/// `ty`, quoting the client's packet as it was inside the tunnel (`inner`).
fn check_relay(f: &Frame, v: &Verdict, ty: Icmpv4Type, inner: &[u8]) {
    let Verdict::Transmit { next_hop, side, .. } = *v else {
        panic!("{v:?}")
    };
    assert_eq!((next_hop, side), (ip("192.0.2.1"), Side::Client));
    let (h, got, quote) = icmpv4(f.out(v));
    assert_eq!(got, ty);
    assert_eq!(h.source, v4("10.0.0.100"), "icmp_send from the VIP");
    assert_eq!(h.destination, v4("192.0.2.1"));
    let q = quoted_v4(&quote);
    assert_eq!(
        (q.source, q.destination),
        (v4("192.0.2.1"), v4("10.0.0.100"))
    );
    assert_eq!(quote[..], inner[..quote.len()]);
}

#[test]
fn ipip_frag_needed_is_relayed_to_the_client_with_the_tunnel_overhead_taken_off() {
    let t0 = Instant::now();
    let mut d = tun_director("", t0);
    let mut f = tcp_ttl("192.0.2.1:40000", "10.0.0.100:80", SYN, 64, &[1u8; 100]);
    let pkt = tunnelled(&mut d, &mut f, t0);
    assert_eq!(pkt[9], 4, "IPIP");
    let before = rs_out(&d);
    let mut e = router_error(LOCAL, frag_needed(1400), &pkt);
    let v = run(&mut d, &mut e, t0);
    // ip_vs_in_icmp: mtu = the route's PMTU after ipv4_update_pmtu (1400), minus the outer
    // IPv4 header (20): 1380.
    check_relay(&e, &v, frag_needed(1380), &pkt[20..]);
    // ip_vs_out_stats with the stripped packet (the quoted client packet).
    let quoted_client = pkt.len().min(548) - 20;
    assert_eq!(rs_out(&d), (before.0 + 1, before.1 + quoted_client as u64));
}

#[test]
fn frag_needed_mtu_is_the_route_mtu_after_the_update() {
    // __ip_rt_update_pmtu: a report below ip_rt_min_pmtu (552) lowers the route to 552 only;
    // one above the route's MTU leaves it (tun_mtu 1500).
    let t0 = Instant::now();
    for (reported, relayed) in [(300u16, 552 - 20), (9000, 1500 - 20), (1280, 1260)] {
        let mut d = tun_director("", t0);
        let mut f = tcp("192.0.2.1:40000", "10.0.0.100:80", SYN);
        let pkt = tunnelled(&mut d, &mut f, t0);
        let mut e = router_error(LOCAL, frag_needed(reported), &pkt);
        let v = run(&mut d, &mut e, t0);
        check_relay(&e, &v, frag_needed(relayed), &pkt[20..]);
    }
}

#[test]
fn gue_time_exceeded_is_relayed_unchanged() {
    let t0 = Instant::now();
    let mut d = tun_director("--tun-type gue --tun-port 6080", t0);
    let mut f = tcp("192.0.2.1:40000", "10.0.0.100:80", SYN);
    let pkt = tunnelled(&mut d, &mut f, t0);
    assert_eq!(pkt[9], 17, "GUE over UDP");
    let te = Icmpv4Type::TimeExceeded(TimeExceededCode::TtlExceededInTransit);
    let mut e = router_error(LOCAL, te.clone(), &pkt);
    let v = run(&mut d, &mut e, t0);
    // Outer IPv4 (20) + UDP (8) + GUE (4) before the client's packet.
    check_relay(&e, &v, te, &pkt[32..]);
}

#[test]
fn gre_frag_needed_subtracts_the_gre_header_too() {
    let t0 = Instant::now();
    let mut d = tun_director("--tun-type gre", t0);
    let mut f = tcp("192.0.2.1:40000", "10.0.0.100:80", SYN);
    let pkt = tunnelled(&mut d, &mut f, t0);
    assert_eq!(pkt[9], 47, "GRE");
    let mut e = router_error(LOCAL, frag_needed(1400), &pkt);
    let v = run(&mut d, &mut e, t0);
    // mtu -= sizeof(struct iphdr) + ulen (GRE base header, 4 bytes).
    check_relay(&e, &v, frag_needed(1400 - 24), &pkt[24..]);
}

#[test]
fn host_unreachable_for_the_tunnel_is_relayed_when_local_v4_is_unset() {
    // Without local_v4 the outer source is the VIP; errors come back to the VIP.
    let t0 = Instant::now();
    let mut d = ipip_mtu_200(t0);
    let mut f = tcp("192.0.2.1:40000", "10.0.0.100:80", SYN);
    let pkt = tunnelled(&mut d, &mut f, t0);
    assert_eq!(&pkt[12..16], &v4("10.0.0.100"));
    let hu = Icmpv4Type::DestinationUnreachable(DestUnreachableHeader::Host);
    let mut e = router_error("10.0.0.100", hu.clone(), &pkt);
    let v = run(&mut d, &mut e, t0);
    check_relay(&e, &v, hu, &pkt[20..]);
}

#[test]
fn frag_needed_about_a_client_packet_without_df_is_absorbed() {
    // "Client uses PMTUD?" No DF: nothing is sent, the error is consumed, not counted.
    let t0 = Instant::now();
    let mut d = tun_director("", t0);
    let mut f = tcp("192.0.2.1:40000", "10.0.0.100:80", SYN);
    // Clear DF on the client's packet and fix its header checksum.
    let s = f.start;
    let (mut h, _) = Ipv4Header::from_slice(&f.buf[s + 14..s + 34]).unwrap();
    h.dont_fragment = false;
    h.header_checksum = h.calc_header_checksum();
    f.buf[s + 14..s + 34].copy_from_slice(&h.to_bytes());
    let pkt = tunnelled(&mut d, &mut f, t0);
    let before = rs_out(&d);
    let mut e = router_error(LOCAL, frag_needed(1400), &pkt);
    assert_eq!(
        run(&mut d, &mut e, t0),
        Verdict::Drop(DropReason::TunnelIcmp)
    );
    assert_eq!(rs_out(&d), before);
    assert_eq!(d.drops(DropReason::TunnelIcmp), 1);
}

#[test]
fn unrelated_icmp_errors_stay_local() {
    let t0 = Instant::now();
    let mut d = tun_director("", t0);
    let mut f = tcp("192.0.2.1:40000", "10.0.0.100:80", SYN);
    let pkt = tunnelled(&mut d, &mut f, t0);
    // Addressed to someone else than us.
    let mut e = router_error("10.0.0.7", frag_needed(1400), &pkt);
    assert_eq!(run(&mut d, &mut e, t0), Verdict::Local);
    // Quoting a tunnel packet to an address that is no TUN real server of ours.
    let mut other = pkt.clone();
    other[16..20].copy_from_slice(&v4("10.1.0.9"));
    let mut h = Ipv4Header::from_slice(&other[..20]).unwrap().0;
    h.header_checksum = h.calc_header_checksum();
    other[..20].copy_from_slice(&h.to_bytes());
    let mut e = router_error(LOCAL, frag_needed(1400), &other);
    assert_eq!(run(&mut d, &mut e, t0), Verdict::Local);
    // Quoting a tunnel packet of a GUE port that real server does not use.
    let mut g = tun_director("--tun-type gue --tun-port 6080", t0);
    let mut f = tcp("192.0.2.1:40000", "10.0.0.100:80", SYN);
    let mut pkt = tunnelled(&mut g, &mut f, t0);
    pkt[22..24].copy_from_slice(&6081u16.to_be_bytes());
    let mut e = router_error(LOCAL, frag_needed(1400), &pkt);
    assert_eq!(run(&mut g, &mut e, t0), Verdict::Local);
    // About a tunnel packet whose client flow has no connection (schedule_icmp is off).
    let mut d2 = tun_director("", t0);
    let mut e = router_error(
        LOCAL,
        frag_needed(1400),
        &tunnelled(
            &mut d,
            &mut tcp("192.0.2.1:40001", "10.0.0.100:80", SYN),
            t0,
        ),
    );
    assert_eq!(run(&mut d2, &mut e, t0), Verdict::Local);
    assert_eq!(d.drops(DropReason::TunnelIcmp), 0);
}

#[test]
fn tunnel_icmp_with_a_bad_checksum_is_dropped() {
    let t0 = Instant::now();
    let mut d = tun_director("", t0);
    let mut f = tcp("192.0.2.1:40000", "10.0.0.100:80", SYN);
    let pkt = tunnelled(&mut d, &mut f, t0);
    let mut e = router_error(LOCAL, frag_needed(1400), &pkt);
    let s = e.start;
    e.buf[s + 14 + 20 + 2] ^= 0x55;
    assert_eq!(
        run(&mut d, &mut e, t0),
        Verdict::Drop(DropReason::Malformed)
    );
}

#[test]
fn tunnel_errors_are_steered_to_the_worker_of_their_client() {
    // With N workers (Director::steer by client hash), a router's error about a tunnel packet
    // must reach the worker whose table holds the client's connection, for IPIP and GUE.
    let t0 = Instant::now();
    let n = 4usize;
    for tunnel in ["", "--tun-type gue --tun-port 6080", "--tun-type gre"] {
        let mut ws: Vec<_> = (0..n as u16)
            .map(|i| {
                let cfg = DirectorConfig {
                    local_v4: Some(LOCAL.parse().unwrap()),
                    worker: (i, n as u16),
                    ..DirectorConfig::default()
                };
                director(
                    &[
                        "-A -t 10.0.0.100:80 -s rr",
                        &format!("-a -t 10.0.0.100:80 -r 10.1.0.1 -i {tunnel}"),
                    ],
                    cfg,
                    t0,
                )
            })
            .collect();
        let mut workers_seen = std::collections::HashSet::new();
        for c in 1..=24u8 {
            let client = format!("192.0.2.{c}:40000");
            let mut f = tcp(&client, "10.0.0.100:80", SYN);
            let w = ws[0].steer(f.bytes(), n);
            workers_seen.insert(w);
            let pkt = tunnelled(&mut ws[w], &mut f, t0);
            let mut e = router_error(LOCAL, frag_needed(1400), &pkt);
            let we = ws[0].steer(e.bytes(), n);
            assert_eq!(we, w, "{tunnel:?} {client}");
            let v = run(&mut ws[we], &mut e, t0);
            assert_eq!(next_hop(&v), ip(&client[..client.len() - 6]));
        }
        assert!(workers_seen.len() > 1, "the clients spread over workers");
    }
}

#[test]
fn relayed_tunnel_errors_are_rate_limited_toward_the_client_except_frag_needed() {
    // ip_vs_in_icmp relays with icmp_send, so icmpv4_xrlim_allow applies toward the client:
    // time exceeded (type 11) a burst of 6 per client; fragmentation needed never limited.
    let t0 = Instant::now();
    let mut d = tun_director("", t0);
    let mut f = tcp("192.0.2.1:40000", "10.0.0.100:80", SYN);
    let pkt = tunnelled(&mut d, &mut f, t0);
    let te = Icmpv4Type::TimeExceeded(TimeExceededCode::TtlExceededInTransit);
    for i in 0..8 {
        let mut e = router_error(LOCAL, te.clone(), &pkt);
        let v = run(&mut d, &mut e, t0);
        if i < 6 {
            check_relay(&e, &v, te.clone(), &pkt[20..]);
        } else {
            assert_eq!(v, Verdict::Drop(DropReason::IcmpRateLimited), "{i}");
        }
    }
    for _ in 0..10 {
        let mut e = router_error(LOCAL, frag_needed(1400), &pkt);
        let v = run(&mut d, &mut e, t0);
        check_relay(&e, &v, frag_needed(1380), &pkt[20..]);
    }
    assert_eq!(d.drops(DropReason::IcmpRateLimited), 2);
}
