//! [`HttpClient`]: the virtual LAN's client, a smoltcp host with several addresses sending
//! HTTP/1.0 requests to the VIP over its TCP, whole Ethernet frames in and out (through
//! lvs-realserver's in-memory [`QueueDevice`]).
//!
//! It keeps `concurrency` requests in flight, each from the next client address in turn on a
//! fresh local port, reads each response until the server's FIN (HTTP/1.0 semantics), and
//! counts the real server named in the body ([`ClientReport`]). Optional uncounted warm-up
//! requests go to the RIPs directly first (see [`HttpClient::warm_up`]).

use std::collections::VecDeque;
use std::net::Ipv4Addr;

use smoltcp::iface::{Config, Interface, SocketHandle, SocketSet};
use smoltcp::socket::tcp;
use smoltcp::time::{Duration as SmolDuration, Instant as SmolInstant};
use smoltcp::wire::{EthernetAddress, HardwareAddress, IpAddress, IpCidr, IpEndpoint};

use super::{ClientReport, HTTP_REQUEST, VIP, VPORT, parse_response};
use crate::realserver::QueueDevice;

/// TCP socket buffer size (bytes) of the client's sockets.
const SOCK_BUF: usize = 4096;
/// A request not answered within this many milliseconds (simulated or real) fails.
const REQUEST_TIMEOUT_MS: i64 = 3000;

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

/// The virtual LAN's HTTP client. See the module docs.
pub struct HttpClient {
    iface: Interface,
    dev: QueueDevice,
    sockets: SocketSet<'static>,
    state: ClientState,
}

impl std::fmt::Debug for HttpClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HttpClient")
            .field("state", &self.state)
            .finish_non_exhaustive()
    }
}

fn tcp_socket() -> tcp::Socket<'static> {
    tcp::Socket::new(
        tcp::SocketBuffer::new(vec![0; SOCK_BUF]),
        tcp::SocketBuffer::new(vec![0; SOCK_BUF]),
    )
}

impl HttpClient {
    /// A client with Ethernet address `mac` and addresses `clients` (/24 each) that sends
    /// `total` requests to VIP:80, `concurrency` at a time, the client address taken in turn.
    pub fn new(
        mac: [u8; 6],
        clients: &[Ipv4Addr],
        total: usize,
        concurrency: usize,
        now: SmolInstant,
    ) -> HttpClient {
        let mut dev = QueueDevice::new();
        let cfg = Config::new(HardwareAddress::Ethernet(EthernetAddress(mac)));
        let mut iface = Interface::new(cfg, &mut dev, now);
        iface.update_ip_addrs(|a| {
            for c in clients {
                let _ = a.push(IpCidr::new(IpAddress::Ipv4(*c), 24));
            }
        });
        HttpClient {
            iface,
            dev,
            sockets: SocketSet::new(Vec::new()),
            state: ClientState {
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
            },
        }
    }

    /// Hand a received Ethernet frame to the client.
    pub fn receive(&mut self, frame: &[u8]) {
        self.dev.push_rx(frame);
    }

    /// The next frame the client sends, if any.
    pub fn transmit(&mut self) -> Option<Vec<u8>> {
        self.dev.pop_tx()
    }

    /// Run the stack and the requests at `now`.
    pub fn poll(&mut self, now: SmolInstant) {
        let _ = self.iface.poll(now, &mut self.dev, &mut self.sockets);
        client_step(&mut self.state, &mut self.iface, &mut self.sockets, now);
        let _ = self.iface.poll(now, &mut self.dev, &mut self.sockets);
    }

    /// When [`HttpClient::poll`] is next needed (smoltcp's `poll_delay`), if ever.
    pub fn poll_delay(&mut self, now: SmolInstant) -> Option<SmolDuration> {
        self.iface.poll_delay(now, &self.sockets)
    }

    /// The report so far.
    pub fn report(&self) -> &ClientReport {
        &self.state.report
    }

    /// Before the measured requests, send one uncounted request from every client address
    /// to every RIP in `rips` directly (on the client subnet: DR, TUN). The real servers
    /// learn the clients' MACs from it: smoltcp drops a reply to an unresolved neighbour and
    /// retransmits only after its RTO, which would otherwise stall the first connections a
    /// second and skew least-connection scheduling.
    pub fn warm_up(&mut self, rips: &[Ipv4Addr]) {
        let c = &mut self.state;
        for &rip in rips {
            for &client in &c.clients {
                c.warmup.push_back((client, rip));
            }
        }
    }

    /// Warm-up requests are still to be sent or answered.
    pub fn warming(&self) -> bool {
        let c = &self.state;
        !c.warmup.is_empty() || c.inflight.iter().any(|p| p.warmup)
    }

    /// No request is left to send or to wait for.
    pub fn finished(&self) -> bool {
        let c = &self.state;
        c.next >= c.total && c.inflight.is_empty() && c.warmup.is_empty()
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
