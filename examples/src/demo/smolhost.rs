//! [`SmolHost`]: a smoltcp host (an HTTP client or an HTTP real server) that exchanges whole
//! Ethernet frames through queues, so that the same host runs on the virtual LAN's in-memory
//! links or on a TAP device.
//!
//! A real server can carry the VIP the way a Linux DR / TUN real server does (VIP on lo/32,
//! `arp_ignore=1`, `arp_announce=2`): smoltcp answers ARP for every address it has, so the
//! received ARP requests first go through [`lvs_arp::Host::arp_input`] with the Linux real
//! server's configuration and only those the kernel would answer reach smoltcp. A TUN real
//! server also decapsulates IPIP / GUE / GRE ([`lvs_fwd::tun::decapsulate`], what
//! net/ipv4/ipip.c, fou_core.c and gre_demux.c do) before smoltcp sees the inner packet.

use std::collections::{HashMap, VecDeque};
use std::net::Ipv4Addr;

use lvs_arp::{ArpFrame, ArpOp, Host, MacAddr, Scope};
use lvs_fwd::tun::{DecapConfig, decapsulate};
use smoltcp::iface::{Config, Interface, SocketHandle, SocketSet};
use smoltcp::phy::{Device, DeviceCapabilities, Medium, RxToken, TxToken};
use smoltcp::socket::tcp;
use smoltcp::time::{Duration as SmolDuration, Instant as SmolInstant};
use smoltcp::wire::{EthernetAddress, HardwareAddress, IpAddress, IpCidr, IpEndpoint};

use super::{ClientReport, HTTP_REQUEST, VIP, VPORT, http_response, parse_response};

/// TCP socket buffer size (bytes) of the demo's sockets.
const SOCK_BUF: usize = 4096;
/// Listening sockets per real server (concurrent connections it can accept).
const LISTEN_POOL: usize = 16;
/// A request not answered within this many milliseconds (simulated or real) fails.
const REQUEST_TIMEOUT_MS: i64 = 3000;

/// The in-memory device: received frames in, transmitted frames out.
#[derive(Debug, Default)]
struct QueueDevice {
    rx: VecDeque<Vec<u8>>,
    tx: VecDeque<Vec<u8>>,
}

struct QRx(Vec<u8>);
struct QTx<'a>(&'a mut VecDeque<Vec<u8>>);

impl RxToken for QRx {
    fn consume<R, F: FnOnce(&[u8]) -> R>(self, f: F) -> R {
        f(&self.0)
    }
}

impl TxToken for QTx<'_> {
    fn consume<R, F: FnOnce(&mut [u8]) -> R>(self, len: usize, f: F) -> R {
        let mut buf = vec![0; len];
        let r = f(&mut buf);
        self.0.push_back(buf);
        r
    }
}

impl Device for QueueDevice {
    type RxToken<'a> = QRx;
    type TxToken<'a> = QTx<'a>;

    fn receive(&mut self, _t: SmolInstant) -> Option<(QRx, QTx<'_>)> {
        let f = self.rx.pop_front()?;
        Some((QRx(f), QTx(&mut self.tx)))
    }

    fn transmit(&mut self, _t: SmolInstant) -> Option<QTx<'_>> {
        Some(QTx(&mut self.tx))
    }

    fn capabilities(&self) -> DeviceCapabilities {
        let mut c = DeviceCapabilities::default();
        c.medium = Medium::Ethernet;
        c.max_transmission_unit = 1514;
        c
    }
}

/// How a real server receives the VIP's traffic.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VipMode {
    /// No VIP (NAT, FULLNAT: the director rewrites the destination to the RIP).
    None,
    /// VIP on lo/32 with `arp_ignore=1` / `arp_announce=2` (DR).
    Lo,
    /// As [`VipMode::Lo`], and tunnelled packets to the RIP are decapsulated (TUN).
    LoTunnel,
}

/// One client request in flight.
#[derive(Debug)]
struct Pending {
    handle: SocketHandle,
    client: Ipv4Addr,
    /// A warm-up request (not counted in the report).
    warmup: bool,
    started: SmolInstant,
    sent: bool,
    resp: Vec<u8>,
}

/// The HTTP client's state.
#[derive(Debug)]
struct ClientState {
    total: usize,
    next: usize,
    concurrency: usize,
    port_next: u16,
    clients: Vec<Ipv4Addr>,
    /// Warm-up requests still to send: (client address, real server's RIP).
    warmup: VecDeque<(Ipv4Addr, Ipv4Addr)>,
    inflight: Vec<Pending>,
    closing: Vec<(SocketHandle, SmolInstant)>,
    report: ClientReport,
}

/// A real server's state: its name and its listening sockets' request bytes.
#[derive(Debug)]
struct ServerState {
    name: String,
    conns: HashMap<SocketHandle, (Vec<u8>, bool)>,
    served: u64,
}

#[derive(Debug)]
enum Role {
    Client(Box<ClientState>),
    Server(ServerState),
}

/// A smoltcp host on one Ethernet port. See the module docs.
pub struct SmolHost {
    iface: Interface,
    dev: QueueDevice,
    sockets: SocketSet<'static>,
    arp_policy: Option<Host>,
    decap: Option<DecapConfig>,
    role: Role,
    /// ARP requests for the VIP the [`lvs_arp`] policy kept from smoltcp (`arp_ignore=1`).
    pub arp_ignored: u64,
    /// Tunnelled packets decapsulated.
    pub decapsulated: u64,
}

impl std::fmt::Debug for SmolHost {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SmolHost")
            .field("role", &self.role)
            .finish_non_exhaustive()
    }
}

fn new_iface(mac: [u8; 6], dev: &mut QueueDevice, now: SmolInstant) -> Interface {
    let cfg = Config::new(HardwareAddress::Ethernet(EthernetAddress(mac)));
    Interface::new(cfg, dev, now)
}

fn tcp_socket() -> tcp::Socket<'static> {
    tcp::Socket::new(
        tcp::SocketBuffer::new(vec![0; SOCK_BUF]),
        tcp::SocketBuffer::new(vec![0; SOCK_BUF]),
    )
}

impl SmolHost {
    /// An HTTP client with addresses `clients` (/24 each) sending `total` requests to
    /// VIP:80, `concurrency` at a time, the client address taken in turn. `gateway`: its
    /// default route, if any.
    pub fn client(
        mac: [u8; 6],
        clients: &[Ipv4Addr],
        total: usize,
        concurrency: usize,
        now: SmolInstant,
    ) -> SmolHost {
        let mut dev = QueueDevice::default();
        let mut iface = new_iface(mac, &mut dev, now);
        iface.update_ip_addrs(|a| {
            for c in clients {
                let _ = a.push(IpCidr::new(IpAddress::Ipv4(*c), 24));
            }
        });
        SmolHost {
            iface,
            dev,
            sockets: SocketSet::new(Vec::new()),
            arp_policy: None,
            decap: None,
            role: Role::Client(Box::new(ClientState {
                total,
                next: 0,
                concurrency: concurrency.max(1),
                port_next: 40000,
                clients: clients.to_vec(),
                warmup: VecDeque::new(),
                inflight: Vec::new(),
                closing: Vec::new(),
                report: ClientReport {
                    requests: total as u64,
                    ..ClientReport::default()
                },
            })),
            arp_ignored: 0,
            decapsulated: 0,
        }
    }

    /// An HTTP real server `name` with RIP `rip`/24, the VIP per `vip`, an optional default
    /// `gateway` (NAT: the DIP), serving port 80 on every address it has.
    ///
    /// # Errors
    /// A [`lvs_arp::HostError`] if the ARP model refuses the addresses.
    pub fn server(
        name: &str,
        mac: [u8; 6],
        rip: Ipv4Addr,
        vip: VipMode,
        gateway: Option<Ipv4Addr>,
        now: SmolInstant,
    ) -> Result<SmolHost, lvs_arp::HostError> {
        let mut dev = QueueDevice::default();
        let mut iface = new_iface(mac, &mut dev, now);
        iface.update_ip_addrs(|a| {
            let _ = a.push(IpCidr::new(IpAddress::Ipv4(rip), 24));
            if vip != VipMode::None {
                let _ = a.push(IpCidr::new(IpAddress::Ipv4(VIP), 32));
            }
        });
        if let Some(gw) = gateway {
            let _ = iface.routes_mut().add_default_ipv4_route(gw);
        }
        let arp_policy = if vip == VipMode::None {
            None
        } else {
            // The Linux DR / TUN real server of the seeds: `ip addr add VIP/32 dev lo`,
            // `net.ipv4.conf.all.arp_ignore=1`, `net.ipv4.conf.all.arp_announce=2`.
            let mut h = Host::new();
            h.add_loopback("lo", 1)?;
            h.add_interface("eth0", 2, MacAddr(mac))?;
            h.add_addr(2, rip, 24, Scope::Global)?;
            h.add_addr(1, VIP, 32, Scope::Global)?;
            h.sysctl("net.ipv4.conf.all.arp_ignore", 1)?;
            h.sysctl("net.ipv4.conf.all.arp_announce", 2)?;
            Some(h)
        };
        let decap = (vip == VipMode::LoTunnel).then_some(DecapConfig {
            gue_port: Some(super::GUE_PORT),
        });
        let mut sockets = SocketSet::new(Vec::new());
        let mut conns = HashMap::new();
        for _ in 0..LISTEN_POOL {
            let mut s = tcp_socket();
            let _ = s.listen(VPORT);
            conns.insert(sockets.add(s), (Vec::new(), false));
        }
        Ok(SmolHost {
            iface,
            dev,
            sockets,
            arp_policy,
            decap,
            role: Role::Server(ServerState {
                name: name.to_owned(),
                conns,
                served: 0,
            }),
            arp_ignored: 0,
            decapsulated: 0,
        })
    }

    /// Hand a received Ethernet frame to the host (through the ARP policy and the tunnel
    /// decapsulation, when configured).
    pub fn deliver(&mut self, frame: &[u8]) {
        let ethertype = frame.get(12..14);
        if ethertype == Some(&[0x08, 0x06]) {
            if let (Some(h), Ok(arp)) = (&self.arp_policy, ArpFrame::parse(frame)) {
                if arp.op == ArpOp::Request && h.arp_input(2, &arp).reply().is_none() {
                    if arp.target_ip == VIP {
                        self.arp_ignored += 1;
                    }
                    return;
                }
            }
        }
        if ethertype == Some(&[0x08, 0x00]) {
            if let Some(cfg) = &self.decap {
                let mut buf = frame.to_vec();
                if let Some(ip) = buf.get_mut(14..) {
                    if let Ok(d) = decapsulate(ip, cfg) {
                        if !d.inner_v6 {
                            let mut out = frame.get(..14).unwrap_or(&[]).to_vec();
                            out.extend_from_slice(ip.get(d.inner.clone()).unwrap_or(&[]));
                            self.decapsulated += 1;
                            self.dev.rx.push_back(out);
                            return;
                        }
                    }
                }
            }
        }
        self.dev.rx.push_back(frame.to_vec());
    }

    /// The next frame the host sends, if any.
    pub fn poll_transmit(&mut self) -> Option<Vec<u8>> {
        self.dev.tx.pop_front()
    }

    /// Run the stack and the application at `now` (milliseconds since the start).
    pub fn poll(&mut self, now: SmolInstant) {
        let _ = self.iface.poll(now, &mut self.dev, &mut self.sockets);
        match &mut self.role {
            Role::Client(c) => client_step(c, &mut self.iface, &mut self.sockets, now),
            Role::Server(s) => server_step(s, &mut self.sockets),
        }
        let _ = self.iface.poll(now, &mut self.dev, &mut self.sockets);
    }

    /// When [`SmolHost::poll`] is next needed (smoltcp's `poll_delay`), if ever.
    pub fn poll_delay(&mut self, now: SmolInstant) -> Option<SmolDuration> {
        self.iface.poll_delay(now, &self.sockets)
    }

    /// A client's report so far (`None` for a real server).
    pub fn report(&self) -> Option<&ClientReport> {
        match &self.role {
            Role::Client(c) => Some(&c.report),
            Role::Server(_) => None,
        }
    }

    /// Before the measured requests, send one uncounted request from every client address
    /// to every RIP in `rips` directly (on the client subnet: DR, TUN). The real servers
    /// learn the clients' MACs from it: smoltcp drops a reply to an unresolved neighbour and
    /// retransmits only after its RTO, which would otherwise stall the first connections a
    /// second and skew least-connection scheduling.
    pub fn warm_up(&mut self, rips: &[Ipv4Addr]) {
        if let Role::Client(c) = &mut self.role {
            for &rip in rips {
                for &client in &c.clients {
                    c.warmup.push_back((client, rip));
                }
            }
        }
    }

    /// A client is still sending or waiting for warm-up requests.
    pub fn warming(&self) -> bool {
        match &self.role {
            Role::Client(c) => !c.warmup.is_empty() || c.inflight.iter().any(|p| p.warmup),
            Role::Server(_) => false,
        }
    }

    /// A client has no request left to send or wait for.
    pub fn finished(&self) -> bool {
        match &self.role {
            Role::Client(c) => c.next >= c.total && c.inflight.is_empty(),
            Role::Server(_) => true,
        }
    }

    /// A real server's count of responses sent.
    pub fn served(&self) -> u64 {
        match &self.role {
            Role::Server(s) => s.served,
            Role::Client(_) => 0,
        }
    }
}

fn client_step(
    c: &mut ClientState,
    iface: &mut Interface,
    sockets: &mut SocketSet<'static>,
    now: SmolInstant,
) {
    loop {
        let warming = !c.warmup.is_empty() || c.inflight.iter().any(|p| p.warmup);
        if c.inflight.len() >= c.concurrency || (!warming && c.next >= c.total) {
            break;
        }
        let (client, target, warmup) = match c.warmup.pop_front() {
            Some((client, rip)) => (client, rip, true),
            None if warming => break,
            None => {
                let i = c.next % c.clients.len().max(1);
                c.next += 1;
                let client = c.clients.get(i).copied().unwrap_or(Ipv4Addr::UNSPECIFIED);
                (client, VIP, false)
            }
        };
        c.port_next = if c.port_next >= 60999 {
            40000
        } else {
            c.port_next + 1
        };
        let mut s = tcp_socket();
        let remote = IpEndpoint::new(IpAddress::Ipv4(target), VPORT);
        let local = IpEndpoint::new(IpAddress::Ipv4(client), c.port_next);
        if let Err(e) = s.connect(iface.context(), remote, local) {
            c.report.failure(format!("connect from {client}: {e}"));
            continue;
        }
        c.inflight.push(Pending {
            handle: sockets.add(s),
            client,
            warmup,
            started: now,
            sent: false,
            resp: Vec::new(),
        });
    }
    let mut i = 0;
    while let Some(p) = c.inflight.get_mut(i) {
        let s = sockets.get_mut::<tcp::Socket>(p.handle);
        if !p.sent && s.can_send() {
            let _ = s.send_slice(HTTP_REQUEST.as_bytes());
            p.sent = true;
        }
        while s.can_recv() {
            let _ = s.recv(|b| {
                p.resp.extend_from_slice(b);
                (b.len(), ())
            });
        }
        let timed_out = (now - p.started).total_millis() as i64 > REQUEST_TIMEOUT_MS;
        let peer_done = p.sent && !s.may_recv() && s.state() != tcp::State::SynSent;
        if peer_done || timed_out || s.state() == tcp::State::Closed {
            match parse_response(&p.resp) {
                _ if p.warmup => {}
                Some(name) if peer_done => c.report.success(p.client, &name),
                _ => c.report.failure(format!(
                    "request from {} ended in state {} after {} ms with {} response bytes",
                    p.client,
                    s.state(),
                    (now - p.started).total_millis(),
                    p.resp.len()
                )),
            }
            if timed_out {
                s.abort();
            } else {
                s.close();
            }
            c.closing.push((p.handle, now));
            c.inflight.swap_remove(i);
        } else {
            i += 1;
        }
    }
    // The client closes second (the server closed first): LAST_ACK, then CLOSED.
    c.closing.retain(|&(h, since)| {
        let s = sockets.get_mut::<tcp::Socket>(h);
        let gone = matches!(s.state(), tcp::State::Closed | tcp::State::TimeWait)
            || (now - since).total_millis() > 2000;
        if gone {
            sockets.remove(h);
        }
        !gone
    });
}

fn server_step(st: &mut ServerState, sockets: &mut SocketSet<'static>) {
    let handles: Vec<SocketHandle> = st.conns.keys().copied().collect();
    for h in handles {
        let s = sockets.get_mut::<tcp::Socket>(h);
        let Some((req, responded)) = st.conns.get_mut(&h) else {
            continue;
        };
        while s.can_recv() {
            let _ = s.recv(|b| {
                req.extend_from_slice(b);
                (b.len(), ())
            });
        }
        if !*responded && req.windows(4).any(|w| w == b"\r\n\r\n") && s.can_send() {
            let _ = s.send_slice(http_response(&st.name).as_bytes());
            s.close();
            *responded = true;
            st.served += 1;
        }
        // HTTP/1.0: the server closes first and ends in TIME_WAIT; the socket is replaced by
        // a fresh listening one (the 2MSL wait guards nothing on a demo LAN).
        let recycle = match s.state() {
            tcp::State::TimeWait => true,
            tcp::State::Closed => true,
            _ => false,
        };
        if recycle {
            sockets.remove(h);
            st.conns.remove(&h);
            let mut n = tcp_socket();
            let _ = n.listen(VPORT);
            st.conns.insert(sockets.add(n), (Vec::new(), false));
        }
    }
}
