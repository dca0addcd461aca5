//! The health-check state machines in simulated time, against keepalived's timing
//! (check_tcp.c `tcp_epilog()`, check_data.c start-up, ipwrapper.c `perform_svr_state()` and
//! `update_quorum_state()`; shared/reference/vrrp.md "keepalived checker module"):
//! - checks every delay_loop; after a failure, `retry` retries spaced by delay_before_retry;
//!   an UP checker goes DOWN on the (retry + 1)-th consecutive failure; one success brings
//!   it UP; a failure on the very first check marks it DOWN at once; alpha starts DOWN;
//! - so a killed real server leaves the pool within
//!   delay_loop + (retry + 1) * (connect_timeout + delay_before_retry).

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use lvs_core::ipvsadm::{Command, save};
use lvs_core::service::IpvsConfig;
use lvs_examples::health::{
    HealthAction, HealthEvent, Probe, ProbeId, ProbeResult, VirtualServerHealth,
};
use lvs_examples::keepalived::{KeepalivedConfig, parse_str};

const S: Duration = Duration::from_secs(1);

/// A simulated network: which real servers answer, as a function of time (seconds since
/// start). A probe to a live server succeeds at once; to a dead one it fails when its
/// timeout expires (the worst case, a silently dropped SYN).
struct Sim {
    t0: Instant,
    health: VirtualServerHealth,
    /// (completion time, id, result)
    pending: Vec<(Instant, ProbeId, ProbeResult)>,
    /// Real-server address (probed address) -> dead intervals in seconds [from, to).
    dead: BTreeMap<SocketAddr, Vec<(u64, u64)>>,
    /// (seconds since start, event)
    events: Vec<(Duration, HealthEvent)>,
    /// Probe start times per id, in seconds since start.
    probes: Vec<(Duration, ProbeId)>,
}

impl Sim {
    fn new(cfg: &KeepalivedConfig) -> Self {
        let t0 = Instant::now();
        Sim {
            t0,
            health: VirtualServerHealth::new(&cfg.virtual_servers[0], t0),
            pending: Vec::new(),
            dead: BTreeMap::new(),
            events: Vec::new(),
            probes: Vec::new(),
        }
    }

    fn kill(&mut self, addr: &str, from: u64, to: u64) {
        self.dead
            .entry(addr.parse().unwrap())
            .or_default()
            .push((from, to));
    }

    fn is_dead(&self, addr: SocketAddr, at: Duration) -> bool {
        self.dead.get(&addr).is_some_and(|v| {
            v.iter()
                .any(|(a, b)| at >= Duration::from_secs(*a) && at < Duration::from_secs(*b))
        })
    }

    /// Run until `end` seconds.
    fn run(&mut self, end: u64) {
        let end = self.t0 + Duration::from_secs(end);
        loop {
            let next_probe = self.health.poll_timeout();
            let next_done = self.pending.iter().map(|p| p.0).min();
            let now = match (next_probe, next_done) {
                (Some(a), Some(b)) => a.min(b),
                (a, b) => a.or(b).expect("something is always scheduled"),
            };
            if now > end {
                break;
            }
            // Completions due now first.
            if let Some(i) = self.pending.iter().position(|p| p.0 == now) {
                let (at, id, r) = self.pending.remove(i);
                self.health.on_probe_result(at, id, r);
                while let Some(e) = self.health.poll_event() {
                    self.events.push((at - self.t0, e));
                }
                continue;
            }
            while let Some((id, p)) = self.health.poll_probe(now) {
                let rel = now - self.t0;
                self.probes.push((rel, id));
                let (addr, timeout) = match &p {
                    Probe::Tcp { addr, timeout, .. } | Probe::Http { addr, timeout, .. } => {
                        (*addr, *timeout)
                    }
                    other => panic!("unexpected probe {other:?}"),
                };
                if self.is_dead(addr, rel) {
                    self.pending.push((now + timeout, id, ProbeResult::Failure));
                } else {
                    self.pending.push((now, id, ProbeResult::Success));
                }
            }
        }
    }

    fn event_times(&self) -> Vec<(u64, SocketAddr, HealthAction)> {
        self.events
            .iter()
            .map(|(t, e)| (t.as_secs(), e.real_server, e.action))
            .collect()
    }
}

fn cfg(checker: &str, rs_extra: &str, vs_extra: &str) -> KeepalivedConfig {
    parse_str(&format!(
        "virtual_server 192.168.56.200 80 {{\n delay_loop 6\n lb_algo rr\n lb_kind DR\n {vs_extra}\n \
         real_server 192.168.56.102 80 {{\n weight 1\n {rs_extra}\n {checker}\n }}\n \
         real_server 192.168.56.103 80 {{\n weight 1\n {checker}\n }}\n}}\n"
    ))
    .unwrap()
}

fn tcp(retry: u32) -> String {
    format!("TCP_CHECK {{\n connect_timeout 3\n retry {retry}\n delay_before_retry 2\n }}")
}

const RS1: &str = "192.168.56.102:80";

/// Independent expectation: the real server dies at `kill`; the last check that saw it alive
/// started at `last_ok`; the next check is at last_ok + delay_loop and fails after
/// connect_timeout; each retry starts delay_before_retry after the previous failure; the
/// removal happens at the (retry + 1)-th failure.
fn expected_removal(last_ok: u64, delay_loop: u64, ct: u64, dbr: u64, retry: u64) -> u64 {
    last_ok + delay_loop + retry * (ct + dbr) + ct
}

#[test]
fn killed_real_server_leaves_within_the_keepalived_bound_and_returns_after_one_success() {
    // delay_loop 6, connect_timeout 3, delay_before_retry 2; retry 0, 1, 3.
    for retry in [0u64, 1, 3] {
        let c = cfg(&tcp(retry as u32), "", "");
        let mut sim = Sim::new(&c);
        // Checks at 0, 6, 12, 18: alive. Killed at 20, restarted at 60.
        sim.kill(RS1, 20, 60);
        sim.run(90);
        let ev = sim.event_times();
        let removal = expected_removal(18, 6, 3, 2, retry);
        // The bound of the issue: kill + delay_loop + (retry + 1) * (ct + dbr).
        assert!(removal <= 20 + 6 + (retry + 1) * (3 + 2), "retry {retry}");
        assert_eq!(
            ev[0],
            (removal, RS1.parse().unwrap(), HealthAction::Remove),
            "retry {retry}: {ev:?}"
        );
        assert!(!sim.events[0].1.up);
        // After going DOWN the checker waits delay_loop; the first probe at or after 60
        // succeeds and brings it back at once.
        let first_ok = sim
            .probes
            .iter()
            .filter(|(t, id)| id.real_server == 0 && t.as_secs() >= 60)
            .map(|(t, _)| t.as_secs())
            .next()
            .unwrap();
        assert_eq!(
            ev[1],
            (first_ok, RS1.parse().unwrap(), HealthAction::Restore),
            "retry {retry}"
        );
        assert!(first_ok < 60 + 6 + (retry + 1) * 5, "retry {retry}");
        assert_eq!(ev.len(), 2, "the other real server never changes: {ev:?}");
        // The failing probes are spaced as keepalived spaces them.
        let rs1_probes: Vec<u64> = sim
            .probes
            .iter()
            .filter(|(t, id)| id.real_server == 0 && t.as_secs() > 18 && t.as_secs() <= removal)
            .map(|(t, _)| t.as_secs())
            .collect();
        let want: Vec<u64> = (0..=retry).map(|j| 24 + j * 5).collect();
        assert_eq!(rs1_probes, want, "retry {retry}");
    }
}

#[test]
fn first_check_failure_marks_down_at_once_whatever_retry_is() {
    for retry in [0u32, 1, 3] {
        let c = cfg(&tcp(retry), "", "");
        let mut sim = Sim::new(&c);
        sim.kill(RS1, 0, 1000);
        sim.run(30);
        // First probe at 0 fails after connect_timeout 3: removed at 3.
        assert_eq!(
            sim.event_times()[0],
            (3, RS1.parse().unwrap(), HealthAction::Remove),
            "retry {retry}"
        );
    }
}

#[test]
fn alpha_starts_down_and_one_success_adds_the_real_server() {
    let c = cfg(&tcp(1), "alpha", "");
    // Start table: 102 absent (alpha), 103 present.
    let rules = c.rules();
    assert_eq!(
        rules,
        "-A -t 192.168.56.200:80 -s rr\n-a -t 192.168.56.200:80 -r 192.168.56.103:80 -g -w 1\n"
    );
    let mut sim = Sim::new(&c);
    sim.run(10);
    assert_eq!(
        sim.event_times(),
        vec![(0, RS1.parse().unwrap(), HealthAction::Restore)]
    );
    // Alpha and dead from the start: stays out, no event at all.
    let mut sim = Sim::new(&c);
    sim.kill(RS1, 0, 1000);
    sim.run(60);
    assert!(sim.events.is_empty(), "{:?}", sim.events);
}

#[test]
fn inhibit_on_failure_sets_weight_zero_and_restores_the_weight() {
    let c = parse_str(
        "virtual_server 10.0.0.1 80 {\n delay_loop 6\n lb_kind NAT\n real_server 10.0.0.2 8080 {\n weight 7\n inhibit_on_failure\n TCP_CHECK {\n connect_timeout 3\n retry 1\n }\n }\n}\n",
    )
    .unwrap();
    let mut sim = Sim::new(&c);
    sim.kill("10.0.0.2:8080", 1, 20);
    sim.run(40);
    // Last ok check at 0; next at 6 fails at 9; retry at 9 + 1 (delay_before_retry 1 s) = 10,
    // fails at 13: weight 0, next check after delay_loop at 19. It still fails (restarted at
    // 20) at 22; a DOWN checker keeps counting retries, so the next check is the retry at
    // 22 + 1 = 23, which succeeds.
    assert_eq!(
        sim.event_times(),
        vec![
            (13, "10.0.0.2:8080".parse().unwrap(), HealthAction::Weight0),
            (
                23,
                "10.0.0.2:8080".parse().unwrap(),
                HealthAction::RestoreWeight(7)
            ),
        ]
    );
    let cmds: Vec<String> = sim
        .events
        .iter()
        .map(|(_, e)| e.command().to_string())
        .collect();
    assert_eq!(
        cmds,
        vec![
            "-e -t 10.0.0.1:80 -r 10.0.0.2:8080 -m -w 0",
            "-e -t 10.0.0.1:80 -r 10.0.0.2:8080 -m -w 7"
        ]
    );
}

#[test]
fn several_checkers_must_all_be_up() {
    // TCP on the real port and HTTP on 8081; only the HTTP side dies.
    let checkers = "TCP_CHECK {\n connect_timeout 3\n retry 0\n }\n HTTP_GET {\n url {\n path /\n }\n connect_port 8081\n connect_timeout 3\n retry 0\n delay_before_retry 1\n }";
    let c = cfg(checkers, "", "");
    let mut sim = Sim::new(&c);
    sim.kill("192.168.56.102:8081", 10, 30);
    sim.run(50);
    // HTTP check at 12 fails at 15 (retry 0): the real server is removed although TCP passes;
    // next HTTP checks at 21 (fails at 24) and 30, which passes: back at 30.
    assert_eq!(
        sim.event_times(),
        vec![
            (15, RS1.parse().unwrap(), HealthAction::Remove),
            (30, RS1.parse().unwrap(), HealthAction::Restore),
        ]
    );
}

#[test]
fn hysteresis_delays_quorum_regain() {
    // quorum 2, hysteresis 1: lost below 1 (i.e. at 0), regained at 3.
    let c = parse_str(
        "virtual_server 10.0.0.1 80 {\n delay_loop 6\n quorum 2\n hysteresis 1\n sorry_server 10.0.0.9 80\n lb_kind DR\n \
         real_server 10.0.0.2 80 {\n weight 2\n TCP_CHECK {\n connect_timeout 3\n retry 0\n }\n }\n \
         real_server 10.0.0.3 80 {\n weight 1\n TCP_CHECK {\n connect_timeout 3\n retry 0\n }\n }\n}\n",
    )
    .unwrap();
    let mut sim = Sim::new(&c);
    sim.kill("10.0.0.2:80", 10, 1000);
    sim.kill("10.0.0.3:80", 10, 40);
    sim.run(60);
    let sorry: SocketAddr = "10.0.0.9:80".parse().unwrap();
    let ev = sim.event_times();
    // Both fail at 15: weight 0: quorum lost, sorry in. 10.0.0.3 back at 48 (checks at 21, 30, 39 fail): weight 1 < 3:
    // quorum stays down, the real server stays out of the pool while the sorry server serves.
    assert!(ev.contains(&(15, sorry, HealthAction::Restore)), "{ev:?}");
    assert!(!ev.iter().any(|e| e.0 > 15), "{ev:?}");
    assert!(!sim.health.quorum_up());
    assert_eq!(sim.health.is_alive(1), Some(true));
}

/// The seed notes' experiment: `systemctl stop httpd` on server02 makes `ipvsadm -S -n` show
/// only 103; `systemctl start httpd` brings 102 back.
#[test]
fn seed_real_server_failure_and_return_in_the_ipvs_table() {
    let text = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/data/seed_loadbalance01.conf"
    ))
    .unwrap();
    let c = parse_str(&text).unwrap();
    let mut table = IpvsConfig::new();
    for cmd in c.commands() {
        table.apply(&cmd).unwrap();
    }
    let mut sim = Sim::new(&c);
    sim.kill(RS1, 10, 100);
    sim.run(80);
    let apply = |table: &mut IpvsConfig, evs: &[(Duration, HealthEvent)]| {
        for (_, e) in evs {
            table.apply(&e.command()).unwrap();
        }
    };
    apply(&mut table, &sim.events);
    assert_eq!(
        save(&table.services),
        "-A -t 192.168.56.200:80 -s rr\n-a -t 192.168.56.200:80 -r 192.168.56.103:80 -g -w 1\n"
    );
    // Seed timing: delay_loop 6, connect_timeout 3, retry 3, delay_before_retry 3: last good
    // check at 6, failures from 12: removed at 12 + 3 * 6 + 3 = 33.
    assert_eq!(sim.events[0].0.as_secs(), expected_removal(6, 6, 3, 3, 3));
    let n = sim.events.len();
    sim.run(130);
    apply(&mut table, &sim.events[n..]);
    assert_eq!(
        save(&table.services),
        "-A -t 192.168.56.200:80 -s rr\n-a -t 192.168.56.200:80 -r 192.168.56.102:80 -g -w 1\n-a -t 192.168.56.200:80 -r 192.168.56.103:80 -g -w 1\n"
    );
    assert!(matches!(sim.events[n].1.command(), Command::AddDest { .. }));
}

#[test]
fn misc_exit_codes_and_dynamic_weight() {
    // check_misc.c: 0 ok, 1 fail, 2..255 with misc_dynamic = ok with weight code - 2.
    assert_eq!(ProbeResult::from_misc_exit(0, false), ProbeResult::Success);
    assert_eq!(ProbeResult::from_misc_exit(1, true), ProbeResult::Failure);
    assert_eq!(ProbeResult::from_misc_exit(7, false), ProbeResult::Failure);
    assert_eq!(
        ProbeResult::from_misc_exit(7, true),
        ProbeResult::SuccessWithWeight(5)
    );
    assert_eq!(ProbeResult::from_misc_exit(256, true), ProbeResult::Failure);
    let c = parse_str("virtual_server 10.0.0.1 80 {\n lb_kind DR\n real_server 10.0.0.2 80 {\n weight 3\n MISC_CHECK {\n misc_path /bin/x\n misc_dynamic\n }\n }\n}\n").unwrap();
    let t0 = Instant::now();
    let mut h = VirtualServerHealth::new(&c.virtual_servers[0], t0);
    let (id, p) = h.poll_probe(t0).unwrap();
    assert!(matches!(p, Probe::Misc { dynamic: true, .. }));
    h.on_probe_result(t0 + S, id, ProbeResult::SuccessWithWeight(10));
    let e = h.poll_event().unwrap();
    assert_eq!(e.action, HealthAction::RestoreWeight(10));
    assert_eq!(
        e.command().to_string(),
        "-e -t 10.0.0.1:80 -r 10.0.0.2:80 -g -w 10"
    );
    // MISC retry 0: the next failure removes it at once.
    let (id, _) = h.poll_probe(t0 + 61 * S).unwrap();
    h.on_probe_result(t0 + 62 * S, id, ProbeResult::Failure);
    assert_eq!(h.poll_event().unwrap().action, HealthAction::Remove);
    assert_eq!(h.poll_event(), None);
}

#[test]
fn no_probe_while_one_is_outstanding_and_stray_results_are_ignored() {
    let c = cfg(&tcp(1), "", "");
    let t0 = Instant::now();
    let mut h = VirtualServerHealth::new(&c.virtual_servers[0], t0);
    let (a, _) = h.poll_probe(t0).unwrap();
    let (b, _) = h.poll_probe(t0).unwrap();
    assert_eq!(h.poll_probe(t0), None);
    assert_eq!(h.poll_timeout(), None, "both probes outstanding");
    h.on_probe_result(t0, a, ProbeResult::Success);
    h.on_probe_result(t0, a, ProbeResult::Failure); // stray: ignored
    h.on_probe_result(
        t0,
        ProbeId {
            real_server: 9,
            checker: 0,
        },
        ProbeResult::Failure,
    );
    assert_eq!(h.poll_event(), None);
    assert_eq!(h.poll_timeout(), Some(t0 + 6 * S));
    h.on_probe_result(t0, b, ProbeResult::Success);
    assert_eq!(h.poll_probe(t0 + 5 * S), None);
    assert!(h.poll_probe(t0 + 6 * S).is_some());
}

#[test]
fn monitor_drives_every_virtual_server() {
    let c = parse_str(
        "virtual_server 10.0.0.1 80 {\n lb_kind DR\n real_server 10.0.0.2 80 {\n TCP_CHECK {\n }\n }\n}\n\
         virtual_server 10.0.0.1 443 {\n lb_kind DR\n real_server 10.0.0.3 443 {\n TCP_CHECK {\n }\n }\n}\n",
    )
    .unwrap();
    let t0 = Instant::now();
    let mut m = lvs_examples::health::HealthMonitor::new(&c, t0);
    let mut ids = Vec::new();
    while let Some((id, p)) = m.poll_probe(t0) {
        ids.push((id.virtual_server, p));
    }
    assert_eq!(ids.len(), 2);
    assert_eq!(m.poll_timeout(), None);
    // The second service's real server fails its first check: removed at once.
    m.on_probe_result(
        t0 + 5 * S,
        lvs_examples::health::MonitorProbeId {
            virtual_server: 1,
            probe: ProbeId {
                real_server: 0,
                checker: 0,
            },
        },
        ProbeResult::Failure,
    );
    let e = m.poll_event().unwrap();
    assert_eq!(
        e.command().to_string(),
        "-d -t 10.0.0.1:443 -r 10.0.0.3:443"
    );
    assert_eq!(m.poll_event(), None);
    // The first service's probe is still outstanding; the second's next check is delay_loop
    // (60 s) after the failure.
    assert_eq!(m.poll_timeout(), Some(t0 + 65 * S));
}

#[test]
fn quorum_loss_brings_in_the_sorry_server_and_takes_it_out_on_regain() {
    // At 15 RS1 fails: RS1 removed; alive weight 1 < quorum 2: the sorry server added, then
    // the remaining alive RS2 taken out (ipwrapper.c order, the pool is never empty). Checks at 21 (fails at 24) and 30: RS1 is back at 30,
    // weight 2 >= 2: sorry server out first, then both real servers come back. With
    // sorry_server_inhibit the sorry server stays in the table, weight 0 while quorum is up.
    let rs1: SocketAddr = RS1.parse().unwrap();
    let rs2: SocketAddr = "192.168.56.103:80".parse().unwrap();
    let sorry: SocketAddr = "192.168.56.250:80".parse().unwrap();
    for (inhibit, sorry_in, sorry_out) in [
        ("", HealthAction::Restore, HealthAction::Remove),
        (
            "sorry_server_inhibit",
            HealthAction::RestoreWeight(1),
            HealthAction::Weight0,
        ),
    ] {
        let vs = format!("sorry_server 192.168.56.250 80\n {inhibit}\n quorum 2\n");
        let mut sim = Sim::new(&cfg(&tcp(0), "", &vs));
        sim.kill(RS1, 10, 30);
        sim.run(45);
        assert_eq!(
            sim.event_times(),
            vec![
                (15, rs1, HealthAction::Remove),
                (15, sorry, sorry_in),
                (15, rs2, HealthAction::Remove),
                (30, sorry, sorry_out),
                (30, rs1, HealthAction::Restore),
                (30, rs2, HealthAction::Restore),
            ],
            "{inhibit}"
        );
        assert!(sim.events[1].1.sorry_server);
    }
}
