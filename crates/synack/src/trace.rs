//! `synack trace`: the connection attempts this host makes and receives,
//! from the kernel's tracepoints, as lines (with the handshake packets the
//! kernel drops, and why) and a summary, or as records in any format. The
//! events the ring buffer could not hold are counted and reported, and
//! make the exit status 1, as capture drops do.

use crate::cli::TraceArgs;
use anyhow::Result;
use std::process::ExitCode;

#[cfg(not(feature = "ebpf"))]
pub fn run(_args: &TraceArgs) -> Result<ExitCode> {
    anyhow::bail!(
        "this synack was built without the ebpf feature: cargo build --release --features ebpf (needs clang, libelf-dev, zlib1g-dev, make and bpftool, and a kernel with BTF)"
    )
}

/// The network namespace `--netns` names: its inode number.
pub fn netns_inode(spec: &str) -> Result<u32> {
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

#[cfg(feature = "ebpf")]
pub fn run(args: &TraceArgs) -> Result<ExitCode> {
    use crate::cli::Format;
    use crate::output::{self, Run};
    use anyhow::Context as _;
    use std::io::{BufWriter, Write};
    use synack_trace::attempts::Attempts;
    use synack_trace::cgroups::Cgroups;
    use synack_trace::event::{Event, Kind};
    use synack_trace::record::{Clock, record};
    use synack_trace::tally::{Tally, packet_kind};

    /// What `--pid`, `--comm`, `--port` and `--netns` keep.
    struct Only<'a> {
        args: &'a TraceArgs,
        netns: Option<u32>,
    }

    impl Only<'_> {
        fn event(&self, e: &Event) -> bool {
            self.netns.is_none_or(|n| n == e.netns)
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

        /// Drops and retransmissions have no process: kept unless the
        /// user asked for one.
        fn processless(&self) -> bool {
            self.args.pid.is_none() && self.args.comm.is_none()
        }
    }

    struct Tracing<'a> {
        only: Only<'a>,
        attempts: Attempts,
        tally: Tally,
        cgroups: Cgroups,
        clock: Clock,
        reasons: synack_trace::drops::ReasonNames,
        sink: Box<dyn output::Sink>,
        lines: Option<BufWriter<std::io::Stdout>>,
        stop: &'static std::sync::atomic::AtomicBool,
        error: Option<std::io::Error>,
        lost_said: u64,
    }

    impl Tracing<'_> {
        fn line(&mut self, l: String) {
            if let Some(out) = &mut self.lines
                && let Err(e) = writeln!(out, "{l}")
            {
                self.error.get_or_insert(e);
            }
        }

        fn attempt(&mut self, a: synack_trace::attempts::Attempt) {
            let cgroup = a
                .cgroup
                .and_then(|id| self.cgroups.path(id).map(String::from));
            let h = record(&a, self.clock, cgroup);
            if !self.only.record(&h) {
                return;
            }
            self.tally.attempt(&a);
            self.line(output::trace::line(&h));
            if let Err(e) = self.sink.record(&h) {
                self.error.get_or_insert(e);
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
            match e.kind {
                Kind::Drop => {
                    if !self.only.processless() {
                        return;
                    }
                    let reason = self.reasons.words(e.error);
                    let line = output::trace::drop_line(
                        self.clock.wall(e.ts_ns),
                        packet_kind(e.tcp_flags),
                        e.local,
                        e.remote,
                        &reason,
                    );
                    self.line(line);
                    self.tally.dropped(&e, reason);
                }
                Kind::SynAckRetransmit if self.only.processless() => {
                    let line = output::trace::synack_retransmit_line(
                        self.clock.wall(e.ts_ns),
                        e.local,
                        e.remote,
                    );
                    self.line(line);
                    self.tally.synack_retransmit(&e);
                }
                _ => {
                    if let Some(a) = self.attempts.event(e) {
                        self.attempt(a);
                    }
                }
            }
        }

        fn tick(&mut self, lost: u64) -> bool {
            if lost > self.lost_said {
                eprintln!(
                    "synack trace: {} events lost so far (the ring buffer was full)",
                    lost
                );
                self.lost_said = lost;
            }
            if let Some(out) = &mut self.lines
                && let Err(e) = out.flush()
            {
                self.error.get_or_insert(e);
            }
            self.error.is_some() || self.stop.load(std::sync::atomic::Ordering::SeqCst)
        }
    }

    let netns = args.netns.as_deref().map(netns_inode).transpose()?;
    let stop = synack_sys::stop_on_signals();
    let mut sink = args.format.sink(args.output.as_deref())?;
    if let Some(path) = &args.report {
        let source = std::path::PathBuf::from("kernel tracepoints");
        sink = Box::new(output::Tee(
            sink,
            crate::analyze::report_sink(path, &[source])?,
        ));
    }
    let mut tracing = Tracing {
        only: Only { args, netns },
        attempts: Attempts::default(),
        tally: Tally::default(),
        cgroups: Cgroups::new("/sys/fs/cgroup"),
        clock: Clock::now(),
        reasons: synack_trace::tracer::reason_names(),
        sink,
        lines: (args.format == Format::Summary).then(|| BufWriter::new(std::io::stdout())),
        stop,
        error: None,
        lost_said: 0,
    };
    let totals =
        synack_trace::tracer::run(args.duration, &mut tracing).map_err(anyhow::Error::msg)?;
    for a in tracing.attempts.finish() {
        tracing.attempt(a);
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
    tracing.tally.evicted = tracing.attempts.evicted;
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
