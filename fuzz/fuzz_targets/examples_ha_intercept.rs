//! Arbitrary frames into the HA hook of the director loop (lvs_examples::ha): the sync frame
//! parser, the backup daemon's accept path with the Director's sync import behind it, and
//! `HaRuntime::intercept` (VRRP, ARP, IPv4/IPv6 VIP rules) must never panic. The frame's
//! first byte picks the runtime: as BACKUP (fresh) or after MASTER.
#![no_main]

use std::net::{IpAddr, Ipv4Addr};
use std::time::{Duration, Instant};

use libfuzzer_sys::fuzz_target;
use lvs_core::director::{Director, DirectorConfig};
use lvs_examples::ha::sync::parse_udp_frame;
use lvs_examples::ha::{HaInstance, HaRuntime};
use lvs_vrrp::{Version, VrrpConfig};

fuzz_target!(|data: &[u8]| {
    let _ = parse_udp_frame(data);
    let t = Instant::now();
    let mut d = Director::new(DirectorConfig::default(), t);
    for l in [
        "-A -t 10.0.0.100:80 -s mh",
        "-a -t 10.0.0.100:80 -r 10.0.1.1:80 -g -w 1",
        "--start-daemon backup --mcast-interface eth0",
    ] {
        let _ = d.apply_line(l, t);
    }
    let cfg = VrrpConfig {
        interface: "eth0".into(),
        interface_addr: IpAddr::V4(Ipv4Addr::new(10, 0, 0, 2)),
        interface_mac: [2, 0, 0, 0, 0, 2],
        virtual_router_id: 51,
        advert_int: Duration::from_millis(100),
        version: Some(Version::V3),
        virtual_ipaddress: vec![IpAddr::V4(Ipv4Addr::new(10, 0, 0, 100))],
        ..VrrpConfig::default()
    };
    let Ok(mut rt) = HaRuntime::new(
        vec![HaInstance::new(cfg)],
        vec![],
        Ipv4Addr::new(10, 0, 0, 2),
        [2, 0, 0, 0, 0, 2],
        t,
    ) else {
        return;
    };
    rt.follow_director_daemons(&d);
    let now = if data.first().is_some_and(|b| b & 1 == 1) {
        let later = t + Duration::from_secs(1);
        rt.handle_timeout(later);
        while rt.poll_transmit(&mut d, later).is_some() {}
        later
    } else {
        t
    };
    let _ = rt.intercept(&mut d, data, now);
    while rt.poll_transmit(&mut d, now).is_some() {}
});
