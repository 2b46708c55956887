//! The file pipeline, in one place for the command, the tests, the
//! conformance test and the fuzz target: each input (a path, or `-` for
//! standard input) in turn through the readers, every packet into a
//! [`Tracker`], every finished record to the caller.
//!
//! Contract: a damaged input stops that input only; everything read
//! before the damage has been handed over, the problem goes to the
//! [`Observer`] (file, packet number, byte offset) and reading goes on with
//! the next input. Memory is the tracker's bound plus one read chunk.

use crate::{CaptureError, CaptureReader, Compression, Packet, ReadStats};
use std::path::{Path, PathBuf};
use synack_core::{EachRecord, Handshake, Tracker, TrackerConfig, TrackerStats};

/// What reading all inputs came to.
#[derive(Debug, Default, Clone)]
pub struct InputReport {
    pub files: usize,
    pub packets: u64,
    pub bytes: u64,
    /// An input was damaged part-way (exit status 1).
    pub damaged: bool,
    /// An input could not be opened or is not a capture (exit status 2).
    pub unreadable: bool,
    pub over_snaplen: u64,
    pub backwards_timestamps: u64,
    /// pcapng blocks that carry no packets (statistics, names, custom).
    pub skipped_blocks: u64,
    /// Records claiming more captured bytes than were on the wire.
    pub captured_over_wire: u64,
    /// Inputs opened as captures (the others were unreadable).
    pub opened: usize,
    /// The consumer asked to stop early (e.g. its output pipe closed).
    pub stopped: bool,
    /// How compressed inputs were compressed ("gzip", "zstd", "lz4"), each
    /// kind once.
    pub compressed: Vec<&'static str>,
}

impl InputReport {
    fn add(&mut self, s: &ReadStats) {
        self.packets += s.packets;
        self.bytes += s.bytes;
        self.over_snaplen += s.over_snaplen;
        self.backwards_timestamps += s.backwards_timestamps;
        self.skipped_blocks += s.skipped_blocks;
        self.captured_over_wire += s.captured_over_wire;
        self.opened += 1;
    }
}

/// Told what the pipeline is doing: progress through a file, and the
/// problems it meets. The command draws a progress bar and prints the
/// problems; tests collect them.
pub trait Observer {
    /// A file of `len` bytes is about to be read (not called for stdin).
    fn file_started(&mut self, _path: &Path, _len: u64) {}
    /// `position` bytes of the current file have been read.
    fn progress(&mut self, _position: u64) {}
    fn file_done(&mut self) {}
    /// An input could not be read to its end.
    fn problem(&mut self, error: &CaptureError);
}

/// An observer that keeps the problems and shows no progress.
#[derive(Debug, Default)]
pub struct Problems(pub Vec<String>);

impl Observer for Problems {
    fn problem(&mut self, error: &CaptureError) {
        self.0.push(error.to_string());
    }
}

/// Packets between two progress reports.
const PROGRESS_EVERY: u64 = 65_536;

/// Calls `f` with every packet of every input, in order, until it returns
/// false.
pub fn for_each_packet(
    files: &[PathBuf],
    observer: &mut dyn Observer,
    mut f: impl FnMut(&Packet<'_>) -> bool,
) -> InputReport {
    let mut report = InputReport::default();
    for path in files {
        if report.stopped {
            break;
        }
        report.files += 1;
        let result = if path.as_os_str() == "-" {
            CaptureReader::new("<stdin>".to_string(), std::io::stdin().lock())
                .map(|mut r| read_all(&mut r, observer, &mut f, &mut report))
        } else {
            CaptureReader::open(path).map(|mut r| {
                observer.file_started(path, std::fs::metadata(path).map_or(0, |m| m.len()));
                let result = read_all(&mut r, observer, &mut f, &mut report);
                observer.file_done();
                result
            })
        };
        if let Ok(Err(e)) | Err(e) = result {
            observer.problem(&e);
            if e.is_damage() {
                report.damaged = true;
            } else {
                report.unreadable = true;
            }
        }
    }
    report
}

fn read_all<R: std::io::Read>(
    reader: &mut CaptureReader<R>,
    observer: &mut dyn Observer,
    f: &mut impl FnMut(&Packet<'_>) -> bool,
    report: &mut InputReport,
) -> Result<(), CaptureError> {
    let kind = reader.compression();
    if kind != Compression::None && !report.compressed.contains(&kind.name()) {
        report.compressed.push(kind.name());
    }
    let mut result = Ok(());
    let mut n = 0u64;
    loop {
        match reader.next_packet() {
            Ok(Some(p)) => {
                if !f(&p) {
                    report.stopped = true;
                    break;
                }
            }
            Ok(None) => break,
            Err(e) => {
                result = Err(e);
                break;
            }
        }
        n += 1;
        if n.is_multiple_of(PROGRESS_EVERY) {
            observer.progress(reader.position());
        }
    }
    report.add(reader.stats());
    result
}

/// Every input through one tracker: each finished record goes to
/// `record`, which returns false to stop reading (its output closed).
/// Records still open at the end are finished as the capture left them.
pub fn analyze(
    files: &[PathBuf],
    config: TrackerConfig,
    observer: &mut dyn Observer,
    mut record: impl FnMut(Handshake) -> bool,
) -> (InputReport, TrackerStats) {
    let mut tracker = Tracker::new(config);
    // Records go to `record` as they are made; once it says stop, the rest
    // are dropped and reading ends.
    let go_on = std::cell::Cell::new(true);
    let mut deliver = EachRecord(|h| {
        if go_on.get() {
            go_on.set(record(h));
        }
    });
    let report = for_each_packet(files, observer, |p| {
        tracker.handle_frame(p.ts_ns, p.link, p.data, &mut deliver);
        go_on.get()
    });
    if go_on.get() {
        tracker.finish_each(&mut deliver.0);
    }
    (report, tracker.stats().clone())
}

/// One input through a fresh tracker, all records kept: for tests, the
/// conformance check and the fuzz target, whose inputs are small. A damaged
/// input still gives every record before the damage, and the damage.
pub fn read_records<R: std::io::Read>(
    mut reader: CaptureReader<R>,
    config: TrackerConfig,
) -> (Vec<Handshake>, Option<CaptureError>) {
    let mut tracker = Tracker::new(config);
    let mut records = Vec::new();
    let damage = loop {
        match reader.next_packet() {
            Ok(Some(p)) => tracker.handle_frame(p.ts_ns, p.link, p.data, &mut records),
            Ok(None) => break None,
            Err(e) => break Some(e),
        }
    };
    tracker.finish(&mut records);
    (records, damage)
}
