//! RFC 1071 Internet checksum helpers (one's complement sum of 16-bit big-endian words).
#![deny(clippy::indexing_slicing)]

use std::net::IpAddr;

/// Add the 16-bit big-endian words of `data` to `acc` (an odd trailing byte is padded with
/// zero, RFC 1071 section 4.1). Never overflows for inputs below 2^48 bytes.
pub(crate) fn sum(acc: u64, data: &[u8]) -> u64 {
    // 32-bit words summed into a u64 fold to the same 16-bit one's complement sum, because
    // 2^16 = 1 (mod 0xffff) (RFC 1071 section 2 (B), "parallel summation").
    let mut s = acc;
    let mut chunks = data.chunks_exact(4);
    for c in &mut chunks {
        if let [a, b, c, d] = c {
            s += u64::from(u32::from_be_bytes([*a, *b, *c, *d]));
        }
    }
    match chunks.remainder() {
        [a, b, c] => s += u64::from(u32::from_be_bytes([*a, *b, *c, 0])),
        [a, b] => s += u64::from(u16::from_be_bytes([*a, *b])) << 16,
        [a] => s += u64::from(*a) << 24,
        _ => {}
    }
    s
}

/// Fold carries into 16 bits (the one's complement sum, not yet inverted).
pub(crate) fn fold(mut s: u64) -> u16 {
    while s > 0xffff {
        s = (s & 0xffff) + (s >> 16);
    }
    // The loop leaves s <= 0xffff.
    u16::try_from(s).unwrap_or(0xffff)
}

/// Sum of the IPv4 (RFC 768 style) or IPv6 (RFC 8200 section 8.1) pseudo-header for an upper
/// layer message of `len` bytes with protocol / next header `proto`. Mixed families give the
/// sum of the addresses only (callers check families first).
pub(crate) fn pseudo_header_sum(src: IpAddr, dst: IpAddr, proto: u8, len: usize) -> u64 {
    let mut s = 0;
    match (src, dst) {
        (IpAddr::V4(a), IpAddr::V4(b)) => {
            s = sum(s, &a.octets());
            s = sum(s, &b.octets());
        }
        (IpAddr::V6(a), IpAddr::V6(b)) => {
            s = sum(s, &a.octets());
            s = sum(s, &b.octets());
        }
        (a, b) => {
            s = sum(s, &ip_bytes(a));
            s = sum(s, &ip_bytes(b));
        }
    }
    s + u64::from(proto) + (len as u64 & 0xffff) + ((len as u64) >> 16)
}

fn ip_bytes(a: IpAddr) -> [u8; 16] {
    match a {
        IpAddr::V4(v) => v.to_ipv6_mapped().octets(),
        IpAddr::V6(v) => v.octets(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 1071 section 4.1's reference loop: 16-bit words, odd byte padded.
    fn naive(data: &[u8]) -> u16 {
        let mut s: u64 = 0;
        for w in data.chunks(2) {
            s += u64::from(w[0]) << 8 | u64::from(*w.get(1).unwrap_or(&0));
        }
        while s > 0xffff {
            s = (s & 0xffff) + (s >> 16);
        }
        s as u16
    }

    #[test]
    fn wide_sum_equals_rfc1071_reference_for_every_length() {
        let data: Vec<u8> = (0..300u32)
            .map(|i| (i.wrapping_mul(151) ^ 0xa5) as u8)
            .collect();
        for len in 0..data.len() {
            assert_eq!(fold(sum(0, &data[..len])), naive(&data[..len]), "len {len}");
        }
        let ff = [0xffu8; 301];
        for len in 0..ff.len() {
            assert_eq!(
                fold(sum(0, &ff[..len])),
                naive(&ff[..len]),
                "0xff len {len}"
            );
        }
    }
}
