//! The ICMP errors the director sends are rate limited as the Linux stack limits `icmp_send` /
//! `icmp6_send` (net/ipv4/icmp.c `icmpv4_mask_allow`, `icmp_global_allow`,
//! `icmpv4_xrlim_allow`; net/ipv6/icmp.c `icmpv6_xrlim_allow`; net/ipv4/inetpeer.c
//! `inet_peer_xrlim_allow` with `XRLIM_BURST_FACTOR` 6 and a new peer's `rate_last = jiffies -
//! 60*HZ`), and an IP reassembly queue that expires after its first fragment arrived gets the
//! "fragment reassembly time exceeded" of net/ipv4/ip_fragment.c `ip_expire` /
//! include/net/ipv6_frag.h `ip6frag_expire_frag_queue`, drained with `Director::poll_icmp`.
//! Every generated error is checked with etherparse (header and ICMP checksums recomputed).

mod pipeline_util;

use std::net::IpAddr;
use std::time::{Duration, Instant};

use etherparse::{Icmpv4Type, Icmpv6Type, NetSlice, SlicedPacket, TransportSlice};
use lvs_core::{Director, DirectorConfig, DropReason, Side, Verdict};
use pipeline_util::*;

fn ms(t0: Instant, n: u64) -> Instant {
    t0 + Duration::from_millis(n)
}

/// A global credit so large it never refuses: the per-destination limit alone.
fn per_destination_only() -> DirectorConfig {
    DirectorConfig {
        icmp_msgs_per_sec: 1_000_000,
        icmp_msgs_burst: 1_000_000,
        ..DirectorConfig::default()
    }
}

/// A DR director for TCP 10.0.0.100:80 and [2001:db8::100]:80.
fn dr(cfg: DirectorConfig, t0: Instant) -> Director {
    director(
        &[
            "-A -t 10.0.0.100:80 -s rr",
            "-a -t 10.0.0.100:80 -r 10.1.0.1 -g",
            "-A -t [2001:db8::100]:80 -s rr",
            "-a -t [2001:db8::100]:80 -r [2001:db8:1::1]:80 -g",
        ],
        cfg,
        t0,
    )
}

/// A SYN at TTL 1 from `client` (an IP literal, port `port`) to the VIP of its family:
/// the director answers with time exceeded, if the limiter allows it.
fn ttl1(d: &mut Director, client: &str, port: u16, now: Instant) -> (Verdict, Frame) {
    let (src, dst) = if client.contains(':') {
        (
            format!("[{client}]:{port}"),
            "[2001:db8::100]:80".to_string(),
        )
    } else {
        (format!("{client}:{port}"), "10.0.0.100:80".to_string())
    };
    let mut f = tcp_ttl(&src, &dst, SYN, 1, b"x");
    let v = run(d, &mut f, now);
    (v, f)
}

/// A SYN from `client` (as in [`ttl1`]) one byte over an MTU of 1400 (IPv4, DF set: RFC
/// 1191, only DF packets get fragmentation needed) or 1280 (IPv6): the director answers with
/// fragmentation needed / packet too big, if the limiter allows it.
fn too_big(d: &mut Director, client: &str, port: u16, now: Instant) -> (Verdict, Frame) {
    let v6 = client.contains(':');
    let (src, dst, ip_len) = if v6 {
        (format!("[{client}]:{port}"), "[2001:db8::100]:80", 1281)
    } else {
        (format!("{client}:{port}"), "10.0.0.100:80", 1401)
    };
    let hl = if v6 { 60 } else { 40 };
    let mut f = tcp_ttl(&src, dst, SYN, 64, &vec![0x5a; ip_len - hl]);
    if !v6 {
        let l3 = f.start + 14;
        let (mut h, _) = etherparse::Ipv4Header::from_slice(&f.buf[l3..]).unwrap();
        h.dont_fragment = true;
        h.header_checksum = h.calc_header_checksum();
        f.buf[l3..l3 + 20].copy_from_slice(&h.to_bytes());
    }
    let v = run(d, &mut f, now);
    (v, f)
}

fn is_too_big_icmp(v: &Verdict) -> bool {
    matches!(
        v,
        Verdict::Icmp {
            reason: DropReason::TooBig,
            ..
        }
    )
}

fn is_ttl_icmp(v: &Verdict) -> bool {
    matches!(
        v,
        Verdict::Icmp {
            reason: DropReason::Ttl,
            ..
        }
    )
}

const LIMITED: Verdict = Verdict::Drop(DropReason::IcmpRateLimited);

/// An ICMPv6 error frame, checked (ICMPv6 checksum with the pseudo-header recomputed by
/// etherparse): (source, destination, type, payload).
fn icmpv6(frame: &[u8]) -> ([u8; 16], [u8; 16], Icmpv6Type, Vec<u8>) {
    let p = SlicedPacket::from_ethernet(frame).unwrap();
    let Some(NetSlice::Ipv6(ip6)) = &p.net else {
        panic!("{:?}", p.net)
    };
    let h = ip6.header().to_header();
    let Some(TransportSlice::Icmpv6(i)) = &p.transport else {
        panic!("{:?}", p.transport)
    };
    assert_eq!(
        i.header()
            .icmp_type
            .calc_checksum(h.source, h.destination, i.payload())
            .unwrap(),
        i.checksum(),
        "ICMPv6 checksum"
    );
    (h.source, h.destination, i.icmp_type(), i.payload().to_vec())
}

#[test]
fn time_exceeded_to_one_client_bursts_6_then_one_per_icmp_ratelimit() {
    // inet_peer_xrlim_allow: a new peer's tokens are min(60 s, 6 * 1000 ms); each message
    // costs 1000; tokens grow by the elapsed milliseconds.
    let t0 = Instant::now();
    let mut d = dr(per_destination_only(), t0);
    for i in 0..6 {
        let (v, f) = ttl1(&mut d, "192.0.2.1", 40000 + i, t0);
        assert!(is_ttl_icmp(&v), "message {i}: {v:?}");
        let (h, ty, _) = icmpv4(f.out(&v));
        assert_eq!(
            ty,
            Icmpv4Type::TimeExceeded(etherparse::icmpv4::TimeExceededCode::TtlExceededInTransit)
        );
        assert_eq!(h.destination, v4("192.0.2.1"));
    }
    assert_eq!(ttl1(&mut d, "192.0.2.1", 40010, t0).0, LIMITED);
    // Another client has its own bucket.
    assert!(is_ttl_icmp(&ttl1(&mut d, "192.0.2.2", 40000, t0).0));
    // 999 ms of tokens are not enough; at 1000 ms one message goes, then none.
    assert_eq!(ttl1(&mut d, "192.0.2.1", 40011, ms(t0, 999)).0, LIMITED);
    assert!(is_ttl_icmp(
        &ttl1(&mut d, "192.0.2.1", 40012, ms(t0, 1000)).0
    ));
    assert_eq!(ttl1(&mut d, "192.0.2.1", 40013, ms(t0, 1000)).0, LIMITED);
    // Idle for 6 s or more: a full burst of 6 again (tokens capped at 6 timeouts).
    let t = ms(t0, 60_000);
    for i in 0..6 {
        assert!(
            is_ttl_icmp(&ttl1(&mut d, "192.0.2.1", 41000 + i, t).0),
            "{i}"
        );
    }
    assert_eq!(ttl1(&mut d, "192.0.2.1", 41010, t).0, LIMITED);
    assert_eq!(d.drops(DropReason::IcmpRateLimited), 4);
    assert_eq!(d.drops(DropReason::Ttl), 6 + 1 + 1 + 6);
}

#[test]
fn icmp_ratelimit_sets_the_spacing_and_zero_turns_the_per_destination_limit_off() {
    let t0 = Instant::now();
    let mut d = dr(
        DirectorConfig {
            icmp_ratelimit: 250,
            ..per_destination_only()
        },
        t0,
    );
    for i in 0..6 {
        assert!(is_ttl_icmp(&ttl1(&mut d, "192.0.2.1", 40000 + i, t0).0));
    }
    assert_eq!(ttl1(&mut d, "192.0.2.1", 40010, ms(t0, 249)).0, LIMITED);
    assert!(is_ttl_icmp(
        &ttl1(&mut d, "192.0.2.1", 40011, ms(t0, 250)).0
    ));
    let mut d = dr(
        DirectorConfig {
            icmp_ratelimit: 0,
            ..per_destination_only()
        },
        t0,
    );
    for i in 0..100 {
        assert!(is_ttl_icmp(&ttl1(&mut d, "192.0.2.1", 40000 + i, t0).0));
    }
}

#[test]
fn fragmentation_needed_is_never_limited() {
    // icmpv4_mask_allow: "Don't limit PMTU discovery" (type 3 code 4), neither per
    // destination nor globally: even with a global burst of 1 and no refill.
    let t0 = Instant::now();
    let mut d = dr(
        DirectorConfig {
            tun_mtu: 1400,
            icmp_msgs_per_sec: 0,
            icmp_msgs_burst: 1,
            ..DirectorConfig::default()
        },
        t0,
    );
    for i in 0..50 {
        let (v, f) = too_big(&mut d, "192.0.2.1", 40000 + i, t0);
        assert!(is_too_big_icmp(&v), "{i}: {v:?}");
        assert_eq!(icmpv4(f.out(&v)).1, frag_needed(1400));
    }
    assert_eq!(d.drops(DropReason::IcmpRateLimited), 0);
    // Time exceeded is in the ratemask and needs global credit, which starts at 0 and with
    // icmp_msgs_per_sec 0 is never refilled (0 is not "off" for icmp_global_allow).
    for i in 0..10 {
        let client = format!("192.0.2.{}", 10 + i);
        assert_eq!(ttl1(&mut d, &client, 40000, ms(t0, 100 * i)).0, LIMITED);
    }
}

#[test]
fn ratemask_zero_disables_every_limit() {
    let t0 = Instant::now();
    let mut d = dr(
        DirectorConfig {
            icmp_ratemask: 0,
            icmp_msgs_burst: 1,
            icmp_msgs_per_sec: 0,
            ..DirectorConfig::default()
        },
        t0,
    );
    for i in 0..100 {
        assert!(
            is_ttl_icmp(&ttl1(&mut d, "192.0.2.1", 40000 + i, t0).0),
            "{i}"
        );
    }
    assert_eq!(d.drops(DropReason::IcmpRateLimited), 0);
    // A mask with only bit 3 set limits port unreachable but not time exceeded (type 11).
    let mut d = dr(
        DirectorConfig {
            icmp_ratemask: 1 << 3,
            ..per_destination_only()
        },
        t0,
    );
    for i in 0..20 {
        assert!(is_ttl_icmp(&ttl1(&mut d, "192.0.2.1", 40000 + i, t0).0));
    }
    d.apply_line("-A -t 10.0.0.101:80 -s rr", t0).unwrap();
    let mut sent = 0;
    for i in 0..20 {
        let mut f = tcp(&format!("192.0.2.1:{}", 40000 + i), "10.0.0.101:80", SYN);
        match run(&mut d, &mut f, t0) {
            v @ Verdict::Icmp { .. } => {
                assert_eq!(
                    icmpv4(f.out(&v)).1,
                    Icmpv4Type::DestinationUnreachable(
                        etherparse::icmpv4::DestUnreachableHeader::Port
                    )
                );
                sent += 1;
            }
            v => assert_eq!(v, LIMITED),
        }
    }
    assert_eq!(sent, 6, "port unreachable: a burst of 6");
}

#[test]
fn global_credit_limits_errors_to_many_destinations() {
    // icmp_global_allow: credit starts at icmp_msgs_burst (50); each sent error consumes 0, 1
    // or 2 (random, 1 on average); at 0 or below nothing goes until 20 ms (HZ / 50) after the
    // last refill, which adds icmp_msgs_per_sec * elapsed.
    let t0 = Instant::now();
    let mut d = dr(DirectorConfig::default(), t0);
    let client = |i: u32| format!("198.18.{}.{}", i / 250, i % 250 + 1);
    let mut allowed = 0;
    let mut first_refused = None;
    for i in 0..200 {
        let v = ttl1(&mut d, &client(i), 40000, t0).0;
        if is_ttl_icmp(&v) {
            allowed += 1;
            assert!(
                first_refused.is_none(),
                "nothing passes once the credit is out"
            );
        } else {
            assert_eq!(v, LIMITED);
            first_refused.get_or_insert(i);
        }
    }
    // At most 2 credits per message: at least 25 of the 50; far more than 100 would need
    // a run of zero draws no uniform stream gives.
    assert!((25..=100).contains(&allowed), "{allowed}");
    assert_eq!(d.drops(DropReason::IcmpRateLimited), 200 - allowed);
    // 19 ms later: still nothing. At 20 ms: 20 credits come back, so errors pass again.
    assert_eq!(ttl1(&mut d, &client(500), 40000, ms(t0, 19)).0, LIMITED);
    assert!(is_ttl_icmp(
        &ttl1(&mut d, &client(501), 40000, ms(t0, 20)).0
    ));
    // Over 2 s, 3 new destinations per millisecond: about icmp_msgs_per_sec (1000) per
    // second get through.
    let mut allowed = 0;
    for m in 0..2000u64 {
        for k in 0..3 {
            let i = 1000 + (m as u32) * 3 + k;
            if is_ttl_icmp(&ttl1(&mut d, &client(i % 60_000), 40000, ms(t0, 1000 + m)).0) {
                allowed += 1;
            }
        }
    }
    assert!((1700..=2400).contains(&allowed), "{allowed} in 2 s");
}

#[test]
fn ipv6_packet_too_big_is_unlimited_and_time_exceeded_is_limited_with_the_prefix_scaling() {
    let t0 = Instant::now();
    let mut d = dr(
        DirectorConfig {
            tun_mtu: 1280,
            ..per_destination_only()
        },
        t0,
    );
    // net.ipv6.icmp.ratemask default 0-1,3-127: type 2 is not limited.
    for i in 0..30 {
        let (v, f) = too_big(&mut d, "2001:db8:9::1", 40000 + i, t0);
        assert!(is_too_big_icmp(&v), "{i}: {v:?}");
        assert_eq!(icmpv6(f.out(&v)).2, Icmpv6Type::PacketTooBig { mtu: 1280 });
    }
    // Time exceeded (type 3) is: route prefix length 0 (the default), so the 1000 ms
    // timeout becomes 1000 >> ((128 - 0) >> 5) = 62 ms; a burst of 6.
    let c = "2001:db8:9::2";
    for i in 0..6 {
        let (v, f) = ttl1(&mut d, c, 40000 + i, t0);
        assert!(is_ttl_icmp(&v), "{i}: {v:?}");
        let (_, dst, ty, _) = icmpv6(f.out(&v));
        assert_eq!(
            ty,
            Icmpv6Type::TimeExceeded(etherparse::icmpv6::TimeExceededCode::HopLimitExceeded)
        );
        assert_eq!(IpAddr::from(dst), ip(c));
    }
    assert_eq!(ttl1(&mut d, c, 40010, t0).0, LIMITED);
    assert_eq!(ttl1(&mut d, c, 40011, ms(t0, 61)).0, LIMITED);
    assert!(is_ttl_icmp(&ttl1(&mut d, c, 40012, ms(t0, 62)).0));
    // A /128 route: no scaling, the full 1000 ms.
    let mut d = dr(
        DirectorConfig {
            icmpv6_route_plen: 128,
            ..per_destination_only()
        },
        t0,
    );
    for i in 0..6 {
        assert!(is_ttl_icmp(&ttl1(&mut d, c, 40000 + i, t0).0));
    }
    assert_eq!(ttl1(&mut d, c, 40010, ms(t0, 999)).0, LIMITED);
    assert!(is_ttl_icmp(&ttl1(&mut d, c, 40011, ms(t0, 1000)).0));
    // A ratemask naming type 2 limits packet too big too.
    let mut d = dr(
        DirectorConfig {
            tun_mtu: 1280,
            icmpv6_ratemask: lvs_core::parse_icmpv6_ratemask("2").unwrap(),
            ..per_destination_only()
        },
        t0,
    );
    let sent = (0..10)
        .filter(|i| is_too_big_icmp(&too_big(&mut d, "2001:db8:9::1", 40000 + i, t0).0))
        .count();
    assert_eq!(sent, 6);
}

#[test]
fn the_new_drop_reason_has_its_own_counter_index() {
    assert_eq!(DropReason::ALL.len(), DropReason::COUNT);
    for (i, r) in DropReason::ALL.iter().enumerate() {
        assert_eq!(*r as usize, i, "{r:?}");
    }
    assert!(DropReason::ALL.contains(&DropReason::IcmpRateLimited));
}

// ---- fragment reassembly time exceeded ----

/// UDP DR 10.0.0.100:53 and [2001:db8::100]:53, NAT 10.0.0.101:53 -> 10.1.0.2:53.
fn frag_director(t0: Instant) -> Director {
    director(
        &[
            "-A -u 10.0.0.100:53 -s rr",
            "-a -u 10.0.0.100:53 -r 10.1.0.1 -g",
            "-A -u [2001:db8::100]:53 -s rr",
            "-a -u [2001:db8::100]:53 -r [2001:db8:1::1]:53 -g",
            "-A -u 10.0.0.101:53 -s rr",
            "-a -u 10.0.0.101:53 -r 10.1.0.2:53 -m",
        ],
        DirectorConfig {
            ipfrag_time: 30,
            ..DirectorConfig::default()
        },
        t0,
    )
}

fn hold(d: &mut Director, fragment: &[u8], now: Instant) {
    assert_eq!(
        run(d, &mut big_frame(fragment.to_vec()), now),
        Verdict::Held
    );
}

#[test]
fn expired_ipv4_datagram_with_its_first_fragment_gets_one_reassembly_time_exceeded() {
    let t0 = Instant::now();
    let mut d = frag_director(t0);
    let whole = udp("192.0.2.1:5000", "10.0.0.100:53", &payload(3000));
    let fr = split(whole.bytes(), &[1480, 2960], 7);
    hold(&mut d, &fr[0], t0);
    hold(&mut d, &fr[1], t0);
    d.handle_timeout(at(t0, 29));
    assert_eq!(d.poll_icmp(), None, "not before ipfrag_time");
    d.handle_timeout(at(t0, 30));
    let e = d.poll_icmp().expect("ip_expire sends one");
    assert_eq!(d.poll_icmp(), None, "exactly one");
    assert_eq!(e.next_hop, ip("192.0.2.1"));
    assert_eq!(e.side, Side::Client);
    // Back to the hop the fragment came from: MACs swapped.
    assert_eq!(&e.frame[..6], &CLIENT_MAC);
    assert_eq!(&e.frame[6..12], &DIRECTOR_MAC);
    let (h, ty, quote) = icmpv4(&e.frame);
    assert_eq!(
        ty,
        Icmpv4Type::TimeExceeded(
            etherparse::icmpv4::TimeExceededCode::FragmentReassemblyTimeExceeded
        )
    );
    assert_eq!(h.source, v4("10.0.0.100"), "from the local destination");
    assert_eq!(h.destination, v4("192.0.2.1"));
    // The quote is the first fragment as received (its header: MF set, offset 0), cut to
    // keep the datagram within 576 bytes (576 - 20 - 8 = 548).
    assert_eq!(quote.len(), 548);
    assert_eq!(&quote[..], &fr[0][14..14 + 548]);
    let (q, _) = etherparse::Ipv4Header::from_slice(&quote).unwrap();
    assert!(q.more_fragments && q.fragment_offset.value() == 0);
    assert_eq!(d.drops(DropReason::IcmpRateLimited), 0);
}

#[test]
fn expired_datagram_without_its_first_fragment_gets_no_error() {
    // "Don't send error if the first segment did not arrive" (INET_FRAG_FIRST_IN).
    let t0 = Instant::now();
    let mut d = frag_director(t0);
    let whole = udp("192.0.2.1:5000", "10.0.0.100:53", &payload(3000));
    let fr = split(whole.bytes(), &[1480, 2960], 8);
    hold(&mut d, &fr[1], t0);
    hold(&mut d, &fr[2], t0);
    let whole6 = udp("[2001:db8:9::1]:5000", "[2001:db8::100]:53", &payload(3000));
    let fr6 = split(whole6.bytes(), &[1400, 2800], 9);
    hold(&mut d, &fr6[1], t0);
    assert_eq!(d.frag_held().1, 2);
    d.handle_timeout(at(t0, 30));
    assert_eq!(d.frag_held(), (0, 0));
    assert_eq!(d.poll_icmp(), None);
}

#[test]
fn expired_ipv4_nat_reply_from_a_rip_gets_no_error() {
    // ip_expire: netfilter defrag (frag_expire_skip_icmp) sends only for RTN_LOCAL
    // destinations; a NAT reply RIP -> client passes through the director.
    let t0 = Instant::now();
    let mut d = frag_director(t0);
    let whole = udp("10.1.0.2:53", "192.0.2.1:5000", &payload(3000));
    let fr = split(whole.bytes(), &[1480, 2960], 10);
    hold(&mut d, &fr[0], t0);
    d.handle_timeout(at(t0, 30));
    assert_eq!(d.frag_held(), (0, 0));
    assert_eq!(d.poll_icmp(), None);
}

#[test]
fn expired_ipv6_datagram_with_its_first_fragment_gets_time_exceeded_code_1() {
    let t0 = Instant::now();
    let mut d = frag_director(t0);
    let whole = udp("[2001:db8:9::1]:5000", "[2001:db8::100]:53", &payload(3000));
    let fr = split(whole.bytes(), &[1400, 2800], 11);
    hold(&mut d, &fr[0], t0);
    d.handle_timeout(at(t0, 30));
    let e = d.poll_icmp().expect("ip6frag_expire_frag_queue sends one");
    assert_eq!(d.poll_icmp(), None);
    assert_eq!(e.next_hop, ip("2001:db8:9::1"));
    let (src, dst, ty, quote) = icmpv6(&e.frame);
    assert_eq!(
        ty,
        Icmpv6Type::TimeExceeded(
            etherparse::icmpv6::TimeExceededCode::FragmentReassemblyTimeExceeded
        )
    );
    assert_eq!(IpAddr::from(src), ip("2001:db8::100"));
    assert_eq!(IpAddr::from(dst), ip("2001:db8:9::1"));
    // The first fragment (IPv6 header, fragment header, data) within 1280 bytes: 1280 - 40
    // - 8 = 1232 bytes of it.
    assert_eq!(quote.len(), 1232);
    assert_eq!(&quote[..], &fr[0][14..14 + 1232]);
}

#[test]
fn reassembly_time_exceeded_goes_through_the_rate_limiter() {
    // Ten datagrams from one client expire together: a burst of 6 errors, 4 limited.
    let t0 = Instant::now();
    let mut d = frag_director(t0);
    for id in 0..10 {
        let whole = udp("192.0.2.1:5000", "10.0.0.100:53", &payload(3000));
        let fr = split(whole.bytes(), &[1480, 2960], 100 + id);
        hold(&mut d, &fr[0], t0);
    }
    d.handle_timeout(at(t0, 30));
    let mut n = 0;
    while let Some(e) = d.poll_icmp() {
        icmpv4(&e.frame);
        n += 1;
    }
    assert_eq!(n, 6);
    assert_eq!(d.drops(DropReason::IcmpRateLimited), 4);
}

#[test]
fn expired_ipv6_reply_from_a_rip_gets_an_error_toward_the_real_server_from_local_v6() {
    // nf_ct_frag6_expire -> ip6frag_expire_frag_queue has no local-destination check (unlike
    // IPv4's frag_expire_skip_icmp): a reply being reassembled for a client gets one, sent
    // toward the RIP from the director's own address.
    let t0 = Instant::now();
    let whole = udp("[2001:db8:1::1]:53", "[2001:db8:9::1]:5000", &payload(3000));
    let fr = split(whole.bytes(), &[1400, 2800], 12);
    // Without local_v6 the director has no source address for it: none.
    let mut d = frag_director(t0);
    hold(&mut d, &fr[0], t0);
    d.handle_timeout(at(t0, 30));
    assert_eq!(d.poll_icmp(), None);
    let mut d = director(
        &[
            "-A -u [2001:db8::100]:53 -s rr",
            "-a -u [2001:db8::100]:53 -r [2001:db8:1::1]:53 -m",
        ],
        DirectorConfig {
            local_v6: Some("2001:db8:1::fe".parse().unwrap()),
            ..DirectorConfig::default()
        },
        t0,
    );
    hold(&mut d, &fr[0], t0);
    d.handle_timeout(at(t0, 30));
    let e = d.poll_icmp().expect("an error to the RIP");
    assert_eq!(e.next_hop, ip("2001:db8:1::1"));
    assert_eq!(e.side, Side::Server);
    let (src, dst, ty, _) = icmpv6(&e.frame);
    assert_eq!(
        ty,
        Icmpv6Type::TimeExceeded(
            etherparse::icmpv6::TimeExceededCode::FragmentReassemblyTimeExceeded
        )
    );
    assert_eq!(IpAddr::from(src), ip("2001:db8:1::fe"));
    assert_eq!(IpAddr::from(dst), ip("2001:db8:1::1"));
}
