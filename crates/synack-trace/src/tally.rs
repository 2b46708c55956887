//! What a trace saw besides its attempts, per listener: handshake packets
//! the kernel dropped (by reason), SYN-ACKs sent again, accept-queue
//! waits; and the events read and lost. Bounded: [`MAX_KEYS`] keys per
//! table, the rest counted under one "other" row.

use crate::attempts::{Attempt, End};
use std::collections::BTreeMap;
use std::net::SocketAddr;
use synack_core::stats::Latencies;

pub const MAX_KEYS: usize = 256;

/// What a dropped packet was, from its flags.
pub fn packet_kind(tcp_flags: u8) -> &'static str {
    const SYN: u8 = 0x02;
    const ACK: u8 = 0x10;
    match (tcp_flags & SYN != 0, tcp_flags & ACK != 0) {
        (true, false) => "SYN",
        (true, true) => "SYN-ACK",
        _ => "ACK",
    }
}

/// One row of the drop table.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct DropKey {
    /// The packet's receiver: the listener, for a SYN.
    pub to: SocketAddr,
    /// "SYN", "SYN-ACK" or "ACK".
    pub packet: &'static str,
    pub reason: String,
}

#[derive(Default)]
pub struct Tally {
    /// Events read from the ring buffer.
    pub events: u64,
    /// Events the BPF side could not hand over (the ring buffer was full).
    pub lost: u64,
    /// Attempts written early (too many open at once).
    pub evicted: u64,
    pub drops: BTreeMap<DropKey, u64>,
    pub drops_other: u64,
    /// Per listener (its address as the client reached it).
    pub synack_retransmits: BTreeMap<SocketAddr, u64>,
    pub synack_retransmits_other: u64,
    /// Per listener, ns.
    pub accept_waits: BTreeMap<SocketAddr, Latencies>,
    pub accept_waits_other: Latencies,
}

/// Adds one to `key`'s count, or to `other` once the table is full.
fn bump<K: Ord>(table: &mut BTreeMap<K, u64>, other: &mut u64, key: K, by: u64) {
    if let Some(n) = table.get_mut(&key) {
        *n += by;
    } else if table.len() < MAX_KEYS {
        table.insert(key, by);
    } else {
        *other += by;
    }
}

impl Tally {
    /// A dropped packet for `to`, with its reason in words.
    pub fn dropped(&mut self, to: SocketAddr, packet: &'static str, reason: String) {
        let key = DropKey { to, packet, reason };
        bump(&mut self.drops, &mut self.drops_other, key, 1);
    }

    pub fn synack_retransmit(&mut self, listener: SocketAddr) {
        bump(
            &mut self.synack_retransmits,
            &mut self.synack_retransmits_other,
            listener,
            1,
        );
    }

    /// An attempt decided: a received one's accept-queue wait.
    pub fn attempt(&mut self, a: &Attempt) {
        let (End::Server, Some(wait)) = (a.end, a.accept_wait_ns) else {
            return;
        };
        let full = self.accept_waits.len() >= MAX_KEYS;
        match self.accept_waits.get_mut(&a.local) {
            Some(l) => l.record(wait),
            None if full => self.accept_waits_other.record(wait),
            None => self.accept_waits.entry(a.local).or_default().record(wait),
        }
    }

    pub fn drops_total(&self) -> u64 {
        self.drops.values().sum::<u64>() + self.drops_other
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tables_stop_growing_at_their_bound() {
        let mut t = Tally::default();
        let mut table = BTreeMap::new();
        let mut other = 0;
        for port in 0..(MAX_KEYS as u16 + 10) {
            bump(&mut table, &mut other, port, 1);
        }
        bump(&mut table, &mut other, 0, 5);
        assert_eq!((table.len(), other, table[&0]), (MAX_KEYS, 10, 6));
        assert_eq!(packet_kind(0x02), "SYN");
        assert_eq!(packet_kind(0x12), "SYN-ACK");
        assert_eq!(packet_kind(0x10), "ACK");
        assert_eq!(t.drops_total(), 0);
        t.drops_other = 2;
        assert_eq!(t.drops_total(), 2);
    }
}
