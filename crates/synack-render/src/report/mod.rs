//! `synack report` and `--report FILE`: one self-contained HTML file (no
//! network fetches; charts are inline SVG readable without JavaScript, a
//! few lines of script sort the tables) from records of any source.
//!
//! Bounded memory: per server a histogram of each RTT leg (at most
//! [`MAX_SERVERS`] servers, the rest under "other"), outcomes over time in
//! one-second buckets (coarsened when a capture spans more than
//! [`MAX_SECONDS`]), the [`KEPT`] slowest and the first [`KEPT`] failed
//! attempts whole, and counts of options.

mod svg;

use crate::{Run, Sink, human_ns};
use std::collections::{BTreeMap, HashMap};
use std::fmt::Write as _;
use std::io::{self, Write};
use std::net::SocketAddr;
use synack_core::stats::Latencies;
use synack_core::{Handshake, Outcome};

pub const MAX_SERVERS: usize = 256;
pub const MAX_SECONDS: usize = 86_400;
pub const KEPT: usize = 20;
/// Servers with a CDF line of their own.
const CDF_SERVERS: usize = 6;

#[derive(Default)]
struct Server {
    attempts: u64,
    outcomes: [u64; Outcome::ALL.len()],
    total: Latencies,
    syn_synack: Latencies,
    synack_ack: Latencies,
}

fn outcome_index(o: Outcome) -> usize {
    Outcome::ALL.iter().position(|x| *x == o).unwrap_or(0)
}

/// Collects records and writes the page at the end.
pub struct ReportSink<W: Write> {
    out: W,
    title: String,
    servers: HashMap<SocketAddr, Server>,
    other: Server,
    /// Every server's: the total and the two legs.
    all: Server,
    all_rtt: Latencies,
    /// Second since the epoch → (attempts by outcome, SYN retransmissions).
    timeline: BTreeMap<i64, ([u64; Outcome::ALL.len()], u64)>,
    slowest: Vec<Handshake>,
    failed: Vec<Handshake>,
    failed_total: u64,
    records: u64,
    census: BTreeMap<&'static str, u64>,
}

impl<W: Write> ReportSink<W> {
    pub fn new(out: W, title: &str) -> ReportSink<W> {
        ReportSink {
            out,
            title: title.to_string(),
            servers: HashMap::new(),
            other: Server::default(),
            all: Server::default(),
            all_rtt: Latencies::default(),
            timeline: BTreeMap::new(),
            slowest: Vec::new(),
            failed: Vec::new(),
            failed_total: 0,
            records: 0,
            census: BTreeMap::new(),
        }
    }

    fn count(&mut self, what: &'static str) {
        *self.census.entry(what).or_insert(0) += 1;
    }
}

impl<W: Write> Sink for ReportSink<W> {
    fn record(&mut self, h: &Handshake) -> io::Result<()> {
        if h.outcome == Outcome::Midstream {
            self.count("flows first seen mid-stream");
            return Ok(());
        }
        self.records += 1;
        let server = if self.servers.contains_key(&h.server) || self.servers.len() < MAX_SERVERS {
            self.servers.entry(h.server).or_default()
        } else {
            &mut self.other
        };
        server.attempts += 1;
        server.outcomes[outcome_index(h.outcome)] += 1;
        let us = |ns: i64| (ns.max(0) / 1000) as u64;
        if let Some(t) = h.total_ns {
            server.total.record(us(t));
            self.all_rtt.record(us(t));
        }
        if let Some(t) = h.syn_synack_ns {
            server.syn_synack.record(us(t));
            self.all.syn_synack.record(us(t));
        }
        if let Some(t) = h.synack_ack_ns {
            server.synack_ack.record(us(t));
            self.all.synack_ack.record(us(t));
        }
        let second = h.ts_ns.div_euclid(1_000_000_000);
        if self.timeline.len() < MAX_SECONDS || self.timeline.contains_key(&second) {
            let slot = self.timeline.entry(second).or_default();
            slot.0[outcome_index(h.outcome)] += 1;
            slot.1 += u64::from(h.syn_retransmissions());
        }
        // Kept sorted, slowest first: a record is copied only when it
        // makes the list (the common case is one comparison).
        if h.outcome == Outcome::Established
            && h.setup_ns.is_some()
            && (self.slowest.len() < KEPT
                || self.slowest.last().is_some_and(|r| r.setup_ns < h.setup_ns))
        {
            let at = self.slowest.partition_point(|r| r.setup_ns >= h.setup_ns);
            self.slowest.insert(at, h.clone());
            self.slowest.truncate(KEPT);
        }
        if h.outcome.is_failure() {
            self.failed_total += 1;
            if self.failed.len() < KEPT {
                self.failed.push(h.clone());
            }
        }
        if let Some(o) = &h.client_opts {
            for (on, what) in [
                (o.mss.is_some(), "client SYNs with MSS"),
                (o.sack_permitted, "client SYNs with SACK permitted"),
                (o.timestamps.is_some(), "client SYNs with timestamps"),
                (o.wscale.is_some(), "client SYNs with window scaling"),
                (o.tfo.is_some(), "client SYNs with a TCP Fast Open option"),
                (o.mptcp_subtype.is_some(), "client SYNs with MPTCP"),
            ] {
                if on {
                    self.count(what);
                }
            }
        }
        if h.tfo.syn_data > 0 {
            self.count("SYNs carrying data (TFO)");
        }
        if h.ecn.is_some() {
            self.count("attempts with ECN");
        }
        if h.syn_retransmissions() > 0 {
            self.count("attempts with SYN retransmissions");
        }
        Ok(())
    }

    fn finish(&mut self, run: &Run<'_>) -> io::Result<()> {
        let page = self.page(run);
        self.out.write_all(page.as_bytes())?;
        self.out.flush()
    }
}

const STYLE: &str = "body{font-family:sans-serif;margin:24px;color:#222;max-width:1100px}\
h1{font-size:22px}h2{font-size:18px;margin-top:28px}table{border-collapse:collapse;margin:8px 0}\
th,td{border:1px solid #ccc;padding:3px 8px;text-align:right;font-size:13px}\
th{background:#f3f3f3;cursor:pointer}td.l,th.l{text-align:left}.note{color:#666;font-size:13px}\
svg.chart{display:block;margin:8px 0;border:1px solid #eee}";

/// Sorts a table by the clicked column (numbers by value).
const SCRIPT: &str = "document.querySelectorAll('table.sortable th').forEach(function(th,i){\
th.addEventListener('click',function(){var t=th.closest('table'),b=t.tBodies[0],\
rows=Array.from(b.rows),up=th.dataset.up!=='1';th.dataset.up=up?'1':'0';\
rows.sort(function(a,c){var x=a.cells[i].dataset.v||a.cells[i].textContent,\
y=c.cells[i].dataset.v||c.cells[i].textContent,nx=parseFloat(x),ny=parseFloat(y);\
var r=(!isNaN(nx)&&!isNaN(ny))?nx-ny:x.localeCompare(y);return up?r:-r;});\
rows.forEach(function(r){b.appendChild(r);});});});";

fn cell_ns(ns: Option<u64>) -> String {
    match ns {
        Some(us) => format!(r#"<td data-v="{us}">{}</td>"#, human_ns(us as i64 * 1000)),
        None => "<td data-v=\"-1\">-</td>".into(),
    }
}

impl<W: Write> ReportSink<W> {
    fn page(&self, run: &Run<'_>) -> String {
        let mut p = String::new();
        let _ = write!(
            p,
            "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>{}</title><style>{STYLE}</style></head><body><h1>{}</h1>",
            svg::escape(&self.title),
            svg::escape(&self.title)
        );
        let established: u64 = self
            .servers
            .values()
            .chain(std::iter::once(&self.other))
            .map(|s| s.outcomes[0])
            .sum();
        let _ = write!(
            p,
            "<p id=\"totals\">{} attempts, {} established, {} failed; handshake RTT p50 {}, p99 {}.</p>",
            self.records,
            established,
            self.failed_total,
            self.all_rtt
                .quantile(0.5)
                .map_or("-".into(), |u| human_ns(u as i64 * 1000)),
            self.all_rtt
                .quantile(0.99)
                .map_or("-".into(), |u| human_ns(u as i64 * 1000)),
        );
        self.charts(&mut p);
        self.servers_table(&mut p);
        self.attempts(
            &mut p,
            "Slowest established attempts",
            "slowest",
            &self.slowest,
        );
        self.attempts(&mut p, "Failed attempts", "failed", &self.failed);
        p.push_str("<h2>Options and features seen</h2><table id=\"census\"><tbody>");
        for (what, n) in &self.census {
            let _ = write!(p, "<tr><td class=\"l\">{what}</td><td>{n}</td></tr>");
        }
        p.push_str("</tbody></table>");
        input_section(&mut p, run);
        let _ = writeln!(p, "<script>{SCRIPT}</script></body></html>");
        p
    }

    fn servers_table(&self, p: &mut String) {
        p.push_str("<h2>Servers</h2><table id=\"servers\" class=\"sortable\"><thead><tr><th class=\"l\">server</th><th>attempts</th><th>established</th><th>failed</th><th>RTT p50</th><th>RTT p90</th><th>RTT p99</th><th>SYN to SYN-ACK p50</th><th>SYN-ACK to ACK p50</th></tr></thead><tbody>");
        let mut servers: Vec<(String, &Server)> = self
            .servers
            .iter()
            .map(|(a, s)| (a.to_string(), s))
            .collect();
        if self.other.attempts > 0 {
            servers.push(("other".into(), &self.other));
        }
        servers.sort_by_key(|(_, s)| std::cmp::Reverse(s.attempts));
        for (name, s) in servers {
            let failed: u64 = Outcome::ALL
                .iter()
                .zip(s.outcomes)
                .filter(|(o, _)| o.is_failure())
                .map(|(_, n)| n)
                .sum();
            let _ = write!(
                p,
                "<tr><td class=\"l\">{}</td><td>{}</td><td>{}</td><td>{failed}</td>{}{}{}{}{}</tr>",
                svg::escape(&name),
                s.attempts,
                s.outcomes[0],
                cell_ns(s.total.quantile(0.5)),
                cell_ns(s.total.quantile(0.9)),
                cell_ns(s.total.quantile(0.99)),
                cell_ns(s.syn_synack.quantile(0.5)),
                cell_ns(s.synack_ack.quantile(0.5)),
            );
        }
        p.push_str("</tbody></table>");
    }

    fn charts(&self, p: &mut String) {
        let mut busiest: Vec<(&SocketAddr, &Server)> = self
            .servers
            .iter()
            .filter(|(_, s)| !s.total.is_empty())
            .collect();
        busiest.sort_by_key(|(_, s)| std::cmp::Reverse(s.total.len()));
        let series: Vec<(String, Vec<(f64, f64)>)> = busiest
            .iter()
            .take(CDF_SERVERS)
            .map(|(a, s)| (a.to_string(), cdf_points(&s.total)))
            .collect();
        p.push_str("<h2>Handshake RTT</h2>");
        if series.is_empty() {
            p.push_str("<p class=\"note\">No completed handshake.</p>");
        } else {
            p.push_str(&svg::cdf("handshake RTT CDF per server", &series));
            let legs = [
                (
                    "SYN to SYN-ACK".to_string(),
                    cdf_points(&self.all.syn_synack),
                ),
                (
                    "SYN-ACK to ACK".to_string(),
                    cdf_points(&self.all.synack_ack),
                ),
                ("total".to_string(), cdf_points(&self.all_rtt)),
            ];
            let legs: Vec<_> = legs.into_iter().filter(|l| !l.1.is_empty()).collect();
            p.push_str(&svg::cdf("the three legs, every server", &legs));
            p.push_str(&svg::histogram(
                "handshake RTT histogram",
                &log_bins(&self.all_rtt),
            ));
        }
        let names: Vec<&str> = ["established", "failed", "other"].to_vec();
        let buckets = self.time_buckets(60);
        if !buckets.is_empty() {
            p.push_str("<h2>Outcomes over time</h2>");
            let outcome_buckets: Vec<(String, Vec<u64>)> = buckets
                .iter()
                .map(|(label, counts, _)| (label.clone(), counts.clone()))
                .collect();
            p.push_str(&svg::stacked(
                "outcomes over time",
                &names,
                &outcome_buckets,
            ));
            p.push_str("<h2>SYN retransmissions over time</h2>");
            let retx: Vec<(String, Vec<u64>)> = buckets
                .iter()
                .map(|(label, _, r)| (label.clone(), vec![*r]))
                .collect();
            p.push_str(&svg::stacked(
                "SYN retransmissions over time",
                &["SYN retransmissions"],
                &retx,
            ));
        }
    }

    /// At most `n` buckets over the timeline: (label, [established,
    /// failed, other], SYN retransmissions).
    fn time_buckets(&self, n: usize) -> Vec<(String, Vec<u64>, u64)> {
        let (Some((&first, _)), Some((&last, _))) = (
            self.timeline.first_key_value(),
            self.timeline.last_key_value(),
        ) else {
            return Vec::new();
        };
        let span = (last - first + 1) as usize;
        let width = span.div_ceil(n).max(1) as i64;
        let mut out: Vec<(String, Vec<u64>, u64)> = Vec::new();
        for (second, (counts, retx)) in &self.timeline {
            let i = ((second - first) / width) as usize;
            while out.len() <= i {
                let start = first + out.len() as i64 * width;
                out.push((format!("+{}s", start - first), vec![0; 3], 0));
            }
            for (o, c) in Outcome::ALL.iter().zip(counts) {
                let k = if *o == Outcome::Established {
                    0
                } else if o.is_failure() {
                    1
                } else {
                    2
                };
                out[i].1[k] += c;
            }
            out[i].2 += retx;
        }
        out
    }

    fn attempts(&self, p: &mut String, title: &str, id: &str, list: &[Handshake]) {
        let _ = write!(
            p,
            "<h2>{title}</h2><table id=\"{id}\" class=\"sortable\"><thead><tr><th class=\"l\">client</th><th class=\"l\">server</th><th class=\"l\">outcome</th><th>time</th><th class=\"l\">cause</th><th class=\"l\">ladder</th></tr></thead><tbody>"
        );
        for h in list {
            let why = if h.outcome.is_failure() {
                crate::summary::cause(h)
            } else {
                crate::annotate::verdict(h)
            };
            let _ = write!(
                p,
                "<tr><td class=\"l\">{}</td><td class=\"l\">{}</td><td class=\"l\">{}</td>{}<td class=\"l\">{}</td><td class=\"l\">{}</td></tr>",
                h.client,
                h.server,
                h.outcome.as_str(),
                cell_ns(Some((h.elapsed_ns().max(0) / 1000) as u64)),
                svg::escape(&why),
                svg::ladder(&ladder_events(h))
            );
        }
        p.push_str("</tbody></table>");
    }
}

/// A CDF's points: (µs, fraction) at every percent.
fn cdf_points(l: &Latencies) -> Vec<(f64, f64)> {
    (0..=100)
        .filter_map(|i| {
            let q = f64::from(i) / 100.0;
            l.quantile(q).map(|v| (v.max(1) as f64, q))
        })
        .collect()
}

/// The handshake's packets in time order, from the record's times.
fn ladder_events(h: &Handshake) -> Vec<(f64, bool, String)> {
    let t0 = h.ts_ns;
    let us = |t: i64| (t - t0) as f64 / 1000.0;
    let mut events = Vec::new();
    for (i, t) in h.times.syn.iter().enumerate() {
        events.push((
            us(*t),
            true,
            if i == 0 {
                "SYN".into()
            } else {
                format!("SYN #{}", i + 1)
            },
        ));
    }
    for t in &h.times.synack {
        events.push((us(*t), false, "SYN-ACK".into()));
    }
    if let Some(t) = h.times.ack {
        events.push((us(t), true, "ACK".into()));
    }
    if let Some(t) = h.times.rst {
        let from_client = h.rst_from == Some(synack_core::Side::Client);
        events.push((us(t), from_client, "RST".into()));
    }
    if let Some(t) = h.times.icmp {
        events.push((us(t), false, "ICMP".into()));
    }
    events.sort_by(|a, b| a.0.total_cmp(&b.0));
    events
}

/// Log-spaced bins (4 per decade) over the RTTs, µs.
fn log_bins(l: &Latencies) -> Vec<(f64, f64, u64)> {
    let (Some(min), Some(max)) = (l.min(), l.max()) else {
        return Vec::new();
    };
    let mut edges = Vec::new();
    let mut e = 10f64.powf((min.max(1) as f64).log10().floor());
    while e <= max as f64 {
        edges.push(e);
        e *= 10f64.powf(0.25);
    }
    edges.push(e);
    edges
        .windows(2)
        .map(|w| (w[0], w[1], l.count_in(w[0] as u64, w[1].ceil() as u64)))
        .collect()
}

/// What the input held besides the records.
fn input_section(p: &mut String, run: &Run<'_>) {
    p.push_str("<h2>Input</h2><table id=\"input\"><tbody>");
    let mut row = |what: &str, v: String| {
        let _ = write!(
            p,
            "<tr><td class=\"l\">{what}</td><td class=\"l\">{}</td></tr>",
            svg::escape(&v)
        );
    };
    match run {
        Run::Files {
            files,
            report,
            tracker,
        } => {
            let names: Vec<String> = files.iter().map(|f| f.display().to_string()).collect();
            row("files", names.join(", "));
            row("packets", report.packets.to_string());
            row("TCP segments", tracker.tcp_segments.to_string());
            row("ICMP errors", tracker.icmp_errors.to_string());
            for (why, n) in &tracker.skipped {
                row(&format!("skipped: {why:?}"), n.to_string());
            }
            row("flow table evictions", tracker.evictions.to_string());
        }
        Run::Live {
            interface,
            frames,
            tracker,
        } => {
            row("interface", interface.to_string());
            row("frames", frames.to_string());
            row("flow table evictions", tracker.evictions.to_string());
        }
        Run::Probe => row("source", "active probes".into()),
        Run::Trace { tally } => {
            row("source", "kernel tracepoints (eBPF)".into());
            row("events", tally.events.to_string());
            row("events lost (ring buffer full)", tally.lost.to_string());
            row(
                "handshake packets dropped by the kernel",
                tally.drops_total().to_string(),
            );
        }
    }
    p.push_str("</tbody></table>");
}
