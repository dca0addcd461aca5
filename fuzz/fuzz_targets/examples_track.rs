//! The pure parts of `track_file` / `track_process` (lvs_examples::ha::track) on arbitrary
//! bytes: the track file value parser (keepalived's `strtol(buf, NULL, 0)`) never panics and
//! agrees with Rust's integer parser on plain decimal text; the value read, handed to an
//! lvs-vrrp track_file object of any weight, gives keepalived's priority or FAULT (the rule
//! restated here in i128); the process matcher never panics on arbitrary command lines.
#![no_main]

use libfuzzer_sys::fuzz_target;
use std::net::{IpAddr, Ipv4Addr};

use lvs_examples::ha::track::{ParamMatch, ProcInfo, TrackProcess, parse_track_value, process_matches};
use lvs_vrrp::{State, TrackFileWeight, VrrpConfig, VrrpInstance};

fuzz_target!(|data: &[u8]| {
    let v = parse_track_value(data);
    if let Ok(s) = std::str::from_utf8(data)
        && !s.is_empty()
        && s.len() < 127
        && s.bytes().all(|b| b.is_ascii_digit())
        && !s.starts_with('0')
        && let Ok(n) = s.parse::<i32>()
    {
        assert_eq!(v, Some(i64::from(n)));
    }
    let (w, rest) = match data.split_first() {
        Some((b, r)) => ((i32::from(*b as i8) * 2).clamp(-254, 254), r),
        None => (0, data),
    };
    let reverse = rest.first().is_some_and(|b| b & 1 == 1);
    let value = v.unwrap_or(0);
    // keepalived 2.2 track_file.c: weight 0 -> FAULT iff (value != 0) != reverse; otherwise
    // status = value * weight * (reverse ? -1 : 1), <= -254 is FAULT, > 253 counts as 253;
    // vrrp_set_effective_priority() clamps base + status to 1..=254.
    let prod = i128::from(value) * i128::from(w) * if reverse { -1 } else { 1 };
    let fault = if w == 0 { (value != 0) != reverse } else { prod <= -254 };
    let cfg = VrrpConfig {
        interface_addr: IpAddr::V4(Ipv4Addr::new(10, 0, 0, 9)),
        virtual_router_id: 51,
        virtual_ipaddress: vec![IpAddr::V4(Ipv4Addr::new(10, 0, 0, 100))],
        track_file: vec![TrackFileWeight { name: "F".into(), weight: w, reverse, value: 0 }],
        ..VrrpConfig::default()
    };
    let mut vr = VrrpInstance::new(cfg, 0).expect("valid config");
    vr.set_track_value(1, 0, value);
    assert_eq!(vr.state() == State::Fault, fault, "w {w} reverse {reverse} value {value}");
    if !fault {
        let contrib = if w == 0 { 0 } else { prod.min(253) };
        assert_eq!(i128::from(vr.effective_priority()), (100 + contrib).clamp(1, 254));
    }
    let mut def = TrackProcess::new("P", "p");
    def.full_command = reverse;
    def.params = vec!["a".into(), "b".into()];
    for m in [ParamMatch::None, ParamMatch::Exact, ParamMatch::Partial, ParamMatch::Initial] {
        def.param_match = m;
        let p = ProcInfo {
            pid: 1,
            ppid: 0,
            comm: String::from_utf8_lossy(rest).into_owned(),
            cmdline: rest.to_vec(),
        };
        let _ = process_matches(&def, &p);
    }
});
