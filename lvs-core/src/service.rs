//! The configuration model of the director: virtual services, their real servers and the
//! global timeouts, as ipvsadm configures them (ipvsadm 1.31 `struct ipvs_service` /
//! `struct ipvs_dest`, kernel `struct ip_vs_service_user_kern` / `struct ip_vs_dest_user_kern`
//! in include/net/ip_vs.h).
//!
//! Pure data: the ipvsadm parser ([`crate::ipvsadm`]) produces these values, the `-S` printer
//! consumes them, and the director's runtime service table is built from them. [`IpvsConfig`]
//! applies ipvsadm [`Command`]s with the kernel's add/edit/delete semantics
//! (net/netfilter/ipvs/ip_vs_ctl.c), which is what `ipvsadm -R` does to an empty table.
//!
//! FULLNAT is not upstream: it follows Alibaba LVS / DPVS. A FULLNAT real server uses
//! [`ForwardMethod::FullNat`], and its virtual service carries a pool of local addresses
//! ([`ServiceConfig::local_addrs`]) from which the director draws the (LIP, lport) pair of each
//! connection.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};

use lvs_sched::{DestParams, SchedConfig, SchedFlags, SchedulerKind};

use crate::ipvsadm::{Command, RuleError};

/// Largest persistence / protocol timeout ipvsadm accepts: 31 days in seconds
/// (`MAX_TIMEOUT` in ipvsadm.c).
pub const MAX_TIMEOUT: u32 = 86400 * 31;

/// Default persistence timeout in seconds when `-p` is given without a value
/// (`IPVS_SVC_PERSISTENT_TIMEOUT` in libipvs/ip_vs.h).
pub const DEFAULT_PERSISTENT_TIMEOUT: u32 = 360;

/// Largest real-server weight ipvsadm accepts (`-w 0..65535`).
pub const MAX_WEIGHT: u32 = 65535;

/// Largest connection threshold ipvsadm accepts (`-x`/`-y 0..INT_MAX`).
pub const MAX_THRESHOLD: u32 = i32::MAX as u32;

/// Transport protocol of an address-keyed virtual service.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Protocol {
    /// TCP, IP protocol 6 (ipvsadm `-t`, listed as `TCP`).
    Tcp,
    /// UDP, IP protocol 17 (ipvsadm `-u`, listed as `UDP`).
    Udp,
    /// SCTP, IP protocol 132 (ipvsadm `--sctp-service`, listed as `SCTP`).
    Sctp,
}

impl Protocol {
    /// The IP protocol number (`IPPROTO_TCP` 6, `IPPROTO_UDP` 17, `IPPROTO_SCTP` 132).
    pub fn number(self) -> u8 {
        match self {
            Protocol::Tcp => 6,
            Protocol::Udp => 17,
            Protocol::Sctp => 132,
        }
    }

    /// The name ipvsadm's list prints (`protocol_name()` in ipvsadm.c): `TCP`, `UDP`, `SCTP`.
    pub fn name(self) -> &'static str {
        match self {
            Protocol::Tcp => "TCP",
            Protocol::Udp => "UDP",
            Protocol::Sctp => "SCTP",
        }
    }

    /// The ipvsadm option that introduces a service of this protocol
    /// (`option_from_protocol()` in ipvsadm.c): `-t`, `-u`, `--sctp-service`.
    pub fn option(self) -> &'static str {
        match self {
            Protocol::Tcp => "-t",
            Protocol::Udp => "-u",
            Protocol::Sctp => "--sctp-service",
        }
    }
}

/// Address family of a firewall-mark service (ipvsadm `-6` after `-f`), or of an address.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub enum AddressFamily {
    /// IPv4 (`AF_INET`, the default).
    #[default]
    Ipv4,
    /// IPv6 (`AF_INET6`).
    Ipv6,
}

impl AddressFamily {
    /// The family of an address.
    pub fn of(addr: IpAddr) -> Self {
        match addr {
            IpAddr::V4(_) => AddressFamily::Ipv4,
            IpAddr::V6(_) => AddressFamily::Ipv6,
        }
    }
}

/// What identifies a virtual service: protocol + VIP:port, or a firewall mark + family
/// (kernel `ip_vs_service_find()` / `ip_vs_svc_fwm_find()` in ip_vs_ctl.c).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ServiceKey {
    /// `-t|-u|--sctp-service VIP[:port]`. Port 0 is allowed only for persistent services
    /// (all ports of the VIP).
    Addr {
        /// Transport protocol.
        protocol: Protocol,
        /// VIP and virtual port (IPv4 or IPv6).
        addr: SocketAddr,
    },
    /// `-f MARK [-6]`: packets carrying this netfilter mark (1 ..= 2^32-1).
    Fwmark {
        /// The firewall mark, never 0.
        mark: u32,
        /// Address family of the service (`-6` selects IPv6).
        family: AddressFamily,
    },
}

impl ServiceKey {
    /// The service's address family.
    pub fn family(&self) -> AddressFamily {
        match self {
            ServiceKey::Addr { addr, .. } => AddressFamily::of(addr.ip()),
            ServiceKey::Fwmark { family, .. } => *family,
        }
    }

    /// The virtual port (0 for firewall-mark services).
    pub fn port(&self) -> u16 {
        match self {
            ServiceKey::Addr { addr, .. } => addr.port(),
            ServiceKey::Fwmark { .. } => 0,
        }
    }

    /// True for a firewall-mark service.
    pub fn is_fwmark(&self) -> bool {
        matches!(self, ServiceKey::Fwmark { .. })
    }
}

/// Persistence granularity (`-M`): an IPv4 netmask, or an IPv6 prefix length (1..=128).
/// The variant matches the service's family (the parser guarantees it).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PersistMask {
    /// IPv4 netmask applied to the client address (default 255.255.255.255). ipvsadm and the
    /// kernel accept any dotted quad here, contiguous or not.
    V4(Ipv4Addr),
    /// IPv6 prefix length applied to the client address, 1..=128 (default 128).
    V6(u8),
}

impl PersistMask {
    /// The default mask of a family: 255.255.255.255 or /128 (one template per client).
    pub fn default_for(family: AddressFamily) -> Self {
        match family {
            AddressFamily::Ipv4 => PersistMask::V4(Ipv4Addr::BROADCAST),
            AddressFamily::Ipv6 => PersistMask::V6(128),
        }
    }

    /// True when this is the family's default (ipvsadm then omits `-M` / `mask`).
    pub fn is_default(&self) -> bool {
        matches!(self, PersistMask::V4(m) if *m == Ipv4Addr::BROADCAST)
            || matches!(self, PersistMask::V6(128))
    }
}

impl fmt::Display for PersistMask {
    /// `255.255.0.0` for IPv4, the prefix length (`64`) for IPv6, as ipvsadm prints them.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PersistMask::V4(m) => write!(f, "{m}"),
            PersistMask::V6(p) => write!(f, "{p}"),
        }
    }
}

/// Persistence (`-p [timeout]` with `-M netmask`): connections from the same client (masked)
/// go to the same real server while the persistence template lives.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Persistence {
    /// Template timeout in seconds, 1..=[`MAX_TIMEOUT`] (default
    /// [`DEFAULT_PERSISTENT_TIMEOUT`] = 360).
    pub timeout: u32,
    /// Client-address granularity (default one client address).
    pub netmask: PersistMask,
}

impl Persistence {
    /// `-p` alone: 360 s and the family's default mask.
    pub fn default_for(family: AddressFamily) -> Self {
        Persistence {
            timeout: DEFAULT_PERSISTENT_TIMEOUT,
            netmask: PersistMask::default_for(family),
        }
    }
}

/// Everything `-A`/`-E` sets on a virtual service besides its key.
///
/// `Default` is what `ipvsadm -A -t VIP:port` gives: wlc, no flags, not persistent.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ServiceConfig {
    /// Scheduler (`-s`, default wlc).
    pub scheduler: SchedulerKind,
    /// Scheduler flags (`-b`, `IP_VS_SVC_F_SCHED1..3`).
    pub sched_flags: SchedFlags,
    /// Persistence (`-p`, `-M`), `None` when not persistent.
    pub persistence: Option<Persistence>,
    /// One-packet scheduling (`-o`, `IP_VS_SVC_F_ONEPACKET`; UDP and fwmark services only).
    pub one_packet: bool,
    /// Persistence engine name (`--pe`, e.g. `sip`), at most 16 characters. Kept, listed
    /// (`-Ln` prints `pe sip`) and saved (`-S`), but not applied: the director has no
    /// persistence engine, so a persistent service's templates are keyed by client address
    /// as without `--pe` (the kernel's ip_vs_pe_sip.c would add the SIP Call-ID to the
    /// template key).
    pub pe_name: Option<String>,
    /// FULLNAT local-address pool (our `--laddr IP`, repeatable), in the order given. Empty for
    /// services without FULLNAT real servers.
    pub local_addrs: Vec<IpAddr>,
}

impl ServiceConfig {
    /// The lvs-sched configuration of this service: its `-b` flags, every other knob at the
    /// kernel default ([`SchedConfig::default`]).
    pub fn sched_config(&self) -> SchedConfig {
        SchedConfig {
            flags: self.sched_flags,
            ..SchedConfig::default()
        }
    }
}

/// GUE/GRE tunnel checksum mode (`--tun-nocsum`, `--tun-csum`, `--tun-remcsum`;
/// `IP_VS_TUNNEL_ENCAP_FLAG_*` in include/uapi/linux/ip_vs.h).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum TunnelCsum {
    /// No checksum (flag value 0, the default; listed `-c`).
    #[default]
    NoCsum,
    /// Checksum (`IP_VS_TUNNEL_ENCAP_FLAG_CSUM` = 1; listed `+c`).
    Csum,
    /// Remote checksum offload, GUE only (`IP_VS_TUNNEL_ENCAP_FLAG_REMCSUM` = 2; listed `r+c`).
    RemCsum,
}

impl TunnelCsum {
    /// The ipvsadm option (`--tun-nocsum`, `--tun-csum`, `--tun-remcsum`).
    pub fn option(self) -> &'static str {
        match self {
            TunnelCsum::NoCsum => "--tun-nocsum",
            TunnelCsum::Csum => "--tun-csum",
            TunnelCsum::RemCsum => "--tun-remcsum",
        }
    }

    /// The short form `--tun-info` prints (`-c`, `+c`, `r+c`).
    pub fn short(self) -> &'static str {
        match self {
            TunnelCsum::NoCsum => "-c",
            TunnelCsum::Csum => "+c",
            TunnelCsum::RemCsum => "r+c",
        }
    }
}

/// Tunnel encapsulation of a `-i` real server (`--tun-type`, `IP_VS_CONN_F_TUNNEL_TYPE_*`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum TunnelKind {
    /// IP-in-IP (type 0, the default).
    #[default]
    Ipip,
    /// Generic UDP Encapsulation (type 1) to UDP port `port` (1..=65535, `--tun-port`,
    /// required).
    Gue {
        /// Destination UDP port.
        port: u16,
        /// Checksum mode.
        csum: TunnelCsum,
    },
    /// GRE (type 2); `csum` is never [`TunnelCsum::RemCsum`].
    Gre {
        /// Checksum mode.
        csum: TunnelCsum,
    },
}

impl TunnelKind {
    /// `ipip`, `gue` or `gre`.
    pub fn name(&self) -> &'static str {
        match self {
            TunnelKind::Ipip => "ipip",
            TunnelKind::Gue { .. } => "gue",
            TunnelKind::Gre { .. } => "gre",
        }
    }
}

/// Forwarding method of a real server (`IP_VS_CONN_F_FWD_MASK` values in
/// include/uapi/linux/ip_vs.h, plus FULLNAT).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum ForwardMethod {
    /// NAT (`-m`, masquerading, `IP_VS_CONN_F_MASQ`): listed `Masq`.
    Masq,
    /// Direct routing (`-g`, gatewaying, `IP_VS_CONN_F_DROUTE`, the default): listed `Route`.
    #[default]
    Route,
    /// IP tunnelling (`-i`, `IP_VS_CONN_F_TUNNEL`): listed `Tunnel`.
    Tunnel(TunnelKind),
    /// FULLNAT (ours, `--fullnat`): source and destination rewritten, replies come back
    /// through the director; listed `FullNat`.
    FullNat,
}

impl ForwardMethod {
    /// The name ipvsadm's `Forward` column prints (`fwd_name()` in ipvsadm.c): `Masq`,
    /// `Route`, `Tunnel`, and our `FullNat`.
    pub fn list_name(&self) -> &'static str {
        match self {
            ForwardMethod::Masq => "Masq",
            ForwardMethod::Route => "Route",
            ForwardMethod::Tunnel(_) => "Tunnel",
            ForwardMethod::FullNat => "FullNat",
        }
    }

    /// The ipvsadm switch `-S` prints (`fwd_switch()`): `-m`, `-g`, `-i`, and our
    /// `--fullnat`.
    pub fn switch(&self) -> &'static str {
        match self {
            ForwardMethod::Masq => "-m",
            ForwardMethod::Route => "-g",
            ForwardMethod::Tunnel(_) => "-i",
            ForwardMethod::FullNat => "--fullnat",
        }
    }

    /// True when the real-server port may differ from the virtual port (NAT and FULLNAT).
    /// For DR and TUN ipvsadm forces the RS port to the virtual port.
    pub fn maps_ports(&self) -> bool {
        matches!(self, ForwardMethod::Masq | ForwardMethod::FullNat)
    }
}

/// A real server of a virtual service (`-a`/`-e`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct DestConfig {
    /// RIP and port. For DR and TUN on address services the port equals the virtual port.
    pub addr: SocketAddr,
    /// Forwarding method (default DR).
    pub forward: ForwardMethod,
    /// Weight 0..=65535 (default 1); 0 quiesces the real server.
    pub weight: u32,
    /// Upper connection threshold (`-x`), 0 = none; active + inactive connections at or above
    /// it set OVERLOAD.
    pub u_threshold: u32,
    /// Lower connection threshold (`-y`), 0 = none.
    pub l_threshold: u32,
}

impl DestConfig {
    /// The lvs-sched parameters of this real server (weight and thresholds). The weight is at
    /// most 65535 when it comes from the parser; larger values saturate at `i32::MAX`.
    pub fn sched_params(&self) -> DestParams {
        DestParams {
            weight: i32::try_from(self.weight).unwrap_or(i32::MAX),
            u_threshold: self.u_threshold,
            l_threshold: self.l_threshold,
        }
    }

    /// A DR real server with weight 1 and no thresholds (`-a ... -r RIP:port`).
    pub fn new(addr: SocketAddr) -> Self {
        DestConfig {
            addr,
            forward: ForwardMethod::Route,
            weight: 1,
            u_threshold: 0,
            l_threshold: 0,
        }
    }
}

/// Protocol timeouts set by `ipvsadm --set tcp tcpfin udp` and listed by `--timeout`, in
/// seconds. In a `--set` command 0 means "keep the current value".
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Timeouts {
    /// TCP ESTABLISHED timeout (default 900).
    pub tcp: u32,
    /// TCP FIN_WAIT timeout (default 120).
    pub tcp_fin: u32,
    /// UDP timeout (default 300).
    pub udp: u32,
}

impl Default for Timeouts {
    /// The kernel defaults 900 120 300 (ip_vs_proto_tcp.c, ip_vs_proto_udp.c).
    fn default() -> Self {
        Timeouts {
            tcp: 900,
            tcp_fin: 120,
            udp: 300,
        }
    }
}

impl Timeouts {
    /// Apply a `--set` triple: each non-zero value replaces the current one.
    pub fn update(&mut self, set: &Timeouts) {
        if set.tcp != 0 {
            self.tcp = set.tcp;
        }
        if set.tcp_fin != 0 {
            self.tcp_fin = set.tcp_fin;
        }
        if set.udp != 0 {
            self.udp = set.udp;
        }
    }
}

/// One virtual service with its real servers, in insertion order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VirtualService {
    /// The service key.
    pub key: ServiceKey,
    /// Its configuration.
    pub config: ServiceConfig,
    /// Its real servers.
    pub dests: Vec<DestConfig>,
}

/// Why [`IpvsConfig::apply`] refused a command; the messages are libipvs's
/// `ipvs_strerror()` texts for the kernel's errno.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ApplyError {
    /// `-A` for a key already present (EEXIST).
    #[error("Service already exists")]
    ServiceExists,
    /// A command naming a service that is not there (ESRCH).
    #[error("No such service")]
    NoSuchService,
    /// `-a` for a real server already present (EEXIST).
    #[error("Destination already exists")]
    DestExists,
    /// `-e`/`-d` for a real server that is not there (ENOENT).
    #[error("No such destination")]
    NoSuchDest,
    /// `-a`/`-e` with `-y` above `-x` (ERANGE, ip_vs_ctl.c `ip_vs_add_dest()`).
    #[error("lower threshold is higher than upper threshold")]
    ThresholdOrder,
}

/// Why [`IpvsConfig::restore`] stopped: a line that does not parse, or a command the table
/// refuses, with its 1-based line number.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RestoreError {
    /// The line does not parse (`line N: -w: weight 70000 out of range 0..65535`).
    #[error(transparent)]
    Parse(#[from] RuleError),
    /// The command parsed but the table refused it (`line N: Service already exists`).
    #[error("line {line}: {error}")]
    Apply {
        /// 1-based line number.
        line: usize,
        /// The kernel's refusal.
        error: ApplyError,
    },
}

/// A whole ipvsadm configuration: the virtual services in insertion order and the timeouts.
///
/// This is the table `ipvsadm -R` builds and `ipvsadm -S` prints
/// ([`crate::ipvsadm::save`]).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct IpvsConfig {
    /// Virtual services, in insertion order.
    pub services: Vec<VirtualService>,
    /// Protocol timeouts.
    pub timeouts: Timeouts,
}

impl IpvsConfig {
    /// An empty table with default timeouts.
    pub fn new() -> Self {
        Self::default()
    }

    /// The service with this key.
    pub fn service(&self, key: &ServiceKey) -> Option<&VirtualService> {
        self.services.iter().find(|s| s.key == *key)
    }

    fn service_mut(&mut self, key: &ServiceKey) -> Result<&mut VirtualService, ApplyError> {
        self.services
            .iter_mut()
            .find(|s| s.key == *key)
            .ok_or(ApplyError::NoSuchService)
    }

    /// Apply one configuration command with the kernel's semantics (ip_vs_ctl.c):
    /// `-A` adds (error if present), `-E` replaces the whole service configuration (as
    /// ipvsadm sends every field, unspecified options fall back to their defaults), `-D`
    /// removes the service, `-C` clears, `-a` adds a real server, `-e` replaces its
    /// configuration, `-d` removes it, `--set` updates non-zero timeouts.
    ///
    /// Commands that do not change the configuration (list, save, zero, daemon, help,
    /// version, restore) are accepted and ignore the table.
    ///
    /// # Errors
    /// [`ApplyError`] as the kernel would refuse the command.
    pub fn apply(&mut self, cmd: &Command) -> Result<(), ApplyError> {
        match cmd {
            Command::AddService { key, config } => {
                if self.service(key).is_some() {
                    return Err(ApplyError::ServiceExists);
                }
                self.services.push(VirtualService {
                    key: *key,
                    config: config.clone(),
                    dests: Vec::new(),
                });
            }
            Command::EditService { key, config } => {
                self.service_mut(key)?.config = config.clone();
            }
            Command::DeleteService { key } => {
                let before = self.services.len();
                self.services.retain(|s| s.key != *key);
                if self.services.len() == before {
                    return Err(ApplyError::NoSuchService);
                }
            }
            Command::Clear => self.services.clear(),
            Command::AddDest { service, dest } => {
                check_thresholds(dest)?;
                let svc = self.service_mut(service)?;
                if svc.dests.iter().any(|d| d.addr == dest.addr) {
                    return Err(ApplyError::DestExists);
                }
                svc.dests.push(*dest);
            }
            Command::EditDest { service, dest } => {
                check_thresholds(dest)?;
                let svc = self.service_mut(service)?;
                let d = svc
                    .dests
                    .iter_mut()
                    .find(|d| d.addr == dest.addr)
                    .ok_or(ApplyError::NoSuchDest)?;
                *d = *dest;
            }
            Command::DeleteDest { service, addr } => {
                let svc = self.service_mut(service)?;
                let before = svc.dests.len();
                svc.dests.retain(|d| d.addr != *addr);
                if svc.dests.len() == before {
                    return Err(ApplyError::NoSuchDest);
                }
            }
            Command::SetTimeouts(t) => self.timeouts.update(t),
            Command::Zero { service: Some(key) } => {
                self.service_mut(key)?;
            }
            _ => {}
        }
        Ok(())
    }
}

impl IpvsConfig {
    /// `ipvsadm -R`: parse a restore stream and apply its commands in order. It stops at the
    /// first line that fails to parse or apply; the commands before it stay applied, as with
    /// ipvsadm (which exits at a bad line). Apply to a clone first for all-or-nothing.
    ///
    /// # Errors
    /// [`RestoreError`] naming the line.
    pub fn restore(&mut self, text: &str) -> Result<(), RestoreError> {
        for item in crate::ipvsadm::parse::restore_lines(text) {
            let (line, cmd) = item?;
            self.apply(&cmd)
                .map_err(|error| RestoreError::Apply { line, error })?;
        }
        Ok(())
    }
}

fn check_thresholds(dest: &DestConfig) -> Result<(), ApplyError> {
    // ip_vs_ctl.c ip_vs_add_dest()/ip_vs_edit_dest(): l_threshold > u_threshold is -ERANGE.
    if dest.l_threshold > dest.u_threshold {
        return Err(ApplyError::ThresholdOrder);
    }
    Ok(())
}
