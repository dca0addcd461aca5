//! Connection synchronisation (ip_vs_sync.c): a master queues the connections the kernel's
//! rule selects after each inbound packet and hands them out as sync messages; a backup
//! imports messages, binding each entry to its real server.

use std::net::{IpAddr, SocketAddr};
use std::time::Instant;

use lvs_conn::sync::{SyncError, SyncMessage, SyncMessageWriter};

use super::Director;

impl Director {
    /// Master side (after `--start-daemon master`): write the next sync message (the queued
    /// connections, as many as fit in `buf`; size it as the sync daemon's `sync_maxlen`,
    /// e.g. [`lvs_conn::sync::SYNC_MAXLEN_IPV4`]) and return its length, or `None` when
    /// nothing is queued or the daemon is off. The caller sends it as one UDP datagram (to
    /// 224.0.0.81:8848 by default). The kernel also flushes a partly filled message every
    /// 2 s (`IPVS_SYNC_FLUSH_TIME_MS`); here every call flushes.
    pub fn poll_sync(&mut self, buf: &mut [u8]) -> Option<usize> {
        let syncid = self.sync_master.as_ref()?.syncid;
        if self.sync_queue.is_empty() {
            return None;
        }
        let mut w = SyncMessageWriter::new(self.cfg.sysctls.sync.sync_version, buf, syncid).ok()?;
        let mut sent = 0;
        for c in &self.sync_queue {
            if w.push(c).is_err() {
                break;
            }
            sent += 1;
        }
        // A connection that fits no message at all is dropped rather than blocking the queue.
        let taken = sent.max(1).min(self.sync_queue.len());
        self.sync_queue.drain(..taken);
        if sent == 0 {
            return None;
        }
        self.sync_stats.messages_sent += 1;
        Some(w.finish().len())
    }

    /// Connections waiting for [`Director::poll_sync`].
    pub fn sync_pending(&self) -> usize {
        self.sync_queue.len()
    }

    /// Backup side (after `--start-daemon backup`): import one received sync message
    /// (`ip_vs_process_message()` / `ip_vs_proc_conn()`): each connection is created or
    /// updated, flagged SYNC, bound to the real server of the matching service here (by
    /// protocol + VIP:vport, or fwmark, and RIP:rport), and counted in its activeconns /
    /// inactconns. Returns the number of connections imported; `Ok(0)` when the backup
    /// daemon is off.
    ///
    /// # Errors
    /// The message header's [`SyncError`] (bad version, length, syncid mismatch). Refused
    /// connections inside a valid message are skipped and counted in
    /// [`super::SyncStats::import_errors`].
    pub fn handle_sync(&mut self, now: Instant, bytes: &[u8]) -> Result<usize, SyncError> {
        let Some(syncid) = self.sync_backup.as_ref().map(|d| d.syncid) else {
            return Ok(0);
        };
        let msg = match SyncMessage::parse_as_backup(bytes, syncid) {
            Ok(m) => m,
            Err(e) => {
                self.sync_stats.import_errors += 1;
                return Err(e);
            }
        };
        let mut n = 0;
        for item in msg.conns() {
            let c = match item {
                Ok(c) => c,
                Err(e) => {
                    self.sync_stats.import_errors += 1;
                    if e.ends_message() {
                        break;
                    }
                    continue;
                }
            };
            let dest = self.sync_dest(c.protocol, c.vaddr, c.vport, c.fwmark, c.daddr, c.dport);
            match self.table.sync_import(
                &c,
                msg.version(),
                dest.map(lvs_conn::DestId),
                self.cfg.sysctls.sync.sync_threshold,
                now,
            ) {
                Ok(_) => {
                    n += 1;
                    if let Some(d) = dest {
                        self.dest_counters_changed(d);
                    }
                }
                Err(_) => self.sync_stats.import_errors += 1,
            }
        }
        self.sync_stats.imported += n as u64;
        Ok(n)
    }

    /// `ip_vs_find_dest()`: the real server RIP:rport of the service the entry belongs to.
    fn sync_dest(
        &self,
        protocol: u8,
        vaddr: IpAddr,
        vport: u16,
        fwmark: u32,
        daddr: IpAddr,
        dport: u16,
    ) -> Option<u32> {
        // Fwmark templates carry protocol 0 and the mark as their virtual address.
        let mark = if protocol == 0 {
            match vaddr {
                IpAddr::V4(a) => a.to_bits(),
                IpAddr::V6(a) => (a.to_bits() >> 96) as u32,
            }
        } else {
            fwmark
        };
        let si = if mark != 0 {
            self.by_mark.get(&(mark, vaddr.is_ipv6())).copied()
        } else {
            None
        }
        .or_else(|| self.find_service(protocol, vaddr, vport, 0))
        .or_else(|| {
            // Port-zero / FTP templates: any service of this VIP and protocol.
            self.by_addr
                .iter()
                .find(|((p, a), _)| *p == protocol && a.ip() == vaddr)
                .map(|(_, &i)| i)
        })?;
        let svc = self.svc(si)?;
        svc.dests.iter().copied().find(|&slot| {
            self.dest(slot).is_some_and(|d| {
                d.config.addr == SocketAddr::new(daddr, dport)
                    || (dport == 0 && d.config.addr.ip() == daddr)
            })
        })
    }
}
