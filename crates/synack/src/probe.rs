//! `synack probe`: attempts to each target in rounds, a live line per
//! attempt (or one record per attempt), and a summary per target with
//! percentiles, mdev and a histogram.

use crate::cli::{ProbeArgs, ProbeFormat};
use crate::output::{self, RecordFormat, Run, human_ns};
use anyhow::{Result, bail};
use std::io::{BufWriter, Write};
use std::net::SocketAddr;
use std::process::ExitCode;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};
use synack_probe::engine::{self, Pace};
use synack_probe::url::HttpUrl;
use synack_probe::{AttemptConfig, Cause, record};

struct Target {
    name: String,
    addr: SocketAddr,
    dns_ns: Option<i64>,
    stats: synack_probe::TargetStats,
}

/// Resolves a target the way `synack probe` tries it: the first address
/// in Happy Eyeballs order, or all of them, and the lookup's time.
fn resolve(name: &str, v4: bool, v6: bool, all: bool) -> Result<(Vec<SocketAddr>, Option<i64>)> {
    let target: synack_probe::Target = name.parse()?;
    let family = match (v4, v6) {
        (true, _) => synack_probe::Family::V4,
        (_, true) => synack_probe::Family::V6,
        _ => synack_probe::Family::Any,
    };
    let mut resolved = synack_probe::resolve(&target, family)?;
    if !all {
        resolved.addrs.truncate(1);
    }
    Ok((resolved.addrs, resolved.lookup.map(|d| d.as_nanos() as i64)))
}

fn parse_source(s: &str) -> Result<SocketAddr> {
    if let Ok(a) = s.parse::<SocketAddr>() {
        return Ok(a);
    }
    match s.parse::<std::net::IpAddr>() {
        Ok(ip) => Ok(SocketAddr::new(ip, 0)),
        Err(_) => bail!("--source wants IP or IP:PORT, not {s:?}"),
    }
}

/// The TLS settings --reuse and --cures use for an https URL.
fn url_tls(args: &ProbeArgs, url: &HttpUrl) -> Result<Option<synack_probe::tls::TlsProbe>> {
    if !url.tls {
        return Ok(None);
    }
    synack_probe::tls::TlsProbe::new(args.sni.clone(), &[], args.insecure)
        .map(Some)
        .map_err(anyhow::Error::msg)
}

fn reuse(args: &ProbeArgs, url: &str) -> Result<ExitCode> {
    use synack_probe::reuse::{Series, measure_with};
    let n = args.count.unwrap_or(10) as usize;
    let url = HttpUrl::parse(url).map_err(anyhow::Error::msg)?;
    let tls = url_tls(args, &url)?;
    // The server failing is a measured failure (exit 1), not a usage
    // error (exit 2).
    let r = match measure_with(&url, tls.as_ref(), n, args.timeout) {
        Ok(r) => r,
        Err(e) => {
            eprintln!("synack: requests to {url} failed: {e}");
            return Ok(ExitCode::from(1));
        }
    };
    let new = &r.new_connections;
    let ka = &r.keep_alive;
    let ms = |d: Duration| human_ns(d.as_nanos() as i64);
    println!("{n} requests each way to {url}");
    println!(
        "new connection each   p50 {} (handshake p50 {} = {:.0}% of it), total {}",
        ms(Series::median(&new.requests)),
        ms(Series::median(&new.connects)),
        100.0 * r.handshake_share(),
        ms(new.total())
    );
    println!(
        "one keep-alive        p50 {}, total {}",
        ms(Series::median(&ka.requests)),
        ms(ka.total())
    );
    let saved = r.saved_per_request_ns();
    let saved_total = new.total().as_nanos() as i64 - ka.total().as_nanos() as i64;
    if saved >= 0 {
        println!(
            "keep-alive saves {} per request, {} over the {n} requests",
            human_ns(saved),
            human_ns(saved_total)
        );
    } else {
        println!(
            "keep-alive costs {} more per request, {} over the {n} requests",
            human_ns(-saved),
            human_ns(-saved_total)
        );
    }
    if r.delayed_ack_stall() {
        println!(
            "  each keep-alive request waited for a delayed ACK: the server writes a response in \
             pieces and Nagle's algorithm holds the last piece until this client acknowledges the \
             first (new connections acknowledge at once). Set TCP_NODELAY on the server's sockets, \
             or have it write each response in one piece."
        );
    }
    Ok(ExitCode::SUCCESS)
}

/// `--tls`: the settings and the server name the attempts ask for.
fn tls_config(args: &ProbeArgs) -> Result<Option<(synack_probe::tls::TlsProbe, String)>> {
    if !args.tls {
        return Ok(None);
    }
    if args.concurrency > 1 {
        bail!("--tls times each handshake one attempt at a time: leave --concurrency at 1");
    }
    let hosts: std::collections::BTreeSet<String> = args
        .targets
        .iter()
        .filter_map(|t| t.parse::<synack_probe::Target>().ok())
        .map(|t| match t.host {
            synack_probe::Host::Name(n) => n,
            synack_probe::Host::Addr(ip) => ip.to_string(),
        })
        .collect();
    let host = match (&args.sni, hosts.len()) {
        (Some(sni), _) => sni.clone(),
        (None, 1) => hosts.into_iter().next().unwrap_or_default(),
        (None, _) => bail!("--tls with several hosts: give --sni, or probe one host at a time"),
    };
    let probe = synack_probe::tls::TlsProbe::new(args.sni.clone(), &args.alpn, args.insecure)
        .map_err(anyhow::Error::msg)?;
    Ok(Some((probe, host)))
}

pub fn run(args: &ProbeArgs) -> Result<ExitCode> {
    if (args.sni.is_some() || args.insecure || !args.alpn.is_empty())
        && !(args.tls || args.cures.is_some() || args.reuse.is_some())
    {
        bail!("--sni, --alpn and --insecure go with --tls, --cures or --reuse");
    }
    if let Some(url) = &args.reuse {
        return reuse(args, url);
    }
    if let Some(url) = &args.cures {
        return cures(args, url);
    }
    let request = match &args.url {
        Some(u) => Some(synack_probe::http1::request(
            &HttpUrl::parse(u).map_err(anyhow::Error::msg)?,
            false,
        )),
        None => None,
    };
    let cfg = AttemptConfig {
        timeout: args.timeout,
        source: args.source.as_deref().map(parse_source).transpose()?,
        graceful_close: args.graceful_close,
        interface: args.interface.clone(),
        tfo_data: args
            .tfo
            .as_ref()
            .map(|d| d.replace("\\r", "\r").replace("\\n", "\n").into_bytes()),
        tls: tls_config(args)?,
        request,
    };
    let interval = args.interval;
    let deadline = args.deadline.map(|d| Instant::now() + d);
    let mut targets = Vec::new();
    for name in &args.targets {
        let (addrs, dns_ns) = resolve(name, args.ipv4, args.ipv6, args.all_addresses)?;
        for addr in addrs {
            targets.push(Target {
                name: name.clone(),
                addr,
                dns_ns,
                stats: Default::default(),
            });
        }
    }
    let stop = synack_sys::stop_on_signals();
    let mut sink = record_sink(args.format);
    let mut report = match &args.report {
        Some(path) => {
            let names: Vec<std::path::PathBuf> = args
                .targets
                .iter()
                .map(|t| std::path::PathBuf::from(format!("probes of {t}")))
                .collect();
            Some(crate::analyze::report_sink(path, &names)?)
        }
        None => None,
    };
    let n = targets.len();
    let gap = match args.rate {
        Some(r) if r > 0.0 => Duration::from_secs_f64(1.0 / r),
        Some(_) => bail!("--rate must be above 0"),
        None => interval / n as u32,
    };
    if args.syn {
        return syn_mode(args, &mut targets, interval, deadline);
    }
    if args.tfo.is_some() && args.concurrency > 1 {
        bail!("--tfo times each answer one attempt at a time: leave --concurrency at 1");
    }
    let pace = Pace {
        concurrency: args.concurrency as usize,
        gap,
        until: deadline,
        retries: args.retries,
        backoff: args.backoff,
    };
    let addrs: Vec<SocketAddr> = targets.iter().map(|t| t.addr).collect();
    let count = args.count.map_or(u64::MAX, u64::from);
    // Round-robin over the targets, `count` rounds; the tag says which.
    let mut jobs = (0..count)
        .flat_map(|round| (0..n).map(move |i| (round as usize * n + i, i)))
        .map(|(tag, i)| (tag, addrs[i]));
    let mut live = std::io::stdout();
    let mut any_failed = false;
    let mut write_error = None;
    engine::run(&mut jobs, &cfg, &pace, stop, &mut |tag, r| {
        let (t, round) = (&mut targets[tag % n], (tag / n) as u32 + 1);
        let rec = record(&r, &t.name, round, t.dns_ns);
        let established = r.cause == Cause::Established;
        t.stats
            .add(&r.cause.label(), established.then_some(r.connect));
        if let (Some(tfo), Some(resp)) = (r.tfo, r.first_response) {
            t.stats
                .add_first_answer(tfo == synack_probe::TfoResult::DataAccepted, resp);
        }
        any_failed |= !established;
        // A TLS handshake that failed is a failed attempt too.
        any_failed |= r.tls.as_ref().is_some_and(|t| t.failure.is_some());
        if let Some(tls) = &r.tls {
            t.stats.add_tls(tls);
            if let Some(resp) = r.first_response {
                t.stats
                    .add_tls_first_answer(tls.early_data == Some(true), resp);
            }
        }
        let mut written = match &mut sink {
            Some(s) => s.record(&rec),
            None => writeln!(live, "{}", synack_render::probe::live_line(&r, &rec, round)),
        };
        if let (Ok(()), Some(report)) = (&written, report.as_mut()) {
            written = report.record(&rec);
        }
        if let Err(e) = written {
            write_error.get_or_insert(e);
            stop.store(true, Ordering::SeqCst);
        }
    })?;
    if let Some(e) = write_error {
        return Err(e.into());
    }
    match &mut sink {
        Some(s) => finish_records(s.as_mut())?,
        None => summary(&mut live, &targets)?,
    }
    if let Some(report) = report.as_mut() {
        finish_records(report.as_mut())?;
    }
    // Stopped before a target's first attempt finished: nothing was
    // measured there, which is no success.
    any_failed |= targets.iter().any(|t| t.stats.sent == 0);
    Ok(if any_failed {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}

/// `--syn`: one raw SYN per target per round, sequentially, paced by -i.
fn syn_mode(
    args: &ProbeArgs,
    targets: &mut [Target],
    interval: Duration,
    deadline: Option<Instant>,
) -> Result<ExitCode> {
    let stop = synack_sys::stop_on_signals();
    let wait = args.timeout.min(Duration::from_secs(10));
    let syn_options =
        synack_probe::syn::SynOptions::parse(&args.syn_options).map_err(anyhow::Error::msg)?;
    let mut sink = record_sink(args.format);
    let mut all_open = true;
    let batch = args.rate.is_some() || interval.is_zero();
    if batch {
        // Every SYN on one pair of raw sockets, paced by --rate.
        let per_target = args.count.unwrap_or(1);
        let addrs: Vec<SocketAddr> = targets.iter().map(|t| t.addr).collect();
        let t0_ns = synack_core::time::unix_ns(std::time::SystemTime::now());
        let probes = synack_probe::syn::scan(
            &addrs,
            per_target,
            args.rate.unwrap_or(0.0),
            wait,
            &syn_options,
        )?;
        for (i, p) in probes.iter().enumerate() {
            let t = &mut targets[i % addrs.len()];
            t.stats
                .add(p.replies.label(), p.replies.synack.map(|(at, _)| at));
            all_open &= p.replies.synack.is_some();
            let rec = p.replies.record(
                t.addr,
                &t.name,
                (i / addrs.len()) as u32 + 1,
                t0_ns + p.sent_at.as_nanos() as i64,
            );
            if let Some(s) = &mut sink {
                s.record(&rec)?;
            }
        }
    }
    if !batch {
        let mut round = 0u32;
        while args.count.is_none_or(|c| round < c)
            && !stop.load(Ordering::SeqCst)
            && deadline.is_none_or(|d| Instant::now() < d)
        {
            round += 1;
            for t in targets.iter_mut() {
                let sent_ns = synack_core::time::unix_ns(std::time::SystemTime::now());
                let r = synack_probe::syn::probe(t.addr, wait, &syn_options)?;
                t.stats.add(r.label(), r.synack.map(|(at, _)| at));
                all_open &= r.synack.is_some();
                let rec = r.record(t.addr, &t.name, round, sent_ns);
                match &mut sink {
                    Some(s) => s.record(&rec)?,
                    None => {
                        let line = output::probe::syn_line(&t.addr, round, &r, &rec, wait);
                        println!("{line}");
                    }
                }
            }
            if args.count.is_some_and(|c| round >= c) {
                break;
            }
            let next = Instant::now() + interval;
            while Instant::now() < next && !stop.load(Ordering::SeqCst) {
                std::thread::sleep((next - Instant::now()).min(Duration::from_millis(50)));
            }
        }
    }
    match &mut sink {
        Some(s) => finish_records(s.as_mut())?,
        None => summary(&mut std::io::stdout(), targets)?,
    }
    Ok(if all_open {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

/// Where records go for --format json|csv (None: live lines and a summary).
fn record_sink(format: ProbeFormat) -> Option<Box<dyn output::Sink>> {
    let stdout = BufWriter::new(std::io::stdout().lock());
    match format {
        ProbeFormat::Summary => None,
        ProbeFormat::Json => Some(output::sink(RecordFormat::Json, stdout)),
        ProbeFormat::Csv => Some(output::sink(RecordFormat::Csv, stdout)),
    }
}

fn finish_records(sink: &mut dyn output::Sink) -> Result<()> {
    sink.finish(&Run::Probe)?;
    Ok(())
}

fn summary(out: &mut impl Write, targets: &[Target]) -> Result<()> {
    for t in targets {
        synack_render::probe::summary(out, &t.name, t.addr, t.dns_ns, &t.stats)?;
    }
    Ok(())
}

/// `--cures URL`: every cure measured on the same request pattern, and a
/// table (or JSON) of what each saves against a new connection each.
fn cures(args: &ProbeArgs, url: &str) -> Result<ExitCode> {
    use synack_probe::cures::{self, Pattern};
    let url = HttpUrl::parse(url).map_err(anyhow::Error::msg)?;
    let tls = url_tls(args, &url)?;
    let pattern = Pattern {
        requests: args.requests as usize,
        concurrency: args.concurrency as usize,
        timeout: args.timeout,
    };
    let rows = match cures::measure(&url, tls.as_ref(), &pattern) {
        Ok(rows) => rows,
        Err(e) => {
            eprintln!("synack: requests to {url} failed: {e}");
            return Ok(ExitCode::from(1));
        }
    };
    let mut out = std::io::stdout().lock();
    match args.format {
        ProbeFormat::Json => {
            serde_json::to_writer(&mut out, &output::cures::json(&url, &pattern, &rows))?;
            writeln!(out)?;
        }
        _ => output::cures::table(&mut out, &url, &pattern, &rows)?,
    }
    Ok(ExitCode::SUCCESS)
}
