//! `synack export --trace`: what the kernel's tracepoints saw, as metrics
//! kept between scrapes. Per process (command name): attempts made by
//! outcome, and connect times; per listener: connections received, their
//! accept-queue waits, SYN-ACKs sent again, handshake packets dropped by
//! reason; and the events the ring buffer lost. Labels are bounded: 64
//! commands and 64 listeners get their own, the rest share `other`
//! (counted in `synack_trace_labels_folded_total`).

use crate::openmetrics::Publish;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;
use std::collections::HashSet;
use std::net::SocketAddr;
use std::sync::Mutex;
use synack_core::{Handshake, Side};

pub const MAX_COMMANDS: usize = 64;
pub const MAX_LISTENERS: usize = 64;

type Labels = Vec<(String, String)>;
type Histograms = Family<Labels, Histogram, fn() -> Histogram>;

/// Upper bounds, seconds: 10 µs to 10 s.
const BUCKETS: [f64; 16] = [
    0.00001, 0.000025, 0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05,
    0.1, 0.5, 1.0, 10.0,
];

fn histogram() -> Histogram {
    Histogram::new(BUCKETS)
}

#[derive(Debug)]
pub struct TraceMetrics {
    connects: Family<Labels, Counter>,
    connect_seconds: Histograms,
    received: Family<Labels, Counter>,
    accept_wait: Histograms,
    synack_retransmits: Family<Labels, Counter>,
    drops: Family<Labels, Counter>,
    lost: Counter,
    folded: Counter,
    seen: Mutex<(HashSet<String>, HashSet<SocketAddr>)>,
}

impl Default for TraceMetrics {
    fn default() -> Self {
        TraceMetrics {
            connects: Family::default(),
            connect_seconds: Family::new_with_constructor(histogram),
            received: Family::default(),
            accept_wait: Family::new_with_constructor(histogram),
            synack_retransmits: Family::default(),
            drops: Family::default(),
            lost: Counter::default(),
            folded: Counter::default(),
            seen: Mutex::new((HashSet::new(), HashSet::new())),
        }
    }
}

fn seconds(ns: i64) -> f64 {
    ns as f64 / 1e9
}

impl TraceMetrics {
    fn command(&self, comm: Option<&str>) -> String {
        let comm = comm.unwrap_or("unknown");
        let Ok(mut seen) = self.seen.lock() else {
            return "other".into();
        };
        if seen.0.contains(comm) || seen.0.len() < MAX_COMMANDS {
            seen.0.insert(comm.to_string());
            comm.to_string()
        } else {
            self.folded.inc();
            "other".into()
        }
    }

    fn listener(&self, addr: SocketAddr) -> Labels {
        let own = self
            .seen
            .lock()
            .map(|mut seen| {
                let known = seen.1.contains(&addr) || seen.1.len() < MAX_LISTENERS;
                if known {
                    seen.1.insert(addr);
                }
                known
            })
            .unwrap_or(false);
        if !own {
            self.folded.inc();
        }
        let (ip, port) = if own {
            (addr.ip().to_string(), addr.port().to_string())
        } else {
            ("other".into(), "other".into())
        };
        vec![
            ("listener_address".into(), ip),
            ("listener_port".into(), port),
        ]
    }

    /// A traced attempt, made or received.
    pub fn attempt(&self, h: &Handshake) {
        let Some(t) = h.trace.as_deref() else {
            return;
        };
        let outcome = ("outcome".to_string(), h.outcome.as_str().to_string());
        if t.local_side == Some(Side::Server) {
            let mut labels = self.listener(h.server);
            if let Some(wait) = t.accept_wait_ns {
                self.accept_wait
                    .get_or_create(&labels)
                    .observe(seconds(wait));
            }
            labels.push(outcome);
            self.received.get_or_create(&labels).inc();
            return;
        }
        let labels = vec![("comm".to_string(), self.command(t.comm.as_deref()))];
        if let Some(setup) = h.setup_ns {
            self.connect_seconds
                .get_or_create(&labels)
                .observe(seconds(setup));
        }
        let mut with_outcome = labels;
        with_outcome.push(outcome);
        self.connects.get_or_create(&with_outcome).inc();
    }

    pub fn synack_retransmit(&self, listener: SocketAddr) {
        let labels = self.listener(listener);
        self.synack_retransmits.get_or_create(&labels).inc();
    }

    /// A handshake packet dropped, for `to`, with its reason in words.
    pub fn dropped(&self, to: SocketAddr, packet: &str, reason: &str) {
        let mut labels = self.listener(to);
        labels.push(("packet".into(), packet.into()));
        labels.push(("reason".into(), reason.into()));
        self.drops.get_or_create(&labels).inc();
    }

    /// The ring buffer's lost events, as the BPF side counts them in all.
    pub fn lost_total(&self, total: u64) {
        let now = self.lost.get();
        if total > now {
            self.lost.inc_by(total - now);
        }
    }
}

impl Publish for TraceMetrics {
    fn register(&self, r: &mut Registry) {
        r.register(
            "trace_connects",
            "Connection attempts this host made, by command and outcome (kernel tracepoints)",
            self.connects.clone(),
        );
        r.register(
            "trace_connect_seconds",
            "connect() to its outcome, established attempts, by command",
            self.connect_seconds.clone(),
        );
        r.register(
            "trace_received",
            "Connections made on this host's listeners, by listener and outcome",
            self.received.clone(),
        );
        r.register(
            "trace_accept_wait_seconds",
            "The handshake's end to accept() returning the connection, by listener",
            self.accept_wait.clone(),
        );
        r.register(
            "trace_synack_retransmits",
            "SYN-ACKs sent again, by listener",
            self.synack_retransmits.clone(),
        );
        r.register(
            "trace_drops",
            "SYNs, SYN-ACKs and completing ACKs the kernel dropped, by receiver, packet and reason",
            self.drops.clone(),
        );
        r.register(
            "trace_events_lost",
            "Kernel events lost because the trace's ring buffer was full",
            self.lost.clone(),
        );
        r.register(
            "trace_labels_folded",
            "Attempts whose command or listener went to `other` (label bounds reached)",
            self.folded.clone(),
        );
    }
}
