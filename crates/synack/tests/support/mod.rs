//! What the command's integration tests share: the binary under test, its
//! output as text, the bundled sample, and records parsed from NDJSON.
//! (Root-or-skip and labs are `synack_lab::testing`.)
#![allow(dead_code)] // each test file uses a part

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// Runs `synack ARGS` to completion.
pub fn synack(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_synack"))
        .args(args)
        .output()
        .expect("run synack")
}

/// The repository's root.
pub fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// The bundled sample capture.
pub fn sample() -> String {
    root()
        .join("samples/handshakes.pcapng")
        .display()
        .to_string()
}

pub fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// One JSON object per line of standard output.
pub fn records(o: &Output) -> Vec<serde_json::Value> {
    stdout(o)
        .lines()
        .map(|l| serde_json::from_str(l).expect("one JSON object per line"))
        .collect()
}

/// A command's stdout, run in network namespace `netns`; fails the test
/// with its stderr when it fails.
pub fn run_in(netns: &str, argv: &[&str]) -> String {
    let out = Command::new("ip")
        .args(["netns", "exec", netns])
        .args(argv)
        .output()
        .expect("ip netns exec");
    assert!(
        out.status.success(),
        "{argv:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// `synack export --netns NETNS --listen 127.0.0.1:PORT ARGS...`, once it
/// says it is serving (the namespace's own loopback holds the port).
pub fn start_exporter(netns: &str, port: u16, args: &[&str]) -> std::process::Child {
    use std::io::BufRead;
    let mut child = Command::new(env!("CARGO_BIN_EXE_synack"))
        .args(["export", "--netns", netns, "--listen"])
        .arg(format!("127.0.0.1:{port}"))
        .args(args)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("start synack export");
    let mut line = String::new();
    std::io::BufReader::new(child.stderr.take().expect("stderr"))
        .read_line(&mut line)
        .expect("the exporter's first line");
    assert!(line.contains("serving"), "{line}");
    child
}

/// The value of the first sample whose line starts with `prefix` (a
/// metric's name, with its labels when given), in OpenMetrics text.
pub fn metric_sample(text: &str, prefix: &str) -> Option<f64> {
    text.lines()
        .find(|l| l.starts_with(prefix) && !l.starts_with('#'))
        .and_then(|l| l.rsplit(' ').next()?.parse().ok())
}
