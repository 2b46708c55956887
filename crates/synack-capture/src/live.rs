//! Live capture: frames from a network interface (AF_PACKET, through
//! `synack-sys`) into the tracker, and the loop that drives both.
//!
//! Contract: [`run`] reads blocks of frames until told to stop, optionally
//! keeps every frame in a pcapng file, and tells an [`Observer`] each
//! decision, each finished record and, after each block, how far it got.
//! With no traffic it wakes when the tracker next has a flow to expire
//! ([`Tracker::next_deadline`]), and at the latest every second, so that
//! quiet flows are reported on time and a stop request is seen.

use crate::PcapNgWriter;
use std::io::{self, Write};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant, SystemTime};
use synack_core::{Handshake, Tracker, time};

pub use synack_sys::packet::{Frame, RawLink, Ring};

/// The longest wait for frames without a check of the stop conditions.
const MAX_WAIT: Duration = Duration::from_secs(1);

/// What the live loop reports as it goes.
pub trait Observer {
    /// An attempt's outcome became known (the tracker's decisions).
    fn decided(&mut self, h: &Handshake) -> io::Result<()>;
    /// A flow ended: its whole record (`announced` if it was decided live).
    fn record(&mut self, h: Handshake) -> io::Result<()>;
    /// After each block of frames or each quiet wait.
    fn tick(&mut self, frames: u64, flows: usize) -> io::Result<()>;
    /// True once the observer has seen enough (a `-c` count).
    fn done(&self) -> bool {
        false
    }
}

/// When the loop stops besides the observer saying so.
pub struct Stop<'a> {
    /// Set by a signal handler.
    pub requested: &'a AtomicBool,
    /// A deadline (`--duration`).
    pub at: Option<Instant>,
}

/// Reads `ring` into `tracker` until a stop condition, writing every frame
/// to `keep` when given; then finishes the flows still open. Returns the
/// frames read.
pub fn run<W: Write>(
    ring: &mut Ring,
    tracker: &mut Tracker,
    mut keep: Option<&mut PcapNgWriter<W>>,
    stop: Stop<'_>,
    observer: &mut dyn Observer,
) -> io::Result<u64> {
    let link = ring.link_type();
    let (mut records, mut frames) = (Vec::new(), 0u64);
    while !stop.requested.load(Ordering::SeqCst)
        && stop.at.is_none_or(|at| Instant::now() < at)
        && !observer.done()
    {
        let now_ns = time::unix_ns(SystemTime::now());
        let wait = wait_for(tracker.next_deadline(), now_ns, stop.at, Instant::now());
        let mut write_error = None;
        let got = ring.next_block(wait, &mut |frame| {
            frames += 1;
            if let Some(w) = keep.as_deref_mut()
                && let Err(e) = w.write_cut(frame.ts_ns, frame.data, frame.wire_len)
            {
                write_error.get_or_insert(e);
            }
            tracker.handle_frame(frame.ts_ns, link, frame.data, &mut records);
        })?;
        if let Some(e) = write_error {
            return Err(e);
        }
        if got == 0 {
            tracker.advance(time::unix_ns(SystemTime::now()), &mut records);
        }
        for h in tracker.take_decisions() {
            observer.decided(&h)?;
        }
        for h in records.drain(..) {
            observer.record(h)?;
        }
        observer.tick(frames, tracker.flows())?;
    }
    // What is still open is reported as it stands (incomplete if undecided).
    let mut result = Ok(());
    tracker.finish_each(|h| {
        if result.is_ok() {
            result = observer.record(h);
        }
    });
    result.map(|()| frames)
}

/// How long to wait for frames: until the tracker's next deadline (wall
/// clock ns, the kernel's timestamps' clock) or the stop deadline, and at
/// most [`MAX_WAIT`].
fn wait_for(
    deadline_ns: Option<i64>,
    now_ns: i64,
    stop_at: Option<Instant>,
    now: Instant,
) -> Duration {
    let mut wait = MAX_WAIT;
    if let Some(d) = deadline_ns {
        wait = wait.min(Duration::from_nanos(d.saturating_sub(now_ns).max(0) as u64));
    }
    if let Some(at) = stop_at {
        wait = wait.min(at.saturating_duration_since(now));
    }
    wait
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_wait_ends_at_the_first_deadline() {
        let now = Instant::now();
        let s = 1_000_000_000;
        assert_eq!(wait_for(None, 0, None, now), MAX_WAIT);
        assert_eq!(
            wait_for(Some(s / 4), 0, None, now),
            Duration::from_millis(250)
        );
        // A deadline already past: no wait at all.
        assert_eq!(wait_for(Some(5), 10, None, now), Duration::ZERO);
        let soon = now + Duration::from_millis(30);
        assert_eq!(
            wait_for(Some(s), 0, Some(soon), now),
            Duration::from_millis(30)
        );
    }
}
