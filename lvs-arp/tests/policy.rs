//! arp_process decisions, table-driven against the kernel's rules (net/ipv4/arp.c and
//! Documentation/networking/ip-sysctl.rst), on a two-NIC host with addresses on lo.

mod common;

use common::*;
use lvs_arp::{
    ArpFrame, ArpOp, DevConf, EffectiveConf, GarpForm, Host, HostError, Learn, LearnState, MacAddr,
    Reason, Route, Scope, SelectRule, SourceRule,
};

const ETH0: u32 = 2;
const ETH1: u32 = 3;
const ETH0_MAC: &str = "02:00:00:00:00:01";
const ETH1_MAC: &str = "02:00:00:00:00:02";
const PEER_MAC: &str = "02:00:00:00:00:99";

/// lo: 127.0.0.1/8 host, VIP 10.0.0.100/32 global, 10.9.9.9/32 scope host;
/// eth0: 10.0.0.1/24; eth1: 10.1.0.1/24.
fn two_nic_host() -> Host {
    let mut h = Host::new();
    h.add_loopback("lo", 1).unwrap();
    h.add_interface("eth0", ETH0, mac(ETH0_MAC)).unwrap();
    h.add_interface("eth1", ETH1, mac(ETH1_MAC)).unwrap();
    h.add_addr(1, ip("10.0.0.100"), 32, Scope::Global).unwrap();
    h.add_addr(1, ip("10.9.9.9"), 32, Scope::Host).unwrap();
    h.add_addr(ETH0, ip("10.0.0.1"), 24, Scope::Global).unwrap();
    h.add_addr(ETH1, ip("10.1.0.1"), 24, Scope::Global).unwrap();
    h
}

#[test]
fn every_arp_ignore_value_against_the_sysctl_table() {
    // ip-sysctl.rst arp_ignore: 0 reply for any local target address, configured on any
    // interface; 1 only if the target is configured on the incoming interface; 2 as 1 and the
    // sender is in the same subnet; 3 do not reply for scope-host addresses (only link/global
    // are answered); 4-7 reserved; 8 do not reply for all local addresses. arp.c: values not
    // listed (above 8) reply.
    // Columns: a) target on eth0, sender in its subnet; b) target on eth0, sender off-subnet;
    // c) global VIP on lo; d) address of eth1; e) host-scope address on lo.
    let targets = [
        ("10.0.0.1", "10.0.0.50"),
        ("10.0.0.1", "10.5.5.5"),
        ("10.0.0.100", "10.0.0.50"),
        ("10.1.0.1", "10.0.0.50"),
        ("10.9.9.9", "10.0.0.50"),
    ];
    let table: [(i32, [bool; 5]); 13] = [
        (0, [true, true, true, true, true]),
        (1, [true, true, false, false, false]),
        (2, [true, false, false, false, false]),
        (3, [true, true, true, true, false]),
        (4, [true; 5]),
        (5, [true; 5]),
        (6, [true; 5]),
        (7, [true; 5]),
        (8, [false; 5]),
        (9, [true; 5]),
        (100, [true; 5]),
        (i32::MAX, [true; 5]),
        (-1, [true; 5]),
    ];
    for (value, expect) in table {
        let mut h = two_nic_host();
        // Set both so that negative values survive max(all, dev).
        h.sysctl("net.ipv4.conf.all.arp_ignore", value).unwrap();
        h.sysctl("net.ipv4.conf.eth0.arp_ignore", value).unwrap();
        for ((target, sender), want) in targets.iter().zip(expect) {
            let out = h.arp_input(ETH0, &who_has(target, sender, PEER_MAC));
            assert_eq!(
                out.reply().is_some(),
                want,
                "arp_ignore={value} target {target} sender {sender}: {}",
                out.reason()
            );
            if !want {
                assert!(matches!(out.reason(), Reason::ArpIgnore { value: v, .. } if v == value));
                // A request for us that we ignore teaches nothing (arp_process: goto out).
                assert_eq!(out.learn, Learn::Nothing);
            }
        }
    }
}

#[test]
fn arp_ignore_reasons_read_like_the_rules() {
    let cases = [
        (
            1,
            "10.0.0.100",
            "10.0.0.50",
            "arp_ignore=1: target 10.0.0.100 not on eth0",
        ),
        (
            2,
            "10.0.0.1",
            "10.5.5.5",
            "arp_ignore=2: target 10.0.0.1 not on eth0 in a subnet with sender 10.5.5.5",
        ),
        (
            3,
            "10.9.9.9",
            "10.0.0.50",
            "arp_ignore=3: target 10.9.9.9 has no address of scope link or global",
        ),
        (
            8,
            "10.0.0.1",
            "10.0.0.50",
            "arp_ignore=8: never reply (target 10.0.0.1 on eth0)",
        ),
        (
            0,
            "10.0.0.100",
            "10.0.0.50",
            "arp_ignore=0: target 10.0.0.100 is local, reply on eth0",
        ),
        (
            1,
            "10.0.0.1",
            "10.0.0.50",
            "arp_ignore=1: target 10.0.0.1 is on eth0",
        ),
    ];
    for (value, target, sender, text) in cases {
        let mut h = two_nic_host();
        h.sysctl("net.ipv4.conf.all.arp_ignore", value).unwrap();
        let out = h.arp_input(ETH0, &who_has(target, sender, PEER_MAC));
        assert_eq!(out.reason().to_string(), text);
    }
}

#[test]
fn all_and_interface_values_combine_by_max_or_or() {
    // include/linux/inetdevice.h: IN_DEV_ARP_IGNORE / ARP_ANNOUNCE / ARP_ACCEPT are MAXCONF;
    // IN_DEV_ARPFILTER, drop_gratuitous_arp, ROUTE_LOCALNET are ORCONF.
    struct Case {
        name: &'static str,
        all: DevConf,
        dev: DevConf,
        want: EffectiveConf,
    }
    let d = DevConf::default();
    let cases = [
        Case {
            name: "all.arp_ignore=1 beats eth0=0 (the seeds: 只要修改all即可)",
            all: DevConf { arp_ignore: 1, ..d },
            dev: d,
            want: EffectiveConf {
                arp_ignore: 1,
                arp_announce: 0,
                arp_accept: 0,
                arp_filter: false,
                drop_gratuitous_arp: false,
                route_localnet: false,
            },
        },
        Case {
            name: "larger interface values win: 取较大值生效",
            all: DevConf {
                arp_ignore: 1,
                arp_announce: 1,
                arp_accept: 1,
                ..d
            },
            dev: DevConf {
                arp_ignore: 8,
                arp_announce: 2,
                arp_accept: 2,
                ..d
            },
            want: EffectiveConf {
                arp_ignore: 8,
                arp_announce: 2,
                arp_accept: 2,
                arp_filter: false,
                drop_gratuitous_arp: false,
                route_localnet: false,
            },
        },
        Case {
            name: "an interface cannot lower all",
            all: DevConf {
                arp_ignore: 2,
                arp_announce: 2,
                ..d
            },
            dev: DevConf {
                arp_ignore: 0,
                arp_announce: 0,
                ..d
            },
            want: EffectiveConf {
                arp_ignore: 2,
                arp_announce: 2,
                arp_accept: 0,
                arp_filter: false,
                drop_gratuitous_arp: false,
                route_localnet: false,
            },
        },
        Case {
            name: "OR flags: either side turns them on",
            all: DevConf {
                arp_filter: 1,
                route_localnet: 0,
                ..d
            },
            dev: DevConf {
                drop_gratuitous_arp: 5,
                route_localnet: 1,
                ..d
            },
            want: EffectiveConf {
                arp_ignore: 0,
                arp_announce: 0,
                arp_accept: 0,
                arp_filter: true,
                drop_gratuitous_arp: true,
                route_localnet: true,
            },
        },
    ];
    for c in cases {
        let mut h = two_nic_host();
        *h.all_mut() = c.all;
        h.interface_mut(ETH0).unwrap().conf = c.dev;
        assert_eq!(h.effective(ETH0).unwrap(), c.want, "{}", c.name);
    }
}

#[test]
fn interface_value_alone_applies_to_that_interface_only() {
    let mut h = two_nic_host();
    h.sysctl("net.ipv4.conf.eth1.arp_ignore", 1).unwrap();
    // eth0 still answers for the lo VIP, eth1 does not.
    assert!(
        h.arp_input(ETH0, &who_has("10.0.0.100", "10.0.0.50", PEER_MAC))
            .reply()
            .is_some()
    );
    let other = ArpFrame::request(mac(PEER_MAC), ip("10.1.0.50"), ip("10.0.0.100"), None);
    let out = h.arp_input(ETH1, &other);
    assert_eq!(
        out.reason().to_string(),
        "arp_ignore=1: target 10.0.0.100 not on eth1"
    );
}

/// eth0 10.0.0.1/24 and eth1 10.0.0.2/24 on one segment: both hear every broadcast.
fn same_subnet_host() -> Host {
    let mut h = Host::new();
    h.add_loopback("lo", 1).unwrap();
    h.add_interface("eth0", ETH0, mac(ETH0_MAC)).unwrap();
    h.add_interface("eth1", ETH1, mac(ETH1_MAC)).unwrap();
    h.add_addr(ETH0, ip("10.0.0.1"), 24, Scope::Global).unwrap();
    h.add_addr(ETH1, ip("10.0.0.2"), 24, Scope::Global).unwrap();
    h
}

#[test]
fn arp_filter_with_two_interfaces_on_one_subnet() {
    // ip-sysctl.rst arp_filter: answer on an interface only if the kernel would route a packet
    // from the ARP'd IP (target) to the sender out of that interface. arp.c arp_filter:
    // ip_route_output(sip, tip) must leave through the receiving device.
    struct Case {
        name: &'static str,
        arp_filter: i32,
        host_route_via_eth1: bool,
        on: u32,
        reply_mac: Option<&'static str>,
        reason: &'static str,
    }
    let cases = [
        Case {
            name: "arp_filter=0: ARP flux, eth0 answers for eth1's address",
            arp_filter: 0,
            host_route_via_eth1: false,
            on: ETH0,
            reply_mac: Some(ETH0_MAC),
            reason: "arp_ignore=0: target 10.0.0.2 is local, reply on eth0",
        },
        Case {
            name: "arp_filter=0: eth1 answers too",
            arp_filter: 0,
            host_route_via_eth1: false,
            on: ETH1,
            reply_mac: Some(ETH1_MAC),
            reason: "arp_ignore=0: target 10.0.0.2 is local, reply on eth1",
        },
        Case {
            name: "arp_filter=1: route to the sender uses eth0 (first connected route)",
            arp_filter: 1,
            host_route_via_eth1: false,
            on: ETH1,
            reply_mac: None,
            reason: "arp_filter=1: route from 10.0.0.2 to 10.0.0.9 leaves via eth0, not eth1",
        },
        Case {
            name: "arp_filter=1: eth0 still answers (its route)",
            arp_filter: 1,
            host_route_via_eth1: false,
            on: ETH0,
            reply_mac: Some(ETH0_MAC),
            reason: "arp_ignore=0: target 10.0.0.2 is local, reply on eth0",
        },
        Case {
            name: "arp_filter=1 + host route via eth1: only eth1 answers",
            arp_filter: 1,
            host_route_via_eth1: true,
            on: ETH1,
            reply_mac: Some(ETH1_MAC),
            reason: "arp_ignore=0: target 10.0.0.2 is local, reply on eth1",
        },
        Case {
            name: "arp_filter=1 + host route via eth1: eth0 is silent",
            arp_filter: 1,
            host_route_via_eth1: true,
            on: ETH0,
            reply_mac: None,
            reason: "arp_filter=1: route from 10.0.0.2 to 10.0.0.9 leaves via eth1, not eth0",
        },
    ];
    for c in cases {
        let mut h = same_subnet_host();
        h.sysctl("net.ipv4.conf.all.arp_filter", c.arp_filter)
            .unwrap();
        if c.host_route_via_eth1 {
            let r = Route {
                dst: ip("10.0.0.9"),
                prefix_len: 32,
                ifindex: ETH1,
                gateway: None,
                src: None,
                metric: 0,
            };
            h.add_route(r).unwrap();
        }
        let out = h.arp_input(c.on, &who_has("10.0.0.2", "10.0.0.9", PEER_MAC));
        assert_eq!(
            out.reply().map(|r| r.sender_mac),
            c.reply_mac.map(mac),
            "{}",
            c.name
        );
        assert_eq!(out.reason().to_string(), c.reason, "{}", c.name);
    }
}

#[test]
fn arp_filter_without_any_route_to_the_sender_drops() {
    let mut h = Host::new();
    h.add_interface("eth0", ETH0, mac(ETH0_MAC)).unwrap();
    h.add_addr(ETH0, ip("10.0.0.1"), 24, Scope::Global).unwrap();
    h.sysctl("net.ipv4.conf.eth0.arp_filter", 1).unwrap();
    let out = h.arp_input(ETH0, &who_has("10.0.0.1", "172.16.0.9", PEER_MAC));
    assert_eq!(
        out.reason().to_string(),
        "arp_filter=1: no route from 10.0.0.1 to 172.16.0.9"
    );
}

#[test]
fn reply_fields_follow_arp_send_reply() {
    // arp_send(ARPOP_REPLY, ETH_P_ARP, sip, dev, tip, sha, dev->dev_addr, sha): Ethernet to the
    // requester's *ARP* sender MAC, from the device MAC; sender = dev MAC / target IP; target =
    // requester MAC / IP. The Ethernet source of the request is not used.
    let h = two_nic_host();
    let mut req = who_has("10.0.0.100", "10.0.0.50", PEER_MAC);
    req.eth_src = mac("02:00:00:00:00:77");
    let out = h.arp_input(ETH0, &req);
    let r = *out.reply().unwrap();
    assert_eq!(r.eth_dst, mac(PEER_MAC));
    assert_eq!(r.eth_src, mac(ETH0_MAC));
    assert_eq!(r.op, ArpOp::Reply);
    assert_eq!(
        (r.sender_mac, r.sender_ip),
        (mac(ETH0_MAC), ip("10.0.0.100"))
    );
    assert_eq!(
        (r.target_mac, r.target_ip),
        (mac(PEER_MAC), ip("10.0.0.50"))
    );
    // neigh_event_ns: the requester is recorded STALE.
    assert_eq!(
        out.learn,
        Learn::Event {
            ifindex: ETH0,
            ip: ip("10.0.0.50"),
            mac: mac(PEER_MAC)
        }
    );
}

#[test]
fn frames_the_kernel_drops_before_any_policy() {
    struct Case {
        name: &'static str,
        setup: fn(&mut Host),
        on: u32,
        frame: ArpFrame,
        reason: &'static str,
    }
    fn none(_: &mut Host) {}
    let unicast_elsewhere = {
        let mut f = who_has("10.0.0.1", "10.0.0.50", PEER_MAC);
        f.eth_dst = mac("02:00:00:00:00:55");
        f
    };
    let cases = [
        Case {
            name: "multicast target",
            setup: none,
            on: ETH0,
            frame: who_has("224.0.0.251", "10.0.0.50", PEER_MAC),
            reason: "target 224.0.0.251 is multicast",
        },
        Case {
            name: "loopback target without route_localnet",
            setup: none,
            on: ETH0,
            frame: who_has("127.0.0.1", "10.0.0.50", PEER_MAC),
            reason: "route_localnet=0: target 127.0.0.1 is a loopback address",
        },
        Case {
            name: "drop_gratuitous_arp=1 drops sender == target",
            setup: |h| {
                h.sysctl("net.ipv4.conf.all.drop_gratuitous_arp", 1)
                    .unwrap()
            },
            on: ETH0,
            frame: ArpFrame::gratuitous(mac(PEER_MAC), ip("10.0.0.77"), GarpForm::Kernel),
            reason: "drop_gratuitous_arp=1: sender IP == target IP 10.0.0.77",
        },
        Case {
            name: "unicast to another MAC is PACKET_OTHERHOST",
            setup: none,
            on: ETH0,
            frame: unicast_elsewhere,
            reason: "frame to 02:00:00:00:00:55 is for another host, not eth0",
        },
        Case {
            name: "interface down",
            setup: |h| h.interface_mut(ETH0).unwrap().up = false,
            on: ETH0,
            frame: who_has("10.0.0.1", "10.0.0.50", PEER_MAC),
            reason: "eth0 is down",
        },
        Case {
            name: "IFF_NOARP",
            setup: |h| h.interface_mut(ETH0).unwrap().noarp = true,
            on: ETH0,
            frame: who_has("10.0.0.1", "10.0.0.50", PEER_MAC),
            reason: "eth0 does not do ARP",
        },
        Case {
            name: "ARP never arrives on lo",
            setup: none,
            on: 1,
            frame: who_has("10.0.0.100", "10.0.0.50", PEER_MAC),
            reason: "lo does not do ARP",
        },
        Case {
            name: "unknown ifindex",
            setup: none,
            on: 42,
            frame: who_has("10.0.0.1", "10.0.0.50", PEER_MAC),
            reason: "no interface with index 42",
        },
    ];
    for c in cases {
        let mut h = two_nic_host();
        (c.setup)(&mut h);
        let out = h.arp_input(c.on, &c.frame);
        assert!(out.reply().is_none(), "{}", c.name);
        assert_eq!(out.reason().to_string(), c.reason, "{}", c.name);
        assert_eq!(out.learn, Learn::Nothing, "{}", c.name);
    }
}

#[test]
fn route_localnet_makes_loopback_targets_answerable() {
    // With route_localnet the 127/8 check in arp_process is skipped; 127/8 is local via lo.
    let mut h = two_nic_host();
    h.sysctl("net.ipv4.conf.eth0.route_localnet", 1).unwrap();
    let out = h.arp_input(ETH0, &who_has("127.0.0.1", "10.0.0.50", PEER_MAC));
    assert_eq!(out.reply().unwrap().sender_mac, mac(ETH0_MAC));
}

#[test]
fn duplicate_address_probe_sender_zero() {
    // arp_process: sip == 0: reply if request && target local && !arp_ignore; arp_filter is
    // not consulted; nothing is learned; the reply goes to sha with target IP 0.0.0.0.
    struct Case {
        name: &'static str,
        arp_ignore: i32,
        arp_filter: i32,
        target: &'static str,
        op: ArpOp,
        replies: bool,
    }
    let cases = [
        Case {
            name: "probe for eth0's address",
            arp_ignore: 0,
            arp_filter: 0,
            target: "10.0.0.1",
            op: ArpOp::Request,
            replies: true,
        },
        Case {
            name: "probe for the lo VIP, arp_ignore=0",
            arp_ignore: 0,
            arp_filter: 0,
            target: "10.0.0.100",
            op: ArpOp::Request,
            replies: true,
        },
        Case {
            name: "probe for the lo VIP, arp_ignore=1",
            arp_ignore: 1,
            arp_filter: 0,
            target: "10.0.0.100",
            op: ArpOp::Request,
            replies: false,
        },
        Case {
            name: "probe for eth1's address with arp_filter=1 (not consulted)",
            arp_ignore: 0,
            arp_filter: 1,
            target: "10.1.0.1",
            op: ArpOp::Request,
            replies: true,
        },
        Case {
            name: "probe for a foreign address",
            arp_ignore: 0,
            arp_filter: 0,
            target: "10.0.0.77",
            op: ArpOp::Request,
            replies: false,
        },
        Case {
            name: "a reply from 0.0.0.0",
            arp_ignore: 0,
            arp_filter: 0,
            target: "10.0.0.1",
            op: ArpOp::Reply,
            replies: false,
        },
    ];
    for c in cases {
        let mut h = two_nic_host();
        h.sysctl("net.ipv4.conf.all.arp_ignore", c.arp_ignore)
            .unwrap();
        h.sysctl("net.ipv4.conf.all.arp_filter", c.arp_filter)
            .unwrap();
        let mut probe = who_has(c.target, "0.0.0.0", PEER_MAC);
        probe.op = c.op;
        let out = h.arp_input(ETH0, &probe);
        assert_eq!(
            out.reply().is_some(),
            c.replies,
            "{}: {}",
            c.name,
            out.reason()
        );
        assert_eq!(out.learn, Learn::Nothing, "{}", c.name);
        if let Some(r) = out.reply() {
            assert_eq!(
                (r.eth_dst, r.target_mac, r.target_ip),
                (mac(PEER_MAC), mac(PEER_MAC), ip("0.0.0.0"))
            );
            assert_eq!(r.sender_ip, ip(c.target));
            assert!(matches!(out.reason(), Reason::DadReply { .. }));
        }
    }
}

#[test]
fn martian_senders_get_no_reply_and_go_to_learning() {
    // ip_route_input_slow: multicast/broadcast/0.x/loopback sources are martian;
    // fib_validate_source (rp_filter 0): a source that is one of our addresses is martian.
    for sender in [
        "224.0.0.9",
        "255.255.255.255",
        "0.1.2.3",
        "127.0.0.5",
        "10.1.0.1",
    ] {
        let h = two_nic_host();
        let out = h.arp_input(ETH0, &who_has("10.0.0.1", sender, PEER_MAC));
        assert!(out.reply().is_none(), "{sender}");
        assert_eq!(out.reason().to_string(), format!("martian sender {sender}"));
        assert!(
            matches!(out.learn, Learn::Update { create: false, .. }),
            "{sender}"
        );
    }
}

#[test]
fn arp_accept_learning_decisions() {
    // arp_accept(): 0 never creates from unsolicited ARP, 1 does, 2 only when the sender is in
    // a subnet of the receiving interface (inet_confirm_addr(in_dev, sip, 0, RT_SCOPE_LINK)).
    // arp_is_garp: sip == tip (a reply also needs tha == sha) and sip unicast. Creation needs
    // garp, or a reply from a unicast sender. State: REACHABLE only for a reply unicast to us.
    struct Case {
        name: &'static str,
        arp_accept: i32,
        frame: ArpFrame,
        garp: bool,
        create: bool,
        state: LearnState,
    }
    let peer = mac(PEER_MAC);
    let garp_reply_mismatch = {
        let mut f = ArpFrame::gratuitous(peer, ip("10.0.0.77"), GarpForm::Kernel);
        f.op = ArpOp::Reply;
        f
    };
    let garp_reply = {
        let mut f = ArpFrame::gratuitous(peer, ip("10.0.0.77"), GarpForm::Kernel);
        f.op = ArpOp::Reply;
        f.target_mac = peer;
        f
    };
    let cases = [
        Case {
            name: "kernel GARP, arp_accept=0",
            arp_accept: 0,
            frame: ArpFrame::gratuitous(peer, ip("10.0.0.77"), GarpForm::Kernel),
            garp: true,
            create: false,
            state: LearnState::Stale,
        },
        Case {
            name: "kernel GARP, arp_accept=1",
            arp_accept: 1,
            frame: ArpFrame::gratuitous(peer, ip("10.0.0.77"), GarpForm::Kernel),
            garp: true,
            create: true,
            state: LearnState::Stale,
        },
        Case {
            name: "keepalived GARP, arp_accept=1",
            arp_accept: 1,
            frame: ArpFrame::gratuitous(peer, ip("10.0.0.77"), GarpForm::Keepalived),
            garp: true,
            create: true,
            state: LearnState::Stale,
        },
        Case {
            name: "GARP from eth0's subnet, arp_accept=2",
            arp_accept: 2,
            frame: ArpFrame::gratuitous(peer, ip("10.0.0.77"), GarpForm::Kernel),
            garp: true,
            create: true,
            state: LearnState::Stale,
        },
        Case {
            name: "GARP from another subnet, arp_accept=2",
            arp_accept: 2,
            frame: ArpFrame::gratuitous(peer, ip("10.7.7.7"), GarpForm::Kernel),
            garp: true,
            create: false,
            state: LearnState::Stale,
        },
        Case {
            name: "arp_accept=3 is not a known value: no creation",
            arp_accept: 3,
            frame: ArpFrame::gratuitous(peer, ip("10.0.0.77"), GarpForm::Kernel),
            garp: true,
            create: false,
            state: LearnState::Stale,
        },
        Case {
            name: "unsolicited unicast reply, arp_accept=1",
            arp_accept: 1,
            frame: is_at("10.0.0.78", PEER_MAC, "10.0.0.1", ETH0_MAC),
            garp: false,
            create: true,
            state: LearnState::Reachable,
        },
        Case {
            name: "unsolicited unicast reply, arp_accept=0",
            arp_accept: 0,
            frame: is_at("10.0.0.78", PEER_MAC, "10.0.0.1", ETH0_MAC),
            garp: false,
            create: false,
            state: LearnState::Reachable,
        },
        Case {
            name: "broadcast reply asserts no reachability",
            arp_accept: 1,
            frame: is_at("10.0.0.78", PEER_MAC, "10.0.0.1", "ff:ff:ff:ff:ff:ff"),
            garp: false,
            create: true,
            state: LearnState::Stale,
        },
        Case {
            name: "GARP reply with tha != sha is no GARP",
            arp_accept: 0,
            frame: garp_reply_mismatch,
            garp: false,
            create: false,
            state: LearnState::Stale,
        },
        Case {
            name: "GARP reply with tha == sha is one",
            arp_accept: 1,
            frame: garp_reply,
            garp: true,
            create: true,
            state: LearnState::Stale,
        },
        Case {
            name: "request for someone else never creates",
            arp_accept: 1,
            frame: who_has("10.0.0.200", "10.0.0.50", PEER_MAC),
            garp: false,
            create: false,
            state: LearnState::Stale,
        },
    ];
    for c in cases {
        let mut h = two_nic_host();
        h.sysctl("net.ipv4.conf.eth0.arp_accept", c.arp_accept)
            .unwrap();
        let out = h.arp_input(ETH0, &c.frame);
        assert!(out.reply().is_none(), "{}", c.name);
        assert_eq!(
            out.learn,
            Learn::Update {
                ifindex: ETH0,
                ip: c.frame.sender_ip,
                mac: peer,
                state: c.state,
                garp: c.garp,
                create: c.create
            },
            "{}",
            c.name
        );
    }
}

#[test]
fn both_gratuitous_forms_are_byte_exact() {
    // Kernel (arp_create with target_hw NULL): target MAC zero. keepalived
    // (send_gratuitous_arp_immediate): target MAC ff:ff:ff:ff:ff:ff. Both: Ethernet broadcast,
    // request, sip == tip, 42 bytes.
    let m = mac("00:50:56:aa:bb:cc");
    let vip = ip("192.168.56.200");
    let head: [u8; 28] = [
        0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x00, 0x50, 0x56, 0xaa, 0xbb, 0xcc, 0x08,
        0x06, // eth
        0x00, 0x01, 0x08, 0x00, 0x06, 0x04, 0x00, 0x01, // htype, ptype, hlen, plen, op=1
        0x00, 0x50, 0x56, 0xaa, 0xbb, 0xcc, // sha
    ];
    let sip = [192, 168, 56, 200];
    let expect = |tha: [u8; 6]| {
        let mut v = head.to_vec();
        v.extend_from_slice(&sip);
        v.extend_from_slice(&tha);
        v.extend_from_slice(&sip);
        v
    };
    assert_eq!(
        ArpFrame::gratuitous(m, vip, GarpForm::Kernel)
            .to_bytes()
            .to_vec(),
        expect([0; 6])
    );
    assert_eq!(
        ArpFrame::gratuitous(m, vip, GarpForm::Keepalived)
            .to_bytes()
            .to_vec(),
        expect([0xff; 6])
    );
    assert!(ArpFrame::gratuitous(m, vip, GarpForm::Keepalived).is_gratuitous());
}

/// lo: 127.0.0.1/8, VIP 10.0.0.100/32; eth0: 10.0.0.1/24, 10.0.0.2/24 (secondary),
/// 192.168.1.1/24; eth1: 10.1.0.1/24; eth2: no address.
fn announce_host(arp_announce: i32) -> Host {
    let mut h = Host::new();
    h.add_loopback("lo", 1).unwrap();
    h.add_interface("eth0", ETH0, mac(ETH0_MAC)).unwrap();
    h.add_interface("eth1", ETH1, mac(ETH1_MAC)).unwrap();
    h.add_interface("eth2", 4, mac("02:00:00:00:00:03"))
        .unwrap();
    h.add_addr(1, ip("10.0.0.100"), 32, Scope::Global).unwrap();
    h.add_addr(ETH0, ip("10.0.0.1"), 24, Scope::Global).unwrap();
    h.add_addr(ETH0, ip("10.0.0.2"), 24, Scope::Global).unwrap();
    h.add_addr(ETH0, ip("192.168.1.1"), 24, Scope::Global)
        .unwrap();
    h.add_addr(ETH1, ip("10.1.0.1"), 24, Scope::Global).unwrap();
    h.sysctl("net.ipv4.conf.eth0.arp_announce", arp_announce)
        .unwrap();
    h.sysctl("net.ipv4.conf.eth2.arp_announce", arp_announce)
        .unwrap();
    h
}

#[test]
fn arp_announce_source_choice() {
    // arp_solicit: 0 any local saddr; 1 local saddr on-link with the target
    // (inet_addr_onlink); 2 never saddr. Fallback inet_select_addr(dev, target, RT_SCOPE_LINK):
    // primary in target's subnet, first primary on dev, first non-link primary on any device
    // in device order (lo first), else 0.0.0.0.
    struct Case {
        name: &'static str,
        arp_announce: i32,
        dev: u32,
        target: &'static str,
        trigger: Option<&'static str>,
        want: &'static str,
        rule: SourceRule,
    }
    let subnet = SourceRule::Select(SelectRule::DeviceSubnet);
    let cases = [
        Case {
            name: "0: the VIP on lo is local, used as is",
            arp_announce: 0,
            dev: ETH0,
            target: "10.0.0.254",
            trigger: Some("10.0.0.100"),
            want: "10.0.0.100",
            rule: SourceRule::Trigger,
        },
        Case {
            name: "0: eth1's address leaks onto eth0",
            arp_announce: 0,
            dev: ETH0,
            target: "10.0.0.254",
            trigger: Some("10.1.0.1"),
            want: "10.1.0.1",
            rule: SourceRule::Trigger,
        },
        Case {
            name: "0: a non-local source is not used",
            arp_announce: 0,
            dev: ETH0,
            target: "10.0.0.254",
            trigger: Some("8.8.8.8"),
            want: "10.0.0.1",
            rule: subnet,
        },
        Case {
            name: "0: no trigger packet",
            arp_announce: 0,
            dev: ETH0,
            target: "10.0.0.254",
            trigger: None,
            want: "10.0.0.1",
            rule: subnet,
        },
        Case {
            name: "1: on-link secondary kept",
            arp_announce: 1,
            dev: ETH0,
            target: "10.0.0.254",
            trigger: Some("10.0.0.2"),
            want: "10.0.0.2",
            rule: SourceRule::Trigger,
        },
        Case {
            name: "1: eth1's address is not on-link on eth0",
            arp_announce: 1,
            dev: ETH0,
            target: "10.0.0.254",
            trigger: Some("10.1.0.1"),
            want: "10.0.0.1",
            rule: subnet,
        },
        Case {
            name: "1: source and target in different subnets of eth0",
            arp_announce: 1,
            dev: ETH0,
            target: "192.168.1.9",
            trigger: Some("10.0.0.2"),
            want: "192.168.1.1",
            rule: subnet,
        },
        Case {
            name: "2: secondary avoided for the primary",
            arp_announce: 2,
            dev: ETH0,
            target: "10.0.0.254",
            trigger: Some("10.0.0.2"),
            want: "10.0.0.1",
            rule: subnet,
        },
        Case {
            name: "2: primary of the target's subnet",
            arp_announce: 2,
            dev: ETH0,
            target: "192.168.1.50",
            trigger: Some("10.0.0.100"),
            want: "192.168.1.1",
            rule: subnet,
        },
        Case {
            name: "2: target off every subnet: first primary",
            arp_announce: 2,
            dev: ETH0,
            target: "172.16.0.1",
            trigger: None,
            want: "10.0.0.1",
            rule: SourceRule::Select(SelectRule::DeviceFirstPrimary),
        },
        Case {
            name: "2: no address on eth2: first global primary, lo first",
            arp_announce: 2,
            dev: 4,
            target: "10.2.0.5",
            trigger: None,
            want: "10.0.0.100",
            rule: SourceRule::Select(SelectRule::OtherDevice(lvs_arp::IfName::new("lo").unwrap())),
        },
        Case {
            name: "5 acts as 0 (arp_solicit: default: case 0)",
            arp_announce: 5,
            dev: ETH0,
            target: "10.0.0.254",
            trigger: Some("10.1.0.1"),
            want: "10.1.0.1",
            rule: SourceRule::Trigger,
        },
    ];
    for c in cases {
        let h = announce_host(c.arp_announce);
        let src = h
            .arp_source(c.dev, ip(c.target), c.trigger.map(ip))
            .unwrap();
        assert_eq!(
            (src.ip, src.rule),
            (ip(c.want), c.rule),
            "{}: {src}",
            c.name
        );
        assert_eq!(src.arp_announce, c.arp_announce);
    }
}

#[test]
fn arp_source_without_any_address_is_unspecified() {
    let mut h = Host::new();
    h.add_interface("eth0", ETH0, mac(ETH0_MAC)).unwrap();
    let src = h.arp_source(ETH0, ip("10.0.0.1"), None).unwrap();
    assert_eq!((src.ip, src.rule), (ip("0.0.0.0"), SourceRule::Unspecified));
    let (frame, _) = h.arp_solicit(ETH0, ip("10.0.0.1"), None, None).unwrap();
    assert_eq!(
        (frame.eth_dst, frame.target_mac),
        (MacAddr::BROADCAST, MacAddr::ZERO)
    );
}

#[test]
fn address_list_order_and_errors_follow_inet_insert_ifa() {
    let mut h = Host::new();
    h.add_interface("eth0", ETH0, mac(ETH0_MAC)).unwrap();
    h.add_addr(ETH0, ip("10.0.0.1"), 24, Scope::Global).unwrap();
    h.add_addr(ETH0, ip("10.0.0.2"), 24, Scope::Global).unwrap();
    h.add_addr(ETH0, ip("169.254.1.1"), 16, Scope::Link)
        .unwrap();
    h.add_addr(ETH0, ip("192.168.1.1"), 24, Scope::Global)
        .unwrap();
    // Secondaries at the end; a primary after the last primary of equal or wider scope.
    let order: Vec<_> = h
        .interface(ETH0)
        .unwrap()
        .addrs()
        .iter()
        .map(|a| (a.local.to_string(), a.secondary))
        .collect();
    let want = [
        ("169.254.1.1", false),
        ("10.0.0.1", false),
        ("192.168.1.1", false),
        ("10.0.0.2", true),
    ];
    let want: Vec<_> = want.iter().map(|(a, s)| (a.to_string(), *s)).collect();
    assert_eq!(order, want);
    assert!(matches!(
        h.add_addr(ETH0, ip("10.0.0.2"), 24, Scope::Global),
        Err(HostError::AddressExists(..))
    ));
    assert!(matches!(
        h.add_addr(ETH0, ip("10.0.0.3"), 24, Scope::Link),
        Err(HostError::ScopeMismatch(..))
    ));
    // A different prefix length is a different subnet: primary.
    h.add_addr(ETH0, ip("10.0.0.3"), 25, Scope::Global).unwrap();
    assert!(
        !h.interface(ETH0)
            .unwrap()
            .addrs()
            .iter()
            .find(|a| a.local == ip("10.0.0.3"))
            .unwrap()
            .secondary
    );
    // Deleting a primary takes its secondaries along (promote_secondaries = 0).
    h.del_addr(ETH0, ip("10.0.0.1")).unwrap();
    assert!(!h.interface(ETH0).unwrap().has_addr(ip("10.0.0.2")));
    assert!(h.sysctl("net.ipv4.conf.eth9.arp_ignore", 1).is_err());
    assert!(h.sysctl("net.ipv4.conf.all.arp_bogus", 1).is_err());
}

#[test]
fn addr_type_follows_the_local_table() {
    // inet_addr_type: 0/8 and 255.255.255.255 broadcast, 224/4 multicast; local table from
    // fib_add_ifaddr: each address /32 local, lo prefixes local, subnet broadcasts (< /31).
    use lvs_arp::AddrType::*;
    let h = two_nic_host();
    let cases = [
        ("0.0.0.0", Broadcast),
        ("0.1.2.3", Broadcast),
        ("255.255.255.255", Broadcast),
        ("10.0.0.255", Broadcast),
        ("224.0.0.1", Multicast),
        ("10.0.0.1", Local),
        ("10.0.0.100", Local),
        ("10.9.9.9", Local),
        ("127.3.4.5", Local),
        ("127.255.255.255", Broadcast),
        ("10.0.0.7", Unicast),
        ("8.8.8.8", Unicast),
    ];
    for (a, want) in cases {
        assert_eq!(h.addr_type(ip(a)), want, "{a}");
    }
    // A request for a subnet broadcast address is not for us.
    let out = h.arp_input(ETH0, &who_has("10.0.0.255", "10.0.0.50", PEER_MAC));
    assert_eq!(out.reason().to_string(), "target 10.0.0.255 is not local");
}

mod property {
    use super::*;
    use lvs_arp::AddrType;
    use proptest::prelude::*;

    fn octet_ip() -> impl Strategy<Value = std::net::Ipv4Addr> {
        // Mostly addresses this host knows about, plus anything.
        prop_oneof![
            prop::sample::select(vec![
                "10.0.0.1",
                "10.0.0.100",
                "10.9.9.9",
                "10.1.0.1",
                "10.0.0.50",
                "10.0.0.255",
                "127.0.0.1",
                "0.0.0.0",
                "224.0.0.1",
                "255.255.255.255",
                "10.5.5.5",
            ])
            .prop_map(ip),
            any::<u32>().prop_map(std::net::Ipv4Addr::from),
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(512))]

        /// arp_process invariants for any frame, interface and sysctl values: a reply answers
        /// a request for a local target, goes back to the requester's sender MAC from the
        /// receiving NIC, and claims exactly the requested address.
        #[test]
        fn replies_obey_arp_process_invariants(
            ifindex in 0u32..5,
            ignore in -2i32..12, filter in 0i32..2, accept in 0i32..3, drop_garp in 0i32..2,
            request in any::<bool>(),
            sip in octet_ip(), tip in octet_ip(),
            sha in any::<[u8; 6]>(), tha in any::<[u8; 6]>(),
            eth_dst in prop_oneof![Just([0xffu8; 6]), Just([2, 0, 0, 0, 0, 1]), any::<[u8; 6]>()],
        ) {
            let mut h = two_nic_host();
            h.sysctl("net.ipv4.conf.all.arp_ignore", ignore).unwrap();
            h.sysctl("net.ipv4.conf.all.arp_filter", filter).unwrap();
            h.sysctl("net.ipv4.conf.all.arp_accept", accept).unwrap();
            h.sysctl("net.ipv4.conf.all.drop_gratuitous_arp", drop_garp).unwrap();
            let f = ArpFrame {
                eth_dst: MacAddr(eth_dst),
                eth_src: MacAddr(sha),
                hw_type: 1,
                op: if request { ArpOp::Request } else { ArpOp::Reply },
                sender_mac: MacAddr(sha),
                sender_ip: sip,
                target_mac: MacAddr(tha),
                target_ip: tip,
            };
            let out = h.arp_input(ifindex, &f);
            let _ = out.reason().to_string();
            if let Some(r) = out.reply() {
                let dev = h.interface(ifindex).unwrap();
                prop_assert!(request);
                prop_assert_eq!(h.addr_type(tip), AddrType::Local);
                prop_assert!(ignore != 8);
                prop_assert!(!(drop_garp == 1 && sip == tip));
                prop_assert_eq!((r.eth_dst, r.target_mac, r.target_ip), (MacAddr(sha), MacAddr(sha), sip));
                prop_assert_eq!((r.eth_src, r.sender_mac, r.sender_ip), (dev.mac, dev.mac, tip));
            }
            if let Learn::Update { create: true, .. } = out.learn {
                prop_assert!(accept == 1 || accept == 2);
            }
        }
    }
}
