//! Events into connection attempts, made and received. Pure: tests feed
//! it events.
//!
//! Made (client side): a connect() is a socket going CLOSE → SYN_SENT, in
//! the caller's context (its pid and command). It ends SYN_SENT →
//! ESTABLISHED, or SYN_SENT → CLOSE with the socket's error, which names
//! the outcome as everywhere else in synack: ECONNREFUSED refused,
//! ETIMEDOUT timeout, an ICMP destination unreachable (or EHOSTUNREACH /
//! ENETUNREACH) unreachable, no error at all (the application closed it
//! first) incomplete. ICMP messages are matched to the attempt by the
//! connection they quote, since the caller may read and clear the
//! socket's error before it closes: the local port is not known while a
//! connect() is in flight, so the message goes to the oldest attempt to
//! the same remote end in the same namespace that has none yet.
//!
//! Received (server side): the kernel makes the connection's socket from
//! the listener when the completing ACK arrives (→ SYN_RECV →
//! ESTABLISHED, in softirq context: no process). The attempt is written
//! when accept() returns it (the acceptor is its process, and the time
//! in between its accept-queue wait), when it closes unaccepted, or when
//! the trace ends. The kernel queues the connection just before that
//! state change, so an accept() on another CPU can come first: it waits
//! for the connection's event (its wait is then 0). A TCP Fast Open
//! connection is queued when its SYN arrives (RFC 7413 section 4.2) and
//! may be accepted a round trip or more before its handshake completes:
//! the accept says so (the connection was still SYN_RECV) and waits for
//! the handshake's end, or its failure, however long it takes.
//!
//! Open attempts are bounded ([`MAX_OPEN`] each side, the oldest evicted
//! and counted).

use crate::event::{Comm, Event, Kind, state};
// Keyed by socket address, a kernel pointer no client chooses: FxHash,
// as the tracker's flow tables (SipHash, std's default, made for keys an
// attacker picks, cost more than the rest of an event's handling).
use rustc_hash::FxHashMap as HashMap;
use std::net::SocketAddr;
use synack_core::{IcmpInfo, Outcome};
use synack_sys::errno::{ECONNREFUSED, EHOSTUNREACH, ENETUNREACH, ETIMEDOUT};

pub const MAX_OPEN: usize = 65_536;

/// An attempt's outcome from how its connect() ended: the socket's new
/// state and its error, read as everywhere else in synack.
fn outcome_of(new_state: i32, errno: i32) -> Outcome {
    match (new_state, errno) {
        (state::ESTABLISHED, _) => Outcome::Established,
        (_, ECONNREFUSED) => Outcome::Refused,
        (_, ETIMEDOUT) => Outcome::Timeout,
        (_, EHOSTUNREACH | ENETUNREACH) => Outcome::Unreachable,
        // Closed by the application before an answer.
        (_, 0) => Outcome::Incomplete,
        // Ended by another error (in `errno`).
        _ => Outcome::LocalError,
    }
}

/// Which end of the connection this host was.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum End {
    /// It called connect().
    Client,
    /// A listener of it took the connection.
    Server,
}

/// One attempt, decided.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Attempt {
    pub end: End,
    pub local: SocketAddr,
    pub remote: SocketAddr,
    /// The caller of connect(), or of accept(); unknown for a connection
    /// never accepted.
    pub pid: Option<u32>,
    pub comm: Option<Comm>,
    pub cgroup: Option<u64>,
    pub netns: u32,
    pub outcome: Outcome,
    /// Client: connect() (CLOSE → SYN_SENT). Server: the handshake's end.
    /// CLOCK_MONOTONIC ns.
    pub started_ns: u64,
    /// Client: connect() to the outcome, ns. Server: 0.
    pub latency_ns: u64,
    /// SYNs (client) or SYN-ACKs (server) sent again.
    pub retransmits: u32,
    /// The kernel's first RTT sample, µs: SYN → SYN-ACK on the client,
    /// SYN-ACK → ACK on the server (RFC 6298 takes no sample from a
    /// retransmitted segment without timestamps).
    pub rtt_us: Option<u32>,
    /// Server: the handshake's end to accept() returning it, ns.
    pub accept_wait_ns: Option<u64>,
    /// The errno the attempt ended with (0 without one).
    pub errno: i32,
    /// The ICMP destination unreachable that answered it.
    pub icmp: Option<IcmpInfo>,
}

struct Connecting {
    started: Event,
    icmp: Option<IcmpInfo>,
}

/// accept() can return a connection before the state change that says it
/// was made reaches user space: the kernel puts the connection in the
/// accept queue first (inet_csk_complete_hashdance), and an accept() on
/// another CPU may take it in between. Such accepts wait this long (the
/// window is microseconds), at most [`MAX_EARLY_ACCEPTS`] of them; an
/// older one is of another socket that had the same address.
const EARLY_ACCEPT_NS: u64 = 1_000_000;
const MAX_EARLY_ACCEPTS: usize = 4_096;

/// Attempts in progress, and the events that decide them.
#[derive(Default)]
pub struct Attempts {
    connecting: HashMap<u64, Connecting>,
    queued: HashMap<u64, Event>,
    /// Accepts of connections not (yet) known, by socket, and in the
    /// order they came (most are of connections made before the trace
    /// began, or filtered out: they age out).
    early_accepts: HashMap<u64, Event>,
    early_order: std::collections::VecDeque<(u64, u64)>,
    /// Accepts of Fast Open connections whose handshake had not completed.
    accepted_unfinished: HashMap<u64, Event>,
    /// Attempts written early because too many were open at once.
    pub evicted: u64,
}

/// Inserts under the bound, evicting (and counting) the oldest first.
fn insert_bounded<V>(
    map: &mut HashMap<u64, V>,
    key: u64,
    value: V,
    started: impl Fn(&V) -> u64,
    evicted: &mut u64,
) {
    if map.len() >= MAX_OPEN
        && !map.contains_key(&key)
        && let Some(oldest) = map.iter().min_by_key(|(_, v)| started(v)).map(|(k, _)| *k)
    {
        map.remove(&oldest);
        *evicted += 1;
    }
    map.insert(key, value);
}

impl Attempts {
    /// Takes one event; returns the attempt it decided, if any.
    pub fn event(&mut self, e: Event) -> Option<Attempt> {
        match e.kind {
            Kind::State => self.state(e),
            Kind::IcmpError => {
                let icmp = IcmpInfo {
                    v6: e.remote.is_ipv6(),
                    icmp_type: (e.error >> 8) as u8,
                    code: e.error as u8,
                    from: e.from,
                };
                if let Some(c) = self
                    .connecting
                    .values_mut()
                    .filter(|c| c.started.remote == e.remote && c.started.netns == e.netns)
                    .min_by_key(|c| (c.icmp.is_some(), c.started.ts_ns))
                {
                    c.icmp = Some(icmp);
                }
                None
            }
            Kind::Accepted => match self.queued.remove(&e.socket) {
                Some(done) => Some(accepted(&done, e)),
                None if e.new == state::SYN_RECV => {
                    let socket = e.socket;
                    insert_bounded(
                        &mut self.accepted_unfinished,
                        socket,
                        e,
                        |a| a.ts_ns,
                        &mut self.evicted,
                    );
                    None
                }
                None => {
                    self.early_accept(e);
                    None
                }
            },
            Kind::SynAckRetransmit | Kind::Drop => None,
        }
    }

    fn state(&mut self, e: Event) -> Option<Attempt> {
        match (e.old, e.new) {
            (state::CLOSE, state::SYN_SENT) => {
                let socket = e.socket;
                insert_bounded(
                    &mut self.connecting,
                    socket,
                    Connecting {
                        started: e,
                        icmp: None,
                    },
                    |c| c.started.ts_ns,
                    &mut self.evicted,
                );
                None
            }
            (state::SYN_SENT, new) => {
                let open = self.connecting.remove(&e.socket)?;
                let errno = e.error;
                let outcome = match (new, open.icmp) {
                    (state::ESTABLISHED, _) => Outcome::Established,
                    // An ICMP error answered the SYN; the socket may have
                    // gone on until the application gave up or timed out.
                    (_, Some(_)) => Outcome::Unreachable,
                    _ => outcome_of(new, errno),
                };
                let s = open.started;
                Some(Attempt {
                    end: End::Client,
                    // The local port is chosen once the connect() began
                    // (the address before): the end has only the port.
                    local: if e.local.port() != 0 {
                        SocketAddr::new(s.local.ip(), e.local.port())
                    } else {
                        s.local
                    },
                    remote: s.remote,
                    pid: Some(s.pid),
                    comm: Some(s.comm),
                    cgroup: Some(s.cgroup),
                    netns: s.netns,
                    outcome,
                    started_ns: s.ts_ns,
                    latency_ns: e.ts_ns.saturating_sub(s.ts_ns),
                    retransmits: e.total_retrans,
                    rtt_us: (outcome == Outcome::Established && e.srtt_us > 0).then_some(e.srtt_us),
                    accept_wait_ns: None,
                    errno: if outcome == Outcome::Established {
                        0
                    } else {
                        errno
                    },
                    icmp: open.icmp.filter(|_| outcome == Outcome::Unreachable),
                })
            }
            (state::SYN_RECV, state::ESTABLISHED) => {
                if let Some(accept) = self.accepted_unfinished.remove(&e.socket) {
                    return Some(accepted(&e, accept));
                }
                if let Some(accept) = self.early_accepts.remove(&e.socket)
                    && accept.ts_ns.abs_diff(e.ts_ns) < EARLY_ACCEPT_NS
                {
                    return Some(accepted(&e, accept));
                }
                let socket = e.socket;
                insert_bounded(&mut self.queued, socket, e, |q| q.ts_ns, &mut self.evicted);
                None
            }
            // A handshake that never completed: nothing to write (the
            // server side writes connections made).
            (state::SYN_RECV, state::CLOSE) => {
                self.accepted_unfinished.remove(&e.socket);
                None
            }
            // Closed before anyone accepted it.
            (_, state::CLOSE) => self.queued.remove(&e.socket).map(|q| received(&q)),
            _ => None,
        }
    }

    fn early_accept(&mut self, e: Event) {
        while let Some(&(socket, ts)) = self.early_order.front() {
            if self.early_order.len() < MAX_EARLY_ACCEPTS
                && e.ts_ns.saturating_sub(ts) < EARLY_ACCEPT_NS
            {
                break;
            }
            self.early_order.pop_front();
            // Unless the socket was accepted again since (a new socket
            // at the same address).
            if self
                .early_accepts
                .get(&socket)
                .is_some_and(|a| a.ts_ns == ts)
            {
                self.early_accepts.remove(&socket);
            }
        }
        self.early_order.push_back((e.socket, e.ts_ns));
        self.early_accepts.insert(e.socket, e);
    }

    /// The attempts still open when the trace ends: connections made but
    /// not yet accepted (connects still in progress decide nothing).
    pub fn finish(&mut self) -> Vec<Attempt> {
        let mut left: Vec<Attempt> = self.queued.drain().map(|(_, q)| received(&q)).collect();
        left.sort_by_key(|a| a.started_ns);
        left
    }
}

/// A received connection, accepted.
fn accepted(made: &Event, accept: Event) -> Attempt {
    Attempt {
        pid: Some(accept.pid),
        accept_wait_ns: Some(accept.ts_ns.saturating_sub(made.ts_ns)),
        cgroup: Some(accept.cgroup),
        comm: Some(accept.comm),
        ..received(made)
    }
}

/// A received connection from its ESTABLISHED event (no process yet).
fn received(e: &Event) -> Attempt {
    Attempt {
        end: End::Server,
        local: e.local,
        remote: e.remote,
        pid: None,
        comm: None,
        cgroup: None,
        netns: e.netns,
        outcome: Outcome::Established,
        started_ns: e.ts_ns,
        latency_ns: 0,
        // The connection's socket starts with the request's SYN-ACK
        // retransmissions (tcp_create_openreq_child).
        retransmits: e.total_retrans,
        rtt_us: (e.srtt_us > 0).then_some(e.srtt_us),
        accept_wait_ns: None,
        errno: 0,
        icmp: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(kind: Kind, ts: u64, old: i32, new: i32, error: i32) -> Event {
        let caller = kind == Kind::Accepted || old == state::CLOSE;
        Event {
            kind,
            ts_ns: ts,
            socket: 0xffff_0001,
            cgroup: 7,
            pid: if caller { 4242 } else { 0 },
            total_retrans: 2,
            netns: 4026531840,
            srtt_us: 1500,
            local: "10.0.0.1:40000".parse().unwrap(),
            remote: "10.0.0.2:80".parse().unwrap(),
            old,
            new,
            error,
            tcp_flags: 0,
            comm: if caller { "curl" } else { "swapper/0" }.into(),
            from: "10.0.0.254".parse().unwrap(),
        }
    }

    fn state(ts: u64, old: i32, new: i32, error: i32) -> Event {
        event(Kind::State, ts, old, new, error)
    }

    #[test]
    fn attempts_take_the_callers_process_and_the_errors_meaning() {
        let mut a = Attempts::default();
        assert_eq!(
            a.event(state(1_000, state::CLOSE, state::SYN_SENT, 0)),
            None
        );
        // Decided in softirq context: the process is the caller's.
        let done = a
            .event(state(51_000_000, state::SYN_SENT, state::ESTABLISHED, 0))
            .unwrap();
        assert_eq!((done.pid, done.comm), (Some(4242), Some("curl".into())));
        assert_eq!(done.outcome, Outcome::Established);
        assert_eq!((done.latency_ns, done.rtt_us), (50_999_000, Some(1500)));
        for (errno, outcome) in [
            (111, Outcome::Refused),
            (110, Outcome::Timeout),
            (113, Outcome::Unreachable),
            (101, Outcome::Unreachable),
            (0, Outcome::Incomplete),
            (22, Outcome::LocalError),
        ] {
            a.event(state(0, state::CLOSE, state::SYN_SENT, 0));
            let done = a
                .event(state(5, state::SYN_SENT, state::CLOSE, errno))
                .unwrap();
            assert_eq!((done.outcome, done.errno), (outcome, errno));
            assert_eq!((done.retransmits, done.rtt_us), (2, None));
        }
        // A change of a socket never seen connecting decides nothing.
        assert_eq!(a.event(state(9, state::SYN_SENT, state::CLOSE, 111)), None);
    }

    #[test]
    fn an_icmp_error_read_before_the_close_still_names_the_outcome() {
        let mut a = Attempts::default();
        let mut elsewhere = state(0, state::CLOSE, state::SYN_SENT, 0);
        elsewhere.socket = 2;
        elsewhere.remote = "10.0.0.3:80".parse().unwrap();
        a.event(elsewhere);
        a.event(state(1, state::CLOSE, state::SYN_SENT, 0));
        // Host unreachable (type 3, code 1), quoting the connection.
        a.event(event(Kind::IcmpError, 3, 0, 0, 3 << 8 | 1));
        let done = a.event(state(5, state::SYN_SENT, state::CLOSE, 0)).unwrap();
        assert_eq!(done.outcome, Outcome::Unreachable);
        let icmp = done.icmp.unwrap();
        assert_eq!((icmp.icmp_type, icmp.code, icmp.v6), (3, 1, false));
        assert_eq!(icmp.from.to_string(), "10.0.0.254");
        // The other attempt, to another server, was not touched.
        let mut other = state(6, state::SYN_SENT, state::CLOSE, 0);
        other.socket = 2;
        assert_eq!(a.event(other).unwrap().outcome, Outcome::Incomplete);
    }

    #[test]
    fn a_received_connection_waits_for_accept_and_takes_the_acceptor() {
        let mut a = Attempts::default();
        assert_eq!(
            a.event(state(1_000, state::LISTEN, state::SYN_RECV, 0)),
            None
        );
        assert_eq!(
            a.event(state(2_000, state::SYN_RECV, state::ESTABLISHED, 0)),
            None
        );
        let done = a.event(event(Kind::Accepted, 202_000, 0, 0, 0)).unwrap();
        assert_eq!(done.end, End::Server);
        assert_eq!(done.accept_wait_ns, Some(200_000));
        assert_eq!((done.pid, done.comm), (Some(4242), Some("curl".into())));
        assert_eq!((done.retransmits, done.rtt_us), (2, Some(1500)));
        // Closed unaccepted, or still queued at the end: no wait, no process.
        a.event(state(3_000, state::SYN_RECV, state::ESTABLISHED, 0));
        let closed = a
            .event(state(4_000, state::ESTABLISHED, state::CLOSE, 0))
            .unwrap();
        assert_eq!((closed.accept_wait_ns, closed.pid), (None, None));
        a.event(state(5_000, state::SYN_RECV, state::ESTABLISHED, 0));
        assert_eq!(a.finish().len(), 1);
        assert!(a.finish().is_empty());
    }

    #[test]
    fn an_accept_seen_before_its_connection_was_made_still_completes_it() {
        let mut a = Attempts::default();
        // accept() took the connection from the queue before its state
        // change (SYN_RECV → ESTABLISHED) came.
        assert_eq!(a.event(event(Kind::Accepted, 2_000, 0, 0, 0)), None);
        let done = a
            .event(state(2_500, state::SYN_RECV, state::ESTABLISHED, 0))
            .unwrap();
        assert_eq!((done.end, done.accept_wait_ns), (End::Server, Some(0)));
        assert_eq!((done.pid, done.comm), (Some(4242), Some("curl".into())));
        assert!(a.finish().is_empty(), "nothing left queued");
        // One of another socket at the same address, long before, is not
        // this connection's.
        assert_eq!(a.event(event(Kind::Accepted, 3_000, 0, 0, 0)), None);
        let made = 3_000 + 2 * EARLY_ACCEPT_NS;
        assert_eq!(
            a.event(state(made, state::SYN_RECV, state::ESTABLISHED, 0)),
            None
        );
        assert_eq!(a.finish().len(), 1, "queued, waiting for its own accept");
        // Accepts of connections never seen made age out.
        for i in 0..(MAX_EARLY_ACCEPTS as u64 + 10) {
            let mut e = event(Kind::Accepted, 10_000 + i, 0, 0, 0);
            e.socket = 1_000 + i;
            a.event(e);
        }
        assert!(a.early_accepts.len() <= MAX_EARLY_ACCEPTS);
        let mut late = event(Kind::Accepted, 10_000 + EARLY_ACCEPT_NS * 2, 0, 0, 0);
        late.socket = 7;
        a.event(late);
        assert_eq!(a.early_accepts.len(), 1, "the old ones aged out");
    }

    #[test]
    fn a_fast_open_connection_accepted_before_its_handshake_completed_is_written_when_it_does() {
        let mut a = Attempts::default();
        // accept() returned it while it was SYN_RECV; the client's ACK came
        // a round trip of 20 ms later, far past the early-accept window.
        let accept = event(Kind::Accepted, 1_000, 0, state::SYN_RECV, 0);
        assert_eq!(a.event(accept), None);
        let done = a
            .event(state(
                1_000 + 20_000_000,
                state::SYN_RECV,
                state::ESTABLISHED,
                0,
            ))
            .expect("written when the handshake completes");
        assert_eq!((done.end, done.accept_wait_ns), (End::Server, Some(0)));
        assert_eq!((done.pid, done.comm), (Some(4242), Some("curl".into())));
        assert!(a.finish().is_empty());
        // One whose handshake failed is forgotten: a later connection at
        // the same socket address is not taken for it.
        a.event(event(Kind::Accepted, 30_000_000, 0, state::SYN_RECV, 0));
        assert_eq!(
            a.event(state(31_000_000, state::SYN_RECV, state::CLOSE, 0)),
            None
        );
        assert_eq!(
            a.event(state(90_000_000, state::SYN_RECV, state::ESTABLISHED, 0)),
            None,
            "queued, waiting for its own accept"
        );
        assert_eq!(a.finish().len(), 1);
    }

    #[test]
    fn open_attempts_are_bounded_and_evictions_counted() {
        let mut a = Attempts::default();
        for i in 0..(MAX_OPEN as u64 + 3) {
            let mut e = state(i, state::CLOSE, state::SYN_SENT, 0);
            e.socket = i;
            a.event(e);
        }
        assert_eq!(a.evicted, 3);
        let mut first = state(9, state::SYN_SENT, state::CLOSE, 111);
        first.socket = 0;
        assert_eq!(a.event(first), None, "the oldest was evicted");
    }
}
