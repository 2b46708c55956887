//! Which records to keep (`--host`, `--port`, `--net`): values of one kind
//! are alternatives; kinds given must all match, on either end.

use crate::handshake::Handshake;
use std::net::SocketAddr;

#[derive(Clone, Debug, Default)]
pub struct Filter {
    hosts: Vec<std::net::IpAddr>,
    ports: Vec<u16>,
    nets: Vec<ipnet::IpNet>,
}

impl Filter {
    pub fn new(hosts: Vec<std::net::IpAddr>, ports: Vec<u16>, nets: Vec<ipnet::IpNet>) -> Filter {
        Filter { hosts, ports, nets }
    }

    pub fn matches(&self, h: &Handshake) -> bool {
        let ends = [h.client, h.server];
        let any = |f: &dyn Fn(&SocketAddr) -> bool| ends.iter().any(f);
        (self.hosts.is_empty() || any(&|e| self.hosts.contains(&e.ip())))
            && (self.ports.is_empty() || any(&|e| self.ports.contains(&e.port())))
            && (self.nets.is_empty() || any(&|e| self.nets.iter().any(|n| n.contains(&e.ip()))))
    }
}
