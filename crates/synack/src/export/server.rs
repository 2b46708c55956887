//! The exporter's HTTP server: hyper's HTTP/1.1 on a single-threaded tokio
//! runtime, with every connection bounded before any work is done for it.
//!
//! Why hyper on tokio: the server used before (tiny_http) spawned a thread
//! per connection and had no limit on the request head and no idle or read
//! timeout, so one client could exhaust memory or the host's PIDs. hyper
//! brings a strict request parser (malformed requests get 400), a head-read
//! timer that starts when the connection opens and a bounded read buffer;
//! on a current-thread runtime thousands of idle connections are small
//! tasks on one thread, not threads.
//!
//! Contract, as a hostile client meets it:
//! * at most `max_connections` are open; the next one is answered 503 and
//!   closed at once;
//! * the whole request head must arrive within `head_timeout` of the
//!   connection opening, or the connection is closed;
//! * a request line over 8 KiB gets 414, a header section over 8 KiB 431,
//!   and the connection is closed (nothing more is read);
//! * one request per connection, and every connection is closed at the
//!   latest `connection_deadline` after it opened, whatever the client does
//!   (a client that never reads its answer included);
//! * answers never echo what the client sent.

use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::{TokioIo, TokioTimer};
use std::convert::Infallible;
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, ready};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Semaphore;

/// The longest request line served (method, target, version).
pub const MAX_REQUEST_LINE: usize = 8 * 1024;
/// The most header bytes served after the request line.
pub const MAX_HEADERS: usize = 8 * 1024;
/// hyper's own read buffer: a backstop above both limits, which
/// [`HeadGuard`] enforces first with the right status.
const HYPER_BUFFER: usize = 4 * (MAX_REQUEST_LINE + MAX_HEADERS);

/// What a connection may cost.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    pub max_connections: usize,
    pub head_timeout: Duration,
    pub connection_deadline: Duration,
}

/// Serves `listener` until `shutdown` completes, answering each request
/// with `handle`.
pub async fn serve<H, F>(
    listener: TcpListener,
    limits: Limits,
    handle: H,
    shutdown: impl Future<Output = ()>,
) where
    H: Fn(Request<Incoming>) -> F + Clone + Send + 'static,
    F: Future<Output = Response<String>> + Send + 'static,
{
    let open = Arc::new(Semaphore::new(limits.max_connections));
    tokio::pin!(shutdown);
    loop {
        let stream = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => stream,
                Err(e) => {
                    // Out of descriptors (EMFILE, ENFILE) fails every
                    // accept until a connection closes: back off instead
                    // of spinning.
                    if e.kind() != io::ErrorKind::ConnectionAborted {
                        tokio::time::sleep(Duration::from_millis(50)).await;
                    }
                    continue;
                }
            },
            () = &mut shutdown => return,
        };
        let Ok(permit) = open.clone().try_acquire_owned() else {
            refuse(&stream, &TOO_MANY_CONNECTIONS);
            continue;
        };
        let handle = handle.clone();
        tokio::spawn(async move {
            let _open = permit;
            let service = service_fn(move |request| {
                let answer = handle(request);
                async move { Ok::<_, Infallible>(answer.await) }
            });
            let connection = http1::Builder::new()
                .timer(TokioTimer::new())
                .header_read_timeout(limits.head_timeout)
                .max_buf_size(HYPER_BUFFER)
                .keep_alive(false)
                .serve_connection(TokioIo::new(HeadGuard::new(stream)), service);
            // Errors (a client gone, a timeout, a refused head) end just
            // this connection; there is nobody to tell.
            let _ = tokio::time::timeout(limits.connection_deadline, connection).await;
        });
    }
}

/// A fixed answer written straight to the socket, outside hyper.
struct Refusal {
    status: &'static str,
    body: &'static str,
}

const TOO_MANY_CONNECTIONS: Refusal = Refusal {
    status: "503 Service Unavailable",
    body: "too many connections; try again\n",
};
const URI_TOO_LONG: Refusal = Refusal {
    status: "414 URI Too Long",
    body: "the request line is over 8 KiB\n",
};
const HEADERS_TOO_LARGE: Refusal = Refusal {
    status: "431 Request Header Fields Too Large",
    body: "the request headers are over 8 KiB\n",
};

/// Best effort: the answer is small and the socket's send buffer empty, so
/// one non-blocking write takes it whole; if not, the client only misses
/// the reason for the close.
fn refuse(stream: &TcpStream, refusal: &Refusal) {
    let text = format!(
        "HTTP/1.1 {}\r\nconnection: close\r\ncontent-type: text/plain; charset=utf-8\r\n\
         content-length: {}\r\nretry-after: 1\r\n\r\n{}",
        refusal.status,
        refusal.body.len(),
        refusal.body
    );
    let _ = stream.try_write(text.as_bytes());
}

/// Counts the request head as it arrives and stops reading at the first
/// limit passed, answering 414 or 431 itself. hyper's buffer limit alone
/// would answer 431 for both, and only at its (larger) buffer size.
struct HeadGuard {
    stream: TcpStream,
    scan: HeadScan,
}

impl HeadGuard {
    fn new(stream: TcpStream) -> HeadGuard {
        HeadGuard {
            stream,
            scan: HeadScan::default(),
        }
    }
}

/// Where the bytes seen so far leave the request head (RFC 9112 section
/// 2.1: request line, header lines, an empty line).
#[derive(Debug, Default)]
struct HeadScan {
    request_line_done: bool,
    head_done: bool,
    /// Bytes of the current line, CR not counted.
    line: usize,
    header_bytes: usize,
}

impl HeadScan {
    /// Takes the next bytes read; the refusal once a limit is passed.
    fn feed(&mut self, bytes: &[u8]) -> Option<&'static Refusal> {
        for &b in bytes {
            if self.head_done {
                return None;
            }
            if !self.request_line_done {
                if b == b'\n' {
                    self.request_line_done = true;
                    self.line = 0;
                } else {
                    self.line += 1;
                    if self.line > MAX_REQUEST_LINE {
                        return Some(&URI_TOO_LONG);
                    }
                }
                continue;
            }
            self.header_bytes += 1;
            if self.header_bytes > MAX_HEADERS {
                return Some(&HEADERS_TOO_LARGE);
            }
            match b {
                b'\n' if self.line == 0 => self.head_done = true,
                b'\n' => self.line = 0,
                b'\r' => {}
                _ => self.line += 1,
            }
        }
        None
    }
}

impl AsyncRead for HeadGuard {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let before = buf.filled().len();
        ready!(Pin::new(&mut this.stream).poll_read(cx, buf))?;
        if let Some(refusal) = this.scan.feed(&buf.filled()[before..]) {
            refuse(&this.stream, refusal);
            return Poll::Ready(Err(io::Error::new(
                io::ErrorKind::InvalidData,
                refusal.status,
            )));
        }
        Poll::Ready(Ok(()))
    }
}

impl AsyncWrite for HeadGuard {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().stream).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().stream).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.stream.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().stream).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().stream).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scan(parts: &[&[u8]]) -> Option<&'static str> {
        let mut s = HeadScan::default();
        parts
            .iter()
            .find_map(|p| s.feed(p))
            .map(|refusal| refusal.status)
    }

    #[test]
    fn a_request_line_over_8_kib_is_refused_with_414_as_soon_as_it_passes() {
        let long = vec![b'a'; MAX_REQUEST_LINE];
        assert_eq!(scan(&[b"GET /", &long]), Some(URI_TOO_LONG.status));
        // Exactly at the limit (CR included) it passes.
        let line = [b"GET /".as_slice(), &vec![b'a'; MAX_REQUEST_LINE - 5]].concat();
        assert_eq!(scan(&[&line, b"\n\r\n"]), None);
    }

    #[test]
    fn headers_over_8_kib_are_refused_with_431() {
        let header = format!("X-Pad: {}\r\n", "p".repeat(1000));
        let many = header.repeat(9);
        assert_eq!(
            scan(&[b"GET / HTTP/1.1\r\n", many.as_bytes()]),
            Some(HEADERS_TOO_LARGE.status)
        );
        let some = header.repeat(7);
        assert_eq!(
            scan(&[b"GET / HTTP/1.1\r\n", some.as_bytes(), b"\r\n"]),
            None
        );
    }

    #[test]
    fn bytes_after_the_head_are_not_counted() {
        let body = vec![b'b'; 100_000];
        assert_eq!(scan(&[b"GET / HTTP/1.1\nHost: x\n\n", &body]), None);
    }
}
