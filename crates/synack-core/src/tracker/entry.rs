//! What the flow table holds for a 4-tuple. Most flows of a SYN flood see a
//! single SYN and nothing else, so a flow whose only packet is a SYN is kept
//! compact: the SYN's header and timestamp, inline in the table (about a
//! tenth of a full flow, and no allocation). Anything more for that 4-tuple,
//! or the flow's record being written, turns it into a full [`Flow`] by
//! replaying that SYN, so every record is exactly what the full flow gives.

use super::flow::{End, Flow, FlowKey};
use crate::handshake::{Handshake, Source};
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
        flow.segment(self.ts, self.from_a, &tcp, self.payload_len, true);
        flow
    }
}

pub(crate) enum Entry {
    FirstSyn(FirstSyn),
    Flow(Box<Flow>),
}

impl Entry {
    /// The full flow, made from the compact form if need be.
    pub fn flow_mut(&mut self, key: FlowKey) -> &mut Flow {
        if let Entry::FirstSyn(first) = *self {
            *self = Entry::Flow(Box::new(first.into_flow(key)));
        }
        match self {
            Entry::Flow(flow) => flow,
            Entry::FirstSyn(_) => unreachable!("made a full flow just above"),
        }
    }

    pub fn last_ts(&self) -> i64 {
        match self {
            Entry::FirstSyn(first) => first.ts,
            Entry::Flow(flow) => flow.last_ts,
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
            Entry::FirstSyn(first) => first.into_flow(key).finish(end, now, source),
            Entry::Flow(flow) => flow.finish(end, now, source),
        }
    }
}
