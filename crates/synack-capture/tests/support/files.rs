//! Capture files written byte by byte for the readers' tests: pcap of
//! either byte order and resolution, and pcapng block by block.

/// A pcap file: `records` are (seconds, fraction, bytes, length on the
/// wire); the fraction is µs, or ns with `nanos`.
pub fn pcap_with_wire(
    big: bool,
    nanos: bool,
    link: u32,
    records: &[(u32, u32, &[u8], u32)],
) -> Vec<u8> {
    let w32 = |v: u32| {
        if big {
            v.to_be_bytes()
        } else {
            v.to_le_bytes()
        }
    };
    let w16 = |v: u16| {
        if big {
            v.to_be_bytes()
        } else {
            v.to_le_bytes()
        }
    };
    let mut f = Vec::new();
    f.extend_from_slice(&w32(if nanos { 0xa1b2_3c4d } else { 0xa1b2_c3d4 }));
    f.extend_from_slice(&w16(2));
    f.extend_from_slice(&w16(4));
    f.extend_from_slice(&[0; 8]);
    f.extend_from_slice(&w32(65535));
    f.extend_from_slice(&w32(link));
    for (sec, frac, data, wire) in records {
        f.extend_from_slice(&w32(*sec));
        f.extend_from_slice(&w32(*frac));
        f.extend_from_slice(&w32(data.len() as u32));
        f.extend_from_slice(&w32(*wire));
        f.extend_from_slice(data);
    }
    f
}

/// A pcap file whose records were captured whole.
pub fn pcap(big: bool, nanos: bool, link: u32, records: &[(u32, u32, &[u8])]) -> Vec<u8> {
    let whole: Vec<_> = records
        .iter()
        .map(|&(sec, frac, data)| (sec, frac, data, data.len() as u32))
        .collect();
    pcap_with_wire(big, nanos, link, &whole)
}

/// A pcapng file, block by block, in one byte order.
pub struct Ng {
    pub big: bool,
    pub out: Vec<u8>,
}

impl Ng {
    pub fn new(big: bool) -> Ng {
        Ng {
            big,
            out: Vec::new(),
        }
    }
    pub fn w16(&self, v: u16) -> [u8; 2] {
        if self.big {
            v.to_be_bytes()
        } else {
            v.to_le_bytes()
        }
    }
    pub fn w32(&self, v: u32) -> [u8; 4] {
        if self.big {
            v.to_be_bytes()
        } else {
            v.to_le_bytes()
        }
    }
    pub fn w64(&self, v: u64) -> [u8; 8] {
        if self.big {
            v.to_be_bytes()
        } else {
            v.to_le_bytes()
        }
    }
    /// A block: type, total length, the body padded to 4 bytes, length.
    pub fn block(&mut self, kind: u32, body: &[u8]) {
        let mut body = body.to_vec();
        body.resize(body.len().div_ceil(4) * 4, 0);
        let total = 12 + body.len() as u32;
        let (k, t) = (self.w32(kind), self.w32(total));
        self.out.extend_from_slice(&k);
        self.out.extend_from_slice(&t);
        self.out.extend_from_slice(&body);
        self.out.extend_from_slice(&t);
    }
    /// An option: code, length, the value padded to 4 bytes.
    pub fn option(&self, code: u16, value: &[u8]) -> Vec<u8> {
        let mut o = self.w16(code).to_vec();
        o.extend_from_slice(&self.w16(value.len() as u16));
        o.extend_from_slice(value);
        o.resize(4 + value.len().div_ceil(4) * 4, 0);
        o
    }
    /// A section header with `options` (encoded, end marker included).
    pub fn shb_with(&mut self, options: &[u8]) {
        let mut b = self.w32(0x1a2b_3c4d).to_vec();
        b.extend_from_slice(&self.w16(1));
        b.extend_from_slice(&self.w16(0));
        b.extend_from_slice(&[0xff; 8]); // section length unknown
        b.extend_from_slice(options);
        self.block(0x0a0d_0d0a, &b);
    }
    pub fn shb(&mut self) {
        self.shb_with(&[]);
    }
    /// An interface description with a snaplen and `options`.
    pub fn idb_with(&mut self, link: u16, snaplen: u32, options: &[u8]) {
        let mut b = self.w16(link).to_vec();
        b.extend_from_slice(&[0, 0]);
        b.extend_from_slice(&self.w32(snaplen));
        b.extend_from_slice(options);
        self.block(1, &b);
    }
    pub fn idb(&mut self, link: u16, tsresol: Option<u8>) {
        let options = match tsresol {
            Some(r) => [self.option(9, &[r]), self.option(0, &[])].concat(),
            None => Vec::new(),
        };
        self.idb_with(link, 0, &options);
    }
    /// An enhanced packet block with its length on the wire and `options`.
    pub fn epb_with(&mut self, iface: u32, units: u64, data: &[u8], wire: u32, options: &[u8]) {
        let mut b = self.w32(iface).to_vec();
        b.extend_from_slice(&self.w32((units >> 32) as u32));
        b.extend_from_slice(&self.w32(units as u32));
        b.extend_from_slice(&self.w32(data.len() as u32));
        b.extend_from_slice(&self.w32(wire));
        b.extend_from_slice(data);
        b.resize(20 + data.len().div_ceil(4) * 4, 0);
        b.extend_from_slice(options);
        self.block(6, &b);
    }
    pub fn epb(&mut self, iface: u32, units: u64, data: &[u8]) {
        self.epb_with(iface, units, data, data.len() as u32, &[]);
    }
    /// A simple packet block (no interface, no timestamp).
    pub fn spb(&mut self, data: &[u8]) {
        let mut b = self.w32(data.len() as u32).to_vec();
        b.extend_from_slice(data);
        self.block(3, &b);
    }
}
