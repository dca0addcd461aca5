//! ipvsadm's list formats (`-L`/`-l` with `-n`, `--stats`, `--rate`, `--thresholds`,
//! `--persistent-conn`, `--tun-info`, `--exact`, `--nosort`, `--timeout`, `--daemon`),
//! character for character as ipvsadm 1.31 prints them (ipvsadm.c `list_all()`,
//! `print_title()`, `print_service_entry()`, `print_largenum()`, `list_timeout()`,
//! `list_daemon()`), and libipvs's default sort order (`ipvs_cmp_services()`,
//! `ipvs_cmp_dests()` under glibc's merge-sort `qsort()`).
//!
//! The connection listing `-Lnc` belongs to lvs-conn (its `list` module); [`list`] returns
//! [`ListError::Connections`] for it.

use std::fmt::Write as _;
use std::net::{IpAddr, SocketAddr};

use lvs_sched::{SchedFlags, SchedulerKind};

use super::{DaemonConfig, ListOptions};
use crate::service::{
    AddressFamily, DestConfig, ForwardMethod, ServiceConfig, ServiceKey, Timeouts, TunnelKind,
};

/// Cumulative counters of a virtual service or real server (`struct ip_vs_kstats` in
/// include/net/ip_vs.h): connections scheduled, packets and bytes in each direction
/// ("in" = client to real server, "out" = replies).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Stats {
    /// Connections scheduled.
    pub conns: u64,
    /// Incoming packets.
    pub inpkts: u64,
    /// Outgoing packets.
    pub outpkts: u64,
    /// Incoming bytes.
    pub inbytes: u64,
    /// Outgoing bytes.
    pub outbytes: u64,
}

/// Rates read from the estimator ([`crate::estimator::Estimator::rates`]): connections,
/// packets per second and bytes per second.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Rates {
    /// Connections per second.
    pub cps: u64,
    /// Incoming packets per second.
    pub inpps: u64,
    /// Outgoing packets per second.
    pub outpps: u64,
    /// Incoming bytes per second.
    pub inbps: u64,
    /// Outgoing bytes per second.
    pub outbps: u64,
}

/// A real server as the list shows it: its configuration plus the live counts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DestSnapshot {
    /// Configuration (address, forwarding method, weight, thresholds).
    pub config: DestConfig,
    /// The RIP is a local address of the director (`IP_VS_CONN_F_LOCALNODE`): listed as
    /// `Local`, saved as `-g`.
    pub local_node: bool,
    /// Active connections (`activeconns`).
    pub activeconns: u32,
    /// Inactive connections (`inactconns`).
    pub inactconns: u32,
    /// Persistence templates pointing at this real server (`persistconns`).
    pub persistconns: u32,
    /// Counters.
    pub stats: Stats,
    /// Estimated rates.
    pub rates: Rates,
}

impl DestSnapshot {
    /// A snapshot with zero counts.
    pub fn new(config: DestConfig) -> Self {
        DestSnapshot {
            config,
            local_node: false,
            activeconns: 0,
            inactconns: 0,
            persistconns: 0,
            stats: Stats::default(),
            rates: Rates::default(),
        }
    }
}

/// A virtual service as the list shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServiceSnapshot {
    /// Key.
    pub key: ServiceKey,
    /// Configuration.
    pub config: ServiceConfig,
    /// Counters.
    pub stats: Stats,
    /// Estimated rates.
    pub rates: Rates,
    /// Real servers in table order.
    pub dests: Vec<DestSnapshot>,
}

/// Everything the ipvsadm list commands read from the kernel, filled by the director.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListSnapshot {
    /// IPVS version printed in the header (the kernel reports 1.2.1).
    pub version: (u32, u32, u32),
    /// Connection hash table size printed in the header (default 4096, conn_tab_bits 12).
    pub conn_tab_size: u32,
    /// Virtual services in table order (the list sorts them unless `--nosort`).
    pub services: Vec<ServiceSnapshot>,
    /// Current timeouts (`--timeout`).
    pub timeouts: Timeouts,
    /// Running sync daemons (`--daemon`), master first.
    pub daemons: Vec<DaemonConfig>,
}

impl Default for ListSnapshot {
    fn default() -> Self {
        ListSnapshot {
            version: (1, 2, 1),
            conn_tab_size: 4096,
            services: Vec::new(),
            timeouts: Timeouts::default(),
            daemons: Vec::new(),
        }
    }
}

impl ListSnapshot {
    /// A snapshot of a configuration with all counters zero.
    pub fn from_config(config: &crate::service::IpvsConfig) -> Self {
        ListSnapshot {
            services: config
                .services
                .iter()
                .map(|s| ServiceSnapshot {
                    key: s.key,
                    config: s.config.clone(),
                    stats: Stats::default(),
                    rates: Rates::default(),
                    dests: s.dests.iter().copied().map(DestSnapshot::new).collect(),
                })
                .collect(),
            timeouts: config.timeouts,
            ..Default::default()
        }
    }
}

/// Why [`list`] printed nothing.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ListError {
    /// `-L -t VIP:port` for a service that does not exist (ESRCH).
    #[error("No such service")]
    NoSuchService,
    /// `-c`: the connection table is printed by lvs-conn's listing, not from a snapshot.
    #[error("the connection listing (-c) is printed by lvs-conn")]
    Connections,
}

/// Run an ipvsadm list command ([`ListOptions`] from a parsed `-L`) over a snapshot, the way
/// `process_options()` dispatches it: `--timeout`, `--daemon`, one service, or everything.
///
/// # Errors
/// [`ListError::Connections`] for `-c`, [`ListError::NoSuchService`] for an unknown service.
pub fn list(snap: &ListSnapshot, opts: &ListOptions) -> Result<String, ListError> {
    if opts.connections {
        return Err(ListError::Connections);
    }
    if let Some(key) = &opts.service {
        let svc = snap
            .services
            .iter()
            .find(|s| s.key == *key)
            .ok_or(ListError::NoSuchService)?;
        let mut out = String::new();
        print_title(&mut out, opts);
        print_service(&mut out, svc, opts);
        return Ok(out);
    }
    if opts.timeout {
        return Ok(list_timeout(&snap.timeouts));
    }
    if opts.daemon {
        return Ok(list_daemon(&snap.daemons));
    }
    Ok(list_services(snap, opts))
}

/// The whole table (`ipvsadm -Ln` and its display options): the version header, the column
/// titles, then every service (sorted unless `--nosort`) with its real servers.
pub fn list_services(snap: &ListSnapshot, opts: &ListOptions) -> String {
    let mut out = String::new();
    let (a, b, c) = snap.version;
    let _ = writeln!(
        out,
        "IP Virtual Server version {a}.{b}.{c} (size={})",
        snap.conn_tab_size
    );
    print_title(&mut out, opts);
    let mut order: Vec<&ServiceSnapshot> = snap.services.iter().collect();
    if !opts.nosort {
        sort_services(&mut order, |s| &s.key);
    }
    for svc in order {
        print_service(&mut out, svc, opts);
    }
    out
}

/// `ipvsadm -L --timeout`: `Timeout (tcp tcpfin udp): 900 120 300`.
pub fn list_timeout(t: &Timeouts) -> String {
    format!(
        "Timeout (tcp tcpfin udp): {} {} {}\n",
        t.tcp, t.tcp_fin, t.udp
    )
}

/// `ipvsadm -L --daemon`: one line per daemon,
/// `master sync daemon (mcast=eth0, syncid=1, maxlen=1472, group=224.0.0.81, port=8848, ttl=1)`;
/// `maxlen`, `group`, `port` and `ttl` only when set (non-zero / `Some`).
pub fn list_daemon(daemons: &[DaemonConfig]) -> String {
    let mut out = String::new();
    for d in daemons {
        let _ = write!(
            out,
            "{} sync daemon (mcast={}, syncid={}",
            d.state.name(),
            d.mcast_ifn,
            d.syncid
        );
        if d.sync_maxlen != 0 {
            let _ = write!(out, ", maxlen={}", d.sync_maxlen);
        }
        if let Some(g) = d.mcast_group {
            let _ = write!(out, ", group={g}");
        }
        if d.mcast_port != 0 {
            let _ = write!(out, ", port={}", d.mcast_port);
        }
        if d.mcast_ttl != 0 {
            let _ = write!(out, ", ttl={}", d.mcast_ttl);
        }
        out.push_str(")\n");
    }
    out
}

/// ipvsadm's `print_largenum()`: with `exact`, the number right-aligned in 9 columns (or its
/// length + 1 when longer than 8 digits); otherwise `%9llu` below 10^8, then
/// `%8llu` + `K` (thousands) below 10^9, `M` (millions) below 10^11, `G` (10^9) below
/// 10^14, and `T` (10^12) above.
pub fn print_largenum(out: &mut String, i: u64, exact: bool) {
    if exact {
        let s = i.to_string();
        let width = if s.len() <= 8 { 9 } else { s.len() + 1 };
        let _ = write!(out, "{s:>width$}");
        return;
    }
    let _ = if i < 100_000_000 {
        write!(out, "{i:>9}")
    } else if i < 1_000_000_000 {
        write!(out, "{:>8}K", i / 1000)
    } else if i < 100_000_000_000 {
        write!(out, "{:>8}M", i / 1_000_000)
    } else if i < 100_000_000_000_000 {
        write!(out, "{:>8}G", i / 1_000_000_000)
    } else {
        write!(out, "{:>8}T", i / 1_000_000_000_000)
    };
}

/// `inet_ntop()` text of an address: Rust's RFC 5952 form, except that glibc writes
/// IPv4-compatible addresses (`::a.b.c.d`, first 96 bits zero, not `::` or `::1`) in dotted
/// form.
pub(crate) fn ntop(ip: IpAddr) -> String {
    match ip {
        IpAddr::V4(a) => a.to_string(),
        IpAddr::V6(a) => {
            let s = a.segments();
            let o = a.octets();
            if s.iter().take(6).all(|w| *w == 0) && s.get(6).is_some_and(|w| *w != 0) {
                let [.., a, b, c, d] = o;
                return format!("::{a}.{b}.{c}.{d}");
            }
            a.to_string()
        }
    }
}

/// `addrport_to_anyname()` with `-n`: `a.b.c.d:port` or `[v6]:port`.
pub(crate) fn addr_port(addr: &SocketAddr) -> String {
    match addr.ip() {
        IpAddr::V4(_) => format!("{}:{}", ntop(addr.ip()), addr.port()),
        IpAddr::V6(_) => format!("[{}]:{}", ntop(addr.ip()), addr.port()),
    }
}

/// The sched-flag names `print_sched_flags()` prints: sh-fallback/sh-port for sh,
/// mh-fallback/mh-port for mh, flag-1..3 otherwise. With `with_flag3`, sh/mh services also
/// show flag-3 (ipvsadm drops it; our `-S` keeps it so that it restores).
pub(crate) fn sched_flag_names(
    sched: SchedulerKind,
    flags: SchedFlags,
    with_flag3: bool,
) -> String {
    let mut names: Vec<&str> = Vec::new();
    let (one, two) = match sched {
        SchedulerKind::Sh => (Some("sh-fallback"), Some("sh-port")),
        SchedulerKind::Mh => (Some("mh-fallback"), Some("mh-port")),
        _ => (None, None),
    };
    let special = one.is_some();
    if flags.contains(SchedFlags::SCHED1) {
        names.push(one.unwrap_or("flag-1"));
    }
    if flags.contains(SchedFlags::SCHED2) {
        names.push(two.unwrap_or("flag-2"));
    }
    if flags.contains(SchedFlags::SCHED3) && (!special || with_flag3) {
        names.push("flag-3");
    }
    names.join(",")
}

/// True when any of `IP_VS_SVC_F_SCHED1..3` is set.
pub(crate) fn has_sched_flags(flags: SchedFlags) -> bool {
    flags.0 & (SchedFlags::SCHED1 | SchedFlags::SCHED2 | SchedFlags::SCHED3) != 0
}

/// ipvsadm's `print_title()`.
fn print_title(out: &mut String, o: &ListOptions) {
    let p = "Prot LocalAddress:Port";
    let r = "  -> RemoteAddress:Port";
    let _ = if o.stats {
        writeln!(
            out,
            "{p:<33} {:>8} {:>8} {:>8} {:>8} {:>8}\n{r}",
            "Conns", "InPkts", "OutPkts", "InBytes", "OutBytes"
        )
    } else if o.rate {
        writeln!(
            out,
            "{p:<33} {:>8} {:>8} {:>8} {:>8} {:>8}\n{r}",
            "CPS", "InPPS", "OutPPS", "InBPS", "OutBPS"
        )
    } else if o.thresholds {
        writeln!(
            out,
            "{p:<33} {:<10} {:<10} {:<10} {:<10}\n{r}",
            "Uthreshold", "Lthreshold", "ActiveConn", "InActConn"
        )
    } else if o.persistent_conn {
        writeln!(
            out,
            "{p:<33} {:<9} {:<11} {:<10} {:<10}\n{r}",
            "Weight", "PersistConn", "ActiveConn", "InActConn"
        )
    } else if o.tun_info {
        writeln!(
            out,
            "{p} Scheduler Flags\n{r}           Forward TunnelInfo    Weight ActiveConn InActConn"
        )
    } else {
        writeln!(
            out,
            "{p} Scheduler Flags\n{r}           Forward Weight ActiveConn InActConn"
        )
    };
}

/// The service column of the list: `TCP  10.0.0.1:80` (IPv4 names cut at 33 characters as
/// ipvsadm does), `FWM  7`, `FWM  7 IPv6`.
fn list_service_name(key: &ServiceKey) -> String {
    match key {
        ServiceKey::Fwmark { mark, family } => match family {
            AddressFamily::Ipv4 => format!("FWM  {mark}"),
            AddressFamily::Ipv6 => format!("FWM  {mark} IPv6"),
        },
        ServiceKey::Addr { protocol, addr } => {
            let mut s = format!("{:<4} {}", protocol.name(), addr_port(addr));
            if addr.is_ipv4() {
                s.truncate(33);
            }
            s
        }
    }
}

fn tun_info(f: &ForwardMethod) -> Option<String> {
    match f {
        ForwardMethod::Tunnel(TunnelKind::Ipip) => Some("ipip".to_string()),
        ForwardMethod::Tunnel(TunnelKind::Gue { port, csum }) => {
            Some(format!("gue:{port}:{}", csum.short()))
        }
        ForwardMethod::Tunnel(TunnelKind::Gre { csum }) => Some(format!("gre:{}", csum.short())),
        _ => None,
    }
}

/// ipvsadm's `print_service_entry()` for the list formats.
fn print_service(out: &mut String, svc: &ServiceSnapshot, o: &ListOptions) {
    let name = list_service_name(&svc.key);
    let cfg = &svc.config;
    if o.stats || o.rate {
        let _ = write!(out, "{name:<33}");
        let s = &svc.stats;
        let r = &svc.rates;
        let v = if o.stats {
            [s.conns, s.inpkts, s.outpkts, s.inbytes, s.outbytes]
        } else {
            [r.cps, r.inpps, r.outpps, r.inbps, r.outbps]
        };
        for x in v {
            print_largenum(out, x, o.exact);
        }
    } else {
        let _ = write!(out, "{name} {}", cfg.scheduler);
        if has_sched_flags(cfg.sched_flags) {
            let _ = write!(
                out,
                " ({})",
                sched_flag_names(cfg.scheduler, cfg.sched_flags, false)
            );
        }
        if let Some(p) = &cfg.persistence {
            let _ = write!(out, " persistent {}", p.timeout);
            if !p.netmask.is_default() {
                let _ = write!(out, " mask {}", p.netmask);
            }
            if let Some(pe) = &cfg.pe_name {
                let _ = write!(out, " pe {pe}");
            }
        }
        if cfg.one_packet {
            out.push_str(" ops");
        }
    }
    out.push('\n');

    let mut dests: Vec<&DestSnapshot> = svc.dests.iter().collect();
    if !o.nosort {
        sort_dests(&mut dests, |d| d.config.addr);
    }
    for d in dests {
        let c = &d.config;
        let mut dname = addr_port(&c.addr);
        if c.addr.is_ipv4() {
            dname.truncate(28);
        }
        let fwd = if d.local_node {
            "Local"
        } else {
            c.forward.list_name()
        };
        let _ = if o.stats {
            let _ = write!(out, "  -> {dname:<28}");
            let s = &d.stats;
            for x in [s.conns, s.inpkts, s.outpkts, s.inbytes, s.outbytes] {
                print_largenum(out, x, o.exact);
            }
            writeln!(out)
        } else if o.rate {
            let r = &d.rates;
            let _ = write!(
                out,
                "  -> {dname:<28} {:>8} {:>8} {:>8}",
                r.cps, r.inpps, r.outpps
            );
            print_largenum(out, r.inbps, o.exact);
            print_largenum(out, r.outbps, o.exact);
            writeln!(out)
        } else if o.thresholds {
            writeln!(
                out,
                "  -> {dname:<28} {:<10} {:<10} {:<10} {:<10}",
                c.u_threshold, c.l_threshold, d.activeconns, d.inactconns
            )
        } else if o.persistent_conn {
            writeln!(
                out,
                "  -> {dname:<28} {:<9} {:<11} {:<10} {:<10}",
                c.weight, d.persistconns, d.activeconns, d.inactconns
            )
        } else if o.tun_info {
            let ti = if d.local_node {
                None
            } else {
                tun_info(&c.forward)
            };
            writeln!(
                out,
                "  -> {dname:<28} {fwd:<7} {:<13} {:<6} {:<10} {:<10}",
                ti.as_deref().unwrap_or("n/a"),
                c.weight,
                d.activeconns,
                d.inactconns
            )
        } else {
            writeln!(
                out,
                "  -> {dname:<28} {fwd:<7} {:<6} {:<10} {:<10}",
                c.weight, d.activeconns, d.inactconns
            )
        };
    }
}

/// An address as libipvs compares it: four host-order 32-bit words (IPv4 in the first).
fn words(ip: IpAddr) -> [u32; 4] {
    match ip {
        IpAddr::V4(a) => [u32::from(a), 0, 0, 0],
        IpAddr::V6(a) => {
            let o = a.octets();
            let mut w = [0u32; 4];
            for (i, c) in o.chunks_exact(4).enumerate() {
                if let (Some(slot), [a, b, c, d]) = (w.get_mut(i), c) {
                    *slot = u32::from_be_bytes([*a, *b, *c, *d]);
                }
            }
            w
        }
    }
}

/// Word-wise address comparison as libipvs does it: `int r = ntohl(a) - ntohl(b)`, i.e.
/// the unsigned difference read as a signed int (so 10.0.0.1 sorts after 192.168.0.1, as
/// the real tool shows).
fn cmp_words(a_v6: bool, a: [u32; 4], b: [u32; 4]) -> i32 {
    let n = if a_v6 { 4 } else { 1 };
    for (x, y) in a.iter().zip(b.iter()).take(n) {
        let r = x.wrapping_sub(*y) as i32;
        if r != 0 {
            return r;
        }
    }
    0
}

/// libipvs `ipvs_cmp_services()`: fwmark, family (AF_INET 2 < AF_INET6 10), protocol number
/// (fwmark services carry TCP, as ipvsadm sets it), address, port; differences taken as C
/// ints.
fn cmp_services(a: &ServiceKey, b: &ServiceKey) -> i32 {
    fn parts(k: &ServiceKey) -> (u32, i32, i32, IpAddr, i32) {
        match k {
            ServiceKey::Fwmark { mark, family } => {
                let (af, ip) = match family {
                    AddressFamily::Ipv4 => (2, IpAddr::V4(std::net::Ipv4Addr::UNSPECIFIED)),
                    AddressFamily::Ipv6 => (10, IpAddr::V6(std::net::Ipv6Addr::UNSPECIFIED)),
                };
                (*mark, af, 6, ip, 0)
            }
            ServiceKey::Addr { protocol, addr } => {
                let af = if addr.is_ipv4() { 2 } else { 10 };
                (
                    0,
                    af,
                    i32::from(protocol.number()),
                    addr.ip(),
                    i32::from(addr.port()),
                )
            }
        }
    }
    let (fa, afa, pa, ia, pta) = parts(a);
    let (fb, afb, pb, ib, ptb) = parts(b);
    let r = fa.wrapping_sub(fb) as i32;
    if r != 0 {
        return r;
    }
    if afa != afb {
        return afa - afb;
    }
    if pa != pb {
        return pa - pb;
    }
    let r = cmp_words(ia.is_ipv6(), words(ia), words(ib));
    if r != 0 {
        return r;
    }
    pta - ptb
}

/// libipvs `ipvs_cmp_dests()`: address words (four when the first is IPv6), then port.
fn cmp_dests(a: &SocketAddr, b: &SocketAddr) -> i32 {
    let r = cmp_words(a.is_ipv6(), words(a.ip()), words(b.ip()));
    if r != 0 {
        return r;
    }
    i32::from(a.port()) - i32::from(b.port())
}

/// glibc's `qsort()` merge sort (`msort_with_tmp`): split n/2, sort both halves, merge
/// taking from the left on `cmp <= 0`. libipvs's comparators are not transitive (see
/// [`cmp_words`]), so the algorithm matters for the exact order; this one never panics.
fn msort_indices(idx: &mut [usize], cmp: &dyn Fn(usize, usize) -> i32) {
    let n = idx.len();
    if n <= 1 {
        return;
    }
    let (a, b) = idx.split_at_mut(n / 2);
    msort_indices(a, cmp);
    msort_indices(b, cmp);
    let mut tmp = Vec::with_capacity(n);
    let mut ai = a.iter().copied().peekable();
    let mut bi = b.iter().copied().peekable();
    while let (Some(&x), Some(&y)) = (ai.peek(), bi.peek()) {
        if cmp(x, y) <= 0 {
            tmp.push(x);
            ai.next();
        } else {
            tmp.push(y);
            bi.next();
        }
    }
    tmp.extend(ai);
    tmp.extend(bi);
    for (slot, v) in idx.iter_mut().zip(tmp) {
        *slot = v;
    }
}

fn sort_by_c<T>(v: &mut Vec<T>, cmp: impl Fn(&T, &T) -> i32) {
    let mut idx: Vec<usize> = (0..v.len()).collect();
    msort_indices(&mut idx, &|i, j| match (v.get(i), v.get(j)) {
        (Some(a), Some(b)) => cmp(a, b),
        _ => 0,
    });
    let mut slots: Vec<Option<T>> = v.drain(..).map(Some).collect();
    for i in idx {
        if let Some(x) = slots.get_mut(i).and_then(Option::take) {
            v.push(x);
        }
    }
}

/// Sort services into the order `ipvsadm -L` / `-S` print them (libipvs
/// `ipvs_sort_services()`), `key` giving each item's service key.
pub fn sort_services<T>(v: &mut Vec<T>, key: impl Fn(&T) -> &ServiceKey) {
    sort_by_c(v, |a, b| cmp_services(key(a), key(b)));
}

/// Sort real servers into the order ipvsadm prints them (libipvs `ipvs_sort_dests()`),
/// `addr` giving each item's RIP:port.
pub fn sort_dests<T>(v: &mut Vec<T>, addr: impl Fn(&T) -> SocketAddr) {
    sort_by_c(v, |a, b| cmp_dests(&addr(a), &addr(b)));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn libipvs_address_order_wraps_like_c_int() {
        // ntohl(10.0.0.1) - ntohl(192.168.0.1) = 0x4957FF00 as int > 0.
        let a: SocketAddr = "10.0.0.1:80".parse().unwrap();
        let b: SocketAddr = "192.168.0.1:80".parse().unwrap();
        assert!(cmp_dests(&a, &b) > 0);
        let c: SocketAddr = "10.0.0.2:80".parse().unwrap();
        assert!(cmp_dests(&a, &c) < 0);
    }

    #[test]
    fn ntop_matches_glibc_for_v4_compatible() {
        assert_eq!(ntop("::1".parse().unwrap()), "::1");
        assert_eq!(ntop("::".parse().unwrap()), "::");
        assert_eq!(ntop("::102:304".parse().unwrap()), "::1.2.3.4");
        assert_eq!(ntop("::ffff:1.2.3.4".parse().unwrap()), "::ffff:1.2.3.4");
        assert_eq!(ntop("2001:db8::1".parse().unwrap()), "2001:db8::1");
    }
}
