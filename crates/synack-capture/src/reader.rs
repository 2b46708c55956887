//! The reader: the format chosen by the file's magic, each packet framed
//! by its format's module, counters kept.

use crate::compressed::{self, Compression, Input};
use crate::error::CaptureError;
use crate::source::{Buffer, ReadStats, Source};
use crate::{pcap, pcapng};
use std::io::{self, Read};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use synack_wire::LinkType;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    Pcap,
    PcapNg,
}

/// One packet as read from the file.
#[derive(Clone, Copy, Debug)]
pub struct Packet<'a> {
    /// Nanoseconds since the Unix epoch.
    pub ts_ns: i64,
    pub link: LinkType,
    pub data: &'a [u8],
    /// Length on the wire (may exceed `data.len()` when the snaplen cut it).
    pub wire_len: u32,
    /// 1-based packet number in the file, as Wireshark counts frames.
    pub number: u64,
    /// Byte offset of the packet's record in the file.
    pub offset: u64,
    /// The packet's comment (pcapng `opt_comment`), as written.
    pub comment: Option<&'a [u8]>,
}

pub(crate) enum State {
    Pcap(pcap::Header),
    PcapNg(pcapng::Section),
}

/// Reads packets from one capture file or stream, compressed or not.
pub struct CaptureReader<R: Read> {
    src: Source<Input<R>>,
    compression: Compression,
    /// Bytes taken from the (compressed) input so far.
    taken: Arc<AtomicU64>,
    state: State,
    last_ts: i64,
    /// Set after a fatal error: the reader returns `None` from then on.
    done: bool,
}

impl CaptureReader<std::fs::File> {
    /// Opens a file by path. Directories and missing files are clear errors.
    pub fn open(path: &std::path::Path) -> Result<Self, CaptureError> {
        let name = path.display().to_string();
        let io_err = |source| CaptureError::Io {
            name: name.clone(),
            source,
        };
        let meta = std::fs::metadata(path).map_err(io_err)?;
        if meta.is_dir() {
            return Err(CaptureError::Io {
                name,
                source: io::Error::new(
                    io::ErrorKind::InvalidInput,
                    "is a directory, not a capture file",
                ),
            });
        }
        let file = std::fs::File::open(path).map_err(io_err)?;
        CaptureReader::new(name, file)
    }
}

impl<R: Read> CaptureReader<R> {
    /// Reads the file header from `src` and chooses the format by its magic
    /// (after decompressing gzip, zstd or LZ4, told by theirs).
    pub fn new(name: String, src: R) -> Result<Self, CaptureError> {
        let (compression, input, taken) =
            compressed::open(src).map_err(|source| CaptureError::Io {
                name: name.clone(),
                source,
            })?;
        let name = match compression {
            Compression::None => name,
            c => format!("{name} ({}-compressed)", c.name()),
        };
        let mut buf = Buffer::new(input);
        let io_err = |source| CaptureError::Io {
            name: name.clone(),
            source,
        };
        let got = buf.fill(4).map_err(io_err)?;
        if got == 0 {
            return Err(CaptureError::Empty { name });
        }
        let magic = buf.peek(got.min(4)).to_vec();
        let state = if got >= 4 && pcap::is_magic(&magic) {
            State::Pcap(pcap::read_header(&name, &mut buf)?)
        } else if got >= 4 && magic == pcapng::SHB_MAGIC {
            State::PcapNg(pcapng::Section::default())
        } else {
            return Err(CaptureError::BadMagic { name, magic });
        };
        Ok(CaptureReader {
            src: Source {
                name,
                buf,
                stats: ReadStats::default(),
            },
            compression,
            taken,
            state,
            last_ts: i64::MIN,
            done: false,
        })
    }

    pub fn name(&self) -> &str {
        &self.src.name
    }

    pub fn format(&self) -> Format {
        match self.state {
            State::Pcap(_) => Format::Pcap,
            State::PcapNg(_) => Format::PcapNg,
        }
    }

    pub fn stats(&self) -> &ReadStats {
        &self.src.stats
    }

    /// Bytes of the input consumed so far (for progress): of the file as
    /// stored, also when it is compressed.
    pub fn position(&self) -> u64 {
        match self.compression {
            Compression::None => self.src.buf.offset(),
            _ => self.taken.load(Ordering::Relaxed),
        }
    }

    /// How the input was compressed.
    pub fn compression(&self) -> Compression {
        self.compression
    }

    /// The next packet, `None` at the end of the input, or the error that
    /// stops reading (after which `None` follows).
    pub fn next_packet(&mut self) -> Result<Option<Packet<'_>>, CaptureError> {
        if self.done {
            return Ok(None);
        }
        let r = match &mut self.state {
            State::Pcap(h) => pcap::next(&mut self.src, *h),
            State::PcapNg(section) => pcapng::next(&mut self.src, section),
        };
        match r {
            Ok(Some((start, len, meta))) => {
                self.src.stats.packets += 1;
                self.src.stats.bytes += len as u64;
                if meta.ts_ns < self.last_ts {
                    self.src.stats.backwards_timestamps += 1;
                }
                self.last_ts = meta.ts_ns;
                Ok(Some(Packet {
                    ts_ns: meta.ts_ns,
                    link: meta.link,
                    data: &self.src.buf.buf[start..start + len],
                    wire_len: meta.wire_len,
                    number: self.src.stats.packets,
                    offset: meta.offset,
                    comment: meta
                        .comment
                        .map(|(at, len)| &self.src.buf.buf[at..at + len]),
                }))
            }
            Ok(None) => {
                self.done = true;
                Ok(None)
            }
            Err(e) => {
                self.done = true;
                Err(e)
            }
        }
    }
}
