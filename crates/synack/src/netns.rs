//! `--netns NAME|PATH`: the command moves into that network namespace before
//! it opens anything (threads started later inherit it), with an error that
//! says which of the two usual causes it is.

use anyhow::{Result, bail};
use std::io::ErrorKind;

pub fn enter(netns: Option<&str>) -> Result<()> {
    let Some(ns) = netns else { return Ok(()) };
    match synack_sys::enter_netns(ns) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == ErrorKind::NotFound => bail!(
            "no network namespace `{ns}`: give a name that `ip netns list` shows, or a path such as /proc/PID/ns/net"
        ),
        Err(e) if e.kind() == ErrorKind::PermissionDenied && !synack_sys::is_root() => {
            bail!("entering network namespace `{ns}` needs CAP_SYS_ADMIN (run as root): {e}")
        }
        // Root and still refused: the namespace belongs to another user
        // namespace (another container) or a security module says no.
        Err(e) if e.kind() == ErrorKind::PermissionDenied => bail!(
            "entering network namespace `{ns}` was refused even as root ({e}): it belongs to another user namespace or container, or a security module forbids it"
        ),
        // setns(2) gives EINVAL for a file that is no network namespace.
        Err(e) if e.kind() == ErrorKind::InvalidInput => bail!(
            "`{ns}` is not a network namespace: give a name that `ip netns list` shows, or a path such as /proc/PID/ns/net"
        ),
        Err(e) => bail!("entering network namespace `{ns}`: {e}"),
    }
}
