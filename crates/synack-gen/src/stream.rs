//! A long, deterministic mix of connection attempts for benchmarks: many
//! connections open at once, interleaved in time, IPv4 and IPv6, every
//! outcome, data in both directions. Packets leave in time order with
//! memory bounded by the connections in flight.

use crate::rng::Rng;
use crate::scenario::{Dir, Script, Shape, Tfo};
use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::net::{IpAddr, SocketAddr};

/// What the generator produced.
#[derive(Clone, Debug, Default)]
pub struct Totals {
    pub packets: u64,
    pub bytes: u64,
    pub attempts: u64,
    pub by_outcome: std::collections::BTreeMap<&'static str, u64>,
}

fn script(rng: &mut Rng, n: u64, start_ns: i64) -> Script {
    let v6 = rng.chance(100);
    let client_host = rng.range(2, 250) as u16;
    let server_host = rng.range(1, 20) as u16;
    let (client, server) = if v6 {
        (
            IpAddr::from([0xfd00, 0x1ab, 0, 1, 0, 0, 0, client_host]),
            IpAddr::from([0xfd00, 0x1ab, 0, 2, 0, 0, 0, server_host]),
        )
    } else {
        (
            IpAddr::from([198, 18, 1, client_host as u8]),
            IpAddr::from([198, 19, 0, server_host as u8]),
        )
    };
    // Distinct ephemeral ports per attempt keep 4-tuples from colliding.
    let client_port = 10_000 + (n % 50_000) as u16;
    let server_port = [80u16, 443, 8080, 5432][rng.range(0, 3) as usize];
    let mut data = Vec::new();
    for _ in 0..rng.range(2, 16) {
        let dir = if rng.chance(300) {
            Dir::ToServer
        } else {
            Dir::ToClient
        };
        data.push((dir, rng.range(64, 1460) as u32));
    }
    let roll = rng.range(0, 999);
    let shape = match roll {
        0..=49 => Shape::Refused,
        50..=69 => Shape::Unreachable {
            code: if v6 { 1 } else { 13 },
            from: server,
        },
        70..=99 => Shape::Timeout {
            syns: rng.range(1, 3) as u32,
        },
        100..=119 => Shape::HalfOpen { synacks: 2 },
        120..=139 => Shape::Reset,
        140..=169 => Shape::Midstream { data },
        _ => Shape::Established { data },
    };
    Script {
        start_ns,
        client: SocketAddr::new(client, client_port),
        server: SocketAddr::new(server, server_port),
        vlan: None,
        rtt_ns: rng.range(30_000, 40_000_000) as i64,
        lost_syns: u32::from(matches!(shape, Shape::Established { .. }) && rng.chance(30)),
        client_isn: rng.next_u64() as u32,
        server_isn: rng.next_u64() as u32,
        tfo: if rng.chance(10) {
            Tfo::CookieRequest
        } else {
            Tfo::None
        },
        ecn: rng.chance(50),
        shape,
    }
}

/// Generates attempts until `target_bytes` of frames were produced, calling
/// `write(ts_ns, frame)` in time order.
pub fn generate(seed: u64, target_bytes: u64, mut write: impl FnMut(i64, &[u8])) -> Totals {
    let mut rng = Rng::new(seed);
    let mut totals = Totals::default();
    // Min-heap of pending packets: (time, sequence for stability, frame).
    let mut pending: BinaryHeap<Reverse<(i64, u64, Vec<u8>)>> = BinaryHeap::new();
    let mut order = 0u64;
    let mut now = 1_795_000_000_000_000_000i64;
    let mut n = 0u64;
    while totals.bytes < target_bytes {
        // About 1000 new attempts per second of capture time.
        now += rng.range(100_000, 1_900_000) as i64;
        let s = script(&mut rng, n, now);
        n += 1;
        totals.attempts += 1;
        *totals.by_outcome.entry(s.expect().outcome).or_insert(0) += 1;
        s.packets(&mut |t, f| {
            order += 1;
            pending.push(Reverse((t, order, f)));
        });
        // Every later attempt starts after `now`, so packets up to it are final.
        while pending.peek().is_some_and(|Reverse((t, _, _))| *t <= now) {
            let Reverse((t, _, f)) = pending.pop().expect("peeked");
            totals.packets += 1;
            totals.bytes += f.len() as u64 + 16;
            write(t, &f);
        }
    }
    while let Some(Reverse((t, _, f))) = pending.pop() {
        totals.packets += 1;
        totals.bytes += f.len() as u64 + 16;
        write(t, &f);
    }
    totals
}
