//! `synack export`: the arguments into the exporter's configuration; the
//! exporter itself is the `synack-export` crate.

use crate::cli::ExportArgs;
use anyhow::{Context as _, Result, bail};
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use synack_capture::live;
use synack_core::{Handshake, Tracker, TrackerConfig};
use synack_export::{Allow, Config};
use synack_host::SnapshotOptions;
use synack_render::handshake_metrics::HandshakeMetrics;
use synack_render::openmetrics::Publish;

pub fn run(args: &ExportArgs) -> Result<ExitCode> {
    let allow: Vec<Allow> = args
        .allow
        .iter()
        .map(|a| a.parse().map_err(anyhow::Error::msg))
        .collect::<Result<_>>()
        .context("--allow")?;
    let (probe_budget, head_timeout) = (args.probe_timeout, args.read_timeout);
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
    let bound = listener.local_addr()?;
    let serving = format!(
        "synack export: serving http://{bound}/metrics{}",
        if allow.is_empty() {
            " (/probe refused: no --allow)".to_string()
        } else {
            format!(" and /probe for {}", args.allow.join(", "))
        }
    );
    // The live capture: the ring is opened here, with the privilege, and
    // read on a thread of its own into the histograms the scrapes publish.
    let stopping = Arc::new(AtomicBool::new(false));
    let mut live: Vec<Arc<dyn Publish>> = Vec::new();
    if let Some(interface) = &args.capture {
        let metrics = Arc::new(HandshakeMetrics::default());
        spawn_capture(interface.clone(), metrics.clone(), stopping.clone())?;
        live.push(metrics);
    }
    if args.trace {
        live.push(crate::trace::spawn_for_export(stopping.clone())?);
    }
    let config = Config {
        allow,
        processes: args.processes,
        probe_budget,
        head_timeout,
        max_connections: args.max_connections,
        max_per_client: args.max_per_client,
        live,
    };
    let served =
        synack_export::serve(listener, config, || eprintln!("{serving}")).context("serving");
    stopping.store(true, Ordering::SeqCst);
    served?;
    Ok(ExitCode::SUCCESS)
}

/// Feeds each decided attempt to the histograms once.
struct Feed(Arc<HandshakeMetrics>);

impl live::Observer for Feed {
    fn decided(&mut self, h: &Handshake) -> std::io::Result<()> {
        self.0.observe(h);
        Ok(())
    }

    fn record(&mut self, h: Handshake) -> std::io::Result<()> {
        if !h.announced {
            self.0.observe(&h);
        }
        Ok(())
    }

    fn tick(&mut self, _frames: u64, _flows: usize) -> std::io::Result<()> {
        Ok(())
    }
}

/// Runs the capture engine on `interface` until `stopping` (the ring's
/// wait ends every second at the latest, so the thread ends soon after).
/// The ring is opened on the thread (it stays with the thread that mapped
/// it; the thread starts in the namespace entered), and an error opening
/// it is returned here, before anything is served.
fn spawn_capture(
    interface: String,
    metrics: Arc<HandshakeMetrics>,
    stopping: Arc<AtomicBool>,
) -> anyhow::Result<()> {
    let (opened, result) = std::sync::mpsc::sync_channel(1);
    std::thread::spawn(move || {
        let mut ring = match crate::capture::open_ring(&interface, 8192) {
            Ok(ring) => {
                let _ = opened.send(Ok(()));
                ring
            }
            Err(e) => {
                let _ = opened.send(Err(e));
                return;
            }
        };
        let mut tracker = Tracker::new(TrackerConfig {
            decisions: true,
            source: synack_core::Source::Live,
            ..TrackerConfig::default()
        });
        let mut feed = Feed(metrics);
        let result = live::run::<std::io::Sink>(
            &mut ring,
            &mut tracker,
            None,
            live::Stop {
                requested: &stopping,
                at: None,
            },
            &mut feed,
        );
        if let Err(e) = result {
            eprintln!("synack export: the live capture stopped: {e}");
        }
    });
    result
        .recv()
        .map_err(|_| anyhow::anyhow!("the capture thread ended at once"))?
}
