//! Listings: `ipvsadm -Lnc` and /proc/net/ip_vs_conn.

use std::fmt::Write;
use std::net::IpAddr;
use std::time::Instant;

use crate::proto::{proto_name, state_name};
use crate::table::{ConnTable, ConnView};

/// First line of /proc/net/ip_vs_conn (`ip_vs_conn_seq_show()`, ip_vs_conn.c).
pub const PROC_HEADER: &str =
    "Pro FromIP   FPrt ToIP     TPrt DestIP   DPrt State       Expires PEName PEData\n";

/// The two header lines `ipvsadm -Lnc` prints (ipvsadm.c `list_conn()`).
pub const LNC_HEADER: &str = "IPVS connection entries\n\
pro expire state       source             virtual            destination\n";

fn proto_str(p: u8, buf: &mut String) -> &str {
    match proto_name(p) {
        Some(n) => n,
        None => {
            buf.clear();
            let _ = write!(buf, "IP_{p}");
            buf
        }
    }
}

/// Whole seconds until `v` expires (`(timer.expires - jiffies) / HZ`), 0 when past.
pub fn expires_secs(v: &ConnView, now: Instant) -> u64 {
    v.expires_at.saturating_duration_since(now).as_secs()
}

fn addr_port(a: IpAddr, port: u16, out: &mut String) {
    out.clear();
    let _ = match a {
        IpAddr::V4(x) => write!(out, "{x}:{port}"),
        IpAddr::V6(x) => write!(out, "[{x}]:{port}"),
    };
}

/// Write one `ipvsadm -Lnc` row: `"%-3s %-6s %-11s %-18s %-18s %s\n"` of protocol,
/// expire `mm:ss` (`"%02d:%02d"`), state, source, virtual and destination
/// (`a.b.c.d:port`, IPv6 as `[addr]:port`), as ipvsadm.c `print_conn()`.
pub fn write_lnc_row(v: &ConnView, now: Instant, out: &mut String) {
    let secs = expires_secs(v, now);
    let mut pb = String::new();
    let (mut s, mut vv, mut d) = (String::new(), String::new(), String::new());
    addr_port(v.caddr, v.cport, &mut s);
    addr_port(v.vaddr, v.vport, &mut vv);
    addr_port(v.daddr, v.dport, &mut d);
    let exp = format!("{:02}:{:02}", secs / 60, secs % 60);
    let _ = writeln!(
        out,
        "{:<3} {:<6} {:<11} {:<18} {:<18} {}",
        proto_str(v.protocol, &mut pb),
        exp,
        state_name(v.protocol, v.state, v.is_template()),
        s,
        vv,
        d
    );
}

fn hex6(a: IpAddr, out: &mut String) {
    match a {
        IpAddr::V4(x) => {
            let _ = write!(out, "{:08X}", x.to_bits());
        }
        IpAddr::V6(x) => {
            // %pI6: eight groups of four lower-case hex digits, colon separated.
            for (i, g) in x.segments().iter().enumerate() {
                if i > 0 {
                    out.push(':');
                }
                let _ = write!(out, "{g:04x}");
            }
        }
    }
}

/// Write one /proc/net/ip_vs_conn row: IPv4 `"%-3s %08X %04X %08X %04X %08X %04X %-11s
/// %7lu\n"`; IPv6 uses `%pI6` (full, lower-case) for the addresses (ip_vs_conn.c
/// `ip_vs_conn_seq_show()`; no persistence-engine data is kept, so PEName/PEData are empty).
pub fn write_proc_row(v: &ConnView, now: Instant, out: &mut String) {
    let mut pb = String::new();
    let _ = write!(out, "{:<3} ", proto_str(v.protocol, &mut pb));
    hex6(v.caddr, out);
    let _ = write!(out, " {:04X} ", v.cport);
    hex6(v.vaddr, out);
    let _ = write!(out, " {:04X} ", v.vport);
    hex6(v.daddr, out);
    let _ = writeln!(
        out,
        " {:04X} {:<11} {:>7}",
        v.dport,
        state_name(v.protocol, v.state, v.is_template()),
        expires_secs(v, now)
    );
}

impl ConnTable {
    /// The full `ipvsadm -Lnc` output (header lines then one row per entry in table order,
    /// as ipvsadm prints /proc/net/ip_vs_conn unsorted).
    pub fn write_ipvsadm_lnc(&self, now: Instant, out: &mut String) {
        out.push_str(LNC_HEADER);
        for v in self.iter() {
            write_lnc_row(&v, now, out);
        }
    }

    /// The full /proc/net/ip_vs_conn text.
    pub fn write_proc_ip_vs_conn(&self, now: Instant, out: &mut String) {
        out.push_str(PROC_HEADER);
        for v in self.iter() {
            write_proc_row(&v, now, out);
        }
    }
}
