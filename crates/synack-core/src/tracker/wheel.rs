//! A timer wheel with one-second slots: which flows to look at when. Flows
//! are filed under the second their deadline falls in; a sweep takes every
//! slot up to now. Filing and taking are O(1), and the wheel spans at most
//! the longest timeout, however far the capture's clock jumps.

use std::collections::VecDeque;

const SLOT_NS: i64 = 1_000_000_000;
/// Deadlines further ahead are filed here and looked at again then.
const MAX_SLOTS: i64 = 4096;

#[derive(Debug)]
pub(crate) struct Wheel<K> {
    /// The second of `slots[0]`.
    base: i64,
    slots: VecDeque<Vec<K>>,
    len: usize,
}

impl<K> Wheel<K> {
    pub fn new() -> Self {
        Wheel {
            base: 0,
            slots: VecDeque::new(),
            len: 0,
        }
    }

    /// Entries filed (including those whose flow has since gone).
    pub fn len(&self) -> usize {
        self.len
    }

    /// Files `key` to be looked at once `deadline_ns` has passed.
    pub fn insert(&mut self, deadline_ns: i64, key: K) {
        let sec = deadline_ns.div_euclid(SLOT_NS);
        if self.slots.is_empty() {
            self.base = sec;
        }
        // A deadline before the first slot (timestamps going backwards) is
        // due at the next sweep anyway.
        let at = (sec - self.base).clamp(0, MAX_SLOTS) as usize;
        while self.slots.len() <= at {
            self.slots.push_back(Vec::new());
        }
        self.slots[at].push(key);
        self.len += 1;
    }

    /// Moves every key filed for a second before `now_ns` into `due`.
    pub fn take_due(&mut self, now_ns: i64, due: &mut Vec<K>) {
        let now = now_ns.div_euclid(SLOT_NS);
        while self.base < now {
            let Some(slot) = self.slots.pop_front() else {
                self.base = now;
                break;
            };
            self.len -= slot.len();
            due.extend(slot);
            self.base += 1;
        }
    }

    /// Keeps only the keys for which `keep` holds, and gives back the room
    /// of slots that emptied (a second of a flood can file a million keys).
    pub fn retain(&mut self, mut keep: impl FnMut(&K) -> bool) {
        for slot in &mut self.slots {
            slot.retain(&mut keep);
            if slot.capacity() > 4 * slot.len() + 4096 {
                slot.shrink_to_fit();
            }
        }
        self.len = self.slots.iter().map(Vec::len).sum();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_come_due_after_their_second() {
        let mut w = Wheel::new();
        w.insert(10 * SLOT_NS + 5, 'a');
        w.insert(12 * SLOT_NS, 'b');
        w.insert(3 * SLOT_NS, 'c'); // before the first slot: due at once
        let mut due = Vec::new();
        w.take_due(10 * SLOT_NS + 999, &mut due);
        assert!(due.is_empty());
        w.take_due(11 * SLOT_NS, &mut due);
        assert_eq!(due, vec!['a', 'c']);
        due.clear();
        w.take_due(i64::MAX, &mut due);
        assert_eq!(due, vec!['b']);
        assert_eq!(w.len(), 0);
    }

    #[test]
    fn far_deadlines_and_clock_jumps_stay_bounded() {
        let mut w = Wheel::new();
        w.insert(0, 1);
        w.insert(i64::MAX, 2);
        assert!(w.slots.len() <= MAX_SLOTS as usize + 1);
        let mut due = Vec::new();
        w.take_due(i64::MAX, &mut due);
        assert_eq!(due, vec![1, 2]);
        w.insert(5 * SLOT_NS, 3);
        w.take_due(6 * SLOT_NS, &mut due);
        assert_eq!(due, vec![1, 2, 3]);
    }
}
