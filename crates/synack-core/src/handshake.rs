//! The `Handshake` record: one per connection attempt (4-tuple, VLAN and
//! client ISN), whatever observed it. Its JSON form is the public NDJSON
//! schema v1 of DESIGN.md; field names never change without a version bump.
//! Times are integer nanoseconds inside; JSON carries microseconds as floats.

use serde::ser::{Serialize, SerializeMap, Serializer};
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
}

impl Outcome {
    pub const ALL: [Outcome; 8] = [
        Outcome::Established,
        Outcome::Refused,
        Outcome::Unreachable,
        Outcome::Timeout,
        Outcome::HalfOpen,
        Outcome::Reset,
        Outcome::Incomplete,
        Outcome::Midstream,
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
        }
    }

    /// True for outcomes where the attempt failed.
    pub fn is_failure(self) -> bool {
        matches!(self, Outcome::Refused | Outcome::Unreachable | Outcome::Timeout | Outcome::HalfOpen | Outcome::Reset)
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
    /// A short name for the type and code (RFC 792, RFC 1812, RFC 4443).
    pub fn name(&self) -> &'static str {
        match (self.v6, self.icmp_type, self.code) {
            (false, 3, 0) => "net unreachable",
            (false, 3, 1) => "host unreachable",
            (false, 3, 2) => "protocol unreachable",
            (false, 3, 3) => "port unreachable",
            (false, 3, 4) => "fragmentation needed",
            (false, 3, 6) => "net unknown",
            (false, 3, 7) => "host unknown",
            (false, 3, 9 | 10 | 13) => "administratively prohibited",
            (false, 3, _) => "unreachable",
            (false, 11, _) => "time exceeded",
            (true, 1, 0) => "no route",
            (true, 1, 1) => "administratively prohibited",
            (true, 1, 3) => "address unreachable",
            (true, 1, 4) => "port unreachable",
            (true, 1, 5 | 6) => "policy reject",
            (true, 1, _) => "unreachable",
            (true, 3, _) => "time exceeded",
            _ => "icmp error",
        }
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

/// One connection attempt.
#[derive(Clone, Debug, PartialEq)]
pub struct Handshake {
    /// First SYN (or first packet, for midstream flows), ns since the epoch.
    pub ts_ns: i64,
    pub source: &'static str,
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
    pub simultaneous_open: bool,
    pub times: Times,
    pub client_pkts: u64,
    pub server_pkts: u64,
    pub client_bytes: u64,
    pub server_bytes: u64,
    /// The flow left the table because it was full, not because it ended.
    pub evicted: bool,
}

impl Handshake {
    /// The record's identity for ordering output deterministically.
    pub fn sort_key(&self) -> (i64, SocketAddr, SocketAddr, u32, Option<u32>) {
        (self.ts_ns, self.client, self.server, self.vlan, self.client_isn)
    }

    /// How long the attempt took to reach its outcome: setup time when
    /// established, else first SYN to the answer or to the last packet.
    pub fn elapsed_ns(&self) -> i64 {
        self.setup_ns
            .or(self.times.rst.map(|t| t - self.ts_ns))
            .or(self.times.icmp.map(|t| t - self.ts_ns))
            .unwrap_or(self.times.last - self.ts_ns)
    }

    /// Retransmitted SYNs.
    pub fn syn_retransmissions(&self) -> u32 {
        self.syn_count.saturating_sub(1)
    }
}

pub(crate) fn us(ns: i64) -> f64 {
    ns as f64 / 1000.0
}

struct OptionsJson<'a>(&'a Options, Option<u32>);

impl Serialize for OptionsJson<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let o = self.0;
        let mut m = s.serialize_map(None)?;
        m.serialize_entry("mss", &o.mss)?;
        m.serialize_entry("wscale", &o.wscale)?;
        m.serialize_entry("sack", &o.sack_permitted)?;
        m.serialize_entry("ts", &o.timestamps.is_some())?;
        match o.tfo {
            Some(t) => m.serialize_entry("tfo", &TfoJson(t, self.1))?,
            None => m.serialize_entry("tfo", &None::<()>)?,
        }
        m.serialize_entry("mptcp", &o.mptcp_subtype.is_some())?;
        if !o.unknown_kinds().is_empty() {
            let raw: Vec<String> = o.unknown_kinds().iter().filter_map(|k| o.raw_option(*k)).map(hex).collect();
            m.serialize_entry("unknown", &raw)?;
        }
        if o.malformed {
            m.serialize_entry("malformed", &true)?;
        }
        m.end()
    }
}

struct TfoJson(synack_wire::Tfo, Option<u32>);

impl Serialize for TfoJson {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut m = s.serialize_map(None)?;
        m.serialize_entry("cookie_request", &self.0.is_request())?;
        let cookie = (!self.0.is_request()).then(|| hex(self.0.cookie()));
        m.serialize_entry("cookie", &cookie)?;
        if let Some(data) = self.1 {
            m.serialize_entry("data", &data)?;
        }
        if self.0.experimental {
            m.serialize_entry("experimental", &true)?;
        }
        m.end()
    }
}

pub fn hex(b: &[u8]) -> String {
    use std::fmt::Write;
    b.iter().fold(String::with_capacity(b.len() * 2), |mut s, x| {
        let _ = write!(s, "{x:02x}");
        s
    })
}

struct Legs<'a>(&'a Handshake);

impl Serialize for Legs<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut m = s.serialize_map(Some(3))?;
        m.serialize_entry("syn_synack", &self.0.syn_synack_ns.map(us))?;
        m.serialize_entry("synack_ack", &self.0.synack_ack_ns.map(us))?;
        m.serialize_entry("total", &self.0.total_ns.map(us))?;
        m.end()
    }
}

struct TimesJson<'a>(&'a Handshake);

impl Serialize for TimesJson<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let t = &self.0.times;
        let rel = |x: i64| us(x - self.0.ts_ns);
        let mut m = s.serialize_map(None)?;
        m.serialize_entry("syn", &t.syn.iter().map(|x| rel(*x)).collect::<Vec<_>>())?;
        m.serialize_entry("synack", &t.synack.iter().map(|x| rel(*x)).collect::<Vec<_>>())?;
        m.serialize_entry("ack", &t.ack.map(rel))?;
        m.serialize_entry("client_data", &t.client_data.map(rel))?;
        m.serialize_entry("server_data", &t.server_data.map(rel))?;
        m.serialize_entry("rst", &t.rst.map(rel))?;
        m.serialize_entry("icmp", &t.icmp.map(rel))?;
        m.serialize_entry("last", &rel(t.last))?;
        m.end()
    }
}

struct IcmpJson(IcmpInfo);

impl Serialize for IcmpJson {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut m = s.serialize_map(Some(4))?;
        m.serialize_entry("type", &self.0.icmp_type)?;
        m.serialize_entry("code", &self.0.code)?;
        m.serialize_entry("from", &self.0.from)?;
        m.serialize_entry("name", self.0.name())?;
        m.end()
    }
}

impl Serialize for Handshake {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut m = s.serialize_map(None)?;
        m.serialize_entry("ts", &crate::time::rfc3339(self.ts_ns))?;
        m.serialize_entry("source", self.source)?;
        m.serialize_entry("client", &self.client)?;
        m.serialize_entry("server", &self.server)?;
        m.serialize_entry("vlan", &(self.vlan != 0).then_some(self.vlan))?;
        m.serialize_entry("outcome", self.outcome.as_str())?;
        m.serialize_entry("conn_state", self.conn_state.as_str())?;
        m.serialize_entry("history", &self.history)?;
        m.serialize_entry("syn_count", &self.syn_count)?;
        m.serialize_entry("synack_count", &self.synack_count)?;
        m.serialize_entry("rtt_us", &Legs(self))?;
        m.serialize_entry("setup_us", &self.setup_ns.map(us))?;
        m.serialize_entry("client_isn", &self.client_isn)?;
        m.serialize_entry("server_isn", &self.server_isn)?;
        let syn_data = (self.tfo.syn_data > 0).then_some(self.tfo.syn_data);
        m.serialize_entry("client_opts", &self.client_opts.as_ref().map(|o| OptionsJson(o, syn_data)))?;
        m.serialize_entry("server_opts", &self.server_opts.as_ref().map(|o| OptionsJson(o, None)))?;
        m.serialize_entry("syn_retransmit_opts", &self.syn_retransmit_opts.as_ref().map(|o| OptionsJson(o, None)))?;
        let ecn = self.ecn.map(|e| match e {
            Ecn::Requested => "requested",
            Ecn::Negotiated => "negotiated",
        });
        m.serialize_entry("ecn", &ecn)?;
        m.serialize_entry("accecn", &self.accecn)?;
        m.serialize_entry("tfo_data_acked", &self.tfo.data_acked)?;
        m.serialize_entry("icmp", &self.icmp.map(IcmpJson))?;
        m.serialize_entry("rst_from", &self.rst_from.map(Side::as_str))?;
        m.serialize_entry("simultaneous_open", &self.simultaneous_open)?;
        m.serialize_entry("times_us", &TimesJson(self))?;
        m.serialize_entry("duration_us", &us(self.times.last - self.times.first))?;
        m.serialize_entry("client_pkts", &self.client_pkts)?;
        m.serialize_entry("server_pkts", &self.server_pkts)?;
        m.serialize_entry("client_bytes", &self.client_bytes)?;
        m.serialize_entry("server_bytes", &self.server_bytes)?;
        m.serialize_entry("evicted", &self.evicted)?;
        m.end()
    }
}
