//! IP fragments of balanced flows: the director reassembles them as the kernel's
//! `nf_defrag_ipv4` / `nf_defrag_ipv6` do before IPVS (`ip_vs_gather_frags`,
//! net/netfilter/ipvs/ip_vs_core.c), holding each fragment ([`Verdict::Held`], NF_STOLEN) until
//! the last one, whose verdict is that of the whole datagram. Fragments are cut here by hand
//! from etherparse-built datagrams; outputs are checked with etherparse's full checksum
//! recomputes and compared with the original payload.

mod pipeline_util;

use std::time::{Duration, Instant};

use etherparse::{NetSlice, SlicedPacket, TransportSlice};
use lvs_core::{DirectorConfig, DropReason, FragInsert, Reassembler, Verdict};
use pipeline_util::*;

/// A director with one UDP DR service, 10.0.0.100:53 -> 10.1.0.1.
fn dr53(cfg: DirectorConfig, t0: Instant) -> lvs_core::Director {
    director(
        &[
            "-A -u 10.0.0.100:53 -s rr",
            "-a -u 10.0.0.100:53 -r 10.1.0.1 -g",
        ],
        cfg,
        t0,
    )
}

/// Refragment `sent` with lvs-fwd's fragmenter `cut` (each piece checked against `mtu`) and
/// reassemble the pieces with a fresh reassembler: the frame it gives back.
fn refragment_and_reassemble(
    sent: &[u8],
    mtu: usize,
    cut: impl Fn(&[u8], &mut [u8], &mut dyn FnMut(&[u8])) -> usize,
    t0: Instant,
) -> Vec<u8> {
    let mut scratch = vec![0u8; 1600];
    let mut pieces = Vec::new();
    let n = cut(sent, &mut scratch, &mut |p| pieces.push(p.to_vec()));
    assert_eq!(n, 3);
    let mut r = Reassembler::new(1 << 20, Duration::from_secs(30));
    let mut done = None;
    for p in &pieces {
        assert!(p.len() - 14 <= mtu);
        if let FragInsert::Complete(k) = insert(&mut r, p, t0) {
            done = Some(k);
        }
    }
    let mut out = vec![0u8; 8000];
    let got = r.take(&done.unwrap(), &mut out).unwrap();
    out[..got.len].to_vec()
}

/// The transport payload and ports of an output frame, every checksum verified by etherparse
/// (`seen`), and that it is not a fragment.
fn udp_of(frame: &[u8]) -> (Seen, Vec<u8>) {
    let s = seen(frame);
    let p = SlicedPacket::from_ethernet(frame).unwrap();
    match &p.net {
        Some(NetSlice::Ipv4(h)) => {
            assert!(!h.header().more_fragments(), "MF cleared");
            assert_eq!(h.header().fragments_offset().value(), 0, "offset cleared");
        }
        Some(NetSlice::Ipv6(h)) => assert!(!h.is_payload_fragmented(), "no fragment header"),
        _ => panic!("not IP"),
    }
    let Some(TransportSlice::Udp(u)) = &p.transport else {
        panic!("not UDP")
    };
    (s, u.payload().to_vec())
}

/// Feed `frags` in order; every one but the last must be Held; return the last verdict and
/// the frame it came in.
fn feed(d: &mut lvs_core::Director, frags: &[Vec<u8>], t: Instant) -> (Verdict, Frame) {
    let mut last = None;
    for (i, fr) in frags.iter().enumerate() {
        let mut f = big_frame(fr.clone());
        let v = run(d, &mut f, t);
        if i + 1 < frags.len() {
            assert_eq!(v, Verdict::Held, "fragment {i}");
        }
        last = Some((v, f));
    }
    last.unwrap()
}

#[test]
fn dr_udp_request_in_three_fragments_in_order_reversed_and_duplicated_is_sent_whole() {
    let t0 = Instant::now();
    let mut d = dr53(DirectorConfig::default(), t0);
    let data = payload(3000);
    let orders: [&[usize]; 3] = [&[0, 1, 2], &[2, 1, 0], &[0, 1, 0, 2]];
    for (k, order) in orders.iter().enumerate() {
        let whole = udp(&format!("192.0.2.1:{}", 40000 + k), "10.0.0.100:53", &data);
        let frags = split(whole.bytes(), &[1000, 2000], 7 + k as u32);
        let seq: Vec<Vec<u8>> = order.iter().map(|&i| frags[i].clone()).collect();
        let (v, f) = feed(&mut d, &seq, t0);
        // 3028 bytes > MTU 1500, no DF, fragments of at most 1020 bytes: forwarded whole
        // for the caller's egress to refragment.
        assert!(matches!(v, Verdict::Transmit { .. }), "{order:?}: {v:?}");
        assert_eq!(next_hop(&v), ip("10.1.0.1"));
        let out = f.out(&v);
        assert_eq!(out.len(), whole.len);
        let (s, got) = udp_of(out);
        assert_eq!(s.dst, sa("10.0.0.100:53"), "DR keeps the VIP");
        assert_eq!(s.ttl, 63);
        assert_eq!(got, data);
    }
    assert_eq!(d.frag_held(), (0, 0));
}

#[test]
fn nat_request_and_reply_fragments_are_reassembled_and_rewritten() {
    let t0 = Instant::now();
    let mut d = director(
        &[
            "-A -u 10.0.0.100:53 -s rr",
            "-a -u 10.0.0.100:53 -r 10.1.0.1:5353 -m",
        ],
        DirectorConfig::default(),
        t0,
    );
    let data = payload(2500);
    let whole = udp("192.0.2.9:41000", "10.0.0.100:53", &data);
    let (v, f) = feed(&mut d, &split(whole.bytes(), &[1200, 2400], 1), t0);
    let (s, got) = udp_of(f.out(&v));
    assert_eq!((s.src, s.dst), (sa("192.0.2.9:41000"), sa("10.1.0.1:5353")));
    assert_eq!(got, data);
    // The reply from the real server, fragmented, reversed.
    let rdata = payload(4000);
    let reply = udp("10.1.0.1:5353", "192.0.2.9:41000", &rdata);
    let mut frags = split(reply.bytes(), &[1480, 2960], 99);
    frags.reverse();
    let (v, f) = feed(&mut d, &frags, t0);
    assert_eq!(next_hop(&v), ip("192.0.2.9"));
    let (s, got) = udp_of(f.out(&v));
    assert_eq!((s.src, s.dst), (sa("10.0.0.100:53"), sa("192.0.2.9:41000")));
    assert_eq!(got, rdata);
}

#[test]
fn fullnat_request_and_reply_fragments_are_reassembled_and_rewritten() {
    let t0 = Instant::now();
    let mut d = director(
        &[
            "-A -u 10.0.0.100:53 -s rr --laddr 10.2.0.1",
            "-a -u 10.0.0.100:53 -r 10.1.0.4:5353 --fullnat",
        ],
        DirectorConfig::default(),
        t0,
    );
    let data = payload(2500);
    let whole = udp("192.0.2.9:41000", "10.0.0.100:53", &data);
    let (v, f) = feed(&mut d, &split(whole.bytes(), &[1200, 2400], 1), t0);
    let (s, got) = udp_of(f.out(&v));
    assert_eq!(s.src.ip(), ip("10.2.0.1"), "from the local address");
    assert_eq!(s.dst, sa("10.1.0.4:5353"));
    assert_eq!(got, data);
    let reply = udp("10.1.0.4:5353", &s.src.to_string(), &data);
    let (v, f) = feed(&mut d, &split(reply.bytes(), &[1000, 2000], 2), t0);
    assert_eq!(next_hop(&v), ip("192.0.2.9"));
    let (s, got) = udp_of(f.out(&v));
    assert_eq!((s.src, s.dst), (sa("10.0.0.100:53"), sa("192.0.2.9:41000")));
    assert_eq!(got, data);
}

#[test]
fn ipv6_dr_and_nat_fragments_are_reassembled_and_checked_by_their_largest_fragment() {
    let t0 = Instant::now();
    let mut d = director(
        &[
            "-A -u [2001:db8::100]:53 -s rr",
            "-a -u [2001:db8::100]:53 -r [2001:db8:1::1]:5353 -m",
            "-A -u [2001:db8::200]:53 -s rr",
            "-a -u [2001:db8::200]:53 -r [2001:db8:1::2]:53 -g",
        ],
        DirectorConfig::default(),
        t0,
    );
    let data = payload(3000);
    // NAT: 3048 bytes of IPv6 > 1500, but every fragment fits: forwarded whole (the kernel's
    // IP6CB(skb)->frag_max_size in ensure_mtu_is_adequate), not packet too big.
    let whole = udp("[2001:db8:9::1]:40000", "[2001:db8::100]:53", &data);
    let mut frags = split(whole.bytes(), &[1232, 2464], 0xdead_beef);
    frags.swap(0, 1);
    let (v, f) = feed(&mut d, &frags, t0);
    assert!(matches!(v, Verdict::Transmit { .. }), "{v:?}");
    let (s, got) = udp_of(f.out(&v));
    assert_eq!(s.dst, sa("[2001:db8:1::1]:5353"));
    assert_eq!(got, data);
    // The reply.
    let reply = udp("[2001:db8:1::1]:5353", "[2001:db8:9::1]:40000", &data);
    let (v, f) = feed(&mut d, &split(reply.bytes(), &[1000, 2000], 5), t0);
    let (s, got) = udp_of(f.out(&v));
    assert_eq!(
        (s.src, s.dst),
        (sa("[2001:db8::100]:53"), sa("[2001:db8:9::1]:40000"))
    );
    assert_eq!(got, data);
    // DR.
    let whole = udp("[2001:db8:9::1]:40001", "[2001:db8::200]:53", &data);
    let (v, f) = feed(&mut d, &split(whole.bytes(), &[8, 1456, 2904], 6), t0);
    assert_eq!(next_hop(&v), ip("2001:db8:1::2"));
    let (s, got) = udp_of(f.out(&v));
    assert_eq!(s.dst, sa("[2001:db8::200]:53"));
    assert_eq!(got, data);
}

#[test]
fn ipv6_datagram_whose_largest_fragment_exceeds_the_mtu_gets_packet_too_big() {
    let t0 = Instant::now();
    let mut d = director(
        &[
            "-A -u [2001:db8::100]:53 -s rr",
            "-a -u [2001:db8::100]:53 -r [2001:db8:1::1]:53 -g",
        ],
        DirectorConfig {
            tun_mtu: 1280,
            ..DirectorConfig::default()
        },
        t0,
    );
    let data = payload(3000);
    let whole = udp("[2001:db8:9::1]:40000", "[2001:db8::100]:53", &data);
    // First fragment: 40 + 8 + 1400 bytes > 1280.
    let (v, _) = feed(&mut d, &split(whole.bytes(), &[1400], 1), t0);
    assert!(
        matches!(
            v,
            Verdict::Icmp {
                reason: DropReason::TooBig,
                ..
            }
        ),
        "{v:?}"
    );
}

#[test]
fn overlapping_fragment_drops_the_queue_and_the_rest_makes_no_datagram() {
    let t0 = Instant::now();
    let mut d = dr53(DirectorConfig::default(), t0);
    let whole = udp("192.0.2.1:40000", "10.0.0.100:53", &payload(3000));
    let a = split(whole.bytes(), &[1000, 2000], 3);
    let b = split(whole.bytes(), &[992, 2000], 3);
    assert_eq!(run(&mut d, &mut big_frame(a[0].clone()), t0), Verdict::Held);
    // b[1] starts at 992, inside a[0]: IPFRAG_OVERLAP kills the queue.
    assert_eq!(
        run(&mut d, &mut big_frame(b[1].clone()), t0),
        Verdict::Drop(DropReason::Fragment)
    );
    assert_eq!(d.frag_held(), (0, 0));
    assert_eq!(d.drops(DropReason::Fragment), 1);
    // The remaining fragments start a new queue that never completes.
    assert_eq!(run(&mut d, &mut big_frame(a[1].clone()), t0), Verdict::Held);
    assert_eq!(run(&mut d, &mut big_frame(a[2].clone()), t0), Verdict::Held);
    assert_eq!(d.frag_held().1, 1);
}

#[test]
fn incomplete_datagram_expires_after_ipfrag_time() {
    let t0 = Instant::now();
    let mut d = dr53(
        DirectorConfig {
            ipfrag_time: 30,
            ..DirectorConfig::default()
        },
        t0,
    );
    let whole = udp("192.0.2.1:40000", "10.0.0.100:53", &payload(3000));
    let fr = split(whole.bytes(), &[1000, 2000], 3);
    assert_eq!(
        run(&mut d, &mut big_frame(fr[0].clone()), t0),
        Verdict::Held
    );
    assert_eq!(
        run(&mut d, &mut big_frame(fr[1].clone()), t0),
        Verdict::Held
    );
    assert!(d.frag_held().0 >= 2000);
    assert!(d.poll_timeout().unwrap() <= at(t0, 30));
    d.handle_timeout(at(t0, 29));
    assert_eq!(d.frag_held().1, 1, "not yet at 29 s");
    d.handle_timeout(at(t0, 30));
    assert_eq!(d.frag_held(), (0, 0), "freed at ipfrag_time");
    // The last fragment alone does not complete anything now.
    assert_eq!(
        run(&mut d, &mut big_frame(fr[2].clone()), at(t0, 30)),
        Verdict::Held
    );
}

#[test]
fn ipfrag_high_thresh_bounds_the_memory_evicting_the_oldest_queue() {
    let t0 = Instant::now();
    let thresh = 8000;
    let mut d = dr53(
        DirectorConfig {
            ipfrag_high_thresh: thresh,
            ..DirectorConfig::default()
        },
        t0,
    );
    let whole = udp("192.0.2.1:40000", "10.0.0.100:53", &payload(3000));
    let mut firsts = Vec::new();
    for id in 0..10u32 {
        let fr = split(whole.bytes(), &[1000, 2000], id);
        let v = run(&mut d, &mut big_frame(fr[0].clone()), at(t0, u64::from(id)));
        assert_eq!(v, Verdict::Held);
        assert!(d.frag_held().0 <= thresh, "{:?}", d.frag_held());
        firsts.push(fr);
    }
    assert!(d.frag_held().1 < 10);
    // The oldest (id 0) was evicted: its other fragments complete nothing; the newest does.
    assert_eq!(
        run(&mut d, &mut big_frame(firsts[0][1].clone()), at(t0, 10)),
        Verdict::Held
    );
    let (v, _) = feed(&mut d, &firsts[9][1..], at(t0, 10));
    assert!(matches!(v, Verdict::Transmit { .. }), "{v:?}");
    assert!(d.frag_held().0 <= thresh);
}

#[test]
fn datagram_above_65535_bytes_is_dropped() {
    let t0 = Instant::now();
    let mut d = dr53(DirectorConfig::default(), t0);
    let whole = udp("192.0.2.1:40000", "10.0.0.100:53", &payload(64));
    let mut fr = split(whole.bytes(), &[16], 4).pop().unwrap();
    // Offset 65512 (8189 * 8) + 56 bytes + 20-byte header > 65535.
    fr[20..22].copy_from_slice(&8189u16.to_be_bytes());
    let (mut h, _) = etherparse::Ipv4Header::from_slice(&fr[14..]).unwrap();
    h.header_checksum = h.calc_header_checksum();
    fr[24..26].copy_from_slice(&h.header_checksum.to_be_bytes());
    assert_eq!(
        run(&mut d, &mut big_frame(fr), t0),
        Verdict::Drop(DropReason::Fragment)
    );
    assert_eq!(d.frag_held(), (0, 0));
}

#[test]
fn fragments_to_unknown_destinations_stay_local() {
    let t0 = Instant::now();
    let mut d = dr53(DirectorConfig::default(), t0);
    let whole = udp("192.0.2.1:40000", "10.0.0.200:53", &payload(3000));
    for fr in split(whole.bytes(), &[1000, 2000], 3) {
        assert_eq!(run(&mut d, &mut big_frame(fr), t0), Verdict::Local);
    }
    assert_eq!(d.frag_held(), (0, 0));
}

#[test]
fn completed_datagram_without_room_in_the_buffer_is_a_fragment_drop() {
    let t0 = Instant::now();
    let mut d = dr53(DirectorConfig::default(), t0);
    let whole = udp("192.0.2.1:40000", "10.0.0.100:53", &payload(3000));
    let fr = split(whole.bytes(), &[1000, 2000], 3);
    assert_eq!(
        run(&mut d, &mut big_frame(fr[0].clone()), t0),
        Verdict::Held
    );
    assert_eq!(
        run(&mut d, &mut big_frame(fr[1].clone()), t0),
        Verdict::Held
    );
    // A buffer with 1600 bytes of tailroom: 3042 bytes do not fit after start.
    let mut small = Frame::new(fr[2].clone());
    assert_eq!(
        run(&mut d, &mut small, t0),
        Verdict::Drop(DropReason::Fragment)
    );
    assert_eq!(d.frag_held(), (0, 0));
}

#[test]
fn reassembled_datagram_for_a_local_port_of_the_vip_is_delivered_whole() {
    let t0 = Instant::now();
    let mut d = dr53(DirectorConfig::default(), t0);
    let data = payload(3000);
    let whole = udp("192.0.2.1:40000", "10.0.0.100:123", &data);
    let (v, f) = feed(&mut d, &split(whole.bytes(), &[1000, 2000], 3), t0);
    let Verdict::LocalDatagram { start, len } = v else {
        panic!("{v:?}")
    };
    let (s, got) = udp_of(&f.buf[start..start + len]);
    assert_eq!(s.ttl, 64, "delivered unchanged");
    assert_eq!(got, data);
}

#[test]
fn forwarded_datagram_refragmented_by_fragment_ipv4_reassembles_to_itself() {
    // The caller's side of an oversized Transmit: lvs_fwd::fragment_ipv4 at the egress MTU,
    // each piece within it, and the pieces put back together (by our reassembler and by
    // etherparse field checks in lvs-fwd's own tests) give the transmitted frame again.
    let t0 = Instant::now();
    let mut d = director(
        &[
            "-A -u 10.0.0.100:53 -s rr",
            "-a -u 10.0.0.100:53 -r 10.1.0.1:5353 -m",
        ],
        DirectorConfig::default(),
        t0,
    );
    let whole = udp("192.0.2.9:41000", "10.0.0.100:53", &payload(4000));
    let (v, f) = feed(&mut d, &split(whole.bytes(), &[1480, 2960], 1), t0);
    let sent = f.out(&v).to_vec();
    assert!(sent.len() > 1514);
    let back = refragment_and_reassemble(
        &sent,
        1500,
        |f, scratch, out| lvs_fwd::fragment_ipv4(f, 1500, scratch, out).unwrap(),
        t0,
    );
    assert_eq!(back, sent);
}

#[test]
fn process_batch_gives_what_process_gives_for_fragments() {
    // The batch path looks flows up before processing; a held fragment and a reassembled
    // datagram must not use those lookups (the datagram's first frame creates the connection
    // the later datagrams of the batch then find).
    let t0 = Instant::now();
    let rules = [
        "-A -u 10.0.0.100:53 -s rr",
        "-a -u 10.0.0.100:53 -r 10.1.0.1:5353 -m",
    ];
    let mut one = director(&rules, DirectorConfig::default(), t0);
    let mut batch = director(&rules, DirectorConfig::default(), t0);
    let data = payload(2000);
    let mut frames = Vec::new();
    for id in 0..3u32 {
        let whole = udp("192.0.2.9:41000", "10.0.0.100:53", &data);
        let mut fr = split(whole.bytes(), &[1000], id);
        if id == 1 {
            fr.reverse();
        }
        frames.extend(fr);
        // An unfragmented datagram of the same flow between them.
        frames.push(
            udp("192.0.2.9:41000", "10.0.0.100:53", b"x")
                .bytes()
                .to_vec(),
        );
    }
    let mut bufs: Vec<Frame> = frames.iter().map(|f| big_frame(f.clone())).collect();
    let mut want = Vec::new();
    for f in &frames {
        let mut b = big_frame(f.clone());
        let v = run(&mut one, &mut b, t0);
        want.push((v, b.buf));
    }
    let spans: Vec<(usize, usize)> = bufs.iter().map(|f| (f.start, f.len)).collect();
    let meta = vec![lvs_core::PacketMeta::default(); bufs.len()];
    let mut verdicts = vec![Verdict::Local; bufs.len()];
    let mut refs: Vec<&mut [u8]> = bufs.iter_mut().map(|f| f.buf.as_mut_slice()).collect();
    assert_eq!(
        batch.process_batch(&mut refs, &spans, &meta, t0, &mut verdicts),
        frames.len()
    );
    for (i, ((v, b), f)) in want.iter().zip(&bufs).enumerate() {
        assert_eq!(verdicts[i], *v, "frame {i}");
        assert!(f.buf == *b, "bytes of frame {i}");
    }
    let held = want.iter().filter(|(v, _)| *v == Verdict::Held).count();
    assert_eq!(held, 3);
    assert_eq!(one.frag_held(), batch.frag_held());
    assert_eq!(one.snapshot(), batch.snapshot());
}

#[test]
fn ipv6_datagram_refragmented_by_fragment_ipv6_reassembles_to_itself() {
    let t0 = Instant::now();
    let mut d = director(
        &[
            "-A -u [2001:db8::100]:53 -s rr",
            "-a -u [2001:db8::100]:53 -r [2001:db8:1::1]:5353 -m",
        ],
        DirectorConfig::default(),
        t0,
    );
    let whole = udp(
        "[2001:db8:9::1]:40000",
        "[2001:db8::100]:53",
        &payload(4000),
    );
    let (v, f) = feed(&mut d, &split(whole.bytes(), &[1200, 2400, 3600], 1), t0);
    let sent = f.out(&v).to_vec();
    assert!(
        sent.len() - 14 > 1500,
        "forwarded whole by its largest fragment: {v:?}"
    );
    let back = refragment_and_reassemble(
        &sent,
        1500,
        |f, scratch, out| lvs_fwd::fragment_ipv6(f, 1500, 77, scratch, out).unwrap(),
        t0,
    );
    assert_eq!(back, sent);
}

// ---- The reassembler alone ----

fn insert(r: &mut Reassembler, frame: &[u8], t: Instant) -> FragInsert {
    let p = lvs_fwd::parse(frame).unwrap();
    r.insert(frame, &p, t)
}

#[test]
fn reassembler_ignores_duplicates_and_rebuilds_the_original_frame() {
    let t0 = Instant::now();
    let mut r = Reassembler::new(1 << 20, Duration::from_secs(30));
    let whole = udp("192.0.2.1:1", "10.0.0.1:2", &payload(1000));
    let fr = split(whole.bytes(), &[248, 504, 752], 1);
    for i in [3, 1, 1, 0] {
        assert_eq!(insert(&mut r, &fr[i], t0), FragInsert::Held, "{i}");
    }
    let FragInsert::Complete(k) = insert(&mut r, &fr[2], t0) else {
        panic!()
    };
    let mut out = vec![0; 2000];
    let got = r.take(&k, &mut out).unwrap();
    // The original frame, byte for byte, but for the fragments' identification (kept) and
    // DF (etherparse sets it; these fragments do not carry it): RFC 791 reassembly.
    let mut want = whole.bytes().to_vec();
    want[18..22].copy_from_slice(&[0, 1, 0, 0]);
    let (mut h, _) = etherparse::Ipv4Header::from_slice(&want[14..]).unwrap();
    h.header_checksum = h.calc_header_checksum();
    want[24..26].copy_from_slice(&h.header_checksum.to_be_bytes());
    assert_eq!(&out[..got.len], &want[..], "the original frame");
    assert_eq!(got.frag_max_size, 20 + 256);
    assert_eq!(r.mem(), 0);
}

#[test]
fn reassembler_drops_the_queue_on_a_second_last_fragment_or_data_beyond_the_end() {
    let t0 = Instant::now();
    let mut r = Reassembler::new(1 << 20, Duration::from_secs(30));
    let whole = udp("192.0.2.1:1", "10.0.0.1:2", &payload(1000));
    let fr = split(whole.bytes(), &[504], 1);
    let shorter = split(&whole.bytes()[..whole.len - 8], &[504], 1);
    assert_eq!(insert(&mut r, &fr[1], t0), FragInsert::Held);
    // Another last fragment with another end: corrupt.
    assert_eq!(insert(&mut r, &shorter[1], t0), FragInsert::Dropped);
    assert_eq!(r.queues(), 0);
    // The last fragment fixes the end at 1000 (shorter's); a non-last fragment ending beyond
    // it (0..1008 with MF) kills the queue.
    assert_eq!(insert(&mut r, &shorter[1], t0), FragInsert::Held);
    let big = udp("192.0.2.1:1", "10.0.0.1:2", &payload(1100));
    let beyond = split(big.bytes(), &[1008], 1);
    assert_eq!(insert(&mut r, &beyond[0], t0), FragInsert::Dropped);
    assert_eq!((r.queues(), r.mem()), (0, 0));
}

#[test]
fn reassembler_drops_the_queue_for_a_non_last_ipv6_fragment_not_a_multiple_of_8() {
    // nf_ct_frag6_queue: "end of fragment not rounded to 8 bytes" -> inet_frag_kill.
    let t0 = Instant::now();
    let mut r = Reassembler::new(1 << 20, Duration::from_secs(30));
    let whole = udp("[2001:db8::1]:1", "[2001:db8::2]:2", &payload(100));
    let bad = split(whole.bytes(), &[20], 1);
    let ok = split(whole.bytes(), &[24], 1);
    assert_eq!(insert(&mut r, &ok[1], t0), FragInsert::Held);
    assert_eq!(insert(&mut r, &bad[0], t0), FragInsert::Dropped);
    assert_eq!((r.queues(), r.mem()), (0, 0));
    assert_eq!(insert(&mut r, &ok[1], t0), FragInsert::Held);
    let FragInsert::Complete(k) = insert(&mut r, &ok[0], t0) else {
        panic!()
    };
    let mut out = vec![0; 400];
    let got = r.take(&k, &mut out).unwrap();
    assert_eq!(
        &out[..got.len],
        whole.bytes(),
        "fragment header removed, length restored"
    );
}
