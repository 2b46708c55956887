//! What connection reuse saves, measured: the same N HTTP/1.1 GET requests
//! made with a new connection each and over one keep-alive connection. The
//! difference per request is what the handshake costs the application.

use crate::connection::{self, Dial};
use crate::http1::{read_response, request};
use crate::tls::TlsProbe;
pub use crate::url::HttpUrl;
use std::io::{self, BufReader, Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

/// The timings of one way of making the requests.
#[derive(Clone, Debug, Default)]
pub struct Series {
    /// Each request, from its start (connect, for new connections) to the
    /// end of its response.
    pub requests: Vec<Duration>,
    /// The connect() part of each request (new connections only).
    pub connects: Vec<Duration>,
}

impl Series {
    pub fn median(v: &[Duration]) -> Duration {
        crate::cures::median(v)
    }

    pub fn total(&self) -> Duration {
        self.requests.iter().sum()
    }
}

/// The comparison `--reuse` prints.
#[derive(Clone, Debug, Default)]
pub struct Reuse {
    pub new_connections: Series,
    pub keep_alive: Series,
}

impl Reuse {
    /// Per request, what keep-alive saves (median against median), in
    /// ns: negative when keep-alive is the slower way.
    pub fn saved_per_request_ns(&self) -> i64 {
        let new = Series::median(&self.new_connections.requests).as_nanos() as i64;
        new - Series::median(&self.keep_alive.requests).as_nanos() as i64
    }

    /// Keep-alive requests each stalled for about a delayed ACK (Linux's
    /// shortest is 40 ms, others wait up to 200 ms) that new connections
    /// did not: the signature of a server that writes a response in pieces
    /// without TCP_NODELAY. Nagle's algorithm (RFC 896) holds its last
    /// small piece until the first is acknowledged, and the client delays
    /// that ACK (RFC 1122 section 4.2.3.2); a new connection escapes
    /// because a receiver acknowledges at once at the start of a
    /// connection (Linux's quick-ACK mode).
    pub fn delayed_ack_stall(&self) -> bool {
        let keep_alive = Series::median(&self.keep_alive.requests);
        keep_alive >= Duration::from_millis(35) && self.saved_per_request_ns() <= -30_000_000
    }

    /// Share of a new-connection request spent in the handshake (medians).
    pub fn handshake_share(&self) -> f64 {
        let req = Series::median(&self.new_connections.requests).as_secs_f64();
        if req == 0.0 {
            0.0
        } else {
            Series::median(&self.new_connections.connects).as_secs_f64() / req
        }
    }
}

/// Makes `n` requests to `url` each way; fails on the first error. An
/// https URL is measured with TLS (the system's trust store).
pub fn measure(url: &HttpUrl, n: usize, timeout: Duration) -> io::Result<Reuse> {
    let tls = if url.tls {
        Some(TlsProbe::new(None, &[], false).map_err(io::Error::other)?)
    } else {
        None
    };
    measure_with(url, tls.as_ref(), n, timeout)
}

/// [`measure`] with these TLS settings (for https): new connections make
/// full handshakes, as a client without a session cache does.
pub fn measure_with(
    url: &HttpUrl,
    tls: Option<&TlsProbe>,
    n: usize,
    timeout: Duration,
) -> io::Result<Reuse> {
    let dial = Dial {
        addr: url.resolve()?,
        timeout,
        fast_open: false,
        tls: tls.map(|t| (t.variant(false, false, &["http/1.1"]), url.host.clone())),
    };
    let mut out = Reuse::default();
    let fail = |status: u16| io::Error::other(format!("the server answered {status}"));
    for _ in 0..n {
        let opened = connection::open(&dial, Some(&request(url, false)))?;
        let (t0, connected) = (opened.started, opened.connect);
        let mut reader = BufReader::new(opened.transport);
        let status = read_response(&mut reader)?;
        out.new_connections.requests.push(t0.elapsed());
        out.new_connections.connects.push(connected);
        if status >= 400 {
            return Err(fail(status));
        }
    }
    let mut reader = BufReader::new(connection::open(&dial, None)?.transport);
    for _ in 0..n {
        let t0 = Instant::now();
        reader.get_mut().write_all(&request(url, true))?;
        let status = read_response(&mut reader)?;
        out.keep_alive.requests.push(t0.elapsed());
        if status >= 400 {
            return Err(fail(status));
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::BufRead;
    use std::net::SocketAddr;

    /// Serves `n` keep-alive GETs on one connection and `n` with a new
    /// connection each, writing the headers and the body of each response
    /// separately, without TCP_NODELAY.
    fn server_writing_in_pieces(n: usize) -> SocketAddr {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        std::thread::spawn(move || {
            for stream in listener.incoming().take(n + 1) {
                let Ok(mut stream) = stream else { return };
                let mut reader = BufReader::new(stream.try_clone().unwrap());
                let mut line = String::new();
                loop {
                    line.clear();
                    if reader.read_line(&mut line).unwrap_or(0) == 0 {
                        break;
                    }
                    if line == "\r\n" {
                        let _ = stream.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n");
                        let _ = stream.write_all(b"hello");
                    }
                }
            }
        });
        addr
    }

    #[test]
    fn reuse_names_the_delayed_ack_stall_of_a_server_writing_in_pieces() {
        let addr = server_writing_in_pieces(5);
        let url = HttpUrl::parse(&format!("http://{addr}/")).unwrap();
        let r = measure(&url, 5, Duration::from_secs(3)).unwrap();
        assert!(
            r.saved_per_request_ns() < -30_000_000,
            "keep-alive should be the slower way here: {r:?}"
        );
        assert!(r.delayed_ack_stall(), "{r:?}");
    }
}

/// One request on a new connection, read to the server's close.
#[derive(Debug, Clone)]
pub struct Fetch {
    /// Bytes of the answer received (head and body).
    pub bytes: usize,
    /// The server closed the connection after its answer.
    pub complete: bool,
    /// What ended it otherwise (a read timeout: the answer stalled).
    pub error: Option<String>,
}

/// Fetches `url` once (`Connection: close`), announcing `mss` as the
/// maximum segment size when given (TCP_MAXSEG before connect(): the
/// server then sends segments no bigger, which is how a PMTU black hole
/// is told from a stalled server). Each read waits at most `timeout`.
pub fn fetch_once(url: &HttpUrl, mss: Option<u32>, timeout: Duration) -> io::Result<Fetch> {
    use socket2::{Domain, Protocol, Socket, Type};
    let addr = url.resolve()?;
    let socket = Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))?;
    if let Some(mss) = mss {
        socket.set_tcp_mss(mss)?;
    }
    socket.connect_timeout(&addr.into(), timeout)?;
    let mut stream: TcpStream = socket.into();
    stream.set_read_timeout(Some(timeout))?;
    stream.set_write_timeout(Some(timeout))?;
    stream.write_all(&request(url, false))?;
    let mut buf = vec![0u8; 64 * 1024];
    let mut bytes = 0;
    loop {
        match stream.read(&mut buf) {
            Ok(0) => {
                return Ok(Fetch {
                    bytes,
                    complete: true,
                    error: None,
                });
            }
            Ok(n) => bytes += n,
            Err(e) => {
                return Ok(Fetch {
                    bytes,
                    complete: false,
                    error: Some(e.to_string()),
                });
            }
        }
    }
}
