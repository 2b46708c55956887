//! Handshake histograms for the exporter, fed by its live capture: per
//! service (the server's address and port) the handshake RTT (SYN-ACK to
//! completing ACK and back, from the SYN that was answered) and the setup
//! time the client waited (first SYN to completing ACK), outcomes by cause,
//! and the RTT per client prefix (/24 for IPv4, /48 for IPv6).
//!
//! Cardinality is bounded by design: at most [`MAX_SERVICES`] services and
//! [`MAX_PREFIXES`] prefixes get labels of their own, first come first
//! served; the rest share `other`, and how many were folded is counted.
//! Causes come from a fixed set.

use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;
use std::collections::HashSet;
use std::net::{IpAddr, SocketAddr};
use std::sync::Mutex;
use synack_core::{Handshake, Outcome};

pub const MAX_SERVICES: usize = 64;
pub const MAX_PREFIXES: usize = 32;

type Labels = Vec<(String, String)>;
type Histograms = Family<Labels, Histogram, fn() -> Histogram>;

/// Upper bounds of the RTT buckets, seconds: 100 µs to 2.5 s.
const RTT_BUCKETS: [f64; 14] = [
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
];
/// Setup adds what SYN retransmissions cost: 1, 2, 3 s and on.
const SETUP_BUCKETS: [f64; 17] = [
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 1.5, 2.5, 3.5, 7.5, 15.0,
    31.0,
];

fn rtt_histogram() -> Histogram {
    Histogram::new(RTT_BUCKETS)
}

fn setup_histogram() -> Histogram {
    Histogram::new(SETUP_BUCKETS)
}

/// The live handshake metrics; shared between the capture thread (which
/// observes) and the scrapes (which register clones: the families share
/// their values).
pub struct HandshakeMetrics {
    rtt: Histograms,
    setup: Histograms,
    rtt_by_prefix: Histograms,
    outcomes: Family<Labels, Counter>,
    folded: Counter,
    seen: Mutex<(HashSet<SocketAddr>, HashSet<String>)>,
}

impl std::fmt::Debug for HandshakeMetrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HandshakeMetrics").finish_non_exhaustive()
    }
}

impl Default for HandshakeMetrics {
    fn default() -> Self {
        HandshakeMetrics {
            rtt: Family::new_with_constructor(rtt_histogram),
            setup: Family::new_with_constructor(setup_histogram),
            rtt_by_prefix: Family::new_with_constructor(rtt_histogram),
            outcomes: Family::default(),
            folded: Counter::default(),
            seen: Mutex::new((HashSet::new(), HashSet::new())),
        }
    }
}

/// The client's prefix: /24 for IPv4, /48 for IPv6.
pub fn prefix(ip: IpAddr) -> String {
    match ip {
        IpAddr::V4(v4) => {
            let o = v4.octets();
            format!("{}.{}.{}.0/24", o[0], o[1], o[2])
        }
        IpAddr::V6(v6) => {
            let s = v6.segments();
            format!("{:x}:{:x}:{:x}::/48", s[0], s[1], s[2])
        }
    }
}

/// A cause from a fixed set, for the outcome counter's label.
pub fn cause(h: &Handshake) -> &'static str {
    match h.outcome {
        Outcome::Established if h.syn_retransmissions() > 0 => "after_syn_retransmission",
        Outcome::Established => "first_syn",
        Outcome::Refused => "rst",
        Outcome::Unreachable => match h.icmp.as_ref().map(|i| (i.icmp_type, i.code)) {
            Some((3, 0)) | Some((1, 0)) => "icmp_net_unreachable",
            Some((3, 1)) | Some((1, 3)) => "icmp_host_unreachable",
            Some((3, 3)) | Some((1, 4)) => "icmp_port_unreachable",
            Some((3, 9 | 10 | 13)) | Some((1, 1)) => "icmp_prohibited",
            _ => "icmp_other",
        },
        Outcome::Timeout => "no_answer",
        Outcome::HalfOpen => "no_final_ack",
        Outcome::Reset => "rst_after_synack",
        Outcome::Incomplete => "undecided",
        Outcome::Midstream => "midstream",
        Outcome::LocalError => "local_error",
    }
}

impl HandshakeMetrics {
    /// The labels an attempt gets: its service and client prefix, or
    /// `other` once the bounds are reached (counted).
    fn admit(&self, server: SocketAddr, client: IpAddr) -> (Option<SocketAddr>, String) {
        let Ok(mut seen) = self.seen.lock() else {
            return (None, "other".to_string());
        };
        let (services, prefixes) = &mut *seen;
        let service = if services.contains(&server) || services.len() < MAX_SERVICES {
            services.insert(server);
            Some(server)
        } else {
            self.folded.inc();
            None
        };
        let p = prefix(client);
        let peer = if prefixes.contains(&p) || prefixes.len() < MAX_PREFIXES {
            prefixes.insert(p.clone());
            p
        } else {
            self.folded.inc();
            "other".to_string()
        };
        (service, peer)
    }

    /// Takes one decided attempt (midstream flows are not attempts).
    pub fn observe(&self, h: &Handshake) {
        if h.outcome == Outcome::Midstream {
            return;
        }
        let (service, peer) = self.admit(h.server, h.client.ip());
        let labels: Labels = match service {
            Some(s) => vec![
                ("service_address".into(), s.ip().to_string()),
                ("service_port".into(), s.port().to_string()),
            ],
            None => vec![
                ("service_address".into(), "other".into()),
                ("service_port".into(), "other".into()),
            ],
        };
        let mut outcome = labels.clone();
        outcome.push(("outcome".into(), h.outcome.as_str().into()));
        outcome.push(("cause".into(), cause(h).into()));
        self.outcomes.get_or_create(&outcome).inc();
        if h.outcome != Outcome::Established {
            return;
        }
        let seconds = |ns: i64| ns as f64 / 1e9;
        if let Some(t) = h.total_ns {
            self.rtt.get_or_create(&labels).observe(seconds(t));
            self.rtt_by_prefix
                .get_or_create(&vec![("client_prefix".into(), peer)])
                .observe(seconds(t));
        }
        if let Some(s) = h.setup_ns {
            self.setup.get_or_create(&labels).observe(seconds(s));
        }
    }
}

impl crate::openmetrics::Publish for HandshakeMetrics {
    /// Puts the families in a scrape's registry.
    fn register(&self, registry: &mut Registry) {
        registry.register(
            "handshake_rtt_seconds",
            "Handshake round trip per service (SYN to SYN-ACK to ACK, from the answered SYN), live capture",
            self.rtt.clone(),
        );
        registry.register(
            "handshake_setup_seconds",
            "First SYN to completing ACK per service: what clients waited, retransmissions included",
            self.setup.clone(),
        );
        registry.register(
            "handshake_rtt_by_client_prefix_seconds",
            "Handshake round trip per client /24 (IPv4) or /48 (IPv6)",
            self.rtt_by_prefix.clone(),
        );
        registry.register(
            "handshakes",
            "Handshake attempts seen by the live capture, by service, outcome and cause",
            self.outcomes.clone(),
        );
        registry.register(
            "handshake_labels_folded",
            "Attempts whose service or client prefix went to `other` (label bounds reached)",
            self.folded.clone(),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefixes_and_bounded_services() {
        assert_eq!(prefix("198.18.5.77".parse().unwrap()), "198.18.5.0/24");
        assert_eq!(
            prefix("2001:db8:1:2::9".parse().unwrap()),
            "2001:db8:1::/48"
        );
        let m = HandshakeMetrics::default();
        let client: IpAddr = "198.18.5.77".parse().unwrap();
        let mut kept = 0;
        for port in 0..(MAX_SERVICES as u16 + 3) {
            let server = SocketAddr::new("10.0.0.1".parse().unwrap(), 1000 + port);
            let (service, peer) = m.admit(server, client);
            kept += usize::from(service == Some(server));
            assert_eq!(peer, "198.18.5.0/24");
        }
        assert_eq!(kept, MAX_SERVICES);
        // A service already labelled keeps its label.
        let first = SocketAddr::new("10.0.0.1".parse().unwrap(), 1000);
        assert_eq!(m.admit(first, client).0, Some(first));
        assert_eq!(m.folded.get(), 3);
        assert_eq!(m.seen.lock().unwrap().0.len(), MAX_SERVICES);
    }
}
