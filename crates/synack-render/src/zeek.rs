//! Zeek conn.log-style TSV: the `#separator`/`#fields`/`#types` header that
//! `zeek-cut` reads, Zeek's columns (client as originator), then synack's
//! own columns for the handshake.

use super::{Run, Sink};
use std::io::{self, Write};
use synack_core::{Handshake, time};

const FIELDS: &str = "ts\tuid\tid.orig_h\tid.orig_p\tid.resp_h\tid.resp_p\tproto\tservice\tduration\torig_bytes\tresp_bytes\tconn_state\tlocal_orig\tlocal_resp\tmissed_bytes\thistory\torig_pkts\torig_ip_bytes\tresp_pkts\tresp_ip_bytes\ttunnel_parents\tsynack_outcome\tsynack_rtt\tsynack_setup\tsynack_syns";
const TYPES: &str = "time\tstring\taddr\tport\taddr\tport\tenum\tstring\tinterval\tcount\tcount\tstring\tbool\tbool\tcount\tstring\tcount\tcount\tcount\tcount\tset[string]\tstring\tinterval\tinterval\tcount";

pub struct ZeekSink<W: Write> {
    out: W,
    started: bool,
    n: u64,
}

impl<W: Write> ZeekSink<W> {
    pub fn new(out: W) -> Self {
        ZeekSink {
            out,
            started: false,
            n: 0,
        }
    }

    fn start(&mut self) -> io::Result<()> {
        if !self.started {
            self.started = true;
            writeln!(
                self.out,
                "#separator \\x09\n#set_separator\t,\n#empty_field\t(empty)\n#unset_field\t-\n#path\tconn"
            )?;
            writeln!(self.out, "#fields\t{FIELDS}\n#types\t{TYPES}")?;
        }
        Ok(())
    }
}

fn seconds(ns: Option<i64>) -> String {
    ns.map(|n| format!("{:.6}", n as f64 / 1e9))
        .unwrap_or_else(|| "-".into())
}

impl<W: Write> Sink for ZeekSink<W> {
    fn record(&mut self, h: &Handshake) -> io::Result<()> {
        self.start()?;
        self.n += 1;
        // A stable, readable uid: 'S' and the record's ordinal in base 36.
        let uid = format!("S{}", radix36(self.n));
        let duration = h.times.last - h.times.first;
        writeln!(
            self.out,
            "{}\t{uid}\t{}\t{}\t{}\t{}\ttcp\t-\t{}\t{}\t{}\t{}\t-\t-\t0\t{}\t{}\t-\t{}\t-\t(empty)\t{}\t{}\t{}\t{}",
            time::epoch_seconds(h.ts_ns),
            h.client.ip(),
            h.client.port(),
            h.server.ip(),
            h.server.port(),
            seconds(Some(duration)),
            h.client_bytes,
            h.server_bytes,
            h.conn_state.as_str(),
            if h.history.is_empty() {
                "-"
            } else {
                &h.history
            },
            h.client_pkts,
            h.server_pkts,
            h.outcome.as_str(),
            seconds(h.total_ns),
            seconds(h.setup_ns),
            h.syn_count,
        )
    }

    fn flush(&mut self) -> io::Result<()> {
        self.out.flush()
    }

    fn finish(&mut self, _run: &Run<'_>) -> io::Result<()> {
        self.start()?;
        self.out.flush()
    }
}

fn radix36(mut n: u64) -> String {
    let digits = b"0123456789abcdefghijklmnopqrstuvwxyz";
    let mut s = Vec::new();
    loop {
        s.push(digits[(n % 36) as usize]);
        n /= 36;
        if n == 0 {
            break;
        }
    }
    s.reverse();
    String::from_utf8(s).unwrap_or_default()
}
