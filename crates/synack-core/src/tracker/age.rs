//! Which flow was seen least recently, for eviction when the table is full:
//! a queue of (last packet time, key) in the order flows were filed. A flow
//! seen again since it was filed is filed again at the back with its new
//! time when it reaches the front (a lazy LRU), and keys of flows already
//! gone are dropped there, so finding the oldest costs O(1) amortised
//! instead of a walk of the table.

use super::entry::Entry;
use super::flow::FlowKey;
use rustc_hash::FxHashMap;
use std::collections::VecDeque;

#[derive(Debug, Default)]
pub(crate) struct AgeQueue {
    queue: VecDeque<(i64, FlowKey)>,
}

impl AgeQueue {
    pub fn len(&self) -> usize {
        self.queue.len()
    }

    /// Files a new flow, last seen at `ts`.
    pub fn push(&mut self, ts: i64, key: FlowKey) {
        self.queue.push_back((ts, key));
    }

    /// Takes the key of the least recently seen flow of `flows` (None when
    /// it is empty). Each filed key is looked at most twice per call.
    pub fn pop_oldest(&mut self, flows: &FxHashMap<FlowKey, Entry>) -> Option<FlowKey> {
        let mut budget = 2 * self.queue.len();
        while budget > 0 {
            budget -= 1;
            let (filed_ts, key) = self.queue.pop_front()?;
            let Some(entry) = flows.get(&key) else {
                continue;
            };
            let seen = entry.last_ts();
            if seen == filed_ts {
                return Some(key);
            }
            self.queue.push_back((seen, key));
        }
        None
    }

    /// Drops the keys for which `keep` fails (flows gone by expiry or
    /// reuse, which otherwise wait until they reach the front).
    pub fn retain(&mut self, mut keep: impl FnMut(&FlowKey) -> bool) {
        self.queue.retain(|(_, k)| keep(k));
        if self.queue.capacity() > 2 * self.queue.len() + 1024 {
            self.queue.shrink_to_fit();
        }
    }
}
