//! Many attempts at once: one mio event loop, a slot per connect in flight,
//! a deadline heap, and pacing between starts. Attempts are independent;
//! results come back in the order they finish.

use crate::attempt::{AttemptConfig, AttemptResult, Pending, Started, start};
use mio::{Events, Interest, Poll, Token};
use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::io;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

/// How the engine spends its budget.
#[derive(Clone, Debug)]
pub struct Pace {
    /// Most connects in flight at once.
    pub concurrency: usize,
    /// Least time between two starts (zero: as fast as slots free up).
    pub gap: Duration,
    /// Start nothing after this instant; what is in flight still finishes.
    pub until: Option<Instant>,
}

/// Runs one attempt per job (`(tag, target)`), calling `done` with each
/// result as it finishes. Returns early, dropping what is in flight, when
/// `stop` is set.
pub fn run(
    jobs: &mut dyn Iterator<Item = (usize, SocketAddr)>,
    cfg: &AttemptConfig,
    pace: &Pace,
    stop: &AtomicBool,
    done: &mut dyn FnMut(usize, AttemptResult),
) -> io::Result<()> {
    let mut poll = Poll::new()?;
    let mut events = Events::with_capacity(1024);
    let concurrency = pace.concurrency.max(1);
    let mut slots: Vec<Option<(Pending, usize)>> = (0..concurrency).map(|_| None).collect();
    let mut free: Vec<usize> = (0..concurrency).rev().collect();
    // (deadline, slot, generation): a slot reused since is skipped.
    let mut deadlines: BinaryHeap<Reverse<(Instant, usize, u64)>> = BinaryHeap::new();
    let mut generation = vec![0u64; concurrency];
    let mut next_start = Instant::now();
    // Peeked, so that the loop ends as soon as the last job has finished
    // rather than after one more pacing gap.
    let mut jobs = std::iter::from_fn(|| jobs.next()).peekable();
    let mut exhausted = false;
    loop {
        exhausted |= jobs.peek().is_none();
        if stop.load(Ordering::SeqCst) {
            return Ok(());
        }
        // Start what the slots and the pace allow.
        while !exhausted && !free.is_empty() && Instant::now() >= next_start {
            if pace.until.is_some_and(|u| Instant::now() >= u) {
                exhausted = true;
                break;
            }
            let Some((tag, target)) = jobs.next() else {
                exhausted = true;
                break;
            };
            next_start = Instant::now() + pace.gap;
            match start(target, cfg) {
                Started::Done(r) => done(tag, r),
                Started::Pending(mut p) => {
                    let slot = free.pop().expect("a free slot");
                    generation[slot] += 1;
                    if let Err(e) =
                        poll.registry()
                            .register(p.source(), Token(slot), Interest::WRITABLE)
                    {
                        free.push(slot);
                        done(tag, p.finish_with_error(&e));
                        continue;
                    }
                    deadlines.push(Reverse((p.deadline(), slot, generation[slot])));
                    slots[slot] = Some((p, tag));
                }
            }
        }
        let in_flight = concurrency - free.len();
        if exhausted && in_flight == 0 {
            return Ok(());
        }
        // Sleep until an answer, the next deadline or the next start.
        let now = Instant::now();
        let mut wake = deadlines.peek().map(|Reverse((d, _, _))| *d);
        if !exhausted && !free.is_empty() {
            wake = Some(wake.map_or(next_start, |w| w.min(next_start)));
        }
        let timeout = wake
            .map(|w| w.saturating_duration_since(now))
            .unwrap_or(Duration::from_millis(100));
        if let Err(e) = poll.poll(&mut events, Some(timeout.min(Duration::from_millis(100))))
            && e.kind() != io::ErrorKind::Interrupted
        {
            return Err(e);
        }
        let woke = Instant::now();
        for ev in events.iter() {
            let slot = ev.token().0;
            if let Some((mut p, tag)) = slots.get_mut(slot).and_then(Option::take) {
                let _ = poll.registry().deregister(p.source());
                free.push(slot);
                generation[slot] += 1;
                done(tag, p.finish(false, woke));
            }
        }
        let now = Instant::now();
        while let Some(Reverse((d, slot, g))) = deadlines.peek().copied() {
            if d > now {
                break;
            }
            deadlines.pop();
            if generation[slot] != g {
                continue;
            }
            if let Some((mut p, tag)) = slots[slot].take() {
                let _ = poll.registry().deregister(p.source());
                free.push(slot);
                generation[slot] += 1;
                done(tag, p.finish(true, now));
            }
        }
    }
}
