//! Raw SYN mode (`--syn`): half-open probes like `hping3 -S` or
//! `nmap -sS`, IPv4 and IPv6. A SYN with chosen options goes out of a raw
//! IPPROTO_TCP socket; the SYN-ACK or RST comes back on it, an ICMP error on
//! a raw ICMP socket. Every matching reply is counted (duplicates and
//! retransmitted SYN-ACKs included) until the deadline. Replies are timed
//! from the kernel's receive timestamps (SO_TIMESTAMPNS) against the clock
//! read just before sendto(). The kernel, which
//! has no socket for the probe's port, answers a SYN-ACK with RST itself.
//! Needs CAP_NET_RAW.

use std::io;
use std::net::{IpAddr, SocketAddr, UdpSocket};
use std::os::fd::AsFd;
use std::time::{Duration, Instant};
use synack_sys::raw::{RawProtocol, RawSocket};
use synack_wire::emit::{OptionWriter, TcpSegmentSpec, tcp_segment};
use synack_wire::tcp::TcpView;
use synack_wire::{SeqNumber, TcpFlags, TcpOptions};

/// The options the probe's SYN carries (`--syn-options`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SynOptions {
    pub mss: Option<u16>,
    pub wscale: Option<u8>,
    pub sack: bool,
    pub timestamps: bool,
    /// Ask for a TCP Fast Open cookie (RFC 7413).
    pub tfo_request: bool,
}

impl Default for SynOptions {
    /// What Linux sends: MSS 1460, SACK-permitted, timestamps, window scale 7.
    fn default() -> Self {
        SynOptions {
            mss: Some(1460),
            wscale: Some(7),
            sack: true,
            timestamps: true,
            tfo_request: false,
        }
    }
}

impl SynOptions {
    /// Parses `mss=1400,ws=7,sack,ts,tfo` (a subset, any order); `none` for
    /// a SYN without options.
    pub fn parse(s: &str) -> Result<SynOptions, String> {
        let mut o = SynOptions {
            mss: None,
            wscale: None,
            sack: false,
            timestamps: false,
            tfo_request: false,
        };
        for part in s
            .split(',')
            .map(str::trim)
            .filter(|p| !p.is_empty() && *p != "none")
        {
            match part.split_once('=') {
                Some(("mss", v)) => o.mss = Some(v.parse().map_err(|_| format!("bad mss {v:?}"))?),
                Some(("ws", v)) => {
                    o.wscale = Some(
                        v.parse()
                            .ok()
                            .filter(|w: &u8| *w <= 14)
                            .ok_or(format!("bad ws {v:?} (0-14)"))?,
                    )
                }
                None if part == "sack" => o.sack = true,
                None if part == "ts" => o.timestamps = true,
                None if part == "tfo" => o.tfo_request = true,
                _ => {
                    return Err(format!(
                        "unknown SYN option {part:?}: use mss=N, ws=N, sack, ts, tfo or none"
                    ));
                }
            }
        }
        Ok(o)
    }

    fn encode(&self, tsval: u32) -> Vec<u8> {
        let mut w = OptionWriter::default();
        if let Some(m) = self.mss {
            w = w.mss(m);
        }
        if self.sack {
            w = w.sack_permitted();
        }
        if self.timestamps {
            w = w.timestamps(tsval, 0);
        }
        if let Some(s) = self.wscale {
            w = w.nop().wscale(s);
        }
        if self.tfo_request {
            w = w.tfo(&[]);
        }
        w.build()
    }
}

/// What came back for one SYN.
#[derive(Clone, Debug, Default)]
pub struct SynReplies {
    /// The first SYN-ACK, its time and the options it carried.
    pub synack: Option<(Duration, TcpOptions)>,
    /// SYN-ACKs in all (more than one: retransmitted or duplicated).
    pub synacks: u32,
    pub rst: Option<Duration>,
    pub rsts: u32,
    /// ICMP error: (time, type, code, sender).
    pub icmp: Option<(Duration, u8, u8, IpAddr)>,
}

/// The source address the routing table picks for `target` (a UDP
/// socket's connect sends nothing).
fn route_source(target: SocketAddr) -> io::Result<IpAddr> {
    let any: SocketAddr = if target.is_ipv6() {
        "[::]:0".parse().unwrap()
    } else {
        "0.0.0.0:0".parse().unwrap()
    };
    let u = UdpSocket::bind(any)?;
    u.connect(target)?;
    Ok(u.local_addr()?.ip())
}

/// Wall-clock nanoseconds, the clock of the kernel's receive timestamps.
fn realtime_ns() -> i64 {
    synack_core::time::unix_ns(std::time::SystemTime::now())
}

/// When a reply arrived, as an offset from `t0`: from the kernel's receive
/// timestamp when there is one (no user-space wake-up in it), else now.
fn arrival(t0: Instant, t0_real: i64, stamp: Option<i64>) -> Duration {
    match stamp {
        Some(k) if k >= t0_real => Duration::from_nanos((k - t0_real) as u64),
        _ => t0.elapsed(),
    }
}

/// Sends one SYN to `target` and collects the replies until `wait` has
/// passed, or shortly after the answer (a grace for duplicates).
pub fn probe(target: SocketAddr, wait: Duration, options: &SynOptions) -> io::Result<SynReplies> {
    let mut probes = scan(&[target], 1, 0.0, wait, options)?;
    Ok(probes.pop().map(|p| p.replies).unwrap_or_default())
}

impl SynReplies {
    /// When the first answer of any kind came, after the SYN.
    pub fn first_answer(&self) -> Option<Duration> {
        [self.synack.map(|x| x.0), self.rst, self.icmp.map(|x| x.0)]
            .into_iter()
            .flatten()
            .min()
    }

    /// What the replies say, in the words of a SYN scan.
    pub fn label(&self) -> &'static str {
        if self.synack.is_some() {
            "open (SYN-ACK)"
        } else if self.rst.is_some() {
            "closed (RST)"
        } else if self.icmp.is_some() {
            "unreachable (ICMP)"
        } else {
            "filtered (no answer)"
        }
    }

    /// The probe's record: `half_open` for an open port (the SYN-ACK is
    /// answered with RST, never completed), `refused`, `unreachable` or
    /// `timeout`, with the SYN-ACK's options as `server_opts`.
    pub fn record(
        &self,
        target: SocketAddr,
        name: &str,
        attempt: u32,
        sent_ns: i64,
    ) -> synack_core::Handshake {
        use synack_core::{
            ConnState, Handshake, IcmpInfo, Outcome, ProbeInfo, Side, handshake::Times,
        };
        let answer = self
            .synack
            .map(|x| x.0)
            .or(self.rst)
            .or(self.icmp.map(|x| x.0));
        let ns = |d: Duration| d.as_nanos() as i64;
        let (outcome, state, history) = if self.synack.is_some() {
            (Outcome::HalfOpen, ConnState::S1, "Sh")
        } else if self.rst.is_some() {
            (Outcome::Refused, ConnState::REJ, "Sr")
        } else if self.icmp.is_some() {
            (Outcome::Unreachable, ConnState::S0, "S")
        } else {
            (Outcome::Timeout, ConnState::S0, "S")
        };
        Handshake {
            ts_ns: sent_ns,
            source: synack_core::Source::Probe,
            client: SocketAddr::new(
                if target.is_ipv6() {
                    IpAddr::from([0u16; 8])
                } else {
                    IpAddr::from([0u8; 4])
                },
                0,
            ),
            server: target,
            vlan: 0,
            outcome,
            conn_state: state,
            history: history.into(),
            syn_count: 1,
            synack_count: self.synacks,
            syn_synack_ns: self.synack.map(|x| ns(x.0)),
            synack_ack_ns: None,
            total_ns: None,
            setup_ns: None,
            client_isn: None,
            server_isn: None,
            client_opts: None,
            server_opts: self.synack.map(|x| x.1),
            syn_retransmit_opts: None,
            ecn: None,
            accecn: false,
            tfo: Default::default(),
            icmp: self.icmp.map(|(_, t, c, from)| IcmpInfo {
                v6: target.is_ipv6(),
                icmp_type: t,
                code: c,
                from,
            }),
            rst_from: self.rst.map(|_| Side::Server),
            simultaneous_open: false,
            times: Times {
                first: sent_ns,
                last: sent_ns + answer.map_or(0, ns),
                ..Times::default()
            },
            client_pkts: 1,
            server_pkts: u64::from(self.synacks + self.rsts + u32::from(self.icmp.is_some())),
            client_bytes: 0,
            server_bytes: 0,
            evicted: false,
            announced: false,
            probe: Some(Box::new(ProbeInfo {
                target: name.to_string(),
                attempt,
                connect_ns: answer.map_or(0, ns),
                cause: Some(self.label().to_string()),
                ..ProbeInfo::default()
            })),
        }
    }
}

/// One probe of a [`scan`]: where it went and what came back.
#[derive(Clone, Debug)]
pub struct ScanProbe {
    pub target: SocketAddr,
    pub sent_at: Duration,
    pub replies: SynReplies,
}

/// Sends `per_target` SYNs to each target at `rate` per second (all of
/// them, interleaved), on one pair of raw sockets, and collects the replies
/// to every one until `wait` after the last was sent. Replies are matched by
/// the acknowledged sequence number, so each probe counts its own.
pub fn scan(
    targets: &[SocketAddr],
    per_target: u32,
    rate: f64,
    wait: Duration,
    options: &SynOptions,
) -> io::Result<Vec<ScanProbe>> {
    let Some(first) = targets.first() else {
        return Ok(Vec::new());
    };
    let v6 = first.is_ipv6();
    if targets.iter().any(|t| t.is_ipv6() != v6) {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "a raw SYN scan takes one address family at a time",
        ));
    }
    let tcp = RawSocket::open(v6, RawProtocol::Tcp)?;
    let icmp = RawSocket::open(v6, RawProtocol::Icmp)?;
    // Room for a burst of replies while the loop is sending. Without
    // CAP_NET_ADMIN the default buffer stays, and a large fast scan may
    // lose replies to it.
    for socket in [&tcp, &icmp] {
        socket.force_receive_buffer(16 << 20)?;
    }
    let sources: Vec<IpAddr> = targets
        .iter()
        .map(|t| route_source(*t))
        .collect::<io::Result<_>>()?;
    let mut rng = synack_core::rng::Rng::new(realtime_ns() as u64);
    let isn_base = rng.next_u64() as u32;
    // Source ports from a per-scan offset in 20000-64999, so consecutive
    // scans do not reuse each other's 4-tuples.
    let port_base = rng.range(0, 44_999) as usize;
    let total = targets.len() * per_target as usize;
    let gap = if rate > 0.0 {
        Duration::from_secs_f64(1.0 / rate)
    } else {
        Duration::ZERO
    };
    let options = options.encode(isn_base);
    let mut probes: Vec<ScanProbe> = Vec::with_capacity(total);
    let mut buf = vec![0u8; 2048];
    let mut segment = Vec::with_capacity(64);
    let (t0, t0_real) = (Instant::now(), realtime_ns());
    let drain = |probes: &mut Vec<ScanProbe>, buf: &mut [u8]| {
        while let Some((n, from, stamp)) = tcp.recv(buf) {
            let at = arrival(t0, t0_real, stamp);
            let seg = if v6 {
                Some(&buf[..n])
            } else {
                synack_wire::ip::ipv4(&buf[..n], 0)
                    .ok()
                    .and_then(|h| buf.get(h.payload_start..h.payload_end.min(n)))
            };
            let Some(view) = seg.and_then(|s| TcpView::new_checked(s).ok()) else {
                continue;
            };
            let i = (SeqNumber(view.ack()) - (SeqNumber(isn_base) + 1)) as usize;
            let Some(p) = probes.get_mut(i) else { continue };
            if from != p.target.ip() || view.src_port() != p.target.port() {
                continue;
            }
            let f = view.flags();
            let rel = at.saturating_sub(p.sent_at);
            if f.syn() && f.ack() {
                p.replies.synacks += 1;
                p.replies.synack.get_or_insert((rel, view.options()));
            } else if f.rst() {
                p.replies.rsts += 1;
                p.replies.rst.get_or_insert(rel);
            }
        }
        while let Some((n, from, stamp)) = icmp.recv(buf) {
            let at = arrival(t0, t0_real, stamp);
            let icmp_start = if v6 {
                0
            } else {
                synack_wire::ip::ipv4(&buf[..n], 0).map_or(n, |h| h.payload_start)
            };
            let Some(m) = buf.get(icmp_start..n).filter(|m| m.len() >= 8) else {
                continue;
            };
            let quoted = if v6 {
                synack_wire::ip::ipv6(m, 8)
            } else {
                synack_wire::ip::ipv4(m, 8)
            };
            let Ok(q) = quoted else { continue };
            let Some(t) = m.get(q.payload_start..q.payload_start + 8) else {
                continue;
            };
            let seq = u32::from_be_bytes([t[4], t[5], t[6], t[7]]);
            if let Some(p) = probes.get_mut((SeqNumber(seq) - SeqNumber(isn_base)) as usize)
                && p.replies.icmp.is_none()
            {
                p.replies.icmp = Some((at.saturating_sub(p.sent_at), m[0], m[1], from));
            }
        }
    };
    for i in 0..total {
        let target = targets[i % targets.len()];
        let source = sources[i % targets.len()];
        let sport = 20_000 + ((port_base + i) % 45_000) as u16;
        let seq = (SeqNumber(isn_base) + i as u32).0;
        segment.clear();
        let spec = TcpSegmentSpec {
            options: &options,
            ..TcpSegmentSpec::new(
                SocketAddr::new(source, sport),
                target,
                seq,
                0,
                TcpFlags::SYN,
            )
        };
        tcp_segment(&mut segment, &spec);
        // Pace: wait for this probe's slot, draining replies meanwhile.
        let slot = t0 + gap * i as u32;
        while Instant::now() < slot {
            // Sleep in poll while the slot is far, spin only at the end.
            let left = slot.saturating_duration_since(Instant::now());
            if left > Duration::from_micros(300) {
                let ms = (left.as_millis() as i32).saturating_sub(1).max(0);
                synack_sys::tcp::wait_readable(&[tcp.as_fd(), icmp.as_fd()], ms);
            }
            drain(&mut probes, &mut buf);
        }
        probes.push(ScanProbe {
            target,
            sent_at: t0.elapsed(),
            replies: SynReplies::default(),
        });
        if let Err(e) = tcp.send_to(&segment, target.ip()) {
            // A full socket buffer: let it drain and retry once.
            if e.raw_os_error() == Some(synack_sys::errno::ENOBUFS)
                || e.kind() == io::ErrorKind::WouldBlock
            {
                drain(&mut probes, &mut buf);
                std::thread::sleep(Duration::from_micros(50));
                tcp.send_to(&segment, target.ip())?;
            } else {
                return Err(e);
            }
        }
        if i % 64 == 0 {
            drain(&mut probes, &mut buf);
        }
    }
    let last_sent = t0.elapsed();
    let end = Instant::now() + wait;
    while Instant::now() < end {
        // Every probe answered: stop after a grace for duplicates and
        // retransmitted SYN-ACKs (three times the slowest answer, + 5 ms).
        let slowest = probes
            .iter()
            .map(|p| p.replies.first_answer())
            .try_fold(Duration::ZERO, |m, a| a.map(|a| m.max(a)));
        if let Some(slowest) = slowest
            && t0.elapsed() > last_sent + slowest * 3 + Duration::from_millis(5)
        {
            break;
        }
        let ms = end
            .saturating_duration_since(Instant::now())
            .as_millis()
            .clamp(1, 100) as i32;
        synack_sys::tcp::wait_readable(&[tcp.as_fd(), icmp.as_fd()], ms);
        drain(&mut probes, &mut buf);
    }
    Ok(probes)
}
