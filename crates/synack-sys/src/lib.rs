//! Every system call synack makes that std does not offer, and the only
//! crate of the workspace with `unsafe` code and a `libc` dependency (the
//! role quinn-udp plays for quinn). Each call sits in a small wrapper whose
//! `SAFETY` line says why it is sound; everything above this crate is
//! `#![forbid(unsafe_code)]`.
//!
//! Contract: a socket option the running kernel does not know degrades as
//! `Ok(false)` ([`sockopt`]), never as a silent success or a hard error, and
//! no error is dropped: callers decide what a missing feature means.
//!
//! * [`packet`]: AF_PACKET, the TPACKET_V3 receive ring and frame sending.
//! * [`raw`]: raw IP sockets with kernel receive timestamps (raw SYN scans).
//! * [`tcp`]: TCP_INFO, the error queue (IP_RECVERR), TCP Fast Open.
//! * [`netlink`]: a raw netlink socket (the lab's NFQUEUE delayer).
//! * [`netns`], [`process`], [`signal`]: namespaces, capabilities, limits,
//!   scheduling, signals.

pub mod netlink;
pub mod netns;
pub mod packet;
pub mod process;
pub mod raw;
pub mod signal;
mod sockopt;
pub mod tcp;

pub use netns::enter_netns;
pub use process::{
    drop_capabilities, is_root, monotonic_ns, raise_open_files, set_cpus, set_realtime,
};
pub use signal::{kill, stop_on_signals};
pub use tcp::set_backlog;

/// The errno values callers and tests compare with, by name.
pub mod errno {
    pub use libc::{
        EACCES, EADDRINUSE, EADDRNOTAVAIL, ECONNREFUSED, EHOSTUNREACH, EINPROGRESS, EMFILE,
        ENETUNREACH, ENFILE, ENOBUFS, EPERM, ETIMEDOUT,
    };
}
