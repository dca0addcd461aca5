//! Root-only check of the `netns` fixtures themselves: a LAN (bridge namespace), a kernel host
//! on it and the test's TAP as a bridge port exchange real frames both ways.
//!
//! The host's kernel must resolve 10.77.250.9 by ARP (RFC 826) before it sends a UDP datagram
//! there: its ARP request must reach the TAP, our hand-made ARP reply must reach the kernel
//! (its neighbour entry then holds our MAC), and the queued datagram must then come out of the
//! TAP addressed to our MAC. Decoding is etherparse's, independent of the fixtures.

use etherparse::{
    ArpEthIpv4Packet, ArpOperation, EtherType, NetSlice, SlicedPacket, TransportSlice,
};
use lvs_examples::netns::{self, Lan, Tap};
use std::process::Command;
use std::time::{Duration, Instant};

const HOST_IP: [u8; 4] = [10, 77, 250, 2];
const OUR_IP: [u8; 4] = [10, 77, 250, 9];
const OUR_MAC: [u8; 6] = [0x02, 0x00, 0x00, 0x77, 0xfa, 0x09];

#[test]
fn host_and_tap_exchange_arp_and_udp_over_the_bridge() {
    if !netns::root_or_skip("host_and_tap_exchange_arp_and_udp_over_the_bridge") {
        return;
    }
    let mut lan = Lan::new("lan").expect("bridge namespace");
    let host = lan.add_host("host", &["10.77.250.2/24"]).expect("host");
    let mut tap = Tap::create("tap").expect("TAP");
    lan.attach_tap(&tap).expect("TAP on the bridge");

    // bash's /dev/udp: one datagram "hello" to 10.77.250.9:9 from the host.
    let mut sender = host.command("bash");
    sender.args(["-c", "printf hello > /dev/udp/10.77.250.9/9"]);
    let mut sender = netns::ChildGuard::spawn(&mut sender, "bash udp sender").expect("bash");

    let deadline = Instant::now() + Duration::from_secs(5);
    let mut host_mac = None;
    let mut got_udp = false;
    while Instant::now() < deadline && !got_udp {
        let Some(frame) = tap.recv(Duration::from_millis(200)).expect("TAP read") else {
            continue;
        };
        let Ok(p) = SlicedPacket::from_ethernet(&frame) else {
            continue;
        };
        match &p.net {
            Some(NetSlice::Arp(arp)) => {
                let arp = arp.to_packet().try_eth_ipv4().expect("Ethernet/IPv4 ARP");
                if arp.operation == ArpOperation::REQUEST
                    && arp.sender_ipv4 == HOST_IP
                    && arp.target_ipv4 == OUR_IP
                {
                    host_mac = Some(arp.sender_mac);
                    let reply = ArpEthIpv4Packet {
                        operation: ArpOperation::REPLY,
                        sender_mac: OUR_MAC,
                        sender_ipv4: OUR_IP,
                        target_mac: arp.sender_mac,
                        target_ipv4: HOST_IP,
                    };
                    let mut out = Vec::new();
                    out.extend_from_slice(&arp.sender_mac);
                    out.extend_from_slice(&OUR_MAC);
                    out.extend_from_slice(&EtherType::ARP.0.to_be_bytes());
                    out.extend_from_slice(&reply.to_bytes());
                    tap.send(&out).expect("TAP write");
                }
            }
            Some(NetSlice::Ipv4(ip)) => {
                if let Some(TransportSlice::Udp(udp)) = &p.transport {
                    assert_eq!(frame[..6], OUR_MAC, "datagram sent to the MAC we announced");
                    assert_eq!(ip.header().source(), HOST_IP);
                    assert_eq!(ip.header().destination(), OUR_IP);
                    assert_eq!(udp.destination_port(), 9);
                    assert_eq!(udp.payload(), b"hello");
                    got_udp = true;
                }
            }
            _ => {}
        }
    }
    assert!(host_mac.is_some(), "the host's ARP request reached the TAP");
    assert!(
        got_udp,
        "the host's UDP datagram reached the TAP after our ARP reply"
    );
    let neigh = host
        .ip(&["neigh", "show", "10.77.250.9", "dev", "eth0"])
        .expect("ip neigh");
    assert!(
        neigh.contains("02:00:00:77:fa:09"),
        "host learnt our MAC: {neigh}"
    );
    let _ = sender.wait_timeout(Duration::from_secs(2));

    // The namespaces and the TAP go away with their guards.
    let names = [lan.netns().name().to_string(), host.name().to_string()];
    let tap_name = tap.name().to_string();
    drop(host);
    drop(tap);
    drop(lan);
    let listed = netns::ip(&["netns", "list"]).expect("ip netns list");
    for n in names {
        assert!(
            !listed.split_whitespace().any(|w| w == n),
            "namespace {n} deleted"
        );
    }
    assert!(
        Command::new("ip")
            .args(["link", "show", &tap_name])
            .output()
            .is_ok_and(|o| !o.status.success()),
        "TAP {tap_name} destroyed"
    );
}
