//! The probe's full-handshake rate and reported times against a minimal
//! connect loop (the ceiling) and nping, in one run, to one listener in a
//! lab. Needs root. `cargo run --release -p synack --example probe_bench -- [N] [CONCURRENCY]`
use std::net::{SocketAddr, TcpListener};
use std::sync::atomic::AtomicBool;
use std::time::{Duration, Instant};
use synack_lab::Lab;
use synack_probe::engine::{Pace, run};
use synack_probe::{AttemptConfig, Cause};

/// The ceiling: non-blocking connects on one mio loop, RST close, nothing
/// else (no error queue, no TCP_INFO). Returns per-handshake times.
fn ceiling(target: SocketAddr, n: usize, concurrency: usize) -> Vec<Duration> {
    use mio::{Events, Interest, Poll, Token};
    let mut poll = Poll::new().unwrap();
    let mut events = Events::with_capacity(1024);
    let mut slots: Vec<Option<(mio::net::TcpStream, Instant)>> =
        (0..concurrency).map(|_| None).collect();
    let (mut started, mut times) = (0usize, Vec::with_capacity(n));
    while times.len() < n {
        for (i, slot) in slots.iter_mut().enumerate() {
            if slot.is_none() && started < n {
                let s = socket2::Socket::new(
                    socket2::Domain::IPV4,
                    socket2::Type::STREAM.nonblocking(),
                    None,
                )
                .unwrap();
                s.set_linger(Some(Duration::ZERO)).unwrap();
                let t0 = Instant::now();
                let _ = s.connect(&target.into());
                let mut stream = mio::net::TcpStream::from_std(s.into());
                poll.registry()
                    .register(&mut stream, Token(i), Interest::WRITABLE)
                    .unwrap();
                *slot = Some((stream, t0));
                started += 1;
            }
        }
        poll.poll(&mut events, Some(Duration::from_secs(1)))
            .unwrap();
        // The same edge the probe uses: when the loop woke with readiness.
        let woke = Instant::now();
        for ev in events.iter() {
            if let Some((mut s, t0)) = slots[ev.token().0].take() {
                times.push(woke - t0);
                let _ = poll.registry().deregister(&mut s);
            }
        }
    }
    times
}

fn median(v: &mut [Duration]) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn main() {
    let n: usize = std::env::args()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(100_000);
    let concurrency: usize = std::env::args()
        .nth(2)
        .and_then(|s| s.parse().ok())
        .unwrap_or(16);
    let lab = Lab::up().expect("lab (needs root)");
    let target = SocketAddr::new(lab.server_addr(false), 8080);
    let listener = lab
        .server
        .run(move || TcpListener::bind(target))
        .unwrap()
        .unwrap();
    synack_sys::set_backlog(&listener, 4096).unwrap();
    // Accept and drop as fast as connections come.
    std::thread::spawn(move || {
        for s in listener.incoming() {
            drop(s)
        }
    });
    println!("{n} handshakes, {concurrency} in flight, one listener in a lab namespace");
    println!(
        "{:<34} {:>10} {:>12} {:>12}",
        "tool", "seconds", "handshakes/s", "median µs"
    );

    let (mut times, secs) = lab
        .client
        .run(move || {
            let start = Instant::now();
            let t = ceiling(target, n, concurrency);
            (t, start.elapsed().as_secs_f64())
        })
        .unwrap();
    let ceiling_rate = n as f64 / secs;
    let ceiling_median = median(&mut times);
    println!(
        "{:<34} {:>10.2} {:>12.0} {:>12.1}",
        "ceiling (mio connect loop)",
        secs,
        ceiling_rate,
        ceiling_median.as_secs_f64() * 1e6
    );

    let (mut times, secs, failed) = lab
        .client
        .run(move || {
            let start = Instant::now();
            let mut times = Vec::with_capacity(n);
            let mut failed = 0usize;
            let pace = Pace {
                concurrency,
                ..Pace::default()
            };
            let mut jobs = (0..n).map(|i| (i, target));
            run(
                &mut jobs,
                &AttemptConfig::default(),
                &pace,
                &AtomicBool::new(false),
                &mut |_, r| {
                    if r.cause == Cause::Established {
                        times.push(r.connect);
                    } else {
                        failed += 1;
                    }
                },
            )
            .unwrap();
            (times, start.elapsed().as_secs_f64(), failed)
        })
        .unwrap();
    let rate = n as f64 / secs;
    let med = median(&mut times);
    println!(
        "{:<34} {:>10.2} {:>12.0} {:>12.1}",
        "synack probe engine",
        secs,
        rate,
        med.as_secs_f64() * 1e6
    );
    println!(
        "synack: {:.1}% of the ceiling's rate, median {:+.1} µs from the ceiling's, {failed} failed",
        100.0 * rate / ceiling_rate,
        (med.as_secs_f64() - ceiling_median.as_secs_f64()) * 1e6
    );

    // Raw SYN: as fast as the loop sends, every reply matched to its probe.
    let syn_n = n as u32;
    let (probes, secs) = lab
        .client
        .run(move || {
            let start = Instant::now();
            let p = synack_probe::syn::scan(
                &[target],
                syn_n,
                0.0,
                Duration::from_millis(500),
                &Default::default(),
            )
            .unwrap();
            (p, start.elapsed().as_secs_f64() - 0.5)
        })
        .unwrap();
    let answered = probes.iter().filter(|p| p.replies.synack.is_some()).count();
    let dup: u32 = probes
        .iter()
        .map(|p| p.replies.synacks.saturating_sub(1))
        .sum();
    println!(
        "{:<34} {:>10.2} {:>12.0} {:>12}",
        format!("synack probe --syn ({syn_n} SYNs)"),
        secs,
        f64::from(syn_n) / secs,
        format!("{answered} answered")
    );
    println!(
        "raw SYN: {answered} of {syn_n} SYN-ACKs matched to their probe, {dup} duplicates or retransmissions"
    );
    if std::process::Command::new("hping3")
        .arg("--version")
        .output()
        .is_ok()
    {
        let start = Instant::now();
        let out = lab
            .client
            .command("hping3")
            .args(["-S", "-p", "8080", "--faster", "-c", &syn_n.to_string()])
            .arg(lab.server_v4.to_string())
            .output()
            .unwrap();
        let secs = start.elapsed().as_secs_f64();
        let said = String::from_utf8_lossy(&out.stdout).to_string()
            + &String::from_utf8_lossy(&out.stderr);
        let stats = said
            .lines()
            .find(|l| l.contains("packets received"))
            .unwrap_or("")
            .trim()
            .to_string();
        println!(
            "{:<34} {:>10.2} {:>12.0} {:>12}",
            format!("hping3 -S --faster -c {syn_n}"),
            secs,
            f64::from(syn_n) / secs,
            "-"
        );
        println!("hping3: {stats}");
    }

    if std::process::Command::new("nping")
        .arg("--version")
        .output()
        .is_ok()
    {
        let count = n.min(20_000).to_string();
        let start = Instant::now();
        let out = lab
            .client
            .command("nping")
            .args([
                "--tcp-connect",
                "-p",
                "8080",
                "--delay",
                "0",
                "-c",
                &count,
                "-q",
            ])
            .arg(lab.server_v4.to_string())
            .output()
            .unwrap();
        let secs = start.elapsed().as_secs_f64();
        let said = String::from_utf8_lossy(&out.stdout);
        let ok = said
            .lines()
            .find(|l| l.contains("Successful connections"))
            .unwrap_or("")
            .trim()
            .to_string();
        println!(
            "{:<34} {:>10.2} {:>12.0} {:>12}",
            format!("nping --tcp-connect (-c {count})"),
            secs,
            count.parse::<f64>().unwrap() / secs,
            "-"
        );
        println!("nping: {ok}");
    }
}
