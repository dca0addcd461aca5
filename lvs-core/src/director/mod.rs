//! The director: the runtime service table and the packet pipeline (net/netfilter/ipvs/
//! ip_vs_core.c `ip_vs_in` / `ip_vs_out` / `ip_vs_in_icmp` / `ip_vs_out_icmp`, ip_vs_ctl.c for
//! the add / edit / delete / zero semantics).
//!
//! A [`Director`] owns:
//! - the virtual services, each with its [`lvs_sched::Scheduler`], persistence settings,
//!   rate estimator and real servers (configured from [`crate::service`] types, or by
//!   ipvsadm commands through [`Director::apply`]);
//! - one [`lvs_conn::ConnTable`] (connections and persistence templates);
//! - the connection-sync queues (master and backup, [`lvs_conn::sync`]).
//!
//! # Thread model
//!
//! A `Director` is single-owner (`&mut self`, no locks, no atomics, no shared cache lines).
//! To use N worker threads, build N directors with the same configuration, each with its
//! [`DirectorConfig::worker`] = (index, N), and feed every configuration command to all of
//! them. The caller steers each frame with [`Director::steer`]: inbound and NAT reply frames
//! by a hash of the client address (which both directions carry), FULLNAT replies by local
//! port (`lport % N`: worker i only allocates local ports with `lport % N == i`). Counters
//! are per worker; [`merge_snapshots`] sums the workers' listings for `ipvsadm -L`. The
//! schedulers are per worker too, so wlc/lc balance each worker's share of the flows (the
//! way per-CPU schedulers in DPVS do); rr / wrr sequences interleave across workers.
//!
//! # Batches and memory
//!
//! With millions of connections, each packet's connection lookup is a hash bucket and an
//! entry in memory no cache holds: two DRAM misses of ~100-200 ns each. Called one frame at a
//! time, [`Director::process`] waits for them in turn. [`Director::process_batch`] is the fast
//! path for a data plane that receives frames in bursts (AF_XDP, DPDK, `recvmmsg`, a TAP
//! drained in a loop): it parses each chunk of up to [`PROCESS_BATCH`] frames once, walks
//! their connection chains together so the misses overlap, sends established TCP / UDP
//! packets of DR and NAT connections (and NAT / FULLNAT replies) down a direct path, and gives
//! exactly the verdicts, rewrites and counters of `process` frame by frame (a frame whose
//! lookup an earlier frame of the chunk could have changed looks up again). On the benchmark
//! machine it is about 4 times `process` at 1M connections (BENCHMARKS.md).
//!
//! The connection table lives in a few large allocations (entry slab, hash index). Back them
//! with huge pages (transparent huge pages via the allocator, as the lvs-director binary does
//! with jemalloc built `thp:always`) so the misses are not also TLB misses.
//!
//! # Frames, headroom and next hops
//!
//! [`Director::process`] takes a caller buffer and the range of one Ethernet frame in it.
//! Bytes before the frame are headroom (TUN encapsulation writes its outer headers there:
//! give at least 14 + 40 + 16 bytes) and bytes after it are room for a generated ICMP error.
//! The director never resolves MAC addresses: a [`Verdict::Transmit`] names the next hop
//! (the RIP for inbound packets, the client address for replies) and the caller writes the
//! MACs with [`lvs_fwd::set_macs`] from its neighbour table. For DR that is the whole rewrite.
//! The TTL / hop limit is already decremented and every checksum is valid.
//!
//! # IP fragments
//!
//! The kernel reassembles before IPVS sees a packet (`nf_defrag_ipv4` / `nf_defrag_ipv6`,
//! `ip_vs_gather_frags`); so does the director, for fragments addressed to a VIP, carrying the
//! mark of a fwmark service, or sent by a RIP (NAT / FULLNAT replies); other fragments are
//! [`Verdict::Local`]. Each fragment is [`Verdict::Held`] until the one that completes its
//! datagram: the whole datagram is written over that fragment's buffer from its `start` and
//! processed, so that fragment's verdict is the datagram's ([`Verdict::Transmit`] of a frame
//! possibly longer than the MTU, or [`Verdict::LocalDatagram`]). Callers that want reassembly
//! pass buffers with 18 + 65535 bytes (plus headroom and tailroom) after `start`; with less
//! room a completed datagram that does not fit is a [`DropReason::Fragment`] drop. Limits:
//! [`DirectorConfig::ipfrag_high_thresh`] and [`DirectorConfig::ipfrag_time`] (expiry runs in
//! [`Director::handle_timeout`], included in [`Director::poll_timeout`]; an expired queue
//! whose first fragment arrived gets the kernel's ICMP fragment reassembly time exceeded,
//! drained with [`Director::poll_icmp`]: see "ICMP errors"). The MTU check of DR / NAT / FULLNAT judges a
//! reassembled datagram by its largest fragment (the kernel's `frag_max_size`), so one whose
//! fragments each fitted is forwarded whole: the caller refragments a Transmit longer than its
//! egress MTU with [`lvs_fwd::fragment_ipv4`] / [`lvs_fwd::fragment_ipv6`].
//! The TUN path checks the whole datagram against the tunnel MTU. With several workers,
//! [`Director::steer`] sends the fragments of a FULLNAT reply (addressed to a local address,
//! steered by destination port) to worker 0 when they carry no ports, so FULLNAT reply
//! reassembly needs one worker, or the caller steering fragments by address.
//!
//! # ICMP errors
//!
//! The director answers like the Linux host it replaces: ICMP / ICMPv6 time exceeded (TTL or
//! hop limit exhausted), fragmentation needed / packet too big (the MTU checks), port
//! unreachable (no real server), the relay of an error about one of our tunnel packets to its
//! client ([`Verdict::Icmp`] / [`Verdict::Transmit`] from [`Director::process`]), and the
//! fragment reassembly time exceeded (IPv4 type 11 code 1, IPv6 type 3 code 1) of an IP
//! reassembly queue that expires in [`Director::handle_timeout`] after its first fragment
//! arrived (net/ipv4/ip_fragment.c `ip_expire`: IPv4 only for datagrams addressed to the
//! director; include/net/ipv6_frag.h `ip6frag_expire_frag_queue`), which has no caller
//! buffer and is queued instead: after `handle_timeout`, drain [`Director::poll_icmp`] and
//! send each [`IcmpTransmit`] frame.
//!
//! Every one goes through the kernel's rate limits first (net/ipv4/icmp.c, net/ipv6/icmp.c,
//! net/ipv4/inetpeer.c), configured with the sysctls' names and defaults in
//! [`DirectorConfig`] (`icmp_ratelimit`, `icmp_ratemask`, `icmp_msgs_per_sec`,
//! `icmp_msgs_burst`, `icmpv6_ratelimit`, `icmpv6_ratemask`): types outside the ratemask, and
//! fragmentation needed always, are never limited; the others need global credit (about
//! `icmp_msgs_per_sec` per second, bursts of `icmp_msgs_burst`, the exact cost per message
//! randomized as in the kernel, from [`DirectorConfig::seed`]) and a token from their
//! destination's bucket (a burst of 6, then one per `icmp_ratelimit` ms). A refused error
//! makes the verdict [`Verdict::Drop`] of [`DropReason::IcmpRateLimited`]. The limiter is
//! only consulted where an error was built, never on the forwarding path; its
//! per-destination state is bounded by [`DirectorConfig::icmp_peer_max`]. With several
//! workers each has its own limiter (the global credit and the buckets are per worker).
//!
//! ```
//! use std::time::Instant;
//! use lvs_core::{ApplyOutput, Director, DirectorConfig, PacketMeta, Verdict};
//!
//! let now = Instant::now();
//! let mut d = Director::new(DirectorConfig::default(), now);
//! d.apply_line("ipvsadm -A -t 192.168.56.200:80 -s rr", now).unwrap();
//! d.apply_line("ipvsadm -a -t 192.168.56.200:80 -r 192.168.56.102 -g -w 1", now).unwrap();
//! let ApplyOutput::Text(ln) = d.apply_line("ipvsadm -Ln", now).unwrap() else { panic!() };
//! assert!(ln.contains("TCP  192.168.56.200:80 rr"));
//! // A frame 192.168.56.1:56954 -> 192.168.56.200:80 SYN, with 64 bytes of headroom.
//! let mut buf = vec![0u8; 64 + 54 + 1600];
//! let frame = [
//!     0, 0, 0, 0, 0, 2, 0, 0, 0, 0, 0, 1, 0x08, 0x00, // Ethernet
//!     0x45, 0, 0, 40, 0, 0, 0x40, 0, 64, 6, 0, 0, 192, 168, 56, 1, 192, 168, 56, 200, // IPv4
//!     0xde, 0x7a, 0, 80, 0, 0, 0, 1, 0, 0, 0, 0, 0x50, 0x02, 0xff, 0xff, 0, 0, 0, 0, // TCP SYN
//! ];
//! buf[64..64 + 54].copy_from_slice(&frame);
//! match d.process(&mut buf, 64, 54, &PacketMeta::default(), now) {
//!     Verdict::Transmit { next_hop, start, len, .. } => {
//!         assert_eq!(next_hop.to_string(), "192.168.56.102");
//!         // Resolve next_hop's MAC, then: lvs_fwd::set_macs(&mut buf[start..start + len], ..)
//!         let _ = (start, len);
//!     }
//!     other => panic!("{other:?}"),
//! }
//! ```

mod defrag;
mod icmp;
mod laddr;
mod pipeline;
mod pmtu;
mod ratelimit;
mod snapshot;
mod sync;

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::time::{Duration, Instant};

use lvs_conn::sync::{SyncConfig, SyncConn};
use lvs_conn::{ConnConfig, ConnTable, DestCounters, ExpiredConn, FwdMethod, PersistService};
use lvs_sched::{DestParams, SchedConfig, SchedError, Scheduler};

use crate::estimator::Estimator;
use crate::ipvsadm::{Command, DaemonConfig, DaemonState, ListError, Stats};
use crate::service::{
    AddressFamily, ApplyError, DestConfig, ForwardMethod, PersistMask, ServiceConfig, ServiceKey,
    Timeouts, VirtualService,
};

/// Maps and sets keyed by configuration (services by protocol + VIP:port and by firewall
/// mark, the VIP / RIP / local-address sets) that every packet reads once or twice: FxHash
/// (the rustc-hash crate), much cheaper per lookup than std's SipHash. Only configuration
/// inserts keys, never packets, so no packet can grow a collision chain and HashDoS
/// resistance buys nothing here.
type FastMap<K, V> = rustc_hash::FxHashMap<K, V>;
/// See [`FastMap`].
type FastSet<K> = rustc_hash::FxHashSet<K>;

pub use defrag::{FragInsert, FragKey, MAX_DATAGRAM, Reassembled, Reassembler};
pub use laddr::DEFAULT_LPORT_RANGE;
pub use pipeline::{DropReason, PROCESS_BATCH, PacketMeta, Side, Verdict};
pub use pmtu::PmtuEntry;
pub use ratelimit::{
    ICMP_RATEMASK_DEFAULT, ICMPV6_RATEMASK_DEFAULT, XRLIM_BURST_FACTOR, parse_icmpv6_ratemask,
};
pub use snapshot::merge_snapshots;

/// The IPVS sysctls the director uses (`net.ipv4.vs.*`, Documentation/networking/
/// ipvs-sysctl.rst), with the kernel's names and defaults.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Sysctls {
    /// `expire_nodest_conn` (default 0): expire a connection at its next packet when its real
    /// server is no longer available (deleted or marked down), instead of only dropping the
    /// packet and keeping the entry until it times out.
    pub expire_nodest_conn: bool,
    /// `expire_quiescent_template` (default 0): a persistence template whose real server has
    /// weight 0 is not used for new connections.
    pub expire_quiescent_template: bool,
    /// `conn_reuse_mode` (default 1): reschedule a SYN / INIT that hits a TIME_WAIT / CLOSE
    /// entry (`is_new_conn_expected`).
    pub conn_reuse_mode: u8,
    /// `secure_tcp` (default 0): 0 off; any other value selects the kernel's `tcp_states_dos`
    /// table.
    pub secure_tcp: u8,
    /// `sloppy_tcp` (default 0): schedule a new TCP connection on any packet without RST,
    /// not only on a SYN.
    pub sloppy_tcp: bool,
    /// `sloppy_sctp` (default 0): schedule a new SCTP association on any chunk, not only on
    /// INIT.
    pub sloppy_sctp: bool,
    /// `sync_threshold`, `sync_period`, `sync_refresh_period`, `sync_retries`,
    /// `sync_persist_mode`, `sync_version`.
    pub sync: SyncConfig,
}

impl Default for Sysctls {
    fn default() -> Self {
        Sysctls {
            expire_nodest_conn: false,
            expire_quiescent_template: false,
            conn_reuse_mode: 1,
            secure_tcp: 0,
            sloppy_tcp: false,
            sloppy_sctp: false,
            sync: SyncConfig::default(),
        }
    }
}

/// Construction parameters of a [`Director`].
#[derive(Debug, Clone)]
pub struct DirectorConfig {
    /// The sysctls.
    pub sysctls: Sysctls,
    /// Connection-table limits and hash seed (its sysctl fields are overwritten from
    /// `sysctls`; its timeouts from `--set`).
    pub conn: ConnConfig,
    /// Most real servers alive at once, deleted-but-referenced ones included (default 4096).
    pub max_dests: u32,
    /// Seed of the schedulers' random streams (twos) and of [`Director::steer`].
    pub seed: u64,
    /// This worker's index and the number of workers (default (0, 1)); see the module docs.
    pub worker: (u16, u16),
    /// FULLNAT local port range, inclusive (default [`DEFAULT_LPORT_RANGE`]).
    pub lport_range: (u16, u16),
    /// The director's own IPv4 address: source of the ICMP time exceeded it generates and of
    /// IPv4 tunnel headers (`None`: the packet's destination, the VIP). ICMP errors about
    /// tunnel packets arriving at this address (or at a VIP) are relayed to the client. Port
    /// unreachable (no real server), fragmentation needed (TUN) and relayed errors come from
    /// the VIP, the local destination the kernel's `icmp_send` picks.
    pub local_v4: Option<Ipv4Addr>,
    /// The director's own IPv6 address (as `local_v4`).
    pub local_v6: Option<Ipv6Addr>,
    /// MTU of the path toward the real servers, bytes: the device MTU of the route toward a
    /// RIP, lowered per RIP for a while by a learned path MTU ([`Director::pmtu`]). Default
    /// 1500. Packets that do not fit get ICMP fragmentation needed / packet too big: for TUN
    /// after the tunnel overhead is taken off, for DR / NAT / FULLNAT at this MTU (IPv4 only
    /// with DF; without DF the packet is forwarded for the caller's egress to fragment, e.g.
    /// with [`lvs_fwd::fragment_ipv4`]), as `ensure_mtu_is_adequate` (ip_vs_xmit.c) does; a
    /// reassembled datagram is judged by its largest fragment (see "IP fragments" in the
    /// module docs). (The name is historical.)
    pub tun_mtu: u32,
    /// `net.ipv4.route.mtu_expires` (net/ipv4/route.c `ip_rt_mtu_expires`), seconds: how long
    /// a path MTU learned from an ICMP fragmentation needed about one of our tunnel packets
    /// lowers the route toward that RIP before it returns to `tun_mtu`. Default 600.
    pub mtu_expires: u32,
    /// `net.ipv4.route.min_pmtu` (net/ipv4/route.c `ip_rt_min_pmtu`, 512 + 20 + 20), bytes: a
    /// reported next-hop MTU below it lowers the route to this value only, and locks it until
    /// it expires. Default 552.
    pub min_pmtu: u32,
    /// Most learned path MTUs kept at once (one per RIP; the kernel bounds its next-hop
    /// exceptions per hash chain the same way). A full bucket evicts its least recently
    /// updated entry (see [`Director::pmtu_entries`]). 0 learns nothing; at most 2^20 are
    /// kept whatever the value (the slots, 56 bytes each, are allocated at the first
    /// report). Default 4096.
    pub pmtu_max: usize,
    /// `net.ipv4.ipfrag_high_thresh` (net/ipv4/ip_fragment.c), bytes: most memory the IP
    /// reassembler holds for incomplete datagrams (see [`Reassembler`]). Default 4 MiB.
    pub ipfrag_high_thresh: usize,
    /// `net.ipv4.ipfrag_time`, seconds: an incomplete datagram is freed this long after its
    /// first fragment arrived. Default 30.
    pub ipfrag_time: u32,
    /// `net.ipv4.icmp_ratelimit`, milliseconds: the per-destination spacing of the rate-limited
    /// ICMP errors the director sends (net/ipv4/icmp.c `icmpv4_xrlim_allow`): a burst of
    /// [`XRLIM_BURST_FACTOR`] (6), then one per interval. 0: no per-destination limit. Default
    /// 1000. See "ICMP errors" in the module docs.
    pub icmp_ratelimit: u32,
    /// `net.ipv4.icmp_ratemask`: bit `t` set limits ICMP type `t` (types above 18 and
    /// fragmentation needed are never limited). 0 limits nothing (neither per destination
    /// nor globally). Default [`ICMP_RATEMASK_DEFAULT`] (6168: types 3, 4, 11, 12).
    pub icmp_ratemask: u32,
    /// `net.ipv4.icmp_msgs_per_sec`: refill rate of the global credit shared by the limited
    /// ICMP and ICMPv6 errors, messages per second (`icmp_global_allow`). As in the kernel, 0
    /// is not "off": the credit is then never refilled. Default 1000 (kernels since 2025
    /// default to 10000).
    pub icmp_msgs_per_sec: u32,
    /// `net.ipv4.icmp_msgs_burst`: most global credit, messages. Default 50 (kernels since
    /// 2025 default to 10000).
    pub icmp_msgs_burst: u32,
    /// `net.ipv6.icmp.ratelimit`, milliseconds: as `icmp_ratelimit` for ICMPv6 errors, scaled
    /// down by the route's prefix length ([`DirectorConfig::icmpv6_route_plen`]). Default 1000.
    pub icmpv6_ratelimit: u32,
    /// `net.ipv6.icmp.ratemask` as 256 bits (bit `t % 64` of word `t / 64` limits ICMPv6 type
    /// `t`; [`parse_icmpv6_ratemask`] reads the sysctl's list syntax). Default
    /// [`ICMPV6_RATEMASK_DEFAULT`] (`0-1,3-127`: packet too big is never limited).
    pub icmpv6_ratemask: [u64; 4],
    /// Prefix length of the route toward the destinations of ICMPv6 errors, which
    /// `icmpv6_xrlim_allow` uses to give wider prefixes more bandwidth:
    /// `tmo >>= (128 - plen) >> 5`. The director has no routing table, so one length stands for every destination.
    /// Default 0 (the default route `::/0`, how a director usually reaches its clients: the
    /// timeout is divided by 16, 62 ms at the default 1000); 128 turns the scaling off (as
    /// kernels since late 2025 do, with a 100 ms default ratelimit).
    pub icmpv6_route_plen: u8,
    /// Most destinations whose ICMP rate-limit state is kept at once (the kernel's `inet_peer`
    /// entries): a full bucket of 4 forgets its least recently checked destination, which
    /// then starts again with a full burst. 0 keeps none (every error is allowed by the
    /// per-destination limit; the global one still applies). Default 4096.
    pub icmp_peer_max: usize,
}

impl Default for DirectorConfig {
    fn default() -> Self {
        DirectorConfig {
            sysctls: Sysctls::default(),
            conn: ConnConfig::default(),
            max_dests: 4096,
            seed: 0x6c76_735f_636f_7265,
            worker: (0, 1),
            lport_range: DEFAULT_LPORT_RANGE,
            local_v4: None,
            local_v6: None,
            tun_mtu: 1500,
            mtu_expires: 600,
            min_pmtu: 552,
            pmtu_max: 4096,
            ipfrag_high_thresh: 4 * 1024 * 1024,
            ipfrag_time: 30,
            icmp_ratelimit: 1000,
            icmp_ratemask: ICMP_RATEMASK_DEFAULT,
            icmp_msgs_per_sec: 1000,
            icmp_msgs_burst: 50,
            icmpv6_ratelimit: 1000,
            icmpv6_ratemask: ICMPV6_RATEMASK_DEFAULT,
            icmpv6_route_plen: 0,
            icmp_peer_max: 4096,
        }
    }
}

/// Why the director refused a configuration command.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DirectorError {
    /// The kernel's refusal (service / real server exists or not, threshold order).
    #[error(transparent)]
    Apply(#[from] ApplyError),
    /// The scheduler refused (unknown real server, mh table full, negative weight).
    #[error("scheduler: {0}")]
    Sched(#[from] SchedError),
    /// More live real servers than [`DirectorConfig::max_dests`] (ENOMEM).
    #[error("too many real servers")]
    TooManyDests,
    /// The ipvsadm line did not parse.
    #[error(transparent)]
    Parse(#[from] crate::ipvsadm::ParseError),
    /// A list command the snapshot cannot answer.
    #[error(transparent)]
    List(#[from] ListError),
    /// A command the director does not execute (`-R` is a stream: apply its lines; `-h`, `-v`).
    #[error("command not supported by the director: {0}")]
    Unsupported(&'static str),
    /// A real server whose address family differs from the service's (EINVAL).
    #[error("address family mismatch")]
    FamilyMismatch,
}

/// What [`Director::apply`] produced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ApplyOutput {
    /// A configuration change, done.
    Done,
    /// Text to print (`-L`, `-S`).
    Text(String),
}

/// One virtual service at run time.
#[derive(Debug)]
pub(crate) struct Service {
    pub(crate) key: ServiceKey,
    pub(crate) config: ServiceConfig,
    pub(crate) sched: Scheduler,
    /// Real-server slots in insertion order (deleted ones removed).
    pub(crate) dests: Vec<u32>,
    /// Persistence: template key parameters and timeout (seconds).
    pub(crate) persist: Option<(PersistService, u32)>,
    pub(crate) stats: Stats,
    pub(crate) est: Estimator,
    /// Round-robin cursor over `config.local_addrs` (FULLNAT).
    pub(crate) laddr_next: usize,
}

/// One real server at run time (`struct ip_vs_dest`).
#[derive(Debug)]
pub(crate) struct Dest {
    pub(crate) svc: u32,
    pub(crate) config: DestConfig,
    /// `IP_VS_DEST_F_AVAILABLE`: false once deleted (in the trash) or marked down.
    pub(crate) available: bool,
    /// Deleted, kept while connections reference it (the kernel's dest trash).
    pub(crate) deleted: bool,
    pub(crate) stats: Stats,
    pub(crate) est: Estimator,
}

/// The director. See the module docs.
pub struct Director {
    pub(crate) cfg: DirectorConfig,
    pub(crate) epoch: Instant,
    pub(crate) services: Vec<Option<Service>>,
    pub(crate) by_addr: FastMap<(u8, SocketAddr), u32>,
    pub(crate) by_mark: FastMap<(u32, bool), u32>,
    /// VIPs with their number of services (to tell "ours but unschedulable" from "not ours").
    pub(crate) vips: FastMap<IpAddr, u32>,
    /// FULLNAT local addresses of every service (for [`Director::steer`]).
    pub(crate) laddrs: FastSet<IpAddr>,
    /// RIPs of every real server (for [`Director::steer`]).
    pub(crate) rips: FastSet<IpAddr>,
    pub(crate) dests: Vec<Option<Dest>>,
    pub(crate) free_dests: Vec<u32>,
    pub(crate) table: ConnTable,
    pub(crate) timeouts: Timeouts,
    pub(crate) stats: Stats,
    pub(crate) est: Estimator,
    pub(crate) drops: [u64; DropReason::COUNT],
    /// IP reassembly of fragments of balanced flows (`nf_defrag_ipv4` / `nf_defrag_ipv6`).
    pub(crate) defrag: Reassembler,
    /// While a reassembled datagram runs through the pipeline: its largest fragment, bytes
    /// (`IPCB(skb)->frag_max_size`), used by the MTU check.
    pub(crate) frag_max: Option<usize>,
    /// Scratch state of [`Director::process_batch`] (one chunk), kept between calls so a
    /// call does not rebuild it (made by the first call).
    pub(crate) batch: Option<Box<pipeline::BatchChunk>>,
    pub(crate) expired: Vec<ExpiredConn>,
    /// Scratch of [`Director::handle_timeout`]: real-server slots already brought in line.
    pub(crate) dests_synced: Vec<bool>,
    pub(crate) lport_next: u16,
    /// keepalived-style health: real servers taken out (not inhibited) while down.
    pub(crate) parked: HashMap<(ServiceKey, SocketAddr), DestConfig>,
    pub(crate) sync_master: Option<DaemonConfig>,
    pub(crate) sync_backup: Option<DaemonConfig>,
    pub(crate) sync_queue: Vec<SyncConn<'static>>,
    pub(crate) sync_stats: SyncStats,
    /// Learned path MTUs toward the RIPs (the routes' next-hop exceptions).
    pub(crate) pmtu: pmtu::PmtuTable,
    /// The ICMP error rate limiter (`icmp_ratelimit`, `icmp_msgs_per_sec`, ...).
    pub(crate) icmp_limit: ratelimit::IcmpLimiter,
    /// ICMP errors generated outside `process` (reassembly timeouts), for
    /// [`Director::poll_icmp`].
    pub(crate) icmp_out: std::collections::VecDeque<IcmpTransmit>,
}

/// Most ICMP errors [`Director::poll_icmp`] holds; more are not queued (counted as
/// [`DropReason::IcmpRateLimited`]).
pub const ICMP_QUEUE_MAX: usize = 1024;

/// An ICMP error the director generated outside [`Director::process`] (an IP reassembly
/// timeout in [`Director::handle_timeout`]), handed out by [`Director::poll_icmp`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IcmpTransmit {
    /// The Ethernet frame, checksums valid, with the MACs of the fragment it answers swapped
    /// (back to the hop that sent it) and its 802.1Q tag kept, like a [`Verdict::Icmp`]
    /// frame: send it out of the interface that fragment came in by, or write fresh MACs
    /// with [`lvs_fwd::set_macs`] after resolving `next_hop`.
    pub frame: Vec<u8>,
    /// The error's destination (the fragment's source: a client, or for IPv6 a real server
    /// whose reply was being reassembled); the next hop to resolve.
    pub next_hop: IpAddr,
    /// Which side it leaves by: [`Side::Client`] for an error to a client (a datagram
    /// addressed to a VIP or a fwmark service), [`Side::Server`] for one to a RIP.
    pub side: Side,
}

/// Most connections queued for [`Director::poll_sync`]; more are not queued (the kernel
/// bounds its queue by `sync_qlen_max` the same way).
pub const SYNC_QUEUE_MAX: usize = 1 << 16;

/// Connection-sync counters of a director.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SyncStats {
    /// Connections queued for sending (master).
    pub queued: u64,
    /// Messages handed out by [`Director::poll_sync`].
    pub messages_sent: u64,
    /// Connections imported (backup).
    pub imported: u64,
    /// Connections or messages refused on import.
    pub import_errors: u64,
}

pub(crate) fn fwd_of(m: &ForwardMethod) -> FwdMethod {
    match m {
        ForwardMethod::Masq => FwdMethod::Masq,
        ForwardMethod::Route => FwdMethod::DirectRoute,
        ForwardMethod::Tunnel(_) => FwdMethod::Tunnel,
        ForwardMethod::FullNat => FwdMethod::FullNat,
    }
}

fn persist_of(key: &ServiceKey, cfg: &ServiceConfig) -> Option<(PersistService, u32)> {
    let p = cfg.persistence?;
    let mut ps = PersistService {
        port: key.port(),
        fwmark: match key {
            ServiceKey::Fwmark { mark, .. } => *mark,
            ServiceKey::Addr { .. } => 0,
        },
        ..PersistService::default()
    };
    match p.netmask {
        PersistMask::V4(m) => ps.netmask_v4 = m.to_bits(),
        PersistMask::V6(l) => ps.prefix_v6 = l,
    }
    Some((ps, p.timeout))
}

fn dest_params(d: &DestConfig) -> DestParams {
    DestParams {
        weight: i32::try_from(d.weight).unwrap_or(i32::MAX),
        u_threshold: d.u_threshold,
        l_threshold: d.l_threshold,
    }
}

impl std::fmt::Debug for Director {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Director")
            .field("services", &self.services.iter().flatten().count())
            .field("connections", &self.table.len())
            .finish_non_exhaustive()
    }
}

impl Director {
    /// An empty director (no services) with the default timeouts. `now` starts the global
    /// rate estimator and is the epoch of the connection table's clock.
    pub fn new(mut cfg: DirectorConfig, now: Instant) -> Self {
        cfg.conn.secure_tcp = cfg.sysctls.secure_tcp != 0;
        cfg.conn.conn_reuse_mode = cfg.sysctls.conn_reuse_mode;
        cfg.conn.expire_nodest_conn = cfg.sysctls.expire_nodest_conn;
        cfg.conn.expire_quiescent_template = cfg.sysctls.expire_quiescent_template;
        cfg.conn.max_dests = cfg.conn.max_dests.max(cfg.max_dests);
        if cfg.worker.1 == 0 {
            cfg.worker.1 = 1;
        }
        cfg.worker.0 %= cfg.worker.1;
        let table = ConnTable::new(cfg.conn.clone(), now);
        let lport_next = laddr::first_port(&cfg);
        Director {
            epoch: now,
            services: Vec::new(),
            by_addr: FastMap::default(),
            by_mark: FastMap::default(),
            vips: FastMap::default(),
            laddrs: FastSet::default(),
            rips: FastSet::default(),
            dests: Vec::new(),
            free_dests: Vec::new(),
            table,
            timeouts: Timeouts::default(),
            stats: Stats::default(),
            est: Estimator::new(now, &Stats::default()),
            drops: [0; DropReason::COUNT],
            defrag: Reassembler::new(
                cfg.ipfrag_high_thresh,
                std::time::Duration::from_secs(u64::from(cfg.ipfrag_time)),
            ),
            frag_max: None,
            batch: None,
            expired: Vec::with_capacity(1024),
            dests_synced: Vec::new(),
            lport_next,
            parked: HashMap::new(),
            sync_master: None,
            sync_backup: None,
            sync_queue: Vec::with_capacity(256),
            sync_stats: SyncStats::default(),
            pmtu: pmtu::PmtuTable::new(cfg.pmtu_max, cfg.seed),
            icmp_limit: ratelimit::IcmpLimiter::new(
                ratelimit::LimitParams {
                    ratelimit: cfg.icmp_ratelimit,
                    ratemask: cfg.icmp_ratemask,
                    msgs_per_sec: cfg.icmp_msgs_per_sec,
                    msgs_burst: cfg.icmp_msgs_burst,
                    ratelimit_v6: cfg.icmpv6_ratelimit,
                    ratemask_v6: cfg.icmpv6_ratemask,
                    route_plen_v6: cfg.icmpv6_route_plen,
                },
                cfg.icmp_peer_max,
                cfg.seed,
            ),
            icmp_out: std::collections::VecDeque::new(),
            cfg,
        }
    }

    /// A director configured from a whole [`crate::service::IpvsConfig`] (e.g. one built by
    /// `ipvsadm -R`).
    ///
    /// # Errors
    /// As [`Director::add_service`] and [`Director::add_dest`].
    pub fn from_config(
        cfg: DirectorConfig,
        config: &crate::service::IpvsConfig,
        now: Instant,
    ) -> Result<Self, DirectorError> {
        let mut d = Director::new(cfg, now);
        d.set_timeouts(&config.timeouts);
        for s in &config.services {
            d.add_service(s.key, s.config.clone(), now)?;
            for rs in &s.dests {
                d.add_dest(&s.key, *rs, now)?;
            }
        }
        Ok(d)
    }

    /// The configuration this director was built with.
    pub fn config(&self) -> &DirectorConfig {
        &self.cfg
    }

    /// The sysctls in force.
    pub fn sysctls(&self) -> &Sysctls {
        &self.cfg.sysctls
    }

    /// The connection table (read only: listings, counters, tests).
    pub fn conn_table(&self) -> &ConnTable {
        &self.table
    }

    /// Drops counted per [`DropReason`] (index with `reason as usize`).
    pub fn drop_counts(&self) -> &[u64; DropReason::COUNT] {
        &self.drops
    }

    /// The count of one drop reason.
    pub fn drops(&self, reason: DropReason) -> u64 {
        self.drops.get(reason as usize).copied().unwrap_or(0)
    }

    /// Global counters (`ipvsadm -Ln --stats` has no total line; /proc/net/ip_vs_stats).
    pub fn stats(&self) -> Stats {
        self.stats
    }

    pub(crate) fn since_epoch(&self, now: Instant) -> Duration {
        now.saturating_duration_since(self.epoch)
    }

    pub(crate) fn svc_index(&self, key: &ServiceKey) -> Option<u32> {
        match key {
            ServiceKey::Addr { protocol, addr } => {
                self.by_addr.get(&(protocol.number(), *addr)).copied()
            }
            ServiceKey::Fwmark { mark, family } => self
                .by_mark
                .get(&(*mark, *family == AddressFamily::Ipv6))
                .copied(),
        }
    }

    pub(crate) fn svc(&self, i: u32) -> Option<&Service> {
        self.services.get(i as usize).and_then(Option::as_ref)
    }

    pub(crate) fn svc_mut(&mut self, i: u32) -> Option<&mut Service> {
        self.services.get_mut(i as usize).and_then(Option::as_mut)
    }

    pub(crate) fn dest(&self, i: u32) -> Option<&Dest> {
        self.dests.get(i as usize).and_then(Option::as_ref)
    }

    fn dest_slot_of(&self, svc: u32, addr: SocketAddr, deleted: bool) -> Option<u32> {
        self.dests.iter().enumerate().find_map(|(i, d)| match d {
            Some(d) if d.svc == svc && d.config.addr == addr && d.deleted == deleted => {
                u32::try_from(i).ok()
            }
            _ => None,
        })
    }

    /// `ipvsadm -A`: add a virtual service (`ip_vs_add_service()`).
    ///
    /// # Errors
    /// [`ApplyError::ServiceExists`].
    pub fn add_service(
        &mut self,
        key: ServiceKey,
        config: ServiceConfig,
        now: Instant,
    ) -> Result<(), DirectorError> {
        if self.svc_index(&key).is_some() {
            return Err(ApplyError::ServiceExists.into());
        }
        let sc = SchedConfig {
            flags: config.sched_flags,
            seed: self.cfg.seed ^ (self.services.len() as u64).wrapping_mul(0x9e37_79b9),
            ..SchedConfig::default()
        };
        let svc = Service {
            key,
            sched: Scheduler::new(config.scheduler, sc, self.since_epoch(now)),
            persist: persist_of(&key, &config),
            config,
            dests: Vec::new(),
            stats: Stats::default(),
            est: Estimator::new(now, &Stats::default()),
            laddr_next: 0,
        };
        let idx = match self.services.iter().position(Option::is_none) {
            Some(i) => {
                if let Some(s) = self.services.get_mut(i) {
                    *s = Some(svc);
                }
                i
            }
            None => {
                self.services.push(Some(svc));
                self.services.len() - 1
            }
        };
        let idx = u32::try_from(idx).map_err(|_| DirectorError::TooManyDests)?;
        match key {
            ServiceKey::Addr { protocol, addr } => {
                self.by_addr.insert((protocol.number(), addr), idx);
                *self.vips.entry(addr.ip()).or_insert(0) += 1;
            }
            ServiceKey::Fwmark { mark, family } => {
                self.by_mark
                    .insert((mark, family == AddressFamily::Ipv6), idx);
            }
        }
        self.rebuild_sets();
        Ok(())
    }

    /// `ipvsadm -E`: replace a service's configuration (`ip_vs_edit_service()`): scheduler,
    /// flags, persistence, one-packet, local addresses. Connections and templates stay.
    ///
    /// # Errors
    /// [`ApplyError::NoSuchService`], [`DirectorError::Sched`] (e.g. mh with too many real
    /// servers).
    pub fn edit_service(
        &mut self,
        key: &ServiceKey,
        config: ServiceConfig,
        now: Instant,
    ) -> Result<(), DirectorError> {
        let i = self.svc_index(key).ok_or(ApplyError::NoSuchService)?;
        let t = self.since_epoch(now);
        let svc = self.svc_mut(i).ok_or(ApplyError::NoSuchService)?;
        if svc.sched.kind() != config.scheduler {
            svc.sched.set_kind(config.scheduler, t)?;
        }
        svc.sched.set_flags(config.sched_flags);
        svc.persist = persist_of(key, &config);
        svc.config = config;
        self.rebuild_sets();
        Ok(())
    }

    /// `ipvsadm -D`: delete a service (`ip_vs_del_service()`): its real servers go to the
    /// trash (kept while connections reference them; their packets are dropped, or the
    /// entries expired with `expire_nodest_conn`).
    ///
    /// # Errors
    /// [`ApplyError::NoSuchService`].
    pub fn delete_service(&mut self, key: &ServiceKey) -> Result<(), DirectorError> {
        let i = self.svc_index(key).ok_or(ApplyError::NoSuchService)?;
        let addrs: Vec<SocketAddr> = self
            .svc(i)
            .map(|s| {
                s.dests
                    .iter()
                    .filter_map(|&d| self.dest(d))
                    .map(|d| d.config.addr)
                    .collect()
            })
            .unwrap_or_default();
        for a in addrs {
            self.delete_dest(key, a)?;
        }
        match key {
            ServiceKey::Addr { protocol, addr } => {
                self.by_addr.remove(&(protocol.number(), *addr));
                if let Some(n) = self.vips.get_mut(&addr.ip()) {
                    *n = n.saturating_sub(1);
                    if *n == 0 {
                        self.vips.remove(&addr.ip());
                    }
                }
            }
            ServiceKey::Fwmark { mark, family } => {
                self.by_mark
                    .remove(&(*mark, *family == AddressFamily::Ipv6));
            }
        }
        if let Some(s) = self.services.get_mut(i as usize) {
            *s = None;
        }
        self.parked.retain(|(k, _), _| k != key);
        self.rebuild_sets();
        Ok(())
    }

    /// `ipvsadm -C`: delete every service.
    pub fn clear(&mut self) {
        let keys: Vec<ServiceKey> = self.services.iter().flatten().map(|s| s.key).collect();
        for k in keys {
            let _ = self.delete_service(&k);
        }
    }

    /// `ipvsadm -a`: add a real server (`ip_vs_add_dest()`). A real server deleted from this
    /// service but still referenced by connections is revived from the trash with its
    /// counters (`ip_vs_trash_get_dest()`).
    ///
    /// # Errors
    /// [`ApplyError::NoSuchService`], [`ApplyError::DestExists`],
    /// [`ApplyError::ThresholdOrder`], [`DirectorError::FamilyMismatch`],
    /// [`DirectorError::TooManyDests`], [`DirectorError::Sched`].
    pub fn add_dest(
        &mut self,
        service: &ServiceKey,
        dest: DestConfig,
        now: Instant,
    ) -> Result<(), DirectorError> {
        if dest.l_threshold > dest.u_threshold {
            return Err(ApplyError::ThresholdOrder.into());
        }
        let si = self.svc_index(service).ok_or(ApplyError::NoSuchService)?;
        if AddressFamily::of(dest.addr.ip()) != service.family() {
            return Err(DirectorError::FamilyMismatch);
        }
        if self.dest_slot_of(si, dest.addr, false).is_some() {
            return Err(ApplyError::DestExists.into());
        }
        let slot = if let Some(t) = self.dest_slot_of(si, dest.addr, true) {
            t
        } else {
            let slot = match self.free_dests.pop() {
                Some(s) => s,
                None => {
                    let n =
                        u32::try_from(self.dests.len()).map_err(|_| DirectorError::TooManyDests)?;
                    if n >= self.cfg.max_dests {
                        return Err(DirectorError::TooManyDests);
                    }
                    self.dests.push(None);
                    n
                }
            };
            if let Some(d) = self.dests.get_mut(slot as usize) {
                *d = Some(Dest {
                    svc: si,
                    config: dest,
                    available: true,
                    deleted: false,
                    stats: Stats::default(),
                    est: Estimator::new(now, &Stats::default()),
                });
            }
            slot
        };
        let c = self.table.dest_counters(lvs_conn::DestId(slot));
        let svc = self.services.get_mut(si as usize).and_then(Option::as_mut);
        let Some(svc) = svc else {
            return Err(ApplyError::NoSuchService.into());
        };
        if let Err(e) = svc.sched.add_dest(
            lvs_sched::DestId(slot),
            dest.addr.ip(),
            dest.addr.port(),
            dest_params(&dest),
        ) {
            // Roll back a fresh slot (a revived one stays in the trash).
            if let Some(Some(d)) = self.dests.get(slot as usize)
                && !d.deleted
            {
                self.release_slot(slot);
            }
            return Err(e.into());
        }
        let _ = svc.sched.set_conns(
            lvs_sched::DestId(slot),
            c.activeconns,
            c.inactconns,
            c.persistconns,
        );
        svc.dests.push(slot);
        if let Some(Some(d)) = self.dests.get_mut(slot as usize) {
            d.config = dest;
            d.available = true;
            d.deleted = false;
        }
        self.rebuild_sets();
        Ok(())
    }

    fn release_slot(&mut self, slot: u32) {
        if let Some(d) = self.dests.get_mut(slot as usize) {
            *d = None;
            self.free_dests.push(slot);
        }
    }

    /// `ipvsadm -e`: change a real server's weight, thresholds and forwarding method
    /// (`ip_vs_edit_dest()`). Weight 0 quiesces it: no new connections, existing ones go on.
    ///
    /// # Errors
    /// [`ApplyError::NoSuchService`], [`ApplyError::NoSuchDest`],
    /// [`ApplyError::ThresholdOrder`], [`DirectorError::Sched`].
    pub fn edit_dest(
        &mut self,
        service: &ServiceKey,
        dest: DestConfig,
    ) -> Result<(), DirectorError> {
        if dest.l_threshold > dest.u_threshold {
            return Err(ApplyError::ThresholdOrder.into());
        }
        let si = self.svc_index(service).ok_or(ApplyError::NoSuchService)?;
        let slot = self
            .dest_slot_of(si, dest.addr, false)
            .ok_or(ApplyError::NoSuchDest)?;
        if let Some(svc) = self.services.get_mut(si as usize).and_then(Option::as_mut) {
            svc.sched
                .edit_dest(lvs_sched::DestId(slot), dest_params(&dest))?;
        }
        if let Some(Some(d)) = self.dests.get_mut(slot as usize) {
            d.config = dest;
            d.available = true;
        }
        Ok(())
    }

    /// `ipvsadm -d`: delete a real server (`ip_vs_del_dest()`): it leaves the scheduler at
    /// once; its connections stay until they expire (their packets are dropped since the real
    /// server is no longer available, or the entries expired at the next packet with
    /// `expire_nodest_conn`), and the real server stays in the trash while they reference it.
    ///
    /// # Errors
    /// [`ApplyError::NoSuchService`], [`ApplyError::NoSuchDest`].
    pub fn delete_dest(
        &mut self,
        service: &ServiceKey,
        addr: SocketAddr,
    ) -> Result<(), DirectorError> {
        let si = self.svc_index(service).ok_or(ApplyError::NoSuchService)?;
        let slot = self
            .dest_slot_of(si, addr, false)
            .ok_or(ApplyError::NoSuchDest)?;
        if let Some(svc) = self.services.get_mut(si as usize).and_then(Option::as_mut) {
            let _ = svc.sched.remove_dest(lvs_sched::DestId(slot));
            svc.dests.retain(|&d| d != slot);
        }
        let c = self.table.dest_counters(lvs_conn::DestId(slot));
        if c == DestCounters::default() {
            self.release_slot(slot);
        } else if let Some(Some(d)) = self.dests.get_mut(slot as usize) {
            d.deleted = true;
            d.available = false;
        }
        self.rebuild_sets();
        Ok(())
    }

    /// Health hook (keepalived's checker result): mark real server `addr` of `service` up or
    /// down. With `inhibit_on_failure` a down real server keeps its place with weight 0
    /// (quiesced: existing connections go on) and gets its configured weight back when up;
    /// without it a down real server is removed as `-d` does and added back as `-a` does
    /// (reviving it from the trash when its connections still live).
    ///
    /// # Errors
    /// [`ApplyError::NoSuchService`], [`ApplyError::NoSuchDest`] (neither configured nor
    /// parked), [`DirectorError::Sched`].
    pub fn set_dest_health(
        &mut self,
        service: &ServiceKey,
        addr: SocketAddr,
        up: bool,
        inhibit_on_failure: bool,
        now: Instant,
    ) -> Result<(), DirectorError> {
        let si = self.svc_index(service).ok_or(ApplyError::NoSuchService)?;
        let live = self.dest_slot_of(si, addr, false);
        match (up, live) {
            (false, Some(slot)) => {
                let cfg = self
                    .dest(slot)
                    .map(|d| d.config)
                    .ok_or(ApplyError::NoSuchDest)?;
                self.parked.insert((*service, addr), cfg);
                if inhibit_on_failure {
                    let mut q = cfg;
                    q.weight = 0;
                    if let Some(svc) = self.services.get_mut(si as usize).and_then(Option::as_mut) {
                        svc.sched
                            .edit_dest(lvs_sched::DestId(slot), dest_params(&q))?;
                    }
                    Ok(())
                } else {
                    self.delete_dest(service, addr)
                }
            }
            (true, Some(slot)) => {
                if let Some(cfg) = self.parked.remove(&(*service, addr))
                    && let Some(svc) = self.services.get_mut(si as usize).and_then(Option::as_mut)
                {
                    svc.sched
                        .edit_dest(lvs_sched::DestId(slot), dest_params(&cfg))?;
                }
                Ok(())
            }
            (true, None) => {
                let cfg = self
                    .parked
                    .remove(&(*service, addr))
                    .ok_or(ApplyError::NoSuchDest)?;
                self.add_dest(service, cfg, now)
            }
            (false, None) => {
                if self.parked.contains_key(&(*service, addr)) {
                    Ok(())
                } else {
                    Err(ApplyError::NoSuchDest.into())
                }
            }
        }
    }

    /// `ipvsadm --set tcp tcpfin udp` (0 keeps a value).
    pub fn set_timeouts(&mut self, t: &Timeouts) {
        self.timeouts.update(t);
        let _ =
            self.table
                .set_timeouts(self.timeouts.tcp, self.timeouts.tcp_fin, self.timeouts.udp);
    }

    /// The current `--set` timeouts.
    pub fn timeouts(&self) -> Timeouts {
        self.timeouts
    }

    /// `ipvsadm -Z [service]`: zero the counters and rate estimators of one service (and its
    /// real servers) or of everything (`ip_vs_zero_service()` / `ip_vs_zero_all()`).
    ///
    /// # Errors
    /// [`ApplyError::NoSuchService`].
    pub fn zero(&mut self, service: Option<&ServiceKey>) -> Result<(), DirectorError> {
        let only = match service {
            Some(k) => Some(self.svc_index(k).ok_or(ApplyError::NoSuchService)?),
            None => None,
        };
        let z = Stats::default();
        for (i, s) in self.services.iter_mut().enumerate() {
            if let Some(s) = s
                && only.is_none_or(|o| o as usize == i)
            {
                s.stats = z;
                s.est.zero(&z);
            }
        }
        for d in self.dests.iter_mut().flatten() {
            if only.is_none_or(|o| o == d.svc) {
                d.stats = z;
                d.est.zero(&z);
            }
        }
        if only.is_none() {
            self.stats = z;
            self.est.zero(&z);
        }
        Ok(())
    }

    /// The configuration as `ipvsadm -S` sees it: services in insertion order with their
    /// (live) real servers.
    pub fn virtual_services(&self) -> Vec<VirtualService> {
        self.services
            .iter()
            .flatten()
            .map(|s| VirtualService {
                key: s.key,
                config: s.config.clone(),
                dests: s
                    .dests
                    .iter()
                    .filter_map(|&d| self.dest(d))
                    .map(|d| d.config)
                    .collect(),
            })
            .collect()
    }

    /// Execute one parsed ipvsadm command (from [`crate::ipvsadm::parse_rule`]): `-A -E -D -C
    /// -a -e -d -Z --set` change the table; `-L` (all its display options, `-c` through
    /// lvs-conn's listing) and `-S` return text; `--start-daemon` / `--stop-daemon` switch
    /// connection sync on and off. `now` drives the listings' timers and rates.
    ///
    /// # Errors
    /// [`DirectorError`]: the kernel's refusals, and [`DirectorError::Unsupported`] for `-R`,
    /// `-h`, `-v`.
    pub fn apply(&mut self, cmd: &Command, now: Instant) -> Result<ApplyOutput, DirectorError> {
        match cmd {
            Command::AddService { key, config } => self.add_service(*key, config.clone(), now)?,
            Command::EditService { key, config } => self.edit_service(key, config.clone(), now)?,
            Command::DeleteService { key } => self.delete_service(key)?,
            Command::Clear => self.clear(),
            Command::AddDest { service, dest } => self.add_dest(service, *dest, now)?,
            Command::EditDest { service, dest } => self.edit_dest(service, *dest)?,
            Command::DeleteDest { service, addr } => self.delete_dest(service, *addr)?,
            Command::Zero { service } => self.zero(service.as_ref())?,
            Command::SetTimeouts(t) => self.set_timeouts(t),
            Command::List(opts) => return Ok(ApplyOutput::Text(self.list(opts, now)?)),
            Command::Save { .. } => {
                return Ok(ApplyOutput::Text(crate::ipvsadm::save(
                    &self.virtual_services(),
                )));
            }
            Command::StartDaemon(d) => match d.state {
                DaemonState::Master => self.sync_master = Some(d.clone()),
                DaemonState::Backup => self.sync_backup = Some(d.clone()),
            },
            Command::StopDaemon { state, .. } => match state {
                DaemonState::Master => self.sync_master = None,
                DaemonState::Backup => self.sync_backup = None,
            },
            Command::Restore => return Err(DirectorError::Unsupported("-R")),
            Command::Help => return Err(DirectorError::Unsupported("-h")),
            Command::Version => return Err(DirectorError::Unsupported("-v")),
        }
        Ok(ApplyOutput::Done)
    }

    /// Parse and execute one ipvsadm rule line (`"-A -t 10.0.0.1:80 -s wrr"`, with or without
    /// the leading `ipvsadm`), as a control socket would forward it.
    ///
    /// # Errors
    /// [`DirectorError::Parse`] when the line does not parse, else as [`Director::apply`].
    pub fn apply_line(&mut self, line: &str, now: Instant) -> Result<ApplyOutput, DirectorError> {
        let cmd = crate::ipvsadm::parse_rule(line)?;
        self.apply(&cmd, now)
    }

    /// Rebuild the address sets [`Director::steer`] reads after a configuration change.
    pub(crate) fn rebuild_sets(&mut self) {
        self.laddrs = self
            .services
            .iter()
            .flatten()
            .flat_map(|s| s.config.local_addrs.iter().copied())
            .collect();
        self.rips = self
            .dests
            .iter()
            .flatten()
            .map(|d| d.config.addr.ip())
            .collect();
    }

    /// Expire connections due at `now` (updating the schedulers' activeconns / inactconns,
    /// freeing FULLNAT local ports, emptying the real-server trash) and run the 2-second rate
    /// estimators, and free incomplete IP datagrams older than `ipfrag_time` (queueing the
    /// ICMP fragment reassembly time exceeded the kernel sends for some of them: drain them
    /// with [`Director::poll_icmp`]). Returns the number of connection entries expired.
    pub fn handle_timeout(&mut self, now: Instant) -> usize {
        self.expire_fragments(now);
        let mut expired = std::mem::take(&mut self.expired);
        expired.clear();
        let n = self.table.handle_timeout(now, &mut expired);
        // The table's counters are final now and nothing schedules in between: bring each
        // real server's scheduler view in line once, not once per expired connection.
        let mut synced = std::mem::take(&mut self.dests_synced);
        synced.clear();
        synced.resize(self.dests.len(), false);
        for e in &expired {
            if let Some(d) = e.dest
                && let Some(done) = synced.get_mut(d.0 as usize)
                && !*done
            {
                *done = true;
                self.dest_counters_changed(d.0);
            }
        }
        self.dests_synced = synced;
        self.expired = expired;
        let t = self.since_epoch(now);
        for s in self.services.iter_mut().flatten() {
            s.est.update(now, &s.stats);
            s.sched.handle_timeout(t);
        }
        for d in self.dests.iter_mut().flatten() {
            d.est.update(now, &d.stats);
        }
        self.est.update(now, &self.stats);
        n
    }

    /// Bytes the IP reassembler holds for incomplete datagrams (at most
    /// [`DirectorConfig::ipfrag_high_thresh`]) and the number of those datagrams.
    pub fn frag_held(&self) -> (usize, usize) {
        (self.defrag.mem(), self.defrag.queues())
    }

    /// When [`Director::handle_timeout`] must next be called: the earliest connection timer
    /// or estimator tick, or the expiry of an incomplete IP datagram.
    pub fn poll_timeout(&self) -> Option<Instant> {
        let est = self.est.next_tick();
        let t = self.table.poll_timeout().map_or(est, |t| t.min(est));
        Some(self.defrag.poll_timeout().map_or(t, |f| f.min(t)))
    }

    /// The next ICMP error the director generated outside [`Director::process`]: today the
    /// fragment reassembly time exceeded of IP datagrams [`Director::handle_timeout`] expired
    /// (see "ICMP errors" in the module docs). `None` when there is none. Call it after each
    /// `handle_timeout` until it returns `None`; at most [`ICMP_QUEUE_MAX`] wait.
    pub fn poll_icmp(&mut self) -> Option<IcmpTransmit> {
        self.icmp_out.pop_front()
    }

    /// Bring the scheduler's view of real server `slot` in line with the connection table,
    /// and release a deleted real server no connection references any more.
    pub(crate) fn dest_counters_changed(&mut self, slot: u32) {
        let c = self.table.dest_counters(lvs_conn::DestId(slot));
        let Some(Some(d)) = self.dests.get(slot as usize) else {
            return;
        };
        if d.deleted {
            if c == DestCounters::default() {
                self.release_slot(slot);
            }
            return;
        }
        let si = d.svc;
        if let Some(svc) = self.services.get_mut(si as usize).and_then(Option::as_mut) {
            let _ = svc.sched.set_conns(
                lvs_sched::DestId(slot),
                c.activeconns,
                c.inactconns,
                c.persistconns,
            );
        }
    }

    /// Which of `workers` workers must process this frame (see the module docs): a hash of
    /// the client address for inbound packets and NAT replies, `lport % workers` for FULLNAT
    /// replies (to a local address of some service), 0 for frames that do not parse. Every
    /// worker's director answers the same (they share the configuration).
    pub fn steer(&self, frame: &[u8], workers: usize) -> usize {
        pipeline::steer(self, frame, workers)
    }

    /// Expire connection `id` now (`ip_vs_conn_expire_now()`; e.g. an operator's flush of one
    /// entry): its real server's counters and its FULLNAT local port are released. An entry
    /// that still controls others is re-armed instead, as the kernel does.
    pub fn expire_conn(&mut self, id: lvs_conn::ConnId, now: Instant) {
        if let Ok(Some(e)) = self.table.expire_now(id, now)
            && let Some(d) = e.dest
        {
            self.dest_counters_changed(d.0);
        }
    }

    /// Counters of the sync daemon.
    pub fn sync_stats(&self) -> SyncStats {
        self.sync_stats
    }
}
