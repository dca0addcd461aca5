//! HA with two `lvs-director` processes (issue 10), root only: each runs on its own TAP
//! plugged into one LAN bridge, with `--ha-config` (a keepalived.conf holding one
//! `vrrp_instance` and `lvs_sync_daemon`) and `--rules` (DR services, mh); kernel real
//! servers, a client namespace. The master is killed with SIGKILL (no goodbye). The takeover
//! is timed from outside: the real servers record when the client's 1 ms UDP probe
//! datagrams arrive through the VIP; the gap after the kill ends with the backup's first
//! forwarded packet.
//!
//! Not root: prints the skip line and passes.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use lvs_examples::ha::scene::{PROBE_PORT, Probe, Scene, SceneParams, Streams, TCP_PORT, VRID};
use lvs_examples::netns::{self, ChildGuard, Signal, TempDir, root_or_skip, unique_name};

fn conf(params: &SceneParams, priority: u8, track: Option<&str>) -> String {
    let track = track.map_or(String::new(), |t| {
        format!("  track_interface {{\n    {t}\n  }}\n")
    });
    format!(
        "global_defs {{\n  router_id LVS_{priority}\n  lvs_sync_daemon eth0 VI_1 id 1\n}}\n\
         vrrp_instance VI_1 {{\n  state BACKUP\n  interface eth0\n  virtual_router_id {VRID}\n  \
         priority {priority}\n  advert_int 0.1\n  version 3\n{track}  virtual_ipaddress {{\n    {}/24\n  }}\n}}\n",
        params.vip()
    )
}

fn rules(params: &SceneParams) -> String {
    let vip = params.vip();
    let mut r = format!("-A -t {vip}:{TCP_PORT} -s mh\n-A -u {vip}:{PROBE_PORT} -s mh\n");
    for rip in params.rips() {
        r += &format!("-a -t {vip}:{TCP_PORT} -r {rip}:{TCP_PORT} -g -w 1\n");
        r += &format!("-a -u {vip}:{PROBE_PORT} -r {rip}:{PROBE_PORT} -g -w 1\n");
    }
    r
}

struct Proc {
    child: ChildGuard,
    log: std::path::PathBuf,
}

impl Proc {
    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

/// Starts `lvs-director` index `i` (0 = A .2 priority 150, 1 = B .3 priority 100) and plugs
/// its TAP into the scene's bridge once the binary has brought it up.
fn start(scene: &Scene, dir: &Path, i: u8) -> Proc {
    start_tracking(scene, dir, i, None)
}

/// [`start`] with `track_interface { TRACK }` in the instance.
fn start_tracking(scene: &Scene, dir: &Path, i: u8, track: Option<&str>) -> Proc {
    let p = &scene.params;
    let prio = if i == 0 { 150 } else { 100 };
    let tap = unique_name(&format!("hd{i}"));
    let conf_path = dir.join(format!("keepalived{i}.conf"));
    let rules_path = dir.join(format!("rules{i}"));
    std::fs::write(&conf_path, conf(p, prio, track)).unwrap();
    std::fs::write(&rules_path, rules(p)).unwrap();
    let log = dir.join(format!("director{i}.log"));
    let out = std::fs::File::create(&log).unwrap();
    let err = out.try_clone().unwrap();
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_lvs-director"));
    cmd.args([
        "--tap",
        &tap,
        "--mac",
        &format!("02:88:00:{:02x}:00:{:02x}", p.subnet, 2 + i),
    ])
    .args(["--vip", &p.vip().to_string()])
    .args(["--dip", &format!("{}/24", p.addr(2 + i))])
    .arg("--rules")
    .arg(&rules_path)
    .arg("--ha-config")
    .arg(&conf_path)
    .arg("--control")
    .arg(dir.join(format!("ctl{i}.sock")))
    .stdout(Stdio::from(out))
    .stderr(Stdio::from(err));
    let child = ChildGuard::spawn(&mut cmd, "lvs-director").unwrap();
    // The binary opens the TAP and sets it up; only then may it move into the LAN namespace.
    let end = Instant::now() + Duration::from_secs(10);
    loop {
        if netns::ip(&["link", "show", "dev", &tap]).is_ok_and(|s| s.contains(",UP")) {
            break;
        }
        assert!(
            Instant::now() < end,
            "TAP {tap} never came up: {}",
            std::fs::read_to_string(&log).unwrap_or_default()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    let lan = scene.lan();
    let ns = lan.netns();
    ns.adopt_link(&tap).unwrap();
    ns.sysctl(&format!("net.ipv6.conf.{tap}.disable_ipv6"), "1")
        .unwrap();
    ns.set_master(&tap, netns::LAN_BRIDGE).unwrap();
    Proc { child, log }
}

fn wait_log(p: &Proc, what: &str, limit: Duration) -> bool {
    let end = Instant::now() + limit;
    while Instant::now() < end {
        if p.log().contains(what) {
            return true;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    false
}

/// [`wait_log`], panicking with the log when `what` does not come.
fn expect_log(p: &Proc, what: &str, limit: Duration) {
    assert!(
        wait_log(p, what, limit),
        "no {what:?} within {limit:?}:\n{}",
        p.log()
    );
}

#[test]
fn ha_two_lvs_director_processes_sigkill_master_takeover_and_100_dr_connections_survive() {
    if !root_or_skip("ha_director_processes") {
        return;
    }
    let params = SceneParams {
        start_a: false,
        start_b: false,
        ..SceneParams::v3_fast(49)
    };
    let scene = Scene::new(params).expect("scene");
    let dir = TempDir::new("hadir").unwrap();
    let a = start(&scene, dir.path(), 0);
    let b = start(&scene, dir.path(), 1);
    expect_log(&a, "Entering MASTER STATE", Duration::from_secs(3));
    expect_log(&b, "Entering BACKUP STATE", Duration::from_secs(1));
    let vip = scene.params.vip();
    let _probe = Probe::start(&scene.client, vip).expect("probe");
    let streams = Streams::start(&scene.client, vip, 100).expect("streams");
    std::thread::sleep(Duration::from_millis(1500));
    assert!(
        !b.log().contains("Entering MASTER STATE"),
        "B stayed BACKUP: {}",
        b.log()
    );
    // SIGKILL: no priority-0 advert, the TAP disappears with the process.
    let killed = Instant::now();
    a.child.signal(Signal::SIGKILL).unwrap();
    std::thread::sleep(Duration::from_secs(4));
    let report = streams.finish().expect("streams");
    let arrivals = scene.probe_arrivals();
    // The first probe to reach a real server after the outage that follows the kill.
    let gap_end = arrivals
        .windows(2)
        .find(|w| w[1] > killed && w[1] - w[0] > Duration::from_millis(50))
        .map(|w| w[1])
        .expect("an outage then a resumption of the probe");
    let takeover = gap_end - killed;
    // B: priority 100, Master_Adver_Interval 10 cs: 3 * 100 ms + 156/256 * 100 ms.
    let mdi = Duration::from_micros(360_937);
    println!(
        "lvs-director processes, v3 10 cs: SIGKILL -> first probe forwarded by B {takeover:?} \
         (Master_Down_Interval {mdi:?}); {} of {} connections survived (reset {}, stalled {}, longest stall {:?})",
        report.survived(),
        report.total,
        report.reset,
        report.stalled,
        report.max_stall
    );
    println!("B's log:\n{}", b.log());
    assert!(b.log().contains("Entering MASTER STATE"), "{}", b.log());
    assert!(takeover <= mdi + Duration::from_millis(50), "{takeover:?}");
    assert_eq!(report.total, 100);
    assert_eq!(report.lost(), 0, "{report:?}");
    drop(a);
}

#[test]
fn ha_lvs_director_sigterm_sends_priority_zero_and_backup_takes_over_in_skew_time() {
    if !root_or_skip("ha_director_sigterm") {
        return;
    }
    let params = SceneParams {
        start_a: false,
        start_b: false,
        ..SceneParams::v3_fast(51)
    };
    let scene = Scene::new(params).expect("scene");
    let dir = TempDir::new("hadirt").unwrap();
    let mut a = start(&scene, dir.path(), 0);
    let b = start(&scene, dir.path(), 1);
    expect_log(&a, "Entering MASTER STATE", Duration::from_secs(3));
    let _probe = Probe::start(&scene.client, scene.params.vip()).expect("probe");
    std::thread::sleep(Duration::from_millis(500));
    // SIGTERM: keepalived's clean stop, a priority-0 advert (RFC 9568 6.4.3), after which
    // the backup waits only Skew_Time = 156/256 * 100 ms = 60.9 ms, not Master_Down_Interval.
    let stopped = Instant::now();
    a.child.signal(Signal::SIGTERM).unwrap();
    assert!(
        a.child
            .wait_timeout(Duration::from_secs(3))
            .unwrap()
            .is_some(),
        "A exited"
    );
    std::thread::sleep(Duration::from_secs(1));
    let arrivals = scene.probe_arrivals();
    let resumed = arrivals
        .windows(2)
        .find(|w| w[1] > stopped && w[1] - w[0] > Duration::from_millis(20))
        .map(|w| w[1])
        .expect("an outage then a resumption of the probe");
    let outage = resumed - stopped;
    println!("lvs-director SIGTERM -> first probe forwarded by B {outage:?} (Skew_Time 60.9 ms)");
    println!("A's log:\n{}\nB's log:\n{}", a.log(), b.log());
    assert!(a.log().contains("Entering STOP STATE"), "{}", a.log());
    assert!(b.log().contains("Entering MASTER STATE"), "{}", b.log());
    assert!(
        outage < Duration::from_millis(61 + 100),
        "{outage:?}: not Skew_Time"
    );
}

/// A veth pair in the test's (and the directors') namespace (the kernel here may lack the
/// dummy driver), both ends up; the first end is the tracked one. Deleted on drop (deleting
/// one end deletes the pair).
struct Dummy(String);

impl Dummy {
    fn new() -> Dummy {
        let name = unique_name("htr");
        let peer = format!("{name}p");
        netns::ip(&["link", "add", &name, "type", "veth", "peer", "name", &peer]).unwrap();
        let d = Dummy(name);
        netns::ip(&["link", "set", "dev", &peer, "up"]).unwrap();
        netns::ip(&["link", "set", "dev", &d.0, "up"]).unwrap();
        // The kernel reports the veth's operstate up asynchronously (linkwatch), up to about
        // a second later on a loaded machine: wait for it, bounded.
        let start = std::time::Instant::now();
        while !lvs_examples::ha::link::read_link(&d.0) && start.elapsed() < Duration::from_secs(5) {
            std::thread::sleep(Duration::from_millis(20));
        }
        d
    }

    fn set(&self, up: bool) {
        netns::ip(&[
            "link",
            "set",
            "dev",
            &self.0,
            if up { "up" } else { "down" },
        ])
        .unwrap();
    }
}

impl Drop for Dummy {
    fn drop(&mut self) {
        let _ = netns::ip(&["link", "del", &self.0]);
    }
}

#[test]
fn ha_lvs_director_track_interface_down_faults_master_backup_takes_over_and_link_up_preempts_back()
{
    if !root_or_skip("ha_director_track_interface") {
        return;
    }
    let params = SceneParams {
        start_a: false,
        start_b: false,
        ..SceneParams::v3_fast(53)
    };
    let scene = Scene::new(params).expect("scene");
    let dir = TempDir::new("hadirk").unwrap();
    let dummy = Dummy::new();
    assert!(lvs_examples::ha::link::read_link(&dummy.0), "veth up");
    // A (priority 150) tracks the dummy with keepalived's default weight 0: FAULT while down.
    let a = start_tracking(&scene, dir.path(), 0, Some(&dummy.0));
    let b = start(&scene, dir.path(), 1);
    expect_log(&a, "Entering MASTER STATE", Duration::from_secs(3));
    expect_log(&b, "Entering BACKUP STATE", Duration::from_secs(1));
    let _probe = Probe::start(&scene.client, scene.params.vip()).expect("probe");
    std::thread::sleep(Duration::from_millis(500));
    let down = Instant::now();
    dummy.set(false);
    expect_log(
        &a,
        &format!("Kernel is reporting: interface {} DOWN", dummy.0),
        Duration::from_secs(1),
    );
    let seen_down = down.elapsed();
    expect_log(&a, "VI_1: Entering FAULT STATE", Duration::from_secs(1));
    expect_log(&b, "Entering MASTER STATE", Duration::from_secs(2));
    std::thread::sleep(Duration::from_millis(500));
    let arrivals = scene.probe_arrivals();
    let resumed = arrivals
        .windows(2)
        .find(|w| w[1] > down && w[1] - w[0] > Duration::from_millis(20))
        .map(|w| w[1])
        .expect("an outage then a resumption of the probe");
    let outage = resumed - down;
    // Detection within one 150 ms sysfs poll; A leaves MASTER with a priority-0 advert, so
    // B waits Skew_Time (60.9 ms) rather than Master_Down_Interval (360.9 ms).
    let mdi = Duration::from_micros(360_937);
    // Link up: A leaves FAULT as BACKUP and, preempt being keepalived's default, takes the
    // VIP back after its own Master_Down_Interval (341.4 ms) plus one poll.
    let up = Instant::now();
    dummy.set(true);
    let end = up + Duration::from_secs(3);
    while a.log().matches("Entering MASTER STATE").count() < 2 && Instant::now() < end {
        std::thread::sleep(Duration::from_millis(5));
    }
    let back = up.elapsed();
    // B hears A's first advert as MASTER and steps down: its second BACKUP line (the first
    // is from start-up) may land a few milliseconds after A's MASTER line.
    let end = Instant::now() + Duration::from_secs(1);
    while b.log().matches("Entering BACKUP STATE").count() < 2 && Instant::now() < end {
        std::thread::sleep(Duration::from_millis(5));
    }
    println!(
        "track_interface down -> seen by A {seen_down:?}, first probe forwarded by B {outage:?} \
         (poll 150 ms + Skew_Time 60.9 ms; Master_Down_Interval {mdi:?}); link up -> A MASTER \
         again {back:?} (poll 150 ms + A's Master_Down_Interval 341.4 ms)"
    );
    println!("A's log:\n{}\nB's log:\n{}", a.log(), b.log());
    assert!(seen_down < Duration::from_millis(150 + 50), "{seen_down:?}");
    assert!(outage < mdi + Duration::from_millis(100), "{outage:?}");
    assert_eq!(
        a.log().matches("Entering MASTER STATE").count(),
        2,
        "A preempted back: {}",
        a.log()
    );
    assert!(back < Duration::from_millis(150 + 342 + 100), "{back:?}");
    assert!(
        b.log().matches("Entering BACKUP STATE").count() >= 2,
        "{}",
        b.log()
    );
}
