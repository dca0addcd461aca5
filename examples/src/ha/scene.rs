//! The HA topology the tests and `lvs-demo` run (root only): one LAN bridge, a client
//! namespace, kernel real servers in DR mode, and two in-process directors
//! ([`super::node`]) on two TAPs with VRRP between them and connection sync both ways.
//!
//! ```text
//!   client 10.88.S.10 ─┐
//!   rs1    10.88.S.21 ─┤  (VIP 10.88.S.100/32 on lo, arp_ignore=1, arp_announce=2, echo server)
//!   rs2    10.88.S.22 ─┼── br0
//!   director A .2 TAP ─┤  (priority 150, preempts)
//!   director B .3 TAP ─┘  (priority 100)
//! ```
//!
//! Virtual services: `-t VIP:8080 -s mh` (the streams) and `-u VIP:9000 -s mh` (the 1 ms
//! probe that times the takeover), each with both real servers, `-g` (DR). Both directors run
//! `--start-daemon master` and `--start-daemon backup` (syncid 1, 224.0.0.81:8848).

use std::io::{ErrorKind, Read, Write};
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4, TcpListener, TcpStream, UdpSocket};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, mpsc};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use lvs_core::director::DirectorConfig;
use lvs_vrrp::{Version, VrrpConfig};

use super::node::{NodeConfig, NodeHandle, NodeStats, spawn_node};
use super::vrrp::HaInstance;
use crate::netns::{Lan, Netns};

/// A connection counts as lost when it resets or makes no progress for this long (issue 10).
pub const STALL_LIMIT: Duration = Duration::from_secs(2);
/// The TCP service port.
pub const TCP_PORT: u16 = 8080;
/// The UDP probe port.
pub const PROBE_PORT: u16 = 9000;
/// The VRID of the pair (director B's with [`SceneParams::split_brain`]: VRID + 1).
pub const VRID: u8 = 88;

/// Enters network namespace `name` for the calling thread (`setns(2)`); threads it spawns
/// afterwards start there too.
///
/// # Errors
/// The namespace file cannot be opened or `setns` fails (not root).
pub fn enter_netns(name: &str) -> Result<(), String> {
    let f = std::fs::File::open(format!("/var/run/netns/{name}"))
        .map_err(|e| format!("netns {name}: {e}"))?;
    nix::sched::setns(&f, nix::sched::CloneFlags::CLONE_NEWNET)
        .map_err(|e| format!("setns {name}: {e}"))
}

/// Parameters of a [`Scene`].
#[derive(Debug, Clone)]
pub struct SceneParams {
    /// Third octet of 10.88.S.0/24 (one per concurrently running scene).
    pub subnet: u8,
    /// VRRP version.
    pub version: Version,
    /// `advert_int` (v2: whole seconds; v3: multiple of 10 ms).
    pub advert_int: Duration,
    /// `sloppy_tcp`: with mh, a director that never saw a flow picks the same real server on
    /// its next packet, so even unsynced flows survive.
    pub sloppy_tcp: bool,
    /// Run the sync daemons.
    pub sync: bool,
    /// Director B on another VRID (split brain).
    pub split_brain: bool,
    /// Start director A with the scene (false: its place is left for another VRRP peer such
    /// as keepalived at 10.88.S.2).
    pub start_a: bool,
    /// Sync to the other director by unicast instead of the multicast group.
    pub sync_unicast: bool,
    /// `nopreempt` on both instances: a restarted higher-priority director stays BACKUP.
    pub nopreempt: bool,
    /// Start director B with the scene (false: e.g. `lvs-director` processes take both
    /// places).
    pub start_b: bool,
    /// NAT (`-m`) instead of DR: the client moves to 10.89.S.10/24 (same LAN, its own
    /// subnet, so the real servers' replies must go through the director), the real servers
    /// route it via the second VIP 10.88.S.254 (the gateway address the pair moves with the
    /// VIP), the directors get a DIP in the client subnet (10.89.S.2 / .3).
    pub nat: bool,
}

impl SceneParams {
    /// VRRPv3 at 10 centiseconds, sync on, sloppy_tcp off.
    pub fn v3_fast(subnet: u8) -> Self {
        SceneParams {
            subnet,
            version: Version::V3,
            advert_int: Duration::from_millis(100),
            sloppy_tcp: false,
            sync: true,
            split_brain: false,
            start_a: true,
            start_b: true,
            nat: false,
            sync_unicast: false,
            nopreempt: false,
        }
    }
    /// VRRPv2 at 1 s, sync on, sloppy_tcp off.
    pub fn v2(subnet: u8) -> Self {
        SceneParams {
            version: Version::V2,
            advert_int: Duration::from_secs(1),
            ..SceneParams::v3_fast(subnet)
        }
    }
    /// An address of the subnet.
    pub fn addr(&self, host: u8) -> Ipv4Addr {
        Ipv4Addr::new(10, 88, self.subnet, host)
    }
    /// The VIP, 10.88.S.100.
    pub fn vip(&self) -> Ipv4Addr {
        self.addr(100)
    }
    /// The real servers' gateway in NAT mode: 10.88.S.254, a VIP of the instance.
    pub fn nat_gateway(&self) -> Ipv4Addr {
        self.addr(254)
    }
    /// The client's address: 10.88.S.10 (DR) or 10.89.S.10 (NAT).
    pub fn client_addr(&self) -> Ipv4Addr {
        if self.nat {
            Ipv4Addr::new(10, 89, self.subnet, 10)
        } else {
            self.addr(10)
        }
    }
    /// The real servers' addresses.
    pub fn rips(&self) -> [Ipv4Addr; 2] {
        [self.addr(21), self.addr(22)]
    }

    /// Director `index`'s configuration (0 = A: .2, priority 150; 1 = B: .3, priority 100).
    pub fn node_config(&self, index: u8) -> NodeConfig {
        let ip = self.addr(2 + index);
        let mac = [0x02, 0x88, 0, self.subnet, 0, 2 + index];
        let vrid = if self.split_brain { VRID + index } else { VRID };
        let vrrp = VrrpConfig {
            name: "VI_1".into(),
            interface: "eth0".into(),
            interface_addr: ip.into(),
            interface_mac: mac,
            virtual_router_id: vrid,
            priority: if index == 0 { 150 } else { 100 },
            advert_int: self.advert_int,
            version: Some(self.version),
            virtual_ipaddress: if self.nat {
                vec![self.vip().into(), self.nat_gateway().into()]
            } else {
                vec![self.vip().into()]
            },
            garp_master_delay: Duration::from_secs(1),
            nopreempt: self.nopreempt,
            ..VrrpConfig::default()
        };
        let vip = self.vip();
        let mut ipvsadm = vec![
            format!("-A -t {vip}:{TCP_PORT} -s mh"),
            format!("-A -u {vip}:{PROBE_PORT} -s mh"),
        ];
        let fwd = if self.nat { "-m" } else { "-g" };
        for rip in self.rips() {
            ipvsadm.push(format!(
                "-a -t {vip}:{TCP_PORT} -r {rip}:{TCP_PORT} {fwd} -w 1"
            ));
            ipvsadm.push(format!(
                "-a -u {vip}:{PROBE_PORT} -r {rip}:{PROBE_PORT} {fwd} -w 1"
            ));
        }
        if self.sync {
            ipvsadm.push("--start-daemon master --mcast-interface eth0 --syncid 1".into());
            ipvsadm.push("--start-daemon backup --mcast-interface eth0 --syncid 1".into());
        }
        let mut director = DirectorConfig {
            local_v4: Some(ip),
            ..DirectorConfig::default()
        };
        director.sysctls.sloppy_tcp = self.sloppy_tcp;
        NodeConfig {
            name: if index == 0 { "A".into() } else { "B".into() },
            ip,
            prefix_len: 24,
            extra_dips: if self.nat {
                vec![(Ipv4Addr::new(10, 89, self.subnet, 2 + index), 24)]
            } else {
                Vec::new()
            },
            mac,
            instances: vec![HaInstance::new(vrrp)],
            scripts: Vec::new(),
            ipvsadm,
            sync_unicast_peer: self.sync_unicast.then(|| self.addr(3 - index)),
            director,
        }
    }
}

/// The running topology. Dropping it stops everything and deletes the namespaces.
#[derive(Debug)]
pub struct Scene {
    /// Its parameters.
    pub params: SceneParams,
    /// Director A (None once killed, until restarted).
    pub a: Option<NodeHandle>,
    /// Director B.
    pub b: Option<NodeHandle>,
    /// The client namespace.
    pub client: Netns,
    servers_stop: Arc<AtomicBool>,
    servers: Vec<JoinHandle<()>>,
    arrivals: Arc<Mutex<Vec<Instant>>>,
    _rs: Vec<Netns>,
    lan: Arc<Lan>,
}

/// The real server's UDP probe sink: records the arrival instant of every datagram.
fn probe_sink(sock: UdpSocket, stop: Arc<AtomicBool>, arrivals: Arc<Mutex<Vec<Instant>>>) {
    let _ = sock.set_read_timeout(Some(Duration::from_millis(50)));
    let mut b = [0u8; 64];
    while !stop.load(Ordering::Relaxed) {
        if sock.recv_from(&mut b).is_ok() {
            let now = Instant::now();
            if let Ok(mut a) = arrivals.lock() {
                a.push(now);
            }
        }
    }
}

fn echo_server(
    ns: String,
    stop: Arc<AtomicBool>,
    arrivals: Arc<Mutex<Vec<Instant>>>,
    ready: mpsc::Sender<Result<(), String>>,
) {
    if let Err(e) = enter_netns(&ns) {
        let _ = ready.send(Err(e));
        return;
    }
    let probe = match UdpSocket::bind(("0.0.0.0", PROBE_PORT)) {
        Ok(s) => s,
        Err(e) => {
            let _ = ready.send(Err(format!("bind UDP in {ns}: {e}")));
            return;
        }
    };
    let sink = {
        let stop = stop.clone();
        std::thread::spawn(move || probe_sink(probe, stop, arrivals))
    };
    let l = match TcpListener::bind(("0.0.0.0", TCP_PORT)) {
        Ok(l) => l,
        Err(e) => {
            let _ = ready.send(Err(format!("bind in {ns}: {e}")));
            return;
        }
    };
    let _ = l.set_nonblocking(true);
    let _ = ready.send(Ok(()));
    let mut conns: Vec<JoinHandle<()>> = Vec::new();
    while !stop.load(Ordering::Relaxed) {
        match l.accept() {
            Ok((mut s, _)) => {
                let stop = stop.clone();
                conns.push(std::thread::spawn(move || {
                    let _ = s.set_nonblocking(false);
                    let _ = s.set_read_timeout(Some(Duration::from_millis(100)));
                    let mut b = [0u8; 4096];
                    while !stop.load(Ordering::Relaxed) {
                        match s.read(&mut b) {
                            Ok(0) => return,
                            Ok(n) => {
                                if s.write_all(b.get(..n).unwrap_or_default()).is_err() {
                                    return;
                                }
                            }
                            Err(e)
                                if matches!(
                                    e.kind(),
                                    ErrorKind::WouldBlock | ErrorKind::TimedOut
                                ) => {}
                            Err(_) => return,
                        }
                    }
                }));
            }
            Err(_) => std::thread::sleep(Duration::from_millis(5)),
        }
    }
    for c in conns {
        let _ = c.join();
    }
    let _ = sink.join();
}

impl Scene {
    /// Builds the LAN, the client and the real servers, and starts both directors (A only
    /// with [`SceneParams::start_a`]); waits until A is MASTER (up to `4 * advert_int + 2 s`).
    ///
    /// # Errors
    /// Any setup failure, as text.
    pub fn new(params: SceneParams) -> Result<Scene, String> {
        let e = |x: crate::netns::NetError| x.to_string();
        let mut lan = Lan::new("hal").map_err(e)?;
        let client = lan
            .add_host("hac", &[&format!("{}/24", params.client_addr())])
            .map_err(e)?;
        let vip = params.vip();
        if params.nat {
            // The VIP's subnet is on the client's link.
            client
                .ip(&[
                    "route",
                    "add",
                    &format!("10.88.{}.0/24", params.subnet),
                    "dev",
                    "eth0",
                ])
                .map_err(e)?;
        }
        let mut rs = Vec::new();
        for (i, rip) in params.rips().iter().enumerate() {
            let ns = lan
                .add_host(&format!("har{i}"), &[&format!("{rip}/24")])
                .map_err(e)?;
            if params.nat {
                // NAT real server: replies to the client go through the pair's gateway VIP.
                let gw = params.nat_gateway().to_string();
                ns.ip(&["route", "add", "default", "via", &gw]).map_err(e)?;
            } else {
                // DR real server: VIP on lo /32, silent about it (arp_ignore=1,
                // arp_announce=2).
                ns.add_addr("lo", &format!("{vip}/32")).map_err(e)?;
                for dev in ["all", "eth0"] {
                    ns.sysctl(&format!("net.ipv4.conf.{dev}.arp_ignore"), "1")
                        .map_err(e)?;
                    ns.sysctl(&format!("net.ipv4.conf.{dev}.arp_announce"), "2")
                        .map_err(e)?;
                }
            }
            rs.push(ns);
        }
        let lan = Arc::new(lan);
        let stop = Arc::new(AtomicBool::new(false));
        let arrivals = Arc::new(Mutex::new(Vec::new()));
        let mut servers = Vec::new();
        for ns in &rs {
            let (tx, rx) = mpsc::channel();
            let name = ns.name().to_owned();
            let st = stop.clone();
            let arr = arrivals.clone();
            servers.push(std::thread::spawn(move || echo_server(name, st, arr, tx)));
            rx.recv().map_err(|x| x.to_string())??;
        }
        let a = if params.start_a {
            Some(spawn_node(params.node_config(0), lan.clone())?)
        } else {
            None
        };
        let b = if params.start_b {
            Some(spawn_node(params.node_config(1), lan.clone())?)
        } else {
            None
        };
        let scene = Scene {
            params,
            a,
            b,
            arrivals,
            client,
            servers_stop: stop,
            servers,
            _rs: rs,
            lan,
        };
        let limit = scene.params.advert_int * 4 + Duration::from_secs(2);
        if scene.params.start_a && !scene.wait_master(0, limit) {
            return Err(format!("director A not MASTER after {limit:?}"));
        }
        Ok(scene)
    }

    /// The LAN.
    pub fn lan(&self) -> Arc<Lan> {
        self.lan.clone()
    }

    /// The instants the real servers received probe datagrams (sorted): an outside view of
    /// forwarding, for directors running as processes.
    pub fn probe_arrivals(&self) -> Vec<Instant> {
        let mut v = self.arrivals.lock().map(|a| a.clone()).unwrap_or_default();
        v.sort();
        v
    }

    /// A further host namespace on the LAN (`eth0` with `cidr`, up), e.g. for keepalived.
    ///
    /// # Errors
    /// Namespace or link failures, as text.
    pub fn add_host(&self, prefix: &str, port: &str, cidr: &str) -> Result<Netns, String> {
        let e = |x: crate::netns::NetError| x.to_string();
        let host = Netns::new(prefix).map_err(e)?;
        let br = self.lan.netns();
        br.add_veth(port, "eth0", &host).map_err(e)?;
        br.set_master(port, crate::netns::LAN_BRIDGE).map_err(e)?;
        host.add_addr("eth0", cidr).map_err(e)?;
        host.link_up("eth0").map_err(e)?;
        Ok(host)
    }

    fn node(&self, index: u8) -> Option<&NodeHandle> {
        if index == 0 {
            self.a.as_ref()
        } else {
            self.b.as_ref()
        }
    }

    /// True when director `index` runs and its instance is MASTER.
    pub fn is_master(&self, index: u8) -> bool {
        self.node(index)
            .is_some_and(|n| n.stats().states.first() == Some(&lvs_vrrp::State::Master))
    }

    /// Waits up to `limit` for director `index` to be MASTER.
    pub fn wait_master(&self, index: u8, limit: Duration) -> bool {
        let end = Instant::now() + limit;
        while Instant::now() < end {
            if self.is_master(index) {
                return true;
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        self.is_master(index)
    }

    /// Kills director A without goodbye (see [`NodeHandle::kill`]); returns its final stats
    /// (`ended` = time of death).
    pub fn kill_a(&mut self) -> Option<NodeStats> {
        self.a.take().map(|mut a| a.kill())
    }

    /// Starts director A again with the same configuration (same MAC and addresses).
    ///
    /// # Errors
    /// As [`spawn_node`].
    pub fn restart_a(&mut self) -> Result<(), String> {
        self.a = Some(spawn_node(self.params.node_config(0), self.lan.clone())?);
        Ok(())
    }
}

impl Drop for Scene {
    fn drop(&mut self) {
        self.a.take();
        self.b.take();
        self.servers_stop.store(true, Ordering::Relaxed);
        for s in self.servers.drain(..) {
            let _ = s.join();
        }
    }
}

/// Result of [`Streams::finish`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StreamReport {
    /// Connections established.
    pub total: usize,
    /// Connections that reset (or failed otherwise).
    pub reset: usize,
    /// Connections that stalled more than [`STALL_LIMIT`] (without resetting).
    pub stalled: usize,
    /// The longest stall over all connections.
    pub max_stall: Duration,
    /// Bytes echoed back in total.
    pub echoed: u64,
}

impl StreamReport {
    /// Lost connections: reset or stalled.
    pub fn lost(&self) -> usize {
        self.reset + self.stalled
    }
    /// Survivors.
    pub fn survived(&self) -> usize {
        self.total - self.lost()
    }
}

/// Long-lived TCP connections from the client through the VIP, each sending 16 bytes every
/// 20 ms and reading the echo.
#[derive(Debug)]
pub struct Streams {
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<Result<StreamReport, String>>>,
}

struct Conn {
    s: TcpStream,
    sent: u64,
    rcvd: u64,
    last_progress: Instant,
    max_stall: Duration,
    failed: bool,
}

impl Streams {
    /// Opens `n` connections from namespace `client` to `vip:TCP_PORT` and starts streaming.
    ///
    /// # Errors
    /// A connection could not be established (within 5 s).
    pub fn start(client: &Netns, vip: Ipv4Addr, n: usize) -> Result<Streams, String> {
        let stop = Arc::new(AtomicBool::new(false));
        let (tx, rx) = mpsc::channel();
        let ns = client.name().to_owned();
        let st = stop.clone();
        let thread = std::thread::spawn(move || {
            let setup = || -> Result<Vec<Conn>, String> {
                enter_netns(&ns)?;
                let addr = SocketAddr::V4(SocketAddrV4::new(vip, TCP_PORT));
                let mut v = Vec::with_capacity(n);
                for i in 0..n {
                    let s = TcpStream::connect_timeout(&addr, Duration::from_secs(5))
                        .map_err(|e| format!("connection {i}: {e}"))?;
                    s.set_nonblocking(true).map_err(|e| e.to_string())?;
                    let _ = s.set_nodelay(true);
                    v.push(Conn {
                        s,
                        sent: 0,
                        rcvd: 0,
                        last_progress: Instant::now(),
                        max_stall: Duration::ZERO,
                        failed: false,
                    });
                }
                Ok(v)
            };
            let mut conns = match setup() {
                Ok(c) => {
                    let _ = tx.send(Ok(()));
                    c
                }
                Err(e) => {
                    let _ = tx.send(Err(e.clone()));
                    return Err(e);
                }
            };
            let mut buf = [0u8; 4096];
            while !st.load(Ordering::Relaxed) {
                let now = Instant::now();
                for c in conns.iter_mut().filter(|c| !c.failed) {
                    match c.s.write(&[0x5a; 16]) {
                        Ok(k) => c.sent += k as u64,
                        Err(e) if e.kind() == ErrorKind::WouldBlock => {}
                        Err(_) => c.failed = true,
                    }
                    loop {
                        match c.s.read(&mut buf) {
                            Ok(0) => {
                                c.failed = true;
                                break;
                            }
                            Ok(k) => {
                                c.rcvd += k as u64;
                                c.last_progress = now;
                            }
                            Err(e) if e.kind() == ErrorKind::WouldBlock => break,
                            Err(_) => {
                                c.failed = true;
                                break;
                            }
                        }
                    }
                    if c.rcvd < c.sent {
                        c.max_stall = c.max_stall.max(now - c.last_progress);
                    } else {
                        c.last_progress = now;
                    }
                }
                std::thread::sleep(Duration::from_millis(20));
            }
            let mut r = StreamReport {
                total: conns.len(),
                ..StreamReport::default()
            };
            for c in &conns {
                r.echoed += c.rcvd;
                r.max_stall = r.max_stall.max(c.max_stall);
                if c.failed {
                    r.reset += 1;
                } else if c.max_stall > STALL_LIMIT {
                    r.stalled += 1;
                }
            }
            Ok(r)
        });
        match rx.recv() {
            Ok(Ok(())) => Ok(Streams {
                stop,
                thread: Some(thread),
            }),
            Ok(Err(e)) => {
                let _ = thread.join();
                Err(e)
            }
            Err(_) => Err("stream thread died".into()),
        }
    }

    /// Stops streaming and reports.
    ///
    /// # Errors
    /// The stream thread failed.
    pub fn finish(mut self) -> Result<StreamReport, String> {
        self.stop.store(true, Ordering::Relaxed);
        match self.thread.take().map(JoinHandle::join) {
            Some(Ok(r)) => r,
            _ => Err("stream thread panicked".into()),
        }
    }
}

impl Drop for Streams {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// A UDP datagram to `vip:PROBE_PORT` every millisecond from the client, so the directors'
/// "first forwarded packet" instants time a takeover to the millisecond.
#[derive(Debug)]
pub struct Probe {
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Probe {
    /// Starts the probe in namespace `client`.
    ///
    /// # Errors
    /// The socket cannot be created.
    pub fn start(client: &Netns, vip: Ipv4Addr) -> Result<Probe, String> {
        let stop = Arc::new(AtomicBool::new(false));
        let st = stop.clone();
        let ns = client.name().to_owned();
        let (tx, rx) = mpsc::channel();
        let thread = std::thread::spawn(move || {
            let sock = enter_netns(&ns)
                .and_then(|()| UdpSocket::bind(("0.0.0.0", 0)).map_err(|e| e.to_string()));
            let sock = match sock {
                Ok(s) => {
                    let _ = tx.send(Ok(()));
                    s
                }
                Err(e) => {
                    let _ = tx.send(Err(e));
                    return;
                }
            };
            while !st.load(Ordering::Relaxed) {
                let _ = sock.send_to(b"probe", (vip, PROBE_PORT));
                std::thread::sleep(Duration::from_millis(1));
            }
        });
        rx.recv().map_err(|e| e.to_string())??;
        Ok(Probe {
            stop,
            thread: Some(thread),
        })
    }
}

impl Drop for Probe {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// One takeover, measured.
#[derive(Debug, Clone)]
pub struct Takeover {
    /// The new master's Master_Down_Interval.
    pub master_down_interval: Duration,
    /// From the old master's death to the new master's MASTER transition.
    pub to_master: Duration,
    /// From the old master's death to the new master's first forwarded packet.
    pub to_first_forward: Duration,
}

/// Kills director A (no goodbye) while the probe runs, waits for B's first forwarded packet
/// (up to `limit`), and measures.
///
/// # Errors
/// A was not running, or B did not forward within `limit`.
pub fn measure_takeover(scene: &mut Scene, limit: Duration) -> Result<Takeover, String> {
    let dead = scene.kill_a().ok_or("director A is not running")?;
    let died = dead.ended.ok_or("no death instant")?;
    let b = scene.b.as_ref().ok_or("director B is not running")?;
    let end = Instant::now() + limit;
    loop {
        let s = b.stats();
        if let (Some(m), Some(f)) = (s.ha.became_master, s.ha.first_forward_as_master)
            && m >= died
        {
            let mdi = s.master_down_interval_us.first().copied().unwrap_or(0);
            return Ok(Takeover {
                master_down_interval: Duration::from_micros(mdi),
                to_master: m.saturating_duration_since(died),
                to_first_forward: f.saturating_duration_since(died),
            });
        }
        if Instant::now() > end {
            return Err(format!("B did not forward within {limit:?}: {s:?}"));
        }
        std::thread::sleep(Duration::from_millis(2));
    }
}

/// What [`demo_scene`] observed.
#[derive(Debug, Clone)]
pub struct DemoReport {
    /// A killed, B takes over.
    pub takeover: Takeover,
    /// A restarted; from its start to its MASTER transition (preemption), if it happened
    /// (never with `nopreempt`: A stays BACKUP, B keeps the VIP).
    pub failback: Option<Duration>,
    /// The connections over the whole scene.
    pub streams: StreamReport,
}

/// The `lvs-demo` HA scene (root only): two directors (VRRPv3, advert_int 10 cs, sync both
/// ways, mh with `sloppy_tcp`), `conns` long-lived TCP connections streaming through the VIP
/// in DR mode, A killed (no goodbye), B takes over, A restarted: it preempts back, or with
/// `nopreempt` stays BACKUP. Prints each step to `out` (e.g. standard output), and returns
/// the takeover time and the survivors. `subnet` picks 10.88.`subnet`.0/24.
///
/// # Errors
/// Setup failures, or a takeover that does not happen.
pub fn demo_scene(
    subnet: u8,
    conns: usize,
    nopreempt: bool,
    out: &mut dyn Write,
) -> Result<DemoReport, String> {
    let params = SceneParams {
        sloppy_tcp: true,
        nopreempt,
        ..SceneParams::v3_fast(subnet)
    };
    let w = |out: &mut dyn Write, s: String| {
        let _ = writeln!(out, "{s}");
    };
    let mut scene = Scene::new(params)?;
    w(
        out,
        format!("ha: director A is MASTER of {}", scene.params.vip()),
    );
    let _probe = Probe::start(&scene.client, scene.params.vip())?;
    let streams = Streams::start(&scene.client, scene.params.vip(), conns)?;
    w(
        out,
        format!(
            "ha: {conns} connections streaming through {}:{TCP_PORT}",
            scene.params.vip()
        ),
    );
    std::thread::sleep(Duration::from_secs(1));
    w(out, "ha: killing director A (no goodbye)".into());
    let takeover = measure_takeover(&mut scene, Duration::from_secs(5))?;
    w(
        out,
        format!(
            "ha: B MASTER after {:?}, first packet forwarded after {:?} (Master_Down_Interval {:?})",
            takeover.to_master, takeover.to_first_forward, takeover.master_down_interval
        ),
    );
    std::thread::sleep(Duration::from_secs(2));
    w(
        out,
        format!(
            "ha: restarting director A (priority 150, {})",
            if nopreempt { "nopreempt" } else { "preempts" }
        ),
    );
    let started = Instant::now();
    scene.restart_a()?;
    // nopreempt: watch 5 Master_Down_Intervals for a (wrong) takeover.
    let watch = if nopreempt {
        Duration::from_secs(2)
    } else {
        Duration::from_secs(5)
    };
    let failback = scene
        .wait_master(0, watch)
        .then(|| {
            scene
                .a
                .as_ref()
                .and_then(|a| a.stats().ha.became_master)
                .map(|m| m.saturating_duration_since(started))
        })
        .flatten();
    match failback {
        Some(d) => w(out, format!("ha: A MASTER again after {d:?}")),
        None => w(out, "ha: A stays BACKUP, B keeps the VIP".into()),
    }
    std::thread::sleep(Duration::from_secs(2));
    let report = streams.finish()?;
    w(
        out,
        format!(
            "ha: {} of {} connections survived ({} reset, {} stalled > {STALL_LIMIT:?}, longest stall {:?})",
            report.survived(),
            report.total,
            report.reset,
            report.stalled,
            report.max_stall
        ),
    );
    Ok(DemoReport {
        takeover,
        failback,
        streams: report,
    })
}
