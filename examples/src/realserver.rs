//! A userspace LVS real server on Ethernet frames (smoltcp), for DR and TUN mode tests and the
//! demo: it owns a RIP, carries VIPs the way a Linux real server does (VIP on `lo`/32 with
//! `arp_ignore=1`, `arp_announce=2`), decapsulates IPIP / GUE / GRE tunnel packets from the
//! director (this machine's kernel has no IPIP module), and serves a small HTTP responder, a TCP
//! echo and a UDP echo.
//!
//! # Layers
//!
//! - [`RealServer`]: sans-IO core. Feed it received Ethernet frames ([`RealServer::receive`]),
//!   drive it with [`RealServer::poll`] at the times [`RealServer::poll_delay`] asks for, and
//!   take the frames to transmit with [`RealServer::transmit`]. Time is a
//!   [`smoltcp::time::Instant`] given by the caller, so it also runs on an in-memory virtual
//!   LAN with simulated time.
//! - [`run_on_tap`] / [`RealServerThread`] ([`tap`]): the same core on a TAP device
//!   ([`crate::netns::Tap`]), in the calling thread or in its own thread, until a stop flag is
//!   set. The `lvs-realserver` binary is a command line around [`run_on_tap`].
//!
//! # ARP: the LVS-DR recipe, decided by lvs-arp
//!
//! smoltcp answers every ARP request whose target is one of its addresses
//! (`iface/interface/ipv4.rs`, `process_arp`), and the VIPs must be smoltcp addresses (as /32)
//! for it to accept their traffic. So ARP never reaches smoltcp unfiltered: the core keeps an
//! [`lvs_arp::Host`] modelling the Linux real server (interface `eth0` with the RIP, `lo` with
//! each VIP /32, `net.ipv4.conf.all.arp_ignore=1`, `arp_announce=2`) and
//! - answers an ARP request only when [`lvs_arp::Host::arp_input`] says reply (the RIP; never a
//!   VIP: "arp_ignore=1: target not on eth0"), with the reply frame lvs-arp built; the request
//!   is then also given to smoltcp so it learns the sender, and smoltcp's own ARP replies are
//!   dropped on the way out;
//! - gives ARP replies to smoltcp (neighbour learning) and drops other requests;
//! - checks the sender IP of smoltcp's own ARP requests against
//!   [`lvs_arp::Host::arp_source`] (`arp_announce=2`: an address of the outgoing interface in
//!   the target's subnet, never the VIP of the packet waiting) and rewrites it if they differ.
//!
//! # Tunnels (LVS-TUN)
//!
//! An IPv4 frame for the RIP with protocol 4 / 41 (IPIP), 47 (GRE) or UDP to the GUE port is
//! given to [`lvs_fwd::tun::decapsulate`]; the inner packet, in a fresh Ethernet header, goes to
//! smoltcp, which answers the client straight from the VIP, through the gateway (`--gateway`)
//! or on-link, resolving the next hop with ARP. A tunnel kind not enabled in
//! [`RealServerConfig::decap`] is left to smoltcp as is (which answers an unknown protocol with
//! ICMP protocol unreachable, as a kernel without the module does); a malformed tunnel packet
//! is dropped and counted ([`RealServerStats::decap_errors`]).

pub mod services;
pub mod tap;

use lvs_arp::{ArpFrame, ArpOp, Host, MacAddr, Scope};
use lvs_fwd::tun::{DecapConfig, TunError, TunKind, decapsulate};
use smoltcp::iface::{Config, Interface, SocketSet};
use smoltcp::phy::{Device, DeviceCapabilities, Medium};
use smoltcp::time::{Duration, Instant};
use smoltcp::wire::{EthernetAddress, HardwareAddress, IpCidr};
use std::collections::VecDeque;
use std::fmt;
use std::net::Ipv4Addr;
use std::str::FromStr;

pub use services::Services;
pub use tap::{RealServerThread, run_on_tap};

/// Ethernet header length (destination, source, EtherType), bytes.
const ETH_HEADER_LEN: usize = 14;
/// EtherType of IPv4.
const ETHERTYPE_IPV4: u16 = 0x0800;
/// EtherType of ARP.
const ETHERTYPE_ARP: u16 = 0x0806;
/// EtherType of IPv6.
const ETHERTYPE_IPV6: u16 = 0x86DD;
/// The largest frame handled: a 1500-byte MTU plus the Ethernet header.
pub const MAX_FRAME_LEN: usize = 1514;
/// ifindex of `lo` in the lvs-arp host model (the kernel's is 1 too).
const LO_IFINDEX: u32 = 1;
/// ifindex of the TAP interface (`eth0`) in the lvs-arp host model.
const ETH_IFINDEX: u32 = 2;
/// Name of the TAP interface in the lvs-arp host model (appears in logged ARP reasons).
const ETH_NAME: &str = "eth0";

/// A tunnel type this real server decapsulates (`--decap`): `ipip`, `gue:PORT` or `gre`, the
/// director's `ipvsadm --tun-type ipip|gue|gre` (`--tun-port PORT` for GUE).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Decap {
    /// IP protocol 4 / 41 (net/ipv4/ipip.c, net/ipv6/sit.c).
    Ipip,
    /// GUE on this UDP port (net/ipv4/fou_core.c; `ip fou add port PORT gue`).
    Gue(u16),
    /// GRE version 0 (net/ipv4/gre_demux.c).
    Gre,
}

/// Why a `--decap` value did not parse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("bad tunnel type {0:?}: expected ipip, gre or gue:PORT (PORT 1..=65535)")]
pub struct DecapParseError(pub String);

impl FromStr for Decap {
    type Err = DecapParseError;

    /// Parses `ipip`, `gre` or `gue:PORT` (case-insensitive keyword, PORT 1..=65535).
    fn from_str(s: &str) -> Result<Decap, DecapParseError> {
        let bad = || DecapParseError(s.to_owned());
        let lower = s.to_ascii_lowercase();
        match lower.as_str() {
            "ipip" => Ok(Decap::Ipip),
            "gre" => Ok(Decap::Gre),
            other => {
                let port = other.strip_prefix("gue:").ok_or_else(bad)?;
                match port.parse::<u16>() {
                    Ok(p) if p != 0 => Ok(Decap::Gue(p)),
                    _ => Err(bad()),
                }
            }
        }
    }
}

impl fmt::Display for Decap {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Decap::Ipip => f.write_str("ipip"),
            Decap::Gue(p) => write!(f, "gue:{p}"),
            Decap::Gre => f.write_str("gre"),
        }
    }
}

/// Configuration of a [`RealServer`]. IPv4 only.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RealServerConfig {
    /// Name served in HTTP bodies (`"<name>\n"`) and logs, e.g. `rs1`.
    pub name: String,
    /// MAC address of the interface (unicast).
    pub mac: [u8; 6],
    /// The RIP.
    pub rip: Ipv4Addr,
    /// Prefix length of the RIP's subnet, 0..=32.
    pub prefix_len: u8,
    /// Default gateway (next hop for clients off the RIP's subnet), if any.
    pub gateway: Option<Ipv4Addr>,
    /// The VIPs carried on `lo`/32: traffic to them is accepted, ARP for them never answered.
    /// At most [`MAX_VIPS`].
    pub vips: Vec<Ipv4Addr>,
    /// Tunnel types decapsulated when addressed to the RIP.
    pub decap: Vec<Decap>,
    /// HTTP responder port (0: none).
    pub http_port: u16,
    /// TCP echo port (0: none).
    pub echo_port: u16,
    /// UDP echo port (0: none).
    pub udp_echo_port: u16,
    /// Number of TCP sockets listening on the HTTP port (concurrent connections), at least 1.
    pub http_sockets: usize,
    /// Number of TCP sockets listening on the echo port, at least 1.
    pub echo_sockets: usize,
}

/// How many VIPs fit: smoltcp is built with 8 interface addresses (`iface-max-addr-count-8`),
/// one is the RIP.
pub const MAX_VIPS: usize = 7;

impl RealServerConfig {
    /// A configuration with the defaults of the `lvs-realserver` command line: no gateway, no
    /// VIP, no tunnel, HTTP on 80, TCP and UDP echo on 7, 16 HTTP and 4 echo sockets.
    pub fn new(name: &str, mac: [u8; 6], rip: Ipv4Addr, prefix_len: u8) -> RealServerConfig {
        RealServerConfig {
            name: name.to_owned(),
            mac,
            rip,
            prefix_len,
            gateway: None,
            vips: Vec::new(),
            decap: Vec::new(),
            http_port: 80,
            echo_port: 7,
            udp_echo_port: 7,
            http_sockets: 16,
            echo_sockets: 4,
        }
    }

    /// The `gue:PORT` of [`RealServerConfig::decap`], if any (the first one).
    fn gue_port(&self) -> Option<u16> {
        self.decap.iter().find_map(|d| match d {
            Decap::Gue(p) => Some(*p),
            _ => None,
        })
    }
}

/// Errors of [`RealServer::new`] and the TAP runner.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RealServerError {
    /// The configuration is unusable (multicast MAC, prefix over 32, too many VIPs, VIP equal
    /// to the RIP, ...).
    #[error("bad configuration: {0}")]
    Config(String),
    /// The lvs-arp host model refused an address.
    #[error("arp host model: {0}")]
    Host(#[from] lvs_arp::HostError),
    /// The TAP device failed (open, read, write: e.g. its link went down or was deleted).
    #[error("TAP device: {0}")]
    Tap(String),
}

/// Counters of a [`RealServer`], from its creation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct RealServerStats {
    /// Frames received ([`RealServer::receive`] calls).
    pub frames_in: u64,
    /// Frames handed out by [`RealServer::transmit`].
    pub frames_out: u64,
    /// Frames shorter than an Ethernet header or longer than [`MAX_FRAME_LEN`], dropped.
    pub bad_frames: u64,
    /// ARP requests answered (lvs-arp said reply).
    pub arp_replies: u64,
    /// ARP requests not answered (lvs-arp said no reply, e.g. for a VIP under arp_ignore=1).
    pub arp_ignored: u64,
    /// ARP frames lvs-arp could not parse, dropped.
    pub arp_malformed: u64,
    /// smoltcp ARP requests whose sender IP was rewritten to lvs-arp's `arp_announce` choice.
    pub arp_source_rewritten: u64,
    /// Tunnel packets decapsulated: IPIP.
    pub decap_ipip: u64,
    /// Tunnel packets decapsulated: GUE.
    pub decap_gue: u64,
    /// Tunnel packets decapsulated: GRE.
    pub decap_gre: u64,
    /// Malformed tunnel packets dropped (bad checksum, length, version, ECN drop, ...).
    pub decap_errors: u64,
    /// HTTP responses sent.
    pub http_responses: u64,
    /// Bytes echoed by the TCP echo.
    pub tcp_echo_bytes: u64,
    /// Datagrams echoed by the UDP echo.
    pub udp_echo_datagrams: u64,
}

/// An in-memory Ethernet link end for smoltcp ([`smoltcp::phy::Device`], medium Ethernet, MTU
/// 1500): frames pushed with [`push_rx`](Self::push_rx) are what smoltcp receives, frames
/// smoltcp sends are taken with [`pop_tx`](Self::pop_tx). The [`RealServer`] uses one between
/// its ARP/tunnel front end and smoltcp; a virtual LAN (tests, the demo without root) can use
/// it for smoltcp clients. Buffers are recycled ([`recycle`](Self::recycle)), so the steady
/// state allocates nothing.
#[derive(Debug, Default)]
pub struct QueueDevice {
    rx: VecDeque<Vec<u8>>,
    tx: VecDeque<Vec<u8>>,
    spare: Vec<Vec<u8>>,
}

impl QueueDevice {
    /// An empty link end.
    pub fn new() -> QueueDevice {
        QueueDevice::default()
    }

    fn buffer(&mut self) -> Vec<u8> {
        let mut b = self
            .spare
            .pop()
            .unwrap_or_else(|| Vec::with_capacity(MAX_FRAME_LEN));
        b.clear();
        b
    }

    /// Queues a copy of `frame` (Ethernet, destination MAC first) for smoltcp to receive.
    pub fn push_rx(&mut self, frame: &[u8]) {
        let mut b = self.buffer();
        b.extend_from_slice(frame);
        self.rx.push_back(b);
    }

    /// The oldest frame smoltcp sent, if any.
    pub fn pop_tx(&mut self) -> Option<Vec<u8>> {
        self.tx.pop_front()
    }

    /// Gives a buffer back to the pool (at most 64 are kept).
    pub fn recycle(&mut self, frame: Vec<u8>) {
        if self.spare.len() < 64 {
            self.spare.push(frame);
        }
    }
}

/// Receive token of [`QueueDevice`].
#[derive(Debug)]
pub struct QueueRx<'a> {
    frame: Vec<u8>,
    spare: &'a mut Vec<Vec<u8>>,
}

/// Transmit token of [`QueueDevice`].
#[derive(Debug)]
pub struct QueueTx<'a> {
    tx: &'a mut VecDeque<Vec<u8>>,
    spare: Option<&'a mut Vec<Vec<u8>>>,
}

impl smoltcp::phy::RxToken for QueueRx<'_> {
    fn consume<R, F>(self, f: F) -> R
    where
        F: FnOnce(&[u8]) -> R,
    {
        let r = f(&self.frame);
        self.spare.push(self.frame);
        r
    }
}

impl smoltcp::phy::TxToken for QueueTx<'_> {
    fn consume<R, F>(self, len: usize, f: F) -> R
    where
        F: FnOnce(&mut [u8]) -> R,
    {
        let mut b = self
            .spare
            .and_then(Vec::pop)
            .unwrap_or_else(|| Vec::with_capacity(MAX_FRAME_LEN));
        b.clear();
        b.resize(len, 0);
        let r = f(&mut b);
        self.tx.push_back(b);
        r
    }
}

impl Device for QueueDevice {
    type RxToken<'a> = QueueRx<'a>;
    type TxToken<'a> = QueueTx<'a>;

    fn receive(&mut self, _now: Instant) -> Option<(QueueRx<'_>, QueueTx<'_>)> {
        let frame = self.rx.pop_front()?;
        Some((
            QueueRx {
                frame,
                spare: &mut self.spare,
            },
            // The paired transmit token (ARP replies, ICMP errors) allocates its buffer: the
            // pool is lent to the receive token.
            QueueTx {
                tx: &mut self.tx,
                spare: None,
            },
        ))
    }

    fn transmit(&mut self, _now: Instant) -> Option<QueueTx<'_>> {
        Some(QueueTx {
            tx: &mut self.tx,
            spare: Some(&mut self.spare),
        })
    }

    fn capabilities(&self) -> DeviceCapabilities {
        let mut caps = DeviceCapabilities::default();
        caps.medium = Medium::Ethernet;
        caps.max_transmission_unit = MAX_FRAME_LEN;
        caps
    }
}

/// The real server: smoltcp interface and sockets, the lvs-arp host model, the services, the
/// frames waiting to be transmitted. Single-threaded; see the module docs for the data flow.
pub struct RealServer {
    cfg: RealServerConfig,
    iface: Interface,
    sockets: SocketSet<'static>,
    dev: QueueDevice,
    host: Host,
    decap: DecapConfig,
    services: Services,
    out: VecDeque<Vec<u8>>,
    stats: RealServerStats,
}

impl fmt::Debug for RealServer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RealServer")
            .field("cfg", &self.cfg)
            .field("stats", &self.stats)
            .finish_non_exhaustive()
    }
}

fn be16_at(frame: &[u8], at: usize) -> Option<u16> {
    let b = frame.get(at..at.checked_add(2)?)?;
    Some(u16::from_be_bytes([*b.first()?, *b.get(1)?]))
}

impl RealServer {
    /// Builds the real server at time `now`: the smoltcp interface (MAC, RIP/prefix first,
    /// then each VIP /32, default route via the gateway), the lvs-arp host model (`lo` with the
    /// VIPs /32, `eth0` with the RIP, `all.arp_ignore=1`, `all.arp_announce=2`) and the
    /// listening sockets.
    ///
    /// Errors: [`RealServerError::Config`] for a non-unicast or zero MAC, a prefix over 32, more
    /// than [`MAX_VIPS`] VIPs, a VIP equal to the RIP, zero socket counts;
    /// [`RealServerError::Host`] if lvs-arp refuses an address.
    pub fn new(cfg: RealServerConfig, now: Instant) -> Result<RealServer, RealServerError> {
        let mac = EthernetAddress(cfg.mac);
        if !mac.is_unicast() {
            return Err(RealServerError::Config(format!(
                "MAC {mac} is not a unicast address"
            )));
        }
        if cfg.prefix_len > 32 {
            return Err(RealServerError::Config(format!(
                "prefix length {} is over 32",
                cfg.prefix_len
            )));
        }
        if cfg.vips.len() > MAX_VIPS {
            return Err(RealServerError::Config(format!(
                "{} VIPs given, at most {MAX_VIPS} fit",
                cfg.vips.len()
            )));
        }
        if cfg.vips.contains(&cfg.rip) {
            return Err(RealServerError::Config(format!(
                "VIP {} is the RIP",
                cfg.rip
            )));
        }
        if cfg.http_sockets == 0 || cfg.echo_sockets == 0 {
            return Err(RealServerError::Config(
                "socket counts must be at least 1".into(),
            ));
        }

        let mut host = Host::new();
        host.add_loopback("lo", LO_IFINDEX)?;
        host.add_interface(ETH_NAME, ETH_IFINDEX, MacAddr(cfg.mac))?;
        host.add_addr(ETH_IFINDEX, cfg.rip, cfg.prefix_len, Scope::Global)?;
        for vip in &cfg.vips {
            host.add_addr(LO_IFINDEX, *vip, 32, Scope::Global)?;
        }
        host.sysctl("net.ipv4.conf.all.arp_ignore", 1)?;
        host.sysctl("net.ipv4.conf.all.arp_announce", 2)?;

        let mut dev = QueueDevice::default();
        let mut config = Config::new(HardwareAddress::Ethernet(mac));
        config.random_seed = seed(&cfg, now);
        let mut iface = Interface::new(config, &mut dev, now);
        let mut overflow = false;
        iface.update_ip_addrs(|addrs| {
            // RIP first: smoltcp picks the first IPv4 address as the fallback ARP source.
            overflow |= addrs
                .push(IpCidr::new(cfg.rip.into(), cfg.prefix_len))
                .is_err();
            for vip in &cfg.vips {
                overflow |= addrs.push(IpCidr::new((*vip).into(), 32)).is_err();
            }
        });
        if overflow {
            return Err(RealServerError::Config("too many addresses".into()));
        }
        if let Some(gw) = cfg.gateway {
            iface
                .routes_mut()
                .add_default_ipv4_route(gw)
                .map_err(|_| RealServerError::Config("route table full".into()))?;
        }
        let mut sockets = SocketSet::new(Vec::new());
        let services = Services::new(&cfg, &mut sockets);
        let decap = DecapConfig {
            gue_port: cfg.gue_port(),
        };
        Ok(RealServer {
            cfg,
            iface,
            sockets,
            dev,
            host,
            decap,
            services,
            out: VecDeque::new(),
            stats: RealServerStats::default(),
        })
    }

    /// The configuration.
    pub fn config(&self) -> &RealServerConfig {
        &self.cfg
    }

    /// The counters.
    pub fn stats(&self) -> RealServerStats {
        let mut s = self.stats;
        self.services.add_stats(&mut s);
        s
    }

    /// The lvs-arp host model (for inspecting its decisions, e.g. `arp_input` on a frame).
    pub fn arp_host(&self) -> &Host {
        &self.host
    }

    /// Takes one received Ethernet frame (destination MAC first, no FCS): ARP is decided here
    /// (a reply may be queued for [`transmit`](Self::transmit) at once), tunnel packets are
    /// decapsulated, the rest is queued for smoltcp. Call [`poll`](Self::poll) afterwards.
    pub fn receive(&mut self, frame: &[u8]) {
        self.stats.frames_in += 1;
        let Some(ethertype) = be16_at(frame, 12) else {
            self.stats.bad_frames += 1;
            return;
        };
        if frame.len() > MAX_FRAME_LEN {
            self.stats.bad_frames += 1;
            return;
        }
        match ethertype {
            ETHERTYPE_ARP => self.receive_arp(frame),
            ETHERTYPE_IPV4 => self.receive_ipv4(frame),
            _ => self.dev.push_rx(frame),
        }
    }

    fn receive_arp(&mut self, frame: &[u8]) {
        let parsed = match ArpFrame::parse(frame) {
            Ok(p) => p,
            Err(e) => {
                self.stats.arp_malformed += 1;
                tracing::debug!(rs = %self.cfg.name, "arp: malformed frame dropped: {e}");
                return;
            }
        };
        let pass_to_smoltcp = match parsed.op {
            ArpOp::Request => {
                let input = self.host.arp_input(ETH_IFINDEX, &parsed);
                match input.reply() {
                    Some(reply) => {
                        self.stats.arp_replies += 1;
                        tracing::debug!(
                            rs = %self.cfg.name,
                            "arp: who-has {} tell {}: reply ({})",
                            parsed.target_ip,
                            parsed.sender_ip,
                            input.reason()
                        );
                        let mut b = self.dev.buffer();
                        b.extend_from_slice(&reply.to_bytes());
                        self.out.push_back(b);
                        true
                    }
                    None => {
                        self.stats.arp_ignored += 1;
                        tracing::debug!(
                            rs = %self.cfg.name,
                            "arp: who-has {} tell {}: no reply ({})",
                            parsed.target_ip,
                            parsed.sender_ip,
                            input.reason()
                        );
                        false
                    }
                }
            }
            // Replies (to our own requests) feed smoltcp's neighbour cache.
            _ => true,
        };
        if pass_to_smoltcp {
            self.dev.push_rx(frame);
        }
    }

    fn receive_ipv4(&mut self, frame: &[u8]) {
        let mut b = self.dev.buffer();
        b.extend_from_slice(frame);
        if self.is_tunnel_candidate(frame) {
            let res = match b.get_mut(ETH_HEADER_LEN..) {
                Some(ip) => decapsulate(ip, &self.decap),
                None => Err(TunError::NotTunnel(0)),
            };
            match res {
                Ok(d) => {
                    let enabled = match d.kind {
                        TunKind::Ipip => self.cfg.decap.contains(&Decap::Ipip),
                        TunKind::Gre => self.cfg.decap.contains(&Decap::Gre),
                        TunKind::Gue => true,
                    };
                    if enabled {
                        match d.kind {
                            TunKind::Ipip => self.stats.decap_ipip += 1,
                            TunKind::Gue => self.stats.decap_gue += 1,
                            TunKind::Gre => self.stats.decap_gre += 1,
                        }
                        if d.ecn_alarm {
                            tracing::debug!(rs = %self.cfg.name, "tunnel: unexpected ECN combination");
                        }
                        let start = ETH_HEADER_LEN + d.inner.start;
                        let end = ETH_HEADER_LEN + d.inner.end;
                        b.copy_within(start..end, ETH_HEADER_LEN);
                        b.truncate(ETH_HEADER_LEN + d.inner.len());
                        let et = if d.inner_v6 {
                            ETHERTYPE_IPV6
                        } else {
                            ETHERTYPE_IPV4
                        };
                        if let Some(slot) = b.get_mut(12..14) {
                            slot.copy_from_slice(&et.to_be_bytes());
                        }
                    } else {
                        // Not enabled: the original frame goes to smoltcp, untouched
                        // (decapsulate changes nothing before it succeeds, but an ECN rewrite
                        // may have happened: restore from the source).
                        b.clear();
                        b.extend_from_slice(frame);
                    }
                }
                Err(TunError::NotTunnel(_)) => {}
                Err(e) => {
                    self.stats.decap_errors += 1;
                    tracing::debug!(rs = %self.cfg.name, "tunnel: dropped: {e}");
                    self.dev.spare.push(b);
                    return;
                }
            }
        }
        self.dev.rx.push_back(b);
    }

    /// An IPv4 packet to the RIP with a protocol that may carry a tunnel.
    fn is_tunnel_candidate(&self, frame: &[u8]) -> bool {
        let proto = frame.get(ETH_HEADER_LEN + 9).copied();
        let dst = frame
            .get(ETH_HEADER_LEN + 16..ETH_HEADER_LEN + 20)
            .and_then(|d| <[u8; 4]>::try_from(d).ok())
            .map(Ipv4Addr::from);
        dst == Some(self.cfg.rip)
            && match proto {
                Some(4 | 41 | 47) => true,
                Some(17) => self.decap.gue_port.is_some(),
                _ => false,
            }
    }

    /// Runs smoltcp and the services at time `now`: processes the queued frames, answers,
    /// retransmits, and moves smoltcp's output (ARP filtered, see the module docs) to the
    /// transmit queue.
    pub fn poll(&mut self, now: Instant) {
        self.iface.poll(now, &mut self.dev, &mut self.sockets);
        self.services.serve(&self.cfg, &mut self.sockets);
        self.iface.poll(now, &mut self.dev, &mut self.sockets);
        while let Some(mut f) = self.dev.tx.pop_front() {
            if self.filter_outgoing(&mut f) {
                self.out.push_back(f);
            } else {
                self.dev.spare.push(f);
            }
        }
    }

    /// Applies the ARP rules to a frame smoltcp wants to send; false drops it.
    fn filter_outgoing(&mut self, frame: &mut [u8]) -> bool {
        if be16_at(frame, 12) != Some(ETHERTYPE_ARP) {
            return true;
        }
        let Ok(arp) = ArpFrame::parse(frame) else {
            return false;
        };
        match arp.op {
            ArpOp::Request => {
                let Some(src) =
                    self.host
                        .arp_source(ETH_IFINDEX, arp.target_ip, Some(arp.sender_ip))
                else {
                    return false;
                };
                if src.ip != arp.sender_ip {
                    self.stats.arp_source_rewritten += 1;
                    tracing::debug!(
                        rs = %self.cfg.name,
                        "arp: request for {}: sender {} rewritten ({src})",
                        arp.target_ip,
                        arp.sender_ip
                    );
                    let fixed = ArpFrame {
                        sender_ip: src.ip,
                        ..arp
                    };
                    if fixed.emit(frame).is_err() {
                        return false;
                    }
                }
                true
            }
            // Replies are lvs-arp's alone (queued in `receive_arp`).
            _ => false,
        }
    }

    /// The next frame to transmit, if any (give it back with [`recycle`](Self::recycle) to
    /// reuse the buffer).
    pub fn transmit(&mut self) -> Option<Vec<u8>> {
        let f = self.out.pop_front()?;
        self.stats.frames_out += 1;
        Some(f)
    }

    /// Returns a transmitted frame's buffer to the pool.
    pub fn recycle(&mut self, frame: Vec<u8>) {
        self.dev.recycle(frame);
    }

    /// How long the caller may wait for frames before calling [`poll`](Self::poll) again
    /// (smoltcp's timers: retransmissions, ARP retries, delayed ACKs); `None`: no timer.
    pub fn poll_delay(&mut self, now: Instant) -> Option<Duration> {
        if !self.out.is_empty() || !self.dev.rx.is_empty() {
            return Some(Duration::ZERO);
        }
        self.iface.poll_delay(now, &self.sockets)
    }
}

/// A seed for smoltcp's TCP initial sequence numbers and ephemeral ports: the MAC, the RIP and
/// the time, mixed (uniqueness per server and start, not secrecy).
fn seed(cfg: &RealServerConfig, now: Instant) -> u64 {
    let mut x = u64::from(u32::from(cfg.rip)) << 16;
    for b in cfg.mac {
        x = x.rotate_left(8) ^ u64::from(b);
    }
    x ^= now.total_micros() as u64;
    // splitmix64 finaliser
    x = (x ^ (x >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    x ^ (x >> 31)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decap_parses_the_three_kinds() {
        assert_eq!("ipip".parse::<Decap>().unwrap(), Decap::Ipip);
        assert_eq!("GRE".parse::<Decap>().unwrap(), Decap::Gre);
        assert_eq!("gue:6080".parse::<Decap>().unwrap(), Decap::Gue(6080));
        assert!("gue:0".parse::<Decap>().is_err());
        assert!("gue:70000".parse::<Decap>().is_err());
        assert!("vxlan".parse::<Decap>().is_err());
        assert_eq!(Decap::Gue(5555).to_string(), "gue:5555");
    }

    #[test]
    fn new_rejects_multicast_mac_and_vip_equal_rip() {
        let rip = Ipv4Addr::new(10, 0, 0, 2);
        let now = Instant::from_millis(0);
        let bad_mac = RealServerConfig::new("rs", [1, 0, 0, 0, 0, 1], rip, 24);
        assert!(matches!(
            RealServer::new(bad_mac, now),
            Err(RealServerError::Config(_))
        ));
        let mut same = RealServerConfig::new("rs", [2, 0, 0, 0, 0, 1], rip, 24);
        same.vips.push(rip);
        assert!(matches!(
            RealServer::new(same, now),
            Err(RealServerError::Config(_))
        ));
        let mut many = RealServerConfig::new("rs", [2, 0, 0, 0, 0, 1], rip, 24);
        many.vips = (1..=8).map(|i| Ipv4Addr::new(192, 0, 2, i)).collect();
        assert!(matches!(
            RealServer::new(many, now),
            Err(RealServerError::Config(_))
        ));
    }

    /// arp_announce=2 (Documentation/networking/ip-sysctl.rst: "Always use the best local
    /// address for this target... ignore the source address in the IP packet"): an ARP request
    /// leaving with the VIP as sender IP is rewritten to the RIP, the address of the outgoing
    /// interface in the target's subnet; one with the RIP already is left alone.
    #[test]
    fn outgoing_arp_request_never_carries_the_vip() {
        let rip = Ipv4Addr::new(10, 0, 0, 2);
        let vip = Ipv4Addr::new(10, 0, 0, 100);
        let gw = Ipv4Addr::new(10, 0, 0, 1);
        let mut cfg = RealServerConfig::new("rs", [2, 0, 0, 0, 0, 1], rip, 24);
        cfg.vips.push(vip);
        let mut rs = RealServer::new(cfg, Instant::from_millis(0)).unwrap();
        let mac = MacAddr([2, 0, 0, 0, 0, 1]);
        let mut bad = ArpFrame::request(mac, vip, gw, None).to_bytes();
        assert!(rs.filter_outgoing(&mut bad));
        let fixed = ArpFrame::parse(&bad).unwrap();
        assert_eq!(fixed.sender_ip, rip);
        assert_eq!(fixed.target_ip, gw);
        assert_eq!(fixed.sender_mac, mac);
        assert_eq!(rs.stats().arp_source_rewritten, 1);

        let mut good = ArpFrame::request(mac, rip, gw, None).to_bytes();
        let before = good;
        assert!(rs.filter_outgoing(&mut good));
        assert_eq!(good, before);
        assert_eq!(rs.stats().arp_source_rewritten, 1);

        // smoltcp's own ARP replies never leave (lvs-arp's are queued on receive).
        let mut reply = ArpFrame::request(MacAddr([2, 0, 0, 0, 0, 9]), gw, vip, None)
            .reply_to(mac)
            .to_bytes();
        assert!(!rs.filter_outgoing(&mut reply));
    }

    #[test]
    fn runt_frames_are_counted_not_processed() {
        let cfg = RealServerConfig::new("rs", [2, 0, 0, 0, 0, 1], Ipv4Addr::new(10, 0, 0, 2), 24);
        let mut rs = RealServer::new(cfg, Instant::from_millis(0)).unwrap();
        rs.receive(&[0u8; 5]);
        rs.receive(&[]);
        rs.poll(Instant::from_millis(1));
        assert_eq!(rs.stats().bad_frames, 2);
        assert!(rs.transmit().is_none());
    }
}
