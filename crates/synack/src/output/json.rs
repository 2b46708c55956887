//! NDJSON: one `Handshake` per line, the public schema v1 (DESIGN.md).

use super::{Context, Sink};
use std::io::{self, Write};
use synack_core::Handshake;

pub struct JsonSink<W: Write> {
    out: W,
}

impl<W: Write> JsonSink<W> {
    pub fn new(out: W) -> Self {
        JsonSink { out }
    }
}

impl<W: Write> Sink for JsonSink<W> {
    fn record(&mut self, h: &Handshake) -> io::Result<()> {
        serde_json::to_writer(&mut self.out, h).map_err(io::Error::other)?;
        self.out.write_all(b"\n")
    }

    fn finish(&mut self, _ctx: &Context<'_>) -> io::Result<()> {
        self.out.flush()
    }
}
