//! HA failover end to end (issue 10), root only: two in-process directors on two TAPs, a
//! client namespace, two kernel real servers in DR mode (VIP on lo/32, arp_ignore=1,
//! arp_announce=2), VRRP between the directors and connection sync both ways; the master is
//! killed without goodbye (no priority-0 advert, TAP gone).
//!
//! Measured: the time from the master's death to the backup's first forwarded packet (a
//! 1 ms UDP probe through the VIP), against the backup's Master_Down_Interval (RFC 9568
//! section 6.1: 3 * Master_Adver_Interval + Skew_Time; goal: + 50 ms), and the TCP
//! connections streaming through the VIP that survive (lost = reset or stalled > 2 s).
//! The figures are printed (`cargo test -p lvs-examples --test ha_failover -- --nocapture`)
//! and recorded in BENCHMARKS.md's High availability section.
//!
//! Not root: prints the skip line and passes.

use std::time::Duration;

use lvs_examples::ha::scene::{Probe, Scene, SceneParams, Streams, measure_takeover};
use lvs_examples::netns::root_or_skip;

/// Allowed on top of Master_Down_Interval (issue 10's goal).
const GOAL: Duration = Duration::from_millis(50);

/// `stalls_count`: a stall > 2 s counts as a loss (false only where the outage itself is
/// longer than 2 s).
fn failover(params: SceneParams, conns: usize, label: &str, stalls_count: bool) {
    let mut scene = Scene::new(params).expect("scene");
    let vip = scene.params.vip();
    let _probe = Probe::start(&scene.client, vip).expect("probe");
    let streams = Streams::start(&scene.client, vip, conns).expect("streams");
    // Let every connection pass sync_threshold (3 packets) and reach the backup.
    std::thread::sleep(Duration::from_millis(1500));
    let b = scene.b.as_ref().unwrap().stats();
    assert!(
        !scene.params.sync || b.ha.sync_imported >= conns as u64,
        "{label}: backup imported {} sync entries for {conns} connections",
        b.ha.sync_imported
    );
    assert_eq!(b.forwarded, 0, "{label}: the BACKUP forwarded nothing");
    let t = measure_takeover(&mut scene, Duration::from_secs(8)).expect("takeover");
    // Keep streaming long enough for any stall > 2 s to show.
    std::thread::sleep(Duration::from_secs(4));
    let r = streams.finish().expect("streams");
    let survivors = if stalls_count {
        format!("{} of {} connections survived", r.survived(), r.total)
    } else {
        format!(
            "{} of {} connections not reset (stalls > 2 s are inherent to this outage)",
            r.total - r.reset,
            r.total
        )
    };
    println!(
        "{label}: Master_Down_Interval {:?}; death -> MASTER {:?}; death -> first forwarded packet {:?}; \
         {survivors} (reset {}, stalled {}, longest stall {:?}, {} bytes echoed)",
        t.master_down_interval,
        t.to_master,
        t.to_first_forward,
        r.reset,
        r.stalled,
        r.max_stall,
        r.echoed
    );
    for l in scene.b.as_ref().unwrap().log() {
        println!("  {l}");
    }
    assert!(
        t.to_first_forward <= t.master_down_interval + GOAL,
        "{label}: takeover {:?} > Master_Down_Interval {:?} + {GOAL:?}",
        t.to_first_forward,
        t.master_down_interval
    );
    assert_eq!(r.total, conns, "{label}: every connection established");
    assert_eq!(r.reset, 0, "{label}: connections reset");
    if stalls_count {
        assert_eq!(r.stalled, 0, "{label}: connections stalled > 2 s");
    }
}

#[test]
fn ha_v3_10cs_master_killed_100_dr_connections_survive_takeover_within_mdi_plus_50ms() {
    if !root_or_skip("ha_v3_10cs_master_killed") {
        return;
    }
    failover(SceneParams::v3_fast(41), 100, "v3 advert_int 10 cs", true);
}

#[test]
fn ha_v2_1s_master_killed_takeover_within_mdi_plus_50ms_and_no_connection_reset() {
    if !root_or_skip("ha_v2_1s_master_killed") {
        return;
    }
    // With advert_int 1 s the outage itself is Master_Down_Interval = 3.6 s, so streams stall
    // longer than 2 s by construction (TCP retransmission backoff); they must not reset.
    failover(SceneParams::v2(42), 20, "v2 advert_int 1 s", false);
}

#[test]
fn ha_without_sync_or_sloppy_tcp_established_connections_are_lost() {
    if !root_or_skip("ha_without_sync") {
        return;
    }
    // The seeds' "高可用不可靠": without sync, the new master has no entry for the flows and a
    // non-SYN packet does not create one (sloppy_tcp off), so every stream stalls (the
    // director passes the packets to its host stack, which here is nobody).
    let params = SceneParams {
        sync: false,
        ..SceneParams::v3_fast(43)
    };
    let r = run_streams(params, 20);
    assert_eq!(r.survived(), 0, "{r:?}");
}

#[test]
fn ha_mh_with_sloppy_tcp_keeps_unsynced_dr_connections() {
    if !root_or_skip("ha_mh_sloppy_unsynced") {
        return;
    }
    // No sync at all: the new master schedules each flow at its first packet (sloppy_tcp)
    // and mh picks the real server the old master picked (same real-server set).
    let params = SceneParams {
        sync: false,
        sloppy_tcp: true,
        ..SceneParams::v3_fast(44)
    };
    let r = run_streams(params, 20);
    println!("mh + sloppy_tcp, no sync: {r:?}");
    assert_eq!(r.lost(), 0, "{r:?}");
    assert_eq!(r.total, 20);
}

/// Streams `conns` connections, kills the master, streams 4 s more, reports.
fn run_streams(params: SceneParams, conns: usize) -> lvs_examples::ha::StreamReport {
    let mut scene = Scene::new(params).expect("scene");
    let vip = scene.params.vip();
    let streams = Streams::start(&scene.client, vip, conns).expect("streams");
    std::thread::sleep(Duration::from_millis(500));
    scene.kill_a();
    std::thread::sleep(Duration::from_secs(4));
    assert!(scene.is_master(1), "B took over");
    streams.finish().expect("streams")
}

#[test]
fn ha_nat_v3_10cs_master_killed_backup_rewrites_replies_of_synced_connections() {
    if !root_or_skip("ha_nat") {
        return;
    }
    // NAT: the new master must rewrite the real servers' replies (RIP -> VIP) from the synced
    // entries, and take over the real servers' gateway address with the VIP.
    let params = SceneParams {
        nat: true,
        ..SceneParams::v3_fast(48)
    };
    failover(params, 100, "NAT v3 advert_int 10 cs", true);
}

#[test]
fn ha_unicast_sync_v3_10cs_master_killed_dr_connections_survive() {
    if !root_or_skip("ha_unicast_sync") {
        return;
    }
    // Sync datagrams to the peer director's address instead of 224.0.0.81 (each resolves the
    // other's MAC by ARP first).
    let params = SceneParams {
        sync_unicast: true,
        ..SceneParams::v3_fast(50)
    };
    failover(params, 20, "unicast sync, v3 advert_int 10 cs", true);
}
