//! Connections whose record is written, remembered for a while by where
//! their sequence numbers had got to. A connection may outlive its record:
//! it was idle past the idle timeout and resumes, or the peer ignored a
//! RST and it goes on, or FINs and ACKs are retransmitted after the close.
//! Those packets belong to the record already written; without this memory
//! each would open a second record, mid-stream.
//!
//! A packet is taken as the connection's when its sequence number is near
//! what the peer last acknowledged, or its acknowledgment near what it had
//! itself acknowledged (within [`NEAR`]). A SYN is never taken: it starts a
//! new connection, and the memory of the old one is dropped. Bounded: at
//! most `cap` connections, each for `ttl` after its last packet, the oldest
//! forgotten first. A connection is remembered by a 64-bit hash of its
//! 4-tuple (about 50 bytes each, queue included, rather than 140): two
//! 4-tuples that collide would also need sequence numbers within
//! [`NEAR`] of each other to be confused.

use super::flow::FlowKey;
use rustc_hash::{FxBuildHasher, FxHashMap};
use std::collections::VecDeque;
use std::hash::BuildHasher;

/// A 4-tuple's hash, the key of the memory.
type Tag = u64;

fn tag(key: &FlowKey) -> Tag {
    FxBuildHasher.hash_one(key)
}

/// How far (bytes, either way) a late packet's numbers may be from where
/// the connection had got to: a window's worth of data in flight, with
/// room for window scaling.
const NEAR: u32 = 1 << 24;

#[derive(Clone, Copy, Debug)]
struct Trace {
    /// What endpoint `a` and `b` last acknowledged: the other's next
    /// sequence number.
    acked_by: [Option<u32>; 2],
    until: i64,
}

#[derive(Debug)]
pub(crate) struct Reported {
    traces: FxHashMap<Tag, Trace>,
    /// (until, tag) in the order remembered or refreshed; an entry whose
    /// trace has since been refreshed or dropped is skipped.
    order: VecDeque<(i64, Tag)>,
    cap: usize,
    ttl: i64,
}

impl Reported {
    pub fn new(cap: usize, ttl: i64) -> Reported {
        Reported {
            traces: FxHashMap::default(),
            order: VecDeque::new(),
            cap,
            ttl,
        }
    }

    /// Remembers a connection whose record was just written at `now`.
    /// One that never acknowledged anything leaves nothing to match.
    pub fn remember(&mut self, key: FlowKey, acked_by: [Option<u32>; 2], now: i64) {
        if self.cap == 0 || acked_by == [None, None] {
            return;
        }
        self.expire(now);
        while self.traces.len() >= self.cap {
            self.forget_oldest();
        }
        let until = now.saturating_add(self.ttl);
        let tag = tag(&key);
        self.traces.insert(tag, Trace { acked_by, until });
        self.order.push_back((until, tag));
    }

    /// Whether a packet from endpoint `a` (`from_a`) or `b` belongs to a
    /// connection already written; if so, it keeps the memory fresh.
    pub fn absorbs(
        &mut self,
        key: &FlowKey,
        from_a: bool,
        seq: u32,
        ack: Option<u32>,
        now: i64,
    ) -> bool {
        if self.traces.is_empty() {
            return false;
        }
        let tag = tag(key);
        let Some(trace) = self.traces.get_mut(&tag) else {
            return false;
        };
        if trace.until < now {
            self.traces.remove(&tag);
            return false;
        }
        let near = |a: u32, b: u32| {
            let d = a.wrapping_sub(b);
            d <= NEAR || d.wrapping_neg() <= NEAR
        };
        let (sender, receiver) = (usize::from(!from_a), usize::from(from_a));
        let seq_fits = trace.acked_by[receiver].is_some_and(|next| near(seq, next));
        let ack_fits =
            ack.is_some_and(|ack| trace.acked_by[sender].is_some_and(|was| near(ack, was)));
        if !(seq_fits || ack_fits) {
            return false;
        }
        trace.until = now.saturating_add(self.ttl);
        if let Some(a) = ack {
            trace.acked_by[sender] = Some(a);
        }
        let until = trace.until;
        self.order.push_back((until, tag));
        if self.order.len() > 2 * self.cap + 1024 {
            let traces = &self.traces;
            self.order
                .retain(|(until, k)| traces.get(k).is_some_and(|t| t.until == *until));
        }
        true
    }

    /// A new connection on `key`: the old one is no longer expected.
    pub fn forget(&mut self, key: &FlowKey) {
        if !self.traces.is_empty() {
            self.traces.remove(&tag(key));
        }
    }

    fn expire(&mut self, now: i64) {
        while let Some(&(until, key)) = self.order.front() {
            if until >= now {
                break;
            }
            self.order.pop_front();
            if self.traces.get(&key).is_some_and(|t| t.until == until) {
                self.traces.remove(&key);
            }
        }
    }

    fn forget_oldest(&mut self) {
        while let Some((until, key)) = self.order.pop_front() {
            if self.traces.get(&key).is_some_and(|t| t.until == until) {
                self.traces.remove(&key);
                return;
            }
        }
        // Not expected: every trace is in the order queue.
        self.traces.clear();
    }
}
