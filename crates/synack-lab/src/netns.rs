//! One network namespace by name: commands and threads inside it.

use crate::error::LabError;
use std::process::Command;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Netns {
    pub name: String,
}

impl Netns {
    /// A command that runs `program` inside this namespace.
    pub fn command(&self, program: &str) -> Command {
        let mut c = Command::new("ip");
        c.args(["netns", "exec", &self.name, program]);
        c
    }

    /// Runs `f` on a new thread that has entered this namespace; sockets it
    /// opens live there.
    pub fn spawn<T: Send + 'static>(
        &self,
        f: impl FnOnce() -> T + Send + 'static,
    ) -> std::thread::JoinHandle<std::io::Result<T>> {
        let name = self.name.clone();
        std::thread::spawn(move || {
            synack_sys::enter_netns(&name)?;
            Ok(f())
        })
    }

    /// Runs `f` inside this namespace and waits for it.
    pub fn run<T: Send + 'static>(
        &self,
        f: impl FnOnce() -> T + Send + 'static,
    ) -> Result<T, LabError> {
        match self.spawn(f).join() {
            Ok(r) => r.map_err(|e| LabError::io(format!("entering namespace {}", self.name), e)),
            Err(panic) => std::panic::resume_unwind(panic),
        }
    }

    /// Reads a kernel counter file (e.g. `/proc/net/netstat`) as this
    /// namespace sees it.
    pub fn read_proc(&self, path: &str) -> Result<String, LabError> {
        let path = path.replace("/proc/net/", "/proc/thread-self/net/");
        let p = path.clone();
        self.run(move || std::fs::read_to_string(&p))?
            .map_err(|e| LabError::io(path, e))
    }

    /// One counter from /proc/net/netstat or /proc/net/snmp (`TcpExt`
    /// `ListenOverflows`, `Tcp` `ActiveOpens`, ...), as nstat names them.
    pub fn counter(&self, group: &str, name: &str) -> Result<Option<u64>, LabError> {
        let counters = self.run(synack_host::Counters::read)?;
        match (
            counters.get(&format!("{group}.{name}")),
            counters.problems.first(),
        ) {
            (None, Some(problem)) => Err(LabError::io(
                "/proc/net/netstat",
                std::io::Error::other(problem.clone()),
            )),
            (value, _) => Ok(value),
        }
    }
}
