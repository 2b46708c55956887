//! The sans-IO tracker: `(timestamp, packet)` in, finished [`Handshake`]
//! records out. It owns the bounded flow table: flows leave it when they are
//! over (closed or reset and quiet for a linger time, or idle), when a new
//! attempt reuses their 4-tuple, or when the table is full (counted as
//! evictions). Records leave in a deterministic order.

mod age;
mod entry;
mod flow;
mod reported;
mod wheel;
mod zeek;

use crate::handshake::{Handshake, IcmpInfo, Source};
use age::AgeQueues;
use entry::{Entry, FirstSyn};
use flow::{End, Flow, FlowKey, SynFate};
use reported::Reported;
use rustc_hash::FxHashMap;
use std::collections::BTreeMap;
use synack_wire::{
    Decoded, LinkType, Segment, Skip, Tunnel, Tunnels, checksum, decode_tunneled, ip::PROTO_TCP,
};
use wheel::Wheel;

/// Hands each record to a function as soon as it is made: the tracker's
/// `out` for a caller that streams records (a `Vec<Handshake>` collects
/// them instead), so that records are not copied into a list and out again.
pub struct EachRecord<F>(pub F);

impl<F: FnMut(Handshake)> Extend<Handshake> for EachRecord<F> {
    fn extend<I: IntoIterator<Item = Handshake>>(&mut self, records: I) {
        records.into_iter().for_each(&mut self.0);
    }
}

/// Limits and timers of the tracker.
#[derive(Clone, Debug)]
pub struct TrackerConfig {
    /// Most flows held at once; the least recently seen are evicted beyond.
    pub max_flows: usize,
    /// How long a closed or reset flow waits for stray packets (Zeek's
    /// tcp_close_delay is 5 s).
    pub linger_ns: i64,
    /// Idle time after which an unanswered attempt is given up. Linux's
    /// default six SYN retransmissions end 127 s after the first SYN, with
    /// gaps of up to 64 s.
    pub attempt_idle_ns: i64,
    /// Idle time after which any other flow is given up (Zeek's
    /// tcp_inactivity_timeout is 5 min).
    pub idle_ns: i64,
    /// Verify TCP checksums of SYN, FIN and RST segments, and ignore those
    /// that fail as Zeek does (history `c`). Off by default: captures taken
    /// on a sending host show offloaded, not-yet-computed checksums.
    pub verify_checksums: bool,
    /// What the records' `source` field says.
    pub source: Source,
    /// Also produce a record as soon as each attempt's outcome is decided
    /// (see [`Tracker::take_decisions`]), for live displays.
    pub decisions: bool,
}

impl TrackerConfig {
    /// The default table: 114,688 flows, which keeps a whole `analyze` run
    /// under 256 MB whatever the input (measured with `bench/flood.sh`: a
    /// table full of established flows peaks at about 180 MB, a SYN flood
    /// well below). The hash table is sized for twice the flows it may hold
    /// (262,144 slots), so that the slots left by removed flows are
    /// reclaimed in place instead of making the table double.
    pub fn default_max_flows() -> usize {
        DEFAULT_TABLE_SLOTS * 7 / 16
    }
}

/// Slots of the default hash table (hashbrown fills at most 7/8 of them).
const DEFAULT_TABLE_SLOTS: usize = 1 << 18;

impl Default for TrackerConfig {
    fn default() -> Self {
        TrackerConfig {
            max_flows: Self::default_max_flows(),
            linger_ns: 5_000_000_000,
            attempt_idle_ns: 75_000_000_000,
            idle_ns: 300_000_000_000,
            verify_checksums: false,
            source: Source::Pcap,
            decisions: false,
        }
    }
}

/// What the tracker counted.
#[derive(Clone, Debug, Default)]
pub struct TrackerStats {
    pub packets: u64,
    pub tcp_segments: u64,
    pub icmp_errors: u64,
    /// ICMP errors quoting TCP for which no flow was known.
    pub icmp_unmatched: u64,
    /// Frames skipped, by reason.
    pub skipped: BTreeMap<Skip, u64>,
    /// Frames that came through each encapsulation, whatever was inside.
    pub tunneled: BTreeMap<Tunnel, u64>,
    pub bad_checksums: u64,
    pub flows_created: u64,
    pub evictions: u64,
    pub peak_flows: usize,
    /// Timestamps earlier than the latest one seen.
    pub out_of_order: u64,
    /// SYNs with another client ISN on the 4-tuple of an open attempt,
    /// kept aside as attempts of their own (spoofed, injected, or a
    /// flood reusing tuples).
    pub stray_syns: u64,
    /// RSTs outside their receiver's window (RFC 5961 section 3.2), which
    /// closed nothing.
    pub out_of_window_rsts: u64,
    /// Packets of connections whose record was already written (resumed
    /// after the idle timeout, or late FINs and ACKs), kept out of new
    /// records.
    pub after_record: u64,
}

pub struct Tracker {
    config: TrackerConfig,
    /// Full flows are boxed (~800 bytes, and the table moves entries as it
    /// grows); a flow that has seen only a SYN is kept inline.
    flows: FxHashMap<FlowKey, Entry>,
    /// When each flow should next be looked at (lazily updated: a flow seen
    /// since is filed again under its new deadline).
    deadlines: Wheel<FlowKey>,
    /// Which flow was seen least recently, for eviction; also the timer of
    /// the lone SYNs, which are not in `deadlines`.
    ages: AgeQueues,
    decided: Vec<Handshake>,
    /// The table has been full (and got its room for twice its flows).
    filled: bool,
    /// Connections already written, whose late packets are theirs.
    reported: Reported,
    stats: TrackerStats,
    now: i64,
    next_sweep: i64,
}

/// Where a full flow is filed: the timer wheel, the age queues, and the
/// linger time its first deadline is counted with.
type Filing<'a> = (&'a mut Wheel<FlowKey>, &'a mut AgeQueues, i64);

/// Files a full flow seen at `ts`: its first look is a linger time on (a
/// flow's deadline only moves later from there), and it takes its place
/// among the least recently seen.
fn file_full((deadlines, ages, linger): Filing<'_>, ts: i64, key: FlowKey) {
    deadlines.insert(ts.saturating_add(linger), key);
    ages.push_full(ts, key);
}

/// The full flow of `entry`, a packet at `ts` having come for it: a lone
/// SYN becomes one now, and is filed as a full flow from then on.
fn full_flow<'e>(entry: &'e mut Entry, key: FlowKey, ts: i64, filing: Filing<'_>) -> &'e mut Flow {
    if entry.is_compact() {
        file_full(filing, ts, key);
    }
    entry.flow_mut(key)
}

/// Most flows evicted at once when the table is full.
const EVICT_BATCH: usize = 128;

/// Sweeps run at most this often in capture time.
const SWEEP_EVERY_NS: i64 = 1_000_000_000;

impl Tracker {
    pub fn new(config: TrackerConfig) -> Tracker {
        Tracker {
            // Half as many written connections as open ones, each as long
            // as an idle flow is kept.
            reported: Reported::new(config.max_flows / 2, config.idle_ns),
            config,
            flows: FxHashMap::default(),
            deadlines: Wheel::new(),
            ages: AgeQueues::default(),
            decided: Vec::new(),
            filled: false,
            stats: TrackerStats::default(),
            now: i64::MIN,
            next_sweep: i64::MIN,
        }
    }

    pub fn stats(&self) -> &TrackerStats {
        &self.stats
    }

    pub fn flows(&self) -> usize {
        self.flows.len()
    }

    /// Records of attempts whose outcome was decided since the last call
    /// (with `TrackerConfig::decisions`); the flow's full record still comes
    /// when it ends, marked `announced`.
    pub fn take_decisions(&mut self) -> Vec<Handshake> {
        std::mem::take(&mut self.decided)
    }

    /// When, in packet time, the tracker next has work without packets (a
    /// flow may expire and be written): a live loop waits for packets until
    /// then at most. None while no flow is open.
    pub fn next_deadline(&self) -> Option<i64> {
        (!self.flows.is_empty()).then_some(self.next_sweep)
    }

    /// Lets time pass without packets (live capture): flows whose deadline
    /// passed by `now_ns` are emitted.
    pub fn advance(&mut self, now_ns: i64, out: &mut impl Extend<Handshake>) {
        self.now = self.now.max(now_ns);
        if self.now >= self.next_sweep {
            self.sweep(out);
        }
    }

    /// With decisions on, records `flow` once its outcome is known. Takes
    /// the fields it needs rather than `&mut self`, so the caller's borrow
    /// of the flow serves and the packet costs no second table lookup.
    fn announce(config: &TrackerConfig, now: i64, decided: &mut Vec<Handshake>, flow: &mut Flow) {
        if config.decisions && !flow.announced && flow.decision().is_some() {
            flow.announced = true;
            decided.push(flow.clone().finish(End::Expired, now, config.source));
        }
    }

    /// Decodes a frame and handles it; skipped frames are counted by reason.
    pub fn handle_frame(
        &mut self,
        ts_ns: i64,
        link: LinkType,
        frame: &[u8],
        out: &mut impl Extend<Handshake>,
    ) {
        let mut through = Tunnels::default();
        let decoded = decode_tunneled(link, frame, &mut through);
        if !through.is_empty() {
            for tunnel in through.iter() {
                *self.stats.tunneled.entry(tunnel).or_insert(0) += 1;
            }
        }
        match decoded {
            Ok(d) => self.handle(ts_ns, &d, out),
            Err(skip) => {
                self.stats.packets += 1;
                *self.stats.skipped.entry(skip).or_insert(0) += 1;
            }
        }
    }

    /// Handles one decoded packet seen at `ts_ns`.
    pub fn handle(&mut self, ts_ns: i64, packet: &Decoded<'_>, out: &mut impl Extend<Handshake>) {
        self.stats.packets += 1;
        if ts_ns < self.now {
            self.stats.out_of_order += 1;
        }
        self.now = self.now.max(ts_ns);
        match packet {
            Decoded::Tcp(seg) => self.segment(ts_ns, seg, out),
            Decoded::Icmp { vlan, error } => {
                self.stats.icmp_errors += 1;
                let (key, quoted_from_a) = FlowKey::new(
                    *vlan,
                    (error.src, error.src_port),
                    (error.dst, error.dst_port),
                );
                let info = IcmpInfo {
                    v6: error.v6,
                    icmp_type: error.icmp_type,
                    code: error.code,
                    from: error.from,
                };
                match self.flows.get_mut(&key) {
                    Some(entry) => {
                        let filing = (&mut self.deadlines, &mut self.ages, self.config.linger_ns);
                        let flow = full_flow(entry, key, ts_ns, filing);
                        flow.icmp(ts_ns, quoted_from_a, info);
                        Self::announce(&self.config, self.now, &mut self.decided, flow);
                    }
                    None => self.stats.icmp_unmatched += 1,
                }
            }
        }
        // After the packet, not before: one whose timestamp jumps far ahead
        // (a damaged capture) still joins its own flow.
        if self.now >= self.next_sweep {
            self.sweep(out);
        }
    }

    fn segment(&mut self, ts: i64, seg: &Segment<'_>, out: &mut impl Extend<Handshake>) {
        self.stats.tcp_segments += 1;
        let tcp = &seg.tcp;
        let flags = tcp.flags();
        let (key, from_a) = FlowKey::new(
            seg.vlan,
            (seg.ip.src, tcp.src_port()),
            (seg.ip.dst, tcp.dst_port()),
        );
        let checksum_ok = !self.config.verify_checksums
            || !(flags.syn() || flags.fin() || flags.rst())
            || seg.payload_len as usize != tcp.payload().len()
            || checksum::verify_transport(seg.ip.src, seg.ip.dst, PROTO_TCP, tcp.bytes());
        if !checksum_ok {
            self.stats.bad_checksums += 1;
        }
        let pure_syn = flags.syn() && !flags.ack() && !flags.rst();
        if let Some(entry) = self.flows.get_mut(&key) {
            let filing = (&mut self.deadlines, &mut self.ages, self.config.linger_ns);
            let flow = full_flow(entry, key, ts, filing);
            let fate = if pure_syn && checksum_ok {
                flow.syn_fate(from_a, tcp.seq())
            } else {
                SynFate::Same
            };
            // The server took the ISN kept aside, or the attempt it stood
            // beside is over and the client sends that ISN again: it is the
            // connection now, with every SYN it had.
            let promote = flags.syn()
                && flow.stray.as_ref().is_some_and(|stray| {
                    let synack = flags.ack() && !flags.rst() && checksum_ok;
                    (synack && flow.answers_stray(from_a, tcp.ack()))
                        || (fate == SynFate::NewAttempt && stray.client_isn == Some(tcp.seq()))
                });
            if promote {
                let mut stray = flow.stray.take().expect("a stray attempt is there");
                stray.segment(ts, from_a, tcp, seg.payload_len, seg.ip.ttl, checksum_ok);
                if let Some(old) = self.flows.insert(key, Entry::Flow(stray)) {
                    out.extend(Some(old.finish(
                        key,
                        End::Reused,
                        self.now,
                        self.config.source,
                    )));
                }
                if let Some(Entry::Flow(flow)) = self.flows.get_mut(&key) {
                    Self::announce(&self.config, self.now, &mut self.decided, flow);
                }
                return;
            }
            match fate {
                SynFate::Same => {
                    let ignored = flow.out_of_window_rsts;
                    flow.segment(ts, from_a, tcp, seg.payload_len, seg.ip.ttl, checksum_ok);
                    if flags.rst() {
                        self.stats.out_of_window_rsts +=
                            u64::from(flow.out_of_window_rsts - ignored);
                    }
                    Self::announce(&self.config, self.now, &mut self.decided, flow);
                    return;
                }
                SynFate::Stray => {
                    let same_stray = flow
                        .stray
                        .as_ref()
                        .is_some_and(|s| s.client_isn == Some(tcp.seq()));
                    if !same_stray {
                        let fresh =
                            Flow::new(key, from_a, flags, tcp.src_port(), tcp.dst_port(), ts);
                        if let Some(mut older) = flow.stray.replace(Box::new(fresh)) {
                            // A third ISN: the one it displaces had no answer.
                            out.extend(Some(older.finish(
                                End::Reused,
                                self.now,
                                self.config.source,
                            )));
                        }
                    }
                    if let Some(stray) = flow.stray.as_mut() {
                        stray.segment(ts, from_a, tcp, seg.payload_len, seg.ip.ttl, checksum_ok);
                    }
                    self.stats.stray_syns += 1;
                    return;
                }
                SynFate::NewAttempt => {
                    // A new attempt on the same 4-tuple: the old one is over.
                    if let Some(old) = self.flows.remove(&key) {
                        old.finish_each(key, End::Reused, self.now, self.config.source, |h| {
                            out.extend(Some(h))
                        });
                    }
                }
            }
        }
        if pure_syn {
            self.reported.forget(&key);
        } else if self
            .reported
            .absorbs(&key, from_a, tcp.seq(), flags.ack().then(|| tcp.ack()), ts)
        {
            self.stats.after_record += 1;
            return;
        }
        if self.flows.len() >= self.config.max_flows {
            self.make_room(out);
        }
        let entry = if FirstSyn::fits(tcp, checksum_ok) {
            // Lone SYNs need no timer: their queue is their expiry order.
            self.ages.push_lone(ts, key);
            Entry::FirstSyn(FirstSyn::new(ts, from_a, tcp, seg.payload_len))
        } else {
            let mut flow = Box::new(Flow::new(
                key,
                from_a,
                flags,
                tcp.src_port(),
                tcp.dst_port(),
                ts,
            ));
            flow.segment(ts, from_a, tcp, seg.payload_len, seg.ip.ttl, checksum_ok);
            file_full(
                (&mut self.deadlines, &mut self.ages, self.config.linger_ns),
                ts,
                key,
            );
            Entry::Flow(flow)
        };
        self.flows.insert(key, entry);
        self.stats.flows_created += 1;
        self.stats.peak_flows = self.stats.peak_flows.max(self.flows.len());
    }

    /// Emits the flows that are over, in record order. Only flows whose
    /// deadline has passed are looked at, so a sweep costs O(1) per flow
    /// that is due, not a walk of the table.
    fn sweep(&mut self, out: &mut impl Extend<Handshake>) {
        self.next_sweep = self.now.saturating_add(SWEEP_EVERY_NS);
        let (now, c) = (self.now, &self.config);
        let mut due = Vec::new();
        self.deadlines.take_due(now, &mut due);
        let mut expired = Vec::new();
        for key in due {
            let Some(entry) = self.flows.get(&key) else {
                continue;
            };
            let deadline = entry.deadline(c.linger_ns, c.attempt_idle_ns, c.idle_ns);
            if deadline <= now {
                expired.push(key);
            } else {
                self.deadlines.insert(deadline, key);
            }
        }
        // Lone SYNs all wait the attempt timeout: the oldest go first.
        while let Some((ts, key)) = self.ages.oldest_lone(&self.flows) {
            if ts.saturating_add(c.attempt_idle_ns) > now {
                break;
            }
            self.ages.pop_lone();
            expired.push(key);
        }
        self.emit(expired, End::Expired, |h| out.extend(Some(h)));
        // Stale entries (flows already gone) would otherwise pile up when
        // many flows leave by reuse or eviction.
        if self.deadlines.len() > 2 * self.flows.len() + 1024 {
            let flows = &self.flows;
            self.deadlines.retain(|k| flows.contains_key(k));
        }
        if self.ages.len() > 2 * self.flows.len() + 1024 {
            self.ages.retain(&self.flows);
        }
    }

    /// The table is full: expire what is over, then evict the least recently
    /// seen flows, a small batch at a time (each batch's records are written
    /// in record order, and sweeps are not run for every new flow).
    fn make_room(&mut self, out: &mut impl Extend<Handshake>) {
        self.sweep(out);
        if self.flows.len() < self.config.max_flows {
            return;
        }
        // A full table, with flows leaving and coming, fills with the slots
        // removed flows leave; hashbrown reclaims them in place only while
        // the table is at most half full, and doubles it otherwise (holding
        // both copies). So a full table gets room for twice its flows, once.
        // (Reserved when it fills rather than up front: the table of an
        // ordinary capture stays small, and in the caches.)
        // (Once: hashbrown's capacity() counts the removed flows' slots as
        // used, so asking again would double the table after all.)
        if !self.filled {
            self.filled = true;
            let room = self.config.max_flows.saturating_mul(2);
            self.flows.reserve(room.saturating_sub(self.flows.len()));
        }
        let batch = (self.config.max_flows / 64).clamp(1, EVICT_BATCH);
        let mut victims = Vec::with_capacity(batch);
        while victims.len() < batch {
            match self.ages.pop_oldest(&self.flows) {
                Some(key) => victims.push(key),
                None => break,
            }
        }
        if victims.is_empty() {
            // Not expected (every flow is filed); never let the table grow.
            victims.extend(self.flows.keys().next().copied());
        }
        self.stats.evictions += self.emit(victims, End::Evicted, |h| out.extend(Some(h)));
    }

    /// Finishes the flows of `keys` in record order (first SYN, then key),
    /// sorting the small keys rather than the large records.
    /// Returns how many records were made (a key may be given twice).
    fn emit(&mut self, keys: Vec<FlowKey>, end: End, mut each: impl FnMut(Handshake)) -> u64 {
        let mut order: Vec<(i64, FlowKey)> = keys
            .into_iter()
            .filter_map(|k| self.flows.get(&k).map(|e| (e.record_ts(), k)))
            .collect();
        order.sort_unstable();
        let mut made = 0;
        for (_, key) in order {
            if let Some(entry) = self.flows.remove(&key) {
                if let (End::Expired, Entry::Flow(flow)) = (end, &entry) {
                    let acked_by = flow.receive_window.map(|w| w.map(|a| a.next));
                    self.reported.remember(key, acked_by, self.now);
                }
                entry.finish_each(key, end, self.now, self.config.source, &mut each);
                made += 1;
            }
        }
        made
    }

    /// The input ended: every flow still held becomes a record.
    pub fn finish(&mut self, out: &mut impl Extend<Handshake>) {
        self.finish_each(|h| out.extend(Some(h)));
    }

    /// [`Tracker::finish`], handing each record over as it is made: a full
    /// table's records at once would take as much memory again.
    pub fn finish_each(&mut self, each: impl FnMut(Handshake)) {
        let keys: Vec<FlowKey> = self.flows.keys().copied().collect();
        self.emit(keys, End::Finished, each);
    }
}
