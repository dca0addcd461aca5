//! The ipvsadm command-line parser (ipvsadm.c `parse_options()` / `process_options()`).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use lvs_sched::{SchedFlags, SchedulerKind};

use super::{Command, DaemonConfig, DaemonState, ListOptions, ParseError, RuleError};
use crate::service::{
    AddressFamily, DestConfig, ForwardMethod, MAX_THRESHOLD, MAX_TIMEOUT, MAX_WEIGHT, PersistMask,
    Persistence, Protocol, ServiceConfig, ServiceKey, Timeouts, TunnelCsum, TunnelKind,
};

/// Every option ipvsadm 1.31 knows (its popt `options_table`), plus our `--fullnat` and
/// `--laddr`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Opt {
    Add,
    Edit,
    Del,
    Clear,
    List,
    Zero,
    AddDest,
    EditDest,
    DelDest,
    Set,
    Help,
    Version,
    Restore,
    Save,
    StartDaemon,
    StopDaemon,
    Tcp,
    Udp,
    Sctp,
    Fwmark,
    Sched,
    Persistent,
    Netmask,
    Real,
    Masq,
    Ipip,
    Gate,
    Weight,
    UThresh,
    LThresh,
    Numeric,
    Conn,
    McastIf,
    SyncId,
    Timeout,
    Daemon,
    Stats,
    Rate,
    Thresholds,
    PersistConn,
    NoSort,
    Sort,
    Exact,
    Ipv6,
    Ops,
    Pe,
    SchedFlags,
    McastGroup,
    McastPort,
    McastTtl,
    SyncMaxlen,
    TunInfo,
    TunType,
    TunPort,
    TunNocsum,
    TunCsum,
    TunRemcsum,
    FullNat,
    Laddr,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Arg {
    No,
    Required,
    Optional,
}

/// (option, short name, long name, argument).
const OPTS: &[(Opt, Option<char>, &str, Arg)] = &[
    (Opt::Add, Some('A'), "add-service", Arg::No),
    (Opt::Edit, Some('E'), "edit-service", Arg::No),
    (Opt::Del, Some('D'), "delete-service", Arg::No),
    (Opt::Clear, Some('C'), "clear", Arg::No),
    (Opt::List, Some('L'), "list", Arg::No),
    (Opt::List, Some('l'), "list", Arg::No),
    (Opt::Zero, Some('Z'), "zero", Arg::No),
    (Opt::AddDest, Some('a'), "add-server", Arg::No),
    (Opt::EditDest, Some('e'), "edit-server", Arg::No),
    (Opt::DelDest, Some('d'), "delete-server", Arg::No),
    (Opt::Set, None, "set", Arg::No),
    (Opt::Help, Some('h'), "help", Arg::No),
    (Opt::Version, Some('v'), "version", Arg::No),
    (Opt::Restore, Some('R'), "restore", Arg::No),
    (Opt::Save, Some('S'), "save", Arg::No),
    (Opt::StartDaemon, None, "start-daemon", Arg::Required),
    (Opt::StopDaemon, None, "stop-daemon", Arg::Required),
    (Opt::Tcp, Some('t'), "tcp-service", Arg::Required),
    (Opt::Udp, Some('u'), "udp-service", Arg::Required),
    (Opt::Sctp, None, "sctp-service", Arg::Required),
    (Opt::Fwmark, Some('f'), "fwmark-service", Arg::Required),
    (Opt::Sched, Some('s'), "scheduler", Arg::Required),
    (Opt::Persistent, Some('p'), "persistent", Arg::Optional),
    (Opt::Netmask, Some('M'), "netmask", Arg::Required),
    (Opt::Real, Some('r'), "real-server", Arg::Required),
    (Opt::Masq, Some('m'), "masquerading", Arg::No),
    (Opt::Ipip, Some('i'), "ipip", Arg::No),
    (Opt::Gate, Some('g'), "gatewaying", Arg::No),
    (Opt::Weight, Some('w'), "weight", Arg::Required),
    (Opt::UThresh, Some('x'), "u-threshold", Arg::Required),
    (Opt::LThresh, Some('y'), "l-threshold", Arg::Required),
    (Opt::Numeric, Some('n'), "numeric", Arg::No),
    (Opt::Conn, Some('c'), "connection", Arg::No),
    (Opt::McastIf, None, "mcast-interface", Arg::Required),
    (Opt::SyncId, None, "syncid", Arg::Required),
    (Opt::Timeout, None, "timeout", Arg::No),
    (Opt::Daemon, None, "daemon", Arg::No),
    (Opt::Stats, None, "stats", Arg::No),
    (Opt::Rate, None, "rate", Arg::No),
    (Opt::Thresholds, None, "thresholds", Arg::No),
    (Opt::PersistConn, None, "persistent-conn", Arg::No),
    (Opt::NoSort, None, "nosort", Arg::No),
    (Opt::Sort, None, "sort", Arg::No),
    (Opt::Exact, Some('X'), "exact", Arg::No),
    (Opt::Ipv6, Some('6'), "ipv6", Arg::No),
    (Opt::Ops, Some('o'), "ops", Arg::No),
    (Opt::Pe, None, "pe", Arg::Required),
    (Opt::SchedFlags, Some('b'), "sched-flags", Arg::Required),
    (Opt::McastGroup, None, "mcast-group", Arg::Required),
    (Opt::McastPort, None, "mcast-port", Arg::Required),
    (Opt::McastTtl, None, "mcast-ttl", Arg::Required),
    (Opt::SyncMaxlen, None, "sync-maxlen", Arg::Required),
    (Opt::TunInfo, None, "tun-info", Arg::No),
    (Opt::TunType, None, "tun-type", Arg::Required),
    (Opt::TunPort, None, "tun-port", Arg::Required),
    (Opt::TunNocsum, None, "tun-nocsum", Arg::No),
    (Opt::TunCsum, None, "tun-csum", Arg::No),
    (Opt::TunRemcsum, None, "tun-remcsum", Arg::No),
    (Opt::FullNat, None, "fullnat", Arg::No),
    (Opt::Laddr, None, "laddr", Arg::Required),
];

// Option classes (`OPTC_*` in ipvsadm.c) and ours (LADDR).
const C_NUMERIC: usize = 0;
const C_CONNECTION: usize = 1;
const C_SERVICE: usize = 2;
const C_SCHEDULER: usize = 3;
const C_PERSISTENT: usize = 4;
const C_NETMASK: usize = 5;
const C_SERVER: usize = 6;
const C_FORWARD: usize = 7;
const C_WEIGHT: usize = 8;
const C_UTHRESHOLD: usize = 9;
const C_LTHRESHOLD: usize = 10;
const C_MCAST: usize = 11;
const C_TIMEOUT: usize = 12;
const C_DAEMON: usize = 13;
const C_STATS: usize = 14;
const C_RATE: usize = 15;
const C_THRESHOLDS: usize = 16;
const C_PERSISTENTCONN: usize = 17;
const C_NOSORT: usize = 18;
const C_SYNCID: usize = 19;
const C_EXACT: usize = 20;
const C_ONEPACKET: usize = 21;
const C_PE: usize = 22;
const C_SCHED_FLAGS: usize = 23;
const C_MCAST_GROUP: usize = 24;
const C_MCAST_PORT: usize = 25;
const C_MCAST_TTL: usize = 26;
const C_SYNC_MAXLEN: usize = 27;
const C_TUN_INFO: usize = 28;
const C_TUN_TYPE: usize = 29;
const C_TUN_PORT: usize = 30;
const C_TUN_NOCSUM: usize = 31;
const C_TUN_CSUM: usize = 32;
const C_TUN_REMCSUM: usize = 33;
const C_LADDR: usize = 34;
const NUMBER_OF_OPT: usize = 35;

/// ipvsadm's `optnames[]`, plus `laddr`.
const OPT_NAMES: [&str; NUMBER_OF_OPT] = [
    "numeric",
    "connection",
    "service-address",
    "scheduler",
    "persistent",
    "netmask",
    "real-server",
    "forwarding-method",
    "weight",
    "u-threshold",
    "l-threshold",
    "mcast-interface",
    "timeout",
    "daemon",
    "stats",
    "rate",
    "thresholds",
    "persistent-conn",
    "nosort",
    "syncid",
    "exact",
    "ops",
    "pe",
    "sched-flags",
    "mcast-group",
    "mcast-port",
    "mcast-ttl",
    "sync-maxlen",
    "tun-info",
    "tun-type",
    "tun-port",
    "tun-nocsum",
    "tun-csum",
    "tun-remcsum",
    "laddr",
];

/// Commands in ipvsadm's `CMD_*` order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Cmd {
    Add,
    Edit,
    Del,
    Flush,
    List,
    AddDest,
    DelDest,
    EditDest,
    Timeout,
    StartDaemon,
    StopDaemon,
    Restore,
    Save,
    Zero,
}

impl Cmd {
    /// ipvsadm's `cmdnames[]`.
    fn name(self) -> &'static str {
        match self {
            Cmd::Add => "add-service",
            Cmd::Edit => "edit-service",
            Cmd::Del => "delete-service",
            Cmd::Flush => "flush",
            Cmd::List => "list",
            Cmd::AddDest => "add-server",
            Cmd::DelDest => "delete-server",
            Cmd::EditDest => "edit-server",
            Cmd::Timeout => "set",
            Cmd::StartDaemon => "start-daemon",
            Cmd::StopDaemon => "stop-daemon",
            Cmd::Restore => "restore",
            Cmd::Save => "save",
            Cmd::Zero => "zero",
        }
    }

    /// The row of ipvsadm's `commands_v_options` table ('+' compulsory, 'x' illegal,
    /// '1' exclusive, '.' optional), columns in `OPTC_*` order plus `laddr` last.
    fn legal(self) -> &'static [u8; NUMBER_OF_OPT] {
        match self {
            //            -n-csvc-s-p-M-rfwd-w-x-y-mctotdmn-st-rtthr-pcsrtsid-exops-pe-bgrpprtttlsiztinftyptprnoccsurem lad
            Cmd::Add | Cmd::Edit => b"xx+...xxxxxxxxxxxxxxx...xxxxxxxxxx.",
            Cmd::Del => b"xx+xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx",
            Cmd::Flush | Cmd::Timeout | Cmd::Restore => b"xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx",
            Cmd::List => b".11xxxxxxxxx11.......xxxxxxx.xxxxxx",
            Cmd::AddDest | Cmd::EditDest => b"xx+xxx+....xxxxxxxxxxxxxxxxxx.....x",
            Cmd::DelDest => b"xx+xxx+xxxxxxxxxxxxxxxxxxxxxxxxxxxx",
            Cmd::StartDaemon => b"xxxxxxxxxxx.xxxxxxx.xxxx....xxxxxxx",
            Cmd::StopDaemon => b"xxxxxxxxxxxxxxxxxxx.xxxxxxxxxxxxxxx",
            Cmd::Save => b".xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx",
            Cmd::Zero => b"xx.xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx",
        }
    }
}

/// Split a rule line into words like a POSIX shell does, without expansions: blanks separate
/// words, `'...'` is literal, `"..."` keeps `\"`, `\\`, `\$` and `` \` `` escapes, a backslash
/// outside quotes escapes the next character, and an unquoted `#` at the start of a word
/// starts a comment that runs to the end of the line.
///
/// # Errors
/// [`ParseError::Unterminated`] for an unclosed quote or a trailing backslash.
pub fn split_words(line: &str) -> Result<Vec<String>, ParseError> {
    let mut words = Vec::new();
    let mut chars = line.chars().peekable();
    loop {
        while chars.peek().is_some_and(|c| c.is_whitespace()) {
            chars.next();
        }
        match chars.peek() {
            None | Some('#') => return Ok(words),
            Some(_) => {}
        }
        let mut word = String::new();
        while let Some(c) = chars.next() {
            match c {
                c if c.is_whitespace() => break,
                '\'' => loop {
                    match chars.next() {
                        Some('\'') => break,
                        Some(c) => word.push(c),
                        None => return Err(ParseError::Unterminated),
                    }
                },
                '"' => loop {
                    match chars.next() {
                        Some('"') => break,
                        Some('\\') => match chars.next() {
                            Some(e @ ('"' | '\\' | '$' | '`')) => word.push(e),
                            Some(e) => {
                                word.push('\\');
                                word.push(e);
                            }
                            None => return Err(ParseError::Unterminated),
                        },
                        Some(c) => word.push(c),
                        None => return Err(ParseError::Unterminated),
                    }
                },
                '\\' => match chars.next() {
                    Some(e) => word.push(e),
                    None => return Err(ParseError::Unterminated),
                },
                c => word.push(c),
            }
        }
        words.push(word);
    }
}

/// Parse one rule line (`-A -t 10.0.0.1:80 -s rr`), optionally starting with the program
/// name (`ipvsadm` or a path ending in `/ipvsadm`). See [`parse_args`].
///
/// # Errors
/// [`ParseError`] for a malformed line.
pub fn parse_rule(line: &str) -> Result<Command, ParseError> {
    let words = split_words(line)?;
    parse_args(&words)
}

/// Parse a whole `-R` restore stream (what `ipvsadm -S` prints): one rule per line, blank
/// lines and `#` comments allowed. A `-R` line inside the stream is refused, as ipvsadm
/// refuses it to avoid an infinite loop.
///
/// # Errors
/// [`RuleError`] with the 1-based line number of the first bad line.
pub fn parse_restore(text: &str) -> Result<Vec<Command>, RuleError> {
    restore_lines(text).map(|r| r.map(|(_, cmd)| cmd)).collect()
}

/// The commands of a restore stream with their 1-based line numbers, stopping at nothing:
/// each item is a command or the error of its line.
pub(crate) fn restore_lines(
    text: &str,
) -> impl Iterator<Item = Result<(usize, Command), RuleError>> {
    text.lines().enumerate().filter_map(|(i, line)| {
        let line_no = i.saturating_add(1);
        let at = |error| RuleError {
            line: line_no,
            error,
        };
        let words = match split_words(line) {
            Ok(w) => w,
            Err(e) => return Some(Err(at(e))),
        };
        if words.is_empty()
            || (words.len() == 1 && words.first().is_some_and(|w| is_program_name(w)))
        {
            return None;
        }
        Some(match parse_args(&words) {
            Ok(Command::Restore) => Err(at(ParseError::Invalid(
                "-R is not allowed inside a restore stream",
            ))),
            Ok(cmd) => Ok((line_no, cmd)),
            Err(e) => Err(at(e)),
        })
    })
}

fn is_program_name(w: &str) -> bool {
    w == "ipvsadm" || w.ends_with("/ipvsadm")
}

/// One option occurrence: what, as written, and its value.
struct Item {
    opt: Opt,
    written: String,
    value: Option<String>,
}

/// Split words into options (popt rules) and positional arguments.
fn lex(words: &[String]) -> Result<(Vec<Item>, Vec<String>), ParseError> {
    let mut items = Vec::new();
    let mut args = Vec::new();
    let mut i = 0;
    let mut only_args = false;
    while let Some(w) = words.get(i) {
        i += 1;
        if only_args || w == "-" || !w.starts_with('-') {
            args.push(w.clone());
            continue;
        }
        if w == "--" {
            only_args = true;
            continue;
        }
        if let Some(long) = w.strip_prefix("--") {
            let (name, inline) = match long.split_once('=') {
                Some((n, v)) => (n, Some(v.to_string())),
                None => (long, None),
            };
            let &(opt, _, lname, arg) = OPTS
                .iter()
                .find(|o| o.2 == name)
                .ok_or_else(|| ParseError::UnknownOption(w.clone()))?;
            let written = format!("--{lname}");
            let value = match arg {
                Arg::No => {
                    if inline.is_some() {
                        return Err(ParseError::UnexpectedValue(written));
                    }
                    None
                }
                Arg::Required => match inline {
                    Some(v) => Some(v),
                    None => {
                        let v = words
                            .get(i)
                            .ok_or_else(|| ParseError::MissingArgument(written.clone()))?;
                        i += 1;
                        Some(v.clone())
                    }
                },
                Arg::Optional => match inline {
                    Some(v) => Some(v),
                    None => match words.get(i) {
                        Some(v) if !v.starts_with('-') => {
                            i += 1;
                            Some(v.clone())
                        }
                        _ => None,
                    },
                },
            };
            items.push(Item {
                opt,
                written,
                value,
            });
            continue;
        }
        // A cluster of short options: "-Ln", "-w1", "-p360".
        let cluster = w.get(1..).unwrap_or("");
        for (pos, c) in cluster.char_indices() {
            let &(opt, _, _, arg) = OPTS
                .iter()
                .find(|o| o.1 == Some(c))
                .ok_or_else(|| ParseError::UnknownOption(format!("-{c}")))?;
            let written = format!("-{c}");
            let rest = cluster.get(pos + c.len_utf8()..).unwrap_or("");
            let (value, stop) = match arg {
                Arg::No => (None, false),
                Arg::Required if !rest.is_empty() => (Some(rest.to_string()), true),
                Arg::Required => {
                    let v = words
                        .get(i)
                        .ok_or_else(|| ParseError::MissingArgument(written.clone()))?;
                    i += 1;
                    (Some(v.clone()), true)
                }
                Arg::Optional if !rest.is_empty() => (Some(rest.to_string()), true),
                Arg::Optional => match words.get(i) {
                    Some(v) if !v.starts_with('-') => {
                        i += 1;
                        (Some(v.clone()), true)
                    }
                    _ => (None, true),
                },
            };
            items.push(Item {
                opt,
                written,
                value,
            });
            if stop {
                break;
            }
        }
    }
    Ok((items, args))
}

/// strtol(s, &end, 10) with `*end == '\0' && end != s` and no ERANGE (ipvsadm's
/// `string_to_number()` before its range check): leading white space, an optional sign,
/// then only digits.
fn c_number(s: &str) -> Option<i64> {
    let t = s.trim_start_matches([' ', '\t', '\n', '\x0b', '\x0c', '\r']);
    let (neg, digits) = match t.as_bytes().first() {
        Some(b'-') => (true, t.get(1..)?),
        Some(b'+') => (false, t.get(1..)?),
        _ => (false, t),
    };
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let v: i64 = digits.parse().ok()?;
    Some(if neg { -v } else { v })
}

/// A number in `min..=max`, or an error "`what` `v` out of range min..max".
fn number(written: &str, s: &str, what: &str, min: i64, max: i64) -> Result<i64, ParseError> {
    match c_number(s) {
        None => Err(ParseError::InvalidValue {
            option: written.to_string(),
            reason: format!("invalid {what} '{s}'"),
        }),
        Some(v) if v < min || v > max => Err(ParseError::InvalidValue {
            option: written.to_string(),
            reason: format!("{what} {v} out of range {min}..{max}"),
        }),
        Some(v) => Ok(v),
    }
}

fn number_u32(written: &str, s: &str, what: &str, min: u32, max: u32) -> Result<u32, ParseError> {
    let v = number(written, s, what, i64::from(min), i64::from(max))?;
    u32::try_from(v).map_err(|_| ParseError::InvalidValue {
        option: written.to_string(),
        reason: format!("invalid {what} '{s}'"),
    })
}

/// ipvsadm's `parse_service()` without name resolution: `IPv4[:port]`, bare `IPv6`, or
/// `[IPv6]:port`. All-digit strings are refused (they would be a fwmark).
fn host_port(s: &str) -> Option<(IpAddr, Option<u16>)> {
    if s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let port = |p: &str| -> Option<u16> {
        let v = c_number(p)?;
        u16::try_from(v).ok()
    };
    if let Some(rest) = s.strip_prefix('[') {
        let (host, after) = rest.split_once(']')?;
        let p = after.strip_prefix(':')?;
        let a: Ipv6Addr = host.parse().ok()?;
        return Some((IpAddr::V6(a), Some(port(p)?)));
    }
    if let Ok(a) = s.parse::<Ipv6Addr>() {
        return Some((IpAddr::V6(a), None));
    }
    match s.rsplit_once(':') {
        Some((host, p)) => {
            let a: Ipv4Addr = host.parse().ok()?;
            Some((IpAddr::V4(a), Some(port(p)?)))
        }
        None => Some((IpAddr::V4(s.parse().ok()?), None)),
    }
}

enum SvcSpec {
    Addr {
        protocol: Protocol,
        ip: IpAddr,
        port: u16,
    },
    Fwmark {
        mark: u32,
        ipv6: bool,
    },
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Fwd {
    Masq,
    Gate,
    Ipip,
    FullNat,
}

#[derive(Default)]
struct State {
    options: u64,
    svc: Option<SvcSpec>,
    sched: Option<SchedulerKind>,
    persistent: Option<u32>,
    netmask: Option<(String, String)>,
    real: Option<(IpAddr, Option<u16>)>,
    fwd: Option<Fwd>,
    weight: Option<u32>,
    u_threshold: u32,
    l_threshold: u32,
    mcast_ifn: Option<String>,
    syncid: u8,
    mcast_group: Option<IpAddr>,
    mcast_port: u16,
    mcast_ttl: u8,
    sync_maxlen: u16,
    ops: bool,
    pe: Option<String>,
    sched_flags: Option<(String, String)>,
    tun_type: u8,
    tun_port: u16,
    tun_csum: TunnelCsum,
    laddrs: Vec<IpAddr>,
    daemon: Option<DaemonState>,
}

impl State {
    fn has(&self, c: usize) -> bool {
        self.options & (1u64 << c) != 0
    }

    /// ipvsadm's `set_option()`: each option class at most once (ours: `--laddr` repeats).
    fn set(&mut self, c: usize, written: &str) -> Result<(), ParseError> {
        if self.has(c) && c != C_LADDR {
            return Err(ParseError::DuplicateOption {
                option: written.to_string(),
                name: OPT_NAMES.get(c).copied().unwrap_or("?"),
            });
        }
        self.options |= 1u64 << c;
        Ok(())
    }
}

fn command_of(opt: Opt) -> Option<Cmd> {
    Some(match opt {
        Opt::Add => Cmd::Add,
        Opt::Edit => Cmd::Edit,
        Opt::Del => Cmd::Del,
        Opt::Clear => Cmd::Flush,
        Opt::List => Cmd::List,
        Opt::Zero => Cmd::Zero,
        Opt::AddDest => Cmd::AddDest,
        Opt::EditDest => Cmd::EditDest,
        Opt::DelDest => Cmd::DelDest,
        Opt::Set => Cmd::Timeout,
        Opt::Restore => Cmd::Restore,
        Opt::Save => Cmd::Save,
        Opt::StartDaemon => Cmd::StartDaemon,
        Opt::StopDaemon => Cmd::StopDaemon,
        _ => return None,
    })
}

fn invalid(written: &str, reason: impl Into<String>) -> ParseError {
    ParseError::InvalidValue {
        option: written.to_string(),
        reason: reason.into(),
    }
}

/// Parse ipvsadm's arguments (the words after the program name; a leading `ipvsadm` word is
/// skipped) into a [`Command`], with ipvsadm 1.31's defaults and checks: `-s` defaults to
/// wlc, `-p` alone is 360 s, `-w` defaults to 1, the forwarding method to DR, `-r` without a
/// port takes the virtual port, DR and TUN real servers always take the virtual port, a
/// TCP/UDP/SCTP service with port 0 must be persistent, `-o` needs a UDP (or fwmark) service,
/// only tunnelling real servers may be of another address family, tunnel options need `-i`
/// and follow ipvsadm's tunnel-type table, and each command takes exactly the options of
/// ipvsadm's `commands_v_options` table.
///
/// # Errors
/// [`ParseError`] naming the offending option.
pub fn parse_args<S: AsRef<str>>(words: &[S]) -> Result<Command, ParseError> {
    let mut words: Vec<String> = words.iter().map(|w| w.as_ref().to_string()).collect();
    if words.first().is_some_and(|w| is_program_name(w)) {
        words.remove(0);
    }
    let (items, args) = lex(&words)?;
    let mut it = items.into_iter();
    let first = it.next().ok_or(match args.first() {
        Some(a) => ParseError::UnexpectedArgument(a.clone()),
        None => ParseError::Empty,
    })?;
    match first.opt {
        Opt::Help => return Ok(Command::Help),
        Opt::Version => return Ok(Command::Version),
        _ => {}
    }
    let cmd = command_of(first.opt).ok_or_else(|| ParseError::NoCommand(first.written.clone()))?;
    let mut st = State::default();
    if let Some(v) = &first.value {
        // --start-daemon / --stop-daemon master|backup
        st.daemon = Some(match v.as_str() {
            "master" => DaemonState::Master,
            "backup" => DaemonState::Backup,
            _ => return Err(invalid(&first.written, format!("illegal parameter '{v}'"))),
        });
    }
    for item in it {
        option(&mut st, item)?;
    }

    // --set takes three positional values; nothing else takes any.
    let mut args = args.into_iter();
    let mut timeouts = Timeouts {
        tcp: 0,
        tcp_fin: 0,
        udp: 0,
    };
    if cmd == Cmd::Timeout {
        let mut next = || -> Result<u32, ParseError> {
            let a = args.next().ok_or(ParseError::Invalid(
                "--set option requires 3 timeout values",
            ))?;
            number_u32("--set", &a, "timeout", 0, MAX_TIMEOUT)
        };
        timeouts = Timeouts {
            tcp: next()?,
            tcp_fin: next()?,
            udp: next()?,
        };
    }
    if let Some(a) = args.next() {
        return Err(ParseError::UnexpectedArgument(a));
    }

    generic_opt_check(cmd, st.options)?;

    let family = match &st.svc {
        Some(SvcSpec::Addr { ip, .. }) => AddressFamily::of(*ip),
        Some(SvcSpec::Fwmark { ipv6: true, .. }) => AddressFamily::Ipv6,
        _ => AddressFamily::Ipv4,
    };
    let key = st.svc.as_ref().map(|s| match s {
        SvcSpec::Addr { protocol, ip, port } => ServiceKey::Addr {
            protocol: *protocol,
            addr: SocketAddr::new(*ip, *port),
        },
        SvcSpec::Fwmark { mark, ipv6 } => ServiceKey::Fwmark {
            mark: *mark,
            family: if *ipv6 {
                AddressFamily::Ipv6
            } else {
                AddressFamily::Ipv4
            },
        },
    });

    match cmd {
        Cmd::Add | Cmd::Edit => {
            let key = key.ok_or(ParseError::Invalid("no virtual service"))?;
            let config = service_config(&st, &key, family)?;
            Ok(if cmd == Cmd::Add {
                Command::AddService { key, config }
            } else {
                Command::EditService { key, config }
            })
        }
        Cmd::Del => Ok(Command::DeleteService {
            key: key.ok_or(ParseError::Invalid("no virtual service"))?,
        }),
        Cmd::Flush => Ok(Command::Clear),
        Cmd::Restore => Ok(Command::Restore),
        Cmd::Save => Ok(Command::Save {
            numeric: st.has(C_NUMERIC),
        }),
        Cmd::Zero => Ok(Command::Zero { service: key }),
        Cmd::Timeout => Ok(Command::SetTimeouts(timeouts)),
        Cmd::AddDest | Cmd::EditDest | Cmd::DelDest => {
            let key = key.ok_or(ParseError::Invalid("no virtual service"))?;
            let (ip, port) = st.real.ok_or(ParseError::Invalid("no real server"))?;
            let mut addr = SocketAddr::new(ip, port.unwrap_or(key.port()));
            if cmd == Cmd::DelDest {
                return Ok(Command::DeleteDest { service: key, addr });
            }
            let dest = dest_config(&st, &key, family, &mut addr)?;
            Ok(if cmd == Cmd::AddDest {
                Command::AddDest { service: key, dest }
            } else {
                Command::EditDest { service: key, dest }
            })
        }
        Cmd::List => {
            let o = ListOptions {
                service: key,
                numeric: st.has(C_NUMERIC),
                connections: st.has(C_CONNECTION),
                timeout: st.has(C_TIMEOUT),
                daemon: st.has(C_DAEMON),
                stats: st.has(C_STATS),
                rate: st.has(C_RATE),
                thresholds: st.has(C_THRESHOLDS),
                persistent_conn: st.has(C_PERSISTENTCONN),
                tun_info: st.has(C_TUN_INFO),
                exact: st.has(C_EXACT),
                nosort: st.has(C_NOSORT),
            };
            if ((o.connections || o.timeout || o.daemon) && (o.stats || o.rate || o.thresholds))
                || ((o.timeout || o.daemon) && o.persistent_conn)
            {
                return Err(ParseError::Invalid("options conflicts in the list command"));
            }
            Ok(Command::List(o))
        }
        Cmd::StartDaemon => Ok(Command::StartDaemon(DaemonConfig {
            state: st.daemon.unwrap_or(DaemonState::Master),
            mcast_ifn: st.mcast_ifn.clone().unwrap_or_else(|| "eth0".to_string()),
            syncid: st.syncid,
            sync_maxlen: st.sync_maxlen,
            mcast_group: st.mcast_group,
            mcast_port: st.mcast_port,
            mcast_ttl: st.mcast_ttl,
        })),
        Cmd::StopDaemon => Ok(Command::StopDaemon {
            state: st.daemon.unwrap_or(DaemonState::Master),
            syncid: st.syncid,
        }),
    }
}

/// One option after the command (the `while (poptGetNextOpt())` switch of ipvsadm.c).
fn option(st: &mut State, item: Item) -> Result<(), ParseError> {
    let Item {
        opt,
        written,
        value,
    } = item;
    let w = written.as_str();
    let val = value.unwrap_or_default();
    let v = val.as_str();
    match opt {
        Opt::Tcp | Opt::Udp | Opt::Sctp => {
            st.set(C_SERVICE, w)?;
            let protocol = match opt {
                Opt::Tcp => Protocol::Tcp,
                Opt::Udp => Protocol::Udp,
                _ => Protocol::Sctp,
            };
            let (ip, port) = host_port(v).ok_or_else(|| {
                invalid(w, format!("illegal virtual server address[:port] '{v}'"))
            })?;
            st.svc = Some(SvcSpec::Addr {
                protocol,
                ip,
                port: port.unwrap_or(0),
            });
        }
        Opt::Fwmark => {
            st.set(C_SERVICE, w)?;
            let mark = number(w, v, "fwmark", 1, i64::from(u32::MAX))?;
            st.svc = Some(SvcSpec::Fwmark {
                mark: u32::try_from(mark).unwrap_or(1),
                ipv6: false,
            });
        }
        Opt::Ipv6 => match &mut st.svc {
            Some(SvcSpec::Fwmark { ipv6, .. }) => *ipv6 = true,
            _ => return Err(ParseError::Invalid("-6 used before -f")),
        },
        Opt::Sched => {
            st.set(C_SCHEDULER, w)?;
            st.sched = Some(v.parse().map_err(|e| invalid(w, format!("{e}")))?);
        }
        Opt::Persistent => {
            st.set(C_PERSISTENT, w)?;
            st.persistent = Some(if v.is_empty() {
                crate::service::DEFAULT_PERSISTENT_TIMEOUT
            } else {
                number_u32(w, v, "timeout", 1, MAX_TIMEOUT)?
            });
        }
        Opt::Netmask => {
            st.set(C_NETMASK, w)?;
            st.netmask = Some((written.clone(), val.clone()));
        }
        Opt::Real => {
            st.set(C_SERVER, w)?;
            st.real =
                Some(host_port(v).ok_or_else(|| {
                    invalid(w, format!("illegal real server address[:port] '{v}'"))
                })?);
        }
        Opt::Masq | Opt::Ipip | Opt::Gate | Opt::FullNat => {
            st.set(C_FORWARD, w)?;
            st.fwd = Some(match opt {
                Opt::Masq => Fwd::Masq,
                Opt::Ipip => Fwd::Ipip,
                Opt::Gate => Fwd::Gate,
                _ => Fwd::FullNat,
            });
        }
        Opt::Weight => {
            st.set(C_WEIGHT, w)?;
            st.weight = Some(number_u32(w, v, "weight", 0, MAX_WEIGHT)?);
        }
        Opt::UThresh => {
            st.set(C_UTHRESHOLD, w)?;
            st.u_threshold = number_u32(w, v, "u_threshold", 0, MAX_THRESHOLD)?;
        }
        Opt::LThresh => {
            st.set(C_LTHRESHOLD, w)?;
            st.l_threshold = number_u32(w, v, "l_threshold", 0, MAX_THRESHOLD)?;
        }
        Opt::Numeric => st.set(C_NUMERIC, w)?,
        Opt::Conn => st.set(C_CONNECTION, w)?,
        Opt::McastIf => {
            st.set(C_MCAST, w)?;
            // IP_VS_IFNAME_MAXLEN is 16 including the NUL.
            // Printable ASCII without '/' (never in an interface name) and without the
            // characters a rule line would need quoted.
            let bad =
                |b: u8| !b.is_ascii_graphic() || matches!(b, b'/' | b'\'' | b'"' | b'\\' | b'#');
            if v.is_empty() || v.len() > 15 || v.bytes().any(bad) {
                return Err(invalid(w, format!("illegal interface name '{v}'")));
            }
            st.mcast_ifn = Some(val.clone());
        }
        Opt::SyncId => {
            st.set(C_SYNCID, w)?;
            st.syncid = u8::try_from(number(w, v, "syncid", 0, 255)?).unwrap_or(0);
        }
        Opt::Timeout => st.set(C_TIMEOUT, w)?,
        Opt::Daemon => st.set(C_DAEMON, w)?,
        Opt::Stats => st.set(C_STATS, w)?,
        Opt::Rate => st.set(C_RATE, w)?,
        Opt::Thresholds => st.set(C_THRESHOLDS, w)?,
        Opt::PersistConn => st.set(C_PERSISTENTCONN, w)?,
        Opt::NoSort => st.set(C_NOSORT, w)?,
        Opt::Sort => {} // "does nothing, for backwards compatibility"
        Opt::Exact => st.set(C_EXACT, w)?,
        Opt::Ops => {
            st.set(C_ONEPACKET, w)?;
            st.ops = true;
        }
        Opt::Pe => {
            st.set(C_PE, w)?;
            // IP_VS_PENAME_MAXLEN = 16; names are kernel module names (`sip`).
            if v.is_empty()
                || v.len() > 16
                || !v.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
            {
                return Err(invalid(w, format!("illegal persistence engine '{v}'")));
            }
            st.pe = Some(val.clone());
        }
        Opt::SchedFlags => {
            st.set(C_SCHED_FLAGS, w)?;
            st.sched_flags = Some((written.clone(), val.clone()));
        }
        Opt::McastGroup => {
            st.set(C_MCAST_GROUP, w)?;
            let ok = if v.contains(':') {
                v.parse::<Ipv6Addr>()
                    .ok()
                    .filter(|a| a.is_multicast())
                    .map(IpAddr::V6)
            } else {
                v.parse::<Ipv4Addr>()
                    .ok()
                    .filter(|a| a.is_multicast())
                    .map(IpAddr::V4)
            };
            st.mcast_group =
                Some(ok.ok_or_else(|| invalid(w, format!("invalid mcast-group '{v}'")))?);
        }
        Opt::McastPort => {
            st.set(C_MCAST_PORT, w)?;
            st.mcast_port = u16::try_from(number(w, v, "mcast-port", 1, 65535)?).unwrap_or(0);
        }
        Opt::McastTtl => {
            st.set(C_MCAST_TTL, w)?;
            st.mcast_ttl = u8::try_from(number(w, v, "mcast-ttl", 1, 255)?).unwrap_or(0);
        }
        Opt::SyncMaxlen => {
            st.set(C_SYNC_MAXLEN, w)?;
            st.sync_maxlen =
                u16::try_from(number(w, v, "sync-maxlen", 1, 65535 - 20 - 8)?).unwrap_or(0);
        }
        Opt::TunInfo => st.set(C_TUN_INFO, w)?,
        Opt::TunType => {
            st.set(C_TUN_TYPE, w)?;
            st.tun_type = match v {
                "ipip" => 0,
                "gue" => 1,
                "gre" => 2,
                _ => return Err(invalid(w, format!("illegal tunnel type '{v}'"))),
            };
        }
        Opt::TunPort => {
            st.set(C_TUN_PORT, w)?;
            st.tun_port = u16::try_from(number(w, v, "tunnel port", 1, 65535)?).unwrap_or(0);
        }
        Opt::TunNocsum => {
            st.set(C_TUN_NOCSUM, w)?;
            st.tun_csum = TunnelCsum::NoCsum;
        }
        Opt::TunCsum => {
            st.set(C_TUN_CSUM, w)?;
            st.tun_csum = TunnelCsum::Csum;
        }
        Opt::TunRemcsum => {
            st.set(C_TUN_REMCSUM, w)?;
            st.tun_csum = TunnelCsum::RemCsum;
        }
        Opt::Laddr => {
            st.set(C_LADDR, w)?;
            let a: IpAddr = v
                .parse()
                .map_err(|_| invalid(w, format!("illegal local address '{v}'")))?;
            if st.laddrs.contains(&a) {
                return Err(invalid(w, format!("local address {a} given twice")));
            }
            st.laddrs.push(a);
        }
        // A second command (ipvsadm: "invalid option").
        _ => return Err(ParseError::MultipleCommands(written)),
    }
    Ok(())
}

/// Walk one row of an ipvsadm option table in column order (the loop shared by
/// `generic_opt_check()` and `tunnel_opt_check()`): a missing '+' option, a present 'x'
/// option, or a second present '1' option is an error. `columns` pairs each option class
/// with its rule.
fn check_row(
    columns: impl Iterator<Item = (usize, u8)>,
    options: u64,
    context: &dyn Fn() -> String,
) -> Result<(), ParseError> {
    let name = |c: usize| OPT_NAMES.get(c).copied().unwrap_or("?");
    let mut last: Option<usize> = None;
    for (c, rule) in columns {
        if options & (1u64 << c) == 0 {
            if rule == b'+' {
                return Err(ParseError::MissingOption {
                    option: name(c),
                    context: context(),
                });
            }
            continue;
        }
        match rule {
            b'x' => {
                return Err(ParseError::IllegalOption {
                    option: name(c),
                    context: context(),
                });
            }
            b'1' => match last {
                None => last = Some(c),
                Some(l) => {
                    return Err(ParseError::Conflict {
                        option: name(c),
                        other: name(l),
                        context: context(),
                    });
                }
            },
            _ => {}
        }
    }
    Ok(())
}

/// ipvsadm's `generic_opt_check()`: the command's row of `commands_v_options`.
fn generic_opt_check(cmd: Cmd, options: u64) -> Result<(), ParseError> {
    check_row(cmd.legal().iter().copied().enumerate(), options, &|| {
        format!("'{}' command", cmd.name())
    })
}

/// `-A`/`-E`: build the service configuration.
fn service_config(
    st: &State,
    key: &ServiceKey,
    family: AddressFamily,
) -> Result<ServiceConfig, ParseError> {
    // "Make sure that port zero service is persistent"
    if !key.is_fwmark() && key.port() == 0 && st.persistent.is_none() {
        return Err(ParseError::Invalid(
            "Zero port specified for non-persistent service",
        ));
    }
    if st.ops
        && !matches!(
            key,
            ServiceKey::Fwmark { .. }
                | ServiceKey::Addr {
                    protocol: Protocol::Udp,
                    ..
                }
        )
    {
        return Err(ParseError::Invalid(
            "One-Packet Scheduling is only for UDP virtual services",
        ));
    }
    let scheduler = st.sched.unwrap_or_default();
    let mut netmask = PersistMask::default_for(family);
    if let Some((w, m)) = &st.netmask {
        netmask = match family {
            AddressFamily::Ipv4 => PersistMask::V4(m.parse().map_err(|_| {
                invalid(w, format!("illegal virtual server persistent mask '{m}'"))
            })?),
            AddressFamily::Ipv6 => {
                PersistMask::V6(u8::try_from(number(w, m, "ipv6 netmask", 1, 128)?).unwrap_or(128))
            }
        };
    }
    let sched_flags = match &st.sched_flags {
        Some((w, s)) if !s.is_empty() => sched_flags(w, scheduler, s)?,
        _ => SchedFlags::default(),
    };
    Ok(ServiceConfig {
        scheduler,
        sched_flags,
        persistence: st
            .persistent
            .map(|timeout| Persistence { timeout, netmask }),
        one_packet: st.ops,
        pe_name: st.pe.clone(),
        local_addrs: st.laddrs.clone(),
    })
}

/// ipvsadm's `parse_sched_flags()`: comma-separated names; the sh-*/mh-* names need that
/// scheduler.
fn sched_flags(w: &str, sched: SchedulerKind, s: &str) -> Result<SchedFlags, ParseError> {
    let mut bits = 0;
    let mut any = false;
    for name in s.split(',').filter(|n| !n.is_empty()) {
        any = true;
        let (_, b) = SchedFlags::NAMES
            .iter()
            .find(|(n, _)| *n == name)
            .ok_or_else(|| invalid(w, format!("invalid scheduler flag '{name}'")))?;
        let needs = if name.starts_with("sh-") {
            Some(SchedulerKind::Sh)
        } else if name.starts_with("mh-") {
            Some(SchedulerKind::Mh)
        } else {
            None
        };
        if needs.is_some_and(|k| k != sched) {
            return Err(invalid(w, format!("incompatible scheduler flag '{name}'")));
        }
        bits |= b;
    }
    if !any {
        return Err(invalid(w, format!("invalid scheduler flag '{s}'")));
    }
    Ok(SchedFlags(bits))
}

/// `-a`/`-e`: build the real-server configuration (ipvsadm `process_options()` checks).
fn dest_config(
    st: &State,
    key: &ServiceKey,
    family: AddressFamily,
    addr: &mut SocketAddr,
) -> Result<DestConfig, ParseError> {
    let fwd = st.fwd.unwrap_or(Fwd::Gate);
    // DR and TUN: the real-server port is the virtual port (not for fwmark services).
    if !key.is_fwmark() && matches!(fwd, Fwd::Gate | Fwd::Ipip) {
        addr.set_port(key.port());
    }
    if AddressFamily::of(addr.ip()) != family && fwd != Fwd::Ipip {
        return Err(ParseError::Invalid(
            "Different address family is allowed only for tunneling servers",
        ));
    }
    let tun_opts = [
        C_TUN_TYPE,
        C_TUN_PORT,
        C_TUN_NOCSUM,
        C_TUN_CSUM,
        C_TUN_REMCSUM,
    ];
    if tun_opts.iter().any(|&c| st.has(c)) && fwd != Fwd::Ipip {
        return Err(ParseError::Invalid(
            "Tunnel options conflict with forward method",
        ));
    }
    tunnel_opt_check(st)?;
    let forward = match fwd {
        Fwd::Masq => ForwardMethod::Masq,
        Fwd::Gate => ForwardMethod::Route,
        Fwd::FullNat => ForwardMethod::FullNat,
        Fwd::Ipip => ForwardMethod::Tunnel(match st.tun_type {
            1 => TunnelKind::Gue {
                port: st.tun_port,
                csum: st.tun_csum,
            },
            2 => TunnelKind::Gre { csum: st.tun_csum },
            _ => TunnelKind::Ipip,
        }),
    };
    Ok(DestConfig {
        addr: *addr,
        forward,
        weight: st.weight.unwrap_or(1),
        u_threshold: st.u_threshold,
        l_threshold: st.l_threshold,
    })
}

/// ipvsadm's `tunnel_opt_check()` with `tunnel_types_v_options`: ipip takes no tunnel
/// option; gue needs `--tun-port` and at most one checksum option; gre takes no port and
/// at most one of `--tun-nocsum`/`--tun-csum`.
fn tunnel_opt_check(st: &State) -> Result<(), ParseError> {
    let (name, row): (&str, &[u8; 4]) = match st.tun_type {
        1 => ("gue", b"+111"),
        2 => ("gre", b"x11x"),
        _ => ("ipip", b"xxxx"),
    };
    let cols = [C_TUN_PORT, C_TUN_NOCSUM, C_TUN_CSUM, C_TUN_REMCSUM];
    check_row(
        cols.into_iter().zip(row.iter().copied()),
        st.options,
        &|| format!("'{name}' tunnel type"),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn legal_table_rows_have_one_column_per_option() {
        for c in [
            Cmd::Add,
            Cmd::Edit,
            Cmd::Del,
            Cmd::Flush,
            Cmd::List,
            Cmd::AddDest,
            Cmd::DelDest,
            Cmd::EditDest,
            Cmd::Timeout,
            Cmd::StartDaemon,
            Cmd::StopDaemon,
            Cmd::Restore,
            Cmd::Save,
            Cmd::Zero,
        ] {
            assert_eq!(c.legal().len(), NUMBER_OF_OPT);
        }
        // Spot checks against ipvsadm.c commands_v_options: ADD takes -s -p -M ops pe -b.
        let add = Cmd::Add.legal();
        for c in [
            C_SCHEDULER,
            C_PERSISTENT,
            C_NETMASK,
            C_ONEPACKET,
            C_PE,
            C_SCHED_FLAGS,
        ] {
            assert_eq!(add[c], b'.');
        }
        assert_eq!(add[C_SERVICE], b'+');
        let list = Cmd::List.legal();
        for c in [C_CONNECTION, C_SERVICE, C_TIMEOUT, C_DAEMON] {
            assert_eq!(list[c], b'1');
        }
        assert_eq!(list[C_TUN_INFO], b'.');
        let start = Cmd::StartDaemon.legal();
        for c in [
            C_MCAST,
            C_SYNCID,
            C_MCAST_GROUP,
            C_MCAST_PORT,
            C_MCAST_TTL,
            C_SYNC_MAXLEN,
        ] {
            assert_eq!(start[c], b'.');
        }
        let adds = Cmd::AddDest.legal();
        for c in [
            C_FORWARD,
            C_WEIGHT,
            C_UTHRESHOLD,
            C_LTHRESHOLD,
            C_TUN_TYPE,
            C_TUN_REMCSUM,
        ] {
            assert_eq!(adds[c], b'.');
        }
        assert_eq!(adds[C_SERVER], b'+');
    }

    #[test]
    fn c_number_follows_strtol() {
        assert_eq!(c_number("42"), Some(42));
        assert_eq!(c_number(" +7"), Some(7));
        assert_eq!(c_number("-3"), Some(-3));
        assert_eq!(c_number("4x"), None);
        assert_eq!(c_number(""), None);
        assert_eq!(c_number("99999999999999999999"), None);
    }

    #[test]
    fn host_port_forms() {
        assert_eq!(
            host_port("10.0.0.1:80"),
            Some(("10.0.0.1".parse().unwrap(), Some(80)))
        );
        assert_eq!(
            host_port("10.0.0.1"),
            Some(("10.0.0.1".parse().unwrap(), None))
        );
        assert_eq!(
            host_port("[2001:db8::1]:443"),
            Some(("2001:db8::1".parse().unwrap(), Some(443)))
        );
        assert_eq!(
            host_port("2001:db8::1"),
            Some(("2001:db8::1".parse().unwrap(), None))
        );
        assert_eq!(host_port("[2001:db8::1]"), None);
        assert_eq!(host_port("1234"), None);
        assert_eq!(host_port("10.0.0.1:70000"), None);
        assert_eq!(host_port("www.example.com:80"), None);
    }
}
