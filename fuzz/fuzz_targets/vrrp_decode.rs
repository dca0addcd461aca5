//! Arbitrary bytes into every lvs-vrrp decode entry point (Ethernet frame, IP packet, VRRP
//! payload + IP metadata, and the instance/router handlers): must never panic. Whatever decodes
//! as a VRRP payload must re-encode to the same message bytes (every field is kept).
#![no_main]

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use libfuzzer_sys::fuzz_target;
use lvs_vrrp::wire::{self, IpMeta};
use lvs_vrrp::{Router, VrrpConfig, VrrpInstance};

fuzz_target!(|data: &[u8]| {
    let _ = wire::decode_frame(data);
    let _ = wire::decode_ip(data);

    // First byte picks the metadata; the rest is the payload.
    let Some((&sel, payload)) = data.split_first() else { return };
    let meta = match sel & 3 {
        0 => IpMeta { src: IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1)), dst: IpAddr::V4(wire::MCAST_V4), ttl: 255 },
        1 => IpMeta { src: IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1)), dst: IpAddr::V4(Ipv4Addr::new(10, 0, 0, 2)), ttl: sel },
        2 => IpMeta { src: IpAddr::V6(Ipv6Addr::new(0xfe80, 0, 0, 0, 0, 0, 0, 1)), dst: IpAddr::V6(wire::MCAST_V6), ttl: 255 },
        _ => IpMeta { src: IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1)), dst: IpAddr::V6(wire::MCAST_V6), ttl: 255 },
    };
    if let Ok(adv) = wire::decode_payload(payload, &meta) {
        let addrs: Vec<IpAddr> = adv.addresses().collect();
        assert_eq!(addrs.len(), usize::from(adv.count));
        if adv.reserved == 0 {
            let repr = adv.to_repr(&addrs);
            let mut buf = vec![0u8; wire::MAX_FRAME_LEN];
            let n = wire::encode_payload(&repr, meta.src, meta.dst, adv.checksum_form, &mut buf)
                .expect("a decoded advert re-encodes");
            // Bytes 6..8 are the checksum. A received 0xFFFF and our computed 0x0000 are the
            // two one's-complement forms of the same value (RFC 1071): the decoder accepts
            // both, the encoder writes the canonical one.
            assert_eq!(&buf[..6], &payload[..6]);
            assert_eq!(&buf[8..n], &payload[8..n]);
            let ours = u16::from_be_bytes([buf[6], buf[7]]);
            let theirs = u16::from_be_bytes([payload[6], payload[7]]);
            assert!(ours == theirs || (ours == 0 && theirs == 0xFFFF), "{ours:#x} vs {theirs:#x}");
        }
    }

    let cfg = VrrpConfig {
        interface_addr: IpAddr::V4(Ipv4Addr::new(10, 0, 0, 9)),
        virtual_router_id: payload.get(1).copied().unwrap_or(1).max(1),
        virtual_ipaddress: vec![IpAddr::V4(Ipv4Addr::new(10, 0, 0, 100))],
        ..VrrpConfig::default()
    };
    let mut vr = VrrpInstance::new(cfg, 0).expect("valid config");
    let _ = vr.handle_packet(1, &meta, payload);
    let _ = vr.handle_ip(2, data);
    let _ = vr.handle_frame(3, data);
    let mut r = Router::new();
    r.push(vr);
    let _ = r.handle_packet(4, &meta, payload);
    let _ = r.handle_ip(5, data);
    let _ = r.handle_frame(6, data);
});
