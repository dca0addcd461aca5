//! `lvs-replay`'s contract, checked on captures built here with etherparse's PacketBuilder and
//! pcap-file's writer, and decoded back with etherparse (independent of the director's own
//! parsers): every transmitted frame is in OUT.pcap in order with the input frame's time, its
//! addresses are rewritten per forwarding method and its checksums are valid; one JSON verdict
//! per input frame; real-server MACs from `--neigh` or from ARP replies in the capture; an
//! unresolved next hop is a drop with reason "neighbour unresolved"; garbage is a counted drop.

use std::io::Cursor;
use std::net::Ipv4Addr;
use std::time::Duration;

use etherparse::{
    ArpEthIpv4Packet, ArpOperation, EtherType, Ethernet2Header, NetSlice, PacketBuilder,
    SlicedPacket, TransportSlice,
};
use lvs_arp::MacAddr;
use lvs_examples::replay::{DEFAULT_DIRECTOR_MAC, ReplayOptions, replay};
use pcap_file::pcap::{PcapPacket, PcapReader, PcapWriter};
use serde_json::Value;

const DMAC: [u8; 6] = DEFAULT_DIRECTOR_MAC.0;
const CMAC: [u8; 6] = [0x02, 0, 0, 0, 0, 0x02];
const RS1MAC: [u8; 6] = [0x02, 0, 0, 0, 0, 0x11];
const RS2MAC: [u8; 6] = [0x02, 0, 0, 0, 0, 0x12];
const CIP: [u8; 4] = [10, 0, 1, 2];
const VIP: [u8; 4] = [10, 0, 0, 100];
const RS1: [u8; 4] = [10, 0, 0, 11];
const RS2: [u8; 4] = [10, 0, 0, 12];
const LIP: [u8; 4] = [10, 0, 0, 50];

fn ms(n: u64) -> Duration {
    Duration::from_millis(1_700_000_000_000 + n)
}

fn syn(src: [u8; 4], sport: u16, dst: [u8; 4], dport: u16, ttl: u8) -> Vec<u8> {
    let mut v = Vec::new();
    PacketBuilder::ethernet2(CMAC, DMAC)
        .ipv4(src, dst, ttl)
        .tcp(sport, dport, 1000, 64240)
        .syn()
        .write(&mut v, &[])
        .unwrap();
    v
}

fn synack(src_mac: [u8; 6], src: [u8; 4], sport: u16, dst: [u8; 4], dport: u16) -> Vec<u8> {
    let mut v = Vec::new();
    PacketBuilder::ethernet2(src_mac, DMAC)
        .ipv4(src, dst, 64)
        .tcp(sport, dport, 5000, 64240)
        .syn()
        .ack(1001)
        .write(&mut v, &[])
        .unwrap();
    v
}

fn udp(src: [u8; 4], sport: u16, dst: [u8; 4], dport: u16, payload: &[u8]) -> Vec<u8> {
    let mut v = Vec::new();
    PacketBuilder::ethernet2(CMAC, DMAC)
        .ipv4(src, dst, 64)
        .udp(sport, dport)
        .write(&mut v, payload)
        .unwrap();
    v
}

fn arp_reply(mac: [u8; 6], ip: [u8; 4]) -> Vec<u8> {
    let mut v = Vec::new();
    Ethernet2Header {
        source: mac,
        destination: DMAC,
        ether_type: EtherType::ARP,
    }
    .write(&mut v)
    .unwrap();
    let arp = ArpEthIpv4Packet {
        operation: ArpOperation::REPLY,
        sender_mac: mac,
        sender_ipv4: ip,
        target_mac: DMAC,
        target_ipv4: [10, 0, 0, 1],
    };
    v.extend_from_slice(&arp.to_bytes());
    v
}

fn pcap(frames: &[(Duration, Vec<u8>)]) -> Vec<u8> {
    let mut w = PcapWriter::new(Vec::new()).unwrap();
    for (t, f) in frames {
        w.write_packet(&PcapPacket::new(*t, f.len() as u32, f))
            .unwrap();
    }
    w.into_writer()
}

struct Out {
    frames: Vec<(Duration, Vec<u8>)>,
    verdicts: Vec<Value>,
    text: String,
}

fn run(
    rules: &str,
    neigh: &[([u8; 4], [u8; 6])],
    laddrs: &[[u8; 4]],
    frames: &[(Duration, Vec<u8>)],
) -> Out {
    run_with(rules, neigh, laddrs, frames, true)
}

/// [`run`], with or without the verdicts file (without it, records with one timestamp are
/// replayed in batches).
fn run_with(
    rules: &str,
    neigh: &[([u8; 4], [u8; 6])],
    laddrs: &[[u8; 4]],
    frames: &[(Duration, Vec<u8>)],
    with_verdicts: bool,
) -> Out {
    let opts = ReplayOptions {
        rules: rules.to_owned(),
        director_mac: DEFAULT_DIRECTOR_MAC,
        neigh: neigh
            .iter()
            .map(|(ip, mac)| (Ipv4Addr::from(*ip), MacAddr(*mac)))
            .collect(),
        laddrs: laddrs.iter().map(|ip| Ipv4Addr::from(*ip)).collect(),
        list_conns: true,
    };
    let mut out = Vec::new();
    let mut verdicts = Vec::new();
    let text = replay(
        &opts,
        Cursor::new(pcap(frames)),
        &mut out,
        with_verdicts.then_some(&mut verdicts as &mut dyn std::io::Write),
    )
    .unwrap();
    let mut r = PcapReader::new(Cursor::new(out)).unwrap();
    let mut frames = Vec::new();
    while let Some(p) = r.next_packet() {
        let p = p.unwrap();
        frames.push((p.timestamp, p.data.into_owned()));
    }
    let verdicts = String::from_utf8(verdicts)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    Out {
        frames,
        verdicts,
        text,
    }
}

/// Decoded view of a transmitted IPv4 frame, checksums verified by etherparse's recomputation.
struct Pkt {
    dst_mac: [u8; 6],
    src_mac: [u8; 6],
    src: [u8; 4],
    dst: [u8; 4],
    sport: u16,
    dport: u16,
    ttl: u8,
}

fn decode(f: &[u8]) -> Pkt {
    let p = SlicedPacket::from_ethernet(f).unwrap();
    let eth = p.link.as_ref().unwrap().to_header().unwrap();
    let eth = match eth {
        etherparse::LinkHeader::Ethernet2(e) => e,
        other => panic!("{other:?}"),
    };
    let Some(NetSlice::Ipv4(ip)) = &p.net else {
        panic!("not IPv4")
    };
    let h = ip.header().to_header();
    assert_eq!(
        h.header_checksum,
        h.calc_header_checksum(),
        "IPv4 header checksum"
    );
    let payload = ip.payload().payload;
    let (sport, dport) = match p.transport.as_ref().unwrap() {
        TransportSlice::Tcp(t) => {
            let th = t.to_header();
            assert_eq!(
                th.checksum,
                th.calc_checksum_ipv4(&h, t.payload()).unwrap(),
                "TCP checksum"
            );
            (t.source_port(), t.destination_port())
        }
        TransportSlice::Udp(u) => {
            let uh = u.to_header();
            assert_eq!(
                uh.checksum,
                uh.calc_checksum_ipv4(&h, u.payload()).unwrap(),
                "UDP checksum"
            );
            (u.source_port(), u.destination_port())
        }
        other => panic!("{other:?} ({} bytes)", payload.len()),
    };
    Pkt {
        dst_mac: eth.destination,
        src_mac: eth.source,
        src: h.source,
        dst: h.destination,
        sport,
        dport,
        ttl: h.time_to_live,
    }
}

fn v(out: &Out, i: usize) -> (&str, Option<&str>, Option<&str>, Option<&str>) {
    let l = &out.verdicts[i];
    assert_eq!(l["frame"], (i + 1) as u64, "{l}");
    (
        l["verdict"].as_str().unwrap(),
        l["reason"].as_str(),
        l["real_server"].as_str(),
        l["conn_state"].as_str(),
    )
}

#[test]
fn dr_rr_transmits_to_each_real_server_mac_with_vip_kept() {
    let rules = "-A -t 10.0.0.100:80 -s rr\n-a -t 10.0.0.100:80 -r 10.0.0.11:80 -g -w 1\n\
                 -a -t 10.0.0.100:80 -r 10.0.0.12:80 -g -w 1\n";
    let out = run(
        rules,
        &[(RS1, RS1MAC), (RS2, RS2MAC)],
        &[],
        &[
            (ms(0), syn(CIP, 40000, VIP, 80, 64)),
            (ms(5), syn(CIP, 40001, VIP, 80, 64)),
        ],
    );
    assert_eq!(out.frames.len(), 2);
    // ip_vs_ctl.c __ip_vs_update_dest(): list_add_rcu() puts a new real server at the head of
    // svc->destinations, so rr (ip_vs_rr.c) starts with the one added last.
    for (i, (mac, rip)) in [(RS2MAC, "10.0.0.12:80"), (RS1MAC, "10.0.0.11:80")]
        .iter()
        .enumerate()
    {
        let p = decode(&out.frames[i].1);
        // LVS-DR (ip_vs_dr_xmit): only the MACs change; the IP packet still goes to the VIP.
        assert_eq!((p.dst_mac, p.src_mac), (*mac, DMAC));
        assert_eq!((p.src, p.dst, p.dport), (CIP, VIP, 80));
        assert_eq!(
            out.frames[i].0,
            ms(i as u64 * 5),
            "stamped with the input frame's time"
        );
        assert_eq!(v(&out, i), ("transmit", None, Some(*rip), Some("SYN_RECV")));
    }
    // ipvsadm -Ln --stats: one connection, one 40-byte packet in per real server.
    for rip in ["10.0.0.11:80", "10.0.0.12:80"] {
        let row: Vec<&str> = out
            .text
            .lines()
            .find(|l| l.contains(rip))
            .map(|l| l.split_whitespace().collect())
            .unwrap_or_default();
        assert_eq!(row, ["->", rip, "1", "1", "0", "40", "0"], "{}", out.text);
    }
    assert!(out.text.contains("SYN_RECV"), "-Lnc listed: {}", out.text);
}

#[test]
fn nat_reply_is_recognised_as_outbound_with_mac_learnt_from_arp() {
    let rules = "-A -t 10.0.0.100:80 -s rr\n-a -t 10.0.0.100:80 -r 10.0.0.11:8080 -m -w 1\n";
    let out = run(
        rules,
        &[(CIP, CMAC)],
        &[],
        &[
            (ms(0), arp_reply(RS1MAC, RS1)),
            (ms(1), syn(CIP, 40000, VIP, 80, 64)),
            (ms(2), synack(RS1MAC, RS1, 8080, CIP, 40000)),
        ],
    );
    assert_eq!(v(&out, 0), ("local", Some("arp"), None, None));
    assert_eq!(out.frames.len(), 2, "the SYN and the SYN-ACK");
    // LVS-NAT in (ip_vs_nat_xmit): destination VIP:80 -> RIP:rport, TTL decremented.
    let p = decode(&out.frames[0].1);
    assert_eq!(
        (p.dst_mac, p.src, p.dst, p.dport, p.ttl),
        (RS1MAC, CIP, RS1, 8080, 63)
    );
    assert_eq!(
        v(&out, 1),
        ("transmit", None, Some("10.0.0.11:8080"), Some("SYN_RECV"))
    );
    // Out (ip_vs_out, SNAT back): RIP:rport -> VIP:80 toward the client.
    let p = decode(&out.frames[1].1);
    assert_eq!(
        (p.dst_mac, p.src_mac, p.src, p.sport, p.dst, p.dport),
        (CMAC, DMAC, VIP, 80, CIP, 40000)
    );
    assert_eq!(v(&out, 2).0, "transmit");
    assert_eq!(v(&out, 2).2, Some("10.0.0.11:8080"));
}

#[test]
fn fullnat_uses_the_local_address_both_ways() {
    let rules = "-A -u 10.0.0.100:53 -s rr --laddr 10.0.0.50\n-a -u 10.0.0.100:53 -r 10.0.0.11:53 --fullnat -w 1\n";
    let out = run(
        rules,
        &[(RS1, RS1MAC), (CIP, CMAC)],
        &[LIP],
        &[(ms(0), udp(CIP, 5353, VIP, 53, b"query"))],
    );
    assert_eq!(out.frames.len(), 1);
    let p = decode(&out.frames[0].1);
    assert_eq!(
        (p.src, p.dst, p.dport),
        (LIP, RS1, 53),
        "source NAT to the local address"
    );
    assert_eq!(
        v(&out, 0),
        ("transmit", None, Some("10.0.0.11:53"), Some("UDP"))
    );
    // The real server's reply to LIP:lport goes back to the client from the VIP.
    let mut reply = Vec::new();
    PacketBuilder::ethernet2(RS1MAC, DMAC)
        .ipv4(RS1, LIP, 64)
        .udp(53, p.sport)
        .write(&mut reply, b"answer")
        .unwrap();
    let out = run(
        rules,
        &[(RS1, RS1MAC), (CIP, CMAC)],
        &[LIP],
        &[(ms(0), udp(CIP, 5353, VIP, 53, b"query")), (ms(1), reply)],
    );
    assert_eq!(out.frames.len(), 2);
    let r = decode(&out.frames[1].1);
    assert_eq!(
        (r.dst_mac, r.src, r.sport, r.dst, r.dport),
        (CMAC, VIP, 53, CIP, 5353)
    );
}

#[test]
fn unresolved_neighbour_and_garbage_are_drops_with_reasons() {
    let rules = "-A -t 10.0.0.100:80 -s rr\n-a -t 10.0.0.100:80 -r 10.0.0.11:80 -g -w 1\n";
    let garbage: Vec<u8> = DMAC
        .iter()
        .chain(&CMAC)
        .copied()
        .chain([0x08, 0x00, 0x4f, 0x00, 0x00])
        .collect();
    let out = run(
        rules,
        &[],
        &[],
        &[
            (ms(0), syn(CIP, 40000, VIP, 80, 64)),
            (ms(1), garbage),
            (ms(2), arp_reply(RS1MAC, RS1)),
            (ms(3), syn(CIP, 40001, VIP, 80, 64)),
        ],
    );
    assert_eq!(v(&out, 0).0, "drop");
    assert_eq!(v(&out, 0).1, Some("neighbour unresolved"));
    assert_eq!(v(&out, 1), ("drop", Some("malformed"), None, None));
    // Once the ARP reply taught the MAC, the next connection goes out.
    assert_eq!(v(&out, 3).0, "transmit");
    assert_eq!(out.frames.len(), 1);
    assert_eq!(decode(&out.frames[0].1).dst_mac, RS1MAC);
    assert_eq!(out.frames[0].0, ms(3));
}

#[test]
fn ttl_one_gets_an_icmp_time_exceeded_in_the_output() {
    let rules = "-A -t 10.0.0.100:80 -s rr\n-a -t 10.0.0.100:80 -r 10.0.0.11:80 -m -w 1\n";
    let out = run(
        rules,
        &[(RS1, RS1MAC)],
        &[],
        &[(ms(0), syn(CIP, 40000, VIP, 80, 1))],
    );
    let (verdict, reason, ..) = v(&out, 0);
    assert_eq!((verdict, reason), ("icmp", Some("ttl")));
    assert_eq!(out.frames.len(), 1);
    let p = SlicedPacket::from_ethernet(&out.frames[0].1).unwrap();
    let Some(NetSlice::Ipv4(ip)) = &p.net else {
        panic!()
    };
    assert_eq!(
        ip.header().destination(),
        CIP,
        "the error goes to the sender"
    );
    match p.transport {
        Some(TransportSlice::Icmpv4(i)) => assert_eq!(i.type_u8(), 11, "time exceeded"),
        other => panic!("{other:?}"),
    }
}

#[test]
fn binary_honours_the_command_line_contract() {
    let dir = std::env::temp_dir().join(format!("lvs-replay-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let rules = dir.join("rules");
    std::fs::write(
        &rules,
        "-A -t 10.0.0.100:80 -s rr\n-a -t 10.0.0.100:80 -r 10.0.0.11:80 -g -w 1\n",
    )
    .unwrap();
    let input = dir.join("in.pcap");
    std::fs::write(&input, pcap(&[(ms(0), syn(CIP, 40000, VIP, 80, 64))])).unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_lvs-replay"))
        .arg("--rules")
        .arg(&rules)
        .arg("--in")
        .arg(&input)
        .arg("--out")
        .arg(dir.join("out.pcap"))
        .args([
            "--director-mac",
            "02:00:00:00:00:01",
            "--neigh",
            "10.0.0.11=02:00:00:00:00:11",
        ])
        .arg("--verdicts")
        .arg(dir.join("v.jsonl"))
        .arg("--list-conns")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.starts_with("IP Virtual Server version"), "{stdout}");
    assert!(
        stdout.contains("Conns   InPkts  OutPkts  InBytes OutBytes"),
        "--stats: {stdout}"
    );
    assert!(stdout.contains("pro expire state"), "-Lnc: {stdout}");
    let v: Value =
        serde_json::from_str(std::fs::read_to_string(dir.join("v.jsonl")).unwrap().trim()).unwrap();
    assert_eq!(
        v,
        serde_json::json!({"frame": 1, "verdict": "transmit", "reason": null,
            "real_server": "10.0.0.11:80", "conn_state": "SYN_RECV"})
    );
    let mut r = PcapReader::new(std::fs::File::open(dir.join("out.pcap")).unwrap()).unwrap();
    let f = r.next_packet().unwrap().unwrap();
    assert_eq!(decode(&f.data).dst_mac, RS1MAC);
    assert!(r.next_packet().is_none());
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn records_with_one_timestamp_replay_in_batches_with_the_output_of_one_by_one() {
    // Without --verdicts, records sharing a timestamp go through Engine::handle_frames (one
    // process_batch call per run of IP frames); with it, one record at a time. The output
    // capture and the listings must not tell them apart.
    let rules = "-A -t 10.0.0.100:80 -s rr\n-a -t 10.0.0.100:80 -r 10.0.0.11:80 -g -w 1\n\
                 -a -t 10.0.0.100:80 -r 10.0.0.12:8080 -m -w 1\n\
                 -A -u 10.0.0.100:53 -s rr\n-a -u 10.0.0.100:53 -r 10.0.0.11:53 -m -w 1\n";
    let mut frames = Vec::new();
    for i in 0..20 {
        frames.push((ms(0), syn(CIP, 40000 + i, VIP, 80, 64)));
    }
    // RS2's MAC arrives in the middle of the same burst: the NAT SYNs before it are drops
    // ("neighbour unresolved"), the ones after it transmits.
    frames.insert(7, (ms(0), arp_reply(RS2MAC, RS2)));
    for i in 0..10 {
        frames.push((ms(0), synack(RS2MAC, RS2, 8080, CIP, 40001 + 2 * i)));
        frames.push((ms(0), udp(CIP, 5000 + i, VIP, 53, b"q")));
    }
    frames.push((ms(0), vec![0x45; 9]));
    for i in 0..5 {
        frames.push((ms(3), syn(CIP, 41000 + i, VIP, 80, 1)));
    }
    let neigh = [(RS1, RS1MAC), (CIP, CMAC)];
    let one_by_one = run_with(rules, &neigh, &[], &frames, true);
    let batched = run_with(rules, &neigh, &[], &frames, false);
    assert_eq!(one_by_one.verdicts.len(), frames.len());
    let count = |verdict: &str, reason: Option<&str>| {
        (0..frames.len())
            .filter(|&i| (v(&one_by_one, i).0, v(&one_by_one, i).1) == (verdict, reason))
            .count()
    };
    assert!(count("drop", Some("neighbour unresolved")) > 0);
    assert_eq!(count("icmp", Some("ttl")), 5, "the TTL-1 SYNs");
    assert_eq!(count("drop", Some("malformed")), 1);
    assert!(batched.verdicts.is_empty());
    assert!(one_by_one.frames.len() > 30, "{}", one_by_one.frames.len());
    assert_eq!(batched.frames.len(), one_by_one.frames.len());
    for (k, (b, s)) in batched.frames.iter().zip(&one_by_one.frames).enumerate() {
        assert_eq!(b, s, "output frame {k} (time, bytes)");
    }
    assert_eq!(batched.text, one_by_one.text);
}
