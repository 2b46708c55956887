//! What a run of probes to one target adds up to, in memory that does not
//! grow with the number of attempts (`synack probe` without `-c` runs until
//! stopped): attempts by cause, handshake times and, with TCP Fast Open,
//! the time to the first answer byte with and without data in the SYN.

use std::collections::BTreeMap;
use std::time::Duration;
use synack_core::stats::Latencies;

#[derive(Clone, Debug, Default)]
pub struct TargetStats {
    /// Attempts made.
    pub sent: u64,
    /// Attempts by cause label (a handful of distinct labels).
    pub causes: BTreeMap<String, u64>,
    /// Handshake times of established attempts, in nanoseconds.
    pub handshakes: Latencies,
    /// First answer byte with the data in the SYN (TFO accepted), ns.
    pub tfo_with_data: Latencies,
    /// First answer byte without data in the SYN, ns.
    pub tfo_without_data: Latencies,
    /// With TLS: full and resumed handshakes (ns), and failures by kind.
    pub tls_full: Latencies,
    pub tls_resumed: Latencies,
    pub tls_failures: BTreeMap<&'static str, u64>,
    /// With TLS and a request: the first answer byte (from connect()) when
    /// the server took the request as 0-RTT early data, and when not, ns.
    pub early_data_taken: Latencies,
    pub early_data_not_taken: Latencies,
}

impl TargetStats {
    /// Counts one attempt: its cause and, when established, its time.
    pub fn add(&mut self, cause: &str, handshake: Option<Duration>) {
        self.sent += 1;
        match self.causes.get_mut(cause) {
            Some(n) => *n += 1,
            None => {
                self.causes.insert(cause.to_string(), 1);
            }
        }
        if let Some(t) = handshake {
            self.handshakes.record(t.as_nanos() as u64);
        }
    }

    /// Counts a TLS handshake: its time, full or resumed, or its failure.
    pub fn add_tls(&mut self, tls: &crate::tls::TlsOutcome) {
        match (&tls.failure, tls.handshake) {
            (Some(f), _) => *self.tls_failures.entry(f.kind()).or_insert(0) += 1,
            (None, Some(t)) if tls.resumed => self.tls_resumed.record(t.as_nanos() as u64),
            (None, Some(t)) => self.tls_full.record(t.as_nanos() as u64),
            (None, None) => {}
        }
    }

    /// Counts a TFO attempt's time to the first answer byte.
    /// With TLS and a request: when its answer's first byte came.
    pub fn add_tls_first_answer(&mut self, early_data_taken: bool, after: Duration) {
        let into = if early_data_taken {
            &mut self.early_data_taken
        } else {
            &mut self.early_data_not_taken
        };
        into.record(after.as_nanos() as u64);
    }

    pub fn add_first_answer(&mut self, data_in_syn: bool, after: Duration) {
        let into = if data_in_syn {
            &mut self.tfo_with_data
        } else {
            &mut self.tfo_without_data
        };
        into.record(after.as_nanos() as u64);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn causes_and_times_add_up() {
        let mut s = TargetStats::default();
        s.add("established", Some(Duration::from_millis(20)));
        s.add("established", Some(Duration::from_millis(22)));
        s.add("refused (RST)", None);
        assert_eq!(s.sent, 3);
        assert_eq!(s.causes["established"], 2);
        assert_eq!(s.causes["refused (RST)"], 1);
        assert_eq!(s.handshakes.len(), 2);
        assert_eq!(s.handshakes.min(), Some(20_000_000));
    }

    #[test]
    fn tls_handshakes_split_full_resumed_and_failed() {
        use crate::tls::{TlsFailure, TlsOutcome};
        let mut s = TargetStats::default();
        let ok = |ms: u64, resumed: bool| TlsOutcome {
            handshake: Some(Duration::from_millis(ms)),
            resumed,
            ..TlsOutcome::default()
        };
        s.add_tls(&ok(30, false));
        s.add_tls(&ok(20, true));
        s.add_tls(&ok(21, true));
        s.add_tls(&TlsOutcome {
            failure: Some(TlsFailure::NotTls),
            ..TlsOutcome::default()
        });
        assert_eq!((s.tls_full.len(), s.tls_resumed.len()), (1, 2));
        assert_eq!(s.tls_failures["not_tls"], 1);
    }
}
