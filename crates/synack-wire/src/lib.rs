//! Zero-copy views over the bytes of a captured packet.
//!
//! Contract: every view is created with `new_checked`, which verifies the
//! lengths its accessors rely on; after that no accessor can panic, whatever
//! the bytes. Nothing here allocates, reads a clock or touches the OS. The
//! entry point for analysis is [`decode::decode`], which walks a frame from its
//! link layer, through any tunnels ([`tunnel`]), down to the TCP segment (or
//! the TCP SYN quoted in an ICMP error) and says why when it cannot.
#![forbid(unsafe_code)]

pub mod checksum;
pub mod decode;
pub mod emit;
pub mod icmp;
pub mod ip;
pub mod link;
pub mod seq;
pub mod tcp;
pub mod tunnel;

pub use decode::{Decoded, IcmpError, Part, Segment, Skip, decode, decode_tunneled};
pub use link::LinkType;
pub use seq::SeqNumber;
pub use tcp::{TcpFlags, TcpHeaderCopy, TcpOptions, TcpView, Tfo};
pub use tunnel::{Tunnel, Tunnels};

/// Reads a big-endian u16 at `at`; callers have checked the length.
#[inline(always)]
pub(crate) fn be16(b: &[u8], at: usize) -> u16 {
    u16::from_be_bytes([b[at], b[at + 1]])
}

/// Reads a big-endian u32 at `at`; callers have checked the length.
#[inline(always)]
pub(crate) fn be32(b: &[u8], at: usize) -> u32 {
    u32::from_be_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}
