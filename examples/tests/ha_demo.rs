//! The `lvs-demo` HA scene run as a test (issue 10), root only: two directors, 100 streaming
//! DR connections, the master killed (no goodbye), then restarted and preempting back; the
//! scene prints the takeover time and the survivors, and every connection must survive both
//! transitions.
//!
//! Not root: prints the skip line and passes.

use std::time::Duration;

use lvs_examples::ha::demo_scene;
use lvs_examples::netns::root_or_skip;

#[test]
fn ha_demo_scene_kill_and_restart_master_keeps_every_connection() {
    if !root_or_skip("ha_demo_scene") {
        return;
    }
    let mut out = Vec::new();
    let r = demo_scene(47, 100, false, &mut out).expect("demo scene");
    let text = String::from_utf8_lossy(&out);
    println!("{text}");
    assert!(text.contains("connections survived"), "{text}");
    assert!(
        r.takeover.to_first_forward <= r.takeover.master_down_interval + Duration::from_millis(50),
        "{:?}",
        r.takeover
    );
    assert!(r.failback.is_some(), "A preempted back after its restart");
    assert_eq!(r.streams.total, 100);
    assert_eq!(r.streams.lost(), 0, "{:?}", r.streams);
}

#[test]
fn ha_demo_scene_nopreempt_restarted_master_stays_backup() {
    if !root_or_skip("ha_demo_scene_nopreempt") {
        return;
    }
    let mut out = Vec::new();
    let r = demo_scene(52, 20, true, &mut out).expect("demo scene");
    println!("{}", String::from_utf8_lossy(&out));
    assert_eq!(
        r.failback, None,
        "nopreempt: A stays BACKUP after its restart"
    );
    assert_eq!(r.streams.lost(), 0, "{:?}", r.streams);
}
