//! Zeek's view of a TCP connection: the endpoint state machine, the
//! `history` letters and `conn_state`, following Zeek's definitions
//! (TCPSessionAdapter::UpdateHistory / UpdateStateMachine and
//! conn/main.zeek `conn_state()`), summarised in the project's
//! ZEEK_CONN_STATE notes. Upper-case letters are the originator's.

use crate::handshake::ConnState;
use synack_wire::SeqNumber;
use synack_wire::TcpFlags;

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) enum EpState {
    #[default]
    Inactive,
    SynSent,
    SynAckSent,
    /// Sent data without an initial SYN.
    Partial,
    Established,
    Closed,
    Reset,
}

impl EpState {
    /// Zeek's "inactive" test: INACTIVE or PARTIAL.
    fn inactive(self) -> bool {
        matches!(self, EpState::Inactive | EpState::Partial)
    }
}

const ONCE_ACK: u8 = 1;
const ONCE_DATA: u8 = 2;
const ONCE_FIN_RST: u8 = 4;
const ONCE_MULTI: u8 = 8;

#[derive(Clone, Debug, Default)]
pub(crate) struct Endpoint {
    pub state: EpState,
    once: u8,
    last_syn: Option<u32>,
    last_fin: Option<u32>,
    last_rst: Option<u32>,
    /// Logarithmic counters for c (bad checksum), t (retransmission), w (zero window).
    bad_checksums: u32,
    retransmissions: u32,
    zero_windows: u32,
    gaps: u32,
    /// One past the highest sequence number sent (wrapping).
    seq_end: Option<u32>,
    /// Sent a FIN before a RST (so a later peer FIN makes this CLOSED again).
    fin_before_rst: bool,
    pub payload_bytes: u64,
}

/// Zeek's state for one connection, in Zeek's orientation (orig/resp).
#[derive(Clone, Debug, Default)]
pub(crate) struct ZeekConn {
    pub orig: Endpoint,
    pub resp: Endpoint,
    pub history: String,
    /// The connection began with a SYN-ACK: flip at the next ACK or data.
    pub pending_flip: bool,
}

/// Ports on which a first non-SYN packet's sender is taken to be the server
/// (Zeek's `likely_server_ports` come from its analyzers; these are the
/// well-known range plus the common registered service ports).
pub(crate) fn likely_server_port(port: u16) -> bool {
    port < 1024
        || matches!(
            port,
            1080 | 1433
                | 1521
                | 2049
                | 3128
                | 3306
                | 3389
                | 5060
                | 5432
                | 5672
                | 5900
                | 6379
                | 6667
                | 6668
                | 6669
                | 8000
                | 8080
                | 8443
                | 8888
                | 9092
                | 9200
                | 11211
                | 27017
        )
}

/// `count` reached 1, 10, 100, ...: the points at which Zeek adds another
/// letter for its logarithmic history entries.
fn log_point(count: u32) -> bool {
    let mut p = 1;
    while p < count {
        p = p.saturating_mul(10);
    }
    p == count
}

fn after(a: u32, b: u32) -> bool {
    SeqNumber(a).after(SeqNumber(b))
}

impl ZeekConn {
    fn add(&mut self, is_orig: bool, letter: u8) {
        let c = if is_orig {
            letter.to_ascii_uppercase()
        } else {
            letter.to_ascii_lowercase()
        };
        // Bounded: a pathological flow cannot grow its history without end.
        if self.history.len() < 64 {
            self.history.push(char::from(c));
        }
    }

    fn endpoint(&mut self, is_orig: bool) -> &mut Endpoint {
        if is_orig {
            &mut self.orig
        } else {
            &mut self.resp
        }
    }

    /// Swaps the roles: the history's case flips and it gains a leading `^`.
    pub fn flip(&mut self) {
        std::mem::swap(&mut self.orig, &mut self.resp);
        let swapped: String = self
            .history
            .chars()
            .map(|c| {
                if c.is_ascii_uppercase() {
                    c.to_ascii_lowercase()
                } else {
                    c.to_ascii_uppercase()
                }
            })
            .collect();
        self.history = format!("^{}", swapped.trim_start_matches('^'));
        self.pending_flip = false;
    }

    /// A packet whose checksum failed: Zeek records `c` and ignores it.
    pub fn bad_checksum(&mut self, is_orig: bool) {
        let e = self.endpoint(is_orig);
        e.bad_checksums += 1;
        if log_point(e.bad_checksums) {
            self.add(is_orig, b'c');
        }
    }

    /// One segment from the originator (`is_orig`) or the responder.
    pub fn packet(
        &mut self,
        is_orig: bool,
        flags: TcpFlags,
        seq: u32,
        ack: u32,
        len: u32,
        window: u16,
    ) {
        self.update_history(is_orig, flags, seq, ack, len, window);
        self.update_state(is_orig, flags, len);
    }

    fn update_history(
        &mut self,
        is_orig: bool,
        flags: TcpFlags,
        seq: u32,
        ack: u32,
        len: u32,
        window: u16,
    ) {
        let (syn, fin, rst) = (flags.syn(), flags.fin(), flags.rst());
        let bits = u8::from(syn) + u8::from(fin) + u8::from(rst);
        if bits > 1 {
            let (bit, letter) = if fin && rst {
                (ONCE_FIN_RST, b'i')
            } else {
                (ONCE_MULTI, b'q')
            };
            if self.endpoint(is_orig).once & bit == 0 {
                self.endpoint(is_orig).once |= bit;
                self.add(is_orig, letter);
            }
        } else if bits == 1 {
            let e = self.endpoint(is_orig);
            let (last, letter) = if syn {
                (&mut e.last_syn, if flags.ack() { b'h' } else { b's' })
            } else if fin {
                (&mut e.last_fin, b'f')
            } else {
                (&mut e.last_rst, b'r')
            };
            // s, h, f, r repeat only when the sequence number changes.
            let new = *last != Some(seq);
            *last = Some(seq);
            if new {
                self.add(is_orig, letter);
            }
        } else if len > 0 {
            if self.endpoint(is_orig).once & ONCE_DATA == 0 {
                self.endpoint(is_orig).once |= ONCE_DATA;
                self.add(is_orig, b'd');
            }
        } else if flags.ack() && self.endpoint(is_orig).once & ONCE_ACK == 0 {
            self.endpoint(is_orig).once |= ONCE_ACK;
            self.add(is_orig, b'a');
        }

        // A content gap: the peer acknowledges data of this side's that was
        // never seen (Zeek's reassembler reports it as `g`).
        if flags.ack() {
            let p = self.endpoint(!is_orig);
            if let Some(prev) = p.seq_end
                && after(ack, prev)
            {
                p.seq_end = Some(ack);
                p.gaps += 1;
                if log_point(p.gaps) {
                    self.add(!is_orig, b'g');
                }
            }
        }
        // Retransmitted payload: nothing beyond what this side already sent.
        let e = self.endpoint(is_orig);
        // SYN and FIN each take one sequence number (RFC 9293 section 3.4).
        let start = SeqNumber(seq) + u32::from(syn);
        let end = (start + len + u32::from(fin)).0;
        let mut letters = 0u8;
        if len > 0
            && !syn
            && let Some(prev) = e.seq_end
            && !after(end, prev)
        {
            e.retransmissions += 1;
            if log_point(e.retransmissions) {
                letters |= 1;
            }
        }
        if e.seq_end.is_none_or(|prev| after(end, prev)) {
            e.seq_end = Some(end);
        }
        if window == 0 && !syn && !rst {
            e.zero_windows += 1;
            if log_point(e.zero_windows) {
                letters |= 2;
            }
        }
        if letters & 1 != 0 {
            self.add(is_orig, b't');
        }
        if letters & 2 != 0 {
            self.add(is_orig, b'w');
        }
    }

    fn update_state(&mut self, is_orig: bool, flags: TcpFlags, len: u32) {
        let peer_state = self.endpoint(!is_orig).state;
        if flags.syn() {
            if flags.ack() {
                if is_orig {
                    // An originator SYN-ACK (Zeek's connection_originator_SYN_ack).
                    if self.orig.state != EpState::Established {
                        self.orig.state = EpState::SynAckSent;
                    }
                } else {
                    // The orig side counts as established on the SYN-ACK.
                    if matches!(
                        self.resp.state,
                        EpState::Inactive | EpState::SynSent | EpState::Partial
                    ) {
                        self.resp.state = EpState::Established;
                    }
                    if matches!(self.orig.state, EpState::SynSent | EpState::SynAckSent) {
                        self.orig.state = EpState::Established;
                    }
                }
            } else {
                let e = self.endpoint(is_orig);
                if matches!(e.state, EpState::Inactive | EpState::Partial) {
                    e.state = EpState::SynSent;
                }
            }
        }
        if flags.fin() {
            let e = self.endpoint(is_orig);
            if e.state != EpState::Reset {
                e.state = EpState::Closed;
            }
            // A FIN after the peer sent FIN then RST counts as a normal close.
            let p = self.endpoint(!is_orig);
            if p.state == EpState::Reset && p.fin_before_rst {
                p.state = EpState::Closed;
            }
        }
        if flags.rst() {
            let e = self.endpoint(is_orig);
            e.fin_before_rst = e.state == EpState::Closed;
            e.state = EpState::Reset;
        }
        if !flags.syn() && !flags.fin() && !flags.rst() {
            let e = self.endpoint(is_orig);
            if e.state == EpState::Inactive {
                e.state = if len == 0 && flags.ack() && peer_state == EpState::Established {
                    EpState::Established
                } else {
                    EpState::Partial
                };
            }
        }
        self.endpoint(is_orig).payload_bytes += u64::from(len);
    }

    /// Zeek's `conn_state()` for TCP, evaluated in Zeek's order.
    pub fn conn_state(&self) -> ConnState {
        use EpState::*;
        let (os, rs) = (self.orig.state, self.resp.state);
        if rs == Reset {
            return if matches!(os, SynSent | SynAckSent)
                || (os == Reset && self.orig.payload_bytes == 0 && self.resp.payload_bytes == 0)
            {
                ConnState::REJ
            } else if os.inactive() {
                ConnState::RSTRH
            } else {
                ConnState::RSTR
            };
        }
        if os == Reset {
            return if rs.inactive() {
                if history_is_rstos0(&self.history) {
                    ConnState::RSTOS0
                } else {
                    ConnState::OTH
                }
            } else {
                ConnState::RSTO
            };
        }
        match (os, rs) {
            (Closed, Closed) => ConnState::SF,
            (Closed, _) => {
                if rs.inactive() {
                    ConnState::SH
                } else {
                    ConnState::S2
                }
            }
            (_, Closed) => {
                if os.inactive() {
                    ConnState::SHR
                } else {
                    ConnState::S3
                }
            }
            (SynSent, Inactive) => ConnState::S0,
            (Established, Established) => ConnState::S1,
            _ => ConnState::OTH,
        }
    }

    /// Both sides closed or either reset: the connection is over.
    /// Both endpoints closed with FINs.
    pub fn both_closed(&self) -> bool {
        self.orig.state == EpState::Closed && self.resp.state == EpState::Closed
    }

    pub fn finished(&self) -> bool {
        (self.orig.state == EpState::Closed && self.resp.state == EpState::Closed)
            || self.orig.state == EpState::Reset
            || self.resp.state == EpState::Reset
    }
}

/// `/^\^?S[^HAFGIQ]*R.*/`
fn history_is_rstos0(h: &str) -> bool {
    let h = h.strip_prefix('^').unwrap_or(h);
    let Some(rest) = h.strip_prefix('S') else {
        return false;
    };
    for c in rest.chars() {
        match c {
            'R' => return true,
            'H' | 'A' | 'F' | 'G' | 'I' | 'Q' => return false,
            _ => {}
        }
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: u16 = TcpFlags::SYN;
    const A: u16 = TcpFlags::ACK;
    const F: u16 = TcpFlags::FIN;
    const R: u16 = TcpFlags::RST;

    fn run(packets: &[(bool, u16, u32, u32)]) -> ZeekConn {
        let mut z = ZeekConn::default();
        for &(orig, flags, seq, len) in packets {
            z.packet(orig, TcpFlags(flags), seq, 0, len, 100);
        }
        z
    }

    #[test]
    fn zeek_rst_behaviour_baselines() {
        // The four cases of Zeek's conn_state-RST-behavior test.
        let z = run(&[(true, R, 5, 0)]);
        assert_eq!((z.history.as_str(), z.conn_state()), ("R", ConnState::OTH));
        let z = run(&[(true, S, 5, 0), (true, R, 6, 0)]);
        assert_eq!(
            (z.history.as_str(), z.conn_state()),
            ("SR", ConnState::RSTOS0)
        );
        let z = run(&[(true, S, 5, 0), (false, A, 9, 0), (true, R, 6, 0)]);
        assert_eq!(
            (z.history.as_str(), z.conn_state()),
            ("SaR", ConnState::RSTOS0)
        );
        let z = run(&[
            (true, S, 5, 0),
            (false, A, 9, 0),
            (true, F | A, 6, 0),
            (true, R, 7, 0),
        ]);
        assert_eq!(
            (z.history.as_str(), z.conn_state()),
            ("SaFR", ConnState::OTH)
        );
    }

    #[test]
    fn normal_connection_is_sf() {
        let z = run(&[
            (true, S, 100, 0),
            (false, S | A, 500, 0),
            (true, A, 101, 0),
            (true, A, 101, 10),
            (false, A, 501, 20),
            (true, F | A, 111, 0),
            (false, F | A, 521, 0),
            (true, A, 112, 0),
        ]);
        assert_eq!(z.history, "ShADdFf");
        assert_eq!(z.conn_state(), ConnState::SF);
    }

    #[test]
    fn retransmitted_syn_adds_no_letter_and_rst_rejects() {
        let z = run(&[
            (true, S, 7, 0),
            (true, S, 7, 0),
            (false, R | A, 0, 0),
            (false, R | A, 0, 0),
        ]);
        assert_eq!(z.history, "Sr");
        assert_eq!(z.conn_state(), ConnState::REJ);
    }

    #[test]
    fn logarithmic_retransmission_letters() {
        let mut p = vec![(true, S, 0u32, 0u32), (false, S | A, 0, 0)];
        for _ in 0..12 {
            p.push((true, A, 1, 10));
        }
        let z = run(&p);
        // First data, then the 1st and 10th retransmissions.
        assert_eq!(z.history, "ShDTT");
        assert!(log_point(1) && log_point(10) && log_point(100) && !log_point(11));
    }

    #[test]
    fn flip_swaps_case_and_prefixes_caret() {
        let mut z = run(&[(true, S | A, 9, 0)]);
        z.flip();
        z.packet(false, TcpFlags(A), 10, 0, 0, 100);
        z.packet(false, TcpFlags(F | A), 10, 0, 0, 100);
        assert_eq!(z.history, "^haf");
        assert_eq!(z.conn_state(), ConnState::SHR);
    }

    #[test]
    fn syn_then_fin_without_answer_is_sh() {
        let z = run(&[
            (true, S, 1, 0),
            (true, A, 2, 0),
            (true, A, 2, 5),
            (true, F, 7, 0),
        ]);
        assert_eq!(z.history, "SADF");
        assert_eq!(z.conn_state(), ConnState::SH);
    }

    #[test]
    fn unanswered_syn_is_s0() {
        assert_eq!(run(&[(true, S, 1, 0)]).conn_state(), ConnState::S0);
    }
}
