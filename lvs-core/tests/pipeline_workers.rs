//! The thread model: N directors with the same configuration, frames steered by
//! `Director::steer` (client hash, FULLNAT replies by local port), listings merged; and the
//! batch form of `process`.

mod pipeline_util;

use std::time::Instant;

use lvs_core::{DirectorConfig, DropReason, PacketMeta, Verdict, merge_snapshots};
use pipeline_util::*;

const RULES: &[&str] = &[
    "-A -t 10.0.0.100:80 -s rr --laddr 10.2.0.1",
    "-a -t 10.0.0.100:80 -r 10.1.0.1:8080 --fullnat",
    "-a -t 10.0.0.100:80 -r 10.1.0.2:8080 -m",
];

#[test]
fn steered_flows_complete_on_their_worker_in_both_directions() {
    let t0 = Instant::now();
    let n = 3usize;
    let mut ws: Vec<_> = (0..n as u16)
        .map(|i| {
            director(
                RULES,
                DirectorConfig {
                    worker: (i, n as u16),
                    ..DirectorConfig::default()
                },
                t0,
            )
        })
        .collect();
    for c in 0..60u16 {
        let client = format!("192.0.2.{}:{}", c % 13 + 1, 10000 + c);
        let mut f = tcp(&client, "10.0.0.100:80", SYN);
        let w = ws[0].steer(f.bytes(), n);
        let v = run(&mut ws[w], &mut f, t0);
        let s = seen(f.out(&v));
        // The reply (to CIP for NAT, to LIP:lport for FULLNAT) must be steered to the same
        // worker, whose table knows the connection.
        let mut r = tcp(&s.dst.to_string(), &s.src.to_string(), SYN | ACK);
        let wr = ws[1].steer(r.bytes(), n);
        assert_eq!(wr, w, "reply of {client} via {}", s.src);
        let v = run(&mut ws[wr], &mut r, t0);
        let back = seen(r.out(&v));
        assert_eq!(back.dst, sa(&client));
        assert_eq!(back.src, sa("10.0.0.100:80"));
    }
    // Every worker got some flows, and the merged listing counts all 60.
    let snaps: Vec<_> = ws.iter().map(|d| d.snapshot()).collect();
    for s in &snaps {
        assert!(s.services[0].stats.conns > 0);
    }
    let all = merge_snapshots(&snaps).unwrap();
    assert_eq!(all.services[0].stats.conns, 60);
    let conns: u32 = all.services[0]
        .dests
        .iter()
        .map(|d| d.activeconns + d.inactconns)
        .sum();
    assert_eq!(conns, 60);
}

#[test]
fn batch_gives_the_same_verdicts_as_one_by_one() {
    let t0 = Instant::now();
    let mut a = director(RULES, DirectorConfig::default(), t0);
    let mut b = director(RULES, DirectorConfig::default(), t0);
    let mut one: Vec<Frame> = (0..8)
        .map(|i| tcp(&format!("192.0.2.1:{}", 2000 + i), "10.0.0.100:80", SYN))
        .collect();
    let mut batch: Vec<Frame> = (0..8)
        .map(|i| tcp(&format!("192.0.2.1:{}", 2000 + i), "10.0.0.100:80", SYN))
        .collect();
    let want: Vec<Verdict> = one.iter_mut().map(|f| run(&mut a, f, t0)).collect();
    let frames: Vec<(usize, usize)> = batch.iter().map(|f| (f.start, f.len)).collect();
    let meta = vec![PacketMeta::default(); 8];
    let mut bufs: Vec<&mut [u8]> = batch.iter_mut().map(|f| f.buf.as_mut_slice()).collect();
    let mut got = vec![Verdict::Local; 8];
    assert_eq!(b.process_batch(&mut bufs, &frames, &meta, t0, &mut got), 8);
    assert_eq!(got, want);
    for (x, y) in one.iter().zip(&batch) {
        assert_eq!(x.buf, y.buf);
    }
}

/// `process_batch` looks up the flows of 32 frames at a time before
/// processing them; frames of one chunk that depend on each other (a SYN creating the
/// connection the next ACK and FIN of the chunk belong to, a malformed frame range, an
/// unknown flow) must still give exactly what `process` gives frame by frame: same
/// verdicts, same rewritten bytes, same connection table, counters and drops.
#[test]
fn batch_with_dependent_frames_across_chunks_matches_one_by_one() {
    let t0 = Instant::now();
    let mut a = director(RULES, DirectorConfig::default(), t0);
    let mut b = director(RULES, DirectorConfig::default(), t0);
    let make = || -> Vec<Frame> {
        let mut v = Vec::new();
        for i in 0..13u16 {
            let c = format!("192.0.2.{}:{}", i % 5 + 1, 3000 + i);
            v.push(tcp(&c, "10.0.0.100:80", SYN));
            v.push(tcp(&c, "10.0.0.100:80", ACK));
            v.push(tcp(&c, "10.0.0.100:80", FIN | ACK));
        }
        // Not a connection start for an unknown flow, and a frame to an unknown VIP.
        v.push(tcp("192.0.2.9:4000", "10.0.0.100:80", ACK));
        v.push(tcp("192.0.2.9:4001", "10.0.0.99:80", SYN));
        v
    };
    let mut one = make();
    let mut batch = make();
    let last = one.len() - 1;
    let mut want: Vec<Verdict> = one[..last].iter_mut().map(|f| run(&mut a, f, t0)).collect();
    let mut frames: Vec<(usize, usize)> = batch.iter().map(|f| (f.start, f.len)).collect();
    // The last frame's range runs past its buffer: a Malformed drop in both forms.
    frames[last].1 = usize::MAX - frames[last].0;
    let s = one[last].start;
    let malformed = a.process(
        &mut one[last].buf,
        s,
        usize::MAX - s,
        &PacketMeta::default(),
        t0,
    );
    assert_eq!(malformed, Verdict::Drop(DropReason::Malformed));
    want.push(malformed);
    let n = batch.len();
    assert!(n > 32, "spans several warming chunks");
    let meta = vec![PacketMeta::default(); n];
    let mut bufs: Vec<&mut [u8]> = batch.iter_mut().map(|f| f.buf.as_mut_slice()).collect();
    let mut got = vec![Verdict::Local; n];
    assert_eq!(b.process_batch(&mut bufs, &frames, &meta, t0, &mut got), n);
    assert_eq!(got, want);
    assert!(
        want.iter()
            .filter(|v| matches!(v, Verdict::Transmit { .. }))
            .count()
            >= 39
    );
    for (x, y) in one.iter().zip(&batch) {
        assert_eq!(x.buf, y.buf);
    }
    assert_eq!(a.drop_counts(), b.drop_counts());
    assert_eq!(a.conn_table().len(), b.conn_table().len());
    assert_eq!(a.snapshot(), b.snapshot());
}

/// The batch path uses its batched lookup results only while the connection index is
/// unchanged: a chunk mixing established client packets, NAT and FULLNAT replies (found by
/// the reply lookup), new SYNs, a connection closed by RST and re-opened by a SYN in the same
/// chunk (an insert after the batch lookup), and an ICMP error about a flow must give exactly
/// what `process` gives frame by frame (verdicts, bytes, table, counters).
#[test]
fn batch_with_replies_and_index_changes_matches_one_by_one() {
    let t0 = Instant::now();
    let mut a = director(RULES, DirectorConfig::default(), t0);
    let mut b = director(RULES, DirectorConfig::default(), t0);
    let clients: Vec<String> = (0..30u16)
        .map(|i| format!("192.0.2.{}:{}", i % 7 + 1, 5000 + i))
        .collect();
    for d in [&mut a, &mut b] {
        for c in &clients {
            assert!(matches!(
                run(d, &mut tcp(c, "10.0.0.100:80", SYN), t0),
                Verdict::Transmit { .. }
            ));
        }
    }
    let make = |d: &lvs_core::Director| -> Vec<Frame> {
        let mut v = Vec::new();
        for (i, c) in clients.iter().enumerate() {
            let cip = sa(c);
            let conn = d
                .conn_table()
                .iter()
                .find(|x| x.caddr == cip.ip() && x.cport == cip.port() && !x.is_template())
                .expect("connection");
            let rs = format!("{}:{}", conn.daddr, conn.dport);
            // A reply to the client (NAT) or to the local address (FULLNAT).
            let to = match conn.local {
                Some((lip, lport)) => format!("{lip}:{lport}"),
                None => c.clone(),
            };
            v.push(tcp(&rs, &to, SYN | ACK));
            v.push(tcp(c, "10.0.0.100:80", ACK));
            if i % 5 == 0 {
                // Closed by the client, then re-opened from the same port in the chunk.
                v.push(tcp(c, "10.0.0.100:80", RST));
                v.push(tcp(c, "10.0.0.100:80", SYN));
                v.push(tcp(c, "10.0.0.100:80", ACK));
            }
            if i % 4 == 1 {
                let quoted = tcp(&to, &rs, ACK);
                let to_ip = to.split(':').next().unwrap_or_default();
                v.push(icmp_unreach("198.51.100.1", to_ip, &quoted));
                v.push(tcp(
                    &format!("198.18.0.{}:{}", i + 1, 7000 + i),
                    "10.0.0.100:80",
                    SYN,
                ));
            }
        }
        v
    };
    let mut one = make(&a);
    let mut batch = make(&b);
    let want: Vec<Verdict> = one.iter_mut().map(|f| run(&mut a, f, t0)).collect();
    let n = batch.len();
    assert!(n > 64, "several chunks");
    let frames: Vec<(usize, usize)> = batch.iter().map(|f| (f.start, f.len)).collect();
    let meta = vec![PacketMeta::default(); n];
    let mut bufs: Vec<&mut [u8]> = batch.iter_mut().map(|f| f.buf.as_mut_slice()).collect();
    let mut got = vec![Verdict::Local; n];
    assert_eq!(b.process_batch(&mut bufs, &frames, &meta, t0, &mut got), n);
    assert_eq!(got, want);
    // The replies were found and rewritten toward the clients.
    let to_clients = want
        .iter()
        .filter(|v| {
            matches!(
                v,
                Verdict::Transmit {
                    side: lvs_core::Side::Client,
                    ..
                }
            )
        })
        .count();
    assert!(to_clients >= 30, "{to_clients} frames to clients");
    for (x, y) in one.iter().zip(&batch) {
        assert_eq!(x.buf, y.buf);
    }
    assert_eq!(a.drop_counts(), b.drop_counts());
    assert_eq!(a.conn_table().len(), b.conn_table().len());
    assert_eq!(a.snapshot(), b.snapshot());
}
