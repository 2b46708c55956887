//! `synack trace` (feature `ebpf`) against attempts whose truth the test
//! injects, made and received: a connection made, one refused (nothing
//! listens), one whose SYNs are all dropped until the kernel gives up
//! (ETIMEDOUT, its SYN retransmissions counted), one answered by an ICMP
//! host unreachable; on the server side a lost SYN-ACK (sent again, and
//! the drop named), a full accept queue (the SYN's drop, its reason and
//! listener), and a connection accepted late (its accept-queue wait).
//! Processes are the test's own children (their pid and command) or the
//! test itself. Needs root; skips elsewhere, saying why.
#![cfg(feature = "ebpf")]

use std::io::{BufRead, BufReader};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::process::{Child, ChildStdout, Command, Stdio};
use std::time::{Duration, Instant};
use synack_lab::{IcmpKind, Impairment, Side};

const BIN: &str = env!("CARGO_BIN_EXE_synack");

/// A running `synack trace`, attached (its "tracing" line read).
struct Trace {
    child: Child,
    out: BufReader<ChildStdout>,
    seen: Vec<String>,
}

impl Trace {
    fn start(args: &[&str]) -> Trace {
        let mut child = Command::new(BIN)
            .arg("trace")
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let mut err = BufReader::new(child.stderr.take().unwrap());
        let mut line = String::new();
        // Bounded: the trace writes its "tracing" line, or an error and
        // ends (EOF).
        while err.read_line(&mut line).unwrap() > 0 && !line.contains("tracing TCP") {}
        assert!(
            line.contains("tracing TCP"),
            "the trace did not start: {line}"
        );
        std::thread::spawn(move || std::io::copy(&mut err, &mut std::io::sink()));
        let out = BufReader::new(child.stdout.take().unwrap());
        Trace {
            child,
            out,
            seen: Vec::new(),
        }
    }

    /// Reads lines until one satisfies `wanted` (bounded by the trace's
    /// --duration: EOF ends the wait), and returns it.
    fn until(&mut self, wanted: impl Fn(&str) -> bool) -> String {
        if let Some(l) = self.seen.iter().find(|l| wanted(l)) {
            return l.clone();
        }
        let mut line = String::new();
        loop {
            line.clear();
            if self.out.read_line(&mut line).unwrap() == 0 {
                panic!("no such line; the trace wrote:\n{}", self.seen.join(""));
            }
            self.seen.push(line.clone());
            if wanted(&line) {
                return line;
            }
        }
    }

    /// Stops the trace; everything it wrote.
    fn stop(mut self) -> String {
        synack_sys::kill(self.child.id() as i32, synack_sys::signal::SIGTERM);
        let mut rest = String::new();
        std::io::Read::read_to_string(&mut self.out, &mut rest).unwrap();
        let _ = self.child.wait();
        self.seen.join("") + &rest
    }
}

/// `synack probe TARGET -c 1` from the client namespace: its pid.
fn probe(lab: &synack_lab::Lab, target: String, timeout: &str) -> u32 {
    let mut child = lab
        .client
        .command(BIN)
        .args(["probe", &target, "-c", "1", "--timeout", timeout])
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    let pid = child.id();
    let _ = child.wait();
    pid
}

#[test]
fn trace_names_each_injected_outcome_and_the_process() {
    let Some(mut lab) = synack_lab::testing::lab_or_skip("the trace tests") else {
        return;
    };
    let Some(mut dark) = synack_lab::testing::lab_or_skip("the trace tests") else {
        return;
    };
    let _listener = lab.listen(8080, false).unwrap();
    lab.impair(Impairment::RejectIcmp {
        kind: IcmpKind::Host,
        port: Some(82),
    })
    .unwrap();
    dark.impair(Impairment::DropSynRandom { probability: 1.0 })
        .unwrap();
    // One retransmission: the kernel gives up within a few seconds.
    dark.sysctl(Side::Client, "net.ipv4.tcp_syn_retries", "1")
        .unwrap();

    let trace = Trace::start(&["--duration", "30s", "--comm", "synack", "--format", "json"]);
    let server = lab.server_v4;
    let cases = [
        (
            probe(&lab, format!("{server}:8080"), "3s"),
            format!("{server}:8080"),
            "established",
        ),
        (
            probe(&lab, format!("{server}:81"), "3s"),
            format!("{server}:81"),
            "refused",
        ),
        (
            probe(&lab, format!("{server}:82"), "3s"),
            format!("{server}:82"),
            "unreachable",
        ),
        (
            probe(&dark, format!("{}:8080", dark.server_v4), "30s"),
            format!("{}:8080", dark.server_v4),
            "timeout",
        ),
    ];
    let text = trace.stop();
    let records: Vec<serde_json::Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect();
    // The probes ran in this test's cgroup: its v2 path, as the kernel
    // gives it ("0::PATH").
    let own = std::fs::read_to_string("/proc/self/cgroup").unwrap();
    let cgroup = own
        .lines()
        .find_map(|l| l.strip_prefix("0::"))
        .expect("a cgroup v2 line in /proc/self/cgroup");
    for (pid, target, outcome) in &cases {
        let r = records
            .iter()
            .find(|r| r["server"] == target.as_str() && r["local_side"] == "client")
            .unwrap_or_else(|| panic!("no attempt to {target} in:\n{text}"));
        assert_eq!(r["source"], "ebpf", "{r}");
        assert_eq!(r["outcome"], *outcome, "{r}");
        assert_eq!(
            (r["pid"].as_u64(), r["comm"].as_str()),
            (Some(u64::from(*pid)), Some("synack")),
            "{r}"
        );
        assert_eq!(r["cgroup"], cgroup, "{r}");
    }
    let unreachable = records
        .iter()
        .find(|r| r["outcome"] == "unreachable")
        .unwrap();
    // The lab's server rejects with a host unreachable (type 3, code 1).
    assert_eq!(
        (
            unreachable["icmp"]["type"].as_u64(),
            unreachable["icmp"]["code"].as_u64()
        ),
        (Some(3), Some(1)),
        "{unreachable}"
    );
    assert_eq!(
        unreachable["icmp"]["from"],
        server.to_string(),
        "{unreachable}"
    );
    // tcp_syn_retries=1 gives a 3 s budget; with this kernel's linear SYN
    // timeouts (tcp_syn_linear_timeouts=4) the SYN is sent again at 1 s and
    // 2 s before the give-up at 3 s.
    let timed_out = records.iter().find(|r| r["outcome"] == "timeout").unwrap();
    assert_eq!(timed_out["syn_count"], 3, "{timed_out}");
    assert_eq!(timed_out["error"]["name"], "ETIMEDOUT", "{timed_out}");
    let setup = timed_out["times_us"]["last"].as_f64().unwrap();
    assert!((2_900_000.0..3_300_000.0).contains(&setup), "{timed_out}");
}

#[test]
fn trace_counts_a_lost_synack_on_the_server_and_names_the_drop() {
    let Some(mut lab) = synack_lab::testing::lab_or_skip("the trace tests") else {
        return;
    };
    let listener = lab.listen(8443, false).unwrap();
    lab.impair(Impairment::DropSynAck { first: 1 }).unwrap();
    let mut trace = Trace::start(&["--duration", "30s", "--port", "8443"]);
    // A client that keeps its connection open until it is accepted (a
    // probe's reset would close it in the queue).
    let server = SocketAddr::new(lab.server_v4.into(), 8443);
    let _stream = lab
        .client
        .run(move || TcpStream::connect_timeout(&server, Duration::from_secs(10)))
        .unwrap()
        .unwrap();
    let (_conn, client) = listener.accept().unwrap();
    let received = trace.until(|l| l.contains(&format!("server {server} < {client} ")));
    let retransmits = trace
        .seen
        .iter()
        .filter(|l| l.contains(" synack_retransmit ") && l.contains(&client.to_string()))
        .count();
    assert!(retransmits >= 1, "{}", trace.seen.join(""));
    assert!(
        received.contains(&format!("synack_retransmits={retransmits} ")),
        "{received} after {}",
        trace.seen.join("")
    );
    let me = std::process::id();
    assert!(
        received.contains(&format!("pid={me} ")),
        "the acceptor is this test: {received}"
    );
    let made = trace.until(|l| l.contains(&format!("client {client} > ")));
    assert!(
        made.contains(&format!("pid={me} ")) && made.contains(" established "),
        "{made}"
    );
    // The router's firewall dropped the first SYN-ACK: the kernel says so.
    let dropped = trace.until(|l| l.contains(" drop SYN-ACK "));
    assert!(
        dropped.contains("netfilter drop") && dropped.contains(&format!("> {client}")),
        "{dropped}"
    );
    trace.stop();
}

#[test]
fn trace_writes_a_fast_open_connection_accepted_before_its_handshake_completed() {
    let Some(mut lab) = synack_lab::testing::lab_or_skip("the trace tests") else {
        return;
    };
    for side in [Side::Client, Side::Server] {
        lab.sysctl(side, "net.ipv4.tcp_fastopen", "3").unwrap();
    }
    // 20 ms of round trip: the client's ACK reaches the server 20 ms after
    // the SYN carrying its request was queued and accepted.
    lab.impair(Impairment::Delay {
        rtt: Duration::from_millis(20),
        jitter: Duration::ZERO,
        handshake_only: false,
        one_way: false,
    })
    .unwrap();
    let listener = lab.listen(8080, false).unwrap();
    synack_sys::tcp::set_fastopen(&listener, 16).unwrap();
    let mut trace = Trace::start(&["--duration", "30s", "--port", "8080", "--format", "json"]);
    // Both connections accepted as soon as they are queued (the first
    // asks for a cookie, the second carries its request in the SYN), each
    // with the state it was in then.
    let acceptor = std::thread::spawn(move || {
        (0..2)
            .map(|_| {
                let (s, peer) = listener.accept().unwrap();
                let state = synack_sys::tcp::tcp_info(&s).unwrap().state;
                (peer, state, s)
            })
            .collect::<Vec<_>>()
    });
    let target = format!("{}:8080", lab.server_v4);
    let probe = lab
        .client
        .command(BIN)
        .args(["probe", &target, "-c", "2", "--tfo", "--timeout", "3s"])
        .output()
        .unwrap();
    let accepted = acceptor.join().unwrap();
    let probed = String::from_utf8_lossy(&probe.stdout);
    // The injected case happened: one was accepted still SYN_RECV (3).
    let (early, _, _) = accepted
        .iter()
        .find(|(_, state, _)| *state == 3)
        .unwrap_or_else(|| {
            panic!("no connection accepted before its handshake completed: {probed}")
        });
    // Its record comes when its handshake completes, not when the trace
    // ends, with the acceptor and no wait.
    let its_record = |l: &str| {
        l.contains("\"local_side\":\"server\"") && l.contains(&format!("\"client\":\"{early}\""))
    };
    let record = trace.until(its_record);
    let r: serde_json::Value = serde_json::from_str(record.trim()).unwrap();
    assert_eq!(
        r["pid"].as_u64(),
        Some(u64::from(std::process::id())),
        "{r}"
    );
    assert_eq!(r["accept_wait_us"].as_f64(), Some(0.0), "{r}");
    assert_eq!(r["outcome"], "established", "{r}");
    let all = trace.stop();
    assert_eq!(all.lines().filter(|l| its_record(l)).count(), 1, "{all}");
}

#[test]
fn trace_names_a_full_accept_queue_and_measures_a_late_accept() {
    if !synack_lab::testing::root_or_skip("the trace tests") {
        return;
    }
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    // Backlog 0: one connection fills the accept queue.
    synack_sys::set_backlog(&listener, 0).unwrap();
    let addr = listener.local_addr().unwrap();
    let port = addr.port().to_string();
    let mut trace = Trace::start(&["--duration", "30s", "--port", &port]);

    let first = TcpStream::connect(addr).unwrap();
    let queued_at = Instant::now();
    // The queue is full: the next SYN is refused by the listener.
    let second = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
    second.set_nonblocking(true).unwrap();
    let _ = second.connect(&addr.into());
    let dropped = trace.until(|l| l.contains(" drop SYN "));
    assert!(
        dropped.contains(&format!(
            "> {addr}: listen queue overflow: accept queue full"
        )),
        "{dropped}"
    );

    // The injected delay: accept 150 ms after the connection was queued.
    std::thread::sleep(Duration::from_millis(150).saturating_sub(queued_at.elapsed()));
    let (_conn, _) = listener.accept().unwrap();
    let waited = queued_at.elapsed();
    let local = first.local_addr().unwrap();
    let received = trace.until(|l| l.contains(&format!("server {addr} < {local} ")));
    let wait = received
        .split(" accept_wait=")
        .nth(1)
        .and_then(|w| w.split(" ms").next())
        .and_then(|ms| ms.parse::<f64>().ok())
        .unwrap_or_else(|| panic!("no accept wait in ms: {received}"));
    let injected = waited.as_secs_f64() * 1000.0;
    assert!(
        (wait - injected).abs() <= 2.0,
        "traced {wait} ms, injected {injected:.3} ms: {received}"
    );
    assert!(
        received.contains(&format!("pid={} ", std::process::id())),
        "{received}"
    );
    let text = trace.stop();
    // The summary names the listener and the reason.
    assert!(
        text.contains("Handshake packets dropped by the kernel"),
        "{text}"
    );
    assert!(text.contains("Accept-queue wait by listener"), "{text}");
}

#[path = "support/mod.rs"]
mod support;

/// `/metrics` from inside the exporter's namespace.
fn scrape(netns: &str, addr: SocketAddr) -> String {
    let netns = netns.to_string();
    std::thread::spawn(move || {
        use std::io::{Read, Write};
        synack_sys::enter_netns(&netns).unwrap();
        let mut s = TcpStream::connect(addr).unwrap();
        s.write_all(b"GET /metrics HTTP/1.1\r\nHost: test\r\n\r\n")
            .unwrap();
        let mut text = String::new();
        s.read_to_string(&mut text).unwrap();
        text
    })
    .join()
    .unwrap()
}

#[test]
fn export_trace_counts_attempts_by_process_and_listener() {
    let Some(lab) = synack_lab::testing::lab_or_skip("the trace tests") else {
        return;
    };
    let listener = lab.listen(8081, false).unwrap();
    let mut exporter = support::start_exporter(&lab.server.name, 9317, &["--trace"]);
    let pid = probe(&lab, format!("{}:8081", lab.server_v4), "3s");
    assert!(pid > 0);
    let _ = listener.accept().unwrap();
    let probe_refused = probe(&lab, format!("{}:81", lab.server_v4), "3s");
    assert!(probe_refused > 0);
    let at: SocketAddr = "127.0.0.1:9317".parse().unwrap();
    // The tracer reads its ring every 50 ms: scrape until both attempts
    // are counted (bounded: 100 scrapes).
    let mut text = String::new();
    let counted = |t: &str, outcome: &str| {
        support::metric_sample(
            t,
            &format!("synack_trace_connects_total{{comm=\"synack\",outcome=\"{outcome}\"}}"),
        )
        .unwrap_or(0.0)
            >= 1.0
    };
    for _ in 0..100 {
        text = scrape(&lab.server.name, at);
        if counted(&text, "established") && counted(&text, "refused") {
            break;
        }
    }
    synack_sys::kill(exporter.id() as i32, synack_sys::signal::SIGTERM);
    let _ = exporter.wait();
    assert!(
        counted(&text, "established") && counted(&text, "refused"),
        "{text}"
    );
    let listener_labels = format!(
        "listener_address=\"{}\",listener_port=\"8081\"",
        lab.server_v4
    );
    assert!(
        text.contains(&format!(
            "synack_trace_received_total{{{listener_labels},outcome=\"established\"}}"
        )),
        "{text}"
    );
    // The probe resets its connection before the test accepts it; the
    // exporter's own listener accepts each scrape: those have waits.
    let waits = support::metric_sample(
        &text,
        "synack_trace_accept_wait_seconds_count{listener_address=\"127.0.0.1\",listener_port=\"9317\"}",
    );
    assert!(waits.is_some_and(|n| n >= 1.0), "{text}");
    assert!(text.contains("synack_trace_events_lost_total 0"), "{text}");
}
