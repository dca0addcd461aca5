//! The indexed structure that makes lc, wlc, sed, nq, fo and ovf (and the service-wide wlc
//! fallback of lblc/lblcr) pick in O(1) with O(log N) updates, returning exactly the real
//! server the kernel's O(N) scan returns.
//!
//! A tournament tree over list positions: each leaf holds its position if the real server is
//! eligible for the scheduler, each inner node the better of its two children. "Better" is
//! the scheduler's strict comparison, expressed as an exact fraction per real server
//! (overhead / weight for wlc, ...) compared by cross-multiplication in u128; when neither child is strictly better the LEFT child (lower list
//! position, nearer the head) wins. Every kernel scan above keeps the first real server in
//! list order among the minimal ones, so the tree's root is the kernel's pick: the order
//! "(key, position)" is total even though the cross-multiplication alone is only a preorder.
//!
//! Cost: a decision reads the root (O(1)); a counter, flag or weight change of one real server
//! recomputes its leaf-to-root path (O(log N), stopping early at the first node that comes
//! out unchanged); adding or removing a real server shifts list
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

    /// The scheduler's strict "a better than b" (kept next to each kernel scan; the tree
    /// uses the equivalent [`LeastKind::key`] fractions, checked equal in the unit tests).
    #[cfg(test)]
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

impl LeastKind {
    /// The scheduler's load of an eligible real server as an exact fraction num / den,
    /// smaller = better, such that `better(a, b)` <=> `num(a) * den(b) < num(b) * den(a)`:
    /// lc: overhead / 1; wlc: overhead / weight; sed: (activeconns + 1) / weight;
    /// nq: 0 / 1 when idle (all idle tie, idle beats busy), else as sed; fo, ovf: 1 / weight
    /// (higher weight better). `None` when not eligible.
    fn key(self, d: &Dest) -> Option<Key> {
        if !self.eligible(d) {
            return None;
        }
        let w = d.weight.max(0) as u32;
        let (num, den) = match self {
            LeastKind::Lc => (d.overhead(), 1),
            LeastKind::Wlc => (d.overhead(), w),
            LeastKind::Sed => (sed::overhead(d), w),
            LeastKind::Nq if d.activeconns == 0 => (0, 1),
            LeastKind::Nq => (sed::overhead(d), w),
            LeastKind::Fo | LeastKind::Ovf => (1, w),
        };
        Some(Key { num, den })
    }
}

/// An exact load fraction (see [`LeastKind::key`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Key {
    num: u64,
    /// A weight (<= i32::MAX) or 1; never 0.
    den: u32,
}

/// One tree node: the winning list position of its range and that position's key, kept in
/// the node so a path update never leaves the tree's own array. Packed in 16 bytes:
/// `num`, then `den | pos << 32`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Node {
    num: u64,
    den_pos: u64,
}

/// No eligible real server: position u32::MAX and the fraction u64::MAX / 1, which loses
/// against every real key (num < 2^41) and ties with itself.
const NONE: Node = Node {
    num: u64::MAX,
    den_pos: ((u32::MAX as u64) << 32) | 1,
};

impl Node {
    fn new(pos: usize, key: Key) -> Self {
        Node {
            num: key.num,
            den_pos: ((pos as u64) << 32) | key.den as u64,
        }
    }
    fn pos(self) -> u32 {
        (self.den_pos >> 32) as u32
    }
}

/// Tournament tree; see the module docs.
#[derive(Debug, Clone)]
pub(crate) struct Tournament {
    kind: LeastKind,
    /// Number of leaves, a power of two >= 1.
    size: usize,
    /// `nodes[1]` is the root; leaves at `size..2*size`. `NONE` = no eligible real server.
    nodes: Vec<Node>,
}

/// The left node (lower list positions) wins unless the right one is strictly better:
/// `num(r) * den(l) < num(l) * den(r)`, in u128. Branch-free select.
#[inline(always)]
fn combine(l: Node, r: Node) -> Node {
    let ld = l.den_pos as u32 as u128;
    let rd = r.den_pos as u32 as u128;
    let r_better = (r.num as u128) * ld < (l.num as u128) * rd;
    let m = (r_better as u64).wrapping_neg();
    Node {
        num: (l.num & !m) | (r.num & m),
        den_pos: (l.den_pos & !m) | (r.den_pos & m),
    }
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

    fn leaf(&self, i: usize, dests: &[Dest]) -> Node {
        match dests.get(i).and_then(|d| self.kind.key(d)) {
            Some(key) => Node::new(i, key),
            None => NONE,
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
            self.nodes[k] = combine(self.nodes[2 * k], self.nodes[2 * k + 1]);
        }
    }

    /// Real server at position `i` changed (counters, flags, weight).
    pub(crate) fn update(&mut self, i: usize, dests: &[Dest]) {
        if i >= self.size {
            return;
        }
        let mut k = self.size + i;
        let mut cur = self.leaf(i, dests);
        if self.nodes[k] == cur {
            return;
        }
        self.nodes[k] = cur;
        while k > 1 {
            // The sibling is read from the array; the path value stays in a register.
            let sib = self.nodes[k ^ 1];
            cur = if k & 1 == 0 {
                combine(cur, sib)
            } else {
                combine(sib, cur)
            };
            k /= 2;
            // Every node is a function of its two children only: once a node comes out
            // unchanged, so do all its ancestors.
            if self.nodes[k] == cur {
                return;
            }
            self.nodes[k] = cur;
        }
    }

    /// The kernel's pick, or `None`.
    pub(crate) fn best(&self) -> Option<usize> {
        match self.nodes.get(1) {
            Some(n) if n.pos() != u32::MAX => Some(n.pos() as usize),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dest::DestFlags;

    fn d(active: u32, inact: u32, weight: i32, overload: bool) -> Dest {
        Dest {
            addr: std::net::IpAddr::from([10, 0, 0, 1]),
            port: 80,
            weight,
            last_weight: weight,
            activeconns: active,
            inactconns: inact,
            persistconns: 0,
            flags: DestFlags(DestFlags::AVAILABLE | if overload { DestFlags::OVERLOAD } else { 0 }),
            u_threshold: 0,
            l_threshold: 0,
        }
    }

    #[test]
    fn key_order_equals_each_schedulers_strict_comparison() {
        let kinds = [
            LeastKind::Lc,
            LeastKind::Wlc,
            LeastKind::Sed,
            LeastKind::Nq,
            LeastKind::Fo,
            LeastKind::Ovf,
        ];
        let mut all = vec![];
        for a in [0u32, 1, 2, 3, 7, 300] {
            for i in [0u32, 1, 5, 256] {
                for w in [1, 2, 3, 7, 100, i32::MAX] {
                    all.push(d(a, i, w, false));
                }
            }
        }
        for k in kinds {
            for x in &all {
                for y in &all {
                    let (Some(kx), Some(ky)) = (k.key(x), k.key(y)) else {
                        continue;
                    };
                    let by_key =
                        (kx.num as u128) * (ky.den as u128) < (ky.num as u128) * (kx.den as u128);
                    assert_eq!(by_key, k.better(x, y), "{k:?} {x:?} {y:?}");
                }
            }
        }
    }

    #[test]
    fn ineligible_servers_have_no_key() {
        assert!(LeastKind::Wlc.key(&d(0, 0, 0, false)).is_none());
        assert!(LeastKind::Lc.key(&d(0, 0, 1, true)).is_none());
        assert!(LeastKind::Ovf.key(&d(3, 0, 2, false)).is_none());
        assert!(LeastKind::Ovf.key(&d(2, 0, 2, false)).is_some());
    }
}
