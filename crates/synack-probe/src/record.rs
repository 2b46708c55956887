//! A probe attempt as a `Handshake` record (source `probe`), with the
//! probe-only fields of the schema: target, attempt, dns_us, connect_us,
//! error, tcp_info, and the cause in words.

use crate::attempt::AttemptResult;
use crate::cause::{Cause, handshake_loss};
use std::net::{IpAddr, SocketAddr};
use synack_core::{Handshake, IcmpInfo, KernelTcpInfo, ProbeInfo, handshake::Times};
use synack_sys::tcp::{TcpInfo, errno_name};

fn kernel(info: &TcpInfo) -> KernelTcpInfo {
    KernelTcpInfo {
        rtt_us: info.rtt_us,
        rttvar_us: info.rttvar_us,
        snd_mss: info.snd_mss,
        rcv_mss: info.rcv_mss,
        sack: info.options & TcpInfo::OPT_SACK != 0,
        timestamps: info.options & TcpInfo::OPT_TIMESTAMPS != 0,
        wscale: info.options & TcpInfo::OPT_WSCALE != 0,
        ecn: info.options & TcpInfo::OPT_ECN != 0,
        syn_data: info.options & TcpInfo::OPT_SYN_DATA != 0,
        total_retrans: info.total_retrans,
    }
}

/// The record of one attempt to `target_name` (as the user wrote it).
pub fn record(
    r: &AttemptResult,
    target_name: &str,
    attempt: u32,
    dns_ns: Option<i64>,
) -> Handshake {
    let ts_ns = synack_core::time::unix_ns(r.started);
    let connect_ns = r.connect.as_nanos() as i64;
    let retrans = r.tcp_info.map_or(0, |i| i.total_retrans);
    let established = r.cause == Cause::Established;
    let icmp = match &r.cause {
        Cause::Icmp {
            v6,
            icmp_type,
            code,
            from,
            ..
        } => Some(IcmpInfo {
            v6: *v6,
            icmp_type: *icmp_type,
            code: *code,
            from: from.unwrap_or(r.target.ip()),
        }),
        _ => None,
    };
    let cause = if established {
        r.tcp_info
            .as_ref()
            .and_then(|i| handshake_loss(i, r.connect))
            .map(String::from)
    } else {
        Some(r.cause.explain(r.target, r.connect))
    };
    let unspecified = SocketAddr::new(
        if r.target.is_ipv6() {
            IpAddr::from([0u16; 8])
        } else {
            IpAddr::from([0u8; 4])
        },
        0,
    );
    let base = Handshake::observed(
        ts_ns,
        synack_core::Source::Probe,
        r.local.unwrap_or(unspecified),
        r.target,
        r.cause.outcome(),
    );
    Handshake {
        syn_count: if matches!(r.cause, Cause::Local { .. }) {
            0
        } else {
            1 + retrans
        },
        // Seen from user space: without a retransmission the connect time
        // is the SYN -> SYN-ACK leg; with one, the leg is not observable.
        syn_synack_ns: (established && retrans == 0).then_some(connect_ns),
        synack_ack_ns: established.then_some(0),
        total_ns: (established && retrans == 0).then_some(connect_ns),
        setup_ns: established.then_some(connect_ns),
        icmp,
        times: Times {
            first: ts_ns,
            last: ts_ns + connect_ns,
            ..Times::default()
        },
        probe: Some(Box::new(ProbeInfo {
            target: target_name.to_string(),
            attempt,
            dns_ns,
            connect_ns,
            error: r.errno.map(|e| (e, errno_name(e))),
            // TCP_INFO of a socket that never connected describes no
            // connection: only established attempts carry it.
            tcp_info: r.tcp_info.as_ref().filter(|_| established).map(kernel),
            cause,
            tfo_result: r.tfo,
            first_response_ns: r.first_response.map(|d| d.as_nanos() as i64),
            tls: r.tls.as_ref().map(|t| synack_core::TlsInfo {
                handshake_ns: t.handshake.map(|d| d.as_nanos() as i64),
                version: t.version,
                cipher: t.cipher.clone(),
                alpn: t.alpn.clone(),
                resumed: t.resumed,
                early_data: t.early_data,
                days_left: t.days_left,
                failure: t.failure.as_ref().map(|f| (f.kind(), f.explain())),
            }),
            tries: r.tries,
            retry_cost_ns: r.retry_cost.as_nanos() as i64,
        })),
        ..base
    }
}
