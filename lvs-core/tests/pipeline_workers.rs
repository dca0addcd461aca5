//! The thread model: N directors with the same configuration, frames steered by
//! `Director::steer` (client hash, FULLNAT replies by local port), listings merged; and the
//! batch form of `process`.

mod pipeline_util;

use std::time::Instant;

use lvs_core::{DirectorConfig, PacketMeta, Verdict, merge_snapshots};
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
