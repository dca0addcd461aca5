//! Hosts and frames shared by the integration tests: the seeds' server02 and a generic
//! two-NIC host.
#![allow(dead_code, unreachable_pub)]

use std::net::Ipv4Addr;

use lvs_arp::{ArpFrame, ArpOp, Host, MacAddr, Route, Scope};

pub fn ip(s: &str) -> Ipv4Addr {
    s.parse().unwrap()
}

pub fn mac(s: &str) -> MacAddr {
    s.parse().unwrap()
}

/// server01's enp0s8 (the requester in the seeds): 192.168.56.101, 08:00:27:12:04:78.
pub const SERVER01_IP: &str = "192.168.56.101";
pub const SERVER01_MAC: &str = "08:00:27:12:04:78";
/// server02's enp0s8: 192.168.56.102 at 08:00:27:9f:f2:71 (tcpdump in experiment 3).
pub const SERVER02_IP: &str = "192.168.56.102";
pub const SERVER02_MAC: &str = "08:00:27:9f:f2:71";
pub const LO: u32 = 1;
pub const ENP0S3: u32 = 2;
pub const ENP0S8: u32 = 3;

/// server02 as the seeds show it: lo, enp0s3 (NAT, 10.0.2.15/24, default route via 10.0.2.2
/// metric 100), enp0s8 (host-only, 192.168.56.102/24), every arp_ignore 0.
pub fn server02() -> Host {
    let mut h = Host::new();
    h.add_loopback("lo", LO).unwrap();
    h.add_interface("enp0s3", ENP0S3, mac("08:00:27:aa:bb:03"))
        .unwrap();
    h.add_interface("enp0s8", ENP0S8, mac(SERVER02_MAC))
        .unwrap();
    h.add_addr(ENP0S3, ip("10.0.2.15"), 24, Scope::Global)
        .unwrap();
    h.add_addr(ENP0S8, ip(SERVER02_IP), 24, Scope::Global)
        .unwrap();
    h.add_route(Route {
        dst: ip("0.0.0.0"),
        prefix_len: 0,
        ifindex: ENP0S3,
        gateway: Some(ip("10.0.2.2")),
        src: None,
        metric: 100,
    })
    .unwrap();
    h
}

/// A broadcast "who-has `target` tell `sender`" from `sender_mac`.
pub fn who_has(target: &str, sender: &str, sender_mac: &str) -> ArpFrame {
    ArpFrame::request(mac(sender_mac), ip(sender), ip(target), None)
}

/// server01 asking for `target` on the host-only network.
pub fn from_server01(target: &str) -> ArpFrame {
    who_has(target, SERVER01_IP, SERVER01_MAC)
}

/// An ARP reply frame "`sender` is-at `sender_mac`" to `to_mac`/`to_ip`.
pub fn is_at(sender: &str, sender_mac: &str, to_ip: &str, to_mac: &str) -> ArpFrame {
    ArpFrame {
        eth_dst: mac(to_mac),
        eth_src: mac(sender_mac),
        hw_type: 1,
        op: ArpOp::Reply,
        sender_mac: mac(sender_mac),
        sender_ip: ip(sender),
        target_mac: mac(to_mac),
        target_ip: ip(to_ip),
    }
}
