//! The resources a handshake uses on its way, filled in labs and checked
//! against the kernel's own tools: ephemeral ports per destination against
//! `ss` and against the kernel refusing connect() when the range is used
//! up; the connection tracking table against `conntrack -C` and
//! `conntrack -S`. Needs root (and conntrack for its part); skips
//! elsewhere, saying why.

mod support;
use support::{run_in, synack};

use serde_json::Value;
use std::io::Read;
use std::net::{SocketAddr, TcpStream};
use std::process::Command;
use std::time::Duration;
use synack_lab::{Lab, Side};

fn lab() -> Option<Lab> {
    synack_lab::testing::lab_or_skip("the conntrack and port tests")
}

/// `synack watch --once --format json` in `netns`.
fn watch_once(netns: &str) -> Value {
    let out = synack(&[
        "watch",
        "--once",
        "--interval",
        "0.2",
        "--format",
        "json",
        "--netns",
        netns,
    ]);
    let text = String::from_utf8_lossy(&out.stdout);
    serde_json::from_str(&text)
        .unwrap_or_else(|e| panic!("{e}: {text} {}", String::from_utf8_lossy(&out.stderr)))
}

/// Sockets `ss` lists in `netns` to `dst` in `state`.
fn ss_count(netns: &str, state: &str, dst: SocketAddr) -> usize {
    let text = run_in(
        netns,
        &["ss", "-tanH", "state", state, "dst", &dst.to_string()],
    );
    text.lines().filter(|l| !l.trim().is_empty()).count()
}

/// `/metrics` of `synack export --netns NETNS` listening on `port` there.
fn scrape(netns: &synack_lab::Netns, port: u16) -> String {
    use std::io::Write;
    let mut child = support::start_exporter(&netns.name, port, &[]);
    let text = netns
        .run(move || {
            let mut s = TcpStream::connect(("127.0.0.1", port))?;
            s.write_all(b"GET /metrics HTTP/1.0\r\n\r\n")?;
            let mut text = String::new();
            s.read_to_string(&mut text)?;
            Ok::<_, std::io::Error>(text)
        })
        .unwrap();
    synack_sys::kill(child.id() as i32, synack_sys::signal::SIGTERM);
    let _ = child.wait();
    text.unwrap_or_else(|e| panic!("scraping: {e}"))
}

/// Turns connection tracking on in the server's namespace (a rule that
/// needs it); false, saying why, when the conntrack tool that checks the
/// numbers is missing.
fn track_connections(lab: &Lab) -> bool {
    if Command::new("conntrack").arg("--version").output().is_err() {
        eprintln!("skipped: conntrack (apt-get install conntrack) is needed to check the numbers");
        return false;
    }
    run_in(
        &lab.server.name,
        &[
            "nft",
            "add table inet synack_test; add chain inet synack_test input { type filter hook input priority 0; }; add rule inet synack_test input ct state new counter",
        ],
    );
    true
}

/// A server on `port` that keeps every connection until the client
/// closes it, then closes its side (so the client's end goes to
/// TIME-WAIT). It ends with the test process.
fn holding_server(lab: &Lab, port: u16) {
    let listener = lab.listen(port, false).unwrap();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut s) = stream else { return };
            std::thread::spawn(move || {
                let mut buf = [0u8; 64];
                while s.read(&mut buf).is_ok_and(|n| n > 0) {}
            });
        }
    });
}

/// Ports per destination: with a range of 100 ports, 85 connections to one
/// destination (10 of them closed by the client: TIME-WAIT) are what
/// `synack watch` reports and `ss` counts, the alert names the
/// destination, audit says what to do, and the kernel refuses the 16th
/// connect() after 15 more (EADDRNOTAVAIL: the range is used up for this
/// destination, TIME-WAIT included).
#[test]
fn ports_per_destination_agree_with_ss_and_run_out_at_the_range() {
    let Some(lab) = lab() else { return };
    lab.sysctl(Side::Client, "net.ipv4.ip_local_port_range", "40000 40099")
        .unwrap();
    holding_server(&lab, 8080);
    let dst = SocketAddr::new(lab.server_v4.into(), 8080);
    let connect = move || TcpStream::connect_timeout(&dst, Duration::from_secs(3));
    let mut held: Vec<TcpStream> = (0..85)
        .map(|_| lab.client.run(connect).unwrap().unwrap())
        .collect();
    // Ten closed by the client first: each sends its FIN and reads until
    // the server's FIN, whose arrival puts the socket in TIME-WAIT before
    // read() returns 0.
    for mut s in held.drain(..10) {
        s.shutdown(std::net::Shutdown::Write).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        assert_eq!(s.read(&mut [0u8; 16]).unwrap(), 0);
    }
    assert_eq!(ss_count(&lab.client.name, "time-wait", dst), 10);
    let report = watch_once(&lab.client.name);
    let ports = &report["ephemeral_ports"];
    assert_eq!(ports["range"], serde_json::json!([40000, 40099]), "{ports}");
    let d = &ports["destinations"][0];
    assert_eq!(d["destination"], dst.to_string(), "{ports}");
    let all = ss_count(&lab.client.name, "all", dst);
    assert_eq!(d["in_use"], all, "ss counts {all}: {ports}");
    assert_eq!(all, 85);
    assert_eq!(d["time_wait"], 10, "{ports}");
    assert_eq!(d["fill_pct"], 85.0);
    let alert = report["alerts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["kind"] == "ephemeral_ports_exhausted")
        .unwrap_or_else(|| panic!("no ports alert: {:#}", report["alerts"]));
    assert_eq!(alert["destination"], dst.to_string());
    assert!(
        alert["message"].as_str().unwrap().contains("85 of the 100"),
        "{alert}"
    );
    let audit = synack(&["audit", "--format", "json", "--netns", &lab.client.name]);
    let audit: Value = serde_json::from_slice(&audit.stdout).unwrap();
    let finding = audit["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["subject"] == dst.to_string())
        .unwrap_or_else(|| panic!("no finding for {dst}: {audit:#}"));
    assert_eq!(finding["level"], "critical", "{finding}");
    assert!(finding["fix"].as_str().unwrap().contains("keep-alive"));
    let metrics = scrape(&lab.client, 9917);
    for line in [
        format!(
            "synack_ephemeral_ports_in_use{{destination_address=\"{}\",destination_port=\"8080\"}} 85",
            lab.server_v4
        ),
        format!(
            "synack_ephemeral_ports_time_wait{{destination_address=\"{}\",destination_port=\"8080\"}} 10",
            lab.server_v4
        ),
        "synack_ephemeral_port_range_size 100".to_string(),
    ] {
        assert!(metrics.contains(&line), "{line} not in:\n{metrics}");
    }
    // The kernel agrees on what is left: 15 ports, then EADDRNOTAVAIL.
    for i in 0..15 {
        held.push(
            lab.client
                .run(connect)
                .unwrap()
                .unwrap_or_else(|e| panic!("connection {} of the last 15: {e}", i + 1)),
        );
    }
    let refused = lab.client.run(connect).unwrap().unwrap_err();
    assert_eq!(
        refused.raw_os_error(),
        Some(libc_eaddrnotavail()),
        "{refused}"
    );
}

fn libc_eaddrnotavail() -> i32 {
    // EADDRNOTAVAIL on Linux.
    99
}

/// The conntrack table of a namespace where a rule tracks connections:
/// after a spoofed SYN flood of 300 SYNs and 20 real connections, the
/// entries synack reports are `conntrack -C`'s and its statistics
/// `conntrack -S`'s summed over the CPUs.
#[test]
fn conntrack_entries_and_statistics_agree_with_the_conntrack_tool() {
    let Some(lab) = lab() else { return };
    if !track_connections(&lab) {
        return;
    }
    holding_server(&lab, 8080);
    let dst = SocketAddr::new(lab.server_v4.into(), 8080);
    let _held: Vec<TcpStream> = (0..20)
        .map(|_| {
            lab.client
                .run(move || TcpStream::connect_timeout(&dst, Duration::from_secs(3)))
                .unwrap()
                .unwrap()
        })
        .collect();
    assert_eq!(lab.syn_flood(8080, 300, false).unwrap(), 300);
    let report = watch_once(&lab.server.name);
    let count: u64 = run_in(&lab.server.name, &["conntrack", "-C"])
        .trim()
        .parse()
        .unwrap();
    let stats = run_in(&lab.server.name, &["conntrack", "-S"]);
    let ct = &report["conntrack"];
    assert!(count >= 320, "{count}");
    assert_eq!(ct["entries"], count, "{ct}");
    for name in [
        "found",
        "invalid",
        "insert_failed",
        "drop",
        "early_drop",
        "search_restart",
    ] {
        let total: u64 = stats
            .split_whitespace()
            .filter_map(|kv| kv.strip_prefix(&format!("{name}=")))
            .map(|v| v.parse::<u64>().unwrap())
            .sum();
        assert_eq!(ct["stats"][name]["value"], total, "{name}: {ct}\n{stats}");
    }
    assert!(ct["max"].as_u64().unwrap() > 0, "{ct}");
    let metrics = scrape(&lab.server, 9917);
    let entries = metrics
        .lines()
        .find_map(|l| l.strip_prefix("synack_conntrack_entries "))
        .and_then(|v| v.parse::<u64>().ok())
        .unwrap_or_else(|| panic!("no entries in:\n{metrics}"));
    assert!(
        (count..count + 5).contains(&entries),
        "{entries} vs {count}"
    );
    assert!(
        metrics.contains("synack_conntrack_insert_failed_total 0"),
        "{metrics}"
    );
}

/// `synack lab drill`: under the same spoofed flood, no defence admits
/// (almost) no legitimate client, while SYN cookies and SYNPROXY admit at
/// least 95%; the kernel's own counts (SYN-ACKs through an nftables
/// counter, TcpExt.SyncookiesSent) say how: without a defence the server
/// answered about one queue's worth of SYNs, with cookies it answered the
/// flood with cookies, and SYNPROXY answered it without the server's stack.
#[test]
fn a_drill_shows_no_defence_locks_clients_out_and_cookies_or_synproxy_let_them_in() {
    if lab().is_none() {
        return;
    }
    let out = synack(&[
        "lab",
        "drill",
        "--flood",
        "2000",
        "--duration",
        "2s",
        "--defense",
        "none,cookies,synproxy",
        "--format",
        "json",
    ]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let doc: Value = serde_json::from_str(&text).unwrap();
    let row = |name: &str| {
        doc["defences"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["defence"] == name)
            .unwrap_or_else(|| panic!("no {name}: {doc:#}"))
            .clone()
    };
    let (none, cookies, synproxy) = (row("none"), row("cookies"), row("synproxy"));
    assert_eq!(none["legit_attempts"], 40, "{none}");
    for r in [&none, &cookies, &synproxy] {
        // 2000/s for the 2 s and the 1 s head start.
        let sent = r["flood_sent"].as_u64().unwrap();
        assert!((5_900..=6_100).contains(&sent), "{r}");
    }
    let ok = |r: &Value| r["legit_success_pct"].as_f64().unwrap();
    assert!(ok(&none) <= 5.0, "{none}");
    assert!(ok(&cookies) >= 95.0, "{cookies}");
    assert!(ok(&synproxy) >= 95.0, "{synproxy}");
    // Without a defence the server answered about its SYN queue's worth
    // (129 and their retransmissions), a small share of the flood.
    assert!(none["synacks_sent"].as_u64().unwrap() < 1_000, "{none}");
    assert_eq!(none["cookies_sent"], 0, "{none}");
    // With cookies nearly every flood SYN got a cookie.
    assert!(
        cookies["cookies_sent"].as_u64().unwrap() >= 5_000,
        "{cookies}"
    );
    // SYNPROXY answered the flood itself: SYN-ACKs without the stack's
    // cookies, and conntrack entries only for the real clients.
    assert!(
        synproxy["synacks_sent"].as_u64().unwrap() >= 5_000,
        "{synproxy}"
    );
    assert_eq!(synproxy["cookies_sent"], 0, "{synproxy}");
    assert!(
        synproxy["conntrack_peak"].as_u64().unwrap() < 500,
        "{synproxy}"
    );
}

/// Legitimate connects (20, 50 ms apart, 1.5 s each) while a spoofed
/// flood of 2000 SYNs/s runs, starting together: how many got in.
fn legitimate_under_flood(lab: &Lab) -> usize {
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let target = format!("{}:8080", lab.server_v4);
    std::thread::scope(|scope| {
        let flood = scope
            .spawn(|| lab.paced_flood(8080, 2000, Duration::from_secs(3), u64::MAX, stop.clone()));
        let out = lab
            .client
            .command(env!("CARGO_BIN_EXE_synack"))
            .args([
                "probe",
                &target,
                "-c",
                "20",
                "-i",
                "0.05",
                "--timeout",
                "1.5s",
            ])
            .args(["--concurrency", "40", "--format", "json"])
            .output()
            .unwrap();
        stop.store(true, std::sync::atomic::Ordering::SeqCst);
        assert!(flood.join().unwrap().unwrap() > 0);
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .filter(|l| l.contains("\"outcome\":\"established\""))
            .count()
    })
}

/// `synack harden --apply` under a flood: before it, with cookies off,
/// (almost) no legitimate client gets in; after it, all do; `--revert`
/// leaves the ruleset byte-identical to before and the sysctls as they
/// were, and a second `--revert` has nothing to do.
#[test]
fn harden_apply_lets_clients_in_under_a_flood_and_revert_restores_everything() {
    let Some(lab) = lab() else { return };
    lab.sysctl(Side::Server, "net.ipv4.tcp_syncookies", "0")
        .unwrap();
    holding_server(&lab, 8080);
    let server = &lab.server.name;
    let ruleset = || run_in(server, &["nft", "list", "ruleset"]);
    let cookies = || run_in(server, &["cat", "/proc/sys/net/ipv4/tcp_syncookies"]);
    let before = ruleset();
    let locked_out = legitimate_under_flood(&lab);
    assert!(
        locked_out <= 2,
        "{locked_out} of 20 got in without a defence"
    );

    let harden = |extra: &[&str]| {
        let mut args = vec!["harden", "--netns", server.as_str(), "--port", "8080"];
        args.extend_from_slice(extra);
        synack(&args)
    };
    let dry = harden(&[]);
    let text = String::from_utf8_lossy(&dry.stdout);
    assert!(text.contains("- net.ipv4.tcp_syncookies = 0"), "{text}");
    assert!(text.contains("+ net.ipv4.tcp_syncookies = 1"), "{text}");
    assert!(text.contains("synproxy mss 1460"), "{text}");
    assert!(text.contains("Nothing changed"), "{text}");
    let json: Value = serde_json::from_slice(&harden(&["--format", "json"]).stdout).unwrap();
    assert_eq!(json["ports"], serde_json::json!([8080]), "{json}");
    assert!(
        json["sysctls"]
            .as_array()
            .unwrap()
            .iter()
            .any(|c| c["key"] == "net.ipv4.tcp_syncookies"
                && c["now"] == "0"
                && c["wanted"] == "1"),
        "{json}"
    );
    assert!(
        json["nftables"].as_str().unwrap().contains("synproxy"),
        "{json}"
    );
    assert_eq!(json["applied"], false);
    assert_eq!(ruleset(), before, "a dry run changed the ruleset");

    let applied = harden(&["--apply"]);
    assert_eq!(
        applied.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&applied.stderr)
    );
    assert!(ruleset().contains("table inet synack_harden"));
    let let_in = legitimate_under_flood(&lab);
    assert!(let_in >= 19, "{let_in} of 20 got in after harden --apply");

    let reverted = synack(&["harden", "--netns", server, "--revert"]);
    assert_eq!(
        reverted.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&reverted.stderr)
    );
    assert_eq!(ruleset(), before, "--revert left the ruleset changed");
    assert_eq!(cookies().trim(), "0");
    let again = synack(&["harden", "--netns", server, "--revert"]);
    assert_eq!(again.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&again.stderr).contains("nothing to revert"));
}

/// The conntrack table filled past its limit by a spoofed flood of more
/// distinct SYNs than it holds, in a namespace where a rule tracks them:
/// synack reports it full (the alert, as critical) and its entries and
/// early drops are the conntrack tool's. The limit is the kernel's
/// (nf_conntrack_max cannot be set inside a namespace, and the host's is
/// not touched); each namespace's table has it to itself.
#[test]
fn a_full_conntrack_table_is_named_and_its_drops_agree_with_conntrack_s() {
    let Some(lab) = lab() else { return };
    let max: u64 = std::fs::read_to_string("/proc/sys/net/netfilter/nf_conntrack_max")
        .ok()
        .and_then(|m| m.trim().parse().ok())
        .unwrap_or(0);
    if max == 0 || max > 1_000_000 {
        eprintln!("skipped: nf_conntrack_max is {max}: filling it takes too long here");
        return;
    }
    if !track_connections(&lab) {
        return;
    }
    // A listener: the SYNs are answered (with cookies once its queue is
    // full) and their entries live on; a RST answering a SYN would end
    // each entry at once.
    holding_server(&lab, 8080);
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let wanted = max + max / 5;
    let sent = lab
        .paced_flood(8080, 1_000_000, Duration::from_secs(60), wanted, stop)
        .unwrap();
    assert_eq!(sent, wanted);
    let report = watch_once(&lab.server.name);
    let ct = &report["conntrack"];
    let count: u64 = run_in(&lab.server.name, &["conntrack", "-C"])
        .trim()
        .parse()
        .unwrap();
    assert_eq!(ct["max"], max, "{ct}");
    assert!(count * 10 >= max * 9, "{count} of {max}");
    let entries = ct["entries"].as_u64().unwrap();
    assert!(entries.abs_diff(count) <= max / 100, "{entries} vs {count}");
    let stats = run_in(&lab.server.name, &["conntrack", "-S"]);
    let sum = |name: &str| -> u64 {
        stats
            .split_whitespace()
            .filter_map(|kv| kv.strip_prefix(&format!("{name}=")))
            .map(|v| v.parse::<u64>().unwrap())
            .sum()
    };
    // Unconfirmed (never answered) entries are evicted to make room.
    assert!(sum("early_drop") > 0, "{stats}");
    for name in ["early_drop", "drop"] {
        assert_eq!(
            ct["stats"][name]["value"],
            sum(name),
            "{name}: {ct}\n{stats}"
        );
    }
    let alert = report["alerts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["kind"] == "conntrack_full")
        .unwrap_or_else(|| panic!("no conntrack alert: {:#}", report["alerts"]));
    assert!(
        alert["message"]
            .as_str()
            .unwrap()
            .contains("nf_conntrack_max"),
        "{alert}"
    );
}
