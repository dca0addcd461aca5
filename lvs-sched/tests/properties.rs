//! Property tests: the indexed lc/wlc/sed/nq/fo/ovf picks equal the kernel's O(N) scan on
//! random server sets and random operation sequences; no scheduler ever returns an
//! ineligible real server; wrr shares are exact per cycle.

mod common;

use std::time::Duration;

use common::*;
use lvs_sched::{ConnClass, DestId, DestParams, PacketInfo, SchedConfig, Scheduler, SchedulerKind};
use proptest::prelude::*;

#[derive(Debug, Clone)]
enum Op {
    Add(u8, i32, u32, u32),
    Remove(u8),
    Edit(u8, i32, u32, u32),
    Bind(u8, u8),
    Unbind(u8, u8),
    Move(u8, u8, u8),
    Set(u8, u32, u32),
    Schedule(u32, u16, bool),
    Tick(u32),
}

fn class(c: u8) -> ConnClass {
    match c % 3 {
        0 => ConnClass::Active,
        1 => ConnClass::Inactive,
        _ => ConnClass::Template,
    }
}

fn op() -> impl Strategy<Value = Op> {
    let id = 0u8..12;
    // Small weights and thresholds so ties and OVERLOAD flips are frequent.
    let w = prop_oneof![Just(0), 1i32..4, 1i32..1000];
    prop_oneof![
        2 => (id.clone(), w.clone(), 0u32..6, 0u32..6).prop_map(|(i, w, u, l)| Op::Add(i, w, u, l)),
        1 => id.clone().prop_map(Op::Remove),
        2 => (id.clone(), w, 0u32..6, 0u32..6).prop_map(|(i, w, u, l)| Op::Edit(i, w, u, l)),
        6 => (id.clone(), any::<u8>()).prop_map(|(i, c)| Op::Bind(i, c)),
        4 => (id.clone(), any::<u8>()).prop_map(|(i, c)| Op::Unbind(i, c)),
        2 => (id.clone(), any::<u8>(), any::<u8>()).prop_map(|(i, a, b)| Op::Move(i, a, b)),
        // Small counts so a Set often repeats the current values (the unchanged early-out).
        1 => (id, 0u32..3, prop_oneof![0u32..3, 0u32..300]).prop_map(|(i, a, n)| Op::Set(i, a, n)),
        6 => (any::<u32>(), any::<u16>(), any::<bool>()).prop_map(|(a, p, r)| Op::Schedule(a, p, r)),
        1 => (0u32..100_000).prop_map(Op::Tick),
    ]
}

fn kind() -> impl Strategy<Value = SchedulerKind> {
    proptest::sample::select(SchedulerKind::ALL.to_vec())
}

/// Applies `op`; returns the pick of a Schedule op.
fn apply(
    s: &mut Scheduler,
    op: &Op,
    now: &mut Duration,
) -> Option<Result<DestId, lvs_sched::NoServer>> {
    match *op {
        Op::Add(i, w, u, l) => {
            let _ = s.add_dest(
                DestId(i as u32),
                rip(i as u32),
                80,
                DestParams {
                    weight: w,
                    u_threshold: u.max(l),
                    l_threshold: l,
                },
            );
        }
        Op::Remove(i) => {
            let _ = s.remove_dest(DestId(i as u32));
        }
        Op::Edit(i, w, u, l) => {
            let _ = s.edit_dest(
                DestId(i as u32),
                DestParams {
                    weight: w,
                    u_threshold: u,
                    l_threshold: l,
                },
            );
        }
        Op::Bind(i, c) => {
            let _ = s.bind_conn(DestId(i as u32), class(c));
        }
        Op::Unbind(i, c) => {
            let _ = s.unbind_conn(DestId(i as u32), class(c));
        }
        Op::Move(i, a, b) => {
            let _ = s.move_conn(DestId(i as u32), class(a), class(b));
        }
        Op::Set(i, a, n) => {
            let _ = s.set_conns(DestId(i as u32), a, n, 0);
        }
        Op::Schedule(a, p, r) => {
            let src = std::net::IpAddr::V4(a.into());
            let dst = v4(192, 0, 2, (a % 7) as u8);
            let pkt = PacketInfo {
                inverse: r,
                ..PacketInfo::new(src, p, dst, 80)
            };
            return Some(s.schedule(&pkt, *now));
        }
        Op::Tick(ms) => {
            *now += Duration::from_millis(ms as u64 * 1000);
            s.handle_timeout(*now);
        }
    }
    None
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 300, ..ProptestConfig::default() })]

    #[test]
    fn indexed_pick_equals_kernel_scan(
        k in proptest::sample::select(vec![
            SchedulerKind::Lc, SchedulerKind::Wlc, SchedulerKind::Sed, SchedulerKind::Nq,
            SchedulerKind::Fo, SchedulerKind::Ovf, SchedulerKind::Lblc, SchedulerKind::Lblcr,
        ]),
        ops in proptest::collection::vec(op(), 1..120),
    ) {
        let mut s = Scheduler::new(k, SchedConfig::default(), T0);
        let mut now = T0;
        for o in &ops {
            apply(&mut s, o, &mut now);
            prop_assert_eq!(s.indexed_pick(), s.reference_scan(), "{} after {:?}", k, o);
            if !matches!(k, SchedulerKind::Lblc | SchedulerKind::Lblcr) {
                let got = s.schedule(&any_pkt(), now).ok();
                prop_assert_eq!(got, s.reference_scan());
            }
        }
    }

    #[test]
    fn no_scheduler_returns_an_ineligible_real_server(
        k in kind(),
        flags in 0u32..4,
        ops in proptest::collection::vec(op(), 1..120),
    ) {
        let cfg = SchedConfig { flags: lvs_sched::SchedFlags(flags << 3), seed: 7, ..SchedConfig::default() };
        let mut s = Scheduler::new(k, cfg, T0);
        let mut now = T0;
        for o in &ops {
            if let Some(Ok(id)) = apply(&mut s, o, &mut now) {
                let d = s.dest(id);
                prop_assert!(d.is_some(), "{} returned {:?} which is not in the list", k, id);
                let d = d.unwrap();
                prop_assert!(d.flags.available());
                prop_assert!(d.weight > 0, "{} returned weight 0 {:?}", k, id);
                // lblc's cache hit does not test the OVERLOAD flag (ip_vs_lblc.c); every
                // other scheduler must never return an OVERLOAD real server.
                if k != SchedulerKind::Lblc {
                    prop_assert!(!d.overloaded(), "{} returned OVERLOAD {:?}", k, id);
                }
            }
        }
    }
}

#[test]
fn wrr_shares_are_exact_per_cycle_over_a_million_decisions() {
    // wrr: over one cycle (sum of weights / gcd decisions), each real server is picked
    // exactly weight / gcd times. Weights 6, 4, 2, 8, 10 (gcd 2, 15 decisions per cycle).
    let weights = [6, 4, 2, 8, 10];
    let mut s = Scheduler::new(SchedulerKind::Rr, SchedConfig::default(), T0);
    for (k, w) in weights.iter().enumerate().rev() {
        s.add_dest(DestId(k as u32), rip(k as u32), 80, DestParams::weight(*w))
            .unwrap();
    }
    s.set_kind(SchedulerKind::Wrr, T0).unwrap(); // fresh state: the cycle starts at cw = mw
    let cycle: usize = weights.iter().sum::<i32>() as usize / 2;
    let cycles = 1_000_000 / cycle;
    let p = any_pkt();
    for c in 0..cycles {
        let mut count = [0usize; 5];
        for _ in 0..cycle {
            count[s.schedule(&p, T0).unwrap().0 as usize] += 1;
        }
        for (k, w) in weights.iter().enumerate() {
            assert_eq!(count[k], *w as usize / 2, "cycle {c}");
        }
    }
}

#[test]
fn weighted_least_connection_spreads_by_weight() {
    // wlc under a steady load: 10^4 connections bound, none closed; active counts end
    // proportional to weights (each within one connection of w / sum(w)).
    let weights = [1, 2, 3, 4];
    let mut s = sched_in_list_order(SchedulerKind::Wlc, SchedConfig::default(), &weights);
    for _ in 0..10_000 {
        let d = s.schedule(&any_pkt(), T0).unwrap();
        s.bind_conn(d, ConnClass::Active).unwrap();
    }
    for (k, w) in weights.iter().enumerate() {
        let got = s.dest(DestId(k as u32 + 1)).unwrap().activeconns as f64;
        let want = 10_000.0 * *w as f64 / 10.0;
        assert!(
            (got - want).abs() <= 1.0,
            "server {}: {got} vs {want}",
            k + 1
        );
    }
}
