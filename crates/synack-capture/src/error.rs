//! Errors of the capture readers: what went wrong, and where.

use std::io;

#[derive(Debug, thiserror::Error)]
pub enum CaptureError {
    #[error("{name}: {source}")]
    Io {
        name: String,
        #[source]
        source: io::Error,
    },
    #[error("{name}: empty file (0 bytes): not a capture")]
    Empty { name: String },
    #[error(
        "{name}: not a pcap or pcapng file (first bytes {magic:02x?} at byte 0); convert it with `editcap -F pcapng` or check the path"
    )]
    BadMagic { name: String, magic: Vec<u8> },
    #[error("{name}: packet {packet} at byte {offset}: {what}")]
    Damaged {
        name: String,
        packet: u64,
        offset: u64,
        what: String,
    },
}

impl CaptureError {
    /// True when the input itself is damaged (as opposed to unreadable).
    pub fn is_damage(&self) -> bool {
        matches!(self, CaptureError::Damaged { .. })
    }
}
