//! Arbitrary frames into the receive decision of a fixed host (lo with a VIP/32, two NICs),
//! on every interface and under several sysctl settings: never panic, and every reply obeys
//! arp_process's invariants (a request for a local target, unicast back to the requester,
//! from the receiving NIC's MAC).
#![no_main]

use std::net::Ipv4Addr;

use libfuzzer_sys::fuzz_target;
use lvs_arp::{AddrType, ArpFrame, ArpOp, Host, MacAddr, NeighConfig, NeighbourTable, Scope};

fn host(arp_ignore: i32, arp_filter: i32, arp_accept: i32) -> Host {
    let mut h = Host::new();
    h.add_loopback("lo", 1).unwrap();
    h.add_interface("eth0", 2, MacAddr([2, 0, 0, 0, 0, 1])).unwrap();
    h.add_interface("eth1", 3, MacAddr([2, 0, 0, 0, 0, 2])).unwrap();
    h.add_addr(1, Ipv4Addr::new(10, 0, 0, 100), 32, Scope::Global).unwrap();
    h.add_addr(2, Ipv4Addr::new(10, 0, 0, 1), 24, Scope::Global).unwrap();
    h.add_addr(2, Ipv4Addr::new(10, 0, 0, 2), 24, Scope::Global).unwrap();
    h.add_addr(3, Ipv4Addr::new(10, 1, 0, 1), 24, Scope::Global).unwrap();
    h.add_addr(3, Ipv4Addr::new(10, 0, 0, 3), 24, Scope::Link).unwrap();
    h.sysctl("net.ipv4.conf.all.arp_ignore", arp_ignore).unwrap();
    h.sysctl("net.ipv4.conf.all.arp_filter", arp_filter).unwrap();
    h.sysctl("net.ipv4.conf.eth0.arp_accept", arp_accept).unwrap();
    h
}

fuzz_target!(|data: &[u8]| {
    let Some((&knob, frame)) = data.split_first() else { return };
    let h = host(i32::from(knob % 10), i32::from(knob / 10 % 2), i32::from(knob / 20 % 3));
    let mut table: NeighbourTable<Vec<u8>> = NeighbourTable::new(NeighConfig::default());
    for ifindex in [1u32, 2, 3, 9] {
        let Ok(out) = h.arp_input_bytes(ifindex, frame) else { continue };
        let req = ArpFrame::parse(frame).unwrap();
        if let Some(r) = out.reply() {
            let dev = h.interface(ifindex).unwrap();
            assert_eq!(req.op, ArpOp::Request);
            assert_eq!(h.addr_type(req.target_ip), AddrType::Local);
            assert_eq!((r.op, r.eth_src, r.sender_mac), (ArpOp::Reply, dev.mac, dev.mac));
            assert_eq!((r.eth_dst, r.target_mac), (req.sender_mac, req.sender_mac));
            assert_eq!((r.sender_ip, r.target_ip), (req.target_ip, req.sender_ip));
        }
        let _ = out.reason().to_string();
        let _ = table.learn(0, &out.learn);
    }
    table.handle_timeout(u64::MAX);
    while table.poll_released().is_some() {}
});
