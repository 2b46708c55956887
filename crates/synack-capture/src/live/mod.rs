//! Live capture: frames from a network interface (AF_PACKET), with the
//! kernel's counters of what it handed over and what it dropped.

mod ring;
mod sys;

pub use ring::{Frame, Ring};
pub use sys::{RawLink, drop_capabilities};
