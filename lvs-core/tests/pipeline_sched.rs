//! Scheduling semantics through the director: persistence templates, quiesce (weight 0),
//! delete / trash / revive, expire_nodest_conn, health hooks, fwmark and one-packet
//! services (ip_vs_core.c, ip_vs_ctl.c).

mod pipeline_util;

use std::time::Instant;

use lvs_core::{DirectorConfig, DropReason, PacketMeta, Verdict};
use pipeline_util::*;

const THREE_RR: &[&str] = &[
    "-A -t 10.0.0.100:80 -s rr",
    "-a -t 10.0.0.100:80 -r 10.1.0.1 -g",
    "-a -t 10.0.0.100:80 -r 10.1.0.2 -g",
    "-a -t 10.0.0.100:80 -r 10.1.0.3 -g",
];

fn syn_hop(d: &mut lvs_core::Director, client: &str, t: Instant) -> std::net::IpAddr {
    let mut f = tcp(client, "10.0.0.100:80", SYN);
    next_hop(&run(d, &mut f, t))
}

#[test]
fn persistence_keeps_a_client_on_one_real_server() {
    // ip_vs_sched_persist: connections from the same client (masked) reuse the template's
    // real server while it lives; rr would otherwise move every connection.
    let t0 = Instant::now();
    let mut rules = THREE_RR.to_vec();
    rules[0] = "-A -t 10.0.0.100:80 -s rr -p 60";
    let mut d = director(&rules, DirectorConfig::default(), t0);
    let first = syn_hop(&mut d, "192.0.2.1:1000", t0);
    for port in 1001..1010 {
        assert_eq!(syn_hop(&mut d, &format!("192.0.2.1:{port}"), t0), first);
    }
    // Another client is scheduled (rr moves on).
    let other = syn_hop(&mut d, "192.0.2.2:1000", t0);
    assert_ne!(other, first);
    // -Ln --persistent-conn shows one template per client.
    let snap = d.snapshot();
    let persist: u32 = snap.services[0].dests.iter().map(|r| r.persistconns).sum();
    assert_eq!(persist, 2);
    // -M 255.255.255.0: a neighbour of the first client shares its template.
    let mut rules = THREE_RR.to_vec();
    rules[0] = "-A -t 10.0.0.100:80 -s rr -p 60 -M 255.255.255.0";
    let mut d = director(&rules, DirectorConfig::default(), t0);
    let a = syn_hop(&mut d, "192.0.2.1:1000", t0);
    assert_eq!(syn_hop(&mut d, "192.0.2.77:1000", t0), a);
    assert_ne!(syn_hop(&mut d, "198.51.100.1:1000", t0), a);
}

#[test]
fn persistence_template_outlives_its_timeout_only_while_connections_live() {
    let t0 = Instant::now();
    let mut rules = THREE_RR.to_vec();
    rules[0] = "-A -t 10.0.0.100:80 -s rr -p 10";
    let mut d = director(&rules, DirectorConfig::default(), t0);
    let first = syn_hop(&mut d, "192.0.2.1:1000", t0);
    // Everything expires (SYN_RECV 60 s; the template re-arms while controlling it).
    d.handle_timeout(at(t0, 61));
    d.handle_timeout(at(t0, 200));
    assert_eq!(d.conn_table().len(), 0);
    // rr has moved on past `first`: a new connection of the same client goes elsewhere.
    assert_ne!(syn_hop(&mut d, "192.0.2.1:1001", at(t0, 200)), first);
}

#[test]
fn weight_zero_quiesces_without_breaking_existing_connections() {
    // ip_vs_ctl.c: weight 0 takes the real server out of scheduling; its connections go on.
    let t0 = Instant::now();
    let mut d = director(&THREE_RR[..3], DirectorConfig::default(), t0);
    let hop = syn_hop(&mut d, "192.0.2.1:1000", t0);
    d.apply_line(&format!("-e -t 10.0.0.100:80 -r {hop}:80 -g -w 0"), t0)
        .unwrap();
    for p in 2000..2010 {
        assert_ne!(syn_hop(&mut d, &format!("192.0.2.9:{p}"), t0), hop);
    }
    let mut f = tcp("192.0.2.1:1000", "10.0.0.100:80", ACK);
    assert_eq!(next_hop(&run(&mut d, &mut f, t0)), hop);
    // Every real server quiesced: no real server.
    let other = if hop == ip("10.1.0.1") {
        "10.1.0.2"
    } else {
        "10.1.0.1"
    };
    d.apply_line(&format!("-e -t 10.0.0.100:80 -r {other}:80 -g -w 0"), t0)
        .unwrap();
    // ip_vs_leave: dropped with an ICMP port unreachable for the client (pipeline_icmp.rs
    // checks the message itself).
    let mut f = tcp("192.0.2.3:1", "10.0.0.100:80", SYN);
    assert!(matches!(
        run(&mut d, &mut f, t0),
        Verdict::Icmp {
            reason: DropReason::NoRealServer,
            ..
        }
    ));
    assert_eq!(d.drops(DropReason::NoRealServer), 1);
}

#[test]
fn deleted_real_server_keeps_entries_drops_packets_and_revives() {
    // __ip_vs_unlink_dest clears IP_VS_DEST_F_AVAILABLE: packets of its connections are
    // dropped while expire_nodest_conn = 0, the entry stays until it times out, and a
    // re-added real server is taken back from the trash with its connections.
    let t0 = Instant::now();
    let mut d = director(&THREE_RR[..3], DirectorConfig::default(), t0);
    let hop = syn_hop(&mut d, "192.0.2.1:1000", t0);
    d.apply_line(&format!("-d -t 10.0.0.100:80 -r {hop}:80"), t0)
        .unwrap();
    assert!(!text(&mut d, "-Ln", t0).contains(&format!("{hop}:80")));
    let mut f = tcp("192.0.2.1:1000", "10.0.0.100:80", ACK);
    assert_eq!(run(&mut d, &mut f, t0), Verdict::Drop(DropReason::NoDest));
    assert_eq!(d.conn_table().len(), 1);
    // New connections avoid it.
    for p in 2000..2006 {
        assert_ne!(syn_hop(&mut d, &format!("192.0.2.9:{p}"), t0), hop);
    }
    // Revive: the old connection flows again and its count is back on the real server.
    d.apply_line(&format!("-a -t 10.0.0.100:80 -r {hop}:80 -g"), t0)
        .unwrap();
    let mut f = tcp("192.0.2.1:1000", "10.0.0.100:80", ACK);
    assert_eq!(next_hop(&run(&mut d, &mut f, t0)), hop);
    let snap = d.snapshot();
    let rs = snap.services[0]
        .dests
        .iter()
        .find(|r| r.config.addr.ip() == hop)
        .unwrap();
    assert_eq!(rs.activeconns + rs.inactconns, 1);
}

#[test]
fn expire_nodest_conn_expires_the_entry_at_its_next_packet() {
    let t0 = Instant::now();
    let mut cfg = DirectorConfig::default();
    cfg.sysctls.expire_nodest_conn = true;
    let mut d = director(&THREE_RR[..3], cfg, t0);
    let hop = syn_hop(&mut d, "192.0.2.1:1000", t0);
    d.apply_line(&format!("-d -t 10.0.0.100:80 -r {hop}:80"), t0)
        .unwrap();
    // An ACK: the entry goes, and an ACK cannot start a connection -> host stack.
    let mut f = tcp("192.0.2.1:1000", "10.0.0.100:80", ACK);
    assert_eq!(run(&mut d, &mut f, t0), Verdict::Local);
    assert_eq!(d.conn_table().len(), 0);
    // A SYN on a dead real server's entry is rescheduled to a live one.
    let hop2 = syn_hop(&mut d, "192.0.2.2:1000", t0);
    assert_ne!(hop2, hop);
    d.apply_line(&format!("-d -t 10.0.0.100:80 -r {hop2}:80"), t0)
        .unwrap();
    d.apply_line(&format!("-a -t 10.0.0.100:80 -r {hop}:80 -g"), t0)
        .unwrap();
    let mut f = tcp("192.0.2.2:1000", "10.0.0.100:80", SYN);
    assert_eq!(next_hop(&run(&mut d, &mut f, t0)), hop);
}

#[test]
fn health_hooks_remove_or_inhibit() {
    let t0 = Instant::now();
    let mut d = director(&THREE_RR[..3], DirectorConfig::default(), t0);
    let svc = lvs_core::service::ServiceKey::Addr {
        protocol: lvs_core::service::Protocol::Tcp,
        addr: sa("10.0.0.100:80"),
    };
    // inhibit_on_failure: listed with weight 0, gets no new connections.
    d.set_dest_health(&svc, sa("10.1.0.1:80"), false, true, t0)
        .unwrap();
    let ln = text(&mut d, "-Ln", t0);
    assert!(
        ln.contains("  -> 10.1.0.1:80                  Route   0      0          0"),
        "{ln}"
    );
    for p in 0..4 {
        assert_eq!(
            syn_hop(&mut d, &format!("192.0.2.1:{p}"), t0),
            ip("10.1.0.2")
        );
    }
    d.set_dest_health(&svc, sa("10.1.0.1:80"), true, true, t0)
        .unwrap();
    assert!(text(&mut d, "-Ln", t0).contains("  -> 10.1.0.1:80                  Route   1"));
    // Without inhibit: removed from the table while down, back when up.
    d.set_dest_health(&svc, sa("10.1.0.2:80"), false, false, t0)
        .unwrap();
    assert!(!text(&mut d, "-Ln", t0).contains("10.1.0.2:80"));
    d.set_dest_health(&svc, sa("10.1.0.2:80"), true, false, t0)
        .unwrap();
    assert!(text(&mut d, "-Ln", t0).contains("10.1.0.2:80"));
}

#[test]
fn fwmark_service_needs_the_mark() {
    let t0 = Instant::now();
    let mut d = director(
        &["-A -f 7 -s rr", "-a -f 7 -r 10.1.0.1 -g"],
        DirectorConfig::default(),
        t0,
    );
    let mut f = tcp("192.0.2.1:1000", "10.0.0.100:443", SYN);
    assert_eq!(run(&mut d, &mut f, t0), Verdict::Local, "no mark, not ours");
    let mut f = tcp("192.0.2.1:1000", "10.0.0.100:443", SYN);
    let v = d.process(&mut f.buf, f.start, f.len, &PacketMeta { fwmark: 7 }, t0);
    assert_eq!(next_hop(&v), ip("10.1.0.1"));
    // The connection is keyed by its VIP:port, so later packets need no mark.
    let mut f = tcp("192.0.2.1:1000", "10.0.0.100:443", ACK);
    assert_eq!(next_hop(&run(&mut d, &mut f, t0)), ip("10.1.0.1"));
}

#[test]
fn udp_one_packet_scheduling_inserts_no_connection() {
    // -o (IP_VS_SVC_F_ONEPACKET): each UDP datagram is scheduled on its own.
    let t0 = Instant::now();
    let rules = [
        "-A -u 10.0.0.53:53 -s rr -o",
        "-a -u 10.0.0.53:53 -r 10.1.0.1 -g",
        "-a -u 10.0.0.53:53 -r 10.1.0.2 -g",
    ];
    let mut d = director(&rules, DirectorConfig::default(), t0);
    let mut hops = Vec::new();
    for _ in 0..4 {
        let mut f = udp("192.0.2.1:5353", "10.0.0.53:53", b"q");
        hops.push(next_hop(&run(&mut d, &mut f, t0)));
    }
    assert_eq!(d.conn_table().len(), 0);
    assert_ne!(hops[0], hops[1]);
    assert_eq!(hops[0], hops[2]);
    // Without -o the datagrams of one flow stick to one real server.
    let mut d = director(
        &["-A -u 10.0.0.53:53 -s rr", rules[1], rules[2]],
        DirectorConfig::default(),
        t0,
    );
    let mut f = udp("192.0.2.1:5353", "10.0.0.53:53", b"q");
    let h = next_hop(&run(&mut d, &mut f, t0));
    let mut f = udp("192.0.2.1:5353", "10.0.0.53:53", b"q");
    assert_eq!(next_hop(&run(&mut d, &mut f, t0)), h);
    assert_eq!(d.conn_table().len(), 1);
}

#[test]
fn conn_reuse_reschedules_a_syn_on_time_wait() {
    // conn_reuse_mode 1: a SYN hitting a TIME_WAIT entry is scheduled anew.
    let t0 = Instant::now();
    let mut d = director(&THREE_RR[..3], DirectorConfig::default(), t0);
    let c = "192.0.2.1:1000";
    let first = syn_hop(&mut d, c, t0);
    for fl in [ACK, FIN | ACK, ACK, RST] {
        let mut f = tcp(c, "10.0.0.100:80", fl);
        let _ = run(&mut d, &mut f, t0);
    }
    let second = syn_hop(&mut d, c, t0);
    assert_ne!(first, second, "rescheduled by rr");
}

/// An SCTP packet with one chunk of type `chunk` (RFC 9260 section 3), IPv4.
fn sctp(src: &str, dst: &str, chunk: u8) -> Frame {
    let (s, d) = (sa(src), sa(dst));
    let (std::net::IpAddr::V4(si), std::net::IpAddr::V4(di)) = (s.ip(), d.ip()) else {
        panic!()
    };
    let mut l4 = Vec::new();
    l4.extend_from_slice(&s.port().to_be_bytes());
    l4.extend_from_slice(&d.port().to_be_bytes());
    l4.extend_from_slice(&[0, 0, 0, 0, 0, 0, 0, 0]); // verification tag, CRC32c (unchecked)
    l4.extend_from_slice(&[chunk, 0, 0, 20]);
    l4.extend_from_slice(&[0u8; 16]);
    let ip = etherparse::Ipv4Header::new(
        l4.len() as u16,
        64,
        etherparse::IpNumber(132),
        si.octets(),
        di.octets(),
    )
    .unwrap();
    let mut v = Vec::new();
    etherparse::Ethernet2Header {
        source: CLIENT_MAC,
        destination: DIRECTOR_MAC,
        ether_type: etherparse::EtherType::IPV4,
    }
    .write(&mut v)
    .unwrap();
    ip.write(&mut v).unwrap();
    v.extend_from_slice(&l4);
    Frame::new(v)
}

#[test]
fn sctp_schedules_only_on_init() {
    // sctp_conn_schedule: a new association only on an INIT chunk (sloppy_sctp off).
    let t0 = Instant::now();
    let rules = [
        "-A --sctp-service 10.0.0.100:9 -s rr",
        "-a --sctp-service 10.0.0.100:9 -r 10.1.0.1:9999 -m",
    ];
    let mut d = director(&rules, DirectorConfig::default(), t0);
    let mut data = sctp("192.0.2.1:5000", "10.0.0.100:9", 0);
    assert_eq!(run(&mut d, &mut data, t0), Verdict::Local);
    let mut init = sctp("192.0.2.1:5000", "10.0.0.100:9", 1);
    let v = run(&mut d, &mut init, t0);
    assert_eq!(next_hop(&v), ip("10.1.0.1"));
    let out = init.out(&v);
    assert_eq!(&out[30..34], &[10, 1, 0, 1]);
    assert_eq!(u16::from_be_bytes([out[36], out[37]]), 9999);
    // Later chunks follow the association.
    let mut data = sctp("192.0.2.1:5000", "10.0.0.100:9", 0);
    assert_eq!(next_hop(&run(&mut d, &mut data, t0)), ip("10.1.0.1"));
    // sloppy_sctp: any chunk starts one.
    let mut cfg = DirectorConfig::default();
    cfg.sysctls.sloppy_sctp = true;
    let mut d = director(&rules, cfg, t0);
    let mut data = sctp("192.0.2.2:5000", "10.0.0.100:9", 0);
    assert_eq!(next_hop(&run(&mut d, &mut data, t0)), ip("10.1.0.1"));
}

#[test]
fn expiring_several_connections_of_a_real_server_at_once_updates_wlc() {
    // ip_vs_wlc.c: the least overhead / weight wins, ties to the first real server in list
    // order (the newest added: B = 10.1.0.2). One handle_timeout expires two connections of B
    // and one of A; the next picks must see B = 0, A = 1 (a scheduler still counting B's
    // expired connections would pick A).
    let t0 = Instant::now();
    let rules = [
        "-A -t 10.0.0.100:80 -s wlc",
        "-a -t 10.0.0.100:80 -r 10.1.0.1 -g -w 1",
        "-a -t 10.0.0.100:80 -r 10.1.0.2 -g -w 1",
    ];
    let a: std::net::IpAddr = "10.1.0.1".parse().unwrap();
    let b: std::net::IpAddr = "10.1.0.2".parse().unwrap();
    let mut d = director(&rules, DirectorConfig::default(), t0);
    assert_eq!(syn_hop(&mut d, "192.0.2.1:1000", t0), b); // 0/0 tie: B
    assert_eq!(syn_hop(&mut d, "192.0.2.2:1000", t0), a); // B 1, A 0
    assert_eq!(syn_hop(&mut d, "192.0.2.3:1000", t0), b); // 1/1 tie: B
    assert_eq!(syn_hop(&mut d, "192.0.2.4:1000", at(t0, 30)), a); // B 2, A 1
    // SYN_RECV lives 60 s: the three t0 connections expire together.
    assert_eq!(d.handle_timeout(at(t0, 61)), 3);
    assert_eq!(syn_hop(&mut d, "192.0.2.5:1000", at(t0, 61)), b); // B 0, A 1
    assert_eq!(syn_hop(&mut d, "192.0.2.6:1000", at(t0, 61)), b); // 1/1 tie: B
    assert_eq!(syn_hop(&mut d, "192.0.2.7:1000", at(t0, 61)), a); // B 2, A 1
}
