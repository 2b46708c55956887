//! The host report of `watch` and the dashboard: one sample's listeners
//! (most troubled first), states, counters and alerts, as text for people
//! or JSON for scripts.

use serde_json::{Value, json};
use std::fmt::Write as _;
use synack_core::time;
use synack_host::counters::{HANDSHAKE_COUNTERS, is_gauge};
use synack_host::health::{self, Alert};
use synack_host::{Listener, Rates, STATE_NAMES, Sample, Snapshot};

/// The report of a sample, for a namespace (none: the current one) and
/// the listeners on `ports` (all when empty).
pub fn report<'a>(sample: &'a Sample, netns: Option<&'a str>, ports: &'a [u16]) -> Report<'a> {
    Report {
        snap: &sample.snap,
        rates: Some(&sample.rates),
        alerts: &sample.alerts,
        netns,
        ports,
    }
}

/// One sample and what follows from it and the one before.
pub struct Report<'a> {
    pub snap: &'a Snapshot,
    pub rates: Option<&'a Rates>,
    pub alerts: &'a [Alert],
    pub netns: Option<&'a str>,
    pub ports: &'a [u16],
}

impl Report<'_> {
    /// The listeners to show (the --port filter), most troubled first,
    /// each with its drops per second when there is a previous sample.
    pub fn listeners(&self) -> Vec<(&Listener, Option<f64>)> {
        let mut shown: Vec<(&Listener, Option<f64>)> = (0..self.snap.listeners.len())
            .filter(|&i| {
                self.ports.is_empty() || self.ports.contains(&self.snap.listeners[i].local.port())
            })
            .map(|i| (&self.snap.listeners[i], self.drops_per_s(i)))
            .collect();
        let trouble = |(l, d): &(&Listener, Option<f64>)| health::trouble(l, d.unwrap_or(0.0));
        shown.sort_by(|a, b| trouble(b).total_cmp(&trouble(a)));
        shown
    }

    fn drops_per_s(&self, i: usize) -> Option<f64> {
        self.rates?.listener_drops.get(&i).copied()
    }

    fn when(&self) -> String {
        let t = time::rfc3339(time::unix_ns(self.snap.wall));
        format!("{}Z", &t[..19])
    }

    pub fn json(&self) -> Value {
        let s = self.snap;
        let listeners: Vec<Value> = self
            .listeners()
            .into_iter()
            .map(|(l, drops)| {
                json!({
                    "local": l.local.to_string(),
                    "address": l.local.ip().to_string(),
                    "port": l.local.port(),
                    "accept_queue": l.accept_queue,
                    "accept_limit": l.accept_limit,
                    "queue_capacity": health::capacity(l),
                    "accept_fill_pct": round1(health::accept_fill(l)),
                    "syn_recv": l.syn_recv,
                    "syn_fill_pct": round1(health::syn_fill(l)),
                    "drops": l.drops,
                    "drops_per_s": drops.map(round1),
                    "inode": l.inode,
                    "processes": l.processes.iter().map(|(pid, comm)| json!({"pid": pid, "command": comm})).collect::<Vec<_>>(),
                })
            })
            .collect();
        let states = s.states.map(|counts| {
            (1..counts.len())
                .map(|i| (STATE_NAMES[i].to_string(), json!(counts[i])))
                .collect::<serde_json::Map<_, _>>()
        });
        let counters: serde_json::Map<String, Value> = s
            .counters
            .values
            .iter()
            .map(|(name, v)| {
                let rate = self
                    .rates
                    .and_then(|r| r.counters.get(name))
                    .copied()
                    .map(round1);
                (name.clone(), json!({"value": v, "per_s": rate}))
            })
            .collect();
        let sysctls: serde_json::Map<String, Value> = s
            .sysctls
            .values
            .iter()
            .map(|(k, v)| (k.clone(), json!(v)))
            .collect();
        let alerts: Vec<Value> = self
            .alerts
            .iter()
            .map(|a| {
                json!({
                    "severity": a.severity.as_str(),
                    "kind": a.kind.as_str(),
                    "listener": a.listener.map(|l| l.to_string()),
                    "destination": a.destination.map(|d| d.to_string()),
                    "message": a.message,
                    "evidence": a.evidence.iter().map(|(k, v)| (k.to_string(), json!(v))).collect::<serde_json::Map<_, _>>(),
                })
            })
            .collect();
        let conntrack = s.conntrack.as_ref().map(|ct| {
            let stats: serde_json::Map<String, Value> = ct
                .stats
                .iter()
                .map(|(name, v)| {
                    let rate = self
                        .rates
                        .and_then(|r| r.conntrack.get(name))
                        .copied()
                        .map(round1);
                    (name.clone(), json!({"value": v, "per_s": rate}))
                })
                .collect();
            json!({"entries": ct.entries, "max": ct.max, "fill_pct": round1(ct.fill()), "stats": stats})
        });
        let ports = s.ports.as_ref().map(|p| {
            let destinations: Vec<Value> = p
                .destinations
                .iter()
                .map(|d| {
                    json!({
                        "destination": d.remote.to_string(),
                        "in_use": d.in_use,
                        "time_wait": d.time_wait,
                        "fill_pct": round1(p.fill(d)),
                    })
                })
                .collect();
            json!({
                "range": [p.range.0, p.range.1],
                "range_size": p.range_size(),
                "destinations_seen": p.destinations_seen,
                "destinations": destinations,
            })
        });
        json!({
            "ts": self.when(),
            "netns": self.netns,
            "interval_s": self.rates.map(|r| round3(r.seconds)),
            "alerts": alerts,
            "listeners": listeners,
            "states": states,
            "counters": counters,
            "conntrack": conntrack,
            "ephemeral_ports": ports,
            "sysctls": sysctls,
            "problems": s.problems,
        })
    }

    /// The first line: namespace, time and the interval rates cover.
    pub fn title(&self) -> String {
        format!(
            "synack watch  {}  {}{}",
            self.netns
                .map_or("this namespace".to_string(), |n| format!("namespace {n}")),
            self.when(),
            self.rates.map_or(String::new(), |r| format!(
                "  rates over {:.2} s",
                r.seconds
            ))
        )
    }

    pub fn text(&self) -> String {
        let s = self.snap;
        let mut t = self.title();
        t.push('\n');
        if self.alerts.is_empty() {
            t.push_str("ALERTS  none\n");
        } else {
            t.push_str("ALERTS\n");
            for a in self.alerts {
                let _ = writeln!(
                    t,
                    "  {:<8} {:<26} {}",
                    a.severity.as_str(),
                    a.kind.as_str(),
                    a.message
                );
            }
        }
        let _ = writeln!(
            t,
            "LISTENERS (most troubled first; each queue holds min(backlog, somaxconn) + 1)\n  {:<28} {:>11} {:>5} {:>11} {:>5} {:>8} {:>8}  PROCESS",
            "LOCAL", "ACCEPT-Q", "FILL", "SYN-RECV", "FILL", "DROPS", "DROPS/S"
        );
        for (l, drops) in self.listeners() {
            let capacity = health::capacity(l);
            let _ = writeln!(
                t,
                "  {:<28} {:>11} {:>4.0}% {:>11} {:>4.0}% {:>8} {:>8}  {}",
                l.local.to_string(),
                format!("{}/{capacity}", l.accept_queue),
                health::accept_fill(l),
                format!("{}/{capacity}", l.syn_recv),
                health::syn_fill(l),
                l.drops.map_or("-".into(), |d| d.to_string()),
                drops.map_or("-".into(), |d| format!("{d:.1}")),
                l.owners()
            );
        }
        if let Some(counts) = s.states {
            let shown: Vec<String> = (1..counts.len())
                .filter(|&i| counts[i] > 0)
                .map(|i| format!("{} {}", STATE_NAMES[i], counts[i]))
                .collect();
            let _ = writeln!(
                t,
                "STATES  {}",
                if shown.is_empty() {
                    "no sockets".into()
                } else {
                    shown.join(" · ")
                }
            );
        }
        if let Some(ct) = &s.conntrack {
            let rate = |name: &str| {
                self.rates
                    .map_or("-".to_string(), |r| format!("{:.1}/s", r.conntrack(name)))
            };
            let _ = writeln!(
                t,
                "CONNTRACK  {}/{} ({:.0}% full)  insert_failed {} ({})  drop {} ({})  early_drop {} ({})",
                ct.entries,
                ct.max,
                ct.fill(),
                ct.stat("insert_failed"),
                rate("insert_failed"),
                ct.stat("drop"),
                rate("drop"),
                ct.stat("early_drop"),
                rate("early_drop"),
            );
        }
        if let Some(p) = &s.ports
            && !p.destinations.is_empty()
        {
            let _ = writeln!(
                t,
                "EPHEMERAL PORTS per destination (range {}-{}, {} ports; busiest {} of {})\n  {:<28} {:>8} {:>6} {:>10}",
                p.range.0,
                p.range.1,
                p.range_size(),
                p.destinations.len().min(5),
                p.destinations_seen,
                "DESTINATION",
                "IN USE",
                "FILL",
                "TIME-WAIT"
            );
            for d in p.destinations.iter().take(5) {
                let _ = writeln!(
                    t,
                    "  {:<28} {:>8} {:>5.1}% {:>10}",
                    d.remote.to_string(),
                    d.in_use,
                    p.fill(d),
                    d.time_wait
                );
            }
        }
        let _ = writeln!(t, "COUNTERS{:>38} {:>10}", "VALUE", "/S");
        for name in HANDSHAKE_COUNTERS {
            let Some(v) = s.counters.get(name) else {
                continue;
            };
            let rate = self.rates.and_then(|r| r.counters.get(*name));
            let _ = writeln!(
                t,
                "  {:<34} {:>10} {:>10}",
                name,
                v,
                match rate {
                    Some(r) => format!("{r:.1}"),
                    None if is_gauge(name) => "level".into(),
                    None => "-".into(),
                }
            );
        }
        if !s.problems.is_empty() {
            t.push_str("PROBLEMS (the rest is still reported)\n");
            for p in &s.problems {
                let _ = writeln!(t, "  {p}");
            }
        }
        t
    }
}

fn round1(x: f64) -> f64 {
    (x * 10.0).round() / 10.0
}

fn round3(x: f64) -> f64 {
    (x * 1000.0).round() / 1000.0
}
