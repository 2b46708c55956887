//! AF_PACKET: frames from and to an interface of the calling thread's
//! network namespace. Needs CAP_NET_RAW.

mod link;
mod ring;

pub use link::RawLink;
pub use ring::{Frame, Ring};
