//! The sharded table shared by threads.

use std::net::{IpAddr, Ipv4Addr};
use std::sync::Arc;
use std::time::{Duration, Instant};

use lvs_conn::proto::{ipproto, tcp_flags};
use lvs_conn::{
    ConnConfig, ConnError, ConnParams, DestId, Direction, FwdMethod, L4Info, ShardConfig,
    ShardedConnTable,
};

fn conn(client: u32, cport: u16, dest: u32) -> ConnParams {
    ConnParams {
        protocol: ipproto::TCP,
        caddr: IpAddr::V4(Ipv4Addr::from_bits(0x0a00_0000 | client)),
        cport,
        vaddr: IpAddr::V4(Ipv4Addr::new(192, 168, 56, 200)),
        vport: 80,
        daddr: IpAddr::V4(Ipv4Addr::new(192, 168, 56, 100 + dest as u8)),
        dport: 80,
        fwd: FwdMethod::Masq,
        dest: Some(DestId(dest)),
        local: None,
    }
}

#[test]
fn two_threads_share_one_logical_table_and_both_directions_find_the_shard() {
    let t0 = Instant::now();
    let table = Arc::new(ShardedConnTable::new(
        ConnConfig::default(),
        ShardConfig::default(),
        t0,
    ));
    let handles: Vec<_> = (0..2u32)
        .map(|w| {
            let table = Arc::clone(&table);
            std::thread::spawn(move || {
                for i in 0..2000u32 {
                    let p = conn(w * 100_000 + i, 1000, w);
                    let mut g = table.lock_client(p.caddr);
                    let id = g.insert(&p, None, t0).unwrap();
                    g.on_packet(
                        id,
                        Direction::Input,
                        L4Info::Tcp {
                            flags: tcp_flags::SYN,
                        },
                        0,
                        t0,
                    )
                    .unwrap();
                }
            })
        })
        .collect();
    for h in handles {
        h.join().unwrap();
    }
    assert_eq!(table.len(), 4000);
    for w in 0..2u32 {
        let c = table.dest_counters(DestId(w));
        assert_eq!((c.activeconns, c.inactconns), (2000, 0));
        for i in (0..2000u32).step_by(97) {
            let p = conn(w * 100_000 + i, 1000, w);
            // Inbound: shard of the source (client).
            let found_in =
                table
                    .lock_client(p.caddr)
                    .lookup_in(ipproto::TCP, p.caddr, 1000, p.vaddr, 80);
            // NAT reply: shard of the destination (client again).
            let found_out =
                table
                    .lock_client(p.caddr)
                    .lookup_out(ipproto::TCP, p.daddr, 80, p.caddr, 1000);
            assert!(found_in.is_some());
            assert_eq!(found_in, found_out);
        }
    }
    let mut out = Vec::new();
    table.handle_timeout(t0 + Duration::from_secs(61), &mut out);
    assert_eq!(out.len(), 4000);
    assert!(table.is_empty());
    assert_eq!(table.poll_timeout(), None);
}

#[test]
fn prefix_sharding_keeps_a_client_subnet_in_one_shard_and_fullnat_ports_route() {
    let t0 = Instant::now();
    let table = ShardedConnTable::new(
        ConnConfig::default(),
        ShardConfig {
            shards: 8,
            prefix_v4: 24,
            ..ShardConfig::default()
        },
        t0,
    );
    let a = IpAddr::V4(Ipv4Addr::new(10, 1, 2, 3));
    let b = IpAddr::V4(Ipv4Addr::new(10, 1, 2, 250));
    assert_eq!(table.shard_of_client(a), table.shard_of_client(b));
    // FULLNAT: exactly one in 8 local ports routes back to the client's shard.
    let ok: Vec<u16> = (1024..1040)
        .filter(|p| table.fullnat_port_ok(a, *p))
        .collect();
    assert_eq!(ok.len(), 2);
    for p in &ok {
        assert_eq!(table.shard_of_fullnat_reply(*p), table.shard_of_client(a));
    }
    assert_eq!(table.check_fullnat(a, ok[0]), Ok(()));
    assert_eq!(
        table.check_fullnat(a, ok[0] + 1),
        Err(ConnError::WrongShard)
    );
}
