//! Writers for the formats the readers read: pcap with nanosecond
//! timestamps, and pcapng with one Ethernet interface at `if_tsresol` 9.

use std::io::{self, Write};
use synack_wire::LinkType;

/// Writes classic pcap (little-endian, nanosecond magic).
pub struct PcapWriter<W: Write> {
    out: W,
}

impl<W: Write> PcapWriter<W> {
    pub fn new(mut out: W, link: LinkType, snaplen: u32) -> io::Result<Self> {
        let mut h = Vec::with_capacity(24);
        h.extend_from_slice(&0xa1b2_3c4du32.to_le_bytes());
        h.extend_from_slice(&2u16.to_le_bytes());
        h.extend_from_slice(&4u16.to_le_bytes());
        h.extend_from_slice(&[0; 8]);
        h.extend_from_slice(&snaplen.to_le_bytes());
        h.extend_from_slice(&link.0.to_le_bytes());
        out.write_all(&h)?;
        Ok(PcapWriter { out })
    }

    pub fn write(&mut self, ts_ns: i64, data: &[u8]) -> io::Result<()> {
        let mut h = [0u8; 16];
        h[0..4].copy_from_slice(&(ts_ns.div_euclid(1_000_000_000) as u32).to_le_bytes());
        h[4..8].copy_from_slice(&(ts_ns.rem_euclid(1_000_000_000) as u32).to_le_bytes());
        h[8..12].copy_from_slice(&(data.len() as u32).to_le_bytes());
        h[12..16].copy_from_slice(&(data.len() as u32).to_le_bytes());
        self.out.write_all(&h)?;
        self.out.write_all(data)
    }

    pub fn into_inner(self) -> W {
        self.out
    }
}

/// Writes pcapng: one section, one interface.
pub struct PcapNgWriter<W: Write> {
    out: W,
}

impl<W: Write> PcapNgWriter<W> {
    pub fn new(mut out: W, link: LinkType, snaplen: u32, app: &str) -> io::Result<Self> {
        // Section header block with shb_userappl.
        let mut body = Vec::new();
        body.extend_from_slice(&0x1a2b_3c4du32.to_le_bytes());
        body.extend_from_slice(&1u16.to_le_bytes());
        body.extend_from_slice(&0u16.to_le_bytes());
        body.extend_from_slice(&(-1i64).to_le_bytes());
        option(&mut body, 4, app.as_bytes());
        option(&mut body, 0, &[]);
        block(&mut out, 0x0a0d_0d0a, &body)?;
        // Interface description block: nanosecond timestamps.
        let mut body = Vec::new();
        body.extend_from_slice(&(link.0 as u16).to_le_bytes());
        body.extend_from_slice(&0u16.to_le_bytes());
        body.extend_from_slice(&snaplen.to_le_bytes());
        option(&mut body, 9, &[9]);
        option(&mut body, 0, &[]);
        block(&mut out, 1, &body)?;
        Ok(PcapNgWriter { out })
    }

    pub fn write(&mut self, ts_ns: i64, data: &[u8]) -> io::Result<()> {
        self.write_cut(ts_ns, data, data.len() as u32)
    }

    /// Writes a packet of which only `data` was kept of `wire_len` bytes.
    pub fn write_cut(&mut self, ts_ns: i64, data: &[u8], wire_len: u32) -> io::Result<()> {
        self.write_commented(ts_ns, data, wire_len, None)
    }

    /// The same with a comment (`opt_comment`, UTF-8; cut at 65,000 bytes
    /// on a character boundary).
    pub fn write_commented(
        &mut self,
        ts_ns: i64,
        data: &[u8],
        wire_len: u32,
        comment: Option<&str>,
    ) -> io::Result<()> {
        let units = ts_ns as u64;
        let mut body = Vec::with_capacity(20 + data.len() + 3);
        body.extend_from_slice(&0u32.to_le_bytes());
        body.extend_from_slice(&((units >> 32) as u32).to_le_bytes());
        body.extend_from_slice(&(units as u32).to_le_bytes());
        body.extend_from_slice(&(data.len() as u32).to_le_bytes());
        body.extend_from_slice(&wire_len.max(data.len() as u32).to_le_bytes());
        body.extend_from_slice(data);
        body.resize(body.len().div_ceil(4) * 4, 0);
        if let Some(text) = comment {
            let mut end = text.len().min(65_000);
            while !text.is_char_boundary(end) {
                end -= 1;
            }
            option(&mut body, 1, &text.as_bytes()[..end]);
            option(&mut body, 0, &[]);
        }
        block(&mut self.out, 6, &body)
    }

    pub fn into_inner(self) -> W {
        self.out
    }
}

fn option(body: &mut Vec<u8>, code: u16, value: &[u8]) {
    body.extend_from_slice(&code.to_le_bytes());
    body.extend_from_slice(&(value.len() as u16).to_le_bytes());
    body.extend_from_slice(value);
    body.resize(body.len().div_ceil(4) * 4, 0);
}

fn block<W: Write>(out: &mut W, kind: u32, body: &[u8]) -> io::Result<()> {
    let total = (12 + body.len()) as u32;
    out.write_all(&kind.to_le_bytes())?;
    out.write_all(&total.to_le_bytes())?;
    out.write_all(body)?;
    out.write_all(&total.to_le_bytes())
}
