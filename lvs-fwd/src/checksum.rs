//! Internet checksum primitives: the full RFC 1071 sum, the RFC 1624 incremental update
//! (equation 3) and the TCP/UDP/ICMPv6 pseudo-header partial sums (RFC 793 / RFC 768 for IPv4,
//! RFC 8200 section 8.1 for IPv6), plus the CRC32c (Castagnoli) checksum SCTP uses
//! (RFC 9260 appendix A, test vectors in RFC 3720 appendix B.4).
//!
//! Conventions: a "sum" is an unfolded 32-bit one's-complement accumulator; a "checksum" is the
//! folded, complemented 16-bit value as it sits in a header once written with `to_be_bytes`
//! (network byte order). These are the same rules as the kernel's `csum_partial`,
//! `csum_fold` and `csum_replace*` (include/net/checksum.h) that
//! net/netfilter/ipvs/ip_vs_proto_tcp.c (`tcp_fast_csum_update`) and ip_vs_proto_udp.c
//! (`udp_fast_csum_update`) use.

use std::net::{Ipv4Addr, Ipv6Addr};

/// Adds `data` to the one's-complement accumulator `sum` (RFC 1071 section 4.1): `data` is read
/// as 16-bit big-endian words; an odd trailing byte is padded on the right with a zero byte.
///
/// The result is an unfolded partial sum (any `u32`); feed it to [`fold`]. When a sum is built
/// from several slices, every slice but the last must have an even length (the word alignment
/// is per call). Never panics; any length is accepted.
#[inline]
#[must_use]
pub fn ones_complement_add(sum: u32, data: &[u8]) -> u32 {
    // Sum 32-bit big-endian words in 64 bits: hi * 2^16 + lo == hi + lo (mod 0xffff), so the
    // 32-bit words fold to the same one's-complement sum as the 16-bit words.
    let mut acc = u64::from(sum);
    let mut chunks = data.chunks_exact(4);
    for c in &mut chunks {
        acc += u64::from(u32::from_be_bytes([c[0], c[1], c[2], c[3]]));
    }
    let rest = chunks.remainder();
    let mut words = rest.chunks_exact(2);
    for w in &mut words {
        acc += u64::from(u16::from_be_bytes([w[0], w[1]]));
    }
    if let [last] = words.remainder() {
        acc += u64::from(*last) << 8;
    }
    // 2^32 == 1 (mod 0xffff): fold the upper half in twice (the second catches the carry).
    acc = (acc & 0xffff_ffff) + (acc >> 32);
    acc = (acc & 0xffff_ffff) + (acc >> 32);
    acc as u32
}

/// Folds the carries of a one's-complement accumulator into 16 bits (the kernel's
/// `csum_fold` without the final complement). The result is NOT complemented.
#[inline]
#[must_use]
pub fn fold(sum: u32) -> u16 {
    let s = (sum & 0xffff) + (sum >> 16);
    let s = (s & 0xffff) + (s >> 16);
    s as u16
}

/// The complemented RFC 1071 checksum of `data` (e.g. an IPv4 header with its checksum field
/// zeroed); store it with `to_be_bytes`. A region whose stored checksum is correct yields 0
/// here when checksummed including that field.
#[inline]
#[must_use]
pub fn checksum(data: &[u8]) -> u16 {
    !fold(ones_complement_add(0, data))
}

/// RFC 1624 equation 3 incremental update for one 16-bit field that changed from `old` to `new`:
/// `HC' = ~(~HC + ~m + m')`. `check` and the result are header checksums as read/written in
/// host order from the big-endian field (`u16::from_be_bytes`).
#[inline]
#[must_use]
pub fn update_u16(check: u16, old: u16, new: u16) -> u16 {
    let sum = u32::from(!check) + u32::from(!old) + u32::from(new);
    !fold(sum)
}

/// RFC 1624 equation 3 for a field of several 16-bit words (an IPv4 or IPv6 address, a port
/// pair) that changed from `old` to `new`. `old` and `new` must have the same even length and
/// the same alignment relative to the checksummed region (all header fields are 16-bit
/// aligned); a mismatch gives a wrong checksum but never a panic.
#[inline]
#[must_use]
pub fn update_bytes(check: u16, old: &[u8], new: &[u8]) -> u16 {
    let sum_new = fold(ones_complement_add(0, new));
    let sum_old = fold(ones_complement_add(0, old));
    let sum = u32::from(!check) + u32::from(!sum_old) + u32::from(sum_new);
    !fold(sum)
}

/// The unfolded partial sum of the IPv4 pseudo-header used by TCP and UDP (RFC 793 section
/// 3.1, RFC 768): source, destination, zero byte + protocol, and the L4 length in bytes.
/// Add the L4 header and payload with [`ones_complement_add`], then [`fold`] and complement.
#[inline]
#[must_use]
pub fn pseudo_header_v4(src: Ipv4Addr, dst: Ipv4Addr, proto: u8, len: u16) -> u32 {
    let s = u32::from(src);
    let d = u32::from(dst);
    (s >> 16) + (s & 0xffff) + (d >> 16) + (d & 0xffff) + u32::from(proto) + u32::from(len)
}

/// The unfolded partial sum of the IPv6 pseudo-header used by TCP, UDP and ICMPv6 (RFC 8200
/// section 8.1): source, destination, the 32-bit upper-layer length in bytes and the next
/// header value (the final upper-layer protocol, not the first extension header).
#[inline]
#[must_use]
pub fn pseudo_header_v6(src: &Ipv6Addr, dst: &Ipv6Addr, next: u8, len: u32) -> u32 {
    let mut sum = (len >> 16) + (len & 0xffff) + u32::from(next);
    for w in src.segments().iter().chain(dst.segments().iter()) {
        sum += u32::from(*w);
    }
    sum
}

/// CRC32c lookup table (Castagnoli polynomial 0x1EDC6F41, reflected 0x82F63B78), built at
/// compile time.
const CRC32C_TABLE: [[u32; 256]; 4] = {
    let mut t = [[0u32; 256]; 4];
    let mut i = 0;
    while i < 256 {
        let mut c = i as u32;
        let mut k = 0;
        while k < 8 {
            c = if c & 1 != 0 {
                (c >> 1) ^ 0x82F6_3B78
            } else {
                c >> 1
            };
            k += 1;
        }
        t[0][i] = c;
        i += 1;
    }
    let mut i = 0;
    while i < 256 {
        let mut s = 1;
        while s < 4 {
            let prev = t[s - 1][i];
            t[s][i] = (prev >> 8) ^ t[0][(prev & 0xff) as usize];
            s += 1;
        }
        i += 1;
    }
    t
};

/// Continues a CRC32c over `data` from the internal (pre-inverted) state `crc`.
#[inline]
fn crc32c_update(mut crc: u32, data: &[u8]) -> u32 {
    let mut chunks = data.chunks_exact(4);
    for c in &mut chunks {
        let x = crc ^ u32::from_le_bytes([c[0], c[1], c[2], c[3]]);
        crc = CRC32C_TABLE[3][(x & 0xff) as usize]
            ^ CRC32C_TABLE[2][((x >> 8) & 0xff) as usize]
            ^ CRC32C_TABLE[1][((x >> 16) & 0xff) as usize]
            ^ CRC32C_TABLE[0][(x >> 24) as usize];
    }
    for b in chunks.remainder() {
        crc = (crc >> 8) ^ CRC32C_TABLE[0][((crc ^ u32::from(*b)) & 0xff) as usize];
    }
    crc
}

/// CRC32c (Castagnoli, iSCSI) of `data`, table-driven (slicing by 4): initial value
/// 0xFFFFFFFF, reflected, final complement. RFC 3720 appendix B.4: 32 zero bytes give
/// 0x8A9136AA.
#[inline]
#[must_use]
pub fn crc32c(data: &[u8]) -> u32 {
    !crc32c_update(!0, data)
}

/// The SCTP common-header checksum of `packet` (an SCTP common header + chunks) as the kernel's
/// `sctp_compute_cksum` (include/net/sctp/checksum.h) computes it: CRC32c over the packet with
/// the 4-byte checksum field (offset 8) taken as zero. The value is stored in the packet in
/// little-endian byte order (`to_le_bytes`), as RFC 9260 appendix A prescribes.
/// A `packet` shorter than 12 bytes is summed as given.
#[must_use]
pub fn sctp_checksum(packet: &[u8]) -> u32 {
    match (packet.get(..8), packet.get(12..)) {
        (Some(head), Some(tail)) => {
            let crc = crc32c_update(!0, head);
            let crc = crc32c_update(crc, &[0; 4]);
            !crc32c_update(crc, tail)
        }
        _ => crc32c(packet),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use etherparse::{IpNumber, Ipv4Header, Ipv6Header, TcpHeader, UdpHeader};

    fn v4_header() -> Ipv4Header {
        let mut h =
            Ipv4Header::new(40, 64, IpNumber::TCP, [10, 0, 0, 1], [192, 168, 7, 200]).unwrap();
        h.identification = 0x1234;
        h.header_checksum = h.calc_header_checksum();
        h
    }

    #[test]
    fn checksum_of_ipv4_header_matches_etherparse() {
        let h = v4_header();
        let mut bytes = h.to_bytes().to_vec();
        bytes[10] = 0;
        bytes[11] = 0;
        assert_eq!(checksum(&bytes), h.calc_header_checksum());
        // A header with its correct checksum in place sums to 0 (RFC 1071 section 1 step 3).
        assert_eq!(checksum(&h.to_bytes()), 0);
    }

    #[test]
    fn odd_length_is_padded_with_a_zero_byte() {
        // RFC 1071 section 4.1: "Add left-over byte, if any".
        assert_eq!(
            fold(ones_complement_add(0, &[0x12, 0x34, 0x56])),
            fold(ones_complement_add(0, &[0x12, 0x34, 0x56, 0x00]))
        );
        assert_eq!(
            fold(ones_complement_add(0, &[0x12, 0x34, 0x56])),
            0x1234 + 0x5600
        );
        // RFC 1071 section 3 worked example: bytes 00 01 f2 03 f4 f5 f6 f7 sum to ddf2.
        assert_eq!(
            fold(ones_complement_add(
                0,
                &[0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7]
            )),
            0xddf2
        );
    }

    #[test]
    fn long_input_does_not_lose_carries() {
        let data = vec![0xffu8; 200_001];
        // Reference: plain 16-bit word loop in u64.
        let mut s: u64 = 0;
        for w in data.chunks(2) {
            s += u64::from(u16::from_be_bytes([w[0], *w.get(1).unwrap_or(&0)]));
        }
        while s >> 16 != 0 {
            s = (s & 0xffff) + (s >> 16);
        }
        assert_eq!(u64::from(fold(ones_complement_add(0xffff_ffff, &data))), {
            let mut t = s + 0xffff_ffff;
            while t >> 16 != 0 {
                t = (t & 0xffff) + (t >> 16);
            }
            t
        });
    }

    #[test]
    fn update_u16_equals_full_recompute_of_ipv4_header() {
        let mut h = v4_header();
        let old_check = h.header_checksum;
        let old_ttl_proto = u16::from_be_bytes([h.time_to_live, h.protocol.0]);
        h.time_to_live -= 1;
        let new_ttl_proto = u16::from_be_bytes([h.time_to_live, h.protocol.0]);
        assert_eq!(
            update_u16(old_check, old_ttl_proto, new_ttl_proto),
            h.calc_header_checksum()
        );
    }

    #[test]
    fn update_bytes_equals_full_recompute_after_address_change() {
        let mut h = v4_header();
        let old_check = h.header_checksum;
        let old = h.destination;
        h.destination = [172, 16, 0, 99];
        assert_eq!(
            update_bytes(old_check, &old, &h.destination),
            h.calc_header_checksum()
        );
    }

    #[test]
    fn tcp_pseudo_header_v4_matches_etherparse() {
        let ip = v4_header();
        let mut tcp = TcpHeader::new(40000, 80, 1, 65535);
        tcp.syn = true;
        let payload = b"hello, world!";
        let want = tcp.calc_checksum_ipv4(&ip, payload).unwrap();
        tcp.checksum = 0;
        let len = (tcp.header_len() + payload.len()) as u16;
        let mut sum = pseudo_header_v4(
            Ipv4Addr::from(ip.source),
            Ipv4Addr::from(ip.destination),
            6,
            len,
        );
        sum = ones_complement_add(sum, &tcp.to_bytes());
        sum = ones_complement_add(sum, payload);
        assert_eq!(!fold(sum), want);
    }

    #[test]
    fn udp_pseudo_header_v6_matches_etherparse() {
        let src: Ipv6Addr = "2001:db8::1".parse().unwrap();
        let dst: Ipv6Addr = "2001:db8:ffff::42".parse().unwrap();
        let payload = b"odd-length payload";
        let ip = Ipv6Header {
            traffic_class: 0,
            flow_label: Default::default(),
            payload_length: (8 + payload.len()) as u16,
            next_header: IpNumber::UDP,
            hop_limit: 64,
            source: src.octets(),
            destination: dst.octets(),
        };
        let udp = UdpHeader::with_ipv6_checksum(5353, 53, &ip, payload).unwrap();
        let mut raw = udp.to_bytes();
        raw[6] = 0;
        raw[7] = 0;
        let mut sum = pseudo_header_v6(&src, &dst, 17, (8 + payload.len()) as u32);
        sum = ones_complement_add(sum, &raw);
        sum = ones_complement_add(sum, payload);
        let mut c = !fold(sum);
        if c == 0 {
            c = 0xffff;
        }
        assert_eq!(c, udp.checksum);
    }

    #[test]
    fn crc32c_matches_rfc3720_b4_vectors() {
        // RFC 3720 appendix B.4 (CRC values shown there as they appear on the wire, i.e.
        // little-endian bytes of the u32).
        assert_eq!(crc32c(&[0u8; 32]).to_le_bytes(), [0xaa, 0x36, 0x91, 0x8a]);
        assert_eq!(
            crc32c(&[0xffu8; 32]).to_le_bytes(),
            [0x43, 0xab, 0xa8, 0x62]
        );
        let inc: Vec<u8> = (0u8..32).collect();
        assert_eq!(crc32c(&inc).to_le_bytes(), [0x4e, 0x79, 0xdd, 0x46]);
        let dec: Vec<u8> = (0u8..32).rev().collect();
        assert_eq!(crc32c(&dec).to_le_bytes(), [0x5c, 0xdb, 0x3f, 0x11]);
        // The common "123456789" check value for CRC-32C.
        assert_eq!(crc32c(b"123456789"), 0xE306_9283);
    }

    #[test]
    fn crc32c_table_agrees_with_bitwise_definition_on_odd_lengths() {
        fn bitwise(data: &[u8]) -> u32 {
            let mut c = !0u32;
            for b in data {
                c ^= u32::from(*b);
                for _ in 0..8 {
                    c = if c & 1 != 0 {
                        (c >> 1) ^ 0x82F6_3B78
                    } else {
                        c >> 1
                    };
                }
            }
            !c
        }
        let data: Vec<u8> = (0..97u32).map(|i| (i * 37 + 11) as u8).collect();
        for n in 0..data.len() {
            assert_eq!(crc32c(&data[..n]), bitwise(&data[..n]), "len {n}");
        }
    }
}
