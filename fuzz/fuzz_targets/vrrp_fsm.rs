//! Arbitrary sequences of packets, timeouts, track changes (fixed-weight objects and a
//! track_file value), shutdowns and restarts into one
//! lvs-vrrp instance. Must never panic, and the outputs must never contradict the state:
//! adverts with a non-zero priority and GARPs only while Master, all adverts of one drain with
//! one priority, timers never in the past after handle_timeout, priority within 1..=255.
#![no_main]

use std::net::{IpAddr, Ipv4Addr};
use std::time::Duration;

use libfuzzer_sys::fuzz_target;
use lvs_vrrp::wire::{self, AdvertRepr, ChecksumForm, IpMeta, Version};
use lvs_vrrp::{State, TrackFileWeight, TrackWeight, Transmit, VrrpConfig, VrrpInstance};

const LOCAL: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 9);
const VIP: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 100);

struct Bytes<'a>(&'a [u8]);

impl Bytes<'_> {
    fn u8(&mut self) -> Option<u8> {
        let (&b, rest) = self.0.split_first()?;
        self.0 = rest;
        Some(b)
    }
    fn u16(&mut self) -> Option<u16> {
        Some(u16::from(self.u8()?) << 8 | u16::from(self.u8()?))
    }
}

fn drain_and_check(vr: &mut VrrpInstance, buf: &mut [u8]) {
    let mut prio: Option<u8> = None;
    while let Some(t) = vr.poll_transmit(buf) {
        match t {
            Transmit::Advert { priority, len, .. } => {
                if priority != 0 {
                    assert_eq!(vr.state(), State::Master, "advert {priority} outside Master");
                }
                if let Some(p) = prio {
                    assert_eq!(p, priority, "conflicting adverts in one drain");
                }
                prio = Some(priority);
                assert!(wire::decode_frame(&buf[..len]).is_ok(), "own advert decodes");
            }
            Transmit::GratuitousArp { .. } | Transmit::UnsolicitedNa { .. } => {
                assert_eq!(vr.state(), State::Master, "GARP outside Master");
            }
            _ => {}
        }
    }
    while vr.poll_event().is_some() {}
}

fuzz_target!(|data: &[u8]| {
    let mut b = Bytes(data);
    let Some(flags) = b.u8() else { return };
    let Some(priority) = b.u8() else { return };
    let version = if flags & 1 == 0 { Version::V2 } else { Version::V3 };
    let mut cfg = VrrpConfig {
        interface_addr: IpAddr::V4(LOCAL),
        virtual_router_id: 51,
        priority: priority.max(1),
        version: Some(version),
        nopreempt: flags & 2 != 0,
        preempt_delay: Duration::from_secs(u64::from(flags >> 5)),
        lower_prio_no_advert: flags & 4 != 0,
        virtual_ipaddress: vec![IpAddr::V4(VIP)],
        track: vec![
            TrackWeight { name: "a".into(), weight: -50 },
            TrackWeight { name: "b".into(), weight: 0 },
        ],
        track_file: vec![TrackFileWeight { name: "f".into(), weight: -7, reverse: false, value: 0 }],
        ..VrrpConfig::default()
    };
    if flags & 8 != 0 {
        cfg.unicast_peer = vec![IpAddr::V4(Ipv4Addr::new(10, 0, 0, 10))];
    }
    if flags & 16 != 0 {
        cfg.advert_int = Duration::from_secs(2);
    }
    let Ok(mut vr) = VrrpInstance::new(cfg, 0) else { return };
    let mut buf = vec![0u8; wire::MAX_FRAME_LEN];
    let mut now: u64 = 0;
    drain_and_check(&mut vr, &mut buf);
    while let Some(op) = b.u8() {
        match op % 8 {
            0 | 1 => {
                // Advance time and run due timers.
                let step = u64::from(b.u16().unwrap_or(0)) * 100;
                now += step;
                if let Some(t) = vr.poll_timeout() {
                    if t <= now {
                        vr.handle_timeout(now);
                    }
                }
                if let Some(t) = vr.poll_timeout() {
                    assert!(t > now || vr.state() == State::Initialize, "timer in the past");
                }
            }
            2 | 3 => {
                // A well-formed advert with fuzzed fields.
                let (Some(p), Some(src), Some(int)) = (b.u8(), b.u8(), b.u8()) else { break };
                let src = IpAddr::V4(Ipv4Addr::new(10, 0, 0, src));
                let repr = AdvertRepr {
                    version,
                    vrid: 51,
                    priority: p,
                    adver_int: if version == Version::V2 { u16::from(int % 3) } else { u16::from(int) * 4 },
                    auth_type: 0,
                    auth_data: [0; 8],
                    addrs: &[IpAddr::V4(VIP)],
                };
                let dst = IpAddr::V4(wire::MCAST_V4);
                let mut pkt = [0u8; 64];
                if let Ok(n) = wire::encode_payload(&repr, src, dst, ChecksumForm::PseudoHeader, &mut pkt) {
                    let _ = vr.handle_packet(now, &IpMeta { src, dst, ttl: 255 }, &pkt[..n]);
                }
            }
            4 => {
                // Raw bytes as a payload.
                let len = usize::from(b.u8().unwrap_or(0) % 40);
                let take = len.min(b.0.len());
                let (raw, rest) = b.0.split_at(take);
                b.0 = rest;
                let meta = IpMeta { src: IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1)), dst: IpAddr::V4(wire::MCAST_V4), ttl: 255 };
                let _ = vr.handle_packet(now, &meta, raw);
            }
            5 => {
                let x = b.u8().unwrap_or(0);
                if x & 4 == 0 {
                    vr.set_track(now, usize::from(x & 1), x & 2 != 0);
                } else {
                    // A file value from -32768 to 32767: -7 * value spans FAULT (<= -254),
                    // every priority and the 253 clamp.
                    vr.set_track_value(now, 0, i64::from(b.u16().unwrap_or(0) as i16));
                }
            }
            6 => vr.set_interface_up(now, b.u8().unwrap_or(0) & 1 == 0),
            _ => {
                if b.u8().unwrap_or(0) & 1 == 0 {
                    vr.shutdown(now);
                } else {
                    vr.start(now);
                }
            }
        }
        let p = vr.effective_priority();
        assert!(p >= 1);
        drain_and_check(&mut vr, &mut buf);
    }
});
