//! Whether the link-layer neighbour a SYN needs (the target itself on its
//! own subnet, or the gateway that leads there) ever answered ARP. When
//! it did not, no SYN left the host: the kernel reports EHOSTUNREACH only
//! after its neighbour probes give up (about 3 s), so a probe whose own
//! timeout comes first must ask, or it would blame a firewall for a host
//! that is down.
//!
//! IPv4 only: the ARP and routing tables in /proc (the calling thread's
//! namespace). IPv6 neighbours are not in /proc; an IPv6 probe keeps the
//! kernel's answer.

use std::net::{IpAddr, Ipv4Addr};

/// True when the neighbour for `target` is in the ARP table without a
/// link-layer address (ARP asked, nobody answered yet).
pub fn unresolved(target: IpAddr) -> bool {
    let IpAddr::V4(target) = target else {
        return false;
    };
    let Ok(routes) = std::fs::read_to_string("/proc/thread-self/net/route") else {
        return false;
    };
    let Ok(arp) = std::fs::read_to_string("/proc/thread-self/net/arp") else {
        return false;
    };
    let hop = next_hop(&routes, target).unwrap_or(target);
    arp_incomplete(&arp, hop)
}

/// The gateway of the most specific route to `target`, None when it is on
/// a directly connected subnet (or no route matches).
fn next_hop(routes: &str, target: Ipv4Addr) -> Option<Ipv4Addr> {
    // Fields: Iface Destination Gateway Flags RefCnt Use Metric Mask ...,
    // addresses in hex as the host's byte order wrote them (little-endian).
    let hex = |s: &str| u32::from_str_radix(s, 16).ok().map(u32::from_be);
    let target = u32::from(target);
    routes
        .lines()
        .skip(1)
        .filter_map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            let (dest, gw, mask) = (hex(f.get(1)?)?, hex(f.get(2)?)?, hex(f.get(7)?)?);
            (target & mask == dest & mask).then_some((mask.count_ones(), gw))
        })
        .max_by_key(|(prefix, _)| *prefix)
        .and_then(|(_, gw)| (gw != 0).then(|| Ipv4Addr::from(gw)))
}

/// The ARP entry of `ip` exists with flags 0 (not ATF_COM: incomplete).
fn arp_incomplete(arp: &str, ip: Ipv4Addr) -> bool {
    arp.lines().skip(1).any(|l| {
        let mut f = l.split_whitespace();
        f.next().and_then(|a| a.parse::<Ipv4Addr>().ok()) == Some(ip)
            && f.nth(1).is_some_and(|flags| flags == "0x0")
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const ROUTES: &str = "Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT\n\
        eth0\t00000000\t010200C0\t0003\t0\t0\t0\t00000000\t0\t0\t0\n\
        eth0\t000200C0\t00000000\t0001\t0\t0\t0\t00FFFFFF\t0\t0\t0\n";

    #[test]
    fn the_next_hop_is_the_gateway_off_link_and_the_target_on_link() {
        let gw: Ipv4Addr = "192.0.2.1".parse().unwrap();
        assert_eq!(next_hop(ROUTES, "198.51.100.7".parse().unwrap()), Some(gw));
        assert_eq!(next_hop(ROUTES, "192.0.2.77".parse().unwrap()), None);
    }

    #[test]
    fn an_entry_without_a_link_address_is_unresolved() {
        let arp = "IP address       HW type     Flags       HW address            Mask     Device\n\
                   192.0.2.77       0x1         0x0         00:00:00:00:00:00     *        eth0\n\
                   192.0.2.1        0x1         0x2         02:fc:00:00:00:05     *        eth0\n";
        assert!(arp_incomplete(arp, "192.0.2.77".parse().unwrap()));
        assert!(!arp_incomplete(arp, "192.0.2.1".parse().unwrap()));
        assert!(!arp_incomplete(arp, "192.0.2.9".parse().unwrap()));
    }
}
