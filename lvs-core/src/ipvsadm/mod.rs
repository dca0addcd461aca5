//! ipvsadm as a library: its command-line syntax ([`parse_args`], [`parse_rule`],
//! [`parse_restore`]), its `-S` save format ([`save`]) and its list formats ([`list`]),
//! following ipvsadm 1.31 (ipvsadm.c `parse_options()`, `process_options()`,
//! `print_service_entry()`, `print_title()`, libipvs `ipvs_cmp_services()`).
//!
//! # Syntax
//!
//! Every ipvsadm 1.31 command and option is accepted, short and long, with popt's rules:
//! short options may be clustered (`-Ln`, `-At 10.0.0.1:80`), a required value may be
//! attached (`-w1`) or be the next word, long options take `--opt value` or `--opt=value`,
//! `-p`'s value is optional (`-p` alone means 360 s; a following word that does not start with
//! `-` is taken as the value), and the first option must be the command.
//!
//! Deliberate differences from the C tool, all documented here:
//! - Addresses and ports are numeric only: no host-name or service-name resolution (a
//!   sans-IO library cannot call the resolver). IPv4 addresses are strict dotted quads, IPv6
//!   addresses are written bare (`-f 1 -6 -r 2001:db8::1`) or bracketed with a port
//!   (`[2001:db8::1]:80`).
//! - Option order does not matter: `-r RIP` without a port inherits the virtual port and
//!   `-M` is read in the service's family even when written before `-t`/`-f` (ipvsadm reads
//!   both at the moment it meets them). `-6` must still follow `-f`.
//! - `-L` and `-S` without `-n` print numeric addresses too.
//! - `-S` also prints `-x N` / `-y N` after `-w` when a threshold is non-zero (ipvsadm 1.31
//!   drops them, which would lose configuration on `-S | -R`), and for sh/mh services with
//!   `flag-3` set it prints `flag-3` after the sh/mh names (ipvsadm prints nothing for it).
//!
//! # FULLNAT extension (not in upstream ipvsadm)
//!
//! - `--fullnat` on `-a`/`-e` selects the FULLNAT forwarding method (like `-m`, the real-server
//!   port may differ from the virtual port). It counts as the forwarding-method option, so it
//!   conflicts with `-g`/`-i`/`-m`. There is no short form: `-F` is free in ipvsadm 1.31 but
//!   taking it would risk a clash with a later upstream option.
//! - `--laddr IP` on `-A`/`-E`, repeatable, adds a local address to the service's FULLNAT
//!   pool ([`crate::service::ServiceConfig::local_addrs`]); a duplicate address is an error.
//! - `-S` prints them as `--fullnat` in the forwarding-method place of `-a` lines and as
//!   ` --laddr IP` at the end of the `-A` line, one per address; `-L` lists FULLNAT real
//!   servers with the forward name `FullNat`.

mod list;
pub(crate) mod parse;
mod save;

use std::net::{IpAddr, SocketAddr};

pub use list::{
    DestSnapshot, ListError, ListSnapshot, Rates, ServiceSnapshot, Stats, list, list_daemon,
    list_services, list_timeout, print_largenum, sort_dests, sort_services,
};
pub use parse::{parse_args, parse_restore, parse_rule, split_words};
pub use save::{save, write_save};

use crate::service::{DestConfig, ServiceConfig, ServiceKey, Timeouts};

/// Sync daemon role (`--start-daemon master|backup`, `IP_VS_STATE_MASTER` = 1,
/// `IP_VS_STATE_BACKUP` = 2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DaemonState {
    /// Sends connection sync messages.
    Master,
    /// Receives them.
    Backup,
}

impl DaemonState {
    /// `master` or `backup`.
    pub fn name(self) -> &'static str {
        match self {
            DaemonState::Master => "master",
            DaemonState::Backup => "backup",
        }
    }
}

/// A connection-sync daemon's configuration (`--start-daemon` and its options), also the
/// input of `--list --daemon` ([`list_daemon`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DaemonConfig {
    /// Master or backup.
    pub state: DaemonState,
    /// Multicast interface (`--mcast-interface`, at most 15 printable ASCII bytes without
    /// `/`, quotes, backslash or `#`; ipvsadm's default `eth0`).
    pub mcast_ifn: String,
    /// Sync id 0..=255 (`--syncid`, default 0).
    pub syncid: u8,
    /// Maximum sync message payload length (`--sync-maxlen`, 1..=65507; 0 = kernel default).
    pub sync_maxlen: u16,
    /// Multicast group (`--mcast-group`, a multicast address; `None` = 224.0.0.81).
    pub mcast_group: Option<IpAddr>,
    /// UDP port (`--mcast-port` 1..=65535; 0 = kernel default 8848).
    pub mcast_port: u16,
    /// Multicast TTL (`--mcast-ttl` 1..=255; 0 = kernel default 1).
    pub mcast_ttl: u8,
}

/// The display options of `-L`/`-l` (and the service to list, if any).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ListOptions {
    /// Only this service (`-L -t VIP:port`); no version header then.
    pub service: Option<ServiceKey>,
    /// `-n` (addresses are always printed numerically; kept for completeness).
    pub numeric: bool,
    /// `-c`: the connection table (lvs-conn's listing, not printed by [`list`]).
    pub connections: bool,
    /// `--timeout`.
    pub timeout: bool,
    /// `--daemon`.
    pub daemon: bool,
    /// `--stats`.
    pub stats: bool,
    /// `--rate`.
    pub rate: bool,
    /// `--thresholds`.
    pub thresholds: bool,
    /// `--persistent-conn`.
    pub persistent_conn: bool,
    /// `--tun-info`.
    pub tun_info: bool,
    /// `--exact` (`-X`): exact numbers in `--stats` / `--rate`.
    pub exact: bool,
    /// `--nosort`: keep the table order.
    pub nosort: bool,
}

/// One parsed ipvsadm command, with ipvsadm's defaults filled in.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Command {
    /// `-A`: add a virtual service.
    AddService {
        /// Its key.
        key: ServiceKey,
        /// Its full configuration.
        config: ServiceConfig,
    },
    /// `-E`: replace a virtual service's configuration (every field: options left out take
    /// their defaults, as ipvsadm sends them).
    EditService {
        /// Its key.
        key: ServiceKey,
        /// The new configuration.
        config: ServiceConfig,
    },
    /// `-D`: delete a virtual service.
    DeleteService {
        /// Its key.
        key: ServiceKey,
    },
    /// `-C`: clear the whole table.
    Clear,
    /// `-R`: restore rules from the input stream (see [`parse_restore`]).
    Restore,
    /// `-S [-n]`: print the rules ([`save`]).
    Save {
        /// `-n` was given.
        numeric: bool,
    },
    /// `-a`: add a real server.
    AddDest {
        /// The virtual service.
        service: ServiceKey,
        /// The real server.
        dest: DestConfig,
    },
    /// `-e`: replace a real server's configuration (weight defaults to 1 when `-w` is absent).
    EditDest {
        /// The virtual service.
        service: ServiceKey,
        /// The real server, found by its address and port.
        dest: DestConfig,
    },
    /// `-d`: delete a real server.
    DeleteDest {
        /// The virtual service.
        service: ServiceKey,
        /// RIP:port (the port defaults to the virtual port).
        addr: SocketAddr,
    },
    /// `-L`/`-l`: list.
    List(ListOptions),
    /// `-Z [service]`: zero the counters of one service or of all.
    Zero {
        /// The service, or `None` for all.
        service: Option<ServiceKey>,
    },
    /// `--set tcp tcpfin udp` (seconds; 0 keeps the current value).
    SetTimeouts(Timeouts),
    /// `--start-daemon master|backup`.
    StartDaemon(DaemonConfig),
    /// `--stop-daemon master|backup` (with an optional `--syncid`).
    StopDaemon {
        /// Which daemon.
        state: DaemonState,
        /// `--syncid`, default 0.
        syncid: u8,
    },
    /// `-h`.
    Help,
    /// `-v`.
    Version,
}

/// Why a command line did not parse. Each variant names the option as the user wrote it
/// where there is one; the messages follow ipvsadm's `fail()` texts.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ParseError {
    /// No words at all (or only `ipvsadm`).
    #[error("no command specified")]
    Empty,
    /// The first option is not a command (ipvsadm's "Try `ipvsadm -h'").
    #[error("{0}: the first option must be a command")]
    NoCommand(String),
    /// A second command option.
    #[error("{0}: multiple commands specified")]
    MultipleCommands(String),
    /// An option ipvsadm does not know.
    #[error("{0}: unknown option")]
    UnknownOption(String),
    /// An option that needs a value was last on the line.
    #[error("{0}: missing argument")]
    MissingArgument(String),
    /// A value given to an option that takes none (`--ops=1`).
    #[error("{0}: option takes no argument")]
    UnexpectedValue(String),
    /// A word that is not an option (ipvsadm: "unexpected argument").
    #[error("unexpected argument {0}")]
    UnexpectedArgument(String),
    /// The same option twice (ipvsadm: "multiple '...' options specified").
    #[error("{option}: multiple '{name}' options specified")]
    DuplicateOption {
        /// As written.
        option: String,
        /// ipvsadm's option name (`weight`, `forwarding-method`, ...).
        name: &'static str,
    },
    /// A bad value, e.g. `-w: weight 70000 out of range 0..65535`.
    #[error("{option}: {reason}")]
    InvalidValue {
        /// As written.
        option: String,
        /// What is wrong with the value.
        reason: String,
    },
    /// An option the command (or tunnel type) does not take (ipvsadm's `commands_v_options`
    /// and `tunnel_types_v_options` tables).
    #[error("Illegal '{option}' option with the {context}")]
    IllegalOption {
        /// ipvsadm's option name.
        option: &'static str,
        /// `'add-server' command`, `'ipip' tunnel type`, ...
        context: String,
    },
    /// A compulsory option is missing.
    #[error("You need to supply the '{option}' option for the {context}")]
    MissingOption {
        /// ipvsadm's option name.
        option: &'static str,
        /// `'add-server' command`, `'gue' tunnel type`, ...
        context: String,
    },
    /// Two mutually exclusive options.
    #[error("The option '{option}' conflicts with the '{other}' option in the {context}")]
    Conflict {
        /// ipvsadm's option name.
        option: &'static str,
        /// The option given earlier.
        other: &'static str,
        /// `'list' command`, `'gue' tunnel type`, ...
        context: String,
    },
    /// A rule about the combination of values (port-zero service, family mismatch, ...),
    /// with ipvsadm's message.
    #[error("{0}")]
    Invalid(&'static str),
    /// An unterminated quote or trailing backslash in a rule line.
    #[error("unterminated quote or escape")]
    Unterminated,
}

/// A [`ParseError`] located in a rule stream: "line 3: -w: weight 70000 out of range 0..65535".
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("line {line}: {error}")]
pub struct RuleError {
    /// 1-based line number.
    pub line: usize,
    /// What went wrong.
    pub error: ParseError,
}
