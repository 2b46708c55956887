//! What connection reuse saves, measured: the same N HTTP/1.1 GET requests
//! made with a new connection each and over one keep-alive connection. The
//! difference per request is what the handshake costs the application.

use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream, ToSocketAddrs};
use std::time::{Duration, Instant};

/// `http://host[:port]/path`, the only form `--reuse` takes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HttpUrl {
    pub host: String,
    pub port: u16,
    pub path: String,
}

impl HttpUrl {
    pub fn parse(url: &str) -> Result<HttpUrl, String> {
        let rest = url.strip_prefix("http://").ok_or_else(|| {
            if url.starts_with("https://") {
                "https is not supported by --reuse yet: use an http:// URL (the handshake cost is the TCP one)".to_string()
            } else {
                format!("{url:?} is not an http:// URL")
            }
        })?;
        let (authority, path) = rest
            .split_once('/')
            .map_or((rest, "/".to_string()), |(a, p)| (a, format!("/{p}")));
        let (host, port) = if let Some(h) = authority.strip_prefix('[') {
            let (h, after) = h.split_once(']').ok_or("unclosed [ in the URL")?;
            (
                h.to_string(),
                after
                    .strip_prefix(':')
                    .map_or(Ok(80), str::parse)
                    .map_err(|_| "bad port")?,
            )
        } else {
            match authority.rsplit_once(':') {
                Some((h, p)) => (
                    h.to_string(),
                    p.parse().map_err(|_| format!("bad port {p:?}"))?,
                ),
                None => (authority.to_string(), 80),
            }
        };
        if host.is_empty() {
            return Err("the URL has no host".into());
        }
        Ok(HttpUrl { host, port, path })
    }

    pub fn resolve(&self) -> io::Result<SocketAddr> {
        (self.host.as_str(), self.port)
            .to_socket_addrs()?
            .next()
            .ok_or_else(|| {
                io::Error::new(
                    io::ErrorKind::NotFound,
                    format!("{} does not resolve", self.host),
                )
            })
    }

    pub fn request(&self, keep_alive: bool) -> Vec<u8> {
        let host = if self.host.contains(':') {
            format!("[{}]", self.host)
        } else {
            self.host.clone()
        };
        format!(
            "GET {} HTTP/1.1\r\nHost: {host}\r\nUser-Agent: synack-probe\r\nConnection: {}\r\n\r\n",
            self.path,
            if keep_alive { "keep-alive" } else { "close" }
        )
        .into_bytes()
    }
}

/// Reads one HTTP/1.1 response (Content-Length, chunked, or until close)
/// and returns its status code.
fn read_response(r: &mut BufReader<&TcpStream>) -> io::Result<u16> {
    let mut line = String::new();
    if r.read_line(&mut line)? == 0 {
        return Err(io::Error::new(
            io::ErrorKind::UnexpectedEof,
            "the server closed the connection instead of keeping it alive (an HTTP/1.0 server?), so reuse cannot be measured",
        ));
    }
    let status: u16 = line
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| {
            io::Error::new(
                io::ErrorKind::InvalidData,
                format!("not an HTTP response: {:?}", line.trim_end()),
            )
        })?;
    let (mut length, mut chunked) = (None, false);
    loop {
        line.clear();
        if r.read_line(&mut line)? == 0 || line == "\r\n" || line == "\n" {
            break;
        }
        let lower = line.to_ascii_lowercase();
        if let Some(v) = lower.strip_prefix("content-length:") {
            length = v.trim().parse::<u64>().ok();
        } else if lower.starts_with("transfer-encoding:") && lower.contains("chunked") {
            chunked = true;
        }
    }
    if chunked {
        loop {
            line.clear();
            r.read_line(&mut line)?;
            let size = u64::from_str_radix(line.trim().split(';').next().unwrap_or("0"), 16)
                .map_err(|_| io::Error::new(io::ErrorKind::InvalidData, "bad chunk size"))?;
            io::copy(&mut r.by_ref().take(size + 2), &mut io::sink())?;
            if size == 0 {
                break;
            }
        }
    } else if let Some(n) = length {
        io::copy(&mut r.by_ref().take(n), &mut io::sink())?;
    } else {
        io::copy(r, &mut io::sink())?;
    }
    Ok(status)
}

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
        let mut v = v.to_vec();
        v.sort();
        v.get(v.len() / 2).copied().unwrap_or_default()
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

/// Makes `n` requests to `url` each way; fails on the first error.
pub fn measure(url: &HttpUrl, n: usize, timeout: Duration) -> io::Result<Reuse> {
    let addr = url.resolve()?;
    let mut out = Reuse::default();
    let fail = |status: u16| io::Error::other(format!("the server answered {status}"));
    for _ in 0..n {
        let t0 = Instant::now();
        let s = TcpStream::connect_timeout(&addr, timeout)?;
        let connected = t0.elapsed();
        s.set_read_timeout(Some(timeout))?;
        (&s).write_all(&url.request(false))?;
        let status = read_response(&mut BufReader::new(&s))?;
        out.new_connections.requests.push(t0.elapsed());
        out.new_connections.connects.push(connected);
        if status >= 400 {
            return Err(fail(status));
        }
    }
    let s = TcpStream::connect_timeout(&addr, timeout)?;
    s.set_read_timeout(Some(timeout))?;
    let mut reader = BufReader::new(&s);
    for _ in 0..n {
        let t0 = Instant::now();
        (&s).write_all(&url.request(true))?;
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

    #[test]
    fn urls() {
        let u = HttpUrl::parse("http://example.com:8080/a/b?c").unwrap();
        assert_eq!(
            (u.host.as_str(), u.port, u.path.as_str()),
            ("example.com", 8080, "/a/b?c")
        );
        let u = HttpUrl::parse("http://[::1]/").unwrap();
        assert_eq!((u.host.as_str(), u.port), ("::1", 80));
        assert!(HttpUrl::parse("https://x/").unwrap_err().contains("https"));
        assert!(HttpUrl::parse("ftp://x/").is_err());
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
    stream.write_all(&url.request(false))?;
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
