//! The state machine driven by the blocking std probes against a real listener on loopback, in
//! real time: the health scenario at small scale. A listener is closed; the real
//! server must leave the pool within delay_loop + (retry + 1) * (connect_timeout +
//! delay_before_retry) (keepalived's bound, shared/reference/vrrp.md), and come back after one
//! successful check once the listener is open again.

use std::net::TcpListener;
use std::thread;
use std::time::{Duration, Instant};

use lvs_examples::health::probe::run_probe;
use lvs_examples::health::{HealthAction, HealthEvent, VirtualServerHealth};
use lvs_examples::keepalived::parse_str;

/// Run the checks until an event arrives or `limit` passes; returns the event and its time.
fn drive_until_event(
    h: &mut VirtualServerHealth,
    limit: Duration,
) -> Option<(Instant, HealthEvent)> {
    let end = Instant::now() + limit;
    while Instant::now() < end {
        let now = Instant::now();
        while let Some((id, p)) = h.poll_probe(now) {
            let r = run_probe(&p);
            h.on_probe_result(Instant::now(), id, r);
        }
        if let Some(e) = h.poll_event() {
            return Some((Instant::now(), e));
        }
        let wake = h.poll_timeout().unwrap_or(end).min(end);
        thread::sleep(wake.saturating_duration_since(Instant::now()));
    }
    None
}

#[test]
fn closed_listener_leaves_within_the_bound_and_returns_after_restart() {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    // delay_loop 0.2 s, connect_timeout 0.5 s, retry 2, delay_before_retry 0.1 s.
    let cfg = parse_str(&format!(
        "virtual_server 127.0.0.1 80 {{\n lb_algo rr\n lb_kind NAT\n delay_loop 0.2\n \
         real_server 127.0.0.1 {port} {{\n TCP_CHECK {{\n connect_timeout 0.5\n retry 2\n delay_before_retry 0.1\n }}\n }}\n}}\n"
    ))
    .unwrap();
    let mut h = VirtualServerHealth::new(&cfg.virtual_servers[0], Instant::now());
    // Up: a few rounds, no event.
    assert!(drive_until_event(&mut h, Duration::from_millis(700)).is_none());
    let killed = Instant::now();
    drop(l);
    let (at, e) = drive_until_event(&mut h, Duration::from_secs(10)).expect("removal");
    assert_eq!(e.action, HealthAction::Remove);
    assert!(!e.up);
    let bound = Duration::from_millis(200 + 3 * (500 + 100));
    // Slack for a loaded machine's scheduling; the refused connect itself is immediate.
    assert!(
        at - killed <= bound + Duration::from_secs(2),
        "{:?}",
        at - killed
    );
    // Restart the listener on the same port: back after one successful check.
    let _l = TcpListener::bind(("127.0.0.1", port)).unwrap();
    let (_, e) = drive_until_event(&mut h, Duration::from_secs(10)).expect("restore");
    assert_eq!(e.action, HealthAction::Restore);
    assert_eq!(
        e.command().to_string(),
        format!("-a -t 127.0.0.1:80 -r 127.0.0.1:{port} -m -w 1")
    );
}
