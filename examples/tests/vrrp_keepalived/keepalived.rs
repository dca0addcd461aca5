//! keepalived 2.2.7 as a VRRP peer inside a network namespace: configuration text, start,
//! clean stop (SIGTERM: it sends priority 0), and its own view read back through its signal
//! dumps (SIGUSR2 writes `$TMPDIR/keepalived.stats`, SIGUSR1 `$TMPDIR/keepalived.data`).

use lvs_examples::netns::{self, ChildGuard, Netns, Signal};
use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

/// The keepalived binary: from PATH, else Debian's location.
pub(crate) fn binary() -> Option<String> {
    if netns::have_program("keepalived") {
        Some("keepalived".into())
    } else if netns::have_program("/usr/sbin/keepalived") {
        Some("/usr/sbin/keepalived".into())
    } else {
        None
    }
}

/// One `vrrp_instance VI_1` block, VRRP-only keepalived.
#[derive(Clone, Debug)]
pub(crate) struct KaConf {
    /// `interface`.
    pub interface: &'static str,
    /// `virtual_router_id`.
    pub vrid: u8,
    /// `priority`.
    pub priority: u8,
    /// `advert_int` as keepalived reads it (seconds, decimals allowed with `version 3`).
    pub advert_int: &'static str,
    /// `version 2|3`.
    pub version: u8,
    /// `virtual_ipaddress { }` entry, e.g. `10.77.2.100/24`.
    pub vip: String,
    /// `authentication { auth_type PASS; auth_pass ... }` (v2), or none.
    pub auth_pass: Option<&'static str>,
}

impl KaConf {
    /// The keepalived.conf text. `state BACKUP` (keepalived's default) so keepalived becomes
    /// master only through the RFC's Master_Down_Timer; the second GARP burst is moved to 1 s so
    /// it does not straddle scenarios.
    pub(crate) fn text(&self) -> String {
        let auth = self
            .auth_pass
            .map(|p| format!("  authentication {{\n    auth_type PASS\n    auth_pass {p}\n  }}\n"))
            .unwrap_or_default();
        format!(
            "global_defs {{\n  router_id lvs_interop\n  vrrp_garp_master_delay 1\n}}\n\
             vrrp_instance VI_1 {{\n  state BACKUP\n  interface {}\n  virtual_router_id {}\n  \
             priority {}\n  advert_int {}\n  version {}\n{auth}  virtual_ipaddress {{\n    {}\n  }}\n}}\n",
            self.interface, self.vrid, self.priority, self.advert_int, self.version, self.vip
        )
    }
}

/// keepalived's per-instance statistics (`keepalived.stats`, vrrp_print.c `vrrp_print_stats`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct KaStats {
    /// Advertisements: Received.
    pub adverts_received: u64,
    /// Advertisements: Sent.
    pub adverts_sent: u64,
    /// Became master.
    pub became_master: u64,
    /// Released master.
    pub released_master: u64,
    /// Sum of the Packet Errors lines (Length, TTL, Invalid Type, Advertisement Interval,
    /// Address List) and the Authentication Errors lines.
    pub errors: u64,
    /// Packet Errors: Address List (VIP set differs).
    pub addr_list_err: u64,
    /// Authentication Errors: Failure (wrong password).
    pub auth_failure: u64,
    /// Priority Zero: Received.
    pub prio_zero_received: u64,
    /// Priority Zero: Sent.
    pub prio_zero_sent: u64,
    /// The file as read, for failure messages.
    pub text: String,
}

impl KaStats {
    /// Parses keepalived.stats (the only instance). `None` when incomplete.
    pub(crate) fn parse(text: &str) -> Option<KaStats> {
        let mut s = KaStats {
            text: text.to_string(),
            ..KaStats::default()
        };
        let mut section = "";
        let mut complete = false;
        for line in text.lines() {
            let t = line.trim();
            let Some((key, value)) = t.split_once(':') else {
                continue;
            };
            let value = value.trim();
            if value.is_empty() {
                section = key;
                continue;
            }
            let Ok(n) = value.parse::<u64>() else {
                continue;
            };
            match (section, key) {
                ("Advertisements", "Received") => s.adverts_received = n,
                ("Advertisements", "Sent") => s.adverts_sent = n,
                (_, "Became master") => s.became_master = n,
                (_, "Released master") => s.released_master = n,
                ("Authentication Errors", "Failure") => {
                    s.auth_failure = n;
                    s.errors += n;
                }
                ("Packet Errors", "Address List") => {
                    s.addr_list_err = n;
                    s.errors += n;
                }
                ("Packet Errors", _) | ("Authentication Errors", _) => s.errors += n,
                ("Priority Zero", "Received") => s.prio_zero_received = n,
                ("Priority Zero", "Sent") => {
                    s.prio_zero_sent = n;
                    complete = true;
                }
                _ => {}
            }
        }
        complete.then_some(s)
    }
}

/// A running keepalived (`-P -n -l -D -G`: VRRP only, no fork, log to the console (into
/// `log`), detailed, no syslog), with its own pid files and `TMPDIR` for its dumps.
pub(crate) struct Keepalived {
    child: ChildGuard,
    dir: PathBuf,
    log: PathBuf,
}

impl Keepalived {
    /// Writes the configuration to `dir` and starts keepalived inside `ns`.
    pub(crate) fn start(bin: &str, ns: &Netns, dir: &Path, conf: &KaConf) -> Keepalived {
        std::fs::create_dir_all(dir).expect("keepalived dir");
        let cfg = dir.join("keepalived.conf");
        std::fs::write(&cfg, conf.text()).expect("write keepalived.conf");
        let log = dir.join("keepalived.log");
        let out = File::create(&log).expect("keepalived log");
        let err = out.try_clone().expect("keepalived log");
        let mut cmd = ns.command(bin);
        cmd.args(["-P", "-n", "-l", "-D", "-G", "-f"])
            .arg(&cfg)
            .arg("-p")
            .arg(dir.join("keepalived.pid"))
            .arg("-r")
            .arg(dir.join("vrrp.pid"))
            .env("TMPDIR", dir)
            .stdout(Stdio::from(out))
            .stderr(Stdio::from(err));
        let child = ChildGuard::spawn(&mut cmd, "keepalived").expect("spawn keepalived");
        Keepalived {
            child,
            dir: dir.to_path_buf(),
            log,
        }
    }

    /// keepalived's console log so far.
    pub(crate) fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// True once the VRRP child has started its instance (log line `Entering BACKUP STATE`).
    /// Signals sent before that would kill keepalived: the default action of SIGUSR1/2 is to
    /// terminate, and its handlers are not installed yet.
    pub(crate) fn started(&self) -> bool {
        self.log().contains("Entering BACKUP STATE")
    }

    /// Asks for a dump: removes the old file `name`, sends `sig` to the parent (which relays it
    /// to its VRRP child). Read the file with [`try_stats`](Self::try_stats) /
    /// [`try_state`](Self::try_state) while the harness keeps running.
    fn request(&mut self, sig: Signal, name: &str) {
        let _ = std::fs::remove_file(self.dir.join(name));
        self.child.signal(sig).expect("signal keepalived");
    }

    /// Asks for the statistics (SIGUSR2, `keepalived --signum=STATS`).
    pub(crate) fn request_stats(&mut self) {
        self.request(Signal::SIGUSR2, "keepalived.stats");
    }

    /// The statistics once keepalived has written them completely.
    pub(crate) fn try_stats(&self) -> Option<KaStats> {
        let text = std::fs::read_to_string(self.dir.join("keepalived.stats")).ok()?;
        KaStats::parse(&text)
    }

    /// Asks for the data dump (SIGUSR1, `keepalived --signum=DATA`).
    pub(crate) fn request_state(&mut self) {
        self.request(Signal::SIGUSR1, "keepalived.data");
    }

    /// The instance's `State = ...` line of the data dump once written.
    pub(crate) fn try_state(&self) -> Option<String> {
        let text = std::fs::read_to_string(self.dir.join("keepalived.data")).ok()?;
        let mut in_instance = false;
        for line in text.lines() {
            let t = line.trim();
            if t.starts_with("VRRP Instance = ") {
                in_instance = true;
            } else if in_instance && let Some(state) = t.strip_prefix("State = ") {
                return Some(state.to_string());
            }
        }
        None
    }

    /// Clean stop: SIGTERM (keepalived then sends an advert with priority 0 if master), wait up
    /// to 5 s for it to exit.
    pub(crate) fn stop(&mut self) {
        self.child
            .signal(Signal::SIGTERM)
            .expect("SIGTERM keepalived");
        let status = self
            .child
            .wait_timeout(Duration::from_secs(5))
            .expect("wait for keepalived");
        assert!(
            status.is_some(),
            "keepalived did not exit within 5 s of SIGTERM; log:\n{}",
            self.log()
        );
    }
}
