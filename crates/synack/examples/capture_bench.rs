//! `synack capture` against `tcpdump -w /dev/null` on the same lab link
//! under the same SYN-heavy load, in turn: frames seen, kernel drops and
//! CPU per handshake. Needs root, tcpdump and the release synack binary.
//! `cargo run --release -p synack --example capture_bench -- [SYNS]`
use std::io::BufRead;
use std::process::{Command, Stdio};
use std::time::Duration;
use synack_lab::{Lab, Side};

/// Runs `cmd` (inside the server namespace) under GNU time while the lab
/// floods `syns` SYNs, and returns (its stderr, CPU seconds).
fn measure(lab: &Lab, argv: &[&str], ready: &str, syns: u32) -> (String, f64) {
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
    lab.syn_flood(8080, syns, false).unwrap();
    std::thread::sleep(Duration::from_millis(500));
    synack_lab::sys::kill(child.id() as i32, libc::SIGINT);
    // /usr/bin/time forwards nothing: signal the capture itself too.
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

fn main() {
    let syns: u32 = std::env::args()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(200_000);
    let me = std::env::current_exe().unwrap();
    let synack = me.parent().unwrap().parent().unwrap().join("synack");
    let lab = Lab::up().expect("lab (needs root)");
    lab.sysctl(Side::Server, "net.ipv4.tcp_syncookies", "2")
        .unwrap();
    let server = lab.server_addr(false);
    let l = lab
        .server
        .run(move || std::net::TcpListener::bind((server, 8080)))
        .unwrap()
        .unwrap();
    std::thread::spawn(move || {
        for s in l.incoming() {
            drop(s)
        }
    });
    println!(
        "{syns} spoofed SYNs to a listener (every one answered with a SYN-ACK cookie), captured on the server's veth"
    );
    let s = synack.to_str().unwrap();
    let (said, cpu) = measure(
        &lab,
        &[s, "capture", "-i", "veth-srv", "--format", "json"],
        "listening",
        syns,
    );
    let line = said
        .lines()
        .find(|l| l.contains("frames read"))
        .unwrap_or("")
        .to_string();
    println!(
        "synack capture: {line}\n  CPU {cpu:.2} s = {:.2} µs per handshake",
        cpu * 1e6 / f64::from(syns)
    );
    let (said, cpu) = measure(
        &lab,
        &["tcpdump", "-i", "veth-srv", "-w", "/dev/null", "tcp"],
        "listening on",
        syns,
    );
    let summary: Vec<&str> = said.lines().filter(|l| l.contains("packets")).collect();
    println!(
        "tcpdump -w /dev/null tcp: {}\n  CPU {cpu:.2} s = {:.2} µs per handshake",
        summary.join("; "),
        cpu * 1e6 / f64::from(syns)
    );
}
