//! `--allow` patterns for the exporter's `/probe`, and the decision to
//! probe, made before anything is done for the client.
//!
//! Contract: [`admitted`] looks only at the target as written. An address
//! literal is held against address and network patterns without DNS; a
//! name is admitted only by a pattern that names it (or `*`), and only then
//! may the caller resolve it. So a client cannot make the host send DNS
//! queries for names of its choosing, and with no `--allow` at all
//! `/probe` costs nothing but the refusal.

use std::str::FromStr;
use synack_probe::target::{Host, Target, is_host_name};

/// One `--allow` pattern: `HOST:PORT`, HOST being `*`, an address, a CIDR
/// prefix (IPv6 in brackets) or a DNS name, PORT `*` or 1-65535.
#[derive(Debug, Clone, PartialEq)]
pub struct Allow {
    host: HostPattern,
    port: Option<u16>,
}

#[derive(Debug, Clone, PartialEq)]
enum HostPattern {
    Any,
    Net(ipnet::IpNet),
    Name(String),
}

impl FromStr for Allow {
    type Err = String;

    fn from_str(s: &str) -> Result<Allow, String> {
        let (host, port) = s
            .rsplit_once(':')
            .ok_or_else(|| format!("`{s}`: expected HOST:PORT (PORT a number or *)"))?;
        let port = match port {
            "*" => None,
            p => match p.parse::<u16>() {
                Ok(n) if n > 0 => Some(n),
                _ => return Err(format!("`{s}`: `{p}` is not a port (1-65535 or *)")),
            },
        };
        let bracketed = host.strip_prefix('[').and_then(|h| h.strip_suffix(']'));
        let host = match bracketed.unwrap_or(host) {
            "*" => HostPattern::Any,
            h if h.contains('/') => HostPattern::Net(
                h.parse()
                    .map_err(|_| format!("`{s}`: `{h}` is not a network (ADDRESS/PREFIX)"))?,
            ),
            h => match h.parse::<std::net::IpAddr>() {
                Ok(ip) => HostPattern::Net(ip.into()),
                Err(_) if bracketed.is_none() && is_host_name(h) => {
                    HostPattern::Name(canonical_name(h))
                }
                Err(_) => {
                    return Err(format!(
                        "`{s}`: `{h}` is not an address, a network or a host name \
                         (wildcards other than a lone * are not supported)"
                    ));
                }
            },
        };
        Ok(Allow { host, port })
    }
}

/// Names compare without case and without the root's trailing dot.
fn canonical_name(name: &str) -> String {
    name.trim_end_matches('.').to_ascii_lowercase()
}

impl Allow {
    /// Whether this pattern admits the target as written (no resolution).
    fn admits(&self, target: &Target) -> bool {
        self.port.is_none_or(|p| p == target.port)
            && match (&self.host, &target.host) {
                (HostPattern::Any, _) => true,
                (HostPattern::Net(net), Host::Addr(ip)) => net.contains(ip),
                (HostPattern::Name(pattern), Host::Name(name)) => *pattern == canonical_name(name),
                _ => false,
            }
    }
}

/// Whether `/probe` may probe `target`: a literal as it is, a name after
/// resolving it. False for every target when there are no patterns.
pub fn admitted(allow: &[Allow], target: &Target) -> bool {
    allow.iter().any(|a| a.admits(target))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decide(patterns: &[&str], target: &str) -> bool {
        let allow: Vec<Allow> = patterns.iter().map(|p| p.parse().unwrap()).collect();
        admitted(&allow, &target.parse().unwrap())
    }

    #[test]
    fn networks_admit_address_literals_by_prefix_and_port() {
        assert!(decide(&["10.0.0.0/8:443"], "10.1.2.3:443"));
        assert!(!decide(&["10.0.0.0/8:443"], "10.1.2.3:80"));
        assert!(!decide(&["10.0.0.0/8:443"], "11.1.2.3:443"));
        assert!(decide(&["[2001:db8::/32]:22"], "[2001:db8::1]:22"));
        assert!(decide(&["192.0.2.7:*"], "192.0.2.7:9"));
    }

    #[test]
    fn names_are_admitted_only_by_a_pattern_naming_them() {
        assert!(decide(&["db.internal:*"], "DB.internal:5432"));
        assert!(decide(&["db.internal.:*"], "db.internal:5432"));
        assert!(!decide(&["db.internal:*"], "other:5432"));
        // A network pattern never makes a name worth resolving: the
        // resolver would run on the client's say-so.
        assert!(!decide(&["0.0.0.0/0:*"], "attacker.example:80"));
        assert!(decide(&["*:*"], "anything.example:80"));
        assert!(!decide(&[], "192.0.2.1:80"));
    }

    #[test]
    fn patterns_that_can_never_match_are_rejected() {
        for bad in [
            "nonsense",
            "host:http",
            "host:0",
            "10.0.0.0/33:80",
            "*.example.com:443",
            "exa mple:80",
            "[db.internal]:80",
            ":80",
        ] {
            assert!(bad.parse::<Allow>().is_err(), "{bad} was accepted");
        }
    }
}
