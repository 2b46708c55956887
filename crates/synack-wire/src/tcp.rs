//! The TCP header (RFC 9293 section 3.1) and the options a handshake
//! negotiates: MSS, window scale and timestamps (RFC 7323), SACK-permitted
//! (RFC 2018), TCP Fast Open (RFC 7413, kind 34 and the experimental kind
//! 254 with ExID 0xF989), MPTCP (RFC 8684); other kinds are kept raw.

use crate::decode::Part;
use crate::{Skip, be16, be32};

/// A checked view of a TCP header and its payload.
#[derive(Clone, Copy, Debug)]
pub struct TcpView<'a> {
    bytes: &'a [u8],
    header_len: usize,
}

/// The TCP flag bits, including AE (the former NS bit, used by AccECN).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct TcpFlags(pub u16);

impl TcpFlags {
    pub const FIN: u16 = 0x001;
    pub const SYN: u16 = 0x002;
    pub const RST: u16 = 0x004;
    pub const PSH: u16 = 0x008;
    pub const ACK: u16 = 0x010;
    pub const URG: u16 = 0x020;
    pub const ECE: u16 = 0x040;
    pub const CWR: u16 = 0x080;
    pub const AE: u16 = 0x100;

    #[inline]
    pub fn has(self, bit: u16) -> bool {
        self.0 & bit != 0
    }
    pub fn syn(self) -> bool {
        self.has(Self::SYN)
    }
    pub fn ack(self) -> bool {
        self.has(Self::ACK)
    }
    pub fn rst(self) -> bool {
        self.has(Self::RST)
    }
    pub fn fin(self) -> bool {
        self.has(Self::FIN)
    }
}

impl std::fmt::Display for TcpFlags {
    /// tcpdump's letters: S F R P . (ACK) U E W, plus A for AE.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let names = [
            (Self::SYN, 'S'),
            (Self::FIN, 'F'),
            (Self::RST, 'R'),
            (Self::PSH, 'P'),
            (Self::URG, 'U'),
            (Self::ECE, 'E'),
            (Self::CWR, 'W'),
            (Self::AE, 'e'),
            (Self::ACK, '.'),
        ];
        for (bit, c) in names {
            if self.has(bit) {
                write!(f, "{c}")?;
            }
        }
        Ok(())
    }
}

impl<'a> TcpView<'a> {
    /// Checks that the fixed header and the options it announces are present.
    pub fn new_checked(bytes: &'a [u8]) -> Result<Self, Skip> {
        if bytes.len() < 20 {
            return Err(Skip::Truncated(Part::Tcp));
        }
        let header_len = usize::from(bytes[12] >> 4) * 4;
        if header_len < 20 {
            return Err(Skip::Malformed(Part::TcpDataOffset));
        }
        if bytes.len() < header_len {
            return Err(Skip::Truncated(Part::TcpOptions));
        }
        Ok(TcpView { bytes, header_len })
    }

    pub fn src_port(&self) -> u16 {
        be16(self.bytes, 0)
    }
    pub fn dst_port(&self) -> u16 {
        be16(self.bytes, 2)
    }
    pub fn seq(&self) -> u32 {
        be32(self.bytes, 4)
    }
    pub fn ack(&self) -> u32 {
        be32(self.bytes, 8)
    }
    pub fn header_len(&self) -> usize {
        self.header_len
    }
    pub fn flags(&self) -> TcpFlags {
        TcpFlags(u16::from(self.bytes[12] & 1) << 8 | u16::from(self.bytes[13]))
    }
    pub fn window(&self) -> u16 {
        be16(self.bytes, 14)
    }
    pub fn checksum(&self) -> u16 {
        be16(self.bytes, 16)
    }
    pub fn option_bytes(&self) -> &'a [u8] {
        &self.bytes[20..self.header_len]
    }
    /// The payload bytes present in the capture (may be fewer than sent).
    pub fn payload(&self) -> &'a [u8] {
        &self.bytes[self.header_len..]
    }
    pub fn bytes(&self) -> &'a [u8] {
        self.bytes
    }
    pub fn options(&self) -> TcpOptions {
        TcpOptions::parse(self.option_bytes())
    }

    /// A copy of the header (without payload) to keep after the frame's
    /// buffer is gone.
    pub fn header_copy(&self) -> TcpHeaderCopy {
        let mut bytes = [0; TcpHeaderCopy::MAX];
        bytes[..self.header_len].copy_from_slice(&self.bytes[..self.header_len]);
        TcpHeaderCopy {
            bytes,
            // At most 60: the data offset is four bits of 32-bit words.
            len: self.header_len as u8,
        }
    }
}

/// An owned copy of a checked TCP header, so that a segment can be looked
/// at again later without keeping its frame.
#[derive(Clone, Copy, Debug)]
pub struct TcpHeaderCopy {
    bytes: [u8; TcpHeaderCopy::MAX],
    len: u8,
}

impl TcpHeaderCopy {
    /// The longest TCP header (data offset 15).
    pub const MAX: usize = 60;

    /// The header as it was checked, with no payload bytes.
    pub fn view(&self) -> TcpView<'_> {
        let header_len = usize::from(self.len);
        TcpView {
            bytes: &self.bytes[..header_len],
            header_len,
        }
    }
}

/// TCP Fast Open option content (RFC 7413 section 4.1.1).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Tfo {
    /// The cookie; empty for a cookie request.
    pub cookie: [u8; 16],
    pub cookie_len: u8,
    /// Sent as the experimental option (kind 254, ExID 0xF989).
    pub experimental: bool,
}

impl Tfo {
    pub fn is_request(&self) -> bool {
        self.cookie_len == 0
    }
    pub fn cookie(&self) -> &[u8] {
        &self.cookie[..usize::from(self.cookie_len).min(16)]
    }
}

/// The options of one segment, decoded, with the raw bytes kept for kinds
/// this crate does not interpret. Fixed size, no allocation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TcpOptions {
    pub mss: Option<u16>,
    pub wscale: Option<u8>,
    pub sack_permitted: bool,
    /// (TSval, TSecr)
    pub timestamps: Option<(u32, u32)>,
    pub tfo: Option<Tfo>,
    /// MPTCP option subtype (RFC 8684 section 3: 0 = MP_CAPABLE).
    pub mptcp_subtype: Option<u8>,
    /// Kinds not decoded above (in order, up to 8), e.g. 27 (Quick-Start).
    unknown: [u8; 8],
    unknown_len: u8,
    /// An option whose length ran past the header, or a bad length field.
    pub malformed: bool,
    raw: [u8; 40],
    raw_len: u8,
}

impl TcpOptions {
    pub fn parse(bytes: &[u8]) -> TcpOptions {
        let mut o = TcpOptions::default();
        let n = bytes.len().min(40);
        o.raw[..n].copy_from_slice(&bytes[..n]);
        o.raw_len = n as u8;
        let b = &bytes[..n];
        let mut i = 0;
        while i < b.len() {
            let kind = b[i];
            match kind {
                0 => break,
                1 => {
                    i += 1;
                    continue;
                }
                _ => {}
            }
            let Some(&len) = b.get(i + 1) else {
                o.malformed = true;
                break;
            };
            let len = usize::from(len);
            if len < 2 || i + len > b.len() {
                o.malformed = true;
                break;
            }
            let body = &b[i + 2..i + len];
            match (kind, body.len()) {
                (2, 2) => o.mss = Some(be16(body, 0)),
                (3, 1) => o.wscale = Some(body[0]),
                (4, 0) => o.sack_permitted = true,
                (5, _) => {} // SACK blocks: not part of a handshake
                (8, 8) => o.timestamps = Some((be32(body, 0), be32(body, 4))),
                (34, l) if l <= 16 => o.tfo = Some(tfo(body, false)),
                (254, l) if (2..=18).contains(&l) && be16(body, 0) == 0xf989 => {
                    o.tfo = Some(tfo(&body[2..], true))
                }
                (30, l) if l >= 1 => o.mptcp_subtype = Some(body[0] >> 4),
                (2 | 3 | 4 | 8, _) => o.malformed = true,
                _ => {
                    if usize::from(o.unknown_len) < o.unknown.len() {
                        o.unknown[usize::from(o.unknown_len)] = kind;
                        o.unknown_len += 1;
                    }
                }
            }
            i += len;
        }
        o
    }

    /// Kinds present that are not decoded into a field.
    pub fn unknown_kinds(&self) -> &[u8] {
        &self.unknown[..usize::from(self.unknown_len)]
    }

    /// The option bytes as captured.
    pub fn raw(&self) -> &[u8] {
        &self.raw[..usize::from(self.raw_len)]
    }

    /// The raw bytes of each option of `kind` (header included).
    pub fn raw_option(&self, kind: u8) -> Option<&[u8]> {
        let b = self.raw();
        let mut i = 0;
        while i < b.len() {
            match b[i] {
                0 => return None,
                1 => i += 1,
                k => {
                    let len = usize::from(*b.get(i + 1)?);
                    if len < 2 || i + len > b.len() {
                        return None;
                    }
                    if k == kind {
                        return Some(&b[i..i + len]);
                    }
                    i += len;
                }
            }
        }
        None
    }
}

impl Default for TcpOptions {
    fn default() -> Self {
        TcpOptions {
            mss: None,
            wscale: None,
            sack_permitted: false,
            timestamps: None,
            tfo: None,
            mptcp_subtype: None,
            unknown: [0; 8],
            unknown_len: 0,
            malformed: false,
            raw: [0; 40],
            raw_len: 0,
        }
    }
}

fn tfo(cookie: &[u8], experimental: bool) -> Tfo {
    let mut t = Tfo {
        experimental,
        ..Tfo::default()
    };
    let n = cookie.len().min(16);
    t.cookie[..n].copy_from_slice(&cookie[..n]);
    t.cookie_len = n as u8;
    t
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header(flags: u8, options: &[u8]) -> Vec<u8> {
        let mut h = vec![0u8; 20];
        h[0..2].copy_from_slice(&40000u16.to_be_bytes());
        h[2..4].copy_from_slice(&80u16.to_be_bytes());
        h[4..8].copy_from_slice(&1000u32.to_be_bytes());
        h[12] = (((20 + options.len()) / 4) << 4) as u8;
        h[13] = flags;
        h.extend_from_slice(options);
        h
    }

    #[test]
    fn linux_syn_options() {
        // MSS 65495, SACK-permitted, TS, NOP, WS 7: what Linux sends on lo.
        let opts = [
            2, 4, 0xff, 0xd7, 4, 2, 8, 10, 0, 0, 0, 1, 0, 0, 0, 0, 1, 3, 3, 7,
        ];
        let h = header(0x02, &opts);
        let v = TcpView::new_checked(&h).unwrap();
        assert!(v.flags().syn() && !v.flags().ack());
        let o = v.options();
        assert_eq!(o.mss, Some(65495));
        assert_eq!(o.wscale, Some(7));
        assert!(o.sack_permitted);
        assert_eq!(o.timestamps, Some((1, 0)));
        assert!(!o.malformed);
        assert!(o.unknown_kinds().is_empty());
    }

    #[test]
    fn tfo_request_cookie_and_experimental() {
        let req = TcpOptions::parse(&[34, 2]);
        assert!(req.tfo.unwrap().is_request());
        let c = TcpOptions::parse(&[34, 10, 1, 2, 3, 4, 5, 6, 7, 8]);
        assert_eq!(c.tfo.unwrap().cookie(), &[1, 2, 3, 4, 5, 6, 7, 8]);
        let e = TcpOptions::parse(&[254, 4, 0xf9, 0x89]);
        assert!(e.tfo.unwrap().is_request() && e.tfo.unwrap().experimental);
        let other_exid = TcpOptions::parse(&[254, 4, 0x12, 0x34]);
        assert!(other_exid.tfo.is_none());
        assert_eq!(other_exid.unknown_kinds(), &[254]);
    }

    #[test]
    fn mptcp_and_unknown_kinds_are_kept() {
        let o = TcpOptions::parse(&[30, 4, 0x01, 0x81, 27, 8, 1, 2, 3, 4, 5, 6]);
        assert_eq!(o.mptcp_subtype, Some(0));
        assert_eq!(o.unknown_kinds(), &[27]);
        assert_eq!(o.raw_option(27).unwrap().len(), 8);
    }

    #[test]
    fn malformed_lengths_are_flagged() {
        assert!(TcpOptions::parse(&[2, 4, 5]).malformed);
        assert!(TcpOptions::parse(&[2, 1, 5, 5]).malformed);
        assert!(TcpOptions::parse(&[3, 4, 5, 5]).malformed);
        assert!(TcpOptions::parse(&[8]).malformed);
    }

    #[test]
    fn ae_bit_is_part_of_flags() {
        let mut h = header(0xc2, &[]);
        h[12] |= 1;
        let f = TcpView::new_checked(&h).unwrap().flags();
        assert!(f.has(TcpFlags::AE) && f.has(TcpFlags::ECE) && f.has(TcpFlags::CWR));
        assert_eq!(f.to_string(), "SEWe");
    }

    #[test]
    fn header_lengths_are_checked() {
        assert!(TcpView::new_checked(&[0; 19]).is_err());
        let mut h = header(2, &[]);
        h[12] = 0x40;
        assert_eq!(
            TcpView::new_checked(&h).unwrap_err(),
            Skip::Malformed(Part::TcpDataOffset)
        );
        let mut h = header(2, &[]);
        h[12] = 0x60;
        assert_eq!(
            TcpView::new_checked(&h).unwrap_err(),
            Skip::Truncated(Part::TcpOptions)
        );
    }
}
