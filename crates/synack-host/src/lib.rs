//! Host-side handshake health for one network namespace: listeners and
//! their queues through netlink sock_diag, kernel counters, sysctls, and
//! the alerts and audit findings drawn from them. Reads only; every read
//! happens in the calling thread's namespace.

#![forbid(unsafe_code)]

pub mod audit;
pub mod conntrack;
pub mod counters;
pub mod harden;
pub mod health;
pub mod names;
pub mod ports;
pub mod processes;
pub mod procfs;
pub mod snapshot;
pub mod sockets;
pub mod sysctls;
pub mod watcher;

pub use counters::Counters;
pub use health::{Alert, Alerts, Severity};
pub use snapshot::{Rates, Snapshot, SnapshotOptions};
pub use sockets::{Listener, STATE_NAMES};
pub use sysctls::Sysctls;
pub use watcher::{Sample, Watcher};
