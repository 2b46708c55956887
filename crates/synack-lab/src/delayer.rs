//! The NFQUEUE delayer: a thread inside a lab namespace that holds each
//! queued packet for a fixed time (plus optional jitter) and then accepts
//! it. There is no netem on the kernels this targets, so delay goes through
//! user space; the thread runs with real-time priority so that CPU contention
//! does not become latency. Packets of one queue leave in arrival order.

use crate::error::LabError;
use crate::netns::Netns;
use std::collections::VecDeque;
use std::io;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};
use synack_core::rng::Rng;

/// One queue and how long its packets wait.
#[derive(Clone, Copy, Debug)]
pub(crate) struct QueueDelay {
    pub queue: u16,
    pub delay: Duration,
    pub jitter: Duration,
}

pub(crate) struct Delayer {
    stop: Arc<AtomicBool>,
    handle: Option<JoinHandle<io::Result<io::Result<()>>>>,
    pub realtime: bool,
}

/// How long the loop sleeps when nothing is due: the bound on how late a
/// packet can be released (the nfq socket is polled, not waited on).
const IDLE_SLEEP: Duration = Duration::from_micros(100);

impl Delayer {
    /// Binds the queues inside `ns` and starts delaying. Returns once the
    /// queues are bound, so rules added afterwards never bypass the delay.
    pub fn start(ns: &Netns, queues: Vec<QueueDelay>) -> Result<Delayer, LabError> {
        let stop = Arc::new(AtomicBool::new(false));
        let (ready_tx, ready_rx) = std::sync::mpsc::channel();
        let flag = stop.clone();
        let handle = ns.spawn(move || run(queues, flag, ready_tx));
        match ready_rx.recv() {
            Ok(Ok(realtime)) => Ok(Delayer {
                stop,
                handle: Some(handle),
                realtime,
            }),
            Ok(Err(e)) => {
                let _ = handle.join();
                Err(LabError::io(
                    "binding the NFQUEUE delayer (is the kernel's nfnetlink_queue there?)",
                    e,
                ))
            }
            Err(_) => match handle.join() {
                Ok(Err(e)) => Err(LabError::io(format!("entering namespace {}", ns.name), e)),
                _ => Err(LabError::io(
                    "starting the delayer",
                    io::Error::other("thread ended early"),
                )),
            },
        }
    }

    /// Releases every held packet and ends the thread.
    pub fn stop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(h) = self.handle.take() {
            let _ = h.join();
        }
    }
}

impl Drop for Delayer {
    fn drop(&mut self) {
        self.stop();
    }
}

fn run(
    queues: Vec<QueueDelay>,
    stop: Arc<AtomicBool>,
    ready: std::sync::mpsc::Sender<io::Result<bool>>,
) -> io::Result<()> {
    let realtime = synack_sys::set_realtime(50).unwrap_or(false);
    let bound = (|| -> io::Result<nfq::Queue> {
        let mut q = nfq::Queue::open()?;
        for d in &queues {
            q.bind(d.queue)?;
            // Metadata only: the verdict does not need the bytes.
            q.set_copy_range(d.queue, 0)?;
            q.set_fail_open(d.queue, true)?;
        }
        q.set_nonblocking(true);
        Ok(q)
    })();
    let mut q = match bound {
        Ok(q) => {
            let _ = ready.send(Ok(realtime));
            q
        }
        Err(e) => {
            let _ = ready.send(Err(io::Error::new(e.kind(), e.to_string())));
            return Err(e);
        }
    };
    let mut held: Vec<VecDeque<(Instant, nfq::Message)>> =
        queues.iter().map(|_| VecDeque::new()).collect();
    let mut last_due: Vec<Instant> = queues.iter().map(|_| Instant::now()).collect();
    let mut rng = Rng::new(u64::from(std::process::id()));
    loop {
        let stopping = stop.load(Ordering::SeqCst);
        let now = Instant::now();
        for fifo in &mut held {
            while fifo.front().is_some_and(|(due, _)| stopping || *due <= now) {
                if let Some((_, mut msg)) = fifo.pop_front() {
                    msg.set_verdict(nfq::Verdict::Accept);
                    q.verdict(msg)?;
                }
            }
        }
        if stopping {
            return Ok(());
        }
        let mut received = false;
        loop {
            match q.recv() {
                Ok(msg) => {
                    received = true;
                    let i = queues
                        .iter()
                        .position(|d| d.queue == msg.get_queue_num())
                        .unwrap_or(0);
                    let d = queues[i];
                    let jitter = if d.jitter.is_zero() {
                        Duration::ZERO
                    } else {
                        Duration::from_nanos(rng.range(0, 2 * d.jitter.as_nanos() as u64))
                    };
                    // delay ± jitter, never before the packet ahead of it.
                    let due = (Instant::now() + d.delay + jitter)
                        .checked_sub(d.jitter)
                        .unwrap_or(now)
                        .max(last_due[i]);
                    last_due[i] = due;
                    held[i].push_back((due, msg));
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            }
        }
        if !received {
            let next = held
                .iter()
                .filter_map(|f| f.front().map(|(due, _)| *due))
                .min();
            let wait = next.map_or(IDLE_SLEEP, |due| {
                due.saturating_duration_since(Instant::now())
                    .min(IDLE_SLEEP)
            });
            if !wait.is_zero() {
                std::thread::sleep(wait);
            }
        }
    }
}
