//! `synack trace`'s lines, as attempts are decided and packets dropped,
//! and its part of the summary: drops by reason and listener, SYN-ACKs
//! sent again, accept-queue waits, and events lost.

use crate::{human_ns, write_human_ns};
use std::io::{self, Write};
use std::net::SocketAddr;
use synack_core::json::write_addr;
use synack_core::{Handshake, Side, time};
use synack_trace::tally::Tally;

fn clock(ts_ns: i64) -> String {
    let mut l = Vec::with_capacity(16);
    time::write_time_of_day(&mut l, ts_ns, 6);
    String::from_utf8(l).unwrap_or_default()
}

fn push_number(l: &mut Vec<u8>, n: impl itoa::Integer) {
    l.extend_from_slice(itoa::Buffer::new().format(n).as_bytes());
}

/// One traced attempt: time, which end this host was, the ends (this
/// host's first), outcome, times, retransmissions, the process.
pub fn line(h: &Handshake) -> String {
    let mut l = Vec::with_capacity(160);
    write_line(&mut l, h);
    String::from_utf8(l).unwrap_or_default()
}

/// [`line`], appended to `l`: a busy host decides tens of thousands of
/// attempts a second, and this allocates nothing.
pub fn write_line(l: &mut Vec<u8>, h: &Handshake) {
    let Some(t) = &h.trace else {
        l.extend_from_slice(crate::live::line(h).as_bytes());
        return;
    };
    time::write_time_of_day(l, h.ts_ns, 6);
    let server = t.local_side == Some(Side::Server);
    let (this, that) = if server {
        (h.server, h.client)
    } else {
        (h.client, h.server)
    };
    l.extend_from_slice(if server { b" server " } else { b" client " });
    write_addr(l, &this);
    l.extend_from_slice(if server { b" < " } else { b" > " });
    write_addr(l, &that);
    l.push(b' ');
    l.extend_from_slice(h.outcome.as_str().as_bytes());
    if !server {
        l.extend_from_slice(b" time=");
        write_human_ns(l, h.times.last - h.ts_ns);
    }
    if let Some(rtt) = h.total_ns {
        l.extend_from_slice(b" rtt=");
        write_human_ns(l, rtt);
    }
    if server {
        l.extend_from_slice(b" synack_retransmits=");
        push_number(l, h.synack_count.saturating_sub(1));
        l.extend_from_slice(b" accept_wait=");
        match t.accept_wait_ns {
            Some(w) => write_human_ns(l, w),
            None => l.extend_from_slice(b"- (not accepted)"),
        }
    } else {
        l.extend_from_slice(b" syn_retransmits=");
        push_number(l, h.syn_count.saturating_sub(1));
    }
    if let Some(i) = h.icmp {
        l.extend_from_slice(b" (");
        l.extend_from_slice(i.words().as_bytes());
        l.push(b')');
    }
    if let Some((_, name)) = t.error {
        l.extend_from_slice(b" error=");
        l.extend_from_slice(name.as_bytes());
    }
    if let Some(pid) = t.pid {
        l.extend_from_slice(b" pid=");
        push_number(l, pid);
    }
    if let Some(comm) = &t.comm {
        l.extend_from_slice(b" comm=");
        l.extend_from_slice(comm.as_bytes());
    }
    if let Some(cgroup) = &t.cgroup {
        l.extend_from_slice(b" cgroup=");
        l.extend_from_slice(cgroup.as_bytes());
    }
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

#[cfg(test)]
mod tests {
    use super::*;
    use synack_core::{Outcome, Source, TraceInfo};

    /// The formatting `line` replaced, for comparison.
    fn by_format(h: &Handshake) -> String {
        let t = h.trace.as_deref().unwrap();
        let rtt = h
            .total_ns
            .map(|r| format!(" rtt={}", human_ns(r)))
            .unwrap_or_default();
        let mut l = match t.local_side {
            Some(Side::Server) => format!(
                "{} server {} < {} {}{rtt} synack_retransmits={} accept_wait={}",
                &time::rfc3339(h.ts_ns)[11..26],
                h.server,
                h.client,
                h.outcome.as_str(),
                h.synack_count.saturating_sub(1),
                t.accept_wait_ns
                    .map_or_else(|| "- (not accepted)".to_string(), human_ns)
            ),
            _ => format!(
                "{} client {} > {} {} time={}{rtt} syn_retransmits={}",
                &time::rfc3339(h.ts_ns)[11..26],
                h.client,
                h.server,
                h.outcome.as_str(),
                human_ns(h.times.last - h.ts_ns),
                h.syn_count.saturating_sub(1),
            ),
        };
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

    #[test]
    fn trace_lines_read_as_they_did_when_formatted_field_by_field() {
        let ts = 1_764_000_000_123_456_789;
        let mut client = Handshake::observed(
            ts,
            Source::Ebpf,
            "10.0.0.1:40000".parse().unwrap(),
            "192.168.100.254:443".parse().unwrap(),
            Outcome::Established,
        );
        client.times.last = ts + 1_234_567;
        client.total_ns = Some(987_000);
        client.syn_count = 3;
        client.trace = Some(Box::new(TraceInfo {
            local_side: Some(Side::Client),
            pid: Some(4242),
            comm: Some("curl".into()),
            cgroup: Some("/system.slice/x.service".into()),
            ..TraceInfo::default()
        }));
        let mut server = Handshake::observed(
            ts,
            Source::Ebpf,
            "[2001:db8::1]:51000".parse().unwrap(),
            "[2001:db8::2]:80".parse().unwrap(),
            Outcome::Refused,
        );
        server.synack_count = 2;
        server.trace = Some(Box::new(TraceInfo {
            local_side: Some(Side::Server),
            error: Some((111, "ECONNREFUSED")),
            ..TraceInfo::default()
        }));
        for h in [&client, &server] {
            assert_eq!(line(h), by_format(h));
        }
        server.trace.as_mut().unwrap().accept_wait_ns = Some(150_000_000);
        assert_eq!(line(&server), by_format(&server));
        assert!(line(&client).contains(" client 10.0.0.1:40000 > 192.168.100.254:443 "));
    }
}
