//! Decision sequences and tie-breaks checked against the kernel rules as the reference
//! (shared/reference/ipvs.md section 1) and the kernel sources states them.

mod common;

use common::*;
use lvs_sched::{ConnClass, DestId, DestParams, NoServer, SchedConfig, SchedulerKind};

#[test]
fn list_order_is_newest_first_like_list_add_rcu() {
    // ip_vs_ctl.c __ip_vs_update_dest(): list_add_rcu(&dest->n_list, &svc->destinations)
    // links at the head.
    let mut s = lvs_sched::Scheduler::new(SchedulerKind::Rr, SchedConfig::default(), T0);
    for id in 1..=3 {
        s.add_dest(DestId(id), rip(id), 80, DestParams::weight(1))
            .unwrap();
    }
    let order: Vec<u32> = s.dests().map(|(id, _)| id.0).collect();
    assert_eq!(order, [3, 2, 1]);
}

#[test]
fn wrr_weights_4_3_2_give_a_a_b_a_b_c_a_b_c() {
    // Reference table, wrr row: "Weights A=4,B=3,C=2 give A A B A B C A B C" (one cycle,
    // cw = mw = 4 down to 1).
    //
    // The cycle's phase depends on how the list was built, as in the kernel: the service
    // starts empty (mw = cw = 0); adding C (2): di = 2, mw = 2 - 1 = 1, cw 0 -> 1; adding B
    // (3): di = 1, mw = 3, cw = 1 kept; adding A (4): mw = 4, cw = 1 kept
    // (ip_vs_wrr_dest_changed). So the first pass runs at cw = 1 (A B C), then cw resets to
    // mw and the cycle repeats.
    let mut s = sched_in_list_order(SchedulerKind::Wrr, SchedConfig::default(), &[4, 3, 2]);
    let seq = picks(&mut s, 21);
    let cycle = [1, 1, 2, 1, 2, 3, 1, 2, 3];
    assert_eq!(seq[..3], [1, 2, 3]);
    assert_eq!(seq[3..12], cycle);
    assert_eq!(seq[12..], cycle);
}

#[test]
fn wrr_with_gcd_steps_by_gcd() {
    // di = gcd(4, 2) = 2, mw = 4 - (2 - 1) = 3: cw = 3 picks A, cw = 1 picks A, B. Adding
    // B (2) then A (4) leaves cw = (1 / 2) * 2 + 1 = 1, so the first pass is A B.
    let mut s = sched_in_list_order(SchedulerKind::Wrr, SchedConfig::default(), &[4, 2]);
    assert_eq!(picks(&mut s, 8), [1, 2, 1, 1, 2, 1, 1, 2]);
}

#[test]
fn wrr_skips_overloaded_and_reports_no_server_when_all_overloaded() {
    let mut s = sched_in_list_order(SchedulerKind::Wrr, SchedConfig::default(), &[1, 1]);
    for id in [1, 2] {
        s.edit_dest(
            DestId(id),
            DestParams {
                weight: 1,
                u_threshold: 1,
                l_threshold: 0,
            },
        )
        .unwrap();
    }
    s.bind_conn(DestId(1), ConnClass::Inactive).unwrap();
    assert_eq!(picks(&mut s, 3), [2, 2, 2]);
    s.bind_conn(DestId(2), ConnClass::Inactive).unwrap();
    assert_eq!(s.schedule(&any_pkt(), T0), Err(NoServer));
}

#[test]
fn wrr_recomputes_on_edit() {
    let mut s = sched_in_list_order(SchedulerKind::Wrr, SchedConfig::default(), &[1, 1]);
    s.edit_dest(DestId(1), DestParams::weight(3)).unwrap();
    // Now weights 3, 1: mw = 3, cw = 1 kept (not above mw, di = 1), cl back at the head:
    // A B (cw 1), then A (cw 3), A (cw 2), A B (cw 1).
    assert_eq!(picks(&mut s, 8), [1, 2, 1, 1, 1, 2, 1, 1]);
}

#[test]
fn rr_skips_weight_zero_and_overload() {
    // rr row: "first dest with !OVERLOAD && weight>0".
    let mut s = sched_in_list_order(SchedulerKind::Rr, SchedConfig::default(), &[1, 0, 1, 1]);
    s.edit_dest(
        DestId(3),
        DestParams {
            weight: 1,
            u_threshold: 1,
            l_threshold: 0,
        },
    )
    .unwrap();
    s.bind_conn(DestId(3), ConnClass::Active).unwrap(); // 3 now OVERLOAD
    assert!(s.dest(DestId(3)).unwrap().overloaded());
    assert_eq!(picks(&mut s, 6), [1, 4, 1, 4, 1, 4]);
    // Unbind clears OVERLOAD (no l_threshold: total*4 < u*3, 0 < 3).
    s.unbind_conn(DestId(3), ConnClass::Active).unwrap();
    assert_eq!(picks(&mut s, 3), [1, 3, 4]);
}

#[test]
fn rr_removal_of_last_pick_moves_to_predecessor() {
    // ip_vs_rr_del_dest(): sched_data = p->next->prev, the predecessor.
    let mut s = sched_in_list_order(SchedulerKind::Rr, SchedConfig::default(), &[1, 1, 1, 1]);
    assert_eq!(picks(&mut s, 2), [1, 2]);
    s.remove_dest(DestId(2)).unwrap();
    // Position is now 1 (the predecessor), so the next pick is 3.
    assert_eq!(picks(&mut s, 3), [3, 4, 1]);
}

#[test]
fn rr_add_does_not_move_position() {
    let mut s = sched_in_list_order(SchedulerKind::Rr, SchedConfig::default(), &[1, 1]);
    assert_eq!(picks(&mut s, 1), [1]);
    s.add_dest(DestId(9), rip(9), 80, DestParams::weight(1))
        .unwrap(); // at the head
    assert_eq!(picks(&mut s, 3), [2, 9, 1]);
}

#[test]
fn lc_first_in_list_wins_ties() {
    let mut s = sched_in_list_order(SchedulerKind::Lc, SchedConfig::default(), &[1, 5, 1]);
    assert_eq!(s.schedule(&any_pkt(), T0), Ok(DestId(1)));
    s.bind_conn(DestId(1), ConnClass::Inactive).unwrap();
    // overheads 1, 0, 0: strict <, first of the two zeros.
    assert_eq!(s.schedule(&any_pkt(), T0), Ok(DestId(2)));
    s.bind_conn(DestId(2), ConnClass::Active).unwrap(); // 256
    assert_eq!(s.schedule(&any_pkt(), T0), Ok(DestId(3)));
}

#[test]
fn wlc_uses_overhead_over_weight_with_list_order_ties() {
    // wlc row: replace least when loh*w_d > doh*w_least.
    let mut s = sched_in_list_order(SchedulerKind::Wlc, SchedConfig::default(), &[1, 2, 4]);
    // All idle: ratio 0 everywhere, the first wins.
    assert_eq!(s.schedule(&any_pkt(), T0), Ok(DestId(1)));
    // A: 1 active (256/1), B: 2 active (512/2 = 256), C: 4 active (1024/4 = 256): tie, A.
    for (id, n) in [(1, 1), (2, 2), (3, 4)] {
        for _ in 0..n {
            s.bind_conn(DestId(id), ConnClass::Active).unwrap();
        }
    }
    assert_eq!(s.schedule(&any_pkt(), T0), Ok(DestId(1)));
    // One inactive more on A (257/1) breaks the tie: B and C tie at 256, B first.
    s.bind_conn(DestId(1), ConnClass::Inactive).unwrap();
    assert_eq!(s.schedule(&any_pkt(), T0), Ok(DestId(2)));
    // Weight 0 on B: quiesced, C.
    s.edit_dest(DestId(2), DestParams::weight(0)).unwrap();
    assert_eq!(s.schedule(&any_pkt(), T0), Ok(DestId(3)));
}

#[test]
fn sed_ignores_inactive_and_adds_one() {
    // sed row: overhead = activeconns + 1, inactive ignored.
    let mut s = sched_in_list_order(SchedulerKind::Sed, SchedConfig::default(), &[1, 3]);
    // Idle: (0+1)/1 = 1 vs (0+1)/3: B wins although A is first.
    assert_eq!(s.schedule(&any_pkt(), T0), Ok(DestId(2)));
    for _ in 0..2 {
        s.bind_conn(DestId(2), ConnClass::Active).unwrap();
    }
    // A: 1/1, B: 3/3: tie, A (first).
    assert_eq!(s.schedule(&any_pkt(), T0), Ok(DestId(1)));
    for _ in 0..10 {
        s.bind_conn(DestId(1), ConnClass::Inactive).unwrap();
    }
    assert_eq!(
        s.schedule(&any_pkt(), T0),
        Ok(DestId(1)),
        "inactive conns are ignored"
    );
}

#[test]
fn nq_idle_server_wins_at_once_else_sed() {
    // nq row: "first eligible dest with activeconns == 0 wins at once; otherwise sed".
    let mut s = sched_in_list_order(SchedulerKind::Nq, SchedConfig::default(), &[1, 100, 1]);
    s.bind_conn(DestId(1), ConnClass::Active).unwrap();
    // B has weight 100 but A is busy; the first idle is B.
    assert_eq!(s.schedule(&any_pkt(), T0), Ok(DestId(2)));
    s.bind_conn(DestId(2), ConnClass::Active).unwrap();
    // C idle: wins although B's (1+1)/100 is far smaller than C's (0+1)/1.
    assert_eq!(s.schedule(&any_pkt(), T0), Ok(DestId(3)));
    s.bind_conn(DestId(3), ConnClass::Active).unwrap();
    // Nobody idle: sed: A 2/1, B 2/100, C 2/1 -> B.
    assert_eq!(s.schedule(&any_pkt(), T0), Ok(DestId(2)));
}

#[test]
fn fo_highest_weight_first_wins_ties() {
    let mut s = sched_in_list_order(SchedulerKind::Fo, SchedConfig::default(), &[2, 5, 5, 1]);
    assert_eq!(s.schedule(&any_pkt(), T0), Ok(DestId(2)));
    s.edit_dest(DestId(2), DestParams::weight(0)).unwrap();
    assert_eq!(s.schedule(&any_pkt(), T0), Ok(DestId(3)));
}

#[test]
fn ovf_overflows_when_active_exceeds_weight() {
    // ovf row: highest weight among dests with w>0, !OVERLOAD and activeconns <= w.
    let mut s = sched_in_list_order(SchedulerKind::Ovf, SchedConfig::default(), &[1, 2]);
    let mut seq = vec![];
    for _ in 0..5 {
        let d = s.schedule(&any_pkt(), T0).unwrap();
        seq.push(d.0);
        s.bind_conn(d, ConnClass::Active).unwrap();
    }
    // B (w 2) takes 0,1,2 active (2 <= 2 still eligible), then A takes 0,1; then none.
    assert_eq!(seq, [2, 2, 2, 1, 1]);
    assert_eq!(s.schedule(&any_pkt(), T0), Err(NoServer));
}

/// SplitMix64, written out from its published definition, and checked against the
/// published first output for seed 0 (0xE220A8397B1DCDAF).
struct RefSplitMix(u64);
impl RefSplitMix {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E3779B97F4A7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58476D1CE4E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D049BB133111EB);
        z ^ (z >> 31)
    }
}

#[test]
fn twos_follows_the_kernel_rule_with_the_seeded_stream() {
    assert_eq!(RefSplitMix(0).next(), 0xE220A8397B1DCDAF);
    let seed = 0x5EED;
    let weights = [3i32, 1, 4, 1, 5];
    let cfg = SchedConfig {
        seed,
        ..SchedConfig::default()
    };
    let mut s = sched_in_list_order(SchedulerKind::Twos, cfg, &weights);
    // Uneven loads so that the comparison matters.
    let active = [5u32, 0, 9, 2, 1];
    for (k, n) in active.iter().enumerate() {
        s.set_conns(DestId(k as u32 + 1), *n, 0, 0).unwrap();
    }
    let mut rng = RefSplitMix(seed);
    let total: i64 = weights.iter().map(|w| *w as i64).sum::<i64>() + 1;
    for _ in 0..200 {
        // ip_vs_twos.c: rweight = random % total; walk subtracting weights.
        let r1 = ((rng.next() >> 32) as i64) % total;
        let r2 = ((rng.next() >> 32) as i64) % total;
        let pick_by = |mut r: i64| {
            for (k, w) in weights.iter().enumerate() {
                r -= *w as i64;
                if r <= 0 {
                    return k;
                }
            }
            unreachable!()
        };
        let (c1, c2) = (pick_by(r1), pick_by(r2));
        let oh = |k: usize| (active[k] as i64) << 8;
        let want = if weights[c2] as i64 * oh(c1) > weights[c1] as i64 * oh(c2) {
            c2
        } else {
            c1
        };
        assert_eq!(s.schedule(&any_pkt(), T0), Ok(DestId(want as u32 + 1)));
    }
}

#[test]
fn twos_same_seed_same_sequence() {
    let cfg = SchedConfig {
        seed: 42,
        ..SchedConfig::default()
    };
    let mut a = sched_in_list_order(SchedulerKind::Twos, cfg, &[1, 2, 3, 4]);
    let mut b = sched_in_list_order(SchedulerKind::Twos, cfg, &[1, 2, 3, 4]);
    assert_eq!(picks(&mut a, 100), picks(&mut b, 100));
}

#[test]
fn overload_threshold_rules() {
    // Reference: set at bind when u != 0 and active+inactive >= u; cleared at unbind when
    // total < l (l set), or total*4 < u*3 (only u set); cleared on edit with u = 0 or u larger.
    let mut s = sched_in_list_order(SchedulerKind::Wlc, SchedConfig::default(), &[1]);
    let id = DestId(1);
    s.edit_dest(
        id,
        DestParams {
            weight: 1,
            u_threshold: 4,
            l_threshold: 2,
        },
    )
    .unwrap();
    for _ in 0..3 {
        s.bind_conn(id, ConnClass::Active).unwrap();
    }
    assert!(!s.dest(id).unwrap().overloaded());
    s.bind_conn(id, ConnClass::Inactive).unwrap(); // total 4 >= 4
    assert!(s.dest(id).unwrap().overloaded());
    assert_eq!(s.schedule(&any_pkt(), T0), Err(NoServer));
    s.unbind_conn(id, ConnClass::Active).unwrap(); // 3, not < 2
    s.unbind_conn(id, ConnClass::Active).unwrap(); // 2, not < 2
    assert!(s.dest(id).unwrap().overloaded());
    s.unbind_conn(id, ConnClass::Active).unwrap(); // 1 < 2
    assert!(!s.dest(id).unwrap().overloaded());

    // Only u: clear when total*4 < u*3 (u = 4: total < 3).
    s.edit_dest(
        id,
        DestParams {
            weight: 1,
            u_threshold: 4,
            l_threshold: 0,
        },
    )
    .unwrap();
    for _ in 0..3 {
        s.bind_conn(id, ConnClass::Active).unwrap();
    }
    assert!(s.dest(id).unwrap().overloaded()); // 1 + 3 = 4
    s.unbind_conn(id, ConnClass::Active).unwrap(); // 3: 12 < 12 false
    assert!(s.dest(id).unwrap().overloaded());
    s.unbind_conn(id, ConnClass::Active).unwrap(); // 2: 8 < 12
    assert!(!s.dest(id).unwrap().overloaded());

    // Edit with a larger u clears; with the same u it does not.
    s.bind_conn(id, ConnClass::Active).unwrap();
    s.bind_conn(id, ConnClass::Active).unwrap(); // 4 -> OVERLOAD
    assert!(s.dest(id).unwrap().overloaded());
    s.edit_dest(
        id,
        DestParams {
            weight: 1,
            u_threshold: 4,
            l_threshold: 0,
        },
    )
    .unwrap();
    assert!(s.dest(id).unwrap().overloaded());
    s.edit_dest(
        id,
        DestParams {
            weight: 1,
            u_threshold: 5,
            l_threshold: 0,
        },
    )
    .unwrap();
    assert!(!s.dest(id).unwrap().overloaded());
    // Template binds count in persistconns, not in the threshold total.
    s.bind_conn(id, ConnClass::Template).unwrap();
    assert_eq!(s.dest(id).unwrap().persistconns, 1);
    assert!(!s.dest(id).unwrap().overloaded());
}

#[test]
fn control_errors_are_typed() {
    use lvs_sched::SchedError;
    let mut s = sched_in_list_order(SchedulerKind::Wlc, SchedConfig::default(), &[1]);
    assert_eq!(
        s.add_dest(DestId(1), rip(1), 80, DestParams::weight(1)),
        Err(SchedError::DestExists(DestId(1)))
    );
    assert_eq!(
        s.add_dest(DestId(2), rip(2), 80, DestParams::weight(-1)),
        Err(SchedError::NegativeWeight(-1))
    );
    assert!(matches!(
        s.edit_dest(
            DestId(1),
            DestParams {
                weight: 1,
                u_threshold: 1,
                l_threshold: 2
            }
        ),
        Err(SchedError::ThresholdOrder { .. })
    ));
    assert_eq!(
        s.remove_dest(DestId(7)),
        Err(SchedError::NoSuchDest(DestId(7)))
    );
    assert_eq!(
        s.unbind_conn(DestId(1), ConnClass::Active),
        Err(SchedError::CounterUnderflow(DestId(1)))
    );
    let mut m = lvs_sched::Scheduler::new(
        SchedulerKind::Mh,
        SchedConfig {
            mh_table_size: lvs_sched::MaglevSize::KERNEL[0],
            ..Default::default()
        },
        T0,
    );
    for id in 0..251 {
        m.add_dest(DestId(id), rip(id), 80, DestParams::weight(1))
            .unwrap();
    }
    assert!(matches!(
        m.add_dest(DestId(999), rip(999), 80, DestParams::weight(1)),
        Err(SchedError::TooManyDests {
            dests: 252,
            table_size: 251
        })
    ));
}

#[test]
fn every_scheduler_returns_no_server_on_empty_and_all_quiesced_lists() {
    for kind in SchedulerKind::ALL {
        let mut s = lvs_sched::Scheduler::new(kind, SchedConfig::default(), T0);
        assert_eq!(s.schedule(&any_pkt(), T0), Err(NoServer), "{kind} empty");
        let mut s = sched_in_list_order(kind, SchedConfig::default(), &[0, 0, 0]);
        assert_eq!(
            s.schedule(&any_pkt(), T0),
            Err(NoServer),
            "{kind} all quiesced"
        );
        // Quiesce after having weights (mh keeps slots via last_weight, still rejects).
        let mut s = sched_in_list_order(kind, SchedConfig::default(), &[1, 2]);
        assert!(s.schedule(&any_pkt(), T0).is_ok(), "{kind} with weights");
        for id in [1, 2] {
            s.edit_dest(DestId(id), DestParams::weight(0)).unwrap();
        }
        for _ in 0..3 {
            assert_eq!(
                s.schedule(&any_pkt(), T0),
                Err(NoServer),
                "{kind} quiesced after use"
            );
        }
    }
}

#[test]
fn scheduler_names_parse_and_list_valid_names_on_error() {
    for (k, n) in SchedulerKind::ALL.iter().zip(SchedulerKind::NAMES) {
        assert_eq!(n.parse::<SchedulerKind>(), Ok(*k));
        assert_eq!(k.to_string(), n);
    }
    assert_eq!(SchedulerKind::default(), SchedulerKind::Wlc);
    let e = "WLC".parse::<SchedulerKind>().unwrap_err();
    let msg = e.to_string();
    assert!(msg.contains("\"WLC\""), "{msg}");
    for n in SchedulerKind::NAMES {
        assert!(msg.contains(n), "{msg} lacks {n}");
    }
}

#[test]
fn scheduler_flags_parse_by_ipvsadm_names() {
    use lvs_sched::SchedFlags;
    // include/uapi/linux/ip_vs.h: IP_VS_SVC_F_SCHED1 0x0008, SCHED2 0x0010, SCHED3 0x0020.
    assert_eq!("sh-fallback".parse::<SchedFlags>().unwrap().0, 0x08);
    assert_eq!("sh-port".parse::<SchedFlags>().unwrap().0, 0x10);
    assert_eq!("mh-fallback,mh-port".parse::<SchedFlags>().unwrap().0, 0x18);
    assert_eq!(
        "flag-1,flag-2,flag-3".parse::<SchedFlags>().unwrap().0,
        0x38
    );
    assert_eq!("".parse::<SchedFlags>().unwrap().0, 0);
    let msg = "sh-nope".parse::<SchedFlags>().unwrap_err().to_string();
    assert!(
        msg.contains("sh-fallback") && msg.contains("mh-port"),
        "{msg}"
    );
}

#[test]
fn set_kind_keeps_the_list() {
    let mut s = sched_in_list_order(SchedulerKind::Rr, SchedConfig::default(), &[1, 1]);
    s.set_kind(SchedulerKind::Fo, T0).unwrap();
    assert_eq!(s.len(), 2);
    assert_eq!(s.schedule(&any_pkt(), T0), Ok(DestId(1)));
}

#[test]
fn wrr_bound_to_a_built_list_starts_its_cycle_at_mw() {
    // ip_vs_wrr_init_svc() over an existing list (ipvsadm -E -s wrr): cw = mw = 4.
    let mut s = sched_in_list_order(SchedulerKind::Rr, SchedConfig::default(), &[4, 3, 2]);
    s.set_kind(SchedulerKind::Wrr, T0).unwrap();
    assert_eq!(picks(&mut s, 9), [1, 1, 2, 1, 2, 3, 1, 2, 3]);
}

#[test]
fn large_ids_work_like_small_ones() {
    // Ids at or above 65536 take the hashed index instead of the direct one.
    let mut s = lvs_sched::Scheduler::new(SchedulerKind::Rr, SchedConfig::default(), T0);
    for id in [5u32, 70_000, u32::MAX] {
        s.add_dest(DestId(id), rip(id % 200), 80, DestParams::weight(1))
            .unwrap();
    }
    assert_eq!(picks(&mut s, 3), [u32::MAX, 70_000, 5]);
    s.bind_conn(DestId(70_000), ConnClass::Active).unwrap();
    assert_eq!(s.dest(DestId(70_000)).unwrap().activeconns, 1);
    s.remove_dest(DestId(u32::MAX)).unwrap();
    assert!(s.dest(DestId(u32::MAX)).is_none());
    assert_eq!(picks(&mut s, 2), [70_000, 5]);
}
