//! The pure parts of `track_file` / `track_process` (lvs_examples::ha::track) on arbitrary
//! bytes: the track file value parser (keepalived's `strtol(buf, NULL, 0)`) never panics and
//! agrees with Rust's integer parser on plain decimal text; every status of every weight
//! maps onto lvs-vrrp tracked objects whose weights add up to it; the process matcher never
//! panics on arbitrary command lines.
#![no_main]

use libfuzzer_sys::fuzz_target;
use lvs_examples::ha::track::{
    FileStatus, ParamMatch, ProcInfo, TrackProcess, file_object_states, file_objects,
    file_status, parse_track_value, process_matches,
};

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
        Some((b, r)) => (i32::from(*b as i8) * 2, r),
        None => (0, data),
    };
    let reverse = rest.first().is_some_and(|b| b & 1 == 1);
    let status = file_status(v.unwrap_or(0), w, reverse);
    let objs = file_objects("F", w);
    let states = file_object_states(status, w);
    let mut fault = false;
    let mut sum = 0;
    for (o, up) in objs.iter().zip(&states) {
        assert!((-253..=253).contains(&o.weight));
        match o.weight {
            0 if !up => fault = true,
            x if (x > 0 && *up) || (x < 0 && !up) => sum += x,
            _ => {}
        }
    }
    match status {
        FileStatus::Fault => assert!(fault && sum == 0),
        FileStatus::Priority(s) => assert!(!fault && sum == s),
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
