//! The namespace demo (root only; prints a skip line otherwise): the binary runs every mode
//! with kernel clients and real servers, exits 0, and leaves no namespace behind, also when
//! interrupted with SIGINT.

use lvs_examples::demo::ns::NS_PREFIX;
use lvs_examples::netns;
use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

/// The demo's namespaces still present for process `pid` (`lvsd<pid>x<n>`).
fn leftovers(pid: u32) -> Vec<String> {
    let list = netns::ip(&["netns", "list"]).unwrap_or_default();
    let prefix = format!("{NS_PREFIX}{pid}x");
    list.lines()
        .filter_map(|l| l.split_whitespace().next())
        .filter(|n| n.starts_with(&prefix))
        .map(str::to_owned)
        .collect()
}

fn wait_bounded(child: &mut Child, limit: Duration) -> ExitStatus {
    let deadline = Instant::now() + limit;
    loop {
        if let Some(st) = child.try_wait().unwrap() {
            return st;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("lvs-demo still running after {limit:?}");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// `lvs-demo --netns --requests 40` with standard output as given.
fn spawn_demo(stdout: Stdio) -> Child {
    Command::new(env!("CARGO_BIN_EXE_lvs-demo"))
        .args(["--netns", "--requests", "40"])
        .stdout(stdout)
        .spawn()
        .unwrap()
}

/// Every mode passes over the kernel's TCP; afterwards no `lvsd<pid>x*` namespace is left.
#[test]
fn netns_demo_every_mode_passes_and_removes_its_namespaces() {
    if !netns::root_or_skip("netns_demo_every_mode_passes_and_removes_its_namespaces") {
        return;
    }
    let mut child = spawn_demo(Stdio::piped());
    let pid = child.id();
    let mut out = child.stdout.take().unwrap();
    let reader = std::thread::spawn(move || {
        let mut text = String::new();
        std::io::Read::read_to_string(&mut out, &mut text).unwrap();
        text
    });
    let st = wait_bounded(&mut child, Duration::from_secs(180));
    let text = reader.join().unwrap();
    assert!(st.success(), "{text}");
    assert!(text.contains("all modes passed: yes"), "{text}");
    // Five modes and the HA scene.
    assert_eq!(text.matches("result: PASS").count(), 6, "{text}");
    assert!(
        text.contains("ha: 100 of 100 connections survived"),
        "{text}"
    );
    assert_eq!(leftovers(pid), Vec::<String>::new());
}

/// SIGINT in the middle of a run: the demo stops, removes everything and exits non-zero.
#[test]
fn netns_demo_interrupted_by_sigint_removes_its_namespaces() {
    if !netns::root_or_skip("netns_demo_interrupted_by_sigint_removes_its_namespaces") {
        return;
    }
    let mut child = spawn_demo(Stdio::null());
    let pid = child.id();
    let deadline = Instant::now() + Duration::from_secs(30);
    while leftovers(pid).len() < 3 {
        assert!(Instant::now() < deadline, "the demo built no namespace");
        std::thread::sleep(Duration::from_millis(20));
    }
    kill(Pid::from_raw(pid as i32), Signal::SIGINT).unwrap();
    let st = wait_bounded(&mut child, Duration::from_secs(60));
    assert!(!st.success(), "an interrupted demo does not report success");
    assert_eq!(leftovers(pid), Vec::<String>::new());
}
