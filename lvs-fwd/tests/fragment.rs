//! `fragment_ipv4` against RFC 791 section 3.2 and net/ipv4/ip_output.c `ip_do_fragment`:
//! every fragment's IP packet fits the MTU, non-last fragments carry multiples of 8 data
//! bytes, offsets and MF are consistent, the first fragment keeps every option and later ones
//! only the copied ones (others turned to NOP, `ip_options_fragment`), header checksums are
//! valid (etherparse recompute), and the data put back together is the original.

use etherparse::{IpNumber, Ipv4Header, Ipv4Options, PacketBuilder};
use lvs_fwd::{FwdError, fragment_ipv4};

/// An Ethernet + IPv4 + UDP frame with `n` payload bytes and the given IPv4 options / DF.
fn udp_frame(n: usize, options: &[u8], df: bool) -> Vec<u8> {
    let payload: Vec<u8> = (0..n).map(|i| (i * 13 + i / 200) as u8).collect();
    let mut udp = Vec::new();
    PacketBuilder::ipv4([192, 0, 2, 1], [10, 1, 0, 1], 63)
        .udp(40000, 53)
        .write(&mut udp, &payload)
        .unwrap();
    let l4 = udp[20..].to_vec();
    let mut h = Ipv4Header::new(0, 63, IpNumber::UDP, [192, 0, 2, 1], [10, 1, 0, 1]).unwrap();
    h.options = Ipv4Options::try_from(options).unwrap();
    h.identification = 0x1234;
    h.dont_fragment = df;
    h.set_payload_len(l4.len()).unwrap();
    h.header_checksum = h.calc_header_checksum();
    let mut f = vec![2, 0, 0, 0, 0, 2, 2, 0, 0, 0, 0, 1, 8, 0];
    h.write(&mut f).unwrap();
    f.extend_from_slice(&l4);
    f
}

/// Fragment `frame` at `mtu`, check each piece and return (headers, data pieces).
fn split(frame: &[u8], mtu: usize) -> Vec<(Ipv4Header, Vec<u8>)> {
    let mut scratch = vec![0u8; 2000];
    let mut got = Vec::new();
    let n = fragment_ipv4(frame, mtu, &mut scratch, |f| {
        assert_eq!(&f[..14], &frame[..14], "link header copied");
        let (h, rest) = Ipv4Header::from_slice(&f[14..]).unwrap();
        assert_eq!(
            h.calc_header_checksum(),
            h.header_checksum,
            "header checksum"
        );
        assert!(usize::from(h.total_len) <= mtu, "fits the mtu");
        assert_eq!(f.len(), 14 + usize::from(h.total_len));
        got.push((h, rest.to_vec()));
    })
    .unwrap();
    assert_eq!(n, got.len());
    got
}

#[test]
fn udp_datagram_is_cut_into_eight_byte_aligned_fragments_that_put_back_the_original() {
    let frame = udp_frame(3000, &[], false);
    let pieces = split(&frame, 1500);
    // (1500 - 20) & !7 = 1480 data bytes per fragment: 1480 + 1480 + 48.
    assert_eq!(
        pieces.iter().map(|p| p.1.len()).collect::<Vec<_>>(),
        [1480, 1480, 48]
    );
    let mut data = Vec::new();
    for (i, (h, d)) in pieces.iter().enumerate() {
        assert_eq!(usize::from(h.fragment_offset.value()) * 8, data.len());
        assert_eq!(h.more_fragments, i + 1 < pieces.len(), "MF");
        assert_eq!(h.identification, 0x1234);
        assert!(!h.dont_fragment);
        data.extend_from_slice(d);
    }
    assert_eq!(&data[..], &frame[34..]);
}

#[test]
fn later_fragments_keep_only_copied_options_as_ip_options_fragment() {
    // Router alert (0x94, copied) and record route (0x07, not copied), then EOL padding.
    let opts = [0x94, 4, 0, 0, 0x07, 7, 4, 0, 0, 0, 0, 0];
    let frame = udp_frame(1000, &opts, false);
    let pieces = split(&frame, 576);
    assert!(pieces.len() >= 2);
    // (576 - 32) & !7 = 544.
    assert_eq!(pieces[0].1.len(), 544);
    assert_eq!(pieces[0].0.options.as_slice(), &opts[..], "first keeps all");
    for (h, _) in &pieces[1..] {
        assert_eq!(
            h.options.as_slice(),
            &[0x94, 4, 0, 0, 1, 1, 1, 1, 1, 1, 1, 0][..],
            "later: record route turned to NOP"
        );
    }
    let data: Vec<u8> = pieces.iter().flat_map(|p| p.1.clone()).collect();
    assert_eq!(&data[..], &frame[14 + 32..]);
}

#[test]
fn fitting_packet_is_handed_over_unchanged_and_df_over_the_mtu_is_refused() {
    let frame = udp_frame(1000, &[], true);
    let mut scratch = vec![0u8; 2000];
    let mut seen = Vec::new();
    assert_eq!(
        fragment_ipv4(&frame, 1500, &mut scratch, |f| seen.push(f.to_vec())),
        Ok(1)
    );
    assert_eq!(seen.len(), 1);
    assert_eq!(seen[0], frame);
    let mut calls = 0;
    assert_eq!(
        fragment_ipv4(&frame, 576, &mut scratch, |_| calls += 1),
        Err(FwdError::DontFragment)
    );
    assert_eq!(calls, 0);
}

#[test]
fn small_scratch_or_tiny_mtu_is_an_error_not_a_panic() {
    let frame = udp_frame(3000, &[], false);
    let mut small = vec![0u8; 100];
    assert!(matches!(
        fragment_ipv4(&frame, 1500, &mut small, |_| {}),
        Err(FwdError::NoHeadroom { .. })
    ));
    let mut scratch = vec![0u8; 2000];
    assert!(fragment_ipv4(&frame, 27, &mut scratch, |_| {}).is_err());
    assert!(fragment_ipv4(&frame[..40], 1500, &mut scratch, |_| {}).is_err());
}

/// An Ethernet + IPv6 + UDP frame with `n` payload bytes.
fn udp6_frame(n: usize) -> Vec<u8> {
    let payload: Vec<u8> = (0..n).map(|i| (i * 31 + i / 100) as u8).collect();
    let mut f = Vec::new();
    PacketBuilder::ethernet2([2, 0, 0, 0, 0, 1], [2, 0, 0, 0, 0, 2])
        .ipv6(
            [0x20, 1, 0xd, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1],
            [0xfe; 16],
            63,
        )
        .udp(40000, 53)
        .write(&mut f, &payload)
        .unwrap();
    f
}

#[test]
fn ipv6_packet_is_cut_with_a_fragment_header_per_rfc_8200() {
    let frame = udp6_frame(3000);
    let mut scratch = vec![0u8; 2000];
    let mut data = Vec::new();
    let mut count = 0;
    let n = lvs_fwd::fragment_ipv6(&frame, 1280, 0xabcd_0123, &mut scratch, |f| {
        assert!(f.len() - 14 <= 1280, "fits the mtu");
        let (h, rest) = etherparse::Ipv6Header::from_slice(&f[14..]).unwrap();
        assert_eq!(h.next_header, IpNumber::IPV6_FRAGMENTATION_HEADER);
        assert_eq!(usize::from(h.payload_length), f.len() - 14 - 40);
        let (fh, d) = etherparse::Ipv6FragmentHeader::from_slice(rest).unwrap();
        assert_eq!(fh.next_header, IpNumber::UDP);
        assert_eq!(fh.identification, 0xabcd_0123);
        assert_eq!(usize::from(fh.fragment_offset.value()) * 8, data.len());
        // (1280 - 40 - 8) & !7 = 1232 per non-last fragment.
        if fh.more_fragments {
            assert_eq!(d.len(), 1232);
        }
        data.extend_from_slice(d);
        count += 1;
    })
    .unwrap();
    assert_eq!((n, count), (3, 3));
    assert_eq!(&data[..], &frame[14 + 40..]);
}
