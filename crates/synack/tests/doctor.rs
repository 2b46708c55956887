//! `synack doctor` against real trouble in labs: each scenario must come
//! out as its finding, with the numbers that were injected. Needs root;
//! skips elsewhere, saying why (CI runs as root).

mod support;

use serde_json::Value;
use std::net::{IpAddr, SocketAddr, TcpStream};
use std::process::Output;
use std::time::Duration;
use support::synack;
use synack_lab::Lab;

fn root_or_skip() -> bool {
    synack_lab::testing::root_or_skip("the doctor's lab tests")
}

const BIN: &str = env!("CARGO_BIN_EXE_synack");
const SERVER: &str = "exec python3 -m http.server 8080 --bind 0.0.0.0";

/// `synack lab run [IMPAIRMENT...] -- synack doctor $SYNACK_SERVER:8080`,
/// with a web server unless `server` is false.
fn doctor_in_lab(impairment: &[&str], server: bool, doctor_args: &str) -> (Value, Option<i32>) {
    let doctor = format!(
        "{BIN} doctor \"$SYNACK_SERVER:8080\" --format json {doctor_args}; echo \"exit=$?\" >&2"
    );
    let mut args = vec!["lab", "run"];
    args.extend_from_slice(impairment);
    if server {
        args.extend(["--server", SERVER]);
    }
    args.extend(["--", "sh", "-c", &doctor]);
    let o = synack(&args);
    parse(&o)
}

fn parse(o: &Output) -> (Value, Option<i32>) {
    let err = String::from_utf8_lossy(&o.stderr);
    let doc: Value = serde_json::from_slice(&o.stdout).unwrap_or_else(|e| {
        panic!(
            "doctor's JSON: {e}\n{}\n{err}",
            String::from_utf8_lossy(&o.stdout)
        )
    });
    let exit = err
        .lines()
        .find_map(|l| l.strip_prefix("exit="))
        .and_then(|c| c.trim().parse().ok())
        .or(o.status.code());
    (doc, exit)
}

fn finding<'a>(doc: &'a Value, code: &str) -> &'a Value {
    doc["findings"]
        .as_array()
        .and_then(|f| f.iter().find(|x| x["finding"] == code))
        .unwrap_or_else(|| panic!("no {code} finding in {doc:#}"))
}

fn number(f: &Value, key: &str) -> f64 {
    f["evidence"][key]
        .as_str()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("no number {key} in {f}"))
}

#[test]
fn a_healthy_target_is_ok_and_exits_0() {
    if !root_or_skip() {
        return;
    }
    let (doc, exit) = doctor_in_lab(&[], true, "--count 3");
    assert_eq!(exit, Some(0), "{doc:#}");
    assert_eq!(doc["healthy"], true);
    let ok = finding(&doc, "ok");
    assert_eq!(number(ok, "established"), 3.0);
}

#[test]
fn nothing_listening_is_refused() {
    if !root_or_skip() {
        return;
    }
    let (doc, exit) = doctor_in_lab(&[], false, "--count 2");
    assert_eq!(exit, Some(1));
    assert_eq!(number(finding(&doc, "refused"), "refused"), 2.0);
}

#[test]
fn a_silent_drop_is_filtered_silent_with_the_kernels_cost() {
    if !root_or_skip() {
        return;
    }
    let (doc, exit) = doctor_in_lab(
        &["--drop-syn-rate", "1", "--syn-retries", "2"],
        true,
        "--count 2 --timeout 1.5s",
    );
    assert_eq!(exit, Some(1));
    let f = finding(&doc, "filtered_silent");
    // Two connects, each the SYN and its retransmission at 1 s.
    assert_eq!(number(f, "syns_sent"), 4.0, "{f}");
    // tcp_syn_retries=2 in the client namespace: ETIMEDOUT at 7 s, with
    // or without linear timeouts (the doctor's unit test holds the rest of
    // the measured schedule).
    assert_eq!(number(f, "connect_without_timeout_waits_s"), 7.0, "{f}");
}

#[test]
fn an_icmp_admin_prohibited_reject_is_filtered_reject() {
    if !root_or_skip() {
        return;
    }
    let (doc, exit) = doctor_in_lab(&["--reject-icmp", "admin"], true, "--count 2");
    assert_eq!(exit, Some(1));
    let f = finding(&doc, "filtered_reject");
    assert_eq!(f["evidence"]["icmp"], "type 3 code 13", "{f}");
}

#[test]
fn two_hundred_ms_of_delay_is_a_slow_handshake_with_its_rtt() {
    if !root_or_skip() {
        return;
    }
    let (doc, exit) = doctor_in_lab(&["--delay", "200ms"], true, "--count 3");
    assert_eq!(exit, Some(1));
    let f = finding(&doc, "slow_handshake");
    let rtt = number(f, "tcpi_rtt_ms");
    assert!((199.0..240.0).contains(&rtt), "{f}");
    assert!((199.0..240.0).contains(&number(f, "connect_ms_p50")), "{f}");
}

#[test]
fn a_lost_first_syn_costs_its_second() {
    if !root_or_skip() {
        return;
    }
    let (doc, exit) = doctor_in_lab(&["--drop-syn", "1"], true, "--count 2");
    assert_eq!(exit, Some(1));
    let f = finding(&doc, "syn_loss");
    let penalty = number(f, "penalty_ms");
    assert!((950.0..1200.0).contains(&penalty), "{f}");
    assert!(
        doc["findings"]
            .as_array()
            .unwrap()
            .iter()
            .all(|x| x["finding"] != "slow_handshake"),
        "the retransmission is not the path's slowness: {doc:#}"
    );
}

/// The doctor on the server side (`--netns`), the listener's queue full
/// because the application never accepts.
#[test]
fn a_full_accept_queue_is_seen_from_the_server_side() {
    if !root_or_skip() {
        return;
    }
    let lab = Lab::up().expect("a lab");
    let listener = lab.listen_any(8080).unwrap();
    synack_sys::set_backlog(&listener, 1).unwrap();
    let server = SocketAddr::new(IpAddr::V4(lab.server_v4), 8080);
    // A backlog of 1 queues two; a third fills nothing more.
    let mut held = Vec::new();
    for _ in 0..3 {
        if let Ok(Ok(s)) = lab
            .client
            .run(move || TcpStream::connect_timeout(&server, Duration::from_millis(500)))
        {
            held.push(s);
        }
    }
    let o = synack(&[
        "doctor",
        &server.to_string(),
        "--netns",
        &lab.server.name,
        "--count",
        "2",
        "--timeout",
        "1s",
        "--format",
        "json",
    ]);
    let (doc, exit) = parse(&o);
    drop(held);
    drop(listener);
    lab.down().unwrap();
    assert_eq!(exit, Some(1), "{doc:#}");
    let f = finding(&doc, "accept_queue_full");
    assert_eq!(number(f, "accept_limit"), 1.0, "{f}");
    assert!(number(f, "accept_queue") >= 1.0, "{f}");
}

/// A name whose first address (in the order clients try) is dead.
#[test]
fn a_dead_first_address_is_named_before_the_working_one() {
    if !root_or_skip() {
        return;
    }
    let lab = Lab::up().expect("a lab");
    lab.black_hole_dead_hosts().unwrap();
    let (alias, _) = lab.add_server_alias().unwrap();
    let listener = lab.listen_any(8080).unwrap();
    let hosts = synack_lab::matrix::HostsFile::write(
        &lab.client.name,
        &[IpAddr::V4(lab.dead_v4), IpAddr::V4(alias)],
    )
    .unwrap();
    let name = format!("{}:8080", synack_lab::matrix::NAME);
    let o = lab
        .client
        .command(BIN)
        .args([
            "doctor",
            &name,
            "--count",
            "2",
            "--timeout",
            "1s",
            "--format",
            "json",
        ])
        .output()
        .unwrap();
    let (doc, exit) = parse(&o);
    let dead = lab.dead_v4;
    drop(hosts);
    drop(listener);
    lab.down().unwrap();
    assert_eq!(exit, Some(1), "{doc:#}");
    let f = finding(&doc, "dead_address");
    assert_eq!(f["evidence"]["dead"], format!("{dead}:8080"), "{f}");
    assert_eq!(f["evidence"]["working"], format!("{alias}:8080"), "{f}");
    assert_eq!(doc["addresses"][0]["established"], 0);
    assert_eq!(doc["addresses"][1]["established"], 2);
}

/// With --url: a PMTU black hole (big segments towards the client vanish,
/// no ICMP) is told from a stalled server by fetching again with a small
/// MSS.
#[test]
fn a_pmtu_black_hole_is_told_by_a_small_mss() {
    if !root_or_skip() {
        return;
    }
    let dir = std::env::temp_dir().join(format!("synack-doctor-pmtu-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("big"), vec![b'x'; 100_000]).unwrap();
    let server = format!(
        "cd {} && exec python3 -m http.server 8080 --bind 0.0.0.0",
        dir.display()
    );
    let doctor = format!(
        "{BIN} doctor \"$SYNACK_SERVER:8080\" --count 1 --timeout 2s --url \"http://$SYNACK_SERVER:8080/big\" --format json; echo \"exit=$?\" >&2"
    );
    let o = synack(&[
        "lab",
        "run",
        "--drop-large",
        "1280",
        "--server",
        &server,
        "--",
        "sh",
        "-c",
        &doctor,
    ]);
    let _ = std::fs::remove_dir_all(&dir);
    let (doc, exit) = parse(&o);
    assert_eq!(exit, Some(1), "{doc:#}");
    let f = finding(&doc, "pmtu_blackhole");
    assert!(
        number(f, "bytes_mss_536") > 100_000.0,
        "the whole file and its head: {f}"
    );
    assert!(number(f, "bytes_full_size") < 1280.0, "{f}");
    // The handshake itself is fine.
    assert!(finding(&doc, "ok")["address"].is_string());
}

/// A DROP rule in this host's own OUTPUT chain: connect() only times out;
/// the doctor's raw SYN is refused with EPERM, which names the culprit.
#[test]
fn a_local_output_drop_is_this_hosts_firewall() {
    if !root_or_skip() {
        return;
    }
    let lab = Lab::up().expect("a lab");
    let drop_rule = lab
        .client
        .command("iptables")
        .args(["-A", "OUTPUT", "-p", "tcp", "--dport", "8080", "-j", "DROP"])
        .status()
        .unwrap();
    assert!(drop_rule.success());
    let target = format!("{}:8080", lab.server_v4);
    let o = lab
        .client
        .command(BIN)
        .args([
            "doctor",
            &target,
            "--count",
            "1",
            "--timeout",
            "1s",
            "--format",
            "json",
        ])
        .output()
        .unwrap();
    lab.down().unwrap();
    let (doc, exit) = parse(&o);
    assert_eq!(exit, Some(1), "{doc:#}");
    let f = finding(&doc, "local_firewall");
    assert_eq!(f["address"], target.as_str(), "{f}");
    assert!(
        f["evidence"]["raw_syn"].as_str().unwrap().contains("EPERM"),
        "{f}"
    );
}

/// The silent path stays silent to a raw SYN too, and says so.
#[test]
fn a_silent_path_is_silent_to_a_raw_syn_as_well() {
    if !root_or_skip() {
        return;
    }
    let (doc, _) = doctor_in_lab(&["--drop-syn-rate", "1"], true, "--count 1 --timeout 1s");
    let f = finding(&doc, "filtered_silent");
    assert!(
        f["evidence"]["raw_syn"]
            .as_str()
            .unwrap()
            .starts_with("no answer either"),
        "{f}"
    );
}

/// --tfo: a server taking data in the SYN is an info finding; a path that
/// drops SYNs with data is `tfo_blocked`.
#[test]
fn tcp_fast_open_through_the_path_or_blocked_on_it() {
    if !root_or_skip() {
        return;
    }
    for blocked in [false, true] {
        let mut lab = Lab::up().expect("a lab");
        for side in [synack_lab::Side::Client, synack_lab::Side::Server] {
            lab.sysctl(side, "net.ipv4.tcp_fastopen", "3").unwrap();
        }
        if blocked {
            lab.impair(synack_lab::Impairment::DropSynData).unwrap();
        }
        let listener = lab.listen_any(8080).unwrap();
        synack_sys::tcp::set_fastopen(&listener, 16).unwrap();
        let target = format!("{}:8080", lab.server_v4);
        let o = lab
            .client
            .command(BIN)
            .args([
                "doctor", &target, "--count", "1", "--tfo", "--format", "json",
            ])
            .output()
            .unwrap();
        drop(listener);
        lab.down().unwrap();
        let (doc, _) = parse(&o);
        if blocked {
            let f = finding(&doc, "tfo_blocked");
            assert!(
                f["evidence"]["tfo_results"]
                    .as_str()
                    .unwrap()
                    .ends_with("blocked"),
                "{f}"
            );
        } else {
            let f = finding(&doc, "tfo");
            assert_eq!(
                f["evidence"]["tfo_results"], "cookie_requested, data_accepted",
                "{f}"
            );
        }
    }
}
