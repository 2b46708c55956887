//! Loads the BPF program, attaches it, and reads its ring buffer.

use crate::drops::ReasonNames;
use crate::event::{self, Event};
use libbpf_rs::skel::{OpenSkel, SkelBuilder};
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
            "{what}: not permitted: synack trace needs root, or CAP_BPF and CAP_PERFMON (and CAP_SYS_ADMIN on kernels before 5.8)"
        ))
    } else {
        TraceError(format!("{what}: {text}"))
    }
}

/// What the tracer tells its user.
pub trait Observer {
    /// Attached; `missing` names the probes that could not be (their
    /// events will be absent, the rest works).
    fn ready(&mut self, missing: &[String]);
    fn event(&mut self, e: Event);
    /// Between reads (at least every 50 ms), with the events lost so far
    /// (the ring buffer was full). True stops the trace.
    fn tick(&mut self, lost: u64) -> bool;
}

/// What a trace read.
#[derive(Clone, Copy, Debug, Default)]
pub struct Totals {
    pub events: u64,
    pub lost: u64,
}

/// The kernel's drop reasons by number, from its BTF (empty when the
/// kernel has none: reasons then print as numbers).
pub fn reason_names() -> ReasonNames {
    use libbpf_rs::btf::{Btf, types::Enum};
    let Ok(btf) = Btf::from_vmlinux() else {
        return ReasonNames::default();
    };
    let Some(reasons) = btf.type_by_name::<Enum<'_>>("skb_drop_reason") else {
        return ReasonNames::default();
    };
    ReasonNames::from_members(
        reasons
            .iter()
            .filter_map(|m| Some((m.value, m.name?.to_string_lossy().into_owned()))),
    )
}

/// The ring buffer's size by default: at the 165,000 events a second of
/// 33,000 loopback connects a second (both ends on this host, about 13 MB
/// a second), a second of them while the reader is away.
pub const DEFAULT_RING_BYTES: u32 = 16 << 20;

/// Whether `bytes` can size the ring buffer: the kernel wants a power of
/// two and a multiple of the page.
pub fn ring_size_error(bytes: u64) -> Option<String> {
    (!bytes.is_power_of_two() || !(4096..=1 << 30).contains(&bytes)).then(|| {
        format!("{} KiB: the ring buffer's size must be a power of two from 4 KiB to 1 GiB (4, 8, ... 16384, ...)", bytes / 1024)
    })
}

/// Traces until `duration` has passed (if given) or the observer stops it,
/// with a ring buffer of `ring_bytes` (see [`ring_size_error`]).
pub fn run(
    duration: Option<Duration>,
    ring_bytes: u32,
    observer: &mut dyn Observer,
) -> Result<Totals, TraceError> {
    if let Some(e) = ring_size_error(u64::from(ring_bytes)) {
        return Err(TraceError(e));
    }
    let mut storage = MaybeUninit::uninit();
    let mut open = skel::HandshakesSkelBuilder::default()
        .open(&mut storage)
        .map_err(|e| explain("opening the BPF program", e))?;
    open.maps
        .events
        .set_max_entries(ring_bytes)
        .map_err(|e| explain("sizing the ring buffer", e))?;
    if let Some(rodata) = open.maps.rodata_data.as_deref_mut() {
        rodata.ring_bytes = u64::from(ring_bytes);
    }
    let loaded = open
        .load()
        .map_err(|e| explain("loading the BPF program", e))?;
    // The state changes are the trace; every other tracepoint adds a
    // detail and may be missing from another kernel (syscall tracepoints
    // need CONFIG_FTRACE_SYSCALLS): those are said, and the rest works.
    let progs = &loaded.progs;
    let state = progs
        .on_state
        .attach()
        .map_err(|e| explain("attaching to sock:inet_sock_set_state", e))?;
    let mut links = vec![state];
    let mut missing = Vec::new();
    for (what, prog) in [
        ("tcp:tcp_retransmit_synack", &progs.on_synack_retransmit),
        ("sock:sk_data_ready", &progs.on_data_ready),
        ("syscalls:sys_exit_accept4", &progs.on_accept4),
        ("syscalls:sys_exit_accept", &progs.on_accept),
        ("skb:kfree_skb", &progs.on_drop),
        ("skb:consume_skb", &progs.on_consume),
    ] {
        match prog.attach() {
            Ok(link) => links.push(link),
            Err(e) => missing.push(format!("{what} ({e})")),
        }
    }
    let observer = std::cell::RefCell::new(observer);
    let events = std::cell::Cell::new(0u64);
    let mut builder = libbpf_rs::RingBufferBuilder::new();
    builder
        .add(&loaded.maps.events, |data: &[u8]| {
            if let Some(e) = event::decode(data) {
                events.set(events.get() + 1);
                observer.borrow_mut().event(e);
            }
            0
        })
        .map_err(|e| explain("reading the ring buffer", e))?;
    let ring = builder
        .build()
        .map_err(|e| explain("reading the ring buffer", e))?;
    // The counter is read with a map lookup (a system call), not through
    // the mapped section the BPF side writes concurrently.
    let lost = || {
        use libbpf_rs::MapCore;
        loaded
            .maps
            .bss
            .lookup(&0u32.to_ne_bytes(), libbpf_rs::MapFlags::ANY)
            .ok()
            .flatten()
            .and_then(|section| Some(u64::from_ne_bytes(section.get(..8)?.try_into().ok()?)))
            .unwrap_or(0)
    };
    observer.borrow_mut().ready(&missing);
    let start = std::time::Instant::now();
    while duration.is_none_or(|d| start.elapsed() < d) {
        // The BPF side wakes this reader only when the ring fills up; a
        // timeout reads what came meanwhile.
        let _ = ring.poll(Duration::from_millis(50));
        let _ = ring.consume();
        if observer.borrow_mut().tick(lost()) {
            break;
        }
    }
    let _ = ring.consume();
    drop(ring);
    drop(links);
    Ok(Totals {
        events: events.get(),
        lost: lost(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ring_sizes_are_powers_of_two_from_a_page_to_a_gib() {
        for ok in [4096, 1 << 20, u64::from(DEFAULT_RING_BYTES), 1 << 30] {
            assert_eq!(ring_size_error(ok), None, "{ok}");
        }
        for bad in [0, 1024, 3 << 20, (1 << 30) + 4096, 1 << 31] {
            let e = ring_size_error(bad).expect("refused");
            assert!(e.contains("power of two"), "{e}");
        }
    }
}
