//! One connection attempt: a non-blocking connect() driven by mio, timed
//! with the monotonic clock around the syscall edges (connect() issued,
//! readiness returned; the error is the poll wake-up, a few µs), then the
//! errno, the error queue and TCP_INFO read, and the socket closed with RST
//! (SO_LINGER 0) unless asked to close gracefully, so no TIME_WAIT is left.

use crate::cause::Cause;
use crate::sys::{TcpInfo, enable_recverr, read_error_queue, tcp_info};
use mio::{Events, Interest, Poll, Token};
use socket2::{Domain, Protocol, Socket, Type};
use std::io;
use std::net::SocketAddr;
use std::time::{Duration, Instant, SystemTime};

#[derive(Clone, Debug)]
pub struct AttemptConfig {
    /// Give up after this long (the kernel may give up first: ETIMEDOUT).
    pub timeout: Duration,
    /// Bind to this source address (port 0: any).
    pub source: Option<SocketAddr>,
    /// Close with FIN instead of RST (leaves TIME_WAIT behind).
    pub graceful_close: bool,
}

impl Default for AttemptConfig {
    fn default() -> Self {
        AttemptConfig {
            timeout: Duration::from_secs(3),
            source: None,
            graceful_close: false,
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
}

fn local_failure(
    target: SocketAddr,
    started: SystemTime,
    t0: Instant,
    e: &io::Error,
) -> AttemptResult {
    let errno = e.raw_os_error().unwrap_or(0);
    AttemptResult {
        target,
        local: None,
        started,
        connect: t0.elapsed(),
        cause: Cause::Local { errno },
        errno: Some(errno),
        tcp_info: None,
    }
}

/// Makes one attempt to `target`.
pub fn attempt(
    target: SocketAddr,
    cfg: &AttemptConfig,
    poll: &mut Poll,
    events: &mut Events,
) -> AttemptResult {
    let started = SystemTime::now();
    let t0 = Instant::now();
    let socket = match Socket::new(
        Domain::for_address(target),
        Type::STREAM.nonblocking(),
        Some(Protocol::TCP),
    ) {
        Ok(s) => s,
        Err(e) => return local_failure(target, started, t0, &e),
    };
    // Without the error queue an ICMP error is only an errno; with it, the
    // type, code and sender. Unsupported: carry on without.
    let _ = enable_recverr(&socket, target.is_ipv6());
    if !cfg.graceful_close {
        let _ = socket.set_linger(Some(Duration::ZERO));
    }
    if let Some(src) = cfg.source
        && let Err(e) = socket.bind(&src.into())
    {
        return local_failure(target, started, t0, &e);
    }
    let t0 = Instant::now();
    let immediate = socket.connect(&target.into());
    let mut ours_timed_out = false;
    let mut stream = mio::net::TcpStream::from_std(socket.into());
    match immediate {
        Ok(()) => {}
        Err(e) if e.raw_os_error() == Some(libc::EINPROGRESS) => {
            let registered = poll
                .registry()
                .register(&mut stream, Token(0), Interest::WRITABLE);
            if let Err(e) = registered {
                return local_failure(target, started, t0, &e);
            }
            let deadline = t0 + cfg.timeout;
            loop {
                let now = Instant::now();
                if now >= deadline {
                    ours_timed_out = true;
                    break;
                }
                if poll.poll(events, Some(deadline - now)).is_err() {
                    continue;
                }
                if !events.is_empty() {
                    break;
                }
            }
            let _ = poll.registry().deregister(&mut stream);
        }
        Err(e) => {
            // Failed at once: no route, no port, refused on loopback, ...
            let errno = e.raw_os_error().unwrap_or(0);
            let queued = read_error_queue(&stream).ok().flatten();
            let local = stream.local_addr().ok().map(|a| a.ip());
            let cause = match Cause::of_failure(errno, queued, None, false, local) {
                Cause::NoNeighbour if errno == libc::ENETUNREACH => Cause::Local { errno },
                c => c,
            };
            return AttemptResult {
                target,
                local: None,
                started,
                connect: t0.elapsed(),
                cause,
                errno: Some(errno),
                tcp_info: None,
            };
        }
    }
    let connect = t0.elapsed();
    let info = tcp_info(&stream).ok();
    let error = if ours_timed_out {
        None
    } else {
        stream.take_error().ok().flatten()
    };
    let connected = !ours_timed_out && error.is_none() && stream.peer_addr().is_ok();
    let local = stream.local_addr().ok();
    if connected {
        return AttemptResult {
            target,
            local,
            started,
            connect,
            cause: Cause::Established,
            errno: None,
            tcp_info: info,
        };
    }
    let errno = error
        .and_then(|e| e.raw_os_error())
        .unwrap_or(if ours_timed_out { libc::ETIMEDOUT } else { 0 });
    let queued = read_error_queue(&stream).ok().flatten();
    AttemptResult {
        target,
        local,
        started,
        connect,
        cause: Cause::of_failure(
            errno,
            queued,
            info.as_ref(),
            ours_timed_out,
            local.map(|a| a.ip()),
        ),
        errno: Some(errno),
        tcp_info: info,
    }
}
