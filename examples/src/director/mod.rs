//! The director runtime without its devices: [`Engine`] takes Ethernet frames received on the
//! director's interfaces (one TAP, or a client-side and a server-side TAP) and returns the
//! frames to send, the way the `lvs-director` binary and `lvs-replay` both need it.
//!
//! Per frame (ARCHITECTURE.md, data path): [`lvs_core::classify()`] sorts it; ARP goes to
//! lvs-arp's host model ([`lvs_arp::Host::arp_input`]: replies for the VIPs, DIPs and FULLNAT
//! local addresses, with the kernel's `arp_ignore` rules) and neighbour table
//! ([`lvs_arp::NeighbourTable`]: learning the senders); IP goes to
//! [`lvs_core::Director::process`], whose verdict is acted on: `Transmit` frames get their MACs
//! from the neighbour table (an ARP request is sent and the frame queued while the next hop is
//! unresolved, or, in [`NeighMode::Static`], the frame is dropped as "neighbour unresolved");
//! `Icmp` errors go back out of the receiving interface; `Local` frames are counted and go to
//! the director's own IP presence ([`local::LocalStack`]: ICMP echo, health checks) when it
//! runs; drops are counted by the director.
//!
//! # Batches
//!
//! [`Engine::handle_frames`] takes a burst of received frames (the `lvs-director` TAP loop
//! reads up to [`PROCESS_BATCH`] ready frames at a time, `lvs-replay` runs of capture records
//! with one timestamp) and hands their IP frames to [`lvs_core::Director::process_batch`] in
//! one call, so their connection lookups overlap; the verdicts are then acted on one by one in
//! frame order, exactly as [`Engine::handle_frame`] (the one-frame case of the same code) does.
//! A non-IP frame (ARP, ...) first flushes the IP frames gathered before it, so the frames
//! sent keep the order of the frames received. The IP frames are copied into
//! [`PROCESS_BATCH`] buffers allocated with the engine (each with room for a reassembled
//! 64 KiB datagram); the only allocation per packet is the `Vec` of each frame sent. The
//! local stack's health events raised while a batch's verdicts are acted on change the pool
//! for later batches (the director already processed the whole batch).
//!
//! # Refragmentation
//!
//! The director forwards a reassembled datagram whose fragments each fitted the MTU as one
//! [`Verdict::Transmit`], possibly longer than the egress MTU (lvs-core's "IP fragments"
//! docs), and an IPv4 packet without DF longer than [`lvs_core::DirectorConfig::tun_mtu`]
//! too. The engine sends a frame whose IP packet is longer than [`EngineConfig::mtu`] as
//! fragments of at most that size ([`lvs_fwd::fragment_ipv4`], [`lvs_fwd::fragment_ipv6`] with
//! a random-start identification counter), each toward the same next hop, counted in
//! [`EngineStats::refragmented`]; one that cannot be fragmented is dropped as
//! [`EngineDrop::CannotFragment`]. That is IPv4 with DF: a single packet the director answers
//! with ICMP fragmentation needed before it gets here when `tun_mtu` is not above the
//! engine's MTU, but also a datagram reassembled from DF-set fragments (the director keeps
//! DF when the largest fragment had it, as ip_fragment.c `ip_frag_reasm`), which the kernel
//! refragments at its largest fragment's size with DF kept (ip_output.c `ip_fragment` with
//! `ignore_df` and `frag_max_size`): the verdict does not carry that size and
//! [`lvs_fwd::fragment_ipv4`] refuses DF, so the engine cannot yet.
//!
//! Time: `now` is an [`Instant`] (the director's clock); the neighbour table's millisecond
//! clock is derived from it (milliseconds since the engine's creation).

pub mod local;

use std::collections::VecDeque;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::{Duration, Instant};

use lvs_arp::{
    ArpFrame, ArpOp, Host, LearnState, MacAddr, NeighConfig, NeighbourTable, Resolved, Scope,
};
use lvs_core::{Director, FrameClass, PROCESS_BATCH, PacketMeta, Side, Verdict};

/// Headroom left before each frame for TUN encapsulation (Ethernet + IPv6 + GUE), bytes.
pub const HEADROOM: usize = 14 + 40 + 16 + 8;
/// Tailroom left after each frame for a generated ICMP error (Ethernet + IP + ICMP + 576), bytes.
pub const TAILROOM: usize = 14 + 40 + 8 + 576;
/// Largest frame the engine accepts, bytes (jumbo frames up to 9000-byte MTU).
pub const MAX_FRAME: usize = 9018;
/// Default [`EngineConfig::mtu`]: Ethernet's 1500-byte IP MTU.
pub const DEFAULT_MTU: usize = 1500;
/// Size of each of the engine's packet buffers, bytes: headroom, room for a reassembled
/// datagram (the director writes it over the completing fragment: a 65535-byte IP packet
/// behind a tagged Ethernet header) and tailroom.
const BUF_LEN: usize = HEADROOM + (18 + 65535) + TAILROOM;

/// Interface index of the client-side (or only) interface in the ARP host model.
pub const IF_CLIENT: u32 = 1;
/// Interface index of the server-side interface of a two-legged director.
pub const IF_SERVER: u32 = 2;

/// How next hops are resolved.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NeighMode {
    /// As the kernel: ARP request, frame queued until the reply (live director).
    Resolve,
    /// Only entries learnt from ARP frames or given statically; an unresolved next hop drops the
    /// frame with reason "neighbour unresolved" (`lvs-replay`).
    Static,
}

/// The addresses of a director.
#[derive(Debug, Clone)]
pub struct EngineConfig {
    /// The director's MAC (both interfaces).
    pub mac: MacAddr,
    /// Virtual IPs (answered on the client-side interface, /32).
    pub vips: Vec<Ipv4Addr>,
    /// DIPs with prefix length on the client-side (or only) interface.
    pub dips: Vec<(Ipv4Addr, u8)>,
    /// DIPs with prefix length on the server-side interface; non-empty makes the engine
    /// two-legged.
    pub dips_server: Vec<(Ipv4Addr, u8)>,
    /// FULLNAT local addresses (answered on the server side, /32).
    pub laddrs: Vec<Ipv4Addr>,
    /// Next hop for destinations outside every DIP subnet.
    pub gateway: Option<Ipv4Addr>,
    /// Resolution mode.
    pub neigh_mode: NeighMode,
    /// Run the director's own IP presence ([`local::LocalStack`]: ICMP echo on every DIP and
    /// VIP, health checks toward the real servers).
    pub local_stack: bool,
    /// IP MTU of the interfaces (both, for a two-legged engine), bytes: a frame to send whose
    /// IP packet is longer is refragmented (module docs, "Refragmentation"). Keep
    /// [`lvs_core::DirectorConfig::tun_mtu`] at most this, so the director answers a DF-set
    /// packet that does not fit with ICMP fragmentation needed. Usually [`DEFAULT_MTU`];
    /// values below 68 (RFC 791's minimum) make every refragmentation fail.
    pub mtu: usize,
}

/// Why the engine itself dropped a frame (the director counts its own drops).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EngineDrop {
    /// Next hop unresolved ([`NeighMode::Static`]), or the neighbour table refused the frame.
    NeighbourUnresolved,
    /// Not IP nor ARP (e.g. LLDP), or VRRP (not handled by this director).
    NotForUs,
    /// An ARP frame that does not parse or that the host model did not answer.
    Arp,
    /// A frame to send longer than [`EngineConfig::mtu`] that [`lvs_fwd::fragment_ipv4`] /
    /// [`lvs_fwd::fragment_ipv6`] refused (the error: DF set, headers they cannot split, an
    /// MTU too small for 8 data bytes per fragment).
    CannotFragment(lvs_fwd::FwdError),
}

/// One received frame for [`Engine::handle_frames`].
#[derive(Debug, Clone, Copy)]
pub struct RxFrame<'a> {
    /// Interface it was received on ([`IF_CLIENT`] or [`IF_SERVER`]).
    pub ifindex: u32,
    /// The Ethernet frame (longer than [`MAX_FRAME`] bytes: cut there).
    pub frame: &'a [u8],
    /// Its metadata (netfilter mark) for the director.
    pub meta: PacketMeta,
}

/// What happened to one received frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FrameOutcome {
    /// An ARP frame, handled (replied to and/or learnt).
    Arp,
    /// The director's verdict on an IP frame (or on a frame that does not parse).
    Director(Verdict),
    /// Dropped by the engine.
    Dropped(EngineDrop),
}

/// Counters of the engine (the director's drop counters are in [`Director::drop_counts`]).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct EngineStats {
    /// Frames received.
    pub rx: u64,
    /// Frames sent (queued for transmission).
    pub tx: u64,
    /// ARP replies sent.
    pub arp_replies: u64,
    /// ARP requests sent.
    pub arp_requests: u64,
    /// Frames for the local stack.
    pub local: u64,
    /// Frames dropped by the engine (see [`EngineDrop`]).
    pub engine_drops: u64,
    /// Frames to send longer than [`EngineConfig::mtu`] that were sent as IP fragments (one
    /// per datagram; each fragment counts in `tx`).
    pub refragmented: u64,
    /// ICMP errors the director's timers produced ([`Director::poll_icmp`]: fragment
    /// reassembly time exceeded) that were sent.
    pub icmp_sent: u64,
}

/// IP frames gathered for one [`Director::process_batch`] call: frame `j` of the batch is in
/// the engine's buffer `j` at `ranges[j]`.
struct Pending<'a> {
    n: usize,
    /// Position of each frame in the caller's sequence.
    index: [usize; PROCESS_BATCH],
    rx: [RxFrame<'a>; PROCESS_BATCH],
    ranges: [(usize, usize); PROCESS_BATCH],
    meta: [PacketMeta; PROCESS_BATCH],
}

impl Pending<'_> {
    fn new() -> Self {
        Pending {
            n: 0,
            index: [0; PROCESS_BATCH],
            rx: [RxFrame {
                ifindex: 0,
                frame: &[],
                meta: PacketMeta::default(),
            }; PROCESS_BATCH],
            ranges: [(0, 0); PROCESS_BATCH],
            meta: [PacketMeta::default(); PROCESS_BATCH],
        }
    }
}

/// The director runtime minus devices. See the module docs.
pub struct Engine {
    /// The packet pipeline and service table.
    pub director: Director,
    cfg: EngineConfig,
    host: Host,
    neigh: NeighbourTable<Vec<u8>>,
    epoch: Instant,
    /// [`PROCESS_BATCH`] packet buffers of [`BUF_LEN`] bytes.
    bufs: Vec<Vec<u8>>,
    /// One fragment frame (18 + MTU bytes) while refragmenting.
    frag_scratch: Vec<u8>,
    /// Identification of the next IPv6 fragment train.
    frag_id: u32,
    out: VecDeque<(u32, Vec<u8>)>,
    stats: EngineStats,
    local: Option<local::LocalStack>,
}

fn ms_since(epoch: Instant, now: Instant) -> u64 {
    u64::try_from(now.saturating_duration_since(epoch).as_millis()).unwrap_or(u64::MAX)
}

impl Engine {
    /// An engine around `director` with the addresses of `cfg`, clock epoch `now`.
    ///
    /// # Errors
    /// The host model's refusal of an address (duplicate address, bad prefix).
    pub fn new(
        director: Director,
        cfg: EngineConfig,
        now: Instant,
    ) -> Result<Engine, lvs_arp::HostError> {
        let mut host = Host::new();
        host.add_loopback("lo", 99)?;
        host.add_interface("client", IF_CLIENT, cfg.mac)?;
        let two = !cfg.dips_server.is_empty();
        let server_if = if two {
            host.add_interface("server", IF_SERVER, cfg.mac)?;
            IF_SERVER
        } else {
            IF_CLIENT
        };
        for &(ip, p) in &cfg.dips {
            host.add_addr(IF_CLIENT, ip, p, Scope::Global)?;
        }
        for &(ip, p) in &cfg.dips_server {
            host.add_addr(IF_SERVER, ip, p, Scope::Global)?;
        }
        // The VIPs and FULLNAT local addresses of the configured services are ours too.
        let mut vips = cfg.vips.clone();
        let mut laddrs = cfg.laddrs.clone();
        for s in director.virtual_services() {
            if let lvs_core::service::ServiceKey::Addr {
                addr: SocketAddr::V4(a),
                ..
            } = s.key
            {
                vips.push(*a.ip());
            }
            laddrs.extend(s.config.local_addrs.iter().filter_map(|a| match a {
                IpAddr::V4(v) => Some(*v),
                IpAddr::V6(_) => None,
            }));
        }
        for &ip in &vips {
            if !host.is_own_addr(ip) {
                host.add_addr(IF_CLIENT, ip, 32, Scope::Global)?;
            }
        }
        for &ip in &laddrs {
            if !host.is_own_addr(ip) {
                host.add_addr(server_if, ip, 32, Scope::Global)?;
            }
        }
        let mtu = cfg.mtu;
        let local = cfg.local_stack.then(|| {
            let mut addrs: Vec<(Ipv4Addr, u8)> = cfg.dips_server.clone();
            addrs.extend(cfg.dips.iter().copied());
            addrs.extend(vips.iter().map(|v| (*v, 32)));
            local::LocalStack::new(cfg.mac, &addrs, cfg.gateway, now)
        });
        Ok(Engine {
            director,
            cfg,
            host,
            neigh: NeighbourTable::new(NeighConfig::default()),
            epoch: now,
            bufs: (0..PROCESS_BATCH).map(|_| vec![0; BUF_LEN]).collect(),
            frag_scratch: vec![0; 18 + mtu.min(65535)],
            // ipv6_select_ident picks unpredictable identifications; a random start will do.
            frag_id: {
                use std::hash::BuildHasher;
                std::collections::hash_map::RandomState::new().hash_one(0u8) as u32
            },
            out: VecDeque::new(),
            stats: EngineStats::default(),
            local,
        })
    }

    /// The engine's counters.
    pub fn stats(&self) -> EngineStats {
        self.stats
    }

    /// True when the engine has a server-side interface ([`IF_SERVER`]).
    pub fn two_legged(&self) -> bool {
        !self.cfg.dips_server.is_empty()
    }

    /// The interface a [`Side`] maps to.
    pub fn side_if(&self, side: Side) -> u32 {
        match side {
            Side::Server if self.two_legged() => IF_SERVER,
            _ => IF_CLIENT,
        }
    }

    /// Adds a permanent neighbour entry (`--neigh IP=MAC`) on every interface (IPv4 or IPv6:
    /// the engine resolves IPv6 next hops only from such entries, it sends no neighbour
    /// solicitations).
    pub fn add_static_neigh(&mut self, ip: impl Into<IpAddr>, mac: MacAddr) {
        let ip = ip.into();
        for ifindex in [IF_CLIENT, IF_SERVER] {
            let _ = self.neigh.add_static(ifindex, ip, mac);
        }
    }

    /// The next frame to send: (interface index, Ethernet frame).
    pub fn poll_transmit(&mut self) -> Option<(u32, Vec<u8>)> {
        self.out.pop_front()
    }

    /// Process one frame received on interface `ifindex` at `now`: [`Engine::handle_frames`]
    /// with a batch of one, its outcome returned.
    pub fn handle_frame(
        &mut self,
        ifindex: u32,
        frame: &[u8],
        meta: &PacketMeta,
        now: Instant,
    ) -> FrameOutcome {
        let mut outcome = FrameOutcome::Dropped(EngineDrop::NotForUs);
        let rx = RxFrame {
            ifindex,
            frame,
            meta: *meta,
        };
        self.handle_frames([rx], now, |_, o| outcome = o);
        outcome
    }

    /// Process a burst of frames received at `now` (module docs, "Batches"), reporting each
    /// frame's outcome to `on_outcome(i, outcome)` (`i`: the frame's position in `frames`), in
    /// frame order. ARP frames go to the host model and the neighbour table as in
    /// [`Engine::handle_frame`]; IP frames (and frames that do not parse, for the director to
    /// count) are gathered, up to [`PROCESS_BATCH`] at a time, and processed by one
    /// [`Director::process_batch`] call when the batch is full, before any non-IP frame and
    /// at the end. The frames sent, the counters and the director's state afterwards are
    /// those of calling [`Engine::handle_frame`] on each frame in turn at the same `now`
    /// (health events of the local stack aside, which apply from the next batch on).
    pub fn handle_frames<'a>(
        &mut self,
        frames: impl IntoIterator<Item = RxFrame<'a>>,
        now: Instant,
        mut on_outcome: impl FnMut(usize, FrameOutcome),
    ) {
        let ms = ms_since(self.epoch, now);
        let mut p = Pending::new();
        for (i, rx) in frames.into_iter().enumerate() {
            self.stats.rx += 1;
            let outcome = match lvs_core::classify(rx.frame) {
                Ok(FrameClass::Ip { .. }) | Err(_) => {
                    self.gather(&mut p, i, rx);
                    if p.n == PROCESS_BATCH {
                        self.flush(&mut p, now, ms, &mut on_outcome);
                    }
                    continue;
                }
                Ok(FrameClass::Arp) => {
                    self.flush(&mut p, now, ms, &mut on_outcome);
                    self.handle_arp(rx.ifindex, rx.frame, ms)
                }
                Ok(_) => {
                    self.flush(&mut p, now, ms, &mut on_outcome);
                    FrameOutcome::Dropped(EngineDrop::NotForUs)
                }
            };
            self.finish(rx.ifindex, rx.frame.len(), outcome, now, ms);
            on_outcome(i, outcome);
        }
        self.flush(&mut p, now, ms, &mut on_outcome);
    }

    /// Copies an IP frame into the next free buffer of the batch (`p.n < PROCESS_BATCH`).
    fn gather<'a>(&mut self, p: &mut Pending<'a>, index: usize, rx: RxFrame<'a>) {
        let j = p.n;
        let len = rx.frame.len().min(MAX_FRAME);
        if let Some(buf) = self.bufs.get_mut(j)
            && let Some(dst) = buf.get_mut(HEADROOM..HEADROOM + len)
            && let Some(src) = rx.frame.get(..len)
        {
            dst.copy_from_slice(src);
        }
        if let (Some(i), Some(r), Some(range), Some(m)) = (
            p.index.get_mut(j),
            p.rx.get_mut(j),
            p.ranges.get_mut(j),
            p.meta.get_mut(j),
        ) {
            (*i, *r, *range, *m) = (index, rx, (HEADROOM, len), rx.meta);
            p.n += 1;
        }
    }

    /// Processes the gathered IP frames (one [`Director::process`] call for a single frame,
    /// else one [`Director::process_batch`] call) and acts on their verdicts in order.
    fn flush(
        &mut self,
        p: &mut Pending<'_>,
        now: Instant,
        ms: u64,
        on_outcome: &mut impl FnMut(usize, FrameOutcome),
    ) {
        let n = std::mem::take(&mut p.n);
        if n == 0 {
            return;
        }
        let mut bufs = std::mem::take(&mut self.bufs);
        let mut verdicts = [Verdict::Held; PROCESS_BATCH];
        if n == 1 {
            if let (Some(buf), Some(v)) = (bufs.first_mut(), verdicts.first_mut()) {
                let (start, len) = p.ranges[0];
                *v = self.director.process(buf, start, len, &p.meta[0], now);
            }
        } else {
            let mut it = bufs.iter_mut();
            let mut refs: [&mut [u8]; PROCESS_BATCH] =
                std::array::from_fn(|_| it.next().map(Vec::as_mut_slice).unwrap_or_default());
            let k = n.min(PROCESS_BATCH);
            let _ = self.director.process_batch(
                &mut refs[..k],
                &p.ranges[..k],
                &p.meta[..k],
                now,
                &mut verdicts[..k],
            );
        }
        for (((&v, rx), &index), buf) in verdicts.iter().zip(&p.rx).zip(&p.index).zip(&bufs).take(n)
        {
            let outcome = self.act(rx, buf, v, ms);
            self.finish(rx.ifindex, rx.frame.len(), outcome, now, ms);
            on_outcome(index, outcome);
        }
        self.bufs = bufs;
    }

    /// After a frame's outcome: the log line of a drop, the local stack's turn after a frame
    /// for it (or an ARP frame), the neighbour table's output.
    fn finish(&mut self, ifindex: u32, len: usize, outcome: FrameOutcome, now: Instant, ms: u64) {
        match outcome {
            FrameOutcome::Dropped(why) => {
                self.stats.engine_drops += 1;
                tracing::debug!(ifindex, ?why, len, "frame dropped by the runtime");
            }
            FrameOutcome::Director(Verdict::Drop(reason)) => {
                tracing::debug!(ifindex, ?reason, len, "frame dropped by the director");
            }
            _ => {}
        }
        if matches!(
            outcome,
            FrameOutcome::Director(Verdict::Local | Verdict::LocalDatagram { .. })
                | FrameOutcome::Arp
        ) {
            self.poll_local(now);
        }
        self.drain_neigh(ms);
    }

    /// Adds the health checks of one virtual server (keepalived `virtual_server` block) to the
    /// local stack; ignored without one.
    pub fn add_health(&mut self, h: crate::health::VirtualServerHealth) {
        if let Some(l) = self.local.as_mut() {
            l.add_health(h);
        }
    }

    /// Runs the local stack: its frames go out, its health events change the pool through
    /// the director's health hook ([`Director::set_dest_health`]).
    fn poll_local(&mut self, now: Instant) {
        let Some(mut l) = self.local.take() else {
            return;
        };
        l.poll(now);
        let ms = ms_since(self.epoch, now);
        while let Some(ip) = l.pop_tx() {
            let dst = match ip.first().map(|b| b >> 4) {
                Some(4) => ip
                    .get(16..20)
                    .and_then(|d| <[u8; 4]>::try_from(d).ok())
                    .map(IpAddr::from),
                _ => None,
            };
            let Some(dst) = dst else { continue };
            let mut f = Vec::with_capacity(14 + ip.len());
            f.extend_from_slice(&[0; 12]);
            f.extend_from_slice(&[0x08, 0x00]);
            f.extend_from_slice(&ip);
            let out_if = self.if_for(dst);
            let _ = self.send_ip(out_if, dst, f, ms);
        }
        while let Some(ev) = l.pop_event() {
            self.apply_health(&ev, now);
        }
        self.local = Some(l);
    }

    fn apply_health(&mut self, ev: &crate::health::HealthEvent, now: Instant) {
        use crate::health::HealthAction;
        let (up, inhibit) = match ev.action {
            HealthAction::Remove => (false, false),
            HealthAction::Weight0 => (false, true),
            HealthAction::Restore => (true, false),
            HealthAction::RestoreWeight(_) => (true, true),
        };
        let hook = if ev.sorry_server {
            Err(())
        } else {
            self.director
                .set_dest_health(&ev.service, ev.real_server, up, inhibit, now)
                .map_err(drop)
        };
        let r = match (hook, ev.action) {
            (Ok(()), HealthAction::RestoreWeight(_)) | (Err(()), _) => self
                .director
                .apply(&ev.command(), now)
                .map(drop)
                .map_err(|e| e.to_string()),
            (Ok(()), _) => Ok(()),
        };
        tracing::info!(
            real_server = %ev.real_server,
            up = ev.up,
            action = ?ev.action,
            result = ?r,
            "health check changed the pool"
        );
    }

    fn handle_arp(&mut self, ifindex: u32, frame: &[u8], ms: u64) -> FrameOutcome {
        let Ok(arp) = ArpFrame::parse(frame) else {
            return FrameOutcome::Dropped(EngineDrop::Arp);
        };
        let input = self.host.arp_input(ifindex, &arp);
        if let Some(reply) = input.reply() {
            self.push(ifindex, reply.to_bytes().to_vec());
            self.stats.arp_replies += 1;
        }
        let learnt = self.neigh.learn(ms, &input.learn);
        // lvs-replay learns real-server MACs from any ARP reply of the capture (the kernel would
        // need arp_accept for an unsolicited one).
        if arp.op == ArpOp::Reply
            && self.cfg.neigh_mode == NeighMode::Static
            && learnt == lvs_arp::UpdateOutcome::NotCreated
        {
            let _ = self.neigh.update(
                ms,
                lvs_arp::NeighKey {
                    ifindex,
                    ip: IpAddr::V4(arp.sender_ip),
                },
                arp.sender_mac,
                LearnState::Reachable,
                lvs_arp::UpdateFlags {
                    override_mac: true,
                    weak_override: false,
                    create: true,
                },
            );
        }
        FrameOutcome::Arp
    }

    /// Acts on the director's verdict `v` on `rx`, whose buffer (after processing) is `buf`.
    fn act(&mut self, rx: &RxFrame<'_>, buf: &[u8], v: Verdict, ms: u64) -> FrameOutcome {
        match v {
            Verdict::Transmit {
                next_hop,
                side,
                start,
                len,
            } => {
                let frame = buf.get(start..start + len).unwrap_or_default();
                let out_if = self.side_if(side);
                match self.transmit(out_if, next_hop, frame, ms) {
                    Ok(()) => FrameOutcome::Director(v),
                    Err(why) => FrameOutcome::Dropped(why),
                }
            }
            Verdict::Icmp { start, len, .. } => {
                if let Some(f) = buf.get(start..start + len) {
                    self.push(rx.ifindex, f.to_vec());
                }
                FrameOutcome::Director(v)
            }
            Verdict::Local => {
                self.stats.local += 1;
                if let Some(l) = self.local.as_mut() {
                    l.push_frame(rx.frame);
                }
                FrameOutcome::Director(v)
            }
            Verdict::LocalDatagram { start, len } => {
                self.stats.local += 1;
                if let (Some(l), Some(f)) = (self.local.as_mut(), buf.get(start..start + len)) {
                    l.push_frame(f);
                }
                FrameOutcome::Director(v)
            }
            Verdict::Drop(_) | Verdict::Held => FrameOutcome::Director(v),
        }
    }

    /// Sends a rewritten frame (MACs still to write) out of `ifindex` toward `next_hop`; as IP
    /// fragments of at most [`EngineConfig::mtu`] bytes when its IP packet is longer (module
    /// docs, "Refragmentation").
    fn transmit(
        &mut self,
        ifindex: u32,
        next_hop: IpAddr,
        frame: &[u8],
        ms: u64,
    ) -> Result<(), EngineDrop> {
        let mtu = self.cfg.mtu;
        // An untagged Ethernet header is 14 bytes: a frame no longer than 14 + MTU fits (a
        // tagged one is judged by lvs_fwd, which finds its IP packet behind the tag).
        if frame.len() <= 14 + mtu {
            return if self.send_ip(ifindex, next_hop, frame.to_vec(), ms) {
                Ok(())
            } else {
                Err(EngineDrop::NeighbourUnresolved)
            };
        }
        let id = self.frag_id;
        if next_hop.is_ipv6() {
            self.frag_id = id.wrapping_add(1);
        }
        let mut scratch = std::mem::take(&mut self.frag_scratch);
        let mut sent = true;
        let r = {
            let mut emit = |f: &[u8]| sent &= self.send_ip(ifindex, next_hop, f.to_vec(), ms);
            match next_hop {
                IpAddr::V4(_) => lvs_fwd::fragment_ipv4(frame, mtu, &mut scratch, &mut emit),
                IpAddr::V6(_) => lvs_fwd::fragment_ipv6(frame, mtu, id, &mut scratch, &mut emit),
            }
        };
        self.frag_scratch = scratch;
        match r {
            Ok(n) => {
                if n > 1 {
                    self.stats.refragmented += 1;
                }
                if sent {
                    Ok(())
                } else {
                    Err(EngineDrop::NeighbourUnresolved)
                }
            }
            Err(e) => Err(EngineDrop::CannotFragment(e)),
        }
    }

    /// The interface toward `dst` for the director's own packets: the one with a subnet
    /// holding it (or holding the gateway), else the server side.
    fn if_for(&self, dst: IpAddr) -> u32 {
        let IpAddr::V4(d) = dst else {
            return self.side_if(Side::Server);
        };
        let holds = |ifindex: u32, ip: Ipv4Addr| {
            self.host.interface(ifindex).is_some_and(|i| {
                i.addrs()
                    .iter()
                    .any(|a| a.prefix_len < 32 && a.contains(ip))
            })
        };
        let server = self.side_if(Side::Server);
        for ip in std::iter::once(d).chain(self.cfg.gateway) {
            if holds(IF_CLIENT, ip) {
                return IF_CLIENT;
            }
            if holds(server, ip) {
                return server;
            }
        }
        server
    }

    /// The next hop toward `dst` out of `ifindex`: `dst` itself when it is inside a subnet of
    /// that interface, else the gateway.
    fn next_hop(&self, ifindex: u32, dst: IpAddr) -> IpAddr {
        let IpAddr::V4(d) = dst else { return dst };
        let onlink = self
            .host
            .interface(ifindex)
            .is_some_and(|i| i.addrs().iter().any(|a| a.prefix_len < 32 && a.contains(d)));
        match (onlink, self.cfg.gateway) {
            (false, Some(gw)) => IpAddr::V4(gw),
            _ => dst,
        }
    }

    /// Send an IP frame (MACs still to write) toward `dst`. False when it was dropped for an
    /// unresolved next hop.
    fn send_ip(&mut self, ifindex: u32, dst: IpAddr, pkt: Vec<u8>, ms: u64) -> bool {
        let nh = self.next_hop(ifindex, dst);
        match self.cfg.neigh_mode {
            NeighMode::Static => match self.neigh.lookup(ifindex, nh) {
                Some((mac, _)) => {
                    self.emit_to(ifindex, mac, pkt);
                    true
                }
                None => false,
            },
            NeighMode::Resolve => match self.neigh.resolve(ms, ifindex, nh, None, pkt) {
                Resolved::Ready { mac, packet } => {
                    self.emit_to(ifindex, mac, packet);
                    true
                }
                Resolved::Queued => true,
                Resolved::Dropped(_) => false,
            },
        }
    }

    fn emit_to(&mut self, ifindex: u32, mac: MacAddr, mut pkt: Vec<u8>) {
        let _ = lvs_fwd::set_macs(&mut pkt, mac.0, self.cfg.mac.0);
        self.push(ifindex, pkt);
    }

    fn push(&mut self, ifindex: u32, frame: Vec<u8>) {
        self.stats.tx += 1;
        self.out.push_back((ifindex, frame));
    }

    /// ARP requests the neighbour table asks for, frames it released, failures it reports.
    fn drain_neigh(&mut self, _ms: u64) {
        while let Some(s) = self.neigh.poll_transmit() {
            let IpAddr::V4(target) = s.target else {
                continue;
            };
            let src = self.arp_source(s.ifindex, target);
            let req = ArpFrame::request(self.cfg.mac, src, target, s.unicast_to);
            self.stats.arp_requests += 1;
            self.push(s.ifindex, req.to_bytes().to_vec());
        }
        while let Some(r) = self.neigh.poll_released() {
            self.emit_to(r.ifindex, r.mac, r.packet);
        }
        while let Some(ev) = self.neigh.poll_event() {
            tracing::warn!(?ev, "neighbour resolution failed");
        }
    }

    /// Sender IP of an ARP request for `target` (arp_announce 2 style): an address of the
    /// interface whose subnet holds the target, else its first address, else any DIP.
    fn arp_source(&self, ifindex: u32, target: Ipv4Addr) -> Ipv4Addr {
        let addrs = self
            .host
            .interface(ifindex)
            .map(|i| i.addrs())
            .unwrap_or(&[]);
        addrs
            .iter()
            .find(|a| a.prefix_len < 32 && a.contains(target))
            .or_else(|| addrs.iter().find(|a| a.prefix_len < 32))
            .or_else(|| addrs.first())
            .map_or(Ipv4Addr::UNSPECIFIED, |a| a.local)
    }

    /// Runs the director's and the neighbour table's timers due at `now`.
    pub fn handle_timeout(&mut self, now: Instant) {
        if self.director.poll_timeout().is_some_and(|t| t <= now) {
            self.director.handle_timeout(now);
        }
        let ms = ms_since(self.epoch, now);
        // ICMP errors the timers produced (fragment reassembly time exceeded), toward the
        // fragments' source.
        while let Some(e) = self.director.poll_icmp() {
            let out_if = self.side_if(e.side);
            if self.send_ip(out_if, e.next_hop, e.frame, ms) {
                self.stats.icmp_sent += 1;
            }
        }
        if self.neigh.poll_timeout().is_some_and(|t| t <= ms) {
            self.neigh.handle_timeout(ms);
        }
        self.drain_neigh(ms);
        if self
            .local
            .as_mut()
            .is_some_and(|l| l.poll_at(now).is_some_and(|t| t <= now))
        {
            self.poll_local(now);
            self.drain_neigh(ms);
        }
    }

    /// When [`Engine::handle_timeout`] must next run.
    pub fn poll_timeout(&mut self, now: Instant) -> Option<Instant> {
        let n = self
            .neigh
            .poll_timeout()
            .map(|ms| self.epoch + Duration::from_millis(ms));
        let l = self.local.as_mut().and_then(|l| l.poll_at(now));
        [self.director.poll_timeout(), n, l]
            .into_iter()
            .flatten()
            .min()
    }

    /// The real server and state of the connection a frame belongs to, looked up by its
    /// addresses as received (inbound: client -> VIP; reply: RIP -> CIP or LIP). For
    /// `lvs-replay`'s verdict lines. `None` when the frame is not TCP/UDP/SCTP over IP or no
    /// connection matches.
    pub fn conn_of(&self, frame: &[u8]) -> Option<(SocketAddr, &'static str)> {
        let (proto, src, sport, dst, dport) = five_tuple(frame)?;
        let t = self.director.conn_table();
        let id = t
            .lookup_in(proto, src, sport, dst, dport)
            .or_else(|| t.lookup_out(proto, src, sport, dst, dport))?;
        let c = t.get(id)?;
        Some((
            SocketAddr::new(c.daddr, c.dport),
            lvs_conn::proto::state_name(c.protocol, c.state, false),
        ))
    }
}

/// (protocol, source, source port, destination, destination port) of a TCP/UDP/SCTP frame.
pub fn five_tuple(frame: &[u8]) -> Option<(u8, IpAddr, u16, IpAddr, u16)> {
    use etherparse::{NetSlice, SlicedPacket, TransportSlice};
    let p = SlicedPacket::from_ethernet(frame).ok()?;
    let (src, dst, proto) = match p.net? {
        NetSlice::Ipv4(h) => (
            IpAddr::V4(h.header().source_addr()),
            IpAddr::V4(h.header().destination_addr()),
            h.header().protocol().0,
        ),
        NetSlice::Ipv6(h) => (
            IpAddr::V6(h.header().source_addr()),
            IpAddr::V6(h.header().destination_addr()),
            h.payload().ip_number.0,
        ),
        NetSlice::Arp(_) => return None,
    };
    let (sport, dport) = match p.transport? {
        TransportSlice::Tcp(t) => (t.source_port(), t.destination_port()),
        TransportSlice::Udp(u) => (u.source_port(), u.destination_port()),
        _ => return None,
    };
    Some((proto, src, sport, dst, dport))
}

/// Parses `IP/PREFIX` (IPv4).
///
/// # Errors
/// A message naming the bad text.
pub fn parse_cidr(s: &str) -> Result<(Ipv4Addr, u8), String> {
    let (ip, p) = s
        .split_once('/')
        .ok_or_else(|| format!("{s}: expected IP/PREFIX"))?;
    let ip: Ipv4Addr = ip.parse().map_err(|_| format!("{s}: bad IPv4 address"))?;
    let p: u8 = p
        .parse()
        .ok()
        .filter(|p| *p <= 32)
        .ok_or_else(|| format!("{s}: bad prefix length"))?;
    Ok((ip, p))
}
