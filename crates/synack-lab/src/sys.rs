//! The few system calls the lab makes directly, each in a small wrapper
//! whose `SAFETY` line says why it is sound: entering a network namespace
//! on the calling thread, real-time scheduling for the delayer, stop
//! signals and the accept-queue length. (AF_PACKET lives in
//! `synack_capture::live`.)
//! (TCP_INFO and TCP Fast Open live in `synack_probe::sys`.)

use std::io;
use std::os::fd::AsRawFd;
use std::sync::atomic::{AtomicBool, Ordering};

/// Moves the calling thread into the named network namespace (the file
/// `ip netns add` creates under /run/netns). Other threads are unaffected.
pub fn enter_netns(name: &str) -> io::Result<()> {
    // A name as `ip netns` keeps it, or a path (/proc/PID/ns/net, a bind mount).
    let path = if name.contains('/') {
        name.to_string()
    } else {
        format!("/run/netns/{name}")
    };
    let file = std::fs::File::open(path)?;
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

/// Sends `signal` to process `pid`; a process already gone is no error.
pub fn kill(pid: libc::pid_t, signal: libc::c_int) {
    // SAFETY: kill takes plain integers; the worst outcome is ESRCH.
    unsafe { libc::kill(pid, signal) };
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

/// Raises the soft limit on open files to `wanted`, within the hard limit;
/// the limit in force afterwards. A server that must hold `wanted`
/// connections calls it at start (the usual soft limit is 1,024).
pub fn raise_open_files(wanted: u64) -> u64 {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit and setrlimit read or write the struct passed by
    // reference, which outlives the calls.
    unsafe {
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) != 0 {
            return 0;
        }
        if limit.rlim_cur < wanted {
            let raised = libc::rlimit {
                rlim_cur: wanted.min(limit.rlim_max),
                rlim_max: limit.rlim_max,
            };
            if libc::setrlimit(libc::RLIMIT_NOFILE, &raised) == 0 {
                limit = raised;
            }
        }
    }
    limit.rlim_cur
}
