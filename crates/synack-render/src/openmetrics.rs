//! OpenMetrics text (prometheus-client) for the exporter: a namespace
//! snapshot for `/metrics`, one handshake for `/probe`.

use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;
use std::sync::atomic::AtomicU64;
use std::time::Duration;
use synack_host::counters::{HANDSHAKE_COUNTERS, is_gauge};
use synack_host::{Alerts, Listener, STATE_NAMES, Snapshot};

type Labels = Vec<(String, String)>;
type FloatGauge = Gauge<f64, AtomicU64>;

fn listener_labels(l: &Listener) -> Labels {
    vec![
        ("address".into(), l.local.ip().to_string()),
        ("port".into(), l.local.port().to_string()),
    ]
}

/// Metrics kept up to date between scrapes (a live capture's, a
/// trace's), put in each scrape's registry.
pub trait Publish: Send + Sync + std::fmt::Debug {
    fn register(&self, registry: &mut Registry);
}

/// The metrics of one snapshot, and those kept live beside it (a capture's
/// handshake histograms, a trace's counters), in OpenMetrics text.
pub fn metrics(
    snap: &Snapshot,
    scrape_seconds: f64,
    live: &[std::sync::Arc<dyn Publish>],
) -> String {
    let mut registry = Registry::with_prefix("synack");
    for l in live {
        l.register(&mut registry);
    }
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
                (
                    "destination".into(),
                    a.destination.map_or(String::new(), |d| d.to_string()),
                ),
            ])
            .set(1);
    }
    conntrack_and_ports(&mut registry, snap);
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
    encode_registry(&registry)
}

/// One handshake to `addr` as the exporter's `/probe` answers it:
/// success, name lookup and handshake times, TCP_INFO when established,
/// and the cause.
pub fn probe_result(
    lookup: Option<Duration>,
    addr: std::net::SocketAddr,
    r: &synack_probe::AttemptResult,
) -> String {
    let established = r.cause == synack_probe::Cause::Established;
    let tls_failure = r.tls.as_ref().and_then(|t| t.failure.as_ref());
    let mut registry = probe_registry(lookup, established && tls_failure.is_none());
    registry.register(
        "handshake_seconds",
        "connect() to the socket writable (or failed)",
        float_gauge(r.connect.as_secs_f64()),
    );
    if let (true, Some(info)) = (established, r.tcp_info) {
        registry.register(
            "tcp_rtt_seconds",
            "The kernel's smoothed RTT (TCP_INFO)",
            float_gauge(f64::from(info.rtt_us) / 1e6),
        );
        registry.register(
            "syn_retransmits",
            "SYNs retransmitted (TCP_INFO total_retrans)",
            float_gauge(f64::from(info.total_retrans)),
        );
    }
    if let Some(tls) = &r.tls {
        if let Some(h) = tls.handshake {
            registry.register(
                "tls_handshake_seconds",
                "First ClientHello byte out to the TLS handshake's end",
                float_gauge(h.as_secs_f64()),
            );
        }
        if let Some(days) = tls.days_left {
            registry.register(
                "tls_cert_days_left",
                "Days until the server certificate's notAfter (negative: expired)",
                float_gauge(days as f64),
            );
        }
        if let Some(version) = tls.version {
            let family = Family::<Labels, Gauge>::default();
            registry.register(
                "tls_version",
                "The TLS version agreed (1 on it)",
                family.clone(),
            );
            family
                .get_or_create(&vec![("version".into(), version.to_string())])
                .set(1);
        }
    }
    // The label carries the kind of cause, never a count (cardinality).
    match tls_failure {
        Some(f) => register_cause(&mut registry, "tls_failed", f.kind(), Some(addr.ip())),
        None => register_cause(
            &mut registry,
            r.cause.outcome().as_str(),
            &r.cause.kind(),
            Some(addr.ip()),
        ),
    }
    encode_registry(&registry)
}

/// The conntrack table and the ephemeral ports of the busiest
/// destinations (at most `ports::KEPT` of them: the label set is bounded).
fn conntrack_and_ports(registry: &mut Registry, snap: &Snapshot) {
    if let Some(ct) = &snap.conntrack {
        for (name, help, value) in [
            (
                "conntrack_entries",
                "Connection tracking entries (nf_conntrack_count)",
                ct.entries,
            ),
            (
                "conntrack_max",
                "Connection tracking limit, per namespace (nf_conntrack_max; 0: none)",
                ct.max,
            ),
        ] {
            let g = Gauge::<i64>::default();
            g.set(value as i64);
            registry.register(name, help, g);
        }
        for name in synack_host::conntrack::STATISTICS {
            let c = Counter::<u64>::default();
            c.inc_by(ct.stat(name));
            registry.register(
                format!("conntrack_{name}"),
                format!("Connection tracking statistic {name}, summed over CPUs (conntrack -S)"),
                c,
            );
        }
    }
    if let Some(p) = &snap.ports {
        let range = Gauge::<i64>::default();
        range.set(i64::from(p.range_size()));
        registry.register(
            "ephemeral_port_range_size",
            "Ports in net.ipv4.ip_local_port_range",
            range,
        );
        let in_use = Family::<Labels, Gauge>::default();
        registry.register(
            "ephemeral_ports_in_use",
            "Local ports of the range held by sockets to this destination (busiest destinations)",
            in_use.clone(),
        );
        let time_wait = Family::<Labels, Gauge>::default();
        registry.register(
            "ephemeral_ports_time_wait",
            "Of those, sockets in TIME-WAIT",
            time_wait.clone(),
        );
        for d in &p.destinations {
            let labels = vec![
                ("destination_address".into(), d.remote.ip().to_string()),
                ("destination_port".into(), d.remote.port().to_string()),
            ];
            in_use.get_or_create(&labels).set(i64::from(d.in_use));
            time_wait.get_or_create(&labels).set(i64::from(d.time_wait));
        }
    }
}

/// A probe that ended before any handshake: why, in the cause labels.
pub fn probe_failure(
    lookup: Option<Duration>,
    outcome: &str,
    cause: &str,
    address: Option<std::net::IpAddr>,
) -> String {
    let mut registry = probe_registry(lookup, false);
    register_cause(&mut registry, outcome, cause, address);
    encode_registry(&registry)
}

fn float_gauge(v: f64) -> FloatGauge {
    let g = FloatGauge::default();
    g.set(v);
    g
}

fn probe_registry(lookup: Option<Duration>, established: bool) -> Registry {
    let mut registry = Registry::with_prefix("synack_probe");
    registry.register(
        "success",
        "1 if the handshake completed",
        float_gauge(f64::from(u8::from(established))),
    );
    registry.register(
        "dns_seconds",
        "Name resolution time (0 for an address)",
        float_gauge(lookup.unwrap_or_default().as_secs_f64()),
    );
    registry
}

fn register_cause(
    registry: &mut Registry,
    outcome: &str,
    cause: &str,
    address: Option<std::net::IpAddr>,
) {
    let family = Family::<Labels, Gauge>::default();
    registry.register(
        "cause",
        "What answered the SYN (1 on the cause)",
        family.clone(),
    );
    family
        .get_or_create(&vec![
            ("outcome".into(), outcome.to_string()),
            ("cause".into(), cause.to_string()),
            (
                "address".into(),
                address.map_or(String::new(), |a| a.to_string()),
            ),
        ])
        .set(1);
}

fn encode_registry(registry: &Registry) -> String {
    let mut out = String::new();
    encode(&mut out, registry).expect("encoding into a String cannot fail");
    out
}
