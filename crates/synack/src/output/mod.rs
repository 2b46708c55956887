//! Where a record is printed: one `Sink` per output format. Every sink takes
//! records one at a time (streaming, bounded memory) and gets the read and
//! tracker counters at the end.

mod csv;
mod json;
mod summary;
mod zeek;

use crate::cli::Format;
use crate::input::InputReport;
use std::io::{self, Write};
use std::path::PathBuf;
use synack_core::{Handshake, TrackerStats};

/// What the run saw, for sinks that report it.
pub struct Context<'a> {
    pub report: &'a InputReport,
    pub tracker: &'a TrackerStats,
    pub files: &'a [PathBuf],
}

pub trait Sink {
    fn record(&mut self, h: &Handshake) -> io::Result<()>;
    fn finish(&mut self, ctx: &Context<'_>) -> io::Result<()>;
}

pub fn sink<W: Write + 'static>(format: Format, out: W) -> Box<dyn Sink> {
    match format {
        Format::Summary => Box::new(summary::SummarySink::new(out)),
        Format::Json => Box::new(json::JsonSink::new(out)),
        Format::Csv => Box::new(csv::CsvSink::new(out)),
        Format::Zeek => Box::new(zeek::ZeekSink::new(out)),
    }
}

/// A duration for people: µs below a millisecond, ms below a second.
pub fn human_ns(ns: i64) -> String {
    let us = ns as f64 / 1000.0;
    if us.abs() < 1000.0 {
        format!("{us:.0} µs")
    } else if us.abs() < 1_000_000.0 {
        format!("{:.2} ms", us / 1000.0)
    } else {
        format!("{:.3} s", us / 1_000_000.0)
    }
}

/// Microseconds with three decimals, or empty.
pub fn us_field(ns: Option<i64>) -> String {
    ns.map(|n| format!("{:.3}", n as f64 / 1000.0))
        .unwrap_or_default()
}
