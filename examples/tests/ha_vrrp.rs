//! The HA director's VRRP against its peers (issue 10), root only: split brain between two of
//! our directors on different VRIDs, and one director replaced by real keepalived 2.2.7
//! (VRRP only, `-P`) electing by priority and failing over both ways.
//!
//! Not root: prints the skip line and passes. Root without keepalived: the keepalived test
//! fails (CI installs it).

use std::time::{Duration, Instant};

use lvs_examples::ha::scene::{Probe, Scene, SceneParams, VRID};
use lvs_examples::netns::keepalived::{self, Keepalived, KeepalivedConf};
use lvs_examples::netns::{Signal, TempDir, root_or_skip};

#[test]
fn ha_split_brain_different_vrids_both_master_counters_and_logs_say_why() {
    if !root_or_skip("ha_split_brain") {
        return;
    }
    // The seeds: the two keepalived.conf had different virtual_router_id values, so each
    // side discarded the other's adverts and both held the VIP.
    let params = SceneParams {
        split_brain: true,
        ..SceneParams::v3_fast(45)
    };
    let scene = Scene::new(params).expect("scene");
    assert!(scene.wait_master(1, Duration::from_secs(2)), "B MASTER too");
    assert!(scene.is_master(0), "A still MASTER");
    std::thread::sleep(Duration::from_millis(300));
    for (node, other_vrid) in [
        (scene.a.as_ref().unwrap(), VRID + 1),
        (scene.b.as_ref().unwrap(), VRID),
    ] {
        let s = node.stats();
        assert!(
            s.unknown_vrid > 0,
            "{}: unknown VRID counter {s:?}",
            node.name()
        );
        let log = node.log().join("\n");
        println!("{log}");
        assert!(
            log.contains(&format!(
                "advert for VRID {other_vrid}, which no instance here runs"
            )),
            "{}: log names the other VRID: {log}",
            node.name()
        );
    }
}

#[test]
fn ha_director_and_keepalived_elect_by_priority_and_fail_over_both_ways() {
    if !root_or_skip("ha_keepalived") {
        return;
    }
    let bin = keepalived::binary().expect("keepalived 2.2.7 installed");
    // keepalived at 10.88.S.2 (priority 150) in place of director A; our director B (100).
    let params = SceneParams {
        start_a: false,
        advert_int: Duration::from_millis(200),
        ..SceneParams::v3_fast(46)
    };
    let scene = Scene::new(params).expect("scene");
    let ka_ns = scene
        .add_host("hak", "pk", &format!("{}/24", scene.params.addr(2)))
        .expect("keepalived host");
    let dir = TempDir::new("haka").unwrap();
    let conf = KeepalivedConf {
        advert_int: "0.2".into(),
        version: 3,
        ..KeepalivedConf::new(VRID, 150, &format!("{}/24", scene.params.vip()))
    };
    let b = scene.b.as_ref().unwrap();
    let ka = Keepalived::start(&bin, &ka_ns, &dir.join("1"), &conf).expect("keepalived");
    // Election by priority: keepalived 150 wins; ours stays (or goes back to) BACKUP.
    let end = Instant::now() + Duration::from_secs(5);
    while !ka.log().contains("Entering MASTER STATE") && Instant::now() < end {
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(ka.log().contains("Entering MASTER STATE"), "{}", ka.log());
    std::thread::sleep(Duration::from_millis(600));
    assert!(
        !scene.is_master(1),
        "ours BACKUP under keepalived 150: {:?}",
        b.log()
    );
    let _probe = Probe::start(&scene.client, scene.params.vip()).expect("probe");
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(b.stats().forwarded, 0, "a BACKUP forwards nothing");
    // keepalived crashes (no priority 0): ours takes over within Master_Down_Interval.
    let t0 = Instant::now();
    ka_ns.kill_all(Signal::SIGSTOP);
    ka_ns.kill_all(Signal::SIGKILL);
    drop(ka);
    assert!(
        scene.wait_master(1, Duration::from_secs(3)),
        "ours MASTER after the crash"
    );
    let s = b.stats();
    let mdi = Duration::from_micros(s.master_down_interval_us[0]);
    let took = s.ha.became_master.unwrap().saturating_duration_since(t0);
    println!("keepalived -> ours: MASTER after {took:?} (Master_Down_Interval {mdi:?})");
    assert!(
        took <= mdi + Duration::from_millis(50),
        "{took:?} vs {mdi:?}"
    );
    std::thread::sleep(Duration::from_millis(200));
    assert!(b.stats().forwarded > 0, "ours forwards as MASTER");
    // keepalived back at 150 preempts: ours returns to BACKUP at its first advert.
    let ka = Keepalived::start(&bin, &ka_ns, &dir.join("2"), &conf).expect("keepalived");
    let end = Instant::now() + Duration::from_secs(5);
    while scene.is_master(1) && Instant::now() < end {
        std::thread::sleep(Duration::from_millis(10));
    }
    assert!(
        !scene.is_master(1),
        "ours yielded to keepalived: {:?}",
        b.log()
    );
    let end = Instant::now() + Duration::from_secs(3);
    while !ka.log().contains("Entering MASTER STATE") && Instant::now() < end {
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(ka.log().contains("Entering MASTER STATE"), "{}", ka.log());
    let fwd = b.stats().forwarded;
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(
        b.stats().forwarded,
        fwd,
        "ours forwards nothing once BACKUP again"
    );
    println!("{}", b.log().join("\n"));
}
