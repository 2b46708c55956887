//! The Prometheus exporter behind `synack export`. `/metrics` takes a fresh
//! snapshot of the namespace per scrape (no background sampling, so an idle
//! exporter costs nothing); `/probe?target=HOST:PORT` makes one handshake
//! for targets an `--allow` pattern admits, none by default.
//!
//! Scrapes and probes run on the blocking pool under limits of their own,
//! so probes (a slow resolver, a silent target) never delay a scrape, and
//! a probe is refused (403) before anything, DNS included, is done for a
//! target no pattern admits. The HTTP limits are in [`server`].

#![forbid(unsafe_code)]

mod allow;
mod server;

pub use allow::Allow;
use server::Limits;
pub use server::{MAX_HEADERS, MAX_REQUEST_LINE};

use allow::admitted;
use hyper::body::Incoming;
use hyper::header::{CONTENT_TYPE, HeaderValue, RETRY_AFTER};
use hyper::{Method, Request, Response, StatusCode};
use std::sync::Arc;
use std::time::{Duration, Instant};
use synack_host::{Snapshot, SnapshotOptions};
use synack_probe::target::{ResolveError, Target};
use synack_probe::{Family, resolve};
use synack_render::openmetrics;
use synack_render::openmetrics::Publish;
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
    live: Vec<Arc<dyn Publish>>,
}

/// What the exporter serves and how much it may spend.
#[derive(Debug, Clone)]
pub struct Config {
    /// Targets `/probe` may connect to; none: `/probe` is refused.
    pub allow: Vec<Allow>,
    /// Label listeners with their processes (a /proc walk per scrape).
    pub processes: bool,
    /// A `/probe` answers within this, name lookup included.
    pub probe_budget: Duration,
    /// The whole request head must arrive within this.
    pub head_timeout: Duration,
    /// Connections open at once, in all and from one client.
    pub max_connections: usize,
    pub max_per_client: usize,
    /// Metrics kept live beside the snapshots: the handshake histograms a
    /// live capture fills (`--capture`), the trace's counters (`--trace`).
    pub live: Vec<Arc<dyn Publish>>,
}

/// Serves `listener` (already bound, in the namespace to report on) until
/// SIGINT or SIGTERM, calling `ready` once those signals are caught (so a
/// caller that says "serving" can be stopped cleanly from then on). Call
/// from the thread that entered the namespace: the runtime's threads start
/// there.
pub fn serve(
    listener: std::net::TcpListener,
    config: Config,
    ready: impl FnOnce(),
) -> std::io::Result<()> {
    listener.set_nonblocking(true)?;
    let exporter = Arc::new(Exporter {
        allow: config.allow,
        processes: config.processes,
        probe_budget: config.probe_budget,
        scrapes: Arc::new(Semaphore::new(MAX_SCRAPES)),
        probes: Arc::new(Semaphore::new(MAX_PROBES)),
        live: config.live,
    });
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_io()
        .enable_time()
        // Every blocking job holds a scrape or probe permit first, so the
        // pool never queues one behind the other.
        .max_blocking_threads(MAX_SCRAPES + MAX_PROBES)
        .build()?;
    // A connection lives at most as long as its request can take.
    let limits = Limits {
        max_connections: config.max_connections,
        max_per_client: config.max_per_client,
        head_timeout: config.head_timeout,
        connection_deadline: config.head_timeout + config.probe_budget + WRITE_SLACK,
    };
    runtime.block_on(async {
        let listener = tokio::net::TcpListener::from_std(listener)?;
        let handle = move |request| answer(exporter.clone(), request);
        let stop = stop_signal()?;
        ready();
        server::serve(listener, limits, handle, stop).await;
        std::io::Result::Ok(())
    })?;
    // A probe stuck in the resolver is not waited for.
    runtime.shutdown_background();
    Ok(())
}

/// Completes on SIGINT or SIGTERM.
fn stop_signal() -> std::io::Result<impl Future<Output = ()>> {
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
    let live = exporter.live.clone();
    let job = tokio::task::spawn_blocking(move || {
        let _permit = permit;
        let t0 = Instant::now();
        Snapshot::take(options)
            .map(|snap| openmetrics::metrics(&snap, t0.elapsed().as_secs_f64(), &live))
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

/// What `/probe` measures: the TCP handshake, or it and a TLS handshake.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Module {
    Tcp,
    Tls,
}

async fn probe(exporter: &Exporter, query: &str) -> Response<String> {
    let param = |name: &str| {
        form_urlencoded::parse(query.as_bytes())
            .find(|(key, _)| key == name)
            .map(|(_, value)| value.into_owned())
    };
    let Some(raw) = param("target") else {
        return text(
            StatusCode::BAD_REQUEST,
            "expected /probe?target=HOST:PORT\n",
        );
    };
    let module = match param("module").as_deref() {
        None | Some("tcp") => Module::Tcp,
        Some("tls") => Module::Tls,
        Some(_) => {
            return text(
                StatusCode::BAD_REQUEST,
                "module: tcp (the default) or tls\n",
            );
        }
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
            return reply(
                StatusCode::BAD_REQUEST,
                TEXT,
                format!("target: {}\n", e.reason()),
            );
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
        probe_once(&target, module, budget)
    });
    // The attempt keeps to the budget; only the resolver can overrun it.
    let grace = Duration::from_millis(500);
    let body = match tokio::time::timeout(budget + grace, job).await {
        Ok(Ok(body)) => body,
        Ok(Err(_)) => return text(StatusCode::INTERNAL_SERVER_ERROR, "the probe failed\n"),
        Err(_) => openmetrics::probe_failure(
            Some(budget + grace),
            "timeout",
            "name lookup did not answer",
            None,
        ),
    };
    reply(StatusCode::OK, OPENMETRICS, body)
}

/// One probe of an admitted target within `budget`: the name resolved as
/// `synack probe` resolves it (so both pick the same address), then one
/// handshake in the time left. A failed lookup is a failed probe (success
/// 0), as blackbox_exporter reports it.
fn probe_once(target: &Target, module: Module, budget: Duration) -> String {
    let start = Instant::now();
    let resolved = match resolve(target, Family::Any) {
        Ok(r) => r,
        Err(e) => {
            let why = match e {
                ResolveError::Lookup { .. } => "name lookup failed",
                ResolveError::NoAddress { .. } => "no address",
            };
            return openmetrics::probe_failure(e.took(), "unresolved", why, None);
        }
    };
    let left = budget.saturating_sub(start.elapsed());
    if left.is_zero() {
        return openmetrics::probe_failure(
            resolved.lookup,
            "timeout",
            "name lookup took the whole budget",
            None,
        );
    }
    let addr = resolved.addrs[0];
    let Ok(mut poll) = mio::Poll::new() else {
        return openmetrics::probe_failure(resolved.lookup, "local_error", "no poll", None);
    };
    let mut events = mio::Events::with_capacity(4);
    let tls = match module {
        Module::Tcp => None,
        Module::Tls => match tls_settings() {
            Ok(settings) => Some((
                // A fresh session each time: a full handshake, as
                // blackbox_exporter's TLS probe makes.
                settings.variant(false, false, &[]),
                match &target.host {
                    synack_probe::Host::Name(n) => n.clone(),
                    synack_probe::Host::Addr(ip) => ip.to_string(),
                },
            )),
            Err(e) => {
                return openmetrics::probe_failure(resolved.lookup, "local_error", e, None);
            }
        },
    };
    let cfg = synack_probe::AttemptConfig {
        timeout: left,
        tls,
        ..Default::default()
    };
    let r = synack_probe::attempt(addr, &cfg, &mut poll, &mut events);
    openmetrics::probe_result(resolved.lookup, addr, &r)
}

/// The system's trust store, loaded once for every TLS probe.
fn tls_settings() -> Result<&'static synack_probe::tls::TlsProbe, &'static str> {
    static SETTINGS: std::sync::OnceLock<Option<synack_probe::tls::TlsProbe>> =
        std::sync::OnceLock::new();
    SETTINGS
        .get_or_init(|| synack_probe::tls::TlsProbe::new(None, &[], false).ok())
        .as_ref()
        .ok_or("no trusted certificates on this host")
}
