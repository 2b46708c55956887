//! One trace's events into what its users show: attempts as `Handshake`
//! records (with their cgroup path), dropped handshake packets with the
//! reason in words, SYN-ACKs sent again. Shared by `synack trace` and the
//! exporter's `--trace`.

use crate::attempts::Attempts;
use crate::cgroups::Cgroups;
use crate::drops::ReasonNames;
use crate::event::{Event, Kind};
use crate::record::{Clock, record};
use crate::tally::packet_kind;
use std::net::SocketAddr;
use synack_core::Handshake;

/// What an event came to.
#[derive(Debug)]
pub enum Traced {
    /// An attempt decided (made or received).
    Attempt(Box<Handshake>, crate::attempts::Attempt),
    /// A handshake packet dropped: `from` sent it to `to`.
    Drop {
        ts_ns: i64,
        packet: &'static str,
        from: SocketAddr,
        to: SocketAddr,
        reason: String,
    },
    /// A listener sent a SYN-ACK again.
    SynAckRetransmit {
        ts_ns: i64,
        listener: SocketAddr,
        client: SocketAddr,
    },
}

pub struct Session {
    pub attempts: Attempts,
    cgroups: Cgroups,
    clock: Clock,
    reasons: ReasonNames,
}

impl Session {
    pub fn new(reasons: ReasonNames) -> Session {
        Session {
            attempts: Attempts::default(),
            cgroups: Cgroups::new(crate::cgroups::cgroup2_root()),
            clock: Clock::now(),
            reasons,
        }
    }

    pub fn event(&mut self, e: Event) -> Option<Traced> {
        match e.kind {
            Kind::Drop => Some(Traced::Drop {
                ts_ns: self.clock.wall(e.ts_ns),
                packet: packet_kind(e.tcp_flags),
                from: e.local,
                to: e.remote,
                reason: self.reasons.words(e.error),
            }),
            Kind::SynAckRetransmit => Some(Traced::SynAckRetransmit {
                ts_ns: self.clock.wall(e.ts_ns),
                listener: e.local,
                client: e.remote,
            }),
            _ => {
                let a = self.attempts.event(e)?;
                Some(self.traced(a))
            }
        }
    }

    fn traced(&mut self, a: crate::attempts::Attempt) -> Traced {
        let cgroup = a
            .cgroup
            .and_then(|id| self.cgroups.path(id).map(String::from));
        Traced::Attempt(Box::new(record(&a, self.clock, cgroup)), a)
    }

    /// The attempts still open at the end, decided as they stand.
    pub fn finish(&mut self) -> Vec<Traced> {
        let left = self.attempts.finish();
        left.into_iter().map(|a| self.traced(a)).collect()
    }
}
