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
use synack_core::rng::Rng;

/// Failed attempts waiting for their next try: (due, tag, target, tries
/// so far, when the first try started), soonest first.
type RetryQueue = BinaryHeap<Reverse<(Instant, usize, SocketAddr, u32, Instant)>>;

/// How the engine spends its budget.
#[derive(Clone, Debug, Default)]
pub struct Pace {
    /// Most connects in flight at once.
    pub concurrency: usize,
    /// Least time between two starts (zero: as fast as slots free up).
    pub gap: Duration,
    /// Start nothing after this instant; what is in flight still finishes.
    pub until: Option<Instant>,
    /// Tries again after a failure, up to this many times, waiting
    /// `backoff` × 2^k plus up to 25% random jitter before try k + 1, as a
    /// well-behaved client would.
    pub retries: u32,
    pub backoff: Duration,
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
    // Failed attempts waiting for their next try.
    let mut retry: RetryQueue = BinaryHeap::new();
    let mut rng = Rng::new(u64::from(std::process::id()));
    // Tries so far and when the first started, per slot in flight.
    let mut carried: Vec<(u32, Instant)> = vec![(0, Instant::now()); concurrency];
    // Peeked, so that the loop ends as soon as the last job has finished
    // rather than after one more pacing gap.
    let mut jobs = std::iter::from_fn(|| jobs.next()).peekable();
    let mut exhausted = false;
    loop {
        exhausted |= jobs.peek().is_none() && retry.is_empty();
        if stop.load(Ordering::SeqCst) {
            return Ok(());
        }
        // Start what the slots allow: retries when their backoff is over,
        // new jobs at the pace.
        while !exhausted && !free.is_empty() {
            let now = Instant::now();
            if pace.until.is_some_and(|u| now >= u) {
                exhausted = true;
                break;
            }
            let due_retry = retry.peek().is_some_and(|Reverse((due, ..))| *due <= now);
            let (tag, target, tries, since) = if due_retry {
                let Reverse((_, tag, target, tries, since)) = retry.pop().expect("peeked");
                (tag, target, tries, since)
            } else if now >= next_start
                && let Some((tag, target)) = jobs.next()
            {
                next_start = now + pace.gap;
                (tag, target, 0, now)
            } else {
                exhausted = jobs.peek().is_none() && retry.is_empty();
                break;
            };
            match start(target, cfg) {
                Started::Done(r) => settle(tag, r, tries, since, pace, &mut retry, &mut rng, done),
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
                    carried[slot] = (tries, since);
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
        if let Some(Reverse((due, ..))) = retry.peek() {
            wake = Some(wake.map_or(*due, |w| w.min(*due)));
        }
        // The next start matters only when a new job waits for it (a
        // pending retry wakes at its own due time): otherwise a past
        // `next_start` would make every poll return at once.
        if !exhausted && !free.is_empty() && jobs.peek().is_some() {
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
        // Answered sockets, then those past their deadline: each frees its
        // slot and settles the same way.
        let woke = Instant::now();
        let mut finished: Vec<(usize, bool, Instant)> = events
            .iter()
            .map(|ev| (ev.token().0, false, woke))
            .collect();
        let now = Instant::now();
        while let Some(Reverse((d, slot, g))) = deadlines.peek().copied() {
            if d > now {
                break;
            }
            deadlines.pop();
            if generation[slot] == g {
                finished.push((slot, true, now));
            }
        }
        for (slot, timed_out, at) in finished {
            if let Some((mut p, tag)) = slots.get_mut(slot).and_then(Option::take) {
                let _ = poll.registry().deregister(p.source());
                free.push(slot);
                generation[slot] += 1;
                let (tries, since) = carried[slot];
                settle(
                    tag,
                    p.finish(timed_out, at),
                    tries,
                    since,
                    pace,
                    &mut retry,
                    &mut rng,
                    done,
                );
            }
        }
    }
}

/// Reports a result, or files a retry when it failed and tries are left.
/// The retries' cost is the time from the first try's start to the start
/// of the one reported: failed tries and backoff waits as they happened.
#[allow(clippy::too_many_arguments)]
fn settle(
    tag: usize,
    mut r: AttemptResult,
    tries: u32,
    since: Instant,
    pace: &Pace,
    retry: &mut RetryQueue,
    rng: &mut Rng,
    done: &mut dyn FnMut(usize, AttemptResult),
) {
    let tries = tries + 1;
    if r.cause != crate::Cause::Established && tries <= pace.retries {
        // Exponential backoff with jitter (up to +25%).
        let base = pace.backoff * 2u32.saturating_pow(tries - 1);
        let wait = base + base.mul_f64(rng.range(0, 999) as f64 / 4000.0);
        retry.push(Reverse((
            Instant::now() + wait,
            tag,
            r.target,
            tries,
            since,
        )));
        return;
    }
    r.tries = tries;
    r.retry_cost = Instant::now()
        .saturating_duration_since(since)
        .saturating_sub(r.connect);
    done(tag, r);
}
