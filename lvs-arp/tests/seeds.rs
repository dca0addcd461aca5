//! The four arp_ignore experiments of the user's notes (shared/seeds/000_a76820eef8169adf.txt,
//! section "回环网卡上配置ip" / "arp_ignore用来控制接受到arp请求的网卡，是否返回arp相应"),
//! reproduced with the same addresses and the outcomes tcpdump recorded there, and the LVS-DR
//! recipe of the notes' last section (arp_ignore=1 + arp_announce=2 with the VIP on lo/32).

mod common;

use std::net::IpAddr;

use common::*;
use lvs_arp::{AddrType, ArpOp, Host, NeighConfig, NeighEvent, NeighbourTable, RouteKind, Scope};

/// What the notes observed for a request from server01 on enp0s8.
#[derive(Debug, PartialEq)]
enum Seen {
    /// "ARP, Reply <target> is-at <mac>"
    ReplyIsAt(&'static str, &'static str),
    /// No reply: server01 retransmits and ping says "Destination Host Unreachable".
    NoReply(String),
}

struct Experiment {
    name: &'static str,
    /// `ip addr add 1.1.1.2/24 dev <vip_dev>`
    vip_dev: u32,
    /// `sysctl -w net.ipv4.conf.all.arp_ignore=<v>`
    all_arp_ignore: i32,
    target: &'static str,
    seen: Seen,
}

#[test]
fn seed_experiments_arp_ignore() {
    let cases = [
        // 实验1: 1.1.1.2/24 on lo, every arp_ignore 0. tcpdump on server01:
        // "Request who-has 1.1.1.2 tell 192.168.56.101" / "Reply 1.1.1.2 is-at 08:00:27:9f:f2:71"
        Experiment {
            name: "exp1: VIP on lo, arp_ignore=0 -> enp0s8 answers with its own MAC",
            vip_dev: LO,
            all_arp_ignore: 0,
            target: "1.1.1.2",
            seen: Seen::ReplyIsAt("1.1.1.2", SERVER02_MAC),
        },
        // 实验2: same configuration; the ping works and all ICMP is seen on enp0s8 (the ARP
        // part is experiment 1 again; the routing part is checked in seed_experiment_2_*).
        Experiment {
            name: "exp2: same setup, ARP still answered on enp0s8",
            vip_dev: LO,
            all_arp_ignore: 0,
            target: "1.1.1.2",
            seen: Seen::ReplyIsAt("1.1.1.2", SERVER02_MAC),
        },
        // 实验3: all.arp_ignore=1; three "Request who-has 1.1.1.2 tell 192.168.56.101", no
        // reply, "Destination Host Unreachable".
        Experiment {
            name: "exp3: VIP on lo, all.arp_ignore=1 -> silence",
            vip_dev: LO,
            all_arp_ignore: 1,
            target: "1.1.1.2",
            seen: Seen::NoReply("arp_ignore=1: target 1.1.1.2 not on enp0s8".into()),
        },
        // 实验3 also shows "Request who-has 192.168.56.102 ... tell 192.168.56.1" answered
        // "Reply 192.168.56.102 is-at 08:00:27:9f:f2:71" under arp_ignore=1.
        Experiment {
            name: "exp3: own enp0s8 address still answered under arp_ignore=1",
            vip_dev: LO,
            all_arp_ignore: 1,
            target: SERVER02_IP,
            seen: Seen::ReplyIsAt(SERVER02_IP, SERVER02_MAC),
        },
        // 实验4: VIP moved to enp0s8, all.arp_ignore=1: ping works again.
        Experiment {
            name: "exp4: VIP on enp0s8, all.arp_ignore=1 -> answered",
            vip_dev: ENP0S8,
            all_arp_ignore: 1,
            target: "1.1.1.2",
            seen: Seen::ReplyIsAt("1.1.1.2", SERVER02_MAC),
        },
    ];
    for case in cases {
        let mut h = server02();
        h.add_addr(case.vip_dev, ip("1.1.1.2"), 24, Scope::Global)
            .unwrap();
        h.sysctl("net.ipv4.conf.all.arp_ignore", case.all_arp_ignore)
            .unwrap();
        let req = if case.target == SERVER02_IP {
            who_has(SERVER02_IP, "192.168.56.1", "0a:00:27:00:00:00")
        } else {
            from_server01(case.target)
        };
        let out = h.arp_input(ENP0S8, &req);
        let seen = match out.reply() {
            Some(r) => {
                assert_eq!(r.op, ArpOp::Reply, "{}", case.name);
                // tcpdump's "Reply <ip> is-at <mac>" reads the ARP sender fields.
                let shown = r.to_string();
                assert_eq!(
                    shown,
                    format!("Reply {} is-at {}", r.sender_ip, r.sender_mac)
                );
                Seen::ReplyIsAt(
                    if r.sender_ip == ip("1.1.1.2") {
                        "1.1.1.2"
                    } else {
                        SERVER02_IP
                    },
                    if r.sender_mac == mac(SERVER02_MAC) {
                        SERVER02_MAC
                    } else {
                        "other"
                    },
                )
            }
            None => Seen::NoReply(out.reason().to_string()),
        };
        assert_eq!(seen, case.seen, "{}", case.name);
    }
}

#[test]
fn seed_experiment_2_traffic_for_lo_vip_enters_and_leaves_by_enp0s8() {
    // The notes: 1.1.1.2/24 on lo makes the VIP local (no packet is ever seen on lo), and
    // "server02 ... 192.168.56.101 为目标地址 ... 会走第三条路由规则 ... 从enp0s8网卡发出".
    let mut h = server02();
    h.add_addr(LO, ip("1.1.1.2"), 24, Scope::Global).unwrap();
    assert_eq!(h.addr_type(ip("1.1.1.2")), AddrType::Local);
    // A /24 on lo makes the whole subnet local (the notes' 1.2.3.1/24 ping experiment).
    assert_eq!(h.addr_type(ip("1.1.1.77")), AddrType::Local);
    assert_eq!(
        h.route_output(ip("1.1.1.2")).unwrap().kind,
        RouteKind::Local
    );
    let back = h.route_output(ip(SERVER01_IP)).unwrap();
    assert_eq!((back.ifindex, back.kind), (ENP0S8, RouteKind::Unicast));
    // With /32 only the VIP itself is local ("其他的IP都无法ping通").
    let mut h32 = server02();
    h32.add_addr(LO, ip("1.2.3.1"), 32, Scope::Global).unwrap();
    assert_eq!(h32.addr_type(ip("1.2.3.1")), AddrType::Local);
    assert_eq!(h32.addr_type(ip("1.2.3.2")), AddrType::Unicast);
}

#[test]
fn seed_experiment_3_requester_retries_three_times_then_gives_up() {
    // server01's view of 实验3: "Request who-has 1.1.1.2" at 20:18:45.248, 46.249, 47.252
    // (three requests one second apart: mcast_solicit 3, retrans_time 1 s), then
    // "Destination Host Unreachable".
    let mut server02 = server02();
    server02
        .add_addr(LO, ip("1.1.1.2"), 24, Scope::Global)
        .unwrap();
    server02.sysctl("net.ipv4.conf.all.arp_ignore", 1).unwrap();
    let mut nt: NeighbourTable<Vec<u8>> = NeighbourTable::new(NeighConfig::default());
    let vip = IpAddr::V4(ip("1.1.1.2"));
    let src = Some(IpAddr::V4(ip(SERVER01_IP)));
    assert!(matches!(
        nt.resolve(0, 3, vip, src, vec![0u8; 98]),
        lvs_arp::Resolved::Queued
    ));
    let mut sent_at = Vec::new();
    let mut now = 0;
    loop {
        while let Some(s) = nt.poll_transmit() {
            sent_at.push(now);
            let req = from_server01("1.1.1.2");
            assert_eq!(s.target, vip);
            // Every request reaches server02, which stays silent.
            assert!(server02.arp_input(ENP0S8, &req).reply().is_none());
        }
        if let Some(ev) = nt.poll_event() {
            assert_eq!(
                ev,
                NeighEvent::Failed {
                    ifindex: 3,
                    ip: vip,
                    dropped: 1
                }
            );
            break;
        }
        now = nt.poll_timeout().unwrap();
        nt.handle_timeout(now);
    }
    assert_eq!(sent_at, vec![0, 1000, 2000]);
    assert_eq!(now, 3000);
}

/// A real server as the notes' DR section configures it: RIP on enp0s8, the VIP on lo/32,
/// `net.ipv4.conf.{all,lo}.arp_ignore` and `arp_announce` as given.
fn real_server(arp_ignore: i32, arp_announce: i32) -> Host {
    let mut h = server02();
    h.add_addr(LO, ip("192.168.56.200"), 32, Scope::Global)
        .unwrap();
    for key in [
        "net.ipv4.conf.all.arp_ignore",
        "net.ipv4.conf.lo.arp_ignore",
    ] {
        h.sysctl(key, arp_ignore).unwrap();
    }
    for key in [
        "net.ipv4.conf.all.arp_announce",
        "net.ipv4.conf.lo.arp_announce",
    ] {
        h.sysctl(key, arp_announce).unwrap();
    }
    h
}

#[test]
fn lvs_dr_recipe_real_server_never_answers_for_vip_and_never_announces_it() {
    // "DR模式下要求arp_ignore参数要求配置为1" and "arp_announce参数要求配置为2".
    struct Case {
        name: &'static str,
        arp_ignore: i32,
        arp_announce: i32,
        answers_vip: bool,
        request_source: &'static str,
    }
    let cases = [
        Case {
            name: "recipe: arp_ignore=1 arp_announce=2 -> silent about the VIP, RIP as source",
            arp_ignore: 1,
            arp_announce: 2,
            answers_vip: false,
            request_source: SERVER02_IP,
        },
        Case {
            name: "defaults 0/0 -> answers for the VIP and leaks it as ARP source",
            arp_ignore: 0,
            arp_announce: 0,
            answers_vip: true,
            request_source: "192.168.56.200",
        },
        Case {
            name: "arp_ignore=1 alone -> silent, but still leaks the VIP as source",
            arp_ignore: 1,
            arp_announce: 0,
            answers_vip: false,
            request_source: "192.168.56.200",
        },
        Case {
            name: "arp_announce=1 is not enough: the VIP is on-link with the router",
            arp_ignore: 1,
            arp_announce: 1,
            answers_vip: false,
            request_source: "192.168.56.200",
        },
    ];
    for c in cases {
        let h = real_server(c.arp_ignore, c.arp_announce);
        // The router (192.168.56.1) asks who has the VIP.
        let req = who_has("192.168.56.200", "192.168.56.1", "0a:00:27:00:00:00");
        let out = h.arp_input(ENP0S8, &req);
        assert_eq!(
            out.reply().is_some(),
            c.answers_vip,
            "{}: {}",
            c.name,
            out.reason()
        );
        if let Some(r) = out.reply() {
            // With arp_ignore=0 the RS hijacks the VIP with its own NIC's MAC.
            assert_eq!(r.sender_mac, mac(SERVER02_MAC), "{}", c.name);
        } else {
            assert_eq!(
                out.reason().to_string(),
                "arp_ignore=1: target 192.168.56.200 not on enp0s8",
                "{}",
                c.name
            );
        }
        // The RS answers a client from the VIP; resolving the router picks the source.
        let (frame, src) = h
            .arp_solicit(ENP0S8, ip("192.168.56.1"), Some(ip("192.168.56.200")), None)
            .unwrap();
        assert_eq!(frame.sender_ip, ip(c.request_source), "{}: {}", c.name, src);
        assert_eq!(frame.sender_mac, mac(SERVER02_MAC));
    }
}
