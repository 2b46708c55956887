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
        Err(e)
            if matches!(e.kind(), ErrorKind::PermissionDenied) || e.raw_os_error() == Some(1) =>
        {
            bail!("entering network namespace `{ns}` needs CAP_SYS_ADMIN (run as root): {e}")
        }
        Err(e) => bail!("entering network namespace `{ns}`: {e}"),
    }
}
