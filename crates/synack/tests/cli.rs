//! The `synack analyze` command end to end: the golden output of the
//! bundled sample, every output format, filters, the ladder, and the exit
//! status and messages for damaged or unreadable input.

mod support;

use std::path::PathBuf;
use std::process::Command;
use support::{records, root, sample, stderr, stdout, synack};

/// `SYNACK_BLESS=1 cargo test` rewrites the golden file after a deliberate change.
#[test]
fn sample_json_matches_golden() {
    let o = synack(&["analyze", &sample(), "--format", "json"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let golden = root().join("crates/synack/tests/golden/handshakes.ndjson");
    if std::env::var_os("SYNACK_BLESS").is_some() {
        std::fs::write(&golden, &o.stdout).unwrap();
    }
    let want = std::fs::read_to_string(&golden).expect("golden file");
    assert_eq!(stdout(&o), want, "output differs from {}", golden.display());
}

#[test]
fn sample_has_every_outcome_and_schema_fields() {
    let r = records(&synack(&["analyze", &sample(), "--format", "json"]));
    let outcomes: std::collections::BTreeSet<_> = r
        .iter()
        .map(|x| x["outcome"].as_str().unwrap().to_string())
        .collect();
    for want in [
        "established",
        "refused",
        "unreachable",
        "timeout",
        "half_open",
        "reset",
        "incomplete",
        "midstream",
    ] {
        assert!(outcomes.contains(want), "missing {want}");
    }
    for field in [
        "ts",
        "source",
        "client",
        "server",
        "outcome",
        "conn_state",
        "history",
        "syn_count",
        "synack_count",
        "rtt_us",
        "setup_us",
        "client_opts",
        "server_opts",
        "ecn",
        "icmp",
        "rst_from",
    ] {
        assert!(
            r.iter().all(|x| x.get(field).is_some()),
            "field {field} missing"
        );
    }
    let v6 = r
        .iter()
        .find(|x| x["client"] == "[fd00:1ab::2]:40004")
        .expect("IPv6 record");
    assert_eq!(v6["rtt_us"]["total"], 12520.0);
    let icmp = r.iter().find(|x| x["outcome"] == "unreachable").unwrap();
    assert_eq!(icmp["icmp"]["type"], 3);
    assert_eq!(icmp["icmp"]["from"], "198.18.0.254");
}

/// The JSON records of the sample with `filter` flags added.
fn sample_json(filter: &[&str]) -> Vec<serde_json::Value> {
    let sample = sample();
    let mut args = vec!["analyze", &sample, "--format", "json"];
    args.extend_from_slice(filter);
    records(&synack(&args))
}

#[test]
fn filters_select_records() {
    assert_eq!(sample_json(&["--port", "443"]).len(), 4);
    let v6 = sample_json(&["--net", "fd00::/16"]);
    assert!(!v6.is_empty());
    assert!(
        v6.iter()
            .all(|x| x["client"].as_str().unwrap().starts_with('['))
    );
    assert_eq!(sample_json(&["--host", "198.18.0.77"]).len(), 1);
    assert_eq!(
        sample_json(&["--host", "198.18.0.1", "--port", "81"]).len(),
        1
    );
}

#[test]
fn csv_and_zeek_formats() {
    let o = synack(&["analyze", &sample(), "--format", "csv"]);
    let text = stdout(&o);
    let mut lines = text.lines();
    assert!(
        lines
            .next()
            .unwrap()
            .starts_with("ts,client,server,vlan,outcome,conn_state,history")
    );
    assert_eq!(lines.count(), 20);
    let o = synack(&["analyze", &sample(), "--format", "zeek"]);
    let text = stdout(&o);
    assert!(text.contains("#fields\tts\tuid\tid.orig_h"));
    assert!(text.lines().any(|l| l.contains("\tREJ\t")));
}

#[test]
fn summary_names_failures_and_rtt() {
    let o = synack(&["analyze", &sample()]);
    let text = stdout(&o);
    assert!(text.contains("Handshake attempts  19"), "{text}");
    assert!(
        text.contains("ICMP host unreachable (type 3 code 1) from 198.18.0.254"),
        "{text}"
    );
    assert!(text.contains("198.18.0.1:443"), "{text}");
}

#[test]
fn flow_ladder_by_client_and_index() {
    let o = synack(&["analyze", &sample(), "--flow", "198.18.0.2:40005"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let text = stdout(&o);
    // Two SYNs (one retransmitted), the SYN-ACK, the ACK, data, and the close.
    assert_eq!(
        text.lines().filter(|l| l.contains(" S ")).count(),
        2,
        "{text}"
    );
    assert!(text.contains("S."), "{text}");
    assert!(text.contains("mss 1460 ws 7 sackOK"), "{text}");
    let o = synack(&["analyze", &sample(), "--flow", "1"]);
    assert!(stdout(&o).contains("198.18.0.2:40001"));
    let o = synack(&["analyze", &sample(), "--flow", "9.9.9.9:1"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("no connection matches"));
}

fn temp(name: &str, bytes: &[u8]) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("synack-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let p = dir.join(name);
    std::fs::write(&p, bytes).unwrap();
    p
}

#[test]
fn damaged_input_reports_place_and_keeps_earlier_records() {
    let bytes = std::fs::read(sample()).unwrap();
    let cut = temp("cut.pcapng", &bytes[..bytes.len() * 2 / 3]);
    let o = synack(&["analyze", cut.to_str().unwrap(), "--format", "json"]);
    assert_eq!(o.status.code(), Some(1));
    let err = stderr(&o);
    assert!(
        err.contains("cut.pcapng: packet ")
            && err.contains(" at byte ")
            && err.contains("truncated"),
        "{err}"
    );
    assert!(
        records(&o).len() >= 10,
        "records before the damage are written"
    );
}

#[test]
fn unreadable_inputs_exit_2_with_a_message() {
    let empty = temp("empty.pcap", b"");
    let text = temp("notes.txt", b"hello, not a capture\n");
    for (path, want) in [
        (empty.to_str().unwrap().to_string(), "empty file"),
        (
            text.to_str().unwrap().to_string(),
            "not a pcap or pcapng file",
        ),
        ("/nonexistent.pcap".to_string(), "/nonexistent.pcap"),
        (
            std::env::temp_dir().to_str().unwrap().to_string(),
            "directory",
        ),
    ] {
        let o = synack(&["analyze", &path]);
        assert_eq!(o.status.code(), Some(2), "{path}");
        assert!(stderr(&o).contains(want), "{path}: {}", stderr(&o));
    }
    let o = synack(&["analyze"]);
    assert_eq!(o.status.code(), Some(2));
}

#[test]
fn several_files_in_one_run() {
    let o = synack(&["analyze", &sample(), &sample(), "--format", "json"]);
    assert_eq!(o.status.code(), Some(0));
    // The second copy repeats every 4-tuple with the same ISNs: the same
    // attempts again, so each record appears twice or merges; never fewer.
    assert!(records(&o).len() >= 20);
}

#[test]
fn stdin_input() {
    let file = std::fs::File::open(sample()).unwrap();
    let o = Command::new(env!("CARGO_BIN_EXE_synack"))
        .args(["analyze", "-", "--format", "json"])
        .stdin(file)
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(0));
    assert_eq!(records(&o).len(), 20);
}

#[test]
fn a_gzip_compressed_capture_analyzes_like_its_contents_from_a_file_or_stdin() {
    // gzip(1) is part of every Debian system; the readers' own tests cover
    // zstd and LZ4 with the crates' encoders.
    let gz = Command::new("gzip")
        .args(["-c", &sample()])
        .output()
        .expect("gzip");
    assert!(gz.status.success());
    let path = temp("sample.pcapng.gz", &gz.stdout);
    let plain = synack(&["analyze", &sample(), "--format", "json"]);
    let from_file = synack(&["analyze", path.to_str().unwrap(), "--format", "json"]);
    let from_stdin = Command::new(env!("CARGO_BIN_EXE_synack"))
        .args(["analyze", "-", "--format", "json"])
        .stdin(std::fs::File::open(&path).unwrap())
        .output()
        .unwrap();
    let summary = synack(&["analyze", path.to_str().unwrap(), "--no-progress"]);
    let _ = std::fs::remove_file(&path);
    assert_eq!(records(&plain).len(), 20);
    assert_eq!(stdout(&from_file), stdout(&plain));
    assert_eq!(stdout(&from_stdin), stdout(&plain));
    assert_eq!(from_file.status.code(), Some(0), "{}", stderr(&from_file));
    assert!(
        stdout(&summary).contains("(from gzip)"),
        "{}",
        stdout(&summary)
    );
}

/// The sample's packets, each wrapped in `tunnel`, as a pcap file.
fn tunneled_sample(tunnel: synack_wire::Tunnel, name: &str) -> PathBuf {
    use synack_capture::{CaptureReader, PcapWriter};
    let mut reader = CaptureReader::open(std::path::Path::new(&sample())).unwrap();
    let mut writer = PcapWriter::new(Vec::new(), synack_wire::LinkType::ETHERNET, 65535).unwrap();
    let (a, b) = ("192.0.2.1".parse().unwrap(), "192.0.2.2".parse().unwrap());
    while let Some(p) = reader.next_packet().unwrap() {
        let wrapped = synack_wire::emit::encapsulate(tunnel, a, b, p.data);
        writer.write(p.ts_ns, &wrapped).unwrap();
    }
    temp(name, &writer.into_inner())
}

/// Issue 12, class 7: a 6in4 capture gave 0 attempts and "not TCP".
#[test]
fn six_in_four_and_vxlan_captures_give_the_inner_handshakes() {
    use synack_wire::Tunnel;
    let plain = records(&synack(&["analyze", &sample(), "--format", "json"]));
    let v6_plain: Vec<_> = plain
        .iter()
        .filter(|r| r["client"].as_str().unwrap().starts_with('['))
        .collect();
    assert!(!v6_plain.is_empty());

    let vxlan = tunneled_sample(Tunnel::Vxlan, "vxlan.pcap");
    let o = synack(&["analyze", vxlan.to_str().unwrap(), "--format", "json"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert_eq!(records(&o), plain);
    let summary = synack(&["analyze", vxlan.to_str().unwrap(), "--no-progress"]);
    assert!(
        stdout(&summary).contains("packets through tunnels: VXLAN: "),
        "{}",
        stdout(&summary)
    );

    // IP-in-IP carries the IPv6 handshakes as 6in4 (protocol 41) and the
    // IPv4 ones as protocol 4; the VLAN tags of the sample do not travel.
    let ipip = tunneled_sample(Tunnel::Ipv6InIp, "6in4.pcap");
    let o = synack(&["analyze", ipip.to_str().unwrap(), "--format", "json"]);
    let summary = synack(&["analyze", ipip.to_str().unwrap(), "--no-progress"]);
    let _ = (std::fs::remove_file(&vxlan), std::fs::remove_file(&ipip));
    let v6: Vec<_> = records(&o)
        .into_iter()
        .filter(|r| r["client"].as_str().unwrap().starts_with('['))
        .collect();
    assert_eq!(v6.iter().collect::<Vec<_>>(), v6_plain);
    let text = stdout(&summary);
    assert!(
        text.contains("IPv6-in-IP (6in4): ") && text.contains("IPv4-in-IP: "),
        "{text}"
    );
    assert!(!text.contains("not TCP"), "{text}");
}

/// The lab-made sample: real kernel handshakes, outcomes as injected.
#[test]
fn lab_sample_outcomes() {
    let path = root()
        .join("samples/lab-handshakes.pcapng")
        .display()
        .to_string();
    let o = synack(&["analyze", &path, "--format", "json"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let r = records(&o);
    let count = |outcome: &str| r.iter().filter(|x| x["outcome"] == outcome).count();
    assert_eq!(
        (
            count("established"),
            count("timeout"),
            count("refused"),
            count("unreachable")
        ),
        (6, 1, 1, 2)
    );
    let slow = r
        .iter()
        .find(|x| x["client"].as_str().unwrap().starts_with("198.18.228."))
        .unwrap();
    let total = slow["rtt_us"]["total"].as_f64().unwrap();
    assert!(
        (20_000.0..21_000.0).contains(&total),
        "20 ms injected, {total} µs measured"
    );
    let lost_syn = r
        .iter()
        .filter(|x| x["outcome"] == "established" && x["syn_count"] == 2)
        .count();
    assert_eq!(
        lost_syn, 2,
        "a lost SYN, and the SYN retransmitted after a lost SYN-ACK"
    );
    assert!(r.iter().any(|x| x["tfo_data_acked"] == true));
}

#[test]
fn probe_needs_no_privileges_and_exits_by_outcome() {
    // Port 1 on loopback: nothing listens, the kernel answers with RST.
    let o = synack(&["probe", "127.0.0.1:1", "-c", "2", "-i", "0"]);
    assert_eq!(o.status.code(), Some(1));
    let text = stdout(&o);
    assert_eq!(
        text.matches("refused (RST)").count(),
        3,
        "two lines and the summary:\n{text}"
    );
    let o = synack(&["probe", "localhost"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("give a port"));
    // A listener of our own: established, exit 0.
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let target = l.local_addr().unwrap().to_string();
    let o = synack(&["probe", &target, "-c", "1", "--format", "json"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let r = records(&o);
    assert_eq!(r[0]["outcome"], "established");
    assert_eq!(r[0]["target"], target.as_str());
}

/// Regression: rows gained the probe columns before the header did, and the
/// CSV writer refused the first row.
#[test]
fn probe_csv_rows_match_the_header() {
    let o = synack(&["probe", "127.0.0.1:1", "-c", "1", "--format", "csv"]);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    let text = stdout(&o);
    let mut rdr: Vec<Vec<String>> = text
        .lines()
        .map(|l| l.split(',').map(String::from).collect())
        .collect();
    let header = rdr.remove(0);
    let last = [
        "syn_data",
        "accecn",
        "local_side",
        "pid",
        "comm",
        "cgroup",
        "accept_wait_us",
    ];
    assert!(header.ends_with(&last.map(String::from)), "{header:?}");
    assert!(header.contains(&"cause".to_string()));
    assert!(text.contains("ECONNREFUSED"));
}

/// A namespace that does not exist, and an --allow that is not HOST:PORT,
/// are usage errors (exit 2) that say what to give instead.
#[test]
fn host_commands_explain_bad_namespaces_and_allow_patterns() {
    for cmd in [
        &["watch", "--once"][..],
        &["audit"],
        &["capture", "-i", "lo"],
    ] {
        let mut args = cmd.to_vec();
        args.extend(["--netns", "synack-no-such-namespace"]);
        let o = synack(&args);
        assert_eq!(o.status.code(), Some(2), "{cmd:?}");
        assert!(
            stderr(&o).contains("no network namespace `synack-no-such-namespace`")
                && stderr(&o).contains("ip netns list"),
            "{cmd:?}: {}",
            stderr(&o)
        );
    }
    let o = synack(&["export", "--allow", "not-a-pattern"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("expected HOST:PORT"), "{}", stderr(&o));
}

#[test]
fn completions_and_man_pages_come_from_the_flag_definitions() {
    let o = synack(&["completions", "bash"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let script = stdout(&o);
    assert!(script.contains("complete -F _synack"), "{script}");
    for word in ["analyze", "probe", "--max-per-client", "--probe-timeout"] {
        assert!(
            script.contains(word),
            "{word} missing from the bash completion"
        );
    }
    for shell in ["zsh", "fish", "powershell", "elvish"] {
        let o = synack(&["completions", shell]);
        assert!(o.status.success() && !o.stdout.is_empty(), "{shell}");
    }
    let o = synack(&["man"]);
    let page = stdout(&o);
    assert!(page.contains(".TH synack 1"), "{page}");
    let o = synack(&["man", "export"]);
    let page = stdout(&o);
    assert!(page.contains(".TH synack-export 1"), "{page}");
    assert!(page.contains("max\\-per\\-client"), "{page}");
    let o = synack(&["man", "nonsense"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("one of analyze"), "{}", stderr(&o));
}

/// All packets of a capture: (timestamp, bytes, comment).
fn packets_of(path: &std::path::Path) -> Vec<(i64, Vec<u8>, Option<String>)> {
    let mut r = synack_capture::CaptureReader::open(path).unwrap();
    let mut out = Vec::new();
    while let Some(p) = r.next_packet().unwrap() {
        out.push((
            p.ts_ns,
            p.data.to_vec(),
            p.comment.map(|c| String::from_utf8_lossy(c).into_owned()),
        ));
    }
    out
}

/// `analyze --annotate`: the sample written back packet for packet (same
/// bytes and times), each SYN, SYN-ACK, RST and ICMP error with a comment
/// our reader reads back: the timed-out attempt's three SYNs say so, its
/// retransmissions are numbered, the refused one's RST names the server.
#[test]
fn annotate_writes_every_packet_back_with_verdicts_our_reader_reads() {
    let out = std::env::temp_dir().join(format!("synack-annotate-{}.pcapng", std::process::id()));
    let o = synack(&[
        "analyze",
        &sample(),
        "--format",
        "json",
        "--annotate",
        out.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let input = packets_of(std::path::Path::new(&sample()));
    let written = packets_of(&out);
    let _ = std::fs::remove_file(&out);
    assert_eq!(written.len(), input.len());
    for (a, b) in input.iter().zip(&written) {
        assert_eq!((a.0, &a.1), (b.0, &b.1), "a packet changed");
        assert!(a.2.is_none());
    }
    let comments: Vec<&str> = written.iter().filter_map(|p| p.2.as_deref()).collect();
    assert!(
        comments.iter().all(|c| c.starts_with("synack: ")),
        "{comments:?}"
    );
    let timed_out: Vec<&&str> = comments
        .iter()
        .filter(|c| c.contains("> 198.18.0.9:80; attempt timed out: 3 SYNs"))
        .collect();
    assert_eq!(timed_out.len(), 3, "{comments:#?}");
    assert!(timed_out[0].contains("SYN 1 of 3"), "{timed_out:?}");
    assert!(
        timed_out[2].contains("SYN retransmission 2 (3 of 3)"),
        "{timed_out:?}"
    );
    assert!(
        comments
            .iter()
            .any(|c| c.starts_with("synack: RST from the server") && c.contains("refused by RST")),
        "{comments:#?}"
    );
    assert!(
        comments
            .iter()
            .any(|c| c.starts_with("synack: ICMP error about the SYN")
                && c.contains("host unreachable")),
        "{comments:#?}"
    );
    // Standard input cannot be read twice.
    let o = synack(&["analyze", "-", "--annotate", "/dev/null"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("not standard input"), "{}", stderr(&o));
}
