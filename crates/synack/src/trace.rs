//! `synack trace`: the connection attempts this host makes and receives,
//! from the kernel's tracepoints, as lines (with the handshake packets the
//! kernel drops, and why) and a summary, or as records in any format. The
//! events the ring buffer could not hold are counted and reported, and
//! make the exit status 1, as capture drops do.

use crate::cli::TraceArgs;
use anyhow::Result;
use std::process::ExitCode;

#[cfg(not(feature = "ebpf"))]
const WITHOUT_EBPF: &str = "this synack was built without the ebpf feature: cargo build --release --features ebpf (needs clang, libelf-dev, zlib1g-dev, make and bpftool, and a kernel with BTF: Linux 6.2 or later)";

#[cfg(not(feature = "ebpf"))]
pub fn run(_args: &TraceArgs) -> Result<ExitCode> {
    anyhow::bail!(WITHOUT_EBPF)
}

/// The network namespace `--netns` names: its inode number.
#[cfg(feature = "ebpf")]
fn netns_inode(spec: &str) -> Result<u32> {
    use anyhow::Context as _;
    use std::os::unix::fs::MetadataExt;
    if let Ok(inode) = spec.parse::<u32>() {
        return Ok(inode);
    }
    let path = if spec.contains('/') {
        std::path::PathBuf::from(spec)
    } else {
        std::path::Path::new("/run/netns").join(spec)
    };
    let meta = std::fs::metadata(&path).with_context(|| {
        format!(
            "no network namespace {}: `ip netns list` names them, or give /proc/PID/ns/net",
            path.display()
        )
    })?;
    u32::try_from(meta.ino()).context("a namespace inode beyond 32 bits")
}

#[cfg(not(feature = "ebpf"))]
pub fn spawn_for_export(
    _stopping: std::sync::Arc<std::sync::atomic::AtomicBool>,
) -> Result<std::sync::Arc<dyn synack_render::openmetrics::Publish>> {
    anyhow::bail!("--trace: {WITHOUT_EBPF}")
}

/// `synack export --trace`: the tracer on a thread of its own feeding the
/// trace metrics until `stopping`; an error attaching is returned here,
/// before anything is served.
#[cfg(feature = "ebpf")]
pub fn spawn_for_export(
    stopping: std::sync::Arc<std::sync::atomic::AtomicBool>,
) -> Result<std::sync::Arc<dyn synack_render::openmetrics::Publish>> {
    use std::sync::Arc;
    use std::sync::atomic::Ordering;
    use synack_render::trace_metrics::TraceMetrics;
    use synack_trace::event::Event;
    use synack_trace::session::{Session, Traced};

    struct Feed {
        session: Session,
        metrics: Arc<TraceMetrics>,
        stopping: Arc<std::sync::atomic::AtomicBool>,
        attached: Option<std::sync::mpsc::SyncSender<Result<(), String>>>,
    }

    impl synack_trace::tracer::Observer for Feed {
        fn ready(&mut self, missing: &[String]) {
            for m in missing {
                eprintln!("synack export: trace: not attached, its events will be missing: {m}");
            }
            if let Some(attached) = self.attached.take() {
                let _ = attached.send(Ok(()));
            }
        }

        fn event(&mut self, e: Event) {
            match self.session.event(e) {
                Some(Traced::Attempt(h, _)) => self.metrics.attempt(&h),
                Some(Traced::Drop {
                    packet, to, reason, ..
                }) => self.metrics.dropped(to, packet, &reason),
                Some(Traced::SynAckRetransmit { listener, .. }) => {
                    self.metrics.synack_retransmit(listener)
                }
                None => {}
            }
        }

        fn tick(&mut self, lost: u64) -> bool {
            self.metrics.lost_total(lost);
            self.stopping.load(Ordering::SeqCst)
        }
    }

    let metrics = Arc::new(TraceMetrics::default());
    let (attached, result) = std::sync::mpsc::sync_channel(1);
    let mut feed = Feed {
        session: Session::new(synack_trace::tracer::reason_names()),
        metrics: metrics.clone(),
        stopping,
        attached: Some(attached.clone()),
    };
    std::thread::spawn(move || {
        if let Err(e) =
            synack_trace::tracer::run(None, synack_trace::tracer::DEFAULT_RING_BYTES, &mut feed)
        {
            let _ = attached.send(Err(e.to_string()));
        }
    });
    result
        .recv()
        .map_err(|_| anyhow::anyhow!("the trace thread ended at once"))?
        .map_err(anyhow::Error::msg)?;
    Ok(metrics)
}

#[cfg(feature = "ebpf")]
pub fn run(args: &TraceArgs) -> Result<ExitCode> {
    use crate::output::{self, Run};
    use anyhow::Context as _;
    use std::io::{BufWriter, Write};
    use synack_trace::event::Event;
    use synack_trace::session::{Session, Traced};
    use synack_trace::tally::Tally;

    /// What `--pid`, `--comm`, `--port` and `--netns` keep.
    struct Only<'a> {
        args: &'a TraceArgs,
        netns: Option<u32>,
    }

    impl Only<'_> {
        /// Events that decide an attempt pass: the attempt was kept or
        /// not when it started.
        fn event(&self, e: &Event) -> bool {
            e.decides()
                || self.netns.is_none_or(|n| n == e.netns)
                    && self
                        .args
                        .port
                        .is_none_or(|p| p == e.local.port() || p == e.remote.port())
        }

        fn record(&self, h: &synack_core::Handshake) -> bool {
            let t = h.trace.as_deref();
            self.args
                .port
                .is_none_or(|p| p == h.client.port() || p == h.server.port())
                && self
                    .args
                    .pid
                    .is_none_or(|p| t.and_then(|t| t.pid) == Some(p))
                && self
                    .args
                    .comm
                    .as_deref()
                    .is_none_or(|c| t.and_then(|t| t.comm.as_deref()) == Some(c))
        }

        /// No --pid or --comm: what has no process is kept.
        fn processless(&self) -> bool {
            self.args.pid.is_none() && self.args.comm.is_none()
        }
    }

    struct Tracing<'a> {
        only: Only<'a>,
        session: Session,
        tally: Tally,
        sink: Box<dyn output::Sink>,
        lines: Option<BufWriter<std::io::Stdout>>,
        /// One line as it is written, its allocation kept for the next.
        line: Vec<u8>,
        stop: &'static std::sync::atomic::AtomicBool,
        error: Option<std::io::Error>,
        lost_said: u64,
    }

    impl Tracing<'_> {
        fn line(&mut self, l: String) {
            self.line.clear();
            self.line.extend_from_slice(l.as_bytes());
            self.write_line();
        }

        fn write_line(&mut self) {
            self.line.push(b'\n');
            if let Some(out) = &mut self.lines
                && let Err(e) = out.write_all(&self.line)
            {
                self.error.get_or_insert(e);
            }
        }

        fn traced(&mut self, t: Traced) {
            match t {
                Traced::Attempt(h, a) => {
                    if !self.only.record(&h) {
                        return;
                    }
                    self.tally.attempt(&a);
                    if self.lines.is_some() {
                        self.line.clear();
                        output::trace::write_line(&mut self.line, &h);
                        self.write_line();
                    }
                    if let Err(e) = self.sink.record(&h) {
                        self.error.get_or_insert(e);
                    }
                }
                // Drops and retransmissions have no process: kept unless
                // the user asked for one.
                _ if !self.only.processless() => {}
                Traced::Drop {
                    ts_ns,
                    packet,
                    from,
                    to,
                    reason,
                } => {
                    self.line(output::trace::drop_line(ts_ns, packet, from, to, &reason));
                    self.tally.dropped(to, packet, reason);
                }
                Traced::SynAckRetransmit {
                    ts_ns,
                    listener,
                    client,
                } => {
                    self.line(output::trace::synack_retransmit_line(
                        ts_ns, listener, client,
                    ));
                    self.tally.synack_retransmit(listener);
                }
            }
        }
    }

    impl synack_trace::tracer::Observer for Tracing<'_> {
        fn ready(&mut self, missing: &[String]) {
            for m in missing {
                eprintln!("synack trace: not attached, its events will be missing: {m}");
            }
            eprintln!("synack trace: tracing TCP handshakes (Ctrl-C stops)");
        }

        fn event(&mut self, e: Event) {
            if !self.only.event(&e) {
                return;
            }
            if let Some(t) = self.session.event(e) {
                self.traced(t);
            }
        }

        fn tick(&mut self, lost: u64) -> bool {
            if lost > self.lost_said {
                eprintln!("synack trace: {lost} events lost so far (the ring buffer was full)");
                self.lost_said = lost;
            }
            if let Some(out) = &mut self.lines
                && let Err(e) = out.flush()
            {
                self.error.get_or_insert(e);
            }
            if let Err(e) = self.sink.flush() {
                self.error.get_or_insert(e);
            }
            self.error.is_some() || self.stop.load(std::sync::atomic::Ordering::SeqCst)
        }
    }

    let netns = args.netns.as_deref().map(netns_inode).transpose()?;
    let stop = synack_sys::stop_on_signals();
    let sink = args.out.sink("kernel tracepoints")?;
    let mut tracing = Tracing {
        only: Only { args, netns },
        session: Session::new(synack_trace::tracer::reason_names()),
        tally: Tally::default(),
        sink,
        // Flushed every tick (50 ms) at the latest.
        lines: args
            .out
            .lines()
            .then(|| BufWriter::with_capacity(1 << 16, std::io::stdout())),
        line: Vec::with_capacity(256),
        stop,
        error: None,
        lost_said: 0,
    };
    let totals = synack_trace::tracer::run(args.duration, args.ring_bytes()?, &mut tracing)
        .map_err(anyhow::Error::msg)?;
    for t in tracing.session.finish() {
        tracing.traced(t);
    }
    if let Some(e) = tracing.error.take() {
        return Err(e).context("writing the records");
    }
    if let Some(out) = &mut tracing.lines {
        out.flush()?;
        writeln!(out)?;
        out.flush()?;
    }
    tracing.tally.events = totals.events;
    tracing.tally.lost = totals.lost;
    tracing.tally.evicted = tracing.session.attempts.evicted;
    tracing.sink.finish(&Run::Trace {
        tally: &tracing.tally,
    })?;
    eprintln!(
        "synack trace: {} events read, {} lost{}",
        totals.events,
        totals.lost,
        if totals.lost > 0 {
            " (the ring buffer was full: results are missing attempts)"
        } else {
            ""
        }
    );
    Ok(if totals.lost > 0 {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}
