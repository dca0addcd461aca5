//! Arbitrary text into the ipvsadm rule / restore parser: must never panic; whatever parses
//! and applies must save (`-S`) and restore (`-R`) to the same configuration, and every list
//! format must print without panicking.
#![no_main]

use libfuzzer_sys::fuzz_target;
use lvs_core::ipvsadm::{ListOptions, ListSnapshot, list, parse_restore, parse_rule, save};
use lvs_core::service::IpvsConfig;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let _ = parse_rule(&text);
    let Ok(cmds) = parse_restore(&text) else {
        return;
    };
    let mut cfg = IpvsConfig::new();
    for cmd in &cmds {
        let _ = cfg.apply(cmd);
    }
    let saved = save(&cfg.services);
    let back = parse_restore(&saved).expect("-S output must parse");
    let mut again = IpvsConfig::new();
    for cmd in &back {
        again.apply(cmd).expect("-S output must apply");
    }
    // -S sorts; compare order-free.
    let mut a = cfg.services.clone();
    let mut b = again.services.clone();
    for s in a.iter_mut().chain(b.iter_mut()) {
        s.dests.sort_by_key(|d| format!("{:?}", d.addr));
    }
    a.sort_by_key(|s| format!("{:?}", s.key));
    b.sort_by_key(|s| format!("{:?}", s.key));
    assert_eq!(a, b, "{saved}");

    let snap = ListSnapshot::from_config(&cfg);
    let byte = data.first().copied().unwrap_or(0);
    let opts = ListOptions {
        stats: byte & 1 != 0,
        rate: byte & 2 != 0,
        thresholds: byte & 4 != 0,
        persistent_conn: byte & 8 != 0,
        tun_info: byte & 16 != 0,
        exact: byte & 32 != 0,
        nosort: byte & 64 != 0,
        ..Default::default()
    };
    let _ = list(&snap, &opts);
});
