//! `synack lab drill`: a spoofed SYN flood at the lab's server while
//! legitimate clients connect at a steady rate, once per defence, each in
//! a lab of its own: the share of legitimate clients that got in, their
//! setup times, and what the defence cost: SYN-ACKs the server sent (an
//! nftables counter on its output), SYN cookies (TcpExt.SyncookiesSent),
//! softirq CPU (the whole host's: flood, router and server alike), and
//! the conntrack entries it used (peak). This is the number a user needs
//! to pick a defence.

use crate::cli::{LabDrillArgs, MatrixFormat};
use anyhow::{Context, Result, bail};
use serde_json::json;
use std::net::SocketAddr;
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;
use synack_lab::{Defence, Lab};
use synack_probe::engine::{self, Pace};
use synack_probe::{AttemptConfig, Cause};

const PORT: u16 = 8080;
/// The flood runs this long before the first legitimate client, so that
/// the queues are as full as the flood makes them.
const HEAD_START: Duration = Duration::from_secs(1);

/// What one defence left the legitimate clients, and what it cost.
#[derive(Debug, Clone)]
pub struct Row {
    pub defence: Defence,
    pub attempts: usize,
    /// Setup times of those that got in.
    pub established: Vec<Duration>,
    pub flood_sent: u64,
    pub synacks_sent: u64,
    pub cookies_sent: u64,
    pub softirq_seconds: f64,
    pub conntrack_peak: Option<u64>,
}

impl Row {
    pub fn success_pct(&self) -> f64 {
        if self.attempts == 0 {
            0.0
        } else {
            self.established.len() as f64 * 100.0 / self.attempts as f64
        }
    }

    fn quantile(&self, q: f64) -> Option<Duration> {
        let mut v = self.established.clone();
        v.sort();
        let i = ((v.len() as f64 * q).ceil() as usize).clamp(1, v.len().max(1)) - 1;
        v.get(i).copied()
    }
}

pub fn run(a: &LabDrillArgs) -> Result<ExitCode> {
    if !synack_sys::is_root() {
        bail!(
            "synack lab drill builds network namespaces and sends a spoofed flood inside them: it needs root (CAP_NET_ADMIN, CAP_SYS_ADMIN, CAP_NET_RAW); run it with sudo"
        );
    }
    let defences: Vec<Defence> = if a.defense.is_empty() {
        Defence::ALL.to_vec()
    } else {
        a.defense
            .iter()
            .map(|d| Defence::parse(d.trim()).map_err(anyhow::Error::msg))
            .collect::<Result<_>>()?
    };
    let stale = Lab::remove_stale();
    if !stale.is_empty() {
        eprintln!(
            "synack lab: removed {} namespace(s) left by killed runs",
            stale.len()
        );
    }
    let stop = synack_sys::stop_on_signals();
    let mut rows = Vec::new();
    for d in defences {
        if stop.load(Ordering::SeqCst) {
            break;
        }
        eprintln!("synack lab drill: {} ({})", d.key(), d.describe());
        rows.push(drill(d, a).with_context(|| format!("the {} drill", d.key()))?);
    }
    match a.format {
        MatrixFormat::Json => println!("{}", self::json(a, &rows)),
        MatrixFormat::Table => print!("{}", table(a, &rows)),
    }
    Ok(ExitCode::SUCCESS)
}

/// Softirq time of the whole host so far, in seconds (/proc/stat).
fn softirq_seconds() -> f64 {
    std::fs::read_to_string("/proc/stat")
        .ok()
        .and_then(|t| {
            let cpu = t.lines().next()?.to_string();
            // cpu user nice system idle iowait irq softirq ...
            cpu.split_whitespace().nth(7)?.parse::<f64>().ok()
        })
        .map_or(0.0, |ticks| ticks / 100.0)
}

/// The SYN-ACKs the server sends on the port, counted by nftables.
const COUNT_TABLE: &str = "synack_drill_count";

fn synacks_counted(lab: &Lab) -> Result<u64> {
    let out = lab
        .server
        .command("nft")
        .args(["list", "table", "inet", COUNT_TABLE])
        .output()?;
    let text = String::from_utf8_lossy(&out.stdout);
    text.split("packets ")
        .nth(1)
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .context("reading the SYN-ACK counter (nft list table)")
}

fn drill(defence: Defence, a: &LabDrillArgs) -> Result<Row> {
    let lab = Lab::up()?;
    defence.apply(&lab, PORT)?;
    let counter = format!(
        "add table inet {COUNT_TABLE}; add chain inet {COUNT_TABLE} out {{ type filter hook output priority 0; }}; add rule inet {COUNT_TABLE} out tcp sport {PORT} tcp flags & (syn | ack) == syn | ack counter"
    );
    let out = lab.server.command("nft").arg(&counter).output()?;
    if !out.status.success() {
        bail!(
            "nft could not add the SYN-ACK counter: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    // The server: accepts and closes, as a healthy application does.
    let listener = lab.listen(PORT, false)?;
    synack_sys::set_backlog(&listener, defence.backlog())?;
    let done = Arc::new(AtomicBool::new(false));
    let accepting = {
        let done = done.clone();
        std::thread::spawn(move || {
            use std::os::fd::AsFd;
            while !done.load(Ordering::SeqCst) {
                if synack_sys::tcp::wait_readable(&[listener.as_fd()], Duration::from_millis(100))
                    .unwrap_or(false)
                {
                    let _ = listener.accept();
                }
            }
        })
    };
    // The conntrack table's peak, sampled in the server's namespace.
    let sampler = {
        let done = done.clone();
        lab.server.spawn(move || {
            let mut peak: Option<u64> = None;
            while !done.load(Ordering::SeqCst) {
                if let Ok(Some(ct)) = synack_host::conntrack::Conntrack::read() {
                    peak = Some(peak.unwrap_or(0).max(ct.entries));
                }
                std::thread::sleep(Duration::from_millis(100));
            }
            peak
        })
    };
    let cookies_before = lab.server.counter("TcpExt", "SyncookiesSent")?.unwrap_or(0);
    let cpu_before = softirq_seconds();
    let target = SocketAddr::new(lab.server_v4.into(), PORT);
    let attempts = (f64::from(a.clients) * a.duration.as_secs_f64()).ceil() as usize;
    let cfg = AttemptConfig {
        timeout: a.client_timeout,
        ..Default::default()
    };
    let pace = Pace {
        concurrency: (f64::from(a.clients) * a.client_timeout.as_secs_f64()).ceil() as usize + 1,
        gap: Duration::from_secs_f64(1.0 / f64::from(a.clients)),
        until: None,
        retries: 0,
        backoff: Duration::ZERO,
    };
    let (flood_sent, results) = std::thread::scope(|scope| -> Result<_> {
        let flood = scope.spawn(|| {
            lab.paced_flood(
                PORT,
                a.flood,
                a.duration + HEAD_START,
                u64::MAX,
                done.clone(),
            )
        });
        // Traffic pacing: the legitimate clients come once the flood is on.
        std::thread::sleep(HEAD_START);
        let results = lab.client.run(move || {
            let mut jobs = (0..attempts).map(|i| (i, target));
            let never = AtomicBool::new(false);
            let mut got = Vec::new();
            engine::run(&mut jobs, &cfg, &pace, &never, &mut |_, r| {
                got.push((r.cause == Cause::Established).then_some(r.connect));
            })
            .map(|()| got)
        });
        let sent = flood
            .join()
            .map_err(|_| anyhow::anyhow!("the flood thread panicked"))??;
        Ok((sent, results??))
    })?;
    let softirq = softirq_seconds() - cpu_before;
    let cookies = lab
        .server
        .counter("TcpExt", "SyncookiesSent")?
        .unwrap_or(0)
        .saturating_sub(cookies_before);
    let synacks = synacks_counted(&lab)?;
    done.store(true, Ordering::SeqCst);
    let _ = accepting.join();
    let conntrack_peak = sampler.join().ok().and_then(Result::ok).flatten();
    Ok(Row {
        defence,
        attempts: results.len(),
        established: results.into_iter().flatten().collect(),
        flood_sent,
        synacks_sent: synacks,
        cookies_sent: cookies,
        softirq_seconds: softirq,
        conntrack_peak,
    })
}

fn ms(d: Option<Duration>) -> String {
    d.map_or("-".into(), |d| {
        format!("{:.1} ms", d.as_secs_f64() * 1000.0)
    })
}

pub fn table(a: &LabDrillArgs, rows: &[Row]) -> String {
    use std::fmt::Write;
    let mut t = String::new();
    let _ = writeln!(
        t,
        "SYN flood of {}/s for {:.0?} from 65,536 spoofed sources; {} legitimate connects/s, each given {:.0?}",
        a.flood, a.duration, a.clients, a.client_timeout
    );
    let _ = writeln!(
        t,
        "{:<10} {:>9} {:>11} {:>11} {:>10} {:>10} {:>9} {:>10}  defence",
        "name", "legit ok", "setup p50", "setup p99", "SYN-ACKs", "cookies", "softirq", "conntrack"
    );
    for r in rows {
        let _ = writeln!(
            t,
            "{:<10} {:>8.1}% {:>11} {:>11} {:>10} {:>10} {:>8.2}s {:>10}  {}",
            r.defence.key(),
            r.success_pct(),
            ms(r.quantile(0.5)),
            ms(r.quantile(0.99)),
            r.synacks_sent,
            r.cookies_sent,
            r.softirq_seconds,
            r.conntrack_peak.map_or("-".into(), |p| p.to_string()),
            r.defence.describe()
        );
    }
    t
}

pub fn json(a: &LabDrillArgs, rows: &[Row]) -> serde_json::Value {
    let us = |d: Option<Duration>| d.map(|d| d.as_secs_f64() * 1e6);
    json!({
        "flood_per_s": a.flood,
        "duration_s": a.duration.as_secs_f64(),
        "clients_per_s": a.clients,
        "client_timeout_s": a.client_timeout.as_secs_f64(),
        "defences": rows.iter().map(|r| json!({
            "defence": r.defence.key(),
            "description": r.defence.describe(),
            "legit_attempts": r.attempts,
            "legit_established": r.established.len(),
            "legit_success_pct": (r.success_pct() * 10.0).round() / 10.0,
            "setup_p50_us": us(r.quantile(0.5)),
            "setup_p99_us": us(r.quantile(0.99)),
            "flood_sent": r.flood_sent,
            "synacks_sent": r.synacks_sent,
            "cookies_sent": r.cookies_sent,
            "softirq_cpu_s": (r.softirq_seconds * 100.0).round() / 100.0,
            "conntrack_peak": r.conntrack_peak,
        })).collect::<Vec<_>>(),
    })
}
