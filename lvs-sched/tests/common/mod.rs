//! Shared helpers for the lvs-sched integration tests.
#![allow(dead_code)]

use std::net::{IpAddr, Ipv4Addr};
use std::time::Duration;

use lvs_sched::{DestId, DestParams, PacketInfo, SchedConfig, Scheduler, SchedulerKind};

pub(crate) const T0: Duration = Duration::ZERO;

pub(crate) fn v4(a: u8, b: u8, c: u8, d: u8) -> IpAddr {
    IpAddr::V4(Ipv4Addr::new(a, b, c, d))
}

/// RIP of real server `id`: 10.0.x.y.
pub(crate) fn rip(id: u32) -> IpAddr {
    v4(10, 0, (id >> 8) as u8, id as u8)
}

/// A scheduler whose LIST order (head first) is `weights` in the given order: since the
/// kernel links new real servers at the head, they are added in reverse. Real server k of the
/// slice (0-based) gets id k + 1.
pub(crate) fn sched_in_list_order(
    kind: SchedulerKind,
    config: SchedConfig,
    weights: &[i32],
) -> Scheduler {
    let mut s = Scheduler::new(kind, config, T0);
    for (k, w) in weights.iter().enumerate().rev() {
        let id = k as u32 + 1;
        s.add_dest(DestId(id), rip(id), 80, DestParams::weight(*w))
            .unwrap();
    }
    s
}

pub(crate) fn pkt(src: IpAddr, sport: u16) -> PacketInfo {
    PacketInfo::new(src, sport, v4(192, 0, 2, 100), 80)
}

pub(crate) fn any_pkt() -> PacketInfo {
    pkt(v4(192, 0, 2, 1), 40000)
}

pub(crate) fn picks(s: &mut Scheduler, n: usize) -> Vec<u32> {
    let p = any_pkt();
    (0..n)
        .map(|_| s.schedule(&p, T0).map(|d| d.0).unwrap_or(0))
        .collect()
}
