//! `synack export` under hostile clients, against prometheus-node-exporter
//! in the same run when it is installed: resident memory, threads and
//! `/metrics` latency at rest, with IDLE connections open that send
//! nothing, and while OVERSIZED clients stream an endless request line for
//! SECONDS. The load comes from 127.0.0.1, the scrapes from 127.0.0.2.
//! `cargo run --release -p synack --example export_bench -- [IDLE] [OVERSIZED] [SECONDS]`
//! (defaults 2000, 100, 10; bench/export.sh runs it).

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

struct Server {
    name: &'static str,
    child: Child,
    addr: SocketAddr,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn start(name: &'static str, argv: &[String]) -> Server {
    let addr: SocketAddr = argv
        .iter()
        .find_map(|a| a.rsplit('=').next()?.parse().ok())
        .expect("an address among the arguments");
    let child = Command::new(&argv[0])
        .args(&argv[1..])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap_or_else(|e| panic!("{}: {e}", argv[0]));
    // Ready when it accepts and answers a scrape.
    let started = Instant::now();
    while scrape(addr).is_none() {
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "{name} never answered"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    Server { name, child, addr }
}

/// One GET /metrics from 127.0.0.2 (the attackers come from 127.0.0.1):
/// the time to the whole answer, or none on failure.
fn scrape(addr: SocketAddr) -> Option<Duration> {
    let t0 = Instant::now();
    let socket = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).ok()?;
    let from: SocketAddr = "127.0.0.2:0".parse().unwrap();
    socket.bind(&from.into()).ok()?;
    socket
        .connect_timeout(&addr.into(), Duration::from_secs(30))
        .ok()?;
    let mut s: TcpStream = socket.into();
    s.set_read_timeout(Some(Duration::from_secs(30))).ok()?;
    s.write_all(b"GET /metrics HTTP/1.1\r\nHost: bench\r\nConnection: close\r\n\r\n")
        .ok()?;
    let mut answer = Vec::new();
    s.read_to_end(&mut answer).ok()?;
    answer.starts_with(b"HTTP/1.1 200").then(|| t0.elapsed())
}

/// Median and maximum of `n` scrapes, in ms, and how many failed.
fn scrapes(addr: SocketAddr, n: usize) -> (f64, f64, usize) {
    let mut times: Vec<f64> = Vec::new();
    let mut failed = 0;
    for _ in 0..n {
        match scrape(addr) {
            Some(t) => times.push(t.as_secs_f64() * 1e3),
            None => failed += 1,
        }
    }
    times.sort_by(f64::total_cmp);
    let median = times.get(times.len() / 2).copied().unwrap_or(f64::NAN);
    let max = times.last().copied().unwrap_or(f64::NAN);
    (median, max, failed)
}

/// VmRSS (MB) and Threads of a process.
fn usage(pid: u32) -> (f64, u64) {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let field = |name: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| v.split_whitespace().next()?.parse::<u64>().ok())
            .unwrap_or(0)
    };
    (field("VmRSS:") as f64 / 1024.0, field("Threads:"))
}

fn row(server: &str, load: &str, (median, max, failed): (f64, f64, usize), rss: f64, threads: u64) {
    println!("| {server} | {load} | {median:.1} | {max:.1} | {failed} | {rss:.1} | {threads} |");
}

fn run(server: &Server, idle: usize, oversized: usize, seconds: u64) {
    let pid = server.child.id();
    let (rss, threads) = usage(pid);
    row(
        server.name,
        "at rest",
        scrapes(server.addr, 20),
        rss,
        threads,
    );

    let mut held = Vec::with_capacity(idle);
    for _ in 0..idle {
        match TcpStream::connect(server.addr) {
            Ok(s) => held.push(s),
            Err(e) => {
                eprintln!("{}: connection {} failed: {e}", server.name, held.len());
                break;
            }
        }
    }
    let (rss, threads) = usage(pid);
    let latency = scrapes(server.addr, 20);
    // How many of them the server still keeps open (closed ones read EOF).
    let open = held
        .iter()
        .filter(|s| {
            s.set_nonblocking(true).unwrap();
            let mut b = [0u8; 1];
            let mut stream: &TcpStream = s;
            matches!(stream.read(&mut b), Err(e) if e.kind() == std::io::ErrorKind::WouldBlock)
        })
        .count();
    row(
        server.name,
        &format!("{} idle connections ({open} kept open)", held.len()),
        latency,
        rss,
        threads,
    );
    drop(held);

    let stop = Arc::new(AtomicBool::new(false));
    let accepted = Arc::new(AtomicU64::new(0));
    let senders: Vec<_> = (0..oversized)
        .map(|_| {
            let (stop, accepted, addr) = (stop.clone(), accepted.clone(), server.addr);
            std::thread::spawn(move || {
                let chunk = vec![b'a'; 64 * 1024];
                while !stop.load(Ordering::Relaxed) {
                    let Ok(mut s) = TcpStream::connect(addr) else {
                        std::thread::sleep(Duration::from_millis(100));
                        continue;
                    };
                    s.set_write_timeout(Some(Duration::from_millis(200))).ok();
                    if s.write_all(b"GET /").is_err() {
                        continue;
                    }
                    while !stop.load(Ordering::Relaxed) {
                        match s.write(&chunk) {
                            Ok(n) => accepted.fetch_add(n as u64, Ordering::Relaxed),
                            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => continue,
                            Err(_) => break,
                        };
                    }
                    // Refused: come back a little later, so that the load
                    // is 100 requests at a time, not a reconnect loop that
                    // measures the load generator.
                    std::thread::sleep(Duration::from_millis(100));
                }
            })
        })
        .collect();
    let until = Instant::now() + Duration::from_secs(seconds);
    let (mut peak_rss, mut peak_threads) = (0.0f64, 0u64);
    let mut times = Vec::new();
    let mut failed = 0;
    while Instant::now() < until {
        match scrape(server.addr) {
            Some(t) => times.push(t.as_secs_f64() * 1e3),
            None => failed += 1,
        }
        let (rss, threads) = usage(pid);
        peak_rss = peak_rss.max(rss);
        peak_threads = peak_threads.max(threads);
        std::thread::sleep(Duration::from_millis(100));
    }
    stop.store(true, Ordering::Relaxed);
    for s in senders {
        let _ = s.join();
    }
    times.sort_by(f64::total_cmp);
    row(
        server.name,
        &format!(
            "{oversized} endless request lines, {seconds} s ({} MB sent, peaks)",
            accepted.load(Ordering::Relaxed) >> 20
        ),
        (
            times.get(times.len() / 2).copied().unwrap_or(f64::NAN),
            times.last().copied().unwrap_or(f64::NAN),
            failed,
        ),
        peak_rss,
        peak_threads,
    );
}

fn main() {
    let mut args = std::env::args().skip(1).map(|a| a.parse::<u64>().unwrap());
    let idle = args.next().unwrap_or(2000) as usize;
    let oversized = args.next().unwrap_or(100) as usize;
    let seconds = args.next().unwrap_or(10);
    synack_sys::raise_open_files(16_384);
    let synack = std::env::current_exe()
        .unwrap()
        .parent()
        .unwrap()
        .join("../synack");
    println!(
        "| exporter | load | /metrics median ms | max ms | failed scrapes | RSS MB | threads |"
    );
    println!("|---|---|---|---|---|---|---|");
    let port = free_port();
    let server = start(
        "synack export",
        &[
            synack.display().to_string(),
            "export".into(),
            format!("--listen=127.0.0.1:{port}"),
        ],
    );
    run(&server, idle, oversized, seconds);
    drop(server);
    // The same with room for every idle connection: what each one costs.
    let port = free_port();
    let server = start(
        "synack export, caps 4096",
        &[
            synack.display().to_string(),
            "export".into(),
            "--max-connections=4096".into(),
            "--max-per-client=4096".into(),
            format!("--listen=127.0.0.1:{port}"),
        ],
    );
    run(&server, idle, oversized, seconds);
    drop(server);
    let node = "prometheus-node-exporter";
    if Command::new(node).arg("--version").output().is_ok() {
        let port = free_port();
        let server = start(
            "node_exporter",
            &[
                node.into(),
                format!("--web.listen-address=127.0.0.1:{port}"),
            ],
        );
        run(&server, idle, oversized, seconds);
    } else {
        eprintln!("{node} not installed (apt-get install {node}): synack alone");
    }
}
