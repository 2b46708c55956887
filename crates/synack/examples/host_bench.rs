//! synack's host snapshots against ss and netstat on a namespace holding
//! 100k+ TCP sockets: established pairs held by helper processes (the
//! open-file limit here is 20,000 a process), a listener with half-open
//! connections from a spoofed flood, and idle listeners. Times are the
//! minimum and median of RUNS runs in one go; synack is timed in process
//! (the library calls `watch` makes) and as a whole `synack` process, ss and
//! netstat as processes. Needs root, iproute2 and net-tools.
//! `cargo run --release -p synack --example host_bench -- [CONNECTIONS] [RUNS]`
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::Instant;
use synack_lab::{Lab, Side};

/// Sockets a helper process holds (below the 20,000 open-file limit).
const PER_HELPER: usize = 9_000;

/// Helper mode: `--hold server PORT N` accepts N connections, `--hold
/// client PORT N` makes them; both print "ready" and hold until stdin ends.
fn hold(role: &str, port: u16, n: usize) {
    let mut held = Vec::with_capacity(n);
    if role == "server" {
        let l = TcpListener::bind(("127.0.0.1", port)).unwrap();
        println!("listening");
        std::io::stdout().flush().unwrap();
        for _ in 0..n {
            held.push(l.accept().unwrap().0);
        }
    } else {
        for _ in 0..n {
            held.push(TcpStream::connect(("127.0.0.1", port)).unwrap());
        }
    }
    println!("ready");
    std::io::stdout().flush().unwrap();
    let _ = std::io::stdin().read_to_end(&mut Vec::new());
}

fn spawn_helper(lab: &Lab, role: &str, port: u16, n: usize, wait_for: &str) -> Child {
    let me = std::env::current_exe().unwrap();
    let mut child = Command::new("ip")
        .args(["netns", "exec", &lab.server.name, "sh", "-c"])
        .arg(format!(
            "ulimit -n 20000 && exec {} --hold {role} {port} {n}",
            me.display()
        ))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut out = BufReader::new(child.stdout.take().unwrap());
    let mut line = String::new();
    while out.read_line(&mut line).unwrap() > 0 && !line.contains(wait_for) {
        line.clear();
    }
    assert!(line.contains(wait_for), "helper {role} {port}: {line}");
    // Keep reading so the later "ready" never blocks the helper.
    std::thread::spawn(move || std::io::copy(&mut out, &mut std::io::sink()));
    child
}

fn stats(mut t: Vec<f64>) -> (f64, f64) {
    t.sort_by(f64::total_cmp);
    (t[0], t[t.len() / 2])
}

/// Wall time of `argv` run in the namespace (ms), min and median.
fn time_process(lab: &Lab, argv: &[&str], runs: usize) -> (f64, f64, usize) {
    let mut times = Vec::new();
    let mut lines = 0;
    for _ in 0..runs {
        let t0 = Instant::now();
        let out = Command::new("ip")
            .args(["netns", "exec", &lab.server.name])
            .args(argv)
            .output()
            .unwrap();
        times.push(t0.elapsed().as_secs_f64() * 1e3);
        lines = out.stdout.iter().filter(|&&b| b == b'\n').count();
    }
    let (min, median) = stats(times);
    (min, median, lines)
}

/// Time of `f` in this process (ms), min and median.
fn time_call<T>(runs: usize, mut f: impl FnMut() -> T) -> (f64, f64, T) {
    let mut times = Vec::new();
    let mut last = None;
    for _ in 0..runs {
        let t0 = Instant::now();
        last = Some(f());
        times.push(t0.elapsed().as_secs_f64() * 1e3);
    }
    let (min, median) = stats(times);
    (min, median, last.unwrap())
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.get(1).map(String::as_str) == Some("--hold") {
        return hold(&args[2], args[3].parse().unwrap(), args[4].parse().unwrap());
    }
    let connections: usize = args.get(1).and_then(|s| s.parse().ok()).unwrap_or(50_000);
    let runs: usize = args.get(2).and_then(|s| s.parse().ok()).unwrap_or(11);
    let lab = Lab::up().expect("lab (needs root)");
    lab.sysctl(Side::Server, "net.ipv4.ip_local_port_range", "10000 65535")
        .unwrap();
    let mut helpers = Vec::new();
    let mut port = 2_000;
    let mut left = connections;
    while left > 0 {
        let n = left.min(PER_HELPER);
        helpers.push(spawn_helper(&lab, "server", port, n, "listening"));
        helpers.push(spawn_helper(&lab, "client", port, n, "ready"));
        left -= n;
        port += 1;
    }
    // Half-open connections on one listener, as a flood leaves them.
    let flooded = lab.listen(8080, false).unwrap();
    synack_sys::set_backlog(&flooded, 1024).unwrap();
    lab.syn_flood(8080, 1024, false).unwrap();
    // Idle listeners, as a busy host has.
    let idle: Vec<TcpListener> = (0..50)
        .map(|i| lab.listen(9000 + i, false).unwrap())
        .collect();
    let (_, _, total) = time_process(&lab, &["ss", "-Htan"], 1);
    println!(
        "{total} TCP sockets in the namespace ({connections} connections held by {} processes, {} listeners, a flooded one)\n",
        helpers.len(),
        idle.len() + helpers.len() / 2 + 1
    );
    // Library calls from a thread inside the namespace.
    let inside = |f: &mut (dyn FnMut() -> String + Send)| {
        std::thread::scope(|scope| {
            scope
                .spawn(|| {
                    synack_sys::enter_netns(&lab.server.name).unwrap();
                    time_call(runs, f)
                })
                .join()
                .unwrap()
        })
    };
    let rows: Vec<(String, (f64, f64, String))> = vec![
        (
            "synack full snapshot (library: listeners, SYN-RECV, states, counters, sysctls)".into(),
            inside(&mut || {
                let s =
                    synack_host::Snapshot::take(synack_host::SnapshotOptions::default()).unwrap();
                format!("{} sockets", s.states.unwrap().iter().sum::<u64>())
            }),
        ),
        (
            "synack LISTEN-only (library)".into(),
            inside(&mut || {
                format!(
                    "{} listeners",
                    synack_host::sockets::listeners(true).unwrap().len()
                )
            }),
        ),
        (
            "synack per-listener SYN-RECV (library, one filtered dump)".into(),
            inside(&mut || {
                let half = synack_host::sockets::syn_recv_by_local().unwrap();
                format!("{} half-open", half.values().sum::<u32>())
            }),
        ),
    ];
    println!("{:<84} {:>9} {:>9}  result", "what", "min ms", "median ms");
    for (what, (min, median, result)) in &rows {
        println!("{what:<84} {min:>9.2} {median:>9.2}  {result}");
    }
    let me = std::env::current_exe().unwrap();
    let synack = me.parent().unwrap().parent().unwrap().join("synack");
    let synack = synack.to_str().unwrap();
    let processes: [(&str, &[&str]); 6] = [
        (
            "synack audit (process: LISTEN-only, counters, sysctls)",
            &[synack, "audit", "--format", "json"],
        ),
        ("ss -tan", &["ss", "-tan"]),
        ("ss -ltn", &["ss", "-ltn"]),
        (
            "ss -tan state syn-recv",
            &["ss", "-tan", "state", "syn-recv"],
        ),
        ("netstat -tan", &["netstat", "-tan"]),
        ("true (process start-up through ip netns exec)", &["true"]),
    ];
    for (what, argv) in processes {
        let (min, median, lines) = time_process(&lab, argv, runs);
        println!("{what:<84} {min:>9.2} {median:>9.2}  {lines} lines");
    }
    // A whole /metrics scrape: the exporter in the namespace, curl as client.
    let mut exporter = Command::new("ip")
        .args([
            "netns",
            "exec",
            &lab.server.name,
            synack,
            "export",
            "--listen",
            "127.0.0.1:9917",
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut said = String::new();
    BufReader::new(exporter.stderr.take().unwrap())
        .read_line(&mut said)
        .unwrap();
    assert!(said.contains("serving"), "{said}");
    let (min, median, lines) =
        time_process(&lab, &["curl", "-s", "http://127.0.0.1:9917/metrics"], runs);
    println!(
        "{:<84} {min:>9.2} {median:>9.2}  {lines} lines",
        "synack export: one /metrics scrape (curl process)"
    );
    synack_sys::kill(exporter.id() as i32, synack_sys::signal::SIGTERM);
    let _ = exporter.wait();
    // Peak memory of a whole `synack watch --once` (two full snapshots).
    let out = Command::new("/usr/bin/time")
        .args(["-f", "%M", "ip", "netns", "exec", &lab.server.name, synack])
        .args(["watch", "--once", "--interval", "0.05", "--format", "json"])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .output()
        .unwrap();
    let rss = String::from_utf8_lossy(&out.stderr);
    println!(
        "\nsynack watch --once (two full snapshots): max RSS {} KiB (of `ip netns exec` + synack; GNU time reports the largest)",
        rss.trim().lines().last().unwrap_or("?")
    );
    drop((flooded, idle));
    for mut h in helpers {
        drop(h.stdin.take());
        let _ = h.wait();
    }
}
