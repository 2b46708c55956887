//! `synack watch`, `synack audit` and `synack export` against a lab
//! namespace whose listeners are overloaded on purpose, checked against the
//! kernel's own tools (`ss`, `nstat`) and the ground truth measured on this
//! kernel: both queues hold min(backlog, somaxconn)+1.
//! Needs root; skips elsewhere, saying why (CI runs as root).

mod support;
use support::synack;

use serde_json::Value;
use std::io::{BufRead, Read, Write};
use std::process::{Command, Stdio};
use synack_lab::{Lab, Side};

fn lab() -> Option<Lab> {
    synack_lab::testing::lab_or_skip("the host tests")
}

/// `synack watch --once --format json` in the lab's server namespace.
fn watch_once(lab: &Lab, more: &[&str]) -> (Value, Option<i32>) {
    let mut args = vec![
        "watch",
        "--once",
        "--interval",
        "0.2",
        "--format",
        "json",
        "--netns",
        &lab.server.name,
    ];
    args.extend(more);
    let out = synack(&args);
    let text = String::from_utf8_lossy(&out.stdout);
    let v: Value = serde_json::from_str(&text)
        .unwrap_or_else(|e| panic!("{e}: {text} {}", String::from_utf8_lossy(&out.stderr)));
    (v, out.status.code())
}

/// Runs a command in the server namespace and returns its stdout.
fn in_server(lab: &Lab, argv: &[&str]) -> String {
    support::run_in(&lab.server.name, argv)
}

/// Absolute counter values as nstat prints them (-a: not since its own
/// history file, which is shared across namespaces).
fn nstat(lab: &Lab, names: &[String]) -> Vec<(String, u64)> {
    let mut argv = vec!["nstat", "-az"];
    argv.extend(names.iter().map(String::as_str));
    let text = in_server(lab, &argv);
    text.lines()
        .filter_map(|l| {
            let mut f = l.split_whitespace();
            Some((f.next()?.to_string(), f.next()?.parse().ok()?))
        })
        .collect()
}

fn listener(report: &Value, port: u16) -> &Value {
    report["listeners"]
        .as_array()
        .unwrap()
        .iter()
        .find(|l| l["port"] == port)
        .unwrap_or_else(|| panic!("no listener on {port}: {report:#}"))
}

/// Counters we compare with nstat: none of them moves after the flood
/// (SYN-ACK retransmission timers move TCPSynRetrans and TCPTimeouts).
const STILL: [&str; 6] = [
    "TcpExt.ListenOverflows",
    "TcpExt.ListenDrops",
    "TcpExt.TCPReqQFullDrop",
    "TcpExt.TCPReqQFullDoCookies",
    "TcpExt.SyncookiesSent",
    "Tcp.PassiveOpens",
];

/// A spoofed flood of 300 SYNs on a listener with backlog 8 that never
/// accepts, with tcp_syncookies 0, 1 and 2: watch names the port, says
/// whether cookies protect it, and its numbers are those of ss and nstat
/// and of the measured model (SYN queue = 9).
#[test]
fn watch_names_a_flooded_port_and_agrees_with_ss_and_nstat() {
    const SYNS: u64 = 300;
    const BACKLOG: u64 = 8;
    for cookies in ["0", "1", "2"] {
        let Some(lab) = lab() else { return };
        lab.sysctl(Side::Server, "net.ipv4.tcp_syncookies", cookies)
            .unwrap();
        let l = lab.listen(8080, false).unwrap();
        synack_sys::set_backlog(&l, BACKLOG as i32).unwrap();
        assert_eq!(
            lab.syn_flood(8080, SYNS as u32, false).unwrap(),
            SYNS as u32
        );
        let (report, status) = watch_once(&lab, &[]);
        let ss = in_server(
            &lab,
            &["ss", "-Htn", "state", "syn-recv", "( sport = :8080 )"],
        );
        let counters = nstat(&lab, &STILL.map(|n| n.replace('.', "")));
        let ctx = format!("tcp_syncookies={cookies}: {report:#}");
        let flooded = listener(&report, 8080);
        let capacity = BACKLOG + 1;
        let half_open = flooded["syn_recv"].as_u64().unwrap();
        assert_eq!(
            half_open,
            ss.lines().count() as u64,
            "ss agrees: {ss} {ctx}"
        );
        // The model: the SYN queue holds backlog+1 unless cookies answer
        // every SYN (2), which keeps no half-open state at all.
        let want = if cookies == "2" { 0 } else { capacity };
        assert_eq!(half_open, want, "{ctx}");
        for (name, value) in &counters {
            let ours = STILL.iter().find(|n| n.replace('.', "") == *name).unwrap();
            assert_eq!(
                report["counters"][ours]["value"].as_u64(),
                Some(*value),
                "{ours} vs nstat {name}: {ctx}"
            );
        }
        let counter = |n: &str| report["counters"][n]["value"].as_u64().unwrap();
        match cookies {
            "0" => {
                assert_eq!(counter("TcpExt.TCPReqQFullDrop"), SYNS - capacity, "{ctx}");
                assert_eq!(counter("TcpExt.ListenDrops"), SYNS - capacity, "{ctx}");
                assert_eq!(counter("TcpExt.SyncookiesSent"), 0, "{ctx}");
            }
            "1" => {
                assert_eq!(counter("TcpExt.SyncookiesSent"), SYNS - capacity, "{ctx}");
                assert_eq!(
                    counter("TcpExt.TCPReqQFullDoCookies"),
                    SYNS - capacity,
                    "{ctx}"
                );
                assert_eq!(counter("TcpExt.ListenDrops"), 0, "{ctx}");
            }
            _ => {
                assert_eq!(counter("TcpExt.SyncookiesSent"), SYNS, "{ctx}");
                assert_eq!(counter("TcpExt.TCPReqQFullDoCookies"), SYNS, "{ctx}");
            }
        }
        assert_eq!(
            counter("Tcp.PassiveOpens"),
            0,
            "spoofed SYNs never complete: {ctx}"
        );
        let alerts = report["alerts"].as_array().unwrap();
        let flood = alerts.iter().find(|a| {
            a["kind"] == "syn_flood" && a["listener"] == format!("{}:8080", lab.server_addr(false))
        });
        if cookies == "2" {
            assert!(flood.is_none(), "no half-open state to see: {ctx}");
            assert_eq!(status, Some(0), "{ctx}");
        } else {
            let flood = flood.unwrap_or_else(|| panic!("no flood alert: {ctx}"));
            let message = flood["message"].as_str().unwrap();
            let protected = if cookies == "1" {
                "SYN cookies protect it"
            } else {
                "NOT protected"
            };
            assert!(message.contains(protected), "{message}");
            let evidence = if cookies == "1" { "cookie" } else { "dropped" };
            assert!(
                message.contains(&format!("{} in all", SYNS - capacity)),
                "the {evidence} count since boot: {message}"
            );
            assert_eq!(
                flood["severity"],
                if cookies == "1" {
                    "warning"
                } else {
                    "critical"
                }
            );
            assert_eq!(status, Some(1), "an alert makes --once exit 1: {ctx}");
        }
        drop(l);
    }
}

/// A listener with backlog 4 that never accepts: 5 connections fill its
/// accept queue, more overflow; watch shows 5/5, blames the backlog, and
/// agrees with `ss -ltn` and with the kernel's ListenOverflows.
#[test]
fn watch_shows_a_full_accept_queue_and_what_limits_it() {
    let Some(lab) = lab() else { return };
    let l = lab.listen(8080, false).unwrap();
    synack_sys::set_backlog(&l, 4).unwrap();
    let server = lab.server_addr(false);
    let connected = lab
        .client
        .run(move || {
            (0..8)
                .filter_map(|_| {
                    std::net::TcpStream::connect_timeout(
                        &(server, 8080).into(),
                        std::time::Duration::from_millis(300),
                    )
                    .ok()
                })
                .collect::<Vec<_>>()
        })
        .unwrap();
    let (report, status) = watch_once(&lab, &["--processes", "--port", "8080"]);
    let ctx = format!("{report:#}");
    assert_eq!(
        report["listeners"].as_array().unwrap().len(),
        1,
        "--port keeps one: {ctx}"
    );
    let full = listener(&report, 8080);
    // This test process holds the listener (--processes walks /proc).
    assert_eq!(full["processes"][0]["pid"], std::process::id(), "{ctx}");
    assert_eq!(full["accept_queue"], 5, "{ctx}");
    assert_eq!(full["accept_limit"], 4, "{ctx}");
    let ss = in_server(&lab, &["ss", "-Hltn", "( sport = :8080 )"]);
    let recv_q: u64 = ss.split_whitespace().nth(1).unwrap().parse().unwrap();
    assert_eq!(full["accept_queue"].as_u64(), Some(recv_q), "ss -ltn: {ss}");
    assert!(
        report["counters"]["TcpExt.ListenOverflows"]["value"]
            .as_u64()
            .unwrap()
            > 0,
        "{ctx}"
    );
    let alert = report["alerts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["kind"] == "accept_queue_overflow")
        .unwrap_or_else(|| panic!("{ctx}"));
    let message = alert["message"].as_str().unwrap();
    assert!(message.contains("5/5 (100% full)"), "{message}");
    assert!(message.contains("listen() backlog sets it"), "{message}");
    assert_eq!(status, Some(1));
    drop(connected);
}

#[test]
fn audit_flags_cookies_off_and_a_small_backlog_with_the_fix() {
    let Some(lab) = lab() else { return };
    lab.sysctl(Side::Server, "net.ipv4.tcp_syncookies", "0")
        .unwrap();
    let l = lab.listen(8080, false).unwrap();
    synack_sys::set_backlog(&l, 4).unwrap();
    let out = synack(&["audit", "--format", "json", "--netns", &lab.server.name]);
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    let findings = v["findings"].as_array().unwrap();
    let about = |s: &str| {
        findings
            .iter()
            .find(|f| f["subject"] == s)
            .unwrap_or_else(|| panic!("{v:#}"))
    };
    let cookies = about("net.ipv4.tcp_syncookies");
    assert_eq!(cookies["level"], "critical");
    assert_eq!(cookies["fix"], "sysctl -w net.ipv4.tcp_syncookies=1");
    let small = about(&format!("{}:8080", lab.server_addr(false)));
    assert_eq!(small["level"], "warning", "{small}");
    assert!(
        small["reason"].as_str().unwrap().contains("backlog is 4"),
        "{small}"
    );
    assert_eq!(out.status.code(), Some(1));
    drop(l);
}

/// One HTTP/1.0 GET from inside the server namespace: (status, body).
fn get(lab: &Lab, port: u16, path: &str) -> (u16, String) {
    let path = path.to_string();
    lab.server
        .run(move || {
            let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
            write!(s, "GET {path} HTTP/1.0\r\n\r\n").unwrap();
            let mut text = String::new();
            s.read_to_string(&mut text).unwrap();
            let status = text.split_whitespace().nth(1).unwrap().parse().unwrap();
            let body = text
                .split_once("\r\n\r\n")
                .map_or("", |(_, b)| b)
                .to_string();
            (status, body)
        })
        .unwrap()
}

/// The exporter in a flooded namespace: its /metrics parse with a
/// Prometheus text parser and carry the flooded listener's numbers;
/// concurrent scrapes are all served; /probe connects only where --allow
/// lets it; malformed requests get 400.
#[test]
fn exporter_serves_the_flooded_listener_and_probes_only_allowed_targets() {
    let Some(lab) = lab() else { return };
    let l = lab.listen(8080, false).unwrap();
    synack_sys::set_backlog(&l, 8).unwrap();
    lab.syn_flood(8080, 100, false).unwrap();
    let server = lab.server_addr(false);
    let port = 9917;
    let allow = format!("{server}/32:8080");
    let mut child = support::start_exporter(&lab.server.name, port, &["--allow", &allow]);
    let scrapes: Vec<_> = (0..6)
        .map(|_| {
            let name = lab.server.name.clone();
            std::thread::spawn(move || {
                // A thread of its own in the namespace for each scrape.
                synack_sys::enter_netns(&name).unwrap();
                let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
                s.write_all(b"GET /metrics HTTP/1.0\r\n\r\n").unwrap();
                let mut text = String::new();
                s.read_to_string(&mut text).unwrap();
                text
            })
        })
        .collect();
    let answers: Vec<String> = scrapes.into_iter().map(|t| t.join().unwrap()).collect();
    assert!(
        answers
            .iter()
            .all(|a| a.starts_with("HTTP/1.0 200") || a.starts_with("HTTP/1.1 200")),
        "{answers:?}"
    );
    let (status, body) = get(&lab, port, "/metrics");
    assert_eq!(status, 200);
    let scrape = prometheus_parse::Scrape::parse(body.lines().map(|l| Ok(l.to_string()))).unwrap();
    let value = |metric: &str, port: &str| {
        scrape
            .samples
            .iter()
            .find(|s| s.metric == metric && s.labels.get("port") == Some(port))
            .map(|s| match s.value {
                prometheus_parse::Value::Gauge(v)
                | prometheus_parse::Value::Counter(v)
                | prometheus_parse::Value::Untyped(v) => v,
                _ => f64::NAN,
            })
            .unwrap_or_else(|| panic!("{metric} for {port} missing:\n{body}"))
    };
    assert_eq!(value("synack_listener_syn_recv", "8080"), 9.0, "{body}");
    assert_eq!(value("synack_listener_accept_limit", "8080"), 8.0, "{body}");
    let cookies = scrape
        .samples
        .iter()
        .find(|s| s.metric.starts_with("synack_netstat_TcpExt_SyncookiesSent"))
        .unwrap_or_else(|| panic!("{body}"));
    // prometheus-parse reads an OpenMetrics counter's `_total` sample as
    // untyped; its TYPE line says counter.
    assert!(
        matches!(cookies.value, prometheus_parse::Value::Counter(v) | prometheus_parse::Value::Untyped(v) if v == 91.0),
        "{cookies:?}"
    );
    assert!(
        body.contains("# TYPE synack_netstat_TcpExt_SyncookiesSent counter"),
        "{body}"
    );
    assert!(body.contains("synack_alert{kind=\"syn_flood\""), "{body}");
    // Probes: allowed (the listener answers from its SYN cookie path or
    // queue), refused by --allow, malformed.
    let (status, body) = get(&lab, port, &format!("/probe?target={server}:8080"));
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("synack_probe_success 1"), "{body}");
    let (status, body) = get(&lab, port, &format!("/probe?target={server}:22"));
    assert_eq!(status, 403, "{body}");
    let (status, _) = get(&lab, port, "/probe?nothing");
    assert_eq!(status, 400);
    let (status, _) = get(&lab, port, "/probe?target=no-port-here");
    assert_eq!(status, 400);
    let (status, _) = get(&lab, port, "/elsewhere");
    assert_eq!(status, 404);
    synack_sys::kill(child.id() as i32, synack_sys::signal::SIGTERM);
    assert!(child.wait().unwrap().success());
    drop(l);
}

/// Without a terminal, `watch` prints a report per interval (here one JSON
/// document per line) and stops cleanly on SIGINT. Reads the current
/// namespace: no root needed.
#[test]
fn watch_without_a_terminal_prints_plain_refreshes_and_stops_on_sigint() {
    let mut child = Command::new(env!("CARGO_BIN_EXE_synack"))
        .args([
            "watch",
            "--interval",
            "0.1",
            "--format",
            "json",
            "--no-states",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut out = std::io::BufReader::new(child.stdout.take().unwrap());
    for refresh in 0..2 {
        let mut line = String::new();
        out.read_line(&mut line).unwrap();
        let v: Value = serde_json::from_str(&line)
            .unwrap_or_else(|e| panic!("refresh {refresh}: {e}: {line}"));
        assert!(
            v["listeners"].is_array() && v["counters"]["Tcp.ActiveOpens"]["value"].is_u64(),
            "{v}"
        );
        assert!(v["states"].is_null(), "--no-states: {v}");
        assert!(v["interval_s"].as_f64().unwrap() > 0.05, "{v}");
    }
    synack_sys::kill(child.id() as i32, synack_sys::signal::SIGINT);
    assert!(child.wait().unwrap().success());
}

use support::metric_sample as sample;

/// `synack export --capture`: handshakes captured live in the server's
/// namespace become histograms per service. 30 connections at an injected
/// 20 ms round trip and 5 refused ones: the histogram counts 30, its mean
/// is the round trip within 5% + 1 ms, every one falls in the 25 ms bucket
/// and none in the 10 ms one, and the outcome counters say 30 established
/// on the first SYN and 5 refused by RST.
#[test]
fn exporter_capture_histograms_count_the_injected_handshakes() {
    let Some(mut lab) = lab() else { return };
    let listener = lab.listen(8080, false).unwrap();
    std::thread::spawn(move || for _ in listener.incoming() {});
    lab.impair(synack_lab::Impairment::delay(
        std::time::Duration::from_millis(20),
    ))
    .unwrap();
    let port = 9918;
    let mut child = support::start_exporter(
        &lab.server.name,
        port,
        &["--capture", synack_lab::VETH_SERVER],
    );
    let server = lab.server_v4;
    for (port, n) in [(8080u16, 30), (81, 5)] {
        for _ in 0..n {
            let dst = std::net::SocketAddr::new(server.into(), port);
            let _ = lab
                .client
                .run(move || {
                    std::net::TcpStream::connect_timeout(&dst, std::time::Duration::from_secs(2))
                })
                .unwrap();
        }
    }
    let service = format!("service_address=\"{server}\",service_port=\"8080\"");
    let established =
        format!("synack_handshakes_total{{{service},outcome=\"established\",cause=\"first_syn\"}}");
    // The capture thread decides as its ring hands blocks over, with no
    // signal the test can wait on: scrape until it has all 30, each scrape
    // a full request (bounded: 10 s).
    let mut body = String::new();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while std::time::Instant::now() < deadline {
        body = get(&lab, port, "/metrics").1;
        if sample(&body, &established) == Some(30.0) {
            break;
        }
    }
    synack_sys::kill(child.id() as i32, synack_sys::signal::SIGTERM);
    let _ = child.wait();
    assert_eq!(sample(&body, &established), Some(30.0), "{body}");
    let count = sample(
        &body,
        &format!("synack_handshake_rtt_seconds_count{{{service}}}"),
    );
    assert_eq!(count, Some(30.0), "{body}");
    let sum = sample(
        &body,
        &format!("synack_handshake_rtt_seconds_sum{{{service}}}"),
    )
    .unwrap();
    let mean = sum / 30.0;
    assert!(
        (0.020..=0.020 * 1.05 + 0.001).contains(&mean),
        "mean {mean}: {body}"
    );
    let bucket = |le: &str| {
        sample(
            &body,
            &format!("synack_handshake_rtt_seconds_bucket{{le=\"{le}\",{service}}}"),
        )
    };
    assert_eq!(bucket("0.025"), Some(30.0), "{body}");
    assert_eq!(bucket("0.01"), Some(0.0), "{body}");
    let refused = format!(
        "synack_handshakes_total{{service_address=\"{server}\",service_port=\"81\",outcome=\"refused\",cause=\"rst\"}}"
    );
    assert_eq!(sample(&body, &refused), Some(5.0), "{body}");
    let prefix = format!(
        "synack_handshake_rtt_by_client_prefix_seconds_count{{client_prefix=\"{}\"}}",
        synack_render::handshake_metrics::prefix(lab.client_v4.into())
    );
    assert_eq!(sample(&body, &prefix), Some(30.0), "{body}");
}
