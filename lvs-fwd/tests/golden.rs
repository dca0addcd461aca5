//! Golden byte vectors per mode, hand-built by tests/golden/gen_golden.py (an independent
//! Python implementation of the header layouts and of RFC 1071; no Rust code involved).
//! Addresses: CIP 192.0.2.10, VIP 10.0.0.100, RIP 192.168.10.2, LIP 10.0.0.200; IPv6 CIP
//! 2001:db8:c::10, VIP 2001:db8:f::100, RIP 2001:db8:a::2.

use std::net::IpAddr;

use lvs_fwd::{
    Outcome, dr, fullnat_in, fullnat_out, nat_icmp_out, nat_in, nat_out, parse, parse_icmp_error,
    port_unreachable, time_exceeded,
};

const SYN_V4: &str = "0200000000d10200000000010800450000281c4640004006521cc000020a0a0000649c400050000000010000000050027210d4d20000";
const SYN_V4_NAT_IN: &str = "0200000000d10200000000010800450000281c4640003f0692d5c000020ac0a80a029c401f90000000010000000050027210f54b0000";
const SYN_V4_DR: &str = "0200000000510200000000d10800450000281c4640003f06531cc000020a0a0000649c400050000000010000000050027210d4d20000";
const SYN_V4_FULLNAT_IN: &str = "0200000000d10200000000010800450000281c4640003f064a180a0000c8c0a80a0213881f9000000001000000005002721035470000";
const SYNACK_V4: &str = "0200000000d102000000005108004500002a1c464000400691d3c0a80a02c000020a1f909c4000000309000000025012721089c600006869";
const SYNACK_V4_NAT_OUT: &str = "0200000000d102000000005108004500002a1c4640003f06531a0a000064c000020a00509c40000003090000000250127210694d00006869";
const SYNACK_V4_FULLNAT: &str = "0200000000d102000000005108004500002a1c46400040064916c0a80a020a0000c81f901388000003090000000250127210c9c100006869";
const SYNACK_V4_FULLNAT_OUT: &str = "0200000000d102000000005108004500002a1c4640003f06531a0a000064c000020a00509c40000003090000000250127210694d00006869";
const UDP0_V4: &str = "0200000000d10200000000010800450000211c46400040115218c000020a0a00006414e90035000d00007175657279";
const UDP0_V4_NAT_IN: &str = "0200000000d10200000000010800450000211c4640003f1192d1c000020ac0a80a0214e914b4000d00007175657279";
const SYN_V6: &str = "0200000000d102000000000186dd600000000014064020010db8000c0000000000000000001020010db8000f000000000000000001009c4001bb00000001000000005002721043390000";
const SYN_V6_NAT_IN: &str = "0200000000d102000000000186dd600000000014063f20010db8000c0000000000000000001020010db8000a000000000000000000029c4020fb00000001000000005002721024fc0000";
const ICMP_V4: &str = "0200000000d10200000000510800450000381c464000400191cac0a80a02c000020a0303d9b800000000450000211c4640003f1192d1c000020ac0a80a0214e914b4000df999";
const ICMP_V4_NAT_OUT: &str = "0200000000d10200000000510800450000381c4640003f0153110a000064c000020a0303ee3700000000450000211c4640003f115318c000020a0a00006414e90035000df999";
const SYN_V4_TTL1: &str = "0200000000d10200000000010800450000281c4640000106911cc000020a0a0000649c400050000000010000000050027210d4d20000";
const TIME_EXCEEDED_V4: &str = "0200000000010200000000d1080045c00044000000004001adee0a000001c000020a0b00c18800000000450000281c4640000106911cc000020a0a0000649c400050000000010000000050027210d4d20000";
const ICMP_V6: &str = "0200000000d102000000005186dd6000000000383a4020010db8000a0000000000000000000220010db8000c00000000000000000010010481a90000000060000000000d113f20010db8000c0000000000000000001020010db8000a0000000000000000000214e914b4000d2ab5";
const ICMP_V6_NAT_OUT: &str = "0200000000d102000000005186dd6000000000383a3f20010db8000f0000000000000000010020010db8000c00000000000000000010010494220000000060000000000d113f20010db8000c0000000000000000001020010db8000f0000000000000000010014e90035000d2ab5";
const SYN_V6_HOP1: &str = "0200000000d102000000000186dd600000000014060120010db8000c0000000000000000001020010db8000f000000000000000001009c4001bb00000001000000005002721043390000";
const TIME_EXCEEDED_V6: &str = "0200000000010200000000d186dd6000000000443a4020010db8000f0000000000000000000120010db8000c0000000000000000001003003ae800000000600000000014060120010db8000c0000000000000000001020010db8000f000000000000000001009c4001bb00000001000000005002721043390000";

fn hex(s: &str) -> Vec<u8> {
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect()
}

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

const CIP: &str = "192.0.2.10";
const VIP: &str = "10.0.0.100";
const RIP: &str = "192.168.10.2";
const LIP: &str = "10.0.0.200";
const SYN_V4_BIG: &str = "0200000000d10200000000010800450002801c46400040064fc4c000020a0a0000649c40005000000001000000005002721051fb0000000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f202122232425262728292a2b2c2d2e2f303132333435363738393a3b3c3d3e3f404142434445464748494a4b4c4d4e4f505152535455565758595a5b5c5d5e5f606162636465666768696a6b6c6d6e6f707172737475767778797a7b7c7d7e7f808182838485868788898a8b8c8d8e8f909192939495969798999a9b9c9d9e9fa0a1a2a3a4a5a6a7a8a9aaabacadaeafb0b1b2b3b4b5b6b7b8b9babbbcbdbebfc0c1c2c3c4c5c6c7c8c9cacbcccdcecfd0d1d2d3d4d5d6d7d8d9dadbdcdddedfe0e1e2e3e4e5e6e7e8e9eaebecedeeeff0f1f2f3f4f5f6f7f8f9fafbfcfdfeff000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f202122232425262728292a2b2c2d2e2f303132333435363738393a3b3c3d3e3f404142434445464748494a4b4c4d4e4f505152535455565758595a5b5c5d5e5f606162636465666768696a6b6c6d6e6f707172737475767778797a7b7c7d7e7f808182838485868788898a8b8c8d8e8f909192939495969798999a9b9c9d9e9fa0a1a2a3a4a5a6a7a8a9aaabacadaeafb0b1b2b3b4b5b6b7b8b9babbbcbdbebfc0c1c2c3c4c5c6c7c8c9cacbcccdcecfd0d1d2d3d4d5d6d7d8d9dadbdcdddedfe0e1e2e3e4e5e6e7e8e9eaebecedeeeff0f1f2f3f4f5f6f7f8f9fafbfcfdfeff00000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000";
const PORT_UNREACH_V4: &str = "0200000000010200000000d1080045c00240000000004001ab8f0a000064c000020a0303c7db00000000450002801c46400040064fc4c000020a0a0000649c40005000000001000000005002721051fb0000000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f202122232425262728292a2b2c2d2e2f303132333435363738393a3b3c3d3e3f404142434445464748494a4b4c4d4e4f505152535455565758595a5b5c5d5e5f606162636465666768696a6b6c6d6e6f707172737475767778797a7b7c7d7e7f808182838485868788898a8b8c8d8e8f909192939495969798999a9b9c9d9e9fa0a1a2a3a4a5a6a7a8a9aaabacadaeafb0b1b2b3b4b5b6b7b8b9babbbcbdbebfc0c1c2c3c4c5c6c7c8c9cacbcccdcecfd0d1d2d3d4d5d6d7d8d9dadbdcdddedfe0e1e2e3e4e5e6e7e8e9eaebecedeeeff0f1f2f3f4f5f6f7f8f9fafbfcfdfeff000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f202122232425262728292a2b2c2d2e2f303132333435363738393a3b3c3d3e3f404142434445464748494a4b4c4d4e4f505152535455565758595a5b5c5d5e5f606162636465666768696a6b6c6d6e6f707172737475767778797a7b7c7d7e7f808182838485868788898a8b8c8d8e8f909192939495969798999a9b9c9d9e9fa0a1a2a3a4a5a6a7a8a9aaabacadaeafb0b1b2b3b4b5b6b7b8b9babbbcbdbebfc0c1c2c3c4c5c6c7c8c9cacbcccdcecfd0d1d2d3d4d5d6d7d8d9dadbdcdddedfe0e1e2e3e4e5e6e7e8e9eaebecedeeeff0f1f2f3f4f5f6f7f8f9fafb";
const PORT_UNREACH_V6: &str = "0200000000010200000000d186dd6000000000443a4020010db8000f0000000000000000010020010db8000c0000000000000000001001043ba600000000600000000014064020010db8000c0000000000000000001020010db8000f000000000000000001009c4001bb00000001000000005002721043390000";

#[test]
fn golden_nat_in_ipv4_tcp_syn() {
    let mut f = hex(SYN_V4);
    let p = parse(&f).unwrap();
    assert_eq!(nat_in(&mut f, &p, ip(RIP), 8080), Ok(Outcome::Forward));
    assert_eq!(f, hex(SYN_V4_NAT_IN));
}

#[test]
fn golden_nat_out_ipv4_tcp_synack() {
    let mut f = hex(SYNACK_V4);
    let p = parse(&f).unwrap();
    assert_eq!(nat_out(&mut f, &p, ip(VIP), 80), Ok(Outcome::Forward));
    assert_eq!(f, hex(SYNACK_V4_NAT_OUT));
}

#[test]
fn golden_dr_ipv4_tcp_syn() {
    let mut f = hex(SYN_V4);
    let p = parse(&f).unwrap();
    let rs = [0x02, 0, 0, 0, 0, 0x51];
    let director = [0x02, 0, 0, 0, 0, 0xd1];
    assert_eq!(dr(&mut f, &p, rs, director), Ok(Outcome::Forward));
    assert_eq!(f, hex(SYN_V4_DR));
}

#[test]
fn golden_fullnat_in_and_out_ipv4() {
    let mut f = hex(SYN_V4);
    let p = parse(&f).unwrap();
    assert_eq!(
        fullnat_in(&mut f, &p, ip(LIP), 5000, ip(RIP), 8080),
        Ok(Outcome::Forward)
    );
    assert_eq!(f, hex(SYN_V4_FULLNAT_IN));
    let mut f = hex(SYNACK_V4_FULLNAT);
    let p = parse(&f).unwrap();
    assert_eq!(
        fullnat_out(&mut f, &p, ip(VIP), 80, ip(CIP), 40000),
        Ok(Outcome::Forward)
    );
    assert_eq!(f, hex(SYNACK_V4_FULLNAT_OUT));
}

#[test]
fn golden_udp_zero_checksum_stays_zero() {
    // udp_dnat_handler: only "if (udph->check != 0)" is the checksum updated.
    let mut f = hex(UDP0_V4);
    let p = parse(&f).unwrap();
    assert_eq!(nat_in(&mut f, &p, ip(RIP), 5300), Ok(Outcome::Forward));
    assert_eq!(f, hex(UDP0_V4_NAT_IN));
}

#[test]
fn golden_nat_in_ipv6_tcp_syn() {
    let mut f = hex(SYN_V6);
    let p = parse(&f).unwrap();
    assert_eq!(
        nat_in(&mut f, &p, ip("2001:db8:a::2"), 8443),
        Ok(Outcome::Forward)
    );
    assert_eq!(f, hex(SYN_V6_NAT_IN));
}

#[test]
fn golden_nat_icmp_out_port_unreachable() {
    let mut f = hex(ICMP_V4);
    let p = parse(&f).unwrap();
    let e = parse_icmp_error(&f, &p).unwrap();
    assert_eq!(
        nat_icmp_out(&mut f, &p, &e, ip(VIP), 53),
        Ok(Outcome::Forward)
    );
    assert_eq!(f, hex(ICMP_V4_NAT_OUT));
}

#[test]
fn golden_time_exceeded_ipv4() {
    let mut f = hex(SYN_V4_TTL1);
    let p = parse(&f).unwrap();
    let before = f.clone();
    assert_eq!(nat_in(&mut f, &p, ip(RIP), 8080), Ok(Outcome::TimeExceeded));
    assert_eq!(f, before);
    let mut out = [0u8; 128];
    let n = time_exceeded(&f, &p, ip("10.0.0.1"), &mut out).unwrap();
    assert_eq!(out[..n], hex(TIME_EXCEEDED_V4)[..]);
}

#[test]
fn golden_nat_icmpv6_out_port_unreachable() {
    let mut f = hex(ICMP_V6);
    let p = parse(&f).unwrap();
    let e = parse_icmp_error(&f, &p).unwrap();
    assert_eq!(
        nat_icmp_out(&mut f, &p, &e, ip("2001:db8:f::100"), 53),
        Ok(Outcome::Forward)
    );
    assert_eq!(f, hex(ICMP_V6_NAT_OUT));
}

#[test]
fn golden_time_exceeded_ipv6() {
    let f = hex(SYN_V6_HOP1);
    let p = parse(&f).unwrap();
    let mut g = f.clone();
    assert_eq!(
        nat_in(&mut g, &p, ip("2001:db8:a::2"), 8443),
        Ok(Outcome::TimeExceeded)
    );
    assert_eq!(g, f);
    let mut out = [0u8; 256];
    let n = time_exceeded(&f, &p, ip("2001:db8:f::1"), &mut out).unwrap();
    assert_eq!(out[..n], hex(TIME_EXCEEDED_V6)[..]);
}

#[test]
fn golden_port_unreachable_ipv4_quotes_up_to_576_bytes() {
    // ip_vs_leave -> icmp_send(ICMP_DEST_UNREACH, ICMP_PORT_UNREACH): from the VIP, the quote
    // cut at 576 - 20 - 8 = 548 bytes of the 640-byte SYN (RFC 1812 4.3.2.3).
    let f = hex(SYN_V4_BIG);
    let p = parse(&f).unwrap();
    let mut out = [0u8; 1024];
    let n = port_unreachable(&f, &p, ip(VIP), &mut out).unwrap();
    assert_eq!(out[..n], hex(PORT_UNREACH_V4)[..]);
    assert_eq!(n, 14 + 576);
}

#[test]
fn golden_port_unreachable_ipv6() {
    // ip_vs_leave -> icmpv6_send(ICMPV6_DEST_UNREACH, ICMPV6_PORT_UNREACH): type 1 code 4.
    let f = hex(SYN_V6);
    let p = parse(&f).unwrap();
    let mut out = [0u8; 256];
    let n = port_unreachable(&f, &p, ip("2001:db8:f::100"), &mut out).unwrap();
    assert_eq!(out[..n], hex(PORT_UNREACH_V6)[..]);
}
