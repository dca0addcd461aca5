//! The VRRP side of a director: the `vrrp_instance`s of its configuration driven by lvs-vrrp
//! in real time, with keepalived's `vrrp_script` trackers and notify scripts as child
//! processes.
//!
//! [`VrrpRunner`] is fed the director's frame loop: every received frame that is VRRP (IP
//! protocol 112) goes to [`VrrpRunner::handle_frame`]; at [`VrrpRunner::poll_timeout`] the
//! loop calls [`VrrpRunner::handle_timeout`]; after either it drains
//! [`VrrpRunner::poll_transmit`] (adverts, gratuitous ARPs, unsolicited NAs: whole Ethernet
//! frames to write on the TAP). [`VrrpRunner::is_master`] tells, per VIP, whether this
//! director owns it now: only then does it answer ARP for it and forward traffic to it
//! (RFC 9568 section 6.4.3; a Backup "MUST NOT respond to ARP requests for the IPvX
//! address(es)" and "MUST discard packets with a destination link-layer MAC address equal to
//! the virtual router MAC address", section 6.4.2).

use std::net::IpAddr;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use lvs_vrrp::{
    ConfigError, Event, Router, State, TrackFileWeight, TrackStatus, TrackWeight, Transmit,
    VrrpConfig, VrrpInstance,
};

use super::track::{
    Binding, ProcessTracker, TRACK_POLL_INTERVAL, TrackFile, Trackers, process_object_up,
    process_track_weight, read_track_file, resolve, scan_proc,
};
use crate::keepalived::TrackRef;

/// IP protocol number of VRRP (RFC 9568 section 5.1.1.4).
pub const IPPROTO_VRRP: u8 = 112;

/// True when `frame` is an Ethernet II frame carrying IPv4 or IPv6 with protocol / next
/// header 112 (VRRP). Never panics.
pub fn is_vrrp_frame(frame: &[u8]) -> bool {
    match frame.get(12..14) {
        Some([0x08, 0x00]) => frame.get(14 + 9) == Some(&IPPROTO_VRRP),
        Some([0x86, 0xdd]) => frame.get(14 + 6) == Some(&IPPROTO_VRRP),
        _ => false,
    }
}

/// A keepalived `vrrp_script NAME { script ...; interval ...; timeout ...; rise ...; fall ...;
/// weight ... }` block (keepalived 2.2.7 defaults: interval 1 s, timeout = interval, rise 1,
/// fall 1, weight 0).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VrrpScript {
    /// The block's name, referenced by `track_script`.
    pub name: String,
    /// The command line, split on whitespace and executed without a shell (keepalived does
    /// the same); exit status 0 = success.
    pub script: String,
    /// Run period.
    pub interval: Duration,
    /// A run longer than this is killed (SIGKILL) and counts as a failure.
    pub timeout: Duration,
    /// Consecutive successes to go from failed to OK.
    pub rise: u32,
    /// Consecutive failures to go from OK to failed.
    pub fall: u32,
    /// keepalived's weight, -253..=253: > 0 is added to the priority while OK, < 0 is
    /// subtracted while failed, 0 puts the tracking instances in FAULT while failed.
    pub weight: i32,
}

impl VrrpScript {
    /// A script with keepalived's defaults.
    pub fn new(name: &str, script: &str) -> Self {
        VrrpScript {
            name: name.into(),
            script: script.into(),
            interval: Duration::from_secs(1),
            timeout: Duration::from_secs(1),
            rise: 1,
            fall: 1,
            weight: 0,
        }
    }
}

/// One `vrrp_instance` with the keepalived keywords lvs-vrrp's [`VrrpConfig`] leaves to the
/// caller: notify scripts and tracked scripts.
#[derive(Debug, Clone, Default)]
pub struct HaInstance {
    /// The protocol configuration (`name` is the instance name in notify arguments).
    pub config: VrrpConfig,
    /// `notify`: called on every state change with `INSTANCE <name> <MASTER|BACKUP|FAULT|STOP>
    /// <priority>` appended.
    pub notify: Option<String>,
    /// `notify_master`: called without arguments on becoming MASTER.
    pub notify_master: Option<String>,
    /// `notify_backup`: called without arguments on becoming BACKUP.
    pub notify_backup: Option<String>,
    /// `notify_fault`: called without arguments on entering FAULT.
    pub notify_fault: Option<String>,
    /// `notify_stop`: called without arguments on stopping.
    pub notify_stop: Option<String>,
    /// `track_script { NAME [weight W] }`: names of [`VrrpScript`]s; the script's weight is
    /// used unless `config.track` already lists the name with its own weight.
    pub track_script: Vec<String>,
    /// `track_file { NAME [weight W [reverse]] }`: names of [`TrackFile`]s given to
    /// [`VrrpRunner::new_with_trackers`]; weight and reverse default to the block's.
    pub track_file: Vec<TrackRef>,
    /// `track_process { NAME [weight W [reverse]] }`: names of [`super::track::TrackProcess`]es given to
    /// [`VrrpRunner::new_with_trackers`]; weight and reverse default to the block's.
    pub track_process: Vec<TrackRef>,
}

impl HaInstance {
    /// An instance without scripts.
    pub fn new(config: VrrpConfig) -> Self {
        HaInstance {
            config,
            ..HaInstance::default()
        }
    }
}

/// Why a [`VrrpRunner`] could not be built.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum HaConfigError {
    /// lvs-vrrp refused an instance's configuration.
    #[error("vrrp_instance {name}: {source}")]
    Vrrp {
        /// Instance name.
        name: String,
        /// The reason.
        source: ConfigError,
    },
    /// `track_script` names a script that is not defined.
    #[error("vrrp_instance {instance}: track_script {script} is not defined")]
    UnknownScript {
        /// Instance name.
        instance: String,
        /// The missing script.
        script: String,
    },
    /// `track_file` / `track_process` names a tracker that is not defined.
    #[error("vrrp_instance {instance}: {keyword} {name} is not defined")]
    UnknownTracker {
        /// Instance name.
        instance: String,
        /// `track_file` or `track_process`.
        keyword: &'static str,
        /// The missing tracker.
        name: String,
    },
}

#[derive(Debug)]
struct ScriptState {
    def: VrrpScript,
    ok: bool,
    successes: u32,
    failures: u32,
    next_run: Instant,
    running: Option<(Child, Instant)>,
}

/// What one runner did, for logs and tests: state changes with their reasons, script results,
/// notify invocations.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HaLog {
    /// An instance changed state (lvs-vrrp's event, with the instance name).
    State {
        /// Instance name.
        instance: String,
        /// The event.
        event: Event,
    },
    /// A tracked script changed between OK and failed.
    Script {
        /// Script name.
        name: String,
        /// New result.
        ok: bool,
    },
    /// A notify script was started with these arguments (program first).
    Notify(Vec<String>),
    /// A notify script could not be started.
    NotifyError(String),
    /// An advert for a VRID this director does not run (split brain: different
    /// `virtual_router_id`s on the two directors).
    UnknownVrid {
        /// The VRID heard.
        vrid: u8,
    },
    /// A watched interface (own `interface` or `track_interface`) changed link state.
    Link {
        /// Interface name.
        ifname: String,
        /// New state.
        up: bool,
    },
    /// A track file's value puts an instance in FAULT (`fault`) or no longer does.
    TrackFileFault {
        /// Instance name.
        instance: String,
        /// Track file name.
        name: String,
        /// Entering (true) or leaving (false) FAULT.
        fault: bool,
    },
    /// A track file holds a number that overflows; the previous value is kept.
    TrackFileInvalid {
        /// The file.
        path: String,
    },
    /// `init_file` could not write the file.
    TrackFileInitFailed {
        /// Track file name.
        name: String,
        /// The reason.
        error: String,
    },
    /// A tracked process set gained or lost its quorum.
    TrackProcess {
        /// Tracked process name.
        name: String,
        /// Quorum now.
        up: bool,
    },
    /// An instance's effective priority changed (tracked weights).
    Priority {
        /// Instance name.
        instance: String,
        /// Before.
        from: u8,
        /// After.
        to: u8,
    },
}

impl std::fmt::Display for HaLog {
    /// keepalived-like log lines: `VI_1: Entering MASTER STATE (master down, priority 100)`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            HaLog::State { instance, event } => match event {
                Event::StateChange {
                    to,
                    reason,
                    priority,
                    ..
                } => write!(
                    f,
                    "{instance}: Entering {} STATE ({reason:?}, priority {priority})",
                    to.notify_name()
                ),
                Event::MasterRxLowerPriority { src, priority } => write!(
                    f,
                    "{instance}: MASTER received a lower priority ({priority}) advert from {src}"
                ),
                Event::OwnerConflict { src } => {
                    write!(
                        f,
                        "{instance}: another address owner (priority 255) at {src}"
                    )
                }
                _ => write!(f, "{instance}: {event:?}"),
            },
            HaLog::Script { name, ok } => write!(
                f,
                "VRRP_Script({name}) {}",
                if *ok { "succeeded" } else { "failed" }
            ),
            HaLog::Notify(argv) => write!(f, "notify: {}", argv.join(" ")),
            HaLog::NotifyError(e) => write!(f, "notify failed: {e}"),
            HaLog::UnknownVrid { vrid } => write!(
                f,
                "advert for VRID {vrid}, which no instance here runs (different \
                 virtual_router_id: split brain)"
            ),
            HaLog::Link { ifname, up } => write!(
                f,
                "Kernel is reporting: interface {ifname} {}",
                if *up { "UP" } else { "DOWN" }
            ),
            // track_file.c process_update_vrrp_track_file_status().
            HaLog::TrackFileFault {
                instance,
                name,
                fault,
            } => write!(
                f,
                "({instance}): tracked file {name} {}",
                if *fault {
                    "now FAULT state"
                } else {
                    "leaving FAULT state"
                }
            ),
            HaLog::TrackFileInvalid { path } => {
                write!(f, "Invalid number read from {path} - ignoring")
            }
            HaLog::TrackFileInitFailed { name, error } => {
                write!(f, "Unable to initialise track file {name}: {error}")
            }
            // vrrp_track.c process_update_track_process_status().
            HaLog::TrackProcess { name, up } => write!(
                f,
                "Quorum {} for tracked process {name}",
                if *up { "gained" } else { "lost" }
            ),
            // vrrp_track.c vrrp_set_effective_priority().
            HaLog::Priority { instance, from, to } => write!(
                f,
                "({instance}) Changing effective priority from {from} to {to}"
            ),
        }
    }
}

/// The VRRP instances of one director, their scripts and their notify children. See the
/// module docs. Time is `Instant`, converted to lvs-vrrp microseconds since construction.
#[derive(Debug)]
pub struct VrrpRunner {
    router: Router,
    specs: Vec<HaInstance>,
    scripts: Vec<ScriptState>,
    epoch: Instant,
    notify_children: Vec<Child>,
    log: Vec<HaLog>,
    unknown_vrid_logged: Vec<u8>,
    files: Vec<(TrackFile, i64)>,
    file_bindings: Vec<Binding>,
    procs: Vec<ProcessTracker>,
    proc_bindings: Vec<Binding>,
    next_track_poll: Option<Instant>,
}

/// Resolves `spec`'s `keyword` entries `refs` against the tracker blocks `defs` (name,
/// weight, reverse): `(tracker index, name, weight, reverse)` per entry.
fn bind_entries(
    spec: &HaInstance,
    keyword: &'static str,
    refs: &[TrackRef],
    defs: &[(&str, i32, bool)],
) -> Result<Vec<(usize, String, i32, bool)>, HaConfigError> {
    refs.iter()
        .map(|r| {
            let Some((t, (_, w, rev))) = defs.iter().enumerate().find(|(_, d)| d.0 == r.name)
            else {
                return Err(HaConfigError::UnknownTracker {
                    instance: spec.config.name.clone(),
                    keyword,
                    name: r.name.clone(),
                });
            };
            let (weight, reverse) = resolve(r, *w, *rev);
            Ok((t, r.name.clone(), weight, reverse))
        })
        .collect()
}

fn split_cmd(line: &str) -> Vec<String> {
    line.split_whitespace().map(str::to_owned).collect()
}

fn spawn_quiet(argv: &[String]) -> std::io::Result<Child> {
    let (prog, args) = argv
        .split_first()
        .ok_or_else(|| std::io::Error::from(std::io::ErrorKind::InvalidInput))?;
    Command::new(prog)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
}

impl VrrpRunner {
    /// Builds and starts the instances at `now`; every script is considered OK until it has
    /// failed `fall` times (keepalived's default initial state).
    ///
    /// # Errors
    /// [`HaConfigError`] for an invalid instance or an undefined tracked script.
    pub fn new(
        instances: Vec<HaInstance>,
        scripts: Vec<VrrpScript>,
        now: Instant,
    ) -> Result<Self, HaConfigError> {
        Self::new_with_trackers(instances, scripts, Trackers::default(), now)
    }

    /// [`VrrpRunner::new`] with `track_file` / `track_process` trackers (see
    /// [`super::track`]): `init_file`s are written, the files read and /proc scanned once
    /// (the initial state, no delays), and both are polled every [`TRACK_POLL_INTERVAL`]
    /// from then on by [`VrrpRunner::handle_timeout`].
    ///
    /// # Errors
    /// As [`VrrpRunner::new`], and [`HaConfigError::UnknownTracker`] for an entry naming no
    /// tracker.
    pub fn new_with_trackers(
        instances: Vec<HaInstance>,
        scripts: Vec<VrrpScript>,
        trackers: Trackers,
        now: Instant,
    ) -> Result<Self, HaConfigError> {
        let mut router = Router::new();
        let mut specs = Vec::with_capacity(instances.len());
        let mut file_bindings = Vec::new();
        // The files are initialised and read first: their values are the instances' starting
        // state (init_track_files() runs before initialise_tracking_priorities()).
        let mut log = Vec::new();
        for f in &trackers.files {
            if let Some(init) = f.init
                && let Err(e) = super::track::init_track_file(&f.path, init)
            {
                log.push(HaLog::TrackFileInitFailed {
                    name: f.name.clone(),
                    error: e.to_string(),
                });
            }
        }
        let files: Vec<(TrackFile, i64)> = trackers
            .files
            .iter()
            .map(|f| {
                let v = read_track_file(&f.path).unwrap_or(0);
                (f.clone(), v)
            })
            .collect();
        let mut proc_bindings = Vec::new();
        let file_defs: Vec<_> = trackers
            .files
            .iter()
            .map(|f| (f.name.as_str(), f.weight, f.reverse))
            .collect();
        let proc_defs: Vec<_> = trackers
            .processes
            .iter()
            .map(|p| (p.name.as_str(), p.weight, p.reverse))
            .collect();
        for (idx, mut spec) in instances.into_iter().enumerate() {
            for (t, name, weight, reverse) in
                bind_entries(&spec, "track_file", &spec.track_file, &file_defs)?
            {
                file_bindings.push(Binding {
                    instance: idx,
                    tracker: t,
                    object: spec.config.track_file.len(),
                    weight,
                    reverse,
                });
                spec.config.track_file.push(TrackFileWeight {
                    name,
                    weight,
                    reverse,
                    value: files.get(t).map_or(0, |(_, v)| *v),
                });
            }
            for (t, name, weight, reverse) in
                bind_entries(&spec, "track_process", &spec.track_process, &proc_defs)?
            {
                proc_bindings.push(Binding {
                    instance: idx,
                    tracker: t,
                    object: spec.config.track.len(),
                    weight,
                    reverse,
                });
                spec.config
                    .track
                    .push(process_track_weight(&name, weight, reverse));
            }
            for name in &spec.track_script {
                let Some(s) = scripts.iter().find(|s| &s.name == name) else {
                    return Err(HaConfigError::UnknownScript {
                        instance: spec.config.name.clone(),
                        script: name.clone(),
                    });
                };
                if !spec.config.track.iter().any(|t| &t.name == name) {
                    spec.config.track.push(TrackWeight {
                        name: name.clone(),
                        weight: s.weight,
                    });
                }
            }
            let inst = VrrpInstance::new(spec.config.clone(), 0).map_err(|source| {
                HaConfigError::Vrrp {
                    name: spec.config.name.clone(),
                    source,
                }
            })?;
            router.push(inst);
            specs.push(spec);
        }
        let scripts = scripts
            .into_iter()
            .map(|def| ScriptState {
                ok: true,
                successes: def.rise,
                failures: 0,
                next_run: now,
                running: None,
                def,
            })
            .collect();
        let procs = if trackers.processes.is_empty() {
            Vec::new()
        } else {
            let scan = scan_proc(trackers.processes.iter().any(|p| p.full_command));
            trackers
                .processes
                .into_iter()
                .map(|d| ProcessTracker::new(d, &scan))
                .collect()
        };
        let next_track_poll = (!file_bindings.is_empty() || !proc_bindings.is_empty())
            .then(|| now + TRACK_POLL_INTERVAL);
        let mut r = VrrpRunner {
            router,
            specs,
            scripts,
            epoch: now,
            notify_children: Vec::new(),
            log,
            unknown_vrid_logged: Vec::new(),
            files,
            file_bindings,
            procs,
            proc_bindings,
            next_track_poll,
        };
        // The initial state: the files' values are already in the instances
        // (initialise_vrrp_file_tracking_priorities(): "entering FAULT state (tracked file
        // ...)" is logged); the processes are applied now
        // (initialise_process_tracking_priorities()).
        for b in &r.file_bindings {
            let fault = r
                .router
                .instances()
                .get(b.instance)
                .and_then(|i| i.track_file_status(b.object))
                .is_some_and(TrackStatus::is_fault);
            if fault {
                r.log.push(HaLog::TrackFileFault {
                    instance: r.instance_name(b.instance),
                    name: r
                        .files
                        .get(b.tracker)
                        .map(|(f, _)| f.name.clone())
                        .unwrap_or_default(),
                    fault: true,
                });
            }
        }
        for i in 0..r.proc_bindings.len() {
            r.apply_process(0, i);
        }
        r.drain_events();
        Ok(r)
    }

    /// The current value of track file `name` (as last read), if defined.
    pub fn track_file_value(&self, name: &str) -> Option<i64> {
        self.files
            .iter()
            .find(|(f, _)| f.name == name)
            .map(|(_, v)| *v)
    }

    /// The process tracker `name` (count, quorum), if defined.
    pub fn track_process(&self, name: &str) -> Option<&ProcessTracker> {
        self.procs.iter().find(|p| p.def.name == name)
    }

    /// Hands the file's current value to file binding `b`'s object
    /// ([`VrrpInstance::set_track_value`]), logging a FAULT change first, as
    /// process_update_vrrp_track_file_status() does, then a priority change.
    fn apply_file(&mut self, us: u64, b: usize) {
        let Some(bind) = self.file_bindings.get(b) else {
            return;
        };
        let Some((file, value)) = self.files.get(bind.tracker) else {
            return;
        };
        let (instance, object, value) = (bind.instance, bind.object, *value);
        let fault = TrackStatus::of_value(bind.weight, bind.reverse, value).is_fault();
        let was = self
            .router
            .instances()
            .get(instance)
            .and_then(|i| i.track_file_status(object))
            .map(TrackStatus::is_fault);
        if was.is_some_and(|w| w != fault) {
            self.log.push(HaLog::TrackFileFault {
                instance: self.instance_name(instance),
                name: file.name.clone(),
                fault,
            });
        }
        self.with_instance(instance, |inst| inst.set_track_value(us, object, value));
    }

    /// The `vrrp_instance` name of instance `instance` (empty when out of range).
    fn instance_name(&self, instance: usize) -> String {
        self.specs
            .get(instance)
            .map(|s| s.config.name.clone())
            .unwrap_or_default()
    }

    /// Applies process binding `b`'s quorum state to its instance.
    fn apply_process(&mut self, us: u64, b: usize) {
        let Some(bind) = self.proc_bindings.get(b) else {
            return;
        };
        let Some(p) = self.procs.get(bind.tracker) else {
            return;
        };
        let up = process_object_up(p.have_quorum(), bind.reverse);
        let object = bind.object;
        self.with_instance(bind.instance, |inst| inst.set_track(us, object, up));
    }

    /// Runs `f` on one instance, logging a change of its effective priority
    /// (vrrp_set_effective_priority(): "Changing effective priority from %d to %d").
    fn with_instance(&mut self, instance: usize, f: impl FnOnce(&mut VrrpInstance)) {
        let Some(inst) = self.router.instances_mut().get_mut(instance) else {
            return;
        };
        let from = inst.effective_priority();
        f(inst);
        let to = inst.effective_priority();
        if from != to {
            self.log.push(HaLog::Priority {
                instance: inst.config().name.clone(),
                from,
                to,
            });
        }
    }

    /// Reads the track files and scans /proc (every [`TRACK_POLL_INTERVAL`]), fires due
    /// fork / terminate delays, and applies the changes.
    fn poll_trackers(&mut self, now: Instant) {
        let us = self.micros(now);
        let poll_due = self.next_track_poll.is_some_and(|t| now >= t);
        if poll_due {
            self.next_track_poll = Some(now + TRACK_POLL_INTERVAL);
            for t in 0..self.files.len() {
                let Some((f, old)) = self.files.get_mut(t) else {
                    continue;
                };
                let v = match read_track_file(&f.path) {
                    Some(v) => v,
                    None => {
                        let path = f.path.display().to_string();
                        self.log.push(HaLog::TrackFileInvalid { path });
                        continue;
                    }
                };
                if v == *old {
                    continue;
                }
                *old = v;
                for b in 0..self.file_bindings.len() {
                    if self.file_bindings.get(b).is_some_and(|x| x.tracker == t) {
                        self.apply_file(us, b);
                    }
                }
            }
        }
        let due = self
            .procs
            .iter()
            .any(|p| p.deadline().is_some_and(|d| now >= d));
        if !(poll_due || due) || self.procs.is_empty() {
            return;
        }
        let scan = scan_proc(self.procs.iter().any(|p| p.def.full_command));
        for t in 0..self.procs.len() {
            let Some(p) = self.procs.get_mut(t) else {
                continue;
            };
            let Some(up) = p.update(now, &scan, super::track::pid_alive) else {
                continue;
            };
            self.log.push(HaLog::TrackProcess {
                name: p.def.name.clone(),
                up,
            });
            for b in 0..self.proc_bindings.len() {
                if self.proc_bindings.get(b).is_some_and(|x| x.tracker == t) {
                    self.apply_process(us, b);
                }
            }
        }
    }

    /// `now` as lvs-vrrp microseconds.
    pub fn micros(&self, now: Instant) -> u64 {
        u64::try_from(now.saturating_duration_since(self.epoch).as_micros()).unwrap_or(u64::MAX)
    }

    fn instant(&self, us: u64) -> Instant {
        self.epoch + Duration::from_micros(us)
    }

    /// The lvs-vrrp instances (state, counters, Master_Down_Interval).
    pub fn instances(&self) -> &[VrrpInstance] {
        self.router.instances()
    }

    /// The router's counters (unknown VRID = the split-brain signature).
    pub fn router_stats(&self) -> lvs_vrrp::RouterStats {
        *self.router.stats()
    }

    /// Feeds a received frame. Returns false (and does nothing) when it is not VRRP; true when
    /// it was VRRP, accepted or dropped (drops are counted in the instance / router stats).
    pub fn handle_frame(&mut self, now: Instant, frame: &[u8]) -> bool {
        if !is_vrrp_frame(frame) {
            return false;
        }
        let us = self.micros(now);
        if let Err(lvs_vrrp::RouterDrop::UnknownVrid(vrid)) = self.router.handle_frame(us, frame)
            && !self.unknown_vrid_logged.contains(&vrid)
        {
            self.unknown_vrid_logged.push(vrid);
            self.log.push(HaLog::UnknownVrid { vrid });
        }
        self.drain_events();
        true
    }

    /// The earliest instant something is due: an instance timer or a script run / timeout.
    pub fn poll_timeout(&self) -> Option<Instant> {
        let vrrp = self.router.poll_timeout().map(|us| self.instant(us));
        let scripts = self
            .scripts
            .iter()
            .map(|s| match &s.running {
                Some((_, started)) => (*started + s.def.timeout).min(s.next_run.max(*started)),
                None => s.next_run,
            })
            .min();
        // A running script is polled every 10 ms for its exit.
        let poll = self
            .scripts
            .iter()
            .any(|s| s.running.is_some())
            .then(|| Instant::now() + Duration::from_millis(10));
        let trackers = self.procs.iter().filter_map(ProcessTracker::deadline).min();
        [vrrp, scripts, poll, self.next_track_poll, trackers]
            .into_iter()
            .flatten()
            .min()
    }

    /// Runs the instance timers due at `now`, starts / reaps / times out scripts and feeds
    /// their results to the instances, reaps finished notify children.
    pub fn handle_timeout(&mut self, now: Instant) {
        self.run_scripts(now);
        self.poll_trackers(now);
        let us = self.micros(now);
        self.router.handle_timeout(us);
        self.drain_events();
        self.notify_children
            .retain_mut(|c| !matches!(c.try_wait(), Ok(Some(_)) | Err(_)));
    }

    fn run_scripts(&mut self, now: Instant) {
        let mut changes = Vec::new();
        for s in &mut self.scripts {
            if let Some((child, started)) = &mut s.running {
                let result = match child.try_wait() {
                    Ok(Some(status)) => Some(status.success()),
                    Ok(None) if now >= *started + s.def.timeout => {
                        let _ = child.kill();
                        let _ = child.wait();
                        Some(false)
                    }
                    Ok(None) => None,
                    Err(_) => Some(false),
                };
                if let Some(success) = result {
                    s.running = None;
                    if success {
                        s.failures = 0;
                        s.successes = s.successes.saturating_add(1);
                        if !s.ok && s.successes >= s.def.rise.max(1) {
                            s.ok = true;
                            changes.push((s.def.name.clone(), true));
                        }
                    } else {
                        s.successes = 0;
                        s.failures = s.failures.saturating_add(1);
                        if s.ok && s.failures >= s.def.fall.max(1) {
                            s.ok = false;
                            changes.push((s.def.name.clone(), false));
                        }
                    }
                }
            }
            if s.running.is_none() && now >= s.next_run {
                s.next_run = now + s.def.interval.max(Duration::from_millis(10));
                match spawn_quiet(&split_cmd(&s.def.script)) {
                    Ok(child) => s.running = Some((child, now)),
                    Err(_) => {
                        // A script that cannot start has failed this run.
                        s.successes = 0;
                        s.failures = s.failures.saturating_add(1);
                        if s.ok && s.failures >= s.def.fall.max(1) {
                            s.ok = false;
                            changes.push((s.def.name.clone(), false));
                        }
                    }
                }
            }
        }
        let us = self.micros(now);
        for (name, ok) in changes {
            self.log.push(HaLog::Script {
                name: name.clone(),
                ok,
            });
            self.set_track(us, &name, ok);
        }
    }

    fn set_track(&mut self, us: u64, name: &str, up: bool) {
        for inst in self.router.instances_mut() {
            inst.set_track_by_name(us, name, up);
        }
        self.drain_events();
    }

    /// Reports a fixed-weight tracked object's state (`track_interface` link state, a
    /// script's result) to every instance tracking `name`: weight 0 objects put them in FAULT
    /// while down. Track files are read by the runner itself and handed over as values
    /// ([`lvs_vrrp::VrrpInstance::set_track_value`]).
    pub fn set_tracked(&mut self, now: Instant, name: &str, up: bool) {
        let us = self.micros(now);
        self.set_track(us, name, up);
    }

    /// Reports the VRRP interface's link state (down = FAULT for every instance).
    pub fn set_interface_up(&mut self, now: Instant, up: bool) {
        let us = self.micros(now);
        for inst in self.router.instances_mut() {
            inst.set_interface_up(us, up);
        }
        self.drain_events();
    }

    /// A watched link changed (see [`super::link`]): logs [`HaLog::Link`] and applies
    /// [`super::link::link_updates`]: the instances running on `ifname` go to FAULT while it
    /// is down, those tracking it (`track_interface`) update that tracked object.
    pub fn set_link(&mut self, now: Instant, ifname: &str, up: bool) {
        let us = self.micros(now);
        self.log.push(HaLog::Link {
            ifname: ifname.to_owned(),
            up,
        });
        let updates = super::link::link_updates(&self.specs, ifname, up);
        let instances = self.router.instances_mut();
        for u in updates {
            match u {
                super::link::LinkUpdate::Interface { instance, up } => {
                    if let Some(i) = instances.get_mut(instance) {
                        i.set_interface_up(us, up);
                    }
                }
                super::link::LinkUpdate::Tracked { instance, up } => {
                    if let Some(i) = instances.get_mut(instance) {
                        i.set_track_by_name(us, ifname, up);
                    }
                }
            }
        }
        self.drain_events();
    }

    /// The interface names the instances depend on: each instance's own `interface`
    /// (`own = true`) and its `track_interface` entries (`own = false`), as configured.
    pub fn link_names(&self) -> Vec<(String, bool)> {
        super::link::link_names(&self.specs)
    }

    /// Next frame to write on the interface, at `buf[..len]` (size `buf` as
    /// [`lvs_vrrp::wire::MAX_FRAME_LEN`]). Unicast adverts come with a zero destination MAC
    /// (see [`Transmit::Advert`]) for the caller to fill.
    pub fn poll_transmit(&mut self, buf: &mut [u8]) -> Option<Transmit> {
        self.router
            .instances_mut()
            .iter_mut()
            .find_map(|i| i.poll_transmit(buf))
    }

    /// True when an instance listing `vip` in `virtual_ipaddress` is MASTER: answer ARP / NS
    /// for it and forward its traffic.
    pub fn is_master(&self, vip: IpAddr) -> bool {
        self.router
            .instances()
            .iter()
            .any(|i| i.answers_arp() && i.config().virtual_ipaddress.contains(&vip))
    }

    /// True when `ip` is a VIP of any instance (MASTER or not): traffic to it is the VRRP
    /// pair's, to drop silently unless [`VrrpRunner::is_master`].
    pub fn is_vip(&self, ip: IpAddr) -> bool {
        self.router
            .instances()
            .iter()
            .any(|i| i.config().virtual_ipaddress.contains(&ip))
    }

    /// Shutdown (SIGTERM path): every instance leaves; a MASTER queues its priority-0 advert
    /// (drain [`VrrpRunner::poll_transmit`] and write it) so the backup takes over after
    /// Skew_Time instead of Master_Down_Interval. Runs the STOP notifications.
    pub fn shutdown(&mut self, now: Instant) {
        let us = self.micros(now);
        for inst in self.router.instances_mut() {
            inst.shutdown(us);
        }
        self.drain_events();
    }

    /// Drains the log.
    pub fn take_log(&mut self) -> Vec<HaLog> {
        std::mem::take(&mut self.log)
    }

    fn drain_events(&mut self) {
        let mut calls: Vec<Vec<String>> = Vec::new();
        for (idx, inst) in self.router.instances_mut().iter_mut().enumerate() {
            let Some(spec) = self.specs.get(idx) else {
                continue;
            };
            while let Some(ev) = inst.poll_event() {
                let name = spec.config.name.clone();
                if let Event::StateChange { to, .. } = ev {
                    let specific = match to {
                        State::Master => &spec.notify_master,
                        State::Backup => &spec.notify_backup,
                        State::Fault => &spec.notify_fault,
                        _ => &spec.notify_stop,
                    };
                    if let Some(s) = specific {
                        calls.push(split_cmd(s));
                    }
                    if let (Some(s), Some(args)) = (&spec.notify, ev.notify_args(&name)) {
                        let mut argv = split_cmd(s);
                        argv.extend(args);
                        calls.push(argv);
                    }
                }
                self.log.push(HaLog::State {
                    instance: name,
                    event: ev,
                });
            }
        }
        for argv in calls {
            match spawn_quiet(&argv) {
                Ok(c) => {
                    self.notify_children.push(c);
                    self.log.push(HaLog::Notify(argv));
                }
                Err(e) => self
                    .log
                    .push(HaLog::NotifyError(format!("{}: {e}", argv.join(" ")))),
            }
        }
    }
}

impl Drop for VrrpRunner {
    fn drop(&mut self) {
        for s in &mut self.scripts {
            if let Some((c, _)) = &mut s.running {
                let _ = c.kill();
                let _ = c.wait();
            }
        }
        // Notify scripts get up to 1 s to finish; a hung one is left to init.
        let deadline = Instant::now() + Duration::from_secs(1);
        for c in &mut self.notify_children {
            while matches!(c.try_wait(), Ok(None)) && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(5));
            }
        }
    }
}
