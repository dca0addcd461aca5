//! The director pipeline for DR and NAT (IPv4): verdict paths, scheduling only on the
//! packets that may start a connection (ip_vs_proto_tcp.c `tcp_conn_schedule`), listings
//! end to end with the seed notes' rules.

mod pipeline_util;

use std::time::Instant;

use lvs_core::{DirectorConfig, DropReason, PacketMeta, Side, Verdict};
use pipeline_util::*;

/// The seed notes' DR setup (000): `-A -t 192.168.56.200:80 -s rr`, two `-g -w 1` servers.
const SEED_DR: &[&str] = &[
    "ipvsadm -A -t 192.168.56.200:80 -s rr",
    "ipvsadm -a -t 192.168.56.200:80 -r 192.168.56.102 -g -w 1",
    "ipvsadm -a -t 192.168.56.200:80 -r 192.168.56.103 -g -w 1",
];

#[test]
fn seed_dr_rules_list_like_the_seed_output() {
    // Seed 000, `ipvsadm -ln` after the two -a lines (trailing blanks: ipvsadm's "%-10u").
    let t0 = Instant::now();
    let mut d = director(SEED_DR, DirectorConfig::default(), t0);
    let want = "IP Virtual Server version 1.2.1 (size=4096)\n\
                Prot LocalAddress:Port Scheduler Flags\n  \
                -> RemoteAddress:Port           Forward Weight ActiveConn InActConn\n\
                TCP  192.168.56.200:80 rr\n  \
                -> 192.168.56.102:80            Route   1      0          0         \n  \
                -> 192.168.56.103:80            Route   1      0          0         \n";
    assert_eq!(text(&mut d, "ipvsadm -ln", t0), want);
}

#[test]
fn dr_syn_is_scheduled_and_forwarded_unchanged_but_ttl() {
    let t0 = Instant::now();
    let mut d = director(SEED_DR, DirectorConfig::default(), t0);
    let mut f = tcp("192.168.56.1:56954", "192.168.56.200:80", SYN);
    let before = f.bytes().to_vec();
    let v = run(&mut d, &mut f, t0);
    let Verdict::Transmit {
        next_hop,
        side,
        start,
        len,
    } = v
    else {
        panic!("{v:?}")
    };
    assert_eq!(side, Side::Server);
    assert!(next_hop == ip("192.168.56.102") || next_hop == ip("192.168.56.103"));
    // DR: the IP packet is untouched but for TTL (and its header checksum).
    let out = &f.buf[start..start + len];
    let s = seen(out);
    assert_eq!(s.src, sa("192.168.56.1:56954"));
    assert_eq!(s.dst, sa("192.168.56.200:80"));
    assert_eq!(s.ttl, 63);
    assert_eq!(out[34..], before[34..], "L4 bytes unchanged");
    // The same flow's next packets follow the connection.
    for flags in [ACK, ACK, FIN | ACK] {
        let mut f = tcp("192.168.56.1:56954", "192.168.56.200:80", flags);
        assert_eq!(next_hop_of(&mut d, &mut f, t0), next_hop);
    }
}

fn next_hop_of(d: &mut lvs_core::Director, f: &mut Frame, now: Instant) -> std::net::IpAddr {
    next_hop(&run(d, f, now))
}

#[test]
fn rr_alternates_between_the_two_real_servers() {
    // ip_vs_rr.c: each new connection takes the next real server in list order.
    let t0 = Instant::now();
    let mut d = director(SEED_DR, DirectorConfig::default(), t0);
    let hops: Vec<_> = (0..6)
        .map(|i| {
            let mut f = tcp(
                &format!("192.168.56.1:{}", 50000 + i),
                "192.168.56.200:80",
                SYN,
            );
            next_hop_of(&mut d, &mut f, t0)
        })
        .collect();
    for w in hops.windows(2) {
        assert_ne!(w[0], w[1], "{hops:?}");
    }
}

#[test]
fn only_syn_without_rst_schedules_tcp() {
    // tcp_conn_schedule: th->syn && !th->rst (sloppy_tcp off); other packets to the VIP
    // without a connection continue to the host stack (NF_ACCEPT).
    let t0 = Instant::now();
    let mut d = director(SEED_DR, DirectorConfig::default(), t0);
    for flags in [ACK, FIN | ACK, RST, SYN | RST, 0] {
        let mut f = tcp("192.168.56.1:40000", "192.168.56.200:80", flags);
        assert_eq!(run(&mut d, &mut f, t0), Verdict::Local, "flags {flags:#x}");
    }
    assert_eq!(d.conn_table().len(), 0);
    // With sloppy_tcp any non-RST packet schedules.
    let mut cfg = DirectorConfig::default();
    cfg.sysctls.sloppy_tcp = true;
    let mut d = director(SEED_DR, cfg, t0);
    let mut f = tcp("192.168.56.1:40000", "192.168.56.200:80", ACK);
    assert!(matches!(run(&mut d, &mut f, t0), Verdict::Transmit { .. }));
    let mut f = tcp("192.168.56.1:40001", "192.168.56.200:80", RST);
    assert_eq!(run(&mut d, &mut f, t0), Verdict::Local);
    assert_eq!(d.conn_table().len(), 1);
}

#[test]
fn unknown_vip_port_and_non_ip_are_local_and_garbage_is_a_counted_drop() {
    let t0 = Instant::now();
    let mut d = director(SEED_DR, DirectorConfig::default(), t0);
    let mut f = tcp("192.168.56.1:40000", "192.168.56.200:443", SYN);
    assert_eq!(run(&mut d, &mut f, t0), Verdict::Local);
    let mut f = tcp("192.168.56.1:40000", "192.168.56.250:80", SYN);
    assert_eq!(run(&mut d, &mut f, t0), Verdict::Local);
    // An ARP request (ethertype 0x0806).
    let mut arp = vec![0u8; 42];
    arp[12] = 0x08;
    arp[13] = 0x06;
    assert_eq!(
        d.process(&mut arp, 0, 42, &PacketMeta::default(), t0),
        Verdict::Local
    );
    // Truncated IPv4.
    let f = tcp("192.168.56.1:40000", "192.168.56.200:80", SYN);
    let mut short = f.bytes()[..30].to_vec();
    assert_eq!(
        d.process(&mut short, 0, 30, &PacketMeta::default(), t0),
        Verdict::Drop(DropReason::Malformed)
    );
    // A range outside the buffer.
    let mut small = [0u8; 10];
    assert_eq!(
        d.process(&mut small, 5, 100, &PacketMeta::default(), t0),
        Verdict::Drop(DropReason::Malformed)
    );
    assert_eq!(d.drops(DropReason::Malformed), 2);
}

#[test]
fn ttl_one_gets_icmp_time_exceeded() {
    // ip_vs_xmit.c decrement_ttl: TTL <= 1 -> ICMP time exceeded, packet dropped.
    let t0 = Instant::now();
    let mut d = director(SEED_DR, DirectorConfig::default(), t0);
    let mut f = tcp_ttl("192.168.56.1:40000", "192.168.56.200:80", SYN, 1, b"x");
    let v = run(&mut d, &mut f, t0);
    let Verdict::Icmp { reason, .. } = v else {
        panic!("{v:?}")
    };
    assert_eq!(reason, DropReason::Ttl);
    let out = f.out(&v);
    let p = etherparse::SlicedPacket::from_ethernet(out).unwrap();
    match p.transport {
        Some(etherparse::TransportSlice::Icmpv4(i)) => {
            assert_eq!(i.type_u8(), 11);
            assert_eq!(i.code_u8(), 0);
        }
        other => panic!("{other:?}"),
    }
    let s = seen(out);
    assert_eq!(s.dst.ip(), ip("192.168.56.1"));
    assert_eq!(d.drops(DropReason::Ttl), 1);
}

/// The seed notes' NAT example (001): `-A -t 192.168.1.2:80 -s wrr`,
/// `-a -t 192.168.1.2:80 -r 192.168.2.10:80 -m -w 1`.
const SEED_NAT: &[&str] = &[
    "ipvsadm -A -t 192.168.1.2:80 -s wrr",
    "ipvsadm -a -t 192.168.1.2:80 -r 192.168.2.10:8080 -m -w 1",
];

#[test]
fn nat_rewrites_both_directions_with_valid_checksums() {
    let t0 = Instant::now();
    let mut d = director(SEED_NAT, DirectorConfig::default(), t0);
    let mut f = tcp("10.9.9.9:33000", "192.168.1.2:80", SYN);
    let (v, s) = send(&mut d, &mut f, t0);
    assert_eq!(next_hop(&v), ip("192.168.2.10"));
    assert_eq!(s.src, sa("10.9.9.9:33000"));
    assert_eq!(s.dst, sa("192.168.2.10:8080"), "port mapping");
    // The reply RIP:8080 -> CIP comes back as VIP:80 -> CIP.
    let mut r = tcp("192.168.2.10:8080", "10.9.9.9:33000", SYN | ACK);
    let v = run(&mut d, &mut r, t0);
    let Verdict::Transmit {
        next_hop: hop,
        side,
        ..
    } = v
    else {
        panic!("{v:?}")
    };
    assert_eq!((hop, side), (ip("10.9.9.9"), Side::Client));
    let s = seen(r.out(&v));
    assert_eq!(s.src, sa("192.168.1.2:80"));
    assert_eq!(s.dst, sa("10.9.9.9:33000"));
    // Client ACK -> ESTABLISHED: one active connection.
    let mut a = tcp("10.9.9.9:33000", "192.168.1.2:80", ACK);
    assert_eq!(next_hop(&run(&mut d, &mut a, t0)), ip("192.168.2.10"));
    let snap = d.snapshot();
    let rs = &snap.services[0].dests[0];
    assert_eq!((rs.activeconns, rs.inactconns), (1, 0));
    assert_eq!(snap.services[0].stats.conns, 1);
    assert_eq!(snap.services[0].stats.inpkts, 2);
    assert_eq!(snap.services[0].stats.outpkts, 1);
}

#[test]
fn nat_icmp_errors_follow_their_flow() {
    // ip_vs_in_icmp / ip_vs_out_icmp: an ICMP error about a balanced flow is rewritten and
    // sent along the flow.
    let t0 = Instant::now();
    let mut d = director(SEED_NAT, DirectorConfig::default(), t0);
    let mut syn = tcp("10.9.9.9:33000", "192.168.1.2:80", SYN);
    let v = run(&mut d, &mut syn, t0);
    let to_rs = syn.out(&v).to_vec();
    // The real server says port unreachable about what it got (CIP -> RIP:8080).
    let quoted = Frame {
        buf: to_rs.clone(),
        start: 0,
        len: to_rs.len(),
    };
    let mut e = icmp_unreach("192.168.2.10", "10.9.9.9", &quoted);
    let v = run(&mut d, &mut e, t0);
    assert_eq!(next_hop(&v), ip("10.9.9.9"));
    let out = e.out(&v);
    let p = etherparse::SlicedPacket::from_ethernet(out).unwrap();
    let Some(etherparse::NetSlice::Ipv4(v4)) = &p.net else {
        panic!()
    };
    // Outer source becomes the VIP, the quoted packet reads CIP -> VIP:80 again.
    assert_eq!(
        v4.header().source_addr(),
        "192.168.1.2".parse::<std::net::Ipv4Addr>().unwrap()
    );
    let quote = &out[14 + 20 + 8..];
    assert_eq!(&quote[16..20], &[192, 168, 1, 2]);
    assert_eq!(u16::from_be_bytes([quote[22], quote[23]]), 80);
    // A client-side error about the reply (VIP:80 -> CIP) goes to the real server.
    let mut reply = tcp("192.168.2.10:8080", "10.9.9.9:33000", SYN | ACK);
    let v = run(&mut d, &mut reply, t0);
    let to_client = reply.out(&v).to_vec();
    let q = Frame {
        buf: to_client.clone(),
        start: 0,
        len: to_client.len(),
    };
    let mut e = icmp_unreach("10.9.9.9", "192.168.1.2", &q);
    let v = run(&mut d, &mut e, t0);
    assert_eq!(next_hop(&v), ip("192.168.2.10"));
    let out = e.out(&v);
    assert_eq!(
        &out[30..34],
        &[192, 168, 2, 10],
        "outer destination is the RIP"
    );
    // An error about an unknown flow is not ours.
    let stray = tcp("10.1.1.1:1", "10.2.2.2:2", SYN);
    let mut e = icmp_unreach("10.2.2.2", "10.1.1.1", &stray);
    assert_eq!(run(&mut d, &mut e, t0), Verdict::Local);
}

#[test]
fn lnc_lists_connections_like_the_seed() {
    // Seed 000 `ipvsadm -lnc`: "TCP 14:59  ESTABLISHED 192.168.56.1:57326 192.168.56.200:80
    // 192.168.56.103:80" one second after the connection was established (900 s timeout).
    let t0 = Instant::now();
    let mut d = director(SEED_DR, DirectorConfig::default(), t0);
    let mut f = tcp("192.168.56.1:57326", "192.168.56.200:80", SYN);
    let rs = next_hop_of(&mut d, &mut f, t0);
    let mut f = tcp("192.168.56.1:57326", "192.168.56.200:80", ACK);
    next_hop_of(&mut d, &mut f, t0);
    let want = format!(
        "IPVS connection entries\n\
         pro expire state       source             virtual            destination\n\
         TCP 14:59  ESTABLISHED 192.168.56.1:57326 192.168.56.200:80  {rs}:80\n"
    );
    assert_eq!(text(&mut d, "ipvsadm -lnc", at(t0, 1)), want);
    // -Ln shows it as one active connection on that real server.
    let ln = text(&mut d, "ipvsadm -Ln", at(t0, 1));
    assert!(
        ln.contains(&format!(
            "  -> {:<28} Route   1      1          0         \n",
            format!("{rs}:80")
        )),
        "{ln}"
    );
}

#[test]
fn expiry_returns_counters_to_zero() {
    let t0 = Instant::now();
    let mut d = director(SEED_DR, DirectorConfig::default(), t0);
    let mut f = tcp("192.168.56.1:50000", "192.168.56.200:80", SYN);
    let _ = run(&mut d, &mut f, t0);
    assert_eq!(d.conn_table().len(), 1);
    let deadline = d.poll_timeout().unwrap();
    assert!(deadline <= at(t0, 2), "estimator tick at 2 s");
    // SYN_RECV lasts 60 s (ip_vs_proto_tcp.c tcp_timeouts) and counts as active.
    let snap = d.snapshot();
    let total: u32 = snap.services[0].dests.iter().map(|r| r.activeconns).sum();
    assert_eq!(total, 1);
    assert_eq!(d.handle_timeout(at(t0, 59)), 0);
    assert_eq!(d.handle_timeout(at(t0, 61)), 1);
    assert_eq!(d.conn_table().len(), 0);
    let snap = d.snapshot();
    for rs in &snap.services[0].dests {
        assert_eq!((rs.activeconns, rs.inactconns), (0, 0));
    }
}

#[test]
fn zero_clears_counters_and_set_changes_timeouts() {
    let t0 = Instant::now();
    let mut d = director(SEED_DR, DirectorConfig::default(), t0);
    let mut f = tcp("192.168.56.1:50000", "192.168.56.200:80", SYN);
    let _ = run(&mut d, &mut f, t0);
    assert_eq!(d.snapshot().services[0].stats.conns, 1);
    d.apply_line("ipvsadm -Z", t0).unwrap();
    assert_eq!(d.snapshot().services[0].stats.conns, 0);
    d.apply_line("ipvsadm --set 100 20 30", t0).unwrap();
    assert_eq!(
        text(&mut d, "ipvsadm -L --timeout", t0),
        "Timeout (tcp tcpfin udp): 100 20 30\n"
    );
}

#[test]
fn save_prints_the_rules_back() {
    let t0 = Instant::now();
    let mut d = director(SEED_DR, DirectorConfig::default(), t0);
    let s = text(&mut d, "ipvsadm -S -n", t0);
    assert_eq!(
        s,
        "-A -t 192.168.56.200:80 -s rr\n\
         -a -t 192.168.56.200:80 -r 192.168.56.102:80 -g -w 1\n\
         -a -t 192.168.56.200:80 -r 192.168.56.103:80 -g -w 1\n"
    );
}
