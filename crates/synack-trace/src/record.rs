//! A traced attempt as a `Handshake` record (source `ebpf`), with the
//! fields only trace records have (docs/SCHEMA.md): which end this host
//! was, the process, its cgroup and network namespace, the errno, and a
//! received connection's accept-queue wait.
//!
//! Times are the kernel's: the attempt's start and end from its
//! tracepoints (CLOCK_MONOTONIC, put on the wall clock with one offset
//! read at the start), and the RTT from the kernel's first sample.

use crate::attempts::{Attempt, End};
use synack_core::{Handshake, Outcome, Side, Source, TraceInfo};
use synack_sys::tcp::errno_name;

/// CLOCK_MONOTONIC to the wall clock (ns since the epoch).
#[derive(Clone, Copy, Debug)]
pub struct Clock {
    offset_ns: i64,
}

impl Clock {
    /// The offset now.
    pub fn now() -> Clock {
        let wall = synack_core::time::unix_ns(std::time::SystemTime::now());
        Clock {
            offset_ns: wall - synack_sys::monotonic_ns() as i64,
        }
    }

    pub fn with_offset(offset_ns: i64) -> Clock {
        Clock { offset_ns }
    }

    pub fn wall(&self, monotonic_ns: u64) -> i64 {
        monotonic_ns as i64 + self.offset_ns
    }
}

/// The record of one traced attempt; `cgroup` is its cgroup's path.
pub fn record(a: &Attempt, clock: Clock, cgroup: Option<String>) -> Handshake {
    let outcome = a.outcome;
    let established = outcome == Outcome::Established;
    let rtt_ns = a.rtt_us.map(|us| i64::from(us) * 1000);
    let retransmits = a.retransmits;
    let info = TraceInfo {
        local_side: Some(match a.end {
            End::Client => Side::Client,
            End::Server => Side::Server,
        }),
        pid: a.pid,
        comm: a.comm.map(|c| c.to_string_lossy()),
        cgroup,
        netns: a.netns,
        error: (a.errno != 0).then(|| (a.errno, errno_name(a.errno))),
        accept_wait_ns: a.accept_wait_ns.map(|w| w as i64),
    };
    match a.end {
        End::Client => {
            let ts = clock.wall(a.started_ns);
            let end = ts + a.latency_ns as i64;
            let mut h = Handshake::observed(ts, Source::Ebpf, a.local, a.remote, outcome);
            h.syn_count = 1 + retransmits;
            // The kernel's sample is the SYN that was answered to its
            // SYN-ACK; the client's ACK leaves at once.
            h.syn_synack_ns = rtt_ns.filter(|_| established);
            h.synack_ack_ns = h.syn_synack_ns.map(|_| 0);
            h.total_ns = h.syn_synack_ns;
            h.setup_ns = established.then_some(end - ts);
            h.times.last = end;
            h.times.ack = established.then_some(end);
            h.icmp = a.icmp;
            h.trace = Some(Box::new(info));
            h
        }
        End::Server => {
            // The SYN's arrival is not traced: the record starts at the
            // answered SYN-ACK, one RTT sample before the handshake's end.
            let end = clock.wall(a.started_ns);
            let ts = end - rtt_ns.unwrap_or(0);
            let mut h = Handshake::observed(ts, Source::Ebpf, a.remote, a.local, outcome);
            h.synack_count = 1 + retransmits;
            h.synack_ack_ns = rtt_ns;
            h.total_ns = rtt_ns;
            h.times.synack = vec![ts];
            h.times.ack = Some(end);
            h.times.last = end + a.accept_wait_ns.unwrap_or(0) as i64;
            h.trace = Some(Box::new(info));
            h
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn attempt(end: End, outcome: Outcome) -> Attempt {
        Attempt {
            end,
            local: "10.0.0.1:40000".parse().unwrap(),
            remote: "10.0.0.2:80".parse().unwrap(),
            pid: Some(4242),
            comm: Some(crate::event::Comm::from("curl")),
            cgroup: Some(7),
            netns: 4026531840,
            outcome,
            started_ns: 1_000,
            latency_ns: 3_000_000,
            retransmits: 1,
            rtt_us: Some(1500),
            accept_wait_ns: None,
            errno: 0,
            icmp: None,
        }
    }

    #[test]
    fn client_and_server_records_put_each_end_in_its_place() {
        let clock = Clock::with_offset(1_700_000_000_000_000_000);
        let made = record(&attempt(End::Client, Outcome::Established), clock, None);
        assert_eq!(made.source.as_str(), "ebpf");
        assert_eq!(made.client.to_string(), "10.0.0.1:40000");
        assert_eq!((made.syn_count, made.total_ns), (2, Some(1_500_000)));
        assert_eq!(made.setup_ns, Some(3_000_000));
        let t = made.trace.as_ref().unwrap();
        assert_eq!((t.local_side, t.pid), (Some(Side::Client), Some(4242)));

        let mut refused = attempt(End::Client, Outcome::Refused);
        refused.errno = 111;
        let refused = record(&refused, clock, Some("/user.slice".into()));
        assert_eq!(
            (refused.outcome, refused.conn_state.as_str()),
            (Outcome::Refused, "REJ")
        );
        assert_eq!(refused.total_ns, None);
        let t = refused.trace.unwrap();
        assert_eq!(t.error, Some((111, "ECONNREFUSED")));
        assert_eq!(t.cgroup.as_deref(), Some("/user.slice"));

        let mut received = attempt(End::Server, Outcome::Established);
        received.accept_wait_ns = Some(200_000_000);
        let received = record(&received, clock, None);
        assert_eq!(received.server.to_string(), "10.0.0.1:40000");
        assert_eq!(
            (received.synack_count, received.synack_ack_ns),
            (2, Some(1_500_000))
        );
        assert_eq!(received.ts_ns, clock.wall(1_000) - 1_500_000);
        assert_eq!(received.trace.unwrap().accept_wait_ns, Some(200_000_000));
    }
}
