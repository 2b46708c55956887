//! Where a record is printed. Every printer of synack lives in this crate,
//! so that a record, a time or an option list reads the same in every
//! command.
//!
//! Contract: a [`Sink`] per record format takes records one at a time
//! (streaming, bounded memory) and, at the end, what the run was
//! ([`Run`]); nothing here reads a clock, a socket or a file.

#![forbid(unsafe_code)]

pub mod annotate;
pub mod columns;
mod csv;
pub mod cures;
pub mod handshake_metrics;
pub mod host;
mod json;
pub mod ladder;
pub mod live;
pub mod openmetrics;
#[cfg(feature = "parquet")]
pub mod parquet;
pub mod probe;
pub mod report;
mod summary;
pub mod trace;
pub mod trace_metrics;
mod zeek;

use std::io::{self, Write};
use std::path::PathBuf;
use synack_capture::pipeline::InputReport;
use synack_core::{Handshake, TrackerStats};

/// What ran, for the sinks that report it at the end.
pub enum Run<'a> {
    /// Capture files (or standard input) read through the tracker.
    Files {
        files: &'a [PathBuf],
        report: &'a InputReport,
        tracker: &'a TrackerStats,
    },
    /// A live interface.
    Live {
        interface: &'a str,
        frames: u64,
        tracker: &'a TrackerStats,
    },
    /// Active probes: the records say everything.
    Probe,
    /// The kernel's tracepoints (`synack trace`).
    Trace {
        tally: &'a synack_trace::tally::Tally,
    },
}

/// How records are written.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RecordFormat {
    /// Statistics for a person, at the end.
    Summary,
    /// NDJSON, schema v1 (docs/SCHEMA.md).
    Json,
    Csv,
    /// Zeek's conn.log.
    Zeek,
}

pub trait Sink {
    fn record(&mut self, h: &Handshake) -> io::Result<()>;
    /// Hands the records written so far to the output: live sources call
    /// it on their tick, so a record stream piped on (`| jq`) is read as
    /// it comes rather than a buffer at a time.
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
    fn finish(&mut self, run: &Run<'_>) -> io::Result<()>;
}

/// Two sinks fed the same records (a record stream and `--report`).
pub struct Tee(pub Box<dyn Sink>, pub Box<dyn Sink>);

impl Sink for Tee {
    fn record(&mut self, h: &Handshake) -> io::Result<()> {
        self.0.record(h)?;
        self.1.record(h)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.0.flush()?;
        self.1.flush()
    }

    fn finish(&mut self, run: &Run<'_>) -> io::Result<()> {
        self.0.finish(run)?;
        self.1.finish(run)
    }
}

pub fn sink<W: Write + 'static>(format: RecordFormat, out: W) -> Box<dyn Sink> {
    match format {
        RecordFormat::Summary => Box::new(summary::SummarySink::new(out)),
        RecordFormat::Json => Box::new(json::JsonSink::new(out)),
        RecordFormat::Csv => Box::new(csv::CsvSink::new(out)),
        RecordFormat::Zeek => Box::new(zeek::ZeekSink::new(out)),
    }
}

/// TCP options in words, the one way every line prints them:
/// `mss 1460 ws 7 sackOK ts 12345/0 tfo-request` (empty without options).
pub fn options(o: &synack_wire::TcpOptions) -> String {
    use std::fmt::Write as _;
    let mut out = String::new();
    if let Some(m) = o.mss {
        let _ = write!(out, "mss {m} ");
    }
    if let Some(w) = o.wscale {
        let _ = write!(out, "ws {w} ");
    }
    if o.sack_permitted {
        out.push_str("sackOK ");
    }
    if let Some((v, e)) = o.timestamps {
        let _ = write!(out, "ts {v}/{e} ");
    }
    if let Some(tfo) = o.tfo {
        if tfo.is_request() {
            out.push_str("tfo-request ");
        } else {
            let _ = write!(
                out,
                "tfo-cookie {} ",
                synack_core::handshake::hex(tfo.cookie())
            );
        }
    }
    if o.mptcp_subtype.is_some() {
        out.push_str("mptcp ");
    }
    out.truncate(out.trim_end().len());
    out
}

/// "1 SYN", "3 SYNs": a count with its noun in the right number.
pub fn count(n: u64, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

/// A duration for people: ns below a microsecond, µs below a millisecond,
/// ms below a second.
pub fn human_ns(ns: i64) -> String {
    let mut out = Vec::with_capacity(16);
    write_human_ns(&mut out, ns);
    String::from_utf8(out).unwrap_or_default()
}

/// [`human_ns`], appended: in integers and without allocating, since a
/// live line per connection is written at tens of thousands a second.
pub fn write_human_ns(out: &mut Vec<u8>, ns: i64) {
    let mut number = itoa::Buffer::new();
    let n = ns.unsigned_abs();
    if n < 1_000 {
        out.extend_from_slice(number.format(ns).as_bytes());
        out.extend_from_slice(b" ns");
        return;
    }
    if ns < 0 {
        out.push(b'-');
    }
    let (whole, fraction, decimals, unit) = if n < 1_000_000 {
        (round_half_even(n, 1_000), 0, 0, " µs")
    } else if n < 1_000_000_000 {
        let cs = round_half_even(n, 10_000);
        (cs / 100, cs % 100, 2, " ms")
    } else {
        let ms = round_half_even(n, 1_000_000);
        (ms / 1000, ms % 1000, 3, " s")
    };
    out.extend_from_slice(number.format(whole).as_bytes());
    if decimals > 0 {
        out.push(b'.');
        // Zero-padded: the digits of 10^decimals + fraction after its 1.
        out.extend_from_slice(&number.format(fraction + 10u64.pow(decimals)).as_bytes()[1..]);
    }
    out.extend_from_slice(unit.as_bytes());
}

/// `n / d` rounded to the nearest, ties to even (as `{:.N}` rounds).
fn round_half_even(n: u64, d: u64) -> u64 {
    let (q, r) = (n / d, n % d);
    if 2 * r > d || (2 * r == d && q % 2 == 1) {
        q + 1
    } else {
        q
    }
}

/// Microseconds with three decimals, or empty.
pub fn us_field(ns: Option<i64>) -> String {
    ns.map(|n| format!("{:.3}", n as f64 / 1000.0))
        .unwrap_or_default()
}

#[cfg(test)]
mod human_ns_tests {
    use super::human_ns;

    /// The float formatting it replaced, for comparison.
    fn by_float(ns: i64) -> String {
        let us = ns as f64 / 1000.0;
        if ns.abs() < 1000 {
            format!("{ns} ns")
        } else if us.abs() < 1000.0 {
            format!("{us:.0} µs")
        } else if us.abs() < 1_000_000.0 {
            format!("{:.2} ms", us / 1000.0)
        } else {
            format!("{:.3} s", us / 1_000_000.0)
        }
    }

    #[test]
    fn durations_print_as_the_float_formatting_did() {
        let mut ns: i64 = 1;
        // Values across every unit, and around each boundary.
        while ns < 10_000_000_000 {
            for n in [ns, ns + 1, ns * 3 + 7, -ns] {
                assert_eq!(human_ns(n), by_float(n), "{n} ns");
            }
            ns = ns * 5 / 3 + 1;
        }
        for n in [999, 1_000, 999_999, 1_000_000, 999_999_999, 1_000_000_000] {
            assert_eq!(human_ns(n), by_float(n), "{n} ns");
        }
        assert_eq!(human_ns(2_500), "2 µs", "a tie goes to the even");
        assert_eq!(human_ns(1_234_567), "1.23 ms");
        assert_eq!(human_ns(61_500_000_000), "61.500 s");
    }
}

#[cfg(test)]
mod flush_tests {
    use super::*;
    use std::cell::RefCell;
    use std::rc::Rc;

    /// What reached the writer under the sink's buffer.
    #[derive(Clone, Default)]
    struct Shared(Rc<RefCell<Vec<u8>>>);

    impl Write for Shared {
        fn write(&mut self, b: &[u8]) -> io::Result<usize> {
            self.0.borrow_mut().extend_from_slice(b);
            Ok(b.len())
        }

        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn live_records_reach_the_output_when_flushed_not_at_the_end() {
        let h = Handshake::observed(
            1_700_000_000_000_000_000,
            synack_core::Source::Ebpf,
            "10.0.0.1:40000".parse().unwrap(),
            "10.0.0.2:80".parse().unwrap(),
            synack_core::Outcome::Established,
        );
        for format in [RecordFormat::Json, RecordFormat::Csv, RecordFormat::Zeek] {
            let shared = Shared::default();
            let mut sink = sink(format, io::BufWriter::new(shared.clone()));
            sink.record(&h).unwrap();
            assert!(shared.0.borrow().is_empty(), "{format:?}: buffered");
            sink.flush().unwrap();
            let out = String::from_utf8(shared.0.borrow().clone()).unwrap();
            assert!(out.contains("10.0.0.2"), "{format:?}: {out}");
        }
    }
}
