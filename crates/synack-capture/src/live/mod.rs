//! Live capture: frames from a network interface (AF_PACKET, through
//! `synack-sys`), with the kernel's counters of what it handed over and
//! what it dropped.

pub use synack_sys::packet::{Frame, RawLink, Ring};
