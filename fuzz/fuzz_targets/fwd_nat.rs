//! NAT in and out on arbitrary frames (made checksum-valid first): a successful rewrite
//! carries the new address and port and checksums that verify (own full recompute and
//! etherparse); a refused or expired one leaves the frame untouched.
#![no_main]

use libfuzzer_sys::fuzz_target;
use lvs_fwd::Outcome;

#[path = "fwd_check/mod.rs"]
mod fwd_check;

fuzz_target!(|data: &[u8]| {
    let Some((c, mut f)) = fwd_check::split(data, 19) else {
        return;
    };
    let Some(p) = fwd_check::prepare(&mut f) else {
        return;
    };
    let a = fwd_check::addr(&p, c);
    let port = u16::from_be_bytes([c[16], c[17]]);
    let before = f.clone();
    let r = if c[18] & 1 == 0 {
        lvs_fwd::nat_in(&mut f, &p, a, port)
    } else {
        lvs_fwd::nat_out(&mut f, &p, a, port)
    };
    match r {
        Ok(Outcome::Forward) => {
            fwd_check::assert_valid(&f);
            let q = lvs_fwd::parse(&f).unwrap();
            let (s, d) = q.ports().unwrap();
            if c[18] & 1 == 0 {
                assert_eq!((q.dst(), d), (a, port));
            } else {
                assert_eq!((q.src(), s), (a, port));
            }
            assert_eq!(q.hop_limit(), p.hop_limit() - 1);
        }
        _ => assert_eq!(f, before),
    }
});
