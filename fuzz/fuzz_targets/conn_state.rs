//! Arbitrary bytes drive a small connection table (inserts, templates, packets with any TCP
//! flag byte / SCTP chunk / direction, time steps, expire_now, secure_tcp toggles). Nothing
//! may panic, and after every step the per-real-server counters must equal the counts
//! recomputed from the live entries (activeconns + inactconns == live connections).
#![no_main]

use std::net::{IpAddr, Ipv4Addr};
use std::time::{Duration, Instant};

use libfuzzer_sys::fuzz_target;
use lvs_conn::proto::{ipproto, state_is_active};
use lvs_conn::{
    ConnConfig, ConnId, ConnParams, ConnTable, DestId, Direction, FwdMethod, L4Info, SctpEvent,
    TemplateKey,
};

fn check(t: &ConnTable) {
    let mut want = [(0u32, 0u32, 0u32); 4];
    for v in t.iter() {
        let Some(d) = v.dest else { continue };
        let w = &mut want[d.0 as usize];
        if v.is_template() {
            w.2 += 1;
        } else if state_is_active(v.protocol, v.state) {
            w.0 += 1;
        } else {
            w.1 += 1;
        }
    }
    for (d, w) in want.iter().enumerate() {
        let c = t.dest_counters(DestId(d as u32));
        assert_eq!((c.activeconns, c.inactconns, c.persistconns), *w);
    }
}

fuzz_target!(|data: &[u8]| {
    let t0 = Instant::now();
    let cfg = ConnConfig { max_entries: 32, ..ConnConfig::default() };
    let mut t = ConnTable::new(cfg, t0);
    let mut now = t0;
    let mut ids: Vec<ConnId> = Vec::new();
    for ch in data.chunks(4) {
        let [op, a, b, c] = [ch[0], *ch.get(1).unwrap_or(&0), *ch.get(2).unwrap_or(&0),
            *ch.get(3).unwrap_or(&0)];
        match op % 6 {
            0 | 1 => {
                let proto = [ipproto::TCP, ipproto::UDP, ipproto::SCTP, a][usize::from(op / 6 % 4)];
                let fwd = [FwdMethod::Masq, FwdMethod::DirectRoute, FwdMethod::Tunnel,
                    FwdMethod::FullNat][usize::from(b % 4)];
                let caddr = IpAddr::V4(Ipv4Addr::new(10, 0, 0, a % 16));
                let vaddr = IpAddr::V4(Ipv4Addr::new(1, 1, 1, 1));
                let dest = DestId(u32::from(c % 4));
                let mut control = None;
                if op & 0x80 != 0 {
                    let key = TemplateKey { protocol: proto, caddr, vaddr, vport: 80 };
                    control = t.lookup_template(&key).or_else(|| {
                        t.insert_template(&key, dest, caddr, 80, fwd, u32::from(c), now).ok()
                    });
                }
                let p = ConnParams { protocol: proto, caddr, cport: u16::from(b), vaddr,
                    vport: 80, daddr: IpAddr::V4(Ipv4Addr::new(2, 2, 2, c % 4)), dport: 80, fwd,
                    dest: Some(dest),
                    local: (b & 1 == 0).then(|| (vaddr, u16::from_be_bytes([a, b]))) };
                if let Ok(id) = t.insert(&p, control, now) {
                    ids.push(id);
                }
            }
            2 | 3 => {
                if ids.is_empty() { continue; }
                let id = ids[usize::from(a) % ids.len()];
                let l4 = match b % 4 {
                    0 | 1 => L4Info::Tcp { flags: c },
                    2 => L4Info::Sctp { event: SctpEvent::from_chunks(c, Some(b)) },
                    _ => L4Info::Udp,
                };
                let dir = if op & 0x40 != 0 { Direction::Output } else { Direction::Input };
                let _ = t.on_packet(id, dir, l4, u32::from(a), now);
            }
            4 => {
                now += Duration::from_millis(u64::from(u16::from_be_bytes([a, b])) * 37);
                let mut out = Vec::new();
                t.handle_timeout(now, &mut out);
                if c & 1 == 0 {
                    t.set_secure_tcp(c & 2 != 0);
                }
            }
            _ => {
                if ids.is_empty() { continue; }
                let id = ids[usize::from(a) % ids.len()];
                let _ = t.expire_now(id, now);
                let _ = t.reuse_check(id, b & 1 == 0, c & 1 == 0, now);
            }
        }
        check(&t);
        ids.retain(|id| t.get(*id).is_some());
        let mut s = String::new();
        t.write_ipvsadm_lnc(now, &mut s);
        t.write_proc_ip_vs_conn(now, &mut s);
    }
});
