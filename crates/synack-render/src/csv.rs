//! CSV: one row per attempt with a header; the flat subset of the schema
//! that spreadsheets and `xsv` want, same names as the JSON fields.

use super::{Run, Sink, us_field};
use std::io::{self, Write};
use synack_core::{Handshake, Options, time};

const HEADER: &[&str] = &[
    "ts",
    "client",
    "server",
    "vlan",
    "outcome",
    "conn_state",
    "history",
    "syn_count",
    "synack_count",
    "rtt_syn_synack_us",
    "rtt_synack_ack_us",
    "rtt_total_us",
    "setup_us",
    "client_isn",
    "server_isn",
    "client_mss",
    "client_wscale",
    "client_sack",
    "client_ts",
    "client_tfo",
    "server_mss",
    "server_wscale",
    "server_sack",
    "server_ts",
    "server_tfo",
    "ecn",
    "icmp_type",
    "icmp_code",
    "icmp_from",
    "rst_from",
    "server_ttl",
    "rst_ttl",
    "community_id",
    "client_pkts",
    "server_pkts",
    "client_bytes",
    "server_bytes",
    // Probe records only (empty for captures).
    "target",
    "attempt",
    "connect_us",
    "error",
    "tcpi_rtt_us",
    "tcpi_total_retrans",
    "tfo_result",
    "cause",
    "tls_handshake_us",
    "tls_version",
    "tls_alpn",
    "tls_resumed",
    "tls_failure",
    "tls_early_data",
    "first_response_us",
];

pub struct CsvSink<W: Write> {
    out: ::csv::Writer<W>,
    header_written: bool,
}

impl<W: Write> CsvSink<W> {
    pub fn new(out: W) -> Self {
        CsvSink {
            out: ::csv::Writer::from_writer(out),
            header_written: false,
        }
    }

    fn header(&mut self) -> io::Result<()> {
        if !self.header_written {
            self.header_written = true;
            self.out.write_record(HEADER).map_err(io_error)?;
        }
        Ok(())
    }
}

fn opt<T: ToString>(v: Option<T>) -> String {
    v.map(|x| x.to_string()).unwrap_or_default()
}

fn options(o: Option<&Options>) -> [String; 5] {
    match o {
        None => Default::default(),
        Some(o) => [
            opt(o.mss),
            opt(o.wscale),
            o.sack_permitted.to_string(),
            o.timestamps.is_some().to_string(),
            match o.tfo {
                None => String::new(),
                Some(t) if t.is_request() => "cookie_request".into(),
                Some(_) => "cookie".into(),
            },
        ],
    }
}

impl<W: Write> Sink for CsvSink<W> {
    fn record(&mut self, h: &Handshake) -> io::Result<()> {
        self.header()?;
        let [cm, cw, cs, ct, cf] = options(h.client_opts.as_ref());
        let [sm, sw, ss, st, sf] = options(h.server_opts.as_ref());
        let ecn = match h.ecn {
            None => "",
            Some(synack_core::Ecn::Requested) => "requested",
            Some(synack_core::Ecn::Negotiated) => "negotiated",
        };
        let tls = h.probe.as_ref().and_then(|p| p.tls.as_ref());
        let row = [
            time::rfc3339(h.ts_ns),
            h.client.to_string(),
            h.server.to_string(),
            if h.vlan == 0 {
                String::new()
            } else {
                h.vlan.to_string()
            },
            h.outcome.as_str().into(),
            h.conn_state.as_str().into(),
            h.history.clone(),
            h.syn_count.to_string(),
            h.synack_count.to_string(),
            us_field(h.syn_synack_ns),
            us_field(h.synack_ack_ns),
            us_field(h.total_ns),
            us_field(h.setup_ns),
            opt(h.client_isn),
            opt(h.server_isn),
            cm,
            cw,
            cs,
            ct,
            cf,
            sm,
            sw,
            ss,
            st,
            sf,
            ecn.into(),
            opt(h.icmp.map(|i| i.icmp_type)),
            opt(h.icmp.map(|i| i.code)),
            opt(h.icmp.map(|i| i.from)),
            opt(h.rst_from.map(|s| s.as_str())),
            opt(h.server_ttl),
            opt(h.rst_ttl),
            opt(h.community_id()),
            h.client_pkts.to_string(),
            h.server_pkts.to_string(),
            h.client_bytes.to_string(),
            h.server_bytes.to_string(),
            opt(h.probe.as_ref().map(|p| p.target.clone())),
            opt(h.probe.as_ref().map(|p| p.attempt)),
            us_field(h.probe.as_ref().map(|p| p.connect_ns)),
            opt(h.probe.as_ref().and_then(|p| p.error).map(|(_, name)| name)),
            opt(h.probe.as_ref().and_then(|p| p.tcp_info).map(|t| t.rtt_us)),
            opt(h
                .probe
                .as_ref()
                .and_then(|p| p.tcp_info)
                .map(|t| t.total_retrans)),
            opt(h.probe.as_ref().and_then(|p| p.tfo_result)),
            opt(h.probe.as_ref().and_then(|p| p.cause.clone())),
            us_field(tls.and_then(|t| t.handshake_ns)),
            opt(tls.and_then(|t| t.version)),
            opt(tls.and_then(|t| t.alpn.clone())),
            opt(tls.map(|t| t.resumed)),
            opt(tls.and_then(|t| t.failure.as_ref().map(|f| f.0))),
            opt(tls
                .and_then(|t| t.early_data)
                .map(|a| if a { "accepted" } else { "rejected" })),
            us_field(h.probe.as_ref().and_then(|p| p.first_response_ns)),
        ];
        self.out.write_record(&row).map_err(io_error)
    }

    fn finish(&mut self, _run: &Run<'_>) -> io::Result<()> {
        self.header()?;
        self.out.flush()
    }
}

/// The csv crate's error as the I/O error it wraps, when it wraps one, so
/// that a closed pipe (`| head`) is seen as one and ends quietly.
fn io_error(e: ::csv::Error) -> io::Error {
    match e.into_kind() {
        ::csv::ErrorKind::Io(e) => e,
        other => io::Error::other(format!("{other:?}")),
    }
}
