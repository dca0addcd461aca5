//! The host model the ARP policy reads: interfaces with their IPv4 addresses, the
//! per-interface and `all` sysctls, and a small routing table.
//!
//! Address lists keep the kernel's order and primary/secondary marking
//! (net/ipv4/devinet.c `__inet_insert_ifa`): an address whose subnet (same prefix length,
//! same network) already holds an address is secondary and goes to the end; a primary goes
//! after the last primary of equal or wider scope. The ARP functions walk the list in this
//! order, as the kernel does, so the order decides which address wins.
//!
//! Two tables are derived from the addresses, as net/ipv4/fib_frontend.c `fib_add_ifaddr`
//! builds them: the local table (every address is local as a /32; a primary address on a
//! loopback interface makes its whole prefix local, which is why the seeds could ping any
//! 1.2.3.x after `ip addr add 1.2.3.1/24 dev lo`; the subnet broadcast of each primary with a
//! prefix shorter than /31 is a broadcast address) and the main table (a connected route per
//! primary address of a non-loopback interface, plus the routes added with
//! [`Host::add_route`]). Interfaces that are down contribute nothing.

use core::fmt;
use core::net::Ipv4Addr;

use crate::mac::MacAddr;

/// An interface name of at most 15 bytes (`IFNAMSIZ` - 1), stored inline so that reasons and
/// decisions can carry it without allocating.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct IfName {
    bytes: [u8; 15],
    len: u8,
}

impl IfName {
    /// `name` as an interface name; [`HostError::BadName`] when empty or longer than 15 bytes.
    pub fn new(name: &str) -> Result<IfName, HostError> {
        let src = name.as_bytes();
        if src.is_empty() || src.len() > 15 {
            return Err(HostError::BadName(name.to_owned()));
        }
        let mut bytes = [0u8; 15];
        for (d, s) in bytes.iter_mut().zip(src) {
            *d = *s;
        }
        Ok(IfName {
            bytes,
            len: src.len() as u8,
        })
    }

    /// The name as text.
    pub fn as_str(&self) -> &str {
        let b = self.bytes.get(..usize::from(self.len)).unwrap_or(&[]);
        core::str::from_utf8(b).unwrap_or("?")
    }
}

impl fmt::Display for IfName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Debug for IfName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}", self.as_str())
    }
}

/// Address scope (`ip addr add ... scope host|link|global`), ordered as the kernel's
/// `RT_SCOPE_*` values: a larger value is a narrower scope.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Scope {
    /// `RT_SCOPE_UNIVERSE` (0), shown as "global".
    Global,
    /// `RT_SCOPE_SITE` (200).
    Site,
    /// `RT_SCOPE_LINK` (253).
    Link,
    /// `RT_SCOPE_HOST` (254): valid inside the host only (127.0.0.1 on lo).
    Host,
    /// `RT_SCOPE_NOWHERE` (255).
    Nowhere,
}

impl Scope {
    /// The kernel's numeric value.
    pub const fn value(self) -> u8 {
        match self {
            Scope::Global => 0,
            Scope::Site => 200,
            Scope::Link => 253,
            Scope::Host => 254,
            Scope::Nowhere => 255,
        }
    }
}

impl fmt::Display for Scope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Scope::Global => "global",
            Scope::Site => "site",
            Scope::Link => "link",
            Scope::Host => "host",
            Scope::Nowhere => "nowhere",
        })
    }
}

/// One IPv4 address on an interface (`struct in_ifaddr`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct IfAddr {
    /// The address (`ifa_local`).
    pub local: Ipv4Addr,
    /// Prefix length, 0..=32.
    pub prefix_len: u8,
    /// Scope.
    pub scope: Scope,
    /// `IFA_F_SECONDARY`: another address of the same subnet was configured first.
    pub secondary: bool,
}

/// The network mask of a prefix length, as a host-order u32.
pub(crate) fn mask(prefix_len: u8) -> u32 {
    match prefix_len {
        0 => 0,
        n if n >= 32 => u32::MAX,
        n => u32::MAX << (32 - u32::from(n)),
    }
}

impl IfAddr {
    /// The netmask as a host-order u32.
    pub fn mask(&self) -> u32 {
        mask(self.prefix_len)
    }

    /// The network address.
    pub fn network(&self) -> Ipv4Addr {
        Ipv4Addr::from(u32::from(self.local) & self.mask())
    }

    /// The subnet broadcast address (network | !mask).
    pub fn broadcast(&self) -> Ipv4Addr {
        Ipv4Addr::from(u32::from(self.local) | !self.mask())
    }

    /// True when `ip` is in this address's subnet (the kernel's `inet_ifa_match`).
    pub fn contains(&self, ip: Ipv4Addr) -> bool {
        (u32::from(ip) ^ u32::from(self.local)) & self.mask() == 0
    }
}

/// The ARP-related sysctls of one `net.ipv4.conf.<dev>` directory (or of `all`), as the
/// kernel's `int`s. The effective value for an interface combines the interface's value with
/// `all`: see [`EffectiveConf`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct DevConf {
    /// `arp_ignore` (0..=8 meaningful; see [`crate::policy`]).
    pub arp_ignore: i32,
    /// `arp_announce` (0, 1, 2).
    pub arp_announce: i32,
    /// `arp_filter` (0 or non-zero).
    pub arp_filter: i32,
    /// `arp_accept` (0, 1, 2).
    pub arp_accept: i32,
    /// `drop_gratuitous_arp` (0 or non-zero).
    pub drop_gratuitous_arp: i32,
    /// `route_localnet` (0 or non-zero): treat 127/8 as routable.
    pub route_localnet: i32,
}

/// The values the kernel acts on for one interface (include/linux/inetdevice.h):
/// `IN_DEV_ARP_IGNORE`, `IN_DEV_ARP_ANNOUNCE` and (since the value 2 was added)
/// `IN_DEV_ARP_ACCEPT` are `IN_DEV_MAXCONF`, the larger of `all` and the interface;
/// `IN_DEV_ARPFILTER`, `drop_gratuitous_arp` and `IN_DEV_ROUTE_LOCALNET` are `IN_DEV_ORCONF`,
/// set when either is non-zero.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EffectiveConf {
    /// max(all, dev) `arp_ignore`.
    pub arp_ignore: i32,
    /// max(all, dev) `arp_announce`.
    pub arp_announce: i32,
    /// max(all, dev) `arp_accept`.
    pub arp_accept: i32,
    /// all || dev `arp_filter`.
    pub arp_filter: bool,
    /// all || dev `drop_gratuitous_arp`.
    pub drop_gratuitous_arp: bool,
    /// all || dev `route_localnet`.
    pub route_localnet: bool,
}

impl EffectiveConf {
    /// Combines `all` with one interface's values by the kernel's rules.
    pub fn combine(all: &DevConf, dev: &DevConf) -> EffectiveConf {
        EffectiveConf {
            arp_ignore: all.arp_ignore.max(dev.arp_ignore),
            arp_announce: all.arp_announce.max(dev.arp_announce),
            arp_accept: all.arp_accept.max(dev.arp_accept),
            arp_filter: all.arp_filter != 0 || dev.arp_filter != 0,
            drop_gratuitous_arp: all.drop_gratuitous_arp != 0 || dev.drop_gratuitous_arp != 0,
            route_localnet: all.route_localnet != 0 || dev.route_localnet != 0,
        }
    }
}

/// A network interface.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Interface {
    /// Name (`enp0s8`).
    pub name: IfName,
    /// Interface index (`ip link` number), unique in the host.
    pub ifindex: u32,
    /// Hardware address; 00:00:00:00:00:00 on lo.
    pub mac: MacAddr,
    /// `IFF_LOOPBACK`.
    pub loopback: bool,
    /// `IFF_UP`.
    pub up: bool,
    /// `IFF_NOARP`: ARP is neither answered nor sent on this interface.
    pub noarp: bool,
    /// `net.ipv4.conf.<name>.*`.
    pub conf: DevConf,
    addrs: Vec<IfAddr>,
}

impl Interface {
    /// The addresses in the kernel's list order (see the module docs).
    pub fn addrs(&self) -> &[IfAddr] {
        &self.addrs
    }

    /// True when `ip` is configured on this interface.
    pub fn has_addr(&self, ip: Ipv4Addr) -> bool {
        self.addrs.iter().any(|a| a.local == ip)
    }
}

/// A route of the main table (`ip route add <dst>/<len> dev <dev> [via <gw>] [src <src>]
/// [metric <m>]`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Route {
    /// Destination network.
    pub dst: Ipv4Addr,
    /// Destination prefix length, 0..=32 (0 with 0.0.0.0 is the default route).
    pub prefix_len: u8,
    /// Outgoing interface.
    pub ifindex: u32,
    /// Next-hop gateway; `None` for an on-link route.
    pub gateway: Option<Ipv4Addr>,
    /// Preferred source address (`src`).
    pub src: Option<Ipv4Addr>,
    /// Metric; the lower wins among routes of equal prefix length.
    pub metric: u32,
}

/// The kernel's `inet_addr_type` classes, as far as ARP needs them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AddrType {
    /// `RTN_UNICAST`: an address of some other host.
    Unicast,
    /// `RTN_LOCAL`: an address of this host.
    Local,
    /// `RTN_BROADCAST`: 0.0.0.0/8, 255.255.255.255 or a subnet broadcast address.
    Broadcast,
    /// `RTN_MULTICAST`: 224.0.0.0/4.
    Multicast,
}

/// Kind of the route an output lookup found.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RouteKind {
    /// The destination is local: the packet goes through the loopback interface.
    Local,
    /// A unicast route of the main table.
    Unicast,
}

/// Result of [`Host::route_output`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RouteLookup {
    /// Outgoing interface.
    pub ifindex: u32,
    /// Local or unicast.
    pub kind: RouteKind,
    /// Gateway, if the route has one.
    pub gateway: Option<Ipv4Addr>,
    /// Preferred source, if the route has one.
    pub src: Option<Ipv4Addr>,
}

/// Errors of host configuration (the `ip addr` / `ip route` / `sysctl` equivalents).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum HostError {
    /// Interface name empty or longer than 15 bytes.
    #[error("bad interface name {0:?}")]
    BadName(String),
    /// An interface with this name or index exists already.
    #[error("interface {0} exists already")]
    InterfaceExists(String),
    /// No interface with this index or name.
    #[error("no interface {0}")]
    NoSuchInterface(String),
    /// Prefix length above 32.
    #[error("prefix length {0} is above 32")]
    BadPrefixLen(u8),
    /// The address is configured on the interface already (`EEXIST`).
    #[error("address {0} exists already on {1}")]
    AddressExists(Ipv4Addr, String),
    /// Same subnet as an existing address but another scope (`EINVAL`, "Invalid scope value").
    #[error("address {0} has scope {1} but its subnet on {2} has another scope")]
    ScopeMismatch(Ipv4Addr, Scope, String),
    /// The address is not configured on the interface.
    #[error("address {0} is not on {1}")]
    NoSuchAddress(Ipv4Addr, String),
    /// Unknown sysctl name.
    #[error("unknown sysctl {0:?}")]
    UnknownSysctl(String),
}

/// The host: interfaces in creation order (the kernel's device list order; create lo first,
/// as the kernel does, because [`Host::select_addr`] prefers earlier devices), the `all` and
/// `default` sysctls, and the explicit routes.
#[derive(Debug, Clone, Default)]
pub struct Host {
    interfaces: Vec<Interface>,
    all: DevConf,
    default: DevConf,
    routes: Vec<Route>,
}

fn ip_u32(ip: Ipv4Addr) -> u32 {
    u32::from(ip)
}

impl Host {
    /// An empty host (no interfaces, all sysctls 0, no routes).
    pub fn new() -> Host {
        Host::default()
    }

    /// Adds an up Ethernet interface with the `default` sysctls and no addresses.
    /// Errors: [`HostError::BadName`], [`HostError::InterfaceExists`].
    pub fn add_interface(
        &mut self,
        name: &str,
        ifindex: u32,
        mac: MacAddr,
    ) -> Result<&mut Interface, HostError> {
        let name = IfName::new(name)?;
        if self
            .interfaces
            .iter()
            .any(|i| i.ifindex == ifindex || i.name == name)
        {
            return Err(HostError::InterfaceExists(name.as_str().to_owned()));
        }
        self.interfaces.push(Interface {
            name,
            ifindex,
            mac,
            loopback: false,
            up: true,
            noarp: false,
            conf: self.default,
            addrs: Vec::new(),
        });
        let last = self.interfaces.len() - 1;
        self.interfaces
            .get_mut(last)
            .ok_or_else(|| HostError::NoSuchInterface(name.as_str().to_owned()))
    }

    /// Adds an up loopback interface with 127.0.0.1/8 scope host, as the kernel configures lo
    /// when it comes up (net/ipv4/devinet.c `inetdev_event`, `NETDEV_UP`).
    pub fn add_loopback(&mut self, name: &str, ifindex: u32) -> Result<(), HostError> {
        let lo = self.add_interface(name, ifindex, MacAddr::ZERO)?;
        lo.loopback = true;
        self.add_addr(ifindex, Ipv4Addr::LOCALHOST, 8, Scope::Host)
    }

    /// All interfaces in device-list order.
    pub fn interfaces(&self) -> &[Interface] {
        &self.interfaces
    }

    /// The interface with index `ifindex`.
    pub fn interface(&self, ifindex: u32) -> Option<&Interface> {
        self.interfaces.iter().find(|i| i.ifindex == ifindex)
    }

    /// The interface with index `ifindex`, mutable (for `up`, `noarp`, `conf`).
    pub fn interface_mut(&mut self, ifindex: u32) -> Option<&mut Interface> {
        self.interfaces.iter_mut().find(|i| i.ifindex == ifindex)
    }

    /// The index of the interface called `name`.
    pub fn ifindex(&self, name: &str) -> Option<u32> {
        self.interfaces
            .iter()
            .find(|i| i.name.as_str() == name)
            .map(|i| i.ifindex)
    }

    fn iface_or_err(&self, ifindex: u32) -> Result<&Interface, HostError> {
        self.interface(ifindex)
            .ok_or_else(|| HostError::NoSuchInterface(ifindex.to_string()))
    }

    /// `ip addr add <local>/<prefix_len> dev <ifindex> scope <scope>` with the kernel's rules
    /// (net/ipv4/devinet.c `__inet_insert_ifa`): [`HostError::AddressExists`] when the address
    /// is on the interface already, [`HostError::ScopeMismatch`] when its subnet exists with
    /// another scope; the first address of a subnet is primary, later ones secondary.
    pub fn add_addr(
        &mut self,
        ifindex: u32,
        local: Ipv4Addr,
        prefix_len: u8,
        scope: Scope,
    ) -> Result<(), HostError> {
        if prefix_len > 32 {
            return Err(HostError::BadPrefixLen(prefix_len));
        }
        let iface = self
            .interface_mut(ifindex)
            .ok_or_else(|| HostError::NoSuchInterface(ifindex.to_string()))?;
        let mut new = IfAddr {
            local,
            prefix_len,
            scope,
            secondary: false,
        };
        let mut last_primary = 0usize;
        for (i, a) in iface.addrs.iter().enumerate() {
            if !a.secondary && scope.value() <= a.scope.value() {
                last_primary = i + 1;
            }
            if a.prefix_len == prefix_len && new.contains(a.local) {
                if a.local == local {
                    return Err(HostError::AddressExists(
                        local,
                        iface.name.as_str().to_owned(),
                    ));
                }
                if a.scope != scope {
                    return Err(HostError::ScopeMismatch(
                        local,
                        scope,
                        iface.name.as_str().to_owned(),
                    ));
                }
                new.secondary = true;
            }
        }
        if new.secondary {
            iface.addrs.push(new);
        } else {
            iface.addrs.insert(last_primary.min(iface.addrs.len()), new);
        }
        Ok(())
    }

    /// `ip addr del <local> dev <ifindex>`. Deleting a primary address also deletes the
    /// secondaries of its subnet (the kernel's default, `promote_secondaries` = 0).
    /// Error: [`HostError::NoSuchAddress`].
    pub fn del_addr(&mut self, ifindex: u32, local: Ipv4Addr) -> Result<(), HostError> {
        let iface = self
            .interface_mut(ifindex)
            .ok_or_else(|| HostError::NoSuchInterface(ifindex.to_string()))?;
        let Some(pos) = iface.addrs.iter().position(|a| a.local == local) else {
            return Err(HostError::NoSuchAddress(
                local,
                iface.name.as_str().to_owned(),
            ));
        };
        let gone = iface.addrs.remove(pos);
        if !gone.secondary {
            iface.addrs.retain(|a| {
                !(a.secondary && a.prefix_len == gone.prefix_len && gone.contains(a.local))
            });
        }
        Ok(())
    }

    /// `net.ipv4.conf.all.*`.
    pub fn all(&self) -> &DevConf {
        &self.all
    }

    /// `net.ipv4.conf.all.*`, mutable.
    pub fn all_mut(&mut self) -> &mut DevConf {
        &mut self.all
    }

    /// `sysctl -w net.ipv4.conf.<dev|all|default>.<name>=<value>` for the six ARP sysctls of
    /// [`DevConf`]; `default` applies to interfaces added later, as in the kernel.
    /// Errors: [`HostError::UnknownSysctl`], [`HostError::NoSuchInterface`].
    pub fn sysctl(&mut self, key: &str, value: i32) -> Result<(), HostError> {
        let unknown = || HostError::UnknownSysctl(key.to_owned());
        let rest = key.strip_prefix("net.ipv4.conf.").ok_or_else(unknown)?;
        let (dev, name) = rest.rsplit_once('.').ok_or_else(unknown)?;
        let conf = match dev {
            "all" => &mut self.all,
            "default" => &mut self.default,
            dev => {
                &mut self
                    .interfaces
                    .iter_mut()
                    .find(|i| i.name.as_str() == dev)
                    .ok_or_else(|| HostError::NoSuchInterface(dev.to_owned()))?
                    .conf
            }
        };
        let slot = match name {
            "arp_ignore" => &mut conf.arp_ignore,
            "arp_announce" => &mut conf.arp_announce,
            "arp_filter" => &mut conf.arp_filter,
            "arp_accept" => &mut conf.arp_accept,
            "drop_gratuitous_arp" => &mut conf.drop_gratuitous_arp,
            "route_localnet" => &mut conf.route_localnet,
            _ => return Err(unknown()),
        };
        *slot = value;
        Ok(())
    }

    /// The effective sysctls of `ifindex` ([`EffectiveConf::combine`] of `all` and the
    /// interface).
    pub fn effective(&self, ifindex: u32) -> Option<EffectiveConf> {
        self.interface(ifindex)
            .map(|i| EffectiveConf::combine(&self.all, &i.conf))
    }

    /// `ip route add`. Error: [`HostError::NoSuchInterface`], [`HostError::BadPrefixLen`].
    pub fn add_route(&mut self, route: Route) -> Result<(), HostError> {
        if route.prefix_len > 32 {
            return Err(HostError::BadPrefixLen(route.prefix_len));
        }
        self.iface_or_err(route.ifindex)?;
        self.routes.push(route);
        Ok(())
    }

    /// The kernel's `inet_addr_type(net, ip)`: 0.0.0.0/8 and 255.255.255.255 are broadcast,
    /// 224/4 multicast, otherwise the longest match in the local table (see the module docs)
    /// decides local or broadcast, and anything else is unicast.
    pub fn addr_type(&self, ip: Ipv4Addr) -> AddrType {
        let v = ip_u32(ip);
        if v >> 24 == 0 || ip.is_broadcast() {
            return AddrType::Broadcast;
        }
        if ip.is_multicast() {
            return AddrType::Multicast;
        }
        // An exact address is the longest possible match, and local /32 routes come first.
        if self.is_own_addr(ip) {
            return AddrType::Local;
        }
        let mut best_len = -1i32;
        let mut best = AddrType::Unicast;
        for iface in self.interfaces.iter().filter(|i| i.up) {
            for a in &iface.addrs {
                if a.secondary || has_no_prefix_route(a) {
                    continue;
                }
                let m = mask(a.prefix_len);
                let local = ip_u32(a.local);
                // A subnet broadcast is a /32: nothing but an exact address (handled above)
                // is longer.
                if a.prefix_len < 31 && v == local | !m {
                    return AddrType::Broadcast;
                }
                let len = i32::from(a.prefix_len);
                if iface.loopback && (v ^ local) & m == 0 && len > best_len {
                    best_len = len;
                    best = AddrType::Local;
                }
            }
        }
        best
    }

    /// True when `ip` is exactly one of the configured addresses of an up interface
    /// (`inet_lookup_ifaddr_rcu`).
    pub fn is_own_addr(&self, ip: Ipv4Addr) -> bool {
        self.interfaces
            .iter()
            .filter(|i| i.up)
            .any(|i| i.has_addr(ip))
    }

    /// Output route lookup for destination `dst` (`ip route get <dst>`): a local destination
    /// goes through the first loopback interface; otherwise the longest prefix of the main
    /// table wins, then the lowest metric, then the first created (connected routes, in
    /// address order, before explicit routes). Routes through interfaces that are down are
    /// skipped. `None` when no route matches (`ENETUNREACH`).
    pub fn route_output(&self, dst: Ipv4Addr) -> Option<RouteLookup> {
        if self.addr_type(dst) == AddrType::Local {
            let lo = self.interfaces.iter().find(|i| i.loopback && i.up)?;
            return Some(RouteLookup {
                ifindex: lo.ifindex,
                kind: RouteKind::Local,
                gateway: None,
                src: Some(dst),
            });
        }
        let v = ip_u32(dst);
        // (prefix length, metric, result) of the best match so far.
        let mut best: Option<(u8, u32, RouteLookup)> = None;
        let better = |best: &Option<(u8, u32, RouteLookup)>, len: u8, metric: u32| match best {
            None => true,
            Some((l, m, _)) => len > *l || (len == *l && metric < *m),
        };
        for iface in self.interfaces.iter().filter(|i| i.up && !i.loopback) {
            for a in &iface.addrs {
                if a.secondary || has_no_prefix_route(a) {
                    continue;
                }
                if (v ^ ip_u32(a.local)) & a.mask() == 0 && better(&best, a.prefix_len, 0) {
                    let r = RouteLookup {
                        ifindex: iface.ifindex,
                        kind: RouteKind::Unicast,
                        gateway: None,
                        src: Some(a.local),
                    };
                    best = Some((a.prefix_len, 0, r));
                }
            }
        }
        for r in &self.routes {
            if (v ^ ip_u32(r.dst)) & mask(r.prefix_len) == 0
                && better(&best, r.prefix_len, r.metric)
                && self.interface(r.ifindex).is_some_and(|i| i.up)
            {
                let lookup = RouteLookup {
                    ifindex: r.ifindex,
                    kind: RouteKind::Unicast,
                    gateway: r.gateway,
                    src: r.src,
                };
                best = Some((r.prefix_len, r.metric, lookup));
            }
        }
        best.map(|(_, _, r)| r)
    }

    /// The kernel's `confirm_addr_indev` (net/ipv4/devinet.c), ported step by step: on one
    /// interface, find a local address (equal to `local` unless `local` is 0.0.0.0) of scope
    /// at most `scope` that shares a subnet with `dst` (unless `dst` is 0.0.0.0). With
    /// `route_localnet` set, host-scope addresses count as link scope.
    pub(crate) fn confirm_addr_indev(
        iface: &Interface,
        route_localnet: bool,
        dst: u32,
        local: u32,
        scope: Scope,
    ) -> u32 {
        let localnet_scope = if route_localnet {
            Scope::Link
        } else {
            Scope::Host
        };
        let mut addr = 0u32;
        let mut same = false;
        for ifa in &iface.addrs {
            let min_scope = ifa.scope.min(localnet_scope);
            let ifa_local = ip_u32(ifa.local);
            if addr == 0 && (local == ifa_local || local == 0) && min_scope <= scope {
                addr = ifa_local;
                if same {
                    break;
                }
            }
            if !same {
                same = (local == 0 || ifa.contains(Ipv4Addr::from(local)))
                    && (dst == 0 || ifa.contains(Ipv4Addr::from(dst)));
                if same && addr != 0 {
                    if local != 0 || dst == 0 {
                        break;
                    }
                    // Is the selected address inside dst's subnet?
                    if ifa.contains(Ipv4Addr::from(addr)) {
                        break;
                    }
                    // No: can the new local address be used?
                    if min_scope <= scope {
                        addr = ifa_local;
                        break;
                    }
                    // Search on for a larger dst subnet.
                    same = false;
                }
            }
        }
        if same { addr } else { 0 }
    }

    /// The kernel's `inet_confirm_addr(net, in_dev, dst, local, scope)`: on interface
    /// `ifindex`, or on every interface in order when `None`. 0.0.0.0 for `dst`/`local` means
    /// "any". Returns the confirmed local address.
    pub fn confirm_addr(
        &self,
        ifindex: Option<u32>,
        dst: Ipv4Addr,
        local: Ipv4Addr,
        scope: Scope,
    ) -> Option<Ipv4Addr> {
        let one = |iface: &Interface| {
            let rl = EffectiveConf::combine(&self.all, &iface.conf).route_localnet;
            Self::confirm_addr_indev(iface, rl, ip_u32(dst), ip_u32(local), scope)
        };
        let found = match ifindex {
            Some(ix) => self.interface(ix).map_or(0, one),
            None => self
                .interfaces
                .iter()
                .map(one)
                .find(|a| *a != 0)
                .unwrap_or(0),
        };
        (found != 0).then_some(Ipv4Addr::from(found))
    }

    /// The kernel's `inet_select_addr(dev, dst, scope)` (net/ipv4/devinet.c): among the
    /// primary addresses of interface `ifindex` with scope at most `scope`, the first whose
    /// subnet contains `dst` (when `dst` is not 0.0.0.0), else the first of them; failing that,
    /// on every interface in device-list order, the first primary address whose scope is not
    /// link and at most `scope`. Returns the address and the interface it was found on.
    pub fn select_addr(
        &self,
        ifindex: u32,
        dst: Ipv4Addr,
        scope: Scope,
    ) -> Option<(Ipv4Addr, SelectRule)> {
        if let Some(iface) = self.interface(ifindex) {
            let rl = EffectiveConf::combine(&self.all, &iface.conf).route_localnet;
            let localnet_scope = if rl { Scope::Link } else { Scope::Host };
            let mut first = None;
            for a in iface.addrs.iter().filter(|a| !a.secondary) {
                if a.scope.min(localnet_scope) > scope {
                    continue;
                }
                if dst.is_unspecified() || a.contains(dst) {
                    return Some((a.local, SelectRule::DeviceSubnet));
                }
                if first.is_none() {
                    first = Some(a.local);
                }
            }
            if let Some(a) = first {
                return Some((a, SelectRule::DeviceFirstPrimary));
            }
        }
        self.interfaces.iter().find_map(|iface| {
            iface
                .addrs
                .iter()
                .find(|a| !a.secondary && a.scope != Scope::Link && a.scope <= scope)
                .map(|a| (a.local, SelectRule::OtherDevice(iface.name)))
        })
    }

    /// The kernel's `inet_addr_onlink(in_dev, a, b)`: some address of interface `ifindex` has
    /// a subnet containing `a` and (unless `b` is 0.0.0.0) `b`.
    pub fn addr_onlink(&self, ifindex: u32, a: Ipv4Addr, b: Ipv4Addr) -> bool {
        self.interface(ifindex).is_some_and(|i| {
            i.addrs
                .iter()
                .any(|ifa| ifa.contains(a) && (b.is_unspecified() || ifa.contains(b)))
        })
    }
}

/// True for an address that adds no prefix route: a /32 whose prefix is the address itself,
/// or a prefix inside 0.0.0.0/8 (`fib_add_ifaddr`).
fn has_no_prefix_route(a: &IfAddr) -> bool {
    let prefix = ip_u32(a.network());
    prefix >> 24 == 0 || (prefix == ip_u32(a.local) && a.prefix_len == 32)
}

/// Which step of `inet_select_addr` chose an address.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SelectRule {
    /// The first primary address of the outgoing interface whose subnet contains the target.
    DeviceSubnet,
    /// The first primary address of the outgoing interface (none contained the target).
    DeviceFirstPrimary,
    /// The outgoing interface had no usable address: the first primary address of scope
    /// global/site on this interface, in device-list order.
    OtherDevice(IfName),
}
