//! keepalived (Debian's 2.2.7) as a real VRRP peer inside a [`Netns`]: configuration text,
//! start, clean stop, and keepalived's own view read back through its signal dumps.
//!
//! keepalived runs VRRP-only in the foreground: `keepalived -P -n -l -D -G -f CONF -p PID -r
//! VRRP_PID` (VRRP subsystem only, no fork, log to the console, detailed, no syslog), with its
//! console log, pid files and dumps in a caller-given directory (`TMPDIR` points there, which
//! is where keepalived writes `keepalived.data` on SIGUSR1 and `keepalived.stats` on SIGUSR2;
//! `keepalived --signum=DATA|STATS` prints those signal numbers).
//!
//! Signals sent before keepalived has started would kill it (the default action of SIGUSR1/2
//! is to terminate): wait for [`Keepalived::started`] first. SIGTERM ([`Keepalived::stop`]) is
//! keepalived's clean stop: a master sends an advert with priority 0 first. To simulate a crash
//! without that advert, freeze then kill every process of the namespace
//! ([`Netns::kill_all`] with SIGSTOP, then SIGKILL): killing the parent alone makes the VRRP
//! child stop cleanly on its parent-death signal.
//!
//! The dumps are requested and read in two steps ([`Keepalived::request_stats`] then
//! [`Keepalived::try_stats`]) so a caller driving its own VRRP instance in real time can keep
//! its loop running while keepalived writes the file.

use super::{ChildGuard, NetError, Netns, Result, Signal, have_program};
use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

/// The keepalived binary: `keepalived` from `PATH`, else Debian's `/usr/sbin/keepalived`;
/// `None` when neither exists.
pub fn binary() -> Option<String> {
    if have_program("keepalived") {
        Some("keepalived".into())
    } else if have_program("/usr/sbin/keepalived") {
        Some("/usr/sbin/keepalived".into())
    } else {
        None
    }
}

/// One `vrrp_instance VI_1 { ... }` block (plus a small `global_defs`), with keepalived's
/// keyword names.
#[derive(Clone, Debug)]
pub struct KeepalivedConf {
    /// `interface`, e.g. `eth0`.
    pub interface: String,
    /// `virtual_router_id`, 1..=255.
    pub virtual_router_id: u8,
    /// `priority`, 1..=255.
    pub priority: u8,
    /// `advert_int` as keepalived reads it: seconds, decimals allowed with `version 3`
    /// (e.g. `"1"`, `"0.5"`).
    pub advert_int: String,
    /// `version` 2 or 3.
    pub version: u8,
    /// `virtual_ipaddress { }` entries, e.g. `10.77.2.100/24`.
    pub virtual_ipaddress: Vec<String>,
    /// `authentication { auth_type PASS; auth_pass ... }` (v2 only), or none.
    pub auth_pass: Option<String>,
    /// `nopreempt`.
    pub nopreempt: bool,
    /// `unicast_src_ip` (unicast mode), or none.
    pub unicast_src_ip: Option<String>,
    /// `unicast_peer { }`: when non-empty, keepalived sends its adverts to each peer instead of
    /// the multicast group.
    pub unicast_peer: Vec<String>,
    /// global `vrrp_garp_master_delay` (seconds; keepalived's default 5): delay of the second
    /// gratuitous ARP burst after becoming master.
    pub garp_master_delay: u32,
}

impl KeepalivedConf {
    /// A configuration with keepalived's defaults for the rest: `interface eth0`,
    /// `advert_int 1`, `version 2`, no authentication, preemption on, the second GARP burst
    /// moved to 1 s (so it does not straddle a short test).
    pub fn new(virtual_router_id: u8, priority: u8, virtual_ipaddress: &str) -> KeepalivedConf {
        KeepalivedConf {
            interface: "eth0".into(),
            virtual_router_id,
            priority,
            advert_int: "1".into(),
            version: 2,
            virtual_ipaddress: vec![virtual_ipaddress.into()],
            auth_pass: None,
            nopreempt: false,
            unicast_src_ip: None,
            unicast_peer: Vec::new(),
            garp_master_delay: 1,
        }
    }

    /// The keepalived.conf text. `state BACKUP` (keepalived's default; also required by
    /// `nopreempt`), so keepalived becomes master only through the RFC's Master_Down_Timer.
    pub fn text(&self) -> String {
        let mut s = format!(
            "global_defs {{\n  router_id lvs_netns\n  vrrp_garp_master_delay {}\n}}\n",
            self.garp_master_delay
        );
        s.push_str("vrrp_instance VI_1 {\n  state BACKUP\n");
        s.push_str(&format!("  interface {}\n", self.interface));
        s.push_str(&format!("  virtual_router_id {}\n", self.virtual_router_id));
        s.push_str(&format!("  priority {}\n", self.priority));
        s.push_str(&format!("  advert_int {}\n", self.advert_int));
        s.push_str(&format!("  version {}\n", self.version));
        if self.nopreempt {
            s.push_str("  nopreempt\n");
        }
        if let Some(ip) = &self.unicast_src_ip {
            s.push_str(&format!("  unicast_src_ip {ip}\n"));
        }
        if !self.unicast_peer.is_empty() {
            s.push_str("  unicast_peer {\n");
            for peer in &self.unicast_peer {
                s.push_str(&format!("    {peer}\n"));
            }
            s.push_str("  }\n");
        }
        if let Some(p) = &self.auth_pass {
            s.push_str(&format!(
                "  authentication {{\n    auth_type PASS\n    auth_pass {p}\n  }}\n"
            ));
        }
        s.push_str("  virtual_ipaddress {\n");
        for vip in &self.virtual_ipaddress {
            s.push_str(&format!("    {vip}\n"));
        }
        s.push_str("  }\n}\n");
        s
    }
}

/// keepalived's statistics of its (single) instance, as written to `keepalived.stats` on
/// SIGUSR2 (keepalived/vrrp/vrrp_print.c), with keepalived's line names.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct KeepalivedStats {
    /// Advertisements: Received (counted before keepalived's checks).
    pub adverts_received: u64,
    /// Advertisements: Sent.
    pub adverts_sent: u64,
    /// Became master.
    pub became_master: u64,
    /// Released master.
    pub released_master: u64,
    /// Packet Errors: Address List (VIP set differs).
    pub addr_list_err: u64,
    /// Authentication Errors: Failure (wrong password).
    pub auth_failure: u64,
    /// Sum of every Packet Errors line (Length, TTL, Invalid Type, Advertisement Interval,
    /// Address List) and every Authentication Errors line.
    pub errors: u64,
    /// Priority Zero: Received.
    pub prio_zero_received: u64,
    /// Priority Zero: Sent.
    pub prio_zero_sent: u64,
    /// The file as read, for failure messages.
    pub text: String,
}

impl KeepalivedStats {
    /// Parses a `keepalived.stats` file; `None` while it is incomplete (its last line,
    /// Priority Zero: Sent, not yet written).
    pub fn parse(text: &str) -> Option<KeepalivedStats> {
        let mut s = KeepalivedStats {
            text: text.to_string(),
            ..KeepalivedStats::default()
        };
        let mut section = "";
        let mut complete = false;
        for line in text.lines() {
            let Some((key, value)) = line.trim().split_once(':') else {
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
                ("Packet Errors", k) | ("Authentication Errors", k) => {
                    s.errors += n;
                    match (section, k) {
                        ("Packet Errors", "Address List") => s.addr_list_err = n,
                        ("Authentication Errors", "Failure") => s.auth_failure = n,
                        _ => {}
                    }
                }
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

/// The instance's `State = ...` value (`MASTER`, `BACKUP`, `FAULT`) from a `keepalived.data`
/// dump; `None` while the instance section is not written yet.
pub fn parse_data_state(text: &str) -> Option<String> {
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

/// A running keepalived inside a namespace. Dropping it kills it at once (SIGKILL to the
/// parent; its VRRP child then stops on its parent-death signal, and [`Netns`]'s own `Drop`
/// kills whatever is left): use [`stop`](Self::stop) or [`request_stop`](Self::request_stop)
/// for keepalived's clean stop, which takes it about one second.
#[derive(Debug)]
pub struct Keepalived {
    child: ChildGuard,
    dir: PathBuf,
    log: PathBuf,
}

const STATS_FILE: &str = "keepalived.stats";
const DATA_FILE: &str = "keepalived.data";

impl Keepalived {
    /// Writes `dir/keepalived.conf` (creating `dir`) and starts `bin` (see [`binary`]) inside
    /// `ns`; its console log goes to `dir/keepalived.log`.
    ///
    /// Errors: [`NetError::Io`] for the files, [`NetError::Spawn`] when it cannot start.
    pub fn start(bin: &str, ns: &Netns, dir: &Path, conf: &KeepalivedConf) -> Result<Keepalived> {
        let io = |what: &str| {
            let what = format!("{what} in {}", dir.display());
            move |source| NetError::Io { what, source }
        };
        std::fs::create_dir_all(dir).map_err(io("mkdir"))?;
        let cfg = dir.join("keepalived.conf");
        std::fs::write(&cfg, conf.text()).map_err(io("writing keepalived.conf"))?;
        let log = dir.join("keepalived.log");
        let out = File::create(&log).map_err(io("creating keepalived.log"))?;
        let err = out.try_clone().map_err(io("duplicating the log fd"))?;
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
        let child = ChildGuard::spawn(&mut cmd, "keepalived")?;
        Ok(Keepalived {
            child,
            dir: dir.to_path_buf(),
            log,
        })
    }

    /// keepalived's console log so far (empty if unreadable).
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// The parent process's pid (signals sent to it are relayed to the VRRP child).
    pub fn pid(&self) -> u32 {
        self.child.pid()
    }

    /// True once the instance has started (log line `Entering BACKUP STATE`); only then may
    /// the dump signals be sent.
    pub fn started(&self) -> bool {
        self.log().contains("Entering BACKUP STATE")
    }

    fn request(&mut self, sig: Signal, file: &str) -> Result<()> {
        let _ = std::fs::remove_file(self.dir.join(file));
        self.child.signal(sig)
    }

    /// Asks for the statistics (SIGUSR2); read them with [`try_stats`](Self::try_stats).
    pub fn request_stats(&mut self) -> Result<()> {
        self.request(Signal::SIGUSR2, STATS_FILE)
    }

    /// The statistics once keepalived has written them completely after
    /// [`request_stats`](Self::request_stats).
    pub fn try_stats(&self) -> Option<KeepalivedStats> {
        let text = std::fs::read_to_string(self.dir.join(STATS_FILE)).ok()?;
        KeepalivedStats::parse(&text)
    }

    /// Asks for the data dump (SIGUSR1); read the state with [`try_state`](Self::try_state).
    pub fn request_state(&mut self) -> Result<()> {
        self.request(Signal::SIGUSR1, DATA_FILE)
    }

    /// The instance's state (`MASTER`, `BACKUP`, `FAULT`) once the data dump is written after
    /// [`request_state`](Self::request_state).
    pub fn try_state(&self) -> Option<String> {
        let text = std::fs::read_to_string(self.dir.join(DATA_FILE)).ok()?;
        parse_data_state(&text)
    }

    /// Starts keepalived's clean stop without waiting: SIGTERM (a master sends an advert with
    /// priority 0 at once; the processes exit about one second later). Poll
    /// [`has_exited`](Self::has_exited) meanwhile.
    pub fn request_stop(&mut self) -> Result<()> {
        self.child.signal(Signal::SIGTERM)
    }

    /// True once the keepalived parent process has exited (it is reaped then).
    pub fn has_exited(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(Some(_)))
    }

    /// Clean stop: [`request_stop`](Self::request_stop), then waits up to 5 s for keepalived to
    /// exit (blocking: a caller driving its own VRRP instance should rather poll
    /// [`has_exited`](Self::has_exited) from its loop).
    ///
    /// Errors: [`NetError::Io`] when it cannot be signalled or is still running after 5 s.
    pub fn stop(&mut self) -> Result<()> {
        self.request_stop()?;
        match self.child.wait_timeout(Duration::from_secs(5))? {
            Some(_) => Ok(()),
            None => Err(NetError::Io {
                what: format!("keepalived {} still running 5 s after SIGTERM", self.pid()),
                source: std::io::Error::from(std::io::ErrorKind::TimedOut),
            }),
        }
    }
}

impl Drop for Keepalived {
    fn drop(&mut self) {
        if !self.has_exited() {
            // ESRCH if it exited meanwhile: harmless. The ChildGuard then reaps it.
            let _ = self.child.signal(Signal::SIGKILL);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn conf_text_has_keepalived_keywords() {
        let mut c = KeepalivedConf::new(51, 150, "10.0.0.100/24");
        c.version = 3;
        c.advert_int = "0.5".into();
        c.nopreempt = true;
        c.auth_pass = Some("secret".into());
        c.unicast_src_ip = Some("10.0.0.2".into());
        c.unicast_peer = vec!["10.0.0.3".into()];
        let t = c.text();
        for want in [
            "vrrp_instance VI_1 {",
            "  state BACKUP\n",
            "  interface eth0\n",
            "  virtual_router_id 51\n",
            "  priority 150\n",
            "  advert_int 0.5\n",
            "  version 3\n",
            "  nopreempt\n",
            "    auth_type PASS\n",
            "    auth_pass secret\n",
            "    10.0.0.100/24\n",
            "  unicast_src_ip 10.0.0.2\n",
            "  unicast_peer {\n    10.0.0.3\n  }\n",
            "vrrp_garp_master_delay 1\n",
        ] {
            assert!(t.contains(want), "{want:?} missing from\n{t}");
        }
        assert_eq!(t.matches('{').count(), t.matches('}').count());
    }

    /// The layout keepalived 2.2.7 writes (captured from a run in a namespace).
    const STATS: &str = "VRRP Instance: VI_1\n  Advertisements:\n    Received: 4\n    Sent: 7\n  \
        Became master: 1\n  Released master: 0\n  Packet Errors:\n    Length: 0\n    TTL: 0\n    \
        Invalid Type: 0\n    Advertisement Interval: 0\n    Address List: 2\n  \
        Authentication Errors:\n    Invalid Type: 0\n    Type Mismatch: 0\n    Failure: 3\n  \
        Priority Zero:\n    Received: 1\n    Sent: 0\n";

    #[test]
    fn stats_parse_keepalived_layout() {
        let s = KeepalivedStats::parse(STATS).unwrap();
        assert_eq!(s.adverts_received, 4);
        assert_eq!(s.adverts_sent, 7);
        assert_eq!(s.became_master, 1);
        assert_eq!(s.released_master, 0);
        assert_eq!(s.addr_list_err, 2);
        assert_eq!(s.auth_failure, 3);
        assert_eq!(s.errors, 5);
        assert_eq!(s.prio_zero_received, 1);
        assert_eq!(s.prio_zero_sent, 0);
        // A file cut before its last line is not complete yet.
        let cut = &STATS[..STATS.rfind("    Sent").unwrap()];
        assert!(KeepalivedStats::parse(cut).is_none());
    }

    #[test]
    fn data_state_is_the_instance_state_not_the_interface_state() {
        let text = " VRRP Version = 2\n------< VRRP Topology >------\n VRRP Instance = VI_1\n   \
            VRRP Version = 2\n   State = BACKUP\n   Wantstate = BACKUP\n------< Interfaces >------\n \
            Name = eth0\n   State = UP, RUNNING\n";
        assert_eq!(parse_data_state(text).as_deref(), Some("BACKUP"));
        assert_eq!(parse_data_state(" Name = lo\n   State = UP\n"), None);
    }
}
