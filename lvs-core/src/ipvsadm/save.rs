//! `ipvsadm -S -n`: the rules, one per line, in the order and format of ipvsadm 1.31's
//! `print_service_entry()` with `FMT_RULE`, which `ipvsadm -R` (and [`super::parse_restore`])
//! reads back.

use std::fmt;
use std::fmt::Write as _;

use super::Command;
use super::list::{addr_port, has_sched_flags, ntop, sched_flag_names, sort_dests, sort_services};
use crate::service::{
    AddressFamily, DestConfig, ForwardMethod, ServiceConfig, ServiceKey, TunnelKind, VirtualService,
};

/// The service part of a rule: `-t 10.0.0.1:80`, `-u [2001:db8::1]:53`,
/// `--sctp-service 10.0.0.1:9`, `-f 7`, `-f 7 -6`.
fn rule_service_name(key: &ServiceKey) -> String {
    match key {
        ServiceKey::Fwmark { mark, family } => match family {
            AddressFamily::Ipv4 => format!("-f {mark}"),
            AddressFamily::Ipv6 => format!("-f {mark} -6"),
        },
        ServiceKey::Addr { protocol, addr } => format!("{} {}", protocol.option(), addr_port(addr)),
    }
}

/// Print the rules of `services` (`ipvsadm -S -n`): services sorted as libipvs sorts them,
/// each `-A` line followed by its real servers' `-a` lines, sorted likewise.
///
/// Service line: `-A SVC -s SCHED[ -p TIMEOUT[ -M MASK]][ --pe NAME][ -o][ -b FLAGS]`, then
/// our ` --laddr IP` per FULLNAT local address. `-M` is printed only when the mask is not
/// the family default.
///
/// Real-server line: `-a SVC -r RIP:PORT FWD -w WEIGHT`, where FWD is `-g`, `-m`, `-i` or our
/// `--fullnat`; tunnel servers add ` --tun-type ipip`, ` --tun-type gue --tun-port P CSUM` or
/// ` --tun-type gre CSUM`; then ` -x N` / ` -y N` when non-zero (our addition, see the
/// module docs of [`crate::ipvsadm`]).
pub fn save(services: &[VirtualService]) -> String {
    let mut out = String::new();
    write_save(&mut out, services);
    out
}

/// [`save`] appending to `out`.
pub fn write_save(out: &mut String, services: &[VirtualService]) {
    let mut order: Vec<&VirtualService> = services.iter().collect();
    sort_services(&mut order, |s| &s.key);
    for svc in order {
        write_service_rule(out, "-A", &svc.key, &svc.config);
        out.push('\n');
        let mut dests: Vec<_> = svc.dests.iter().collect();
        sort_dests(&mut dests, |d| d.addr);
        for d in dests {
            write_dest_rule(out, "-a", &svc.key, d);
            out.push('\n');
        }
    }
}

/// `CMD SVC -s SCHED[ -p T[ -M MASK]][ --pe NAME][ -o][ -b FLAGS][ --laddr IP]...` (no
/// newline); `cmd` is `-A` or `-E`.
pub(crate) fn write_service_rule(out: &mut String, cmd: &str, key: &ServiceKey, c: &ServiceConfig) {
    let _ = write!(out, "{cmd} {} -s {}", rule_service_name(key), c.scheduler);
    if let Some(p) = &c.persistence {
        let _ = write!(out, " -p {}", p.timeout);
        if !p.netmask.is_default() {
            let _ = write!(out, " -M {}", p.netmask);
        }
    }
    if let Some(pe) = &c.pe_name {
        let _ = write!(out, " --pe {pe}");
    }
    if c.one_packet {
        out.push_str(" -o");
    }
    if has_sched_flags(c.sched_flags) {
        let _ = write!(
            out,
            " -b {}",
            sched_flag_names(c.scheduler, c.sched_flags, true)
        );
    }
    for a in &c.local_addrs {
        let _ = write!(out, " --laddr {}", ntop(*a));
    }
}

/// `CMD SVC -r RIP:PORT FWD -w W[ tunnel options][ -x U][ -y L]` (no newline); `cmd` is
/// `-a` or `-e`.
pub(crate) fn write_dest_rule(out: &mut String, cmd: &str, key: &ServiceKey, d: &DestConfig) {
    let _ = write!(
        out,
        "{cmd} {} -r {} {} -w {}",
        rule_service_name(key),
        addr_port(&d.addr),
        d.forward.switch(),
        d.weight
    );
    if let ForwardMethod::Tunnel(t) = &d.forward {
        let _ = match t {
            TunnelKind::Ipip => write!(out, " --tun-type ipip"),
            TunnelKind::Gue { port, csum } => {
                write!(out, " --tun-type gue --tun-port {port} {}", csum.option())
            }
            TunnelKind::Gre { csum } => write!(out, " --tun-type gre {}", csum.option()),
        };
    }
    if d.u_threshold != 0 {
        let _ = write!(out, " -x {}", d.u_threshold);
    }
    if d.l_threshold != 0 {
        let _ = write!(out, " -y {}", d.l_threshold);
    }
}

impl fmt::Display for Command {
    /// The command as one ipvsadm rule line (without the program name), in the form `-S`
    /// prints for `-A`/`-a` and with every value explicit, so that [`super::parse_rule`]
    /// gives back an equal command.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut out = String::new();
        match self {
            Command::AddService { key, config } => write_service_rule(&mut out, "-A", key, config),
            Command::EditService { key, config } => write_service_rule(&mut out, "-E", key, config),
            Command::DeleteService { key } => {
                let _ = write!(out, "-D {}", rule_service_name(key));
            }
            Command::Clear => out.push_str("-C"),
            Command::Restore => out.push_str("-R"),
            Command::Save { numeric } => out.push_str(if *numeric { "-S -n" } else { "-S" }),
            Command::AddDest { service, dest } => write_dest_rule(&mut out, "-a", service, dest),
            Command::EditDest { service, dest } => write_dest_rule(&mut out, "-e", service, dest),
            Command::DeleteDest { service, addr } => {
                let _ = write!(
                    out,
                    "-d {} -r {}",
                    rule_service_name(service),
                    addr_port(addr)
                );
            }
            Command::List(o) => {
                out.push_str("-L");
                if let Some(k) = &o.service {
                    let _ = write!(out, " {}", rule_service_name(k));
                }
                for (on, opt) in [
                    (o.numeric, " -n"),
                    (o.connections, " -c"),
                    (o.timeout, " --timeout"),
                    (o.daemon, " --daemon"),
                    (o.stats, " --stats"),
                    (o.rate, " --rate"),
                    (o.thresholds, " --thresholds"),
                    (o.persistent_conn, " --persistent-conn"),
                    (o.tun_info, " --tun-info"),
                    (o.exact, " --exact"),
                    (o.nosort, " --nosort"),
                ] {
                    if on {
                        out.push_str(opt);
                    }
                }
            }
            Command::Zero { service } => {
                out.push_str("-Z");
                if let Some(k) = service {
                    let _ = write!(out, " {}", rule_service_name(k));
                }
            }
            Command::SetTimeouts(t) => {
                let _ = write!(out, "--set {} {} {}", t.tcp, t.tcp_fin, t.udp);
            }
            Command::StartDaemon(d) => {
                let _ = write!(
                    out,
                    "--start-daemon {} --mcast-interface {} --syncid {}",
                    d.state.name(),
                    d.mcast_ifn,
                    d.syncid
                );
                if d.sync_maxlen != 0 {
                    let _ = write!(out, " --sync-maxlen {}", d.sync_maxlen);
                }
                if let Some(g) = d.mcast_group {
                    let _ = write!(out, " --mcast-group {}", ntop(g));
                }
                if d.mcast_port != 0 {
                    let _ = write!(out, " --mcast-port {}", d.mcast_port);
                }
                if d.mcast_ttl != 0 {
                    let _ = write!(out, " --mcast-ttl {}", d.mcast_ttl);
                }
            }
            Command::StopDaemon { state, syncid } => {
                let _ = write!(out, "--stop-daemon {} --syncid {syncid}", state.name());
            }
            Command::Help => out.push_str("-h"),
            Command::Version => out.push_str("-v"),
        }
        f.write_str(&out)
    }
}
