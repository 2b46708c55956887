//! Every flag of the `synack` command, defined once: help, errors and the
//! value parsers come from here.

use clap::{Args, Parser, Subcommand, ValueEnum};
use std::path::PathBuf;

#[derive(Parser, Debug)]
#[command(
    name = "synack",
    version,
    about = "Make TCP 3-way handshakes visible, measurable and diagnosable",
    propagate_version = true
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Reconstruct every TCP handshake in pcap/pcapng captures
    #[command(after_long_help = ANALYZE_AFTER)]
    Analyze(AnalyzeArgs),
}

const ANALYZE_AFTER: &str = "\
Outcomes: established, refused (RST answered the SYN), unreachable (ICMP
error), timeout (SYNs without answer), half_open (SYN-ACK, no final ACK),
reset (RST after the SYN-ACK), incomplete (the capture ended first),
midstream (first seen after the handshake).

Exit status:
  0  every input was read to its end
  1  an input was damaged; everything read before the damage was reported
  2  usage error, or an input could not be opened or is not a capture

Examples:
  synack analyze trace.pcapng
  synack analyze --port 443 --format json trace.pcap | jq .rtt_us.total
  synack analyze trace.pcap --flow 10.0.0.5:51234
  tcpdump -w - -i eth0 | synack analyze -";

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Format {
    /// A summary for people
    Summary,
    /// One JSON record per attempt (NDJSON, schema v1)
    Json,
    /// One CSV row per attempt, with a header
    Csv,
    /// Zeek conn.log-style TSV with #fields
    Zeek,
}

#[derive(Args, Debug)]
pub struct AnalyzeArgs {
    /// Capture files (pcap or pcapng, chosen by content); `-` reads standard input
    #[arg(required = true, value_name = "FILE")]
    pub files: Vec<PathBuf>,

    /// Output format
    #[arg(short, long, value_enum, default_value_t = Format::Summary)]
    pub format: Format,

    /// Only attempts with this address at either end (repeatable)
    #[arg(long, value_name = "IP")]
    pub host: Vec<std::net::IpAddr>,

    /// Only attempts with this port at either end (repeatable)
    #[arg(long, value_name = "PORT")]
    pub port: Vec<u16>,

    /// Only attempts with an end inside this network, e.g. 10.0.0.0/8 (repeatable)
    #[arg(long, value_name = "CIDR")]
    pub net: Vec<ipnet::IpNet>,

    /// Print one connection packet by packet: its client `IP:PORT`, or its
    /// index (1-based) among the records after filtering
    #[arg(long, value_name = "CLIENT|N")]
    pub flow: Option<String>,

    /// Most flows tracked at once (the least recently seen are evicted and counted)
    #[arg(long, value_name = "N")]
    pub max_flows: Option<usize>,

    /// Verify TCP checksums of SYN/FIN/RST segments and ignore bad ones, as Zeek
    /// does without -C (off: captures on a sending host carry offloaded checksums)
    #[arg(long)]
    pub verify_checksums: bool,

    /// Never show a progress bar
    #[arg(long)]
    pub no_progress: bool,
}
