//! Handshake scripts for the tracker: packets with timestamps in, records
//! out, checked against what each script injected. Frames are built with
//! synack-wire's emitter, so they go through the same decoder as captures.

use std::net::{IpAddr, SocketAddr};
use synack_core::{ConnState, Ecn, Handshake, Outcome, Side, Tracker, TrackerConfig};
use synack_gen::scenario::sample_packets;
use synack_wire::emit::{OptionWriter, TcpSegmentSpec, ethernet_icmp_unreachable, ethernet_tcp};
use synack_wire::{LinkType, TcpFlags};

const S: u16 = TcpFlags::SYN;
const A: u16 = TcpFlags::ACK;
const F: u16 = TcpFlags::FIN;
const R: u16 = TcpFlags::RST;
const MS: i64 = 1_000_000;

fn ep(s: &str) -> SocketAddr {
    s.parse().unwrap()
}

struct Script {
    tracker: Tracker,
    out: Vec<Handshake>,
    vlan: Option<u16>,
}

impl Script {
    fn new() -> Script {
        Script::with(TrackerConfig::default())
    }
    fn with(config: TrackerConfig) -> Script {
        Script {
            tracker: Tracker::new(config),
            out: Vec::new(),
            vlan: None,
        }
    }
    /// Puts one segment on the wire at its time, through the decoder.
    fn send(&mut self, seg: Seg<'_>) {
        let mut f = Vec::new();
        let spec = TcpSegmentSpec {
            options: seg.options,
            payload: seg.payload,
            ttl: seg.ttl,
            vlan: self.vlan,
            ..TcpSegmentSpec::new(ep(seg.from), ep(seg.to), seg.seq, seg.ack, seg.flags)
        };
        ethernet_tcp(&mut f, &spec);
        let ts = (seg.at_ms * MS as f64) as i64;
        self.tracker
            .handle_frame(ts, LinkType::ETHERNET, &f, &mut self.out);
    }
    fn icmp(&mut self, at_ms: f64, from: &str, code: u8, src: &str, dst: &str, seq: u32) {
        let mut f = Vec::new();
        let spec = TcpSegmentSpec {
            vlan: self.vlan,
            ..TcpSegmentSpec::new(ep(src), ep(dst), seq, 0, S)
        };
        ethernet_icmp_unreachable(&mut f, from.parse::<IpAddr>().unwrap(), code, &spec);
        self.tracker.handle_frame(
            (at_ms * MS as f64) as i64,
            LinkType::ETHERNET,
            &f,
            &mut self.out,
        );
    }
    fn finish(mut self) -> Vec<Handshake> {
        self.tracker.finish(&mut self.out);
        self.out
    }
}

const C: &str = "10.0.0.1:40000";
const SV: &str = "10.0.0.2:80";

/// One TCP segment of a script (smoltcp's `send!`/`recv!` with a
/// template): name what differs from [`SEG`], a client SYN to the server
/// at 0 ms with no options and no payload.
#[derive(Clone, Copy)]
struct Seg<'a> {
    at_ms: f64,
    from: &'a str,
    to: &'a str,
    seq: u32,
    ack: u32,
    flags: u16,
    options: &'a [u8],
    payload: &'a [u8],
    ttl: u8,
}

/// The server's SYN-ACK to the client; name its numbers and time.
const SYNACK: Seg<'static> = Seg {
    from: SV,
    to: C,
    flags: S | A,
    ..SEG
};

const SEG: Seg<'static> = Seg {
    at_ms: 0.0,
    from: C,
    to: SV,
    seq: 0,
    ack: 0,
    flags: S,
    options: &[],
    payload: &[],
    ttl: 64,
};

#[test]
fn established_with_legs_and_options() {
    let mut s = Script::new();
    let syn = OptionWriter::linux(1, 0, 7).build();
    let sa = OptionWriter::default().mss(1400).nop().wscale(9).build();
    s.send(Seg {
        at_ms: 0.0,
        seq: 100,
        options: &syn,
        ..SEG
    });
    s.send(Seg {
        at_ms: 10.0,
        seq: 500,
        ack: 101,
        options: &sa,
        ..SYNACK
    });
    s.send(Seg {
        at_ms: 10.5,
        seq: 101,
        ack: 501,
        flags: A,
        ..SEG
    });
    s.send(Seg {
        at_ms: 11.0,
        seq: 101,
        ack: 501,
        flags: A,
        payload: b"GET /",
        ..SEG
    });
    s.send(Seg {
        at_ms: 30.0,
        from: SV,
        to: C,
        seq: 501,
        ack: 106,
        flags: A,
        payload: b"200 OK",
        ..SEG
    });
    let r = s.finish();
    assert_eq!(r.len(), 1);
    let h = &r[0];
    assert_eq!((h.client, h.server), (ep(C), ep(SV)));
    assert_eq!(h.outcome, Outcome::Established);
    assert_eq!(h.conn_state, ConnState::S1);
    assert_eq!(h.history, "ShADd");
    assert_eq!(
        (h.syn_synack_ns, h.synack_ack_ns, h.total_ns),
        (Some(10 * MS), Some(MS / 2), Some(10 * MS + MS / 2))
    );
    assert_eq!(h.setup_ns, Some(10 * MS + MS / 2));
    assert_eq!((h.client_isn, h.server_isn), (Some(100), Some(500)));
    let c = h.client_opts.unwrap();
    assert_eq!(
        (c.mss, c.wscale, c.sack_permitted),
        (Some(1460), Some(7), true)
    );
    assert_eq!(h.server_opts.unwrap().mss, Some(1400));
    assert_eq!(h.times.client_data, Some(11 * MS));
    assert_eq!(h.times.server_data, Some(30 * MS));
    assert_eq!((h.client_bytes, h.server_bytes), (5, 6));
}

#[test]
fn retransmitted_syn_is_one_attempt_timed_from_the_answered_syn() {
    let mut s = Script::new();
    let first = OptionWriter::default().mss(1460).wscale(7).build();
    let retry = OptionWriter::default().mss(1460).build(); // window scaling dropped
    s.send(Seg {
        at_ms: 0.0,
        seq: 7,
        options: &first,
        ..SEG
    });
    s.send(Seg {
        at_ms: 1000.0,
        seq: 7,
        options: &retry,
        ..SEG
    });
    s.send(Seg {
        at_ms: 1003.0,
        seq: 900,
        ack: 8,
        ..SYNACK
    });
    s.send(Seg {
        at_ms: 1003.1,
        seq: 8,
        ack: 901,
        flags: A,
        ..SEG
    });
    let h = &s.finish()[0];
    assert_eq!(h.syn_count, 2);
    assert_eq!(h.times.syn, vec![0, 1000 * MS]);
    assert_eq!(h.syn_synack_ns, Some(3 * MS));
    assert_eq!(h.total_ns, Some(3 * MS + MS / 10));
    assert_eq!(h.setup_ns, Some(1003 * MS + MS / 10));
    assert_eq!(h.syn_retransmit_opts.unwrap().wscale, None);
    assert_eq!(h.history, "ShA");
}

#[test]
fn refused_by_rst_is_rej() {
    let mut s = Script::new();
    s.send(Seg {
        at_ms: 0.0,
        seq: 7,
        ..SEG
    });
    s.send(Seg {
        at_ms: 0.2,
        from: SV,
        to: C,
        seq: 0,
        ack: 8,
        flags: R | A,
        ..SEG
    });
    let h = &s.finish()[0];
    assert_eq!(h.outcome, Outcome::Refused);
    assert_eq!(h.rst_from, Some(Side::Server));
    assert_eq!((h.conn_state, h.history.as_str()), (ConnState::REJ, "Sr"));
    assert_eq!(h.elapsed_ns(), MS / 5);
}

#[test]
fn icmp_unreachable_names_type_code_and_sender() {
    let mut s = Script::new();
    s.send(Seg {
        at_ms: 0.0,
        seq: 7,
        ..SEG
    });
    s.icmp(2.0, "10.0.0.254", 13, C, SV, 7);
    let h = &s.finish()[0];
    assert_eq!(h.outcome, Outcome::Unreachable);
    let i = h.icmp.unwrap();
    assert_eq!(
        (i.icmp_type, i.code, i.from),
        (3, 13, "10.0.0.254".parse::<IpAddr>().unwrap())
    );
    assert_eq!(i.name(), "administratively prohibited");
    assert_eq!(h.conn_state, ConnState::S0);
}

#[test]
fn icmpv6_unreachable() {
    let mut s = Script::new();
    s.send(Seg {
        at_ms: 0.0,
        from: "[fd00::1]:40000",
        to: "[fd00::2]:443",
        seq: 7,
        ..SEG
    });
    s.icmp(1.0, "fd00::fe", 3, "[fd00::1]:40000", "[fd00::2]:443", 7);
    let h = &s.finish()[0];
    assert_eq!(h.outcome, Outcome::Unreachable);
    assert_eq!(h.icmp.unwrap().name(), "address unreachable");
    assert_eq!(h.client, ep("[fd00::1]:40000"));
}

#[test]
fn unanswered_syns_time_out_but_recent_ones_are_incomplete() {
    let mut s = Script::new();
    s.send(Seg {
        at_ms: 0.0,
        seq: 7,
        ..SEG
    });
    s.send(Seg {
        at_ms: 1000.0,
        seq: 7,
        ..SEG
    });
    s.send(Seg {
        at_ms: 3000.0,
        seq: 7,
        ..SEG
    });
    s.send(Seg {
        at_ms: 9000.0,
        from: "10.0.0.1:40001",
        seq: 9,
        ..SEG
    });
    let r = s.finish();
    assert_eq!(r.len(), 2);
    assert_eq!(
        (r[0].outcome, r[0].syn_count, r[0].conn_state),
        (Outcome::Timeout, 3, ConnState::S0)
    );
    assert_eq!(r[0].history, "S");
    assert_eq!(r[1].outcome, Outcome::Incomplete);
}

#[test]
fn half_open_and_reset() {
    let mut s = Script::new();
    s.send(Seg {
        at_ms: 0.0,
        seq: 7,
        ..SEG
    });
    s.send(Seg {
        at_ms: 1.0,
        seq: 50,
        ack: 8,
        ..SYNACK
    });
    s.send(Seg {
        at_ms: 1001.0,
        seq: 50,
        ack: 8,
        ..SYNACK
    });
    s.send(Seg {
        at_ms: 0.0,
        from: "10.0.0.1:40001",
        seq: 7,
        ..SEG
    });
    s.send(Seg {
        at_ms: 1.0,
        from: SV,
        to: "10.0.0.1:40001",
        seq: 60,
        ack: 8,
        flags: S | A,
        ..SEG
    });
    s.send(Seg {
        at_ms: 1.1,
        from: "10.0.0.1:40001",
        seq: 8,
        flags: R,
        ..SEG
    });
    s.send(Seg {
        at_ms: 9000.0,
        from: "10.0.0.1:40009",
        seq: 1,
        ..SEG
    });
    let r = s.finish();
    let half = r.iter().find(|h| h.client.port() == 40000).unwrap();
    assert_eq!((half.outcome, half.synack_count), (Outcome::HalfOpen, 2));
    assert_eq!(half.syn_synack_ns, Some(MS));
    let reset = r.iter().find(|h| h.client.port() == 40001).unwrap();
    assert_eq!(
        (reset.outcome, reset.rst_from),
        (Outcome::Reset, Some(Side::Client))
    );
    assert_eq!(reset.conn_state, ConnState::RSTO);
}

#[test]
fn port_reuse_with_new_isn_is_a_new_attempt() {
    let mut s = Script::new();
    s.send(Seg {
        at_ms: 0.0,
        seq: 7,
        ..SEG
    });
    s.send(Seg {
        at_ms: 0.1,
        from: SV,
        to: C,
        seq: 0,
        ack: 8,
        flags: R | A,
        ..SEG
    });
    s.send(Seg {
        at_ms: 50.0,
        seq: 99_999,
        ..SEG
    });
    s.send(Seg {
        at_ms: 50.2,
        seq: 5,
        ack: 100_000,
        ..SYNACK
    });
    s.send(Seg {
        at_ms: 50.3,
        seq: 100_000,
        ack: 6,
        flags: A,
        ..SEG
    });
    let r = s.finish();
    assert_eq!(r.len(), 2);
    assert_eq!((r[0].outcome, r[0].client_isn), (Outcome::Refused, Some(7)));
    assert_eq!(
        (r[1].outcome, r[1].client_isn),
        (Outcome::Established, Some(99_999))
    );
    assert_eq!(r[1].total_ns, Some(3 * MS / 10));
}

#[test]
fn synack_captured_before_syn_still_one_handshake() {
    let mut s = Script::new();
    s.send(Seg {
        at_ms: 0.0,
        seq: 500,
        ack: 101,
        ..SYNACK
    });
    s.send(Seg {
        at_ms: 0.01,
        seq: 100,
        ..SEG
    });
    s.send(Seg {
        at_ms: 0.3,
        seq: 101,
        ack: 501,
        flags: A,
        ..SEG
    });
    let r = s.finish();
    assert_eq!(r.len(), 1);
    let h = &r[0];
    assert_eq!(
        (h.client, h.server, h.outcome),
        (ep(C), ep(SV), Outcome::Established)
    );
    assert_eq!(h.client_isn, Some(100));
    assert_eq!(h.synack_ack_ns, Some(3 * MS / 10));
}

#[test]
fn simultaneous_open() {
    let a = "10.0.0.1:5000";
    let b = "10.0.0.2:6000";
    let mut s = Script::new();
    s.send(Seg {
        at_ms: 0.0,
        from: a,
        to: b,
        seq: 100,
        ..SEG
    });
    s.send(Seg {
        at_ms: 0.1,
        from: b,
        to: a,
        seq: 300,
        ..SEG
    });
    s.send(Seg {
        at_ms: 0.2,
        from: a,
        to: b,
        seq: 100,
        ack: 301,
        flags: S | A,
        ..SEG
    });
    s.send(Seg {
        at_ms: 0.3,
        from: b,
        to: a,
        seq: 300,
        ack: 101,
        flags: S | A,
        ..SEG
    });
    s.send(Seg {
        at_ms: 0.4,
        from: a,
        to: b,
        seq: 101,
        ack: 301,
        flags: A,
        ..SEG
    });
    let r = s.finish();
    assert_eq!(r.len(), 1);
    assert!(r[0].simultaneous_open);
    assert_eq!(r[0].client, ep(a));
    assert_eq!(r[0].server_isn, Some(300));
    assert_eq!(r[0].outcome, Outcome::Established);
}

#[test]
fn same_ip_at_both_ends_is_one_connection() {
    let (c, sv) = ("127.0.0.1:45000", "127.0.0.1:8080");
    let mut s = Script::new();
    s.send(Seg {
        at_ms: 0.0,
        from: c,
        to: sv,
        seq: 1,
        ..SEG
    });
    s.send(Seg {
        at_ms: 0.01,
        from: sv,
        to: c,
        seq: 9,
        ack: 2,
        flags: S | A,
        ..SEG
    });
    s.send(Seg {
        at_ms: 0.02,
        from: c,
        to: sv,
        seq: 2,
        ack: 10,
        flags: A,
        ..SEG
    });
    s.send(Seg {
        at_ms: 0.03,
        from: c,
        to: sv,
        seq: 2,
        ack: 10,
        flags: F | A,
        ..SEG
    });
    s.send(Seg {
        at_ms: 0.04,
        from: sv,
        to: c,
        seq: 10,
        ack: 3,
        flags: F | A,
        ..SEG
    });
    s.send(Seg {
        at_ms: 0.05,
        from: c,
        to: sv,
        seq: 3,
        ack: 11,
        flags: A,
        ..SEG
    });
    let r = s.finish();
    assert_eq!(r.len(), 1);
    assert_eq!((r[0].client, r[0].server), (ep(c), ep(sv)));
    assert_eq!(
        (r[0].conn_state, r[0].history.as_str()),
        (ConnState::SF, "ShAFf")
    );
}

#[test]
fn vlan_separated_duplicates_stay_apart() {
    let mut s = Script::new();
    for (vlan, rtt) in [(None, 1.0), (Some(10), 2.0), (Some(20), 3.0)] {
        s.vlan = vlan;
        s.send(Seg {
            at_ms: 0.0,
            seq: 7,
            ..SEG
        });
        s.send(Seg {
            at_ms: rtt,
            seq: 50,
            ack: 8,
            ..SYNACK
        });
        s.send(Seg {
            at_ms: rtt + 0.5,
            seq: 8,
            ack: 51,
            flags: A,
            ..SEG
        });
    }
    let mut r = s.finish();
    r.sort_by_key(|h| h.vlan);
    assert_eq!(r.len(), 3);
    let rtts: Vec<_> = r.iter().map(|h| (h.vlan, h.syn_synack_ns)).collect();
    assert_eq!(
        rtts,
        vec![(0, Some(MS)), (10, Some(2 * MS)), (20, Some(3 * MS))]
    );
}

#[test]
fn midstream_flow_is_not_a_handshake() {
    let mut s = Script::new();
    s.send(Seg {
        at_ms: 0.0,
        seq: 1000,
        ack: 2000,
        flags: A,
        payload: b"data",
        ..SEG
    });
    s.send(Seg {
        at_ms: 1.0,
        from: SV,
        to: C,
        seq: 2000,
        ack: 1004,
        flags: A,
        payload: b"reply",
        ..SEG
    });
    let h = &s.finish()[0];
    assert_eq!(h.outcome, Outcome::Midstream);
    assert_eq!((h.syn_count, h.client_isn, h.total_ns), (0, None, None));
    assert_eq!(h.conn_state, ConnState::OTH);
    assert_eq!(
        h.client,
        ep(C),
        "the port heuristic makes the high port the client"
    );
}

#[test]
fn tfo_and_ecn_negotiation() {
    let mut s = Script::new();
    let cookie = [1u8, 2, 3, 4, 5, 6, 7, 8];
    s.send(Seg {
        at_ms: 0.0,
        seq: 7,
        flags: S | TcpFlags::ECE | TcpFlags::CWR,
        options: &OptionWriter::default().tfo(&cookie).build(),
        payload: b"hello",
        ..SEG
    });
    s.send(Seg {
        at_ms: 1.0,
        from: SV,
        to: C,
        seq: 50,
        ack: 13,
        flags: S | A | TcpFlags::ECE,
        ..SEG
    });
    s.send(Seg {
        at_ms: 1.1,
        seq: 13,
        ack: 51,
        flags: A,
        ..SEG
    });
    let h = &s.finish()[0];
    assert_eq!(h.client_opts.unwrap().tfo.unwrap().cookie(), &cookie);
    assert_eq!((h.tfo.syn_data, h.tfo.data_acked), (5, Some(true)));
    assert_eq!(h.ecn, Some(Ecn::Negotiated));
    assert_eq!(h.times.client_data, Some(0));
}

#[test]
fn tfo_data_not_acked_falls_back() {
    let mut s = Script::new();
    s.send(Seg {
        at_ms: 0.0,
        seq: 7,
        options: &OptionWriter::default().tfo(&[9; 8]).build(),
        payload: b"hello",
        ..SEG
    });
    s.send(Seg {
        at_ms: 1.0,
        seq: 50,
        ack: 8,
        ..SYNACK
    });
    s.send(Seg {
        at_ms: 1.1,
        seq: 8,
        ack: 51,
        flags: A,
        ..SEG
    });
    assert_eq!(s.finish()[0].tfo.data_acked, Some(false));
}

#[test]
fn synacks_with_two_server_isns_complete_with_the_one_acknowledged() {
    // A load balancer hands the SYN to two backends: SYN-ACKs with ISNs
    // 50 and 900 answer it, and the client acknowledges the second. Only
    // the first ISN was accepted, so the attempt had no completing ACK.
    let linux = OptionWriter::linux(5, 1, 7).build();
    let mss_only = OptionWriter::default().mss(1400).build();
    let mut s = Script::new();
    s.send(Seg { seq: 7, ..SEG });
    s.send(Seg {
        at_ms: 1.0,
        seq: 50,
        ack: 8,
        options: &mss_only,
        ..SYNACK
    });
    s.send(Seg {
        at_ms: 2.0,
        seq: 900,
        ack: 8,
        options: &linux,
        ..SYNACK
    });
    s.send(Seg {
        at_ms: 3.0,
        seq: 8,
        ack: 901,
        flags: A,
        ..SEG
    });
    let h = &s.finish()[0];
    assert_eq!(h.outcome, Outcome::Established);
    assert_eq!(h.server_isn, Some(900));
    assert_eq!(h.synack_count, 2);
    assert_eq!(
        h.server_opts.unwrap().wscale,
        Some(7),
        "the acknowledged SYN-ACK's options"
    );
    assert_eq!(
        h.syn_synack_ns,
        Some(2 * MS),
        "SYN to the acknowledged SYN-ACK"
    );
    assert_eq!(h.synack_ack_ns, Some(MS));
    assert_eq!(h.total_ns, Some(3 * MS));
}

#[test]
fn a_syn_retransmitted_after_a_challenge_ack_and_rst_is_the_same_attempt() {
    // RFC 5961 section 4: the server still holds an old connection on this
    // 4-tuple and answers the new SYN with a bare ACK for the old one; the
    // client resets that with a RST (seq = the ACK's ack number) and sends
    // its SYN again, same ISN, after its retransmission timeout.
    for (old_connection, retransmit_after_ms) in [(false, 1000.0), (false, 7000.0), (true, 1000.0)]
    {
        let mut s = Script::new();
        let base = if old_connection {
            // The old connection on this 4-tuple, established and quiet.
            s.send(Seg {
                at_ms: -60_000.0,
                seq: 2000,
                ..SEG
            });
            s.send(Seg {
                at_ms: -59_999.0,
                seq: 3999,
                ack: 2001,
                ..SYNACK
            });
            s.send(Seg {
                at_ms: -59_998.0,
                seq: 2001,
                ack: 4000,
                flags: A,
                ..SEG
            });
            1
        } else {
            0
        };
        s.send(Seg { seq: 7, ..SEG });
        s.send(Seg {
            at_ms: 0.2,
            from: SV,
            to: C,
            seq: 4000,
            ack: 3000,
            flags: A,
            ..SEG
        });
        s.send(Seg {
            at_ms: 0.4,
            seq: 3000,
            flags: R,
            ..SEG
        });
        let t = retransmit_after_ms;
        s.send(Seg {
            at_ms: t,
            seq: 7,
            ..SEG
        });
        s.send(Seg {
            at_ms: t + 1.0,
            seq: 50,
            ack: 8,
            ..SYNACK
        });
        s.send(Seg {
            at_ms: t + 2.0,
            seq: 8,
            ack: 51,
            flags: A,
            ..SEG
        });
        let r = s.finish();
        assert_eq!(r.len(), base + 1, "one attempt after {t} ms: {r:?}");
        let h = &r[base];
        assert_eq!(h.outcome, Outcome::Established);
        assert_eq!(h.syn_count, 2);
        assert_eq!(
            h.setup_ns,
            Some(((t + 2.0) * MS as f64) as i64),
            "from the first SYN"
        );
    }
}

#[test]
fn data_in_the_syn_neither_proves_nor_hides_establishment() {
    // TFO data in the SYN set the client's first-data time, so the data
    // the client sent after the SYN-ACK (its ACK not captured) no longer
    // counted as evidence: the attempt stayed undecided.
    let tfo = OptionWriter::default()
        .tfo(&[1, 2, 3, 4, 5, 6, 7, 8])
        .build();
    for data_after_synack in [false, true] {
        let mut s = Script::new();
        s.send(Seg {
            seq: 7,
            options: &tfo,
            payload: b"hello",
            ..SEG
        });
        s.send(Seg {
            at_ms: 1.0,
            seq: 50,
            ack: 13,
            ..SYNACK
        });
        if data_after_synack {
            // The server's answer, then the client's next request, which
            // acknowledges the answer (its pure ACK of the SYN-ACK missed).
            s.send(Seg {
                at_ms: 1.5,
                from: SV,
                to: C,
                seq: 51,
                ack: 13,
                flags: A,
                payload: b"hi",
                ..SEG
            });
            s.send(Seg {
                at_ms: 2.0,
                seq: 13,
                ack: 53,
                flags: A,
                payload: b"more",
                ..SEG
            });
        }
        let h = &s.finish()[0];
        assert_eq!(h.times.client_data, Some(0), "the SYN's data is the first");
        let want = if data_after_synack {
            Outcome::Established
        } else {
            Outcome::Incomplete
        };
        assert_eq!(
            h.outcome, want,
            "data after the SYN-ACK: {data_after_synack}"
        );
    }
}

#[test]
fn a_rst_after_data_closes_an_established_connection_not_a_reset_attempt() {
    // A server-speaks-first exchange (SMTP, SSH) whose completing ACK the
    // capture missed: the server's greeting, the client's answer (which
    // acknowledges the greeting, not the SYN-ACK), then a RST. The client's
    // data shows the handshake completed, so the RST closed a connection.
    // A RST before any data is `reset`.
    for with_data in [true, false] {
        let mut s = Script::new();
        s.send(Seg { seq: 7, ..SEG });
        s.send(Seg {
            at_ms: 1.0,
            seq: 50,
            ack: 8,
            ..SYNACK
        });
        if with_data {
            s.send(Seg {
                at_ms: 2.0,
                from: SV,
                to: C,
                seq: 51,
                ack: 8,
                flags: A | TcpFlags::PSH,
                payload: b"220 ok",
                ..SEG
            });
            s.send(Seg {
                at_ms: 3.0,
                seq: 8,
                ack: 57,
                flags: A | TcpFlags::PSH,
                payload: b"EHLO",
                ..SEG
            });
        }
        s.send(Seg {
            at_ms: 4.0,
            from: SV,
            to: C,
            seq: 57,
            ack: 12,
            flags: R | A,
            ..SEG
        });
        let h = &s.finish()[0];
        let want = if with_data {
            Outcome::Established
        } else {
            Outcome::Reset
        };
        assert_eq!(h.outcome, want, "data before the RST: {with_data}: {h:?}");
    }
}

#[test]
fn asymmetric_capture_without_synack_is_established() {
    let mut s = Script::new();
    s.send(Seg {
        at_ms: 0.0,
        seq: 7,
        ..SEG
    });
    s.send(Seg {
        at_ms: 1.0,
        seq: 8,
        ack: 5001,
        flags: A,
        ..SEG
    });
    s.send(Seg {
        at_ms: 1.1,
        seq: 8,
        ack: 5001,
        flags: A,
        payload: b"hi",
        ..SEG
    });
    s.send(Seg {
        at_ms: 9000.0,
        from: "10.0.0.9:1",
        seq: 1,
        ..SEG
    });
    let h = &s.finish()[0];
    assert_eq!(h.outcome, Outcome::Established);
    assert_eq!(h.total_ns, None, "no RTT without the SYN-ACK");
}

#[test]
fn flow_table_is_bounded_and_evictions_counted() {
    let config = TrackerConfig {
        max_flows: 64,
        ..TrackerConfig::default()
    };
    let mut s = Script::with(config);
    for i in 0..1000u32 {
        let c = format!("10.1.{}.{}:{}", i / 250, i % 250 + 1, 10000 + i);
        s.send(Seg {
            at_ms: i as f64 * 0.01,
            from: &c,
            seq: i,
            ..SEG
        });
    }
    assert!(s.tracker.flows() <= 64);
    let evictions = s.tracker.stats().evictions;
    assert!(evictions >= 900, "evictions {evictions}");
    let r = s.finish();
    assert_eq!(r.len(), 1000, "every attempt is reported, evicted or not");
    assert_eq!(r.iter().filter(|h| h.evicted).count() as u64, evictions);
}

#[test]
fn eviction_takes_the_least_recently_seen_flow_not_the_oldest() {
    // One long connection keeps sending while a SYN flood fills the table:
    // it is the oldest flow, but never the least recently seen, so it is
    // never evicted, and its handshake keeps its real outcome.
    let config = TrackerConfig {
        max_flows: 32,
        ..TrackerConfig::default()
    };
    let mut s = Script::with(config);
    s.send(Seg { seq: 1, ..SEG });
    s.send(Seg {
        at_ms: 1.0,
        from: SV,
        to: C,
        seq: 9,
        ack: 2,
        flags: S | A,
        ..SEG
    });
    s.send(Seg {
        at_ms: 2.0,
        seq: 2,
        ack: 10,
        flags: A,
        ..SEG
    });
    for i in 0..500u32 {
        let at_ms = 3.0 + f64::from(i);
        let c = format!("10.9.{}.{}:{}", i / 250, i % 250 + 1, 20000 + i);
        s.send(Seg {
            at_ms,
            from: &c,
            seq: i,
            ..SEG
        });
        s.send(Seg {
            at_ms: at_ms + 0.5,
            seq: 2 + i,
            ack: 10,
            flags: A,
            payload: b"x",
            ..SEG
        });
    }
    assert!(s.tracker.stats().evictions >= 450);
    let r = s.finish();
    let long = r.iter().find(|h| h.client == ep(C)).unwrap();
    assert!(!long.evicted);
    assert_eq!(long.outcome, Outcome::Established);
    assert_eq!(long.client_pkts, 502);
}

#[test]
fn a_lone_syn_kept_compact_gives_the_full_record_when_answered_later() {
    // The first SYN is held in the compact form; a retransmission with
    // other options, then the SYN-ACK and ACK, turn it into a full flow
    // that must know everything the first SYN said.
    let linux = OptionWriter::linux(100, 0, 7).build();
    let plain = OptionWriter::default().mss(1460).build();
    let mut s = Script::new();
    s.send(Seg {
        seq: 1000,
        flags: S | TcpFlags::ECE | TcpFlags::CWR,
        options: &linux,
        ..SEG
    });
    s.send(Seg {
        at_ms: 1000.0,
        seq: 1000,
        flags: S | TcpFlags::ECE | TcpFlags::CWR,
        options: &plain,
        ..SEG
    });
    s.send(Seg {
        at_ms: 1010.0,
        from: SV,
        to: C,
        seq: 5000,
        ack: 1001,
        flags: S | A | TcpFlags::ECE,
        ..SEG
    });
    s.send(Seg {
        at_ms: 1020.0,
        seq: 1001,
        ack: 5001,
        flags: A,
        ..SEG
    });
    let r = s.finish();
    assert_eq!(r.len(), 1);
    let h = &r[0];
    assert_eq!(h.outcome, Outcome::Established);
    assert_eq!(h.syn_count, 2);
    assert_eq!(h.ts_ns, 0, "the record starts at the first SYN");
    assert_eq!(h.setup_ns, Some(1020 * MS));
    assert_eq!(h.client_isn, Some(1000));
    assert_eq!(h.client_opts.unwrap().wscale, Some(7));
    assert_eq!(h.syn_retransmit_opts.unwrap().wscale, None);
    assert_eq!(h.ecn, Some(Ecn::Negotiated));
    assert_eq!(h.history, "ShA");
}

#[test]
fn finished_flows_leave_the_table_while_reading() {
    let mut s = Script::new();
    for i in 0..200u32 {
        let c = format!("10.2.0.1:{}", 20000 + i);
        let t = i as f64 * 100.0;
        s.send(Seg {
            at_ms: t,
            from: &c,
            seq: 1,
            ..SEG
        });
        s.send(Seg {
            at_ms: t + 1.0,
            from: SV,
            to: &c,
            seq: 9,
            ack: 2,
            flags: R | A,
            ..SEG
        });
    }
    // 20 s of capture: attempts older than the 5 s linger are already out.
    assert!(s.out.len() >= 140, "{} emitted", s.out.len());
    assert!(s.tracker.flows() < 70);
}

#[test]
fn sample_matches_its_ground_truth() {
    let mut tracker = Tracker::new(TrackerConfig::default());
    let mut out = Vec::new();
    for (t, f) in sample_packets() {
        tracker.handle_frame(t, LinkType::ETHERNET, &f, &mut out);
    }
    tracker.finish(&mut out);
    let scripts = synack_gen::sample_scripts();
    assert_eq!(out.len(), scripts.len());
    for s in &scripts {
        let e = s.expect();
        let h = out
            .iter()
            .find(|h| {
                h.client == s.client
                    && h.server == s.server
                    && h.vlan == u32::from(s.vlan.unwrap_or(0))
            })
            .unwrap_or_else(|| panic!("no record for {:?}", s.client));
        assert_eq!(h.outcome.as_str(), e.outcome, "{:?}", s.client);
        assert_eq!(h.syn_count, e.syn_count, "{:?}", s.client);
        assert_eq!(h.syn_synack_ns, e.syn_synack_ns, "{:?}", s.client);
        assert_eq!(h.synack_ack_ns, e.synack_ack_ns, "{:?}", s.client);
        assert_eq!(h.total_ns, e.total_ns, "{:?}", s.client);
        assert_eq!(h.setup_ns, e.setup_ns, "{:?}", s.client);
    }
}

#[test]
fn generated_mix_matches_its_ground_truth_counts() {
    let mut tracker = Tracker::new(TrackerConfig::default());
    let mut out = Vec::new();
    let mut by_outcome = std::collections::BTreeMap::new();
    let totals = synack_gen::stream::generate(7, 8 << 20, |t, f| {
        tracker.handle_frame(t, LinkType::ETHERNET, f, &mut out);
        for h in out.drain(..) {
            *by_outcome.entry(h.outcome.as_str()).or_insert(0u64) += 1;
        }
    });
    tracker.finish(&mut out);
    for h in out.drain(..) {
        *by_outcome.entry(h.outcome.as_str()).or_insert(0u64) += 1;
    }
    // Attempts still unresolved when the capture ends are `incomplete`;
    // they can only come from the classes that wait for an answer.
    let incomplete = by_outcome.remove("incomplete").unwrap_or(0);
    let mut missing = 0;
    for (k, want) in &totals.by_outcome {
        let got = by_outcome.get(k).copied().unwrap_or(0);
        assert!(got <= *want, "{k}: got {got}, generated {want}");
        if got < *want {
            assert!(
                ["timeout", "half_open", "established"].contains(k),
                "{k}: got {got}, generated {want}"
            );
        }
        missing += want - got;
    }
    assert_eq!(
        missing, incomplete,
        "{by_outcome:?} vs {:?}",
        totals.by_outcome
    );
    assert!(totals.attempts > 500);
}

/// Regression: a deadline at the end of the i64 range overflowed when the
/// sweep pushed it back (found by the conformance traces).
#[test]
fn timestamps_near_the_end_of_time_do_not_overflow() {
    let mut s = Script::new();
    let end = i64::MAX as f64 / MS as f64;
    s.send(Seg {
        at_ms: end - 10.0,
        seq: 7,
        ..SEG
    });
    s.send(Seg {
        at_ms: end - 5.0,
        seq: 9,
        ack: 8,
        ..SYNACK
    });
    s.send(Seg {
        at_ms: end,
        seq: 8,
        ack: 10,
        flags: A,
        ..SEG
    });
    s.send(Seg {
        at_ms: 0.0,
        from: "10.0.0.1:1",
        seq: 1,
        ..SEG
    });
    let r = s.finish();
    assert_eq!(r.len(), 2);
}

#[test]
fn decisions_come_when_the_outcome_is_known_not_when_the_flow_ends() {
    let mut s = Script::with(TrackerConfig {
        decisions: true,
        ..TrackerConfig::default()
    });
    s.send(Seg {
        at_ms: 0.0,
        seq: 7,
        ..SEG
    });
    s.send(Seg {
        at_ms: 1.0,
        seq: 50,
        ack: 8,
        ..SYNACK
    });
    assert!(
        s.tracker.take_decisions().is_empty(),
        "nothing decided by a SYN-ACK alone"
    );
    s.send(Seg {
        at_ms: 1.5,
        seq: 8,
        ack: 51,
        flags: A,
        ..SEG
    });
    let d = s.tracker.take_decisions();
    assert_eq!(d.len(), 1);
    assert_eq!(
        (d[0].outcome, d[0].total_ns),
        (Outcome::Established, Some(3 * MS / 2))
    );
    s.send(Seg {
        at_ms: 2.0,
        seq: 8,
        ack: 51,
        flags: A,
        payload: b"more",
        ..SEG
    });
    assert!(s.tracker.take_decisions().is_empty(), "announced once");
    s.send(Seg {
        at_ms: 3.0,
        from: "10.0.0.1:40001",
        seq: 1,
        ..SEG
    });
    s.send(Seg {
        at_ms: 3.1,
        from: SV,
        to: "10.0.0.1:40001",
        seq: 0,
        ack: 2,
        flags: R | A,
        ..SEG
    });
    assert_eq!(s.tracker.take_decisions()[0].outcome, Outcome::Refused);
    let r = s.finish();
    assert!(
        r.iter().all(|h| h.announced),
        "the final records say they were announced"
    );
}

/// Regression: the live decision and the final record were two rule lists;
/// a handshake whose ACK the capture missed but whose data it holds was
/// `established` in the record yet never announced live.
#[test]
fn live_decision_comes_with_client_data_when_the_ack_was_not_captured() {
    let mut s = Script::with(TrackerConfig {
        decisions: true,
        ..TrackerConfig::default()
    });
    s.send(Seg { seq: 7, ..SEG });
    s.send(Seg {
        at_ms: 1.0,
        seq: 50,
        ack: 8,
        ..SYNACK
    });
    // The pure ACK is lost to the capture; the request arrives.
    s.send(Seg {
        at_ms: 1.6,
        seq: 8,
        ack: 51,
        flags: A,
        payload: b"GET /",
        ..SEG
    });
    let d = s.tracker.take_decisions();
    assert_eq!(d.len(), 1, "announced at the data");
    assert_eq!(d[0].outcome, Outcome::Established);
    let r = s.finish();
    assert_eq!(r[0].outcome, d[0].outcome, "live and final agree");
}

/// Regression: with a small table, attempts evicted before their answer
/// were reported as `timeout` failures ("no answer over 0 µs"). An evicted
/// attempt is undecided (`incomplete`, `evicted: true`), not a failure.
#[test]
fn evicted_attempts_are_not_timeouts() {
    let mut s = Script::with(TrackerConfig {
        max_flows: 8,
        ..TrackerConfig::default()
    });
    for i in 0..100u32 {
        let c = format!("10.2.0.{}:{}", i % 250 + 1, 20000 + i);
        s.send(Seg {
            at_ms: f64::from(i) * 0.01,
            from: &c,
            seq: i,
            ..SEG
        });
    }
    let r = s.finish();
    let evicted: Vec<&Handshake> = r.iter().filter(|h| h.evicted).collect();
    assert!(evicted.len() >= 90, "{}", evicted.len());
    for h in evicted {
        assert_eq!(h.outcome, Outcome::Incomplete, "{h:?}");
        assert!(!h.outcome.is_failure());
    }
}

/// Issue 12, class 7: every tunnel a mirror delivers gives the records of
/// the bare packets, and the summary counts the packets of each. Frames a
/// tunnel cannot carry whole are left out of both runs: VLAN tags where
/// only the IP datagram travels (IP-in-IP, GRE, Teredo), the other IP
/// version for IP-in-IP (protocol 4 or 41) and Teredo (IPv6 only).
#[test]
fn tunneled_captures_give_the_records_of_the_bare_packets() {
    use synack_wire::Tunnel;
    use synack_wire::emit::encapsulate;
    let run = |frames: &[(i64, Vec<u8>)]| {
        let mut tracker = Tracker::new(TrackerConfig::default());
        let mut out = Vec::new();
        for (t, f) in frames {
            tracker.handle_frame(*t, LinkType::ETHERNET, f, &mut out);
        }
        tracker.finish(&mut out);
        (out, tracker.stats().clone())
    };
    let (underlay_a, underlay_b) = (
        "198.51.100.1".parse().unwrap(),
        "198.51.100.2".parse().unwrap(),
    );
    for tunnel in Tunnel::ALL {
        let bare: Vec<(i64, Vec<u8>)> = sample_packets()
            .into_iter()
            .filter(|(_, f)| {
                let tagged = f[12..14] == [0x81, 0x00];
                let v6 = f[12..14] == [0x86, 0xdd];
                match tunnel {
                    Tunnel::IpInIp => !tagged && !v6,
                    Tunnel::Ipv6InIp | Tunnel::Teredo => !tagged && v6,
                    Tunnel::Gre => !tagged,
                    _ => true,
                }
            })
            .collect();
        let wrapped: Vec<(i64, Vec<u8>)> = bare
            .iter()
            .map(|(t, f)| (*t, encapsulate(tunnel, underlay_a, underlay_b, f)))
            .collect();
        let (want, bare_stats) = run(&bare);
        let (got, stats) = run(&wrapped);
        assert!(want.len() >= 3, "{tunnel}: {} records", want.len());
        assert_eq!(got, want, "{tunnel}");
        assert!(bare_stats.tunneled.is_empty());
        assert_eq!(
            stats.tunneled.get(&tunnel),
            Some(&(bare.len() as u64)),
            "{tunnel}"
        );
        assert_eq!(stats.skipped, bare_stats.skipped, "{tunnel}");
    }
}

/// An established exchange on C -> SV: client ISN 100, server ISN 500,
/// handshake at 0-2 ms, then a request and an answer at 10 and 11 ms.
fn established_100_500(s: &mut Script) {
    s.send(Seg { seq: 100, ..SEG });
    s.send(Seg {
        at_ms: 1.0,
        seq: 500,
        ack: 101,
        ..SYNACK
    });
    s.send(Seg {
        at_ms: 2.0,
        seq: 101,
        ack: 501,
        flags: A,
        ..SEG
    });
    s.send(Seg {
        at_ms: 10.0,
        seq: 101,
        ack: 501,
        flags: A,
        payload: b"GET /",
        ..SEG
    });
    s.send(Seg {
        at_ms: 11.0,
        seq: 501,
        ack: 106,
        flags: A,
        payload: b"200 OK",
        ..SYNACK
    });
}

/// Closes the exchange of [`established_100_500`]: FINs both ways at 30
/// and 31 ms, the client's last ACK at 32 ms.
fn close_100_500(s: &mut Script) {
    for (at_ms, from, to, seq, ack) in [(30.0, C, SV, 106, 507), (31.0, SV, C, 507, 107)] {
        s.send(Seg {
            at_ms,
            from,
            to,
            seq,
            ack,
            flags: F | A,
            ..SEG
        });
    }
    s.send(Seg {
        at_ms: 32.0,
        seq: 107,
        ack: 508,
        flags: A,
        ..SEG
    });
}

fn by_isn(r: &[Handshake], isn: u32) -> &Handshake {
    r.iter()
        .find(|h| h.client_isn == Some(isn))
        .unwrap_or_else(|| panic!("no attempt with ISN {isn}: {r:?}"))
}

/// Issue 12, class 5: a SYN with another ISN on the 4-tuple of an open
/// connection (spoofed, injected, a flood reusing tuples) replaced the
/// connection's record with a new attempt.
#[test]
fn a_syn_with_another_isn_on_an_open_connection_is_an_attempt_of_its_own() {
    let mut s = Script::new();
    established_100_500(&mut s);
    s.send(Seg {
        at_ms: 20.0,
        seq: 9_000_000,
        ..SEG
    });
    // The server's challenge ACK (RFC 5961 section 4) for the connection.
    s.send(Seg {
        at_ms: 20.1,
        seq: 507,
        ack: 106,
        flags: A,
        ..SYNACK
    });
    close_100_500(&mut s);
    let stray_syns = s.tracker.stats().stray_syns;
    let r = s.finish();
    assert_eq!(r.len(), 2, "{r:?}");
    let real = by_isn(&r, 100);
    assert_eq!(real.outcome, Outcome::Established);
    assert_eq!((real.syn_count, real.setup_ns), (1, Some(2 * MS)));
    assert_eq!(
        real.conn_state,
        ConnState::SF,
        "closed by FINs, in one record"
    );
    let stray = by_isn(&r, 9_000_000);
    assert_eq!((stray.syn_count, stray.synack_count), (1, 0));
    // The capture ends 12 ms after it: it could still be answered.
    assert_eq!(stray.outcome, Outcome::Incomplete);
    assert_eq!(stray_syns, 1);
}

/// Issue 12, class 5: SYNs with another ISN while the real SYN waits for
/// its answer; each SYN joins the attempt whose ISN it carries.
#[test]
fn syns_join_the_attempt_whose_isn_they_carry() {
    let mut s = Script::new();
    s.send(Seg { seq: 100, ..SEG });
    s.send(Seg {
        at_ms: 300.0,
        seq: 777,
        ..SEG
    });
    s.send(Seg {
        at_ms: 1000.0,
        seq: 100,
        ..SEG
    });
    s.send(Seg {
        at_ms: 1300.0,
        seq: 777,
        ..SEG
    });
    s.send(Seg {
        at_ms: 1001.0 + 400.0,
        seq: 500,
        ack: 101,
        ..SYNACK
    });
    s.send(Seg {
        at_ms: 1402.0,
        seq: 101,
        ack: 501,
        flags: A,
        ..SEG
    });
    let r = s.finish();
    assert_eq!(r.len(), 2, "{r:?}");
    let real = by_isn(&r, 100);
    assert_eq!(real.outcome, Outcome::Established);
    assert_eq!(real.syn_count, 2);
    assert_eq!(real.setup_ns, Some(1402 * MS), "from the first SYN");
    let stray = by_isn(&r, 777);
    assert_eq!(stray.syn_count, 2);
    assert_eq!(stray.synack_count, 0);
}

/// Issue 12, class 5: when the server answers the other ISN, that is the
/// connection; the attempt it displaced is over.
#[test]
fn the_isn_the_server_answers_is_the_connection() {
    let mut s = Script::new();
    s.send(Seg { seq: 100, ..SEG });
    s.send(Seg {
        at_ms: 2000.0,
        seq: 777,
        ..SEG
    });
    s.send(Seg {
        at_ms: 2001.0,
        seq: 500,
        ack: 778,
        ..SYNACK
    });
    s.send(Seg {
        at_ms: 2002.0,
        seq: 778,
        ack: 501,
        flags: A,
        ..SEG
    });
    let r = s.finish();
    assert_eq!(r.len(), 2, "{r:?}");
    assert_eq!(by_isn(&r, 100).outcome, Outcome::Timeout);
    let taken = by_isn(&r, 777);
    assert_eq!(taken.outcome, Outcome::Established);
    assert_eq!(
        (taken.syn_synack_ns, taken.setup_ns),
        (Some(MS), Some(2 * MS))
    );
}

/// Issue 12, class 5: a RST outside its receiver's window (RFC 5961
/// section 3.2) closed the connection and named a sender; one inside it
/// still does.
#[test]
fn only_a_rst_in_the_receivers_window_closes_the_connection() {
    for (rst_seq, in_window) in [(4_000_000_000u32, false), (106 + 1000, true)] {
        let mut s = Script::new();
        established_100_500(&mut s);
        s.send(Seg {
            at_ms: 20.0,
            seq: rst_seq,
            flags: R,
            ..SEG
        });
        s.send(Seg {
            at_ms: 30.0,
            seq: 106,
            ack: 507,
            flags: A,
            payload: b"more",
            ..SEG
        });
        let ignored = s.tracker.stats().out_of_window_rsts;
        let r = s.finish();
        assert_eq!(r.len(), 1, "{r:?}");
        assert_eq!(r[0].outcome, Outcome::Established);
        if in_window {
            assert_eq!(r[0].rst_from, Some(Side::Client));
            assert_eq!(ignored, 0);
        } else {
            assert_eq!((r[0].rst_from, r[0].times.rst), (None, None));
            assert_eq!(ignored, 1);
        }
    }
}

/// Issue 12, class 5: once the connection is over (FINs both ways, the
/// TIME-WAIT rule of RFC 9293 section 3.6.1), a new ISN is a new attempt
/// at once.
#[test]
fn a_new_isn_after_the_close_is_a_new_attempt() {
    let mut s = Script::new();
    established_100_500(&mut s);
    close_100_500(&mut s);
    s.send(Seg {
        at_ms: 40.0,
        seq: 5000,
        ..SEG
    });
    s.send(Seg {
        at_ms: 41.0,
        seq: 9000,
        ack: 5001,
        ..SYNACK
    });
    let stray_syns = s.tracker.stats().stray_syns;
    let r = s.finish();
    assert_eq!(r.len(), 2, "{r:?}");
    assert_eq!(stray_syns, 0);
    assert_eq!(by_isn(&r, 5000).synack_count, 1);
}

/// Issue 12, class 6: a connection that outlived its record (idle past the
/// idle timeout, a RST its peer ignored, FINs retransmitted after the
/// close) got a second, mid-stream record for its late packets.
#[test]
fn late_packets_of_a_written_connection_make_no_second_record() {
    let idle_s = TrackerConfig::default().idle_ns as f64 / 1e9;
    let late_ms = (idle_s + 100.0) * 1000.0;
    for case in ["idle", "ignored rst", "late fin"] {
        let mut s = Script::new();
        established_100_500(&mut s);
        let mut late = 0;
        match case {
            "idle" => {}
            "ignored rst" => s.send(Seg {
                at_ms: 20.0,
                seq: 106,
                flags: R,
                ..SEG
            }),
            _ => close_100_500(&mut s),
        }
        // Other traffic goes on meanwhile, so the connection's record is
        // written when it is due (not when its own next packet comes).
        s.send(Seg {
            at_ms: late_ms - 1000.0,
            from: "10.0.0.9:5555",
            seq: 1,
            ..SEG
        });
        if case == "late fin" {
            s.send(Seg {
                at_ms: late_ms,
                from: SV,
                to: C,
                seq: 507,
                ack: 107,
                flags: F | A,
                ..SEG
            });
            late += 1;
        }
        if case != "late fin" {
            // The connection goes on long after its record was written.
            s.send(Seg {
                at_ms: late_ms,
                seq: 106,
                ack: 507,
                flags: A,
                payload: b"GET /again",
                ..SEG
            });
            s.send(Seg {
                at_ms: late_ms + 1.0,
                seq: 507,
                ack: 116,
                flags: A,
                payload: b"200 OK",
                ..SYNACK
            });
            late += 2;
        }
        let written = s.tracker.stats().after_record;
        let r = s.finish();
        assert_eq!(r.len(), 2, "{case}: {r:?}");
        assert_eq!(r[0].outcome, Outcome::Established, "{case}");
        assert_eq!(
            r[1].client,
            ep("10.0.0.9:5555"),
            "{case}: the other traffic"
        );
        assert_eq!(written, late, "{case}");
    }
}

/// Issue 12, class 6: what is remembered is where the numbers had got to;
/// another connection on the same 4-tuple, its numbers elsewhere, is a
/// record of its own.
#[test]
fn another_connection_on_a_written_4_tuple_is_not_taken_for_it() {
    let mut s = Script::new();
    established_100_500(&mut s);
    let later_ms = (TrackerConfig::default().idle_ns / MS + 1000) as f64;
    s.send(Seg {
        at_ms: later_ms - 500.0,
        from: "10.0.0.9:5555",
        seq: 1,
        ..SEG
    });
    s.send(Seg {
        at_ms: later_ms,
        seq: 2_000_000_000,
        ack: 3_000_000_000,
        flags: A,
        payload: b"other",
        ..SEG
    });
    let r = s.finish();
    assert_eq!(r.len(), 3, "{r:?}");
    assert_eq!(r[2].outcome, Outcome::Midstream);
    assert_eq!(r[2].client_bytes + r[2].server_bytes, 5);
}

/// Issue 12, class 10: where a RST came from. The record carries the TTL
/// of the SYN-ACK and of the RST; a server-side RST whose TTL is far from
/// the SYN-ACK's was not sent by the server's stack.
#[test]
fn a_rst_is_known_by_its_ttl() {
    for (rst_ttl, foreign) in [(57u8, false), (55, false), (250, true), (40, true)] {
        let mut s = Script::new();
        s.send(Seg { seq: 100, ..SEG });
        s.send(Seg {
            at_ms: 1.0,
            seq: 500,
            ack: 101,
            ttl: 57,
            ..SYNACK
        });
        s.send(Seg {
            at_ms: 1.5,
            seq: 501,
            ack: 101,
            flags: R | A,
            ttl: rst_ttl,
            ..SYNACK
        });
        let r = s.finish();
        assert_eq!(r.len(), 1);
        let h = &r[0];
        assert_eq!(h.outcome, Outcome::Reset);
        assert_eq!((h.server_ttl, h.rst_ttl), (Some(57), Some(rst_ttl)));
        assert_eq!(h.rst_ttl_mismatch(), foreign, "RST TTL {rst_ttl}");
    }
}

/// Issue 12, class 10: the Community ID joins a record with Zeek's,
/// Suricata's and Arkime's, whichever way the packets went.
#[test]
fn every_record_has_the_community_id_of_its_4_tuple() {
    let mut s = Script::new();
    s.send(Seg { seq: 100, ..SEG });
    let h = &s.finish()[0];
    let want = synack_core::community_id::tcp(ep(SV), ep(C), 0);
    assert!(want.is_some_and(|id| id.as_str().starts_with("1:") && id.as_str().len() == 30));
    assert_eq!(h.community_id(), want);
}
