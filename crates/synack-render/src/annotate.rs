//! The comments `analyze --annotate` writes on packets: what synack
//! decided about the attempt a SYN, SYN-ACK, RST or ICMP error belongs to,
//! in one line, so that Wireshark shows it next to the packet.

use crate::human_ns;
use synack_core::{Handshake, Outcome};

/// What an attempt came to, in words (the same for each of its packets).
pub fn verdict(h: &Handshake) -> String {
    let after = human_ns(h.elapsed_ns());
    match h.outcome {
        Outcome::Established => {
            let mut s = format!(
                "established: handshake RTT {}",
                h.total_ns.map_or("?".into(), human_ns)
            );
            if let (Some(a), Some(b)) = (h.syn_synack_ns, h.synack_ack_ns) {
                s.push_str(&format!(
                    " (SYN to SYN-ACK {}, SYN-ACK to ACK {})",
                    human_ns(a),
                    human_ns(b)
                ));
            }
            if let Some(setup) = h.setup_ns {
                s.push_str(&format!(", setup {}", human_ns(setup)));
            }
            s
        }
        Outcome::Refused => format!("refused by RST after {after}"),
        Outcome::Unreachable => format!(
            "unreachable: {} after {after}",
            h.icmp.as_ref().map_or("ICMP".into(), |i| i.words())
        ),
        Outcome::Timeout => format!(
            "attempt timed out: {} SYN{} and no answer in {after}",
            h.syn_count,
            if h.syn_count == 1 { "" } else { "s" }
        ),
        Outcome::HalfOpen => format!("half-open: the SYN-ACK was never acknowledged ({after})"),
        Outcome::Reset => {
            format!("reset after the SYN-ACK, before the handshake completed ({after})")
        }
        Outcome::Incomplete => "undecided: the capture ended while it could still complete".into(),
        Outcome::Midstream => "first seen mid-stream (no SYN)".into(),
        Outcome::LocalError => "local error".into(),
    }
}

/// Which packet of the attempt.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    /// The client's n-th SYN (1-based).
    Syn(u32),
    /// The server's n-th SYN-ACK.
    SynAck(u32),
    Rst {
        from_server: bool,
    },
    Icmp,
}

/// The comment for one packet of `h` whose attempt reads `verdict`.
pub fn comment(role: Role, h: &Handshake, verdict: &str) -> String {
    let flow = format!("{} > {}", h.client, h.server);
    let what = match role {
        Role::Syn(1) if h.syn_count > 1 => format!("SYN 1 of {} for {flow}", h.syn_count),
        Role::Syn(1) => format!("SYN for {flow}"),
        Role::Syn(n) => format!(
            "SYN retransmission {} ({} of {}) for {flow}",
            n - 1,
            n,
            h.syn_count.max(n)
        ),
        Role::SynAck(1) => format!("SYN-ACK for {flow}"),
        Role::SynAck(n) => format!("SYN-ACK {n} (retransmitted) for {flow}"),
        Role::Rst { from_server: true } => format!("RST from the server for {flow}"),
        Role::Rst { from_server: false } => format!("RST from the client for {flow}"),
        Role::Icmp => format!("ICMP error about the SYN of {flow}"),
    };
    format!("synack: {what}; {verdict}")
}
