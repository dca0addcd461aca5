//! IPv6 Neighbour Solicitation answering (net/ipv6/ndisc.c `ndisc_recv_ns`): only addresses of
//! the receiving interface are answered, so an LVS-DR real server's IPv6 VIP on lo is silent
//! without any sysctl, and the NA's flags and options follow `ndisc_send_na`.

mod common;

use std::net::Ipv6Addr;

use common::mac;
use lvs_arp::{
    Host, MacAddr, NaFlags, NdReason, NdiscFrame, NdiscMessage, NeighConfig, NeighbourTable,
    UpdateOutcome,
};

const ETH0: u32 = 2;

fn v6(s: &str) -> Ipv6Addr {
    s.parse().unwrap()
}

/// RS: RIP 2001:db8::5 and fe80::5 on eth0, VIP 2001:db8::100 on lo.
fn real_server6() -> Host {
    let mut h = Host::new();
    h.add_loopback("lo", 1).unwrap();
    h.add_interface("eth0", ETH0, mac("02:00:00:00:00:05"))
        .unwrap();
    h.add_addr6(ETH0, v6("2001:db8::5")).unwrap();
    h.add_addr6(ETH0, v6("fe80::5")).unwrap();
    h.add_addr6(1, v6("2001:db8::100")).unwrap();
    assert!(h.add_addr6(1, v6("2001:db8::100")).is_err());
    h
}

#[test]
fn ns_answering_table() {
    let peer = mac("02:00:00:00:00:99");
    let rs_mac = mac("02:00:00:00:00:05");
    let solicitor = v6("2001:db8::99");
    struct Case {
        name: &'static str,
        frame: NdiscFrame,
        on: u32,
        reply: Option<(Ipv6Addr, MacAddr, NaFlags, Option<MacAddr>)>,
        reason: &'static str,
    }
    let so = NaFlags {
        router: false,
        solicited: true,
        override_flag: true,
    };
    let cases = [
        Case {
            name: "multicast NS for the RIP: S, O, target link-layer option",
            frame: NdiscFrame::solicit(peer, solicitor, v6("2001:db8::5"), None),
            on: ETH0,
            reply: Some((solicitor, peer, so, Some(rs_mac))),
            reason: "target 2001:db8::5 is on eth0",
        },
        Case {
            name: "unicast NS (NUD) for the RIP: S only, no option",
            frame: NdiscFrame::solicit(peer, solicitor, v6("2001:db8::5"), Some(rs_mac)),
            on: ETH0,
            reply: Some((
                solicitor,
                peer,
                NaFlags {
                    override_flag: false,
                    ..so
                },
                None,
            )),
            reason: "target 2001:db8::5 is on eth0",
        },
        Case {
            name: "DAD probe for the link-local: to ff02::1, O only",
            frame: NdiscFrame::solicit(peer, Ipv6Addr::UNSPECIFIED, v6("fe80::5"), None),
            on: ETH0,
            reply: Some((
                v6("ff02::1"),
                mac("33:33:00:00:00:01"),
                NaFlags {
                    solicited: false,
                    ..so
                },
                Some(rs_mac),
            )),
            reason: "duplicate-address probe for fe80::5, which is on eth0",
        },
        Case {
            name: "NS for the VIP on lo: silent (the IPv6 analogue of arp_ignore=1)",
            frame: NdiscFrame::solicit(peer, solicitor, v6("2001:db8::100"), None),
            on: ETH0,
            reply: None,
            reason: "target 2001:db8::100 not on eth0",
        },
        Case {
            name: "an NA is not answered",
            frame: NdiscFrame::unsolicited_advert(peer, solicitor, false),
            on: ETH0,
            reply: None,
            reason: "neighbour advertisement: nothing to answer",
        },
        Case {
            name: "no ND on lo",
            frame: NdiscFrame::solicit(peer, solicitor, v6("2001:db8::100"), None),
            on: 1,
            reply: None,
            reason: "lo does not do neighbour discovery",
        },
        Case {
            name: "unicast to another host",
            frame: NdiscFrame::solicit(peer, solicitor, v6("2001:db8::5"), Some(peer)),
            on: ETH0,
            reply: None,
            reason: "frame to 02:00:00:00:00:99 is for another host, not eth0",
        },
    ];
    let h = real_server6();
    for c in cases {
        let out = h.ndisc_input(c.on, &c.frame, false);
        assert_eq!(out.reason.to_string(), c.reason, "{}", c.name);
        let got = out.reply.map(|r| {
            let NdiscMessage::Advert {
                flags,
                target,
                target_lladdr,
            } = r.message
            else {
                panic!("{}: not an NA", c.name)
            };
            assert_eq!(
                (r.src, target, r.eth_src, r.hop_limit),
                (target, target, rs_mac, 255)
            );
            (r.dst, r.eth_dst, flags, target_lladdr)
        });
        assert_eq!(got, c.reply, "{}", c.name);
        if let Some(r) = out.reply {
            // Every reply is a valid NA on the wire.
            let mut buf = [0u8; 128];
            let n = r.emit(&mut buf).unwrap();
            assert_eq!(NdiscFrame::parse(&buf[..n]).unwrap(), r, "{}", c.name);
        }
    }
    assert!(matches!(
        h.ndisc_input(
            9,
            &NdiscFrame::solicit(peer, solicitor, v6("2001:db8::5"), None),
            false
        )
        .reason,
        NdReason::UnknownInterface { ifindex: 9 }
    ));
}

#[test]
fn router_flag_follows_forwarding() {
    let h = real_server6();
    let ns = NdiscFrame::solicit(
        mac("02:00:00:00:00:99"),
        v6("2001:db8::99"),
        v6("2001:db8::5"),
        None,
    );
    let r = h.ndisc_input(ETH0, &ns, true).reply.unwrap();
    assert!(matches!(
        r.message,
        NdiscMessage::Advert {
            flags: NaFlags { router: true, .. },
            ..
        }
    ));
}

#[test]
fn director_resolves_an_ipv6_real_server() {
    // Director's table asks, RS answers, the NA feeds learn_ndisc and releases the packet.
    let dir_mac = mac("02:00:00:00:00:01");
    let rs = real_server6();
    let mut nt: NeighbourTable<Vec<u8>> = NeighbourTable::new(NeighConfig::default());
    let rip = v6("2001:db8::5");
    nt.resolve(0, ETH0, rip.into(), None, b"syn".to_vec());
    let s = nt.poll_transmit().unwrap();
    assert_eq!(s.target, std::net::IpAddr::V6(rip));
    let ns = NdiscFrame::solicit(dir_mac, v6("2001:db8::1"), rip, s.unicast_to);
    let na = rs.ndisc_input(ETH0, &ns, false).reply.unwrap();
    let mut buf = [0u8; 128];
    let n = na.emit(&mut buf).unwrap();
    let na = NdiscFrame::parse(&buf[..n]).unwrap();
    assert_eq!(nt.learn_ndisc(5, ETH0, &na), UpdateOutcome::Updated);
    let rel = nt.poll_released().unwrap();
    assert_eq!(
        (rel.mac, rel.packet),
        (mac("02:00:00:00:00:05"), b"syn".to_vec())
    );
}
