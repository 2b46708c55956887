//! Where packets enter the command: each input file (or standard input) in
//! turn, through the capture readers, with a progress bar on a terminal.
//! Problems become one-line messages naming the file, packet and offset;
//! reading continues with the next file.

use indicatif::{ProgressBar, ProgressStyle};
use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use synack_capture::{CaptureError, CaptureReader, Packet, ReadStats};

/// What reading all inputs came to.
#[derive(Debug, Default)]
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
    pub skipped_blocks: u64,
    /// The consumer asked to stop early (e.g. its output pipe closed).
    pub stopped: bool,
}

impl InputReport {
    fn add(&mut self, s: &ReadStats) {
        self.packets += s.packets;
        self.bytes += s.bytes;
        self.over_snaplen += s.over_snaplen;
        self.backwards_timestamps += s.backwards_timestamps;
        self.skipped_blocks += s.skipped_blocks;
    }
}

/// Files smaller than this read too fast for a progress bar to help.
const PROGRESS_MIN_BYTES: u64 = 64 << 20;

fn progress_bar(path: &Path, enabled: bool) -> Option<ProgressBar> {
    let len = std::fs::metadata(path).ok()?.len();
    if !enabled || len < PROGRESS_MIN_BYTES || !std::io::stderr().is_terminal() {
        return None;
    }
    let bar = ProgressBar::new(len);
    bar.set_style(
        ProgressStyle::with_template(
            "{prefix} [{bar:30}] {bytes}/{total_bytes} {bytes_per_sec} eta {eta}",
        )
        .unwrap_or_else(|_| ProgressStyle::default_bar())
        .progress_chars("=> "),
    );
    bar.set_prefix(path.display().to_string());
    Some(bar)
}

/// Calls `f` with every packet of every input, in order, until it returns false.
pub fn for_each_packet(
    files: &[PathBuf],
    progress: bool,
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
                .map(|mut r| read_all(&mut r, None, &mut f, &mut report))
        } else {
            let bar = progress_bar(path, progress);
            CaptureReader::open(path).map(|mut r| read_all(&mut r, bar, &mut f, &mut report))
        };
        match result {
            Ok(Ok(())) => {}
            Ok(Err(e)) | Err(e) => {
                eprintln!("synack: {e}");
                if e.is_damage() {
                    eprintln!("synack: results include every packet before the damage");
                    report.damaged = true;
                } else {
                    report.unreadable = true;
                }
            }
        }
    }
    report
}

fn read_all<R: std::io::Read>(
    reader: &mut CaptureReader<R>,
    bar: Option<ProgressBar>,
    f: &mut impl FnMut(&Packet<'_>) -> bool,
    report: &mut InputReport,
) -> Result<(), CaptureError> {
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
        if n.is_multiple_of(65_536)
            && let Some(b) = &bar
        {
            b.set_position(reader.position());
        }
    }
    if let Some(b) = bar {
        b.finish_and_clear();
    }
    report.add(reader.stats());
    result
}
