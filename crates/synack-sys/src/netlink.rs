//! A raw netlink socket: open, send a message to the kernel, receive what
//! it sends, without blocking. The messages themselves are built and read
//! by the caller (the lab's NFQUEUE client speaks nfnetlink over it); the
//! descriptor is the caller's to wait on.

use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd};
use std::time::Duration;

/// The netlink family of netfilter (nfnetlink: NFQUEUE, conntrack).
pub const NETLINK_NETFILTER: i32 = libc::NETLINK_NETFILTER;

pub struct NetlinkSocket {
    fd: OwnedFd,
}

impl NetlinkSocket {
    /// Opens a non-blocking netlink socket of `protocol`, bound to a port
    /// id the kernel picks, with ENOBUFS reports off (an overrun queue is
    /// the kernel's to handle: a fail-open queue lets packets through).
    pub fn open(protocol: i32) -> io::Result<NetlinkSocket> {
        // SAFETY: socket() takes no pointers; the result is checked.
        let fd = unsafe {
            libc::socket(
                libc::AF_NETLINK,
                libc::SOCK_RAW | libc::SOCK_CLOEXEC | libc::SOCK_NONBLOCK,
                protocol,
            )
        };
        if fd < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: `fd` was just opened and nothing else owns it.
        let socket = NetlinkSocket {
            fd: unsafe { OwnedFd::from_raw_fd(fd) },
        };
        // SAFETY: sockaddr_nl is plain data; all-zero is a valid value.
        let mut addr: libc::sockaddr_nl = unsafe { std::mem::zeroed() };
        addr.nl_family = libc::AF_NETLINK as libc::sa_family_t;
        // SAFETY: `addr` is a live sockaddr_nl whose size is passed.
        let rc = unsafe {
            libc::bind(
                socket.fd.as_raw_fd(),
                (&addr as *const libc::sockaddr_nl).cast(),
                std::mem::size_of::<libc::sockaddr_nl>() as libc::socklen_t,
            )
        };
        if rc < 0 {
            return Err(io::Error::last_os_error());
        }
        crate::sockopt::set(
            &socket.fd,
            libc::SOL_NETLINK,
            libc::NETLINK_NO_ENOBUFS,
            &1i32,
        )?;
        Ok(socket)
    }

    /// Sends one or more netlink messages to the kernel.
    pub fn send(&self, message: &[u8]) -> io::Result<()> {
        // SAFETY: sockaddr_nl is plain data; all-zero is a valid value.
        let mut kernel: libc::sockaddr_nl = unsafe { std::mem::zeroed() };
        kernel.nl_family = libc::AF_NETLINK as libc::sa_family_t;
        // SAFETY: `message` and `kernel` are live for the call and their
        // sizes are passed; the kernel only reads them.
        let rc = unsafe {
            libc::sendto(
                self.fd.as_raw_fd(),
                message.as_ptr().cast(),
                message.len(),
                0,
                (&kernel as *const libc::sockaddr_nl).cast(),
                std::mem::size_of::<libc::sockaddr_nl>() as libc::socklen_t,
            )
        };
        if rc < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(())
    }

    /// Receives one datagram (one or more messages) into `buf`: its length,
    /// or `WouldBlock` when nothing is waiting.
    pub fn recv(&self, buf: &mut [u8]) -> io::Result<usize> {
        // SAFETY: `buf` is live and writable for its whole length.
        let n = unsafe {
            libc::recv(
                self.fd.as_raw_fd(),
                buf.as_mut_ptr().cast(),
                buf.len(),
                libc::MSG_DONTWAIT,
            )
        };
        if n < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(n as usize)
    }
}

impl NetlinkSocket {
    /// Waits until something can be received or `timeout` passes; returns
    /// whether something is waiting.
    pub fn wait(&self, timeout: Duration) -> io::Result<bool> {
        crate::tcp::wait_readable(&[self.fd.as_fd()], timeout)
    }
}

impl AsFd for NetlinkSocket {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }
}
