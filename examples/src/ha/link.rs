//! Link state of the interfaces a director's VRRP instances depend on (issue 10): keepalived's
//! `track_interface` entries and each instance's own `interface`.
//!
//! keepalived learns link changes from netlink (vrrp_if.c, `if_linkbeat` / `IF_ISUP`); the
//! `lvs-director` binary polls sysfs instead, every [`LinkWatch::PERIOD`] (150 ms), folded
//! into its poll timeout. What counts as down ([`link_is_up`]): `operstate` `down`,
//! `lowerlayerdown` or `notpresent`, or `carrier` `0`; a missing interface (no
//! `/sys/class/net/IFNAME`) is down, as keepalived treats an interface that has gone away.
//! `operstate` `unknown` (dummy, TAP, loopback: drivers that do not report operstate) with
//! no carrier file or carrier `1` is up.
//!
//! The effect of a change ([`link_updates`]), keepalived's semantics (vrrp_track.c):
//! the instance's own `interface` down puts it in FAULT; a `track_interface` entry of weight 0
//! (the default) puts it in FAULT while down; a non-zero weight changes the effective
//! priority instead (positive: added while up; negative: subtracted while down; lvs-vrrp's
//! `VrrpInstance::set_track`).
//!
//! Note on namespaces: `/sys/class/net` shows the interfaces of the network namespace sysfs
//! was mounted in (the director's own namespace when started normally or with
//! `ip netns exec`).

use std::time::{Duration, Instant};

use super::vrrp::HaInstance;

/// What one link event does to one VRRP instance (index into the runner's instances).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LinkUpdate {
    /// The instance's own `interface`: down = FAULT (`VrrpInstance::set_interface_up`).
    Interface {
        /// Instance index.
        instance: usize,
        /// New link state.
        up: bool,
    },
    /// A `track_interface` entry (`VrrpInstance::set_track_by_name`): weight 0 = FAULT while
    /// down, otherwise a priority change.
    Tracked {
        /// Instance index.
        instance: usize,
        /// New link state.
        up: bool,
    },
}

/// The tracked-object updates that link `ifname` going `up` / down causes in `instances`
/// (in instance order; an instance both running on and tracking `ifname` gets both). Tracked
/// objects named like one of the instance's `track_script`s are scripts, not interfaces, and
/// are left alone.
pub fn link_updates(instances: &[HaInstance], ifname: &str, up: bool) -> Vec<LinkUpdate> {
    let mut out = Vec::new();
    for (instance, spec) in instances.iter().enumerate() {
        if spec.config.interface == ifname {
            out.push(LinkUpdate::Interface { instance, up });
        }
        if tracked_interfaces(spec).any(|t| t == ifname) {
            out.push(LinkUpdate::Tracked { instance, up });
        }
    }
    out
}

/// The `track_interface` names of one instance: its tracked objects that are not scripts.
fn tracked_interfaces(spec: &HaInstance) -> impl Iterator<Item = &str> {
    spec.config
        .track
        .iter()
        .map(|t| t.name.as_str())
        .filter(|n| {
            !spec.track_script.iter().any(|s| s == n) && !super::track::is_tracker_object(n)
        })
}

/// The interfaces whose link state `instances` depend on, `(name, own)`: each instance's
/// own `interface` (`own = true`) then its `track_interface` entries, in instance order
/// (duplicates kept; [`LinkWatch::new`] folds them).
pub fn link_names(instances: &[HaInstance]) -> Vec<(String, bool)> {
    let mut out = Vec::new();
    for spec in instances {
        out.push((spec.config.interface.clone(), true));
        out.extend(tracked_interfaces(spec).map(|n| (n.to_owned(), false)));
    }
    out
}

/// Link state from the sysfs files `operstate` and `carrier` (`None` = file missing or
/// unreadable); see the module docs for the rule. A missing `operstate` means the interface
/// does not exist: down. `carrier` cannot be read while the interface is administratively
/// down (EINVAL), so a missing `carrier` alone does not mean down.
pub fn link_is_up(operstate: Option<&str>, carrier: Option<&str>) -> bool {
    let Some(op) = operstate else {
        return false;
    };
    if matches!(op.trim(), "down" | "lowerlayerdown" | "notpresent") {
        return false;
    }
    carrier.is_none_or(|c| c.trim() != "0")
}

/// Reads `/sys/class/net/IFNAME/{operstate,carrier}` and applies [`link_is_up`]. A name that
/// is not a plain interface name (empty, `/`, `.` or `..`) is down.
pub fn read_link(ifname: &str) -> bool {
    if ifname.is_empty() || ifname.contains('/') || ifname == "." || ifname == ".." {
        return false;
    }
    let dir = std::path::Path::new("/sys/class/net").join(ifname);
    let op = std::fs::read_to_string(dir.join("operstate")).ok();
    let carrier = std::fs::read_to_string(dir.join("carrier")).ok();
    link_is_up(op.as_deref(), carrier.as_deref())
}

/// The polled link states of a set of interfaces; reports only changes. Every link starts
/// up, as lvs-vrrp's instances do, so a link found down at the first poll is reported.
#[derive(Debug, Clone)]
pub struct LinkWatch {
    links: Vec<(String, bool)>,
    next: Instant,
}

impl LinkWatch {
    /// Poll period (keepalived reacts to netlink at once; 150 ms bounds our delay).
    pub const PERIOD: Duration = Duration::from_millis(150);

    /// Watches `names` (duplicates folded), first poll due at `now`.
    pub fn new(names: impl IntoIterator<Item = String>, now: Instant) -> Self {
        let mut links: Vec<(String, bool)> = Vec::new();
        for n in names {
            if !links.iter().any(|(l, _)| *l == n) {
                links.push((n, true));
            }
        }
        LinkWatch { links, next: now }
    }

    /// The watched interface names.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.links.iter().map(|(n, _)| n.as_str())
    }

    /// When the next poll is due; `None` when nothing is watched.
    pub fn poll_timeout(&self) -> Option<Instant> {
        (!self.links.is_empty()).then_some(self.next)
    }

    /// If a poll is due at `now`: reads every link with `read` (e.g. [`read_link`]) and
    /// returns the links whose state changed since the last poll, as `(ifname, up)`.
    pub fn poll(
        &mut self,
        now: Instant,
        mut read: impl FnMut(&str) -> bool,
    ) -> Vec<(String, bool)> {
        let mut changes = Vec::new();
        if now < self.next {
            return changes;
        }
        self.next = now + Self::PERIOD;
        for (name, state) in &mut self.links {
            let up = read(name);
            if up != *state {
                *state = up;
                changes.push((name.clone(), up));
            }
        }
        changes
    }
}
