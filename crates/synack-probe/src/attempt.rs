//! One connection attempt: a non-blocking connect() driven by mio, timed
//! with the monotonic clock around the syscall edges (connect() issued,
//! readiness returned; the error is the poll wake-up, a few µs), then the
//! errno, the error queue and TCP_INFO read, and the socket closed with RST
//! (SO_LINGER 0) unless asked to close gracefully, so no TIME_WAIT is left.

use crate::cause::Cause;
use mio::{Events, Interest, Poll, Token};
use socket2::{Domain, Protocol, Socket, Type};
use std::io;
use std::net::SocketAddr;
use std::os::fd::AsFd;
use std::time::{Duration, Instant, SystemTime};
use synack_sys::tcp::{TcpInfo, enable_recverr, read_error_queue, tcp_info, wait_readable};

#[derive(Clone, Debug)]
pub struct AttemptConfig {
    /// Give up after this long (the kernel may give up first: ETIMEDOUT).
    pub timeout: Duration,
    /// Bind to this source address (port 0: any).
    pub source: Option<SocketAddr>,
    /// Close with FIN instead of RST (leaves TIME_WAIT behind).
    pub graceful_close: bool,
    /// Connect with TCP Fast Open, offering these bytes in the SYN.
    pub tfo_data: Option<Vec<u8>>,
    /// Send from this interface (SO_BINDTODEVICE).
    pub interface: Option<String>,
    /// Then a TLS handshake on the connection, for this server name.
    pub tls: Option<(crate::tls::TlsProbe, String)>,
    /// With TLS: this request after the handshake (as 0-RTT early data
    /// when a ticket allows), timing the first byte of the answer.
    pub request: Option<Vec<u8>>,
}

impl Default for AttemptConfig {
    fn default() -> Self {
        AttemptConfig {
            timeout: Duration::from_secs(3),
            source: None,
            graceful_close: false,
            tfo_data: None,
            interface: None,
            tls: None,
            request: None,
        }
    }
}

#[derive(Clone, Debug)]
pub struct AttemptResult {
    pub target: SocketAddr,
    pub local: Option<SocketAddr>,
    pub started: SystemTime,
    /// connect() issued to the socket writable (or failed).
    pub connect: Duration,
    pub cause: Cause,
    pub errno: Option<i32>,
    pub tcp_info: Option<TcpInfo>,
    /// With TCP Fast Open: what became of it.
    pub tfo: Option<TfoResult>,
    /// With TCP Fast Open, or TLS and a request: from connect() to the
    /// first byte of the server's answer to the request, the time TFO and
    /// 0-RTT exist to shorten.
    pub first_response: Option<Duration>,
    /// With TLS: its handshake after the TCP one.
    pub tls: Option<crate::tls::TlsOutcome>,
    /// Attempts made for this result: 1, or more with retries.
    pub tries: u32,
    /// What the retries cost before this result: the failed attempts and
    /// the backoff waits between them.
    pub retry_cost: Duration,
}

pub use synack_core::TfoResult;

/// What TCP Fast Open did (RFC 7413), from what the attempt knows when its
/// handshake ends: the bytes `sendto(MSG_FASTOPEN)` put in the SYN (0: no
/// cookie was cached, so the SYN asked for one), TCP_INFO, and the connect
/// time. No I/O: tests feed it values.
pub fn tfo_verdict(bytes_in_syn: usize, info: Option<&TcpInfo>, connect: Duration) -> TfoResult {
    let acked = info.is_some_and(|i| i.options & TcpInfo::OPT_SYN_DATA != 0);
    // Data the SYN-ACK did not take is resent at once (a retransmission
    // too); a SYN with data that got no answer at all is resent without
    // data after the SYN timeout (1 s).
    let retried =
        info.is_some_and(|i| i.total_retrans > 0) && connect >= Duration::from_millis(900);
    match (bytes_in_syn, acked, retried) {
        (0, _, _) => TfoResult::CookieRequested,
        (_, true, _) => TfoResult::DataAccepted,
        (_, false, true) => TfoResult::Blocked,
        (_, false, false) => TfoResult::Fallback,
    }
}

fn local_failure(
    target: SocketAddr,
    started: SystemTime,
    t0: Instant,
    e: &io::Error,
) -> AttemptResult {
    let errno = e.raw_os_error().unwrap_or(0);
    failed_at_once(target, started, t0, Cause::Local { errno }, errno)
}

/// An attempt that ended before any answer could come.
fn failed_at_once(
    target: SocketAddr,
    started: SystemTime,
    t0: Instant,
    cause: Cause,
    errno: i32,
) -> AttemptResult {
    AttemptResult {
        target,
        local: None,
        started,
        connect: t0.elapsed(),
        cause,
        errno: Some(errno),
        tcp_info: None,
        tfo: None,
        first_response: None,
        tls: None,
        tries: 1,
        retry_cost: Duration::ZERO,
    }
}

/// A connect in flight: started, not yet answered.
#[derive(Debug)]
pub struct Pending {
    pub target: SocketAddr,
    stream: mio::net::TcpStream,
    started: SystemTime,
    t0: Instant,
    deadline: Instant,
    in_syn: Option<usize>,
    tfo_data: Option<Vec<u8>>,
    tls: Option<(crate::tls::TlsProbe, String)>,
    request: Option<Vec<u8>>,
}

/// What starting an attempt gave.
#[derive(Debug)]
pub enum Started {
    /// connect() is under way: wait for the socket to become writable.
    Pending(Pending),
    /// It failed before any packet left (or at once, e.g. no route).
    Done(AttemptResult),
}

/// Starts an attempt: socket, options, non-blocking connect() (or
/// `sendto(MSG_FASTOPEN)`), with the clock read right before the call.
pub fn start(target: SocketAddr, cfg: &AttemptConfig) -> Started {
    let started = SystemTime::now();
    let t0 = Instant::now();
    let socket = match Socket::new(
        Domain::for_address(target),
        Type::STREAM.nonblocking(),
        Some(Protocol::TCP),
    ) {
        Ok(s) => s,
        Err(e) => return Started::Done(local_failure(target, started, t0, &e)),
    };
    // Without the error queue an ICMP error is only an errno; with it, the
    // type, code and sender. Unsupported (Ok(false)): carry on without.
    if let Err(e) = enable_recverr(&socket, target.is_ipv6()) {
        return Started::Done(local_failure(target, started, t0, &e));
    }
    if !cfg.graceful_close {
        let _ = socket.set_linger(Some(Duration::ZERO));
    }
    if let Some(dev) = &cfg.interface
        && let Err(e) = socket.bind_device(Some(dev.as_bytes()))
    {
        return Started::Done(local_failure(target, started, t0, &e));
    }
    if let Some(src) = cfg.source
        && let Err(e) = socket.bind(&src.into())
    {
        return Started::Done(local_failure(target, started, t0, &e));
    }
    let t0 = Instant::now();
    let mut in_syn = None;
    let immediate = match &cfg.tfo_data {
        None => socket.connect(&target.into()),
        Some(data) => match synack_sys::tcp::fastopen_start(&socket, target, data) {
            Ok(n) => {
                in_syn = Some(n);
                Ok(())
            }
            Err(e) => Err(e),
        },
    };
    let stream = mio::net::TcpStream::from_std(socket.into());
    match immediate {
        Ok(()) => {}
        Err(e) if e.raw_os_error() == Some(synack_sys::errno::EINPROGRESS) => {}
        Err(e) => {
            // Failed at once: no route, no port, refused on loopback, ...
            let errno = e.raw_os_error().unwrap_or(0);
            let queued = read_error_queue(&stream).ok().flatten();
            let local = stream.local_addr().ok().map(|a| a.ip());
            let cause = match Cause::of_failure(errno, queued, None, false, local) {
                Cause::NoNeighbour if errno == synack_sys::errno::ENETUNREACH => {
                    Cause::Local { errno }
                }
                c => c,
            };
            return Started::Done(failed_at_once(target, started, t0, cause, errno));
        }
    }
    Started::Pending(Pending {
        target,
        stream,
        started,
        t0,
        deadline: t0 + cfg.timeout,
        in_syn,
        tfo_data: cfg.tfo_data.clone(),
        tls: cfg.tls.clone(),
        request: cfg.request.clone(),
    })
}

impl Pending {
    /// The socket, to register for WRITABLE readiness.
    pub fn source(&mut self) -> &mut mio::net::TcpStream {
        &mut self.stream
    }

    /// When the probe gives up on it.
    pub fn deadline(&self) -> Instant {
        self.deadline
    }

    /// The result when the event loop could not take the socket.
    pub fn finish_with_error(self, e: &io::Error) -> AttemptResult {
        local_failure(self.target, self.started, self.t0, e)
    }

    /// Reads the outcome once the socket is writable (or the deadline
    /// passed: `timed_out`). `woke` is when the event loop returned with the
    /// readiness: the end of the handshake as the probe saw it.
    pub fn finish(mut self, timed_out: bool, woke: Instant) -> AttemptResult {
        let connect = woke.saturating_duration_since(self.t0);
        let (target, started) = (self.target, self.started);
        let info = tcp_info(&self.stream).ok();
        let error = if timed_out {
            None
        } else {
            self.stream.take_error().ok().flatten()
        };
        // Writable without a pending error means connected (connect(2)).
        let connected = !timed_out && error.is_none();
        let local = self.stream.local_addr().ok();
        let tfo = self.in_syn.map(|n| tfo_verdict(n, info.as_ref(), connect));
        let mut first_response = None;
        let mut tls = None;
        let (cause, errno) = if connected {
            if let Some(data) = &self.tfo_data {
                if self.in_syn == Some(0) {
                    // Without a cookie the data did not go out with the SYN:
                    // send it now, as the application would.
                    let _ = std::io::Write::write(&mut self.stream, data);
                }
                first_response = first_byte(&self.stream, self.deadline).map(|at| at - self.t0);
            }
            if let Some((probe, host)) = &self.tls {
                // The same socket, blocking from here on, bounded by the
                // attempt's deadline (attempts with TLS run one at a time).
                tls = Some(match self.stream.as_fd().try_clone_to_owned() {
                    Ok(fd) => {
                        let mut stream = std::net::TcpStream::from(fd);
                        probe.handshake(&mut stream, host, self.deadline, self.request.as_deref())
                    }
                    Err(e) => crate::tls::TlsOutcome {
                        failure: Some(crate::tls::TlsFailure::Other(e.to_string())),
                        ..Default::default()
                    },
                });
            }
            if let Some(at) = tls.as_ref().and_then(|t| t.first_byte) {
                first_response = Some(at - self.t0);
            }
            (Cause::Established, None)
        } else {
            let errno = error
                .and_then(|e| e.raw_os_error())
                .unwrap_or(if timed_out {
                    synack_sys::errno::ETIMEDOUT
                } else {
                    0
                });
            let queued = read_error_queue(&self.stream).ok().flatten();
            let mut cause = Cause::of_failure(
                errno,
                queued,
                info.as_ref(),
                timed_out,
                local.map(|a| a.ip()),
            );
            // Our timeout came before the kernel's neighbour probes gave
            // up: if ARP never got an answer, no SYN left this host.
            if matches!(cause, Cause::Timeout { .. })
                && crate::neighbour::unresolved(self.target.ip())
            {
                cause = Cause::NoNeighbour;
            }
            (cause, Some(errno))
        };
        AttemptResult {
            first_response,
            tls,
            tries: 1,
            retry_cost: Duration::ZERO,
            target,
            local,
            started,
            connect,
            cause,
            errno,
            tcp_info: info,
            tfo,
        }
    }
}

/// Makes one attempt to `target` and waits for its outcome.
pub fn attempt(
    target: SocketAddr,
    cfg: &AttemptConfig,
    poll: &mut Poll,
    events: &mut Events,
) -> AttemptResult {
    let mut pending = match start(target, cfg) {
        Started::Done(r) => return r,
        Started::Pending(p) => p,
    };
    if let Err(e) = poll
        .registry()
        .register(pending.source(), Token(0), Interest::WRITABLE)
    {
        return local_failure(target, pending.started, pending.t0, &e);
    }
    let (timed_out, woke) = loop {
        let now = Instant::now();
        if now >= pending.deadline {
            break (true, now);
        }
        if poll.poll(events, Some(pending.deadline - now)).is_ok() && !events.is_empty() {
            break (false, Instant::now());
        }
    };
    let _ = poll.registry().deregister(pending.source());
    pending.finish(timed_out, woke)
}

/// Waits (until `deadline`) for the first byte the server sends, and
/// returns when it came. Used with TFO, where attempts run one at a time.
fn first_byte(stream: &mio::net::TcpStream, deadline: Instant) -> Option<Instant> {
    let mut buf = [0u8; 1];
    loop {
        match stream.peek(&mut buf) {
            Ok(n) if n > 0 => return Some(Instant::now()),
            Ok(_) => return None,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                let left = deadline.saturating_duration_since(Instant::now());
                if left.is_zero() {
                    return None;
                }
                // An error of the wait ends it early: the loop looks again.
                let _ = wait_readable(&[stream.as_fd()], left);
            }
            Err(_) => return None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn info(options: u8, retrans: u32) -> TcpInfo {
        TcpInfo {
            options,
            total_retrans: retrans,
            ..TcpInfo::default()
        }
    }

    #[test]
    fn tfo_verdicts_from_syn_bytes_tcp_info_and_time() {
        let ms = Duration::from_millis;
        let data = info(TcpInfo::OPT_SYN_DATA, 0);
        assert_eq!(
            tfo_verdict(0, Some(&data), ms(1)),
            TfoResult::CookieRequested
        );
        assert_eq!(tfo_verdict(5, Some(&data), ms(1)), TfoResult::DataAccepted);
        // Not taken and resent at once: the server ignored the data.
        assert_eq!(
            tfo_verdict(5, Some(&info(0, 1)), ms(2)),
            TfoResult::Fallback
        );
        // Not taken, and the SYN had to be retried after its timeout: the
        // path drops SYNs that carry data.
        assert_eq!(
            tfo_verdict(5, Some(&info(0, 1)), ms(1003)),
            TfoResult::Blocked
        );
        assert_eq!(tfo_verdict(5, None, ms(1)), TfoResult::Fallback);
    }
}
