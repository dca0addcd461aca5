//! The path MTU the director learns toward a TUN real server, as the kernel keeps it on the
//! route toward the RIP: `ip_vs_in_icmp` calls `ipv4_update_pmtu` for an ICMP fragmentation
//! needed about one of our tunnel packets, `__ip_rt_update_pmtu` (net/ipv4/route.c) stores it
//! as a next-hop exception for `ip_rt_mtu_expires` (600 s), never below `ip_rt_min_pmtu` (552)
//! and never above the route's MTU, and `__ip_vs_get_out_rt` (ip_vs_xmit.c) checks later tunnel
//! packets against `dst_mtu()` of that route minus the tunnel overhead. Every frame the director
//! builds is parsed and its checksums recomputed by etherparse.

mod pipeline_util;

use std::net::IpAddr;
use std::time::{Duration, Instant};

use etherparse::{Icmpv4Type, Icmpv6Type, Ipv4Header, Ipv4HeaderSlice, PacketBuilder};
use lvs_core::{DirectorConfig, DropReason, PacketMeta, Side, Verdict};
use pipeline_util::*;

const LOCAL: &str = "10.0.0.1";
/// RIP A behind VIP 10.0.0.100 and RIP B behind VIP 10.0.0.101, both IPIP.
const RIP_A: &str = "10.1.0.1";
const RIP_B: &str = "10.1.0.2";
const CLIENT: &str = "192.0.2.1";

fn v6(s: &str) -> [u8; 16] {
    s.parse::<std::net::Ipv6Addr>().unwrap().octets()
}

/// `tun_mtu` 1500 (default), local_v4 = LOCAL, and one IPIP (or `tunnel`) real server per VIP:
/// 10.0.0.100 -> RIP A, 10.0.0.101 -> RIP B.
fn two_tunnels(tunnel: &str, cfg: DirectorConfig, t0: Instant) -> lvs_core::Director {
    let cfg = DirectorConfig {
        local_v4: Some(LOCAL.parse().unwrap()),
        ..cfg
    };
    director(
        &[
            "-A -t 10.0.0.100:80 -s rr",
            &format!("-a -t 10.0.0.100:80 -r {RIP_A} -i {tunnel}"),
            "-A -t 10.0.0.101:80 -s rr",
            &format!("-a -t 10.0.0.101:80 -r {RIP_B} -i {tunnel}"),
        ],
        cfg,
        t0,
    )
}

/// A client SYN (DF set, as etherparse builds IPv4) of `ip_len` bytes of IP packet from
/// CLIENT:`cport` to `vip`:80.
fn syn(cport: u16, vip: &str, ip_len: usize) -> Frame {
    tcp_ttl(
        &format!("{CLIENT}:{cport}"),
        &format!("{vip}:80"),
        SYN,
        64,
        &vec![0x5a; ip_len - 40],
    )
}

/// Run `f` through `d`, expect it tunnelled to `rip`, and check the tunnel packet with
/// etherparse: the outer IPv4 header (checksum recomputed, protocol, length, from LOCAL to
/// `rip`) and the inner client packet (IPv4 and TCP checksums recomputed). Returns the outer
/// IP packet.
fn tunnelled(d: &mut lvs_core::Director, f: &mut Frame, rip: &str, now: Instant) -> Vec<u8> {
    let v = run(d, f, now);
    let Verdict::Transmit { next_hop, side, .. } = v else {
        panic!("expected the packet tunnelled to {rip}, got {v:?}")
    };
    assert_eq!((next_hop, side), (ip(rip), Side::Server));
    let out = f.out(&v);
    assert_eq!(&out[12..14], &[0x08, 0x00]);
    let pkt = out[14..].to_vec();
    let outer = Ipv4HeaderSlice::from_slice(&pkt).unwrap().to_header();
    assert_eq!(outer.calc_header_checksum(), outer.header_checksum);
    assert_eq!(outer.source, v4(LOCAL));
    assert_eq!(outer.destination, v4(rip));
    assert_eq!(usize::from(outer.total_len), pkt.len());
    let hl = outer.header_len();
    if outer.protocol == etherparse::IpNumber::IPV4 {
        // IPIP: the client's packet right after the outer header.
        let mut eth = vec![0u8; 12];
        eth.extend_from_slice(&[0x08, 0x00]);
        eth.extend_from_slice(&pkt[hl..]);
        let s = seen(&eth);
        assert_eq!(s.src.ip(), ip(CLIENT));
        assert_eq!(s.ttl, 63);
    }
    pkt
}

/// Checks an ICMPv4 error frame with etherparse (IPv4 header checksum and ICMP checksum
/// recomputed) from `src` to CLIENT; returns its type and the quoted packet's IPv4 header.
fn icmp_to_client(frame: &[u8], src: &str) -> (Icmpv4Type, Ipv4Header) {
    let (h, ty, quote) = icmpv4(frame);
    assert_eq!((h.source, h.destination), (v4(src), v4(CLIENT)));
    let (q, _) = Ipv4Header::from_slice(&quote).expect("quotes an IPv4 header");
    (ty, q)
}

/// Learn a PMTU toward `rip` (behind `vip`): a small SYN from CLIENT:`cport` is tunnelled, the
/// router reports `reported`, and the director relays the error to the client (the tunnel
/// case of `ip_vs_in_icmp` ran).
fn report(
    d: &mut lvs_core::Director,
    cport: u16,
    vip: &str,
    rip: &str,
    reported: u16,
    now: Instant,
) {
    let pkt = tunnelled(d, &mut syn(cport, vip, 60), rip, now);
    let mut e = router_error(LOCAL, frag_needed(reported), &pkt);
    let v = run(d, &mut e, now);
    let Verdict::Transmit { next_hop, side, .. } = v else {
        panic!("expected the relay to the client, got {v:?}")
    };
    assert_eq!((next_hop, side), (ip(CLIENT), Side::Client));
    let (ty, _) = icmp_to_client(e.out(&v), vip);
    // "Prefer the resulting PMTU": the route's MTU after the update, minus 20.
    let route = d.pmtu(ip(rip), now).unwrap_or(1500);
    let quoted_overhead = pkt.len() - 60;
    assert_eq!(ty, frag_needed((route as usize - quoted_overhead) as u16));
}

/// Expect `f` (to `vip`) refused with ICMP fragmentation needed carrying `mtu`, from the VIP.
fn expect_too_big(d: &mut lvs_core::Director, mut f: Frame, vip: &str, mtu: u16, now: Instant) {
    let v = run(d, &mut f, now);
    let Verdict::Icmp {
        reason: DropReason::TooBig,
        ..
    } = v
    else {
        panic!("expected fragmentation needed {mtu}, got {v:?}")
    };
    let (ty, q) = icmp_to_client(f.out(&v), vip);
    assert_eq!(ty, frag_needed(mtu));
    assert_eq!(q.destination, v4(vip), "quotes the client's packet");
}

#[test]
fn learned_pmtu_refuses_a_larger_df_packet_to_that_rip_with_the_tunnel_budget() {
    let t0 = Instant::now();
    let mut d = two_tunnels("", DirectorConfig::default(), t0);
    assert_eq!(d.pmtu(ip(RIP_A), t0), None);
    report(&mut d, 40000, "10.0.0.100", RIP_A, 1400, t0);
    assert_eq!(d.pmtu(ip(RIP_A), t0), Some(1400));
    // 1450 + 20 (IPIP) > 1400: __ip_vs_get_out_rt's budget is 1400 - 20 = 1380.
    let t1 = at(t0, 1);
    expect_too_big(
        &mut d,
        syn(40001, "10.0.0.100", 1450),
        "10.0.0.100",
        1380,
        t1,
    );
    // 1300 + 20 <= 1400: tunnelled.
    let pkt = tunnelled(&mut d, &mut syn(40002, "10.0.0.100", 1300), RIP_A, t1);
    assert_eq!(pkt.len(), 1320);
    // Exactly the budget fits (len <= budget).
    tunnelled(&mut d, &mut syn(40003, "10.0.0.100", 1380), RIP_A, t1);
    // RIP B's route still has the device MTU (tun_mtu 1500: budget 1480).
    assert_eq!(d.pmtu(ip(RIP_B), t1), None);
    tunnelled(&mut d, &mut syn(40004, "10.0.0.101", 1450), RIP_B, t1);
    expect_too_big(
        &mut d,
        syn(40005, "10.0.0.101", 1481),
        "10.0.0.101",
        1480,
        t1,
    );
    assert_eq!(d.drops(DropReason::TooBig), 2);
}

#[test]
fn learned_pmtu_expires_after_mtu_expires() {
    // ip_rt_mtu_expires = 10 * 60 * HZ; ipv4_mtu() uses the device MTU once
    // time_after_eq(jiffies, expires).
    let t0 = Instant::now();
    let mut d = two_tunnels("", DirectorConfig::default(), t0);
    report(&mut d, 40000, "10.0.0.100", RIP_A, 1400, t0);
    let e = d.pmtu_entries(t0);
    assert_eq!(e.len(), 1);
    assert_eq!((e[0].rip, e[0].mtu), (ip(RIP_A), 1400));
    assert_eq!(e[0].expires_in, Duration::from_secs(600));
    assert!(!e[0].locked);
    let t599 = at(t0, 599);
    assert_eq!(d.pmtu(ip(RIP_A), t599), Some(1400));
    expect_too_big(
        &mut d,
        syn(40001, "10.0.0.100", 1450),
        "10.0.0.100",
        1380,
        t599,
    );
    let t601 = at(t0, 601);
    assert_eq!(d.pmtu(ip(RIP_A), t601), None);
    assert!(d.pmtu_entries(t601).is_empty());
    tunnelled(&mut d, &mut syn(40002, "10.0.0.100", 1450), RIP_A, t601);
    expect_too_big(
        &mut d,
        syn(40003, "10.0.0.100", 1481),
        "10.0.0.100",
        1480,
        t601,
    );
}

#[test]
fn mtu_expires_and_min_pmtu_follow_the_config() {
    let t0 = Instant::now();
    let cfg = DirectorConfig {
        mtu_expires: 30,
        min_pmtu: 1000,
        ..DirectorConfig::default()
    };
    let mut d = two_tunnels("", cfg, t0);
    report(&mut d, 40000, "10.0.0.100", RIP_A, 700, t0);
    assert_eq!(d.pmtu(ip(RIP_A), at(t0, 29)), Some(1000));
    assert_eq!(d.pmtu(ip(RIP_A), at(t0, 30)), None);
}

#[test]
fn a_report_below_min_pmtu_is_raised_to_552_and_locked() {
    let t0 = Instant::now();
    let mut d = two_tunnels("", DirectorConfig::default(), t0);
    report(&mut d, 40000, "10.0.0.100", RIP_A, 300, t0);
    assert_eq!(d.pmtu(ip(RIP_A), t0), Some(552));
    assert!(d.pmtu_entries(t0)[0].locked, "mtu lock");
    expect_too_big(&mut d, syn(40001, "10.0.0.100", 600), "10.0.0.100", 532, t0);
    tunnelled(&mut d, &mut syn(40002, "10.0.0.100", 532), RIP_A, t0);
    // Locked: a later report (even one that would lower it) changes nothing until expiry.
    report(&mut d, 40003, "10.0.0.100", RIP_A, 500, at(t0, 10));
    let e = d.pmtu_entries(at(t0, 10));
    assert_eq!((e[0].mtu, e[0].expires_in), (552, Duration::from_secs(590)));
}

#[test]
fn a_larger_report_never_raises_the_pmtu_nor_exceeds_tun_mtu() {
    let t0 = Instant::now();
    let mut d = two_tunnels("", DirectorConfig::default(), t0);
    // Above the route's MTU (tun_mtu 1500): nothing learned (old_mtu < mtu).
    report(&mut d, 40000, "10.0.0.100", RIP_A, 9000, t0);
    assert_eq!(d.pmtu(ip(RIP_A), t0), None);
    tunnelled(&mut d, &mut syn(40001, "10.0.0.100", 1480), RIP_A, t0);
    // Learned 1400; a later 1450 leaves it at 1400 (a PMTU only goes down until it expires).
    report(&mut d, 40002, "10.0.0.100", RIP_A, 1400, t0);
    report(&mut d, 40003, "10.0.0.100", RIP_A, 1450, at(t0, 5));
    assert_eq!(d.pmtu(ip(RIP_A), at(t0, 5)), Some(1400));
    // A lower one lowers it.
    report(&mut d, 40004, "10.0.0.100", RIP_A, 1300, at(t0, 6));
    assert_eq!(d.pmtu(ip(RIP_A), at(t0, 6)), Some(1300));
    expect_too_big(
        &mut d,
        syn(40005, "10.0.0.100", 1300),
        "10.0.0.100",
        1280,
        at(t0, 6),
    );
}

#[test]
fn the_same_report_refreshes_the_expiry_only_in_the_second_half_of_its_life() {
    // __ip_rt_update_pmtu: rt_pmtu == mtu && time_before(jiffies, expires - mtu_expires / 2)
    // returns without touching the exception.
    let t0 = Instant::now();
    let mut d = two_tunnels("", DirectorConfig::default(), t0);
    report(&mut d, 40000, "10.0.0.100", RIP_A, 1400, t0);
    report(&mut d, 40001, "10.0.0.100", RIP_A, 1400, at(t0, 200));
    assert_eq!(
        d.pmtu_entries(at(t0, 200))[0].expires_in,
        Duration::from_secs(400)
    );
    report(&mut d, 40002, "10.0.0.100", RIP_A, 1400, at(t0, 350));
    assert_eq!(
        d.pmtu_entries(at(t0, 350))[0].expires_in,
        Duration::from_secs(600)
    );
    assert_eq!(d.pmtu(ip(RIP_A), at(t0, 900)), Some(1400));
}

#[test]
fn a_report_about_a_client_packet_without_df_is_learned_though_not_relayed() {
    // ip_vs_in_icmp calls ipv4_update_pmtu before "Client uses PMTUD?".
    let t0 = Instant::now();
    let mut d = two_tunnels("", DirectorConfig::default(), t0);
    let mut f = syn(40000, "10.0.0.100", 60);
    let s = f.start;
    let (mut h, _) = Ipv4Header::from_slice(&f.buf[s + 14..s + 34]).unwrap();
    h.dont_fragment = false;
    h.header_checksum = h.calc_header_checksum();
    f.buf[s + 14..s + 34].copy_from_slice(&h.to_bytes());
    let pkt = tunnelled(&mut d, &mut f, RIP_A, t0);
    let v = run(
        &mut d,
        &mut router_error(LOCAL, frag_needed(1400), &pkt),
        t0,
    );
    assert_eq!(v, Verdict::Drop(DropReason::TunnelIcmp));
    assert_eq!(d.pmtu(ip(RIP_A), t0), Some(1400));
    expect_too_big(
        &mut d,
        syn(40001, "10.0.0.100", 1450),
        "10.0.0.100",
        1380,
        t0,
    );
}

#[test]
fn gue_budget_is_the_learned_pmtu_minus_the_gue_overhead() {
    // Outer IPv4 20 + UDP 8 + GUE 4 = 32 (__ip_vs_get_out_rt with IP_VS_RT_MODE_TUNNEL).
    let t0 = Instant::now();
    let mut d = two_tunnels(
        "--tun-type gue --tun-port 6080",
        DirectorConfig::default(),
        t0,
    );
    report(&mut d, 40000, "10.0.0.100", RIP_A, 1400, t0);
    assert_eq!(d.pmtu(ip(RIP_A), t0), Some(1400));
    expect_too_big(
        &mut d,
        syn(40001, "10.0.0.100", 1369),
        "10.0.0.100",
        1368,
        t0,
    );
    tunnelled(&mut d, &mut syn(40002, "10.0.0.100", 1368), RIP_A, t0);
}

#[test]
fn deleting_the_real_server_keeps_the_route_exception() {
    // Route exceptions belong to the routing table, not to IPVS: ip_vs_del_dest leaves them.
    let t0 = Instant::now();
    let mut d = two_tunnels("", DirectorConfig::default(), t0);
    report(&mut d, 40000, "10.0.0.100", RIP_A, 1400, t0);
    d.apply_line(&format!("-d -t 10.0.0.100:80 -r {RIP_A}"), t0)
        .unwrap();
    assert_eq!(d.pmtu(ip(RIP_A), t0), Some(1400));
    d.apply_line(&format!("-a -t 10.0.0.100:80 -r {RIP_A} -i"), t0)
        .unwrap();
    expect_too_big(
        &mut d,
        syn(41000, "10.0.0.100", 1450),
        "10.0.0.100",
        1380,
        t0,
    );
}

#[test]
fn the_table_holds_at_most_pmtu_max_entries_evicting_the_oldest() {
    // pmtu_max 4: one bucket of 4 RIPs; a fifth and sixth evict the least recently updated.
    let t0 = Instant::now();
    let cfg = DirectorConfig {
        local_v4: Some(LOCAL.parse().unwrap()),
        pmtu_max: 4,
        ..DirectorConfig::default()
    };
    let mut rules = Vec::new();
    for i in 0..6 {
        rules.push(format!("-A -t 10.0.0.{}:80 -s rr", 100 + i));
        rules.push(format!(
            "-a -t 10.0.0.{}:80 -r 10.1.0.{} -i",
            100 + i,
            1 + i
        ));
    }
    let rules: Vec<&str> = rules.iter().map(String::as_str).collect();
    let mut d = director(&rules, cfg, t0);
    for i in 0..6u16 {
        let vip = format!("10.0.0.{}", 100 + i);
        let rip = format!("10.1.0.{}", 1 + i);
        report(
            &mut d,
            40000 + i,
            &vip,
            &rip,
            1400 - i,
            at(t0, u64::from(i)),
        );
    }
    let now = at(t0, 10);
    let e = d.pmtu_entries(now);
    assert_eq!(e.len(), 4);
    assert_eq!(d.pmtu(ip("10.1.0.1"), now), None, "oldest evicted");
    assert_eq!(d.pmtu(ip("10.1.0.2"), now), None, "second oldest evicted");
    for i in 2..6u16 {
        assert_eq!(
            d.pmtu(ip(&format!("10.1.0.{}", 1 + i)), now),
            Some(u32::from(1400 - i))
        );
    }
    // The evicted RIP's route is back at tun_mtu.
    tunnelled(&mut d, &mut syn(41000, "10.0.0.100", 1450), "10.1.0.1", now);
    // pmtu_max 0: nothing is learned.
    let cfg = DirectorConfig {
        pmtu_max: 0,
        ..DirectorConfig::default()
    };
    let mut d = two_tunnels("", cfg, t0);
    report(&mut d, 40000, "10.0.0.100", RIP_A, 1400, t0);
    assert_eq!(d.pmtu(ip(RIP_A), t0), None);
}

#[test]
fn a_batch_sees_the_pmtu_learned_by_an_earlier_frame_of_the_same_batch() {
    // process_batch gives process's verdicts frame by frame: the report teaches the PMTU that
    // the next frame of the chunk is checked against.
    let t0 = Instant::now();
    let mut d = two_tunnels("", DirectorConfig::default(), t0);
    let pkt = tunnelled(&mut d, &mut syn(40000, "10.0.0.100", 60), RIP_A, t0);
    let mut e = router_error(LOCAL, frag_needed(1400), &pkt);
    let mut big = syn(40001, "10.0.0.100", 1450);
    let frames = [(e.start, e.len), (big.start, big.len)];
    let mut bufs: Vec<&mut [u8]> = vec![&mut e.buf, &mut big.buf];
    let mut verdicts = [Verdict::Local; 2];
    let n = d.process_batch(
        &mut bufs,
        &frames,
        &[PacketMeta::default(); 2],
        t0,
        &mut verdicts,
    );
    assert_eq!(n, 2);
    assert!(matches!(verdicts[0], Verdict::Transmit { .. }));
    let v = verdicts[1];
    assert!(matches!(
        v,
        Verdict::Icmp {
            reason: DropReason::TooBig,
            ..
        }
    ));
    let (ty, _) = icmp_to_client(big.out(&v), "10.0.0.100");
    assert_eq!(ty, frag_needed(1380));
}

#[test]
fn an_icmpv6_packet_too_big_about_an_ipv6_tunnel_packet_is_left_to_the_host() {
    // ip_vs_in_icmp_v6 has no tunnel case: the error is the host stack's (ip6_tnl_err updates
    // a route only for a matching ip6_tunnel device); the director learns nothing.
    let t0 = Instant::now();
    let local6 = "2001:db8::1";
    let cfg = DirectorConfig {
        local_v6: Some(local6.parse().unwrap()),
        ..DirectorConfig::default()
    };
    let mut d = tun_v6_director(cfg, t0);
    let mut f = v6_syn(40000, 100);
    let v = run(&mut d, &mut f, t0);
    assert_eq!(next_hop(&v), ip("2001:db8:1::1"));
    let pkt = f.out(&v)[14..].to_vec();
    let mut e = Vec::new();
    PacketBuilder::ethernet2(ROUTER_MAC, DIRECTOR_MAC)
        .ipv6(v6("2001:db8:1::fe"), v6(local6), 64)
        .icmpv6(Icmpv6Type::PacketTooBig { mtu: 1280 })
        .write(&mut e, &pkt)
        .unwrap();
    let mut e = Frame::new(e);
    assert_eq!(run(&mut d, &mut e, t0), Verdict::Local);
    assert_eq!(d.pmtu(ip("2001:db8:1::1"), t0), None);
    // Still checked against tun_mtu: 1400 + 40 (outer IPv6) <= 1500.
    let mut f = v6_syn(40001, 1400 - 60);
    let v = run(&mut d, &mut f, t0);
    assert_eq!(next_hop(&v), ip("2001:db8:1::1"));
}

#[test]
fn a_worker_given_another_workers_pmtu_applies_it() {
    // The kernel's route exceptions are shared by every CPU; worker directors share a learned
    // PMTU by copying it (Director::update_pmtu), under the same rules.
    let t0 = Instant::now();
    let mut w0 = two_tunnels("", DirectorConfig::default(), t0);
    let mut w1 = two_tunnels("", DirectorConfig::default(), t0);
    report(&mut w0, 40000, "10.0.0.100", RIP_A, 1400, t0);
    assert_eq!(w1.pmtu(ip(RIP_A), t0), None);
    for e in w0.pmtu_entries(t0) {
        let IpAddr::V4(rip) = e.rip else { panic!() };
        w1.update_pmtu(rip, e.mtu, t0);
    }
    assert_eq!(w1.pmtu_entries(t0), w0.pmtu_entries(t0));
    expect_too_big(
        &mut w1,
        syn(40001, "10.0.0.100", 1450),
        "10.0.0.100",
        1380,
        t0,
    );
    // The same rules: 9000 above the route MTU is ignored, 100 becomes 552.
    w1.update_pmtu(RIP_B.parse().unwrap(), 9000, t0);
    assert_eq!(w1.pmtu(ip(RIP_B), t0), None);
    w1.update_pmtu(RIP_B.parse().unwrap(), 100, t0);
    assert_eq!(w1.pmtu(ip(RIP_B), t0), Some(552));
}
