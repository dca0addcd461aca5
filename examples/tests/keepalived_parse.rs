//! Every block and keyword of the keepalived.conf parser, against keepalived.conf(5) and
//! keepalived 2.2.7's parsers (check_parser.c, vrrp_parser.c, global_parser.c) and defaults
//! (check_data.c `alloc_vs()`, check_api.c `queue_checker()`, check_http.c, check_misc.c).

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use lvs_core::ipvsadm::{Command, DaemonState};
use lvs_core::service::{
    AddressFamily, DestConfig, ForwardMethod, PersistMask, Persistence, Protocol, ServiceKey,
    TunnelCsum, TunnelKind,
};
use lvs_examples::health::{CheckKind, CheckerConfig, ConnectOpts, StatusCodes};
use lvs_examples::keepalived::{ErrorKind, KeepalivedConfig, parse_file, parse_str};
use lvs_sched::{SchedFlags, SchedulerKind};
use lvs_vrrp::{AuthType, InitialState, TrackWeight, Version};

fn ok(text: &str) -> KeepalivedConfig {
    parse_str(text).unwrap_or_else(|e| panic!("{e}"))
}

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

fn sa(s: &str) -> SocketAddr {
    s.parse().unwrap()
}

const FULL: &str = r#"
# comment
! another comment
global_defs {
    router_id LVS_A
    enable_script_security
    script_user keepalived_script users
    vrrp_version 3
    vrrp_garp_master_delay 2
    vrrp_garp_master_repeat 3
    vrrp_garp_master_refresh 60
    vrrp_garp_master_refresh_repeat 2
    vrrp_garp_lower_prio_delay 4
    vrrp_garp_lower_prio_repeat 6
    lvs_sync_daemon eth1 VI_1 id 7 maxlen 1400 port 8849 ttl 2 group 224.0.0.82
}

vrrp_script chk_http {
    script "/usr/bin/curl -sf http://127.0.0.1/"
    interval 3
    timeout 2
    weight 10
    rise 2
    fall 3
    user nobody
}

vrrp_script chk_other {
    script /bin/true
    weight 7
}

vrrp_instance VI_1 {
    state MASTER
    interface eth0
    virtual_router_id 51
    priority 150
    advert_int 0.5
    preempt_delay 30
    virtual_ipaddress {
        10.0.0.100/24 dev eth0 label eth0:vip
        10.0.0.101
    }
    unicast_src_ip 10.0.0.2
    unicast_peer {
        10.0.0.3
        10.0.0.4
    }
    track_interface {
        eth0 weight -30
        eth1
    }
    track_script {
        chk_http
        chk_other weight -5
        chk_missing
    }
    notify_master "/etc/keepalived/notify.sh master"
    notify_backup /etc/keepalived/notify.sh backup
    notify_fault /etc/keepalived/fault.sh
    notify_stop /etc/keepalived/stop.sh
    notify /etc/keepalived/notify_all.sh
    garp_master_delay 1
    garp_master_refresh_repeat 4
    accept
    lower_prio_no_advert
}

vrrp_instance VI_2 {
    interface eth0
    virtual_router_id 52
    vrrp_version 2
    nopreempt
    authentication {
        auth_type PASS
        auth_pass 123456789
    }
    virtual_ipaddress {
        10.0.1.100
    }
}

local_address_group laddr_g1 {
    192.168.100.200-201 dpdk0
    192.168.100.210
}

virtual_server 10.0.0.100 80 {
    delay_loop 10
    lb_algo wrr
    lb_kind NAT
    persistence_timeout 600
    persistence_granularity 255.255.255.0
    persistence_engine sip
    protocol TCP
    quorum 2
    hysteresis 1
    quorum_up "/bin/up.sh"
    quorum_down /bin/down.sh
    sorry_server 10.0.0.250 8080
    alpha
    omega
    real_server 10.0.0.11 8080 {
        weight 3
        uthreshold 100
        lthreshold 10
        inhibit_on_failure
        notify_up "/bin/rs.sh up"
        notify_down /bin/rs.sh down
        TCP_CHECK {
            connect_ip 10.0.9.11
            connect_port 9000
            bindto 10.0.0.2
            connect_timeout 2
            nb_get_retry 4
            delay_before_retry 2
        }
        HTTP_GET {
            url {
                path /health
                digest 9b3c2e2f3c6c0f0c5d8b1e9a8f8e7d6c
                status_code 200 301-302
            }
            url {
                path /ready
            }
            connect_port 8081
            retry 2
            virtualhost www.example.com
        }
    }
    real_server 10.0.0.12 8080 {
        weight 0
        MISC_CHECK {
            misc_path "/bin/check.sh 10.0.0.12"
            misc_timeout 4
            misc_dynamic
        }
        SSL_GET {
            url {
                path /
            }
        }
    }
}

virtual_server 10.0.0.100 53 {
    protocol UDP
    lb_algo sh
    lb_kind DR
    ops
    sh-port
    sh-fallback
    real_server 10.0.0.21 5353 {
        weight 1
    }
}

virtual_server fwmark 7 {
    lb_algo mh
    mh-port
    lb_kind TUN
    tun_type gue
    tun_port 6080
    tun_flags csum
    persistence_timeout
    real_server 10.0.0.31 {
        weight 2
    }
}

virtual_server 10.0.0.100 443 {
    lb_algo lc
    lb_kind FNAT
    laddr_group_name laddr_g1
    laddr 192.168.100.220
    protocol SCTP
    real_server 10.0.0.41 8443 {
    }
}

virtual_server_group web {
    10.0.2.1-2 80
    fwmark 9
}

virtual_server group web {
    lb_algo rr
    lb_kind DR
    real_server 10.0.2.50 80 {
        weight 5
    }
}
"#;

#[test]
fn global_defs_keywords() {
    let c = ok(FULL);
    let g = &c.global;
    assert_eq!(g.router_id.as_deref(), Some("LVS_A"));
    assert!(g.enable_script_security);
    assert_eq!(
        g.script_user,
        Some(("keepalived_script".into(), Some("users".into())))
    );
    assert_eq!(g.vrrp_version, Some(Version::V3));
    assert_eq!(g.vrrp_garp_master_delay, Some(Duration::from_secs(2)));
    assert_eq!(g.vrrp_garp_master_repeat, Some(3));
    assert_eq!(g.vrrp_garp_master_refresh, Some(Duration::from_secs(60)));
    assert_eq!(g.vrrp_garp_master_refresh_repeat, Some(2));
    assert_eq!(g.vrrp_garp_lower_prio_delay, Some(Duration::from_secs(4)));
    assert_eq!(g.vrrp_garp_lower_prio_repeat, Some(6));
    let d = g.lvs_sync_daemon.as_ref().unwrap();
    assert_eq!(
        (d.interface.as_str(), d.instance.as_str()),
        ("eth1", "VI_1")
    );
    assert_eq!((d.syncid, d.maxlen, d.port, d.ttl), (7, 1400, 8849, 2));
    assert_eq!(d.group, Some(ip("224.0.0.82")));
    // The ipvsadm --start-daemon equivalent prints and parses back.
    let cmd = Command::StartDaemon(d.daemon_config(DaemonState::Master));
    let line = cmd.to_string();
    assert_eq!(
        line,
        "--start-daemon master --mcast-interface eth1 --syncid 7 --sync-maxlen 1400 \
         --mcast-group 224.0.0.82 --mcast-port 8849 --mcast-ttl 2"
    );
}

#[test]
fn vrrp_script_keywords_and_defaults() {
    let c = ok(FULL);
    let s = &c.vrrp_scripts[0];
    assert_eq!(s.name, "chk_http");
    assert_eq!(s.script, "/usr/bin/curl -sf http://127.0.0.1/");
    assert_eq!(s.interval, Duration::from_secs(3));
    assert_eq!(s.timeout, Some(Duration::from_secs(2)));
    assert_eq!((s.weight, s.rise, s.fall), (10, 2, 3));
    assert_eq!(s.user.as_deref(), Some("nobody"));
    // Defaults: interval 1 s, weight 0, rise/fall 1.
    let d = ok("vrrp_script s {\n script /bin/true\n}\n");
    let s = &d.vrrp_scripts[0];
    assert_eq!(
        (s.interval, s.weight, s.rise, s.fall),
        (Duration::from_secs(1), 0, 1, 1)
    );
    assert_eq!(s.timeout, None);
}

#[test]
fn vrrp_instance_keywords() {
    let c = ok(FULL);
    let vi = c.vrrp_instance("VI_1").unwrap();
    let v = &vi.config;
    assert_eq!(v.state, InitialState::Master);
    assert_eq!(v.interface, "eth0");
    assert_eq!(v.virtual_router_id, 51);
    assert_eq!(v.priority, 150);
    assert_eq!(v.advert_int, Duration::from_millis(500));
    assert_eq!(v.preempt_delay, Duration::from_secs(30));
    assert_eq!(
        v.virtual_ipaddress,
        vec![ip("10.0.0.100"), ip("10.0.0.101")]
    );
    assert_eq!(vi.vips[0].prefix, 24);
    assert_eq!(vi.vips[0].label.as_deref(), Some("eth0:vip"));
    assert_eq!(vi.vips[1].prefix, 32);
    assert_eq!(v.unicast_src_ip, Some(ip("10.0.0.2")));
    assert_eq!(v.unicast_peer, vec![ip("10.0.0.3"), ip("10.0.0.4")]);
    // track_interface default weight 0; track_script weight from the vrrp_script unless
    // written on the entry.
    assert_eq!(
        v.track,
        vec![
            TrackWeight {
                name: "eth0".into(),
                weight: -30
            },
            TrackWeight {
                name: "eth1".into(),
                weight: 0
            },
            TrackWeight {
                name: "chk_http".into(),
                weight: 10
            },
            TrackWeight {
                name: "chk_other".into(),
                weight: -5
            },
        ]
    );
    // chk_missing names no vrrp_script: ignored with a warning.
    assert!(c.warnings.iter().any(|w| w.keyword == "chk_missing"
        && w.block == "vrrp_instance VI_1 > track_script"
        && w.message == "no such vrrp_script, ignored"));
    assert_eq!(vi.track_scripts.len(), 3, "as written");
    assert_eq!(
        vi.notify_master.as_deref(),
        Some("/etc/keepalived/notify.sh master")
    );
    assert_eq!(
        vi.notify_backup.as_deref(),
        Some("/etc/keepalived/notify.sh backup")
    );
    assert_eq!(vi.notify_fault.as_deref(), Some("/etc/keepalived/fault.sh"));
    assert_eq!(vi.notify_stop.as_deref(), Some("/etc/keepalived/stop.sh"));
    assert_eq!(vi.notify.as_deref(), Some("/etc/keepalived/notify_all.sh"));
    // Instance values win over global_defs; the others come from global_defs.
    assert_eq!(v.garp_master_delay, Duration::from_secs(1));
    assert_eq!(v.garp_master_refresh_repeat, 4);
    assert_eq!(v.garp_master_repeat, 3);
    assert_eq!(v.garp_master_refresh, Duration::from_secs(60));
    assert_eq!(v.garp_lower_prio_delay, Some(Duration::from_secs(4)));
    assert_eq!(v.garp_lower_prio_repeat, Some(6));
    assert_eq!(v.version, Some(Version::V3));
    assert!(v.accept);
    assert!(v.lower_prio_no_advert);

    let v2 = &c.vrrp_instance("VI_2").unwrap().config;
    assert_eq!(v2.version, Some(Version::V2));
    assert_eq!(v2.state, InitialState::Backup);
    assert!(v2.nopreempt);
    // keepalived keeps the first 8 bytes of auth_pass.
    let a = v2.authentication.as_ref().unwrap();
    assert_eq!(
        (a.auth_type, a.auth_pass.as_str()),
        (AuthType::Pass, "12345678")
    );
    // VrrpConfig defaults where nothing was written (keepalived 2.2.7).
    assert_eq!(v2.priority, 100);
    assert_eq!(v2.advert_int, Duration::from_secs(1));
}

#[test]
fn virtual_server_nat_with_checkers() {
    let c = ok(FULL);
    let vs = &c.virtual_servers[0];
    assert_eq!(
        vs.key,
        ServiceKey::Addr {
            protocol: Protocol::Tcp,
            addr: sa("10.0.0.100:80")
        }
    );
    assert_eq!(vs.config.scheduler, SchedulerKind::Wrr);
    assert_eq!(
        vs.config.persistence,
        Some(Persistence {
            timeout: 600,
            netmask: PersistMask::V4("255.255.255.0".parse().unwrap())
        })
    );
    assert_eq!(vs.config.pe_name.as_deref(), Some("sip"));
    assert_eq!((vs.quorum, vs.hysteresis), (2, 1));
    assert_eq!(vs.quorum_up.as_deref(), Some("/bin/up.sh"));
    assert_eq!(vs.quorum_down.as_deref(), Some("/bin/down.sh"));
    assert!(vs.alpha && vs.omega);
    assert_eq!(vs.delay_loop, Duration::from_secs(10));
    let sorry = vs.sorry_server.unwrap();
    assert_eq!(sorry.dest.addr, sa("10.0.0.250:8080"));
    assert_eq!(sorry.dest.forward, ForwardMethod::Masq);

    let r1 = &vs.real_servers[0];
    assert_eq!(
        r1.dest,
        DestConfig {
            addr: sa("10.0.0.11:8080"),
            forward: ForwardMethod::Masq,
            weight: 3,
            u_threshold: 100,
            l_threshold: 10
        }
    );
    assert!(r1.inhibit_on_failure);
    assert_eq!(r1.notify_up.as_deref(), Some("/bin/rs.sh up"));
    assert_eq!(r1.notify_down.as_deref(), Some("/bin/rs.sh down"));
    assert_eq!(
        r1.checkers[0],
        CheckerConfig {
            kind: CheckKind::Tcp(ConnectOpts {
                connect_ip: Some(ip("10.0.9.11")),
                connect_port: Some(9000),
                bindto: Some(ip("10.0.0.2")),
                bind_port: None,
                connect_timeout: Duration::from_secs(2),
            }),
            delay_loop: Duration::from_secs(10),
            retry: 4,
            delay_before_retry: Duration::from_secs(2),
            alpha: true,
        }
    );
    let CheckKind::Http {
        conn,
        tls,
        urls,
        virtualhost,
    } = &r1.checkers[1].kind
    else {
        panic!()
    };
    assert!(!tls);
    assert_eq!(conn.connect_port, Some(8081));
    // HTTP defaults: connect_timeout 5 s, delay_before_retry 3 s; retry as written.
    assert_eq!(conn.connect_timeout, Duration::from_secs(5));
    assert_eq!(r1.checkers[1].delay_before_retry, Duration::from_secs(3));
    assert_eq!(r1.checkers[1].retry, 2);
    assert_eq!(virtualhost.as_deref(), Some("www.example.com"));
    assert_eq!(urls[0].path, "/health");
    assert_eq!(urls[0].digest.unwrap()[..4], [0x9b, 0x3c, 0x2e, 0x2f]);
    let s = urls[0].status_codes;
    assert!(s.contains(200) && s.contains(301) && s.contains(302));
    assert!(!s.contains(201) && !s.contains(303));
    // A url without status_code accepts 200-299.
    assert_eq!(urls[1].status_codes, StatusCodes::default_2xx());

    let r2 = &vs.real_servers[1];
    assert_eq!(r2.dest.weight, 0);
    let CheckKind::Misc {
        misc_path,
        misc_timeout,
        misc_dynamic,
    } = &r2.checkers[0].kind
    else {
        panic!()
    };
    assert_eq!(misc_path, "/bin/check.sh 10.0.0.12");
    assert_eq!(*misc_timeout, Duration::from_secs(4));
    assert!(misc_dynamic);
    // MISC_CHECK: retry 0, delay_before_retry 1 s.
    assert_eq!(r2.checkers[0].retry, 0);
    assert_eq!(r2.checkers[0].delay_before_retry, Duration::from_secs(1));
    let CheckKind::Http { tls, .. } = &r2.checkers[1].kind else {
        panic!()
    };
    assert!(tls, "SSL_GET");
}

#[test]
fn virtual_server_udp_fwmark_fnat_group() {
    let c = ok(FULL);
    // UDP, DR, ops, sh flags; DR forces the real-server port to the virtual port (warning).
    let vs = &c.virtual_servers[1];
    assert_eq!(
        vs.key,
        ServiceKey::Addr {
            protocol: Protocol::Udp,
            addr: sa("10.0.0.100:53")
        }
    );
    assert_eq!(vs.config.scheduler, SchedulerKind::Sh);
    assert!(vs.config.one_packet);
    assert_eq!(
        vs.config.sched_flags,
        SchedFlags(SchedFlags::SH_PORT | SchedFlags::SH_FALLBACK)
    );
    assert_eq!(vs.real_servers[0].dest.addr, sa("10.0.0.21:53"));
    assert_eq!(vs.real_servers[0].dest.forward, ForwardMethod::Route);
    assert!(
        c.warnings
            .iter()
            .any(|w| w.message.contains("ports don't match"))
    );
    // Defaults: delay_loop 60 s, quorum 1, hysteresis 0.
    assert_eq!(
        (vs.delay_loop, vs.quorum, vs.hysteresis),
        (Duration::from_secs(60), 1, 0)
    );

    // fwmark, TUN over GUE, persistence_timeout without a value = 360 s.
    let vs = &c.virtual_servers[2];
    assert_eq!(
        vs.key,
        ServiceKey::Fwmark {
            mark: 7,
            family: AddressFamily::Ipv4
        }
    );
    assert_eq!(vs.config.scheduler, SchedulerKind::Mh);
    assert_eq!(vs.config.sched_flags, SchedFlags(SchedFlags::MH_PORT));
    assert_eq!(vs.config.persistence.unwrap().timeout, 360);
    assert_eq!(
        vs.real_servers[0].dest.forward,
        ForwardMethod::Tunnel(TunnelKind::Gue {
            port: 6080,
            csum: TunnelCsum::Csum
        })
    );
    assert_eq!(vs.real_servers[0].dest.addr, sa("10.0.0.31:0"));

    // FNAT with local_address_group (DPVS) plus laddr; SCTP.
    let vs = &c.virtual_servers[3];
    assert_eq!(
        vs.key,
        ServiceKey::Addr {
            protocol: Protocol::Sctp,
            addr: sa("10.0.0.100:443")
        }
    );
    assert_eq!(vs.real_servers[0].dest.forward, ForwardMethod::FullNat);
    assert_eq!(vs.real_servers[0].dest.addr, sa("10.0.0.41:8443"));
    assert_eq!(vs.real_servers[0].dest.weight, 1, "default weight 1");
    assert_eq!(
        vs.config.local_addrs,
        vec![
            ip("192.168.100.200"),
            ip("192.168.100.201"),
            ip("192.168.100.210"),
            ip("192.168.100.220")
        ]
    );

    // virtual_server group: one VirtualServer per member.
    let members: Vec<_> = c.virtual_servers[4..]
        .iter()
        .map(|v| (v.key, v.group.clone()))
        .collect();
    assert_eq!(
        members,
        vec![
            (
                ServiceKey::Addr {
                    protocol: Protocol::Tcp,
                    addr: sa("10.0.2.1:80")
                },
                Some("web".into())
            ),
            (
                ServiceKey::Addr {
                    protocol: Protocol::Tcp,
                    addr: sa("10.0.2.2:80")
                },
                Some("web".into())
            ),
            (
                ServiceKey::Fwmark {
                    mark: 9,
                    family: AddressFamily::Ipv4
                },
                Some("web".into())
            ),
        ]
    );
    // The fwmark member's real server keeps port 80 (not reset: fwmark has no port).
    assert_eq!(
        c.virtual_servers[6].real_servers[0].dest.addr,
        sa("10.0.2.50:80")
    );
}

#[test]
fn commands_for_the_full_config_build_the_start_table() {
    let c = ok(FULL);
    let rules = c.rules();
    // The first service: alpha checkers start DOWN, so 10.0.0.11 (inhibit_on_failure) is in
    // with weight 0, 10.0.0.12 is absent; the alive weight is 0 < quorum 2 - 1, so the sorry
    // server is in.
    assert!(
        rules.contains("-A -t 10.0.0.100:80 -s wrr -p 600 -M 255.255.255.0 --pe sip\n"),
        "{rules}"
    );
    assert!(
        rules.contains("-a -t 10.0.0.100:80 -r 10.0.0.11:8080 -m -w 0 -x 100 -y 10\n"),
        "{rules}"
    );
    assert!(!rules.contains("10.0.0.12:8080"), "{rules}");
    assert!(
        rules.contains("-a -t 10.0.0.100:80 -r 10.0.0.250:8080 -m -w 1\n"),
        "{rules}"
    );
    assert!(
        rules.contains("-A -u 10.0.0.100:53 -s sh -o -b sh-fallback,sh-port\n"),
        "{rules}"
    );
    assert!(
        rules.contains("-A -f 7 -s mh -p 360 -b mh-port\n"),
        "{rules}"
    );
    assert!(
        rules
            .contains("-a -f 7 -r 10.0.0.31:0 -i -w 2 --tun-type gue --tun-port 6080 --tun-csum\n"),
        "{rules}"
    );
    assert!(rules.contains("--laddr 192.168.100.220"), "{rules}");
    assert!(
        rules.contains("-a --sctp-service 10.0.0.100:443 -r 10.0.0.41:8443 --fullnat -w 1\n"),
        "{rules}"
    );
    // Every command restores through lvs-core's ipvsadm parser to an equal command.
    for cmd in c.commands() {
        let line = cmd.to_string();
        let back =
            lvs_core::ipvsadm::parse_args(&lvs_core::ipvsadm::split_words(&line).unwrap()).unwrap();
        assert_eq!(back, cmd, "{line}");
    }
    // And the -S text restores (ipvsadm -R) to the same table.
    let restored = lvs_core::ipvsadm::parse_restore(&rules).unwrap();
    let mut t = lvs_core::service::IpvsConfig::new();
    for cmd in &restored {
        t.apply(cmd).unwrap();
    }
    assert_eq!(lvs_core::ipvsadm::save(&t.services), rules);
}

#[test]
fn checker_defaults_follow_keepalived() {
    let c = ok(
        "virtual_server 10.0.0.1 80 {\n real_server 10.0.0.2 80 {\n TCP_CHECK {\n }\n HTTP_GET {\n url {\n path /\n }\n }\n MISC_CHECK {\n misc_path /bin/true\n }\n }\n}\n",
    );
    let vs = &c.virtual_servers[0];
    // lb_kind default NAT, lb_algo default wlc, each with keepalived's warning; protocol TCP.
    assert_eq!(vs.config.scheduler, SchedulerKind::Wlc);
    assert_eq!(vs.real_servers[0].dest.forward, ForwardMethod::Masq);
    let msgs: Vec<&str> = c.warnings.iter().map(|w| w.message.as_str()).collect();
    assert_eq!(
        msgs,
        vec![
            "no scheduler set, setting default 'wlc'",
            "no forwarding method set, setting default NAT"
        ]
    );
    let ck = &vs.real_servers[0].checkers;
    // delay_loop 60, connect_timeout 5, retry 1 (MISC 0), delay_before_retry 1 s (HTTP 3 s).
    let got: Vec<_> = ck
        .iter()
        .map(|c| {
            (
                c.delay_loop.as_secs(),
                c.timeout().as_secs(),
                c.retry,
                c.delay_before_retry.as_secs(),
                c.alpha,
            )
        })
        .collect();
    assert_eq!(
        got,
        vec![
            (60, 5, 1, 1, false),
            (60, 5, 1, 3, false),
            (60, 60, 0, 1, false)
        ]
    );
}

#[test]
fn real_server_and_virtual_server_level_timing_is_inherited() {
    let c = ok(
        "virtual_server 10.0.0.1 80 {\n delay_loop 7\n connect_timeout 9\n real_server 10.0.0.2 80 {\n retry 5\n delay_before_retry 4\n alpha\n TCP_CHECK {\n }\n TCP_CHECK {\n retry 0\n delay_loop 2\n connect_timeout 1.5\n }\n }\n}\n",
    );
    let ck = &c.virtual_servers[0].real_servers[0].checkers;
    assert_eq!(
        (
            ck[0].delay_loop,
            ck[0].timeout(),
            ck[0].retry,
            ck[0].delay_before_retry,
            ck[0].alpha
        ),
        (
            Duration::from_secs(7),
            Duration::from_secs(9),
            5,
            Duration::from_secs(4),
            true
        )
    );
    assert_eq!(
        (ck[1].delay_loop, ck[1].timeout(), ck[1].retry),
        (Duration::from_secs(2), Duration::from_millis(1500), 0)
    );
}

#[test]
fn ipv6_virtual_server_and_granularity() {
    let c = ok(
        "virtual_server 2001:db8::1 80 {\n lb_kind DR\n persistence_timeout 30\n persistence_granularity 64\n real_server 2001:db8::2 80 {\n }\n}\nvirtual_server fwmark 3 {\n real_server 2001:db8::9 0 {\n }\n}\n",
    );
    let vs = &c.virtual_servers[0];
    assert_eq!(vs.config.persistence.unwrap().netmask, PersistMask::V6(64));
    assert_eq!(vs.real_servers[0].dest.addr, sa("[2001:db8::2]:80"));
    assert_eq!(
        c.virtual_servers[1].key,
        ServiceKey::Fwmark {
            mark: 3,
            family: AddressFamily::Ipv6
        }
    );
}

#[test]
fn brace_placement_quotes_and_comments_like_keepalived() {
    // `{` on its own line, one-line blocks, comments after values, quoted words.
    let c = ok(
        "global_defs\n{\n router_id \"my router\" # trailing\n}\nvrrp_instance X { \n virtual_router_id 9 ! bang comment\n virtual_ipaddress { 10.9.9.9 }\n}\n",
    );
    assert_eq!(c.global.router_id.as_deref(), Some("my router"));
    assert_eq!(
        c.vrrp_instances[0].config.virtual_ipaddress,
        vec![ip("10.9.9.9")]
    );
    assert_eq!(c.vrrp_instances[0].config.virtual_router_id, 9);
}

#[test]
fn unknown_keywords_warn_with_their_line_and_are_skipped_with_their_block() {
    let c = ok(
        "global_defs {\n bogus_global 1\n}\nfancy_block {\n x 1\n}\nvirtual_server 10.0.0.1 80 {\n frobnicate yes\n real_server 10.0.0.2 80 {\n weight 4\n TCP_CHECK {\n wibble 3\n }\n }\n}\n",
    );
    let w: Vec<(usize, &str, &str)> = c
        .warnings
        .iter()
        .filter(|w| w.message.contains("unknown keyword"))
        .map(|w| (w.line, w.block.as_str(), w.keyword.as_str()))
        .collect();
    assert_eq!(
        w,
        vec![
            (2, "global_defs", "bogus_global"),
            (4, "", "fancy_block"),
            (8, "virtual_server 10.0.0.1 80", "frobnicate"),
            (
                12,
                "virtual_server 10.0.0.1 80 > real_server 10.0.0.2 80 > TCP_CHECK",
                "wibble"
            ),
        ]
    );
    assert_eq!(
        c.warnings.last().unwrap().to_string(),
        "line 12: virtual_server 10.0.0.1 80 > real_server 10.0.0.2 80 > TCP_CHECK: wibble: unknown keyword, ignored"
    );
    // The rest of the file still counts.
    assert_eq!(c.virtual_servers[0].real_servers[0].dest.weight, 4);
}

fn err(text: &str) -> String {
    parse_str(text).unwrap_err().to_string()
}

#[test]
fn errors_name_the_line_the_block_and_the_keyword() {
    let cases: &[(&str, &str)] = &[
        (
            "virtual_server 192.168.56.200 80 {\n real_server 192.168.56.102 80 {\n weight abc\n }\n}\n",
            "line 3: virtual_server 192.168.56.200 80 > real_server 192.168.56.102 80: weight: 'abc' is not a number",
        ),
        (
            "virtual_server 10.0.0.1 80 {\n real_server 10.0.0.2 80 {\n weight 70000\n }\n}\n",
            "line 3: virtual_server 10.0.0.1 80 > real_server 10.0.0.2 80: weight: 70000 out of range 0..65535",
        ),
        (
            "virtual_server 10.0.0.1 80 {\n lb_algo xyz\n}\n",
            "line 2: virtual_server 10.0.0.1 80: lb_algo: 'xyz' is not one of rr, wrr, lc, wlc, sed, nq, fo, ovf, twos, dh, sh, lblc, lblcr, mh",
        ),
        (
            "virtual_server 10.0.0.1 80 {\n lb_kind BRIDGE\n}\n",
            "line 2: virtual_server 10.0.0.1 80: lb_kind: 'BRIDGE' is not one of NAT, DR, TUN, FNAT",
        ),
        (
            "virtual_server 10.0.0.999 80 {\n}\n",
            "line 1: virtual_server: '10.0.0.999' is not an IP address",
        ),
        (
            "vrrp_instance VI_1 {\n virtual_router_id 256\n}\n",
            "line 2: vrrp_instance VI_1: virtual_router_id: 256 out of range 1..255",
        ),
        (
            "vrrp_instance VI_1 {\n state LEADER\n}\n",
            "line 2: vrrp_instance VI_1: state: 'LEADER' is not one of MASTER, BACKUP",
        ),
        (
            "vrrp_instance VI_1 {\n priority\n}\n",
            "line 2: vrrp_instance VI_1: priority: missing value",
        ),
        (
            "vrrp_instance VI_1 {\n track_script {\n chk weight 300\n }\n}\n",
            "line 3: vrrp_instance VI_1 > track_script: chk: 300 out of range -253..253",
        ),
        (
            "virtual_server 10.0.0.1 80 {\n real_server 10.0.0.2 80 {\n HTTP_GET {\n url {\n path /\n status_code 700\n }\n }\n }\n}\n",
            "line 6: virtual_server 10.0.0.1 80 > real_server 10.0.0.2 80 > HTTP_GET > url: status_code: 700 out of range 100..599",
        ),
        (
            "virtual_server 10.0.0.1 80 {\n real_server 10.0.0.2 80 {\n HTTP_GET {\n url {\n path /\n digest xyz\n }\n }\n }\n}\n",
            "line 6: virtual_server 10.0.0.1 80 > real_server 10.0.0.2 80 > HTTP_GET > url: digest: 'xyz' is not one of 32 hex digits (MD5)",
        ),
        (
            "virtual_server 10.0.0.1 80 {\n real_server 10.0.0.2 80 {\n TCP_CHECK {\n connect_timeout soon\n }\n }\n}\n",
            "line 4: virtual_server 10.0.0.1 80 > real_server 10.0.0.2 80 > TCP_CHECK: connect_timeout: 'soon' is not a number",
        ),
        (
            "virtual_server 10.0.0.1 80 {\n real_server 10.0.0.2 80 {\n uthreshold 5\n lthreshold 9\n }\n}\n",
            "line 2: virtual_server 10.0.0.1 80: real_server: lthreshold 9 above uthreshold 5 (the kernel refuses it, ERANGE)",
        ),
        (
            "virtual_server 10.0.0.1 80 {\n persistence_engine \"s i p\"\n}\n",
            "line 2: virtual_server 10.0.0.1 80: persistence_engine: 's i p' is not one of a persistence engine name (1-16 letters, digits, _)",
        ),
        (
            "virtual_server 10.0.0.1 80 {\n lb_kind FNAT\n laddr 2001:db8::1\n}\n",
            "line 1: virtual_server: a local address (laddr) is not in the virtual server's address family",
        ),
        (
            "virtual_server group nope {\n}\n",
            "line 1: virtual_server: 'nope' is not defined",
        ),
        (
            "global_defs {\n router_id x\n",
            "line 1: block opened here is never closed",
        ),
        ("}\n", "line 1: '}' without a matching '{'"),
        (
            "global_defs {\n router_id \"x\n}\n",
            "line 2: unterminated quoted string",
        ),
    ];
    for (text, want) in cases {
        assert_eq!(&err(text), want, "{text}");
    }
    // The kind is inspectable too.
    let e = parse_str("vrrp_instance V {\n priority 0\n}\n").unwrap_err();
    assert_eq!(e.line, 2);
    assert_eq!(e.block, "vrrp_instance V");
    assert_eq!(e.keyword, "priority");
    assert!(matches!(
        e.kind,
        ErrorKind::OutOfRange {
            min: 1,
            max: 255,
            ..
        }
    ));
}

#[test]
fn include_expands_relative_globs_and_reports_the_included_file() {
    let dir = std::env::temp_dir().join(format!("lvs-ka-include-{}", std::process::id()));
    let sub = dir.join("conf.d");
    std::fs::create_dir_all(&sub).unwrap();
    std::fs::write(
        dir.join("keepalived.conf"),
        "global_defs {\n router_id main\n}\ninclude conf.d/*.conf\n",
    )
    .unwrap();
    std::fs::write(
        sub.join("a.conf"),
        "virtual_server 10.0.0.1 80 {\n lb_algo rr\n}\n",
    )
    .unwrap();
    std::fs::write(
        sub.join("b.conf"),
        "virtual_server 10.0.0.2 80 {\n lb_algo sh\n}\n",
    )
    .unwrap();
    std::fs::write(sub.join("c.txt"), "garbage {\n").unwrap();
    let c = parse_file(&dir.join("keepalived.conf")).unwrap();
    assert_eq!(c.global.router_id.as_deref(), Some("main"));
    let algos: Vec<_> = c
        .virtual_servers
        .iter()
        .map(|v| v.config.scheduler)
        .collect();
    assert_eq!(algos, vec![SchedulerKind::Rr, SchedulerKind::Sh]);
    // An error inside an included file names that file and its own line.
    std::fs::write(
        sub.join("b.conf"),
        "virtual_server 10.0.0.2 80 {\n\n weight x\n lb_algo nope\n}\n",
    )
    .unwrap();
    let e = parse_file(&dir.join("keepalived.conf")).unwrap_err();
    assert_eq!(e.line, 4);
    assert_eq!(e.file.as_deref(), Some(sub.join("b.conf").as_path()));
    // A file that cannot be read.
    let missing = dir.join("nope.conf");
    let e = parse_file(&missing).unwrap_err();
    assert!(matches!(e.kind, ErrorKind::Include(_)));
    assert!(
        e.to_string()
            .starts_with(&format!("{}: include: ", missing.display())),
        "{e}"
    );
    // parse_str does not read files: include is a warning there.
    let c = parse_str("include x.conf\n").unwrap();
    assert_eq!(c.warnings[0].keyword, "include");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn virtual_server_inhibit_is_the_default_and_duplicate_real_servers_are_dropped() {
    let c = ok(
        "virtual_server 10.0.0.1 80 {\n lb_algo rr\n lb_kind NAT\n inhibit_on_failure\n real_server 10.0.0.2 80 {\n weight 2\n }\n real_server 10.0.0.3 80 {\n inhibit_on_failure false\n }\n real_server 10.0.0.2 80 {\n weight 9\n }\n}\n",
    );
    let rs = &c.virtual_servers[0].real_servers;
    assert_eq!(rs.len(), 2);
    assert!(rs[0].inhibit_on_failure);
    assert_eq!(rs[0].dest.weight, 2, "the first of two duplicates is kept");
    assert!(!rs[1].inhibit_on_failure);
    assert_eq!(c.warnings.len(), 1);
    assert_eq!(c.warnings[0].line, 11);
    assert_eq!(
        c.warnings[0].message,
        "real server is duplicated - removing second rs"
    );
}

#[test]
fn remaining_instance_and_virtual_server_keywords() {
    let c = ok(
        "global_defs {\n vrrp_lower_prio_no_advert\n vrrp_check_unicast_src\n}\n\
vrrp_instance V {\n virtual_router_id 3\n use_vmac\n garp_master_repeat 9\n garp_master_refresh 30\n \
garp_lower_prio_delay 2\n garp_lower_prio_repeat 1\n virtual_ipaddress_excluded {\n 10.1.1.1/16\n }\n \
lower_prio_no_advert false\n}\n\
virtual_server fwmark 5 {\n ip_family inet6\n lb_kind DR\n sorry_server 2001:db8::99 80\n sorry_server_inhibit\n \
sorry_server_lvs_method NAT\n real_server 2001:db8::5 80 {\n TCP_CHECK {\n nb_sock_retry 6\n bind_port 4000\n bindto 2001:db8::1\n }\n }\n}\n",
    );
    let v = &c.vrrp_instances[0];
    assert!(v.config.use_vmac);
    assert_eq!(v.config.garp_master_repeat, 9);
    assert_eq!(v.config.garp_master_refresh, Duration::from_secs(30));
    assert_eq!(v.config.garp_lower_prio_delay, Some(Duration::from_secs(2)));
    assert_eq!(v.config.garp_lower_prio_repeat, Some(1));
    assert_eq!(v.vips_excluded[0].addr, ip("10.1.1.1"));
    assert_eq!(v.vips_excluded[0].prefix, 16);
    assert!(
        v.config.virtual_ipaddress.is_empty(),
        "excluded VIPs are not advertised"
    );
    // Instance `lower_prio_no_advert false` wins over global_defs; check_unicast_src comes
    // from global_defs.
    assert!(!v.config.lower_prio_no_advert);
    assert!(v.config.check_unicast_src);
    let vs = &c.virtual_servers[0];
    assert_eq!(
        vs.key,
        ServiceKey::Fwmark {
            mark: 5,
            family: AddressFamily::Ipv6
        }
    );
    let sorry = vs.sorry_server.unwrap();
    assert!(sorry.inhibit);
    // fwmark: the sorry server's port is cleared (check_data.c), NAT by sorry_server_lvs_method.
    assert_eq!(sorry.dest.addr, sa("[2001:db8::99]:0"));
    assert_eq!(sorry.dest.forward, ForwardMethod::Masq);
    let ck = &vs.real_servers[0].checkers[0];
    assert_eq!(ck.retry, 6);
    let CheckKind::Tcp(co) = &ck.kind else {
        panic!()
    };
    assert_eq!(co.bind(), Some(sa("[2001:db8::1]:4000")));
    // Start table: quorum up (weight 1 >= 1), the inhibited sorry server is in with weight 0.
    assert_eq!(
        c.rules(),
        "-A -f 5 -6 -s wlc\n-a -f 5 -6 -r [2001:db8::5]:80 -g -w 1\n-a -f 5 -6 -r [2001:db8::99]:0 -m -w 0\n"
    );
}
