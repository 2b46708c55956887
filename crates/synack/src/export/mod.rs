//! `synack export`: a Prometheus exporter. `/metrics` takes a fresh
//! snapshot of the namespace per scrape (no background sampling, so an idle
//! exporter costs nothing); `/probe?target=HOST:PORT` makes one handshake
//! for targets an `--allow` pattern admits, none by default.
//!
//! Scrapes and probes run on the blocking pool under limits of their own,
//! so probes (a slow resolver, a silent target) never delay a scrape, and
//! a probe is refused (403) before anything, DNS included, is done for a
//! target no pattern admits. The HTTP limits are in [`server`].

mod allow;
mod server;
mod text;

use crate::cli::ExportArgs;
use allow::{Allow, admitted};
use anyhow::{Context as _, Result, bail};
use hyper::body::Incoming;
use hyper::header::{CONTENT_TYPE, HeaderValue, RETRY_AFTER};
use hyper::{Method, Request, Response, StatusCode};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};
use synack_host::{Snapshot, SnapshotOptions};
use synack_probe::target::{Target, TargetError};
use tokio::sync::Semaphore;

/// Snapshots read at once; more scrapes wait their turn.
const MAX_SCRAPES: usize = 2;
/// Probes in flight at once; more are answered 503 at once.
const MAX_PROBES: usize = 4;
/// Time for an answer to be written after the work is done.
const WRITE_SLACK: Duration = Duration::from_secs(5);

const OPENMETRICS: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";
const TEXT: &str = "text/plain; charset=utf-8";

/// What the request handler needs, shared by every connection.
struct Exporter {
    allow: Vec<Allow>,
    processes: bool,
    probe_budget: Duration,
    scrapes: Arc<Semaphore>,
    probes: Arc<Semaphore>,
}

pub fn run(args: &ExportArgs) -> Result<ExitCode> {
    let allow: Vec<Allow> = args
        .allow
        .iter()
        .map(|a| a.parse().map_err(anyhow::Error::msg))
        .collect::<Result<_>>()
        .context("--allow")?;
    let probe_budget = crate::probe::secs(args.probe_timeout, "--probe-timeout")?;
    let head_timeout = crate::probe::secs(args.read_timeout, "--read-timeout")?;
    if probe_budget.is_zero() || head_timeout.is_zero() {
        bail!("--probe-timeout and --read-timeout must be above 0");
    }
    if args.max_connections == 0 || args.max_per_client == 0 {
        bail!("--max-connections and --max-per-client must be at least 1");
    }
    // Room for every connection allowed, whatever the soft limit is.
    synack_sys::raise_open_files(args.max_connections as u64 + 64);
    // The runtime's threads start in the namespace this thread enters.
    crate::watch::enter(&args.netns)?;
    // Fail at start, not at the first scrape, when sock_diag is not there.
    crate::watch::take(SnapshotOptions::listeners_only())?;
    let listener = std::net::TcpListener::bind(args.listen)
        .with_context(|| format!("serving on {}", args.listen))?;
    listener.set_nonblocking(true)?;
    let bound = listener.local_addr()?;
    eprintln!(
        "synack export: serving http://{bound}/metrics{}",
        if allow.is_empty() {
            " (/probe refused: no --allow)".to_string()
        } else {
            format!(" and /probe for {}", args.allow.join(", "))
        }
    );
    let limits = server::Limits {
        max_connections: args.max_connections,
        max_per_client: args.max_per_client,
        head_timeout,
        connection_deadline: head_timeout + probe_budget + WRITE_SLACK,
    };
    let exporter = Arc::new(Exporter {
        allow,
        processes: args.processes,
        probe_budget,
        scrapes: Arc::new(Semaphore::new(MAX_SCRAPES)),
        probes: Arc::new(Semaphore::new(MAX_PROBES)),
    });
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_io()
        .enable_time()
        // Every blocking job holds a scrape or probe permit first, so the
        // pool never queues one behind the other.
        .max_blocking_threads(MAX_SCRAPES + MAX_PROBES)
        .build()
        .context("starting the exporter's runtime")?;
    runtime.block_on(async {
        let listener = tokio::net::TcpListener::from_std(listener)?;
        let handle = move |request| answer(exporter.clone(), request);
        server::serve(listener, limits, handle, stop_signal()?).await;
        anyhow::Ok(())
    })?;
    // A probe stuck in the resolver is not waited for.
    runtime.shutdown_background();
    Ok(ExitCode::SUCCESS)
}

/// Completes on SIGINT or SIGTERM.
fn stop_signal() -> Result<impl Future<Output = ()>> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut interrupt = signal(SignalKind::interrupt())?;
    let mut terminate = signal(SignalKind::terminate())?;
    Ok(async move {
        tokio::select! {
            _ = interrupt.recv() => {}
            _ = terminate.recv() => {}
        }
    })
}

fn reply(status: StatusCode, content_type: &'static str, body: String) -> Response<String> {
    let mut response = Response::new(body);
    *response.status_mut() = status;
    response
        .headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
    response
}

fn text(status: StatusCode, body: &str) -> Response<String> {
    reply(status, TEXT, body.to_string())
}

/// Answers one request. Bodies are fixed texts or our own data: nothing
/// the client sent is echoed.
async fn answer(exporter: Arc<Exporter>, request: Request<Incoming>) -> Response<String> {
    if request.method() != Method::GET {
        return text(StatusCode::METHOD_NOT_ALLOWED, "only GET is served\n");
    }
    match request.uri().path() {
        "/metrics" => metrics(&exporter).await,
        "/probe" => probe(&exporter, request.uri().query().unwrap_or("")).await,
        "/" => text(
            StatusCode::OK,
            "synack exporter: /metrics, /probe?target=HOST:PORT\n",
        ),
        _ => text(
            StatusCode::NOT_FOUND,
            "no such page: /metrics or /probe?target=HOST:PORT\n",
        ),
    }
}

async fn metrics(exporter: &Exporter) -> Response<String> {
    let Ok(permit) = exporter.scrapes.clone().acquire_owned().await else {
        return text(StatusCode::SERVICE_UNAVAILABLE, "shutting down\n");
    };
    let options = SnapshotOptions {
        processes: exporter.processes,
        ..SnapshotOptions::default()
    };
    let job = tokio::task::spawn_blocking(move || {
        let _permit = permit;
        let t0 = Instant::now();
        Snapshot::take(options).map(|snap| text::metrics_text(&snap, t0.elapsed().as_secs_f64()))
    });
    match job.await {
        Ok(Ok(body)) => reply(StatusCode::OK, OPENMETRICS, body),
        Ok(Err(e)) => reply(
            StatusCode::INTERNAL_SERVER_ERROR,
            TEXT,
            format!("reading sockets: {e}\n"),
        ),
        Err(_) => text(StatusCode::INTERNAL_SERVER_ERROR, "the snapshot failed\n"),
    }
}

async fn probe(exporter: &Exporter, query: &str) -> Response<String> {
    let Some(raw) = form_urlencoded::parse(query.as_bytes())
        .find(|(key, _)| key == "target")
        .map(|(_, value)| value.into_owned())
    else {
        return text(
            StatusCode::BAD_REQUEST,
            "expected /probe?target=HOST:PORT\n",
        );
    };
    if exporter.allow.is_empty() {
        return text(
            StatusCode::FORBIDDEN,
            "/probe is off: start the exporter with --allow HOST:PORT patterns\n",
        );
    }
    let target: Target = match raw.parse() {
        Ok(t) => t,
        Err(e) => {
            let why = match e {
                TargetError::NoPort(_) => "target: give a port, as HOST:PORT\n",
                TargetError::Brackets(_) => {
                    "target: an IPv6 address goes in brackets, [ADDR]:PORT\n"
                }
                TargetError::Port(_) => "target: the port must be a number from 1 to 65535\n",
                TargetError::Host(_) => "target: not an address or a host name\n",
                TargetError::Zone(_) => "target: the zone after % is not an interface here\n",
            };
            return text(StatusCode::BAD_REQUEST, why);
        }
    };
    if !admitted(&exporter.allow, &target) {
        return text(
            StatusCode::FORBIDDEN,
            "target not allowed: start the exporter with an --allow pattern that admits it\n",
        );
    }
    let Ok(permit) = exporter.probes.clone().try_acquire_owned() else {
        let mut busy = text(
            StatusCode::SERVICE_UNAVAILABLE,
            "too many probes in flight; try again\n",
        );
        busy.headers_mut()
            .insert(RETRY_AFTER, HeaderValue::from_static("1"));
        return busy;
    };
    let budget = exporter.probe_budget;
    let job = tokio::task::spawn_blocking(move || {
        // Held until the resolver returns, however long after the answer:
        // a hung resolver uses up probe permits, never scrape ones.
        let _permit = permit;
        text::probe_text(&target, budget)
    });
    // The attempt keeps to the budget; only the resolver can overrun it.
    let grace = Duration::from_millis(500);
    let body = match tokio::time::timeout(budget + grace, job).await {
        Ok(Ok(body)) => body,
        Ok(Err(_)) => return text(StatusCode::INTERNAL_SERVER_ERROR, "the probe failed\n"),
        Err(_) => text::probe_failure_text(
            Some(budget + grace),
            "timeout",
            "name lookup did not answer",
            None,
        ),
    };
    reply(StatusCode::OK, OPENMETRICS, body)
}
