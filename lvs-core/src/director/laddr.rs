//! FULLNAT local address and port allocation.
//!
//! Each FULLNAT connection gets a (LIP, lport) from its service's local-address pool
//! (`--laddr`), unique per protocol and real-server endpoint RIP:rport, so that the reply
//! RIP:rport -> LIP:lport names exactly one connection. The connection table is the single
//! source of truth ([`lvs_conn::ConnTable::local_in_use`]): a pair is in use while its
//! connection lives and free as soon as it expires, so the allocator cannot leak. With N
//! workers, worker i only hands out ports with `lport % N == i`, so a reply can be steered
//! to its worker by its destination port (the rule of lvs-conn's ShardedConnTable).

use std::net::IpAddr;

use super::{Director, DirectorConfig};

/// Default FULLNAT local port range, inclusive: 1024..=65535.
pub const DEFAULT_LPORT_RANGE: (u16, u16) = (1024, 65535);

/// Most ports probed per local address for one connection before giving up.
const MAX_PROBES: u32 = 4096;

/// Ports of this worker in the range: (first, step, count).
fn worker_ports(cfg: &DirectorConfig) -> (u16, u16, u32) {
    let (lo, hi) = cfg.lport_range;
    let (i, n) = (cfg.worker.0, cfg.worker.1.max(1));
    let lo = lo.max(1);
    let off = (u32::from(i) + u32::from(n) - u32::from(lo) % u32::from(n)) % u32::from(n);
    let first = u32::from(lo) + off;
    if first > u32::from(hi) {
        return (lo, n, 0);
    }
    let count = (u32::from(hi) - first) / u32::from(n) + 1;
    (first as u16, n, count)
}

/// The first local port this worker hands out.
pub(crate) fn first_port(cfg: &DirectorConfig) -> u16 {
    worker_ports(cfg).0
}

/// Allocate a free (LIP, lport) of service `si` toward `rip:rport` for `protocol`, or `None`
/// when the pool has no address of the RIP's family or every probed port is taken.
pub(crate) fn alloc(
    d: &mut Director,
    si: u32,
    protocol: u8,
    rip: IpAddr,
    rport: u16,
) -> Option<(IpAddr, u16)> {
    let (first, step, count) = worker_ports(&d.cfg);
    if count == 0 {
        return None;
    }
    let svc = d.services.get(si as usize)?.as_ref()?;
    let n_addrs = svc.config.local_addrs.len();
    let start = svc.laddr_next;
    let probes = count.min(MAX_PROBES);
    for k in 0..n_addrs {
        let Some(&lip) = svc.config.local_addrs.get((start + k) % n_addrs) else {
            continue;
        };
        if lip.is_ipv4() != rip.is_ipv4() {
            continue;
        }
        let mut port = d.lport_next;
        for _ in 0..probes {
            let idx = u32::from(port.wrapping_sub(first)) / u32::from(step);
            if port < first || idx >= count {
                port = first;
            }
            let next = if u32::from(port.wrapping_sub(first)) / u32::from(step) + 1 >= count {
                first
            } else {
                port.wrapping_add(step)
            };
            if !d.table.local_in_use(protocol, lip, port, rip, rport) {
                d.lport_next = next;
                if let Some(Some(s)) = d.services.get_mut(si as usize) {
                    s.laddr_next = (start + k + 1) % n_addrs.max(1);
                }
                return Some((lip, port));
            }
            port = next;
        }
    }
    None
}
