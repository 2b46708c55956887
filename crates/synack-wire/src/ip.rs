//! IPv4 (RFC 791) and IPv6 (RFC 8200) headers: addresses, the transport
//! protocol, where its bytes are, the ECN field (RFC 3168) and fragments.
//! IPv6 extension headers are walked to the upper-layer header.

use crate::decode::Part;
use crate::{Skip, be16};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

pub const PROTO_TCP: u8 = 6;
pub const PROTO_ICMP: u8 = 1;
pub const PROTO_ICMPV6: u8 = 58;
pub const PROTO_UDP: u8 = 17;

/// What the analysis needs from an IP header.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct IpHeader {
    pub src: IpAddr,
    pub dst: IpAddr,
    /// The upper-layer protocol after any IPv6 extension headers.
    pub protocol: u8,
    /// Where the upper-layer bytes start and end inside the buffer given.
    /// The end honours the IP length field when the capture holds that much,
    /// so Ethernet padding is not taken as payload.
    pub payload_start: usize,
    pub payload_end: usize,
    /// The length the IP header claims for the whole datagram.
    pub total_len: usize,
    /// Where the datagram ends by its length field (may lie past the capture).
    pub claimed_end: usize,
    /// The two ECN bits of the TOS / traffic-class byte.
    pub ecn: u8,
    pub ttl: u8,
    /// A fragment that is not the first one: its payload has no TCP header.
    pub later_fragment: bool,
    /// A first fragment with more to come: its TCP header may be cut.
    pub first_fragment: bool,
}

/// Parses an IPv4 header starting at `at`.
pub fn ipv4(b: &[u8], at: usize) -> Result<IpHeader, Skip> {
    let h = b.get(at..).ok_or(Skip::Truncated(Part::Ipv4))?;
    if h.len() < 20 {
        return Err(Skip::Truncated(Part::Ipv4));
    }
    if h[0] >> 4 != 4 {
        return Err(Skip::Malformed(Part::Ipv4Version));
    }
    let ihl = usize::from(h[0] & 0x0f) * 4;
    if ihl < 20 {
        return Err(Skip::Malformed(Part::Ipv4HeaderLength));
    }
    if h.len() < ihl {
        return Err(Skip::Truncated(Part::Ipv4Options));
    }
    let total_len = usize::from(be16(h, 2));
    if total_len < ihl {
        // TSO captures show total length 0; trust the capture then.
        if total_len != 0 {
            return Err(Skip::Malformed(Part::Ipv4TotalLength));
        }
    }
    let frag = be16(h, 6);
    let offset = frag & 0x1fff;
    let more = frag & 0x2000 != 0;
    let end = if total_len == 0 {
        h.len()
    } else {
        total_len.min(h.len())
    };
    Ok(IpHeader {
        src: IpAddr::V4(Ipv4Addr::new(h[12], h[13], h[14], h[15])),
        dst: IpAddr::V4(Ipv4Addr::new(h[16], h[17], h[18], h[19])),
        protocol: h[9],
        payload_start: at + ihl,
        payload_end: at + end,
        total_len: if total_len == 0 { h.len() } else { total_len },
        claimed_end: at + if total_len == 0 { h.len() } else { total_len },
        ecn: h[1] & 0x03,
        ttl: h[8],
        later_fragment: offset != 0,
        first_fragment: offset == 0 && more,
    })
}

/// Parses an IPv6 header starting at `at`, walking extension headers.
pub fn ipv6(b: &[u8], at: usize) -> Result<IpHeader, Skip> {
    let h = b.get(at..).ok_or(Skip::Truncated(Part::Ipv6))?;
    if h.len() < 40 {
        return Err(Skip::Truncated(Part::Ipv6));
    }
    if h[0] >> 4 != 6 {
        return Err(Skip::Malformed(Part::Ipv6Version));
    }
    let payload_len = usize::from(be16(h, 4));
    let mut src = [0u8; 16];
    let mut dst = [0u8; 16];
    src.copy_from_slice(&h[8..24]);
    dst.copy_from_slice(&h[24..40]);
    // A zero payload length means a jumbogram or a TSO capture: trust the
    // capture length then.
    let end = if payload_len == 0 {
        h.len()
    } else {
        (40 + payload_len).min(h.len())
    };
    let mut next = h[6];
    let mut off = 40usize;
    let mut later_fragment = false;
    let mut first_fragment = false;
    // RFC 8200 section 4.1 ordering; bounded by the header count as well as
    // by the buffer, so a loop of headers cannot spin.
    for _ in 0..16 {
        match next {
            // Hop-by-hop, routing, destination options, mobility, HIP, shim6.
            0 | 43 | 60 | 135 | 139 | 140 => {
                if h.len() < off + 2 {
                    return Err(Skip::Truncated(Part::Ipv6ExtensionHeader));
                }
                next = h[off];
                off += (usize::from(h[off + 1]) + 1) * 8;
            }
            44 => {
                if h.len() < off + 8 {
                    return Err(Skip::Truncated(Part::Ipv6FragmentHeader));
                }
                let frag = be16(h, off + 2);
                later_fragment = frag & 0xfff8 != 0;
                first_fragment = !later_fragment && frag & 1 != 0;
                next = h[off];
                off += 8;
            }
            51 => {
                // Authentication header: length in 4-byte units, minus 2.
                if h.len() < off + 2 {
                    return Err(Skip::Truncated(Part::Ipv6AuthenticationHeader));
                }
                next = h[off];
                off += (usize::from(h[off + 1]) + 2) * 4;
            }
            _ => break,
        }
        if later_fragment {
            break;
        }
    }
    if off > end {
        return Err(Skip::Truncated(Part::Ipv6ExtensionHeader));
    }
    Ok(IpHeader {
        src: IpAddr::V6(Ipv6Addr::from(src)),
        dst: IpAddr::V6(Ipv6Addr::from(dst)),
        protocol: next,
        payload_start: at + off,
        payload_end: at + end,
        total_len: if payload_len == 0 {
            h.len()
        } else {
            40 + payload_len
        },
        claimed_end: at
            + if payload_len == 0 {
                h.len()
            } else {
                40 + payload_len
            },
        ecn: (((h[0] & 0x0f) << 4 | h[1] >> 4) & 0x03),
        ttl: h[7],
        later_fragment,
        first_fragment,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v4(frag: u16, total: u16) -> Vec<u8> {
        let mut h = vec![
            0x45, 0x02, 0, 0, 0, 0, 0, 0, 64, 6, 0, 0, 10, 0, 0, 1, 10, 0, 0, 2,
        ];
        h[2..4].copy_from_slice(&total.to_be_bytes());
        h[6..8].copy_from_slice(&frag.to_be_bytes());
        h.resize(usize::from(total.max(20)) + 6, 0xee); // Ethernet-style padding
        h
    }

    #[test]
    fn ipv4_fields_and_padding() {
        let h = ipv4(&v4(0x4000, 40), 0).unwrap();
        assert_eq!(h.src, IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1)));
        assert_eq!((h.protocol, h.payload_start, h.payload_end), (6, 20, 40));
        assert_eq!(h.ecn, 2);
        assert!(!h.later_fragment && !h.first_fragment);
    }

    #[test]
    fn ipv4_later_fragment_is_flagged() {
        assert!(ipv4(&v4(0x0010, 40), 0).unwrap().later_fragment);
        assert!(ipv4(&v4(0x2000, 40), 0).unwrap().first_fragment);
    }

    #[test]
    fn ipv4_bad_lengths() {
        let mut h = v4(0, 40);
        h[0] = 0x44;
        assert_eq!(ipv4(&h, 0), Err(Skip::Malformed(Part::Ipv4HeaderLength)));
        let mut h = v4(0, 40);
        h[0] = 0x4f;
        assert_eq!(ipv4(&h[..40], 0), Err(Skip::Truncated(Part::Ipv4Options)));
        assert_eq!(ipv4(&[0x45; 19], 0), Err(Skip::Truncated(Part::Ipv4)));
    }

    #[test]
    fn ipv6_walks_hop_by_hop_and_destination_options() {
        let mut h = vec![0u8; 40];
        h[0] = 0x60;
        h[1] = 0x10; // traffic class 0x01: ECT(1)
        h[6] = 0; // hop-by-hop
        h[4..6].copy_from_slice(&36u16.to_be_bytes());
        h.extend_from_slice(&[60, 0, 0, 0, 0, 0, 0, 0]); // HBH -> dest opts
        h.extend_from_slice(&[6, 0, 0, 0, 0, 0, 0, 0]); // dest opts -> TCP
        h.extend_from_slice(&[0u8; 20]);
        let p = ipv6(&h, 0).unwrap();
        assert_eq!(
            (p.protocol, p.payload_start, p.payload_end, p.ecn),
            (6, 56, 76, 1)
        );
    }

    #[test]
    fn ipv6_later_fragment() {
        let mut h = vec![0u8; 40];
        h[0] = 0x60;
        h[6] = 44;
        h[4..6].copy_from_slice(&16u16.to_be_bytes());
        h.extend_from_slice(&[6, 0, 0x05, 0x00, 0, 0, 0, 1]);
        h.extend_from_slice(&[0u8; 8]);
        assert!(ipv6(&h, 0).unwrap().later_fragment);
    }
}
