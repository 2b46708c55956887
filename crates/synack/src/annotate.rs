//! `analyze --annotate OUT.pcapng`: the input written back with a comment
//! on each SYN, SYN-ACK, RST and ICMP error saying what synack decided
//! about its attempt. Two passes: the analysis gives the records; a second
//! read matches each packet to its attempt (by the 4-tuple and the
//! client's ISN, which SYNs carry, SYN-ACKs acknowledge and ICMP errors
//! quote) and writes it with its comment. Needs files (stdin is read once).

use anyhow::{Context, Result, bail};
use std::collections::HashMap;
use std::io::BufWriter;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use synack_capture::PcapNgWriter;
use synack_capture::pipeline::{self, Observer};
use synack_core::{Handshake, Outcome};
use synack_render::annotate::{Role, comment, verdict};
use synack_wire::Decoded;

/// What a packet needs of its attempt: the record without its options,
/// history or probe fields, and its verdict in words. Memory grows with
/// the attempts of the input (a few hundred bytes each).
struct Attempt {
    record: Handshake,
    verdict: String,
    syns: u32,
    synacks: u32,
}

/// Attempts by (client, server), in the order they started.
#[derive(Default)]
pub struct Index {
    by_flow: HashMap<(SocketAddr, SocketAddr), Vec<Attempt>>,
}

impl Index {
    pub fn add(&mut self, h: &Handshake) {
        if h.outcome == Outcome::Midstream {
            return;
        }
        let mut record = h.clone();
        // Only what the comments use.
        record.probe = None;
        record.client_opts = None;
        record.server_opts = None;
        record.syn_retransmit_opts = None;
        record.history = String::new();
        self.by_flow
            .entry((h.client, h.server))
            .or_default()
            .push(Attempt {
                verdict: verdict(h),
                record,
                syns: 0,
                synacks: 0,
            });
    }

    /// The attempt of (client, server) whose client ISN is `isn`, or else
    /// the latest one started by `ts_ns`.
    fn find(
        &mut self,
        client: SocketAddr,
        server: SocketAddr,
        isn: Option<u32>,
        ts_ns: i64,
    ) -> Option<&mut Attempt> {
        let list = self.by_flow.get_mut(&(client, server))?;
        let at = isn
            .and_then(|isn| list.iter().rposition(|a| a.record.client_isn == Some(isn)))
            .or_else(|| list.iter().rposition(|a| a.record.ts_ns <= ts_ns))?;
        list.get_mut(at)
    }

    /// The comment for a decoded packet, if it is one synack comments on.
    fn comment_for(&mut self, ts_ns: i64, decoded: &Decoded<'_>) -> Option<String> {
        match decoded {
            Decoded::Tcp(seg) => {
                let flags = seg.tcp.flags();
                let src = SocketAddr::new(seg.ip.src, seg.tcp.src_port());
                let dst = SocketAddr::new(seg.ip.dst, seg.tcp.dst_port());
                if flags.syn() && !flags.ack() {
                    let a = self.find(src, dst, Some(seg.tcp.seq()), ts_ns)?;
                    a.syns += 1;
                    Some(comment(Role::Syn(a.syns), &a.record, &a.verdict))
                } else if flags.syn() {
                    let isn = seg.tcp.ack().wrapping_sub(1);
                    let a = self.find(dst, src, Some(isn), ts_ns)?;
                    a.synacks += 1;
                    Some(comment(Role::SynAck(a.synacks), &a.record, &a.verdict))
                } else if flags.rst() {
                    if let Some(a) = self.find(dst, src, None, ts_ns) {
                        return Some(comment(
                            Role::Rst { from_server: true },
                            &a.record,
                            &a.verdict,
                        ));
                    }
                    let a = self.find(src, dst, None, ts_ns)?;
                    Some(comment(
                        Role::Rst { from_server: false },
                        &a.record,
                        &a.verdict,
                    ))
                } else {
                    None
                }
            }
            Decoded::Icmp { error, .. } => {
                let client = SocketAddr::new(error.src, error.src_port);
                let server = SocketAddr::new(error.dst, error.dst_port);
                let a = self.find(client, server, Some(error.seq), ts_ns)?;
                Some(comment(Role::Icmp, &a.record, &a.verdict))
            }
        }
    }
}

/// Refuses what cannot be read twice, before anything is read.
pub fn check_inputs(files: &[PathBuf]) -> Result<()> {
    if files.iter().any(|f| f.as_os_str() == "-") {
        bail!("--annotate reads the input twice: give files, not standard input");
    }
    Ok(())
}

/// Writes `files` to `out` with the comments; returns (packets written,
/// packets commented).
pub fn write(
    files: &[PathBuf],
    index: &mut Index,
    out: &Path,
    observer: &mut dyn Observer,
) -> Result<(u64, u64)> {
    let file = std::fs::File::create(out).with_context(|| format!("creating {}", out.display()))?;
    let mut writer: Option<PcapNgWriter<BufWriter<std::fs::File>>> = None;
    let mut file = Some(file);
    let (mut written, mut commented) = (0u64, 0u64);
    let mut failure: Option<anyhow::Error> = None;
    let mut first_link = None;
    pipeline::for_each_packet(files, observer, |p| {
        let link = *first_link.get_or_insert(p.link);
        if link != p.link {
            failure = Some(anyhow::anyhow!(
                "packet {} has another link type ({:?} after {:?}): --annotate writes one interface",
                p.number,
                p.link,
                link
            ));
            return false;
        }
        if writer.is_none()
            && let Some(f) = file.take()
        {
            match PcapNgWriter::new(
                BufWriter::new(f),
                link,
                262_144,
                "synack analyze --annotate",
            ) {
                Ok(w) => writer = Some(w),
                Err(e) => {
                    failure = Some(e.into());
                    return false;
                }
            }
        }
        let text = synack_wire::decode(p.link, p.data)
            .ok()
            .and_then(|d| index.comment_for(p.ts_ns, &d));
        commented += u64::from(text.is_some());
        let Some(w) = writer.as_mut() else {
            return false;
        };
        if let Err(e) = w.write_commented(p.ts_ns, p.data, p.wire_len, text.as_deref()) {
            failure = Some(e.into());
            return false;
        }
        written += 1;
        true
    });
    if let Some(e) = failure {
        return Err(e);
    }
    if let Some(w) = writer {
        use std::io::Write;
        w.into_inner().flush()?;
    }
    Ok((written, commented))
}
