//! keepalived.conf, the whole file: one parser for `global_defs`, `vrrp_script`,
//! `vrrp_track_file` / `track_file`, `vrrp_track_process`, `vrrp_instance`, `virtual_server_group`, `local_address_group` and `virtual_server` with its
//! `real_server`s and checkers, filling lvs-core's [`ServiceConfig`] / [`DestConfig`],
//! lvs-vrrp's [`VrrpConfig`] and this crate's [`CheckerConfig`]
//! (keepalived/core/parser.c, keepalived/check/check_parser.c, keepalived/vrrp/vrrp_parser.c,
//! keepalived.conf(5) of keepalived 2.2.7).
//!
//! - [`parse_str`] parses text (no `include`); [`parse_file`] reads a file and expands
//!   `include PATTERN` lines: the pattern is relative to the including file's directory and
//!   may use `*` and `?` in its last path component (keepalived uses glob(3); brace and
//!   directory wildcards are not supported here); no match is not an error (keepalived warns).
//! - Unknown keywords are skipped with their block, as keepalived does, and reported in
//!   [`KeepalivedConfig::warnings`] with their line. Known keywords with bad values are errors
//!   ([`ConfigError`]) naming the line, the block path and the keyword:
//!   `line 14: virtual_server 192.168.56.200 80 > real_server 192.168.56.102 80: weight: 'abc'
//!   is not a number`.
//! - [`KeepalivedConfig::commands`] gives the ipvsadm commands that build the initial IPVS
//!   table (what keepalived installs at start), [`KeepalivedConfig::rules`] the same as
//!   `ipvsadm -S -n` text.
//!
//! FULLNAT follows the Alibaba LVS / DPVS keepalived: `lb_kind FNAT`, and local addresses from
//! `local_address_group NAME { IP | IP-RANGE ... }` named by `laddr_group_name NAME` in the
//! virtual server; a plain `laddr IP` (repeatable) is accepted too. Real servers' ports under
//! DR and TUN are forced to the virtual port with a warning, as keepalived does; a missing
//! `lb_algo` / `lb_kind` defaults to `wlc` / NAT with a warning, a duplicated real server is
//! dropped with a warning (check_data.c `validate_check_config()`), and `inhibit_on_failure`
//! written in the virtual server is every real server's default.

mod lexer;
mod parse;

use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::time::Duration;

use lvs_core::ipvsadm::{Command, DaemonConfig, DaemonState, save};
use lvs_core::service::{DestConfig, IpvsConfig, ServiceConfig, ServiceKey};
use lvs_vrrp::VrrpConfig;

use crate::health::{CheckerConfig, VirtualServerHealth};

/// A parsed keepalived.conf.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct KeepalivedConfig {
    /// `global_defs`.
    pub global: GlobalDefs,
    /// `vrrp_script` blocks, in file order.
    pub vrrp_scripts: Vec<VrrpScript>,
    /// `vrrp_instance` blocks, in file order.
    pub vrrp_instances: Vec<VrrpInstance>,
    /// `vrrp_track_file` (or top-level `track_file`) blocks, in file order.
    pub track_files: Vec<crate::ha::track::TrackFile>,
    /// `vrrp_track_process` blocks, in file order.
    pub track_processes: Vec<crate::ha::track::TrackProcess>,
    /// `virtual_server` blocks, in file order; a `virtual_server group NAME` appears once per
    /// member of the group (same configuration, [`VirtualServer::group`] set).
    pub virtual_servers: Vec<VirtualServer>,
    /// Unknown keywords and other things keepalived warns about and ignores.
    pub warnings: Vec<Warning>,
}

/// `global_defs { }`: what matters to lvs-rs.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct GlobalDefs {
    /// `router_id` (also `lvs_id`).
    pub router_id: Option<String>,
    /// `enable_script_security`.
    pub enable_script_security: bool,
    /// `script_user USER [GROUP]`.
    pub script_user: Option<(String, Option<String>)>,
    /// `notification_email { }` addresses.
    pub notification_email: Vec<String>,
    /// `notification_email_from`.
    pub notification_email_from: Option<String>,
    /// `smtp_server`.
    pub smtp_server: Option<String>,
    /// `smtp_connect_timeout`.
    pub smtp_connect_timeout: Option<Duration>,
    /// `vrrp_version 2|3`: default of every instance's `version`.
    pub vrrp_version: Option<lvs_vrrp::Version>,
    /// `vrrp_garp_master_delay` (s): default of `garp_master_delay`.
    pub vrrp_garp_master_delay: Option<Duration>,
    /// `vrrp_garp_master_repeat`: default of `garp_master_repeat`.
    pub vrrp_garp_master_repeat: Option<u32>,
    /// `vrrp_garp_master_refresh` (s): default of `garp_master_refresh`.
    pub vrrp_garp_master_refresh: Option<Duration>,
    /// `vrrp_garp_master_refresh_repeat`: default of `garp_master_refresh_repeat`.
    pub vrrp_garp_master_refresh_repeat: Option<u32>,
    /// `vrrp_garp_lower_prio_delay` (s).
    pub vrrp_garp_lower_prio_delay: Option<Duration>,
    /// `vrrp_garp_lower_prio_repeat`.
    pub vrrp_garp_lower_prio_repeat: Option<u32>,
    /// `vrrp_lower_prio_no_advert`: default of `lower_prio_no_advert`.
    pub vrrp_lower_prio_no_advert: bool,
    /// `vrrp_check_unicast_src`: default of `check_unicast_src`.
    pub vrrp_check_unicast_src: bool,
    /// `lvs_sync_daemon INTERFACE INSTANCE [id N] [maxlen N] [port N] [ttl N] [group IP]`.
    pub lvs_sync_daemon: Option<SyncDaemon>,
}

/// `lvs_sync_daemon`: the IPVS connection-sync daemon, run as master or backup following the
/// named VRRP instance's state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyncDaemon {
    /// Multicast interface.
    pub interface: String,
    /// The `vrrp_instance` whose state picks master or backup.
    pub instance: String,
    /// `id` (sync id, 0..=255, default 0).
    pub syncid: u8,
    /// `maxlen` (0 = kernel default).
    pub maxlen: u16,
    /// `port` (0 = kernel default 8848).
    pub port: u16,
    /// `ttl` (0 = kernel default 1).
    pub ttl: u8,
    /// `group` multicast address.
    pub group: Option<IpAddr>,
}

impl SyncDaemon {
    /// The `ipvsadm --start-daemon` configuration for `state`.
    pub fn daemon_config(&self, state: DaemonState) -> DaemonConfig {
        DaemonConfig {
            state,
            mcast_ifn: self.interface.clone(),
            syncid: self.syncid,
            sync_maxlen: self.maxlen,
            mcast_group: self.group,
            mcast_port: self.port,
            mcast_ttl: self.ttl,
        }
    }
}

/// `vrrp_script NAME { }` (keepalived/vrrp/vrrp_parser.c, vrrp_track.c).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VrrpScript {
    /// The name `track_script` refers to.
    pub name: String,
    /// `script`: the command line.
    pub script: String,
    /// `interval` (default 1 s).
    pub interval: Duration,
    /// `timeout` (default: `interval`).
    pub timeout: Option<Duration>,
    /// `weight` -253..=253 (default 0).
    pub weight: i32,
    /// `rise` (default 1): successes to become OK.
    pub rise: u32,
    /// `fall` (default 1): failures to become KO.
    pub fall: u32,
    /// `user USER [GROUP]`.
    pub user: Option<String>,
}

/// One `virtual_ipaddress` entry: `IP[/PREFIX] [brd B] [dev IF] [scope S] [label L]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VirtualIp {
    /// The address.
    pub addr: IpAddr,
    /// Prefix length (default 32 / 128).
    pub prefix: u8,
    /// `dev`.
    pub dev: Option<String>,
    /// `label`.
    pub label: Option<String>,
}

/// A `track_script` / `track_interface` / `track_file` / `track_process` entry as written:
/// `NAME [weight W [reverse|noreverse]]`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct TrackRef {
    /// Script, interface, track file or tracked process name.
    pub name: String,
    /// `weight W` written on the entry.
    pub weight: Option<i32>,
    /// `reverse` (`Some(true)`) or `noreverse` (`Some(false)`) after the weight; used by
    /// `track_file` and `track_process` entries (ignored for scripts and interfaces).
    pub reverse: Option<bool>,
}

/// `vrrp_instance NAME { }`: lvs-vrrp's configuration plus what lvs-vrrp does not model.
///
/// [`VrrpConfig::track`] holds the resolved weights: `track_script` entries take their own
/// `weight`, else their `vrrp_script`'s; `track_interface` entries default to 0.
/// [`VrrpConfig::interface_addr`] is the unspecified address of the VIPs' family and
/// [`VrrpConfig::interface_mac`] zero: keepalived reads them from the kernel, so the embedder
/// fills them in before [`VrrpConfig::validate`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VrrpInstance {
    /// The instance name.
    pub name: String,
    /// lvs-vrrp's configuration.
    pub config: VrrpConfig,
    /// `virtual_ipaddress` entries in full.
    pub vips: Vec<VirtualIp>,
    /// `virtual_ipaddress_excluded` entries (configured on the interface but not advertised).
    pub vips_excluded: Vec<VirtualIp>,
    /// `track_script` entries as written.
    pub track_scripts: Vec<TrackRef>,
    /// `track_interface` entries as written.
    pub track_interfaces: Vec<TrackRef>,
    /// `track_file` entries as written (unknown names dropped with a warning).
    pub track_files: Vec<TrackRef>,
    /// `track_process` entries as written (unknown names dropped with a warning).
    pub track_processes: Vec<TrackRef>,
    /// `notify_master`.
    pub notify_master: Option<String>,
    /// `notify_backup`.
    pub notify_backup: Option<String>,
    /// `notify_fault`.
    pub notify_fault: Option<String>,
    /// `notify_stop`.
    pub notify_stop: Option<String>,
    /// `notify`: called with `INSTANCE NAME STATE PRIORITY`.
    pub notify: Option<String>,
    /// 1-based line of the `vrrp_instance` keyword.
    pub line: usize,
}

/// The sorry server of a virtual server (`sorry_server IP PORT`, `sorry_server_inhibit`,
/// `sorry_server_lvs_method`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SorryServer {
    /// Address, forwarding method (the virtual server's `lb_kind` unless
    /// `sorry_server_lvs_method`), weight 1.
    pub dest: DestConfig,
    /// `sorry_server_inhibit`: keep it with weight 0 instead of removing it.
    pub inhibit: bool,
}

/// `real_server IP PORT { }`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RealServer {
    /// Address, forwarding method (`lb_kind`), `weight` (default 1), `uthreshold`,
    /// `lthreshold`.
    pub dest: DestConfig,
    /// `inhibit_on_failure`: set weight 0 instead of removing a failed real server.
    pub inhibit_on_failure: bool,
    /// The checkers (TCP_CHECK, HTTP_GET, SSL_GET, MISC_CHECK), defaults resolved.
    pub checkers: Vec<CheckerConfig>,
    /// `notify_up`.
    pub notify_up: Option<String>,
    /// `notify_down`.
    pub notify_down: Option<String>,
    /// 1-based line of the `real_server` keyword.
    pub line: usize,
}

/// `virtual_server IP PORT | fwmark N | group NAME { }`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VirtualServer {
    /// The virtual service (protocol from `protocol`, default TCP).
    pub key: ServiceKey,
    /// `lb_algo`, `persistence_timeout`, `persistence_granularity`, `ops`, scheduler flags,
    /// FULLNAT local addresses.
    pub config: ServiceConfig,
    /// The real servers in file order.
    pub real_servers: Vec<RealServer>,
    /// `delay_loop` (default 60 s).
    pub delay_loop: Duration,
    /// `quorum` (default 1).
    pub quorum: u32,
    /// `hysteresis` (default 0).
    pub hysteresis: u32,
    /// `sorry_server`.
    pub sorry_server: Option<SorryServer>,
    /// `alpha`: checkers start DOWN.
    pub alpha: bool,
    /// `omega`: run `quorum_down` and notify_down scripts when the service is removed.
    pub omega: bool,
    /// `quorum_up` script.
    pub quorum_up: Option<String>,
    /// `quorum_down` script.
    pub quorum_down: Option<String>,
    /// The `virtual_server_group` name for `virtual_server group NAME`.
    pub group: Option<String>,
    /// 1-based line of the `virtual_server` keyword.
    pub line: usize,
}

/// Something keepalived would warn about and ignore.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Warning {
    /// 1-based line.
    pub line: usize,
    /// The file, when it is an included one.
    pub file: Option<PathBuf>,
    /// Block path (`virtual_server 10.0.0.1 80 > real_server 10.0.0.2 80`), empty at top level.
    pub block: String,
    /// The keyword.
    pub keyword: String,
    /// What happened.
    pub message: String,
}

impl std::fmt::Display for Warning {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write_location(
            f,
            self.file.as_deref(),
            self.line,
            &self.block,
            &self.keyword,
        )?;
        f.write_str(&self.message)
    }
}

fn write_location(
    f: &mut std::fmt::Formatter<'_>,
    file: Option<&Path>,
    line: usize,
    block: &str,
    keyword: &str,
) -> std::fmt::Result {
    if let Some(p) = file {
        write!(f, "{}: ", p.display())?;
    }
    // Line 0: about the file as a whole (it could not be read).
    if line != 0 {
        write!(f, "line {line}: ")?;
    }
    if !block.is_empty() {
        write!(f, "{block}: ")?;
    }
    if !keyword.is_empty() {
        write!(f, "{keyword}: ")?;
    }
    Ok(())
}

/// What is wrong (the tail of a [`ConfigError`] message).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ErrorKind {
    /// A value that should be a number.
    #[error("'{0}' is not a number")]
    NotANumber(String),
    /// A number outside the keyword's range.
    #[error("{value} out of range {min}..{max}")]
    OutOfRange {
        /// As written.
        value: String,
        /// Smallest accepted value.
        min: i64,
        /// Largest accepted value.
        max: i64,
    },
    /// A value that should be an IP address.
    #[error("'{0}' is not an IP address")]
    BadAddress(String),
    /// A value outside the keyword's vocabulary.
    #[error("'{value}' is not one of {expected}")]
    BadValue {
        /// As written.
        value: String,
        /// The accepted values.
        expected: &'static str,
    },
    /// The keyword needs a value.
    #[error("missing value")]
    MissingArgument,
    /// The keyword needs a `{ }` block.
    #[error("missing block")]
    MissingBlock,
    /// A `"` without its closing quote on the line.
    #[error("unterminated quoted string")]
    UnterminatedQuote,
    /// A `}` without a block to close.
    #[error("'}}' without a matching '{{'")]
    UnexpectedCloseBrace,
    /// A `{` without a keyword before it.
    #[error("'{{' without a keyword")]
    UnexpectedOpenBrace,
    /// A block left open at the end of the file.
    #[error("block opened here is never closed")]
    MissingCloseBrace,
    /// Blocks nested deeper than 32.
    #[error("blocks nested too deeply")]
    TooDeep,
    /// An `include` that could not be read.
    #[error("include: {0}")]
    Include(String),
    /// A reference to an undefined name (virtual_server_group, local_address_group).
    #[error("'{0}' is not defined")]
    Undefined(String),
    /// A rule about the combination of values.
    #[error("{0}")]
    Invalid(String),
}

/// A keepalived.conf error: `line N: BLOCK > PATH: KEYWORD: what`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct ConfigError {
    /// 1-based line.
    pub line: usize,
    /// The file, when it is an included one (or the file [`parse_file`] was given).
    pub file: Option<PathBuf>,
    /// Block path, empty at top level.
    pub block: String,
    /// The keyword (empty for tokenizer errors).
    pub keyword: String,
    /// What is wrong.
    pub kind: ErrorKind,
}

impl std::fmt::Display for ConfigError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write_location(
            f,
            self.file.as_deref(),
            self.line,
            &self.block,
            &self.keyword,
        )?;
        write!(f, "{}", self.kind)
    }
}

/// Parse keepalived.conf text (no `include`: an `include` line is a warning).
///
/// # Errors
/// The first [`ConfigError`].
// A parse runs once per configuration load: the error's size does not matter.
#[allow(clippy::result_large_err)]
pub fn parse_str(text: &str) -> Result<KeepalivedConfig, ConfigError> {
    parse::parse(text, None).map_err(|e| *e)
}

/// Read and parse a keepalived.conf file, expanding `include` lines (see the module docs).
///
/// # Errors
/// [`ConfigError`] with [`ErrorKind::Include`] when the file cannot be read, else the first
/// parse error.
#[allow(clippy::result_large_err)]
pub fn parse_file(path: &Path) -> Result<KeepalivedConfig, ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|e| ConfigError {
        line: 0,
        file: Some(path.to_path_buf()),
        block: String::new(),
        keyword: String::new(),
        kind: ErrorKind::Include(e.to_string()),
    })?;
    parse::parse(&text, Some(path)).map_err(|e| *e)
}

impl KeepalivedConfig {
    /// The ipvsadm commands that build the IPVS table keepalived installs at start: for each
    /// virtual server `-A` with its configuration, then `-a` for each real server in the pool
    /// at start (see [`VirtualServerHealth::new`]: every real server without an `alpha`
    /// checker; alpha ones are absent, or weight 0 with `inhibit_on_failure`), plus the sorry
    /// server if quorum is down at start.
    pub fn commands(&self) -> Vec<Command> {
        let mut out = Vec::new();
        let epoch = std::time::Instant::now();
        for vs in &self.virtual_servers {
            out.push(Command::AddService {
                key: vs.key,
                config: vs.config.clone(),
            });
            out.extend(VirtualServerHealth::new(vs, epoch).initial_dest_commands());
        }
        out
    }

    /// [`KeepalivedConfig::commands`] applied to an empty table, as `ipvsadm -S -n` prints it.
    /// Commands the table refuses (a service listed twice) are skipped.
    pub fn rules(&self) -> String {
        let mut t = IpvsConfig::new();
        for c in self.commands() {
            let _ = t.apply(&c);
        }
        save(&t.services)
    }

    /// The virtual server whose key is `key` (the first, if listed twice).
    pub fn virtual_server(&self, key: &ServiceKey) -> Option<&VirtualServer> {
        self.virtual_servers.iter().find(|v| v.key == *key)
    }

    /// The VRRP instance named `name`.
    pub fn vrrp_instance(&self, name: &str) -> Option<&VrrpInstance> {
        self.vrrp_instances.iter().find(|v| v.name == name)
    }
}

impl VirtualServer {
    /// The real server at `addr`.
    pub fn real_server(&self, addr: SocketAddr) -> Option<&RealServer> {
        self.real_servers.iter().find(|r| r.dest.addr == addr)
    }
}
