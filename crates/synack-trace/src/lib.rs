//! Handshakes from the kernel's tracepoints: every TCP state change of the
//! host (`sock:inet_sock_set_state`) made into connection attempts with
//! the process that made them. Work in progress (issue 17): client-side
//! attempts only so far; the server side (SYN-ACK retransmits, accept-queue
//! wait, drops with the kernel's reason) is to come.
//!
//! [`event`] decodes what the BPF program sends, [`attempts`] turns state
//! changes into attempts (pure, tested without a kernel), and with the
//! `ebpf` feature [`tracer`] loads the program and reads its ring buffer.

#![cfg_attr(not(feature = "ebpf"), forbid(unsafe_code))]

pub mod attempts;
pub mod event;
#[cfg(feature = "ebpf")]
pub mod tracer;
