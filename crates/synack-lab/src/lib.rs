//! Reproducible handshake trouble on one Linux machine: a client and a
//! server network namespace joined through a router namespace, with the
//! real kernel TCP stack at both ends and impairments in between.
//!
//! Contract: [`Lab::up`] builds a lab whose names and addresses are its own
//! (labs run in parallel), waits until the link is up, and [`Lab`]'s `Drop`
//! tears everything down (helpers, rules, namespaces), also on panic.
//! [`Lab::remove_stale`] removes labs left by killed processes. Impairments
//! ([`Impairment`]) are iptables rules and an NFQUEUE delayer thread inside
//! the namespaces; nothing is changed outside them and no traffic leaves
//! them (no default route). Everything here needs root (CAP_NET_ADMIN and
//! CAP_SYS_ADMIN for setns).

#![forbid(unsafe_code)]

mod capture;
mod defence;
mod delayer;
mod error;
mod impair;
mod lab;
pub mod matrix;
mod netns;
mod nfqueue;
pub mod reaper;
pub mod testing;

pub use capture::Capture;
pub use defence::Defence;
pub use error::LabError;
pub use impair::{IcmpKind, Impairment};
pub use lab::{Lab, Side, VETH_SERVER};
pub use netns::Netns;
