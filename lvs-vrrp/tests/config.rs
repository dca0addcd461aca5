//! Configuration defaults (keepalived 2.2.7's) and validation errors.

mod common;

use std::net::IpAddr;
use std::time::Duration;

use common::*;
use lvs_vrrp::wire::Version;
use lvs_vrrp::{
    AuthType, Authentication, ConfigError, InitialState, TrackWeight, VrrpConfig, VrrpInstance,
};

#[test]
fn defaults_are_keepalived_defaults() {
    // keepalived.conf(5): priority 100, advert_int 1, state BACKUP (init state), vrrp_version
    // 2, garp_master_delay 5, garp_master_repeat 5, garp_master_refresh 0 (off),
    // garp_master_refresh_repeat 1, preempt on, preempt_delay 0, lower_prio_no_advert off.
    let d = VrrpConfig::default();
    assert_eq!(d.priority, 100);
    assert_eq!(d.advert_int, Duration::from_secs(1));
    assert_eq!(d.state, InitialState::Backup);
    assert_eq!(d.garp_master_delay, Duration::from_secs(5));
    assert_eq!(d.garp_master_repeat, 5);
    assert_eq!(d.garp_master_refresh, Duration::ZERO);
    assert_eq!(d.garp_master_refresh_repeat, 1);
    assert!(!d.nopreempt && !d.lower_prio_no_advert && !d.accept);
    assert_eq!(d.preempt_delay, Duration::ZERO);
    assert_eq!(cfg(100).effective_version(), Version::V2);
    let mut v6 = cfg(100);
    v6.interface_addr = "fe80::1".parse().unwrap();
    v6.virtual_ipaddress = vec!["fe80::100".parse().unwrap()];
    assert_eq!(v6.effective_version(), Version::V3, "IPv6 forces v3");
}

#[test]
fn seed_configs_validate() {
    // shared/seeds/000: MASTER 100 / BACKUP 90 with VRID 51 and PASS 1111; the nopreempt
    // variant with state BACKUP, VRID 200.
    let mut m = cfg(100);
    m.state = InitialState::Master;
    m.authentication = Some(Authentication {
        auth_type: AuthType::Pass,
        auth_pass: "1111".into(),
    });
    m.track = vec![TrackWeight {
        name: "chk_nginx".into(),
        weight: -20,
    }];
    assert_eq!(m.validate(), Ok(()));
    let mut b = cfg(90);
    b.virtual_router_id = 200;
    b.nopreempt = true;
    assert_eq!(b.validate(), Ok(()));
}

#[test]
fn validation_errors_are_typed() {
    let check = |f: &dyn Fn(&mut VrrpConfig), e: ConfigError| {
        let mut c = cfg(100);
        f(&mut c);
        assert_eq!(c.validate(), Err(e.clone()));
        assert_eq!(VrrpInstance::new(c, 0).err(), Some(e));
    };
    check(&|c| c.virtual_router_id = 0, ConfigError::VridZero);
    check(&|c| c.priority = 0, ConfigError::PriorityOutOfRange);
    check(
        &|c| {
            c.interface_addr = "fe80::1".parse().unwrap();
            c.virtual_ipaddress = vec!["fe80::100".parse().unwrap()];
            c.version = Some(Version::V2);
        },
        ConfigError::V2WithIpv6,
    );
    check(
        &|c| {
            c.nopreempt = true;
            c.state = InitialState::Master;
        },
        ConfigError::NopreemptWithoutBackup,
    );
    check(
        &|c| c.advert_int = Duration::from_millis(1500),
        ConfigError::AdvertIntOutOfRange,
    );
    check(
        &|c| c.advert_int = Duration::from_secs(256),
        ConfigError::AdvertIntOutOfRange,
    );
    check(
        &|c| c.advert_int = Duration::ZERO,
        ConfigError::AdvertIntOutOfRange,
    );
    check(
        &|c| {
            c.version = Some(Version::V3);
            c.advert_int = Duration::from_millis(5);
        },
        ConfigError::AdvertIntOutOfRange,
    );
    check(
        &|c| {
            c.version = Some(Version::V3);
            c.advert_int = Duration::from_millis(40_960);
        },
        ConfigError::AdvertIntOutOfRange,
    );
    check(
        &|c| c.preempt_delay = Duration::from_secs(1001),
        ConfigError::PreemptDelayOutOfRange,
    );
    check(
        &|c| c.virtual_ipaddress.push("fe80::1".parse().unwrap()),
        ConfigError::MixedFamilies,
    );
    check(
        &|c| c.unicast_peer.push("fe80::1".parse().unwrap()),
        ConfigError::MixedFamilies,
    );
    check(
        &|c| {
            c.virtual_ipaddress = (0..256)
                .map(|i| IpAddr::from([10, 0, (i / 256) as u8, i as u8]))
                .collect()
        },
        ConfigError::TooManyVips,
    );
    check(
        &|c| {
            c.version = Some(Version::V3);
            c.authentication = Some(Authentication {
                auth_type: AuthType::Pass,
                auth_pass: "x".into(),
            });
        },
        ConfigError::AuthWithV3,
    );
    check(
        &|c| {
            c.authentication = Some(Authentication {
                auth_type: AuthType::Pass,
                auth_pass: String::new(),
            })
        },
        ConfigError::AuthPassEmpty,
    );
    check(
        &|c| {
            c.authentication = Some(Authentication {
                auth_type: AuthType::Ah,
                auth_pass: "x".into(),
            })
        },
        ConfigError::AhUnsupported,
    );
    check(
        &|c| {
            c.track = vec![TrackWeight {
                name: "s".into(),
                weight: 254,
            }]
        },
        ConfigError::TrackWeightOutOfRange(254),
    );
    check(
        &|c| {
            c.interface_addr = "2001:db8::1".parse().unwrap();
            c.virtual_ipaddress = vec!["2001:db8::100".parse().unwrap()];
        },
        ConfigError::Ipv6SourceNotLinkLocal,
    );
}

#[test]
fn v3_accepts_centisecond_intervals_and_auth_pass_is_truncated_to_8_bytes() {
    let mut c = cfg(100);
    c.version = Some(Version::V3);
    c.advert_int = Duration::from_millis(40_950);
    assert_eq!(c.validate(), Ok(()));
    c.advert_int = Duration::from_millis(10);
    assert_eq!(c.validate(), Ok(()));
    let a = Authentication {
        auth_type: AuthType::Pass,
        auth_pass: "0123456789".into(),
    };
    assert_eq!(&a.auth_data(), b"01234567");
    let a = Authentication {
        auth_type: AuthType::Pass,
        auth_pass: "1111".into(),
    };
    assert_eq!(&a.auth_data(), b"1111\0\0\0\0");
}

#[test]
fn source_address_selection() {
    // keepalived: mcast_src_ip / unicast_src_ip override the interface's primary address.
    let mut c = cfg(100);
    assert_eq!(c.src_ip(), LOCAL);
    c.mcast_src_ip = Some(PEER_LO);
    assert_eq!(c.src_ip(), PEER_LO);
    c.unicast_peer = vec![PEER_HI];
    assert_eq!(c.src_ip(), LOCAL);
    c.unicast_src_ip = Some(VIP);
    assert_eq!(c.src_ip(), VIP);
}
