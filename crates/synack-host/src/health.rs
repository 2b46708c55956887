//! Alerts drawn from a snapshot and the rates since the one before, each
//! naming its listener and its evidence. An alert fires when its trigger
//! is met and clears only after its calm condition has held for
//! `CLEAR_AFTER` refreshes in a row (hysteresis: a queue hovering at the
//! threshold does not flap). The kernel facts behind the rules were
//! measured on kernel 6.18 (and checked by the lab tests): both the
//! SYN queue (cookies on) and the accept queue hold min(backlog,
//! somaxconn)+1; tcp_syncookies=2 keeps no half-open state at all.

use crate::names::{counter, sysctl};
use crate::snapshot::{Rates, Snapshot};
use crate::sockets::Listener;
use std::collections::HashMap;
use std::net::SocketAddr;

/// Refreshes in a row that must be calm before an alert clears.
pub const CLEAR_AFTER: u32 = 3;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Severity {
    Warning,
    Critical,
}

impl Severity {
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Warning => "warning",
            Severity::Critical => "critical",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum AlertKind {
    /// The accept queue is (nearly) full or overflowing.
    AcceptQueueOverflow,
    /// Many half-open connections on one listener.
    SynFlood,
    /// SYN cookies answer SYNs at a high rate (with tcp_syncookies=2 the
    /// port cannot be told: no half-open state is kept).
    CookieStorm,
    /// tcp_syncookies=0 and SYNs are dropped because a SYN queue is full.
    CookiesOffQueueDrops,
    /// TCP Fast Open attempts fail.
    FastOpenFailures,
    /// The connection tracking table is (nearly) full.
    ConntrackFull,
    /// Conntrack inserts fail: the SNAT port race.
    ConntrackInsertFailed,
    /// One destination uses most of the ephemeral port range.
    PortsExhausted,
}

impl AlertKind {
    pub fn as_str(self) -> &'static str {
        match self {
            AlertKind::AcceptQueueOverflow => "accept_queue_overflow",
            AlertKind::SynFlood => "syn_flood",
            AlertKind::CookieStorm => "syn_cookie_storm",
            AlertKind::CookiesOffQueueDrops => "syncookies_off_queue_drops",
            AlertKind::FastOpenFailures => "fastopen_failures",
            AlertKind::ConntrackFull => "conntrack_full",
            AlertKind::ConntrackInsertFailed => "conntrack_insert_failed",
            AlertKind::PortsExhausted => "ephemeral_ports_exhausted",
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Alert {
    pub kind: AlertKind,
    pub severity: Severity,
    pub listener: Option<SocketAddr>,
    /// The remote end it concerns (ports per destination).
    pub destination: Option<SocketAddr>,
    /// One sentence: what, where, why, and what to do.
    pub message: String,
    /// The numbers behind it, by name.
    pub evidence: Vec<(&'static str, String)>,
}

/// What one rule says about the current state: the alert if its trigger
/// holds, and whether the state is calm enough to clear it.
struct Verdict {
    key: (AlertKind, Option<SocketAddr>),
    fire: Option<Alert>,
    calm: bool,
}

/// The SYN queue and the accept queue each hold the limit plus one.
pub fn capacity(l: &Listener) -> u32 {
    l.accept_limit.saturating_add(1)
}

/// Accept queue fill in percent of its capacity.
pub fn accept_fill(l: &Listener) -> f64 {
    f64::from(l.accept_queue) * 100.0 / f64::from(capacity(l))
}

/// SYN-RECV in percent of the SYN queue's capacity.
pub fn syn_fill(l: &Listener) -> f64 {
    f64::from(l.syn_recv) * 100.0 / f64::from(capacity(l))
}

/// A listener's trouble score for sorting: the fuller of its two queues,
/// with drops counting as more than full.
pub fn trouble(l: &Listener, drops_per_s: f64) -> f64 {
    accept_fill(l).max(syn_fill(l))
        + if drops_per_s > 0.0 {
            1000.0 + drops_per_s
        } else {
            0.0
        }
}

/// SYN-RECV at which a flood is suspected on a listener: half its SYN
/// queue, at least 16, at most the whole queue.
fn flood_threshold(l: &Listener) -> u32 {
    (capacity(l) / 2).max(16).min(capacity(l))
}

/// What sets a listener's queue limit, min(listen() backlog, somaxconn),
/// and what to raise.
fn limiter(l: &Listener, somaxconn: Option<i64>) -> String {
    match somaxconn {
        Some(s) if i64::from(l.accept_limit) >= s => format!(
            "net.core.somaxconn={s} caps it (the application asked for at least that): raise somaxconn and the listen() backlog"
        ),
        Some(s) => format!(
            "the application's listen() backlog sets it (net.core.somaxconn={s} allows more): raise the backlog"
        ),
        None => "min(listen() backlog, net.core.somaxconn) sets it".to_string(),
    }
}

fn evaluate(snap: &Snapshot, rates: Option<&Rates>) -> Vec<Verdict> {
    let rate = |name: &str| rates.map_or(0.0, |r| r.counter(name));
    let somaxconn = snap.sysctls.int(sysctl::SOMAXCONN);
    let cookies = snap.sysctls.int(sysctl::TCP_SYNCOOKIES);
    let abort = snap.sysctls.int(sysctl::TCP_ABORT_ON_OVERFLOW);
    let mut out = Vec::new();
    // Whether SYN cookies protect a flooded port is the namespace's
    // setting, the same for every listener.
    let cookies_sent = rate(counter::SYNCOOKIES_SENT);
    let queue_drops = rate(counter::TCP_REQ_Q_FULL_DROP);
    let cookies_total = snap.counters.get(counter::SYNCOOKIES_SENT).unwrap_or(0);
    let drops_total = snap.counters.get(counter::TCP_REQ_Q_FULL_DROP).unwrap_or(0);
    let protection = match cookies {
        Some(0) => format!(
            "NOT protected: tcp_syncookies=0, so SYNs beyond the queue are dropped ({queue_drops:.0}/s, {drops_total} in all) and real clients are locked out: set net.ipv4.tcp_syncookies=1"
        ),
        Some(1) => format!(
            "SYN cookies protect it (tcp_syncookies=1: SYNs beyond the full queue get a cookie, {cookies_sent:.0}/s, {cookies_total} in all)"
        ),
        Some(2) => {
            format!(
                "SYN cookies answer every SYN (tcp_syncookies=2, {cookies_sent:.0}/s, {cookies_total} in all)"
            )
        }
        _ => "tcp_syncookies unknown".to_string(),
    };
    for (i, l) in snap.listeners.iter().enumerate() {
        let drops = rates
            .and_then(|r| r.listener_drops.get(&i))
            .copied()
            .unwrap_or(0.0);
        // Accept queue.
        let fill = accept_fill(l);
        let overflowing = drops > 0.0 && rate(counter::LISTEN_OVERFLOWS) > 0.0;
        out.push(Verdict {
            key: (AlertKind::AcceptQueueOverflow, Some(l.local)),
            fire: (fill >= 90.0 || overflowing).then(|| Alert {
                kind: AlertKind::AcceptQueueOverflow,
                severity: if overflowing { Severity::Critical } else { Severity::Warning },
                listener: Some(l.local),
                destination: None,
                message: format!(
                    "{}: accept queue {}/{} ({fill:.0}% full){}: the application does not accept() fast enough, or its queue is small; the queue holds min(listen() backlog, somaxconn) + 1 = {} + 1: {}{}",
                    l.local,
                    l.accept_queue,
                    capacity(l),
                    if overflowing { format!(", dropping {drops:.0}/s") } else { String::new() },
                    l.accept_limit,
                    limiter(l, somaxconn),
                    if abort == Some(1) {
                        "; tcp_abort_on_overflow=1 resets the clients that overflow"
                    } else {
                        ""
                    }
                ),
                evidence: vec![
                    ("accept_queue", l.accept_queue.to_string()),
                    ("accept_limit", l.accept_limit.to_string()),
                    ("somaxconn", somaxconn.map_or("?".into(), |s| s.to_string())),
                    ("listener_drops_per_s", format!("{drops:.1}")),
                    ("ListenOverflows_per_s", format!("{:.1}", rate(counter::LISTEN_OVERFLOWS))),
                ],
            }),
            calm: fill < 50.0 && drops == 0.0,
        });
        // Half-open connections.
        let threshold = flood_threshold(l);
        out.push(Verdict {
            key: (AlertKind::SynFlood, Some(l.local)),
            fire: (l.syn_recv >= threshold).then(|| Alert {
                kind: AlertKind::SynFlood,
                severity: if cookies == Some(0) { Severity::Critical } else { Severity::Warning },
                listener: Some(l.local),
                destination: None,
                message: format!(
                    "{}: SYN flood suspected: {} half-open connections (SYN queue {}/{}, {:.0}%), {:.0} handshakes completed/s in the namespace; {protection}",
                    l.local,
                    l.syn_recv,
                    l.syn_recv,
                    capacity(l),
                    syn_fill(l),
                    rate(counter::TCP_PASSIVE_OPENS),
                ),
                evidence: vec![
                    ("syn_recv", l.syn_recv.to_string()),
                    ("syn_queue_capacity", capacity(l).to_string()),
                    ("tcp_syncookies", cookies.map_or("?".into(), |c| c.to_string())),
                    ("SyncookiesSent_per_s", format!("{cookies_sent:.1}")),
                    ("TCPReqQFullDrop_per_s", format!("{queue_drops:.1}")),
                    ("PassiveOpens_per_s", format!("{:.1}", rate(counter::TCP_PASSIVE_OPENS))),
                ],
            }),
            calm: l.syn_recv < threshold / 2,
        });
    }
    // Cookies at a high rate with no listener to blame (tcp_syncookies=2).
    let blamed = snap
        .listeners
        .iter()
        .any(|l| l.syn_recv >= flood_threshold(l));
    out.push(Verdict {
        key: (AlertKind::CookieStorm, None),
        fire: (cookies_sent >= 100.0 && !blamed).then(|| Alert {
            kind: AlertKind::CookieStorm,
            severity: Severity::Warning,
            listener: None,
            destination: None,
            message: format!(
                "{cookies_sent:.0} SYN cookies/s and no listener holds half-open connections: tcp_syncookies={} answers SYNs without keeping state, so counters cannot name the port; `synack capture` on the interface can",
                cookies.map_or("?".into(), |c| c.to_string())
            ),
            evidence: vec![
                ("SyncookiesSent_per_s", format!("{cookies_sent:.1}")),
                ("TCPReqQFullDoCookies_per_s", format!("{:.1}", rate(counter::TCP_REQ_Q_FULL_DO_COOKIES))),
            ],
        }),
        calm: cookies_sent < 10.0,
    });
    // Cookies off while SYN queues drop.
    let full: Vec<String> = snap
        .listeners
        .iter()
        .filter(|l| l.syn_recv >= capacity(l).saturating_sub(1).max(1))
        .map(|l| l.local.to_string())
        .collect();
    out.push(Verdict {
        key: (AlertKind::CookiesOffQueueDrops, None),
        fire: (cookies == Some(0) && queue_drops > 0.0).then(|| Alert {
            kind: AlertKind::CookiesOffQueueDrops,
            severity: Severity::Critical,
            listener: None,
            destination: None,
            message: format!(
                "tcp_syncookies=0 and {queue_drops:.0} SYNs/s are dropped for a full SYN queue{}: real clients cannot connect; set net.ipv4.tcp_syncookies=1",
                if full.is_empty() { String::new() } else { format!(" (full: {})", full.join(", ")) }
            ),
            evidence: vec![
                ("TCPReqQFullDrop_per_s", format!("{queue_drops:.1}")),
                ("full_listeners", full.join(" ")),
            ],
        }),
        calm: queue_drops == 0.0,
    });
    // Fast Open.
    let tfo_fail = rate(counter::TCP_FAST_OPEN_PASSIVE_FAIL)
        + rate(counter::TCP_FAST_OPEN_ACTIVE_FAIL)
        + rate(counter::TCP_FAST_OPEN_BLACKHOLE);
    out.push(Verdict {
        key: (AlertKind::FastOpenFailures, None),
        fire: (tfo_fail > 0.0).then(|| Alert {
            kind: AlertKind::FastOpenFailures,
            severity: Severity::Warning,
            listener: None,
            destination: None,
            message: format!(
                "TCP Fast Open fails {tfo_fail:.1}/s (passive {:.1}/s, active {:.1}/s, blackhole {:.1}/s): a middlebox may drop SYNs with data; clients fall back to a plain handshake",
                rate(counter::TCP_FAST_OPEN_PASSIVE_FAIL),
                rate(counter::TCP_FAST_OPEN_ACTIVE_FAIL),
                rate(counter::TCP_FAST_OPEN_BLACKHOLE)
            ),
            evidence: vec![("failures_per_s", format!("{tfo_fail:.2}"))],
        }),
        calm: tfo_fail == 0.0,
    });
    out.extend(conntrack_and_ports(snap, rates));
    out
}

/// Conntrack at or above this fill (percent) warns.
pub const CONNTRACK_WARN: f64 = 90.0;
/// A destination using this share of the port range (percent) warns.
pub const PORTS_WARN: f64 = 80.0;

/// The table and the ports a handshake uses on its way: conntrack's fill
/// and failed inserts, and ephemeral ports per destination.
fn conntrack_and_ports(snap: &Snapshot, rates: Option<&Rates>) -> Vec<Verdict> {
    let mut out = Vec::new();
    if let Some(ct) = &snap.conntrack {
        let rate = |name: &str| rates.map_or(0.0, |r| r.conntrack(name));
        let (fill, drops) = (ct.fill(), rate("drop") + rate("early_drop"));
        out.push(Verdict {
            key: (AlertKind::ConntrackFull, None),
            fire: (fill >= CONNTRACK_WARN || drops > 0.0).then(|| Alert {
                kind: AlertKind::ConntrackFull,
                severity: if fill >= 100.0 || drops > 0.0 {
                    Severity::Critical
                } else {
                    Severity::Warning
                },
                listener: None,
                destination: None,
                message: format!(
                    "conntrack table {}/{} ({fill:.0}% full){}: when it is full, new connections are dropped before any socket sees them (the client retransmits its SYN after 1 s, 3 s, ...); raise net.netfilter.nf_conntrack_max (set in the initial namespace, the limit applies to each), shorten the nf_conntrack_tcp_timeout_* that hold most entries, or exempt busy traffic from tracking (notrack)",
                    ct.entries,
                    ct.max,
                    if drops > 0.0 {
                        format!(", dropping {drops:.0} new connections/s")
                    } else {
                        String::new()
                    }
                ),
                evidence: vec![
                    ("entries", ct.entries.to_string()),
                    ("max", ct.max.to_string()),
                    ("drop_per_s", format!("{:.1}", rate("drop"))),
                    ("early_drop_per_s", format!("{:.1}", rate("early_drop"))),
                ],
            }),
            calm: fill < CONNTRACK_WARN - 10.0 && drops == 0.0,
        });
        let failed = rate("insert_failed");
        out.push(Verdict {
            key: (AlertKind::ConntrackInsertFailed, None),
            fire: (failed > 0.0).then(|| Alert {
                kind: AlertKind::ConntrackInsertFailed,
                severity: Severity::Warning,
                listener: None,
                destination: None,
                message: format!(
                    "conntrack inserts fail {failed:.1}/s ({} in all): two connections raced for the same tracked tuple, usually SNAT/MASQUERADE giving two clients the same source port; the losing SYN is dropped and its client waits exactly 1 s to retransmit it: add --random-fully to the MASQUERADE/SNAT rule (nft: masquerade fully-random)",
                    ct.stat("insert_failed")
                ),
                evidence: vec![
                    ("insert_failed_per_s", format!("{failed:.2}")),
                    ("insert_failed", ct.stat("insert_failed").to_string()),
                ],
            }),
            calm: failed == 0.0,
        });
    }
    if let Some(ports) = &snap.ports {
        let tw_reuse = snap.sysctls.int(sysctl::TCP_TW_REUSE);
        for d in &ports.destinations {
            let fill = ports.fill(d);
            out.push(Verdict {
                key: (AlertKind::PortsExhausted, Some(d.remote)),
                fire: (fill >= PORTS_WARN).then(|| Alert {
                    kind: AlertKind::PortsExhausted,
                    severity: if fill >= 95.0 {
                        Severity::Critical
                    } else {
                        Severity::Warning
                    },
                    listener: None,
                    destination: Some(d.remote),
                    message: format!(
                        "{}: {} of the {} ephemeral ports in use for this destination ({fill:.0}%, {} in TIME-WAIT): connect() to it fails with EADDRNOTAVAIL once they run out; reuse connections (keep-alive, a pool), widen net.ipv4.ip_local_port_range ({}-{} now){}",
                        d.remote,
                        d.in_use,
                        ports.range_size(),
                        d.time_wait,
                        ports.range.0,
                        ports.range.1,
                        match tw_reuse {
                            Some(0) | Some(2) if d.time_wait > 0 => ", or let new connections take TIME-WAIT ports with net.ipv4.tcp_tw_reuse=1 (timestamps needed)",
                            _ => "",
                        }
                    ),
                    evidence: vec![
                        ("in_use", d.in_use.to_string()),
                        ("time_wait", d.time_wait.to_string()),
                        ("range", ports.range_size().to_string()),
                    ],
                }),
                calm: fill < PORTS_WARN - 20.0,
            });
        }
    }
    out
}

/// The alerts in force across refreshes.
#[derive(Debug, Default)]
pub struct Alerts {
    active: HashMap<(AlertKind, Option<SocketAddr>), (Alert, u32)>,
}

impl Alerts {
    /// Takes the newest snapshot (and rates since the previous one) and
    /// returns the alerts in force, most severe first.
    pub fn update(&mut self, snap: &Snapshot, rates: Option<&Rates>) -> Vec<Alert> {
        let verdicts = evaluate(snap, rates);
        let present: Vec<_> = verdicts.iter().map(|v| v.key).collect();
        for v in verdicts {
            match (v.fire, self.active.get_mut(&v.key)) {
                (Some(alert), _) => {
                    self.active.insert(v.key, (alert, 0));
                }
                (None, Some((_, calm))) if v.calm => *calm += 1,
                (None, Some((_, calm))) => *calm = 0,
                (None, None) => {}
            }
        }
        // Gone listeners and long-calm alerts clear.
        self.active
            .retain(|k, (_, calm)| present.contains(k) && *calm < CLEAR_AFTER);
        let mut alerts: Vec<Alert> = self.active.values().map(|(a, _)| a.clone()).collect();
        alerts.sort_by_key(|a| {
            (
                std::cmp::Reverse(a.severity),
                a.kind,
                a.listener,
                a.destination,
            )
        });
        alerts
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::counters::Counters;
    use crate::sysctls::Sysctls;
    use std::time::{Duration, Instant, SystemTime};

    fn snapshot(
        at: Instant,
        syn_recv: u32,
        accept_queue: u32,
        cookies_sent: u64,
        syncookies: &str,
    ) -> Snapshot {
        let mut counters = Counters::default();
        counters
            .values
            .insert("TcpExt.SyncookiesSent".into(), cookies_sent);
        counters.values.insert("TcpExt.TCPReqQFullDrop".into(), 0);
        Snapshot {
            taken: at,
            wall: SystemTime::now(),
            listeners: vec![Listener {
                local: "10.0.0.1:8080".parse().unwrap(),
                accept_queue,
                accept_limit: 128,
                syn_recv,
                drops: Some(0),
                inode: 7,
                processes: Vec::new(),
            }],
            states: None,
            counters,
            conntrack: None,
            ports: None,
            sysctls: Sysctls {
                values: vec![
                    ("net.ipv4.tcp_syncookies".into(), syncookies.into()),
                    ("net.core.somaxconn".into(), "4096".into()),
                ],
                problems: Vec::new(),
            },
            problems: Vec::new(),
        }
    }

    #[test]
    fn a_flood_fires_names_the_port_and_clears_only_after_calm_refreshes() {
        let t0 = Instant::now();
        let mut alerts = Alerts::default();
        let s0 = snapshot(t0, 0, 0, 0, "1");
        assert!(alerts.update(&s0, None).is_empty());
        let s1 = snapshot(t0 + Duration::from_secs(1), 129, 0, 500, "1");
        let fired = alerts.update(&s1, Some(&Rates::between(&s0, &s1)));
        assert_eq!(fired.len(), 1, "{fired:?}");
        assert_eq!(fired[0].kind, AlertKind::SynFlood);
        assert_eq!(fired[0].listener, Some("10.0.0.1:8080".parse().unwrap()));
        assert!(
            fired[0].message.contains("SYN cookies protect it"),
            "{}",
            fired[0].message
        );
        assert!(fired[0].message.contains("500/s"), "{}", fired[0].message);
        // Between the thresholds (40 < 64 but not < 32): stays.
        let mut prev = s1;
        for (i, syn_recv) in [40, 10, 10].into_iter().enumerate() {
            let s = snapshot(
                t0 + Duration::from_secs(2 + i as u64),
                syn_recv,
                0,
                500,
                "1",
            );
            let now = alerts.update(&s, Some(&Rates::between(&prev, &s)));
            assert_eq!(now.len(), 1, "refresh {i}: {now:?}");
            prev = s;
        }
        let s = snapshot(t0 + Duration::from_secs(9), 10, 0, 500, "1");
        let now = alerts.update(&s, Some(&Rates::between(&prev, &s)));
        assert!(now.is_empty(), "three calm refreshes clear it: {now:?}");
    }

    #[test]
    fn cookies_off_makes_a_flood_critical_and_a_full_accept_queue_names_its_limit() {
        let t0 = Instant::now();
        let s = snapshot(t0, 100, 129, 0, "0");
        let fired = Alerts::default().update(&s, None);
        let kinds: Vec<_> = fired.iter().map(|a| (a.kind, a.severity)).collect();
        assert!(
            kinds.contains(&(AlertKind::SynFlood, Severity::Critical)),
            "{kinds:?}"
        );
        let accept = fired
            .iter()
            .find(|a| a.kind == AlertKind::AcceptQueueOverflow)
            .unwrap();
        assert!(accept.message.contains("129/129"), "{}", accept.message);
        assert!(
            accept.message.contains("listen() backlog sets it"),
            "{}",
            accept.message
        );
        let flood = fired
            .iter()
            .find(|a| a.kind == AlertKind::SynFlood)
            .unwrap();
        assert!(flood.message.contains("NOT protected"), "{}", flood.message);
    }

    #[test]
    fn a_full_conntrack_table_failed_inserts_and_a_destination_out_of_ports_fire() {
        use crate::conntrack::Conntrack;
        use crate::ports::{Destination, PortUse};
        let t0 = Instant::now();
        let with = |at: Instant, entries: u64, insert_failed: u64, in_use: u32| {
            let mut s = snapshot(at, 0, 0, 0, "1");
            s.conntrack = Some(Conntrack {
                entries,
                max: 1000,
                stats: [("insert_failed".to_string(), insert_failed)].into(),
            });
            s.ports = Some(PortUse {
                range: (40000, 40099),
                destinations: vec![Destination {
                    remote: "10.0.0.9:5432".parse().unwrap(),
                    in_use,
                    time_wait: in_use / 2,
                }],
                destinations_seen: 1,
            });
            s.sysctls
                .values
                .push(("net.ipv4.tcp_tw_reuse".into(), "2".into()));
            s
        };
        let calm = with(t0, 100, 5, 10);
        let mut alerts = Alerts::default();
        assert!(alerts.update(&calm, None).is_empty());
        let busy = with(t0 + Duration::from_secs(1), 950, 8, 85);
        let fired = alerts.update(&busy, Some(&Rates::between(&calm, &busy)));
        let kinds: Vec<_> = fired.iter().map(|a| (a.kind, a.severity)).collect();
        assert_eq!(
            kinds,
            vec![
                (AlertKind::ConntrackFull, Severity::Warning),
                (AlertKind::ConntrackInsertFailed, Severity::Warning),
                (AlertKind::PortsExhausted, Severity::Warning),
            ]
        );
        assert!(
            fired[0].message.contains("950/1000 (95% full)"),
            "{}",
            fired[0].message
        );
        assert!(fired[1].message.contains("3.0/s") && fired[1].message.contains("random-fully"));
        let ports = &fired[2];
        assert_eq!(ports.destination, Some("10.0.0.9:5432".parse().unwrap()));
        assert!(
            ports.message.contains("85 of the 100") && ports.message.contains("tcp_tw_reuse=1"),
            "{}",
            ports.message
        );
    }
}
