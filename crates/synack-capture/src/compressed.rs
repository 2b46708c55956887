//! Compressed captures: gzip, zstd and LZ4 (frame format) are told apart by
//! their magic bytes, never by the file's name, and decompressed as a
//! stream, so `analyze x.pcap.gz` and `curl ... | synack analyze -` both
//! work without a temporary file. The decoders are pure Rust (flate2 with
//! miniz_oxide, ruzstd, lz4_flex). Byte offsets in messages about a
//! compressed file count decompressed bytes.

use std::io::{self, Read};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

/// How the input was compressed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Compression {
    None,
    Gzip,
    Zstd,
    Lz4,
}

impl Compression {
    /// RFC 1952 (gzip), RFC 8878 (zstd frame), the LZ4 frame format.
    pub fn of(magic: &[u8]) -> Compression {
        match magic {
            [0x1f, 0x8b, ..] => Compression::Gzip,
            [0x28, 0xb5, 0x2f, 0xfd, ..] => Compression::Zstd,
            [0x04, 0x22, 0x4d, 0x18, ..] => Compression::Lz4,
            _ => Compression::None,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Compression::None => "uncompressed",
            Compression::Gzip => "gzip",
            Compression::Zstd => "zstd",
            Compression::Lz4 => "lz4",
        }
    }
}

/// The source, counting the bytes taken from it (for progress through a
/// compressed file, whose decompressed offset says nothing of its size).
pub(crate) struct Counted<R> {
    src: R,
    taken: Arc<AtomicU64>,
}

impl<R: Read> Read for Counted<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.src.read(buf)?;
        self.taken.fetch_add(n as u64, Ordering::Relaxed);
        Ok(n)
    }
}

/// The magic bytes already read, then the rest of the source.
type Rest<R> = io::Chain<io::Cursor<Vec<u8>>, Counted<R>>;

/// The input as the capture readers see it: decompressed if need be.
pub(crate) enum Input<R: Read> {
    Plain(Rest<R>),
    Gzip(Box<flate2::read::MultiGzDecoder<Rest<R>>>),
    Zstd(Box<ruzstd::decoding::StreamingDecoder<Rest<R>, ruzstd::decoding::FrameDecoder>>),
    Lz4(Box<lz4_flex::frame::FrameDecoder<Rest<R>>>),
}

impl<R: Read> Read for Input<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Input::Plain(r) => r.read(buf),
            Input::Gzip(r) => r.read(buf),
            Input::Zstd(r) => r.read(buf),
            Input::Lz4(r) => r.read(buf),
        }
    }
}

/// Looks at the first bytes of `src` and puts the right decoder in front
/// of it. Also returns the count of bytes taken from `src` so far.
pub(crate) fn open<R: Read>(src: R) -> io::Result<(Compression, Input<R>, Arc<AtomicU64>)> {
    let taken = Arc::new(AtomicU64::new(0));
    let mut src = Counted {
        src,
        taken: taken.clone(),
    };
    let mut magic = Vec::with_capacity(4);
    (&mut src).take(4).read_to_end(&mut magic)?;
    let kind = Compression::of(&magic);
    let rest = io::Cursor::new(magic).chain(src);
    let input = match kind {
        Compression::None => Input::Plain(rest),
        Compression::Gzip => Input::Gzip(Box::new(flate2::read::MultiGzDecoder::new(rest))),
        Compression::Zstd => Input::Zstd(Box::new(
            ruzstd::decoding::StreamingDecoder::new(rest).map_err(|e| {
                io::Error::new(
                    io::ErrorKind::InvalidData,
                    format!("zstd-compressed, but its frame header is unreadable: {e}"),
                )
            })?,
        )),
        Compression::Lz4 => Input::Lz4(Box::new(lz4_flex::frame::FrameDecoder::new(rest))),
    };
    Ok((kind, input, taken))
}
