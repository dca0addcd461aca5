//! Arbitrary bytes into the ARP and ND parsers: never panic; whatever parses must emit back
//! (ARP: the same 42 bytes; ND: a frame that parses to the same value), and ARP frames must
//! agree with etherparse's reading. ND input is tried twice: as given, and with its ICMPv6
//! checksum repaired so that the RFC 4861 checks behind the checksum are reached too.
#![no_main]

use std::net::Ipv6Addr;

use libfuzzer_sys::fuzz_target;
use lvs_arp::wire::ndisc::icmpv6_checksum;
use lvs_arp::{ArpFrame, NdiscFrame, NeighConfig, NeighbourTable};

fn check_nd(data: &[u8]) {
    if let Ok(f) = NdiscFrame::parse(data) {
        let mut out = [0u8; 128];
        let n = f.emit(&mut out).expect("ND frames fit 128 bytes");
        assert_eq!(NdiscFrame::parse(&out[..n]), Ok(f));
        let mut table: NeighbourTable<Vec<u8>> = NeighbourTable::new(NeighConfig::default());
        let _ = table.learn_ndisc(0, 2, &f);
        let _ = table.learn_ndisc(1, 2, &f);
    }
}

/// Writes the correct ICMPv6 checksum into an Ethernet/IPv6 frame, if it is long enough.
fn repair_checksum(frame: &mut [u8]) -> bool {
    if frame.len() < 58 || frame[12..14] != [0x86, 0xdd] {
        return false;
    }
    let plen = usize::from(u16::from_be_bytes([frame[18], frame[19]]));
    if frame.len() < 54 + plen || plen < 4 {
        return false;
    }
    let src = Ipv6Addr::from(<[u8; 16]>::try_from(&frame[22..38]).unwrap());
    let dst = Ipv6Addr::from(<[u8; 16]>::try_from(&frame[38..54]).unwrap());
    let msg = &mut frame[54..54 + plen];
    msg[2] = 0;
    msg[3] = 0;
    let ck = icmpv6_checksum(src, dst, msg);
    msg[2..4].copy_from_slice(&ck.to_be_bytes());
    true
}

fuzz_target!(|data: &[u8]| {
    if let Ok(f) = ArpFrame::parse(data) {
        let bytes = f.to_bytes();
        assert_eq!(&bytes[..], &data[..42]);
        let (_, rest) = etherparse::Ethernet2Header::from_slice(data).expect("ethernet");
        let arp = etherparse::ArpPacket::from_slice(rest).expect("etherparse reads our ARP");
        assert_eq!(arp.operation.0, f.op.code());
        assert_eq!(arp.sender_protocol_addr(), &f.sender_ip.octets()[..]);
        assert_eq!(arp.target_protocol_addr(), &f.target_ip.octets()[..]);
    }
    check_nd(data);
    let mut fixed = data.to_vec();
    if repair_checksum(&mut fixed) {
        check_nd(&fixed);
    }
});
