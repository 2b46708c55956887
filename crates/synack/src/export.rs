//! `synack export`: the arguments into the exporter's configuration; the
//! exporter itself is the `synack-export` crate.

use crate::cli::ExportArgs;
use anyhow::{Context as _, Result, bail};
use std::process::ExitCode;
use synack_export::{Allow, Config};
use synack_host::SnapshotOptions;

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
    let config = Config {
        allow,
        processes: args.processes,
        probe_budget,
        head_timeout,
        max_connections: args.max_connections,
        max_per_client: args.max_per_client,
    };
    synack_export::serve(listener, config, || eprintln!("{serving}")).context("serving")?;
    Ok(ExitCode::SUCCESS)
}
