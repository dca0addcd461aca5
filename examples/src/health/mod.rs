//! keepalived-compatible health checks as sans-IO state machines (keepalived/check/check_api.c,
//! check_tcp.c, check_http.c, check_misc.c, ipwrapper.c).
//!
//! Nothing here does I/O or reads a clock: every input carries `now`, probes are handed to the
//! caller ([`Checker::poll_probe`], [`VirtualServerHealth::poll_probe`]), which runs them over
//! any transport (the director's smoltcp IP presence, or [`probe::run_probe`]'s blocking
//! `std::net` implementation) and reports back with `on_probe_result`. Pool changes come out as
//! [`HealthEvent`]s ([`VirtualServerHealth::poll_event`]), each convertible into the lvs-core
//! [`Command`] that applies it.
//!
//! # keepalived's semantics, as implemented
//! - A checker probes every `delay_loop`. On a failure it retries up to `retry` times, spaced by
//!   `delay_before_retry`; an UP checker goes DOWN on the `retry + 1`-th consecutive failure,
//!   then waits `delay_loop` again. One success brings it UP (check_tcp.c `tcp_epilog()`).
//!   A DOWN checker keeps the same rhythm: its failures also count retries spaced by
//!   `delay_before_retry` before the next `delay_loop` wait (tcp_epilog()'s unconditional
//!   retry branch; the newer UDP_CHECK / PING_CHECK epilogues wait `delay_loop` instead, a
//!   difference that only shifts when a DOWN real server's recovery is noticed).
//! - At start every checker is UP and its retry counter is already exhausted, so a failure on
//!   the very first check marks it DOWN at once (check_data.c: `checker->retry_it =
//!   checker->retry`). With `alpha` the checker starts DOWN instead and needs one success.
//! - A real server is alive when all its checkers are UP. A dead real server is removed from the
//!   virtual service, or with `inhibit_on_failure` kept with weight 0 (ipwrapper.c
//!   `perform_svr_state()`).
//! - Quorum (ipwrapper.c `update_quorum_state()`): the sum of the weights of the alive real
//!   servers is compared with `quorum` (default 1): quorum is lost when the sum is 0 or below
//!   `quorum - hysteresis`, regained at `quorum + hysteresis` or more. On loss the
//!   `sorry_server` is added and the remaining alive real servers are taken out; on regain the
//!   sorry server is removed and the alive real servers come back.
//!
//! Deliberate difference: keepalived delays each checker's first probe by a random `warmup`
//! (0..delay_loop); here the first probe is due at the `now` given to the constructor (a caller
//! wanting a warm-up staggers the constructors' `now`).

pub mod http;
pub mod probe;

use std::collections::VecDeque;
use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

use lvs_core::ipvsadm::Command;
use lvs_core::service::{DestConfig, ServiceKey};

use crate::keepalived::VirtualServer;
pub use http::{StatusCodes, UrlCheck};

/// keepalived's default `delay_loop`: 60 s (`KEEPALIVED_DEFAULT_DELAY`).
pub const DEFAULT_DELAY_LOOP: Duration = Duration::from_secs(60);
/// keepalived's default `connect_timeout`: 5 s (check_data.c `alloc_vs()`).
pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// keepalived's default `retry` for TCP_CHECK and HTTP_GET/SSL_GET: 1 (check_api.c
/// `queue_checker()`); MISC_CHECK uses 0 (check_misc.c).
pub const DEFAULT_RETRY: u32 = 1;
/// keepalived's default `delay_before_retry` for TCP_CHECK and MISC_CHECK: 1 s
/// (check_api.c `queue_checker()`).
pub const DEFAULT_DELAY_BEFORE_RETRY: Duration = Duration::from_secs(1);
/// keepalived's default `delay_before_retry` for HTTP_GET/SSL_GET: 3 s (check_http.c).
pub const DEFAULT_HTTP_DELAY_BEFORE_RETRY: Duration = Duration::from_secs(3);

/// Connection options shared by TCP_CHECK and HTTP_GET/SSL_GET (keepalived's `conn_opts`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConnectOpts {
    /// `connect_ip`: address to probe instead of the RIP.
    pub connect_ip: Option<IpAddr>,
    /// `connect_port`: port to probe instead of the real server's port.
    pub connect_port: Option<u16>,
    /// `bindto`: local source address of the probe.
    pub bindto: Option<IpAddr>,
    /// `bind_port`: local source port of the probe.
    pub bind_port: Option<u16>,
    /// `connect_timeout` (default 5 s, inherited from the real server / virtual server): the
    /// limit on the connection and, for HTTP, on each read.
    pub connect_timeout: Duration,
}

impl Default for ConnectOpts {
    fn default() -> Self {
        ConnectOpts {
            connect_ip: None,
            connect_port: None,
            bindto: None,
            bind_port: None,
            connect_timeout: DEFAULT_CONNECT_TIMEOUT,
        }
    }
}

impl ConnectOpts {
    /// The address probed for a real server at `rs`: `connect_ip`/`connect_port` override.
    pub fn target(&self, rs: SocketAddr) -> SocketAddr {
        SocketAddr::new(
            self.connect_ip.unwrap_or(rs.ip()),
            self.connect_port.unwrap_or(rs.port()),
        )
    }

    /// The local address to bind, when `bindto` is set.
    pub fn bind(&self) -> Option<SocketAddr> {
        self.bindto
            .map(|ip| SocketAddr::new(ip, self.bind_port.unwrap_or(0)))
    }
}

/// What a checker probes.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum CheckKind {
    /// `TCP_CHECK`: a TCP connection that completes within `connect_timeout`.
    Tcp(ConnectOpts),
    /// `HTTP_GET` (or `SSL_GET` when `tls`): for each url in turn, a connection, the request of
    /// [`http::http_request`] and a response passing [`http::evaluate_response`].
    Http {
        /// Connection options.
        conn: ConnectOpts,
        /// `SSL_GET`.
        tls: bool,
        /// The `url` blocks, all of which must pass.
        urls: Vec<UrlCheck>,
        /// `virtualhost`: the Host header instead of `IP:port`.
        virtualhost: Option<String>,
    },
    /// `MISC_CHECK`: a program whose exit status decides.
    Misc {
        /// `misc_path`: the command line.
        misc_path: String,
        /// `misc_timeout` (default: the checker's `delay_loop`).
        misc_timeout: Duration,
        /// `misc_dynamic`: exit codes 2..=255 set the weight to `code - 2`.
        misc_dynamic: bool,
    },
}

/// One checker of a real server, with keepalived's defaults already resolved (checker keyword,
/// else real server's, else virtual server's, else the checker type's default).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckerConfig {
    /// The probe.
    pub kind: CheckKind,
    /// `delay_loop`: period between checks while not retrying (default 60 s).
    pub delay_loop: Duration,
    /// `retry` (alias `nb_get_retry`, `nb_sock_retry`): retries after a failure before an UP
    /// checker goes DOWN (default 1; MISC_CHECK 0).
    pub retry: u32,
    /// `delay_before_retry`: delay before each retry (default 3 s for HTTP/SSL, 1 s otherwise).
    pub delay_before_retry: Duration,
    /// `alpha`: start DOWN.
    pub alpha: bool,
}

impl CheckerConfig {
    /// A TCP_CHECK with keepalived's defaults.
    pub fn tcp() -> Self {
        CheckerConfig {
            kind: CheckKind::Tcp(ConnectOpts::default()),
            delay_loop: DEFAULT_DELAY_LOOP,
            retry: DEFAULT_RETRY,
            delay_before_retry: DEFAULT_DELAY_BEFORE_RETRY,
            alpha: false,
        }
    }

    /// An HTTP_GET of `urls` with keepalived's defaults.
    pub fn http(urls: Vec<UrlCheck>) -> Self {
        CheckerConfig {
            kind: CheckKind::Http {
                conn: ConnectOpts::default(),
                tls: false,
                urls,
                virtualhost: None,
            },
            delay_loop: DEFAULT_DELAY_LOOP,
            retry: DEFAULT_RETRY,
            delay_before_retry: DEFAULT_HTTP_DELAY_BEFORE_RETRY,
            alpha: false,
        }
    }

    /// The connection timeout of the probe (`connect_timeout`, or `misc_timeout`).
    pub fn timeout(&self) -> Duration {
        match &self.kind {
            CheckKind::Tcp(c) | CheckKind::Http { conn: c, .. } => c.connect_timeout,
            CheckKind::Misc { misc_timeout, .. } => *misc_timeout,
        }
    }

    /// The probe this checker runs against the real server at `rs`.
    pub fn probe(&self, rs: SocketAddr) -> Probe {
        match &self.kind {
            CheckKind::Tcp(c) => Probe::Tcp {
                addr: c.target(rs),
                bind: c.bind(),
                timeout: c.connect_timeout,
            },
            CheckKind::Http {
                conn,
                tls,
                urls,
                virtualhost,
            } => Probe::Http {
                addr: conn.target(rs),
                bind: conn.bind(),
                timeout: conn.connect_timeout,
                tls: *tls,
                urls: urls.clone(),
                virtualhost: virtualhost.clone(),
            },
            CheckKind::Misc {
                misc_path,
                misc_timeout,
                misc_dynamic,
            } => Probe::Misc {
                command: misc_path.clone(),
                timeout: *misc_timeout,
                dynamic: *misc_dynamic,
            },
        }
    }
}

/// One probe to run; the caller reports its outcome as a [`ProbeResult`].
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Probe {
    /// Open a TCP connection to `addr` (from `bind` if set) within `timeout`, then close it.
    Tcp {
        /// Address probed.
        addr: SocketAddr,
        /// Local address to bind (`bindto`, `bind_port`).
        bind: Option<SocketAddr>,
        /// Connection timeout.
        timeout: Duration,
    },
    /// For each url: connect to `addr` within `timeout`, send
    /// [`http::http_request`]`(path, addr, url.virtualhost.or(virtualhost))`, read the response
    /// until the server closes (each read within `timeout`) and check it with
    /// [`http::evaluate_response`]. Success only if every url passes.
    Http {
        /// Address probed.
        addr: SocketAddr,
        /// Local address to bind.
        bind: Option<SocketAddr>,
        /// Connection and read timeout.
        timeout: Duration,
        /// TLS (`SSL_GET`).
        tls: bool,
        /// The urls.
        urls: Vec<UrlCheck>,
        /// Host header override.
        virtualhost: Option<String>,
    },
    /// Run `command`; kill it after `timeout` (a failure). Map the exit status with
    /// [`ProbeResult::from_misc_exit`].
    Misc {
        /// The command line (`misc_path`).
        command: String,
        /// Time limit.
        timeout: Duration,
        /// `misc_dynamic`.
        dynamic: bool,
    },
}

/// The outcome of a [`Probe`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProbeResult {
    /// The probe passed.
    Success,
    /// The probe failed (refused, timed out, bad status, bad digest, non-zero exit).
    Failure,
    /// MISC_CHECK with `misc_dynamic`: passed, and the real server's weight becomes this.
    SuccessWithWeight(u32),
}

impl ProbeResult {
    /// keepalived's reading of a MISC_CHECK exit status (check_misc.c `misc_check_child_thread()`):
    /// 0 passes; with `misc_dynamic`, 2..=255 pass and set the weight to `code - 2`; anything
    /// else fails.
    pub fn from_misc_exit(code: i32, dynamic: bool) -> Self {
        match code {
            0 => ProbeResult::Success,
            2..=255 if dynamic => ProbeResult::SuccessWithWeight(code.unsigned_abs() - 2),
            _ => ProbeResult::Failure,
        }
    }

    fn passed(self) -> bool {
        !matches!(self, ProbeResult::Failure)
    }
}

/// The state machine of one checker (check_api.c / check_tcp.c `tcp_epilog()` semantics).
#[derive(Debug, Clone)]
pub struct Checker {
    config: CheckerConfig,
    rs: SocketAddr,
    up: bool,
    has_run: bool,
    retry_it: u32,
    next: Instant,
    in_flight: bool,
    changed: bool,
    weight: Option<u32>,
}

impl Checker {
    /// A checker of the real server at `rs` (RIP:port); its first probe is due at `now`. It
    /// starts UP, or DOWN with `alpha`.
    pub fn new(config: CheckerConfig, rs: SocketAddr, now: Instant) -> Self {
        Checker {
            up: !config.alpha,
            retry_it: config.retry,
            config,
            rs,
            has_run: false,
            next: now,
            in_flight: false,
            changed: false,
            weight: None,
        }
    }

    /// The configuration.
    pub fn config(&self) -> &CheckerConfig {
        &self.config
    }

    /// True while the checker is UP.
    pub fn is_up(&self) -> bool {
        self.up
    }

    /// The weight reported by the last `misc_dynamic` success, if any.
    pub fn dynamic_weight(&self) -> Option<u32> {
        self.weight
    }

    /// The probe to run now, if one is due and none is outstanding. The caller must answer it
    /// with [`Checker::on_probe_result`].
    pub fn poll_probe(&mut self, now: Instant) -> Option<Probe> {
        if self.in_flight || now < self.next {
            return None;
        }
        self.in_flight = true;
        Some(self.config.probe(self.rs))
    }

    /// Feed the outcome of the outstanding probe, at the time it completed.
    ///
    /// Success: retry counter cleared, UP, next check after `delay_loop`. Failure: if the retry
    /// counter has reached `retry`, it is cleared, the checker goes DOWN and the next check is
    /// after `delay_loop`; otherwise the counter grows and the next check (the retry) is after
    /// `delay_before_retry`. A result without an outstanding probe is ignored.
    pub fn on_probe_result(&mut self, now: Instant, result: ProbeResult) {
        if !self.in_flight {
            return;
        }
        self.in_flight = false;
        if result.passed() || self.retry_it >= self.config.retry {
            self.retry_it = 0;
            self.next = now + self.config.delay_loop;
            if let ProbeResult::SuccessWithWeight(w) = result
                && self.weight != Some(w)
            {
                self.weight = Some(w);
                self.changed = true;
            }
            if result.passed() && !self.up {
                self.up = true;
                self.changed = true;
            } else if !result.passed() && self.up {
                self.up = false;
                self.changed = true;
            }
        } else {
            self.retry_it += 1;
            self.next = now + self.config.delay_before_retry;
        }
        self.has_run = true;
    }

    /// When the next probe is due; `None` while a probe is outstanding (the caller's probe has
    /// its own timeout).
    pub fn poll_timeout(&self) -> Option<Instant> {
        (!self.in_flight).then_some(self.next)
    }

    /// True once after the state (or the dynamic weight) changed.
    pub fn take_changed(&mut self) -> bool {
        std::mem::take(&mut self.changed)
    }

    /// True after the first probe result.
    pub fn has_run(&self) -> bool {
        self.has_run
    }
}

/// What to do to the IPVS table for a [`HealthEvent`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HealthAction {
    /// Remove the real server (`ipvsadm -d`).
    Remove,
    /// Add the real server back with its weight (`ipvsadm -a`).
    Restore,
    /// Keep the real server but set its weight to 0 (`inhibit_on_failure`; `ipvsadm -e -w 0`).
    Weight0,
    /// Set the weight back (`ipvsadm -e -w W`): an inhibited real server came back, or a
    /// `misc_dynamic` weight changed.
    RestoreWeight(u32),
}

/// A change to apply to a virtual service's real servers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HealthEvent {
    /// The virtual service.
    pub service: ServiceKey,
    /// The real server (RIP:port), or the sorry server.
    pub real_server: SocketAddr,
    /// True when the real server is alive after the change (for the sorry server: in use).
    pub up: bool,
    /// What to do.
    pub action: HealthAction,
    /// True when `real_server` is the virtual server's `sorry_server`.
    pub sorry_server: bool,
    /// The real server's configuration with the weight the action leaves it with.
    pub dest: DestConfig,
}

impl HealthEvent {
    /// The ipvsadm command that applies the event (`-d`, `-a`, or `-e`).
    pub fn command(&self) -> Command {
        match self.action {
            HealthAction::Remove => Command::DeleteDest {
                service: self.service,
                addr: self.real_server,
            },
            HealthAction::Restore => Command::AddDest {
                service: self.service,
                dest: self.dest,
            },
            HealthAction::Weight0 | HealthAction::RestoreWeight(_) => Command::EditDest {
                service: self.service,
                dest: self.dest,
            },
        }
    }
}

/// Where a real server stands in the IPVS table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Pool {
    Absent,
    Weight0,
    Active(u32),
}

#[derive(Debug, Clone)]
struct RsHealth {
    dest: DestConfig,
    inhibit: bool,
    checkers: Vec<Checker>,
    alive: bool,
    pool: Pool,
}

impl RsHealth {
    fn weight(&self) -> u32 {
        // A misc_dynamic weight overrides the configured one (the last checker reporting one).
        self.checkers
            .iter()
            .filter_map(Checker::dynamic_weight)
            .next_back()
            .unwrap_or(self.dest.weight)
    }
}

/// Identifies a checker inside a [`VirtualServerHealth`]: the index of the real server (in
/// configuration order) and of its checker.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ProbeId {
    /// Index of the real server in [`VirtualServer::real_servers`].
    pub real_server: usize,
    /// Index of the checker in [`crate::keepalived::RealServer::checkers`].
    pub checker: usize,
}

/// The health of one virtual server: its real servers' checkers, quorum and sorry server.
#[derive(Debug, Clone)]
pub struct VirtualServerHealth {
    service: ServiceKey,
    rs: Vec<RsHealth>,
    quorum: u32,
    hysteresis: u32,
    sorry: Option<(DestConfig, bool, Pool)>,
    quorum_up: bool,
    events: VecDeque<HealthEvent>,
}

impl VirtualServerHealth {
    /// The health state of `vs`, first probes due at `now`.
    ///
    /// Initial state as keepalived starts: real servers whose checkers are all non-alpha are
    /// alive and in the pool; a real server with an alpha checker starts dead (absent, or
    /// weight 0 with `inhibit_on_failure`). Quorum starts up unless the alive weight is 0 or
    /// below `quorum - hysteresis`, in which case the sorry server is in use.
    pub fn new(vs: &VirtualServer, now: Instant) -> Self {
        let rs = vs
            .real_servers
            .iter()
            .map(|r| {
                let checkers: Vec<Checker> = r
                    .checkers
                    .iter()
                    .map(|c| Checker::new(c.clone(), r.dest.addr, now))
                    .collect();
                RsHealth {
                    dest: r.dest,
                    inhibit: r.inhibit_on_failure,
                    alive: checkers.iter().all(Checker::is_up),
                    checkers,
                    pool: Pool::Absent,
                }
            })
            .collect();
        let mut h = VirtualServerHealth {
            service: vs.key,
            rs,
            quorum: vs.quorum,
            hysteresis: vs.hysteresis,
            sorry: vs.sorry_server.map(|s| (s.dest, s.inhibit, Pool::Absent)),
            quorum_up: true,
            events: VecDeque::new(),
        };
        let sum = h.alive_weight();
        h.quorum_up = !(sum == 0 || sum < u64::from(h.quorum.saturating_sub(h.hysteresis)));
        h.sync_pool(None);
        h.events.clear();
        h
    }

    /// The ipvsadm commands that build this virtual server's initial table: `-a` for each
    /// real server (and sorry server) in the pool, in configuration order (the `-A` is the
    /// caller's).
    pub fn initial_dest_commands(&self) -> Vec<Command> {
        let mut out = Vec::new();
        let mut push = |dest: &DestConfig, pool: Pool| {
            let weight = match pool {
                Pool::Absent => return,
                Pool::Weight0 => 0,
                Pool::Active(w) => w,
            };
            out.push(Command::AddDest {
                service: self.service,
                dest: DestConfig { weight, ..*dest },
            });
        };
        for r in &self.rs {
            push(&r.dest, r.pool);
        }
        if let Some((d, _, p)) = &self.sorry {
            push(d, *p);
        }
        out
    }

    /// The virtual service.
    pub fn service(&self) -> ServiceKey {
        self.service
    }

    /// True while quorum is up (the sorry server, if any, is not in use).
    pub fn quorum_up(&self) -> bool {
        self.quorum_up
    }

    /// True when real server `i` is alive (all its checkers UP).
    pub fn is_alive(&self, i: usize) -> Option<bool> {
        self.rs.get(i).map(|r| r.alive)
    }

    /// The next probe due at `now`, with its id; call until `None`.
    pub fn poll_probe(&mut self, now: Instant) -> Option<(ProbeId, Probe)> {
        for (ri, r) in self.rs.iter_mut().enumerate() {
            for (ci, c) in r.checkers.iter_mut().enumerate() {
                if let Some(p) = c.poll_probe(now) {
                    return Some((
                        ProbeId {
                            real_server: ri,
                            checker: ci,
                        },
                        p,
                    ));
                }
            }
        }
        None
    }

    /// Feed a probe's outcome; unknown ids are ignored. Pool changes are queued for
    /// [`VirtualServerHealth::poll_event`].
    pub fn on_probe_result(&mut self, now: Instant, id: ProbeId, result: ProbeResult) {
        let Some(r) = self.rs.get_mut(id.real_server) else {
            return;
        };
        let Some(c) = r.checkers.get_mut(id.checker) else {
            return;
        };
        c.on_probe_result(now, result);
        if !c.take_changed() {
            return;
        }
        r.alive = r.checkers.iter().all(Checker::is_up);
        self.update_quorum();
        self.sync_pool(Some(id.real_server));
    }

    /// The earliest time a probe is due (`None` when every checker has a probe outstanding or
    /// there are no checkers).
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.rs
            .iter()
            .flat_map(|r| r.checkers.iter())
            .filter_map(Checker::poll_timeout)
            .min()
    }

    /// The next pool change to apply, oldest first.
    pub fn poll_event(&mut self) -> Option<HealthEvent> {
        self.events.pop_front()
    }

    fn alive_weight(&self) -> u64 {
        self.rs
            .iter()
            .filter(|r| r.alive)
            .map(|r| u64::from(r.weight()))
            .sum()
    }

    fn update_quorum(&mut self) {
        let sum = self.alive_weight();
        let up_at = u64::from(self.quorum) + u64::from(self.hysteresis);
        let down_below = u64::from(self.quorum.saturating_sub(self.hysteresis));
        if !self.quorum_up && sum >= up_at {
            self.quorum_up = true;
        } else if self.quorum_up && (sum == 0 || sum < down_below) {
            self.quorum_up = false;
        }
    }

    /// Bring every real server (and the sorry server) to its target pool state, queueing one
    /// event per change, in keepalived's order (ipwrapper.c): the real server whose state
    /// changed (`first`) is handled first (`perform_svr_state()`), then the quorum
    /// (`update_quorum_state()`): on loss the sorry server comes in before the remaining
    /// alive real servers leave, on regain it leaves before they come back.
    fn sync_pool(&mut self, first: Option<usize>) {
        let sorry_active = !self.quorum_up && self.sorry.is_some();
        if !sorry_active {
            self.sync_sorry(false);
        }
        if let Some(i) = first {
            self.sync_rs(i, sorry_active);
        }
        if sorry_active {
            self.sync_sorry(true);
        }
        for i in 0..self.rs.len() {
            self.sync_rs(i, sorry_active);
        }
    }

    fn sync_rs(&mut self, i: usize, sorry_active: bool) {
        let Some(r) = self.rs.get(i) else { return };
        let target = if r.alive && !sorry_active {
            Pool::Active(r.weight())
        } else if r.inhibit {
            Pool::Weight0
        } else {
            Pool::Absent
        };
        let (from, dest, alive) = (r.pool, r.dest, r.alive);
        if let Some(ev) = self.transition(dest, from, target, alive, false) {
            self.events.push_back(ev);
        }
        if let Some(r) = self.rs.get_mut(i) {
            r.pool = target;
        }
    }

    fn sync_sorry(&mut self, active: bool) {
        let Some((dest, inhibit, pool)) = self.sorry else {
            return;
        };
        let target = if active {
            Pool::Active(dest.weight)
        } else if inhibit {
            Pool::Weight0
        } else {
            Pool::Absent
        };
        if let Some(ev) = self.transition(dest, pool, target, active, true) {
            self.events.push_back(ev);
        }
        self.sorry = Some((dest, inhibit, target));
    }

    fn transition(
        &self,
        dest: DestConfig,
        from: Pool,
        to: Pool,
        up: bool,
        sorry_server: bool,
    ) -> Option<HealthEvent> {
        let (action, weight) = match (from, to) {
            (a, b) if a == b => return None,
            (_, Pool::Absent) => (HealthAction::Remove, dest.weight),
            (Pool::Absent, Pool::Active(w)) => (HealthAction::Restore, w),
            (Pool::Absent, Pool::Weight0) => (HealthAction::Restore, 0),
            (_, Pool::Weight0) => (HealthAction::Weight0, 0),
            (_, Pool::Active(w)) => (HealthAction::RestoreWeight(w), w),
        };
        Some(HealthEvent {
            service: self.service,
            real_server: dest.addr,
            up,
            action,
            sorry_server,
            dest: DestConfig { weight, ..dest },
        })
    }
}

/// Identifies a checker inside a [`HealthMonitor`]: the virtual server's index in
/// [`crate::keepalived::KeepalivedConfig::virtual_servers`] and the [`ProbeId`] inside it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct MonitorProbeId {
    /// Index of the virtual server.
    pub virtual_server: usize,
    /// The checker within it.
    pub probe: ProbeId,
}

/// The health of every virtual server of a keepalived configuration: one
/// [`VirtualServerHealth`] each, driven together.
#[derive(Debug, Clone)]
pub struct HealthMonitor {
    servers: Vec<VirtualServerHealth>,
}

impl HealthMonitor {
    /// The health state of every virtual server of `cfg`, first probes due at `now`.
    pub fn new(cfg: &crate::keepalived::KeepalivedConfig, now: Instant) -> Self {
        HealthMonitor {
            servers: cfg
                .virtual_servers
                .iter()
                .map(|vs| VirtualServerHealth::new(vs, now))
                .collect(),
        }
    }

    /// The per-virtual-server states, in configuration order.
    pub fn virtual_servers(&self) -> &[VirtualServerHealth] {
        &self.servers
    }

    /// The next probe due at `now`; call until `None`.
    pub fn poll_probe(&mut self, now: Instant) -> Option<(MonitorProbeId, Probe)> {
        self.servers.iter_mut().enumerate().find_map(|(i, s)| {
            s.poll_probe(now).map(|(probe, p)| {
                (
                    MonitorProbeId {
                        virtual_server: i,
                        probe,
                    },
                    p,
                )
            })
        })
    }

    /// Feed a probe's outcome (unknown ids are ignored).
    pub fn on_probe_result(&mut self, now: Instant, id: MonitorProbeId, result: ProbeResult) {
        if let Some(s) = self.servers.get_mut(id.virtual_server) {
            s.on_probe_result(now, id.probe, result);
        }
    }

    /// The earliest time a probe is due.
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.servers
            .iter()
            .filter_map(VirtualServerHealth::poll_timeout)
            .min()
    }

    /// The next pool change, virtual servers in configuration order.
    pub fn poll_event(&mut self) -> Option<HealthEvent> {
        self.servers
            .iter_mut()
            .find_map(VirtualServerHealth::poll_event)
    }
}
