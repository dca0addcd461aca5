//! The director runtime's [`Engine`] without devices (no root): ARP answers for the VIP (RFC 826
//! reply built by lvs-arp, decoded here by etherparse), next-hop resolution by ARP with the
//! packet queued until the reply (the kernel's neighbour behaviour, net/core/neighbour.c
//! `__neigh_event_send`), and the director's own IP presence answering ICMP echo on its DIP.

use std::net::Ipv4Addr;
use std::time::{Duration, Instant};

use etherparse::{
    ArpOperation, EtherType, Ethernet2Header, NetSlice, PacketBuilder, SlicedPacket, TransportSlice,
};
use lvs_arp::MacAddr;
use lvs_core::{Director, DirectorConfig, PacketMeta, Verdict};
use lvs_examples::control::{Request, execute};
use lvs_examples::director::{
    DEFAULT_MTU, Engine, EngineConfig, FrameOutcome, IF_CLIENT, NeighMode,
};

const DMAC: [u8; 6] = [0x02, 0, 0, 0, 0, 0x01];
const CMAC: [u8; 6] = [0x02, 0, 0, 0, 0, 0x02];
const RSMAC: [u8; 6] = [0x02, 0, 0, 0, 0, 0x11];

fn engine(now: Instant) -> Engine {
    let mut d = Director::new(DirectorConfig::default(), now);
    let r = execute(
        &mut d,
        &Request {
            args: vec!["-R".into()],
            stdin: Some(
                "-A -t 10.0.0.100:80 -s rr\n-a -t 10.0.0.100:80 -r 10.0.0.11:80 -g -w 1\n".into(),
            ),
        },
        now,
    );
    assert_eq!(r.status, 0, "{}", r.stderr);
    let cfg = EngineConfig {
        mac: MacAddr(DMAC),
        vips: vec![],
        dips: vec![(Ipv4Addr::new(10, 0, 0, 1), 24)],
        dips_server: vec![],
        laddrs: vec![],
        gateway: None,
        neigh_mode: NeighMode::Resolve,
        local_stack: true,
        mtu: DEFAULT_MTU,
    };
    Engine::new(d, cfg, now).unwrap()
}

fn arp(
    op: ArpOperation,
    smac: [u8; 6],
    sip: [u8; 4],
    dst: [u8; 6],
    tmac: [u8; 6],
    tip: [u8; 4],
) -> Vec<u8> {
    let mut v = Vec::new();
    Ethernet2Header {
        source: smac,
        destination: dst,
        ether_type: EtherType::ARP,
    }
    .write(&mut v)
    .unwrap();
    let a = etherparse::ArpEthIpv4Packet {
        operation: op,
        sender_mac: smac,
        sender_ipv4: sip,
        target_mac: tmac,
        target_ipv4: tip,
    };
    v.extend_from_slice(&a.to_bytes());
    v
}

fn drain(e: &mut Engine) -> Vec<Vec<u8>> {
    let mut v = Vec::new();
    while let Some((i, f)) = e.poll_transmit() {
        assert_eq!(
            i, IF_CLIENT,
            "one-armed: everything leaves by the only interface"
        );
        v.push(f);
    }
    v
}

fn arp_of(f: &[u8]) -> etherparse::ArpEthIpv4Packet {
    match SlicedPacket::from_ethernet(f).unwrap().net {
        Some(NetSlice::Arp(a)) => a.to_packet().try_eth_ipv4().unwrap(),
        other => panic!("not ARP: {other:?}"),
    }
}

#[test]
fn arp_request_for_the_vip_gets_a_reply_with_the_director_mac() {
    let now = Instant::now();
    let mut e = engine(now);
    let req = arp(
        ArpOperation::REQUEST,
        CMAC,
        [10, 0, 0, 2],
        [0xff; 6],
        [0; 6],
        [10, 0, 0, 100],
    );
    assert_eq!(
        e.handle_frame(IF_CLIENT, &req, &PacketMeta::default(), now),
        FrameOutcome::Arp
    );
    let out = drain(&mut e);
    assert_eq!(out.len(), 1);
    let a = arp_of(&out[0]);
    // RFC 826: the reply swaps sender and target and fills in the requested hardware address.
    assert_eq!(a.operation, ArpOperation::REPLY);
    assert_eq!((a.sender_mac, a.sender_ipv4), (DMAC, [10, 0, 0, 100]));
    assert_eq!((a.target_mac, a.target_ipv4), (CMAC, [10, 0, 0, 2]));
    assert_eq!(&out[0][..6], &CMAC, "unicast to the requester");
    // Not ours: no reply.
    let req = arp(
        ArpOperation::REQUEST,
        CMAC,
        [10, 0, 0, 2],
        [0xff; 6],
        [0; 6],
        [10, 0, 0, 77],
    );
    let _ = e.handle_frame(IF_CLIENT, &req, &PacketMeta::default(), now);
    assert!(drain(&mut e).is_empty());
}

#[test]
fn unresolved_real_server_is_arped_and_the_syn_released_on_the_reply() {
    let now = Instant::now();
    let mut e = engine(now);
    let mut syn = Vec::new();
    PacketBuilder::ethernet2(CMAC, DMAC)
        .ipv4([10, 0, 0, 2], [10, 0, 0, 100], 64)
        .tcp(40000, 80, 1, 64240)
        .syn()
        .write(&mut syn, &[])
        .unwrap();
    let o = e.handle_frame(IF_CLIENT, &syn, &PacketMeta::default(), now);
    assert!(
        matches!(o, FrameOutcome::Director(Verdict::Transmit { .. })),
        "{o:?}"
    );
    let out = drain(&mut e);
    assert_eq!(out.len(), 1, "only the ARP request; the SYN waits");
    let a = arp_of(&out[0]);
    assert_eq!(a.operation, ArpOperation::REQUEST);
    assert_eq!(
        (a.sender_ipv4, a.target_ipv4),
        ([10, 0, 0, 1], [10, 0, 0, 11]),
        "who-has RIP tell DIP"
    );
    let reply = arp(
        ArpOperation::REPLY,
        RSMAC,
        [10, 0, 0, 11],
        DMAC,
        DMAC,
        [10, 0, 0, 1],
    );
    let _ = e.handle_frame(
        IF_CLIENT,
        &reply,
        &PacketMeta::default(),
        now + Duration::from_millis(1),
    );
    let out = drain(&mut e);
    assert_eq!(out.len(), 1, "the queued SYN");
    assert_eq!((&out[0][..6], &out[0][6..12]), (&RSMAC[..], &DMAC[..]));
}

#[test]
fn the_director_answers_icmp_echo_on_its_dip() {
    let now = Instant::now();
    let mut e = engine(now);
    let mut ping = Vec::new();
    PacketBuilder::ethernet2(CMAC, DMAC)
        .ipv4([10, 0, 0, 2], [10, 0, 0, 1], 64)
        .icmpv4_echo_request(7, 1)
        .write(&mut ping, b"lvs")
        .unwrap();
    let o = e.handle_frame(IF_CLIENT, &ping, &PacketMeta::default(), now);
    assert_eq!(o, FrameOutcome::Director(Verdict::Local));
    // The reply waits for the client's MAC: ARP request first.
    let out = drain(&mut e);
    assert_eq!(arp_of(&out[0]).target_ipv4, [10, 0, 0, 2]);
    let reply = arp(
        ArpOperation::REPLY,
        CMAC,
        [10, 0, 0, 2],
        DMAC,
        DMAC,
        [10, 0, 0, 1],
    );
    let _ = e.handle_frame(IF_CLIENT, &reply, &PacketMeta::default(), now);
    let out = drain(&mut e);
    assert_eq!(out.len(), 1);
    let p = SlicedPacket::from_ethernet(&out[0]).unwrap();
    let Some(NetSlice::Ipv4(ip)) = &p.net else {
        panic!()
    };
    assert_eq!(
        (ip.header().source(), ip.header().destination()),
        ([10, 0, 0, 1], [10, 0, 0, 2])
    );
    match &p.transport {
        Some(TransportSlice::Icmpv4(i)) => {
            assert_eq!(i.type_u8(), 0, "echo reply");
            assert_eq!(i.payload(), b"lvs");
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(&out[0][..6], &CMAC);
}
