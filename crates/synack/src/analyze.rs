//! `synack analyze`: packets from capture files through the tracker into
//! one of the outputs, filtered; the exit status says whether every input
//! was read to its end. (`--flow` is `ladder.rs`.)

use crate::cli::AnalyzeArgs;
use crate::inputs;
use crate::output::{self, Run};
use anyhow::{Context, Result};
use std::io::{self, BufWriter};
use std::process::ExitCode;
use synack_capture::pipeline;

pub fn run(args: &AnalyzeArgs) -> Result<ExitCode> {
    let filter = args.filter.filter();
    let mut sink = args.format.sink(args.output.as_deref())?;
    if let Some(path) = &args.report {
        let report = report_sink(path, &args.files)?;
        sink = if args.report_only {
            report
        } else {
            Box::new(output::Tee(sink, report))
        };
    }
    let mut write_error: Option<io::Error> = None;
    let mut terminal = inputs::Terminal::new(!args.no_progress);
    if args.annotate.is_some() {
        crate::annotate::check_inputs(&args.files)?;
    }
    let mut index = args
        .annotate
        .as_ref()
        .map(|_| crate::annotate::Index::default());
    let (report, tracker) = pipeline::analyze(
        &args.files,
        inputs::tracker_config(args)?,
        &mut terminal,
        |h| {
            if let Some(index) = index.as_mut() {
                index.add(&h);
            }
            if filter.matches(&h)
                && let Err(e) = sink.record(&h)
            {
                write_error = Some(e);
                return false;
            }
            true
        },
    );
    if let Some(e) = write_error {
        return Err(e.into());
    }
    // Nothing could be opened: the errors said why, and an empty summary
    // would only hide them.
    if report.opened == 0 && report.unreadable {
        return Ok(inputs::exit_code(&report));
    }
    sink.finish(&Run::Files {
        report: &report,
        tracker: &tracker,
        files: &args.files,
    })?;
    if let (Some(out), Some(index)) = (&args.annotate, index.as_mut()) {
        let (written, commented) = crate::annotate::write(&args.files, index, out, &mut terminal)?;
        eprintln!(
            "synack: wrote {written} packets to {}, {commented} of them with a comment",
            out.display()
        );
    }
    Ok(inputs::exit_code(&report))
}

/// The HTML report's sink, writing to `path` when the run finishes.
pub fn report_sink(
    path: &std::path::Path,
    files: &[std::path::PathBuf],
) -> Result<Box<dyn output::Sink>> {
    let file =
        std::fs::File::create(path).with_context(|| format!("creating {}", path.display()))?;
    let names: Vec<String> = files.iter().map(|f| f.display().to_string()).collect();
    Ok(Box::new(output::report::ReportSink::new(
        BufWriter::new(file),
        &format!("synack report: {}", names.join(", ")),
    )))
}
