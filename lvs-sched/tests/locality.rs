//! lblc and lblcr: caching, the lblc "overloaded" rule, set growth and shrink, and the
//! garbage collection timers (net/netfilter/ipvs/ip_vs_lblc.c, ip_vs_lblcr.c).

mod common;

use std::net::IpAddr;
use std::time::Duration;

use common::*;
use lvs_sched::{ConnClass, DestId, DestParams, PacketInfo, SchedConfig, Scheduler, SchedulerKind};

fn to(daddr: IpAddr) -> PacketInfo {
    PacketInfo::new(v4(198, 51, 100, 1), 5555, daddr, 80)
}

const MIN: Duration = Duration::from_secs(60);
const DAY: Duration = Duration::from_secs(24 * 3600);

#[test]
fn lblc_caches_the_wlc_choice_per_daddr() {
    let mut s = sched_in_list_order(SchedulerKind::Lblc, SchedConfig::default(), &[1, 1, 1]);
    let x = v4(203, 0, 113, 1);
    assert_eq!(s.schedule(&to(x), T0), Ok(DestId(1)));
    s.bind_conn(DestId(1), ConnClass::Inactive).unwrap();
    // wlc alone would now pick 2, but the entry for x says 1.
    assert_eq!(s.schedule(&to(x), T0), Ok(DestId(1)));
    assert_eq!(s.locality_entry(x), Some(vec![DestId(1)]));
    // Another daddr gets the wlc choice.
    assert_eq!(s.schedule(&to(v4(203, 0, 113, 2)), T0), Ok(DestId(2)));
    assert_eq!(s.locality_entries(), 2);
}

#[test]
fn lblc_reschedules_when_cached_server_is_overloaded_in_lblc_sense() {
    // is_overloaded(): activeconns > weight AND some server has activeconns*2 < weight.
    let mut s = sched_in_list_order(SchedulerKind::Lblc, SchedConfig::default(), &[1, 4]);
    let x = v4(203, 0, 113, 1);
    assert_eq!(s.schedule(&to(x), T0), Ok(DestId(1)));
    s.bind_conn(DestId(1), ConnClass::Active).unwrap();
    s.bind_conn(DestId(1), ConnClass::Active).unwrap(); // 2 > 1
    s.set_conns(DestId(2), 2, 0, 0).unwrap(); // 2*2 < 4 false: no half-loaded server
    assert_eq!(
        s.schedule(&to(x), T0),
        Ok(DestId(1)),
        "not overloaded without a half-loaded one"
    );
    s.set_conns(DestId(2), 1, 0, 0).unwrap(); // 1*2 < 4: half-loaded exists
    assert_eq!(s.schedule(&to(x), T0), Ok(DestId(2)));
    assert_eq!(s.locality_entry(x), Some(vec![DestId(2)]));
}

#[test]
fn lblc_cache_hit_ignores_the_overload_flag_like_the_kernel() {
    let mut s = sched_in_list_order(SchedulerKind::Lblc, SchedConfig::default(), &[5, 5]);
    let x = v4(203, 0, 113, 1);
    assert_eq!(s.schedule(&to(x), T0), Ok(DestId(1)));
    s.edit_dest(
        DestId(1),
        DestParams {
            weight: 5,
            u_threshold: 1,
            l_threshold: 0,
        },
    )
    .unwrap();
    s.bind_conn(DestId(1), ConnClass::Active).unwrap();
    assert!(s.dest(DestId(1)).unwrap().overloaded());
    assert_eq!(s.schedule(&to(x), T0), Ok(DestId(1)));
    // A new daddr goes through wlc, which skips OVERLOAD.
    assert_eq!(s.schedule(&to(v4(203, 0, 113, 9)), T0), Ok(DestId(2)));
}

#[test]
fn lblc_entries_survive_list_changes_and_revive_with_the_same_id() {
    let mut s = sched_in_list_order(SchedulerKind::Lblc, SchedConfig::default(), &[1, 1]);
    let x = v4(203, 0, 113, 1);
    assert_eq!(s.schedule(&to(x), T0), Ok(DestId(1)));
    s.add_dest(DestId(3), rip(3), 80, DestParams::weight(1))
        .unwrap(); // new head
    assert_eq!(s.schedule(&to(x), T0), Ok(DestId(1)), "table kept on add");
    // Removed: the entry stays but is not AVAILABLE.
    s.remove_dest(DestId(1)).unwrap();
    assert_eq!(s.locality_entry(x), Some(vec![DestId(1)]));
    s.add_dest(DestId(1), rip(1), 80, DestParams::weight(1))
        .unwrap();
    assert_eq!(
        s.schedule(&to(x), T0),
        Ok(DestId(1)),
        "revived like the kernel's dest trash"
    );
    s.remove_dest(DestId(1)).unwrap();
    // Now wlc over {3, 2}: 3 is the head.
    assert_eq!(s.schedule(&to(x), T0), Ok(DestId(3)));
    assert_eq!(s.locality_entry(x), Some(vec![DestId(3)]));
}

#[test]
fn lblc_full_sweep_every_thirtieth_check_removes_entries_idle_for_the_expiration() {
    let mut s = sched_in_list_order(SchedulerKind::Lblc, SchedConfig::default(), &[1]);
    assert_eq!(s.poll_timeout(), Some(MIN), "armed 60 s after creation");
    for i in 0..3 {
        s.schedule(&to(v4(203, 0, 113, i)), T0).unwrap();
    }
    // Checks 1..=29 only count (entries <= 16384); one entry is refreshed at 24 h.
    let mut now = DAY;
    s.schedule(&to(v4(203, 0, 113, 0)), now).unwrap(); // due check runs first (counter 1 -> 2)
    for _ in 2..=29 {
        now = s.poll_timeout().unwrap();
        s.handle_timeout(now);
        assert_eq!(s.locality_entries(), 3);
    }
    // Check 30 (counter % 30 == 0): full sweep, lastuse + 24 h <= now goes.
    now = s.poll_timeout().unwrap();
    s.handle_timeout(now);
    assert_eq!(s.locality_entries(), 1);
    assert!(s.locality_entry(v4(203, 0, 113, 0)).is_some());
    assert_eq!(s.poll_timeout(), Some(now + MIN));
}

#[test]
fn lblc_over_full_table_collects_idle_entries_bucket_by_bucket() {
    // ip_vs_lblc_check_expire(): entries > 16384 -> goal = min((n - 16384) * 4 / 3, 8192);
    // from bucket rover + 1 = 1 upward, remove every entry idle >= 6 min in each bucket and
    // stop after the bucket where the goal is reached.
    let mut s = sched_in_list_order(SchedulerKind::Lblc, SchedConfig::default(), &[1]);
    let n = 16_384 + 300;
    let mut per_bucket = vec![0usize; 1024];
    for k in 0..n as u32 {
        let a = 0xC612_0000u32 + k; // 198.18.0.0/15 benchmark range
        s.schedule(&to(IpAddr::V4(a.into())), T0).unwrap();
        // hash_32(a, 10) = (a * 0x61C88647 mod 2^32) >> 22, computed here independently.
        per_bucket[((a as u64 * 0x61C8_8647u64) as u32 >> 22) as usize] += 1;
    }
    assert_eq!(s.locality_entries(), n);
    let goal = ((n - 16_384) * 4 / 3).min(8192);
    let (mut removed, mut j) = (0usize, 0usize);
    while removed < goal {
        j += 1;
        removed += per_bucket[j];
    }
    // The first check at 60 s finds nothing idle for 6 minutes: nothing goes.
    s.handle_timeout(MIN);
    assert_eq!(s.locality_entries(), n);
    // At 7 minutes everything is idle; the second check (counter still 2) sweeps.
    s.handle_timeout(MIN * 7);
    assert_eq!(s.locality_entries(), n - removed);
}

#[test]
fn lblc_replaced_entry_still_counts_for_garbage_collection_like_the_kernel() {
    // ip_vs_lblc_new() unlinks a replaced entry with ip_vs_lblc_del(), which does not
    // decrement tbl->entries, then ip_vs_lblc_hash() increments it. With exactly 16384 real
    // entries and one replacement the kernel counts 16385 > 16384, so the next check collects
    // with goal = 1 * 4 / 3 = 1: every idle entry of the first non-empty bucket after the
    // rover (bucket 1, 2, ...) goes.
    let mut s = sched_in_list_order(SchedulerKind::Lblc, SchedConfig::default(), &[1, 1]);
    let mut per_bucket = vec![0usize; 1024];
    let first = IpAddr::V4(0xC612_0000u32.into());
    for k in 0..16_384u32 {
        let a = 0xC612_0000u32 + k;
        s.schedule(&to(IpAddr::V4(a.into())), T0).unwrap();
        per_bucket[((a as u64 * 0x61C8_8647u64) as u32 >> 22) as usize] += 1;
    }
    assert_eq!(s.locality_entries(), 16_384);
    // Quiesce the cached server of `first` so its entry is replaced by the other one.
    let cached = s.locality_entry(first).unwrap()[0];
    s.edit_dest(cached, DestParams::weight(0)).unwrap();
    let other = s.schedule(&to(first), T0).unwrap();
    assert_ne!(other, cached);
    assert_eq!(
        s.locality_entries(),
        16_384,
        "one entry replaced, not added"
    );
    s.handle_timeout(MIN); // nothing idle for 6 minutes yet
    assert_eq!(s.locality_entries(), 16_384);
    s.handle_timeout(MIN * 8);
    let j = (1..1024).find(|j| per_bucket[*j] > 0).unwrap();
    assert_eq!(s.locality_entries(), 16_384 - per_bucket[j]);
}

#[test]
fn lblcr_grows_the_set_when_its_minimum_is_overloaded_and_shrinks_after_expiration() {
    let mut s = sched_in_list_order(SchedulerKind::Lblcr, SchedConfig::default(), &[1, 1, 10]);
    let x = v4(203, 0, 113, 1);
    assert_eq!(s.schedule(&to(x), T0), Ok(DestId(1)));
    assert_eq!(s.locality_entry(x), Some(vec![DestId(1)]));
    // 1 overloaded in lblc's sense (2 > 1, and 3 has 0*2 < 10): wlc over the service
    // picks 2 (overhead 0, first), which joins the set at the head.
    s.set_conns(DestId(1), 2, 0, 0).unwrap();
    s.set_conns(DestId(3), 0, 1, 0).unwrap(); // 3: overhead 1/10, 2: 0/1
    assert_eq!(s.schedule(&to(x), T0), Ok(DestId(2)));
    assert_eq!(s.locality_entry(x), Some(vec![DestId(2), DestId(1)]));
    // Within the expiration: the set stays, the set minimum (2) is used.
    assert_eq!(s.schedule(&to(x), T0 + MIN), Ok(DestId(2)));
    assert_eq!(s.locality_entry(x).unwrap().len(), 2);
    // After lblcr_expiration since the last change: the most loaded member (1: 512/1)
    // is dropped; the pick is still the minimum.
    let later = DAY + MIN;
    assert_eq!(s.schedule(&to(x), later), Ok(DestId(2)));
    assert_eq!(s.locality_entry(x), Some(vec![DestId(2)]));
}

#[test]
fn lblcr_set_minimum_skips_removed_members() {
    let mut s = sched_in_list_order(SchedulerKind::Lblcr, SchedConfig::default(), &[1, 1]);
    let x = v4(203, 0, 113, 1);
    assert_eq!(s.schedule(&to(x), T0), Ok(DestId(1)));
    s.remove_dest(DestId(1)).unwrap();
    assert_eq!(s.schedule(&to(x), T0), Ok(DestId(2)));
    assert_eq!(s.locality_entry(x), Some(vec![DestId(2), DestId(1)]));
}

#[test]
fn timers_are_none_for_schedulers_without_them() {
    for k in SchedulerKind::ALL {
        let s = Scheduler::new(k, SchedConfig::default(), T0);
        let has = matches!(k, SchedulerKind::Lblc | SchedulerKind::Lblcr);
        assert_eq!(s.poll_timeout().is_some(), has, "{k}");
    }
}

#[test]
fn lblc_expiration_is_configurable() {
    // sysctl net.ipv4.vs.lblc_expiration: with 10 minutes, the 30th check (at 30 minutes)
    // removes entries idle for 10 minutes or more.
    let cfg = SchedConfig {
        lblc_expiration: MIN * 10,
        ..SchedConfig::default()
    };
    let mut s = sched_in_list_order(SchedulerKind::Lblc, cfg, &[1]);
    s.schedule(&to(v4(203, 0, 113, 1)), T0).unwrap();
    let mut now = T0;
    for _ in 1..=29 {
        now = s.poll_timeout().unwrap();
        s.handle_timeout(now);
    }
    s.schedule(&to(v4(203, 0, 113, 2)), now).unwrap(); // fresh entry
    assert_eq!(s.locality_entries(), 2);
    now = s.poll_timeout().unwrap();
    s.handle_timeout(now);
    assert_eq!(s.locality_entries(), 1);
    assert!(s.locality_entry(v4(203, 0, 113, 2)).is_some());
}
