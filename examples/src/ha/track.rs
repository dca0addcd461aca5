//! keepalived's `track_file` and `track_process` trackers (keepalived 2.2.x:
//! keepalived/trackers/track_file.c, keepalived/core/track_process.c,
//! keepalived/vrrp/vrrp_track.c), as tracked objects of lvs-vrrp's [`lvs_vrrp::VrrpInstance`]s.
//!
//! # track_file
//! `vrrp_track_file NAME { file PATH; weight W [reverse]; init_file [VALUE] [overwrite] }`
//! (also spelled `track_file NAME { }` at top level, keepalived 2.2's name) and, in a
//! `vrrp_instance`, `track_file { NAME [weight W [reverse|noreverse]] }`. The file holds an
//! integer, read like keepalived's `strtol(buf, NULL, 0)` on its first 127 bytes (leading
//! blanks, sign, `0x` hex, `0` octal; no digits = 0; a missing or unreadable file = 0; a
//! value that overflows `long` or `int` is logged "Invalid number ... - ignoring" and the
//! previous value kept). Each instance entry is one lvs-vrrp variable-weight tracked object
//! ([`lvs_vrrp::TrackFileWeight`], named after the block) and every value read is handed to
//! it ([`lvs_vrrp::VrrpInstance::set_track_value`]), which applies keepalived's rules
//! ([`lvs_vrrp::TrackStatus::of_value`]):
//! - weight 0: a non-zero value puts the instance in FAULT, 0 clears it (`reverse`: the
//!   other way round);
//! - weight W: the status `value * W` (negated with `reverse`) is clamped to -254..=253;
//!   -254 means FAULT, anything else is added to the priority (clamped to 1..=254, 255 never
//!   adjusted, as vrrp_set_effective_priority() does).
//!
//! keepalived is told of changes by inotify (IN_CLOSE_WRITE / IN_MOVED_TO, and a deleted or
//! moved-away file reads as 0). Here the file is **polled** every [`TRACK_POLL_INTERVAL`]
//! (250 ms; reading one small file, cheaper than the 150 ms sysfs link polling of
//! `track_interface` is frequent): a change is seen at most 250 ms late, and a value written
//! and overwritten within one period is missed (inotify would see both). Write track files
//! atomically (write a temporary file, then rename it over the track file), as for keepalived.
//! `init_file` writes `VALUE\n` (default 0) when the runner starts, if the file is missing,
//! or always with `overwrite` (then only over a regular file), like track_file_end_handler().
//!
//! # track_process
//! `vrrp_track_process NAME { process PROCNAME [PARAMS...]; param_match exact|partial|initial;
//! weight W [reverse]; quorum N; quorum_max M; fork_delay S; terminate_delay S; delay S;
//! full_command }` and `track_process { NAME [weight W [reverse|noreverse]] }`. keepalived
//! counts the processes with the netlink proc connector (fork / exec / comm / exit events)
//! after one initial scan of /proc. Here /proc is **scanned** every [`TRACK_POLL_INTERVAL`]:
//! `/proc/PID/stat` for the name (comm, 15 characters at most), the state (zombies are not
//! counted) and the parent, `/proc/PID/cmdline` when `full_command` (or parameters) ask for
//! the command line ([`process_matches`], keepalived's check_params()). The differences of
//! two scans are fed to the same rules as keepalived's events ([`ProcessTracker`]):
//! - a new matching process whose parent is a matching process is a *fork*: when it takes the
//!   count to `quorum` (or past `quorum_max`) the change waits `fork_delay`, unless a
//!   `terminate_delay` timer is pending, which it cancels; any other new one (an exec) acts
//!   at once and cancels a pending terminate timer;
//! - a matching process that is gone is an *exit*: when it takes the count below `quorum`
//!   (or back to `quorum_max`) the change waits `terminate_delay`, unless a fork timer is
//!   pending, which it cancels (and the state is re-evaluated at once); one still alive but no
//!   longer matching (exec, comm change) acts at once.
//!
//! The process set is up ("have quorum") while `quorum <= count <= quorum_max` (defaults 1
//! and unlimited; `quorum_max 0` means "must not run"). Per tracking instance: weight 0 = FAULT
//! while down (`reverse`: while up); weight W adds `W` (negated with `reverse`) while up if
//! W > 0, while down if W < 0 (process_update_track_process_status()).
//!
//! # As lvs-vrrp tracked objects
//! A `track_file` entry is one variable-weight object of the instance's
//! [`lvs_vrrp::VrrpConfig::track_file`], started with the value read when the runner starts
//! (so a file that already means FAULT starts the instance in FAULT, as keepalived's
//! initialise_vrrp_file_tracking_priorities() does). A `track_process` entry has a fixed
//! weight in keepalived too (up or down with the quorum), so it is one fixed-weight object
//! ([`TrackWeight`]) named `track_process NAME` with weight `W` (negated with `reverse`,
//! clamped to -253..=253: the same priority after the 1..=254 clamp), reported up while
//! quorum XOR reverse. The name holds a space, which no keepalived.conf name can, so it never
//! clashes with a script or an interface.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use lvs_vrrp::TrackWeight;

use crate::keepalived::TrackRef;

/// How often track files are read and /proc is scanned.
pub const TRACK_POLL_INTERVAL: Duration = Duration::from_millis(250);

/// `init_file [VALUE] [overwrite]` of a track file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct TrackFileInit {
    /// The value written (default 0).
    pub value: i32,
    /// `overwrite`: write it even when the file exists (a regular file only).
    pub overwrite: bool,
}

/// A `vrrp_track_file NAME { }` block (keepalived defaults: weight 1, no reverse).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrackFile {
    /// The name `track_file` entries refer to.
    pub name: String,
    /// `file PATH`.
    pub path: PathBuf,
    /// `weight W`, -254..=254 (default 1): the default of the instances' entries.
    pub weight: i32,
    /// `weight W reverse`.
    pub reverse: bool,
    /// `init_file`.
    pub init: Option<TrackFileInit>,
}

impl TrackFile {
    /// A track file with keepalived's defaults (weight 1).
    pub fn new(name: &str, path: impl Into<PathBuf>) -> Self {
        TrackFile {
            name: name.into(),
            path: path.into(),
            weight: 1,
            reverse: false,
            init: None,
        }
    }
}

/// How a `track_process`'s parameters are compared (`param_match`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ParamMatch {
    /// No parameters given and no `param_match`: only the name is compared.
    #[default]
    None,
    /// `param_match exact` (the default when parameters are given): the same parameters, no
    /// more.
    Exact,
    /// `param_match partial`: the given parameters first, more allowed.
    Partial,
    /// `param_match initial`: as partial, and the last given parameter may be a prefix.
    Initial,
}

/// A `vrrp_track_process NAME { }` block (keepalived defaults: quorum 1, quorum_max
/// unlimited, weight 0, no delays).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrackProcess {
    /// The name `track_process` entries refer to.
    pub name: String,
    /// `process PROCNAME`: compared with the process's comm (15 characters at most), or with
    /// argv\[0\] under `full_command`.
    pub process: String,
    /// The parameters after PROCNAME (giving any sets `full_command` and, by default,
    /// `param_match exact`).
    pub params: Vec<String>,
    /// `param_match`.
    pub param_match: ParamMatch,
    /// `weight W`, -254..=254 (default 0).
    pub weight: i32,
    /// `weight W reverse`.
    pub reverse: bool,
    /// `quorum N` (default 1).
    pub quorum: u32,
    /// `quorum_max M` (default unlimited, `u32::MAX`).
    pub quorum_max: u32,
    /// `fork_delay S` (or `delay S`).
    pub fork_delay: Duration,
    /// `terminate_delay S` (or `delay S`).
    pub terminate_delay: Duration,
    /// `full_command`: match argv\[0\] of /proc/PID/cmdline instead of comm.
    pub full_command: bool,
}

impl TrackProcess {
    /// A process tracker with keepalived's defaults.
    pub fn new(name: &str, process: &str) -> Self {
        TrackProcess {
            name: name.into(),
            process: process.into(),
            params: Vec::new(),
            param_match: ParamMatch::None,
            weight: 0,
            reverse: false,
            quorum: 1,
            quorum_max: u32::MAX,
            fork_delay: Duration::ZERO,
            terminate_delay: Duration::ZERO,
            full_command: false,
        }
    }

    /// True when `count` matching processes make the quorum.
    pub fn in_quorum(&self, count: u32) -> bool {
        count >= self.quorum && count <= self.quorum_max
    }
}

/// The `vrrp_track_file` and `vrrp_track_process` blocks a runner knows.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Trackers {
    /// Track files.
    pub files: Vec<TrackFile>,
    /// Tracked processes.
    pub processes: Vec<TrackProcess>,
}

// ---- track_file ----

/// keepalived's `strtol(buf, NULL, 0)` of a track file's content (its first 127 bytes):
/// `Some(value)`, 0 when there are no digits; `None` when the number overflows `long` or does
/// not fit an `int` (keepalived logs "Invalid number ... - ignoring" and keeps the old value).
pub fn parse_track_value(buf: &[u8]) -> Option<i64> {
    let buf = buf.get(..buf.len().min(127)).unwrap_or(buf);
    let mut i = buf
        .iter()
        .position(|b| !matches!(b, b' ' | b'\t' | b'\n' | b'\r' | 0x0b | 0x0c))
        .unwrap_or(buf.len());
    let mut neg = false;
    if let Some(&c @ (b'+' | b'-')) = buf.get(i) {
        neg = c == b'-';
        i += 1;
    }
    let digit = |b: u8, radix: u32| char::from(b).to_digit(radix);
    let mut radix = 10;
    if buf.get(i) == Some(&b'0') {
        if matches!(buf.get(i + 1), Some(b'x' | b'X'))
            && buf.get(i + 2).is_some_and(|&b| digit(b, 16).is_some())
        {
            radix = 16;
            i += 2;
        } else {
            radix = 8;
        }
    }
    let mut v: i128 = 0;
    while let Some(d) = buf.get(i).and_then(|&b| digit(b, radix)) {
        v = v * i128::from(radix) + i128::from(d);
        if v > i128::from(i64::MAX) + 1 {
            return None; // ERANGE
        }
        i += 1;
    }
    let v = if neg { -v } else { v };
    let v = i64::try_from(v).ok()?;
    if i32::try_from(v).is_err() {
        return None;
    }
    Some(v)
}

/// Reads a track file as keepalived's process_track_file() does: missing, unreadable or
/// empty = `Some(0)`; otherwise [`parse_track_value`].
pub fn read_track_file(path: &Path) -> Option<i64> {
    use std::io::Read;
    let Ok(mut f) = std::fs::File::open(path) else {
        return Some(0);
    };
    let mut buf = [0u8; 127];
    match f.read(&mut buf) {
        Ok(n) if n > 0 => parse_track_value(buf.get(..n).unwrap_or(&[])),
        _ => Some(0),
    }
}

/// Writes `init_file`'s value (track_file_end_handler()): when the file is missing, or with
/// `overwrite` when it is a regular file.
///
/// # Errors
/// The write failed, or `overwrite` over something that is not a regular file.
pub fn init_track_file(path: &Path, init: TrackFileInit) -> std::io::Result<()> {
    match std::fs::metadata(path) {
        Ok(_) if !init.overwrite => return Ok(()),
        Ok(m) if !m.is_file() => {
            return Err(std::io::Error::other("it is not a regular file"));
        }
        _ => {}
    }
    std::fs::write(path, format!("{}\n", init.value))
}

// ---- track_process ----

/// The lvs-vrrp object name of a `track_process` entry.
pub fn process_object(name: &str) -> String {
    format!("track_process {name}")
}

/// The lvs-vrrp tracked object of a `track_process` entry: weight `weight` (negated with
/// `reverse`, clamped to -253..=253), reported up while `have_quorum != reverse`
/// ([`process_object_up`]).
pub fn process_track_weight(name: &str, weight: i32, reverse: bool) -> TrackWeight {
    let w = if reverse {
        weight.saturating_neg()
    } else {
        weight
    };
    TrackWeight {
        name: process_object(name),
        weight: w.clamp(-253, 253),
    }
}

/// The state to report for a `track_process` object: keepalived adds `W * mult` while up
/// when W > 0 and while down when W < 0, and (weight 0) is in FAULT while `have_quorum ==
/// reverse`; with lvs-vrrp's rule (positive weights add while up, negative while down, 0 =
/// FAULT while down) that is `have_quorum XOR reverse`.
pub fn process_object_up(have_quorum: bool, reverse: bool) -> bool {
    have_quorum != reverse
}

/// True when `name` is one of this module's fixed-weight object names (a `track_process`
/// entry; not an interface or a script).
pub fn is_tracker_object(name: &str) -> bool {
    name.starts_with("track_process ")
}

/// One process as a /proc scan sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProcInfo {
    /// PID.
    pub pid: u32,
    /// Parent PID.
    pub ppid: u32,
    /// comm (/proc/PID/stat field 2).
    pub comm: String,
    /// /proc/PID/cmdline (NUL-separated argv with a final NUL), empty unless asked for.
    pub cmdline: Vec<u8>,
}

/// keepalived's match of one process (read_procs() / check_process() and check_params()):
/// the name is comm, or argv\[0\] under `full_command`; parameters compare the NUL-joined
/// argv\[1..\] as `param_match` says.
pub fn process_matches(def: &TrackProcess, p: &ProcInfo) -> bool {
    let (name, rest): (&[u8], &[u8]) = if def.full_command {
        match p.cmdline.iter().position(|&b| b == 0) {
            Some(i) => (
                p.cmdline.get(..i).unwrap_or(&[]),
                p.cmdline.get(i + 1..).unwrap_or(&[]),
            ),
            None => (&p.cmdline, &[]),
        }
    } else {
        (p.comm.as_bytes(), &[])
    };
    if name != def.process.as_bytes() {
        return false;
    }
    if def.param_match == ParamMatch::None {
        return true;
    }
    let mut want = Vec::new();
    for a in &def.params {
        want.extend_from_slice(a.as_bytes());
        want.push(0);
    }
    if def.param_match == ParamMatch::Exact && want.is_empty() && rest.is_empty() {
        return true;
    }
    if rest.len() < want.len() {
        return false;
    }
    match def.param_match {
        ParamMatch::Exact => rest == want.as_slice(),
        _ if want.is_empty() => true,
        ParamMatch::Partial => rest.starts_with(&want),
        // The last parameter may be a prefix: compare without the final NUL.
        _ => rest.starts_with(want.get(..want.len() - 1).unwrap_or(&[])),
    }
}

/// Scans /proc: every process that is not a zombie, with its command line when
/// `cmdline` is true. Processes that vanish during the scan are skipped.
pub fn scan_proc(cmdline: bool) -> Vec<ProcInfo> {
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for e in dir.flatten() {
        let Some(pid) = e.file_name().to_str().and_then(|s| s.parse::<u32>().ok()) else {
            continue;
        };
        let Ok(stat) = std::fs::read(format!("/proc/{pid}/stat")) else {
            continue;
        };
        let Some(p) = parse_stat(pid, &stat) else {
            continue;
        };
        let p = if cmdline {
            match std::fs::read(format!("/proc/{pid}/cmdline")) {
                Ok(c) => ProcInfo { cmdline: c, ..p },
                Err(_) => continue,
            }
        } else {
            p
        };
        out.push(p);
    }
    out
}

/// `/proc/PID/stat`: `PID (COMM) STATE PPID ...`; `None` for a zombie or a malformed line.
fn parse_stat(pid: u32, stat: &[u8]) -> Option<ProcInfo> {
    let open = stat.iter().position(|&b| b == b'(')?;
    let close = stat.iter().rposition(|&b| b == b')')?;
    let comm = String::from_utf8_lossy(stat.get(open + 1..close)?).into_owned();
    let rest = std::str::from_utf8(stat.get(close + 1..)?).ok()?;
    let mut f = rest.split_ascii_whitespace();
    let state = f.next()?;
    if state == "Z" {
        return None;
    }
    let ppid = f.next()?.parse().ok()?;
    Some(ProcInfo {
        pid,
        ppid,
        comm,
        cmdline: Vec::new(),
    })
}

/// The counting state of one tracked process set: matching PIDs, quorum, pending fork /
/// terminate timers (see the module docs).
#[derive(Debug, Clone)]
pub struct ProcessTracker {
    /// The definition.
    pub def: TrackProcess,
    pids: BTreeMap<u32, u32>,
    have_quorum: bool,
    fork_timer: Option<Instant>,
    terminate_timer: Option<Instant>,
}

impl ProcessTracker {
    /// A tracker whose initial state comes from the scan `procs` (keepalived's initial
    /// read_procs(): no delays).
    pub fn new(def: TrackProcess, procs: &[ProcInfo]) -> Self {
        let pids: BTreeMap<u32, u32> = procs
            .iter()
            .filter(|p| process_matches(&def, p))
            .map(|p| (p.pid, p.ppid))
            .collect();
        let have_quorum = def.in_quorum(count(&pids));
        ProcessTracker {
            def,
            pids,
            have_quorum,
            fork_timer: None,
            terminate_timer: None,
        }
    }

    /// True while the process set has its quorum.
    pub fn have_quorum(&self) -> bool {
        self.have_quorum
    }

    /// Matching processes counted now.
    pub fn count(&self) -> u32 {
        count(&self.pids)
    }

    /// The pending fork_delay / terminate_delay deadline, if any.
    pub fn deadline(&self) -> Option<Instant> {
        [self.fork_timer, self.terminate_timer]
            .into_iter()
            .flatten()
            .min()
    }

    /// Applies a new scan at `now` (`alive(pid)`: the process still exists, so a PID that
    /// stopped matching without exiting is an exec / comm change) and fires due timers.
    /// Returns the new quorum state when it changed.
    pub fn update(
        &mut self,
        now: Instant,
        procs: &[ProcInfo],
        alive: impl Fn(u32) -> bool,
    ) -> Option<bool> {
        let before = self.have_quorum;
        let new: BTreeMap<u32, u32> = procs
            .iter()
            .filter(|p| process_matches(&self.def, p))
            .map(|p| (p.pid, p.ppid))
            .collect();
        let gone: Vec<u32> = self
            .pids
            .keys()
            .filter(|p| !new.contains_key(p))
            .copied()
            .collect();
        for pid in gone {
            let c_before = self.count();
            self.pids.remove(&pid);
            let c = self.count();
            if c_before == self.def.quorum || c == self.def.quorum_max {
                let up = c == self.def.quorum_max;
                if alive(pid) {
                    // Exec or comm change: check_process() / check_process_comm_change().
                    self.fork_timer = None;
                    self.set(up);
                } else if self.fork_timer.take().is_some() {
                    self.set(up);
                } else if !self.def.terminate_delay.is_zero() {
                    self.terminate_timer = Some(now + self.def.terminate_delay);
                } else {
                    self.set(up);
                }
            }
        }
        // New processes: execs before forks, as their events come (a parent before its
        // children).
        let mut added: Vec<(bool, u32, u32)> = new
            .iter()
            .filter(|(p, _)| !self.pids.contains_key(p))
            .map(|(&pid, &ppid)| (new.contains_key(&ppid), pid, ppid))
            .collect();
        added.sort_unstable();
        for (forked, pid, ppid) in added {
            self.pids.insert(pid, ppid);
            let c = self.count();
            if c == self.def.quorum || Some(c) == self.def.quorum_max.checked_add(1) {
                let up = c == self.def.quorum;
                if !forked {
                    self.terminate_timer = None;
                    self.set(up);
                } else if self.terminate_timer.take().is_some() {
                    self.set(up);
                } else if !self.def.fork_delay.is_zero() {
                    self.fork_timer = Some(now + self.def.fork_delay);
                } else {
                    self.set(up);
                }
            }
        }
        // process_gained_quorum_timer_thread() / process_lost_quorum_timer_thread().
        for t in [&mut self.fork_timer, &mut self.terminate_timer] {
            if t.is_some_and(|d| now >= d) {
                *t = None;
                self.have_quorum = self.def.in_quorum(count(&self.pids));
            }
        }
        (self.have_quorum != before).then_some(self.have_quorum)
    }

    fn set(&mut self, up: bool) {
        self.have_quorum = up;
    }
}

fn count(pids: &BTreeMap<u32, u32>) -> u32 {
    u32::try_from(pids.len()).unwrap_or(u32::MAX)
}

/// True while /proc/PID exists.
pub fn pid_alive(pid: u32) -> bool {
    Path::new(&format!("/proc/{pid}")).exists()
}

/// One instance's use of a tracker, with its weight and reverse resolved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Binding {
    /// Index of the instance.
    pub instance: usize,
    /// Index of the file / process tracker.
    pub tracker: usize,
    /// Index of the instance's lvs-vrrp object (`config.track_file` for files).
    pub object: usize,
    /// Resolved weight.
    pub weight: i32,
    /// Resolved reverse.
    pub reverse: bool,
}

/// Resolves an instance entry against its block: the entry's weight / reverse, else the
/// block's (vrrp_alloc_track_file(), alloc_track_process()).
pub(crate) fn resolve(r: &TrackRef, weight: i32, reverse: bool) -> (i32, bool) {
    (r.weight.unwrap_or(weight), r.reverse.unwrap_or(reverse))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn track_values_parse_like_strtol_base_0() {
        // strtol(buf, NULL, 0): blanks, sign, 0x hex, 0 octal, stops at the first non-digit,
        // no digits = 0.
        let cases: &[(&[u8], Option<i64>)] = &[
            (b"1\n", Some(1)),
            (b"  -42 trailing", Some(-42)),
            (b"+7", Some(7)),
            (b"0x1F", Some(31)),
            (b"0X10\n", Some(16)),
            (b"010", Some(8)),
            (b"09", Some(0)), // octal: stops at 9
            (b"0x", Some(0)), // "0" then "x"
            (b"abc", Some(0)),
            (b"", Some(0)),
            (b"\n", Some(0)),
            (b"2147483647", Some(2_147_483_647)),
            (b"-2147483648", Some(-2_147_483_648)),
            // Beyond int: "Invalid number ... - ignoring".
            (b"2147483648", None),
            (b"99999999999999999999999", None),
        ];
        for (buf, want) in cases {
            assert_eq!(
                parse_track_value(buf),
                *want,
                "{:?}",
                String::from_utf8_lossy(buf)
            );
        }
    }

    /// The state lvs-vrrp derives from one fixed-weight object reported `up`:
    /// (FAULT, priority contribution).
    fn vrrp_status(o: &TrackWeight, up: bool) -> (bool, i32) {
        let s = lvs_vrrp::TrackStatus::of_up_down(o.weight, up);
        (s.is_fault(), s.priority())
    }

    #[test]
    fn process_object_matches_keepalived_s_priority_rule() {
        // vrrp_track.c: contribution W * mult while (W > 0) == up ... i.e. added while up for
        // W > 0, while down for W < 0; weight 0 is FAULT while have_quorum == reverse.
        for w in [-40, 0, 25] {
            for reverse in [false, true] {
                let o = process_track_weight("P", w, reverse);
                let mult = if reverse { -1 } else { 1 };
                for q in [false, true] {
                    let (fault, sum) = vrrp_status(&o, process_object_up(q, reverse));
                    if w == 0 {
                        assert_eq!(fault, q == reverse, "w 0 reverse {reverse} q {q}");
                    } else {
                        let want = if (w > 0) == q { w * mult } else { 0 };
                        // keepalived's total is relative to the initial state; at quorum
                        // the difference between up and down is what matters.
                        let other = vrrp_status(&o, process_object_up(!q, reverse)).1;
                        let other_want = if (w > 0) != q { w * mult } else { 0 };
                        assert_eq!(sum - other, want - other_want, "w {w} rev {reverse} q {q}");
                        assert!(!fault);
                    }
                }
            }
        }
        assert_eq!(process_track_weight("P", 254, false).weight, 253);
        assert_eq!(process_track_weight("P", 254, true).weight, -253);
    }

    fn proc(pid: u32, ppid: u32, comm: &str, argv: &[&str]) -> ProcInfo {
        let mut cmdline = Vec::new();
        for a in argv {
            cmdline.extend_from_slice(a.as_bytes());
            cmdline.push(0);
        }
        ProcInfo {
            pid,
            ppid,
            comm: comm.into(),
            cmdline,
        }
    }

    #[test]
    fn process_match_follows_check_params() {
        let p = proc(
            10,
            1,
            "haproxy",
            &["/usr/sbin/haproxy", "-f", "/etc/h.cfg", "-D"],
        );
        let mut d = TrackProcess::new("P", "haproxy");
        assert!(process_matches(&d, &p), "comm");
        d.full_command = true;
        assert!(!process_matches(&d, &p), "argv[0] is the path");
        d.process = "/usr/sbin/haproxy".into();
        assert!(process_matches(&d, &p), "no param_match: name only");
        d.params = vec!["-f".into(), "/etc/h.cfg".into()];
        d.param_match = ParamMatch::Exact;
        assert!(!process_matches(&d, &p), "exact: -D is extra");
        d.param_match = ParamMatch::Partial;
        assert!(process_matches(&d, &p));
        d.params = vec!["-f".into(), "/etc/h".into()];
        assert!(!process_matches(&d, &p), "partial: whole parameters");
        d.param_match = ParamMatch::Initial;
        assert!(process_matches(&d, &p), "initial: last one a prefix");
        d.params = vec!["-f".into(), "/etc/h.cfg".into(), "-D".into()];
        d.param_match = ParamMatch::Exact;
        assert!(process_matches(&d, &p));
        // Exact without parameters: no parameters at all.
        d.params.clear();
        assert!(!process_matches(&d, &p));
        let bare = proc(11, 1, "haproxy", &["/usr/sbin/haproxy"]);
        assert!(process_matches(&d, &bare));
    }

    #[test]
    fn stat_lines_give_comm_ppid_and_skip_zombies() {
        let p = parse_stat(42, b"42 (a b) c) S 7 42 42 0").unwrap();
        assert_eq!((p.comm.as_str(), p.ppid), ("a b) c", 7));
        assert!(parse_stat(43, b"43 (z) Z 7 0").is_none());
        assert!(parse_stat(44, b"garbage").is_none());
    }

    fn scan(procs: &[(u32, u32)]) -> Vec<ProcInfo> {
        procs
            .iter()
            .map(|&(p, pp)| proc(p, pp, "svc", &[]))
            .collect()
    }

    #[test]
    fn exec_gains_quorum_at_once_and_fork_waits_fork_delay() {
        let t0 = Instant::now();
        let mut d = TrackProcess::new("P", "svc");
        d.quorum = 2;
        d.fork_delay = Duration::from_secs(2);
        let mut tr = ProcessTracker::new(d, &scan(&[(100, 1)]));
        assert!(!tr.have_quorum());
        // A second svc started from outside (parent 1, an exec): quorum at once.
        assert_eq!(
            tr.update(t0, &scan(&[(100, 1), (200, 1)]), |_| true),
            Some(true)
        );
        // It exits: below quorum (no terminate_delay): at once.
        assert_eq!(tr.update(t0, &scan(&[(100, 1)]), |_| false), Some(false));
        // svc 100 forks 101: the fork takes the count to quorum, fork_delay applies.
        let t1 = t0 + Duration::from_secs(1);
        assert_eq!(
            tr.update(t1, &scan(&[(100, 1), (101, 100)]), |_| true),
            None
        );
        assert_eq!(tr.deadline(), Some(t1 + Duration::from_secs(2)));
        let s = scan(&[(100, 1), (101, 100)]);
        assert_eq!(
            tr.update(t1 + Duration::from_millis(1999), &s, |_| true),
            None
        );
        assert_eq!(
            tr.update(t1 + Duration::from_secs(2), &s, |_| true),
            Some(true)
        );
        assert_eq!(tr.deadline(), None);
    }

    #[test]
    fn exit_waits_terminate_delay_and_a_return_cancels_it() {
        let t0 = Instant::now();
        let mut d = TrackProcess::new("P", "svc");
        d.terminate_delay = Duration::from_secs(3);
        d.fork_delay = Duration::from_secs(1);
        let mut tr = ProcessTracker::new(d, &scan(&[(100, 1)]));
        assert!(tr.have_quorum());
        // Exit: below quorum 1, the loss waits terminate_delay.
        assert_eq!(tr.update(t0, &[], |_| false), None);
        assert!(tr.have_quorum());
        // A restarted svc (exec) cancels the terminate timer: never down.
        let t1 = t0 + Duration::from_secs(1);
        assert_eq!(tr.update(t1, &scan(&[(300, 1)]), |_| true), None);
        assert_eq!(tr.deadline(), None);
        assert_eq!(
            tr.update(t0 + Duration::from_secs(5), &scan(&[(300, 1)]), |_| true),
            None
        );
        assert!(tr.have_quorum());
        // Exit again and stay away: down after exactly terminate_delay.
        let t2 = t0 + Duration::from_secs(10);
        assert_eq!(tr.update(t2, &[], |_| false), None);
        assert_eq!(
            tr.update(t2 + Duration::from_millis(2999), &[], |_| false),
            None
        );
        assert_eq!(
            tr.update(t2 + Duration::from_secs(3), &[], |_| false),
            Some(false)
        );
        // An exec of something else (alive, no longer matching) acts at once.
        let mut tr2 = ProcessTracker::new(tr.def.clone(), &scan(&[(400, 1)]));
        assert_eq!(tr2.update(t2, &[], |_| true), Some(false));
    }

    #[test]
    fn quorum_max_bounds_the_count_from_above() {
        let t0 = Instant::now();
        let mut d = TrackProcess::new("P", "svc");
        d.quorum = 1;
        d.quorum_max = 2;
        let mut tr = ProcessTracker::new(d, &scan(&[(1, 0), (2, 0)]));
        assert!(tr.have_quorum());
        assert_eq!(
            tr.update(t0, &scan(&[(1, 0), (2, 0), (3, 0)]), |_| true),
            Some(false)
        );
        assert_eq!(
            tr.update(t0, &scan(&[(1, 0), (2, 0)]), |_| false),
            Some(true)
        );
        // quorum_max 0: up only while none runs.
        let mut none = TrackProcess::new("N", "svc");
        none.quorum = 0;
        none.quorum_max = 0;
        let mut tn = ProcessTracker::new(none, &[]);
        assert!(tn.have_quorum());
        assert_eq!(tn.update(t0, &scan(&[(5, 0)]), |_| true), Some(false));
        assert_eq!(tn.update(t0, &[], |_| false), Some(true));
    }
}
