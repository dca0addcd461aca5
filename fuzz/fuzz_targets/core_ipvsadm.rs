//! Arbitrary text into the ipvsadm rule / restore parser: must never panic; whatever parses
//! prints back (Display) to an equal command, whatever applies must save (`-S`) and restore
//! (`-R`) to the same configuration, and every list format must print without panicking.
//!
//! Input with an odd first byte is raw text; with an even one, each following byte picks a
//! word from an ipvsadm vocabulary, so the fuzzer reaches valid rule streams quickly.
#![no_main]

use libfuzzer_sys::fuzz_target;
use lvs_core::ipvsadm::{ListOptions, ListSnapshot, list, parse_restore, parse_rule, save};
use lvs_core::service::IpvsConfig;

const WORDS: &[&str] = &[
    "\n-A", "\n-a", "\n-E", "\n-e", "\n-d", "\n-D", "\n-C", "\n-Z", "\n--set", "-t", "-u",
    "--sctp-service", "-f", "-6", "-s", "rr", "wlc", "sh", "mh", "-p", "60", "-M",
    "255.255.255.0", "64", "-r", "10.0.0.1:80", "10.0.0.1", "10.0.0.2:8080", "192.168.0.1:0",
    "[2001:db8::1]:80", "2001:db8::2", "[::1.2.3.4]:0", "-g", "-m", "-i", "--fullnat",
    "--laddr", "1.2.3.4", "-w", "0", "65535", "-x", "-y", "5", "7", "--tun-type", "gue", "gre",
    "ipip", "--tun-port", "--tun-csum", "--tun-remcsum", "--tun-nocsum", "-b",
    "sh-port,sh-fallback", "flag-3", "mh-port", "--pe", "sip", "-o", "#", "'", "\"",
];

fuzz_target!(|data: &[u8]| {
    let text = match data.split_first() {
        Some((first, rest)) if first % 2 == 0 => rest
            .iter()
            .map(|b| WORDS.get(usize::from(*b) % WORDS.len()).copied().unwrap_or(""))
            .collect::<Vec<_>>()
            .join(" ")
            .into(),
        _ => String::from_utf8_lossy(data),
    };
    let _ = parse_rule(&text);
    let Ok(cmds) = parse_restore(&text) else {
        return;
    };
    let mut cfg = IpvsConfig::new();
    for cmd in &cmds {
        // Display prints a rule that parses back to the same command.
        let line = cmd.to_string();
        assert_eq!(parse_rule(&line).as_ref(), Ok(cmd), "{line}");
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
