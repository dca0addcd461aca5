//! Master table -> sync messages -> backup table, through the kernel wire format.

use std::net::{IpAddr, Ipv4Addr};
use std::time::{Duration, Instant};

use lvs_conn::proto::{ipproto, tcp_flags};
use lvs_conn::sync::{SyncConfig, SyncConn, SyncMessage, SyncMessageWriter, SyncVersion};
use lvs_conn::{
    ConnConfig, ConnError, ConnParams, ConnTable, DestId, Direction, FwdMethod, L4Info, TcpState,
    TemplateKey, conn_flags,
};

fn ip(a: u8, b: u8, c: u8, d: u8) -> IpAddr {
    IpAddr::V4(Ipv4Addr::new(a, b, c, d))
}

fn params(cport: u16) -> ConnParams {
    ConnParams {
        protocol: ipproto::TCP,
        caddr: ip(10, 0, 0, 2),
        cport,
        vaddr: ip(192, 168, 56, 200),
        vport: 80,
        daddr: ip(192, 168, 56, 102),
        dport: 80,
        fwd: FwdMethod::DirectRoute,
        dest: Some(DestId(1)),
        local: None,
    }
}

fn tcp(flags: u8) -> L4Info {
    L4Info::Tcp { flags }
}

#[test]
fn master_sends_on_threshold_and_backup_imports_synced_entries() {
    let t0 = Instant::now();
    let mut master = ConnTable::new(ConnConfig::default(), t0);
    let cfg = SyncConfig::default(); // "3 50"
    let key = TemplateKey {
        protocol: ipproto::TCP,
        caddr: ip(10, 0, 0, 0),
        vaddr: ip(192, 168, 56, 200),
        vport: 80,
    };
    let tpl = master
        .insert_template(
            &key,
            DestId(1),
            ip(192, 168, 56, 102),
            80,
            FwdMethod::DirectRoute,
            360,
            t0,
        )
        .unwrap();
    let id = master.insert(&params(40000), Some(tpl), t0).unwrap();
    let mut sent: Vec<SyncConn<'static>> = Vec::new();
    // Packets 1..3 inbound: SYN, ACK (ES), ACK. The connection is sent at its 3rd packet
    // (threshold 3, and only in a synced state); its template, which skips the
    // pkts % sync_period test, goes along the chain every time (ip_vs_sync_conn_needed).
    for (k, f) in [tcp_flags::SYN, tcp_flags::ACK, tcp_flags::ACK]
        .iter()
        .enumerate()
    {
        master
            .on_packet(id, Direction::Input, tcp(*f), 60, t0)
            .unwrap();
        sent.clear();
        let n = master
            .sync_after_input(id, &cfg, t0, |c| sent.push(c))
            .unwrap();
        assert_eq!(n, if k == 2 { 2 } else { 1 }, "packet {}", k + 1);
        assert!(sent.last().unwrap().is_template());
    }
    assert_eq!(sent[0].state, TcpState::Established as u16);
    assert!(sent[1].is_template());
    assert_eq!(sent[0].flags & conn_flags::HASHED, 0);

    // Wire round trip (version 1).
    let mut buf = [0u8; 1472];
    let mut w = SyncMessageWriter::new(SyncVersion::V1, &mut buf, 1).unwrap();
    for c in &sent {
        w.push(c).unwrap();
    }
    let datagram = w.finish().to_vec();
    let msg = SyncMessage::parse_as_backup(&datagram, 0).unwrap();
    let mut backup = ConnTable::new(ConnConfig::default(), t0);
    let mut imported = Vec::new();
    for c in msg.conns() {
        let c = c.unwrap();
        imported.push(
            backup
                .sync_import(&c, msg.version(), Some(DestId(1)), 3, t0)
                .unwrap(),
        );
    }
    let bid = backup
        .lookup_in(
            ipproto::TCP,
            ip(10, 0, 0, 2),
            40000,
            ip(192, 168, 56, 200),
            80,
        )
        .unwrap();
    let v = backup.get(bid).unwrap();
    assert_ne!(v.flags & conn_flags::SYNC, 0);
    assert_eq!(v.state, TcpState::Established as u8);
    assert_eq!(v.in_pkts, 3);
    assert_eq!(v.timeout_secs, 900);
    assert!(backup.lookup_template(&key).is_some());
    let c = backup.dest_counters(DestId(1));
    assert_eq!((c.activeconns, c.inactconns, c.persistconns), (1, 0, 1));

    // The master's connection closes: FIN (-> FIN_WAIT under INPUT_ONLY) is sent at once
    // (state change into a synced state other than ESTABLISHED).
    sent.clear();
    master
        .on_packet(id, Direction::Input, tcp(tcp_flags::FIN), 60, t0)
        .unwrap();
    master
        .sync_after_input(id, &cfg, t0, |c| sent.push(c))
        .unwrap();
    assert_eq!(sent[0].state, TcpState::FinWait as u16);
    assert_ne!(sent[0].flags & conn_flags::INACTIVE, 0);
    backup
        .sync_import(
            &sent[0],
            SyncVersion::V1,
            Some(DestId(1)),
            3,
            t0 + Duration::from_secs(1),
        )
        .unwrap();
    let v = backup.get(bid).unwrap();
    assert_eq!(v.state, TcpState::FinWait as u8);
    let c = backup.dest_counters(DestId(1));
    assert_eq!((c.activeconns, c.inactconns), (0, 1));
}

#[test]
fn import_rejects_bad_state_and_replaces_moved_connection() {
    let t0 = Instant::now();
    let mut backup = ConnTable::new(ConnConfig::default(), t0);
    let mut c = SyncConn {
        protocol: ipproto::TCP,
        caddr: ip(10, 0, 0, 2),
        cport: 1,
        vaddr: ip(1, 1, 1, 1),
        vport: 80,
        daddr: ip(2, 2, 2, 2),
        dport: 80,
        flags: conn_flags::DROUTE,
        state: 11,
        fwmark: 0,
        timeout: 0,
        seq: None,
        pe_data: None,
        pe_name: None,
    };
    assert_eq!(
        backup.sync_import(&c, SyncVersion::V1, None, 3, t0),
        Err(ConnError::InvalidSyncState(11))
    );
    c.state = 1;
    let a = backup
        .sync_import(&c, SyncVersion::V1, Some(DestId(0)), 3, t0)
        .unwrap()
        .unwrap();
    // Same flow now on another real server, active: old entry replaced.
    c.daddr = ip(2, 2, 2, 3);
    let b = backup
        .sync_import(&c, SyncVersion::V1, Some(DestId(1)), 3, t0)
        .unwrap()
        .unwrap();
    assert_ne!(a, b);
    assert!(backup.get(a).is_none());
    assert_eq!(backup.len(), 1);
    assert_eq!(backup.dest_counters(DestId(0)).activeconns, 0);
    assert_eq!(backup.dest_counters(DestId(1)).activeconns, 1);
    // An inactive message for yet another server is ignored.
    c.daddr = ip(2, 2, 2, 4);
    c.flags |= conn_flags::INACTIVE;
    assert_eq!(
        backup.sync_import(&c, SyncVersion::V1, Some(DestId(2)), 3, t0),
        Ok(None)
    );
}
