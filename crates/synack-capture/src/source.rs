//! What both formats read from: a buffer that refills from any `Read` in
//! large chunks, the per-file counters, and errors that name the file, the
//! packet and the byte offset.

use crate::error::CaptureError;
use std::io::{self, Read};
use synack_wire::LinkType;

/// Chunk size: large enough that a `read` is rare, small enough that what
/// it brought is still in the L2 cache when the records are walked (128 KiB
/// measured 3-7% faster than 4 MiB on the benchmark capture and on a SYN
/// flood, whose flow table pushes older data out of the caches).
pub(crate) const CHUNK: usize = 128 << 10;
/// The largest record accepted (libpcap's MAXIMUM_SNAPLEN is 256 KiB; pcapng
/// blocks may carry a little more for options).
pub(crate) const MAX_RECORD: usize = 16 << 20;

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
    /// Records claiming more captured bytes than were on the wire (a
    /// writer's bug; the wire length is taken as the larger).
    pub captured_over_wire: u64,
}

/// A window onto the input: `buf[start..end]` holds bytes not yet
/// consumed, refilled by `read` in large chunks.
pub(crate) struct Buffer<R> {
    src: R,
    pub(crate) buf: Vec<u8>,
    pub(crate) start: usize,
    pub(crate) end: usize,
    eof: bool,
    /// File offset of `buf[0]`.
    pub(crate) base: u64,
}

impl<R: Read> Buffer<R> {
    pub(crate) fn new(src: R) -> Self {
        Buffer {
            src,
            buf: vec![0; CHUNK],
            start: 0,
            end: 0,
            eof: false,
            base: 0,
        }
    }

    #[inline]
    pub(crate) fn available(&self) -> usize {
        self.end - self.start
    }

    /// File offset of the next unread byte.
    #[inline]
    pub(crate) fn offset(&self) -> u64 {
        self.base + self.start as u64
    }

    /// Consumes `n` bytes.
    #[inline]
    pub(crate) fn consume(&mut self, n: usize) {
        self.start += n;
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
            let got = match self.src.read(&mut self.buf[self.end..]) {
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
        &self.buf[self.start..self.start + n]
    }
}

/// One input being read: its name, its buffer, its counters.
pub(crate) struct Source<R> {
    pub(crate) name: String,
    pub(crate) buf: Buffer<R>,
    pub(crate) stats: ReadStats,
}

impl<R: Read> Source<R> {
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
    /// A pcapng packet's comment: where it is in the buffer, its length.
    pub comment: Option<(usize, usize)>,
}
