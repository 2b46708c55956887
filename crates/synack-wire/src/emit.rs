//! Building frames: Ethernet (optionally 802.1Q-tagged) carrying IPv4 or
//! IPv6 with a TCP segment or an ICMP error, with valid checksums. Used by
//! the capture generator and by tests; the inverse of [`crate::decode`].

use crate::checksum;
use crate::ip::{PROTO_ICMP, PROTO_ICMPV6, PROTO_TCP};
use std::net::{IpAddr, SocketAddr};

/// A TCP segment to build.
#[derive(Clone, Debug)]
pub struct TcpSegmentSpec<'a> {
    pub src: SocketAddr,
    pub dst: SocketAddr,
    pub seq: u32,
    pub ack: u32,
    /// Flag bits as in [`crate::TcpFlags`] (AE included).
    pub flags: u16,
    pub window: u16,
    /// Encoded options (see [`OptionWriter`]); padded here to 4 bytes.
    pub options: &'a [u8],
    pub payload: &'a [u8],
    /// ECN codepoint of the IP header.
    pub ecn: u8,
    pub vlan: Option<u16>,
}

impl<'a> TcpSegmentSpec<'a> {
    /// A segment without options, payload, ECN or VLAN tag; set those with
    /// struct update syntax (`TcpSegmentSpec { options, ..spec }`).
    pub fn new(src: SocketAddr, dst: SocketAddr, seq: u32, ack: u32, flags: u16) -> Self {
        TcpSegmentSpec {
            src,
            dst,
            seq,
            ack,
            flags,
            window: 64240,
            options: &[],
            payload: &[],
            ecn: 0,
            vlan: None,
        }
    }
}

/// Encodes TCP options in order.
#[derive(Default, Clone, Debug)]
pub struct OptionWriter(Vec<u8>);

impl OptionWriter {
    /// What Linux puts on a SYN or SYN-ACK over Ethernet: MSS 1460,
    /// SACK-permitted, timestamps, NOP, window scale (in that order).
    pub fn linux(tsval: u32, tsecr: u32, wscale: u8) -> Self {
        OptionWriter::default()
            .mss(1460)
            .sack_permitted()
            .timestamps(tsval, tsecr)
            .nop()
            .wscale(wscale)
    }

    pub fn mss(mut self, mss: u16) -> Self {
        self.0.extend_from_slice(&[2, 4]);
        self.0.extend_from_slice(&mss.to_be_bytes());
        self
    }
    pub fn sack_permitted(mut self) -> Self {
        self.0.extend_from_slice(&[4, 2]);
        self
    }
    pub fn timestamps(mut self, tsval: u32, tsecr: u32) -> Self {
        self.0.extend_from_slice(&[8, 10]);
        self.0.extend_from_slice(&tsval.to_be_bytes());
        self.0.extend_from_slice(&tsecr.to_be_bytes());
        self
    }
    pub fn nop(mut self) -> Self {
        self.0.push(1);
        self
    }
    pub fn wscale(mut self, shift: u8) -> Self {
        self.0.extend_from_slice(&[3, 3, shift]);
        self
    }
    /// TFO (kind 34): an empty cookie is a cookie request.
    pub fn tfo(mut self, cookie: &[u8]) -> Self {
        self.0.extend_from_slice(&[34, 2 + cookie.len() as u8]);
        self.0.extend_from_slice(cookie);
        self
    }
    pub fn raw(mut self, bytes: &[u8]) -> Self {
        self.0.extend_from_slice(bytes);
        self
    }
    pub fn build(self) -> Vec<u8> {
        self.0
    }
}

const MAC_A: [u8; 6] = [0x02, 0, 0, 0, 0, 0x0a];
const MAC_B: [u8; 6] = [0x02, 0, 0, 0, 0, 0x0b];

fn ethernet_header(out: &mut Vec<u8>, v6: bool, vlan: Option<u16>) {
    out.extend_from_slice(&MAC_B);
    out.extend_from_slice(&MAC_A);
    if let Some(id) = vlan {
        out.extend_from_slice(&[0x81, 0x00]);
        out.extend_from_slice(&(id & 0x0fff).to_be_bytes());
    }
    out.extend_from_slice(if v6 { &[0x86, 0xdd] } else { &[0x08, 0x00] });
}

/// Appends an IP header for `payload_len` bytes of `protocol`.
fn ip_header(
    out: &mut Vec<u8>,
    src: IpAddr,
    dst: IpAddr,
    protocol: u8,
    payload_len: usize,
    ecn: u8,
) {
    match (src, dst) {
        (IpAddr::V4(s), IpAddr::V4(d)) => {
            let start = out.len();
            let total = (20 + payload_len) as u16;
            out.extend_from_slice(&[0x45, ecn & 3]);
            out.extend_from_slice(&total.to_be_bytes());
            out.extend_from_slice(&[0, 0, 0x40, 0, 64, protocol, 0, 0]);
            out.extend_from_slice(&s.octets());
            out.extend_from_slice(&d.octets());
            let c = !(checksum::sum(0, &out[start..]) as u16);
            out[start + 10..start + 12].copy_from_slice(&c.to_be_bytes());
        }
        (s, d) => {
            let s6 = match s {
                IpAddr::V6(a) => a,
                IpAddr::V4(a) => a.to_ipv6_mapped(),
            };
            let d6 = match d {
                IpAddr::V6(a) => a,
                IpAddr::V4(a) => a.to_ipv6_mapped(),
            };
            out.extend_from_slice(&[0x60, (ecn & 3) << 4, 0, 0]);
            out.extend_from_slice(&(payload_len as u16).to_be_bytes());
            out.extend_from_slice(&[protocol, 64]);
            out.extend_from_slice(&s6.octets());
            out.extend_from_slice(&d6.octets());
        }
    }
}

/// Appends the TCP header and payload of `s` (checksum filled): what a raw
/// IPPROTO_TCP socket sends.
pub fn tcp_segment(out: &mut Vec<u8>, s: &TcpSegmentSpec<'_>) {
    let start = out.len();
    let opt_len = s.options.len().div_ceil(4) * 4;
    out.extend_from_slice(&s.src.port().to_be_bytes());
    out.extend_from_slice(&s.dst.port().to_be_bytes());
    out.extend_from_slice(&s.seq.to_be_bytes());
    out.extend_from_slice(&s.ack.to_be_bytes());
    out.push((((20 + opt_len) / 4) << 4) as u8 | ((s.flags >> 8) & 1) as u8);
    out.push(s.flags as u8);
    out.extend_from_slice(&s.window.to_be_bytes());
    out.extend_from_slice(&[0, 0, 0, 0]);
    out.extend_from_slice(s.options);
    out.resize(start + 20 + opt_len, 0);
    out.extend_from_slice(s.payload);
    let c = checksum::transport(s.src.ip(), s.dst.ip(), PROTO_TCP, &out[start..]);
    out[start + 16..start + 18].copy_from_slice(&c.to_be_bytes());
}

/// Appends an Ethernet frame carrying the TCP segment `s` to `out`.
pub fn ethernet_tcp(out: &mut Vec<u8>, s: &TcpSegmentSpec<'_>) {
    let v6 = s.src.is_ipv6();
    ethernet_header(out, v6, s.vlan);
    let tcp_len = 20 + s.options.len().div_ceil(4) * 4 + s.payload.len();
    ip_header(out, s.src.ip(), s.dst.ip(), PROTO_TCP, tcp_len, s.ecn);
    tcp_segment(out, s);
}

/// Appends an Ethernet frame with an ICMP (v4) or ICMPv6 destination
/// unreachable from `from`, quoting the IP datagram of the segment `quoted`.
pub fn ethernet_icmp_unreachable(
    out: &mut Vec<u8>,
    from: IpAddr,
    code: u8,
    quoted: &TcpSegmentSpec<'_>,
) {
    let v6 = quoted.src.is_ipv6();
    let mut inner = Vec::new();
    let tcp_len = 20 + quoted.options.len().div_ceil(4) * 4 + quoted.payload.len();
    ip_header(
        &mut inner,
        quoted.src.ip(),
        quoted.dst.ip(),
        PROTO_TCP,
        tcp_len,
        quoted.ecn,
    );
    tcp_segment(&mut inner, quoted);
    // RFC 792 quotes the IP header and 8 bytes; RFC 1812 allows more. Keep 28.
    inner.truncate(if v6 { 48 } else { 28 });
    ethernet_header(out, v6, quoted.vlan);
    let icmp_len = 8 + inner.len();
    let (proto, icmp_type) = if v6 {
        (PROTO_ICMPV6, 1)
    } else {
        (PROTO_ICMP, 3)
    };
    ip_header(out, from, quoted.src.ip(), proto, icmp_len, 0);
    let start = out.len();
    out.extend_from_slice(&[icmp_type, code, 0, 0, 0, 0, 0, 0]);
    out.extend_from_slice(&inner);
    let c = if v6 {
        checksum::transport(from, quoted.src.ip(), PROTO_ICMPV6, &out[start..])
    } else {
        !(checksum::sum(0, &out[start..]) as u16)
    };
    out[start + 2..start + 4].copy_from_slice(&c.to_be_bytes());
}
