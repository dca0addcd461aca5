//! ipvsadm list formats, compared with literal ipvsadm 1.31 output: the reference's and the
//! seed notes' captures, and lines derived by hand from the printf formats of ipvsadm.c
//! (`print_title()`, `print_service_entry()`, `print_largenum()`, `list_timeout()`,
//! `list_daemon()`), which are quoted next to each case. Trailing blanks are part of the
//! format (`%-10u` pads the last column).

use lvs_core::ipvsadm::{
    DaemonConfig, DaemonState, DestSnapshot, ListError, ListOptions, ListSnapshot, Rates,
    ServiceSnapshot, Stats, list, list_daemon, list_timeout, parse_restore, parse_rule,
    print_largenum,
};
use lvs_core::service::{
    DestConfig, ForwardMethod, IpvsConfig, PersistMask, Persistence, Timeouts, TunnelCsum,
    TunnelKind,
};

fn config(rules: &str) -> IpvsConfig {
    let mut cfg = IpvsConfig::new();
    for cmd in parse_restore(rules).unwrap() {
        cfg.apply(&cmd).unwrap();
    }
    cfg
}

fn opts(line: &str) -> ListOptions {
    match parse_rule(line).unwrap() {
        lvs_core::ipvsadm::Command::List(o) => o,
        other => panic!("{other:?}"),
    }
}

/// shared/reference/ipvs.md section 5, `ipvsadm -Ln` of the kernel selftest's service.
#[test]
fn reference_ln_output() {
    let cfg = config(
        "-A -t 207.175.44.110:8080 -s wlc -p\n-a -t 207.175.44.110:8080 -r 172.16.0.2:8080 -m -w 1\n",
    );
    let mut snap = ListSnapshot::from_config(&cfg);
    snap.services[0].dests[0].activeconns = 3;
    snap.services[0].dests[0].inactconns = 12;
    let expected = "\
IP Virtual Server version 1.2.1 (size=4096)
Prot LocalAddress:Port Scheduler Flags
  -> RemoteAddress:Port           Forward Weight ActiveConn InActConn
TCP  207.175.44.110:8080 wlc persistent 360
  -> 172.16.0.2:8080              Masq    1      3          12        
";
    assert_eq!(list(&snap, &opts("-Ln")).unwrap(), expected);
}

/// shared/seeds/000 lines 513-518: the DR pair after `-a ... -r 192.168.56.102 -g -w 1`
/// (the capture's first real-server row kept its trailing blanks).
#[test]
fn seed_ln_output() {
    let cfg = config(
        "-A -t 192.168.56.200:80 -s rr\n\
         -a -t 192.168.56.200:80 -r 192.168.56.102 -g -w 1\n\
         -a -t 192.168.56.200:80 -r 192.168.56.103 -g -w 1\n",
    );
    let out = list(&ListSnapshot::from_config(&cfg), &opts("-ln")).unwrap();
    let expected = "\
IP Virtual Server version 1.2.1 (size=4096)
Prot LocalAddress:Port Scheduler Flags
  -> RemoteAddress:Port           Forward Weight ActiveConn InActConn
TCP  192.168.56.200:80 rr
  -> 192.168.56.102:80            Route   1      0          0         
  -> 192.168.56.103:80            Route   1      0          0         
";
    assert_eq!(out, expected);
}

fn dest(cfg: DestConfig, active: u32, inact: u32) -> DestSnapshot {
    let mut d = DestSnapshot::new(cfg);
    d.activeconns = active;
    d.inactconns = inact;
    d
}

fn dc(addr: &str, forward: ForwardMethod, weight: u32) -> DestConfig {
    DestConfig {
        addr: addr.parse().unwrap(),
        forward,
        weight,
        u_threshold: 0,
        l_threshold: 0,
    }
}

/// A mixed table, given out of order. Sorting is libipvs `ipvs_cmp_services()`: fwmark
/// first (0 for address services), then family, protocol, address, port, each difference
/// taken as a C `int`: `ntohl(10.0.0.1) - ntohl(192.168.0.1)` is 0x49580000 > 0, so
/// 192.168.0.1 is listed before 10.0.0.1, as the real tool does. Service rows:
/// `"%s %s"` name + scheduler, ` (flags)`, ` persistent %u`, ` mask %s`, ` ops`;
/// real-server rows `"  -> %-28s %-7s %-6d %-10u %-10u"`.
fn mixed() -> ListSnapshot {
    let mut snap = ListSnapshot::default();
    let cfg = config(
        "-A -t 10.0.0.1:80 -s wlc -p 360 -M 255.255.255.0\n\
         -A -t 192.168.0.1:80 -s rr\n\
         -A -u 192.168.0.1:53 -s rr -o\n\
         -A -f 7 -s sh -b sh-fallback,sh-port\n\
         -A -t [2001:db8::1]:443\n",
    );
    let svc = |i: usize| {
        let s = &cfg.services[i];
        ServiceSnapshot {
            key: s.key,
            config: s.config.clone(),
            stats: Stats::default(),
            rates: Rates::default(),
            dests: Vec::new(),
        }
    };
    let mut a = svc(0);
    a.dests = vec![
        dest(dc("172.16.0.3:80", ForwardMethod::Route, 2), 0, 0),
        dest(dc("172.16.0.2:80", ForwardMethod::Route, 1), 5, 7),
    ];
    let mut b = svc(1);
    b.dests = vec![
        dest(dc("172.16.0.9:8080", ForwardMethod::FullNat, 0), 0, 0),
        dest(dc("172.16.0.2:8080", ForwardMethod::Masq, 1), 3, 12),
    ];
    let mut c = svc(2);
    c.dests = vec![dest(dc("172.16.0.2:53", ForwardMethod::Masq, 1), 0, 0)];
    let mut d = svc(3);
    d.dests = vec![dest(
        dc(
            "172.16.0.4:0",
            ForwardMethod::Tunnel(TunnelKind::Gue {
                port: 6080,
                csum: TunnelCsum::RemCsum,
            }),
            1,
        ),
        0,
        0,
    )];
    let mut e = svc(4);
    let mut local = dest(dc("[2001:db8::10]:443", ForwardMethod::Route, 1), 0, 0);
    local.local_node = true;
    e.dests = vec![local];
    snap.services = vec![a, d, b, e, c];
    snap
}

#[test]
fn mixed_table_sorted_as_libipvs_sorts() {
    let expected = "\
IP Virtual Server version 1.2.1 (size=4096)
Prot LocalAddress:Port Scheduler Flags
  -> RemoteAddress:Port           Forward Weight ActiveConn InActConn
TCP  192.168.0.1:80 rr
  -> 172.16.0.2:8080              Masq    1      3          12        
  -> 172.16.0.9:8080              FullNat 0      0          0         
TCP  10.0.0.1:80 wlc persistent 360 mask 255.255.255.0
  -> 172.16.0.2:80                Route   1      5          7         
  -> 172.16.0.3:80                Route   2      0          0         
UDP  192.168.0.1:53 rr ops
  -> 172.16.0.2:53                Masq    1      0          0         
TCP  [2001:db8::1]:443 wlc
  -> [2001:db8::10]:443           Local   1      0          0         
FWM  7 sh (sh-fallback,sh-port)
  -> 172.16.0.4:0                 Tunnel  1      0          0         
";
    assert_eq!(list(&mixed(), &opts("-Ln")).unwrap(), expected);
}

#[test]
fn nosort_keeps_table_order() {
    let out = list(&mixed(), &opts("-Ln --nosort")).unwrap();
    let services: Vec<&str> = out
        .lines()
        .skip(3)
        .filter(|l| !l.starts_with("  ->"))
        .collect();
    assert_eq!(
        services,
        [
            "TCP  10.0.0.1:80 wlc persistent 360 mask 255.255.255.0",
            "FWM  7 sh (sh-fallback,sh-port)",
            "TCP  192.168.0.1:80 rr",
            "TCP  [2001:db8::1]:443 wlc",
            "UDP  192.168.0.1:53 rr ops",
        ]
    );
    // Real servers keep their order too.
    assert!(out.contains(
        "  -> 172.16.0.3:80                Route   2      0          0         \n  -> 172.16.0.2:80"
    ));
}

/// `--tun-info`: title `... Forward TunnelInfo    Weight ActiveConn InActConn`, rows
/// `"  -> %-28s %-7s %-13s %-6d %-10u %-10u"` with `gue:%d:%s`, `gre:%s`, `ipip`, or `n/a`.
#[test]
fn tun_info_output() {
    let out = list(&mixed(), &opts("-Ln --tun-info")).unwrap();
    let expected_tail = "\
FWM  7 sh (sh-fallback,sh-port)
  -> 172.16.0.4:0                 Tunnel  gue:6080:r+c  1      0          0         
";
    assert!(out.ends_with(expected_tail), "{out}");
    assert!(out.contains(
        "Prot LocalAddress:Port Scheduler Flags\n  -> RemoteAddress:Port           Forward TunnelInfo    Weight ActiveConn InActConn\n"
    ));
    assert!(out.contains(
        "  -> 172.16.0.2:8080              Masq    n/a           1      3          12        \n"
    ));
}

/// `--stats`: title `"%-33s %8s %8s %8s %8s %8s"` (the reference's header line), rows
/// `"%-33s"` / `"  -> %-28s"` then print_largenum() per counter: `%9llu` below 10^8,
/// `%8lluK` (/1000) below 10^9, `%8lluM` (/10^6) below 10^11, `%8lluG` (/10^9) below 10^14,
/// `%8lluT` (/10^12) above. Each value ends under the end of its column title (column 42 for
/// Conns).
#[test]
fn stats_output_with_suffixes_and_exact() {
    let cfg = config("-A -t 10.0.0.1:80 -s rr\n-a -t 10.0.0.1:80 -r 172.16.0.2\n");
    let mut snap = ListSnapshot::from_config(&cfg);
    snap.services[0].stats = Stats {
        conns: 1234,
        inpkts: 123_456_789,
        outpkts: 100_000_000_000,
        inbytes: 99_999_999,
        outbytes: 500_000_000_000_000,
    };
    snap.services[0].dests[0].stats = Stats {
        conns: 7,
        inpkts: 0,
        outpkts: 1_000_000_000,
        inbytes: 100_000_000,
        outbytes: 0,
    };
    let expected = "\
IP Virtual Server version 1.2.1 (size=4096)
Prot LocalAddress:Port               Conns   InPkts  OutPkts  InBytes OutBytes
  -> RemoteAddress:Port
TCP  10.0.0.1:80                      1234  123456K     100G 99999999     500T
  -> 172.16.0.2:80                       7        0    1000M  100000K        0
";
    assert_eq!(list(&snap, &opts("-Ln --stats")).unwrap(), expected);
    // --exact: "%*llu" with width 9, or the length + 1 beyond 8 digits.
    let exact = "\
IP Virtual Server version 1.2.1 (size=4096)
Prot LocalAddress:Port               Conns   InPkts  OutPkts  InBytes OutBytes
  -> RemoteAddress:Port
TCP  10.0.0.1:80                      1234 123456789 100000000000 99999999 500000000000000
  -> 172.16.0.2:80                       7        0 1000000000 100000000        0
";
    assert_eq!(list(&snap, &opts("-Ln --stats --exact")).unwrap(), exact);
}

/// `--rate`: the service row goes through print_largenum() for all five rates, the
/// real-server row prints CPS/InPPS/OutPPS with a plain `" %8llu"` (no suffix) and only
/// the byte rates through print_largenum().
#[test]
fn rate_output() {
    let cfg = config("-A -t 10.0.0.1:80 -s rr\n-a -t 10.0.0.1:80 -r 172.16.0.2\n");
    let mut snap = ListSnapshot::from_config(&cfg);
    let big = Rates {
        cps: 123_456_789,
        inpps: 5,
        outpps: 0,
        inbps: 250_000_000,
        outbps: 42,
    };
    snap.services[0].rates = big;
    snap.services[0].dests[0].rates = big;
    let expected = "\
IP Virtual Server version 1.2.1 (size=4096)
Prot LocalAddress:Port                 CPS    InPPS   OutPPS    InBPS   OutBPS
  -> RemoteAddress:Port
TCP  10.0.0.1:80                   123456K        5        0  250000K       42
  -> 172.16.0.2:80                123456789        5        0  250000K       42
";
    assert_eq!(list(&snap, &opts("-Ln --rate")).unwrap(), expected);
}

/// `--thresholds`: title `"%-33s %-10s %-10s %-10s %-10s"`, rows
/// `"  -> %-28s %-10u %-10u %-10u %-10u"`; `--persistent-conn`: title
/// `"%-33s %-9s %-11s %-10s %-10s"`, rows `"  -> %-28s %-9u %-11u %-10u %-10u"`. Service rows
/// use the normal `name scheduler flags` form.
#[test]
fn thresholds_and_persistent_conn_output() {
    let cfg = config(
        "-A -t 10.0.0.1:80 -s wlc -p 60\n-a -t 10.0.0.1:80 -r 172.16.0.2 -w 3 -x 1000 -y 800\n",
    );
    let mut snap = ListSnapshot::from_config(&cfg);
    let d = &mut snap.services[0].dests[0];
    d.activeconns = 17;
    d.inactconns = 250;
    d.persistconns = 9;
    let expected = "\
IP Virtual Server version 1.2.1 (size=4096)
Prot LocalAddress:Port            Uthreshold Lthreshold ActiveConn InActConn 
  -> RemoteAddress:Port
TCP  10.0.0.1:80 wlc persistent 60
  -> 172.16.0.2:80                1000       800        17         250       
";
    assert_eq!(list(&snap, &opts("-Ln --thresholds")).unwrap(), expected);
    let expected = "\
IP Virtual Server version 1.2.1 (size=4096)
Prot LocalAddress:Port            Weight    PersistConn ActiveConn InActConn 
  -> RemoteAddress:Port
TCP  10.0.0.1:80 wlc persistent 60
  -> 172.16.0.2:80                3         9           17         250       
";
    assert_eq!(
        list(&snap, &opts("-Ln --persistent-conn")).unwrap(),
        expected
    );
}

/// `-L -t VIP:port` lists one service without the version header (ipvsadm.c
/// `list_service()`); an unknown one is "No such service".
#[test]
fn one_service_and_errors() {
    let snap = mixed();
    let out = list(&snap, &opts("-Ln -u 192.168.0.1:53")).unwrap();
    assert_eq!(
        out,
        "\
Prot LocalAddress:Port Scheduler Flags
  -> RemoteAddress:Port           Forward Weight ActiveConn InActConn
UDP  192.168.0.1:53 rr ops
  -> 172.16.0.2:53                Masq    1      0          0         
"
    );
    assert_eq!(
        list(&snap, &opts("-Ln -t 1.2.3.4:80")).unwrap_err(),
        ListError::NoSuchService
    );
    assert_eq!(
        list(&snap, &opts("-Lnc")).unwrap_err(),
        ListError::Connections
    );
}

/// `list_timeout()`: `"Timeout (tcp tcpfin udp): %d %d %d\n"` (reference section 5).
#[test]
fn timeout_output() {
    assert_eq!(
        list_timeout(&Timeouts::default()),
        "Timeout (tcp tcpfin udp): 900 120 300\n"
    );
    let snap = ListSnapshot {
        timeouts: Timeouts {
            tcp: 7200,
            tcp_fin: 10,
            udp: 60,
        },
        ..Default::default()
    };
    assert_eq!(
        list(&snap, &opts("-L --timeout")).unwrap(),
        "Timeout (tcp tcpfin udp): 7200 10 60\n"
    );
}

/// `list_daemon()`: `"%s sync daemon (mcast=%s, syncid=%d"`, then `, maxlen=%u`,
/// `, group=%s`, `, port=%u`, `, ttl=%u` when set, then `")\n"`.
#[test]
fn daemon_output() {
    let master = DaemonConfig {
        state: DaemonState::Master,
        mcast_ifn: "eth0".into(),
        syncid: 1,
        sync_maxlen: 0,
        mcast_group: None,
        mcast_port: 0,
        mcast_ttl: 0,
    };
    let backup = DaemonConfig {
        state: DaemonState::Backup,
        mcast_ifn: "eth1".into(),
        syncid: 2,
        sync_maxlen: 1472,
        mcast_group: Some("224.0.0.81".parse().unwrap()),
        mcast_port: 8848,
        mcast_ttl: 1,
    };
    assert_eq!(
        list_daemon(&[master, backup]),
        "master sync daemon (mcast=eth0, syncid=1)\n\
         backup sync daemon (mcast=eth1, syncid=2, maxlen=1472, group=224.0.0.81, port=8848, ttl=1)\n"
    );
}

/// print_largenum() boundaries.
#[test]
fn largenum_boundaries() {
    let f = |v: u64, exact: bool| {
        let mut s = String::new();
        print_largenum(&mut s, v, exact);
        s
    };
    assert_eq!(f(0, false), "        0");
    assert_eq!(f(99_999_999, false), " 99999999");
    assert_eq!(f(100_000_000, false), "  100000K");
    assert_eq!(f(999_999_999, false), "  999999K");
    assert_eq!(f(1_000_000_000, false), "    1000M");
    assert_eq!(f(99_999_999_999, false), "   99999M");
    assert_eq!(f(100_000_000_000, false), "     100G");
    assert_eq!(f(99_999_999_999_999, false), "   99999G");
    assert_eq!(f(100_000_000_000_000, false), "     100T");
    assert_eq!(f(u64::MAX, false), "18446744T");
    assert_eq!(f(12_345_678, true), " 12345678");
    assert_eq!(f(123_456_789, true), " 123456789");
    assert_eq!(f(u64::MAX, true), " 18446744073709551615");
}

/// Persistence masks: IPv4 `mask %s` (inet_ntoa), IPv6 `mask %i` (prefix length), and the
/// persistence engine inside the persistent part.
#[test]
fn persistence_details_in_service_rows() {
    let cfg = config(
        "-A -u 10.0.0.1:5060 -p 30 --pe sip\n-A -t [2001:db8::1]:80 -s rr -p 120 -M 64\n-A -f 3 -6 -s rr -p\n",
    );
    let out = list(&ListSnapshot::from_config(&cfg), &opts("-Ln")).unwrap();
    let rows: Vec<&str> = out.lines().skip(3).collect();
    assert_eq!(
        rows,
        [
            "UDP  10.0.0.1:5060 wlc persistent 30 pe sip",
            "TCP  [2001:db8::1]:80 rr persistent 120 mask 64",
            "FWM  3 IPv6 rr persistent 360",
        ]
    );
    // The model keeps the default mask per family.
    assert_eq!(
        cfg.services[2].config.persistence,
        Some(Persistence {
            timeout: 360,
            netmask: PersistMask::V6(128)
        })
    );
}
