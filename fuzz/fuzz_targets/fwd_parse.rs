//! Arbitrary bytes to `lvs_fwd::parse`: never panics; every offset of a successful parse lies
//! within the frame; a parsed frame whose checksums were made valid verifies with etherparse.
#![no_main]

use libfuzzer_sys::fuzz_target;

#[path = "fwd_check/mod.rs"]
mod fwd_check;

fuzz_target!(|data: &[u8]| {
    let mut f = data.to_vec();
    if let Ok(p) = lvs_fwd::parse(&f) {
        assert!(p.l3_offset() <= p.l4_offset() && p.l4_offset() <= p.end() && p.end() <= f.len());
        if let Some((s, d)) = p.ports() {
            assert!(p.end() - p.l4_offset() >= 4);
            assert_eq!(
                u16::from_be_bytes([f[p.l4_offset()], f[p.l4_offset() + 1]]),
                s
            );
            assert_eq!(
                u16::from_be_bytes([f[p.l4_offset() + 2], f[p.l4_offset() + 3]]),
                d
            );
        }
        if let Some(p) = fwd_check::prepare(&mut f) {
            fwd_check::assert_valid(&f);
            // The ICMP parser on the same view never panics either.
            let _ = lvs_fwd::parse_icmp_error(&f, &p);
        }
    }
});
