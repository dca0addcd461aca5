//! `ipvsadm -S` then `ipvsadm -R`: the saved text restores to the same table (property test
//! over random service tables), and `-S` prints ipvsadm 1.31's exact format
//! (ipvsadm.c `print_service_entry()` with `FMT_RULE`, `print_tunnel_rule()`).

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use lvs_core::ipvsadm::{Command, parse_restore, parse_rule, save};
use lvs_core::service::{
    AddressFamily, DestConfig, ForwardMethod, IpvsConfig, MAX_THRESHOLD, MAX_TIMEOUT, PersistMask,
    Persistence, Protocol, ServiceConfig, ServiceKey, TunnelCsum, TunnelKind, VirtualService,
};
use lvs_sched::{SchedFlags, SchedulerKind};
use proptest::prelude::*;

fn restore(text: &str) -> IpvsConfig {
    let mut cfg = IpvsConfig::new();
    for cmd in parse_restore(text).unwrap_or_else(|e| panic!("{e}\n{text}")) {
        cfg.apply(&cmd).unwrap_or_else(|e| panic!("{e}\n{text}"));
    }
    cfg
}

/// The table as a map (order-free): `-S` sorts, so order is not part of the configuration.
fn canonical(services: &[VirtualService]) -> BTreeMap<String, (String, BTreeMap<String, String>)> {
    services
        .iter()
        .map(|s| {
            let dests = s
                .dests
                .iter()
                .map(|d| (d.addr.to_string(), format!("{d:?}")))
                .collect();
            (format!("{:?}", s.key), (format!("{:?}", s.config), dests))
        })
        .collect()
}

#[test]
fn save_prints_ipvsadm_rule_format() {
    let text = "\
-A -t 207.175.44.110:8080 -s rr
-a -t 207.175.44.110:8080 -r 172.16.0.2:8080 -m -w 1
-A -u 10.0.0.1:5060 -s sh -p 60 -M 255.255.255.0 --pe sip -o -b sh-fallback,sh-port
-A --sctp-service 10.0.0.2:9 -s wlc
-A -t [2001:db8::1]:443 -s mh -p 120 -M 64 -b mh-port
-a -t [2001:db8::1]:443 -r [2001:db8::10]:443 -g -w 5
-A -f 7 -s wrr -b flag-2
-a -f 7 -r 172.16.0.4:0 -i -w 1 --tun-type ipip
-a -f 7 -r 172.16.0.5:0 -i -w 2 --tun-type gue --tun-port 6080 --tun-remcsum
-a -f 7 -r 172.16.0.6:0 -i -w 3 --tun-type gre --tun-nocsum
-A -f 8 -6 -s rr -p 360
-A -t 10.0.0.3:80 -s rr --laddr 172.16.0.100 --laddr 2001:db8::64
-a -t 10.0.0.3:80 -r 172.16.0.7:8080 --fullnat -w 1 -x 100 -y 50
";
    let cfg = restore(text);
    // Sorted as libipvs sorts: address services (fwmark 0) first; AF_INET before AF_INET6;
    // TCP (6) < UDP (17) < SCTP (132); then the fwmark services by mark. Addresses compare
    // as `int r = ntohl(a) - ntohl(b)`: 0x0A000003 - 0xCFAF2C6E wraps to a positive int, so
    // 10.0.0.3 comes after 207.175.44.110.
    let expected = "\
-A -t 207.175.44.110:8080 -s rr
-a -t 207.175.44.110:8080 -r 172.16.0.2:8080 -m -w 1
-A -t 10.0.0.3:80 -s rr --laddr 172.16.0.100 --laddr 2001:db8::64
-a -t 10.0.0.3:80 -r 172.16.0.7:8080 --fullnat -w 1 -x 100 -y 50
-A -u 10.0.0.1:5060 -s sh -p 60 -M 255.255.255.0 --pe sip -o -b sh-fallback,sh-port
-A --sctp-service 10.0.0.2:9 -s wlc
-A -t [2001:db8::1]:443 -s mh -p 120 -M 64 -b mh-port
-a -t [2001:db8::1]:443 -r [2001:db8::10]:443 -g -w 5
-A -f 7 -s wrr -b flag-2
-a -f 7 -r 172.16.0.4:0 -i -w 1 --tun-type ipip
-a -f 7 -r 172.16.0.5:0 -i -w 2 --tun-type gue --tun-port 6080 --tun-remcsum
-a -f 7 -r 172.16.0.6:0 -i -w 3 --tun-type gre --tun-nocsum
-A -f 8 -6 -s rr -p 360
";
    assert_eq!(save(&cfg.services), expected);
    assert_eq!(
        canonical(&restore(expected).services),
        canonical(&cfg.services)
    );
}

/// ipvsadm prints `-M` only when the mask is not the family default, and `-p` always with
/// its value.
#[test]
fn default_masks_are_not_printed() {
    let cfg = restore("-A -t 10.0.0.1:0 -p -M 255.255.255.255\n-A -t [::1]:0 -p -M 128\n");
    assert_eq!(
        save(&cfg.services),
        "-A -t 10.0.0.1:0 -s wlc -p 360\n-A -t [::1]:0 -s wlc -p 360\n"
    );
}

// ---------------------------------------------------------------------------------------
// Random tables.

fn ipv4() -> impl Strategy<Value = IpAddr> {
    any::<u32>().prop_map(|v| IpAddr::V4(Ipv4Addr::from(v)))
}

fn ipv6() -> impl Strategy<Value = IpAddr> {
    prop_oneof![
        any::<u128>().prop_map(|v| IpAddr::V6(Ipv6Addr::from(v))),
        // Short forms exercise "::" compression and the dotted IPv4-compatible form.
        any::<u32>().prop_map(|v| IpAddr::V6(Ipv6Addr::from(u128::from(v)))),
        any::<u16>().prop_map(|v| IpAddr::V6(Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, v))),
    ]
}

fn ip(family: AddressFamily) -> BoxedStrategy<IpAddr> {
    match family {
        AddressFamily::Ipv4 => ipv4().boxed(),
        AddressFamily::Ipv6 => ipv6().boxed(),
    }
}

fn family() -> impl Strategy<Value = AddressFamily> {
    prop_oneof![Just(AddressFamily::Ipv4), Just(AddressFamily::Ipv6)]
}

fn key() -> impl Strategy<Value = ServiceKey> {
    prop_oneof![
        3 => (
            prop_oneof![Just(Protocol::Tcp), Just(Protocol::Udp), Just(Protocol::Sctp)],
            family().prop_flat_map(ip),
            prop_oneof![Just(0u16), any::<u16>()],
        )
            .prop_map(|(protocol, ip, port)| ServiceKey::Addr {
                protocol,
                addr: SocketAddr::new(ip, port),
            }),
        1 => (1..=u32::MAX, family()).prop_map(|(mark, family)| ServiceKey::Fwmark { mark, family }),
    ]
}

fn config(key: ServiceKey) -> impl Strategy<Value = ServiceConfig> {
    let fam = key.family();
    let needs_persist = !key.is_fwmark() && key.port() == 0;
    let ops_ok = matches!(
        key,
        ServiceKey::Fwmark { .. }
            | ServiceKey::Addr {
                protocol: Protocol::Udp,
                ..
            }
    );
    let mask = match fam {
        AddressFamily::Ipv4 => prop_oneof![
            Just(PersistMask::V4(Ipv4Addr::BROADCAST)),
            any::<u32>().prop_map(|m| PersistMask::V4(Ipv4Addr::from(m))),
        ]
        .boxed(),
        AddressFamily::Ipv6 => (1u8..=128).prop_map(PersistMask::V6).boxed(),
    };
    (
        prop::sample::select(SchedulerKind::ALL.to_vec()),
        0u32..8,
        prop::option::weighted(0.5, (1..=MAX_TIMEOUT, mask)),
        any::<bool>(),
        prop::option::of(prop_oneof![Just("sip".to_string()), "[a-z0-9_]{1,16}"]),
        prop::collection::vec(prop_oneof![ipv4(), ipv6()], 0..3),
    )
        .prop_map(
            move |(scheduler, fbits, persist, ops, pe_name, mut laddrs)| {
                // Bits SCHED1..3 = 0x08, 0x10, 0x20 (all meaningful for every scheduler).
                let sched_flags = SchedFlags(fbits << 3);
                let persistence = match persist {
                    Some((timeout, netmask)) => Some(Persistence { timeout, netmask }),
                    None if needs_persist => Some(Persistence::default_for(fam)),
                    None => None,
                };
                laddrs.sort();
                laddrs.dedup();
                ServiceConfig {
                    scheduler,
                    sched_flags,
                    persistence,
                    one_packet: ops && ops_ok,
                    pe_name,
                    local_addrs: laddrs,
                }
            },
        )
}

fn forward() -> impl Strategy<Value = ForwardMethod> {
    let csum = prop_oneof![
        Just(TunnelCsum::NoCsum),
        Just(TunnelCsum::Csum),
        Just(TunnelCsum::RemCsum)
    ];
    let gre_csum = prop_oneof![Just(TunnelCsum::NoCsum), Just(TunnelCsum::Csum)];
    prop_oneof![
        Just(ForwardMethod::Masq),
        Just(ForwardMethod::Route),
        Just(ForwardMethod::FullNat),
        Just(ForwardMethod::Tunnel(TunnelKind::Ipip)),
        (1u16..=65535, csum)
            .prop_map(|(port, csum)| ForwardMethod::Tunnel(TunnelKind::Gue { port, csum })),
        gre_csum.prop_map(|csum| ForwardMethod::Tunnel(TunnelKind::Gre { csum })),
    ]
}

fn dest(key: ServiceKey) -> impl Strategy<Value = DestConfig> {
    (
        forward(),
        family(),
        any::<u16>(),
        0u32..=65535,
        prop_oneof![Just((0u32, 0u32)), (0..=MAX_THRESHOLD, 0..=MAX_THRESHOLD)],
    )
        .prop_flat_map(move |(forward, fam, port, weight, (a, b))| {
            // Only tunnels may change family (ipvsadm's check); the kernel wants l <= u.
            let fam = if matches!(forward, ForwardMethod::Tunnel(_)) {
                fam
            } else {
                key.family()
            };
            let port = if !key.is_fwmark() && !forward.maps_ports() {
                key.port()
            } else {
                port
            };
            ip(fam).prop_map(move |ip| DestConfig {
                addr: SocketAddr::new(ip, port),
                forward,
                weight,
                u_threshold: a.max(b),
                l_threshold: a.min(b),
            })
        })
}

fn service() -> impl Strategy<Value = VirtualService> {
    key().prop_flat_map(|key| {
        (config(key), prop::collection::vec(dest(key), 0..4)).prop_map(move |(config, dests)| {
            let mut seen = Vec::new();
            let dests = dests
                .into_iter()
                .filter(|d| {
                    let new = !seen.contains(&d.addr);
                    seen.push(d.addr);
                    new
                })
                .collect();
            VirtualService { key, config, dests }
        })
    })
}

fn table() -> impl Strategy<Value = Vec<VirtualService>> {
    prop::collection::vec(service(), 0..6).prop_map(|v| {
        let mut keys = Vec::new();
        v.into_iter()
            .filter(|s| {
                let new = !keys.contains(&s.key);
                keys.push(s.key);
                new
            })
            .collect()
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    /// -S output restores (-R) to the same table, and saving the restored table prints the
    /// same set of lines.
    #[test]
    fn save_then_restore_is_identity(services in table()) {
        let text = save(&services);
        let back = restore(&text);
        prop_assert_eq!(canonical(&back.services), canonical(&services), "{}", text);
        let mut a: Vec<&str> = text.lines().collect();
        let again = save(&back.services);
        let mut b: Vec<&str> = again.lines().collect();
        a.sort_unstable();
        b.sort_unstable();
        prop_assert_eq!(a, b);
    }

    /// Every -A / -E / -a / -e command prints (Display) as a rule that parses back to it.
    #[test]
    fn commands_print_as_rules_that_parse_back(services in table()) {
        for s in &services {
            let mut cmds = vec![
                Command::AddService { key: s.key, config: s.config.clone() },
                Command::EditService { key: s.key, config: s.config.clone() },
            ];
            for d in &s.dests {
                cmds.push(Command::AddDest { service: s.key, dest: *d });
                cmds.push(Command::EditDest { service: s.key, dest: *d });
                cmds.push(Command::DeleteDest { service: s.key, addr: d.addr });
            }
            for cmd in cmds {
                let line = cmd.to_string();
                prop_assert_eq!(parse_rule(&line), Ok(cmd), "{}", line);
            }
        }
    }
}
