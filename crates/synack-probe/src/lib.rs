//! Active handshake measurement: connect to a target, time the handshake,
//! and name the cause of every failure (RST, ICMP type/code/sender through
//! the error queue, silence with the number of SYNs sent, local errors),
//! with the kernel's own TCP_INFO for each attempt.
//!
//! Contract: [`attempt`] makes one bounded attempt and never blocks past its
//! timeout; it needs no privileges. [`record`] turns a result into the
//! `Handshake` record every output consumes (source `probe`).

#![forbid(unsafe_code)]

mod attempt;
pub mod cause;
pub mod connection;
pub mod cures;
pub mod engine;
pub mod http1;
pub mod http2;
pub mod neighbour;
mod record;
pub mod reuse;
pub mod stats;
pub mod syn;
pub mod target;
pub mod tls;
pub mod url;

pub use attempt::{
    AttemptConfig, AttemptResult, Pending, Started, TfoResult, attempt, start, tfo_verdict,
};
pub use cause::Cause;
pub use record::record;
pub use stats::TargetStats;
pub use target::{Family, Host, Resolved, Target, resolve};
