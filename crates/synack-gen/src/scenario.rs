//! One connection attempt as a script: who, when, which trouble, and the
//! packets it produces as seen from the client's host (the vantage of a
//! capture taken where the application runs). `expect()` states the truth
//! the analyzer must find.

use std::net::{IpAddr, SocketAddr};
use synack_wire::TcpFlags;
use synack_wire::emit::{OptionWriter, TcpSegmentSpec, ethernet_icmp_unreachable, ethernet_tcp};

const S: u16 = TcpFlags::SYN;
const A: u16 = TcpFlags::ACK;
const F: u16 = TcpFlags::FIN;
const R: u16 = TcpFlags::RST;
const P: u16 = TcpFlags::PSH;
const SEC: i64 = 1_000_000_000;
/// Delay between the SYN-ACK's arrival and the client's ACK (kernel time).
pub const ACK_DELAY_NS: i64 = 20_000;

/// Which way a data segment goes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Dir {
    ToServer,
    ToClient,
}

/// TCP Fast Open in the SYN (RFC 7413).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Tfo {
    None,
    /// Empty cookie option: the server answers with a cookie.
    CookieRequest,
    /// A cookie and `len` bytes of data in the SYN, acknowledged by the SYN-ACK.
    Data(u32),
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Shape {
    /// Handshake, data each way, then FIN from the client.
    Established { data: Vec<(Dir, u32)> },
    /// The server answers the SYN with RST.
    Refused,
    /// A router answers with ICMP destination unreachable of this code.
    Unreachable { code: u8, from: IpAddr },
    /// `syns` SYNs, no answer.
    Timeout { syns: u32 },
    /// SYN-ACK sent `synacks` times, the final ACK never comes.
    HalfOpen { synacks: u32 },
    /// The client resets after the SYN-ACK.
    Reset,
    /// Data each way without a handshake in the capture.
    Midstream { data: Vec<(Dir, u32)> },
    /// One SYN just before the capture ends: it could still be answered.
    Incomplete,
}

#[derive(Clone, Debug)]
pub struct Script {
    pub start_ns: i64,
    pub client: SocketAddr,
    pub server: SocketAddr,
    pub vlan: Option<u16>,
    /// Round trip between the client's host and the server.
    pub rtt_ns: i64,
    /// SYNs lost before the one that is answered (each retransmitted after
    /// Linux's backoff: 1 s, then doubling).
    pub lost_syns: u32,
    pub client_isn: u32,
    pub server_isn: u32,
    pub tfo: Tfo,
    pub ecn: bool,
    pub shape: Shape,
}

/// The truth about a script, as the analyzer must report it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Expect {
    pub outcome: &'static str,
    pub syn_count: u32,
    pub syn_synack_ns: Option<i64>,
    pub synack_ack_ns: Option<i64>,
    pub total_ns: Option<i64>,
    pub setup_ns: Option<i64>,
}

/// Offsets of the SYNs from the first one (Linux: 1 s initial RTO, doubling).
fn syn_offsets(count: u32) -> Vec<i64> {
    let mut at = 0;
    let mut rto = SEC;
    (0..count)
        .map(|_| {
            let t = at;
            at += rto;
            rto *= 2;
            t
        })
        .collect()
}

impl Script {
    pub fn expect(&self) -> Expect {
        let syns = match &self.shape {
            Shape::Timeout { syns } => *syns,
            Shape::Midstream { .. } => 0,
            Shape::Incomplete => 1,
            _ => self.lost_syns + 1,
        };
        let mut e = Expect {
            outcome: "",
            syn_count: syns,
            syn_synack_ns: None,
            synack_ack_ns: None,
            total_ns: None,
            setup_ns: None,
        };
        let answered = syn_offsets(syns).last().copied().unwrap_or(0);
        e.outcome = match &self.shape {
            Shape::Established { .. } => {
                e.syn_synack_ns = Some(self.rtt_ns);
                e.synack_ack_ns = Some(ACK_DELAY_NS);
                e.total_ns = Some(self.rtt_ns + ACK_DELAY_NS);
                e.setup_ns = Some(answered + self.rtt_ns + ACK_DELAY_NS);
                "established"
            }
            Shape::Refused => "refused",
            Shape::Unreachable { .. } => "unreachable",
            Shape::Timeout { .. } => "timeout",
            Shape::HalfOpen { .. } => {
                e.syn_synack_ns = Some(self.rtt_ns);
                "half_open"
            }
            Shape::Reset => {
                e.syn_synack_ns = Some(self.rtt_ns);
                "reset"
            }
            Shape::Midstream { .. } => "midstream",
            Shape::Incomplete => "incomplete",
        };
        e
    }

    /// Calls `emit(ts_ns, frame)` for each packet, in time order.
    pub fn packets(&self, emit: &mut impl FnMut(i64, Vec<u8>)) {
        let c = self.client;
        let s = self.server;
        let seg = |src, dst, seq, ack, flags, options: &[u8], payload: &[u8], ecn| -> Vec<u8> {
            let mut out = Vec::with_capacity(80 + payload.len());
            let spec = TcpSegmentSpec {
                options,
                payload,
                ecn,
                vlan: self.vlan,
                ..TcpSegmentSpec::new(src, dst, seq, ack, flags)
            };
            ethernet_tcp(&mut out, &spec);
            out
        };
        let t0 = self.start_ns;
        let rtt = self.rtt_ns;
        let ecn_syn = if self.ecn {
            TcpFlags::ECE | TcpFlags::CWR
        } else {
            0
        };
        let ecn_synack = if self.ecn { TcpFlags::ECE } else { 0 };
        let tsval = (t0 / 1_000_000) as u32;
        let mut syn_opts = OptionWriter::linux(tsval, 0, 7);
        let mut synack_opts = OptionWriter::linux(tsval + 7, tsval, 9);
        let syn_payload: Vec<u8> = match self.tfo {
            Tfo::None => Vec::new(),
            Tfo::CookieRequest => {
                syn_opts = syn_opts.tfo(&[]);
                synack_opts = synack_opts.tfo(&[0xc0, 0x0c, 0x1e, 0x5a, 0x11, 0x22, 0x33, 0x44]);
                Vec::new()
            }
            Tfo::Data(len) => {
                syn_opts = syn_opts.tfo(&[0xc0, 0x0c, 0x1e, 0x5a, 0x11, 0x22, 0x33, 0x44]);
                vec![b'G'; len as usize]
            }
        };
        let syn_opts = syn_opts.build();
        let synack_opts = synack_opts.build();
        let (cisn, sisn) = (self.client_isn, self.server_isn);
        let mut cseq = cisn.wrapping_add(1).wrapping_add(syn_payload.len() as u32);
        let mut sseq = sisn.wrapping_add(1);

        if let Shape::Midstream { data } = &self.shape {
            let mut t = t0;
            exchange(&mut t, rtt, data, &mut cseq, &mut sseq, c, s, &seg, emit);
            close(t, rtt, cseq, sseq, c, s, &seg, emit);
            return;
        }
        let syns = match &self.shape {
            Shape::Timeout { syns } => *syns,
            Shape::Incomplete => 1,
            _ => self.lost_syns + 1,
        };
        let offsets = syn_offsets(syns);
        for off in &offsets {
            emit(
                t0 + off,
                seg(c, s, cisn, 0, S | ecn_syn, &syn_opts, &syn_payload, 0),
            );
        }
        let t_syn = t0 + offsets.last().copied().unwrap_or(0);
        let t_synack = t_syn + rtt;
        let synack_ack = cisn.wrapping_add(1).wrapping_add(syn_payload.len() as u32);
        let synack = |t| {
            (
                t,
                seg(
                    s,
                    c,
                    sisn,
                    synack_ack,
                    S | A | ecn_synack,
                    &synack_opts,
                    &[],
                    0,
                ),
            )
        };
        match &self.shape {
            Shape::Established { data } => {
                let (t, f) = synack(t_synack);
                emit(t, f);
                let mut t = t_synack + ACK_DELAY_NS;
                emit(t, seg(c, s, cseq, sseq, A, &[], &[], 0));
                exchange(&mut t, rtt, data, &mut cseq, &mut sseq, c, s, &seg, emit);
                close(t, rtt, cseq, sseq, c, s, &seg, emit);
            }
            Shape::Refused => emit(
                t_syn + rtt,
                seg(s, c, 0, cisn.wrapping_add(1), R | A, &[], &[], 0),
            ),
            Shape::Unreachable { code, from } => {
                let spec = TcpSegmentSpec {
                    options: &syn_opts,
                    vlan: self.vlan,
                    ..TcpSegmentSpec::new(c, s, cisn, 0, S)
                };
                let mut out = Vec::new();
                ethernet_icmp_unreachable(&mut out, *from, *code, &spec);
                emit(t_syn + rtt / 2, out);
            }
            Shape::Timeout { .. } | Shape::Incomplete => {}
            Shape::HalfOpen { synacks } => {
                for off in syn_offsets(*synacks) {
                    let (t, f) = synack(t_synack + off);
                    emit(t, f);
                }
            }
            Shape::Reset => {
                let (t, f) = synack(t_synack);
                emit(t, f);
                emit(t_synack + ACK_DELAY_NS, seg(c, s, cseq, 0, R, &[], &[], 0));
            }
            Shape::Midstream { .. } => unreachable!("handled above"),
        }
    }
}

type Seg<'a> = dyn Fn(SocketAddr, SocketAddr, u32, u32, u16, &[u8], &[u8], u8) -> Vec<u8> + 'a;

#[allow(clippy::too_many_arguments)]
fn exchange(
    t: &mut i64,
    rtt: i64,
    data: &[(Dir, u32)],
    cseq: &mut u32,
    sseq: &mut u32,
    c: SocketAddr,
    s: SocketAddr,
    seg: &Seg<'_>,
    emit: &mut impl FnMut(i64, Vec<u8>),
) {
    let payload = vec![0x5au8; 1460];
    for &(dir, len) in data {
        let body = &payload[..(len as usize).min(payload.len())];
        *t += rtt / 4 + 10_000;
        match dir {
            Dir::ToServer => {
                emit(*t, seg(c, s, *cseq, *sseq, P | A, &[], body, 0));
                *cseq = cseq.wrapping_add(body.len() as u32);
            }
            Dir::ToClient => {
                emit(*t, seg(s, c, *sseq, *cseq, P | A, &[], body, 0));
                *sseq = sseq.wrapping_add(body.len() as u32);
                emit(*t + 15_000, seg(c, s, *cseq, *sseq, A, &[], &[], 0));
            }
        }
    }
}

#[allow(clippy::too_many_arguments)]
fn close(
    t: i64,
    rtt: i64,
    cseq: u32,
    sseq: u32,
    c: SocketAddr,
    s: SocketAddr,
    seg: &Seg<'_>,
    emit: &mut impl FnMut(i64, Vec<u8>),
) {
    let t = t + 50_000;
    emit(t, seg(c, s, cseq, sseq, F | A, &[], &[], 0));
    emit(
        t + rtt,
        seg(s, c, sseq, cseq.wrapping_add(1), F | A, &[], &[], 0),
    );
    emit(
        t + rtt + ACK_DELAY_NS,
        seg(
            c,
            s,
            cseq.wrapping_add(1),
            sseq.wrapping_add(1),
            A,
            &[],
            &[],
            0,
        ),
    );
}

fn v4(last: u8, port: u16) -> SocketAddr {
    SocketAddr::new(IpAddr::from([198, 18, 0, last]), port)
}

fn v6(last: u16, port: u16) -> SocketAddr {
    SocketAddr::new(IpAddr::from([0xfd00, 0x1ab, 0, 0, 0, 0, 0, last]), port)
}

/// The bundled sample: every outcome class, IPv4 and IPv6, a VLAN, SYN
/// retransmission, TFO, ECN, on the lab's addresses (198.18.0.0/15 is the
/// benchmarking range of RFC 2544; fd00:1ab::/64 is unique-local).
pub fn sample_scripts() -> Vec<Script> {
    let base = 1_795_000_000 * SEC;
    let ms = 1_000_000;
    let req_resp = vec![
        (Dir::ToServer, 120),
        (Dir::ToClient, 1400),
        (Dir::ToClient, 600),
    ];
    let mut v = Vec::new();
    let mut add =
        |at_ms: i64, client: SocketAddr, server: SocketAddr, rtt_ms: f64, shape: Shape| {
            let n = v.len() as u32;
            v.push(Script {
                start_ns: base + at_ms * ms,
                client,
                server,
                vlan: None,
                rtt_ns: (rtt_ms * ms as f64) as i64,
                lost_syns: 0,
                client_isn: 0x1000_0000u32.wrapping_mul(n + 1).wrapping_add(12345),
                server_isn: 0x2222_0000u32.wrapping_mul(n + 3).wrapping_add(777),
                tfo: Tfo::None,
                ecn: false,
                shape,
            });
        };
    let est = |d: &Vec<(Dir, u32)>| Shape::Established { data: d.clone() };
    add(0, v4(2, 40001), v4(1, 80), 0.25, est(&req_resp));
    add(40, v4(2, 40002), v4(1, 80), 0.31, est(&req_resp));
    add(90, v4(2, 40003), v4(1, 443), 42.0, est(&req_resp));
    add(150, v6(2, 40004), v6(1, 443), 12.5, est(&req_resp));
    add(200, v4(2, 40005), v4(1, 80), 0.28, est(&req_resp)); // SYN lost once (below)
    add(260, v4(2, 40006), v4(1, 81), 0.09, Shape::Refused);
    add(300, v6(2, 40007), v6(1, 81), 0.11, Shape::Refused);
    add(
        350,
        v4(2, 40008),
        v4(77, 80),
        3.0,
        Shape::Unreachable {
            code: 1,
            from: IpAddr::from([198, 18, 0, 254]),
        },
    );
    add(
        400,
        v6(2, 40009),
        v6(77, 80),
        3.0,
        Shape::Unreachable {
            code: 1,
            from: IpAddr::from([0xfd00, 0x1ab, 0, 0, 0, 0, 0, 0xfe]),
        },
    );
    add(
        450,
        v4(2, 40010),
        v4(9, 80),
        1.0,
        Shape::Timeout { syns: 3 },
    );
    add(
        500,
        v4(2, 40011),
        v4(1, 8080),
        0.4,
        Shape::HalfOpen { synacks: 3 },
    );
    add(550, v4(2, 40012), v4(1, 8080), 0.4, Shape::Reset);
    add(
        600,
        v4(2, 40013),
        v4(1, 80),
        0.3,
        Shape::Midstream {
            data: req_resp.clone(),
        },
    );
    add(650, v4(2, 40014), v4(1, 443), 8.0, est(&req_resp)); // TFO cookie request
    add(700, v4(2, 40015), v4(1, 443), 8.0, est(&req_resp)); // TFO data in SYN
    add(750, v4(2, 40016), v4(1, 80), 0.3, est(&req_resp)); // ECN
    add(800, v4(3, 40017), v4(1, 80), 0.3, est(&req_resp)); // VLAN 100
    add(800, v4(3, 40017), v4(1, 80), 0.5, est(&req_resp)); // same tuple, VLAN 200
    add(9000, v4(2, 40018), v4(1, 80), 0.3, est(&req_resp));
    add(
        9990,
        v4(2, 40019),
        v4(1, 80),
        0.3,
        Shape::Timeout { syns: 1 },
    ); // still open at the end
    v[4].lost_syns = 1;
    v[13].tfo = Tfo::CookieRequest;
    v[14].tfo = Tfo::Data(64);
    v[15].ecn = true;
    v[16].vlan = Some(100);
    v[17].vlan = Some(200);
    v[19].shape = Shape::Incomplete;
    v
}

/// The sample's packets, time-ordered.
pub fn sample_packets() -> Vec<(i64, Vec<u8>)> {
    let mut all = Vec::new();
    for s in sample_scripts() {
        s.packets(&mut |t, f| all.push((t, f)));
    }
    all.sort_by_key(|(t, _)| *t);
    all
}
