//! TCP socket calls std does not offer: TCP_INFO read length-tolerantly,
//! the error queue (IP_RECVERR) that names ICMP rejections and their
//! sender, TCP Fast Open, the listen backlog, and an interface's index.

use std::io;
use std::os::fd::{AsRawFd, BorrowedFd};

/// The fields of the kernel's `struct tcp_info` (linux/tcp.h) that the lab
/// and probes read. Parsed by offset from what the kernel returned, so an
/// older or newer kernel with a shorter or longer struct works.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TcpInfo {
    pub state: u8,
    pub options: u8,
    pub snd_wscale: u8,
    pub rcv_wscale: u8,
    pub rto_us: u32,
    pub snd_mss: u32,
    pub rcv_mss: u32,
    pub rtt_us: u32,
    pub rttvar_us: u32,
    pub total_retrans: u32,
}

impl TcpInfo {
    pub const OPT_TIMESTAMPS: u8 = 1;
    pub const OPT_SACK: u8 = 2;
    pub const OPT_WSCALE: u8 = 4;
    pub const OPT_ECN: u8 = 8;
    pub const OPT_SYN_DATA: u8 = 32;

    /// Parses the bytes `getsockopt(TCP_INFO)` returned.
    pub fn parse(b: &[u8]) -> TcpInfo {
        let u32_at = |at: usize| {
            b.get(at..at + 4)
                .map_or(0, |x| u32::from_ne_bytes([x[0], x[1], x[2], x[3]]))
        };
        let byte = |at: usize| b.get(at).copied().unwrap_or(0);
        TcpInfo {
            state: byte(0),
            options: byte(5),
            snd_wscale: byte(6) & 0x0f,
            rcv_wscale: byte(6) >> 4,
            rto_us: u32_at(8),
            snd_mss: u32_at(16),
            rcv_mss: u32_at(20),
            rtt_us: u32_at(68),
            rttvar_us: u32_at(72),
            total_retrans: u32_at(100),
        }
    }
}

/// Reads TCP_INFO of a connected socket.
pub fn tcp_info(socket: &impl AsRawFd) -> io::Result<TcpInfo> {
    let mut buf = [0u8; 256];
    let mut len = buf.len() as libc::socklen_t;
    // SAFETY: `buf` is writable for `len` bytes and `len` points to its size;
    // the kernel writes at most `len` bytes and stores the length written.
    let rc = unsafe {
        libc::getsockopt(
            socket.as_raw_fd(),
            libc::IPPROTO_TCP,
            libc::TCP_INFO,
            buf.as_mut_ptr().cast(),
            &mut len,
        )
    };
    if rc != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(TcpInfo::parse(&buf[..(len as usize).min(buf.len())]))
}

/// Enables TCP Fast Open on a listener (RFC 7413) with a queue of `qlen`
/// pending TFO requests. `Ok(false)` on a kernel without TFO.
pub fn set_fastopen(listener: &impl AsRawFd, qlen: i32) -> io::Result<bool> {
    crate::sockopt::set_int(listener, libc::IPPROTO_TCP, libc::TCP_FASTOPEN, qlen)
}

/// Connects with `sendto(MSG_FASTOPEN)`: with a cached cookie the data goes
/// in the SYN; without one the kernel sends a cookie request and the data
/// after the handshake. Blocking; returns the connected stream.
pub fn fastopen_connect(
    addr: std::net::SocketAddr,
    data: &[u8],
) -> io::Result<std::net::TcpStream> {
    use std::os::fd::FromRawFd;
    let (family, storage, len) = sockaddr(addr);
    // SAFETY: socket takes plain integers; the descriptor is owned below.
    let fd = unsafe { libc::socket(family, libc::SOCK_STREAM | libc::SOCK_CLOEXEC, 0) };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: `fd` is a fresh socket owned by nobody else.
    let stream = unsafe { std::net::TcpStream::from_raw_fd(fd) };
    // SAFETY: `data` is readable for its length; `storage` holds a valid
    // sockaddr of `len` bytes for the address family of the socket.
    let rc = unsafe {
        libc::sendto(
            fd,
            data.as_ptr().cast(),
            data.len(),
            libc::MSG_FASTOPEN,
            (&storage as *const libc::sockaddr_storage).cast(),
            len,
        )
    };
    if rc < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(stream)
}

/// Starts a TCP Fast Open connect on a non-blocking socket: `sendto` with
/// MSG_FASTOPEN. Returns how many bytes went into the SYN (0 when the
/// kernel had no cookie and sent a cookie request instead), or the error.
pub fn fastopen_start(
    socket: &impl AsRawFd,
    addr: std::net::SocketAddr,
    data: &[u8],
) -> io::Result<usize> {
    let (_, storage, len) = sockaddr(addr);
    // SAFETY: `data` is readable for its length; `storage` holds a valid
    // sockaddr of `len` bytes for the socket's family.
    let rc = unsafe {
        libc::sendto(
            socket.as_raw_fd(),
            data.as_ptr().cast(),
            data.len(),
            libc::MSG_FASTOPEN,
            (&storage as *const libc::sockaddr_storage).cast(),
            len,
        )
    };
    if rc >= 0 {
        return Ok(rc as usize);
    }
    let e = io::Error::last_os_error();
    if e.raw_os_error() == Some(libc::EINPROGRESS) {
        Ok(0)
    } else {
        Err(e)
    }
}

pub(crate) fn sockaddr(
    addr: std::net::SocketAddr,
) -> (libc::c_int, libc::sockaddr_storage, libc::socklen_t) {
    // SAFETY: sockaddr_storage is plain data; zeroed is a valid value, and
    // it is large and aligned enough for sockaddr_in and sockaddr_in6.
    let mut storage: libc::sockaddr_storage = unsafe { std::mem::zeroed() };
    match addr {
        std::net::SocketAddr::V4(a) => {
            let sin = libc::sockaddr_in {
                sin_family: libc::AF_INET as libc::sa_family_t,
                sin_port: a.port().to_be(),
                sin_addr: libc::in_addr {
                    s_addr: u32::from_ne_bytes(a.ip().octets()),
                },
                sin_zero: [0; 8],
            };
            // SAFETY: see above: the storage has room for a sockaddr_in.
            unsafe { std::ptr::write((&mut storage as *mut libc::sockaddr_storage).cast(), sin) };
            (
                libc::AF_INET,
                storage,
                std::mem::size_of::<libc::sockaddr_in>() as libc::socklen_t,
            )
        }
        std::net::SocketAddr::V6(a) => {
            let sin6 = libc::sockaddr_in6 {
                sin6_family: libc::AF_INET6 as libc::sa_family_t,
                sin6_port: a.port().to_be(),
                sin6_flowinfo: a.flowinfo(),
                sin6_addr: libc::in6_addr {
                    s6_addr: a.ip().octets(),
                },
                sin6_scope_id: a.scope_id(),
            };
            // SAFETY: see above: the storage has room for a sockaddr_in6.
            unsafe { std::ptr::write((&mut storage as *mut libc::sockaddr_storage).cast(), sin6) };
            (
                libc::AF_INET6,
                storage,
                std::mem::size_of::<libc::sockaddr_in6>() as libc::socklen_t,
            )
        }
    }
}

/// Asks the kernel to queue ICMP errors about this socket with their
/// details (IP_RECVERR / IPV6_RECVERR), so a failed connect can say which
/// ICMP type and code ended it and who sent it.
/// `Ok(false)` where the kernel does not offer it.
pub fn enable_recverr(socket: &impl AsRawFd, v6: bool) -> io::Result<bool> {
    let (level, name) = if v6 {
        (libc::IPPROTO_IPV6, libc::IPV6_RECVERR)
    } else {
        (libc::IPPROTO_IP, libc::IP_RECVERR)
    };
    crate::sockopt::set_int(socket, level, name, 1)
}

/// One entry of a socket's error queue (`struct sock_extended_err`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct QueuedError {
    pub errno: i32,
    /// SO_EE_ORIGIN_*: 1 local, 2 ICMP, 3 ICMPv6.
    pub origin: u8,
    pub icmp_type: u8,
    pub code: u8,
    /// Who sent the ICMP error (SO_EE_OFFENDER).
    pub offender: Option<std::net::IpAddr>,
}

impl QueuedError {
    pub const ORIGIN_LOCAL: u8 = 1;
    pub const ORIGIN_ICMP: u8 = 2;
    pub const ORIGIN_ICMP6: u8 = 3;

    pub fn is_icmp(&self) -> bool {
        self.origin == Self::ORIGIN_ICMP || self.origin == Self::ORIGIN_ICMP6
    }

    /// Parses `struct sock_extended_err` and the offender address after it.
    pub fn parse(b: &[u8]) -> Option<QueuedError> {
        if b.len() < 16 {
            return None;
        }
        let errno = u32::from_ne_bytes([b[0], b[1], b[2], b[3]]) as i32;
        let offender = b.get(16..).and_then(|sa| {
            let family = u16::from_ne_bytes([*sa.first()?, *sa.get(1)?]);
            match i32::from(family) {
                libc::AF_INET => {
                    let a: [u8; 4] = sa.get(4..8)?.try_into().ok()?;
                    Some(std::net::IpAddr::from(a))
                }
                libc::AF_INET6 => {
                    let a: [u8; 16] = sa.get(8..24)?.try_into().ok()?;
                    Some(std::net::IpAddr::from(a))
                }
                _ => None,
            }
        });
        Some(QueuedError {
            errno,
            origin: b[4],
            icmp_type: b[5],
            code: b[6],
            offender,
        })
    }
}

/// Reads one entry from the socket's error queue, if there is one.
pub fn read_error_queue(socket: &impl AsRawFd) -> io::Result<Option<QueuedError>> {
    let mut data = [0u8; 64];
    // u64 for the alignment cmsghdr needs.
    let mut control = [0u64; 64];
    let mut iov = libc::iovec {
        iov_base: data.as_mut_ptr().cast(),
        iov_len: data.len(),
    };
    // SAFETY: msghdr is plain data; zeroed is a valid value before filling it.
    let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
    msg.msg_iov = &mut iov;
    msg.msg_iovlen = 1;
    msg.msg_control = control.as_mut_ptr().cast();
    msg.msg_controllen = std::mem::size_of_val(&control);
    // SAFETY: every pointer in `msg` refers to a live local buffer of the
    // length given, for the duration of the call.
    let n = unsafe {
        libc::recvmsg(
            socket.as_raw_fd(),
            &mut msg,
            libc::MSG_ERRQUEUE | libc::MSG_DONTWAIT,
        )
    };
    if n < 0 {
        let e = io::Error::last_os_error();
        return if e.kind() == io::ErrorKind::WouldBlock {
            Ok(None)
        } else {
            Err(e)
        };
    }
    // SAFETY: the CMSG macros walk the control buffer the kernel filled,
    // bounded by msg_controllen; each header read lies inside `control`.
    unsafe {
        let mut c = libc::CMSG_FIRSTHDR(&msg);
        while !c.is_null() {
            let (level, kind) = ((*c).cmsg_level, (*c).cmsg_type);
            if (level == libc::IPPROTO_IP && kind == libc::IP_RECVERR)
                || (level == libc::IPPROTO_IPV6 && kind == libc::IPV6_RECVERR)
            {
                let len = (*c).cmsg_len as usize - libc::CMSG_LEN(0) as usize;
                let bytes = std::slice::from_raw_parts(libc::CMSG_DATA(c), len);
                return Ok(QueuedError::parse(bytes));
            }
            c = libc::CMSG_NXTHDR(&msg, c);
        }
    }
    Ok(None)
}

/// The symbolic name of an errno (`ECONNREFUSED`), for records and messages.
pub fn errno_name(errno: i32) -> &'static str {
    match errno {
        libc::ECONNREFUSED => "ECONNREFUSED",
        libc::ETIMEDOUT => "ETIMEDOUT",
        libc::EHOSTUNREACH => "EHOSTUNREACH",
        libc::ENETUNREACH => "ENETUNREACH",
        libc::EACCES => "EACCES",
        libc::EPERM => "EPERM",
        libc::ENOPROTOOPT => "ENOPROTOOPT",
        libc::EPROTO => "EPROTO",
        libc::EADDRNOTAVAIL => "EADDRNOTAVAIL",
        libc::EADDRINUSE => "EADDRINUSE",
        libc::EMFILE => "EMFILE",
        libc::ENFILE => "ENFILE",
        libc::ENOBUFS => "ENOBUFS",
        libc::ECONNRESET => "ECONNRESET",
        libc::EINVAL => "EINVAL",
        libc::EAFNOSUPPORT => "EAFNOSUPPORT",
        _ => "EOTHER",
    }
}

/// A socket address as `sockaddr_storage` and its length.
pub(crate) fn sockaddr_of(addr: std::net::SocketAddr) -> (libc::sockaddr_storage, libc::socklen_t) {
    let (_, storage, len) = sockaddr(addr);
    (storage, len)
}

/// The address in a `sockaddr_storage` the kernel filled.
pub(crate) fn ip_of(s: &libc::sockaddr_storage) -> Option<std::net::IpAddr> {
    match i32::from(s.ss_family) {
        libc::AF_INET => {
            // SAFETY: the family says the storage holds a sockaddr_in.
            let sin = unsafe { &*(s as *const libc::sockaddr_storage).cast::<libc::sockaddr_in>() };
            Some(std::net::IpAddr::from(sin.sin_addr.s_addr.to_ne_bytes()))
        }
        libc::AF_INET6 => {
            // SAFETY: the family says the storage holds a sockaddr_in6.
            let sin6 =
                unsafe { &*(s as *const libc::sockaddr_storage).cast::<libc::sockaddr_in6>() };
            Some(std::net::IpAddr::from(sin6.sin6_addr.s6_addr))
        }
        _ => None,
    }
}

/// Waits up to `timeout` (to the nanosecond: ppoll, where poll counts
/// milliseconds) for any of `fds` to have something to read (or an
/// error); returns at once when one has, with whether one has. An
/// interrupted wait returns false.
pub fn wait_readable(fds: &[BorrowedFd<'_>], timeout: std::time::Duration) -> io::Result<bool> {
    let mut polled: Vec<libc::pollfd> = fds
        .iter()
        .map(|fd| libc::pollfd {
            fd: fd.as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        })
        .collect();
    let ts = libc::timespec {
        tv_sec: timeout.as_secs().min(i64::MAX as u64) as libc::time_t,
        tv_nsec: libc::c_long::from(timeout.subsec_nanos() as i32),
    };
    // SAFETY: `polled` is a valid array of `polled.len()` pollfd whose
    // descriptors the borrows keep open for the call; `ts` lives for the
    // call; no signal mask is passed (null keeps the thread's).
    let n = unsafe {
        libc::ppoll(
            polled.as_mut_ptr(),
            polled.len() as libc::nfds_t,
            &ts,
            std::ptr::null(),
        )
    };
    if n < 0 {
        let e = io::Error::last_os_error();
        return if e.kind() == io::ErrorKind::Interrupted {
            Ok(false)
        } else {
            Err(e)
        };
    }
    Ok(n > 0)
}

/// The index of a network interface by name (an IPv6 zone such as `%eth0`).
pub fn interface_index(name: &str) -> Option<u32> {
    let name = std::ffi::CString::new(name).ok()?;
    // SAFETY: if_nametoindex reads the NUL-terminated string, which lives
    // for the call.
    let index = unsafe { libc::if_nametoindex(name.as_ptr()) };
    (index != 0).then_some(index)
}

/// Sets the accept-queue length of a listening socket (`listen(2)` again),
/// which std's `TcpListener` fixes at 128.
pub fn set_backlog(listener: &impl AsRawFd, backlog: i32) -> io::Result<()> {
    // SAFETY: listen only takes the descriptor and an integer.
    let rc = unsafe { libc::listen(listener.as_raw_fd(), backlog) };
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn extended_errors_parse_with_their_offender() {
        let mut b = vec![0u8; 16];
        b[0..4].copy_from_slice(&(libc::EHOSTUNREACH as u32).to_ne_bytes());
        b[4] = QueuedError::ORIGIN_ICMP;
        b[5] = 3;
        b[6] = 13;
        let mut sa = vec![0u8; 16];
        sa[0..2].copy_from_slice(&(libc::AF_INET as u16).to_ne_bytes());
        sa[4..8].copy_from_slice(&[10, 0, 0, 254]);
        b.extend_from_slice(&sa);
        let e = QueuedError::parse(&b).unwrap();
        assert!(e.is_icmp());
        assert_eq!((e.errno, e.icmp_type, e.code), (libc::EHOSTUNREACH, 3, 13));
        assert_eq!(e.offender, Some(std::net::IpAddr::from([10, 0, 0, 254])));
        assert_eq!(QueuedError::parse(&b[..10]), None);
    }

    #[test]
    fn tcp_info_parses_by_offset_and_tolerates_short_structs() {
        let mut b = [0u8; 104];
        b[0] = 1;
        b[5] = TcpInfo::OPT_SACK | TcpInfo::OPT_TIMESTAMPS;
        b[6] = 0x97;
        b[68..72].copy_from_slice(&20_345u32.to_ne_bytes());
        b[100..104].copy_from_slice(&2u32.to_ne_bytes());
        let t = TcpInfo::parse(&b);
        assert_eq!((t.state, t.rtt_us, t.total_retrans), (1, 20_345, 2));
        assert_eq!((t.snd_wscale, t.rcv_wscale), (7, 9));
        let short = TcpInfo::parse(&b[..70]);
        assert_eq!((short.rtt_us, short.total_retrans), (0, 0));
    }
}
