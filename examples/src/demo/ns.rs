//! The namespace demo (root).

use super::ModeResult;

/// Run every scenario in network namespaces.
pub fn run_all(requests: usize, print: impl FnMut(&str)) -> Vec<ModeResult> {
    super::vlan::run_all(requests, print)
}
