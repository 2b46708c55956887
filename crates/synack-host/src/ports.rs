//! Ephemeral ports in use per destination. A client's connect() takes a
//! local port from `net.ipv4.ip_local_port_range` that no other socket to
//! the same destination (address and port) holds, TIME-WAIT ones included
//! unless `tcp_tw_reuse` lets it take those: so the range runs out per
//! destination, and a busy client talking to one backend fails with
//! EADDRNOTAVAIL while the host has ports to spare. Counted from the same
//! socket dump as the states; sockets on a listening port are the
//! server's side of accepted connections and are not counted.

use std::collections::{HashMap, HashSet};
use std::net::SocketAddr;

/// How many destinations a snapshot keeps (the busiest).
pub const KEPT: usize = 32;

/// One destination's share of the range.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Destination {
    pub remote: SocketAddr,
    /// Sockets to it holding a port of the range (any state but LISTEN).
    pub in_use: u32,
    /// Of those, in TIME-WAIT.
    pub time_wait: u32,
}

/// Ports in use per destination against the range.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PortUse {
    /// `ip_local_port_range`, inclusive.
    pub range: (u16, u16),
    /// The busiest destinations, most ports first (at most [`KEPT`]).
    pub destinations: Vec<Destination>,
    /// Destinations seen in all.
    pub destinations_seen: usize,
}

impl PortUse {
    pub fn range_size(&self) -> u32 {
        u32::from(self.range.1).saturating_sub(u32::from(self.range.0)) + 1
    }

    /// A destination's ports in percent of the range.
    pub fn fill(&self, d: &Destination) -> f64 {
        f64::from(d.in_use) * 100.0 / f64::from(self.range_size())
    }
}

/// "32768\t60999" → (32768, 60999).
pub fn parse_range(text: &str) -> Option<(u16, u16)> {
    let mut it = text.split_whitespace().map(str::parse::<u16>);
    match (it.next(), it.next()) {
        (Some(Ok(lo)), Some(Ok(hi))) if lo <= hi => Some((lo, hi)),
        _ => None,
    }
}

/// Counts sockets per destination during a dump.
#[derive(Debug, Clone)]
pub struct Tally {
    range: (u16, u16),
    listening: HashSet<u16>,
    pub(crate) per_destination: HashMap<SocketAddr, (u32, u32)>,
}

/// TCP_TIME_WAIT and TCP_LISTEN (include/net/tcp_states.h).
const TIME_WAIT: u8 = 6;
const LISTEN: u8 = 10;

impl Tally {
    pub fn new(range: (u16, u16), listening: HashSet<u16>) -> Tally {
        Tally {
            range,
            listening,
            per_destination: HashMap::new(),
        }
    }

    /// One socket of the dump.
    pub fn add(&mut self, state: u8, local_port: u16, remote: SocketAddr) {
        if state == LISTEN
            || !(self.range.0..=self.range.1).contains(&local_port)
            || self.listening.contains(&local_port)
        {
            return;
        }
        let e = self.per_destination.entry(remote).or_insert((0, 0));
        e.0 += 1;
        e.1 += u32::from(state == TIME_WAIT);
    }

    pub fn merge(&mut self, other: Tally) {
        for (remote, (n, tw)) in other.per_destination {
            let e = self.per_destination.entry(remote).or_insert((0, 0));
            e.0 += n;
            e.1 += tw;
        }
    }

    /// The busiest destinations.
    pub fn finish(self) -> PortUse {
        let destinations_seen = self.per_destination.len();
        let mut destinations: Vec<Destination> = self
            .per_destination
            .into_iter()
            .map(|(remote, (in_use, time_wait))| Destination {
                remote,
                in_use,
                time_wait,
            })
            .collect();
        destinations.sort_by_key(|d| (std::cmp::Reverse(d.in_use), d.remote));
        destinations.truncate(KEPT);
        PortUse {
            range: self.range,
            destinations,
            destinations_seen,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn client_ports_count_per_destination_and_server_sides_do_not() {
        let backend: SocketAddr = "10.0.0.9:5432".parse().unwrap();
        let other: SocketAddr = "10.0.0.8:443".parse().unwrap();
        let mut t = Tally::new((32768, 60999), HashSet::from([40000]));
        t.add(1, 33000, backend);
        t.add(TIME_WAIT, 33001, backend);
        t.add(1, 33002, other);
        // Outside the range, on a listening port, or a listener: not ours.
        t.add(1, 8080, backend);
        t.add(1, 40000, backend);
        t.add(LISTEN, 33003, backend);
        let mut v6 = Tally::new((32768, 60999), HashSet::new());
        v6.add(TIME_WAIT, 33004, backend);
        t.merge(v6);
        let u = t.finish();
        assert_eq!(u.destinations_seen, 2);
        assert_eq!(
            u.destinations[0],
            Destination {
                remote: backend,
                in_use: 3,
                time_wait: 2
            }
        );
        assert_eq!(u.range_size(), 28232);
        assert!((u.fill(&u.destinations[0]) - 3.0 * 100.0 / 28232.0).abs() < 1e-9);
    }

    #[test]
    fn ranges_parse_as_the_kernel_prints_them() {
        assert_eq!(parse_range("32768\t60999\n"), Some((32768, 60999)));
        assert_eq!(parse_range("61000 32768"), None);
        assert_eq!(parse_range("x"), None);
    }
}
