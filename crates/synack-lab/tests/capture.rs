//! The lab's capture fed to the analyzer: real kernel handshakes whose
//! trouble the lab injected, and the records must say so. Needs root; skips
//! elsewhere with the reason (CI runs as root).

use std::net::{SocketAddr, TcpListener, TcpStream};
use std::time::Duration;
use synack_capture::{CaptureReader, pipeline};
use synack_core::{Handshake, Outcome, TrackerConfig};
use synack_lab::{IcmpKind, Impairment, Side};

fn analyze(path: &std::path::Path) -> Vec<Handshake> {
    let reader = CaptureReader::open(path).expect("the lab's capture reads back");
    let (records, damage) = pipeline::read_records(reader, TrackerConfig::default());
    assert!(damage.is_none(), "{damage:?}");
    records
}

#[test]
fn captured_handshakes_analyze_to_what_was_injected() {
    let Some(mut lab) = synack_lab::testing::lab_or_skip("the capture test") else {
        return;
    };
    let server = lab.server_addr(false);
    let _l = lab
        .server
        .run(move || TcpListener::bind(SocketAddr::new(server, 8080)))
        .unwrap()
        .unwrap();
    lab.impair(Impairment::Delay {
        rtt: Duration::from_millis(40),
        jitter: Duration::ZERO,
        // Every packet, so the server's vantage sees the whole 40 ms too
        // (with SYN/SYN-ACK only, the server would see the ACK come back
        // after the SYN-ACK's 20 ms alone).
        handshake_only: false,
        one_way: false,
    })
    .unwrap();
    lab.impair(Impairment::DropSyn { first: 1 }).unwrap();
    lab.impair(Impairment::RejectIcmp {
        kind: IcmpKind::Host,
        port: Some(82),
    })
    .unwrap();
    let path =
        std::env::temp_dir().join(format!("synack-lab-capture-{}.pcapng", std::process::id()));
    let capture = lab.capture(Side::Server, &path).unwrap();
    lab.client
        .run(move || {
            for port in [8080, 81, 82] {
                let _ = TcpStream::connect_timeout(
                    &SocketAddr::new(server, port),
                    Duration::from_secs(3),
                );
            }
        })
        .unwrap();
    let frames = capture.stop().unwrap();
    let records = analyze(&path);
    let _ = std::fs::remove_file(&path);
    assert!(frames >= 7, "{frames} frames");
    let by_port = |p: u16| {
        records
            .iter()
            .find(|h| h.server.port() == p)
            .unwrap_or_else(|| panic!("no record for {p}: {records:?}"))
    };

    let est = by_port(8080);
    assert_eq!(est.outcome, Outcome::Established);
    assert_eq!(
        est.syn_count, 2,
        "the first SYN was dropped after the capture point"
    );
    let total = est.total_ns.unwrap();
    assert!(
        (40_000_000..42_000_000).contains(&total),
        "total {total} ns for 40 ms injected"
    );
    assert_eq!(est.client.ip(), lab.client_v4);

    assert_eq!(by_port(81).outcome, Outcome::Refused);
    let icmp = by_port(82);
    assert_eq!(icmp.outcome, Outcome::Unreachable);
    let i = icmp.icmp.unwrap();
    assert_eq!((i.icmp_type, i.code, i.from), (3, 1, server));
}
