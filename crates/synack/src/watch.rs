//! `synack watch`: listener health of one network namespace. `--once`
//! samples twice (`--interval` apart, for rates) and prints one report; on
//! a terminal the default is the dashboard (`dashboard.rs`), elsewhere a
//! plain report every interval. The watcher is synack-host's, the report
//! (text or JSON) synack-render's.

use crate::cli::{HostFormat, NetnsArg, WatchArgs};
use anyhow::{Context as _, Result};
use std::io::{IsTerminal, Write};
use std::process::ExitCode;
use std::sync::atomic::Ordering;
use std::time::Duration;
use synack_host::{Snapshot, SnapshotOptions, Watcher};
use synack_render::host;

/// Moves this thread (and the threads it starts later) into `--netns`.
pub fn enter(netns: &NetnsArg) -> Result<()> {
    crate::netns::enter(netns.netns.as_deref())
}

pub fn take(options: SnapshotOptions) -> Result<Snapshot> {
    Snapshot::take(options).context("listing sockets through netlink sock_diag")
}

fn options(args: &WatchArgs) -> SnapshotOptions {
    SnapshotOptions {
        states: !args.no_states,
        syn_recv: true,
        drops: true,
        processes: args.processes,
    }
}

pub fn run(args: &WatchArgs) -> Result<ExitCode> {
    let stop = synack_sys::stop_on_signals();
    enter(&args.netns)?;
    let interval = args.interval;
    let netns = args.netns.netns.as_deref();
    let opts = options(args);
    let mut watcher = Watcher::new(opts).context("listing sockets through netlink sock_diag")?;
    if !args.once && !args.plain && std::io::stdout().is_terminal() {
        return crate::dashboard::run(watcher, interval, netns, &args.port, stop);
    }
    let mut out = std::io::stdout().lock();
    loop {
        // Sleep in short steps so that Ctrl-C ends the wait at once.
        let until = std::time::Instant::now() + interval;
        while std::time::Instant::now() < until && !stop.load(Ordering::SeqCst) {
            std::thread::sleep(Duration::from_millis(20).min(interval));
        }
        if stop.load(Ordering::SeqCst) {
            return Ok(ExitCode::SUCCESS);
        }
        let sample = watcher
            .sample()
            .context("listing sockets through netlink sock_diag")?;
        let report = host::report(&sample, netns, &args.port);
        match args.format {
            HostFormat::Json if args.once => writeln!(out, "{:#}", report.json())?,
            HostFormat::Json => writeln!(out, "{}", report.json())?,
            HostFormat::Table => write!(
                out,
                "{}{}",
                report.text(),
                if args.once { "" } else { "\n" }
            )?,
        }
        out.flush()?;
        if args.once {
            return Ok(if sample.alerts.is_empty() {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(1)
            });
        }
    }
}
