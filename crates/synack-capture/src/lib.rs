//! Packet sources: capture files in, `(timestamp, link type, bytes)` out.
//!
//! Contract: [`CaptureReader`] reads pcap (both byte orders, µs and ns) and
//! pcapng (any number of sections of either byte order, many interfaces with
//! their link types and `if_tsresol`/`if_tsoffset`; EPB, SPB and the obsolete
//! PB) from any `Read`, chosen by magic number, in large chunks so that files
//! larger than memory stream through; gzip, zstd and LZ4 inputs are
//! decompressed on the way ([`Compression`]). Damage is reported as a
//! [`CaptureError`] naming the file, the packet number and the byte offset;
//! every packet before it has been returned. The writers produce what the
//! readers read.

#![forbid(unsafe_code)]

mod compressed;
mod error;
pub mod live;
mod pcap;
mod pcapng;
pub mod pipeline;
mod reader;
mod source;
mod writer;

pub use compressed::Compression;
pub use error::CaptureError;
pub use reader::{CaptureReader, Format, Packet};
pub use source::ReadStats;
pub use synack_wire::LinkType;
pub use writer::{PcapNgWriter, PcapWriter};
