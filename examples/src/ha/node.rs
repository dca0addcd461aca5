//! An in-process HA director runtime on one TAP: lvs-core's [`Director`] (DR / NAT / TUN
//! pipeline and connection sync) + the [`VrrpRunner`] + the [`SyncTransport`] + a minimal ARP
//! speaker and neighbour cache, in one thread that owns the TAP.
//!
//! It is the frame loop the `lvs-director` binary runs, reduced to what HA needs, so that the
//! HA tests and the demo scene can run two directors inside one process (each in its own
//! thread, each on its own TAP plugged into the same LAN bridge). "Killing" one
//! ([`NodeHandle::kill`]) ends its thread at once without a goodbye: no priority-0 advert,
//! and its TAP link disappears with the file descriptor, as after SIGKILL of a process.
//!
//! Frame policy (RFC 9568 sections 6.4.2 / 6.4.3):
//! - VRRP frames go to the runner; its adverts and gratuitous ARPs are written out.
//! - ARP requests are answered for the director's own address always, and for a VIP only
//!   while an instance holding it is MASTER.
//! - IPv4 frames addressed to this director's MAC are processed by the Director only while
//!   MASTER for their VIP (inbound) or while MASTER of any instance (NAT replies); a BACKUP
//!   forwards nothing and counts the frame in [`NodeStats::dropped_not_master`].
//! - Sync: the master daemon's messages are flushed after every batch of frames; the backup
//!   daemon imports the datagrams addressed to its group / itself.

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr};
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::{Arc, Mutex, mpsc};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use lvs_arp::{ArpFrame, ArpOp, MacAddr};
use lvs_core::director::{Director, DirectorConfig, PacketMeta, Verdict};
use lvs_core::ipvsadm::{Command, parse_rule};
use lvs_vrrp::{State, Transmit};

use super::sync::SyncTransport;
use super::vrrp::{HaInstance, HaLog, VrrpRunner, VrrpScript};
use crate::netns::{Lan, LAN_BRIDGE, Tap};

/// Headroom before a frame in the processing buffer (TUN outer headers).
const HEADROOM: usize = 128;
/// Buffer size: headroom, a 1514-byte frame and room for an ICMP error after it.
const BUF_LEN: usize = HEADROOM + 2048 + 1024;
/// Longest wait in the loop, so a kill is noticed quickly.
const MAX_WAIT: Duration = Duration::from_millis(5);
/// Frames queued per unresolved next hop.
const MAX_PENDING: usize = 16;

/// What one director runs.
#[derive(Debug, Clone)]
pub struct NodeConfig {
    /// A label for logs.
    pub name: String,
    /// The director's own address (DIP): ARP, sync source, ICMP errors.
    pub ip: Ipv4Addr,
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
    /// Frames to a VIP (or NAT replies) dropped because no instance holding it is MASTER.
    pub dropped_not_master: u64,
    /// Forwarded frames lost for want of a next-hop MAC.
    pub unresolved: u64,
    /// ARP replies sent (own address and VIPs).
    pub arp_replies: u64,
    /// VRRP adverts written.
    pub adverts_sent: u64,
    /// Gratuitous ARPs written.
    pub garps_sent: u64,
    /// Sync frames written (master daemon).
    pub sync_sent: u64,
    /// Connections imported from sync messages (backup daemon).
    pub sync_imported: u64,
    /// Sync messages the Director refused.
    pub sync_errors: u64,
    /// The last time an instance became MASTER.
    pub became_master: Option<Instant>,
    /// The first forwarded frame after [`NodeStats::became_master`].
    pub first_forward_as_master: Option<Instant>,
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
    director: Director,
    vrrp: VrrpRunner,
    sync: SyncTransport,
    neigh: HashMap<Ipv4Addr, [u8; 6]>,
    pending: HashMap<Ipv4Addr, Vec<Vec<u8>>>,
    shared: Arc<Shared>,
    stats: NodeStats,
    buf: Vec<u8>,
    out: Vec<u8>,
    was_master: bool,
}

impl Node {
    fn setup(cfg: NodeConfig, lan: &Lan, shared: Arc<Shared>) -> Result<Node, String> {
        let now = Instant::now();
        let mut director = Director::new(cfg.director.clone(), now);
        let mut sync = SyncTransport::new(cfg.ip, cfg.mac);
        sync.set_unicast_peer(cfg.sync_unicast_peer);
        for line in &cfg.ipvsadm {
            let cmd = parse_rule(line).map_err(|e| format!("{line}: {e}"))?;
            match &cmd {
                Command::StartDaemon(d) => sync.start(d),
                Command::StopDaemon { state, .. } => sync.stop(*state),
                _ => {}
            }
            director.apply(&cmd, now).map_err(|e| format!("{line}: {e}"))?;
        }
        let tap = Tap::create("ha").map_err(|e| e.to_string())?;
        let ns = lan.netns();
        ns.adopt_link(tap.name()).map_err(|e| e.to_string())?;
        ns.sysctl(&format!("net.ipv6.conf.{}.disable_ipv6", tap.name()), "1")
            .map_err(|e| e.to_string())?;
        ns.set_master(tap.name(), LAN_BRIDGE)
            .map_err(|e| e.to_string())?;
        let vrrp = VrrpRunner::new(cfg.instances.clone(), cfg.scripts.clone(), Instant::now())
            .map_err(|e| e.to_string())?;
        Ok(Node {
            cfg,
            tap,
            director,
            vrrp,
            sync,
            neigh: HashMap::new(),
            pending: HashMap::new(),
            shared,
            stats: NodeStats::default(),
            buf: vec![0; BUF_LEN],
            out: vec![0; BUF_LEN],
            was_master: false,
        })
    }

    fn run(&mut self) {
        loop {
            match self.shared.stop.load(Ordering::SeqCst) {
                0 => {}
                2 => {
                    self.vrrp.shutdown(Instant::now());
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
            let deadline = [self.vrrp.poll_timeout(), self.director.poll_timeout()]
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
                        Some(f) => self.frame(&f),
                        None => break,
                    }
                }
            }
            let now = Instant::now();
            if self.vrrp.poll_timeout().is_some_and(|t| t <= now) {
                self.vrrp.handle_timeout(now);
            }
            if self.director.poll_timeout().is_some_and(|t| t <= now) {
                self.director.handle_timeout(now);
            }
            self.flush();
            self.publish(None);
        }
    }

    fn send(&mut self, frame: &[u8]) {
        // A full TAP queue loses the frame, as a full NIC ring would.
        let _ = self.tap.send(frame);
    }

    fn arp_request(&mut self, target: Ipv4Addr) {
        let req = ArpFrame::request(MacAddr(self.cfg.mac), self.cfg.ip, target, None);
        let bytes = req.to_bytes();
        self.send(&bytes);
    }

    /// Writes VRRP output, sync messages and state-change bookkeeping.
    fn flush(&mut self) {
        let mut vbuf = [0u8; lvs_vrrp::wire::MAX_FRAME_LEN];
        while let Some(t) = self.vrrp.poll_transmit(&mut vbuf) {
            let len = t.frame_len();
            match t {
                Transmit::Advert { dst, dst_mac, .. } => {
                    self.stats.adverts_sent += 1;
                    if dst_mac.is_none() {
                        let IpAddr::V4(peer) = dst else { continue };
                        match self.neigh.get(&peer) {
                            Some(m) => vbuf[..6].copy_from_slice(m),
                            None => {
                                self.arp_request(peer);
                                continue;
                            }
                        }
                    }
                }
                Transmit::GratuitousArp { .. } => self.stats.garps_sent += 1,
                _ => {}
            }
            if let Some(f) = vbuf.get(..len) {
                let f = f.to_vec();
                self.send(&f);
            }
        }
        let maxlen = self.sync.maxlen();
        let mut msg = vec![0u8; maxlen];
        while let Some(n) = self.director.poll_sync(&mut msg) {
            let Some((dst, mac)) = self.sync.destination() else { break };
            let Some(mac) = mac.or_else(|| self.neigh.get(&dst).copied()) else {
                self.arp_request(dst);
                continue;
            };
            let mut out = std::mem::take(&mut self.out);
            if let Some(m) = msg.get(..n)
                && let Ok(fl) = self.sync.encode(m, mac, &mut out)
                && let Some(f) = out.get(..fl)
            {
                let _ = self.tap.send(f);
                self.stats.sync_sent += 1;
            }
            self.out = out;
        }
        for l in self.vrrp.take_log() {
            if let HaLog::State {
                event: lvs_vrrp::Event::StateChange { to: State::Master, .. },
                ..
            } = &l
            {
                self.stats.became_master = Some(Instant::now());
                self.stats.first_forward_as_master = None;
            }
            lock(&self.shared.log).push(format!("{}: {l:?}", self.cfg.name));
        }
        self.was_master = self.vrrp.instances().iter().any(|i| i.answers_arp());
    }

    fn publish(&mut self, ended: Option<Instant>) {
        self.stats.states = self.vrrp.instances().iter().map(|i| i.state()).collect();
        self.stats.master_down_interval_us = self
            .vrrp
            .instances()
            .iter()
            .map(|i| i.master_down_interval_us())
            .collect();
        self.stats.unknown_vrid = self.vrrp.router_stats().unknown_vrid;
        self.stats.ended = ended;
        *lock(&self.shared.stats) = self.stats.clone();
    }

    fn frame(&mut self, frame: &[u8]) {
        let now = Instant::now();
        if self.vrrp.handle_frame(now, frame) {
            return;
        }
        if let Ok(arp) = ArpFrame::parse(frame) {
            self.arp(&arp);
            return;
        }
        if let Some(msg) = self.sync.accept(frame) {
            match self.director.handle_sync(now, msg) {
                Ok(n) => self.stats.sync_imported += n as u64,
                Err(_) => self.stats.sync_errors += 1,
            }
            return;
        }
        // Only frames for our MAC (a NIC outside promiscuous mode).
        if frame.get(..6) != Some(&self.cfg.mac[..]) || frame.get(12..14) != Some(&[0x08, 0x00]) {
            return;
        }
        let Some(dst) = frame
            .get(30..34)
            .and_then(|b| <[u8; 4]>::try_from(b).ok())
            .map(Ipv4Addr::from)
        else {
            return;
        };
        if dst == self.cfg.ip {
            return;
        }
        let allowed = if self.vrrp.is_vip(IpAddr::V4(dst)) {
            self.vrrp.is_master(IpAddr::V4(dst))
        } else {
            self.was_master
        };
        if !allowed {
            self.stats.dropped_not_master += 1;
            return;
        }
        let len = frame.len();
        let Some(slot) = self.buf.get_mut(HEADROOM..HEADROOM + len) else { return };
        slot.copy_from_slice(frame);
        let v = self
            .director
            .process(&mut self.buf, HEADROOM, len, &PacketMeta::default(), now);
        match v {
            Verdict::Transmit {
                next_hop: IpAddr::V4(hop),
                start,
                len,
                ..
            } => {
                let mut f = match self.buf.get(start..start + len) {
                    Some(f) => f.to_vec(),
                    None => return,
                };
                match self.neigh.get(&hop).copied() {
                    Some(mac) => {
                        let _ = lvs_fwd::set_macs(&mut f, mac, self.cfg.mac);
                        self.send(&f);
                        self.forwarded(now);
                    }
                    None => {
                        let q = self.pending.entry(hop).or_default();
                        if q.len() < MAX_PENDING {
                            q.push(f);
                        } else {
                            self.stats.unresolved += 1;
                        }
                        self.arp_request(hop);
                    }
                }
            }
            Verdict::Icmp { start, len, .. } => {
                if let Some(f) = self.buf.get(start..start + len) {
                    let f = f.to_vec();
                    self.send(&f);
                }
            }
            _ => {}
        }
    }

    fn forwarded(&mut self, now: Instant) {
        self.stats.forwarded += 1;
        if self.stats.became_master.is_some() && self.stats.first_forward_as_master.is_none() {
            self.stats.first_forward_as_master = Some(now);
        }
    }

    fn arp(&mut self, arp: &ArpFrame) {
        let sip = arp.sender_ip;
        if !sip.is_unspecified() && !self.vrrp.is_vip(IpAddr::V4(sip)) && sip != self.cfg.ip {
            self.neigh.insert(sip, arp.sender_mac.0);
            if let Some(q) = self.pending.remove(&sip) {
                let now = Instant::now();
                for mut f in q {
                    let _ = lvs_fwd::set_macs(&mut f, arp.sender_mac.0, self.cfg.mac);
                    self.send(&f);
                    self.forwarded(now);
                }
            }
        }
        if arp.op != ArpOp::Request || arp.is_gratuitous() {
            return;
        }
        let t = arp.target_ip;
        if t == self.cfg.ip || self.vrrp.is_master(IpAddr::V4(t)) {
            let reply = arp.reply_to(MacAddr(self.cfg.mac)).to_bytes();
            self.send(&reply);
            self.stats.arp_replies += 1;
        }
    }
}
