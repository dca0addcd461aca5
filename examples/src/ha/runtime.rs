//! [`HaRuntime`]: everything HA adds to a director's frame loop, as one object the loop calls
//! at three points (the hook the `lvs-director` binary and the in-process [`super::node`] both
//! use):
//!
//! 1. every received frame first goes to [`HaRuntime::intercept`]: VRRP adverts and sync
//!    datagrams are consumed; ARP requests and IPv6 Neighbor Solicitations for a VIP and
//!    IPv4 / IPv6 frames to a VIP are dropped
//!    unless an instance holding the VIP is MASTER (RFC 9568 section 6.4.2: a Backup "MUST
//!    NOT respond to ARP requests for the IPvX address(es) associated with the virtual
//!    router" and "MUST discard packets with a destination link-layer MAC address equal to
//!    the virtual router MAC address", and forwards nothing for the VIPs); everything else
//!    passes to the director engine;
//! 2. timers: [`HaRuntime::poll_timeout`] / [`HaRuntime::handle_timeout`];
//! 3. output: [`HaRuntime::poll_transmit`] after each batch: adverts, gratuitous ARPs, and the
//!    Director's pending sync messages as UDP frames.
//!
//! The sync daemons follow either the Director (`--start-daemon` given to it, e.g. by an
//! ipvsadm rules file: [`HaRuntime::follow_director_daemons`]) or keepalived's
//! `lvs_sync_daemon INTERFACE INSTANCE`: as keepalived does (vrrp.c
//! `vrrp_state_become_master` / `vrrp_state_leave_master`), the master daemon runs while the
//! named instance is MASTER and the backup daemon otherwise.

use std::collections::{HashMap, VecDeque};
use std::net::{IpAddr, Ipv4Addr};
use std::time::Instant;

use lvs_core::director::Director;
use lvs_core::ipvsadm::{Command, DaemonConfig, DaemonState};
use lvs_vrrp::{Event, State, Transmit};

use super::sync::SyncTransport;
use super::track::Trackers;
use super::vrrp::{HaConfigError, HaInstance, HaLog, VrrpRunner, VrrpScript};
use crate::keepalived::KeepalivedConfig;

/// The address an IP frame asks this host about: the IPv4 / IPv6 destination, or for an
/// IPv6 Neighbor Solicitation (RFC 4861 section 4.3, ICMPv6 type 135, sent to the
/// solicited-node group) its target address. `None` for anything else. Never panics.
fn vip_target(frame: &[u8]) -> Option<IpAddr> {
    match frame.get(12..14)? {
        [0x08, 0x00] => {
            let b: [u8; 4] = frame.get(30..34)?.try_into().ok()?;
            Some(IpAddr::V4(Ipv4Addr::from(b)))
        }
        [0x86, 0xdd] => {
            let ns = *frame.get(20)? == 58 && *frame.get(54)? == 135;
            let at = if ns { 62 } else { 38 };
            let b: [u8; 16] = frame.get(at..at + 16)?.try_into().ok()?;
            Some(IpAddr::V6(std::net::Ipv6Addr::from(b)))
        }
        _ => None,
    }
}

/// What the loop does with a received frame after [`HaRuntime::intercept`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Intercept {
    /// HA consumed it (VRRP advert, sync datagram).
    Consumed,
    /// Drop it: it is for a VIP this director is not MASTER of.
    Drop,
    /// Hand it to the director engine.
    Pass,
}

/// HA counters and instants.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct HaStats {
    /// Frames for a VIP (ARP requests and IPv4) dropped because no instance holding it is
    /// MASTER.
    pub dropped_not_master: u64,
    /// VRRP adverts written.
    pub adverts_sent: u64,
    /// Gratuitous ARPs / unsolicited NAs written.
    pub garps_sent: u64,
    /// Sync frames written (master daemon).
    pub sync_sent: u64,
    /// Connections imported from sync messages (backup daemon).
    pub sync_imported: u64,
    /// Sync messages the Director refused (bad syncid, version, length).
    pub sync_errors: u64,
    /// The last time an instance became MASTER.
    pub became_master: Option<Instant>,
    /// The first forwarded frame after [`HaStats::became_master`] (reported by the loop with
    /// [`HaRuntime::note_forwarded`]).
    pub first_forward_as_master: Option<Instant>,
}

/// keepalived's `lvs_sync_daemon`: the daemons to switch with an instance's state.
#[derive(Debug, Clone)]
struct FollowInstance {
    instance: String,
    master: DaemonConfig,
    backup: DaemonConfig,
}

/// See the module docs.
#[derive(Debug)]
pub struct HaRuntime {
    vrrp: VrrpRunner,
    sync: SyncTransport,
    follow: Option<FollowInstance>,
    neigh: HashMap<Ipv4Addr, [u8; 6]>,
    /// Unicast peers (VRRP `unicast_peer`, sync peer) whose MAC is unknown, with the time of
    /// the last ARP request sent for each.
    arp_asked: HashMap<Ipv4Addr, Instant>,
    out: VecDeque<Vec<u8>>,
    log: Vec<HaLog>,
    msg: Vec<u8>,
    frame: Vec<u8>,
    stats: HaStats,
}

impl HaRuntime {
    /// A runtime for a director whose own address (DIP, sync source) is `ip` and MAC `mac`.
    ///
    /// # Errors
    /// As [`VrrpRunner::new`].
    pub fn new(
        instances: Vec<HaInstance>,
        scripts: Vec<VrrpScript>,
        ip: Ipv4Addr,
        mac: [u8; 6],
        now: Instant,
    ) -> Result<Self, HaConfigError> {
        Self::new_with_trackers(instances, scripts, Trackers::default(), ip, mac, now)
    }

    /// [`HaRuntime::new`] with `track_file` / `track_process` trackers
    /// ([`VrrpRunner::new_with_trackers`]).
    ///
    /// # Errors
    /// As [`VrrpRunner::new_with_trackers`].
    pub fn new_with_trackers(
        instances: Vec<HaInstance>,
        scripts: Vec<VrrpScript>,
        trackers: Trackers,
        ip: Ipv4Addr,
        mac: [u8; 6],
        now: Instant,
    ) -> Result<Self, HaConfigError> {
        Ok(HaRuntime {
            vrrp: VrrpRunner::new_with_trackers(instances, scripts, trackers, now)?,
            sync: SyncTransport::new(ip, mac),
            follow: None,
            neigh: HashMap::new(),
            arp_asked: HashMap::new(),
            out: VecDeque::new(),
            log: Vec::new(),
            msg: Vec::new(),
            frame: vec![0; 2048],
            stats: HaStats::default(),
        })
    }

    /// A runtime from a parsed keepalived.conf: its `vrrp_instance`s (with `interface_addr` /
    /// `interface_mac` set to `ip` / `mac`, as keepalived reads them from the kernel), its
    /// `vrrp_script`s (timeout defaulting to the interval), notify scripts, `track_script`
    /// weights, and `lvs_sync_daemon` (see the module docs; apply the director side with
    /// [`HaRuntime::sync_daemon_commands`]).
    ///
    /// # Errors
    /// As [`VrrpRunner::new`].
    pub fn from_keepalived(
        conf: &KeepalivedConfig,
        ip: Ipv4Addr,
        mac: [u8; 6],
        now: Instant,
    ) -> Result<Self, HaConfigError> {
        let scripts = conf
            .vrrp_scripts
            .iter()
            .map(|s| VrrpScript {
                name: s.name.clone(),
                script: s.script.clone(),
                interval: s.interval,
                timeout: s.timeout.unwrap_or(s.interval),
                rise: s.rise,
                fall: s.fall,
                weight: s.weight,
            })
            .collect();
        let instances = conf
            .vrrp_instances
            .iter()
            .map(|i| {
                let mut config = i.config.clone();
                config.name.clone_from(&i.name);
                if config.interface_addr.is_unspecified() {
                    config.interface_addr = IpAddr::V4(ip);
                }
                if config.interface_mac == [0; 6] {
                    config.interface_mac = mac;
                }
                // The parser's resolved list is rebuilt here (keeping both would count a
                // weighted track_interface twice while up).
                config.track.clear();
                // track_interface: weight 0 (FAULT while down) unless given; the loop
                // reports link states with VrrpRunner::set_tracked.
                for t in &i.track_interfaces {
                    config.track.push(lvs_vrrp::TrackWeight {
                        name: t.name.clone(),
                        weight: t.weight.unwrap_or(0),
                    });
                }
                for t in &i.track_scripts {
                    if let Some(w) = t.weight {
                        config.track.push(lvs_vrrp::TrackWeight {
                            name: t.name.clone(),
                            weight: w,
                        });
                    }
                }
                HaInstance {
                    config,
                    notify: i.notify.clone(),
                    notify_master: i.notify_master.clone(),
                    notify_backup: i.notify_backup.clone(),
                    notify_fault: i.notify_fault.clone(),
                    notify_stop: i.notify_stop.clone(),
                    track_script: i.track_scripts.iter().map(|t| t.name.clone()).collect(),
                    track_file: i.track_files.clone(),
                    track_process: i.track_processes.clone(),
                }
            })
            .collect();
        let trackers = Trackers {
            files: conf.track_files.clone(),
            processes: conf.track_processes.clone(),
        };
        let mut rt = HaRuntime::new_with_trackers(instances, scripts, trackers, ip, mac, now)?;
        if let Some(d) = &conf.global.lvs_sync_daemon {
            rt.follow = Some(FollowInstance {
                instance: d.instance.clone(),
                master: d.daemon_config(DaemonState::Master),
                backup: d.daemon_config(DaemonState::Backup),
            });
        }
        Ok(rt)
    }

    /// The runtime of the `lvs-director` binary: from keepalived.conf `config` (its
    /// `vrrp_instance`s, `vrrp_script`s and `lvs_sync_daemon`) when given, else without VRRP
    /// instances (sync daemons only, following the Director's `--start-daemon` rules);
    /// `sync_peer` selects unicast sync. Call [`HaRuntime::follow_director_daemons`] after
    /// loading rules and after each control command.
    ///
    /// # Errors
    /// The file does not parse, or an instance is invalid, as text.
    pub fn for_director(
        config: Option<&std::path::Path>,
        ip: Ipv4Addr,
        mac: [u8; 6],
        sync_peer: Option<Ipv4Addr>,
        now: Instant,
    ) -> Result<Self, String> {
        let mut rt = match config {
            Some(p) => {
                let conf = crate::keepalived::parse_file(p).map_err(|e| e.to_string())?;
                HaRuntime::from_keepalived(&conf, ip, mac, now)
            }
            None => HaRuntime::new(Vec::new(), Vec::new(), ip, mac, now),
        }
        .map_err(|e| e.to_string())?;
        rt.set_sync_unicast_peer(sync_peer);
        Ok(rt)
    }

    /// True when the runtime runs VRRP instances (a director without them answers for its
    /// VIPs unconditionally).
    pub fn has_instances(&self) -> bool {
        !self.vrrp.instances().is_empty()
    }

    /// The VRRP runner (instances, `is_master`, counters).
    pub fn vrrp(&self) -> &VrrpRunner {
        &self.vrrp
    }

    /// The VRRP runner, to report tracked objects ([`VrrpRunner::set_tracked`]) and link
    /// states ([`VrrpRunner::set_interface_up`]).
    pub fn vrrp_mut(&mut self) -> &mut VrrpRunner {
        &mut self.vrrp
    }

    /// The sync transport (daemons, counters).
    pub fn sync(&self) -> &SyncTransport {
        &self.sync
    }

    /// Sync to a unicast peer instead of the multicast group.
    pub fn set_sync_unicast_peer(&mut self, peer: Option<Ipv4Addr>) {
        self.sync.set_unicast_peer(peer);
    }

    /// Counters.
    pub fn stats(&self) -> HaStats {
        self.stats
    }

    /// Drains the log (state changes with reasons, scripts, notify calls, unknown VRIDs).
    pub fn take_log(&mut self) -> Vec<HaLog> {
        std::mem::take(&mut self.log)
    }

    /// Makes the transport run the daemons the Director runs (ignored under keepalived's
    /// `lvs_sync_daemon`, which decides them itself) (after `--start-daemon` /
    /// `--stop-daemon` reached the Director through rules or the control socket).
    pub fn follow_director_daemons(&mut self, director: &Director) {
        if self.follow.is_some() {
            return;
        }
        let daemons = director.snapshot().daemons;
        for state in [DaemonState::Master, DaemonState::Backup] {
            match daemons.iter().find(|d| d.state == state) {
                Some(d) => self.sync.start(d),
                None => self.sync.stop(state),
            }
        }
    }

    /// The `--start-daemon` / `--stop-daemon` commands the Director needs now under
    /// keepalived's `lvs_sync_daemon` (empty without it): master daemon while the named
    /// instance is MASTER, backup daemon otherwise. The runtime applies them itself in
    /// [`HaRuntime::poll_transmit`]; this is for callers that keep their own copy.
    pub fn sync_daemon_commands(&self) -> Vec<Command> {
        let Some(f) = &self.follow else {
            return Vec::new();
        };
        let master = self
            .vrrp
            .instances()
            .iter()
            .any(|i| i.config().name == f.instance && i.state() == State::Master);
        let (start, stop) = if master {
            (&f.master, DaemonState::Backup)
        } else {
            (&f.backup, DaemonState::Master)
        };
        vec![
            Command::StopDaemon {
                state: stop,
                syncid: 0,
            },
            Command::StartDaemon(start.clone()),
        ]
    }

    fn apply_follow(&mut self, director: &mut Director, now: Instant) {
        for cmd in self.sync_daemon_commands() {
            let _ = director.apply(&cmd, now);
            match &cmd {
                Command::StartDaemon(d) => self.sync.start(d),
                Command::StopDaemon { state, .. } => self.sync.stop(*state),
                _ => {}
            }
        }
    }

    /// Step 1 of the loop (module docs). With VRRP instances, unicast frames addressed to
    /// another MAC (flooded by the bridge, e.g. to the peer director) are dropped too, as a
    /// NIC outside promiscuous mode would. Without instances only sync datagrams are taken;
    /// every other frame (VRRP included) passes to the director unchanged.
    pub fn intercept(&mut self, director: &mut Director, frame: &[u8], now: Instant) -> Intercept {
        if !self.has_instances() {
            // Sync only (or nothing): the director sees everything else as without HA.
            return match self.sync.accept(frame) {
                Some(msg) => {
                    self.import(director, msg, now);
                    Intercept::Consumed
                }
                None => Intercept::Pass,
            };
        }
        if self.vrrp.handle_frame(now, frame) {
            return Intercept::Consumed;
        }
        let unicast = frame.first().is_some_and(|b| b & 1 == 0);
        if unicast && self.has_instances() && frame.get(..6) != Some(&self.sync.local_mac()[..]) {
            return Intercept::Drop;
        }
        if let Ok(arp) = lvs_arp::ArpFrame::parse(frame) {
            let sip = arp.sender_ip;
            if !sip.is_unspecified() && !self.vrrp.is_vip(IpAddr::V4(sip)) {
                self.neigh.insert(sip, arp.sender_mac.0);
            }
            let t = IpAddr::V4(arp.target_ip);
            if arp.op == lvs_arp::ArpOp::Request
                && !arp.is_gratuitous()
                && self.vrrp.is_vip(t)
                && !self.vrrp.is_master(t)
            {
                self.stats.dropped_not_master += 1;
                return Intercept::Drop;
            }
            return Intercept::Pass;
        }
        if let Some(msg) = self.sync.accept(frame) {
            self.import(director, msg, now);
            return Intercept::Consumed;
        }
        if let Some(dst) = vip_target(frame)
            && self.vrrp.is_vip(dst)
            && !self.vrrp.is_master(dst)
        {
            self.stats.dropped_not_master += 1;
            return Intercept::Drop;
        }
        Intercept::Pass
    }

    /// True when [`HaRuntime::intercept`] may change the director with `frame` (import it as
    /// a connection sync message): a caller that holds back frames it passed, to process them
    /// in a batch, processes them before it intercepts this one.
    pub fn may_import(&self, frame: &[u8]) -> bool {
        self.sync.may_accept(frame)
    }

    fn import(&mut self, director: &mut Director, msg: &[u8], now: Instant) {
        match director.handle_sync(now, msg) {
            Ok(n) => self.stats.sync_imported += n as u64,
            Err(_) => self.stats.sync_errors += 1,
        }
    }

    /// The loop reports a frame the director forwarded at `now` (for the takeover timing).
    pub fn note_forwarded(&mut self, now: Instant) {
        if self.stats.became_master.is_some() && self.stats.first_forward_as_master.is_none() {
            self.stats.first_forward_as_master = Some(now);
        }
    }

    /// Step 2: the earliest VRRP / script deadline.
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.vrrp.poll_timeout()
    }

    /// Step 2: run what is due at `now`.
    pub fn handle_timeout(&mut self, now: Instant) {
        if self.vrrp.poll_timeout().is_some_and(|t| t <= now) {
            self.vrrp.handle_timeout(now);
        }
    }

    /// A watched link (an instance's own `interface` or a `track_interface`) is now `up` or
    /// down, e.g. from a [`super::link::LinkWatch`] poll: every instance running on or
    /// tracking `ifname` is updated ([`VrrpRunner::set_link`]: own interface down or weight-0
    /// tracked interface down = FAULT, other weights change the priority). The log line
    /// ("Kernel is reporting: interface X DOWN") and state changes come out of
    /// [`HaRuntime::take_log`] after the next [`HaRuntime::poll_transmit`].
    pub fn set_link(&mut self, now: Instant, ifname: &str, up: bool) {
        self.vrrp.set_link(now, ifname, up);
    }

    /// The interfaces whose link state matters, `(name, own)`: each instance's own
    /// `interface` (`own = true`) and its `track_interface` entries.
    pub fn link_names(&self) -> Vec<(String, bool)> {
        self.vrrp.link_names()
    }

    /// SIGTERM: every instance shuts down (a MASTER's priority-0 advert is queued for
    /// [`HaRuntime::poll_transmit`]).
    pub fn shutdown(&mut self, now: Instant) {
        self.vrrp.shutdown(now);
    }

    fn collect(&mut self, director: &mut Director, now: Instant) {
        let mut changed = false;
        for l in self.vrrp.take_log() {
            if let HaLog::State {
                event: Event::StateChange { to, .. },
                ..
            } = &l
            {
                changed = true;
                if *to == State::Master {
                    self.stats.became_master = Some(now);
                    self.stats.first_forward_as_master = None;
                }
            }
            self.log.push(l);
        }
        if changed {
            self.apply_follow(director, now);
        }
    }

    /// The MAC of unicast peer `ip`, or `None` after queueing an ARP request for it (at most
    /// one per second per peer); the frame that needed it is lost, as the kernel loses a
    /// datagram whose neighbour entry fails.
    fn peer_mac(&mut self, ip: Ipv4Addr, now: Instant) -> Option<[u8; 6]> {
        if let Some(m) = self.neigh.get(&ip) {
            return Some(*m);
        }
        let due = self
            .arp_asked
            .get(&ip)
            .is_none_or(|t| now.saturating_duration_since(*t) >= std::time::Duration::from_secs(1));
        if due {
            self.arp_asked.insert(ip, now);
            let mac = lvs_arp::MacAddr(self.sync.local_mac());
            let req = lvs_arp::ArpFrame::request(mac, self.sync.local_ip(), ip, None);
            self.out.push_back(req.to_bytes().to_vec());
        }
        None
    }

    /// Step 3: the next frame to write (adverts and gratuitous ARPs first, then sync
    /// messages drained from `director`), or `None`.
    pub fn poll_transmit(&mut self, director: &mut Director, now: Instant) -> Option<Vec<u8>> {
        self.collect(director, now);
        if let Some(f) = self.out.pop_front() {
            return Some(f);
        }
        let mut vbuf = [0u8; lvs_vrrp::wire::MAX_FRAME_LEN];
        while let Some(t) = self.vrrp.poll_transmit(&mut vbuf) {
            let len = t.frame_len();
            match t {
                Transmit::Advert { dst, dst_mac, .. } => {
                    self.stats.adverts_sent += 1;
                    if dst_mac.is_none() {
                        // Unicast peer: its MAC from the ARP frames seen, else ask.
                        let IpAddr::V4(peer) = dst else { continue };
                        let Some(m) = self.peer_mac(peer, now) else {
                            continue;
                        };
                        if let Some(d) = vbuf.get_mut(..6) {
                            d.copy_from_slice(&m);
                        }
                    }
                }
                Transmit::GratuitousArp { .. } | Transmit::UnsolicitedNa { .. } => {
                    self.stats.garps_sent += 1;
                }
                _ => {}
            }
            if let Some(f) = vbuf.get(..len) {
                return Some(f.to_vec());
            }
        }
        let maxlen = self.sync.maxlen();
        if self.msg.len() != maxlen {
            self.msg.resize(maxlen, 0);
        }
        if let Some((dst, None)) = self.sync.destination()
            && !self.neigh.contains_key(&dst)
        {
            // Resolve the unicast sync peer before there is anything to send.
            let _ = self.peer_mac(dst, now);
        }
        if let Some(f) = self.out.pop_front() {
            return Some(f);
        }
        while let Some(n) = director.poll_sync(&mut self.msg) {
            let (dst, mac) = self.sync.destination()?;
            let Some(mac) = mac.or_else(|| self.peer_mac(dst, now)) else {
                continue;
            };
            let Some(m) = self.msg.get(..n) else { continue };
            if let Ok(fl) = self.sync.encode(m, mac, &mut self.frame) {
                self.stats.sync_sent += 1;
                return self.frame.get(..fl).map(<[u8]>::to_vec);
            }
        }
        self.out.pop_front()
    }
}
