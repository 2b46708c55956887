//! Classic pcap: a 24-byte file header, then 16-byte record headers, in the
//! writer's byte order, with micro- or nanosecond timestamps by magic.

use crate::error::CaptureError;
use crate::source::{Buffer, MAX_RECORD, Meta, Source};
use std::io::Read;
use synack_wire::LinkType;

const MAGIC_US: u32 = 0xa1b2_c3d4;
const MAGIC_NS: u32 = 0xa1b2_3c4d;
/// libpcap's largest snaplen; a record beyond it is corrupt, not just long.
const MAX_SNAPLEN: u32 = 262_144;

#[derive(Clone, Copy, Debug)]
pub(crate) struct Header {
    swapped: bool,
    nanos: bool,
    snaplen: u32,
    link: LinkType,
}

pub(crate) fn is_magic(b: &[u8]) -> bool {
    let le = u32::from_le_bytes([b[0], b[1], b[2], b[3]]);
    let be = u32::from_be_bytes([b[0], b[1], b[2], b[3]]);
    [le, be].iter().any(|m| *m == MAGIC_US || *m == MAGIC_NS)
}

pub(crate) fn read_header<R: Read>(
    name: &str,
    buf: &mut Buffer<R>,
) -> Result<Header, CaptureError> {
    let got = buf.fill(24).map_err(|source| CaptureError::Io {
        name: name.to_string(),
        source,
    })?;
    if got < 24 {
        return Err(CaptureError::CutHeader {
            name: name.to_string(),
            format: "pcap",
            got,
            want: 24,
        });
    }
    let h = buf.peek(24);
    let le = u32::from_le_bytes([h[0], h[1], h[2], h[3]]);
    let swapped = !(le == MAGIC_US || le == MAGIC_NS);
    let u32_at = |at: usize| {
        let b = [h[at], h[at + 1], h[at + 2], h[at + 3]];
        if swapped {
            u32::from_be_bytes(b)
        } else {
            u32::from_le_bytes(b)
        }
    };
    let magic = u32_at(0);
    // The link type field's upper bits carry FCS information (pcap spec):
    // the link type proper is the low 16 bits.
    let header = Header {
        swapped,
        nanos: magic == MAGIC_NS,
        snaplen: u32_at(16),
        link: LinkType(u32_at(20) & 0xffff),
    };
    buf.consume(24);
    Ok(header)
}

type Next = Option<(usize, usize, Meta)>;

pub(crate) fn next<R: Read>(r: &mut Source<R>, h: Header) -> Result<Next, CaptureError> {
    let offset = r.buf.offset();
    let got = r.buf.fill(16).map_err(|e| r.io_error(e))?;
    if got == 0 {
        return Ok(None);
    }
    if got < 16 {
        return Err(r.damaged(
            offset,
            format!("truncated record header: the file ends after {got} of 16 bytes"),
        ));
    }
    let rec = r.buf.peek(16);
    let u32_at = |at: usize| {
        let b = [rec[at], rec[at + 1], rec[at + 2], rec[at + 3]];
        if h.swapped {
            u32::from_be_bytes(b)
        } else {
            u32::from_le_bytes(b)
        }
    };
    let (sec, frac, incl, orig) = (u32_at(0), u32_at(4), u32_at(8), u32_at(12));
    if incl > h.snaplen.max(MAX_SNAPLEN) || incl as usize > MAX_RECORD {
        return Err(r.damaged(
            offset,
            format!(
                "record claims {incl} captured bytes, more than the {} this file allows (its snaplen {}, at least {MAX_SNAPLEN}): the file is corrupt from here",
                h.snaplen.max(MAX_SNAPLEN).min(MAX_RECORD as u32),
                h.snaplen
            ),
        ));
    }
    if h.snaplen != 0 && incl > h.snaplen {
        r.stats.over_snaplen += 1;
    }
    if incl > orig {
        r.stats.captured_over_wire += 1;
    }
    let need = 16 + incl as usize;
    let got = r.buf.fill(need).map_err(|e| r.io_error(e))?;
    if got < need {
        return Err(r.damaged(
            offset,
            format!(
                "truncated record: the file ends after {} of {incl} packet bytes",
                got - 16
            ),
        ));
    }
    let frac_ns = if h.nanos {
        i64::from(frac)
    } else {
        i64::from(frac) * 1000
    };
    let ts_ns = i64::from(sec) * 1_000_000_000 + frac_ns;
    let start = r.buf.start + 16;
    r.buf.consume(need);
    Ok(Some((
        start,
        incl as usize,
        Meta {
            ts_ns,
            link: h.link,
            wire_len: orig.max(incl),
            offset,
            comment: None,
        },
    )))
}
