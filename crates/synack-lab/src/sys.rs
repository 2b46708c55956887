//! The few system calls the lab makes directly, each in a small wrapper
//! whose `SAFETY` line says why it is sound: entering a network namespace
//! on the calling thread, real-time scheduling for the delayer, TCP_INFO
//! for tests and probes, and stop signals.

use std::io;
use std::os::fd::AsRawFd;
use std::sync::atomic::{AtomicBool, Ordering};

/// Moves the calling thread into the named network namespace (the file
/// `ip netns add` creates under /run/netns). Other threads are unaffected.
pub fn enter_netns(name: &str) -> io::Result<()> {
    let file = std::fs::File::open(format!("/run/netns/{name}"))?;
    // SAFETY: setns only reads the descriptor, which `file` keeps open for
    // the duration of the call; CLONE_NEWNET affects the calling thread only.
    let rc = unsafe { libc::setns(file.as_raw_fd(), libc::CLONE_NEWNET) };
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

/// Gives the calling thread SCHED_FIFO priority `priority`. Returns
/// `Ok(false)` when the system refuses (no CAP_SYS_NICE, or an RT limit),
/// which is not an error: the delayer then runs with normal priority.
pub fn set_realtime(priority: i32) -> io::Result<bool> {
    let param = libc::sched_param {
        sched_priority: priority,
    };
    // SAFETY: `param` is a valid sched_param that outlives the call; pid 0
    // means the calling thread.
    let rc = unsafe { libc::sched_setscheduler(0, libc::SCHED_FIFO, &param) };
    if rc == 0 {
        return Ok(true);
    }
    let err = io::Error::last_os_error();
    match err.raw_os_error() {
        Some(libc::EPERM) | Some(libc::EINVAL) => Ok(false),
        _ => Err(err),
    }
}

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

static STOP: AtomicBool = AtomicBool::new(false);

extern "C" fn on_stop_signal(_: libc::c_int) {
    STOP.store(true, Ordering::SeqCst);
}

/// Installs SIGINT and SIGTERM handlers that only set a flag, and returns
/// it: long-running lab commands poll it and tear down in order.
pub fn stop_on_signals() -> &'static AtomicBool {
    for sig in [libc::SIGINT, libc::SIGTERM] {
        // SAFETY: the handler only stores to an atomic, which is
        // async-signal-safe; `sigaction` is given a zeroed, filled struct.
        unsafe {
            let mut act: libc::sigaction = std::mem::zeroed();
            act.sa_sigaction = on_stop_signal as extern "C" fn(libc::c_int) as usize;
            libc::sigemptyset(&mut act.sa_mask);
            libc::sigaction(sig, &act, std::ptr::null_mut());
        }
    }
    &STOP
}

/// True when the effective user is root.
pub fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions and cannot fail.
    unsafe { libc::geteuid() == 0 }
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

/// An AF_PACKET socket that sends whole Ethernet frames out of one
/// interface of the calling thread's namespace (for the lab's SYN flood).
pub struct RawLink {
    fd: std::os::fd::OwnedFd,
    ifindex: i32,
}

impl RawLink {
    pub fn open(ifname: &str) -> io::Result<RawLink> {
        let name = std::ffi::CString::new(ifname).map_err(io::Error::other)?;
        // SAFETY: `name` is a valid NUL-terminated string for the call.
        let ifindex = unsafe { libc::if_nametoindex(name.as_ptr()) };
        if ifindex == 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: socket takes plain integers; a valid descriptor is owned below.
        let fd = unsafe { libc::socket(libc::AF_PACKET, libc::SOCK_RAW, 0) };
        if fd < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: `fd` was just returned by socket() and is owned by nobody else.
        let fd = unsafe { <std::os::fd::OwnedFd as std::os::fd::FromRawFd>::from_raw_fd(fd) };
        Ok(RawLink {
            fd,
            ifindex: ifindex as i32,
        })
    }

    /// Opens the interface for receiving every frame it sends or receives
    /// (ETH_P_ALL), waking at least every `timeout` so callers can stop.
    pub fn open_capture(ifname: &str, timeout: std::time::Duration) -> io::Result<RawLink> {
        let name = std::ffi::CString::new(ifname).map_err(io::Error::other)?;
        // SAFETY: `name` is a valid NUL-terminated string for the call.
        let ifindex = unsafe { libc::if_nametoindex(name.as_ptr()) };
        if ifindex == 0 {
            return Err(io::Error::last_os_error());
        }
        let all = (libc::ETH_P_ALL as u16).to_be();
        // SAFETY: socket takes plain integers; the descriptor is owned below.
        let fd = unsafe {
            libc::socket(
                libc::AF_PACKET,
                libc::SOCK_RAW | libc::SOCK_CLOEXEC,
                i32::from(all),
            )
        };
        if fd < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: `fd` is a fresh socket owned by nobody else.
        let fd = unsafe { <std::os::fd::OwnedFd as std::os::fd::FromRawFd>::from_raw_fd(fd) };
        // SAFETY: sockaddr_ll is plain data; zeroed is a valid value.
        let mut addr: libc::sockaddr_ll = unsafe { std::mem::zeroed() };
        addr.sll_family = libc::AF_PACKET as u16;
        addr.sll_protocol = all;
        addr.sll_ifindex = ifindex as i32;
        // SAFETY: `addr` is a valid sockaddr_ll whose size is passed.
        let rc = unsafe {
            libc::bind(
                fd.as_raw_fd(),
                (&addr as *const libc::sockaddr_ll).cast(),
                std::mem::size_of::<libc::sockaddr_ll>() as libc::socklen_t,
            )
        };
        if rc != 0 {
            return Err(io::Error::last_os_error());
        }
        let tv = libc::timeval {
            tv_sec: timeout.as_secs() as libc::time_t,
            tv_usec: timeout.subsec_micros() as libc::suseconds_t,
        };
        // SAFETY: `tv` is a valid timeval that outlives the call; its size is passed.
        let rc = unsafe {
            libc::setsockopt(
                fd.as_raw_fd(),
                libc::SOL_SOCKET,
                libc::SO_RCVTIMEO,
                (&tv as *const libc::timeval).cast(),
                std::mem::size_of::<libc::timeval>() as libc::socklen_t,
            )
        };
        if rc != 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(RawLink {
            fd,
            ifindex: ifindex as i32,
        })
    }

    /// Receives one frame into `buf`; `Ok(None)` when the timeout passed.
    pub fn recv(&self, buf: &mut [u8]) -> io::Result<Option<usize>> {
        // SAFETY: `buf` is writable for its length.
        let n = unsafe { libc::recv(self.fd.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len(), 0) };
        if n >= 0 {
            return Ok(Some(n as usize));
        }
        let e = io::Error::last_os_error();
        match e.kind() {
            io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut | io::ErrorKind::Interrupted => {
                Ok(None)
            }
            _ => Err(e),
        }
    }

    pub fn send(&self, frame: &[u8]) -> io::Result<()> {
        // SAFETY: sockaddr_ll is plain data; zeroed is a valid value.
        let mut addr: libc::sockaddr_ll = unsafe { std::mem::zeroed() };
        addr.sll_family = libc::AF_PACKET as u16;
        addr.sll_ifindex = self.ifindex;
        addr.sll_halen = 6;
        addr.sll_addr[..6].copy_from_slice(
            frame
                .get(..6)
                .ok_or_else(|| io::Error::other("short frame"))?,
        );
        // SAFETY: `frame` is readable for its length; `addr` is a valid
        // sockaddr_ll whose size is passed.
        let rc = unsafe {
            libc::sendto(
                self.fd.as_raw_fd(),
                frame.as_ptr().cast(),
                frame.len(),
                0,
                (&addr as *const libc::sockaddr_ll).cast(),
                std::mem::size_of::<libc::sockaddr_ll>() as libc::socklen_t,
            )
        };
        if rc < 0 {
            Err(io::Error::last_os_error())
        } else {
            Ok(())
        }
    }
}

/// Enables TCP Fast Open on a listener (RFC 7413) with a queue of `qlen`
/// pending TFO requests.
pub fn set_fastopen(listener: &impl AsRawFd, qlen: i32) -> io::Result<()> {
    // SAFETY: the option value is a c_int that outlives the call, and its
    // size is passed.
    let rc = unsafe {
        libc::setsockopt(
            listener.as_raw_fd(),
            libc::IPPROTO_TCP,
            libc::TCP_FASTOPEN,
            (&qlen as *const i32).cast(),
            std::mem::size_of::<i32>() as libc::socklen_t,
        )
    };
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
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

fn sockaddr(addr: std::net::SocketAddr) -> (libc::c_int, libc::sockaddr_storage, libc::socklen_t) {
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

#[cfg(test)]
mod tests {
    use super::*;

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
