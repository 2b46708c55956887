//! `synack watch`: listener health of one network namespace. `--once`
//! samples twice (`--interval` apart, for rates) and prints one report; on
//! a terminal the default is the dashboard (`dashboard.rs`), elsewhere a
//! plain report every interval. The report (text or JSON) is built here and
//! shared by all three.

use crate::cli::{HostFormat, NetnsArg, WatchArgs};
use anyhow::{Context as _, Result};
use serde_json::{Value, json};
use std::fmt::Write as _;
use std::io::{IsTerminal, Write};
use std::process::ExitCode;
use std::sync::atomic::Ordering;
use std::time::Duration;
use synack_core::time;
use synack_host::counters::{HANDSHAKE_COUNTERS, is_gauge};
use synack_host::health::{self, Alert};
use synack_host::{Alerts, Listener, Rates, STATE_NAMES, Snapshot, SnapshotOptions};

/// Moves this thread (and the threads it starts later) into `--netns`.
pub fn enter(netns: &NetnsArg) -> Result<()> {
    crate::netns::enter(netns.netns.as_deref())
}

pub fn take(options: SnapshotOptions) -> Result<Snapshot> {
    Snapshot::take(options).context("listing sockets through netlink sock_diag")
}

/// Samples the namespace, each time with the rates since the last sample
/// and the alerts in force.
pub struct Watcher {
    options: SnapshotOptions,
    previous: Snapshot,
    alerts: Alerts,
}

/// One refresh: the snapshot, the rates since the previous one, the alerts.
pub struct Sample {
    pub snap: Snapshot,
    pub rates: Rates,
    pub alerts: Vec<Alert>,
}

impl Watcher {
    pub fn new(options: SnapshotOptions) -> Result<Watcher> {
        Ok(Watcher {
            options,
            previous: take(options)?,
            alerts: Alerts::default(),
        })
    }

    /// The latest snapshot taken.
    pub fn current(&self) -> &Snapshot {
        &self.previous
    }

    pub fn next(&mut self) -> Result<Sample> {
        let snap = take(self.options)?;
        let rates = Rates::between(&self.previous, &snap);
        let alerts = self.alerts.update(&snap, Some(&rates));
        self.previous = snap.clone();
        Ok(Sample {
            snap,
            rates,
            alerts,
        })
    }
}

impl Sample {
    pub fn report<'a>(&'a self, netns: Option<&'a str>, ports: &'a [u16]) -> Report<'a> {
        Report {
            snap: &self.snap,
            rates: Some(&self.rates),
            alerts: &self.alerts,
            netns,
            ports,
        }
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
        let ns = self
            .snap
            .wall
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos() as i64);
        let t = time::rfc3339(ns);
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
                    "message": a.message,
                    "evidence": a.evidence.iter().map(|(k, v)| (k.to_string(), json!(v))).collect::<serde_json::Map<_, _>>(),
                })
            })
            .collect();
        json!({
            "ts": self.when(),
            "netns": self.netns,
            "interval_s": self.rates.map(|r| round3(r.seconds)),
            "alerts": alerts,
            "listeners": listeners,
            "states": states,
            "counters": counters,
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
            "LISTENERS (most troubled first)\n  {:<28} {:>8} {:>6} {:>5} {:>8} {:>5} {:>8} {:>8}  PROCESS",
            "LOCAL", "ACCEPT-Q", "LIMIT", "FILL", "SYN-RECV", "FILL", "DROPS", "DROPS/S"
        );
        for (l, drops) in self.listeners() {
            let _ = writeln!(
                t,
                "  {:<28} {:>8} {:>6} {:>4.0}% {:>8} {:>4.0}% {:>8} {:>8}  {}",
                l.local.to_string(),
                l.accept_queue,
                l.accept_limit,
                health::accept_fill(l),
                l.syn_recv,
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

fn options(args: &WatchArgs) -> SnapshotOptions {
    SnapshotOptions {
        states: !args.no_states,
        syn_recv: true,
        drops: true,
        processes: args.processes,
    }
}

pub fn run(args: &WatchArgs) -> Result<ExitCode> {
    let stop = synack_sys::stop_on_signals();
    enter(&args.netns)?;
    let interval = Duration::from_secs_f64(args.interval.max(0.05));
    let netns = args.netns.netns.as_deref();
    let opts = options(args);
    let mut watcher = Watcher::new(opts)?;
    if !args.once && !args.plain && std::io::stdout().is_terminal() {
        return crate::dashboard::run(watcher, interval, netns, &args.port, stop);
    }
    let mut out = std::io::stdout().lock();
    loop {
        // Sleep in short steps so that Ctrl-C ends the wait at once.
        let until = std::time::Instant::now() + interval;
        while std::time::Instant::now() < until && !stop.load(Ordering::SeqCst) {
            std::thread::sleep(Duration::from_millis(20).min(interval));
        }
        if stop.load(Ordering::SeqCst) {
            return Ok(ExitCode::SUCCESS);
        }
        let sample = watcher.next()?;
        let report = sample.report(netns, &args.port);
        match args.format {
            HostFormat::Json if args.once => writeln!(out, "{:#}", report.json())?,
            HostFormat::Json => writeln!(out, "{}", report.json())?,
            HostFormat::Table => write!(
                out,
                "{}{}",
                report.text(),
                if args.once { "" } else { "\n" }
            )?,
        }
        out.flush()?;
        if args.once {
            return Ok(if sample.alerts.is_empty() {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(1)
            });
        }
    }
}
