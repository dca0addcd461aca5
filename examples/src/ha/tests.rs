//! Unit tests of the HA pieces that need no root: scheduler agreement between two independent
//! directors, sync over the frame transport, and the VRRP runner (election, priority-0
//! shutdown, scripts, notify) over an in-memory wire.

use std::net::{IpAddr, Ipv4Addr};
use std::time::{Duration, Instant};

use etherparse::PacketBuilder;
use lvs_core::director::{Director, DirectorConfig, PacketMeta, Verdict};
use lvs_vrrp::{State, Transmit, Version, VrrpConfig};

use super::sync::SyncTransport;
use super::vrrp::{HaInstance, HaLog, VrrpRunner, VrrpScript};

const VIP: [u8; 4] = [10, 0, 0, 100];

fn director(sched: &str, sloppy: bool, daemons: &[&str]) -> Director {
    let now = Instant::now();
    let mut cfg = DirectorConfig::default();
    cfg.sysctls.sloppy_tcp = sloppy;
    let mut d = Director::new(cfg, now);
    d.apply_line(&format!("-A -t 10.0.0.100:80 -s {sched}"), now)
        .unwrap();
    for i in 1..=5 {
        d.apply_line(
            &format!("-a -t 10.0.0.100:80 -r 10.0.1.{i}:80 -g -w 1"),
            now,
        )
        .unwrap();
    }
    for l in daemons {
        d.apply_line(l, now).unwrap();
    }
    d
}

/// A TCP frame from client `cip:cport` to VIP:80, SYN or ACK.
fn tcp_frame(cip: [u8; 4], cport: u16, syn: bool) -> Vec<u8> {
    let b = PacketBuilder::ethernet2([2, 0, 0, 0, 0, 9], [2, 0, 0, 0, 0, 1])
        .ipv4(cip, VIP, 64)
        .tcp(cport, 80, 1000, 64000);
    let b = if syn { b.syn() } else { b.ack(1) };
    let mut v = Vec::new();
    b.write(&mut v, &[]).unwrap();
    v
}

/// The real server a director sends the frame to, if it forwards it.
fn pick(d: &mut Director, frame: &[u8]) -> Option<IpAddr> {
    let mut buf = vec![0u8; 128 + frame.len() + 1024];
    buf[128..128 + frame.len()].copy_from_slice(frame);
    match d.process(
        &mut buf,
        128,
        frame.len(),
        &PacketMeta::default(),
        Instant::now(),
    ) {
        Verdict::Transmit { next_hop, .. } => Some(next_hop),
        _ => None,
    }
}

fn flows() -> impl Iterator<Item = ([u8; 4], u16)> {
    (0..200u16).map(|i| ([192, 168, (i / 50) as u8, (i % 50) as u8 + 1], 40000 + i))
}

#[test]
fn mh_backup_picks_the_masters_real_server_for_flows_it_never_saw() {
    // Issue 10: "with the same real-server set, the backup's scheduler picks the same real
    // server for a flow it has never seen (mh gives this for free)". Two independent
    // directors, no sync: the master schedules on SYN, the backup (sloppy_tcp) on the next ACK.
    let mut master = director("mh", false, &[]);
    let mut backup = director("mh", true, &[]);
    for (cip, port) in flows() {
        let m = pick(&mut master, &tcp_frame(cip, port, true)).expect("master schedules SYN");
        let b = pick(&mut backup, &tcp_frame(cip, port, false)).expect("backup schedules ACK");
        assert_eq!(m, b, "flow {cip:?}:{port}");
    }
}

#[test]
fn rr_backup_does_not_pick_the_masters_real_server_for_every_unseen_flow() {
    // The contrast that makes the mh test meaningful: rr's pick depends on its cursor, which
    // a backup that saw other flows first does not share.
    let mut master = director("rr", false, &[]);
    let mut backup = director("rr", true, &[]);
    let mut differ = 0;
    for (i, (cip, port)) in flows().enumerate() {
        let m = pick(&mut master, &tcp_frame(cip, port, true)).unwrap();
        if i % 3 == 0 {
            continue; // the backup never sees this flow; its cursor drifts from the master's
        }
        let b = pick(&mut backup, &tcp_frame(cip, port, false)).unwrap();
        differ += usize::from(m != b);
    }
    assert!(
        differ > 0,
        "rr agreed on every flow: the mh test would prove nothing"
    );
}

#[test]
fn synced_flow_continues_on_backup_through_the_frame_transport() {
    // The sync path end to end without root: the master's kernel-format sync message goes
    // through SyncTransport frames to the backup, which then forwards the flow's next ACK
    // (sloppy_tcp off: only the synced entry can make it forward) to the same real server,
    // even with rr, whose pick the backup could not reproduce.
    let master_d = ["--start-daemon master --mcast-interface eth0 --syncid 9"];
    let backup_d = ["--start-daemon backup --mcast-interface eth0 --syncid 9"];
    let mut master = director("rr", false, &master_d);
    let mut backup = director("rr", false, &backup_d);
    let mut mt = SyncTransport::new(Ipv4Addr::new(10, 0, 0, 2), [2, 0, 0, 0, 0, 2]);
    let mut bt = SyncTransport::new(Ipv4Addr::new(10, 0, 0, 3), [2, 0, 0, 0, 0, 3]);
    let now = Instant::now();
    for l in master_d {
        let lvs_core::ipvsadm::Command::StartDaemon(d) = lvs_core::ipvsadm::parse_rule(l).unwrap()
        else {
            panic!()
        };
        mt.start(&d);
    }
    for l in backup_d {
        let lvs_core::ipvsadm::Command::StartDaemon(d) = lvs_core::ipvsadm::parse_rule(l).unwrap()
        else {
            panic!()
        };
        bt.start(&d);
    }
    let mut rips = Vec::new();
    for (cip, port) in flows().take(40) {
        let rip = pick(&mut master, &tcp_frame(cip, port, true)).unwrap();
        // sync_threshold 3: the connection is queued at its third packet.
        pick(&mut master, &tcp_frame(cip, port, false)).unwrap();
        pick(&mut master, &tcp_frame(cip, port, false)).unwrap();
        rips.push(rip);
    }
    let unseen = tcp_frame([192, 168, 9, 9], 1, false);
    assert_eq!(
        pick(&mut backup, &unseen),
        None,
        "no entry, no sloppy_tcp: not forwarded"
    );
    let mut msg = vec![0u8; mt.maxlen()];
    let mut frame = vec![0u8; 2048];
    let mut imported = 0;
    while let Some(n) = master.poll_sync(&mut msg) {
        let (_, mac) = mt.destination().unwrap();
        let fl = mt.encode(&msg[..n], mac.unwrap(), &mut frame).unwrap();
        let payload = bt
            .accept(&frame[..fl])
            .expect("backup accepts the group datagram");
        imported += backup.handle_sync(now, payload).unwrap();
    }
    assert_eq!(imported, 40);
    for ((cip, port), rip) in flows().take(40).zip(rips) {
        assert_eq!(pick(&mut backup, &tcp_frame(cip, port, false)), Some(rip));
    }
}

// ------------------------------------------------------------------------------------------
// VRRP runner over an in-memory wire
// ------------------------------------------------------------------------------------------

fn vconf(last: u8, priority: u8) -> VrrpConfig {
    VrrpConfig {
        name: format!("VI_{last}"),
        interface: "eth0".into(),
        interface_addr: IpAddr::V4(Ipv4Addr::new(10, 0, 0, last)),
        interface_mac: [2, 0, 0, 0, 0, last],
        virtual_router_id: 51,
        priority,
        advert_int: Duration::from_millis(100),
        version: Some(Version::V3),
        virtual_ipaddress: vec![IpAddr::V4(Ipv4Addr::from(VIP))],
        ..VrrpConfig::default()
    }
}

/// Delivers every frame each runner sends to the others; returns the adverts' priorities.
fn exchange(runners: &mut [&mut VrrpRunner], now: Instant) -> Vec<u8> {
    let mut prios = Vec::new();
    let mut buf = [0u8; lvs_vrrp::wire::MAX_FRAME_LEN];
    for i in 0..runners.len() {
        while let Some(t) = runners[i].poll_transmit(&mut buf) {
            if let Transmit::Advert { priority, .. } = t {
                prios.push(priority);
            }
            let f = buf[..t.frame_len()].to_vec();
            for (j, r) in runners.iter_mut().enumerate() {
                if j != i {
                    r.handle_frame(now, &f);
                }
            }
        }
    }
    prios
}

/// Runs both runners on a simulated clock from `t` for `d` in 1 ms steps.
fn run(a: &mut VrrpRunner, b: &mut VrrpRunner, t: &mut Instant, d: Duration) {
    let end = *t + d;
    while *t < end {
        *t += Duration::from_millis(1);
        for r in [&mut *a, &mut *b] {
            if r.poll_timeout().is_some_and(|x| x <= *t) {
                r.handle_timeout(*t);
            }
        }
        exchange(&mut [a, b], *t);
    }
}

#[test]
fn higher_priority_runner_owns_the_vip_and_priority_zero_hands_it_over_in_skew_time() {
    let mut t = Instant::now();
    let mut a = VrrpRunner::new(vec![HaInstance::new(vconf(2, 150))], vec![], t).unwrap();
    let mut b = VrrpRunner::new(vec![HaInstance::new(vconf(3, 100))], vec![], t).unwrap();
    let vip = IpAddr::V4(Ipv4Addr::from(VIP));
    // Master_Down_Interval of A = 3 * 10 cs + (256 - 150) * 10 / 256 cs = 341.4 ms.
    run(&mut a, &mut b, &mut t, Duration::from_millis(400));
    assert!(a.is_master(vip) && !b.is_master(vip));
    assert!(b.is_vip(vip));
    // RFC 9568 6.4.3: on Shutdown a Master sends an advert with priority 0; the backup then
    // sets Master_Down_Timer to Skew_Time ((256 - 100) * 10 / 256 cs = 60.9 ms), far below
    // its Master_Down_Interval (360.9 ms).
    a.shutdown(t);
    let prios = exchange(&mut [&mut a, &mut b], t);
    assert_eq!(prios, vec![0]);
    run(&mut a, &mut b, &mut t, Duration::from_millis(55));
    assert!(!b.is_master(vip), "not before Skew_Time");
    run(&mut a, &mut b, &mut t, Duration::from_millis(10));
    assert!(b.is_master(vip), "backup took over at Skew_Time");
    let log = b.take_log();
    assert!(log.iter().any(|l| matches!(
        l,
        HaLog::State {
            event: lvs_vrrp::Event::StateChange {
                to: State::Master,
                ..
            },
            ..
        }
    )));
}

#[test]
fn different_vrids_both_become_master_and_count_unknown_vrid() {
    // The seeds' split brain: virtual_router_id differs, each side ignores the other's adverts.
    let mut t = Instant::now();
    let mut cb = vconf(3, 100);
    cb.virtual_router_id = 52;
    let mut a = VrrpRunner::new(vec![HaInstance::new(vconf(2, 150))], vec![], t).unwrap();
    let mut b = VrrpRunner::new(vec![HaInstance::new(cb)], vec![], t).unwrap();
    run(&mut a, &mut b, &mut t, Duration::from_millis(800));
    let vip = IpAddr::V4(Ipv4Addr::from(VIP));
    assert!(a.is_master(vip) && b.is_master(vip));
    assert!(a.router_stats().unknown_vrid > 0 && b.router_stats().unknown_vrid > 0);
    assert!(b.take_log().contains(&HaLog::UnknownVrid { vrid: 51 }));
}

fn wait_until(
    r: &mut VrrpRunner,
    limit: Duration,
    mut cond: impl FnMut(&VrrpRunner) -> bool,
) -> bool {
    let end = Instant::now() + limit;
    while Instant::now() < end {
        let now = Instant::now();
        if r.poll_timeout().is_some_and(|x| x <= now) {
            r.handle_timeout(now);
        }
        let mut buf = [0u8; lvs_vrrp::wire::MAX_FRAME_LEN];
        while r.poll_transmit(&mut buf).is_some() {}
        if cond(r) {
            return true;
        }
        std::thread::sleep(Duration::from_millis(2));
    }
    false
}

#[test]
fn failing_weight_zero_script_puts_instance_in_fault_and_notify_gets_keepalived_arguments() {
    let dir = crate::netns::TempDir::new("hanotify").unwrap();
    let flag = dir.join("healthy");
    std::fs::write(&flag, b"").unwrap();
    let out = dir.join("notify.out");
    let notify = dir.join("notify.sh");
    std::fs::write(
        &notify,
        format!("#!/bin/sh\necho \"$@\" >> {}\n", out.display()),
    )
    .unwrap();
    let fault = dir.join("fault.sh");
    std::fs::write(
        &fault,
        format!("#!/bin/sh\necho FAULT-NOARGS \"$#\" >> {}\n", out.display()),
    )
    .unwrap();
    let mut script = VrrpScript::new("chk", &format!("test -e {}", flag.display()));
    script.interval = Duration::from_millis(20);
    script.fall = 2;
    script.rise = 2;
    let mut inst = HaInstance::new(vconf(2, 150));
    inst.config.name = "VI_X".into();
    inst.notify = Some(format!("/bin/sh {}", notify.display()));
    inst.notify_fault = Some(format!("/bin/sh {}", fault.display()));
    inst.track_script = vec!["chk".into()];
    let mut r = VrrpRunner::new(vec![inst], vec![script], Instant::now()).unwrap();
    let vip = IpAddr::V4(Ipv4Addr::from(VIP));
    assert!(wait_until(&mut r, Duration::from_secs(3), |r| r.is_master(vip)));
    std::fs::remove_file(&flag).unwrap();
    assert!(wait_until(&mut r, Duration::from_secs(3), |r| {
        r.instances()[0].state() == State::Fault
    }));
    assert!(!r.is_master(vip), "FAULT gives the VIP up");
    std::fs::write(&flag, b"").unwrap();
    assert!(wait_until(&mut r, Duration::from_secs(3), |r| r.is_master(vip)));
    r.shutdown(Instant::now());
    drop(r); // waits for the notify children
    let text = std::fs::read_to_string(&out).unwrap();
    // keepalived: notify gets "INSTANCE <name> <state> <priority>", notify_fault nothing.
    let lines: Vec<&str> = text.lines().collect();
    for want in [
        "INSTANCE VI_X BACKUP 150",
        "INSTANCE VI_X MASTER 150",
        "INSTANCE VI_X FAULT 150",
        "FAULT-NOARGS 0",
        "INSTANCE VI_X STOP 150",
    ] {
        assert!(lines.contains(&want), "{want:?} not in {lines:?}");
    }
}

#[test]
fn undefined_track_script_is_a_config_error() {
    let mut inst = HaInstance::new(vconf(2, 150));
    inst.track_script = vec!["nope".into()];
    let e = VrrpRunner::new(vec![inst], vec![], Instant::now()).unwrap_err();
    assert!(e.to_string().contains("track_script nope"), "{e}");
}

// ------------------------------------------------------------------------------------------
// keepalived.conf -> HaRuntime
// ------------------------------------------------------------------------------------------

const KEEPALIVED_CONF: &str = r#"
global_defs {
    router_id LVS_A
    lvs_sync_daemon eth0 VI_1 id 7
}
vrrp_script chk_true {
    script "/bin/true"
    interval 1
    weight -20
}
vrrp_instance VI_1 {
    state MASTER
    interface eth0
    virtual_router_id 51
    priority 150
    advert_int 1
    virtual_ipaddress {
        10.0.0.100/24
    }
    track_script {
        chk_true
    }
    notify "/bin/true"
}
"#;

#[test]
fn keepalived_conf_instance_scripts_and_sync_daemon_follow_the_vrrp_state() {
    use super::runtime::HaRuntime;
    let conf = crate::keepalived::parse_str(KEEPALIVED_CONF).unwrap();
    let mut t = Instant::now();
    let ip = Ipv4Addr::new(10, 0, 0, 2);
    let mac = [2, 0, 0, 0, 0, 2];
    let mut rt = HaRuntime::from_keepalived(&conf, ip, mac, t).unwrap();
    let inst = &rt.vrrp().instances()[0];
    assert_eq!(inst.config().name, "VI_1");
    assert_eq!(
        inst.config().interface_addr,
        IpAddr::V4(ip),
        "filled like the kernel's"
    );
    assert_eq!(inst.config().interface_mac, mac);
    assert!(
        inst.config()
            .track
            .iter()
            .any(|w| w.name == "chk_true" && w.weight == -20)
    );
    let mut d = director("mh", false, &[]);
    // keepalived (vrrp.c): backup daemon while not MASTER, master daemon once MASTER.
    let _ = rt.poll_transmit(&mut d, t);
    while rt.poll_transmit(&mut d, t).is_some() {}
    assert!(rt.sync().master().is_none());
    // Master_Down_Interval for priority 150, advert_int 1 s: 3 s + 106/256 s.
    while !rt.vrrp().is_master(IpAddr::V4(Ipv4Addr::from(VIP))) {
        t += Duration::from_millis(10);
        rt.handle_timeout(t);
        while rt.poll_transmit(&mut d, t).is_some() {}
        assert!(t.elapsed() < Duration::from_secs(10), "never MASTER");
    }
    while rt.poll_transmit(&mut d, t).is_some() {}
    let daemons = d.snapshot().daemons;
    assert_eq!(daemons.len(), 1, "{daemons:?}");
    assert_eq!(daemons[0].state, lvs_core::ipvsadm::DaemonState::Master);
    assert_eq!(daemons[0].syncid, 7);
    assert_eq!(rt.sync().master().map(|m| m.syncid), Some(7));
    assert!(rt.sync().backup().is_none());
}

#[test]
fn sync_frame_parser_survives_mutated_frames() {
    // A cheap mutation fuzz of the frame parser and the backup's accept path (the fuzz
    // workspace does not depend on lvs-examples): every byte flip and truncation of a valid
    // sync frame must be handled without panic.
    use super::sync::parse_udp_frame;
    let mut m = SyncTransport::new(Ipv4Addr::new(10, 0, 0, 2), [2, 0, 0, 0, 0, 2]);
    let mut b = SyncTransport::new(Ipv4Addr::new(10, 0, 0, 3), [2, 0, 0, 0, 0, 3]);
    let cmd = |l: &str| match lvs_core::ipvsadm::parse_rule(l).unwrap() {
        lvs_core::ipvsadm::Command::StartDaemon(d) => d,
        _ => panic!(),
    };
    m.start(&cmd("--start-daemon master --mcast-interface eth0"));
    b.start(&cmd("--start-daemon backup --mcast-interface eth0"));
    let mut buf = [0u8; 256];
    let n = m
        .encode(&[1u8; 100], [1, 0, 0x5e, 0, 0, 0x51], &mut buf)
        .unwrap();
    let mut seed = 0x9e37_79b9_7f4a_7c15u64;
    for _ in 0..20_000 {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        let mut f = buf[..n].to_vec();
        for k in 0..(seed % 4) {
            let i = ((seed >> (8 * k)) as usize) % n;
            f[i] ^= (seed >> 32) as u8 | 1;
        }
        let cut = ((seed >> 40) as usize) % (n + 1);
        let f = &f[..cut.max(1)];
        let _ = parse_udp_frame(f);
        let _ = b.accept(f);
    }
    assert!(
        b.accept(&buf[..n]).is_some(),
        "the intact frame is still accepted"
    );
}

// ------------------------------------------------------------------------------------------
// HaRuntime::intercept: the MASTER-only rule for VIPs
// ------------------------------------------------------------------------------------------

fn arp_request(target: [u8; 4]) -> Vec<u8> {
    let f = lvs_arp::ArpFrame::request(
        lvs_arp::MacAddr([2, 0, 0, 0, 0, 9]),
        Ipv4Addr::new(10, 0, 0, 9),
        Ipv4Addr::from(target),
        None,
    );
    f.to_bytes().to_vec()
}

#[test]
fn intercept_backup_is_silent_for_the_vip_master_answers_and_forwards() {
    use super::runtime::{HaRuntime, Intercept};
    // RFC 9568 6.4.2 (Backup): MUST NOT respond to ARP requests for the VIPs, MUST discard
    // packets addressed to them; 6.4.3 (Master): MUST respond, MUST forward.
    let mut t = Instant::now();
    let mut cfg = vconf(2, 100);
    cfg.advert_int = Duration::from_millis(100);
    let mut rt = HaRuntime::new(
        vec![HaInstance::new(cfg)],
        vec![],
        Ipv4Addr::new(10, 0, 0, 2),
        [2, 0, 0, 0, 0, 2],
        t,
    )
    .unwrap();
    let mut d = director("mh", false, &[]);
    let mut to_vip = tcp_frame([192, 168, 0, 1], 1234, true);
    to_vip[..6].copy_from_slice(&[2, 0, 0, 0, 0, 2]);
    let mut to_other = to_vip.clone();
    to_other[..6].copy_from_slice(&[2, 0, 0, 0, 0, 3]);
    assert_eq!(rt.intercept(&mut d, &arp_request(VIP), t), Intercept::Drop);
    assert_eq!(
        rt.intercept(&mut d, &arp_request([10, 0, 0, 2]), t),
        Intercept::Pass,
        "DIP"
    );
    assert_eq!(rt.intercept(&mut d, &to_vip, t), Intercept::Drop);
    assert_eq!(
        rt.intercept(&mut d, &to_other, t),
        Intercept::Drop,
        "another MAC"
    );
    assert_eq!(rt.stats().dropped_not_master, 2);
    // An advert from a lower-priority peer (alone, it became MASTER) is VRRP's.
    let mut peer = VrrpRunner::new(vec![HaInstance::new(vconf(3, 50))], vec![], t).unwrap();
    let mut tt = t;
    while !peer.is_master(IpAddr::V4(Ipv4Addr::from(VIP))) {
        tt += Duration::from_millis(10);
        peer.handle_timeout(tt);
    }
    let mut buf = [0u8; lvs_vrrp::wire::MAX_FRAME_LEN];
    let advert = loop {
        match peer.poll_transmit(&mut buf).unwrap() {
            Transmit::Advert { len, .. } => break buf[..len].to_vec(),
            _ => continue,
        }
    };
    assert_eq!(rt.intercept(&mut d, &advert, t), Intercept::Consumed);
    // The peer has priority 50: ours (100) preempts after Master_Down_Interval.
    while !rt.vrrp().is_master(IpAddr::V4(Ipv4Addr::from(VIP))) {
        t += Duration::from_millis(10);
        rt.handle_timeout(t);
        while rt.poll_transmit(&mut d, t).is_some() {}
        assert!(t.elapsed() < Duration::from_secs(5), "never MASTER");
    }
    assert_eq!(rt.intercept(&mut d, &arp_request(VIP), t), Intercept::Pass);
    assert_eq!(rt.intercept(&mut d, &to_vip, t), Intercept::Pass);
    assert_eq!(
        rt.intercept(&mut d, &to_other, t),
        Intercept::Drop,
        "still another MAC"
    );
}

// ------------------------------------------------------------------------------------------
// Link state (track_interface, the instance's own interface), simulated time
// ------------------------------------------------------------------------------------------

#[test]
fn link_is_up_reads_operstate_and_carrier_like_the_kernel_reports_them() {
    use super::link::link_is_up;
    // (operstate, carrier, up): sysfs text as the kernel writes it (net-sysfs.c operstates[]);
    // dummy / TAP report "unknown" while up; carrier is unreadable (EINVAL) while admin down.
    let table: [(Option<&str>, Option<&str>, bool); 9] = [
        (None, None, false), // interface missing: down, as keepalived
        (Some("up\n"), Some("1\n"), true),
        (Some("unknown\n"), Some("1\n"), true),
        (Some("unknown\n"), None, true),
        (Some("down\n"), None, false),
        (Some("down\n"), Some("0\n"), false),
        (Some("lowerlayerdown\n"), Some("0\n"), false),
        (Some("notpresent\n"), None, false),
        (Some("up\n"), Some("0\n"), false), // carrier lost
    ];
    for (op, carrier, up) in table {
        assert_eq!(link_is_up(op, carrier), up, "{op:?} {carrier:?}");
    }
}

#[test]
fn link_watch_polls_every_period_and_reports_only_changes() {
    use super::link::LinkWatch;
    let t0 = Instant::now();
    let mut w = LinkWatch::new(["eth9".to_string(), "eth0".into(), "eth9".into()], t0);
    assert_eq!(w.names().collect::<Vec<_>>(), ["eth9", "eth0"]);
    assert_eq!(w.poll_timeout(), Some(t0));
    let mut reads = 0;
    // Every link starts up: the first poll reports only what is down.
    let c = w.poll(t0, |n| {
        reads += 1;
        n != "eth9"
    });
    assert_eq!(c, vec![("eth9".to_string(), false)]);
    assert_eq!(reads, 2);
    assert_eq!(w.poll_timeout(), Some(t0 + LinkWatch::PERIOD));
    // Not due: nothing is read.
    let c = w.poll(t0 + Duration::from_millis(100), |_| {
        reads += 1;
        true
    });
    assert!(c.is_empty());
    assert_eq!(reads, 2);
    let t1 = t0 + LinkWatch::PERIOD;
    assert!(
        w.poll(t1, |n| n != "eth9").is_empty(),
        "no change, no report"
    );
    let c = w.poll(t1 + LinkWatch::PERIOD, |_| true);
    assert_eq!(c, vec![("eth9".to_string(), true)]);
    assert_eq!(LinkWatch::new(Vec::new(), t0).poll_timeout(), None);
}

#[test]
fn link_updates_map_an_interface_to_own_interface_and_track_interface_entries() {
    use super::link::{LinkUpdate, link_updates};
    let mut a = HaInstance::new(vconf(2, 150));
    a.config.track.push(lvs_vrrp::TrackWeight {
        name: "eth9".into(),
        weight: 0,
    });
    // A script that happens to share an interface's name is not an interface.
    let mut b = HaInstance::new(vconf(3, 100));
    b.config.interface = "eth9".into();
    b.track_script.push("eth0".into());
    b.config.track.push(lvs_vrrp::TrackWeight {
        name: "eth0".into(),
        weight: -10,
    });
    let specs = [a, b];
    assert_eq!(
        link_updates(&specs, "eth9", false),
        vec![
            LinkUpdate::Tracked {
                instance: 0,
                up: false
            },
            LinkUpdate::Interface {
                instance: 1,
                up: false
            },
        ]
    );
    assert_eq!(
        link_updates(&specs, "eth0", true),
        vec![LinkUpdate::Interface {
            instance: 0,
            up: true
        }]
    );
    assert!(link_updates(&specs, "eth7", false).is_empty());
    assert_eq!(
        super::link::link_names(&specs),
        vec![
            ("eth0".to_string(), true),
            ("eth9".to_string(), false),
            ("eth9".to_string(), true),
        ]
    );
}

fn tracking(weight: i32, t: Instant) -> VrrpRunner {
    let mut inst = HaInstance::new(vconf(2, 150));
    inst.config.track.push(lvs_vrrp::TrackWeight {
        name: "eth9".into(),
        weight,
    });
    VrrpRunner::new(vec![inst], vec![], t).unwrap()
}

fn state(r: &VrrpRunner) -> State {
    r.instances()[0].state()
}

#[test]
fn weight_zero_track_interface_down_faults_the_master_and_link_up_preempts_back() {
    let mut t = Instant::now();
    let mut a = tracking(0, t);
    let mut b = VrrpRunner::new(vec![HaInstance::new(vconf(3, 100))], vec![], t).unwrap();
    run(&mut a, &mut b, &mut t, Duration::from_millis(400));
    assert_eq!((state(&a), state(&b)), (State::Master, State::Backup));
    let _ = a.take_log();
    // keepalived vrrp_track.c: a weight-0 tracked interface going down is a FAULT; leaving
    // MASTER sends the priority-0 advert (RFC 9568 6.4.3), so B waits only Skew_Time
    // ((256 - 100) * 10 / 256 cs = 60.9 ms).
    a.set_link(t, "eth9", false);
    assert_eq!(state(&a), State::Fault);
    let log: Vec<String> = a.take_log().iter().map(ToString::to_string).collect();
    assert_eq!(log[0], "Kernel is reporting: interface eth9 DOWN");
    assert!(log[1].starts_with("VI_2: Entering FAULT STATE"), "{log:?}");
    run(&mut a, &mut b, &mut t, Duration::from_millis(55));
    assert_eq!(state(&b), State::Backup, "not before Skew_Time");
    run(&mut a, &mut b, &mut t, Duration::from_millis(10));
    assert_eq!(state(&b), State::Master);
    // A FAULT instance sends nothing: B stays MASTER.
    run(&mut a, &mut b, &mut t, Duration::from_secs(1));
    assert_eq!((state(&a), state(&b)), (State::Fault, State::Master));
    // Link up: A leaves FAULT as BACKUP, discards B's lower-priority adverts (preempt) and
    // takes over at its Master_Down_Interval (3 * 10 + 106 * 10 / 256 cs = 341.4 ms).
    a.set_link(t, "eth9", true);
    assert_eq!(state(&a), State::Backup);
    run(&mut a, &mut b, &mut t, Duration::from_millis(330));
    assert_eq!(state(&a), State::Backup);
    run(&mut a, &mut b, &mut t, Duration::from_millis(30));
    assert_eq!((state(&a), state(&b)), (State::Master, State::Backup));
}

#[test]
fn own_interface_down_faults_without_an_advert_and_the_peer_waits_master_down_interval() {
    let mut t = Instant::now();
    let mut a = tracking(0, t);
    let mut b = VrrpRunner::new(vec![HaInstance::new(vconf(3, 100))], vec![], t).unwrap();
    run(&mut a, &mut b, &mut t, Duration::from_millis(400));
    assert_eq!(state(&a), State::Master);
    // Last advert from A at most 100 ms ago; B's Master_Down_Interval is
    // 3 * 10 + 156 * 10 / 256 cs = 360.9 ms from it. The interface is down: no release.
    a.set_link(t, "eth0", false);
    assert_eq!(state(&a), State::Fault);
    assert!(exchange(&mut [&mut a, &mut b], t).is_empty(), "no advert");
    run(&mut a, &mut b, &mut t, Duration::from_millis(250));
    assert_eq!(state(&b), State::Backup, "no Skew_Time shortcut");
    run(&mut a, &mut b, &mut t, Duration::from_millis(120));
    assert_eq!(state(&b), State::Master);
    // A tracked interface of another name changes nothing.
    a.set_link(t, "eth7", true);
    assert_eq!(state(&a), State::Fault);
}

#[test]
fn weighted_track_interface_down_lowers_priority_and_the_peer_preempts() {
    let mut t = Instant::now();
    let mut a = tracking(-60, t);
    let mut b = VrrpRunner::new(vec![HaInstance::new(vconf(3, 100))], vec![], t).unwrap();
    run(&mut a, &mut b, &mut t, Duration::from_millis(400));
    assert_eq!(state(&a), State::Master);
    // keepalived: a negative weight is subtracted while the interface is down (150 - 60 =
    // 90 < 100): no FAULT, B preempts the lower-priority master.
    a.set_link(t, "eth9", false);
    assert_eq!(state(&a), State::Master);
    assert_eq!(a.instances()[0].effective_priority(), 90);
    run(&mut a, &mut b, &mut t, Duration::from_secs(1));
    assert_eq!((state(&a), state(&b)), (State::Backup, State::Master));
    a.set_link(t, "eth9", true);
    assert_eq!(a.instances()[0].effective_priority(), 150);
    run(&mut a, &mut b, &mut t, Duration::from_secs(1));
    assert_eq!((state(&a), state(&b)), (State::Master, State::Backup));
}

// ---------------------------------------------------------------------------------------
// keepalived.conf trackers through HaRuntime::from_keepalived
// ---------------------------------------------------------------------------------------

#[test]
fn keepalived_conf_track_file_and_track_interface_reach_the_instance_once() {
    use super::runtime::HaRuntime;
    let path = std::env::temp_dir().join(format!("lvs-ha-tf-{}", std::process::id()));
    std::fs::write(&path, "2\n").unwrap();
    struct Rm(std::path::PathBuf);
    impl Drop for Rm {
        fn drop(&mut self) {
            let _ = std::fs::remove_file(&self.0);
        }
    }
    let _rm = Rm(path.clone());
    let text = format!(
        "vrrp_track_file TF {{\n file {}\n weight 5\n}}\n\
         vrrp_instance VI_1 {{\n interface eth0\n virtual_router_id 51\n priority 100\n\
         virtual_ipaddress {{\n 10.0.0.100\n }}\n track_interface {{\n eth9 weight 10\n }}\n\
         track_file {{\n TF\n }}\n}}\n",
        path.display()
    );
    let conf = crate::keepalived::parse_str(&text).unwrap();
    let rt = HaRuntime::from_keepalived(&conf, Ipv4Addr::new(10, 0, 0, 2), [2; 6], Instant::now())
        .unwrap();
    let inst = &rt.vrrp().instances()[0];
    // keepalived: 100 + 10 (eth9 up, weight 10) + 2 * 5 (the file) = 120; the weighted
    // track_interface is counted once.
    assert_eq!(
        inst.config()
            .track
            .iter()
            .filter(|t| t.name == "eth9")
            .count(),
        1
    );
    assert_eq!(inst.effective_priority(), 120);
    // The file's objects are not interfaces to watch.
    assert_eq!(
        rt.link_names(),
        vec![("eth0".to_string(), true), ("eth9".to_string(), false)]
    );
}

// ---------------------------------------------------------------------------------------
// track_file: one variable-weight lvs-vrrp object per instance entry, simulated time
// ---------------------------------------------------------------------------------------

fn tf_entry(weight: Option<i32>, reverse: Option<bool>) -> crate::keepalived::TrackRef {
    crate::keepalived::TrackRef {
        name: "TF".into(),
        weight,
        reverse,
    }
}

/// A runner tracking the track file `path` (block weight `weight`) from `instances`.
fn tf_runner(
    path: &std::path::Path,
    weight: i32,
    instances: Vec<HaInstance>,
    t: Instant,
) -> VrrpRunner {
    let mut def = super::track::TrackFile::new("TF", path);
    def.weight = weight;
    let trackers = super::track::Trackers {
        files: vec![def],
        processes: Vec::new(),
    };
    VrrpRunner::new_with_trackers(instances, vec![], trackers, t).unwrap()
}

/// Runs one runner alone on a simulated clock from `t` for `d` in 1 ms steps; returns the
/// priorities of the adverts it sent.
fn run_alone(r: &mut VrrpRunner, t: &mut Instant, d: Duration) -> Vec<u8> {
    let end = *t + d;
    let mut prios = Vec::new();
    while *t < end {
        *t += Duration::from_millis(1);
        if r.poll_timeout().is_some_and(|x| x <= *t) {
            r.handle_timeout(*t);
        }
        prios.extend(exchange(&mut [&mut *r], *t));
    }
    prios
}

#[test]
fn track_file_entry_is_one_object_whose_value_times_weight_moves_the_priority() {
    let dir = crate::netns::TempDir::new("hatf").unwrap();
    let path = dir.join("tf");
    std::fs::write(&path, "0\n").unwrap();
    // Three instances track the file: with the block's weight 5, with `weight 5 reverse`,
    // and with `weight 0` (distinct VRIDs: they run side by side).
    let mut plain = HaInstance::new(vconf(2, 100));
    plain.track_file = vec![tf_entry(None, None)];
    let mut rev_cfg = vconf(2, 100);
    rev_cfg.name = "VI_REV".into();
    rev_cfg.virtual_router_id = 52;
    let mut rev = HaInstance::new(rev_cfg);
    rev.track_file = vec![tf_entry(Some(5), Some(true))];
    let mut zero_cfg = vconf(2, 100);
    zero_cfg.name = "VI_ZERO".into();
    zero_cfg.virtual_router_id = 53;
    let mut zero = HaInstance::new(zero_cfg);
    zero.track_file = vec![tf_entry(Some(0), None)];
    let mut t = Instant::now();
    let mut r = tf_runner(&path, 5, vec![plain, rev, zero], t);
    // One lvs-vrrp object per entry, no fixed-weight stand-ins.
    let inst = &r.instances()[0];
    assert!(inst.config().track.is_empty());
    assert_eq!(
        inst.config().track_file,
        vec![lvs_vrrp::TrackFileWeight {
            name: "TF".into(),
            weight: 5,
            reverse: false,
            value: 0,
        }]
    );
    let prio = |r: &VrrpRunner| -> Vec<u8> {
        r.instances()
            .iter()
            .map(lvs_vrrp::VrrpInstance::effective_priority)
            .collect()
    };
    let states =
        |r: &VrrpRunner| -> Vec<State> { r.instances().iter().map(|i| i.state()).collect() };
    // Alone: MASTER after Master_Down_Interval (3 * 10 cs + 156 * 10 / 256 cs).
    run_alone(&mut r, &mut t, Duration::from_millis(400));
    assert_eq!(states(&r), vec![State::Master; 3]);
    let _ = r.take_log();

    // track_file.c: status = value * weight * (reverse ? -1 : 1): 3 * 5 = 15 added, or
    // subtracted with reverse; weight 0: "a non-zero value means failure".
    std::fs::write(&path, "3\n").unwrap();
    let adverts = run_alone(&mut r, &mut t, Duration::from_millis(300));
    assert_eq!(prio(&r)[..2], [115, 85]);
    assert_eq!(states(&r), vec![State::Master, State::Master, State::Fault]);
    // The adverts sent once the poll saw the change carry the new priorities, after the
    // FAULT instance's priority-0 release; none carries the old 100 after it.
    let release = adverts.iter().position(|&p| p == 0).unwrap();
    assert!(adverts[..release].iter().all(|&p| p == 100), "{adverts:?}");
    let after = &adverts[release + 1..];
    assert!(after.iter().all(|&p| p == 115 || p == 85), "{adverts:?}");
    assert!(after.contains(&115) && after.contains(&85), "{adverts:?}");
    let log: Vec<String> = r.take_log().iter().map(ToString::to_string).collect();
    assert!(
        log.contains(&"(VI_2) Changing effective priority from 100 to 115".to_string()),
        "{log:?}"
    );
    assert!(
        log.contains(&"(VI_ZERO): tracked file TF now FAULT state".to_string()),
        "{log:?}"
    );

    // A huge value clamps: 10^8 * 5 -> status 253 -> priority 254; reverse -> status -254:
    // FAULT.
    std::fs::write(&path, "100000000").unwrap();
    run_alone(&mut r, &mut t, Duration::from_millis(300));
    assert_eq!(prio(&r)[0], 254);
    assert_eq!(states(&r), vec![State::Master, State::Fault, State::Fault]);
    // -25 * 5 = -125: 100 - 125 -> 1 (not FAULT); reverse: +125 -> 225.
    std::fs::write(&path, "-25").unwrap();
    run_alone(&mut r, &mut t, Duration::from_millis(300));
    assert_eq!(prio(&r)[..2], [1, 225]);
    // The reverse instance left FAULT as BACKUP (try_up_instance()) and waits its
    // Master_Down_Interval before it is MASTER again.
    assert_eq!(states(&r), vec![State::Master, State::Backup, State::Fault]);
    // 0: every contribution gone, nobody in FAULT; back to MASTER after the Backup wait.
    std::fs::write(&path, "0").unwrap();
    run_alone(&mut r, &mut t, Duration::from_millis(700));
    assert_eq!(prio(&r), vec![100, 100, 100]);
    assert_eq!(states(&r), vec![State::Master; 3]);
    assert_eq!(r.track_file_value("TF"), Some(0));
}

#[test]
fn track_file_value_dropping_the_master_below_the_peer_hands_the_vip_over_and_back() {
    let dir = crate::netns::TempDir::new("hatfp").unwrap();
    let path = dir.join("tf");
    std::fs::write(&path, "0").unwrap();
    let mut t = Instant::now();
    let mut ai = HaInstance::new(vconf(2, 150));
    ai.track_file = vec![tf_entry(Some(-10), None)];
    let mut a = tf_runner(&path, 1, vec![ai], t);
    let mut b = VrrpRunner::new(vec![HaInstance::new(vconf(3, 100))], vec![], t).unwrap();
    run(&mut a, &mut b, &mut t, Duration::from_millis(400));
    assert_eq!((state(&a), state(&b)), (State::Master, State::Backup));
    // 150 + 6 * -10 = 90 < 100: A keeps advertising (at 90), B discards the lower-priority
    // adverts (preempt) and takes over at its Master_Down_Interval; A then hears 100 and
    // steps down. Within one poll (250 ms) + one advert (100 ms) + 360.9 ms.
    std::fs::write(&path, "6").unwrap();
    run(&mut a, &mut b, &mut t, Duration::from_millis(720));
    assert_eq!(a.instances()[0].effective_priority(), 90);
    assert_eq!((state(&a), state(&b)), (State::Backup, State::Master));
    // 0: A is 150 again and preempts B (poll + 3 * 10 cs + 106 * 10 / 256 cs).
    std::fs::write(&path, "0").unwrap();
    run(&mut a, &mut b, &mut t, Duration::from_millis(600));
    assert_eq!((state(&a), state(&b)), (State::Master, State::Backup));
}
