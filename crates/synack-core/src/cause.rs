//! Failure causes in words, one table for every command: `analyze` and
//! `capture` (from packets), `probe` and the exporter (from the socket's
//! error queue) name the same ICMP error with the same words.

use std::net::IpAddr;

/// The name of an ICMP error by type and code (RFC 792 and RFC 1812 for
/// ICMPv4, RFC 4443 for ICMPv6).
pub fn icmp_name(v6: bool, icmp_type: u8, code: u8) -> &'static str {
    match (v6, icmp_type, code) {
        (false, 3, 0) => "net unreachable",
        (false, 3, 1) => "host unreachable",
        (false, 3, 2) => "protocol unreachable",
        (false, 3, 3) => "port unreachable",
        (false, 3, 4) => "fragmentation needed",
        (false, 3, 6) => "net unknown",
        (false, 3, 7) => "host unknown",
        (false, 3, 9 | 10 | 13) => "administratively prohibited",
        (false, 3, _) => "unreachable",
        (false, 11, _) => "time exceeded",
        (true, 1, 0) => "no route",
        (true, 1, 1) => "administratively prohibited",
        (true, 1, 3) => "address unreachable",
        (true, 1, 4) => "port unreachable",
        (true, 1, 5 | 6) => "policy reject",
        (true, 1, _) => "unreachable",
        (true, 3, _) => "time exceeded",
        _ => "icmp error",
    }
}

/// What an ICMP error usually means for a connection attempt.
pub fn icmp_meaning(v6: bool, icmp_type: u8, code: u8) -> &'static str {
    match icmp_name(v6, icmp_type, code) {
        "administratively prohibited" | "policy reject" => {
            "a firewall there rejects the connection; check its rules"
        }
        "port unreachable" => "nothing listens on that port (said with ICMP instead of RST)",
        "host unreachable" | "address unreachable" | "host unknown" => {
            "it cannot deliver to the host: the host is down or its route is wrong"
        }
        "net unreachable" | "no route" | "net unknown" => {
            "it has no route to the network; check routing"
        }
        "fragmentation needed" => "a link on the path is smaller than the packet (path MTU)",
        "time exceeded" => "the packet's TTL ran out: a routing loop, or a path too long",
        _ => "the path rejects the connection",
    }
}

/// "ICMP host unreachable (type 3 code 1) from 192.0.2.1": the words every
/// command prints for an ICMP error; `from` unknown reads "from a router".
pub fn icmp_words(v6: bool, icmp_type: u8, code: u8, from: Option<IpAddr>) -> String {
    let name = icmp_name(v6, icmp_type, code);
    match from {
        Some(ip) => format!("ICMP {name} (type {icmp_type} code {code}) from {ip}"),
        None => format!("ICMP {name} (type {icmp_type} code {code}) from a router"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_same_error_reads_the_same_whoever_saw_it() {
        let from = Some("198.18.0.254".parse().unwrap());
        assert_eq!(
            icmp_words(false, 3, 1, from),
            "ICMP host unreachable (type 3 code 1) from 198.18.0.254"
        );
        assert_eq!(icmp_name(true, 1, 1), "administratively prohibited");
        assert_eq!(icmp_name(false, 3, 13), "administratively prohibited");
        assert!(icmp_meaning(false, 3, 13).contains("firewall"));
        assert!(icmp_meaning(true, 1, 4).contains("nothing listens"));
    }
}
