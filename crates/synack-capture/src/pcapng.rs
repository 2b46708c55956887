//! pcapng (draft-ietf-opsawg-pcapng): sections with their own byte order,
//! interfaces with link type, snaplen, `if_tsresol` and `if_tsoffset`;
//! packets from Enhanced, Simple and obsolete Packet Blocks. Other blocks
//! are skipped and counted.

use crate::error::CaptureError;
use crate::source::{MAX_RECORD, Meta, Source};
use std::io::Read;
use synack_wire::LinkType;

pub(crate) const SHB_MAGIC: [u8; 4] = [0x0a, 0x0d, 0x0d, 0x0a];
const BYTE_ORDER_MAGIC: u32 = 0x1a2b_3c4d;
const BLOCK_SHB: u32 = 0x0a0d_0d0a;
const BLOCK_IDB: u32 = 1;
const BLOCK_PB: u32 = 2;
const BLOCK_SPB: u32 = 3;
const BLOCK_EPB: u32 = 6;
const OPT_END: u16 = 0;
const OPT_IF_TSRESOL: u16 = 9;
const OPT_IF_TSOFFSET: u16 = 14;

#[derive(Clone, Copy, Debug)]
struct Interface {
    link: LinkType,
    snaplen: u32,
    /// `if_tsresol`: bit 7 clear means 10^-n seconds, set means 2^-n.
    tsresol: u8,
    tsoffset_s: i64,
}

impl Interface {
    fn ts_ns(&self, units: u64) -> i64 {
        let n = u32::from(self.tsresol & 0x7f);
        let ns = if self.tsresol & 0x80 == 0 {
            if n <= 9 {
                (units as i128) * 10i128.pow(9 - n)
            } else {
                (units as i128) / 10i128.pow((n - 9).min(38))
            }
        } else {
            ((units as i128) * 1_000_000_000) >> n.min(127)
        };
        (ns + i128::from(self.tsoffset_s) * 1_000_000_000).clamp(i64::MIN as i128, i64::MAX as i128)
            as i64
    }
}

#[derive(Clone, Debug, Default)]
pub(crate) struct Section {
    swapped: bool,
    interfaces: Vec<Interface>,
}

type Next = Option<(usize, usize, Meta)>;

pub(crate) fn next<R: Read>(
    r: &mut Source<R>,
    section: &mut Section,
) -> Result<Next, CaptureError> {
    loop {
        let offset = r.buf.offset();
        let got = r.buf.fill(12).map_err(|e| r.io_error(e))?;
        if got == 0 {
            return Ok(None);
        }
        if got < 12 {
            return Err(r.damaged(
                offset,
                format!("truncated block header: the file ends after {got} of 12 bytes"),
            ));
        }
        let head = r.buf.peek(12);
        let raw_type = [head[0], head[1], head[2], head[3]];
        if raw_type == SHB_MAGIC {
            // A new section: its byte-order magic decides how to read it.
            let bom = [head[8], head[9], head[10], head[11]];
            let swapped = if u32::from_le_bytes(bom) == BYTE_ORDER_MAGIC {
                false
            } else if u32::from_be_bytes(bom) == BYTE_ORDER_MAGIC {
                true
            } else {
                return Err(r.damaged(
                    offset,
                    format!("section header with a bad byte-order magic {bom:02x?}"),
                ));
            };
            *section = Section {
                swapped,
                interfaces: Vec::new(),
            };
        }
        let swapped = section.swapped;
        let u32_of = |b: &[u8], at: usize| {
            let v = [b[at], b[at + 1], b[at + 2], b[at + 3]];
            if swapped {
                u32::from_be_bytes(v)
            } else {
                u32::from_le_bytes(v)
            }
        };
        let block_type = u32_of(head, 0);
        let total = u32_of(head, 4) as usize;
        if total < 12 || !total.is_multiple_of(4) || total > MAX_RECORD {
            return Err(r.damaged(
                offset,
                format!("block of type {block_type:#x} has an impossible length {total}"),
            ));
        }
        let got = r.buf.fill(total).map_err(|e| r.io_error(e))?;
        if got < total {
            return Err(r.damaged(
                offset,
                format!("truncated block: the file ends after {got} of {total} bytes"),
            ));
        }
        let block_start = r.buf.start;
        let block = r.buf.peek(total);
        if u32_of(block, total - 4) as usize != total {
            return Err(r.damaged(
                offset,
                "block's trailing length differs from its leading length",
            ));
        }
        let body = &block[8..total - 4];
        let u16_of = |b: &[u8], at: usize| {
            let v = [b[at], b[at + 1]];
            if swapped {
                u16::from_be_bytes(v)
            } else {
                u16::from_le_bytes(v)
            }
        };
        // Each arm either yields a packet (start within the buffer, length,
        // interface index, timestamp units, wire length) or continues.
        let packet = match block_type {
            BLOCK_SHB => None,
            BLOCK_IDB => {
                if body.len() < 8 {
                    return Err(
                        r.damaged(offset, "interface description block shorter than 8 bytes")
                    );
                }
                let mut iface = Interface {
                    link: LinkType(u32::from(u16_of(body, 0))),
                    snaplen: u32_of(body, 4),
                    tsresol: 6,
                    tsoffset_s: 0,
                };
                let mut opts = &body[8..];
                while opts.len() >= 4 {
                    let (code, len) = (u16_of(opts, 0), usize::from(u16_of(opts, 2)));
                    if code == OPT_END || opts.len() < 4 + len {
                        break;
                    }
                    let v = &opts[4..4 + len];
                    match (code, len) {
                        (OPT_IF_TSRESOL, 1) => iface.tsresol = v[0],
                        (OPT_IF_TSOFFSET, 8) => {
                            let b: [u8; 8] = v.try_into().unwrap_or([0; 8]);
                            iface.tsoffset_s = if swapped {
                                i64::from_be_bytes(b)
                            } else {
                                i64::from_le_bytes(b)
                            };
                        }
                        _ => {}
                    }
                    opts = &opts[(4 + len.div_ceil(4) * 4).min(opts.len())..];
                }
                section.interfaces.push(iface);
                None
            }
            // EPB and the obsolete PB share their layout after the interface
            // id (32 bits in an EPB, 16 bits plus a drops count in a PB).
            BLOCK_EPB | BLOCK_PB => {
                let name = if block_type == BLOCK_EPB {
                    "enhanced packet block"
                } else {
                    "packet block"
                };
                if body.len() < 20 {
                    return Err(r.damaged(offset, format!("{name} shorter than 20 bytes")));
                }
                let units = (u64::from(u32_of(body, 4)) << 32) | u64::from(u32_of(body, 8));
                let (caplen, orig) = (u32_of(body, 12) as usize, u32_of(body, 16));
                if caplen > body.len() - 20 {
                    return Err(r.damaged(
                        offset,
                        format!(
                            "packet claims {caplen} captured bytes but its block holds {}",
                            body.len() - 20
                        ),
                    ));
                }
                let if_id = if block_type == BLOCK_EPB {
                    u32_of(body, 0) as usize
                } else {
                    usize::from(u16_of(body, 0))
                };
                // The first opt_comment (code 1) among the options after
                // the data, as (start in the buffer, length); a damaged
                // option list just ends the search.
                let mut comment = None;
                let mut at = 20 + caplen.div_ceil(4) * 4;
                while at + 4 <= body.len() {
                    let (code, len) = (u16_of(body, at), usize::from(u16_of(body, at + 2)));
                    if code == 0 || at + 4 + len > body.len() {
                        break;
                    }
                    if code == 1 {
                        comment = Some((block_start + 8 + at + 4, len));
                        break;
                    }
                    at += 4 + len.div_ceil(4) * 4;
                }
                Some((block_start + 28, caplen, if_id, units, orig, comment))
            }
            BLOCK_SPB => {
                if body.len() < 4 {
                    return Err(r.damaged(offset, "simple packet block shorter than 4 bytes"));
                }
                let orig = u32_of(body, 0);
                let mut caplen = (orig as usize).min(body.len() - 4);
                if let Some(i) = section.interfaces.first().filter(|i| i.snaplen != 0) {
                    caplen = caplen.min(i.snaplen as usize);
                }
                // SPBs carry no timestamp.
                Some((block_start + 12, caplen, 0, 0, orig, None))
            }
            _ => {
                r.stats.skipped_blocks += 1;
                None
            }
        };
        r.buf.consume(total);
        let Some((start, caplen, if_id, units, orig, comment)) = packet else {
            continue;
        };
        let Some(iface) = section.interfaces.get(if_id).copied() else {
            return Err(r.damaged(
                offset,
                format!(
                    "packet refers to interface {if_id}, but its section describes only {}",
                    section.interfaces.len()
                ),
            ));
        };
        if iface.snaplen != 0 && caplen > iface.snaplen as usize {
            r.stats.over_snaplen += 1;
        }
        if caplen as u64 > u64::from(orig) {
            r.stats.captured_over_wire += 1;
        }
        let meta = Meta {
            ts_ns: iface.ts_ns(units),
            link: iface.link,
            wire_len: orig.max(caplen as u32),
            offset,
            comment,
        };
        return Ok(Some((start, caplen, meta)));
    }
}
