//! The `Handshake` record and the sans-IO tracker that produces it.
//!
//! Contract: [`Tracker::handle`] takes a timestamp and a decoded packet and
//! appends finished [`Handshake`] records to a caller's vector; it never
//! reads a clock, a file or a socket, so files, live capture and tests drive
//! it the same way. Memory is bounded by `TrackerConfig::max_flows`; flows
//! leave the table when they close, go idle, or are evicted (counted).
//! [`summary`] folds records into the statistics that `analyze` prints.

#![forbid(unsafe_code)]

pub mod cause;
pub mod community_id;
pub mod filter;
pub mod handshake;
pub mod json;
pub mod rng;
pub mod stats;
pub mod summary;
pub mod time;
pub mod tracker;

pub use handshake::{
    ConnState, Ecn, Handshake, IcmpInfo, KernelTcpInfo, Options, Outcome, ProbeInfo, Side, Source,
    TfoInfo, TfoResult, TlsInfo, TraceInfo,
};
pub use tracker::{EachRecord, Tracker, TrackerConfig, TrackerStats};
