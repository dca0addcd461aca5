//! FULLNAT in/out on arbitrary frames (made checksum-valid first): both endpoints replaced,
//! checksums verify (own and etherparse); refused or expired leaves the frame untouched.
#![no_main]

use libfuzzer_sys::fuzz_target;
use lvs_fwd::Outcome;

#[path = "fwd_check/mod.rs"]
mod fwd_check;

fuzz_target!(|data: &[u8]| {
    let Some((c, mut f)) = fwd_check::split(data, 37) else {
        return;
    };
    let Some(p) = fwd_check::prepare(&mut f) else {
        return;
    };
    let a = fwd_check::addr(&p, &c[..16]);
    let b = fwd_check::addr(&p, &c[16..32]);
    let pa = u16::from_be_bytes([c[32], c[33]]);
    let pb = u16::from_be_bytes([c[34], c[35]]);
    let before = f.clone();
    let r = if c[36] & 1 == 0 {
        lvs_fwd::fullnat_in(&mut f, &p, a, pa, b, pb)
    } else {
        lvs_fwd::fullnat_out(&mut f, &p, a, pa, b, pb)
    };
    match r {
        Ok(Outcome::Forward) => {
            fwd_check::assert_valid(&f);
            let q = lvs_fwd::parse(&f).unwrap();
            assert_eq!((q.src(), q.dst(), q.ports()), (a, b, Some((pa, pb))));
        }
        _ => assert_eq!(f, before),
    }
});
