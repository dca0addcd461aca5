//! The director runtime's [`Engine`] without devices (no root): ARP answers for the VIP (RFC 826
//! reply built by lvs-arp, decoded here by etherparse), next-hop resolution by ARP with the
//! packet queued until the reply (the kernel's neighbour behaviour, net/core/neighbour.c
//! `__neigh_event_send`), and the director's own IP presence answering ICMP echo on its DIP.
//!
//! The batch entry and refragmentation:
//!
//! - [`Engine::handle_frames`] against [`Engine::handle_frame`] on a second, identical engine:
//!   the batch must send the same frames (bytes, interface, order), report the same outcomes
//!   and leave the same counters as the frames one by one (lvs-core's contract for
//!   `process_batch`: "same verdicts and side effects as calling `process` frame by frame, in
//!   order").
//! - A datagram the director reassembles and forwards whole although it is longer than the
//!   egress MTU leaves as IP fragments of at most the MTU, as net/ipv4/ip_output.c
//!   `ip_do_fragment` splits it (RFC 791 section 3.2: data of every fragment but the last a
//!   multiple of 8 bytes, offsets in 8-byte units, MF on all but the last; IPv6 as
//!   net/ipv6/ip6_output.c `ip6_fragment`, RFC 8200 section 4.5); the fragments are
//!   decoded and reassembled by etherparse (its header checksum check and `IpDefragPool`),
//!   independent of lvs-fwd, and compared with the rewritten datagram built by etherparse's
//!   `PacketBuilder`.

use std::net::Ipv4Addr;
use std::time::{Duration, Instant};

use etherparse::defrag::IpDefragPool;
use etherparse::{
    ArpOperation, EtherType, Ethernet2Header, IpFragOffset, IpNumber, Ipv4Header, NetSlice,
    PacketBuilder, SlicedPacket, TransportSlice,
};
use lvs_arp::MacAddr;
use lvs_core::{ApplyOutput, Director, DirectorConfig, PacketMeta, Verdict};
use lvs_examples::control::{Request, execute};
use lvs_examples::director::{
    DEFAULT_MTU, Engine, EngineConfig, EngineDrop, FrameOutcome, IF_CLIENT, NeighMode, RxFrame,
};

const DMAC: [u8; 6] = [0x02, 0, 0, 0, 0, 0x01];
const CMAC: [u8; 6] = [0x02, 0, 0, 0, 0, 0x02];
const RSMAC: [u8; 6] = [0x02, 0, 0, 0, 0, 0x11];
const RS1MAC: [u8; 6] = RSMAC;
const RS2MAC: [u8; 6] = [0x02, 0, 0, 0, 0, 0x12];
const RS3MAC: [u8; 6] = [0x02, 0, 0, 0, 0, 0x13];
const CIP: [u8; 4] = [10, 0, 0, 2];
const VIP: [u8; 4] = [10, 0, 0, 100];
const RS1: [u8; 4] = [10, 0, 0, 11];
const RS2: [u8; 4] = [10, 0, 0, 12];
const RS3: [u8; 4] = [10, 0, 0, 13];

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
    one_armed(d, true, DEFAULT_MTU, now)
}

/// A one-armed engine around `d`: DIP 10.0.0.1/24, ARP resolution, MTU `mtu`.
fn one_armed(d: Director, local_stack: bool, mtu: usize, now: Instant) -> Engine {
    let cfg = EngineConfig {
        mac: MacAddr(DMAC),
        vips: vec![],
        dips: vec![(Ipv4Addr::new(10, 0, 0, 1), 24)],
        dips_server: vec![],
        laddrs: vec![],
        gateway: None,
        neigh_mode: NeighMode::Resolve,
        local_stack,
        mtu,
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

/// A one-armed engine (DIP 10.0.0.1/24) with: TCP VIP:80 rr DR to RS1 and RS3 (RS3's MAC
/// unknown: resolved by ARP); UDP VIP:53 NAT to RS2:5353; UDP VIP:54 DR to RS1. Static
/// neighbours: the client, RS1, RS2.
fn batch_engine(now: Instant, tun_mtu: u32, mtu: usize) -> Engine {
    let mut d = Director::new(
        DirectorConfig {
            tun_mtu,
            ..DirectorConfig::default()
        },
        now,
    );
    for rule in [
        "-A -t 10.0.0.100:80 -s rr",
        "-a -t 10.0.0.100:80 -r 10.0.0.11:80 -g -w 1",
        "-a -t 10.0.0.100:80 -r 10.0.0.13:80 -g -w 1",
        "-A -u 10.0.0.100:53 -s rr",
        "-a -u 10.0.0.100:53 -r 10.0.0.12:5353 -m -w 1",
        "-A -u 10.0.0.100:54 -s rr",
        "-a -u 10.0.0.100:54 -r 10.0.0.11:54 -g -w 1",
    ] {
        d.apply_line(rule, now).unwrap();
    }
    let mut e = one_armed(d, false, mtu, now);
    for (ip, mac) in [(CIP, CMAC), (RS1, RS1MAC), (RS2, RS2MAC)] {
        e.add_static_neigh(Ipv4Addr::from(ip), MacAddr(mac));
    }
    e
}

fn tcp(sport: u16, flags: &str, seq: u32, payload: &[u8]) -> Vec<u8> {
    let mut v = Vec::new();
    let b = PacketBuilder::ethernet2(CMAC, DMAC)
        .ipv4(CIP, VIP, 64)
        .tcp(sport, 80, seq, 64240);
    let b = match flags {
        "syn" => b.syn(),
        "ack" => b.ack(5001),
        _ => b.ack(5001).psh(),
    };
    b.write(&mut v, payload).unwrap();
    v
}

fn udp(
    smac: [u8; 6],
    src: [u8; 4],
    sport: u16,
    dst: [u8; 4],
    dport: u16,
    payload: &[u8],
) -> Vec<u8> {
    let mut v = Vec::new();
    PacketBuilder::ethernet2(smac, DMAC)
        .ipv4(src, dst, 64)
        .udp(sport, dport)
        .write(&mut v, payload)
        .unwrap();
    v
}

fn drain_all(e: &mut Engine) -> Vec<(u32, Vec<u8>)> {
    std::iter::from_fn(|| e.poll_transmit()).collect()
}

fn listing(e: &mut Engine, line: &str, now: Instant) -> String {
    match e.director.apply_line(line, now).unwrap() {
        ApplyOutput::Text(t) => t,
        ApplyOutput::Done => panic!("{line}: no listing"),
    }
}

fn rx(frame: &[u8]) -> RxFrame<'_> {
    RxFrame {
        ifindex: IF_CLIENT,
        frame,
        meta: PacketMeta::default(),
    }
}

#[test]
fn batch_sends_what_the_frames_one_by_one_send() {
    let t0 = Instant::now();
    let now = t0 + Duration::from_millis(5);
    let mut batched = batch_engine(t0, 1500, DEFAULT_MTU);
    let mut single = batch_engine(t0, 1500, DEFAULT_MTU);
    // Set-up, the same on both: 12 connections (rr: even ones to RS1, odd ones to RS3 whose
    // MAC is not known yet, so their SYNs wait behind an ARP request) and a NAT UDP flow.
    let mut setup: Vec<Vec<u8>> = (0..12).map(|i| tcp(40000 + i, "syn", 1000, &[])).collect();
    setup.push(udp(CMAC, CIP, 3333, VIP, 53, b"query"));
    for e in [&mut batched, &mut single] {
        for f in &setup {
            let _ = e.handle_frame(IF_CLIENT, f, &PacketMeta::default(), t0);
        }
    }
    assert_eq!(drain_all(&mut batched), drain_all(&mut single));

    // The burst: established-flow ACKs, RS3's ARP reply (releasing the SYNs queued for it),
    // a run of 37 IP frames (more than one process_batch chunk of 32: a new SYN, ACKs with
    // data, a frame for a non-VIP address, a NAT reply, a truncated IPv4 frame), an ARP
    // request for the VIP and an LLDP frame in the middle, then more IP frames.
    let mut burst: Vec<Vec<u8>> = Vec::new();
    for i in 0..12 {
        burst.push(tcp(40000 + i, "ack", 1001, &[]));
    }
    burst.push(arp(
        ArpOperation::REPLY,
        RS3MAC,
        RS3,
        DMAC,
        DMAC,
        [10, 0, 0, 1],
    ));
    burst.push(tcp(41000, "syn", 7, &[]));
    for i in 0..12 {
        burst.push(tcp(40000 + i, "data", 1001, b"GET / HTTP/1.0\r\n\r\n"));
    }
    burst.push(udp(CMAC, CIP, 3334, [10, 0, 0, 77], 53, b"not a VIP"));
    burst.push(udp(RS2MAC, RS2, 5353, CIP, 3333, b"answer"));
    let mut bad = tcp(40000, "ack", 1019, &[]);
    bad.truncate(14 + 12);
    burst.push(bad);
    for i in 0..12 {
        burst.push(tcp(40000 + i, "data", 1019, b"more"));
    }
    for i in 0..9 {
        burst.push(tcp(40000 + i, "data", 1023, b"and more"));
    }
    burst.push(arp(
        ArpOperation::REQUEST,
        CMAC,
        CIP,
        [0xff; 6],
        [0; 6],
        VIP,
    ));
    let mut lldp = vec![0x01, 0x80, 0xc2, 0, 0, 0x0e];
    lldp.extend_from_slice(&CMAC);
    lldp.extend_from_slice(&[0x88, 0xcc, 0x02, 0x07, 0x04]);
    lldp.resize(60, 0);
    burst.push(lldp);
    for i in 0..3 {
        burst.push(tcp(40000 + i, "data", 1031, b"last"));
    }
    burst.push(tcp(41000, "ack", 8, &[]));
    assert_eq!(burst.len(), 12 + 1 + 37 + 2 + 4);

    let mut outcomes_b = Vec::new();
    batched.handle_frames(burst.iter().map(|f| rx(f)), now, |i, o| {
        outcomes_b.push((i, o));
    });
    let outcomes_s: Vec<(usize, FrameOutcome)> = burst
        .iter()
        .enumerate()
        .map(|(i, f)| {
            (
                i,
                single.handle_frame(IF_CLIENT, f, &PacketMeta::default(), now),
            )
        })
        .collect();
    assert_eq!(outcomes_b, outcomes_s, "outcomes, reported in frame order");
    let (out_b, out_s) = (drain_all(&mut batched), drain_all(&mut single));
    // Not vacuous: the ACKs, data, SYNs released by the ARP reply, the ARP reply for the VIP
    // and the NAT reply all went out.
    assert!(
        out_s.len() >= 12 + 12 + 12 + 9 + 6 + 2,
        "{} frames",
        out_s.len()
    );
    assert_eq!(out_b.len(), out_s.len());
    for (k, (b, s)) in out_b.iter().zip(&out_s).enumerate() {
        assert_eq!(b, s, "frame {k} sent");
    }
    assert_eq!(batched.stats(), single.stats());
    assert_eq!(
        batched.director.drop_counts(),
        single.director.drop_counts()
    );
    for line in ["-Ln --stats", "-Lnc"] {
        assert_eq!(
            listing(&mut batched, line, now),
            listing(&mut single, line, now),
            "ipvsadm {line}"
        );
    }
    let s = single.stats();
    assert_eq!(s.rx, 13 + 56);
    assert_eq!(s.engine_drops, 1, "the LLDP frame");
    assert_eq!(s.local, 1, "the frame to 10.0.0.77");
    assert_eq!(s.arp_replies, 1);
}

/// The client's datagram CIP:4000 -> VIP:`dport` with `payload`, IPv4 identification 0x4242,
/// DF clear, as fragments carrying `cut` data bytes each (multiples of 8; the last the rest).
fn client_fragments(dport: u16, payload: &[u8], cut: usize) -> Vec<Vec<u8>> {
    let whole = udp(CMAC, CIP, 4000, VIP, dport, payload);
    let ip = &whole[14..];
    let data = &ip[20..];
    data.chunks(cut)
        .enumerate()
        .map(|(k, piece)| {
            let mut h = Ipv4Header::new(piece.len() as u16, 64, IpNumber::UDP, CIP, VIP).unwrap();
            h.identification = 0x4242;
            // A sender that fragments its own datagram clears DF on the fragments.
            h.dont_fragment = false;
            h.more_fragments = (k + 1) * cut < data.len();
            h.fragment_offset = IpFragOffset::try_new((k * cut / 8) as u16).unwrap();
            h.header_checksum = h.calc_header_checksum();
            let mut f = whole[..14].to_vec();
            h.write(&mut f).unwrap();
            f.extend_from_slice(piece);
            f
        })
        .collect()
}

/// Checks the fragments `out` against RFC 791's rules at `mtu` and returns them reassembled by
/// etherparse: (first fragment's IPv4 header, transport header + data).
fn reassemble(out: &[(u32, Vec<u8>)], mtu: usize, dst_mac: [u8; 6]) -> (Ipv4Header, Vec<u8>) {
    let mut pool: IpDefragPool = IpDefragPool::new();
    let mut whole = None;
    let mut next_offset = 0usize;
    let mut first = None;
    for (k, (ifindex, f)) in out.iter().enumerate() {
        assert_eq!(*ifindex, IF_CLIENT);
        assert_eq!((&f[..6], &f[6..12]), (&dst_mac[..], &DMAC[..]), "MACs");
        let p = SlicedPacket::from_ethernet(f).unwrap();
        let Some(NetSlice::Ipv4(ip)) = &p.net else {
            panic!("fragment {k} is not IPv4")
        };
        let h = ip.header().to_header();
        assert!(
            usize::from(h.total_len) <= mtu,
            "fragment {k}: {} > MTU",
            h.total_len
        );
        assert_eq!(
            h.header_checksum,
            h.calc_header_checksum(),
            "fragment {k} checksum"
        );
        assert!(!h.dont_fragment);
        let last = k + 1 == out.len();
        assert_eq!(
            h.more_fragments, !last,
            "fragment {k}: MF on all but the last"
        );
        assert_eq!(
            usize::from(h.fragment_offset.byte_offset()),
            next_offset,
            "fragment {k}: offset continues from the previous fragment"
        );
        let data_len = usize::from(h.total_len) - h.header_len();
        if !last {
            assert_eq!(data_len % 8, 0, "fragment {k}: data a multiple of 8 bytes");
            // ip_do_fragment fills every fragment but the last up to the MTU.
            assert_eq!(
                data_len,
                (mtu - 20) & !7,
                "fragment {k}: as large as the MTU allows"
            );
        }
        next_offset += data_len;
        first.get_or_insert(h);
        if let Some(done) = pool.process_sliced_packet(&p, (), ()).unwrap() {
            assert!(last, "complete only at the last fragment");
            whole = Some(done);
        }
    }
    let whole = whole.expect("etherparse reassembled the fragments");
    assert_eq!(whole.ip_number, IpNumber::UDP);
    (first.unwrap(), whole.payload)
}

#[test]
fn reassembled_datagram_longer_than_the_mtu_leaves_as_fragments() {
    // 3000 bytes of UDP data: a 3028-byte IP datagram, sent by the client as 3 fragments of at
    // most 1228 bytes (each fits the 1500-byte MTU, so the director forwards the reassembled
    // datagram whole) and refragmented by the engine at 1500: 1480 + 1480 + 48 data bytes.
    let payload: Vec<u8> = (0..3000u32).map(|i| (i * 7 + i / 251) as u8).collect();
    for (dport, rip, rport, rmac) in [(53, RS2, 5353, RS2MAC), (54, RS1, 54, RS1MAC)] {
        let now = Instant::now();
        let mut e = batch_engine(now, 1500, DEFAULT_MTU);
        let frags = client_fragments(dport, &payload, 1208);
        assert_eq!(frags.len(), 3);
        let mut outcomes = Vec::new();
        e.handle_frames(frags.iter().map(|f| rx(f)), now, |_, o| outcomes.push(o));
        assert!(
            matches!(
                outcomes[..],
                [
                    FrameOutcome::Director(Verdict::Held),
                    FrameOutcome::Director(Verdict::Held),
                    FrameOutcome::Director(Verdict::Transmit { .. })
                ]
            ),
            "{outcomes:?}"
        );
        let out = drain_all(&mut e);
        assert_eq!(out.len(), 3, "1480 + 1480 + 48 data bytes");
        let (h, datagram) = reassemble(&out, 1500, rmac);
        // The rewritten datagram, built independently: NAT rewrites the destination to
        // RIP:port, DR keeps it; the director decrements the TTL.
        let (dst, dp) = if dport == 53 {
            (rip, rport)
        } else {
            (VIP, dport)
        };
        let mut expect = Vec::new();
        PacketBuilder::ipv4(CIP, dst, 63)
            .udp(4000, dp)
            .write(&mut expect, &payload)
            .unwrap();
        assert_eq!((h.source, h.destination, h.time_to_live), (CIP, dst, 63));
        assert_eq!(
            h.identification, 0x4242,
            "the datagram's identification kept"
        );
        assert_eq!(datagram.len(), 8 + payload.len());
        assert_eq!(
            &datagram[..8],
            &expect[20..28],
            "UDP header (ports, length, checksum)"
        );
        assert!(datagram[8..] == payload[..], "UDP data");
        let s = e.stats();
        assert_eq!((s.refragmented, s.tx, s.engine_drops), (1, 3, 0));
    }
}

#[test]
fn df_packet_too_big_for_the_engine_mtu_is_a_typed_drop() {
    // The director's MTU check runs at 9000 (tun_mtu) and lets a 2028-byte DF datagram
    // through; the engine's 1500-byte interface cannot fragment it (RFC 791: "if the Don't
    // Fragment flag is set ... the datagram is discarded"): a CannotFragment drop, nothing sent.
    let now = Instant::now();
    let mut e = batch_engine(now, 9000, DEFAULT_MTU);
    let mut v = Vec::new();
    PacketBuilder::ethernet2(CMAC, DMAC)
        .ipv4(CIP, VIP, 64)
        .udp(4000, 53)
        .write(&mut v, &[0x5a; 2000])
        .unwrap();
    // PacketBuilder sets DF; check it rather than assume it.
    assert!(Ipv4Header::from_slice(&v[14..]).unwrap().0.dont_fragment);
    let o = e.handle_frame(IF_CLIENT, &v, &PacketMeta::default(), now);
    assert_eq!(
        o,
        FrameOutcome::Dropped(EngineDrop::CannotFragment(lvs_fwd::FwdError::DontFragment))
    );
    assert!(drain_all(&mut e).is_empty());
    let s = e.stats();
    assert_eq!((s.refragmented, s.engine_drops, s.tx), (0, 1, 0));
    // The same datagram without DF leaves in two fragments.
    let mut h = Ipv4Header::from_slice(&v[14..]).unwrap().0;
    h.dont_fragment = false;
    h.header_checksum = h.calc_header_checksum();
    let mut nodf = v[..14].to_vec();
    h.write(&mut nodf).unwrap();
    nodf.extend_from_slice(&v[34..]);
    let o = e.handle_frame(IF_CLIENT, &nodf, &PacketMeta::default(), now);
    assert!(
        matches!(o, FrameOutcome::Director(Verdict::Transmit { .. })),
        "{o:?}"
    );
    assert_eq!(drain_all(&mut e).len(), 2);
    assert_eq!(e.stats().refragmented, 1);
}

#[test]
fn reassembled_ipv6_datagram_longer_than_the_mtu_leaves_as_fragments() {
    // The same over IPv6 (RFC 8200 section 4.5; net/ipv6/ip6_output.c ip6_fragment): the
    // unfragmentable part (the IPv6 header) repeated in every fragment, a Fragment header
    // with offset and M flag, data a multiple of 8 bytes but in the last; one identification
    // for the whole train.
    const C6: [u8; 16] = [0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2];
    const V6: [u8; 16] = [0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0];
    const R6: [u8; 16] = [
        0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x11,
    ];
    let payload: Vec<u8> = (0..3000u32).map(|i| (i * 13 + i / 241) as u8).collect();
    for (method, dport) in [("-m", 5353), ("-g", 53)] {
        let now = Instant::now();
        let mut d = Director::new(DirectorConfig::default(), now);
        d.apply_line("-A -u [2001:db8::100]:53 -s rr", now).unwrap();
        d.apply_line(
            &format!("-a -u [2001:db8::100]:53 -r [2001:db8::11]:{dport} {method} -w 1"),
            now,
        )
        .unwrap();
        let mut e = one_armed(d, false, DEFAULT_MTU, now);
        e.add_static_neigh(std::net::Ipv6Addr::from(R6), MacAddr(RS1MAC));
        // NAT rewrites the destination to RIP:port; DR keeps VIP:53.
        let (dst, dp) = if method == "-m" {
            (R6, dport)
        } else {
            (V6, 53)
        };
        // The client's datagram, as 3 fragments of 1208 + 1208 + 592 data bytes.
        let mut whole = Vec::new();
        PacketBuilder::ethernet2(CMAC, DMAC)
            .ipv6(C6, V6, 64)
            .udp(4000, 53)
            .write(&mut whole, &payload)
            .unwrap();
        let data = &whole[14 + 40..];
        let frags: Vec<Vec<u8>> = data
            .chunks(1208)
            .enumerate()
            .map(|(k, piece)| {
                let mut f = whole[..14].to_vec();
                etherparse::Ipv6Header {
                    traffic_class: 0,
                    flow_label: Default::default(),
                    payload_length: (8 + piece.len()) as u16,
                    next_header: IpNumber::IPV6_FRAGMENTATION_HEADER,
                    hop_limit: 64,
                    source: C6,
                    destination: V6,
                }
                .write(&mut f)
                .unwrap();
                etherparse::Ipv6FragmentHeader {
                    next_header: IpNumber::UDP,
                    fragment_offset: IpFragOffset::try_new((k * 1208 / 8) as u16).unwrap(),
                    more_fragments: (k + 1) * 1208 < data.len(),
                    identification: 0x0bad_cafe,
                }
                .write(&mut f)
                .unwrap();
                f.extend_from_slice(piece);
                f
            })
            .collect();
        let mut outcomes = Vec::new();
        e.handle_frames(frags.iter().map(|f| rx(f)), now, |_, o| outcomes.push(o));
        assert!(
            matches!(
                outcomes.last(),
                Some(FrameOutcome::Director(Verdict::Transmit { .. }))
            ),
            "{method}: {outcomes:?}"
        );
        let out = drain_all(&mut e);
        // 1500 - 40 (IPv6 header) - 8 (Fragment header) = 1452, down to 1448 (8 | data):
        // 1448 + 1448 + 112 of the 3008 bytes.
        assert_eq!(out.len(), 3, "{method}");
        let mut pool: IpDefragPool = IpDefragPool::new();
        let mut ident = None;
        let mut next_offset = 0;
        let mut whole_out = None;
        for (k, (_, f)) in out.iter().enumerate() {
            assert_eq!(
                &f[..6],
                &RS1MAC,
                "{method}: fragment {k} to the real server's MAC"
            );
            let p = SlicedPacket::from_ethernet(f).unwrap();
            let Some(NetSlice::Ipv6(ip)) = &p.net else {
                panic!("{method}: fragment {k} is not IPv6")
            };
            let h = ip.header().to_header();
            assert!(
                40 + usize::from(h.payload_length) <= 1500,
                "{method}: fragment {k}"
            );
            assert_eq!(h.hop_limit, 63);
            assert_eq!(
                (h.source, h.destination),
                (C6, dst),
                "{method}: fragment {k}"
            );
            let fh = ip
                .extensions()
                .clone()
                .into_iter()
                .find_map(|x| match x {
                    etherparse::Ipv6ExtensionSlice::Fragment(fr) => Some(fr.to_header()),
                    _ => None,
                })
                .expect("a Fragment header");
            let last = k + 1 == out.len();
            assert_eq!(fh.more_fragments, !last, "{method}: fragment {k} M flag");
            assert_eq!(usize::from(fh.fragment_offset.byte_offset()), next_offset);
            assert_eq!(*ident.get_or_insert(fh.identification), fh.identification);
            let data_len = usize::from(h.payload_length) - 8;
            if !last {
                assert_eq!(
                    data_len, 1448,
                    "{method}: fragment {k} as large as the MTU allows"
                );
            }
            next_offset += data_len;
            if let Some(done) = pool.process_sliced_packet(&p, (), ()).unwrap() {
                whole_out = Some(done);
            }
        }
        let whole_out = whole_out.expect("etherparse reassembled the fragments");
        let mut expect = Vec::new();
        PacketBuilder::ipv6(C6, dst, 63)
            .udp(4000, dp)
            .write(&mut expect, &payload)
            .unwrap();
        assert_eq!(whole_out.payload.len(), 8 + payload.len());
        assert_eq!(
            &whole_out.payload[..8],
            &expect[40..48],
            "{method}: UDP header"
        );
        assert!(whole_out.payload[8..] == payload[..], "{method}: UDP data");
        assert_eq!(e.stats().refragmented, 1);
    }
}

#[test]
fn expired_reassembly_sends_time_exceeded_to_the_client() {
    // Only the first of three fragments arrives: when the queue expires (ipfrag_time, 30 s by
    // default), the engine sends the director's ICMP time exceeded, code 1 "fragment
    // reassembly time exceeded" (RFC 792), to the client, quoting the first fragment.
    let payload = [0x33u8; 3000];
    let t0 = Instant::now();
    let mut e = batch_engine(t0, 1500, DEFAULT_MTU);
    let frags = client_fragments(53, &payload, 1208);
    let mut outcomes = Vec::new();
    e.handle_frames([rx(&frags[0])], t0, |_, o| outcomes.push(o));
    assert!(
        matches!(outcomes[..], [FrameOutcome::Director(Verdict::Held)]),
        "{outcomes:?}"
    );
    assert!(drain_all(&mut e).is_empty());
    let later = t0 + Duration::from_secs(31);
    e.handle_timeout(later);
    let out = drain_all(&mut e);
    assert_eq!(out.len(), 1, "{out:?}");
    let (ifindex, f) = &out[0];
    assert_eq!(*ifindex, IF_CLIENT);
    let p = etherparse::SlicedPacket::from_ethernet(f).unwrap();
    let Some(etherparse::NetSlice::Ipv4(ip)) = &p.net else {
        panic!("not IPv4: {p:?}");
    };
    assert_eq!(ip.header().destination(), CIP);
    assert_eq!(ip.header().source(), VIP);
    let Some(etherparse::TransportSlice::Icmpv4(icmp)) = &p.transport else {
        panic!("not ICMP: {p:?}");
    };
    assert_eq!(
        icmp.icmp_type(),
        etherparse::Icmpv4Type::TimeExceeded(
            etherparse::icmpv4::TimeExceededCode::FragmentReassemblyTimeExceeded
        )
    );
    // The quote starts with the first fragment's IPv4 header.
    assert_eq!(&icmp.payload()[..20], &frags[0][14..34]);
    assert_eq!(e.stats().icmp_sent, 1);
}
