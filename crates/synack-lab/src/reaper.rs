//! A lab's reaper: a small process that outlives its owner's `kill -9`
//! and then removes the owner's lab with whatever still runs in it. The
//! kernel tells it when the owner dies (PR_SET_PDEATHSIG); it also checks
//! /proc, in case the signal came before it could catch it.

use crate::Lab;
use std::io;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::Ordering;
use std::time::Duration;

/// Starts `exe lab reap OWNER ID` (the command line that calls [`reap`])
/// for `lab`, owned by this process. The reaper keeps this process's
/// stderr: its problems show, and a reader of that stderr sees it end only
/// once the reaper is done.
pub fn start(lab: &Lab, exe: &Path) -> io::Result<Child> {
    let id = Lab::id_of(&lab.client.name).unwrap_or_default().to_string();
    let mut command = Command::new(exe);
    command
        .args(["lab", "reap", &std::process::id().to_string(), &id])
        .stdin(Stdio::null())
        .stdout(Stdio::null());
    synack_sys::process::signal_child_when_parent_dies(&mut command, synack_sys::signal::SIGTERM);
    command.spawn()
}

/// Waits, doing nothing, until process `owner` is gone (SIGTERM from the
/// kernel when it dies, however it dies), then removes lab `id`.
pub fn reap(owner: u32, id: &str) {
    let stop = synack_sys::stop_on_signals();
    let alive = || Path::new(&format!("/proc/{owner}")).exists();
    while !stop.load(Ordering::SeqCst) && alive() {
        std::thread::sleep(Duration::from_millis(200));
    }
    Lab::remove(id);
}
