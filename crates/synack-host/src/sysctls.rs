//! The sysctls that shape a handshake, read from /proc/sys of the current
//! network namespace (each of these is per namespace). A missing key (an
//! older kernel) is reported, never fatal.

use crate::names::sysctl;

/// Keys under /proc/sys, in dotted form.
pub const HANDSHAKE_SYSCTLS: &[&str] = &[
    sysctl::TCP_SYNCOOKIES,
    sysctl::SOMAXCONN,
    sysctl::TCP_MAX_SYN_BACKLOG,
    sysctl::TCP_SYNACK_RETRIES,
    sysctl::TCP_SYN_RETRIES,
    sysctl::TCP_SYN_LINEAR_TIMEOUTS,
    sysctl::TCP_ABORT_ON_OVERFLOW,
    sysctl::TCP_FASTOPEN,
    sysctl::TCP_FASTOPEN_BLACKHOLE_TIMEOUT_SEC,
    sysctl::TCP_TIMESTAMPS,
    sysctl::TCP_SACK,
    sysctl::TCP_WINDOW_SCALING,
    sysctl::TCP_ECN,
    sysctl::IP_LOCAL_PORT_RANGE,
    sysctl::TCP_TW_REUSE,
];

/// Values as the kernel prints them (whitespace collapsed), by key.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Sysctls {
    pub values: Vec<(String, String)>,
    pub problems: Vec<String>,
}

impl Sysctls {
    pub fn read() -> Sysctls {
        let mut s = Sysctls::default();
        for key in HANDSHAKE_SYSCTLS {
            let path = format!("/proc/sys/{}", key.replace('.', "/"));
            match std::fs::read_to_string(&path) {
                Ok(v) => s.values.push((
                    key.to_string(),
                    v.split_whitespace().collect::<Vec<_>>().join(" "),
                )),
                Err(e) => s.problems.push(format!("{key}: {e}")),
            }
        }
        s
    }

    pub fn get(&self, key: &str) -> Option<&str> {
        self.values
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    /// A single integer value.
    pub fn int(&self, key: &str) -> Option<i64> {
        self.get(key)?.parse().ok()
    }
}
