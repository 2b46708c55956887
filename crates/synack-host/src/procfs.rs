//! The kernel's TCP socket tables in text (/proc/net/tcp and tcp6), read
//! in the calling thread's namespace: a second view, independent of
//! sock_diag, for the lab's readiness checks and its tests' ground truth.

use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

/// A socket's state as the tables write it (include/net/tcp_states.h).
pub const STATE_SYN_RECV: u8 = 0x03;
pub const STATE_LISTEN: u8 = 0x0a;

/// One line of a table: the local port, the remote end and the state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProcSocket {
    pub local_port: u16,
    pub remote: SocketAddr,
    pub state: u8,
}

/// `0100007F:1F90` (IPv4) or 32 hex digits and a port (IPv6): the address
/// as the kernel prints it, 32-bit words in host (little-endian) order.
fn endpoint(hex: &str) -> Option<SocketAddr> {
    let (addr, port) = hex.split_once(':')?;
    let port = u16::from_str_radix(port, 16).ok()?;
    let word = |i: usize| {
        u32::from_str_radix(addr.get(i * 8..i * 8 + 8)?, 16)
            .ok()
            .map(u32::swap_bytes)
    };
    let ip = match addr.len() {
        8 => IpAddr::V4(Ipv4Addr::from(word(0)?)),
        32 => {
            let words = [word(0)?, word(1)?, word(2)?, word(3)?];
            let mut bytes = [0u8; 16];
            for (i, w) in words.iter().enumerate() {
                bytes[i * 4..i * 4 + 4].copy_from_slice(&w.to_be_bytes());
            }
            IpAddr::V6(Ipv6Addr::from(bytes))
        }
        _ => return None,
    };
    Some(SocketAddr::new(ip, port))
}

/// Every TCP socket of both tables.
pub fn tcp_sockets() -> io::Result<Vec<ProcSocket>> {
    let mut all = Vec::new();
    for file in ["tcp", "tcp6"] {
        let text = std::fs::read_to_string(format!("/proc/thread-self/net/{file}"))?;
        all.extend(parse(&text));
    }
    Ok(all)
}

/// The sockets of one table's text; lines that do not parse are skipped.
pub fn parse(text: &str) -> impl Iterator<Item = ProcSocket> + '_ {
    text.lines().skip(1).filter_map(|line| {
        let mut fields = line.split_whitespace();
        let local = fields.nth(1)?;
        let remote = fields.next()?;
        let state = fields.next()?;
        Some(ProcSocket {
            local_port: u16::from_str_radix(local.rsplit(':').next()?, 16).ok()?,
            remote: endpoint(remote)?,
            state: u8::from_str_radix(state, 16).ok()?,
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn local_port_and_state_from_a_table() {
        let text = "  sl  local_address rem_address   st tx_queue rx_queue\n\
                    0: 0100007F:1F90 00000000:0000 0A 00000000:00000000 00:00000000\n\
                    1: 0100007F:1F90 0200007F:9C40 03 00000000:00000000 00:00000000\n";
        let got: Vec<ProcSocket> = parse(text).collect();
        assert_eq!(
            got,
            vec![
                ProcSocket {
                    local_port: 8080,
                    remote: "0.0.0.0:0".parse().unwrap(),
                    state: STATE_LISTEN
                },
                ProcSocket {
                    local_port: 8080,
                    remote: "127.0.0.2:40000".parse().unwrap(),
                    state: STATE_SYN_RECV
                }
            ]
        );
    }

    #[test]
    fn ipv6_remote_ends_read_word_by_word() {
        let text = "  sl  local_address rem_address st\n\
                    0: 00000000000000000000000001000000:1F90 B80D0120000000000000000001000000:01BB 01 x\n";
        let got: Vec<ProcSocket> = parse(text).collect();
        assert_eq!(got[0].remote, "[2001:db8::1]:443".parse().unwrap());
    }
}
