//! Arbitrary server lists and table sizes into `lvs_sched::Maglev::build`: never panics;
//! with at least one weighted server every slot names a server of weight > 0, and two builds
//! of the same list are identical (determinism).
#![no_main]

use std::net::{IpAddr, Ipv4Addr};

use libfuzzer_sys::fuzz_target;
use lvs_sched::{Maglev, MaglevServer, MaglevSize};

fuzz_target!(|data: &[u8]| {
    let Some((&sel, rest)) = data.split_first() else { return };
    let size = match sel % 4 {
        0 => MaglevSize::KERNEL[(sel >> 2) as usize % 4],
        1 => MaglevSize::new(3).unwrap(),
        2 => MaglevSize::new(7 + 2 * (sel as u32 >> 2)).unwrap_or(MaglevSize::KERNEL[0]),
        _ => MaglevSize::KERNEL[0],
    };
    let servers: Vec<MaglevServer> = rest
        .chunks_exact(7)
        .map(|c| MaglevServer {
            addr: IpAddr::V4(Ipv4Addr::new(c[0], c[1], c[2], c[3])),
            port: u16::from_le_bytes([c[4], c[5]]),
            weight: match c[6] % 4 {
                0 => 0,
                1 => (c[6] >> 2) as u32,
                2 => u32::MAX >> (c[6] >> 3),
                _ => 1,
            },
        })
        .collect();
    let Ok(t) = Maglev::build(&servers, size) else {
        assert!(servers.len() > size.get() as usize);
        return;
    };
    let any = servers.iter().any(|s| s.weight > 0);
    for &slot in t.slots() {
        if any {
            assert!(servers[slot as usize].weight > 0);
        } else {
            assert_eq!(slot, lvs_sched::EMPTY_SLOT);
        }
    }
    assert_eq!(t, Maglev::build(&servers, size).unwrap());
    let _ = t.lookup(u32::from_le_bytes([sel, sel, 0, 1]));
});
