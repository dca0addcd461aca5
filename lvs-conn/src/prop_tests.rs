//! Property tests over random operation sequences: the per-real-server accounting and the
//! internal structures (wheel, shed lists, index) stay consistent.

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::time::{Duration, Instant};

use proptest::prelude::*;

use crate::proto::{SctpEvent, ipproto, state_is_active};
use crate::{
    ConnConfig, ConnId, ConnParams, ConnTable, DestId, Direction, FwdMethod, L4Info, TemplateKey,
};

#[derive(Clone, Debug)]
enum Op {
    Insert {
        proto: u8,
        client: u8,
        cport: u8,
        dest: u8,
        fwd: u8,
        v6: bool,
        templ: bool,
    },
    Packet {
        pick: u16,
        out: bool,
        flags: u8,
        bytes: u16,
    },
    Advance(u16),
    ExpireNow(u16),
    SecureTcp(bool),
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        3 => (0u8..3, 0u8..8, any::<u8>(), 0u8..4, 0u8..6, any::<bool>(), any::<bool>()).prop_map(
            |(p, client, cport, dest, fwd, v6, templ)| Op::Insert {
                proto: [ipproto::TCP, ipproto::UDP, ipproto::SCTP][p as usize],
                client,
                cport,
                dest,
                fwd,
                v6,
                templ
            }
        ),
        8 => (any::<u16>(), any::<bool>(), any::<u8>(), any::<u16>())
            .prop_map(|(pick, out, flags, bytes)| Op::Packet { pick, out, flags, bytes }),
        2 => (0u16..1200).prop_map(Op::Advance),
        1 => any::<u16>().prop_map(Op::ExpireNow),
        1 => any::<bool>().prop_map(Op::SecureTcp),
    ]
}

fn addr(v6: bool, n: u8) -> IpAddr {
    if v6 {
        IpAddr::V6(Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, u16::from(n)))
    } else {
        IpAddr::V4(Ipv4Addr::new(10, 0, 0, n))
    }
}

/// Recompute the counters from the live entries and compare.
fn check(t: &ConnTable) {
    t.check_invariants();
    let mut want: HashMap<u32, (u32, u32, u32)> = HashMap::new();
    let mut children: HashMap<ConnId, u32> = HashMap::new();
    let views: Vec<_> = t.iter().collect();
    for v in &views {
        if let Some(c) = v.control {
            *children.entry(c).or_default() += 1;
        }
        let Some(d) = v.dest else { continue };
        let w = want.entry(d.0).or_default();
        if v.is_template() {
            w.2 += 1;
        } else if state_is_active(v.protocol, v.state) {
            w.0 += 1;
        } else {
            w.1 += 1;
        }
        // INACTIVE tracks the state's activity.
        if !v.is_template() {
            assert_eq!(
                v.flags & crate::conn_flags::INACTIVE == 0,
                state_is_active(v.protocol, v.state),
                "{v:?}"
            );
        }
    }
    for d in 0..4u32 {
        let c = t.dest_counters(DestId(d));
        let w = want.get(&d).copied().unwrap_or_default();
        assert_eq!((c.activeconns, c.inactconns, c.persistconns), w, "dest {d}");
    }
    for v in &views {
        assert_eq!(v.n_control, children.get(&v.id).copied().unwrap_or(0));
        // The fast-path accessor agrees with the full view.
        let a = t.addrs(v.id).expect("live entry");
        assert_eq!(
            (a.protocol, a.caddr, a.cport, a.vaddr, a.vport),
            (v.protocol, v.caddr, v.cport, v.vaddr, v.vport)
        );
        assert_eq!(
            (a.daddr, a.dport, a.local, a.fwd, a.dest),
            (v.daddr, v.dport, v.local, v.fwd, v.dest)
        );
    }
}

/// Batched lookups ([`ConnTable::lookup_flows_batch`], [`ConnTable::lookup_in_batch`])
/// equal one-by-one `lookup_in`-then-`lookup_out` for every live entry's inbound and reply
/// flows, templates' keys and near misses, in one batch longer than a walk round.
fn check_batch(t: &ConnTable) {
    let mut keys = Vec::new();
    for v in t.iter() {
        let k = crate::FlowKey {
            protocol: v.protocol,
            saddr: v.caddr,
            sport: v.cport,
            daddr: v.vaddr,
            dport: v.vport,
        };
        keys.push(k);
        keys.push(crate::FlowKey {
            sport: k.sport ^ 1,
            ..k
        });
        let (ra, rp) = v.local.unwrap_or((v.caddr, v.cport));
        keys.push(crate::FlowKey {
            protocol: v.protocol,
            saddr: v.daddr,
            sport: v.dport,
            daddr: ra,
            dport: rp,
        });
        keys.push(crate::FlowKey {
            protocol: v.protocol,
            saddr: v.daddr,
            sport: v.dport,
            daddr: v.caddr,
            dport: v.cport,
        });
    }
    let want: Vec<crate::FlowMatch> = keys
        .iter()
        .map(
            |k| match t.lookup_in(k.protocol, k.saddr, k.sport, k.daddr, k.dport) {
                Some(id) => crate::FlowMatch::Inbound(id),
                None => match t.lookup_out(k.protocol, k.saddr, k.sport, k.daddr, k.dport) {
                    Some(id) => crate::FlowMatch::Reply(id),
                    None => crate::FlowMatch::None,
                },
            },
        )
        .collect();
    // Pre-filled with a wrong answer: the batch must overwrite every slot.
    let Some(any) = t.iter().next().map(|v| v.id) else {
        return;
    };
    let mut got = vec![crate::FlowMatch::Reply(any); keys.len()];
    t.lookup_flows_batch(&keys, &mut got);
    assert_eq!(got, want);
    let in_keys: Vec<crate::InKey> = keys
        .iter()
        .map(|k| crate::InKey {
            protocol: k.protocol,
            caddr: k.saddr,
            cport: k.sport,
            vaddr: k.daddr,
            vport: k.dport,
        })
        .collect();
    let mut got_in = vec![Some(any); keys.len()];
    t.lookup_in_batch(&in_keys, &mut got_in);
    for (g, w) in got_in.iter().zip(&want) {
        match w {
            crate::FlowMatch::Inbound(id) => assert_eq!(*g, Some(*id)),
            _ => assert_eq!(*g, None),
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 96, ..ProptestConfig::default() })]

    /// activeconns + inactconns == live connections per real server, never negative
    /// (u32 counters that would have saturated show up as mismatches), persistconns ==
    /// live templates; wheel, shed lists and control counts consistent.
    #[test]
    fn random_packet_sequences_keep_accounting_exact(ops in proptest::collection::vec(op(), 1..300)) {
        let t0 = Instant::now();
        let cfg = ConnConfig { max_entries: 48, ..ConnConfig::default() };
        let mut t = ConnTable::new(cfg, t0);
        let mut now = t0;
        let mut ids: Vec<ConnId> = Vec::new();
        for op in ops {
            let (epoch, len) = (t.index_epoch(), t.len());
            let is_packet = matches!(op, Op::Packet { .. });
            match op {
                Op::Insert { proto, client, cport, dest, fwd, v6, templ } => {
                    let fwd = [FwdMethod::Masq, FwdMethod::DirectRoute, FwdMethod::Tunnel,
                        FwdMethod::Local, FwdMethod::FullNat, FwdMethod::Masq][fwd as usize];
                    let mut control = None;
                    if templ {
                        let key = TemplateKey { protocol: proto, caddr: addr(v6, client),
                            vaddr: addr(v6, 200), vport: 80 };
                        control = match t.lookup_template(&key) {
                            Some(id) => Some(id),
                            None => t.insert_template(&key, DestId(u32::from(dest)),
                                addr(v6, 100 + dest), 80, fwd, 30, now).ok(),
                        };
                        if let Some(c) = control { ids.push(c); }
                    }
                    let p = ConnParams { protocol: proto, caddr: addr(v6, client),
                        cport: u16::from(cport), vaddr: addr(v6, 200), vport: 80,
                        daddr: addr(v6, 100 + dest), dport: 80, fwd,
                        dest: Some(DestId(u32::from(dest))),
                        local: (fwd == FwdMethod::FullNat).then(|| (addr(v6, 250),
                            u16::from(cport) << 8 | u16::from(client))) };
                    if let Ok(id) = t.insert(&p, control, now) { ids.push(id); }
                }
                Op::Packet { pick, out, flags, bytes } => {
                    if ids.is_empty() { continue; }
                    let id = ids[pick as usize % ids.len()];
                    let Some(v) = t.get(id) else { continue };
                    let l4 = match v.protocol {
                        ipproto::TCP => L4Info::Tcp { flags },
                        ipproto::UDP => L4Info::Udp,
                        ipproto::SCTP => L4Info::Sctp {
                            event: SctpEvent::from_chunks(flags % 16, Some(flags >> 4)) },
                        _ => L4Info::Other,
                    };
                    let dir = if out { Direction::Output } else { Direction::Input };
                    t.on_packet(id, dir, l4, u32::from(bytes), now).unwrap();
                }
                Op::Advance(s) => {
                    now += Duration::from_millis(u64::from(s) * 250);
                    let mut out = Vec::new();
                    t.handle_timeout(now, &mut out);
                    for e in &out {
                        prop_assert!(t.get(e.id).is_none());
                    }
                }
                Op::ExpireNow(pick) => {
                    if ids.is_empty() { continue; }
                    let id = ids[pick as usize % ids.len()];
                    let _ = t.expire_now(id, now);
                }
                Op::SecureTcp(on) => t.set_secure_tcp(on),
            }
            check(&t);
            check_batch(&t);
            // Packets never change the indices; inserts and removals always change the epoch.
            if is_packet {
                prop_assert_eq!(t.index_epoch(), epoch);
            }
            if t.len() != len {
                prop_assert_ne!(t.index_epoch(), epoch);
            }
            ids.retain(|id| t.get(*id).is_some());
        }
        // Everything expires eventually (templates once their children are gone).
        let mut out = Vec::new();
        for _ in 0..4 {
            now += Duration::from_secs(3600);
            t.handle_timeout(now, &mut out);
        }
        prop_assert!(t.is_empty(), "{} left", t.len());
        check(&t);
    }
}

/// Regression: growing the index while inserting must not link the new entry twice (a
/// self-loop made every later lookup in its bucket spin). Crosses several doublings.
#[test]
fn index_growth_keeps_every_entry_reachable_once() {
    let t0 = Instant::now();
    let mut t = ConnTable::new(ConnConfig::default(), t0);
    let mut ids = Vec::new();
    for i in 0..20_000u32 {
        let v6 = i % 3 == 0;
        let p = ConnParams {
            protocol: ipproto::TCP,
            caddr: if v6 {
                IpAddr::V6(Ipv6Addr::from_bits(0x2001_0db8 << 96 | u128::from(i)))
            } else {
                IpAddr::V4(Ipv4Addr::from_bits(0x0a00_0000 | i))
            },
            cport: (i % 50_000) as u16,
            vaddr: addr(v6, 200),
            vport: 80,
            daddr: addr(v6, 100),
            dport: 80,
            fwd: FwdMethod::Masq,
            dest: Some(DestId(i % 4)),
            local: None,
        };
        ids.push((t.insert(&p, None, t0).unwrap(), p));
    }
    t.check_invariants();
    // Batched lookups give the same answers as one-by-one ones (hits, misses, both families).
    let keys: Vec<crate::InKey> = ids
        .iter()
        .flat_map(|(_, p)| {
            let k = crate::InKey {
                protocol: p.protocol,
                caddr: p.caddr,
                cport: p.cport,
                vaddr: p.vaddr,
                vport: p.vport,
            };
            [k, crate::InKey { vport: 81, ..k }]
        })
        .take(999)
        .collect();
    let mut out = vec![None; keys.len()];
    t.lookup_in_batch(&keys, &mut out);
    for (k, o) in keys.iter().zip(&out) {
        assert_eq!(
            *o,
            t.lookup_in(k.protocol, k.caddr, k.cport, k.vaddr, k.vport)
        );
    }
    assert_eq!(out.iter().filter(|o| o.is_some()).count(), 500);
    check_batch(&t);
    for (id, p) in &ids {
        assert_eq!(
            t.lookup_in(p.protocol, p.caddr, p.cport, p.vaddr, p.vport),
            Some(*id)
        );
        assert_eq!(
            t.lookup_in(p.protocol, p.caddr, p.cport.wrapping_add(1), p.vaddr, 81),
            None
        );
    }
    check(&t);
}
