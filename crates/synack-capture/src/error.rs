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
    #[error("{name}: {}", not_a_capture(magic))]
    BadMagic { name: String, magic: Vec<u8> },
    /// The file ends inside its own header: no packet could be read.
    #[error(
        "{name}: the {format} file header is cut off: {got} of {want} bytes; the file is incomplete"
    )]
    CutHeader {
        name: String,
        format: &'static str,
        got: usize,
        want: usize,
    },
    #[error("{name}: packet {packet} at byte {offset}: {what}")]
    Damaged {
        name: String,
        packet: u64,
        offset: u64,
        what: String,
    },
}

/// What a file that is no capture seems to be, and what to do with it.
fn not_a_capture(magic: &[u8]) -> String {
    let what = match magic {
        [b'B', b'Z', b'h', ..] => Some((
            "bzip2-compressed",
            "decompress it first (`bzcat FILE | synack analyze -`)",
        )),
        [0xfd, b'7', b'z', b'X', ..] => Some((
            "xz-compressed",
            "decompress it first (`xzcat FILE | synack analyze -`)",
        )),
        [b'P', b'K', 3, 4, ..] => Some(("a zip archive", "unzip it first")),
        m if !m.is_empty()
            && m.iter()
                .all(|b| b.is_ascii_graphic() || b.is_ascii_whitespace()) =>
        {
            Some((
                "text, not a pcap or pcapng file",
                "write captures with `tcpdump -w` or `synack capture -w`",
            ))
        }
        _ => None,
    };
    match what {
        Some((kind, fix)) => format!("{kind} ({magic:02x?} at byte 0): {fix}"),
        None => format!(
            "not a pcap or pcapng file (first bytes {magic:02x?} at byte 0); convert other formats with `editcap -F pcapng`, or check the path"
        ),
    }
}

impl CaptureError {
    /// True when the input itself is damaged (as opposed to unreadable).
    pub fn is_damage(&self) -> bool {
        matches!(self, CaptureError::Damaged { .. })
    }
}
