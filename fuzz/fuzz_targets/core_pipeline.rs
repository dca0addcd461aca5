//! Frames into a configured Director (DR, NAT, TUN and FULLNAT real servers, IPv4 and IPv6,
//! TCP / UDP / SCTP, persistence, one-packet, fwmark): sequences of client packets, real
//! server replies, ICMP errors (about the last frame, tunnel packets included) and raw bytes,
//! with time advancing. Must never panic; every Transmit verdict for a frame whose checksums
//! verified must yield a frame whose checksums verify, and every ICMP error the director
//! builds must verify. Differential: a second director gets the same frames through
//! `process_batch` (grouped while time stands still) and must give the same verdicts, the
//! same rewritten bytes, the same counters and the same learned path MTUs as `process` frame
//! by frame. Some UDP frames are sent as IP fragments (any order, reassembly held in a small
//! `ipfrag_high_thresh`): the reassembler's state must end the same in both directors.
#![no_main]

use std::time::{Duration, Instant};

use etherparse::PacketBuilder;
use libfuzzer_sys::fuzz_target;
use lvs_core::{Director, DirectorConfig, PacketMeta, Verdict};

/// One frame of the group waiting for the batch director: its buffer before processing, the
/// frame range, metadata, and what `process` gave (verdict and buffer after).
struct Pending {
    input: Vec<u8>,
    start: usize,
    len: usize,
    meta: PacketMeta,
    verdict: Verdict,
    output: Vec<u8>,
}

/// Run the pending group through `b.process_batch` and compare with the one-by-one results.
fn flush(b: &mut Director, pending: &mut Vec<Pending>, now: Instant) {
    if pending.is_empty() {
        return;
    }
    let mut bufs: Vec<Vec<u8>> = pending.iter().map(|p| p.input.clone()).collect();
    let frames: Vec<(usize, usize)> = pending.iter().map(|p| (p.start, p.len)).collect();
    let meta: Vec<PacketMeta> = pending.iter().map(|p| p.meta).collect();
    let mut verdicts = vec![Verdict::Local; pending.len()];
    let mut refs: Vec<&mut [u8]> = bufs.iter_mut().map(|v| v.as_mut_slice()).collect();
    assert_eq!(
        b.process_batch(&mut refs, &frames, &meta, now, &mut verdicts),
        pending.len()
    );
    for ((p, v), buf) in pending.iter().zip(&verdicts).zip(&bufs) {
        assert_eq!(*v, p.verdict, "batch verdict");
        assert!(*buf == p.output, "batch bytes for {v:?}");
    }
    pending.clear();
}

const RULES: &[&str] = &[
    "-A -t 10.0.0.100:80 -s wlc -p 30 --laddr 10.2.0.1",
    "-a -t 10.0.0.100:80 -r 10.1.0.1:80 -g",
    "-a -t 10.0.0.100:80 -r 10.1.0.2:8080 -m",
    "-a -t 10.0.0.100:80 -r 10.1.0.3:80 -i",
    "-a -t 10.0.0.100:80 -r 10.1.0.4:8080 --fullnat",
    "-A -u 10.0.0.100:53 -s rr -o",
    "-a -u 10.0.0.100:53 -r 10.1.0.5:53 -m",
    "-A -t [2001:db8::100]:80 -s rr --laddr 2001:db8:2::1",
    "-a -t [2001:db8::100]:80 -r [2001:db8:1::1]:80 -g",
    "-a -t [2001:db8::100]:80 -r [2001:db8:1::2]:8080 -m",
    "-a -t [2001:db8::100]:80 -r [2001:db8:1::3]:8080 --fullnat",
    "-a -t [2001:db8::100]:80 -r [2001:db8:1::4]:80 -i",
    "-A -f 5 -s rr",
    "-a -f 5 -r 10.1.0.6:0 -m",
    "-A --sctp-service 10.0.0.100:9 -s rr",
    "-a --sctp-service 10.0.0.100:9 -r 10.1.0.7:9 -m",
];

const V4_PEERS: [&str; 8] = [
    "192.0.2.1",
    "192.0.2.2",
    "10.0.0.100",
    "10.1.0.1",
    "10.1.0.2",
    "10.1.0.4",
    "10.2.0.1",
    "10.1.0.7",
];
const V6_PEERS: [&str; 6] = [
    "2001:db8:9::1",
    "2001:db8::100",
    "2001:db8:1::1",
    "2001:db8:1::2",
    "2001:db8:1::3",
    "2001:db8:2::1",
];
const PORTS: [u16; 8] = [80, 8080, 53, 9, 1000, 1001, 2000, 65535];

/// Cut the IP payload of `whole` (IPv4 or IPv6, no extension headers) into fragments of `size`
/// bytes (a multiple of 8), identification `id`, reversed when `rev`.
fn fragments(whole: &[u8], size: usize, id: u32, rev: bool) -> Vec<Vec<u8>> {
    let v4 = whole.get(14).is_some_and(|b| b >> 4 == 4);
    let hl = if v4 { 20 } else { 40 };
    let Some(payload) = whole.get(14 + hl..) else {
        return vec![whole.to_vec()];
    };
    let mut out = Vec::new();
    let mut a = 0;
    while a < payload.len() {
        let b = (a + size).min(payload.len());
        let more = b != payload.len();
        let piece = &payload[a..b];
        let mut f = whole[..14 + hl].to_vec();
        let fo = (a / 8) as u16;
        if v4 {
            f[16..18].copy_from_slice(&((20 + piece.len()) as u16).to_be_bytes());
            f[18..20].copy_from_slice(&(id as u16).to_be_bytes());
            f[20..22].copy_from_slice(&(fo | if more { 0x2000 } else { 0 }).to_be_bytes());
            f[24..26].copy_from_slice(&[0, 0]);
            let mut s: u32 = 0;
            for c in f[14..34].chunks(2) {
                s += u32::from(u16::from_be_bytes([c[0], c[1]]));
            }
            while s > 0xffff {
                s = (s & 0xffff) + (s >> 16);
            }
            f[24..26].copy_from_slice(&(!(s as u16)).to_be_bytes());
        } else {
            let next = f[20];
            f[20] = 44;
            f[18..20].copy_from_slice(&((8 + piece.len()) as u16).to_be_bytes());
            f.extend_from_slice(&[next, 0]);
            f.extend_from_slice(&(fo << 3 | u16::from(more)).to_be_bytes());
            f.extend_from_slice(&id.to_be_bytes());
        }
        f.extend_from_slice(piece);
        out.push(f);
        a = b;
    }
    if rev {
        out.reverse();
    }
    out
}

fn build(b: &[u8; 8], payload: &[u8]) -> Option<Vec<u8>> {
    let v6 = b[0] & 1 != 0;
    let proto = (b[0] >> 1) % 4;
    let ttl = if b[0] & 0x80 != 0 { b[1] % 3 } else { 64 };
    let sport = PORTS[usize::from(b[3] % 8)];
    let dport = PORTS[usize::from(b[4] % 8)];
    let eth = PacketBuilder::ethernet2([2, 0, 0, 0, 0, 1], [2, 0, 0, 0, 0, 2]);
    let ip = if v6 {
        let s: std::net::Ipv6Addr = V6_PEERS[usize::from(b[1] % 6)].parse().ok()?;
        let d: std::net::Ipv6Addr = V6_PEERS[usize::from(b[2] % 6)].parse().ok()?;
        eth.ipv6(s.octets(), d.octets(), ttl)
    } else {
        let s: std::net::Ipv4Addr = V4_PEERS[usize::from(b[1] % 8)].parse().ok()?;
        let d: std::net::Ipv4Addr = V4_PEERS[usize::from(b[2] % 8)].parse().ok()?;
        eth.ipv4(s.octets(), d.octets(), ttl)
    };
    let mut out = Vec::new();
    match proto {
        0 | 3 => {
            let mut t = ip.tcp(sport, dport, 1, 1000);
            let f = b[5];
            if f & 1 != 0 {
                t = t.syn();
            }
            if f & 2 != 0 {
                t = t.ack(1);
            }
            if f & 4 != 0 {
                t = t.fin();
            }
            if f & 8 != 0 {
                t = t.rst();
            }
            t.write(&mut out, payload).ok()?;
        }
        1 => ip.udp(sport, dport).write(&mut out, payload).ok()?,
        _ => {
            // SCTP: common header + one chunk, CRC32c left for lvs-fwd's checker to refuse or
            // accept; no checksum assertion for it.
            return None;
        }
    }
    Some(out)
}

/// The director under test, configured by RULES.
fn director(t0: Instant) -> Director {
    let mut d = Director::new(
        DirectorConfig {
            lport_range: (2000, 2015),
            tun_mtu: 1400,
            conn: lvs_conn::ConnConfig {
                max_entries: 256,
                max_dests: 64,
                ..lvs_conn::ConnConfig::default()
            },
            max_dests: 64,
            ipfrag_high_thresh: 8192,
            ..DirectorConfig::default()
        },
        t0,
    );
    for r in RULES {
        let _ = d.apply_line(r, t0);
    }
    d
}

fuzz_target!(|data: &[u8]| {
    let t0 = Instant::now();
    let mut d = director(t0);
    let mut batch_d = director(t0);
    let mut pending: Vec<Pending> = Vec::new();
    let mut now = t0;
    let mut last: Vec<u8> = Vec::new();
    let mut rest = data;
    // Half the inputs step time on one frame in 64 instead of one in 4, so process_batch
    // also gets groups of several chunks (its pipelined path across chunks).
    let step_mask = if data.first().is_some_and(|x| x & 0x80 != 0) {
        63
    } else {
        3
    };
    while rest.len() >= 9 {
        let (head, tail) = rest.split_at(9);
        rest = tail;
        let mut b = [0u8; 8];
        b.copy_from_slice(&head[1..9]);
        let plen = usize::from(head[0] % 32).min(rest.len());
        let (payload, tail) = rest.split_at(plen);
        rest = tail;
        // Time stands still for most frames, so the batch director sees groups.
        let step = if b[6] & step_mask == 0 {
            u64::from(b[6]) * 100
        } else {
            0
        };
        if step != 0 {
            flush(&mut batch_d, &mut pending, now);
        }
        now += Duration::from_millis(step);
        let frame = match b[7] % 4 {
            0 | 1 => build(&b, payload),
            2 => Some(payload.to_vec()),
            _ => {
                // An ICMP error quoting the last frame (a tunnel packet the director sent, too:
                // the relay of ip_vs_in_icmp), as much as a router quotes (RFC 1812 4.3.2.3).
                let q = last.get(14..).unwrap_or(&[]);
                let q = &q[..q.len().min(if b[3] & 1 != 0 { 48 } else { 548 })];
                let ty = match b[4] % 3 {
                    0 => etherparse::Icmpv4Type::DestinationUnreachable(
                        etherparse::icmpv4::DestUnreachableHeader::Port,
                    ),
                    1 => etherparse::Icmpv4Type::DestinationUnreachable(
                        etherparse::icmpv4::DestUnreachableHeader::FragmentationNeeded {
                            // Mostly around tun_mtu (1400), so path MTUs get learned.
                            next_hop_mtu: u16::from_be_bytes([b[5], b[0]]) % 1600,
                        },
                    ),
                    _ => etherparse::Icmpv4Type::TimeExceeded(
                        etherparse::icmpv4::TimeExceededCode::TtlExceededInTransit,
                    ),
                };
                let mut out = Vec::new();
                let s: std::net::Ipv4Addr = V4_PEERS[usize::from(b[1] % 8)]
                    .parse()
                    .unwrap_or(std::net::Ipv4Addr::LOCALHOST);
                let dd: std::net::Ipv4Addr = V4_PEERS[usize::from(b[2] % 8)]
                    .parse()
                    .unwrap_or(std::net::Ipv4Addr::LOCALHOST);
                PacketBuilder::ethernet2([2, 0, 0, 0, 0, 1], [2, 0, 0, 0, 0, 2])
                    .ipv4(s.octets(), dd.octets(), 64)
                    .icmpv4(ty)
                    .write(&mut out, q)
                    .ok()
                    .map(|()| out)
            }
        };
        let Some(frame) = frame else { continue };
        // UDP frames are sometimes sent as fragments (payload grown so some reassembled
        // datagrams exceed tun_mtu while each fragment fits).
        let frames = if b[7] % 4 < 2 && (b[0] >> 1) % 4 == 1 && b[5] & 0x80 != 0 {
            let mut big = payload.to_vec();
            let times = usize::from(b[4] % 64);
            for _ in 0..times {
                big.extend_from_slice(payload);
            }
            big.truncate(3000);
            match build(&b, &big) {
                Some(w) => fragments(
                    &w,
                    8 * (1 + usize::from(b[1]) * 3 % 170),
                    u32::from(b[3] & 3),
                    b[2] & 1 != 0,
                ),
                None => vec![frame],
            }
        } else {
            vec![frame]
        };
        for frame in frames {
            let input_ok =
                lvs_fwd::parse(&frame).is_ok_and(|p| lvs_fwd::verify_checksums(&frame, &p));
            let head_room = 96;
            let mut buf = vec![0u8; head_room + frame.len().max(3100) + 1600];
            buf[head_room..head_room + frame.len()].copy_from_slice(&frame);
            let _ = d.steer(&frame, 4);
            let meta = PacketMeta {
                fwmark: if b[5] & 0x40 != 0 { 5 } else { 0 },
            };
            let input = buf.clone();
            let v = d.process(&mut buf, head_room, frame.len(), &meta, now);
            pending.push(Pending {
                input,
                start: head_room,
                len: frame.len(),
                meta,
                verdict: v,
                output: buf.clone(),
            });
            if let Verdict::Transmit { start, len, .. } = v {
                let out = &buf[start..start + len];
                if input_ok {
                    let p = lvs_fwd::parse(out).expect("a transmitted frame parses");
                    assert!(lvs_fwd::verify_checksums(out, &p), "checksums of {v:?}");
                }
                last = out.to_vec();
            } else {
                if let Verdict::Icmp { start, len, .. } = v {
                    // Time exceeded, too big, port unreachable: always valid.
                    let out = &buf[start..start + len];
                    let p = lvs_fwd::parse(out).expect("a generated ICMP error parses");
                    assert!(lvs_fwd::verify_checksums(out, &p), "checksums of {v:?}");
                }
                last = frame;
            }
            assert!(d.frag_held().0 <= 8192, "ipfrag_high_thresh");
        }
        if b[6] > 200 {
            flush(&mut batch_d, &mut pending, now);
            d.handle_timeout(now);
            batch_d.handle_timeout(now);
            let _ = d.poll_timeout();
            // Reassembly time exceeded: valid checksums, the same from both directors.
            while let Some(e) = d.poll_icmp() {
                let p = lvs_fwd::parse(&e.frame).expect("a queued ICMP error parses");
                assert!(lvs_fwd::verify_checksums(&e.frame, &p), "checksums of {e:?}");
                assert_eq!(Some(e), batch_d.poll_icmp());
            }
            assert_eq!(batch_d.poll_icmp(), None);
        }
    }
    flush(&mut batch_d, &mut pending, now);
    assert_eq!(d.drop_counts(), batch_d.drop_counts());
    assert_eq!(d.frag_held(), batch_d.frag_held());
    assert_eq!(d.snapshot(), batch_d.snapshot());
    // The path MTUs learned from tunnel errors (tun_mtu 1400 here) are the same state too.
    assert_eq!(d.pmtu_entries(now), batch_d.pmtu_entries(now));
    assert!(d.pmtu_entries(now).iter().all(|e| e.mtu <= 1400));
});
