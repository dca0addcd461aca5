//! The tcpdump project's VRRP capture (tests/data/tcpdump-vrrp.pcap, see its README) decoded
//! frame by frame. Expectations come from the README (counts per version/family and the
//! checksum form each uses) and are cross-checked against etherparse's independent parse of
//! the Ethernet/IP layers and an independent RFC 1071 checksum.

mod common;

use std::net::IpAddr;

use lvs_vrrp::wire::{self, AdvertRepr, ChecksumForm, Family, IpMeta, Version};

const PCAP: &[u8] = include_bytes!("data/tcpdump-vrrp.pcap");

fn frames() -> Vec<Vec<u8>> {
    let (linktype, frames) = common::read_pcap(PCAP);
    assert_eq!(linktype, 1, "Ethernet link type");
    frames
}

#[test]
fn capture_has_165_frames_and_all_decode() {
    let frames = frames();
    assert_eq!(frames.len(), 165);
    let (mut v2, mut v3_4, mut v3_6, mut padded, mut reencoded) = (0, 0, 0, 0, 0);
    for (i, f) in frames.iter().enumerate() {
        let (meta, adv) =
            wire::decode_frame(f).unwrap_or_else(|e| panic!("frame {} failed: {e}", i + 1));

        // Independent parse of Ethernet + IP with etherparse.
        let sliced = etherparse::SlicedPacket::from_ethernet(f).unwrap();
        let (src, dst, ttl, payload): (IpAddr, IpAddr, u8, &[u8]) = match sliced.net.unwrap() {
            etherparse::NetSlice::Ipv4(v4) => (
                v4.header().source_addr().into(),
                v4.header().destination_addr().into(),
                v4.header().ttl(),
                v4.payload().payload,
            ),
            etherparse::NetSlice::Ipv6(v6) => (
                v6.header().source_addr().into(),
                v6.header().destination_addr().into(),
                v6.header().hop_limit(),
                v6.payload().payload,
            ),
            other => panic!("unexpected {other:?}"),
        };
        assert_eq!(meta, IpMeta { src, dst, ttl }, "frame {}", i + 1);
        let ip_len = f.len() - 14;
        let ip_total = match src {
            IpAddr::V4(_) => 20 + payload.len(),
            IpAddr::V6(_) => 40 + payload.len(),
        };
        if ip_len > ip_total {
            padded += 1;
        }

        // Every field against the raw bytes etherparse handed us.
        assert_eq!(payload[0] >> 4, adv.version.number());
        assert_eq!(payload[0] & 0xf, 1);
        assert_eq!(payload[1], adv.vrid);
        assert_eq!(payload[2], adv.priority);
        assert_eq!(usize::from(payload[3]), adv.addr_count());
        assert_eq!(u16::from_be_bytes([payload[6], payload[7]]), adv.checksum);
        let n = adv.family.addr_len();
        for (k, a) in adv.addresses().enumerate() {
            let raw = &payload[8 + k * n..8 + (k + 1) * n];
            match a {
                IpAddr::V4(x) => assert_eq!(&x.octets()[..], raw),
                IpAddr::V6(x) => assert_eq!(&x.octets()[..], raw),
            }
        }
        let msg_len = 8 + adv.addr_count() * n + if adv.version == Version::V2 { 8 } else { 0 };
        let msg = &payload[..msg_len];

        // Checksum forms stated by the README, recomputed independently.
        let pseudo = |len: usize| -> Vec<u8> {
            let mut p = Vec::new();
            match (src, dst) {
                (IpAddr::V4(s), IpAddr::V4(d)) => {
                    p.extend_from_slice(&s.octets());
                    p.extend_from_slice(&d.octets());
                    p.extend_from_slice(&[0, 112]);
                    p.extend_from_slice(&(len as u16).to_be_bytes());
                }
                (IpAddr::V6(s), IpAddr::V6(d)) => {
                    p.extend_from_slice(&s.octets());
                    p.extend_from_slice(&d.octets());
                    p.extend_from_slice(&(len as u32).to_be_bytes());
                    p.extend_from_slice(&[0, 0, 0, 112]);
                }
                _ => unreachable!(),
            }
            p
        };
        match (adv.version, adv.family) {
            (Version::V2, Family::V4) => {
                v2 += 1;
                assert!(msg_len == 20 || msg_len == 28, "v2 lengths 20 and 28");
                assert_eq!(adv.checksum_form, ChecksumForm::MessageOnly);
                assert_eq!(common::inet_checksum(&[msg]), 0);
                assert_eq!(adv.adver_int, u16::from(payload[5]));
                assert_eq!(adv.auth_type, payload[4]);
                assert_eq!(&adv.auth_data[..], &msg[msg_len - 8..]);
            }
            (Version::V3, Family::V4) => {
                v3_4 += 1;
                // "checksum valid only WITH the IPv4 pseudo-header (RFC 5798 form)"
                assert_eq!(adv.checksum_form, ChecksumForm::PseudoHeader);
                assert_eq!(common::inet_checksum(&[&pseudo(msg_len), msg]), 0);
                assert_ne!(common::inet_checksum(&[msg]), 0);
                assert_eq!(
                    adv.adver_int,
                    u16::from_be_bytes([payload[4], payload[5]]) & 0xfff
                );
            }
            (Version::V3, Family::V6) => {
                v3_6 += 1;
                assert!(msg_len == 40 || msg_len == 88, "v3 IPv6 lengths 40 and 88");
                assert_eq!(adv.checksum_form, ChecksumForm::PseudoHeader);
                assert_eq!(common::inet_checksum(&[&pseudo(msg_len), msg]), 0);
            }
            (Version::V2, Family::V6) => panic!("v2 over IPv6"),
        }

        // Re-encoding the decoded fields with the same checksum form reproduces the message.
        let addrs: Vec<IpAddr> = adv.addresses().collect();
        let repr = adv.to_repr(&addrs);
        let mut buf = [0u8; 256];
        if adv.reserved == 0 {
            let n = wire::encode_payload(&repr, src, dst, adv.checksum_form, &mut buf).unwrap();
            assert_eq!(&buf[..n], msg, "frame {} re-encodes identically", i + 1);
            reencoded += 1;
        }
    }
    // README: 68 v2 IPv4, 33 v3 IPv4, 64 v3 IPv6; some frames padded.
    assert_eq!((v2, v3_4, v3_6), (68, 33, 64));
    assert!(padded > 0, "the capture has padded frames");
    assert_eq!(
        reencoded, 165,
        "every frame has reserved bits 0 and re-encodes"
    );
}

#[test]
fn padded_frames_decode_from_ip_length_not_frame_length() {
    // README: "Some frames carry Ethernet padding after the IP payload: decode must use the IP
    // length, not the frame length." Adding more garbage must not change the decode.
    for f in frames() {
        let (m1, a1) = wire::decode_frame(&f).unwrap();
        let mut longer = f.clone();
        longer.extend_from_slice(&[0xa5; 32]);
        let (m2, a2) = wire::decode_frame(&longer).unwrap();
        assert_eq!((m1, a1), (m2, a2));
    }
}

fn hex(s: &str) -> Vec<u8> {
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect()
}

#[test]
fn hand_checked_v3_ipv4_vector_uses_pseudo_header() {
    // README: "v3, IPv4 10.0.0.91 -> 224.0.0.18, VRRP bytes 312cbf0203e8b3c60a042c640a042cc8"
    let bytes = hex("312cbf0203e8b3c60a042c640a042cc8");
    let meta = IpMeta {
        src: "10.0.0.91".parse().unwrap(),
        dst: "224.0.0.18".parse().unwrap(),
        ttl: 255,
    };
    let adv = wire::decode_payload(&bytes, &meta).unwrap();
    assert_eq!(adv.version, Version::V3);
    assert_eq!((adv.vrid, adv.priority, adv.count), (44, 191, 2));
    assert_eq!(adv.adver_int, 1000);
    assert_eq!(adv.checksum, 0xb3c6);
    assert_eq!(adv.checksum_form, ChecksumForm::PseudoHeader);
    let addrs: Vec<IpAddr> = adv.addresses().collect();
    assert_eq!(
        addrs,
        vec![
            "10.4.44.100".parse::<IpAddr>().unwrap(),
            "10.4.44.200".parse().unwrap()
        ]
    );
    // The same bytes from another source fail both forms (the pseudo-header matters).
    let other = IpMeta {
        src: "10.0.0.92".parse().unwrap(),
        ..meta
    };
    assert_eq!(
        wire::decode_payload(&bytes, &other),
        Err(wire::DecodeError::Checksum)
    );
    // Encoding the pseudo-header form (our default, keepalived's) reproduces the vector.
    let repr = AdvertRepr {
        version: Version::V3,
        vrid: 44,
        priority: 191,
        adver_int: 1000,
        auth_type: 0,
        auth_data: [0; 8],
        addrs: &addrs,
    };
    let mut buf = [0u8; 64];
    let n =
        wire::encode_payload(&repr, meta.src, meta.dst, ChecksumForm::default(), &mut buf).unwrap();
    assert_eq!(&buf[..n], &bytes[..]);
    // The RFC 9568 form differs and is accepted too, reported as MessageOnly.
    let n = wire::encode_payload(
        &repr,
        meta.src,
        meta.dst,
        ChecksumForm::MessageOnly,
        &mut buf,
    )
    .unwrap();
    assert_ne!(&buf[..n], &bytes[..]);
    assert_eq!(common::inet_checksum(&[&buf[..n]]), 0);
    let adv2 = wire::decode_payload(&buf[..n], &meta).unwrap();
    assert_eq!(adv2.checksum_form, ChecksumForm::MessageOnly);
}

#[test]
fn hand_checked_v2_vector() {
    // README: "v2: VRRP bytes 212bbf01000aea2e0a042b960000000000000000"
    let bytes = hex("212bbf01000aea2e0a042b960000000000000000");
    let meta = IpMeta {
        src: "10.0.0.1".parse().unwrap(),
        dst: "224.0.0.18".parse().unwrap(),
        ttl: 255,
    };
    let adv = wire::decode_payload(&bytes, &meta).unwrap();
    assert_eq!(adv.version, Version::V2);
    assert_eq!((adv.vrid, adv.priority, adv.count), (43, 191, 1));
    assert_eq!(
        (adv.auth_type, adv.adver_int, adv.checksum),
        (0, 10, 0xea2e)
    );
    assert_eq!(adv.checksum_form, ChecksumForm::MessageOnly);
    assert_eq!(adv.address(0), Some("10.4.43.150".parse().unwrap()));
    assert_eq!(adv.address(1), None);
    let addrs = [adv.address(0).unwrap()];
    let repr = AdvertRepr {
        version: Version::V2,
        vrid: 43,
        priority: 191,
        adver_int: 10,
        auth_type: 0,
        auth_data: [0; 8],
        addrs: &addrs,
    };
    let mut buf = [0u8; 64];
    // v2 ignores the form and never uses a pseudo-header.
    for form in [ChecksumForm::PseudoHeader, ChecksumForm::MessageOnly] {
        let n = wire::encode_payload(&repr, meta.src, meta.dst, form, &mut buf).unwrap();
        assert_eq!(&buf[..n], &bytes[..]);
    }
}
