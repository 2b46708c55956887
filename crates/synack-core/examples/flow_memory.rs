//! Measures what the flow table costs: fills a tracker with N concurrent
//! half-finished handshakes (SYN and SYN-ACK, IPv4) and prints the peak
//! resident memory per flow. `cargo run --release -p synack-core --example
//! flow_memory -- 250000`
use synack_core::{Tracker, TrackerConfig};
use synack_wire::emit::{OptionWriter, TcpSegmentSpec, ethernet_tcp};
use synack_wire::{LinkType, TcpFlags};

fn peak_rss_kb() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find(|l| l.starts_with("VmHWM:"))
        .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        .unwrap_or(0)
}

fn main() {
    let n: u32 = std::env::args()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(250_000);
    let before = peak_rss_kb();
    let mut tracker = Tracker::new(TrackerConfig {
        max_flows: n as usize,
        ..TrackerConfig::default()
    });
    let mut out = Vec::new();
    let opts = OptionWriter::linux(1, 0, 7).build();
    let mut frame = Vec::new();
    for i in 0..n {
        let client =
            std::net::SocketAddr::from(([10, (i >> 16) as u8, (i >> 8) as u8, i as u8], 40000));
        let server = std::net::SocketAddr::from(([10, 255, 0, 1], 443));
        for (src, dst, flags, seq, ack) in [
            (client, server, TcpFlags::SYN, 1, 0),
            (server, client, TcpFlags::SYN | TcpFlags::ACK, 9, 2),
        ] {
            frame.clear();
            let spec = TcpSegmentSpec {
                options: &opts,
                ..TcpSegmentSpec::new(src, dst, seq, ack, flags)
            };
            ethernet_tcp(&mut frame, &spec);
            tracker.handle_frame(i64::from(i) * 1000, LinkType::ETHERNET, &frame, &mut out);
        }
    }
    let after = peak_rss_kb();
    println!(
        "{} flows held, {} evicted: peak RSS {} KiB -> {} KiB, {} bytes per flow (default --max-flows: {})",
        tracker.flows(),
        tracker.stats().evictions,
        before,
        after,
        (after - before) * 1024 / u64::from(n.max(1)),
        TrackerConfig::default_max_flows()
    );
}
