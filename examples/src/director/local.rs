//! The director's own small IP presence on its DIPs (smoltcp): it answers ICMP echo (smoltcp's
//! `auto-icmp-echo-reply`) and runs the TCP connections of the keepalived-compatible health
//! checks ([`crate::health`]: TCP_CHECK, HTTP_GET) whose outcomes take real servers out of the
//! pool and back.
//!
//! smoltcp runs on an IP-medium device: frames the director's pipeline returns as `Local` are
//! pushed in without their Ethernet header ([`LocalStack::push_frame`]); the IP packets smoltcp
//! sends come out of [`LocalStack::pop_tx`] and the engine frames them, resolving the next hop
//! with its own neighbour table (which queues a packet while its ARP request is out, where
//! smoltcp's own Ethernet layer would drop it).
//!
//! A probe is one smoltcp TCP socket: TCP_CHECK passes when the connection is established
//! within `connect_timeout` (it is then reset, as keepalived closes at once); HTTP_GET sends
//! keepalived's request for each url in turn over a new connection, reads the response until
//! the server closes (each read within `connect_timeout`) and checks it with
//! [`crate::health::http::evaluate_response`]. MISC_CHECK and SSL_GET probes fail (not
//! supported by this presence).

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::Instant;

use std::collections::VecDeque;

use lvs_arp::MacAddr;
use smoltcp::iface::{Config, Interface, SocketHandle, SocketSet};
use smoltcp::phy::{Device, DeviceCapabilities, Medium};
use smoltcp::socket::tcp;
use smoltcp::wire::{HardwareAddress, IpAddress, IpCidr, IpEndpoint};

use crate::health::http::{evaluate_response, http_request};
use crate::health::{HealthEvent, Probe, ProbeId, ProbeResult, UrlCheck, VirtualServerHealth};

/// An IP-medium smoltcp device over two queues of IP packets.
#[derive(Debug, Default)]
struct IpQueue {
    rx: VecDeque<Vec<u8>>,
    tx: VecDeque<Vec<u8>>,
}

struct Rx(Vec<u8>);
struct Tx<'a>(&'a mut VecDeque<Vec<u8>>);

impl smoltcp::phy::RxToken for Rx {
    fn consume<R, F: FnOnce(&[u8]) -> R>(self, f: F) -> R {
        f(&self.0)
    }
}

impl smoltcp::phy::TxToken for Tx<'_> {
    fn consume<R, F: FnOnce(&mut [u8]) -> R>(self, len: usize, f: F) -> R {
        let mut b = vec![0; len];
        let r = f(&mut b);
        self.0.push_back(b);
        r
    }
}

impl Device for IpQueue {
    type RxToken<'a> = Rx;
    type TxToken<'a> = Tx<'a>;

    fn receive(&mut self, _now: smoltcp::time::Instant) -> Option<(Rx, Tx<'_>)> {
        let p = self.rx.pop_front()?;
        Some((Rx(p), Tx(&mut self.tx)))
    }

    fn transmit(&mut self, _now: smoltcp::time::Instant) -> Option<Tx<'_>> {
        Some(Tx(&mut self.tx))
    }

    fn capabilities(&self) -> DeviceCapabilities {
        let mut c = DeviceCapabilities::default();
        c.medium = Medium::Ip;
        c.max_transmission_unit = 1500;
        c
    }
}

/// Largest HTTP response kept per probe, bytes.
const MAX_RESPONSE: usize = 1 << 20;
/// First local port of the probes' connections (then upwards, wrapping within the range).
const PROBE_PORTS: (u16, u16) = (50000, 59999);

struct Inflight {
    vs: usize,
    id: ProbeId,
    probe: Probe,
    handle: SocketHandle,
    deadline: Instant,
    /// HTTP: index of the url being fetched; request sent on this connection.
    url: usize,
    sent: bool,
    response: Vec<u8>,
    /// Reset sent, the socket goes at the next poll.
    done: Option<ProbeResult>,
}

/// The director's smoltcp IP presence and health-check driver. See the module docs.
pub struct LocalStack {
    iface: Interface,
    dev: IpQueue,
    sockets: SocketSet<'static>,
    epoch: Instant,
    health: Vec<VirtualServerHealth>,
    inflight: Vec<Inflight>,
    next_port: u16,
    events: Vec<HealthEvent>,
}

fn smol(epoch: Instant, now: Instant) -> smoltcp::time::Instant {
    let us = now.saturating_duration_since(epoch).as_micros();
    smoltcp::time::Instant::from_micros(i64::try_from(us).unwrap_or(i64::MAX))
}

impl LocalStack {
    /// A presence with MAC `mac` on addresses `addrs` (IP, prefix length; the first is the
    /// source of probes toward its subnet), default route via `gateway`.
    pub fn new(
        mac: MacAddr,
        addrs: &[(Ipv4Addr, u8)],
        gateway: Option<Ipv4Addr>,
        now: Instant,
    ) -> LocalStack {
        let mut dev = IpQueue::default();
        let mut config = Config::new(HardwareAddress::Ip);
        config.random_seed = u64::from_le_bytes([
            mac.0[0], mac.0[1], mac.0[2], mac.0[3], mac.0[4], mac.0[5], 0x4c, 0x56,
        ]);
        let mut iface = Interface::new(config, &mut dev, smol(now, now));
        iface.update_ip_addrs(|a| {
            for &(ip, p) in addrs {
                if a.push(IpCidr::new(IpAddress::Ipv4(ip), p)).is_err() {
                    tracing::warn!(%ip, "local stack: too many addresses, {ip} not added");
                }
            }
        });
        if let Some(gw) = gateway {
            let _ = iface.routes_mut().add_default_ipv4_route(gw);
        }
        LocalStack {
            iface,
            dev,
            sockets: SocketSet::new(Vec::new()),
            epoch: now,
            health: Vec::new(),
            inflight: Vec::new(),
            next_port: PROBE_PORTS.0,
            events: Vec::new(),
        }
    }

    /// Adds the health checks of one virtual server.
    pub fn add_health(&mut self, h: VirtualServerHealth) {
        self.health.push(h);
    }

    /// Queues the IP packet of an Ethernet frame (no VLAN tag) for smoltcp.
    pub fn push_frame(&mut self, frame: &[u8]) {
        if let Some(ip) = frame.get(14..) {
            self.dev.rx.push_back(ip.to_vec());
        }
    }

    /// The next IP packet smoltcp sent.
    pub fn pop_tx(&mut self) -> Option<Vec<u8>> {
        self.dev.tx.pop_front()
    }

    /// The next pool change decided by the health checks.
    pub fn pop_event(&mut self) -> Option<HealthEvent> {
        if self.events.is_empty() {
            None
        } else {
            Some(self.events.remove(0))
        }
    }

    /// When [`LocalStack::poll`] must next run.
    pub fn poll_at(&mut self, now: Instant) -> Option<Instant> {
        let mut t = self
            .iface
            .poll_delay(smol(self.epoch, now), &self.sockets)
            .map(|d| now + std::time::Duration::from_micros(d.total_micros()));
        for h in &self.health {
            if let Some(p) = h.poll_timeout() {
                t = Some(t.map_or(p, |x| x.min(p)));
            }
        }
        for f in &self.inflight {
            t = Some(t.map_or(f.deadline, |x| x.min(f.deadline)));
        }
        t
    }

    /// Runs smoltcp, advances the probes and starts the ones due.
    pub fn poll(&mut self, now: Instant) {
        let ts = smol(self.epoch, now);
        self.iface.poll(ts, &mut self.dev, &mut self.sockets);
        self.progress(now);
        for vs in 0..self.health.len() {
            while let Some((id, probe)) = self.health.get_mut(vs).and_then(|h| h.poll_probe(now)) {
                self.start(vs, id, probe, now);
            }
        }
        self.iface.poll(ts, &mut self.dev, &mut self.sockets);
        for h in &mut self.health {
            while let Some(e) = h.poll_event() {
                self.events.push(e);
            }
        }
    }

    fn port(&mut self) -> u16 {
        let p = self.next_port;
        self.next_port = if p >= PROBE_PORTS.1 {
            PROBE_PORTS.0
        } else {
            p + 1
        };
        p
    }

    fn connect(&mut self, addr: SocketAddr) -> Option<SocketHandle> {
        let IpAddr::V4(ip) = addr.ip() else {
            return None;
        };
        let mut s = tcp::Socket::new(
            tcp::SocketBuffer::new(vec![0; 4096]),
            tcp::SocketBuffer::new(vec![0; 16384]),
        );
        let port = self.port();
        s.connect(
            self.iface.context(),
            IpEndpoint::new(IpAddress::Ipv4(ip), addr.port()),
            port,
        )
        .ok()?;
        Some(self.sockets.add(s))
    }

    fn start(&mut self, vs: usize, id: ProbeId, probe: Probe, now: Instant) {
        let (addr, timeout) = match &probe {
            Probe::Tcp { addr, timeout, .. } => (*addr, *timeout),
            Probe::Http {
                addr,
                timeout,
                tls: false,
                ..
            } => (*addr, *timeout),
            _ => {
                // MISC_CHECK / SSL_GET: not run by this presence.
                if let Some(h) = self.health.get_mut(vs) {
                    h.on_probe_result(now, id, ProbeResult::Failure);
                }
                return;
            }
        };
        match self.connect(addr) {
            Some(handle) => self.inflight.push(Inflight {
                vs,
                id,
                probe,
                handle,
                deadline: now + timeout,
                url: 0,
                sent: false,
                response: Vec::new(),
                done: None,
            }),
            None => {
                if let Some(h) = self.health.get_mut(vs) {
                    h.on_probe_result(now, id, ProbeResult::Failure);
                }
            }
        }
    }

    fn progress(&mut self, now: Instant) {
        let mut i = 0;
        while i < self.inflight.len() {
            let Some(f) = self.inflight.get_mut(i) else {
                break;
            };
            if let Some(result) = f.done {
                // The reset went out with the last poll: report and forget the socket.
                let (vs, id, handle) = (f.vs, f.id, f.handle);
                self.inflight.swap_remove(i);
                self.sockets.remove(handle);
                if let Some(h) = self.health.get_mut(vs) {
                    h.on_probe_result(now, id, result);
                }
                continue;
            }
            let s = self.sockets.get_mut::<tcp::Socket>(f.handle);
            let established = matches!(
                s.state(),
                tcp::State::Established
                    | tcp::State::CloseWait
                    | tcp::State::FinWait1
                    | tcp::State::FinWait2
            );
            let mut outcome: Option<ProbeResult> = None;
            let mut next_url = false;
            match &f.probe {
                Probe::Tcp { .. } => {
                    if established {
                        outcome = Some(ProbeResult::Success);
                    }
                }
                Probe::Http {
                    addr,
                    urls,
                    virtualhost,
                    timeout,
                    ..
                } => {
                    if established && !f.sent {
                        let url: Option<&UrlCheck> = urls.get(f.url);
                        if let Some(u) = url {
                            let host = u.virtualhost.as_deref().or(virtualhost.as_deref());
                            let req = http_request(&u.path, *addr, host);
                            if s.send_slice(req.as_bytes()).is_ok() {
                                f.sent = true;
                            }
                        }
                    }
                    while s.can_recv() {
                        let got = s.recv(|b| {
                            let n = b.len().min(MAX_RESPONSE.saturating_sub(f.response.len()));
                            f.response.extend_from_slice(b.get(..n).unwrap_or(&[]));
                            (b.len(), b.len())
                        });
                        if got.is_err() {
                            break;
                        }
                        f.deadline = now + *timeout;
                    }
                    if f.sent && !s.may_recv() {
                        let ok = urls
                            .get(f.url)
                            .is_some_and(|u| evaluate_response(&f.response, u).is_ok());
                        if !ok {
                            outcome = Some(ProbeResult::Failure);
                        } else if f.url + 1 < urls.len() {
                            next_url = true;
                        } else {
                            outcome = Some(ProbeResult::Success);
                        }
                    }
                }
                _ => outcome = Some(ProbeResult::Failure),
            }
            if outcome.is_none() && !next_url {
                let closed = matches!(s.state(), tcp::State::Closed | tcp::State::TimeWait);
                if closed || now >= f.deadline {
                    outcome = Some(ProbeResult::Failure);
                }
            }
            if let Some(r) = outcome {
                s.abort();
                f.done = Some(r);
            } else if next_url {
                s.abort();
                let addr = match &f.probe {
                    Probe::Http { addr, .. } => *addr,
                    _ => continue,
                };
                let old = f.handle;
                let timeout = match &f.probe {
                    Probe::Http { timeout, .. } => *timeout,
                    _ => continue,
                };
                f.url += 1;
                f.sent = false;
                f.response.clear();
                f.deadline = now + timeout;
                let url = f.url;
                match self.connect(addr) {
                    Some(h) => {
                        if let Some(f) = self.inflight.get_mut(i) {
                            f.handle = h;
                            f.url = url;
                        }
                    }
                    None => {
                        if let Some(f) = self.inflight.get_mut(i) {
                            f.done = Some(ProbeResult::Failure);
                        }
                    }
                }
                // The old socket sends its reset at the next poll; then it is dropped.
                self.sockets.remove(old);
            }
            i += 1;
        }
    }
}
