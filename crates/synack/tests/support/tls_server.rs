//! A TLS 1.3 server for lab tests (rustls, a generated certificate):
//! session tickets, 0-RTT early data answered at once (half-RTT data, as
//! servers that take early data do), TCP Fast Open on its listener, HTTP/1.1
//! keep-alive, and HTTP/2 by handing connections that chose "h2" to an
//! nghttpd in the same namespace (an independent HTTP/2 implementation).

// Each test binary uses part of it.
#![allow(dead_code)]

use std::io::{Read, Write};
use std::net::{IpAddr, TcpStream};
use std::os::fd::AsFd;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;
use synack_lab::Lab;

pub type Chain = Vec<rustls::pki_types::CertificateDer<'static>>;
pub type Key = rustls::pki_types::PrivateKeyDer<'static>;

/// A certificate for the server's address, signed by itself.
pub fn certificate(ip: IpAddr) -> (Chain, Key) {
    let key = rcgen::KeyPair::generate().unwrap();
    let mut params = rcgen::CertificateParams::new(vec![ip.to_string()]).unwrap();
    params.subject_alt_names = vec![rcgen::SanType::IpAddress(ip)];
    let cert = params.self_signed(&key).unwrap();
    (
        vec![cert.der().clone()],
        rustls::pki_types::PrivateKeyDer::Pkcs8(key.serialize_der().into()),
    )
}

/// What the server offers.
#[derive(Clone, Debug, Default)]
pub struct Offer {
    pub alpn: Vec<&'static str>,
    /// Take 0-RTT early data (and answer it before the handshake ends).
    pub early_data: bool,
    /// Hand "h2" connections to nghttpd on this port (cleartext, prior
    /// knowledge) in the server namespace.
    pub h2_backend: Option<u16>,
}

/// Serves on `port` in the lab's server namespace until the returned
/// flag is set.
pub fn serve(lab: &Lab, port: u16, offer: Offer, chain: Chain, key: Key) -> Arc<AtomicBool> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS13])
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(chain, key)
        .unwrap();
    config.alpn_protocols = offer.alpn.iter().map(|p| p.as_bytes().to_vec()).collect();
    config.send_tls13_tickets = 2;
    if offer.early_data {
        config.max_early_data_size = 16_384;
        config.send_half_rtt_data = true;
    }
    let config = Arc::new(config);
    let listener = lab.listen_any(port).unwrap();
    // TCP Fast Open on the listener (the namespaces' sysctls decide
    // whether it is used).
    synack_sys::tcp::set_fastopen(&listener, 64).unwrap();
    listener.set_nonblocking(true).unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let done = Arc::clone(&stop);
    let netns = lab.server.clone();
    std::thread::spawn(move || {
        while !done.load(Ordering::SeqCst) {
            // Sleeps until a connection comes, waking every 100 ms for the
            // stop flag.
            let ready =
                synack_sys::tcp::wait_readable(&[listener.as_fd()], Duration::from_millis(100));
            if !ready.unwrap_or(false) {
                continue;
            }
            let Ok((stream, _)) = listener.accept() else {
                continue;
            };
            let config = Arc::clone(&config);
            let netns = netns.clone();
            let backend = offer.h2_backend;
            std::thread::spawn(move || {
                let _ = stream.set_nonblocking(false);
                let _ = stream.set_nodelay(true);
                let _ = stream.set_read_timeout(Some(Duration::from_secs(5)));
                let conn = rustls::ServerConnection::new(config).unwrap();
                let backend = move || {
                    let port = backend?;
                    netns
                        .run(move || TcpStream::connect(("127.0.0.1", port)))
                        .ok()?
                        .ok()
                };
                connection(conn, stream, backend);
            });
        }
    });
    stop
}

fn flush(conn: &mut rustls::ServerConnection, sock: &mut TcpStream) -> bool {
    while conn.wants_write() {
        if conn.write_tls(sock).is_err() {
            return false;
        }
    }
    true
}

/// HTTP/1.1 over TLS: every request (early data included) gets "ok".
fn connection(
    mut conn: rustls::ServerConnection,
    mut sock: TcpStream,
    backend: impl FnOnce() -> Option<TcpStream>,
) {
    let mut pending = Vec::new();
    let (mut closing, mut close_after_handshake) = (false, false);
    loop {
        // A request answered in early data may ask to close: the handshake
        // ends first, so that the client gets its next tickets.
        if close_after_handshake && !conn.is_handshaking() {
            conn.send_close_notify();
            closing = true;
        }
        if !flush(&mut conn, &mut sock) || closing {
            return;
        }
        if !conn.is_handshaking() && conn.alpn_protocol() == Some(b"h2") {
            if let Some(b) = backend() {
                proxy(conn, sock, b, pending);
            }
            return;
        }
        match conn.read_tls(&mut sock) {
            Ok(0) | Err(_) => return,
            Ok(_) => {}
        }
        if conn.process_new_packets().is_err() {
            let _ = conn.write_tls(&mut sock);
            return;
        }
        if let Some(mut early) = conn.early_data() {
            let _ = early.read_to_end(&mut pending);
        }
        let mut buf = [0u8; 4096];
        loop {
            match conn.reader().read(&mut buf) {
                Ok(0) => {
                    closing = true;
                    break;
                }
                Ok(n) => pending.extend_from_slice(&buf[..n]),
                Err(_) => break,
            }
        }
        if conn.alpn_protocol() == Some(b"h2") {
            continue;
        }
        while let Some(end) = pending.windows(4).position(|w| w == b"\r\n\r\n") {
            let head: Vec<u8> = pending.drain(..end + 4).collect();
            let head = String::from_utf8_lossy(&head).to_ascii_lowercase();
            let _ = conn
                .writer()
                .write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nok\n");
            if head.contains("connection: close") {
                close_after_handshake = true;
                break;
            }
        }
    }
}

/// Relays a decrypted HTTP/2 connection to the backend and back.
fn proxy(
    mut conn: rustls::ServerConnection,
    mut sock: TcpStream,
    mut backend: TcpStream,
    pending: Vec<u8>,
) {
    let _ = backend.set_nodelay(true);
    if backend.write_all(&pending).is_err() {
        return;
    }
    let readable = |s: &TcpStream| {
        synack_sys::tcp::wait_readable(&[s.as_fd()], Duration::ZERO).unwrap_or(false)
    };
    let mut buf = vec![0u8; 65536];
    loop {
        if !flush(&mut conn, &mut sock) {
            return;
        }
        let ready = synack_sys::tcp::wait_readable(
            &[sock.as_fd(), backend.as_fd()],
            Duration::from_secs(5),
        );
        if !ready.unwrap_or(false) {
            return;
        }
        if readable(&sock) {
            if conn.read_tls(&mut sock).unwrap_or(0) == 0 || conn.process_new_packets().is_err() {
                return;
            }
            loop {
                match conn.reader().read(&mut buf) {
                    Ok(0) => return,
                    Ok(n) => {
                        if backend.write_all(&buf[..n]).is_err() {
                            return;
                        }
                    }
                    Err(_) => break,
                }
            }
        }
        if readable(&backend) {
            match backend.read(&mut buf) {
                Ok(0) | Err(_) => return,
                Ok(n) => {
                    let _ = conn.writer().write_all(&buf[..n]);
                }
            }
        }
    }
}

/// nghttpd serving "ok" at / over cleartext HTTP/2 on `port` in the
/// server namespace; killed when the guard drops. Returns once it listens:
/// with -v it says so ("IPv4: listen 0.0.0.0:PORT") before anything else.
pub struct Nghttpd(std::process::Child, std::path::PathBuf);

impl Drop for Nghttpd {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
        let _ = std::fs::remove_dir_all(&self.1);
    }
}

pub fn nghttpd(lab: &Lab, port: u16) -> Nghttpd {
    use std::io::BufRead;
    let dir = std::env::temp_dir().join(format!("synack-nghttpd-{}-{port}", lab.id));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("index.html"), "ok\n").unwrap();
    let mut child = lab
        .server
        .command("nghttpd")
        .args(["-v", "--no-tls", "-d"])
        .arg(&dir)
        .arg(port.to_string())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("nghttpd (apt-get install nghttp2-server)");
    let mut out = std::io::BufReader::new(child.stdout.take().unwrap());
    let mut line = String::new();
    out.read_line(&mut line).unwrap();
    assert!(line.contains("listen"), "nghttpd did not listen: {line:?}");
    // The rest of its log (a line per frame with -v) is read and dropped,
    // so that it never blocks on a full pipe.
    std::thread::spawn(move || std::io::copy(&mut out, &mut std::io::sink()));
    Nghttpd(child, dir)
}
