//! Writes `samples/lab-handshakes.pcapng`: real Linux handshakes captured
//! on the client's end of a lab, one pcapng section per scenario, each
//! scenario in its own lab. Needs root.
//! `cargo run -p synack-lab --example make_sample -- samples/lab-handshakes.pcapng`
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::time::Duration;
use synack_lab::{IcmpKind, Impairment, Lab, Side};

fn delay(ms: u64) -> Impairment {
    Impairment::delay(Duration::from_millis(ms))
}

/// One scenario: a lab with `impairments`, a listener on 8080 (both
/// families), and `client` run in the client namespace while capturing.
fn scenario(
    name: &str,
    impairments: Vec<Impairment>,
    sysctls: &[(Side, &str, &str)],
    client: impl FnOnce(&Lab) + Send,
) -> Vec<u8> {
    let mut lab = Lab::up().expect("lab (needs root)");
    for (side, k, v) in sysctls {
        lab.sysctl(*side, k, v).unwrap();
    }
    let listeners: Vec<TcpListener> = [false, true]
        .into_iter()
        .map(|v6| {
            let a = SocketAddr::new(lab.server_addr(v6), 8080);
            lab.server
                .run(move || TcpListener::bind(a))
                .unwrap()
                .unwrap()
        })
        .collect();
    for l in &listeners {
        synack_sys::tcp::set_fastopen(l, 16).unwrap();
    }
    for imp in impairments {
        lab.impair(imp).unwrap();
    }
    let path = std::env::temp_dir().join(format!(
        "synack-sample-{name}-{}.pcapng",
        std::process::id()
    ));
    let capture = lab.capture(Side::Client, &path).unwrap();
    let done = std::sync::atomic::AtomicBool::new(false);
    std::thread::scope(|s| {
        // Serve every connection with a short reply until the client is done.
        for l in &listeners {
            let (l, done) = (l.try_clone().unwrap(), &done);
            l.set_nonblocking(true).unwrap();
            s.spawn(move || {
                while !done.load(std::sync::atomic::Ordering::SeqCst) {
                    match l.accept() {
                        Ok((mut c, _)) => {
                            let _ = c.set_nonblocking(false);
                            let _ = c.set_read_timeout(Some(Duration::from_secs(2)));
                            let mut buf = [0u8; 64];
                            let _ = c.read(&mut buf);
                            let _ = c.write_all(b"HTTP/1.0 200 OK\r\n\r\n");
                        }
                        Err(_) => std::thread::sleep(Duration::from_millis(5)),
                    }
                }
            });
        }
        client(&lab);
        done.store(true, std::sync::atomic::Ordering::SeqCst);
    });
    let frames = capture.stop().unwrap();
    eprintln!("{name}: {frames} frames");
    let bytes = std::fs::read(&path).unwrap();
    let _ = std::fs::remove_file(&path);
    bytes
}

fn request(lab: &Lab, v6: bool, port: u16) {
    let a = SocketAddr::new(lab.server_addr(v6), port);
    let _ = lab.client.run(move || -> std::io::Result<()> {
        let mut s = TcpStream::connect_timeout(&a, Duration::from_secs(10))?;
        s.write_all(b"GET / HTTP/1.0\r\n\r\n")?;
        let mut reply = Vec::new();
        s.read_to_end(&mut reply)?;
        Ok(())
    });
}

fn main() {
    let out = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "samples/lab-handshakes.pcapng".into());
    let mut file = Vec::new();
    // First, so that the capture goes on long after it gave up.
    file.extend(scenario(
        "timeout",
        vec![Impairment::DropSynRandom { probability: 1.0 }],
        &[(Side::Client, "net.ipv4.tcp_syn_retries", "1")],
        |lab| request(lab, false, 8080),
    ));
    file.extend(scenario("established", vec![delay(20)], &[], |lab| {
        request(lab, false, 8080);
        request(lab, true, 8080);
    }));
    file.extend(scenario(
        "lost-syn",
        vec![Impairment::DropSyn { first: 1 }],
        &[],
        |lab| request(lab, false, 8080),
    ));
    file.extend(scenario(
        "lost-synack",
        vec![Impairment::DropSynAck { first: 1 }],
        &[],
        |lab| request(lab, true, 8080),
    ));
    file.extend(scenario("refused", vec![], &[], |lab| {
        request(lab, false, 81)
    }));
    file.extend(scenario(
        "icmp",
        vec![
            Impairment::RejectIcmp {
                kind: IcmpKind::Host,
                port: Some(82),
            },
            Impairment::RejectIcmp {
                kind: IcmpKind::Admin,
                port: Some(83),
            },
        ],
        &[],
        |lab| {
            request(lab, false, 82);
            request(lab, true, 83);
        },
    ));
    file.extend(scenario(
        "tfo",
        vec![],
        &[
            (Side::Client, "net.ipv4.tcp_fastopen", "3"),
            (Side::Server, "net.ipv4.tcp_fastopen", "3"),
        ],
        |lab| {
            let a = SocketAddr::new(lab.server_addr(false), 8080);
            let _ = lab.client.run(move || {
                for _ in 0..2 {
                    if let Ok(mut s) =
                        synack_sys::tcp::fastopen_connect(a, b"GET / HTTP/1.0\r\n\r\n")
                    {
                        let mut reply = Vec::new();
                        let _ = s.read_to_end(&mut reply);
                    }
                }
            });
        },
    ));
    std::fs::write(&out, &file).unwrap();
    eprintln!("wrote {out}: {} bytes", file.len());
}
