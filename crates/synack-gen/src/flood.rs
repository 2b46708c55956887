//! Many flows that each stay open, for measuring the flow table at its
//! limits: a spoofed SYN flood (one SYN from each of N random sources, as
//! hping3 `--flood --rand-source` sends them: no options), or N handshakes
//! that complete and are never closed (the most memory a flow can take
//! while it waits for its idle timeout).

use crate::rng::Rng;
use std::collections::VecDeque;
use std::net::{Ipv4Addr, SocketAddr};
use synack_wire::TcpFlags;
use synack_wire::emit::{OptionWriter, TcpSegmentSpec, ethernet_tcp};

/// What each flow carries.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FloodKind {
    /// One SYN without options from a random 10.0.0.0/8 source.
    Syn,
    /// SYN, SYN-ACK and ACK with Linux's options, then silence.
    Established,
}

/// Writes `flows` flows to one server (198.18.0.1:80), `per_second` new
/// flows a second of capture time, in time order.
pub fn generate(
    seed: u64,
    flows: u64,
    per_second: u64,
    kind: FloodKind,
    mut write: impl FnMut(i64, &[u8]),
) {
    let mut rng = Rng::new(seed);
    let server = SocketAddr::from(([198, 18, 0, 1], 80));
    let gap_ns = 1_000_000_000 / per_second.max(1) as i64;
    let rtt_ns = 200_000;
    let syn_opts = OptionWriter::linux(1, 0, 7).build();
    let synack_opts = OptionWriter::linux(2, 1, 7).build();
    let mut frame = Vec::with_capacity(128);
    // Answers come half an RTT and an RTT after each SYN, among the next
    // flows' SYNs: each queue is in time order, and the earliest goes first.
    let mut synacks = Answers::new();
    let mut acks = Answers::new();
    let mut emit = |t: i64, spec: &TcpSegmentSpec<'_>| {
        frame.clear();
        ethernet_tcp(&mut frame, spec);
        write(t, &frame);
    };
    for n in 0..flows {
        let t = n as i64 * gap_ns;
        answer(t, &mut synacks, &mut acks, server, &synack_opts, &mut emit);
        let r = rng.next_u64();
        let client = SocketAddr::from((
            Ipv4Addr::from_bits(0x0a00_0000 | (r as u32 & 0x00ff_ffff)),
            1024 + ((r >> 32) % 64_000) as u16,
        ));
        let isn = (r >> 16) as u32;
        let syn = match kind {
            FloodKind::Syn => TcpSegmentSpec::new(client, server, isn, 0, TcpFlags::SYN),
            FloodKind::Established => {
                synacks.push_back((t + rtt_ns / 2, client, isn));
                acks.push_back((t + rtt_ns, client, isn));
                TcpSegmentSpec {
                    options: &syn_opts,
                    ..TcpSegmentSpec::new(client, server, isn, 0, TcpFlags::SYN)
                }
            }
        };
        emit(t, &syn);
    }
    answer(
        i64::MAX,
        &mut synacks,
        &mut acks,
        server,
        &synack_opts,
        &mut emit,
    );
}

type Answers = VecDeque<(i64, SocketAddr, u32)>;

/// Writes the answers due by `until`, earliest first.
fn answer(
    until: i64,
    synacks: &mut Answers,
    acks: &mut Answers,
    server: SocketAddr,
    synack_opts: &[u8],
    emit: &mut dyn FnMut(i64, &TcpSegmentSpec<'_>),
) {
    loop {
        let next_synack = synacks.front().map(|e| e.0).filter(|t| *t <= until);
        let next_ack = acks.front().map(|e| e.0).filter(|t| *t <= until);
        let synack_first = match (next_synack, next_ack) {
            (Some(s), a) => a.is_none_or(|a| s <= a),
            (None, Some(_)) => false,
            (None, None) => return,
        };
        let queue = if synack_first {
            &mut *synacks
        } else {
            &mut *acks
        };
        let Some((at, client, isn)) = queue.pop_front() else {
            return;
        };
        let spec = if synack_first {
            TcpSegmentSpec {
                options: synack_opts,
                ..TcpSegmentSpec::new(
                    server,
                    client,
                    server_isn(isn),
                    isn.wrapping_add(1),
                    TcpFlags::SYN | TcpFlags::ACK,
                )
            }
        } else {
            TcpSegmentSpec::new(
                client,
                server,
                isn.wrapping_add(1),
                server_isn(isn).wrapping_add(1),
                TcpFlags::ACK,
            )
        };
        emit(at, &spec);
    }
}

fn server_isn(client_isn: u32) -> u32 {
    client_isn.rotate_left(7)
}
