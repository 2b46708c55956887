//! Which flow was seen least recently, for eviction when the table is full,
//! and when lone SYNs time out. Two queues of (time, key) in the order the
//! flows were filed:
//!
//! * full flows, filed when they become full: one seen again since it was
//!   filed is filed again at the back with its new time when it reaches
//!   the front (a lazy LRU);
//! * lone SYNs (compact flows), filed when they come: a lone SYN is never
//!   seen again without becoming a full flow, so this order is exact, and
//!   as every lone SYN waits the same attempt timeout, the front is also
//!   the next one due; they need no timer of their own.
//!
//! A key whose flow is gone, or no longer of the queue's kind, is dropped
//! when it reaches the front. Finding the oldest costs O(1) amortised.
//! Full flows are filed only once the table has filled (an ordinary
//! capture never evicts, and pays nothing for it): the flows then held are
//! filed in the order they were last seen, once.

use super::entry::Entry;
use super::flow::FlowKey;
use rustc_hash::FxHashMap;
use std::collections::VecDeque;

type Flows = FxHashMap<FlowKey, Entry>;

#[derive(Debug, Default)]
pub(crate) struct AgeQueues {
    full: VecDeque<(i64, FlowKey)>,
    lone: VecDeque<(i64, FlowKey)>,
    /// The table has filled: full flows are filed from now on.
    filing_full: bool,
}

impl AgeQueues {
    /// Entries filed, stale ones included.
    pub fn len(&self) -> usize {
        self.full.len() + self.lone.len()
    }

    /// Files a full flow last seen at `ts` (once the table has filled).
    pub fn push_full(&mut self, ts: i64, key: FlowKey) {
        if self.filing_full {
            self.full.push_back((ts, key));
        }
    }

    /// The table is full: from now on full flows are filed, starting with
    /// those it holds, least recently seen first.
    fn start_filing_full(&mut self, flows: &Flows) {
        self.filing_full = true;
        let mut held: Vec<(i64, FlowKey)> = flows
            .iter()
            .filter_map(|(k, e)| match e {
                Entry::Flow(flow) => Some((flow.last_ts, *k)),
                Entry::FirstSyn(_) => None,
            })
            .collect();
        held.sort_unstable();
        self.full.extend(held);
    }

    /// Files a lone SYN seen at `ts`.
    pub fn push_lone(&mut self, ts: i64, key: FlowKey) {
        self.lone.push_back((ts, key));
    }

    /// The oldest lone SYN still lone, left in place.
    pub fn oldest_lone(&mut self, flows: &Flows) -> Option<(i64, FlowKey)> {
        while let Some(&(ts, key)) = self.lone.front() {
            if flows.get(&key).is_some_and(|e| e.is_lone_since(ts)) {
                return Some((ts, key));
            }
            self.lone.pop_front();
        }
        None
    }

    /// The least recently seen full flow, left in place. Each filed key is
    /// looked at most twice per call.
    fn oldest_full(&mut self, flows: &Flows) -> Option<(i64, FlowKey)> {
        let mut budget = 2 * self.full.len();
        while budget > 0 {
            budget -= 1;
            let &(filed, key) = self.full.front()?;
            match flows.get(&key) {
                Some(Entry::Flow(flow)) if flow.last_ts == filed => return Some((filed, key)),
                Some(Entry::Flow(flow)) => {
                    let seen = flow.last_ts;
                    self.full.pop_front();
                    self.full.push_back((seen, key));
                }
                _ => {
                    self.full.pop_front();
                }
            }
        }
        None
    }

    /// Takes the key of the least recently seen flow of either kind (None
    /// when there is none).
    pub fn pop_oldest(&mut self, flows: &Flows) -> Option<FlowKey> {
        if !self.filing_full {
            self.start_filing_full(flows);
        }
        let lone = self.oldest_lone(flows);
        let full = self.oldest_full(flows);
        let take_lone = match (lone, full) {
            (Some(l), Some(f)) => l.0 <= f.0,
            (l, _) => l.is_some(),
        };
        let queue = if take_lone {
            &mut self.lone
        } else {
            &mut self.full
        };
        queue.pop_front().map(|(_, key)| key)
    }

    /// Takes the lone SYN at the front (after [`AgeQueues::oldest_lone`]).
    pub fn pop_lone(&mut self) {
        self.lone.pop_front();
    }

    /// Drops the stale keys (flows gone by expiry or reuse, or turned full,
    /// which otherwise wait until they reach the front), and gives back the
    /// room.
    pub fn retain(&mut self, flows: &Flows) {
        self.full
            .retain(|(_, k)| matches!(flows.get(k), Some(Entry::Flow(_))));
        self.lone
            .retain(|(ts, k)| flows.get(k).is_some_and(|e| e.is_lone_since(*ts)));
        for q in [&mut self.full, &mut self.lone] {
            if q.capacity() > 4 * q.len() + 4096 {
                q.shrink_to_fit();
            }
        }
    }
}
