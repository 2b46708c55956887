//! Targets as users write them (`host:port`, `[v6]:port`, `192.0.2.1:80`)
//! and their resolution into addresses in the order clients try them.
//!
//! Contract: parsing ([`Target::from_str`]) never touches the network, so a
//! caller can hold a target against a policy (the exporter's `--allow`)
//! before any DNS query leaves the host; only [`resolve`] asks the system
//! resolver, and only for a name. `synack probe` and the exporter's
//! `/probe` both resolve here, so the same name picks the same address.

use std::fmt;
use std::net::{IpAddr, SocketAddr, SocketAddrV6, ToSocketAddrs};
use std::str::FromStr;
use std::time::{Duration, Instant};

/// Where a target points before resolution.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Host {
    Addr(IpAddr),
    /// A DNS name, lower-cased (names compare without case, RFC 4343).
    Name(String),
}

/// A host and a port (1-65535).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    pub host: Host,
    pub port: u16,
    /// The zone of a link-local IPv6 address (`[fe80::1%eth0]:22`), as an
    /// interface index; 0 for none.
    pub scope: u32,
}

/// Why a string is not a target (the string kept, for messages that may
/// quote it; [`TargetError::reason`] is the same without it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TargetError {
    NoPort(String),
    Brackets(String),
    Port(String),
    Host(String),
    Zone(String),
}

impl TargetError {
    /// What is wrong and what to write instead, without the input (for
    /// answers to clients, which must not echo what they sent).
    pub fn reason(&self) -> &'static str {
        match self {
            TargetError::NoPort(_) => "give a port, as host:port (an IPv6 address as [addr]:port)",
            TargetError::Brackets(_) => {
                "an IPv6 address needs brackets before its port, as [addr]:port"
            }
            TargetError::Port(_) => "the port must be a number from 1 to 65535",
            TargetError::Host(_) => "not an address or a host name",
            TargetError::Zone(_) => "the zone after % is not an interface here",
        }
    }

    fn input(&self) -> &str {
        match self {
            TargetError::NoPort(s)
            | TargetError::Brackets(s)
            | TargetError::Port(s)
            | TargetError::Host(s)
            | TargetError::Zone(s) => s,
        }
    }
}

impl fmt::Display for TargetError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}: {}", self.input(), self.reason())
    }
}

impl std::error::Error for TargetError {}

impl FromStr for Target {
    type Err = TargetError;

    fn from_str(s: &str) -> Result<Target, TargetError> {
        if let Ok(addr) = s.parse::<SocketAddr>() {
            let scope = match addr {
                SocketAddr::V6(v6) => v6.scope_id(),
                SocketAddr::V4(_) => 0,
            };
            return Target::with_port(Host::Addr(addr.ip()), addr.port(), scope, s);
        }
        if s.parse::<IpAddr>().is_ok() {
            return Err(TargetError::NoPort(s.into()));
        }
        let Some((host, port)) = s.rsplit_once(':') else {
            return Err(TargetError::NoPort(s.into()));
        };
        let port: u16 = port.parse().map_err(|_| TargetError::Port(s.into()))?;
        let mut scope = 0;
        let host = if let Some(inner) = host.strip_prefix('[') {
            let inner = inner
                .strip_suffix(']')
                .ok_or_else(|| TargetError::Host(s.into()))?;
            let (addr, zone) = inner.split_once('%').unwrap_or((inner, ""));
            if !zone.is_empty() {
                scope = zone
                    .parse()
                    .ok()
                    .or_else(|| synack_sys::tcp::interface_index(zone))
                    .ok_or_else(|| TargetError::Zone(s.into()))?;
            }
            Host::Addr(IpAddr::V6(
                addr.parse().map_err(|_| TargetError::Host(s.into()))?,
            ))
        } else if host.contains(':') {
            return Err(TargetError::Brackets(s.into()));
        } else if is_host_name(host) {
            Host::Name(host.to_ascii_lowercase())
        } else {
            return Err(TargetError::Host(s.into()));
        };
        Target::with_port(host, port, scope, s)
    }
}

impl Target {
    fn with_port(host: Host, port: u16, scope: u32, text: &str) -> Result<Target, TargetError> {
        if port == 0 {
            return Err(TargetError::Port(text.into()));
        }
        Ok(Target { host, port, scope })
    }

    fn socket_addr(&self, ip: IpAddr) -> SocketAddr {
        match ip {
            IpAddr::V6(v6) => SocketAddr::V6(SocketAddrV6::new(v6, self.port, 0, self.scope)),
            IpAddr::V4(_) => SocketAddr::new(ip, self.port),
        }
    }
}

impl fmt::Display for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.host {
            Host::Addr(ip) => write!(f, "{}", self.socket_addr(*ip)),
            Host::Name(n) => write!(f, "{n}:{}", self.port),
        }
    }
}

/// A DNS host name (RFC 1123 section 2.1): labels of letters, digits and
/// hyphens, at most 63 bytes each and 253 in all. Underscores are let
/// through, as resolvers do for service names.
pub fn is_host_name(s: &str) -> bool {
    let s = s.strip_suffix('.').unwrap_or(s);
    !s.is_empty()
        && s.len() <= 253
        && s.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && !label.starts_with('-')
                && !label.ends_with('-')
                && label
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        })
}

/// Which address families a caller wants.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Family {
    #[default]
    Any,
    V4,
    V6,
}

impl Family {
    fn admits(self, ip: IpAddr) -> bool {
        match self {
            Family::Any => true,
            Family::V4 => ip.is_ipv4(),
            Family::V6 => ip.is_ipv6(),
        }
    }

    fn name(self) -> &'static str {
        match self {
            Family::Any => "usable",
            Family::V4 => "IPv4",
            Family::V6 => "IPv6",
        }
    }
}

/// The addresses of a target, in the order to try them, and how long the
/// lookup took (none for an address literal).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resolved {
    pub addrs: Vec<SocketAddr>,
    pub lookup: Option<Duration>,
}

/// Why a target has no address to try.
#[derive(Debug, thiserror::Error)]
pub enum ResolveError {
    #[error("resolving {target}: {source}")]
    Lookup {
        target: String,
        #[source]
        source: std::io::Error,
        took: Duration,
    },
    #[error("{target} has no {family} address")]
    NoAddress {
        target: String,
        family: &'static str,
        took: Option<Duration>,
    },
}

impl ResolveError {
    /// Time spent in the resolver before it failed.
    pub fn took(&self) -> Option<Duration> {
        match self {
            ResolveError::Lookup { took, .. } => Some(*took),
            ResolveError::NoAddress { took, .. } => *took,
        }
    }
}

/// The target's addresses of `family`: a literal as it is, a name through
/// the system resolver, ordered as Happy Eyeballs clients try them.
pub fn resolve(target: &Target, family: Family) -> Result<Resolved, ResolveError> {
    let no_address = |took| ResolveError::NoAddress {
        target: target.to_string(),
        family: family.name(),
        took,
    };
    let name = match &target.host {
        Host::Addr(ip) if family.admits(*ip) => {
            return Ok(Resolved {
                addrs: vec![target.socket_addr(*ip)],
                lookup: None,
            });
        }
        Host::Addr(_) => return Err(no_address(None)),
        Host::Name(name) => name,
    };
    let start = Instant::now();
    let found = (name.as_str(), target.port).to_socket_addrs();
    let took = start.elapsed();
    let found = found.map_err(|source| ResolveError::Lookup {
        target: target.to_string(),
        source,
        took,
    })?;
    let addrs = happy_eyeballs_order(found.filter(|a| family.admits(a.ip())));
    if addrs.is_empty() {
        return Err(no_address(Some(took)));
    }
    Ok(Resolved {
        addrs,
        lookup: Some(took),
    })
}

/// RFC 8305 section 4: keep the resolver's order (it has sorted by RFC
/// 6724, with the host's policy in /etc/gai.conf) and interleave the
/// families from there, the first address's family first. Duplicates are
/// dropped.
fn happy_eyeballs_order(addrs: impl Iterator<Item = SocketAddr>) -> Vec<SocketAddr> {
    let mut first_family = Vec::new();
    let mut other_family = Vec::new();
    let mut v6_first = None;
    for a in addrs {
        let v6_first = *v6_first.get_or_insert(a.is_ipv6());
        let list = if a.is_ipv6() == v6_first {
            &mut first_family
        } else {
            &mut other_family
        };
        if !list.contains(&a) {
            list.push(a);
        }
    }
    let mut ordered = Vec::with_capacity(first_family.len() + other_family.len());
    for i in 0..first_family.len().max(other_family.len()) {
        ordered.extend(first_family.get(i));
        ordered.extend(other_family.get(i));
    }
    ordered
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: &str) -> Result<Target, TargetError> {
        s.parse()
    }

    #[test]
    fn targets_parse_without_the_network() {
        assert_eq!(
            t("192.0.2.1:80").unwrap().host,
            Host::Addr("192.0.2.1".parse().unwrap())
        );
        assert_eq!(
            t("[2001:db8::1]:443").unwrap().host,
            Host::Addr("2001:db8::1".parse().unwrap())
        );
        assert_eq!(
            t("DB.Internal:5432").unwrap(),
            Target {
                host: Host::Name("db.internal".into()),
                port: 5432,
                scope: 0,
            }
        );
        assert_eq!(
            t("db.internal:5432").unwrap().to_string(),
            "db.internal:5432"
        );
    }

    #[test]
    fn bad_targets_say_what_is_wrong() {
        assert!(matches!(t("::1"), Err(TargetError::NoPort(_))));
        assert!(matches!(t("example.com"), Err(TargetError::NoPort(_))));
        // An address on its own, whatever its last group looks like.
        assert!(matches!(t("::1:1"), Err(TargetError::NoPort(_))));
        assert!(matches!(t("fe80::1%lo:1"), Err(TargetError::Brackets(_))));
        assert!(matches!(
            t("[fe80::1%no-such-interface]:1"),
            Err(TargetError::Zone(_))
        ));
        assert!(matches!(t("host:0"), Err(TargetError::Port(_))));
        assert!(matches!(t("127.0.0.1:0"), Err(TargetError::Port(_))));
        assert!(matches!(t("host:65536"), Err(TargetError::Port(_))));
        assert!(matches!(t("host:http"), Err(TargetError::Port(_))));
        assert!(matches!(t("exa mple:80"), Err(TargetError::Host(_))));
        assert!(matches!(t("*.example.com:80"), Err(TargetError::Host(_))));
        assert!(matches!(t("[nonsense]:80"), Err(TargetError::Host(_))));
        assert!(matches!(t(":80"), Err(TargetError::Host(_))));
    }

    #[test]
    fn literals_resolve_without_a_lookup_and_respect_the_family() {
        let r = resolve(&t("192.0.2.1:80").unwrap(), Family::Any).unwrap();
        assert_eq!(r.addrs, vec!["192.0.2.1:80".parse().unwrap()]);
        assert_eq!(r.lookup, None);
        assert!(matches!(
            resolve(&t("192.0.2.1:80").unwrap(), Family::V6),
            Err(ResolveError::NoAddress { .. })
        ));
    }

    #[test]
    fn families_alternate_from_the_resolvers_first_without_duplicates() {
        let a = |s: &str| s.parse::<SocketAddr>().unwrap();
        let got = happy_eyeballs_order(
            [
                a("192.0.2.1:1"),
                a("192.0.2.1:1"),
                a("192.0.2.2:1"),
                a("[2001:db8::1]:1"),
                a("[2001:db8::2]:1"),
            ]
            .into_iter(),
        );
        assert_eq!(
            got,
            vec![
                a("192.0.2.1:1"),
                a("[2001:db8::1]:1"),
                a("192.0.2.2:1"),
                a("[2001:db8::2]:1")
            ]
        );
        let got = happy_eyeballs_order([a("[2001:db8::1]:1"), a("192.0.2.1:1")].into_iter());
        assert_eq!(got, vec![a("[2001:db8::1]:1"), a("192.0.2.1:1")]);
    }
}
