//! The `vrrp_track_file` / `track_file` and `vrrp_track_process` blocks and the instances'
//! `track_file { }` / `track_process { }` entries, against keepalived 2.2's parsers
//! (keepalived/trackers/track_file.c track_file_*_handler(), keepalived/vrrp/vrrp_parser.c
//! vrrp_tprocess_*_handler(), keepalived/vrrp/vrrp_data.c alloc_vrrp_process() defaults).

use std::path::PathBuf;
use std::time::Duration;

use lvs_examples::ha::track::{ParamMatch, TrackFile, TrackFileInit, TrackProcess};
use lvs_examples::keepalived::{ErrorKind, KeepalivedConfig, TrackRef, parse_str};

fn ok(text: &str) -> KeepalivedConfig {
    parse_str(text).unwrap_or_else(|e| panic!("{e}"))
}

fn err(text: &str) -> (usize, String, ErrorKind) {
    let e = parse_str(text).expect_err("must not parse");
    (e.line, e.to_string(), e.kind)
}

#[test]
fn track_file_block_defaults_are_keepalived_s_weight_1_no_reverse_no_init() {
    // track_file_handler(): cur_track_file->weight = 1.
    let c = ok("vrrp_track_file TF {\n file /run/tf\n}\n");
    assert_eq!(c.track_files, vec![TrackFile::new("TF", "/run/tf")]);
    assert_eq!(c.track_files[0].weight, 1);
}

#[test]
fn track_file_block_reads_every_option_and_both_spellings() {
    let c = ok(r#"
vrrp_track_file A {
    file /run/a
    weight -20 reverse
    init_file 5 overwrite
}
track_file B {
    file "/run/b c"
    init_file
}
track_file C {
    file /run/c
    init_file overwrite -3
}
"#);
    assert_eq!(
        c.track_files[0],
        TrackFile {
            name: "A".into(),
            path: PathBuf::from("/run/a"),
            weight: -20,
            reverse: true,
            init: Some(TrackFileInit {
                value: 5,
                overwrite: true
            }),
        }
    );
    assert_eq!(c.track_files[1].path, PathBuf::from("/run/b c"));
    // init_file without a value writes 0, only when the file is missing.
    assert_eq!(c.track_files[1].init, Some(TrackFileInit::default()));
    assert_eq!(
        c.track_files[2].init,
        Some(TrackFileInit {
            value: -3,
            overwrite: true
        })
    );
    assert!(c.warnings.is_empty(), "{:?}", c.warnings);
}

#[test]
fn track_file_errors_name_the_line() {
    // "No file set for track_file %s".
    let (line, msg, _) = err("\nvrrp_track_file T {\n weight 2\n}\n");
    assert_eq!(line, 2);
    assert!(msg.contains("no file set for track_file T"), "{msg}");
    // Weight range [-254..254].
    let (line, msg, kind) = err("vrrp_track_file T {\n file /x\n weight 255\n}\n");
    assert_eq!(line, 3);
    assert!(msg.contains("vrrp_track_file T: weight"), "{msg}");
    assert!(matches!(
        kind,
        ErrorKind::OutOfRange {
            min: -254,
            max: 254,
            ..
        }
    ));
    let (line, _, kind) = err("vrrp_track_file T {\n file /x\n weight 2 sideways\n}\n");
    assert_eq!(line, 3);
    assert!(matches!(kind, ErrorKind::BadValue { .. }), "{kind:?}");
    let (line, _, kind) = err("vrrp_track_file T {\n file /x\n weight x\n}\n");
    assert_eq!(line, 3);
    assert!(matches!(kind, ErrorKind::NotANumber(_)));
    // "Unknown track file init option %s".
    let (line, _, kind) = err("vrrp_track_file T {\n file /x\n init_file always\n}\n");
    assert_eq!(line, 3);
    assert!(matches!(kind, ErrorKind::BadValue { .. }), "{kind:?}");
    let (line, _, kind) = err("vrrp_track_file T {\n file /x\n init_file 12a\n}\n");
    assert_eq!(line, 3);
    assert!(matches!(kind, ErrorKind::NotANumber(_)), "{kind:?}");
    let (line, _, kind) = err("vrrp_track_file T {\n file\n}\n");
    assert_eq!(line, 2);
    assert_eq!(kind, ErrorKind::MissingArgument);
}

#[test]
fn track_file_init_value_outside_254_is_kept_with_a_warning() {
    // track_file_init_handler(): "init value %d is outside sensible range" is a warning.
    let c = ok("vrrp_track_file T {\n file /x\n init_file 1000\n}\n");
    assert_eq!(c.track_files[0].init.unwrap().value, 1000);
    assert_eq!(c.warnings.len(), 1);
    assert_eq!(c.warnings[0].line, 3);
}

#[test]
fn track_process_block_defaults_are_quorum_1_unlimited_weight_0() {
    // alloc_vrrp_process(): quorum 1, quorum_max UINT_MAX.
    let c = ok("vrrp_track_process P {\n process nginx\n}\n");
    let p = &c.track_processes[0];
    assert_eq!(p, &TrackProcess::new("P", "nginx"));
    assert_eq!((p.quorum, p.quorum_max, p.weight), (1, u32::MAX, 0));
    assert_eq!(p.param_match, ParamMatch::None);
    assert!(!p.full_command);
}

#[test]
fn track_process_block_reads_every_option() {
    let c = ok(r#"
vrrp_track_process P {
    process /usr/sbin/haproxy -f /etc/h.cfg
    param_match partial
    weight 30 reverse
    quorum 2
    quorum_max 4
    fork_delay 0.5
    terminate_delay 2
}
vrrp_track_process Q {
    process sshd
    delay 1.25
    full_command
}
vrrp_track_process R {
    process bash -c
    param_match initial
}
vrrp_track_process S {
    process sleep
    param_match
}
vrrp_track_process T {
    process sleep 30
}
"#);
    let p = &c.track_processes[0];
    assert_eq!(p.process, "/usr/sbin/haproxy");
    assert_eq!(p.params, vec!["-f".to_string(), "/etc/h.cfg".into()]);
    assert_eq!(p.param_match, ParamMatch::Partial);
    assert!(p.full_command, "parameters imply full_command");
    assert_eq!((p.weight, p.reverse), (30, true));
    assert_eq!((p.quorum, p.quorum_max), (2, 4));
    assert_eq!(p.fork_delay, Duration::from_millis(500));
    assert_eq!(p.terminate_delay, Duration::from_secs(2));
    let q = &c.track_processes[1];
    // "delay" sets both.
    assert_eq!(q.fork_delay, Duration::from_millis(1250));
    assert_eq!(q.terminate_delay, Duration::from_millis(1250));
    assert!(q.full_command);
    assert_eq!(q.param_match, ParamMatch::None);
    assert_eq!(c.track_processes[2].param_match, ParamMatch::Initial);
    // A bare param_match is exact and implies full_command.
    assert_eq!(c.track_processes[3].param_match, ParamMatch::Exact);
    assert!(c.track_processes[3].full_command);
    // Parameters without param_match: exact.
    assert_eq!(c.track_processes[4].param_match, ParamMatch::Exact);
}

#[test]
fn track_process_quorum_max_0_means_must_not_run() {
    // vrrp_tprocess_quorum_max_handler(): "Allow quorum_max = 0 if quorum not specified",
    // and then quorum becomes 0.
    let c = ok("vrrp_track_process P {\n process x\n quorum_max 0\n}\n");
    assert_eq!(
        (c.track_processes[0].quorum, c.track_processes[0].quorum_max),
        (0, 0)
    );
}

#[test]
fn track_process_errors_name_the_line() {
    let (line, msg, _) = err("\n\nvrrp_track_process P {\n weight 2\n}\n");
    assert_eq!(line, 3);
    assert!(msg.contains("process name not specified"), "{msg}");
    let cases: &[(&str, usize)] = &[
        ("vrrp_track_process P {\n process x\n quorum 0\n}\n", 3),
        ("vrrp_track_process P {\n process x\n quorum 65536\n}\n", 3),
        (
            "vrrp_track_process P {\n process x\n quorum_max 65536\n}\n",
            3,
        ),
        (
            "vrrp_track_process P {\n process x\n quorum 3\n quorum_max 2\n}\n",
            4,
        ),
        (
            "vrrp_track_process P {\n process x\n quorum_max 2\n quorum 3\n}\n",
            4,
        ),
        ("vrrp_track_process P {\n process x\n weight -255\n}\n", 3),
        (
            "vrrp_track_process P {\n process x\n weight 5 inverse\n}\n",
            3,
        ),
        (
            "vrrp_track_process P {\n process x\n param_match fuzzy\n}\n",
            3,
        ),
        ("vrrp_track_process P {\n process x\n fork_delay 0\n}\n", 3),
        (
            "vrrp_track_process P {\n process x\n terminate_delay 3601\n}\n",
            3,
        ),
        ("vrrp_track_process P {\n process x\n delay soon\n}\n", 3),
        ("vrrp_track_process P {\n process\n}\n", 2),
    ];
    for (text, want) in cases {
        let (line, msg, _) = err(text);
        assert_eq!(line, *want, "{text}: {msg}");
        assert!(
            msg.starts_with(&format!("line {want}: vrrp_track_process P: ")),
            "{msg}"
        );
    }
}

const INSTANCE: &str = r#"
vrrp_track_file F {
    file /run/f
    weight 4 reverse
}
vrrp_track_process P {
    process sleep
    weight -10
}
vrrp_instance VI_1 {
    interface eth0
    virtual_router_id 51
    priority 100
    virtual_ipaddress {
        10.0.0.100
    }
    track_file {
        F
        G weight 3
    }
    track_process {
        P weight 20 reverse
    }
}
"#;

#[test]
fn instance_entries_keep_weight_and_reverse_as_written_and_drop_unknown_names() {
    let c = ok(INSTANCE);
    let i = &c.vrrp_instances[0];
    assert_eq!(
        i.track_files,
        vec![TrackRef {
            name: "F".into(),
            weight: None,
            reverse: None
        }]
    );
    assert_eq!(
        i.track_processes,
        vec![TrackRef {
            name: "P".into(),
            weight: Some(20),
            reverse: Some(true)
        }]
    );
    // vrrp_alloc_track_file(): "track file %s not found, ignoring...".
    assert_eq!(c.warnings.len(), 1, "{:?}", c.warnings);
    assert_eq!(c.warnings[0].keyword, "G");
    assert!(c.warnings[0].message.contains("vrrp_track_file"));
    assert!(
        i.config.track.is_empty(),
        "trackers become lvs-vrrp objects in the runtime"
    );
}

#[test]
fn instance_entry_errors_name_the_line() {
    let text = "vrrp_instance V {\n track_file {\n  F weight 255\n }\n}\n";
    let (line, msg, kind) = err(text);
    assert_eq!(line, 3);
    assert!(msg.contains("vrrp_instance V > track_file"), "{msg}");
    assert!(matches!(kind, ErrorKind::OutOfRange { max: 254, .. }));
    let (line, _, kind) = err("vrrp_instance V {\n track_process {\n  P weight 5 both\n }\n}\n");
    assert_eq!(line, 3);
    assert!(matches!(kind, ErrorKind::BadValue { .. }));
    let (line, _, _) = err("vrrp_instance V {\n track_process {\n  P height 5\n }\n}\n");
    assert_eq!(line, 3);
    // noreverse is accepted on instance entries.
    let c = ok("vrrp_instance V {\n track_file {\n  F weight -5 noreverse\n }\n}\n");
    assert_eq!(c.vrrp_instances[0].track_files.len(), 0, "F is undefined");
}
