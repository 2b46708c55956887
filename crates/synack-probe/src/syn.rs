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
        use synack_core::{Handshake, IcmpInfo, Outcome, ProbeInfo, Source};
        let answer = self
            .synack
            .map(|x| x.0)
            .or(self.rst)
            .or(self.icmp.map(|x| x.0));
        let ns = |d: Duration| d.as_nanos() as i64;
        let outcome = if self.synack.is_some() {
            Outcome::HalfOpen
        } else if self.rst.is_some() {
            Outcome::Refused
        } else if self.icmp.is_some() {
            Outcome::Unreachable
        } else {
            Outcome::Timeout
        };
        // No local socket: the client is the unspecified address.
        let client = SocketAddr::new(
            if target.is_ipv6() {
                IpAddr::from([0u16; 8])
            } else {
                IpAddr::from([0u8; 4])
            },
            0,
        );
        let mut h = Handshake::observed(sent_ns, Source::Probe, client, target, outcome);
        h.synack_count = self.synacks;
        h.syn_synack_ns = self.synack.map(|x| ns(x.0));
        h.server_opts = self.synack.map(|x| x.1);
        h.icmp = self.icmp.map(|(_, t, c, from)| IcmpInfo {
            v6: target.is_ipv6(),
            icmp_type: t,
            code: c,
            from,
        });
        h.rst_from = self.rst.map(|_| synack_core::Side::Server);
        h.times.last = sent_ns + answer.map_or(0, ns);
        h.client_pkts = 1;
        h.server_pkts = u64::from(self.synacks + self.rsts + u32::from(self.icmp.is_some()));
        h.probe = Some(Box::new(ProbeInfo {
            target: name.to_string(),
            attempt,
            connect_ns: answer.map_or(0, ns),
            cause: Some(self.label().to_string()),
            ..ProbeInfo::default()
        }));
        h
    }
}

/// One probe of a [`scan`]: where it went and what came back.
#[derive(Clone, Debug)]
pub struct ScanProbe {
    pub target: SocketAddr,
    pub sent_at: Duration,
    pub replies: SynReplies,
}

/// The raw SYN scan without I/O (quinn-proto's rule): which SYN goes next
/// and which probe a reply belongs to. Time comes in as offsets from the
/// scan's start, read by the driver (kernel receive timestamps where it has
/// them); nothing here touches a socket or a clock, so tests feed it
/// packets and times.
///
/// Probe `i` carries sequence number `isn_base + i`: a SYN-ACK or RST
/// acknowledges `isn_base + i + 1` (RFC 9293 section 3.5) and an ICMP error
/// quotes `isn_base + i`, so every reply finds its own probe, duplicates
/// and retransmitted SYN-ACKs included.
pub struct Scan {
    targets: Vec<SocketAddr>,
    sources: Vec<IpAddr>,
    isn_base: SeqNumber,
    port_base: usize,
    options: Vec<u8>,
    total: usize,
    v6: bool,
    probes: Vec<ScanProbe>,
}

impl Scan {
    /// `per_target` SYNs to each of `targets` (one address family), sent
    /// from `sources[i]` to `targets[i]`, interleaved. `isn_base` and
    /// `port_base` should differ from scan to scan, so that two scans do
    /// not take each other's replies.
    pub fn new(
        targets: &[SocketAddr],
        sources: Vec<IpAddr>,
        per_target: u32,
        isn_base: u32,
        port_base: usize,
        options: &SynOptions,
    ) -> Scan {
        Scan {
            v6: targets.first().is_some_and(SocketAddr::is_ipv6),
            total: targets.len() * per_target as usize,
            targets: targets.to_vec(),
            sources,
            isn_base: SeqNumber(isn_base),
            port_base,
            options: options.encode(isn_base),
            probes: Vec::new(),
        }
    }

    /// SYNs not yet sent.
    pub fn remaining(&self) -> usize {
        self.total - self.probes.len()
    }

    /// The next SYN, written into `segment` (the TCP header; the kernel
    /// adds IP), counted as sent `now`; its target. None when all are sent.
    pub fn next_syn(&mut self, now: Duration, segment: &mut Vec<u8>) -> Option<SocketAddr> {
        let i = self.probes.len();
        if i >= self.total {
            return None;
        }
        let n = self.targets.len();
        let (target, source) = (self.targets[i % n], self.sources[i % n]);
        // Source ports 20000-64999 from the scan's offset.
        let sport = 20_000 + ((self.port_base + i) % 45_000) as u16;
        segment.clear();
        let spec = TcpSegmentSpec {
            options: &self.options,
            ..TcpSegmentSpec::new(
                SocketAddr::new(source, sport),
                target,
                (self.isn_base + i as u32).0,
                0,
                TcpFlags::SYN,
            )
        };
        tcp_segment(segment, &spec);
        self.probes.push(ScanProbe {
            target,
            sent_at: now,
            replies: SynReplies::default(),
        });
        Some(target)
    }

    /// A datagram from the raw TCP socket, received `at`: an IPv4 packet,
    /// or (IPv6 raw sockets strip the header) a TCP segment.
    pub fn on_tcp(&mut self, at: Duration, from: IpAddr, datagram: &[u8]) {
        let segment = if self.v6 {
            Some(datagram)
        } else {
            synack_wire::ip::ipv4(datagram, 0)
                .ok()
                .and_then(|h| datagram.get(h.payload_start..h.payload_end.min(datagram.len())))
        };
        let Some(view) = segment.and_then(|s| TcpView::new_checked(s).ok()) else {
            return;
        };
        let i = (SeqNumber(view.ack()) - (self.isn_base + 1)) as usize;
        let Some(p) = self.probes.get_mut(i) else {
            return;
        };
        if from != p.target.ip() || view.src_port() != p.target.port() {
            return;
        }
        let flags = view.flags();
        let after = at.saturating_sub(p.sent_at);
        if flags.syn() && flags.ack() {
            p.replies.synacks += 1;
            p.replies.synack.get_or_insert((after, view.options()));
        } else if flags.rst() {
            p.replies.rsts += 1;
            p.replies.rst.get_or_insert(after);
        }
    }

    /// A datagram from the raw ICMP socket, received `at`: an ICMP error
    /// quoting one of the probes' SYNs is that probe's answer.
    pub fn on_icmp(&mut self, at: Duration, from: IpAddr, datagram: &[u8]) {
        let n = datagram.len();
        let icmp_start = if self.v6 {
            0
        } else {
            synack_wire::ip::ipv4(datagram, 0).map_or(n, |h| h.payload_start)
        };
        let Some(m) = datagram.get(icmp_start..n).filter(|m| m.len() >= 8) else {
            return;
        };
        let quoted = if self.v6 {
            synack_wire::ip::ipv6(m, 8)
        } else {
            synack_wire::ip::ipv4(m, 8)
        };
        let Ok(q) = quoted else { return };
        let Some(t) = m.get(q.payload_start..q.payload_start + 8) else {
            return;
        };
        let seq = SeqNumber(u32::from_be_bytes([t[4], t[5], t[6], t[7]]));
        if let Some(p) = self.probes.get_mut((seq - self.isn_base) as usize)
            && p.replies.icmp.is_none()
        {
            p.replies.icmp = Some((at.saturating_sub(p.sent_at), m[0], m[1], from));
        }
    }

    /// Every probe sent and answered, and a grace for duplicates and
    /// retransmitted SYN-ACKs passed since the last was sent (three times
    /// the slowest answer, plus 5 ms).
    pub fn settled(&self, now: Duration) -> bool {
        if self.remaining() > 0 {
            return false;
        }
        let last_sent = self.probes.last().map_or(Duration::ZERO, |p| p.sent_at);
        let slowest = self
            .probes
            .iter()
            .map(|p| p.replies.first_answer())
            .try_fold(Duration::ZERO, |m, a| a.map(|a| m.max(a)));
        slowest.is_some_and(|s| now > last_sent + s * 3 + Duration::from_millis(5))
    }

    pub fn into_probes(self) -> Vec<ScanProbe> {
        self.probes
    }
}

/// Sends `per_target` SYNs to each target at `rate` per second (all of
/// them, interleaved), on one pair of raw sockets, and collects the replies
/// to every one until `wait` after the last was sent: the driver of a
/// [`Scan`].
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
    let mut scan = Scan::new(
        targets,
        sources,
        per_target,
        rng.next_u64() as u32,
        rng.range(0, 44_999) as usize,
        options,
    );
    let gap = if rate > 0.0 {
        Duration::from_secs_f64(1.0 / rate)
    } else {
        Duration::ZERO
    };
    let mut buf = vec![0u8; 2048];
    let mut segment = Vec::with_capacity(64);
    let (t0, t0_real) = (Instant::now(), realtime_ns());
    let drain = |scan: &mut Scan, buf: &mut [u8]| {
        while let Some((n, from, stamp)) = tcp.recv(buf) {
            scan.on_tcp(arrival(t0, t0_real, stamp), from, &buf[..n]);
        }
        while let Some((n, from, stamp)) = icmp.recv(buf) {
            scan.on_icmp(arrival(t0, t0_real, stamp), from, &buf[..n]);
        }
    };
    let mut i = 0u32;
    while scan.remaining() > 0 {
        // Pace: wait for this probe's slot, draining replies meanwhile.
        let slot = t0 + gap * i;
        while Instant::now() < slot {
            // Sleep in poll while the slot is far, spin only at the end.
            let left = slot.saturating_duration_since(Instant::now());
            if left > Duration::from_micros(300) {
                let _ = synack_sys::tcp::wait_readable(
                    &[tcp.as_fd(), icmp.as_fd()],
                    left.saturating_sub(Duration::from_millis(1)),
                );
            }
            drain(&mut scan, &mut buf);
        }
        let Some(target) = scan.next_syn(t0.elapsed(), &mut segment) else {
            break;
        };
        if let Err(e) = tcp.send_to(&segment, target.ip()) {
            // A full socket buffer: let it drain and retry once.
            if e.raw_os_error() == Some(synack_sys::errno::ENOBUFS)
                || e.kind() == io::ErrorKind::WouldBlock
            {
                drain(&mut scan, &mut buf);
                std::thread::sleep(Duration::from_micros(50));
                tcp.send_to(&segment, target.ip())?;
            } else {
                return Err(e);
            }
        }
        if i.is_multiple_of(64) {
            drain(&mut scan, &mut buf);
        }
        i += 1;
    }
    let end = Instant::now() + wait;
    while Instant::now() < end && !scan.settled(t0.elapsed()) {
        let wait = end
            .saturating_duration_since(Instant::now())
            .clamp(Duration::from_millis(1), Duration::from_millis(100));
        let _ = synack_sys::tcp::wait_readable(&[tcp.as_fd(), icmp.as_fd()], wait);
        drain(&mut scan, &mut buf);
    }
    Ok(scan.into_probes())
}

#[cfg(test)]
mod tests {
    //! The scan fed packets and times, as a driver would: no socket, no
    //! root.
    use super::*;
    use synack_wire::emit::{ethernet_icmp_unreachable, ethernet_tcp};

    const ISN: u32 = u32::MAX - 1; // the probes' numbers wrap
    const MS: Duration = Duration::from_millis(1);

    fn scan(targets: &[&str], per_target: u32) -> Scan {
        let targets: Vec<SocketAddr> = targets.iter().map(|t| t.parse().unwrap()).collect();
        let sources = vec!["192.0.2.100".parse().unwrap(); targets.len()];
        Scan::new(
            &targets,
            sources,
            per_target,
            ISN,
            7,
            &SynOptions::default(),
        )
    }

    /// The SYN sent as probe `i`: its source and destination, its sequence.
    fn sent(segment: &[u8]) -> (u16, u16, u32) {
        let v = TcpView::new_checked(segment).unwrap();
        (v.src_port(), v.dst_port(), v.seq())
    }

    /// An IPv4 packet (as a raw socket delivers it) from `from` to the
    /// scanner's port `to_port`.
    fn reply(from: &str, to_port: u16, ack: u32, flags: u16) -> Vec<u8> {
        let mut frame = Vec::new();
        let spec = TcpSegmentSpec::new(
            from.parse().unwrap(),
            SocketAddr::new("192.0.2.100".parse().unwrap(), to_port),
            9000,
            ack,
            flags,
        );
        ethernet_tcp(&mut frame, &spec);
        frame[14..].to_vec()
    }

    #[test]
    fn syns_interleave_targets_and_number_probes_across_the_wrap() {
        let mut s = scan(&["192.0.2.1:80", "192.0.2.2:81"], 2);
        let mut seg = Vec::new();
        let mut seen = Vec::new();
        while let Some(t) = s.next_syn(Duration::ZERO, &mut seg) {
            seen.push((t.port(), sent(&seg)));
        }
        assert_eq!(s.remaining(), 0);
        let want_seq = [ISN, u32::MAX, 0, 1];
        for (i, (port, (sport, dport, seq))) in seen.iter().enumerate() {
            assert_eq!(*port, [80, 81][i % 2]);
            assert_eq!(*dport, *port);
            assert_eq!(*sport, 20_007 + i as u16);
            assert_eq!(*seq, want_seq[i]);
        }
    }

    #[test]
    fn each_reply_finds_its_probe_with_duplicates_counted() {
        let mut s = scan(&["192.0.2.1:80", "192.0.2.2:81"], 1);
        let mut seg = Vec::new();
        s.next_syn(Duration::ZERO, &mut seg).unwrap();
        let sport0 = sent(&seg).0;
        s.next_syn(MS, &mut seg).unwrap();
        let sport1 = sent(&seg).0;
        let synack = TcpFlags::SYN | TcpFlags::ACK;
        let a = "192.0.2.1".parse().unwrap();
        let b = "192.0.2.2".parse().unwrap();
        // Probe 0: a SYN-ACK at 20 ms and its retransmission.
        s.on_tcp(
            20 * MS,
            a,
            &reply("192.0.2.1:80", sport0, ISN.wrapping_add(1), synack),
        );
        s.on_tcp(
            1020 * MS,
            a,
            &reply("192.0.2.1:80", sport0, ISN.wrapping_add(1), synack),
        );
        // Probe 1 (sequence wrapped to u32::MAX): RST, acknowledging 0.
        s.on_tcp(
            31 * MS,
            b,
            &reply("192.0.2.2:81", sport1, 0, TcpFlags::RST | TcpFlags::ACK),
        );
        // Strays: the wrong sender, an unknown sequence.
        s.on_tcp(
            5 * MS,
            b,
            &reply("192.0.2.1:80", sport0, ISN.wrapping_add(1), synack),
        );
        s.on_tcp(5 * MS, a, &reply("192.0.2.1:80", sport0, 12345, synack));
        assert!(!s.settled(40 * MS), "inside the grace for duplicates");
        assert!(s.settled(100 * MS));
        let p = s.into_probes();
        assert_eq!(p[0].replies.synacks, 2);
        assert_eq!(p[0].replies.synack.as_ref().map(|x| x.0), Some(20 * MS));
        assert_eq!(p[0].replies.label(), "open (SYN-ACK)");
        assert_eq!(p[1].replies.rst, Some(30 * MS), "timed from its own SYN");
        assert_eq!(p[1].replies.label(), "closed (RST)");
    }

    #[test]
    fn an_icmp_error_quoting_a_probe_is_its_answer() {
        let mut s = scan(&["192.0.2.1:80"], 1);
        let mut seg = Vec::new();
        s.next_syn(Duration::ZERO, &mut seg).unwrap();
        let sport = sent(&seg).0;
        let quoted = TcpSegmentSpec::new(
            SocketAddr::new("192.0.2.100".parse().unwrap(), sport),
            "192.0.2.1:80".parse().unwrap(),
            ISN,
            0,
            TcpFlags::SYN,
        );
        let mut frame = Vec::new();
        let router: IpAddr = "198.51.100.1".parse().unwrap();
        ethernet_icmp_unreachable(&mut frame, router, 13, &quoted);
        s.on_icmp(3 * MS, router, &frame[14..]);
        let p = s.into_probes();
        assert_eq!(p[0].replies.icmp, Some((3 * MS, 3, 13, router)));
        assert_eq!(p[0].replies.label(), "unreachable (ICMP)");
    }
}
