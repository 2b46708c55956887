//! Signals: a stop flag that SIGINT and SIGTERM set, and sending one.

use std::sync::atomic::{AtomicBool, Ordering};

pub use libc::{SIGINT, SIGKILL, SIGTERM};

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

/// Kills (SIGKILL) every process of process group `pgid`: a command and
/// whatever it started, which killing the command alone would leave.
pub fn kill_group(pgid: u32) {
    if let Ok(pgid) = libc::pid_t::try_from(pgid) {
        kill(-pgid, libc::SIGKILL);
    }
}

/// Sends `signal` to process `pid`; a process already gone is no error.
pub fn kill(pid: libc::pid_t, signal: libc::c_int) {
    // SAFETY: kill takes plain integers; the worst outcome is ESRCH.
    unsafe { libc::kill(pid, signal) };
}
