//! rr: round robin (net/netfilter/ipvs/ip_vs_rr.c).
//!
//! Rule: walk the list circularly from the real server after the last pick; the first one
//! with OVERLOAD clear and weight > 0 is the pick. The walk covers every real server once,
//! ending with the last pick itself. Removing the last pick moves the position to its
//! predecessor (`ip_vs_rr_del_dest()`); adding a real server does not move it.

use crate::dest::Dest;

fn hit(d: &Dest) -> bool {
    !d.overloaded() && d.weight > 0
}

/// The position of the last pick (`svc->sched_data`): `None` is the list head.
#[derive(Debug, Clone, Default)]
pub(crate) struct RrState {
    pos: Option<usize>,
}

impl RrState {
    pub(crate) fn schedule(&mut self, dests: &[Dest]) -> Option<usize> {
        let last = self.pos;
        let start = last.map_or(0, |p| p + 1);
        // First pass: from after the last pick to the end of the list.
        for (i, d) in dests.iter().enumerate().skip(start) {
            if hit(d) {
                self.pos = Some(i);
                return Some(i);
            }
        }
        // Second pass (only when we did not start at the head): from the head up to and
        // including the last pick.
        let last = last?;
        for (i, d) in dests.iter().enumerate().take(last + 1) {
            if hit(d) {
                self.pos = Some(i);
                return Some(i);
            }
        }
        None
    }

    /// A real server was linked at the head: every position shifts by one.
    pub(crate) fn on_add_head(&mut self) {
        if let Some(p) = self.pos.as_mut() {
            *p += 1;
        }
    }

    /// The real server at position `r` was unlinked.
    pub(crate) fn on_remove(&mut self, r: usize) {
        self.pos = match self.pos {
            Some(p) if p == r => r.checked_sub(1),
            Some(p) if p > r => Some(p - 1),
            other => other,
        };
    }
}
