//! State changes into client-side connection attempts. A connect() is a
//! socket going CLOSE → SYN_SENT (in the process's context: its pid and
//! command are the caller's); it ends SYN_SENT → ESTABLISHED, or
//! SYN_SENT → CLOSE with the socket's error, which names the outcome as
//! everywhere else in synack: ECONNREFUSED refused, ETIMEDOUT timeout,
//! EHOSTUNREACH or ENETUNREACH unreachable. Open attempts are bounded
//! ([`MAX_OPEN`], the oldest evicted and counted).

use crate::event::{StateChange, state};
use std::collections::HashMap;
use std::net::SocketAddr;

pub const MAX_OPEN: usize = 65_536;

const ECONNREFUSED: i32 = 111;
const ETIMEDOUT: i32 = 110;
const EHOSTUNREACH: i32 = 113;
const ENETUNREACH: i32 = 101;

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    Established,
    Refused,
    Timeout,
    Unreachable,
    /// Ended by another error (or closed by the application first: 0).
    Other(i32),
}

impl Outcome {
    pub fn as_str(&self) -> &'static str {
        match self {
            Outcome::Established => "established",
            Outcome::Refused => "refused",
            Outcome::Timeout => "timeout",
            Outcome::Unreachable => "unreachable",
            Outcome::Other(_) => "local_error",
        }
    }
}

/// One client-side attempt, decided.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Attempt {
    pub local: SocketAddr,
    pub remote: SocketAddr,
    pub pid: u32,
    pub comm: String,
    pub cgroup: u64,
    pub outcome: Outcome,
    /// connect() to the outcome, ns.
    pub latency_ns: u64,
    /// SYNs sent again (the socket's retransmissions when it ended).
    pub syn_retransmits: u32,
}

struct Open {
    started: StateChange,
}

#[derive(Default)]
pub struct Attempts {
    open: HashMap<u64, Open>,
    pub evicted: u64,
}

impl Attempts {
    /// Takes one state change; returns the attempt it decided, if any.
    pub fn change(&mut self, c: StateChange) -> Option<Attempt> {
        match (c.old, c.new) {
            (state::CLOSE, state::SYN_SENT) => {
                if self.open.len() >= MAX_OPEN
                    && let Some(oldest) = self
                        .open
                        .iter()
                        .min_by_key(|(_, o)| o.started.ts_ns)
                        .map(|(k, _)| *k)
                {
                    self.open.remove(&oldest);
                    self.evicted += 1;
                }
                self.open.insert(c.socket, Open { started: c });
                None
            }
            (state::SYN_SENT, new) => {
                let open = self.open.remove(&c.socket)?;
                let outcome = match (new, c.error) {
                    (state::ESTABLISHED, _) => Outcome::Established,
                    (_, ECONNREFUSED) => Outcome::Refused,
                    (_, ETIMEDOUT) => Outcome::Timeout,
                    (_, EHOSTUNREACH | ENETUNREACH) => Outcome::Unreachable,
                    (_, e) => Outcome::Other(e),
                };
                let s = open.started;
                Some(Attempt {
                    // The local port is known once the SYN goes out.
                    local: if c.local.port() != 0 {
                        c.local
                    } else {
                        s.local
                    },
                    remote: s.remote,
                    pid: s.pid,
                    comm: s.comm,
                    cgroup: s.cgroup,
                    outcome,
                    latency_ns: c.ts_ns.saturating_sub(s.ts_ns),
                    syn_retransmits: c.total_retrans,
                })
            }
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn change(ts: u64, old: i32, new: i32, error: i32, retrans: u32) -> StateChange {
        StateChange {
            ts_ns: ts,
            socket: 0xffff_0001,
            cgroup: 7,
            pid: if old == state::CLOSE { 4242 } else { 0 },
            total_retrans: retrans,
            local: "10.0.0.1:40000".parse().unwrap(),
            remote: "10.0.0.2:80".parse().unwrap(),
            old,
            new,
            error,
            comm: if old == state::CLOSE {
                "curl".into()
            } else {
                "swapper/0".into()
            },
        }
    }

    #[test]
    fn attempts_take_the_callers_process_and_the_errors_meaning() {
        let mut a = Attempts::default();
        assert_eq!(
            a.change(change(1_000, state::CLOSE, state::SYN_SENT, 0, 0)),
            None
        );
        // Decided in softirq context: the process is the caller's.
        let done = a
            .change(change(
                51_000_000,
                state::SYN_SENT,
                state::ESTABLISHED,
                0,
                0,
            ))
            .unwrap();
        assert_eq!((done.pid, done.comm.as_str()), (4242, "curl"));
        assert_eq!(done.outcome, Outcome::Established);
        assert_eq!(done.latency_ns, 50_999_000);
        for (errno, outcome) in [
            (111, Outcome::Refused),
            (110, Outcome::Timeout),
            (113, Outcome::Unreachable),
            (101, Outcome::Unreachable),
            (0, Outcome::Other(0)),
        ] {
            a.change(change(0, state::CLOSE, state::SYN_SENT, 0, 0));
            let done = a
                .change(change(5, state::SYN_SENT, state::CLOSE, errno, 2))
                .unwrap();
            assert_eq!(done.outcome, outcome);
            assert_eq!(done.syn_retransmits, 2);
        }
        // A change of a socket never seen connecting decides nothing.
        assert_eq!(
            a.change(change(9, state::SYN_SENT, state::CLOSE, 111, 0)),
            None
        );
    }
}
