//! An in-process HA director on one TAP: the `lvs-director` binary's [`Engine`] (lvs-core's
//! Director with lvs-arp's ARP host model and neighbour table) behind the [`HaRuntime`] hook,
//! in one thread that owns the TAP.
//!
//! It is the `lvs-director` frame loop with HA wired in, run as a thread so that the HA tests
//! and the demo scene can run two directors inside one process (each in its own thread, each
//! on its own TAP plugged into the same LAN bridge). "Killing" one
//! ([`NodeHandle::kill`]) ends its thread at once without a goodbye: no priority-0 advert,
//! and its TAP link disappears with the file descriptor, as after SIGKILL of a process.
//!
//! Frame policy: [`HaRuntime::intercept`] first (VRRP, sync, and the MASTER-only rule for
//! VIPs), then frames addressed to this director's MAC (or broadcast / multicast) go to the
//! engine. Output after every batch: the engine's frames, then HA's.

use std::net::{IpAddr, Ipv4Addr};
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::{Arc, Mutex, mpsc};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use lvs_arp::MacAddr;
use lvs_core::director::{Director, DirectorConfig, PacketMeta, Verdict};
use lvs_vrrp::State;

use super::runtime::{HaRuntime, HaStats, Intercept};
use super::vrrp::{HaInstance, VrrpScript};
use crate::director::{DEFAULT_MTU, Engine, EngineConfig, FrameOutcome, IF_CLIENT, NeighMode};
use crate::netns::{LAN_BRIDGE, Lan, Tap};

/// Longest wait in the loop, so a kill is noticed quickly.
const MAX_WAIT: Duration = Duration::from_millis(5);

/// What one director runs.
#[derive(Debug, Clone)]
pub struct NodeConfig {
    /// A label for logs.
    pub name: String,
    /// The director's own address (DIP): ARP, sync source, ICMP errors.
    pub ip: Ipv4Addr,
    /// Prefix length of the DIP's subnet (the LAN).
    pub prefix_len: u8,
    /// Further DIPs (IP, prefix length) on the same interface, e.g. in the clients' subnet.
    pub extra_dips: Vec<(Ipv4Addr, u8)>,
    /// The TAP side MAC the director uses as its own.
    pub mac: [u8; 6],
    /// The `vrrp_instance`s (their `interface_addr` / `interface_mac` should be `ip` / `mac`).
    pub instances: Vec<HaInstance>,
    /// The `vrrp_script`s.
    pub scripts: Vec<VrrpScript>,
    /// ipvsadm rule lines applied at start, in order (`-A ...`, `-a ...`,
    /// `--start-daemon master --syncid 1 ...`); daemon commands also start the transport.
    pub ipvsadm: Vec<String>,
    /// Sync to this unicast peer instead of the multicast group.
    pub sync_unicast_peer: Option<Ipv4Addr>,
    /// The Director's construction parameters (sysctls such as `sloppy_tcp`).
    pub director: DirectorConfig,
}

/// Counters and instants of a running director, copied out by [`NodeHandle::stats`].
#[derive(Debug, Clone, Default)]
pub struct NodeStats {
    /// Frames the Director forwarded (Transmit verdicts written out).
    pub forwarded: u64,
    /// ARP replies the engine sent (own address, and VIPs while MASTER).
    pub arp_replies: u64,
    /// The HA runtime's counters and instants (MASTER transition, first forwarded frame as
    /// MASTER, sync).
    pub ha: HaStats,
    /// Each instance's state.
    pub states: Vec<State>,
    /// Each instance's Master_Down_Interval, microseconds.
    pub master_down_interval_us: Vec<u64>,
    /// Adverts for VRIDs this director does not run (split brain), lvs-vrrp's router counter.
    pub unknown_vrid: u64,
    /// When the loop ended (kill or stop).
    pub ended: Option<Instant>,
}

#[derive(Debug, Default)]
struct Shared {
    /// 0 run, 1 kill (no goodbye), 2 stop (priority-0 advert first).
    stop: AtomicU8,
    stats: Mutex<NodeStats>,
    log: Mutex<Vec<String>>,
}

/// A running director thread. Dropping it kills it.
#[derive(Debug)]
pub struct NodeHandle {
    shared: Arc<Shared>,
    thread: Option<JoinHandle<()>>,
    tap: String,
    name: String,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl NodeHandle {
    /// The TAP link's name (inside the LAN namespace).
    pub fn tap_name(&self) -> &str {
        &self.tap
    }

    /// The node's label.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// A copy of the counters.
    pub fn stats(&self) -> NodeStats {
        lock(&self.shared.stats).clone()
    }

    /// A copy of the log lines (state changes with reasons, scripts, notify calls, split
    /// brain).
    pub fn log(&self) -> Vec<String> {
        lock(&self.shared.log).clone()
    }

    fn end(&mut self, how: u8) -> NodeStats {
        self.shared.stop.store(how, Ordering::SeqCst);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
        self.stats()
    }

    /// Ends the director as SIGKILL would: the loop stops at once, nothing more is sent, the
    /// TAP is closed. Returns the final counters; [`NodeStats::ended`] is the instant of death.
    pub fn kill(&mut self) -> NodeStats {
        self.end(1)
    }

    /// Ends the director as SIGTERM would: shutdown of every instance (a MASTER sends its
    /// priority-0 advert), then the loop stops.
    pub fn stop(&mut self) -> NodeStats {
        self.end(2)
    }

    /// True while the loop runs.
    pub fn is_running(&self) -> bool {
        self.thread.as_ref().is_some_and(|t| !t.is_finished())
    }
}

impl Drop for NodeHandle {
    fn drop(&mut self) {
        self.end(1);
    }
}

/// Starts a director thread: creates its TAP, plugs it into `lan`'s bridge, configures the
/// Director from `cfg.ipvsadm`, starts the VRRP instances. Returns once the loop runs.
///
/// # Errors
/// A TAP / namespace error, an ipvsadm line that does not apply, or an invalid VRRP
/// configuration, as text.
pub fn spawn_node(cfg: NodeConfig, lan: Arc<Lan>) -> Result<NodeHandle, String> {
    let shared = Arc::new(Shared::default());
    let (tx, rx) = mpsc::channel();
    let sh = shared.clone();
    let name = cfg.name.clone();
    let thread = std::thread::Builder::new()
        .name(format!("ha-{}", cfg.name))
        .spawn(move || {
            let setup = Node::setup(cfg, &lan, sh.clone());
            match setup {
                Ok(mut node) => {
                    let _ = tx.send(Ok(node.tap.name().to_owned()));
                    node.run();
                }
                Err(e) => {
                    let _ = tx.send(Err(e));
                }
            }
        })
        .map_err(|e| format!("spawning director thread: {e}"))?;
    let tap = match rx.recv() {
        Ok(Ok(t)) => t,
        Ok(Err(e)) => {
            let _ = thread.join();
            return Err(e);
        }
        Err(_) => return Err("director thread died during setup".into()),
    };
    Ok(NodeHandle {
        shared,
        thread: Some(thread),
        tap,
        name,
    })
}

struct Node {
    cfg: NodeConfig,
    tap: Tap,
    engine: Engine,
    ha: HaRuntime,
    shared: Arc<Shared>,
    stats: NodeStats,
}

impl Node {
    fn setup(cfg: NodeConfig, lan: &Lan, shared: Arc<Shared>) -> Result<Node, String> {
        let now = Instant::now();
        let mut director = Director::new(cfg.director.clone(), now);
        for line in &cfg.ipvsadm {
            director
                .apply_line(line, now)
                .map_err(|e| format!("{line}: {e}"))?;
        }
        let vips = cfg
            .instances
            .iter()
            .flat_map(|i| i.config.virtual_ipaddress.iter())
            .filter_map(|a| match a {
                IpAddr::V4(v) => Some(*v),
                IpAddr::V6(_) => None,
            })
            .collect();
        let ecfg = EngineConfig {
            mac: MacAddr(cfg.mac),
            vips,
            dips: std::iter::once((cfg.ip, cfg.prefix_len))
                .chain(cfg.extra_dips.iter().copied())
                .collect(),
            dips_server: Vec::new(),
            laddrs: Vec::new(),
            gateway: None,
            neigh_mode: NeighMode::Resolve,
            local_stack: false,
            mtu: DEFAULT_MTU,
        };
        let engine = Engine::new(director, ecfg, now).map_err(|e| e.to_string())?;
        let mut ha = HaRuntime::new(
            cfg.instances.clone(),
            cfg.scripts.clone(),
            cfg.ip,
            cfg.mac,
            Instant::now(),
        )
        .map_err(|e| e.to_string())?;
        ha.set_sync_unicast_peer(cfg.sync_unicast_peer);
        ha.follow_director_daemons(&engine.director);
        let tap = Tap::create("ha").map_err(|e| e.to_string())?;
        let ns = lan.netns();
        ns.adopt_link(tap.name()).map_err(|e| e.to_string())?;
        ns.sysctl(&format!("net.ipv6.conf.{}.disable_ipv6", tap.name()), "1")
            .map_err(|e| e.to_string())?;
        ns.set_master(tap.name(), LAN_BRIDGE)
            .map_err(|e| e.to_string())?;
        Ok(Node {
            cfg,
            tap,
            engine,
            ha,
            shared,
            stats: NodeStats::default(),
        })
    }

    fn run(&mut self) {
        loop {
            match self.shared.stop.load(Ordering::SeqCst) {
                0 => {}
                2 => {
                    self.ha.shutdown(Instant::now());
                    self.flush();
                    self.publish(Some(Instant::now()));
                    return;
                }
                _ => {
                    self.publish(Some(Instant::now()));
                    return;
                }
            }
            let now = Instant::now();
            let deadline = [self.ha.poll_timeout(), self.engine.poll_timeout(now)]
                .into_iter()
                .flatten()
                .min()
                .unwrap_or(now + MAX_WAIT)
                .min(now + MAX_WAIT);
            let wait = deadline.saturating_duration_since(now);
            if let Ok(Some(frame)) = self.tap.recv(wait) {
                self.frame(&frame);
                for _ in 0..64 {
                    match self.tap.try_recv() {
                        Ok(Some(f)) => self.frame(&f),
                        Ok(None) | Err(_) => break,
                    }
                }
            }
            let now = Instant::now();
            self.ha.handle_timeout(now);
            if self.engine.poll_timeout(now).is_some_and(|t| t <= now) {
                self.engine.handle_timeout(now);
            }
            self.flush();
            self.publish(None);
        }
    }

    /// Writes the engine's frames (forwarded packets, ARP), then HA's (adverts, GARPs, sync).
    fn flush(&mut self) {
        while let Some((_, f)) = self.engine.poll_transmit() {
            // A full TAP queue loses the frame, as a full NIC ring would.
            let _ = self.tap.send(&f);
        }
        let now = Instant::now();
        while let Some(f) = self.ha.poll_transmit(&mut self.engine.director, now) {
            let _ = self.tap.send(&f);
        }
        let log = self.ha.take_log();
        if !log.is_empty() {
            let mut l = lock(&self.shared.log);
            for e in log {
                l.push(format!("{}: {e}", self.cfg.name));
            }
        }
    }

    fn publish(&mut self, ended: Option<Instant>) {
        let v = self.ha.vrrp();
        let h = self.ha.stats();
        self.stats.states = v.instances().iter().map(|i| i.state()).collect();
        self.stats.master_down_interval_us = v
            .instances()
            .iter()
            .map(|i| i.master_down_interval_us())
            .collect();
        self.stats.unknown_vrid = v.router_stats().unknown_vrid;
        self.stats.ha = h;
        self.stats.arp_replies = self.engine.stats().arp_replies;
        self.stats.ended = ended;
        *lock(&self.shared.stats) = self.stats.clone();
    }

    fn frame(&mut self, frame: &[u8]) {
        let now = Instant::now();
        match self.ha.intercept(&mut self.engine.director, frame, now) {
            Intercept::Consumed | Intercept::Drop => return,
            Intercept::Pass => {}
        }
        let o = self
            .engine
            .handle_frame(IF_CLIENT, frame, &PacketMeta::default(), now);
        if let FrameOutcome::Director(Verdict::Transmit { .. }) = o {
            self.stats.forwarded += 1;
            self.ha.note_forwarded(now);
        }
    }
}
