//! `synack capture`: handshakes live from an interface. Frames come from a
//! TPACKET_V3 ring with kernel timestamps (optionally inside a network
//! namespace), go through the
//! same tracker as `analyze`, and come out as a line per handshake as soon
//! as its outcome is decided, or as the same records `analyze` writes; the
//! kernel's drop counter is reported, so a drop is never silent.

use crate::cli::CaptureArgs;
use crate::output::{self, Run};
use anyhow::{Context as _, Result, bail};
use std::io::{self, BufWriter, IsTerminal, Write};
use std::process::ExitCode;
use std::time::{Duration, Instant};
use synack_capture::PcapNgWriter;
use synack_capture::live::{self, Ring};
use synack_core::filter::Filter;
use synack_core::{Handshake, Outcome, Tracker, TrackerConfig};

/// The handshakes decided so far, as lines on stdout (summary format) and,
/// when stderr is a terminal, a running status line beneath them.
struct Lines {
    out: Option<BufWriter<std::io::Stdout>>,
    status_on_tty: bool,
    status_at: Option<Instant>,
    shown: u64,
    failed: u64,
}

impl Lines {
    fn new(print: bool) -> Lines {
        Lines {
            out: print.then(|| BufWriter::new(std::io::stdout())),
            status_on_tty: std::io::stderr().is_terminal(),
            status_at: None,
            shown: 0,
            failed: 0,
        }
    }

    /// Counts a decided handshake the filter keeps, and prints its line.
    fn decided(&mut self, h: &Handshake, filter: &Filter) -> io::Result<()> {
        if !filter.matches(h) || h.outcome == Outcome::Midstream {
            return Ok(());
        }
        self.shown += 1;
        self.failed += u64::from(h.outcome != Outcome::Established);
        if let Some(out) = &mut self.out {
            if self.status_at.take().is_some() {
                eprint!("\r\x1b[K");
            }
            writeln!(out, "{}", output::live::line(h))?;
        }
        Ok(())
    }

    /// Flushes the lines (once per ring block, not per line) and redraws
    /// the status line at most once a second.
    fn status(&mut self, frames: u64, open: usize) -> io::Result<()> {
        if let Some(out) = &mut self.out {
            out.flush()?;
        }
        if self.status_on_tty
            && self
                .status_at
                .is_none_or(|t| t.elapsed() >= Duration::from_secs(1))
        {
            eprint!(
                "\r\x1b[K{} handshakes ({} failed), {open} open, {frames} frames",
                self.shown, self.failed
            );
            self.status_at = Some(Instant::now());
        }
        Ok(())
    }

    fn done(&mut self) -> io::Result<()> {
        if self.status_at.take().is_some() {
            eprint!("\r\x1b[K");
        }
        if let Some(out) = &mut self.out {
            out.flush()?;
        }
        Ok(())
    }
}

/// The live loop's observer: lines for people, records to the stream.
struct Outputs<'a> {
    live: Lines,
    sink: &'a mut dyn output::Sink,
    filter: Filter,
    count: Option<u64>,
}

impl live::Observer for Outputs<'_> {
    fn decided(&mut self, h: &Handshake) -> io::Result<()> {
        self.live.decided(h, &self.filter)
    }

    /// Finished records go to the stream, and to the live lines those not
    /// announced when they were decided.
    fn record(&mut self, h: Handshake) -> io::Result<()> {
        if !h.announced {
            self.live.decided(&h, &self.filter)?;
        }
        if self.filter.matches(&h) {
            self.sink.record(&h)?;
        }
        Ok(())
    }

    fn tick(&mut self, frames: u64, flows: usize) -> io::Result<()> {
        self.live.status(frames, flows)?;
        self.sink.flush()
    }

    fn done(&self) -> bool {
        self.count.is_some_and(|c| self.live.shown >= c)
    }
}

/// Opens the capture ring on `interface` (blocks of up to 1 MiB, as many
/// as `buffer_kib` allows) with the kernel filter for handshake traffic;
/// a missing privilege or interface is said in words.
pub fn open_ring(interface: &str, buffer_kib: usize) -> Result<Ring> {
    let total = buffer_kib.max(1) * 1024;
    let block = total.min(1 << 20);
    let ring = match Ring::open(interface, block, total / block.max(1)) {
        Ok(r) => r,
        Err(e) if e.raw_os_error() == Some(EPERM) => {
            bail!("capturing needs CAP_NET_RAW: run as root, or `setcap cap_net_raw+ep` on synack")
        }
        Err(e) if e.raw_os_error() == Some(ENODEV) => bail!(
            "no interface `{interface}` here: `ip link` lists them, and `-i any` captures on all"
        ),
        Err(e) => return Err(e).with_context(|| format!("opening {interface} for capture")),
    };
    ring.filter_handshake_traffic()
        .context("attaching the capture filter")?;
    Ok(ring)
}

pub fn run(args: &CaptureArgs) -> Result<ExitCode> {
    let stop = synack_sys::stop_on_signals();
    crate::netns::enter(args.netns.netns.as_deref())?;
    let mut ring = open_ring(&args.interface, args.buffer_kib)?;
    if args.promisc {
        ring.set_promiscuous()
            .context("entering promiscuous mode")?;
    }
    let link = ring.link_type();
    let mut pcap = match &args.write {
        Some(path) => {
            let f = std::fs::File::create(path)
                .with_context(|| format!("creating {}", path.display()))?;
            Some(PcapNgWriter::new(
                BufWriter::new(f),
                link,
                65_535,
                "synack capture",
            )?)
        }
        None => None,
    };
    // Everything privileged is open (namespace, ring, output file): give
    // the privileges up before the first packet is parsed.
    synack_sys::drop_capabilities().context("dropping capabilities")?;
    let filter = args.filter.filter();
    let config = TrackerConfig {
        // Decided-now records feed the live lines and the --count bound;
        // the streams carry the full record when the flow ends.
        decisions: true,
        source: synack_core::Source::Live,
        ..TrackerConfig::default()
    };
    let mut tracker = Tracker::new(config);
    let lines = args.out.lines();
    let mut sink = args.out.sink(&format!("live on {}", args.interface))?;
    let mut outputs = Outputs {
        live: Lines::new(lines),
        sink: &mut *sink,
        filter,
        count: args.count,
    };
    eprintln!("synack capture: listening on {}", args.interface);
    let stop_at = args.duration.map(|d| Instant::now() + d);
    let frames = live::run(
        &mut ring,
        &mut tracker,
        pcap.as_mut(),
        live::Stop {
            requested: stop,
            at: stop_at,
        },
        &mut outputs,
    )
    .context("capturing")?;
    outputs.live.done()?;
    if let Some(w) = pcap {
        w.into_inner().flush()?;
    }
    let (kernel_frames, drops) = ring.stats().unwrap_or((frames, 0));
    sink.finish(&Run::Live {
        interface: &args.interface,
        frames,
        tracker: tracker.stats(),
    })?;
    eprintln!(
        "synack capture: {frames} frames read, {kernel_frames} handed over by the kernel{}, {drops} dropped by the kernel{}",
        match ring.loopback_copies() {
            0 => String::new(),
            n => format!(" ({n} loopback copies skipped: each packet once)"),
        },
        if drops > 0 {
            " (the socket buffer overflowed: results are missing packets)"
        } else {
            ""
        }
    );
    Ok(if drops > 0 {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}

/// errno values (asm-generic/errno-base.h), without a libc dependency in
/// the binary.
const EPERM: i32 = 1;
const ENODEV: i32 = 19;
