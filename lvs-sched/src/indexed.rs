//! The indexed structure that makes lc, wlc, sed, nq, fo and ovf (and the service-wide wlc
//! fallback of lblc/lblcr) pick in O(1) with O(log N) updates, returning exactly the real
//! server the kernel's O(N) scan returns.
//!
//! A tournament tree over list positions: each leaf holds its position if the real server is
//! eligible for the scheduler, each inner node the better of its two children. "Better" is
//! the scheduler's strict comparison (exact rational comparison by cross-multiplication in
//! u128 for wlc/sed/nq); when neither child is strictly better the LEFT child (lower list
//! position, nearer the head) wins. Every kernel scan above keeps the first real server in
//! list order among the minimal ones, so the tree's root is the kernel's pick: the order
//! "(key, position)" is total even though the cross-multiplication alone is only a preorder.
//!
//! Cost: a decision reads the root (O(1)); a counter, flag or weight change of one real server
//! recomputes its leaf-to-root path (O(log N)); adding or removing a real server shifts list
//! positions and rebuilds the tree (O(N), control plane only).

use crate::dest::Dest;
use crate::{fo, lc, nq, ovf, sed, wlc};

/// Which scheduler's rule the tree applies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum LeastKind {
    Lc,
    Wlc,
    Sed,
    Nq,
    Fo,
    Ovf,
}

impl LeastKind {
    pub(crate) fn eligible(self, d: &Dest) -> bool {
        match self {
            LeastKind::Lc => lc::eligible(d),
            LeastKind::Wlc => wlc::eligible(d),
            LeastKind::Sed => sed::eligible(d),
            LeastKind::Nq => nq::eligible(d),
            LeastKind::Fo => fo::eligible(d),
            LeastKind::Ovf => ovf::eligible(d),
        }
    }

    pub(crate) fn better(self, a: &Dest, b: &Dest) -> bool {
        match self {
            LeastKind::Lc => lc::better(a, b),
            LeastKind::Wlc => wlc::better(a, b),
            LeastKind::Sed => sed::better(a, b),
            LeastKind::Nq => nq::better(a, b),
            LeastKind::Fo => fo::better(a, b),
            LeastKind::Ovf => ovf::better(a, b),
        }
    }

    /// The kernel's O(N) scan (the reference the tree must agree with).
    pub(crate) fn scan(self, dests: &[Dest]) -> Option<usize> {
        match self {
            LeastKind::Lc => lc::scan(dests),
            LeastKind::Wlc => wlc::scan(dests),
            LeastKind::Sed => sed::scan(dests),
            LeastKind::Nq => nq::scan(dests),
            LeastKind::Fo => fo::scan(dests),
            LeastKind::Ovf => ovf::scan(dests),
        }
    }
}

const NONE: u32 = u32::MAX;

/// Tournament tree; see the module docs.
#[derive(Debug, Clone)]
pub(crate) struct Tournament {
    kind: LeastKind,
    /// Number of leaves, a power of two >= 1.
    size: usize,
    /// `nodes[1]` is the root; leaves at `size..2*size`. `NONE` = no eligible real server.
    nodes: Vec<u32>,
}

impl Tournament {
    pub(crate) fn new(kind: LeastKind, dests: &[Dest]) -> Self {
        let mut t = Tournament {
            kind,
            size: 1,
            nodes: vec![NONE; 2],
        };
        t.rebuild(dests);
        t
    }

    fn leaf(&self, i: usize, dests: &[Dest]) -> u32 {
        match dests.get(i) {
            Some(d) if self.kind.eligible(d) => i as u32,
            _ => NONE,
        }
    }

    fn combine(&self, l: u32, r: u32, dests: &[Dest]) -> u32 {
        match (dests.get(l as usize), dests.get(r as usize)) {
            (None, _) => r,
            (_, None) => l,
            (Some(a), Some(b)) => {
                if self.kind.better(b, a) {
                    r
                } else {
                    l
                }
            }
        }
    }

    pub(crate) fn rebuild(&mut self, dests: &[Dest]) {
        self.size = dests.len().max(1).next_power_of_two();
        self.nodes = vec![NONE; 2 * self.size];
        for i in 0..dests.len() {
            let v = self.leaf(i, dests);
            if let Some(n) = self.nodes.get_mut(self.size + i) {
                *n = v;
            }
        }
        for k in (1..self.size).rev() {
            self.nodes[k] = self.combine(self.nodes[2 * k], self.nodes[2 * k + 1], dests);
        }
    }

    /// Real server at position `i` changed (counters, flags, weight).
    pub(crate) fn update(&mut self, i: usize, dests: &[Dest]) {
        if i >= self.size {
            return;
        }
        let mut k = self.size + i;
        self.nodes[k] = self.leaf(i, dests);
        while k > 1 {
            k /= 2;
            self.nodes[k] = self.combine(self.nodes[2 * k], self.nodes[2 * k + 1], dests);
        }
    }

    /// The kernel's pick, or `None`.
    pub(crate) fn best(&self) -> Option<usize> {
        match self.nodes.get(1) {
            Some(&v) if v != NONE => Some(v as usize),
            _ => None,
        }
    }
}
