//! One look at the namespace: listeners (with their SYN-RECV counts and
//! drops), optionally every socket's state, the kernel counters and the
//! handshake sysctls. Two snapshots make rates ([`Rates`]).

use crate::conntrack::Conntrack;
use crate::counters::{Counters, is_gauge};
use crate::names::sysctl;
use crate::ports::{PortUse, Tally, parse_range};
use crate::sockets::{self, Listener};
use crate::sysctls::Sysctls;
use std::collections::BTreeMap;
use std::io;
use std::time::{Instant, SystemTime};

/// What to read beyond the listeners.
#[derive(Debug, Clone, Copy)]
pub struct SnapshotOptions {
    /// Count every socket by state (a dump of the whole table).
    pub states: bool,
    /// Count half-open connections per listener (one SYN-RECV dump).
    pub syn_recv: bool,
    /// Each listener's drop counter (sk_drops).
    pub drops: bool,
    /// The processes holding each listener (a /proc walk).
    pub processes: bool,
}

impl SnapshotOptions {
    /// Listeners (without SYN-RECV or drops), counters and sysctls only:
    /// no walk of the established table.
    pub fn listeners_only() -> SnapshotOptions {
        SnapshotOptions {
            states: false,
            syn_recv: false,
            drops: false,
            processes: false,
        }
    }
}

impl Default for SnapshotOptions {
    fn default() -> Self {
        SnapshotOptions {
            states: true,
            syn_recv: true,
            drops: true,
            processes: false,
        }
    }
}

#[derive(Debug, Clone)]
pub struct Snapshot {
    pub taken: Instant,
    pub wall: SystemTime,
    pub listeners: Vec<Listener>,
    /// Sockets per kernel TCP state number (see `sockets::STATE_NAMES`).
    pub states: Option<[u64; 12]>,
    pub counters: Counters,
    pub sysctls: Sysctls,
    /// The connection tracking table (None: no conntrack in this kernel).
    pub conntrack: Option<Conntrack>,
    /// Ephemeral ports per destination (with the socket states).
    pub ports: Option<PortUse>,
    /// What could not be read (the rest is still reported).
    pub problems: Vec<String>,
}

impl Snapshot {
    /// Reads the calling thread's network namespace. Fails only when the
    /// listeners cannot be listed (no sock_diag); everything else missing
    /// is a problem in the snapshot.
    pub fn take(options: SnapshotOptions) -> io::Result<Snapshot> {
        let (taken, wall) = (Instant::now(), SystemTime::now());
        let mut listeners = sockets::listeners(options.drops)?;
        let mut problems = Vec::new();
        let sysctls = Sysctls::read();
        let tally = sysctls
            .get(sysctl::IP_LOCAL_PORT_RANGE)
            .and_then(parse_range)
            .map(|range| Tally::new(range, listeners.iter().map(|l| l.local.port()).collect()));
        let mut ports = None;
        // With states asked for, one dump of the whole table also gives the
        // half-open counts and the ports per destination; otherwise a
        // SYN-RECV-only dump gives the half-open counts.
        let dumped = if options.states {
            Some(
                sockets::census(tally)
                    .map(|c| {
                        ports = c.ports.map(Tally::finish);
                        (Some(c.states), c.half_open)
                    })
                    .map_err(|e| ("socket state dump", e)),
            )
        } else if options.syn_recv {
            Some(
                sockets::syn_recv_by_local()
                    .map(|h| (None, h))
                    .map_err(|e| ("SYN-RECV dump", e)),
            )
        } else {
            None
        };
        let states = match dumped {
            Some(Ok((states, half_open))) => {
                if options.syn_recv {
                    sockets::attribute_syn_recv(&mut listeners, &half_open);
                }
                states
            }
            Some(Err((what, e))) => {
                problems.push(format!("{what}: {e}"));
                None
            }
            None => None,
        };
        if options.processes {
            let inodes: Vec<u32> = listeners.iter().map(|l| l.inode).collect();
            let mut owners = crate::processes::owners(&inodes);
            for l in &mut listeners {
                l.processes = owners.remove(&l.inode).unwrap_or_default();
            }
        }
        let counters = Counters::read();
        let conntrack = Conntrack::read().unwrap_or_else(|e| {
            problems.push(e);
            None
        });
        problems.extend(counters.problems.iter().cloned());
        problems.extend(sysctls.problems.iter().cloned());
        Ok(Snapshot {
            taken,
            wall,
            listeners,
            states,
            counters,
            sysctls,
            conntrack,
            ports,
            problems,
        })
    }

    /// This snapshot's entry for the same socket as `l` (same address and
    /// inode).
    pub fn listener_like(&self, l: &Listener) -> Option<&Listener> {
        self.listeners
            .iter()
            .find(|o| o.local == l.local && o.inode == l.inode)
    }
}

/// Per-second rates between two snapshots of the same namespace.
#[derive(Debug, Clone, Default)]
pub struct Rates {
    pub seconds: f64,
    /// Counter name → increase per second (counters that are levels, like
    /// CurrEstab, have none).
    pub counters: BTreeMap<String, f64>,
    /// Listener index in the newer snapshot → drops per second.
    pub listener_drops: BTreeMap<usize, f64>,
    /// Conntrack statistic (kernel name) → increase per second.
    pub conntrack: BTreeMap<String, f64>,
}

impl Rates {
    pub fn between(older: &Snapshot, newer: &Snapshot) -> Rates {
        let seconds = newer
            .taken
            .duration_since(older.taken)
            .as_secs_f64()
            .max(1e-6);
        let counters = newer
            .counters
            .values
            .iter()
            .filter(|(name, _)| !is_gauge(name))
            .filter_map(|(name, &now)| {
                let then = older.counters.get(name)?;
                // A counter that went down was reset (namespace re-created).
                Some((name.clone(), now.saturating_sub(then) as f64 / seconds))
            })
            .collect();
        let listener_drops = newer
            .listeners
            .iter()
            .enumerate()
            .filter_map(|(i, l)| {
                let before = older.listener_like(l)?.drops?;
                Some((i, f64::from(l.drops?.saturating_sub(before)) / seconds))
            })
            .collect();
        let conntrack = match (&older.conntrack, &newer.conntrack) {
            (Some(then), Some(now)) => now
                .stats
                .iter()
                .map(|(name, &v)| {
                    let before = then.stat(name);
                    (name.clone(), v.saturating_sub(before) as f64 / seconds)
                })
                .collect(),
            _ => BTreeMap::new(),
        };
        Rates {
            seconds,
            counters,
            listener_drops,
            conntrack,
        }
    }

    pub fn counter(&self, name: &str) -> f64 {
        self.counters.get(name).copied().unwrap_or(0.0)
    }

    /// A conntrack statistic's rate (per second).
    pub fn conntrack(&self, name: &str) -> f64 {
        self.conntrack.get(name).copied().unwrap_or(0.0)
    }
}
