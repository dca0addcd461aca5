//! Root-only network test fixtures: Linux network namespaces, veth pairs, bridges, a TAP device
//! read and written by the test process, and child processes (keepalived, socat, ...) run
//! inside a namespace.
//!
//! The fixtures shell out to iproute2's `ip` (the same commands a user would type, the way the
//! kernel's own `tools/testing/selftests/net/*.sh` build their topologies) and use smoltcp's
//! [`TunTapInterface`] for the TAP, so no `unsafe` is needed.
//!
//! Every resource is owned by an RAII guard that tears it down on `Drop`, also while a test
//! panics: [`Netns`] kills the processes left in the namespace and deletes it (which deletes
//! every link inside it, veth peers included); [`ChildGuard`] sends SIGTERM, then SIGKILL after
//! a grace period; [`Tap`] closes its file descriptor, which destroys the (non-persistent) TAP
//! device wherever it lives; [`TempDir`] removes its directory.
//!
//! Names: namespaces and links created in the root namespace get [`unique_name`]s (prefix +
//! process id + counter, at most 15 bytes, the kernel's `IFNAMSIZ - 1`), so tests running in
//! parallel, in one process or several, never collide. Links created directly inside a test's
//! namespace may use fixed names (`br0`, `eth0`).
//!
//! Typical topology (what [`Lan`] builds): one namespace holds a bridge; each host namespace
//! has an `eth0` veth whose peer is a bridge port; the test's [`Tap`] is a bridge port too, and
//! the test speaks on the LAN only through Ethernet frames on it.
//!
//! ```no_run
//! use lvs_examples::netns::{self, Lan, Tap};
//! use std::time::Duration;
//!
//! if !netns::root_or_skip("my_test") {
//!     return;
//! }
//! let mut lan = Lan::new("lan").unwrap();
//! let host = lan.add_host("h", &["10.77.0.2/24"]).unwrap();
//! let mut tap = Tap::create("tap").unwrap();
//! lan.attach_tap(&tap).unwrap();
//! let _ping = host.command("ping").args(["-c", "1", "10.77.0.9"]).status();
//! let frame = tap.recv(Duration::from_secs(1)).unwrap(); // the ARP request for 10.77.0.9
//! # let _ = frame;
//! ```
//!
//! [`keepalived`] runs Debian's keepalived as a real VRRP peer inside a namespace.
//!
//! Root is needed (CAP_NET_ADMIN and CAP_SYS_ADMIN for `ip netns`); tests call
//! [`root_or_skip`] first and return early, printing [`SKIP_LINE`], when not root.

use smoltcp::phy::{Device, Medium, RxToken, TunTapInterface, TxToken};
use std::ffi::OsStr;
use std::io;
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

pub use nix::sys::signal::Signal;

pub mod keepalived;

/// The line printed by [`root_or_skip`] when a root-only test is skipped.
pub const SKIP_LINE: &str = "skipped: needs root (network namespaces)";

/// The longest link name the kernel accepts: `IFNAMSIZ` (16) minus the NUL (include/uapi/linux/if.h).
pub const MAX_LINK_NAME: usize = 15;

/// How long [`ChildGuard`]'s `Drop` waits after SIGTERM before it sends SIGKILL.
pub const DEFAULT_GRACE: Duration = Duration::from_secs(3);

/// Errors of the fixtures.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum NetError {
    /// A command could not be started (program missing, not executable).
    #[error("cannot run `{cmd}`: {source}")]
    Spawn {
        /// The command line.
        cmd: String,
        /// The error from `fork`/`exec`.
        #[source]
        source: io::Error,
    },
    /// A command ran and exited unsuccessfully.
    #[error("`{cmd}` failed ({status}): {stderr}")]
    Failed {
        /// The command line.
        cmd: String,
        /// Its exit status.
        status: ExitStatus,
        /// Its standard error, trimmed.
        stderr: String,
    },
    /// Another I/O error (TAP device, files, signals, waiting).
    #[error("{what}: {source}")]
    Io {
        /// What was being done.
        what: String,
        /// The error.
        #[source]
        source: io::Error,
    },
    /// A link name longer than [`MAX_LINK_NAME`] bytes.
    #[error("link name {0:?} is longer than 15 bytes (IFNAMSIZ - 1)")]
    NameTooLong(String),
}

/// Result of the fixtures.
pub type Result<T> = std::result::Result<T, NetError>;

fn io_err(what: impl Into<String>) -> impl FnOnce(io::Error) -> NetError {
    let what = what.into();
    move |source| NetError::Io { what, source }
}

/// True when the process runs with effective uid 0 (what `ip netns` and TAP devices need).
pub fn is_root() -> bool {
    nix::unistd::geteuid().is_root()
}

/// Returns true when a root-only test may go on; otherwise prints
/// `<test>: skipped: needs root (network namespaces)` ([`SKIP_LINE`]) and returns false, so the
/// test returns early and passes as non-root.
pub fn root_or_skip(test: &str) -> bool {
    if is_root() {
        return true;
    }
    println!("{test}: {SKIP_LINE}");
    false
}

/// True when `program` is found on `PATH` or, given with a `/`, exists.
pub fn have_program(program: &str) -> bool {
    if program.contains('/') {
        return Path::new(program).exists();
    }
    std::env::var_os("PATH")
        .map(|paths| std::env::split_paths(&paths).any(|dir| dir.join(program).is_file()))
        .unwrap_or(false)
}

/// A name unique among live processes and within this process: `prefix` (cut to fit) + process
/// id + `x` + a per-process counter, at most [`MAX_LINK_NAME`] (15) bytes, so it is valid for a
/// link as well as for a namespace. Example: `tap` in process 4242 gives `tap4242x0`, `tap4242x1`.
pub fn unique_name(prefix: &str) -> String {
    static COUNTER: AtomicU32 = AtomicU32::new(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let suffix = format!("{}x{n}", std::process::id());
    let room = MAX_LINK_NAME.saturating_sub(suffix.len());
    let prefix: String = prefix
        .chars()
        .filter(char::is_ascii_alphanumeric)
        .take(room)
        .collect();
    format!("{prefix}{suffix}")
}

fn describe(cmd: &Command) -> String {
    let mut s = cmd.get_program().to_string_lossy().into_owned();
    for a in cmd.get_args() {
        s.push(' ');
        s.push_str(&a.to_string_lossy());
    }
    s
}

/// Runs `cmd` to completion with captured output; returns its standard output, or
/// [`NetError::Failed`] with its standard error when it exits unsuccessfully.
pub fn run(cmd: &mut Command) -> Result<String> {
    let line = describe(cmd);
    let out = cmd
        .stdin(Stdio::null())
        .output()
        .map_err(|source| NetError::Spawn {
            cmd: line.clone(),
            source,
        })?;
    if !out.status.success() {
        return Err(NetError::Failed {
            cmd: line,
            status: out.status,
            stderr: String::from_utf8_lossy(&out.stderr).trim().to_string(),
        });
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// Runs `ip ARGS...` in the test process's (root) namespace; returns its standard output.
pub fn ip(args: &[&str]) -> Result<String> {
    run(Command::new("ip").args(args))
}

/// A network namespace named [`unique_name`]`(prefix)`, with `lo` up. Dropping it kills every
/// process still inside (SIGKILL) and deletes it, which deletes all its links.
#[derive(Debug)]
pub struct Netns {
    name: String,
}

impl Netns {
    /// Creates the namespace (`ip netns add NAME`; a stale one of the same name left by a crashed
    /// run of a process with the same pid is deleted first) and brings `lo` up.
    ///
    /// Errors: [`NetError::Spawn`] without iproute2, [`NetError::Failed`] without root.
    pub fn new(prefix: &str) -> Result<Netns> {
        let name = unique_name(prefix);
        if ip(&["netns", "add", &name]).is_err() {
            let _ = ip(&["netns", "delete", &name]);
            ip(&["netns", "add", &name])?;
        }
        let ns = Netns { name };
        ns.link_up("lo")?;
        Ok(ns)
    }

    /// The namespace's name (for `ip netns exec NAME`, `ip -n NAME`).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Runs `ip -n NAME ARGS...`; returns its standard output.
    pub fn ip(&self, args: &[&str]) -> Result<String> {
        run(Command::new("ip").arg("-n").arg(&self.name).args(args))
    }

    /// Brings link `dev` up.
    pub fn link_up(&self, dev: &str) -> Result<()> {
        self.ip(&["link", "set", "dev", dev, "up"]).map(drop)
    }

    /// Adds address `cidr` (e.g. `10.77.0.2/24`, `fd77::2/64`) to `dev`.
    pub fn add_addr(&self, dev: &str, cidr: &str) -> Result<()> {
        self.ip(&["addr", "add", cidr, "dev", dev]).map(drop)
    }

    /// Creates bridge `bridge` and brings it up: STP off, so ports forward at once; multicast
    /// snooping off, so every port gets every multicast frame (a test port such as a [`Tap`]
    /// sends no MLD/IGMP reports, and IPv6 link-scope groups such as ff02::12 are otherwise
    /// forwarded only to ports that reported them).
    pub fn add_bridge(&self, bridge: &str) -> Result<()> {
        check_link_name(bridge)?;
        self.ip(&[
            "link",
            "add",
            bridge,
            "type",
            "bridge",
            "stp_state",
            "0",
            "mcast_snooping",
            "0",
        ])?;
        self.link_up(bridge)
    }

    /// Makes `dev` a port of `bridge` and brings it up.
    pub fn set_master(&self, dev: &str, bridge: &str) -> Result<()> {
        self.ip(&["link", "set", "dev", dev, "master", bridge])?;
        self.link_up(dev)
    }

    /// Creates a veth pair: `name` in this namespace and `peer` in `peer_ns`; both stay down.
    pub fn add_veth(&self, name: &str, peer: &str, peer_ns: &Netns) -> Result<()> {
        check_link_name(name)?;
        check_link_name(peer)?;
        self.ip(&[
            "link",
            "add",
            name,
            "type",
            "veth",
            "peer",
            "name",
            peer,
            "netns",
            &peer_ns.name,
        ])
        .map(drop)
    }

    /// Moves link `dev` from the root namespace into this one (`ip link set dev DEV netns NAME`).
    /// The link goes down on the move; bring it up again with [`link_up`](Self::link_up). An open
    /// TAP file descriptor keeps working.
    pub fn adopt_link(&self, dev: &str) -> Result<()> {
        ip(&["link", "set", "dev", dev, "netns", &self.name]).map(drop)
    }

    /// Writes `value` to `/proc/sys/<key with dots as slashes>` inside the namespace, e.g.
    /// `net.ipv6.conf.tap0.disable_ipv6` = `1`.
    pub fn sysctl(&self, key: &str, value: &str) -> Result<()> {
        let path = format!("/proc/sys/{}", key.replace('.', "/"));
        run(self
            .command("sh")
            .args(["-c", "printf '%s' \"$1\" > \"$2\"", "sh", value, &path]))
        .map(drop)
    }

    /// A [`Command`] that runs `program` inside the namespace (`ip netns exec NAME program`; `ip`
    /// execs the program, so the child's pid is the program's).
    pub fn command(&self, program: impl AsRef<OsStr>) -> Command {
        let mut cmd = Command::new("ip");
        cmd.args(["netns", "exec", &self.name]).arg(program);
        cmd
    }

    /// The MAC address of `dev` (from `ip link show`).
    ///
    /// Errors: [`NetError::Io`] when `ip` shows none.
    pub fn mac(&self, dev: &str) -> Result<[u8; 6]> {
        let out = self.ip(&["-o", "link", "show", "dev", dev])?;
        let mac = out
            .split_whitespace()
            .skip_while(|w| *w != "link/ether")
            .nth(1)
            .and_then(|m| {
                let bytes: Vec<u8> = m
                    .split(':')
                    .filter_map(|b| u8::from_str_radix(b, 16).ok())
                    .collect();
                <[u8; 6]>::try_from(bytes).ok()
            });
        mac.ok_or_else(|| NetError::Io {
            what: format!("no MAC address for {dev} in {}: {out}", self.name),
            source: io::Error::from(io::ErrorKind::NotFound),
        })
    }

    /// The IPv6 link-local address of `dev` (the first `scope link` address, e.g. the kernel's
    /// EUI-64 one), waiting up to 3 s for it to appear after the link comes up.
    ///
    /// Errors: [`NetError::Io`] (timed out) when `dev` has none.
    pub fn link_local(&self, dev: &str) -> Result<std::net::Ipv6Addr> {
        let deadline = Instant::now() + Duration::from_secs(3);
        loop {
            let out = self.ip(&["-6", "-o", "addr", "show", "dev", dev, "scope", "link"])?;
            let addr = out
                .split_whitespace()
                .skip_while(|w| *w != "inet6")
                .nth(1)
                .and_then(|a| a.split('/').next())
                .and_then(|a| a.parse().ok());
            if let Some(a) = addr {
                return Ok(a);
            }
            if Instant::now() >= deadline {
                return Err(NetError::Io {
                    what: format!("no IPv6 link-local address on {dev} in {}", self.name),
                    source: io::Error::from(io::ErrorKind::TimedOut),
                });
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// The pids of the processes inside the namespace (`ip netns pids NAME`).
    pub fn pids(&self) -> Vec<i32> {
        ip(&["netns", "pids", &self.name])
            .map(|out| {
                out.split_whitespace()
                    .filter_map(|p| p.parse().ok())
                    .collect()
            })
            .unwrap_or_default()
    }
}

impl Netns {
    /// Sends `signal` to every process inside the namespace (e.g. SIGKILL to crash a daemon
    /// and its children at once); returns how many were signalled.
    pub fn kill_all(&self, signal: Signal) -> usize {
        self.pids()
            .into_iter()
            .filter(|&pid| nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), signal).is_ok())
            .count()
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        self.kill_all(Signal::SIGKILL);
        if let Err(e) = ip(&["netns", "delete", &self.name]) {
            eprintln!("netns: cannot delete namespace {}: {e}", self.name);
        }
    }
}

fn check_link_name(name: &str) -> Result<()> {
    if name.len() > MAX_LINK_NAME {
        return Err(NetError::NameTooLong(name.to_string()));
    }
    Ok(())
}

/// A child process that is terminated on `Drop`: SIGTERM, then SIGKILL after
/// [`DEFAULT_GRACE`] if it is still running, then reaped.
#[derive(Debug)]
pub struct ChildGuard {
    child: Child,
    label: String,
}

impl ChildGuard {
    /// Spawns `cmd` (standard input null; output as configured on `cmd`); `label` names it in
    /// error messages.
    pub fn spawn(cmd: &mut Command, label: &str) -> Result<ChildGuard> {
        let line = describe(cmd);
        let child = cmd
            .stdin(Stdio::null())
            .spawn()
            .map_err(|source| NetError::Spawn { cmd: line, source })?;
        Ok(ChildGuard {
            child,
            label: label.to_string(),
        })
    }

    /// The child's process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Sends `signal` to the child (e.g. SIGTERM for keepalived's clean stop, SIGUSR1 for its
    /// data dump).
    pub fn signal(&self, signal: Signal) -> Result<()> {
        let pid = i32::try_from(self.child.id()).unwrap_or(i32::MAX);
        nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), signal).map_err(|e| NetError::Io {
            what: format!("kill -{signal} {} ({})", self.child.id(), self.label),
            source: io::Error::from(e),
        })
    }

    /// The exit status if the child has exited, without blocking.
    pub fn try_wait(&mut self) -> Result<Option<ExitStatus>> {
        let what = format!("waiting for {}", self.label);
        self.child.try_wait().map_err(io_err(what))
    }

    /// Waits up to `timeout` for the child to exit (polling every 10 ms); `None` if it is still
    /// running then.
    pub fn wait_timeout(&mut self, timeout: Duration) -> Result<Option<ExitStatus>> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(status) = self.try_wait()? {
                return Ok(Some(status));
            }
            if Instant::now() >= deadline {
                return Ok(None);
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// SIGTERM, wait up to `grace`, then SIGKILL and wait; returns the exit status.
    pub fn terminate(&mut self, grace: Duration) -> Result<ExitStatus> {
        if let Some(status) = self.try_wait()? {
            return Ok(status);
        }
        // The child may exit between try_wait and kill; ESRCH is then harmless.
        let _ = self.signal(Signal::SIGTERM);
        if let Some(status) = self.wait_timeout(grace)? {
            return Ok(status);
        }
        let _ = self.child.kill();
        let what = format!("waiting for {}", self.label);
        self.child.wait().map_err(io_err(what))
    }
}

impl Drop for ChildGuard {
    fn drop(&mut self) {
        if let Err(e) = self.terminate(DEFAULT_GRACE) {
            eprintln!("netns: cannot stop {}: {e}", self.label);
        }
    }
}

/// A directory under the system temporary directory, named [`unique_name`]`(prefix)` plus a
/// time stamp, removed with its contents on `Drop` (for configuration files, pid files, dumps).
#[derive(Debug)]
pub struct TempDir {
    path: PathBuf,
}

impl TempDir {
    /// Creates the directory.
    pub fn new(prefix: &str) -> Result<TempDir> {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.subsec_nanos())
            .unwrap_or(0);
        let path = std::env::temp_dir().join(format!("{}-{nanos}", unique_name(prefix)));
        std::fs::create_dir_all(&path).map_err(io_err(format!("mkdir {}", path.display())))?;
        Ok(TempDir { path })
    }

    /// The directory.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// `path()/name`.
    pub fn join(&self, name: &str) -> PathBuf {
        self.path.join(name)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.path);
    }
}

/// A TAP device (Ethernet frames, no packet-information header) opened by the test process:
/// frames the kernel sends out of the TAP link are read here, frames written here enter the
/// kernel as if received on it. Created in the namespace of the calling process (the root one),
/// then usually moved into a test namespace and onto a bridge ([`Lan::attach_tap`]); the file
/// descriptor keeps working after the move.
///
/// Not `Send` (smoltcp's device is `Rc`-based): use one TAP per thread. Closing it (on `Drop`)
/// destroys the link.
#[derive(Debug)]
pub struct Tap {
    dev: TunTapInterface,
    name: String,
}

impl Tap {
    /// Creates TAP link [`unique_name`]`(prefix)` in the caller's namespace (link down).
    pub fn create(prefix: &str) -> Result<Tap> {
        let name = unique_name(prefix);
        let dev = TunTapInterface::new(&name, Medium::Ethernet)
            .map_err(io_err(format!("opening TAP {name}")))?;
        Ok(Tap { dev, name })
    }

    /// Opens TAP link `name` exactly as given (no [`unique_name`]): attaches to an existing
    /// TAP of the caller's namespace (a persistent one made with `ip tuntap add NAME mode tap`,
    /// possibly already up on a bridge), or creates a non-persistent one (link down). Used by
    /// `lvs-realserver --tap NAME`.
    ///
    /// Errors: [`NetError::NameTooLong`], [`NetError::Io`] (no permission, busy).
    pub fn open(name: &str) -> Result<Tap> {
        check_link_name(name)?;
        let dev = TunTapInterface::new(name, Medium::Ethernet)
            .map_err(io_err(format!("opening TAP {name}")))?;
        Ok(Tap {
            dev,
            name: name.to_string(),
        })
    }

    /// The link's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The next frame already queued, without waiting; `Ok(None)` when there is none.
    ///
    /// Errors: [`NetError::Io`] when the read fails (EIO from a TAP whose link is down or
    /// that is being moved to another namespace, EBADFD once it is deleted). smoltcp panics
    /// on read errors other than "would block"; the panic is caught here and its message
    /// returned, so each caller decides whether a failed read ends it.
    pub fn try_recv(&mut self) -> Result<Option<Vec<u8>>> {
        let now = smoltcp::time::Instant::from_micros(0);
        let dev = &mut self.dev;
        std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            let (rx, _tx) = dev.receive(now)?;
            Some(rx.consume(<[u8]>::to_vec))
        }))
        .map_err(|p| {
            let msg = p
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| p.downcast_ref::<&str>().map(|s| (*s).to_owned()))
                .unwrap_or_default();
            NetError::Io {
                what: format!("reading TAP {}", self.name),
                source: io::Error::other(msg),
            }
        })
    }

    /// Waits up to `timeout` for a frame; `Ok(None)` when none came.
    pub fn recv(&mut self, timeout: Duration) -> Result<Option<Vec<u8>>> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(frame) = self.try_recv()? {
                return Ok(Some(frame));
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Ok(None);
            }
            let micros = u64::try_from(left.as_micros()).unwrap_or(u64::MAX);
            smoltcp::phy::wait(
                self.dev.as_raw_fd(),
                Some(smoltcp::time::Duration::from_micros(micros)),
            )
            .map_err(io_err(format!("waiting on TAP {}", self.name)))?;
        }
    }

    /// Writes one Ethernet frame (destination MAC first, no FCS). The link must be up.
    pub fn send(&mut self, frame: &[u8]) -> Result<()> {
        let now = smoltcp::time::Instant::from_micros(0);
        let tx = self.dev.transmit(now).ok_or_else(|| NetError::Io {
            what: format!("writing to TAP {}", self.name),
            source: io::Error::from(io::ErrorKind::WouldBlock),
        })?;
        tx.consume(frame.len(), |buf| buf.copy_from_slice(frame));
        Ok(())
    }
}

impl AsRawFd for Tap {
    /// The TAP's file descriptor (non-blocking), for a caller's own poll/select loop over
    /// several devices.
    fn as_raw_fd(&self) -> std::os::fd::RawFd {
        self.dev.as_raw_fd()
    }
}

/// A LAN: a namespace holding bridge `br0`, host namespaces each plugged in by a veth pair
/// (`eth0` in the host, a port `pN` on the bridge), and TAP devices of the test process as
/// further ports. Dropping it deletes the bridge namespace and with it every bridge-side veth
/// end (the host namespaces are the caller's [`Netns`] guards).
#[derive(Debug)]
pub struct Lan {
    ns: Netns,
    ports: u32,
}

/// The bridge's name inside the [`Lan`]'s namespace.
pub const LAN_BRIDGE: &str = "br0";

impl Lan {
    /// Creates the bridge namespace ([`unique_name`]`(prefix)`) and its bridge `br0`.
    pub fn new(prefix: &str) -> Result<Lan> {
        let ns = Netns::new(prefix)?;
        ns.add_bridge(LAN_BRIDGE)?;
        // No IPv6 on the bridge itself: keeps router solicitations and MLD reports off the LAN.
        ns.sysctl("net.ipv6.conf.br0.disable_ipv6", "1")?;
        Ok(Lan { ns, ports: 0 })
    }

    /// The namespace holding the bridge.
    pub fn netns(&self) -> &Netns {
        &self.ns
    }

    /// A new host namespace ([`unique_name`]`(prefix)`) whose `eth0` is plugged into the bridge,
    /// up, with addresses `cidrs` (e.g. `["10.77.1.2/24"]`). IPv6 duplicate address detection
    /// is off in the host, so its link-local address (see [`Netns::link_local`]) and any IPv6
    /// address added are usable at once.
    pub fn add_host(&mut self, prefix: &str, cidrs: &[&str]) -> Result<Netns> {
        let host = Netns::new(prefix)?;
        host.sysctl("net.ipv6.conf.all.accept_dad", "0")?;
        host.sysctl("net.ipv6.conf.default.accept_dad", "0")?;
        let port = format!("p{}", self.ports);
        self.ports += 1;
        self.ns.add_veth(&port, "eth0", &host)?;
        self.ns.set_master(&port, LAN_BRIDGE)?;
        for cidr in cidrs {
            host.add_addr("eth0", cidr)?;
        }
        host.link_up("eth0")?;
        Ok(host)
    }

    /// Moves `tap` into the bridge namespace, makes it a bridge port and brings it up. IPv6 is
    /// disabled on the TAP link so the kernel sends nothing of its own out of it.
    pub fn attach_tap(&mut self, tap: &Tap) -> Result<()> {
        self.ns.adopt_link(tap.name())?;
        self.ns
            .sysctl(&format!("net.ipv6.conf.{}.disable_ipv6", tap.name()), "1")?;
        self.ns.set_master(tap.name(), LAN_BRIDGE)?;
        self.ports += 1;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unique_names_fit_a_link_name_and_differ() {
        let a = unique_name("averylongprefix");
        let b = unique_name("averylongprefix");
        assert!(a.len() <= MAX_LINK_NAME, "{a}");
        assert_ne!(a, b);
        assert!(a.contains(&std::process::id().to_string()));
        // Characters that `ip` would reject are dropped.
        assert!(unique_name("a-b.c").starts_with("abc"));
    }

    #[test]
    fn check_link_name_rejects_sixteen_bytes() {
        assert!(check_link_name("fifteen_bytes__").is_ok());
        assert!(matches!(
            check_link_name("sixteen_bytes___"),
            Err(NetError::NameTooLong(_))
        ));
    }

    #[test]
    fn run_reports_failure_with_stderr() {
        let err = run(Command::new("sh").args(["-c", "echo oops >&2; exit 3"])).unwrap_err();
        match err {
            NetError::Failed { stderr, status, .. } => {
                assert_eq!(stderr, "oops");
                assert_eq!(status.code(), Some(3));
            }
            other => panic!("unexpected {other:?}"),
        }
        assert_eq!(run(Command::new("echo").arg("hi")).unwrap(), "hi\n");
    }

    #[test]
    fn child_guard_terminate_sends_sigterm_first() {
        let mut guard = ChildGuard::spawn(Command::new("sleep").arg("30"), "sleep").unwrap();
        let pid = guard.pid();
        assert!(guard.try_wait().unwrap().is_none());
        let status = guard.terminate(Duration::from_secs(2)).unwrap();
        assert_eq!(
            std::os::unix::process::ExitStatusExt::signal(&status),
            Some(15),
            "sleep {pid} ended by SIGTERM"
        );
    }

    #[test]
    fn temp_dir_is_removed_on_drop() {
        let dir = TempDir::new("tmp").unwrap();
        let p = dir.path().to_path_buf();
        std::fs::write(dir.join("f"), b"x").unwrap();
        assert!(p.is_dir());
        drop(dir);
        assert!(!p.exists());
    }

    #[test]
    fn have_program_finds_sh() {
        assert!(have_program("sh"));
        assert!(!have_program("surely-not-a-program-lvs"));
    }
}
