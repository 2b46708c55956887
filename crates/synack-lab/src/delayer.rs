//! The NFQUEUE delayer: a thread inside a lab namespace that holds each
//! queued packet for a fixed time (plus optional jitter) and then accepts
//! it. There is no netem on the kernels this targets, so delay goes through
//! user space; the thread runs with real-time priority so that CPU contention
//! does not become latency, and sleeps on the queue's descriptor until the
//! next packet is due or a new one comes (no CPU while idle). Packets of one
//! queue leave in arrival order.

use crate::error::LabError;
use crate::netns::Netns;
use crate::nfqueue::{NfQueue, Queued};
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

/// The longest wait on the queue's descriptor: how soon a stop request is
/// seen when no packet is due.
const STOP_CHECK: Duration = Duration::from_millis(50);

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
    let bound = (|| -> io::Result<NfQueue> {
        let mut q = NfQueue::open()?;
        for d in &queues {
            q.bind(d.queue)?;
        }
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
    let mut held: Vec<VecDeque<(Instant, Queued)>> =
        queues.iter().map(|_| VecDeque::new()).collect();
    let mut last_due: Vec<Instant> = queues.iter().map(|_| Instant::now()).collect();
    let mut rng = Rng::new(u64::from(std::process::id()));
    let mut arrived = Vec::new();
    loop {
        let stopping = stop.load(Ordering::SeqCst);
        let now = Instant::now();
        for fifo in &mut held {
            while fifo.front().is_some_and(|(due, _)| stopping || *due <= now) {
                if let Some((_, packet)) = fifo.pop_front() {
                    q.accept(packet)?;
                }
            }
        }
        if stopping {
            return Ok(());
        }
        q.receive(&mut arrived)?;
        for packet in arrived.drain(..) {
            let i = queues
                .iter()
                .position(|d| d.queue == packet.queue)
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
            held[i].push_back((due, packet));
        }
        // Sleep on the queue's descriptor until the next packet is due or
        // a new one arrives.
        let next = held
            .iter()
            .filter_map(|f| f.front().map(|(due, _)| *due))
            .min();
        let wait = next.map_or(STOP_CHECK, |due| {
            due.saturating_duration_since(Instant::now())
                .min(STOP_CHECK)
        });
        if !wait.is_zero() {
            q.wait(wait)?;
        }
    }
}
