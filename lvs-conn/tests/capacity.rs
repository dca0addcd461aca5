//! Hard capacity: shedding order, refusal, byte cap, and secure_tcp under a SYN flood.

use std::net::{IpAddr, Ipv4Addr};
use std::time::Instant;

use lvs_conn::proto::{ipproto, tcp_flags};
use lvs_conn::{
    ConnConfig, ConnError, ConnId, ConnParams, ConnTable, DestId, Direction, FwdMethod, L4Info,
    TcpState, TemplateKey,
};

fn ip(n: u32) -> IpAddr {
    IpAddr::V4(Ipv4Addr::from_bits(0x0a00_0000 | n))
}

fn conn(proto: u8, client: u32, cport: u16) -> ConnParams {
    ConnParams {
        protocol: proto,
        caddr: ip(client),
        cport,
        vaddr: IpAddr::V4(Ipv4Addr::new(192, 168, 56, 200)),
        vport: 80,
        daddr: IpAddr::V4(Ipv4Addr::new(192, 168, 56, 102)),
        dport: 80,
        fwd: FwdMethod::Masq,
        dest: Some(DestId(0)),
        local: None,
    }
}

fn tcp(flags: u8) -> L4Info {
    L4Info::Tcp { flags }
}

fn established(t: &mut ConnTable, id: ConnId, now: Instant) {
    t.on_packet(id, Direction::Input, tcp(tcp_flags::SYN), 0, now)
        .unwrap();
    t.on_packet(id, Direction::Input, tcp(tcp_flags::ACK), 0, now)
        .unwrap();
    assert_eq!(t.get(id).unwrap().state, TcpState::Established as u8);
}

#[test]
fn shedding_order_closed_then_embryonic_then_half_closed_then_udp_never_established() {
    let t0 = Instant::now();
    let cfg = ConnConfig {
        max_entries: 7,
        ..ConnConfig::default()
    };
    let mut t = ConnTable::new(cfg, t0);
    let es = t.insert(&conn(ipproto::TCP, 1, 1), None, t0).unwrap();
    established(&mut t, es, t0);
    // TIME_WAIT (class 0).
    let tw = t.insert(&conn(ipproto::TCP, 2, 1), None, t0).unwrap();
    established(&mut t, tw, t0);
    t.on_packet(tw, Direction::Output, tcp(tcp_flags::FIN), 0, t0)
        .unwrap();
    t.on_packet(tw, Direction::Input, tcp(tcp_flags::FIN), 0, t0)
        .unwrap();
    assert_eq!(t.get(tw).unwrap().state, TcpState::TimeWait as u8);
    // SYN_RECV (class 1), two of them: the older goes first.
    let sr_old = t.insert(&conn(ipproto::TCP, 3, 1), None, t0).unwrap();
    t.on_packet(sr_old, Direction::Input, tcp(tcp_flags::SYN), 0, t0)
        .unwrap();
    let sr_new = t.insert(&conn(ipproto::TCP, 4, 1), None, t0).unwrap();
    t.on_packet(sr_new, Direction::Input, tcp(tcp_flags::SYN), 0, t0)
        .unwrap();
    // FIN_WAIT (class 2).
    let fw = t.insert(&conn(ipproto::TCP, 5, 1), None, t0).unwrap();
    established(&mut t, fw, t0);
    t.on_packet(fw, Direction::Output, tcp(tcp_flags::FIN), 0, t0)
        .unwrap();
    assert_eq!(t.get(fw).unwrap().state, TcpState::FinWait as u8);
    // UDP (class 3).
    let udp = t.insert(&conn(ipproto::UDP, 6, 1), None, t0).unwrap();
    // A template: never shed.
    let key = TemplateKey {
        protocol: ipproto::TCP,
        caddr: ip(0),
        vaddr: IpAddr::V4(Ipv4Addr::new(192, 168, 56, 200)),
        vport: 80,
    };
    let tpl = t
        .insert_template(&key, DestId(0), ip(9), 80, FwdMethod::Masq, 300, t0)
        .unwrap();
    assert_eq!(t.len(), 7);

    let order = [tw, sr_old, sr_new, fw, udp];
    for (k, victim) in order.iter().enumerate() {
        let id = t
            .insert(&conn(ipproto::TCP, 100 + k as u32, 1), None, t0)
            .unwrap();
        established(&mut t, id, t0);
        assert!(t.get(*victim).is_none(), "victim {k} not shed");
        for later in &order[k + 1..] {
            assert!(t.get(*later).is_some(), "shed out of order at {k}");
        }
        assert_eq!(t.len(), 7);
    }
    assert_eq!(t.stats().evicted, [1, 2, 1, 1]);
    // Only ESTABLISHED entries and the template are left: a new SYN is refused.
    assert_eq!(
        t.insert(&conn(ipproto::TCP, 200, 1), None, t0),
        Err(ConnError::TableFull)
    );
    assert_eq!(t.stats().refused_full, 1);
    assert!(t.get(es).is_some() && t.get(tpl).is_some());
    // Per-real-server counters still match the survivors: 6 ESTABLISHED + 1 template.
    let c = t.dest_counters(DestId(0));
    assert_eq!((c.activeconns, c.inactconns, c.persistconns), (6, 0, 1));
}

#[test]
fn entry_controlling_others_is_not_shed() {
    let t0 = Instant::now();
    let cfg = ConnConfig {
        max_entries: 3,
        ..ConnConfig::default()
    };
    let mut t = ConnTable::new(cfg, t0);
    // An embryonic control connection with an established child (FTP style).
    let ctl = t.insert(&conn(ipproto::TCP, 1, 21), None, t0).unwrap();
    let child = t.insert(&conn(ipproto::TCP, 1, 20), Some(ctl), t0).unwrap();
    established(&mut t, child, t0);
    let victim = t.insert(&conn(ipproto::TCP, 2, 1), None, t0).unwrap();
    let id = t.insert(&conn(ipproto::TCP, 3, 1), None, t0).unwrap();
    assert!(t.get(ctl).is_some());
    assert!(t.get(victim).is_none());
    assert!(t.get(id).is_some());
}

#[test]
fn byte_cap_is_never_exceeded() {
    let t0 = Instant::now();
    let cfg = ConnConfig {
        max_entries: 1 << 20,
        max_bytes: 200_000,
        ..ConnConfig::default()
    };
    let mut t = ConnTable::new(cfg, t0);
    for i in 0..5000u32 {
        let id = t.insert(&conn(ipproto::TCP, i, 1), None, t0).unwrap();
        t.on_packet(id, Direction::Input, tcp(tcp_flags::SYN), 0, t0)
            .unwrap();
        assert!(t.memory_bytes() <= 200_000, "{} bytes", t.memory_bytes());
    }
    assert!(t.len() < 5000);
    assert_eq!(t.stats().evicted[1], 5000 - t.len() as u64);
    assert_eq!(t.stats().refused_full, 0);
}

/// Legitimate clients complete the handshake (SYN in, SYN-ACK out, ACK in, data out);
/// an attacker sends spoofed SYNs and blind ACKs from many addresses.
fn flood(secure_tcp: bool) -> (ConnTable, Vec<ConnId>, u64) {
    let t0 = Instant::now();
    let cfg = ConnConfig {
        max_entries: 200,
        secure_tcp,
        ..ConnConfig::default()
    };
    let mut t = ConnTable::new(cfg, t0);
    let mut legit = Vec::new();
    for i in 0..50u32 {
        let id = t.insert(&conn(ipproto::TCP, i, 1000), None, t0).unwrap();
        t.on_packet(id, Direction::Input, tcp(tcp_flags::SYN), 60, t0)
            .unwrap();
        t.on_packet(
            id,
            Direction::Output,
            tcp(tcp_flags::SYN | tcp_flags::ACK),
            60,
            t0,
        )
        .unwrap();
        t.on_packet(id, Direction::Input, tcp(tcp_flags::ACK), 52, t0)
            .unwrap();
        t.on_packet(id, Direction::Output, tcp(tcp_flags::ACK), 500, t0)
            .unwrap();
        assert_eq!(t.get(id).unwrap().state, TcpState::Established as u8);
        legit.push(id);
    }
    let mut refused = 0;
    for i in 0..10_000u32 {
        match t.insert(&conn(ipproto::TCP, 0x10000 + i, 4444), None, t0) {
            Ok(id) => {
                t.on_packet(id, Direction::Input, tcp(tcp_flags::SYN), 60, t0)
                    .unwrap();
                t.on_packet(id, Direction::Input, tcp(tcp_flags::ACK), 52, t0)
                    .unwrap();
            }
            Err(ConnError::TableFull) => refused += 1,
            Err(e) => panic!("{e}"),
        }
    }
    (t, legit, refused)
}

#[test]
fn secure_tcp_keeps_blind_acks_embryonic_so_a_syn_flood_is_shed() {
    // tcp_states_dos: IN ack[sSR] = SR, so a spoofed SYN + blind ACK never reaches
    // ESTABLISHED; those entries stay sheddable and new flows keep being admitted.
    let (t, legit, refused) = flood(true);
    assert_eq!(refused, 0);
    assert!(t.len() <= 200);
    for id in &legit {
        assert_eq!(t.get(*id).unwrap().state, TcpState::Established as u8);
    }
    let syn_recv = t
        .iter()
        .filter(|v| v.state == TcpState::SynRecv as u8)
        .count();
    assert_eq!(syn_recv, 150);
    assert_eq!(t.stats().evicted[1], 10_000 - 150);
}

#[test]
fn without_secure_tcp_blind_acks_establish_and_the_table_refuses() {
    // tcp_states: IN ack[sSR] = ES, so the flood fills the table with ESTABLISHED entries,
    // which are never evicted: later SYNs get TableFull, the legitimate flows survive.
    let (t, legit, refused) = flood(false);
    assert_eq!(refused, 10_000 - 150);
    assert_eq!(t.stats().refused_full, refused);
    for id in &legit {
        assert!(t.get(*id).is_some());
    }
    assert_eq!(t.len(), 200);
}
