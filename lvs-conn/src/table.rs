//! The single-owner connection table, [`ConnTable`].

use std::net::IpAddr;
use std::time::{Duration, Instant};

use crate::error::ConnError;
use crate::flags::{FwdMethod, conn_flags as cf};
use crate::inner::{
    Addr, EXPIRE_BATCH, Entry, Freed, Hasher, Inner, MAX_INDEX, NIL, SHED_CLASSES, TICK_MS,
    TICKS_PER_SEC, WALK_BATCH, WalkKey, new_entry,
};
use crate::proto::{
    Direction, L4Info, SctpState, TableDir, TcpState, Timeouts, ipproto, sctp_next_state,
    state_is_active, tcp_next_state,
};

/// Opaque handle of a real server (the kernel's `struct ip_vs_dest *`), chosen by the caller
/// (lvs-core maps it to its scheduler's handle). Values must be below
/// [`ConnConfig::max_dests`]; counters are kept in a dense array indexed by it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct DestId(pub u32);

/// Per-real-server connection counters, as `struct ip_vs_dest` keeps them and `ipvsadm -Ln`
/// shows them (ActiveConn, InActConn, `--persistent-conn` PersistConn).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct DestCounters {
    /// Connections in an active state (TCP ESTABLISHED, SYN_SENT, SYN_RECV, SYNACK; SCTP
    /// ESTABLISHED).
    pub activeconns: u32,
    /// Every other connection (UDP always).
    pub inactconns: u32,
    /// Persistence templates bound to this real server.
    pub persistconns: u32,
}

/// Handle of one entry (connection or template). Carries a generation: a handle to an
/// expired entry never names the slot's next occupant.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct ConnId(u64);

const V6_BIT: u64 = 1 << 63;

impl ConnId {
    fn new(v6: bool, generation: u32, idx: u32) -> ConnId {
        ConnId(
            if v6 { V6_BIT } else { 0 }
                | u64::from(generation & 0x7fff_ffff) << 32
                | u64::from(idx),
        )
    }
    pub(crate) fn v6(self) -> bool {
        self.0 & V6_BIT != 0
    }
    fn idx(self) -> u32 {
        self.0 as u32
    }
    fn generation(self) -> u32 {
        ((self.0 >> 32) as u32) & 0x7fff_ffff
    }
    /// The raw 64-bit value (for logging or maps).
    pub fn as_u64(self) -> u64 {
        self.0
    }
}

/// Configuration of a table. All limits are hard.
#[derive(Clone, Debug)]
pub struct ConnConfig {
    /// Most entries (connections + templates) held at once; clamped to 2^30 - 1.
    pub max_entries: u32,
    /// Most bytes the table allocates (entry slabs + hash indices, by capacity).
    pub max_bytes: usize,
    /// Secret seed of the index hash (choose it randomly per process).
    pub seed: u64,
    /// Sysctl `secure_tcp` on: TCP uses `tcp_states_dos` (ip_vs_proto_tcp.c).
    pub secure_tcp: bool,
    /// Per-state timeouts (seconds).
    pub timeouts: Timeouts,
    /// Real-server handles accepted: `DestId(0) .. DestId(max_dests - 1)`.
    pub max_dests: u32,
    /// Sysctl `conn_reuse_mode` (default 1), used by [`ConnTable::reuse_check`].
    pub conn_reuse_mode: u8,
    /// Sysctl `expire_nodest_conn` (default false), used by [`ConnTable::nodest_check`] and
    /// [`ConnTable::reuse_check`].
    pub expire_nodest_conn: bool,
    /// Sysctl `expire_quiescent_template` (default false), used by
    /// [`template_dest_usable`].
    pub expire_quiescent_template: bool,
}

impl Default for ConnConfig {
    fn default() -> Self {
        ConnConfig {
            max_entries: 1 << 20,
            max_bytes: 256 << 20,
            seed: 0x5eed_1e55_c0de_f00d,
            secure_tcp: false,
            timeouts: Timeouts::default(),
            max_dests: 65536,
            conn_reuse_mode: 1,
            expire_nodest_conn: false,
            expire_quiescent_template: false,
        }
    }
}

/// A new connection, as lvs-core knows it after scheduling. Addresses must all be IPv4 or
/// all IPv6; ports in host order.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ConnParams {
    /// IP protocol number: TCP 6, UDP 17 or SCTP 132.
    pub protocol: u8,
    /// CIP.
    pub caddr: IpAddr,
    /// Client port.
    pub cport: u16,
    /// VIP.
    pub vaddr: IpAddr,
    /// Virtual port.
    pub vport: u16,
    /// RIP.
    pub daddr: IpAddr,
    /// Real-server port.
    pub dport: u16,
    /// Forwarding method.
    pub fwd: FwdMethod,
    /// Real server the connection is bound to (counted in its activeconns/inactconns).
    pub dest: Option<DestId>,
    /// FULLNAT local address and port (LIP:lport); required for [`FwdMethod::FullNat`].
    pub local: Option<(IpAddr, u16)>,
}

/// Inbound lookup key (protocol, CIP:cport -> VIP:vport), for
/// [`ConnTable::lookup_in_batch`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct InKey {
    /// IP protocol number.
    pub protocol: u8,
    /// CIP.
    pub caddr: IpAddr,
    /// Client port.
    pub cport: u16,
    /// VIP.
    pub vaddr: IpAddr,
    /// Virtual port.
    pub vport: u16,
}

/// A packet's flow as seen on the wire (protocol, source address:port -> destination
/// address:port, ports in host order), for [`ConnTable::lookup_flows_batch`]: an inbound
/// packet is CIP:cport -> VIP:vport, a NAT reply RIP:rport -> CIP:cport, a FULLNAT reply
/// RIP:rport -> LIP:lport.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct FlowKey {
    /// IP protocol number.
    pub protocol: u8,
    /// Source address.
    pub saddr: IpAddr,
    /// Source port.
    pub sport: u16,
    /// Destination address.
    pub daddr: IpAddr,
    /// Destination port.
    pub dport: u16,
}

/// The addresses of a connection ([`ConnTable::addrs`]); fields as in [`ConnView`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ConnAddrs {
    /// IP protocol number.
    pub protocol: u8,
    /// CIP.
    pub caddr: IpAddr,
    /// Client port.
    pub cport: u16,
    /// VIP.
    pub vaddr: IpAddr,
    /// Virtual port.
    pub vport: u16,
    /// RIP.
    pub daddr: IpAddr,
    /// Real-server port.
    pub dport: u16,
    /// FULLNAT local address and port (LIP:lport).
    pub local: Option<(IpAddr, u16)>,
    /// Forwarding method (`None` for bits the kernel does not define).
    pub fwd: Option<FwdMethod>,
    /// Real server, if bound.
    pub dest: Option<DestId>,
}

/// Result of [`ConnTable::lookup_flows_batch`] for one packet: what
/// [`ConnTable::lookup_in`] then, on a miss, [`ConnTable::lookup_out`] return.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub enum FlowMatch {
    /// The connection whose inbound direction (client -> VIP) the packet belongs to.
    Inbound(ConnId),
    /// The NAT / FULLNAT connection whose reply direction the packet belongs to.
    Reply(ConnId),
    /// Neither.
    #[default]
    None,
}

/// Key of a persistence template: <protocol, client address masked, cport 0, VIP (or
/// fwmark), vport> as `ip_vs_sched_persist()` builds it (ip_vs_core.c).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct TemplateKey {
    /// IP protocol; 0 (`IPPROTO_IP`) for fwmark services.
    pub protocol: u8,
    /// Client address with the persistence netmask / prefix applied.
    pub caddr: IpAddr,
    /// VIP, or for fwmark services the mark as an address (first 32 bits, big endian).
    pub vaddr: IpAddr,
    /// Virtual port; 0 for FTP (21), port-zero and fwmark services.
    pub vport: u16,
}

/// The persistence settings of a virtual service (ipvsadm `-p`, `-M`, `-f`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PersistService {
    /// Service port (0 for port-zero and fwmark services).
    pub port: u16,
    /// Firewall mark (0 when the service is not fwmark-based).
    pub fwmark: u32,
    /// IPv4 netmask, `-M 255.255.255.0` as `0xffff_ff00` (default all ones).
    pub netmask_v4: u32,
    /// IPv6 prefix length for `-M` on IPv6 services (default 128).
    pub prefix_v6: u8,
}

impl Default for PersistService {
    fn default() -> Self {
        PersistService {
            port: 0,
            fwmark: 0,
            netmask_v4: u32::MAX,
            prefix_v6: 128,
        }
    }
}

/// FTP control port: its templates use vport 0 so data connections share them.
pub const FTPPORT: u16 = 21;

impl TemplateKey {
    /// Template key for a packet `client -> dst_addr:dst_port` of `protocol` hitting service
    /// `svc`, following `ip_vs_sched_persist()` (ip_vs_core.c): when `dst_port` equals the
    /// service port the key is <protocol, caddr & mask, 0, dst_addr, dst_port> (vport 0 for
    /// FTP, port 21); otherwise (port-zero and fwmark services) vport is 0 and fwmark
    /// services use protocol 0 and the mark as the virtual address.
    ///
    /// Errors: [`ConnError::FamilyMismatch`] when client and destination families differ.
    pub fn for_packet(
        svc: &PersistService,
        protocol: u8,
        client: IpAddr,
        dst_addr: IpAddr,
        dst_port: u16,
    ) -> Result<TemplateKey, ConnError> {
        let caddr = match (client, dst_addr) {
            (IpAddr::V4(c), IpAddr::V4(_)) => IpAddr::V4((c.to_bits() & svc.netmask_v4).into()),
            (IpAddr::V6(c), IpAddr::V6(_)) => {
                let p = u32::from(svc.prefix_v6.min(128));
                let mask = if p == 0 { 0 } else { u128::MAX << (128 - p) };
                IpAddr::V6((c.to_bits() & mask).into())
            }
            _ => return Err(ConnError::FamilyMismatch),
        };
        let (proto, vaddr, vport) = if dst_port == svc.port {
            (
                protocol,
                dst_addr,
                if svc.port != FTPPORT { dst_port } else { 0 },
            )
        } else if svc.fwmark != 0 {
            let mark = match dst_addr {
                IpAddr::V4(_) => IpAddr::V4(svc.fwmark.into()),
                IpAddr::V6(_) => IpAddr::V6((u128::from(svc.fwmark) << 96).into()),
            };
            (ipproto::IP, mark, 0)
        } else {
            (protocol, dst_addr, 0)
        };
        Ok(TemplateKey {
            protocol: proto,
            caddr,
            vaddr,
            vport,
        })
    }
}

/// Whether a template's real server may still be used (`ip_vs_check_template()`,
/// ip_vs_conn.c): it must be AVAILABLE, and not quiescent (weight 0) when
/// `expire_quiescent_template` is set.
pub fn template_dest_usable(available: bool, weight: u32, expire_quiescent_template: bool) -> bool {
    available && !(expire_quiescent_template && weight == 0)
}

/// A read-only copy of one entry.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ConnView {
    /// Its handle.
    pub id: ConnId,
    /// IP protocol number (0 for fwmark templates).
    pub protocol: u8,
    /// CIP (masked for templates).
    pub caddr: IpAddr,
    /// Client port (0 for templates).
    pub cport: u16,
    /// VIP (the mark for fwmark templates).
    pub vaddr: IpAddr,
    /// Virtual port.
    pub vport: u16,
    /// RIP.
    pub daddr: IpAddr,
    /// Real-server port.
    pub dport: u16,
    /// FULLNAT local address and port.
    pub local: Option<(IpAddr, u16)>,
    /// Forwarding method (`None` for the unused codes 6 and 7).
    pub fwd: Option<FwdMethod>,
    /// Real server.
    pub dest: Option<DestId>,
    /// Kernel state number (TCP `IP_VS_TCP_S_*`, SCTP `IP_VS_SCTP_S_*`, UDP 0; templates
    /// 0 NONE / 1 ASSURED).
    pub state: u8,
    /// Kernel `IP_VS_CONN_F_*` bits.
    pub flags: u32,
    /// Current timeout in seconds (`cp->timeout`).
    pub timeout_secs: u32,
    /// When the timer fires.
    pub expires_at: Instant,
    /// Packets client -> real server.
    pub in_pkts: u32,
    /// Packets real server -> client.
    pub out_pkts: u32,
    /// Bytes client -> real server.
    pub in_bytes: u64,
    /// Bytes real server -> client.
    pub out_bytes: u64,
    /// The controlling template / connection.
    pub control: Option<ConnId>,
    /// Number of entries this one controls.
    pub n_control: u32,
}

impl ConnView {
    /// Whether this entry is a persistence template.
    pub fn is_template(&self) -> bool {
        self.flags & cf::TEMPLATE != 0
    }
}

/// An entry that left the table (timer expiry, `expire_now`, or reuse).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ExpiredConn {
    /// Its former handle.
    pub id: ConnId,
    /// IP protocol.
    pub protocol: u8,
    /// Real server it was bound to (its counter was already decremented).
    pub dest: Option<DestId>,
    /// Kernel state number at expiry.
    pub state: u8,
    /// Kernel flags at expiry.
    pub flags: u32,
}

/// Counters of table events.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ConnStats {
    /// Connections and templates inserted.
    pub inserted: u64,
    /// Entries removed by timer expiry.
    pub expired: u64,
    /// Entries removed by `expire_now`, `nodest_check`, `reuse_check` or `remove`.
    pub removed: u64,
    /// Entries evicted to admit new ones, per shed class (0 closed, 1 embryonic, 2
    /// half-closed, 3 UDP).
    pub evicted: [u64; SHED_CLASSES],
    /// Inserts refused with [`ConnError::TableFull`].
    pub refused_full: u64,
}

/// State after a packet.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PacketOutcome {
    /// Kernel state number before the packet.
    pub old_state: u8,
    /// Kernel state number after it.
    pub new_state: u8,
}

/// Verdict of [`ConnTable::nodest_check`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NodestVerdict {
    /// The real server is available: forward.
    Forward,
    /// Unavailable and `expire_nodest_conn` = 0: drop the packet, keep the entry.
    Drop,
    /// Unavailable and `expire_nodest_conn` = 1: the entry was expired at once; lvs-core
    /// may schedule the packet anew.
    Expired(Option<ExpiredConn>),
}

/// Verdict of [`ConnTable::reuse_check`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ReuseVerdict {
    /// Use the existing connection.
    Keep,
    /// Schedule anew; the old entry was expired at once unless it controls others.
    Reschedule(Option<ExpiredConn>),
}

pub(crate) struct Shared {
    pub(crate) cfg: ConnConfig,
    pub(crate) hasher: Hasher,
    pub(crate) epoch: Instant,
    pub(crate) dests: Vec<DestCounters>,
    pub(crate) stats: ConnStats,
    /// The last `now` converted by `ticks_cached` and its tick (packets of one batch share
    /// their `now`, so the conversion runs once per batch).
    last_now: (Instant, u64),
}

impl Shared {
    #[inline]
    pub(crate) fn ticks(&self, now: Instant) -> u64 {
        (now.saturating_duration_since(self.epoch).as_millis() as u64) / TICK_MS
    }
    /// [`Shared::ticks`], remembering the last conversion.
    #[inline(always)]
    pub(crate) fn ticks_cached(&mut self, now: Instant) -> u64 {
        if self.last_now.0 != now {
            self.last_now = (now, self.ticks(now));
        }
        self.last_now.1
    }
    fn instant(&self, ticks: u64) -> Instant {
        let d = Duration::from_millis(ticks.saturating_mul(TICK_MS));
        self.epoch.checked_add(d).unwrap_or(self.epoch)
    }
    pub(crate) fn dest_mut(&mut self, d: u32) -> Option<&mut DestCounters> {
        if d == NIL || d >= self.cfg.max_dests {
            return None;
        }
        let i = d as usize;
        if i >= self.dests.len() {
            self.dests.resize(i + 1, DestCounters::default());
        }
        self.dests.get_mut(i)
    }
    /// `ip_vs_bind_dest()` counters.
    pub(crate) fn bind(&mut self, dest: u32, flags: u16) {
        let f = u32::from(flags);
        if let Some(c) = self.dest_mut(dest) {
            if f & cf::TEMPLATE != 0 {
                c.persistconns += 1;
            } else if f & cf::INACTIVE != 0 {
                c.inactconns += 1;
            } else {
                c.activeconns += 1;
            }
        }
    }
    /// `ip_vs_unbind_dest()` counters.
    fn unbind(&mut self, dest: u32, flags: u16) {
        let f = u32::from(flags);
        if let Some(c) = self.dest_mut(dest) {
            if f & cf::TEMPLATE != 0 {
                c.persistconns = c.persistconns.saturating_sub(1);
            } else if f & cf::INACTIVE != 0 {
                c.inactconns = c.inactconns.saturating_sub(1);
            } else {
                c.activeconns = c.activeconns.saturating_sub(1);
            }
        }
    }
}

/// The connection table, single owner, no locking (the kernel's ip_vs_conn.c hash table,
/// state handling of ip_vs_proto_*.c and the counters of ip_vs_ctl.c).
///
/// # Model
/// - Entries live in per-family slabs (IPv4 entries are 104 bytes: a 64-byte cache line of
///   the fields lookups and packets use, and 40 bytes of links and control fields in a
///   parallel slab; 117 B per entry with the index, at most 1/2 loaded, at 1M; IPv6 ones
///   larger) linked by u32 indices into a seeded chained hash index
///   keyed by (protocol, client address, client port), as the kernel's
///   `ip_vs_conn_hashkey_param()`; [`ConnTable::reserve`] pre-sizes slab and index. Inbound lookups match the full
///   (protocol, CIP, cport, VIP, vport) tuple; NAT replies hash the packet's destination (the
///   client) and match RIP:rport; FULLNAT replies use a second index keyed by LIP:lport.
///   Like the kernel, insert does not reject a duplicate key; the newest entry shadows.
/// - Time is the caller's `now`; timers sit in a 6-level hierarchical wheel of 10 ms ticks
///   (intrusive links, O(1) insert/remove, each entry re-filed at most once per level per
///   deadline); a packet only stores its new deadline unless it shortens the timer.
///   [`ConnTable::poll_timeout`] says when to call [`ConnTable::handle_timeout`] next.
/// - Capacity: when `max_entries` or `max_bytes` would be exceeded, one entry is shed, in
///   this class order, oldest entry of the class first: (0) closed TCP TIME_WAIT/CLOSE and
///   SCTP CLOSED/REJECTED; (1) embryonic TCP NONE/SYN_SENT/SYN_RECV/SYNACK/LISTEN and SCTP
///   NONE..COOKIE_ECHOED; (2) half-closed TCP FIN_WAIT/CLOSE_WAIT/LAST_ACK and SCTP
///   SHUTDOWN_*; (3) UDP. ESTABLISHED entries, templates and entries controlling others are
///   never shed; with nothing sheddable the insert fails with [`ConnError::TableFull`]
///   (counted in [`ConnStats::refused_full`]). Under a byte limit only the family being
///   inserted is shed (freed slots of the other family do not return bytes).
pub struct ConnTable {
    pub(crate) v4: Inner<u32>,
    pub(crate) v6: Inner<[u8; 16]>,
    pub(crate) sh: Shared,
}

enum Fam {
    V4,
    V6,
}

fn fam_of(a: IpAddr) -> Fam {
    match a {
        IpAddr::V4(_) => Fam::V4,
        IpAddr::V6(_) => Fam::V6,
    }
}

fn v4(a: IpAddr) -> Option<u32> {
    match a {
        IpAddr::V4(x) => Some(x.to_bits()),
        IpAddr::V6(_) => None,
    }
}

fn v6(a: IpAddr) -> Option<[u8; 16]> {
    match a {
        IpAddr::V6(x) => Some(x.octets()),
        IpAddr::V4(_) => None,
    }
}

/// Dispatch a generic body over the family of a `ConnId`.
macro_rules! with_inner {
    ($self:ident, $id:expr, |$inner:ident| $body:expr) => {
        if $id.v6() {
            let $inner = &mut $self.v6;
            $body
        } else {
            let $inner = &mut $self.v4;
            $body
        }
    };
}

/// Dispatch a lookup over the family of an address pair (mixed families miss).
macro_rules! by_pair {
    ($self:ident, $a:expr, $b:expr, |$inner:ident, $x:ident, $y:ident| $body:expr) => {
        match ($a, $b) {
            (IpAddr::V4(x), IpAddr::V4(y)) => {
                let ($inner, $x, $y) = (&$self.v4, x.to_bits(), y.to_bits());
                $body.map(|i| make_id(&$self.v4, false, i))
            }
            (IpAddr::V6(x), IpAddr::V6(y)) => {
                let ($inner, $x, $y) = (&$self.v6, x.octets(), y.octets());
                $body.map(|i| make_id(&$self.v6, true, i))
            }
            _ => None,
        }
    };
}

macro_rules! with_inner_ref {
    ($self:ident, $id:expr, |$inner:ident| $body:expr) => {
        if $id.v6() {
            let $inner = &$self.v6;
            $body
        } else {
            let $inner = &$self.v4;
            $body
        }
    };
}

pub(crate) fn resolve<A: Addr>(inner: &Inner<A>, id: ConnId) -> Option<u32> {
    let idx = id.idx();
    let e = inner.get(idx)?;
    (e.generation == id.generation()).then_some(idx)
}

pub(crate) fn make_id<A: Addr>(inner: &Inner<A>, v6: bool, idx: u32) -> ConnId {
    let g = inner.get(idx).map_or(0, |e| e.generation);
    ConnId::new(v6, g, idx)
}

fn expired_of(id: ConnId, e: &Freed) -> ExpiredConn {
    ExpiredConn {
        id,
        protocol: e.proto,
        dest: (e.dest != NIL).then_some(DestId(e.dest)),
        state: e.state,
        flags: e.kflags(),
    }
}

/// Remove an entry with its accounting; returns what its `ExpiredConn` needs.
pub(crate) fn remove_idx<A: Addr>(
    inner: &mut Inner<A>,
    sh: &mut Shared,
    idx: u32,
) -> Option<Freed> {
    let e = inner.free(&sh.hasher, idx)?;
    sh.unbind(e.dest, e.flags);
    if e.control != NIL
        && let Some(c) = inner.get_cold_mut(e.control)
    {
        c.n_control = c.n_control.saturating_sub(1);
    }
    Some(e)
}

/// Seconds to wheel ticks, clamped to [`crate::proto::MAX_TIMEOUT_SECS`] so every deadline
/// stays within the wheel's wrapping range (the `Timeouts` fields are public and unchecked).
fn ts_secs(secs: u32) -> u64 {
    u64::from(secs.min(crate::proto::MAX_TIMEOUT_SECS)) * TICKS_PER_SEC
}

/// One packet's state transition (`set_tcp_state()`, `udp_state_transition()`,
/// `set_sctp_state()`), with the activeconns/inactconns move and timer re-arm.
#[inline(always)]
fn packet<A: Addr>(
    inner: &mut Inner<A>,
    sh: &mut Shared,
    idx: u32,
    dir: Direction,
    l4: L4Info,
    bytes: u32,
    now: u64,
) -> PacketOutcome {
    // The cold part is touched only on an out_bytes carry and for ASSURED (the reference
    // itself loads nothing).
    let Some((e, cold)) = inner.get_both_mut(idx) else {
        return PacketOutcome {
            old_state: 0,
            new_state: 0,
        };
    };
    match dir {
        Direction::Input => {
            e.in_pkts = e.in_pkts.wrapping_add(1);
            e.in_bytes = e.in_bytes.wrapping_add(u64::from(bytes));
        }
        Direction::Output => {
            e.out_pkts = e.out_pkts.wrapping_add(1);
            e.add_out_bytes(cold, bytes);
        }
    }
    let old = e.state;
    if e.is_template() {
        let t = e.timeout;
        inner.rearm(idx, now + ts_secs(t));
        return PacketOutcome {
            old_state: old,
            new_state: old,
        };
    }
    let noout = u32::from(e.flags) & cf::NOOUTPUT != 0;
    let mut tdir = match dir {
        Direction::Input => TableDir::Input,
        Direction::Output => TableDir::Output,
    };
    let (new, assure) = match (e.proto, l4) {
        (ipproto::TCP, L4Info::Tcp { flags }) => {
            if noout {
                if dir == Direction::Output {
                    e.flags &= !(cf::NOOUTPUT as u16);
                } else {
                    tdir = TableDir::InputOnly;
                }
            }
            let cur = TcpState::from_u8(old).unwrap_or(TcpState::None);
            let new = tcp_next_state(sh.cfg.secure_tcp, tdir, flags, cur);
            (new as u8, new != cur && new == TcpState::Established)
        }
        (ipproto::SCTP, L4Info::Sctp { event }) => {
            if noout {
                if dir == Direction::Output {
                    e.flags &= !(cf::NOOUTPUT as u16);
                } else {
                    tdir = TableDir::InputOnly;
                }
            }
            let cur = SctpState::from_u8(old).unwrap_or(SctpState::None);
            let new = sctp_next_state(tdir, event, cur);
            (new as u8, new != cur && new == SctpState::Established)
        }
        (ipproto::UDP, _) => (0, dir == Direction::Output),
        _ => (old, false),
    };
    let proto = e.proto;
    if new != old && e.dest != NIL {
        let inactive = u32::from(e.flags) & cf::INACTIVE != 0;
        let active_new = state_is_active(proto, new);
        let dest = e.dest;
        if !inactive && !active_new {
            e.flags |= cf::INACTIVE as u16;
            if let Some(c) = sh.dest_mut(dest) {
                c.activeconns = c.activeconns.saturating_sub(1);
                c.inactconns += 1;
            }
        } else if inactive && active_new {
            e.flags &= !(cf::INACTIVE as u16);
            if let Some(c) = sh.dest_mut(dest) {
                c.inactconns = c.inactconns.saturating_sub(1);
                c.activeconns += 1;
            }
        }
    }
    let timeout = sh.cfg.timeouts.for_state(proto, new);
    let control = if assure { cold.control } else { NIL };
    e.timeout = timeout;
    if new != old {
        inner.set_state(idx, new);
    }
    // ip_vs_control_assure_ct(): the controlling template becomes ASSURED.
    if assure
        && let Some(c) = inner.get_mut(control)
        && c.is_template()
    {
        c.state = 1;
    }
    inner.rearm(idx, now + ts_secs(timeout));
    PacketOutcome {
        old_state: old,
        new_state: new,
    }
}

/// The batch walks of one family: `keys[..n]` are `out[at[j]]`'s keys.
#[allow(clippy::too_many_arguments)]
fn walk_family<A: Addr>(
    inner: &Inner<A>,
    hasher: &Hasher,
    keys: &[WalkKey<A>; WALK_BATCH],
    n: usize,
    at: &[usize; WALK_BATCH],
    out: &mut [FlowMatch],
    replies: bool,
    v6: bool,
) {
    let Some(keys) = keys.get(..n) else {
        return;
    };
    if n == 0 {
        return;
    }
    let mut idx = [NIL; WALK_BATCH];
    let Some(found) = idx.get_mut(..n) else {
        return;
    };
    inner.find_in_batch(hasher, keys, found);
    for (&i, &f) in at.iter().zip(found.iter()) {
        if f != NIL
            && let Some(o) = out.get_mut(i)
        {
            *o = FlowMatch::Inbound(make_id(inner, v6, f));
        }
    }
    if !replies || found.iter().all(|&f| f != NIL) {
        return;
    }
    inner.find_out_batch(hasher, keys, found);
    for (&i, &f) in at.iter().zip(found.iter()) {
        if f != NIL
            && let Some(o) = out.get_mut(i)
            && *o == FlowMatch::None
        {
            *o = FlowMatch::Reply(make_id(inner, v6, f));
        }
    }
}

fn view<A: Addr>(inner: &Inner<A>, sh: &Shared, v6: bool, idx: u32) -> Option<ConnView> {
    let (e, c) = inner.get_both(idx)?;
    let fwd = FwdMethod::from_bits(e.kflags());
    Some(ConnView {
        id: ConnId::new(v6, e.generation, idx),
        protocol: e.proto,
        caddr: e.caddr.to_ip(),
        cport: e.cport,
        vaddr: e.vaddr.to_ip(),
        vport: e.vport,
        daddr: e.daddr.to_ip(),
        dport: e.dport,
        local: (fwd == Some(FwdMethod::FullNat) && !e.is_template())
            .then(|| (c.laddr.to_ip(), c.lport)),
        fwd,
        dest: (e.dest != NIL).then_some(DestId(e.dest)),
        state: e.state,
        flags: e.kflags(),
        timeout_secs: e.timeout,
        expires_at: sh.instant(inner.abs_deadline(e.deadline)),
        in_pkts: e.in_pkts,
        out_pkts: e.out_pkts,
        in_bytes: e.in_bytes,
        out_bytes: inner.out_bytes(idx),
        control: (c.control != NIL).then(|| make_id(inner, v6, c.control)),
        n_control: c.n_control,
    })
}

/// Evict the oldest sheddable entry of the lowest class in `inner`.
fn evict_one<A: Addr>(inner: &mut Inner<A>, sh: &mut Shared, class: usize) -> bool {
    match inner.shed_candidate(class) {
        Some(i) => {
            remove_idx(inner, sh, i);
            sh.stats.evicted[class] += 1;
            true
        }
        None => false,
    }
}

impl ConnTable {
    /// An empty table. `epoch` is the instant all later `now` values are measured from
    /// (timers before it are treated as at it).
    pub fn new(mut cfg: ConnConfig, epoch: Instant) -> ConnTable {
        cfg.max_entries = cfg.max_entries.min(MAX_INDEX);
        let hasher = Hasher::new(cfg.seed);
        ConnTable {
            v4: Inner::new(),
            v6: Inner::new(),
            sh: Shared {
                cfg,
                hasher,
                epoch,
                last_now: (epoch, 0),
                dests: Vec::new(),
                stats: ConnStats::default(),
            },
        }
    }

    /// The configuration.
    pub fn config(&self) -> &ConnConfig {
        &self.sh.cfg
    }

    /// Turn sysctl `secure_tcp` on or off (switches `tcp_states` / `tcp_states_dos`).
    pub fn set_secure_tcp(&mut self, on: bool) {
        self.sh.cfg.secure_tcp = on;
    }

    /// `ipvsadm --set tcp tcpfin udp` (seconds, 0 keeps the value); applies to state changes
    /// from now on, as in the kernel.
    ///
    /// Errors: [`ConnError::TimeoutOutOfRange`].
    pub fn set_timeouts(&mut self, tcp: u32, tcpfin: u32, udp: u32) -> Result<(), ConnError> {
        self.sh.cfg.timeouts.set_ipvsadm(tcp, tcpfin, udp)
    }

    /// Number of live entries (connections and templates).
    pub fn len(&self) -> usize {
        (self.v4.len + self.v6.len) as usize
    }

    /// Whether the table is empty.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Pre-allocate room for `v4` more IPv4 and `v6` more IPv6 entries (entry slab and
    /// inbound hash index), so that inserting them neither reallocates the slab nor rehashes
    /// the index on the packet path. The slab part is capped at `max_entries`. The reserved
    /// capacity counts towards `max_bytes` ([`ConnTable::memory_bytes`] is by capacity).
    ///
    /// Errors: [`ConnError::TableFull`] (nothing reserved, not counted in
    /// [`ConnStats`]) when the reservation would take [`ConnTable::memory_bytes`] above
    /// `max_bytes`.
    pub fn reserve(&mut self, v4: usize, v6: usize) -> Result<(), ConnError> {
        let max = self.sh.cfg.max_entries;
        let after =
            self.memory_bytes() + self.v4.reserve_bytes(v4, max) + self.v6.reserve_bytes(v6, max);
        if after > self.sh.cfg.max_bytes {
            return Err(ConnError::TableFull);
        }
        self.v4.reserve(&self.sh.hasher, v4, max);
        self.v6.reserve(&self.sh.hasher, v6, max);
        Ok(())
    }

    /// Bytes allocated now for entries and indices (slab and index capacities), the figure
    /// `max_bytes` bounds. The per-real-server counter array (12 bytes per `DestId` up to
    /// the largest seen) is not included.
    pub fn memory_bytes(&self) -> usize {
        self.v4.bytes() + self.v6.bytes()
    }

    /// Event counters.
    pub fn stats(&self) -> ConnStats {
        self.sh.stats
    }

    /// Counters of real server `dest` (zero for one never bound).
    pub fn dest_counters(&self, dest: DestId) -> DestCounters {
        self.sh
            .dests
            .get(dest.0 as usize)
            .copied()
            .unwrap_or_default()
    }

    fn room(&mut self, fam: &Fam) -> Result<(), ConnError> {
        loop {
            let total = self.v4.len + self.v6.len;
            let growth = match fam {
                Fam::V4 => self.v4.growth_bytes(self.sh.cfg.max_entries),
                Fam::V6 => self.v6.growth_bytes(self.sh.cfg.max_entries),
            };
            let count_full = total >= self.sh.cfg.max_entries;
            let bytes_full = self.v4.bytes() + self.v6.bytes() + growth > self.sh.cfg.max_bytes;
            if !count_full && !bytes_full {
                return Ok(());
            }
            let mut done = false;
            for class in 0..SHED_CLASSES {
                let same_first = match fam {
                    Fam::V4 => {
                        evict_one(&mut self.v4, &mut self.sh, class)
                            || (!bytes_full && evict_one(&mut self.v6, &mut self.sh, class))
                    }
                    Fam::V6 => {
                        evict_one(&mut self.v6, &mut self.sh, class)
                            || (!bytes_full && evict_one(&mut self.v4, &mut self.sh, class))
                    }
                };
                if same_first {
                    done = true;
                    break;
                }
            }
            if !done {
                self.sh.stats.refused_full += 1;
                return Err(ConnError::TableFull);
            }
        }
    }

    /// Insert a new connection (`ip_vs_conn_new()` + `ip_vs_bind_dest()`): state NONE,
    /// flags = forwarding method | INACTIVE | NOOUTPUT (unless NAT or FULLNAT), a 3 s timer,
    /// counted in the real server's inactconns. With `controlled_by`, the entry is linked
    /// to its template (or control connection), whose `n_control` grows
    /// (`ip_vs_control_add()`); that template then cannot expire while this entry lives.
    ///
    /// Call [`ConnTable::on_packet`] for the packet that created it, as the kernel runs the
    /// state transition right after scheduling.
    ///
    /// Errors: [`ConnError::UnsupportedProtocol`] (not TCP/UDP/SCTP),
    /// [`ConnError::FamilyMismatch`], [`ConnError::MissingLocal`],
    /// [`ConnError::LocalPortInUse`], [`ConnError::DestOutOfRange`],
    /// [`ConnError::NoSuchControl`], [`ConnError::TableFull`].
    pub fn insert(
        &mut self,
        p: &ConnParams,
        controlled_by: Option<ConnId>,
        now: Instant,
    ) -> Result<ConnId, ConnError> {
        let mut flags = p.fwd.bits() | cf::INACTIVE;
        if !p.fwd.sees_replies() {
            flags |= cf::NOOUTPUT;
        }
        self.insert_raw(p, controlled_by, 0, flags, 3, now)
    }

    /// Insert with explicit state, kernel flags and timeout (seconds); used for entries
    /// imported from a connection-sync message (flags should include `SYNC`). The real
    /// server's counters follow the INACTIVE / TEMPLATE bits of `flags`.
    ///
    /// Errors: as [`ConnTable::insert`], plus [`ConnError::OnePacket`] when `flags` has
    /// ONE_PACKET and [`ConnError::TimeoutOutOfRange`].
    pub fn insert_raw(
        &mut self,
        p: &ConnParams,
        controlled_by: Option<ConnId>,
        state: u8,
        flags: u32,
        timeout_secs: u32,
        now: Instant,
    ) -> Result<ConnId, ConnError> {
        if !matches!(p.protocol, ipproto::TCP | ipproto::UDP | ipproto::SCTP)
            && flags & cf::TEMPLATE == 0
        {
            return Err(ConnError::UnsupportedProtocol(p.protocol));
        }
        if flags & cf::ONE_PACKET != 0 {
            return Err(ConnError::OnePacket);
        }
        if timeout_secs > crate::proto::MAX_TIMEOUT_SECS {
            return Err(ConnError::TimeoutOutOfRange(timeout_secs));
        }
        if let Some(d) = p.dest
            && d.0 >= self.sh.cfg.max_dests
        {
            return Err(ConnError::DestOutOfRange(d.0));
        }
        let fullnat = flags & cf::FWD_MASK == cf::FULLNAT && flags & cf::TEMPLATE == 0;
        if fullnat && p.local.is_none() {
            return Err(ConnError::MissingLocal);
        }
        let fam = fam_of(p.caddr);
        if let Some(c) = controlled_by
            && c.v6() != matches!(fam, Fam::V6)
        {
            return Err(ConnError::NoSuchControl);
        }
        let dest = p.dest.map_or(NIL, |d| d.0);
        let now_t = self.sh.ticks_cached(now);
        let deadline = now_t + ts_secs(timeout_secs);
        macro_rules! body {
            ($inner:ident, $conv:ident, $is6:expr) => {{
                let caddr = $conv(p.caddr).ok_or(ConnError::FamilyMismatch)?;
                let vaddr = $conv(p.vaddr).ok_or(ConnError::FamilyMismatch)?;
                let daddr = $conv(p.daddr).ok_or(ConnError::FamilyMismatch)?;
                let (laddr, lport) = match p.local {
                    Some((a, port)) if fullnat => {
                        ($conv(a).ok_or(ConnError::FamilyMismatch)?, port)
                    }
                    _ => (Default::default(), 0),
                };
                let control = match controlled_by {
                    Some(c) => resolve(&self.$inner, c).ok_or(ConnError::NoSuchControl)?,
                    None => NIL,
                };
                if fullnat
                    && self.$inner.local_in_use(
                        &self.sh.hasher,
                        p.protocol,
                        laddr,
                        lport,
                        daddr,
                        p.dport,
                    )
                {
                    return Err(ConnError::LocalPortInUse);
                }
                self.room(&fam)?;
                let kf = (flags & 0xffff) as u16;
                let e = new_entry(
                    p.protocol,
                    caddr,
                    p.cport,
                    vaddr,
                    p.vport,
                    daddr,
                    p.dport,
                    laddr,
                    lport,
                    kf,
                    state,
                    dest,
                    timeout_secs,
                    deadline as u32,
                    control,
                );
                let idx = self
                    .$inner
                    .alloc(&self.sh.hasher, e, deadline, self.sh.cfg.max_entries)
                    .ok_or(ConnError::TableFull)?;
                if let Some(c) = self.$inner.get_cold_mut(control) {
                    c.n_control += 1;
                }
                self.sh.bind(dest, kf);
                self.sh.stats.inserted += 1;
                Ok(make_id(&self.$inner, $is6, idx))
            }};
        }
        match fam {
            Fam::V4 => body!(v4, v4, false),
            Fam::V6 => body!(v6, v6, true),
        }
    }

    /// Insert a persistence template for `key` bound to real server `dest` at
    /// `daddr:dport` (dport is stored as 0 when `key.vport` is 0, as the kernel's
    /// port-zero / fwmark / FTP templates), state NONE, flags TEMPLATE | method | INACTIVE
    /// (| NOOUTPUT unless NAT), timer = `timeout_secs` (ipvsadm `-p`), counted in
    /// persistconns.
    ///
    /// Errors: [`ConnError::FamilyMismatch`], [`ConnError::DestOutOfRange`],
    /// [`ConnError::TimeoutOutOfRange`], [`ConnError::TableFull`].
    #[allow(clippy::too_many_arguments)]
    pub fn insert_template(
        &mut self,
        key: &TemplateKey,
        dest: DestId,
        daddr: IpAddr,
        dport: u16,
        fwd: FwdMethod,
        timeout_secs: u32,
        now: Instant,
    ) -> Result<ConnId, ConnError> {
        let mut flags = cf::TEMPLATE | fwd.bits() | cf::INACTIVE;
        if !fwd.sees_replies() {
            flags |= cf::NOOUTPUT;
        }
        let p = ConnParams {
            protocol: key.protocol,
            caddr: key.caddr,
            cport: 0,
            vaddr: key.vaddr,
            vport: key.vport,
            daddr,
            dport: if key.vport == 0 { 0 } else { dport },
            fwd,
            dest: Some(dest),
            local: None,
        };
        self.insert_raw(&p, None, 0, flags, timeout_secs, now)
    }

    /// Find the connection of an inbound packet client -> VIP (`ip_vs_conn_in_get()`);
    /// templates are not returned. Addresses of another family than the table entries
    /// simply miss.
    #[inline]
    pub fn lookup_in(
        &self,
        protocol: u8,
        caddr: IpAddr,
        cport: u16,
        vaddr: IpAddr,
        vport: u16,
    ) -> Option<ConnId> {
        by_pair!(self, caddr, vaddr, |inner, c, v| inner.find_in(
            &self.sh.hasher,
            protocol,
            c,
            cport,
            v,
            vport
        ))
    }

    /// [`ConnTable::lookup_in`] for a batch of inbound packets, `out[i]` for `keys[i]`
    /// (extra `out` slots are left alone). Same results, but the chains of up to 32 keys are
    /// walked together, one entry per key per round, so the cache misses of a batch (hash
    /// bucket, then entry) overlap instead of adding up: for a director that processes
    /// frames in batches.
    pub fn lookup_in_batch(&self, keys: &[InKey], out: &mut [Option<ConnId>]) {
        let mut flows = [FlowKey {
            protocol: 0,
            saddr: IpAddr::V4(std::net::Ipv4Addr::UNSPECIFIED),
            sport: 0,
            daddr: IpAddr::V4(std::net::Ipv4Addr::UNSPECIFIED),
            dport: 0,
        }; WALK_BATCH];
        let mut found = [FlowMatch::None; WALK_BATCH];
        for (kc, oc) in keys.chunks(WALK_BATCH).zip(out.chunks_mut(WALK_BATCH)) {
            for (f, k) in flows.iter_mut().zip(kc) {
                *f = FlowKey {
                    protocol: k.protocol,
                    saddr: k.caddr,
                    sport: k.cport,
                    daddr: k.vaddr,
                    dport: k.vport,
                };
            }
            let n = kc.len();
            self.walk_flows(flows.get(..n).unwrap_or(&[]), &mut found, false);
            for (o, f) in oc.iter_mut().zip(&found) {
                *o = match *f {
                    FlowMatch::Inbound(id) => Some(id),
                    _ => None,
                };
            }
        }
    }

    /// For each packet of a batch, what [`ConnTable::lookup_in`] and then, on a miss,
    /// [`ConnTable::lookup_out`] return (`out[i]` for `keys[i]`; extra `out` slots are left
    /// alone). The chains of up to 32 keys are walked together (inbound first, then the
    /// reply indices for the misses), so the cache misses of the batch overlap. The results
    /// stay exact until the next insert or removal, which [`ConnTable::index_epoch`] tells.
    pub fn lookup_flows_batch(&self, keys: &[FlowKey], out: &mut [FlowMatch]) {
        for (kc, oc) in keys.chunks(WALK_BATCH).zip(out.chunks_mut(WALK_BATCH)) {
            self.walk_flows(kc, oc, true);
        }
    }

    /// A counter that changes whenever an entry is inserted into or removed from the lookup
    /// indices (connections and templates, both families): lookup results taken at one
    /// epoch stay exact while the epoch is unchanged (packets of existing connections do not
    /// change it). Wrapping; compare for equality only.
    #[inline]
    pub fn index_epoch(&self) -> u64 {
        self.v4.epoch.wrapping_add(self.v6.epoch)
    }

    /// One chunk (at most [`WALK_BATCH`] keys) of the batch lookups, per family.
    fn walk_flows(&self, keys: &[FlowKey], out: &mut [FlowMatch], replies: bool) {
        let mut k4 = [(0u8, 0u32, 0u16, 0u32, 0u16); WALK_BATCH];
        let mut k6 = [(0u8, [0u8; 16], 0u16, [0u8; 16], 0u16); WALK_BATCH];
        let mut at4 = [0usize; WALK_BATCH];
        let mut at6 = [0usize; WALK_BATCH];
        let (mut n4, mut n6) = (0, 0);
        for (i, (k, o)) in keys.iter().zip(out.iter_mut()).enumerate() {
            *o = FlowMatch::None;
            match (k.saddr, k.daddr) {
                (IpAddr::V4(s), IpAddr::V4(d)) => {
                    if let (Some(slot), Some(at)) = (k4.get_mut(n4), at4.get_mut(n4)) {
                        *slot = (k.protocol, s.to_bits(), k.sport, d.to_bits(), k.dport);
                        *at = i;
                        n4 += 1;
                    }
                }
                (IpAddr::V6(s), IpAddr::V6(d)) => {
                    if let (Some(slot), Some(at)) = (k6.get_mut(n6), at6.get_mut(n6)) {
                        *slot = (k.protocol, s.octets(), k.sport, d.octets(), k.dport);
                        *at = i;
                        n6 += 1;
                    }
                }
                _ => {}
            }
        }
        walk_family(
            &self.v4,
            &self.sh.hasher,
            &k4,
            n4,
            &at4,
            out,
            replies,
            false,
        );
        walk_family(&self.v6, &self.sh.hasher, &k6, n6, &at6, out, replies, true);
    }

    /// Find the connection of a reply packet `saddr:sport -> daddr:dport`: FULLNAT replies
    /// RIP:rport -> LIP:lport first, then NAT replies RIP:rport -> CIP:cport
    /// (`ip_vs_conn_out_get()`).
    #[inline]
    pub fn lookup_out(
        &self,
        protocol: u8,
        saddr: IpAddr,
        sport: u16,
        daddr: IpAddr,
        dport: u16,
    ) -> Option<ConnId> {
        by_pair!(self, saddr, daddr, |inner, s, d| inner.find_out(
            &self.sh.hasher,
            protocol,
            s,
            sport,
            d,
            dport
        ))
    }

    /// Find a valid (not invalidated) template (`ip_vs_ct_in_get()`). Follow with
    /// [`ConnTable::check_template`] before using it.
    pub fn lookup_template(&self, key: &TemplateKey) -> Option<ConnId> {
        by_pair!(self, key.caddr, key.vaddr, |inner, c, v| inner
            .find_template(&self.sh.hasher, key.protocol, c, v, key.vport))
    }

    /// `ip_vs_check_template()`: when `dest_usable` (see [`template_dest_usable`]; also
    /// false when the template's real server was removed or differs from a required one)
    /// the template's timer is re-armed to its timeout and `true` returned; otherwise the
    /// template is made unmatchable (vport/dport 0xffff) and left to expire, and `false`
    /// is returned (schedule anew and insert a new template).
    ///
    /// Errors: [`ConnError::NoSuchConn`], [`ConnError::NotTemplate`].
    pub fn check_template(
        &mut self,
        id: ConnId,
        dest_usable: bool,
        now: Instant,
    ) -> Result<bool, ConnError> {
        let now_t = self.sh.ticks(now);
        with_inner!(self, id, |inner| {
            let idx = resolve(inner, id).ok_or(ConnError::NoSuchConn)?;
            if !inner.get(idx).is_some_and(Entry::is_template) {
                return Err(ConnError::NotTemplate);
            }
            if dest_usable {
                let t = inner.get(idx).map_or(0, |e| e.timeout);
                inner.rearm(idx, now_t + ts_secs(t));
                Ok(true)
            } else {
                inner.invalidate_template(idx);
                Ok(false)
            }
        })
    }

    /// [`template_dest_usable`] with this table's `expire_quiescent_template` setting.
    pub fn template_dest_usable(&self, available: bool, weight: u32) -> bool {
        template_dest_usable(available, weight, self.sh.cfg.expire_quiescent_template)
    }

    /// One-packet scheduling with persistence: after forwarding the packet, drop the
    /// template if it controls nothing and is not ASSURED ("drop CTL or non-assured TPL if
    /// not used anymore", `ip_vs_conn_expire()`). Returns whether it was dropped.
    ///
    /// Errors: [`ConnError::NoSuchConn`].
    pub fn release_unassured_template(&mut self, id: ConnId) -> Result<bool, ConnError> {
        let sh = &mut self.sh;
        with_inner!(self, id, |inner| {
            let idx = resolve(inner, id).ok_or(ConnError::NoSuchConn)?;
            let drop = inner
                .get_both(idx)
                .is_some_and(|(e, c)| e.is_template() && c.n_control == 0 && e.state == 0);
            if drop {
                remove_idx(inner, sh, idx);
                sh.stats.removed += 1;
            }
            Ok(drop)
        })
    }

    /// Account one packet of `bytes` bytes on connection `id` in direction `dir` at `now`:
    /// counters, the protocol's state transition (NOOUTPUT / INPUT_ONLY rule, flag priority,
    /// `secure_tcp` table), the activeconns/inactconns move when the state crosses the
    /// active boundary, ASSURED on the controlling template (TCP/SCTP reaching ESTABLISHED,
    /// UDP output), and re-arms the timer to the new state's timeout (`ip_vs_conn_put()`).
    ///
    /// Errors: [`ConnError::NoSuchConn`].
    #[inline(always)]
    pub fn on_packet(
        &mut self,
        id: ConnId,
        dir: Direction,
        l4: L4Info,
        bytes: u32,
        now: Instant,
    ) -> Result<PacketOutcome, ConnError> {
        let now_t = self.sh.ticks_cached(now);
        let sh = &mut self.sh;
        with_inner!(self, id, |inner| {
            let idx = resolve(inner, id).ok_or(ConnError::NoSuchConn)?;
            Ok(packet(inner, sh, idx, dir, l4, bytes, now_t))
        })
    }

    /// A copy of entry `id`, or `None` if it is gone.
    pub fn get(&self, id: ConnId) -> Option<ConnView> {
        with_inner_ref!(self, id, |inner| {
            let idx = resolve(inner, id)?;
            view(inner, &self.sh, id.v6(), idx)
        })
    }

    /// The addresses, forwarding method and real server of connection `id`: the part of
    /// [`ConnTable::get`] a packet's rewrite needs, without the timer and counter fields
    /// (the fast-path accessor for replies and FULLNAT).
    #[inline]
    pub fn addrs(&self, id: ConnId) -> Option<ConnAddrs> {
        with_inner_ref!(self, id, |inner| {
            let (e, c) = inner.get_both(resolve(inner, id)?)?;
            let fwd = FwdMethod::from_bits(e.kflags());
            Some(ConnAddrs {
                protocol: e.proto,
                caddr: e.caddr.to_ip(),
                cport: e.cport,
                vaddr: e.vaddr.to_ip(),
                vport: e.vport,
                daddr: e.daddr.to_ip(),
                dport: e.dport,
                local: (fwd == Some(FwdMethod::FullNat) && !e.is_template())
                    .then(|| (c.laddr.to_ip(), c.lport)),
                fwd,
                dest: (e.dest != NIL).then_some(DestId(e.dest)),
            })
        })
    }

    /// Real server of connection `id` (the fast-path accessor).
    #[inline]
    pub fn dest_of(&self, id: ConnId) -> Option<DestId> {
        with_inner_ref!(self, id, |inner| {
            let e = inner.get(resolve(inner, id)?)?;
            (e.dest != NIL).then_some(DestId(e.dest))
        })
    }

    /// Remove `id` now (`ip_vs_conn_expire_now()`). An entry controlling others is not
    /// removed: its timer is set to fire at `now` and the next `handle_timeout` re-arms it
    /// for 60 s, as the kernel's expire handler does; `Ok(None)` then.
    ///
    /// Errors: [`ConnError::NoSuchConn`].
    pub fn expire_now(
        &mut self,
        id: ConnId,
        now: Instant,
    ) -> Result<Option<ExpiredConn>, ConnError> {
        let now_t = self.sh.ticks(now);
        let sh = &mut self.sh;
        with_inner!(self, id, |inner| {
            let idx = resolve(inner, id).ok_or(ConnError::NoSuchConn)?;
            if inner.get_cold(idx).is_some_and(|e| e.n_control > 0) {
                inner.rearm(idx, now_t);
                return Ok(None);
            }
            let e = remove_idx(inner, sh, idx).ok_or(ConnError::NoSuchConn)?;
            sh.stats.removed += 1;
            Ok(Some(expired_of(id, &e)))
        })
    }

    /// `expire_nodest_conn` check for a packet on `id` whose real server is
    /// `dest_available` (IP_VS_DEST_F_AVAILABLE) or not (ip_vs_core.c `ip_vs_in_hook`).
    ///
    /// Errors: [`ConnError::NoSuchConn`].
    pub fn nodest_check(
        &mut self,
        id: ConnId,
        dest_available: bool,
        now: Instant,
    ) -> Result<NodestVerdict, ConnError> {
        if self.get(id).is_none() {
            return Err(ConnError::NoSuchConn);
        }
        if dest_available {
            return Ok(NodestVerdict::Forward);
        }
        if !self.sh.cfg.expire_nodest_conn {
            return Ok(NodestVerdict::Drop);
        }
        Ok(NodestVerdict::Expired(self.expire_now(id, now)?))
    }

    /// Connection reuse for a packet that could start a new connection (`is_new_conn`: TCP
    /// SYN, SCTP INIT) hitting existing entry `id`, as ip_vs_core.c: with `conn_reuse_mode`
    /// != 0, reschedule when `expire_nodest_conn` is set and the real server's weight is 0,
    /// or when the entry is uncontrolled and in TCP TIME_WAIT / CLOSE (or FIN_WAIT with
    /// NOOUTPUT when bit 2 of the mode is set) or SCTP CLOSED (`is_new_conn_expected()`).
    /// A rescheduled entry is expired at once unless it controls others.
    ///
    /// Errors: [`ConnError::NoSuchConn`].
    pub fn reuse_check(
        &mut self,
        id: ConnId,
        is_new_conn: bool,
        dest_weight_zero: bool,
        now: Instant,
    ) -> Result<ReuseVerdict, ConnError> {
        let v = self.get(id).ok_or(ConnError::NoSuchConn)?;
        let mode = self.sh.cfg.conn_reuse_mode;
        if mode == 0 || !is_new_conn {
            return Ok(ReuseVerdict::Keep);
        }
        let resched = if self.sh.cfg.expire_nodest_conn && v.dest.is_some() && dest_weight_zero {
            true
        } else {
            is_new_conn_expected(&v, mode)
        };
        if !resched {
            return Ok(ReuseVerdict::Keep);
        }
        let expired = if v.n_control == 0 {
            self.expire_now(id, now)?
        } else {
            None
        };
        Ok(ReuseVerdict::Reschedule(expired))
    }

    /// When [`ConnTable::handle_timeout`] must next be called (`None`: no timers).
    pub fn poll_timeout(&self) -> Option<Instant> {
        let a = self.v4.next_wakeup();
        let b = self.v6.next_wakeup();
        let t = match (a, b) {
            (Some(a), Some(b)) => a.min(b),
            (x, None) | (None, x) => x?,
        };
        Some(self.sh.instant(t))
    }

    /// Expire every entry whose timer is due at `now` (`ip_vs_conn_expire()`): an entry that
    /// controls live connections is re-armed for 60 s (its timeout becomes 60 s, as the
    /// kernel's `expire_later`); others are removed, their real server's counter
    /// decremented, their controller's `n_control` decremented, and appended to `expired`
    /// (reuse the vector: no allocation per entry once it has capacity). Returns the number
    /// appended.
    pub fn handle_timeout(&mut self, now: Instant, expired: &mut Vec<ExpiredConn>) -> usize {
        let now_t = self.sh.ticks(now);
        let before = expired.len();
        expire_family(&mut self.v4, &mut self.sh, false, now_t, expired);
        expire_family(&mut self.v6, &mut self.sh, true, now_t, expired);
        expired.len() - before
    }

    /// Every live entry, IPv4 first, in slab order.
    pub fn iter(&self) -> impl Iterator<Item = ConnView> + '_ {
        let a = self
            .v4
            .live_indices()
            .filter_map(move |i| view(&self.v4, &self.sh, false, i));
        let b = self
            .v6
            .live_indices()
            .filter_map(move |i| view(&self.v6, &self.sh, true, i));
        a.chain(b)
    }

    /// FULLNAT: whether LIP:lport towards RIP:rport is taken for `protocol` (so lvs-core can
    /// pick a free local port).
    pub fn local_in_use(
        &self,
        protocol: u8,
        laddr: IpAddr,
        lport: u16,
        daddr: IpAddr,
        dport: u16,
    ) -> bool {
        self.lookup_out(protocol, daddr, dport, laddr, lport)
            .and_then(|id| self.get(id))
            .is_some_and(|v| v.local == Some((laddr, lport)))
    }

    #[cfg(test)]
    pub(crate) fn check_invariants(&self) {
        self.v4.check_invariants();
        self.v6.check_invariants();
    }
}

fn expire_family<A: Addr>(
    inner: &mut Inner<A>,
    sh: &mut Shared,
    v6: bool,
    now_t: u64,
    out: &mut Vec<ExpiredConn>,
) {
    // Entries are taken off the wheel in batches; the index chains of a batch are walked
    // first, together (`warm_unhash`: independent loads the CPU overlaps), so removing the
    // entries one by one does not wait for one cache miss per chain node in turn.
    const BATCH: usize = EXPIRE_BATCH;
    let mut batch = [0u32; BATCH];
    loop {
        let mut n = 0;
        while n < BATCH {
            match inner.pop_expired(now_t) {
                Some(idx) => {
                    batch[n] = idx;
                    n += 1;
                }
                None => break,
            }
        }
        if n == 0 {
            return;
        }
        std::hint::black_box(inner.warm_unhash(&sh.hasher, &batch[..n]));
        for &idx in &batch[..n] {
            let controls = inner.get_cold(idx).is_some_and(|e| e.n_control > 0);
            if controls {
                if let Some(e) = inner.get_mut(idx) {
                    e.timeout = 60;
                }
                inner.refile(idx, now_t + ts_secs(60));
                continue;
            }
            let id = make_id(inner, v6, idx);
            if let Some(e) = remove_idx(inner, sh, idx) {
                sh.stats.expired += 1;
                out.push(expired_of(id, &e));
            }
        }
    }
}

/// `is_new_conn_expected()` (ip_vs_core.c): whether a new connection may replace `v`.
pub fn is_new_conn_expected(v: &ConnView, conn_reuse_mode: u8) -> bool {
    if v.control.is_some() {
        return false;
    }
    match v.protocol {
        ipproto::TCP => {
            v.state == TcpState::TimeWait as u8
                || v.state == TcpState::Close as u8
                || (conn_reuse_mode & 2 != 0
                    && v.state == TcpState::FinWait as u8
                    && v.flags & cf::NOOUTPUT != 0)
        }
        ipproto::SCTP => v.state == SctpState::Closed as u8,
        _ => false,
    }
}

/// Whether a protocol may use one-packet scheduling (`-o`): UDP only (ip_vs_core.c
/// `ip_vs_schedule`). Such packets are forwarded without inserting a connection.
pub fn one_packet_eligible(protocol: u8) -> bool {
    protocol == ipproto::UDP
}
