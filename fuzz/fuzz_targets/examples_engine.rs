//! Arbitrary frames into the director runtime ([`lvs_examples::director::Engine`]) in both
//! neighbour modes, with its local stack (smoltcp ICMP echo) on: it must never panic, every
//! frame it transmits must be at least an Ethernet header long, and its timers must run.
//!
//! The first byte picks the mode (bit 0: static neighbours, bit 1: two-legged, bit 2: a 576-byte
//! MTU so transmits get refragmented, bit 3: all frames first through the batch entry
//! `handle_frames`); the rest is split into frames at each 0xff byte. A
//! frame whose first byte is even gets a valid Ethernet + IPv4 + TCP/UDP prefix toward the
//! VIP (or from the real server), so the fuzzer reaches the pipeline quickly.
#![no_main]

use std::net::Ipv4Addr;
use std::time::{Duration, Instant};

use libfuzzer_sys::fuzz_target;
use lvs_arp::MacAddr;
use lvs_core::{Director, DirectorConfig, PacketMeta};
use lvs_examples::control::{Request, execute};
use lvs_examples::director::{
    DEFAULT_MTU, Engine, EngineConfig, IF_CLIENT, IF_SERVER, NeighMode, RxFrame,
};

const RULES: &str = "-A -t 10.0.0.100:80 -s rr --laddr 10.0.0.50\n\
    -a -t 10.0.0.100:80 -r 10.0.0.11:80 -g -w 1\n-a -t 10.0.0.100:80 -r 10.0.0.12:8080 -m -w 1\n\
    -A -u 10.0.0.100:53 -s wrr --laddr 10.0.0.50\n-a -u 10.0.0.100:53 -r 10.0.0.13:53 --fullnat -w 2\n\
    -a -u 10.0.0.100:53 -r 10.0.0.14:53 -i -w 1\n";

fn frame(chunk: &[u8]) -> Vec<u8> {
    let Some((&first, rest)) = chunk.split_first() else {
        return Vec::new();
    };
    if first & 1 == 1 {
        return rest.to_vec();
    }
    let (src, dst, sport, dport) = if first & 2 == 0 {
        ([10, 0, 1, 2], [10, 0, 0, 100], 40000, if first & 4 == 0 { 80 } else { 53 })
    } else {
        ([10, 0, 0, 12], [10, 0, 1, 2], 8080, 40000)
    };
    let b = etherparse::PacketBuilder::ethernet2([2, 0, 0, 0, 0, 2], [2, 0, 0, 0, 0, 1])
        .ipv4(src, dst, first >> 3);
    let mut v = Vec::new();
    let _ = if first & 4 == 0 {
        b.tcp(sport, dport, 1, 1024).syn().write(&mut v, rest)
    } else {
        b.udp(sport, dport).write(&mut v, rest)
    };
    v
}

fuzz_target!(|data: &[u8]| {
    let Some((&mode, data)) = data.split_first() else {
        return;
    };
    let now = Instant::now();
    let mut d = Director::new(DirectorConfig::default(), now);
    let r = execute(
        &mut d,
        &Request {
            args: vec!["-R".into()],
            stdin: Some(RULES.into()),
        },
        now,
    );
    assert_eq!(r.status, 0, "{}", r.stderr);
    let two = mode & 2 != 0;
    let cfg = EngineConfig {
        mac: MacAddr([2, 0, 0, 0, 0, 1]),
        vips: vec![],
        dips: vec![(Ipv4Addr::new(10, 0, 1, 1), 24)],
        dips_server: if two { vec![(Ipv4Addr::new(10, 0, 0, 1), 24)] } else { vec![] },
        laddrs: vec![],
        gateway: Some(Ipv4Addr::new(10, 0, 1, 254)),
        neigh_mode: if mode & 1 == 0 { NeighMode::Resolve } else { NeighMode::Static },
        local_stack: true,
        // A small MTU now and then, so transmits get refragmented.
        mtu: if mode & 4 == 0 { DEFAULT_MTU } else { 576 },
    };
    let Ok(mut e) = Engine::new(d, cfg, now) else {
        return;
    };
    e.add_static_neigh(Ipv4Addr::new(10, 0, 0, 11), MacAddr([2, 0, 0, 0, 0, 0x11]));
    let mut t = now;
    let frames: Vec<Vec<u8>> = data.split(|&b| b == 0xff).map(frame).collect();
    let side = |i: usize| if two && i % 2 == 1 { IF_SERVER } else { IF_CLIENT };
    if mode & 8 != 0 {
        // The batch entry: every frame at once (its IP frames through process_batch).
        e.handle_frames(
            frames.iter().enumerate().map(|(i, f)| RxFrame {
                ifindex: side(i),
                frame: f,
                meta: PacketMeta::default(),
            }),
            t,
            |_, _| {},
        );
    }
    for (i, (chunk, f)) in data.split(|&b| b == 0xff).zip(&frames).enumerate() {
        let _ = e.handle_frame(side(i), f, &PacketMeta::default(), t);
        let _ = e.conn_of(f);
        t += Duration::from_millis(u64::from(chunk.len() as u8) * 10);
        e.handle_timeout(t);
        while let Some((_, out)) = e.poll_transmit() {
            assert!(out.len() >= 14, "transmitted frame shorter than an Ethernet header");
        }
    }
    let _ = e.poll_timeout(t);
});
