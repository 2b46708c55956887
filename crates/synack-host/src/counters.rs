//! Kernel counters of the current network namespace from /proc/net/snmp and
//! /proc/net/netstat (read through /proc/thread-self, so a thread that
//! entered another namespace reads that namespace's). Both files are pairs
//! of lines, names then values, under the same prefix ("TcpExt: ...").
//! Parsing is length-tolerant: a pair whose lengths differ keeps the names
//! it can match and says what it could not; a missing file is a problem
//! reported, never an error.

use crate::names::counter;
use std::collections::BTreeMap;

/// The counters that matter for handshakes, `Group.Name` as nstat shows
/// them (nstat writes `TcpExtListenOverflows`; the dot is ours).
/// (There is no TCPAbortOnOverflow counter: an abort on overflow shows as
/// ListenOverflows plus EmbryonicRsts.)
pub const HANDSHAKE_COUNTERS: &[&str] = &[
    counter::LISTEN_OVERFLOWS,
    counter::LISTEN_DROPS,
    counter::TCP_REQ_Q_FULL_DROP,
    counter::TCP_REQ_Q_FULL_DO_COOKIES,
    counter::SYNCOOKIES_SENT,
    counter::SYNCOOKIES_RECV,
    counter::SYNCOOKIES_FAILED,
    counter::TCP_SYN_RETRANS,
    counter::TCP_TIMEOUTS,
    counter::EMBRYONIC_RSTS,
    counter::TCP_FAST_OPEN_ACTIVE,
    counter::TCP_FAST_OPEN_ACTIVE_FAIL,
    counter::TCP_FAST_OPEN_PASSIVE,
    counter::TCP_FAST_OPEN_PASSIVE_FAIL,
    counter::TCP_FAST_OPEN_LISTEN_OVERFLOW,
    counter::TCP_FAST_OPEN_COOKIE_REQD,
    counter::TCP_FAST_OPEN_BLACKHOLE,
    counter::TCP_FAST_OPEN_PASSIVE_ALT_KEY,
    counter::TCP_ACTIVE_OPENS,
    counter::TCP_PASSIVE_OPENS,
    counter::TCP_ATTEMPT_FAILS,
    counter::TCP_ESTAB_RESETS,
    counter::TCP_CURR_ESTAB,
    counter::TCP_RETRANS_SEGS,
    counter::TCP_IN_ERRS,
    counter::TCP_OUT_RSTS,
];

/// Counters that are levels, not running totals (no rate).
pub fn is_gauge(name: &str) -> bool {
    matches!(
        name,
        counter::TCP_CURR_ESTAB
            | counter::TCP_MAX_CONN
            | counter::TCP_RTO_MIN
            | counter::TCP_RTO_MAX
            | counter::TCP_RTO_ALGORITHM
    )
}

/// Every counter of both files, and what could not be read.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Counters {
    pub values: BTreeMap<String, u64>,
    /// Values below zero (Tcp.MaxConn is -1, "no limit"): kept apart, as
    /// they are, never as a counter.
    pub signed: BTreeMap<String, i64>,
    pub problems: Vec<String>,
}

impl Counters {
    pub fn read() -> Counters {
        let mut c = Counters::default();
        for file in ["snmp", "netstat"] {
            let path = format!("/proc/thread-self/net/{file}");
            match std::fs::read_to_string(&path) {
                Ok(text) => parse_into(&text, &path, &mut c),
                Err(e) => c.problems.push(format!("{path}: {e}")),
            }
        }
        c
    }

    pub fn get(&self, name: &str) -> Option<u64> {
        self.values.get(name).copied()
    }

    /// Any value, negative ones included.
    pub fn get_signed(&self, name: &str) -> Option<i64> {
        self.signed
            .get(name)
            .copied()
            .or_else(|| self.values.get(name).map(|v| *v as i64))
    }
}

/// Parses one file's name/value line pairs into `into`.
pub fn parse_into(text: &str, path: &str, into: &mut Counters) {
    let mut lines = text.lines().enumerate();
    while let Some((n, names)) = lines.next() {
        let Some((group, names)) = names.split_once(':') else {
            continue;
        };
        let Some((_, values)) = lines.next() else {
            into.problems.push(format!(
                "{path}:{}: {group} names without a values line",
                n + 1
            ));
            break;
        };
        let Some((vgroup, values)) = values.split_once(':') else {
            into.problems
                .push(format!("{path}:{}: expected `{group}:` values", n + 2));
            continue;
        };
        if vgroup != group {
            into.problems.push(format!(
                "{path}:{}: `{vgroup}` values follow `{group}` names",
                n + 2
            ));
            continue;
        }
        let names: Vec<&str> = names.split_whitespace().collect();
        let values: Vec<&str> = values.split_whitespace().collect();
        if names.len() != values.len() {
            into.problems.push(format!(
                "{path}:{}: {group} has {} names and {} values; the first {} are kept",
                n + 2,
                names.len(),
                values.len(),
                names.len().min(values.len())
            ));
        }
        for (name, value) in names.iter().zip(&values) {
            // Tcp.MaxConn is -1 ("no limit"): kept as it is, apart from
            // the counters.
            match value.parse::<u64>() {
                Ok(v) => {
                    into.values.insert(format!("{group}.{name}"), v);
                }
                Err(_) if value.parse::<i64>().is_ok() => {
                    let v = value.parse::<i64>().unwrap_or_default();
                    into.signed.insert(format!("{group}.{name}"), v);
                }
                Err(_) => into.problems.push(format!(
                    "{path}:{}: {group}.{name} = `{value}` is not a number",
                    n + 2
                )),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pairs_are_read_and_uneven_ones_kept_as_far_as_they_match() {
        let text = "Tcp: RtoAlgorithm MaxConn ActiveOpens\nTcp: 1 -1 42\n\
                    TcpExt: ListenOverflows ListenDrops NewField\nTcpExt: 3 5\n\
                    Udp: InDatagrams\nUdp: x\nIpExt: Only\n";
        let mut c = Counters::default();
        parse_into(text, "netstat", &mut c);
        assert_eq!(c.get("Tcp.ActiveOpens"), Some(42));
        // Regression: -1 ("no limit") was kept, and exported, as 0.
        assert_eq!(c.get("Tcp.MaxConn"), None);
        assert_eq!(c.get_signed("Tcp.MaxConn"), Some(-1));
        assert_eq!(c.get("TcpExt.ListenOverflows"), Some(3));
        assert_eq!(c.get("TcpExt.ListenDrops"), Some(5));
        assert_eq!(c.get("TcpExt.NewField"), None);
        assert_eq!(c.problems.len(), 3, "{:?}", c.problems);
        assert!(
            c.problems[0].contains("3 names and 2 values"),
            "{:?}",
            c.problems
        );
        assert!(c.problems[1].contains("not a number"), "{:?}", c.problems);
        assert!(
            c.problems[2].contains("without a values line"),
            "{:?}",
            c.problems
        );
    }

    #[test]
    fn this_kernels_files_parse_without_problems() {
        let c = Counters::read();
        assert!(c.problems.is_empty(), "{:?}", c.problems);
        for name in HANDSHAKE_COUNTERS {
            assert!(c.get(name).is_some(), "{name} missing");
        }
    }
}
