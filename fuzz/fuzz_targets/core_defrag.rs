//! The IP reassembler alone (`lvs_core::Reassembler`): arbitrary sequences of fragments of a
//! few datagrams (IPv4 and IPv6; valid splits, overlaps, duplicates, bogus offsets and
//! lengths), with time advancing. Must never panic; the bytes held never exceed
//! `high_thresh`; a datagram completed from fragments that were all a valid split of one
//! original (no foreign piece accepted in its queue) equals that original, and its largest
//! fragment size is that of the largest piece sent.
#![no_main]

use std::time::{Duration, Instant};

use etherparse::PacketBuilder;
use libfuzzer_sys::fuzz_target;
use lvs_core::{FragInsert, Reassembler};

const THRESH: usize = 6000;

/// The original datagram `k` (0..4): UDP, IPv4 for even k, with a payload of `len` bytes.
fn original(k: u8, len: usize) -> Vec<u8> {
    let eth = PacketBuilder::ethernet2([2, 0, 0, 0, 0, 1], [2, 0, 0, 0, 0, 2]);
    let payload: Vec<u8> = (0..len).map(|i| (i as u8) ^ k.wrapping_mul(37)).collect();
    let mut out = Vec::new();
    let b = if k % 2 == 0 {
        eth.ipv4([192, 0, 2, k], [10, 0, 0, 100], 64)
    } else {
        eth.ipv6(
            [0x20, 1, 0xd, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, k],
            [0xfe; 16],
            64,
        )
    };
    b.udp(1000, 53).write(&mut out, &payload).unwrap();
    out
}

/// Fragment `[a, b)` of the IP payload of `whole` (bytes, not bound-checked against it: the
/// piece is cut from a padded copy), MF as given, identification 7.
fn piece(whole: &[u8], a: usize, b: usize, more: bool) -> Vec<u8> {
    let v4 = whole[14] >> 4 == 4;
    let hl = if v4 { 20 } else { 40 };
    let mut payload = whole[14 + hl..].to_vec();
    payload.resize(payload.len().max(b), 0xee);
    let data = &payload[a..b];
    let mut f = whole[..14 + hl].to_vec();
    let fo = (a / 8) as u16;
    if v4 {
        f[16..18].copy_from_slice(&((20 + data.len()) as u16).to_be_bytes());
        f[18..20].copy_from_slice(&7u16.to_be_bytes());
        f[20..22].copy_from_slice(&(fo | if more { 0x2000 } else { 0 }).to_be_bytes());
    } else {
        let next = f[20];
        f[20] = 44;
        f[18..20].copy_from_slice(&((8 + data.len()) as u16).to_be_bytes());
        f.extend_from_slice(&[next, 0]);
        f.extend_from_slice(&(fo << 3 | u16::from(more)).to_be_bytes());
        f.extend_from_slice(&7u32.to_be_bytes());
    }
    f.extend_from_slice(data);
    f
}

fuzz_target!(|data: &[u8]| {
    let t0 = Instant::now();
    let mut now = t0;
    let mut r = Reassembler::new(THRESH, Duration::from_secs(30));
    let lens: Vec<usize> = (0..4u8)
        .map(|k| 8 + 8 * usize::from(data.get(usize::from(k)).copied().unwrap_or(0) % 250))
        .collect();
    let origs: Vec<Vec<u8>> = (0..4u8)
        .map(|k| original(k, lens[usize::from(k)] - 8))
        .collect();
    // Per datagram: did any piece not from a valid split go in, and the largest piece sent.
    let mut tainted = [false; 4];
    let mut max_piece = [0usize; 4];
    let mut out = vec![0u8; 70_000];
    for c in data.get(4..).unwrap_or(&[]).chunks(4) {
        let [op, x, y, z] = [
            c[0],
            *c.get(1).unwrap_or(&0),
            *c.get(2).unwrap_or(&0),
            *c.get(3).unwrap_or(&0),
        ];
        let k = usize::from(op % 4);
        let whole = &origs[k];
        let plen = lens[k];
        let frame = match (op >> 2) % 4 {
            // A valid piece: [8x, 8y) of the payload clipped to it, MF unless it ends it.
            0 | 1 => {
                let a = (8 * usize::from(x)).min(plen.saturating_sub(8)) & !7;
                let b = (a + 8 * (1 + usize::from(y))).min(plen);
                piece(whole, a, b, b != plen)
            }
            // Any piece: arbitrary offset, length and MF.
            2 => {
                tainted[k] = true;
                let a = 8 * (usize::from(x) * 32 + usize::from(z));
                let b = a + usize::from(y) * 3;
                piece(whole, a, b.min(a + 1600), z & 1 != 0)
            }
            // Time passes; expiry.
            _ => {
                now += Duration::from_secs(u64::from(x % 40));
                // An expired queue hands out its first fragment as received: offset 0,
                // from the queue's source.
                r.expire_each(now, |key, first| {
                    let Some(f) = first else { return };
                    if f[14] >> 4 == 4 {
                        let src: [u8; 4] = f[26..30].try_into().unwrap();
                        assert_eq!(std::net::IpAddr::from(src), key.saddr);
                        assert_eq!(u16::from_be_bytes([f[20], f[21]]) & 0x1fff, 0);
                    } else {
                        let src: [u8; 16] = f[22..38].try_into().unwrap();
                        assert_eq!(std::net::IpAddr::from(src), key.saddr);
                        assert_eq!(f[20], 44, "the fragment header is kept");
                        assert_eq!(u16::from_be_bytes([f[56], f[57]]) >> 3, 0);
                    }
                });
                continue;
            }
        };
        let Ok(p) = lvs_fwd::parse(&frame) else {
            continue;
        };
        if p.fragment().is_none() {
            continue;
        }
        let ip_len = p.end() - p.l3_offset();
        if (op >> 2) % 4 < 2 {
            max_piece[k] = max_piece[k].max(ip_len);
        }
        match r.insert(&frame, &p, now) {
            FragInsert::Held => {}
            FragInsert::Dropped if (op >> 2) % 4 < 2 => {
                // A valid piece is dropped only with its queue (or when no queue could be
                // made): start over for this datagram.
                tainted[k] = false;
                max_piece[k] = 0;
            }
            FragInsert::Dropped => {}
            FragInsert::Complete(key) => {
                let got = r
                    .take(&key, &mut out)
                    .expect("a completed datagram is written");
                if !tainted[k] {
                    let mut want = whole.clone();
                    if k % 2 == 0 {
                        // Identification 7, DF off, header checksum recomputed.
                        want[18..22].copy_from_slice(&[0, 7, 0, 0]);
                        let (mut h, _) = etherparse::Ipv4Header::from_slice(&want[14..]).unwrap();
                        h.header_checksum = h.calc_header_checksum();
                        want[24..26].copy_from_slice(&h.header_checksum.to_be_bytes());
                    }
                    assert_eq!(&out[..got.len], &want[..], "reassembled datagram {k}");
                    // Queues evicted or expired lose pieces: the tracked maximum bounds it.
                    assert!(got.frag_max_size <= max_piece[k]);
                    // lvs-fwd's fragmenters cut it again within an MTU; a fresh reassembler
                    // puts it back.
                    let mtu = 68 + usize::from(x) * 8;
                    let mut scratch = vec![0u8; 2200];
                    let mut pieces = Vec::new();
                    let dgram = &out[..got.len];
                    let res = if k % 2 == 0 {
                        lvs_fwd::fragment_ipv4(dgram, mtu, &mut scratch, |p| {
                            pieces.push(p.to_vec())
                        })
                    } else {
                        lvs_fwd::fragment_ipv6(dgram, mtu, 9, &mut scratch, |p| {
                            pieces.push(p.to_vec())
                        })
                    };
                    if let Ok(n) = res {
                        assert_eq!(n, pieces.len());
                        let mut r2 = Reassembler::new(1 << 20, Duration::from_secs(30));
                        let mut back = None;
                        for p in &pieces {
                            assert!(p.len() - 14 <= mtu, "piece over the mtu");
                            if n == 1 {
                                assert_eq!(&p[..], dgram);
                                continue;
                            }
                            let pp = lvs_fwd::parse(p).expect("a fragment parses");
                            match r2.insert(p, &pp, now) {
                                FragInsert::Complete(kk) => {
                                    let mut o2 = vec![0u8; 70_000];
                                    let g2 = r2.take(&kk, &mut o2).expect("refragmented");
                                    back = Some(o2[..g2.len].to_vec());
                                }
                                FragInsert::Held => {}
                                FragInsert::Dropped => panic!("own fragment dropped"),
                            }
                        }
                        if n > 1 {
                            let back = back.expect("refragmented datagram completes");
                            assert_eq!(back, dgram, "refragmented and reassembled");
                        }
                    }
                }
                tainted[k] = false;
                max_piece[k] = 0;
            }
        }
        assert!(r.mem() <= THRESH, "memory bound: {}", r.mem());
    }
});
