//! The Internet checksum (RFC 1071) with the TCP pseudo-header (RFC 9293
//! section 3.1), used to verify segments on request and to emit valid ones.

use std::net::IpAddr;

/// One's-complement sum of `data`, folded to 16 bits but not inverted.
pub fn sum(mut acc: u32, data: &[u8]) -> u32 {
    let mut chunks = data.chunks_exact(2);
    for c in &mut chunks {
        acc += u32::from(u16::from_be_bytes([c[0], c[1]]));
    }
    if let [last] = chunks.remainder() {
        acc += u32::from(*last) << 8;
    }
    fold(acc)
}

fn fold(mut acc: u32) -> u32 {
    while acc > 0xffff {
        acc = (acc & 0xffff) + (acc >> 16);
    }
    acc
}

/// Sum of the pseudo-header for a transport segment of `len` bytes.
pub fn pseudo_header(src: IpAddr, dst: IpAddr, protocol: u8, len: usize) -> u32 {
    let mut acc = 0u32;
    match (src, dst) {
        (IpAddr::V4(s), IpAddr::V4(d)) => {
            acc = sum(acc, &s.octets());
            acc = sum(acc, &d.octets());
        }
        (s, d) => {
            acc = sum(acc, &to16(s));
            acc = sum(acc, &to16(d));
        }
    }
    acc += u32::from(protocol);
    acc += (len as u32) & 0xffff;
    acc += (len as u32) >> 16;
    fold(acc)
}

fn to16(a: IpAddr) -> [u8; 16] {
    match a {
        IpAddr::V4(v4) => v4.to_ipv6_mapped().octets(),
        IpAddr::V6(v6) => v6.octets(),
    }
}

/// The checksum field value for `segment` (with its checksum field zeroed).
pub fn transport(src: IpAddr, dst: IpAddr, protocol: u8, segment: &[u8]) -> u16 {
    !(sum(pseudo_header(src, dst, protocol, segment.len()), segment) as u16)
}

/// True when `segment`, checksum field included, sums to zero as it must.
pub fn verify_transport(src: IpAddr, dst: IpAddr, protocol: u8, segment: &[u8]) -> bool {
    sum(pseudo_header(src, dst, protocol, segment.len()), segment) == 0xffff
}
