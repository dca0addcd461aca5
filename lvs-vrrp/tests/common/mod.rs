//! Helpers shared by the integration tests: an independent RFC 1071 checksum and a minimal
//! pcap reader (classic libpcap format, either byte order).
#![allow(dead_code, unreachable_pub)]

/// RFC 1071 one's complement sum of `parts` concatenated, folded and inverted. Written from the
/// RFC independently of the crate's own implementation.
pub fn inet_checksum(parts: &[&[u8]]) -> u16 {
    let mut all = Vec::new();
    for p in parts {
        all.extend_from_slice(p);
    }
    if all.len() % 2 == 1 {
        all.push(0);
    }
    let mut s: u32 = 0;
    for w in all.chunks(2) {
        s += u32::from(w[0]) << 8 | u32::from(w[1]);
    }
    while s >> 16 != 0 {
        s = (s & 0xffff) + (s >> 16);
    }
    !(s as u16)
}

/// Frames of a classic pcap file (magic a1b2c3d4 in either byte order), link type returned too.
pub fn read_pcap(bytes: &[u8]) -> (u32, Vec<Vec<u8>>) {
    let magic = u32::from_le_bytes(bytes[0..4].try_into().unwrap());
    let le = match magic {
        0xa1b2_c3d4 => true,
        0xd4c3_b2a1 => false,
        m => panic!("not a classic pcap file: magic {m:#x}"),
    };
    let rd = |b: &[u8]| {
        let a: [u8; 4] = b.try_into().unwrap();
        if le { u32::from_le_bytes(a) } else { u32::from_be_bytes(a) }
    };
    let linktype = rd(&bytes[20..24]);
    let mut off = 24;
    let mut frames = Vec::new();
    while off + 16 <= bytes.len() {
        let incl = rd(&bytes[off + 8..off + 12]) as usize;
        off += 16;
        frames.push(bytes[off..off + incl].to_vec());
        off += incl;
    }
    assert_eq!(off, bytes.len(), "trailing bytes in pcap");
    (linktype, frames)
}
