//! The kernel's TCP socket tables in text (/proc/net/tcp and tcp6), read
//! in the calling thread's namespace: a second view, independent of
//! sock_diag, for the lab's readiness checks and its tests' ground truth.

use std::io;

/// A socket's state as the tables write it (include/net/tcp_states.h).
pub const STATE_SYN_RECV: u8 = 0x03;
pub const STATE_LISTEN: u8 = 0x0a;

/// One line of a table: the local port and the state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProcSocket {
    pub local_port: u16,
    pub state: u8,
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
        let state = fields.nth(1)?;
        Some(ProcSocket {
            local_port: u16::from_str_radix(local.rsplit(':').next()?, 16).ok()?,
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
                    state: STATE_LISTEN
                },
                ProcSocket {
                    local_port: 8080,
                    state: STATE_SYN_RECV
                }
            ]
        );
    }
}
