//! keepalived's tracked-object rules, one test each, quoting the keepalived 2.2 source they
//! check: the fixed-weight objects (track_script / track_interface / track_process,
//! keepalived/vrrp/vrrp_track.c) and the variable-weight `track_file`
//! (keepalived/trackers/track_file.c), the effective priority they produce
//! (vrrp_set_effective_priority()), and what that priority does to adverts, timers and
//! preemption.

mod common;

use common::*;
use lvs_vrrp::wire::{self, Version};
use lvs_vrrp::{
    ConfigError, Event, Reason, State, TrackFileWeight, TrackStatus, TrackWeight, Transmit,
    VrrpConfig, VrrpInstance,
};

fn file(name: &str, weight: i32, reverse: bool, value: i64) -> TrackFileWeight {
    TrackFileWeight {
        name: name.into(),
        weight,
        reverse,
        value,
    }
}

fn with_file(priority: u8, f: TrackFileWeight) -> VrrpConfig {
    let mut c = cfg(priority);
    c.track_file = vec![f];
    c
}

/// Runs an instance alone on the wire until it is Master, then drains its outputs; returns
/// it with the time it became Master.
fn to_master(mut vr: VrrpInstance) -> (VrrpInstance, u64) {
    let t = vr.poll_timeout().unwrap();
    vr.handle_timeout(t);
    assert_eq!(vr.state(), State::Master);
    drain(&mut vr);
    while vr.poll_event().is_some() {}
    (vr, t)
}

/// The priority of the advert sent when the Adver_Timer next fires (decoded from the frame).
fn next_advert_priority(vr: &mut VrrpInstance) -> u8 {
    let t = vr.poll_timeout().unwrap();
    vr.handle_timeout(t);
    let tx = drain(vr);
    let (_, frame) = tx
        .iter()
        .find(|(t, _)| matches!(t, Transmit::Advert { .. }))
        .expect("an advert");
    wire::decode_frame(frame).unwrap().1.priority
}

fn state_changes(vr: &mut VrrpInstance) -> Vec<(State, State, Reason, u8)> {
    let mut v = Vec::new();
    while let Some(e) = vr.poll_event() {
        if let Event::StateChange {
            from,
            to,
            reason,
            priority,
        } = e
        {
            v.push((from, to, reason, priority));
        }
    }
    v
}

// ----------------------------------------------------------------------------------------------
// The status of one object
// ----------------------------------------------------------------------------------------------

#[test]
fn file_status_is_value_times_weight_clamped_with_minus_254_fault() {
    // track_file.c update_track_file_status():
    //   if (!top->weight)
    //       status = !!new_status == (top->weight_multiplier == 1) ? INT_MIN : 0;
    //   else
    //       status = new_status * top->weight * top->weight_multiplier;
    // process_update_vrrp_track_file_status():
    //   if (new_status < -254) new_status = -254; else if (new_status > 253) new_status = 253;
    //   ... if (new_status == -254) { ... down_instance(vrrp); }
    use TrackStatus::{Fault, Priority};
    let cases: &[(i32, bool, i64, TrackStatus)] = &[
        // Weight 0: "a non-zero value means failure, a 0 status means success".
        (0, false, 0, Priority(0)),
        (0, false, 1, Fault),
        (0, false, -7, Fault),
        (0, false, i64::MAX, Fault),
        // reverse (weight_multiplier -1) swaps them.
        (0, true, 0, Fault),
        (0, true, 5, Priority(0)),
        // value * weight.
        (5, false, 3, Priority(15)),
        (-5, false, 3, Priority(-15)),
        (5, false, -3, Priority(-15)),
        (-5, false, -3, Priority(15)),
        // reverse negates.
        (5, true, 3, Priority(-15)),
        (-5, true, 3, Priority(15)),
        // Clamped to 253 at the top.
        (10, false, 25, Priority(250)),
        (10, false, 26, Priority(253)),
        (254, false, 1, Priority(253)),
        (1, false, i64::MAX, Priority(253)),
        (-1, false, i64::MIN, Priority(253)),
        // -253 is the lowest priority status, -254 and below are FAULT.
        (1, false, -253, Priority(-253)),
        (1, false, -254, Fault),
        (-254, false, 1, Fault),
        (10, false, -26, Fault),
        (254, true, 1, Fault),
        (1, false, i64::MIN, Fault),
        (-254, false, i64::MAX, Fault),
    ];
    for &(weight, reverse, value, want) in cases {
        assert_eq!(
            TrackStatus::of_value(weight, reverse, value),
            want,
            "weight {weight} reverse {reverse} value {value}"
        );
    }
}

#[test]
fn fixed_status_adds_positive_weights_while_up_and_negative_while_down() {
    // vrrp_track.c initialise_interface_tracking_priorities():
    //   if (!top->weight) { if (IF_FLAGS_UP(ifp) != (top->weight_multiplier == 1)) FAULT }
    //   else if (IF_FLAGS_UP(ifp)) { if (top->weight > 0) total_priority += weight * mult; }
    //   else { if (top->weight < 0) total_priority += weight * mult; }
    for weight in -253..=253 {
        for up in [false, true] {
            let want = match (weight, up) {
                (0, false) => TrackStatus::Fault,
                (w, true) if w > 0 => TrackStatus::Priority(w),
                (w, false) if w < 0 => TrackStatus::Priority(w),
                _ => TrackStatus::Priority(0),
            };
            assert_eq!(TrackStatus::of_up_down(weight, up), want, "{weight} {up}");
        }
    }
}

#[test]
fn fixed_weight_objects_are_the_value_0_or_1_case_of_file_objects() {
    // One mechanism: a fixed-weight object reported up/down gives the same effective
    // priority and state as a track file of the same weight holding 1 while the weight
    // applies (up for W > 0, down for W <= 0) and 0 otherwise.
    for weight in [-253, -100, -1, 0, 1, 60, 253] {
        for up in [false, true] {
            let mut fixed_cfg = cfg(100);
            fixed_cfg.track = vec![TrackWeight {
                name: "o".into(),
                weight,
            }];
            let mut fixed = VrrpInstance::new(fixed_cfg, 0).unwrap();
            fixed.set_track(SEC, 0, up);
            let applies = if weight > 0 { up } else { !up };
            let mut var =
                VrrpInstance::new(with_file(100, file("o", weight, false, 0)), 0).unwrap();
            var.set_track_value(SEC, 0, i64::from(applies));
            assert_eq!(
                (fixed.effective_priority(), fixed.state()),
                (var.effective_priority(), var.state()),
                "weight {weight} up {up}"
            );
        }
    }
}

// ----------------------------------------------------------------------------------------------
// Effective priority
// ----------------------------------------------------------------------------------------------

#[test]
fn value_3_weight_5_moves_priority_by_15_and_the_next_advert_carries_it() {
    // process_update_vrrp_track_file_status(): total_priority += new_status - previous_status;
    // vrrp_set_effective_priority(vrrp). The advert timer then sends effective_priority.
    let (mut vr, t0) =
        to_master(VrrpInstance::new(with_file(100, file("tf", 5, false, 0)), 0).unwrap());
    assert_eq!(vr.effective_priority(), 100);
    vr.set_track_value(t0 + 1, 0, 3);
    assert_eq!(vr.effective_priority(), 115, "100 + 3 * 5");
    assert_eq!(vr.track_file_value(0), Some(3));
    assert_eq!(vr.track_file_status(0), Some(TrackStatus::Priority(15)));
    assert_eq!(vr.state(), State::Master);
    assert_eq!(next_advert_priority(&mut vr), 115);
    // Back to 0: the contribution is replaced, not accumulated.
    assert!(vr.set_track_value_by_name(t0 + 2 * SEC, "tf", 0));
    assert_eq!(vr.effective_priority(), 100);
    assert!(!vr.set_track_value_by_name(t0 + 2 * SEC, "nope", 1));

    // A negative weight lowers it by 15; reverse negates (raises it by 15 with weight 5).
    let mut neg = VrrpInstance::new(with_file(100, file("tf", -5, false, 0)), 0).unwrap();
    neg.set_track_value(SEC, 0, 3);
    assert_eq!(neg.effective_priority(), 85);
    let mut rev = VrrpInstance::new(with_file(100, file("tf", 5, true, 0)), 0).unwrap();
    rev.set_track_value(SEC, 0, 3);
    assert_eq!(rev.effective_priority(), 85);
    let mut rev_neg = VrrpInstance::new(with_file(100, file("tf", -5, true, 0)), 0).unwrap();
    rev_neg.set_track_value(SEC, 0, 3);
    assert_eq!(rev_neg.effective_priority(), 115);
}

#[test]
fn effective_priority_is_clamped_to_1_254_and_sums_every_object() {
    // vrrp_set_effective_priority():
    //   if (vrrp->total_priority < 1) new_prio = 1;
    //   else if (vrrp->total_priority >= VRRP_PRIO_OWNER) new_prio = VRRP_PRIO_OWNER - 1;
    //   else new_prio = (uint8_t)vrrp->total_priority;
    let mut c = cfg(100);
    c.track = vec![TrackWeight {
        name: "chk".into(),
        weight: -20,
    }];
    c.track_file = vec![file("a", 1, false, 0), file("b", 100, false, 0)];
    let mut vr = VrrpInstance::new(c, 0).unwrap();
    // A huge value: the status clamps to 253, the total (353) to 254.
    vr.set_track_value(SEC, 0, 1_000_000_000_000);
    assert_eq!(vr.effective_priority(), 254);
    // 100 + 253 - 200 = 153: the clamp is on the sum, not on each step.
    vr.set_track_value(SEC, 1, -2);
    assert_eq!(vr.effective_priority(), 153);
    // 100 - 200 - 20 + (-200) = -320 -> 1 (never 0: that is the release priority).
    vr.set_track(SEC, 0, false);
    vr.set_track_value(SEC, 0, -200);
    assert_eq!(vr.effective_priority(), 1);
    assert_eq!(vr.state(), State::Backup, "a low priority is not a FAULT");
    // Back up step by step: 100 - 20 = 80, then 80 + 2 * 100 = 280 -> 254.
    vr.set_track_value(SEC, 0, 0);
    vr.set_track_value(SEC, 1, 0);
    assert_eq!(vr.effective_priority(), 80);
    vr.set_track_value(SEC, 1, 2);
    assert_eq!(vr.effective_priority(), 254);
}

#[test]
fn address_owner_keeps_255_but_a_fault_still_applies() {
    // vrrp_set_effective_priority(): "Don't change priority if address owner"
    //   if (vrrp->base_priority == VRRP_PRIO_OWNER) return;
    // process_update_vrrp_track_file_status() calls down_instance() whatever the priority.
    let mut c = cfg(255);
    c.track_file = vec![file("w", -10, false, 0), file("z", 0, false, 0)];
    let mut vr = VrrpInstance::new(c, 0).unwrap();
    assert_eq!(vr.state(), State::Master);
    drain(&mut vr);
    vr.set_track_value(SEC, 0, 20);
    assert_eq!(vr.effective_priority(), 255);
    assert_eq!(next_advert_priority(&mut vr), 255);
    vr.set_track_value(2 * SEC, 0, 26);
    assert_eq!(vr.state(), State::Fault, "-260 is FAULT, owner or not");
    vr.set_track_value(3 * SEC, 0, 1);
    assert_eq!((vr.state(), vr.effective_priority()), (State::Master, 255));
    vr.set_track_value(4 * SEC, 1, 1);
    assert_eq!(vr.state(), State::Fault);
}

// ----------------------------------------------------------------------------------------------
// FAULT
// ----------------------------------------------------------------------------------------------

#[test]
fn weight_0_non_zero_value_faults_the_master_and_zero_brings_it_back() {
    // update_track_file_status(): "If the tracking weight is 0, a non-zero value means
    // failure, a 0 status means success"; down_instance() -> vrrp_state_leave_master(vrrp,
    // true): the Master sends its priority-0 advert (RFC 9568 6.4.3 Shutdown).
    let (mut vr, t0) =
        to_master(VrrpInstance::new(with_file(100, file("f", 0, false, 0)), 0).unwrap());
    assert!(t0 < 5 * SEC);
    vr.set_track_value(5 * SEC, 0, 7);
    assert_eq!(vr.state(), State::Fault);
    assert_eq!(advert_prios(&drain(&mut vr)), vec![0]);
    assert_eq!(vr.poll_timeout(), None, "no timer runs in FAULT");
    assert_eq!(
        state_changes(&mut vr),
        vec![(State::Master, State::Fault, Reason::Fault, 100)]
    );
    // Another non-zero value changes nothing.
    vr.set_track_value(6 * SEC, 0, 1);
    assert_eq!(vr.state(), State::Fault);
    assert!(state_changes(&mut vr).is_empty());
    // 0: try_up_instance() -> Backup with a fresh Master_Down_Interval (3 s + 156/256 s).
    vr.set_track_value(7 * SEC, 0, 0);
    assert_eq!(
        state_changes(&mut vr),
        vec![(State::Fault, State::Backup, Reason::FaultCleared, 100)]
    );
    assert_eq!(vr.poll_timeout(), Some(7 * SEC + 3_609_375));

    // reverse: 0 is the failing value.
    let mut rev = VrrpInstance::new(with_file(100, file("f", 0, true, 1)), 0).unwrap();
    assert_eq!(rev.state(), State::Backup);
    rev.set_track_value(SEC, 0, 0);
    assert_eq!(rev.state(), State::Fault);
    rev.set_track_value(2 * SEC, 0, -1);
    assert_eq!(rev.state(), State::Backup);
}

#[test]
fn weighted_status_of_minus_254_is_fault_and_keeps_the_old_priority_meanwhile() {
    // process_update_vrrp_track_file_status():
    //   if (new_status == -254) { if (top->weight) vrrp->total_priority -= previous_status;
    //                             down_instance(vrrp); }
    //   else if (previous_status == -254) { total_priority += new_status;
    //                             effective_priority = clamp(total_priority); try_up_instance(); }
    // Entering FAULT does not call vrrp_set_effective_priority(): the FAULT notify carries
    // the priority from before.
    let (mut vr, t0) =
        to_master(VrrpInstance::new(with_file(100, file("f", 10, false, 3)), 0).unwrap());
    assert!(t0 < 4 * SEC);
    assert_eq!(vr.effective_priority(), 130);
    vr.set_track_value(4 * SEC, 0, -26);
    assert_eq!(vr.track_file_status(0), Some(TrackStatus::Fault));
    assert_eq!(
        state_changes(&mut vr),
        vec![(State::Master, State::Fault, Reason::Fault, 130)]
    );
    assert_eq!(advert_prios(&drain(&mut vr)), vec![0]);
    // -25 * 10 = -250 leaves FAULT with 100 - 250 -> 1.
    vr.set_track_value(5 * SEC, 0, -25);
    assert_eq!(
        state_changes(&mut vr),
        vec![(State::Fault, State::Backup, Reason::FaultCleared, 1)]
    );
    // Master_Down_Interval with priority 1: 3 s + 255/256 s.
    assert_eq!(vr.poll_timeout(), Some(5 * SEC + 3 * SEC + 996_093));
    vr.set_track_value(6 * SEC, 0, 2);
    assert_eq!((vr.state(), vr.effective_priority()), (State::Backup, 120));
}

#[test]
fn initial_value_that_means_fault_starts_the_instance_in_fault() {
    // vrrp_track.c initialise_vrrp_file_tracking_priorities():
    //   if (status <= -254) { log "entering FAULT state (tracked file %s has status %i)";
    //                         vrrp->state = VRRP_STATE_FAULT; }
    //   else vrrp->total_priority += (status > 253 ? 253 : status);
    let mut vr = VrrpInstance::new(with_file(100, file("f", 0, false, 1)), 0).unwrap();
    assert_eq!(vr.state(), State::Fault);
    assert_eq!(vr.poll_timeout(), None);
    assert!(drain(&mut vr).is_empty(), "nothing sent");
    assert_eq!(
        state_changes(&mut vr),
        vec![(State::Initialize, State::Fault, Reason::Fault, 100)]
    );
    vr.set_track_value(SEC, 0, 0);
    assert_eq!(vr.state(), State::Backup);
    // An owner too: FAULT rather than Master.
    let owner = VrrpInstance::new(with_file(255, file("f", 5, false, -60)), 0).unwrap();
    assert_eq!(owner.state(), State::Fault);
    // A weighted initial value is in the starting priority (and so in Skew_Time).
    let up = VrrpInstance::new(with_file(100, file("f", 5, false, 4)), 0).unwrap();
    assert_eq!(up.effective_priority(), 120);
    assert_eq!(up.poll_timeout(), Some(3 * SEC + (256 - 120) * SEC / 256));
    // After shutdown, start() goes back to FAULT while the file says so.
    let mut vr = VrrpInstance::new(with_file(100, file("f", 0, false, 0)), 0).unwrap();
    vr.set_track_value(SEC, 0, 9);
    vr.shutdown(2 * SEC);
    vr.start(3 * SEC);
    assert_eq!(vr.state(), State::Fault);
}

// ----------------------------------------------------------------------------------------------
// Timers and preemption
// ----------------------------------------------------------------------------------------------

#[test]
fn backup_master_down_timer_follows_the_priority_change() {
    // vrrp_set_effective_priority(): in BACKUP
    //   if (old_down_timer < vrrp->ms_down_timer)
    //       vrrp->sands = timer_add_long(vrrp->sands, vrrp->ms_down_timer - old_down_timer);
    //   else
    //       vrrp->sands = timer_sub_long(vrrp->sands, old_down_timer - vrrp->ms_down_timer);
    // with ms_down_timer = 3 * Master_Adver_Interval + Skew_Time ((256 - prio) / 256 s, v2).
    let mut vr = VrrpInstance::new(with_file(100, file("f", 1, false, 0)), 0).unwrap();
    assert_eq!(vr.poll_timeout(), Some(3 * SEC + 609_375));
    // 200: Skew_Time 56/256 s = 218 750 us, 390 625 us earlier.
    vr.set_track_value(SEC, 0, 100);
    assert_eq!(vr.poll_timeout(), Some(3 * SEC + 218_750));
    // Back to 100: later again by the same amount.
    vr.set_track_value(2 * SEC, 0, 0);
    assert_eq!(vr.poll_timeout(), Some(3 * SEC + 609_375));
    // Raised to 254 at 3.4 s: 3.007 812 s is already past, so the timer is due now (the
    // requeued timer thread fires at once), not in the past.
    vr.set_track_value(3_400_000, 0, 154);
    assert_eq!(vr.poll_timeout(), Some(3_400_000));
    vr.handle_timeout(3_400_000);
    assert_eq!(vr.state(), State::Master);
}

/// Two routers on one wire: every frame one sends is handed to the other.
fn run_pair(a: &mut VrrpInstance, b: &mut VrrpInstance, now: &mut u64, until: u64) {
    loop {
        // Deliver until both are quiet (a delivery may trigger an immediate advert).
        loop {
            let mut sent = false;
            for a_to_b in [true, false] {
                let (from, to) = if a_to_b {
                    (&mut *a, &mut *b)
                } else {
                    (&mut *b, &mut *a)
                };
                for (t, frame) in drain(from) {
                    sent = true;
                    if matches!(t, Transmit::Advert { .. }) {
                        let _ = to.handle_frame(*now, &frame);
                    }
                }
            }
            if !sent {
                break;
            }
        }
        let next = [a.poll_timeout(), b.poll_timeout()]
            .into_iter()
            .flatten()
            .min();
        match next {
            Some(t) if t <= until => {
                *now = t.max(*now);
                a.handle_timeout(*now);
                b.handle_timeout(*now);
            }
            _ => {
                *now = until;
                return;
            }
        }
    }
}

#[test]
fn peer_preempts_when_a_track_value_drops_the_master_below_it_and_yields_when_it_rises() {
    // RFC 9568 6.4.2: a Backup with Preempt_Mode discards adverts of lower priority, so its
    // Master_Down_Timer fires; 6.4.3: the old Master then hears the higher priority and
    // becomes Backup. keepalived sends the changed priority in the next advert.
    let mut ca = with_file(150, file("load", -10, false, 0));
    ca.interface_addr = LOCAL;
    let mut cb = cfg(100);
    cb.interface_addr = PEER_HI;
    cb.interface_mac = [0x08, 0x00, 0x27, 0, 0, 0x02];
    let mut a = VrrpInstance::new(ca, 0).unwrap();
    let mut b = VrrpInstance::new(cb, 0).unwrap();
    let mut now = 0;
    run_pair(&mut a, &mut b, &mut now, 10 * SEC);
    assert_eq!((a.state(), b.state()), (State::Master, State::Backup));
    // 150 - 6 * 10 = 90 < 100.
    let t_drop = now;
    a.set_track_value(now, 0, 6);
    assert_eq!(a.effective_priority(), 90);
    assert_eq!(
        a.state(),
        State::Master,
        "a lower priority alone is no FAULT"
    );
    // B takes over within one advert interval plus its Master_Down_Interval
    // (3 s + 156/256 s), and A steps down on B's first advert.
    run_pair(&mut a, &mut b, &mut now, t_drop + SEC + 3 * SEC + 609_375);
    assert_eq!((a.state(), b.state()), (State::Backup, State::Master));
    assert!(b.stats().become_master >= 1);
    assert_eq!(b.master_addr(), None);
    assert_eq!(a.master_addr(), Some(PEER_HI));
    // The value drops back: A (150) preempts B (100) again.
    a.set_track_value(now, 0, 0);
    assert_eq!(a.effective_priority(), 150);
    let t_rise = now;
    run_pair(&mut a, &mut b, &mut now, t_rise + SEC + 3 * SEC + 414_063);
    assert_eq!((a.state(), b.state()), (State::Master, State::Backup));
}

#[test]
fn version_3_advert_carries_the_tracked_priority_too() {
    let mut c = with_file(100, file("f", 7, false, 0));
    c.version = Some(Version::V3);
    let (mut vr, t0) = to_master(VrrpInstance::new(c, 0).unwrap());
    vr.set_track_value(t0 + 1, 0, -4);
    assert_eq!(next_advert_priority(&mut vr), 72);
}

// ----------------------------------------------------------------------------------------------
// Configuration
// ----------------------------------------------------------------------------------------------

#[test]
fn track_file_weight_range_is_minus_254_to_254() {
    // track_file.c vrrp_alloc_track_file(): read_int_strvec(strvec, 2, &weight, -254, 254, ..)
    // "weight for track file %s must be in [-254..254] inclusive".
    for w in [-254, 254] {
        assert!(with_file(100, file("f", w, false, 0)).validate().is_ok());
    }
    for w in [-255, 255, i32::MIN] {
        assert_eq!(
            with_file(100, file("f", w, false, 0)).validate(),
            Err(ConfigError::TrackFileWeightOutOfRange(w))
        );
    }
    // The fixed-weight objects keep -253..=253 (vrrp_track.c: "+/-254. Setting to +/-253").
    let mut c = cfg(100);
    c.track = vec![TrackWeight {
        name: "s".into(),
        weight: 254,
    }];
    assert_eq!(c.validate(), Err(ConfigError::TrackWeightOutOfRange(254)));
}

#[test]
fn out_of_range_indexes_change_nothing() {
    let mut vr = VrrpInstance::new(with_file(100, file("f", 0, false, 0)), 0).unwrap();
    vr.set_track_value(SEC, 1, 5);
    vr.set_track_value(SEC, usize::MAX, 5);
    vr.set_track(SEC, 0, false);
    assert_eq!((vr.state(), vr.effective_priority()), (State::Backup, 100));
    assert_eq!(vr.track_file_status(1), None);
    assert_eq!(vr.track_file_value(usize::MAX), None);
    assert_eq!(vr.track_status(0), None);
}

#[test]
fn a_new_value_of_the_same_status_changes_nothing() {
    // process_update_vrrp_track_file_status(): "if (previous_status == new_status) return;".
    // In FAULT from the file (entered at priority 130), -30 is FAULT again: the priority
    // stays 130; a value with a new status recomputes it.
    let mut vr = VrrpInstance::new(with_file(100, file("f", 10, false, 3)), 0).unwrap();
    vr.set_track_value(SEC, 0, -26);
    assert_eq!((vr.state(), vr.effective_priority()), (State::Fault, 130));
    vr.set_track_value(2 * SEC, 0, -30);
    assert_eq!((vr.state(), vr.effective_priority()), (State::Fault, 130));
    assert_eq!(vr.track_file_value(0), Some(-30));
    // 30 * 10 and 26 * 10 both clamp to 253: no change, no timer move.
    vr.set_track_value(3 * SEC, 0, 30);
    let (t, p) = (vr.poll_timeout(), vr.effective_priority());
    assert_eq!((vr.state(), p), (State::Backup, 254));
    vr.set_track_value(4 * SEC, 0, 26);
    assert_eq!((vr.poll_timeout(), vr.effective_priority()), (t, p));
    assert!(
        state_changes(&mut vr).len() == 3,
        "startup, FAULT, leaving FAULT"
    );
}
