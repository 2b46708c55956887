//! One state change as the BPF program writes it (`struct event` in
//! src/bpf/handshakes.bpf.c, native byte order, ports in host order).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

/// TCP states as the kernel numbers them (include/net/tcp_states.h).
pub mod state {
    pub const ESTABLISHED: i32 = 1;
    pub const SYN_SENT: i32 = 2;
    pub const SYN_RECV: i32 = 3;
    pub const CLOSE: i32 = 7;
    pub const LISTEN: i32 = 10;
}

pub const SIZE: usize = 100;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StateChange {
    /// CLOCK_MONOTONIC ns (bpf_ktime_get_ns).
    pub ts_ns: u64,
    /// The socket's address: the key of a connection while it lives.
    pub socket: u64,
    pub cgroup: u64,
    pub pid: u32,
    pub total_retrans: u32,
    pub local: SocketAddr,
    pub remote: SocketAddr,
    pub old: i32,
    pub new: i32,
    /// The socket's pending error (errno), 0 without one.
    pub error: i32,
    pub comm: String,
}

fn u16_at(b: &[u8], at: usize) -> u16 {
    u16::from_ne_bytes([b[at], b[at + 1]])
}

fn u32_at(b: &[u8], at: usize) -> u32 {
    u32::from_ne_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}

fn u64_at(b: &[u8], at: usize) -> u64 {
    let mut a = [0u8; 8];
    a.copy_from_slice(&b[at..at + 8]);
    u64::from_ne_bytes(a)
}

fn ip(family: u16, raw: &[u8]) -> IpAddr {
    if family == 2 {
        IpAddr::V4(Ipv4Addr::new(raw[0], raw[1], raw[2], raw[3]))
    } else {
        let mut a = [0u8; 16];
        a.copy_from_slice(&raw[..16]);
        let v6 = Ipv6Addr::from(a);
        v6.to_ipv4_mapped().map_or(IpAddr::V6(v6), IpAddr::V4)
    }
}

/// Decodes one event; `None` when it is shorter than the layout.
pub fn decode(b: &[u8]) -> Option<StateChange> {
    if b.len() < SIZE {
        return None;
    }
    let family = u16_at(b, 32);
    let comm = &b[84..100];
    let end = comm.iter().position(|c| *c == 0).unwrap_or(comm.len());
    Some(StateChange {
        ts_ns: u64_at(b, 0),
        socket: u64_at(b, 8),
        cgroup: u64_at(b, 16),
        pid: u32_at(b, 24),
        total_retrans: u32_at(b, 28),
        local: SocketAddr::new(ip(family, &b[52..68]), u16_at(b, 34)),
        remote: SocketAddr::new(ip(family, &b[68..84]), u16_at(b, 36)),
        old: u32_at(b, 40) as i32,
        new: u32_at(b, 44) as i32,
        error: u32_at(b, 48) as i32,
        comm: String::from_utf8_lossy(&comm[..end]).into_owned(),
    })
}
