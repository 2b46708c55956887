//! The chunked reader shared by both formats: a buffer that refills from
//! any `Read`, record framing by format, and the per-file counters.

use crate::error::CaptureError;
use crate::{pcap, pcapng};
use std::io::{self, Read};
use synack_wire::LinkType;

/// Chunk size: large enough that one `read` moves megabytes and the record
/// walk stays in a tight loop (DESIGN.md: 4 MiB chunks parse ~12 GB/s).
pub(crate) const CHUNK: usize = 4 << 20;
/// The largest record accepted (libpcap's MAXIMUM_SNAPLEN is 256 KiB; pcapng
/// blocks may carry a little more for options).
pub(crate) const MAX_RECORD: usize = 16 << 20;

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
}

/// Non-fatal observations about a file.
#[derive(Clone, Debug, Default)]
pub struct ReadStats {
    pub packets: u64,
    pub bytes: u64,
    /// Records longer than the snaplen the file declares.
    pub over_snaplen: u64,
    /// Packets whose timestamp is earlier than the one before.
    pub backwards_timestamps: u64,
    /// pcapng blocks of kinds that carry no packets for us (NRB, ISB, custom…).
    pub skipped_blocks: u64,
    /// Packets on interfaces whose link type cannot be decoded.
    pub unsupported_link: u64,
}

/// How often consumed pages of a mapped file are handed back, so that the
/// resident set stays bounded however large the file.
const RELEASE_EVERY: usize = 8 << 20;

pub(crate) struct Buffer<R> {
    src: Option<R>,
    /// A whole file mapped into memory (the fast path for regular files);
    /// `buf` is unused then.
    mapped: Option<memmap2::Mmap>,
    released: usize,
    /// Mapped bytes below this offset have their page tables filled.
    populated: usize,
    pub(crate) buf: Vec<u8>,
    pub(crate) start: usize,
    pub(crate) end: usize,
    eof: bool,
    /// File offset of `buf[0]`.
    pub(crate) base: u64,
}

impl<R: Read> Buffer<R> {
    fn new(src: R) -> Self {
        Buffer {
            src: Some(src),
            mapped: None,
            released: 0,
            populated: 0,
            buf: vec![0; CHUNK],
            start: 0,
            end: 0,
            eof: false,
            base: 0,
        }
    }

    fn mapped(map: memmap2::Mmap) -> Self {
        let end = map.len();
        let mut b = Buffer {
            src: None,
            mapped: Some(map),
            released: 0,
            populated: 0,
            buf: Vec::new(),
            start: 0,
            end,
            eof: true,
            base: 0,
        };
        b.populate_ahead();
        b
    }

    /// The bytes `start..end` index into.
    #[inline]
    pub(crate) fn bytes(&self) -> &[u8] {
        match &self.mapped {
            Some(m) => m,
            None => &self.buf,
        }
    }

    /// Consumes `n` bytes; for a mapped file, returns pages already read
    /// to the kernel every [`RELEASE_EVERY`] bytes.
    #[inline]
    pub(crate) fn consume(&mut self, n: usize) {
        self.start += n;
        if self.start - self.released >= RELEASE_EVERY {
            self.release();
        }
    }

    #[cold]
    fn release(&mut self) {
        let Some(map) = &self.mapped else {
            self.released = self.start;
            return;
        };
        let page = 4096;
        let upto = self.start / page * page;
        if upto > self.released {
            // SAFETY: the mapping is private and read-only, so dropping its
            // pages loses nothing: a later access would fault them back in
            // from the file. No slice into this range is alive: packets
            // borrow only the record being returned, which lies after `start`.
            let _ = unsafe {
                map.unchecked_advise_range(
                    memmap2::UncheckedAdvice::DontNeed,
                    self.released,
                    upto - self.released,
                )
            };
        }
        self.released = upto;
        self.populate_ahead();
    }

    /// Fills the page tables of the next two windows in one call
    /// (MADV_POPULATE_READ, Linux 5.14+), instead of one page fault per
    /// 64 KiB; an older kernel just keeps faulting pages in.
    fn populate_ahead(&mut self) {
        let Some(map) = &self.mapped else { return };
        let want = (self.start + 2 * RELEASE_EVERY).min(map.len());
        if want > self.populated {
            let _ = map.advise_range(
                memmap2::Advice::PopulateRead,
                self.populated,
                want - self.populated,
            );
            self.populated = want;
        }
    }

    pub(crate) fn available(&self) -> usize {
        self.end - self.start
    }

    /// File offset of the next unread byte.
    pub(crate) fn offset(&self) -> u64 {
        self.base + self.start as u64
    }

    /// Makes at least `n` bytes available unless the input ends first.
    /// Returns how many are available.
    #[inline]
    pub(crate) fn fill(&mut self, n: usize) -> io::Result<usize> {
        if self.available() >= n || self.eof {
            return Ok(self.available());
        }
        self.refill(n)
    }

    #[cold]
    #[inline(never)]
    fn refill(&mut self, n: usize) -> io::Result<usize> {
        if self.src.is_none() {
            return Ok(self.available());
        }
        if self.start + n > self.buf.len() {
            // Move the tail to the front (and grow for a record larger than
            // the buffer; callers bound `n`).
            self.buf.copy_within(self.start..self.end, 0);
            self.base += self.start as u64;
            self.end -= self.start;
            self.start = 0;
            if n > self.buf.len() {
                self.buf.resize(n.next_power_of_two(), 0);
            }
        }
        while self.available() < n {
            let Some(src) = self.src.as_mut() else { break };
            let got = match src.read(&mut self.buf[self.end..]) {
                Ok(got) => got,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            };
            if got == 0 {
                self.eof = true;
                break;
            }
            self.end += got;
        }
        Ok(self.available())
    }

    pub(crate) fn peek(&self, n: usize) -> &[u8] {
        &self.bytes()[self.start..self.start + n]
    }
}

pub(crate) enum State {
    Pcap(pcap::Header),
    PcapNg(pcapng::Section),
}

/// Reads packets from one capture file or stream.
pub struct CaptureReader<R> {
    pub(crate) name: String,
    pub(crate) buf: Buffer<R>,
    pub(crate) state: State,
    pub(crate) stats: ReadStats,
    pub(crate) last_ts: i64,
    /// Set after a fatal error: the reader returns `None` from then on.
    pub(crate) done: bool,
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
        if meta.is_file() && meta.len() > 0 {
            // SAFETY: the map is read-only and private. If another process
            // truncates the file while we read it, touching the lost pages
            // raises SIGBUS; capture files are not rewritten in place, the
            // same trade ripgrep makes for its mapped reads.
            if let Ok(map) = unsafe { memmap2::Mmap::map(&file) } {
                let _ = map.advise(memmap2::Advice::Sequential);
                return CaptureReader::with_buffer(name, Buffer::mapped(map));
            }
        }
        CaptureReader::new(name, file)
    }
}

impl<R: Read> CaptureReader<R> {
    /// Reads the file header from `src` and chooses the format by its magic.
    pub fn new(name: String, src: R) -> Result<Self, CaptureError> {
        CaptureReader::with_buffer(name, Buffer::new(src))
    }

    fn with_buffer(name: String, mut buf: Buffer<R>) -> Result<Self, CaptureError> {
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
            name,
            buf,
            state,
            stats: ReadStats::default(),
            last_ts: i64::MIN,
            done: false,
        })
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn format(&self) -> Format {
        match self.state {
            State::Pcap(_) => Format::Pcap,
            State::PcapNg(_) => Format::PcapNg,
        }
    }

    pub fn stats(&self) -> &ReadStats {
        &self.stats
    }

    /// Bytes consumed so far (for progress).
    pub fn position(&self) -> u64 {
        self.buf.offset()
    }

    /// The next packet, `None` at the end of the input, or the error that
    /// stops reading (after which `None` follows).
    pub fn next_packet(&mut self) -> Result<Option<Packet<'_>>, CaptureError> {
        if self.done {
            return Ok(None);
        }
        let r = match self.state {
            State::Pcap(_) => pcap::next(self),
            State::PcapNg(_) => pcapng::next(self),
        };
        match r {
            Ok(Some((start, len, meta))) => {
                self.stats.packets += 1;
                self.stats.bytes += len as u64;
                if meta.ts_ns < self.last_ts {
                    self.stats.backwards_timestamps += 1;
                }
                self.last_ts = meta.ts_ns;
                Ok(Some(Packet {
                    ts_ns: meta.ts_ns,
                    link: meta.link,
                    data: &self.buf.bytes()[start..start + len],
                    wire_len: meta.wire_len,
                    number: self.stats.packets,
                    offset: meta.offset,
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

    pub(crate) fn io_error(&self, source: io::Error) -> CaptureError {
        CaptureError::Io {
            name: self.name.clone(),
            source,
        }
    }

    pub(crate) fn damaged(&self, offset: u64, what: impl Into<String>) -> CaptureError {
        CaptureError::Damaged {
            name: self.name.clone(),
            packet: self.stats.packets + 1,
            offset,
            what: what.into(),
        }
    }
}

/// What a format's `next` tells the shared reader about a packet.
pub(crate) struct Meta {
    pub ts_ns: i64,
    pub link: LinkType,
    pub wire_len: u32,
    pub offset: u64,
}
