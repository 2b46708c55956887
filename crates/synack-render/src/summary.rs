//! The default output for people: a one-screen summary of the attempts,
//! handshake RTT per server endpoint, retransmissions, the slowest and the
//! failed attempts, the options seen, and what the input held besides.

use super::{Run, Sink, human_ns};
use std::io::{self, Write};
use synack_capture::pipeline::InputReport;
use synack_core::summary::{EndpointStats, Summary};
use synack_core::{Handshake, Outcome, TrackerStats};

pub struct SummarySink<W: Write> {
    out: W,
    summary: Summary,
}

impl<W: Write> SummarySink<W> {
    pub fn new(out: W) -> Self {
        SummarySink {
            out,
            summary: Summary::default(),
        }
    }
}

fn pct(n: u64, of: u64) -> String {
    if of == 0 {
        "-".into()
    } else {
        format!("{:.0}%", 100.0 * n as f64 / of as f64)
    }
}

/// "MSS 100% · SACK 100% · timestamps 100% · window scale 100%" of `of`
/// packets.
fn shares(of: u64, [mss, sack, timestamps, wscale]: [u64; 4]) -> String {
    format!(
        "MSS {} · SACK {} · timestamps {} · window scale {}",
        pct(mss, of),
        pct(sack, of),
        pct(timestamps, of),
        pct(wscale, of)
    )
}

/// "2nd", "3rd", "11th".
fn ordinal(n: u32) -> String {
    let suffix = match (n % 10, n % 100) {
        (_, 11..=13) => "th",
        (1, _) => "st",
        (2, _) => "nd",
        (3, _) => "rd",
        _ => "th",
    };
    format!("{n}{suffix}")
}

fn rtt_cells(e: &EndpointStats) -> String {
    match e.percentiles() {
        Some(p) => p
            .iter()
            .map(|ns| format!(" {:>10}", human_ns(*ns as i64)))
            .collect::<Vec<_>>()
            .join(""),
        None => format!(" {:>43}", "no completed handshake"),
    }
}

/// Why an attempt failed, in words.
pub(crate) fn cause(h: &Handshake) -> String {
    let after = human_ns(h.elapsed_ns());
    match h.outcome {
        Outcome::Refused => format!(
            "RST from the server after {after}{} (nothing listening, or a firewall rejecting)",
            if h.syn_count > 1 {
                format!(", to the {} SYN", ordinal(h.syn_count))
            } else {
                String::new()
            }
        ),
        Outcome::Unreachable => match h.icmp {
            Some(i) => format!("{} after {after}", i.words()),
            None => format!("ICMP error after {after}"),
        },
        Outcome::Timeout => {
            let gave_up = match h.rst_from {
                Some(_) => ", then the client reset",
                None => "",
            };
            format!(
                "{}, no answer over {after}{gave_up} (dropped by a firewall, or host down)",
                crate::count(u64::from(h.syn_count), "SYN", "SYNs")
            )
        }
        Outcome::HalfOpen => {
            format!(
                "SYN-ACK x{} but no final ACK (client gone, or its ACK lost)",
                h.synack_count
            )
        }
        Outcome::Reset => format!(
            "RST from the {} after the SYN-ACK, before the handshake completed",
            h.rst_from.map(|s| s.as_str()).unwrap_or("?")
        ),
        _ => String::new(),
    }
}

const RTT_AT_CAPTURE: &str =
    "RTT = first SYN answered → SYN-ACK → ACK, as seen at the capture point (Wireshark's iRTT)";
const RTT_IN_KERNEL: &str = "RTT = the kernel's first sample: SYN → SYN-ACK where this host connected, SYN-ACK → ACK where it accepted";

/// Attempts, RTT per server, the slowest and failed attempts, options:
/// what every source's summary has.
fn body<W: Write>(o: &mut W, s: &Summary, rtt_note: &str) -> io::Result<()> {
    let attempts = s.attempts - s.count(Outcome::Midstream);
    let parts: Vec<String> = Outcome::ALL
        .iter()
        .filter(|x| **x != Outcome::Midstream && s.count(**x) > 0)
        .map(|x| format!("{} {}", x.as_str(), s.count(*x)))
        .collect();
    writeln!(o, "Handshake attempts  {attempts}   {}", parts.join(" · "))?;
    if s.count(Outcome::Midstream) > 0 {
        writeln!(
            o,
            "Mid-stream flows    {}   (first seen after their handshake)",
            s.count(Outcome::Midstream)
        )?;
    }
    writeln!(
        o,
        "SYN retransmissions {}   in {} attempts ({})",
        s.syn_retransmissions,
        s.attempts_with_retransmissions,
        pct(s.attempts_with_retransmissions, attempts)
    )?;
    if s.simultaneous_opens > 0 {
        writeln!(o, "Simultaneous opens  {}", s.simultaneous_opens)?;
    }
    writeln!(o)?;
    writeln!(
        o,
        "{:<40} {:>9} {:>9} {:>9} {:>10} {:>10} {:>10} {:>10}",
        "Handshake RTT by server", "attempts", "estab", "failed", "p50", "p90", "p99", "max"
    )?;
    let row = |o: &mut W, name: &str, e: &EndpointStats| {
        writeln!(
            o,
            "{:<40} {:>9} {:>9} {:>9}{}",
            name,
            e.attempts,
            e.established,
            e.failed,
            rtt_cells(e)
        )
    };
    const ROWS: usize = 10;
    for (addr, e) in s.busiest_endpoints(ROWS) {
        row(o, &addr.to_string(), e)?;
    }
    if s.endpoints.len() > ROWS {
        writeln!(o, "  … {} more server endpoints", s.endpoints.len() - ROWS)?;
    }
    if s.other_endpoints.attempts > 0 {
        row(o, "(endpoints beyond the table)", &s.other_endpoints)?;
    }
    if s.endpoints.len() > 1 {
        row(o, "all", &s.all)?;
    }
    writeln!(o, "  {rtt_note}")?;

    if !s.slowest.is_empty() {
        writeln!(o)?;
        writeln!(o, "Slowest handshakes (first SYN to completing ACK)")?;
        for h in &s.slowest {
            let rtx = if h.syn_count > 1 {
                format!(", {} SYNs", h.syn_count)
            } else {
                String::new()
            };
            writeln!(
                o,
                "  {:>10}  {} → {}  (rtt {}{rtx})",
                human_ns(h.setup_ns.unwrap_or(0)),
                h.client,
                h.server,
                h.total_ns.map(human_ns).unwrap_or_else(|| "-".into())
            )?;
        }
    }
    if !s.failed.is_empty() {
        writeln!(o)?;
        let failures: u64 = Outcome::ALL
            .iter()
            .filter(|x| x.is_failure())
            .map(|x| s.count(*x))
            .sum();
        writeln!(
            o,
            "Failed attempts ({failures}; the first {} shown)",
            s.failed.len()
        )?;
        for h in &s.failed {
            writeln!(
                o,
                "  {:<11} {} → {}  {}",
                h.outcome.as_str(),
                h.client,
                h.server,
                cause(h)
            )?;
        }
    }

    if s.foreign_rsts > 0 {
        writeln!(o)?;
        writeln!(
            o,
            "RSTs unlike the server's own ({}): their TTL differs from its SYN-ACK's by more than {} hops, so a middlebox sent them, or someone injected them",
            s.foreign_rsts,
            synack_core::handshake::RST_TTL_SLACK
        )?;
        for h in &s.foreign_rst_examples {
            writeln!(
                o,
                "  {} → {}  SYN-ACK TTL {}, RST TTL {}",
                h.client,
                h.server,
                h.server_ttl.unwrap_or(0),
                h.rst_ttl.unwrap_or(0)
            )?;
        }
    }

    let p = &s.options;
    if p.syns > 0 {
        writeln!(o)?;
        writeln!(
            o,
            "Options on {} SYNs: {}{}{}",
            p.syns,
            shares(p.syns, [p.mss, p.sack, p.timestamps, p.wscale]),
            if p.mptcp > 0 {
                format!(" · MPTCP {}", p.mptcp)
            } else {
                String::new()
            },
            if p.unknown_kinds > 0 {
                format!(" · other kinds {}", p.unknown_kinds)
            } else {
                String::new()
            },
        )?;
        if p.synacks > 0 {
            writeln!(
                o,
                "Options on {} SYN-ACKs: {}",
                p.synacks,
                shares(
                    p.synacks,
                    [
                        p.synack_mss,
                        p.synack_sack,
                        p.synack_timestamps,
                        p.synack_wscale
                    ]
                )
            )?;
        }
        if p.tfo_cookie_request + p.tfo_cookie + p.tfo_data > 0 {
            writeln!(
                o,
                "TCP Fast Open: {}, {} with a cookie, {} with data, {} granted",
                crate::count(p.tfo_cookie_request, "cookie request", "cookie requests"),
                crate::count(p.tfo_cookie, "SYN", "SYNs"),
                p.tfo_data,
                crate::count(p.synack_tfo_cookie, "cookie", "cookies")
            )?;
        }
        if p.ecn_requested > 0 {
            writeln!(
                o,
                "ECN: requested on {} ({} Accurate ECN), negotiated on {}",
                crate::count(p.ecn_requested, "SYN", "SYNs"),
                p.accecn,
                p.ecn_negotiated
            )?;
        }
        if p.retransmit_changed_options > 0 {
            writeln!(
                o,
                "Retransmitted SYNs with different options: {}",
                p.retransmit_changed_options
            )?;
        }
    }
    Ok(())
}

impl<W: Write> Sink for SummarySink<W> {
    fn record(&mut self, h: &Handshake) -> io::Result<()> {
        self.summary.add(h);
        Ok(())
    }

    fn finish(&mut self, run: &Run<'_>) -> io::Result<()> {
        let s = &self.summary;
        let o = &mut self.out;
        let live_report;
        let (names, report, t): (Vec<String>, &InputReport, &TrackerStats) = match run {
            Run::Files {
                files,
                report,
                tracker,
            } => (
                files.iter().map(|p| p.display().to_string()).collect(),
                report,
                tracker,
            ),
            Run::Live {
                interface,
                frames,
                tracker,
            } => {
                live_report = InputReport {
                    packets: *frames,
                    ..InputReport::default()
                };
                (vec![interface.to_string()], &live_report, tracker)
            }
            Run::Probe => return o.flush(),
            Run::Trace { tally } => {
                writeln!(
                    o,
                    "kernel tracepoints: {} events read, {} lost{}",
                    tally.events,
                    tally.lost,
                    if tally.lost > 0 {
                        " (the ring buffer was full: attempts are missing)"
                    } else {
                        ""
                    }
                )?;
                writeln!(o)?;
                body(o, s, RTT_IN_KERNEL)?;
                crate::trace::summary(o, tally)?;
                return o.flush();
            }
        };
        let span = match (s.first_ts, s.last_ts) {
            (Some(a), Some(b)) => format!("; the attempts reported span {}", human_ns(b - a)),
            _ => String::new(),
        };
        let decompressed = if report.compressed.is_empty() {
            String::new()
        } else {
            format!(" (from {})", report.compressed.join(" and "))
        };
        writeln!(
            o,
            "{}: {} packets read, {:.1} MB{decompressed}{span}",
            names.join(", "),
            report.packets,
            report.bytes as f64 / 1e6
        )?;
        writeln!(o)?;
        body(o, s, RTT_AT_CAPTURE)?;

        let mut notes = Vec::new();
        if !t.skipped.is_empty() {
            let reasons: Vec<String> = t.skipped.iter().map(|(k, v)| format!("{k}: {v}")).collect();
            notes.push(format!("packets skipped: {}", reasons.join(", ")));
        }
        if !t.tunneled.is_empty() {
            let kinds: Vec<String> = t
                .tunneled
                .iter()
                .map(|(k, v)| format!("{k}: {v}"))
                .collect();
            notes.push(format!("packets through tunnels: {}", kinds.join(", ")));
        }
        if t.icmp_errors > 0 {
            notes.push(format!(
                "ICMP errors about TCP: {} ({} for unknown flows)",
                t.icmp_errors, t.icmp_unmatched
            ));
        }
        if t.evictions > 0 {
            notes.push(format!(
                "flows evicted when the table was full: {} (raise --max-flows)",
                t.evictions
            ));
        }
        if t.after_record > 0 {
            notes.push(format!(
                "packets of connections already written (resumed after the idle timeout, late FINs), not made into new records: {}",
                t.after_record
            ));
        }
        if t.stray_syns > 0 {
            notes.push(format!(
                "SYNs with another ISN on an open connection's 4-tuple, kept as attempts of their own: {}",
                t.stray_syns
            ));
        }
        if t.out_of_window_rsts > 0 {
            notes.push(format!(
                "RSTs outside the receiver's window, which close nothing (RFC 5961): {}",
                t.out_of_window_rsts
            ));
        }
        if t.bad_checksums > 0 {
            notes.push(format!("bad TCP checksums ignored: {}", t.bad_checksums));
        }
        // What the input held besides: said only when it happened.
        for (count, what) in [
            (report.backwards_timestamps, "timestamps going backwards"),
            (
                report.over_snaplen,
                "records longer than the file's snaplen",
            ),
            (
                report.captured_over_wire,
                "records capturing more bytes than were on the wire",
            ),
            (
                report.skipped_blocks,
                "pcapng blocks without packets (statistics, names, custom)",
            ),
        ] {
            if count > 0 {
                notes.push(format!("{what}: {count}"));
            }
        }
        notes.push(format!("peak flows tracked: {}", t.peak_flows));
        writeln!(o)?;
        writeln!(o, "Input: {}", notes.join(" · "))?;
        o.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use synack_core::{Tracker, TrackerConfig};
    use synack_wire::emit::{TcpSegmentSpec, ethernet_tcp};
    use synack_wire::{LinkType, TcpFlags};

    /// Regression: a refused attempt after a retransmitted SYN did not say
    /// which SYN the RST answered.
    #[test]
    fn a_refused_attempt_after_a_retransmitted_syn_says_so() {
        let (c, s) = (
            "10.0.0.1:40000".parse().unwrap(),
            "10.0.0.2:80".parse().unwrap(),
        );
        let mut tracker = Tracker::new(TrackerConfig::default());
        let mut out = Vec::new();
        for (at_ms, from, to, seq, ack, flags) in [
            (0, c, s, 7, 0, TcpFlags::SYN),
            (1000, c, s, 7, 0, TcpFlags::SYN),
            (1001, s, c, 0, 8, TcpFlags::RST | TcpFlags::ACK),
        ] {
            let mut frame = Vec::new();
            ethernet_tcp(&mut frame, &TcpSegmentSpec::new(from, to, seq, ack, flags));
            tracker.handle_frame(at_ms * 1_000_000, LinkType::ETHERNET, &frame, &mut out);
        }
        tracker.finish(&mut out);
        assert_eq!(out[0].outcome, Outcome::Refused);
        let said = cause(&out[0]);
        assert!(said.contains("to the 2nd SYN"), "{said}");
    }

    /// Issue 12, class 10: the summary names RSTs whose TTL is not the
    /// server's (nmap's long-open request: who really sent this RST?).
    #[test]
    fn resets_with_another_ttl_than_the_servers_are_named() {
        let (c, s) = (
            "10.0.0.1:40000".parse().unwrap(),
            "10.0.0.2:80".parse().unwrap(),
        );
        let mut tracker = Tracker::new(TrackerConfig::default());
        let mut out = Vec::new();
        for (at_ms, from, to, seq, ack, flags, ttl) in [
            (0, c, s, 7, 0, TcpFlags::SYN, 64),
            (1, s, c, 100, 8, TcpFlags::SYN | TcpFlags::ACK, 57),
            (2, s, c, 101, 8, TcpFlags::RST | TcpFlags::ACK, 250),
        ] {
            let mut frame = Vec::new();
            let spec = TcpSegmentSpec {
                ttl,
                ..TcpSegmentSpec::new(from, to, seq, ack, flags)
            };
            ethernet_tcp(&mut frame, &spec);
            tracker.handle_frame(at_ms * 1_000_000, LinkType::ETHERNET, &frame, &mut out);
        }
        tracker.finish(&mut out);
        let mut sink = SummarySink::new(Vec::new());
        for h in &out {
            sink.record(h).unwrap();
        }
        let report = InputReport::default();
        let run = Run::Files {
            files: &[],
            report: &report,
            tracker: tracker.stats(),
        };
        sink.finish(&run).unwrap();
        let text = String::from_utf8(sink.out).unwrap();
        assert!(text.contains("RSTs unlike the server's own (1)"), "{text}");
        assert!(text.contains("SYN-ACK TTL 57, RST TTL 250"), "{text}");
    }

    #[test]
    fn ordinals() {
        let got: Vec<String> = [1, 2, 3, 4, 11, 12, 13, 21, 22].map(ordinal).to_vec();
        assert_eq!(
            got,
            [
                "1st", "2nd", "3rd", "4th", "11th", "12th", "13th", "21st", "22nd"
            ]
        );
    }
}
