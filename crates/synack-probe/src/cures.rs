//! What each cure for handshake latency saves on the user's own path,
//! measured: the same pattern of requests (N GETs, C at a time) made
//! every way an application can make them, from a new TCP and TLS
//! handshake per request to HTTP/2 streams on one connection.
//!
//! Each cure runs as a real client would: C workers take requests from a
//! shared count; connection-per-request cures open one connection per
//! request; keep-alive keeps one connection per worker; HTTP/2 opens one
//! connection and keeps up to C streams on it. A request's time runs from
//! its first packet (the SYN when it opens a connection) to the end of its
//! response. Cures that need state from an earlier connection (a TCP Fast
//! Open cookie, a TLS ticket) get one warm-up connection per worker first,
//! not counted, as a long-running client would have.

use crate::connection::{self, Dial, Opened, Transport};
use crate::http1;
use crate::http2::Http2;
use crate::tls::TlsProbe;
use crate::url::HttpUrl;
use std::io::{self, BufRead, BufReader, Write};
use std::net::SocketAddr;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

/// The ways of making the requests.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Cure {
    /// A new TCP (and TLS, full) handshake for every request: the baseline.
    NewEach,
    /// One connection per worker, kept alive (HTTP/1.1).
    KeepAlive,
    /// New connections with TCP Fast Open: the first flight in the SYN.
    FastOpen,
    /// New connections resuming the TLS session (no certificate, less
    /// crypto; still a round trip).
    Resumption,
    /// New connections resuming with the request as 0-RTT early data.
    EarlyData,
    /// TCP Fast Open and 0-RTT together: the request in the SYN.
    FastOpenEarlyData,
    /// HTTP/2: one connection, up to C streams on it.
    Http2,
}

impl Cure {
    pub const ALL: [Cure; 7] = [
        Cure::NewEach,
        Cure::KeepAlive,
        Cure::FastOpen,
        Cure::Resumption,
        Cure::EarlyData,
        Cure::FastOpenEarlyData,
        Cure::Http2,
    ];

    /// The stable name (JSON).
    pub fn key(self) -> &'static str {
        match self {
            Cure::NewEach => "new_each",
            Cure::KeepAlive => "keep_alive",
            Cure::FastOpen => "tcp_fast_open",
            Cure::Resumption => "tls_resumption",
            Cure::EarlyData => "tls_0rtt",
            Cure::FastOpenEarlyData => "tcp_fast_open_0rtt",
            Cure::Http2 => "http2",
        }
    }

    /// The name in the table.
    pub fn label(self, tls: bool) -> &'static str {
        match (self, tls) {
            (Cure::NewEach, true) => "new TCP+TLS each",
            (Cure::NewEach, false) => "new TCP each",
            (Cure::KeepAlive, _) => "keep-alive",
            (Cure::FastOpen, _) => "TCP Fast Open",
            (Cure::Resumption, _) => "TLS resumption",
            (Cure::EarlyData, _) => "TLS 0-RTT",
            (Cure::FastOpenEarlyData, _) => "TFO + 0-RTT",
            (Cure::Http2, _) => "HTTP/2, 1 connection",
        }
    }

    fn needs_tls(self) -> bool {
        matches!(
            self,
            Cure::Resumption | Cure::EarlyData | Cure::FastOpenEarlyData | Cure::Http2
        )
    }

    fn fast_open(self) -> bool {
        matches!(self, Cure::FastOpen | Cure::FastOpenEarlyData)
    }

    fn resumes(self) -> bool {
        matches!(
            self,
            Cure::Resumption | Cure::EarlyData | Cure::FastOpenEarlyData
        )
    }

    fn early_data(self) -> bool {
        matches!(self, Cure::EarlyData | Cure::FastOpenEarlyData)
    }

    /// Needs state from an earlier connection.
    fn warms_up(self) -> bool {
        self.fast_open() || self.resumes()
    }
}

/// The request pattern.
#[derive(Clone, Debug)]
pub struct Pattern {
    pub requests: usize,
    pub concurrency: usize,
    pub timeout: Duration,
}

/// One cure measured.
#[derive(Clone, Debug, Default)]
pub struct Measured {
    /// Each request, first packet to the end of its response.
    pub requests: Vec<Duration>,
    /// Each request, first packet to the first byte of its response.
    pub first_bytes: Vec<Duration>,
    /// The whole pattern, first request to last response.
    pub total: Duration,
    /// Connections opened for the pattern (warm-ups not counted).
    pub connections: usize,
    /// Connections (or for HTTP/2, the connection) where the cure took
    /// effect: the SYN's data taken, the session resumed, the early data
    /// accepted, h2 chosen. Equal to `connections` when fully supported.
    pub took_effect: usize,
    /// HTTP statuses of 400 and over, counted.
    pub errors: usize,
}

/// A cure's row: measured, or why not.
#[derive(Clone, Debug)]
pub struct Row {
    pub cure: Cure,
    pub result: Result<Measured, String>,
}

pub fn median(v: &[Duration]) -> Duration {
    let mut v = v.to_vec();
    v.sort();
    v.get(v.len() / 2).copied().unwrap_or_default()
}

impl Row {
    /// Whether the server (and path) supports the cure: `None` for the
    /// baseline and keep-alive, which every HTTP/1.1 server has.
    pub fn supported(&self) -> Option<bool> {
        match (&self.result, self.cure) {
            (_, Cure::NewEach | Cure::KeepAlive) => None,
            (Ok(m), _) => Some(m.connections > 0 && m.took_effect == m.connections),
            (Err(_), _) => Some(false),
        }
    }
}

/// Measures every cure for `url` (`tls`: the TLS settings, for https).
pub fn measure(url: &HttpUrl, tls: Option<&TlsProbe>, pattern: &Pattern) -> io::Result<Vec<Row>> {
    let addr = url.resolve()?;
    let mut rows = Vec::new();
    for cure in Cure::ALL {
        let result = if cure.needs_tls() && tls.is_none() {
            Err("needs https".to_string())
        } else if cure == Cure::Http2 {
            http2(url, addr, tls, pattern)
        } else {
            http1(cure, url, addr, tls, pattern)
        };
        // The baseline must work, or nothing can be compared.
        if cure == Cure::NewEach
            && let Err(e) = &result
        {
            return Err(io::Error::other(e.clone()));
        }
        rows.push(Row { cure, result });
    }
    Ok(rows)
}

fn dial(
    cure: Cure,
    url: &HttpUrl,
    addr: SocketAddr,
    tls: Option<&TlsProbe>,
    pattern: &Pattern,
    alpn: &[&str],
) -> Dial {
    Dial {
        addr,
        timeout: pattern.timeout,
        fast_open: cure.fast_open(),
        tls: tls.map(|t| {
            (
                t.variant(cure.resumes(), cure.early_data(), alpn),
                url.host.clone(),
            )
        }),
    }
}

/// Whether the cure worked on this connection.
fn took_effect(cure: Cure, opened: &Opened) -> bool {
    let tls = opened.tls.as_ref();
    match cure {
        Cure::NewEach | Cure::KeepAlive => true,
        Cure::FastOpen => opened.syn_data_accepted,
        Cure::Resumption => tls.is_some_and(|t| t.resumed),
        Cure::EarlyData => tls.is_some_and(|t| t.early_data == Some(true)),
        Cure::FastOpenEarlyData => {
            opened.syn_data_accepted && tls.is_some_and(|t| t.early_data == Some(true))
        }
        Cure::Http2 => tls.is_some_and(|t| t.alpn.as_deref() == Some("h2")),
    }
}

/// What the workers gather.
#[derive(Default)]
struct Gathered {
    measured: Measured,
    error: Option<String>,
}

impl Gathered {
    fn add(&mut self, started: Instant, first_byte: Instant, done: Instant, status: u16) {
        self.measured.requests.push(done - started);
        self.measured.first_bytes.push(first_byte - started);
        if status >= 400 {
            self.measured.errors += 1;
        }
    }

    fn opened(&mut self, effect: bool) {
        self.measured.connections += 1;
        self.measured.took_effect += usize::from(effect);
    }
}

/// Reads one response from `reader`: when its first byte came, and its
/// status.
fn response(reader: &mut BufReader<Transport>) -> io::Result<(Instant, u16)> {
    reader.fill_buf()?;
    let first_byte = Instant::now();
    Ok((first_byte, http1::read_response(reader)?))
}

/// Opens a connection for `cure` with `request` sent on it.
fn open_and_send(
    cure: Cure,
    dial: &Dial,
    request: &[u8],
) -> io::Result<(Instant, bool, BufReader<Transport>)> {
    let opened = connection::open(dial, Some(request))?;
    let effect = took_effect(cure, &opened);
    Ok((opened.started, effect, BufReader::new(opened.transport)))
}

/// The HTTP/1.1 cures: a connection per request, or kept alive per worker.
fn http1(
    cure: Cure,
    url: &HttpUrl,
    addr: SocketAddr,
    tls: Option<&TlsProbe>,
    pattern: &Pattern,
) -> Result<Measured, String> {
    let dial = dial(cure, url, addr, tls, pattern, &["http/1.1"]);
    let keep_alive = cure == Cure::KeepAlive;
    let request = http1::request(url, keep_alive);
    let workers = pattern.concurrency.clamp(1, pattern.requests.max(1));
    if cure.warms_up() {
        for _ in 0..workers {
            let closing = http1::request(url, false);
            let (_, _, mut reader) = open_and_send(cure, &dial, &closing)
                .map_err(|e| format!("the warm-up connection failed: {e}"))?;
            response(&mut reader).map_err(|e| format!("the warm-up request failed: {e}"))?;
            // Read to the close: TLS 1.3 tickets may come after the answer.
            let _ = io::copy(&mut reader, &mut io::sink());
        }
    }
    let next = AtomicUsize::new(0);
    let gathered = Mutex::new(Gathered::default());
    let t0 = Instant::now();
    std::thread::scope(|scope| {
        for _ in 0..workers {
            scope.spawn(|| {
                let mut kept: Option<BufReader<Transport>> = None;
                let mut run = || -> io::Result<()> {
                    while next.fetch_add(1, Ordering::Relaxed) < pattern.requests {
                        if gathered.lock().map_or(true, |g| g.error.is_some()) {
                            break;
                        }
                        let started = match kept.as_mut() {
                            Some(reader) => {
                                let started = Instant::now();
                                reader.get_mut().write_all(&request)?;
                                started
                            }
                            None => {
                                let (started, effect, reader) =
                                    open_and_send(cure, &dial, &request)?;
                                if let Ok(mut g) = gathered.lock() {
                                    g.opened(effect);
                                }
                                kept = Some(reader);
                                started
                            }
                        };
                        let reader = kept
                            .as_mut()
                            .ok_or_else(|| io::Error::other("no connection"))?;
                        let (first_byte, status) = response(reader)?;
                        let done = Instant::now();
                        if let Ok(mut g) = gathered.lock() {
                            g.add(started, first_byte, done, status);
                        }
                        if !keep_alive && let Some(reader) = kept.take() {
                            close_in_background(reader);
                        }
                    }
                    Ok(())
                };
                if let Err(e) = run()
                    && let Ok(mut g) = gathered.lock()
                {
                    g.error.get_or_insert(e.to_string());
                }
            });
        }
    });
    finish(gathered, t0)
}

/// Lets a connection end as a client's pool does, after the answer and
/// off the clock: read to the server's close (bounded by the socket's
/// timeout), so that TLS 1.3 tickets sent after the answer (a 0-RTT
/// answer comes before the client's Finished, and the tickets after it)
/// reach the session cache for the next connection.
fn close_in_background(mut reader: BufReader<Transport>) {
    std::thread::spawn(move || {
        let _ = io::copy(&mut reader, &mut io::sink());
    });
}

fn finish(gathered: Mutex<Gathered>, t0: Instant) -> Result<Measured, String> {
    let total = t0.elapsed();
    let g = gathered
        .into_inner()
        .map_err(|_| "a worker panicked".to_string())?;
    match g.error {
        Some(e) => Err(e),
        None => Ok(Measured {
            total,
            ..g.measured
        }),
    }
}

/// HTTP/2: one connection (ALPN h2), up to C streams at once.
fn http2(
    url: &HttpUrl,
    addr: SocketAddr,
    tls: Option<&TlsProbe>,
    pattern: &Pattern,
) -> Result<Measured, String> {
    // Both, as browsers offer them: a server without HTTP/2 then chooses
    // http/1.1 instead of refusing the handshake.
    let dial = dial(Cure::Http2, url, addr, tls, pattern, &["h2", "http/1.1"]);
    let t0 = Instant::now();
    let opened = connection::open(&dial, None).map_err(|e| e.to_string())?;
    if !took_effect(Cure::Http2, &opened) {
        let chose = opened.tls.as_ref().and_then(|t| t.alpn.clone());
        return Err(format!(
            "the server does not offer HTTP/2 (ALPN: it chose {})",
            chose.as_deref().unwrap_or("nothing")
        ));
    }
    let started = opened.started;
    let mut h2 =
        Http2::start(opened.transport, true, url.authority()).map_err(|e| e.to_string())?;
    let streams = h2
        .get(&url.path, pattern.requests, pattern.concurrency.max(1))
        .map_err(|e| e.to_string())?;
    let total = t0.elapsed();
    let first_batch = pattern.concurrency.max(1);
    let mut g = Gathered::default();
    g.opened(true);
    for s in &streams {
        // The first streams waited for the connection, as a connection-
        // per-request client's requests do.
        let from = if s.index < first_batch {
            started
        } else {
            s.sent
        };
        g.add(from, s.first_byte.unwrap_or(s.done), s.done, s.status);
    }
    Ok(Measured {
        total,
        ..g.measured
    })
}
