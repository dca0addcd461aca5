//! Listings: the director's state as core-adm's [`ListSnapshot`], and `ipvsadm -L` text.

use std::time::Instant;

use crate::ipvsadm::{
    DestSnapshot, ListError, ListOptions, ListSnapshot, Rates, ServiceSnapshot, Stats,
};

use super::Director;

fn add_stats(a: &mut Stats, b: &Stats) {
    a.conns = a.conns.wrapping_add(b.conns);
    a.inpkts = a.inpkts.wrapping_add(b.inpkts);
    a.outpkts = a.outpkts.wrapping_add(b.outpkts);
    a.inbytes = a.inbytes.wrapping_add(b.inbytes);
    a.outbytes = a.outbytes.wrapping_add(b.outbytes);
}

fn add_rates(a: &mut Rates, b: &Rates) {
    a.cps = a.cps.saturating_add(b.cps);
    a.inpps = a.inpps.saturating_add(b.inpps);
    a.outpps = a.outpps.saturating_add(b.outpps);
    a.inbps = a.inbps.saturating_add(b.inbps);
    a.outbps = a.outbps.saturating_add(b.outbps);
}

/// Sum the snapshots of N workers' directors (same configuration) into one: counters, rates
/// and activeconns / inactconns / persistconns added per service and real server. The first
/// snapshot gives the order and configuration; `None` for an empty slice.
pub fn merge_snapshots(snaps: &[ListSnapshot]) -> Option<ListSnapshot> {
    let (first, rest) = snaps.split_first()?;
    let mut out = first.clone();
    for s in rest {
        for svc in &mut out.services {
            let Some(o) = s.services.iter().find(|x| x.key == svc.key) else {
                continue;
            };
            add_stats(&mut svc.stats, &o.stats);
            add_rates(&mut svc.rates, &o.rates);
            for d in &mut svc.dests {
                if let Some(od) = o.dests.iter().find(|x| x.config.addr == d.config.addr) {
                    add_stats(&mut d.stats, &od.stats);
                    add_rates(&mut d.rates, &od.rates);
                    d.activeconns = d.activeconns.saturating_add(od.activeconns);
                    d.inactconns = d.inactconns.saturating_add(od.inactconns);
                    d.persistconns = d.persistconns.saturating_add(od.persistconns);
                }
            }
        }
    }
    Some(out)
}

impl Director {
    /// The listing snapshot: every service in insertion order with its live real servers
    /// (weight as the scheduler holds it, so an inhibited real server shows 0), connection
    /// counters from the connection table, stats and 2-second rates, the `--set` timeouts
    /// and the running sync daemons.
    pub fn snapshot(&self) -> ListSnapshot {
        let mut snap = ListSnapshot {
            timeouts: self.timeouts,
            ..ListSnapshot::default()
        };
        for svc in self.services.iter().flatten() {
            let dests = svc
                .dests
                .iter()
                .filter_map(|&slot| {
                    let d = self.dest(slot)?;
                    let c = self.table.dest_counters(lvs_conn::DestId(slot));
                    let mut config = d.config;
                    if let Some(sd) = svc.sched.dest(lvs_sched::DestId(slot)) {
                        config.weight = u32::try_from(sd.weight).unwrap_or(0);
                    }
                    Some(DestSnapshot {
                        config,
                        local_node: false,
                        activeconns: c.activeconns,
                        inactconns: c.inactconns,
                        persistconns: c.persistconns,
                        stats: d.stats,
                        rates: d.est.rates(),
                    })
                })
                .collect();
            snap.services.push(ServiceSnapshot {
                key: svc.key,
                config: svc.config.clone(),
                stats: svc.stats,
                rates: svc.est.rates(),
                dests,
            });
        }
        snap.daemons.extend(self.sync_master.iter().cloned());
        snap.daemons.extend(self.sync_backup.iter().cloned());
        snap
    }

    /// `ipvsadm -L` with `opts` at `now`: `-c` prints the connection table through
    /// lvs-conn's `-Lnc` listing, everything else core-adm's printers over
    /// [`Director::snapshot`].
    ///
    /// # Errors
    /// [`ListError::NoSuchService`] for `-L -t VIP:port` of an unknown service.
    pub fn list(&self, opts: &ListOptions, now: Instant) -> Result<String, ListError> {
        if opts.connections {
            let mut out = String::new();
            self.table.write_ipvsadm_lnc(now, &mut out);
            return Ok(out);
        }
        crate::ipvsadm::list(&self.snapshot(), opts)
    }
}
