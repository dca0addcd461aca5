//! The kernel hash functions and the dh/sh/mh bucket choices, against independent
//! computations (hand-worked products, the siphasher crate).

mod common;

use std::hash::Hasher;
use std::net::IpAddr;

use common::*;
use lvs_sched::hash::{MH_KEY1, MH_KEY2, addr_fold, hash_32, hsiphash_u32, mh_hashkey};
use lvs_sched::{DestId, DestParams, PacketInfo, SchedConfig, SchedFlags, SchedulerKind};
use siphasher::sip::SipHasher13;

#[test]
fn hash_32_worked_example() {
    // 10.0.0.1 = 0x0A000001. hash_32(x, 8) = (x * 0x61C88647 mod 2^32) >> 24.
    // 0x0A000001 * 0x61C88647 = 0x61C88647 + 0x0A000000 * 0x61C88647;
    // the second term mod 2^32 is (0x0A * 0x47 mod 0x100) << 24 = (0x2C6 mod 0x100) << 24
    // = 0xC6000000; sum = 0x127C88647 -> mod 2^32 = 0x27C88647; >> 24 = 0x27 = 39.
    assert_eq!(hash_32(0x0A00_0001, 8), 39);
    // 0 hashes to 0; 1 hashes to the top bits of the constant itself.
    assert_eq!(hash_32(0, 8), 0);
    assert_eq!(hash_32(1, 8), 0x61);
    assert_eq!(hash_32(1, 10), 0x61C8_8647 >> 22);
}

#[test]
fn ipv6_fold_xors_the_four_words() {
    let a: IpAddr = "2001:db8:0:1::5".parse().unwrap();
    // words 0x20010db8, 0x00000001, 0x00000000, 0x00000005.
    assert_eq!(addr_fold(a), 0x2001_0db8 ^ 0x1 ^ 0x5);
    assert_eq!(addr_fold(v4(192, 168, 1, 2)), 0xC0A8_0102);
}

#[test]
fn dh_bucket_for_known_address_picks_bucket_mod_n() {
    // ip_vs_dh.c: 256 buckets filled round robin, bucket b -> list position b % N.
    // daddr 10.0.0.1 -> bucket 39 (worked above); with 5 real servers: 39 % 5 = 4 -> the
    // fifth in list order.
    let mut s = sched_in_list_order(SchedulerKind::Dh, SchedConfig::default(), &[1, 1, 1, 1, 1]);
    let p = PacketInfo::new(v4(192, 0, 2, 7), 1234, v4(10, 0, 0, 1), 80);
    assert_eq!(s.schedule(&p, T0), Ok(DestId(5)));
    // dh ignores weights but refuses weight 0 (no fallback).
    s.edit_dest(DestId(5), DestParams::weight(0)).unwrap();
    assert!(s.schedule(&p, T0).is_err());
}

#[test]
fn sh_bucket_uses_saddr_and_weights_tile_the_table() {
    // ip_vs_sh.c: weights 2 and 1 tile 256 buckets as A A B A A B ...: bucket b -> A unless
    // b % 3 == 2. saddr 10.0.0.1 -> bucket 39 (39 % 3 = 0 -> A); with sh-port the source
    // port is added before hashing: 0x0A000001 + 1 = 0x0A000002;
    // 0x0A000002 * 0x61C88647 = 2 * 0x61C88647 + 0xC6000000 (mod 2^32)
    // = 0xC391 0C8E + 0xC6000000 = 0x1 8991 0C8E -> 0x89910C8E >> 24 = 0x89 = 137,
    // 137 % 3 = 2 -> B.
    let mut s = sched_in_list_order(SchedulerKind::Sh, SchedConfig::default(), &[2, 1]);
    let p = PacketInfo::new(v4(10, 0, 0, 1), 1, v4(192, 0, 2, 100), 80);
    assert_eq!(s.schedule(&p, T0), Ok(DestId(1)));
    s.set_flags(SchedFlags(SchedFlags::SH_PORT));
    assert_eq!(lvs_sched::sh::sh_bucket(v4(10, 0, 0, 1), 1, 0, 8), 137);
    assert_eq!(s.schedule(&p, T0), Ok(DestId(2)));
    // Reply direction: daddr is hashed instead (port = dport then).
    let r = PacketInfo {
        inverse: true,
        ..PacketInfo::new(v4(192, 0, 2, 9), 5, v4(10, 0, 0, 1), 1)
    };
    assert_eq!(s.schedule(&r, T0), Ok(DestId(2)));
}

#[test]
fn sh_fallback_walks_to_a_usable_server() {
    let mut s = sched_in_list_order(SchedulerKind::Sh, SchedConfig::default(), &[1, 1]);
    let p = PacketInfo::new(v4(10, 0, 0, 1), 1, v4(192, 0, 2, 100), 80);
    // Bucket 39 -> position 39 % 2 = 1 -> id 2.
    assert_eq!(s.schedule(&p, T0), Ok(DestId(2)));
    s.edit_dest(DestId(2), DestParams::weight(0)).unwrap();
    // Weight 0 still gets one bucket per turn in the tiling (A B A B ...), unusable.
    assert!(s.schedule(&p, T0).is_err());
    s.set_flags(SchedFlags(SchedFlags::SH_FALLBACK));
    assert_eq!(s.schedule(&p, T0), Ok(DestId(1)));
}

fn sip13(v: u32, k: [u64; 2]) -> u32 {
    let mut h = SipHasher13::new_with_keys(k[0], k[1]);
    h.write(&v.to_le_bytes());
    h.finish() as u32
}

#[test]
fn hsiphash_is_siphash13_truncated_like_64bit_kernels() {
    // lib/siphash.c: on 64-bit, hsiphash is SipHash-1-3 (64-bit result returned as u32).
    for v in [0u32, 1, 0x0A00_0001, 0xFFFF_FFFF, 0xDEAD_BEEF, 12345] {
        assert_eq!(hsiphash_u32(v, &MH_KEY1), sip13(v, MH_KEY1), "v={v:#x}");
        assert_eq!(hsiphash_u32(v, &MH_KEY2), sip13(v, MH_KEY2), "v={v:#x}");
    }
    // ip_vs_mh_hashkey(): v = offset + port + ntohl(addr_fold).
    assert_eq!(
        mh_hashkey(v4(10, 0, 0, 1), 80, &MH_KEY1, 3),
        sip13(0x0A00_0001 + 80 + 3, MH_KEY1)
    );
}

/// The Maglev table of real servers 1..=n (weight 1, port 80) at the default M = 4093,
/// i.e. the list order `sched_in_list_order` builds.
fn unit_weight_table(n: u32) -> lvs_sched::Maglev {
    let servers: Vec<_> = (1..=n)
        .map(|id| lvs_sched::MaglevServer {
            addr: rip(id),
            port: 80,
            weight: 1,
        })
        .collect();
    lvs_sched::Maglev::build(&servers, lvs_sched::MaglevSize::DEFAULT).unwrap()
}

#[test]
fn mh_lookup_uses_key1_hash_mod_m() {
    // Build a service and check the pick equals the table slot at hsiphash % M computed
    // independently with siphasher.
    let mut s = sched_in_list_order(SchedulerKind::Mh, SchedConfig::default(), &[1, 1, 1]);
    let table = unit_weight_table(3);
    for c in 0..200u32 {
        let src = v4(198, 51, (c >> 8) as u8, c as u8);
        let slot = sip13(addr_fold(src), MH_KEY1) % 4093;
        let want = table.slots()[slot as usize] + 1;
        assert_eq!(s.schedule(&pkt(src, 999), T0), Ok(DestId(want)));
    }
}

#[test]
fn mh_hashes_the_reply_side_daddr_and_folds_ipv6() {
    // ip_vs_mh_schedule(): hash_addr = inverse ? daddr : saddr; IPv6 folded by XOR.
    let mut s = sched_in_list_order(SchedulerKind::Mh, SchedConfig::default(), &[1, 1, 1, 1]);
    let table = unit_weight_table(4);
    for c in 0..100u16 {
        let client: IpAddr = format!("2001:db8::{c:x}").parse().unwrap();
        let vip: IpAddr = "2001:db8:ffff::1".parse().unwrap();
        let want = table.slots()[(sip13(addr_fold(client), MH_KEY1) % 4093) as usize] + 1;
        let fwd = PacketInfo::new(client, 1000 + c, vip, 443);
        assert_eq!(s.schedule(&fwd, T0), Ok(DestId(want)));
        let rev = PacketInfo {
            inverse: true,
            ..PacketInfo::new(vip, 443, client, 1000 + c)
        };
        assert_eq!(s.schedule(&rev, T0), Ok(DestId(want)));
    }
}

#[test]
fn sh_table_bits_are_configurable() {
    // CONFIG_IP_VS_SH_TAB_BITS = 4: 16 buckets; 10.0.0.1 -> hash_32(0x0A000001, 4) = 0x27C88647
    // >> 28 = 2; equal weights 1 over 3 servers tile A B C A B C ..., bucket 2 -> C.
    let cfg = SchedConfig {
        sh_tab_bits: 4,
        ..SchedConfig::default()
    };
    let mut s = sched_in_list_order(SchedulerKind::Sh, cfg, &[1, 1, 1]);
    let p = PacketInfo::new(v4(10, 0, 0, 1), 1, v4(192, 0, 2, 100), 80);
    assert_eq!(hash_32(0x0A00_0001, 4), 2);
    assert_eq!(s.schedule(&p, T0), Ok(DestId(3)));
}
