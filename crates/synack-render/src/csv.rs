//! CSV: one row per attempt with a header; the flat subset of the schema
//! that spreadsheets and `xsv` want, same names as the JSON fields.

use super::{Run, Sink, us_field};
use crate::columns::{COLUMNS, Kind, Value, row};
use std::io::{self, Write};
use synack_core::{Handshake, time};

pub struct CsvSink<W: Write> {
    out: ::csv::Writer<W>,
    header_written: bool,
}

impl<W: Write> CsvSink<W> {
    pub fn new(out: W) -> Self {
        CsvSink {
            out: ::csv::Writer::from_writer(out),
            header_written: false,
        }
    }

    fn header(&mut self) -> io::Result<()> {
        if !self.header_written {
            self.header_written = true;
            self.out
                .write_record(COLUMNS.iter().map(|c| c.0))
                .map_err(io_error)?;
        }
        Ok(())
    }
}

/// A cell as CSV text: times in RFC 3339, durations in µs with three
/// decimals, nothing for a null.
fn text(kind: Kind, v: Value) -> String {
    match (kind, v) {
        (_, Value::Null) => String::new(),
        (Kind::Timestamp, Value::Int(ns)) => time::rfc3339(ns),
        (Kind::Micros, Value::Int(ns)) => us_field(Some(ns)),
        (_, Value::Int(n)) => n.to_string(),
        (_, Value::Bool(b)) => b.to_string(),
        (_, Value::Text(t)) => t,
    }
}

impl<W: Write> Sink for CsvSink<W> {
    fn record(&mut self, h: &Handshake) -> io::Result<()> {
        self.header()?;
        let cells = COLUMNS
            .iter()
            .zip(row(h))
            .map(|((_, kind), v)| text(*kind, v));
        self.out.write_record(cells).map_err(io_error)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.out.flush()
    }

    fn finish(&mut self, _run: &Run<'_>) -> io::Result<()> {
        self.header()?;
        self.out.flush()
    }
}

/// The csv crate's error as the I/O error it wraps, when it wraps one, so
/// that a closed pipe (`| head`) is seen as one and ends quietly.
fn io_error(e: ::csv::Error) -> io::Error {
    match e.into_kind() {
        ::csv::ErrorKind::Io(e) => e,
        other => io::Error::other(format!("{other:?}")),
    }
}
