//! Codec properties: round trips at every layer, cross-checked by etherparse; no panic on any
//! input through every decode entry point; router demultiplexing and unknown-VRID counting.

mod common;

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use common::*;
use lvs_vrrp::wire::{self, AdvertRepr, ChecksumForm, DecodeError, EncodeError, IpMeta, Version};
use lvs_vrrp::{Router, RouterDrop, VrrpInstance};
use proptest::prelude::*;

fn arb_v4() -> impl Strategy<Value = IpAddr> {
    any::<[u8; 4]>().prop_map(|o| IpAddr::V4(Ipv4Addr::from(o)))
}

fn arb_v6() -> impl Strategy<Value = IpAddr> {
    any::<[u8; 16]>().prop_map(|o| IpAddr::V6(Ipv6Addr::from(o)))
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    #[test]
    fn decode_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..200),
                           ttl in any::<u8>(), six in any::<bool>()) {
        let _ = wire::decode_frame(&bytes);
        let _ = wire::decode_ip(&bytes);
        let meta = if six {
            IpMeta { src: "fe80::1".parse().unwrap(), dst: IpAddr::V6(wire::MCAST_V6), ttl }
        } else {
            IpMeta { src: LOCAL, dst: MCAST, ttl }
        };
        let _ = wire::decode_payload(&bytes, &meta);
        let mut vr = VrrpInstance::new(cfg(100), 0).unwrap();
        let _ = vr.handle_frame(1, &bytes);
        let _ = vr.handle_ip(1, &bytes);
        let _ = vr.handle_packet(1, &meta, &bytes);
    }

    #[test]
    fn v4_round_trip_all_layers(version in prop_oneof![Just(Version::V2), Just(Version::V3)],
                                vrid in 1u8.., priority in any::<u8>(), int in 1u16..=255,
                                addrs in proptest::collection::vec(arb_v4(), 0..20),
                                src in arb_v4(), auth in any::<[u8; 8]>(),
                                form in prop_oneof![Just(ChecksumForm::PseudoHeader), Just(ChecksumForm::MessageOnly)]) {
        let repr = AdvertRepr { version, vrid, priority, adver_int: int, auth_type: 1, auth_data: auth, addrs: &addrs };
        let mut buf = [0u8; wire::MAX_FRAME_LEN];
        let n = wire::encode_frame(&repr, [2, 0, 0, 0, 0, 1], wire::MCAST_MAC_V4, src, MCAST, form, &mut buf).unwrap();
        let (m, a) = wire::decode_frame(&buf[..n]).unwrap();
        prop_assert_eq!(m, IpMeta { src, dst: MCAST, ttl: 255 });
        prop_assert_eq!((a.version, a.vrid, a.priority, a.adver_int), (version, vrid, priority, int));
        prop_assert_eq!(a.addresses().collect::<Vec<_>>(), addrs.clone());
        if version == Version::V2 {
            prop_assert_eq!((a.auth_type, a.auth_data), (1, auth));
            prop_assert_eq!(a.checksum_form, ChecksumForm::MessageOnly);
        } else {
            prop_assert_eq!(a.checksum_form, form);
        }
        // etherparse agrees on the IP layer.
        let p = etherparse::SlicedPacket::from_ethernet(&buf[..n]).unwrap();
        let Some(etherparse::NetSlice::Ipv4(ip)) = p.net else { panic!() };
        let h = ip.header().to_header();
        prop_assert_eq!(h.header_checksum, h.calc_header_checksum());
        prop_assert_eq!(usize::from(h.total_len), n - 14);
    }

    #[test]
    fn v6_round_trip(vrid in 1u8.., priority in any::<u8>(), int in 1u16..=4095,
                     addrs in proptest::collection::vec(arb_v6(), 0..10), iid in any::<u64>()) {
        let src = IpAddr::V6(Ipv6Addr::from((0xfe80u128 << 112) | u128::from(iid)));
        let dst = IpAddr::V6(wire::MCAST_V6);
        let repr = AdvertRepr { version: Version::V3, vrid, priority, adver_int: int, auth_type: 0, auth_data: [0; 8], addrs: &addrs };
        let mut buf = [0u8; wire::MAX_FRAME_LEN];
        let n = wire::encode_ip(&repr, src, dst, ChecksumForm::MessageOnly, &mut buf).unwrap();
        let (m, a) = wire::decode_ip(&buf[..n]).unwrap();
        prop_assert_eq!((m.src, m.dst, m.ttl), (src, dst, 255));
        prop_assert_eq!((a.vrid, a.priority, a.adver_int), (vrid, priority, int));
        prop_assert_eq!(a.addresses().collect::<Vec<_>>(), addrs.clone());
        prop_assert_eq!(a.checksum_form, ChecksumForm::PseudoHeader);
        let p = etherparse::SlicedPacket::from_ip(&buf[..n]).unwrap();
        let Some(etherparse::NetSlice::Ipv6(ip)) = p.net else { panic!() };
        prop_assert_eq!(ip.payload().payload.len(), n - 40);
    }
}

#[test]
fn encode_errors() {
    let repr = AdvertRepr {
        version: Version::V2,
        vrid: 1,
        priority: 100,
        adver_int: 1,
        auth_type: 0,
        auth_data: [0; 8],
        addrs: &[VIP],
    };
    let mut small = [0u8; 10];
    assert_eq!(
        wire::encode_payload(&repr, LOCAL, MCAST, ChecksumForm::default(), &mut small),
        Err(EncodeError::BufferTooSmall { needed: 20 })
    );
    let mut buf = [0u8; 200];
    let ll: IpAddr = "fe80::1".parse().unwrap();
    let g6 = IpAddr::V6(wire::MCAST_V6);
    assert_eq!(
        wire::encode_payload(&repr, ll, g6, ChecksumForm::default(), &mut buf),
        Err(EncodeError::Family),
        "v2 over IPv6"
    );
    let v3 = AdvertRepr {
        version: Version::V3,
        ..repr
    };
    assert_eq!(
        wire::encode_payload(&v3, ll, g6, ChecksumForm::default(), &mut buf),
        Err(EncodeError::Family),
        "IPv4 VIP in an IPv6 advert"
    );
    let glob: IpAddr = "2001:db8::1".parse().unwrap();
    let v3_6 = AdvertRepr { addrs: &[], ..v3 };
    assert_eq!(
        wire::encode_ip(&v3_6, glob, g6, ChecksumForm::default(), &mut buf),
        Err(EncodeError::SourceNotLinkLocal)
    );
    let v2_big = AdvertRepr {
        adver_int: 256,
        ..repr
    };
    assert_eq!(
        wire::encode_payload(&v2_big, LOCAL, MCAST, ChecksumForm::default(), &mut buf),
        Err(EncodeError::Interval)
    );
}

#[test]
fn ip_header_checks() {
    let mut vr = VrrpInstance::new(cfg(255), 0).unwrap();
    let (_, f) = drain(&mut vr).remove(0);
    let ip = &f[14..];
    assert!(wire::decode_ip(ip).is_ok());
    let mut bad = ip.to_vec();
    bad[9] = 17;
    // Fix the header checksum so only the protocol is wrong.
    bad[10] = 0;
    bad[11] = 0;
    let ck = common::inet_checksum(&[&bad[..20]]);
    bad[10..12].copy_from_slice(&ck.to_be_bytes());
    assert_eq!(wire::decode_ip(&bad).err(), Some(DecodeError::Protocol));
    let mut bad = ip.to_vec();
    bad[12] ^= 1;
    assert_eq!(
        wire::decode_ip(&bad).err(),
        Some(DecodeError::IpHeader),
        "header checksum"
    );
    let mut bad = ip.to_vec();
    bad[6] = 0x20; // MF
    assert_eq!(wire::decode_ip(&bad).err(), Some(DecodeError::IpHeader));
    assert_eq!(wire::decode_frame(&f[..13]).err(), Some(DecodeError::NotIp));
    // One 802.1Q tag is skipped.
    let mut tagged = f[..12].to_vec();
    tagged.extend_from_slice(&[0x81, 0x00, 0x00, 0x05]);
    tagged.extend_from_slice(&f[12..]);
    assert_eq!(
        wire::decode_frame(&tagged).unwrap(),
        wire::decode_frame(&f).unwrap()
    );
}

#[test]
fn router_routes_by_vrid_and_counts_unknown_vrid() {
    // The seeds' split brain: peers configured with different virtual_router_id ignore each
    // other's adverts; the router counts them as unknown VRID.
    let mut r = Router::new();
    let a = r.push(VrrpInstance::new(cfg(100), 0).unwrap());
    let mut c2 = cfg(100);
    c2.virtual_router_id = 52;
    c2.virtual_ipaddress = vec!["192.168.56.201".parse().unwrap()];
    let b = r.push(VrrpInstance::new(c2, 0).unwrap());
    let p51 = advert(Version::V2, 51, 150, 1, PEER_HI);
    assert_eq!(r.handle_packet(1, &meta(PEER_HI), &p51), Ok(a));
    let p52 = common::advert_with(
        Version::V2,
        52,
        150,
        1,
        PEER_HI,
        MCAST,
        &["192.168.56.201".parse().unwrap()],
        0,
        [0; 8],
    );
    assert_eq!(r.handle_packet(1, &meta(PEER_HI), &p52), Ok(b));
    let p53 = advert(Version::V2, 53, 150, 1, PEER_HI);
    assert_eq!(
        r.handle_packet(1, &meta(PEER_HI), &p53),
        Err(RouterDrop::UnknownVrid(53))
    );
    assert_eq!(r.stats().unknown_vrid, 1);
    // A damaged packet naming VRID 51 is charged to instance 51.
    let mut bad = p51.clone();
    bad[7] ^= 0xff;
    assert!(matches!(
        r.handle_packet(1, &meta(PEER_HI), &bad),
        Err(RouterDrop::Instance { index: 0, .. })
    ));
    assert_eq!(r.instances()[a].stats().checksum_err, 1);
    // Frames route the same way.
    let mut owner = VrrpInstance::new(
        lvs_vrrp::VrrpConfig {
            interface_addr: PEER_HI,
            priority: 255,
            ..cfg(255)
        },
        0,
    )
    .unwrap();
    let (_, f) = drain(&mut owner).remove(0);
    assert_eq!(r.handle_frame(2, &f), Ok(a));
    assert_eq!(
        r.handle_frame(2, &f[..10]),
        Err(RouterDrop::Decode(DecodeError::NotIp))
    );
    assert_eq!(r.stats().decode_err, 1);
}
