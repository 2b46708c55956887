//! `--flow`: one connection as a packet-by-packet ladder. A first pass
//! finds the record (by client `IP:PORT` or by index); a second pass prints
//! the packets of its 4-tuple and VLAN between its first and last packet.

use crate::analyze::{exit_code, tracker_config};
use crate::cli::AnalyzeArgs;
use crate::filter::Filter;
use crate::input;
use crate::output::human_ns;
use anyhow::{Result, bail};
use std::fmt::Write as _;
use std::io::{BufWriter, Write};
use std::net::SocketAddr;
use std::process::ExitCode;
use synack_core::{Handshake, Tracker, time};
use synack_wire::{Decoded, decode};

enum Selector {
    Client(SocketAddr),
    Index(usize),
}

fn parse_selector(s: &str) -> Result<Selector> {
    if let Ok(n) = s.parse::<usize>() {
        if n == 0 {
            bail!("--flow counts records from 1");
        }
        return Ok(Selector::Index(n));
    }
    match s.parse::<SocketAddr>() {
        Ok(a) => Ok(Selector::Client(a)),
        Err(_) => bail!(
            "--flow wants a client IP:PORT (e.g. 10.0.0.5:51234 or [::1]:40000) or a record number, not {s:?}"
        ),
    }
}

pub fn run(args: &AnalyzeArgs, selector: &str) -> Result<ExitCode> {
    let selector = parse_selector(selector)?;
    if args.files.iter().any(|f| f.as_os_str() == "-") {
        bail!("--flow reads the input twice, so it needs files, not standard input");
    }
    let filter = Filter::from_args(args);
    let mut tracker = Tracker::new(tracker_config(args));
    let mut records = Vec::new();
    let mut seen = 0usize;
    let mut found: Option<Handshake> = None;
    let mut pick = |records: &mut Vec<Handshake>, found: &mut Option<Handshake>| {
        for h in records.drain(..) {
            if found.is_some() || !filter.matches(&h) {
                continue;
            }
            seen += 1;
            let hit = match &selector {
                Selector::Client(c) => h.client == *c,
                Selector::Index(n) => seen == *n,
            };
            if hit {
                *found = Some(h);
            }
        }
    };
    let report = input::for_each_packet(&args.files, !args.no_progress, |p| {
        tracker.handle_frame(p.ts_ns, p.link, p.data, &mut records);
        pick(&mut records, &mut found);
        true
    });
    tracker.finish(&mut records);
    pick(&mut records, &mut found);
    let Some(h) = found else {
        bail!(
            "no connection matches --flow (run without --flow to list them, or with --format csv)"
        );
    };

    let mut out = BufWriter::new(std::io::stdout().lock());
    writeln!(
        out,
        "{} → {}  {}  {}  history {}  (first SYN {})",
        h.client,
        h.server,
        h.outcome.as_str(),
        h.conn_state.as_str(),
        h.history,
        time::rfc3339(h.ts_ns)
    )?;
    if let (Some(a), Some(b), Some(t)) = (h.syn_synack_ns, h.synack_ack_ns, h.total_ns) {
        writeln!(
            out,
            "rtt: SYN→SYN-ACK {}, SYN-ACK→ACK {}, total {}",
            human_ns(a),
            human_ns(b),
            human_ns(t)
        )?;
    }
    writeln!(
        out,
        "{:>12}  {:^9}  {:<10} {:>10} {:>10} {:>6}  options",
        "time", "", "flags", "seq", "ack", "len"
    )?;
    let (start, end) = (h.times.first, h.times.last);
    let (cisn, sisn) = (h.client_isn.unwrap_or(0), h.server_isn.unwrap_or(0));
    let mut lines = 0u64;
    let mut write_error = None;
    input::for_each_packet(&args.files, false, |p| {
        if p.ts_ns < start || p.ts_ns > end {
            return true;
        }
        let Ok(d) = decode(p.link, p.data) else {
            return true;
        };
        let line = match d {
            Decoded::Tcp(seg) => {
                let src = SocketAddr::new(seg.ip.src, seg.tcp.src_port());
                let dst = SocketAddr::new(seg.ip.dst, seg.tcp.dst_port());
                if seg.vlan != h.vlan
                    || !((src == h.client && dst == h.server)
                        || (src == h.server && dst == h.client))
                {
                    return true;
                }
                let from_client = src == h.client;
                let arrow = if from_client {
                    "  ───────▶"
                } else {
                    "  ◀───────"
                };
                // Sequence numbers relative to each side's ISN, as Wireshark shows them.
                let (own, peer) = if from_client {
                    (cisn, sisn)
                } else {
                    (sisn, cisn)
                };
                let t = &seg.tcp;
                let ack = if t.flags().ack() {
                    t.ack().wrapping_sub(peer).to_string()
                } else {
                    "-".into()
                };
                let mut opts = String::new();
                let o = t.options();
                if let Some(m) = o.mss {
                    let _ = write!(opts, "mss {m} ");
                }
                if let Some(w) = o.wscale {
                    let _ = write!(opts, "ws {w} ");
                }
                if o.sack_permitted {
                    opts.push_str("sackOK ");
                }
                if let Some((v, e)) = o.timestamps {
                    let _ = write!(opts, "ts {v}/{e} ");
                }
                if let Some(tfo) = o.tfo {
                    if tfo.is_request() {
                        opts.push_str("tfo-request ");
                    } else {
                        let _ = write!(
                            opts,
                            "tfo-cookie {} ",
                            synack_core::handshake::hex(tfo.cookie())
                        );
                    }
                }
                if seg.ip.ecn != 0 {
                    let _ = write!(opts, "ip-ecn {} ", seg.ip.ecn);
                }
                format!(
                    "{:>12}  {arrow}  {:<10} {:>10} {:>10} {:>6}  {}",
                    human_ns(p.ts_ns - start),
                    t.flags().to_string(),
                    t.seq().wrapping_sub(own),
                    ack,
                    seg.payload_len,
                    opts.trim_end()
                )
            }
            Decoded::Icmp { vlan, error } => {
                let quoted = SocketAddr::new(error.src, error.src_port);
                if vlan != h.vlan
                    || quoted != h.client
                    || SocketAddr::new(error.dst, error.dst_port) != h.server
                {
                    return true;
                }
                format!(
                    "{:>12}    ◀╌╌╌╌╌╌╌  {}",
                    human_ns(p.ts_ns - start),
                    synack_core::cause::icmp_words(
                        error.from.is_ipv6(),
                        error.icmp_type,
                        error.code,
                        Some(error.from)
                    )
                )
            }
        };
        lines += 1;
        if let Err(e) = writeln!(out, "{line}") {
            write_error = Some(e);
            return false;
        }
        true
    });
    if let Some(e) = write_error {
        return Err(e.into());
    }
    out.flush()?;
    Ok(exit_code(&report))
}
