//! Arbitrary text into the keepalived.conf parser: must never panic; whatever parses must give
//! ipvsadm commands that print as rules parsing back equal, and a `-S` text that restores
//! (`-R`) to the same table; the health state machines built from it must run without
//! panicking.
//!
//! Input with an odd first byte is raw text; with an even one, each following byte picks a
//! word from a keepalived.conf vocabulary, so the fuzzer reaches valid blocks quickly.
#![no_main]

use std::time::{Duration, Instant};

use libfuzzer_sys::fuzz_target;
use lvs_core::ipvsadm::{parse_restore, parse_rule, save};
use lvs_core::service::IpvsConfig;
use lvs_examples::health::{ProbeResult, VirtualServerHealth};
use lvs_examples::keepalived::parse_str;

#[rustfmt::skip]
const WORDS: &[&str] = &[
    "\n", "{", "}", "\n}", "{\n", "#", "!", "\"", "global_defs", "router_id", "x",
    "vrrp_version", "3", "2", "lvs_sync_daemon", "eth0", "VI_1", "id", "vrrp_script", "script",
    "interval", "weight", "-20", "vrrp_instance", "state", "MASTER", "BACKUP", "interface",
    "virtual_router_id", "51", "priority", "100", "advert_int", "1", "nopreempt",
    "authentication", "auth_type", "PASS", "auth_pass", "virtual_ipaddress", "10.0.0.1/24",
    "dev", "label", "unicast_peer", "track_script", "track_interface", "virtual_server",
    "10.0.0.100", "80", "0", "fwmark", "group", "virtual_server_group", "10.0.0.1-3",
    "local_address_group", "laddr_group_name", "laddr", "delay_loop", "6", "lb_algo", "rr",
    "wrr", "sh", "mh", "lb_kind", "NAT", "DR", "TUN", "FNAT", "tun_type", "gue", "gre",
    "tun_port", "tun_flags", "csum", "remcsum", "persistence_timeout", "persistence_granularity",
    "255.255.255.0", "64", "protocol", "TCP", "UDP", "SCTP", "ops", "sh-port", "mh-fallback",
    "quorum", "hysteresis", "sorry_server", "sorry_server_inhibit", "alpha", "omega",
    "real_server", "10.0.0.11", "8080", "2001:db8::1", "inhibit_on_failure", "uthreshold",
    "lthreshold", "TCP_CHECK", "HTTP_GET", "SSL_GET", "MISC_CHECK", "misc_path", "misc_dynamic",
    "url", "path", "/", "digest", "900150983cd24fb0d6963f7d28e17f72", "status_code", "200-299",
    "connect_timeout", "3", "retry", "nb_get_retry", "delay_before_retry", "connect_port",
    "include", "65536", "-1", "0.5", "persistence_engine", "sip", "inhibit_on_failure",
    "vrrp_track_file", "track_file", "file", "/nonexistent/lvs-fuzz-tf", "init_file",
    "overwrite", "reverse", "noreverse", "vrrp_track_process", "track_process", "process",
    "param_match", "partial", "initial", "exact", "quorum", "quorum_max", "fork_delay",
    "terminate_delay", "delay", "full_command", "254", "-254", "0.5",
];

fuzz_target!(|data: &[u8]| {
    let text = match data.split_first() {
        Some((first, rest)) if first % 2 == 0 => rest
            .iter()
            .map(|b| {
                WORDS
                    .get(usize::from(*b) % WORDS.len())
                    .copied()
                    .unwrap_or("")
            })
            .collect::<Vec<_>>()
            .join(" ")
            .into(),
        _ => String::from_utf8_lossy(data),
    };
    let Ok(cfg) = parse_str(&text) else {
        return;
    };
    let mut table = IpvsConfig::new();
    for cmd in cfg.commands() {
        let line = cmd.to_string();
        assert_eq!(parse_rule(&line).as_ref(), Ok(&cmd), "{line}");
        let _ = table.apply(&cmd);
    }
    let rules = cfg.rules();
    assert_eq!(rules, save(&table.services));
    let mut again = IpvsConfig::new();
    for cmd in parse_restore(&rules).expect("-S output must parse") {
        again.apply(&cmd).expect("-S output must apply");
    }
    assert_eq!(save(&again.services), rules);
    // Drive each virtual server's health a few rounds, failing every other probe.
    let t0 = Instant::now();
    for vs in &cfg.virtual_servers {
        let mut h = VirtualServerHealth::new(vs, t0);
        let mut now = t0;
        for round in 0..8u32 {
            while let Some((id, _)) = h.poll_probe(now) {
                let r = if round % 2 == 0 {
                    ProbeResult::Failure
                } else {
                    ProbeResult::Success
                };
                h.on_probe_result(now + Duration::from_secs(1), id, r);
            }
            while let Some(e) = h.poll_event() {
                let _ = e.command().to_string();
            }
            match h.poll_timeout() {
                Some(t) => now = t.max(now + Duration::from_secs(1)),
                None => break,
            }
        }
    }
});
