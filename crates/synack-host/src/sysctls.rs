//! The sysctls that shape a handshake, read from /proc/sys of the current
//! network namespace (each of these is per namespace). A missing key (an
//! older kernel) is reported, never fatal.

/// Keys under /proc/sys, in dotted form.
pub const HANDSHAKE_SYSCTLS: &[&str] = &[
    "net.ipv4.tcp_syncookies",
    "net.core.somaxconn",
    "net.ipv4.tcp_max_syn_backlog",
    "net.ipv4.tcp_synack_retries",
    "net.ipv4.tcp_syn_retries",
    "net.ipv4.tcp_syn_linear_timeouts",
    "net.ipv4.tcp_abort_on_overflow",
    "net.ipv4.tcp_fastopen",
    "net.ipv4.tcp_fastopen_blackhole_timeout_sec",
    "net.ipv4.tcp_timestamps",
    "net.ipv4.tcp_sack",
    "net.ipv4.tcp_window_scaling",
    "net.ipv4.tcp_ecn",
    "net.ipv4.ip_local_port_range",
    "net.ipv4.tcp_tw_reuse",
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
