//! The TLS handshake on top of a TCP connection, timed apart from it: from
//! the first byte of the ClientHello to the handshake's end (rustls, on
//! the connected socket, every read and write bounded by the attempt's
//! deadline). Reports the version, cipher suite, ALPN protocol and whether
//! the session was resumed; a failure gets its cause in words: the alert
//! the server sent, what is wrong with its certificate, a timeout, a reset
//! or close right after the ClientHello (a middlebox, or a PMTU black hole
//! on the server's large first flight), or an answer that is not TLS.
//!
//! One [`TlsProbe`] keeps rustls' session cache across its attempts, so a
//! second attempt to the same server shows whether resumption works.

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{
    ClientConfig, ClientConnection, DigitallySignedStruct, RootCertStore, SignatureScheme,
};
use std::io::{self, ErrorKind};
use std::net::TcpStream;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// What the TLS handshake gave.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct TlsOutcome {
    /// First ClientHello byte out to the handshake's end.
    pub handshake: Option<Duration>,
    pub version: Option<&'static str>,
    pub cipher: Option<String>,
    pub alpn: Option<String>,
    /// The server took the session ticket of an earlier attempt.
    pub resumed: bool,
    /// With a request to send and a ticket that allows it: whether the
    /// server took the request as 0-RTT early data (RFC 8446 section 4.2.10).
    pub early_data: Option<bool>,
    /// With a request: when the first byte of the answer came.
    pub first_byte: Option<Instant>,
    /// Days until the server's certificate expires (negative: expired).
    pub days_left: Option<i64>,
    pub failure: Option<TlsFailure>,
}

/// Why a TLS handshake did not complete.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TlsFailure {
    /// The server sent an alert (its name).
    Alert(String),
    /// The server's certificate was refused (what is wrong with it).
    Certificate(String),
    /// No answer within the deadline.
    Timeout { after_hello: bool },
    /// Reset or closed right after the ClientHello.
    ClosedAfterHello { reset: bool },
    /// What came back is not TLS (a plain-TCP service).
    NotTls,
    /// Anything else rustls or the socket said.
    Other(String),
}

impl TlsFailure {
    /// A stable short name (records, CSV, exit causes).
    pub fn kind(&self) -> &'static str {
        match self {
            TlsFailure::Alert(_) => "tls_alert",
            TlsFailure::Certificate(_) => "tls_certificate",
            TlsFailure::Timeout { .. } => "tls_timeout",
            TlsFailure::ClosedAfterHello { .. } => "tls_closed_after_hello",
            TlsFailure::NotTls => "not_tls",
            TlsFailure::Other(_) => "tls_error",
        }
    }

    /// The cause in words.
    pub fn explain(&self) -> String {
        match self {
            TlsFailure::Alert(name) => format!(
                "the server ended the TLS handshake with the alert \"{name}\" (a protocol, version, cipher or ALPN it does not accept)"
            ),
            TlsFailure::Certificate(what) => format!(
                "the server's certificate was refused: {what} (--insecure to measure anyway)"
            ),
            TlsFailure::Timeout { after_hello: true } => "the TCP handshake worked but the TLS answer never came: a server that is not TLS and waits for the client, or a path that loses the server's large first flight (a PMTU black hole)".into(),
            TlsFailure::Timeout { after_hello: false } => "the ClientHello could not be sent in time".into(),
            TlsFailure::ClosedAfterHello { reset: true } => "the connection was reset right after the ClientHello: a middlebox or firewall that inspects TLS (SNI filtering), or a server that does not speak TLS on this port".into(),
            TlsFailure::ClosedAfterHello { reset: false } => "the server closed the connection right after the ClientHello: it does not speak TLS on this port, or refused the SNI".into(),
            TlsFailure::NotTls => "the server answered with something that is not TLS: a plain-TCP service on this port (try without --tls)".into(),
            TlsFailure::Other(e) => format!("TLS failed: {e}"),
        }
    }
}

/// TLS settings for a run of attempts, with its session cache.
#[derive(Clone)]
pub struct TlsProbe {
    config: Arc<ClientConfig>,
    sni: Option<String>,
}

impl std::fmt::Debug for TlsProbe {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TlsProbe")
            .field("sni", &self.sni)
            .field("alpn", &self.config.alpn_protocols)
            .finish()
    }
}

impl TlsProbe {
    /// Trusts the system's certificates (or nothing, with `insecure`),
    /// offers `alpn` in that order, and names `sni` to the server (default:
    /// the target's host name; none for an address).
    pub fn new(sni: Option<String>, alpn: &[String], insecure: bool) -> Result<TlsProbe, String> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let builder = ClientConfig::builder_with_provider(provider.clone())
            .with_protocol_versions(rustls::ALL_VERSIONS)
            .map_err(|e| e.to_string())?;
        let mut config = if insecure {
            builder
                .dangerous()
                .with_custom_certificate_verifier(Arc::new(AcceptAny(provider)))
                .with_no_client_auth()
        } else {
            let mut roots = RootCertStore::empty();
            let found = rustls_native_certs::load_native_certs();
            for cert in found.certs {
                let _ = roots.add(cert);
            }
            if roots.is_empty() {
                return Err(
                    "no trusted certificates found on this system (install ca-certificates), or use --insecure"
                        .into(),
                );
            }
            builder.with_root_certificates(roots).with_no_client_auth()
        };
        config.alpn_protocols = alpn.iter().map(|p| p.as_bytes().to_vec()).collect();
        // Early data (0-RTT) is offered when a ticket allows it.
        config.enable_early_data = true;
        Ok(TlsProbe {
            config: Arc::new(config),
            sni,
        })
    }

    /// The same settings with a session cache of its own, offering `alpn`:
    /// `resume` false makes every handshake a full one; `early_data`
    /// offers 0-RTT when a ticket allows.
    pub fn variant(&self, resume: bool, early_data: bool, alpn: &[&str]) -> TlsProbe {
        let mut config = (*self.config).clone();
        config.resumption = if resume {
            rustls::client::Resumption::in_memory_sessions(256)
        } else {
            rustls::client::Resumption::disabled()
        };
        config.enable_early_data = early_data;
        config.alpn_protocols = alpn.iter().map(|p| p.as_bytes().to_vec()).collect();
        TlsProbe {
            config: Arc::new(config),
            sni: self.sni.clone(),
        }
    }

    /// The settings (shared by every connection of a run, and so is the
    /// session cache).
    pub fn config(&self) -> Arc<ClientConfig> {
        self.config.clone()
    }

    /// A client connection for `host` (or `--sni`), not started.
    pub fn connection(&self, host: &str) -> Result<ClientConnection, TlsFailure> {
        let name = self.sni.clone().unwrap_or_else(|| host.to_string());
        let server_name = ServerName::try_from(name)
            .map_err(|e| TlsFailure::Other(format!("server name: {e}")))?;
        ClientConnection::new(self.config.clone(), server_name)
            .map_err(|e| TlsFailure::Other(e.to_string()))
    }

    /// Runs the TLS handshake on `stream` (connected) for `host`, giving up
    /// at `deadline`. With `request`, sends it (as 0-RTT early data when a
    /// ticket allows) and times the first byte of the answer.
    pub fn handshake(
        &self,
        stream: &mut TcpStream,
        host: &str,
        deadline: Instant,
        request: Option<&[u8]>,
    ) -> TlsOutcome {
        let mut conn = match self.connection(host) {
            Ok(c) => c,
            Err(f) => {
                return TlsOutcome {
                    failure: Some(f),
                    ..Default::default()
                };
            }
        };
        // As HTTP clients do: the request must not wait behind the
        // client's Finished for an ACK (Nagle's algorithm, RFC 896).
        let _ = stream.set_nodelay(true);
        if stream.set_nonblocking(false).is_err() {
            return TlsOutcome {
                failure: Some(TlsFailure::Other("socket".into())),
                ..Default::default()
            };
        }
        let mut out = match run_handshake(&mut conn, stream, deadline, None, request) {
            Ok(done) => done,
            Err(f) => {
                return TlsOutcome {
                    failure: Some(f),
                    ..Default::default()
                };
            }
        };
        if let Some(request) = request {
            if out.early_data != Some(true) {
                let _ = std::io::Write::write_all(&mut conn.writer(), request);
            }
            match first_plaintext(&mut conn, stream, deadline) {
                Ok(at) => out.first_byte = Some(at),
                Err(f) => out.failure = Some(f),
            }
        } else if out.version == Some("TLSv1.3")
            && let Some(h) = out.handshake
        {
            // TLS 1.3 sends its session tickets after the handshake: wait a
            // little for them (not counted), so that the next attempt can
            // resume.
            let wait = (h * 2 + Duration::from_millis(5))
                .min(deadline.saturating_duration_since(Instant::now()));
            if !wait.is_zero() {
                let _ = stream.set_read_timeout(Some(wait));
                if conn.read_tls(stream).is_ok_and(|n| n > 0) {
                    let _ = conn.process_new_packets();
                }
            }
        }
        out
    }
}

/// Drives `conn`'s handshake on `stream` to its end and describes it.
/// `started` is when its first flight left, when the caller sent it (in a
/// TCP Fast Open SYN); otherwise the first write here. `early` goes out as
/// 0-RTT data when the session allows.
pub fn run_handshake(
    conn: &mut ClientConnection,
    stream: &mut TcpStream,
    deadline: Instant,
    mut started: Option<Instant>,
    early: Option<&[u8]>,
) -> Result<TlsOutcome, TlsFailure> {
    let early_sent = write_early_data(conn, early);
    drive(conn, stream, deadline, &mut started)?;
    Ok(TlsOutcome {
        handshake: started.map(|s| s.elapsed()),
        version: conn.protocol_version().map(version_name),
        cipher: conn
            .negotiated_cipher_suite()
            .map(|c| format!("{:?}", c.suite())),
        alpn: conn
            .alpn_protocol()
            .map(|p| String::from_utf8_lossy(p).into_owned()),
        resumed: matches!(conn.handshake_kind(), Some(rustls::HandshakeKind::Resumed)),
        early_data: early_sent.then(|| conn.is_early_data_accepted()),
        days_left: conn
            .peer_certificates()
            .and_then(|chain| chain.first())
            .and_then(|cert| days_left(cert.as_ref())),
        first_byte: None,
        failure: None,
    })
}

/// Puts `data` in the ClientHello's flight as early data, when the cached
/// session allows all of it; says whether it did.
pub fn write_early_data(conn: &mut ClientConnection, data: Option<&[u8]>) -> bool {
    let Some(data) = data else { return false };
    match conn.early_data() {
        Some(mut early) if early.bytes_left() >= data.len() => {
            std::io::Write::write_all(&mut early, data).is_ok()
        }
        _ => false,
    }
}

/// Waits (until `deadline`) for the first byte of application data and
/// returns when it was there.
fn first_plaintext(
    conn: &mut ClientConnection,
    stream: &mut TcpStream,
    deadline: Instant,
) -> Result<Instant, TlsFailure> {
    loop {
        while conn.wants_write() {
            conn.write_tls(stream)
                .map_err(|e| io_failure(&e, false, true))?;
        }
        let state = conn.process_new_packets().map_err(tls_failure)?;
        if state.plaintext_bytes_to_read() > 0 {
            return Ok(Instant::now());
        }
        if state.peer_has_closed() {
            return Err(TlsFailure::Other(
                "the server closed the connection without answering the request".into(),
            ));
        }
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(TlsFailure::Other(
                "no answer to the request before the timeout".into(),
            ));
        }
        let _ = stream.set_read_timeout(Some(left));
        match conn.read_tls(stream) {
            Ok(0) => {
                return Err(TlsFailure::Other(
                    "the server closed the connection without answering the request".into(),
                ));
            }
            Ok(_) => {}
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                return Err(TlsFailure::Other(
                    "no answer to the request before the timeout".into(),
                ));
            }
            Err(e) => return Err(io_failure(&e, false, true)),
        }
    }
}

/// Days from now to the certificate's notAfter (RFC 5280 section
/// 4.1.2.5), rounded down; negative once it has expired.
pub fn days_left(der: &[u8]) -> Option<i64> {
    use x509_cert::der::Decode;
    let cert = x509_cert::Certificate::from_der(der).ok()?;
    let not_after = cert.tbs_certificate.validity.not_after.to_unix_duration();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .ok()?;
    let seconds = not_after.as_secs() as i64 - now.as_secs() as i64;
    Some(seconds.div_euclid(86_400))
}

fn version_name(v: rustls::ProtocolVersion) -> &'static str {
    match v {
        rustls::ProtocolVersion::TLSv1_3 => "TLSv1.3",
        rustls::ProtocolVersion::TLSv1_2 => "TLSv1.2",
        _ => "other",
    }
}

/// Drives the handshake to its end; `started` is set when the first byte
/// of the ClientHello goes out.
fn drive(
    conn: &mut ClientConnection,
    stream: &mut TcpStream,
    deadline: Instant,
    started: &mut Option<Instant>,
) -> Result<(), TlsFailure> {
    let mut received = 0usize;
    while conn.is_handshaking() || conn.wants_write() {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(TlsFailure::Timeout {
                after_hello: started.is_some(),
            });
        }
        let _ = stream.set_write_timeout(Some(left));
        let _ = stream.set_read_timeout(Some(left));
        while conn.wants_write() {
            started.get_or_insert_with(Instant::now);
            if let Err(e) = conn.write_tls(stream) {
                return Err(io_failure(&e, received == 0, started.is_some()));
            }
        }
        if !conn.is_handshaking() {
            break;
        }
        match conn.read_tls(stream) {
            Ok(0) if received == 0 => return Err(TlsFailure::ClosedAfterHello { reset: false }),
            Ok(0) => {
                return Err(TlsFailure::Other(
                    "the server closed the connection during the handshake".into(),
                ));
            }
            Ok(n) => received += n,
            Err(e) => return Err(io_failure(&e, received == 0, started.is_some())),
        }
        if let Err(e) = conn.process_new_packets() {
            // Tell the server why, as a client would (best effort).
            let _ = conn.write_tls(stream);
            return Err(tls_failure(e));
        }
    }
    Ok(())
}

fn io_failure(e: &io::Error, nothing_yet: bool, after_hello: bool) -> TlsFailure {
    match e.kind() {
        ErrorKind::WouldBlock | ErrorKind::TimedOut => TlsFailure::Timeout { after_hello },
        ErrorKind::ConnectionReset | ErrorKind::BrokenPipe if nothing_yet => {
            TlsFailure::ClosedAfterHello { reset: true }
        }
        _ => TlsFailure::Other(e.to_string()),
    }
}

fn tls_failure(e: rustls::Error) -> TlsFailure {
    use rustls::Error;
    match e {
        Error::AlertReceived(alert) => TlsFailure::Alert(alert_name(alert)),
        Error::InvalidCertificate(c) => TlsFailure::Certificate(certificate_words(&c)),
        Error::InvalidMessage(_) | Error::InappropriateMessage { .. } => TlsFailure::NotTls,
        other => TlsFailure::Other(other.to_string()),
    }
}

fn alert_name(a: rustls::AlertDescription) -> String {
    // "HandshakeFailure" → "handshake failure".
    let debug = format!("{a:?}");
    let mut words = String::new();
    for (i, c) in debug.chars().enumerate() {
        if c.is_uppercase() && i > 0 {
            words.push(' ');
        }
        words.extend(c.to_lowercase());
    }
    words
}

fn certificate_words(c: &rustls::CertificateError) -> String {
    use rustls::CertificateError as C;
    match c {
        C::Expired | C::ExpiredContext { .. } => "it has expired".into(),
        C::NotValidYet | C::NotValidYetContext { .. } => "it is not valid yet".into(),
        C::UnknownIssuer => {
            "it is not signed by a trusted authority (self-signed, or a private CA)".into()
        }
        C::NotValidForName | C::NotValidForNameContext { .. } => {
            "it is not valid for the name asked for (--sni)".into()
        }
        C::Revoked => "it has been revoked".into(),
        C::BadSignature => "its signature does not verify".into(),
        other => format!("{other:?}"),
    }
}

/// `--insecure`: any certificate, but the handshake signatures still
/// checked (the measurement is of a real handshake).
#[derive(Debug)]
struct AcceptAny(Arc<rustls::crypto::CryptoProvider>);

impl ServerCertVerifier for AcceptAny {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}
