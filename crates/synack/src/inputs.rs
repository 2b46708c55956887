//! What `analyze` and `analyze --flow` share: the tracker's settings and
//! the record filter from the arguments, the exit status from what reading
//! came to, and the pipeline's observer on a terminal (progress bar,
//! problems as they come).

use crate::cli::AnalyzeArgs;
use anyhow::{Result, bail};
use indicatif::{ProgressBar, ProgressStyle};
use std::io::IsTerminal;
use std::path::Path;
use std::process::ExitCode;
use synack_capture::CaptureError;
use synack_capture::pipeline::{InputReport, Observer};
use synack_core::TrackerConfig;

pub fn tracker_config(args: &AnalyzeArgs) -> Result<TrackerConfig> {
    let mut config = TrackerConfig {
        verify_checksums: args.verify_checksums,
        ..TrackerConfig::default()
    };
    if let Some(n) = args.max_flows {
        if n == 0 {
            bail!("--max-flows must be at least 1");
        }
        config.max_flows = n;
    }
    Ok(config)
}

pub fn exit_code(report: &InputReport) -> ExitCode {
    if report.unreadable {
        ExitCode::from(2)
    } else if report.damaged {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    }
}

/// Files smaller than this read too fast for a progress bar to help.
const PROGRESS_MIN_BYTES: u64 = 64 << 20;

/// The pipeline's observer on a terminal: a progress bar for large files
/// (when stderr is a terminal), problems printed as they come.
pub struct Terminal {
    progress: bool,
    bar: Option<ProgressBar>,
}

impl Terminal {
    pub fn new(progress: bool) -> Terminal {
        Terminal {
            progress: progress && std::io::stderr().is_terminal(),
            bar: None,
        }
    }
}

impl Observer for Terminal {
    fn file_started(&mut self, path: &Path, len: u64) {
        if !self.progress || len < PROGRESS_MIN_BYTES {
            return;
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
        self.bar = Some(bar);
    }

    fn progress(&mut self, position: u64) {
        if let Some(b) = &self.bar {
            b.set_position(position);
        }
    }

    fn file_done(&mut self) {
        if let Some(b) = self.bar.take() {
            b.finish_and_clear();
        }
    }

    fn problem(&mut self, e: &CaptureError) {
        self.file_done();
        eprintln!("synack: {e}");
        if e.is_damage() {
            eprintln!("synack: results include every packet before the damage");
        }
    }
}
