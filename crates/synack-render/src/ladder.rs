//! `analyze --flow`: one connection packet by packet, as a ladder: relative
//! time, direction, flags, sequence numbers relative to each side's ISN (as
//! Wireshark shows them), payload length and options.

use crate::human_ns;
use std::fmt::Write as _;
use std::net::SocketAddr;
use synack_core::{Handshake, time};
use synack_wire::{Decoded, SeqNumber};

/// The lines above the packets: the connection, its RTT legs, the columns.
pub fn header(h: &Handshake) -> String {
    let mut out = format!(
        "{} → {}  {}  {}  history {}  (first SYN {})\n",
        h.client,
        h.server,
        h.outcome.as_str(),
        h.conn_state.as_str(),
        h.history,
        time::rfc3339(h.ts_ns)
    );
    if let (Some(a), Some(b), Some(t)) = (h.syn_synack_ns, h.synack_ack_ns, h.total_ns) {
        let _ = writeln!(
            out,
            "rtt: SYN→SYN-ACK {}, SYN-ACK→ACK {}, total {}",
            human_ns(a),
            human_ns(b),
            human_ns(t)
        );
    }
    let _ = write!(
        out,
        "{:>12}  {:^9}  {:<10} {:>10} {:>10} {:>6}  options",
        "time", "", "flags", "seq", "ack", "len"
    );
    out
}

/// The ladder line of a packet at `ts_ns`, or None when the packet is not
/// part of the connection `h`.
pub fn line(h: &Handshake, ts_ns: i64, d: Decoded<'_>) -> Option<String> {
    let start = h.times.first;
    let (cisn, sisn) = (h.client_isn.unwrap_or(0), h.server_isn.unwrap_or(0));
    Some(match d {
        Decoded::Tcp(seg) => {
            let src = SocketAddr::new(seg.ip.src, seg.tcp.src_port());
            let dst = SocketAddr::new(seg.ip.dst, seg.tcp.dst_port());
            if seg.vlan != h.vlan
                || !((src == h.client && dst == h.server) || (src == h.server && dst == h.client))
            {
                return None;
            }
            let from_client = src == h.client;
            let arrow = if from_client {
                "  ───────▶"
            } else {
                "  ◀───────"
            };
            // Sequence numbers relative to each side's ISN, as Wireshark shows them.
            let (own, peer) = if from_client {
                (cisn, sisn)
            } else {
                (sisn, cisn)
            };
            let t = &seg.tcp;
            let ack = if t.flags().ack() {
                (SeqNumber(t.ack()) - SeqNumber(peer)).to_string()
            } else {
                "-".into()
            };
            let mut opts = crate::options(&t.options());
            opts.push(' ');
            if seg.ip.ecn != 0 {
                let _ = write!(opts, "ip-ecn {} ", seg.ip.ecn);
            }
            format!(
                "{:>12}  {arrow}  {:<10} {:>10} {:>10} {:>6}  {}",
                human_ns(ts_ns - start),
                t.flags().to_string(),
                SeqNumber(t.seq()) - SeqNumber(own),
                ack,
                seg.payload_len,
                opts.trim_end()
            )
        }
        Decoded::Icmp { vlan, error } => {
            let quoted = SocketAddr::new(error.src, error.src_port);
            if vlan != h.vlan
                || quoted != h.client
                || SocketAddr::new(error.dst, error.dst_port) != h.server
            {
                return None;
            }
            format!(
                "{:>12}    ◀╌╌╌╌╌╌╌  {}",
                human_ns(ts_ns - start),
                synack_core::cause::icmp_words(
                    error.from.is_ipv6(),
                    error.icmp_type,
                    error.code,
                    Some(error.from)
                )
            )
        }
    })
}
