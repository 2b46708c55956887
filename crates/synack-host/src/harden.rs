//! The SYN-flood defences synack recommends, as text: nftables rules
//! (SYNPROXY for a port, a per-source SYN rate limit, a connection limit
//! per source) and the handshake sysctls, from a namespace's measured
//! state. Pure: `synack harden` prints, applies and reverts them;
//! `synack lab drill` measures the same rules.
//!
//! SYNPROXY (netfilter's synproxy expression, since Linux 3.12 as an
//! iptables target and 5.3 in nftables) answers every SYN to the port with
//! a SYN cookie from netfilter itself, and hands the server only clients
//! that complete the handshake: the server's SYN queue never sees the
//! flood. It needs the SYN untracked (raw priority), TCP timestamps for
//! the options it encodes in cookies, and `nf_conntrack_tcp_loose=0`.

use crate::names::sysctl;
use crate::snapshot::Snapshot;
use std::fmt::Write;

/// The nftables table `synack harden` owns (nothing else is touched).
pub const TABLE: &str = "synack_harden";
/// The conntrack limit (settable in the initial namespace only).
pub const CONNTRACK_MAX: &str = "net.netfilter.nf_conntrack_max";
/// Sysctl SYNPROXY needs (per namespace).
pub const CONNTRACK_TCP_LOOSE: &str = "net.netfilter.nf_conntrack_tcp_loose";

/// A set of SYN-flood rules for some ports, in one nftables table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rules {
    pub ports: Vec<u16>,
    /// SYNs per second per source address, and the burst, beyond which
    /// SYNs are dropped (None: no limit).
    pub syn_rate_per_source: Option<(u32, u32)>,
    /// Connections per source address beyond which new ones are dropped.
    pub connections_per_source: Option<u32>,
    pub synproxy: bool,
}

impl Rules {
    /// What `synack harden` recommends for these ports: SYNPROXY, and as
    /// backstops a per-source SYN rate limit and connection limit generous
    /// enough for clients behind one NAT address.
    pub fn recommended(ports: Vec<u16>) -> Rules {
        Rules {
            ports,
            syn_rate_per_source: Some((50, 100)),
            connections_per_source: Some(256),
            synproxy: true,
        }
    }

    fn port_set(&self) -> String {
        let list: Vec<String> = self.ports.iter().map(u16::to_string).collect();
        format!("{{ {} }}", list.join(", "))
    }

    /// The table, for `nft -f` (one transaction: all or nothing).
    pub fn table(&self, name: &str) -> String {
        let ports = self.port_set();
        let mut t = format!("table inet {name} {{\n");
        if let Some((_, _)) = self.syn_rate_per_source {
            let _ = writeln!(
                t,
                "\tset syn_sources4 {{ type ipv4_addr; flags dynamic; timeout 60s; size 65536; }}\n\tset syn_sources6 {{ type ipv6_addr; flags dynamic; timeout 60s; size 65536; }}"
            );
        }
        if self.connections_per_source.is_some() {
            let _ = writeln!(
                t,
                "\tset conn_sources4 {{ type ipv4_addr; flags dynamic; size 65536; }}\n\tset conn_sources6 {{ type ipv6_addr; flags dynamic; size 65536; }}"
            );
        }
        if self.synproxy {
            let _ = writeln!(
                t,
                "\tchain raw {{\n\t\ttype filter hook prerouting priority raw;\n\t\ttcp dport {ports} tcp flags syn notrack\n\t}}"
            );
        }
        let _ = writeln!(
            t,
            "\tchain input {{\n\t\ttype filter hook input priority filter;"
        );
        if let Some((rate, burst)) = self.syn_rate_per_source {
            for (family, set) in [("ip", "syn_sources4"), ("ip6", "syn_sources6")] {
                let _ = writeln!(
                    t,
                    "\t\ttcp dport {ports} tcp flags syn update @{set} {{ {family} saddr limit rate over {rate}/second burst {burst} packets }} drop"
                );
            }
        }
        if let Some(n) = self.connections_per_source {
            for (family, set) in [("ip", "conn_sources4"), ("ip6", "conn_sources6")] {
                let _ = writeln!(
                    t,
                    "\t\ttcp dport {ports} ct state new add @{set} {{ {family} saddr ct count over {n} }} drop"
                );
            }
        }
        if self.synproxy {
            let _ = writeln!(
                t,
                "\t\ttcp dport {ports} ct state invalid,untracked synproxy mss 1460 wscale 7 timestamp sack-perm\n\t\ttcp dport {ports} ct state invalid drop"
            );
        }
        t.push_str("\t}\n}\n");
        t
    }

    /// The same with iptables-nft, for kernels whose nftables lacks the
    /// synproxy expression (the SYNPROXY target is older): the rule
    /// lines, for `iptables` and `ip6tables`, in order.
    pub fn iptables(&self) -> Vec<String> {
        let ports: Vec<String> = self.ports.iter().map(u16::to_string).collect();
        let ports = ports.join(",");
        let mut lines = Vec::new();
        if let Some((rate, burst)) = self.syn_rate_per_source {
            lines.push(format!(
                "-A INPUT -p tcp -m multiport --dports {ports} --syn -m hashlimit --hashlimit-above {rate}/second --hashlimit-burst {burst} --hashlimit-mode srcip --hashlimit-name synack_syn -j DROP"
            ));
        }
        if let Some(n) = self.connections_per_source {
            lines.push(format!(
                "-A INPUT -p tcp -m multiport --dports {ports} --syn -m connlimit --connlimit-above {n} -j DROP"
            ));
        }
        if self.synproxy {
            lines.push(format!(
                "-t raw -A PREROUTING -p tcp -m multiport --dports {ports} --syn -j CT --notrack"
            ));
            lines.push(format!(
                "-A INPUT -p tcp -m multiport --dports {ports} -m conntrack --ctstate INVALID,UNTRACKED -j SYNPROXY --sack-perm --timestamp --wscale 7 --mss 1460"
            ));
            lines.push(format!(
                "-A INPUT -p tcp -m multiport --dports {ports} -m conntrack --ctstate INVALID -j DROP"
            ));
        }
        lines
    }
}

/// One sysctl to change, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SysctlChange {
    pub key: &'static str,
    /// What it is now (None: not readable).
    pub now: Option<String>,
    pub wanted: String,
    pub why: &'static str,
}

/// The sysctls to change in this namespace (only those not already as
/// recommended). With `synproxy`, also what SYNPROXY needs.
pub fn sysctl_changes(snap: &Snapshot, synproxy: bool) -> Vec<SysctlChange> {
    let s = &snap.sysctls;
    let mut out = Vec::new();
    let mut want =
        |key: &'static str, ok: &dyn Fn(i64) -> bool, wanted: &str, why: &'static str| {
            let now = s.get(key).map(str::to_string);
            if !now
                .as_deref()
                .and_then(|v| v.trim().parse().ok())
                .is_some_and(ok)
            {
                out.push(SysctlChange {
                    key,
                    now,
                    wanted: wanted.to_string(),
                    why,
                });
            }
        };
    want(
        sysctl::TCP_SYNCOOKIES,
        &|v| v == 1,
        "1",
        "SYN cookies when a SYN queue is full: a flood cannot lock clients out (measured: 0% of legitimate clients in with 0, 100% with 1)",
    );
    want(
        sysctl::SOMAXCONN,
        &|v| v >= 4096,
        "4096",
        "room for bursts in the accept queues (each holds min(backlog, somaxconn) + 1)",
    );
    want(
        sysctl::TCP_MAX_SYN_BACKLOG,
        &|v| v >= 4096,
        "4096",
        "more half-open connections per listener before cookies are needed",
    );
    want(
        sysctl::TCP_SYNACK_RETRIES,
        &|v| v <= 3,
        "3",
        "a half-open connection from a spoofed source holds its slot 15 s instead of 63 s",
    );
    if synproxy {
        want(
            sysctl::TCP_TIMESTAMPS,
            &|v| v == 1,
            "1",
            "SYNPROXY encodes window scaling and SACK in the timestamp of its cookies",
        );
        let loose = snap.conntrack.as_ref().and_then(|_| {
            std::fs::read_to_string("/proc/sys/net/netfilter/nf_conntrack_tcp_loose").ok()
        });
        if loose.as_deref().map(str::trim) != Some("0") {
            out.push(SysctlChange {
                key: CONNTRACK_TCP_LOOSE,
                now: loose.map(|v| v.trim().to_string()),
                wanted: "0".into(),
                why: "SYNPROXY needs conntrack not to pick up connections mid-stream",
            });
        }
    }
    // SYNPROXY and the connection limit track every connection: a table
    // already half full needs room (its limit is set in the initial
    // namespace only, and applies to each).
    if let Some(ct) = &snap.conntrack
        && ct.max > 0
        && ct.fill() >= 50.0
        && in_initial_namespace()
    {
        out.push(SysctlChange {
            key: CONNTRACK_MAX,
            now: Some(ct.max.to_string()),
            wanted: (ct.max * 2).to_string(),
            why: "the connection-tracking table is at least half full, and tracked connections are what these rules count",
        });
    }
    out
}

/// Whether the calling thread is in the host's own network namespace
/// (PID 1's), where global limits such as `nf_conntrack_max` are set.
pub fn in_initial_namespace() -> bool {
    use std::os::unix::fs::MetadataExt;
    let inode = |p: &str| std::fs::metadata(p).map(|m| m.ino()).ok();
    inode("/proc/self/ns/net").is_some_and(|me| inode("/proc/1/ns/net") == Some(me))
}

/// The ports to protect when none are named: every listener not bound to
/// a loopback address.
pub fn exposed_ports(snap: &Snapshot) -> Vec<u16> {
    let mut ports: Vec<u16> = snap
        .listeners
        .iter()
        .filter(|l| !l.local.ip().is_loopback())
        .map(|l| l.local.port())
        .collect();
    ports.sort_unstable();
    ports.dedup();
    ports
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_recommended_table_has_synproxy_and_both_limits_for_each_family() {
        let t = Rules::recommended(vec![443, 8080]).table(TABLE);
        assert!(t.starts_with("table inet synack_harden {"), "{t}");
        assert!(
            t.contains("tcp dport { 443, 8080 } tcp flags syn notrack"),
            "{t}"
        );
        assert!(
            t.contains("synproxy mss 1460 wscale 7 timestamp sack-perm"),
            "{t}"
        );
        assert!(
            t.contains("ip saddr limit rate over 50/second burst 100 packets"),
            "{t}"
        );
        assert!(t.contains("ip6 saddr ct count over 256"), "{t}");
        // SYNPROXY last: limits drop before it answers.
        assert!(t.find("limit rate").unwrap() < t.find("synproxy mss").unwrap());
        let ipt = Rules::recommended(vec![443]).iptables();
        assert!(ipt.iter().any(|l| l.contains("-j SYNPROXY")), "{ipt:?}");
        assert!(
            ipt.iter()
                .any(|l| l.starts_with("-t raw") && l.contains("--notrack"))
        );
    }
}
