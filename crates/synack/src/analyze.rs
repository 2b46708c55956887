//! `synack analyze`: packets from capture files through the tracker into
//! one of the outputs, filtered; the exit status says whether every input
//! was read to its end.

use crate::cli::AnalyzeArgs;
use crate::filter::Filter;
use crate::input;
use crate::output::{self, Context};
use anyhow::Result;
use std::io::{self, BufWriter};
use std::process::ExitCode;
use synack_core::{Tracker, TrackerConfig};

pub fn tracker_config(args: &AnalyzeArgs) -> TrackerConfig {
    let mut config = TrackerConfig {
        verify_checksums: args.verify_checksums,
        ..TrackerConfig::default()
    };
    if let Some(n) = args.max_flows {
        config.max_flows = n.max(1);
    }
    config
}

pub fn run(args: &AnalyzeArgs) -> Result<ExitCode> {
    if let Some(selector) = &args.flow {
        return crate::ladder::run(args, selector);
    }
    let filter = Filter::from_args(args);
    let mut tracker = Tracker::new(tracker_config(args));
    let stdout = BufWriter::with_capacity(1 << 16, io::stdout().lock());
    let mut sink = output::sink(args.format, stdout);
    let mut records = Vec::new();
    let mut write_error: Option<io::Error> = None;
    let mut deliver = |records: &mut Vec<_>, sink: &mut Box<dyn output::Sink>| {
        for h in records.drain(..) {
            if write_error.is_none()
                && filter.matches(&h)
                && let Err(e) = sink.record(&h)
            {
                write_error = Some(e);
            }
        }
        write_error.is_none()
    };
    let report = input::for_each_packet(&args.files, !args.no_progress, |p| {
        tracker.handle_frame(p.ts_ns, p.link, p.data, &mut records);
        records.is_empty() || deliver(&mut records, &mut sink)
    });
    tracker.finish(&mut records);
    deliver(&mut records, &mut sink);
    if let Some(e) = write_error {
        return Err(e.into());
    }
    sink.finish(&Context {
        report: &report,
        tracker: tracker.stats(),
        files: &args.files,
    })?;
    Ok(exit_code(&report))
}

pub fn exit_code(report: &input::InputReport) -> ExitCode {
    if report.unreadable {
        ExitCode::from(2)
    } else if report.damaged {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    }
}
