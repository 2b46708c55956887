//! The `Handshake` record: one per connection attempt (4-tuple, VLAN and
//! client ISN), whatever observed it. Its JSON form is the public NDJSON
//! schema v1 of docs/SCHEMA.md; field names never change without a version bump.
//! Times are integer nanoseconds inside; JSON carries microseconds as floats.

use std::net::{IpAddr, SocketAddr};
use synack_wire::TcpOptions;

/// How the attempt ended, as seen where the packets were observed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Outcome {
    /// SYN, SYN-ACK and the completing ACK (or data from the client).
    Established,
    /// A RST answered the SYN.
    Refused,
    /// An ICMP destination-unreachable answered the SYN.
    Unreachable,
    /// SYNs without answer (the client gave up or was still trying).
    Timeout,
    /// A SYN-ACK was sent but the completing ACK never came.
    HalfOpen,
    /// A RST after the SYN-ACK, before the handshake completed.
    Reset,
    /// The capture ended while the attempt could still complete.
    Incomplete,
    /// First seen after the handshake: no SYN from the client.
    Midstream,
    /// A probe could not even try: no route, no free local port, no file
    /// descriptor (probe records only).
    LocalError,
}

impl Outcome {
    pub const ALL: [Outcome; 9] = [
        Outcome::Established,
        Outcome::Refused,
        Outcome::Unreachable,
        Outcome::Timeout,
        Outcome::HalfOpen,
        Outcome::Reset,
        Outcome::Incomplete,
        Outcome::Midstream,
        Outcome::LocalError,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Established => "established",
            Outcome::Refused => "refused",
            Outcome::Unreachable => "unreachable",
            Outcome::Timeout => "timeout",
            Outcome::HalfOpen => "half_open",
            Outcome::Reset => "reset",
            Outcome::Incomplete => "incomplete",
            Outcome::Midstream => "midstream",
            Outcome::LocalError => "local_error",
        }
    }

    /// True for outcomes where the attempt failed.
    pub fn is_failure(self) -> bool {
        matches!(
            self,
            Outcome::Refused
                | Outcome::Unreachable
                | Outcome::Timeout
                | Outcome::HalfOpen
                | Outcome::Reset
        )
    }
}

/// Zeek's conn.log `conn_state`, with Zeek's definitions.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ConnState {
    S0,
    S1,
    SF,
    REJ,
    S2,
    S3,
    RSTO,
    RSTR,
    RSTOS0,
    RSTRH,
    SH,
    SHR,
    OTH,
}

impl ConnState {
    pub fn as_str(self) -> &'static str {
        match self {
            ConnState::S0 => "S0",
            ConnState::S1 => "S1",
            ConnState::SF => "SF",
            ConnState::REJ => "REJ",
            ConnState::S2 => "S2",
            ConnState::S3 => "S3",
            ConnState::RSTO => "RSTO",
            ConnState::RSTR => "RSTR",
            ConnState::RSTOS0 => "RSTOS0",
            ConnState::RSTRH => "RSTRH",
            ConnState::SH => "SH",
            ConnState::SHR => "SHR",
            ConnState::OTH => "OTH",
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Side {
    Client,
    Server,
}

impl Side {
    pub fn as_str(self) -> &'static str {
        match self {
            Side::Client => "client",
            Side::Server => "server",
        }
    }
}

/// ECN negotiation (RFC 3168 section 6.1.1): the SYN sets ECE and CWR
/// ("requested"); a SYN-ACK with ECE and without CWR agrees ("negotiated").
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Ecn {
    Requested,
    Negotiated,
}

/// An ICMP error that answered the attempt.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct IcmpInfo {
    pub v6: bool,
    pub icmp_type: u8,
    pub code: u8,
    pub from: IpAddr,
}

impl IcmpInfo {
    /// A short name for the type and code ([`crate::cause::icmp_name`]).
    pub fn name(&self) -> &'static str {
        crate::cause::icmp_name(self.v6, self.icmp_type, self.code)
    }

    /// "ICMP host unreachable (type 3 code 1) from 192.0.2.1".
    pub fn words(&self) -> String {
        crate::cause::icmp_words(self.v6, self.icmp_type, self.code, Some(self.from))
    }
}

/// TCP Fast Open as seen in this attempt (RFC 7413).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TfoInfo {
    /// Bytes of data carried by the (first) SYN.
    pub syn_data: u32,
    /// Whether the SYN-ACK acknowledged the SYN's data (`None` without
    /// data or without a SYN-ACK).
    pub data_acked: Option<bool>,
}

/// What the kernel reported about a probed connection (TCP_INFO).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct KernelTcpInfo {
    pub rtt_us: u32,
    pub rttvar_us: u32,
    pub snd_mss: u32,
    pub rcv_mss: u32,
    pub sack: bool,
    pub timestamps: bool,
    pub wscale: bool,
    pub ecn: bool,
    pub syn_data: bool,
    pub total_retrans: u32,
}

/// A probe's TLS handshake (docs/SCHEMA.md, `tls`).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct TlsInfo {
    /// First ClientHello byte out to the handshake's end.
    pub handshake_ns: Option<i64>,
    pub version: Option<&'static str>,
    pub cipher: Option<String>,
    pub alpn: Option<String>,
    pub resumed: bool,
    /// With a request: whether it went as 0-RTT early data and the server
    /// took it (`Some(true)`) or refused it (`Some(false)`).
    pub early_data: Option<bool>,
    /// Days until the server's certificate expires.
    pub days_left: Option<i64>,
    /// Why it failed: a stable kind and the cause in words.
    pub failure: Option<(&'static str, String)>,
}

/// The fields only records of `synack trace` have (docs/SCHEMA.md,
/// "Fields only trace records have"): which end this host was, and the
/// process behind the socket.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TraceInfo {
    /// The end of the connection this host was.
    pub local_side: Option<Side>,
    /// The process: the one that called connect(), or accept().
    pub pid: Option<u32>,
    pub comm: Option<String>,
    /// The cgroup (v2) path: a container, a systemd unit.
    pub cgroup: Option<String>,
    /// The network namespace's inode number (`ls -i /run/netns/NAME`).
    pub netns: u32,
    /// The errno the attempt ended with, and its name.
    pub error: Option<(i32, &'static str)>,
    /// Server side: from the handshake's end to accept() returning it.
    pub accept_wait_ns: Option<i64>,
}

/// The fields only active probes have (docs/SCHEMA.md, "Fields only probes have").
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ProbeInfo {
    /// What the user named (`host:port`).
    pub target: String,
    /// 1-based attempt number for this target.
    pub attempt: u32,
    /// Name resolution, measured apart from the handshake.
    pub dns_ns: Option<i64>,
    /// connect() start to the socket becoming writable or failing.
    pub connect_ns: i64,
    /// The errno the attempt ended with, and its name.
    pub error: Option<(i32, &'static str)>,
    pub tcp_info: Option<KernelTcpInfo>,
    /// The cause in words, for failures and for noteworthy successes.
    pub cause: Option<String>,
    /// With TCP Fast Open: cookie_requested, data_accepted, fallback, blocked.
    pub tfo_result: Option<TfoResult>,
    /// With TCP Fast Open, or TLS and `--url`: connect() to the first byte
    /// of the answer to the request.
    pub first_response_ns: Option<i64>,
    /// With `--tls`: the TLS handshake on top of the TCP one.
    pub tls: Option<TlsInfo>,
    /// Attempts made for this record (1 without retries).
    pub tries: u32,
    /// Failed tries and backoff waits before this result.
    pub retry_cost_ns: i64,
}

/// Options of one side's SYN or SYN-ACK, as decoded from the wire.
pub type Options = TcpOptions;

/// Timestamps (ns since the epoch) of the packets that define the attempt.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Times {
    /// The first SYN and each retransmission (up to [`Times::MAX_SYNS`]).
    pub syn: Vec<i64>,
    /// Each SYN-ACK (up to [`Times::MAX_SYNS`]).
    pub synack: Vec<i64>,
    pub ack: Option<i64>,
    pub client_data: Option<i64>,
    pub server_data: Option<i64>,
    pub rst: Option<i64>,
    pub icmp: Option<i64>,
    pub first: i64,
    pub last: i64,
}

impl Times {
    pub const MAX_SYNS: usize = 16;
}

/// Where a record comes from: the record's `source`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Source {
    /// A capture file.
    Pcap,
    /// A live interface.
    Live,
    /// An active probe.
    Probe,
    /// The kernel's tracepoints (`synack trace`).
    Ebpf,
}

impl Source {
    pub fn as_str(self) -> &'static str {
        match self {
            Source::Pcap => "pcap",
            Source::Live => "live",
            Source::Probe => "probe",
            Source::Ebpf => "ebpf",
        }
    }
}

/// What TCP Fast Open did in one probe (RFC 7413): the record's
/// `tfo_result`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TfoResult {
    /// No cookie was cached: the SYN asked for one, the data went after.
    CookieRequested,
    /// The data rode in the SYN and the SYN-ACK acknowledged it.
    DataAccepted,
    /// The data rode in the SYN but the server did not take it (no TFO
    /// there, or a stale cookie): a normal handshake followed.
    Fallback,
    /// The SYN with data got no answer and the kernel retried without
    /// data: something on the path drops SYNs that carry data.
    Blocked,
}

impl TfoResult {
    pub fn as_str(self) -> &'static str {
        match self {
            TfoResult::CookieRequested => "cookie_requested",
            TfoResult::DataAccepted => "data_accepted",
            TfoResult::Fallback => "fallback",
            TfoResult::Blocked => "blocked",
        }
    }
}

impl std::fmt::Display for TfoResult {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// How many hops a server's RST may be from its SYN-ACK before it is
/// flagged: a route may change by a few hops within a connection, while a
/// middlebox that forges RSTs sits elsewhere on the path or starts from
/// another initial TTL (64, 128, 255).
pub const RST_TTL_SLACK: u8 = 5;

/// One connection attempt.
#[derive(Clone, Debug, PartialEq)]
pub struct Handshake {
    /// First SYN (or first packet, for midstream flows), ns since the epoch.
    pub ts_ns: i64,
    pub source: Source,
    pub client: SocketAddr,
    pub server: SocketAddr,
    /// 802.1Q/802.1ad VLAN ids packed outer << 12 | inner; 0 when untagged.
    pub vlan: u32,
    pub outcome: Outcome,
    pub conn_state: ConnState,
    pub history: String,
    pub syn_count: u32,
    pub synack_count: u32,
    /// RTT legs from the SYN that was answered (the last retransmission).
    pub syn_synack_ns: Option<i64>,
    pub synack_ack_ns: Option<i64>,
    pub total_ns: Option<i64>,
    /// First SYN to completing ACK: what the application waited.
    pub setup_ns: Option<i64>,
    pub client_isn: Option<u32>,
    pub server_isn: Option<u32>,
    pub client_opts: Option<Options>,
    pub server_opts: Option<Options>,
    /// Options of a retransmitted SYN when they differ from the first SYN's.
    pub syn_retransmit_opts: Option<Options>,
    pub ecn: Option<Ecn>,
    /// Accurate ECN (AE, CWR and ECE all set on the SYN) was requested.
    pub accecn: bool,
    pub tfo: TfoInfo,
    pub icmp: Option<IcmpInfo>,
    pub rst_from: Option<Side>,
    /// IP TTL (IPv6 hop limit) of the SYN-ACK the record took, as seen at
    /// the capture point.
    pub server_ttl: Option<u8>,
    /// IP TTL (hop limit) of the RST in `rst_from`.
    pub rst_ttl: Option<u8>,
    pub simultaneous_open: bool,
    pub times: Times,
    pub client_pkts: u64,
    pub server_pkts: u64,
    pub client_bytes: u64,
    pub server_bytes: u64,
    /// The flow left the table because it was full, not because it ended.
    pub evicted: bool,
    /// Its outcome was announced while the flow was live (capture), so a
    /// live display need not show it again. Not part of the JSON record.
    pub announced: bool,
    /// Set for records of active probes.
    pub probe: Option<Box<ProbeInfo>>,
    /// Set for records of `synack trace`.
    pub trace: Option<Box<TraceInfo>>,
}

impl Handshake {
    /// A record of what a source without packets knows (a probe, the
    /// kernel's tracepoints): when, the two ends, the outcome and Zeek's
    /// view of it; no packets, options or ISNs. Callers fill in the rest.
    pub fn observed(
        ts_ns: i64,
        source: Source,
        client: SocketAddr,
        server: SocketAddr,
        outcome: Outcome,
    ) -> Handshake {
        // Zeek's view of the attempt as it would have logged it then.
        let (conn_state, history) = match outcome {
            // A raw SYN probe's answered SYN (half-open) is the same so far.
            Outcome::Established | Outcome::HalfOpen => (ConnState::S1, "Sh"),
            Outcome::Refused => (ConnState::REJ, "Sr"),
            Outcome::Unreachable | Outcome::Timeout => (ConnState::S0, "S"),
            _ => (ConnState::OTH, ""),
        };
        Handshake {
            ts_ns,
            source,
            client,
            server,
            vlan: 0,
            outcome,
            conn_state,
            history: history.to_string(),
            syn_count: 1,
            synack_count: u32::from(outcome == Outcome::Established),
            syn_synack_ns: None,
            synack_ack_ns: None,
            total_ns: None,
            setup_ns: None,
            client_isn: None,
            server_isn: None,
            client_opts: None,
            server_opts: None,
            syn_retransmit_opts: None,
            ecn: None,
            accecn: false,
            tfo: TfoInfo::default(),
            icmp: None,
            rst_from: (outcome == Outcome::Refused).then_some(Side::Server),
            server_ttl: None,
            rst_ttl: None,
            simultaneous_open: false,
            times: Times {
                first: ts_ns,
                last: ts_ns,
                ..Times::default()
            },
            client_pkts: 0,
            server_pkts: 0,
            client_bytes: 0,
            server_bytes: 0,
            evicted: false,
            announced: false,
            probe: None,
            trace: None,
        }
    }

    /// How long the attempt took to reach its outcome: setup time when
    /// established, else first SYN to the answer or to the last packet.
    pub fn elapsed_ns(&self) -> i64 {
        self.setup_ns
            .or(self.times.rst.map(|t| t - self.ts_ns))
            .or(self.times.icmp.map(|t| t - self.ts_ns))
            .unwrap_or(self.times.last - self.ts_ns)
    }

    /// The Community ID v1 of the connection (seed 0), for joining with
    /// Zeek, Suricata and Arkime. None without a client port (a raw SYN
    /// probe has no socket of its own).
    pub fn community_id(&self) -> Option<crate::community_id::CommunityId> {
        if self.client.port() == 0 {
            return None;
        }
        crate::community_id::tcp(self.client, self.server, 0)
    }

    /// Whether the RST came from the server's side with a TTL that differs
    /// from its SYN-ACK's by more than [`RST_TTL_SLACK`] hops: not the
    /// server's own stack (a middlebox, or an injected reset).
    pub fn rst_ttl_mismatch(&self) -> bool {
        self.rst_from == Some(Side::Server)
            && matches!((self.server_ttl, self.rst_ttl), (Some(s), Some(r)) if s.abs_diff(r) > RST_TTL_SLACK)
    }

    /// Retransmitted SYNs.
    pub fn syn_retransmissions(&self) -> u32 {
        self.syn_count.saturating_sub(1)
    }
}

pub fn hex(b: &[u8]) -> String {
    use std::fmt::Write;
    b.iter()
        .fold(String::with_capacity(b.len() * 2), |mut s, x| {
            let _ = write!(s, "{x:02x}");
            s
        })
}
