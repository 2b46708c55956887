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
//! * at most `max_connections` are open, and at most `max_per_client` from
//!   one client (an IPv4 address, an IPv6 /64), so one client cannot fill
//!   the server; the next one is answered 503 and closed at once;
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
use std::collections::HashMap;
use std::convert::Infallible;
use std::io;
use std::net::{IpAddr, Ipv6Addr};
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, ready};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};

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
    pub max_per_client: usize,
    pub head_timeout: Duration,
    pub connection_deadline: Duration,
}

/// Open connections, in all and per client.
#[derive(Debug, Default)]
struct Slots {
    total: usize,
    per_client: HashMap<IpAddr, usize>,
}

/// One open connection's place in [`Slots`], given back on drop.
struct Slot {
    slots: Arc<Mutex<Slots>>,
    client: IpAddr,
}

impl Slots {
    /// A place for a connection from `peer`, unless a limit is reached.
    fn take(this: &Arc<Mutex<Slots>>, peer: IpAddr, limits: &Limits) -> Option<Slot> {
        let client = client_key(peer);
        let mut slots = this.lock().unwrap_or_else(|e| e.into_inner());
        let mine = slots.per_client.get(&client).copied().unwrap_or(0);
        if slots.total >= limits.max_connections || mine >= limits.max_per_client {
            return None;
        }
        slots.total += 1;
        slots.per_client.insert(client, mine + 1);
        Some(Slot {
            slots: this.clone(),
            client,
        })
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        let mut slots = self.slots.lock().unwrap_or_else(|e| e.into_inner());
        slots.total -= 1;
        if let Some(n) = slots.per_client.get_mut(&self.client) {
            *n -= 1;
            if *n == 0 {
                slots.per_client.remove(&self.client);
            }
        }
    }
}

/// Who counts as one client: an IPv4 address, or an IPv6 /64 (one host
/// commonly holds a whole /64, RFC 4291 section 2.5.1).
fn client_key(peer: IpAddr) -> IpAddr {
    match peer.to_canonical() {
        IpAddr::V6(v6) => {
            let prefix = u128::from(v6) & !((1u128 << 64) - 1);
            IpAddr::V6(Ipv6Addr::from(prefix))
        }
        v4 => v4,
    }
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
    let slots = Arc::new(Mutex::new(Slots::default()));
    tokio::pin!(shutdown);
    loop {
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
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
        let Some(slot) = Slots::take(&slots, peer.ip(), &limits) else {
            refuse(&stream, &TOO_MANY_CONNECTIONS);
            continue;
        };
        let handle = handle.clone();
        tokio::spawn(async move {
            let _slot = slot;
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

    #[test]
    fn one_client_is_an_ipv4_address_or_an_ipv6_slash_64() {
        let key = |s: &str| client_key(s.parse().unwrap()).to_string();
        assert_eq!(key("192.0.2.7"), "192.0.2.7");
        assert_eq!(key("::ffff:192.0.2.7"), "192.0.2.7");
        assert_eq!(key("2001:db8:1:2:aaaa::1"), "2001:db8:1:2::");
        assert_eq!(key("2001:db8:1:2:bbbb::9"), "2001:db8:1:2::");
    }

    #[test]
    fn slots_are_capped_in_all_and_per_client_and_given_back() {
        let limits = Limits {
            max_connections: 3,
            max_per_client: 2,
            head_timeout: Duration::from_secs(1),
            connection_deadline: Duration::from_secs(1),
        };
        let slots = Arc::new(Mutex::new(Slots::default()));
        let a: IpAddr = "192.0.2.1".parse().unwrap();
        let b: IpAddr = "192.0.2.2".parse().unwrap();
        let a1 = Slots::take(&slots, a, &limits).unwrap();
        let _a2 = Slots::take(&slots, a, &limits).unwrap();
        assert!(Slots::take(&slots, a, &limits).is_none(), "per client");
        let _b1 = Slots::take(&slots, b, &limits).unwrap();
        assert!(Slots::take(&slots, b, &limits).is_none(), "in all");
        drop(a1);
        assert!(Slots::take(&slots, a, &limits).is_some());
    }

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
