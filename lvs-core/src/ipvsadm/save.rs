//! `ipvsadm -S -n`: the rules, one per line, in the order and format of ipvsadm 1.31's
//! `print_service_entry()` with `FMT_RULE`, which `ipvsadm -R` (and [`super::parse_restore`])
//! reads back.

use std::fmt::Write as _;

use super::list::{addr_port, has_sched_flags, ntop, sched_flag_names, sort_dests, sort_services};
use crate::service::{AddressFamily, ForwardMethod, ServiceKey, TunnelKind, VirtualService};

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
        let name = rule_service_name(&svc.key);
        let c = &svc.config;
        let _ = write!(out, "-A {name} -s {}", c.scheduler);
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
        out.push('\n');

        let mut dests: Vec<_> = svc.dests.iter().collect();
        sort_dests(&mut dests, |d| d.addr);
        for d in dests {
            let _ = write!(
                out,
                "-a {name} -r {} {} -w {}",
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
            out.push('\n');
        }
    }
}
