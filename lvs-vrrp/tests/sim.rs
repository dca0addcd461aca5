//! Deterministic simulation: N VRRP routers on one simulated Ethernet segment with loss, delay
//! and partitions, in simulated time (seeded RNG, no clock). Every node is a [`Router`] holding
//! one [`VrrpInstance`], fed whole Ethernet frames exactly as a TAP would deliver them.

mod common;

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::net::{IpAddr, Ipv4Addr};

use common::{SEC, VIP, cfg};
use lvs_vrrp::wire::{self, Version};
use lvs_vrrp::{Router, State, Transmit, VrrpConfig, VrrpInstance};
use proptest::prelude::*;

/// SplitMix64: a tiny seeded PRNG so runs are reproducible from the seed alone.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
}

/// A frame in flight: (deliver_at, sequence number, destination node, frame bytes).
type InFlight = Reverse<(u64, u64, usize, Vec<u8>)>;

struct Node {
    router: Router,
    alive: bool,
}

struct Sim {
    now: u64,
    nodes: Vec<Node>,
    cfgs: Vec<VrrpConfig>,
    /// (deliver_at, seq, to, frame)
    inflight: BinaryHeap<InFlight>,
    seq: u64,
    rng: Rng,
    /// Loss probability in per mille.
    loss_pm: u64,
    /// One-way delay range in microseconds.
    delay: (u64, u64),
    /// Partition group of each node: frames only reach nodes of the same group.
    group: Vec<u32>,
    /// (time, number of masters) at every change.
    timeline: Vec<(u64, usize)>,
    buf: Vec<u8>,
}

fn node_cfg(i: usize, priority: u8, vrid: u8) -> VrrpConfig {
    let mut c = cfg(priority);
    c.name = format!("VI_{i}");
    c.interface_addr = IpAddr::V4(Ipv4Addr::new(192, 168, 56, 101 + i as u8));
    c.interface_mac = [0x08, 0x00, 0x27, 0, 0, i as u8 + 1];
    c.virtual_router_id = vrid;
    c
}

impl Sim {
    fn new(cfgs: Vec<VrrpConfig>, seed: u64) -> Sim {
        let nodes = cfgs
            .iter()
            .map(|c| {
                let mut router = Router::new();
                router.push(VrrpInstance::new(c.clone(), 0).unwrap());
                Node {
                    router,
                    alive: true,
                }
            })
            .collect::<Vec<_>>();
        let n = nodes.len();
        let mut s = Sim {
            now: 0,
            nodes,
            cfgs,
            inflight: BinaryHeap::new(),
            seq: 0,
            rng: Rng(seed),
            loss_pm: 0,
            delay: (100, 2_000),
            group: vec![0; n],
            timeline: Vec::new(),
            buf: vec![0; wire::MAX_FRAME_LEN],
        };
        s.flush();
        s.observe();
        s
    }

    fn inst(&self, i: usize) -> &VrrpInstance {
        &self.nodes[i].router.instances()[0]
    }

    fn inst_mut(&mut self, i: usize) -> &mut VrrpInstance {
        &mut self.nodes[i].router.instances_mut()[0]
    }

    fn masters(&self) -> Vec<usize> {
        (0..self.nodes.len())
            .filter(|&i| self.nodes[i].alive && self.inst(i).state() == State::Master)
            .collect()
    }

    fn observe(&mut self) {
        let m = self.masters().len();
        if self.timeline.last().map(|&(_, n)| n) != Some(m) {
            self.timeline.push((self.now, m));
        }
    }

    /// Drain every node's transmits onto the link.
    fn flush(&mut self) {
        for i in 0..self.nodes.len() {
            if !self.nodes[i].alive {
                continue;
            }
            loop {
                let mut buf = std::mem::take(&mut self.buf);
                let t = self.nodes[i].router.instances_mut()[0].poll_transmit(&mut buf);
                let Some(t) = t else {
                    self.buf = buf;
                    break;
                };
                if let Transmit::Advert {
                    len, dst, dst_mac, ..
                } = t
                {
                    for j in 0..self.nodes.len() {
                        if j == i || !self.nodes[j].alive || self.group[j] != self.group[i] {
                            continue;
                        }
                        // Unicast: only the peer with that address gets it, with its MAC
                        // written by the sender (as a caller resolving neighbours would).
                        if dst_mac.is_none() {
                            if self.inst(j).primary_addr() != dst {
                                continue;
                            }
                            buf[..6].copy_from_slice(&self.inst(j).config().interface_mac);
                        }
                        if self.rng.below(1000) < self.loss_pm {
                            continue;
                        }
                        let d = self.delay.0 + self.rng.below(self.delay.1 - self.delay.0 + 1);
                        self.seq += 1;
                        self.inflight.push(Reverse((
                            self.now + d,
                            self.seq,
                            j,
                            buf[..len].to_vec(),
                        )));
                    }
                }
                self.buf = buf;
            }
        }
    }

    fn next_event(&self) -> Option<u64> {
        let t_pkt = self.inflight.peek().map(|Reverse((t, ..))| *t);
        let t_tmr = (0..self.nodes.len())
            .filter(|&i| self.nodes[i].alive)
            .filter_map(|i| self.nodes[i].router.poll_timeout())
            .min();
        [t_pkt, t_tmr].into_iter().flatten().min()
    }

    /// Run until `end` (inclusive of events at `end`). Returns the number of events handled.
    fn run_until(&mut self, end: u64) -> u64 {
        let mut events = 0;
        while let Some(t) = self.next_event() {
            if t > end {
                break;
            }
            self.now = t;
            while let Some(Reverse((at, ..))) = self.inflight.peek() {
                if *at > t {
                    break;
                }
                let Reverse((_, _, to, frame)) = self.inflight.pop().unwrap();
                if self.nodes[to].alive {
                    let _ = self.nodes[to].router.handle_frame(t, &frame);
                    events += 1;
                }
            }
            for i in 0..self.nodes.len() {
                if self.nodes[i].alive
                    && self.nodes[i].router.poll_timeout().is_some_and(|d| d <= t)
                {
                    self.nodes[i].router.handle_timeout(t);
                    events += 1;
                }
            }
            self.flush();
            self.observe();
        }
        self.now = end;
        events
    }

    fn crash(&mut self, i: usize) {
        self.nodes[i].alive = false;
        self.observe();
    }

    fn graceful_stop(&mut self, i: usize) {
        let now = self.now;
        self.inst_mut(i).shutdown(now);
        self.flush();
        self.nodes[i].alive = false;
        self.observe();
    }

    fn restart(&mut self, i: usize) {
        let mut router = Router::new();
        router.push(VrrpInstance::new(self.cfgs[i].clone(), self.now).unwrap());
        self.nodes[i] = Node {
            router,
            alive: true,
        };
        self.flush();
        self.observe();
    }

    fn partition(&mut self, groups: &[u32]) {
        self.group = groups.to_vec();
    }

    fn heal(&mut self) {
        self.group = vec![0; self.nodes.len()];
        self.loss_pm = 0;
    }

    fn max_mdi(&self) -> u64 {
        (0..self.nodes.len())
            .map(|i| self.inst(i).master_down_interval_us())
            .max()
            .unwrap()
    }

    /// Number of masters at time `t` according to the timeline.
    fn masters_at(&self, t: u64) -> usize {
        self.timeline
            .iter()
            .take_while(|(at, _)| *at <= t)
            .last()
            .map_or(0, |&(_, n)| n)
    }

    /// Longest stretch, starting at or after `from`, with more than one master (a stretch
    /// already running at `from` counts from `from`).
    fn longest_multi_master_since(&self, from: u64) -> u64 {
        let mut longest = 0;
        let mut since: Option<u64> = None;
        for &(t, n) in &self.timeline {
            let t = t.max(from);
            match (n > 1, since) {
                (true, None) => since = Some(t),
                (false, Some(s)) => {
                    longest = longest.max(t.saturating_sub(s));
                    since = None;
                }
                _ => {}
            }
        }
        if let Some(s) = since {
            longest = longest.max(self.now.saturating_sub(s));
        }
        longest
    }
}

#[test]
fn three_routers_elect_the_highest_priority() {
    let cfgs = vec![
        node_cfg(0, 100, 51),
        node_cfg(1, 150, 51),
        node_cfg(2, 90, 51),
    ];
    let mut s = Sim::new(cfgs, 1);
    s.run_until(10 * SEC);
    assert_eq!(s.masters(), vec![1]);
    // The highest priority has the shortest Master_Down_Interval (Skew_Time), so it wins the
    // first election without a dual-master period beyond the link delay.
    assert!(s.longest_multi_master_since(0) <= s.delay.1);
    assert_eq!(s.inst(1).stats().become_master, 1);
    for i in [0, 2] {
        assert_eq!(s.inst(i).stats().become_master, 0);
        assert_eq!(s.inst(i).master_addr(), Some(s.inst(1).primary_addr()));
    }
}

#[test]
fn partition_heal_leaves_exactly_one_master_within_master_down_interval() {
    // After any partition heals, exactly one master within one Master_Down_Interval.
    for seed in 0..20 {
        let cfgs = vec![
            node_cfg(0, 100, 51),
            node_cfg(1, 150, 51),
            node_cfg(2, 90, 51),
        ];
        let mut s = Sim::new(cfgs, seed);
        s.run_until(10 * SEC);
        s.loss_pm = 200;
        s.partition(&[0, 1, 2]);
        s.run_until(20 * SEC);
        assert_eq!(
            s.masters().len(),
            3,
            "seed {seed}: every island elects itself"
        );
        s.heal();
        let healed = s.now;
        let deadline = healed + s.max_mdi();
        s.run_until(deadline + 20 * SEC);
        assert_eq!(s.masters_at(deadline), 1, "seed {seed}");
        assert_eq!(s.masters(), vec![1], "seed {seed}");
        assert!(
            s.longest_multi_master_since(healed) <= s.max_mdi(),
            "seed {seed}: {:?}",
            s.timeline
        );
        assert!(
            s.timeline.iter().all(|&(t, n)| t < deadline || n == 1),
            "seed {seed}"
        );
    }
}

#[test]
fn failover_after_master_crash_within_master_down_interval() {
    // The master dies without a word: the next priority takes over within
    // Master_Down_Interval (+ one advert interval since the last advert it heard, + delay).
    for seed in 0..10 {
        let cfgs = vec![
            node_cfg(0, 100, 51),
            node_cfg(1, 150, 51),
            node_cfg(2, 90, 51),
        ];
        let mut s = Sim::new(cfgs, seed);
        s.run_until(10 * SEC + seed * 77_777);
        assert_eq!(s.masters(), vec![1]);
        let died = s.now;
        s.crash(1);
        assert_eq!(s.masters_at(died), 0);
        let mdi0 = s.inst(0).master_down_interval_us();
        s.run_until(died + 30 * SEC);
        assert_eq!(s.masters(), vec![0], "seed {seed}");
        let (took, _) = *s
            .timeline
            .iter()
            .find(|&&(t, n)| t > died && n == 1)
            .unwrap();
        // The backup's timer was last reset by an advert at most one interval before the
        // crash (plus delay), and fires Master_Down_Interval after that.
        assert!(
            took <= died + mdi0 + s.delay.1,
            "seed {seed}: {took} vs {died}+{mdi0}"
        );
        assert!(
            took + SEC >= died + mdi0,
            "seed {seed}: not before the interval"
        );
    }
}

#[test]
fn graceful_shutdown_fails_over_within_skew_time() {
    // RFC 3768 6.4.2: priority 0 sets the Backup's Master_Down_Timer to Skew_Time.
    let cfgs = vec![node_cfg(0, 100, 51), node_cfg(1, 150, 51)];
    let mut s = Sim::new(cfgs, 3);
    s.run_until(10 * SEC);
    let stopped = s.now;
    s.graceful_stop(1);
    s.run_until(stopped + 5 * SEC);
    assert_eq!(s.masters(), vec![0]);
    let (took, _) = *s
        .timeline
        .iter()
        .find(|&&(t, n)| t > stopped && n == 1)
        .unwrap();
    assert!(took <= stopped + s.delay.1 + s.inst(0).skew_time_us());
    assert_eq!(s.inst(0).stats().pri_zero_rcvd, 1);
}

#[test]
fn preemption_returns_mastership_to_the_higher_priority() {
    // Default preempt: the higher priority node, restarted, takes mastership back after its
    // Master_Down_Interval.
    let cfgs = vec![node_cfg(0, 100, 51), node_cfg(1, 150, 51)];
    let mut s = Sim::new(cfgs, 4);
    s.run_until(10 * SEC);
    s.crash(1);
    s.run_until(20 * SEC);
    assert_eq!(s.masters(), vec![0]);
    let back = s.now;
    s.restart(1);
    let mdi1 = s.inst(1).master_down_interval_us();
    s.run_until(back + 20 * SEC);
    assert_eq!(s.masters(), vec![1]);
    let (took, _) = *s
        .timeline
        .iter()
        .filter(|&&(t, _)| t > back)
        .find(|&&(_, n)| n == 2)
        .unwrap();
    assert!(took <= back + mdi1);
    assert!(s.longest_multi_master_since(back) <= s.delay.1);
}

#[test]
fn nopreempt_keeps_the_current_master() {
    // The seeds: "设置为非抢占模式 nopreempt，即高优级主机恢复后，并不会抢占低优先级主机的master角色"
    // (with nopreempt, the recovered higher-priority host does not take the master role back).
    let mut hi = node_cfg(1, 150, 51);
    hi.nopreempt = true;
    let cfgs = vec![node_cfg(0, 100, 51), hi];
    let mut s = Sim::new(cfgs, 5);
    s.run_until(10 * SEC);
    assert_eq!(s.masters(), vec![1]);
    s.crash(1);
    s.run_until(20 * SEC);
    s.restart(1);
    s.run_until(60 * SEC);
    assert_eq!(s.masters(), vec![0], "the lower-priority master stays");
    assert_eq!(s.inst(1).state(), State::Backup);
}

#[test]
fn different_virtual_router_id_is_split_brain_visible_in_counters() {
    // The seeds warn: "同一虚拟路由里面的master和backup，id号必须相同" (master and backup of one
    // virtual router must share the id). With 51 vs 52 both become MASTER.
    let a = node_cfg(0, 100, 51);
    let mut b = node_cfg(1, 90, 52);
    b.virtual_ipaddress = vec![VIP];
    let mut s = Sim::new(vec![a, b], 6);
    s.run_until(30 * SEC);
    assert_eq!(s.masters(), vec![0, 1], "split brain");
    for i in 0..2 {
        let r = s.nodes[i].router.stats();
        assert!(r.unknown_vrid >= 25, "node {i}: {r:?}");
        assert_eq!(s.inst(i).stats().advert_rcvd, 0);
    }
}

#[test]
fn v2_advert_int_mismatch_is_split_brain_too() {
    // keepalived / RFC 3768: v2 adverts with another interval are discarded, so both master.
    let a = node_cfg(0, 100, 51);
    let mut b = node_cfg(1, 90, 51);
    b.advert_int = std::time::Duration::from_secs(2);
    let mut s = Sim::new(vec![a, b], 7);
    s.run_until(30 * SEC);
    assert_eq!(s.masters(), vec![0, 1]);
    assert!(s.inst(0).stats().advert_interval_err > 0);
    assert!(s.inst(1).stats().advert_interval_err > 0);
}

#[test]
fn v3_routers_converge_with_fast_intervals() {
    let cfgs = (0..4)
        .map(|i| {
            let mut c = node_cfg(i, 100 + 10 * i as u8, 51);
            c.version = Some(Version::V3);
            c.advert_int = std::time::Duration::from_millis(100);
            c
        })
        .collect();
    let mut s = Sim::new(cfgs, 8);
    s.delay = (50, 500);
    s.run_until(5 * SEC);
    assert_eq!(s.masters(), vec![3]);
    s.crash(3);
    s.run_until(10 * SEC);
    assert_eq!(s.masters(), vec![2]);
}

/// One step of a random schedule.
#[derive(Clone, Debug)]
enum Step {
    Run(u64),
    Crash(usize),
    Stop(usize),
    Restart(usize),
    Partition(Vec<u32>),
    Loss(u64),
    Heal,
}

fn arb_step(n: usize) -> impl Strategy<Value = Step> {
    prop_oneof![
        3 => (1u64..5_000_000).prop_map(Step::Run),
        1 => (0..n).prop_map(Step::Crash),
        1 => (0..n).prop_map(Step::Stop),
        2 => (0..n).prop_map(Step::Restart),
        1 => proptest::collection::vec(0u32..3, n).prop_map(Step::Partition),
        1 => (0u64..800).prop_map(Step::Loss),
        1 => Just(Step::Heal),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    /// Whatever happened before, once the link is healthy (all nodes connected, no loss) two
    /// masters never coexist for longer than Master_Down_Interval + the link delay, and the
    /// highest-priority live node ends up the only master.
    #[test]
    fn never_two_masters_for_long_once_the_link_is_healthy(
        seed in any::<u64>(),
        prios in proptest::collection::vec(1u8..=254, 2..5),
        steps in proptest::collection::vec(arb_step(4), 0..25),
    ) {
        let n = prios.len();
        let cfgs = prios.iter().enumerate().map(|(i, p)| node_cfg(i, *p, 51)).collect();
        let mut s = Sim::new(cfgs, seed);
        for st in steps {
            match st {
                Step::Run(d) => { s.run_until(s.now + d); }
                Step::Crash(i) if i < n => s.crash(i),
                Step::Stop(i) if i < n && s.nodes[i].alive => s.graceful_stop(i),
                Step::Restart(i) if i < n && !s.nodes[i].alive => s.restart(i),
                Step::Partition(g) => s.partition(&g[..n]),
                Step::Loss(l) => s.loss_pm = l,
                Step::Heal => s.heal(),
                _ => {}
            }
        }
        s.heal();
        if !(0..n).any(|i| s.nodes[i].alive) {
            s.restart(0);
        }
        let healthy = s.now;
        s.run_until(healthy + 30 * SEC);
        let bound = s.max_mdi() + s.delay.1;
        prop_assert!(s.longest_multi_master_since(healthy) <= bound,
            "{} > {bound}: {:?}", s.longest_multi_master_since(healthy), s.timeline);
        let masters = s.masters();
        prop_assert_eq!(masters.len(), 1);
        // The winner has the highest (priority, address) among live nodes.
        let best = (0..n).filter(|&i| s.nodes[i].alive)
            .max_by_key(|&i| (s.inst(i).effective_priority(), s.inst(i).primary_addr()))
            .unwrap();
        prop_assert_eq!(masters[0], best);
    }
}

#[test]
fn unicast_peers_elect_and_fail_over() {
    // keepalived unicast_peer / unicast_src_ip: adverts go to each peer by unicast.
    let addrs: Vec<IpAddr> = (0..3)
        .map(|i| IpAddr::V4(Ipv4Addr::new(192, 168, 56, 101 + i)))
        .collect();
    let cfgs = (0..3)
        .map(|i| {
            let mut c = node_cfg(i, [100, 150, 90][i], 51);
            c.unicast_peer = addrs.iter().copied().filter(|a| *a != addrs[i]).collect();
            c.check_unicast_src = true;
            c
        })
        .collect();
    let mut s = Sim::new(cfgs, 9);
    s.run_until(10 * SEC);
    assert_eq!(s.masters(), vec![1]);
    assert!(s.inst(0).stats().advert_rcvd >= 5);
    s.crash(1);
    s.run_until(20 * SEC);
    assert_eq!(s.masters(), vec![0]);
    assert_eq!(s.inst(2).master_addr(), Some(addrs[0]));
}

#[test]
fn ipv6_v3_routers_elect_and_fail_over() {
    // IPv6 forces VRRPv3; adverts from link-local sources to ff02::12.
    let cfgs = (0..3)
        .map(|i| {
            let mut c = node_cfg(i, [100, 150, 90][i], 51);
            c.interface_addr = IpAddr::V6(std::net::Ipv6Addr::new(
                0xfe80,
                0,
                0,
                0,
                0,
                0,
                0,
                1 + i as u16,
            ));
            c.virtual_ipaddress = vec![
                "fe80::100".parse().unwrap(),
                "2001:db8::100".parse().unwrap(),
            ];
            c
        })
        .collect();
    let mut s = Sim::new(cfgs, 10);
    s.run_until(10 * SEC);
    assert_eq!(s.masters(), vec![1]);
    assert_eq!(s.inst(1).version(), Version::V3);
    s.crash(1);
    s.run_until(20 * SEC);
    assert_eq!(s.masters(), vec![0]);
}
