//! `synack probe`'s lines for people: one ping-like line per attempt, and
//! the summary per target (causes, percentiles, mdev, a histogram, and
//! what TCP Fast Open saved).

use crate::human_ns;
use std::io::{self, Write};
use std::net::SocketAddr;
use synack_probe::{AttemptResult, Cause, TargetStats};

/// One attempt as a ping-like line.
pub fn live_line(r: &AttemptResult, rec: &synack_core::Handshake, round: u32) -> String {
    let mut line = format!(
        "{} seq={round} {} time={}",
        r.target,
        r.cause.label(),
        human_ns(r.connect.as_nanos() as i64)
    );
    let probe = rec.probe.as_ref();
    if let Some(i) = probe.and_then(|p| p.tcp_info)
        && r.cause == Cause::Established
    {
        let flags = [
            (i.sack, "sack"),
            (i.timestamps, "ts"),
            (i.wscale, "ws"),
            (i.ecn, "ecn"),
        ];
        let opts: Vec<&str> = flags
            .iter()
            .filter(|(on, _)| *on)
            .map(|(_, n)| *n)
            .collect();
        line.push_str(&format!(
            " rtt={} mss={} opts={}",
            human_ns(i64::from(i.rtt_us) * 1000),
            i.snd_mss,
            opts.join(",")
        ));
    }
    if r.tries > 1 {
        line.push_str(&format!(
            " tries={} (retries cost {})",
            r.tries,
            human_ns(r.retry_cost.as_nanos() as i64)
        ));
    }
    if let Some(t) = probe.and_then(|p| p.tfo_result) {
        line.push_str(&format!(" tfo={t}"));
    }
    if let Some(t) = probe.and_then(|p| p.tls.as_ref()) {
        match &t.failure {
            None => line.push_str(&format!(
                " tls={} {}{}{}{}",
                t.handshake_ns.map_or("?".into(), human_ns),
                t.version.unwrap_or("?"),
                t.alpn
                    .as_ref()
                    .map_or(String::new(), |a| format!(" alpn={a}")),
                if t.resumed { " resumed" } else { "" },
                match t.early_data {
                    Some(true) => " 0-rtt=accepted",
                    Some(false) => " 0-rtt=rejected",
                    None => "",
                }
            )),
            Some((kind, cause)) => line.push_str(&format!(" tls={kind} — {cause}")),
        }
    }
    if let Some(d) = probe.and_then(|p| p.tls.as_ref()).and_then(|t| t.days_left) {
        line.push_str(&format!(" cert={d}d"));
    }
    if let Some(f) = probe.and_then(|p| p.first_response_ns) {
        line.push_str(&format!(" first_byte={}", human_ns(f)));
    }
    if let Some(c) = probe.and_then(|p| p.cause.as_ref()) {
        line.push_str(" — ");
        line.push_str(c);
    }
    line
}

/// One raw SYN probe as a line (`--syn` without a record format): what
/// answered, when (or how long it waited), the SYN-ACK's options.
pub fn syn_line(
    addr: &SocketAddr,
    round: u32,
    r: &synack_probe::syn::SynReplies,
    rec: &synack_core::Handshake,
    wait: std::time::Duration,
) -> String {
    // No answer has no time: say how long it waited.
    let time = match r.first_answer() {
        Some(_) => format!("time={}", human_ns(rec.times.last - rec.times.first)),
        None => format!("after {}", human_ns(wait.as_nanos() as i64)),
    };
    let mut line = format!("{addr} seq={round} {} {time}", r.label());
    if let Some((_, o)) = r.synack {
        line.push_str(&format!(" {}", crate::options(&o)));
        if r.synacks > 1 {
            line.push_str(&format!(" synacks={}", r.synacks));
        }
    }
    if let Some((_, ty, code, from)) = r.icmp {
        line.push_str(&format!(
            " {}",
            synack_core::cause::icmp_words(from.is_ipv6(), ty, code, Some(from))
        ));
    }
    line
}

/// The summary of one target: `name` as the user wrote it, `addr` the
/// address probed, `dns_ns` the lookup's time.
pub fn summary(
    out: &mut impl Write,
    name: &str,
    addr: SocketAddr,
    dns_ns: Option<i64>,
    stats: &TargetStats,
) -> io::Result<()> {
    {
        writeln!(out, "\n--- {name} ({addr}) ---")?;
        let causes: Vec<String> = stats
            .causes
            .iter()
            .map(|(k, v)| format!("{k} {v}"))
            .collect();
        if stats.sent == 0 {
            writeln!(out, "no attempt finished (stopped first)")?;
            return Ok(());
        }
        writeln!(
            out,
            "{}: {}",
            crate::count(stats.sent, "attempt", "attempts"),
            causes.join(", ")
        )?;
        if let Some(dns) = dns_ns {
            writeln!(out, "name resolution {}", human_ns(dns))?;
        }
        let h = &stats.handshakes;
        let ns = |v: Option<u64>| human_ns(v.unwrap_or(0) as i64);
        if h.is_empty() {
            return Ok(());
        }
        writeln!(
            out,
            "handshake min/p50/p90/p99/max/mdev = {} / {} / {} / {} / {} / {}",
            ns(h.min()),
            ns(h.quantile(0.5)),
            ns(h.quantile(0.9)),
            ns(h.quantile(0.99)),
            ns(h.max()),
            ns(h.mean_deviation())
        )?;
        histogram(out, h)?;
        for (what, t) in [("full", &stats.tls_full), ("resumed", &stats.tls_resumed)] {
            if !t.is_empty() {
                writeln!(
                    out,
                    "TLS handshake, {what} ({}): min/p50/max = {} / {} / {}",
                    t.len(),
                    ns(t.min()),
                    ns(t.quantile(0.5)),
                    ns(t.max())
                )?;
            }
        }
        if !stats.tls_failures.is_empty() {
            let failed: Vec<String> = stats
                .tls_failures
                .iter()
                .map(|(k, v)| format!("{k} {v}"))
                .collect();
            writeln!(out, "TLS failures: {}", failed.join(", "))?;
        }
        for (cure, taken, with, without) in [
            (
                "TCP Fast Open",
                "with data in the SYN",
                &stats.tfo_with_data,
                &stats.tfo_without_data,
            ),
            (
                "TLS 0-RTT",
                "with the request in early data",
                &stats.early_data_taken,
                &stats.early_data_not_taken,
            ),
        ] {
            if let (Some(fast), Some(slow)) = (with.quantile(0.5), without.quantile(0.5)) {
                writeln!(
                    out,
                    "{cure}: first answer byte p50 {} {taken} vs {} without: saves {} per request",
                    human_ns(fast as i64),
                    human_ns(slow as i64),
                    human_ns(slow as i64 - fast as i64)
                )?;
            }
        }
    }
    Ok(())
}

/// Up to 8 equal-width bins between min and max, as bars.
fn histogram(out: &mut impl Write, times: &synack_core::stats::Latencies) -> io::Result<()> {
    for (label, count, bar) in histogram_rows(times) {
        writeln!(out, "  {label:>10} {bar} {count}")?;
    }
    Ok(())
}

/// Up to 8 bins as (lower edge, count, bar); bins whose edges print the
/// same are merged, so that no label is shown twice.
fn histogram_rows(times: &synack_core::stats::Latencies) -> Vec<(String, u64, String)> {
    let mut rows: Vec<(String, u64)> = Vec::new();
    for (from, count) in times.bins(8) {
        let label = human_ns(from as i64);
        match rows.last_mut() {
            Some((last, n)) if *last == label => *n += count,
            _ => rows.push((label, count)),
        }
    }
    let most = rows.iter().map(|r| r.1).max().unwrap_or(1).max(1);
    rows.into_iter()
        .map(|(label, count)| {
            let bar = "█".repeat((count * 40).div_ceil(most) as usize);
            (label, count, bar)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Regression: bins narrower than the labels' precision printed the
    /// same label twice.
    #[test]
    fn histogram_labels_are_never_repeated() {
        let mut t = synack_core::stats::Latencies::default();
        for ns in [24_100u64, 24_300, 24_500, 24_700, 24_900, 25_100, 31_000] {
            t.record(ns);
        }
        let rows = histogram_rows(&t);
        let labels: Vec<&String> = rows.iter().map(|r| &r.0).collect();
        let mut unique = labels.clone();
        unique.dedup();
        assert_eq!(labels, unique, "{rows:?}");
        assert_eq!(rows.iter().map(|r| r.1).sum::<u64>(), 7);
    }
}
