//! [`DirectorNode`]: the director as one Ethernet port, frame in and frame out.
//!
//! It composes [`lvs_core::Director`] (the packet pipeline, ip_vs_core.c) with the ARP side of
//! a Linux director, decided by [`lvs_arp::Host`] (net/ipv4/arp.c `arp_process`): it answers
//! ARP for its own addresses (VIP, DIPs, FULLNAT local addresses), learns its neighbours'
//! MACs from the ARP frames the kernel would learn from, resolves next hops (RIPs, client
//! addresses) with its own ARP requests (sender IP chosen by `arp_announce`, `arp_solicit`),
//! and queues the frames waiting for a resolution. The virtual-LAN demo feeds it frames from
//! in-memory links; the namespace demo feeds it frames from a TAP device.
//!
//! Simplifications (it is a demo's director, not `lvs-director`): one interface, IPv4 only,
//! neighbour entries never expire, frames delivered locally ([`Verdict::Local`]: pings to the
//! DIP, traffic for ports without a virtual service) are counted and dropped.

use std::collections::{HashMap, VecDeque};
use std::net::{IpAddr, Ipv4Addr};
use std::time::Instant;

use lvs_arp::{ArpFrame, Host, Learn, MacAddr, Scope};
use lvs_core::{ApplyOutput, Director, DirectorConfig, PacketMeta, Verdict};

/// Bytes kept free before a frame in the processing buffer: TUN writes its outer headers
/// there (lvs-core asks for at least 14 + 40 + 16).
const HEADROOM: usize = 128;
/// Bytes kept free after a frame, for a generated ICMP error.
const TAILROOM: usize = 1600;
/// Largest Ethernet frame handled (bytes, without FCS).
const MAX_FRAME: usize = 1514;
/// Frames queued per unresolved next hop (the kernel's `unres_qlen` is larger; the demo's
/// flows are short).
const PENDING_PER_HOP: usize = 64;
/// ifindex of the director's only Ethernet interface in its [`Host`].
const ETH_IFINDEX: u32 = 2;

/// Counters of a [`DirectorNode`] (frames).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct NodeCounters {
    /// Frames received.
    pub frames_in: u64,
    /// Frames sent (data and ARP).
    pub frames_out: u64,
    /// ARP replies sent.
    pub arp_replies: u64,
    /// ARP requests sent.
    pub arp_requests: u64,
    /// [`Verdict::Local`] frames (not balanced; dropped by this demo director).
    pub local: u64,
    /// Frames dropped by the pipeline ([`Verdict::Drop`]) or for want of a next-hop MAC.
    pub dropped: u64,
}

/// Why a [`DirectorNode`] could not be built.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum NodeError {
    /// An address or interface the ARP model refused.
    #[error("director address: {0}")]
    Host(#[from] lvs_arp::HostError),
    /// An ipvsadm rule the director refused (the line is quoted).
    #[error("rule `{line}`: {err}")]
    Rule {
        /// The rule line.
        line: String,
        /// The director's refusal.
        err: lvs_core::DirectorError,
    },
}

/// The director on one Ethernet port. See the module docs.
#[derive(Debug)]
pub struct DirectorNode {
    director: Director,
    host: Host,
    mac: MacAddr,
    neigh: HashMap<Ipv4Addr, MacAddr>,
    pending: HashMap<Ipv4Addr, Vec<Vec<u8>>>,
    /// When the last ARP request for a pending next hop went out.
    solicited: HashMap<Ipv4Addr, Instant>,
    out: VecDeque<Vec<u8>>,
    buf: Vec<u8>,
    counters: NodeCounters,
}

impl DirectorNode {
    /// A director with Ethernet address `mac`, IPv4 addresses `addrs` (address, prefix length:
    /// VIP, DIPs, FULLNAT local addresses; each one is answered for in ARP) and the ipvsadm
    /// `rules` applied in order (`-A ...`, `-a ...` lines, as `ipvsadm -R` reads them).
    ///
    /// # Errors
    /// [`NodeError::Host`] for a duplicate address, [`NodeError::Rule`] for a rule the
    /// director refuses.
    pub fn new(
        mac: [u8; 6],
        addrs: &[(Ipv4Addr, u8)],
        rules: &[String],
        now: Instant,
    ) -> Result<Self, NodeError> {
        let mut host = Host::new();
        host.add_loopback("lo", 1)?;
        host.add_interface("eth0", ETH_IFINDEX, MacAddr(mac))?;
        for &(a, len) in addrs {
            host.add_addr(ETH_IFINDEX, a, len, Scope::Global)?;
        }
        let cfg = DirectorConfig {
            local_v4: addrs.first().map(|a| a.0),
            ..DirectorConfig::default()
        };
        let mut director = Director::new(cfg, now);
        for line in rules {
            director
                .apply_line(line, now)
                .map_err(|err| NodeError::Rule {
                    line: line.clone(),
                    err,
                })?;
        }
        Ok(DirectorNode {
            director,
            host,
            mac: MacAddr(mac),
            neigh: HashMap::new(),
            pending: HashMap::new(),
            solicited: HashMap::new(),
            out: VecDeque::new(),
            buf: vec![0; HEADROOM + MAX_FRAME + TAILROOM],
            counters: NodeCounters::default(),
        })
    }

    /// The director (listings, counters, live ipvsadm commands).
    pub fn director(&mut self) -> &mut Director {
        &mut self.director
    }

    /// Frame counters.
    pub fn counters(&self) -> NodeCounters {
        self.counters
    }

    /// `ipvsadm -Ln --stats` of the running director.
    pub fn stats_listing(&mut self, now: Instant) -> String {
        match self.director.apply_line("-L -n --stats", now) {
            Ok(ApplyOutput::Text(t)) => t,
            Ok(ApplyOutput::Done) => String::new(),
            Err(e) => format!("listing failed: {e}\n"),
        }
    }

    /// Expire connections, run the rate estimators and repeat unanswered ARP requests (once
    /// a second, the kernel's `retrans_time`). Call on every tick.
    pub fn handle_timeout(&mut self, now: Instant) {
        let _expired = self.director.handle_timeout(now);
        let due: Vec<Ipv4Addr> = self
            .solicited
            .iter()
            .filter(|(_, t)| now.saturating_duration_since(**t).as_millis() >= 1000)
            .map(|(ip, _)| *ip)
            .collect();
        for hop in due {
            self.solicit(hop, now);
        }
    }

    fn solicit(&mut self, hop: Ipv4Addr, now: Instant) {
        let src = self
            .host
            .arp_source(ETH_IFINDEX, hop, None)
            .map_or(Ipv4Addr::UNSPECIFIED, |s| s.ip);
        let req = ArpFrame::request(self.mac, src, hop, None);
        self.out.push_back(req.to_bytes().to_vec());
        self.counters.arp_requests += 1;
        self.solicited.insert(hop, now);
    }

    /// The next frame to send, if any.
    pub fn poll_transmit(&mut self) -> Option<Vec<u8>> {
        let f = self.out.pop_front();
        if f.is_some() {
            self.counters.frames_out += 1;
        }
        f
    }

    /// Process one received Ethernet frame (without FCS) at `now`; outputs are queued for
    /// [`DirectorNode::poll_transmit`].
    pub fn handle_frame(&mut self, frame: &[u8], now: Instant) {
        self.counters.frames_in += 1;
        let Some(ethertype) = frame.get(12..14) else {
            self.counters.dropped += 1;
            return;
        };
        match ethertype {
            [0x08, 0x06] => self.handle_arp(frame),
            [0x08, 0x00] => self.handle_ipv4(frame, now),
            _ => self.counters.local += 1,
        }
    }

    fn handle_arp(&mut self, frame: &[u8]) {
        let Ok(arp) = ArpFrame::parse(frame) else {
            self.counters.dropped += 1;
            return;
        };
        let input = self.host.arp_input(ETH_IFINDEX, &arp);
        match input.learn {
            Learn::Event { ip, mac, .. } => self.learn(ip, mac),
            Learn::Update {
                ip, mac, create, ..
            } if create || self.neigh.contains_key(&ip) || self.pending.contains_key(&ip) => {
                self.learn(ip, mac);
            }
            _ => {}
        }
        if let Some(reply) = input.reply() {
            self.out.push_back(reply.to_bytes().to_vec());
            self.counters.arp_replies += 1;
        }
    }

    fn learn(&mut self, ip: Ipv4Addr, mac: MacAddr) {
        self.neigh.insert(ip, mac);
        self.solicited.remove(&ip);
        if let Some(frames) = self.pending.remove(&ip) {
            for mut f in frames {
                if lvs_fwd::set_macs(&mut f, mac.0, self.mac.0).is_ok() {
                    self.out.push_back(f);
                }
            }
        }
    }

    fn handle_ipv4(&mut self, frame: &[u8], now: Instant) {
        let dst = frame.get(0..6).unwrap_or(&[0; 6]);
        if dst != self.mac.0 && dst != [0xff; 6] {
            // Flooded unicast for another host.
            return;
        }
        let len = frame.len().min(MAX_FRAME);
        let Some(slot) = self.buf.get_mut(HEADROOM..HEADROOM + len) else {
            return;
        };
        slot.copy_from_slice(frame.get(..len).unwrap_or(&[]));
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
                let Some(out) = self.buf.get(start..start + len) else {
                    return;
                };
                let mut out = out.to_vec();
                self.send_to(hop, &mut out, now);
            }
            Verdict::Icmp { start, len, .. } => {
                if let Some(out) = self.buf.get(start..start + len) {
                    self.out.push_back(out.to_vec());
                }
            }
            Verdict::Local => self.counters.local += 1,
            Verdict::Transmit { .. } | Verdict::Drop(_) => self.counters.dropped += 1,
        }
    }

    fn send_to(&mut self, hop: Ipv4Addr, frame: &mut Vec<u8>, now: Instant) {
        if let Some(mac) = self.neigh.get(&hop) {
            if lvs_fwd::set_macs(frame, mac.0, self.mac.0).is_ok() {
                self.out.push_back(std::mem::take(frame));
            }
            return;
        }
        let first = !self.pending.contains_key(&hop);
        let q = self.pending.entry(hop).or_default();
        if q.len() < PENDING_PER_HOP {
            q.push(std::mem::take(frame));
        } else {
            self.counters.dropped += 1;
        }
        if first {
            self.solicit(hop, now);
        }
    }
}
