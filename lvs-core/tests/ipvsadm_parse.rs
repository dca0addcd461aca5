//! ipvsadm syntax: every command and option of ipvsadm 1.31 (ipvsadm.c `parse_options()`,
//! `process_options()`, the `commands_v_options` and `tunnel_types_v_options` tables), the
//! seed notes' rules, and error messages naming the line and the option.

use std::net::{IpAddr, SocketAddr};

use lvs_core::ipvsadm::{
    Command, DaemonConfig, DaemonState, ListOptions, ParseError, parse_args, parse_restore,
    parse_rule, save, split_words,
};
use lvs_core::service::{
    AddressFamily, DestConfig, ForwardMethod, IpvsConfig, PersistMask, Persistence, Protocol,
    ServiceConfig, ServiceKey, Timeouts, TunnelCsum, TunnelKind,
};
use lvs_sched::{SchedFlags, SchedulerKind};

fn tcp(s: &str) -> ServiceKey {
    ServiceKey::Addr {
        protocol: Protocol::Tcp,
        addr: s.parse().unwrap(),
    }
}

fn sa(s: &str) -> SocketAddr {
    s.parse().unwrap()
}

fn add_service(line: &str) -> (ServiceKey, ServiceConfig) {
    match parse_rule(line).unwrap() {
        Command::AddService { key, config } => (key, config),
        other => panic!("{line}: {other:?}"),
    }
}

fn add_dest(line: &str) -> DestConfig {
    match parse_rule(line).unwrap() {
        Command::AddDest { dest, .. } => dest,
        other => panic!("{line}: {other:?}"),
    }
}

fn list(line: &str) -> ListOptions {
    match parse_rule(line).unwrap() {
        Command::List(o) => o,
        other => panic!("{line}: {other:?}"),
    }
}

fn err(line: &str) -> String {
    parse_rule(line).unwrap_err().to_string()
}

// ---------------------------------------------------------------------------------------
// The seed notes (shared/seeds/000, 001, 002): the rules users typed, and what ipvsadm -S -n
// printed afterwards.

/// shared/seeds/000 lines 495-512 and 696-699: `-r` without a port takes the virtual port,
/// and `ipvsadm -S -n` then prints exactly these three lines.
#[test]
fn seed_dr_rules_parse_and_save_as_the_seed_shows() {
    let typed = "\
ipvsadm -A -t 192.168.56.200:80 -s rr
ipvsadm -a -t 192.168.56.200:80 -r 192.168.56.102 -g -w 1
ipvsadm -a -t 192.168.56.200:80 -r 192.168.56.103 -g -w 1 
";
    let mut cfg = IpvsConfig::new();
    for cmd in parse_restore(typed).unwrap() {
        cfg.apply(&cmd).unwrap();
    }
    let seed_save = "\
-A -t 192.168.56.200:80 -s rr
-a -t 192.168.56.200:80 -r 192.168.56.102:80 -g -w 1
-a -t 192.168.56.200:80 -r 192.168.56.103:80 -g -w 1
";
    assert_eq!(save(&cfg.services), seed_save);
    // And the saved form restores to the same table.
    let mut again = IpvsConfig::new();
    for cmd in parse_restore(seed_save).unwrap() {
        again.apply(&cmd).unwrap();
    }
    assert_eq!(again, cfg);
}

/// shared/seeds/001 (lines 253, 264, 360-363) and 002 (lines 213-220): wrr with NAT and DR
/// real servers, -C, and the list commands.
#[test]
fn seed_nat_and_script_rules_parse() {
    let (key, cfg) = add_service("-A -t 192.168.1.2:80 -s wrr");
    assert_eq!(key, tcp("192.168.1.2:80"));
    assert_eq!(cfg.scheduler, SchedulerKind::Wrr);
    let d = add_dest("-a -t 192.168.1.2:80 -r 192.168.2.10:80 -m -w 1");
    assert_eq!(d.forward, ForwardMethod::Masq);
    assert_eq!(d.addr, sa("192.168.2.10:80"));
    // The lvs_dr.sh script with $vip / $rs1 expanded.
    for line in [
        "-C",
        "-A -t 192.168.31.200:80 -s wrr",
        "-a -t 192.168.31.200:80 -r 192.168.31.129:80 -g -w 1",
        "-a -t 192.168.31.200:80 -r 192.168.31.130:80 -g -w 1",
        "-A -t 192.168.152.200:80 -s wrr",
        "-a -t 192.168.152.200:80 -r 192.168.152.132:80 -g -w 1",
    ] {
        parse_rule(line).unwrap();
    }
    assert_eq!(parse_rule("ipvsadm -C").unwrap(), Command::Clear);
    assert!(list("ipvsadm -ln").numeric);
    assert!(list("-lnc").connections);
    assert_eq!(
        parse_rule("ipvsadm -S -n").unwrap(),
        Command::Save { numeric: true }
    );
}

// ---------------------------------------------------------------------------------------
// Virtual services.

#[test]
fn add_service_defaults_to_wlc_without_persistence() {
    let (key, cfg) = add_service("-A -t 207.175.44.110:8080");
    assert_eq!(key, tcp("207.175.44.110:8080"));
    assert_eq!(cfg, ServiceConfig::default());
    assert_eq!(cfg.scheduler, SchedulerKind::Wlc);
}

#[test]
fn long_forms_and_clusters_mean_the_same() {
    let a = parse_rule("-A -t 10.0.0.1:80 -s rr -p 60").unwrap();
    for line in [
        "--add-service --tcp-service 10.0.0.1:80 --scheduler rr --persistent 60",
        "--add-service --tcp-service=10.0.0.1:80 --scheduler=rr --persistent=60",
        "-At 10.0.0.1:80 -srr -p60",
        "/sbin/ipvsadm -A -t '10.0.0.1:80' -s \"rr\" -p 60 # comment",
    ] {
        assert_eq!(parse_rule(line).unwrap(), a, "{line}");
    }
}

/// ipvsadm.c: `-p` is POPT_ARGFLAG_OPTIONAL; `parse_timeout(NULL)` returns
/// IPVS_SVC_PERSISTENT_TIMEOUT (360); values 1..MAX_TIMEOUT (31 days).
#[test]
fn persistent_timeout_is_optional_and_defaults_to_360() {
    let (_, c) = add_service("-A -t 10.0.0.1:80 -p");
    assert_eq!(
        c.persistence,
        Some(Persistence::default_for(AddressFamily::Ipv4))
    );
    assert_eq!(c.persistence.unwrap().timeout, 360);
    let (_, c) = add_service("-A -t 10.0.0.1:80 -p -M 255.255.255.0");
    assert_eq!(
        c.persistence,
        Some(Persistence {
            timeout: 360,
            netmask: PersistMask::V4("255.255.255.0".parse().unwrap())
        })
    );
    let (_, c) = add_service("-A -t 10.0.0.1:80 -p 2678400");
    assert_eq!(c.persistence.unwrap().timeout, 2_678_400);
    assert_eq!(
        err("-A -t 10.0.0.1:80 -p 2678401"),
        "-p: timeout 2678401 out of range 1..2678400"
    );
    assert_eq!(
        err("-A -t 10.0.0.1:80 -p 0"),
        "-p: timeout 0 out of range 1..2678400"
    );
}

/// ipvsadm.c process_options(): "Zero port specified for non-persistent service".
#[test]
fn port_zero_service_must_be_persistent() {
    assert_eq!(
        err("-A -t 10.0.0.1 -s rr"),
        "Zero port specified for non-persistent service"
    );
    assert_eq!(
        err("-A -t 10.0.0.1:0"),
        "Zero port specified for non-persistent service"
    );
    let (key, c) = add_service("-A -t 10.0.0.1 -s rr -p 300");
    assert_eq!(key.port(), 0);
    assert_eq!(c.persistence.unwrap().timeout, 300);
    // fwmark services have no port.
    add_service("-A -f 1 -s rr");
}

#[test]
fn udp_sctp_ipv6_and_fwmark_services() {
    let (k, _) = add_service("-A -u 10.0.0.1:53");
    assert_eq!(
        k,
        ServiceKey::Addr {
            protocol: Protocol::Udp,
            addr: sa("10.0.0.1:53")
        }
    );
    let (k, _) = add_service("-A --sctp-service 10.0.0.1:9");
    assert_eq!(
        k,
        ServiceKey::Addr {
            protocol: Protocol::Sctp,
            addr: sa("10.0.0.1:9")
        }
    );
    let (k, c) = add_service("-A -t [2001:db8::1]:443 -s sh -p 100 -M 64");
    assert_eq!(k, tcp("[2001:db8::1]:443"));
    assert_eq!(c.persistence.unwrap().netmask, PersistMask::V6(64));
    // -M before the service is read in the service's family.
    let (_, c) = add_service("-A -p 100 -M 48 -t [2001:db8::1]:443");
    assert_eq!(c.persistence.unwrap().netmask, PersistMask::V6(48));
    assert_eq!(
        err("-A -t [2001:db8::1]:443 -p -M 129"),
        "-M: ipv6 netmask 129 out of range 1..128"
    );
    let (k, _) = add_service("-A -f 7 -6 -s rr");
    assert_eq!(
        k,
        ServiceKey::Fwmark {
            mark: 7,
            family: AddressFamily::Ipv6
        }
    );
    let (k, _) = add_service("-A --fwmark-service 4294967295");
    assert_eq!(
        k,
        ServiceKey::Fwmark {
            mark: u32::MAX,
            family: AddressFamily::Ipv4
        }
    );
    assert_eq!(err("-A -6 -f 7"), "-6 used before -f");
    assert_eq!(err("-A -f 0"), "-f: fwmark 0 out of range 1..4294967295");
    // Numeric only: no resolver.
    assert!(err("-A -t www.example.com:80").starts_with("-t: illegal virtual server"));
    assert!(err("-A -t 10.0.0.1:http").starts_with("-t: illegal virtual server"));
}

/// ipvsadm.c parse_sched_flags(): sh-*/mh-* names need that scheduler; `-b` is parsed
/// against the final `-s` (default wlc).
#[test]
fn sched_flags_follow_the_scheduler() {
    let (_, c) = add_service("-A -t 10.0.0.1:80 -s sh -b sh-fallback,sh-port");
    assert_eq!(
        c.sched_flags,
        SchedFlags(SchedFlags::SH_FALLBACK | SchedFlags::SH_PORT)
    );
    let (_, c) = add_service("-A -t 10.0.0.1:80 -b mh-port -s mh");
    assert_eq!(c.sched_flags, SchedFlags(SchedFlags::MH_PORT));
    let (_, c) = add_service("-A -t 10.0.0.1:80 -s rr --sched-flags flag-1,flag-3");
    assert_eq!(
        c.sched_flags,
        SchedFlags(SchedFlags::SCHED1 | SchedFlags::SCHED3)
    );
    assert_eq!(
        err("-A -t 10.0.0.1:80 -b sh-port"),
        "-b: incompatible scheduler flag 'sh-port'"
    );
    assert_eq!(
        err("-A -t 10.0.0.1:80 -s sh -b sh-nope"),
        "-b: invalid scheduler flag 'sh-nope'"
    );
    assert!(err("-A -t 10.0.0.1:80 -s bogus").starts_with("-s: "));
}

/// ipvsadm.c: "One-Packet Scheduling is only for UDP virtual services" (fwmark allowed).
#[test]
fn one_packet_scheduling_needs_udp() {
    let (_, c) = add_service("-A -u 10.0.0.1:53 -o");
    assert!(c.one_packet);
    let (_, c) = add_service("-A -f 3 --ops");
    assert!(c.one_packet);
    assert_eq!(
        err("-A -t 10.0.0.1:80 -o"),
        "One-Packet Scheduling is only for UDP virtual services"
    );
}

#[test]
fn persistence_engine_and_edit_service() {
    let (_, c) = add_service("-A -u 10.0.0.1:5060 -p 60 --pe sip");
    assert_eq!(c.pe_name.as_deref(), Some("sip"));
    assert!(err("-A -u 10.0.0.1:5060 -p --pe 'a b'").starts_with("--pe: "));
    match parse_rule("-E -t 10.0.0.1:80 -s lc").unwrap() {
        Command::EditService { key, config } => {
            assert_eq!(key, tcp("10.0.0.1:80"));
            assert_eq!(config.scheduler, SchedulerKind::Lc);
            assert_eq!(config.persistence, None);
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(
        parse_rule("-D -t 10.0.0.1:80").unwrap(),
        Command::DeleteService {
            key: tcp("10.0.0.1:80")
        }
    );
}

// ---------------------------------------------------------------------------------------
// Real servers.

#[test]
fn real_server_defaults_dr_weight_1_and_virtual_port() {
    let d = add_dest("-a -t 10.0.0.1:80 -r 172.16.0.2");
    assert_eq!(d, DestConfig::new(sa("172.16.0.2:80")));
    // DR and TUN force the virtual port (ipvsadm.c: "The destination port must be equal to
    // the service port if the IP_VS_CONN_F_TUNNEL or IP_VS_CONN_F_DROUTE is set").
    assert_eq!(
        add_dest("-a -t 10.0.0.1:80 -r 172.16.0.2:8080 -g")
            .addr
            .port(),
        80
    );
    assert_eq!(
        add_dest("-a -t 10.0.0.1:80 -r 172.16.0.2:8080 -i")
            .addr
            .port(),
        80
    );
    // NAT keeps the given port; -r before -t still inherits the virtual port.
    assert_eq!(
        add_dest("-a -t 10.0.0.1:80 -r 172.16.0.2:8080 -m")
            .addr
            .port(),
        8080
    );
    assert_eq!(
        add_dest("-a -r 172.16.0.2 -m -t 10.0.0.1:80").addr.port(),
        80
    );
    // fwmark services keep the RS port as given (0 when absent).
    assert_eq!(add_dest("-a -f 5 -r 172.16.0.2:8080 -g").addr.port(), 8080);
    assert_eq!(add_dest("-a -f 5 -r 172.16.0.2").addr.port(), 0);
}

#[test]
fn weight_and_thresholds() {
    let d = add_dest("-a -t 10.0.0.1:80 -r 172.16.0.2:8080 -m -w 3 -x 100 -y 10");
    assert_eq!(
        d,
        DestConfig {
            addr: sa("172.16.0.2:8080"),
            forward: ForwardMethod::Masq,
            weight: 3,
            u_threshold: 100,
            l_threshold: 10
        }
    );
    let d = add_dest("-a -t 10.0.0.1:80 -r 172.16.0.2 --weight 0 --u-threshold 2147483647");
    assert_eq!((d.weight, d.u_threshold), (0, 2_147_483_647));
    assert_eq!(
        err("-a -t 10.0.0.1:80 -r 172.16.0.2 -w 65536"),
        "-w: weight 65536 out of range 0..65535"
    );
    assert_eq!(
        err("-a -t 10.0.0.1:80 -r 172.16.0.2 -w -1"),
        "-w: weight -1 out of range 0..65535"
    );
    assert_eq!(
        err("-a -t 10.0.0.1:80 -r 172.16.0.2 -w heavy"),
        "-w: invalid weight 'heavy'"
    );
    assert_eq!(
        err("-a -t 10.0.0.1:80 -r 172.16.0.2 -x 2147483648"),
        "-x: u_threshold 2147483648 out of range 0..2147483647"
    );
}

#[test]
fn edit_and_delete_real_server() {
    // -e sends every field: no -w means weight 1.
    match parse_rule("-e -t 10.0.0.1:80 -r 172.16.0.2 -m").unwrap() {
        Command::EditDest { service, dest } => {
            assert_eq!(service, tcp("10.0.0.1:80"));
            assert_eq!(dest.weight, 1);
            assert_eq!(dest.forward, ForwardMethod::Masq);
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(
        parse_rule("-d -t 10.0.0.1:80 -r 172.16.0.2").unwrap(),
        Command::DeleteDest {
            service: tcp("10.0.0.1:80"),
            addr: sa("172.16.0.2:80")
        }
    );
    assert_eq!(
        err("-d -t 10.0.0.1:80 -r 172.16.0.2 -w 1"),
        "Illegal 'weight' option with the 'delete-server' command"
    );
}

/// ipvsadm.c tunnel_types_v_options: ipip takes no option, gue needs --tun-port and one
/// checksum option at most, gre takes no port and no remote checksum.
#[test]
fn tunnel_types_and_their_options() {
    assert_eq!(
        add_dest("-a -t 10.0.0.1:80 -r 172.16.0.2 -i").forward,
        ForwardMethod::Tunnel(TunnelKind::Ipip)
    );
    assert_eq!(
        add_dest("-a -t 10.0.0.1:80 -r 172.16.0.2 -i --tun-type ipip").forward,
        ForwardMethod::Tunnel(TunnelKind::Ipip)
    );
    assert_eq!(
        add_dest(
            "-a -t 10.0.0.1:80 -r 172.16.0.2 --ipip --tun-type gue --tun-port 6080 --tun-remcsum"
        )
        .forward,
        ForwardMethod::Tunnel(TunnelKind::Gue {
            port: 6080,
            csum: TunnelCsum::RemCsum
        })
    );
    assert_eq!(
        add_dest("-a -t 10.0.0.1:80 -r 172.16.0.2 -i --tun-type gue --tun-port 6080").forward,
        ForwardMethod::Tunnel(TunnelKind::Gue {
            port: 6080,
            csum: TunnelCsum::NoCsum
        })
    );
    assert_eq!(
        add_dest("-a -t 10.0.0.1:80 -r 172.16.0.2 -i --tun-type gre --tun-csum").forward,
        ForwardMethod::Tunnel(TunnelKind::Gre {
            csum: TunnelCsum::Csum
        })
    );
    assert_eq!(
        err("-a -t 10.0.0.1:80 -r 172.16.0.2 -i --tun-type gue"),
        "You need to supply the 'tun-port' option for the 'gue' tunnel type"
    );
    assert_eq!(
        err("-a -t 10.0.0.1:80 -r 172.16.0.2 -i --tun-type gre --tun-remcsum"),
        "Illegal 'tun-remcsum' option with the 'gre' tunnel type"
    );
    assert_eq!(
        err("-a -t 10.0.0.1:80 -r 172.16.0.2 -i --tun-port 5"),
        "Illegal 'tun-port' option with the 'ipip' tunnel type"
    );
    assert_eq!(
        err(
            "-a -t 10.0.0.1:80 -r 172.16.0.2 -i --tun-type gue --tun-port 1 --tun-nocsum --tun-csum"
        ),
        "The option 'tun-csum' conflicts with the 'tun-nocsum' option in the 'gue' tunnel type"
    );
    assert_eq!(
        err("-a -t 10.0.0.1:80 -r 172.16.0.2 -m --tun-type gre"),
        "Tunnel options conflict with forward method"
    );
    assert_eq!(
        err("-a -t 10.0.0.1:80 -r 172.16.0.2 -i --tun-type vxlan"),
        "--tun-type: illegal tunnel type 'vxlan'"
    );
}

/// ipvsadm.c: "Different address family is allowed only for tunneling servers".
#[test]
fn only_tunnels_cross_address_families() {
    assert_eq!(
        err("-a -t 10.0.0.1:80 -r [2001:db8::2]:80 -m"),
        "Different address family is allowed only for tunneling servers"
    );
    let d = add_dest("-a -t 10.0.0.1:80 -r [2001:db8::2]:80 -i");
    assert_eq!(d.addr, sa("[2001:db8::2]:80"));
    let d = add_dest("-a -f 9 -6 -r 2001:db8::2 -g");
    assert_eq!(d.addr, sa("[2001:db8::2]:0"));
}

/// Our FULLNAT extension: `--fullnat` is a forwarding method, `--laddr` builds the pool.
#[test]
fn fullnat_method_and_local_address_pool() {
    let d = add_dest("-a -t 10.0.0.1:80 -r 172.16.0.2:8080 --fullnat -w 2");
    assert_eq!(d.forward, ForwardMethod::FullNat);
    assert_eq!(d.addr.port(), 8080);
    let (_, c) = add_service("-A -t 10.0.0.1:80 -s rr --laddr 172.16.0.100 --laddr=172.16.0.101");
    assert_eq!(
        c.local_addrs,
        vec![
            "172.16.0.100".parse::<IpAddr>().unwrap(),
            "172.16.0.101".parse().unwrap()
        ]
    );
    assert_eq!(
        err("-a -t 10.0.0.1:80 -r 172.16.0.2 -m --fullnat"),
        "--fullnat: multiple 'forwarding-method' options specified"
    );
    assert_eq!(
        err("-a -t 10.0.0.1:80 -r 172.16.0.2 --laddr 1.1.1.1"),
        "Illegal 'laddr' option with the 'add-server' command"
    );
    assert_eq!(
        err("-A -t 10.0.0.1:80 --laddr 1.1.1.1 --laddr 1.1.1.1"),
        "--laddr: local address 1.1.1.1 given twice"
    );
    // -F is not ours (left free).
    assert_eq!(
        err("-a -t 10.0.0.1:80 -r 172.16.0.2 -F"),
        "-F: unknown option"
    );
}

// ---------------------------------------------------------------------------------------
// Other commands.

#[test]
fn clear_zero_save_restore_help_version() {
    assert_eq!(parse_rule("-C").unwrap(), Command::Clear);
    assert_eq!(parse_rule("--clear").unwrap(), Command::Clear);
    assert_eq!(parse_rule("-Z").unwrap(), Command::Zero { service: None });
    assert_eq!(
        parse_rule("--zero -u 10.0.0.1:53").unwrap(),
        Command::Zero {
            service: Some(ServiceKey::Addr {
                protocol: Protocol::Udp,
                addr: sa("10.0.0.1:53")
            })
        }
    );
    assert_eq!(parse_rule("-S").unwrap(), Command::Save { numeric: false });
    assert_eq!(
        parse_rule("--save -n").unwrap(),
        Command::Save { numeric: true }
    );
    assert_eq!(parse_rule("-R").unwrap(), Command::Restore);
    assert_eq!(parse_rule("-h").unwrap(), Command::Help);
    assert_eq!(parse_rule("--version").unwrap(), Command::Version);
    assert_eq!(
        err("-S -c"),
        "Illegal 'connection' option with the 'save' command"
    );
}

#[test]
fn list_options() {
    assert_eq!(
        list("-Ln"),
        ListOptions {
            numeric: true,
            ..Default::default()
        }
    );
    let o = list("-L -n --stats --exact");
    assert!(o.numeric && o.stats && o.exact);
    let o = list("-l -X --rate --nosort --sort");
    assert!(o.rate && o.exact && o.nosort);
    assert!(list("--list --thresholds").thresholds);
    assert!(list("-L --persistent-conn").persistent_conn);
    assert!(list("-L --tun-info").tun_info);
    assert!(list("-L --timeout").timeout);
    assert!(list("-L --daemon").daemon);
    assert_eq!(list("-Ln -t 10.0.0.1:80").service, Some(tcp("10.0.0.1:80")));
    assert!(list("-Lnc --persistent-conn").connections);
    assert_eq!(
        err("-L -c --stats"),
        "options conflicts in the list command"
    );
    assert_eq!(
        err("-L --timeout --daemon"),
        "The option 'daemon' conflicts with the 'timeout' option in the 'list' command"
    );
    assert_eq!(
        err("-L -s rr"),
        "Illegal 'scheduler' option with the 'list' command"
    );
}

#[test]
fn set_timeouts_takes_three_values() {
    assert_eq!(
        parse_rule("--set 900 120 300").unwrap(),
        Command::SetTimeouts(Timeouts {
            tcp: 900,
            tcp_fin: 120,
            udp: 300
        })
    );
    assert_eq!(
        parse_rule("--set 0 0 60").unwrap(),
        Command::SetTimeouts(Timeouts {
            tcp: 0,
            tcp_fin: 0,
            udp: 60
        })
    );
    assert_eq!(err("--set 1 2"), "--set option requires 3 timeout values");
    assert_eq!(err("--set 1 2 3 4"), "unexpected argument 4");
    assert_eq!(
        err("--set 1 2 2678401"),
        "--set: timeout 2678401 out of range 0..2678400"
    );
}

#[test]
fn sync_daemon_commands() {
    assert_eq!(
        parse_rule(
            "--start-daemon master --mcast-interface eth1 --syncid 5 --sync-maxlen 1400 \
             --mcast-group 239.1.1.1 --mcast-port 8849 --mcast-ttl 2"
        )
        .unwrap(),
        Command::StartDaemon(DaemonConfig {
            state: DaemonState::Master,
            mcast_ifn: "eth1".into(),
            syncid: 5,
            sync_maxlen: 1400,
            mcast_group: Some("239.1.1.1".parse().unwrap()),
            mcast_port: 8849,
            mcast_ttl: 2,
        })
    );
    // DEF_MCAST_IFN "eth0".
    match parse_rule("--start-daemon backup --mcast-group ff02::81").unwrap() {
        Command::StartDaemon(d) => {
            assert_eq!(d.state, DaemonState::Backup);
            assert_eq!(d.mcast_ifn, "eth0");
            assert_eq!(d.mcast_group, Some("ff02::81".parse().unwrap()));
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(
        parse_rule("--stop-daemon backup --syncid 3").unwrap(),
        Command::StopDaemon {
            state: DaemonState::Backup,
            syncid: 3
        }
    );
    assert_eq!(
        err("--start-daemon master --mcast-group 10.0.0.1"),
        "--mcast-group: invalid mcast-group '10.0.0.1'"
    );
    assert_eq!(
        err("--start-daemon primary"),
        "--start-daemon: illegal parameter 'primary'"
    );
    assert_eq!(
        err("--stop-daemon master --mcast-ttl 2"),
        "Illegal 'mcast-ttl' option with the 'stop-daemon' command"
    );
}

// ---------------------------------------------------------------------------------------
// Errors.

#[test]
fn syntax_errors_name_the_option() {
    assert_eq!(err(""), "no command specified");
    assert_eq!(
        err("-t 10.0.0.1:80 -A"),
        "-t: the first option must be a command"
    );
    assert_eq!(
        err("-A -a -t 10.0.0.1:80"),
        "-a: multiple commands specified"
    );
    assert_eq!(err("-A -Q"), "-Q: unknown option");
    assert_eq!(err("-A --bogus"), "--bogus: unknown option");
    assert_eq!(err("-a -t 10.0.0.1:80 -r"), "-r: missing argument");
    assert_eq!(
        err("-A -t 10.0.0.1:80 --ops=1"),
        "--ops: option takes no argument"
    );
    assert_eq!(err("-A -t 10.0.0.1:80 extra"), "unexpected argument extra");
    assert_eq!(
        err("-a -t 10.0.0.1:80 -r 172.16.0.2 -w 1 -w 2"),
        "-w: multiple 'weight' options specified"
    );
    assert_eq!(
        err("-A -t 10.0.0.1:80 -w 1"),
        "Illegal 'weight' option with the 'add-service' command"
    );
    assert_eq!(
        err("-A -s rr"),
        "You need to supply the 'service-address' option for the 'add-service' command"
    );
    assert_eq!(
        err("-a -t 10.0.0.1:80"),
        "You need to supply the 'real-server' option for the 'add-server' command"
    );
    assert_eq!(err("-A -t '10.0.0.1:80"), "unterminated quote or escape");
}

/// Errors in a restore stream carry the 1-based line number; blank lines and comments count.
#[test]
fn restore_errors_name_line_and_option() {
    let text = "-A -t 10.0.0.1:80 -s rr\n\n# weights\n-a -t 10.0.0.1:80 -r 172.16.0.2 -w 70000\n";
    let e = parse_restore(text).unwrap_err();
    assert_eq!(e.line, 4);
    assert_eq!(
        e.to_string(),
        "line 4: -w: weight 70000 out of range 0..65535"
    );
    assert!(matches!(e.error, ParseError::InvalidValue { .. }));
    let e = parse_restore("-C\n-R\n").unwrap_err();
    assert_eq!(e.line, 2);
    let cmds = parse_restore("  # only comments\n\n-C\n").unwrap();
    assert_eq!(cmds, vec![Command::Clear]);
}

#[test]
fn words_split_like_a_shell() {
    assert_eq!(
        split_words(r#"-A  -t "10.0.0.1:80"  -s 'r'r a\ b # tail"#).unwrap(),
        vec!["-A", "-t", "10.0.0.1:80", "-s", "rr", "a b"]
    );
    assert_eq!(split_words("   ").unwrap(), Vec::<String>::new());
    assert_eq!(split_words("x\\").unwrap_err(), ParseError::Unterminated);
    assert_eq!(parse_args(&["ipvsadm", "-C"]).unwrap(), Command::Clear);
}

/// Applying commands follows the kernel's add/edit/delete errors (ipvs_strerror texts).
#[test]
fn applying_commands_uses_kernel_semantics() {
    let mut cfg = IpvsConfig::new();
    let add = parse_rule("-A -t 10.0.0.1:80 -s rr").unwrap();
    cfg.apply(&add).unwrap();
    assert_eq!(
        cfg.apply(&add).unwrap_err().to_string(),
        "Service already exists"
    );
    let rs = parse_rule("-a -t 10.0.0.1:80 -r 172.16.0.2 -w 2").unwrap();
    cfg.apply(&rs).unwrap();
    assert_eq!(
        cfg.apply(&rs).unwrap_err().to_string(),
        "Destination already exists"
    );
    // -e replaces the whole real-server configuration: weight back to 1.
    cfg.apply(&parse_rule("-e -t 10.0.0.1:80 -r 172.16.0.2").unwrap())
        .unwrap();
    assert_eq!(cfg.services[0].dests[0].weight, 1);
    assert_eq!(
        cfg.apply(&parse_rule("-a -t 10.0.0.1:80 -r 172.16.0.3 -x 5 -y 6").unwrap())
            .unwrap_err()
            .to_string(),
        "lower threshold is higher than upper threshold"
    );
    assert_eq!(
        cfg.apply(&parse_rule("-d -t 10.0.0.1:80 -r 172.16.0.9").unwrap())
            .unwrap_err()
            .to_string(),
        "No such destination"
    );
    assert_eq!(
        cfg.apply(&parse_rule("-a -t 10.0.0.2:80 -r 172.16.0.9").unwrap())
            .unwrap_err()
            .to_string(),
        "No such service"
    );
    cfg.apply(&parse_rule("--set 0 60 0").unwrap()).unwrap();
    assert_eq!(
        cfg.timeouts,
        Timeouts {
            tcp: 900,
            tcp_fin: 60,
            udp: 300
        }
    );
    cfg.apply(&parse_rule("-D -t 10.0.0.1:80").unwrap())
        .unwrap();
    assert!(cfg.services.is_empty());
}

/// What the pipeline hands to lvs-sched: `-w/-x/-y` as DestParams, `-b` as SchedConfig
/// flags.
#[test]
fn configs_map_to_lvs_sched_parameters() {
    let d = add_dest("-a -t 10.0.0.1:80 -r 172.16.0.2 -w 3 -x 10 -y 5");
    assert_eq!(
        d.sched_params(),
        lvs_sched::DestParams {
            weight: 3,
            u_threshold: 10,
            l_threshold: 5
        }
    );
    let (_, c) = add_service("-A -t 10.0.0.1:80 -s sh -b sh-port");
    assert!(c.sched_config().flags.contains(SchedFlags::SH_PORT));
    assert_eq!(c.sched_config().sh_tab_bits, 8);
}

/// Every long option (ipvsadm.c's popt `options_table`) means the same as its short form.
#[test]
fn every_long_option_equals_its_short_form() {
    let pairs = [
        (
            "-A -t 10.0.0.1:80",
            "--add-service --tcp-service 10.0.0.1:80",
        ),
        (
            "-E -u 10.0.0.1:53 -s rr",
            "--edit-service --udp-service 10.0.0.1:53 --scheduler rr",
        ),
        ("-D -f 4 -6", "--delete-service --fwmark-service 4 --ipv6"),
        ("-C", "--clear"),
        ("-R", "--restore"),
        ("-S -n", "--save --numeric"),
        ("-Z", "--zero"),
        ("-h", "--help"),
        ("-v", "--version"),
        (
            "-A -u 10.0.0.1:0 -p 9 -M 255.0.0.0 -o -b flag-1",
            "--add-service --udp-service 10.0.0.1:0 --persistent 9 --netmask 255.0.0.0 --ops --sched-flags flag-1",
        ),
        (
            "-a -t 10.0.0.1:80 -r 172.16.0.2:81 -m -w 4 -x 9 -y 3",
            "--add-server --tcp-service 10.0.0.1:80 --real-server 172.16.0.2:81 --masquerading --weight 4 --u-threshold 9 --l-threshold 3",
        ),
        (
            "-e -t 10.0.0.1:80 -r 172.16.0.2 -g",
            "--edit-server --tcp-service 10.0.0.1:80 --real-server 172.16.0.2 --gatewaying",
        ),
        (
            "-e -t 10.0.0.1:80 -r 172.16.0.2 -i",
            "--edit-server --tcp-service 10.0.0.1:80 --real-server 172.16.0.2 --ipip",
        ),
        (
            "-d -t 10.0.0.1:80 -r 172.16.0.2",
            "--delete-server --tcp-service 10.0.0.1:80 --real-server 172.16.0.2",
        ),
        ("-L -n -c", "--list --numeric --connection"),
        ("-l -X --stats", "--list --exact --stats"),
    ];
    for (short, long) in pairs {
        let s = parse_rule(short);
        let l = parse_rule(long);
        assert_eq!(s, l, "{short} vs {long}");
        assert!(l.is_ok(), "{long}: {l:?}");
    }
}

/// `Command`'s Display is a rule line that parses back to the same command, with defaults
/// made explicit.
#[test]
fn every_command_prints_back_as_a_rule_that_parses_to_itself() {
    let cases = [
        ("-A -t 10.0.0.1:80", "-A -t 10.0.0.1:80 -s wlc"),
        (
            "-E -u 10.0.0.1:53 -s sh -p -M 255.255.0.0 -o -b sh-port --laddr 1.1.1.1",
            "-E -u 10.0.0.1:53 -s sh -p 360 -M 255.255.0.0 -o -b sh-port --laddr 1.1.1.1",
        ),
        ("-D -f 4 -6", "-D -f 4 -6"),
        ("-C", "-C"),
        ("-R", "-R"),
        ("-S", "-S"),
        ("-S -n", "-S -n"),
        (
            "-a -t 10.0.0.1:80 -r 172.16.0.2",
            "-a -t 10.0.0.1:80 -r 172.16.0.2:80 -g -w 1",
        ),
        (
            "-e -f 1 -r 2001:db8::9 -i --tun-type gue --tun-port 7 -x 5",
            "-e -f 1 -r [2001:db8::9]:0 -i -w 1 --tun-type gue --tun-port 7 --tun-nocsum -x 5",
        ),
        (
            "-d -t 10.0.0.1:80 -r 172.16.0.2",
            "-d -t 10.0.0.1:80 -r 172.16.0.2:80",
        ),
        ("-Ln", "-L -n"),
        (
            "-L -t 10.0.0.1:80 --stats --exact",
            "-L -t 10.0.0.1:80 --stats --exact",
        ),
        ("-Lnc --persistent-conn", "-L -n -c --persistent-conn"),
        ("-l --timeout", "-L --timeout"),
        ("-L --daemon", "-L --daemon"),
        (
            "-L --rate --thresholds --tun-info --nosort",
            "-L --rate --thresholds --tun-info --nosort",
        ),
        ("-Z", "-Z"),
        ("-Z -u 10.0.0.1:53", "-Z -u 10.0.0.1:53"),
        ("--set 900 0 300", "--set 900 0 300"),
        (
            "--start-daemon backup",
            "--start-daemon backup --mcast-interface eth0 --syncid 0",
        ),
        (
            "--start-daemon master --mcast-group ff02::81 --mcast-port 9 --mcast-ttl 3 --sync-maxlen 100 --syncid 7 --mcast-interface bond0.12",
            "--start-daemon master --mcast-interface bond0.12 --syncid 7 --sync-maxlen 100 --mcast-group ff02::81 --mcast-port 9 --mcast-ttl 3",
        ),
        ("--stop-daemon master", "--stop-daemon master --syncid 0"),
        ("-h", "-h"),
        ("-v", "-v"),
    ];
    for (input, printed) in cases {
        let cmd = parse_rule(input).unwrap();
        assert_eq!(cmd.to_string(), printed, "{input}");
        assert_eq!(parse_rule(printed).unwrap(), cmd, "{printed}");
    }
}

/// `IpvsConfig::restore` is `ipvsadm -R`: parse and apply line by line, stop at the first bad
/// line (parse or kernel refusal) and name it.
#[test]
fn restore_applies_and_names_the_failing_line() {
    let mut cfg = IpvsConfig::new();
    cfg.restore("# table\n-A -t 10.0.0.1:80 -s rr\n-a -t 10.0.0.1:80 -r 172.16.0.2\n")
        .unwrap();
    assert_eq!(cfg.services[0].dests.len(), 1);
    let e = cfg
        .restore("-a -t 10.0.0.1:80 -r 172.16.0.3\n\n-A -t 10.0.0.1:80\n-C\n")
        .unwrap_err();
    assert_eq!(e.to_string(), "line 3: Service already exists");
    // The line before the failure stayed applied, the one after it did not run.
    assert_eq!(cfg.services[0].dests.len(), 2);
    let e = cfg.restore("-C\n-A -t 10.0.0.9:80 -s nope\n").unwrap_err();
    assert!(e.to_string().starts_with("line 2: -s: "), "{e}");
    assert!(cfg.services.is_empty());
}
