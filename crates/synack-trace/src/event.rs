//! One event as the BPF program writes it (`struct event` in
//! src/bpf/handshakes.bpf.c: native byte order, ports in host order), as
//! long as its kind needs: [`BRIEF`] bytes, [`ENDS`] with the addresses,
//! [`PROCESS`] with the cgroup and command, [`FULL`] with an ICMP
//! message's sender. Which fields mean what depends on the kind;
//! [`Event`] says. What an event is too short to hold decodes as zero.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

/// TCP states as the kernel numbers them (include/net/tcp_states.h).
pub mod state {
    pub const ESTABLISHED: i32 = 1;
    pub const SYN_SENT: i32 = 2;
    pub const SYN_RECV: i32 = 3;
    pub const CLOSE: i32 = 7;
    pub const LISTEN: i32 = 10;
}

pub const BRIEF: usize = 48;
pub const ENDS: usize = 80;
pub const PROCESS: usize = 104;
pub const FULL: usize = 120;

/// What happened.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// A TCP state change, with what user space needs of each (the BPF
    /// side reads nothing more): a connect (CLOSE → SYN_SENT) has the
    /// ends, the namespace and the process; its end (SYN_SENT → any) the
    /// ends, `total_retrans`, and `srtt_us` or `error` (the socket's
    /// pending error); a connection made on a listener (SYN_RECV →
    /// ESTABLISHED) the ends, the namespace, `total_retrans`, `srtt_us`;
    /// the close of one never accepted (→ CLOSE), or never completed
    /// (SYN_RECV → CLOSE), only the socket.
    State,
    /// An ICMP destination unreachable about a connection: `local` and
    /// `remote` its ends (from the quoted headers), `error` its type << 8
    /// | code, `from` its sender. No socket.
    IcmpError,
    /// A SYN-ACK sent again: `socket` is the listener, `local` its
    /// address, `remote` the client.
    SynAckRetransmit,
    /// accept() returned `socket`, in the acceptor's context: the
    /// process, no ends (the connection's own event has them); `new` is
    /// the connection's state then: SYN_RECV for a TCP Fast Open one
    /// accepted before its handshake completed.
    Accepted,
    /// A packet with SYN set (a SYN or a SYN-ACK) the kernel dropped:
    /// `local` is the sender, `remote` the receiver, `error` the reason
    /// ([`crate::drops`]), `socket` the listener when known.
    Drop,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Event {
    pub kind: Kind,
    /// CLOCK_MONOTONIC ns (bpf_ktime_get_ns).
    pub ts_ns: u64,
    /// The socket's address: the key of a connection while it lives.
    pub socket: u64,
    pub cgroup: u64,
    pub pid: u32,
    pub total_retrans: u32,
    /// The network namespace's inode number.
    pub netns: u32,
    /// The kernel's smoothed RTT, µs (its first sample after a handshake).
    pub srtt_us: u32,
    pub local: SocketAddr,
    pub remote: SocketAddr,
    pub old: i32,
    pub new: i32,
    /// Errno, or a drop reason.
    pub error: i32,
    pub tcp_flags: u8,
    pub comm: Comm,
    /// The ICMP message's sender.
    pub from: IpAddr,
}

/// A task's command name as the kernel keeps it (TASK_COMM_LEN bytes,
/// NUL-padded): a value, not a string, until a record needs one (events
/// come by the hundred thousand a second).
#[derive(Clone, Copy, Default, PartialEq, Eq)]
pub struct Comm([u8; 16]);

impl Comm {
    /// The name, in UTF-8 (a byte that is not becomes U+FFFD).
    pub fn to_string_lossy(&self) -> String {
        let end = self.0.iter().position(|c| *c == 0).unwrap_or(16);
        String::from_utf8_lossy(&self.0[..end]).into_owned()
    }

    pub fn is_empty(&self) -> bool {
        self.0[0] == 0
    }
}

impl From<&str> for Comm {
    /// The first 15 bytes, as the kernel cuts a longer name.
    fn from(name: &str) -> Comm {
        let mut c = [0u8; 16];
        let n = name.len().min(15);
        c[..n].copy_from_slice(&name.as_bytes()[..n]);
        Comm(c)
    }
}

impl std::fmt::Debug for Comm {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.to_string_lossy().fmt(f)
    }
}

impl Event {
    /// Whether this event decides an attempt already open (a connect's
    /// end, an accept, the close of a connection never accepted) rather
    /// than starting one or standing alone. Such an event may lack the
    /// namespace and the ends: what it decides already has them.
    pub fn decides(&self) -> bool {
        match self.kind {
            Kind::Accepted => true,
            Kind::State => self.old == state::SYN_SENT || self.new == state::CLOSE,
            _ => false,
        }
    }
}

fn u16_at(b: &[u8], at: usize) -> u16 {
    u16::from_ne_bytes([b[at], b[at + 1]])
}

fn u32_at(b: &[u8], at: usize) -> u32 {
    u32::from_ne_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}

fn u64_at(b: &[u8], at: usize) -> u64 {
    u64::from_ne_bytes(b[at..at + 8].try_into().expect("8 bytes"))
}

const AF_INET: u16 = 2;

fn ip(family: u16, raw: &[u8]) -> IpAddr {
    if family == AF_INET {
        IpAddr::V4(Ipv4Addr::new(raw[0], raw[1], raw[2], raw[3]))
    } else {
        let mut a = [0u8; 16];
        a.copy_from_slice(&raw[..16]);
        let v6 = Ipv6Addr::from(a);
        v6.to_ipv4_mapped().map_or(IpAddr::V6(v6), IpAddr::V4)
    }
}

/// Decodes one event; `None` when it is shorter than the shortest, or of
/// a kind this build does not know.
pub fn decode(b: &[u8]) -> Option<Event> {
    if b.len() < BRIEF {
        return None;
    }
    let kind = match u16_at(b, 16) {
        0 => Kind::State,
        1 => Kind::IcmpError,
        2 => Kind::SynAckRetransmit,
        3 => Kind::Accepted,
        4 => Kind::Drop,
        _ => return None,
    };
    let mut full = [0u8; FULL];
    full[..b.len().min(FULL)].copy_from_slice(&b[..b.len().min(FULL)]);
    let b = &full;
    let family = u16_at(b, 18);
    Some(Event {
        kind,
        ts_ns: u64_at(b, 0),
        socket: u64_at(b, 8),
        local: SocketAddr::new(ip(family, &b[48..64]), u16_at(b, 20)),
        remote: SocketAddr::new(ip(family, &b[64..80]), u16_at(b, 22)),
        error: u32_at(b, 24) as i32,
        netns: u32_at(b, 28),
        total_retrans: u32_at(b, 32),
        srtt_us: u32_at(b, 36),
        old: i32::from(b[40]),
        new: i32::from(b[41]),
        tcp_flags: b[42],
        pid: u32_at(b, 44),
        cgroup: u64_at(b, 80),
        comm: Comm(b[88..104].try_into().expect("16 bytes")),
        from: ip(family, &b[104..120]),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_layout_of_the_bpf_programs_event_decodes() {
        let mut b = [0u8; FULL];
        b[0..8].copy_from_slice(&7u64.to_ne_bytes());
        b[8..16].copy_from_slice(&0xffff_8000u64.to_ne_bytes());
        b[16..18].copy_from_slice(&3u16.to_ne_bytes());
        b[18..20].copy_from_slice(&AF_INET.to_ne_bytes());
        b[20..22].copy_from_slice(&40000u16.to_ne_bytes());
        b[22..24].copy_from_slice(&80u16.to_ne_bytes());
        b[24..28].copy_from_slice(&111i32.to_ne_bytes());
        b[36..40].copy_from_slice(&1500u32.to_ne_bytes());
        b[40] = state::CLOSE as u8;
        b[41] = state::SYN_SENT as u8;
        b[42] = 0x12;
        b[44..48].copy_from_slice(&4242u32.to_ne_bytes());
        b[48..52].copy_from_slice(&[10, 0, 0, 1]);
        b[64..68].copy_from_slice(&[10, 0, 0, 2]);
        b[80..88].copy_from_slice(&9u64.to_ne_bytes());
        b[88..92].copy_from_slice(b"curl");
        b[104..108].copy_from_slice(&[10, 0, 0, 254]);
        let e = decode(&b).unwrap();
        assert_eq!(e.kind, Kind::Accepted);
        assert_eq!(
            (e.ts_ns, e.socket, e.pid, e.srtt_us, e.cgroup),
            (7, 0xffff_8000, 4242, 1500, 9)
        );
        assert_eq!(
            (e.old, e.new, e.error),
            (state::CLOSE, state::SYN_SENT, 111)
        );
        assert_eq!(e.local, "10.0.0.1:40000".parse().unwrap());
        assert_eq!(e.remote, "10.0.0.2:80".parse().unwrap());
        assert_eq!((e.tcp_flags, e.comm), (0x12, Comm::from("curl")));
        assert_eq!(e.from.to_string(), "10.0.0.254");
        // Shorter kinds: what is not there is zero.
        let brief = decode(&b[..BRIEF]).unwrap();
        assert_eq!((brief.pid, brief.local.port()), (4242, 40000));
        assert!(brief.local.ip().is_unspecified() && brief.comm.is_empty());
        let ends = decode(&b[..ENDS]).unwrap();
        assert_eq!((ends.remote, ends.cgroup), (e.remote, 0));
        assert_eq!(
            decode(&b[..PROCESS]).unwrap().comm.to_string_lossy(),
            "curl"
        );
        assert_eq!(decode(&b[..BRIEF - 1]), None);
        b[16] = 9;
        assert_eq!(decode(&b), None);
    }

    #[test]
    fn events_without_ends_are_those_that_decide_an_open_attempt() {
        let mut b = [0u8; BRIEF];
        let with = |b: &mut [u8; BRIEF], kind: u16, old: i32, new: i32| {
            b[16..18].copy_from_slice(&kind.to_ne_bytes());
            b[40] = old as u8;
            b[41] = new as u8;
            decode(b).unwrap().decides()
        };
        assert!(!with(&mut b, 0, state::CLOSE, state::SYN_SENT));
        assert!(!with(&mut b, 0, state::SYN_RECV, state::ESTABLISHED));
        assert!(with(&mut b, 0, state::SYN_SENT, state::ESTABLISHED));
        assert!(with(&mut b, 0, state::SYN_SENT, state::CLOSE));
        assert!(with(&mut b, 0, state::ESTABLISHED, state::CLOSE));
        assert!(with(&mut b, 3, 0, 0));
        assert!(!with(&mut b, 4, 0, 0));
    }
}
