//! Handshakes from the kernel's tracepoints: every connection attempt the
//! host makes or receives, with the process behind it, and every
//! handshake packet the kernel drops with its reason.
//!
//! Where things happen: [`event`] decodes what the BPF program
//! (src/bpf/handshakes.bpf.c) sends; [`attempts`] turns events into
//! attempts made and received (pure, tested without a kernel); [`record`]
//! makes each a `Handshake` record (source `ebpf`); [`tally`] counts drops,
//! SYN-ACK retransmissions and accept-queue waits per listener, with
//! [`drops`] putting the kernel's reasons in words; [`cgroups`] names a
//! process's cgroup; [`session`] puts them together for a trace's users. With the `ebpf` feature, [`tracer`] loads the program
//! and reads its ring buffer.

#![cfg_attr(not(feature = "ebpf"), forbid(unsafe_code))]

pub mod attempts;
pub mod cgroups;
pub mod drops;
pub mod event;
pub mod record;
pub mod session;
pub mod tally;
#[cfg(feature = "ebpf")]
pub mod tracer;
