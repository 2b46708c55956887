//! HTTP/1.1 as the measurements need it (RFC 9112): a GET request, and one
//! response read to its end (Content-Length, chunked, or until the close)
//! so that the next request on a kept-alive connection starts clean.

use crate::url::HttpUrl;
use std::io::{self, BufRead, Read};

/// `GET path` for `url`, asking to keep the connection or to close it.
pub fn request(url: &HttpUrl, keep_alive: bool) -> Vec<u8> {
    format!(
        "GET {} HTTP/1.1\r\nHost: {}\r\nUser-Agent: synack-probe\r\nConnection: {}\r\n\r\n",
        url.path,
        url.authority(),
        if keep_alive { "keep-alive" } else { "close" }
    )
    .into_bytes()
}

/// Reads one response and returns its status code; the body is read and
/// dropped.
pub fn read_response(r: &mut impl BufRead) -> io::Result<u16> {
    let mut line = String::new();
    if r.read_line(&mut line)? == 0 {
        return Err(io::Error::new(
            io::ErrorKind::UnexpectedEof,
            "the server closed the connection without an answer (after an earlier response: it does not keep connections alive)",
        ));
    }
    let status: u16 = line
        .split_whitespace()
        .nth(1)
        .filter(|_| line.starts_with("HTTP/"))
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
    // RFC 9112 section 6.3: no body for 1xx, 204 and 304.
    if matches!(status, 100..=199 | 204 | 304) {
        return Ok(status);
    }
    if chunked {
        loop {
            line.clear();
            if r.read_line(&mut line)? == 0 {
                return Err(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    "the chunked body was cut short",
                ));
            }
            let size = u64::from_str_radix(line.trim().split(';').next().unwrap_or("0"), 16)
                .map_err(|_| io::Error::new(io::ErrorKind::InvalidData, "bad chunk size"))?;
            io::copy(&mut r.by_ref().take(size + 2), &mut io::sink())?;
            if size == 0 {
                break;
            }
        }
    } else if let Some(n) = length {
        let got = io::copy(&mut r.by_ref().take(n), &mut io::sink())?;
        if got < n {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                format!("the body ended after {got} of its {n} bytes"),
            ));
        }
    } else {
        io::copy(r, &mut io::sink())?;
    }
    Ok(status)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn responses_are_read_to_their_end() {
        let two = b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhelloHTTP/1.1 404 Not Found\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\nHTTP/1.1 204 No Content\r\n\r\n";
        let mut r = io::BufReader::new(&two[..]);
        assert_eq!(read_response(&mut r).unwrap(), 200);
        assert_eq!(read_response(&mut r).unwrap(), 404);
        assert_eq!(read_response(&mut r).unwrap(), 204);
        assert_eq!(
            read_response(&mut r).unwrap_err().kind(),
            io::ErrorKind::UnexpectedEof
        );
        let mut cut = io::BufReader::new(&b"HTTP/1.1 200 OK\r\nContent-Length: 9\r\n\r\nhi"[..]);
        assert!(
            read_response(&mut cut)
                .unwrap_err()
                .to_string()
                .contains("2 of its 9")
        );
        let mut not_http = io::BufReader::new(&b"SSH-2.0-OpenSSH\r\n"[..]);
        assert!(
            read_response(&mut not_http)
                .unwrap_err()
                .to_string()
                .contains("not an HTTP")
        );
    }

    #[test]
    fn requests_name_the_host_with_its_port() {
        let url = HttpUrl::parse("https://[::1]:8443/x").unwrap();
        let r = String::from_utf8(request(&url, true)).unwrap();
        assert!(
            r.starts_with("GET /x HTTP/1.1\r\nHost: [::1]:8443\r\n"),
            "{r}"
        );
        assert!(r.contains("Connection: keep-alive"));
    }
}
