//! Building frames: Ethernet (optionally 802.1Q-tagged) carrying IPv4 or
//! IPv6 with a TCP segment or an ICMP error, with valid checksums, and any
//! such frame wrapped in a tunnel. Used by the capture generator and by
//! tests; the inverse of [`crate::decode`].

use crate::checksum;
use crate::ip::{PROTO_ICMP, PROTO_ICMPV6, PROTO_TCP, PROTO_UDP};
use crate::link::{self, LinkType};
use crate::tunnel::Tunnel;
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
    /// IP TTL (IPv6 hop limit).
    pub ttl: u8,
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
            ttl: 64,
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
    ttl: u8,
) {
    match (src, dst) {
        (IpAddr::V4(s), IpAddr::V4(d)) => {
            let start = out.len();
            let total = (20 + payload_len) as u16;
            out.extend_from_slice(&[0x45, ecn & 3]);
            out.extend_from_slice(&total.to_be_bytes());
            out.extend_from_slice(&[0, 0, 0x40, 0, ttl, protocol, 0, 0]);
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
            out.extend_from_slice(&[protocol, ttl]);
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
    ip_header(
        out,
        s.src.ip(),
        s.dst.ip(),
        PROTO_TCP,
        tcp_len,
        s.ecn,
        s.ttl,
    );
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
        quoted.ttl,
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
    ip_header(out, from, quoted.src.ip(), proto, icmp_len, 0, 64);
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

/// Wraps the Ethernet frame `inner` in `tunnel`, sent from `outer_src` to
/// `outer_dst` (the underlay, IPv4 or IPv6), as a new untagged Ethernet
/// frame. IP-in-IP, plain GRE and Teredo carry the inner IP datagram (its
/// Ethernet header is dropped; IP-in-IP picks protocol 4 or 41 by the inner
/// version, Teredo needs IPv6 inside); the others carry the whole frame. A
/// frame without IP inside is returned as it is.
pub fn encapsulate(tunnel: Tunnel, outer_src: IpAddr, outer_dst: IpAddr, inner: &[u8]) -> Vec<u8> {
    let Ok(start) = link::network_layer(LinkType::ETHERNET, inner) else {
        return inner.to_vec();
    };
    let datagram = &inner[start.offset..];
    let inner_v6 = start.network == link::Network::Ipv6;
    let ethertype: u16 = if inner_v6 { 0x86dd } else { 0x0800 };
    let mut payload = Vec::with_capacity(inner.len() + 40);
    // GRE with a key (RFC 2890), and with a sequence number when `seq`.
    let gre = |p: &mut Vec<u8>, protocol: u16, seq: bool| {
        p.extend_from_slice(&[if seq { 0x30 } else { 0x20 }, 0]);
        p.extend_from_slice(&protocol.to_be_bytes());
        p.extend_from_slice(&42u32.to_be_bytes());
        if seq {
            p.extend_from_slice(&7u32.to_be_bytes());
        }
    };
    let protocol = match tunnel {
        Tunnel::IpInIp | Tunnel::Ipv6InIp => {
            payload.extend_from_slice(datagram);
            if inner_v6 { 41 } else { 4 }
        }
        Tunnel::Gre => {
            gre(&mut payload, ethertype, false);
            payload.extend_from_slice(datagram);
            47
        }
        Tunnel::ErspanI => {
            gre(&mut payload, 0x88be, false);
            payload.extend_from_slice(inner);
            47
        }
        Tunnel::ErspanII => {
            gre(&mut payload, 0x88be, true);
            // Version 1, VLAN 0, session 5, index 0.
            payload.extend_from_slice(&[0x10, 0, 0, 5, 0, 0, 0, 0]);
            payload.extend_from_slice(inner);
            47
        }
        Tunnel::ErspanIII => {
            gre(&mut payload, 0x22eb, true);
            // Version 2, session 5, a timestamp, the O bit: a subheader.
            payload.extend_from_slice(&[0x20, 0, 0, 5, 0, 0, 0x30, 0x39, 0, 0, 0, 1]);
            payload.extend_from_slice(&[0; 8]);
            payload.extend_from_slice(inner);
            47
        }
        Tunnel::Vxlan => {
            udp_header(&mut payload, 4789, 8 + inner.len());
            payload.extend_from_slice(&[0x08, 0, 0, 0, 0, 0, 42, 0]);
            payload.extend_from_slice(inner);
            PROTO_UDP
        }
        Tunnel::Geneve => {
            udp_header(&mut payload, 6081, 16 + inner.len());
            // Version 0, two words of options (class, type, length, data),
            // Ethernet inside, VNI 42; then the option.
            payload.extend_from_slice(&[0x02, 0, 0x65, 0x58, 0, 0, 42, 0]);
            payload.extend_from_slice(&[0x01, 0x02, 0x03, 0x01, 0xde, 0xad, 0xbe, 0xef]);
            payload.extend_from_slice(inner);
            PROTO_UDP
        }
        Tunnel::Teredo => {
            udp_header(&mut payload, 3544, datagram.len());
            payload.extend_from_slice(datagram);
            PROTO_UDP
        }
    };
    if protocol == PROTO_UDP {
        payload[6..8].fill(0);
        let c = checksum::transport(outer_src, outer_dst, PROTO_UDP, &payload);
        payload[6..8].copy_from_slice(&c.to_be_bytes());
    }
    let mut out = Vec::with_capacity(payload.len() + 54);
    ethernet_header(&mut out, outer_src.is_ipv6(), None);
    ip_header(
        &mut out,
        outer_src,
        outer_dst,
        protocol,
        payload.len(),
        0,
        64,
    );
    out.extend_from_slice(&payload);
    out
}

/// A UDP header from an ephemeral port to `dst_port` for `body_len` bytes;
/// the checksum is filled in once the body is there.
fn udp_header(out: &mut Vec<u8>, dst_port: u16, body_len: usize) {
    out.extend_from_slice(&49152u16.to_be_bytes());
    out.extend_from_slice(&dst_port.to_be_bytes());
    out.extend_from_slice(&((8 + body_len) as u16).to_be_bytes());
    out.extend_from_slice(&[0, 0]);
}
