//! Criterion benchmarks for lvs-vrrp (see BENCHMARKS.md for the figures and goals):
//! encode / decode of one advert at each layer, and 10^6 simulated timer events.
#![allow(missing_docs)]

use std::hint::black_box;
use std::net::{IpAddr, Ipv4Addr};

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use lvs_vrrp::wire::{self, AdvertRepr, ChecksumForm, IpMeta, Version};
use lvs_vrrp::{State, Transmit, VrrpConfig, VrrpInstance};

const SRC: IpAddr = IpAddr::V4(Ipv4Addr::new(192, 168, 56, 101));
const VIP: IpAddr = IpAddr::V4(Ipv4Addr::new(192, 168, 56, 200));
const DST: IpAddr = IpAddr::V4(wire::MCAST_V4);

fn codec(c: &mut Criterion) {
    let vips = [VIP];
    let mut g = c.benchmark_group("vrrp_codec");
    g.throughput(Throughput::Elements(1));
    for version in [Version::V2, Version::V3] {
        let repr = AdvertRepr {
            version,
            vrid: 51,
            priority: 100,
            adver_int: if version == Version::V2 { 1 } else { 100 },
            auth_type: if version == Version::V2 { 1 } else { 0 },
            auth_data: *b"1111\0\0\0\0",
            addrs: &vips,
        };
        let mut buf = [0u8; 128];
        let n = wire::encode_frame(
            &repr,
            [8, 0, 0x27, 0, 0, 1],
            wire::MCAST_MAC_V4,
            SRC,
            DST,
            ChecksumForm::PseudoHeader,
            &mut buf,
        )
        .expect("encodes");
        let frame = buf[..n].to_vec();
        let payload = frame[34..].to_vec();
        let meta = IpMeta {
            src: SRC,
            dst: DST,
            ttl: 255,
        };
        let v = if version == Version::V2 { "v2" } else { "v3" };
        g.bench_function(format!("encode_payload_{v}"), |b| {
            b.iter(|| {
                wire::encode_payload(
                    black_box(&repr),
                    SRC,
                    DST,
                    ChecksumForm::PseudoHeader,
                    black_box(&mut buf),
                )
            })
        });
        g.bench_function(format!("encode_frame_{v}"), |b| {
            b.iter(|| {
                wire::encode_frame(
                    black_box(&repr),
                    [8, 0, 0x27, 0, 0, 1],
                    wire::MCAST_MAC_V4,
                    SRC,
                    DST,
                    ChecksumForm::PseudoHeader,
                    black_box(&mut buf),
                )
            })
        });
        g.bench_function(format!("decode_payload_{v}"), |b| {
            b.iter(|| {
                wire::decode_payload(black_box(&payload), black_box(&meta)).map(|a| a.priority)
            })
        });
        g.bench_function(format!("decode_frame_{v}"), |b| {
            b.iter(|| wire::decode_frame(black_box(&frame)).map(|(_, a)| a.priority))
        });
    }
    g.finish();
}

fn cfg(addr: [u8; 4], priority: u8) -> VrrpConfig {
    VrrpConfig {
        interface_addr: IpAddr::V4(Ipv4Addr::from(addr)),
        interface_mac: [8, 0, 0x27, 0, 0, addr[3]],
        virtual_router_id: 51,
        priority,
        virtual_ipaddress: vec![VIP],
        garp_master_delay: std::time::Duration::ZERO,
        garp_master_repeat: 0,
        ..VrrpConfig::default()
    }
}

/// A master and a backup: every Adver_Timer expiry of the master produces an advert frame the
/// backup handles (resetting its Master_Down_Timer). One "timer event" = one handle_timeout +
/// poll_transmit + handle_frame on the peer.
fn timer_events(c: &mut Criterion) {
    const EVENTS: u64 = 1_000_000;
    let mut g = c.benchmark_group("vrrp_sim");
    g.sample_size(10);
    g.throughput(Throughput::Elements(EVENTS));
    g.bench_function("timer_events_1e6", |b| {
        b.iter(|| {
            let mut m = VrrpInstance::new(cfg([192, 168, 56, 102], 255), 0).expect("valid");
            let mut s = VrrpInstance::new(cfg([192, 168, 56, 101], 100), 0).expect("valid");
            let mut buf = [0u8; 256];
            let mut t = 0;
            for _ in 0..EVENTS {
                while let Some(Transmit::Advert { len, .. }) = m.poll_transmit(&mut buf) {
                    let _ = s.handle_frame(t + 100, &buf[..len]);
                }
                t = m.poll_timeout().expect("master has a timer");
                m.handle_timeout(t);
            }
            assert_eq!(s.state(), State::Backup);
            black_box(s.stats().advert_rcvd)
        })
    });
    g.finish();
}

criterion_group!(group, codec, timer_events);
criterion_main!(group);
