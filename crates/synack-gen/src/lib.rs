//! Deterministic handshake traffic for synack's sample capture, tests and
//! benchmarks. Every connection is described by a [`Script`] whose ground
//! truth (outcome, RTT legs, SYN count) is known before a packet is built,
//! so tests can check the analyzer against what was injected.

#![forbid(unsafe_code)]

pub use synack_core::rng;
pub mod flood;
pub mod scenario;
pub mod stream;

pub use scenario::{Expect, Script, Shape, sample_scripts};
