//! What a hostile server may answer the HTTP probes (`--reuse`, `--cures`,
//! `--url`): any bytes as HTTP/1.1 responses, and as the frames of an
//! HTTP/2 connection. Both readers end with an answer or an error, never
//! a panic, and the HTTP/2 one never counts a stream twice.
#![no_main]
use libfuzzer_sys::fuzz_target;
use std::io::{self, BufReader, Cursor, Read, Write};

/// A connection whose server sends `input` and takes anything.
struct Server<'a>(Cursor<&'a [u8]>);

impl Read for Server<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.0.read(buf)
    }
}

impl Write for Server<'_> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

fuzz_target!(|data: &[u8]| {
    let mut reader = BufReader::new(data);
    // Each response read consumes bytes or ends the loop.
    while synack_probe::http1::read_response(&mut reader).is_ok() {}

    let server = Server(Cursor::new(data));
    let Ok(mut h2) = synack_probe::http2::Http2::start(server, true, "fuzz".into()) else {
        return;
    };
    if let Ok(streams) = h2.get("/", 4, 2) {
        let mut seen: Vec<usize> = streams.iter().map(|s| s.index).collect();
        seen.sort();
        assert_eq!(seen, vec![0, 1, 2, 3]);
    }
});
