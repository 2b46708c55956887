//! Why the kernel dropped a handshake packet, in words. The kernel's own
//! reasons (`enum skb_drop_reason`, numbered differently from one kernel
//! to the next) are named from its BTF at run time; the two listen-queue
//! drops the kernel frees as "consumed" carry synack's own negative codes
//! (src/bpf/handshakes.bpf.c).

/// A SYN found the listener's accept queue full.
pub const ACCEPT_QUEUE_FULL_SYN: i32 = -1;
/// A SYN found the SYN queue full with SYN cookies off.
pub const SYN_QUEUE_FULL: i32 = -2;

/// The reason in words. `kernel_name` is the kernel's name for a
/// non-negative code (`SKB_DROP_REASON_NO_SOCKET`, or without the prefix).
pub fn words(code: i32, kernel_name: Option<&str>) -> String {
    match code {
        ACCEPT_QUEUE_FULL_SYN => return "listen queue overflow: accept queue full".into(),
        SYN_QUEUE_FULL => return "SYN queue full (SYN cookies off)".into(),
        _ => {}
    }
    let Some(name) = kernel_name else {
        return format!("kernel drop reason {code}");
    };
    let name = name.strip_prefix("SKB_DROP_REASON_").unwrap_or(name);
    let known = match name {
        "NOT_SPECIFIED" => "not specified by the kernel",
        "NO_SOCKET" => "no socket: nothing listens on the port",
        "NETFILTER_DROP" => "netfilter drop: a firewall rule",
        "TCP_CSUM" => "bad TCP checksum",
        "IP_CSUM" => "bad IP checksum",
        "SKB_CSUM" => "bad checksum",
        "SOCKET_FILTER" => "socket filter (BPF) refused it",
        "TCP_LISTEN_OVERFLOW" => "listen queue overflow",
        "TCP_FLAGS" => "TCP flags invalid for the socket's state",
        "TCP_INVALID_SYN" => "a SYN the socket did not expect",
        "IP_RPFILTER" => "reverse-path filter",
        "XFRM_POLICY" => "IPsec policy",
        "OTHERHOST" => "addressed to another host",
        "PKT_TOO_SMALL" => "packet too small",
        "PROTO_MEM" => "TCP memory limit reached",
        "SOCKET_BACKLOG" => "socket backlog full",
        "TCP_MINTTL" => "TTL below the socket's minimum",
        "QDISC_DROP" => "queueing discipline drop",
        "CPU_BACKLOG" => "CPU backlog full (netdev_max_backlog)",
        "IP_OUTNOROUTES" => "no route out",
        "NEIGH_FAILED" => "neighbour (ARP/NDP) resolution failed",
        "SECURITY_HOOK" => "a security module (LSM) refused it",
        _ => "",
    };
    if known.is_empty() {
        name.to_ascii_lowercase().replace('_', " ")
    } else {
        known.into()
    }
}

/// The drop reasons' names by code, from an enum's members (the kernel's
/// BTF); codes the table misses fall back to their number.
#[derive(Clone, Debug, Default)]
pub struct ReasonNames(pub Vec<Option<String>>);

impl ReasonNames {
    pub fn from_members(members: impl IntoIterator<Item = (i64, String)>) -> ReasonNames {
        let mut names: Vec<Option<String>> = Vec::new();
        for (value, name) in members {
            let Ok(at) = usize::try_from(value) else {
                continue;
            };
            // Bounded: the kernel has about 130 reasons.
            if at >= 4096 {
                continue;
            }
            if names.len() <= at {
                names.resize(at + 1, None);
            }
            names[at] = Some(name);
        }
        ReasonNames(names)
    }

    pub fn words(&self, code: i32) -> String {
        let name = usize::try_from(code)
            .ok()
            .and_then(|i| self.0.get(i))
            .and_then(|n| n.as_deref());
        words(code, name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reasons_read_as_words_whatever_their_number() {
        let names = ReasonNames::from_members([
            (3, "SKB_DROP_REASON_NO_SOCKET".to_string()),
            (40, "SKB_DROP_REASON_TCP_LISTEN_OVERFLOW".to_string()),
            (41, "SKB_DROP_REASON_TCP_OLD_SEQUENCE".to_string()),
        ]);
        assert_eq!(names.words(3), "no socket: nothing listens on the port");
        assert_eq!(names.words(40), "listen queue overflow");
        assert_eq!(names.words(41), "tcp old sequence");
        assert_eq!(names.words(7), "kernel drop reason 7");
        assert!(
            names
                .words(ACCEPT_QUEUE_FULL_SYN)
                .contains("accept queue full")
        );
        assert!(names.words(SYN_QUEUE_FULL).contains("SYN queue full"));
    }
}
