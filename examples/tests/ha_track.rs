//! `track_file` and `track_process` in the VRRP runner, with real files and real processes
//! (no root): keepalived 2.2's rules (keepalived/trackers/track_file.c,
//! keepalived/core/track_process.c, keepalived/vrrp/vrrp_track.c), polled every 250 ms.
//! Every temp file, symlink and child process is removed by a guard, also on failure.

use std::net::{IpAddr, Ipv4Addr};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use lvs_examples::ha::track::{TrackFile, TrackProcess, Trackers};
use lvs_examples::ha::{HaInstance, HaLog, VrrpRunner};
use lvs_examples::keepalived::TrackRef;
use lvs_vrrp::{State, Version, VrrpConfig};

static SEQ: AtomicU32 = AtomicU32::new(0);

/// A unique short name (<= 15 characters, the comm limit).
fn unique(prefix: &str) -> String {
    let n = SEQ.fetch_add(1, Ordering::Relaxed);
    format!("{prefix}{}x{n}", std::process::id() % 100_000)
}

/// Removes its path on drop.
struct TempPath(PathBuf);

impl TempPath {
    fn new(prefix: &str) -> Self {
        TempPath(std::env::temp_dir().join(unique(prefix)))
    }
    /// Writes `v` atomically (rename), as a tool updating a track file should.
    fn write(&self, v: &str) {
        let tmp = self.0.with_extension("tmp");
        std::fs::write(&tmp, v).unwrap();
        std::fs::rename(&tmp, &self.0).unwrap();
    }
}

impl Drop for TempPath {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
        let _ = std::fs::remove_file(self.0.with_extension("tmp"));
    }
}

/// Kills its children's process groups on drop.
#[derive(Default)]
struct Children(Vec<Child>);

impl Children {
    /// Starts `program args` in its own process group.
    fn spawn(&mut self, program: &Path, args: &[&str]) -> u32 {
        let c = Command::new(program)
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .process_group(0)
            .spawn()
            .unwrap();
        let pid = c.id();
        self.0.push(c);
        pid
    }
    /// SIGKILLs child `i`'s process group and reaps the child.
    fn kill(&mut self, i: usize) {
        let c = &mut self.0[i];
        let pgid = nix::unistd::Pid::from_raw(i32::try_from(c.id()).unwrap());
        let _ = nix::sys::signal::killpg(pgid, nix::sys::signal::Signal::SIGKILL);
        let _ = c.wait();
    }
}

impl Drop for Children {
    fn drop(&mut self) {
        for i in 0..self.0.len() {
            self.kill(i);
        }
    }
}

fn which(name: &str) -> PathBuf {
    ["/bin", "/usr/bin"]
        .iter()
        .map(|d| Path::new(d).join(name))
        .find(|p| p.exists())
        .unwrap_or_else(|| panic!("{name} not found"))
}

/// A symlink with a unique name to `target`: a process executed through it has that comm.
fn link_to(target: &str, prefix: &str) -> (TempPath, String) {
    let t = TempPath::new(prefix);
    std::os::unix::fs::symlink(which(target), &t.0).unwrap();
    let name = t.0.file_name().unwrap().to_str().unwrap().to_string();
    (t, name)
}

fn vconf(priority: u8) -> VrrpConfig {
    VrrpConfig {
        name: "VI_1".into(),
        interface: "eth0".into(),
        interface_addr: IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1)),
        interface_mac: [2, 0, 0, 0, 0, 1],
        virtual_router_id: 51,
        priority,
        advert_int: Duration::from_millis(100),
        version: Some(Version::V3),
        virtual_ipaddress: vec![IpAddr::V4(Ipv4Addr::new(10, 0, 0, 100))],
        ..VrrpConfig::default()
    }
}

fn entry(name: &str, weight: Option<i32>, reverse: Option<bool>) -> TrackRef {
    TrackRef {
        name: name.into(),
        weight,
        reverse,
    }
}

fn runner(files: Vec<TrackFile>, procs: Vec<TrackProcess>, inst: HaInstance) -> VrrpRunner {
    let trackers = Trackers {
        files,
        processes: procs,
    };
    VrrpRunner::new_with_trackers(vec![inst], vec![], trackers, Instant::now()).unwrap()
}

/// Runs `r` in real time (its timers and tracker polls, adverts discarded) until `done`
/// holds or `max` passes; returns whether `done` held.
fn drive(r: &mut VrrpRunner, max: Duration, done: impl Fn(&VrrpRunner) -> bool) -> bool {
    let end = Instant::now() + max;
    let mut buf = [0u8; lvs_vrrp::wire::MAX_FRAME_LEN];
    loop {
        let now = Instant::now();
        r.handle_timeout(now);
        while r.poll_transmit(&mut buf).is_some() {}
        if done(r) {
            return true;
        }
        if now >= end {
            return false;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

fn state(r: &VrrpRunner) -> State {
    r.instances()[0].state()
}

fn prio(r: &VrrpRunner) -> u8 {
    r.instances()[0].effective_priority()
}

fn count(r: &VrrpRunner, name: &str) -> u32 {
    r.track_process(name).unwrap().count()
}

fn log(r: &mut VrrpRunner) -> Vec<String> {
    r.take_log().iter().map(ToString::to_string).collect()
}

#[test]
fn track_file_weight_0_non_zero_value_is_fault_and_zero_clears_it() {
    let f = TempPath::new("tf");
    f.write("0\n");
    let mut inst = HaInstance::new(vconf(100));
    inst.track_file = vec![entry("TF", Some(0), None)];
    let mut r = runner(vec![TrackFile::new("TF", &f.0)], vec![], inst);
    // Alone on the wire: MASTER after Master_Down_Interval (3 * 10 cs + skew).
    assert!(drive(&mut r, Duration::from_secs(2), |r| state(r)
        == State::Master));
    let _ = r.take_log();
    // track_file.c: weight 0, "a non-zero value means failure".
    f.write("1\n");
    assert!(drive(&mut r, Duration::from_secs(2), |r| state(r) == State::Fault));
    let l = log(&mut r);
    assert!(
        l.contains(&"(VI_1): tracked file TF now FAULT state".to_string()),
        "{l:?}"
    );
    assert!(
        l.iter()
            .any(|s| s.starts_with("VI_1: Entering FAULT STATE")),
        "{l:?}"
    );
    assert_eq!(r.track_file_value("TF"), Some(1));
    // "a 0 status means success": out of FAULT, back to MASTER alone.
    f.write("0");
    assert!(drive(&mut r, Duration::from_secs(2), |r| state(r) != State::Fault));
    assert!(log(&mut r).contains(&"(VI_1): tracked file TF leaving FAULT state".to_string()));
    assert!(drive(&mut r, Duration::from_secs(2), |r| state(r)
        == State::Master));
    // A deleted file reads as 0 too (inotify IN_DELETE: "Treat as though the value is 0").
    f.write("7");
    assert!(drive(&mut r, Duration::from_secs(2), |r| state(r) == State::Fault));
    std::fs::remove_file(&f.0).unwrap();
    assert!(drive(&mut r, Duration::from_secs(2), |r| state(r) != State::Fault));
}

#[test]
fn track_file_weight_scales_the_value_and_reverse_negates_it() {
    let f = TempPath::new("tw");
    f.write("0");
    let mut inst = HaInstance::new(vconf(100));
    // The block's weight 10 for the first instance entry; the second instance (a separate
    // runner would do too) is not needed: reverse is tested on a second file entry below.
    inst.track_file = vec![entry("TW", None, None)];
    let mut def = TrackFile::new("TW", &f.0);
    def.weight = 10;
    let mut r = runner(vec![def.clone()], vec![], inst);
    assert_eq!(prio(&r), 100);
    // value * weight is added: 1 * 10, 3 * 10, -2 * 10.
    for (v, want) in [("1", 110), ("3", 130), ("-2", 80), ("0x2", 120)] {
        f.write(v);
        assert!(
            drive(&mut r, Duration::from_secs(2), |r| prio(r) == want),
            "value {v}: priority {} != {want}",
            prio(&r)
        );
    }
    assert!(log(&mut r).contains(&"(VI_1) Changing effective priority from 130 to 80".into()));
    // Clamped into 1..=254 (vrrp_set_effective_priority()).
    f.write("50");
    assert!(drive(&mut r, Duration::from_secs(2), |r| prio(r) == 254));
    // A status of -254 or less is FAULT: -26 * 10 = -260.
    f.write("-26");
    assert!(drive(&mut r, Duration::from_secs(2), |r| state(r) == State::Fault));
    // "Invalid number ... - ignoring": the value stays.
    f.write("99999999999");
    let _ = drive(&mut r, Duration::from_secs(1), |_| false);
    assert_eq!(state(&r), State::Fault);
    assert_eq!(r.track_file_value("TW"), Some(-26));
    assert!(
        log(&mut r)
            .iter()
            .any(|l| l.starts_with("Invalid number read from"))
    );
    f.write("2");
    assert!(drive(&mut r, Duration::from_secs(2), |r| state(r) != State::Fault));
    assert_eq!(prio(&r), 120);
    drop(r);

    // reverse: value * weight * -1.
    f.write("1");
    let mut inst = HaInstance::new(vconf(100));
    inst.track_file = vec![entry("TW", Some(10), Some(true))];
    let mut r = runner(vec![def], vec![], inst);
    assert_eq!(prio(&r), 90, "initial state read at start");
    f.write("3");
    assert!(drive(&mut r, Duration::from_secs(2), |r| prio(r) == 70));
}

#[test]
fn track_file_init_file_creates_a_missing_file() {
    let f = TempPath::new("ti");
    let mut def = TrackFile::new("TI", &f.0);
    def.weight = 0;
    def.init = Some(lvs_examples::ha::track::TrackFileInit {
        value: 4,
        overwrite: false,
    });
    let mut inst = HaInstance::new(vconf(100));
    inst.track_file = vec![entry("TI", None, None)];
    let r = runner(vec![def.clone()], vec![], inst.clone());
    assert_eq!(std::fs::read_to_string(&f.0).unwrap(), "4\n");
    assert_eq!(state(&r), State::Fault, "weight 0 and value 4");
    drop(r);
    // Existing file, no overwrite: kept; overwrite: written.
    f.write("0");
    let r = runner(vec![def.clone()], vec![], inst.clone());
    assert_eq!(state(&r), State::Backup);
    drop(r);
    def.init = Some(lvs_examples::ha::track::TrackFileInit {
        value: 0,
        overwrite: true,
    });
    f.write("9");
    let r = runner(vec![def], vec![], inst);
    assert_eq!(std::fs::read_to_string(&f.0).unwrap(), "0\n");
    assert_eq!(state(&r), State::Backup);
}

#[test]
fn track_process_weight_0_is_fault_without_the_process_and_clears_when_it_runs() {
    let (_link, comm) = link_to("sleep", "tp");
    let mut kids = Children::default();
    let mut inst = HaInstance::new(vconf(100));
    inst.track_process = vec![entry("TP", None, None)];
    let mut r = runner(vec![], vec![TrackProcess::new("TP", &comm)], inst);
    // Not running at start: the initial scan puts the instance in FAULT.
    assert_eq!(state(&r), State::Fault);
    kids.spawn(&_link.0, &["30"]);
    assert!(drive(&mut r, Duration::from_secs(3), |r| state(r) != State::Fault));
    assert!(log(&mut r).contains(&"Quorum gained for tracked process TP".to_string()));
    assert_eq!(r.track_process("TP").unwrap().count(), 1);
    kids.kill(0);
    assert!(drive(&mut r, Duration::from_secs(3), |r| state(r) == State::Fault));
    assert!(log(&mut r).contains(&"Quorum lost for tracked process TP".to_string()));
}

#[test]
fn track_process_quorum_2_needs_two_and_weight_applies_while_up() {
    let (link, comm) = link_to("sleep", "tq");
    let mut kids = Children::default();
    let mut def = TrackProcess::new("TQ", &comm);
    def.quorum = 2;
    def.weight = 20;
    let mut inst = HaInstance::new(vconf(100));
    inst.track_process = vec![entry("TQ", None, None)];
    let mut r = runner(vec![], vec![def], inst);
    assert_eq!(prio(&r), 100);
    kids.spawn(&link.0, &["30"]);
    assert!(drive(&mut r, Duration::from_secs(3), |r| count(r, "TQ") == 1));
    // One is not a quorum: still no weight after more polls.
    assert!(!drive(&mut r, Duration::from_millis(600), |r| prio(r) != 100));
    kids.spawn(&link.0, &["30"]);
    assert!(drive(&mut r, Duration::from_secs(3), |r| prio(r) == 120));
    kids.kill(1);
    assert!(drive(&mut r, Duration::from_secs(3), |r| prio(r) == 100));
}

#[test]
fn track_process_full_command_matches_argv0_and_reverse_weight() {
    let argv0 = unique("fc");
    let mut kids = Children::default();
    let mut def = TrackProcess::new("FC", &argv0);
    def.full_command = true;
    let mut inst = HaInstance::new(vconf(100));
    // weight 15 reverse: -15 while the process runs.
    inst.track_process = vec![entry("FC", Some(15), Some(true))];
    let mut r = runner(vec![], vec![def], inst);
    assert_eq!(prio(&r), 100);
    let c = Command::new(which("sleep"))
        .arg0(&argv0)
        .arg("30")
        .process_group(0)
        .spawn()
        .unwrap();
    kids.0.push(c);
    assert!(drive(&mut r, Duration::from_secs(3), |r| prio(r) == 85));
    kids.kill(0);
    assert!(drive(&mut r, Duration::from_secs(3), |r| prio(r) == 100));
}

#[test]
fn track_process_fork_delay_and_terminate_delay_hold_the_transitions() {
    // A shell run through a uniquely named link forks a subshell, which keeps the comm:
    // `( sleep 30; true ) & wait` (the subshell cannot exec sleep, true follows). With
    // quorum 2, the fork is what makes the quorum: fork_delay applies
    // (check_process_fork()). Killing both is an exit: terminate_delay applies
    // (check_process_termination()).
    let (link, comm) = link_to("sh", "tk");
    let mut kids = Children::default();
    let mut def = TrackProcess::new("TK", &comm);
    def.quorum = 2;
    def.fork_delay = Duration::from_millis(1500);
    def.terminate_delay = Duration::from_millis(1500);
    let mut inst = HaInstance::new(vconf(100));
    inst.track_process = vec![entry("TK", Some(0), None)];
    let mut r = runner(vec![], vec![def], inst);
    assert_eq!(state(&r), State::Fault);
    kids.spawn(&link.0, &["-c", "( sleep 30; true ) & wait"]);
    assert!(drive(&mut r, Duration::from_secs(3), |r| count(r, "TK") == 2));
    let seen = Instant::now();
    assert_eq!(state(&r), State::Fault, "fork_delay pending");
    assert!(!drive(&mut r, Duration::from_millis(1100), |r| state(r)
        != State::Fault));
    assert!(drive(&mut r, Duration::from_secs(2), |r| state(r) != State::Fault));
    assert!(
        seen.elapsed() >= Duration::from_millis(1400),
        "{:?}",
        seen.elapsed()
    );
    kids.kill(0);
    assert!(drive(&mut r, Duration::from_secs(3), |r| count(r, "TK") == 0));
    let gone = Instant::now();
    assert_ne!(state(&r), State::Fault, "terminate_delay pending");
    assert!(!drive(&mut r, Duration::from_millis(1100), |r| state(r)
        == State::Fault));
    assert!(drive(&mut r, Duration::from_secs(2), |r| state(r) == State::Fault));
    assert!(
        gone.elapsed() >= Duration::from_millis(1400),
        "{:?}",
        gone.elapsed()
    );
    let l: Vec<String> = r.take_log().iter().map(HaLog::to_string).collect();
    assert!(
        l.contains(&"Quorum lost for tracked process TK".to_string()),
        "{l:?}"
    );
}
