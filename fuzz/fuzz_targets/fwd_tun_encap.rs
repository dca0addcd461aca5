//! Arbitrary inner packet + tunnel parameters into lvs-fwd tunnel encapsulation and the MTU
//! decision: never a panic, never a write outside the returned range; a success implies the
//! outer IPv4 header checksum (etherparse), the GRE checksum and the GUE UDP checksum (when set)
//! verify, and decapsulation gives the same inner packet back.
#![no_main]

use libfuzzer_sys::fuzz_target;
use lvs_fwd::tun::{
    DecapConfig, EncapMeta, GueCsum, PartialCsum, TunAddrs, TunType, TunnelConfig, check_mtu,
    decapsulate, encapsulate,
};

fn sum(parts: &[&[u8]]) -> u16 {
    let mut s: u64 = 0;
    let mut odd: Option<u8> = None;
    for p in parts {
        for &b in *p {
            match odd.take() {
                Some(hi) => s += u64::from(u16::from_be_bytes([hi, b])),
                None => odd = Some(b),
            }
        }
    }
    if let Some(hi) = odd {
        s += u64::from(hi) << 8;
    }
    while s >> 16 != 0 {
        s = (s & 0xffff) + (s >> 16);
    }
    s as u16
}

fuzz_target!(|data: &[u8]| {
    let Some((p, inner)) = data.split_first_chunk::<12>() else {
        return;
    };
    let port = u16::from_be_bytes([p[1], p[2]]);
    let csum = [GueCsum::NoCsum, GueCsum::Csum, GueCsum::RemCsum][usize::from(p[0] >> 2) % 3];
    let tun_type = match p[0] & 3 {
        0 => TunType::Ipip,
        1 => TunType::Gue { port, csum },
        _ => TunType::Gre { csum: p[0] & 0x10 != 0 },
    };
    let addrs = if p[3] & 1 == 0 {
        TunAddrs::V4 { src: [192, 168, 1, 1].into(), dst: [172, 16, 0, p[4]].into() }
    } else {
        TunAddrs::V6 {
            src: "2001:db8:1::1".parse().unwrap(),
            dst: std::net::Ipv6Addr::new(0x2001, 0xdb8, 2, 0, 0, 0, 0, u16::from(p[4])),
        }
    };
    let mut cfg = TunnelConfig::new(tun_type, addrs);
    cfg.pmtu_disc = p[3] & 2 != 0;
    let partial = (p[3] & 4 != 0).then_some(PartialCsum {
        csum_start: u16::from(p[5]),
        csum_offset: u16::from(p[6]),
    });
    let meta = EncapMeta {
        flow_hash: u32::from_be_bytes([p[7], p[8], p[9], p[10]]),
        ip_id: u16::from(p[11]),
        partial_csum: partial,
    };
    let _ = check_mtu(inner, &cfg, partial.is_some(), u32::from(p[11]) * 16);
    let headroom = usize::from(p[5] % 64);
    let mut buf = vec![0xEEu8; headroom + inner.len() + 2];
    buf[headroom..headroom + inner.len()].copy_from_slice(inner);
    // Half of the inputs get their IP length field fixed up to the bytes given, so that most of
    // them encapsulate and the success path is exercised as much as the refusals.
    if p[3] & 8 != 0 && inner.len() >= 40 {
        let pkt = &mut buf[headroom..headroom + inner.len()];
        let n = pkt.len().min(0xffff);
        if p[3] & 16 == 0 {
            pkt[0] = 0x45;
            pkt[2..4].copy_from_slice(&(n as u16).to_be_bytes());
        } else {
            pkt[0] = 0x60 | (pkt[0] & 0x0f);
            pkt[4..6].copy_from_slice(&((n - 40) as u16).to_be_bytes());
        }
    }
    let before = buf.clone();
    let Ok(r) = encapsulate(&mut buf, headroom, &cfg, &meta) else {
        assert_eq!(buf, before, "nothing written on error");
        return;
    };
    assert!(buf[..r.start] == before[..r.start] && buf[r.end..] == before[r.end..]);
    let outer = &buf[r.clone()];
    let ip_len = if p[3] & 1 == 0 {
        let (h, _) = etherparse::Ipv4Header::from_slice(outer).unwrap();
        // 0x0000 and 0xFFFF are both zero in one's complement (RFC 1071); an incremental
                    // update may leave either.
                    let (c, w) = (h.header_checksum, h.calc_header_checksum());
                    assert!(c == w || (c == 0xFFFF && w == 0) || (c == 0 && w == 0xFFFF));
        assert_eq!(usize::from(h.total_len), outer.len());
        20
    } else {
        let (h, _) = etherparse::Ipv6Header::from_slice(outer).unwrap();
        assert_eq!(usize::from(h.payload_length) + 40, outer.len());
        40
    };
    let body = &outer[ip_len..];
    match tun_type {
        TunType::Gre { csum: true } => assert_eq!(sum(&[body]), 0xffff),
        TunType::Gue { .. } if body[6..8] != [0, 0] => {
            let (udp, payload) = etherparse::UdpHeader::from_slice(body).unwrap();
            let want = match addrs {
                TunAddrs::V4 { src, dst } => {
                    udp.calc_checksum_ipv4_raw(src.octets(), dst.octets(), payload).unwrap()
                }
                TunAddrs::V6 { src, dst } => {
                    udp.calc_checksum_ipv6_raw(src.octets(), dst.octets(), payload).unwrap()
                }
            };
            assert_eq!(udp.checksum, want);
        }
        _ => {}
    }
    let gue_port = match tun_type {
        TunType::Gue { port, .. } => Some(port),
        _ => None,
    };
    let inner_len = r.end - headroom;
    let mut copy = outer.to_vec();
    match decapsulate(&mut copy, &DecapConfig { gue_port }) {
        Ok(d) => {
            assert_eq!(d.inner.len(), inner_len);
            if !d.remcsum_resolved {
                assert_eq!(&copy[d.inner.clone()], &before[headroom..r.end]);
            }
        }
        // Encapsulation does not validate the inner IPv4 header checksum or a lying remcsum
        // seed; decapsulation does. Nothing else may fail.
        Err(e) => assert!(
            matches!(e, lvs_fwd::tun::TunError::BadInnerChecksum),
            "round trip failed: {e:?}"
        ),
    }
});
