//! FULLNAT (local address pool, allocation property test), TUN encapsulation, IPv6, and
//! connection sync master -> backup through the director.

mod pipeline_util;

use std::collections::HashSet;
use std::net::SocketAddr;
use std::time::Instant;

use lvs_core::{DirectorConfig, DropReason, Side, Verdict};
use pipeline_util::*;
use proptest::prelude::*;

const FNAT: &[&str] = &[
    "-A -t 10.0.0.100:80 -s rr --laddr 10.2.0.1 --laddr 10.2.0.2",
    "-a -t 10.0.0.100:80 -r 10.1.0.1:8080 --fullnat",
];

#[test]
fn fullnat_rewrites_both_addresses_and_the_reply_comes_back() {
    let t0 = Instant::now();
    let mut d = director(FNAT, DirectorConfig::default(), t0);
    let mut f = tcp("192.0.2.1:40000", "10.0.0.100:80", SYN);
    let (v, s) = send(&mut d, &mut f, t0);
    assert_eq!(next_hop(&v), ip("10.1.0.1"));
    assert!(s.src.ip() == ip("10.2.0.1") || s.src.ip() == ip("10.2.0.2"));
    assert_eq!(s.dst, sa("10.1.0.1:8080"));
    let local = s.src;
    // The reply RIP:8080 -> LIP:lport becomes VIP:80 -> CIP:40000.
    let mut r = tcp("10.1.0.1:8080", &local.to_string(), SYN | ACK);
    let v = run(&mut d, &mut r, t0);
    let Verdict::Transmit {
        next_hop: hop,
        side,
        ..
    } = v
    else {
        panic!("{v:?}")
    };
    assert_eq!((hop, side), (ip("192.0.2.1"), Side::Client));
    let s = seen(r.out(&v));
    assert_eq!((s.src, s.dst), (sa("10.0.0.100:80"), sa("192.0.2.1:40000")));
}

#[test]
fn fullnat_without_local_address_of_the_family_drops() {
    let t0 = Instant::now();
    let rules = [
        "-A -t 10.0.0.100:80 -s rr",
        "-a -t 10.0.0.100:80 -r 10.1.0.1:8080 --fullnat",
    ];
    let mut d = director(&rules, DirectorConfig::default(), t0);
    let mut f = tcp("192.0.2.1:40000", "10.0.0.100:80", SYN);
    assert_eq!(
        run(&mut d, &mut f, t0),
        Verdict::Drop(DropReason::NoLocalPort)
    );
}

/// A director with one local address and `ports` local ports, for the allocator tests.
fn small_pool(ports: u16, worker: (u16, u16)) -> lvs_core::Director {
    let cfg = DirectorConfig {
        lport_range: (2000, 2000 + ports - 1),
        worker,
        ..DirectorConfig::default()
    };
    director(
        &[
            "-A -u 10.0.0.100:53 -s rr --laddr 10.2.0.1",
            "-a -u 10.0.0.100:53 -r 10.1.0.1 --fullnat",
        ],
        cfg,
        Instant::now(),
    )
}

/// Live (LIP, lport) pairs in the connection table.
fn locals(d: &lvs_core::Director) -> Vec<SocketAddr> {
    d.conn_table()
        .iter()
        .filter_map(|v| v.local.map(|(a, p)| SocketAddr::new(a, p)))
        .collect()
}

#[test]
fn fullnat_pool_exhausts_and_refills_on_expiry() {
    let t0 = Instant::now();
    let mut d = small_pool(4, (0, 1));
    for c in 0..4 {
        let mut f = udp(&format!("192.0.2.1:{}", 1000 + c), "10.0.0.100:53", b"q");
        assert!(matches!(run(&mut d, &mut f, t0), Verdict::Transmit { .. }));
    }
    let mut f = udp("192.0.2.1:2000", "10.0.0.100:53", b"q");
    assert_eq!(
        run(&mut d, &mut f, t0),
        Verdict::Drop(DropReason::NoLocalPort)
    );
    let got: HashSet<u16> = locals(&d).iter().map(|s| s.port()).collect();
    assert_eq!(got, HashSet::from([2000, 2001, 2002, 2003]));
    // UDP entries expire after 300 s: every port is free again.
    d.handle_timeout(at(t0, 301));
    assert_eq!(d.conn_table().len(), 0);
    for c in 0..4 {
        let mut f = udp(&format!("192.0.2.9:{}", 1000 + c), "10.0.0.100:53", b"q");
        assert!(matches!(
            run(&mut d, &mut f, at(t0, 302)),
            Verdict::Transmit { .. }
        ));
    }
}

#[test]
fn fullnat_worker_only_uses_its_residue_class() {
    // With N workers, worker i allocates lport % N == i so replies can be steered by port.
    let t0 = Instant::now();
    let mut d = small_pool(40, (1, 4));
    for c in 0..10 {
        let mut f = udp(&format!("192.0.2.1:{}", 1000 + c), "10.0.0.100:53", b"q");
        assert!(matches!(run(&mut d, &mut f, t0), Verdict::Transmit { .. }));
    }
    for l in locals(&d) {
        assert_eq!(l.port() % 4, 1, "{l}");
    }
    let mut f = udp("192.0.2.1:3000", "10.0.0.100:53", b"q");
    assert_eq!(
        run(&mut d, &mut f, t0),
        Verdict::Drop(DropReason::NoLocalPort)
    );
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]
    /// Random connect / expire sequences: live (LIP, lport) pairs never collide, an
    /// allocation fails only when every port is live, and expiring everything frees all.
    #[test]
    fn fullnat_allocation_never_collides_never_leaks(
        ops in proptest::collection::vec((any::<bool>(), 0u16..64), 1..120)
    ) {
        let t0 = Instant::now();
        let ports = 8u16;
        let mut d = small_pool(ports, (0, 1));
        let mut next_client = 0u32;
        for (connect, pick) in ops {
            if connect {
                next_client += 1;
                let mut f = udp(&format!("192.0.2.{}:{}", next_client % 200 + 1, 1000 + next_client), "10.0.0.100:53", b"q");
                let live = locals(&d).len();
                let v = run(&mut d, &mut f, t0);
                if live < usize::from(ports) {
                    prop_assert!(matches!(v, Verdict::Transmit { .. }), "{:?} with {} live", v, live);
                } else {
                    prop_assert_eq!(v, Verdict::Drop(DropReason::NoLocalPort));
                }
            } else {
                // Expire one live entry now (as timer expiry or expire_nodest_conn would).
                let ids: Vec<_> = d.conn_table().iter().map(|v| v.id).collect();
                if !ids.is_empty() {
                    let id = ids[usize::from(pick) % ids.len()];
                    d.expire_conn(id, t0);
                }
            }
            let l = locals(&d);
            let set: HashSet<_> = l.iter().collect();
            prop_assert_eq!(set.len(), l.len(), "collision in {:?}", l);
            for s in &l {
                prop_assert!((2000..2000 + ports).contains(&s.port()));
            }
        }
        d.handle_timeout(at(t0, 400));
        prop_assert_eq!(d.conn_table().len(), 0);
        for c in 0..ports {
            let mut f = udp(&format!("198.51.100.1:{}", 1000 + c), "10.0.0.100:53", b"q");
            let v = run(&mut d, &mut f, at(t0, 401));
            prop_assert!(matches!(v, Verdict::Transmit { .. }), "{:?}", v);
        }
    }
}

#[test]
fn tun_encapsulates_ipip_into_the_headroom() {
    let t0 = Instant::now();
    let cfg = DirectorConfig {
        local_v4: Some("10.0.0.1".parse().unwrap()),
        ..DirectorConfig::default()
    };
    let mut d = director(
        &[
            "-A -t 10.0.0.100:80 -s rr",
            "-a -t 10.0.0.100:80 -r 10.1.0.1 -i",
        ],
        cfg,
        t0,
    );
    let mut f = tcp("192.0.2.1:40000", "10.0.0.100:80", SYN);
    let inner = f.bytes()[14..].to_vec();
    let v = run(&mut d, &mut f, t0);
    let Verdict::Transmit {
        next_hop: hop,
        start,
        len,
        ..
    } = v
    else {
        panic!("{v:?}")
    };
    assert_eq!(hop, ip("10.1.0.1"));
    assert!(start < HEAD, "outer header lives in the headroom");
    let out = &f.buf[start..start + len];
    let p = etherparse::SlicedPacket::from_ethernet(out).unwrap();
    let Some(etherparse::NetSlice::Ipv4(outer)) = &p.net else {
        panic!()
    };
    let h = outer.header().to_header();
    assert_eq!(h.protocol, etherparse::IpNumber::IPV4);
    assert_eq!(h.source, [10, 0, 0, 1]);
    assert_eq!(h.destination, [10, 1, 0, 1]);
    assert_eq!(h.calc_header_checksum(), h.header_checksum);
    // The inner packet is the original with TTL - 1.
    let got_inner = &out[34..];
    assert_eq!(got_inner.len(), inner.len());
    assert_eq!(got_inner[8], inner[8] - 1);
    assert_eq!(got_inner[12..20], inner[12..20]);
    assert_eq!(got_inner[20..], inner[20..]);
}

#[test]
fn tun_too_big_df_packet_gets_frag_needed() {
    let t0 = Instant::now();
    let cfg = DirectorConfig {
        tun_mtu: 100,
        ..DirectorConfig::default()
    };
    let mut d = director(
        &[
            "-A -t 10.0.0.100:80 -s rr",
            "-a -t 10.0.0.100:80 -r 10.1.0.1 -i",
        ],
        cfg,
        t0,
    );
    let mut f = tcp_ttl("192.0.2.1:40000", "10.0.0.100:80", SYN, 64, &[0u8; 200]);
    let v = run(&mut d, &mut f, t0);
    let Verdict::Icmp { reason, .. } = v else {
        panic!("{v:?}")
    };
    assert_eq!(reason, DropReason::TooBig);
    let out = f.out(&v);
    let p = etherparse::SlicedPacket::from_ethernet(out).unwrap();
    match p.transport {
        Some(etherparse::TransportSlice::Icmpv4(i)) => {
            assert_eq!((i.type_u8(), i.code_u8()), (3, 4));
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn ipv6_dr_and_nat() {
    let t0 = Instant::now();
    let mut d = director(
        &[
            "-A -t [2001:db8::100]:80 -s rr",
            "-a -t [2001:db8::100]:80 -r [2001:db8:1::1]:8080 -m",
            "-A -u [2001:db8::100]:53 -s rr",
            "-a -u [2001:db8::100]:53 -r [2001:db8:1::2]:53 -g",
        ],
        DirectorConfig::default(),
        t0,
    );
    let mut f = tcp("[2001:db8:9::1]:40000", "[2001:db8::100]:80", SYN);
    let (v, s) = send(&mut d, &mut f, t0);
    assert_eq!(next_hop(&v), ip("2001:db8:1::1"));
    assert_eq!(s.dst, sa("[2001:db8:1::1]:8080"));
    assert_eq!(s.ttl, 63);
    let mut r = tcp("[2001:db8:1::1]:8080", "[2001:db8:9::1]:40000", SYN | ACK);
    let (_, s) = send(&mut d, &mut r, t0);

    assert_eq!(s.src, sa("[2001:db8::100]:80"));
    let mut u = udp("[2001:db8:9::1]:5353", "[2001:db8::100]:53", b"q");
    let (v, s) = send(&mut d, &mut u, t0);
    assert_eq!(next_hop(&v), ip("2001:db8:1::2"));
    assert_eq!(s.dst, sa("[2001:db8::100]:53"), "DR keeps the VIP");
}

#[test]
fn sync_backup_forwards_the_masters_flow_without_scheduling() {
    // ip_vs_sync.c: the master sends connections after sync_threshold packets; a backup
    // imports them bound to its own real server entries.
    let t0 = Instant::now();
    let rules = [
        "-A -t 10.0.0.100:80 -s rr",
        "-a -t 10.0.0.100:80 -r 10.1.0.1 -g",
        "-a -t 10.0.0.100:80 -r 10.1.0.2 -g",
        "-a -t 10.0.0.100:80 -r 10.1.0.3 -g",
    ];
    let mut master = director(&rules, DirectorConfig::default(), t0);
    let mut backup = director(&rules, DirectorConfig::default(), t0);
    master
        .apply_line("--start-daemon master --mcast-interface eth0", t0)
        .unwrap();
    backup
        .apply_line("--start-daemon backup --mcast-interface eth0", t0)
        .unwrap();
    // Advance the master's rr so the backup (which would pick the first) differs.
    let mut hops = Vec::new();
    for c in ["192.0.2.1:1", "192.0.2.2:2", "192.0.2.3:3"] {
        let mut f = tcp(c, "10.0.0.100:80", SYN);
        hops.push(next_hop(&run(&mut master, &mut f, t0)));
        for _ in 0..3 {
            let mut f = tcp(c, "10.0.0.100:80", ACK);
            let _ = run(&mut master, &mut f, t0);
        }
    }
    assert!(master.sync_pending() > 0);
    let mut buf = [0u8; lvs_conn::sync::SYNC_MAXLEN_IPV4];
    let mut imported = 0;
    while let Some(n) = master.poll_sync(&mut buf) {
        imported += backup.handle_sync(t0, &buf[..n]).unwrap();
    }
    assert!(imported >= 3);
    assert_eq!(backup.conn_table().len(), 3);
    // The backup forwards the established flows where the master sent them; an ACK could
    // not have been scheduled (it would be Local).
    for (c, hop) in ["192.0.2.1:1", "192.0.2.2:2", "192.0.2.3:3"]
        .iter()
        .zip(&hops)
    {
        let mut f = tcp(c, "10.0.0.100:80", ACK);
        assert_eq!(next_hop(&run(&mut backup, &mut f, t0)), *hop);
    }
    // The backup's listing counts them on the right real servers.
    let snap = backup.snapshot();
    for rs in &snap.services[0].dests {
        assert_eq!(rs.activeconns, 1, "{:?}", rs.config.addr);
    }
}

#[test]
fn fullnat_icmp_errors_follow_their_flow() {
    let t0 = Instant::now();
    let mut d = director(FNAT, DirectorConfig::default(), t0);
    let mut f = tcp("192.0.2.1:40000", "10.0.0.100:80", SYN);
    let (v, s) = send(&mut d, &mut f, t0);
    let to_rs = f.out(&v).to_vec();
    let local = s.src;
    // The real server's error about LIP:lport -> RIP:8080 goes to the client, rewritten to
    // be about CIP:40000 -> VIP:80, from the VIP.
    let q = Frame {
        len: to_rs.len(),
        buf: to_rs,
        start: 0,
    };
    let mut e = icmp_unreach("10.1.0.1", &local.ip().to_string(), &q);
    let v = run(&mut d, &mut e, t0);
    assert_eq!(next_hop(&v), ip("192.0.2.1"));
    let out = e.out(&v);
    assert_eq!(&out[26..30], &[10, 0, 0, 100], "outer source: VIP");
    assert_eq!(&out[30..34], &[192, 0, 2, 1], "outer destination: CIP");
    let quote = &out[14 + 20 + 8..];
    assert_eq!(&quote[12..16], &[192, 0, 2, 1]);
    assert_eq!(&quote[16..20], &[10, 0, 0, 100]);
    assert_eq!(u16::from_be_bytes([quote[20], quote[21]]), 40000);
    assert_eq!(u16::from_be_bytes([quote[22], quote[23]]), 80);
    // The ICMP checksum verifies (etherparse recomputes it over the whole message).
    let p = etherparse::SlicedPacket::from_ethernet(out).unwrap();
    let Some(etherparse::TransportSlice::Icmpv4(i)) = p.transport else {
        panic!()
    };
    assert_eq!(
        i.header().icmp_type.calc_checksum(i.payload()),
        i.checksum()
    );
    // A client-side error about the reply VIP:80 -> CIP:40000 goes to the real server as an
    // error from LIP about LIP:lport <- RIP:8080.
    let mut r = tcp("10.1.0.1:8080", &local.to_string(), ACK);
    let v = run(&mut d, &mut r, t0);
    let reply = r.out(&v).to_vec();
    let q = Frame {
        len: reply.len(),
        buf: reply,
        start: 0,
    };
    let mut e = icmp_unreach("192.0.2.1", "10.0.0.100", &q);
    let v = run(&mut d, &mut e, t0);
    assert_eq!(next_hop(&v), ip("10.1.0.1"));
    let out = e.out(&v);
    assert_eq!(
        &out[26..30],
        &local
            .ip()
            .to_string()
            .parse::<std::net::Ipv4Addr>()
            .unwrap()
            .octets()
    );
    assert_eq!(&out[30..34], &[10, 1, 0, 1]);
}
