//! `--flow`: one connection as a packet-by-packet ladder. A first pass
//! finds the record (by client `IP:PORT` or by index); a second pass prints
//! the packets of its 4-tuple and VLAN between its first and last packet.

use crate::cli::AnalyzeArgs;
use crate::inputs;
use anyhow::{Result, bail};
use std::io::{BufWriter, Write};
use std::net::SocketAddr;
use std::process::ExitCode;
use synack_capture::pipeline;
use synack_core::Handshake;
use synack_render::ladder;
use synack_wire::decode;

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
    let filter = args.filter.filter();
    let mut seen = 0usize;
    let mut found: Option<Handshake> = None;
    let mut terminal = inputs::Terminal::new(!args.no_progress);
    let (report, _) = pipeline::analyze(
        &args.files,
        inputs::tracker_config(args)?,
        &mut terminal,
        |h| {
            if filter.matches(&h) {
                seen += 1;
                let hit = match &selector {
                    Selector::Client(c) => h.client == *c,
                    Selector::Index(n) => seen == *n,
                };
                if hit {
                    found = Some(h);
                }
            }
            found.is_none()
        },
    );
    let Some(h) = found else {
        if report.unreadable || report.damaged {
            return Ok(inputs::exit_code(&report));
        }
        bail!(
            "no connection matches --flow (run without --flow to list them, or with --format csv)"
        );
    };
    let mut out = BufWriter::new(std::io::stdout().lock());
    writeln!(out, "{}", ladder::header(&h))?;
    let mut write_error = None;
    // The second pass prints; its problems were told in the first.
    let mut quiet = pipeline::Problems::default();
    pipeline::for_each_packet(&args.files, &mut quiet, |p| {
        if p.ts_ns < h.times.first || p.ts_ns > h.times.last {
            return true;
        }
        let Some(line) = decode(p.link, p.data)
            .ok()
            .and_then(|d| ladder::line(&h, p.ts_ns, d))
        else {
            return true;
        };
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
    Ok(inputs::exit_code(&report))
}
