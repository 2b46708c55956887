//! Folding records into the statistics a person reads: attempts by
//! outcome, handshake RTT percentiles per server endpoint, SYN
//! retransmissions, the slowest and the failed attempts, options seen.
//! Memory is bounded: histograms, a capped endpoint table, short lists.

use crate::handshake::{Ecn, Handshake, Outcome};
use crate::stats::Latencies;
use rustc_hash::FxHashMap;
use std::net::SocketAddr;

/// Most server endpoints tracked one by one; the rest are counted together.
pub const MAX_ENDPOINTS: usize = 4096;
/// How many of the slowest and of the failed attempts are kept.
pub const KEEP: usize = 8;

#[derive(Clone, Debug, Default)]
pub struct EndpointStats {
    pub attempts: u64,
    pub established: u64,
    pub failed: u64,
    pub syn_retransmissions: u64,
    /// `rtt_us.total` of established attempts, in nanoseconds.
    pub rtt_ns: Latencies,
}

impl EndpointStats {
    fn add(&mut self, h: &Handshake) {
        self.attempts += 1;
        self.established += u64::from(h.outcome == Outcome::Established);
        self.failed += u64::from(h.outcome.is_failure());
        self.syn_retransmissions += u64::from(h.syn_retransmissions());
        if let Some(t) = h.total_ns {
            self.rtt_ns.record(t.max(0) as u64);
        }
    }

    /// (p50, p90, p99, max) in nanoseconds, if any RTT was recorded.
    pub fn percentiles(&self) -> Option<[u64; 4]> {
        let h = &self.rtt_ns;
        (!h.is_empty()).then(|| [0.5, 0.9, 0.99, 1.0].map(|q| h.quantile(q).unwrap_or(0)))
    }
}

/// Options and ECN seen on client SYNs and server SYN-ACKs.
#[derive(Clone, Debug, Default)]
pub struct OptionCounts {
    pub syns: u64,
    pub sack: u64,
    pub timestamps: u64,
    pub wscale: u64,
    pub mss: u64,
    pub tfo_cookie_request: u64,
    pub tfo_cookie: u64,
    pub tfo_data: u64,
    pub mptcp: u64,
    pub ecn_requested: u64,
    pub ecn_negotiated: u64,
    pub accecn: u64,
    pub unknown_kinds: u64,
    pub retransmit_changed_options: u64,
    pub synacks: u64,
    pub synack_mss: u64,
    pub synack_sack: u64,
    pub synack_timestamps: u64,
    pub synack_wscale: u64,
    pub synack_tfo_cookie: u64,
}

#[derive(Clone, Debug, Default)]
pub struct Summary {
    pub attempts: u64,
    pub by_outcome: FxHashMap<Outcome, u64>,
    pub syn_retransmissions: u64,
    pub attempts_with_retransmissions: u64,
    pub simultaneous_opens: u64,
    pub all: EndpointStats,
    pub endpoints: FxHashMap<SocketAddr, EndpointStats>,
    /// Attempts to servers beyond [`MAX_ENDPOINTS`].
    pub other_endpoints: EndpointStats,
    /// The slowest established attempts by `setup_us`, slowest first.
    pub slowest: Vec<Handshake>,
    /// The first failed attempts, in input order.
    pub failed: Vec<Handshake>,
    pub options: OptionCounts,
    /// Attempts whose server-side RST came with a TTL unlike the server's
    /// SYN-ACK ([`Handshake::rst_ttl_mismatch`]), and the first of them.
    pub foreign_rsts: u64,
    pub foreign_rst_examples: Vec<Handshake>,
    pub first_ts: Option<i64>,
    pub last_ts: Option<i64>,
}

impl Summary {
    pub fn add(&mut self, h: &Handshake) {
        self.attempts += 1;
        *self.by_outcome.entry(h.outcome).or_insert(0) += 1;
        self.syn_retransmissions += u64::from(h.syn_retransmissions());
        self.attempts_with_retransmissions += u64::from(h.syn_retransmissions() > 0);
        self.simultaneous_opens += u64::from(h.simultaneous_open);
        self.first_ts = Some(self.first_ts.map_or(h.ts_ns, |t| t.min(h.ts_ns)));
        self.last_ts = Some(self.last_ts.map_or(h.times.last, |t| t.max(h.times.last)));
        if h.outcome == Outcome::Midstream {
            return;
        }
        self.all.add(h);
        let n = self.endpoints.len();
        match self.endpoints.get_mut(&h.server) {
            Some(e) => e.add(h),
            None if n < MAX_ENDPOINTS => self.endpoints.entry(h.server).or_default().add(h),
            None => self.other_endpoints.add(h),
        }
        self.count_options(h);
        if h.rst_ttl_mismatch() {
            self.foreign_rsts += 1;
            if self.foreign_rst_examples.len() < KEEP {
                self.foreign_rst_examples.push(h.clone());
            }
        }
        if h.outcome.is_failure() && self.failed.len() < KEEP {
            self.failed.push(h.clone());
        }
        if let Some(setup) = h.setup_ns {
            let slower = |x: &Handshake| x.setup_ns.unwrap_or(0) < setup;
            if self.slowest.len() < KEEP || self.slowest.last().is_some_and(slower) {
                let at = self
                    .slowest
                    .iter()
                    .position(slower)
                    .unwrap_or(self.slowest.len());
                self.slowest.insert(at, h.clone());
                self.slowest.truncate(KEEP);
            }
        }
    }

    fn count_options(&mut self, h: &Handshake) {
        let o = &mut self.options;
        if let Some(c) = &h.client_opts {
            o.syns += 1;
            o.sack += u64::from(c.sack_permitted);
            o.timestamps += u64::from(c.timestamps.is_some());
            o.wscale += u64::from(c.wscale.is_some());
            o.mss += u64::from(c.mss.is_some());
            o.mptcp += u64::from(c.mptcp_subtype.is_some());
            o.unknown_kinds += u64::from(!c.unknown_kinds().is_empty());
            if let Some(t) = c.tfo {
                o.tfo_cookie_request += u64::from(t.is_request());
                o.tfo_cookie += u64::from(!t.is_request());
            }
        }
        o.tfo_data += u64::from(h.tfo.syn_data > 0);
        o.ecn_requested += u64::from(h.ecn.is_some());
        o.ecn_negotiated += u64::from(h.ecn == Some(Ecn::Negotiated));
        o.accecn += u64::from(h.accecn);
        o.retransmit_changed_options += u64::from(h.syn_retransmit_opts.is_some());
        if let Some(s) = &h.server_opts {
            o.synacks += 1;
            o.synack_mss += u64::from(s.mss.is_some());
            o.synack_sack += u64::from(s.sack_permitted);
            o.synack_timestamps += u64::from(s.timestamps.is_some());
            o.synack_wscale += u64::from(s.wscale.is_some());
            o.synack_tfo_cookie += u64::from(s.tfo.is_some_and(|t| !t.is_request()));
        }
    }

    pub fn count(&self, o: Outcome) -> u64 {
        self.by_outcome.get(&o).copied().unwrap_or(0)
    }

    /// Server endpoints by attempts, most first (ties by address).
    pub fn busiest_endpoints(&self, n: usize) -> Vec<(&SocketAddr, &EndpointStats)> {
        let mut v: Vec<_> = self.endpoints.iter().collect();
        v.sort_by(|a, b| b.1.attempts.cmp(&a.1.attempts).then(a.0.cmp(b.0)));
        v.truncate(n);
        v
    }
}
