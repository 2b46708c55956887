//! Raw IP sockets for half-open SYN probes: a SYN built in user space goes
//! out of a raw IPPROTO_TCP socket, and SYN-ACKs, RSTs (and, on a raw ICMP
//! socket, ICMP errors) come back with the kernel's receive timestamps
//! (SO_TIMESTAMPNS), so replies are timed without our wake-up latency.
//! Needs CAP_NET_RAW.

use crate::sockopt;
use std::io;
use std::net::IpAddr;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};

/// What a raw socket carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RawProtocol {
    Tcp,
    /// ICMP for IPv4, ICMPv6 for IPv6.
    Icmp,
}

/// A non-blocking raw socket of one family and protocol.
#[derive(Debug)]
pub struct RawSocket {
    fd: OwnedFd,
    /// Whether the kernel stamps received datagrams (SO_TIMESTAMPNS);
    /// without it replies are timed by the user-space clock.
    pub kernel_timestamps: bool,
}

impl RawSocket {
    pub fn open(v6: bool, protocol: RawProtocol) -> io::Result<RawSocket> {
        let family = if v6 { libc::AF_INET6 } else { libc::AF_INET };
        let protocol = match (protocol, v6) {
            (RawProtocol::Tcp, _) => libc::IPPROTO_TCP,
            (RawProtocol::Icmp, false) => libc::IPPROTO_ICMP,
            (RawProtocol::Icmp, true) => libc::IPPROTO_ICMPV6,
        };
        // SAFETY: socket takes plain integers; the descriptor is owned below.
        let fd = unsafe {
            libc::socket(
                family,
                libc::SOCK_RAW | libc::SOCK_CLOEXEC | libc::SOCK_NONBLOCK,
                protocol,
            )
        };
        if fd < 0 {
            let e = io::Error::last_os_error();
            if e.raw_os_error() == Some(libc::EPERM) {
                return Err(io::Error::new(
                    io::ErrorKind::PermissionDenied,
                    "raw SYN mode needs CAP_NET_RAW: run as root, or `setcap cap_net_raw+ep` on synack",
                ));
            }
            return Err(e);
        }
        // SAFETY: `fd` is a fresh descriptor owned by nobody else.
        let fd = unsafe { OwnedFd::from_raw_fd(fd) };
        let kernel_timestamps = sockopt::set_int(&fd, libc::SOL_SOCKET, libc::SO_TIMESTAMPNS, 1)?;
        Ok(RawSocket {
            fd,
            kernel_timestamps,
        })
    }

    /// Sets the receive buffer to `bytes` past the system's maximum
    /// (SO_RCVBUFFORCE). `Ok(false)` without CAP_NET_ADMIN: the default
    /// buffer stays.
    pub fn force_receive_buffer(&self, bytes: i32) -> io::Result<bool> {
        match sockopt::set_int(&self.fd, libc::SOL_SOCKET, libc::SO_RCVBUFFORCE, bytes) {
            Err(e) if e.raw_os_error() == Some(libc::EPERM) => Ok(false),
            other => other,
        }
    }

    /// Sends one whole transport segment to `ip` (the kernel adds the IP
    /// header).
    pub fn send_to(&self, bytes: &[u8], ip: IpAddr) -> io::Result<()> {
        let (storage, len) = crate::tcp::sockaddr_of(std::net::SocketAddr::new(ip, 0));
        // SAFETY: `bytes` is readable for its length; `storage` holds a
        // valid sockaddr of `len` bytes for the socket's family.
        let rc = unsafe {
            libc::sendto(
                self.fd.as_raw_fd(),
                bytes.as_ptr().cast(),
                bytes.len(),
                0,
                (&storage as *const libc::sockaddr_storage).cast(),
                len,
            )
        };
        if rc < 0 {
            Err(io::Error::last_os_error())
        } else {
            Ok(())
        }
    }

    /// Receives one waiting datagram: its length in `buf`, its sender and
    /// the kernel's receive timestamp (CLOCK_REALTIME ns) if there is one.
    /// None when nothing is waiting.
    pub fn recv(&self, buf: &mut [u8]) -> Option<(usize, IpAddr, Option<i64>)> {
        // SAFETY: sockaddr_storage and msghdr are plain data; zeroed is valid.
        let mut from: libc::sockaddr_storage = unsafe { std::mem::zeroed() };
        let mut control = [0u64; 16];
        let mut iov = libc::iovec {
            iov_base: buf.as_mut_ptr().cast(),
            iov_len: buf.len(),
        };
        // SAFETY: as above.
        let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
        msg.msg_name = (&mut from as *mut libc::sockaddr_storage).cast();
        msg.msg_namelen = std::mem::size_of::<libc::sockaddr_storage>() as libc::socklen_t;
        msg.msg_iov = &mut iov;
        msg.msg_iovlen = 1;
        msg.msg_control = control.as_mut_ptr().cast();
        msg.msg_controllen = std::mem::size_of_val(&control);
        // SAFETY: every pointer in `msg` refers to a live local buffer of
        // the length given, for the duration of the call.
        let n = unsafe { libc::recvmsg(self.fd.as_raw_fd(), &mut msg, libc::MSG_DONTWAIT) };
        if n < 0 {
            return None;
        }
        let mut stamp = None;
        // SAFETY: the CMSG macros walk the control buffer the kernel
        // filled, bounded by msg_controllen; the timespec read lies inside.
        unsafe {
            let mut c = libc::CMSG_FIRSTHDR(&msg);
            while !c.is_null() {
                if (*c).cmsg_level == libc::SOL_SOCKET && (*c).cmsg_type == libc::SCM_TIMESTAMPNS {
                    let ts = std::ptr::read_unaligned(libc::CMSG_DATA(c).cast::<libc::timespec>());
                    stamp = Some(ts.tv_sec * 1_000_000_000 + ts.tv_nsec);
                }
                c = libc::CMSG_NXTHDR(&msg, c);
            }
        }
        Some((n as usize, crate::tcp::ip_of(&from)?, stamp))
    }
}

impl AsFd for RawSocket {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }
}

impl AsRawFd for RawSocket {
    fn as_raw_fd(&self) -> RawFd {
        self.fd.as_raw_fd()
    }
}
