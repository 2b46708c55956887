//! Network namespaces: a thread enters one, and whatever it opens or
//! starts afterwards (sockets, netlink, threads) belongs to it.

use std::io;
use std::os::fd::AsRawFd;

/// Moves the calling thread into the named network namespace (the file
/// `ip netns add` creates under /run/netns). Other threads are unaffected.
pub fn enter_netns(name: &str) -> io::Result<()> {
    // A name as `ip netns` keeps it, or a path (/proc/PID/ns/net, a bind mount).
    let path = if name.contains('/') {
        name.to_string()
    } else {
        format!("/run/netns/{name}")
    };
    let file = std::fs::File::open(path)?;
    // SAFETY: setns only reads the descriptor, which `file` keeps open for
    // the duration of the call; CLONE_NEWNET affects the calling thread only.
    let rc = unsafe { libc::setns(file.as_raw_fd(), libc::CLONE_NEWNET) };
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}
