//! Why an attempt ended as it did, from the errno, the socket's error queue
//! and TCP_INFO, and what that usually means, in plain words.

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;
use synack_core::cause::{icmp_meaning, icmp_name, icmp_words};
use synack_sys::tcp::{QueuedError, TcpInfo, errno_name};

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Cause {
    Established,
    /// RST answered the SYN (nothing in the error queue).
    Refused,
    /// An ICMP error ended the attempt (type, code and sender from the
    /// error queue).
    Icmp {
        errno: i32,
        v6: bool,
        icmp_type: u8,
        code: u8,
        from: Option<IpAddr>,
    },
    /// No answer. `kernel_gave_up`: ETIMEDOUT after the kernel's retries;
    /// otherwise the probe's own timeout ended it.
    Timeout {
        syns: u32,
        kernel_gave_up: bool,
    },
    /// EHOSTUNREACH without an ICMP error: the neighbour (ARP/ND) of the
    /// target or of the next hop never answered.
    NoNeighbour,
    /// The probe could not try: no route, no local port, no descriptor, ...
    Local {
        errno: i32,
    },
}

impl Cause {
    /// Classifies a failed attempt. `local` is the socket's own address: an
    /// ICMP error "from" it is the kernel reporting that neighbour
    /// resolution (ARP/ND) failed, not a router's answer.
    pub fn of_failure(
        errno: i32,
        queued: Option<QueuedError>,
        info: Option<&TcpInfo>,
        ours_timed_out: bool,
        local: Option<IpAddr>,
    ) -> Cause {
        let syns = 1 + info.map_or(0, |i| i.total_retrans);
        if let Some(q) = queued.filter(QueuedError::is_icmp) {
            if q.offender.is_some() && q.offender == local {
                return Cause::NoNeighbour;
            }
            return Cause::Icmp {
                errno: if errno != 0 { errno } else { q.errno },
                v6: q.origin == QueuedError::ORIGIN_ICMP6,
                icmp_type: q.icmp_type,
                code: q.code,
                from: q.offender,
            };
        }
        if ours_timed_out {
            return Cause::Timeout {
                syns,
                kernel_gave_up: false,
            };
        }
        match errno {
            synack_sys::errno::ECONNREFUSED => Cause::Refused,
            synack_sys::errno::ETIMEDOUT => Cause::Timeout {
                syns,
                kernel_gave_up: true,
            },
            synack_sys::errno::EHOSTUNREACH => Cause::NoNeighbour,
            _ => Cause::Local { errno },
        }
    }

    /// The record's `outcome`.
    pub fn outcome(&self) -> synack_core::Outcome {
        use synack_core::Outcome;
        match self {
            Cause::Established => Outcome::Established,
            Cause::Refused => Outcome::Refused,
            Cause::Icmp { .. } | Cause::NoNeighbour => Outcome::Unreachable,
            Cause::Timeout { .. } => Outcome::Timeout,
            Cause::Local { .. } => Outcome::LocalError,
        }
    }

    /// A short label for live lines: `refused`, `icmp admin-prohibited`, ...
    pub fn label(&self) -> String {
        match self {
            Cause::Established => "established".into(),
            Cause::Refused => "refused (RST)".into(),
            Cause::Icmp {
                v6,
                icmp_type,
                code,
                ..
            } => format!("unreachable ({})", icmp_name(*v6, *icmp_type, *code)),
            Cause::Timeout { syns, .. } => {
                format!("timeout ({syns} SYN{})", if *syns == 1 { "" } else { "s" })
            }
            Cause::NoNeighbour => "unreachable (no ARP/ND reply)".into(),
            Cause::Local { errno } => format!("local error ({})", errno_name(*errno)),
        }
    }

    /// The cause without its counts, for labels whose values must stay few
    /// (a Prometheus label): `refused (RST)`, `unreachable (host
    /// unreachable)`, `timeout`, ...
    pub fn kind(&self) -> String {
        match self {
            Cause::Timeout { .. } => "timeout".into(),
            other => other.label(),
        }
    }

    /// What the failure usually means and what to check.
    pub fn explain(&self, target: SocketAddr, elapsed: Duration) -> String {
        let (ip, port) = (target.ip(), target.port());
        match self {
            Cause::Established => String::new(),
            Cause::Refused => format!(
                "{ip} answered with RST: nothing listens on port {port}, or a firewall rejects with RST. Check the service and the port."
            ),
            Cause::Icmp { v6, icmp_type, code, from, .. } => format!(
                "{}: {}.",
                icmp_words(*v6, *icmp_type, *code, *from),
                icmp_meaning(*v6, *icmp_type, *code)
            ),
            Cause::Timeout { syns, kernel_gave_up } => format!(
                "No answer to {syns} SYN{} in {:.3} s{}: a firewall drops them silently, or the host is down. Check DROP rules and security groups on the path.",
                if *syns == 1 { "" } else { "s" },
                elapsed.as_secs_f64(),
                if *kernel_gave_up { " (the kernel gave up: ETIMEDOUT)" } else { "" }
            ),
            Cause::NoNeighbour => format!(
                "Nobody answered ARP/ND for {ip} or for the next hop: the host is down on the local network, or the address is wrong."
            ),
            Cause::Local { errno } => match *errno {
                synack_sys::errno::ENETUNREACH => format!("This host has no route to {ip}: check the routing table or -4/-6."),
                synack_sys::errno::EADDRNOTAVAIL => "No free local port, or the source address is not on this host (check --source and ip_local_port_range).".into(),
                synack_sys::errno::EADDRINUSE => "The source address and port are in use (check --source).".into(),
                synack_sys::errno::EMFILE | synack_sys::errno::ENFILE => "Out of file descriptors: raise `ulimit -n` or lower the concurrency.".into(),
                synack_sys::errno::EACCES | synack_sys::errno::EPERM => "The local firewall (or a security module) refused the connection.".into(),
                e => format!("connect failed locally with {}.", errno_name(e)),
            },
        }
    }
}

/// What TCP_INFO says about loss inside a handshake that succeeded: a
/// retransmitted SYN with a small `tcpi_rtt` means the SYN was lost; a
/// `tcpi_rtt` near the whole connect time means the SYN-ACK was lost (the
/// retransmitted SYN-ACK echoes the first SYN's timestamp).
pub fn handshake_loss(info: &TcpInfo, connect: Duration) -> Option<&'static str> {
    if info.total_retrans == 0 {
        return None;
    }
    let rtt = Duration::from_micros(u64::from(info.rtt_us));
    if connect >= Duration::from_millis(900) && rtt.as_secs_f64() >= 0.8 * connect.as_secs_f64() {
        Some("SYN-ACK lost: the server resent it and tcpi_rtt spans the retransmission timeout")
    } else {
        Some(
            "SYN lost: the kernel retransmitted it; tcpi_rtt (from the timestamp echo) stays small",
        )
    }
}
