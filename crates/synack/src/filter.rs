//! `--host`, `--port` and `--net`: which records to keep. Values of one
//! flag are alternatives; different flags must all match.

use crate::cli::AnalyzeArgs;
use std::net::SocketAddr;
use synack_core::Handshake;

#[derive(Clone, Debug, Default)]
pub struct Filter {
    hosts: Vec<std::net::IpAddr>,
    ports: Vec<u16>,
    nets: Vec<ipnet::IpNet>,
}

impl Filter {
    pub fn from_args(a: &AnalyzeArgs) -> Filter {
        Filter {
            hosts: a.host.clone(),
            ports: a.port.clone(),
            nets: a.net.clone(),
        }
    }

    /// Hosts and ports only (live capture has no --net).
    pub fn new(hosts: Vec<std::net::IpAddr>, ports: Vec<u16>) -> Filter {
        Filter {
            hosts,
            ports,
            nets: Vec::new(),
        }
    }

    pub fn matches(&self, h: &Handshake) -> bool {
        let ends = [h.client, h.server];
        let any = |f: &dyn Fn(&SocketAddr) -> bool| ends.iter().any(f);
        (self.hosts.is_empty() || any(&|e| self.hosts.contains(&e.ip())))
            && (self.ports.is_empty() || any(&|e| self.ports.contains(&e.port())))
            && (self.nets.is_empty() || any(&|e| self.nets.iter().any(|n| n.contains(&e.ip()))))
    }
}
