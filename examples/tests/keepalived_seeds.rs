//! The user's keepalived.conf files from the seed notes (shared/seeds/000_a76820eef8169adf.txt:
//! loadbalance01 lines 613-691, loadbalance02 lines 714-785, the two nginx HA nodes lines
//! 955-987 and 993-1025), copied verbatim into tests/data/. Each must parse with the values
//! the notes configure, and the virtual-server part must give the `ipvsadm -S -n` output the
//! notes show after `systemctl start keepalived`.

use std::net::{IpAddr, SocketAddr};
use std::path::Path;
use std::time::Duration;

use lvs_core::service::{ForwardMethod, Protocol, ServiceKey};
use lvs_examples::health::{CheckKind, StatusCodes};
use lvs_examples::keepalived::{KeepalivedConfig, parse_file};
use lvs_sched::SchedulerKind;
use lvs_vrrp::{AuthType, InitialState, TrackWeight};

fn load(name: &str) -> KeepalivedConfig {
    let p = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data")
        .join(name);
    parse_file(&p).unwrap_or_else(|e| panic!("{name}: {e}"))
}

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

/// The `ipvsadm -S -n` output printed in the notes right after starting keepalived on both
/// load balancers.
const SEED_SAVE: &str = "-A -t 192.168.56.200:80 -s rr
-a -t 192.168.56.200:80 -r 192.168.56.102:80 -g -w 1
-a -t 192.168.56.200:80 -r 192.168.56.103:80 -g -w 1
";

fn check_lb(cfg: &KeepalivedConfig, priority: u8, nopreempt: bool) {
    // global_defs
    assert_eq!(cfg.global.router_id.as_deref(), Some("mysql-master"));
    assert_eq!(cfg.global.notification_email, vec!["380197443@qq.com"]);
    assert_eq!(
        cfg.global.notification_email_from.as_deref(),
        Some("380197443@qq.com")
    );
    assert_eq!(cfg.global.smtp_server.as_deref(), Some("stmp.qq.com"));
    assert_eq!(
        cfg.global.smtp_connect_timeout,
        Some(Duration::from_secs(30))
    );
    // vrrp_instance VI_1
    assert_eq!(cfg.vrrp_instances.len(), 1);
    let vi = &cfg.vrrp_instances[0];
    assert_eq!(vi.name, "VI_1");
    let c = &vi.config;
    assert_eq!(c.name, "VI_1");
    assert_eq!(c.state, InitialState::Backup);
    assert_eq!(c.interface, "enp0s8");
    assert_eq!(c.virtual_router_id, 200);
    assert_eq!(c.priority, priority);
    assert_eq!(c.nopreempt, nopreempt);
    assert_eq!(c.advert_int, Duration::from_secs(1));
    let auth = c.authentication.as_ref().unwrap();
    assert_eq!(auth.auth_type, AuthType::Pass);
    assert_eq!(auth.auth_pass, "1111");
    assert_eq!(c.virtual_ipaddress, vec![ip("192.168.56.200")]);
    assert_eq!(vi.vips[0].prefix, 24);
    assert_eq!(vi.vips[0].dev.as_deref(), Some("enp0s8"));
    assert_eq!(vi.vips[0].label.as_deref(), Some("enp0s8:1"));
    // virtual_server 192.168.56.200 80
    assert_eq!(cfg.virtual_servers.len(), 1);
    let vs = &cfg.virtual_servers[0];
    assert_eq!(
        vs.key,
        ServiceKey::Addr {
            protocol: Protocol::Tcp,
            addr: "192.168.56.200:80".parse().unwrap()
        }
    );
    assert_eq!(vs.delay_loop, Duration::from_secs(6));
    assert_eq!(vs.config.scheduler, SchedulerKind::Rr);
    assert_eq!(
        vs.config.persistence, None,
        "persistence_timeout 0 = not persistent"
    );
    assert_eq!(vs.real_servers.len(), 2);
    for (rs, addr) in vs
        .real_servers
        .iter()
        .zip(["192.168.56.102:80", "192.168.56.103:80"])
    {
        assert_eq!(rs.dest.addr, addr.parse::<SocketAddr>().unwrap());
        assert_eq!(rs.dest.forward, ForwardMethod::Route);
        assert_eq!(rs.dest.weight, 1);
        assert!(!rs.inhibit_on_failure);
        assert_eq!(rs.checkers.len(), 1);
        let ck = &rs.checkers[0];
        // connect_timeout 3, retry 3, delay_before_retry 3; delay_loop inherited (6 s).
        assert_eq!(ck.retry, 3);
        assert_eq!(ck.delay_before_retry, Duration::from_secs(3));
        assert_eq!(ck.delay_loop, Duration::from_secs(6));
        assert_eq!(ck.timeout(), Duration::from_secs(3));
        let CheckKind::Http { urls, tls, .. } = &ck.kind else {
            panic!("HTTP_GET expected")
        };
        assert!(!tls);
        assert_eq!(urls.len(), 1);
        assert_eq!(urls[0].path, "/");
        let mut only_200 = StatusCodes::empty();
        only_200.insert(200);
        assert_eq!(urls[0].status_codes, only_200);
        assert_eq!(urls[0].digest, None);
    }
    assert_eq!(cfg.rules(), SEED_SAVE);
    // The notes' configs use only known keywords.
    assert!(cfg.warnings.is_empty(), "{:?}", cfg.warnings);
}

#[test]
fn seed_loadbalance01_parses_with_its_values_and_saves_as_the_notes_show() {
    check_lb(&load("seed_loadbalance01.conf"), 100, true);
}

#[test]
fn seed_loadbalance02_parses_with_its_values_and_saves_as_the_notes_show() {
    check_lb(&load("seed_loadbalance02.conf"), 90, false);
}

fn check_nginx(cfg: &KeepalivedConfig, state: InitialState, src: &str, priority: u8) {
    assert_eq!(cfg.global.router_id.as_deref(), Some("nginx_01"));
    assert_eq!(cfg.vrrp_scripts.len(), 1);
    let s = &cfg.vrrp_scripts[0];
    assert_eq!(s.name, "chk_nginx");
    assert_eq!(s.script, "/etc/keepalived/nginx_check.sh");
    assert_eq!(s.interval, Duration::from_secs(2));
    assert_eq!(s.weight, -20);
    assert_eq!((s.rise, s.fall), (1, 1));
    let vi = &cfg.vrrp_instances[0];
    let c = &vi.config;
    assert_eq!(c.state, state);
    assert_eq!(c.interface, "enp0s8");
    assert_eq!(c.virtual_router_id, 51);
    assert_eq!(c.mcast_src_ip, Some(ip(src)));
    assert_eq!(c.priority, priority);
    assert_eq!(c.advert_int, Duration::from_secs(1));
    assert_eq!(c.virtual_ipaddress, vec![ip("192.168.56.200")]);
    assert_eq!(vi.vips[0].prefix, 32);
    // track_script without its own weight takes the vrrp_script's (-20).
    assert_eq!(vi.track_scripts.len(), 1);
    assert_eq!(vi.track_scripts[0].weight, None);
    assert_eq!(
        c.track,
        vec![TrackWeight {
            name: "chk_nginx".into(),
            weight: -20
        }]
    );
    assert!(cfg.virtual_servers.is_empty());
    assert_eq!(cfg.rules(), "");
    assert!(cfg.warnings.is_empty(), "{:?}", cfg.warnings);
    // Once the embedder supplies the interface address, lvs-vrrp accepts it.
    let mut c = c.clone();
    c.interface_addr = ip(src);
    c.validate().unwrap();
}

#[test]
fn seed_nginx_master_parses_with_its_values() {
    check_nginx(
        &load("seed_nginx_01.conf"),
        InitialState::Master,
        "192.168.56.101",
        100,
    );
}

#[test]
fn seed_nginx_backup_parses_with_its_values() {
    check_nginx(
        &load("seed_nginx_02.conf"),
        InitialState::Backup,
        "192.168.56.102",
        90,
    );
}

#[test]
fn seed_commands_restore_to_the_same_table_through_ipvsadm_text() {
    // The commands print as ipvsadm rules (lvs-core's Display) that parse back equal.
    let cfg = load("seed_loadbalance01.conf");
    for c in cfg.commands() {
        let line = c.to_string();
        let words = lvs_core::ipvsadm::split_words(&line).unwrap();
        let back = lvs_core::ipvsadm::parse_args(&words).unwrap();
        assert_eq!(back, c, "{line}");
    }
}
