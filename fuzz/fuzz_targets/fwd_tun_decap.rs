//! Arbitrary bytes into lvs-fwd tunnel decapsulation (every kind: IPIP, GUE on a port taken from
//! the input, GRE) and into the tunnel-ICMP parser: must never panic; a success must point at an
//! inner packet inside the buffer whose own length field matches and whose fixed header etherparse parses.
#![no_main]

use libfuzzer_sys::fuzz_target;
use lvs_fwd::tun::{DecapConfig, decapsulate, parse_tunnel_icmp};

fuzz_target!(|data: &[u8]| {
    let Some((port, pkt)) = data.split_first_chunk::<2>() else {
        return;
    };
    let port = u16::from_be_bytes(*port);
    for gue_port in [None, Some(port), Some(6080)] {
        let mut buf = pkt.to_vec();
        let before = buf.clone();
        match decapsulate(&mut buf, &DecapConfig { gue_port }) {
            Ok(d) => {
                assert!(d.inner.end <= buf.len() && d.inner.start <= d.inner.end);
                let inner = &buf[d.inner.clone()];
                if d.inner_v6 {
                    let (h, _) = etherparse::Ipv6Header::from_slice(inner).unwrap();
                    assert_eq!(usize::from(h.payload_length) + 40, inner.len());
                } else {
                    let (h, _) = etherparse::Ipv4Header::from_slice(inner).unwrap();
                    assert_eq!(usize::from(h.total_len), inner.len());
                    // Decapsulation may rewrite the inner TOS (RFC 6040 ECN) with an incremental
                    // checksum update, so a valid inner checksum stays valid; it does not check
                    // (the kernel's ip_rcv does, after decapsulation), so only a checksum valid on
                    // input must be valid on output. 0x0000 and 0xFFFF are both zero in one's
                    // complement (RFC 1071); an incremental update may leave either.
                    let ok = |c: u16, w: u16| {
                        c == w || (c == 0xFFFF && w == 0) || (c == 0 && w == 0xFFFF)
                    };
                    let (b, _) =
                        etherparse::Ipv4Header::from_slice(&before[d.inner.clone()]).unwrap();
                    if ok(b.header_checksum, b.calc_header_checksum()) {
                        assert!(ok(h.header_checksum, h.calc_header_checksum()));
                    }
                }
            }
            Err(_) => assert_eq!(buf, before, "an error leaves the buffer unchanged"),
        }
        let _ = parse_tunnel_icmp(pkt, gue_port);
    }
});
