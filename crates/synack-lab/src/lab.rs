//! The lab itself: a client and a server namespace joined through a router
//! namespace (a veth pair on each side), addressed for IPv4 and IPv6 as if
//! on one subnet, with static neighbours and no default route, torn down on
//! drop. The router is the wire: delay is added there, so that both ends'
//! captures and kernel timestamps see all of it (on a veth pair, one end's
//! transmit and the other's receive are the same instant, so a delay inside
//! either end is invisible to one of them).

use crate::delayer::Delayer;
use crate::error::LabError;
use crate::impair::{Impairment, Place};
use crate::netns::Netns;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::process::{Command, Output};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

/// Every lab's namespaces start with this; nothing else of ours does.
pub const PREFIX: &str = "synack-";
const VETH_CLIENT: &str = "veth-cli";
/// The server namespace's link to the router (where a capture sees both ways).
pub const VETH_SERVER: &str = "veth-srv";
/// The router's ends of the client's and the server's links.
const ROUTER_CLIENT: &str = "rtr-cli";
const ROUTER_SERVER: &str = "rtr-srv";
const MAC_CLIENT: &str = "02:5a:00:00:00:02";
const MAC_SERVER: &str = "02:5a:00:00:00:01";
const MAC_ROUTER_CLIENT: &str = "02:5a:00:00:01:02";
const MAC_ROUTER_SERVER: &str = "02:5a:00:00:01:01";
const LINK_UP_TIMEOUT: Duration = Duration::from_secs(3);

static NEXT: AtomicU32 = AtomicU32::new(0);

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Side {
    Client,
    Server,
}

pub struct Lab {
    pub id: String,
    pub client: Netns,
    pub server: Netns,
    /// Forwards between the two, and holds the delay.
    pub router: Netns,
    pub client_v4: Ipv4Addr,
    pub server_v4: Ipv4Addr,
    pub client_v6: Ipv6Addr,
    pub server_v6: Ipv6Addr,
    /// On the subnet, but nothing answers for it (no neighbour entry).
    pub dead_v4: Ipv4Addr,
    pub dead_v6: Ipv6Addr,
    /// Spoofed source of the SYN flood: the server knows a neighbour for
    /// it, the client drops what comes back (it is not its address).
    pub flood_v4: Ipv4Addr,
    pub flood_v6: Ipv6Addr,
    delayer: Option<Delayer>,
    impairments: Vec<Impairment>,
    torn_down: bool,
}

fn run(cmd: &mut Command) -> Result<Output, LabError> {
    let text = format!("{cmd:?}").replace('"', "");
    let out = cmd
        .output()
        .map_err(|e| LabError::io(format!("running {text}"), e))?;
    if !out.status.success() {
        return Err(LabError::Command {
            command: text,
            stderr: String::from_utf8_lossy(&out.stderr).trim().to_string(),
        });
    }
    Ok(out)
}

fn ip(args: &[&str]) -> Result<Output, LabError> {
    run(Command::new("ip").args(args))
}

/// A permanent neighbour entry: `addr` is at `mac` on `dev` in `ns`.
fn static_neighbour(ns: &str, addr: IpAddr, mac: &str, dev: &str) -> Result<(), LabError> {
    ip(&[
        "-n",
        ns,
        "neigh",
        "replace",
        &addr.to_string(),
        "lladdr",
        mac,
        "dev",
        dev,
        "nud",
        "permanent",
    ])
    .map(|_| ())
}

/// Checks that a program runs, or names the package that provides it.
fn require(program: &'static str, package: &'static str) -> Result<(), LabError> {
    match Command::new(program).arg("--version").output() {
        Ok(_) => Ok(()),
        Err(_) => Err(LabError::Missing { program, package }),
    }
}

impl Lab {
    /// Builds a new lab and waits until its link is up.
    pub fn up() -> Result<Lab, LabError> {
        if !synack_sys::is_root() {
            return Err(LabError::NotRoot);
        }
        require("ip", "iproute2")?;
        let pid = std::process::id();
        let n = NEXT.fetch_add(1, Ordering::SeqCst);
        let id = format!("{pid}-{n}");
        // A subnet per lab, so that addresses tell labs apart in logs.
        let net = ((pid + n) % 250 + 1) as u8;
        let lab = Lab {
            client: Netns {
                name: format!("{PREFIX}{id}-cli"),
            },
            server: Netns {
                name: format!("{PREFIX}{id}-srv"),
            },
            router: Netns {
                name: format!("{PREFIX}{id}-rtr"),
            },
            client_v4: Ipv4Addr::new(198, 18, net, 2),
            server_v4: Ipv4Addr::new(198, 18, net, 1),
            dead_v4: Ipv4Addr::new(198, 18, net, 9),
            client_v6: Ipv6Addr::new(0xfd00, 0x1ab, u16::from(net), 0, 0, 0, 0, 2),
            server_v6: Ipv6Addr::new(0xfd00, 0x1ab, u16::from(net), 0, 0, 0, 0, 1),
            dead_v6: Ipv6Addr::new(0xfd00, 0x1ab, u16::from(net), 0, 0, 0, 0, 9),
            flood_v4: Ipv4Addr::new(198, 18, net, 3),
            flood_v6: Ipv6Addr::new(0xfd00, 0x1ab, u16::from(net), 0, 0, 0, 0, 3),
            id,
            delayer: None,
            impairments: Vec::new(),
            torn_down: false,
        };
        // From here on, a failure tears down what exists (Drop).
        lab.build()?;
        Ok(lab)
    }

    fn build(&self) -> Result<(), LabError> {
        let (c, sv, r) = (&self.client.name, &self.server.name, &self.router.name);
        for ns in [c, sv, r] {
            ip(&["netns", "add", ns])?;
            ip(&["-n", ns, "link", "set", "lo", "up"])?;
        }
        for (ns, dev, mac, router_dev, router_mac) in [
            (c, VETH_CLIENT, MAC_CLIENT, ROUTER_CLIENT, MAC_ROUTER_CLIENT),
            (
                sv,
                VETH_SERVER,
                MAC_SERVER,
                ROUTER_SERVER,
                MAC_ROUTER_SERVER,
            ),
        ] {
            ip(&[
                "link", "add", dev, "address", mac, "netns", ns, "type", "veth", "peer", "name",
                router_dev, "address", router_mac, "netns", r,
            ])?;
        }
        let v4 = |a: Ipv4Addr| IpAddr::V4(a);
        let v6 = |a: Ipv6Addr| IpAddr::V6(a);
        // Each end has its address on one subnet with the other end, whose
        // address resolves to the router's MAC: the ends route nothing.
        for (ns, dev, mine, peers, router_mac) in [
            (
                c,
                VETH_CLIENT,
                [
                    self.client_v4.to_string() + "/24",
                    self.client_v6.to_string() + "/64",
                ],
                vec![v4(self.server_v4), v6(self.server_v6)],
                MAC_ROUTER_CLIENT,
            ),
            (
                sv,
                VETH_SERVER,
                [
                    self.server_v4.to_string() + "/24",
                    self.server_v6.to_string() + "/64",
                ],
                // The flood's spoofed source goes back towards the client,
                // which drops what comes (not its address) instead of
                // answering with RST (which would free the half-open entries).
                vec![
                    v4(self.client_v4),
                    v6(self.client_v6),
                    v4(self.flood_v4),
                    v6(self.flood_v6),
                ],
                MAC_ROUTER_SERVER,
            ),
        ] {
            ip(&["-n", ns, "addr", "add", &mine[0], "dev", dev])?;
            // nodad: the address is usable at once (no 1-2 s of tentative state).
            ip(&["-n", ns, "addr", "add", &mine[1], "dev", dev, "nodad"])?;
            // Static neighbours: the first connect does no ARP or ND, so
            // timings are the handshake's alone.
            for peer in peers {
                static_neighbour(ns, peer, router_mac, dev)?;
            }
            ip(&["-n", ns, "link", "set", dev, "up"])?;
        }
        // The router: host routes to each end, static neighbours, forwarding
        // on, and no reverse-path filter (the flood's source is spoofed).
        for (dev, mac, hosts) in [
            (
                ROUTER_CLIENT,
                MAC_CLIENT,
                vec![
                    v4(self.client_v4),
                    v6(self.client_v6),
                    v4(self.flood_v4),
                    v6(self.flood_v6),
                ],
            ),
            (
                ROUTER_SERVER,
                MAC_SERVER,
                vec![v4(self.server_v4), v6(self.server_v6)],
            ),
        ] {
            ip(&["-n", r, "link", "set", dev, "up"])?;
            for host in hosts {
                let prefix = if host.is_ipv4() { "/32" } else { "/128" };
                ip(&[
                    "-n",
                    r,
                    "route",
                    "add",
                    &format!("{host}{prefix}"),
                    "dev",
                    dev,
                ])?;
                static_neighbour(r, host, mac, dev)?;
            }
        }
        for (key, value) in [
            ("net.ipv4.ip_forward", "1"),
            ("net.ipv6.conf.all.forwarding", "1"),
            ("net.ipv4.conf.all.rp_filter", "0"),
            ("net.ipv4.conf.default.rp_filter", "0"),
            ("net.ipv4.conf.rtr-cli.rp_filter", "0"),
            ("net.ipv4.conf.rtr-srv.rp_filter", "0"),
        ] {
            self.sysctl_in(&self.router, key, value)?;
        }
        self.wait_link_up()
    }

    /// Makes the dead addresses silent: the client sends to them (through
    /// the router, as to the server) and the router discards what comes,
    /// with no ICMP error, as a host that is down behind a router or a
    /// firewall that drops looks. Without this they fail fast: no
    /// neighbour answers for them (EHOSTUNREACH after ARP/ND gives up).
    pub fn black_hole_dead_hosts(&self) -> Result<(), LabError> {
        let (c, r) = (&self.client.name, &self.router.name);
        for (dead, prefix) in [
            (IpAddr::V4(self.dead_v4), "/32"),
            (IpAddr::V6(self.dead_v6), "/128"),
        ] {
            static_neighbour(c, dead, MAC_ROUTER_CLIENT, VETH_CLIENT)?;
            ip(&[
                "-n",
                r,
                "route",
                "add",
                "blackhole",
                &format!("{dead}{prefix}"),
            ])?;
        }
        Ok(())
    }

    /// Gives the server a second address of each family, reached like the
    /// first, whose prefix shared with the client's address is shorter
    /// than the dead addresses' (RFC 6724 rule 9 sorts a name's addresses
    /// by that): a name listing a dead address and this one is tried dead
    /// first, whatever the order of its records.
    pub fn add_server_alias(&self) -> Result<(Ipv4Addr, Ipv6Addr), LabError> {
        let [a, b, c, _] = self.server_v4.octets();
        let v4 = Ipv4Addr::new(a, b, c, 130);
        let mut seg = self.server_v6.segments();
        seg[7] = 0x82;
        let v6 = Ipv6Addr::from(seg);
        let (cl, sv, r) = (&self.client.name, &self.server.name, &self.router.name);
        for (addr, prefix) in [(IpAddr::V4(v4), "/24"), (IpAddr::V6(v6), "/64")] {
            let mut args = vec!["-n", sv, "addr", "add"];
            let with_prefix = format!("{addr}{prefix}");
            args.extend([with_prefix.as_str(), "dev", VETH_SERVER]);
            if addr.is_ipv6() {
                args.push("nodad");
            }
            ip(&args)?;
            static_neighbour(cl, addr, MAC_ROUTER_CLIENT, VETH_CLIENT)?;
            let host = format!("{addr}{}", if addr.is_ipv4() { "/32" } else { "/128" });
            ip(&["-n", r, "route", "add", &host, "dev", ROUTER_SERVER])?;
            static_neighbour(r, addr, MAC_SERVER, ROUTER_SERVER)?;
        }
        Ok((v4, v6))
    }

    /// Sends `count` SYNs to the server's `port` from spoofed source ports
    /// of the flood address (IPv4 or IPv6), as fast as the link takes them,
    /// from inside the client namespace. Bounded by `count`; nothing leaves
    /// the lab. Returns how many were sent.
    pub fn syn_flood(&self, port: u16, count: u32, v6: bool) -> Result<u32, LabError> {
        use synack_wire::emit::{OptionWriter, TcpSegmentSpec, ethernet_tcp};
        let (src, dst) = if v6 {
            (IpAddr::V6(self.flood_v6), IpAddr::V6(self.server_v6))
        } else {
            (IpAddr::V4(self.flood_v4), IpAddr::V4(self.server_v4))
        };
        let sent = self.client.run(move || -> std::io::Result<u32> {
            let link = synack_capture::live::RawLink::open(VETH_CLIENT)?;
            let options = OptionWriter::default().mss(1460).build();
            let mut frame = Vec::with_capacity(96);
            let mut isn = 0x5eed_0000u32;
            for i in 0..count {
                frame.clear();
                isn = isn.wrapping_mul(1_103_515_245).wrapping_add(12_345);
                let spec = TcpSegmentSpec {
                    options: &options,
                    ..TcpSegmentSpec::new(
                        std::net::SocketAddr::new(src, 1024 + (i % 60_000) as u16),
                        std::net::SocketAddr::new(dst, port),
                        isn,
                        0,
                        synack_wire::TcpFlags::SYN,
                    )
                };
                ethernet_tcp(&mut frame, &spec);
                // The emitter writes placeholder MACs: address the router.
                frame[..6].copy_from_slice(&mac_bytes(MAC_ROUTER_CLIENT));
                frame[6..12].copy_from_slice(&mac_bytes(MAC_CLIENT));
                link.send(&frame)?;
            }
            Ok(count)
        })?;
        sent.map_err(|e| LabError::io("sending the SYN flood (AF_PACKET)", e))
    }

    /// The addresses a many-source flood is spoofed from (10.200.0.0/16,
    /// 65,536 of them), made routable: the server sends its answers to
    /// them through the router (a gateway that is a static neighbour with
    /// the router's MAC), and the router discards them (a blackhole
    /// route), as answers to spoofed sources vanish on the Internet. The
    /// server must be able to route them: a SYN whose answer has no route
    /// is dropped before it takes a queue slot, which no real flood gets.
    pub fn route_flood_sources(&self) -> Result<(Ipv4Addr, u32), LabError> {
        let base = Ipv4Addr::new(10, 200, 0, 0);
        let gateway = IpAddr::V4(Ipv4Addr::new(
            self.server_v4.octets()[0],
            self.server_v4.octets()[1],
            self.server_v4.octets()[2],
            254,
        ));
        static_neighbour(&self.server.name, gateway, MAC_ROUTER_SERVER, VETH_SERVER)?;
        ip(&[
            "-n",
            &self.server.name,
            "route",
            "replace",
            "10.200.0.0/16",
            "via",
            &gateway.to_string(),
            "dev",
            VETH_SERVER,
        ])?;
        ip(&[
            "-n",
            &self.router.name,
            "route",
            "replace",
            "blackhole",
            "10.200.0.0/16",
        ])?;
        Ok((base, 1 << 16))
    }

    /// A SYN flood at `rate` SYNs per second for `duration` (or until
    /// `stop`, or `max_syns` sent) to the server's `port`, from the
    /// sources of [`Lab::route_flood_sources`] (a different address and
    /// port for each SYN, as spoofing tools send), from inside the client
    /// namespace. Paced in 10 ms batches. Returns how many were sent.
    pub fn paced_flood(
        &self,
        port: u16,
        rate: u32,
        duration: Duration,
        max_syns: u64,
        stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
    ) -> Result<u64, LabError> {
        use std::sync::atomic::Ordering;
        use synack_wire::emit::{OptionWriter, TcpSegmentSpec, ethernet_tcp};
        let (base, count) = self.route_flood_sources()?;
        let dst = IpAddr::V4(self.server_v4);
        let sent = self.client.run(move || -> std::io::Result<u64> {
            let link = synack_capture::live::RawLink::open(VETH_CLIENT)?;
            let options = OptionWriter::default().mss(1460).sack_permitted().build();
            let mut frame = Vec::with_capacity(96);
            let mut x = 0x9e37_79b9u32;
            let start = Instant::now();
            let mut sent = 0u64;
            while start.elapsed() < duration && !stop.load(Ordering::SeqCst) && sent < max_syns {
                // Due by now: rate × elapsed, sent in one go (in batches of
                // at most 65,536, so that the stop conditions are looked at).
                let due = ((start.elapsed().as_secs_f64() * f64::from(rate)) as u64 + 1)
                    .min(sent + 65_536)
                    .min(max_syns);
                while sent < due {
                    // xorshift: a spread of sources, ports and ISNs.
                    x ^= x << 13;
                    x ^= x >> 17;
                    x ^= x << 5;
                    let src = Ipv4Addr::from(u32::from(base) + (x % count));
                    let spec = TcpSegmentSpec {
                        options: &options,
                        ..TcpSegmentSpec::new(
                            std::net::SocketAddr::new(
                                IpAddr::V4(src),
                                1024 + (x >> 16) as u16 % 60_000,
                            ),
                            std::net::SocketAddr::new(dst, port),
                            x.rotate_left(7),
                            0,
                            synack_wire::TcpFlags::SYN,
                        )
                    };
                    frame.clear();
                    ethernet_tcp(&mut frame, &spec);
                    frame[..6].copy_from_slice(&mac_bytes(MAC_ROUTER_CLIENT));
                    frame[6..12].copy_from_slice(&mac_bytes(MAC_CLIENT));
                    link.send(&frame)?;
                    sent += 1;
                }
                // Traffic pacing, not synchronisation: the next batch.
                std::thread::sleep(Duration::from_millis(10));
            }
            Ok(sent)
        })?;
        sent.map_err(|e| LabError::io("sending the paced SYN flood (AF_PACKET)", e))
    }

    /// Packets sent before both ends are up are lost, so wait (bounded).
    fn wait_link_up(&self) -> Result<(), LabError> {
        let start = Instant::now();
        loop {
            let up = [
                (&self.client.name, VETH_CLIENT),
                (&self.server.name, VETH_SERVER),
                (&self.router.name, ROUTER_CLIENT),
                (&self.router.name, ROUTER_SERVER),
            ]
            .iter()
            .all(|(ns, dev)| {
                ip(&["-n", ns, "-o", "link", "show", "dev", dev])
                    .map(|o| String::from_utf8_lossy(&o.stdout).contains("state UP"))
                    .unwrap_or(false)
            });
            if up {
                return Ok(());
            }
            if start.elapsed() > LINK_UP_TIMEOUT {
                return Err(LabError::LinkDown(LINK_UP_TIMEOUT.as_millis() as u64));
            }
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    pub fn netns(&self, side: Side) -> &Netns {
        match side {
            Side::Client => &self.client,
            Side::Server => &self.server,
        }
    }

    pub fn server_addr(&self, v6: bool) -> IpAddr {
        if v6 {
            IpAddr::V6(self.server_v6)
        } else {
            IpAddr::V4(self.server_v4)
        }
    }

    /// A listener bound in the server namespace on its address and `port`
    /// (the socket works from any thread once bound).
    pub fn listen(&self, port: u16, v6: bool) -> Result<std::net::TcpListener, LabError> {
        let addr = std::net::SocketAddr::new(self.server_addr(v6), port);
        self.server
            .run(move || std::net::TcpListener::bind(addr))?
            .map_err(|e| LabError::io(format!("listening on {addr} in {}", self.server.name), e))
    }

    /// A listener on `port` in the server namespace for every address it
    /// has, IPv4 and IPv6 (the wildcard `[::]`, not v6-only).
    pub fn listen_any(&self, port: u16) -> Result<std::net::TcpListener, LabError> {
        let addr = std::net::SocketAddr::new(Ipv6Addr::UNSPECIFIED.into(), port);
        self.server
            .run(move || std::net::TcpListener::bind(addr))?
            .map_err(|e| {
                LabError::io(
                    format!("listening on port {port} in {}", self.server.name),
                    e,
                )
            })
    }

    /// Sets a sysctl inside one namespace, e.g. `net.ipv4.tcp_syn_retries`.
    /// Handshake sysctls are per namespace: the host is never touched.
    pub fn sysctl(&self, side: Side, key: &str, value: &str) -> Result<(), LabError> {
        self.sysctl_in(self.netns(side), key, value)
    }

    fn sysctl_in(&self, ns: &Netns, key: &str, value: &str) -> Result<(), LabError> {
        // Keys name devices with dots too (rtr-cli has none, so '.' is a
        // separator everywhere here).
        let path = format!("/proc/sys/{}", key.replace('.', "/"));
        let (p, v) = (path.clone(), value.to_string());
        ns.run(move || std::fs::write(&p, v))?
            .map_err(|e| LabError::io(format!("setting {key} in {}", ns.name), e))
    }

    /// Applies an impairment; several combine.
    pub fn impair(&mut self, imp: Impairment) -> Result<(), LabError> {
        let delays = imp.queue_delays();
        if !delays.is_empty() {
            if self.delayer.is_some() {
                return Err(LabError::Command {
                    command: "delay".into(),
                    stderr: "only one delay per lab".into(),
                });
            }
            // The delayer binds its queues before the rules exist, so no
            // packet slips through undelayed.
            self.delayer = Some(Delayer::start(&self.router, delays)?);
        }
        require("iptables", "iptables")?;
        if let Impairment::DropLarge { over } = imp {
            // The link towards the client carries less than the ends' MTU;
            // the router's ICMP saying so is dropped (the rules below).
            let mtu = (over - 1).to_string();
            ip(&[
                "-n",
                &self.router.name,
                "link",
                "set",
                ROUTER_CLIENT,
                "mtu",
                &mtu,
            ])?;
        }
        for rule in imp.rules(VETH_SERVER, ROUTER_CLIENT, ROUTER_SERVER) {
            let ns = match rule.place {
                Place::Server => &self.server,
                Place::Router => &self.router,
            };
            let program = if rule.v6 { "ip6tables" } else { "iptables" };
            run(ns.command(program).args(&rule.args))?;
        }
        self.impairments.push(imp);
        Ok(())
    }

    /// Starts capturing every frame on one side's end of the link (both
    /// directions) into a pcapng file.
    pub fn capture(&self, side: Side, path: &std::path::Path) -> Result<crate::Capture, LabError> {
        let dev = match side {
            Side::Client => VETH_CLIENT,
            Side::Server => VETH_SERVER,
        };
        crate::Capture::start(self.netns(side), dev, path)
    }

    /// Half-open connections (SYN-RECV) to the server's `port`, from the
    /// server namespace's /proc/net/tcp and tcp6 (not sock_diag, so that
    /// tests of synack's own sock_diag numbers have a second source).
    pub fn syn_recv(&self, port: u16) -> Result<usize, LabError> {
        let sockets = self
            .server
            .run(synack_host::procfs::tcp_sockets)?
            .map_err(|e| LabError::io("/proc/net/tcp", e))?;
        Ok(sockets
            .iter()
            .filter(|s| s.local_port == port && s.state == synack_host::procfs::STATE_SYN_RECV)
            .count())
    }

    /// Whether the delayer got real-time priority (None without delay).
    pub fn delayer_realtime(&self) -> Option<bool> {
        self.delayer.as_ref().map(|d| d.realtime)
    }

    /// The environment both commands of `synack lab run` get.
    pub fn env(&self) -> Vec<(String, String)> {
        [
            ("SYNACK_SERVER", self.server_v4.to_string()),
            ("SYNACK_SERVER6", self.server_v6.to_string()),
            ("SYNACK_CLIENT", self.client_v4.to_string()),
            ("SYNACK_CLIENT6", self.client_v6.to_string()),
            ("SYNACK_DEAD_HOST", self.dead_v4.to_string()),
            ("SYNACK_DEAD_HOST6", self.dead_v6.to_string()),
            ("SYNACK_CLIENT_NS", self.client.name.clone()),
            ("SYNACK_SERVER_NS", self.server.name.clone()),
            ("SYNACK_ROUTER_NS", self.router.name.clone()),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect()
    }

    /// Removes the lab now (also done on drop).
    pub fn down(mut self) -> Result<(), LabError> {
        self.teardown()
    }

    fn teardown(&mut self) -> Result<(), LabError> {
        if self.torn_down {
            return Ok(());
        }
        self.torn_down = true;
        if let Some(mut d) = self.delayer.take() {
            d.stop();
        }
        let mut first_error = None;
        for ns in [&self.client.name, &self.server.name, &self.router.name] {
            if let Err(e) = remove_namespace(ns) {
                first_error.get_or_insert(e);
            }
        }
        first_error.map_or(Ok(()), Err)
    }

    /// Names of the labs' namespaces that exist now.
    pub fn existing() -> Vec<String> {
        let Ok(dir) = std::fs::read_dir("/run/netns") else {
            return Vec::new();
        };
        let mut v: Vec<String> = dir
            .flatten()
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .filter(|n| n.starts_with(PREFIX))
            .collect();
        v.sort();
        v
    }

    /// Removes every lab's namespaces, live or not, with what runs in them.
    pub fn remove_all() -> Vec<String> {
        Lab::existing()
            .into_iter()
            .filter(|n| remove_namespace(n).is_ok())
            .collect()
    }

    /// Removes labs whose process is gone (a killed run), and returns the
    /// namespaces removed. Labs of live processes are left alone.
    pub fn remove_stale() -> Vec<String> {
        Lab::existing()
            .into_iter()
            .filter(|name| !Lab::owner_alive(name) && remove_namespace(name).is_ok())
            .collect()
    }

    /// Removes one lab, by its id (`PID-N`, as `synack lab status` and
    /// `lab up` print it), whether its owner lives or not.
    pub fn remove(id: &str) -> Vec<String> {
        Lab::existing()
            .into_iter()
            .filter(|name| Lab::id_of(name) == Some(id) && remove_namespace(name).is_ok())
            .collect()
    }

    /// The lab id in a namespace name (`synack-PID-N-cli` → `PID-N`).
    pub fn id_of(namespace: &str) -> Option<&str> {
        let rest = namespace.strip_prefix(PREFIX)?;
        rest.rsplit_once('-').map(|(id, _side)| id)
    }

    /// Whether the process that built the lab still runs.
    pub fn owner_alive(namespace: &str) -> bool {
        Lab::id_of(namespace)
            .and_then(|id| id.split('-').next())
            .and_then(|p| p.parse::<u32>().ok())
            .is_some_and(|p| std::path::Path::new(&format!("/proc/{p}")).exists())
    }
}

/// Kills whatever still runs inside `ns`, then deletes it (its veth end and
/// rules go with it).
pub(crate) fn remove_namespace(ns: &str) -> Result<(), LabError> {
    if !std::path::Path::new("/run/netns").join(ns).exists() {
        return Ok(()); // already gone (e.g. `synack lab down --all` from elsewhere)
    }
    if let Ok(out) = ip(&["netns", "pids", ns]) {
        for pid in String::from_utf8_lossy(&out.stdout)
            .split_whitespace()
            .filter_map(|p| p.parse().ok())
        {
            synack_sys::kill(pid, synack_sys::signal::SIGKILL);
        }
    }
    // The matrix's per-namespace hosts file (`ip netns exec` mounts
    // /etc/netns/NS/*), left behind when its run was killed.
    let _ = std::fs::remove_dir_all(std::path::Path::new("/etc/netns").join(ns));
    match ip(&["netns", "del", ns]) {
        // Removed meanwhile by someone else (`synack lab down ID` while the
        // lab's owner tears it down too): gone is what was asked.
        Err(_) if !std::path::Path::new("/run/netns").join(ns).exists() => Ok(()),
        result => result.map(|_| ()),
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        if let Err(e) = self.teardown() {
            eprintln!("synack lab: teardown of {}: {e}", self.id);
        }
    }
}

fn mac_bytes(mac: &str) -> [u8; 6] {
    let mut out = [0u8; 6];
    for (slot, part) in out.iter_mut().zip(mac.split(':')) {
        *slot = u8::from_str_radix(part, 16).unwrap_or(0);
    }
    out
}
