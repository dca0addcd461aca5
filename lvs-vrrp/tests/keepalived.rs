//! Real keepalived 2.2.7 packets (tests/data/keepalived-2.2.7.pcap, see the README there):
//! every advert decodes with the fields tcpdump showed; instances configured as keepalived's
//! peers accept every advert; and our encoders produce the same bytes keepalived sent (VRRP
//! messages, checksums in keepalived's pseudo-header form, gratuitous ARPs, NAs), apart from
//! the IPv4 ID / IPv6 flow label, which keepalived varies.

mod common;

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use lvs_vrrp::wire::{self, ChecksumForm, Family, Version};
use lvs_vrrp::{AuthType, Authentication, Router, State, Transmit, VrrpConfig, VrrpInstance};

const PCAP: &[u8] = include_bytes!("data/keepalived-2.2.7.pcap");
const KA_MAC: [u8; 6] = [0x02, 0, 0, 0, 0x09, 0x01];
const KA_V4: IpAddr = IpAddr::V4(Ipv4Addr::new(10, 9, 0, 1));
const KA_LL: IpAddr = IpAddr::V6(Ipv6Addr::new(0xfe80, 0, 0, 0, 0, 0xff, 0xfe00, 0x901));
const US_V4: IpAddr = IpAddr::V4(Ipv4Addr::new(10, 9, 0, 2));
const US_LL: IpAddr = IpAddr::V6(Ipv6Addr::new(0xfe80, 0, 0, 0, 0, 0xff, 0xfe00, 0x902));

fn frames() -> Vec<(u64, Vec<u8>)> {
    let (lt, f) = common::read_pcap_ts(PCAP);
    assert_eq!(lt, 1);
    let t0 = f[0].0;
    f.into_iter().map(|(t, b)| (t - t0, b)).collect()
}

fn is_vrrp(f: &[u8]) -> bool {
    (f[12..14] == [0x08, 0x00] && f[23] == 112) || (f[12..14] == [0x86, 0xdd] && f[20] == 112)
}

fn v4(s: &str) -> IpAddr {
    s.parse().unwrap()
}

/// keepalived.conf's four instances, seen from the keepalived side (`local = true`) or as
/// a lower-priority peer at 10.9.0.2 / fe80::ff:fe00:902 (`local = false`).
fn configs(local: bool) -> Vec<VrrpConfig> {
    let (a4, a6, mac) = if local {
        (KA_V4, KA_LL, KA_MAC)
    } else {
        (US_V4, US_LL, [2, 0, 0, 0, 9, 2])
    };
    let base = VrrpConfig {
        interface: "va".into(),
        interface_addr: a4,
        interface_mac: mac,
        ..VrrpConfig::default()
    };
    let prio = |p: u8| if local { p } else { 50 };
    vec![
        VrrpConfig {
            name: "VI_2".into(),
            virtual_router_id: 51,
            priority: prio(100),
            authentication: Some(Authentication {
                auth_type: AuthType::Pass,
                auth_pass: "1111".into(),
            }),
            virtual_ipaddress: vec![v4("10.9.0.100")],
            ..base.clone()
        },
        VrrpConfig {
            name: "VI_3".into(),
            virtual_router_id: 52,
            version: Some(Version::V3),
            priority: prio(150),
            advert_int: std::time::Duration::from_millis(500),
            virtual_ipaddress: vec![v4("10.9.0.101"), v4("10.9.0.102")],
            ..base.clone()
        },
        VrrpConfig {
            name: "VI_6".into(),
            interface_addr: a6,
            virtual_router_id: 53,
            priority: prio(200),
            virtual_ipaddress: vec![v4("fe80::100"), v4("2001:db8::100")],
            ..base.clone()
        },
        VrrpConfig {
            name: "VI_U".into(),
            virtual_router_id: 54,
            version: Some(Version::V3),
            priority: prio(120),
            unicast_src_ip: Some(a4),
            unicast_peer: vec![if local { US_V4 } else { KA_V4 }],
            check_unicast_src: true,
            virtual_ipaddress: vec![v4("10.9.0.103")],
            ..base
        },
    ]
}

#[test]
fn every_keepalived_advert_decodes_as_tcpdump_showed() {
    // Counts per (vrid, priority) from tcpdump's own decode (README).
    let mut seen: BTreeMap<(u8, u8), usize> = BTreeMap::new();
    for (_, f) in frames().iter().filter(|(_, f)| is_vrrp(f)) {
        let (m, a) = wire::decode_frame(f).unwrap();
        *seen.entry((a.vrid, a.priority)).or_default() += 1;
        assert_eq!(m.ttl, 255);
        match a.vrid {
            51 => {
                assert_eq!((a.version, a.auth_type, a.adver_int), (Version::V2, 1, 1));
                assert_eq!(&a.auth_data, b"1111\0\0\0\0");
                assert_eq!(a.checksum_form, ChecksumForm::MessageOnly);
                assert_eq!(a.addresses().collect::<Vec<_>>(), vec![v4("10.9.0.100")]);
            }
            52 => {
                assert_eq!((a.version, a.adver_int), (Version::V3, 50));
                // keepalived 2.2.7 always includes the IPv4 pseudo-header.
                assert_eq!(a.checksum_form, ChecksumForm::PseudoHeader);
                assert_eq!(a.addr_count(), 2);
            }
            53 => {
                assert_eq!(
                    (a.version, a.family, a.adver_int),
                    (Version::V3, Family::V6, 100)
                );
                assert_eq!(m.src, KA_LL);
                assert_eq!(a.address(1), Some(v4("2001:db8::100")));
            }
            54 => {
                assert_eq!(m.dst, US_V4, "unicast");
                assert_eq!(a.checksum_form, ChecksumForm::PseudoHeader);
                // The pseudo-header carries the unicast destination: recompute independently.
                let msg = &f[34..34 + 12];
                let mut ph = vec![10, 9, 0, 1, 10, 9, 0, 2, 0, 112, 0, 12];
                assert_eq!(common::inet_checksum(&[&ph, msg]), 0);
                ph[4..8].copy_from_slice(&[224, 0, 0, 18]);
                assert_ne!(common::inet_checksum(&[&ph, msg]), 0);
            }
            v => panic!("unexpected VRID {v}"),
        }
    }
    let expect: BTreeMap<(u8, u8), usize> = [
        ((51, 0), 1),
        ((51, 100), 6),
        ((52, 0), 1),
        ((52, 150), 15),
        ((53, 0), 1),
        ((53, 200), 6),
        ((54, 0), 1),
        ((54, 120), 6),
    ]
    .into();
    assert_eq!(seen, expect);
}

#[test]
fn our_peers_accept_every_keepalived_advert_and_stay_backup() {
    let mut r = Router::new();
    for c in configs(false) {
        r.push(VrrpInstance::new(c, 0).unwrap());
    }
    let mut last = 0;
    for (t, f) in frames().iter().filter(|(_, f)| is_vrrp(f)) {
        r.handle_timeout(*t);
        r.handle_frame(*t, f)
            .unwrap_or_else(|e| panic!("frame at {t} us refused: {e}"));
        last = *t;
    }
    assert_eq!(r.stats().unknown_vrid, 0);
    for (inst, n) in r.instances().iter().zip([7u64, 16, 7, 7]) {
        let s = inst.stats();
        assert_eq!(
            (s.advert_rcvd, s.pri_zero_rcvd),
            (n, 1),
            "{}",
            inst.config().name
        );
        assert_eq!(inst.state(), State::Backup, "{}", inst.config().name);
        assert_eq!(s.become_master, 0);
    }
    // v3 learned keepalived's 50 cs interval.
    assert_eq!(r.instances()[1].master_adver_interval_cs(), 50);
    // After keepalived's priority-0 adverts, each takes over within Skew_Time.
    let next = r.poll_timeout().unwrap();
    assert!(next <= last + r.instances()[0].skew_time_us());
}

#[test]
fn our_adverts_are_byte_identical_to_keepalived_s() {
    let fr = frames();
    let ka: Vec<&Vec<u8>> = fr.iter().map(|(_, f)| f).filter(|f| is_vrrp(f)).collect();
    let mut buf = [0u8; wire::MAX_FRAME_LEN];
    for c in configs(true) {
        let vrid = c.virtual_router_id;
        let mut vr = VrrpInstance::new(c, 0).unwrap();
        vr.handle_timeout(vr.poll_timeout().unwrap());
        assert_eq!(vr.state(), State::Master);
        let Some(Transmit::Advert { len, dst_mac, .. }) = vr.poll_transmit(&mut buf) else {
            panic!("no advert")
        };
        let ours = &mut buf[..len];
        if dst_mac.is_none() {
            ours[..6].copy_from_slice(&[2, 0, 0, 0, 9, 2]); // the caller resolves the peer
        }
        let theirs = ka
            .iter()
            .find(|f| wire::decode_frame(f).unwrap().1.vrid == vrid && f.len() == len)
            .unwrap_or_else(|| panic!("no keepalived frame for VRID {vrid}"));
        let mask: &[usize] = if theirs[12] == 0x08 {
            &[18, 19, 24, 25] // IPv4 ID and header checksum
        } else {
            &[15, 16, 17] // IPv6 flow label
        };
        for (i, (a, b)) in ours.iter().zip(theirs.iter()).enumerate() {
            if !mask.contains(&i) {
                assert_eq!(
                    a, b,
                    "VRID {vrid}: byte {i} differs\nours   {ours:02x?}\ntheirs {theirs:02x?}"
                );
            }
        }
    }
}

#[test]
fn our_gratuitous_arps_and_nas_are_byte_identical_to_keepalived_s() {
    let (mut garps, mut nas) = (0, 0);
    let mut buf = [0u8; 128];
    for (_, f) in frames() {
        if f[12..14] == [0x08, 0x06] && f[28..32] == f[38..42] {
            let vip = Ipv4Addr::new(f[28], f[29], f[30], f[31]);
            let n = wire::encode_gratuitous_arp(KA_MAC, vip, &mut buf).unwrap();
            assert_eq!(&buf[..n], &f[..], "GARP for {vip}");
            garps += 1;
        }
        if f[12..14] == [0x86, 0xdd] && f[20] == 58 && f[54] == 136 {
            let vip = Ipv6Addr::from(<[u8; 16]>::try_from(&f[62..78]).unwrap());
            // keepalived sets R only when the interface forwards IPv6; this one did not.
            let n = wire::encode_unsolicited_na(KA_MAC, vip, false, &mut buf).unwrap();
            assert_eq!(&buf[..n], &f[..], "NA for {vip}");
            nas += 1;
        }
    }
    assert_eq!((garps, nas), (40, 20));
}
