//! A small multiplicative hasher for the director's configuration-keyed maps (services by
//! protocol + VIP:port, by firewall mark, the VIP / RIP / local-address sets), which every
//! packet reads once or twice.
//!
//! std's default SipHash-1-3 costs about 200 instructions for a `(u8, SocketAddr)` key;
//! this one a few multiplies. Its keys are only ever inserted by configuration (`ipvsadm`),
//! never by packets, so a packet cannot grow a collision chain: a lookup's cost is bounded
//! by what the operator configured, and HashDoS resistance buys nothing here.

use std::collections::{HashMap, HashSet};
use std::hash::{BuildHasherDefault, Hasher};

/// Multiply-rotate word hasher (the FxHash construction, 64-bit constant).
#[derive(Default, Clone, Copy)]
pub(crate) struct FastHasher(u64);

const K: u64 = 0xf135_7aea_2e62_a9c5;

impl FastHasher {
    #[inline(always)]
    fn add(&mut self, w: u64) {
        self.0 = (self.0.rotate_left(5) ^ w).wrapping_mul(K);
    }
}

impl Hasher for FastHasher {
    #[inline]
    fn finish(&self) -> u64 {
        // hashbrown takes the top 7 bits as the tag and the low bits as the bucket: fold
        // the well-mixed high half into the low half.
        self.0 ^ (self.0 >> 32)
    }
    #[inline]
    fn write(&mut self, bytes: &[u8]) {
        let mut chunks = bytes.chunks_exact(8);
        for c in &mut chunks {
            let mut w = [0u8; 8];
            w.copy_from_slice(c);
            self.add(u64::from_le_bytes(w));
        }
        let rest = chunks.remainder();
        if !rest.is_empty() {
            let mut w = [0u8; 8];
            for (d, s) in w.iter_mut().zip(rest) {
                *d = *s;
            }
            self.add(u64::from_le_bytes(w) ^ ((rest.len() as u64) << 59));
        }
    }
    #[inline]
    fn write_u8(&mut self, i: u8) {
        self.add(u64::from(i));
    }
    #[inline]
    fn write_u16(&mut self, i: u16) {
        self.add(u64::from(i));
    }
    #[inline]
    fn write_u32(&mut self, i: u32) {
        self.add(u64::from(i));
    }
    #[inline]
    fn write_u64(&mut self, i: u64) {
        self.add(i);
    }
    #[inline]
    fn write_usize(&mut self, i: usize) {
        self.add(i as u64);
    }
}

/// `HashMap` with [`FastHasher`].
pub(crate) type FastMap<K, V> = HashMap<K, V, BuildHasherDefault<FastHasher>>;
/// `HashSet` with [`FastHasher`].
pub(crate) type FastSet<K> = HashSet<K, BuildHasherDefault<FastHasher>>;

#[cfg(test)]
mod tests {
    use super::*;
    use std::hash::BuildHasher;
    use std::net::{IpAddr, SocketAddr};

    fn h<T: std::hash::Hash>(v: &T) -> u64 {
        BuildHasherDefault::<FastHasher>::default().hash_one(v)
    }

    /// Keys that differ in protocol, address, port or family hash apart (no structural
    /// collisions among the shapes a service table holds), and equal keys hash equal.
    #[test]
    fn service_keys_hash_apart() {
        let mut seen = std::collections::HashSet::new();
        for proto in [6u8, 17, 132] {
            for a in 0..64u8 {
                for port in [0u16, 80, 443, 8080] {
                    let v4: SocketAddr = (IpAddr::from([192, 168, 56, a]), port).into();
                    let v6: SocketAddr =
                        (IpAddr::from([0xfe80, 0, 0, 0, 0, 0, 0, a.into()]), port).into();
                    assert!(seen.insert(h(&(proto, v4))), "{proto} {v4}");
                    assert!(seen.insert(h(&(proto, v6))), "{proto} {v6}");
                    assert_eq!(h(&(proto, v4)), h(&(proto, v4)));
                }
            }
        }
    }

    #[test]
    fn maps_find_what_was_inserted() {
        let mut m: FastMap<(u8, SocketAddr), u32> = FastMap::default();
        for i in 0..1000u32 {
            let a: SocketAddr = (IpAddr::from(i.to_be_bytes()), (i % 7) as u16).into();
            m.insert((6, a), i);
        }
        for i in 0..1000u32 {
            let a: SocketAddr = (IpAddr::from(i.to_be_bytes()), (i % 7) as u16).into();
            assert_eq!(m.get(&(6, a)), Some(&i));
            assert_eq!(m.get(&(17, a)), None);
        }
    }
}
