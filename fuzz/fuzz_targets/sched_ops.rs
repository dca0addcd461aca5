//! Drives an lvs-sched scheduler with arbitrary operations (add, remove, edit, counter
//! changes, timers, schedule) and checks after each decision that the pick is in the list,
//! AVAILABLE, weight > 0 and (except lblc's cache hit, as in ip_vs_lblc.c) not OVERLOAD; and
//! that the indexed lc/wlc/sed/nq/fo/ovf pick equals the kernel's O(N) scan.
#![no_main]

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::time::Duration;

use libfuzzer_sys::fuzz_target;
use lvs_sched::{
    ConnClass, DestId, DestParams, MaglevSize, PacketInfo, SchedConfig, SchedFlags, Scheduler,
    SchedulerKind,
};

fn class(b: u8) -> ConnClass {
    match b % 3 {
        0 => ConnClass::Active,
        1 => ConnClass::Inactive,
        _ => ConnClass::Template,
    }
}

fn addr(b: &[u8]) -> IpAddr {
    let x = u32::from_le_bytes([b[0], b[1], b[2], b[3]]);
    if b[4] & 1 == 0 {
        IpAddr::V4(Ipv4Addr::from(x))
    } else {
        IpAddr::V6(Ipv6Addr::from((x as u128) << 64 | b[5] as u128))
    }
}

fuzz_target!(|data: &[u8]| {
    if data.len() < 3 {
        return;
    }
    let kind = SchedulerKind::ALL[data[0] as usize % SchedulerKind::ALL.len()];
    let cfg = SchedConfig {
        flags: SchedFlags(((data[1] & 3) as u32) << 3),
        seed: data[2] as u64,
        sh_tab_bits: 4 + (data[1] >> 4) as u32 % 6,
        mh_table_size: MaglevSize::KERNEL[(data[1] >> 2) as usize % 3],
        ..SchedConfig::default()
    };
    let mut s = Scheduler::new(kind, cfg, Duration::ZERO);
    let mut now = Duration::ZERO;
    for op in data[3..].chunks_exact(8) {
        let id = DestId((op[1] % 16) as u32);
        let w = match op[2] % 4 {
            0 => 0,
            1 => (op[3] % 4) as i32,
            2 => i32::from_le_bytes([op[3], op[4], 0, 0]),
            _ => i32::from_le_bytes([op[3], op[4], op[5], op[6]]), // may be negative or huge
        };
        let params = DestParams { weight: w, u_threshold: (op[5] % 5) as u32, l_threshold: (op[6] % 5) as u32 };
        match op[0] % 10 {
            0 => {
                let _ = s.add_dest(id, addr(&op[2..]), op[7] as u16, params);
            }
            1 => {
                let _ = s.remove_dest(id);
            }
            2 => {
                let _ = s.edit_dest(id, params);
            }
            3 | 4 => {
                let _ = s.bind_conn(id, class(op[2]));
            }
            5 => {
                let _ = s.unbind_conn(id, class(op[2]));
            }
            6 => {
                let _ = s.move_conn(id, class(op[2]), class(op[3]));
            }
            7 => {
                now += Duration::from_secs(u16::from_le_bytes([op[2], op[3]]) as u64);
                s.handle_timeout(now);
            }
            _ => {
                let pkt = PacketInfo {
                    inverse: op[7] & 1 == 1,
                    ..PacketInfo::new(addr(&op[1..]), op[6] as u16, addr(&op[2..]), 80)
                };
                if let Ok(d) = s.schedule(&pkt, now) {
                    let dest = s.dest(d).expect("pick must be in the list");
                    assert!(dest.flags.available());
                    assert!(dest.weight > 0);
                    if kind != SchedulerKind::Lblc {
                        assert!(!dest.overloaded());
                    }
                }
            }
        }
        if matches!(
            kind,
            SchedulerKind::Lc
                | SchedulerKind::Wlc
                | SchedulerKind::Sed
                | SchedulerKind::Nq
                | SchedulerKind::Fo
                | SchedulerKind::Ovf
        ) {
            assert_eq!(s.indexed_pick(), s.reference_scan());
        }
    }
});
