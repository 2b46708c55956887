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
    /// One self-contained HTML page from captures: RTT charts per server,
    /// outcomes and SYN retransmissions over time, the slowest and the
    /// failed attempts with ladders, options seen
    Report(ReportArgs),
    /// Show handshakes live from a network interface (AF_PACKET; needs CAP_NET_RAW)
    Capture(CaptureArgs),
    /// Measure TCP handshakes to targets and name the cause of every failure
    #[command(after_long_help = PROBE_AFTER)]
    Probe(ProbeArgs),
    /// Reproduce handshake trouble (delay, lost SYNs, RST, ICMP) between two
    /// network namespaces, and run your own client and server across it
    #[command(after_long_help = LAB_AFTER)]
    Lab(LabArgs),
    /// Listener health: accept and SYN queues, drops, kernel counters and
    /// SYN-flood alerts, refreshed every second (or once with --once)
    #[command(after_long_help = WATCH_AFTER)]
    Watch(WatchArgs),
    /// Check the handshake sysctls and listeners, with the reason and the fix
    Audit(AuditArgs),
    /// Recommend SYN-flood defences for this namespace's listeners (an
    /// nftables SYNPROXY ruleset, per-source limits, sysctls) as a diff
    /// against what is in place; --apply installs them, --revert removes
    /// exactly what --apply added
    #[command(after_long_help = HARDEN_AFTER)]
    Harden(HardenArgs),
    /// Diagnose a slow or failing connection to HOST:PORT: findings ranked,
    /// each with its evidence and the fix
    #[command(after_long_help = DOCTOR_AFTER)]
    Doctor(DoctorArgs),
    /// Every connection attempt this host makes or receives, from the
    /// kernel's tracepoints (eBPF), with the process behind it, and every
    /// handshake packet the kernel drops with its reason
    #[command(after_long_help = TRACE_AFTER)]
    Trace(TraceArgs),
    /// Serve listener health and handshake probes as Prometheus metrics
    #[command(after_long_help = EXPORT_AFTER)]
    Export(ExportArgs),
    /// Print a shell completion script (e.g. `synack completions bash >
    /// /etc/bash_completion.d/synack`)
    Completions(CompletionsArgs),
    /// Print a manual page (roff): `synack man > synack.1`, `synack man
    /// probe > synack-probe.1`
    Man(ManArgs),
}

#[derive(Args, Debug)]
pub struct ManArgs {
    /// The command whose page to print (the overview without one)
    pub command: Option<String>,
}

#[derive(Args, Debug)]
pub struct CompletionsArgs {
    #[arg(value_enum)]
    pub shell: clap_complete::Shell,
}

const WATCH_AFTER: &str = "\
Listeners are sorted by trouble: the fuller of their two queues, and drops.
Both the accept queue and the SYN queue hold min(listen backlog,
net.core.somaxconn)+1 connections. Counter rates are over synack's own
samples, never nstat's shared history file. Alerts fire at their threshold
and clear after 3 calm refreshes: accept queue >= 90% full or dropping;
SYN-RECV >= half the SYN queue (at least 16); SYN cookies >= 100/s with no
half-open state to blame (tcp_syncookies=2); SYN-queue drops with
tcp_syncookies=0; TCP Fast Open failures.

Exit status of --once: 0 no alert; 1 an alert is in force; 2 an error.

Examples:
  synack watch
  synack watch --once --format json --netns blue
  synack watch --once --port 443 --processes";

const EXPORT_AFTER: &str = "\
Endpoints: /metrics (OpenMetrics text: per-listener queues, SYN-RECV and
drops labelled by address and port, socket states, kernel counters, handshake
sysctls) and /probe?target=HOST:PORT (handshake metrics from one connect;
&module=tls adds a TLS handshake timed apart, its version, the certificate's
days left and TLS failures by kind), for targets matching an --allow pattern
only: the exporter is not an open proxy, and with no --allow every probe is
refused.

--allow patterns: HOST:PORT, where HOST is a name, an address, a CIDR
prefix or *, and PORT a number or *: e.g. 10.0.0.0/8:443, db.internal:5432.

Examples:
  synack export
  synack export --listen 0.0.0.0:9917 --allow '10.0.0.0/8:*'";

/// Which records to keep, the same flags for files and interfaces.
#[derive(Args, Debug, Clone)]
pub struct FilterArgs {
    /// Only attempts with this address at either end (repeatable)
    #[arg(long, value_name = "IP")]
    pub host: Vec<std::net::IpAddr>,
    /// Only attempts with this port at either end (repeatable)
    #[arg(long, value_name = "PORT")]
    pub port: Vec<u16>,
    /// Only attempts with an end inside this network, e.g. 10.0.0.0/8 (repeatable)
    #[arg(long, value_name = "CIDR")]
    pub net: Vec<ipnet::IpNet>,
}

impl FilterArgs {
    pub fn filter(&self) -> synack_core::filter::Filter {
        synack_core::filter::Filter::new(self.host.clone(), self.port.clone(), self.net.clone())
    }
}

/// Which network namespace to read.
#[derive(Args, Debug, Clone)]
pub struct NetnsArg {
    /// Read this network namespace instead of the current one: a name
    /// under /run/netns or a path such as /proc/PID/ns/net
    #[arg(long, value_name = "NAME|PATH")]
    pub netns: Option<String>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum HostFormat {
    /// Tables for people
    Table,
    /// One JSON document
    Json,
}

#[derive(Args, Debug)]
pub struct WatchArgs {
    #[command(flatten)]
    pub netns: NetnsArg,
    /// Print one snapshot (two samples --interval apart, for the rates) and exit
    #[arg(long)]
    pub once: bool,
    /// Time between refreshes (3, 3s, 250ms; at least 50ms)
    #[arg(long, value_name = "TIME", default_value = "1s", value_parser = parse_refresh)]
    pub interval: std::time::Duration,
    /// Output of --once and of the plain (non-terminal) mode
    #[arg(long, value_enum, default_value_t = HostFormat::Table)]
    pub format: HostFormat,
    /// Only listeners on these ports (repeatable)
    #[arg(long, value_name = "PORT")]
    pub port: Vec<u16>,
    /// Show the processes holding each listener (walks /proc: costly with
    /// many processes)
    #[arg(long)]
    pub processes: bool,
    /// Skip counting every socket by state (a walk of the whole table);
    /// listeners, SYN-RECV and counters are still read
    #[arg(long)]
    pub no_states: bool,
    /// Print plain refreshes even on a terminal (no dashboard)
    #[arg(long)]
    pub plain: bool,
}

#[derive(Args, Debug)]
pub struct AuditArgs {
    #[command(flatten)]
    pub netns: NetnsArg,
    #[arg(long, value_enum, default_value_t = HostFormat::Table)]
    pub format: HostFormat,
}

const HARDEN_AFTER: &str = "\
What it recommends, for each port (default: every listener not on loopback):
  SYNPROXY           netfilter answers SYNs with cookies; the server sees only
                     completed handshakes (needs TCP timestamps and
                     nf_conntrack_tcp_loose=0, set with it)
  per-source limits  over 50 SYNs/s (burst 100) or 256 connections from one
                     address are dropped: backstops generous enough for NAT
  sysctls            tcp_syncookies=1, somaxconn and tcp_max_syn_backlog 4096,
                     tcp_synack_retries=3
Everything goes in one nftables table, inet synack_harden, installed in one
transaction; the sysctls changed and their old values are recorded under
/run/synack, so that --revert restores them and deletes the table, leaving
the ruleset as it was. Where nftables lacks the synproxy expression, the
iptables-nft rules are shown instead (and applied with --apply).

Examples:
  synack harden                      # what it would change here
  sudo synack harden --port 443 --apply
  sudo synack harden --netns blue --revert";

#[derive(Args, Debug)]
pub struct HardenArgs {
    #[command(flatten)]
    pub netns: NetnsArg,
    /// Port to protect (repeatable; default: every listener not on loopback)
    #[arg(long = "port", value_name = "PORT")]
    pub ports: Vec<u16>,
    /// Install the recommendations in this namespace (root)
    #[arg(long, conflicts_with = "revert")]
    pub apply: bool,
    /// Remove what --apply installed, and restore the sysctls it changed
    #[arg(long)]
    pub revert: bool,
    #[arg(long, value_enum, default_value_t = HostFormat::Table)]
    pub format: HostFormat,
}

#[derive(Args, Debug)]
pub struct ExportArgs {
    #[command(flatten)]
    pub netns: NetnsArg,
    /// Address to serve on (only loopback unless told otherwise)
    #[arg(long, value_name = "ADDR:PORT", default_value = "127.0.0.1:9917")]
    pub listen: std::net::SocketAddr,
    /// Targets /probe may connect to (repeatable; none: /probe is refused)
    #[arg(long, value_name = "HOST:PORT")]
    pub allow: Vec<String>,
    /// Answer a /probe within this time, name lookup included
    #[arg(long, value_name = "TIME", default_value = "3s", value_parser = parse_positive_duration)]
    pub probe_timeout: std::time::Duration,
    /// Close a connection whose request has not fully arrived in this time
    #[arg(long, value_name = "TIME", default_value = "5s", value_parser = parse_positive_duration)]
    pub read_timeout: std::time::Duration,
    /// Connections open at once; more are answered 503 and closed
    #[arg(long, value_name = "N", default_value_t = 1024)]
    pub max_connections: usize,
    /// Connections open at once from one client (an IPv4 address or an IPv6 /64)
    #[arg(long, value_name = "N", default_value_t = 32)]
    pub max_per_client: usize,
    /// Also capture handshakes live on this interface (CAP_NET_RAW) and
    /// publish their RTT and setup-time histograms and outcomes per service
    /// (at most 64 services and 32 client prefixes get labels of their own)
    #[arg(long, value_name = "IFACE")]
    pub capture: Option<String>,
    /// Also trace the host's handshakes from the kernel (root, a synack
    /// built with the ebpf feature) and publish per-process and
    /// per-listener outcome counters, connect and accept-queue-wait
    /// histograms, drops by reason, and the events lost
    #[arg(long)]
    pub trace: bool,
    /// Label listeners with their processes (walks /proc on every scrape)
    #[arg(long)]
    pub processes: bool,
}

const PROBE_AFTER: &str = "\
Causes: established; refused (RST answered the SYN); unreachable (ICMP type,
code and sender from the socket's error queue, or no ARP/ND answer);
timeout (no answer, with the number of SYNs sent); local_error (no route, no
free port, no file descriptor). Connections close with RST so no TIME_WAIT
is left (--graceful-close to send FIN). Handshake time is measured around
the connect() and readiness edges with the monotonic clock (error: a few µs).

Exit status: 0 every attempt established; 1 some attempt failed; 2 usage
error or a target that does not resolve.

Examples:
  synack probe example.com:443 -c 5
  synack probe 10.0.0.5:5432 [::1]:8080 -c 100 -i 0.1 --format json";

#[derive(Args, Debug)]
pub struct CaptureArgs {
    /// The interface to capture on, or `any` for all of them (read from
    /// the IP header on, as tcpdump's cooked capture does)
    #[arg(short = 'i', long, value_name = "IFACE")]
    pub interface: String,
    #[command(flatten)]
    pub netns: NetnsArg,
    #[command(flatten)]
    pub filter: FilterArgs,
    /// Stop after this many handshakes
    #[arg(short = 'c', long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..))]
    pub count: Option<u64>,
    /// Stop after this long (3, 3s, 250ms)
    #[arg(long, value_name = "TIME", value_parser = parse_positive_duration)]
    pub duration: Option<std::time::Duration>,
    /// Put the interface in promiscuous mode (see traffic not addressed to this host)
    #[arg(long)]
    pub promisc: bool,
    /// Kernel buffer for frames waiting to be read, in KiB; frames beyond it
    /// are dropped and the drops reported
    #[arg(long, value_name = "KIB", default_value_t = 8192)]
    pub buffer_kib: usize,
    /// Also write every frame to this pcapng file (re-analyze it with `synack analyze`)
    #[arg(short = 'w', long, value_name = "FILE")]
    pub write: Option<PathBuf>,
    #[command(flatten)]
    pub out: LiveOutputArgs,
}

/// Where a live source's handshakes go (`capture`, `trace`): lines as
/// they are decided and a summary, or records; a file; an HTML report.
#[derive(Args, Debug)]
pub struct LiveOutputArgs {
    /// Also write an HTML report of the handshakes to this file at the end
    #[arg(long, value_name = "FILE.html")]
    pub report: Option<PathBuf>,
    /// Write the records to this file instead of standard output (needed
    /// for --format parquet)
    #[arg(short, long, value_name = "FILE")]
    pub output: Option<PathBuf>,
    /// Output: a line per handshake (and, tracing, per drop) as it is
    /// decided and a summary, or records
    #[arg(short, long, value_enum, default_value_t = Format::Summary)]
    pub format: Format,
}

impl LiveOutputArgs {
    /// Lines as they come: the summary format.
    pub fn lines(&self) -> bool {
        self.format == Format::Summary
    }

    /// The records' sink, and the report's when asked (`source` names
    /// the input in it).
    pub fn sink(&self, source: &str) -> anyhow::Result<Box<dyn synack_render::Sink>> {
        let sink = self.format.sink(self.output.as_deref())?;
        Ok(match &self.report {
            Some(path) => Box::new(synack_render::Tee(
                sink,
                crate::analyze::report_sink(path, &[PathBuf::from(source)])?,
            )),
            None => sink,
        })
    }
}

#[derive(Args, Debug)]
pub struct ProbeArgs {
    /// Targets: host:port, IPv4:port or [IPv6]:port
    #[arg(required_unless_present_any = ["reuse", "cures"], value_name = "TARGET")]
    pub targets: Vec<String>,
    /// Raw SYN mode: send bare SYNs (half-open, like hping3 -S / nmap -sS),
    /// time the SYN-ACK, RST or ICMP, decode the SYN-ACK's options, count
    /// every reply; needs CAP_NET_RAW
    #[arg(long, conflicts_with_all = ["tfo", "reuse", "cures"])]
    pub syn: bool,
    /// Options of the raw SYN: mss=N, ws=N, sack, ts, tfo (cookie request),
    /// comma-separated, or none (default: what Linux sends)
    #[arg(
        long,
        value_name = "LIST",
        requires = "syn",
        default_value = "mss=1460,sack,ts,ws=7"
    )]
    pub syn_options: String,
    /// Measure what connection reuse saves: the same -c requests (default
    /// 10) to this http:// or https:// URL with a new connection each and
    /// over one keep-alive connection
    #[arg(long, value_name = "URL", conflicts_with_all = ["targets", "cures"])]
    pub reuse: Option<String>,
    /// Measure every cure for handshake latency on the path to this URL:
    /// --requests GETs, --concurrency at a time, made with a new connection
    /// each, keep-alive, TCP Fast Open, TLS resumption, 0-RTT, TFO with
    /// 0-RTT and HTTP/2; a table of what each saves and what the server
    /// supports
    #[arg(long, value_name = "URL", conflicts_with_all = ["targets", "tfo", "tls"])]
    pub cures: Option<String>,
    /// With --cures: the number of requests in the pattern
    #[arg(long, value_name = "N", default_value_t = 10, requires = "cures", value_parser = clap::value_parser!(u32).range(1..=100_000))]
    pub requests: u32,
    /// Attempts per target (default: until Ctrl-C)
    #[arg(short = 'c', long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..))]
    pub count: Option<u32>,
    /// Time between rounds (1, 0.2, 250ms; 0 for none)
    #[arg(short = 'i', long, value_name = "TIME", default_value = "1s", value_parser = parse_duration)]
    pub interval: std::time::Duration,
    /// Stop after this long in all
    #[arg(short = 'w', long, value_name = "TIME", value_parser = parse_positive_duration)]
    pub deadline: Option<std::time::Duration>,
    /// Give up on one attempt after this long
    #[arg(long, value_name = "TIME", default_value = "3s", value_parser = parse_positive_duration)]
    pub timeout: std::time::Duration,
    /// Attempts in flight at once (many targets, or load)
    #[arg(long, value_name = "N", default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..=100_000))]
    pub concurrency: u32,
    /// Try a failed attempt again up to N times, with exponential backoff
    /// and jitter from --backoff; records say how many tries and what they cost
    #[arg(long, value_name = "N", default_value_t = 0)]
    pub retries: u32,
    /// First wait before a retry (doubles each time, plus up to 25% jitter)
    #[arg(long, value_name = "TIME", default_value = "200ms", value_parser = parse_duration)]
    pub backoff: std::time::Duration,
    /// Start at most this many attempts per second in all (overrides -i)
    #[arg(long, value_name = "R")]
    pub rate: Option<f64>,
    /// Use IPv4 addresses only
    #[arg(short = '4', conflicts_with = "ipv6")]
    pub ipv4: bool,
    /// Use IPv6 addresses only
    #[arg(short = '6')]
    pub ipv6: bool,
    /// Source address (and port) to connect from
    #[arg(long, value_name = "IP[:PORT]")]
    pub source: Option<String>,
    /// Send from this interface (SO_BINDTODEVICE; needs CAP_NET_RAW)
    #[arg(long, value_name = "IFACE")]
    pub interface: Option<String>,
    /// Probe every address the name resolves to (in Happy Eyeballs order,
    /// RFC 8305: the resolver's order, families alternating), not only the first
    #[arg(long)]
    pub all_addresses: bool,
    /// Close with FIN instead of RST (leaves TIME_WAIT on this host)
    #[arg(long)]
    pub graceful_close: bool,
    /// Connect with TCP Fast Open, offering this request in the SYN, and
    /// report tfo_result (cookie_requested, data_accepted, fallback, blocked)
    #[arg(long, value_name = "DATA", num_args = 0..=1, default_missing_value = "GET / HTTP/1.0\r\n\r\n")]
    pub tfo: Option<String>,
    /// After the TCP handshake, a TLS handshake (rustls), timed apart:
    /// version, cipher, ALPN, resumption, and the cause when it fails
    #[arg(long)]
    pub tls: bool,
    /// With --tls, --cures or --reuse: the server name to ask for
    /// (default: the target's host)
    #[arg(long, value_name = "NAME")]
    pub sni: Option<String>,
    /// With --tls: the protocols to offer, in order (h2,http/1.1)
    #[arg(long, value_name = "PROTOCOLS", value_delimiter = ',')]
    pub alpn: Vec<String>,
    /// With --tls, --cures or --reuse: measure even when the certificate
    /// does not verify
    #[arg(long)]
    pub insecure: bool,
    /// With --tls: GET this URL's path after the handshake and time the
    /// first byte of the answer (first_response_us); once a ticket allows,
    /// the request goes as 0-RTT early data (early_data: accepted or rejected)
    #[arg(long, value_name = "URL", requires = "tls")]
    pub url: Option<String>,
    /// Output: live lines and a summary, or one record per attempt
    #[arg(short, long, value_enum, default_value_t = ProbeFormat::Summary)]
    pub format: ProbeFormat,
    /// Also write an HTML report of the attempts to this file at the end
    #[arg(long, value_name = "FILE.html")]
    pub report: Option<PathBuf>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum ProbeFormat {
    /// Ping-like lines and a summary per target
    Summary,
    /// One JSON record per attempt (NDJSON, the Handshake schema with probe fields)
    Json,
    /// One CSV row per attempt, with a header
    Csv,
}

const LAB_AFTER: &str = "\
Both commands get the lab's addresses in the environment: SYNACK_SERVER,
SYNACK_SERVER6, SYNACK_CLIENT, SYNACK_CLIENT6, SYNACK_DEAD_HOST(6) (on the
subnet, nobody answers), SYNACK_CLIENT_NS, SYNACK_SERVER_NS. Nothing leaves
the lab: its namespaces have no default route. Needs root and iptables.

Examples:
  synack lab run --delay 100ms --drop-syn 1 --server 'python3 -m http.server 8080' \\
      -- sh -c 'curl -s -o /dev/null -w \"%{time_connect}\\n\" http://$SYNACK_SERVER:8080/'
  synack lab run --reject-icmp admin -- sh -c 'synack probe [$SYNACK_SERVER6]:443 -c 1'
  synack lab --list";

#[derive(Args, Debug)]
pub struct LabArgs {
    /// Describe each impairment in one line, with its flag
    #[arg(long)]
    pub list: bool,

    #[command(subcommand)]
    pub action: Option<LabAction>,
}

#[derive(Subcommand, Debug)]
pub enum LabAction {
    /// Build a lab, start the server command in the server namespace, run the
    /// client command in the client namespace, tear everything down
    Run(LabRunArgs),
    /// Build a lab and keep it (and its delayer) until Ctrl-C or `synack lab down`
    Up(LabUpArgs),
    /// Run your own client command once per standard handshake fault, each
    /// in a lab of its own, and show how long it waited and what it did
    #[command(after_long_help = MATRIX_AFTER)]
    Matrix(LabMatrixArgs),
    /// A spoofed SYN flood at the lab's server while legitimate clients
    /// connect at a steady rate, once per defence: what each defence
    /// leaves the legitimate clients
    #[command(after_long_help = DRILL_AFTER)]
    Drill(LabDrillArgs),
    /// Remove labs: those left by killed runs, or every lab with --all
    Down {
        /// The lab to remove (its id, PID-N, from `synack lab status`);
        /// without one, the labs whose process is gone
        #[arg(value_name = "ID", conflicts_with = "all")]
        id: Option<String>,
        /// Also remove labs whose process is still running
        #[arg(long)]
        all: bool,
    },
    /// List the labs that exist now
    Status,
    /// Removes lab ID once process OWNER is gone (started by `lab run` so
    /// that a killed run leaves nothing running)
    #[command(hide = true)]
    Reap { owner: u32, id: String },
}

#[derive(Args, Debug, Clone)]
pub struct ImpairArgs {
    /// Add this much to the round trip (half each way, at the client): 100ms, 0.25s
    #[arg(long, value_name = "TIME", value_parser = parse_duration)]
    pub delay: Option<std::time::Duration>,
    /// Vary each packet's delay by up to ± this much (packet order is kept)
    #[arg(long, value_name = "TIME", value_parser = parse_duration, requires = "delay")]
    pub jitter: Option<std::time::Duration>,
    /// Delay only SYN and SYN-ACK, keep data at full speed
    #[arg(long, requires = "delay")]
    pub handshake_only: bool,
    /// Put all of the delay on the way to the server
    #[arg(long, requires = "delay")]
    pub one_way: bool,
    /// Drop the first N SYNs of every connection
    #[arg(long, value_name = "N")]
    pub drop_syn: Option<u32>,
    /// Drop the first N SYN-ACKs of every connection
    #[arg(long, value_name = "N")]
    pub drop_synack: Option<u32>,
    /// Drop each SYN with probability P (0..1)
    #[arg(long, value_name = "P", value_parser = parse_probability)]
    pub drop_syn_rate: Option<f64>,
    /// Drop SYNs that carry data (TCP Fast Open), as some middleboxes do
    #[arg(long)]
    pub drop_syn_data: bool,
    /// Drop each SYN-ACK with probability P (0..1)
    #[arg(long, value_name = "P", value_parser = parse_probability)]
    pub drop_synack_rate: Option<f64>,
    /// The server answers SYNs with RST
    #[arg(long)]
    pub reject_rst: bool,
    /// The server answers SYNs with an ICMP error
    #[arg(long, value_name = "KIND", value_parser = ["host", "net", "port", "admin"])]
    pub reject_icmp: Option<String>,
    /// PMTU black hole: the router drops packets towards the client of this
    /// many bytes or more, and sends no ICMP "fragmentation needed"
    #[arg(long, value_name = "BYTES", value_parser = clap::value_parser!(u16).range(68..))]
    pub drop_large: Option<u16>,
    /// Limit --reject-rst and --reject-icmp to SYNs for this port
    #[arg(long, value_name = "PORT")]
    pub port: Option<u16>,
    /// Client sysctl net.ipv4.tcp_syn_retries (how long connect() tries)
    #[arg(long, value_name = "N")]
    pub syn_retries: Option<u32>,
    /// Server sysctl net.ipv4.tcp_synack_retries
    #[arg(long, value_name = "N")]
    pub synack_retries: Option<u32>,
    /// Server sysctl net.ipv4.tcp_syncookies (0, 1 or 2)
    #[arg(long, value_name = "N")]
    pub syncookies: Option<u32>,
    /// Server sysctl net.core.somaxconn (caps every listener's backlog)
    #[arg(long, value_name = "N")]
    pub somaxconn: Option<u32>,
    /// Any other sysctl in one namespace, e.g. client:net.ipv4.tcp_syn_linear_timeouts=0
    /// or server:net.ipv4.tcp_abort_on_overflow=1 (repeatable)
    #[arg(long, value_name = "SIDE:KEY=VALUE", value_parser = parse_sysctl)]
    pub sysctl: Vec<(bool, String, String)>,
    /// Open a listener on this server port that never accepts (see --backlog)
    #[arg(long, value_name = "PORT")]
    pub stuck_listener: Option<u16>,
    /// Accept-queue length of --stuck-listener (the queue holds N + 1)
    #[arg(
        long,
        value_name = "N",
        default_value_t = 8,
        requires = "stuck_listener"
    )]
    pub backlog: i32,
    /// Send N SYNs from a spoofed source to --flood-port before the client starts
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..=1_000_000))]
    pub flood: Option<u32>,
    /// Port the flood targets
    #[arg(long, value_name = "PORT", default_value_t = 8080, requires = "flood")]
    pub flood_port: u16,
    /// Flood over IPv6 instead of IPv4
    #[arg(long, requires = "flood")]
    pub flood6: bool,
    /// Write every frame on the server's end of the link to this pcapng file
    #[arg(long, value_name = "FILE")]
    pub capture: Option<std::path::PathBuf>,
    /// Capture on the client's end instead (where the application runs)
    #[arg(long, requires = "capture")]
    pub capture_client: bool,
}

#[derive(Args, Debug)]
pub struct LabRunArgs {
    #[command(flatten)]
    pub impair: ImpairArgs,
    /// Shell command for the server namespace (runs until the client is done)
    #[arg(long, value_name = "CMD")]
    pub server: Option<String>,
    /// How long to wait for the server to listen before starting the client
    #[arg(long, value_name = "TIME", value_parser = parse_duration, default_value = "10s")]
    pub ready_timeout: std::time::Duration,
    /// The client command and its arguments, after `--`
    #[arg(last = true, required = true, value_name = "CLIENT")]
    pub client: Vec<String>,
}

const DOCTOR_AFTER: &str = "\
Looks at the name (every address, lookup time), this host's side (route,
MTU, conntrack, ephemeral ports, net.ipv4.tcp_syn_retries, local firewall
rules for the port, as root), --count connects to each address in the order
clients try them (the cause of each failure; lost SYN or SYN-ACK from
TCP_INFO), the listener itself when it is on this host or in --netns
(accept queue, SYN-RECV, overflows, SYN cookies), with --url whether an
answer of full-size segments arrives (a PMTU black hole) and what keep-alive
saves, with --tfo whether the path lets a SYN carry data, and as root a raw
SYN where connect() heard nothing (this host's own firewall, or the path). Findings print worst first; their codes (JSON `finding`)
are listed in docs/DOCTOR.md.

Exit status: 0 healthy; 1 something to fix; 2 usage errors.

Examples:
  synack doctor example.com:443
  synack doctor db.internal:5432 --count 10 --format json
  sudo synack doctor 10.0.0.5:8080 --netns blue";

#[derive(Args, Debug)]
pub struct DoctorArgs {
    /// The target, HOST:PORT ([IPv6]:PORT)
    pub target: String,
    /// Connects per address
    #[arg(short, long, value_name = "N", default_value_t = 5, value_parser = clap::value_parser!(u32).range(1..=1000))]
    pub count: u32,
    /// Give up on one connect after this long
    #[arg(long, value_name = "TIME", value_parser = parse_duration, default_value = "3s")]
    pub timeout: std::time::Duration,
    /// Also fetch this http:// URL: what keep-alive saves, whether requests
    /// complete after the handshake (a PMTU black hole)
    #[arg(long, value_name = "URL")]
    pub url: Option<String>,
    /// Also try TCP Fast Open: whether the path lets a SYN carry data
    #[arg(long)]
    pub tfo: bool,
    #[command(flatten)]
    pub netns: NetnsArg,
    /// Findings as text, or one JSON document
    #[arg(short, long, value_enum, default_value_t = DoctorFormat::Text)]
    pub format: DoctorFormat,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum DoctorFormat {
    Text,
    Json,
}

const MATRIX_AFTER: &str = "\
The command runs in the lab's client namespace with SYNACK_URL
(http://server.synack.test:PORT/), SYNACK_NAME (server.synack.test, a name
that only resolves inside the lab; its addresses are the row's), SYNACK_PORT
and the lab's addresses (SYNACK_SERVER, SYNACK_SERVER6, ...). A small HTTP
server answers on PORT with --body bytes, or --server runs yours. Faults (--only takes their codes):
baseline, syn_black_hole, first_syn_lost, first_synack_lost, rst, icmp_host,
icmp_port, icmp_admin, synack_delayed_2s, accept_queue_full, dead_first_v4,
dead_second_v4, dead_first_v6, dead_second_v6, aaaa_black_hole,
pmtu_black_hole.

Verdicts: ok; over budget (took longer than --expect-timeout); gave up too
soon (failed where a retry, the next address or patience gets through);
failed (a fault that does not pass, within the budget); killed (at --limit).

Exit status: 0 every row within budget and no recoverable fault given up
on; 1 otherwise; 2 usage errors. Needs root.

Examples:
  synack lab matrix -- curl -sS -o /dev/null \"$SYNACK_URL\"
  synack lab matrix --expect-timeout 5s -- sh -c 'curl -sS --connect-timeout 3 -o /dev/null \"$SYNACK_URL\"'
  synack lab matrix --only baseline,syn_black_hole -- python3 -c 'import os,socket; socket.create_connection((os.environ[\"SYNACK_NAME\"], 8080), timeout=10)'";

#[derive(Args, Debug)]
pub struct LabMatrixArgs {
    /// The application's time budget: rows that take longer are flagged
    #[arg(long, value_name = "TIME", value_parser = parse_duration)]
    pub expect_timeout: Option<std::time::Duration>,
    /// Only these faults (comma-separated codes; see below)
    #[arg(long, value_name = "FAULTS", value_delimiter = ',')]
    pub only: Vec<String>,
    /// Kill the command after this long
    #[arg(long, value_name = "TIME", value_parser = parse_duration, default_value = "180s")]
    pub limit: std::time::Duration,
    /// Rows run at once, each in its own lab
    #[arg(long, value_name = "N", default_value_t = 4, value_parser = clap::value_parser!(u32).range(1..=32))]
    pub jobs: u32,
    /// The lab server's port
    #[arg(long, value_name = "PORT", default_value_t = 8080)]
    pub port: u16,
    /// Bytes the lab server sends in its answer
    #[arg(long, value_name = "BYTES", default_value_t = 65536)]
    pub body: usize,
    /// Serve the port with this shell command in the server namespace
    /// instead of the built-in HTTP server (a database, your own service);
    /// each row starts it once it listens on --port
    #[arg(long, value_name = "CMD")]
    pub server: Option<String>,
    /// A table, or one JSON record per row
    #[arg(short, long, value_enum, default_value_t = MatrixFormat::Table)]
    pub format: MatrixFormat,
    /// The client command and its arguments, after `--`
    #[arg(last = true, required = true, value_name = "CLIENT")]
    pub client: Vec<String>,
}

const DRILL_AFTER: &str = "\
Defences (each in a lab of its own, on the server's namespace only):
  none       tcp_syncookies=0, backlog 128
  cookies    tcp_syncookies=1 (cookies when a SYN queue is full)
  cookies2   tcp_syncookies=2 (cookies for every SYN)
  synproxy   nftables SYNPROXY on the port (with tcp_syncookies=1)
  hashlimit  at most 5 SYNs/s per source (burst 10), cookies off
  connlimit  at most 10 connections per source, cookies off
  backlog    backlog, somaxconn and tcp_max_syn_backlog 65535, cookies off

The flood comes from 65,536 spoofed sources (a new address and port for
each SYN); the server's answers to them are discarded by the router.
Legitimate clients connect from the client namespace, each given
--client-timeout (the kernel retransmits the SYN meanwhile). The table in
docs/DEFENCES.md was measured with it.

Examples:
  sudo synack lab drill --flood 2000 --duration 10s
  sudo synack lab drill --flood 5000 --defense none,cookies,synproxy --format json";

#[derive(Args, Debug)]
pub struct LabDrillArgs {
    /// Spoofed SYNs per second
    #[arg(long, value_name = "RATE", value_parser = clap::value_parser!(u32).range(1..=1_000_000))]
    pub flood: u32,
    /// How long each defence is flooded
    #[arg(long, value_name = "TIME", default_value = "10s", value_parser = parse_positive_duration)]
    pub duration: std::time::Duration,
    /// Defences to compare, comma-separated (default: all)
    #[arg(long, alias = "defence", value_name = "LIST", value_delimiter = ',')]
    pub defense: Vec<String>,
    /// Legitimate connects per second during the flood
    #[arg(long, value_name = "N", default_value_t = 20, value_parser = clap::value_parser!(u32).range(1..=10_000))]
    pub clients: u32,
    /// How long a legitimate client waits for its handshake
    #[arg(long, value_name = "TIME", default_value = "3s", value_parser = parse_positive_duration)]
    pub client_timeout: std::time::Duration,
    /// Output: a table, or one JSON document
    #[arg(short, long, value_enum, default_value_t = MatrixFormat::Table)]
    pub format: MatrixFormat,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum MatrixFormat {
    Table,
    Json,
}

#[derive(Args, Debug)]
pub struct LabUpArgs {
    #[command(flatten)]
    pub impair: ImpairArgs,
}

/// `100ms`, `0.25s`, `500us`, or a bare number of milliseconds.
/// Every time flag takes the same syntax: seconds (`3`, `0.5`) or a number
/// with a unit (`3s`, `250ms`, `100us`, `2m`), from 0 to 1 day.
pub fn parse_duration(s: &str) -> Result<std::time::Duration, String> {
    let t = s.trim();
    let (num, scale) = if let Some(v) = t.strip_suffix("ms") {
        (v, 1e-3)
    } else if let Some(v) = t.strip_suffix("us").or_else(|| t.strip_suffix("µs")) {
        (v, 1e-6)
    } else if let Some(v) = t.strip_suffix('s') {
        (v, 1.0)
    } else if let Some(v) = t.strip_suffix('m') {
        (v, 60.0)
    } else {
        (t, 1.0)
    };
    let v: f64 = num
        .trim()
        .parse()
        .map_err(|_| format!("{s:?} is not a time like 3, 3s or 250ms"))?;
    let secs = v * scale;
    if !(0.0..=86_400.0).contains(&secs) {
        return Err(format!("{s:?} is out of range (0 to 1 day)"));
    }
    Ok(std::time::Duration::from_secs_f64(secs))
}

/// A refresh interval: 50 ms to 1 hour.
pub fn parse_refresh(s: &str) -> Result<std::time::Duration, String> {
    let d = parse_duration(s)?;
    if d < std::time::Duration::from_millis(50) || d > std::time::Duration::from_secs(3600) {
        return Err(format!("{s:?}: a refresh interval is 50ms to 1 hour"));
    }
    Ok(d)
}

/// A time that must be above zero.
pub fn parse_positive_duration(s: &str) -> Result<std::time::Duration, String> {
    let d = parse_duration(s)?;
    if d.is_zero() {
        return Err(format!("{s:?}: must be above 0"));
    }
    Ok(d)
}

fn parse_probability(s: &str) -> Result<f64, String> {
    match s.parse::<f64>() {
        Ok(p) if (0.0..=1.0).contains(&p) => Ok(p),
        _ => Err(format!("{s:?} is not a probability between 0 and 1")),
    }
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
    /// A Parquet file (-o FILE): the CSV columns with their types
    #[cfg(feature = "parquet")]
    Parquet,
}

impl Format {
    /// Where the records go: stdout in the text formats, or the file
    /// `-o` names (required for Parquet).
    pub fn sink(
        self,
        output: Option<&std::path::Path>,
    ) -> anyhow::Result<Box<dyn synack_render::Sink>> {
        use anyhow::Context as _;
        use synack_render::RecordFormat;
        let format = match self {
            Format::Summary => RecordFormat::Summary,
            Format::Json => RecordFormat::Json,
            Format::Csv => RecordFormat::Csv,
            Format::Zeek => RecordFormat::Zeek,
            #[cfg(feature = "parquet")]
            Format::Parquet => {
                let path = output.context("--format parquet writes a file: give -o FILE")?;
                let file = std::fs::File::create(path)
                    .with_context(|| format!("creating {}", path.display()))?;
                return Ok(Box::new(synack_render::parquet::ParquetSink::new(
                    std::io::BufWriter::new(file),
                )?));
            }
        };
        Ok(match output {
            Some(path) => {
                let file = std::fs::File::create(path)
                    .with_context(|| format!("creating {}", path.display()))?;
                synack_render::sink(format, std::io::BufWriter::new(file))
            }
            None => synack_render::sink(
                format,
                std::io::BufWriter::with_capacity(1 << 16, std::io::stdout().lock()),
            ),
        })
    }
}

#[derive(Args, Debug)]
pub struct AnalyzeArgs {
    /// Capture files (pcap or pcapng, chosen by content); `-` reads standard input
    #[arg(required = true, value_name = "FILE")]
    pub files: Vec<PathBuf>,

    /// Output format
    #[arg(short, long, value_enum, default_value_t = Format::Summary)]
    pub format: Format,

    /// Write the records to this file instead of standard output
    #[arg(short, long, value_name = "FILE")]
    pub output: Option<PathBuf>,

    #[command(flatten)]
    pub filter: FilterArgs,

    /// Print one connection packet by packet: its client `IP:PORT`, or its
    /// index (1-based) among the records after filtering
    #[arg(long, value_name = "CLIENT|N")]
    pub flow: Option<String>,

    /// Most flows tracked at once (the least recently seen are evicted and
    /// counted) [default: 114688, which keeps a run under 256 MB]
    #[arg(long, value_name = "N")]
    pub max_flows: Option<usize>,

    /// Verify TCP checksums of SYN/FIN/RST segments and ignore bad ones, as Zeek
    /// does without -C (off: captures on a sending host carry offloaded checksums)
    #[arg(long)]
    pub verify_checksums: bool,

    /// Never show a progress bar
    #[arg(long)]
    pub no_progress: bool,

    /// Also write the input to this pcapng file with a comment on each
    /// SYN, SYN-ACK, RST and ICMP error saying what synack decided about
    /// its attempt (Wireshark shows them as packet comments)
    #[arg(long, value_name = "OUT.pcapng")]
    pub annotate: Option<PathBuf>,

    /// Also write an HTML report of the records to this file
    #[arg(long, value_name = "FILE.html")]
    pub report: Option<PathBuf>,

    /// Write only the report (`synack report`)
    #[arg(skip)]
    pub report_only: bool,
}

#[derive(Args, Debug)]
pub struct TraceArgs {
    /// Stop after this long (until interrupted without it)
    #[arg(long, value_name = "TIME", value_parser = parse_positive_duration)]
    pub duration: Option<std::time::Duration>,
    /// Only attempts to or from this port (either end)
    #[arg(long, value_name = "PORT")]
    pub port: Option<u16>,
    /// Only attempts of this process (its pid, as connect() or accept()
    /// caller)
    #[arg(long, value_name = "PID")]
    pub pid: Option<u32>,
    /// Only attempts of processes with this command name
    #[arg(long, value_name = "NAME")]
    pub comm: Option<String>,
    /// Only this network namespace: a name under /run/netns, a path such
    /// as /proc/PID/ns/net, or its inode number
    #[arg(long, value_name = "NAME|PATH|INODE")]
    pub netns: Option<String>,
    /// Ring buffer for events waiting to be read, in KiB (a power of two);
    /// events beyond it are lost and reported
    #[arg(long, value_name = "KIB", default_value_t = 16384)]
    pub buffer_kib: u64,
    #[command(flatten)]
    pub out: LiveOutputArgs,
}

#[cfg(feature = "ebpf")]
impl TraceArgs {
    /// `--buffer-kib` in bytes, if the kernel can make a ring of it.
    pub fn ring_bytes(&self) -> anyhow::Result<u32> {
        let bytes = self.buffer_kib.saturating_mul(1024);
        if let Some(e) = synack_trace::tracer::ring_size_error(bytes) {
            anyhow::bail!("--buffer-kib {e}");
        }
        // At most 1 GiB, checked just above.
        Ok(bytes as u32)
    }
}

const TRACE_AFTER: &str = "\
Needs root, or CAP_BPF and CAP_PERFMON, and a synack built with the ebpf
feature. Tracepoints see every network namespace of the host: --netns
narrows it to one.

A line per attempt, as the kernel decides it:
  client attempts (connect) end established, refused (ECONNREFUSED),
  timeout (ETIMEDOUT), unreachable (an ICMP error) or local_error;
  received ones are written when accept() takes them, with the time they
  waited in the accept queue.
A line per handshake packet dropped (SYN or SYN-ACK), with the kernel's
reason and the listener. Events the ring buffer could not hold are
counted and reported, like capture drops.

Examples:
  synack trace --duration 30s
  synack trace --comm curl --format json
  synack trace --port 443 --netns blue";

#[derive(Args, Debug)]
pub struct ReportArgs {
    /// Capture files (pcap or pcapng, also compressed); `-` reads standard input
    #[arg(required = true, value_name = "FILE")]
    pub files: Vec<PathBuf>,
    /// The HTML file to write
    #[arg(short, long, value_name = "FILE.html")]
    pub output: PathBuf,
    #[command(flatten)]
    pub filter: FilterArgs,
    /// Never show a progress bar
    #[arg(long)]
    pub no_progress: bool,
}

/// `client:KEY=VALUE` or `server:KEY=VALUE` -> (is_server, key, value).
fn parse_sysctl(s: &str) -> Result<(bool, String, String), String> {
    let (side, rest) = s
        .split_once(':')
        .ok_or("expected SIDE:KEY=VALUE, SIDE being client or server")?;
    let server = match side {
        "client" => false,
        "server" => true,
        _ => return Err(format!("{side:?} is not client or server")),
    };
    let (key, value) = rest
        .split_once('=')
        .ok_or("expected KEY=VALUE after the side")?;
    if !key.starts_with("net.") || key.contains("..") || key.contains('/') {
        return Err(format!("{key:?} is not a network sysctl (net.*)"));
    }
    Ok((server, key.to_string(), value.to_string()))
}
