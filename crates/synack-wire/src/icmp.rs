//! ICMP (RFC 792) and ICMPv6 (RFC 4443) errors that quote a TCP segment:
//! the quoted IP header and the first 8 bytes of TCP (ports and sequence
//! number) tie the error to the connection attempt it rejects.

use crate::decode::Part;
use crate::ip::{self, IpHeader, PROTO_TCP};
use crate::{Skip, be16, be32};
use std::net::IpAddr;

/// An ICMP error about a TCP segment.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct IcmpError {
    pub v6: bool,
    pub icmp_type: u8,
    pub code: u8,
    /// Who sent the error (the outer source address).
    pub from: IpAddr,
    /// The quoted segment's addresses and ports, as the original sender sent them.
    pub src: IpAddr,
    pub dst: IpAddr,
    pub src_port: u16,
    pub dst_port: u16,
    pub seq: u32,
}

impl IcmpError {
    /// Destination unreachable (ICMP type 3, ICMPv6 type 1): the errors that
    /// reject a connection attempt. Others (time exceeded, parameter
    /// problem, packet too big) are reported only as context.
    pub fn is_unreachable(&self) -> bool {
        if self.v6 {
            self.icmp_type == 1
        } else {
            self.icmp_type == 3
        }
    }
}

/// Decodes an ICMP or ICMPv6 message whose bytes are `outer.payload_start..`.
/// Returns `Skip::NotTcp` for messages that do not quote TCP.
pub fn icmp_error(b: &[u8], outer: &IpHeader) -> Result<IcmpError, Skip> {
    let v6 = outer.protocol == ip::PROTO_ICMPV6;
    let m = b
        .get(outer.payload_start..outer.payload_end)
        .ok_or(Skip::Truncated(Part::Icmp))?;
    if m.len() < 8 {
        return Err(Skip::Truncated(Part::Icmp));
    }
    let (icmp_type, code) = (m[0], m[1]);
    let is_error = if v6 {
        icmp_type < 128
    } else {
        matches!(icmp_type, 3 | 4 | 5 | 11 | 12)
    };
    if !is_error {
        return Err(Skip::NotTcp);
    }
    let inner = if v6 { ip::ipv6(m, 8)? } else { ip::ipv4(m, 8)? };
    if inner.protocol != PROTO_TCP || inner.later_fragment {
        return Err(Skip::NotTcp);
    }
    // The quoted datagram is cut by design, so only the first 8 bytes of TCP
    // are required (RFC 792 guarantees them).
    let t = m
        .get(inner.payload_start..)
        .ok_or(Skip::Truncated(Part::IcmpQuotedTcp))?;
    if t.len() < 8 {
        return Err(Skip::Truncated(Part::IcmpQuotedTcp));
    }
    let _ = be16(m, 2); // checksum: not verified, the error is evidence either way
    Ok(IcmpError {
        v6,
        icmp_type,
        code,
        from: outer.src,
        src: inner.src,
        dst: inner.dst,
        src_port: be16(t, 0),
        dst_port: be16(t, 2),
        seq: be32(t, 4),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ip::{ipv4, ipv6};

    /// ICMP host unreachable from 10.0.0.254 quoting a SYN 10.0.0.1:40000 -> 10.0.0.2:80.
    const V4: [u8; 56] = [
        0x45, 0, 0, 56, 0, 0, 0x40, 0, 64, 1, 0, 0, 10, 0, 0, 254, 10, 0, 0, 1, // outer IPv4
        3, 1, 0, 0, 0, 0, 0, 0, // type 3 code 1
        0x45, 0, 0, 40, 0, 0, 0x40, 0, 64, 6, 0, 0, 10, 0, 0, 1, 10, 0, 0, 2, // quoted IPv4
        0x9c, 0x40, 0, 80, 0, 0, 0, 7, // quoted ports and sequence number
    ];

    #[test]
    fn icmpv4_unreachable_quotes_the_syn() {
        let outer = ipv4(&V4, 0).unwrap();
        let e = icmp_error(&V4, &outer).unwrap();
        assert!(e.is_unreachable() && !e.v6);
        assert_eq!((e.icmp_type, e.code), (3, 1));
        assert_eq!(e.from, IpAddr::from([10, 0, 0, 254]));
        assert_eq!(
            (e.src, e.dst),
            (IpAddr::from([10, 0, 0, 1]), IpAddr::from([10, 0, 0, 2]))
        );
        assert_eq!((e.src_port, e.dst_port, e.seq), (40000, 80, 7));
    }

    #[test]
    fn icmp_echo_and_short_quotes_are_not_errors_about_tcp() {
        let mut echo = V4;
        echo[20] = 8;
        let outer = ipv4(&echo, 0).unwrap();
        assert_eq!(icmp_error(&echo, &outer), Err(Skip::NotTcp));
        let short = &V4[..52];
        let mut s = short.to_vec();
        s[2..4].copy_from_slice(&52u16.to_be_bytes());
        let outer = ipv4(&s, 0).unwrap();
        assert_eq!(
            icmp_error(&s, &outer),
            Err(Skip::Truncated(Part::IcmpQuotedTcp))
        );
    }

    #[test]
    fn icmpv6_admin_prohibited() {
        let mut p = vec![0x60, 0, 0, 0, 0, 56, 58, 64];
        p.extend_from_slice(&[0xfd, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xfe]);
        p.extend_from_slice(&[0xfd, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1]);
        p.extend_from_slice(&[1, 1, 0, 0, 0, 0, 0, 0]);
        p.extend_from_slice(&[0x60, 0, 0, 0, 0, 20, 6, 64]);
        p.extend_from_slice(&[0xfd, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1]);
        p.extend_from_slice(&[0xfd, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2]);
        p.extend_from_slice(&[0x9c, 0x40, 1, 187, 0, 0, 1, 0]);
        let outer = ipv6(&p, 0).unwrap();
        let e = icmp_error(&p, &outer).unwrap();
        assert!(e.v6 && e.is_unreachable());
        assert_eq!((e.code, e.dst_port, e.seq), (1, 443, 256));
    }
}
