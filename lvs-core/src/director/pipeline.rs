//! The per-packet path: ip_vs_core.c `ip_vs_in` (client -> VIP), `ip_vs_out` (NAT / FULLNAT
//! replies), `ip_vs_in_icmp` / `ip_vs_out_icmp` (ICMP errors about balanced flows),
//! `ip_vs_schedule` / `ip_vs_sched_persist` (new connections).

use std::net::IpAddr;
use std::time::Instant;

use lvs_conn::proto::ipproto;
use lvs_conn::{
    ConnError, ConnId, ConnParams, Direction, FlowKey, FlowMatch, FwdMethod, L4Info, NodestVerdict,
    ReuseVerdict, SctpEvent, TemplateKey, template_dest_usable,
};
use lvs_fwd::tun::{
    EncapMeta, GueCsum, TunAddrs, TunType, TunnelConfig, XmitOutcome, XmitParams, tunnel_xmit,
};
use lvs_fwd::{FlowTuple, FwdError, IcmpErrorView, Outcome, Parsed, Transport, tcp_flags};
use lvs_sched::PacketInfo;

use super::{Director, fwd_of, laddr};
use crate::ipvsadm::Stats;
use crate::service::{ForwardMethod, TunnelCsum, TunnelKind};

/// Frames per chunk of [`Director::process_batch`]: parsed together, their connection
/// lookups walked together (lvs-conn's batch walk takes 32 keys per round).
pub const PROCESS_BATCH: usize = 32;

/// One chunk of [`Director::process_batch`] between its parse and its processing: each
/// frame's parse result, the flows to look up and which flow each frame has.
pub(crate) struct BatchChunk {
    /// lvs-fwd's parse of each frame, kept as returned (a frame range outside its buffer is
    /// a `Truncated` error: a malformed drop, as in `process`).
    parsed: [Result<Parsed, FwdError>; PROCESS_BATCH],
    keys: [FlowKey; PROCESS_BATCH],
    /// `keys` index of each frame's flow (`usize::MAX`: none).
    key_of: [usize; PROCESS_BATCH],
    /// Flows in `keys`.
    n: usize,
}

impl BatchChunk {
    pub(crate) fn new() -> Self {
        BatchChunk {
            parsed: [Err(FwdError::Truncated { needed: 0, got: 0 }); PROCESS_BATCH],
            keys: [FlowKey {
                protocol: 0,
                saddr: IpAddr::V4(std::net::Ipv4Addr::UNSPECIFIED),
                sport: 0,
                daddr: IpAddr::V4(std::net::Ipv4Addr::UNSPECIFIED),
                dport: 0,
            }; PROCESS_BATCH],
            key_of: [usize::MAX; PROCESS_BATCH],
            n: 0,
        }
    }
}

/// Which side of a two-legged director a frame leaves by.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Side {
    /// Toward the clients (replies, ICMP errors for clients).
    Client,
    /// Toward the real servers (inbound packets).
    Server,
}

/// Per-packet metadata from the caller.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct PacketMeta {
    /// The packet's netfilter mark (`skb->mark`, set by the caller's classifier, e.g. an
    /// iptables `-j MARK` rule); 0 for none. Only fwmark services (`-f`) read it.
    pub fwmark: u32,
}

/// Why a packet was dropped (counted per reason, [`Director::drops`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u8)]
#[non_exhaustive]
pub enum DropReason {
    /// The frame range is outside the buffer or the IP / transport headers do not parse.
    Malformed = 0,
    /// An IP fragment of a balanced flow the reassembler refused (malformed, over
    /// `ipfrag_high_thresh`), or whose queue it dropped (overlap, inconsistent lengths, a
    /// datagram above 65535 bytes); or a completed datagram that does not fit the caller's
    /// buffer from `start` (pass buffers of 64 KiB plus headroom to get reassembly).
    Fragment = 1,
    /// The virtual service has no usable real server for a new connection (its scheduler found
    /// none: every real server has weight 0, is overloaded or removed; or a non-persistent
    /// port-zero service got a packet for another port). As the kernel's `ip_vs_leave` does,
    /// the director answers with an ICMP / ICMPv6 port unreachable from the VIP
    /// ([`Verdict::Icmp`]) when there is room and RFC 1122 3.2.2 allows one, else plainly
    /// drops; the error is rate limited ([`DropReason::IcmpRateLimited`]).
    NoRealServer = 2,
    /// TTL / hop limit exhausted (an ICMP time exceeded is returned when there is room and
    /// the rate limiter allows it, else [`DropReason::IcmpRateLimited`] is counted instead).
    Ttl = 3,
    /// The connection table is full.
    TableFull = 4,
    /// The connection's real server is no longer available (deleted or down) and
    /// `expire_nodest_conn` is off, or the packet could not be rescheduled.
    NoDest = 5,
    /// FULLNAT: no free (LIP, lport) toward the real server, or no local address of its family.
    NoLocalPort = 6,
    /// The packet does not fit the route toward the real server: the tunnel MTU budget (TUN),
    /// or the route MTU for DR / NAT / FULLNAT (`ensure_mtu_is_adequate`; IPv4 with DF, any
    /// IPv6). ICMP fragmentation needed / packet too big is returned when there is room
    /// (never rate limited with the default ratemasks).
    TooBig = 7,
    /// The rewrite refused the packet (e.g. no headroom for TUN, unsupported header).
    Rewrite = 8,
    /// An ICMP error about one of our tunnel packets that is not relayed to the client
    /// (`ip_vs_in_icmp` consumes it): fragmentation needed about a client packet without DF
    /// (the client does not do path MTU discovery), an error `icmp_send` would not send
    /// (RFC 1122 3.2.2), or no room to build the relay. A relayed one is a
    /// [`Verdict::Transmit`] toward the client.
    TunnelIcmp = 9,
    /// The packet was dropped for one of the reasons that answer with an ICMP error
    /// ([`DropReason::Ttl`], [`DropReason::TooBig`], [`DropReason::NoRealServer`]), or an ICMP
    /// error about one of our tunnel packets was to be relayed to the client, or an IP
    /// reassembly timed out, and the error was not sent because the kernel's ICMP rate limits
    /// refused it (net/ipv4/icmp.c `icmpv4_xrlim_allow` / `icmp_global_allow`, net/ipv6/icmp.c
    /// `icmpv6_xrlim_allow`: [`super::DirectorConfig::icmp_ratelimit`] and the other
    /// `icmp_*` fields), or (reassembly timeouts only) [`super::ICMP_QUEUE_MAX`] errors were
    /// already waiting for [`Director::poll_icmp`]. Counted instead of the packet's own
    /// reason.
    IcmpRateLimited = 10,
}

impl DropReason {
    /// Number of reasons (size of [`Director::drop_counts`]).
    pub const COUNT: usize = 11;
    /// Every reason, in counter order.
    pub const ALL: [DropReason; DropReason::COUNT] = [
        DropReason::Malformed,
        DropReason::Fragment,
        DropReason::NoRealServer,
        DropReason::Ttl,
        DropReason::TableFull,
        DropReason::NoDest,
        DropReason::NoLocalPort,
        DropReason::TooBig,
        DropReason::Rewrite,
        DropReason::TunnelIcmp,
        DropReason::IcmpRateLimited,
    ];
}

/// What the caller does with a processed frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[must_use]
pub enum Verdict {
    /// Send `buf[start..start + len]` (an Ethernet frame, checksums valid, TTL decremented)
    /// out of `side` toward `next_hop` (the RIP, or the client address for replies): resolve
    /// its MAC and write both MACs with [`lvs_fwd::set_macs`]. For TUN the frame is the
    /// encapsulated packet (the range then starts in the headroom); an ICMP error about one
    /// of our tunnel packets, relayed to the client, is a new frame after the original (or in
    /// the headroom) whose MACs are the received ones until the caller writes them.
    Transmit {
        /// IP to resolve: RIP (inbound) or client address (replies, ICMP errors to clients).
        next_hop: IpAddr,
        /// Which side the frame leaves by.
        side: Side,
        /// Start of the frame in the buffer.
        start: usize,
        /// Frame length in bytes.
        len: usize,
    },
    /// Not a balanced flow (unknown VIP:port, non-IP, a packet the protocol does not let
    /// start a connection): deliver to the host stack unchanged.
    Local,
    /// The packet was dropped and the director generated an ICMP error for its sender in
    /// `buf[start..start + len]` (an Ethernet frame with the MACs swapped: send it back out
    /// of the interface the packet came in by). `reason` is counted as a drop.
    Icmp {
        /// Start of the ICMP error frame in the buffer (after or before the original frame).
        start: usize,
        /// Its length in bytes.
        len: usize,
        /// Why the packet was dropped: [`DropReason::Ttl`] (ICMP time exceeded),
        /// [`DropReason::TooBig`] (fragmentation needed / packet too big) or
        /// [`DropReason::NoRealServer`] (port unreachable). The error passed the rate
        /// limiter; one it refused is [`Verdict::Drop`] of [`DropReason::IcmpRateLimited`].
        reason: DropReason,
    },
    /// Dropped, counted under this reason.
    Drop(DropReason),
    /// An IP fragment of a balanced flow (addressed to a VIP or to a fwmark service, or sent by
    /// a RIP) kept for reassembly: the director owns its bytes now (the kernel's
    /// `NF_STOLEN`); do nothing with the frame. The fragment that completes the datagram gets
    /// the verdict of the whole datagram, written over its buffer from `start`.
    Held,
    /// A reassembled datagram that is not a balanced flow: deliver `buf[start..start + len]`
    /// (the whole datagram in one frame, written over the completing fragment's buffer) to the
    /// host stack; its fragments were [`Verdict::Held`].
    LocalDatagram {
        /// Start of the frame in the buffer.
        start: usize,
        /// Its length in bytes.
        len: usize,
    },
}

/// Where a connection's packets go: forwarding method and real-server endpoint.
#[derive(Clone, Copy)]
struct Target {
    fwd: ForwardMethod,
    rip: IpAddr,
    rport: u16,
    local: Option<(IpAddr, u16)>,
}

fn l4_info(frame: &[u8], p: &Parsed) -> L4Info {
    match p.transport() {
        Transport::Tcp { flags, .. } => L4Info::Tcp { flags },
        Transport::Udp { .. } => L4Info::Udp,
        Transport::Sctp { .. } => {
            let (first, second) = sctp_chunks(frame, p);
            L4Info::Sctp {
                event: SctpEvent::from_chunks(first.unwrap_or(0), second),
            }
        }
        _ => L4Info::Other,
    }
}

/// Parse a frame for the pipeline: a frame of an EtherType lvs-fwd does not handle (not
/// IPv4 / IPv6) goes to the host stack ([`Verdict::Local`]); one that does not parse is a
/// malformed drop.
fn parse_frame(frame: &[u8]) -> Result<Parsed, Verdict> {
    lvs_fwd::parse(frame).map_err(|e| parse_verdict(&e))
}

/// The verdict for a frame lvs-fwd does not parse (see [`parse_frame`]).
fn parse_verdict(e: &FwdError) -> Verdict {
    match e {
        FwdError::UnsupportedEtherType(_) => Verdict::Local,
        _ => Verdict::Drop(DropReason::Malformed),
    }
}

/// Types of the first two SCTP chunks (RFC 9260 section 3.2).
fn sctp_chunks(frame: &[u8], p: &Parsed) -> (Option<u8>, Option<u8>) {
    let l4 = p.l4_offset();
    let first = frame.get(l4 + 12).copied();
    let len = match (frame.get(l4 + 14), frame.get(l4 + 15)) {
        (Some(&a), Some(&b)) => usize::from(u16::from_be_bytes([a, b])),
        _ => return (first, None),
    };
    let next = l4 + 12 + ((len + 3) & !3);
    let second = if len >= 4 && next < p.end() {
        frame.get(next).copied()
    } else {
        None
    };
    (first, second)
}

/// SCTP chunk type INIT.
const SCTP_CID_INIT: u8 = 1;

/// `is_new_conn()` (ip_vs_core.c): TCP SYN, SCTP INIT.
fn is_new_conn(frame: &[u8], p: &Parsed) -> bool {
    match p.transport() {
        Transport::Tcp { flags, .. } => flags & tcp_flags::SYN != 0,
        Transport::Sctp { .. } => sctp_chunks(frame, p).0 == Some(SCTP_CID_INIT),
        _ => false,
    }
}

pub(super) fn add_stats(s: &mut Stats, dir: Direction, bytes: u64) {
    match dir {
        Direction::Input => {
            s.inpkts = s.inpkts.wrapping_add(1);
            s.inbytes = s.inbytes.wrapping_add(bytes);
        }
        Direction::Output => {
            s.outpkts = s.outpkts.wrapping_add(1);
            s.outbytes = s.outbytes.wrapping_add(bytes);
        }
    }
}

fn tun_type(k: &TunnelKind) -> TunType {
    match *k {
        TunnelKind::Ipip => TunType::Ipip,
        TunnelKind::Gue { port, csum } => TunType::Gue {
            port,
            csum: match csum {
                TunnelCsum::NoCsum => GueCsum::NoCsum,
                TunnelCsum::Csum => GueCsum::Csum,
                TunnelCsum::RemCsum => GueCsum::RemCsum,
            },
        },
        TunnelKind::Gre { csum } => TunType::Gre {
            csum: csum != TunnelCsum::NoCsum,
        },
    }
}

fn flow_hash(seed: u64, a: IpAddr) -> u64 {
    let bits: u128 = match a {
        IpAddr::V4(v) => u128::from(v.to_bits()),
        IpAddr::V6(v) => v.to_bits(),
    };
    let mut h = seed ^ (bits as u64) ^ ((bits >> 64) as u64).rotate_left(29);
    h ^= h >> 33;
    h = h.wrapping_mul(0xff51_afd7_ed55_8ccd);
    h ^= h >> 33;
    h
}

pub(crate) fn steer(d: &Director, frame: &[u8], workers: usize) -> usize {
    if workers <= 1 {
        return 0;
    }
    let Ok(p) = lvs_fwd::parse(frame) else {
        return 0;
    };
    let by_client = |a: IpAddr| (flow_hash(d.cfg.seed, a) % workers as u64) as usize;
    if let Some(client) = d.tunnel_icmp_client(frame, &p) {
        // An error about one of our tunnel packets goes where its client's flow went.
        return by_client(client);
    }
    let (src, sport, dst, dport, swapped) = if p.is_icmp_error() {
        match lvs_fwd::parse_icmp_error(frame, &p) {
            // The quoted packet travels the other way: its destination is our sender.
            Ok(e) => {
                let f = e.inner_flow();
                (f.dst, f.dst_port, f.src, f.src_port, true)
            }
            Err(_) => return by_client(p.src()),
        }
    } else {
        match p.flow() {
            Some(f) => (f.src, f.src_port, f.dst, f.dst_port, false),
            None => (p.src(), 0, p.dst(), 0, false),
        }
    };
    let _ = swapped;
    if d.laddrs.contains(&dst) {
        usize::from(dport) % workers
    } else if d.vips.contains_key(&dst) || !d.rips.contains(&src) {
        by_client(src)
    } else {
        let _ = sport;
        by_client(dst)
    }
}

impl Director {
    /// Process one Ethernet frame `buf[start..start + len]` received at `now` (see the
    /// module docs for headroom and tailroom) and return what to do with it. Inbound client
    /// packets are looked up, scheduled when the protocol allows a new connection (TCP SYN
    /// without RST, or any non-RST with `sloppy_tcp`; SCTP INIT, or any with `sloppy_sctp`;
    /// any UDP), and rewritten by forwarding method; NAT / FULLNAT replies are rewritten back;
    /// ICMP errors about balanced flows follow their flow. Never panics; a malformed frame is
    /// a counted drop.
    pub fn process(
        &mut self,
        buf: &mut [u8],
        start: usize,
        len: usize,
        meta: &PacketMeta,
        now: Instant,
    ) -> Verdict {
        let v = self.process_inner(buf, start, len, meta, now);
        self.count(buf, v, now)
    }

    /// [`Director::process`] over a batch: `frames[i]` is `(start, len)` of frame i in
    /// `bufs[i]`; verdicts are written to `verdicts[i]` (the shortest of the three slices
    /// bounds the batch). Returns the number processed.
    ///
    /// Same verdicts and side effects as calling `process` frame by frame, in order, but
    /// faster: each chunk of up to [`PROCESS_BATCH`] frames is parsed once, its connection
    /// lookups run together ([`lvs_conn::ConnTable::lookup_flows_batch`], so their cache
    /// misses overlap), and each frame then uses its lookup result unless an earlier frame
    /// of the chunk inserted or removed a connection (the table's
    /// [`lvs_conn::ConnTable::index_epoch`] changed), in which case it looks up again.
    /// Established TCP / UDP packets to an available DR or NAT real server take a direct
    /// path with the same effects, as do TCP / UDP NAT and FULLNAT replies to `out_reply`.
    pub fn process_batch(
        &mut self,
        bufs: &mut [&mut [u8]],
        frames: &[(usize, usize)],
        meta: &[PacketMeta],
        now: Instant,
        verdicts: &mut [Verdict],
    ) -> usize {
        let n = bufs
            .len()
            .min(frames.len())
            .min(meta.len())
            .min(verdicts.len());
        let (Some(bufs), Some(frames), Some(meta), Some(verdicts)) = (
            bufs.get_mut(..n),
            frames.get(..n),
            meta.get(..n),
            verdicts.get_mut(..n),
        ) else {
            return 0;
        };
        // The chunk buffer lives in `self` between calls; taken out for the call so `self`
        // stays borrowable, put back at the end.
        let mut cur = self
            .batch
            .take()
            .unwrap_or_else(|| Box::new(BatchChunk::new()));
        let mut found = [FlowMatch::None; PROCESS_BATCH];
        for c in 0..n.div_ceil(PROCESS_BATCH) {
            let base = c * PROCESS_BATCH;
            // Parse every frame of the chunk once; collect the flows to look up, and look
            // them up together.
            self.parse_chunk(bufs, frames, base, &mut cur);
            let epoch = self.table.index_epoch();
            if let (Some(keys), Some(found)) = (cur.keys.get(..cur.n), found.get_mut(..cur.n)) {
                self.table.lookup_flows_batch(keys, found);
            }
            let end = (base + PROCESS_BATCH).min(n);
            for i in base..end {
                let j = i - base;
                let (Some(buf), Some(&(s, l)), Some(m), Some(p)) = (
                    bufs.get_mut(i),
                    frames.get(i),
                    meta.get(i),
                    cur.parsed.get(j),
                ) else {
                    break;
                };
                let hint = cur
                    .key_of
                    .get(j)
                    .and_then(|&k| found.get(k))
                    .copied()
                    .filter(|_| self.table.index_epoch() == epoch);
                let r = match p {
                    // Parsed, so `s + l` did not overflow and is in the buffer.
                    Ok(p) => {
                        let e = s.saturating_add(l);
                        let fast = match hint {
                            Some(FlowMatch::Inbound(id)) => {
                                self.established_in_fast(buf, s, e, p, id, now)
                            }
                            Some(FlowMatch::Reply(id)) => self.reply_fast(buf, s, e, p, id, now),
                            _ => None,
                        };
                        match fast {
                            Some(v) => v,
                            None => self.process_parsed(buf, s, e, p, hint, m, now),
                        }
                    }
                    Err(e) => parse_verdict(e),
                };
                if let Some(v) = verdicts.get_mut(i) {
                    *v = self.count(buf, r, now);
                }
            }
        }
        self.batch = Some(cur);
        n
    }

    /// Parse the frames `from..from + PROCESS_BATCH` of a batch into `out` and collect their
    /// flows to look up.
    fn parse_chunk(
        &self,
        bufs: &[&mut [u8]],
        frames: &[(usize, usize)],
        from: usize,
        out: &mut BatchChunk,
    ) {
        out.n = 0;
        let to = (from + PROCESS_BATCH).min(bufs.len()).min(frames.len());
        for i in from..to {
            let j = i - from;
            let (Some(buf), Some(&(s, l)), Some(p), Some(ko)) = (
                bufs.get(i),
                frames.get(i),
                out.parsed.get_mut(j),
                out.key_of.get_mut(j),
            ) else {
                break;
            };
            *ko = usize::MAX;
            let Some(frame) = s.checked_add(l).and_then(|e| buf.get(s..e)) else {
                *p = Err(FwdError::Truncated {
                    needed: s.saturating_add(l),
                    got: buf.len(),
                });
                continue;
            };
            // Written straight into the chunk (no temporary to copy).
            *p = lvs_fwd::parse(frame);
            let Ok(pp) = p else {
                continue;
            };
            if pp.is_icmp_error() {
                continue;
            }
            if let (Some((sport, dport)), Some(slot)) = (pp.ports(), out.keys.get_mut(out.n)) {
                *slot = FlowKey {
                    protocol: pp.protocol(),
                    saddr: pp.src(),
                    sport,
                    daddr: pp.dst(),
                    dport,
                };
                *ko = out.n;
                out.n += 1;
            }
        }
    }

    /// The common case of [`Director::process_batch`] in one place: a TCP or UDP packet of an
    /// established inbound connection `id` (found by the batch lookup at an unchanged index
    /// epoch) whose real server is available and forwards by DR or NAT, and that fits the
    /// route MTU. It does exactly what `process_parsed` -> `in_established` -> `xmit_in` do
    /// for such a packet (`ip_vs_in` -> `ip_vs_set_state` -> `ip_vs_dr_xmit` /
    /// `ip_vs_nat_xmit`), without their generality. `None` (with nothing changed) sends the
    /// frame down the general path: another protocol, a fragment, a SYN under
    /// `conn_reuse_mode`, no or an unavailable real server, TUN or FULLNAT, a packet too big.
    #[inline(always)]
    fn established_in_fast(
        &mut self,
        buf: &mut [u8],
        start: usize,
        end: usize,
        p: &Parsed,
        id: ConnId,
        now: Instant,
    ) -> Option<Verdict> {
        let l4 = Self::fast_l4(p)?;
        if let L4Info::Tcp { flags } = l4
            && flags & tcp_flags::SYN != 0
            && self.cfg.sysctls.conn_reuse_mode != 0
        {
            return None;
        }
        let d = self.table.dest_of(id)?.0;
        let dest = self.dest(d)?;
        if !dest.available {
            return None;
        }
        let (fwd, rip, port) = (
            dest.config.forward,
            dest.config.addr.ip(),
            dest.config.addr.port(),
        );
        if !matches!(fwd, ForwardMethod::Route | ForwardMethod::Masq)
            || p.end().saturating_sub(p.l3_offset()) > self.route_mtu(rip, now) as usize
        {
            return None;
        }
        let rport = if port == 0 { p.flow()?.dst_port } else { port };
        let frame = buf.get_mut(start..end)?;
        self.account(id, Some(d), Direction::Input, l4, p, now);
        let r = if fwd == ForwardMethod::Route {
            lvs_fwd::decrement_ttl(frame, p)
        } else {
            lvs_fwd::nat_in(frame, p, rip, rport)
        };
        Some(self.to_server(r, buf, start, end, p, rip))
    }

    /// The verdict for an inbound packet rewritten toward `rip` (`r`: the rewrite's result).
    #[inline(always)]
    fn to_server(
        &self,
        r: Result<Outcome, FwdError>,
        buf: &mut [u8],
        start: usize,
        end: usize,
        p: &Parsed,
        rip: IpAddr,
    ) -> Verdict {
        match r {
            Ok(Outcome::Forward) => Verdict::Transmit {
                next_hop: rip,
                side: Side::Server,
                start,
                len: end - start,
            },
            Ok(Outcome::TimeExceeded) => self.time_exceeded(buf, start, end, p),
            Err(FwdError::Fragment) => Verdict::Drop(DropReason::Fragment),
            Err(_) => Verdict::Drop(DropReason::Rewrite),
        }
    }

    /// A TCP or UDP reply of NAT / FULLNAT connection `id` found by the batch lookup goes
    /// straight to `out_reply`, as `process_parsed` would send it (`None`: the general path,
    /// for other protocols and fragments).
    #[inline(always)]
    fn reply_fast(
        &mut self,
        buf: &mut [u8],
        start: usize,
        end: usize,
        p: &Parsed,
        id: ConnId,
        now: Instant,
    ) -> Option<Verdict> {
        let l4 = Self::fast_l4(p)?;
        Some(self.out_reply(buf, start, end, p, id, l4, now))
    }

    /// What the direct paths of [`Director::process_batch`] take: the packet's TCP flags or
    /// UDP (as `l4_info` gives them), `None` for other protocols and for fragments (which
    /// go to the reassembler).
    #[inline(always)]
    fn fast_l4(p: &Parsed) -> Option<L4Info> {
        if p.fragment().is_some() {
            return None;
        }
        match p.transport() {
            Transport::Tcp { flags, .. } => Some(L4Info::Tcp { flags }),
            Transport::Udp { .. } => Some(L4Info::Udp),
            _ => None,
        }
    }

    /// Run an ICMP error verdict through the rate limiter, count a drop verdict
    /// ([`Director::drops`]) and pass the verdict on.
    #[inline]
    fn count(&mut self, buf: &[u8], v: Verdict, now: Instant) -> Verdict {
        let v = match v {
            Verdict::Icmp { .. } => self.limit_icmp(buf, v, now),
            v => v,
        };
        if let Verdict::Drop(r) | Verdict::Icmp { reason: r, .. } = v
            && let Some(c) = self.drops.get_mut(r as usize)
        {
            *c += 1;
        }
        v
    }

    fn process_inner(
        &mut self,
        buf: &mut [u8],
        start: usize,
        len: usize,
        meta: &PacketMeta,
        now: Instant,
    ) -> Verdict {
        let Some(end) = start.checked_add(len) else {
            return Verdict::Drop(DropReason::Malformed);
        };
        let Some(frame) = buf.get(start..end) else {
            return Verdict::Drop(DropReason::Malformed);
        };
        match parse_frame(frame) {
            Ok(p) => self.process_parsed(buf, start, end, &p, None, meta, now),
            Err(v) => v,
        }
    }

    /// The pipeline after parsing: `p` is `buf[start..end]` parsed; `found`, when given, is
    /// the exact result of the connection lookups for its flow (from a batch lookup at an
    /// unchanged index epoch).
    #[allow(clippy::too_many_arguments)]
    fn process_parsed(
        &mut self,
        buf: &mut [u8],
        start: usize,
        end: usize,
        p: &Parsed,
        found: Option<FlowMatch>,
        meta: &PacketMeta,
        now: Instant,
    ) -> Verdict {
        let Some(frame) = buf.get(start..end) else {
            return Verdict::Drop(DropReason::Malformed);
        };
        if p.fragment().is_some() {
            return self.fragment(buf, start, end, p, meta, now);
        }
        if p.is_icmp_error() {
            return self.icmp_error(buf, start, end, p, now);
        }
        let Some(flow) = p.flow() else {
            return Verdict::Local;
        };
        let l4 = l4_info(frame, p);
        let new_conn = is_new_conn(frame, p);
        let found = found.unwrap_or_else(|| {
            match self.table.lookup_in(
                flow.protocol,
                flow.src,
                flow.src_port,
                flow.dst,
                flow.dst_port,
            ) {
                Some(id) => FlowMatch::Inbound(id),
                None => match self.table.lookup_out(
                    flow.protocol,
                    flow.src,
                    flow.src_port,
                    flow.dst,
                    flow.dst_port,
                ) {
                    Some(id) => FlowMatch::Reply(id),
                    None => FlowMatch::None,
                },
            }
        });
        match found {
            FlowMatch::Inbound(id) => {
                return self.in_established(buf, start, end, p, &flow, id, l4, new_conn, meta, now);
            }
            FlowMatch::Reply(id) => return self.out_reply(buf, start, end, p, id, l4, now),
            FlowMatch::None => {}
        }
        let Some(si) = self.find_service(flow.protocol, flow.dst, flow.dst_port, meta.fwmark)
        else {
            return Verdict::Local;
        };
        self.schedule_new(buf, start, end, p, &flow, si, l4, now)
    }

    /// A fragment (`ip_vs_gather_frags`, after `nf_defrag_ipv4` / `nf_defrag_ipv6`): one
    /// addressed to a VIP or carrying the mark of a fwmark service, or sent by a RIP (a NAT /
    /// FULLNAT reply), goes to the reassembler; others go to the host stack. The fragment
    /// that completes a datagram is replaced in `buf` by the whole datagram, which then runs
    /// through the pipeline with a fresh connection lookup (never a batch lookup), its largest
    /// fragment size standing for its length in the MTU check.
    fn fragment(
        &mut self,
        buf: &mut [u8],
        start: usize,
        end: usize,
        p: &Parsed,
        meta: &PacketMeta,
        now: Instant,
    ) -> Verdict {
        let ours = self.vips.contains_key(&p.dst())
            || self.rips.contains(&p.src())
            || (meta.fwmark != 0 && self.by_mark.contains_key(&(meta.fwmark, !p.is_ipv4())));
        if !ours {
            return Verdict::Local;
        }
        let Some(frame) = buf.get(start..end) else {
            return Verdict::Drop(DropReason::Malformed);
        };
        let key = match self.defrag.insert(frame, p, now) {
            super::FragInsert::Held => return Verdict::Held,
            super::FragInsert::Dropped => return Verdict::Drop(DropReason::Fragment),
            super::FragInsert::Complete(k) => k,
        };
        let Some(r) = buf
            .get_mut(start..)
            .and_then(|out| self.defrag.take(&key, out))
        else {
            return Verdict::Drop(DropReason::Fragment);
        };
        let Some(dend) = start.checked_add(r.len) else {
            return Verdict::Drop(DropReason::Fragment);
        };
        let Some(Ok(dp)) = buf.get(start..dend).map(lvs_fwd::parse) else {
            return Verdict::Drop(DropReason::Malformed);
        };
        if dp.fragment().is_some() {
            return Verdict::Drop(DropReason::Fragment);
        }
        self.frag_max = Some(r.frag_max_size);
        let v = self.process_parsed(buf, start, dend, &dp, None, meta, now);
        self.frag_max = None;
        match v {
            Verdict::Local => Verdict::LocalDatagram { start, len: r.len },
            v => v,
        }
    }

    /// `ip_vs_service_find()`: fwmark first, then protocol + VIP:port, then VIP:0 (port-zero
    /// persistent services).
    pub(crate) fn find_service(
        &self,
        protocol: u8,
        vaddr: IpAddr,
        vport: u16,
        fwmark: u32,
    ) -> Option<u32> {
        if fwmark != 0
            && let Some(&i) = self.by_mark.get(&(fwmark, vaddr.is_ipv6()))
        {
            return Some(i);
        }
        if self.vips.is_empty() {
            return None;
        }
        let sa = std::net::SocketAddr::new(vaddr, vport);
        self.by_addr
            .get(&(protocol, sa))
            .or_else(|| {
                self.by_addr
                    .get(&(protocol, std::net::SocketAddr::new(vaddr, 0)))
            })
            .copied()
    }

    fn target_of(&self, id: ConnId, dest: Option<u32>, flow_dport: u16) -> Option<Target> {
        if let Some(d) = dest.and_then(|d| self.dest(d)) {
            let local = if d.config.forward == ForwardMethod::FullNat {
                self.table.addrs(id)?.local
            } else {
                None
            };
            let port = d.config.addr.port();
            return Some(Target {
                fwd: d.config.forward,
                rip: d.config.addr.ip(),
                rport: if port == 0 { flow_dport } else { port },
                local,
            });
        }
        // A synced entry without a real server here: its own fields.
        let v = self.table.addrs(id)?;
        let fwd = match v.fwd? {
            FwdMethod::Masq => ForwardMethod::Masq,
            FwdMethod::Tunnel => ForwardMethod::Tunnel(TunnelKind::Ipip),
            FwdMethod::FullNat => ForwardMethod::FullNat,
            _ => ForwardMethod::Route,
        };
        Some(Target {
            fwd,
            rip: v.daddr,
            rport: v.dport,
            local: v.local,
        })
    }

    #[allow(clippy::too_many_arguments)]
    fn in_established(
        &mut self,
        buf: &mut [u8],
        start: usize,
        end: usize,
        p: &Parsed,
        flow: &FlowTuple,
        id: ConnId,
        l4: L4Info,
        new_conn: bool,
        meta: &PacketMeta,
        now: Instant,
    ) -> Verdict {
        let dest = self.table.dest_of(id).map(|d| d.0);
        if self.cfg.sysctls.conn_reuse_mode != 0 && new_conn {
            let weight_zero = dest
                .and_then(|d| self.dest(d).map(|x| (d, x.svc)))
                .and_then(|(d, s)| {
                    self.svc(s)?
                        .sched
                        .dest(lvs_sched::DestId(d))
                        .map(|x| x.weight == 0)
                })
                .unwrap_or(false);
            if let Ok(ReuseVerdict::Reschedule(e)) =
                self.table.reuse_check(id, true, weight_zero, now)
            {
                if let Some(d) = e.and_then(|e| e.dest) {
                    self.dest_counters_changed(d.0);
                }
                return match self.find_service(flow.protocol, flow.dst, flow.dst_port, meta.fwmark)
                {
                    Some(si) => self.schedule_new(buf, start, end, p, flow, si, l4, now),
                    None => Verdict::Local,
                };
            }
        }
        let available = dest.is_none_or(|d| self.dest(d).is_some_and(|x| x.available));
        if !available {
            match self.table.nodest_check(id, false, now) {
                Ok(NodestVerdict::Expired(e)) => {
                    if let Some(d) = e.and_then(|e| e.dest) {
                        self.dest_counters_changed(d.0);
                    }
                    return match self.find_service(
                        flow.protocol,
                        flow.dst,
                        flow.dst_port,
                        meta.fwmark,
                    ) {
                        Some(si) => self.schedule_new(buf, start, end, p, flow, si, l4, now),
                        None => Verdict::Drop(DropReason::NoDest),
                    };
                }
                Ok(NodestVerdict::Forward) => {}
                _ => return Verdict::Drop(DropReason::NoDest),
            }
        }
        let Some(target) = self.target_of(id, dest, flow.dst_port) else {
            return Verdict::Drop(DropReason::NoDest);
        };
        self.account(id, dest, Direction::Input, l4, p, now);
        self.xmit_in(buf, start, end, p, &target, None, now)
    }

    /// Counters, state transition, scheduler view, sync, for one packet of connection `id`.
    #[inline(always)]
    fn account(
        &mut self,
        id: ConnId,
        dest: Option<u32>,
        dir: Direction,
        l4: L4Info,
        p: &Parsed,
        now: Instant,
    ) {
        self.account_with(id, dest, dir, l4, p, now, true);
    }

    /// [`Director::account`]; with `push` false the real server's counters are not handed
    /// to its scheduler here (the caller does it once for several changes).
    #[allow(clippy::too_many_arguments)]
    #[inline(always)]
    fn account_with(
        &mut self,
        id: ConnId,
        dest: Option<u32>,
        dir: Direction,
        l4: L4Info,
        p: &Parsed,
        now: Instant,
        push: bool,
    ) {
        let bytes = p.end().saturating_sub(p.l3_offset());
        let b32 = u32::try_from(bytes).unwrap_or(u32::MAX);
        if let Ok(o) = self.table.on_packet(id, dir, l4, b32, now)
            && push
            && o.old_state != o.new_state
            && let Some(d) = dest
        {
            self.dest_counters_changed(d);
        }
        add_stats(&mut self.stats, dir, bytes as u64);
        if let Some(d) = dest
            && let Some(Some(x)) = self.dests.get_mut(d as usize)
        {
            add_stats(&mut x.stats, dir, bytes as u64);
            let s = x.svc;
            if let Some(Some(svc)) = self.services.get_mut(s as usize) {
                add_stats(&mut svc.stats, dir, bytes as u64);
            }
        }
        if dir == Direction::Input && self.sync_master.is_some() {
            let q = &mut self.sync_queue;
            let mut n = 0u64;
            let _ = self
                .table
                .sync_after_input(id, &self.cfg.sysctls.sync, now, |c| {
                    // Bounded like the kernel's sync queue (sync_qlen_max): drop when full.
                    if q.len() < super::SYNC_QUEUE_MAX {
                        q.push(c);
                        n += 1;
                    }
                });
            self.sync_stats.queued += n;
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn schedule_new(
        &mut self,
        buf: &mut [u8],
        start: usize,
        end: usize,
        p: &Parsed,
        flow: &FlowTuple,
        si: u32,
        l4: L4Info,
        now: Instant,
    ) -> Verdict {
        // Which packets may create a connection (tcp_conn_schedule, sctp_conn_schedule,
        // udp_conn_schedule); the others continue to the host stack (NF_ACCEPT).
        let may = match l4 {
            L4Info::Tcp { flags } => {
                flags & tcp_flags::RST == 0
                    && (flags & tcp_flags::SYN != 0 || self.cfg.sysctls.sloppy_tcp)
            }
            L4Info::Sctp { .. } => {
                self.cfg.sysctls.sloppy_sctp
                    || buf
                        .get(start..end)
                        .is_some_and(|f| sctp_chunks(f, p).0 == Some(SCTP_CID_INIT))
            }
            L4Info::Udp => true,
            L4Info::Other => false,
        };
        if !may {
            return Verdict::Local;
        }
        // ip_vs_schedule: a non-persistent service scheduled only for its own port (*ignored
        // = 0, then ip_vs_leave); reachable with a port-zero service added without -p.
        if let Some(svc) = self.svc(si)
            && svc.persist.is_none()
            && let crate::service::ServiceKey::Addr { addr, .. } = svc.key
            && addr.port() != flow.dst_port
        {
            return self.no_real_server(buf, start, end, p, si, flow.dst_port);
        }
        let t = self.since_epoch(now);
        let eqt = self.cfg.sysctls.expire_quiescent_template;
        let Some(svc) = self.services.get(si as usize).and_then(Option::as_ref) else {
            return Verdict::Local;
        };
        let persist = svc.persist;
        let one_packet = svc.config.one_packet && flow.protocol == ipproto::UDP;
        let pkt = PacketInfo::new(flow.src, flow.src_port, flow.dst, flow.dst_port);
        // Persistence first (ip_vs_sched_persist).
        let mut template = None;
        let mut chosen = None;
        let mut tkey = None;
        if let Some((ps, _)) = persist
            && let Ok(key) =
                TemplateKey::for_packet(&ps, flow.protocol, flow.src, flow.dst, flow.dst_port)
        {
            tkey = Some(key);
            if let Some(tid) = self.table.lookup_template(&key) {
                let td = self.table.dest_of(tid).map(|d| d.0);
                let usable = td.is_some_and(|d| {
                    self.dest(d).is_some_and(|x| {
                        x.svc == si
                            && !x.deleted
                            && svc.sched.dest(lvs_sched::DestId(d)).is_some_and(|sd| {
                                template_dest_usable(
                                    x.available,
                                    u32::try_from(sd.weight).unwrap_or(0),
                                    eqt,
                                )
                            })
                    })
                });
                if self.table.check_template(tid, usable, now) == Ok(true) {
                    template = Some(tid);
                    chosen = td;
                }
            }
        }
        let dest = match chosen {
            Some(d) => d,
            None => {
                let Some(svc) = self.svc_mut(si) else {
                    return Verdict::Local;
                };
                match svc.sched.schedule(&pkt, t) {
                    Ok(d) => d.0,
                    // ip_vs_schedule / ip_vs_sched_persist "no dest found": *ignored = 0,
                    // ip_vs_leave answers with ICMP port unreachable.
                    Err(_) => {
                        return self.no_real_server(buf, start, end, p, si, flow.dst_port);
                    }
                }
            }
        };
        let Some(dc) = self.dest(dest).map(|d| d.config) else {
            return self.no_real_server(buf, start, end, p, si, flow.dst_port);
        };
        let rport = if dc.addr.port() == 0 {
            flow.dst_port
        } else {
            dc.addr.port()
        };
        let fwd = fwd_of(&dc.forward);
        if template.is_none()
            && let (Some(key), Some((_, timeout))) = (tkey, persist)
        {
            match self.table.insert_template(
                &key,
                lvs_conn::DestId(dest),
                dc.addr.ip(),
                rport,
                fwd,
                timeout,
                now,
            ) {
                Ok(tid) => template = Some(tid),
                Err(ConnError::TableFull) => return Verdict::Drop(DropReason::TableFull),
                Err(_) => return Verdict::Drop(DropReason::TableFull),
            }
            self.dest_counters_changed(dest);
        }
        let local = if dc.forward == ForwardMethod::FullNat {
            match laddr::alloc(self, si, flow.protocol, dc.addr.ip(), rport) {
                Some(l) => Some(l),
                None => return Verdict::Drop(DropReason::NoLocalPort),
            }
        } else {
            None
        };
        let target = Target {
            fwd: dc.forward,
            rip: dc.addr.ip(),
            rport,
            local,
        };
        let bytes = p.end().saturating_sub(p.l3_offset()) as u64;
        if one_packet {
            // ip_vs_schedule with IP_VS_CONN_F_ONE_PACKET: forwarded without an entry.
            self.stats.conns = self.stats.conns.wrapping_add(1);
            add_stats(&mut self.stats, Direction::Input, bytes);
            if let Some(Some(x)) = self.dests.get_mut(dest as usize) {
                x.stats.conns = x.stats.conns.wrapping_add(1);
                add_stats(&mut x.stats, Direction::Input, bytes);
            }
            if let Some(svc) = self.svc_mut(si) {
                svc.stats.conns = svc.stats.conns.wrapping_add(1);
                add_stats(&mut svc.stats, Direction::Input, bytes);
            }
            if let Some(tid) = template {
                let _ = self.table.release_unassured_template(tid);
                self.dest_counters_changed(dest);
            }
            return self.xmit_in(buf, start, end, p, &target, None, now);
        }
        let params = ConnParams {
            protocol: flow.protocol,
            caddr: flow.src,
            cport: flow.src_port,
            vaddr: flow.dst,
            vport: flow.dst_port,
            daddr: dc.addr.ip(),
            dport: rport,
            fwd,
            dest: Some(lvs_conn::DestId(dest)),
            local,
        };
        let id = match self.table.insert(&params, template, now) {
            Ok(id) => id,
            Err(ConnError::TableFull) => return Verdict::Drop(DropReason::TableFull),
            Err(ConnError::LocalPortInUse) => return Verdict::Drop(DropReason::NoLocalPort),
            Err(_) => return Verdict::Drop(DropReason::TableFull),
        };
        // ip_vs_conn_stats: a new connection.
        self.stats.conns = self.stats.conns.wrapping_add(1);
        if let Some(Some(x)) = self.dests.get_mut(dest as usize) {
            x.stats.conns = x.stats.conns.wrapping_add(1);
        }
        if let Some(svc) = self.svc_mut(si) {
            svc.stats.conns = svc.stats.conns.wrapping_add(1);
        }
        // The bind counted the connection inactive (ip_vs_bind_dest() with
        // IP_VS_CONN_F_INACTIVE) and its first state change may move it (TCP NONE -> SYN_RECV
        // makes it active, set_tcp_state()); no scheduling decision falls in between, so the
        // scheduler is handed both changes at once.
        self.account_with(id, Some(dest), Direction::Input, l4, p, now, false);
        self.dest_counters_changed(dest);
        self.xmit_in(buf, start, end, p, &target, None, now)
    }

    #[allow(clippy::too_many_arguments)]
    fn out_reply(
        &mut self,
        buf: &mut [u8],
        start: usize,
        end: usize,
        p: &Parsed,
        id: ConnId,
        l4: L4Info,
        now: Instant,
    ) -> Verdict {
        let Some(v) = self.table.addrs(id) else {
            return Verdict::Local;
        };
        let Some(frame) = buf.get_mut(start..end) else {
            return Verdict::Drop(DropReason::Malformed);
        };
        let r = match v.fwd {
            Some(FwdMethod::Masq) => lvs_fwd::nat_out(frame, p, v.vaddr, v.vport),
            Some(FwdMethod::FullNat) => {
                lvs_fwd::fullnat_out(frame, p, v.vaddr, v.vport, v.caddr, v.cport)
            }
            _ => return Verdict::Local,
        };
        match r {
            Ok(Outcome::Forward) => {
                self.account(id, v.dest.map(|d| d.0), Direction::Output, l4, p, now);
                Verdict::Transmit {
                    next_hop: v.caddr,
                    side: Side::Client,
                    start,
                    len: end - start,
                }
            }
            Ok(Outcome::TimeExceeded) => self.time_exceeded(buf, start, end, p),
            Err(FwdError::Fragment) => Verdict::Drop(DropReason::Fragment),
            Err(_) => Verdict::Drop(DropReason::Rewrite),
        }
    }

    /// Rewrite an inbound packet for `t` (or, with `icmp`, an ICMP error about the flow's
    /// reply, whose quoted packet is rewritten too) and build the verdict. At TTL 1 an ICMP
    /// error gets no time exceeded in turn (`time_exceeded` refuses it: a plain drop).
    #[allow(clippy::too_many_arguments)]
    fn xmit_in(
        &mut self,
        buf: &mut [u8],
        start: usize,
        end: usize,
        p: &Parsed,
        t: &Target,
        icmp: Option<&IcmpErrorView>,
        now: Instant,
    ) -> Verdict {
        if icmp.is_none()
            && !matches!(t.fwd, ForwardMethod::Tunnel(_))
            && let Some(v) = self.mtu_check(buf, start, end, p, t.rip, now)
        {
            return v;
        }
        let Some(frame) = buf.get_mut(start..end) else {
            return Verdict::Drop(DropReason::Malformed);
        };
        let r = match (t.fwd, icmp) {
            (ForwardMethod::Route, _) => lvs_fwd::decrement_ttl(frame, p),
            (ForwardMethod::Masq, None) => lvs_fwd::nat_in(frame, p, t.rip, t.rport),
            (ForwardMethod::Masq, Some(e)) => lvs_fwd::nat_icmp_in(frame, p, e, t.rip, t.rport),
            (ForwardMethod::FullNat, e) => match (t.local, e) {
                (Some((lip, lport)), None) => {
                    lvs_fwd::fullnat_in(frame, p, lip, lport, t.rip, t.rport)
                }
                (Some((lip, lport)), Some(e)) => {
                    lvs_fwd::fullnat_icmp_in(frame, p, e, lip, lport, t.rip, t.rport)
                }
                (None, _) => return Verdict::Drop(DropReason::NoLocalPort),
            },
            (ForwardMethod::Tunnel(k), _) => {
                return match lvs_fwd::decrement_ttl(frame, p) {
                    Ok(Outcome::Forward) => self.tunnel(buf, start, end, p, t.rip, &k, now),
                    Ok(Outcome::TimeExceeded) => self.time_exceeded(buf, start, end, p),
                    Err(_) => Verdict::Drop(DropReason::Malformed),
                };
            }
        };
        self.to_server(r, buf, start, end, p, t.rip)
    }

    /// TUN: encapsulate the IP packet in place (outer headers in the headroom) and put the
    /// Ethernet header back in front (`ip_vs_tunnel_xmit`). Called after the inner TTL / hop
    /// limit was decremented ([`Director::xmit_in`]): `__ip_vs_get_out_rt(_v6)` runs
    /// `decrement_ttl` before the MTU check (`ensure_mtu_is_adequate` / the tunnel budget),
    /// so a packet at TTL 1 gets time exceeded even when too big, and the fragmentation needed
    /// / packet too big built here quotes the packet with its TTL already decremented (and
    /// its IPv4 header checksum updated), exactly as the kernel's `icmp_send` sees it.
    ///
    /// The MTU checked is `dst_mtu()` of the route toward the RIP at `now`: a path MTU
    /// learned from an ICMP fragmentation needed about our tunnel packets while it lives
    /// ([`Director::pmtu`]), else [`super::DirectorConfig::tun_mtu`].
    #[allow(clippy::too_many_arguments)]
    fn tunnel(
        &mut self,
        buf: &mut [u8],
        start: usize,
        end: usize,
        p: &Parsed,
        rip: IpAddr,
        kind: &TunnelKind,
        now: Instant,
    ) -> Verdict {
        let l3 = p.l3_offset();
        let mut eth = [0u8; 18];
        let Some(hdr) = buf.get(start..start + l3) else {
            return Verdict::Drop(DropReason::Malformed);
        };
        let Some(e) = eth.get_mut(..l3) else {
            return Verdict::Drop(DropReason::Malformed);
        };
        e.copy_from_slice(hdr);
        let addrs = match rip {
            IpAddr::V4(dst) => TunAddrs::V4 {
                src: self.cfg.local_v4.unwrap_or(match p.dst() {
                    IpAddr::V4(a) => a,
                    IpAddr::V6(_) => return Verdict::Drop(DropReason::Rewrite),
                }),
                dst,
            },
            IpAddr::V6(dst) => TunAddrs::V6 {
                src: self.cfg.local_v6.unwrap_or(match p.dst() {
                    IpAddr::V6(a) => a,
                    IpAddr::V4(_) => return Verdict::Drop(DropReason::Rewrite),
                }),
                dst,
            },
        };
        let cfg = TunnelConfig::new(tun_type(kind), addrs);
        let meta = EncapMeta {
            flow_hash: flow_hash(self.cfg.seed, p.src()) as u32,
            ip_id: 0,
            partial_csum: None,
        };
        let params = XmitParams {
            egress_mtu: self.route_mtu(rip, now),
            reply_ttl: lvs_fwd::ICMP_TTL,
            reply_ip_id: 0,
        };
        let (main, tail) = buf.split_at_mut(end);
        let Some(icmp_out) = tail.get_mut(l3..) else {
            return Verdict::Drop(DropReason::TooBig);
        };
        let outer_type: u16 = if rip.is_ipv4() { 0x0800 } else { 0x86DD };
        match tunnel_xmit(main, start + l3, &cfg, &meta, &params, icmp_out) {
            Ok(XmitOutcome::Send(r)) | Ok(XmitOutcome::SendFragmented(r)) => {
                let Some(fs) = r.start.checked_sub(l3) else {
                    return Verdict::Drop(DropReason::Rewrite);
                };
                let Some(h) = main.get_mut(fs..r.start) else {
                    return Verdict::Drop(DropReason::Rewrite);
                };
                h.copy_from_slice(e_slice(&eth, l3));
                if let Some(t) = h.get_mut(l3 - 2..l3) {
                    t.copy_from_slice(&outer_type.to_be_bytes());
                }
                Verdict::Transmit {
                    next_hop: rip,
                    side: Side::Server,
                    start: fs,
                    len: r.end - fs,
                }
            }
            Ok(XmitOutcome::ReplyIcmp(n)) => {
                // Ethernet header back to the sender: MACs swapped.
                let Some(h) = tail.get_mut(..l3) else {
                    return Verdict::Drop(DropReason::TooBig);
                };
                h.copy_from_slice(e_slice(&eth, l3));
                swap_macs(h);
                let in_type: u16 = if p.is_ipv4() { 0x0800 } else { 0x86DD };
                if let Some(t) = h.get_mut(l3 - 2..l3) {
                    t.copy_from_slice(&in_type.to_be_bytes());
                }
                Verdict::Icmp {
                    start: end,
                    len: l3 + n,
                    reason: DropReason::TooBig,
                }
            }
            Ok(XmitOutcome::Drop) => Verdict::Drop(DropReason::TooBig),
            Err(_) => Verdict::Drop(DropReason::Rewrite),
        }
    }

    /// `ensure_mtu_is_adequate` (ip_vs_xmit.c) for DR, NAT and FULLNAT: a packet longer than
    /// the route toward the RIP ([`Director::pmtu`], else `tun_mtu`) is refused with ICMP
    /// fragmentation needed (IPv4 with DF) or ICMPv6 packet too big carrying that MTU, from
    /// the packet's destination (the VIP, which `icmp_send` keeps as source). As in
    /// `__ip_vs_get_out_rt`, the TTL / hop limit is decremented first, so the error quotes the
    /// decremented header, and a packet at TTL 1 gets time exceeded instead. An IPv4 packet
    /// without DF is forwarded as it is: the kernel fragments it on output, which is the
    /// caller's egress here. `None`: it fits.
    fn mtu_check(
        &self,
        buf: &mut [u8],
        start: usize,
        end: usize,
        p: &Parsed,
        rip: IpAddr,
        now: Instant,
    ) -> Option<Verdict> {
        let mtu = self.route_mtu(rip, now);
        // A reassembled datagram is checked by its largest fragment (`frag_max_size`): one
        // whose fragments each fit is forwarded whole for the caller to refragment.
        let len = self
            .frag_max
            .unwrap_or_else(|| p.end().saturating_sub(p.l3_offset()));
        if len <= mtu as usize {
            return None;
        }
        let frame = buf.get_mut(start..end)?;
        if p.is_ipv4() && frame.get(p.l3_offset() + 6).is_none_or(|f| f & 0x40 == 0) {
            return None;
        }
        match lvs_fwd::decrement_ttl(frame, p) {
            Ok(Outcome::Forward) => {}
            Ok(Outcome::TimeExceeded) => return Some(self.time_exceeded(buf, start, end, p)),
            Err(_) => return Some(Verdict::Drop(DropReason::Malformed)),
        }
        let src = p.dst();
        Some(
            match super::icmp::place_reply(buf, start, end, |f, out| {
                lvs_fwd::error_reply(f, p, src, lvs_fwd::ErrorReply::TooBig { mtu }, out).ok()
            }) {
                Some((start, len)) => Verdict::Icmp {
                    start,
                    len,
                    reason: DropReason::TooBig,
                },
                None => Verdict::Drop(DropReason::TooBig),
            },
        )
    }

    /// Build an ICMP time exceeded for the sender into the tailroom (or the headroom).
    fn time_exceeded(&self, buf: &mut [u8], start: usize, end: usize, p: &Parsed) -> Verdict {
        let src = match p.dst() {
            IpAddr::V4(a) => IpAddr::V4(self.cfg.local_v4.unwrap_or(a)),
            IpAddr::V6(a) => IpAddr::V6(self.cfg.local_v6.unwrap_or(a)),
        };
        match super::icmp::place_reply(buf, start, end, |frame, out| {
            lvs_fwd::time_exceeded(frame, p, src, out).ok()
        }) {
            Some((start, len)) => Verdict::Icmp {
                start,
                len,
                reason: DropReason::Ttl,
            },
            None => Verdict::Drop(DropReason::Ttl),
        }
    }

    /// ICMP errors (`ip_vs_in_icmp` / `ip_vs_out_icmp`): an error about one of our tunnel
    /// packets is relayed to the client (`Director::tunnel_icmp`); an error from the client
    /// side about a packet we sent it follows the connection to the real server; one from a
    /// real server about a NAT / FULLNAT packet goes back to the client, rewritten.
    fn icmp_error(
        &mut self,
        buf: &mut [u8],
        start: usize,
        end: usize,
        p: &Parsed,
        now: Instant,
    ) -> Verdict {
        if let Some(v) = self.tunnel_icmp(buf, start, end, p, now) {
            return v;
        }
        let Some(frame) = buf.get(start..end) else {
            return Verdict::Drop(DropReason::Malformed);
        };
        let Ok(e) = lvs_fwd::parse_icmp_error(frame, p) else {
            return Verdict::Local;
        };
        let f = e.inner_flow();
        let _ = now;
        if let Some(id) = self
            .table
            .lookup_in(f.protocol, f.dst, f.dst_port, f.src, f.src_port)
        {
            let dest = self.table.dest_of(id).map(|d| d.0);
            if !dest.is_none_or(|d| self.dest(d).is_some_and(|x| x.available)) {
                return Verdict::Drop(DropReason::NoDest);
            }
            let Some(t) = self.target_of(id, dest, f.src_port) else {
                return Verdict::Drop(DropReason::NoDest);
            };
            self.icmp_stats(dest, Direction::Input, p);
            return self.xmit_in(buf, start, end, p, &t, Some(&e), now);
        }
        if let Some(id) = self
            .table
            .lookup_out(f.protocol, f.dst, f.dst_port, f.src, f.src_port)
            && let Some(v) = self.table.get(id)
        {
            let Some(frame) = buf.get_mut(start..end) else {
                return Verdict::Drop(DropReason::Malformed);
            };
            let r = match v.fwd {
                Some(FwdMethod::Masq) => lvs_fwd::nat_icmp_out(frame, p, &e, v.vaddr, v.vport),
                Some(FwdMethod::FullNat) => {
                    lvs_fwd::fullnat_icmp_out(frame, p, &e, v.vaddr, v.vport, v.caddr, v.cport)
                }
                _ => return Verdict::Local,
            };
            self.icmp_stats(v.dest.map(|d| d.0), Direction::Output, p);
            return match r {
                Ok(Outcome::Forward) => Verdict::Transmit {
                    next_hop: v.caddr,
                    side: Side::Client,
                    start,
                    len: end - start,
                },
                Ok(Outcome::TimeExceeded) => Verdict::Drop(DropReason::Ttl),
                Err(_) => Verdict::Drop(DropReason::Rewrite),
            };
        }
        Verdict::Local
    }

    fn icmp_stats(&mut self, dest: Option<u32>, dir: Direction, p: &Parsed) {
        let bytes = p.end().saturating_sub(p.l3_offset()) as u64;
        self.dest_stats(dest, dir, bytes);
    }
}

fn e_slice(eth: &[u8; 18], l3: usize) -> &[u8] {
    eth.get(..l3).unwrap_or(&[])
}

fn swap_macs(h: &mut [u8]) {
    if let Some(m) = h.get_mut(..12) {
        let (a, b) = m.split_at_mut(6);
        a.swap_with_slice(b);
    }
}
