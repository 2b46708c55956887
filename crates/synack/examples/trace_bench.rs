//! What `synack trace` costs a connecting application, and what it loses
//! under a burst. Needs root and a synack built with `--features ebpf`.
//!
//! 1. Overhead: a loop of blocking connects to a local listener (loopback;
//!    each accepted, both closed with a RST so no TIME-WAIT piles up),
//!    timed in pairs of rounds without and with `synack trace` running
//!    (its lines written to a file), in alternating order: the median of
//!    the pairs' ratios, and its quartiles.
//! 2. Burst: `BURST` connects from 4 threads as fast as they go, with the
//!    trace running: attempts it wrote against those made, and the events
//!    it reports lost.
//!
//! `cargo run --release -p synack --features ebpf --example trace_bench -- SYNACK_BIN [CONNECTS_PER_ROUND] [BURST] [PAIRS]` (PIN=1: threads pinned, see `pin`)
use std::io::{BufRead, BufReader};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A listener that accepts and drops everything, on its own thread.
fn listener() -> SocketAddr {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    synack_sys::set_backlog(&l, 4096).unwrap();
    let addr = l.local_addr().unwrap();
    std::thread::spawn(move || {
        pin(1);
        for s in l.incoming().flatten() {
            let _ = socket2::SockRef::from(&s).set_linger(Some(Duration::ZERO));
        }
    });
    addr
}

/// With PIN=1, the connecting thread on CPU 0 and the accepting one on
/// CPU 1 (when there is one): the application then holds every CPU of a
/// machine of two, and the trace takes its time from theirs (the worst
/// case). By default all threads are left to the scheduler, as programs
/// run.
fn pin(cpu: usize) {
    if cpu < cpus() && std::env::var("PIN").as_deref() == Ok("1") {
        synack_sys::set_cpus(0, [cpu]).unwrap();
    }
}

fn cpus() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

fn connects(target: SocketAddr, n: usize) -> Duration {
    let start = Instant::now();
    for _ in 0..n {
        // The listener's RST may close it before connect() returns
        // (ECONNRESET): the handshake was made all the same.
        if let Ok(s) = TcpStream::connect(target) {
            let _ = socket2::SockRef::from(&s).set_linger(Some(Duration::ZERO));
        }
    }
    start.elapsed()
}

/// A running `synack trace`: the process, its standard error, and the
/// file its standard output goes to (as with a redirect: the lines cost
/// the trace their writing, and no reader shares the CPUs).
struct Trace {
    child: Child,
    err: BufReader<std::process::ChildStderr>,
    out: std::path::PathBuf,
}

/// `synack trace` on `port`, attached (its "tracing" line read).
fn trace(bin: &str, port: u16, format: &str) -> Trace {
    let extra = std::env::var("TRACE_ARGS").unwrap_or_default();
    let out = std::env::temp_dir().join(format!("synack-trace-bench-{}.out", std::process::id()));
    let mut child = Command::new(bin)
        .args(["trace", "--port", &port.to_string(), "--format", format])
        .args(extra.split_whitespace())
        .stdout(std::fs::File::create(&out).unwrap())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Spawned from the pinned connecting thread: free it.
    synack_sys::set_cpus(child.id(), 0..cpus()).unwrap();
    let mut err = BufReader::new(child.stderr.take().unwrap());
    let mut line = String::new();
    while err.read_line(&mut line).unwrap() > 0 && !line.contains("tracing TCP") {}
    assert!(
        line.contains("tracing TCP"),
        "synack trace did not start: {line}"
    );
    Trace { child, err, out }
}

/// CPU time the process has used (user + system), from /proc.
fn cpu(pid: u32) -> Duration {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    // Fields after the command (which may hold spaces): utime is the 14th
    // field of the line, stime the 15th, in clock ticks (100 a second).
    let after = &stat[stat.rfind(')').unwrap() + 2..];
    let f: Vec<u64> = after
        .split(' ')
        .skip(11)
        .take(2)
        .map(|x| x.parse().unwrap())
        .collect();
    Duration::from_millis((f[0] + f[1]) * 10)
}

/// Stops a trace: its standard output and error.
fn stop(mut t: Trace) -> (String, String) {
    synack_sys::kill(t.child.id() as i32, synack_sys::signal::SIGTERM);
    let mut rest = String::new();
    std::io::Read::read_to_string(&mut t.err, &mut rest).unwrap();
    let _ = t.child.wait();
    let out = std::fs::read_to_string(&t.out).unwrap();
    let _ = std::fs::remove_file(&t.out);
    (out, rest)
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    v[v.len() / 2]
}

fn main() {
    let mut args = std::env::args().skip(1);
    let bin = args
        .next()
        .expect("the synack binary (built with --features ebpf)");
    let per_round: usize = args.next().map_or(10_000, |a| a.parse().unwrap());
    let burst: usize = args.next().map_or(100_000, |a| a.parse().unwrap());
    // Rates here vary by ±10% from round to round: the median of 80
    // pairs' ratios of short rounds is steady to about a point.
    let pairs: usize = args.next().map_or(80, |a| a.parse().unwrap());
    let target = listener();
    pin(0);
    connects(target, 2_000); // warm up
    // Pairs of rounds, without and with the trace, in alternating order
    // (without first, then with first): the rate of this machine drifts
    // by more than what is measured, and a pair's ratio cancels the drift
    // that an order would add to one side.
    let mut ratios = Vec::new();
    let (mut without, mut with) = (Vec::new(), Vec::new());
    for pair in 0..pairs {
        let traced = || {
            let t = trace(&bin, target.port(), "summary");
            let rate = per_round as f64 / connects(target, per_round).as_secs_f64();
            let used = cpu(t.child.id());
            stop(t);
            (rate, used)
        };
        let plain = || per_round as f64 / connects(target, per_round).as_secs_f64();
        let (rate, (rate_traced, used)) = if pair % 2 == 0 {
            let rate = plain();
            (rate, traced())
        } else {
            let traced = traced();
            (plain(), traced)
        };
        println!(
            "pair {pair}: {rate:.0} connects/s without, {rate_traced:.0} with synack trace ({:.1}% slower; the trace used {} ms of CPU)",
            100.0 * (1.0 - rate_traced / rate),
            used.as_millis()
        );
        ratios.push(rate_traced / rate);
        without.push(rate);
        with.push(rate_traced);
    }
    let mut sorted = ratios.clone();
    sorted.sort_by(|a, b| a.total_cmp(b));
    println!(
        "overhead: median of {pairs} pairs {:.1}% slower (quartiles {:.1}% to {:.1}%); median rates {:.0} connects/s without, {:.0} with",
        100.0 * (1.0 - median(ratios)),
        100.0 * (1.0 - sorted[pairs * 3 / 4]),
        100.0 * (1.0 - sorted[pairs / 4]),
        median(without),
        median(with)
    );

    let t = trace(&bin, target.port(), "json");
    let start = Instant::now();
    let threads: Vec<_> = (0..4)
        .map(|_| std::thread::spawn(move || connects(target, burst / 4)))
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    let took = start.elapsed();
    let (records, stderr) = stop(t);
    let client = records
        .lines()
        .filter(|l| l.contains("\"local_side\":\"client\""))
        .count();
    let server = records
        .lines()
        .filter(|l| l.contains("\"local_side\":\"server\""))
        .count();
    println!(
        "burst: {} connects in {:.2} s ({:.0}/s); synack trace wrote {client} client and {server} server records; it said: {}",
        burst / 4 * 4,
        took.as_secs_f64(),
        (burst / 4 * 4) as f64 / took.as_secs_f64(),
        stderr.lines().last().unwrap_or("")
    );
}
