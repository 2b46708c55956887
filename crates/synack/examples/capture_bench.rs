//! `synack capture` against tcpdump on the same lab link under the same
//! loads, in turn: frames seen, kernel drops and CPU per handshake. Two
//! loads: a spoofed SYN flood answered with SYN-ACK cookies (two frames a
//! handshake, the most handshakes per second this machine makes), and a
//! connect loop of real connections (SYN, SYN-ACK, ACK, FINs and ACKs).
//! Needs root, tcpdump and the release synack binary.
//! `cargo run --release -p synack --example capture_bench -- [SYNS]`
use std::io::BufRead;
use std::net::{IpAddr, TcpStream};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};
use synack_lab::{Lab, Side};

/// Runs `argv` (inside the server namespace) under GNU time while `load`
/// runs, and returns (its stderr, CPU seconds).
fn measure(lab: &Lab, argv: &[&str], ready: &str, load: &dyn Fn()) -> (String, f64) {
    let timing = std::env::temp_dir().join("synack-capture-bench.time");
    let mut child = Command::new("/usr/bin/time")
        .args(["-f", "%U %S", "-o"])
        .arg(&timing)
        .args(["ip", "netns", "exec", &lab.server.name])
        .args(argv)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut err = std::io::BufReader::new(child.stderr.take().unwrap());
    let mut said = String::new();
    let mut line = String::new();
    while err.read_line(&mut line).unwrap_or(0) > 0 {
        said.push_str(&line);
        if line.contains(ready) {
            break;
        }
        line.clear();
    }
    load();
    // Let the last blocks retire (the ring's 10 ms timer) before stopping.
    std::thread::sleep(Duration::from_millis(500));
    // /usr/bin/time forwards nothing: signal the capture itself.
    let _ = Command::new("pkill").args(["-INT", "-f", argv[0]]).status();
    let _ = child.wait();
    let mut rest = String::new();
    while err.read_line(&mut rest).unwrap_or(0) > 0 {}
    said.push_str(&rest);
    let cpu: f64 = std::fs::read_to_string(&timing)
        .unwrap_or_default()
        .split_whitespace()
        .filter_map(|x| x.parse::<f64>().ok())
        .sum();
    (said, cpu)
}

/// `n` connections from the client namespace, each opened and closed.
fn connect_loop(lab: &Lab, server: IpAddr, n: u32) {
    let started = Instant::now();
    let failed = lab
        .client
        .run(move || {
            // The server closes first and the client waits for its FIN, so
            // TIME_WAIT stays on the server and the client's port search
            // does not slow down as connections pile up.
            (0..n)
                .filter(|_| {
                    TcpStream::connect((server, 8080))
                        .and_then(|mut c| std::io::Read::read(&mut c, &mut [0u8; 1]))
                        .is_err()
                })
                .count()
        })
        .unwrap();
    let secs = started.elapsed().as_secs_f64();
    println!(
        "    (load: {n} connections in {secs:.2} s = {:.0}/s, {failed} failed)",
        f64::from(n) / secs
    );
}

fn main() {
    let syns: u32 = std::env::args()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(200_000);
    let connections = (syns / 4).min(60_000);
    let me = std::env::current_exe().unwrap();
    let synack = me.parent().unwrap().parent().unwrap().join("synack");
    let lab = Lab::up().expect("lab (needs root)");
    lab.sysctl(Side::Server, "net.ipv4.tcp_syncookies", "2")
        .unwrap();
    let server = lab.server_addr(false);
    let l = lab.listen(8080, false).unwrap();
    std::thread::spawn(move || {
        for s in l.incoming() {
            drop(s)
        }
    });
    let s = synack.to_str().unwrap();
    let flood = || {
        lab.syn_flood(8080, syns, false).unwrap();
    };
    let connects = || connect_loop(&lab, server, connections);
    let loads: [(&str, u32, &dyn Fn()); 2] = [
        ("spoofed SYNs answered with SYN-ACK cookies", syns, &flood),
        ("connections opened and closed", connections, &connects),
    ];
    let tools: [(&str, &[&str], &str); 4] = [
        (
            "synack capture --format json",
            &[s, "capture", "-i", "veth-srv", "--format", "json"],
            "listening",
        ),
        (
            "synack capture (a line per handshake)",
            &[s, "capture", "-i", "veth-srv"],
            "listening",
        ),
        (
            "tcpdump -w /dev/null tcp",
            &["tcpdump", "-i", "veth-srv", "-w", "/dev/null", "tcp"],
            "listening on",
        ),
        (
            "tcpdump -n tcp (a line per packet)",
            &["tcpdump", "-n", "-i", "veth-srv", "tcp"],
            "listening on",
        ),
    ];
    for (what, handshakes, load) in loads {
        println!("{handshakes} handshakes: {what}, captured on the server's veth");
        for (name, argv, ready) in tools {
            let (said, cpu) = measure(&lab, argv, ready, load);
            let counts: Vec<&str> = said
                .lines()
                .filter(|l| l.contains("frames read") || l.contains("packets"))
                .collect();
            println!(
                "  {name}: CPU {cpu:.2} s = {:.2} µs per handshake\n    {}",
                cpu * 1e6 / f64::from(handshakes),
                counts.join("; ")
            );
        }
    }
}
