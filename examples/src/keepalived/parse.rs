//! The keyword handlers: statements and blocks into the configuration types.
#![deny(clippy::indexing_slicing)]

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::Duration;

use lvs_core::service::{
    AddressFamily, DestConfig, ForwardMethod, MAX_THRESHOLD, MAX_TIMEOUT, MAX_WEIGHT, PersistMask,
    Persistence, Protocol, ServiceConfig, ServiceKey, TunnelCsum, TunnelKind,
};
use lvs_sched::{SchedFlags, SchedulerKind};
use lvs_vrrp::{AuthType, Authentication, InitialState, TrackWeight, Version, VrrpConfig};

use super::lexer::{Node, build, tokenize};
use super::{
    ConfigError, ErrorKind, GlobalDefs, KeepalivedConfig, RealServer, SorryServer, SyncDaemon,
    TrackRef, VirtualIp, VrrpInstance, VrrpScript, Warning,
};
use crate::ha::track::{ParamMatch, TrackFile, TrackFileInit, TrackProcess};
use crate::health::http::{StatusCodes, UrlCheck, parse_digest};
use crate::health::{
    CheckKind, CheckerConfig, ConnectOpts, DEFAULT_CONNECT_TIMEOUT, DEFAULT_DELAY_BEFORE_RETRY,
    DEFAULT_DELAY_LOOP, DEFAULT_HTTP_DELAY_BEFORE_RETRY, DEFAULT_RETRY,
};

type R<T> = Result<T, Box<ConfigError>>;

/// Deepest `include` nesting.
const MAX_INCLUDE_DEPTH: usize = 8;

struct Ctx {
    files: Vec<Option<PathBuf>>,
    warnings: Vec<Warning>,
}

impl Ctx {
    fn file(&self, i: usize) -> Option<PathBuf> {
        self.files.get(i).cloned().flatten()
    }

    fn err(&self, n: &Node, block: &str, kind: ErrorKind) -> Box<ConfigError> {
        Box::new(ConfigError {
            line: n.line(),
            file: self.file(n.file()),
            block: block.to_string(),
            keyword: n.keyword().to_string(),
            kind,
        })
    }

    fn warn(&mut self, n: &Node, block: &str, message: impl Into<String>) {
        self.warnings.push(Warning {
            line: n.line(),
            file: self.file(n.file()),
            block: block.to_string(),
            keyword: n.keyword().to_string(),
            message: message.into(),
        });
    }

    fn unknown(&mut self, n: &Node, block: &str) {
        self.warn(n, block, "unknown keyword, ignored");
    }

    // ---- value helpers ----

    fn arg<'a>(&self, n: &'a Node, block: &str, i: usize) -> R<&'a str> {
        n.arg(i)
            .ok_or_else(|| self.err(n, block, ErrorKind::MissingArgument))
    }

    fn int(&self, n: &Node, block: &str, i: usize, min: i64, max: i64) -> R<i64> {
        let s = self.arg(n, block, i)?;
        let v: i64 = s
            .parse()
            .map_err(|_| self.err(n, block, ErrorKind::NotANumber(s.to_string())))?;
        if v < min || v > max {
            return Err(self.err(
                n,
                block,
                ErrorKind::OutOfRange {
                    value: s.to_string(),
                    min,
                    max,
                },
            ));
        }
        Ok(v)
    }

    fn u32(&self, n: &Node, block: &str, i: usize, min: u32, max: u32) -> R<u32> {
        let v = self.int(n, block, i, i64::from(min), i64::from(max))?;
        u32::try_from(v).map_err(|_| self.err(n, block, ErrorKind::NotANumber(v.to_string())))
    }

    fn i32(&self, n: &Node, block: &str, i: usize, min: i32, max: i32) -> R<i32> {
        let v = self.int(n, block, i, i64::from(min), i64::from(max))?;
        i32::try_from(v).map_err(|_| self.err(n, block, ErrorKind::NotANumber(v.to_string())))
    }

    /// Seconds, with an optional fraction down to microseconds (`1`, `0.5`, `2.25`), at most
    /// `max_secs`.
    fn secs(&self, n: &Node, block: &str, i: usize, max_secs: u64) -> R<Duration> {
        let s = self.arg(n, block, i)?;
        let bad = || self.err(n, block, ErrorKind::NotANumber(s.to_string()));
        let (int, frac) = s.split_once('.').unwrap_or((s, ""));
        if int.is_empty() && frac.is_empty()
            || !int.bytes().all(|b| b.is_ascii_digit())
            || !frac.bytes().all(|b| b.is_ascii_digit())
            || frac.len() > 6
        {
            return Err(bad());
        }
        let whole: u64 = if int.is_empty() {
            0
        } else {
            int.parse().map_err(|_| bad())?
        };
        if whole > max_secs {
            return Err(self.err(
                n,
                block,
                ErrorKind::OutOfRange {
                    value: s.to_string(),
                    min: 0,
                    max: i64::try_from(max_secs).unwrap_or(i64::MAX),
                },
            ));
        }
        let mut micros: u32 = 0;
        for (k, b) in frac.bytes().enumerate() {
            let scale = 10u32.pow(5u32.saturating_sub(u32::try_from(k).unwrap_or(5)));
            micros += u32::from(b - b'0') * scale;
        }
        Ok(Duration::from_secs(whole) + Duration::from_micros(u64::from(micros)))
    }

    fn ip(&self, n: &Node, block: &str, i: usize) -> R<IpAddr> {
        let s = self.arg(n, block, i)?;
        s.parse()
            .map_err(|_| self.err(n, block, ErrorKind::BadAddress(s.to_string())))
    }

    fn port(&self, n: &Node, block: &str, i: usize) -> R<u16> {
        let v = self.int(n, block, i, 0, 65535)?;
        u16::try_from(v).map_err(|_| self.err(n, block, ErrorKind::NotANumber(v.to_string())))
    }

    /// The value of word `i` looked up in `options` (exact, case-sensitive, as keepalived's
    /// `strcmp`s).
    fn choice<T: Copy>(
        &self,
        n: &Node,
        block: &str,
        i: usize,
        options: &[(&str, T)],
        expected: &'static str,
    ) -> R<T> {
        let v = self.arg(n, block, i)?;
        options
            .iter()
            .find(|(k, _)| *k == v)
            .map(|(_, t)| *t)
            .ok_or_else(|| {
                self.err(
                    n,
                    block,
                    ErrorKind::BadValue {
                        value: v.to_string(),
                        expected,
                    },
                )
            })
    }

    fn block<'a>(&self, n: &'a Node, block: &str) -> R<&'a [Node]> {
        n.block
            .as_deref()
            .ok_or_else(|| self.err(n, block, ErrorKind::MissingBlock))
    }

    /// The entries of a list block (`notification_email { a b }`): every word of every line.
    fn list_words(&self, n: &Node, block: &str) -> R<Vec<String>> {
        Ok(self
            .block(n, block)?
            .iter()
            .flat_map(|e| e.words.iter().map(|t| t.text.clone()))
            .collect())
    }
}

fn path(parent: &str, n: &Node) -> String {
    let label = n
        .words
        .iter()
        .map(|t| t.text.as_str())
        .collect::<Vec<_>>()
        .join(" ");
    if parent.is_empty() {
        label
    } else {
        format!("{parent} > {label}")
    }
}

// ---- entry ----

pub(crate) fn parse(text: &str, file: Option<&Path>) -> R<KeepalivedConfig> {
    let mut ctx = Ctx {
        files: vec![file.map(Path::to_path_buf)],
        warnings: Vec::new(),
    };
    let nodes = load(&mut ctx, text, 0, 0)?;
    let mut cfg = KeepalivedConfig::default();
    let mut vs_groups: Vec<(String, Vec<ServiceKeyTemplate>)> = Vec::new();
    let mut laddr_groups: Vec<(String, Vec<IpAddr>)> = Vec::new();
    let mut sets = Vec::new();
    // First pass: the named groups virtual servers refer to, and global_defs.
    for n in &nodes {
        match n.keyword() {
            "global_defs" => global_defs(&mut ctx, n, &mut cfg.global)?,
            "virtual_server_group" => {
                let name = ctx.arg(n, "", 1)?.to_string();
                vs_groups.push((name, vs_group(&ctx, n)?));
            }
            "local_address_group" => {
                let name = ctx.arg(n, "", 1)?.to_string();
                laddr_groups.push((name, laddr_group(&ctx, n)?));
            }
            _ => {}
        }
    }
    for n in &nodes {
        match n.keyword() {
            "global_defs" | "virtual_server_group" | "local_address_group" => {}
            "vrrp_script" => cfg.vrrp_scripts.push(vrrp_script(&mut ctx, n)?),
            "vrrp_track_file" | "track_file" => cfg.track_files.push(track_file(&mut ctx, n)?),
            "vrrp_track_process" => cfg.track_processes.push(track_process(&mut ctx, n)?),
            "vrrp_instance" => {
                let (inst, set) = vrrp_instance(&mut ctx, n)?;
                cfg.vrrp_instances.push(inst);
                sets.push(set);
            }
            "virtual_server" => {
                virtual_server(&mut ctx, n, &vs_groups, &laddr_groups, &mut cfg)?;
            }
            "include" => ctx.warn(n, "", "include needs parse_file, ignored"),
            _ => ctx.unknown(n, ""),
        }
    }
    resolve_vrrp(&mut ctx, &mut cfg, sets);
    cfg.warnings = ctx.warnings;
    Ok(cfg)
}

fn load(ctx: &mut Ctx, text: &str, file: usize, depth: usize) -> R<Vec<Node>> {
    let tokens = tokenize(text, file).map_err(|(line, kind)| {
        Box::new(ConfigError {
            line,
            file: ctx.file(file),
            block: String::new(),
            keyword: String::new(),
            kind,
        })
    })?;
    let nodes = build(tokens).map_err(|(line, f, kind)| {
        Box::new(ConfigError {
            line,
            file: ctx.file(f),
            block: String::new(),
            keyword: String::new(),
            kind,
        })
    })?;
    expand_includes(ctx, nodes, depth)
}

/// Replace `include PATTERN` statements (at any level) by the statements of the files.
fn expand_includes(ctx: &mut Ctx, nodes: Vec<Node>, depth: usize) -> R<Vec<Node>> {
    let mut out = Vec::with_capacity(nodes.len());
    for mut n in nodes {
        if n.keyword() == "include" && n.block.is_none() && ctx.file(n.file()).is_some() {
            let base = ctx
                .file(n.file())
                .and_then(|p| p.parent().map(Path::to_path_buf))
                .unwrap_or_default();
            let pat = ctx.arg(&n, "", 1)?.to_string();
            if depth >= MAX_INCLUDE_DEPTH {
                return Err(ctx.err(&n, "", ErrorKind::Include("nested too deeply".into())));
            }
            let files = glob(&base.join(&pat));
            if files.is_empty() {
                ctx.warn(&n, "", format!("no file matches '{pat}'"));
            }
            for f in files {
                let text = std::fs::read_to_string(&f).map_err(|e| {
                    ctx.err(&n, "", ErrorKind::Include(format!("{}: {e}", f.display())))
                })?;
                ctx.files.push(Some(f));
                let idx = ctx.files.len() - 1;
                out.extend(load(ctx, &text, idx, depth + 1)?);
            }
            continue;
        }
        if let Some(b) = n.block.take() {
            n.block = Some(expand_includes(ctx, b, depth)?);
        }
        out.push(n);
    }
    Ok(out)
}

/// Files matching `pattern`, whose last component may hold `*` and `?`, sorted.
fn glob(pattern: &Path) -> Vec<PathBuf> {
    let Some(name) = pattern.file_name().and_then(|s| s.to_str()) else {
        return Vec::new();
    };
    if !name.contains(['*', '?']) {
        return if pattern.is_file() {
            vec![pattern.to_path_buf()]
        } else {
            Vec::new()
        };
    }
    let dir = pattern.parent().unwrap_or(Path::new("."));
    let Ok(rd) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut out: Vec<PathBuf> = rd
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| {
            p.is_file()
                && p.file_name()
                    .and_then(|s| s.to_str())
                    .is_some_and(|f| wildcard(name.as_bytes(), f.as_bytes()))
        })
        .collect();
    out.sort();
    out
}

/// `*` / `?` matching (a leading `.` is matched only explicitly, as glob(3)).
fn wildcard(p: &[u8], s: &[u8]) -> bool {
    if s.first() == Some(&b'.') && p.first() != Some(&b'.') {
        return false;
    }
    let (mut pi, mut si, mut star, mut mark) = (0usize, 0usize, None, 0usize);
    while si < s.len() {
        match p.get(pi) {
            Some(b'*') => {
                star = Some(pi);
                mark = si;
                pi += 1;
            }
            Some(c) if *c == b'?' || Some(c) == s.get(si) => {
                pi += 1;
                si += 1;
            }
            _ => match star {
                Some(sp) => {
                    pi = sp + 1;
                    mark += 1;
                    si = mark;
                }
                None => return false,
            },
        }
    }
    p.get(pi..).is_some_and(|r| r.iter().all(|c| *c == b'*'))
}

// ---- global_defs ----

fn global_defs(ctx: &mut Ctx, n: &Node, g: &mut GlobalDefs) -> R<()> {
    let bp = path("", n);
    for e in ctx.block(n, "")? {
        let b = bp.as_str();
        match e.keyword() {
            "router_id" | "lvs_id" => g.router_id = Some(ctx.arg(e, b, 1)?.to_string()),
            "enable_script_security" => g.enable_script_security = true,
            "script_user" => {
                g.script_user = Some((ctx.arg(e, b, 1)?.to_string(), e.arg(2).map(String::from)))
            }
            "notification_email" => g.notification_email = ctx.list_words(e, b)?,
            "notification_email_from" => {
                g.notification_email_from = Some(ctx.arg(e, b, 1)?.to_string())
            }
            "smtp_server" => g.smtp_server = Some(e.rest()),
            "smtp_connect_timeout" => g.smtp_connect_timeout = Some(ctx.secs(e, b, 1, 86400)?),
            "vrrp_version" => g.vrrp_version = Some(version(ctx, e, b)?),
            "vrrp_garp_master_delay" => g.vrrp_garp_master_delay = Some(ctx.secs(e, b, 1, 86400)?),
            "vrrp_garp_master_repeat" => {
                g.vrrp_garp_master_repeat = Some(ctx.u32(e, b, 1, 0, 10_000)?)
            }
            "vrrp_garp_master_refresh" => {
                g.vrrp_garp_master_refresh = Some(ctx.secs(e, b, 1, 86400)?)
            }
            "vrrp_garp_master_refresh_repeat" => {
                g.vrrp_garp_master_refresh_repeat = Some(ctx.u32(e, b, 1, 0, 10_000)?)
            }
            "vrrp_garp_lower_prio_delay" => {
                g.vrrp_garp_lower_prio_delay = Some(ctx.secs(e, b, 1, 86400)?)
            }
            "vrrp_garp_lower_prio_repeat" => {
                g.vrrp_garp_lower_prio_repeat = Some(ctx.u32(e, b, 1, 0, 10_000)?)
            }
            "vrrp_lower_prio_no_advert" => g.vrrp_lower_prio_no_advert = bool_opt(ctx, e, b)?,
            "vrrp_check_unicast_src" => g.vrrp_check_unicast_src = true,
            "lvs_sync_daemon" => g.lvs_sync_daemon = Some(sync_daemon(ctx, e, b)?),
            // Accepted by keepalived and without effect on lvs-rs.
            "vrrp_skip_check_adv_addr"
            | "vrrp_strict"
            | "vrrp_garp_interval"
            | "vrrp_gna_interval"
            | "vrrp_iptables"
            | "vrrp_mcast_group4"
            | "vrrp_mcast_group6"
            | "smtp_alert"
            | "checker_log_all_failures"
            | "max_auto_priority"
            | "dynamic_interfaces" => {}
            _ => ctx.unknown(e, b),
        }
    }
    Ok(())
}

/// `keyword` alone is true; `keyword true|false|yes|no|on|off` as written.
fn bool_opt(ctx: &Ctx, n: &Node, b: &str) -> R<bool> {
    match n.arg(1) {
        None => Ok(true),
        Some("true" | "yes" | "on") => Ok(true),
        Some("false" | "no" | "off") => Ok(false),
        Some(v) => Err(ctx.err(
            n,
            b,
            ErrorKind::BadValue {
                value: v.to_string(),
                expected: "true, false, yes, no, on, off",
            },
        )),
    }
}

fn version(ctx: &Ctx, n: &Node, b: &str) -> R<Version> {
    match ctx.u32(n, b, 1, 2, 3)? {
        2 => Ok(Version::V2),
        _ => Ok(Version::V3),
    }
}

fn sync_daemon(ctx: &Ctx, n: &Node, b: &str) -> R<SyncDaemon> {
    let mut d = SyncDaemon {
        interface: ctx.arg(n, b, 1)?.to_string(),
        instance: ctx.arg(n, b, 2)?.to_string(),
        syncid: 0,
        maxlen: 0,
        port: 0,
        ttl: 0,
        group: None,
    };
    let mut i = 3;
    while let Some(w) = n.arg(i) {
        match w {
            "id" => d.syncid = u8::try_from(ctx.u32(n, b, i + 1, 0, 255)?).unwrap_or(0),
            "maxlen" => d.maxlen = u16::try_from(ctx.u32(n, b, i + 1, 1, 65507)?).unwrap_or(0),
            "port" => d.port = ctx.port(n, b, i + 1)?,
            "ttl" => d.ttl = u8::try_from(ctx.u32(n, b, i + 1, 1, 255)?).unwrap_or(0),
            "group" => d.group = Some(ctx.ip(n, b, i + 1)?),
            other => {
                return Err(ctx.err(
                    n,
                    b,
                    ErrorKind::BadValue {
                        value: other.to_string(),
                        expected: "id, maxlen, port, ttl, group",
                    },
                ));
            }
        }
        i += 2;
    }
    Ok(d)
}

// ---- vrrp_script ----

fn vrrp_script(ctx: &mut Ctx, n: &Node) -> R<VrrpScript> {
    let bp = path("", n);
    let b = bp.as_str();
    let mut s = VrrpScript {
        name: ctx.arg(n, "", 1)?.to_string(),
        script: String::new(),
        interval: Duration::from_secs(1),
        timeout: None,
        weight: 0,
        rise: 1,
        fall: 1,
        user: None,
    };
    for e in ctx.block(n, "")? {
        match e.keyword() {
            "script" => s.script = e.rest(),
            "interval" => s.interval = ctx.secs(e, b, 1, 86400)?,
            "timeout" => s.timeout = Some(ctx.secs(e, b, 1, 86400)?),
            "weight" => s.weight = ctx.i32(e, b, 1, -253, 253)?,
            "rise" => s.rise = ctx.u32(e, b, 1, 1, u32::MAX)?,
            "fall" => s.fall = ctx.u32(e, b, 1, 1, u32::MAX)?,
            "user" => s.user = Some(e.rest()),
            "init_fail" => {}
            _ => ctx.unknown(e, b),
        }
    }
    if s.script.is_empty() {
        return Err(ctx.err(
            n,
            "",
            ErrorKind::Invalid("vrrp_script without script".into()),
        ));
    }
    Ok(s)
}

// ---- vrrp_track_file, vrrp_track_process ----

/// `vrrp_track_file NAME { file PATH; weight W [reverse]; init_file [VALUE] [overwrite] }`
/// (keepalived/trackers/track_file.c; `track_file NAME { }` at top level is the 2.2 name).
fn track_file(ctx: &mut Ctx, n: &Node) -> R<TrackFile> {
    let bp = path("", n);
    let b = bp.as_str();
    let mut f = TrackFile::new(ctx.arg(n, "", 1)?, "");
    let mut file = false;
    for e in ctx.block(n, "")? {
        match e.keyword() {
            "file" => {
                f.path = PathBuf::from(ctx.arg(e, b, 1)?);
                file = true;
            }
            "weight" => {
                f.weight = ctx.i32(e, b, 1, -254, 254)?;
                if e.arg(2).is_some() {
                    f.reverse = ctx.choice(e, b, 2, &[("reverse", true)], "reverse")?;
                }
            }
            "init_file" => {
                let mut init = TrackFileInit::default();
                let mut i = 1;
                while let Some(w) = e.arg(i) {
                    if w == "overwrite" {
                        init.overwrite = true;
                    } else if w.starts_with(|c: char| c.is_ascii_digit() || c == '-') {
                        init.value = ctx.i32(e, b, i, i32::MIN, i32::MAX)?;
                        if !(-254..=254).contains(&init.value) {
                            ctx.warn(e, b, "init value outside sensible range [-254, 254]");
                        }
                    } else {
                        return Err(ctx.err(
                            e,
                            b,
                            ErrorKind::BadValue {
                                value: w.to_string(),
                                expected: "a number, overwrite",
                            },
                        ));
                    }
                    i += 1;
                }
                f.init = Some(init);
            }
            _ => ctx.unknown(e, b),
        }
    }
    if !file {
        return Err(ctx.err(
            n,
            "",
            ErrorKind::Invalid(format!("no file set for track_file {}", f.name)),
        ));
    }
    Ok(f)
}

/// `vrrp_track_process NAME { process PROCNAME [PARAMS...]; param_match ...; weight W
/// [reverse]; quorum N; quorum_max M; fork_delay S; terminate_delay S; delay S;
/// full_command }` (keepalived/vrrp/vrrp_parser.c vrrp_tprocess_*_handler()).
fn track_process(ctx: &mut Ctx, n: &Node) -> R<TrackProcess> {
    let bp = path("", n);
    let b = bp.as_str();
    let mut p = TrackProcess::new(ctx.arg(n, "", 1)?, "");
    let mut quorum_set = false;
    for e in ctx.block(n, "")? {
        match e.keyword() {
            "process" => {
                p.process = ctx.arg(e, b, 1)?.to_string();
                p.params = e.words.iter().skip(2).map(|t| t.text.clone()).collect();
                if !p.params.is_empty() {
                    if p.param_match == ParamMatch::None {
                        p.param_match = ParamMatch::Exact;
                    }
                    p.full_command = true;
                }
            }
            "param_match" => {
                p.param_match = if e.arg(1).is_none() {
                    ParamMatch::Exact
                } else {
                    ctx.choice(
                        e,
                        b,
                        1,
                        &[
                            ("exact", ParamMatch::Exact),
                            ("partial", ParamMatch::Partial),
                            ("initial", ParamMatch::Initial),
                        ],
                        "exact, partial, initial",
                    )?
                };
                p.full_command = true;
            }
            "weight" => {
                p.weight = ctx.i32(e, b, 1, -254, 254)?;
                if e.arg(2).is_some() {
                    p.reverse = ctx.choice(e, b, 2, &[("reverse", true)], "reverse")?;
                }
            }
            "quorum" => {
                let q = ctx.u32(e, b, 1, 1, 65535)?;
                if q > p.quorum_max {
                    return Err(ctx.err(
                        e,
                        b,
                        ErrorKind::Invalid("quorum is greater than quorum_max".into()),
                    ));
                }
                p.quorum = q;
                quorum_set = true;
            }
            "quorum_max" => {
                let m = ctx.u32(e, b, 1, 0, 65535)?;
                // "Allow quorum_max = 0 if quorum not specified".
                if (m != 0 || (quorum_set && p.quorum > 1)) && m < p.quorum {
                    return Err(ctx.err(
                        e,
                        b,
                        ErrorKind::Invalid("quorum_max is less than quorum".into()),
                    ));
                }
                p.quorum_max = m;
                if m == 0 {
                    p.quorum = 0;
                } else if p.quorum == 0 {
                    p.quorum = 1;
                }
            }
            "fork_delay" => p.fork_delay = process_delay(ctx, e, b)?,
            "terminate_delay" => p.terminate_delay = process_delay(ctx, e, b)?,
            "delay" => {
                p.fork_delay = process_delay(ctx, e, b)?;
                p.terminate_delay = p.fork_delay;
            }
            "full_command" => p.full_command = true,
            _ => ctx.unknown(e, b),
        }
    }
    if p.process.is_empty() {
        return Err(ctx.err(
            n,
            "",
            ErrorKind::Invalid(format!(
                "track process '{}' process name not specified",
                p.name
            )),
        ));
    }
    Ok(p)
}

/// A process delay: 0.000001..=3600 seconds.
fn process_delay(ctx: &Ctx, e: &Node, b: &str) -> R<Duration> {
    let d = ctx.secs(e, b, 1, 3600)?;
    if d.is_zero() || d > Duration::from_secs(3600) {
        return Err(ctx.err(
            e,
            b,
            ErrorKind::OutOfRange {
                value: ctx.arg(e, b, 1)?.to_string(),
                min: 0,
                max: 3600,
            },
        ));
    }
    Ok(d)
}

// ---- vrrp_instance ----

/// Settings an instance may leave to global_defs.
#[derive(Default)]
struct InstanceSet {
    version: bool,
    garp_master_delay: bool,
    garp_master_repeat: bool,
    garp_master_refresh: bool,
    garp_master_refresh_repeat: bool,
    lower_prio_no_advert: bool,
    check_unicast_src: bool,
}

fn vrrp_instance(ctx: &mut Ctx, n: &Node) -> R<(VrrpInstance, InstanceSet)> {
    let bp = path("", n);
    let b = bp.as_str();
    let name = ctx.arg(n, "", 1)?.to_string();
    let mut c = VrrpConfig {
        name: name.clone(),
        ..VrrpConfig::default()
    };
    let mut inst = VrrpInstance {
        name,
        config: VrrpConfig::default(),
        vips: Vec::new(),
        vips_excluded: Vec::new(),
        track_scripts: Vec::new(),
        track_interfaces: Vec::new(),
        track_files: Vec::new(),
        track_processes: Vec::new(),
        notify_master: None,
        notify_backup: None,
        notify_fault: None,
        notify_stop: None,
        notify: None,
        line: n.line(),
    };
    let mut set = InstanceSet::default();
    for e in ctx.block(n, "")? {
        match e.keyword() {
            "state" => {
                c.state = ctx.choice(
                    e,
                    b,
                    1,
                    &[
                        ("MASTER", InitialState::Master),
                        ("BACKUP", InitialState::Backup),
                    ],
                    "MASTER, BACKUP",
                )?
            }
            "interface" => c.interface = ctx.arg(e, b, 1)?.to_string(),
            "virtual_router_id" => {
                c.virtual_router_id = u8::try_from(ctx.u32(e, b, 1, 1, 255)?).unwrap_or(0)
            }
            "priority" => c.priority = u8::try_from(ctx.u32(e, b, 1, 1, 255)?).unwrap_or(0),
            "advert_int" => c.advert_int = ctx.secs(e, b, 1, 255)?,
            "nopreempt" => c.nopreempt = true,
            "preempt" => c.nopreempt = false,
            "preempt_delay" => c.preempt_delay = ctx.secs(e, b, 1, 1000)?,
            "authentication" => c.authentication = Some(authentication(ctx, e, b)?),
            "virtual_ipaddress" => inst.vips.extend(vips(ctx, e, b)?),
            "virtual_ipaddress_excluded" => inst.vips_excluded.extend(vips(ctx, e, b)?),
            "unicast_src_ip" => c.unicast_src_ip = Some(ctx.ip(e, b, 1)?),
            "mcast_src_ip" => c.mcast_src_ip = Some(ctx.ip(e, b, 1)?),
            "unicast_peer" => {
                let eb = path(b, e);
                for p in ctx.block(e, b)? {
                    c.unicast_peer.push(ctx.ip(p, &eb, 0)?);
                }
            }
            "track_interface" => inst.track_interfaces.extend(track_refs(ctx, e, b, 253)?),
            "track_script" => inst.track_scripts.extend(track_refs(ctx, e, b, 253)?),
            // vrrp_alloc_track_file() / alloc_track_process(): weight -254..=254.
            "track_file" => inst.track_files.extend(track_refs(ctx, e, b, 254)?),
            "track_process" => inst.track_processes.extend(track_refs(ctx, e, b, 254)?),
            "notify_master" => inst.notify_master = Some(e.rest()),
            "notify_backup" => inst.notify_backup = Some(e.rest()),
            "notify_fault" => inst.notify_fault = Some(e.rest()),
            "notify_stop" => inst.notify_stop = Some(e.rest()),
            "notify" => inst.notify = Some(e.rest()),
            "garp_master_delay" => {
                c.garp_master_delay = ctx.secs(e, b, 1, 86400)?;
                set.garp_master_delay = true;
            }
            "garp_master_repeat" => {
                c.garp_master_repeat = ctx.u32(e, b, 1, 0, 10_000)?;
                set.garp_master_repeat = true;
            }
            "garp_master_refresh" => {
                c.garp_master_refresh = ctx.secs(e, b, 1, 86400)?;
                set.garp_master_refresh = true;
            }
            "garp_master_refresh_repeat" => {
                c.garp_master_refresh_repeat = ctx.u32(e, b, 1, 0, 10_000)?;
                set.garp_master_refresh_repeat = true;
            }
            "garp_lower_prio_delay" => c.garp_lower_prio_delay = Some(ctx.secs(e, b, 1, 86400)?),
            "garp_lower_prio_repeat" => {
                c.garp_lower_prio_repeat = Some(ctx.u32(e, b, 1, 0, 10_000)?)
            }
            "version" | "vrrp_version" => {
                c.version = Some(version(ctx, e, b)?);
                set.version = true;
            }
            "accept" => c.accept = true,
            "no_accept" => c.accept = false,
            "lower_prio_no_advert" => {
                c.lower_prio_no_advert = bool_opt(ctx, e, b)?;
                set.lower_prio_no_advert = true;
            }
            "check_unicast_src" => {
                c.check_unicast_src = true;
                set.check_unicast_src = true;
            }
            "use_vmac" => c.use_vmac = true,
            "smtp_alert" | "dont_track_primary" | "native_ipv6" | "debug" => {}
            _ => ctx.unknown(e, b),
        }
    }
    // keepalived: nopreempt needs state BACKUP (vrrp_parser.c warns and clears it; lvs-vrrp
    // rejects the combination, so report it here with the line).
    if c.nopreempt && c.state != InitialState::Backup {
        ctx.warn(n, "", "nopreempt requires state BACKUP, nopreempt ignored");
        c.nopreempt = false;
    }
    c.virtual_ipaddress = inst.vips.iter().map(|v| v.addr).collect();
    if c.virtual_ipaddress.iter().any(IpAddr::is_ipv6) {
        c.interface_addr = IpAddr::V6(Ipv6Addr::UNSPECIFIED);
    }
    inst.config = c;
    Ok((inst, set))
}

fn authentication(ctx: &mut Ctx, n: &Node, parent: &str) -> R<Authentication> {
    let b = path(parent, n);
    let mut t = AuthType::Pass;
    let mut pass = String::new();
    for e in ctx.block(n, parent)? {
        match e.keyword() {
            "auth_type" => {
                t = ctx.choice(
                    e,
                    &b,
                    1,
                    &[("PASS", AuthType::Pass), ("AH", AuthType::Ah)],
                    "PASS, AH",
                )?
            }
            // keepalived keeps the first 8 bytes.
            "auth_pass" => pass = ctx.arg(e, &b, 1)?.chars().take(8).collect(),
            _ => {
                ctx.unknown(e, &b);
            }
        }
    }
    Ok(Authentication {
        auth_type: t,
        auth_pass: pass,
    })
}

fn vips(ctx: &Ctx, n: &Node, parent: &str) -> R<Vec<VirtualIp>> {
    let b = path(parent, n);
    let mut out = Vec::new();
    for e in ctx.block(n, parent)? {
        let s = e.keyword();
        let (a, p) = s.split_once('/').unwrap_or((s, ""));
        let addr: IpAddr = a
            .parse()
            .map_err(|_| ctx.err(e, &b, ErrorKind::BadAddress(s.to_string())))?;
        let max = if addr.is_ipv4() { 32 } else { 128 };
        let prefix = if p.is_empty() {
            max
        } else {
            match p.parse::<u8>() {
                Ok(v) if v <= max => v,
                _ => return Err(ctx.err(e, &b, ErrorKind::NotANumber(p.to_string()))),
            }
        };
        let mut v = VirtualIp {
            addr,
            prefix,
            dev: None,
            label: None,
        };
        let mut i = 1;
        while let Some(w) = e.arg(i) {
            let val = ctx.arg(e, &b, i + 1)?.to_string();
            match w {
                "dev" => v.dev = Some(val),
                "label" => v.label = Some(val),
                "brd" | "scope" | "broadcast" => {}
                other => {
                    return Err(ctx.err(
                        e,
                        &b,
                        ErrorKind::BadValue {
                            value: other.to_string(),
                            expected: "dev, label, brd, scope",
                        },
                    ));
                }
            }
            i += 2;
        }
        out.push(v);
    }
    Ok(out)
}

/// `NAME [weight W [reverse|noreverse]]` entries, |W| <= `max`.
fn track_refs(ctx: &Ctx, n: &Node, parent: &str, max: i32) -> R<Vec<TrackRef>> {
    let b = path(parent, n);
    let mut out = Vec::new();
    for e in ctx.block(n, parent)? {
        let weight = match e.arg(1) {
            Some("weight") => Some(ctx.i32(e, &b, 2, -max, max)?),
            Some(other) => {
                return Err(ctx.err(
                    e,
                    &b,
                    ErrorKind::BadValue {
                        value: other.to_string(),
                        expected: "weight",
                    },
                ));
            }
            None => None,
        };
        let reverse = if e.arg(3).is_some() {
            Some(ctx.choice(
                e,
                &b,
                3,
                &[("reverse", true), ("noreverse", false)],
                "reverse, noreverse",
            )?)
        } else {
            None
        };
        out.push(TrackRef {
            name: e.keyword().to_string(),
            weight,
            reverse,
        });
    }
    Ok(out)
}

/// Apply global_defs defaults and track weights to every instance.
fn resolve_vrrp(ctx: &mut Ctx, cfg: &mut KeepalivedConfig, sets: Vec<InstanceSet>) {
    let g = &cfg.global;
    for (inst, set) in cfg.vrrp_instances.iter_mut().zip(sets) {
        // vrrp_alloc_track_file() / alloc_track_process(): "track file %s not found,
        // ignoring...".
        let files = &cfg.track_files;
        let procs = &cfg.track_processes;
        let mut unknown = Vec::new();
        inst.track_files.retain(|t| {
            let ok = files.iter().any(|f| f.name == t.name);
            if !ok {
                unknown.push(("track_file", "vrrp_track_file", t.name.clone()));
            }
            ok
        });
        inst.track_processes.retain(|t| {
            let ok = procs.iter().any(|p| p.name == t.name);
            if !ok {
                unknown.push(("track_process", "vrrp_track_process", t.name.clone()));
            }
            ok
        });
        for (kw, block, name) in unknown {
            ctx.warnings.push(Warning {
                line: inst.line,
                file: None,
                block: format!("vrrp_instance {} > {kw}", inst.name),
                keyword: name,
                message: format!("no such {block}, ignored"),
            });
        }
        let c = &mut inst.config;
        if !set.version {
            c.version = g.vrrp_version;
        }
        if !set.garp_master_delay
            && let Some(v) = g.vrrp_garp_master_delay
        {
            c.garp_master_delay = v;
        }
        if !set.garp_master_repeat
            && let Some(v) = g.vrrp_garp_master_repeat
        {
            c.garp_master_repeat = v;
        }
        if !set.garp_master_refresh
            && let Some(v) = g.vrrp_garp_master_refresh
        {
            c.garp_master_refresh = v;
        }
        if !set.garp_master_refresh_repeat
            && let Some(v) = g.vrrp_garp_master_refresh_repeat
        {
            c.garp_master_refresh_repeat = v;
        }
        if c.garp_lower_prio_delay.is_none() {
            c.garp_lower_prio_delay = g.vrrp_garp_lower_prio_delay;
        }
        if c.garp_lower_prio_repeat.is_none() {
            c.garp_lower_prio_repeat = g.vrrp_garp_lower_prio_repeat;
        }
        if !set.lower_prio_no_advert {
            c.lower_prio_no_advert = g.vrrp_lower_prio_no_advert;
        }
        if !set.check_unicast_src {
            c.check_unicast_src = g.vrrp_check_unicast_src;
        }
        c.track = inst
            .track_interfaces
            .iter()
            .map(|t| TrackWeight {
                name: t.name.clone(),
                weight: t.weight.unwrap_or(0),
            })
            .chain(inst.track_scripts.iter().filter_map(|t| {
                // vrrp_parser.c: a track_script naming no vrrp_script is ignored with a
                // warning.
                let Some(script) = cfg.vrrp_scripts.iter().find(|s| s.name == t.name) else {
                    ctx.warnings.push(Warning {
                        line: inst.line,
                        file: None,
                        block: format!("vrrp_instance {} > track_script", inst.name),
                        keyword: t.name.clone(),
                        message: "no such vrrp_script, ignored".into(),
                    });
                    return None;
                };
                Some(TrackWeight {
                    name: t.name.clone(),
                    weight: t.weight.unwrap_or(script.weight),
                })
            }))
            .collect();
    }
}

// ---- virtual_server_group, local_address_group ----

/// A member of a virtual_server_group: the protocol is the virtual server's.
#[derive(Debug, Clone, Copy)]
enum ServiceKeyTemplate {
    Addr(SocketAddr),
    Fwmark(u32),
}

/// `A.B.C.D-E` (last octet range) or a single address.
fn addr_range(s: &str) -> Option<Vec<IpAddr>> {
    if let Ok(a) = s.parse::<IpAddr>() {
        return Some(vec![a]);
    }
    let (a, end) = s.split_once('-')?;
    let a: Ipv4Addr = a.parse().ok()?;
    let end: u8 = end.parse().ok()?;
    let [o0, o1, o2, start] = a.octets();
    if end < start {
        return None;
    }
    Some(
        (start..=end)
            .map(|o| IpAddr::V4(Ipv4Addr::new(o0, o1, o2, o)))
            .collect(),
    )
}

fn vs_group(ctx: &Ctx, n: &Node) -> R<Vec<ServiceKeyTemplate>> {
    let b = path("", n);
    let mut out = Vec::new();
    for e in ctx.block(n, "")? {
        if e.keyword() == "fwmark" {
            out.push(ServiceKeyTemplate::Fwmark(ctx.u32(
                e,
                &b,
                1,
                1,
                u32::MAX,
            )?));
            continue;
        }
        let ips = addr_range(e.keyword())
            .ok_or_else(|| ctx.err(e, &b, ErrorKind::BadAddress(e.keyword().to_string())))?;
        let port = ctx.port(e, &b, 1)?;
        out.extend(
            ips.into_iter()
                .map(|ip| ServiceKeyTemplate::Addr(SocketAddr::new(ip, port))),
        );
    }
    Ok(out)
}

fn laddr_group(ctx: &Ctx, n: &Node) -> R<Vec<IpAddr>> {
    let b = path("", n);
    let mut out = Vec::new();
    for e in ctx.block(n, "")? {
        // DPVS writes `IP DEVICE`; the device is the DPDK port, ignored here.
        let ips = addr_range(e.keyword())
            .ok_or_else(|| ctx.err(e, &b, ErrorKind::BadAddress(e.keyword().to_string())))?;
        out.extend(ips);
    }
    Ok(out)
}

// ---- virtual_server ----

/// Checker timing settings written at the virtual-server or real-server level.
#[derive(Debug, Clone, Copy, Default)]
struct Inherit {
    delay_loop: Option<Duration>,
    connect_timeout: Option<Duration>,
    retry: Option<u32>,
    delay_before_retry: Option<Duration>,
    alpha: Option<bool>,
}

impl Inherit {
    /// Handle a timing keyword shared by virtual_server, real_server and checkers.
    fn keyword(&mut self, ctx: &Ctx, e: &Node, b: &str) -> R<bool> {
        match e.keyword() {
            "delay_loop" => self.delay_loop = Some(ctx.secs(e, b, 1, 86400 * 365)?),
            "connect_timeout" => self.connect_timeout = Some(ctx.secs(e, b, 1, 86400)?),
            "retry" | "nb_get_retry" | "nb_sock_retry" => {
                self.retry = Some(ctx.u32(e, b, 1, 0, u32::MAX)?)
            }
            "delay_before_retry" => self.delay_before_retry = Some(ctx.secs(e, b, 1, 86400)?),
            "alpha" => self.alpha = Some(bool_opt(ctx, e, b)?),
            "no_alpha" => self.alpha = Some(false),
            "warmup" => {}
            _ => return Ok(false),
        }
        Ok(true)
    }

    fn over(self, parent: Inherit) -> Inherit {
        Inherit {
            delay_loop: self.delay_loop.or(parent.delay_loop),
            connect_timeout: self.connect_timeout.or(parent.connect_timeout),
            retry: self.retry.or(parent.retry),
            delay_before_retry: self.delay_before_retry.or(parent.delay_before_retry),
            alpha: self.alpha.or(parent.alpha),
        }
    }
}

fn forward(ctx: &Ctx, n: &Node, b: &str) -> R<ForwardMethod> {
    let v = ctx.arg(n, b, 1)?;
    match v.to_ascii_uppercase().as_str() {
        "NAT" | "MASQ" => Ok(ForwardMethod::Masq),
        "DR" => Ok(ForwardMethod::Route),
        "TUN" => Ok(ForwardMethod::Tunnel(TunnelKind::Ipip)),
        "FNAT" | "FULLNAT" => Ok(ForwardMethod::FullNat),
        _ => Err(ctx.err(
            n,
            b,
            ErrorKind::BadValue {
                value: v.to_string(),
                expected: "NAT, DR, TUN, FNAT",
            },
        )),
    }
}

/// `tun_type ipip|gue|gre`, `tun_port`, `tun_flags` settings.
#[derive(Debug, Clone, Copy, Default)]
struct Tun {
    kind: Option<&'static str>,
    port: Option<u16>,
    csum: Option<TunnelCsum>,
}

impl Tun {
    fn keyword(&mut self, ctx: &Ctx, e: &Node, b: &str) -> R<bool> {
        match e.keyword() {
            "tun_type" => {
                self.kind = Some(ctx.choice(
                    e,
                    b,
                    1,
                    &[("ipip", "ipip"), ("gue", "gue"), ("gre", "gre")],
                    "ipip, gue, gre",
                )?)
            }
            "tun_port" => self.port = Some(ctx.port(e, b, 1)?),
            "tun_flags" => {
                self.csum = Some(ctx.choice(
                    e,
                    b,
                    1,
                    &[
                        ("nocsum", TunnelCsum::NoCsum),
                        ("csum", TunnelCsum::Csum),
                        ("remcsum", TunnelCsum::RemCsum),
                    ],
                    "nocsum, csum, remcsum",
                )?)
            }
            _ => return Ok(false),
        }
        Ok(true)
    }

    fn over(self, p: Tun) -> Tun {
        Tun {
            kind: self.kind.or(p.kind),
            port: self.port.or(p.port),
            csum: self.csum.or(p.csum),
        }
    }

    fn apply(self, ctx: &Ctx, n: &Node, b: &str, f: ForwardMethod) -> R<ForwardMethod> {
        let ForwardMethod::Tunnel(_) = f else {
            return Ok(f);
        };
        let csum = self.csum.unwrap_or_default();
        Ok(ForwardMethod::Tunnel(match self.kind.unwrap_or("ipip") {
            "gue" => {
                let port = self.port.filter(|p| *p != 0).ok_or_else(|| {
                    ctx.err(
                        n,
                        b,
                        ErrorKind::Invalid("tun_type gue needs tun_port".into()),
                    )
                })?;
                TunnelKind::Gue { port, csum }
            }
            "gre" => {
                if csum == TunnelCsum::RemCsum {
                    return Err(ctx.err(n, b, ErrorKind::Invalid("gre has no remcsum".into())));
                }
                TunnelKind::Gre { csum }
            }
            _ => TunnelKind::Ipip,
        }))
    }
}

fn virtual_server(
    ctx: &mut Ctx,
    n: &Node,
    groups: &[(String, Vec<ServiceKeyTemplate>)],
    laddr_groups: &[(String, Vec<IpAddr>)],
    cfg: &mut KeepalivedConfig,
) -> R<()> {
    let bp = path("", n);
    let b = bp.as_str();
    let (templates, group) = match ctx.arg(n, "", 1)? {
        "fwmark" => (
            vec![ServiceKeyTemplate::Fwmark(ctx.u32(
                n,
                "",
                2,
                1,
                u32::MAX,
            )?)],
            None,
        ),
        "group" => {
            let name = ctx.arg(n, "", 2)?;
            let members = groups
                .iter()
                .find(|(g, _)| g == name)
                .map(|(_, m)| m.clone())
                .ok_or_else(|| ctx.err(n, "", ErrorKind::Undefined(name.to_string())))?;
            (members, Some(name.to_string()))
        }
        _ => {
            let ip = ctx.ip(n, "", 1)?;
            let port = if n.nargs() >= 2 {
                ctx.port(n, "", 2)?
            } else {
                0
            };
            (
                vec![ServiceKeyTemplate::Addr(SocketAddr::new(ip, port))],
                None,
            )
        }
    };
    let mut protocol = Protocol::Tcp;
    let mut config = ServiceConfig::default();
    let mut fwd: Option<ForwardMethod> = None;
    let mut tun = Tun::default();
    let mut inherit = Inherit::default();
    let mut persistence_timeout: Option<u32> = None;
    let mut granularity: Option<(&Node, &str)> = None;
    let mut quorum = 1u32;
    let mut inhibit_vs: Option<bool> = None;
    let mut algo_set = false;
    let mut hysteresis = 0u32;
    let mut sorry: Option<(SocketAddr, bool, Option<ForwardMethod>)> = None;
    let mut omega = false;
    let mut quorum_up = None;
    let mut quorum_down = None;
    let mut family6 = false;
    let mut rs_nodes = Vec::new();
    for e in ctx.block(n, "")? {
        if inherit.keyword(ctx, e, b)? || tun.keyword(ctx, e, b)? {
            continue;
        }
        match e.keyword() {
            "lb_algo" => {
                algo_set = true;
                let v = ctx.arg(e, b, 1)?;
                config.scheduler = SchedulerKind::from_str(v).map_err(|_| {
                    ctx.err(
                        e,
                        b,
                        ErrorKind::BadValue {
                            value: v.to_string(),
                            expected: "rr, wrr, lc, wlc, sed, nq, fo, ovf, twos, dh, sh, lblc, lblcr, mh",
                        },
                    )
                })?;
            }
            "lb_kind" | "lvs_method" => fwd = Some(forward(ctx, e, b)?),
            "persistence_timeout" => {
                persistence_timeout = Some(if e.nargs() == 0 {
                    lvs_core::service::DEFAULT_PERSISTENT_TIMEOUT
                } else {
                    ctx.u32(e, b, 1, 0, MAX_TIMEOUT)?
                })
            }
            "persistence_granularity" => granularity = Some((e, ctx.arg(e, b, 1)?)),
            "persistence_engine" => {
                // As ipvsadm --pe: a kernel module name, IP_VS_PENAME_MAXLEN = 16.
                let v = ctx.arg(e, b, 1)?;
                if v.is_empty()
                    || v.len() > 16
                    || !v.bytes().all(|c| c.is_ascii_alphanumeric() || c == b'_')
                {
                    return Err(ctx.err(
                        e,
                        b,
                        ErrorKind::BadValue {
                            value: v.to_string(),
                            expected: "a persistence engine name (1-16 letters, digits, _)",
                        },
                    ));
                }
                config.pe_name = Some(v.to_string());
            }
            "protocol" => {
                protocol = ctx.choice(
                    e,
                    b,
                    1,
                    &[
                        ("TCP", Protocol::Tcp),
                        ("tcp", Protocol::Tcp),
                        ("UDP", Protocol::Udp),
                        ("udp", Protocol::Udp),
                        ("SCTP", Protocol::Sctp),
                        ("sctp", Protocol::Sctp),
                    ],
                    "TCP, UDP, SCTP",
                )?
            }
            "ops" => config.one_packet = true,
            "sh-port" | "mh-port" | "flag-2" => config.sched_flags.0 |= SchedFlags::SCHED2,
            "sh-fallback" | "mh-fallback" | "flag-1" => config.sched_flags.0 |= SchedFlags::SCHED1,
            "flag-3" => config.sched_flags.0 |= SchedFlags::SCHED3,
            "quorum" => quorum = ctx.u32(e, b, 1, 1, u32::MAX)?,
            "hysteresis" => hysteresis = ctx.u32(e, b, 1, 0, u32::MAX)?,
            "quorum_up" => quorum_up = Some(e.rest()),
            "quorum_down" => quorum_down = Some(e.rest()),
            "sorry_server" => {
                let ip = ctx.ip(e, b, 1)?;
                let port = if e.nargs() >= 2 {
                    ctx.port(e, b, 2)?
                } else {
                    0
                };
                let (inh, m) = sorry.map_or((false, None), |s| (s.1, s.2));
                sorry = Some((SocketAddr::new(ip, port), inh, m));
            }
            "sorry_server_inhibit" => {
                let v = bool_opt(ctx, e, b)?;
                match &mut sorry {
                    Some(s) => s.1 = v,
                    None => {
                        sorry = Some((
                            SocketAddr::new(IpAddr::V4(Ipv4Addr::UNSPECIFIED), 0),
                            v,
                            None,
                        ))
                    }
                }
            }
            "sorry_server_lvs_method" => {
                let m = forward(ctx, e, b)?;
                match &mut sorry {
                    Some(s) => s.2 = Some(m),
                    None => {
                        sorry = Some((
                            SocketAddr::new(IpAddr::V4(Ipv4Addr::UNSPECIFIED), 0),
                            false,
                            Some(m),
                        ))
                    }
                }
            }
            "omega" => omega = true,
            "inhibit_on_failure" => inhibit_vs = Some(bool_opt(ctx, e, b)?),
            "ip_family" => family6 = ctx.arg(e, b, 1)? == "inet6",
            "laddr" => {
                let ip = ctx.ip(e, b, 1)?;
                if config.local_addrs.contains(&ip) {
                    ctx.warn(e, b, "duplicate local address, ignored");
                } else {
                    config.local_addrs.push(ip);
                }
            }
            "laddr_group_name" | "laddr_group" | "local_address_group" => {
                let name = ctx.arg(e, b, 1)?;
                let ips = laddr_groups
                    .iter()
                    .find(|(g, _)| g == name)
                    .map(|(_, a)| a.clone())
                    .ok_or_else(|| ctx.err(e, b, ErrorKind::Undefined(name.to_string())))?;
                for ip in ips {
                    if !config.local_addrs.contains(&ip) {
                        config.local_addrs.push(ip);
                    }
                }
            }
            "real_server" => rs_nodes.push(e),
            "virtualhost" | "ha_suspend" | "smtp_alert" | "syn_proxy" | "retry_delay" => {}
            _ => ctx.unknown(e, b),
        }
    }
    // check_data.c validate_check_config(): missing lb_algo / lb_kind default to wlc / NAT
    // with a warning.
    if !algo_set {
        ctx.warn(n, "", "no scheduler set, setting default 'wlc'");
    }
    if fwd.is_none() && !rs_nodes.is_empty() {
        ctx.warn(n, "", "no forwarding method set, setting default NAT");
    }
    let fwd_vs = tun.apply(ctx, n, "", fwd.unwrap_or(ForwardMethod::Masq))?;
    let delay_loop = inherit.delay_loop.unwrap_or(DEFAULT_DELAY_LOOP);
    let inherit = Inherit {
        delay_loop: Some(delay_loop),
        ..inherit
    };
    // The virtual servers this block defines (one per group member).
    for t in &templates {
        let key = match *t {
            ServiceKeyTemplate::Addr(addr) => ServiceKey::Addr { protocol, addr },
            ServiceKeyTemplate::Fwmark(mark) => ServiceKey::Fwmark {
                mark,
                family: AddressFamily::Ipv4,
            },
        };
        let mut real_servers = Vec::new();
        for rn in &rs_nodes {
            let defaults = RsDefaults {
                fwd: fwd_vs,
                tun,
                inherit,
                inhibit: inhibit_vs,
            };
            let rs = real_server(ctx, rn, b, key, defaults)?;
            // check_data.c: a duplicated real server is removed (second one dropped).
            if real_servers
                .iter()
                .any(|r: &RealServer| r.dest.addr == rs.dest.addr)
            {
                ctx.warn(rn, b, "real server is duplicated - removing second rs");
                continue;
            }
            real_servers.push(rs);
        }
        let key = match key {
            ServiceKey::Fwmark { mark, .. } => ServiceKey::Fwmark {
                mark,
                family: if family6 || real_servers.iter().any(|r| r.dest.addr.is_ipv6()) {
                    AddressFamily::Ipv6
                } else {
                    AddressFamily::Ipv4
                },
            },
            k => k,
        };
        let mut config = config.clone();
        let fam = key.family();
        if config
            .local_addrs
            .iter()
            .any(|a| AddressFamily::of(*a) != fam)
        {
            return Err(ctx.err(
                n,
                "",
                ErrorKind::Invalid(
                    "a local address (laddr) is not in the virtual server's address family".into(),
                ),
            ));
        }
        match persistence_timeout {
            Some(0) | None => {
                if let Some((g, _)) = granularity {
                    ctx.warn(
                        g,
                        b,
                        "persistence_granularity without persistence_timeout, ignored",
                    );
                }
            }
            Some(t) => {
                let netmask = match granularity {
                    None => PersistMask::default_for(fam),
                    Some((g, v)) => match (fam, v.parse::<Ipv4Addr>(), v.parse::<u8>()) {
                        (AddressFamily::Ipv4, Ok(m), _) => PersistMask::V4(m),
                        (AddressFamily::Ipv6, _, Ok(p)) if (1..=128).contains(&p) => {
                            PersistMask::V6(p)
                        }
                        _ => {
                            return Err(ctx.err(
                                g,
                                b,
                                ErrorKind::BadValue {
                                    value: v.to_string(),
                                    expected: "an IPv4 netmask or an IPv6 prefix length 1..128",
                                },
                            ));
                        }
                    },
                };
                config.persistence = Some(Persistence {
                    timeout: t,
                    netmask,
                });
            }
        }
        if config.one_packet
            && matches!(key, ServiceKey::Addr { protocol: p, .. } if p != Protocol::Udp)
        {
            ctx.warn(n, "", "ops is only for UDP and fwmark services, ignored");
            config.one_packet = false;
        }
        if let ServiceKey::Addr { addr, .. } = key
            && addr.port() == 0
            && config.persistence.is_none()
        {
            return Err(ctx.err(
                n,
                "",
                ErrorKind::Invalid("port 0 needs persistence_timeout".into()),
            ));
        }
        let sorry_server = match sorry {
            None => None,
            Some((a, _, _)) if a.ip().is_unspecified() => {
                ctx.warn(n, "", "sorry_server options without sorry_server, ignored");
                None
            }
            Some((mut a, inhibit, m)) => {
                let forward = m.unwrap_or(fwd_vs);
                if key.is_fwmark() {
                    a.set_port(0);
                } else if a.port() == 0 || !forward.maps_ports() {
                    a.set_port(key.port());
                }
                Some(SorryServer {
                    dest: DestConfig {
                        forward,
                        ..DestConfig::new(a)
                    },
                    inhibit,
                })
            }
        };
        cfg.virtual_servers.push(super::VirtualServer {
            key,
            config,
            real_servers,
            delay_loop,
            quorum,
            hysteresis,
            sorry_server,
            alpha: inherit.alpha.unwrap_or(false),
            omega,
            quorum_up: quorum_up.clone(),
            quorum_down: quorum_down.clone(),
            group: group.clone(),
            line: n.line(),
        });
    }
    Ok(())
}

/// What a real server inherits from its virtual server.
#[derive(Debug, Clone, Copy)]
struct RsDefaults {
    fwd: ForwardMethod,
    tun: Tun,
    inherit: Inherit,
    inhibit: Option<bool>,
}

fn real_server(
    ctx: &mut Ctx,
    n: &Node,
    parent: &str,
    key: ServiceKey,
    vs: RsDefaults,
) -> R<RealServer> {
    let b = path(parent, n);
    let ip = ctx.ip(n, parent, 1)?;
    let mut port = if n.nargs() >= 2 {
        ctx.port(n, parent, 2)?
    } else {
        0
    };
    let mut dest = DestConfig::new(SocketAddr::new(ip, 0));
    let mut fwd = None;
    let mut tun = Tun::default();
    let mut inherit = Inherit::default();
    let mut inhibit = vs.inhibit.unwrap_or(false);
    let mut notify_up = None;
    let mut notify_down = None;
    let mut checker_nodes = Vec::new();
    for e in ctx.block(n, parent)? {
        if inherit.keyword(ctx, e, &b)? || tun.keyword(ctx, e, &b)? {
            continue;
        }
        match e.keyword() {
            "weight" => dest.weight = ctx.u32(e, &b, 1, 0, MAX_WEIGHT)?,
            "uthreshold" => dest.u_threshold = ctx.u32(e, &b, 1, 0, MAX_THRESHOLD)?,
            "lthreshold" => dest.l_threshold = ctx.u32(e, &b, 1, 0, MAX_THRESHOLD)?,
            "inhibit_on_failure" => inhibit = bool_opt(ctx, e, &b)?,
            "notify_up" => notify_up = Some(e.rest()),
            "notify_down" => notify_down = Some(e.rest()),
            "lb_kind" | "lvs_method" => fwd = Some(forward(ctx, e, &b)?),
            "TCP_CHECK" | "HTTP_GET" | "SSL_GET" | "MISC_CHECK" => checker_nodes.push(e),
            "virtualhost" | "smtp_alert" | "log_all_failures" => {}
            _ => ctx.unknown(e, &b),
        }
    }
    if dest.l_threshold > dest.u_threshold {
        return Err(ctx.err(
            n,
            parent,
            ErrorKind::Invalid(format!(
                "lthreshold {} above uthreshold {} (the kernel refuses it, ERANGE)",
                dest.l_threshold, dest.u_threshold
            )),
        ));
    }
    dest.forward = match fwd {
        Some(f) => tun.over(vs.tun).apply(ctx, n, parent, f)?,
        None => vs.fwd,
    };
    // check_data.c validate_check_config(): DR/TUN real servers use the virtual port.
    if key.is_fwmark() {
        // ipvsadm: a fwmark service's real server port defaults to 0 when not given.
    } else if !dest.forward.maps_ports() {
        if port != 0 && port != key.port() {
            ctx.warn(
                n,
                parent,
                "virtual server and real server ports don't match - resetting",
            );
        }
        port = key.port();
    } else if port == 0 {
        port = key.port();
    }
    dest.addr.set_port(port);
    if key.family() != AddressFamily::of(ip) && !key.is_fwmark() {
        return Err(ctx.err(
            n,
            parent,
            ErrorKind::Invalid("real server and virtual server address families differ".into()),
        ));
    }
    let inh = inherit.over(vs.inherit);
    let mut checkers = Vec::new();
    for c in checker_nodes {
        checkers.push(checker(ctx, c, &b, inh)?);
    }
    Ok(RealServer {
        dest,
        inhibit_on_failure: inhibit,
        checkers,
        notify_up,
        notify_down,
        line: n.line(),
    })
}

fn conn_keyword(ctx: &Ctx, e: &Node, b: &str, c: &mut ConnectOpts) -> R<bool> {
    match e.keyword() {
        "connect_ip" => c.connect_ip = Some(ctx.ip(e, b, 1)?),
        "connect_port" => c.connect_port = Some(ctx.port(e, b, 1)?),
        "bindto" => c.bindto = Some(ctx.ip(e, b, 1)?),
        "bind_port" => c.bind_port = Some(ctx.port(e, b, 1)?),
        _ => return Ok(false),
    }
    Ok(true)
}

fn checker(ctx: &mut Ctx, n: &Node, parent: &str, inherit_rs: Inherit) -> R<CheckerConfig> {
    let b = path(parent, n);
    let kw = n.keyword();
    let mut conn = ConnectOpts::default();
    let mut own = Inherit::default();
    let mut urls = Vec::new();
    let mut virtualhost = None;
    let mut misc_path = None;
    let mut misc_timeout = None;
    let mut misc_dynamic = false;
    let body: &[Node] = n.block.as_deref().unwrap_or_default();
    for e in body {
        if own.keyword(ctx, e, &b)? || conn_keyword(ctx, e, &b, &mut conn)? {
            continue;
        }
        match (kw, e.keyword()) {
            ("HTTP_GET" | "SSL_GET", "url") => urls.push(url(ctx, e, &b)?),
            ("HTTP_GET" | "SSL_GET", "virtualhost") => {
                virtualhost = Some(ctx.arg(e, &b, 1)?.to_string())
            }
            ("MISC_CHECK", "misc_path") => misc_path = Some(e.rest()),
            ("MISC_CHECK", "misc_timeout") => misc_timeout = Some(ctx.secs(e, &b, 1, 86400)?),
            ("MISC_CHECK", "misc_dynamic") => misc_dynamic = true,
            (_, "log_all_failures" | "http_protocol" | "enable_sni" | "user") => {}
            _ => ctx.unknown(e, &b),
        }
    }
    let inh = own.over(inherit_rs);
    let delay_loop = inh.delay_loop.unwrap_or(DEFAULT_DELAY_LOOP);
    conn.connect_timeout = inh.connect_timeout.unwrap_or(DEFAULT_CONNECT_TIMEOUT);
    let (kind, retry, dbr) = match kw {
        "TCP_CHECK" => (
            CheckKind::Tcp(conn),
            DEFAULT_RETRY,
            DEFAULT_DELAY_BEFORE_RETRY,
        ),
        "MISC_CHECK" => {
            let misc_path = misc_path.ok_or_else(|| {
                ctx.err(
                    n,
                    parent,
                    ErrorKind::Invalid("MISC_CHECK without misc_path".into()),
                )
            })?;
            (
                CheckKind::Misc {
                    misc_path,
                    misc_timeout: misc_timeout.unwrap_or(delay_loop),
                    misc_dynamic,
                },
                0,
                DEFAULT_DELAY_BEFORE_RETRY,
            )
        }
        _ => {
            if urls.is_empty() {
                return Err(ctx.err(n, parent, ErrorKind::Invalid("no url".into())));
            }
            (
                CheckKind::Http {
                    conn,
                    tls: kw == "SSL_GET",
                    urls,
                    virtualhost,
                },
                DEFAULT_RETRY,
                DEFAULT_HTTP_DELAY_BEFORE_RETRY,
            )
        }
    };
    Ok(CheckerConfig {
        kind,
        delay_loop,
        retry: inh.retry.unwrap_or(retry),
        delay_before_retry: inh.delay_before_retry.unwrap_or(dbr),
        alpha: inh.alpha.unwrap_or(false),
    })
}

fn url(ctx: &mut Ctx, n: &Node, parent: &str) -> R<UrlCheck> {
    let b = path(parent, n);
    let mut u = UrlCheck::new("");
    let mut codes: Option<StatusCodes> = None;
    for e in ctx.block(n, parent)? {
        match e.keyword() {
            "path" => u.path = ctx.arg(e, &b, 1)?.to_string(),
            "digest" => {
                let v = ctx.arg(e, &b, 1)?;
                u.digest = Some(parse_digest(v).ok_or_else(|| {
                    ctx.err(
                        e,
                        &b,
                        ErrorKind::BadValue {
                            value: v.to_string(),
                            expected: "32 hex digits (MD5)",
                        },
                    )
                })?);
            }
            "status_code" => {
                let set = codes.get_or_insert_with(StatusCodes::empty);
                for i in 1..=e.nargs() {
                    let v = ctx.arg(e, &b, i)?;
                    let (lo, hi) = v.split_once('-').unwrap_or((v, v));
                    let (Ok(lo), Ok(hi)) = (lo.parse::<u16>(), hi.parse::<u16>()) else {
                        return Err(ctx.err(e, &b, ErrorKind::NotANumber(v.to_string())));
                    };
                    if !set.insert_range(lo, hi) {
                        return Err(ctx.err(
                            e,
                            &b,
                            ErrorKind::OutOfRange {
                                value: v.to_string(),
                                min: 100,
                                max: 599,
                            },
                        ));
                    }
                }
                if e.nargs() == 0 {
                    return Err(ctx.err(e, &b, ErrorKind::MissingArgument));
                }
            }
            "virtualhost" => u.virtualhost = Some(ctx.arg(e, &b, 1)?.to_string()),
            _ => ctx.unknown(e, &b),
        }
    }
    if u.path.is_empty() {
        return Err(ctx.err(n, parent, ErrorKind::Invalid("url without path".into())));
    }
    if let Some(c) = codes {
        u.status_codes = c;
    }
    Ok(u)
}
