//! `synack probe --tls` against TLS servers in labs: the TLS handshake timed
//! apart from the TCP one against the delay the lab injects, resumption on
//! the next attempt, and every kind of bad answer with its cause and exit
//! status, never past `--timeout`. Needs root; skips elsewhere, saying why.

mod support;

use serde_json::Value;
use std::io::{Read, Write};
use std::net::{IpAddr, Ipv6Addr, SocketAddr, TcpListener};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};
use synack_lab::{Impairment, Lab};

const BIN: &str = env!("CARGO_BIN_EXE_synack");

fn lab() -> Option<Lab> {
    synack_lab::testing::lab_or_skip("the TLS probe's lab tests")
}

/// A certificate for the server's address, signed by itself.
fn certificate(
    ip: IpAddr,
) -> (
    rustls::pki_types::CertificateDer<'static>,
    rustls::pki_types::PrivateKeyDer<'static>,
) {
    let key = rcgen::KeyPair::generate().unwrap();
    let mut params = rcgen::CertificateParams::new(vec![ip.to_string()]).unwrap();
    params.subject_alt_names = vec![rcgen::SanType::IpAddress(ip)];
    let cert = params.self_signed(&key).unwrap();
    (
        cert.der().clone(),
        rustls::pki_types::PrivateKeyDer::Pkcs8(key.serialize_der().into()),
    )
}

/// A TLS 1.3 server on `port` in the lab's server namespace, offering
/// `alpn`, with session tickets; it answers each request line with a line.
/// Stops when the returned flag is set.
fn tls_server(lab: &Lab, port: u16, alpn: &[&str]) -> Arc<AtomicBool> {
    let (cert, key) = certificate(IpAddr::V4(lab.server_v4));
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS13])
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(vec![cert], key)
        .unwrap();
    config.alpn_protocols = alpn.iter().map(|p| p.as_bytes().to_vec()).collect();
    config.send_tls13_tickets = 2;
    let config = Arc::new(config);
    let any = SocketAddr::new(IpAddr::V6(Ipv6Addr::UNSPECIFIED), port);
    let listener = lab
        .server
        .run(move || TcpListener::bind(any))
        .unwrap()
        .unwrap();
    listener.set_nonblocking(true).unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let done = Arc::clone(&stop);
    std::thread::spawn(move || {
        while !done.load(Ordering::SeqCst) {
            match listener.accept() {
                Ok((stream, _)) => {
                    let config = Arc::clone(&config);
                    std::thread::spawn(move || {
                        let _ = stream.set_nonblocking(false);
                        let _ = stream.set_read_timeout(Some(Duration::from_secs(5)));
                        let conn = rustls::ServerConnection::new(config).unwrap();
                        let mut tls = rustls::StreamOwned::new(conn, stream);
                        let mut buf = [0u8; 256];
                        if let Ok(n) = tls.read(&mut buf)
                            && n > 0
                        {
                            let _ = tls.write_all(b"ok\n");
                        }
                    });
                }
                // Nothing to accept: look again shortly (bounded by the
                // test, which sets the flag).
                Err(_) => std::thread::sleep(Duration::from_millis(5)),
            }
        }
    });
    stop
}

/// `synack probe TARGET --tls ... --format json` from the client side.
fn probe(lab: &Lab, port: u16, extra: &[&str]) -> (Vec<Value>, Option<i32>, Duration) {
    let target = format!("{}:{port}", lab.server_v4);
    let mut args = vec!["probe", target.as_str(), "--tls", "--format", "json"];
    args.extend_from_slice(extra);
    let started = Instant::now();
    let o = lab.client.command(BIN).args(&args).output().unwrap();
    let took = started.elapsed();
    let records = String::from_utf8_lossy(&o.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect();
    (records, o.status.code(), took)
}

fn ms(v: &Value) -> f64 {
    v.as_f64().unwrap_or(f64::NAN) / 1000.0
}

/// The fastest full and resumed TLS handshakes (ms) of three runs of
/// four attempts (each run's first is full, the rest resume), and the
/// records. The minimum keeps the computing's noise (a debug build's
/// key exchange and signatures) out of the comparison.
fn fastest_handshakes(lab: &Lab) -> (f64, f64, Vec<Value>) {
    let args = ["-c", "4", "-i", "0.1", "--insecure", "--alpn", "h2"];
    let (mut full, mut resumed, mut all) = (f64::MAX, f64::MAX, Vec::new());
    for _ in 0..3 {
        let (records, exit, _) = probe(lab, 8443, &args);
        assert_eq!(exit, Some(0), "{records:?}");
        assert_eq!(records.len(), 4);
        for (i, r) in records.iter().enumerate() {
            let tls = &r["tls"];
            assert_eq!(tls["version"], "TLSv1.3", "{r}");
            assert_eq!(tls["alpn"], "h2", "{r}");
            assert_eq!(tls["resumed"], i > 0, "attempt {}: {r}", i + 1);
            let h = ms(&tls["handshake_us"]);
            if i == 0 {
                full = full.min(h);
            } else {
                resumed = resumed.min(h);
            }
        }
        all.extend(records);
    }
    (full, resumed, all)
}

/// TLS 1.3's full handshake costs one round trip after the TCP one, and
/// so does a resumed one (without early data); the second attempt on
/// resumes the session. Predicted: the same handshakes without delay plus
/// the injected round trip, within 5% + 1 ms.
#[test]
fn the_tls_handshake_costs_one_round_trip_after_tcp_and_resumes() {
    let Some(mut lab) = lab() else { return };
    let stop = tls_server(&lab, 8443, &["h2", "http/1.1"]);
    let (base_full, base_resumed, _) = fastest_handshakes(&lab);
    let rtt = 50.0;
    lab.impair(Impairment::delay(Duration::from_millis(50)))
        .unwrap();
    let (full, resumed, records) = fastest_handshakes(&lab);
    stop.store(true, Ordering::SeqCst);
    for r in &records {
        let tcp = ms(&r["connect_us"]);
        assert!((rtt..rtt * 1.05 + 1.0).contains(&tcp), "TCP {tcp} ms: {r}");
    }
    for (what, got, base) in [
        ("full", full, base_full),
        ("resumed", resumed, base_resumed),
    ] {
        let predicted = base + rtt;
        assert!(
            (got - predicted).abs() <= predicted * 0.05 + 1.0,
            "{what} TLS handshake {got} ms, predicted {predicted} ms"
        );
    }
}

#[test]
fn a_self_signed_certificate_is_named_and_fails_the_probe() {
    let Some(lab) = lab() else { return };
    let stop = tls_server(&lab, 8443, &[]);
    let (records, exit, _) = probe(&lab, 8443, &["-c", "1"]);
    stop.store(true, Ordering::SeqCst);
    assert_eq!(exit, Some(1));
    let tls = &records[0]["tls"];
    assert_eq!(tls["failure"], "tls_certificate", "{tls}");
    assert!(
        tls["cause"]
            .as_str()
            .unwrap()
            .contains("not signed by a trusted authority"),
        "{tls}"
    );
}

#[test]
fn an_alpn_the_server_refuses_is_its_alert() {
    let Some(lab) = lab() else { return };
    let stop = tls_server(&lab, 8443, &["http/1.1"]);
    let (records, exit, _) = probe(&lab, 8443, &["-c", "1", "--insecure", "--alpn", "h2"]);
    stop.store(true, Ordering::SeqCst);
    assert_eq!(exit, Some(1));
    let tls = &records[0]["tls"];
    assert_eq!(tls["failure"], "tls_alert", "{tls}");
    assert!(
        tls["cause"]
            .as_str()
            .unwrap()
            .contains("no application protocol"),
        "{tls}"
    );
}

#[test]
fn a_plain_tcp_port_is_not_tls() {
    let Some(lab) = lab() else { return };
    // A server that answers whatever comes with an HTTP error, as plain
    // services do.
    let any = SocketAddr::new(IpAddr::V6(Ipv6Addr::UNSPECIFIED), 8080);
    let listener = lab
        .server
        .run(move || TcpListener::bind(any))
        .unwrap()
        .unwrap();
    let server = std::thread::spawn(move || {
        if let Ok((mut s, _)) = listener.accept() {
            let mut buf = [0u8; 512];
            let _ = s.read(&mut buf);
            let _ = s.write_all(b"HTTP/1.0 400 Bad Request\r\n\r\n");
        }
    });
    let (records, exit, _) = probe(&lab, 8080, &["-c", "1", "--insecure"]);
    let _ = server.join();
    assert_eq!(exit, Some(1));
    assert_eq!(records[0]["tls"]["failure"], "not_tls", "{}", records[0]);
}

#[test]
fn a_reset_after_the_client_hello_is_named() {
    let Some(lab) = lab() else { return };
    let any = SocketAddr::new(IpAddr::V6(Ipv6Addr::UNSPECIFIED), 8443);
    let listener = lab
        .server
        .run(move || TcpListener::bind(any))
        .unwrap()
        .unwrap();
    let server = std::thread::spawn(move || {
        if let Ok((mut s, _)) = listener.accept() {
            let mut buf = [0u8; 512];
            let _ = s.read(&mut buf);
            // SO_LINGER 0: the close is a RST, as a filtering middlebox's.
            let _ = socket2::SockRef::from(&s).set_linger(Some(Duration::ZERO));
        }
    });
    let (records, exit, _) = probe(&lab, 8443, &["-c", "1", "--insecure"]);
    let _ = server.join();
    assert_eq!(exit, Some(1));
    let tls = &records[0]["tls"];
    assert_eq!(tls["failure"], "tls_closed_after_hello", "{tls}");
    assert!(
        tls["cause"]
            .as_str()
            .unwrap()
            .contains("reset right after the ClientHello"),
        "{tls}"
    );
}

/// A server that accepts and never answers: the probe ends at --timeout.
#[test]
fn a_silent_tls_server_ends_at_the_timeout() {
    let Some(lab) = lab() else { return };
    let any = SocketAddr::new(IpAddr::V6(Ipv6Addr::UNSPECIFIED), 8443);
    let listener = lab
        .server
        .run(move || TcpListener::bind(any))
        .unwrap()
        .unwrap();
    let (records, exit, took) = probe(&lab, 8443, &["-c", "1", "--insecure", "--timeout", "1s"]);
    drop(listener);
    assert_eq!(exit, Some(1));
    assert_eq!(
        records[0]["tls"]["failure"], "tls_timeout",
        "{}",
        records[0]
    );
    assert!(took < Duration::from_secs(3), "took {took:?}");
}
