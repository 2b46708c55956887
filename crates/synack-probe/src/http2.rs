//! A small synchronous HTTP/2 client (RFC 9113), enough to measure what
//! multiplexing saves: GET requests as concurrent streams on one
//! connection, each timed from its HEADERS frame out to its last frame in.
//! Header blocks are HPACK (RFC 7541) through loona-hpack. Synchronous on
//! purpose: it runs on the same blocking, timed TLS connection as every
//! other measurement, with no async runtime in the probe.
//!
//! Flow control is opened wide at the start (a 1 GiB window for the
//! connection and for each stream), so bodies never wait for a
//! WINDOW_UPDATE from us; frames bigger than the 16 KiB we allow are an
//! error, as are GOAWAY and RST_STREAM.

use std::io::{self, Read, Write};
use std::time::Instant;

const PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";
const MAX_FRAME: usize = 16_384;
const WINDOW: u32 = 1 << 30;

mod frame {
    pub const DATA: u8 = 0;
    pub const HEADERS: u8 = 1;
    pub const RST_STREAM: u8 = 3;
    pub const SETTINGS: u8 = 4;
    pub const PING: u8 = 6;
    pub const GOAWAY: u8 = 7;
    pub const WINDOW_UPDATE: u8 = 8;
    pub const CONTINUATION: u8 = 9;
}

mod flag {
    pub const END_STREAM: u8 = 0x1;
    pub const ACK: u8 = 0x1;
    pub const END_HEADERS: u8 = 0x4;
    pub const PADDED: u8 = 0x8;
    pub const PRIORITY: u8 = 0x20;
}

/// One request's times and answer.
#[derive(Clone, Debug)]
pub struct StreamTimes {
    /// 0 for the first request sent, 1 for the next, ...
    pub index: usize,
    pub sent: Instant,
    /// The response's HEADERS frame.
    pub first_byte: Option<Instant>,
    /// Its last frame (END_STREAM).
    pub done: Instant,
    pub status: u16,
}

struct Open {
    index: usize,
    id: u32,
    sent: Instant,
    first_byte: Option<Instant>,
    status: u16,
}

/// An HTTP/2 connection over `io` (TLS with ALPN "h2", or cleartext with
/// prior knowledge).
pub struct Http2<T: Read + Write> {
    io: T,
    scheme: &'static str,
    authority: String,
    encoder: loona_hpack::Encoder<'static>,
    decoder: loona_hpack::Decoder<'static>,
    next_id: u32,
    /// The server's SETTINGS_MAX_CONCURRENT_STREAMS.
    pub max_concurrent: Option<u32>,
}

fn protocol_error(what: String) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, what)
}

/// RFC 9113 section 7 error codes, named.
fn error_name(code: u32) -> &'static str {
    match code {
        0 => "NO_ERROR",
        1 => "PROTOCOL_ERROR",
        2 => "INTERNAL_ERROR",
        3 => "FLOW_CONTROL_ERROR",
        5 => "STREAM_CLOSED",
        6 => "FRAME_SIZE_ERROR",
        7 => "REFUSED_STREAM",
        8 => "CANCEL",
        9 => "COMPRESSION_ERROR",
        11 => "ENHANCE_YOUR_CALM",
        13 => "HTTP_1_1_REQUIRED",
        _ => "an unknown error code",
    }
}

impl<T: Read + Write> Http2<T> {
    /// Sends the connection preface, our SETTINGS (no push, wide windows)
    /// and the connection's WINDOW_UPDATE; the server's SETTINGS are read
    /// with the first answers.
    pub fn start(mut io: T, tls: bool, authority: String) -> io::Result<Http2<T>> {
        let mut out = PREFACE.to_vec();
        let mut settings = Vec::new();
        for (id, value) in [(0x2u16, 0u32), (0x4, WINDOW)] {
            settings.extend_from_slice(&id.to_be_bytes());
            settings.extend_from_slice(&value.to_be_bytes());
        }
        put_frame(&mut out, frame::SETTINGS, 0, 0, &settings);
        put_frame(
            &mut out,
            frame::WINDOW_UPDATE,
            0,
            0,
            &(WINDOW - 65_535).to_be_bytes(),
        );
        io.write_all(&out)?;
        Ok(Http2 {
            io,
            scheme: if tls { "https" } else { "http" },
            authority,
            encoder: loona_hpack::Encoder::new(),
            decoder: loona_hpack::Decoder::new(),
            next_id: 1,
            max_concurrent: None,
        })
    }

    /// GETs `path` `n` times with at most `concurrency` streams open at once
    /// (fewer if the server allows fewer), and returns each stream's times
    /// in the order they finished.
    pub fn get(
        &mut self,
        path: &str,
        n: usize,
        concurrency: usize,
    ) -> io::Result<Vec<StreamTimes>> {
        let mut open: Vec<Open> = Vec::new();
        let mut done = Vec::with_capacity(n);
        let mut started = 0;
        let mut block = Vec::new();
        while done.len() < n {
            let limit = concurrency
                .min(self.max_concurrent.map_or(usize::MAX, |m| m as usize))
                .max(1);
            let mut out = Vec::new();
            while started < n && open.len() < limit {
                let id = self.next_id;
                self.next_id += 2;
                let headers = self.encoder.encode([
                    (&b":method"[..], &b"GET"[..]),
                    (b":scheme", self.scheme.as_bytes()),
                    (b":authority", self.authority.as_bytes()),
                    (b":path", path.as_bytes()),
                    (b"user-agent", b"synack-probe"),
                ]);
                put_frame(
                    &mut out,
                    frame::HEADERS,
                    flag::END_STREAM | flag::END_HEADERS,
                    id,
                    &headers,
                );
                open.push(Open {
                    index: started,
                    id,
                    sent: Instant::now(),
                    first_byte: None,
                    status: 0,
                });
                started += 1;
            }
            if !out.is_empty() {
                self.io.write_all(&out)?;
            }
            let (kind, flags, id, payload) = self.read_frame()?;
            let now = Instant::now();
            match kind {
                frame::SETTINGS if flags & flag::ACK == 0 => {
                    for setting in payload.chunks_exact(6) {
                        let value =
                            u32::from_be_bytes([setting[2], setting[3], setting[4], setting[5]]);
                        if u16::from_be_bytes([setting[0], setting[1]]) == 0x3 {
                            self.max_concurrent = Some(value);
                        }
                    }
                    let mut ack = Vec::new();
                    put_frame(&mut ack, frame::SETTINGS, flag::ACK, 0, &[]);
                    self.io.write_all(&ack)?;
                }
                frame::PING if flags & flag::ACK == 0 => {
                    let mut pong = Vec::new();
                    put_frame(&mut pong, frame::PING, flag::ACK, 0, &payload);
                    self.io.write_all(&pong)?;
                }
                frame::GOAWAY => {
                    let code = payload
                        .get(4..8)
                        .map_or(0, |c| u32::from_be_bytes([c[0], c[1], c[2], c[3]]));
                    return Err(protocol_error(format!(
                        "the server ended the HTTP/2 connection (GOAWAY, {})",
                        error_name(code)
                    )));
                }
                frame::RST_STREAM => {
                    let code = payload
                        .get(..4)
                        .map_or(0, |c| u32::from_be_bytes([c[0], c[1], c[2], c[3]]));
                    return Err(protocol_error(format!(
                        "the server reset stream {id} (RST_STREAM, {})",
                        error_name(code)
                    )));
                }
                frame::HEADERS | frame::DATA => {
                    let Some(at) = open.iter().position(|s| s.id == id) else {
                        continue;
                    };
                    if kind == frame::HEADERS {
                        block.clear();
                        block.extend_from_slice(header_fragment(flags, &payload)?);
                        let mut end_headers = flags & flag::END_HEADERS != 0;
                        while !end_headers {
                            let (kind, more, _, payload) = self.read_frame()?;
                            if kind != frame::CONTINUATION {
                                return Err(protocol_error(
                                    "a header block was interrupted (RFC 9113 section 6.10)".into(),
                                ));
                            }
                            block.extend_from_slice(&payload);
                            end_headers = more & flag::END_HEADERS != 0;
                        }
                        let fields = self.decoder.decode(&block).map_err(|e| {
                            protocol_error(format!("the server's header block: {e:?}"))
                        })?;
                        let stream = &mut open[at];
                        stream.first_byte.get_or_insert(now);
                        if let Some((_, v)) = fields.iter().find(|(k, _)| k == b":status") {
                            stream.status = std::str::from_utf8(v)
                                .ok()
                                .and_then(|v| v.parse().ok())
                                .unwrap_or(0);
                        }
                    }
                    if flags & flag::END_STREAM != 0 {
                        let s = open.swap_remove(at);
                        done.push(StreamTimes {
                            index: s.index,
                            sent: s.sent,
                            first_byte: s.first_byte,
                            done: now,
                            status: s.status,
                        });
                    }
                }
                // WINDOW_UPDATE, PRIORITY, acknowledgments, extensions:
                // nothing to do (RFC 9113 section 5.5: unknown types are
                // ignored).
                _ => {}
            }
        }
        Ok(done)
    }

    fn read_frame(&mut self) -> io::Result<(u8, u8, u32, Vec<u8>)> {
        let mut head = [0u8; 9];
        self.io.read_exact(&mut head).map_err(|e| {
            if e.kind() == io::ErrorKind::UnexpectedEof {
                io::Error::new(e.kind(), "the server closed the HTTP/2 connection")
            } else {
                e
            }
        })?;
        let len = u32::from_be_bytes([0, head[0], head[1], head[2]]) as usize;
        if len > MAX_FRAME {
            return Err(protocol_error(format!(
                "the server sent a {len}-byte frame, over the {MAX_FRAME} allowed"
            )));
        }
        let id = u32::from_be_bytes([head[5], head[6], head[7], head[8]]) & 0x7fff_ffff;
        let mut payload = vec![0; len];
        self.io.read_exact(&mut payload)?;
        Ok((head[3], head[4], id, payload))
    }
}

/// The header block fragment of a HEADERS frame, without its padding and
/// priority fields (RFC 9113 section 6.2).
fn header_fragment(flags: u8, payload: &[u8]) -> io::Result<&[u8]> {
    let bad = || protocol_error("a malformed HEADERS frame".into());
    let mut start = 0;
    let mut end = payload.len();
    if flags & flag::PADDED != 0 {
        let pad = *payload.first().ok_or_else(bad)? as usize;
        start = 1;
        end = end.checked_sub(pad).ok_or_else(bad)?;
    }
    if flags & flag::PRIORITY != 0 {
        start += 5;
    }
    payload.get(start..end).ok_or_else(bad)
}

fn put_frame(out: &mut Vec<u8>, kind: u8, flags: u8, stream: u32, payload: &[u8]) {
    out.extend_from_slice(&(payload.len() as u32).to_be_bytes()[1..]);
    out.push(kind);
    out.push(flags);
    out.extend_from_slice(&stream.to_be_bytes());
    out.extend_from_slice(payload);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_fragments_lose_padding_and_priority() {
        let payload = [2, 0, 0, 0, 1, 16, 0x88, 0xff, 0xff];
        assert_eq!(
            header_fragment(flag::PADDED | flag::PRIORITY, &payload).unwrap(),
            &[0x88]
        );
        assert!(header_fragment(flag::PADDED, &[9, 1]).is_err());
        assert_eq!(header_fragment(0, &[0x88]).unwrap(), &[0x88]);
    }

    #[test]
    fn frames_are_written_with_their_header() {
        let mut out = Vec::new();
        put_frame(&mut out, frame::PING, flag::ACK, 0, &[7; 8]);
        assert_eq!(&out[..9], &[0, 0, 8, 6, 1, 0, 0, 0, 0]);
        assert_eq!(out.len(), 17);
    }
}
