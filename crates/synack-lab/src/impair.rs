//! Impairments: what a lab does to handshakes, as iptables rules in the
//! namespaces (losses, rejections) and NFQUEUE delay. Each says where it
//! acts: SYNs are dropped on the server's way in, SYN-ACKs on its way out,
//! delay is added on the router between the two, split between the two
//! directions, so that it lies on the wire for both ends: each end's
//! captures and kernel receive timestamps see the whole round trip, as on
//! a real network.

use std::time::Duration;

/// ICMP error kinds for rejections, with their IPv4 and IPv6 forms.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum IcmpKind {
    Host,
    Net,
    Port,
    Admin,
}

impl IcmpKind {
    pub fn parse(s: &str) -> Option<IcmpKind> {
        match s {
            "host" => Some(IcmpKind::Host),
            "net" => Some(IcmpKind::Net),
            "port" => Some(IcmpKind::Port),
            "admin" => Some(IcmpKind::Admin),
            _ => None,
        }
    }

    fn reject_with(self, v6: bool) -> &'static str {
        match (self, v6) {
            (IcmpKind::Host, false) => "icmp-host-unreachable",
            (IcmpKind::Net, false) => "icmp-net-unreachable",
            (IcmpKind::Port, false) => "icmp-port-unreachable",
            (IcmpKind::Admin, false) => "icmp-admin-prohibited",
            (IcmpKind::Host, true) => "icmp6-addr-unreachable",
            (IcmpKind::Net, true) => "icmp6-no-route",
            (IcmpKind::Port, true) => "icmp6-port-unreachable",
            (IcmpKind::Admin, true) => "icmp6-adm-prohibited",
        }
    }
}

#[derive(Clone, Debug, PartialEq)]
pub enum Impairment {
    /// Adds `rtt` to the round trip (half towards the server, half towards
    /// the client; all towards the server when `one_way`), ± `jitter`, on
    /// every packet or on SYN and SYN-ACK only.
    Delay {
        rtt: Duration,
        jitter: Duration,
        handshake_only: bool,
        one_way: bool,
    },
    /// Drops the first `n` SYNs of each flow on their way into the server.
    DropSyn { first: u32 },
    /// Drops the first `n` SYN-ACKs of each flow on their way out of the server.
    DropSynAck { first: u32 },
    /// Drops SYNs with this probability.
    DropSynRandom { probability: f64 },
    /// Drops SYNs that carry data (TCP Fast Open), as some middleboxes do.
    DropSynData,
    /// Drops SYN-ACKs with this probability.
    DropSynAckRandom { probability: f64 },
    /// The server answers SYNs (to `port`, or any) with RST.
    RejectRst { port: Option<u16> },
    /// The server answers SYNs (to `port`, or any) with an ICMP error.
    RejectIcmp { kind: IcmpKind, port: Option<u16> },
    /// The router's link towards the client carries packets of less than
    /// `over` bytes (its MTU is lowered) and the router's ICMP
    /// "fragmentation needed" / ICMPv6 "packet too big" is dropped: a PMTU
    /// black hole, where the handshake works and the first full-size
    /// segment never arrives (smaller segments do).
    DropLarge { over: u16 },
}

/// The namespace a rule goes in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Place {
    Server,
    Router,
}

/// An iptables rule and where it goes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Rule {
    pub place: Place,
    pub v6: bool,
    pub args: Vec<String>,
}

/// Queue numbers of the delayer: towards the server, towards the client.
pub(crate) const QUEUE_TO_SERVER: u16 = 1;
pub(crate) const QUEUE_TO_CLIENT: u16 = 2;

impl Impairment {
    /// `rtt` more on the round trip of every packet, half each way, with
    /// no jitter: the plain delay most scenarios want.
    pub fn delay(rtt: Duration) -> Impairment {
        Impairment::Delay {
            rtt,
            jitter: Duration::ZERO,
            handshake_only: false,
            one_way: false,
        }
    }

    /// The iptables/ip6tables rules that make it (delay also needs the
    /// delayer; see [`Impairment::queue_delays`]).
    /// `server_dev` is the server's end of its link; `from_client` and
    /// `from_server` are the router's ends of the client's and the
    /// server's links.
    pub(crate) fn rules(
        &self,
        server_dev: &str,
        from_client: &str,
        from_server: &str,
    ) -> Vec<Rule> {
        let mut out = Vec::new();
        for v6 in [false, true] {
            // A rule is its match words and then the action's words.
            let mut rule = |place: Place, head: String, tail: String| {
                let args = head
                    .split_whitespace()
                    .chain(tail.split_whitespace())
                    .map(String::from)
                    .collect();
                out.push(Rule { place, v6, args });
            };
            // On the server: client SYNs coming in, or its SYN-ACKs going out.
            let syns_in = format!("-A INPUT -i {server_dev} -p tcp --syn");
            let synacks_out =
                format!("-A OUTPUT -o {server_dev} -p tcp --tcp-flags SYN,ACK SYN,ACK");
            let port = |p: &Option<u16>| p.map(|p| format!("--dport {p} ")).unwrap_or_default();
            // hashlimit per flow: while a flow is within its burst of `first`,
            // its packets match "upto" and are dropped; later ones fall
            // through to whatever rules follow. (A global nth counter drifts
            // when a retransmission lands in between.)
            let first_of_flow = |name: &str, mode: &str, first: u32| {
                format!(
                    "-m hashlimit --hashlimit-name {name} --hashlimit-mode {mode} --hashlimit-upto 1/hour --hashlimit-burst {first} -j DROP"
                )
            };
            let random =
                |p: f64| format!("-m statistic --mode random --probability {p:.6} -j DROP");
            match self {
                Impairment::Delay {
                    handshake_only,
                    one_way,
                    ..
                } => {
                    let only = if *handshake_only {
                        "-p tcp --tcp-flags SYN SYN "
                    } else {
                        ""
                    };
                    rule(
                        Place::Router,
                        format!("-A FORWARD -i {from_client} {only}"),
                        format!("-j NFQUEUE --queue-num {QUEUE_TO_SERVER} --queue-bypass"),
                    );
                    if !one_way {
                        rule(
                            Place::Router,
                            format!("-A FORWARD -i {from_server} {only}"),
                            format!("-j NFQUEUE --queue-num {QUEUE_TO_CLIENT} --queue-bypass"),
                        );
                    }
                }
                Impairment::DropSyn { first } => rule(
                    Place::Server,
                    syns_in,
                    first_of_flow("synack_syn", "srcip,srcport", *first),
                ),
                Impairment::DropSynAck { first } => rule(
                    Place::Server,
                    synacks_out,
                    first_of_flow("synack_synack", "dstip,dstport", *first),
                ),
                Impairment::DropSynRandom { probability } => {
                    rule(Place::Server, syns_in, random(*probability))
                }
                Impairment::DropSynAckRandom { probability } => {
                    rule(Place::Server, synacks_out, random(*probability))
                }
                Impairment::DropSynData => {
                    // A SYN with every option a handshake uses is at most 80
                    // bytes over IPv4 and 100 over IPv6; bigger ones carry data.
                    let min = if v6 { 101 } else { 81 };
                    rule(
                        Place::Server,
                        syns_in,
                        format!("-m length --length {min}:65535 -j DROP"),
                    )
                }
                Impairment::RejectRst { port: p } => rule(
                    Place::Server,
                    syns_in,
                    format!("{}-j REJECT --reject-with tcp-reset", port(p)),
                ),
                Impairment::DropLarge { .. } => {
                    let too_big = if v6 {
                        "-p icmpv6 --icmpv6-type packet-too-big"
                    } else {
                        "-p icmp --icmp-type fragmentation-needed"
                    };
                    rule(
                        Place::Router,
                        format!("-A OUTPUT {too_big}"),
                        "-j DROP".to_string(),
                    )
                }
                Impairment::RejectIcmp { kind, port: p } => rule(
                    Place::Server,
                    syns_in,
                    format!(
                        "{}-j REJECT --reject-with {}",
                        port(p),
                        kind.reject_with(v6)
                    ),
                ),
            }
        }
        out
    }

    /// The delayer's queues and their delays, if this impairment delays.
    pub(crate) fn queue_delays(&self) -> Vec<crate::delayer::QueueDelay> {
        let Impairment::Delay {
            rtt,
            jitter,
            one_way,
            ..
        } = self
        else {
            return Vec::new();
        };
        if *one_way {
            vec![crate::delayer::QueueDelay {
                queue: QUEUE_TO_SERVER,
                delay: *rtt,
                jitter: *jitter,
            }]
        } else {
            let half = *rtt / 2;
            let j = *jitter / 2;
            vec![
                crate::delayer::QueueDelay {
                    queue: QUEUE_TO_SERVER,
                    delay: half,
                    jitter: j,
                },
                crate::delayer::QueueDelay {
                    queue: QUEUE_TO_CLIENT,
                    delay: *rtt - half,
                    jitter: j,
                },
            ]
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn drop_syn_drops_each_flows_first_syns_and_falls_through() {
        let rules = Impairment::DropSyn { first: 2 }.rules("veth0", "rc", "rs");
        assert_eq!(rules.len(), 2, "one rule each for IPv4 and IPv6");
        assert!(rules.iter().all(|r| r.place == Place::Server));
        assert!(
            rules[0]
                .args
                .join(" ")
                .contains("--hashlimit-upto 1/hour --hashlimit-burst 2 -j DROP")
        );
        assert!(rules[1].v6);
    }

    #[test]
    fn icmp_rejections_have_v4_and_v6_forms() {
        let rules = Impairment::RejectIcmp {
            kind: IcmpKind::Admin,
            port: Some(80),
        }
        .rules("v", "rc", "rs");
        assert!(
            rules[0]
                .args
                .join(" ")
                .ends_with("--dport 80 -j REJECT --reject-with icmp-admin-prohibited")
        );
        assert!(
            rules[1]
                .args
                .join(" ")
                .ends_with("--reject-with icmp6-adm-prohibited")
        );
    }

    #[test]
    fn delay_is_split_between_the_directions_on_the_router() {
        let d = Impairment::Delay {
            rtt: Duration::from_millis(100),
            jitter: Duration::ZERO,
            handshake_only: true,
            one_way: false,
        };
        let q = d.queue_delays();
        assert_eq!(
            q.iter().map(|x| x.delay).sum::<Duration>(),
            Duration::from_millis(100)
        );
        let rules = d.rules("s", "rc", "rs");
        assert_eq!(rules.len(), 4);
        assert!(rules.iter().all(|r| r.place == Place::Router
            && r.args.join(" ").contains("-A FORWARD")
            && r.args.join(" ").contains("--tcp-flags SYN SYN")));
        for from in ["-i rc ", "-i rs "] {
            assert_eq!(
                rules
                    .iter()
                    .filter(|r| r.args.join(" ").contains(from))
                    .count(),
                2,
                "IPv4 and IPv6 rules for packets {from}"
            );
        }
    }
}
