//! The lab's capture fed to the analyzer: real kernel handshakes whose
//! trouble the lab injected, and the records must say so. Needs root; skips
//! elsewhere with the reason (CI runs as root).

use std::net::{SocketAddr, TcpStream};
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
    let _l = lab.listen(8080, false).unwrap();
    // Every packet, so that the ACK is delayed too.
    lab.impair(Impairment::delay(Duration::from_millis(40)))
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

#[test]
fn both_ends_captures_see_the_whole_delay() {
    // The delay lies on the router between the ends, so a capture at the
    // client (where its own SYN leaves before the delay and the SYN-ACK
    // arrives after it) and one at the server both see the whole RTT. With
    // the delay inside the client's namespace, the client's capture saw
    // almost none of it.
    let Some(mut lab) = synack_lab::testing::lab_or_skip("the two-ended capture test") else {
        return;
    };
    let server = lab.server_addr(false);
    let _l = lab.listen(8080, false).unwrap();
    lab.impair(Impairment::delay(Duration::from_millis(30)))
        .unwrap();
    let dir = std::env::temp_dir();
    let pid = std::process::id();
    let paths = [Side::Client, Side::Server].map(|side| {
        (
            side,
            dir.join(format!("synack-lab-ends-{pid}-{side:?}.pcapng")),
        )
    });
    let captures: Vec<_> = paths
        .iter()
        .map(|(side, path)| lab.capture(*side, path).unwrap())
        .collect();
    lab.client
        .run(move || {
            TcpStream::connect_timeout(&SocketAddr::new(server, 8080), Duration::from_secs(3))
        })
        .unwrap()
        .unwrap();
    for c in captures {
        c.stop().unwrap();
    }
    for (side, path) in &paths {
        let records = analyze(path);
        let _ = std::fs::remove_file(path);
        let h = records
            .iter()
            .find(|h| h.server.port() == 8080)
            .unwrap_or_else(|| panic!("{side:?}: no record in {records:?}"));
        assert_eq!(h.outcome, Outcome::Established, "{side:?}");
        let total = h.total_ns.unwrap();
        assert!(
            (30_000_000..32_000_000).contains(&total),
            "{side:?}: total {total} ns for 30 ms injected"
        );
    }
}
