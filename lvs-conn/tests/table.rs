//! Connection table behaviour: lookups both ways, accounting, templates, expiry, capacity,
//! IPv6, listings.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::time::{Duration, Instant};

use lvs_conn::proto::{ipproto, tcp_flags};
use lvs_conn::{
    ConnConfig, ConnError, ConnParams, ConnTable, DestCounters, DestId, Direction, FwdMethod,
    L4Info, NodestVerdict, PersistService, ReuseVerdict, TcpState, TemplateKey, conn_flags,
};

fn ip4(a: u8, b: u8, c: u8, d: u8) -> IpAddr {
    IpAddr::V4(Ipv4Addr::new(a, b, c, d))
}

const SYN: L4Info = L4Info::Tcp {
    flags: tcp_flags::SYN,
};
const SYNACK: L4Info = L4Info::Tcp {
    flags: tcp_flags::SYN | tcp_flags::ACK,
};
const ACK: L4Info = L4Info::Tcp {
    flags: tcp_flags::ACK,
};
const FIN: L4Info = L4Info::Tcp {
    flags: tcp_flags::FIN | tcp_flags::ACK,
};

fn nat_conn(cport: u16, dest: u32) -> ConnParams {
    ConnParams {
        protocol: ipproto::TCP,
        caddr: ip4(10, 0, 0, 2),
        cport,
        vaddr: ip4(207, 175, 44, 110),
        vport: 8080,
        daddr: ip4(172, 16, 0, 2),
        dport: 8080,
        fwd: FwdMethod::Masq,
        dest: Some(DestId(dest)),
        local: None,
    }
}

/// Expected counters (activeconns, inactconns, persistconns).
fn dc(activeconns: u32, inactconns: u32, persistconns: u32) -> DestCounters {
    DestCounters {
        activeconns,
        inactconns,
        persistconns,
    }
}

fn table(t0: Instant) -> ConnTable {
    ConnTable::new(ConnConfig::default(), t0)
}

fn secs(t0: Instant, s: f64) -> Instant {
    t0 + Duration::from_secs_f64(s)
}

#[test]
fn nat_flow_found_inbound_and_outbound_and_accounted() {
    let t0 = Instant::now();
    let mut t = table(t0);
    let p = nat_conn(40000, 1);
    let id = t.insert(&p, None, t0).unwrap();
    // New connection: bound inactive (inactconns++), flags INACTIVE, NAT has no NOOUTPUT.
    assert_eq!(t.dest_counters(DestId(1)), dc(0, 1, 0));
    let v = t.get(id).unwrap();
    assert_eq!(v.flags & conn_flags::INACTIVE, conn_flags::INACTIVE);
    assert_eq!(v.flags & conn_flags::NOOUTPUT, 0);
    assert_eq!(v.flags & conn_flags::HASHED, conn_flags::HASHED);
    assert_eq!(
        t.lookup_in(ipproto::TCP, p.caddr, 40000, p.vaddr, 8080),
        Some(id)
    );
    assert_eq!(
        t.lookup_in(ipproto::UDP, p.caddr, 40000, p.vaddr, 8080),
        None
    );
    assert_eq!(
        t.lookup_in(ipproto::TCP, p.caddr, 40001, p.vaddr, 8080),
        None
    );
    // Reply RIP:rport -> CIP:cport.
    assert_eq!(
        t.lookup_out(ipproto::TCP, p.daddr, 8080, p.caddr, 40000),
        Some(id)
    );
    assert_eq!(
        t.lookup_out(ipproto::TCP, p.vaddr, 8080, p.caddr, 40000),
        None
    );

    // SYN in: NONE -> SYN_RECV (active).
    let o = t.on_packet(id, Direction::Input, SYN, 60, t0).unwrap();
    assert_eq!((o.old_state, o.new_state), (0, TcpState::SynRecv as u8));
    assert_eq!(t.dest_counters(DestId(1)).activeconns, 1);
    assert_eq!(t.dest_counters(DestId(1)).inactconns, 0);
    // SYN-ACK out: SR stays SR; ACK in: SR -> ES.
    t.on_packet(id, Direction::Output, SYNACK, 60, t0).unwrap();
    t.on_packet(id, Direction::Input, ACK, 52, t0).unwrap();
    let v = t.get(id).unwrap();
    assert_eq!(v.state, TcpState::Established as u8);
    assert_eq!(
        (v.in_pkts, v.out_pkts, v.in_bytes, v.out_bytes),
        (2, 1, 112, 60)
    );
    assert_eq!(v.timeout_secs, 900);
    // FIN in: ES -> CLOSE_WAIT (inactive now).
    t.on_packet(id, Direction::Input, FIN, 52, t0).unwrap();
    assert_eq!(t.get(id).unwrap().state, TcpState::CloseWait as u8);
    assert_eq!(t.dest_counters(DestId(1)), dc(0, 1, 0));
}

#[test]
fn direct_route_uses_input_only_rows_until_output_seen() {
    // "NOOUTPUT is set on every non-NAT connection; while set, input uses the INPUT_ONLY
    // rows; the first output packet clears it."
    let t0 = Instant::now();
    let mut t = table(t0);
    let mut p = nat_conn(1000, 0);
    p.fwd = FwdMethod::DirectRoute;
    let id = t.insert(&p, None, t0).unwrap();
    assert_ne!(t.get(id).unwrap().flags & conn_flags::NOOUTPUT, 0);
    t.on_packet(id, Direction::Input, SYN, 0, t0).unwrap();
    t.on_packet(id, Direction::Input, ACK, 0, t0).unwrap();
    // INPUT_ONLY fin[sES] = FW (INPUT would give CW).
    t.on_packet(id, Direction::Input, FIN, 0, t0).unwrap();
    assert_eq!(t.get(id).unwrap().state, TcpState::FinWait as u8);
    // An output packet clears NOOUTPUT.
    t.on_packet(id, Direction::Output, ACK, 0, t0).unwrap();
    assert_eq!(t.get(id).unwrap().flags & conn_flags::NOOUTPUT, 0);
}

#[test]
fn expiry_follows_state_timeouts_and_poll_timeout() {
    let t0 = Instant::now();
    let mut t = table(t0);
    let id = t.insert(&nat_conn(1, 7), None, t0).unwrap();
    // A new connection starts with a 3 s timer.
    let p = t.poll_timeout().unwrap();
    assert!(p <= secs(t0, 3.0));
    let mut out = Vec::new();
    assert_eq!(t.handle_timeout(secs(t0, 2.9), &mut out), 0);
    assert!(t.get(id).is_some());
    // SYN at 1 s: SYN_RECV, 60 s from then.
    t.on_packet(id, Direction::Input, SYN, 0, secs(t0, 1.0))
        .unwrap();
    assert_eq!(t.handle_timeout(secs(t0, 60.9), &mut out), 0);
    assert!(t.get(id).is_some());
    assert_eq!(t.handle_timeout(secs(t0, 61.0), &mut out), 1);
    assert_eq!(out[0].id, id);
    assert_eq!(out[0].dest, Some(DestId(7)));
    assert!(t.get(id).is_none());
    assert!(t.is_empty());
    assert_eq!(t.dest_counters(DestId(7)), DestCounters::default());
    assert_eq!(t.poll_timeout(), None);
    // The stale handle no longer works.
    assert_eq!(
        t.on_packet(id, Direction::Input, ACK, 0, secs(t0, 62.0)),
        Err(ConnError::NoSuchConn)
    );
}

#[test]
fn extended_and_shortened_timers_fire_on_time() {
    let t0 = Instant::now();
    let mut t = table(t0);
    let id = t.insert(&nat_conn(1, 0), None, t0).unwrap();
    t.on_packet(id, Direction::Input, SYN, 0, t0).unwrap();
    t.on_packet(id, Direction::Input, ACK, 0, t0).unwrap(); // ES, 900 s
    let mut out = Vec::new();
    // Keep it alive with packets every 100 s up to 1000 s.
    for k in 1..=10 {
        let now = secs(t0, 100.0 * f64::from(k));
        assert_eq!(t.handle_timeout(now, &mut out), 0);
        t.on_packet(id, Direction::Input, ACK, 0, now).unwrap();
    }
    // Now an RST: ES -> CLOSE, 10 s from 1005 s.
    t.on_packet(
        id,
        Direction::Input,
        L4Info::Tcp {
            flags: tcp_flags::RST,
        },
        0,
        secs(t0, 1005.0),
    )
    .unwrap();
    assert_eq!(t.handle_timeout(secs(t0, 1014.9), &mut out), 0);
    assert_eq!(t.handle_timeout(secs(t0, 1015.0), &mut out), 1);
}

#[test]
fn many_entries_expire_exactly_once_in_deadline_order() {
    let t0 = Instant::now();
    let mut t = table(t0);
    let mut ids = Vec::new();
    for i in 0..2000u16 {
        let id = t.insert(&nat_conn(i, u32::from(i % 4)), None, t0).unwrap();
        // UDP-like timeouts spread: use TCP states via packets: SYN -> SR (60 s) for odd,
        // SYN+ACK -> ES (900 s) for even.
        t.on_packet(id, Direction::Input, SYN, 0, secs(t0, f64::from(i) * 0.01))
            .unwrap();
        if i % 2 == 0 {
            t.on_packet(id, Direction::Input, ACK, 0, secs(t0, f64::from(i) * 0.01))
                .unwrap();
        }
        ids.push(id);
    }
    let mut out = Vec::new();
    let mut now = 0.0;
    while now < 1000.0 {
        now += 7.3;
        let before = out.len();
        t.handle_timeout(secs(t0, now), &mut out);
        for e in &out[before..] {
            let i = ids.iter().position(|x| *x == e.id).unwrap();
            let due = f64::from(i as u16) * 0.01 + if i % 2 == 0 { 900.0 } else { 60.0 };
            assert!(
                due <= now + 1e-6 && due > now - 7.3 - 0.02,
                "{i} due {due} at {now}"
            );
        }
    }
    assert_eq!(out.len(), 2000);
    assert!(t.is_empty());
}

fn persist_svc() -> PersistService {
    PersistService {
        port: 8080,
        fwmark: 0,
        netmask_v4: 0xffff_ff00,
        prefix_v6: 64,
    }
}

#[test]
fn template_key_rules() {
    let svc = persist_svc();
    let k = TemplateKey::for_packet(&svc, ipproto::TCP, ip4(10, 0, 0, 77), ip4(1, 2, 3, 4), 8080)
        .unwrap();
    assert_eq!(
        k,
        TemplateKey {
            protocol: ipproto::TCP,
            caddr: ip4(10, 0, 0, 0),
            vaddr: ip4(1, 2, 3, 4),
            vport: 8080
        }
    );
    // FTP: vport 0.
    let ftp = PersistService { port: 21, ..svc };
    assert_eq!(
        TemplateKey::for_packet(&ftp, ipproto::TCP, ip4(10, 0, 0, 77), ip4(1, 2, 3, 4), 21)
            .unwrap()
            .vport,
        0
    );
    // Port-zero service: vport 0, protocol kept.
    let pz = PersistService { port: 0, ..svc };
    let k =
        TemplateKey::for_packet(&pz, ipproto::UDP, ip4(10, 0, 0, 77), ip4(1, 2, 3, 4), 53).unwrap();
    assert_eq!(
        (k.protocol, k.vport, k.vaddr),
        (ipproto::UDP, 0, ip4(1, 2, 3, 4))
    );
    // fwmark service: protocol IPPROTO_IP, vaddr = mark.
    let fw = PersistService {
        port: 0,
        fwmark: 0x0102_0304,
        ..svc
    };
    let k = TemplateKey::for_packet(&fw, ipproto::TCP, ip4(10, 0, 0, 77), ip4(9, 9, 9, 9), 443)
        .unwrap();
    assert_eq!((k.protocol, k.vport, k.vaddr), (0, 0, ip4(1, 2, 3, 4)));
    // IPv6 prefix 64.
    let c6: IpAddr = "2001:db8:1:2:3:4:5:6".parse().unwrap();
    let v6: IpAddr = "2001:db8::80".parse().unwrap();
    let k = TemplateKey::for_packet(&svc, ipproto::TCP, c6, v6, 8080).unwrap();
    assert_eq!(k.caddr, "2001:db8:1:2::".parse::<IpAddr>().unwrap());
    assert_eq!(
        TemplateKey::for_packet(&svc, ipproto::TCP, c6, ip4(1, 1, 1, 1), 8080),
        Err(ConnError::FamilyMismatch)
    );
}

#[test]
fn template_controls_connections_and_cannot_expire_while_they_live() {
    let t0 = Instant::now();
    let mut t = table(t0);
    let svc = persist_svc();
    let key = TemplateKey::for_packet(
        &svc,
        ipproto::TCP,
        ip4(10, 0, 0, 2),
        ip4(207, 175, 44, 110),
        8080,
    )
    .unwrap();
    assert_eq!(t.lookup_template(&key), None);
    let tpl = t
        .insert_template(
            &key,
            DestId(3),
            ip4(172, 16, 0, 2),
            8080,
            FwdMethod::Masq,
            360,
            t0,
        )
        .unwrap();
    assert_eq!(t.lookup_template(&key), Some(tpl));
    assert_eq!(t.dest_counters(DestId(3)).persistconns, 1);
    // A template is not an inbound match even for a cport-0 packet.
    assert_eq!(
        t.lookup_in(
            ipproto::TCP,
            ip4(10, 0, 0, 0),
            0,
            ip4(207, 175, 44, 110),
            8080
        ),
        None
    );
    let c = t.insert(&nat_conn(5555, 3), Some(tpl), t0).unwrap();
    assert_eq!(t.get(tpl).unwrap().n_control, 1);
    assert_eq!(t.get(c).unwrap().control, Some(tpl));
    // ESTABLISHED assures the template.
    t.on_packet(c, Direction::Input, SYN, 0, t0).unwrap();
    t.on_packet(c, Direction::Input, ACK, 0, t0).unwrap();
    assert_eq!(t.get(tpl).unwrap().state, 1);
    let mut s = String::new();
    lvs_conn::write_lnc_row(&t.get(tpl).unwrap(), t0, &mut s);
    assert!(s.contains("ASSURED"), "{s}");
    // At 360 s the template is due but controls a live connection: re-armed 60 s.
    let mut out = Vec::new();
    t.handle_timeout(secs(t0, 361.0), &mut out);
    assert!(out.is_empty());
    assert_eq!(t.get(tpl).unwrap().timeout_secs, 60);
    assert!(t.get(tpl).unwrap().expires_at <= secs(t0, 421.0));
    // Connection expires at 900 s; the template goes at its next check after that.
    t.handle_timeout(secs(t0, 900.0), &mut out);
    assert_eq!(out.len(), 1);
    assert_eq!(out[0].id, c);
    assert_eq!(t.get(tpl).unwrap().n_control, 0);
    t.handle_timeout(secs(t0, 961.0), &mut out);
    assert_eq!(out.len(), 2);
    assert_eq!(out[1].id, tpl);
    assert_eq!(t.dest_counters(DestId(3)), DestCounters::default());
}

#[test]
fn template_reuse_rearms_and_invalid_template_becomes_unmatchable() {
    let t0 = Instant::now();
    let mut t = table(t0);
    let key = TemplateKey {
        protocol: ipproto::TCP,
        caddr: ip4(10, 0, 0, 0),
        vaddr: ip4(1, 1, 1, 1),
        vport: 80,
    };
    let tpl = t
        .insert_template(
            &key,
            DestId(1),
            ip4(2, 2, 2, 2),
            80,
            FwdMethod::DirectRoute,
            100,
            t0,
        )
        .unwrap();
    // Used at 90 s: timer re-armed to 190 s.
    assert!(t.check_template(tpl, true, secs(t0, 90.0)).unwrap());
    let mut out = Vec::new();
    t.handle_timeout(secs(t0, 150.0), &mut out);
    assert!(out.is_empty());
    // Real server quiescent with expire_quiescent_template: invalidated, left to expire.
    assert!(!lvs_conn::template_dest_usable(true, 0, true));
    assert!(lvs_conn::template_dest_usable(true, 0, false));
    assert!(!t.check_template(tpl, false, secs(t0, 151.0)).unwrap());
    assert_eq!(t.lookup_template(&key), None);
    let v = t.get(tpl).unwrap();
    assert_eq!((v.vport, v.dport), (0xffff, 0xffff));
    // A new template for the same key can be inserted and found.
    let tpl2 = t
        .insert_template(
            &key,
            DestId(2),
            ip4(2, 2, 2, 3),
            80,
            FwdMethod::DirectRoute,
            100,
            t0,
        )
        .unwrap();
    assert_eq!(t.lookup_template(&key), Some(tpl2));
    t.handle_timeout(secs(t0, 190.0), &mut out);
    assert_eq!(
        out.len(),
        2,
        "both templates expired by 190 s (tpl2 armed at 0 + 100)"
    );
}

/// A UDP :53 persistence template for `caddr` on real server 1 (NAT, 100 s).
fn dns_template(t: &mut ConnTable, caddr: IpAddr, t0: Instant) -> lvs_conn::ConnId {
    let key = TemplateKey {
        protocol: ipproto::UDP,
        caddr,
        vaddr: ip4(1, 1, 1, 1),
        vport: 53,
    };
    t.insert_template(
        &key,
        DestId(1),
        ip4(2, 2, 2, 2),
        53,
        FwdMethod::Masq,
        100,
        t0,
    )
    .unwrap()
}

#[test]
fn release_unassured_template_for_one_packet_scheduling() {
    let t0 = Instant::now();
    let mut t = table(t0);
    assert!(lvs_conn::one_packet_eligible(ipproto::UDP));
    assert!(!lvs_conn::one_packet_eligible(ipproto::TCP));
    let tpl = dns_template(&mut t, ip4(10, 0, 0, 0), t0);
    assert!(t.release_unassured_template(tpl).unwrap());
    assert!(t.get(tpl).is_none());
    assert_eq!(t.dest_counters(DestId(1)).persistconns, 0);
    // One-packet flags are refused by insert_raw.
    let mut p = nat_conn(1, 0);
    p.protocol = ipproto::UDP;
    assert_eq!(
        t.insert_raw(&p, None, 0, conn_flags::ONE_PACKET, 10, t0),
        Err(ConnError::OnePacket)
    );
}

#[test]
fn udp_never_active_and_output_assures_template() {
    let t0 = Instant::now();
    let mut t = table(t0);
    let tpl = dns_template(&mut t, ip4(10, 0, 0, 2), t0);
    let p = ConnParams {
        protocol: ipproto::UDP,
        caddr: ip4(10, 0, 0, 2),
        cport: 5000,
        vaddr: ip4(1, 1, 1, 1),
        vport: 53,
        daddr: ip4(2, 2, 2, 2),
        dport: 53,
        fwd: FwdMethod::Masq,
        dest: Some(DestId(1)),
        local: None,
    };
    let id = t.insert(&p, Some(tpl), t0).unwrap();
    t.on_packet(id, Direction::Input, L4Info::Udp, 10, t0)
        .unwrap();
    assert_eq!(t.get(tpl).unwrap().state, 0);
    t.on_packet(id, Direction::Output, L4Info::Udp, 10, t0)
        .unwrap();
    assert_eq!(t.get(tpl).unwrap().state, 1);
    assert_eq!(t.get(id).unwrap().timeout_secs, 300);
    assert_eq!(t.dest_counters(DestId(1)), dc(0, 1, 1));
}

#[test]
fn fullnat_reply_found_by_local_address_and_port() {
    let t0 = Instant::now();
    let mut t = table(t0);
    let mut p = nat_conn(40000, 1);
    p.fwd = FwdMethod::FullNat;
    assert_eq!(t.insert(&p, None, t0), Err(ConnError::MissingLocal));
    p.local = Some((ip4(172, 16, 0, 1), 61000));
    let id = t.insert(&p, None, t0).unwrap();
    assert_eq!(t.get(id).unwrap().local, Some((ip4(172, 16, 0, 1), 61000)));
    // Reply RIP:rport -> LIP:lport.
    assert_eq!(
        t.lookup_out(ipproto::TCP, p.daddr, 8080, ip4(172, 16, 0, 1), 61000),
        Some(id)
    );
    // Not as a NAT reply to the client.
    assert_eq!(
        t.lookup_out(ipproto::TCP, p.daddr, 8080, p.caddr, 40000),
        None
    );
    assert!(t.local_in_use(ipproto::TCP, ip4(172, 16, 0, 1), 61000, p.daddr, 8080));
    let mut q = nat_conn(40001, 1);
    q.fwd = FwdMethod::FullNat;
    q.local = Some((ip4(172, 16, 0, 1), 61000));
    assert_eq!(t.insert(&q, None, t0), Err(ConnError::LocalPortInUse));
    q.local = Some((ip4(172, 16, 0, 1), 61001));
    let id2 = t.insert(&q, None, t0).unwrap();
    t.expire_now(id, t0).unwrap();
    assert_eq!(
        t.lookup_out(ipproto::TCP, p.daddr, 8080, ip4(172, 16, 0, 1), 61000),
        None
    );
    assert_eq!(
        t.lookup_out(ipproto::TCP, p.daddr, 8080, ip4(172, 16, 0, 1), 61001),
        Some(id2)
    );
}

#[test]
fn ipv6_entries_lookup_and_listing() {
    let t0 = Instant::now();
    let mut t = table(t0);
    let c: IpAddr = "2001:db8::2".parse().unwrap();
    let v: IpAddr = "2001:db8::100".parse().unwrap();
    let d: IpAddr = "fd00::2".parse().unwrap();
    let p = ConnParams {
        protocol: ipproto::TCP,
        caddr: c,
        cport: 40000,
        vaddr: v,
        vport: 80,
        daddr: d,
        dport: 8080,
        fwd: FwdMethod::Masq,
        dest: Some(DestId(9)),
        local: None,
    };
    let id = t.insert(&p, None, t0).unwrap();
    assert_eq!(t.lookup_in(ipproto::TCP, c, 40000, v, 80), Some(id));
    assert_eq!(t.lookup_out(ipproto::TCP, d, 8080, c, 40000), Some(id));
    // An IPv4 tuple never matches the IPv6 entry.
    assert_eq!(
        t.lookup_in(ipproto::TCP, ip4(0, 0, 0, 0), 40000, ip4(0, 0, 0, 0), 80),
        None
    );
    t.on_packet(id, Direction::Input, SYN, 0, t0).unwrap();
    let mut s = String::new();
    t.write_ipvsadm_lnc(secs(t0, 0.5), &mut s);
    assert_eq!(
        s,
        "IPVS connection entries\n\
         pro expire state       source             virtual            destination\n\
         TCP 00:59  SYN_RECV    [2001:db8::2]:40000 [2001:db8::100]:80 [fd00::2]:8080\n"
    );
    let mut s = String::new();
    t.write_proc_ip_vs_conn(secs(t0, 0.5), &mut s);
    assert_eq!(
        s,
        "Pro FromIP   FPrt ToIP     TPrt DestIP   DPrt State       Expires PEName PEData\n\
         TCP 2001:0db8:0000:0000:0000:0000:0000:0002 9C40 \
         2001:0db8:0000:0000:0000:0000:0000:0100 0050 \
         fd00:0000:0000:0000:0000:0000:0000:0002 1F90 SYN_RECV         59\n"
    );
    // Mixed families are refused.
    let mut bad = p;
    bad.daddr = ip4(1, 1, 1, 1);
    assert_eq!(t.insert(&bad, None, t0), Err(ConnError::FamilyMismatch));
    let _ = Ipv6Addr::LOCALHOST;
}

#[test]
fn listing_lines_match_ipvsadm_and_proc_formats() {
    // Reference: "TCP 14:59  ESTABLISHED 10.0.0.2:40000     207.175.44.110:8080 172.16.0.2:8080"
    let t0 = Instant::now();
    let mut t = table(t0);
    let id = t.insert(&nat_conn(40000, 0), None, t0).unwrap();
    t.on_packet(id, Direction::Input, SYN, 0, t0).unwrap();
    t.on_packet(id, Direction::Input, ACK, 0, t0).unwrap();
    let now = secs(t0, 0.3);
    let mut s = String::new();
    t.write_ipvsadm_lnc(now, &mut s);
    assert_eq!(
        s.lines().nth(2).unwrap(),
        "TCP 14:59  ESTABLISHED 10.0.0.2:40000     207.175.44.110:8080 172.16.0.2:8080"
    );
    let mut s = String::new();
    t.write_proc_ip_vs_conn(now, &mut s);
    assert_eq!(
        s.lines().nth(1).unwrap(),
        "TCP 0A000002 9C40 CFAF2C6E 1F90 AC100002 1F90 ESTABLISHED     899"
    );
    // A template row: state NONE, cport 0.
    let key = TemplateKey {
        protocol: ipproto::TCP,
        caddr: ip4(10, 0, 0, 2),
        vaddr: ip4(207, 175, 44, 110),
        vport: 8080,
    };
    t.insert_template(
        &key,
        DestId(0),
        ip4(172, 16, 0, 2),
        8080,
        FwdMethod::Masq,
        360,
        t0,
    )
    .unwrap();
    let mut s = String::new();
    t.write_ipvsadm_lnc(now, &mut s);
    assert_eq!(
        s.lines().nth(3).unwrap(),
        "TCP 05:59  NONE        10.0.0.2:0         207.175.44.110:8080 172.16.0.2:8080"
    );
}

#[test]
fn conn_reuse_reschedules_syn_on_time_wait() {
    // "conn_reuse_mode (default 1): a SYN hitting an uncontrolled connection in TIME_WAIT or
    // CLOSE expires it and schedules anew."
    let t0 = Instant::now();
    let mut t = table(t0);
    let p = nat_conn(40000, 1);
    let id = t.insert(&p, None, t0).unwrap();
    t.on_packet(id, Direction::Input, SYN, 0, t0).unwrap();
    t.on_packet(id, Direction::Input, ACK, 0, t0).unwrap();
    assert_eq!(
        t.reuse_check(id, true, false, t0).unwrap(),
        ReuseVerdict::Keep
    );
    t.on_packet(id, Direction::Output, FIN, 0, t0).unwrap(); // ES -> FW
    t.on_packet(id, Direction::Input, FIN, 0, t0).unwrap(); // FW -> TW
    assert_eq!(t.get(id).unwrap().state, TcpState::TimeWait as u8);
    assert_eq!(
        t.reuse_check(id, false, false, t0).unwrap(),
        ReuseVerdict::Keep
    );
    match t.reuse_check(id, true, false, t0).unwrap() {
        ReuseVerdict::Reschedule(Some(e)) => assert_eq!(e.id, id),
        v => panic!("{v:?}"),
    }
    assert!(t.get(id).is_none());
    assert_eq!(
        t.lookup_in(ipproto::TCP, p.caddr, 40000, p.vaddr, 8080),
        None
    );
}

#[test]
fn expire_nodest_conn_drops_or_expires() {
    let t0 = Instant::now();
    let mut t = table(t0);
    let id = t.insert(&nat_conn(1, 1), None, t0).unwrap();
    assert_eq!(
        t.nodest_check(id, true, t0).unwrap(),
        NodestVerdict::Forward
    );
    assert_eq!(t.nodest_check(id, false, t0).unwrap(), NodestVerdict::Drop);
    let cfg = ConnConfig {
        expire_nodest_conn: true,
        ..ConnConfig::default()
    };
    let mut t = ConnTable::new(cfg, t0);
    let id = t.insert(&nat_conn(1, 1), None, t0).unwrap();
    assert!(matches!(
        t.nodest_check(id, false, t0).unwrap(),
        NodestVerdict::Expired(Some(_))
    ));
    assert!(t.is_empty());
    assert_eq!(t.dest_counters(DestId(1)), DestCounters::default());
}

#[test]
fn bad_input_gives_typed_errors() {
    let t0 = Instant::now();
    let cfg = ConnConfig {
        max_dests: 10,
        ..ConnConfig::default()
    };
    let mut t = ConnTable::new(cfg, t0);
    let mut p = nat_conn(1, 10);
    assert_eq!(t.insert(&p, None, t0), Err(ConnError::DestOutOfRange(10)));
    p.dest = Some(DestId(1));
    p.protocol = 47;
    assert_eq!(
        t.insert(&p, None, t0),
        Err(ConnError::UnsupportedProtocol(47))
    );
    p.protocol = ipproto::TCP;
    let id = t.insert(&p, None, t0).unwrap();
    t.expire_now(id, t0).unwrap();
    assert_eq!(
        t.insert(&nat_conn(2, 1), Some(id), t0),
        Err(ConnError::NoSuchControl)
    );
    assert_eq!(t.expire_now(id, t0), Err(ConnError::NoSuchConn));
    let live = t.insert(&nat_conn(3, 1), None, t0).unwrap();
    assert_eq!(
        t.check_template(live, false, t0),
        Err(ConnError::NotTemplate)
    );
    assert_eq!(t.get(live).unwrap().vport, 8080);
    assert_eq!(
        t.set_timeouts(3_000_000, 0, 0),
        Err(ConnError::TimeoutOutOfRange(3_000_000))
    );
}
