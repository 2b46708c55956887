//! `synack doctor HOST:PORT`: from "my connection is slow or failing" to the
//! cause and the fix. Looks at the name (every address and the lookup
//! time), this host's side of the path (route, MTU, conntrack, ephemeral
//! ports, the kernel's SYN retries, local firewall rules), N connects per
//! address with the probe engine's causes, the listener itself when it is
//! on this host or in `--netns`, and with `--url` what keep-alive saves.
//! Prints a ranked list of findings (finding → evidence → fix), or JSON
//! with the stable codes of docs/DOCTOR.md. Exit 0 healthy, 1 something to
//! fix, 2 usage errors. Needs no privileges; reads more as root.

use crate::cli::{DoctorArgs, DoctorFormat};
use anyhow::{Context, Result};
use std::io::Write;
use std::net::{IpAddr, SocketAddr};
use std::process::ExitCode;
use std::sync::atomic::AtomicBool;
use std::time::{Duration, Instant};
use synack_probe::engine::{self, Pace};
use synack_probe::{AttemptConfig, AttemptResult, Cause, Family};

/// How bad a finding is; findings print worst first.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Severity {
    /// Connections fail.
    Error,
    /// Connections work, slower or less reliably than they should.
    Warning,
    /// Worth knowing; nothing to fix.
    Info,
    Ok,
}

impl Severity {
    fn as_str(self) -> &'static str {
        match self {
            Severity::Error => "error",
            Severity::Warning => "warning",
            Severity::Info => "info",
            Severity::Ok => "ok",
        }
    }
}

#[derive(Clone, Debug)]
pub struct Finding {
    /// The stable code (docs/DOCTOR.md).
    pub code: &'static str,
    pub severity: Severity,
    pub address: Option<SocketAddr>,
    /// What is wrong, in one sentence.
    pub summary: String,
    /// The numbers behind it.
    pub evidence: Vec<(&'static str, String)>,
    /// What to do, with the commands or settings.
    pub fix: String,
}

/// What the probes of one address gave.
struct AddressReport {
    addr: SocketAddr,
    results: Vec<AttemptResult>,
    route: Option<Route>,
}

impl AddressReport {
    fn established(&self) -> Vec<&AttemptResult> {
        self.results
            .iter()
            .filter(|r| r.cause == Cause::Established)
            .collect()
    }
}

/// How this host reaches an address (`ip route get`).
#[derive(Clone, Debug, Default)]
struct Route {
    dev: String,
    src: String,
    mtu: Option<u32>,
}

fn ms(d: Duration) -> String {
    format!("{:.1}", d.as_secs_f64() * 1000.0)
}

/// The median, as `synack probe --reuse` takes it.
fn median(v: Vec<Duration>) -> Duration {
    synack_probe::reuse::Series::median(&v)
}

/// What a connect() without a timeout of its own costs against a
/// black-holed address: (seconds until ETIMEDOUT, SYNs sent). The kernel
/// gives up at the first retransmission timer at or after its budget of
/// 2^(retries+1) - 1 s (the exponential model from a 1 s initial RTO, RFC
/// 6298); the first `linear + 1` intervals are 1 s
/// (net.ipv4.tcp_syn_linear_timeouts, Linux 6.18; 0 before), then they
/// double. Linux 6.18 with 6 retries and 4 linear: SYNs at 0, 1, 2, 3, 4,
/// 5, 7, 11, 19, 35, 67 s and ETIMEDOUT at 131 s (measured 133.9 s: the
/// timer's rounding).
pub fn black_hole_wait(retries: u32, linear: u32) -> (u64, u32) {
    let budget = (2u64 << retries.min(30)) - 1;
    let (mut t, mut rto, mut retransmits) = (0u64, 1u64, 0u32);
    loop {
        t += rto;
        if t >= budget {
            return (t, retransmits + 1);
        }
        retransmits += 1;
        if retransmits > linear {
            rto *= 2;
        }
    }
}

fn read_trimmed(path: &str) -> Option<String> {
    std::fs::read_to_string(path)
        .ok()
        .map(|s| s.trim().to_string())
}

fn route_to(ip: IpAddr) -> Option<Route> {
    let out = std::process::Command::new("ip")
        .args(["-j", "route", "get", &ip.to_string()])
        .output()
        .ok()?;
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).ok()?;
    let r = v.get(0)?;
    let dev = r.get("dev")?.as_str()?.to_string();
    let mtu = r
        .get("metrics")
        .and_then(|m| m.get(0))
        .and_then(|m| m.get("mtu"))
        .and_then(|m| m.as_u64())
        .map(|m| m as u32)
        .or_else(|| {
            read_trimmed(&format!("/sys/class/net/{dev}/mtu"))?
                .parse()
                .ok()
        });
    Some(Route {
        src: r
            .get("prefsrc")
            .and_then(|s| s.as_str())
            .unwrap_or("")
            .to_string(),
        dev,
        mtu,
    })
}

/// Probes one address `count` times, one connect at a time, 100 ms apart;
/// after two connects that heard nothing at all, no more (each would only
/// wait its timeout again: the doctor stays near 10 s for a dead address).
fn probe(
    addr: SocketAddr,
    count: usize,
    timeout: Duration,
    stop: &AtomicBool,
) -> Vec<AttemptResult> {
    let cfg = AttemptConfig {
        timeout,
        ..AttemptConfig::default()
    };
    let pace = Pace {
        concurrency: 1,
        ..Pace::default()
    };
    let mut out: Vec<AttemptResult> = Vec::new();
    for i in 0..count {
        if stop.load(std::sync::atomic::Ordering::SeqCst) {
            break;
        }
        if i > 0 {
            std::thread::sleep(Duration::from_millis(100));
        }
        let mut job = std::iter::once((i, addr));
        let _ = engine::run(&mut job, &cfg, &pace, stop, &mut |_, r| out.push(r));
        let silent = out
            .iter()
            .rev()
            .take(2)
            .filter(|r| matches!(r.cause, Cause::Timeout { .. }))
            .count();
        if silent == 2 && out.iter().all(|r| r.cause != Cause::Established) {
            break;
        }
    }
    out
}

/// The findings of one address's probes.
/// `syn_retries`: net.ipv4.tcp_syn_retries and tcp_syn_linear_timeouts.
fn address_findings(a: &AddressReport, syn_retries: (u32, u32), out: &mut Vec<Finding>) {
    let n = a.results.len();
    let est = a.established();
    let addr = Some(a.addr);
    let count = |f: &dyn Fn(&Cause) -> bool| a.results.iter().filter(|r| f(&r.cause)).count();
    let refused = count(&|c| *c == Cause::Refused);
    let timeouts = count(&|c| matches!(c, Cause::Timeout { .. }));
    let (wait, _) = black_hole_wait(syn_retries.0, syn_retries.1);
    if est.is_empty() {
        if let Some(r) = a
            .results
            .iter()
            .find(|r| matches!(r.cause, Cause::Icmp { .. }))
        {
            let Cause::Icmp {
                icmp_type,
                code,
                v6,
                from,
                ..
            } = r.cause
            else {
                unreachable!("found above")
            };
            let name = synack_core::cause::icmp_name(v6, icmp_type, code);
            let from = from.map_or("?".to_string(), |f| f.to_string());
            let prohibited = matches!(
                (v6, icmp_type, code),
                (false, 3, 9 | 10 | 13) | (true, 1, 1)
            );
            let port_unreach = matches!((v6, icmp_type, code), (false, 3, 3) | (true, 1, 4));
            let (finding, fix) = if prohibited || port_unreach {
                (
                    "filtered_reject",
                    format!(
                        "A firewall at {from} rejects connections to port {}: open the port there (iptables/nftables, a security group or a host firewall), or connect to the port the service really uses.",
                        a.addr.port()
                    ),
                )
            } else {
                (
                    "unreachable",
                    format!(
                        "{from} has no way to {}: the host is down or the route is missing. Check the address (DNS), the routes between (`ip route get {}`, `traceroute -T -p {} {}`), and that the host is up.",
                        a.addr.ip(),
                        a.addr.ip(),
                        a.addr.port(),
                        a.addr.ip()
                    ),
                )
            };
            out.push(Finding {
                code: finding,
                severity: Severity::Error,
                address: addr,
                summary: format!("{} answered with ICMP {name} (from {from})", a.addr),
                evidence: vec![
                    ("attempts", n.to_string()),
                    ("icmp", format!("type {icmp_type} code {code}")),
                    ("from", from.clone()),
                    ("after_ms", ms(r.connect)),
                ],
                fix,
            });
        } else if refused * 2 >= n.max(1) {
            out.push(Finding {
                code: "refused",
                severity: Severity::Error,
                address: addr,
                summary: format!("{} refused {refused} of {n} connects with RST", a.addr),
                evidence: vec![
                    ("attempts", n.to_string()),
                    ("refused", refused.to_string()),
                    ("after_ms", ms(median(a.results.iter().map(|r| r.connect).collect()))),
                ],
                fix: format!(
                    "Nothing listens on port {port} at {ip}, or a firewall answers for it with RST. On the server: `ss -ltn 'sport = :{port}'` shows whether the service listens (and on which address: 127.0.0.1 is not reachable from outside); `iptables -S | grep {port}` shows a REJECT --reject-with tcp-reset.",
                    port = a.addr.port(),
                    ip = a.addr.ip()
                ),
            });
        } else if timeouts > 0 {
            let syns: u32 = a
                .results
                .iter()
                .map(|r| match r.cause {
                    Cause::Timeout { syns, .. } => syns,
                    _ => 0,
                })
                .sum();
            out.push(Finding {
                code: "filtered_silent",
                severity: Severity::Error,
                address: addr,
                summary: format!(
                    "{} never answered: {timeouts} connects, {syns} SYNs, no SYN-ACK, RST or ICMP error",
                    a.addr
                ),
                evidence: vec![
                    ("attempts", n.to_string()),
                    ("syns_sent", syns.to_string()),
                    ("waited_ms_each", ms(median(a.results.iter().map(|r| r.connect).collect()))),
                    ("tcp_syn_retries", syn_retries.0.to_string()),
                    ("tcp_syn_linear_timeouts", syn_retries.1.to_string()),
                    ("connect_without_timeout_waits_s", wait.to_string()),
                ],
                fix: format!(
                    "Something drops the SYNs without a word: a firewall (DROP rule, cloud security group or network ACL), a host that is down, or a wrong address. Check the rules for port {} between here and {} (and `iptables -S` on the server); `synack probe --syn {}` (as root) tells a local drop from a silent path. Until it is fixed, clients without their own connect timeout wait {wait} s here (net.ipv4.tcp_syn_retries={}): give them a connect timeout of a few seconds.",
                    a.addr.port(),
                    a.addr.ip(),
                    a.addr,
                    syn_retries.0
                ),
            });
        } else if let Some(r) = a
            .results
            .iter()
            .find(|r| matches!(r.cause, Cause::NoNeighbour))
        {
            out.push(Finding {
                code: "unreachable",
                severity: Severity::Error,
                address: addr,
                summary: format!("{}: no neighbour answered ARP/ND (the host or the next hop is down)", a.addr),
                evidence: vec![("attempts", n.to_string()), ("after_ms", ms(r.connect))],
                fix: "The address is on a local network and nothing there answers for it: check that the host is up and the address right (`ip neigh` shows FAILED entries).".into(),
            });
        } else if let Some(r) = a
            .results
            .iter()
            .find(|r| matches!(r.cause, Cause::Local { .. }))
        {
            let Cause::Local { errno } = r.cause else {
                unreachable!("found above")
            };
            let ports = errno == synack_sys::errno::EADDRNOTAVAIL;
            out.push(Finding {
                code: if ports { "ports_exhausted" } else { "local_error" },
                severity: Severity::Error,
                address: addr,
                summary: format!(
                    "this host could not try {}: {}",
                    a.addr,
                    synack_sys::tcp::errno_name(errno)
                ),
                evidence: vec![("errno", synack_sys::tcp::errno_name(errno).to_string())],
                fix: if ports {
                    "No free local port: widen net.ipv4.ip_local_port_range, reuse connections, or close the idle ones (`ss -tan state time-wait | wc -l`).".into()
                } else {
                    "This host refused to send: check the route (`ip route get`) and the local firewall's OUTPUT rules.".into()
                },
            });
        }
        return;
    }
    let connects: Vec<Duration> = est.iter().map(|r| r.connect).collect();
    let rtts: Vec<Duration> = est
        .iter()
        .filter_map(|r| {
            r.tcp_info
                .map(|i| Duration::from_micros(u64::from(i.rtt_us)))
        })
        .collect();
    let clean: Vec<Duration> = est
        .iter()
        .filter(|r| r.tcp_info.is_none_or(|i| i.total_retrans == 0))
        .map(|r| r.connect)
        .collect();
    // Losses inside handshakes that succeeded (TCP_INFO: retransmitted SYN).
    let mut syn_lost = Vec::new();
    let mut synack_lost = Vec::new();
    for r in &est {
        if let Some(info) = r.tcp_info
            && let Some(what) = synack_probe::cause::handshake_loss(&info, r.connect)
        {
            if what.starts_with("SYN-ACK") {
                synack_lost.push(r.connect);
            } else {
                syn_lost.push(r.connect);
            }
        }
    }
    // What a handshake costs without loss: the clean ones; else the round
    // trip (after a lost SYN, tcpi_rtt is still the path's); else, after a
    // lost SYN-ACK, the connect time less the 1 s initial RTO (RFC 6298).
    const INITIAL_RTO: Duration = Duration::from_secs(1);
    let typical = if !clean.is_empty() {
        median(clean.clone())
    } else if !syn_lost.is_empty() && !rtts.is_empty() {
        median(rtts.clone())
    } else {
        median(connects.clone()).saturating_sub(INITIAL_RTO)
    };
    for (code, lost, what) in [
        ("syn_loss", &syn_lost, "SYN"),
        ("synack_loss", &synack_lost, "SYN-ACK"),
    ] {
        if lost.is_empty() {
            continue;
        }
        let penalty = median(lost.to_vec()).saturating_sub(typical);
        out.push(Finding {
            code,
            severity: Severity::Warning,
            address: addr,
            summary: format!(
                "{} of {n} handshakes to {} lost their {what} and waited for its retransmission: {} ms more each",
                lost.len(),
                a.addr,
                ms(penalty)
            ),
            evidence: vec![
                ("attempts", n.to_string()),
                ("lost", lost.len().to_string()),
                ("connect_ms_when_lost", ms(median(lost.to_vec()))),
                ("connect_ms_typical", ms(typical)),
                ("penalty_ms", ms(penalty)),
            ],
            fix: format!(
                "Each lost {what} costs the 1 s initial retransmission timeout (RFC 6298). Look for loss on the way {}: interface errors and drops (`ip -s link`), a full SYN queue or accept queue on the server (`nstat -az TcpExtListenDrops TcpExtListenOverflows`), SYN rate limits in firewalls, or conntrack table drops (`conntrack -S`).",
                if what == "SYN" { "to the server" } else { "back from the server" }
            ),
        });
    }
    let failed = n - est.len();
    if failed > 0 && timeouts > 0 {
        out.push(Finding {
            code: "syn_loss",
            severity: Severity::Warning,
            address: addr,
            summary: format!("{timeouts} of {n} connects to {} got no answer at all", a.addr),
            evidence: vec![("attempts", n.to_string()), ("timeouts", timeouts.to_string())],
            fix: "Some SYNs (or their answers) are lost every time: look for a lossy link, an overloaded server dropping SYNs (`nstat -az TcpExtListenDrops`), or rate limits.".into(),
        });
    }
    let rtt = if rtts.is_empty() || (clean.is_empty() && !synack_lost.is_empty()) {
        // After a lost SYN-ACK, tcpi_rtt spans the retransmission timeout.
        None
    } else {
        Some(median(rtts))
    };
    if typical > Duration::from_millis(100) {
        let mut evidence = vec![
            ("attempts", n.to_string()),
            ("connect_ms_p50", ms(typical)),
            (
                "connect_ms_max",
                ms(connects.iter().copied().max().unwrap_or_default()),
            ),
        ];
        if let Some(rtt) = rtt {
            evidence.push(("tcpi_rtt_ms", ms(rtt)));
        }
        out.push(Finding {
            code: "slow_handshake",
            severity: Severity::Warning,
            address: addr,
            summary: format!(
                "handshakes with {} take {} ms (median of {}): the round trip itself",
                a.addr,
                ms(typical),
                est.len()
            ),
            evidence,
            fix: "Every new connection pays a round trip before its first byte (TLS one or two more): reuse connections (HTTP keep-alive, connection pools), use TLS 1.3 or resumption, or serve from closer to the clients. `synack probe --reuse URL` measures what reuse saves.".into(),
        });
    }
    if out.iter().all(|f| f.address != addr) {
        let mut evidence = vec![
            ("attempts", n.to_string()),
            ("established", est.len().to_string()),
            ("connect_ms_p50", ms(typical)),
        ];
        if let Some(rtt) = rtt {
            evidence.push(("tcpi_rtt_ms", ms(rtt)));
        }
        out.push(Finding {
            code: "ok",
            severity: Severity::Ok,
            address: addr,
            summary: format!(
                "{} of {n} handshakes with {} completed, {} ms each (median)",
                est.len(),
                a.addr,
                ms(typical)
            ),
            evidence,
            fix: String::new(),
        });
    }
}

/// This host's side: conntrack, ephemeral ports toward the target, local
/// firewall rules that match the port.
fn local_findings(
    target_addrs: &[SocketAddr],
    port: u16,
    sysctls: &synack_host::sysctls::Sysctls,
    out: &mut Vec<Finding>,
) {
    if let Ok(Some(ct)) = synack_host::conntrack::Conntrack::read() {
        let (count, max) = (ct.entries, ct.max);
        let insert_failed = ct.stat("insert_failed");
        if max > 0 && ct.fill() >= synack_host::health::CONNTRACK_WARN {
            out.push(Finding {
                code: "conntrack_full",
                severity: Severity::Error,
                address: None,
                summary: format!("the connection-tracking table is {}% full", count * 100 / max),
                evidence: vec![
                    ("nf_conntrack_count", count.to_string()),
                    ("nf_conntrack_max", max.to_string()),
                    ("insert_failed", insert_failed.to_string()),
                ],
                fix: "New connections are dropped once the table is full (the kernel logs \"nf_conntrack: table full, dropping packet\"): raise net.netfilter.nf_conntrack_max, shorten nf_conntrack_tcp_timeout_time_wait/established, or exempt busy ports with a NOTRACK rule.".into(),
            });
        } else if insert_failed > 0 {
            out.push(Finding {
                code: "conntrack_full",
                severity: Severity::Warning,
                address: None,
                summary: format!("conntrack failed to insert {insert_failed} connections since boot"),
                evidence: vec![
                    ("nf_conntrack_count", count.to_string()),
                    ("nf_conntrack_max", max.to_string()),
                    ("insert_failed", insert_failed.to_string()),
                ],
                fix: "insert_failed counts SYNs dropped by connection tracking (a full table, or clashing NAT tuples under load): raise nf_conntrack_max, or use `--random-fully` on MASQUERADE rules.".into(),
            });
        }
    }
    // Ephemeral ports in use toward each target address.
    if let Some((lo, hi)) = sysctls
        .get(synack_host::names::sysctl::IP_LOCAL_PORT_RANGE)
        .and_then(synack_host::ports::parse_range)
        && let Ok(sockets) = synack_host::procfs::tcp_sockets()
    {
        let range = u32::from(hi) - u32::from(lo) + 1;
        for t in target_addrs {
            let used = sockets
                .iter()
                .filter(|s| s.remote == *t && (lo..=hi).contains(&s.local_port))
                .count() as u32;
            if f64::from(used) * 100.0 >= synack_host::health::PORTS_WARN * f64::from(range) {
                out.push(Finding {
                    code: "ports_exhausted",
                    severity: if used >= range { Severity::Error } else { Severity::Warning },
                    address: Some(*t),
                    summary: format!("{used} of {range} local ports are taken by connections to {t}"),
                    evidence: vec![
                        ("in_use", used.to_string()),
                        ("ip_local_port_range", format!("{lo} {hi}")),
                    ],
                    fix: "Every connection to one address and port needs its own local port: reuse connections (keep-alive, pools), let TIME_WAIT go sooner on the side that closes first, or widen net.ipv4.ip_local_port_range.".into(),
                });
            }
        }
    }
    let rules = firewall_rules_for(port);
    if !rules.is_empty() {
        out.push(Finding {
            code: "local_firewall",
            severity: Severity::Warning,
            address: None,
            summary: format!("{} local firewall rule(s) drop or reject traffic for port {port}", rules.len()),
            evidence: rules
                .iter()
                .take(3)
                .map(|r| ("rule", r.clone()))
                .collect(),
            fix: "This host's own firewall matches the port: check that these rules are meant to apply to the connection (iptables -S, nft list ruleset).".into(),
        });
    }
}

/// Lines of this host's iptables, ip6tables and nftables rule sets that
/// drop or reject something for `port` (read-only; as root only).
fn firewall_rules_for(port: u16) -> Vec<String> {
    let mut rules = Vec::new();
    let port_words = [
        format!("--dport {port}"),
        format!("dport {port}"),
        format!("--dports {port}"),
    ];
    for cmd in [
        &["iptables-save"][..],
        &["ip6tables-save"],
        &["nft", "list", "ruleset"],
    ] {
        let Ok(out) = std::process::Command::new(cmd[0])
            .args(&cmd[1..])
            .stderr(std::process::Stdio::null())
            .output()
        else {
            continue;
        };
        for line in String::from_utf8_lossy(&out.stdout).lines() {
            let l = line.trim();
            let blocks = ["DROP", "REJECT", "drop", "reject"]
                .iter()
                .any(|w| l.contains(w));
            if blocks && port_words.iter().any(|p| l.contains(p.as_str())) {
                rules.push(l.to_string());
            }
        }
    }
    rules
}

/// The listener on `port` in this namespace, before and after the probes.
fn listener_findings(
    before: &synack_host::snapshot::Snapshot,
    after: &synack_host::snapshot::Snapshot,
    port: u16,
    out: &mut Vec<Finding>,
) {
    let delta = |name: &str| {
        after
            .counters
            .get(name)
            .unwrap_or(0)
            .saturating_sub(before.counters.get(name).unwrap_or(0))
    };
    let overflows = delta("TcpExtListenOverflows");
    let cookies = delta("TcpExtSyncookiesSent");
    let listeners: Vec<_> = after
        .listeners
        .iter()
        .filter(|l| l.local.port() == port)
        .collect();
    if listeners.is_empty() {
        out.push(Finding {
            code: "refused",
            severity: Severity::Error,
            address: None,
            summary: format!("no socket listens on port {port} in this network namespace"),
            evidence: vec![("listeners_on_port", "0".into())],
            fix: format!("Start the service, or check the port it listens on: `ss -ltnp` lists the listening sockets and their processes (port {port} is not among them)."),
        });
        return;
    }
    for l in listeners {
        let fill = synack_host::health::accept_fill(l);
        if fill >= 0.9 || overflows > 0 {
            out.push(Finding {
                code: "accept_queue_full",
                severity: Severity::Error,
                address: Some(l.local),
                summary: format!(
                    "the listener {} has {} of {} connections waiting for accept(): the application does not accept fast enough",
                    l.local,
                    l.accept_queue,
                    synack_host::health::capacity(l)
                ),
                evidence: vec![
                    ("accept_queue", l.accept_queue.to_string()),
                    ("accept_limit", l.accept_limit.to_string()),
                    ("listen_overflows_during_check", overflows.to_string()),
                    ("owners", l.owners()),
                ],
                fix: "While the queue is full the kernel drops new SYNs (or, with tcp_abort_on_overflow=1, resets them): clients see timeouts or 1 s, 3 s, 7 s connects. Make the application accept faster (more workers, a non-blocking accept loop), and raise its listen() backlog and net.core.somaxconn if bursts are the cause. `synack watch --port PORT` shows the queue live.".into(),
            });
        }
        if synack_host::health::syn_fill(l) >= 0.5 && l.syn_recv >= 16 || cookies > 100 {
            out.push(Finding {
                code: "syn_flood",
                severity: Severity::Error,
                address: Some(l.local),
                summary: format!(
                    "the listener {} holds {} half-open connections (SYN-RECV){}",
                    l.local,
                    l.syn_recv,
                    if cookies > 0 { format!(" and sent {cookies} SYN cookies") } else { String::new() }
                ),
                evidence: vec![
                    ("syn_recv", l.syn_recv.to_string()),
                    ("syncookies_sent_during_check", cookies.to_string()),
                    (
                        "tcp_syncookies",
                        after.sysctls.get(synack_host::names::sysctl::TCP_SYNCOOKIES).unwrap_or("?").to_string(),
                    ),
                ],
                fix: "A SYN flood, or clients whose ACKs never arrive: keep net.ipv4.tcp_syncookies=1, raise net.ipv4.tcp_max_syn_backlog, and filter the sources upstream. `synack watch` and `synack audit` show the rest.".into(),
            });
        }
    }
}

fn is_local_address(ip: IpAddr) -> bool {
    ip.is_loopback() || std::net::UdpSocket::bind(SocketAddr::new(ip, 0)).is_ok()
}

pub fn run(a: &DoctorArgs) -> Result<ExitCode> {
    crate::netns::enter(a.netns.netns.as_deref())?;
    let stop = synack_sys::stop_on_signals();
    let target: synack_probe::Target = a
        .target
        .parse()
        .with_context(|| format!("{:?} is not HOST:PORT", a.target))?;
    let mut findings = Vec::new();
    // 1. The name.
    let started = Instant::now();
    let resolved = synack_probe::resolve(&target, Family::Any);
    let lookup = started.elapsed();
    let resolved = match resolved {
        Ok(r) => r,
        Err(e) => {
            findings.push(Finding {
                code: "dns_failure",
                severity: Severity::Error,
                address: None,
                summary: format!("{e}"),
                evidence: vec![("lookup_ms", ms(e.took().unwrap_or(lookup)))],
                fix: "The name does not resolve here: check its spelling, /etc/resolv.conf (`getent ahosts NAME` asks the same resolver), and /etc/hosts.".into(),
            });
            return report(a, &[], None, findings);
        }
    };
    if let Some(took) = resolved.lookup
        && took > Duration::from_millis(500)
    {
        findings.push(Finding {
            code: "slow_dns",
            severity: Severity::Warning,
            address: None,
            summary: format!("resolving {} took {} ms", a.target, ms(took)),
            evidence: vec![
                ("lookup_ms", ms(took)),
                ("addresses", resolved.addrs.len().to_string()),
            ],
            fix: "Every new connection that resolves first pays this. Check the servers in /etc/resolv.conf (a dead first server costs its `timeout` of 5 s before the next), and use a caching resolver (systemd-resolved, dnsmasq, nscd) or cache in the application.".into(),
        });
    }
    // 2. This host's side.
    use synack_host::names::sysctl;
    let sysctls = synack_host::sysctls::Sysctls::read();
    let syn_retries = (
        sysctls.int(sysctl::TCP_SYN_RETRIES).unwrap_or(6).max(0) as u32,
        // Absent before Linux 6.18: no linear timeouts.
        sysctls
            .int(sysctl::TCP_SYN_LINEAR_TIMEOUTS)
            .unwrap_or(0)
            .max(0) as u32,
    );
    let port = resolved.addrs.first().map_or(0, |s| s.port());
    local_findings(&resolved.addrs, port, &sysctls, &mut findings);
    // 3. The listener, when it is here.
    let local_listener =
        a.netns.netns.is_some() || resolved.addrs.iter().any(|s| is_local_address(s.ip()));
    let options = synack_host::snapshot::SnapshotOptions {
        states: false,
        syn_recv: true,
        drops: true,
        processes: true,
    };
    let before = if local_listener {
        synack_host::snapshot::Snapshot::take(options).ok()
    } else {
        None
    };
    // 4. Handshakes, address by address in the order clients try them.
    let mut reports = Vec::new();
    for addr in &resolved.addrs {
        let results = probe(*addr, a.count as usize, a.timeout, stop);
        reports.push(AddressReport {
            addr: *addr,
            results,
            route: route_to(addr.ip()),
        });
    }
    for r in &reports {
        address_findings(r, syn_retries, &mut findings);
    }
    // TCP Fast Open where handshakes work: with --tfo, whether the path
    // lets a SYN carry data (RFC 7413 section 7.1: some middleboxes drop it).
    if a.tfo
        && let Some(r) = reports.iter().find(|r| !r.established().is_empty())
    {
        findings.extend(tfo_check(r.addr, a.timeout, stop));
    }
    // With CAP_NET_RAW: a SYN of our own where connect() heard nothing.
    if synack_sys::is_root() {
        for r in reports.iter().filter(|r| {
            !r.results.is_empty()
                && r.results
                    .iter()
                    .all(|x| matches!(x.cause, Cause::Timeout { .. }))
        }) {
            raw_syn_check(r.addr, a.timeout.min(Duration::from_secs(3)), &mut findings);
        }
    }
    // A dead address ahead of a working one.
    let works = |r: &AddressReport| !r.established().is_empty();
    if let Some(first_ok) = reports.iter().position(works) {
        for dead in reports[..first_ok].iter() {
            findings.push(Finding {
                code: "dead_address",
                severity: Severity::Error,
                address: Some(dead.addr),
                summary: format!(
                    "{} comes before {} in the order clients try, and does not work",
                    dead.addr, reports[first_ok].addr
                ),
                evidence: vec![
                    ("dead", dead.addr.to_string()),
                    ("working", reports[first_ok].addr.to_string()),
                    (
                        "clients_wait_s_without_timeout",
                        black_hole_wait(syn_retries.0, syn_retries.1).0.to_string(),
                    ),
                ],
                fix: format!(
                    "Clients try {} first and reach {} only after their connect timeout (or Happy Eyeballs' 250 ms, RFC 8305, when the families differ). Remove the dead address from the name's A/AAAA records, or bring it back.",
                    dead.addr, reports[first_ok].addr
                ),
            });
        }
    }
    if let Some(before) = before
        && let Ok(after) = synack_host::snapshot::Snapshot::take(options)
    {
        listener_findings(&before, &after, port, &mut findings);
    }
    // 5. After the handshake: whether an answer of full-size segments
    // arrives, and what keep-alive saves.
    if let Some(url) = &a.url {
        let parsed = synack_probe::reuse::HttpUrl::parse(url).map_err(anyhow::Error::msg)?;
        findings.extend(after_handshake(&parsed, url, a.timeout, &reports));
    }
    report(a, &reports, Some(lookup), findings)
}

/// One raw SYN to an address connect() got no answer from (needs
/// CAP_NET_RAW): refused at once by this host (EPERM: a local OUTPUT rule
/// drops the kernel's SYNs too), answered (this host drops what comes back,
/// or only connect()'s SYNs are filtered), or silent as well (the path).
fn raw_syn_check(addr: SocketAddr, wait: Duration, findings: &mut Vec<Finding>) {
    let options = synack_probe::syn::SynOptions::default();
    let note = |findings: &mut Vec<Finding>, key: &'static str, value: String| {
        if let Some(f) = findings
            .iter_mut()
            .find(|f| f.code == "filtered_silent" && f.address == Some(addr))
        {
            f.evidence.push((key, value));
        }
    };
    match synack_probe::syn::probe(addr, wait, &options) {
        Err(e) if e.raw_os_error() == Some(synack_sys::errno::EPERM) => {
            findings.retain(|f| !(f.code == "filtered_silent" && f.address == Some(addr)));
            findings.push(Finding {
                code: "local_firewall",
                severity: Severity::Error,
                address: Some(addr),
                summary: format!(
                    "this host's firewall drops the SYNs to {addr}: sending one by hand fails with EPERM"
                ),
                evidence: vec![("raw_syn", "EPERM (Operation not permitted)".into())],
                fix: format!(
                    "An OUTPUT rule on this host (iptables, nftables, or a cgroup/eBPF filter) drops connections to port {}: `iptables -S OUTPUT`, `nft list ruleset`. connect() does not say so: it retransmits and times out.",
                    addr.port()
                ),
            });
        }
        Err(e) => note(findings, "raw_syn", format!("could not send: {e}")),
        Ok(r) if r.synack.is_some() => {
            findings.retain(|f| !(f.code == "filtered_silent" && f.address == Some(addr)));
            findings.push(Finding {
                code: "local_firewall",
                severity: Severity::Error,
                address: Some(addr),
                summary: format!(
                    "{addr} answers a SYN sent by hand, but not connect(): something on this host filters the kernel's own connections"
                ),
                evidence: vec![
                    ("raw_syn", "SYN-ACK".into()),
                    ("synack_ms", ms(r.synack.map(|(t, _)| t).unwrap_or_default())),
                ],
                fix: "Look at this host's INPUT and OUTPUT rules for the port and the SYN-ACK (iptables -S, nft list ruleset), cgroup BPF programs (`bpftool cgroup tree`), and a transparent proxy.".into(),
            });
        }
        Ok(r) if r.rst.is_some() || r.icmp.is_some() => {
            note(findings, "raw_syn", r.label().to_string());
        }
        Ok(_) => note(
            findings,
            "raw_syn",
            "no answer either: the path or the host, not this host's sockets".into(),
        ),
    }
}

/// Two TCP Fast Open connects to `addr`: the first asks for a cookie, the
/// second sends its data in the SYN with it.
fn tfo_check(addr: SocketAddr, timeout: Duration, stop: &AtomicBool) -> Vec<Finding> {
    use synack_probe::TfoResult;
    let cfg = AttemptConfig {
        timeout,
        tfo_data: Some(b"GET / HTTP/1.0\r\n\r\n".to_vec()),
        ..AttemptConfig::default()
    };
    let pace = Pace {
        concurrency: 1,
        ..Pace::default()
    };
    let mut results = Vec::new();
    for i in 0..2 {
        let mut job = std::iter::once((i, addr));
        let _ = engine::run(&mut job, &cfg, &pace, stop, &mut |_, r| results.push(r));
    }
    let outcomes: Vec<&str> = results
        .iter()
        .map(|r| r.tfo.map_or("none", |t| t.as_str()))
        .collect();
    let last = results.last().and_then(|r| r.tfo);
    let (code, severity, summary, fix) = match last {
        Some(TfoResult::DataAccepted) => (
            "tfo",
            Severity::Info,
            format!("{addr} takes data in the SYN (TCP Fast Open): repeat connections save a round trip"),
            String::new(),
        ),
        Some(TfoResult::Blocked) => (
            "tfo_blocked",
            Severity::Warning,
            format!("a SYN carrying data to {addr} got no answer, the retry without data did: something on the path drops TCP Fast Open SYNs"),
            "Clients using TFO pay a retransmission timeout (1 s) before falling back: turn TFO off for this destination (net.ipv4.tcp_fastopen without the client bit 1, or the application's option) until the middlebox is fixed.".into(),
        ),
        _ => (
            "tfo",
            Severity::Info,
            format!("{addr} does not take data in the SYN (no TCP Fast Open there, or no cookie given)"),
            "To use TFO the server needs net.ipv4.tcp_fastopen with bit 2 and TCP_FASTOPEN on its listener; clients need bit 1.".into(),
        ),
    };
    vec![Finding {
        code,
        severity,
        address: Some(addr),
        summary,
        evidence: vec![("tfo_results", outcomes.join(", "))],
        fix,
    }]
}

/// The smallest MSS every IPv4 path must carry (RFC 879): segments this
/// small pass any PMTU black hole.
const SMALL_MSS: u32 = 536;

/// One fetch of `url`; if its answer stalls, another announcing a small
/// MSS tells a PMTU black hole (big segments vanish, small ones arrive)
/// from a stalled server. When it works, what keep-alive saves.
fn after_handshake(
    url: &synack_probe::reuse::HttpUrl,
    text: &str,
    timeout: Duration,
    reports: &[AddressReport],
) -> Vec<Finding> {
    use synack_probe::reuse::{fetch_once, measure};
    let first = match fetch_once(url, None, timeout) {
        Ok(f) => f,
        Err(e) => {
            return vec![Finding {
                code: "request_failed",
                severity: Severity::Error,
                address: None,
                summary: format!("could not request {text}: {e}"),
                evidence: vec![("error", e.to_string())],
                fix: "The request could not be sent: see the handshake findings above.".into(),
            }];
        }
    };
    if !first.complete {
        let small = fetch_once(url, Some(SMALL_MSS), timeout).ok();
        let mtu = reports
            .iter()
            .find_map(|r| r.route.as_ref().and_then(|rt| rt.mtu))
            .map_or("?".to_string(), |m| m.to_string());
        if small
            .as_ref()
            .is_some_and(|f| f.complete && f.bytes > first.bytes)
        {
            let small = small.unwrap_or(first.clone());
            return vec![Finding {
                code: "pmtu_blackhole",
                severity: Severity::Error,
                address: None,
                summary: format!(
                    "the answer from {text} stalls after {} bytes with full-size segments, and arrives whole ({} bytes) with {SMALL_MSS}-byte segments: a PMTU black hole",
                    first.bytes, small.bytes
                ),
                evidence: vec![
                    ("bytes_full_size", first.bytes.to_string()),
                    ("bytes_mss_536", small.bytes.to_string()),
                    ("route_mtu", mtu),
                    ("stalled_after_ms", ms(timeout)),
                ],
                fix: "A link on the path carries less than this host's MTU, and the ICMP \"fragmentation needed\" (ICMPv6 \"packet too big\") that should say so is filtered. Allow ICMP type 3 code 4 and ICMPv6 type 2 through the firewalls, or clamp the MSS where the smaller link starts (`iptables -t mangle -A FORWARD -p tcp --tcp-flags SYN,RST SYN -j TCPMSS --clamp-mss-to-pmtu`); on the clients, net.ipv4.tcp_mtu_probing=1 recovers slowly.".into(),
            }];
        }
        return vec![Finding {
            code: "request_failed",
            severity: Severity::Error,
            address: None,
            summary: format!(
                "the answer from {text} stalled after {} bytes, with small segments too",
                first.bytes
            ),
            evidence: vec![
                ("bytes", first.bytes.to_string()),
                ("error", first.error.unwrap_or_default()),
            ],
            fix: "The handshake works and the server does not answer in time: look at the application (its logs, its load) rather than the network.".into(),
        }];
    }
    match measure(url, 5, timeout) {
        Ok(r) => {
            let saved = Duration::from_nanos(r.saved_per_request_ns().max(0) as u64);
            vec![Finding {
                code: "keep_alive",
                severity: Severity::Info,
                address: None,
                summary: format!(
                    "a new connection per request costs {} ms more than keep-alive",
                    ms(saved)
                ),
                evidence: vec![
                    ("requests", "5".into()),
                    ("saved_ms_per_request", ms(saved)),
                    ("handshake_share", format!("{:.0}%", 100.0 * r.handshake_share())),
                ],
                fix: "Reuse connections for requests to this server (HTTP keep-alive, a client-side pool).".into(),
            }]
        }
        // A server without keep-alive: nothing to compare.
        Err(_) => Vec::new(),
    }
}

fn report(
    a: &DoctorArgs,
    reports: &[AddressReport],
    lookup: Option<Duration>,
    mut findings: Vec<Finding>,
) -> Result<ExitCode> {
    findings.sort_by_key(|f| f.severity);
    let healthy = findings.iter().all(|f| f.severity >= Severity::Info);
    let mut out = std::io::stdout().lock();
    match a.format {
        DoctorFormat::Json => {
            let addresses: Vec<serde_json::Value> = reports
                .iter()
                .map(|r| {
                    let est = r.established();
                    serde_json::json!({
                        "address": r.addr.to_string(),
                        "attempts": r.results.len(),
                        "established": est.len(),
                        "connect_ms_p50": if est.is_empty() { None } else {
                            Some(median(est.iter().map(|x| x.connect).collect()).as_secs_f64() * 1000.0)
                        },
                        "route": r.route.as_ref().map(|rt| serde_json::json!({
                            "dev": rt.dev, "src": rt.src, "mtu": rt.mtu,
                            "mss": rt.mtu.map(|m| m.saturating_sub(if r.addr.is_ipv6() { 60 } else { 40 })),
                        })),
                    })
                })
                .collect();
            let list: Vec<serde_json::Value> = findings
                .iter()
                .map(|f| {
                    let evidence: serde_json::Map<String, serde_json::Value> = f
                        .evidence
                        .iter()
                        .map(|(k, v)| ((*k).to_string(), serde_json::Value::String(v.clone())))
                        .collect();
                    serde_json::json!({
                        "finding": f.code,
                        "severity": f.severity.as_str(),
                        "address": f.address.map(|x| x.to_string()),
                        "summary": f.summary,
                        "evidence": evidence,
                        "fix": f.fix,
                    })
                })
                .collect();
            let doc = serde_json::json!({
                "target": a.target,
                "healthy": healthy,
                "lookup_ms": lookup.map(|d| d.as_secs_f64() * 1000.0),
                "addresses": addresses,
                "findings": list,
            });
            writeln!(out, "{doc}")?;
        }
        DoctorFormat::Text => {
            let problems = findings
                .iter()
                .filter(|f| f.severity < Severity::Info)
                .count();
            writeln!(
                out,
                "synack doctor {}: {}",
                a.target,
                match problems {
                    0 => "healthy".to_string(),
                    1 => "1 problem".to_string(),
                    n => format!("{n} problems"),
                }
            )?;
            for r in reports {
                let route = r.route.as_ref().map_or(String::new(), |rt| {
                    format!(
                        " via {}{}{}",
                        rt.dev,
                        if rt.src.is_empty() {
                            String::new()
                        } else {
                            format!(" from {}", rt.src)
                        },
                        rt.mtu.map_or(String::new(), |m| format!(", MTU {m}"))
                    )
                });
                writeln!(
                    out,
                    "  {}{route}: {} of {} handshakes",
                    r.addr,
                    r.established().len(),
                    r.results.len()
                )?;
            }
            for (i, f) in findings.iter().enumerate() {
                writeln!(out)?;
                writeln!(
                    out,
                    "{}. {:<7} {}  {}",
                    i + 1,
                    f.severity.as_str(),
                    f.code,
                    f.summary
                )?;
                if !f.evidence.is_empty() {
                    let ev: Vec<String> =
                        f.evidence.iter().map(|(k, v)| format!("{k}={v}")).collect();
                    writeln!(out, "   evidence: {}", ev.join(" · "))?;
                }
                if !f.fix.is_empty() {
                    writeln!(out, "   fix: {}", f.fix)?;
                }
            }
        }
    }
    Ok(if healthy {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The schedule measured on Linux 6.18 (SYN times and ETIMEDOUT for
    /// tcp_syn_retries / tcp_syn_linear_timeouts).
    #[test]
    fn a_black_hole_costs_what_the_kernel_measured() {
        for (retries, linear, seconds, syns) in [
            (1, 4, 3, 3),
            (2, 4, 7, 6),
            (6, 4, 131, 11),
            (1, 0, 3, 2),
            (2, 0, 7, 3),
            (3, 0, 15, 4),
            (6, 0, 127, 7),
        ] {
            assert_eq!(
                black_hole_wait(retries, linear),
                (seconds, syns),
                "{retries} retries, {linear} linear"
            );
        }
    }
}
