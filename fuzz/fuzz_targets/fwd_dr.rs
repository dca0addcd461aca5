//! DR and the TTL decrement on arbitrary frames (made checksum-valid first): only the MACs and
//! the TTL / hop limit change, checksums still verify (own and etherparse).
#![no_main]

use libfuzzer_sys::fuzz_target;
use lvs_fwd::Outcome;

#[path = "fwd_check/mod.rs"]
mod fwd_check;

fuzz_target!(|data: &[u8]| {
    let Some((c, mut f)) = fwd_check::split(data, 12) else {
        return;
    };
    let Some(p) = fwd_check::prepare(&mut f) else {
        return;
    };
    let rs: [u8; 6] = c[..6].try_into().unwrap();
    let dir: [u8; 6] = c[6..12].try_into().unwrap();
    let before = f.clone();
    match lvs_fwd::dr(&mut f, &p, rs, dir) {
        Ok(Outcome::Forward) => {
            fwd_check::assert_valid(&f);
            assert_eq!(&f[..6], &rs);
            assert_eq!(&f[6..12], &dir);
            let q = lvs_fwd::parse(&f).unwrap();
            assert_eq!((q.src(), q.dst(), q.ports()), (p.src(), p.dst(), p.ports()));
            assert_eq!(q.hop_limit(), p.hop_limit() - 1);
        }
        _ => assert_eq!(f, before),
    }
});
