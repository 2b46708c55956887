//! Loads the BPF program, attaches it, and reads its ring buffer.

use crate::event::{self, StateChange};
use libbpf_rs::skel::{OpenSkel, Skel, SkelBuilder};
use std::mem::MaybeUninit;
use std::time::Duration;

#[allow(clippy::all, unsafe_code)]
mod skel {
    include!(concat!(env!("OUT_DIR"), "/handshakes.skel.rs"));
}

/// Why tracing could not start, in words.
#[derive(Debug)]
pub struct TraceError(pub String);

impl std::fmt::Display for TraceError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for TraceError {}

fn explain(what: &str, e: libbpf_rs::Error) -> TraceError {
    let text = e.to_string();
    if text.contains("Operation not permitted") || text.contains("EPERM") || !synack_sys::is_root()
    {
        TraceError(format!(
            "{what}: not permitted: synack trace needs root or CAP_BPF and CAP_PERFMON"
        ))
    } else {
        TraceError(format!("{what}: {text}"))
    }
}

/// Runs the tracer for `duration` (or until `stop` returns true between
/// polls), calling `ready` once attached and `each` with every TCP state
/// change.
pub fn run(
    duration: Duration,
    stop: &dyn Fn() -> bool,
    ready: &mut dyn FnMut(),
    each: &mut dyn FnMut(StateChange),
) -> Result<u64, TraceError> {
    let mut storage = MaybeUninit::uninit();
    let open = skel::HandshakesSkelBuilder::default()
        .open(&mut storage)
        .map_err(|e| explain("opening the BPF program", e))?;
    let mut loaded = open
        .load()
        .map_err(|e| explain("loading the BPF program", e))?;
    loaded
        .attach()
        .map_err(|e| explain("attaching to sock:inet_sock_set_state", e))?;
    let each = std::cell::RefCell::new(each);
    let seen = std::cell::Cell::new(0u64);
    let mut builder = libbpf_rs::RingBufferBuilder::new();
    builder
        .add(&loaded.maps.events, |data: &[u8]| {
            if let Some(c) = event::decode(data) {
                seen.set(seen.get() + 1);
                (each.borrow_mut())(c);
            }
            0
        })
        .map_err(|e| explain("reading the ring buffer", e))?;
    let ring = builder
        .build()
        .map_err(|e| explain("reading the ring buffer", e))?;
    ready();
    let start = std::time::Instant::now();
    while start.elapsed() < duration && !stop() {
        let _ = ring.poll(Duration::from_millis(100));
    }
    let _ = ring.consume();
    drop(ring);
    Ok(seen.get())
}
