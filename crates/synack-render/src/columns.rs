//! The flat record: one table of columns, each with its type and how it is
//! read from a record, shared by CSV (as text) and Parquet (typed). The
//! names are the JSON fields' (docs/SCHEMA.md).

use synack_core::{Ecn, Handshake, Options};

/// A column's type.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// Nanoseconds since the epoch (CSV: RFC 3339; Parquet: timestamp[ns]).
    Timestamp,
    /// A duration in ns (CSV: µs with 3 decimals; Parquet: integer µs).
    Micros,
    Int,
    Bool,
    Text,
}

/// One cell.
#[derive(Clone, Debug, PartialEq)]
pub enum Value {
    Null,
    Int(i64),
    Bool(bool),
    Text(String),
}

fn int<T: Into<i64>>(v: Option<T>) -> Value {
    v.map_or(Value::Null, |v| Value::Int(v.into()))
}

fn text<T: ToString>(v: Option<T>) -> Value {
    v.map_or(Value::Null, |v| Value::Text(v.to_string()))
}

fn boolean(v: Option<bool>) -> Value {
    v.map_or(Value::Null, Value::Bool)
}

pub const COLUMNS: [(&str, Kind); 61] = [
    ("ts", Kind::Timestamp),
    ("client", Kind::Text),
    ("server", Kind::Text),
    ("vlan", Kind::Int),
    ("outcome", Kind::Text),
    ("conn_state", Kind::Text),
    ("history", Kind::Text),
    ("syn_count", Kind::Int),
    ("synack_count", Kind::Int),
    ("rtt_syn_synack_us", Kind::Micros),
    ("rtt_synack_ack_us", Kind::Micros),
    ("rtt_total_us", Kind::Micros),
    ("setup_us", Kind::Micros),
    ("client_isn", Kind::Int),
    ("server_isn", Kind::Int),
    ("client_mss", Kind::Int),
    ("client_wscale", Kind::Int),
    ("client_sack", Kind::Bool),
    ("client_ts", Kind::Bool),
    ("client_tfo", Kind::Text),
    ("server_mss", Kind::Int),
    ("server_wscale", Kind::Int),
    ("server_sack", Kind::Bool),
    ("server_ts", Kind::Bool),
    ("server_tfo", Kind::Text),
    ("ecn", Kind::Text),
    ("icmp_type", Kind::Int),
    ("icmp_code", Kind::Int),
    ("icmp_from", Kind::Text),
    ("rst_from", Kind::Text),
    ("server_ttl", Kind::Int),
    ("rst_ttl", Kind::Int),
    ("community_id", Kind::Text),
    ("client_pkts", Kind::Int),
    ("server_pkts", Kind::Int),
    ("client_bytes", Kind::Int),
    ("server_bytes", Kind::Int),
    // Probe records only (empty for captures).
    ("target", Kind::Text),
    ("attempt", Kind::Int),
    ("connect_us", Kind::Micros),
    ("error", Kind::Text),
    ("tcpi_rtt_us", Kind::Int),
    ("tcpi_total_retrans", Kind::Int),
    ("tfo_result", Kind::Text),
    ("cause", Kind::Text),
    ("tls_handshake_us", Kind::Micros),
    ("tls_version", Kind::Text),
    ("tls_alpn", Kind::Text),
    ("tls_resumed", Kind::Bool),
    ("tls_failure", Kind::Text),
    ("tls_early_data", Kind::Text),
    ("first_response_us", Kind::Micros),
    ("evicted", Kind::Bool),
    ("simultaneous_open", Kind::Bool),
    ("syn_data", Kind::Int),
    ("accecn", Kind::Bool),
    ("local_side", Kind::Text),
    ("pid", Kind::Int),
    ("comm", Kind::Text),
    ("cgroup", Kind::Text),
    ("accept_wait_us", Kind::Micros),
];

fn options(o: Option<&Options>) -> [Value; 5] {
    match o {
        None => [
            Value::Null,
            Value::Null,
            Value::Null,
            Value::Null,
            Value::Null,
        ],
        Some(o) => [
            int(o.mss),
            int(o.wscale),
            Value::Bool(o.sack_permitted),
            Value::Bool(o.timestamps.is_some()),
            text(o.tfo.map(|t| {
                if t.is_request() {
                    "cookie_request"
                } else {
                    "cookie"
                }
            })),
        ],
    }
}

/// The record's cells, in [`COLUMNS`] order.
pub fn row(h: &Handshake) -> Vec<Value> {
    let [cm, cw, cs, ct, cf] = options(h.client_opts.as_ref());
    let [sm, sw, ss, st, sf] = options(h.server_opts.as_ref());
    let probe = h.probe.as_deref();
    let tls = probe.and_then(|p| p.tls.as_ref());
    let trace = h.trace.as_deref();
    vec![
        Value::Int(h.ts_ns),
        Value::Text(h.client.to_string()),
        Value::Text(h.server.to_string()),
        int((h.vlan != 0).then_some(h.vlan)),
        Value::Text(h.outcome.as_str().into()),
        Value::Text(h.conn_state.as_str().into()),
        Value::Text(h.history.clone()),
        Value::Int(h.syn_count.into()),
        Value::Int(h.synack_count.into()),
        int(h.syn_synack_ns),
        int(h.synack_ack_ns),
        int(h.total_ns),
        int(h.setup_ns),
        int(h.client_isn),
        int(h.server_isn),
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
        text(h.ecn.map(|e| match e {
            Ecn::Requested => "requested",
            Ecn::Negotiated => "negotiated",
        })),
        int(h.icmp.map(|i| i.icmp_type)),
        int(h.icmp.map(|i| i.code)),
        text(h.icmp.map(|i| i.from)),
        text(h.rst_from.map(|s| s.as_str())),
        int(h.server_ttl),
        int(h.rst_ttl),
        text(h.community_id()),
        Value::Int(h.client_pkts as i64),
        Value::Int(h.server_pkts as i64),
        Value::Int(h.client_bytes as i64),
        Value::Int(h.server_bytes as i64),
        text(probe.map(|p| p.target.clone())),
        int(probe.map(|p| p.attempt)),
        int(probe.map(|p| p.connect_ns)),
        text(probe.and_then(|p| p.error).map(|(_, name)| name)),
        int(probe.and_then(|p| p.tcp_info).map(|t| t.rtt_us)),
        int(probe.and_then(|p| p.tcp_info).map(|t| t.total_retrans)),
        text(probe.and_then(|p| p.tfo_result)),
        text(probe.and_then(|p| p.cause.clone())),
        int(tls.and_then(|t| t.handshake_ns)),
        text(tls.and_then(|t| t.version)),
        text(tls.and_then(|t| t.alpn.clone())),
        boolean(tls.map(|t| t.resumed)),
        text(tls.and_then(|t| t.failure.as_ref().map(|f| f.0))),
        text(
            tls.and_then(|t| t.early_data)
                .map(|a| if a { "accepted" } else { "rejected" }),
        ),
        int(probe.and_then(|p| p.first_response_ns)),
        Value::Bool(h.evicted),
        Value::Bool(h.simultaneous_open),
        Value::Int(h.tfo.syn_data.into()),
        Value::Bool(h.accecn),
        text(trace.and_then(|t| t.local_side.map(|s| s.as_str()))),
        int(trace.and_then(|t| t.pid)),
        text(trace.and_then(|t| t.comm.clone())),
        text(trace.and_then(|t| t.cgroup.clone())),
        int(trace.and_then(|t| t.accept_wait_ns)),
    ]
}
