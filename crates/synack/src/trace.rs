//! `synack trace`: connection attempts of this host from the kernel's
//! tracepoints, a line each with the process that made it. Work in
//! progress (issue 17): client side only, lines only.

use crate::cli::TraceArgs;
use anyhow::Result;
use std::process::ExitCode;

#[cfg(not(feature = "ebpf"))]
pub fn run(_args: &TraceArgs) -> Result<ExitCode> {
    anyhow::bail!(
        "this synack was built without the ebpf feature: cargo build --release --features ebpf (needs clang, libelf-dev, zlib1g-dev, make and bpftool, and a kernel with BTF)"
    )
}

#[cfg(feature = "ebpf")]
pub fn run(args: &TraceArgs) -> Result<ExitCode> {
    use synack_trace::attempts::Attempts;
    let stop = synack_sys::stop_on_signals();
    let mut attempts = Attempts::default();
    let mut out = std::io::stdout().lock();
    let mut write_error = None;
    synack_trace::tracer::run(
        args.duration,
        &|| stop.load(std::sync::atomic::Ordering::SeqCst),
        &mut || eprintln!("synack trace: tracing TCP connects for {:?}", args.duration),
        &mut |change| {
            let Some(a) = attempts.change(change) else {
                return;
            };
            if args.port.is_some_and(|p| p != a.remote.port())
                || args.pid.is_some_and(|p| p != a.pid)
                || args.comm.as_deref().is_some_and(|c| c != a.comm)
            {
                return;
            }
            use std::io::Write;
            if let Err(e) = writeln!(
                out,
                "{} > {} {} time={} pid={} comm={} syn_retransmits={}",
                a.local,
                a.remote,
                a.outcome.as_str(),
                synack_render::human_ns(a.latency_ns as i64),
                a.pid,
                a.comm,
                a.syn_retransmits
            ) {
                write_error.get_or_insert(e);
            }
        },
    )
    .map_err(anyhow::Error::msg)?;
    if let Some(e) = write_error {
        return Err(e.into());
    }
    if attempts.evicted > 0 {
        eprintln!(
            "synack trace: {} open attempts evicted (more than {} at once)",
            attempts.evicted,
            synack_trace::attempts::MAX_OPEN
        );
    }
    Ok(ExitCode::SUCCESS)
}
