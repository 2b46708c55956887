//! `synack export`: a Prometheus exporter. `/metrics` takes a fresh
//! snapshot of the namespace per scrape (no background sampling, so an idle
//! exporter costs nothing) and encodes it as OpenMetrics text with
//! prometheus-client; `/probe?target=HOST:PORT` makes one handshake with
//! `synack-probe`, for targets an `--allow` pattern admits only. Requests
//! are served by a few threads, so a slow probe does not hold up a scrape.

use crate::cli::ExportArgs;
use anyhow::{Context as _, Result, bail};
use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;
use std::net::{IpAddr, SocketAddr, ToSocketAddrs};
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};
use synack_host::counters::{HANDSHAKE_COUNTERS, is_gauge};
use synack_host::{Alerts, Listener, STATE_NAMES, Snapshot, SnapshotOptions};

/// Request-serving threads: scrapes and probes in parallel.
const WORKERS: usize = 4;

type Labels = Vec<(String, String)>;
type FloatGauge = Gauge<f64, AtomicU64>;

/// One `--allow` pattern: HOST:PORT with `*`, a CIDR prefix, an address or
/// a name for HOST and `*` or a number for PORT.
#[derive(Debug, Clone, PartialEq)]
pub struct Allow {
    host: HostPattern,
    port: Option<u16>,
}

#[derive(Debug, Clone, PartialEq)]
enum HostPattern {
    Any,
    Net(ipnet::IpNet),
    Name(String),
}

impl std::str::FromStr for Allow {
    type Err = String;
    fn from_str(s: &str) -> Result<Allow, String> {
        let (host, port) = s
            .rsplit_once(':')
            .ok_or_else(|| format!("`{s}`: expected HOST:PORT (a port or *)"))?;
        let port = match port {
            "*" => None,
            p => Some(
                p.parse()
                    .map_err(|_| format!("`{s}`: `{p}` is not a port"))?,
            ),
        };
        let host = host.trim_start_matches('[').trim_end_matches(']');
        let host = if host == "*" {
            HostPattern::Any
        } else if let Ok(net) = host.parse::<ipnet::IpNet>() {
            HostPattern::Net(net)
        } else if let Ok(ip) = host.parse::<IpAddr>() {
            HostPattern::Net(ip.into())
        } else if !host.is_empty() {
            HostPattern::Name(host.to_ascii_lowercase())
        } else {
            return Err(format!("`{s}`: empty host"));
        };
        Ok(Allow { host, port })
    }
}

impl Allow {
    /// Whether a target named `name` (as asked) resolving to `addr` may be probed.
    fn admits(&self, name: &str, addr: SocketAddr) -> bool {
        self.port.is_none_or(|p| p == addr.port())
            && match &self.host {
                HostPattern::Any => true,
                HostPattern::Net(net) => net.contains(&addr.ip()),
                HostPattern::Name(n) => n.eq_ignore_ascii_case(name),
            }
    }
}

fn listener_labels(l: &Listener) -> Labels {
    vec![
        ("address".into(), l.local.ip().to_string()),
        ("port".into(), l.local.port().to_string()),
    ]
}

/// The metrics of one snapshot, in OpenMetrics text.
pub fn metrics_text(snap: &Snapshot, scrape_seconds: f64) -> String {
    let mut registry = Registry::with_prefix("synack");
    type Value = fn(&Listener) -> u32;
    let gauges: [(&str, &str, Value); 3] = [
        (
            "listener_accept_queue",
            "Connections completed and waiting for accept()",
            |l| l.accept_queue,
        ),
        (
            "listener_accept_limit",
            "min(listen backlog, somaxconn); the accept and SYN queues hold one more",
            |l| l.accept_limit,
        ),
        (
            "listener_syn_recv",
            "Half-open connections (SYN received, SYN-ACK sent) to the listener",
            |l| l.syn_recv,
        ),
    ];
    for (name, help, value) in gauges {
        let family = Family::<Labels, Gauge>::default();
        registry.register(name, help, family.clone());
        for l in &snap.listeners {
            family
                .get_or_create(&listener_labels(l))
                .set(i64::from(value(l)));
        }
    }
    let drops = Family::<Labels, Counter>::default();
    registry.register(
        "listener_drops",
        "Packets the listening socket dropped (sk_drops, ss -m d)",
        drops.clone(),
    );
    for l in &snap.listeners {
        if let Some(d) = l.drops {
            drops
                .get_or_create(&listener_labels(l))
                .inc_by(u64::from(d));
        }
    }
    if let Some(counts) = snap.states {
        let states = Family::<Labels, Gauge>::default();
        registry.register("sockets", "TCP sockets by state", states.clone());
        for (i, n) in counts.iter().enumerate().skip(1) {
            states
                .get_or_create(&vec![("state".into(), STATE_NAMES[i].to_string())])
                .set(*n as i64);
        }
    }
    for name in HANDSHAKE_COUNTERS {
        let Some(v) = snap.counters.get(name) else {
            continue;
        };
        let metric = format!("netstat_{}", name.replace('.', "_"));
        let help = format!("Kernel counter {name} (/proc/net/snmp, /proc/net/netstat)");
        if is_gauge(name) {
            let g = Gauge::<i64>::default();
            g.set(v as i64);
            registry.register(metric, help, g);
        } else {
            let c = Counter::<u64>::default();
            c.inc_by(v);
            registry.register(metric, help, c);
        }
    }
    let sysctl = Family::<Labels, Gauge>::default();
    registry.register(
        "sysctl",
        "Handshake sysctls with an integer value",
        sysctl.clone(),
    );
    let sysctl_info = Family::<Labels, Gauge>::default();
    registry.register(
        "sysctl_info",
        "Handshake sysctls with other values",
        sysctl_info.clone(),
    );
    for (k, v) in &snap.sysctls.values {
        match v.parse::<i64>() {
            Ok(n) => sysctl
                .get_or_create(&vec![("name".into(), k.clone())])
                .set(n),
            Err(_) => sysctl_info
                .get_or_create(&vec![
                    ("name".into(), k.clone()),
                    ("value".into(), v.clone()),
                ])
                .set(1),
        };
    }
    // Alerts a single sample can show (queue levels; rates need two).
    let alerts = Family::<Labels, Gauge>::default();
    registry.register(
        "alert",
        "Alerts in force on this sample (1)",
        alerts.clone(),
    );
    for a in Alerts::default().update(snap, None) {
        alerts
            .get_or_create(&vec![
                ("kind".into(), a.kind.as_str().into()),
                ("severity".into(), a.severity.as_str().into()),
                (
                    "listener".into(),
                    a.listener.map_or(String::new(), |l| l.to_string()),
                ),
            ])
            .set(1);
    }
    let problems = Gauge::<i64>::default();
    problems.set(snap.problems.len() as i64);
    registry.register(
        "read_problems",
        "Parts of the snapshot that could not be read",
        problems,
    );
    let took = FloatGauge::default();
    took.set(scrape_seconds);
    registry.register(
        "scrape_duration_seconds",
        "Time taken to read this snapshot",
        took,
    );
    let mut out = String::new();
    encode(&mut out, &registry).expect("encoding into a String cannot fail");
    out
}

/// One handshake to `target` as OpenMetrics text, or why it is refused.
pub fn probe_text(
    target: &str,
    allow: &[Allow],
    timeout: Duration,
) -> Result<String, (u16, String)> {
    let (name, _) = target
        .rsplit_once(':')
        .ok_or((400, format!("target `{target}`: expected HOST:PORT\n")))?;
    let name = name.trim_start_matches('[').trim_end_matches(']');
    let t0 = Instant::now();
    let addr = target
        .to_socket_addrs()
        .ok()
        .and_then(|mut a| a.next())
        .ok_or((400, format!("target `{target}` does not resolve\n")))?;
    let dns = t0.elapsed();
    if !allow.iter().any(|a| a.admits(name, addr)) {
        return Err((
            403,
            format!(
                "target `{target}` ({addr}) is not allowed: start the exporter with --allow for it\n"
            ),
        ));
    }
    let mut poll = mio::Poll::new().map_err(|e| (500, format!("{e}\n")))?;
    let mut events = mio::Events::with_capacity(4);
    let cfg = synack_probe::AttemptConfig {
        timeout,
        ..Default::default()
    };
    let r = synack_probe::attempt(addr, &cfg, &mut poll, &mut events);
    let established = r.cause == synack_probe::Cause::Established;
    let mut registry = Registry::with_prefix("synack_probe");
    let gauge = |v: f64| {
        let g = FloatGauge::default();
        g.set(v);
        g
    };
    registry.register(
        "success",
        "1 if the handshake completed",
        gauge(f64::from(u8::from(established))),
    );
    registry.register(
        "dns_seconds",
        "Name resolution time",
        gauge(dns.as_secs_f64()),
    );
    registry.register(
        "handshake_seconds",
        "connect() to the socket writable (or failed)",
        gauge(r.connect.as_secs_f64()),
    );
    if let Some(info) = r.tcp_info {
        registry.register(
            "tcp_rtt_seconds",
            "The kernel's smoothed RTT (TCP_INFO)",
            gauge(f64::from(info.rtt_us) / 1e6),
        );
        registry.register(
            "syn_retransmits",
            "SYNs retransmitted (TCP_INFO total_retrans)",
            gauge(f64::from(info.total_retrans)),
        );
    }
    let cause = Family::<Labels, Gauge>::default();
    registry.register(
        "cause",
        "What answered the SYN (1 on the cause)",
        cause.clone(),
    );
    cause
        .get_or_create(&vec![
            ("outcome".into(), r.cause.outcome().as_str().to_string()),
            ("cause".into(), r.cause.label()),
            ("address".into(), addr.ip().to_string()),
        ])
        .set(1);
    let mut out = String::new();
    encode(&mut out, &registry).expect("encoding into a String cannot fail");
    Ok(out)
}

/// Answers one request: (status, content type, body).
fn answer(
    url: &str,
    method: &tiny_http::Method,
    settings: &Settings,
    allow: &[Allow],
) -> (u16, &'static str, String) {
    const OPENMETRICS: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";
    const TEXT: &str = "text/plain; charset=utf-8";
    if *method != tiny_http::Method::Get {
        return (405, TEXT, "only GET is served\n".into());
    }
    let (path, query) = url.split_once('?').unwrap_or((url, ""));
    match path {
        "/metrics" => {
            let t0 = Instant::now();
            let options = SnapshotOptions {
                processes: settings.processes,
                ..SnapshotOptions::default()
            };
            match Snapshot::take(options) {
                Ok(snap) => (
                    200,
                    OPENMETRICS,
                    metrics_text(&snap, t0.elapsed().as_secs_f64()),
                ),
                Err(e) => (500, TEXT, format!("reading sockets: {e}\n")),
            }
        }
        "/probe" => {
            let target = query
                .split('&')
                .find_map(|kv| kv.strip_prefix("target="))
                .map(percent_decode);
            match target {
                None => (400, TEXT, "expected /probe?target=HOST:PORT\n".into()),
                Some(t) => match probe_text(&t, allow, settings.probe_timeout) {
                    Ok(body) => (200, OPENMETRICS, body),
                    Err((status, why)) => (status, TEXT, why),
                },
            }
        }
        "/" => (
            200,
            TEXT,
            "synack exporter: /metrics, /probe?target=HOST:PORT\n".into(),
        ),
        _ => (404, TEXT, format!("no such page: {path}\n")),
    }
}

/// Decodes %XX escapes (brackets and colons of IPv6 targets arrive so).
fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = bytes
            .get(i + 1..i + 3)
            .and_then(|h| std::str::from_utf8(h).ok())
            .and_then(|h| u8::from_str_radix(h, 16).ok());
        match (bytes[i], hex) {
            (b'%', Some(b)) => {
                out.push(b);
                i += 3;
            }
            (c, _) => {
                out.push(c);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

pub fn run(args: &ExportArgs) -> Result<ExitCode> {
    let allow: Vec<Allow> = args
        .allow
        .iter()
        .map(|a| a.parse().map_err(anyhow::Error::msg))
        .collect::<Result<_>>()
        .context("--allow")?;
    // The workers start in the namespace this thread enters.
    crate::watch::enter(&args.netns)?;
    // Fail at start, not at the first scrape, when sock_diag is not there.
    crate::watch::take(SnapshotOptions::listeners_only())?;
    let server = match tiny_http::Server::http(args.listen) {
        Ok(s) => Arc::new(s),
        Err(e) => bail!("serving on {}: {e}", args.listen),
    };
    eprintln!(
        "synack export: serving http://{}/metrics{}",
        args.listen,
        if allow.is_empty() {
            " (/probe refused: no --allow)".to_string()
        } else {
            format!(" and /probe for {}", args.allow.join(", "))
        }
    );
    let stop = synack_lab::sys::stop_on_signals();
    let settings = Arc::new(Settings {
        processes: args.processes,
        probe_timeout: Duration::from_secs_f64(args.probe_timeout.max(0.01)),
    });
    let allow = Arc::new(allow);
    let workers: Vec<_> = (0..WORKERS)
        .map(|_| {
            let (server, settings, allow, stop) =
                (server.clone(), settings.clone(), allow.clone(), stop);
            std::thread::spawn(move || {
                while !stop.load(Ordering::SeqCst) {
                    let Ok(Some(request)) = server.recv_timeout(Duration::from_millis(200)) else {
                        continue;
                    };
                    let (status, kind, body) =
                        answer(request.url(), request.method(), &settings, &allow);
                    let header = tiny_http::Header::from_bytes("Content-Type", kind)
                        .expect("a valid header");
                    let _ = request.respond(
                        tiny_http::Response::from_string(body)
                            .with_status_code(status)
                            .with_header(header),
                    );
                }
            })
        })
        .collect();
    for w in workers {
        let _ = w.join();
    }
    Ok(ExitCode::SUCCESS)
}

/// What the workers need of the arguments.
struct Settings {
    processes: bool,
    probe_timeout: Duration,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn allow_patterns_admit_by_net_name_and_port() {
        let a: Allow = "10.0.0.0/8:443".parse().unwrap();
        assert!(a.admits("x", "10.1.2.3:443".parse().unwrap()));
        assert!(!a.admits("x", "10.1.2.3:80".parse().unwrap()));
        assert!(!a.admits("x", "11.1.2.3:443".parse().unwrap()));
        let a: Allow = "db.internal:*".parse().unwrap();
        assert!(a.admits("DB.internal", "192.0.2.1:5432".parse().unwrap()));
        assert!(!a.admits("other", "192.0.2.1:5432".parse().unwrap()));
        let a: Allow = "[2001:db8::/32]:22".parse().unwrap();
        assert!(a.admits("x", "[2001:db8::1]:22".parse().unwrap()));
        assert!("nonsense".parse::<Allow>().is_err());
        assert!("host:http".parse::<Allow>().is_err());
    }

    #[test]
    fn percent_escapes_are_decoded() {
        assert_eq!(percent_decode("%5B%3A%3A1%5D%3A80"), "[::1]:80");
        assert_eq!(percent_decode("a%zz"), "a%zz");
    }
}
