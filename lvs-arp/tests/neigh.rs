//! Neighbour-table state machine against the kernel's NUD rules (net/core/neighbour.c) and
//! `arp_tbl` defaults (net/ipv4/arp.c: mcast_solicit 3, ucast_solicit 3, retrans_time 1 s,
//! base_reachable_time 30 s, delay_first_probe_time 5 s, gc_stale_time 60 s, locktime 1 s).

mod common;

use std::net::IpAddr;

use common::*;
use lvs_arp::{
    ArpFrame, GarpForm, Host, Learn, LearnState, MacAddr, NeighConfig, NeighEvent, NeighbourTable,
    NudState, Released, Resolved, Scope, Solicitation, UpdateOutcome,
};

const DEV: u32 = 2;

fn v4(s: &str) -> IpAddr {
    IpAddr::V4(ip(s))
}

fn table() -> NeighbourTable<Vec<u8>> {
    NeighbourTable::new(NeighConfig::default())
}

/// Runs timers until nothing is due before `until`, collecting (time, solicitation).
fn drive(nt: &mut NeighbourTable<Vec<u8>>, until: u64) -> Vec<(u64, Solicitation)> {
    let mut out = Vec::new();
    while let Some(s) = nt.poll_transmit() {
        out.push((0, s));
    }
    while let Some(t) = nt.poll_timeout().filter(|t| *t <= until) {
        nt.handle_timeout(t);
        while let Some(s) = nt.poll_transmit() {
            out.push((t, s));
        }
    }
    out
}

fn reply_learn(ip_: &str, m: &str) -> Learn {
    Learn::Update {
        ifindex: DEV,
        ip: ip(ip_),
        mac: mac(m),
        state: LearnState::Reachable,
        garp: false,
        create: false,
    }
}

#[test]
fn defaults_are_the_kernel_arp_tbl() {
    let c = NeighConfig::default();
    assert_eq!((c.mcast_solicit, c.ucast_solicit), (3, 3));
    assert_eq!((c.retrans_time_ms, c.reachable_time_ms), (1000, 30_000));
    assert_eq!(
        (
            c.delay_first_probe_time_ms,
            c.gc_stale_time_ms,
            c.locktime_ms
        ),
        (5000, 60_000, 1000)
    );
    assert_eq!((c.unres_qlen_bytes, c.max_entries), (212_992, 1024));
}

#[test]
fn incomplete_sends_three_broadcasts_then_fails_and_drops_the_queue() {
    let mut nt = table();
    let rip = v4("10.0.0.5");
    for n in 0..2 {
        let r = nt.resolve(0, DEV, rip, Some(v4("10.0.0.1")), vec![n; 60]);
        assert_eq!(r, Resolved::Queued);
    }
    assert_eq!(
        nt.lookup(DEV, rip),
        Some((MacAddr::ZERO, NudState::Incomplete))
    );
    let sent = drive(&mut nt, 10_000);
    let times: Vec<_> = sent
        .iter()
        .map(|(t, s)| (*t, s.attempt, s.unicast_to))
        .collect();
    assert_eq!(times, vec![(0, 1, None), (1000, 2, None), (2000, 3, None)]);
    assert!(
        sent.iter()
            .all(|(_, s)| s.target == rip && s.trigger_src == Some(v4("10.0.0.1")))
    );
    assert_eq!(
        nt.poll_event(),
        Some(NeighEvent::Failed {
            ifindex: DEV,
            ip: rip,
            dropped: 2
        })
    );
    assert_eq!(nt.lookup(DEV, rip).unwrap().1, NudState::Failed);
    assert_eq!(nt.stats().failed_drops, 2);
    assert_eq!(nt.stats().solicits, 3);
}

#[test]
fn retry_count_follows_mcast_solicit() {
    for n in [1u32, 2, 5] {
        let mut nt: NeighbourTable<Vec<u8>> = NeighbourTable::new(NeighConfig {
            mcast_solicit: n,
            ..NeighConfig::default()
        });
        nt.resolve(0, DEV, v4("10.0.0.5"), None, vec![0; 10]);
        let sent = drive(&mut nt, 60_000);
        assert_eq!(sent.len() as u32, n, "mcast_solicit={n}");
        assert!(matches!(nt.poll_event(), Some(NeighEvent::Failed { .. })));
    }
}

#[test]
fn answer_releases_queue_in_order_and_later_packets_go_straight_out() {
    let mut nt = table();
    let rip = v4("10.0.0.5");
    for n in 0..3u8 {
        nt.resolve(0, DEV, rip, None, vec![n; 100]);
    }
    assert_eq!(nt.queued(DEV, rip), 3);
    assert_eq!(
        nt.learn(400, &reply_learn("10.0.0.5", "02:00:00:00:00:05")),
        UpdateOutcome::Updated
    );
    let mut got = Vec::new();
    while let Some(Released {
        mac: m, packet, ip, ..
    }) = nt.poll_released()
    {
        assert_eq!((m, ip), (mac("02:00:00:00:00:05"), rip));
        got.push(packet[0]);
    }
    assert_eq!(got, vec![0, 1, 2]);
    assert_eq!(
        nt.lookup(DEV, rip),
        Some((mac("02:00:00:00:00:05"), NudState::Reachable))
    );
    match nt.resolve(500, DEV, rip, None, vec![9; 10]) {
        Resolved::Ready { mac: m, packet } => {
            assert_eq!((m, packet[0]), (mac("02:00:00:00:00:05"), 9))
        }
        other => panic!("{other:?}"),
    }
    // The INCOMPLETE retransmit timer is gone: nothing more is sent.
    let sent = drive(&mut nt, 2500);
    assert_eq!(sent.len(), 1, "only the first solicitation at t=0");
}

#[test]
fn reachable_stale_delay_probe_failed() {
    // neigh_timer_handler: REACHABLE -> STALE after reachable_time when unused; use of a
    // STALE entry -> DELAY; no confirmation within delay_first_probe_time -> PROBE with
    // ucast_solicit unicast probes, retrans_time apart -> FAILED.
    let mut nt = table();
    let rip = v4("10.0.0.5");
    let m = mac("02:00:00:00:00:05");
    nt.resolve(0, DEV, rip, None, vec![0; 10]);
    nt.learn(100, &reply_learn("10.0.0.5", "02:00:00:00:00:05"));
    let _ = drive(&mut nt, 30_099);
    assert_eq!(nt.lookup(DEV, rip).unwrap().1, NudState::Reachable);
    let _ = drive(&mut nt, 30_100);
    assert_eq!(nt.lookup(DEV, rip).unwrap().1, NudState::Stale);
    assert!(matches!(
        nt.resolve(40_000, DEV, rip, None, vec![1]),
        Resolved::Ready { .. }
    ));
    assert_eq!(nt.lookup(DEV, rip).unwrap().1, NudState::Delay);
    let sent = drive(&mut nt, 60_000);
    let probes: Vec<_> = sent
        .iter()
        .map(|(t, s)| (*t, s.unicast_to, s.attempt))
        .collect();
    assert_eq!(
        probes,
        vec![
            (45_000, Some(m), 1),
            (46_000, Some(m), 2),
            (47_000, Some(m), 3)
        ]
    );
    assert_eq!(nt.lookup(DEV, rip).unwrap().1, NudState::Failed);
    assert_eq!(
        nt.poll_event(),
        Some(NeighEvent::Failed {
            ifindex: DEV,
            ip: rip,
            dropped: 0
        })
    );
}

#[test]
fn confirmation_during_delay_returns_to_reachable_without_probing() {
    let mut nt = table();
    let rip = v4("10.0.0.5");
    nt.resolve(0, DEV, rip, None, vec![0; 10]);
    nt.learn(0, &reply_learn("10.0.0.5", "02:00:00:00:00:05"));
    let _ = drive(&mut nt, 31_000);
    nt.resolve(40_000, DEV, rip, None, vec![1]);
    assert!(nt.confirm(41_000, DEV, rip));
    let sent = drive(&mut nt, 45_000);
    assert!(sent.iter().all(|(t, _)| *t == 0), "no probe: {sent:?}");
    assert_eq!(nt.lookup(DEV, rip).unwrap().1, NudState::Reachable);
}

#[test]
fn queue_overflow_drops_the_oldest_and_counts() {
    // __neigh_event_send: while queue bytes + new > unres_qlen_bytes, drop the head.
    let mut nt: NeighbourTable<Vec<u8>> = NeighbourTable::new(NeighConfig {
        unres_qlen_bytes: 1000,
        ..NeighConfig::default()
    });
    let rip = v4("10.0.0.5");
    for n in 0..5u8 {
        assert_eq!(
            nt.resolve(0, DEV, rip, None, vec![n; 300]),
            Resolved::Queued
        );
    }
    assert_eq!(nt.queued(DEV, rip), 3);
    assert_eq!(nt.stats().unres_discards, 2);
    // A lone packet larger than the limit is still queued (the kernel's loop ends on empty).
    nt.resolve(0, DEV, v4("10.0.0.6"), None, vec![7; 5000]);
    assert_eq!(nt.queued(DEV, v4("10.0.0.6")), 1);
    nt.learn(10, &reply_learn("10.0.0.5", "02:00:00:00:00:05"));
    let kept: Vec<u8> = std::iter::from_fn(|| nt.poll_released())
        .map(|r| r.packet[0])
        .collect();
    assert_eq!(kept, vec![2, 3, 4]);
}

#[test]
fn static_entries_never_change() {
    // arp -s 192.168.1.120 08:00:27:7e:b8:08 (the seeds): NUD_PERMANENT; neigh_update without
    // NEIGH_UPDATE_F_ADMIN leaves it alone.
    let mut nt = table();
    let h = v4("192.168.1.120");
    let m = mac("08:00:27:7e:b8:08");
    nt.add_static(DEV, h, m).unwrap();
    assert_eq!(
        nt.resolve(0, DEV, h, None, vec![1]),
        Resolved::Ready {
            mac: m,
            packet: vec![1]
        }
    );
    let garp = Learn::Update {
        ifindex: DEV,
        ip: ip("192.168.1.120"),
        mac: mac("02:66:66:66:66:66"),
        state: LearnState::Stale,
        garp: true,
        create: true,
    };
    assert_eq!(nt.learn(5000, &garp), UpdateOutcome::Permanent);
    let ev = Learn::Event {
        ifindex: DEV,
        ip: ip("192.168.1.120"),
        mac: mac("02:66:66:66:66:66"),
    };
    assert_eq!(nt.learn(5000, &ev), UpdateOutcome::Permanent);
    let _ = drive(&mut nt, 10_000_000);
    nt.handle_timeout(10_000_000);
    assert_eq!(nt.lookup(DEV, h), Some((m, NudState::Permanent)));
    assert!(nt.poll_transmit().is_none());
}

#[test]
fn static_entry_releases_packets_waiting_on_it() {
    let mut nt = table();
    let h = v4("10.0.0.5");
    nt.resolve(0, DEV, h, None, vec![3]);
    nt.add_static(DEV, h, mac("02:00:00:00:00:05")).unwrap();
    assert_eq!(nt.poll_released().map(|r| r.packet), Some(vec![3]));
}

#[test]
fn locktime_and_garp_override() {
    // arp_process: override = jiffies > updated + locktime || is_garp; neigh_update ignores
    // a new MAC on a valid entry without override.
    let mut nt = table();
    let peer = ip("10.0.0.50");
    let m1 = mac("02:00:00:00:00:01");
    let m2 = mac("02:00:00:00:00:02");
    let m3 = mac("02:00:00:00:00:03");
    assert_eq!(
        nt.learn(
            0,
            &Learn::Event {
                ifindex: DEV,
                ip: peer,
                mac: m1
            }
        ),
        UpdateOutcome::Created
    );
    assert_eq!(
        nt.lookup(DEV, IpAddr::V4(peer)),
        Some((m1, NudState::Stale))
    );
    let upd = |m, garp| Learn::Update {
        ifindex: DEV,
        ip: peer,
        mac: m,
        state: LearnState::Stale,
        garp,
        create: false,
    };
    assert_eq!(nt.learn(500, &upd(m2, false)), UpdateOutcome::Locked);
    assert_eq!(
        nt.learn(1000, &upd(m2, false)),
        UpdateOutcome::Locked,
        "not strictly after"
    );
    assert_eq!(nt.learn(1001, &upd(m2, false)), UpdateOutcome::Updated);
    assert_eq!(
        nt.learn(1100, &upd(m3, true)),
        UpdateOutcome::Updated,
        "GARP overrides at once"
    );
    assert_eq!(
        nt.lookup(DEV, IpAddr::V4(peer)),
        Some((m3, NudState::Stale))
    );
}

#[test]
fn same_mac_stale_update_keeps_reachable() {
    let mut nt = table();
    nt.resolve(0, DEV, v4("10.0.0.5"), None, vec![0]);
    nt.learn(10, &reply_learn("10.0.0.5", "02:00:00:00:00:05"));
    let req = Learn::Update {
        ifindex: DEV,
        ip: ip("10.0.0.5"),
        mac: mac("02:00:00:00:00:05"),
        state: LearnState::Stale,
        garp: false,
        create: false,
    };
    assert_eq!(nt.learn(5000, &req), UpdateOutcome::Unchanged);
    assert_eq!(
        nt.lookup(DEV, v4("10.0.0.5")).unwrap().1,
        NudState::Reachable
    );
}

#[test]
fn creation_only_when_allowed() {
    let mut nt = table();
    let mut l = Learn::Update {
        ifindex: DEV,
        ip: ip("10.0.0.77"),
        mac: mac("02:00:00:00:00:77"),
        state: LearnState::Stale,
        garp: true,
        create: false,
    };
    assert_eq!(nt.learn(0, &l), UpdateOutcome::NotCreated);
    assert!(nt.is_empty());
    if let Learn::Update { create, .. } = &mut l {
        *create = true;
    }
    assert_eq!(nt.learn(0, &l), UpdateOutcome::Created);
    assert_eq!(
        nt.lookup(DEV, v4("10.0.0.77")),
        Some((mac("02:00:00:00:00:77"), NudState::Stale))
    );
    assert_eq!(nt.learn(0, &Learn::Nothing), UpdateOutcome::Unchanged);
}

#[test]
fn stale_and_failed_entries_are_collected_after_gc_stale_time() {
    let mut nt = table();
    nt.learn(
        0,
        &Learn::Event {
            ifindex: DEV,
            ip: ip("10.0.0.50"),
            mac: mac("02:00:00:00:00:01"),
        },
    );
    assert_eq!(nt.poll_timeout(), Some(60_000));
    nt.handle_timeout(59_999);
    assert_eq!(nt.len(), 1);
    nt.handle_timeout(60_000);
    assert!(nt.is_empty());
    assert_eq!(nt.stats().gc_removed, 1);
    // FAILED at 3000 -> collected 60 s later.
    nt.resolve(0, DEV, v4("10.0.0.9"), None, vec![0]);
    let _ = drive(&mut nt, 3000);
    assert_eq!(nt.lookup(DEV, v4("10.0.0.9")).unwrap().1, NudState::Failed);
    let _ = drive(&mut nt, 63_000);
    assert!(nt.is_empty());
}

#[test]
fn failed_entry_restarts_resolution_when_used() {
    let mut nt = table();
    let rip = v4("10.0.0.9");
    nt.resolve(0, DEV, rip, None, vec![0]);
    let _ = drive(&mut nt, 3000);
    assert_eq!(nt.resolve(3500, DEV, rip, None, vec![1]), Resolved::Queued);
    assert_eq!(nt.lookup(DEV, rip).unwrap().1, NudState::Incomplete);
    let s = nt.poll_transmit().unwrap();
    assert_eq!((s.attempt, s.unicast_to), (1, None));
}

#[test]
fn full_table_evicts_stale_else_drops() {
    let mut nt: NeighbourTable<Vec<u8>> = NeighbourTable::new(NeighConfig {
        max_entries: 2,
        ..NeighConfig::default()
    });
    nt.resolve(0, DEV, v4("10.0.0.1"), None, vec![0]);
    nt.resolve(0, DEV, v4("10.0.0.2"), None, vec![0]);
    assert_eq!(
        nt.resolve(0, DEV, v4("10.0.0.3"), None, vec![7]),
        Resolved::Dropped(vec![7])
    );
    assert_eq!(nt.stats().table_full, 1);
    // Resolve 10.0.0.1 and let it go STALE; 10.0.0.2 fails meanwhile. A new destination
    // evicts the FAILED entry first, the next one the STALE entry.
    nt.learn(0, &reply_learn("10.0.0.1", "02:00:00:00:00:01"));
    let _ = drive(&mut nt, 31_000);
    assert_eq!(nt.lookup(DEV, v4("10.0.0.1")).unwrap().1, NudState::Stale);
    assert_eq!(nt.lookup(DEV, v4("10.0.0.2")).unwrap().1, NudState::Failed);
    assert_eq!(
        nt.resolve(31_000, DEV, v4("10.0.0.3"), None, vec![8]),
        Resolved::Queued
    );
    assert_eq!(nt.lookup(DEV, v4("10.0.0.2")), None);
    assert_eq!(nt.lookup(DEV, v4("10.0.0.1")).unwrap().1, NudState::Stale);
    nt.learn(31_000, &reply_learn("10.0.0.3", "02:00:00:00:00:03"));
    assert!(matches!(
        nt.resolve(31_001, DEV, v4("10.0.0.4"), None, vec![9]),
        Resolved::Queued
    ));
    assert_eq!(nt.lookup(DEV, v4("10.0.0.1")), None);
}

#[test]
fn arp_d_removes_and_counts_queued_drops() {
    let mut nt = table();
    nt.resolve(0, DEV, v4("10.0.0.9"), None, vec![0]);
    nt.resolve(0, DEV, v4("10.0.0.9"), None, vec![1]);
    assert!(nt.remove(DEV, v4("10.0.0.9")));
    assert!(!nt.remove(DEV, v4("10.0.0.9")));
    assert_eq!(nt.stats().failed_drops, 2);
}

#[test]
fn ipv6_neighbours_use_the_same_machine() {
    let mut nt = table();
    let gw: IpAddr = "fe80::1".parse().unwrap();
    nt.resolve(0, DEV, gw, None, vec![0]);
    let s = nt.poll_transmit().unwrap();
    assert_eq!(s.target, gw);
    // An NA with S=1 (solicited: REACHABLE) and O=1 (override).
    let out = nt.update(
        10,
        DEV,
        gw,
        mac("02:00:00:00:00:01"),
        LearnState::Reachable,
        true,
        false,
    );
    assert_eq!(out, UpdateOutcome::Updated);
    assert_eq!(
        nt.poll_released().map(|r| r.mac),
        Some(mac("02:00:00:00:00:01"))
    );
}

#[test]
fn director_resolves_a_real_server_over_real_frames() {
    // Director 10.0.0.1 (eth0) resolves RS 10.0.0.5; the RS (arp_ignore=1, arp_announce=2,
    // VIP on lo) answers for its RIP; the reply frame is fed back into the director's policy
    // and table, which releases the queued packet.
    let dir_mac = mac("02:00:00:00:00:01");
    let rs_mac = mac("02:00:00:00:00:05");
    let mut director = Host::new();
    director.add_loopback("lo", 1).unwrap();
    director.add_interface("eth0", DEV, dir_mac).unwrap();
    director
        .add_addr(DEV, ip("10.0.0.1"), 24, Scope::Global)
        .unwrap();
    director
        .add_addr(DEV, ip("10.0.0.100"), 24, Scope::Global)
        .unwrap(); // VIP, secondary
    let mut rs = Host::new();
    rs.add_loopback("lo", 1).unwrap();
    rs.add_interface("eth0", 2, rs_mac).unwrap();
    rs.add_addr(2, ip("10.0.0.5"), 24, Scope::Global).unwrap();
    rs.add_addr(1, ip("10.0.0.100"), 32, Scope::Global).unwrap();
    rs.sysctl("net.ipv4.conf.all.arp_ignore", 1).unwrap();
    rs.sysctl("net.ipv4.conf.all.arp_announce", 2).unwrap();

    let mut nt = table();
    let rip = v4("10.0.0.5");
    // A client packet from the VIP's service forwarded in DR mode: source CIP; ARP source
    // comes from arp_announce on the director (0: CIP not local -> primary 10.0.0.1).
    assert_eq!(
        nt.resolve(0, DEV, rip, Some(v4("203.0.113.9")), b"syn".to_vec()),
        Resolved::Queued
    );
    let s = nt.poll_transmit().unwrap();
    let IpAddr::V4(target) = s.target else {
        panic!()
    };
    let trigger = s.trigger_src.and_then(|a| match a {
        IpAddr::V4(a) => Some(a),
        _ => None,
    });
    let (req, _) = director
        .arp_solicit(DEV, target, trigger, s.unicast_to)
        .unwrap();
    assert_eq!(req.sender_ip, ip("10.0.0.1"));
    let mut wire = [0u8; 60];
    let n = req.emit(&mut wire).unwrap();
    let n = lvs_arp::pad_to_min(&mut wire, n);
    let rs_out = rs.arp_input_bytes(2, &wire[..n]).unwrap();
    let reply = *rs_out.reply().expect("RS answers for its RIP");
    let n = reply.emit(&mut wire).unwrap();
    let back = director.arp_input_bytes(DEV, &wire[..n]).unwrap();
    assert!(back.reply().is_none());
    assert_eq!(nt.learn(1, &back.learn), UpdateOutcome::Updated);
    assert_eq!(
        nt.poll_released().map(|r| (r.mac, r.packet)),
        Some((rs_mac, b"syn".to_vec()))
    );
    assert_eq!(nt.lookup(DEV, rip).unwrap().1, NudState::Reachable);
    // The RS would stay silent for the VIP, the director answers it from eth0.
    let vip_req = ArpFrame::request(
        mac("02:00:00:00:00:fe"),
        ip("10.0.0.254"),
        ip("10.0.0.100"),
        None,
    );
    assert!(rs.arp_input(2, &vip_req).reply().is_none());
    assert_eq!(
        director
            .arp_input(DEV, &vip_req)
            .reply()
            .unwrap()
            .sender_mac,
        dir_mac
    );
    // And its failover announcement is a kernel-form GARP for the VIP.
    let garp = ArpFrame::gratuitous(dir_mac, ip("10.0.0.100"), GarpForm::Kernel);
    assert!(garp.is_gratuitous());
}
