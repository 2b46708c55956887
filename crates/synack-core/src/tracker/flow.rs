//! One flow (a 4-tuple on one VLAN) and what its packets say about the
//! handshake: where a handshake is decided. The flow keeps two views side by
//! side: the handshake facts (client = sender of the first SYN) and Zeek's
//! endpoint states (orig/resp, which Zeek's heuristics may flip).

use super::zeek::{ZeekConn, likely_server_port};
use crate::handshake::{Ecn, Handshake, IcmpInfo, Options, Outcome, Side, Source, TfoInfo, Times};
use std::net::{IpAddr, SocketAddr};
use synack_wire::SeqNumber;
use synack_wire::{TcpFlags, TcpView};

/// A flow's identity: VLAN plus both endpoints in canonical order, so that
/// both directions find the same entry. Addresses are kept as 128-bit
/// integers (IPv4 as mapped) so that hashing is a handful of multiplies.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(crate) struct FlowKey {
    pub vlan: u32,
    v6: bool,
    a_ip: u128,
    b_ip: u128,
    a_port: u16,
    b_port: u16,
}

fn bits(ip: IpAddr) -> u128 {
    match ip {
        IpAddr::V4(a) => u128::from(a.to_bits()),
        IpAddr::V6(a) => a.to_bits(),
    }
}

impl FlowKey {
    /// The key and whether `src` is endpoint `a`.
    pub fn new(vlan: u32, src: (IpAddr, u16), dst: (IpAddr, u16)) -> (FlowKey, bool) {
        let (s, d) = ((bits(src.0), src.1), (bits(dst.0), dst.1));
        let v6 = src.0.is_ipv6();
        if s <= d {
            (
                FlowKey {
                    vlan,
                    v6,
                    a_ip: s.0,
                    a_port: s.1,
                    b_ip: d.0,
                    b_port: d.1,
                },
                true,
            )
        } else {
            (
                FlowKey {
                    vlan,
                    v6,
                    a_ip: d.0,
                    a_port: d.1,
                    b_ip: s.0,
                    b_port: s.1,
                },
                false,
            )
        }
    }

    fn addr(&self, ip: u128) -> IpAddr {
        if self.v6 {
            IpAddr::V6(std::net::Ipv6Addr::from_bits(ip))
        } else {
            IpAddr::V4(std::net::Ipv4Addr::from_bits(ip as u32))
        }
    }

    pub fn a(&self) -> SocketAddr {
        SocketAddr::new(self.addr(self.a_ip), self.a_port)
    }

    pub fn b(&self) -> SocketAddr {
        SocketAddr::new(self.addr(self.b_ip), self.b_port)
    }
}

/// A SYN-ACK with a server ISN other than the first SYN-ACK's.
#[derive(Clone, Debug)]
pub(crate) struct OtherSynAck {
    isn: u32,
    opts: Options,
    ttl: u8,
    ack: u32,
    flags: TcpFlags,
    ts: i64,
    /// From the SYN it answered.
    syn_synack_ns: Option<i64>,
}

/// What an endpoint last acknowledged, and the window it offered then.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Advertised {
    /// The acknowledgment number: the peer's next sequence number.
    pub next: u32,
    /// The window field as sent.
    window: u16,
    in_syn: bool,
}

/// Where a client SYN belongs (see [`Flow::syn_fate`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum SynFate {
    /// This attempt: its first SYN or a retransmission.
    Same,
    /// A new attempt on the same 4-tuple: this one is over.
    NewAttempt,
    /// Another ISN while this attempt is open: kept aside as an attempt of
    /// its own, which the server's answer may make the connection.
    Stray,
}

/// Why a flow leaves the table.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum End {
    /// Closed or idle long enough that nothing more is expected.
    Expired,
    /// A new attempt reused the 4-tuple.
    Reused,
    /// The table was full and this flow was among the least recently seen.
    Evicted,
    /// The input ended; `now` is the last timestamp seen.
    Finished,
}

/// How long after its last packet a flow whose handshake is unresolved
/// could still change outcome at the end of a capture: Linux's second SYN
/// retransmission comes 3 s after the first SYN (1 s + 2 s, RFC 6298 backoff).
const STILL_OPEN_NS: i64 = 3_000_000_000;

/// Whether a SYN with `flags` asks for ECN: an ECN-setup SYN has ECE and
/// CWR (RFC 3168 section 6.1.1); AccECN sets AE as well. (setup, AccECN)
pub(crate) fn ecn_setup(flags: TcpFlags) -> (bool, bool) {
    let setup = flags.has(TcpFlags::ECE) && flags.has(TcpFlags::CWR);
    (setup, setup && flags.has(TcpFlags::AE))
}

/// The outcome of an attempt that no packet decided, from how its flow
/// ended: an evicted flow was written before its end (the table was full),
/// so it is undecided, not a failure; at the end of the input, one whose
/// SYN could still be answered is undecided too. Otherwise it was left
/// unanswered, or answered and never acknowledged.
pub(crate) fn undecided_outcome(end: End, now: i64, last_ts: i64, synack_seen: bool) -> Outcome {
    let may_still_change =
        end == End::Evicted || (end == End::Finished && now - last_ts < STILL_OPEN_NS);
    if may_still_change {
        Outcome::Incomplete
    } else if synack_seen {
        Outcome::HalfOpen
    } else {
        Outcome::Timeout
    }
}

#[derive(Clone, Debug)]
// Field order is the memory order (repr(C)): what every packet touches
// comes first, so a data packet reads one or two cache lines of its flow;
// the handshake details that only SYNs, SYN-ACKs and RSTs update follow.
#[repr(C)]
pub(crate) struct Flow {
    pub last_ts: i64,
    pub pkts: [u64; 2],
    pub bytes: [u64; 2],
    /// Endpoint `a` is Zeek's originator.
    pub a_is_orig: bool,
    /// Endpoint `a` is the client (sent the first SYN, or received the first
    /// SYN-ACK); `None` until one of those is seen.
    pub client_is_a: Option<bool>,
    /// The handshake completed and both sides sent data: plain packets
    /// have nothing more to tell the handshake fields.
    pub settled: bool,
    /// Its outcome was already announced (live capture).
    pub announced: bool,
    pub synack_count: u32,
    /// What each endpoint (`a`, `b`) last acknowledged and the window it
    /// offered: its RCV.NXT and RCV.WND, against which a RST sent to it is
    /// judged (RFC 5961 section 3.2).
    pub receive_window: [Option<Advertised>; 2],
    /// RSTs that fell outside their receiver's window: ignored by it.
    pub out_of_window_rsts: u32,
    pub zeek: ZeekConn,

    pub key: FlowKey,
    pub first_ts: i64,
    pub syn_count: u32,
    pub client_isn: Option<u32>,
    pub syn_ecn_setup: bool,
    pub accecn: bool,
    pub syn_data: u32,
    pub server_isn: Option<u32>,
    pub synack_ack: u32,
    pub ecn_negotiated: bool,
    pub mru_syn: Option<i64>,
    pub mru_synack: Option<i64>,
    /// A SYN-ACK arrived after the most recent SYN.
    pub synack_since_syn: bool,
    /// The latest SYN-ACK whose server ISN differs from the first one's,
    /// while the handshake is open: adopted if the client acknowledges it.
    pub other_synack: Option<Box<OtherSynAck>>,
    /// When the client first sent data after a SYN-ACK (the SYN's own
    /// data, TFO, does not count): evidence that the handshake completed.
    pub client_data_after_synack: Option<i64>,
    pub syn_synack_ns: Option<i64>,
    pub times: Times,
    pub rst_from: Option<Side>,
    /// IP TTL (hop limit) of the SYN-ACK taken and of the RST counted.
    pub server_ttl: Option<u8>,
    pub rst_ttl: Option<u8>,
    pub icmp: Option<IcmpInfo>,
    pub simultaneous_open: bool,
    /// No SYN-ACK was seen, yet the client sent ACKs after its SYN.
    pub client_acked_unseen_synack: bool,
    pub client_opts: Option<Options>,
    pub server_opts: Option<Options>,
    pub syn_retransmit_opts: Option<Options>,
    /// SYNs with another client ISN that came while this attempt was open
    /// (the latest such ISN; [`SynFate::Stray`]). Its own attempt, with
    /// its own record.
    pub stray: Option<Box<Flow>>,
}

impl Flow {
    pub fn new(
        key: FlowKey,
        from_a: bool,
        flags: TcpFlags,
        src_port: u16,
        dst_port: u16,
        ts: i64,
    ) -> Flow {
        // Zeek's orientation: a SYN's sender is the originator; a SYN-ACK's
        // sender tentatively too (flipped at the next ACK or data); for
        // anything else, the port heuristic decides.
        let (s, d) = (likely_server_port(src_port), likely_server_port(dst_port));
        let synack = flags.syn() && flags.ack();
        // Flipped when the source looks like a server and the destination
        // does not (or both do and the source port is lower).
        let looks_flipped = s && (!d || (!synack && src_port < dst_port));
        let sender_is_orig = (flags.syn() && !synack) || !looks_flipped;
        // A SYN-ACK not flipped by its ports may still be a stealth scan:
        // Zeek flips it only at the next ACK or data packet.
        let mut zeek = ZeekConn {
            pending_flip: synack && sender_is_orig,
            ..ZeekConn::default()
        };
        if !sender_is_orig {
            zeek.history.push('^');
        }
        Flow {
            settled: false,
            announced: false,
            key,
            a_is_orig: from_a == sender_is_orig,
            zeek,
            client_is_a: None,
            first_ts: ts,
            last_ts: ts,
            syn_count: 0,
            client_isn: None,
            client_opts: None,
            syn_retransmit_opts: None,
            syn_ecn_setup: false,
            accecn: false,
            syn_data: 0,
            synack_count: 0,
            server_isn: None,
            server_opts: None,
            synack_ack: 0,
            ecn_negotiated: false,
            mru_syn: None,
            mru_synack: None,
            synack_since_syn: false,
            client_data_after_synack: None,
            other_synack: None,
            syn_synack_ns: None,
            times: Times {
                first: ts,
                last: ts,
                ..Times::default()
            },
            rst_from: None,
            server_ttl: None,
            rst_ttl: None,
            icmp: None,
            simultaneous_open: false,
            client_acked_unseen_synack: false,
            pkts: [0; 2],
            bytes: [0; 2],
            receive_window: [None; 2],
            out_of_window_rsts: 0,
            stray: None,
        }
    }

    fn sent_by_client(&self, from_a: bool) -> Option<bool> {
        self.client_is_a.map(|c| c == from_a)
    }

    /// Where a SYN (without ACK) with `seq` from this side belongs. An
    /// attempt is (4-tuple, client ISN): a SYN with the attempt's ISN is a
    /// retransmission, whatever came between (RFC 5961 section 4's
    /// challenge ACK and the client's RST included). A new ISN is a new
    /// connection (RFC 9293 section 3.4: a new incarnation has a new ISN)
    /// only once this one is over; while it is open, a peer in SYN-RECEIVED
    /// or ESTABLISHED answers such a SYN with a challenge ACK (RFC 5961
    /// section 4) and the connection goes on, so the SYN is kept aside
    /// ([`SynFate::Stray`]) until the server answers it.
    pub fn syn_fate(&self, from_a: bool, seq: u32) -> SynFate {
        let new = match self.sent_by_client(from_a) {
            Some(true) => match self.client_isn {
                Some(isn) if isn != seq => {
                    return if self.over() {
                        SynFate::NewAttempt
                    } else {
                        SynFate::Stray
                    };
                }
                _ => false,
            },
            Some(false) => {
                // The server sending a SYN of its own: a simultaneous open
                // while the handshake is unresolved, else a new connection
                // in the other direction.
                let resolved = self.times.ack.is_some()
                    || self.zeek.finished()
                    || self.times.client_data.is_some();
                resolved && self.server_isn != Some(seq)
            }
            // Only a SYN-ACK or mid-stream packets so far: a SYN that the
            // SYN-ACK acknowledges belongs here, anything else is new.
            None => {
                !(self.synack_count > 0 && SeqNumber(self.synack_ack) == SeqNumber(seq) + 1)
                    && self.pkts != [0, 0]
            }
        };
        if new {
            SynFate::NewAttempt
        } else {
            SynFate::Same
        }
    }

    /// The connection is over: closed by FINs both ways, by a RST the
    /// receiver would accept, or refused by ICMP. A SYN with a new ISN
    /// then starts a new connection (RFC 9293 section 3.6.1 lets even a
    /// TIME-WAIT endpoint accept it).
    fn over(&self) -> bool {
        self.times.rst.is_some()
            || self.zeek.both_closed()
            || matches!(self.decision(), Some(Outcome::Unreachable))
    }

    /// Whether a SYN-ACK from endpoint `a` (or `b`) acknowledging `ack`
    /// answers the SYN kept aside rather than this attempt's: the server
    /// took the other ISN, so that is the connection.
    pub fn answers_stray(&self, from_a: bool, ack: u32) -> bool {
        self.sent_by_client(from_a) == Some(false)
            && self.stray.as_ref().is_some_and(|stray| {
                stray.client_isn.is_some_and(|isn| {
                    let acked = SeqNumber(ack);
                    acked == SeqNumber(isn) + 1 || acked == SeqNumber(isn) + 1 + stray.syn_data
                })
            })
    }

    /// Updates the flow with one TCP segment sent by endpoint `a` (or `b`).
    pub fn segment(
        &mut self,
        ts: i64,
        from_a: bool,
        tcp: &TcpView<'_>,
        payload_len: u32,
        ttl: u8,
        checksum_ok: bool,
    ) {
        self.last_ts = self.last_ts.max(ts);
        let side = usize::from(!from_a);
        self.pkts[side] += 1;
        self.bytes[side] += u64::from(payload_len);

        let flags = tcp.flags();
        let is_orig = from_a == self.a_is_orig;
        if !checksum_ok {
            self.zeek.bad_checksum(is_orig);
            return;
        }
        if self.zeek.pending_flip && !(flags.syn() && flags.ack()) {
            self.zeek.flip();
            self.a_is_orig = !self.a_is_orig;
        }
        let is_orig = from_a == self.a_is_orig;
        self.zeek.packet(
            is_orig,
            flags,
            tcp.seq(),
            tcp.ack(),
            payload_len,
            tcp.window(),
        );

        if flags.ack() && !flags.rst() {
            self.receive_window[side] = Some(Advertised {
                next: tcp.ack(),
                window: tcp.window(),
                in_syn: flags.syn(),
            });
        }
        if flags.syn() && !flags.ack() && !flags.rst() {
            self.syn(ts, from_a, tcp, payload_len);
        } else if flags.syn() && flags.ack() && !flags.rst() {
            self.synack(ts, from_a, tcp, payload_len, ttl);
        } else if !flags.syn() {
            self.after_handshake(ts, from_a, tcp, payload_len, ttl);
        }
    }

    fn syn(&mut self, ts: i64, from_a: bool, tcp: &TcpView<'_>, payload_len: u32) {
        let flags = tcp.flags();
        if self.client_is_a.is_none() {
            self.client_is_a = Some(from_a);
        }
        if self.sent_by_client(from_a) == Some(false) {
            // The server sent a SYN without ACK: simultaneous open (RFC 9293
            // section 3.5, figure 8).
            self.simultaneous_open = true;
            if self.server_isn.is_none() {
                self.server_isn = Some(tcp.seq());
                self.server_opts = Some(tcp.options());
            }
            return;
        }
        self.syn_count += 1;
        self.mru_syn = Some(ts);
        self.synack_since_syn = false;
        if self.times.syn.len() < Times::MAX_SYNS {
            self.times.syn.push(ts);
        }
        let opts = tcp.options();
        match self.client_isn {
            None => {
                self.client_isn = Some(tcp.seq());
                self.client_opts = Some(opts);
                (self.syn_ecn_setup, self.accecn) = ecn_setup(flags);
                self.syn_data = payload_len;
                if payload_len > 0 && self.times.client_data.is_none() {
                    self.times.client_data = Some(ts);
                }
            }
            Some(_) => {
                if self.syn_retransmit_opts.is_none() && self.client_opts.as_ref() != Some(&opts) {
                    // Timestamps change on every retransmission; compare the
                    // negotiated options only.
                    let first = self.client_opts.unwrap_or_default();
                    let differs = first.mss != opts.mss
                        || first.wscale != opts.wscale
                        || first.sack_permitted != opts.sack_permitted
                        || first.timestamps.is_some() != opts.timestamps.is_some()
                        || first.tfo != opts.tfo
                        || first.mptcp_subtype != opts.mptcp_subtype;
                    if differs {
                        self.syn_retransmit_opts = Some(opts);
                    }
                }
            }
        }
    }

    fn synack(&mut self, ts: i64, from_a: bool, tcp: &TcpView<'_>, payload_len: u32, ttl: u8) {
        let flags = tcp.flags();
        if self.client_is_a.is_none() {
            // The receiver of a SYN-ACK is the client.
            self.client_is_a = Some(!from_a);
        }
        if self.sent_by_client(from_a) == Some(true) {
            // The client's SYN-ACK in a simultaneous open.
            return;
        }
        self.synack_count += 1;
        self.mru_synack = Some(ts);
        if self.times.synack.len() < Times::MAX_SYNS {
            self.times.synack.push(ts);
        }
        // The leg is measured from the SYN that was answered to its first
        // SYN-ACK; retransmitted SYN-ACKs for the same SYN do not move it.
        if self.times.ack.is_none()
            && !self.synack_since_syn
            && let Some(syn) = self.mru_syn
        {
            self.syn_synack_ns = Some(ts - syn);
        }
        self.synack_since_syn = true;
        if self.server_opts.is_none() || self.synack_count == 1 {
            self.server_isn = Some(tcp.seq());
            self.server_opts = Some(tcp.options());
            self.server_ttl = Some(ttl);
            self.synack_ack = tcp.ack();
            self.ecn_negotiated = self.ecn_answer(flags);
        } else if self.times.ack.is_none() && self.server_isn != Some(tcp.seq()) {
            // Another ISN for the same SYN: two servers behind one address
            // (a load balancer handing the SYN to two backends), or a stale
            // SYN-ACK. The client's ACK tells which one it took.
            self.other_synack = Some(Box::new(OtherSynAck {
                isn: tcp.seq(),
                opts: tcp.options(),
                ttl,
                ack: tcp.ack(),
                flags,
                ts,
                syn_synack_ns: self.mru_syn.map(|syn| ts - syn),
            }));
        }
        if payload_len > 0 && self.times.server_data.is_none() {
            self.times.server_data = Some(ts);
        }
    }

    /// Whether a SYN-ACK with `flags` accepts the SYN's ECN setup: RFC 3168
    /// wants ECE without CWR; AccECN answers with any non-zero AE/CWR/ECE.
    fn ecn_answer(&self, flags: TcpFlags) -> bool {
        let ece = flags.has(TcpFlags::ECE);
        let cwr = flags.has(TcpFlags::CWR);
        let ae = flags.has(TcpFlags::AE);
        self.syn_ecn_setup
            && if self.accecn {
                ece || cwr || ae
            } else {
                ece && !cwr
            }
    }

    /// The window endpoint `a` (or `b`) offered, in bytes: scaled once
    /// both SYNs carried the option (RFC 7323 section 2.2; a SYN's own
    /// window is never scaled). Worked out only when a RST is judged.
    fn window_bytes(&self, of_a: bool, advertised: Advertised) -> u32 {
        let window = u32::from(advertised.window);
        if advertised.in_syn {
            return window;
        }
        let (client, server) = (self.client_opts.as_ref(), self.server_opts.as_ref());
        let (Some(c), Some(s)) = (client.and_then(|o| o.wscale), server.and_then(|o| o.wscale))
        else {
            return window;
        };
        let shift = if self.sent_by_client(of_a) == Some(true) {
            c
        } else {
            s
        };
        window << shift.min(14)
    }

    /// Whether a RST from endpoint `a` (or `b`) lies in its receiver's
    /// window (RFC 5961 section 3.2). A RST outside it is dropped by the
    /// receiver (a blind injection, or a stale one) and closes nothing.
    /// Before the receiver has acknowledged anything, there is nothing to
    /// judge by and the RST counts.
    fn rst_in_window(&self, from_a: bool, seq: u32) -> bool {
        let receiver = usize::from(from_a);
        self.receive_window[receiver].is_none_or(|advertised| {
            // At least a full unscaled window: the capture may have missed
            // a window update.
            let window = self.window_bytes(!from_a, advertised);
            seq.wrapping_sub(advertised.next) <= window.max(u32::from(u16::MAX))
        })
    }

    fn after_handshake(
        &mut self,
        ts: i64,
        from_a: bool,
        tcp: &TcpView<'_>,
        payload_len: u32,
        ttl: u8,
    ) {
        let flags = tcp.flags();
        if flags.rst() && !self.rst_in_window(from_a, tcp.seq()) {
            self.out_of_window_rsts += 1;
            return;
        }
        if self.settled && !flags.rst() {
            return;
        }
        let from_client = self.sent_by_client(from_a);
        if flags.rst() && self.times.rst.is_none() {
            self.times.rst = Some(ts);
            self.rst_ttl = Some(ttl);
            self.rst_from = Some(match from_client {
                Some(true) => Side::Client,
                Some(false) => Side::Server,
                None => {
                    if from_a == self.a_is_orig {
                        Side::Client
                    } else {
                        Side::Server
                    }
                }
            });
        }
        if from_client == Some(true)
            && flags.ack()
            && !flags.rst()
            && self.times.ack.is_none()
            && self.synack_count > 0
        {
            // The ACK that completes the handshake (RFC 9293 section 3.5)
            // acknowledges the server's ISN: the first SYN-ACK's, or another
            // one's, which then is the handshake's SYN-ACK (its ISN, options
            // and legs).
            let acked = SeqNumber(tcp.ack());
            if self
                .server_isn
                .is_some_and(|isn| acked == SeqNumber(isn) + 1)
            {
                self.times.ack = Some(ts);
            } else if let Some(other) = self.other_synack.take_if(|o| acked == SeqNumber(o.isn) + 1)
            {
                self.server_isn = Some(other.isn);
                self.server_opts = Some(other.opts);
                self.server_ttl = Some(other.ttl);
                self.synack_ack = other.ack;
                self.syn_synack_ns = other.syn_synack_ns;
                self.mru_synack = Some(other.ts);
                self.ecn_negotiated = self.ecn_answer(other.flags);
                self.times.ack = Some(ts);
            }
        }
        if from_client == Some(true)
            && flags.ack()
            && !flags.rst()
            && self.synack_count == 0
            && self.client_isn.is_some_and(|isn| {
                tcp.ack() != 0 && SeqNumber(tcp.seq()) == SeqNumber(isn) + 1 + self.syn_data
            })
        {
            self.client_acked_unseen_synack = true;
        }
        if payload_len > 0
            && from_client == Some(true)
            && self.synack_count > 0
            && self.client_data_after_synack.is_none()
        {
            self.client_data_after_synack = Some(ts);
        }
        if payload_len > 0 {
            let slot = if from_client == Some(false) {
                &mut self.times.server_data
            } else {
                &mut self.times.client_data
            };
            if slot.is_none() {
                *slot = Some(ts);
            }
        }
        self.settled = (self.times.ack.is_some() || self.client_acked_unseen_synack)
            && self.times.client_data.is_some()
            && self.times.server_data.is_some();
    }

    /// An ICMP error quoting a segment sent by endpoint `a` (or `b`).
    pub fn icmp(&mut self, ts: i64, quoted_from_a: bool, info: IcmpInfo) {
        self.last_ts = self.last_ts.max(ts);
        if self.sent_by_client(quoted_from_a) != Some(false) && self.icmp.is_none() {
            self.icmp = Some(info);
            self.times.icmp = Some(ts);
        }
    }

    /// When nothing more is expected: closed or reset and quiet for
    /// `linger`, or idle for the timeout that fits its state.
    pub fn deadline(&self, linger: i64, attempt_idle: i64, idle: i64) -> i64 {
        let unanswered = self.synack_count == 0 && self.client_isn.is_some();
        // The client's own RST (to a stale connection's challenge ACK, RFC
        // 5961 section 4) does not end its attempt: its SYN comes again.
        let client_reset_only = unanswered && self.rst_from == Some(Side::Client);
        let wait = if self.zeek.finished() && !client_reset_only {
            linger
        } else if unanswered {
            attempt_idle
        } else {
            idle
        };
        self.last_ts.saturating_add(wait)
    }

    /// The one rule table for outcomes (RFC 9293 section 3.5): the outcome
    /// the packets seen so far settle, which no later packet changes, or
    /// None while it is open. Live lines announce it as soon as it is
    /// known; the record takes it too, and only an undecided flow gets its
    /// outcome from how it ended ([`Flow::finish`]). None for a flow first
    /// seen mid-stream.
    pub fn decision(&self) -> Option<Outcome> {
        self.client_isn?;
        if self.times.ack.is_some() {
            return Some(Outcome::Established);
        }
        if self.synack_count > 0 {
            // Data from the client after the SYN-ACK completes the
            // handshake too, even when the pure ACK was not captured (data
            // in the SYN, TFO, is no such evidence). `reset` is a RST after
            // the SYN-ACK and before any data (docs/SCHEMA.md); one after
            // the client's data closes an established connection.
            return match (self.client_data_after_synack, self.times.rst) {
                (Some(data), Some(rst)) if data <= rst => Some(Outcome::Established),
                (_, Some(_)) => Some(Outcome::Reset),
                (Some(_), None) => Some(Outcome::Established),
                (None, None) => None,
            };
        }
        if self.client_acked_unseen_synack {
            // The client acknowledged a SYN-ACK the capture did not hold
            // (asymmetric routing, or a capture of one direction only).
            return Some(Outcome::Established);
        }
        if self.rst_from == Some(Side::Server) {
            return Some(Outcome::Refused);
        }
        self.icmp.map(|_| Outcome::Unreachable)
    }

    /// The record's outcome: the decision, or for a flow still undecided,
    /// what its end makes of it.
    fn decide_outcome(&self, end: End, now: i64) -> Outcome {
        if self.client_isn.is_none() {
            return Outcome::Midstream;
        }
        if let Some(settled) = self.decision() {
            return settled;
        }
        undecided_outcome(end, now, self.last_ts, self.synack_count > 0)
    }

    /// The record's `ts`: the first SYN, or the first packet.
    pub fn record_ts(&self) -> i64 {
        self.times.syn.first().copied().unwrap_or(self.first_ts)
    }

    /// The flow's record. Takes the flow's lists rather than the flow
    /// itself, so that 800 bytes are not moved for every record.
    pub fn finish(&mut self, end: End, now: i64, source: Source) -> Handshake {
        self.times.last = self.last_ts;
        let outcome = self.decide_outcome(end, now);
        let client_is_a = self.client_is_a.unwrap_or(self.a_is_orig);
        let (client, server) = if client_is_a {
            (self.key.a(), self.key.b())
        } else {
            (self.key.b(), self.key.a())
        };
        let (ci, si) = if client_is_a { (0, 1) } else { (1, 0) };
        let ack = self.times.ack;
        let total_ns = ack.and_then(|a| self.mru_syn.map(|s| a - s));
        let synack_ack_ns = ack.and_then(|a| self.mru_synack.map(|s| a - s));
        let setup_ns = ack.and_then(|a| self.times.syn.first().map(|s| a - s));
        let ecn = if self.ecn_negotiated {
            Some(Ecn::Negotiated)
        } else if self.syn_ecn_setup {
            Some(Ecn::Requested)
        } else {
            None
        };
        let data_acked = (self.syn_data > 0 && self.synack_count > 0).then(|| {
            self.client_isn
                .is_some_and(|isn| SeqNumber(self.synack_ack) == SeqNumber(isn) + 1 + self.syn_data)
        });
        let conn_state = self.zeek.conn_state();
        let ts_ns = self.record_ts();
        Handshake {
            ts_ns,
            source,
            client,
            server,
            vlan: self.key.vlan,
            outcome,
            conn_state,
            history: std::mem::take(&mut self.zeek.history),
            syn_count: self.syn_count,
            synack_count: self.synack_count,
            syn_synack_ns: self.syn_synack_ns,
            synack_ack_ns,
            total_ns,
            setup_ns,
            client_isn: self.client_isn,
            server_isn: self.server_isn,
            client_opts: self.client_opts,
            server_opts: self.server_opts,
            syn_retransmit_opts: self.syn_retransmit_opts,
            ecn,
            accecn: self.accecn,
            tfo: TfoInfo {
                syn_data: self.syn_data,
                data_acked,
            },
            icmp: self.icmp,
            rst_from: self.rst_from,
            server_ttl: self.server_ttl,
            rst_ttl: self.rst_ttl,
            simultaneous_open: self.simultaneous_open,
            times: std::mem::take(&mut self.times),
            client_pkts: self.pkts[ci],
            server_pkts: self.pkts[si],
            client_bytes: self.bytes[ci],
            server_bytes: self.bytes[si],
            evicted: end == End::Evicted,
            announced: self.announced,
            probe: None,
            trace: None,
        }
    }
}
