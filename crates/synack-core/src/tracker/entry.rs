//! What the flow table holds for a 4-tuple. Most flows of a SYN flood see a
//! single SYN and nothing else, so a flow whose only packet is a SYN is kept
//! compact: the SYN's header and timestamp, inline in the table (about a
//! tenth of a full flow, and no allocation). Anything more for that 4-tuple
//! turns it into a full [`Flow`] by replaying that SYN; if nothing comes,
//! its record is built straight from the compact form, equal to the full
//! flow's (a test holds the two equal).

use super::flow::{End, Flow, FlowKey, ecn_setup, undecided_outcome};
use super::zeek::ZeekConn;
use crate::handshake::{Ecn, Handshake, Source, TfoInfo, Times};
use synack_wire::{TcpHeaderCopy, TcpView};

/// A flow that has seen one segment: a SYN (without ACK, RST or FIN) whose
/// checksum was not found wrong.
#[derive(Clone, Copy, Debug)]
pub(crate) struct FirstSyn {
    ts: i64,
    payload_len: u32,
    from_a: bool,
    header: TcpHeaderCopy,
}

impl FirstSyn {
    /// Whether a flow's first segment can be kept compact.
    pub fn fits(tcp: &TcpView<'_>, checksum_ok: bool) -> bool {
        let flags = tcp.flags();
        checksum_ok && flags.syn() && !flags.ack() && !flags.rst() && !flags.fin()
    }

    pub fn new(ts: i64, from_a: bool, tcp: &TcpView<'_>, payload_len: u32) -> FirstSyn {
        FirstSyn {
            ts,
            payload_len,
            from_a,
            header: tcp.header_copy(),
        }
    }

    /// The record of a flow that saw only this SYN: what [`Flow::finish`]
    /// gives for it (the tests hold the two equal), made without building
    /// the 800-byte flow, as a SYN flood writes a record per packet. No
    /// packet decided its outcome (RFC 9293 section 3.5: nothing answered
    /// the SYN), so its end does.
    pub fn finish(&self, key: FlowKey, end: End, now: i64, source: Source) -> Handshake {
        let tcp = self.header.view();
        let flags = tcp.flags();
        let mut zeek = ZeekConn::default();
        // A SYN's sender is Zeek's originator.
        zeek.packet(
            true,
            flags,
            tcp.seq(),
            tcp.ack(),
            self.payload_len,
            tcp.window(),
        );
        let (client, server) = if self.from_a {
            (key.a(), key.b())
        } else {
            (key.b(), key.a())
        };
        let (ecn_setup, accecn) = ecn_setup(flags);
        let with_data = (self.payload_len > 0).then_some(self.ts);
        Handshake {
            ts_ns: self.ts,
            source,
            client,
            server,
            vlan: key.vlan,
            outcome: undecided_outcome(end, now, self.ts, false),
            conn_state: zeek.conn_state(),
            history: zeek.history,
            syn_count: 1,
            synack_count: 0,
            syn_synack_ns: None,
            synack_ack_ns: None,
            total_ns: None,
            setup_ns: None,
            client_isn: Some(tcp.seq()),
            server_isn: None,
            client_opts: Some(tcp.options()),
            server_opts: None,
            syn_retransmit_opts: None,
            ecn: ecn_setup.then_some(Ecn::Requested),
            accecn,
            tfo: TfoInfo {
                syn_data: self.payload_len,
                data_acked: None,
            },
            icmp: None,
            rst_from: None,
            server_ttl: None,
            rst_ttl: None,
            simultaneous_open: false,
            times: Times {
                syn: vec![self.ts],
                client_data: with_data,
                first: self.ts,
                last: self.ts,
                ..Times::default()
            },
            client_pkts: 1,
            server_pkts: 0,
            client_bytes: u64::from(self.payload_len),
            server_bytes: 0,
            evicted: end == End::Evicted,
            announced: false,
            probe: None,
            trace: None,
        }
    }

    /// The full flow, as if it had been one from its first packet.
    pub fn into_flow(self, key: FlowKey) -> Flow {
        let tcp = self.header.view();
        let mut flow = Flow::new(
            key,
            self.from_a,
            tcp.flags(),
            tcp.src_port(),
            tcp.dst_port(),
            self.ts,
        );
        // A SYN's TTL is not part of the record.
        flow.segment(self.ts, self.from_a, &tcp, self.payload_len, 0, true);
        flow
    }
}

pub(crate) enum Entry {
    FirstSyn(FirstSyn),
    Flow(Box<Flow>),
}

impl Entry {
    /// A lone SYN that came at `ts` (not one that came since on the same
    /// 4-tuple, nor a flow that has become full).
    pub fn is_lone_since(&self, ts: i64) -> bool {
        matches!(self, Entry::FirstSyn(first) if first.ts == ts)
    }

    pub fn is_compact(&self) -> bool {
        matches!(self, Entry::FirstSyn(_))
    }

    /// The full flow, made from the compact form if need be.
    pub fn flow_mut(&mut self, key: FlowKey) -> &mut Flow {
        match self {
            Entry::Flow(flow) => flow,
            Entry::FirstSyn(first) => {
                *self = Entry::Flow(Box::new(first.into_flow(key)));
                match self {
                    Entry::Flow(flow) => flow,
                    Entry::FirstSyn(_) => unreachable!("made a full flow just above"),
                }
            }
        }
    }

    /// The record's `ts`.
    pub fn record_ts(&self) -> i64 {
        match self {
            // The first SYN is the record's time.
            Entry::FirstSyn(first) => first.ts,
            Entry::Flow(flow) => flow.record_ts(),
        }
    }

    /// See [`Flow::deadline`]: a lone SYN is an unanswered attempt.
    pub fn deadline(&self, linger: i64, attempt_idle: i64, idle: i64) -> i64 {
        match self {
            Entry::FirstSyn(first) => first.ts.saturating_add(attempt_idle),
            Entry::Flow(flow) => flow.deadline(linger, attempt_idle, idle),
        }
    }

    pub fn finish(self, key: FlowKey, end: End, now: i64, source: Source) -> Handshake {
        match self {
            Entry::FirstSyn(first) => first.finish(key, end, now, source),
            Entry::Flow(mut flow) => flow.finish(end, now, source),
        }
    }

    /// The records of this entry: its own, then that of a SYN kept aside
    /// ([`Flow::stray`]), which ends with it.
    pub fn finish_each(
        mut self,
        key: FlowKey,
        end: End,
        now: i64,
        source: Source,
        mut each: impl FnMut(Handshake),
    ) {
        let stray = match &mut self {
            Entry::Flow(flow) => flow.stray.take(),
            Entry::FirstSyn(_) => None,
        };
        each(self.finish(key, end, now, source));
        if let Some(mut stray) = stray {
            each(stray.finish(end, now, source));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use synack_wire::emit::{OptionWriter, TcpSegmentSpec, ethernet_tcp};
    use synack_wire::{Decoded, LinkType, TcpFlags, decode};

    /// Every kind of lone SYN, both ways round its key, with every end:
    /// the compact record is the full flow's.
    #[test]
    fn a_lone_syns_record_is_the_full_flows_record() {
        let linux = OptionWriter::linux(7, 0, 7).build();
        let tfo = OptionWriter::default()
            .mss(1460)
            .tfo(&[1, 2, 3, 4, 5, 6, 7, 8])
            .build();
        let option_sets: [&[u8]; 3] = [&[], &linux, &tfo];
        let flag_sets = [
            TcpFlags::SYN,
            TcpFlags::SYN | TcpFlags::ECE | TcpFlags::CWR,
            TcpFlags::SYN | TcpFlags::ECE | TcpFlags::CWR | TcpFlags::AE,
            TcpFlags::SYN | TcpFlags::ECE,
            TcpFlags::SYN | TcpFlags::PSH | TcpFlags::URG,
        ];
        let ends = [
            (End::Evicted, 0),
            (End::Finished, 1_000_000),
            (End::Finished, 10_000_000_000),
            (End::Expired, 80_000_000_000),
            (End::Reused, 2_000_000_000),
        ];
        let ends_of_key = [
            ("10.0.0.1:40000", "10.0.0.2:80"),
            ("10.0.0.2:40000", "10.0.0.1:80"),
            ("[fd00::9]:443", "[fd00::1]:5555"),
        ];
        let mut checked = 0;
        for options in option_sets {
            for flags in flag_sets {
                for payload in [&b""[..], b"GET / HTTP/1.1\r\n"] {
                    for (src, dst) in ends_of_key {
                        let (src, dst) = (src.parse().unwrap(), dst.parse().unwrap());
                        let spec = TcpSegmentSpec {
                            options,
                            payload,
                            ..TcpSegmentSpec::new(src, dst, 0xfffffff0, 0, flags)
                        };
                        let mut frame = Vec::new();
                        ethernet_tcp(&mut frame, &spec);
                        let Ok(Decoded::Tcp(seg)) = decode(LinkType::ETHERNET, &frame) else {
                            panic!("the emitter's frame decodes");
                        };
                        let (key, from_a) =
                            FlowKey::new(0, (src.ip(), src.port()), (dst.ip(), dst.port()));
                        assert!(FirstSyn::fits(&seg.tcp, true));
                        let ts = 5_000_000_000;
                        let first = FirstSyn::new(ts, from_a, &seg.tcp, seg.payload_len);
                        for (end, after) in ends {
                            let compact = first.finish(key, end, ts + after, Source::Pcap);
                            let full = first.into_flow(key).finish(end, ts + after, Source::Pcap);
                            assert_eq!(compact, full, "{flags:?} {end:?}");
                            checked += 1;
                        }
                    }
                }
            }
        }
        assert_eq!(checked, 3 * 5 * 2 * 3 * 5);
    }
}
