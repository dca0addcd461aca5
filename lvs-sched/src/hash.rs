//! The kernel's hash functions used by dh, sh, mh, lblc and lblcr.

use std::net::IpAddr;

/// `GOLDEN_RATIO_32` from include/linux/hash.h.
pub const GOLDEN_RATIO_32: u32 = 0x61C8_8647;

/// `hash_32(val, bits)` from include/linux/hash.h: `(val * GOLDEN_RATIO_32) >> (32 - bits)`
/// in wrapping 32-bit arithmetic, i.e. the top `bits` bits of the product. `bits` is
/// 1 ..= 32; 0 returns 0 (the kernel never calls it with 0).
#[inline]
pub fn hash_32(val: u32, bits: u32) -> u32 {
    let prod = val.wrapping_mul(GOLDEN_RATIO_32);
    match bits {
        0 => 0,
        1..=31 => prod >> (32 - bits),
        _ => prod,
    }
}

/// The address fold every IPVS hashing scheduler applies before hashing, in host byte order
/// (`ntohl(addr_fold)`): an IPv4 address as its 32-bit value; an IPv6 address as the XOR of
/// its four 32-bit words (`addr->ip6[0] ^ addr->ip6[1] ^ addr->ip6[2] ^ addr->ip6[3]` in
/// ip_vs_dh.c, ip_vs_sh.c, ip_vs_mh.c, ip_vs_lblc.c, ip_vs_lblcr.c).
#[inline]
pub fn addr_fold(addr: IpAddr) -> u32 {
    match addr {
        IpAddr::V4(a) => u32::from(a),
        IpAddr::V6(a) => {
            let o = a.octets();
            let mut x = 0u32;
            for w in o.chunks_exact(4) {
                x ^= u32::from_be_bytes([w[0], w[1], w[2], w[3]]);
            }
            x
        }
    }
}

/// A 128-bit `hsiphash_key_t` on 64-bit kernels: two u64 words.
pub type HsipKey = [u64; 2];

/// The first mh key (`generate_hash_secret()` in ip_vs_mh.c): {2654435761, 2654435761}.
pub const MH_KEY1: HsipKey = [2_654_435_761, 2_654_435_761];
/// The second mh key: {2654446892, 2654446892}.
pub const MH_KEY2: HsipKey = [2_654_446_892, 2_654_446_892];

#[inline(always)]
fn sipround(v: &mut [u64; 4]) {
    v[0] = v[0].wrapping_add(v[1]);
    v[1] = v[1].rotate_left(13);
    v[1] ^= v[0];
    v[0] = v[0].rotate_left(32);
    v[2] = v[2].wrapping_add(v[3]);
    v[3] = v[3].rotate_left(16);
    v[3] ^= v[2];
    v[0] = v[0].wrapping_add(v[3]);
    v[3] = v[3].rotate_left(21);
    v[3] ^= v[0];
    v[2] = v[2].wrapping_add(v[1]);
    v[1] = v[1].rotate_left(17);
    v[1] ^= v[2];
    v[2] = v[2].rotate_left(32);
}

/// `hsiphash(&v, sizeof(u32), key)` as a 64-bit little-endian kernel computes it
/// (lib/siphash.c: on 64-bit builds "HalfSipHash1-3" is SipHash-1-3): SipHash with one
/// compression round and three finalization rounds over the 4-byte little-endian message
/// `v`, the 64-bit result truncated to its low 32 bits.
#[inline]
pub fn hsiphash_u32(v: u32, key: &HsipKey) -> u32 {
    let mut s = [
        0x736f_6d65_7073_6575 ^ key[0],
        0x646f_7261_6e64_6f6d ^ key[1],
        0x6c79_6765_6e65_7261 ^ key[0],
        0x7465_6462_7974_6573 ^ key[1],
    ];
    let b: u64 = (4u64 << 56) | v as u64;
    s[3] ^= b;
    sipround(&mut s);
    s[0] ^= b;
    s[2] ^= 0xff;
    sipround(&mut s);
    sipround(&mut s);
    sipround(&mut s);
    (s[0] ^ s[1] ^ s[2] ^ s[3]) as u32
}

/// `ip_vs_mh_hashkey()` (ip_vs_mh.c): `hsiphash(offset + port + ntohl(addr_fold))` with
/// 32-bit wrapping addition. `port` in host byte order (0 unless the mh-port flag is set).
#[inline]
pub fn mh_hashkey(addr: IpAddr, port: u16, key: &HsipKey, offset: u32) -> u32 {
    let v = offset
        .wrapping_add(port as u32)
        .wrapping_add(addr_fold(addr));
    hsiphash_u32(v, key)
}
