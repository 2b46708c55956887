//! `synack analyze`: packets from capture files through the tracker into
//! one of the outputs, filtered; the exit status says whether every input
//! was read to its end. (`--flow` is `ladder.rs`.)

use crate::cli::AnalyzeArgs;
use crate::inputs;
use crate::output::{self, Run};
use anyhow::Result;
use std::io::{self, BufWriter};
use std::process::ExitCode;
use synack_capture::pipeline;

pub fn run(args: &AnalyzeArgs) -> Result<ExitCode> {
    let filter = args.filter.filter();
    let stdout = BufWriter::with_capacity(1 << 16, io::stdout().lock());
    let mut sink = output::sink(args.format.into(), stdout);
    let mut write_error: Option<io::Error> = None;
    let mut terminal = inputs::Terminal::new(!args.no_progress);
    let (report, tracker) = pipeline::analyze(
        &args.files,
        inputs::tracker_config(args)?,
        &mut terminal,
        |h| {
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
    Ok(inputs::exit_code(&report))
}
