//! `synack trace`'s lines, as attempts are decided and packets dropped,
//! and its part of the summary: drops by reason and listener, SYN-ACKs
//! sent again, accept-queue waits, and events lost.

use crate::human_ns;
use std::io::{self, Write};
use std::net::SocketAddr;
use synack_core::{Handshake, Side, time};
use synack_trace::tally::Tally;

fn clock(ts_ns: i64) -> String {
    time::rfc3339(ts_ns)[11..26].to_string()
}

/// One traced attempt: time, which end this host was, the ends (this
/// host's first), outcome, times, retransmissions, the process.
pub fn line(h: &Handshake) -> String {
    let Some(t) = &h.trace else {
        return crate::live::line(h);
    };
    let rtt = h
        .total_ns
        .map(|r| format!(" rtt={}", human_ns(r)))
        .unwrap_or_default();
    let mut l = match t.local_side {
        Some(Side::Server) => format!(
            "{} server {} < {} {}{rtt} synack_retransmits={} accept_wait={}",
            clock(h.ts_ns),
            h.server,
            h.client,
            h.outcome.as_str(),
            h.synack_count.saturating_sub(1),
            t.accept_wait_ns
                .map_or_else(|| "- (not accepted)".to_string(), human_ns)
        ),
        _ => format!(
            "{} client {} > {} {} time={}{rtt} syn_retransmits={}",
            clock(h.ts_ns),
            h.client,
            h.server,
            h.outcome.as_str(),
            human_ns(h.times.last - h.ts_ns),
            h.syn_count.saturating_sub(1),
        ),
    };
    if let Some(i) = h.icmp {
        l.push_str(&format!(" ({})", i.words()));
    }
    if let Some((_, name)) = t.error {
        l.push_str(&format!(" error={name}"));
    }
    if let Some(pid) = t.pid {
        l.push_str(&format!(" pid={pid}"));
    }
    if let Some(comm) = &t.comm {
        l.push_str(&format!(" comm={comm}"));
    }
    if let Some(cgroup) = &t.cgroup {
        l.push_str(&format!(" cgroup={cgroup}"));
    }
    l
}

/// A handshake packet the kernel dropped: `from` sent it to `to`.
pub fn drop_line(
    ts_ns: i64,
    packet: &str,
    from: SocketAddr,
    to: SocketAddr,
    reason: &str,
) -> String {
    format!("{} drop {packet} {from} > {to}: {reason}", clock(ts_ns))
}

/// A SYN-ACK the listener sent again (its SYN-ACK or the client's ACK was
/// lost, or the client is slow).
pub fn synack_retransmit_line(ts_ns: i64, listener: SocketAddr, client: SocketAddr) -> String {
    format!("{} synack_retransmit {listener} > {client}", clock(ts_ns))
}

/// The trace's part of the summary.
pub fn summary<W: Write>(o: &mut W, t: &Tally) -> io::Result<()> {
    if t.drops_total() > 0 {
        writeln!(o)?;
        writeln!(
            o,
            "Handshake packets dropped by the kernel ({})",
            t.drops_total()
        )?;
        let mut rows: Vec<_> = t.drops.iter().collect();
        rows.sort_by(|a, b| b.1.cmp(a.1));
        for (k, n) in rows.iter().take(20) {
            writeln!(
                o,
                "  {n:>8}  {:<7} to {:<28} {}",
                k.packet,
                k.to.to_string(),
                k.reason
            )?;
        }
        if rows.len() > 20 {
            writeln!(o, "  … {} more rows", rows.len() - 20)?;
        }
        if t.drops_other > 0 {
            writeln!(o, "  {:>8}  beyond the table", t.drops_other)?;
        }
    }
    if !t.synack_retransmits.is_empty() {
        writeln!(o)?;
        writeln!(
            o,
            "SYN-ACKs sent again, by listener (the SYN-ACK or the client's ACK was lost)"
        )?;
        let mut rows: Vec<_> = t.synack_retransmits.iter().collect();
        rows.sort_by(|a, b| b.1.cmp(a.1));
        for (listener, n) in rows.iter().take(20) {
            writeln!(o, "  {n:>8}  {listener}")?;
        }
        if t.synack_retransmits_other > 0 {
            writeln!(o, "  {:>8}  beyond the table", t.synack_retransmits_other)?;
        }
    }
    if !t.accept_waits.is_empty() {
        writeln!(o)?;
        writeln!(
            o,
            "{:<40} {:>9} {:>10} {:>10} {:>10}",
            "Accept-queue wait by listener", "accepted", "p50", "p99", "max"
        )?;
        for (listener, l) in t.accept_waits.iter().take(20) {
            let q = |x: f64| human_ns(l.quantile(x).unwrap_or(0) as i64);
            writeln!(
                o,
                "{:<40} {:>9} {:>10} {:>10} {:>10}",
                listener.to_string(),
                l.len(),
                q(0.5),
                q(0.99),
                q(1.0)
            )?;
        }
        writeln!(
            o,
            "  wait = the handshake's end to accept() returning the connection"
        )?;
    }
    if t.evicted > 0 {
        writeln!(o)?;
        writeln!(
            o,
            "Attempts written early: {} (more than {} open at once)",
            t.evicted,
            synack_trace::attempts::MAX_OPEN
        )?;
    }
    Ok(())
}
