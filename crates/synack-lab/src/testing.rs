//! What every root-only test of the workspace starts with: root or a
//! skip that says why, and in CI (which runs as root) never a skip.

use crate::Lab;

/// True when the tests may build namespaces. Outside CI a user without
/// root gets `false` and a printed reason; in CI (`CI` set) a missing root
/// is a failure, so that the tests cannot pass by skipping.
pub fn root_or_skip(what: &str) -> bool {
    if synack_sys::is_root() {
        return true;
    }
    assert!(
        std::env::var_os("CI").is_none(),
        "CI runs as root: {what} must run there"
    );
    eprintln!("skipped: {what} need root (network namespaces)");
    false
}

/// A fresh lab, or None (skipped, with the reason) without root.
pub fn lab_or_skip(what: &str) -> Option<Lab> {
    root_or_skip(what).then(|| Lab::up().expect("lab up"))
}
