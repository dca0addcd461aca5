//! Arbitrary bytes into the ARP and ND parsers: never panic; whatever parses must emit back
//! (ARP: the same 42 bytes; ND: a frame that parses to the same value), and ARP frames must
//! agree with etherparse's reading.
#![no_main]

use libfuzzer_sys::fuzz_target;
use lvs_arp::{ArpFrame, NdiscFrame};

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
    if let Ok(f) = NdiscFrame::parse(data) {
        let mut out = [0u8; 128];
        let n = f.emit(&mut out).expect("ND frames fit 128 bytes");
        assert_eq!(NdiscFrame::parse(&out[..n]), Ok(f));
    }
});
