//! NDJSON: one `Handshake` per line, the public schema v1 (docs/SCHEMA.md).

use super::{Run, Sink};
use std::io::{self, Write};
use synack_core::Handshake;

pub struct JsonSink<W: Write> {
    out: W,
    line: Vec<u8>,
}

impl<W: Write> JsonSink<W> {
    pub fn new(out: W) -> Self {
        JsonSink {
            out,
            line: Vec::with_capacity(2048),
        }
    }
}

impl<W: Write> Sink for JsonSink<W> {
    fn record(&mut self, h: &Handshake) -> io::Result<()> {
        self.line.clear();
        synack_core::json::write_record(&mut self.line, h);
        self.line.push(b'\n');
        self.out.write_all(&self.line)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.out.flush()
    }

    fn finish(&mut self, _run: &Run<'_>) -> io::Result<()> {
        self.out.flush()
    }
}
