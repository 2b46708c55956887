//! One test per bug fixed in the command, each named after what broke.
//! (Tracker, exporter and lab regressions sit with their own tests:
//! `scripts.rs`, `export.rs`, `lab_cli.rs`.)

mod support;

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use support::{sample, stderr, stdout, synack};

#[test]
fn max_flows_zero_was_taken_as_one() {
    let o = synack(&["analyze", &sample(), "--max-flows", "0"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        stderr(&o).contains("--max-flows must be at least 1"),
        "{}",
        stderr(&o)
    );
}

#[test]
fn flow_on_an_unreadable_file_added_no_connection_matches() {
    let o = synack(&["analyze", "/nonexistent/capture.pcap", "--flow", "1"]);
    assert_eq!(o.status.code(), Some(2));
    let err = stderr(&o);
    assert!(!err.contains("no connection matches"), "{err}");
    assert_eq!(err.matches("/nonexistent/capture.pcap").count(), 1, "{err}");
}

#[test]
fn flow_printed_a_damage_message_twice() {
    let bytes = std::fs::read(sample()).unwrap();
    let cut = std::env::temp_dir().join(format!("synack-cut-{}.pcapng", std::process::id()));
    std::fs::write(&cut, &bytes[..bytes.len() - 10]).unwrap();
    // A client the capture does not hold: every packet is read, up to the
    // damage.
    let o = synack(&["analyze", cut.to_str().unwrap(), "--flow", "10.9.9.9:1"]);
    let _ = std::fs::remove_file(&cut);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    assert_eq!(stderr(&o).matches("at byte").count(), 1, "{}", stderr(&o));
}

#[test]
fn probe_ignored_dash_6_for_an_ipv4_literal() {
    let o = synack(&["probe", "-6", "127.0.0.1:1", "-c", "1"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("no IPv6 address"), "{}", stderr(&o));
}

#[test]
fn probe_accepted_port_0_and_called_65536_unresolvable() {
    for target in ["127.0.0.1:0", "localhost:0", "localhost:65536"] {
        let o = synack(&["probe", target, "-c", "1"]);
        assert_eq!(o.status.code(), Some(2), "{target}");
        assert!(
            stderr(&o).contains("port must be a number from 1 to 65535"),
            "{target}: {}",
            stderr(&o)
        );
    }
}

#[test]
fn probe_took_an_unbracketed_ipv6_address_and_port_silently() {
    for target in ["::1", "::1:1"] {
        let o = synack(&["probe", target, "-c", "1"]);
        assert_eq!(o.status.code(), Some(2), "{target}");
        assert!(
            stderr(&o).contains("[addr]:port"),
            "{target}: {}",
            stderr(&o)
        );
    }
}

#[test]
fn probe_rejected_a_bracketed_link_local_address_with_its_zone() {
    // fe80::1 on lo: nothing there, but the target is understood (exit 1,
    // an attempt made), not a usage error (exit 2).
    let o = synack(&["probe", "[fe80::1%lo]:1", "-c", "1", "--timeout", "1"]);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    assert!(stdout(&o).contains("fe80::1"), "{}", stdout(&o));
}

#[test]
fn export_listen_on_port_0_printed_0_not_the_bound_port() {
    let mut child = Command::new(env!("CARGO_BIN_EXE_synack"))
        .args(["export", "--listen", "127.0.0.1:0"])
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stderr.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    synack_sys::kill(child.id() as i32, synack_sys::signal::SIGTERM);
    assert!(child.wait().unwrap().success());
    let port: u16 = line
        .split("127.0.0.1:")
        .nth(1)
        .and_then(|r| r.split('/').next())
        .and_then(|p| p.parse().ok())
        .unwrap_or_else(|| panic!("{line}"));
    assert_ne!(port, 0, "{line}");
}

/// A little-endian µs pcap on link type `link` whose records each carry
/// 20 bytes and claim the given wire length.
fn pcap(link: u32, wire_lengths: &[u32]) -> Vec<u8> {
    let mut b = 0xa1b2_c3d4u32.to_le_bytes().to_vec();
    b.extend_from_slice(&2u16.to_le_bytes());
    b.extend_from_slice(&4u16.to_le_bytes());
    b.extend_from_slice(&[0; 8]);
    b.extend_from_slice(&65535u32.to_le_bytes());
    b.extend_from_slice(&link.to_le_bytes());
    for (i, wire) in wire_lengths.iter().enumerate() {
        for v in [1_700_000_000 + i as u32, 0, 20, *wire] {
            b.extend_from_slice(&v.to_le_bytes());
        }
        b.extend_from_slice(&[0x45; 20]);
    }
    b
}

#[test]
fn skip_reasons_printed_the_packet_count_where_the_link_type_belongs() {
    let path = temp_file("link147.pcap", &pcap(147, &[20, 20]));
    let o = synack(&["analyze", path.to_str().unwrap()]);
    let _ = std::fs::remove_file(&path);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert!(
        stdout(&o).contains("packets skipped: unsupported link type 147: 2"),
        "{}",
        stdout(&o)
    );
}

#[test]
fn time_flags_took_seconds_only_and_accepted_zero_timeouts_and_negative_intervals() {
    // One syntax everywhere: 3, 3s, 250ms.
    let o = synack(&[
        "probe",
        "127.0.0.1:1",
        "-c",
        "2",
        "-i",
        "10ms",
        "--timeout",
        "1s",
    ]);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    for bad in [
        &["probe", "127.0.0.1:1", "--timeout", "0"][..],
        &["probe", "127.0.0.1:1", "-i", "soon"],
        &["watch", "--once", "--interval=-1"],
        &["watch", "--once", "--interval", "100000"],
        &["export", "--probe-timeout", "0"],
    ] {
        let o = synack(bad);
        assert_eq!(o.status.code(), Some(2), "{bad:?} was accepted");
    }
}

#[test]
fn lab_down_as_a_user_said_removed_0_and_exited_0() {
    // As root (CI), drop to nobody for the one command, from a copy of
    // the binary that nobody may run wherever the checkout lives.
    let copy = std::env::temp_dir().join(format!("synack-as-user-{}", std::process::id()));
    let mut command = if synack_sys::is_root() {
        use std::os::unix::fs::PermissionsExt;
        std::fs::copy(env!("CARGO_BIN_EXE_synack"), &copy).unwrap();
        std::fs::set_permissions(&copy, std::fs::Permissions::from_mode(0o755)).unwrap();
        let mut c = Command::new("setpriv");
        c.args(["--reuid=65534", "--regid=65534", "--clear-groups"])
            .arg(&copy);
        c
    } else {
        Command::new(env!("CARGO_BIN_EXE_synack"))
    };
    let o = command.args(["lab", "down"]).output().expect("run synack");
    let _ = std::fs::remove_file(&copy);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(stderr(&o).contains("needs root"), "{}", stderr(&o));
    assert!(!stdout(&o).contains("removed"), "{}", stdout(&o));
}

#[test]
fn probe_retries_spun_fired_at_the_interval_pace_and_undercounted_their_cost() {
    // Refused at once, three retries after 0.1, 0.2 and 0.4 s (+ up to 25%
    // jitter each), with the default 1 s interval between rounds.
    let started = std::time::Instant::now();
    let o = synack(&[
        "probe",
        "127.0.0.1:1",
        "-c",
        "1",
        "--retries",
        "3",
        "--backoff",
        "100ms",
        "--format",
        "json",
    ]);
    let wall = started.elapsed().as_secs_f64();
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    let record: serde_json::Value =
        serde_json::from_str(stdout(&o).lines().next().unwrap()).unwrap();
    assert_eq!(record["tries"], 4, "{record}");
    let cost = record["retry_cost_us"].as_f64().unwrap() / 1e6;
    // The backoffs alone take 0.7 s; the retries no longer wait for the
    // 1 s pace (3 s in all before), and the cost is what was spent.
    assert!((0.7..=1.0).contains(&cost), "retry cost {cost} s");
    assert!(cost <= wall, "cost {cost} s of {wall} s");
    assert!(wall < 2.0, "{wall} s");
    // A refused socket never connected: no TCP_INFO as if it had.
    assert!(record["tcp_info"].is_null(), "{record}");
}

#[test]
fn probe_count_0_exited_0_having_done_nothing() {
    for args in [
        &["probe", "127.0.0.1:1", "-c", "0"][..],
        &["probe", "--reuse", "http://127.0.0.1:1/", "-c", "0"],
        &["probe", "127.0.0.1:1", "-w", "0"],
    ] {
        let o = synack(args);
        assert_eq!(o.status.code(), Some(2), "{args:?}: {}", stderr(&o));
    }
}

#[test]
fn probe_reuse_called_a_refused_server_a_usage_error() {
    let o = synack(&["probe", "--reuse", "http://127.0.0.1:1/", "-c", "1"]);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    assert!(stderr(&o).contains("failed"), "{}", stderr(&o));
}

#[test]
fn summaries_said_1_attempts_and_3_syn_s() {
    let o = synack(&["probe", "127.0.0.1:1", "-c", "1"]);
    let text = stdout(&o);
    assert!(text.contains("\n1 attempt: refused"), "{text}");
    let o = synack(&["analyze", &sample()]);
    let text = stdout(&o);
    assert!(!text.contains("SYN(s)"), "{text}");
    assert!(text.contains("3 SYNs, no answer"), "{text}");
}

#[test]
fn probe_stopped_before_any_answer_said_0_attempts_and_exited_0() {
    // A listener whose queue is full drops the SYN: the attempt is still
    // in flight when SIGINT comes.
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    synack_sys::set_backlog(&l, 0).unwrap();
    let addr = l.local_addr().unwrap();
    let _queued = std::net::TcpStream::connect(addr).unwrap();
    let overflows = || {
        synack_host::Counters::read()
            .get("TcpExt.ListenOverflows")
            .unwrap_or(0)
    };
    let before = overflows();
    let child = Command::new(env!("CARGO_BIN_EXE_synack"))
        .args(["probe", &addr.to_string(), "--timeout", "10"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // The probe is in flight once the kernel has dropped its SYN at the
    // full queue (bounded: 5 s).
    let started = std::time::Instant::now();
    while overflows() == before {
        assert!(
            started.elapsed() < std::time::Duration::from_secs(5),
            "the probe's SYN never reached the listener"
        );
        std::thread::yield_now();
    }
    synack_sys::kill(child.id() as i32, synack_sys::signal::SIGINT);
    let o = child.wait_with_output().unwrap();
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    assert!(stdout(&o).contains("no attempt finished"), "{}", stdout(&o));
}

#[test]
fn netns_pointing_at_a_plain_file_said_only_invalid_argument() {
    let o = synack(&["watch", "--once", "--netns", "/etc/passwd"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        stderr(&o).contains("is not a network namespace"),
        "{}",
        stderr(&o)
    );
}

#[test]
fn lab_list_omitted_half_the_impairments() {
    let o = synack(&["lab", "--list"]);
    assert_eq!(o.status.code(), Some(0));
    let text = stdout(&o);
    for flag in [
        "--delay TIME",
        "--flood N",
        "--flood6",
        "--stuck-listener PORT",
        "--backlog N",
        "--sysctl SIDE:KEY=VALUE",
        "--capture FILE",
        "--drop-syn-data",
    ] {
        assert!(text.contains(flag), "{flag} missing from:\n{text}");
    }
}

fn temp_file(name: &str, bytes: &[u8]) -> std::path::PathBuf {
    let path = std::env::temp_dir().join(format!("synack-{}-{name}", std::process::id()));
    std::fs::write(&path, bytes).unwrap();
    path
}

#[test]
fn inputs_that_are_no_capture_were_all_told_to_use_editcap() {
    for (name, bytes, says) in [
        (
            "x.pcap.gz",
            &[0x1f, 0x8b, 8, 0, 0, 0][..],
            "gzip-compressed",
        ),
        (
            "x.pcap.zst",
            &[0x28, 0xb5, 0x2f, 0xfd, 0][..],
            "zstd-compressed",
        ),
        (
            "x.txt",
            b"hello, this is text\n",
            "text, not a pcap or pcapng file",
        ),
    ] {
        let path = temp_file(name, bytes);
        let o = synack(&["analyze", path.to_str().unwrap()]);
        let _ = std::fs::remove_file(&path);
        assert_eq!(o.status.code(), Some(2), "{name}");
        assert!(stderr(&o).contains(says), "{name}: {}", stderr(&o));
        assert!(!stderr(&o).contains("editcap"), "{name}: {}", stderr(&o));
        // No summary of nothing after the error.
        assert!(stdout(&o).is_empty(), "{name}: {}", stdout(&o));
    }
}

#[test]
fn a_pcap_cut_in_its_header_spoke_of_packet_0_and_packets_before_it() {
    let path = temp_file("cut.pcap", &0xa1b2_c3d4u32.to_le_bytes()[..]);
    let mut bytes = 0xa1b2_c3d4u32.to_le_bytes().to_vec();
    bytes.extend_from_slice(&[2, 0, 4, 0, 0, 0]);
    std::fs::write(&path, &bytes).unwrap();
    let o = synack(&["analyze", path.to_str().unwrap()]);
    let _ = std::fs::remove_file(&path);
    assert_eq!(o.status.code(), Some(2));
    let err = stderr(&o);
    assert!(err.contains("header is cut off: 10 of 24 bytes"), "{err}");
    assert!(
        !err.contains("packet 0") && !err.contains("before the damage"),
        "{err}"
    );
}

#[test]
fn records_longer_than_the_wire_passed_without_a_note() {
    // One raw-IP record with 20 bytes captured of a 10-byte wire length.
    let b = pcap(101, &[10]);
    let path = temp_file("over.pcap", &b);
    let o = synack(&["analyze", path.to_str().unwrap()]);
    let _ = std::fs::remove_file(&path);
    assert!(
        stdout(&o).contains("records capturing more bytes than were on the wire: 1"),
        "{}",
        stdout(&o)
    );
}

#[test]
fn a_closed_output_pipe_exited_2_for_csv_and_0_for_json() {
    for format in ["csv", "json", "zeek", "summary"] {
        let mut child = Command::new(env!("CARGO_BIN_EXE_synack"))
            .args(["analyze", &sample(), "--format", format])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        // Close the reading end before synack writes (as `| head` does
        // once it has enough).
        drop(child.stdout.take());
        let o = child.wait_with_output().unwrap();
        assert_eq!(o.status.code(), Some(0), "{format}: {}", stderr(&o));
        assert!(stderr(&o).is_empty(), "{format}: {}", stderr(&o));
    }
}

#[test]
fn the_syn_ack_options_line_lacked_mss() {
    let text = stdout(&synack(&["analyze", &sample()]));
    let line = text
        .lines()
        .find(|l| l.contains("SYN-ACKs:"))
        .unwrap_or_else(|| panic!("{text}"));
    assert!(line.contains("MSS 100%"), "{line}");
    assert!(text.contains("ECN: requested on 1 SYN ("), "{text}");
}
