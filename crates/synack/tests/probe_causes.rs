//! The probe against the lab: every failure cause named as the lab
//! injected it, and handshake times against the injected RTT. Needs root;
//! skips elsewhere with the reason (CI runs as root).

use std::net::{IpAddr, SocketAddr, TcpListener};
use std::time::Duration;
use synack_lab::{IcmpKind, Impairment, Lab, Side};
use synack_probe::{AttemptConfig, AttemptResult, Cause, attempt, cause::handshake_loss};

fn lab() -> Option<Lab> {
    synack_lab::testing::lab_or_skip("the probe scenarios")
}

fn listen(lab: &Lab, port: u16, v6: bool) -> TcpListener {
    let a = SocketAddr::new(lab.server_addr(v6), port);
    lab.server
        .run(move || TcpListener::bind(a))
        .unwrap()
        .unwrap()
}

fn probe(lab: &Lab, target: SocketAddr, cfg: AttemptConfig) -> AttemptResult {
    lab.client
        .run(move || {
            let mut poll = mio::Poll::new().unwrap();
            let mut events = mio::Events::with_capacity(8);
            attempt(target, &cfg, &mut poll, &mut events)
        })
        .unwrap()
}

fn to(lab: &Lab, port: u16, v6: bool) -> SocketAddr {
    SocketAddr::new(lab.server_addr(v6), port)
}

#[test]
fn established_within_a_millisecond_of_the_injected_rtt() {
    let Some(mut lab) = lab() else { return };
    let _l = listen(&lab, 8080, false);
    lab.impair(Impairment::Delay {
        rtt: Duration::from_millis(50),
        jitter: Duration::ZERO,
        handshake_only: true,
        one_way: false,
    })
    .unwrap();
    let mut times = Vec::new();
    for _ in 0..7 {
        let r = probe(&lab, to(&lab, 8080, false), AttemptConfig::default());
        assert_eq!(r.cause, Cause::Established);
        let ms = r.connect.as_secs_f64() * 1000.0;
        // Never early, and each within the project's 5% + 1 ms even on a
        // busy CI machine (the median is held to 1 ms below).
        assert!(
            (50.0..50.0 * 1.05 + 1.0).contains(&ms),
            "handshake {ms} ms for 50 ms injected"
        );
        times.push(ms);
        let rec = synack_probe::record(&r, "target", 1, None);
        assert_eq!(rec.outcome.as_str(), "established");
        assert_eq!(
            rec.probe.as_ref().unwrap().tcp_info.unwrap().total_retrans,
            0
        );
    }
    times.sort_by(f64::total_cmp);
    // The median within +1 ms of the injected RTT.
    assert!(times[3] < 51.0, "median {} ms: {times:?}", times[3]);
}

#[test]
fn refused_is_an_rst_with_an_empty_error_queue() {
    let Some(lab) = lab() else { return };
    for v6 in [false, true] {
        let r = probe(&lab, to(&lab, 9, v6), AttemptConfig::default());
        assert_eq!(r.cause, Cause::Refused, "v6={v6}");
        assert_eq!(r.errno, Some(synack_sys::errno::ECONNREFUSED));
    }
}

#[test]
fn each_icmp_rejection_is_named_with_type_code_and_sender() {
    let Some(mut lab) = lab() else { return };
    let kinds = [
        (IcmpKind::Net, 80u16),
        (IcmpKind::Host, 81),
        (IcmpKind::Port, 82),
        (IcmpKind::Admin, 83),
    ];
    for (kind, port) in kinds {
        lab.impair(Impairment::RejectIcmp {
            kind,
            port: Some(port),
        })
        .unwrap();
    }
    let want_v4 = [
        (80, 0, synack_sys::errno::ENETUNREACH),
        (81, 1, synack_sys::errno::EHOSTUNREACH),
        (82, 3, synack_sys::errno::ECONNREFUSED),
        (83, 13, synack_sys::errno::EHOSTUNREACH),
    ];
    for (port, code, errno) in want_v4 {
        let r = probe(&lab, to(&lab, port, false), AttemptConfig::default());
        let server: IpAddr = lab.server_v4.into();
        assert_eq!(
            r.cause,
            Cause::Icmp {
                errno,
                v6: false,
                icmp_type: 3,
                code,
                from: Some(server)
            },
            "port {port}"
        );
    }
    // IPv6: no-route 0, address-unreachable 3, port-unreachable 4, admin 1.
    let want_v6 = [(80, 0), (81, 3), (82, 4), (83, 1)];
    for (port, code) in want_v6 {
        let r = probe(&lab, to(&lab, port, true), AttemptConfig::default());
        match r.cause {
            Cause::Icmp {
                v6: true,
                icmp_type: 1,
                code: c,
                from,
                ..
            } => {
                assert_eq!(c, code, "port {port}");
                assert_eq!(from, Some(IpAddr::from(lab.server_v6)));
            }
            other => panic!("port {port}: {other:?}"),
        }
        assert!(r.connect < Duration::from_millis(1600), "{:?}", r.connect);
    }
}

#[test]
fn silence_is_a_timeout_with_the_syns_counted() {
    let Some(mut lab) = lab() else { return };
    lab.impair(Impairment::DropSynRandom { probability: 1.0 })
        .unwrap();
    // The probe's own deadline: SYNs at 0 and 1 s.
    let r = probe(
        &lab,
        to(&lab, 8080, false),
        AttemptConfig {
            timeout: Duration::from_millis(1500),
            ..Default::default()
        },
    );
    assert_eq!(
        r.cause,
        Cause::Timeout {
            syns: 2,
            kernel_gave_up: false
        }
    );
    // The kernel's: one retransmission allowed, linear timeouts: 3 SYNs, ETIMEDOUT at ~3 s.
    lab.sysctl(Side::Client, "net.ipv4.tcp_syn_retries", "1")
        .unwrap();
    let r = probe(
        &lab,
        to(&lab, 8080, false),
        AttemptConfig {
            timeout: Duration::from_secs(10),
            ..Default::default()
        },
    );
    assert_eq!(
        r.cause,
        Cause::Timeout {
            syns: 3,
            kernel_gave_up: true
        }
    );
    assert!(
        (2.8..3.8).contains(&r.connect.as_secs_f64()),
        "{:?}",
        r.connect
    );
}

#[test]
fn lost_syn_and_lost_synack_are_told_apart() {
    for (imp, want) in [
        (Impairment::DropSyn { first: 1 }, "SYN lost"),
        (Impairment::DropSynAck { first: 1 }, "SYN-ACK lost"),
    ] {
        let Some(mut lab) = lab() else { return };
        let _l = listen(&lab, 8080, false);
        lab.impair(imp).unwrap();
        let r = probe(&lab, to(&lab, 8080, false), AttemptConfig::default());
        assert_eq!(r.cause, Cause::Established);
        let info = r.tcp_info.unwrap();
        let said = handshake_loss(&info, r.connect).unwrap_or("nothing");
        assert!(
            said.starts_with(want),
            "{want}: said {said:?} (rtt {} µs, connect {:?})",
            info.rtt_us,
            r.connect
        );
    }
}

#[test]
fn a_dead_neighbour_and_local_errors_are_named() {
    let Some(lab) = lab() else { return };
    // Regression: a timeout of our own that ends before the kernel's ARP
    // probes give up (the default 3 s does) blamed the dead host on a
    // firewall ("timeout (1 SYN)"); the neighbour table says no SYN left.
    // First, while the neighbour entry is still being resolved:
    let r = probe(
        &lab,
        SocketAddr::new(lab.dead_v4.into(), 81),
        AttemptConfig {
            timeout: Duration::from_secs(1),
            ..Default::default()
        },
    );
    assert_eq!(r.cause, Cause::NoNeighbour, "{:?}", r.cause);
    // And when the kernel gives up first (EHOSTUNREACH):
    let r = probe(
        &lab,
        SocketAddr::new(lab.dead_v4.into(), 80),
        AttemptConfig {
            timeout: Duration::from_secs(6),
            ..Default::default()
        },
    );
    assert_eq!(r.cause, Cause::NoNeighbour);
    // A source address that is not on this host.
    let cfg = AttemptConfig {
        source: Some("192.0.2.77:0".parse().unwrap()),
        ..Default::default()
    };
    let r = probe(&lab, to(&lab, 8080, false), cfg);
    assert_eq!(
        r.cause,
        Cause::Local {
            errno: synack_sys::errno::EADDRNOTAVAIL
        }
    );
    assert!(
        r.cause
            .explain(r.target, r.connect)
            .contains("source address")
    );
}

#[test]
fn tfo_first_requests_a_cookie_then_carries_data() {
    let Some(lab) = lab() else { return };
    for side in [Side::Client, Side::Server] {
        lab.sysctl(side, "net.ipv4.tcp_fastopen", "3").unwrap();
    }
    let l = listen(&lab, 8080, false);
    synack_sys::tcp::set_fastopen(&l, 16).unwrap();
    let cfg = AttemptConfig {
        tfo_data: Some(b"GET / HTTP/1.0\r\n\r\n".to_vec()),
        ..Default::default()
    };
    let results: Vec<_> = (0..2)
        .map(|_| probe(&lab, to(&lab, 8080, false), cfg.clone()))
        .collect();
    assert!(results.iter().all(|r| r.cause == Cause::Established));
    assert_eq!(
        results[0].tfo,
        Some(synack_probe::TfoResult::CookieRequested)
    );
    assert_eq!(results[1].tfo, Some(synack_probe::TfoResult::DataAccepted));
    let rec = synack_probe::record(&results[1], "t", 2, None);
    assert_eq!(
        rec.probe.unwrap().tfo_result,
        Some(synack_core::TfoResult::DataAccepted)
    );
}

#[test]
fn tfo_without_server_support_falls_back() {
    let Some(lab) = lab() else { return };
    // The client has a cookie cache bit on, but the server's TFO is off.
    lab.sysctl(Side::Client, "net.ipv4.tcp_fastopen", "3")
        .unwrap();
    lab.sysctl(Side::Server, "net.ipv4.tcp_fastopen", "0")
        .unwrap();
    let _l = listen(&lab, 8080, false);
    // tcp_fastopen bit 0x4 (TFO_CLIENT_NO_COOKIE) makes the client send
    // data without a cookie, so the data rides the SYN and is not taken.
    lab.sysctl(Side::Client, "net.ipv4.tcp_fastopen", "5")
        .unwrap();
    let cfg = AttemptConfig {
        tfo_data: Some(b"hello".to_vec()),
        ..Default::default()
    };
    let r = probe(&lab, to(&lab, 8080, false), cfg);
    assert_eq!(r.cause, Cause::Established);
    assert_eq!(r.tfo, Some(synack_probe::TfoResult::Fallback));
}

#[test]
fn tfo_through_a_path_that_drops_syn_data_is_blocked() {
    let Some(mut lab) = lab() else { return };
    for side in [Side::Client, Side::Server] {
        lab.sysctl(side, "net.ipv4.tcp_fastopen", "3").unwrap();
    }
    let l = listen(&lab, 8080, false);
    synack_sys::tcp::set_fastopen(&l, 16).unwrap();
    lab.impair(Impairment::DropSynData).unwrap();
    let cfg = AttemptConfig {
        tfo_data: Some(b"GET / HTTP/1.0\r\n\r\n".to_vec()),
        ..Default::default()
    };
    let first = probe(&lab, to(&lab, 8080, false), cfg.clone());
    assert_eq!(first.tfo, Some(synack_probe::TfoResult::CookieRequested));
    let second = probe(&lab, to(&lab, 8080, false), cfg);
    assert_eq!(
        second.cause,
        Cause::Established,
        "the kernel retries without data"
    );
    assert_eq!(second.tfo, Some(synack_probe::TfoResult::Blocked));
    assert!(
        second.connect >= Duration::from_millis(900),
        "{:?}",
        second.connect
    );
}

#[test]
fn the_engine_keeps_many_handshakes_in_flight() {
    use std::sync::atomic::AtomicBool;
    use synack_probe::engine::{Pace, run};
    let Some(mut lab) = lab() else { return };
    let l = listen(&lab, 8080, false);
    // Accept everything so the queue never fills.
    std::thread::spawn(move || {
        for s in l.incoming() {
            drop(s)
        }
    });
    lab.impair(Impairment::Delay {
        rtt: Duration::from_millis(50),
        jitter: Duration::ZERO,
        handshake_only: true,
        one_way: false,
    })
    .unwrap();
    let target = to(&lab, 8080, false);
    let (times, elapsed) = lab
        .client
        .run(move || {
            let start = std::time::Instant::now();
            let mut times = Vec::new();
            let pace = Pace {
                concurrency: 32,
                ..Pace::default()
            };
            let mut jobs = (0..320usize).map(|i| (i, target));
            run(
                &mut jobs,
                &AttemptConfig::default(),
                &pace,
                &AtomicBool::new(false),
                &mut |_, r| {
                    assert_eq!(r.cause, Cause::Established);
                    times.push(r.connect);
                },
            )
            .unwrap();
            (times, start.elapsed())
        })
        .unwrap();
    assert_eq!(times.len(), 320);
    // 10 waves of 32 at 50 ms each, not 320 x 50 ms.
    assert!(elapsed < Duration::from_secs(2), "{elapsed:?}");
    assert!(
        times
            .iter()
            .all(|t| *t >= Duration::from_millis(50) && *t < Duration::from_millis(60)),
        "{times:?}"
    );
}

/// A minimal HTTP/1.1 server that keeps connections alive.
fn keep_alive_server(l: TcpListener) {
    use std::io::{BufRead, BufReader, Write};
    std::thread::spawn(move || {
        for s in l.incoming().flatten() {
            std::thread::spawn(move || {
                let mut r = BufReader::new(&s);
                loop {
                    let mut line = String::new();
                    let mut close = false;
                    loop {
                        line.clear();
                        if r.read_line(&mut line).unwrap_or(0) == 0 {
                            return;
                        }
                        if line.to_ascii_lowercase().starts_with("connection: close") {
                            close = true;
                        }
                        if line == "\r\n" {
                            break;
                        }
                    }
                    let _ = (&s).write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok");
                    if close {
                        return;
                    }
                }
            });
        }
    });
}

#[test]
fn reuse_saves_about_one_round_trip_per_request() {
    let Some(mut lab) = lab() else { return };
    keep_alive_server(listen(&lab, 8080, false));
    lab.impair(Impairment::delay(Duration::from_millis(20)))
        .unwrap();
    let url =
        synack_probe::reuse::HttpUrl::parse(&format!("http://{}:8080/", lab.server_v4)).unwrap();
    let r = lab
        .client
        .run(move || synack_probe::reuse::measure(&url, 5, Duration::from_secs(3)))
        .unwrap()
        .unwrap();
    let saved = r.saved_per_request_ns() as f64 / 1e6;
    assert!(
        (17.0..24.0).contains(&saved),
        "keep-alive saved {saved} ms per request at 20 ms RTT"
    );
    assert!(
        (0.4..0.6).contains(&r.handshake_share()),
        "handshake share {}",
        r.handshake_share()
    );
}

#[test]
fn tfo_answers_one_round_trip_sooner() {
    use std::io::{Read, Write};
    let Some(mut lab) = lab() else { return };
    for side in [Side::Client, Side::Server] {
        lab.sysctl(side, "net.ipv4.tcp_fastopen", "3").unwrap();
    }
    let l = listen(&lab, 8080, false);
    synack_sys::tcp::set_fastopen(&l, 16).unwrap();
    std::thread::spawn(move || {
        for mut s in l.incoming().flatten() {
            let mut buf = [0u8; 64];
            let _ = s.read(&mut buf);
            let _ = s.write_all(b"ok");
        }
    });
    lab.impair(Impairment::delay(Duration::from_millis(30)))
        .unwrap();
    let cfg = AttemptConfig {
        tfo_data: Some(b"GET / HTTP/1.0\r\n\r\n".to_vec()),
        ..Default::default()
    };
    // Three rounds, each from no cookie (the kernel's TFO cookies live in
    // tcp_metrics): the first attempt asks for one, the next two use it.
    // The fastest of each kind keeps a loaded machine's scheduling out.
    let (mut slow, mut fast) = (f64::MAX, f64::MAX);
    for _ in 0..3 {
        let flushed = lab
            .client
            .command("ip")
            .args(["tcp_metrics", "flush", "all"])
            .status()
            .unwrap();
        assert!(flushed.success());
        let r: Vec<_> = (0..3)
            .map(|_| probe(&lab, to(&lab, 8080, false), cfg.clone()))
            .collect();
        assert_eq!(r[0].tfo, Some(synack_probe::TfoResult::CookieRequested));
        assert_eq!(r[2].tfo, Some(synack_probe::TfoResult::DataAccepted));
        slow = slow.min(r[0].first_response.unwrap().as_secs_f64() * 1000.0);
        for attempt in &r[1..] {
            fast = fast.min(attempt.first_response.unwrap().as_secs_f64() * 1000.0);
        }
    }
    assert!(
        (59.0..64.0).contains(&slow),
        "without data in the SYN: 2 RTT, got {slow} ms"
    );
    assert!(
        (29.0..34.0).contains(&fast),
        "with data in the SYN: 1 RTT, got {fast} ms"
    );
}

#[test]
fn raw_syn_probes_open_closed_filtered_and_rejected_ports() {
    use synack_probe::syn;
    let Some(mut lab) = lab() else { return };
    let _l4 = listen(&lab, 8080, false);
    let _l6 = listen(&lab, 8080, true);
    lab.impair(Impairment::RejectIcmp {
        kind: IcmpKind::Admin,
        port: Some(83),
    })
    .unwrap();
    lab.impair(Impairment::RejectRst { port: Some(85) })
        .unwrap();
    let wait = Duration::from_millis(300);
    for v6 in [false, true] {
        let l = &lab;
        let run = |port: u16| {
            let t = to(l, port, v6);
            l.client
                .run(move || syn::probe(t, wait, &Default::default()))
                .unwrap()
                .expect("raw sockets (root)")
        };
        let open = run(8080);
        let (_, opts) = open.synack.expect("SYN-ACK from the open port");
        assert_eq!(opts.mss, Some(if v6 { 1440 } else { 1460 }), "v6={v6}");
        assert!(opts.sack_permitted && opts.timestamps.is_some() && opts.wscale.is_some());
        assert_eq!(open.synacks, 1);
        let closed = run(9);
        assert!(
            closed.rst.is_some() && closed.synack.is_none(),
            "v6={v6}: {closed:?}"
        );
        let rejected = run(83);
        let (_, ty, code, from) = rejected.icmp.expect("ICMP");
        assert_eq!((ty, code), if v6 { (1, 1) } else { (3, 13) });
        assert_eq!(from, lab.server_addr(v6));
        let rst = run(85);
        assert!(rst.rst.is_some(), "v6={v6}");
    }
    lab.impair(Impairment::DropSynRandom { probability: 1.0 })
        .unwrap();
    let t = to(&lab, 8080, false);
    let filtered = lab
        .client
        .run(move || syn::probe(t, wait, &Default::default()))
        .unwrap()
        .unwrap();
    assert!(
        filtered.synack.is_none() && filtered.rst.is_none() && filtered.icmp.is_none(),
        "{filtered:?}"
    );
}

#[test]
fn raw_syn_times_rst_and_icmp_over_the_whole_injected_rtt() {
    // Regression: with the lab's delay split inside the client namespace,
    // RST and ICMP replies (built by the server's REJECT, with no departure
    // time) were stamped on arrival before the ingress half of the delay,
    // and timed at half the RTT; the delay now lies on the router, on the
    // wire, so every reply's kernel timestamp includes all of it.
    use synack_probe::syn;
    let Some(mut lab) = lab() else { return };
    let _l4 = listen(&lab, 8080, false);
    let _l6 = listen(&lab, 8080, true);
    lab.impair(Impairment::delay(Duration::from_millis(40)))
        .unwrap();
    lab.impair(Impairment::RejectIcmp {
        kind: IcmpKind::Port,
        port: Some(83),
    })
    .unwrap();
    lab.impair(Impairment::RejectRst { port: Some(85) })
        .unwrap();
    for v6 in [false, true] {
        let l = &lab;
        let run = |port: u16| {
            let t = to(l, port, v6);
            l.client
                .run(move || syn::probe(t, Duration::from_millis(500), &Default::default()))
                .unwrap()
                .expect("raw sockets (root)")
        };
        let times = [
            ("SYN-ACK", run(8080).synack.map(|x| x.0)),
            ("kernel RST", run(9).rst),
            ("REJECT RST", run(85).rst),
            ("ICMP", run(83).icmp.map(|x| x.0)),
        ];
        for (what, t) in times {
            let ms = t
                .unwrap_or_else(|| panic!("v6={v6}: no {what}"))
                .as_secs_f64()
                * 1000.0;
            assert!(
                (40.0..43.0).contains(&ms),
                "v6={v6}: {what} timed at {ms:.2} ms for a 40 ms RTT"
            );
        }
    }
}

#[test]
fn a_raw_syn_scan_counts_every_reply() {
    let Some(lab) = lab() else { return };
    let _l = listen(&lab, 8080, false);
    let (open, closed) = (to(&lab, 8080, false), to(&lab, 9, false));
    let probes = lab
        .client
        .run(move || {
            synack_probe::syn::scan(
                &[open, closed],
                1000,
                20_000.0,
                Duration::from_millis(300),
                &Default::default(),
            )
        })
        .unwrap()
        .expect("raw sockets (root)");
    assert_eq!(probes.len(), 2000);
    let answered_open = probes
        .iter()
        .filter(|p| p.target == open && p.replies.synack.is_some())
        .count();
    let answered_closed = probes
        .iter()
        .filter(|p| p.target == closed && p.replies.rst.is_some())
        .count();
    assert_eq!((answered_open, answered_closed), (1000, 1000));
    // 2000 SYNs at 20,000/s take 100 ms: the pacing held.
    let last = probes.last().unwrap().sent_at;
    assert!(
        (Duration::from_millis(95)..Duration::from_millis(200)).contains(&last),
        "{last:?}"
    );
}

#[test]
fn retries_back_off_and_say_what_they_cost() {
    use std::sync::atomic::AtomicBool;
    use synack_probe::engine::{Pace, run};
    let Some(lab) = lab() else { return };
    let target = to(&lab, 9, false);
    let results = lab
        .client
        .run(move || {
            let mut out = Vec::new();
            let pace = Pace {
                concurrency: 1,
                retries: 2,
                backoff: Duration::from_millis(100),
                ..Pace::default()
            };
            run(
                &mut std::iter::once((0, target)),
                &AttemptConfig::default(),
                &pace,
                &AtomicBool::new(false),
                &mut |_, r| out.push(r),
            )
            .unwrap();
            out
        })
        .unwrap();
    assert_eq!(results.len(), 1, "one result for the three tries");
    let r = &results[0];
    assert_eq!((r.tries, &r.cause), (3, &Cause::Refused));
    // 100 ms then 200 ms of backoff, each with up to 25% jitter.
    let cost = r.retry_cost.as_secs_f64();
    assert!((0.3..0.4).contains(&cost), "retries cost {cost} s");
}

#[test]
fn raw_syn_options_are_chosen_and_the_synack_answers_them() {
    use synack_probe::syn::{self, SynOptions};
    let Some(lab) = lab() else { return };
    lab.sysctl(Side::Server, "net.ipv4.tcp_fastopen", "3")
        .unwrap();
    let l = listen(&lab, 8080, false);
    synack_sys::tcp::set_fastopen(&l, 16).unwrap();
    let t = to(&lab, 8080, false);
    let bare = SynOptions::parse("none").unwrap();
    let r = lab
        .client
        .run(move || syn::probe(t, Duration::from_millis(300), &bare))
        .unwrap()
        .unwrap();
    let (_, o) = r.synack.expect("SYN-ACK");
    // The server offers only what the SYN offered (RFC 7323, RFC 2018).
    assert!(
        o.wscale.is_none() && !o.sack_permitted && o.timestamps.is_none(),
        "{o:?}"
    );
    let tfo = SynOptions::parse("mss=536,sack,tfo").unwrap();
    let r = lab
        .client
        .run(move || syn::probe(t, Duration::from_millis(300), &tfo))
        .unwrap()
        .unwrap();
    let (_, o) = r.synack.expect("SYN-ACK");
    assert!(o.sack_permitted);
    let cookie = o.tfo.expect("a TFO cookie for the cookie request");
    assert!(!cookie.is_request() && !cookie.cookie().is_empty());
    assert!(SynOptions::parse("ws=15").is_err() && SynOptions::parse("foo").is_err());
}

/// `analyze` (from the captured ICMP packet) and `probe` (from the
/// socket's error queue) name the same rejection with the same words
/// (before, "host unreachable" and "host-unreachable").
#[test]
fn analyze_and_probe_name_an_icmp_error_with_the_same_words() {
    let Some(mut lab) = lab() else { return };
    lab.impair(Impairment::RejectIcmp {
        kind: IcmpKind::Host,
        port: Some(81),
    })
    .unwrap();
    let server = lab.server_addr(false);
    let want = synack_core::cause::icmp_words(false, 3, 1, Some(server));
    let path =
        std::env::temp_dir().join(format!("synack-icmp-words-{}.pcapng", std::process::id()));
    let capture = lab.capture(Side::Client, &path).unwrap();
    let bin = env!("CARGO_BIN_EXE_synack");
    let probe = std::process::Command::new("ip")
        .args(["netns", "exec", &lab.client.name, bin, "probe", "-c", "1"])
        .arg(format!("{server}:81"))
        .output()
        .unwrap();
    capture.stop().unwrap();
    let analyze = std::process::Command::new(bin)
        .arg("analyze")
        .arg(&path)
        .output()
        .unwrap();
    let _ = std::fs::remove_file(&path);
    let probe = String::from_utf8_lossy(&probe.stdout);
    let analyze = String::from_utf8_lossy(&analyze.stdout);
    assert!(probe.contains(&want), "probe: {probe}\nwant: {want}");
    assert!(analyze.contains(&want), "analyze: {analyze}\nwant: {want}");
}
