//! `synack capture`'s line per handshake, printed as soon as its outcome
//! is decided: time, ends, outcome with its cause, RTT legs, SYNs, the
//! client's options.

use crate::{human_ns, options};
use synack_core::{Handshake, Outcome, time};

/// One handshake as a line: time, ends, outcome with cause, legs, SYNs.
pub fn line(h: &Handshake) -> String {
    let t = time::rfc3339(h.ts_ns);
    let mut l = format!(
        "{} {} → {} {}",
        &t[11..26],
        h.client,
        h.server,
        h.outcome.as_str()
    );
    match h.outcome {
        Outcome::Established => {
            if let (Some(a), Some(b)) = (h.syn_synack_ns, h.synack_ack_ns) {
                l.push_str(&format!(
                    " rtt {} (SYN→SYN-ACK {}, SYN-ACK→ACK {})",
                    human_ns(a + b),
                    human_ns(a),
                    human_ns(b)
                ));
            }
        }
        Outcome::Unreachable => {
            if let Some(i) = h.icmp {
                l.push_str(&format!(" {}", i.words()));
            }
        }
        Outcome::Refused => l.push_str(" (RST from the server)"),
        _ => {}
    }
    if h.syn_count > 1 {
        l.push_str(&format!(" {} SYNs", h.syn_count));
    }
    if let Some(o) = &h.client_opts {
        let words = options(o);
        if !words.is_empty() {
            l.push(' ');
            l.push_str(&words);
        }
    }
    l
}
