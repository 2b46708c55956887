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

    /// Counts a TFO attempt's time to the first answer byte.
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
}
