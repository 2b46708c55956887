//! One way to set a socket option. An option the running kernel does not
//! know (ENOPROTOOPT, EOPNOTSUPP) is `Ok(false)`, as quinn-udp treats
//! them: the caller decides whether it can do without. Every other failure
//! is an error.

use std::io;
use std::os::fd::AsRawFd;

/// Sets `level`/`name` to `value`: `Ok(true)` when set, `Ok(false)` when
/// this kernel does not support the option.
pub(crate) fn set<T>(
    socket: &impl AsRawFd,
    level: libc::c_int,
    name: libc::c_int,
    value: &T,
) -> io::Result<bool> {
    // SAFETY: `value` is a live, initialised T whose size is passed; the
    // kernel only reads it.
    let rc = unsafe {
        libc::setsockopt(
            socket.as_raw_fd(),
            level,
            name,
            (value as *const T).cast(),
            std::mem::size_of::<T>() as libc::socklen_t,
        )
    };
    if rc == 0 {
        return Ok(true);
    }
    let err = io::Error::last_os_error();
    match err.raw_os_error() {
        Some(libc::ENOPROTOOPT) | Some(libc::EOPNOTSUPP) => Ok(false),
        _ => Err(err),
    }
}

/// As [`set`], for an option the caller cannot do without: unsupported is
/// an error that names it.
pub(crate) fn require<T>(
    socket: &impl AsRawFd,
    level: libc::c_int,
    name: libc::c_int,
    value: &T,
    what: &str,
) -> io::Result<()> {
    if set(socket, level, name, value)? {
        Ok(())
    } else {
        Err(io::Error::new(
            io::ErrorKind::Unsupported,
            format!("this kernel does not support {what}"),
        ))
    }
}

/// An integer option.
pub(crate) fn set_int(
    socket: &impl AsRawFd,
    level: libc::c_int,
    name: libc::c_int,
    value: libc::c_int,
) -> io::Result<bool> {
    set(socket, level, name, &value)
}
