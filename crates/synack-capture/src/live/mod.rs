//! Live capture: frames from a network interface (AF_PACKET), with the
//! kernel's counters of what it handed over and what it dropped.

mod sys;

pub use sys::RawLink;
